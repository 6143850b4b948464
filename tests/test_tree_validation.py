"""Crafted trees in files give a clear ValueError on load: no crash, no hang (crembo.tree._validate).

The cases that crashed (SIGSEGV) or hung (a loop that ignores Ctrl-C) before trees were checked
run in a child process; the others run here.
"""

import json
import pickle
import re
import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import BaggingClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import Tree as SklearnTree

import crembo
from crembo import export
from crembo.persistence import load_model, load_student, save_student

skops_io = pytest.importorskip("skops.io", reason="skops is a dependency of crembo.persistence")

N_FEATURES = 5
HUGE = 2**40  # far beyond any row: reading there faults


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=200, n_features=N_FEATURES, n_informative=3, n_classes=3, n_clusters_per_class=1, random_state=11
    )
    return X, y


def native(data, depth=3):
    X, y = data
    return crembo.AllowedLabelTreeClassifier(max_depth=depth).fit(X, y)


def set_native(est, node, **fields):
    """Change node fields in the arrays the walk reads and in the rows nodes_ reads, alike."""
    for field, value in fields.items():
        getattr(est.tree_, field)[node] = value
        est.tree_.rows[node][field] = value
    return est


def first_leaf(est):
    return int(np.flatnonzero(est.tree_.feature < 0)[0])


def set_sklearn(tree, node, n_features=None, **fields):
    """A copy of scikit-learn ``tree`` with node fields changed (and another width, if given)."""
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    for field, value in fields.items():
        nodes[field][node] = value
    state["nodes"] = nodes
    out = SklearnTree(tree.n_features if n_features is None else n_features, tree.n_classes, tree.n_outputs)
    out.__setstate__(state)
    return out


def run_child(cases, X, tmp_path, env):
    """Load (and, if loading succeeds, predict with) each case in one child process; return
    {case: (error type, message)}. A crash or hang fails here, naming the case it was on."""
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    np.save(tmp_path / "X.npy", X)
    script = (
        "import json, pickle, sys\n"
        "import joblib, numpy as np\n"
        "from crembo.teachers.forest import forest_belief\n"
        "from crembo.persistence import load_model, load_student\n"
        "X = np.load(sys.argv[2])\n"
        "loaders = {'skops': load_student, 'teacher': load_model, 'joblib': joblib.load,\n"
        "           'pickle': lambda p: pickle.loads(open(p, 'rb').read())}\n"
        "for name, how, path in json.load(open(sys.argv[1])):\n"
        "    print('start', name, file=sys.stderr, flush=True)\n"
        "    try:\n"
        "        model = loaders[how](path)\n"
        "        # a forest teacher's belief: crembo's native walk of its members' trees\n"
        "        forest_belief(model, X) if how == 'teacher' else model.predict(X)\n"
        "        result = [name, None, 'loaded and predicted']\n"
        "    except Exception as exc:\n"
        "        result = [name, type(exc).__name__, str(exc)]\n"
        "    print(json.dumps(result), flush=True)\n"
    )
    try:
        # the timeout only ends a child that hangs (an unchecked self-loop never returns)
        out = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "cases.json"), str(tmp_path / "X.npy")],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr
        raise AssertionError(f"the child hung; its last lines: {err!r}") from None
    assert out.returncode == 0, f"the child died (code {out.returncode}); its last lines: {out.stderr[-400:]}"
    return {name: (kind, message) for name, kind, message in map(json.loads, out.stdout.splitlines())}


# ------------------------------------------------------------- cases that crashed or hung


def test_crafted_native_trees_are_refused_in_a_child(data, tmp_path, child_env):
    X, y = data
    cases, expected = [], {}

    def add(name, how, obj, match):
        path = tmp_path / f"{name}.{how}"
        if how == "skops":
            save_student(obj, path)
        elif how == "joblib":
            joblib.dump(obj, path)
        else:
            path.write_bytes(pickle.dumps(obj))
        cases.append((name, how, str(path)))
        expected[name] = match

    loop = "'left' must be a node index in \\(0, \\d+\\) \\(children after their parent\\), got 0"
    add("self-loop", "skops", set_native(native(data), 0, left=0), loop)
    add("self-loop-pickle", "pickle", set_native(native(data), 0, left=0), loop)
    add("child-out-of-range", "joblib", set_native(native(data), 0, left=10**9), "got 1000000000")
    add("negative-child", "skops", set_native(native(data), 0, right=-7), "'right' must be a node index")
    add(
        "feature-out-of-range",
        "skops",
        set_native(native(data), 0, feature=HUGE),
        f"a split reads feature {HUGE}, but the model has {N_FEATURES} features",
    )
    est = native(data)
    add("leaf-read-as-split", "skops", set_native(est, first_leaf(est), feature=0), "a leaf's 'feature' must be -1")
    model = crembo.CREMBOClassifier(
        teacher=RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0), random_state=0, n_jobs=1
    ).fit(X, y)
    set_native(model.estimator_, 0, left=0)
    add("inside-crembo", "skops", model, loop)

    results = run_child(cases, X, tmp_path, child_env)
    for name, match in expected.items():
        kind, message = results[name]
        assert kind == "ValueError", (name, kind, message)
        assert re.search(match, message), (name, message)


