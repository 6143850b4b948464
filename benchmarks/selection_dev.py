#!/usr/bin/env python
"""Development runs that chose CREMBOClassifier's default selection (docs/selection.md).

    python benchmarks/selection_dev.py --variants paper cv5 ...     # compare selection variants
    python benchmarks/selection_dev.py --list                         # the variants defined here

Only DEVELOPMENT data (benchmarks/_grid.py: wine, digits and make_classification sets with seeds
and parameters of their own) -- never the reported grid. Per data set, teacher (RF, GB, MLP) and
fold (stratified 5-fold x 2 repetitions, seed 100): the teacher is fitted on the training part
and its beliefs cached (in-sample, cross-fitted, out-of-bag); every variant compresses it into a
depth-2, -3 and -4 tree, and so do the four baselines (scikit-learn trees, balanced and
unweighted, on the true labels, BM, and on the teacher's labels, VT). A variant's result per
fold is cached too, so adding a variant reruns only it.

Reported per variant: over the (data set x teacher x depth) configurations, the mean accuracy
difference to the best of the four baselines (the one a practitioner would pick, chosen per
configuration by its mean), configurations won / lost, significant losses (mean below by more
than 1 point, or a two-sided sign test at p < 0.05 over the folds), and fold-level W/T/L.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _grid

ROOT = Path(__file__).resolve().parent.parent
BASELINES = _grid.BASELINES
DEPTHS = (2, 3, 4)


def _spec(**kw):
    return ("spec", kw)


# name -> (belief, student, selection). belief: "in" (in-sample), "cf" (cross-fitted), "oob"
# (out-of-bag votes; RF only, else in-sample); student: "paper" (scikit-learn's balanced tree),
# "native" (crembo's default: the native tree, gini, balanced); selection: "paper" or a
# SelectionSpec's fields.
VARIANTS = {
    "paper": ("in", "paper", "paper"),
    "paper-native": ("in", "native", "paper"),
    "hold-refit": ("in", "native", _spec(folds=1, clip=False, tie="low", class_weights=None)),
    "cv5-low": ("in", "native", _spec(folds=5, clip=False, tie="low", class_weights=None)),
    "cv5-high": ("in", "native", _spec(folds=5, clip=False, tie="high", class_weights=None)),
    "cv5-high-clip": ("in", "native", _spec(folds=5, clip=True, tie="high", class_weights=None)),
    "cv5-high-clip-w": ("in", "native", _spec(folds=5, clip=True, tie="high")),
    "cv5-high-clip-u": ("in", "native", _spec(folds=5, clip=True, tie="high", class_weights=(None,))),
    "cv5-fid-clip-w": ("in", "native", _spec(folds=5, clip=True, tie="fidelity")),
    "cv5-high-clip-w-1se": ("in", "native", _spec(folds=5, clip=True, tie="high", one_se=True)),
    "cv5-high-clip-w-0": ("in", "native", _spec(folds=5, clip=True, tie="high", from_memo=False)),
    "cv10-high-clip-w": ("in", "native", _spec(folds=10, clip=True, tie="high")),
    "cv5x2-high-clip-w": ("in", "native", _spec(folds=5, repeats=2, clip=True, tie="high")),
    "cv5-high-clip-w-cf": ("cf", "native", _spec(folds=5, clip=True, tie="high")),
    "cv5-high-clip-w-oob": ("oob", "native", _spec(folds=5, clip=True, tie="high")),
    "hold-high-clip-w": ("in", "native", _spec(folds=1, clip=True, tie="high")),
    "cv5-high-clip-w-bm": ("in", "native", _spec(folds=5, clip=True, tie="high", true_labels=True)),
    "cv5-high-clip-L": ("in", "native", _spec(folds=5, clip=True, tie="high", class_weights=("labels", None))),
    "cv5-high-clip-L-1se": (
        "in",
        "native",
        _spec(folds=5, clip=True, tie="high", one_se=True, class_weights=("labels", None)),
    ),
    "cv5-high-end-w": ("in", "native", _spec(folds=5, clip="end", tie="high")),
    "cv5-high-clip-w-s32": ("in", "native", _spec(folds=5, clip=True, tie="high", max_scan=32)),
    "cv5-high-clip-BLN": (
        "in",
        "native",
        _spec(folds=5, clip=True, tie="high", class_weights=("balanced", "labels", None)),
    ),
    "cv5-high-clip-w-bm-1se": ("in", "native", _spec(folds=5, clip=True, tie="high", true_labels=True, one_se=True)),
    "cv5-fid-clip-w-bm": ("in", "native", _spec(folds=5, clip=True, tie="fidelity", true_labels=True)),
    "vt-z1.64": ("in", "native", _spec(prefer_vt=1.64)),
    "stab0.5": ("in", "native", _spec(stability=0.5)),
    "cons1": ("in", "native", _spec(consensus=1.0)),
    "cons2": ("in", "native", _spec(consensus=2.0)),
    "s8": ("in", "native", _spec(max_scan=8)),
    "crit3": ("in", "native", _spec(consistency=True)),  # the default since 2026-12-05
    "stab1": ("in", "native", _spec(stability=1.0)),
    "crit3-s8": ("in", "native", _spec(consistency=True, max_scan=8)),
    "crit3-s16": ("in", "native", _spec(consistency=True, max_scan=16)),
    "crit3-1se": ("in", "native", _spec(consistency=True, one_se=True)),
    "crit3-cons2": ("in", "native", _spec(consistency=True, consensus=2.0)),
    "crit3-x2": ("in", "native", _spec(consistency=True, repeats=2)),
    "crit3-vt1": ("in", "native", _spec(consistency=True, prefer_vt=1.0)),
    "crit3-BLN": ("in", "native", _spec(consistency=True, class_weights=("balanced", "labels", None))),
    # scikit-learn's unweighted VT kept unless beaten by z binomial SE. (uvt1 and uvt2, measured
    # 2026-12-05, kept the better of the unweighted and balanced VTs: that form is gone, see
    # docs/selection.md; commit 770c4db has it.)
    "uvtu0.5": ("in", "native", _spec(consistency=True, user_vt=0.5)),
    "uvtu1": ("in", "native", _spec(consistency=True, user_vt=1.0)),
}


def make_student(kind, depth, seed, class_weight="balanced"):
    from sklearn.tree import DecisionTreeClassifier

    from crembo.oracles import default_student

    if kind == "paper":
        return DecisionTreeClassifier(max_depth=depth, class_weight="balanced", random_state=seed)
    if kind == "native":
        return default_student().set_params(max_depth=depth)
    if kind == "sk":
        return DecisionTreeClassifier(max_depth=depth, class_weight=class_weight, random_state=seed)
    raise ValueError(kind)


def run_variant(name, X_tr, y_tr, X_te, beliefs, depth, seed):
    import crembo
    from crembo._selection import SelectionSpec

    bkey, student, sel = VARIANTS[name]
    B = beliefs.get(bkey, beliefs["in"])
    # variants defined before the consistency candidate and the user's VT became defaults keep
    # them off
    selection = "paper" if sel == "paper" else SelectionSpec(**{"consistency": False, "user_vt": None, **sel[1]})
    clf = crembo.CREMBOClassifier(
        teacher=B, student=make_student(student, depth, seed), selection=selection, n_jobs=1, random_state=seed
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X_tr, y_tr)
    secs = time.perf_counter() - t0
    return clf.predict(X_te), {
        "threshold": clf.threshold_,
        "seconds": secs,
        "student": getattr(clf, "student_", "student"),
        "pos_frac": float(clf.scan_.position / max(1, len(clf.scan_.indices) - 1)),
    }


def _variant_key(name):
    # "v2": the native tree centres its split thresholds (crembo.tree.binning.centred_bin); the
    # scikit-learn students of "paper" did not change
    return _grid._key(name, VARIANTS[name], "v1" if VARIANTS[name][1] == "paper" else "v2")


def task(dataset, kind, rep, fold, train, test, seed, variants):
    from threadpoolctl import threadpool_limits

    X, y = _grid.load(dataset)
    out = {}
    with threadpool_limits(1):
        beliefs = _grid.fold_beliefs(dataset, kind, rep, fold, train, test, seed)
        vt_labels = beliefs["train_pred"]
        rdir = _grid.cache_dir() / "dev-results"
        for d in DEPTHS:
            base, base_pred = {}, {}
            for b in BASELINES:
                cw = "balanced" if b.endswith("-b") else None
                target = y[train] if b.startswith("BM") else vt_labels
                base_pred[b] = make_student("sk", d, seed, cw).fit(X[train], target).predict(X[test])
                base[b] = int((base_pred[b] == y[test]).sum())
            out[(d, "_base")] = base
            out[(d, "_base_pred")] = {b: p.tolist() for b, p in base_pred.items()}
        out["teacher"] = int((beliefs["test_pred"] == y[test]).sum())
        for v in variants:
            path = rdir / _variant_key(v) / f"{dataset}-{kind}-{rep}-{fold}-{seed}.json"
            bkey, student, sel = VARIANTS[v]
            twin = [w for w in VARIANTS if VARIANTS[w] == ("in", student, sel)]
            if bkey not in beliefs and twin:  # out-of-bag votes exist for the forest only
                path = rdir / _variant_key(twin[0]) / path.name
            if path.exists():
                res = json.loads(path.read_text())
            else:
                res = {}
                for d in DEPTHS:
                    pred, info = run_variant(v, X[train], y[train], X[test], beliefs, d, seed)
                    res[str(d)] = {"correct": int((pred == y[test]).sum()), "pred": pred.tolist(), **info}
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(res))
            for d in DEPTHS:
                out[(d, v)] = res[str(d)]
    return dataset, kind, rep, fold, len(test), out


def summarise(records, variants):
    """Per variant: configurations won/lost against the best baseline, with fold W/T/L."""
    configs = {}
    for ds, kind, _rep, _fold, n_test, out in records:
        for d in DEPTHS:
            c = configs.setdefault(
                (ds, kind, d),
                {
                    "n": [],
                    "base": {b: [] for b in BASELINES},
                    "v": {v: [] for v in variants},
                    "info": {v: [] for v in variants},
                },
            )
            c["n"].append(n_test)
            for b in BASELINES:
                c["base"][b].append(out[(d, "_base")][b])
            for v in variants:
                c["v"][v].append(out[(d, v)]["correct"])
                c["info"][v].append(out[(d, v)])
    table = {}
    for key, c in configs.items():
        n = np.array(c["n"], dtype=float)
        base_acc = {b: np.mean(np.array(c["base"][b]) / n) for b in BASELINES}
        best = _grid.best_baseline(c["base"], n)
        row = {"best_baseline": best, "best_acc": base_acc[best], "base_acc": base_acc, "v": {}}
        for v in variants:
            acc = np.array(c["v"][v]) / n
            diff = acc - np.array(c["base"][best]) / n
            s = _grid.wtl(c["v"][v], c["base"][best])
            lost_sig = _grid.loses(diff.mean(), s)
            won_sig = s["p"] < 0.05 and s["wins"] > s["losses"]
            row["v"][v] = {
                "acc": acc.mean(),
                "diff": diff.mean(),
                **s,
                "lost_sig": lost_sig,
                "won_sig": won_sig,
                "seconds": float(np.mean([i["seconds"] for i in c["info"][v]])),
                "pos_frac": float(np.mean([i["pos_frac"] for i in c["info"][v]])),
            }
        table[key] = row
    return table


def robust_plan(name, folds, seed):
    """[("rob", fold, train, common)]: a common stratified 15% test set; the students of each
    method are trained on each of the K folds' training parts of the rest."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    _X, y = _grid.load(name)
    pool, common = train_test_split(np.arange(len(y)), test_size=0.15, stratify=y, random_state=seed)
    skf = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return [("rob", f, pool[tr], common) for f, (tr, _) in enumerate(skf.split(pool, y[pool]))]


