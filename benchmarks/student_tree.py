#!/usr/bin/env python
"""The native student tree against scikit-learn's on the true labels (no teacher, no selection).

    python benchmarks/student_tree.py            # every data set, depths 2-4, 10-fold x 3
    python benchmarks/student_tree.py --quick    # three small sets, 5-fold x 1

Where CREMBO's scan ends (the teacher's labels), its student is crembo's native tree fitted on
one-hot allowed sets; a user's baseline is scikit-learn's DecisionTreeClassifier. Any accuracy
the native tree loses here, CREMBO loses against BM and VT whatever its selection does. Columns,
per data set and depth (mean test accuracy, %):

- ``sk-b``, ``sk-u``: scikit-learn's tree, class_weight "balanced" / None;
- ``nat-b``: the native tree's "balanced" (the paper's multi-output weights: the product over
  the one-hot columns of their balanced weights, not scikit-learn's single-output ones);
- ``nat-L``: the native tree with ``label_balanced_weights`` (scikit-learn's "balanced" for
  one label per row);
- ``nat-u``: the native tree unweighted;
- ``nat-u-edge``: as ``nat-u`` but with the split threshold at the edge above the node's left
  values (before ``crembo.tree.binning.BinLayout.centred_bin``), for the ablation;
- ``sk-u-bins``: scikit-learn's unweighted tree on the native tree's bin codes (at most 255
  quantile bins per feature, fitted on the training rows): what binning alone costs;
- ``nat-c``: the native tree with ``criterion="consistency"`` (splits that maximise the rows
  their leaf labels correctly, ties broken by Gini), CREMBO's third candidate student.

W/T/L: ``nat-u`` against ``sk-u`` over every fold, with a two-sided sign test.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _common
import _grid

METHODS = ("sk-b", "nat-b", "nat-L", "sk-u", "nat-u", "nat-u-edge", "sk-u-bins", "nat-c")


def fold_accuracies(X, y, depth, folds, reps, seed):
    """{method: [test accuracy per fold]} and {method: [correct count per fold]}."""
    import warnings
    from contextlib import contextmanager

    from sklearn.model_selection import StratifiedKFold
    from sklearn.tree import DecisionTreeClassifier

    from crembo._selection import label_balanced_weights, one_hot
    from crembo.tree import AllowedLabelTreeClassifier, bin_features
    from crembo.tree.binning import BinLayout

    @contextmanager
    def edge_thresholds():  # the ablation: thresholds at the left values' edge, as before
        centred = BinLayout.centred_bin
        BinLayout.centred_bin = lambda self, feature, left_bin, right_bin: left_bin
        try:
            yield
        finally:
            BinLayout.centred_bin = centred

    k = int(y.max()) + 1
    correct = {m: [] for m in METHODS}
    sizes = []
    for rep in range(reps):
        skf = StratifiedKFold(folds, shuffle=True, random_state=seed + rep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            plan = list(skf.split(X, y))
        for tr, te in plan:
            sizes.append(len(te))
            Y = one_hot(y[tr], k)

            def hits(pred, te=te):
                return int((np.asarray(pred) == y[te]).sum())

            for cw, tag in (("balanced", "b"), (None, "u")):
                sk = DecisionTreeClassifier(max_depth=depth, class_weight=cw, random_state=0).fit(X[tr], y[tr])
                correct[f"sk-{tag}"].append(hits(sk.predict(X[te])))
                nat = AllowedLabelTreeClassifier(max_depth=depth, criterion="gini", class_weight=cw)
                correct[f"nat-{tag}"].append(hits(nat.fit(X[tr], Y).predict(X[te])))
            nat = AllowedLabelTreeClassifier(max_depth=depth, criterion="gini")
            nat.fit_prepared(nat.prepare_allowed(X[tr]), Y, sample_weight=label_balanced_weights(Y))
            correct["nat-L"].append(hits(nat.predict(X[te])))
            with edge_thresholds():
                nat = AllowedLabelTreeClassifier(max_depth=depth, criterion="gini").fit(X[tr], Y)
                correct["nat-u-edge"].append(hits(nat.predict(X[te])))
            # bin b holds edges[b-1] < x <= edges[b] (no NaN in these data sets)
            binned = bin_features(X[tr])
            codes_te = np.column_stack(
                [np.searchsorted(e, X[te, j], side="left") for j, e in enumerate(binned.bin_edges)]
            )
            sk = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(binned.X_binned.astype(float), y[tr])
            correct["sk-u-bins"].append(hits(sk.predict(codes_te.astype(float))))
            nat = AllowedLabelTreeClassifier(max_depth=depth, criterion="consistency").fit(X[tr], Y)
            correct["nat-c"].append(hits(nat.predict(X[te])))
    return correct, np.array(sizes, dtype=float)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="iris, wine and heart, 5-fold x 1")
    p.add_argument("--datasets", nargs="+", default=None)
    p.add_argument("--json", default=None, help="default: benchmarks/results/student_tree[_quick].json")
    args = p.parse_args(argv)
    names = args.datasets or (["iris", "wine", "heart"] if args.quick else list(_grid.DEV + _grid.REPORTED))
    folds, reps = (5, 1) if args.quick else (10, 3)
    t0 = time.perf_counter()
    rows, records = [], []
    for name in names:
        X, y = _grid.load(name)
        for depth in (2, 3, 4):
            correct, sizes = fold_accuracies(X, y, depth, folds, reps, seed=100)
            acc = {m: float(np.mean(np.array(c) / sizes)) for m, c in correct.items()}
            s = _grid.wtl(correct["nat-u"], correct["sk-u"])
            rows.append(
                [name, depth]
                + [f"{100 * acc[m]:.1f}" for m in METHODS]
                + [f"{s['wins']}/{s['ties']}/{s['losses']}", f"{s['p']:.3f}"]
            )
            records.append({"dataset": name, "depth": depth, "accuracy": acc, "nat-u_vs_sk-u": s})
    print(_common.markdown_table(["data set", "depth", *METHODS, "nat-u vs sk-u", "p"], rows))
    mean = {m: float(np.mean([r["accuracy"][m] for r in records])) for m in METHODS}
    print("mean: " + ", ".join(f"{m} {100 * v:.2f}" for m, v in mean.items()))
    print(f"{time.perf_counter() - t0:.0f} s")
    out = args.json or _common.RESULTS_DIR / f"student_tree{'_quick' if args.quick else ''}.json"
    _common.write_json(
        out,
        {
            "command": "python benchmarks/student_tree.py" + (" --quick" if args.quick else ""),
            "folds": folds,
            "reps": reps,
            "mean": mean,
            "records": records,
        },
    )


if __name__ == "__main__":
    main()
