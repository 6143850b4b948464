"""Checks for decision trees read from files, before any loop walks them.

Tree walks (crembo's Cython ``apply_tree``, scikit-learn's ``Tree.apply``, crembo's forest vote
walk, the standalone JSON predictor) index node arrays without bounds checks and stop only at a
leaf, so a crafted file can crash the process (an index out of range) or hang it in a loop that
ignores Ctrl-C (a child pointing back up). Every tree crembo loads goes through ``check_nodes``:

- there is at least one node, and node 0 is the root;
- a leaf has left and right child -1 (and, where a walk tells leaves by their feature, that
  feature is the leaf marker);
- a split's children are node indices greater than its own, so every walk moves to a higher
  index and ends; every node but the root is the child of exactly one split (a tree, not a graph);
- a split's feature is in [0, n_features) and its threshold is a number, not NaN (+-infinity is
  legitimate: scikit-learn's "missing vs. present" split has threshold +inf);
- a leaf's class, where the tree stores one, is an index into the classes.

``check_nodes`` and ``check_tree_dict`` use the standard library only (``math``):
``crembo.export.predictor_source`` copies their source into the standalone predictor, so a
shipped predictor checks a model with these very rules. The wrappers below them read the arrays
of crembo's native tree and of scikit-learn's ``Tree`` and apply the same rules.
"""

import math

import numpy as np

from crembo._validation import is_int
from crembo.tree.grower import MAX_CLASSES

__all__ = [
    "STANDALONE",
    "check_decision_tree",
    "check_loaded_trees",
    "check_native_estimator",
    "check_native_state",
    "check_nodes",
    "check_sklearn_tree",
    "check_tree_dict",
]


# --------------------------------------------------------- standard library only (shipped)


def check_nodes(left, right, feature, threshold, n_features, leaf_class=None, n_classes=None,
                is_leaf=None, leaf_feature=None, what="tree"):
    """Check a tree given as per-node sequences; return each node's depth, or raise ValueError.

    A node is a leaf where ``is_leaf[i]`` is true, or (``is_leaf`` None) where its left child
    is -1. ``n_features`` None skips the upper bound on features; ``leaf_class`` None skips the
    class check; ``leaf_feature`` (e.g. -1) is the feature every leaf must have.
    """
    n = len(left)
    if n < 1:
        raise ValueError(f"{what}: a tree needs at least one node")
    for name, seq in (("right", right), ("feature", feature), ("threshold", threshold),
                      ("class", leaf_class), ("leaf", is_leaf)):
        if seq is not None and len(seq) != n:
            raise ValueError(f"{what}: {n} nodes but {len(seq)} '{name}' entries")
    depth, parents = [0] * n, [0] * n
    # type(x) is int: a Python int, not a bool (JSON true) nor a float; arrays come as .tolist()
    for i in range(n):
        lo, hi, f = left[i], right[i], feature[i]
        if is_leaf[i] if is_leaf is not None else (lo == -1 and type(lo) is int):
            if is_leaf is None and not (hi == -1 and type(hi) is int):
                raise ValueError(f"{what}: node {i}: a leaf (left child -1) needs right child -1, got {hi!r}")
            if leaf_feature is not None and not (f == leaf_feature and type(f) is int):
                raise ValueError(f"{what}: node {i}: a leaf's 'feature' must be {leaf_feature}, got {f!r}")
            if leaf_class is not None:
                c = leaf_class[i]
                if not (type(c) is int and 0 <= c < n_classes):
                    raise ValueError(f"{what}: node {i}: leaf 'class' must be an index in [0, {n_classes}), got {c!r}")
            continue
        for side, child in (("left", lo), ("right", hi)):
            if not (type(child) is int and i < child < n):
                raise ValueError(f"{what}: node {i}: '{side}' must be a node index in ({i}, {n}) "
                                 f"(children after their parent), got {child!r}")
            parents[child] += 1
            depth[child] = depth[i] + 1
        if not (type(f) is int and 0 <= f and (n_features is None or f < n_features)):
            raise ValueError(f"{what}: node {i}: 'feature' must be in [0, {n_features}), got {f!r}")
        t = threshold[i]
        if not ((type(t) is float and not math.isnan(t)) or type(t) is int or t in ("inf", "-inf")):
            raise ValueError(f"{what}: node {i}: 'threshold' must be a finite number or +-infinity, got {t!r}")
    for i in range(1, n):
        if parents[i] != 1:
            raise ValueError(f"{what}: node {i} is a child of {parents[i]} splits; "
                             "every node but the root has exactly one parent")
    return depth


