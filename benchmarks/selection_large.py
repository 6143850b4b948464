#!/usr/bin/env python
"""How many rows the default selection needs at large n (development data; docs/selection.md).

    python benchmarks/selection_large.py                 # n = 20,000 / 200,000
    python benchmarks/selection_large.py --sizes 20000   # one size

Data: make_classification with benchmarks/oracle.py's parameters but a development seed (77),
so the cost setting itself was not used to choose. Teacher: RandomForest(100 trees, depth 12)
fitted on the n training rows; its hard-vote belief on them is cached and given to
CREMBOClassifier as a matrix, so the times below are the selection's (MEMO, the scored scan, the
refit), not the teacher's. For each selection variant (rows used to select: all, or a stratified
subsample; K-fold or a single split): wall time and test accuracy on 20,000 held-out rows, for
the default student at depths 2 and 4, against VT (scikit-learn trees on the forest's labels).
Writes benchmarks/results/selection_large.json.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _grid
from _common import oracle_data

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "paper": "paper",
    "5k rows, 5-fold, clip end": dict(max_rows=5_000, clip="end"),
    "5k rows, 5-fold, no clip": dict(max_rows=5_000, clip=False),
    "5k rows, 5-fold, balanced": dict(max_rows=5_000, class_weights=None),
    "5k rows, 5-fold, end, balanced": dict(max_rows=5_000, clip="end", class_weights=None),
    "10k rows, 5-fold, clip end": dict(max_rows=10_000, clip="end"),
    "all rows, 5-fold": dict(max_rows=None),
    "all rows, one split": dict(max_rows=None, holdout_above=0),
    "50k rows, one split": dict(max_rows=50_000, holdout_above=0),
    "20k rows, one split": dict(max_rows=20_000, holdout_above=0),
    "20k rows, 5-fold": dict(max_rows=20_000),
    "10k rows, one split": dict(max_rows=10_000, holdout_above=0),
    "10k rows, 5-fold": dict(max_rows=10_000),
    "5k rows, 5-fold": dict(max_rows=5_000),
    "2k rows, 5-fold": dict(max_rows=2_000),
}


def data(n, seed=77):
    from sklearn.ensemble import RandomForestClassifier

    X, y = oracle_data(n + 20_000, seed)
    path = _grid.cache_dir() / f"large-{n}-{seed}.npz"
    if path.exists():
        with np.load(path) as z:
            return X, y, z["belief"], z["labels"]
    forest = RandomForestClassifier(n_estimators=100, max_depth=12, n_jobs=-1, random_state=0).fit(X[:n], y[:n])
    belief = _grid.teacher_belief(forest, X[:n], 10)
    labels = forest.predict(X[:n])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, belief=belief, labels=labels)
    return X, y, belief, labels


def main(argv=None):
    from sklearn.tree import DecisionTreeClassifier

    import crembo
    from crembo._selection import SelectionSpec
    from crembo.oracles import default_student

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    ap.add_argument("--depths", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "selection_large.json"))
    args = ap.parse_args(argv)
    results = []
    for n in args.sizes:
        X, y, belief, labels = data(n)
        X_tr, y_tr, X_te, y_te = X[:n], y[:n], X[n:], y[n:]
        for depth in args.depths:
            for cw in ("balanced", None):
                vt = DecisionTreeClassifier(max_depth=depth, class_weight=cw, random_state=0).fit(X_tr, labels)
                acc = float(np.mean(vt.predict(X_te) == y_te))
                results.append({"n": n, "depth": depth, "method": f"VT-{'b' if cw else 'u'}", "test_accuracy": acc})
                print(f"n={n:,} depth {depth} VT-{'b' if cw else 'u'}: {acc:.4f}", flush=True)
            for name in args.variants:
                v = VARIANTS[name]
                if v != "paper" and v.get("max_rows", 0) >= n:
                    continue  # a subsample as large as the data is the all-rows variant
                spec = "paper" if v == "paper" else SelectionSpec(**{"consistency": False, **v})  # as measured
                clf = crembo.CREMBOClassifier(
                    teacher=belief,
                    student=default_student().set_params(max_depth=depth),
                    selection=spec,
                    random_state=0,
                )
                t = time.perf_counter()
                clf.fit(X_tr, y_tr)
                secs = time.perf_counter() - t
                acc = float(clf.score(X_te, y_te))
                results.append(
                    {
                        "n": n,
                        "depth": depth,
                        "method": name,
                        "seconds": secs,
                        "test_accuracy": acc,
                        "threshold": clf.threshold_,
                        "student": getattr(clf, "student_", "student"),
                        "timings": clf.timings_,
                    }
                )
                print(
                    f"n={n:,} depth {depth} {name:22s} {secs:7.2f}s  test {acc:.4f}  threshold "
                    f"{clf.threshold_:.3f} {getattr(clf, 'student_', 'student')}",
                    flush=True,
                )
    cmd = "python benchmarks/selection_large.py " + " ".join(argv if argv is not None else sys.argv[1:])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"command": cmd.strip(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
