# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Unique values behind ``crembo.backends.cython_backend`` (spec: ``backends/reference.py``).

Few distinct values: one open-addressing hash set of float64 bit patterns per contiguous part
(``unique_values_hashed``); many: the caller sorts parts and merges them (``merge_unique_into``).
"""

import numpy as np

from cython.parallel cimport prange
from libc.stdint cimport uint8_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.math cimport NAN

from _common cimport real_t, crembo_bits, crembo_from_bits, crembo_prefetch, crembo_avx512_supported

cdef extern from "crembo_unique.h":
    const uint64_t EMPTY "CREMBO_EMPTY_SLOT"
    uint64_t crembo_miss_f64(const double* data, Py_ssize_t a, Py_ssize_t b, const uint64_t* table,
                             int shift, uint64_t mask, uint64_t empty) noexcept nogil
    uint64_t crembo_miss_f32(const float* data, Py_ssize_t a, Py_ssize_t b, const uint64_t* table,
                             int shift, uint64_t mask, uint64_t empty) noexcept nogil
    Py_ssize_t crembo_scan_hits_f64_avx512(const double* data, Py_ssize_t q, Py_ssize_t stop,
                                           const uint64_t* table, int shift, uint64_t mask,
                                           uint64_t empty) noexcept nogil
    Py_ssize_t crembo_scan_hits_f32_avx512(const float* data, Py_ssize_t q, Py_ssize_t stop,
                                           const uint64_t* table, int shift, uint64_t mask,
                                           uint64_t empty) noexcept nogil


# The empty-slot marker is a NaN pattern. A NaN in the data sets F_NAN and the caller discards the
# table for np.unique, so a NaN key (even this one: it is then found "present") does no harm.
cdef Py_ssize_t HASH_MAX_CAP = 1 << 17   # 1 MiB of keys per part; more distinct -> sort instead

# Flags per part.
cdef uint8_t F_NAN = 1, F_OVERFLOW = 2


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


cdef Py_ssize_t PREFETCH_VALUES = 256   # values read ahead in _unique_part


cdef inline uint64_t _key_of(const real_t* data, Py_ssize_t j) noexcept nogil:
    if real_t is double:
        return (<const uint64_t*>data)[j]
    else:
        return crembo_bits(<double>data[j])


cdef uint8_t _unique_part(const real_t* data, Py_ssize_t start, Py_ssize_t stop, HashSet* s,
                          bint simd) noexcept nogil:
    """Insert the float64 bit patterns of data[start:stop] into s; return the part's flags.

    Keys are the raw patterns (+0.0 and -0.0 are two keys; the caller's np.unique makes them
    one), and a NaN is flagged when it is inserted: every value found in the table was flagged
    then.
    """
    cdef Py_ssize_t j, q, q1
    cdef double x
    cdef uint64_t key, h, cur, mask, miss
    cdef uint64_t* keys
    cdef int shift
    cdef uint8_t flags = 0
    if _hs_init(s, 1024, 64 - 10) != 0:   # 8 KiB: stays in L1
        return F_OVERFLOW
    # The table's fields live in locals (the compiler cannot keep them in registers through
    # the struct pointer); they are reloaded only after an insertion, which is rare.
    keys = s.keys
    shift = s.shift
    mask = <uint64_t>(s.cap - 1)
    q = start
    while q < stop:
        if simd:   # skip the chunks whose values are all found, 8 per gather
            if real_t is double:
                q = crembo_scan_hits_f64_avx512(data, q, stop, keys, shift, mask, EMPTY)
            else:
                q = crembo_scan_hits_f32_avx512(data, q, stop, keys, shift, mask, EMPTY)
            if q >= stop:
                break
        q1 = min(q + 16, stop)
        # The hardware prefetcher keeps too few lines in flight for this loop, which is
        # latency-bound without these: ask for the values 2 KiB ahead.
        if q + PREFETCH_VALUES + 16 <= stop:
            crembo_prefetch(data + q + PREFETCH_VALUES)
            crembo_prefetch(data + q + PREFETCH_VALUES + 8)
        # Fast path, one branch per 16 values: each value is at its home slot or the next one
        # (nearly always, at load <= 1/4), so the per-value probe loop runs only for the rare
        # misses. The empty marker is a NaN pattern and must take the slow path to be flagged.
        if real_t is double:
            miss = crembo_miss_f64(data, q, q1, keys, shift, mask, EMPTY)
        else:
            miss = crembo_miss_f32(data, q, q1, keys, shift, mask, EMPTY)
        if miss == 0:
            q = q1
            continue
        for j in range(q, q1):   # slow path: look up (and insert) one value at a time
            key = _key_of(data, j)
            if key == EMPTY:   # it would be "found" in any empty slot: flag it as the NaN it is
                flags = flags | F_NAN
                continue
            h = (key * 0x9E3779B97F4A7C15ULL) >> shift
            while True:
                cur = keys[h]
                if cur == key:
                    break
                if cur == EMPTY:
                    x = crembo_from_bits(key)
                    if x != x:
                        flags = flags | F_NAN
                    keys[h] = key
                    s.size += 1
                    # load factor <= 1/4: nearly every lookup then ends at its first slot
                    if 4 * s.size > s.cap:
                        if _hs_grow(s) != 0:
                            return flags | F_OVERFLOW
                        keys = s.keys
                        shift = s.shift
                        mask = <uint64_t>(s.cap - 1)
                    break
                h = (h + 1) & mask
        q = q1
    return flags


def unique_values_hashed(
    const real_t[:, ::1] belief,   # IN  (n, k)
    int n_threads,
    bint simd=True,                # use the AVX-512 path where the CPU has it
):
    """Distinct values of ``belief`` as an unsorted float64 array (duplicates across parts possible).

    Returns None when the caller must sort instead: a NaN was seen, or too many distinct values.
    """
    cdef Py_ssize_t total = belief.shape[0] * belief.shape[1]
    cdef Py_ssize_t n_parts = max(1, min(n_threads, total // 4096 + 1))
    cdef Py_ssize_t p, pos, step
    cdef const real_t* data
    cdef HashSet* sets
    cdef uint8_t flags = 0
    cdef uint8_t[::1] part_flags = np.zeros(n_parts, dtype=np.uint8)
    if total == 0:
        return np.empty(0, dtype=np.float64)
    simd = simd and crembo_avx512_supported() != 0
    data = &belief[0, 0]
    step = (total + n_parts - 1) // n_parts
    sets = <HashSet*>malloc(n_parts * sizeof(HashSet))
    if sets == NULL:
        raise MemoryError()
    for p in range(n_parts):
        sets[p].keys = NULL
    try:
        for p in prange(n_parts, nogil=True, schedule="static", num_threads=n_threads):
            part_flags[p] = _unique_part(data, p * step, min((p + 1) * step, total), &sets[p], simd)
        for p in range(n_parts):
            flags |= part_flags[p]
        if flags & (F_NAN | F_OVERFLOW):
            return None
        pos = 0
        for p in range(n_parts):
            pos += sets[p].size
        out = np.empty(pos, dtype=np.float64)
        _collect(out, sets, n_parts)
        return out
    finally:
        for p in range(n_parts):
            free(sets[p].keys)
        free(sets)


cdef void _collect(double[::1] out, HashSet* sets, Py_ssize_t n_parts):
    cdef Py_ssize_t p, j, pos = 0
    cdef uint64_t key
    for p in range(n_parts):
        for j in range(sets[p].cap):
            key = sets[p].keys[j]
            if key != EMPTY:
                out[pos] = crembo_from_bits(key)
                pos += 1


cdef inline Py_ssize_t _dedupe_tail(const double* a, Py_ssize_t i, Py_ssize_t na, double* out,
                                    Py_ssize_t m, double* last) noexcept nogil:
    cdef double x, prev = last[0]
    while i < na:
        x = a[i]
        out[m] = x
        m += x != prev
        prev = x
        i += 1
    last[0] = prev
    return m


def merge_unique_into(
    const double[::1] a,   # IN  sorted, no NaN
    const double[::1] b,   # IN  sorted, no NaN (may be empty)
    double[::1] out,       # OUT (len(a) + len(b),) the distinct values of both, sorted, first m
):
    """Merge two sorted arrays keeping one value of each run of equal values; return m.

    Branch-free (selects and a conditional advance instead of unpredictable branches): the
    data-dependent branches of a plain merge mispredict about half the time.
    """
    cdef Py_ssize_t na = a.shape[0], nb = b.shape[0], i = 0, j = 0, m = 0
    cdef double x, ai, bj, last = NAN   # x != NaN: the first value is always kept
    cdef bint take_b
    cdef const double* pa = &a[0] if na else NULL
    cdef const double* pb = &b[0] if nb else NULL
    cdef double* po = &out[0] if na + nb else NULL
    with nogil:
        while i < na and j < nb:
            ai = pa[i]
            bj = pb[j]
            take_b = bj < ai
            x = bj if take_b else ai
            j += take_b
            i += 1 - take_b
            po[m] = x
            m += x != last
            last = x
        m = _dedupe_tail(pa, i, na, po, m, &last)
        m = _dedupe_tail(pb, j, nb, po, m, &last)
    return m
