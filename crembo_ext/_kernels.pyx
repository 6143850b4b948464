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

from cython.parallel cimport parallel, prange, threadid
from libc.stdint cimport uint8_t, int8_t, int16_t, int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset
from libc.math cimport copysign, fabs, signbit, INFINITY, NAN
from libc.float cimport DBL_MAX

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

cdef extern from *:
    """
    #include <stddef.h>
    #include <stdint.h>
    #include <string.h>
    #if defined(__GNUC__) || defined(__clang__)
    #define crembo_prefetch_l2(p) __builtin_prefetch((p), 0, 2)
    #else
    #define crembo_prefetch_l2(p) ((void)0)
    #endif

    /* Counting uint8 votes with byte compares: per block of samples, one uint8 counter per
       (class, sample) (acc[c * w + j], k * w bytes, in L1), and 16 samples at a time:
       counter -= (votes == c) over 16 lanes. That is k compares per 16 votes instead of a
       load-increment-store per vote (measured ~0.5 ns per vote, the old limit). A lane counts at
       most 255 votes, so members go in groups of 255. */
    #if defined(__GNUC__) || defined(__clang__)
    #define CREMBO_U8_LANES 16
    typedef uint8_t crembo_u8v __attribute__((vector_size(16)));
    static inline crembo_u8v crembo_u8v_load(const uint8_t* p) { crembo_u8v v; memcpy(&v, p, 16); return v; }
    static inline void crembo_u8v_store(uint8_t* p, crembo_u8v v) { memcpy(p, &v, 16); }

    /* acc[c * w + j] += #{t < rows : r[t * n + j] == c} for j < wv (a multiple of 16). Eight
       members per pass: their vectors stay in registers while the k counter rows are updated,
       so each counter vector is loaded and stored once per eight members. */
    static void crembo_u8_lanes(const uint8_t* r, ptrdiff_t rows, ptrdiff_t rows_after, ptrdiff_t n,
                                ptrdiff_t wv, ptrdiff_t k, uint8_t* acc, ptrdiff_t w,
                                const uint8_t* next, ptrdiff_t next_w, ptrdiff_t T)
    {
        ptrdiff_t t = 0, j, c, q, u;
        for (; t + 8 <= rows; t += 8) {
            const uint8_t* p = r + t * n;
            /* the rows 16 ahead: a block reads short row segments, too short for the hardware
               prefetcher to ramp up on (past the last row: the first rows of the next block,
               from next, next_w bytes each) */
            for (j = 0; j < wv; j += 16) {
                crembo_u8v v0 = crembo_u8v_load(p + j), v1 = crembo_u8v_load(p + n + j),
                           v2 = crembo_u8v_load(p + 2 * n + j), v3 = crembo_u8v_load(p + 3 * n + j),
                           v4 = crembo_u8v_load(p + 4 * n + j), v5 = crembo_u8v_load(p + 5 * n + j),
                           v6 = crembo_u8v_load(p + 6 * n + j), v7 = crembo_u8v_load(p + 7 * n + j);
                crembo_u8v cv = {0};
                if ((j & 63) == 0)
                    for (q = 16; q < 24; q++) {
                        u = t + q - rows_after;   /* < 0: a row of this block */
                        if (u < 0) crembo_prefetch(p + q * n + j);
                        else if (u < T && j < next_w) crembo_prefetch(next + u * n + j);
                    }
                for (c = 0; c < k; c++) {
                    uint8_t* a = acc + c * w + j;
                    /* a true compare is all ones (-1): subtracting it adds one */
                    crembo_u8v s = (crembo_u8v)(v0 == cv) + (crembo_u8v)(v1 == cv)
                                 + (crembo_u8v)(v2 == cv) + (crembo_u8v)(v3 == cv)
                                 + (crembo_u8v)(v4 == cv) + (crembo_u8v)(v5 == cv)
                                 + (crembo_u8v)(v6 == cv) + (crembo_u8v)(v7 == cv);
                    crembo_u8v_store(a, crembo_u8v_load(a) - s);
                    cv += 1;
                }
            }
        }
        for (; t < rows; t++) {
            const uint8_t* p = r + t * n;
            for (j = 0; j < wv; j += 16) {
                crembo_u8v v0 = crembo_u8v_load(p + j), cv = {0};
                for (c = 0; c < k; c++) {
                    uint8_t* a = acc + c * w + j;
                    crembo_u8v_store(a, crembo_u8v_load(a) - (crembo_u8v)(v0 == cv));
                    cv += 1;
                }
            }
        }
    }
    #else
    #define CREMBO_U8_LANES 0
    static void crembo_u8_lanes(const uint8_t* r, ptrdiff_t rows, ptrdiff_t rows_after, ptrdiff_t n,
                                ptrdiff_t wv, ptrdiff_t k, uint8_t* acc, ptrdiff_t w,
                                const uint8_t* next, ptrdiff_t next_w, ptrdiff_t T) {}
    #endif

    /* Votes of samples [i0, i0 + w) of uint8 votes (T, n), k <= CREMBO_U8_MAX_K. With belief == NULL,
       counts[j * k + c] (uint32, any prior content) is overwritten with the counts; else, when
       T <= 255, belief[j * k + c] = tab[count] directly (counts untouched), or counts is used as
       scratch first. acc: k * w bytes of scratch. Returns the number of votes outside [0, k). */
    static ptrdiff_t crembo_count_u8(const uint8_t* votes, ptrdiff_t T, ptrdiff_t n, ptrdiff_t i0,
                                     ptrdiff_t w, ptrdiff_t k, uint8_t* acc, uint32_t* counts,
                                     double* belief, const double* tab)
    {
        ptrdiff_t g0, g1, t, j, c, m, wv = CREMBO_U8_LANES ? w - w % 16 : 0, total = 0;
        const uint8_t* base = votes + i0;
        for (g0 = 0; g0 < T; g0 = g1) {
            g1 = g0 + 255 < T ? g0 + 255 : T;
            memset(acc, 0, (size_t)(k * w));
            crembo_u8_lanes(base + g0 * n, g1 - g0, T - g0, n, wv, k, acc, w,
                            base + w, i0 + 2 * w <= n ? w : n - i0 - w, T);
            for (t = g0; t < g1; t++) {   /* samples past the last full vector */
                const uint8_t* p = base + t * n;
                for (j = wv; j < w; j++)
                    if (p[j] < k) acc[p[j] * w + j]++;
            }
            if (belief != NULL && g0 == 0 && g1 == T) {   /* one group: straight to the belief */
                for (j = 0; j < w; j++)
                    for (c = 0; c < k; c++) {
                        uint8_t a = acc[c * w + j];
                        total += a;
                        belief[j * k + c] = tab[a];
                    }
                return T * w - total;
            }
            for (j = 0; j < w; j++)
                for (c = 0; c < k; c++) {
                    uint8_t a = acc[c * w + j];
                    total += a;
                    counts[j * k + c] = g0 == 0 ? a : counts[j * k + c] + a;
                }
        }
        if (belief != NULL)
            for (m = 0; m < w * k; m++) belief[m] = tab[counts[m]];
        return T * w - total;
    }
    """
    void crembo_prefetch_l2(const void* p) noexcept nogil

