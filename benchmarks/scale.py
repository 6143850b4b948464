"""End-to-end scaling of CREMBO: belief, MEMO, scan, final fit, at up to 2,000,000 rows.

One command:

    python benchmarks/scale.py --quick      # n = 20,000, k = 10
    python benchmarks/scale.py              # n = 20,000 / 200,000 / 2,000,000, k = 10 and 100
    python benchmarks/scale.py --thresholds-study   # softmax teacher: exhaustive vs 32/128 candidates

Data: ``make_classification`` (20 features, 12 informative), one pool per k of 2,000,000 + 100,000
rows; a configuration of n rows takes the first n rows (iid: the pool is shuffled), the last
100,000 rows are the common test set. Teacher: RandomForest(100 trees, max_depth=12, balanced)
fitted on the pool's first 50,000 rows (a subsample, so the fit stays minutes at most; its time
is reported separately and excluded from everything else). Student: depth 4.

Per configuration, each method runs in a fresh subprocess (its own memory peak):
- ours: ``CREMBOClassifier(teacher=fitted forest, student=AllowedLabelTreeClassifier(max_depth=4,
  criterion="gini", class_weight="balanced"), thresholds=..., selection="paper")`` -- the paper's
  objective and selection with
  crembo's native oracle (sklearn's multi-output tree when the native tree is not importable),
  stage times from ``timings_``; variants ``unique`` (every threshold, as the paper) and ``q32``
  (``thresholds=32``). "final fit" = binning + one fit of the student at the chosen threshold
  (what reproducing the chosen student costs; CREMBO itself keeps the scanned model).
- reference: a faithful re-implementation of the paper's loop: members' ``predict`` stacked
  into (T, n), ``apply_along_axis(bincount)`` per sample, then sklearn's multi-output
  ``DecisionTreeClassifier(max_depth=4, class_weight="balanced")`` refit per threshold, binary
  search then the full scan from MEMO's index, same split and seed. It runs when its estimate is
  under --ref-budget seconds (600); otherwise (or when it passes the budget while running) its
  time is extrapolated: belief = seconds measured on 20,000 rows x n / 20,000 (it is linear),
  fits = measured seconds per fit x number of fits (binary-search calls + scan length, taken from
  ours on the same bit-identical belief), a fit measured on min(n, 200,000) rows and scaled by
  n log n.
Memory: tracemalloc peak (Python/NumPy allocations, started after the data is loaded: "beyond
the data") and the peak RSS (VmHWM, reset just before ``fit``) minus the RSS then: the process's
resident peak beyond the data and the teacher, native allocations included. tracemalloc is on
only for ours (it slows the reference's Python loop).
Writes benchmarks/results/scale.json (scale_quick.json with --quick) and prints Markdown tables.
The reference loop is in _scale_reference.py, the memory measurement and model in _scale_memory.py.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS_DIR, machine_info, markdown_table, write_json
from _scale_memory import _peak_rss_bytes, _reset_peak_rss, _rss_bytes, predicted_peak_bytes
from _scale_reference import run_reference

N_TEST = 100_000
TEACHER_ROWS = 50_000
FEATURES = 20
TREES, TREE_DEPTH, STUDENT_DEPTH = 100, 12, 4
TARGET_SECONDS, TARGET_BYTES = 60.0, 4 * 2**30


# ----------------------------------------------------------------------------- data + teacher


def make_pool(k, n_max, seed=0):
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=n_max + N_TEST,
        n_features=FEATURES,
        n_informative=12,
        n_redundant=4,
        n_classes=k,
        n_clusters_per_class=2,
        class_sep=1.0,
        random_state=seed,
    )
    return X, y


def prepare_k(k, sizes, workdir, seed=0):
    """Write each size's training rows, the test rows and the fitted teacher for one k."""
    import joblib
    from sklearn.ensemble import RandomForestClassifier

    t0 = time.perf_counter()
    X, y = make_pool(k, max(sizes), seed)
    gen_seconds = time.perf_counter() - t0
    d = Path(workdir) / f"k{k}"
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "X_test.npy", X[-N_TEST:])
    np.save(d / "y_test.npy", y[-N_TEST:])
    for n in sizes:
        np.save(d / f"X_{n}.npy", X[:n])
        np.save(d / f"y_{n}.npy", y[:n])
    forest = RandomForestClassifier(
        n_estimators=TREES, max_depth=TREE_DEPTH, class_weight="balanced", n_jobs=-1, random_state=seed
    )
    t0 = time.perf_counter()
    forest.fit(X[:TEACHER_ROWS], y[:TEACHER_ROWS])
    fit_seconds = time.perf_counter() - t0
    forest.n_jobs = None
    joblib.dump(forest, d / "teacher.joblib")
    test_acc = float(np.mean(forest.predict(X[-N_TEST:]) == y[-N_TEST:]))
    nodes = int(sum(e.tree_.node_count for e in forest.estimators_))
    return {
        "k": k,
        "data_seconds": gen_seconds,
        "teacher_fit_seconds": fit_seconds,
        "teacher_rows": TEACHER_ROWS,
        "teacher_test_accuracy": test_acc,
        "forest_nodes": nodes,
    }


