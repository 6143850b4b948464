"""How CREMBOClassifier chooses its student: cross-validated threshold (and student) selection.

The paper scores the students of the threshold scan on one 15% validation split and keeps the
first best, trained on the other 85%. On the paper's data sets that split holds 20-85 rows,
so accuracy ties are common and the choice is noisy (docs/selection.md has the measurements).
``select`` instead:

- scores every (student candidate, threshold) on K stratified folds of the training rows (or on
  one split of ``validation_fraction`` when there are many rows, where one split is precise);
  the candidates (``student_candidates``) are the student under each class weighting and, for
  crembo's native tree, the same tree with criterion "consistency";
- optionally clips the allowed sets: a row whose top belief is below the threshold keeps its
  top label(s) instead of losing every label, so the scan's last step is exactly the tree on
  the teacher's labels (VT) and validation chooses among CREMBO's students *and* VT;
- chooses by a rule of ``crembo._choice`` (the default: mean held-out accuracy, ties toward
  the higher threshold);
- refits the chosen student on all rows (the paper keeps the one trained on 85% of them).

The building blocks (``allowed_sets``, ``take_rows``) are shared with the estimator's final fit.
"""

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs

from crembo._choice import beats, choose, consensus, pairwise_agreement
from crembo._memo import depth_of, kernel_jobs, seeded_oracle
from crembo._splits import split_rows, subsample_rows
from crembo._threads import joblib_n_jobs
from crembo._user_vt import held_out, keeps_user_vt
from crembo.beliefs import allowed_labels
from crembo.oracles import FitAllowedOracle, Oracle, _multi_output_capable, default_student, fresh_estimator

__all__ = [
    "SelectionSpec",
    "SelectionResult",
    "PRESETS",
    "allowed_sets",
    "take_rows",
    "select",
    "vt_end",
]

TIES = ("low", "high", "fidelity")


