"""The Numba backend: the kernels of ``crembo.backends.reference`` compiled with ``numba.njit``.

Results equal the reference bit for bit, ``softmax`` included (it borrows numpy's ``exp``).
Each kernel runs with ``n_threads`` Numba threads (clipped to ``numba.config.NUMBA_NUM_THREADS``)
and restores the previous count afterwards. Work is split into blocks whose size depends on the
data shape only, so results do not depend on the thread count. With ``NUMBA_DISABLE_JIT=1`` the
same code runs as plain Python (for coverage and debuggers).
"""

import contextlib

import numba
import numpy as np

from crembo.backends import _numba_kernels as _k
from crembo.backends import _thread_parts as _parts
from crembo.backends import reference as _ref

NAME = "numba"

_SAMPLE_BLOCK = 16384  # samples per parallel task in the depth kernels
_UNIQUE_BLOCK = 262144  # belief entries per hash set in unique_values
_UNIQUE_LIMIT = 4096  # distinct values per block before falling back to sorting


@contextlib.contextmanager
def _threads(n_threads):
    """Run the body with min(n_threads, NUMBA_NUM_THREADS) threads, then restore the old count.

    The count itself is decided once, by crembo._threads.resolve_n_threads (small inputs: 1).
    """
    n = max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS))
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _n_blocks(n, block):
    return (n + block - 1) // block