def load(workdir, k, n):
    import joblib

    d = Path(workdir) / f"k{k}"
    return (
        np.load(d / f"X_{n}.npy"),
        np.load(d / f"y_{n}.npy"),
        np.load(d / "X_test.npy"),
        np.load(d / "y_test.npy"),
        joblib.load(d / "teacher.joblib"),
    )


# ----------------------------------------------------------------------------- ours


def native_student(n_jobs):
    try:
        from crembo.tree import AllowedLabelTreeClassifier
    except ImportError:
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(max_depth=STUDENT_DEPTH, class_weight="balanced"), "sklearn multi-output tree"
    est = AllowedLabelTreeClassifier(max_depth=STUDENT_DEPTH, criterion="gini", class_weight="balanced", n_jobs=n_jobs)
    return est, "crembo AllowedLabelTreeClassifier(gini, balanced)"


def run_ours(workdir, k, n, thresholds, n_jobs, seed, belief_dtype):
    import crembo
    from crembo._memo import seeded_oracle

    X, y, X_te, y_te, forest = load(workdir, k, n)
    student, oracle_name = native_student(n_jobs)
    hwm_reset = _reset_peak_rss()
    rss0 = _rss_bytes()
    tracemalloc.start()
    est = crembo.CREMBOClassifier(
        teacher=forest,
        student=student,
        thresholds=thresholds,
        belief_dtype=belief_dtype,
        n_jobs=n_jobs,
        random_state=seed,
        selection="paper",
    )
    t0 = time.perf_counter()
    est.fit(X, y)
    fit_wall = time.perf_counter() - t0
    _, peak_fit = tracemalloc.get_traced_memory()
    maxrss_fit = _peak_rss_bytes()
    tracemalloc.stop()
    # final fit: reproduce the chosen student from scratch (binning + one fit)
    tr, _ = crembo.estimator.stratified_split(np.unique(y, return_inverse=True)[1], est.classes_, 0.15, seed)
    belief = crembo.teachers.compute_belief(est.teacher_, X[tr], est.classes_, belief_dtype)
    t0 = time.perf_counter()
    oracle = seeded_oracle(student, seed)
    prepared = oracle.prepare(X[tr])
    model = oracle.fit(prepared, crembo.allowed_labels(belief, est.threshold_), seed)
    final_seconds = time.perf_counter() - t0
    same = bool(np.array_equal(model.predict(X_te[:10000]), est.estimator_.predict(X_te[:10000])))
    t0 = time.perf_counter()
    acc = float(np.mean(est.predict(X_te) == y_te))
    t = est.timings_
    return {
        "method": "ours",
        "oracle": oracle_name,
        "thresholds": thresholds,
        "belief_dtype": belief_dtype,
        "n_jobs": n_jobs,
        "n_train": len(tr),
        "k": k,
        "n": n,
        "seconds": {
            "belief": t["belief"],
            "teacher_validation": t["teacher_validation"],
            "prepare": t["prepare"],
            "memo": t["memo"],
            "scan": t["scan"],
            "final_fit": final_seconds,
            "test_predict": time.perf_counter() - t0,
            "fit_total": fit_wall,
        },
        "target_seconds": t["belief"] + t["prepare"] + t["memo"] + t["scan"],
        "n_thresholds": len(est.memo_.thresholds),
        "memo_index": int(est.memo_.index),
        "memo_calls": len(est.memo_.trace),
        "scan_fits": len(est.scan_.indices),
        "seconds_per_scan_fit": float(np.mean(est.scan_.seconds)),
        "threshold": est.threshold_,
        "memo_threshold": est.memo_threshold_,
        "test_accuracy": acc,
        "validation_accuracy": est.validation_score_,
        "final_fit_reproduces_student": same,
        "memory": {
            "tracemalloc_peak_bytes": peak_fit,
            "rss_before_fit_bytes": rss0,
            "peak_rss_bytes": maxrss_fit,
            "rss_peak_beyond_data_bytes": maxrss_fit - rss0,
            "peak_rss_reset": hwm_reset,
            "data_bytes": X.nbytes + y.nbytes,
            "model_peak_bytes": predicted_peak_bytes(
                n,
                len(tr),
                X.shape[1],
                k,
                np.dtype(belief_dtype).itemsize,
                n_jobs,
                getattr(prepared, "total_bins", 0),
                sum(e.tree_.node_count for e in forest.estimators_),
            ),
        },
    }


