/* Unique values (the _unique module): whether a run of float64 bit patterns is all present in
   an open-addressing hash table (Fibonacci hashing: the top bits of key * 0x9E3779B97F4A7C15).
   Nearly every key sits at its home slot or the next one (the table's load is <= 1/4), so these
   checks look at those two slots only, and the caller looks closer where they say "miss". */
#ifndef CREMBO_UNIQUE_H
#define CREMBO_UNIQUE_H

#include "crembo_common.h"

/* The pattern of an empty slot: a NaN, so no value of a NaN-free belief collides with it. */
#define CREMBO_EMPTY_SLOT UINT64_MAX

/* Portable: whether any of the float64 patterns keys[a:b] is at neither its
   home slot nor the next one of the hash table (or is the empty marker), without a branch
   per value so that the lookups overlap. Kept scalar: GCC's -O3 vectorizes this loop with
   emulated 64-bit multiplies and gathers, which are slower than the scalar loop. */
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

#if CREMBO_HAVE_AVX512_PATHS
CREMBO_GATHERS_BEGIN
/* AVX-512: the first position p = q + 16 j whose 16 values are not all at their home slot or
   the next one (or one is the empty marker), or the first with fewer than 16 values left. The
   same test as crembo_miss_f64, 8 values per gather. */
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
CREMBO_GATHERS_END
#else
static ptrdiff_t crembo_scan_hits_f64_avx512(const double* data, ptrdiff_t q, ptrdiff_t stop,
        const uint64_t* table, int shift, uint64_t mask, uint64_t empty) { return q; }
static ptrdiff_t crembo_scan_hits_f32_avx512(const float* data, ptrdiff_t q, ptrdiff_t stop,
        const uint64_t* table, int shift, uint64_t mask, uint64_t empty) { return q; }
#endif

#endif
