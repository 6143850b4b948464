"""Checks of CREMBOClassifier's parameters and of what its teacher and student accept (NaN,
DataFrames), shared with the baselines and ``crembo.distributed``."""

import numbers

import numpy as np
from sklearn.utils import _safe_indexing, get_tags

from crembo import _validation as v
from crembo._candidates import check_thresholds_param
from crembo._selection import PRESETS, SelectionSpec
from crembo.oracles import default_student
from crembo.teachers import Teacher, default_teacher


def _selection_spec(selection):
    """The SelectionSpec of a ``selection=`` value; None for "paper" (the paper's own loop)."""
    if isinstance(selection, SelectionSpec):
        return selection
    if isinstance(selection, str):
        if selection == "paper":
            return None
        if selection in PRESETS:
            return PRESETS[selection]
    raise ValueError(f"selection must be one of {['paper', *PRESETS]} or a crembo.SelectionSpec, got {selection!r}")


def _check_params(est):
    d = est.delta
    if isinstance(d, bool) or not isinstance(d, numbers.Integral):
        raise TypeError(f"delta must be an int >= 1, got {d!r}")
    if d < 1:
        raise ValueError(f"delta must be >= 1, got {d}")
    f = est.validation_fraction
    if isinstance(f, bool) or not isinstance(f, numbers.Real):
        raise TypeError(f"validation_fraction must be a float in (0, 1), got {f!r}")
    if not 0.0 < f < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {f}")
    if est.search not in ("binary", "gallop"):
        raise ValueError(f"search must be 'binary' or 'gallop', got {est.search!r}")
    v.check_fraction(est.eps, "eps")
    if est.belief_dtype not in ("float64", "float32"):
        raise ValueError(f"belief_dtype must be 'float64' or 'float32', got {est.belief_dtype!r}")
    return check_thresholds_param(est.thresholds)


def _is_dataframe(X):
    return hasattr(X, "columns") and hasattr(X, "shape") and not isinstance(X, np.ndarray)


def _teacher_rows(X_orig, X, rows=None):
    """What the teacher sees: rows of the original X when it is a DataFrame (a pipeline may select
    columns by name), else ``X`` (the validated array, or the student's rows of it: not copied
    again, which at 2,000,000 x 20 would be 270 MB more)."""
    if _is_dataframe(X_orig):
        return X_orig if rows is None else _safe_indexing(X_orig, rows)
    return X


def _allows_nan(est):
    try:
        return bool(get_tags(est).input_tags.allow_nan)
    except Exception:  # not an sklearn estimator
        return False


def _nan_policy(student, teacher=None, check_teacher=False):
    """``ensure_all_finite`` for validate_data: "allow-nan" when the student (None: the default
    tree) and, if it is an estimator, the teacher (None: the default forest) accept NaN."""
    ok = _allows_nan(default_student() if student is None else student)
    if ok and check_teacher:
        t = default_teacher() if teacher is None else teacher
        if hasattr(t, "fit") and not isinstance(t, Teacher):  # callables/matrices/Teachers: their own business
            ok = _allows_nan(t)
    return "allow-nan" if ok else True