@dataclass(frozen=True)
class SelectionSpec:
    """One way of choosing the student; pass one as ``CREMBOClassifier(selection=...)``.

    ``PRESETS["cv"]`` (the default, ``selection="cv"``) is ``SelectionSpec()``.

    Parameters
    ----------
    folds : int
        K of the stratified K-fold CV (1: a single split of ``validation_fraction``).
    repeats : int
        CV repetitions with different shuffles.
    holdout_above : int or None
        With more selection rows than this, one split replaces the K folds.
    max_rows : int or None
        MEMO and the scoring run on a stratified subsample of at most this many rows; the chosen
        student is refit on all rows. Folds matter on 150 rows, not on 200,000: 5,000 kept the
        accuracy of selecting on all rows on development data at a fraction of the cost
        (docs/selection.md, "Large data"). None: every row.
    clip : True, False or "end"
        True: a row whose top belief is below the threshold keeps its top label(s), so the scan's
        last step is exactly VT. False: the paper's allowed sets. "end": the paper's sets at every
        threshold plus one more candidate, the clipped sets at the largest threshold.
    tie : {"low", "high", "fidelity"}
        Among equal held-out accuracies: the lowest threshold (the paper's first maximum), the
        highest, or the most agreement with the teacher's labels (then the highest threshold).
    one_se : bool
        Choose, by the tie rule, among every candidate within one standard error (over folds) of
        the best.
    class_weights : tuple or None
        The student's ``class_weight`` values tried as candidates (None: the student as given).
    from_memo : bool
        The scan starts at MEMO's threshold (False: at the lowest candidate).
    true_labels : bool
        One more candidate after the scan, the student on the true labels (BM; its threshold is
        reported as ``inf``), chosen only when strictly better held out.
    max_scan : int or None
        At most this many thresholds scanned (``crembo._candidates.bounded_candidates`` of the
        scan's, its ends included).
    stability : float
        Score = held-out accuracy + ``stability`` x the mean pairwise agreement of the split
        students of a candidate on the selection rows (how alike the students trained on
        different rows are: the robustness the paper is named after), on a stratified subsample of
        at most 2,000 selection rows. 0: accuracy alone.
    prefer_vt : float or None
        Keep the tree a user would fit on the teacher's labels (VT: the clipped scan's last step,
        the weighting with the better held-out accuracy) unless another candidate beats it held
        out by at least this many standard errors of their paired per-row difference (a one-sided
        z-test over every held-out row); among those that do, choose by the rule above. Needs
        ``clip``. None: choose among all candidates by the rule above.
    consensus : float or None
        Among the candidates whose held-out accuracy is within this many binomial standard
        errors of the best, keep those whose out-of-fold predictions agree most, on average, with
        the other near-best candidates' (distinct prediction vectors counted once), then choose by
        the tie rule: the centre of the near-best students, which changes less with the sample
        than the best one. Not with ``stability``, ``one_se`` or ``prefer_vt`` (ValueError).
        None: the rule above alone.
    user_vt : float or None
        When the student is crembo's native tree: keep the tree a user would fit on the teacher's
        labels (scikit-learn's ``DecisionTreeClassifier`` of the same depth >= 1, unweighted when
        ``class_weights`` has None, else balanced) unless the student chosen by the rules above
        beats it held out by more than this many binomial standard errors (``crembo._user_vt``;
        the default 1 was chosen on development data: docs/selection.md). None: the rules above
        alone.
    consistency : bool
        One more candidate when the student is crembo's native tree: the same tree with
        ``criterion="consistency"`` (splits that maximise the rows whose allowed set holds their
        leaf's label, unweighted). On many classes and small trees it is the more accurate tree
        (docs/selection.md).
    """

    folds: int = 5
    repeats: int = 1
    holdout_above: int | None = None
    max_rows: int | None = 5000
    clip: bool | str = True
    tie: str = "high"
    one_se: bool = False
    class_weights: tuple | None = ("balanced", None)
    from_memo: bool = True
    true_labels: bool = False
    max_scan: int | None = None
    prefer_vt: float | None = None
    stability: float = 0.0
    consensus: float | None = None
    consistency: bool = True
    user_vt: float | None = 1.0

    def __post_init__(self):
        if self.clip not in (True, False, "end"):
            raise ValueError(f"clip must be True, False or 'end', got {self.clip!r}")
        if self.tie not in TIES:
            raise ValueError(f"tie must be one of {TIES}, got {self.tie!r}")
        if self.folds < 1 or self.repeats < 1:
            raise ValueError("folds and repeats must be >= 1")
        if not self.stability >= 0:
            raise ValueError(f"stability must be >= 0, got {self.stability!r}")
        if self.user_vt is not None and not self.user_vt >= 0:
            raise ValueError(f"user_vt must be None or >= 0, got {self.user_vt!r}")
        if self.consensus is not None and not self.consensus >= 0:
            raise ValueError(f"consensus must be None or >= 0, got {self.consensus!r}")
        if self.prefer_vt is not None and self.clip is False:
            raise ValueError("prefer_vt needs clip=True or 'end': without clipping VT is not a candidate")
        # consensus is a rule of its own: it ranks the near-best candidates by held-out accuracy
        # and their agreement, so these options would be silently ignored beside it
        clash = [
            f
            for f, on in (
                ("stability", self.stability),
                ("one_se", self.one_se),
                ("prefer_vt", self.prefer_vt is not None),
            )
            if on
        ]
        if self.consensus is not None and clash:
            raise ValueError(f"consensus cannot be combined with {', '.join(clash)}: set one rule")


PRESETS = {
    "cv": SelectionSpec(),
}


@dataclass
class SelectionResult:
    """Scores of every (candidate, scan position): ``accuracy``/``fidelity`` the share of the
    held-out rows of every split labelled as the truth / as the teacher, ``fold_accuracy``
    (C, S, n_splits), ``depths`` (C, S) the mean depth of the split students on their training
    rows; ``chosen`` = (candidate, scan position); ``user_vt`` = (held-out accuracy, fidelity) of
    the tree a user would fit on the teacher's labels when it was scored, and ``keep_user_vt``
    whether it replaces the chosen student."""

    accuracy: np.ndarray
    fidelity: np.ndarray
    fold_accuracy: np.ndarray
    depths: np.ndarray
    seconds: np.ndarray
    chosen: tuple
    n_splits: int
    n_rows: int
    user_vt: tuple | None = None
    keep_user_vt: bool = False


def _scan_oracle(oracle, n_jobs):
    """The oracle for the parallel scan: a FitAllowedOracle whose learner has n_jobs=None gets the
    per-worker kernel thread count (otherwise every worker would use every core). The user's
    learner is not modified."""
    if isinstance(oracle, LabelBalancedOracle):
        return LabelBalancedOracle(_scan_oracle(oracle.inner, n_jobs))
    learner = getattr(oracle, "learner", None)
    if (
        n_jobs is None
        or type(oracle) is not FitAllowedOracle
        or not hasattr(learner, "get_params")
        or "n_jobs" not in learner.get_params(deep=False)
        or learner.get_params(deep=False)["n_jobs"] is not None
    ):
        return oracle
    return FitAllowedOracle(fresh_estimator(learner).set_params(n_jobs=n_jobs))