def check_tree_dict(model):
    """Check a crembo-tree (version 1) dict (docs/export_schema.md); raise ValueError naming the
    first problem, return the dict."""
    if not isinstance(model, dict):
        raise TypeError(f"a crembo-tree model is a dict, got {type(model).__name__}")
    if model.get("format") != "crembo-tree":
        raise ValueError(f"format must be 'crembo-tree', got {model.get('format')!r}")
    if model.get("version") != 1:
        raise ValueError(f"unsupported schema version {model.get('version')!r} (this reader reads 1)")
    n_features, classes, nodes = model.get("n_features"), model.get("classes"), model.get("nodes")
    if type(n_features) is not int or n_features < 1:
        raise ValueError(f"n_features must be a positive int, got {n_features!r}")
    if not isinstance(classes, list) or not classes:
        raise ValueError("classes must be a non-empty list of labels")
    if model.get("input_dtype") not in ("float32", "float64"):
        raise ValueError(f"input_dtype must be 'float32' or 'float64', got {model.get('input_dtype')!r}")
    if not isinstance(nodes, list) or not nodes:
        raise ValueError("nodes must be a non-empty list")
    k = len(classes)
    for i, node in enumerate(nodes):
        if not isinstance(node, dict) or not isinstance(node.get("leaf"), bool):
            raise ValueError(f"nodes[{i}] must be a dict with a boolean 'leaf'")
        if not node["leaf"] and not isinstance(node.get("missing_go_to_left"), bool):
            raise ValueError(f"nodes[{i}]: 'missing_go_to_left' must be true or false")
        for key, kinds in (("value", (int, float)), ("allowed_counts", (int,))):
            v = node.get(key)
            if v is not None and not (isinstance(v, list) and len(v) == k and all(
                    isinstance(x, kinds) and not isinstance(x, bool) and 0 <= x < float("inf") for x in v)):
                raise ValueError(f"nodes[{i}]: '{key}' must be a list of {k} finite numbers >= 0")
    check_nodes([nd.get("left") for nd in nodes], [nd.get("right") for nd in nodes],
                [nd.get("feature") for nd in nodes], [nd.get("threshold") for nd in nodes], n_features,
                [nd.get("class") for nd in nodes], k, [nd["leaf"] for nd in nodes], what="model")
    for key, n in (("feature_names", n_features), ("class_names", k)):
        names = model.get(key)
        if names is not None and (not isinstance(names, list) or len(names) != n
                                  or not all(isinstance(x, str) for x in names)):
            raise ValueError(f"{key} must be null or a list of {n} strings")
    return model


# What crembo.export.predictor_source copies into the standalone predictor, in this order.
STANDALONE = (check_nodes, check_tree_dict)


# ------------------------------------------------------------------ crembo's native tree

_NATIVE_ARRAYS = {
    "feature": np.intp, "bin": np.intp, "threshold": np.float64, "missing_left": np.bool_,
    "left": np.intp, "right": np.intp, "label": np.intp, "n_samples": np.int64,
    "consistency": np.int64, "depth": np.intp,
}
_NATIVE_MATRICES = {"value": np.int64, "label_scores": np.float64}


def _array(state, key, dtype, shape, what):
    a = state.get(key)
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != shape:
        got = f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{what}: '{key}' must be a {np.dtype(dtype)} array of shape {shape}, got {got}")
    return np.ascontiguousarray(a)  # the kernels take C-contiguous memoryviews


