"""Numba kernels behind ``crembo.backends.numba_backend`` (the wrappers there set threads).

Every loop is compiled lazily (one specialisation per input dtype / read-only flag actually
used), without fastmath: sums over classes run left to right in float64 exactly as in the
reference, and NaN/inf keep their IEEE meaning. ``error_model="numpy"`` makes x / 0 give inf/NaN
instead of raising. Parallel loops run over fixed-size blocks whose boundaries do not depend on
the thread count; per-block partial results are combined in block order by the caller.
"""

import numpy as np
from numba import njit, prange

from crembo.backends.reference import ROW_BAD_SUM, ROW_NEGATIVE, ROW_NONFINITE, ROW_OK

_PAR = dict(cache=True, nogil=True, parallel=True, error_model="numpy")
_SER = dict(cache=True, nogil=True, error_model="numpy")


# The unique-value hash tables mark empty slots with -1, a NaN bit pattern in both float32 and
# float64; a block holding that exact pattern is flagged and the caller uses np.unique.


# --------------------------------------------------------------------------------------------
# votes
# --------------------------------------------------------------------------------------------
@njit(**_SER)
def _count_block(votes, n_classes, i0, i1, local):
    """Count votes[:, i0:i1] into local[(i - i0) * k + c] (zeroed here); return #invalid."""
    local[:] = 0
    k = np.uint64(n_classes)
    bad = 0
    for t in range(votes.shape[0]):
        row = votes[t, i0:i1]  # contiguous
        base = np.uint64(0)
        for i in range(i1 - i0):
            # one unsigned compare rejects both v < 0 and v >= k; unsigned indices skip the
            # negative-index wraparound
            v = np.uint64(np.int64(row[i]))
            if v < k:
                local[base + v] += np.uint32(1)
            else:
                bad += 1
            base += k
    return bad


@njit(**_PAR)
def vote_lookup(votes, n_classes, block, table, out, bad):
    """out (n, k) OUT = table[count of votes for c at i]; bad (n_blocks,) int64 OUT: invalid votes
    per block. ``table`` maps every possible count 0..T: the identity for counts, c / T (divided
    once per count: the same IEEE quotient as the reference) for beliefs."""
    n = votes.shape[1]
    k = n_classes
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        local = np.empty((i1 - i0) * k, dtype=np.uint32)
        bad[b] = _count_block(votes, n_classes, i0, i1, local)
        for i in range(i0, i1):
            base = (i - i0) * k
            for c in range(k):
                out[i, c] = table[local[base + c]]


# --------------------------------------------------------------------------------------------
# probabilities and logits (row-wise, so trivially thread-count independent)
# --------------------------------------------------------------------------------------------
@njit(**_PAR)
def shift_by_row_max(logits, out):
    """out[i, c] = logits[i, c] - max_c logits[i, c], in float64 (softmax, step 1)."""
    n, k = logits.shape
    for i in prange(n):
        m = np.float64(logits[i, 0])
        for c in range(1, k):
            z = np.float64(logits[i, c])
            if z > m:
                m = z
        for c in range(k):
            out[i, c] = np.float64(logits[i, c]) - m


@njit(**_PAR)
def divide_by_row_sum(e):
    """e[i, c] /= sum_c e[i, c], the sum taken left to right (softmax, step 3, in place)."""
    n, k = e.shape
    for i in prange(n):
        total = 0.0
        for c in range(k):
            total += e[i, c]
        for c in range(k):
            e[i, c] = e[i, c] / total


@njit(**_SER)
def _row_status(proba, i, atol):
    """(status, left-to-right float64 sum) of row i."""
    k = proba.shape[1]
    total = 0.0
    nonfinite = False
    negative = False
    for c in range(k):
        p = np.float64(proba[i, c])
        total += p
        if not np.isfinite(p):
            nonfinite = True
        elif p < 0:
            negative = True
    if nonfinite:
        return ROW_NONFINITE, total
    if negative:
        return ROW_NEGATIVE, total
    if not (abs(total - 1.0) <= atol):  # NaN sums count as bad
        return ROW_BAD_SUM, total
    return ROW_OK, total


@njit(**_PAR)
def belief_status(proba, atol, status):
    for i in prange(proba.shape[0]):
        status[i] = _row_status(proba, i, atol)[0]


@njit(**_PAR)
def normalize_belief(proba, atol, belief, status):
    n, k = proba.shape
    for i in prange(n):
        s, total = _row_status(proba, i, atol)
        status[i] = s
        for c in range(k):
            belief[i, c] = np.float64(proba[i, c]) / total


@njit(**_PAR)
def allowed_labels(belief, threshold, out):
    n, k = belief.shape
    for i in prange(n):
        for c in range(k):
            out[i, c] = np.float64(belief[i, c]) >= threshold


