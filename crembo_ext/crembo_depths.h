/* Hypothesis depths (the _depths module), AVX-512 path: a gather reads 8 belief entries where
   the portable loop pays a load, a compare and a branch per row. */
#ifndef CREMBO_DEPTHS_H
#define CREMBO_DEPTHS_H

#include "crembo_common.h"

#if CREMBO_HAVE_AVX512_PATHS
CREMBO_GATHERS_BEGIN
/* The unsigned min and max of the bit patterns of belief row[r * k + lab[r]] over rows r < w8
   (a multiple of 8); an invalid label (not in [0, k)) reads as all ones. When max <= +inf's
   pattern every value was valid, non-negative and not NaN, and then the min pattern is the
   min value's. */
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

CREMBO_GATHERS_END
#else
static void crembo_min_bits_i32(const double* row, ptrdiff_t k, const int32_t* lab, ptrdiff_t w8,
        uint64_t* lo_out, uint64_t* hi_out) { *lo_out = ~(uint64_t)0; *hi_out = ~(uint64_t)0; }
static void crembo_min_bits_i64(const double* row, ptrdiff_t k, const int64_t* lab, ptrdiff_t w8,
        uint64_t* lo_out, uint64_t* hi_out) { *lo_out = ~(uint64_t)0; *hi_out = ~(uint64_t)0; }
#endif

#endif