def label_balanced_weights(allowed):
    """scikit-learn's "balanced" sample weights generalised to allowed sets: label c weighs
    n / (k * m_c), m_c the rows allowing c and k the labels allowed somewhere; a row weighs the
    mean over its allowed labels (1 when it has none). With one label per row this is exactly
    ``compute_sample_weight("balanced", y)``."""
    a = np.asarray(allowed, dtype=bool)
    m = a.sum(axis=0)
    present = m > 0
    w_label = np.where(present, a.shape[0] / (max(int(present.sum()), 1) * np.maximum(m, 1)), 0.0)
    count = a.sum(axis=1)
    w = (a @ w_label) / np.maximum(count, 1)
    w[count == 0] = 1.0
    return w


class LabelBalancedOracle(Oracle):
    """A student fitted with ``label_balanced_weights`` of each allowed matrix as sample weights:
    the native tree (criterion "gini", no class_weight) or an sklearn estimator whose ``fit``
    takes ``sample_weight``."""

    def __init__(self, inner):
        self.inner = inner

    def prepare(self, X):
        return self.inner.prepare(X)

    def fit(self, prepared, allowed, random_state=None):
        w = label_balanced_weights(allowed)
        if isinstance(self.inner, FitAllowedOracle):
            return fresh_estimator(self.inner.learner, random_state).fit_prepared(prepared, allowed, sample_weight=w)
        return self.inner.fit(prepared, allowed, random_state, sample_weight=w)

    def predict_training(self, model, prepared, X):
        return self.inner.predict_training(model, prepared, X)


def _weighting_ok(base, params, w):
    """Whether the student accepts class weighting ``w`` ("labels": sample weights)."""
    import inspect

    from crembo.tree import AllowedLabelTreeClassifier

    if isinstance(base, AllowedLabelTreeClassifier):
        return params.get("criterion") == "gini"
    if w != "labels":
        return True
    return _multi_output_capable(base) and "sample_weight" in inspect.signature(base.fit).parameters


def student_candidates(student, class_weights, seed, consistency=False):
    """[(name, oracle)]: the student once per ``class_weights`` value ("balanced", None, or
    "labels": ``label_balanced_weights``) when it has a ``class_weight`` parameter and accepts
    that weighting (the native tree: criterion "gini"), else the student as given; with
    ``consistency``, a native tree also once with criterion "consistency". The candidates differ
    only in weighting or criterion, so they share ``prepare``."""
    from sklearn.base import clone

    from crembo.tree import AllowedLabelTreeClassifier

    base = default_student() if student is None else student
    params = base.get_params(deep=False) if hasattr(base, "get_params") and not isinstance(base, Oracle) else {}
    ok = bool(class_weights) and "class_weight" in params and all(_weighting_ok(base, params, w) for w in class_weights)
    if not ok:
        return [("student", seeded_oracle(student, seed))]
    out = []
    for w in class_weights:
        oracle = seeded_oracle(clone(base).set_params(class_weight=None if w == "labels" else w), seed)
        out.append((f"class_weight={w!r}", LabelBalancedOracle(oracle) if w == "labels" else oracle))
    if consistency and isinstance(base, AllowedLabelTreeClassifier):
        tree = clone(base).set_params(criterion="consistency", class_weight=None)
        out.append(("criterion='consistency'", seeded_oracle(tree, seed)))
    return out


def allowed_sets(belief, d, clip=False, top=None, *, backend=None, n_jobs=None):
    """Y(d) = belief >= d; with ``clip`` a row whose top belief is below d keeps its top label(s)
    (``top``: the bool matrix belief == row max, computed here when None), so that above every
    row's top belief Y(d) is the teacher's own labels."""
    allowed = allowed_labels(belief, d, backend=backend, n_jobs=n_jobs, validate=False)
    if clip:
        if top is None:
            top = belief >= belief.max(axis=1, keepdims=True)
        empty = ~allowed.any(axis=1)
        if empty.any():
            allowed[empty] = top[empty]
    return allowed


def one_hot(y, k):
    out = np.zeros((len(y), k), dtype=bool)
    out[np.arange(len(y)), y] = True
    return out


def fit_clipped(oracle, prepared, X, belief, d, seed, clip, top=None, eps=0.0, *, y=None, backend=None, n_jobs=None):
    """Train A(X, Y(d)) on clipped (or plain) allowed sets, or on the labels ``y`` when d is inf;
    return (model, depth on X)."""
    if np.isinf(d):
        allowed = one_hot(y, belief.shape[1])
    else:
        allowed = allowed_sets(belief, d, clip, top, backend=backend, n_jobs=n_jobs)
    model = oracle.fit(prepared, allowed, seed)
    depth = depth_of(
        belief, np.asarray(oracle.predict_training(model, prepared, X)), eps, backend=backend, n_jobs=n_jobs
    )
    return model, float(depth)


