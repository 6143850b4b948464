"""CREMBO as a scikit-learn classifier, and the paper's two baselines (BM and VT).

CREMBO (the paper's Algorithm 2): split off a stratified validation set; the teacher's belief on
the training part; MEMO for the deepest consistent threshold index m0; then train the student
A(X, Y(d_m)) at m = m0, m0 + delta, ... and keep the one with the best validation accuracy
(ties -> the lowest threshold). As in the paper, the chosen student is *not* refit on
train + validation, and the teacher is fitted on the training part only.
"""

import time
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from crembo import _validation as v
from crembo._candidates import bounded_candidates, candidate_thresholds
from crembo._estimator_inputs import _check_params, _nan_policy, _selection_spec, _teacher_rows
from crembo._memo import (
    check_student_classes,
    depth_of,
    fit_at_threshold,
    kernel_jobs,
    memo,
    resolve_seed,
    seeded_oracle,
)
from crembo._selection import (
    _scan_oracle,
    fit_clipped,
    scan_positions,
    select,
    student_candidates,
    take_rows,
    vt_end,
)
from crembo._splits import stratified_split, subsample_rows, warn_singletons
from crembo._threads import joblib_n_jobs
from crembo._user_vt import user_tree
from crembo.beliefs import check_belief
from crembo.metrics import fidelity
from crembo.oracles import Oracle, as_oracle, fresh_estimator, paper_student
from crembo.teachers import BeliefTeacher, compute_belief, default_teacher, make_teacher

__all__ = [
    "CREMBOClassifier",
    "ScanResult",
    "TrueLabelBaseline",
    "TeacherLabelBaseline",
    "fit_baseline_bm",
    "fit_baseline_vt",
    "stratified_split",
]


@dataclass
class ScanResult:
    """The validation scan of CREMBO: one entry per threshold tried, in scan order.

    ``validation_scores``: accuracy on the validation split; ``fidelities``: agreement with the
    teacher's labels on the validation split; ``depths``: (eps-quantile) depth on the training belief.
    With a cross-validated selection these are the chosen student's means over the held-out
    folds (depths: of the fold students on their training rows). ``position``: the chosen entry;
    ``student_scores``: (candidates, thresholds) validation accuracy of every student candidate,
    named in ``students``; ``clipped``: whether the entry's allowed sets were clipped (a row
    above its top belief keeps its top label); ``user_vt_score``: the held-out accuracy of the
    tree a user would fit on the teacher's labels (``SelectionSpec.user_vt``; None when not
    scored). When that tree was kept, ``position`` is the scan's VT end (the threshold of
    ``threshold_``) and the arrays are those of the best CREMBO candidate.
    """

    indices: np.ndarray
    thresholds: np.ndarray
    validation_scores: np.ndarray
    fidelities: np.ndarray
    depths: np.ndarray
    seconds: np.ndarray
    position: int = 0
    student_scores: np.ndarray | None = None
    students: tuple = ()
    clipped: np.ndarray | None = None
    user_vt_score: float | None = None

    @classmethod
    def of_paper_loop(cls, indices, thresholds, results):
        """The scan of the paper's loop from one ``(model, depth, score, seconds, fidelity)`` per
        threshold; the chosen position is the first maximum (ties go to the lowest threshold)."""
        scores = np.array([r[2] for r in results])
        return cls(
            indices=indices,
            thresholds=thresholds,
            validation_scores=scores,
            fidelities=np.array([r[4] for r in results]),
            depths=np.array([r[1] for r in results]),
            seconds=np.array([r[3] for r in results]),
            position=int(np.argmax(scores)),
        )