# ----------------------------------------------------------------------------- orchestration


def worker(args):
    if args.worker == "ours":
        res = run_ours(
            args.workdir, args.k, args.n, _thr_arg(args.thresholds), args.n_jobs, args.seed, args.belief_dtype
        )
    else:
        res = run_reference(
            *load(args.workdir, args.k, args.n),
            args.k,
            args.n,
            args.seed,
            args.ref_budget,
            json.loads(args.ours),
            STUDENT_DEPTH,
        )
    Path(args.out).write_text(json.dumps(res))


def _thr_arg(s):
    return int(s) if s.isdigit() else s


def spawn(args, extra):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False, dir=args.workdir) as f:
        out = f.name
    cmd = [
        sys.executable,
        __file__,
        "--workdir",
        args.workdir,
        "--out",
        out,
        "--n-jobs",
        str(args.n_jobs),
        "--seed",
        str(args.seed),
        "--ref-budget",
        str(args.ref_budget),
        *extra,
    ]
    subprocess.run(cmd, check=True)
    return json.loads(Path(out).read_text())


def mib(b):
    return f"{b / 2**20:,.0f}"


def report(results):
    rows = []
    for r in results:
        if r["method"] != "ours":
            continue
        s = r["seconds"]
        ref = next((x for x in results if x["method"] == "reference" and x["n"] == r["n"] and x["k"] == r["k"]), None)
        ref_total = ref["total_seconds"] if ref else float("nan")
        rows.append(
            [
                f"{r['n']:,}",
                r["k"],
                r["thresholds"] if r["belief_dtype"] == "float64" else f"{r['thresholds']} (f32)",
                r["n_thresholds"],
                f"{s['belief']:.1f}",
                f"{s['prepare']:.1f}",
                f"{s['memo']:.1f}",
                f"{s['scan']:.1f}",
                f"{s['final_fit']:.1f}",
                f"{r['target_seconds']:.1f}",
                "-" if ref is None else f"{ref_total:.0f}" + ("" if ref.get("ran") else " (extrap.)"),
                "-" if ref is None else f"{ref_total / r['target_seconds']:.1f}x",
                mib(r["memory"]["tracemalloc_peak_bytes"]),
                mib(r["memory"]["model_peak_bytes"]) if "model_peak_bytes" in r["memory"] else "-",
                mib(r["memory"]["rss_peak_beyond_data_bytes"]),
                mib(ref["rss_peak_beyond_data_bytes"]) if ref and "rss_peak_beyond_data_bytes" in ref else "-",
                f"{r['test_accuracy']:.4f}",
                f"{ref['test_accuracy']:.4f}" if ref and "test_accuracy" in ref else "-",
            ]
        )
    return markdown_table(
        [
            "n",
            "k",
            "thresholds",
            "cands",
            "belief s",
            "bin s",
            "MEMO s",
            "scan s",
            "final fit s",
            "belief+MEMO+scan s",
            "reference s",
            "speed-up",
            "traced MiB",
            "model MiB",
            "RSS MiB",
            "ref RSS MiB",
            "test acc",
            "ref test acc",
        ],
        rows,
    )