def robust_summary(records, variants):
    """Mean pairwise agreement (and common-test accuracy) per configuration and method."""
    from crembo.metrics import agreement

    preds, correct = {}, {}
    for ds, kind, _rep, _fold, n_test, out in records:
        for d in DEPTHS:
            for b in BASELINES:
                preds.setdefault((ds, kind, d, b), []).append(np.asarray(out[(d, "_base_pred")][b]))
                correct.setdefault((ds, kind, d, b), []).append(out[(d, "_base")][b] / n_test)
            for v in variants:
                preds.setdefault((ds, kind, d, v), []).append(np.asarray(out[(d, v)]["pred"]))
                correct.setdefault((ds, kind, d, v), []).append(out[(d, v)]["correct"] / n_test)
    table = {}
    for key, ps in preds.items():
        table.setdefault(key[:3], {})[key[3]] = (agreement(ps).estimate, float(np.mean(correct[key])))
    methods = list(BASELINES) + list(variants)
    print(f"{'config':28s} " + " ".join(f"{m[:14]:>14s}" for m in methods))
    for k in sorted(table):
        print(
            f"{'/'.join(map(str, k)):28s} "
            + " ".join(f"{100 * table[k][m][0]:6.1f} ({100 * table[k][m][1]:4.1f})" for m in methods)
        )
    print(
        f"{'mean':28s} "
        + " ".join(
            f"{100 * np.mean([table[k][m][0] for k in table]):6.1f} "
            f"({100 * np.mean([table[k][m][1] for k in table]):4.1f})"
            for m in methods
        )
    )
    return table


