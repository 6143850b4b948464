"""Numba kernels behind ``crembo.backends.numba_backend`` (the wrappers there allocate the
outputs and set the thread count).

Plain ``njit``/``prange`` loops that follow the reference backend (the spec):

- Parallel loops run over fixed-size blocks whose boundaries depend on the data shape only;
  each block writes its own partial results, which the caller combines in block order, so
  results do not depend on the thread count.
- No ``fastmath``: every float result must equal the reference's bit for bit, and the flags
  that could speed these loops up change results (``reassoc`` reorders the left-to-right sums,
  ``arcp`` turns divisions into products, ``nnan``/``ninf`` drop the NaN handling).
- ``error_model="numpy"``: x / 0 gives inf/NaN instead of raising.
- A label or vote is valid when ``0 <= v < k``; an invalid one is counted, never used as an
  index. Some hot loops index with unsigned integers: numba adds a negative-index wrap to a
  signed index it cannot prove non-negative, and an unsigned one has none.
"""

import numpy as np
from numba import njit, prange

from crembo.backends.reference import ROW_BAD_SUM, ROW_NEGATIVE, ROW_NONFINITE, ROW_OK

_PAR = dict(cache=True, nogil=True, parallel=True, error_model="numpy")
_SER = dict(cache=True, nogil=True, error_model="numpy")


# --------------------------------------------------------------------------------------------
# votes: samples in blocks, so a block's counts stay in L1/L2 while the T member rows stream
# through (each read of votes[t, i0:i1] is contiguous)
# --------------------------------------------------------------------------------------------
@njit(**_SER)
def _count_scattered(flat, T, n, k, i0, i1, counts, off):
    """Add the votes of samples i0:i1 into counts[off + (i - i0) * k + c] (zeroed by the caller);
    return the number of invalid votes. ``flat`` is the (T, n) votes raveled. Four members per
    pass over the block's counts: four load streams, a quarter of the passes."""
    ku = np.uint64(k)
    w = np.uint64(i1 - i0)
    bad = 0
    quads = T - T % 4
    for t in range(0, quads, 4):
        r0 = flat[t * n + i0 : t * n + i1]
        r1 = flat[(t + 1) * n + i0 : (t + 1) * n + i1]
        r2 = flat[(t + 2) * n + i0 : (t + 2) * n + i1]
        r3 = flat[(t + 3) * n + i0 : (t + 3) * n + i1]
        base = np.uint64(off)
        for j in range(w):
            for v in (r0[j], r1[j], r2[j], r3[j]):
                u = np.uint64(np.int64(v))  # one unsigned compare rejects v < 0 and v >= k
                if u < ku:
                    counts[base + u] += np.uint32(1)
                else:
                    bad += 1
            base += ku
    for t in range(quads, T):  # the last members one at a time
        base = np.uint64(off)
        for v in flat[t * n + i0 : t * n + i1]:
            u = np.uint64(np.int64(v))
            if u < ku:
                counts[base + u] += np.uint32(1)
            else:
                bad += 1
            base += ku
    return bad


@njit(**_SER)
def _count_bytewise(flat, T, n, i0, i1, classes, acc, counts, off):
    """Overwrite counts[off + (i - i0) * k + c] with the votes of samples i0:i1 for the k classes
    ``classes`` (0..k-1 in the votes' dtype); return the number of invalid votes.

    One uint8 counter per (class, sample), acc[c * w + j] (k * w bytes of scratch, in L1), and
    for each class a compare over the contiguous votes of eight members at once, which LLVM
    vectorizes: k compares per vote instead of a dependent load-increment-store, cheaper while
    k is small and the votes are narrow. A byte counts at most 255 votes: members go in groups.
    """
    k = classes.shape[0]
    w = i1 - i0
    total = 0
    for g0 in range(0, T, 255):
        g1 = min(g0 + 255, T)
        acc[: k * w] = 0
        t = g0
        while t < g1:
            r0 = flat[t * n + i0 : t * n + i1]
            if t + 8 <= g1:
                r1 = flat[(t + 1) * n + i0 : (t + 1) * n + i1]
                r2 = flat[(t + 2) * n + i0 : (t + 2) * n + i1]
                r3 = flat[(t + 3) * n + i0 : (t + 3) * n + i1]
                r4 = flat[(t + 4) * n + i0 : (t + 4) * n + i1]
                r5 = flat[(t + 5) * n + i0 : (t + 5) * n + i1]
                r6 = flat[(t + 6) * n + i0 : (t + 6) * n + i1]
                r7 = flat[(t + 7) * n + i0 : (t + 7) * n + i1]
                for c in range(k):
                    cc = classes[c]  # in the votes' dtype: compares without widening
                    row = acc[c * w : (c + 1) * w]
                    for j in range(w):
                        row[j] += (
                            np.uint8(r0[j] == cc)
                            + np.uint8(r1[j] == cc)
                            + np.uint8(r2[j] == cc)
                            + np.uint8(r3[j] == cc)
                            + np.uint8(r4[j] == cc)
                            + np.uint8(r5[j] == cc)
                            + np.uint8(r6[j] == cc)
                            + np.uint8(r7[j] == cc)
                        )
                t += 8
            else:
                for c in range(k):
                    cc = classes[c]
                    row = acc[c * w : (c + 1) * w]
                    for j in range(w):
                        row[j] += np.uint8(r0[j] == cc)
                t += 1
        for j in range(w):  # to the (samples, classes) layout of the output
            base = off + j * k
            for c in range(k):
                x = np.uint32(acc[c * w + j])
                total += x
                if g0 == 0:
                    counts[base + c] = x
                else:
                    counts[base + c] += x
    return T * w - total


