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
    names = list(feature_names) if feature_names is not None else [
        f"feature_{i}" for i in range(tree.n_features_in_)]
    classes = list(class_names) if class_names is not None else [str(c) for c in tree.classes_]
    lines = []

    def rec(i, depth):
        indent = "|   " * depth + "|--- "
        if t.feature[i] < 0:
            extra = f" (allowed for {t.consistency[i]}/{t.n_samples[i]})" if show_counts else ""
            lines.append(f"{indent}class: {classes[t.label[i]]}{extra}")
            return
        name, thr = names[t.feature[i]], f"{t.threshold[i]:.{decimals}f}"
        nan_l, nan_r = (" (NaN)", "") if t.missing_left[i] else ("", " (NaN)")
        lines.append(f"{indent}{name} <= {thr}{nan_l}")
        rec(t.left[i], depth + 1)
        lines.append(f"{indent}{name} >  {thr}{nan_r}")
        rec(t.right[i], depth + 1)

    rec(0, 0)
    return "\n".join(lines) + "\n"