cdef extern from *:
    """
    /* Unique values, fast path: whether any of the float64 patterns keys[a:b] is at neither its
       home slot nor the next one of the hash table (or is the empty marker), without a branch
       per value so that the lookups overlap. Kept scalar: GCC's -O3 vectorizes this loop with
       emulated 64-bit multiplies and gathers, measured 2x slower. */
    #if defined(__GNUC__) && !defined(__clang__)
    #define CREMBO_SCALAR __attribute__((optimize("no-tree-vectorize")))
    #else
    #define CREMBO_SCALAR
    #endif
    #define CREMBO_MISS_BODY(KEY)                                                              \
        uint64_t miss = 0;                                                                     \
        for (ptrdiff_t j = a; j < b; j++) {                                                    \
            uint64_t key = (KEY), h = (key * 0x9E3779B97F4A7C15ULL) >> shift;                  \
            miss |= ((table[h] != key) & (table[(h + 1) & mask] != key)) | (key == empty);     \
        }                                                                                      \
        return miss;
    CREMBO_SCALAR static uint64_t crembo_miss_f64(const double* data, ptrdiff_t a, ptrdiff_t b,
            const uint64_t* table, int shift, uint64_t mask, uint64_t empty) {
        CREMBO_MISS_BODY(crembo_bits(data[j]))
    }
    CREMBO_SCALAR static uint64_t crembo_miss_f32(const float* data, ptrdiff_t a, ptrdiff_t b,
            const uint64_t* table, int shift, uint64_t mask, uint64_t empty) {
        CREMBO_MISS_BODY(crembo_bits((double)data[j]))
    }
    """
    uint64_t crembo_miss_f64(const double* data, Py_ssize_t a, Py_ssize_t b, const uint64_t* table,
                             int shift, uint64_t mask, uint64_t empty) noexcept nogil
    uint64_t crembo_miss_f32(const float* data, Py_ssize_t a, Py_ssize_t b, const uint64_t* table,
                             int shift, uint64_t mask, uint64_t empty) noexcept nogil
    Py_ssize_t crembo_count_u8(const uint8_t* votes, Py_ssize_t T, Py_ssize_t n, Py_ssize_t i0,
                               Py_ssize_t w, Py_ssize_t k, uint8_t* acc, uint32_t* counts,
                               double* belief, const double* tab) noexcept nogil

