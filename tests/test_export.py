"""Exported tree students predict exactly as the fitted ones: JSON + standalone predictor, ONNX, dot."""

import inspect
import json
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeClassifier

from crembo import _export_predictor as standalone
from crembo import export
from crembo.tree import _validate


def _data(rng, n=600, d=5, nan_fraction=0.0):
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 1.0)
    if nan_fraction:
        X[rng.random(X.shape) < nan_fraction] = np.nan
    return X, y


def _fit(kind, rng):
    """A fitted sklearn tree, with its training rows kept as ``tree.probe_pool`` for ``_probe``."""
    tree, X = _fit_with_data(kind, rng)
    tree.probe_pool = X
    return tree


def _fit_with_data(kind, rng):
    """A variety of fitted sklearn trees: multiclass, string labels, NaN in training, stumps, a leaf."""
    if kind == "plain":
        X, y = _data(rng)
        return DecisionTreeClassifier(max_depth=6, random_state=0).fit(X, y), X
    if kind == "nan_trained":
        X, y = _data(rng, nan_fraction=0.15)
        return DecisionTreeClassifier(max_depth=7, random_state=0).fit(X, y), X
    if kind == "strings_balanced":
        X, y = _data(rng)
        labels = np.array(["low", "mid", "high"])[y]
        return DecisionTreeClassifier(max_depth=5, class_weight="balanced", random_state=0).fit(X, labels), X
    if kind == "float32_close_values":
        # thresholds are midpoints of nearby float32 values: the float32 rounding has to be exact
        X = (100.0 + rng.integers(0, 40, size=(500, 3)) * np.spacing(np.float32(100))).astype(np.float64)
        y = (X[:, 0] > X[:, 1]).astype(int)
        tree = DecisionTreeClassifier(max_depth=8, random_state=0).fit(X, y)
        assert tree.tree_.node_count > 20
        return tree, X
    if kind == "extra":
        X, y = _data(rng)
        return ExtraTreeClassifier(max_depth=6, random_state=0).fit(X, y), X
    if kind == "stump":
        X, y = _data(rng)
        return DecisionTreeClassifier(max_depth=1).fit(X, y), X
    if kind == "single_leaf":
        X, _ = _data(rng, n=30)
        return DecisionTreeClassifier().fit(X, np.full(30, 7)), X
    raise AssertionError(kind)


KINDS = ["plain", "nan_trained", "strings_balanced", "float32_close_values", "extra", "stump", "single_leaf"]


def _probe(tree, rng, n_random=1500):
    """Random rows with NaN, plus, for every split, a training row that reaches it with the split's
    feature set exactly on the threshold, one float32 step either side, and NaN elsewhere."""
    d = tree.n_features_in_
    X = rng.normal(size=(n_random, d)) * 2
    X[rng.random(X.shape) < 0.15] = np.nan
    X[:50] = np.nan
    pool = tree.probe_pool
    reaches = tree.decision_path(pool).toarray().astype(bool)
    t = tree.tree_
    rows = []
    for i in np.flatnonzero(t.children_left != -1):
        thr = t.threshold[i]
        if not np.isfinite(thr):  # sklearn's "missing vs present" split at +inf
            thr = 1e30
        t32 = np.float32(thr)
        f = t.feature[i]
        for base in pool[rng.choice(np.flatnonzero(reaches[:, i]), size=2)]:
            for v in (thr, t32, np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(-np.inf))):
                row = base.copy()
                row[f] = v
                rows.append(row)
                row = row.copy()
                row[(f + 1) % d] = np.nan
                rows.append(row)
    return np.vstack([X] + ([np.array(rows)] if rows else []))


def _predict_standalone(model, X):
    # through a JSON text round trip, as a user would ship it
    model = json.loads(json.dumps(model, allow_nan=False))
    rows = [[None if np.isnan(v) else float(v) for v in row] for row in X]
    return np.asarray(standalone.predict(model, rows), dtype=object)


# ------------------------------------------------------------------------------------ JSON


