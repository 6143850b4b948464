"""How faithful, how deep and how stable a student is: fidelity, depth, agreement, bootstrap CIs.

- ``fidelity``: the fraction of samples on which student and teacher predict the same label.
- ``student_depth``: the (eps-quantile) depth of any fitted student under a teacher's belief.
- ``agreement``: mean pairwise agreement of several students on a common test set, the paper's
  robustness measure (train one method on different folds; robust methods agree more).
- ``bootstrap_ci``: percentile bootstrap over samples, vectorised over resamples.

Every function takes predictions, or fitted estimators together with ``X`` (they are then
asked to ``predict(X)``); the two may be mixed.
"""

from dataclasses import dataclass

import numpy as np

from crembo import _validation as v
from crembo.depth import hypothesis_depth, quantile_depth
from crembo.teachers import class_index_map

__all__ = [
    "AgreementResult",
    "ConfidenceInterval",
    "agreement",
    "bootstrap_ci",
    "fidelity",
    "student_depth",
]

# Resamples are drawn in blocks of at most this many (resample, sample) index pairs, so the
# bootstrap stays vectorised without materialising n_resamples * n_samples indices at once.
_BLOCK_ELEMENTS = 1 << 22


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a percentile-bootstrap interval; unpacks as (estimate, low, high)."""

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int

    def __iter__(self):
        return iter((self.estimate, self.low, self.high))

    def __float__(self):
        return float(self.estimate)


@dataclass(frozen=True)
class AgreementResult:
    """Mean pairwise agreement ``estimate``, the (m, m) ``matrix`` and, with ``ci=True``, its interval."""

    estimate: float
    matrix: np.ndarray
    low: float | None = None
    high: float | None = None
    confidence: float | None = None
    n_resamples: int | None = None

    def __float__(self):
        return float(self.estimate)


# ----------------------------------------------------------------------------------- inputs


def _predictions(obj, X, name):
    """1-D predictions from an array, or from a fitted estimator's ``predict(X)``."""
    if hasattr(obj, "predict") and not isinstance(obj, np.ndarray):
        if X is None:
            raise ValueError(f"{name} is an estimator; pass X so that it can predict")
        obj = obj.predict(X)
    if obj is None:
        raise TypeError(f"{name} must be predictions or a fitted estimator, got None")
    y = np.asarray(obj)
    if y.ndim == 2 and y.shape[1] == 1:  # column vectors from some predictors
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D predictions (n_samples,), got shape {y.shape}")
    if y.shape[0] == 0:
        raise ValueError(f"{name} is empty; need at least one sample")
    if X is not None and hasattr(X, "__len__") and y.shape[0] != len(X):
        raise ValueError(f"{name} has {y.shape[0]} predictions but X has {len(X)} rows")
    return y


def _check_same_length(arrays, names):
    lengths = {len(a) for a in arrays}
    if len(lengths) > 1:
        detail = ", ".join(f"{n}: {len(a)}" for n, a in zip(names, arrays, strict=True))
        raise ValueError(f"inputs must have the same number of samples ({detail})")


def _check_ci_args(n_resamples, confidence):
    n_resamples = v.check_int(n_resamples, "n_resamples", low=1)
    return n_resamples, v.check_real(confidence, "confidence", low=0, high=1, low_open=True, high_open=True)


def _rng(random_state):
    if isinstance(random_state, np.random.RandomState):
        # a legacy RandomState (sklearn style) seeds a Generator, so both kinds are reproducible
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    try:
        return np.random.default_rng(random_state)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"random_state must be None, an int or a numpy Generator, got {random_state!r}") from exc


def _encode(arrays):
    """Map the labels of several prediction arrays to shared integer codes: (m, n) int64."""
    try:
        _, codes = np.unique(np.concatenate(arrays), return_inverse=True)
    except TypeError:  # labels of mixed, unorderable types: code them by first appearance
        seen = {}
        codes = np.array([seen.setdefault(v, len(seen)) for a in arrays for v in a.tolist()])
    return codes.reshape(len(arrays), -1).astype(np.int64)


# -------------------------------------------------------------------------------- bootstrap