cdef extern from *:
    """
    /* AVX-512 paths, compiled for that target only and chosen at run time (the build stays
       portable), of the two kernels whose scalar loops were compute-bound: a gather reads 8
       table or belief entries where the scalar loops pay a load, a compare and a branch per
       value. */
    #if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
    #include <immintrin.h>
    #if defined(__GNUC__) && !defined(__clang__)
    /* GCC's gather intrinsics start from an undefined vector and warn about it */
    #pragma GCC diagnostic push
    #pragma GCC diagnostic ignored "-Wuninitialized"
    #pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
    #endif
    #define CREMBO_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw")))
    static int crembo_avx512_supported(void) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
            && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    }

    /* Unique values, fast path: the first position p = q + 16 j whose 16 values are not all at
       their home slot or the next one (or one is the empty marker), or the first with fewer
       than 16 values left. The same test as crembo_miss_f64, 8 values per gather. */
    #define CREMBO_SCAN_BODY(LOADKEYS)                                                           \
        const __m512i mul = _mm512_set1_epi64((long long)0x9E3779B97F4A7C15ULL);                 \
        const __m512i one = _mm512_set1_epi64(1), mk = _mm512_set1_epi64((long long)mask);       \
        const __m512i emp = _mm512_set1_epi64((long long)empty);                                 \
        const __m128i sh = _mm_cvtsi32_si128(shift);                                             \
        for (; q + 16 <= stop; q += 16) {                                                        \
            if (q + 256 + 16 <= stop) {                                                          \
                _mm_prefetch((const char*)(data + q + 256), _MM_HINT_T0);                        \
                _mm_prefetch((const char*)(data + q + 264), _MM_HINT_T0);                        \
            }                                                                                    \
            __mmask8 miss = 0;                                                                   \
            for (int half = 0; half < 16; half += 8) {                                           \
                __m512i key = LOADKEYS(data + q + half);                                         \
                __m512i h = _mm512_srl_epi64(_mm512_mullo_epi64(key, mul), sh);                  \
                __m512i t0 = _mm512_i64gather_epi64(h, (const void*)table, 8);                   \
                __m512i t1 = _mm512_i64gather_epi64(_mm512_and_si512(_mm512_add_epi64(h, one), mk), \
                                                    (const void*)table, 8);                      \
                miss |= (_mm512_cmpneq_epi64_mask(t0, key) & _mm512_cmpneq_epi64_mask(t1, key)) \
                        | _mm512_cmpeq_epi64_mask(key, emp);                                     \
            }                                                                                    \
            if (miss) return q;                                                                  \
        }                                                                                        \
        return q;

    /* Hypothesis depth, fast path: the unsigned min and max of the bit patterns of belief
       row[r * k + lab[r]] over rows r < w8 (a multiple of 8); an invalid label (not in [0, k))
       reads as all ones. When max <= +inf's pattern every value was valid, non-negative and not
       NaN, and then the min pattern is the min value's. */
    #define CREMBO_MIN_BITS_BODY(LOAD)                                                           \
        const __m256i kv = _mm256_set1_epi32((int)k);                                            \
        const __m256i rows = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), kv);  \
        const __m512i ones = _mm512_set1_epi64(-1);                                              \
        __m512i lo = ones, hi = _mm512_setzero_si512();                                          \
        for (ptrdiff_t i = 0; i < w8; i += 8, row += 8 * k) {                                    \
            __m256i l = LOAD(lab + i);                                                           \
            __mmask8 valid = _mm256_cmplt_epu32_mask(l, kv);                                     \
            __m512i x = _mm512_mask_i32gather_epi64(ones, valid, _mm256_add_epi32(rows, l),      \
                                                    (const void*)row, 8);                        \
            lo = _mm512_min_epu64(lo, x);                                                        \
            hi = _mm512_max_epu64(hi, x);                                                        \
        }                                                                                        \
        *lo_out = _mm512_reduce_min_epu64(lo);                                                   \
        *hi_out = _mm512_reduce_max_epu64(hi);

    /* int64 labels: one that does not fit 31 bits reads as -1 (invalid) after narrowing */
    CREMBO_AVX512 static inline __m256i crembo_lab64(const int64_t* p) {
        __m512i v = _mm512_loadu_si512((const void*)p);
        __mmask8 big = _mm512_cmpge_epu64_mask(v, _mm512_set1_epi64(0x7FFFFFFF));
        return _mm512_mask_cvtepi64_epi32(_mm256_set1_epi32(-1), (__mmask8)~big, v);
    }
    #define CREMBO_LAB32(p) _mm256_loadu_si256((const __m256i*)(p))
    CREMBO_AVX512 static void crembo_min_bits_i32(const double* row, ptrdiff_t k, const int32_t* lab,
            ptrdiff_t w8, uint64_t* lo_out, uint64_t* hi_out) {
        CREMBO_MIN_BITS_BODY(CREMBO_LAB32)
    }
    CREMBO_AVX512 static void crembo_min_bits_i64(const double* row, ptrdiff_t k, const int64_t* lab,
            ptrdiff_t w8, uint64_t* lo_out, uint64_t* hi_out) {
        CREMBO_MIN_BITS_BODY(crembo_lab64)
    }

    #define CREMBO_KEYS_F64(p) _mm512_loadu_si512((const void*)(p))
    #define CREMBO_KEYS_F32(p) _mm512_castpd_si512(_mm512_cvtps_pd(_mm256_loadu_ps(p)))
    CREMBO_AVX512 static ptrdiff_t crembo_scan_hits_f64_avx512(const double* data, ptrdiff_t q,
            ptrdiff_t stop, const uint64_t* table, int shift, uint64_t mask, uint64_t empty) {
        CREMBO_SCAN_BODY(CREMBO_KEYS_F64)
    }
    CREMBO_AVX512 static ptrdiff_t crembo_scan_hits_f32_avx512(const float* data, ptrdiff_t q,
            ptrdiff_t stop, const uint64_t* table, int shift, uint64_t mask, uint64_t empty) {
        CREMBO_SCAN_BODY(CREMBO_KEYS_F32)
    }
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC diagnostic pop
    #endif
    #else
    static int crembo_avx512_supported(void) { return 0; }
    static ptrdiff_t crembo_scan_hits_f64_avx512(const double* data, ptrdiff_t q, ptrdiff_t stop,
            const uint64_t* table, int shift, uint64_t mask, uint64_t empty) { return q; }
    static ptrdiff_t crembo_scan_hits_f32_avx512(const float* data, ptrdiff_t q, ptrdiff_t stop,
            const uint64_t* table, int shift, uint64_t mask, uint64_t empty) { return q; }
    static void crembo_min_bits_i32(const double* row, ptrdiff_t k, const int32_t* lab, ptrdiff_t w8,
            uint64_t* lo_out, uint64_t* hi_out) { *lo_out = ~(uint64_t)0; *hi_out = ~(uint64_t)0; }
    static void crembo_min_bits_i64(const double* row, ptrdiff_t k, const int64_t* lab, ptrdiff_t w8,
            uint64_t* lo_out, uint64_t* hi_out) { *lo_out = ~(uint64_t)0; *hi_out = ~(uint64_t)0; }
    #endif
    """
    int crembo_avx512_supported() noexcept nogil
    Py_ssize_t crembo_scan_hits_f64_avx512(const double* data, Py_ssize_t q, Py_ssize_t stop, const uint64_t* table,
                                           int shift, uint64_t mask, uint64_t empty) noexcept nogil
    Py_ssize_t crembo_scan_hits_f32_avx512(const float* data, Py_ssize_t q, Py_ssize_t stop, const uint64_t* table,
                                           int shift, uint64_t mask, uint64_t empty) noexcept nogil
    void crembo_min_bits_i32(const double* row, Py_ssize_t k, const int32_t* lab, Py_ssize_t w8,
                             uint64_t* lo, uint64_t* hi) noexcept nogil
    void crembo_min_bits_i64(const double* row, Py_ssize_t k, const int64_t* lab, Py_ssize_t w8,
                             uint64_t* lo, uint64_t* hi) noexcept nogil


