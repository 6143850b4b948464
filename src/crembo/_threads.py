"""The one place that decides how many threads a kernel may use.

Both the Cython kernels (``prange(num_threads=...)``) and the Numba kernels
(``numba.set_num_threads``) receive the count resolved here, once, in Python.
"""

import numbers
import os


def available_cpus():
    """CPUs this process may run on (affinity and cgroup aware where the OS says so)."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        return os.process_cpu_count() or 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


# Below this many array elements a kernel runs in microseconds, less than waking a thread
# team costs (measured: 8 us serial vs up to 40 ms with 2 threads on a loaded 2-core machine).
SERIAL_WORK = 1 << 16


def resolve_n_threads(n_jobs=None, work=None):
    """Map an sklearn-style ``n_jobs`` to a positive thread count.

    None -> every CPU the process may use, capped by OMP_NUM_THREADS when set;
    n > 0 -> n; n < 0 -> cpus + 1 + n (so -1 is all CPUs), at least 1.
    ``work`` (elements the kernel touches), when below SERIAL_WORK, makes it 1: n_jobs is an
    upper bound, and results never depend on the thread count.
    """
    n_threads = _from_n_jobs(n_jobs)
    return 1 if work is not None and work < SERIAL_WORK else n_threads


def _from_n_jobs(n_jobs):
    cpus = available_cpus()
    if n_jobs is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        try:
            return max(1, min(cpus, int(env.split(",")[0])))
        except ValueError:
            return cpus
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"n_jobs must be an int or None, got {n_jobs!r}")
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive int, or -1 for all CPUs")
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    return n_jobs


def openmp_enabled():
    """True when the compiled extension exists and was built with OpenMP."""
    try:
        from crembo._ext._openmp_helpers import openmp_enabled as _enabled
    except ImportError:
        return False
    return _enabled()