def bootstrap_ci(metric_fn, *arrays, n_resamples=1000, confidence=0.95, random_state=None, vectorized=True):
    """Percentile bootstrap over samples: returns ``ConfidenceInterval`` (unpacks to estimate, low, high).

    Parameters
    ----------
    metric_fn : callable
        ``metric_fn(*arrays)`` -> scalar. With ``vectorized=True`` (the default) it is called on
        arrays with a leading resample axis, shape (b, n, ...), and must return shape (b,) -- e.g.
        ``lambda a, b: (a == b).mean(axis=-1)``. With ``vectorized=False`` it is called once per
        resample on plain (n, ...) arrays.
    *arrays : array-like
        Paired per-sample data; all resampled with the same indices along axis 0.
    n_resamples : int, >= 1
    confidence : float in (0, 1)
    random_state : None, int or numpy Generator
    """
    n_resamples, confidence = _check_ci_args(n_resamples, confidence)
    if not callable(metric_fn):
        raise TypeError(f"metric_fn must be callable, got {metric_fn!r}")
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array to resample")
    arrays = [np.asarray(a) for a in arrays]
    for i, a in enumerate(arrays):
        if a.ndim == 0:
            raise ValueError(f"array {i} is a scalar; need per-sample data (n_samples, ...)")
    _check_same_length(arrays, [f"array {i}" for i in range(len(arrays))])
    n = arrays[0].shape[0]
    if n == 0:
        raise ValueError("cannot bootstrap empty arrays")

    def evaluate(batch):
        out = np.asarray(metric_fn(*batch), dtype=np.float64)
        if vectorized:
            expected = (batch[0].shape[0],)
            if out.shape != expected:
                raise ValueError(
                    f"vectorized metric_fn must return shape {expected} for a batch of resamples, "
                    f"got {out.shape}; reduce over axis=-1 or pass vectorized=False"
                )
        elif out.ndim != 0:
            raise ValueError(f"metric_fn must return a scalar, got shape {out.shape}")
        return out

    rng = _rng(random_state)
    if vectorized:
        estimate = float(evaluate([a[np.newaxis] for a in arrays])[0])
        stats = np.empty(n_resamples, dtype=np.float64)
        block = max(1, _BLOCK_ELEMENTS // n)
        for start in range(0, n_resamples, block):
            stop = min(start + block, n_resamples)
            idx = rng.integers(0, n, size=(stop - start, n))
            stats[start:stop] = evaluate([a[idx] for a in arrays])
    else:
        estimate = float(evaluate(arrays))
        idx_all = (rng.integers(0, n, size=n) for _ in range(n_resamples))
        stats = np.array([evaluate([a[idx] for a in arrays]) for idx in idx_all], dtype=np.float64)

    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return ConfidenceInterval(estimate, float(low), float(high), confidence, n_resamples)


def _mean_last_axis(values):
    return values.mean(axis=-1)


# ---------------------------------------------------------------------------------- metrics


def fidelity(student, teacher, X=None, *, ci=False, n_resamples=1000, confidence=0.95, random_state=None):
    """Fraction of samples on which ``student`` and ``teacher`` predict the same label.

    ``fidelity(y_student, y_teacher)`` on predictions, or ``fidelity(student, teacher, X)`` on
    fitted estimators (either may also be a prediction array). Returns a float, or with
    ``ci=True`` a ``ConfidenceInterval`` from a percentile bootstrap over samples.
    """
    y_s = _predictions(student, X, "student")
    y_t = _predictions(teacher, X, "teacher")
    _check_same_length([y_s, y_t], ["student", "teacher"])
    same = y_s == y_t
    if not ci:
        return float(same.mean())
    return bootstrap_ci(
        _mean_last_axis, same, n_resamples=n_resamples, confidence=confidence, random_state=random_state
    )


def _belief_columns(y, classes, k):
    """Positions of the labels ``y`` in ``classes`` (the labels of the belief's k columns)."""
    classes = np.asarray(classes)
    if classes.ndim != 1 or classes.shape[0] != k:
        raise ValueError(f"classes must list one label per belief column ({k}), got shape {classes.shape}")
    y = np.asarray(y)
    try:  # map each distinct label once
        uniq, inv = np.unique(y, return_inverse=True)
    except TypeError:  # unorderable mixed labels
        uniq, inv = y, np.arange(y.shape[0])
    try:
        return class_index_map(uniq, classes)[np.reshape(inv, -1)]
    except ValueError:
        known = set(classes.tolist())
        missing = [c for c in uniq.tolist() if c not in known][:5]
        raise ValueError(f"the student predicts labels that are not belief columns: {missing}") from None


def student_depth(student, belief, X=None, *, classes=None, eps=0.0, backend=None, n_jobs=None):
    """Depth of a fitted student under a belief: min_i p[i, f(x_i)], or its eps-quantile.

    Parameters
    ----------
    student : fitted estimator (with ``X``) or 1-D predictions
    belief : (n, k) array, the teacher's belief on the same samples
    classes : labels of the belief's columns (e.g. ``teacher.classes_``). Default: the student's
        ``classes_`` when it has k of them, else predictions must be column indices in [0, k).
    eps : float in [0, 1); 0 is the hypothesis depth D(f), larger ignores the least-supported
        floor(eps * n) samples (``crembo.quantile_depth``).
    """
    y = _predictions(student, X, "student")
    belief_arr = np.asarray(belief)
    if belief_arr.ndim != 2:
        raise ValueError(f"belief must be 2-D (n_samples, n_classes), got shape {belief_arr.shape}")
    n, k = belief_arr.shape
    if y.shape[0] != n:
        raise ValueError(f"student has {y.shape[0]} predictions but the belief has {n} rows")
    if classes is None:
        student_classes = getattr(student, "classes_", None)
        if student_classes is not None and np.ndim(student_classes) == 1:
            if len(student_classes) != k:
                raise ValueError(
                    f"the student has {len(student_classes)} classes but the belief has {k} columns; "
                    "pass classes= (the labels of the belief's columns, e.g. teacher.classes_)"
                )
            classes = student_classes
    if classes is not None:
        y = _belief_columns(y, classes, k)
    elif y.dtype.kind not in "biuf":
        raise ValueError("predictions are not class indices; pass classes= (the labels of the belief's columns)")
    if eps == 0:
        return hypothesis_depth(belief, y, backend=backend, n_jobs=n_jobs)
    return quantile_depth(belief, y, eps, backend=backend, n_jobs=n_jobs)


def agreement(predictions, X=None, *, ci=False, n_resamples=1000, confidence=0.95, random_state=None):
    """Mean pairwise agreement between m >= 2 students on a common test set, and the full matrix.

    ``predictions`` is an (m, n) array, or a list of m prediction arrays and/or fitted estimators
    (estimators need ``X``). Returns ``AgreementResult``: ``estimate`` (mean over the m(m-1)/2
    pairs of the fraction of samples on which the pair agrees), ``matrix`` (m, m) with ones on
    the diagonal, and with ``ci=True`` a percentile-bootstrap interval (``low``, ``high``) over
    test samples for the estimate.
    """
    if isinstance(predictions, np.ndarray) and predictions.ndim == 2:
        preds = list(predictions)
    else:
        if isinstance(predictions, (str, bytes)) or not hasattr(predictions, "__iter__"):
            raise TypeError("predictions must be an (m, n) array or a list of predictions/estimators")
        preds = list(predictions)
    if len(preds) < 2:
        raise ValueError(f"agreement needs at least 2 students, got {len(preds)}")
    preds = [_predictions(p, X, f"predictions[{i}]") for i, p in enumerate(preds)]
    _check_same_length(preds, [f"predictions[{i}]" for i in range(len(preds))])
    codes = _encode(preds)
    m, n = codes.shape

    matrix = np.eye(m)
    for a in range(m):
        for b in range(a + 1, m):
            matrix[a, b] = matrix[b, a] = np.mean(codes[a] == codes[b])

    # The mean over pairs of a per-pair mean over samples is the mean over samples of the
    # per-sample fraction of agreeing pairs, sum_c C(count_c, 2) / C(m, 2): one number per
    # sample, which is what the bootstrap resamples.
    n_codes = int(codes.max()) + 1
    flat = (np.arange(n, dtype=np.int64) * n_codes + codes).ravel()
    counts = np.bincount(flat, minlength=n * n_codes).reshape(n, n_codes)
    per_sample = (counts * (counts - 1)).sum(axis=1) / (m * (m - 1))
    estimate = float(per_sample.mean())
    if not ci:
        return AgreementResult(estimate, matrix)
    interval = bootstrap_ci(
        _mean_last_axis, per_sample, n_resamples=n_resamples, confidence=confidence, random_state=random_state
    )
    return AgreementResult(estimate, matrix, interval.low, interval.high, confidence, n_resamples)