def take_rows(oracle, prepared, X, rows):
    """``oracle.prepare(X[rows])`` without redoing shared work: the native tree's binned codes
    are sliced (bin edges stay those of all rows), an untransformed X is indexed."""
    from crembo.tree.binning import BinnedData

    if isinstance(prepared, BinnedData):
        return BinnedData(
            np.asfortranarray(prepared.X_binned[rows]), prepared.bin_edges, prepared.missing_bin, prepared.max_bins
        )
    if prepared is X:
        return X[rows]
    return oracle.prepare(X[rows])


def scan_positions(thresholds, clip, true_labels):
    """(thresholds, clipped) of the scored candidates: the scan's thresholds with ``clip``
    applied, "end" adding the clipped largest one (VT), ``true_labels`` an ``inf`` for BM."""
    thr = np.asarray(thresholds, dtype=np.float64)
    clipped = np.full(thr.size, clip is True)
    if clip == "end":
        thr, clipped = np.append(thr, thr[-1]), np.append(clipped, True)
    if true_labels:
        thr, clipped = np.append(thr, np.inf), np.append(clipped, False)
    return thr, clipped


def vt_end(thresholds, clipped):
    """The scan position of VT: the last clipped one below ``inf`` (the last finite one when no
    position is clipped, as with ``clip=False``)."""
    finite = np.isfinite(np.asarray(thresholds, dtype=float))
    ends = np.flatnonzero(finite & np.asarray(clipped, dtype=bool))
    return int(ends[-1] if ends.size else np.flatnonzero(finite)[-1])


def _score_split(
    candidates,
    prepared,
    X,
    belief,
    top,
    y,
    thresholds,
    tr,
    va,
    clipped,
    seed,
    eps,
    backend,
    n_jobs,
    common=None,
):
    """Fit every candidate at every threshold on rows ``tr``; count held-out hits on ``va``.

    Consecutive thresholds that give the same allowed sets on ``tr`` (common: a threshold is a
    belief value that may not occur among these rows; with clip, every threshold above the rows'
    top beliefs gives the teacher's labels) reuse the previous student. The allowed sets of a
    threshold are computed once for all candidates (their time counts in each one's seconds)."""
    import time

    S = len(thresholds)
    C = len(candidates)
    preds = np.zeros((C, S, len(va)), dtype=np.int64)  # per held-out row; hits are those == y
    depth = np.zeros((C, S))
    secs = np.zeros((C, S))
    n_common = 0 if common is None else len(common)
    on_common = np.zeros((C, S, n_common), dtype=np.int32)
    b_tr, t_tr = belief[tr], top[tr]
    X_tr, X_va = X[tr], X[va]
    truth = one_hot(y[tr], belief.shape[1])
    rows = [
        (
            take_rows(oracle, prepared, X, tr),
            take_rows(oracle, prepared, X, va),
            take_rows(oracle, prepared, X, common) if n_common else None,
        )
        for oracle in candidates
    ]
    last = None  # the previous threshold's allowed sets
    for s, d in enumerate(thresholds):
        t0 = time.perf_counter()
        allowed = truth if np.isinf(d) else allowed_sets(b_tr, d, clipped[s], t_tr, backend=backend, n_jobs=n_jobs)
        same = last is not None and np.array_equal(allowed, last)
        last = allowed
        t_allowed = time.perf_counter() - t0
        for c, oracle in enumerate(candidates):
            t0 = time.perf_counter()
            p_tr, p_va, p_common = rows[c]
            if same:
                for out in (preds, depth, on_common):
                    out[c, s] = out[c, s - 1]
            else:
                model = oracle.fit(p_tr, allowed, seed)
                preds[c, s] = np.asarray(oracle.predict_training(model, p_va, X_va))
                depth[c, s] = depth_of(
                    b_tr, np.asarray(oracle.predict_training(model, p_tr, X_tr)), eps, backend=backend, n_jobs=n_jobs
                )
                if n_common:
                    on_common[c, s] = oracle.predict_training(model, p_common, X[common])
            secs[c, s] = t_allowed + time.perf_counter() - t0
    return preds, depth, secs, on_common


