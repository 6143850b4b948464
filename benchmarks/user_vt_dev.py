#!/usr/bin/env python
"""How strongly should CREMBO's student have to beat the tree a user would fit? (development data)

    python benchmarks/user_vt_dev.py                    # selection_dev.py's draw (seed 100)
    python benchmarks/user_vt_dev.py --seed 200         # a second draw of the same protocol
    python benchmarks/user_vt_dev.py --robust           # agreement, on the robustness protocol

``SelectionSpec(user_vt=z)`` keeps scikit-learn's unweighted tree on the teacher's labels (VT-u,
scored on the selection's own folds) unless the student the rest of the selection chose beats it
held out by more than z binomial standard errors. Every z is one comparison of two held-out
scores, so one fit per fold serves them all: each fit here is the selection without the rule
(``SelectionSpec(user_vt=None)``'s student), with the two scores and VT-u's test predictions
recorded beside it, and every rule is evaluated from those records. (The scores are read by
wrapping ``crembo._selection.keeps_user_vt``, the rule's one decision, so that the fit can never
keep VT itself.) The data, teachers, folds and seeds are selection_dev.py's (its cached teacher
beliefs are reused), so ``z = None`` reproduces its ``crit3`` variant fold for fold, and the
summary applies its rule for a significant loss. Results: benchmarks/results/user_vt_dev.json
(and ``_robust.json``).

The rules "optimism, z = ..." (measured, not adopted: docs/selection.md) first subtract from the
chosen student's held-out accuracy the optimism of having chosen it among every candidate
(``optimism``), also recorded per fit.
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
import selection_dev as sd

ROOT = Path(__file__).resolve().parent.parent
# None: the selection without the user's VT; z: SelectionSpec(user_vt=z); ("tt", z): the same
# comparison after subtracting the chosen student's selection optimism (``optimism``)
RULES = (None, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, ("tt", 0.0), ("tt", 0.5), ("tt", 1.0))
_SCORES = {}


def _record_and_never_keep(chosen_accuracy, vt_accuracy, n_held, z):
    _SCORES.update(chosen=float(chosen_accuracy), vt=float(vt_accuracy), n_held=int(n_held))
    return False


def optimism(result):
    """Tibshirani & Tibshirani's (2009) estimate of how much the chosen candidate's held-out
    accuracy overstates its accuracy, from one cross-validation: the mean over splits of the
    best candidate's accuracy on that split minus the chosen one's."""
    fold_acc = result.fold_accuracy  # (candidates, thresholds, splits)
    best = fold_acc.reshape(-1, fold_acc.shape[2]).max(axis=0)
    return float(np.mean(best - fold_acc[result.chosen]))


def _recording_select(select):
    def wrapper(*args, **kwargs):
        result = select(*args, **kwargs)
        _SCORES["optimism"] = optimism(result)
        return result

    wrapper.__wrapped__ = select
    return wrapper


def fit_fold(ds, kind, rep, fold, train, test, seed):
    """Per depth: the baselines' and the student's test predictions, VT-u's, and the two held-out
    scores the rule compares (cached per fold)."""
    path = _grid.cache_dir() / "user-vt-dev" / f"{ds}-{kind}-{rep}-{fold}-{seed}.json"
    if path.exists():
        cached = json.loads(path.read_text())
        if all("optimism" in r for r in cached.values()):  # records before it: refit
            return cached
    from threadpoolctl import threadpool_limits

    import crembo
    import crembo._selection
    import crembo.estimator
    from crembo._user_vt import user_tree

    crembo._selection.keeps_user_vt = _record_and_never_keep
    # wrapped anew for every fold: a worker process keeps the module between tasks, and each task
    # brings its own _SCORES
    select = crembo.estimator.select
    crembo.estimator.select = _recording_select(getattr(select, "__wrapped__", select))
    X, y = _grid.load(ds)
    out = {}
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        beliefs = _grid.fold_beliefs(ds, kind, rep, fold, train, test, seed)
        labels = np.argmax(beliefs["in"], axis=1)  # the teacher's labels as the estimator reads them
        for d in sd.DEPTHS:
            r = {}
            for b in sd.BASELINES:
                target = y[train] if b.startswith("BM") else beliefs["train_pred"]
                cw = "balanced" if b.endswith("-b") else None
                r[b] = sd.make_student("sk", d, seed, cw).fit(X[train], target).predict(X[test]).tolist()
            student = sd.make_student("native", d, seed)
            spec = crembo.SelectionSpec(user_vt=0.0)  # scored, never kept (the wrapper above)
            clf = crembo.CREMBOClassifier(
                teacher=beliefs["in"], student=student, selection=spec, n_jobs=1, random_state=seed
            )
            _SCORES.clear()
            clf.fit(X[train], y[train])
            _, vt = user_tree(student, spec.class_weights, seed)
            r["crembo"] = clf.predict(X[test]).tolist()
            r["VT-u selection tree"] = vt.fit(X[train], labels).predict(X[test]).tolist()
            r.update(
                chosen_acc=_SCORES["chosen"],
                vt_acc=_SCORES["vt"],
                n_held=_SCORES["n_held"],
                optimism=_SCORES["optimism"],
            )
            out[str(d)] = r
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out))
    return out


def keeps(r, rule):
    """The library's rule (``crembo._user_vt.keeps_user_vt``) on a fit's record; an optimism rule
    raises VT's score by the chosen student's optimism, which is the same comparison."""
    from crembo._user_vt import keeps_user_vt

    if rule is None:
        return False
    z, optimism = (rule[1], r["optimism"]) if isinstance(rule, tuple) else (rule, 0.0)
    return keeps_user_vt(r["chosen_acc"], r["vt_acc"] + optimism, r["n_held"], z)


def predictions(r, z):
    return np.asarray(r["VT-u selection tree"] if keeps(r, z) else r["crembo"])


def tasks(seed, robust):
    out = []
    for ds in _grid.DEV:
        plan = sd.robust_plan(ds, 5, seed) if robust else _grid.fold_plan(ds, 2, 5, seed)
        for rep, fold, tr, te in plan:
            for kind in _grid.TEACHERS:
                out.append((ds, kind, rep, fold, tr, te, seed + 1000 * (rep if rep != "rob" else 9) + fold))
    return out


def accuracy_summary(records):
    """Per rule: selection_dev.py's summary against the best baseline of each configuration."""
    configs = {}
    for (ds, kind, *_rest, test, _seed), res in records:
        y_test = _grid.load(ds)[1][test]
        for d in sd.DEPTHS:
            r = res[str(d)]
            c = configs.setdefault((ds, kind, d), {"n": [], "base": {}, "rule": {}})
            c["n"].append(len(test))
            for b in sd.BASELINES:
                c["base"].setdefault(b, []).append(int((np.asarray(r[b]) == y_test).sum()))
            for z in RULES:
                c["rule"].setdefault(z, []).append(int((predictions(r, z) == y_test).sum()))
                c.setdefault("kept", {}).setdefault(z, []).append(keeps(r, z))
    out = {}
    for z in RULES:
        rows = []
        for c in configs.values():
            n = np.array(c["n"], dtype=float)
            best = _grid.best_baseline(c["base"], n)
            diff = np.array(c["rule"][z]) / n - np.array(c["base"][best]) / n
            s = _grid.wtl(c["rule"][z], c["base"][best])
            rows.append((diff.mean(), s, float(np.mean(c["kept"][z]))))
        out[z] = {
            "mean_diff": 100 * float(np.mean([m for m, _, _ in rows])),
            "won": int(sum(m > 0 for m, _, _ in rows)),
            "lost": int(sum(m < 0 for m, _, _ in rows)),
            "won_sig": int(sum(s["p"] < 0.05 and s["wins"] > s["losses"] for _, s, _ in rows)),
            "lost_sig": int(sum(_grid.loses(m, s) for m, s, _ in rows)),
            "folds": "/".join(str(sum(s[k] for _, s, _ in rows)) for k in ("wins", "ties", "losses")),
            "worst": 100 * min(m for m, _, _ in rows),
            "vt_kept": float(np.mean([k for _, _, k in rows])),
        }
    return out


