/* How many threads OpenMP would use; 1 in a serial build (setup.py defines CREMBO_OPENMP). */
#ifndef CREMBO_OPENMP_H
#define CREMBO_OPENMP_H

#if CREMBO_OPENMP
#include <omp.h>
static int crembo_omp_max_threads(void) { return omp_get_max_threads(); }
#else
static int crembo_omp_max_threads(void) { return 1; }
#endif

#endif
