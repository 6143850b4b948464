"""benchmarks/scale.py's reference: a faithful re-implementation of the paper's loop.

Members' ``predict`` stacked into (T, n), ``apply_along_axis(bincount)`` per sample, then
sklearn's multi-output ``DecisionTreeClassifier(class_weight="balanced")`` refit per threshold,
binary search then the full scan from MEMO's index. When its estimate (belief measured on
REF_BELIEF_ROWS rows, a fit on up to REF_FIT_ROWS rows scaled by n log n) passes the budget, or
the run passes it, the time is extrapolated.
"""

import math
import time

import numpy as np
from _scale_memory import _peak_rss_bytes, _reset_peak_rss, _rss_bytes

REF_BELIEF_ROWS = 20_000
REF_FIT_ROWS = 200_000


def ref_belief(forest, X, k):
    """The paper's vote belief: stacked member predictions, bincount per sample."""
    preds = np.stack([t.predict(X) for t in forest.estimators_])  # (T, n)
    counts = np.apply_along_axis(lambda col: np.bincount(col.astype(np.int64), minlength=k), 0, preds)
    return counts.T / len(forest.estimators_)


def ref_fit(X, belief, d, seed, max_depth):
    from sklearn.tree import DecisionTreeClassifier

    Y = (belief >= d).astype(int)
    return DecisionTreeClassifier(max_depth=max_depth, class_weight="balanced", random_state=seed).fit(X, Y)


def ref_predict(tree, X):
    proba = tree.predict_proba(X)
    proba = proba if isinstance(proba, list) else [proba]
    cols = []
    for p, cl in zip(proba, tree.classes_, strict=True):
        hit = np.flatnonzero(np.asarray(cl) == 1)
        cols.append(p[:, hit[0]] if hit.size else np.zeros(p.shape[0]))
    return np.argmax(np.column_stack(cols), axis=1)


def run_reference(X, y, X_te, y_te, forest, k, n, seed, budget, ours, student_depth):
    """The paper's loop on one configuration's data (as scale.py's ``load`` returns it); the student
    is a tree of max_depth ``student_depth``."""
    import crembo

    classes, y_enc = np.unique(y, return_inverse=True)
    tr, va = crembo.estimator.stratified_split(y_enc, classes, 0.15, seed)
    X_tr, X_va, y_va = X[tr], X[va], y_enc[va]
    n_tr = len(tr)
    _reset_peak_rss()
    rss0 = _rss_bytes()
    out = {"method": "reference", "k": k, "n": n, "n_train": n_tr, "oracle": "sklearn multi-output tree"}
    # -- estimate before running anything long
    m = min(n_tr, REF_BELIEF_ROWS)
    t0 = time.perf_counter()
    b_small = ref_belief(forest, X_tr[:m], k)
    belief_est = (time.perf_counter() - t0) * n_tr / m
    fit_rows = min(n_tr, REF_FIT_ROWS)
    t0 = time.perf_counter()
    ref_fit(
        X_tr[:fit_rows], b_small if fit_rows == m else ref_belief(forest, X_tr[:fit_rows], k), 0.3, seed, student_depth
    )
    fit_measured = time.perf_counter() - t0
    per_fit = fit_measured * (n_tr * math.log(n_tr)) / (fit_rows * math.log(fit_rows))
    n_fits = ours["memo_calls"] + ours["scan_fits"]
    estimate = belief_est + per_fit * n_fits
    out["estimate"] = {
        "belief_seconds": belief_est,
        "belief_measured_rows": m,
        "fit_seconds": fit_measured,
        "fit_measured_rows": fit_rows,
        "seconds_per_fit": per_fit,
        "n_fits": n_fits,
        "total_seconds": estimate,
    }
    if estimate > budget:
        out.update(ran=False, total_seconds=estimate, note="extrapolated (estimate over the budget)")
        return out
    start = time.perf_counter()
    belief = ref_belief(forest, X_tr, k)
    t_belief = time.perf_counter() - start
    ours_belief = crembo.teachers.make_teacher(forest).belief(X_tr, classes)
    out["belief_equals_ours"] = bool(np.array_equal(belief, ours_belief))
    del ours_belief
    thr = np.unique(belief)
    fit_times = []

    def call(i):
        t = time.perf_counter()
        tree = ref_fit(X_tr, belief, thr[i], seed, student_depth)
        pred = ref_predict(tree, X_tr)
        depth = belief[np.arange(n_tr), pred].min()
        fit_times.append(time.perf_counter() - t)
        return tree, depth >= thr[i]

    def over():
        return time.perf_counter() - start > budget

    t0 = time.perf_counter()
    lo, hi = 0, len(thr)
    while hi - lo > 1 and not over():
        mid = (lo + hi) // 2
        if call(mid)[1]:
            lo = mid
        else:
            hi = mid
    t_memo = time.perf_counter() - t0
    memo_calls = len(fit_times)
    t0 = time.perf_counter()
    best, best_score, scanned = None, -1.0, 0
    for i in range(lo, len(thr)):
        if over():
            break
        tree, _ = call(i)
        score = float(np.mean(ref_predict(tree, X_va) == y_va))
        scanned += 1
        if score > best_score:
            best, best_score = tree, score
    t_scan = time.perf_counter() - t0
    remaining = (len(thr) - lo) - scanned
    total = time.perf_counter() - start
    out.update(
        ran=remaining == 0,
        n_thresholds=len(thr),
        memo_index=int(lo),
        memo_calls=memo_calls,
        scan_fits=scanned,
        seconds={"belief": t_belief, "memo": t_memo, "scan": t_scan},
        seconds_per_fit=float(np.mean(fit_times)),
        rss_peak_beyond_data_bytes=_peak_rss_bytes() - rss0,
    )
    if remaining:
        total += remaining * float(np.mean(fit_times))
        out["note"] = f"passed the budget: {remaining} scan fits extrapolated at the measured mean per fit"
    else:
        out["test_accuracy"] = float(np.mean(ref_predict(best, X_te) == y_te))
        out["validation_accuracy"] = best_score
    out["total_seconds"] = total
    return out
