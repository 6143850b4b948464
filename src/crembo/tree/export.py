"""Text export of an allowed-label tree, in the format of ``sklearn.tree.export_text``."""

from sklearn.utils.validation import check_is_fitted


def export_text(tree, feature_names=None, class_names=None, decimals=2, show_counts=True):
    """Text rendering: one line per split side ('<=' / '>'), NaN's side marked '(NaN)', and at
    each leaf its label and how many of its training samples allow it."""
    check_is_fitted(tree, "tree_")
    t = tree.tree_
    if feature_names is not None and len(feature_names) != tree.n_features_in_:
        raise ValueError(f"feature_names needs {tree.n_features_in_} names, got {len(feature_names)}")
    if class_names is not None and len(class_names) != len(tree.classes_):
        raise ValueError(f"class_names needs {len(tree.classes_)} names, got {len(class_names)}")
    names = list(feature_names) if feature_names is not None else [f"feature_{i}" for i in range(tree.n_features_in_)]
    classes = list(class_names) if class_names is not None else [str(c) for c in tree.classes_]

    def leaf(i):
        extra = f" (allowed for {t.consistency[i]}/{t.n_samples[i]})" if show_counts else ""
        return f"{classes[t.label[i]]}{extra}"

    return tree_text(t.left, t.right, t.feature, t.threshold, leaf, names, decimals, t.missing_left)


def student_text(student, feature_names, class_names, decimals=2):
    """A CREMBO student whose leaves hold class indices, as text: crembo's native tree, scikit-learn's
    single-output tree (the kept VT, ``crembo._user_vt``), or a student with its own ``export_text``
    (the paper's multi-output tree). TypeError for any other."""
    from sklearn.tree import DecisionTreeClassifier

    from crembo.tree.estimator import AllowedLabelTreeClassifier

    if isinstance(student, AllowedLabelTreeClassifier):
        return export_text(student, feature_names=feature_names, class_names=class_names, decimals=decimals)
    if isinstance(student, DecisionTreeClassifier) and student.n_outputs_ == 1:
        return sklearn_tree_text(student, feature_names, class_names, decimals)
    if hasattr(student, "export_text"):
        return student.export_text(feature_names=feature_names, class_names=class_names, decimals=decimals)
    raise TypeError(f"the student {type(student).__name__} cannot be printed as a tree")


def sklearn_tree_text(tree, feature_names=None, class_names=None, decimals=2):
    """A single-output scikit-learn tree in the same layout; each leaf shows its label
    (``class_names`` indexed by the tree's ``classes_``, which are class indices) and its number
    of training samples."""
    t = tree.tree_
    names = list(feature_names) if feature_names is not None else [f"feature_{i}" for i in range(tree.n_features_in_)]

    def leaf(i):
        label = int(tree.classes_[int(t.value[i, 0].argmax())])
        return f"{class_names[label] if class_names is not None else label} ({t.n_node_samples[i]} samples)"

    missing_left = getattr(t, "missing_go_to_left", None)
    return tree_text(t.children_left, t.children_right, t.feature, t.threshold, leaf, names, decimals, missing_left)


def tree_text(left, right, feature, threshold, leaf_label, feature_names, decimals=2, missing_left=None):
    """Render a binary tree given as node arrays (feature < 0 or left == -1 marks a leaf) in
    sklearn's ``export_text`` layout; ``leaf_label(i)`` is the text after "class: " and, when
    ``missing_left`` is given, the side NaN takes is marked "(NaN)". Shared by every tree student."""
    lines = []

    def rec(i, depth):
        indent = "|   " * depth + "|--- "
        if feature[i] < 0 or left[i] == -1:
            lines.append(f"{indent}class: {leaf_label(i)}")
            return
        name, thr = feature_names[feature[i]], f"{threshold[i]:.{decimals}f}"
        nan_l, nan_r = ("", "") if missing_left is None else ((" (NaN)", "") if missing_left[i] else ("", " (NaN)"))
        lines.append(f"{indent}{name} <= {thr}{nan_l}")
        rec(left[i], depth + 1)
        lines.append(f"{indent}{name} >  {thr}{nan_r}")
        rec(right[i], depth + 1)

    rec(0, 0)
    return "\n".join(lines) + "\n"
