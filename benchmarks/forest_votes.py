"""Forest hard-vote belief: the paper's reference loop vs stacked predictions vs native traversal.

One command (defaults: n = 200,000 rows, 20 features, k = 10, 100 trees of depth 12):

    python benchmarks/forest_votes.py [--n 200000] [--ref-n 20000] [--repeat 3]

Times (teacher fit excluded, reported separately):
  (a) reference: members' predict stacked into (T, n), then ``apply_along_axis(bincount)`` per
      sample, run on the first --ref-n rows and extrapolated linearly to n (it is O(n));
  (b) members' predict stacked + ``crembo.belief_from_votes``;
  (c) ``forest.predict_proba`` (sklearn's averaged probabilities, for scale; not the vote belief);
  (d) ``crembo.teachers.forest.forest_belief`` with 1 and 2 threads.
Checks (b) == (d) exactly, measures peak traced memory (tracemalloc) of (b) and (d), prints a
table and writes benchmarks/results/forest_votes.json.
"""

import argparse
import functools
import json
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from threadpoolctl import threadpool_info

import crembo
from crembo.teachers.forest import _check_chunk_size as forest_votes_chunk
from crembo.teachers.forest import forest_belief

RESULTS = Path(__file__).parent / "results" / "forest_votes.json"


CPU = {}  # name -> CPU seconds (all threads) of the fastest run: the machine may be shared


def best_of(fn, repeat, name=None):
    """Fastest wall time of `repeat` runs (and its CPU time under CPU[name])."""
    best, out = None, None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu)
    if name:
        CPU[name] = best[1]
    return best[0], out


def stacked_votes(forest, X):
    return np.stack([m.predict(X) for m in forest.estimators_])


def reference_belief(forest, X, k):
    """The paper's loop: (T, n) predictions, then one bincount per sample in Python."""
    votes = stacked_votes(forest, X).astype(np.int64)
    counts = np.apply_along_axis(lambda col: np.bincount(col, minlength=k), 0, votes)
    return counts.T / votes.shape[0]


