"""Shipping and seeing tree students: JSON (with a standalone predictor), ONNX, Graphviz dot.

JSON follows the ``crembo-tree`` schema, version 1 (docs/export_schema.md). It is written for
scikit-learn ``DecisionTreeClassifier`` students, crembo's ``AllowedLabelTreeClassifier`` (read
from its flat ``nodes_``) and any student whose ``to_dict()`` returns that schema.
``write_predictor`` writes a pure-Python file that loads the JSON, checks it as crembo does, and
predicts exactly as scikit-learn does, without numpy or crembo installed.
"""

import importlib.resources
import inspect
import json
import math
import numbers
import os

import numpy as np

from crembo import _validation as v

__all__ = [
    "SCHEMA_FORMAT",
    "SCHEMA_VERSION",
    "export_dot",
    "load_json",
    "predict_json",
    "predictor_source",
    "save_json",
    "to_json",
    "to_onnx",
    "validate_tree_dict",
    "write_predictor",
]

SCHEMA_FORMAT = "crembo-tree"
SCHEMA_VERSION = 1
_PREDICTOR_MODULE = "_export_predictor.py"
_VALIDATE_IMPORT = "from crembo.tree._validate import"


def _json_threshold(t):
    # Strict JSON has no infinity; scikit-learn splits "missing vs. present" at threshold +inf.
    t = float(t)
    if math.isinf(t):
        return "inf" if t > 0 else "-inf"
    if math.isnan(t):
        raise ValueError("a split threshold is NaN; the tree cannot be exported")
    return t


# --------------------------------------------------------------------------- conversion


def _is_sklearn_tree(student):
    try:
        from sklearn.tree._classes import BaseDecisionTree
    except ImportError:  # pragma: no cover - sklearn is a dependency
        return False
    return isinstance(student, BaseDecisionTree)


def _json_label(c, name):
    """A class label as a plain JSON value (numpy scalars -> Python scalars)."""
    if isinstance(c, np.generic):
        c = c.item()
    if isinstance(c, (bool, str, numbers.Integral)):
        return c if isinstance(c, (bool, str)) else int(c)
    if isinstance(c, numbers.Real) and math.isfinite(c):
        return float(c)
    raise TypeError(f"{name} must be str, int, bool or finite float to be stored in JSON, got {c!r}")


def _sklearn_tree_dict(tree, leaf_classes=None):
    """A fitted sklearn tree as a crembo-tree dict.

    ``leaf_classes`` (node -> class index), when given, replaces the argmax of each leaf's value:
    that is how a multi-output tree on the allowed-label matrix predicts (``MultiOutputStudent``).
    """
    from sklearn.base import is_classifier

    if not is_classifier(tree):
        raise TypeError(f"only classifier trees can be exported, got {type(tree).__name__}")
    if not hasattr(tree, "tree_"):
        raise ValueError(f"this {type(tree).__name__} is not fitted yet; call fit first")
    if tree.n_outputs_ != 1 and leaf_classes is None:
        raise ValueError(
            f"multi-output trees (n_outputs_={tree.n_outputs_}) cannot be exported; fit a single-output student"
        )
    t = tree.tree_
    # Trees fitted before missing-value support have no missing_go_to_left; scikit-learn then
    # rejects NaN at predict time, and we document NaN -> left (the export must say something).
    missing_left = getattr(t, "missing_go_to_left", None)
    nodes = []
    for i in range(t.node_count):
        left, right = int(t.children_left[i]), int(t.children_right[i])
        node = {"id": i, "leaf": left == -1, "n_samples": int(t.n_node_samples[i])}
        if leaf_classes is None:
            node["value"] = [float(v) for v in t.value[i, 0]]
        if left == -1:
            # scikit-learn's predict is classes_[argmax(value)]: the first maximum wins ties
            node["class"] = int(np.argmax(t.value[i, 0]) if leaf_classes is None else leaf_classes[i])
        else:
            node.update(
                {
                    "feature": int(t.feature[i]),
                    "threshold": _json_threshold(t.threshold[i]),
                    "left": left,
                    "right": right,
                    "missing_go_to_left": bool(missing_left[i]) if missing_left is not None else True,
                }
            )
        nodes.append(node)
    return {
        "n_features": int(tree.n_features_in_),
        "classes": [_json_label(c, "class label") for c in tree.classes_]
        if leaf_classes is None
        else list(range(len(tree.classes_))),
        "input_dtype": "float32",
        "source": f"{type(tree).__module__}.{type(tree).__name__}",
        "nodes": nodes,
    }