def select(
    X,
    y,
    belief,
    thresholds,
    clipped,
    candidates,
    prepared,
    spec,
    seed,
    *,
    teacher_labels=None,
    user_tree=None,
    validation_fraction=0.15,
    eps=0.0,
    backend=None,
    n_jobs=None,
    rows=None,
):
    """Score ``candidates`` (oracles sharing ``prepared``) at every position of the scan
    (``scan_positions``) on the splits of ``spec``; return a SelectionResult. ``rows``: the rows
    to select on (default all); ``user_tree``: ``crembo._user_vt.user_tree``'s, scored on the same
    splits when ``spec.user_vt`` is set.
    """
    if teacher_labels is None:
        teacher_labels = np.argmax(belief, axis=1)
    top = belief >= belief.max(axis=1, keepdims=True)
    sel = np.arange(len(y)) if rows is None else np.asarray(rows)
    folds = spec.folds
    if spec.holdout_above is not None and len(sel) > spec.holdout_above:
        folds = 1
    splits = [(sel[tr], sel[va]) for tr, va in split_rows(y[sel], folds, spec.repeats, validation_fraction, seed)]
    # Threads over the splits (oracle fits release the GIL; workers share X, the belief and the
    # binned codes); inside a worker kernels and native students run single-threaded.
    n_jobs = joblib_n_jobs(n_jobs)  # capped at the CPUs: a pool of 100,000 threads cannot start
    k_jobs = 1 if effective_n_jobs(n_jobs) != 1 else kernel_jobs(belief, n_jobs)
    workers = [_scan_oracle(o, k_jobs) for o in candidates]
    # the rows every split student predicts, for their agreement (at most 2,000: an agreement
    # rate is precise enough on them)
    common = sel[subsample_rows(y[sel], 2000, seed)] if spec.stability else None
    parallel = Parallel(n_jobs=n_jobs, prefer="threads")
    parts = parallel(
        delayed(_score_split)(
            workers,
            prepared,
            X,
            belief,
            top,
            y,
            thresholds,
            tr,
            va,
            clipped,
            seed,
            eps,
            backend,
            k_jobs,
            common,
        )
        for tr, va in splits
    )
    # out-of-fold predictions of every (candidate, threshold), split after split
    oof = np.concatenate([p[0] for p in parts], axis=2)
    held = np.concatenate([va for _, va in splits])
    hits = oof == y[held]
    sizes = np.array([len(va) for _, va in splits])
    correct = np.stack([hits[:, :, a:b].sum(axis=2) for a, b in pairwise(np.cumsum([0, *sizes]))], axis=2)
    acc = hits.mean(axis=2)
    fid = (oof == teacher_labels[held]).mean(axis=2)
    fold_acc = correct / sizes
    depths = np.mean(np.stack([p[1] for p in parts], axis=2), axis=2)
    seconds = np.sum(np.stack([p[2] for p in parts], axis=2), axis=2)
    # tie rank: scan order; the true-label student (inf) ranks below every threshold
    thr = np.asarray(thresholds, dtype=float)
    rank = np.where(np.isinf(thr), -1, np.arange(len(thresholds)))
    score = acc
    if spec.stability and len(parts) > 1:
        score = acc + spec.stability * pairwise_agreement([p[3] for p in parts])
    if spec.consensus is not None:
        chosen = consensus(acc, fid, fold_acc, rank, spec.tie, oof, spec.consensus)
    else:
        chosen = choose(score, fid, fold_acc, rank, spec.tie, spec.one_se)
    if spec.prefer_vt is not None:
        vt = vt_end(thr, clipped)  # prefer_vt needs clipping: the clipped last step
        incumbent = choose(acc[:, [vt]], fid[:, [vt]], fold_acc[:, [vt]], rank[[vt]], "fidelity", False)
        incumbent = (incumbent[0], vt)
        better = beats(hits, incumbent, spec.prefer_vt)
        chosen = choose(score, fid, fold_acc, rank, spec.tie, spec.one_se, better) if better.any() else incumbent
    chosen = tuple(int(v) for v in chosen)
    result = SelectionResult(acc, fid, fold_acc, depths, seconds, chosen, len(splits), len(sel))
    if spec.user_vt is not None and user_tree is not None:
        vt_pred = held_out(user_tree[1], X, teacher_labels, splits)
        vt_acc = float(np.mean(vt_pred == y[held]))
        result.user_vt = (vt_acc, float(np.mean(vt_pred == teacher_labels[held])))
        # the standard error of an accuracy over the distinct rows (with repeats a row is held out
        # once per repeat, which is no more evidence)
        result.keep_user_vt = keeps_user_vt(acc[chosen], vt_acc, len(np.unique(held)), spec.user_vt)
    return result