def test_crafted_sklearn_trees_are_refused_in_a_child(data, tmp_path, child_env):
    X, y = data
    cases, expected = [], {}

    def student(**fields):
        model = crembo.CREMBOClassifier(
            teacher=RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0),
            student=DecisionTreeClassifier(max_depth=3),
            random_state=0,
            n_jobs=1,
        ).fit(X, y)
        tree_est = model.estimator_.estimator_
        tree_est.tree_ = set_sklearn(tree_est.tree_, 0, **fields)
        return model

    for name, fields, match in (
        ("sk-self-loop", {"left_child": 0}, "'left' must be a node index in \\(0, \\d+\\)"),
        ("sk-child-out-of-range", {"right_child": 10**9}, "'right' must be a node index"),
        ("sk-feature-out-of-range", {"feature": HUGE}, f"'feature' must be in \\[0, {N_FEATURES}\\), got {HUGE}"),
    ):
        save_student(student(**fields), tmp_path / f"{name}.skops")
        cases.append((name, "skops", str(tmp_path / f"{name}.skops")))
        expected[name] = match
    # A forest member wider than its forest: the tree fits its own estimator, but crembo's vote
    # walk (int32 feature indices) reads it on rows of the forest's width.
    rf = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    member, wide = rf.estimators_[1], 2**31 - 1
    member.tree_ = set_sklearn(member.tree_, 0, n_features=wide, feature=wide - 1)
    member.n_features_in_ = wide
    skops_io.dump(rf, tmp_path / "wide-member.skops")
    cases.append(("wide-member", "teacher", str(tmp_path / "wide-member.skops")))
    expected["wide-member"] = f"member 1 has {wide} features, the ensemble {N_FEATURES}"

    results = run_child(cases, X, tmp_path, child_env)
    for name, match in expected.items():
        kind, message = results[name]
        assert kind == "ValueError", (name, kind, message)
        assert re.search(match, message), (name, message)


JSON_CASES = {
    # name: (path to change, value, message); nodes: 0 split -> 1 split -> (3, 4) leaves, 2 leaf
    "self-loop": (("nodes", 0, "left"), 0, "'left' must be a node index in \\(0, 5\\)"),
    "back-edge": (("nodes", 1, "right"), 0, "'right' must be a node index in \\(1, 5\\)"),
    "child-out-of-range": (("nodes", 0, "right"), 99, "'right' must be a node index"),
    "split-as-leaf-marker": (("nodes", 1, "left"), -1, "'left' must be a node index"),
    "feature-out-of-range": (("nodes", 1, "feature"), 2, "'feature' must be in \\[0, 2\\)"),
    "nan-threshold": (("nodes", 0, "threshold"), float("nan"), "'threshold' must be a finite number"),
    "class-out-of-range": (("nodes", 4, "class"), 2, "leaf 'class' must be an index in \\[0, 2\\)"),
    "two-parents": (("nodes", 1, "right"), 2, "node 2 is a child of 2 splits"),
    "short-value": (("nodes", 3, "value"), [1.0], "'value' must be a list of 2 finite numbers"),
}


def _json_model():
    split = {"leaf": False, "threshold": 0.5, "missing_go_to_left": True}
    return {
        "format": "crembo-tree",
        "version": 1,
        "n_features": 2,
        "classes": ["no", "yes"],
        "input_dtype": "float64",
        "nodes": [
            dict(split, id=0, feature=0, left=1, right=2),
            dict(split, id=1, feature=1, left=3, right=4),
            {"id": 2, "leaf": True, "class": 1},
            {"id": 3, "leaf": True, "class": 0, "value": [3.0, 1.0]},
            {"id": 4, "leaf": True, "class": 1},
        ],
    }