def _native_nodes_dict(student):
    """crembo's native tree (``crembo.tree.AllowedLabelTreeClassifier``): its flat ``nodes_`` list.

    ``nodes_`` is in preorder (children after parents), with ``feature`` -1 at leaves,
    ``missing_left`` and the leaf ``label`` (an index into ``classes_``). The native tree compares
    raw float64 values (no float32 rounding) and has no class probabilities, so its leaves carry
    ``allowed_counts`` (training samples allowing each class) instead of ``value``.
    """
    if not hasattr(student, "classes_") or not hasattr(student, "n_features_in_"):
        raise ValueError(f"this {type(student).__name__} is not fitted yet; call fit first")
    nodes = []
    for i, row in enumerate(student.nodes_):
        node = {"id": i, "leaf": int(row["feature"]) < 0, "n_samples": int(row["n_samples"])}
        if node["leaf"]:
            node["class"] = int(row["label"])
        else:
            node.update(
                {
                    "feature": int(row["feature"]),
                    "threshold": _json_threshold(row["threshold"]),
                    "left": int(row["left"]),
                    "right": int(row["right"]),
                    "missing_go_to_left": bool(row["missing_left"]),
                }
            )
        if "allowed_counts" in row:
            node["allowed_counts"] = [int(c) for c in row["allowed_counts"]]
        nodes.append(node)
    return {
        "n_features": int(student.n_features_in_),
        "classes": [_json_label(c, "class label") for c in student.classes_],
        "input_dtype": "float64",
        "source": f"{type(student).__module__}.{type(student).__name__}",
        "nodes": nodes,
    }


def _schema_to_dict(student):
    """Hook for other tree students: ``to_dict()`` returning a crembo-tree dict (flat ``nodes``).

    Envelope fields it may leave out (format, version, input_dtype, classes) are filled in;
    the result is validated against the schema by ``to_json``.
    """
    d = student.to_dict()
    if not isinstance(d, dict) or not isinstance(d.get("nodes"), list):
        raise TypeError(
            f"{type(student).__name__}.to_dict() does not return a crembo-tree dict (a flat 'nodes' list); "
            "see docs/export_schema.md"
        )
    d = dict(d)
    d.setdefault("format", SCHEMA_FORMAT)
    d.setdefault("version", SCHEMA_VERSION)
    d.setdefault("input_dtype", "float64")
    d.setdefault("source", f"{type(student).__module__}.{type(student).__name__}")
    if "classes" not in d and hasattr(student, "classes_"):
        d["classes"] = [_json_label(c, "class label") for c in student.classes_]
    return d


def _tree_dict(student):
    if isinstance(student, dict):
        return dict(student)
    from crembo.estimator import CREMBOClassifier, TeacherLabelBaseline, TrueLabelBaseline
    from crembo.oracles import MultiOutputStudent

    if isinstance(student, (CREMBOClassifier, TrueLabelBaseline, TeacherLabelBaseline)):
        # these wrap a student predicting indices into their classes_: export it, relabelled
        if not hasattr(student, "estimator_"):
            raise ValueError(f"this {type(student).__name__} is not fitted yet; call fit first")
        d = _tree_dict(student.estimator_)
        seen = [int(i) for i in d["classes"]]  # the tree's classes, as indices into the wrapper's
        k = len(student.classes_)
        if seen != list(range(k)):
            # a scikit-learn tree fitted on labels that miss some classes (a teacher that never
            # predicts them): widen it to every class, as the wrapper's predict_proba does
            for node in d["nodes"]:
                if node["leaf"]:
                    node["class"] = seen[node["class"]]
                if "value" in node:
                    value = [0.0] * k
                    for j, v in zip(seen, node["value"], strict=True):
                        value[j] = v
                    node["value"] = value
        d["classes"] = [_json_label(c, "class label") for c in student.classes_]
        return d
    if isinstance(student, MultiOutputStudent):
        if not _is_sklearn_tree(student.estimator_):
            raise TypeError("only a MultiOutputStudent wrapping one fitted sklearn tree can be exported")
        d = _sklearn_tree_dict(student.estimator_, leaf_classes=student.node_classes())
        d["source"] = "crembo.oracles.MultiOutputStudent"
        return d
    if _is_sklearn_tree(student):
        return _sklearn_tree_dict(student)
    if isinstance(getattr(type(student), "nodes_", None), property) or isinstance(
        getattr(student, "nodes_", None), list
    ):
        return _native_nodes_dict(student)
    if callable(getattr(student, "to_dict", None)):
        return _schema_to_dict(student)
    raise TypeError(
        "cannot export a student of type "
        f"{type(student).__name__}: expected a fitted sklearn DecisionTreeClassifier, crembo's "
        "AllowedLabelTreeClassifier (nodes_), an object whose to_dict() returns the crembo-tree "
        "schema, or such a dict"
    )


