# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Depths behind ``crembo.backends.cython_backend`` (spec: ``backends/reference.py``): gathers of
belief[i, labels[i]]; a label outside [0, k) is counted and skipped.

Minima are taken per contiguous part of the samples and combined left to right with a strict
``<`` (the first minimum in sample order wins, as in a serial loop), so results do not depend
on ``n_threads``.
"""

import numpy as np

from cython.parallel cimport prange
from libc.stdint cimport uint8_t, int32_t, int64_t, uint64_t
from libc.math cimport INFINITY, NAN

from _common cimport label_t, real_t, crembo_avx512_supported, crembo_from_bits, crembo_prefetch_l2, crembo_unlikely

cdef extern from "crembo_depths.h":
    void crembo_min_bits_i32(const double* row, Py_ssize_t k, const int32_t* lab, Py_ssize_t w8,
                             uint64_t* lo, uint64_t* hi) noexcept nogil
    void crembo_min_bits_i64(const double* row, Py_ssize_t k, const int64_t* lab, Py_ssize_t w8,
                             uint64_t* lo, uint64_t* hi) noexcept nogil


def simd_available():
    """Whether this CPU (and build) has the AVX-512 kernel paths."""
    return crembo_avx512_supported() != 0


def pointwise_depth_into(
    const real_t[:, ::1] belief,   # IN  (n, k)
    const label_t[::1] labels,     # IN  (n,)
    double[::1] depth,             # OUT (n,) belief[i, labels[i]], NaN where invalid
    int n_threads,
):
    cdef Py_ssize_t n = belief.shape[0], k = belief.shape[1], i, n_bad = 0
    cdef size_t lab
    if n == 0:
        return 0
    cdef const real_t* b = &belief[0, 0]
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        lab = <size_t>labels[i]
        if lab < <size_t>k:
            depth[i] = b[i * k + lab]
        else:
            depth[i] = NAN
            n_bad += 1
    return n_bad


def count_consistent_into(
    const real_t[:, ::1] belief,   # IN  (n, k)
    const label_t[::1] labels,     # IN  (n,)
    double threshold,
    int n_threads,
):
    """(#{i : labels[i] valid and belief[i, labels[i]] >= threshold}, n_invalid)."""
    cdef Py_ssize_t n = belief.shape[0], k = belief.shape[1], i, n_bad = 0, n_ok = 0
    cdef size_t lab
    if n == 0:
        return 0, 0
    cdef const real_t* b = &belief[0, 0]
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        lab = <size_t>labels[i]
        if lab < <size_t>k:
            if <double>b[i * k + lab] >= threshold:
                n_ok += 1
        else:
            n_bad += 1
    return n_ok, n_bad


# Depths of many hypotheses. Each keeps a running minimum and a flag: NaN seen. Zeros of either
# sign are equal, and the caller makes a zero result +0.0 (the reference's rule), so the sign
# of a zero needs no tracking. The AVX-512 path takes the unsigned min and max of a block's
# gathered float64 bit patterns and tests once: if the max is at most +inf's pattern, every
# value was valid, non-negative and not NaN, and the min pattern is the min value's. Other
# blocks (rare: invalid labels, NaN, negative values, -0.0) and the portable path go through
# the scalar loops.
cdef uint64_t INF_BITS = 0x7FF0000000000000ULL


cdef inline void _depth_step(double x, double* m, uint8_t* nan) noexcept nogil:
    """Off the hot path, for a value with ``not (x >= m)``: a new minimum, or NaN."""
    if x != x:
        nan[0] = 1
    else:
        m[0] = x


cdef inline void _min_depth_range(
    const real_t* b, Py_ssize_t k, const label_t* labels, Py_ssize_t i0, Py_ssize_t i1,
    double* cur_min, uint8_t* nan, Py_ssize_t* n_bad,
) noexcept nogil:
    """One hypothesis over rows [i0, i1): running minimum, NaN flag, #invalid labels."""
    cdef Py_ssize_t i, bad = 0
    cdef size_t lab
    cdef double x, m = cur_min[0]
    cdef uint8_t fl = 0
    for i in range(i0, i1):
        lab = <size_t>labels[i]
        if lab < <size_t>k:
            x = b[i * k + lab]
            if crembo_unlikely(not (x >= m)):
                _depth_step(x, &m, &fl)
        else:
            bad += 1
    cur_min[0] = m
    nan[0] |= fl
    n_bad[0] += bad


cdef inline void _pair_step(const real_t* row, size_t kk, size_t u, size_t v, double* ma, double* mb,
                            uint8_t* fa, uint8_t* fb, Py_ssize_t* bad) noexcept nogil:
    cdef double x, y
    if u < kk:
        x = row[u]
        if crembo_unlikely(not (x >= ma[0])):
            _depth_step(x, ma, fa)
    else:
        bad[0] += 1
    if v < kk:
        y = row[v]
        if crembo_unlikely(not (y >= mb[0])):
            _depth_step(y, mb, fb)
    else:
        bad[0] += 1


cdef inline void _min_depth_pair(
    const real_t* b, Py_ssize_t k, const label_t* la, const label_t* lb, Py_ssize_t i0, Py_ssize_t i1,
    Py_ssize_t ahead, Py_ssize_t n, double* min_a, double* min_b, uint8_t* nan_a, uint8_t* nan_b,
    Py_ssize_t* n_bad,
) noexcept nogil:
    """Two hypotheses in one pass: the row addressing and the loop overhead are shared, and the
    two gathers overlap. ``not (x >= m)`` is the one test on the hot path; it is true for a new
    minimum and for NaN, both rare, told apart off the hot path. Labels are prefetched
    ``ahead`` rows on (into L2) while within n."""
    cdef Py_ssize_t i, e, bad = 0
    cdef size_t kk = <size_t>k
    cdef double ma = min_a[0], mb = min_b[0]
    cdef uint8_t fa = 0, fb = 0
    cdef const real_t* row = b + i0 * k
    i = i0
    while i + 8 <= i1:
        # one line of each hypothesis' labels, a block ahead: m short row segments are too
        # many streams for the hardware prefetcher, and one burst per block stalls on them
        if i + ahead < n:
            crembo_prefetch_l2(la + i + ahead)
            crembo_prefetch_l2(lb + i + ahead)
        for e in range(8):   # a constant count: unrolled, no loop-exit mispredictions
            _pair_step(row, kk, <size_t>la[i + e], <size_t>lb[i + e], &ma, &mb, &fa, &fb, &bad)
            row = row + k
        i = i + 8
    while i < i1:
        _pair_step(row, kk, <size_t>la[i], <size_t>lb[i], &ma, &mb, &fa, &fb, &bad)
        row = row + k
        i = i + 1
    min_a[0] = ma
    min_b[0] = mb
    nan_a[0] |= fa
    nan_b[0] |= fb
    n_bad[0] += bad


cdef inline void _min_depths_block(
    const real_t* b, Py_ssize_t k, const label_t* L, Py_ssize_t n, Py_ssize_t j, Py_ssize_t j1,
    Py_ssize_t i0, Py_ssize_t i1, bint simd, double* cur_min, uint8_t* nan, Py_ssize_t* n_bad,
) noexcept nogil:
    """Hypotheses j (and j1 when j1 > j) over rows [i0, i1): their running minima and NaN flags
    are cur_min[0], nan[0] (and cur_min[j1 - j], nan[j1 - j])."""
    cdef Py_ssize_t w = (i1 - i0) & ~(<Py_ssize_t>7)
    cdef uint64_t lo, hi
    cdef double x
    if simd and real_t is double:   # whole groups of 8 rows in AVX-512 gathers
        if w:
            if label_t is int32_t:
                crembo_min_bits_i32(<const double*>b + i0 * k, k, L + j * n + i0, w, &lo, &hi)
            else:
                crembo_min_bits_i64(<const double*>b + i0 * k, k, L + j * n + i0, w, &lo, &hi)
            if hi <= INF_BITS:   # all valid, none negative or NaN: lo is the minimum's pattern
                x = crembo_from_bits(lo)
                if x < cur_min[0]:
                    cur_min[0] = x
            else:
                _min_depth_range(b, k, L + j * n, i0, i0 + w, cur_min, nan, n_bad)
        if i0 + w < i1:
            _min_depth_range(b, k, L + j * n, i0 + w, i1, cur_min, nan, n_bad)
    elif j1 > j:
        _min_depth_pair(b, k, L + j * n, L + j1 * n, i0, i1, i1 - i0, n, cur_min, cur_min + (j1 - j),
                        nan, nan + (j1 - j), n_bad)
    else:
        _min_depth_range(b, k, L + j * n, i0, i1, cur_min, nan, n_bad)


def hypothesis_depths_into(
    const real_t[:, ::1] belief,         # IN  (n, k)
    const label_t[:, ::1] label_matrix,  # IN  (m, n) predictions of m hypotheses
    double[::1] depths,                  # OUT (m,) min over valid i (a zero as +0.0); +inf if
                                         #     none; NaN if a NaN
    int n_threads,
    bint simd=True,                      # use the AVX-512 path where the CPU has it
):
    """Depth of each hypothesis; returns the total number of invalid labels."""
    cdef Py_ssize_t n = belief.shape[0], k = belief.shape[1], m = label_matrix.shape[0]
    cdef Py_ssize_t j, j1, p, i0, i1, i_end, n_parts, step, n_bad = 0, bad, q, q_end
    # Gather offsets within 8 rows are 32-bit on the AVX-512 path. One hypothesis reads the
    # belief once, and the scalar loop is the faster one for it (the gathers pay off when many
    # hypotheses share the block of belief rows they read).
    simd = simd and m > 1 and real_t is double and k < (1 << 27) and crembo_avx512_supported() != 0
    # Samples per pass over the hypotheses: the block's belief rows stay in L1 while all m
    # hypotheses gather from them (with the block in L2, moving its lines to L1 once per
    # hypothesis is the limit). The AVX-512 gathers then wait on the m label streams: a 12 KiB
    # block leaves L1 room for them, and their labels are prefetched two blocks ahead in one
    # burst. The portable loops are faster with 24 KiB and their labels prefetched one block
    # ahead, a line per 8 rows.
    cdef Py_ssize_t block_bytes = 12288 if simd else 24576
    cdef Py_ssize_t BLOCK = max(64, min(4096, block_bytes // (k * <Py_ssize_t>sizeof(real_t)) // 16 * 16))
    if m == 1:   # one pass over the belief: nothing to keep cached, long blocks
        BLOCK = 4096
    cdef Py_ssize_t LINE_F = 64 // sizeof(real_t), LINE_L = 64 // sizeof(label_t)
    cdef double cur
    cdef uint8_t nan
    if m == 0:
        return 0
    if n == 0:
        for j in range(m):
            depths[j] = INFINITY
        return 0
    cdef const real_t* b = &belief[0, 0]
    cdef const label_t* L = &label_matrix[0, 0]
    # Each part (a contiguous range of samples, or with many hypotheses all samples) keeps a
    # minimum per hypothesis; parts are combined left to right, as a serial loop would.
    n_parts = 1 if m >= n else max(1, min(n_threads, n // BLOCK + 1))
    step = (n + n_parts - 1) // n_parts
    cdef double[:, ::1] part_min = np.full((n_parts, m), np.inf)
    cdef uint8_t[:, ::1] part_nan = np.zeros((n_parts, m), dtype=np.uint8)
    cdef Py_ssize_t[::1] part_bad = np.zeros(n_parts, dtype=np.intp)
    if m >= n:
        # Many hypotheses: each thread takes whole hypotheses.
        for j in prange(m, nogil=True, schedule="static", num_threads=n_threads):
            bad = 0
            _min_depths_block(b, k, L, n, j, j, 0, n, simd, &part_min[0, j], &part_nan[0, j], &bad)
            n_bad += bad
    else:
        for p in prange(n_parts, nogil=True, schedule="static", num_threads=n_threads):
            i0 = p * step
            i_end = min((p + 1) * step, n)
            while i0 < i_end:
                i1 = min(i0 + BLOCK, i_end)
                if m > 1 and simd:   # the next block's belief into L2 (the prefetcher does not keep ahead)
                    q_end = min(i1 + BLOCK, n) * k
                    q = i1 * k
                    while q < q_end:
                        crembo_prefetch_l2(b + q)
                        q = q + LINE_F
                j = 0
                while j < m:
                    # one hypothesis per pass with AVX-512, else two (shared row addressing)
                    j1 = j if simd or j + 1 == m else j + 1
                    if m > 1 and not simd:
                        # a share of the next block's belief lines into L2 (a sequential read, but
                        # the hardware prefetcher does not keep far enough ahead)
                        q = i1 * k + (j * (BLOCK * k) // m) // LINE_F * LINE_F
                        while q < min(i1 * k + ((j + 2) * (BLOCK * k) // m), n * k):
                            crembo_prefetch_l2(b + q)
                            q = q + LINE_F
                    if m > 1 and simd:   # their labels two blocks on, into L2 (m streams)
                        q_end = min(i1 + 2 * BLOCK, n)
                        q = i0 + 2 * BLOCK
                        while q < q_end:
                            crembo_prefetch_l2(L + j * n + q)
                            crembo_prefetch_l2(L + j1 * n + q)
                            q = q + LINE_L
                    _min_depths_block(b, k, L, n, j, j1, i0, i1, simd, &part_min[p, j], &part_nan[p, j],
                                      &part_bad[p])
                    j = j1 + 1
                i0 = i1
        for p in range(n_parts):
            n_bad += part_bad[p]
    for j in range(m):
        cur = INFINITY
        nan = 0
        for p in range(n_parts):
            nan |= part_nan[p, j]
            if part_min[p, j] < cur:
                cur = part_min[p, j]
        depths[j] = NAN if nan else cur + 0.0   # + 0.0: a zero of either sign becomes +0.0
    return n_bad
