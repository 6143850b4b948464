"""The Cython backend: thin wrappers that allocate outputs and call the kernel modules
``crembo._ext._votes``, ``_rows``, ``_unique`` and ``_depths``.

Same signatures and return values as ``crembo.backends.reference``, bit for bit (``softmax``
included: its ``exp`` is NumPy's). Inputs that are not
C-contiguous or not of a compiled dtype are converted here, so the kernels can also be called
directly on what the public API hands them.
"""

import numpy as np

from crembo._ext import _depths, _rows, _unique, _votes
from crembo._validation import FLOAT_DTYPES as _FLOAT_DTYPES
from crembo._validation import LABEL_DTYPES as _LABEL_DTYPES
from crembo._validation import VOTE_DTYPES as _VOTE_DTYPES
from crembo.backends import _thread_parts as _parts
from crembo.backends import reference as _ref

NAME = "cython"

# Whether the AVX-512 paths may run where the CPU has them (``set_simd``).
_simd = {"enabled": True}


def simd_available():
    """Whether this CPU (and build) has the AVX-512 kernel paths."""
    return _depths.simd_available()


def set_simd(enabled):
    """Use the AVX-512 paths where available (default) or the portable loops, so tests can check
    both on one machine; returns the previous setting."""
    old = _simd["enabled"]
    _simd["enabled"] = bool(enabled)
    return old


def _as(arr, dtypes, fallback):
    arr = np.asarray(arr)
    if arr.dtype not in dtypes:
        arr = arr.astype(fallback)
    return np.ascontiguousarray(arr)


def _threads(n_threads):
    return max(1, int(n_threads))


def vote_counts(votes, n_classes, n_threads=1):
    """votes (T, n) ints -> (counts (n, k) uint32, n_invalid)."""
    votes = _as(votes, _VOTE_DTYPES, np.int64)
    counts = np.empty((votes.shape[1], int(n_classes)), dtype=np.uint32)
    n_invalid = _votes.vote_counts_into(votes, counts, _threads(n_threads))
    return counts, int(n_invalid)


