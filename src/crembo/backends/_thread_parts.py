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


def positive_zero(values):
    """``values`` (sorted, distinct) with its zero, if any, made +0.0, as the reference has it."""
    i = np.searchsorted(values, 0.0)
    if i < values.size and values[i] == 0:
        values[i] = 0.0
    return values


def sorted_unique(flat, n_threads, merge, original):
    """``reference.unique_values`` of the float values ``flat`` (not modified): each thread copies
    and np.sorts a contiguous part, then the backend's branch-free native ``merge(a, b, out) ->
    size`` rounds drop duplicates on the way (-0.0 == +0.0 counts as one value), each merge split
    among the threads by co-rank. NaN goes to the reference on ``original`` (the belief).
    """
    n_threads = max(1, int(n_threads))
    parts = max(1, min(n_threads, flat.size // 65536))
    step = max(1, -(-flat.size // parts))

    def sorted_part(lo):
        piece = flat[lo : lo + step].astype(np.float64)  # a copy, made (and paged in) by this thread
        piece.sort()
        return piece

    starts = range(0, max(flat.size, 1), step)
    pieces = [sorted_part(0)] if parts == 1 else list(pool(parts).map(sorted_part, starts))
    if any(p.size and np.isnan(p[-1]) for p in pieces):  # NaN sorts last
        return _ref.unique_values(original)
    empty = np.empty(0)
    merged = False
    while len(pieces) > 1 or not merged:  # pairwise rounds (one dedupe pass if 1 part)
        merged = True
        pairs = [(pieces[i], pieces[i + 1] if i + 1 < len(pieces) else empty) for i in range(0, len(pieces), 2)]
        pieces = _merge_pairs(pairs, max(1, n_threads // len(pairs)), merge)
    return positive_zero(pieces[0])


def _co_rank(a, b, h):
    """i such that a[:i] and b[:h - i] hold h smallest values of a and b, and no value there
    exceeds one of a[i:], b[h - i:] (binary search on the merge path)."""
    lo, hi = max(0, h - b.size), min(h, a.size)
    while lo < hi:
        i = (lo + hi) // 2
        if h - i > 0 and b[h - i - 1] > a[i]:  # too few taken from a
            lo = i + 1
        else:
            hi = i
    return lo


def _merge_pairs(pairs, splits, merge):
    """Merge each sorted pair (a, b) into its distinct values, each merge cut into ``splits``
    independent chunks of the output run in the pool; a value equal across a cut is kept once."""
    tasks, layout = [], []
    for a, b in pairs:
        out = np.empty(a.size + b.size)
        splits = max(1, min(splits, out.size // 65536))  # small merges: one task
        cuts = [0, *(_co_rank(a, b, (a.size + b.size) * s // splits) for s in range(1, splits)), a.size]
        chunks = []
        for s in range(splits):
            i0, i1 = cuts[s], cuts[s + 1]
            h0 = (a.size + b.size) * s // splits
            j0, j1 = h0 - i0, (a.size + b.size) * (s + 1) // splits - i1
            tasks.append((a[i0:i1], b[j0:j1], out[h0 : h0 + (i1 - i0) + (j1 - j0)]))
            chunks.append(h0)
        layout.append((out, chunks))
    sizes = iter([merge(*tasks[0])] if len(tasks) == 1 else list(pool(len(tasks)).map(lambda t: merge(*t), tasks)))
    merged = []
    for out, chunks in layout:
        pos = 0
        for start in chunks:  # move each chunk's distinct values down behind the previous ones
            size = next(sizes)
            if size and pos and out[pos - 1] == out[start]:
                start, size = start + 1, size - 1
            if size and start != pos:
                out[pos : pos + size] = out[start : start + size]
            pos += size
        merged.append(out[:pos])
    return merged
