"""Shared helpers for the benchmark scripts: timing, machine info, Markdown tables, JSON output."""

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

RESULTS_DIR = Path(__file__).parent / "results"


def best_of(fn, repeat=3, warmup=0):
    """Run ``fn`` ``warmup`` + ``repeat`` times; return (best wall s, its CPU s, all wall times, last result).

    The best (minimum) wall time is the least disturbed by other processes on a shared machine;
    the CPU time of that run (all threads) tells how much of the machine it used.
    """
    out = None
    for _ in range(warmup):
        out = fn()
    walls, best = [], None
    for _ in range(max(1, repeat)):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        walls.append(wall)
        if best is None or wall < best[0]:
            best = (wall, cpu)
    return best[0], best[1], walls, out


def time_once(fn):
    """(wall s, result) of one call, e.g. the first call that includes Numba's compile."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """What a reader needs to judge a timing: CPUs, load, library versions, OpenMP runtimes."""
    import crembo

    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "available_cpus": crembo._threads.available_cpus(),
        "default_n_threads": crembo.resolve_n_threads(None),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "numpy": np.__version__,
        "crembo": crembo.__version__,
        "crembo_backends": crembo.available_backends(),
        "crembo_openmp_enabled": crembo.openmp_enabled(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
    try:
        import numba

        info["numba"] = numba.__version__
        info["numba_num_threads"] = numba.config.NUMBA_NUM_THREADS
        try:
            info["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel Numba function has run yet
            info["numba_threading_layer"] = None
    except ImportError:
        info["numba"] = None
    try:
        import sklearn

        info["sklearn"] = sklearn.__version__
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {k: pool.get(k) for k in ("user_api", "internal_api", "prefix", "filepath", "version", "num_threads")}
            for pool in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = None
    return info


def markdown_table(headers, rows):
    """A GitHub-flavoured Markdown table; numbers are right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [all(_is_number(r[i]) for r in cells) and cells for i in range(len(headers))]

    def line(values):
        return (
            "| "
            + " | ".join(
                v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
            )
            + " |"
        )

    sep = "|" + "|".join(("-" * (w + 1) + ":") if numeric[i] else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in cells)])


def _is_number(s):
    try:
        float(s.replace(",", "").rstrip("x%"))
        return True
    except ValueError:
        return s in ("", "-")


def write_json(path, payload):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=_jsonable)
        f.write("\n")
    return path


def _jsonable(x):
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def drop_singleton_classes(X, y):
    """Drop the samples of classes seen once: CREMBO's stratified validation split needs two.

    Only arrhythmia has such classes (3 classes of 2-4 samples); every method then trains on the
    same rows, and test samples of a dropped class count as errors for all of them.
    """
    labels, counts = np.unique(y, return_counts=True)
    rare = labels[counts < 2]
    if len(rare) == 0:
        return X, y, 0
    keep = ~np.isin(y, rare)
    return X[keep], y[keep], int((~keep).sum())


def oracle_data(n_samples, seed=0):
    """(X, y) of benchmarks/oracle.py's setting: ``make_classification``, 20 features, 10 classes.
    cost.py and selection_large.py use the same generator (with their own seeds)."""
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=n_samples,
        n_features=20,
        n_informative=12,
        n_redundant=4,
        n_classes=10,
        n_clusters_per_class=2,
        class_sep=1.0,
        random_state=seed,
    )