@pytest.mark.parametrize("kind", KINDS)
def test_json_round_trip_predicts_identically(kind, rng):
    tree = _fit(kind, rng)
    X = _probe(tree, rng)
    model = export.to_json(tree)
    assert model["format"] == "crembo-tree" and model["version"] == 1
    assert len(model["nodes"]) == tree.tree_.node_count
    expected = tree.predict(X)
    got = _predict_standalone(model, X)
    assert list(got) == list(expected)
    np.testing.assert_array_equal(export.predict_json(model, X), expected)
    proba = np.array(standalone.predict_proba(model, np.where(np.isnan(X), None, X).tolist()))
    np.testing.assert_allclose(proba, tree.predict_proba(X), rtol=1e-12, atol=1e-12)


def test_float32_rounding_matches_numpy(rng):
    bits = rng.integers(0, 2**63, size=3000, dtype=np.uint64) | (rng.integers(0, 2, size=3000, dtype=np.uint64) << 63)
    x = bits.view(np.float64)
    f32max = float(np.finfo(np.float32).max)
    halfway = f32max + 2.0**103  # exactly halfway between FLT_MAX and 2**128: rounds to inf
    special = [
        0.0,
        -0.0,
        1e-46,
        1e-45,
        3.4e38,
        f32max,
        np.nextafter(halfway, 0),
        halfway,
        1e39,
        -1e300,
        np.inf,
        -np.inf,
    ]
    x = np.concatenate([x[np.isfinite(x)], special, rng.normal(size=1000)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow to inf is the point
        expected = x.astype(np.float32).astype(np.float64)
    got = np.array([standalone._float32(float(v)) for v in x])
    np.testing.assert_array_equal(got, expected)


def test_nan_direction_follows_missing_go_to_left(rng):
    tree = _fit("nan_trained", rng)
    t = tree.tree_
    model = export.to_json(tree)
    inner = [n for n in model["nodes"] if not n["leaf"]]
    assert [n["missing_go_to_left"] for n in inner] == [bool(t.missing_go_to_left[n["id"]]) for n in inner]
    assert {n["missing_go_to_left"] for n in inner} == {True, False}  # both directions exercised


def test_save_load_and_names(rng, tmp_path):
    tree = _fit("strings_balanced", rng)
    path = tmp_path / "student.json"
    written = export.save_json(tree, path, feature_names=list("abcde"), indent=1)
    loaded = export.load_json(path)
    assert loaded == written
    assert loaded["feature_names"] == list("abcde")
    assert loaded["classes"] == ["high", "low", "mid"] == loaded["class_names"]
    assert loaded["source"].endswith("DecisionTreeClassifier")
    assert export.to_json(tree, class_names=["H", "L", "M"])["class_names"] == ["H", "L", "M"]
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON


def test_infinite_threshold_is_strict_json(rng):
    # training data whose label is "feature 0 missing": sklearn splits missing-vs-present at +inf
    X = rng.normal(size=(200, 2))
    X[:100, 0] = np.nan
    y = np.isnan(X[:, 0]).astype(int)
    tree = DecisionTreeClassifier(max_depth=1).fit(X, y)
    assert np.isinf(tree.tree_.threshold[0])
    model = export.to_json(tree)
    assert model["nodes"][0]["threshold"] == "inf"
    probe = np.array([[np.nan, 0.0], [1e30, 0.0], [-1.0, 0.0], [0.0, np.nan]])
    assert list(_predict_standalone(model, probe)) == list(tree.predict(probe))


@pytest.mark.parametrize(
    "student, exc, match",
    [
        (DecisionTreeClassifier(), ValueError, "not fitted"),
        (DecisionTreeRegressor().fit([[0.0], [1.0]], [0.0, 1.0]), TypeError, "only classifier trees"),
        (DecisionTreeClassifier().fit([[0.0], [1.0]], [[0, 1], [1, 0]]), ValueError, "multi-output"),
        ("a tree", TypeError, "cannot export a student of type str"),
    ],
)
def test_to_json_rejects_unsupported_students(student, exc, match):
    with pytest.raises(exc, match=match):
        export.to_json(student)


def test_names_are_validated(rng):
    tree = _fit("stump", rng)
    with pytest.raises(ValueError, match="feature_names has 2 entries, expected 5"):
        export.to_json(tree, feature_names=["a", "b"])
    with pytest.raises(ValueError, match="class_names has 1 entries, expected 3"):
        export.to_json(tree, class_names=["a"])


def _small_model():
    return {
        "format": "crembo-tree",
        "version": 1,
        "n_features": 2,
        "classes": ["no", "yes"],
        "input_dtype": "float64",
        "nodes": [
            {
                "id": 0,
                "leaf": False,
                "feature": 1,
                "threshold": 0.5,
                "left": 1,
                "right": 2,
                "missing_go_to_left": False,
            },
            {"id": 1, "leaf": True, "class": 0},
            {"id": 2, "leaf": True, "class": 1},
        ],
    }


@pytest.mark.parametrize(
    "path, value, match",
    [
        (("format",), "other", "format must be"),
        (("version",), 2, "unsupported schema version"),
        (("input_dtype",), "int8", "input_dtype"),
        (("nodes", 0, "left"), 0, "'left' must be a node index"),
        (("nodes", 0, "right"), 3, "'right' must be a node index"),
        (("nodes", 0, "feature"), 2, r"'feature' must be in \[0, 2\)"),
        (("nodes", 0, "threshold"), float("nan"), "'threshold' must be a finite number"),
        (("nodes", 0, "missing_go_to_left"), None, "missing_go_to_left"),
        (("nodes", 2, "class"), 2, "leaf 'class' must be an index"),
    ],
)
def test_validate_tree_dict_names_the_problem(path, value, match):
    model = _small_model()
    target = model
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValueError, match=match):
        export.validate_tree_dict(model)


class _NativeLikeTree:
    """Stands in for crembo's native tree: anything with to_dict() in the crembo-tree schema."""

    classes_ = np.array(["no", "yes"])

    def to_dict(self):
        d = _small_model()
        for key in ("format", "version", "input_dtype", "classes"):
            del d[key]  # the envelope is filled in by the exporter
        return d


def test_native_hook_round_trip_and_dot():
    model = export.to_json(_NativeLikeTree(), feature_names=["age", "dose"])
    assert model["input_dtype"] == "float64" and model["classes"] == ["no", "yes"]
    assert list(export.predict_json(model, [[0.0, 0.5], [0.0, 0.50000001], [1.0, np.nan]])) == ["no", "yes", "yes"]
    dot = export.export_dot(_NativeLikeTree(), feature_names=["age", "dose"])
    assert len(re.findall(r"^\d+ \[label=", dot, flags=re.M)) == 3
    assert len(re.findall(r"^\d+ -> \d+", dot, flags=re.M)) == 2
    assert "dose <= 0.5" in dot and "class = yes" in dot and "missing -> right" in dot


# ------------------------------------------------------------------------------ predictor


def test_write_predictor_is_the_shipped_template(tmp_path):
    path = export.write_predictor(tmp_path / "crembo_tree_predictor.py")
    source = path.read_text()
    assert source == export.predictor_source()
    code_lines = [ln for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert len(code_lines) <= 150  # about 50 lines of predictor and the model checks
    assert not re.search(r"^\s*(import|from)\s+(numpy|crembo|sklearn)\b", source, flags=re.M)
    # the shipped checks are crembo's own, copied verbatim
    for func in _validate.STANDALONE:
        assert inspect.getsource(func) in source


def test_standalone_predictor_without_crembo_or_numpy(rng, tmp_path):
    tree = _fit("nan_trained", rng)
    X = _probe(tree, rng, n_random=300)
    export.save_json(tree, tmp_path / "student.json")
    export.write_predictor(tmp_path / "crembo_tree_predictor.py")
    rows = [[None if np.isnan(v) else float(v) for v in row] for row in X]
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    script = (
        "import importlib.util, json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "assert importlib.util.find_spec('crembo') is None, 'crembo importable'\n"
        "assert importlib.util.find_spec('numpy') is None, 'numpy importable'\n"
        "import crembo_tree_predictor as p\n"
        "model = p.load(sys.argv[1] + '/student.json')\n"
        "rows = json.load(open(sys.argv[1] + '/rows.json'))\n"
        "print(json.dumps(p.predict(model, rows)))\n"
    )
    # -I: isolated (no env vars, no cwd on sys.path); -S: no site-packages, so only the stdlib
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == tree.predict(X).tolist()


def test_standalone_predictor_command_line(rng, tmp_path):
    tree = _fit("plain", rng)
    X = np.round(rng.normal(size=(20, 5)), 3)
    X[3, 2] = np.nan
    export.save_json(tree, tmp_path / "student.json")
    export.write_predictor(tmp_path / "crembo_tree_predictor.py")
    csv = "\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in X) + "\n"
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(tmp_path / "crembo_tree_predictor.py"), str(tmp_path / "student.json")],
        input=csv,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == [str(c) for c in tree.predict(X)]


def test_standalone_predictor_rejects_wrong_width(rng):
    model = export.to_json(_fit("stump", rng))
    with pytest.raises(ValueError, match="expected 5 features, got 2"):
        standalone.predict(model, [[0.0, 1.0]])


# ------------------------------------------------------------------------------------- dot


@pytest.mark.parametrize("kind", ["plain", "strings_balanced", "single_leaf"])
def test_export_dot_sklearn(kind, rng):
    tree = _fit(kind, rng)
    dot = export.export_dot(tree, feature_names=[f"f{j}" for j in range(tree.n_features_in_)])
    assert dot.startswith("digraph Tree {") and dot.rstrip().endswith("}")
    assert len(re.findall(r"^\d+ \[label=", dot, flags=re.M)) == tree.tree_.node_count
    assert len(re.findall(r"^\d+ -> \d+", dot, flags=re.M)) == tree.tree_.node_count - 1
    if kind != "single_leaf":
        assert "f0 <=" in dot or "f1 <=" in dot or "f2 <=" in dot


def test_export_dot_of_json_dict(rng):
    tree = _fit("strings_balanced", rng)
    model = export.to_json(tree)
    dot = export.export_dot(model)
    assert len(re.findall(r"^\d+ \[label=", dot, flags=re.M)) == tree.tree_.node_count
    assert len(re.findall(r"^\d+ -> \d+", dot, flags=re.M)) == tree.tree_.node_count - 1
    assert "class = mid" in dot


# ------------------------------------------------------------------------------------ ONNX


def _onnx_session(tree):
    pytest.importorskip("skl2onnx", reason="ONNX export needs the optional extra: pip install 'crembo[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="the ONNX round trip needs onnxruntime: pip install 'crembo[onnx]'")
    model = export.to_onnx(tree)
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("kind", ["plain", "nan_trained", "strings_balanced", "float32_close_values", "single_leaf"])
def test_onnx_round_trip_predicts_identically(kind, rng):
    tree = _fit(kind, rng)
    session = _onnx_session(tree)
    X = _probe(tree, rng)
    labels, proba = session.run(None, {"X": X.astype(np.float32)})
    np.testing.assert_array_equal(labels, tree.predict(X))
    np.testing.assert_allclose(proba, tree.predict_proba(X), atol=1e-6)


def test_onnx_rejects_non_sklearn_and_wrong_width(rng):
    with pytest.raises(TypeError, match="sklearn trees only"):
        export.to_onnx(_NativeLikeTree())
    pytest.importorskip("skl2onnx", reason="ONNX export needs the optional extra: pip install 'crembo[onnx]'")
    with pytest.raises(ValueError, match="fitted on 5 features"):
        export.to_onnx(_fit("stump", rng), n_features=4)


# ---------------------------------------------------------------------- crembo's native tree


def _native_tree(rng, **params):
    try:
        from crembo.tree import AllowedLabelTreeClassifier
    except ImportError as exc:  # developed alongside; the exporter only needs its nodes_
        pytest.skip(f"crembo.tree.AllowedLabelTreeClassifier not importable: {exc}")
    X = rng.normal(size=(500, 4))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.array(["a", "b", "c"])[(X[:, 0] > 0).astype(int) + (np.nan_to_num(X[:, 1]) > 1)]
    tree = AllowedLabelTreeClassifier(max_depth=4, **params).fit(X, y)
    return tree, X


def _native_probe(tree, X, rng):
    """Random rows, NaN, +-inf, and rows reaching each split with the feature on its threshold."""
    probe = [rng.normal(size=(800, X.shape[1])) * 2, np.full((5, X.shape[1]), np.nan)]
    probe[0][rng.random(probe[0].shape) < 0.15] = np.nan
    probe[0][:10, 0] = np.inf
    probe[0][10:20, 1] = -np.inf
    leaves = tree.apply(X)
    nodes = tree.nodes_
    rows = []
    for i, node in enumerate(nodes):
        if node["feature"] < 0 or not np.isfinite(node["threshold"]):
            continue
        # rows of X whose path passes through node i: their leaf lies in i's preorder subtree
        below = (leaves >= i) & (leaves <= _last_in_subtree(nodes, i))
        for base in X[rng.choice(np.flatnonzero(below), size=2)]:
            thr = node["threshold"]
            for v in (thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf), np.float32(thr)):
                row = base.copy()
                row[node["feature"]] = v
                rows.append(row)
    return np.vstack([*probe, np.array(rows)])


def _last_in_subtree(nodes, i):
    while nodes[i]["feature"] >= 0:
        i = nodes[i]["right"]
    return i


def test_native_tree_round_trip(rng, tmp_path):
    tree, X = _native_tree(rng)
    model = export.save_json(tree, tmp_path / "native.json", feature_names=["a", "b", "c", "d"])
    assert model["input_dtype"] == "float64" and model["classes"] == ["a", "b", "c"]
    assert len(model["nodes"]) == len(tree.nodes_) > 3
    probe = _native_probe(tree, X, rng)
    loaded = export.load_json(tmp_path / "native.json")
    assert list(_predict_standalone(loaded, probe)) == list(tree.predict(probe))
    dot = export.export_dot(tree, feature_names=["a", "b", "c", "d"])
    assert len(re.findall(r"^\d+ \[label=", dot, flags=re.M)) == len(tree.nodes_)
    assert len(re.findall(r"^\d+ -> \d+", dot, flags=re.M)) == len(tree.nodes_) - 1
    with pytest.raises(ValueError, match="no class values"):
        standalone.predict_proba(loaded, probe[:1].tolist())
    with pytest.raises(TypeError, match="sklearn trees only"):
        export.to_onnx(tree)


def test_native_tree_unfitted_is_rejected():
    try:
        from crembo.tree import AllowedLabelTreeClassifier
    except ImportError as exc:
        pytest.skip(f"crembo.tree.AllowedLabelTreeClassifier not importable: {exc}")
    with pytest.raises(ValueError, match="not fitted"):
        export.to_json(AllowedLabelTreeClassifier())


def test_fitted_crembo_and_baselines_export_with_their_labels(rng):
    # CREMBOClassifier wraps a multi-output tree on allowed labels; the export must predict
    # what the estimator predicts, in the estimator's own class labels.
    from sklearn.ensemble import RandomForestClassifier

    import crembo

    X = rng.normal(size=(200, 4))
    y = np.array(["lo", "mid", "hi"])[(X[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(int) + (X[:, 1] > 1)]
    forest = RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0)
    models = [
        crembo.CREMBOClassifier(teacher=forest, random_state=0).fit(X, y),
        crembo.fit_baseline_bm(X, y, random_state=0),
        crembo.fit_baseline_vt(X, y, forest, random_state=0),
    ]
    X_test = rng.normal(size=(300, 4))
    for model in models:
        model_dict = export.to_json(model)
        assert sorted(model_dict["classes"]) == sorted(model.classes_.tolist())
        np.testing.assert_array_equal(np.asarray(export.predict_json(model_dict, X_test)), model.predict(X_test))
        assert export.export_dot(model).startswith("digraph")
