# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Vote counting behind ``crembo.backends.cython_backend`` (spec: ``backends/reference.py``).

Samples go in blocks, so the counts of one block stay in L1/L2 while the T member rows stream
through (each read of votes[t, i0:i1] is contiguous). Every ``*_into`` function writes into
outputs the caller allocated and returns the number of votes outside [0, k) (skipped, never an
error). Integer counts are exact, so results do not depend on ``n_threads``.
"""

import numpy as np

from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport uint8_t, uint32_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from _common cimport vote_t, crembo_prefetch

cdef extern from "crembo_votes.h":
    Py_ssize_t CREMBO_U8_MAX_K
    Py_ssize_t crembo_count_u8(const uint8_t* votes, Py_ssize_t T, Py_ssize_t n, Py_ssize_t i0,
                               Py_ssize_t w, Py_ssize_t k, uint8_t* acc, uint32_t* counts,
                               double* belief, const double* tab) noexcept nogil

# Rows of votes prefetched ahead of the pair being counted. Each block reads T short row
# segments, too short for the hardware prefetcher to ramp up on; prefetching them explicitly
# overlaps the memory reads with the counting.
cdef Py_ssize_t PREFETCH_ROWS = 4


cdef inline Py_ssize_t _block_size(Py_ssize_t k) noexcept nogil:
    # The block's uint32 counts take ~20 KiB (L1) for k <= 80; >= 64 samples keeps each row
    # segment several cache lines long when k is large.
    cdef Py_ssize_t b = 5120 // k
    return max(64, min(1024, b))


def vote_block_size(Py_ssize_t k):
    """Samples per block of the vote-counting kernels (sizes the caller's scratch buffer)."""
    return _block_size(k)


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


cdef Py_ssize_t _count_bytewise(
    const uint8_t* votes,       # IN  (T, n) C-contiguous, k <= CREMBO_U8_MAX_K classes
    Py_ssize_t T,
    Py_ssize_t n,
    Py_ssize_t k,
    uint32_t* counts,           # OUT (n, k) counts; with belief: TMP per-thread counts
    Py_ssize_t scratch_stride,  # with belief: the counts of thread t start at t * scratch_stride
    double* belief,             # OUT (n, k) tab[count], or NULL to write counts
    const double* tab,          # IN  (T + 1,) with belief
    int n_threads,
) noexcept nogil:
    """crembo_count_u8 over every block, in parallel; returns the number of invalid votes, or
    -1 when a thread's byte counters could not be allocated."""
    cdef Py_ssize_t B = _block_size(k), b, i0, w, n_bad = 0, failed = 0
    cdef uint8_t* acc = NULL
    with parallel(num_threads=n_threads):
        acc = <uint8_t*>malloc(B * k)   # one per thread: the block's byte counters
        for b in prange((n + B - 1) // B, schedule="static"):
            i0 = b * B
            w = min(B, n - i0)
            if acc == NULL:
                failed += 1
            elif belief == NULL:
                n_bad += crembo_count_u8(votes, T, n, i0, w, k, acc, counts + i0 * k, NULL, NULL)
            else:
                n_bad += crembo_count_u8(votes, T, n, i0, w, k, acc, counts + threadid() * scratch_stride,
                                         belief + i0 * k, tab)
        free(acc)
    return -1 if failed else n_bad


cdef inline Py_ssize_t _allocated(Py_ssize_t n_bad) except -1:
    if n_bad < 0:
        raise MemoryError("crembo: no memory for the vote counters")
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
    if vote_t is uint8_t:
        if k <= CREMBO_U8_MAX_K:
            with nogil:
                n_bad = _count_bytewise(base, T, n, k, out, 0, NULL, NULL, n_threads)
            return _allocated(n_bad)
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
    cdef Py_ssize_t b, i0, i1, j, m, n_bad = 0
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
    if vote_t is uint8_t:
        if k <= CREMBO_U8_MAX_K:
            with nogil:
                n_bad = _count_bytewise(base, T, n, k, scr, scr_stride, out, tab, n_threads)
            return _allocated(n_bad)
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
