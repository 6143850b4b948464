# cython: language_level=3, boundscheck=False, wraparound=False
"""Whether the extension was built with OpenMP, and how many threads OpenMP would use."""

cdef extern from "crembo_openmp.h":
    int crembo_omp_max_threads() nogil
    int CREMBO_OPENMP


def openmp_enabled():
    """True if the extension modules were compiled with OpenMP (see setup.py)."""
    return bool(CREMBO_OPENMP)


def omp_max_threads():
    """``omp_get_max_threads()`` (honours OMP_NUM_THREADS); 1 in a serial build."""
    return crembo_omp_max_threads()