class _PredictMixin:
    """``predict``/``predict_proba`` of a fitted ``estimator_`` whose predictions are indices into
    ``classes_``; NaN in X is accepted when ``_nan_policy()`` says so (and the tags say it)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._nan_policy() == "allow-nan"
        return tags

    def _validated(self, X):
        check_is_fitted(self)
        return validate_data(self, X, reset=False, ensure_all_finite=self._nan_policy())

    def predict(self, X):
        X = self._validated(X)
        return self.classes_[np.asarray(self.estimator_.predict(X), dtype=np.intp)]

    def predict_proba(self, X):
        """The student's ``predict_proba`` with its columns at their class indices (its own
        ``classes_``, else all k in order); the one-hot of ``predict`` when it has none of that shape."""
        X = self._validated(X)
        k = len(self.classes_)
        out = np.zeros((X.shape[0], k))
        if hasattr(self.estimator_, "predict_proba"):
            p = np.asarray(self.estimator_.predict_proba(X), dtype=np.float64)
            cols = getattr(self.estimator_, "classes_", None)
            if p.ndim == 2 and p.shape[0] == X.shape[0]:
                if cols is not None and len(cols) == p.shape[1]:
                    out[:, np.asarray(cols, dtype=np.intp)] = p
                    return out
                if p.shape[1] == k:
                    return p
        out[np.arange(X.shape[0]), np.asarray(self.estimator_.predict(X), dtype=np.intp)] = 1.0
        return out


def _scan_one(oracle, prepared, X, belief, d, seed, eps, backend, n_jobs, X_val, y_val, teacher_val):
    model, depth, seconds = fit_at_threshold(oracle, prepared, X, belief, d, seed, eps, backend=backend, n_jobs=n_jobs)
    pred = np.asarray(model.predict(X_val))
    score = float(np.mean(pred == y_val))
    return model, depth, score, seconds, fidelity(pred, teacher_val)


class _Laps(dict):
    """Wall seconds per stage of ``fit``: ``lap(stage)`` records the time since the previous lap."""

    def __init__(self):
        super().__init__()
        self._clock = time.perf_counter()

    def __call__(self, stage):
        now = time.perf_counter()
        self[stage] = now - self._clock
        self._clock = now


def _progress(iterable, total, verbose, desc):
    if not verbose:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc)


class CREMBOClassifier(_PredictMixin, ClassifierMixin, BaseEstimator):
    """Compress a teacher into a small robust student with CREMBO (Armstrong & Gilad-Bachrach, 2021).

    Parameters
    ----------
    teacher : None, classifier, callable or belief matrix
        None: the paper's ``RandomForestClassifier(100 trees, max_depth=12, balanced)``. An
        unfitted teacher is cloned and fitted on the training part (never on the validation part).
        A belief matrix must have one row per sample of the X given to ``fit``.
        See ``crembo.teachers.make_teacher``.
    student : None, sklearn classifier, object with ``fit_allowed``, or Oracle
        The consistency oracle; None: ``crembo.oracles.default_student()``, the native
        ``AllowedLabelTreeClassifier(max_depth=4, class_weight="balanced")`` (the paper's tree and
        criterion; the default selection also tries it unweighted).
    delta : int >= 1
        Step of the scan over threshold indices above MEMO's.
    validation_fraction : float in (0, 1)
        Stratified held-out fraction scoring the scan with ``selection="paper"`` (and with a
        ``SelectionSpec`` of one fold).
    search : {"binary", "gallop"}
        MEMO's search (see ``crembo._memo``).
    eps : float in [0, 1)
        Quantile depth for consistency (0: strict, as the paper).
    thresholds : "auto", "unique", int or array
        Candidate thresholds of MEMO and the scan: "unique" is the
        paper's every unique belief value; an int m at most m of them (half quantiles, half
        evenly spaced in value; min and max included); an array exactly those. "auto": unique
        when there are <= 256 distinct values (every vote ensemble of <= 255 members), else 128
        bounded candidates (a softmax teacher has up to n * k values, one student fit each in
        the scan). Trade-off measured in docs/cost_model.md.
    belief_dtype : {"float64", "float32"}
        Storage of the training belief. "float32" halves its memory (n * k * 4 bytes). For a vote
        teacher of T < 2**24 members it changes no decision: c / T rounded to float32 is monotone
        and keeps distinct fractions distinct, so the candidate sets, allowed sets and search
        path are the same, only reported thresholds/depths are the float32 roundings. For a
        softmax teacher values move by <= 6e-8 relative, which can reorder near-ties.
    n_jobs : int or None
        Parallel scan (joblib) and native kernel threads.
    random_state : None, int or RandomState
        One seed for the split, the default/unfitted teacher and every student fit.
    verbose : int
        > 0: tqdm progress bar over the scan and a summary line.
    backend : str or None
        Kernel backend ("cython", "numba", "reference"; None: fastest available).
    selection : "cv", "paper" or crembo.SelectionSpec
        How the student is chosen. "cv" (default): every scanned threshold and the student's
        class weighting (balanced, none; crembo's native tree also with criterion
        "consistency") are scored by stratified 5-fold cross-validation on the training rows,
        the scan ending exactly at VT (a row keeps its top label above its top belief); the best
        by mean held-out accuracy (ties: the higher threshold) is refit on all rows, unless it
        beats scikit-learn's unweighted tree on the teacher's labels (the tree a user would fit)
        held out by at most one binomial standard error: then that tree is kept. "paper":
        the paper's loop (one stratified ``validation_fraction`` split, the first best
        threshold, the student trained on the rest). docs/selection.md has the measurements.

    Attributes
    ----------
    estimator_ : the chosen student (``predict`` gives indices into ``classes_``): crembo's
        native tree, or scikit-learn's ``DecisionTreeClassifier`` on the teacher's labels when
        that was kept (``SelectionSpec.user_vt``)
    threshold_, memo_threshold_ : float, the chosen and MEMO's thresholds
    depth_ : float, the chosen student's (eps-quantile) depth on the training belief
    validation_score_ : float, the chosen student's held-out accuracy (mean over the folds; with
        ``selection="paper"``, on the validation split)
    fidelity_ : float, agreement of the chosen student with the teacher's labels (argmax of its
        belief) on the same held-out rows
    student_ : str, the chosen student candidate, e.g. ``"class_weight=None"``,
        ``"criterion='consistency'"`` or ``"scikit-learn VT, class_weight=None"`` (not with "paper")
    teacher_validation_score_ : float or None, the teacher's accuracy on the validation split
        (``selection="paper"``; None otherwise: the teacher saw every row)
    scan_ : ScanResult, per threshold: held-out accuracy, fidelity, depth
    memo_ : MemoResult, MEMO's result and the trace of its oracle calls
    teacher_ : crembo.teachers.Teacher
    timings_ : dict, wall seconds per stage of ``fit``: "teacher" (fitting an unfitted teacher),
        "belief" (teacher inference on the training part), "prepare" (the oracle's one-off work,
        e.g. binning), "memo", "scan", then "refit" (the chosen student on every row) or, with
        ``selection="paper"``, "teacher_validation" (the teacher's labels on the validation part)
    classes_, n_features_in_
    """

    def __init__(
        self,
        teacher=None,
        student=None,
        delta=1,
        validation_fraction=0.15,
        search="binary",
        eps=0.0,
        thresholds="auto",
        belief_dtype="float64",
        n_jobs=None,
        random_state=None,
        verbose=0,
        backend=None,
        selection="cv",
    ):
        self.teacher = teacher
        self.student = student
        self.delta = delta
        self.validation_fraction = validation_fraction
        self.search = search
        self.eps = eps
        self.thresholds = thresholds
        self.belief_dtype = belief_dtype
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.backend = backend
        self.selection = selection

    def fit(self, X, y):
        thresholds = _check_params(self)
        v.check_run_params(self.n_jobs, self.backend)
        X_orig = X
        X, y = validate_data(self, X, y, ensure_all_finite=_nan_policy(self.student, self.teacher, True))
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        check_student_classes(self.student, len(self.classes_))  # before the teacher's minutes
        seed = resolve_seed(self.random_state)
        spec = _selection_spec(self.selection)
        if spec is not None:
            return self._fit_selected(X, X_orig, y, y_enc, seed, thresholds, spec)
        tr, va = stratified_split(y_enc, self.classes_, self.validation_fraction, seed)
        X_tr, X_va, y_va = X[tr], X[va], y_enc[va]
        # The teacher gets the caller's rows as given (a DataFrame keeps its column names); the
        # student gets the validated array.
        T_tr, T_va = _teacher_rows(X_orig, X_tr, tr), _teacher_rows(X_orig, X_va, va)
        lap = _Laps()

        teacher = self.teacher if self.teacher is not None else default_teacher(seed, self.n_jobs)
        self.teacher_ = make_teacher(teacher, T_tr, y[tr], random_state=seed, n_jobs=self.n_jobs, backend=self.backend)
        lap("teacher")
        if isinstance(self.teacher_, BeliefTeacher):
            if self.teacher_.matrix.shape[0] != X.shape[0]:
                raise ValueError(
                    f"the belief matrix has {self.teacher_.matrix.shape[0]} rows but X has {X.shape[0]} samples"
                )
            belief = compute_belief(self.teacher_.subset(tr), T_tr, self.classes_, self.belief_dtype)
        else:
            belief = compute_belief(self.teacher_, T_tr, self.classes_, self.belief_dtype)
        belief = check_belief(belief, backend=self.backend, n_jobs=self.n_jobs)
        lap("belief")
        # The teacher's labels on the validation split, for fidelity (a belief matrix has those rows).
        val_teacher = self.teacher_.subset(va) if isinstance(self.teacher_, BeliefTeacher) else self.teacher_
        teacher_va = val_teacher.predict(T_va, self.classes_)
        lap("teacher_validation")

        oracle = seeded_oracle(self.student, seed)
        prepared = oracle.prepare(X_tr)
        lap("prepare")
        candidates = candidate_thresholds(belief, thresholds, backend=self.backend, n_jobs=self.n_jobs)
        self.memo_ = memo(
            X_tr,
            belief,
            search=self.search,
            eps=self.eps,
            candidate_thresholds=candidates,
            random_state=seed,
            backend=self.backend,
            n_jobs=self.n_jobs,
            oracle=oracle,
            prepared=prepared,
        )
        lap("memo")
        thr = self.memo_.thresholds
        idx = np.arange(self.memo_.index, len(thr), self.delta)
        # Threads, not processes: oracle fits (sklearn's tree builder, the native tree) release the
        # GIL, and workers share X, the belief and the binned data instead of each receiving a
        # copy (3 x 500 MB at 2,000,000 x 20). Inside parallel workers crembo's kernels run
        # single-threaded (no oversubscription).
        scan_jobs = joblib_n_jobs(self.n_jobs)  # capped at the CPUs, like every kernel's threads
        parallel = Parallel(n_jobs=scan_jobs, prefer="threads", return_as="generator")
        k_jobs = 1 if effective_n_jobs(scan_jobs) != 1 else kernel_jobs(belief, self.n_jobs)
        scan_oracle = _scan_oracle(oracle, k_jobs)
        results = parallel(
            delayed(_scan_one)(
                scan_oracle,
                prepared,
                X_tr,
                belief,
                thr[m],
                seed,
                self.eps,
                self.backend,
                k_jobs,
                X_va,
                y_va,
                teacher_va,
            )
            for m in idx
        )
        results = list(_progress(results, len(idx), self.verbose, "CREMBO scan"))
        lap("scan")
        self.timings_ = dict(lap)
        self.scan_ = ScanResult.of_paper_loop(idx, thr[idx], results)
        scores, best = self.scan_.validation_scores, self.scan_.position
        self.estimator_ = results[best][0]
        self.threshold_ = float(thr[idx[best]])
        self.memo_threshold_ = self.memo_.threshold
        self.depth_ = float(self.scan_.depths[best])
        self.validation_score_ = float(scores[best])
        self.fidelity_ = float(self.scan_.fidelities[best])
        self.teacher_validation_score_ = float(np.mean(teacher_va == y_va))
        if self.verbose:
            print(
                f"CREMBO: MEMO threshold {self.memo_threshold_:.4g} (index {self.memo_.index} of {len(thr)}, "
                f"{len(self.memo_.trace)} oracle calls); chose threshold {self.threshold_:.4g}, depth "
                f"{self.depth_:.4g}, validation accuracy {scores[best]:.4f}, fidelity {self.fidelity_:.4f}"
            )
        return self

    def _fit_selected(self, X, X_orig, y, y_enc, seed, thresholds, spec):
        """Teacher and belief on all rows; MEMO and the scored scan (``crembo._selection``) on the
        selection rows; the chosen student refit on all rows."""
        lap = _Laps()

        counts = np.bincount(y_enc, minlength=len(self.classes_))
        if len(self.classes_) > 1 and (counts == 1).any():
            warn_singletons(self.classes_, np.flatnonzero(counts == 1))
        T = _teacher_rows(X_orig, X)
        teacher = self.teacher if self.teacher is not None else default_teacher(seed, self.n_jobs)
        self.teacher_ = make_teacher(teacher, T, y, random_state=seed, n_jobs=self.n_jobs, backend=self.backend)
        lap("teacher")
        if isinstance(self.teacher_, BeliefTeacher) and self.teacher_.matrix.shape[0] != X.shape[0]:
            raise ValueError(
                f"the belief matrix has {self.teacher_.matrix.shape[0]} rows but X has {X.shape[0]} samples"
            )
        belief = compute_belief(self.teacher_, T, self.classes_, self.belief_dtype)
        belief = check_belief(belief, backend=self.backend, n_jobs=self.n_jobs)
        lap("belief")
        candidates = student_candidates(self.student, spec.class_weights, seed, spec.consistency)
        user = user_tree(self.student, spec.class_weights, seed) if spec.user_vt is not None else None
        oracles = [o for _, o in candidates]
        prepared = oracles[0].prepare(X)
        lap("prepare")
        sel = subsample_rows(y_enc, spec.max_rows, seed)
        every = len(sel) == X.shape[0]
        X_sel, b_sel = (X, belief) if every else (X[sel], belief[sel])
        cand = candidate_thresholds(belief, thresholds, backend=self.backend, n_jobs=self.n_jobs)
        self.memo_ = memo(
            X_sel,
            b_sel,
            search=self.search,
            eps=self.eps,
            candidate_thresholds=cand,
            random_state=seed,
            backend=self.backend,
            n_jobs=self.n_jobs,
            oracle=oracles[0],
            prepared=prepared if every else take_rows(oracles[0], prepared, X, sel),
        )
        lap("memo")
        thr = self.memo_.thresholds
        idx = np.arange(self.memo_.index if spec.from_memo else 0, len(thr), self.delta)
        if spec.max_scan is not None and len(idx) > spec.max_scan:
            idx = np.searchsorted(thr, bounded_candidates(thr[idx], spec.max_scan))
        scan_thr, clipped = scan_positions(thr[idx], spec.clip, spec.true_labels)
        # positions beyond the scan: the VT endpoint (the last threshold's index), BM (-1)
        idx = np.concatenate([idx, [len(thr) - 1] * (spec.clip == "end"), [-1] * spec.true_labels]).astype(np.intp)
        res = select(
            X,
            y_enc,
            belief,
            scan_thr,
            clipped,
            oracles,
            prepared,
            spec,
            seed,
            user_tree=user,
            validation_fraction=self.validation_fraction,
            eps=self.eps,
            backend=self.backend,
            n_jobs=self.n_jobs,
            rows=None if every else sel,
        )
        lap("scan")
        c, pos = res.chosen
        if res.keep_user_vt:  # the tree a user would fit on the teacher's labels stays
            pos = vt_end(scan_thr, clipped)
            chosen_name, tree = user
            self.validation_score_, self.fidelity_ = res.user_vt
            self.estimator_ = clone(tree).fit(X, np.argmax(belief, axis=1))
            self.depth_ = float(depth_of(belief, self.estimator_.predict(X), self.eps, backend=self.backend))
        else:
            chosen_name = candidates[c][0]
            self.validation_score_, self.fidelity_ = float(res.accuracy[c, pos]), float(res.fidelity[c, pos])
            self.estimator_, self.depth_ = fit_clipped(
                oracles[c],
                prepared,
                X,
                belief,
                scan_thr[pos],
                seed,
                clipped[pos],
                eps=self.eps,
                y=y_enc,
                backend=self.backend,
                n_jobs=kernel_jobs(belief, self.n_jobs),
            )
        lap("refit")
        self.timings_ = dict(lap)
        self.scan_ = ScanResult(
            indices=idx,
            thresholds=scan_thr,
            validation_scores=res.accuracy[c],
            fidelities=res.fidelity[c],
            depths=res.depths[c],
            seconds=res.seconds[c],
            position=pos,
            student_scores=res.accuracy,
            students=tuple(name for name, _ in candidates),
            clipped=clipped,
            user_vt_score=None if res.user_vt is None else res.user_vt[0],
        )
        self.student_ = chosen_name
        self.threshold_ = float(scan_thr[pos])
        self.memo_threshold_ = self.memo_.threshold
        self.teacher_validation_score_ = None  # the teacher saw every row: no held-out score
        if self.verbose:
            print(
                f"CREMBO: MEMO threshold {self.memo_threshold_:.4g} (index {self.memo_.index} of {len(thr)}); "
                f"{res.n_splits} splits of {res.n_rows} rows chose threshold {self.threshold_:.4g} with "
                f"{self.student_} (held-out accuracy {self.validation_score_:.4f}, fidelity {self.fidelity_:.4f}"
                + ("" if res.user_vt is None else f"; the user's VT {res.user_vt[0]:.4f}")
                + "); "
                f"refit on {X.shape[0]} rows, depth {self.depth_:.4g}"
            )
        return self

    def _nan_policy(self):
        return _nan_policy(self.student, self.teacher, True)

    def export_text(self, feature_names=None, decimals=2, *, class_names=None):
        """The chosen tree student as text.

        ``feature_names`` default to ``feature_names_in_`` (fitted on a DataFrame) else
        ``feature_<j>``; ``class_names`` (display names, one per entry of ``classes_``) default
        to the labels ``classes_``.
        """
        check_is_fitted(self)
        from crembo.tree.export import student_text

        if feature_names is None:
            feature_names = getattr(self, "feature_names_in_", None)
        if feature_names is not None and len(feature_names) != self.n_features_in_:
            raise ValueError(f"feature_names has {len(feature_names)} entries, expected {self.n_features_in_}")
        if class_names is None:
            class_names = self.classes_
        elif len(class_names) != len(self.classes_):
            raise ValueError(f"class_names has {len(class_names)} entries, expected {len(self.classes_)}")
        return student_text(self.estimator_, feature_names, class_names, decimals)


# ---------------------------------------------------------------- baselines


def _fit_on_labels(student, X, y_idx, n_classes, seed):
    """Train the student on hard labels (indices). sklearn classifiers are fitted directly (the
    paper's BM/VT); allowed-label learners get the one-hot matrix (only the label is allowed)."""
    if student is None:  # the paper's BM/VT: scikit-learn's tree on the labels
        student = paper_student()
    if isinstance(student, Oracle) or hasattr(student, "fit_allowed"):
        oracle = as_oracle(student)
        allowed = np.zeros((len(y_idx), n_classes), dtype=bool)
        allowed[np.arange(len(y_idx)), y_idx] = True
        return oracle.fit(oracle.prepare(X), allowed, seed)
    return fresh_estimator(student, seed).fit(X, y_idx)


class _LabelBaseline(_PredictMixin, ClassifierMixin, BaseEstimator):
    def _fit_labels(self, X, y_idx, seed):
        self.estimator_ = _fit_on_labels(self.student, X, y_idx, len(self.classes_), seed)
        return self

    def _nan_policy(self):
        return _nan_policy(self.student, getattr(self, "teacher", None), hasattr(self, "teacher"))


class TrueLabelBaseline(_LabelBaseline):
    """The paper's BM: the student trained on the true labels (default: depth-4 balanced tree)."""

    def __init__(self, student=None, random_state=None):
        self.student = student
        self.random_state = random_state

    def fit(self, X, y):
        X, y = validate_data(self, X, y, ensure_all_finite=self._nan_policy())
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        check_student_classes(self.student, len(self.classes_), default_is_native=False)
        return self._fit_labels(X, y_enc, resolve_seed(self.random_state))


class TeacherLabelBaseline(_LabelBaseline):
    """The paper's VT: the student trained on the teacher's labels (argmax of its belief on X;
    for a forest, the hard-vote majority). An unfitted teacher is first fitted on (X, y)."""

    def __init__(self, teacher=None, student=None, random_state=None, n_jobs=None, backend=None):
        self.teacher = teacher
        self.student = student
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.backend = backend

    def fit(self, X, y):
        v.check_run_params(self.n_jobs, self.backend)
        X_orig = X
        X, y = validate_data(self, X, y, ensure_all_finite=self._nan_policy())
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        check_student_classes(self.student, len(self.classes_), default_is_native=False)  # before the teacher
        seed = resolve_seed(self.random_state)
        teacher = self.teacher if self.teacher is not None else default_teacher(seed, self.n_jobs)
        T = _teacher_rows(X_orig, X)  # a DataFrame stays one for the teacher (columns by name)
        self.teacher_ = make_teacher(teacher, T, y, random_state=seed, n_jobs=self.n_jobs, backend=self.backend)
        labels = self.teacher_.predict(T, self.classes_)
        return self._fit_labels(X, labels, seed)


def fit_baseline_bm(X, y, student=None, random_state=None):
    """BM in one call: ``TrueLabelBaseline(student, random_state).fit(X, y)``."""
    return TrueLabelBaseline(student=student, random_state=random_state).fit(X, y)


def fit_baseline_vt(X, y, teacher, student=None, random_state=None):
    """VT in one call: ``TeacherLabelBaseline(teacher, student, random_state).fit(X, y)``."""
    return TeacherLabelBaseline(teacher=teacher, student=student, random_state=random_state).fit(X, y)