def check_native_state(state, what="crembo tree"):
    """Check the state of a ``crembo.tree.grower.Tree`` (what pickle or skops hands to its
    ``__setstate__``); return it with C-contiguous arrays, or raise ValueError.

    Beyond ``check_nodes`` (leaves have feature -1: the Cython walk tells leaves by it), the
    per-node ``rows`` that ``nodes_`` and the exporters read must equal the arrays the walk reads,
    and each node's recorded depth must be its depth.
    """
    if not isinstance(state, dict):
        raise ValueError(f"{what}: expected a dict of attributes, got {type(state).__name__}")
    state = dict(state)
    k, rows = state.get("n_classes"), state.get("rows")
    if type(k) is not int or not 1 <= k <= MAX_CLASSES:
        raise ValueError(f"{what}: 'n_classes' must be an int in [1, {MAX_CLASSES}], got {k!r}")
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{what}: 'rows' must be a non-empty list of node dicts")
    n = len(rows)
    for key, dtype in _NATIVE_ARRAYS.items():
        state[key] = _array(state, key, dtype, (n,), what)
    for key, dtype in _NATIVE_MATRICES.items():
        state[key] = _array(state, key, dtype, (n, k), what)
    depth = check_nodes(state["left"].tolist(), state["right"].tolist(), state["feature"].tolist(),
                        state["threshold"].tolist(), None, state["label"].tolist(), k,
                        leaf_feature=-1, what=what)
    if depth != state["depth"].tolist():
        raise ValueError(f"{what}: the recorded node depths are not the depths of the nodes")
    columns = {key: state[key].tolist() for key in _NATIVE_ARRAYS}
    for i, row in enumerate(rows):
        expected = {key: col[i] for key, col in columns.items()}
        same = isinstance(row, dict) and row.keys() == expected.keys() and all(
            row[key] == v or (key == "threshold" and math.isnan(v) and isinstance(row[key], float)
                              and math.isnan(row[key]))  # NaN at leaves
            for key, v in expected.items())
        if not same:
            raise ValueError(f"{what}: rows[{i}] does not match the node arrays")
    return state


def check_native_estimator(est, what=None):
    """A loaded ``AllowedLabelTreeClassifier``: its tree's features index its ``n_features_in_``
    columns and its labels its ``classes_``."""
    from crembo.tree.grower import Tree

    what = what or type(est).__name__
    tree, n_features, k = est.__dict__.get("tree_"), est.__dict__.get("n_features_in_"), est.__dict__.get("n_classes_")
    if not isinstance(tree, Tree):
        raise ValueError(f"{what}: 'tree_' must be a crembo tree, got {type(tree).__name__}")
    if not is_int(n_features) or n_features < 1:
        raise ValueError(f"{what}: 'n_features_in_' must be a positive int, got {n_features!r}")
    if int(tree.feature.max()) >= n_features:
        raise ValueError(f"{what}: a split reads feature {int(tree.feature.max())}, "
                         f"but the model has {n_features} features")
    if k != tree.n_classes:
        raise ValueError(f"{what}: 'n_classes_' is {k!r} but its tree has {tree.n_classes} classes")
    classes = est.__dict__.get("classes_")
    if not isinstance(classes, np.ndarray) or classes.shape != (k,):
        raise ValueError(f"{what}: 'classes_' must be an array of {k} labels")


# ---------------------------------------------------------------------- scikit-learn trees


def check_sklearn_tree(tree, n_features, what="sklearn tree"):
    """A ``sklearn.tree._tree.Tree`` whose owner sees ``n_features`` columns."""
    if tree.n_features != n_features:
        raise ValueError(f"{what}: the tree has {tree.n_features} features, its model {n_features}")
    depth = check_nodes(tree.children_left.tolist(), tree.children_right.tolist(), tree.feature.tolist(),
                        tree.threshold.tolist(), n_features, what=what)
    # decision_path sizes its output by max_depth: a smaller one would be overrun
    if max(depth) > tree.max_depth:
        raise ValueError(f"{what}: max_depth is {tree.max_depth} but the tree is {max(depth)} deep")
    shape = (tree.node_count, tree.n_outputs, int(np.max(tree.n_classes)))
    if tree.value.shape != shape:
        raise ValueError(f"{what}: leaf values have shape {tree.value.shape}, expected {shape}")


def check_decision_tree(est, what):
    """A scikit-learn decision tree estimator and its ``tree_``: features, outputs, classes."""
    from sklearn.base import is_classifier

    tree, d = est.tree_, est.__dict__
    n_features = d.get("n_features_in_")
    if not is_int(n_features) or n_features < 1:
        raise ValueError(f"{what}: 'n_features_in_' must be a positive int, got {n_features!r}")
    check_sklearn_tree(tree, int(n_features), f"{what}.tree_")
    if d.get("n_outputs_") != tree.n_outputs:
        raise ValueError(f"{what}: n_outputs_ is {d.get('n_outputs_')!r}, its tree has {tree.n_outputs}")
    if is_classifier(est):
        classes = d.get("classes_")
        per_output = classes if tree.n_outputs > 1 else [classes]
        counts = [len(c) if isinstance(c, np.ndarray) and c.ndim == 1 else None for c in per_output]
        if not isinstance(per_output, list) or counts != tree.n_classes.tolist():
            raise ValueError(f"{what}: classes_ do not match the {tree.n_classes.tolist()} classes of its tree")


