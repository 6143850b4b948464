"""Input checks shared by every public function: clear errors, never a silent wrong answer.

Each array ``check_*`` returns an array that every backend kernel accepts: C-contiguous, of a
dtype the kernels are compiled for. Read-only and non-contiguous inputs are accepted (copied only
when they must be).

Scalar parameters go through ``check_int`` and ``check_real``: a value of the wrong kind is a
TypeError ("delta must be an int >= 1, got 1.5"), one out of range a ValueError ("delta must be
>= 1, got 0"). bool is an int to Python but never a count or a fraction here, so it is refused.
"""

import math
import numbers

import numpy as np

from crembo.backends import get_backend
from crembo.backends import reference as _ref

# Row sums of a belief may differ from 1 by this much (float32 predict_proba output
# accumulates ~1e-7 per class); larger gaps are an error, smaller ones are renormalised.
BELIEF_ATOL = 1e-5

VOTE_DTYPES = (np.uint8, np.int16, np.int32, np.int64)
LABEL_DTYPES = (np.int32, np.int64)
FLOAT_DTYPES = (np.float32, np.float64)


def is_int(x):
    """Whether ``x`` is an integer (Python or NumPy), bools excluded."""
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def is_real(x):
    """Whether ``x`` is a real number (Python or NumPy, NaN included), bools excluded."""
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _bounds(low, high, low_open, high_open):
    """``">= 1"``, ``"in (0, 1)"``, ... : the range a value must lie in, in words."""
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return ""


def _in_bounds(x, low, high, low_open, high_open):
    above = low is None or (x > low if low_open else x >= low)
    below = high is None or (x < high if high_open else x <= high)
    return above and below


def check_int(x, name, *, low=None, high=None, allow_none=False):
    """``x`` as an int in [low, high] (None when ``allow_none`` and x is None).

    TypeError when ``x`` is not an int, ValueError when it is out of range.
    """
    if x is None and allow_none:
        return None
    bounds = _bounds(low, high, False, False)
    if not is_int(x):
        kind = "None or an int" if allow_none else "an int"
        raise TypeError(f"{name} must be {kind}{' ' + bounds if bounds else ''}, got {x!r}")
    x = int(x)
    if not _in_bounds(x, low, high, False, False):
        raise ValueError(f"{name} must be {bounds}, got {x!r}")
    return x


def check_real(x, name, *, low=None, high=None, low_open=False, high_open=False, why=None):
    """``x`` as a finite float within the bounds (``*_open``: the bound itself is excluded).

    TypeError when ``x`` is not a real number, ValueError when it is NaN, infinite or out of range
    (``why``, when given, says in the message why the range is what it is).
    """
    bounds = _bounds(low, high, low_open, high_open)
    if not is_real(x):
        raise TypeError(f"{name} must be a real number{' ' + bounds if bounds else ''}, got {x!r}")
    x = float(x)
    if not (math.isfinite(x) and _in_bounds(x, low, high, low_open, high_open)):
        # a two-sided range excludes NaN and infinity by itself; a one-sided one needs saying
        what = bounds if low is not None and high is not None else f"a finite number {bounds}".rstrip()
        raise ValueError(f"{name} must be {what}{f' ({why})' if why else ''}, got {x!r}")
    return x


def check_float_dtype(dtype, name="dtype"):
    """The NumPy scalar type of a float32 or float64 ``dtype``; ValueError for any other."""
    dt = np.dtype(dtype).type
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {np.dtype(dtype)}")
    return dt


def n_rows(X):
    """Number of samples of an array, sparse matrix, DataFrame or list."""
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _as_array(x, name):
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers (bool, int or float), got dtype {arr.dtype}")
    return arr


def _integral_floats_to_int(arr, name):
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity; expected integer class indices")
    if not (arr == np.round(arr)).all():
        raise ValueError(f"{name} contains non-integer values; expected integer class indices")
    if arr.size and (arr.min() < np.iinfo(np.int64).min or arr.max() > np.iinfo(np.int64).max):
        raise ValueError(f"{name} has values outside the int64 range")
    return arr.astype(np.int64)


def check_n_classes(n_classes):
    return check_int(n_classes, "n_classes", low=1)


