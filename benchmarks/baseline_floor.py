#!/usr/bin/env python
"""How often does a tree *chosen by cross-validation* among the four baselines "lose" to the best of them?

    python benchmarks/baseline_floor.py              # the reported grid (paper.py's folds and teachers)
    python benchmarks/baseline_floor.py --grid dev   # the development grid (selection_dev.py's)

The student target of docs/results.md compares CREMBO with the *best baseline*: whichever of BM-b,
BM-u, VT-b and VT-u (scikit-learn's depth-d trees, class-balanced or unweighted, on the true or the
teacher's labels) has the highest mean test accuracy, picked after seeing the test folds. A method
that must choose from the training rows alone cannot see the test folds. This benchmark measures
what that costs a method that has exactly the four baselines to choose from and nothing else to
offer: ``CV-best`` picks, in every fold, the baseline with the best stratified 5-fold held-out
accuracy on the fold's training part (ties: the first of BM-b, BM-u, VT-b, VT-u), and is scored
against the best baseline with the target's own rule (a loss: more than 1 point below on average,
or a two-sided sign test over the folds at p < 0.05 with more folds lost than won). Its losses are
the floor of what any selection among these trees scores under that rule; CREMBO's selection
chooses among more candidates, each of them noisier.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _common
import _grid

BASELINES = _grid.BASELINES


def fold_result(X_tr, y_tr, labels, X_te, y_te, depths, seed):
    """{depth: {baseline: correct test rows, "CV-best": correct test rows, "chosen": name}}."""
    from sklearn.model_selection import StratifiedKFold
    from sklearn.tree import DecisionTreeClassifier

    out = {}
    counts = np.bincount(np.unique(y_tr, return_inverse=True)[1])
    folds = max(2, min(5, int(counts.max())))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # classes of fewer rows than folds
        splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X_tr, y_tr))
    for d in depths:
        res, held = {}, {}
        for b in BASELINES:

            def tree():
                weight = "balanced" if b.endswith("-b") else None
                return DecisionTreeClassifier(max_depth=d, class_weight=weight, random_state=seed)

            target = y_tr if b.startswith("BM") else labels
            res[b] = int((tree().fit(X_tr, target).predict(X_te) == y_te).sum())
            held[b] = sum(int((tree().fit(X_tr[a], target[a]).predict(X_tr[v]) == y_tr[v]).sum()) for a, v in splits)
        chosen = max(BASELINES, key=lambda b: held[b])  # the first maximum in BASELINES order
        out[d] = {**res, "CV-best": res[chosen], "chosen": chosen}
    return out


def reported_task(name, kind, rep, fold, train, test, cfg, seed):
    from threadpoolctl import threadpool_limits

    X, y = _grid.load(name)
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        teacher_cfg = {k: cfg[k] for k in _grid.TEACHER_CONFIG}
        teacher = _grid.make_teacher(kind, seed, teacher_cfg).fit(X[train], y[train])
        labels = teacher.predict(X[train])
        return (name, kind, len(test), fold_result(X[train], y[train], labels, X[test], y[test], cfg["depths"], seed))


def dev_task(name, kind, rep, fold, train, test, seed):
    X, y = _grid.load(name)
    labels = _grid.fold_beliefs(name, kind, rep, fold, train, test, seed)["train_pred"]
    return (name, kind, len(test), fold_result(X[train], y[train], labels, X[test], y[test], (2, 3, 4), seed))


def summarise(records):
    """Per configuration: the best baseline (by mean test accuracy), CV-best's W/T/L against it."""
    configs = {}
    for name, kind, n_test, res in records:
        for d, r in res.items():
            c = configs.setdefault((name, kind, d), {"n": [], "chosen": [], **{m: [] for m in (*BASELINES, "CV-best")}})
            c["n"].append(n_test)
            c["chosen"].append(r["chosen"])
            for m in (*BASELINES, "CV-best"):
                c[m].append(r[m])
    table = {}
    for key, c in configs.items():
        n = np.array(c["n"], dtype=float)
        best = _grid.best_baseline(c, n)
        diff = (np.array(c["CV-best"]) - np.array(c[best])) / n
        e = {
            "best_baseline": best,
            "best_accuracy": float(np.mean(np.array(c[best]) / n)),
            "cv_best_accuracy": float(np.mean(np.array(c["CV-best"]) / n)),
            "mean_diff": float(diff.mean()),
            **_grid.wtl(c["CV-best"], c[best]),
            "chose_best": float(np.mean([ch == best for ch in c["chosen"]])),
        }
        # the target's rule, as docs/results.md
        table["/".join(map(str, key))] = {**e, "lost": _grid.loses(e["mean_diff"], e)}
    return table


def main(argv=None):
    from joblib import Parallel, delayed

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", choices=("reported", "dev"), default="reported")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    t0 = time.time()
    if args.grid == "reported":
        import paper

        cfg, seed = paper.CONFIGS["full"], 0
        tasks, _rob = paper.build_tasks(_grid.REPORTED, _grid.TEACHERS, cfg, seed)
        records = Parallel(n_jobs=args.n_jobs)(delayed(reported_task)(*t) for t in tasks)
    else:
        seed = 100  # selection_dev.py's folds and per-fold seeds
        tasks = [
            (ds, kind, rep, fold, tr, te, seed + 1000 * rep + fold)
            for ds in _grid.DEV
            for rep, fold, tr, te in _grid.fold_plan(ds, 2, 5, seed)
            for kind in _grid.TEACHERS
        ]
        records = Parallel(n_jobs=args.n_jobs)(delayed(dev_task)(*t) for t in tasks)
    table = summarise(records)
    rows = [
        [k, t["best_baseline"], f"{100 * t['best_accuracy']:.1f}", f"{100 * t['cv_best_accuracy']:.1f}",
         f"{100 * t['mean_diff']:+.1f}", f"{t['wins']}/{t['ties']}/{t['losses']}", f"{t['p']:.2g}",
         f"{t['chose_best']:.2f}", "loss" if t["lost"] else ""]
        for k, t in table.items()
    ]  # fmt: skip
    print(_common.markdown_table(
        ["config", "best", "best %", "CV-best %", "diff", "W/T/L", "p", "chose best", ""], rows))  # fmt: skip
    ts = list(table.values())
    summary = {
        "configurations": len(ts),
        "lost": sum(t["lost"] for t in ts),
        "won": sum(t["mean_diff"] > 0 for t in ts),
        "below": sum(t["mean_diff"] < 0 for t in ts),
        "mean_diff": float(np.mean([t["mean_diff"] for t in ts])),
        "folds": [sum(t[w] for t in ts) for w in ("wins", "ties", "losses")],
        "seconds": time.time() - t0,
    }
    print(
        f"\nCV-best against the best baseline over {summary['configurations']} configurations: above in "
        f"{summary['won']}, below in {summary['below']}, losses by the target's rule {summary['lost']}; mean "
        f"{100 * summary['mean_diff']:+.2f} points; folds W/T/L {'/'.join(map(str, summary['folds']))}; "
        f"{summary['seconds']:.0f} s"
    )
    path = args.json or str(_common.RESULTS_DIR / f"baseline_floor{'_dev' if args.grid == 'dev' else ''}.json")
    cmd = "python benchmarks/baseline_floor.py " + " ".join(argv if argv is not None else sys.argv[1:])
    _common.write_json(path, {"command": cmd.strip(), "grid": args.grid, "summary": summary, "configs": table})


if __name__ == "__main__":
    main()