def test_crafted_json_is_refused_by_the_standalone_predictor(tmp_path):
    export.write_predictor(tmp_path / "crembo_tree_predictor.py")
    export.validate_tree_dict(_json_model())
    names = []
    for name, (path, value, _) in JSON_CASES.items():
        model = _json_model()
        target = model
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        (tmp_path / f"{name}.json").write_text(json.dumps(model))
        names.append(name)
    script = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import crembo_tree_predictor as p\n"
        "for name in sys.argv[2:]:\n"
        "    try:\n"
        "        p.predict(p.load(sys.argv[1] + '/' + name + '.json'), [[0.0, 0.0], [1.0, 1.0]])\n"
        "        print(json.dumps([name, 'loaded and predicted']), flush=True)\n"
        "    except ValueError as exc:\n"
        "        print(json.dumps([name, str(exc)]), flush=True)\n"
    )
    # -I -S: only the standard library, as where the predictor is shipped; the timeout only ends
    # a hang (before the checks, a self-loop made predict spin forever)
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", script, str(tmp_path), *names],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-400:]
    shipped = dict(map(json.loads, out.stdout.splitlines()))
    for name, (_, _, match) in JSON_CASES.items():
        with pytest.raises(ValueError, match=match) as info:
            export.load_json(tmp_path / f"{name}.json")
        # the shipped predictor says the same, by the same code
        assert shipped[name].endswith(str(info.value)) and "is not a valid crembo-tree model" in shipped[name]


# ------------------------------------------------------------------- the other rules, here


def _pickled(obj):
    return pickle.loads(pickle.dumps(obj))


NATIVE_CASES = {
    "nan-threshold": (lambda e: set_native(e, 0, threshold=np.nan), "'threshold' must be a finite number"),
    "label-out-of-range": (
        lambda e: set_native(e, first_leaf(e), label=3),
        "leaf 'class' must be an index in \\[0, 3\\)",
    ),
    "two-parents": (lambda e: set_native(e, 0, right=int(e.tree_.left[0])), "is a child of 2 splits"),
    "wrong-dtype": (lambda e: setattr(e.tree_, "left", e.tree_.left.astype(np.int32)), "'left' must be a int64 array"),
    "short-array": (lambda e: setattr(e.tree_, "label", e.tree_.label[:-1]), "'label' must be a int64 array of shape"),
    "value-shape": (lambda e: setattr(e.tree_, "value", e.tree_.value[:, :2]), "'value' must be a int64 array"),
    "rows-disagree": (lambda e: e.tree_.rows[0].update(threshold=123.0), "rows\\[0\\] does not match the node arrays"),
    "depths-disagree": (lambda e: set_native(e, 0, depth=1), "recorded node depths"),
    "too-many-classes": (lambda e: setattr(e.tree_, "n_classes", 300), "'n_classes' must be an int in \\[1, 255\\]"),
    "feature-equals-width": (lambda e: set_native(e, 0, feature=N_FEATURES), "a split reads feature 5"),
    "classes-mismatch": (lambda e: setattr(e, "n_classes_", 4), "'n_classes_' is 4 but its tree has 3"),
    "short-classes": (lambda e: setattr(e, "classes_", e.classes_[:2]), "'classes_' must be an array of 3"),
    "foreign-tree": (lambda e: setattr(e, "tree_", {"left": [0]}), "'tree_' must be a crembo tree, got dict"),
}


@pytest.mark.parametrize("case", NATIVE_CASES)
def test_crafted_native_tree_rules(case, data):
    change, match = NATIVE_CASES[case]
    est = native(data)
    change(est)
    with pytest.raises(ValueError, match=match):
        _pickled(est)


def test_valid_native_trees_load_as_they_are(data, tmp_path):
    X, y = data
    Xn = X.copy()
    Xn[::7, 1] = np.nan  # missing values: +inf "missing vs present" thresholds, NaN at leaves
    for est in (
        native(data, depth=0),
        native((Xn, y), depth=4),
        crembo.AllowedLabelTreeClassifier(max_depth=2, solver="exact").fit(X, y),
    ):
        back = load_student(save_student(est, tmp_path / "t.skops"))
        np.testing.assert_array_equal(back.predict(Xn), est.predict(Xn))
        assert repr(back.nodes_) == repr(est.nodes_)  # repr: NaN thresholds at leaves compare equal
        np.testing.assert_array_equal(_pickled(est).tree_.left, est.tree_.left)


