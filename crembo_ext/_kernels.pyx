# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Cython/OpenMP kernels behind ``crembo.backends.cython_backend`` (spec: ``backends/reference.py``).

Every ``*_into`` function writes into outputs the caller allocated and returns the number of
invalid labels/votes (never raises on bad values). Results do not depend on ``n_threads``:
integer reductions are exact, minima are taken per contiguous part and combined left to right
with a strict ``<`` (so the first minimum in sample order wins, as in a serial loop), and float
sums run left to right over the classes of one row, inside one thread.
"""

import numpy as np

from cython.parallel cimport prange, threadid
from libc.stdint cimport uint8_t, int8_t, int16_t, int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from libc.math cimport exp, fabs, INFINITY, NAN
from libcpp.algorithm cimport nth_element

cdef extern from *:
    """
    #include <string.h>
    #include <stdint.h>
    static inline uint64_t crembo_bits(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
    static inline double crembo_from_bits(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }
    """
    uint64_t crembo_bits(double x) noexcept nogil
    double crembo_from_bits(uint64_t u) noexcept nogil

ctypedef fused vote_t:
    uint8_t
    int16_t
    int32_t
    int64_t

ctypedef fused label_t:
    int32_t
    int64_t

ctypedef fused real_t:
    float
    double

# Row status codes (must match crembo.backends.reference).
cdef int8_t ROW_OK = 0, ROW_NONFINITE = 1, ROW_NEGATIVE = 2, ROW_BAD_SUM = 3


# ---------------------------------------------------------------------------------------------
# Vote counting: blocks of samples, so the counts of one block stay in L1/L2 while the T member
# rows stream through (each read of votes[t, i0:i1] is contiguous).
# ---------------------------------------------------------------------------------------------

cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define crembo_prefetch(p) __builtin_prefetch((p), 0, 3)
    #else
    #define crembo_prefetch(p) ((void)0)
    #endif
    """
    void crembo_prefetch(const void* p) noexcept nogil

# Rows of votes prefetched ahead of the pair being counted. Each block reads T short row
# segments, too short for the hardware prefetcher to ramp up on; prefetching them explicitly
# overlaps the memory reads with the counting (measured ~1.5x faster for int64 votes).
cdef Py_ssize_t PREFETCH_ROWS = 4


cdef inline Py_ssize_t _block_size(Py_ssize_t k) noexcept nogil:
    # The block's uint32 counts take ~20 KiB (L1) for k <= 80; >= 64 samples keeps each row
    # segment several cache lines long when k is large.
    cdef Py_ssize_t b = 5120 // k
    return max(64, min(1024, b))


def vote_block_size(Py_ssize_t k):
    """Samples per block of the vote-counting kernels (sizes the caller's scratch buffer)."""
    return _block_size(k)


def read_votes_once(const vote_t[:, ::1] votes, int n_threads):
    """Bitwise OR of all votes, read once in parallel: the memory-bandwidth baseline that
    benchmarks compare the vote-counting kernels with (OR in the votes' own type vectorizes
    without widening, so this is a pure read)."""
    cdef Py_ssize_t total = votes.shape[0] * votes.shape[1], CHUNK = 1 << 16
    cdef Py_ssize_t n_chunks = (total + CHUNK - 1) // CHUNK, c, j, j1
    cdef vote_t acc
    cdef int64_t s = 0
    if total == 0:
        return 0
    cdef const vote_t* data = &votes[0, 0]
    for c in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
        acc = 0
        j1 = min((c + 1) * CHUNK, total)
        for j in range(c * CHUNK, j1):
            acc = acc | data[j]
        s |= acc
    return s


cdef inline Py_ssize_t _count_block(
    const vote_t* votes,   # IN  (T, n) C-contiguous
    Py_ssize_t T,
    Py_ssize_t n,
    Py_ssize_t i0,
    Py_ssize_t i1,
    Py_ssize_t k,
    uint32_t* buf,         # OUT ((i1 - i0), k), zeroed by the caller
) noexcept nogil:
    """Add votes[:, i0:i1] into buf; return how many votes lie outside [0, k) (skipped)."""
    cdef Py_ssize_t t = 0, i, j, stop, width = i1 - i0, n_bad = 0
    cdef Py_ssize_t line = 64 // sizeof(vote_t), ahead = PREFETCH_ROWS * n
    cdef size_t v0, v1, kk = <size_t>k
    cdef const vote_t* r0
    cdef const vote_t* r1
    cdef uint32_t* p
    cdef bint prefetch
    # Two members per pass: half the passes over the block's counts, two load streams.
    while t + 1 < T:
        r0 = votes + t * n + i0
        r1 = r0 + n
        prefetch = t + 1 + PREFETCH_ROWS < T
        p = buf
        i = 0
        while i < width:
            stop = min(i + line, width)
            if prefetch:   # one cache line of each of the two rows PREFETCH_ROWS ahead
                crembo_prefetch(r0 + ahead + i)
                crembo_prefetch(r1 + ahead + i)
            for j in range(i, stop):
                # One unsigned compare rejects negatives (they wrap to huge values) and >= k.
                v0 = <size_t>r0[j]
                v1 = <size_t>r1[j]
                if v0 < kk:
                    p[v0] += 1
                else:
                    n_bad += 1
                if v1 < kk:
                    p[v1] += 1
                else:
                    n_bad += 1
                p += k
            i = stop
        t += 2
    if t < T:   # odd T: the last member alone
        r0 = votes + t * n + i0
        p = buf
        for j in range(width):
            v0 = <size_t>r0[j]
            if v0 < kk:
                p[v0] += 1
            else:
                n_bad += 1
            p += k
    return n_bad


def vote_counts_into(
    const vote_t[:, ::1] votes,   # IN  (T, n) class indices
    uint32_t[:, ::1] counts,      # OUT (n, k) counts[i, c] = #{t : votes[t, i] == c}
    int n_threads,
):
    """Count votes into ``counts``; return the number of votes outside [0, k)."""
    cdef Py_ssize_t T = votes.shape[0], n = votes.shape[1], k = counts.shape[1]
    cdef Py_ssize_t B = _block_size(k)
    cdef Py_ssize_t n_blocks = (n + B - 1) // B
    cdef Py_ssize_t b, i0, i1, n_bad = 0
    if T == 0 or n == 0 or k == 0:
        return _count_out_of_range(votes, k)
    cdef const vote_t* base = &votes[0, 0]
    cdef uint32_t* out = &counts[0, 0]
    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        i0 = b * B
        i1 = min(i0 + B, n)
        # Each block owns its output rows: count straight into them (they fit in cache).
        memset(out + i0 * k, 0, (i1 - i0) * k * sizeof(uint32_t))
        n_bad += _count_block(base, T, n, i0, i1, k, out + i0 * k)
    return n_bad


def vote_belief_into(
    const vote_t[:, ::1] votes,   # IN  (T, n) class indices
    double[:, ::1] belief,        # OUT (n, k) belief[i, c] = count / T
    uint32_t[:, ::1] scratch,     # TMP (n_threads, B * k) per-thread counts
    int n_threads,
):
    """Vote fractions into ``belief``; return the number of votes outside [0, k)."""
    cdef Py_ssize_t T = votes.shape[0], n = votes.shape[1], k = belief.shape[1]
    cdef Py_ssize_t B = _block_size(k)
    cdef Py_ssize_t n_blocks = (n + B - 1) // B
    cdef Py_ssize_t b, i0, i1, j, m, c, n_bad = 0
    cdef uint32_t* buf
    cdef double* o
    if T == 0 or n == 0 or k == 0:
        return _count_out_of_range(votes, k)
    # table[c] = c / T is exactly the reference's division for every possible count, and a
    # load is far cheaper than a divide per output element.
    cdef double[::1] table = np.arange(T + 1, dtype=np.float64) / np.float64(T)
    cdef const double* tab = &table[0]
    cdef const vote_t* base = &votes[0, 0]
    cdef double* out = &belief[0, 0]
    cdef uint32_t* scr = &scratch[0, 0]
    cdef Py_ssize_t scr_stride = scratch.shape[1]
    for b in prange(n_blocks, nogil=True, schedule="static", num_threads=n_threads):
        buf = scr + threadid() * scr_stride
        i0 = b * B
        i1 = min(i0 + B, n)
        m = (i1 - i0) * k
        memset(buf, 0, m * sizeof(uint32_t))
        n_bad += _count_block(base, T, n, i0, i1, k, buf)
        o = out + i0 * k
        for j in range(m):
            o[j] = tab[buf[j]]
    return n_bad


def _count_out_of_range(const vote_t[:, ::1] votes, Py_ssize_t k):
    cdef Py_ssize_t t, i, n_bad = 0
    for t in range(votes.shape[0]):
        for i in range(votes.shape[1]):
            if not (<size_t>votes[t, i] < <size_t>k):
                n_bad += 1
    return n_bad


# ---------------------------------------------------------------------------------------------
# Probability rows: softmax, status, normalisation. One row per iteration, sums left to right.
# ---------------------------------------------------------------------------------------------

def softmax_into(
    const real_t[:, ::1] logits,  # IN  (n, k) finite
    double[:, ::1] out,           # OUT (n, k) exp(z - max z) / sum
    int n_threads,
):
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i, c
    cdef double m, total
    cdef const real_t* z
    cdef double* e
    if n == 0 or k == 0:
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        z = &logits[i, 0]
        e = &out[i, 0]
        m = z[0]
        for c in range(1, k):
            if z[c] > m:
                m = z[c]
        total = 0.0
        for c in range(k):
            e[c] = exp(<double>z[c] - m)
            total = total + e[c]
        for c in range(k):
            e[c] = e[c] / total


cdef inline int8_t _row_status(const real_t* p, Py_ssize_t k, double atol, double* total_out) noexcept nogil:
    cdef Py_ssize_t c
    cdef double x, total = 0.0
    cdef bint nonfinite = False, negative = False
    for c in range(k):
        x = p[c]
        total = total + x
        # x - x is NaN exactly when x is NaN or +-inf (no -ffast-math, so it is not folded).
        nonfinite = nonfinite | (not (x - x == 0.0))
        negative = negative | (x < 0.0)
    total_out[0] = total
    if nonfinite:
        return ROW_NONFINITE
    if negative:
        return ROW_NEGATIVE
    if not (fabs(total - 1.0) <= atol):
        return ROW_BAD_SUM
    return ROW_OK


def belief_status_into(
    const real_t[:, ::1] proba,   # IN  (n, k)
    int8_t[::1] status,           # OUT (n,) ROW_* code per row
    double atol,
    int n_threads,
):
    cdef Py_ssize_t n = proba.shape[0], k = proba.shape[1], i
    cdef double total
    if n == 0 or k == 0:
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        total = 0.0   # assigned in the loop, so each thread has its own copy
        status[i] = _row_status(&proba[i, 0], k, atol, &total)


def normalize_belief_into(
    const real_t[:, ::1] proba,   # IN  (n, k)
    double[:, ::1] belief,        # OUT (n, k) each row divided by its sum
    int8_t[::1] status,           # OUT (n,) ROW_* code per row
    double atol,
    int n_threads,
):
    cdef Py_ssize_t n = proba.shape[0], k = proba.shape[1], i, c
    cdef double total
    cdef const real_t* p
    cdef double* o
    if n == 0 or k == 0:
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        p = &proba[i, 0]
        o = &belief[i, 0]
        total = 0.0   # assigned in the loop, so each thread has its own copy
        status[i] = _row_status(p, k, atol, &total)
        for c in range(k):
            o[c] = <double>p[c] / total


def allowed_labels_into(
    const real_t[:, ::1] belief,  # IN  (n, k)
    uint8_t[:, ::1] out,          # OUT (n, k) 1 where belief >= threshold (a bool array's bytes)
    double threshold,
    int n_threads,
):
    cdef Py_ssize_t n = belief.shape[0], k = belief.shape[1], i, c
    cdef const real_t* p
    cdef uint8_t* o
    if n == 0 or k == 0:
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        p = &belief[i, 0]
        o = &out[i, 0]
        for c in range(k):
            o[c] = <double>p[c] >= threshold


# ---------------------------------------------------------------------------------------------
# Unique values: one open-addressing hash set of float64 bit patterns per contiguous part.
# ---------------------------------------------------------------------------------------------

# A NaN pattern marks an empty slot. A NaN in the data sets F_NAN and the caller discards the
# table for np.unique, so a NaN key (even this one: it is then found "present") does no harm.
cdef const uint64_t EMPTY = 0xFFFFFFFFFFFFFFFFULL
cdef uint64_t NEG_ZERO = 0x8000000000000000ULL
cdef Py_ssize_t HASH_MAX_CAP = 1 << 17   # 1 MiB of keys per part; more distinct -> sort instead

# Flags per part.
# (the bit positions of F_NAN, F_POS_ZERO and F_NEG_ZERO are used directly in _unique_part)
cdef uint8_t F_NAN = 1, F_OVERFLOW = 2, F_POS_ZERO = 4, F_NEG_ZERO = 8


cdef struct HashSet:
    uint64_t* keys
    Py_ssize_t cap      # power of two
    Py_ssize_t size
    int shift           # 64 - log2(cap)


cdef inline int _hs_init(HashSet* s, Py_ssize_t cap, int shift) noexcept nogil:
    cdef Py_ssize_t j
    s.keys = <uint64_t*>malloc(cap * sizeof(uint64_t))
    if s.keys == NULL:
        return -1
    for j in range(cap):
        s.keys[j] = EMPTY
    s.cap = cap
    s.size = 0
    s.shift = shift
    return 0


cdef inline void _hs_put(HashSet* s, uint64_t key) noexcept nogil:
    """Insert a key known to be absent (used when rehashing)."""
    cdef uint64_t h = (key * 0x9E3779B97F4A7C15ULL) >> s.shift
    cdef uint64_t mask = <uint64_t>(s.cap - 1)
    while s.keys[h] != EMPTY:
        h = (h + 1) & mask
    s.keys[h] = key
    s.size += 1


cdef int _hs_grow(HashSet* s) noexcept nogil:
    cdef HashSet bigger
    cdef Py_ssize_t j
    if 2 * s.cap > HASH_MAX_CAP or _hs_init(&bigger, 2 * s.cap, s.shift - 1) != 0:
        return -1
    for j in range(s.cap):
        if s.keys[j] != EMPTY:
            _hs_put(&bigger, s.keys[j])
    free(s.keys)
    s[0] = bigger
    return 0


cdef uint8_t _unique_part(const real_t* data, Py_ssize_t start, Py_ssize_t stop, HashSet* s) noexcept nogil:
    cdef Py_ssize_t j
    cdef double x
    cdef uint64_t key, h, cur, mask
    cdef uint64_t* keys
    cdef int shift
    cdef uint8_t flags = 0
    if _hs_init(s, 256, 64 - 8) != 0:
        return F_OVERFLOW
    # The table's fields live in locals (the compiler cannot keep them in registers through
    # the struct pointer); they are reloaded only after an insertion, which is rare.
    keys = s.keys
    shift = s.shift
    mask = <uint64_t>(s.cap - 1)
    for j in range(start, stop):
        x = data[j]
        key = crembo_bits(x)
        # Branch-free flags (measured 2x faster than branching here): a NaN only needs noticing,
        # the caller then falls back to np.unique; +0.0 and -0.0 share the key 0 and the sign
        # is decided from the flags.
        flags = flags | (x != x) | ((key == NEG_ZERO) << 3) | ((key == 0) << 2)
        key = key & (0 - <uint64_t>((key << 1) != 0))
        h = (key * 0x9E3779B97F4A7C15ULL) >> shift
        while True:
            cur = keys[h]
            if cur == key:
                break
            if cur == EMPTY:
                keys[h] = key
                s.size += 1
                if 2 * s.size > s.cap:   # keep the load factor <= 1/2
                    if _hs_grow(s) != 0:
                        return flags | F_OVERFLOW
                    keys = s.keys
                    shift = s.shift
                    mask = <uint64_t>(s.cap - 1)
                break
            h = (h + 1) & mask
    return flags


def unique_values_hashed(
    const real_t[:, ::1] belief,   # IN  (n, k)
    int n_threads,
):
    """Distinct values of ``belief`` as an unsorted float64 array (duplicates across parts possible).

    Returns None when the caller must fall back to ``np.unique`` on the whole belief: a NaN was
    seen, too many distinct values, or both +0.0 and -0.0 (np.unique then keeps whichever its
    sort puts first).
    """
    cdef Py_ssize_t total = belief.shape[0] * belief.shape[1]
    cdef Py_ssize_t n_parts = max(1, min(n_threads, total // 4096 + 1))
    cdef Py_ssize_t p, j, pos, step
    cdef const real_t* data
    cdef HashSet* sets
    cdef uint8_t flags = 0
    cdef uint8_t[::1] part_flags = np.zeros(n_parts, dtype=np.uint8)
    if total == 0:
        return np.empty(0, dtype=np.float64)
    data = &belief[0, 0]
    step = (total + n_parts - 1) // n_parts
    sets = <HashSet*>malloc(n_parts * sizeof(HashSet))
    if sets == NULL:
        raise MemoryError()
    for p in range(n_parts):
        sets[p].keys = NULL
    try:
        for p in prange(n_parts, nogil=True, schedule="static", num_threads=n_threads):
            part_flags[p] = _unique_part(data, p * step, min((p + 1) * step, total), &sets[p])
        for p in range(n_parts):
            flags |= part_flags[p]
        if flags & (F_NAN | F_OVERFLOW) or (flags & F_POS_ZERO and flags & F_NEG_ZERO):
            return None
        pos = 0
        for p in range(n_parts):
            pos += sets[p].size
        out = np.empty(pos, dtype=np.float64)
        _collect(out, sets, n_parts, flags & F_NEG_ZERO != 0)
        return out
    finally:
        for p in range(n_parts):
            free(sets[p].keys)
        free(sets)


cdef void _collect(double[::1] out, HashSet* sets, Py_ssize_t n_parts, bint neg_zero):
    cdef Py_ssize_t p, j, pos = 0
    cdef uint64_t key
    for p in range(n_parts):
        for j in range(sets[p].cap):
            key = sets[p].keys[j]
            if key != EMPTY:
                if key == 0 and neg_zero:
                    key = NEG_ZERO
                out[pos] = crembo_from_bits(key)
                pos += 1


# ---------------------------------------------------------------------------------------------
# Depths: gathers belief[i, labels[i]]; a label outside [0, k) is counted and skipped.
# ---------------------------------------------------------------------------------------------

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


cdef inline void _min_depth_range(
    const real_t* b,            # IN  (n, k) belief
    Py_ssize_t k,
    const label_t* labels,      # IN  labels of one hypothesis
    Py_ssize_t i0,
    Py_ssize_t i1,
    double* cur_min,            # INOUT running minimum (strict <: the first minimum wins)
    uint8_t* has_nan,           # INOUT set when a valid depth is NaN (np.min propagates NaN)
    Py_ssize_t* n_bad,          # INOUT invalid labels
) noexcept nogil:
    cdef Py_ssize_t i
    cdef size_t lab
    cdef double x, m = cur_min[0]
    cdef Py_ssize_t bad = 0
    cdef uint8_t nan = 0
    for i in range(i0, i1):
        lab = <size_t>labels[i]
        if lab < <size_t>k:
            x = b[i * k + lab]
            if x < m:
                m = x
            elif x != x:
                nan = 1
        else:
            bad += 1
    cur_min[0] = m
    has_nan[0] |= nan
    n_bad[0] += bad


def hypothesis_depths_into(
    const real_t[:, ::1] belief,         # IN  (n, k)
    const label_t[:, ::1] label_matrix,  # IN  (m, n) predictions of m hypotheses
    double[::1] depths,                  # OUT (m,) min over valid i; +inf if none; NaN if a NaN
    int n_threads,
):
    """Depth of each hypothesis; returns the total number of invalid labels."""
    cdef Py_ssize_t n = belief.shape[0], k = belief.shape[1], m = label_matrix.shape[0]
    cdef Py_ssize_t j, p, i0, i1, blk, n_parts, step, n_bad = 0, bad
    cdef Py_ssize_t BLOCK = 4096   # samples per pass over the hypotheses: belief rows stay cached
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
    if m >= n:
        # Many hypotheses: each thread takes whole hypotheses.
        for j in prange(m, nogil=True, schedule="static", num_threads=n_threads):
            cur = INFINITY
            nan = 0
            bad = 0
            _min_depth_range(b, k, L + j * n, 0, n, &cur, &nan, &bad)
            depths[j] = NAN if nan else cur
            n_bad += bad
        return n_bad
    # Many samples: each part (a contiguous range of samples) keeps a minimum per hypothesis;
    # parts are then combined left to right, so any number of parts gives the serial answer.
    n_parts = max(1, min(n_threads, n // BLOCK + 1))
    step = (n + n_parts - 1) // n_parts
    cdef double[:, ::1] part_min = np.full((n_parts, m), np.inf)
    cdef uint8_t[:, ::1] part_nan = np.zeros((n_parts, m), dtype=np.uint8)
    cdef Py_ssize_t[::1] part_bad = np.zeros(n_parts, dtype=np.intp)
    for p in prange(n_parts, nogil=True, schedule="static", num_threads=n_threads):
        i0 = p * step
        while i0 < min((p + 1) * step, n):
            i1 = min(i0 + BLOCK, (p + 1) * step, n)
            for j in range(m):
                _min_depth_range(b, k, L + j * n, i0, i1, &part_min[p, j], &part_nan[p, j], &part_bad[p])
            i0 = i1
    for j in range(m):
        cur = INFINITY
        nan = 0
        for p in range(n_parts):
            nan |= part_nan[p, j]
            if part_min[p, j] < cur:
                cur = part_min[p, j]
        depths[j] = NAN if nan else cur
    for p in range(n_parts):
        n_bad += part_bad[p]
    return n_bad


def quantile_depth_valid(
    const real_t[:, ::1] belief,   # IN  (n, k)
    const label_t[::1] labels,     # IN  (n,)
    Py_ssize_t rank,               # IN  >= 0, clipped to n_valid - 1
    int n_threads,
):
    """((rank+1)-th smallest valid pointwise depth or +inf if none, n_invalid)."""
    cdef Py_ssize_t n = belief.shape[0], k = belief.shape[1]
    cdef Py_ssize_t p, i, n_parts, step, pos, n_valid = 0
    cdef size_t lab
    cdef double result
    cdef double* vals
    if n == 0:
        return INFINITY, 0
    cdef const real_t* b = &belief[0, 0]
    cdef const label_t* lp = &labels[0]
    # Two passes over contiguous parts: count the valid labels, then write their depths at the
    # part's offset, so the gathered array is in sample order whatever the thread count.
    n_parts = max(1, min(n_threads, n // 16384 + 1))
    step = (n + n_parts - 1) // n_parts
    cdef Py_ssize_t[::1] offset = np.zeros(n_parts + 1, dtype=np.intp)
    for p in prange(n_parts, nogil=True, schedule="static", num_threads=n_threads):
        pos = 0
        for i in range(p * step, min((p + 1) * step, n)):
            if <size_t>lp[i] < <size_t>k:
                pos = pos + 1
        offset[p + 1] = pos
    for p in range(n_parts):
        offset[p + 1] += offset[p]
    n_valid = offset[n_parts]
    if n_valid == 0:
        return INFINITY, n
    vals = <double*>malloc(n_valid * sizeof(double))
    if vals == NULL:
        raise MemoryError()
    try:
        for p in prange(n_parts, nogil=True, schedule="static", num_threads=n_threads):
            pos = offset[p]
            for i in range(p * step, min((p + 1) * step, n)):
                lab = <size_t>lp[i]
                if lab < <size_t>k:
                    vals[pos] = b[i * k + lab]
                    pos = pos + 1
        if rank > n_valid - 1:
            rank = n_valid - 1
        with nogil:
            nth_element(vals, vals + rank, vals + n_valid)
        result = vals[rank]
    finally:
        free(vals)
    return result, n - n_valid