def vote_belief(votes, n_classes, n_threads=1):
    """votes (T, n) -> (belief (n, k) float64 = counts / T, n_invalid)."""
    votes = _as(votes, _VOTE_DTYPES, np.int64)
    n_classes = int(n_classes)
    n = votes.shape[1]
    belief = np.empty((n, n_classes), dtype=np.float64)
    block = _votes.vote_block_size(max(n_classes, 1))
    # At most one scratch block per thread that can actually get a block of samples.
    threads = max(1, min(_threads(n_threads), -(-n // block)))
    scratch = np.empty((threads, block * n_classes), dtype=np.uint32)
    n_invalid = _votes.vote_belief_into(votes, belief, scratch, threads)
    return belief, int(n_invalid)


def softmax(logits, n_threads=1):
    """Row-wise softmax in float64 (max-subtracted, summed left to right).

    ``exp`` is NumPy's (SIMD, several times faster than the C library's scalar ``exp``), so the
    result equals the reference exactly. Rows go in chunks that stay in L2 (shift in Cython,
    ``np.exp`` in place, divide in Cython, all without the GIL), one contiguous part per thread.
    """
    logits = _as(logits, _FLOAT_DTYPES, np.float64)
    return _parts.chunked_softmax(logits, _rows.softmax_shift_into, _rows.softmax_divide, _threads(n_threads))


def belief_status(proba, atol, n_threads=1):
    """Row status codes int8 (n,), as ``reference.belief_status``."""
    proba = _as(proba, _FLOAT_DTYPES, np.float64)
    status = np.empty(proba.shape[0], dtype=np.int8)
    _rows.row_status_into(proba, status, float(atol), _threads(n_threads))
    return status


def normalize_belief(proba, atol, n_threads=1):
    """(belief float64 = rows divided by their sums, status int8), as ``reference.normalize_belief``."""
    proba = _as(proba, _FLOAT_DTYPES, np.float64)
    belief = np.empty(proba.shape, dtype=np.float64)
    status = np.empty(proba.shape[0], dtype=np.int8)
    _rows.row_status_into(proba, status, float(atol), _threads(n_threads), belief)
    return belief, status


def unique_values(belief, n_threads=1):
    """Sorted unique values of the belief as float64 (exactly ``np.unique(belief.astype(float64))``).

    Few distinct values (vote beliefs: at most T + 1): per-thread hash sets, then np.unique of
    what they found. Many (softmax beliefs): parallel sort and merge, see ``_thread_parts.sorted_unique``.
    """
    belief = _as(belief, _FLOAT_DTYPES, np.float64)
    distinct = _unique.unique_values_hashed(belief, _threads(n_threads), _simd["enabled"])
    if distinct is None:  # many distinct values, or NaN
        return _parts.sorted_unique(belief.reshape(-1), _threads(n_threads), _unique.merge_unique_into, belief)
    return _parts.positive_zero(np.unique(distinct))


def allowed_labels(belief, threshold, n_threads=1):
    """(n, k) bool: belief >= threshold, compared in float64."""
    belief = _as(belief, _FLOAT_DTYPES, np.float64)
    out = np.empty(belief.shape, dtype=np.bool_)
    _rows.allowed_labels_into(belief, out.view(np.uint8), float(threshold), _threads(n_threads))
    return out


def _belief_labels(belief, labels):
    return _as(belief, _FLOAT_DTYPES, np.float64), _as(labels, _LABEL_DTYPES, np.int64)


def pointwise_depth(belief, labels, n_threads=1):
    """(depth (n,) float64 = belief[i, labels[i]], NaN where invalid; n_invalid)."""
    belief, labels = _belief_labels(belief, labels)
    depth = np.empty(belief.shape[0], dtype=np.float64)
    n_invalid = _depths.pointwise_depth_into(belief, labels, depth, _threads(n_threads))
    return depth, int(n_invalid)


def hypothesis_depths(belief, label_matrix, n_threads=1):
    """label_matrix (m, n) -> (depths (m,) float64, n_invalid)."""
    belief, label_matrix = _belief_labels(belief, label_matrix)
    depths = np.empty(label_matrix.shape[0], dtype=np.float64)
    n_invalid = _depths.hypothesis_depths_into(belief, label_matrix, depths, _threads(n_threads), _simd["enabled"])
    return depths, int(n_invalid)


def hypothesis_depth(belief, labels, n_threads=1):
    """(min over valid i of belief[i, labels[i]], +inf if none; n_invalid)."""
    belief, labels = _belief_labels(belief, labels)
    depths, n_invalid = hypothesis_depths(belief, labels.reshape(1, -1), n_threads)
    return float(depths[0]), n_invalid


def count_consistent(belief, labels, threshold, n_threads=1):
    """(#{i : labels[i] valid and belief[i, labels[i]] >= threshold}, n_invalid)."""
    belief, labels = _belief_labels(belief, labels)
    count, n_invalid = _depths.count_consistent_into(belief, labels, float(threshold), _threads(n_threads))
    return int(count), int(n_invalid)


def quantile_depth(belief, labels, rank, n_threads=1):
    """(the (rank+1)-th smallest valid pointwise depth, clipped rank; +inf if none; n_invalid).

    The parallel gather of ``pointwise_depth``, then NumPy's introselect on the same array the
    reference builds (faster than a serial two-pass gather + std::nth_element).
    """
    belief, labels = _belief_labels(belief, labels)
    rank = int(rank)
    if rank < 0:
        raise ValueError(f"rank must be >= 0, got {rank}")
    values, n_invalid = pointwise_depth(belief, labels, n_threads)
    if n_invalid:  # NaN may also be a value (unvalidated belief), so select by label range
        values = values[(labels >= 0) & (labels < belief.shape[1])]
    return _ref.select_rank(values, rank), n_invalid