def check_votes(votes):
    """(n_members, n_samples) class indices -> C-contiguous array of a kernel vote dtype."""
    arr = _as_array(votes, "votes")
    if arr.ndim != 2:
        raise ValueError(f"votes must be 2-D (n_members, n_samples), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"votes is empty (shape {arr.shape}); need at least one member and one sample")
    if arr.dtype.kind == "f":
        arr = _integral_floats_to_int(arr, "votes")
    elif arr.dtype == np.bool_ or arr.dtype == np.int8:
        arr = arr.astype(np.int16 if arr.dtype == np.int8 else np.uint8)
    elif arr.dtype not in VOTE_DTYPES:
        # uint16 -> int32, uint32 -> int64, uint64 -> int64 (range checked)
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError("votes has values outside the int64 range")
        arr = arr.astype(np.int32 if arr.dtype == np.uint16 else np.int64)
    return np.ascontiguousarray(arr)


def check_labels(labels, n_samples=None, name="labels"):
    """1-D integer class indices -> C-contiguous int32/int64 array (range is checked by kernels)."""
    arr = _as_array(labels, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,), got shape {arr.shape}")
    if n_samples is not None and arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} entries but the belief has {n_samples} rows")
    return _labels_dtype(arr, name)


def check_label_matrix(labels, n_samples, name="label_matrix"):
    """(n_hypotheses, n_samples) integer predictions -> C-contiguous int32/int64 array."""
    arr = _as_array(labels, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_hypotheses, n_samples), got shape {arr.shape}")
    if arr.shape[1] != n_samples:
        raise ValueError(f"{name} has {arr.shape[1]} columns but the belief has {n_samples} rows")
    return _labels_dtype(arr, name)


def _labels_dtype(arr, name):
    if arr.dtype.kind == "f":
        arr = _integral_floats_to_int(arr, name)
    elif arr.dtype not in LABEL_DTYPES:
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ValueError(f"{name} has values outside the int64 range")
        arr = arr.astype(np.int64)
    return np.ascontiguousarray(arr)


def raise_invalid_labels(n_invalid, n_classes, name="labels"):
    if n_invalid:
        raise ValueError(f"{name} must be class indices in [0, {n_classes}); {n_invalid} value(s) are outside")


def check_float_matrix(x, name):
    """2-D non-empty float matrix (ints and bools are promoted to float64)."""
    arr = _as_array(x, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_classes), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} is empty (shape {arr.shape}); need at least one row and one class")
    if arr.dtype not in FLOAT_DTYPES:
        arr = arr.astype(np.float64)
    return np.ascontiguousarray(arr)


_STATUS_MESSAGES = {
    _ref.ROW_NONFINITE: "contains NaN or infinity",
    _ref.ROW_NEGATIVE: "has a negative value",
    _ref.ROW_BAD_SUM: "does not sum to 1 (tolerance {atol:g})",
}


def raise_bad_rows(status, name, atol, x=None):
    """Raise one ValueError naming the first bad row of a belief, if any row is bad."""
    bad = np.flatnonzero(status)
    if bad.size == 0:
        return
    row = int(bad[0])
    msg = _STATUS_MESSAGES[int(status[row])].format(atol=atol)
    detail = ""
    if x is not None and status[row] == _ref.ROW_BAD_SUM:
        detail = f" (it sums to {float(np.sum(x[row], dtype=np.float64))!r})"
    raise ValueError(f"{name}: row {row} {msg}{detail}; {bad.size} bad row(s) in all")


def check_threshold(d, name="threshold"):
    """A threshold on belief values, which are probabilities: a d above 1 allows no label
    anywhere and one below 0 every label, so either is a mistake (a percentage, a logit), not
    a question with an answer."""
    return check_real(d, name, low=0, high=1, why="belief values are probabilities")


def check_atol(atol):
    """Tolerance on a belief's row sums: finite and in [0, 1). From 1 up a row of zeros (which
    cannot be normalised: 0 / 0) would pass, and NaN would pass every row."""
    return check_real(atol, "atol", low=0, high=1, high_open=True, why="the tolerance on a row sum of 1")


def check_fraction(eps, name="eps", closed_right=False):
    return check_real(eps, name, low=0, high=1, high_open=not closed_right)


def check_run_params(n_jobs, backend):
    """Validate an estimator's ``n_jobs`` and ``backend`` at the start of its fit: otherwise the
    first kernel reads them, after a teacher may have trained for minutes."""
    from crembo._threads import resolve_n_threads  # _threads checks n_jobs with this module

    resolve_n_threads(n_jobs)
    get_backend(backend)
