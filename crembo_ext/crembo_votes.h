/* Counting uint8 votes with byte compares, the _votes module's path for few classes: per block
   of samples, one uint8 counter per (class, sample) (acc[c * w + j], k * w bytes, in L1), and
   16 samples at a time: counter -= (votes == c) over 16 lanes. That is k compares per 16 votes
   instead of a dependent load-increment-store per vote. A lane counts at most 255 votes, so
   members go in groups of 255. */
#ifndef CREMBO_VOTES_H
#define CREMBO_VOTES_H

#include "crembo_common.h"

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

/* uint8 votes with at most this many classes are counted with byte compares (k per 16
   votes); past it one increment per vote is cheaper. */
#define CREMBO_U8_MAX_K 32

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

#endif