@njit(**_SER)
def _count_block(votes, k, i0, i1, classes, counts, off):
    """The votes of samples i0:i1 into counts[off:off + (i1 - i0) * k] (overwritten); return the
    number of invalid votes. Byte counters when ``classes`` is not empty (see _count_bytewise)."""
    T, n = votes.shape
    flat = votes.reshape(-1)
    if classes.shape[0]:
        acc = np.empty((i1 - i0) * k, dtype=np.uint8)
        return _count_bytewise(flat, T, n, i0, i1, classes, acc, counts, off)
    counts[off : off + (i1 - i0) * k] = 0
    return _count_scattered(flat, T, n, k, i0, i1, counts, off)


@njit(**_PAR)
def vote_counts(votes, n_classes, block, classes, out, bad):
    """out (n, k) uint32 OUT: counts[i, c] = #{t : votes[t, i] == c}, written block by block;
    bad (n_blocks,) int64 OUT: the invalid votes of each block. ``classes``: 0..k-1 in the votes'
    dtype to count with byte counters, or empty."""
    n = votes.shape[1]
    o = out.reshape(-1)
    for b in prange((n + block - 1) // block):
        i0, i1 = b * block, min((b + 1) * block, n)
        bad[b] = _count_block(votes, n_classes, i0, i1, classes, o, i0 * n_classes)


@njit(**_PAR)
def vote_belief(votes, n_classes, block, classes, table, out, bad):
    """out (n, k) float64 OUT: table[count of votes for c at i], with table[c] = c / T (divided
    once per count: the reference's quotient); bad and classes as in vote_counts."""
    n = votes.shape[1]
    o = out.reshape(-1)
    for b in prange((n + block - 1) // block):
        i0, i1 = b * block, min((b + 1) * block, n)
        counts = np.empty((i1 - i0) * n_classes, dtype=np.uint32)
        bad[b] = _count_block(votes, n_classes, i0, i1, classes, counts, 0)
        fractions = o[i0 * n_classes : i1 * n_classes]
        for j, c in enumerate(counts):
            fractions[j] = table[c]


# --------------------------------------------------------------------------------------------
# probabilities and logits: one row inside one thread, sums left to right as in the reference
# --------------------------------------------------------------------------------------------
@njit(**_SER)
def shift_by_row_max(logits, out):
    """out[i, c] = logits[i, c] - max_c logits[i, c], in float64 (softmax, step 1; serial: the
    caller runs it on row chunks small enough to stay in L2 through all three steps)."""
    n, k = logits.shape
    for i in range(n):
        m = np.float64(logits[i, 0])
        for c in range(1, k):
            z = np.float64(logits[i, c])
            if z > m:
                m = z
        for c in range(k):
            out[i, c] = np.float64(logits[i, c]) - m


@njit(**_SER)
def divide_by_row_sum(e):
    """e[i, c] /= sum_c e[i, c], the sum taken left to right (softmax, step 3, in place)."""
    n, k = e.shape
    for i in range(n):
        total = 0.0
        for c in range(k):
            total += e[i, c]
        for c in range(k):
            e[i, c] = e[i, c] / total


_FMAX = np.finfo(np.float64).max
_ROW_BLOCK = 1024  # rows per parallel task of the row-status kernels


@njit(**_SER)
def _sum_status(total, atol):
    return ROW_OK if abs(total - 1.0) <= atol else ROW_BAD_SUM  # a NaN sum is bad


@njit(**_SER)
def _one_row(row, atol):
    """(status, left-to-right float64 sum) of one row."""
    total = 0.0
    nonfinite = negative = False
    for x in row:
        x = np.float64(x)
        total += x
        nonfinite |= not np.isfinite(x)
        negative |= x < 0.0
    if nonfinite:
        return ROW_NONFINITE, total
    if negative:
        return ROW_NEGATIVE, total
    return _sum_status(total, atol), total


@njit(**_SER)
def _status_rows(proba, atol, i0, i1, status, totals):
    """status[i] for rows i0:i1, and totals[i - i0] = their left-to-right float64 sums.

    Four rows at a time: each row's sum is a chain of dependent adds, and four independent
    chains keep the adder busy. A group is clean when its sums are finite (a NaN or +-inf value
    makes its row's sum NaN or inf) and its minimum is >= 0; only a group that is not is redone
    row by row to tell the cases apart (an overflowing sum lands there too, correctly).
    """
    k = proba.shape[1]
    i = i0
    while i + 4 <= i1:
        r0, r1, r2, r3 = proba[i], proba[i + 1], proba[i + 2], proba[i + 3]
        t0 = t1 = t2 = t3 = 0.0
        m0 = m1 = m2 = m3 = np.inf
        for c in range(k):
            x0, x1, x2, x3 = np.float64(r0[c]), np.float64(r1[c]), np.float64(r2[c]), np.float64(r3[c])
            t0 += x0
            t1 += x1
            t2 += x2
            t3 += x3
            m0, m1, m2, m3 = min(m0, x0), min(m1, x1), min(m2, x2), min(m3, x3)
        if min(min(m0, m1), min(m2, m3)) >= 0.0 and abs(t0 + t1 + t2 + t3) <= _FMAX:
            for r, t in enumerate((t0, t1, t2, t3)):
                status[i + r] = _sum_status(t, atol)
                totals[i + r - i0] = t
        else:
            for r in range(i, i + 4):
                status[r], totals[r - i0] = _one_row(proba[r], atol)
        i += 4
    for r in range(i, i1):
        status[r], totals[r - i0] = _one_row(proba[r], atol)


@njit(**_PAR)
def belief_status(proba, atol, status):
    n = proba.shape[0]
    for b in prange((n + _ROW_BLOCK - 1) // _ROW_BLOCK):
        i0 = b * _ROW_BLOCK
        i1 = min(i0 + _ROW_BLOCK, n)
        _status_rows(proba, atol, i0, i1, status, np.empty(i1 - i0))


@njit(**_PAR)
def normalize_belief(proba, atol, belief, status):
    n, k = proba.shape
    for b in prange((n + _ROW_BLOCK - 1) // _ROW_BLOCK):
        i0 = b * _ROW_BLOCK
        i1 = min(i0 + _ROW_BLOCK, n)
        totals = np.empty(i1 - i0)
        _status_rows(proba, atol, i0, i1, status, totals)
        # the divisions in a second pass over the block (still in L1/L2): it vectorizes
        for i in range(i0, i1):
            for c in range(k):
                belief[i, c] = np.float64(proba[i, c]) / totals[i - i0]


@njit(**_PAR)
def allowed_labels(belief, threshold, out):
    n, k = belief.shape
    for i in prange(n):
        for c in range(k):
            out[i, c] = np.float64(belief[i, c]) >= threshold


# --------------------------------------------------------------------------------------------
# unique values: one open-addressing hash set of float64 bit patterns per block of values
# (Fibonacci hashing: the top bits of pattern * _HMUL), kept at load <= 1/4 so that nearly
# every value sits at its home slot or the next one
# --------------------------------------------------------------------------------------------
_HMUL = np.uint64(0x9E3779B97F4A7C15)
_EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)  # an empty slot: a NaN pattern (a block holding it is flagged)
_ONE = np.uint64(1)
_CHUNK = 32  # values per all-present check: enough for LLVM to vectorize its lookups


@njit(**_SER)
def _insert(table, mask, shift, key):
    """Insert key into the table's first mask + 1 slots; return 1 if it was new, else 0."""
    j = (key * _HMUL) >> shift
    while True:
        cur = table[j]
        if cur == key:
            return 0
        if cur == _EMPTY:
            table[j] = key
            return 1
        j = (j + _ONE) & mask


@njit(**_SER)
def _all_present(bits, q, table, mask, shift):
    """Whether each of bits[q:q + _CHUNK] is at its home slot or the next one (and none is the
    empty marker). No branch per value, so the lookups overlap; a value displaced further only
    makes the caller look at the chunk value by value."""
    miss = False
    for j in range(np.uint64(q), np.uint64(q + _CHUNK)):
        key = bits[j]
        h = (key * _HMUL) >> shift
        miss |= ((table[h] != key) & (table[(h + _ONE) & mask] != key)) | (key == _EMPTY)
    return not miss


@njit(**_PAR)
def unique_blocks(bits, block, limit, found, n_found, flags):
    """Distinct bit patterns of each block of ``bits`` (a uint64 view of float64 values).

    found (n_blocks, limit) OUT: the distinct patterns of block b in found[b, :n_found[b]].
    flags (n_blocks,) OUT: 1 if the block has more than ``limit`` distinct values, 2 if it holds
    the empty marker; the caller then sorts instead. Each block's table starts at 1024 slots
    (8 KiB, in L1) and doubles to keep its load <= 1/4.
    """
    n = bits.shape[0]
    for b in prange((n + block - 1) // block):
        i0 = b * block
        i1 = min(i0 + block, n)
        table = np.full(4 * limit, _EMPTY, dtype=np.uint64)  # only the first mask + 1 slots in use
        log2 = 10
        mask, shift = np.uint64((1 << log2) - 1), np.uint64(64 - log2)
        count = flag = 0
        i = i0
        while i < i1 and flag == 0:
            stop = min(i + _CHUNK, i1)
            if stop - i == _CHUNK and _all_present(bits, i, table, mask, shift):
                i = stop
                continue
            for key in bits[i:stop]:  # a chunk with a new value: one by one
                if key == _EMPTY:
                    flag = 2
                    break
                if not _insert(table, mask, shift, key):
                    continue
                if count == limit:
                    flag = 1
                    break
                found[b, count] = key
                count += 1
                if 4 * count > mask + 1:  # grow: rehash what was found so far
                    log2 += 1
                    mask, shift = np.uint64((1 << log2) - 1), np.uint64(64 - log2)
                    table[: mask + 1] = _EMPTY
                    for p in range(count):
                        _insert(table, mask, shift, found[b, p])
            i = stop
        n_found[b] = count
        flags[b] = flag


@njit(**_SER)
def merge_unique(found, n_found, cap_log2):
    """The distinct patterns over all blocks (serial; at most n_blocks * limit inserts)."""
    table = np.full(1 << cap_log2, _EMPTY, dtype=np.uint64)
    mask, shift = np.uint64((1 << cap_log2) - 1), np.uint64(64 - cap_log2)
    out = np.empty(table.shape[0] // 2, dtype=found.dtype)
    m = 0
    for b in range(found.shape[0]):
        for key in found[b, : n_found[b]]:
            if _insert(table, mask, shift, key):
                out[m] = key
                m += 1
    return out[:m]


@njit(**_SER)
def _dedupe_tail(a, out, m, last):
    """Append the sorted a to out[:m] keeping one value of each run; (new m, last value)."""
    for x in a:
        out[m] = x
        m += x != last
        last = x
    return m, last


@njit(**_SER)
def merge_sorted_unique(a, b, out):
    """Merge sorted a and b (no NaN) into out keeping one value of each run of equal values;
    return how many. Branch-free (a select and conditional advances): the data-dependent
    branches of a plain merge mispredict about half the time."""
    na, nb = a.shape[0], b.shape[0]
    i = j = m = 0
    last = np.nan  # x != NaN: the first value is always kept
    while i < na and j < nb:
        take_b = b[j] < a[i]
        x = b[j] if take_b else a[i]
        j += take_b
        i += not take_b
        out[m] = x
        m += x != last
        last = x
    m, last = _dedupe_tail(a[i:], out, m, last)
    m, last = _dedupe_tail(b[j:], out, m, last)
    return m


# --------------------------------------------------------------------------------------------
# depths: gathers of belief[i, labels[i]]; an invalid label is counted and skipped
# --------------------------------------------------------------------------------------------
@njit(**_PAR)
def pointwise_depth(belief, labels, block, depth, bad):
    n, k = belief.shape
    for b in prange((n + block - 1) // block):
        i0 = b * block
        nb = 0
        for i, lab in enumerate(labels[i0 : min(i0 + block, n)], i0):
            if 0 <= lab < k:
                depth[i] = belief[i, lab]
            else:
                depth[i] = np.nan
                nb += 1
        bad[b] = nb


@njit(**_PAR)
def count_consistent(belief, labels, threshold, block, good, bad):
    n, k = belief.shape
    for b in prange((n + block - 1) // block):
        i0 = b * block
        ng = nb = 0
        for i, lab in enumerate(labels[i0 : min(i0 + block, n)], i0):
            if 0 <= lab < k:
                ng += np.float64(belief[i, lab]) >= threshold
            else:
                nb += 1
        good[b] = ng
        bad[b] = nb


@njit(**_SER)
def _min_step(x, m, nan):
    """(running minimum, NaN seen) after value x: ``not (x >= m)`` is the one test on the hot
    path, true only for a new minimum or NaN. Zeros of either sign are equal (the caller makes
    a zero result +0.0)."""
    if not (x >= m):
        if x != x:
            return m, True
        return x, nan
    return m, nan


@njit(**_SER)
def _min_depth(f, k, labels, i0, i1, m, nan):
    """One hypothesis over rows i0:i1 of the raveled belief f: (minimum, NaN seen, #invalid)."""
    ku = np.uint64(k)
    bad = 0
    for i in range(np.uint64(i0), np.uint64(i1)):
        u = np.uint64(np.int64(labels[i]))  # one unsigned compare: 0 <= label < k
        if u < ku:
            m, nan = _min_step(np.float64(f[i * ku + u]), m, nan)
        else:
            bad += 1
    return m, nan, bad


@njit(**_SER)
def _min_depth_pair(f, k, la, lb, i0, i1, ma, mb, nan_a, nan_b):
    """Two hypotheses in one pass (their gathers overlap and share the row address):
    (minimum a, minimum b, NaN seen a, NaN seen b, #invalid)."""
    ku = np.uint64(k)
    bad = 0
    for i in range(np.uint64(i0), np.uint64(i1)):
        row = i * ku
        u = np.uint64(np.int64(la[i]))
        v = np.uint64(np.int64(lb[i]))
        if u < ku:
            ma, nan_a = _min_step(np.float64(f[row + u]), ma, nan_a)
        else:
            bad += 1
        if v < ku:
            mb, nan_b = _min_step(np.float64(f[row + v]), mb, nan_b)
        else:
            bad += 1
    return ma, mb, nan_a, nan_b, bad


@njit(**_PAR)
def min_depth_blocks(belief, label_matrix, block, sub, mins, nans, bad):
    """Per (hypothesis j, block b): the min of the valid belief[i, labels[j, i]] over the block.

    mins (m, n_blocks) OUT: +inf when the block has no valid label.
    nans (m, n_blocks) OUT: whether a NaN is among the block's valid values.
    bad (n_blocks,) OUT: the block's invalid labels, over all hypotheses.
    A block is walked in sub-blocks of ``sub`` rows whose belief stays in cache while all m
    hypotheses gather from it, two hypotheses per pass.
    """
    n, k = belief.shape
    m = label_matrix.shape[0]
    f = belief.reshape(-1)
    for b in prange((n + block - 1) // block):
        i0 = b * block
        i1 = min(i0 + block, n)
        mins[:, b] = np.inf
        nans[:, b] = False
        nb = 0
        for s0 in range(i0, i1, sub):
            s1 = min(s0 + sub, i1)
            for j in range(0, m - 1, 2):
                ma, mb, na, nn, bd = _min_depth_pair(
                    f,
                    k,
                    label_matrix[j],
                    label_matrix[j + 1],
                    s0,
                    s1,
                    mins[j, b],
                    mins[j + 1, b],
                    nans[j, b],
                    nans[j + 1, b],
                )
                mins[j, b], mins[j + 1, b], nans[j, b], nans[j + 1, b] = ma, mb, na, nn
                nb += bd
            if m % 2:  # the last hypothesis alone
                mins[m - 1, b], nans[m - 1, b], bd = _min_depth(
                    f, k, label_matrix[m - 1], s0, s1, mins[m - 1, b], nans[m - 1, b]
                )
                nb += bd
        bad[b] = nb
