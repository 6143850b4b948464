"""The one place that decides how many threads a kernel may use.

Both the Cython kernels (``prange(num_threads=...)``) and the Numba kernels
(``numba.set_num_threads``) receive the count resolved here, once, in Python.
"""

import os

import joblib

from crembo._validation import is_int


def available_cpus():
    """CPUs this process may use: joblib's count, which takes the CPU affinity mask, cgroup CPU
    quotas (containers) and LOKY_MAX_CPU_COUNT into account, not only the machine's cores."""
    return max(1, int(joblib.cpu_count()))


# Below this many array elements a kernel runs in microseconds serially, less than waking a
# thread team costs (which, on a loaded machine, can take milliseconds).
SERIAL_WORK = 1 << 16


def resolve_n_threads(n_jobs=None, work=None):
    """Map an sklearn-style ``n_jobs`` to a positive thread count, at most the CPUs available.

    None -> every CPU the process may use, capped by OMP_NUM_THREADS when set;
    n > 0 -> min(n, cpus); n < 0 -> cpus + 1 + n (so -1 is all CPUs), at least 1.
    ``work`` (elements the kernel touches), when below SERIAL_WORK, makes it 1: n_jobs is an
    upper bound, and results never depend on the thread count.

    The cap is what keeps every backend safe and alike: each OpenMP thread reserves a stack, so
    libgomp asked for 100,000 threads crashes the process, and a count >= 2**31 does not fit
    the C int of ``prange(num_threads=...)``; more threads than CPUs never run faster.
    """
    n_jobs = _checked(n_jobs)
    # Neither needs the CPU count, which reads cgroup files: a fit's scan asks thousands of times.
    if n_jobs == 1 or (work is not None and work < SERIAL_WORK):
        return 1
    return _from_n_jobs(n_jobs)


def _checked(n_jobs):
    """``n_jobs`` as None or a non-zero int (TypeError / ValueError otherwise)."""
    if n_jobs is None:
        return None
    if not is_int(n_jobs):
        raise TypeError(f"n_jobs must be an int or None, got {n_jobs!r}")
    n_jobs = int(n_jobs)
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive int, or -1 for all CPUs")
    return n_jobs


def _from_n_jobs(n_jobs):
    cpus = available_cpus()
    if n_jobs is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        try:
            return max(1, min(cpus, int(env.split(",")[0])))
        except ValueError:
            return cpus
    if n_jobs < 0:
        return max(1, cpus + 1 + n_jobs)
    return min(n_jobs, cpus)


def joblib_n_jobs(n_jobs):
    """``n_jobs`` for joblib's ``Parallel`` (and estimators that pass it there): None stays None
    (joblib's own default, which honours ``joblib.parallel_config``); anything else is validated
    and capped like a kernel's thread count (a thread pool of 100,000 workers cannot start)."""
    return None if n_jobs is None else resolve_n_threads(n_jobs)


def openmp_enabled():
    """True when the compiled extension exists and was built with OpenMP."""
    try:
        from crembo._ext._openmp_helpers import openmp_enabled as _enabled
    except ImportError:
        return False
    return _enabled()