def _names(names, n, what):
    if names is None:
        return None
    names = list(names)
    if len(names) != n:
        raise ValueError(f"{what} has {len(names)} entries, expected {n}")
    return [str(x) for x in names]


def validate_tree_dict(model):
    """Check a crembo-tree dict against the schema; raise ValueError naming the first problem.

    The rules are ``crembo.tree._validate.check_tree_dict``, the code the standalone predictor
    runs on load too: ids of children after their parent (every walk ends), indices in range,
    thresholds not NaN, leaf values of one entry per class.
    """
    from crembo.tree._validate import check_tree_dict

    return check_tree_dict(model)


def to_json(student, feature_names=None, class_names=None):
    """The crembo-tree (version 1) dict of a fitted tree student; ``json.dumps`` it as is.

    ``feature_names`` default to the student's ``feature_names_in_`` (if fitted on a DataFrame);
    ``class_names`` (display names) default to ``str`` of each class label.
    """
    body = _tree_dict(student)
    model = {"format": body.pop("format", SCHEMA_FORMAT), "version": body.pop("version", SCHEMA_VERSION), **body}
    n_features = model.get("n_features")
    if feature_names is None:
        feature_names = model.get("feature_names")
        if feature_names is None and getattr(student, "feature_names_in_", None) is not None:
            feature_names = student.feature_names_in_
    if isinstance(n_features, int) and isinstance(model.get("classes"), list):
        model["feature_names"] = _names(feature_names, n_features, "feature_names")
        if class_names is None:
            class_names = model.get("class_names") or [str(c) for c in model["classes"]]
        model["class_names"] = _names(class_names, len(model["classes"]), "class_names")
    return validate_tree_dict(model)


def save_json(student, path, feature_names=None, class_names=None, *, indent=None):
    """Write ``to_json(student, ...)`` to ``path``; returns the dict written."""
    model = to_json(student, feature_names=feature_names, class_names=class_names)
    with open(os.fspath(path), "w", encoding="utf-8") as fh:
        # allow_nan=False: the schema is strict JSON, readable by any JSON library
        json.dump(model, fh, indent=indent, allow_nan=False)
    return model


def load_json(path):
    """Read and validate a crembo-tree JSON file."""
    with open(os.fspath(path), encoding="utf-8") as fh:
        return validate_tree_dict(json.load(fh))


# ---------------------------------------------------------------------------- predictor


def predictor_source():
    """Source text of the standalone pure-Python predictor (stdlib only).

    The template imports its model checks from ``crembo.tree._validate``; the shipped file gets
    their source in place of that import, so it checks models by the same code as crembo.
    """
    from crembo.tree import _validate

    template = importlib.resources.files("crembo").joinpath(_PREDICTOR_MODULE).read_text(encoding="utf-8")
    lines = template.splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.startswith(_VALIDATE_IMPORT)]
    if len(at) != 1:  # pragma: no cover - the template and this function change together
        raise RuntimeError(f"{_PREDICTOR_MODULE} must import its checks in one line: {_VALIDATE_IMPORT}")
    copied = "\n\n".join(inspect.getsource(f) for f in _validate.STANDALONE)
    note = "\n# Model checks, copied from crembo.tree._validate (the rules every crembo tree loader applies).\n"
    return "".join(lines[: at[0]]) + note + copied + "".join(lines[at[0] + 1 :])


def write_predictor(path):
    """Write the standalone predictor to ``path`` (e.g. ``crembo_tree_predictor.py``); returns path."""
    with open(os.fspath(path), "w", encoding="utf-8") as fh:
        fh.write(predictor_source())
    return path


def predict_json(model, X):
    """Predict with a crembo-tree dict through the standalone predictor (the shipped code path)."""
    from crembo import _export_predictor as standalone

    model = validate_tree_dict(model)
    rows = np.asarray(X, dtype=np.float64)
    if rows.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {rows.shape}")
    return np.asarray(standalone.predict(model, rows.tolist()))


# --------------------------------------------------------------------------------- ONNX


