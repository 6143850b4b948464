# cython: language_level=3, boundscheck=False, wraparound=False
"""Whether the extension was built with OpenMP, and how many threads OpenMP would use."""

cdef extern from *:
    """
    #if CREMBO_OPENMP
    #include <omp.h>
    static int crembo_omp_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int crembo_omp_max_threads(void) { return 1; }
    #endif
    """
    int crembo_omp_max_threads() nogil
    int CREMBO_OPENMP


def openmp_enabled():
    """True if the extension modules were compiled with OpenMP (see setup.py)."""
    return bool(CREMBO_OPENMP)


def omp_max_threads():
    """``omp_get_max_threads()`` (honours OMP_NUM_THREADS); 1 in a serial build."""
    return crembo_omp_max_threads()