def test_check_nodes_returns_depths_and_accepts_infinity():
    from crembo.tree._validate import check_nodes

    assert check_nodes(
        [1, -1, 3, -1, -1], [2, -1, 4, -1, -1], [0, -2, 1, -2, -2], [0.5, -2.0, float("inf"), -2.0, -2.0], 2
    ) == [0, 1, 1, 2, 2]
    assert check_nodes([-1], [-1], [-1], [float("nan")], None, [0], 1, leaf_feature=-1) == [0]
    with pytest.raises(ValueError, match="at least one node"):
        check_nodes([], [], [], [], 1)
    with pytest.raises(ValueError, match="needs right child -1"):
        check_nodes([-1], [3], [0], [0.0], 1)
    with pytest.raises(ValueError, match="'feature' must be in"):
        check_nodes([1, -1, -1], [2, -1, -1], [True, -2, -2], [0.0, 0.0, 0.0], 2)  # a bool is not an index


def _sklearn_case(X, y, change):
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, y)
    change(model)
    return model


SKLEARN_CASES = {
    "nan-threshold": (
        lambda m: setattr(m, "tree_", set_sklearn(m.tree_, 0, threshold=np.nan)),
        "'threshold' must be a finite number",
    ),
    "two-parents": (
        lambda m: setattr(m, "tree_", set_sklearn(m.tree_, 0, right_child=int(m.tree_.children_left[0]))),
        "is a child of 2 splits",
    ),
    "leaf-with-one-child": (
        lambda m: setattr(
            m, "tree_", set_sklearn(m.tree_, int(np.flatnonzero(m.tree_.children_left == -1)[0]), right_child=1)
        ),
        "needs right child -1",
    ),
    "tree-wider-than-model": (
        lambda m: setattr(m, "tree_", set_sklearn(m.tree_, 0, n_features=N_FEATURES + 1)),
        "the tree has 6 features, its model 5",
    ),
    "max-depth-too-small": (
        lambda m: m.tree_.__setstate__(dict(m.tree_.__getstate__(), max_depth=1)),
        "max_depth is 1 but the tree is 3 deep",
    ),
    "classes-mismatch": (lambda m: setattr(m, "classes_", m.classes_[:2]), "classes_ do not match"),
    "outputs-mismatch": (lambda m: setattr(m, "n_outputs_", 2), "n_outputs_ is 2, its tree has 1"),
}


@pytest.mark.parametrize("case", SKLEARN_CASES)
def test_crafted_sklearn_tree_rules(case, data, tmp_path):
    change, match = SKLEARN_CASES[case]
    model = _sklearn_case(*data, change)
    skops_io.dump(model, tmp_path / "m.skops")
    with pytest.raises(ValueError, match=match):
        load_student(tmp_path / "m.skops")


def test_bagging_feature_subsets_are_checked(data, tmp_path):
    X, y = data
    bag = BaggingClassifier(DecisionTreeClassifier(max_depth=2), n_estimators=3, max_features=3, random_state=0).fit(
        X, y
    )
    skops_io.dump(bag, tmp_path / "ok.skops")
    np.testing.assert_array_equal(load_model(tmp_path / "ok.skops").predict(X), bag.predict(X))
    bag.estimators_features_[2] = np.array([0, 1, N_FEATURES + 3])  # crembo's vote walk reads that column
    skops_io.dump(bag, tmp_path / "bad.skops")
    with pytest.raises(ValueError, match="member 2's feature subset"):
        load_model(tmp_path / "bad.skops")


def test_where_sklearn_trees_are_vouched_for(data):
    from crembo.tree._validate import check_loaded_trees

    X, y = data
    tree = DecisionTreeClassifier(max_depth=2).fit(X, y)
    rf = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(X, y)
    gb = GradientBoostingClassifier(n_estimators=2, max_depth=2, random_state=0).fit(X, y)
    assert check_loaded_trees({"student": tree, "teacher": rf}) == []
    assert check_loaded_trees([tree.tree_]) == ["model[0]"]  # a bare tree: nothing checked its width
    assert check_loaded_trees({"gb": gb, "same": gb.estimators_[0, 0]})[0].startswith("model['gb'].estimators_")
    assert check_loaded_trees([gb, tree.tree_], trust_sklearn_trees=True) == []
    # trusted or not, a broken tree is refused
    gb.estimators_[0, 0].tree_ = set_sklearn(gb.estimators_[0, 0].tree_, 0, left_child=0)
    with pytest.raises(ValueError, match="'left' must be a node index"):
        check_loaded_trees(gb, trust_sklearn_trees=True)
