"""Data sets, teachers, folds and cached teacher beliefs shared by benchmarks/paper.py (the
reported grid) and benchmarks/selection_dev.py (the development runs that chose the selection).

Two disjoint families of data sets:

* REPORTED: the paper's five UCI sets (crembo.datasets) and two synthetic ``make_classification``
  sets with 10 and 20 classes at fixed seeds. They are run once with the chosen method
  (benchmarks/paper.py); nothing was tuned on them.
* DEV: scikit-learn's bundled wine and digits, and ``make_classification`` sets with other
  seeds and parameters. Every selection choice was made on these (docs/selection.md).

Teachers: "rf" (the paper's random forest: 100 trees of depth 12, balanced), "gb" (histogram
gradient boosting, 100 rounds), "mlp" (standardised inputs, one hidden layer of 100; belief =
predict_proba). Beliefs of a fold's teacher on its training rows are cached on disk (in-sample,
cross-fitted, and out-of-bag for the forest) so that selection variants reuse them.
"""

import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------------------- data sets

SYNTHETIC = {
    # reported (fixed seeds; never used while developing)
    "synth10": dict(
        n_samples=1000,
        n_features=20,
        n_informative=10,
        n_redundant=4,
        n_classes=10,
        n_clusters_per_class=1,
        flip_y=0.02,
        class_sep=1.0,
        random_state=2021,
    ),
    "synth20": dict(
        n_samples=1000,
        n_features=20,
        n_informative=10,
        n_redundant=4,
        n_classes=20,
        n_clusters_per_class=1,
        flip_y=0.02,
        class_sep=1.0,
        random_state=2022,
    ),
    # development
    "dev_few": dict(
        n_samples=500,
        n_features=20,
        n_informative=6,
        n_redundant=4,
        n_classes=4,
        n_clusters_per_class=2,
        weights=[0.5, 0.25, 0.15, 0.1],
        flip_y=0.05,
        random_state=101,
    ),
    "dev_10": dict(
        n_samples=800,
        n_features=20,
        n_informative=8,
        n_redundant=4,
        n_classes=10,
        n_clusters_per_class=1,
        flip_y=0.03,
        class_sep=1.0,
        random_state=102,
    ),
    "dev_15": dict(
        n_samples=900,
        n_features=30,
        n_informative=10,
        n_redundant=5,
        n_classes=15,
        n_clusters_per_class=1,
        flip_y=0.02,
        class_sep=1.2,
        random_state=103,
    ),
    "dev_binary": dict(
        n_samples=300,
        n_features=15,
        n_informative=5,
        n_redundant=2,
        n_classes=2,
        n_clusters_per_class=2,
        flip_y=0.1,
        random_state=104,
    ),
    "dev_wide": dict(
        n_samples=400,
        n_features=200,
        n_informative=10,
        n_redundant=10,
        n_classes=8,
        n_clusters_per_class=1,
        weights=[0.4, 0.2, 0.12, 0.08, 0.07, 0.06, 0.04, 0.03],
        flip_y=0.02,
        random_state=105,
    ),
}
REPORTED = ("iris", "heart", "dermatology", "arrhythmia", "breast_cancer", "synth10", "synth20")
DEV = ("wine", "digits", "dev_few", "dev_10", "dev_15", "dev_binary", "dev_wide")
TEACHERS = ("rf", "gb", "mlp")
# the trees a practitioner would fit: class-balanced (-b, the paper's) or unweighted (-u), on the
# true labels (BM) or on the teacher's (VT)
BASELINES = ("BM-b", "BM-u", "VT-b", "VT-u")
TEACHER_LABEL = {"rf": "RF", "gb": "GB", "mlp": "MLP"}


def load(name):
    """(X float64, y int64 in 0..k-1) of a named data set."""
    from crembo import datasets

    if name in datasets.NAMES:
        X, y = datasets.load(name)[:2]
    elif name in ("wine", "digits"):
        from sklearn import datasets as skd

        X, y = getattr(skd, f"load_{name}")(return_X_y=True)
    elif name in SYNTHETIC:
        from sklearn.datasets import make_classification

        X, y = make_classification(**SYNTHETIC[name])
    else:
        raise ValueError(f"unknown data set {name!r}")
    return np.asarray(X, dtype=np.float64), np.unique(y, return_inverse=True)[1].astype(np.int64)


def describe(name):
    X, y = load(name)
    return {
        "n": int(X.shape[0]),
        "p": int(X.shape[1]),
        "k": int(y.max() + 1),
        "smallest_class": int(np.bincount(y).min()),
    }


# ---------------------------------------------------------------------------- teachers

TEACHER_CONFIG = {
    "rf_trees": 100,
    "rf_depth": 12,
    "gb_rounds": 100,
    "gb_leaves": 15,
    "mlp_hidden": (100,),
    "mlp_iter": 1000,
}


