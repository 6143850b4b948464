"""What bounds the kernels in benchmarks/kernels.py, measured in the same run.

The memory-bandwidth bound: the fastest read of an array (NumPy sums on one thread and on halves
in parallel threads, a Numba ``prange`` sum) and the fastest write of a *fresh* array (``np.empty``
+ fill); and the compute floors: ``np.exp`` over the softmax's values and ``np.sort`` of a softmax
belief's values. Numba is imported inside the functions, after kernels.py has set
``NUMBA_CACHE_DIR`` for ``--cold-numba``.
"""

import concurrent.futures

import numpy as np
from _common import best_of


def measure_bandwidth(arr, n_threads, repeat):
    """Fastest read of ``arr`` (bytes / s) by several readers; returns (best, {reader: GB/s})."""
    flat = arr.reshape(-1).view(np.int64) if arr.nbytes % 8 == 0 else arr.reshape(-1)
    readers = {
        "numpy sum (1 thread)": lambda: np.add.reduce(flat),
        "numpy max (1 thread)": lambda: np.maximum.reduce(flat),
    }
    if n_threads > 1:
        chunks = np.array_split(flat, n_threads)
        pool = concurrent.futures.ThreadPoolExecutor(n_threads)
        readers[f"numpy sum of {n_threads} parts ({n_threads} threads)"] = lambda: sum(pool.map(np.add.reduce, chunks))
    else:
        pool = None
    try:
        import numba

        @numba.njit(parallel=True, nogil=True)
        def _prange_sum(a):
            s = 0
            for i in numba.prange(a.size):
                s += a[i]
            return s

        _prange_sum(flat[:1000])  # compile outside the timing
        previous = numba.get_num_threads()

        def numba_read():
            numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
            try:
                return _prange_sum(flat)
            finally:
                numba.set_num_threads(previous)

        readers[f"numba prange sum ({n_threads} threads)"] = numba_read
    except ImportError:
        pass
    rates = {}
    for name, fn in readers.items():
        wall, _, _, _ = best_of(fn, repeat=max(3, repeat), warmup=1)
        rates[name] = flat.nbytes / wall / 1e9
    if pool is not None:
        pool.shutdown()
    best = max(rates, key=rates.get)
    return best, rates


def measure_write_bandwidth(nbytes, n_threads, repeat):
    """Fastest write of a *fresh* array of ``nbytes`` (np.empty + fill): (best, {writer: GB/s})."""
    count = nbytes // 8
    writers = {"numpy empty + fill (1 thread)": lambda: np.empty(count).fill(1.0)}
    try:
        import numba

        @numba.njit(parallel=True, nogil=True)
        def _prange_fill(m):
            a = np.empty(m)
            for i in numba.prange(m):
                a[i] = 1.0
            return a

        _prange_fill(1000)
        previous = numba.get_num_threads()

        def numba_write():
            numba.set_num_threads(min(n_threads, numba.config.NUMBA_NUM_THREADS))
            try:
                return _prange_fill(count)
            finally:
                numba.set_num_threads(previous)

        writers[f"numba empty + prange fill ({n_threads} threads)"] = numba_write
    except ImportError:
        pass
    rates = {}
    for name, fn in writers.items():
        wall, _, _, _ = best_of(fn, repeat=max(3, repeat), warmup=1)
        rates[name] = count * 8 / wall / 1e9
    best = max(rates, key=rates.get)
    return best, rates


def measure_floors(data, n_threads, repeat):
    """Compute floors (seconds) measured in this run: {"exp": ..., "sort": ...} and descriptions."""
    logits = data["logits"]
    z = logits - logits.max(axis=1, keepdims=True)
    chunk = max(1, 65536 // z.shape[1])
    out = np.empty_like(z)

    def exp_chunks():
        for a in range(0, z.shape[0], chunk):
            np.exp(z[a : a + chunk], out=out[a : a + chunk])

    exp_s, _, _, _ = best_of(exp_chunks, repeat=max(3, repeat), warmup=1)
    values = data["proba"].reshape(-1)
    sort_s, _, _, _ = best_of(lambda: np.sort(values), repeat=max(2, min(repeat, 3)), warmup=0)
    floors = {"exp": exp_s / n_threads, "sort": sort_s}
    notes = {
        "exp": f"np.exp over the same {z.size:,} values in L2-sized chunks, one thread: {exp_s * 1e3:.1f} ms, "
        f"divided by {n_threads} threads (+ the memory bound)",
        "sort": f"np.sort of the same {values.size:,} float64 values, one thread: {sort_s * 1e3:.1f} ms",
    }
    return floors, notes, {"np_exp_1_thread_s": exp_s, "np_sort_1_thread_s": sort_s}
