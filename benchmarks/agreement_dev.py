#!/usr/bin/env python
"""Where CREMBO's students disagree: the selected threshold, or the tree at a fixed threshold?

    python benchmarks/agreement_dev.py                                  # the default configurations
    python benchmarks/agreement_dev.py --configs digits/rf/2 dev_15/rf/3
    python benchmarks/agreement_dev.py --configs all --json benchmarks/results/agreement_dev_all.json

Development data only (benchmarks/_grid.py DEV), with selection_dev.py's robustness protocol: a
common stratified 15% test set, one student per training part of the 5 folds of the rest (the
teacher's beliefs are selection_dev.py's cached ones). Per configuration (data set / teacher /
depth), the mean pairwise agreement of the 5 students on the common test set, and their accuracy
there, for:

- ``VT-u``: scikit-learn's unweighted tree on the teacher's labels;
- ``default``: ``CREMBOClassifier``'s default selection (its threshold and student chosen per fit);
- ``gini@t``, ``cons@t``: crembo's native tree, unweighted Gini / criterion "consistency", on the
  clipped allowed sets of one threshold t fixed for all five fits (no selection).

When the fixed-threshold students agree and the default's do not, the disagreement comes from the
choice of threshold; when they do not agree either, from the tree on those allowed sets.
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _common
import _grid
import selection_dev

THRESHOLDS = (0.01, 0.03, 0.1, 0.3)
CONFIGS = ("digits/rf/2", "digits/rf/3", "dev_15/rf/3", "dev_10/gb/3", "wine/gb/3")


def students(name, kind, depth, seed, folds):
    """{method: ([predictions on the common test set per fold], test labels)}."""
    from sklearn.tree import DecisionTreeClassifier

    import crembo
    from crembo._selection import allowed_sets

    X, y = _grid.load(name)
    preds = {}
    for rep, fold, tr, te in selection_dev.robust_plan(name, folds, seed):
        belief = _grid.fold_beliefs(name, kind, rep, fold, tr, te, seed)["in"]
        vt = DecisionTreeClassifier(max_depth=depth, random_state=seed).fit(X[tr], belief.argmax(axis=1))
        preds.setdefault("VT-u", []).append(vt.predict(X[te]))
        student = selection_dev.make_student("native", depth, seed)
        clf = crembo.CREMBOClassifier(teacher=belief, student=student, n_jobs=1, random_state=seed)
        preds.setdefault("default", []).append(clf.fit(X[tr], y[tr]).predict(X[te]))
        for t in THRESHOLDS:
            allowed = allowed_sets(belief, t, clip=True)
            for crit, tag in (("gini", "gini"), ("consistency", "cons")):
                tree = crembo.AllowedLabelTreeClassifier(max_depth=depth, criterion=crit, n_jobs=1)
                preds.setdefault(f"{tag}@{t}", []).append(tree.fit_allowed(X[tr], allowed).predict(X[te]))
    return preds, y[te]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), help='data set/teacher/depth, or "all"')
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--json", default=str(_common.RESULTS_DIR / "agreement_dev.json"))
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    from crembo.metrics import agreement

    table, rows = {}, []
    if args.configs == ["all"]:  # the whole development grid: 63 configurations, 16 minutes
        args.configs = [f"{n}/{t}/{d}" for n in _grid.DEV for t in _grid.TEACHERS for d in (2, 3, 4)]
    for config in args.configs:
        name, kind, depth = config.split("/")
        if name not in _grid.DEV:
            raise SystemExit(f"{name} is not a development data set ({', '.join(_grid.DEV)})")
        preds, y_test = students(name, kind, int(depth), args.seed, args.folds)
        table[config] = {
            m: {
                "agreement": agreement(ps).estimate,
                "accuracy": float(np.mean([np.mean(p == y_test) for p in ps])),
            }
            for m, ps in preds.items()
        }
        methods = list(preds)
        rows.append(
            [config]
            + [f"{100 * table[config][m]['agreement']:.0f} ({100 * table[config][m]['accuracy']:.1f})" for m in methods]
        )
    means = {m: [100 * np.mean([t[m][q] for t in table.values()]) for q in ("agreement", "accuracy")] for m in methods}
    rows.append(["mean", *(f"{a:.1f} ({c:.1f})" for a, c in means.values())])
    print("agreement % (accuracy %) of the students trained on the 5 training parts")
    print(_common.markdown_table(["config", *methods], rows))
    cmd = "python benchmarks/agreement_dev.py " + " ".join(argv if argv is not None else sys.argv[1:])
    _common.write_json(args.json, {"command": cmd.strip(), "thresholds": THRESHOLDS, "configs": table})


if __name__ == "__main__":
    main()