def main_scale(args):
    sizes = [20_000] if args.quick else [int(x) for x in args.sizes.split(",")]
    ks = [10] if args.quick else [int(x) for x in args.ks.split(",")]
    variants = args.variants.split(",")
    own_dir = args.workdir is None
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="crembo_scale_")
    out_path = Path(args.json or RESULTS_DIR / ("scale_quick.json" if args.quick else "scale.json"))
    payload = {
        "command": "python benchmarks/scale.py" + (" --quick" if args.quick else ""),
        "machine": machine_info(),
        "teachers": [],
        "results": [],
    }
    try:
        for k in ks:
            info = prepare_k(k, sizes, args.workdir, args.seed)
            payload["teachers"].append(info)
            print(
                f"k={k}: data {info['data_seconds']:.1f} s, teacher fit on {TEACHER_ROWS:,} rows "
                f"{info['teacher_fit_seconds']:.1f} s (excluded), teacher test accuracy "
                f"{info['teacher_test_accuracy']:.4f}",
                flush=True,
            )
            for n in sizes:
                ours_unique = None
                for var in variants:
                    for dtype in args.belief_dtype.split(","):
                        thr = "unique" if var == "unique" else var.lstrip("q")
                        r = spawn(
                            args,
                            [
                                "--worker",
                                "ours",
                                "--k",
                                str(k),
                                "--n",
                                str(n),
                                "--thresholds",
                                thr,
                                "--belief-dtype",
                                dtype,
                            ],
                        )
                        payload["results"].append(r)
                        ours_unique = ours_unique or (r if var == "unique" else None)
                        print(
                            f"  ours n={n:,} k={k} thresholds={thr} {dtype}: belief+MEMO+scan "
                            f"{r['target_seconds']:.1f} s, test acc {r['test_accuracy']:.4f}",
                            flush=True,
                        )
                        write_json(out_path, payload)
                if not args.no_reference and ours_unique is not None:
                    ours_info = {key: ours_unique[key] for key in ("memo_calls", "scan_fits")}
                    r = spawn(
                        args, ["--worker", "reference", "--k", str(k), "--n", str(n), "--ours", json.dumps(ours_info)]
                    )
                    payload["results"].append(r)
                    print(
                        f"  reference n={n:,} k={k}: {r['total_seconds']:.0f} s"
                        f"{'' if r.get('ran') else ' (extrapolated)'}",
                        flush=True,
                    )
                    write_json(out_path, payload)
    finally:
        if own_dir:
            import shutil

            shutil.rmtree(args.workdir, ignore_errors=True)
    big = [
        r
        for r in payload["results"]
        if r["method"] == "ours" and r["n"] == 2_000_000 and r["k"] == 10 and r["thresholds"] == "unique"
    ]
    if big:
        r = big[0]
        payload["target"] = {
            "belief_memo_scan_seconds": r["target_seconds"],
            "seconds_met": r["target_seconds"] < TARGET_SECONDS,
            "rss_peak_beyond_data_bytes": r["memory"]["rss_peak_beyond_data_bytes"],
            "memory_met": r["memory"]["rss_peak_beyond_data_bytes"] < TARGET_BYTES,
        }
    payload["machine_after"] = {"load_average": list(os.getloadavg())}
    write_json(out_path, payload)
    print()
    print(report(payload["results"]))
    if "target" in payload:
        print("target:", payload["target"])
    print(f"wrote {out_path}")


