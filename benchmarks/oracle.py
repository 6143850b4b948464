#!/usr/bin/env python
"""The consistency oracle: crembo's AllowedLabelTreeClassifier vs sklearn's multi-output tree.

    python benchmarks/oracle.py --quick      # n = 20,000 only (about a minute)
    python benchmarks/oracle.py              # n = 20,000 / 200,000 / 2,000,000

Data: make_classification, 20 features, k = 10 classes. Teacher: RandomForest(100 trees, depth 12)
fitted on the first min(n, --teacher-rows) rows (its fit is not timed); belief = its hard-vote
fractions on all n rows (crembo.teachers.forest.forest_belief); allowed = belief >= d for a few d.

Part 1, per n and d, depth-4 trees on (X, allowed):
  * ours, criterion="consistency"  (binning timed once per n; fit timed with binning excluded)
  * ours, criterion="gini", class_weight="balanced" (the reference oracle's criterion)
  * sklearn DecisionTreeClassifier(max_depth=4, class_weight="balanced") on the 0/1 matrix,
    predicting the output with the highest P(1) (the paper's oracle); only the middle d above
    --sklearn-max-n rows.
  Reported: seconds per fit and the consistency count (training samples whose prediction is an
  allowed label), as a fraction of n.
Part 2 (n = 20,000 with --quick, else also 200,000): whole CREMBOClassifier(teacher=forest,
delta=1, selection="paper") fit time and test accuracy with each oracle as the student (teacher
pre-fitted). Every CREMBO here runs the paper's selection, the loop this benchmark compares
oracles in; the default selection's cost against VT is benchmarks/cost.py's.
Part 3 (skip with --no-uci): the five UCI sets of the paper, 5-fold CV, a balanced forest of 100
trees per fold; CREMBO with crembo's default student (the native tree, gini, balanced) and with
the paper's (scikit-learn's multi-output tree): test accuracy, time, and the fraction of test
rows on which the two students predict the same label.

--n-jobs (default None, as CREMBOClassifier's default: the scan runs its fits one after the
other and crembo's kernels use every core; sklearn's tree is single-threaded) applies to both
oracles alike. Prints tables; writes benchmarks/results/oracle.json.
"""

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_info

import crembo
from crembo.teachers.forest import forest_belief
from crembo.tree import AllowedLabelTreeClassifier

sys.path.insert(0, str(Path(__file__).parent))
from _common import drop_singleton_classes, oracle_data

ROOT = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.1, 0.3, 0.5)


def sklearn_predict(model, X):
    """The reference oracle's rule: the output with the highest probability of a 1."""
    cols = []
    for classes, proba in zip(model.classes_, model.predict_proba(X), strict=True):
        hit = np.flatnonzero(classes == 1)
        cols.append(proba[:, hit[0]] if hit.size else np.zeros(X.shape[0]))
    return np.argmax(np.column_stack(cols), axis=1)


def consistency(pred, allowed):
    return int(allowed[np.arange(allowed.shape[0]), pred].sum())


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def fit_forest(X, y, seed=0):
    return RandomForestClassifier(n_estimators=100, max_depth=12, n_jobs=-1, random_state=seed).fit(X, y)


