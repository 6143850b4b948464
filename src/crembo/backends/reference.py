"""The reference backend: every kernel in plain NumPy/Python. It is the executable spec.

Kernels receive inputs already validated by ``crembo._validation`` (C-contiguous, supported
dtypes, finite, labels as integer arrays) and never raise on bad *values*: out-of-range labels
are counted and reported back so the caller can raise one clear error. Every native backend
must return exactly what these functions return (``softmax`` within a few ulps, because ``exp``
differs between libms).

Conventions shared by all backends
- ``belief``: (n, k) float32 or float64; comparisons and outputs are done in float64.
- labels / votes: integer arrays; a value outside [0, k) is "invalid". Invalid votes are skipped
  (not counted); an invalid label contributes nothing to a depth. Each kernel returns the number
  of invalid entries next to its result.
- ``n_threads`` is accepted by every kernel and ignored here.
- A depth or threshold that is zero is +0.0 (``x + 0.0`` turns -0.0 into +0.0 and changes no
  other value): -0.0 == +0.0, and which of the two np.min or np.unique keeps depends on their
  reduction order, which no native loop should have to reproduce.
"""

import numpy as np

NAME = "reference"

# Row status codes written by normalize_belief (0 = fine).
ROW_OK, ROW_NONFINITE, ROW_NEGATIVE, ROW_BAD_SUM = 0, 1, 2, 3


def _n_invalid(labels, n_classes):
    return int(np.count_nonzero((labels < 0) | (labels >= n_classes)))


def vote_counts(votes, n_classes, n_threads=1):
    """votes (T, n) ints -> (counts (n, k) uint32, n_invalid). counts[i, c] = #{t: votes[t, i] == c}."""
    n_members, n = votes.shape
    counts = np.zeros(n * n_classes, dtype=np.uint32)
    rows = np.arange(n, dtype=np.int64) * n_classes
    for t in range(n_members):
        v = votes[t].astype(np.int64)
        ok = (v >= 0) & (v < n_classes)
        counts += np.bincount((rows + v)[ok], minlength=n * n_classes).astype(np.uint32)
    return counts.reshape(n, n_classes), _n_invalid(votes, n_classes)


def vote_belief(votes, n_classes, n_threads=1):
    """votes (T, n) -> (belief (n, k) float64 = counts / T, n_invalid). Division, not a product."""
    counts, n_invalid = vote_counts(votes, n_classes, n_threads)
    return counts.astype(np.float64) / np.float64(votes.shape[0]), n_invalid


def softmax(logits, n_threads=1):
    """Row-wise softmax in float64: exp(z - max(z)) / sum, summed left to right."""
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    total = np.zeros(z.shape[0])
    for c in range(z.shape[1]):  # fixed left-to-right order, as in the native loops
        total += e[:, c]
    return e / total[:, None]


def _row_sums_and_status(proba, atol):
    p = proba.astype(np.float64)
    total = np.zeros(p.shape[0])
    for c in range(p.shape[1]):  # left to right, as in the native loops
        total += p[:, c]
    status = np.zeros(p.shape[0], dtype=np.int8)
    with np.errstate(invalid="ignore"):
        status[~(np.abs(total - 1.0) <= atol)] = ROW_BAD_SUM
    status[(p < 0).any(axis=1)] = ROW_NEGATIVE
    status[~np.isfinite(p).all(axis=1)] = ROW_NONFINITE
    return p, total, status


def belief_status(proba, atol, n_threads=1):
    """Check each row of a probability matrix: status int8 (n,).

    status[i] is ROW_NONFINITE if row i has NaN/inf, else ROW_NEGATIVE if it has a value < 0,
    else ROW_BAD_SUM if |sum - 1| > atol (sum accumulated left to right in float64), else ROW_OK.
    """
    return _row_sums_and_status(proba, atol)[2]


def normalize_belief(proba, atol, n_threads=1):
    """(belief float64 (n, k) = each row divided by its sum, status as in ``belief_status``).

    Rows with a non-zero status hold unspecified values; the caller raises on them.
    """
    p, total, status = _row_sums_and_status(proba, atol)
    with np.errstate(invalid="ignore", divide="ignore"):
        belief = p / total[:, None]
    return belief, status


def unique_values(belief, n_threads=1):
    """Sorted unique values of the belief, as float64 (the candidate thresholds)."""
    return np.unique(belief.astype(np.float64) + 0.0)


def allowed_labels(belief, threshold, n_threads=1):
    """(n, k) bool: belief >= threshold (compared in float64)."""
    return belief.astype(np.float64) >= np.float64(threshold)


def _gather(belief, labels):
    n, k = belief.shape
    valid = (labels >= 0) & (labels < k)
    idx = np.where(valid, labels, 0).astype(np.int64)
    return belief[np.arange(n), idx].astype(np.float64), valid


def pointwise_depth(belief, labels, n_threads=1):
    """(depth (n,) float64, n_invalid): depth[i] = belief[i, labels[i]]; NaN where invalid."""
    values, valid = _gather(belief, labels)
    values[~valid] = np.nan
    return values, int(np.count_nonzero(~valid))


def hypothesis_depth(belief, labels, n_threads=1):
    """(min_i belief[i, labels[i]] over valid i, n_invalid); +inf if no label is valid."""
    values, valid = _gather(belief, labels)
    depth = float(values[valid].min()) + 0.0 if valid.any() else np.inf
    return depth, int(np.count_nonzero(~valid))


def hypothesis_depths(belief, label_matrix, n_threads=1):
    """label_matrix (m, n) -> (depths (m,) float64, n_invalid): the depth of each hypothesis."""
    depths = np.empty(label_matrix.shape[0])
    n_invalid = 0
    for j in range(label_matrix.shape[0]):
        depths[j], bad = hypothesis_depth(belief, label_matrix[j])
        n_invalid += bad
    return depths, n_invalid


def count_consistent(belief, labels, threshold, n_threads=1):
    """(#{i : labels[i] valid and belief[i, labels[i]] >= threshold}, n_invalid)."""
    values, valid = _gather(belief, labels)
    return int(np.count_nonzero(valid & (values >= np.float64(threshold)))), int(np.count_nonzero(~valid))


def quantile_depth(belief, labels, rank, n_threads=1):
    """(the (rank+1)-th smallest pointwise depth over valid samples, n_invalid).

    ``rank`` >= 0 is clipped to n_valid - 1; rank 0 is the hypothesis depth (the min). The
    caller maps eps to rank = floor(eps * n). +inf if nothing is valid.
    """
    values, valid = _gather(belief, labels)
    return select_rank(values[valid], rank), int(np.count_nonzero(~valid))


def select_rank(values, rank):
    """The (rank+1)-th smallest of ``values`` (rank clipped to size - 1; +inf if empty), by
    NumPy's introselect, partitioning ``values`` in place (the native backends share it)."""
    if values.size == 0:
        return np.inf
    rank = min(rank, values.size - 1)
    values.partition(rank)
    return float(values[rank]) + 0.0
