#!/usr/bin/env python
"""The default selection with the teacher's labels as extra outputs of the student (development data).

    python benchmarks/teacher_outputs_dev.py                    # seed 100, m = 1
    python benchmarks/teacher_outputs_dev.py --robust           # agreement (robustness protocol)
    python benchmarks/teacher_outputs_dev.py --seed 200 [--robust] [--m 3]

A probe of a more stable student, not an option of crembo. Every allowed matrix the default
selection builds (``crembo._selection.allowed_sets``: the scan's, and the refit's) gets m copies of
the teacher's one-hot top labels appended as more outputs, so the native tree's multi-output Gini
adds the teacher labels' Gini to the allowed sets' (``criterion="consistency"`` keeps its first
key and uses the sum to break ties), and among the splits the allowed sets score alike the one
that also separates the teacher's labels wins. A leaf's label is the output with the most rows,
read modulo k: with clipped sets a row's top label is always allowed, so an allowed output counts
at least as many rows as the teacher output of the same class. Everything else, the user's-VT
rule included, is the default's. The monkeypatches are undone by the worker processes' exit.

Data, folds, seeds and cached teachers are benchmarks/user_vt_dev.py's; its records give the
default (z = 1) fold for fold, so that script must have run for the same seed (and protocol)
first. With m = 0 this reproduces the default's predictions exactly. Prints the default and the
probe: mean difference to the best baseline, configurations won / lost, lost significantly
(selection_dev.py's rule); with --robust, agreement and accuracy on the common test set. Writes
benchmarks/results/teacher_outputs_dev.json.
"""

import argparse
import collections
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _grid
import selection_dev as sd
import user_vt_dev as u

ROOT = Path(__file__).resolve().parent.parent


def _patch(m):
    """Append m copies of the teacher's one-hot top labels to every allowed matrix of the selection;
    read the native tree's predictions modulo k."""
    import crembo._selection as S
    import crembo.oracles as O

    if hasattr(S, "_plain_allowed_sets"):
        return
    S._plain_allowed_sets = S.allowed_sets

    def with_teacher(belief, d, clip=False, top=None, **kw):
        allowed = S._plain_allowed_sets(belief, d, clip, top, **kw)
        teacher = belief >= belief.max(axis=1, keepdims=True)
        return np.hstack([allowed] + [teacher] * m)

    S.allowed_sets = with_teacher
    plain_predict = O.FitAllowedOracle.predict_training

    def modulo_k(self, model, prepared, X):
        return np.asarray(plain_predict(self, model, prepared, X)) % (model.n_classes_ // (1 + m))

    O.FitAllowedOracle.predict_training = modulo_k


def fit_task(ds, kind, rep, fold, train, test, seed, m):
    """The probe's test predictions per depth (one fold, one teacher)."""
    from threadpoolctl import threadpool_limits

    import crembo

    if m:
        _patch(m)
    X, y = _grid.load(ds)
    k = int(y.max() + 1)
    out = {}
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        belief = _grid.fold_beliefs(ds, kind, rep, fold, train, test, seed)["in"]
        for d in sd.DEPTHS:
            clf = crembo.CREMBOClassifier(
                teacher=belief, student=sd.make_student("native", d, seed), n_jobs=1, random_state=seed
            ).fit(X[train], y[train])
            est = clf.estimator_
            pred = np.asarray(est.predict(X[test]))
            if not hasattr(est, "tree_"):  # the native tree (not a kept scikit-learn VT): modulo k
                pred = pred % k
            out[str(d)] = pred.tolist()
    return out


def summarise(plan, results, robust):
    """Print and return the table of the probe and the default (and VT-u with ``robust``)."""
    from crembo.metrics import agreement

    groups = collections.defaultdict(list)
    for t, r in zip(plan, results, strict=True):
        ds, kind, _rep, _fold, _train, te, _seed = t
        rec = u.fit_fold(*t)  # the default's fold, from user_vt_dev.py's cache
        y_test = _grid.load(ds)[1][te]
        for d in sd.DEPTHS:
            rd = rec[str(d)]
            groups[(ds, kind, d)].append(
                {
                    "probe": np.asarray(r[str(d)]),
                    "default": u.predictions(rd, 1.0),
                    "VT-u": np.asarray(rd["VT-u"]),
                    "base": {b: np.asarray(rd[b]) for b in sd.BASELINES},
                    "y": y_test,
                }
            )
    table = {}
    if robust:
        for name in ("probe", "default", "VT-u"):
            rows = [
                (agreement([f[name] for f in g]).estimate, np.mean([np.mean(f[name] == f["y"]) for f in g]))
                for g in groups.values()
            ]
            table[name] = {
                "agreement": 100 * float(np.mean([a for a, _ in rows])),
                "accuracy": 100 * float(np.mean([c for _, c in rows])),
            }
            print(f"{name:8s} agreement {table[name]['agreement']:.2f}%  accuracy {table[name]['accuracy']:.2f}%")
    else:
        for name in ("probe", "default"):
            diffs, lost = [], 0
            for g in groups.values():
                n = np.array([len(f["y"]) for f in g], dtype=float)
                correct = np.array([np.sum(f[name] == f["y"]) for f in g])
                base = {b: np.array([np.sum(f["base"][b] == f["y"]) for f in g]) for b in sd.BASELINES}
                best = _grid.best_baseline(base, n)
                diff = float(np.mean(correct / n - base[best] / n))
                s = _grid.wtl(correct, base[best])
                diffs.append(diff)
                lost += _grid.loses(diff, s)
            table[name] = {
                "mean_diff": 100 * float(np.mean(diffs)),
                "won": int(sum(x > 0 for x in diffs)),
                "lost": int(sum(x < 0 for x in diffs)),
                "lost_sig": int(lost),
            }
            e = table[name]
            print(
                f"{name:8s} mean diff {e['mean_diff']:+.2f}  won / lost {e['won']} / {e['lost']}  "
                f"lost significantly {e['lost_sig']}"
            )
    return table


def main(argv=None):
    from joblib import Parallel, delayed

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--m", type=int, default=1, help="copies of the teacher's labels (0: the default)")
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--robust", action="store_true")
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "teacher_outputs_dev.json"))
    args = ap.parse_args(argv)
    plan = u.tasks(args.seed, args.robust)
    t0 = time.perf_counter()
    results = Parallel(n_jobs=args.n_jobs)(delayed(fit_task)(*t, args.m) for t in plan)
    wall = time.perf_counter() - t0
    table = summarise(plan, results, args.robust)
    print(f"\n{len(plan)} folds x teachers in {wall:.0f} s")
    path = Path(args.json)
    old = json.loads(path.read_text()) if path.exists() else {}
    key = f"m {args.m}, seed {args.seed}, {'robust' if args.robust else 'accuracy'}"
    old[key] = {
        "command": "python benchmarks/teacher_outputs_dev.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        **table,
    }
    path.write_text(json.dumps(old, indent=1) + "\n")


if __name__ == "__main__":
    main()