# Whether the AVX-512 paths run: the CPU has them, and tests may switch them off to check the
# portable loops on the same machine (``set_simd``).
cdef bint AVX512 = crembo_avx512_supported() != 0


def simd_available():
    """Whether this CPU (and build) has the AVX-512 kernel paths."""
    return crembo_avx512_supported() != 0


def set_simd(bint enabled):
    """Use the AVX-512 paths when available (default) or the portable loops; returns the old setting."""
    global AVX512
    old = AVX512
    AVX512 = enabled and crembo_avx512_supported() != 0
    return old


# uint8 votes with at most this many classes are counted with byte compares (k per 16 votes);
# past it one increment per vote is cheaper.
cdef Py_ssize_t U8_MAX_K = 32

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
    cdef uint8_t* acc
    if vote_t is uint8_t:
        if k <= U8_MAX_K:
            with nogil, parallel(num_threads=n_threads):
                acc = <uint8_t*>malloc(B * k)   # one per thread: the block's byte counters
                for b in prange(n_blocks, schedule="static"):
                    i0 = b * B
                    i1 = min(i0 + B, n)
                    n_bad += crembo_count_u8(base, T, n, i0, i1 - i0, k, acc, out + i0 * k, NULL, NULL)
                free(acc)
            return n_bad
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
    cdef uint8_t* acc
    if vote_t is uint8_t:
        if k <= U8_MAX_K:
            with nogil, parallel(num_threads=n_threads):
                acc = <uint8_t*>malloc(B * k)   # one per thread: the block's byte counters
                for b in prange(n_blocks, schedule="static"):
                    i0 = b * B
                    i1 = min(i0 + B, n)
                    n_bad += crembo_count_u8(base, T, n, i0, i1 - i0, k, acc,
                                             scr + threadid() * scr_stride, out + i0 * k, tab)
                free(acc)
            return n_bad
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

