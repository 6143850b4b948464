"""``crembo show``: print a saved student, and the tree printing shared with ``compress``."""

import json
from pathlib import Path

from crembo.cli._errors import CLIError, one_line


def _inner(model):
    """The fitted student inside crembo's wrappers (CREMBO, BM, VT); other models as they are.
    (Not ``getattr(model, "estimator_")``: sklearn ensembles keep an unfitted template there.)"""
    from crembo.estimator import CREMBOClassifier, _LabelBaseline

    return model.estimator_ if isinstance(model, (CREMBOClassifier, _LabelBaseline)) else model


def tree_text(model, feature_names=None, decimals=2):
    """The tree of a student (CREMBO, a baseline, or a bare tree) as text; None if it has no tree.

    A CREMBO model prints itself (``CREMBOClassifier.export_text``); the others go to the tree's
    own printer (``crembo.tree.export_text`` or scikit-learn's), with the wrapper's labels.
    """
    from sklearn.tree import BaseDecisionTree
    from sklearn.tree import export_text as sk_export_text

    from crembo.estimator import CREMBOClassifier
    from crembo.oracles import MultiOutputStudent
    from crembo.tree import AllowedLabelTreeClassifier
    from crembo.tree import export_text as native_export_text

    names = list(feature_names) if feature_names is not None else None
    if isinstance(model, CREMBOClassifier):
        try:
            return model.export_text(feature_names=names, decimals=decimals)
        except TypeError:  # a student that is not a single tree
            return None
    inner = _inner(model)
    classes = getattr(model, "classes_", None)
    if isinstance(inner, MultiOutputStudent):
        if not hasattr(inner.estimator_, "tree_"):
            return None
        return inner.export_text(feature_names=names, class_names=classes, decimals=decimals)
    if isinstance(inner, AllowedLabelTreeClassifier):
        if classes is not None and len(classes) != len(inner.classes_):
            classes = None
        return native_export_text(inner, feature_names=names, class_names=classes, decimals=decimals)
    if isinstance(inner, BaseDecisionTree) and hasattr(inner, "tree_") and hasattr(inner, "classes_"):
        if inner.n_outputs_ != 1:
            return None
        known = classes is not None and len(classes) == len(inner.classes_)
        labels = classes if known and inner is not model else inner.classes_
        return sk_export_text(inner, feature_names=names, class_names=[str(c) for c in labels], decimals=decimals)
    return None


def _tree_depth(model):
    inner = _inner(model)
    inner = getattr(inner, "estimator_", inner) if type(inner).__name__ == "MultiOutputStudent" else inner
    try:
        return int(inner.get_depth())
    except (AttributeError, TypeError, ValueError):
        return None


def _feature_names(model, path, n_features):
    """The student's own ``feature_names_in_``, else those of a report.json beside its file."""
    names = getattr(model, "feature_names_in_", None)
    if names is not None and len(names) == n_features:
        return [str(n) for n in names]
    report = Path(path).with_name("report.json")
    try:
        names = json.loads(report.read_text())["data"]["feature_names"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return names if isinstance(names, list) and len(names) == n_features else None


def _cmd_show(args):
    from crembo.persistence import UntrustedFileError, load_student

    try:
        model = load_student(args.student, trusted=args.trusted)
    except UntrustedFileError as exc:
        raise CLIError(f"{one_line(exc)} (on the command line: --trusted TYPE for each)") from None
    except FileNotFoundError as exc:
        raise CLIError(one_line(exc)) from None
    except ValueError as exc:
        raise CLIError(one_line(exc)) from None
    inner = _inner(model)
    inner = None if inner is model else inner
    n_features = getattr(model, "n_features_in_", None)
    names = _feature_names(model, args.student, n_features) if n_features else None
    lines = [f"file: {args.student}", f"model: {type(model).__name__}"]
    if inner is not None:
        lines.append(f"student: {type(inner).__name__}")
    classes = getattr(model, "classes_", None)
    if classes is not None:
        lines.append(f"classes ({len(classes)}): {', '.join(str(c) for c in classes)}")
    if n_features is not None:
        shown = f": {', '.join(names)}" if names else ""
        lines.append(f"features ({n_features}){shown}")
    depth = _tree_depth(model)
    if depth is not None:
        lines.append(f"tree depth: {depth}")
    if hasattr(model, "threshold_"):
        lines.append(
            f"threshold: {model.threshold_:.4g} (MEMO {model.memo_threshold_:.4g}); "
            f"depth on the teacher's belief: {model.depth_:.4g}"
        )
    text = tree_text(model, names, decimals=args.decimals)
    print("\n".join(lines))
    if text is not None:
        print()
        print(text, end="")
    else:
        print("(this model is not a tree; nothing more to print)")
    return 0