def _check_ensemble_members(ens, what):
    """Forests walk their members with ``check_input=False`` (and crembo's vote walk reads them
    directly), so each member must see the ensemble's columns, or its Bagging feature subset."""
    members = ens.__dict__.get("estimators_")
    if members is None:
        return
    n_features = ens.__dict__.get("n_features_in_")
    subsets = ens.__dict__.get("estimators_features_")
    if subsets is not None and len(subsets) != len(members):
        raise ValueError(f"{what}: {len(members)} members but {len(subsets)} feature subsets")
    for t, member in enumerate(members):
        seen = getattr(member, "__dict__", {}).get("n_features_in_")
        if subsets is None:
            if seen != n_features:
                raise ValueError(f"{what}: member {t} has {seen} features, the ensemble {n_features}")
            continue
        s = np.asarray(subsets[t])
        if s.ndim != 1 or s.dtype.kind not in "iu" or s.size != seen or (s.size and (
                s.min() < 0 or s.max() >= n_features)):
            raise ValueError(f"{what}: member {t}'s feature subset does not index the ensemble's "
                             f"{n_features} features with its own {seen}")


def check_loaded_trees(obj, trust_sklearn_trees=False):
    """Check every decision tree in a loaded object graph; return where scikit-learn trees sit
    that crembo cannot vouch for (always empty with ``trust_sklearn_trees``).

    crembo's native trees check themselves when unpickled (``Tree.__setstate__``). A scikit-learn
    ``Tree`` is vouched for when it is the ``tree_`` of a decision tree estimator (checked against
    it here), including a member of a forest or bagging ensemble (members are checked against
    the ensemble). A tree anywhere else, or under another ensemble (gradient boosting walks its
    members' nodes from its own Cython code, unchecked), is reported unless
    ``trust_sklearn_trees``. The walk follows containers, object arrays and instance
    ``__dict__`` only: no property or other code of a loaded object runs.
    """
    from sklearn.ensemble._bagging import BaseBagging
    from sklearn.ensemble._base import BaseEnsemble
    from sklearn.ensemble._forest import BaseForest
    from sklearn.tree._classes import BaseDecisionTree
    from sklearn.tree._tree import Tree

    # (object, where, under an ensemble crembo does not check, is the tree_ of a checked tree)
    stack, seen = [(obj, "model", False, False)], set()
    trees, vouched, tainted = {}, set(), set()
    while stack:
        o, path, under, owned = stack.pop()
        if (id(o), under, owned) in seen or o is None or isinstance(o, (str, bytes, int, float, complex, np.generic)):
            continue
        seen.add((id(o), under, owned))
        if isinstance(o, Tree):
            trees.setdefault(id(o), path)
            if under:
                tainted.add(id(o))
            elif owned:
                vouched.add(id(o))
            continue
        children = ()
        if isinstance(o, np.ndarray):
            children = [(f"{path}[{i}]", x) for i, x in enumerate(o.ravel())] if o.dtype == object else ()
        elif isinstance(o, dict):
            children = [(f"{path}[{k!r}]", v) for k, v in o.items()] + [(f"{path} key", k) for k in o]
        elif isinstance(o, (list, tuple, set, frozenset)):
            children = [(f"{path}[{i}]", x) for i, x in enumerate(o)]
        elif isinstance(getattr(o, "__dict__", None), dict):
            attrs = o.__dict__
            checked = isinstance(o, BaseDecisionTree) and isinstance(attrs.get("tree_"), Tree)
            if checked:
                check_decision_tree(o, path)
            if isinstance(o, (BaseForest, BaseBagging)):
                _check_ensemble_members(o, path)
            other = isinstance(o, BaseEnsemble) and not isinstance(o, (BaseForest, BaseBagging))
            stack.extend((v, f"{path}.{name}", under or (other and name == "estimators_"),
                          checked and name == "tree_") for name, v in attrs.items())
        stack.extend((x, where, under, False) for where, x in children)
    if trust_sklearn_trees:
        return []
    return sorted(path for tid, path in trees.items() if tid in tainted or tid not in vouched)