def softmax_shift_into(
    const real_t[:, ::1] logits,  # IN  (n, k)
    double[:, ::1] out,           # OUT (n, k) logits - row max, in float64
):
    """Softmax step 1 (serial, without the GIL: the caller runs row chunks in threads)."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i, c
    cdef double m
    cdef const real_t* z
    cdef double* e
    if n == 0 or k == 0:
        return
    with nogil:
        for i in range(n):
            z = &logits[i, 0]
            e = &out[i, 0]
            m = z[0]
            for c in range(1, k):
                if z[c] > m:
                    m = z[c]
            for c in range(k):
                e[c] = <double>z[c] - m


def softmax_divide(double[:, ::1] e):  # INOUT (n, k) exp values -> divided by their row sums
    """Softmax step 3 (serial, without the GIL): sums left to right, then divisions."""
    cdef Py_ssize_t n = e.shape[0], k = e.shape[1], i, c
    cdef double total
    cdef double* r
    if n == 0 or k == 0:
        return
    with nogil:
        for i in range(n):
            r = &e[i, 0]
            total = 0.0
            for c in range(k):
                total = total + r[c]
            for c in range(k):
                r[c] = r[c] / total


cdef inline int8_t _sum_status(double total, double atol) noexcept nogil:
    if fabs(total - 1.0) <= atol:   # NaN sums count as bad
        return ROW_OK
    return ROW_BAD_SUM


cdef int8_t _row_status(const real_t* p, Py_ssize_t k, double atol, double* total_out) noexcept nogil:
    """Status of one row, the slow general path (see _status_rows)."""
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
    return _sum_status(total, atol)


cdef inline double _fmin(double a, double b) noexcept nogil:
    return b if b < a else a


cdef void _status_rows(
    const real_t* p,    # IN  rows i0:i1 of the (n, k) matrix, from row i0 on
    Py_ssize_t k,
    Py_ssize_t rows,
    double atol,
    int8_t* status,     # OUT (rows,)
    double* totals,     # OUT (rows,) left-to-right float64 sums
) noexcept nogil:
    """Four rows at a time: each row's sum is a chain of dependent adds, and four independent
    chains keep the adder busy (measured ~3x over one row at a time). A group is clean when its
    sums are finite (a NaN or +-inf value makes its row's sum NaN or inf) and its minimum is >= 0;
    only a group that is not is redone row by row to tell the cases apart."""
    cdef Py_ssize_t i = 0, c, r
    cdef double t0, t1, t2, t3, m0, m1, m2, m3, x0, x1, x2, x3
    cdef const real_t* q
    while i + 4 <= rows:
        q = p + i * k
        t0 = 0.0
        t1 = 0.0
        t2 = 0.0
        t3 = 0.0
        m0 = q[0]
        m1 = q[k]
        m2 = q[2 * k]
        m3 = q[3 * k]
        for c in range(k):
            x0 = q[c]
            x1 = q[k + c]
            x2 = q[2 * k + c]
            x3 = q[3 * k + c]
            t0 = t0 + x0
            t1 = t1 + x1
            t2 = t2 + x2
            t3 = t3 + x3
            m0 = _fmin(m0, x0)
            m1 = _fmin(m1, x1)
            m2 = _fmin(m2, x2)
            m3 = _fmin(m3, x3)
        if _fmin(_fmin(m0, m1), _fmin(m2, m3)) >= 0.0 and fabs(t0 + t1 + t2 + t3) <= DBL_MAX:
            status[i] = _sum_status(t0, atol)
            status[i + 1] = _sum_status(t1, atol)
            status[i + 2] = _sum_status(t2, atol)
            status[i + 3] = _sum_status(t3, atol)
            totals[i] = t0
            totals[i + 1] = t1
            totals[i + 2] = t2
            totals[i + 3] = t3
        else:
            for r in range(i, i + 4):
                status[r] = _row_status(p + r * k, k, atol, &totals[r])
        i += 4
    while i < rows:
        status[i] = _row_status(p + i * k, k, atol, &totals[i])
        i += 1


# Rows per parallel task of the row-status kernels (sums kept in a per-thread buffer).
cdef enum:
    ROW_BLOCK = 256


def belief_status_into(
    const real_t[:, ::1] proba,   # IN  (n, k)
    int8_t[::1] status,           # OUT (n,) ROW_* code per row
    double atol,
    int n_threads,
):
    cdef Py_ssize_t n = proba.shape[0], k = proba.shape[1], b, i0, n_blocks
    cdef double* totals
    if n == 0 or k == 0:
        return
    cdef const real_t* p = &proba[0, 0]
    cdef int8_t* st = &status[0]
    n_blocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    with nogil, parallel(num_threads=n_threads):
        totals = <double*>malloc(ROW_BLOCK * sizeof(double))   # one per thread
        for b in prange(n_blocks, schedule="static"):
            i0 = b * ROW_BLOCK
            _status_rows(p + i0 * k, k, min(<Py_ssize_t>ROW_BLOCK, n - i0), atol, st + i0, totals)
        free(totals)


def normalize_belief_into(
    const real_t[:, ::1] proba,   # IN  (n, k)
    double[:, ::1] belief,        # OUT (n, k) each row divided by its sum
    int8_t[::1] status,           # OUT (n,) ROW_* code per row
    double atol,
    int n_threads,
):
    cdef Py_ssize_t n = proba.shape[0], k = proba.shape[1], b, i0, rows, i, c, n_blocks
    cdef double* totals
    cdef double total
    cdef const real_t* q
    cdef double* o
    if n == 0 or k == 0:
        return
    cdef const real_t* p = &proba[0, 0]
    cdef double* out = &belief[0, 0]
    cdef int8_t* st = &status[0]
    n_blocks = (n + ROW_BLOCK - 1) // ROW_BLOCK
    with nogil, parallel(num_threads=n_threads):
        totals = <double*>malloc(ROW_BLOCK * sizeof(double))   # one per thread
        for b in prange(n_blocks, schedule="static"):
            i0 = b * ROW_BLOCK
            rows = min(<Py_ssize_t>ROW_BLOCK, n - i0)
            _status_rows(p + i0 * k, k, rows, atol, st + i0, totals)
            # the divisions in a second pass over the block (still in L1/L2): no sum chain in
            # the way
            q = p + i0 * k
            o = out + i0 * k
            for i in range(rows):
                total = totals[i]
                for c in range(k):
                    o[c] = <double>q[c] / total
                q = q + k
                o = o + k
        free(totals)


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


cdef Py_ssize_t PREFETCH_VALUES = 256   # values read ahead in _unique_part


cdef inline uint64_t _key_of(const real_t* data, Py_ssize_t j) noexcept nogil:
    if real_t is double:
        return (<const uint64_t*>data)[j]
    else:
        return crembo_bits(<double>data[j])


cdef uint8_t _unique_part(const real_t* data, Py_ssize_t start, Py_ssize_t stop, HashSet* s) noexcept nogil:
    """Insert the float64 bit patterns of data[start:stop] into s; return the part's flags.

    Keys are the raw patterns (+0.0 and -0.0 differ), and a value's flags (NaN, which zero) are
    taken when it is inserted: every value found in the table was flagged then.
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
        if AVX512:   # skip the chunks whose values are all found, 8 per gather
            if real_t is double:
                q = crembo_scan_hits_f64_avx512(data, q, stop, keys, shift, mask, EMPTY)
            else:
                q = crembo_scan_hits_f32_avx512(data, q, stop, keys, shift, mask, EMPTY)
            if q >= stop:
                break
        q1 = min(q + 16, stop)
        # The hardware prefetcher keeps too few lines in flight for this loop (latency-bound at
        # ~4 ns per value without these): ask for the values 2 KiB ahead.
        if q + PREFETCH_VALUES + 16 <= stop:
            crembo_prefetch(data + q + PREFETCH_VALUES)
            crembo_prefetch(data + q + PREFETCH_VALUES + 8)
        # Fast path, one branch per 16 values: each value is at its home slot or the next one
        # (nearly always, at load <= 1/4); the per-value probe loop was the limit (~2 ns per
        # value). The empty marker is a NaN pattern and must take the slow path to be flagged.
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
                    flags = flags | (x != x) | ((key == NEG_ZERO) << 3) | ((key == 0) << 2)
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


# Depths of many hypotheses. Each keeps a running minimum and flags: NaN seen, and which signs of
# zero were seen (np.min's sign for a zero minimum reached with both is the caller's to find).
# The AVX-512 path takes the unsigned min and max of a block's gathered float64 bit patterns and
# tests once: if the max is at most +inf's pattern, every value was valid, non-negative and not
# NaN, and the min pattern is the min value's (+0.0 for a zero). Other blocks (rare: invalid
# labels, NaN, negative values, -0.0) and the portable path go through the scalar loops.
cdef uint8_t D_NAN = 1, D_NEG_ZERO = 2, D_POS_ZERO = 4
cdef uint64_t INF_BITS = 0x7FF0000000000000ULL


cdef double DENORM_MIN = 4.9406564584124654e-324   # the least positive double


cdef inline void _depth_step(double x, double* m, double* t, uint8_t* flags) noexcept nogil:
    """Off the hot path, for a value with ``not (x >= t)``: a new minimum, NaN, or (t is the
    least positive double once the minimum is zero) a zero, whose sign is noted."""
    if x != x:
        flags[0] |= D_NAN
        return
    if x == 0:
        flags[0] |= D_NEG_ZERO if signbit(x) else D_POS_ZERO
    if x < m[0]:
        m[0] = x
        t[0] = x if x != 0 else DENORM_MIN


cdef inline void _min_depth_range(
    const real_t* b, Py_ssize_t k, const label_t* labels, Py_ssize_t i0, Py_ssize_t i1,
    double* cur_min, uint8_t* flags, Py_ssize_t* n_bad,
) noexcept nogil:
    """One hypothesis over rows [i0, i1): running minimum (strict <), flags, #invalid labels."""
    cdef Py_ssize_t i, bad = 0
    cdef size_t lab
    cdef double x, m = cur_min[0]
    cdef double t = m if m != 0 else DENORM_MIN
    cdef uint8_t fl = 0
    for i in range(i0, i1):
        lab = <size_t>labels[i]
        if lab < <size_t>k:
            x = b[i * k + lab]
            if not (x >= t):
                _depth_step(x, &m, &t, &fl)
        else:
            bad += 1
    cur_min[0] = m
    flags[0] |= fl
    n_bad[0] += bad


cdef inline void _pair_step(const real_t* row, size_t kk, size_t u, size_t v, double* ma, double* mb,
                            double* ta, double* tb, uint8_t* fa, uint8_t* fb, Py_ssize_t* bad) noexcept nogil:
    cdef double x, y
    if u < kk:
        x = row[u]
        if not (x >= ta[0]):
            _depth_step(x, ma, ta, fa)
    else:
        bad[0] += 1
    if v < kk:
        y = row[v]
        if not (y >= tb[0]):
            _depth_step(y, mb, tb, fb)
    else:
        bad[0] += 1


cdef inline void _min_depth_pair(
    const real_t* b, Py_ssize_t k, const label_t* la, const label_t* lb, Py_ssize_t i0, Py_ssize_t i1,
    Py_ssize_t ahead, Py_ssize_t n, double* min_a, double* min_b, uint8_t* flags_a, uint8_t* flags_b,
    Py_ssize_t* n_bad,
) noexcept nogil:
    """Two hypotheses in one pass: the row addressing and the loop overhead are shared, and the
    two gathers overlap. ``not (x >= t)`` is the one test on the hot path; it is true for a new
    minimum, NaN, and a zero once the minimum is zero, all rare, told apart off the hot path.
    Labels are prefetched ``ahead`` rows on (into L2) while within n."""
    cdef Py_ssize_t i, e, bad = 0
    cdef size_t kk = <size_t>k
    cdef double ma = min_a[0], mb = min_b[0]
    cdef double ta = ma if ma != 0 else DENORM_MIN, tb = mb if mb != 0 else DENORM_MIN
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
            _pair_step(row, kk, <size_t>la[i + e], <size_t>lb[i + e], &ma, &mb, &ta, &tb, &fa, &fb, &bad)
            row = row + k
        i = i + 8
    while i < i1:
        _pair_step(row, kk, <size_t>la[i], <size_t>lb[i], &ma, &mb, &ta, &tb, &fa, &fb, &bad)
        row = row + k
        i = i + 1
    min_a[0] = ma
    min_b[0] = mb
    flags_a[0] |= fa
    flags_b[0] |= fb
    n_bad[0] += bad


cdef inline void _min_depths_block(
    const real_t* b, Py_ssize_t k, const label_t* L, Py_ssize_t n, Py_ssize_t j, Py_ssize_t j1,
    Py_ssize_t i0, Py_ssize_t i1, bint simd, double* cur_min, uint8_t* flags, Py_ssize_t* n_bad,
) noexcept nogil:
    """Hypotheses j (and j1 when j1 > j) over rows [i0, i1): their running minima and flags are
    cur_min[0], flags[0] (and cur_min[j1 - j], flags[j1 - j])."""
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
                if lo == 0:
                    flags[0] |= D_POS_ZERO
            else:
                _min_depth_range(b, k, L + j * n, i0, i0 + w, cur_min, flags, n_bad)
        if i0 + w < i1:
            _min_depth_range(b, k, L + j * n, i0 + w, i1, cur_min, flags, n_bad)
    elif j1 > j:
        _min_depth_pair(b, k, L + j * n, L + j1 * n, i0, i1, i1 - i0, n, cur_min, cur_min + (j1 - j),
                        flags, flags + (j1 - j), n_bad)
    else:
        _min_depth_range(b, k, L + j * n, i0, i1, cur_min, flags, n_bad)


def hypothesis_depths_into(
    const real_t[:, ::1] belief,         # IN  (n, k)
    const label_t[:, ::1] label_matrix,  # IN  (m, n) predictions of m hypotheses
    double[::1] depths,                  # OUT (m,) min over valid i; +inf if none; NaN if a NaN
    uint8_t[::1] mixed_zeros,            # OUT (m,) 1 where the minimum is a zero reached with both
                                         #     signs: np.min's sign is the caller's to find
    int n_threads,
):
    """Depth of each hypothesis; returns the total number of invalid labels."""
    cdef Py_ssize_t n = belief.shape[0], k = belief.shape[1], m = label_matrix.shape[0]
    cdef Py_ssize_t j, j1, p, i0, i1, i_end, n_parts, step, n_bad = 0, bad, q, q_end
    # gather offsets within 8 rows are 32-bit on the AVX-512 path
    cdef bint simd = AVX512 and real_t is double and k < (1 << 27)
    # Samples per pass over the hypotheses: the block's belief rows stay in L1 while all m
    # hypotheses gather from them (a 4096-row block lived in L2, and moving its lines to L1 once
    # per hypothesis was the limit). The AVX-512 gathers then wait on the m label streams: a
    # 12 KiB block, leaving L1 room for them, with the labels prefetched two blocks ahead in one
    # burst, measured 1.3x faster than 24 KiB and one block ahead. The portable loops keep 24 KiB
    # and their labels prefetched one block ahead, a line per 8 rows (faster for them).
    cdef Py_ssize_t BLOCK = max(64, min(4096, (12288 if simd else 24576) // (k * <Py_ssize_t>sizeof(real_t)) // 16 * 16))
    if m == 1:   # one pass over the belief: nothing to keep cached, long blocks
        BLOCK = 4096
    cdef Py_ssize_t LINE_F = 64 // sizeof(real_t), LINE_L = 64 // sizeof(label_t)
    cdef double cur
    cdef uint8_t fl
    mixed_zeros[:] = 0
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
    cdef uint8_t[:, ::1] part_flags = np.zeros((n_parts, m), dtype=np.uint8)
    cdef Py_ssize_t[::1] part_bad = np.zeros(n_parts, dtype=np.intp)
    if m >= n:
        # Many hypotheses: each thread takes whole hypotheses.
        for j in prange(m, nogil=True, schedule="static", num_threads=n_threads):
            bad = 0
            _min_depths_block(b, k, L, n, j, j, 0, n, simd, &part_min[0, j], &part_flags[0, j], &bad)
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
                    _min_depths_block(b, k, L, n, j, j1, i0, i1, simd, &part_min[p, j], &part_flags[p, j],
                                      &part_bad[p])
                    j = j1 + 1
                i0 = i1
        for p in range(n_parts):
            n_bad += part_bad[p]
    for j in range(m):
        cur = INFINITY
        fl = 0
        for p in range(n_parts):
            fl |= part_flags[p, j]
            if part_min[p, j] < cur:
                cur = part_min[p, j]
        if fl & D_NAN:
            depths[j] = NAN
        elif cur == 0 and fl & D_NEG_ZERO and fl & D_POS_ZERO:
            depths[j] = cur
            mixed_zeros[j] = 1
        elif cur == 0 and fl & (D_NEG_ZERO | D_POS_ZERO):
            depths[j] = copysign(0.0, -1.0 if fl & D_NEG_ZERO else 1.0)
        else:
            depths[j] = cur
    return n_bad
