"""What runs on the workers, next to each partition: pure functions of a partition and small
arguments, so Dask can recompute any of them after losing a worker and get the same result."""

import numpy as np

from crembo.distributed._split import unpack_mask
from crembo.teachers import compute_belief
from crembo.tree.level_grower import (
    ShardData,
    add_results,
    combine_evals,
    shard_eval,
    shard_positives,
    shard_round,
)
from crembo.tree.sketch import QuantileSummary

# Rows per teacher/binning call: bounds the float64 temporaries of a partition to ~40 MB.
BLOCK_ROWS = 1 << 18


def label_counts(y):
    """Distinct labels of a partition and how many rows have each."""
    u, c = np.unique(np.asarray(y), return_counts=True)
    return u, c


def _check_finite(X, allow_nan):
    if X.dtype.kind != "f":
        return
    if np.isinf(X).any():
        raise ValueError("Input X contains infinity or a value too large for dtype('float64').")
    if not allow_nan and np.isnan(X).any():
        raise ValueError("Input X contains NaN; the student or the teacher does not accept missing values.")


def prepare(X, y, classes, val_bits, teacher, belief_dtype, allow_nan, feature_names):
    """Split a partition into its training and validation rows (``val_bits``: per class, the
    packed mask over the partition's rows of that class of those held out), and compute the teacher's
    belief on the training rows and its labels on the validation rows, block by block."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must be numeric, got dtype {X.dtype}")
    _check_finite(X, allow_nan)
    y_enc = np.searchsorted(classes, np.asarray(y))
    val = np.zeros(X.shape[0], dtype=bool)
    for c, bits in enumerate(val_bits):
        rows = np.flatnonzero(y_enc == c)
        val[rows[unpack_mask(bits, rows.size)]] = True
    X_tr, X_va = X[~val], X[val]
    return {
        "X_tr": X_tr,
        "X_va": X_va,
        "y_va": y_enc[val].astype(np.intp),
        "belief": _blocks(
            lambda b: compute_belief(teacher, b, classes, belief_dtype), X_tr, feature_names, len(classes), belief_dtype
        ),
        "teacher_va": _blocks(lambda b: teacher.predict(b, classes), X_va, feature_names, None, np.intp),
    }


def _blocks(fn, X, feature_names, width, dtype):
    shape = (X.shape[0],) if width is None else (X.shape[0], width)
    out = np.empty(shape, dtype=dtype)
    for start in range(0, X.shape[0], BLOCK_ROWS):
        block = X[start : start + BLOCK_ROWS]
        if feature_names is not None:  # a teacher fitted on a DataFrame selects columns by name
            import pandas as pd

            block = pd.DataFrame(block, columns=feature_names)
        out[start : start + BLOCK_ROWS] = fn(block)
    return out


def summarise(prep, size):
    return QuantileSummary.from_rows(prep["X_tr"], size)


def merge_summaries(a, b):
    return a.merge(b)


def make_shard(prep, layout):
    """The partition as the tree needs it: binned codes (1 byte per value) and the belief."""
    return ShardData(
        layout.bin(prep["X_tr"]),
        prep["belief"],
        layout.missing_bin,
        layout.bin(prep["X_va"]),
        prep["y_va"],
        prep["teacher_va"],
    )


def shard_summary(shard, cap):
    """(sorted distinct belief values, exact?, training rows, teacher's validation hits, validation
    rows); past ``cap`` distinct values, ``cap`` of them at evenly spaced ranks."""
    u = np.unique(np.asarray(shard.belief, dtype=np.float64))
    exact = u.size <= cap
    if not exact:
        u = u[np.unique(np.round(np.linspace(0, u.size - 1, cap)).astype(np.intp))]
    hits = int(np.count_nonzero(shard.teacher_val == shard.y_val))
    return u, exact, shard.n_samples, hits, shard.y_val.size


def merge_shard_summaries(a, b, cap):
    u = np.union1d(a[0], b[0])
    exact = a[1] and b[1] and u.size <= cap
    if u.size > cap:
        u = u[np.unique(np.round(np.linspace(0, u.size - 1, cap)).astype(np.intp))]
    return u, exact, a[2] + b[2], a[3] + b[3], a[4] + b[4]


def positives(shard, thresholds):
    return shard_positives(shard.belief, thresholds)


def add(a, b):
    return a + b


def round_(shard, layout, jobs):
    return shard_round(shard, layout, jobs, n_threads=1)


def evaluate(shard, trees):
    return shard_eval(shard, trees)


def predict_block(block, estimator):
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        import pandas as pd

        block = pd.DataFrame(block, columns=names)
    return estimator.predict(block)


__all__ = ["add_results", "combine_evals"]  # re-exported: the reductions run on the workers too