def to_onnx(student, n_features=None, *, target_opset=None):
    """ONNX ``ModelProto`` of an sklearn tree student via skl2onnx (``pip install crembo[onnx]``).

    Input ``X``: float32 tensor (None, n_features); outputs ``label`` and ``probabilities``.
    """
    if not _is_sklearn_tree(student):
        raise TypeError(
            f"ONNX export supports sklearn trees only, got {type(student).__name__}; export native trees with to_json"
        )
    _sklearn_tree_dict(student)  # same checks as JSON: fitted, classifier, single output
    try:
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as exc:
        raise ImportError("ONNX export needs skl2onnx: pip install 'crembo[onnx]'") from exc
    if n_features is None:
        n_features = int(student.n_features_in_)
    n_features = v.check_int(n_features, "n_features")
    if n_features != student.n_features_in_:
        raise ValueError(f"n_features={n_features} but the student was fitted on {student.n_features_in_} features")
    model = convert_sklearn(
        student,
        initial_types=[("X", FloatTensorType([None, int(n_features)]))],
        options={id(student): {"zipmap": False}},
        target_opset=target_opset,
    )
    _set_onnx_missing_directions(model, student)
    return model


def _set_onnx_missing_directions(model, student):
    """Route NaN as scikit-learn does: skl2onnx leaves every node's missing direction at 'false'.

    In ONNX's TreeEnsembleClassifier (mode BRANCH_LEQ) the 'true' branch is sklearn's left child,
    so ``nodes_missing_value_tracks_true`` is exactly ``tree_.missing_go_to_left``.
    """
    missing_left = getattr(student.tree_, "missing_go_to_left", None)
    if missing_left is None or student.tree_.node_count == 1:
        return  # a single leaf has no split to route NaN at (skl2onnx emits a constant graph)
    ensembles = [n for n in model.graph.node if n.op_type == "TreeEnsembleClassifier"]
    if len(ensembles) != 1:
        raise RuntimeError(
            "skl2onnx produced an unexpected graph (no single TreeEnsembleClassifier); "
            "cannot set NaN directions, refusing to return a model that may route NaN differently"
        )
    attrs = {a.name: a for a in ensembles[0].attribute}
    node_ids = list(attrs["nodes_nodeids"].ints)
    tracks = [int(missing_left[i]) for i in node_ids]
    if "nodes_missing_value_tracks_true" in attrs:
        attr = attrs["nodes_missing_value_tracks_true"]
        del attr.ints[:]
        attr.ints.extend(tracks)
    else:
        from onnx import helper

        ensembles[0].attribute.append(helper.make_attribute("nodes_missing_value_tracks_true", tracks))


# ---------------------------------------------------------------------------------- dot


def _dot_escape(text):
    return str(text).replace("\\", "\\\\").replace('"', '\\"')


def export_dot(student, feature_names=None, class_names=None):
    """Graphviz dot text of a tree student (sklearn's ``export_graphviz`` for sklearn trees)."""
    if _is_sklearn_tree(student):
        from sklearn.tree import export_graphviz

        model = to_json(student, feature_names, class_names)  # validates, resolves names
        return export_graphviz(
            student,
            out_file=None,
            feature_names=model["feature_names"],
            class_names=model["class_names"],
            filled=True,
            rounded=True,
        )
    model = to_json(student, feature_names, class_names)
    features = model["feature_names"] or [f"x[{j}]" for j in range(model["n_features"])]
    lines = [
        "digraph Tree {",
        'node [shape=box, style="rounded", fontname="helvetica"] ;',
        'edge [fontname="helvetica"] ;',
    ]
    for i, node in enumerate(model["nodes"]):
        if node["leaf"]:
            parts = [f"class = {model['class_names'][node['class']]}"]
        else:
            missing = "left" if node["missing_go_to_left"] else "right"
            parts = [f"{features[node['feature']]} <= {float(node['threshold']):.6g}", f"missing -> {missing}"]
        if "n_samples" in node:
            parts.append(f"samples = {node['n_samples']}")
        label = "\\n".join(_dot_escape(p) for p in parts)  # \n is dot's line break
        lines.append(f'{i} [label="{label}"] ;')
    for i, node in enumerate(model["nodes"]):
        if not node["leaf"]:
            lines.append(f'{i} -> {node["left"]} [label="True"] ;')
            lines.append(f'{i} -> {node["right"]} [label="False"] ;')
    lines.append("}")
    return "\n".join(lines) + "\n"