def print_summary(table, variants, detail):
    keys = sorted(table)
    if detail:
        print(f"{'config':28s} {'best':5s} {'acc':>5s} | " + " | ".join(f"{v[:14]:>14s}" for v in variants))
        for k in keys:
            r = table[k]
            cells = []
            for v in variants:
                e = r["v"][v]
                mark = "!" if e["lost_sig"] else ("+" if e["won_sig"] else " ")
                cells.append(f"{100 * e['diff']:+5.1f} {e['wins']:2d}/{e['losses']:2d}{mark:>3s}")
            print(
                f"{k[0] + '/' + k[1] + '/d' + str(k[2]):28s} {r['best_baseline']:5s} {100 * r['best_acc']:5.1f} | "
                + " | ".join(f"{c:>14s}" for c in cells)
            )
    print(
        f"\n{'variant':24s} {'mean diff':>9s} {'won':>4s} {'lost':>4s} {'sig won':>7s} {'sig lost':>8s} "
        f"{'folds W/T/L':>14s} {'worst':>6s} {'s/fit':>6s}"
    )
    for v in variants:
        es = [table[k]["v"][v] for k in keys]
        w = sum(e["wins"] for e in es)
        t = sum(e["ties"] for e in es)
        lo = sum(e["losses"] for e in es)
        print(
            f"{v:24s} {100 * np.mean([e['diff'] for e in es]):+9.2f} {sum(e['diff'] > 0 for e in es):4d} "
            f"{sum(e['diff'] < 0 for e in es):4d} {sum(e['won_sig'] for e in es):7d} "
            f"{sum(e['lost_sig'] for e in es):8d} {w:5d}/{t}/{lo} {100 * min(e['diff'] for e in es):+6.1f} "
            f"{np.mean([e['seconds'] for e in es]):6.3f}"
        )


