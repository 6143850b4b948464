"""The tree a user would fit on the teacher's labels (VT), as an incumbent of CREMBO's selection.

A practitioner's alternative to CREMBO is scikit-learn's ``DecisionTreeClassifier`` of the same
depth fitted on the teacher's predicted labels, unweighted as scikit-learn fits it by default.
``SelectionSpec(user_vt=z)`` scores that tree on the selection's own held-out splits and keeps
it unless the student CREMBO chose beats it held out by more than z binomial standard errors:
the chosen student's score is the best of many noisy ones, so it is optimistic
(docs/selection.md, "The unweighted tree a user would fit, kept unless beaten"). The default
since that measurement: ``SelectionSpec(user_vt=1.0)``.
"""

import numpy as np
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier

__all__ = ["NAME", "user_tree", "kept_user_vt", "held_out", "keeps_user_vt"]

# the start of ``student_`` when the user's VT was kept
NAME = "scikit-learn VT"


def user_tree(student, class_weights, seed):
    """(name, unfitted DecisionTreeClassifier) or None: VT as a user would fit it, with the student's
    depth and ``min_samples_leaf``, unweighted when the selection tries unweighted students (the
    default), else balanced (whatever the other weightings, e.g. "labels"). (A first form kept
    the better of the two held out; half of the trees it kept were balanced, the least stable of
    the baselines.) None unless the student is crembo's native tree of depth >= 1: any other
    student is the user's own, and the scan already ends at it. (Like the native tree,
    scikit-learn's takes NaN; neither CREMBOClassifier nor it takes infinite values.)"""
    from crembo.oracles import default_student
    from crembo.tree import AllowedLabelTreeClassifier

    base = default_student() if student is None else student
    if not isinstance(base, AllowedLabelTreeClassifier) or (base.max_depth is not None and base.max_depth < 1):
        return None  # (a depth-0 native tree is one leaf; scikit-learn's tree needs depth >= 1)
    weights = class_weights if class_weights else (base.class_weight,)
    w = None if None in weights else "balanced"
    tree = DecisionTreeClassifier(
        max_depth=base.max_depth, min_samples_leaf=base.min_samples_leaf, class_weight=w, random_state=seed
    )
    return f"{NAME}, class_weight={w!r}", tree


def kept_user_vt(model):
    """Whether a fitted model returned the user's VT instead of a student of the scan."""
    return str(getattr(model, "student_", "")).startswith(NAME)


def held_out(tree, X, teacher_labels, splits):
    """Predictions of ``tree`` fitted on the teacher's labels of every split's training rows, on
    its held-out rows (splits concatenated in order)."""
    return np.concatenate([clone(tree).fit(X[tr], teacher_labels[tr]).predict(X[va]) for tr, va in splits])


def keeps_user_vt(chosen_accuracy, vt_accuracy, n_held, z):
    """Whether VT stays: the chosen student's held-out accuracy is not above VT's by more than
    ``z`` binomial standard errors of an accuracy over ``n_held`` rows."""
    p = chosen_accuracy
    return bool(p - vt_accuracy <= z * np.sqrt(p * (1 - p) / n_held) + 1e-12)
