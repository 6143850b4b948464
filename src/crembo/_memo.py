"""MEMO: the deepest hypothesis the student class can reach, by search over thresholds.

Candidate thresholds d_0 < d_1 < ... are the sorted unique values of the belief. The oracle
A(X, Y(d)) is trained on the allowed labels Y_i(d) = {c : p[i, c] >= d}; its hypothesis f is
*consistent* iff D(f) >= d, where D is the hypothesis depth min_i p[i, f(x_i)] (or, with
eps > 0, the eps-quantile of the pointwise depths). MEMO returns the consistent hypothesis at
the largest threshold the search reaches.
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.utils import check_random_state

from crembo import _validation as v
from crembo._candidates import candidate_thresholds as make_candidates
from crembo._threads import SERIAL_WORK
from crembo.beliefs import allowed_labels, check_belief
from crembo.depth import hypothesis_depth, quantile_depth
from crembo.oracles import FitAllowedOracle, Oracle, as_oracle, fresh_estimator
from crembo.tree.grower import MAX_CLASSES

__all__ = [
    "memo",
    "MemoResult",
    "OracleCall",
    "NoConsistentThresholdWarning",
    "check_student_classes",
    "fit_at_threshold",
    "resolve_seed",
    "kernel_jobs",
    "seeded_oracle",
    "search_thresholds",
]

SEARCHES = ("binary", "gallop")


class NoConsistentThresholdWarning(UserWarning):
    """MEMO found no candidate threshold the student is consistent with (possible only with
    explicit candidates above the belief's smallest value): its result is the student trained
    at the lowest candidate, whose depth is below that threshold."""


@dataclass
class OracleCall:
    """One call of the oracle during a MEMO search."""

    threshold: float
    index: int
    consistent: bool
    depth: float
    seconds: float


@dataclass
class MemoResult:
    """What MEMO found.

    estimator: the fitted hypothesis (``predict`` gives class indices); threshold: the largest
    threshold it is known consistent with; index: that threshold's index in ``thresholds``;
    depth: its actual (eps-quantile) depth on the training belief, >= threshold when
    consistent; trace: every oracle call in order.

    After a gallop jump, ``estimator`` was *trained* at a lower threshold (the one of the call
    that jumped) than ``threshold``: its depth reaches ``threshold``, so it is consistent with
    it, but no oracle call was made at ``threshold`` itself.

    consistent: False when no candidate was consistent (explicit candidates only; a
    ``NoConsistentThresholdWarning`` says so): then ``threshold`` is the lowest candidate, the
    one the estimator was trained at, and ``depth`` < ``threshold``.
    """

    estimator: object
    threshold: float
    index: int
    depth: float
    thresholds: np.ndarray
    trace: list = field(default_factory=list)
    consistent: bool = True


def resolve_seed(random_state):
    """An int seed from an sklearn-style random_state (ints in [0, 2**32 - 1] pass through;
    None or a RandomState draws one)."""
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    if v.is_int(random_state):
        # numpy's and sklearn's range: checked here, before any work, not deep inside a student fit
        if not 0 <= random_state <= np.iinfo(np.uint32).max:
            raise ValueError(f"random_state must be in [0, 2**32 - 1], got {random_state}")
        return int(random_state)
    raise TypeError(f"random_state must be None, an int or a RandomState, got {random_state!r}")


def check_student_classes(student, n_classes, *, default_is_native=True):
    """ValueError when the student is crembo's native tree (``None`` too, when
    ``default_is_native``) and there are more classes than it holds.

    Callers check at the start of a fit, so the error comes before minutes of teacher fitting
    or belief computation rather than at the first tree fit.
    """
    from crembo.tree import AllowedLabelTreeClassifier

    learner = student.learner if isinstance(student, FitAllowedOracle) else student
    native = isinstance(learner, AllowedLabelTreeClassifier) or (learner is None and default_is_native)
    if native and n_classes > MAX_CLASSES:
        raise ValueError(
            f"there are {n_classes} classes but crembo's native tree student (the default) supports at most "
            f"{MAX_CLASSES}; pass another student, e.g. "
            "student=sklearn.tree.DecisionTreeClassifier(max_depth=4, class_weight='balanced')"
        )


def seeded_oracle(student, seed):
    """``as_oracle(student)`` with the student's unset random_state parameters set to ``seed``.

    The oracle's ``prepare`` runs on the student itself (not on the per-fit clones, which get
    the seed anyway), and it may be random: the native tree draws the rows its bin edges are
    computed from when n > 200,000. Seeding here makes a seeded run reproducible.
    """
    if student is not None and not isinstance(student, Oracle) and hasattr(student, "get_params"):
        student = fresh_estimator(student, seed)
    return as_oracle(student)


def kernel_jobs(belief, n_jobs):
    """The n_jobs to give kernels working on ``belief``: 1 for small beliefs, else n_jobs."""
    return 1 if belief.size < SERIAL_WORK else n_jobs


def depth_of(belief, y_pred, eps=0.0, *, backend=None, n_jobs=None):
    """Hypothesis depth (eps == 0) or eps-quantile depth of predictions on a validated belief."""
    if eps > 0:
        return quantile_depth(belief, y_pred, eps, backend=backend, n_jobs=n_jobs, validate=False)
    return hypothesis_depth(belief, y_pred, backend=backend, n_jobs=n_jobs, validate=False)


def fit_at_threshold(oracle, prepared, X, belief, d, seed, eps=0.0, *, backend=None, n_jobs=None):
    """Train A(X, Y(d)); return (model, depth of its predictions on X, seconds)."""
    start = time.perf_counter()
    allowed = allowed_labels(belief, d, backend=backend, n_jobs=n_jobs, validate=False)
    model = oracle.fit(prepared, allowed, seed)
    depth = depth_of(belief, oracle.predict_training(model, prepared, X), eps, backend=backend, n_jobs=n_jobs)
    return model, float(depth), time.perf_counter() - start


def search_thresholds(thr, call, search="binary"):
    """MEMO's search over the sorted candidates ``thr``; ``call(i)`` trains A(X, Y(thr[i])) and
    returns (model, depth, consistent). Returns (lo, (model, depth), consistent): the index found,
    its fit, and False only when even the lowest candidate was not consistent.

    Shared by ``memo`` and the Dask path (``crembo.distributed``), whose ``call`` reduces
    histograms across workers instead of fitting in this process.
    """
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {SEARCHES}, got {search!r}")
    # Invariant: lo is the largest index known (or, for 0, assumed) consistent; every index
    # >= hi is beyond the search (the oracle failed at hi, or hi == len(thr)).
    lo, hi = 0, len(thr)
    best = None  # (model, depth) for lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        model, depth, ok = call(mid)
        if not ok:
            hi = mid
            continue
        lo, best = mid, (model, depth)
        if search == "gallop":
            # f is consistent with Y(d) for every candidate d <= D(f): jump there.
            jump = int(np.searchsorted(thr, depth, side="right")) - 1
            if jump > lo:
                lo = jump
                hi = max(hi, lo + 1)
    consistent = True
    if best is None:  # index 0 was never fitted: it is the answer, so fit it
        model, depth, consistent = call(0)
        best = (model, depth)
    return lo, best, consistent


def memo(
    X,
    belief,
    student=None,
    *,
    search="binary",
    eps=0.0,
    candidate_thresholds=None,
    random_state=None,
    backend=None,
    n_jobs=None,
    oracle=None,
    prepared=None,
):
    """Find the deepest consistent hypothesis of the student class (the paper's MEMO).

    Parameters
    ----------
    X : array (n, p)
        Training inputs (whatever the student accepts).
    belief : array (n, k)
        The teacher's belief on X.
    student : None, sklearn classifier, object with ``fit_allowed``, or Oracle
        The consistency oracle (see ``crembo.oracles.as_oracle``); None is the paper's tree.
    search : {"binary", "gallop"}
        "binary" as in the paper; "gallop" also moves the lower bound to the largest threshold
        <= the actual depth of each consistent hypothesis.
    eps : float in [0, 1)
        Use the eps-quantile depth instead of the minimum (0: the paper's strict consistency).
    candidate_thresholds : None, "unique", "auto", int or array
        Thresholds to search. None or "unique": every unique value of the belief (the paper);
        an int m: at most m of those values (half quantiles, half evenly spaced); "auto": unique
        when there are <= 256 of them, else 128 such; an array: these (sorted, deduplicated).
        docs/cost_model.md measures the trade-off.
    random_state : None, int or RandomState
        One seed, resolved once and given to every oracle call (so calls are reproducible).
    oracle, prepared : optional
        An already built oracle and its ``prepare(X)`` output, to share them with a caller.

    Returns
    -------
    MemoResult
        The hypothesis of the largest candidate index i found consistent (with the oracle's
        answer at i + 1 inconsistent, or i the last index). The oracle need not be monotone (a
        greedy tree can be consistent at d but not at some d' < d), so the search finds *a*
        consistent threshold with an inconsistent neighbour, not necessarily the largest
        consistent one. Every hypothesis is consistent at the belief's smallest value, so the
        default candidates always have an answer; explicit candidates may not: then the fit at
        index 0 is returned with ``consistent=False`` (on the result and its trace record) and a
        ``NoConsistentThresholdWarning``.
    """
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {SEARCHES}, got {search!r}")
    eps = v.check_fraction(eps, "eps")
    belief = check_belief(belief, backend=backend, n_jobs=n_jobs)
    check_student_classes(student if oracle is None else oracle, belief.shape[1])
    n = v.n_rows(X)
    if n != belief.shape[0]:
        raise ValueError(f"X has {n} samples but the belief has {belief.shape[0]} rows")
    thr = make_candidates(
        belief, "unique" if candidate_thresholds is None else candidate_thresholds, backend=backend, n_jobs=n_jobs
    )
    seed = resolve_seed(random_state)
    n_jobs = kernel_jobs(belief, n_jobs)
    if oracle is None:
        oracle = seeded_oracle(student, seed)
    if prepared is None:
        prepared = oracle.prepare(X)

    trace = []

    def call(i):
        model, depth, seconds = fit_at_threshold(
            oracle, prepared, X, belief, thr[i], seed, eps, backend=backend, n_jobs=n_jobs
        )
        ok = depth >= thr[i]
        trace.append(OracleCall(float(thr[i]), int(i), bool(ok), depth, seconds))
        return model, depth, ok

    lo, best, consistent = search_thresholds(thr, call, search)
    if not consistent:
        warnings.warn(
            f"no candidate threshold is consistent: the student trained at the lowest candidate, "
            f"{thr[0]:.6g}, has depth {best[1]:.6g} below it, so the result's threshold is where it was "
            f"trained, not a depth it reaches. Add lower candidates (every hypothesis is consistent at "
            f"the belief's smallest value, {float(belief.min()):.6g})",
            NoConsistentThresholdWarning,
            stacklevel=2,
        )
    return MemoResult(best[0], float(thr[lo]), int(lo), best[1], thr, trace, consistent)