def main(argv=None):
    from joblib import Parallel, delayed

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", nargs="+", default=["paper", "paper-native", "cv5-high-clip-w"])
    ap.add_argument("--datasets", nargs="+", default=list(_grid.DEV), choices=_grid.DEV)
    ap.add_argument("--teachers", nargs="+", default=list(_grid.TEACHERS), choices=_grid.TEACHERS)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--detail", action="store_true", help="one line per configuration")
    ap.add_argument("--list", action="store_true")
    ap.add_argument(
        "--robust",
        action="store_true",
        help="agreement of the students trained on the folds of a pool, on a common 15%% test set",
    )
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "selection_dev.json"))
    args = ap.parse_args(argv)
    if args.list:
        for k, v in VARIANTS.items():
            print(f"{k:24s} {v}")
        return
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}; --list shows them")
    tasks = []
    for ds in args.datasets:
        plan = (
            robust_plan(ds, args.folds, args.seed)
            if args.robust
            else _grid.fold_plan(ds, args.reps, args.folds, args.seed)
        )
        for rep, fold, tr, te in plan:
            for kind in args.teachers:
                tasks.append((ds, kind, rep, fold, tr, te, args.seed + 1000 * (rep if rep != "rob" else 9) + fold))
    # costliest first so the workers finish together
    cost = {"digits": 6, "dev_15": 4, "dev_wide": 4, "dev_10": 3}
    tasks.sort(key=lambda t: -cost.get(t[0], 1) * (3 if t[1] != "rf" else 1))
    t0 = time.perf_counter()
    records = Parallel(n_jobs=args.n_jobs, verbose=2)(delayed(task)(*t, args.variants) for t in tasks)
    wall = time.perf_counter() - t0
    if args.robust:
        table = robust_summary(records, args.variants)
        print(f"\n{len(tasks)} tasks in {wall:.0f} s")
        path = Path(args.json).with_name(Path(args.json).stem + "_robust.json")
        path.write_text(
            json.dumps(
                {
                    "command": "python benchmarks/selection_dev.py "
                    + " ".join(argv if argv is not None else sys.argv[1:]),
                    "agreement_and_accuracy": {"/".join(map(str, k)): v for k, v in table.items()},
                },
                indent=1,
            )
        )
        return
    table = summarise(records, args.variants)
    print_summary(table, args.variants, args.detail)
    print(f"\n{len(tasks)} tasks in {wall:.0f} s")
    path = Path(args.json)
    old = json.loads(path.read_text()) if path.exists() else {}
    cmd = "python benchmarks/selection_dev.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for v in args.variants:
        old[v] = {
            "command": cmd,
            "definition": repr(VARIANTS[v]),
            "configs": {
                "/".join(map(str, k)): {
                    "best_baseline": r["best_baseline"],
                    "best_acc": r["best_acc"],
                    **{
                        f: r["v"][v][f]
                        for f in ("acc", "diff", "wins", "ties", "losses", "p", "lost_sig", "won_sig", "seconds")
                    },
                }
                for k, r in table.items()
            },
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(old, indent=1, default=float))


if __name__ == "__main__":
    main()