def robust_summary(records):
    """Per rule (and VT-u): mean pairwise agreement of the 5 students, and their accuracy."""
    from crembo.metrics import agreement

    preds, acc = {}, {}
    for (ds, kind, *_rest, test, _seed), res in records:
        y_test = _grid.load(ds)[1][test]
        for d in sd.DEPTHS:
            r = res[str(d)]
            for m in (*RULES, "VT-u"):
                p = np.asarray(r["VT-u"]) if m == "VT-u" else predictions(r, m)
                preds.setdefault((m, ds, kind, d), []).append(p)
                acc.setdefault((m, ds, kind, d), []).append(float((p == y_test).mean()))
    out = {}
    for m in (*RULES, "VT-u"):
        keys = [k for k in preds if k[0] == m]
        out[m] = {
            "agreement": 100 * float(np.mean([agreement(preds[k]).estimate for k in keys])),
            "accuracy": 100 * float(np.mean([np.mean(acc[k]) for k in keys])),
        }
    return out


def _name(z):
    if isinstance(z, tuple):
        return f"optimism, z = {z[1]:g}"
    return "without (None)" if z is None else (z if isinstance(z, str) else f"z = {z:g}")


def main(argv=None):
    from joblib import Parallel, delayed

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--robust", action="store_true", help="selection_dev.py's robustness protocol")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "user_vt_dev.json"))
    args = ap.parse_args(argv)
    plan = tasks(args.seed, args.robust)
    t0 = time.perf_counter()
    results = Parallel(n_jobs=args.n_jobs, verbose=2)(delayed(fit_fold)(*t) for t in plan)
    records = list(zip(plan, results, strict=True))
    wall = time.perf_counter() - t0
    path = Path(args.json)
    if args.robust:
        path = path.with_name(path.stem + "_robust.json")
        table = robust_summary(records)
        print(f"{'rule':18s} {'agreement %':>12s} {'accuracy %':>11s}")
        for m, e in table.items():
            print(f"{_name(m):18s} {e['agreement']:12.1f} {e['accuracy']:11.1f}")
    else:
        table = accuracy_summary(records)
        print(
            f"{'rule':18s} {'mean diff':>9s} {'won':>4s} {'lost':>4s} {'sig won':>7s} {'sig lost':>8s} "
            f"{'folds W/T/L':>13s} {'worst':>6s} {'VT kept':>7s}"
        )
        for z, e in table.items():
            print(
                f"{_name(z):18s} {e['mean_diff']:+9.2f} {e['won']:4d} {e['lost']:4d} {e['won_sig']:7d} "
                f"{e['lost_sig']:8d} {e['folds']:>13s} {e['worst']:+6.1f} {100 * e['vt_kept']:6.0f}%"
            )
    print(f"\n{len(plan)} folds x teachers in {wall:.0f} s")
    old = json.loads(path.read_text()) if path.exists() else {}
    old[f"seed {args.seed}"] = {
        "command": "python benchmarks/user_vt_dev.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "rules": {_name(m): e for m, e in table.items()},
    }
    path.write_text(json.dumps(old, indent=1) + "\n")


if __name__ == "__main__":
    main()