def part1(n, teacher_rows, sklearn_max_n, n_jobs):
    X, y = oracle_data(n)
    m = min(n, teacher_rows)
    forest = fit_forest(X[:m], y[:m])
    belief = forest_belief(forest, X, n_jobs=n_jobs)
    rows = []
    prepared, t_bin = timed(lambda: AllowedLabelTreeClassifier(n_jobs=n_jobs).prepare_allowed(X))
    for d in THRESHOLDS:
        allowed = belief >= d
        row = {"n": n, "threshold": d, "bin_seconds": t_bin, "mean_allowed_per_row": float(allowed.sum(1).mean())}
        for name, params in (
            ("ours_consistency", {}),
            ("ours_gini_balanced", dict(criterion="gini", class_weight="balanced")),
        ):
            est = AllowedLabelTreeClassifier(max_depth=4, n_jobs=n_jobs, **params)
            _, t = timed(lambda: est.fit_prepared(prepared, allowed))
            row[name] = {
                "fit_seconds": t,
                "fit_seconds_with_binning": t + t_bin,
                "consistency": consistency(est.predict(X), allowed) / n,
            }
        est = AllowedLabelTreeClassifier(max_depth=4, n_jobs=1)  # thread count's effect
        _, t = timed(lambda: est.fit_prepared(prepared, allowed))
        row["ours_consistency_1_thread"] = {"fit_seconds": t}
        if n <= sklearn_max_n or d == THRESHOLDS[len(THRESHOLDS) // 2]:
            sk = DecisionTreeClassifier(max_depth=4, class_weight="balanced", random_state=0)
            Y = allowed.astype(np.uint8)
            _, t = timed(lambda: sk.fit(X, Y))
            row["sklearn_multioutput_balanced"] = {
                "fit_seconds": t,
                "consistency": consistency(sklearn_predict(sk, X), allowed) / n,
            }
        rows.append(row)
        print_row(row)
    return rows


def print_row(r):
    def cell(key):
        v = r.get(key)
        return "        -        " if v is None else f"{v['fit_seconds']:8.3f}s {v['consistency']:.4f}"

    sk = r.get("sklearn_multioutput_balanced")
    speed = f"{sk['fit_seconds'] / r['ours_consistency']['fit_seconds']:7.0f}x" if sk else "      -"
    print(
        f"{r['n']:>9,} {r['threshold']:4.2f} {r['mean_allowed_per_row']:5.2f} {r['bin_seconds']:7.3f}s "
        f"| {cell('ours_consistency')} | {cell('ours_gini_balanced')} | "
        f"{cell('sklearn_multioutput_balanced')} | {speed}",
        flush=True,
    )


def part2(n, n_jobs, seed=0):
    X, y = oracle_data(n + 20_000, seed=1)
    X_tr, y_tr, X_te, y_te = X[:n], y[:n], X[n:], y[n:]
    forest = fit_forest(X_tr, y_tr)
    out = {"n_train": n, "n_test": 20_000, "teacher_test_accuracy": float((forest.predict(X_te) == y_te).mean())}
    students = {
        "ours_consistency": AllowedLabelTreeClassifier(max_depth=4, n_jobs=n_jobs),
        "ours_consistency_1_thread": AllowedLabelTreeClassifier(max_depth=4, n_jobs=1),
        "ours_gini_balanced": AllowedLabelTreeClassifier(
            max_depth=4, criterion="gini", class_weight="balanced", n_jobs=n_jobs
        ),
        "sklearn_multioutput_balanced": DecisionTreeClassifier(max_depth=4, class_weight="balanced"),
    }
    for name, student in students.items():
        clf = crembo.CREMBOClassifier(
            teacher=forest, student=student, delta=1, random_state=seed, n_jobs=n_jobs, selection="paper"
        )
        _, t = timed(lambda: clf.fit(X_tr, y_tr))
        out[name] = {
            "crembo_seconds": t,
            "test_accuracy": float(clf.score(X_te, y_te)),
            "oracle_calls": int(len(clf.scan_.indices) + len(clf.memo_.trace)),
            "threshold": clf.threshold_,
        }
        print(
            f"  CREMBO n={n:,} {name:30s} {t:9.2f}s  test acc {out[name]['test_accuracy']:.4f}  "
            f"({out[name]['oracle_calls']} oracle fits)",
            flush=True,
        )
    base = out["sklearn_multioutput_balanced"]["crembo_seconds"]
    for name in ("ours_consistency", "ours_consistency_1_thread", "ours_gini_balanced"):
        out[name]["speedup_vs_sklearn"] = base / out[name]["crembo_seconds"]
        print(f"  speedup {name}: {out[name]['speedup_vs_sklearn']:.1f}x")
    return out


def part3(n_jobs, folds=5, seed=0):
    """The five UCI sets: CREMBO with the native student (crembo's default) and with scikit-learn's
    (the paper's), same forest, folds and seeds: test accuracy, time, and how often the two
    students predict the same label on the test rows."""
    import warnings

    from sklearn.model_selection import StratifiedKFold

    from crembo import datasets
    from crembo.oracles import default_student, paper_student

    rows = []
    for name in datasets.NAMES:
        X, y = datasets.load(name)[:2]
        acc = {"native": [], "sklearn": []}
        secs = {"native": 0.0, "sklearn": 0.0}
        same = []
        with warnings.catch_warnings():  # arrhythmia has classes of 2-4 rows: fewer than the folds
            warnings.simplefilter("ignore", UserWarning)
            splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y))
        for f, (tr, te) in enumerate(splits):
            X_fit, y_fit, _ = drop_singleton_classes(X[tr], y[tr])  # as benchmarks/paper.py does
            forest = RandomForestClassifier(
                n_estimators=100, max_depth=12, class_weight="balanced", random_state=f, n_jobs=n_jobs
            ).fit(X_fit, y_fit)
            pred = {}
            for key, student in (("native", default_student()), ("sklearn", paper_student())):
                clf = crembo.CREMBOClassifier(
                    teacher=forest, student=student, delta=1, random_state=f, n_jobs=n_jobs, selection="paper"
                )
                _, t = timed(lambda: clf.fit(X_fit, y_fit))
                secs[key] += t
                pred[key] = clf.predict(X[te])
                acc[key].append(float(np.mean(pred[key] == y[te])))
            same.append(float(np.mean(pred["native"] == pred["sklearn"])))
        row = {
            "dataset": name,
            "n": int(X.shape[0]),
            "p": int(X.shape[1]),
            "k": int(np.unique(y).size),
            "folds": folds,
            **{f"{key}_accuracy_mean": float(np.mean(v)) for key, v in acc.items()},
            **{f"{key}_accuracy_std": float(np.std(v)) for key, v in acc.items()},
            **{f"{key}_seconds": secs[key] for key in secs},
            "speedup": secs["sklearn"] / secs["native"],
            "same_test_prediction": float(np.mean(same)),
            "per_fold_accuracy": acc,
        }
        rows.append(row)
        print(
            f"  {name:14s} n={row['n']:4d} k={row['k']:2d}  native {row['native_accuracy_mean']:.3f} "
            f"+- {row['native_accuracy_std']:.3f} ({secs['native']:5.1f}s)  sklearn "
            f"{row['sklearn_accuracy_mean']:.3f} +- {row['sklearn_accuracy_std']:.3f} "
            f"({secs['sklearn']:5.1f}s)  {row['speedup']:4.1f}x  same prediction "
            f"{row['same_test_prediction']:.3f}",
            flush=True,
        )
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 20,000 only")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--crembo-sizes", type=int, nargs="*", default=None)
    ap.add_argument(
        "--teacher-rows",
        type=int,
        default=50_000,
        help="rows the forest is fitted on in part 1 (its belief covers all n)",
    )
    ap.add_argument(
        "--sklearn-max-n", type=int, default=200_000, help="above this n, sklearn is timed at the middle threshold only"
    )
    ap.add_argument("--n-jobs", type=int, default=None)
    ap.add_argument("--no-uci", action="store_true", help="skip part 3 (the five UCI sets)")
    ap.add_argument("--uci-folds", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "oracle.json"))
    args = ap.parse_args(argv)
    sizes = args.sizes or ([20_000] if args.quick else [20_000, 200_000, 2_000_000])
    crembo_sizes = (
        args.crembo_sizes if args.crembo_sizes is not None else ([20_000] if args.quick else [20_000, 200_000])
    )
    n_threads = crembo.resolve_n_threads(args.n_jobs)
    load_before = os.getloadavg()
    print(f"threads {n_threads}, OpenMP {crembo.openmp_enabled()}, cpus {os.cpu_count()}, load {load_before[0]:.1f}")
    print("Part 1: depth-4 oracle fits (seconds per fit, binning excluded; consistency = fraction of n)")
    print(
        f"{'n':>9} {'d':>4} {'|Y|':>5} {'binning':>8} | {'ours consistency':^17} | "
        f"{'ours gini balanced':^17} | {'sklearn multi-output':^17} | sk/ours"
    )
    part1_rows = []
    for n in sizes:
        part1_rows += part1(n, args.teacher_rows, args.sklearn_max_n, args.n_jobs)
    print("Part 2: whole CREMBO (delta=1, teacher pre-fitted) with each oracle")
    part2_rows = [part2(n, args.n_jobs) for n in crembo_sizes]
    part3_rows = []
    if not args.no_uci:
        print(
            f"Part 3: whole CREMBO on the UCI sets ({args.uci_folds}-fold CV, forest of 100 trees), "
            "native student vs scikit-learn's"
        )
        part3_rows = part3(args.n_jobs, args.uci_folds)
    result = {
        "command": "python benchmarks/oracle.py" + (" --quick" if args.quick else ""),
        "oracle_fits": part1_rows,
        "crembo": part2_rows,
        "uci": part3_rows,
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "n_threads": n_threads,
            "openmp": crembo.openmp_enabled(),
            "loadavg_before_after": [load_before, os.getloadavg()],
            "threadpools": [
                {k: d.get(k) for k in ("user_api", "internal_api", "filepath", "num_threads")}
                for d in threadpool_info()
            ],
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"load average before/after: {load_before[0]:.1f} / {os.getloadavg()[0]:.1f}; wrote {args.out}")


if __name__ == "__main__":
    main()
