"""Thread-level parallelism shared by the native backends for kernels whose inner steps are
NumPy calls or GIL-free native calls on contiguous parts (softmax chunks, sorts and merges)."""

import concurrent.futures
import threading

import numpy as np

from crembo.backends import reference as _ref

_POOL = None
_POOL_LOCK = threading.Lock()


def pool(n_workers):
    """A process-wide thread pool, grown on demand (its workers only run GIL-free steps)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < n_workers:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = concurrent.futures.ThreadPoolExecutor(n_workers, thread_name_prefix="crembo-kernel")
        return _POOL


def run_row_parts(fn, n, n_threads, min_rows):
    """fn(lo, hi) on min(n_threads, n // min_rows) contiguous row ranges, one per thread."""
    parts = max(1, min(int(n_threads), n // max(min_rows, 1)))
    if parts == 1:
        fn(0, n)
        return
    step = -(-n // parts)
    futures = [pool(parts - 1).submit(fn, lo, min(lo + step, n)) for lo in range(step, n, step)]
    fn(0, step)  # the calling thread takes the first part
    for f in futures:
        f.result()


SOFTMAX_CHUNK = 65536  # logits per chunk: a chunk's input and output stay in L2 through 3 steps


def chunked_softmax(logits, shift_into, divide, n_threads):
    """Row-wise softmax: per L2-sized chunk of rows, the backend's ``shift_into(rows, out)``
    (z - max(z)), NumPy's SIMD ``exp`` in place (the reference's exp, so results are equal bit for
    bit), then the backend's ``divide(out)`` by the row sums; one contiguous part per thread."""
    out = np.empty(logits.shape, dtype=np.float64)
    n, k = logits.shape
    if n == 0 or k == 0:
        return out
    rows = max(1, SOFTMAX_CHUNK // k)

    def part(lo, hi):
        for a in range(lo, hi, rows):
            b = min(a + rows, hi)
            chunk = out[a:b]
            shift_into(logits[a:b], chunk)
            np.exp(chunk, out=chunk)
            divide(chunk)

    run_row_parts(part, n, n_threads, rows)
    return out


def sorted_unique(values, n_threads, merge, original):
    """np.unique(values) for float64 ``values`` (sorted in place): one np.sort per thread on
    contiguous parts, then the backend's branch-free native ``merge(a, b, out) -> size`` rounds
    that drop duplicates on the way.

    NaN, or both signs of zero, go to np.unique of ``original`` (the unsorted belief: its sort
    decides which zero it keeps, and that depends on the order it starts from).
    """
    parts = max(1, min(int(n_threads), values.size // 65536))
    step = max(1, -(-values.size // parts))
    pieces = [values[lo : lo + step] for lo in range(0, values.size, step)] or [values]
    if len(pieces) == 1:
        pieces[0].sort()
    else:
        for f in [pool(len(pieces)).submit(p.sort) for p in pieces]:
            f.result()
    signs = set()
    for p in pieces:
        if p.size and np.isnan(p[-1]):  # NaN sorts last
            return _ref.unique_values(original)
        lo, hi = np.searchsorted(p, 0.0, "left"), np.searchsorted(p, 0.0, "right")
        signs.update(np.unique(np.signbit(p[lo:hi])).tolist())
    if len(signs) > 1:
        return _ref.unique_values(original)
    empty = np.empty(0)
    merged = False
    while len(pieces) > 1 or not merged:  # pairwise rounds (one dedupe pass if 1 part)
        merged = True
        pairs = [(pieces[i], pieces[i + 1] if i + 1 < len(pieces) else empty) for i in range(0, len(pieces), 2)]
        outs = [np.empty(a.size + b.size) for a, b in pairs]
        if len(pairs) == 1:
            sizes = [merge(*pairs[0], outs[0])]
        else:
            sizes = list(pool(len(pairs)).map(merge, *zip(*pairs), outs))
        pieces = [o[:m] for o, m in zip(outs, sizes)]
    return pieces[0]
