#!/usr/bin/env python
"""Cost of a whole CREMBO fit next to the VT baseline, measured side by side in one run.

    python benchmarks/cost.py            # n = 200,000 (benchmarks/oracle.py's setting), 3 rounds
    python benchmarks/cost.py --quick    # n = 20,000, 2 rounds

Data as benchmarks/oracle.py part 2: make_classification (20 features, 10 classes, seed 1),
n training rows and 20,000 test rows; the teacher is a fitted RandomForest (100 trees, depth 12;
its fit is not timed). Timed per round, in the same process, one after the other:

* VT, a practitioner's way: ``forest.predict`` on the training rows, then one scikit-learn
  ``DecisionTreeClassifier(max_depth=4, class_weight="balanced")`` on those labels (the paper's
  VT); the unweighted tree is timed too;
* VT through ``crembo.fit_baseline_vt`` (native vote counting, the same scikit-learn tree);
* CREMBO with the default student, once per ``--selections`` value (default: the new default
  "cv", and "paper").

Reported: the best (least disturbed) wall time of each over the rounds, its ratio to the
practitioner's VT, test accuracy, and CREMBO's stage timings (``timings_``). Prints a table and
writes benchmarks/results/cost.json.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine_info, markdown_table, oracle_data, write_json

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    import crembo

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="n = 20,000, 2 rounds")
    ap.add_argument("--n", type=int, default=None, help="training rows (default 200,000)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--selections", nargs="+", default=["cv", "paper"])
    ap.add_argument("--n-jobs", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "cost.json"))
    args = ap.parse_args(argv)
    n = args.n or (20_000 if args.quick else 200_000)
    rounds = args.rounds or (2 if args.quick else 3)
    X, y = oracle_data(n + 20_000, seed=1)
    X_tr, y_tr, X_te, y_te = X[:n], y[:n], X[n:], y[n:]
    t0 = time.perf_counter()
    forest = RandomForestClassifier(n_estimators=100, max_depth=12, n_jobs=args.n_jobs or -1, random_state=0).fit(
        X_tr, y_tr
    )
    print(
        f"n = {n:,}: forest fitted in {time.perf_counter() - t0:.1f} s (not timed below); load "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )

    def vt_practitioner(class_weight):
        def run():
            labels = forest.predict(X_tr)
            return DecisionTreeClassifier(max_depth=4, class_weight=class_weight, random_state=0).fit(X_tr, labels)

        return run

    methods = {
        "VT (forest.predict + balanced tree)": vt_practitioner("balanced"),
        "VT (forest.predict + unweighted tree)": vt_practitioner(None),
        "VT (crembo.fit_baseline_vt)": lambda: crembo.fit_baseline_vt(X_tr, y_tr, forest, random_state=0),
    }
    for sel in args.selections:
        methods[f"CREMBO selection={sel!r}"] = lambda sel=sel: crembo.CREMBOClassifier(
            teacher=forest, selection=sel, n_jobs=args.n_jobs, random_state=0
        ).fit(X_tr, y_tr)
    times = {m: [] for m in methods}
    fitted = {}
    for r in range(rounds):
        for m, fn in methods.items():
            t = time.perf_counter()
            fitted[m] = fn()
            times[m].append(time.perf_counter() - t)
        print(
            f"round {r + 1}/{rounds}: "
            + ", ".join(f"{m.split(' (')[0] if m.startswith('VT') else m} {times[m][-1]:.2f}s" for m in methods),
            flush=True,
        )
    base = min(times["VT (forest.predict + balanced tree)"])
    rows, out = [], {}
    for m, model in fitted.items():
        best = min(times[m])
        acc = float(np.mean(model.predict(X_te) == y_te))
        entry = {"seconds_best": best, "seconds_all": times[m], "ratio_to_vt": best / base, "test_accuracy": acc}
        if hasattr(model, "timings_"):
            entry["timings"] = model.timings_
            entry["threshold"] = model.threshold_
        out[m] = entry
        rows.append([m, f"{best:.2f}", f"{best / base:.2f}x", f"{acc:.4f}"])
    print(markdown_table(["method", "best s", "vs VT", "test accuracy"], rows))
    for m, e in out.items():
        if "timings" in e:
            print(f"  {m}: " + ", ".join(f"{k} {v:.2f}s" for k, v in e["timings"].items()))
    cmd = "python benchmarks/cost.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    path = write_json(
        args.out,
        {
            "command": cmd.strip(),
            "n_train": n,
            "n_test": 20_000,
            "rounds": rounds,
            "vt_reference": "VT (forest.predict + balanced tree)",
            "methods": out,
            "load_after": list(os.getloadavg()),
            "machine": machine_info(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
