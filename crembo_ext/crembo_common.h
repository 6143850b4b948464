/* Helpers shared by the kernel modules: float64 bit patterns, prefetch hints, and the run-time
   check for the AVX-512 paths (compiled for that target only, so the build stays portable). */
#ifndef CREMBO_COMMON_H
#define CREMBO_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t crembo_bits(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline double crembo_from_bits(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

/* Read hints: into L1 (locality 3) and into L2 (locality 2). */
#if defined(__GNUC__) || defined(__clang__)
#define crembo_prefetch(p) __builtin_prefetch((p), 0, 3)
#define crembo_prefetch_l2(p) __builtin_prefetch((p), 0, 2)
#else
#define crembo_prefetch(p) ((void)0)
#define crembo_prefetch_l2(p) ((void)0)
#endif

/* A condition that is rarely true: the compiler keeps it a (predicted) branch, rather than
   turning the code under it into conditional moves that chain each step to the last. */
#if defined(__GNUC__) || defined(__clang__)
#define crembo_unlikely(x) __builtin_expect(!!(x), 0)
#else
#define crembo_unlikely(x) (x)
#endif

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define CREMBO_HAVE_AVX512_PATHS 1
#include <immintrin.h>
#define CREMBO_AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw")))
static inline int crembo_avx512_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
}
#else
#define CREMBO_HAVE_AVX512_PATHS 0
static inline int crembo_avx512_supported(void) { return 0; }
#endif

/* GCC's gather intrinsics start from an undefined vector and warn about it */
#if defined(__GNUC__) && !defined(__clang__)
#define CREMBO_GATHERS_BEGIN _Pragma("GCC diagnostic push") \
    _Pragma("GCC diagnostic ignored \"-Wuninitialized\"") \
    _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define CREMBO_GATHERS_END _Pragma("GCC diagnostic pop")
#else
#define CREMBO_GATHERS_BEGIN
#define CREMBO_GATHERS_END
#endif

#endif