def peak_mib(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="rows to compute the belief on")
    ap.add_argument("--n-train", type=int, default=50_000, help="rows the forest is fitted on")
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--ref-n", type=int, default=20_000, help="rows the reference loop runs on")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs (reference: 1)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)

    n, k = args.n, args.classes
    X, y = make_classification(
        n_samples=n + args.n_train,
        n_features=args.features,
        n_informative=min(args.features, 12),
        n_redundant=0,
        n_classes=k,
        n_clusters_per_class=1,
        random_state=0,
    )
    X_train, y_train, X = X[: args.n_train], y[: args.n_train], X[args.n_train :]
    t0 = time.perf_counter()
    forest = RandomForestClassifier(n_estimators=args.trees, max_depth=args.depth, n_jobs=-1, random_state=0).fit(
        X_train, y_train
    )
    fit_s = time.perf_counter() - t0
    n_nodes = sum(m.tree_.node_count for m in forest.estimators_)
    print(
        f"forest: {args.trees} trees, depth {args.depth}, {n_nodes} nodes, fitted on "
        f"{args.n_train} rows in {fit_s:.1f} s (excluded below); X: {n} x {args.features}, k = {k}"
    )

    rows = {}
    ref_n = min(args.ref_n, n)
    load_before = os.getloadavg()
    t_ref, _ = best_of(lambda: reference_belief(forest, X[:ref_n], k), 1)
    rows["a_reference_apply_along_axis"] = {
        "seconds": t_ref * n / ref_n,
        "measured_rows": ref_n,
        "measured_seconds": t_ref,
        "note": f"run on {ref_n} rows, extrapolated linearly to {n}",
    }
    t_pred, votes = best_of(lambda: stacked_votes(forest, X), args.repeat, "bp")
    t_bfv, b_belief = best_of(functools.partial(crembo.belief_from_votes, votes, k), args.repeat, "bb")
    rows["b_stacked_predict_belief_from_votes"] = {
        "seconds": t_pred + t_bfv,
        "cpu_seconds": CPU["bp"] + CPU["bb"],
        "predict_seconds": t_pred,
        "belief_from_votes_seconds": t_bfv,
    }
    for jobs in (1, 2):
        forest.set_params(n_jobs=jobs)
        t, _ = best_of(lambda: forest.predict_proba(X), args.repeat, f"c{jobs}")
        rows[f"c_sklearn_predict_proba_{jobs}_jobs"] = {"seconds": t, "cpu_seconds": CPU[f"c{jobs}"]}
    d_beliefs = {}
    for threads in (1, 2):
        t, d_beliefs[threads] = best_of(lambda: forest_belief(forest, X, n_jobs=threads), args.repeat, f"d{threads}")
        rows[f"d_forest_belief_{threads}_threads"] = {"seconds": t, "cpu_seconds": CPU[f"d{threads}"]}
    equal = all(np.array_equal(b, b_belief) for b in d_beliefs.values())
    ref_equal = np.array_equal(reference_belief(forest, X[:1000], k), b_belief[:1000])

    del votes, b_belief, d_beliefs
    mem = {
        "b_stacked_predict_belief_from_votes_peak_mib": peak_mib(
            lambda: crembo.belief_from_votes(stacked_votes(forest, X), k)
        ),
        "d_forest_belief_peak_mib": peak_mib(lambda: forest_belief(forest, X, n_jobs=2)),
        "belief_float64_output_mib": n * k * 8 / 2**20,
    }
    # forest_belief's stated peak: output + one float32 chunk of X + one uint16 counts chunk
    # + the flattened nodes (32 B each)
    chunk = min(n, forest_votes_chunk(None, args.features))
    mem["d_formula_mib"] = (n * k * 8 + chunk * (4 * args.features + 2 * k) + 32 * n_nodes) / 2**20

    base = rows["b_stacked_predict_belief_from_votes"]["seconds"]
    print(f"\n{'method':42s} {'seconds':>9s} {'cpu s':>8s} {'(b)/this':>9s}")
    for name, row in rows.items():
        cpu = f"{row['cpu_seconds']:8.3f}" if "cpu_seconds" in row else f"{'':8s}"
        print(f"{name:42s} {row['seconds']:9.3f} {cpu} {base / row['seconds']:8.1f}x")
    print(f"  (a) measured {t_ref:.2f} s on {ref_n} rows, extrapolated linearly to {n}")
    print(f"  (b) = predict {t_pred:.3f} s + belief_from_votes {t_bfv:.3f} s")
    print(f"\n(d) == (b) exactly (1 and 2 threads): {equal}; reference == (b) on 1000 rows: {ref_equal}")
    print(
        f"peak traced memory: (b) {mem['b_stacked_predict_belief_from_votes_peak_mib']:.1f} MiB, "
        f"(d) {mem['d_forest_belief_peak_mib']:.1f} MiB (float64 output alone "
        f"{mem['belief_float64_output_mib']:.1f} MiB); (d) formula "
        f"n*k*8 + chunk*(4p + 2k) + 32*nodes = {mem['d_formula_mib']:.1f} MiB"
    )

    report = {
        "config": {
            **{k_: (str(v) if isinstance(v, Path) else v) for k_, v in vars(args).items()},
            "forest_nodes": n_nodes,
            "fit_seconds": fit_s,
        },
        "timings": rows,
        "memory": mem,
        "d_equals_b": bool(equal),
        "reference_equals_b_first_1000": bool(ref_equal),
        "environment": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "crembo_backends": crembo.available_backends(),
            "openmp": crembo.openmp_enabled(),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "loadavg_before_after": [load_before, os.getloadavg()],
            "threadpools": [
                {k_: d.get(k_) for k_ in ("user_api", "internal_api", "filepath", "num_threads")}
                for d in threadpool_info()
            ],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(
        f"load average before/after the timings: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
