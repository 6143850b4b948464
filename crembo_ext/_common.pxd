# cython: language_level=3
# Declarations shared by the kernel modules (_votes, _rows, _unique, _depths): the dtypes they
# are compiled for and the C helpers of crembo_common.h. Declarations only: no module is built
# from this file, and nothing here needs one at run time.

from libc.stdint cimport uint8_t, int16_t, int32_t, int64_t, uint64_t

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

cdef extern from "crembo_common.h":
    uint64_t crembo_bits(double x) noexcept nogil
    double crembo_from_bits(uint64_t u) noexcept nogil
    void crembo_prefetch(const void* p) noexcept nogil      # into L1
    void crembo_prefetch_l2(const void* p) noexcept nogil   # into L2
    bint crembo_unlikely(bint condition) noexcept nogil
    int crembo_avx512_supported() noexcept nogil