def make_teacher(kind, seed, cfg=TEACHER_CONFIG):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "rf":
        return RandomForestClassifier(
            n_estimators=cfg["rf_trees"],
            max_depth=cfg["rf_depth"],
            class_weight="balanced",
            n_jobs=1,
            random_state=seed,
        )
    if kind == "gb":
        return HistGradientBoostingClassifier(
            max_iter=cfg["gb_rounds"], max_leaf_nodes=cfg["gb_leaves"], early_stopping=False, random_state=seed
        )
    if kind == "mlp":
        # standardised inputs: arrhythmia's raw features span 5 orders of magnitude
        return make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=cfg["mlp_hidden"], max_iter=cfg["mlp_iter"], random_state=seed),
        )
    raise ValueError(f"unknown teacher {kind!r}")


def teacher_belief(model, X, k):
    """The belief crembo reads from a fitted teacher (hard votes for the forest)."""
    import crembo

    return crembo.make_teacher(model).belief(X, np.arange(k))


def oob_belief(forest, X, y_k):
    """Out-of-bag hard-vote belief of a bagged forest on its own training rows X (rows without an
    out-of-bag tree get the in-sample belief)."""
    n = X.shape[0]
    counts = np.zeros((n, y_k))
    cls = np.asarray(forest.classes_, dtype=np.int64)
    for tree, drawn in zip(forest.estimators_, forest.estimators_samples_, strict=False):
        inbag = np.zeros(n, dtype=bool)
        inbag[drawn] = True
        oob = np.flatnonzero(~inbag)
        if oob.size:
            counts[oob, cls[tree.predict(X[oob]).astype(np.int64)]] += 1
    total = counts.sum(axis=1, keepdims=True)
    out = teacher_belief(forest, X, y_k)
    has = total[:, 0] > 0
    out[has] = counts[has] / total[has]
    return out


def cross_fitted_belief(kind, X, y, k, seed, folds=5):
    """Each training row's belief from a teacher fitted on the other folds."""
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros((X.shape[0], k))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j, (a, b) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y)):
            model = make_teacher(kind, seed + 7919 * (j + 1)).fit(X[a], y[a])
            out[b] = teacher_belief(model, X[b], k)
    return out


# ---------------------------------------------------------------------------- folds and cache


def fold_plan(name, reps, folds, seed):
    """[(rep, fold, train, test)]: stratified shuffled K-fold x reps (seed + rep)."""
    from sklearn.model_selection import StratifiedKFold

    X, y = load(name)
    out = []
    for rep in range(reps):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # arrhythmia has classes of 2-3 samples
            for f, (tr, te) in enumerate(StratifiedKFold(folds, shuffle=True, random_state=seed + rep).split(X, y)):
                out.append((rep, f, tr, te))
    return out


def cache_dir():
    return Path(os.environ.get("CREMBO_BENCH_CACHE", "/tmp/crembo-bench-cache"))


def _key(*parts):
    return hashlib.sha1(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


def fold_beliefs(name, kind, rep, fold, train, test, seed):
    """Cached teacher outputs of one fold: the teacher fitted on the training rows; its in-sample,
    out-of-bag (forest) and cross-fitted beliefs on them; its labels (``predict``) on the
    training and test rows."""
    import time

    X, y = load(name)
    k = int(y.max() + 1)
    path = cache_dir() / f"{name}-{kind}-{rep}-{fold}-{_key(seed, TEACHER_CONFIG, len(train))}.npz"
    if path.exists():
        with np.load(path) as z:
            return {key: z[key] for key in z.files}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        model = make_teacher(kind, seed).fit(X[train], y[train])
        fit_s = time.perf_counter() - t0
        # labels as a practitioner gets them: the teacher's own predict (soft vote for a forest)
        out = {
            "in": teacher_belief(model, X[train], k),
            "train_pred": model.predict(X[train]),
            "test_pred": model.predict(X[test]),
            "fit_seconds": np.float64(fit_s),
        }
        if kind == "rf":
            out["oob"] = oob_belief(model, X[train], k)
        out["cf"] = cross_fitted_belief(kind, X[train], y[train], k, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    return out


# ---------------------------------------------------------------------------- statistics


def sign_test(wins, losses):
    """Two-sided sign test p-value of wins vs losses (ties dropped)."""
    if wins + losses == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(wins, wins + losses, 0.5).pvalue)


def best_baseline(base_correct, n):
    """The target's reference: the baseline whose correct counts per fold (``base_correct[b]``,
    out of ``n`` test rows per fold) give the highest mean accuracy, picked after seeing the test
    folds (ties: the first in BASELINES)."""
    return max(BASELINES, key=lambda b: np.mean(np.asarray(base_correct[b]) / n))


def loses(mean_diff, s):
    """The target's failure: below the reference by more than 1 point on average (``mean_diff``, a
    fraction), or significantly by the sign test over folds (``s``: ``wtl``'s)."""
    return mean_diff < -0.01 or (s["p"] < 0.05 and s["losses"] > s["wins"])


def wtl(correct_a, correct_b):
    """Per-fold wins/ties/losses of a over b (counts of correct test rows), sign test p."""
    d = np.asarray(correct_a) - np.asarray(correct_b)
    wins, ties, losses = int((d > 0).sum()), int((d == 0).sum()), int((d < 0).sum())
    return {"wins": wins, "ties": ties, "losses": losses, "p": sign_test(wins, losses)}