def _vote_block(n_classes):
    # The block's uint32 counts (block * k) stay within ~20 KiB, in L1, while the T member rows
    # stream through; >= 64 samples keep each row segment several cache lines long.
    return int(min(1024, max(64, 5120 // max(n_classes, 1))))


_BYTEWISE_MAX_CLASSES = 32  # byte counters: k compares per vote pay off while k is small


def _byte_classes(votes, n_classes):
    """0..k-1 in the votes' dtype when the votes are narrow (uint8, int16) and the classes few:
    the kernels then count with byte counters (see _numba_kernels._count_bytewise); else empty."""
    if votes.dtype.itemsize <= 2 and 0 < n_classes <= _BYTEWISE_MAX_CLASSES:
        return np.arange(n_classes, dtype=votes.dtype)
    return np.empty(0, dtype=votes.dtype)


def vote_counts(votes, n_classes, n_threads=1):
    """votes (T, n) ints -> (counts (n, k) uint32, n_invalid). counts[i, c] = #{t: votes[t, i] == c}."""
    votes = np.ascontiguousarray(votes)
    n = votes.shape[1]
    block = _vote_block(n_classes)
    out = np.empty((n, n_classes), dtype=np.uint32)
    bad = np.empty(_n_blocks(n, block), dtype=np.int64)
    with _threads(n_threads):
        _k.vote_counts(votes, n_classes, block, _byte_classes(votes, n_classes), out, bad)
    return out, int(bad.sum())


def vote_belief(votes, n_classes, n_threads=1):
    """votes (T, n) -> (belief (n, k) float64 = counts / T, n_invalid). Division, not a product."""
    votes = np.ascontiguousarray(votes)
    n_members, n = votes.shape
    table = np.arange(n_members + 1, dtype=np.float64) / np.float64(n_members)
    block = _vote_block(n_classes)
    out = np.empty((n, n_classes), dtype=np.float64)
    bad = np.empty(_n_blocks(n, block), dtype=np.int64)
    with _threads(n_threads):
        _k.vote_belief(votes, n_classes, block, _byte_classes(votes, n_classes), table, out, bad)
    return out, int(bad.sum())


def softmax(logits, n_threads=1):
    """Row-wise softmax in float64: exp(z - max(z)) / sum, summed left to right.

    ``exp`` is numpy's (SIMD, several times faster than a scalar libm call per entry), so the
    result equals the reference exactly. Rows are processed in chunks that stay in L2 (shift in
    Numba, ``np.exp`` in place, divide in Numba), one contiguous part of the rows per thread.
    """
    n_threads = min(int(n_threads), numba.config.NUMBA_NUM_THREADS)
    return _parts.chunked_softmax(logits, _k.shift_by_row_max, _k.divide_by_row_sum, n_threads)


def belief_status(proba, atol, n_threads=1):
    """Row status int8 (n,): ROW_NONFINITE, else ROW_NEGATIVE, else ROW_BAD_SUM, else ROW_OK."""
    status = np.empty(proba.shape[0], dtype=np.int8)
    with _threads(n_threads):
        _k.belief_status(np.ascontiguousarray(proba), float(atol), status)
    return status


def normalize_belief(proba, atol, n_threads=1):
    """(belief float64 (n, k) = each row divided by its sum, status as in ``belief_status``)."""
    belief = np.empty(proba.shape, dtype=np.float64)
    status = np.empty(proba.shape[0], dtype=np.int8)
    with _threads(n_threads):
        _k.normalize_belief(np.ascontiguousarray(proba), float(atol), belief, status)
    return belief, status


def unique_values(belief, n_threads=1):
    """Sorted unique values of the belief, as float64 (the candidate thresholds).

    Few distinct values (vote beliefs: at most T + 1): hash sets of bit patterns per block,
    merged. Many (softmax beliefs), or NaN: ``_thread_parts.sorted_unique``.
    """
    flat = np.ascontiguousarray(belief).reshape(-1)
    flat = flat.astype(np.float64, copy=False)  # float32 too: np.unique sees float64 values
    bits = flat.view(np.uint64)
    n_blocks = _n_blocks(bits.shape[0], _UNIQUE_BLOCK)
    found = np.empty((n_blocks, _UNIQUE_LIMIT), dtype=np.uint64)
    n_found = np.empty(n_blocks, dtype=np.int64)
    flags = np.empty(n_blocks, dtype=np.int64)
    with _threads(n_threads):
        _k.unique_blocks(bits, _UNIQUE_BLOCK, _UNIQUE_LIMIT, found, n_found, flags)
    if flags.any():
        return _parts.sorted_unique(
            flat, min(int(n_threads), numba.config.NUMBA_NUM_THREADS), _k.merge_sorted_unique, belief
        )
    cap_log2 = 4
    while (1 << cap_log2) < 2 * int(n_found.sum()):
        cap_log2 += 1
    values = _k.merge_unique(found, n_found, cap_log2).view(np.float64)
    if np.isnan(values).any():
        return _ref.unique_values(belief)
    return _parts.positive_zero(np.unique(values))


def allowed_labels(belief, threshold, n_threads=1):
    """(n, k) bool: belief >= threshold (compared in float64)."""
    out = np.empty(belief.shape, dtype=np.bool_)
    with _threads(n_threads):
        _k.allowed_labels(np.ascontiguousarray(belief), np.float64(threshold), out)
    return out


def pointwise_depth(belief, labels, n_threads=1):
    """(depth (n,) float64, n_invalid): depth[i] = belief[i, labels[i]]; NaN where invalid."""
    n = belief.shape[0]
    depth = np.empty(n, dtype=np.float64)
    bad = np.empty(_n_blocks(n, _SAMPLE_BLOCK), dtype=np.int64)
    with _threads(n_threads):
        _k.pointwise_depth(np.ascontiguousarray(belief), labels, _SAMPLE_BLOCK, depth, bad)
    return depth, int(bad.sum())


def _min_depths(belief, label_matrix, n_threads):
    """(depths (m,), n_invalid) from per-block minima combined in block order."""
    m, n = label_matrix.shape
    block = _SAMPLE_BLOCK
    # rows whose belief (~12 KiB) stays in L1 while all m hypotheses gather from it
    sub = max(64, min(block, 12288 // (belief.shape[1] * belief.itemsize) // 16 * 16)) if m > 1 else block
    nb = _n_blocks(n, block)
    mins = np.empty((m, nb), dtype=np.float64)
    nans = np.empty((m, nb), dtype=np.bool_)
    bad = np.empty(nb, dtype=np.int64)
    with _threads(n_threads):
        _k.min_depth_blocks(np.ascontiguousarray(belief), label_matrix, block, sub, mins, nans, bad)
    depths = mins.min(axis=1) + 0.0  # + 0.0: a zero of either sign becomes +0.0
    depths[nans.any(axis=1)] = np.nan
    return depths, int(bad.sum())


def hypothesis_depth(belief, labels, n_threads=1):
    """(min_i belief[i, labels[i]] over valid i, n_invalid); +inf if no label is valid."""
    depths, n_invalid = _min_depths(belief, labels.reshape(1, -1), n_threads)
    return float(depths[0]), n_invalid


def hypothesis_depths(belief, label_matrix, n_threads=1):
    """label_matrix (m, n) -> (depths (m,) float64, n_invalid): the depth of each hypothesis."""
    return _min_depths(belief, label_matrix, n_threads)


def count_consistent(belief, labels, threshold, n_threads=1):
    """(#{i : labels[i] valid and belief[i, labels[i]] >= threshold}, n_invalid)."""
    n = belief.shape[0]
    nb = _n_blocks(n, _SAMPLE_BLOCK)
    good = np.empty(nb, dtype=np.int64)
    bad = np.empty(nb, dtype=np.int64)
    with _threads(n_threads):
        _k.count_consistent(np.ascontiguousarray(belief), labels, np.float64(threshold), _SAMPLE_BLOCK, good, bad)
    return int(good.sum()), int(bad.sum())


def quantile_depth(belief, labels, rank, n_threads=1):
    """(the (rank+1)-th smallest pointwise depth over valid samples, n_invalid).

    ``rank`` >= 0 is clipped to n_valid - 1; +inf if nothing is valid. The selection is the
    reference's (NumPy's introselect) on the same array the reference builds.
    """
    values, n_invalid = pointwise_depth(belief, labels, n_threads)
    if n_invalid:  # NaN may also be a value (unvalidated belief), so select by label range
        values = values[(labels >= 0) & (labels < belief.shape[1])]
    return _ref.select_rank(values, rank), n_invalid