# ----------------------------------------------------------------------------- thresholds study


def main_thresholds(args):
    """Softmax teacher (MLP on digits): exhaustive scan vs 32 / 128 quantile candidates."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    import crembo
    from crembo._candidates import quantile_candidates

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rows = []
    out = {
        "command": "python benchmarks/scale.py --thresholds-study",
        "machine": machine_info(),
        "runs": [],
        "note": "quantiles-only m: the m order statistics of the unique values of the teacher's belief on "
        "the whole training part (CREMBO's belief is on its 85% split), passed as an array",
    }
    for seed in range(args.study_seeds):
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
        mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=400, random_state=seed).fit(X_tr, y_tr)
        teacher_acc = float(np.mean(mlp.predict(X_te) == y_te))
        u = np.unique(mlp.predict_proba(X_tr))
        variants = [
            ("unique", "unique"),
            ("128", 128),
            ("32", 32),
            ("quantiles-only 128", quantile_candidates(u, 128)),
            ("quantiles-only 32", quantile_candidates(u, 32)),
        ]
        for name, thr in variants:
            student, oracle_name = native_student(args.n_jobs)
            t0 = time.perf_counter()
            est = crembo.CREMBOClassifier(
                teacher=mlp, student=student, thresholds=thr, n_jobs=args.n_jobs, random_state=seed, selection="paper"
            ).fit(X_tr, y_tr)
            sec = time.perf_counter() - t0
            r = {
                "seed": seed,
                "thresholds": name,
                "seconds": sec,
                "n_candidates": len(est.memo_.thresholds),
                "scan_fits": len(est.scan_.indices),
                "threshold": est.threshold_,
                "test_accuracy": float(np.mean(est.predict(X_te) == y_te)),
                "teacher_test_accuracy": teacher_acc,
                "oracle": oracle_name,
            }
            out["runs"].append(r)
            print(r, flush=True)
            rows.append(
                [
                    seed,
                    name,
                    r["n_candidates"],
                    r["scan_fits"],
                    f"{sec:.1f}",
                    f"{r['threshold']:.4g}",
                    f"{r['test_accuracy']:.4f}",
                    f"{teacher_acc:.4f}",
                ]
            )
    path = write_json(RESULTS_DIR / "scale_thresholds.json", out)
    print(
        markdown_table(
            ["seed", "thresholds", "candidates", "scan fits", "seconds", "chosen d", "test acc", "teacher acc"], rows
        )
    )
    print(f"wrote {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 20,000, k = 10 only")
    ap.add_argument("--thresholds-study", action="store_true", help="MLP on digits: exhaustive vs 32/128 candidates")
    ap.add_argument("--study-seeds", type=int, default=3)
    ap.add_argument("--sizes", default="20000,200000,2000000", help="full mode: comma list of n")
    ap.add_argument("--ks", default="10,100", help="full mode: comma list of k")
    ap.add_argument("--variants", default="unique,q32", help="comma list of unique / q<m> threshold variants")
    ap.add_argument(
        "--belief-dtype", default="float64", help="float64, float32, or a comma list (each variant runs with each)"
    )
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--ref-budget", type=float, default=600.0, help="seconds the reference may run")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="output path (default benchmarks/results/scale[_quick].json)")
    ap.add_argument("--workdir", default=None, help="where the data and teacher are written (default: a temp dir)")
    # internal: one method of one configuration in a subprocess
    ap.add_argument("--worker", choices=["ours", "reference"], help=argparse.SUPPRESS)
    ap.add_argument("--k", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--thresholds", default="unique", help=argparse.SUPPRESS)
    ap.add_argument("--ours", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.thresholds_study:
        return main_thresholds(args)
    return main_scale(args)


if __name__ == "__main__":
    main()