# --------------------------------------------------------------------------------------------
# unique values: one open-addressing hash set of bit patterns per block of elements
# --------------------------------------------------------------------------------------------
@njit(**_SER)
def _slot(b, mask):
    # xor-fold: float bit patterns differ mostly in their high (exponent / leading mantissa) bits
    x = np.int64(b)  # int32 patterns too: shifts are taken in 64 bits
    return (x ^ (x >> 17) ^ (x >> 31) ^ (x >> 47)) & mask


@njit(**_SER)
def _insert(table, mask, b):
    """Insert b into the table; return 1 if it was new, else 0."""
    j = _slot(b, mask)
    while True:
        cur = table[j]
        if cur == b:
            return 0
        if cur == -1:
            table[j] = b
            return 1
        j = (j + 1) & mask


@njit(**_PAR)
def unique_blocks(bits, block, cap, limit, found, n_found, flags):
    """Distinct bit patterns of each block of ``bits`` (int32/int64 views of the belief).

    found (n_blocks, limit) OUT: the distinct patterns of block b in found[b, :n_found[b]].
    flags (n_blocks,) OUT: 1 if the block has more than ``limit`` distinct values, 2 if it holds
    the empty marker; the caller then falls back to np.unique.
    """
    n = bits.shape[0]
    n_blocks = (n + block - 1) // block
    mask = np.int64(cap - 1)
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        table = np.empty(cap, dtype=bits.dtype)
        table[:] = -1
        count = 0
        flag = 0
        for i in range(i0, i1):
            x = bits[i]
            if x == -1:
                flag = 2
                break
            if _insert(table, mask, x):
                if count == limit:
                    flag = 1
                    break
                found[b, count] = x
                count += 1
        n_found[b] = count
        flags[b] = flag


@njit(**_SER)
def merge_unique(found, n_found, cap):
    """The distinct patterns over all blocks (serial; at most n_blocks * limit inserts)."""
    table = np.empty(cap, dtype=found.dtype)
    table[:] = -1
    mask = np.int64(cap - 1)
    out = np.empty(cap // 2, dtype=found.dtype)
    m = 0
    for b in range(found.shape[0]):
        for j in range(n_found[b]):
            x = found[b, j]
            if _insert(table, mask, x):
                out[m] = x
                m += 1
    return out[:m]


# --------------------------------------------------------------------------------------------
# depths
# --------------------------------------------------------------------------------------------
@njit(**_PAR)
def pointwise_depth(belief, labels, block, depth, bad):
    n, k = belief.shape
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        nb = 0
        for i in range(i0, i1):
            lab = np.int64(labels[i])
            if lab >= 0 and lab < k:
                depth[i] = np.float64(belief[i, lab])
            else:
                depth[i] = np.nan
                nb += 1
        bad[b] = nb


@njit(**_PAR)
def count_consistent(belief, labels, threshold, block, good, bad):
    n, k = belief.shape
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        ng = 0
        nb = 0
        for i in range(i0, i1):
            lab = np.int64(labels[i])
            if lab >= 0 and lab < k:
                if np.float64(belief[i, lab]) >= threshold:
                    ng += 1
            else:
                nb += 1
        good[b] = ng
        bad[b] = nb


@njit(**_PAR)
def min_depth_blocks(belief, label_matrix, block, mins, stats):
    """Per (hypothesis j, block b): the min of valid belief[i, labels[j, i]] and its side facts.

    mins (m, n_blocks) OUT: +inf when the block has no valid label.
    stats (m, n_blocks, 4) int64 OUT: #invalid, any NaN, any +0.0, any -0.0 among valid values
    (the sign of a zero min is only defined by numpy's own reduction order when both occur).
    """
    n, k = belief.shape
    m = label_matrix.shape[0]
    n_blocks = (n + block - 1) // block
    for task in prange(m * n_blocks):
        # block-major: one thread walks all hypotheses over a block while it is in cache
        b = task // m
        j = task - b * m
        i0 = b * block
        i1 = min(i0 + block, n)
        lo = np.inf
        nb = 0
        has_nan = 0
        pos0 = 0
        neg0 = 0
        for i in range(i0, i1):
            lab = np.int64(label_matrix[j, i])
            if lab >= 0 and lab < k:
                x = np.float64(belief[i, lab])
                if x < lo:
                    lo = x
                elif x != x:
                    has_nan = 1
                if x == 0.0:
                    if np.signbit(x):
                        neg0 = 1
                    else:
                        pos0 = 1
            else:
                nb += 1
        mins[j, b] = lo
        stats[j, b, 0] = nb
        stats[j, b, 1] = has_nan
        stats[j, b, 2] = pos0
        stats[j, b, 3] = neg0
