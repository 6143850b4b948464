"""Neural students for CREMBO/MEMO: DNN -> small DNN (optional extra: ``pip install 'crembo[torch]'``).

The teacher is given by its logits on the training rows (``log(predict_proba)`` for a teacher that
only has probabilities); its belief is ``softmax(logits / temperature)``. A student is a small MLP
trained with mini-batch Adam and early stopping on a validation split (``X_val``, ``y_val``).

Methods (each is one call, and a benchmark compares them under one training budget):

* :func:`crembo_net`: CREMBO for nets. At each candidate threshold d the student is trained on
  the allowed labels ``[belief >= d]`` and the threshold with the best validation accuracy wins.
  ``recipe="paper"`` is the paper's DNN recipe: beliefs clipped (below 0.01 -> 0, above 0.9 -> 1),
  candidates the sorted unique clipped values, MEMO's binary search for the deepest consistent
  threshold, then every ``delta = 20``-th candidate above it, each student trained with
  :func:`allowed_labels_loss` (BCE-with-logits on the 0/1 allowed matrix). ``recipe="ours"``
  (:data:`OUR_RECIPE`) keeps the clipping, skips MEMO, scans 10 candidates spread over the values,
  and chooses the loss (BCE or :func:`allowed_set_loss`) on validation with the threshold. Every
  part is a parameter (:class:`Recipe`), so each can be switched off to see what it is worth.
* :func:`crembo_kd_net`: CREMBO + KD, the allowed-label term plus Hinton's distillation term,
  ``(1 - w) * allowed + w * KD_T``, at a given threshold; the weight w is chosen on validation.
* :func:`fit_distilled` (knowledge distillation), :func:`fit_supervised` (BM on the true labels,
  VT on the teacher's): the baselines.
* :class:`TorchOracle`: a torch student as a consistency oracle of ``CREMBOClassifier`` (the
  library's estimator: no early stopping there, it has no validation rows to give the oracle).

Training is on the CPU by default (small nets are fastest there, and the result is a function of
the seed and torch's thread count); ``device="auto"`` uses CUDA when torch sees a GPU.
"""

from dataclasses import dataclass, replace

import numpy as np

try:
    import torch
except ImportError as exc:  # torch is an optional extra, never a core dependency
    raise ImportError(
        "crembo.torch needs PyTorch, which is not installed. Install it with "
        "`pip install 'crembo[torch]'` (or `pip install torch`)."
    ) from exc

from crembo import _validation as v
from crembo._candidates import candidate_thresholds
from crembo._torch_fit import (
    _ALLOWED_LOSSES,
    _check_logits,
    _check_temperature,
    allowed_labels_loss,
    allowed_set_loss,
    clip_belief,
    distillation_loss,
    fit_allowed,
    fit_distilled,
    fit_supervised,
    net_belief,
    threshold_grid,
)
from crembo._torch_training import MLP, Standardizer, TorchStudent, TrainConfig, seed_of, train_mlp
from crembo.beliefs import allowed_labels
from crembo.beliefs import thresholds as unique_values
from crembo.depth import hypothesis_depth
from crembo.oracles import Oracle

__all__ = [
    "MLP",
    "OUR_RECIPE",
    "PAPER_RECIPE",
    "CremboNetResult",
    "CremboResult",
    "Recipe",
    "TorchOracle",
    "TorchStudent",
    "TrainConfig",
    "allowed_labels_loss",
    "allowed_set_loss",
    "clip_belief",
    "crembo_kd_net",
    "crembo_net",
    "crembo_torch",
    "distillation_loss",
    "fit_allowed",
    "fit_distilled",
    "fit_supervised",
    "net_belief",
    "threshold_grid",
]

# ------------------------------------------------------------------------------- CREMBO for nets


@dataclass(frozen=True)
class Recipe:
    """How :func:`crembo_net` turns the teacher's logits into candidate thresholds and students.

    Parameters
    ----------
    loss : "bce", "set" or a tuple of both
        "bce" is the paper's :func:`allowed_labels_loss`, "set" :func:`allowed_set_loss`; with a
        tuple the scan is run with each, and the loss is chosen on validation with the threshold.
    clip : (low, high) or None
        :func:`clip_belief` before taking candidates and allowed sets.
    temperature : float
        The belief is ``softmax(logits / temperature)``.
    delta : int
        Index step of the scan over the sorted candidates, from MEMO's index up.
    max_scan : None or int
        The step grows past ``delta`` when needed so that the scan trains at most ``max_scan``
        students (a softmax teacher on noisy data leaves tens of thousands of distinct values in
        0.01..0.9, which delta 20 would turn into thousands of students).
    n_thresholds : None or int
        None: every unique belief value is a candidate; m: at most m candidates
        (:func:`threshold_grid`'s quantile + evenly spaced mix).
    memo : bool
        Run MEMO's binary search first and scan from its index (else from the lowest candidate).
    """

    loss: str = "bce"
    clip: tuple | None = (0.01, 0.9)
    temperature: float = 1.0
    delta: int = 20
    max_scan: int | None = None
    n_thresholds: int | None = None
    memo: bool = True

    def __post_init__(self):
        if not self.losses or not all(loss in _ALLOWED_LOSSES for loss in self.losses):
            raise ValueError(f"loss must be 'bce', 'set' or a tuple of them, got {self.loss!r}")
        if self.clip is not None and (len(self.clip) != 2 or not 0.0 <= self.clip[0] < self.clip[1] <= 1.0):
            raise ValueError(f"clip must be None or (low, high) with 0 <= low < high <= 1, got {self.clip!r}")
        _check_temperature(self.temperature)
        v.check_int(self.delta, "delta", low=1)
        v.check_int(self.max_scan, "max_scan", low=1, allow_none=True)
        v.check_int(self.n_thresholds, "n_thresholds", low=2, allow_none=True)

    @property
    def losses(self):
        """The allowed-label losses to scan, in order (a single loss is a 1-tuple)."""
        return (self.loss,) if isinstance(self.loss, str) else tuple(self.loss)

    def belief(self, teacher_logits):
        """The (clipped) belief whose values are the candidates and whose [b >= d] are the allowed sets."""
        b = net_belief(teacher_logits, self.temperature)
        return clip_belief(b, *self.clip) if self.clip is not None else b

    def candidates(self, belief):
        if self.n_thresholds is None:
            return unique_values(belief, validate=False)
        return candidate_thresholds(belief, self.n_thresholds)


#: The paper's DNN -> DNN recipe (BCE on allowed sets, clipping at 0.01 / 0.9, delta 20, MEMO first).
PAPER_RECIPE = Recipe()

#: crembo's recipe, chosen on development runs (benchmarks/paper_torch.py --dev): the paper's clipping,
#: no MEMO (on nets it stops at threshold 0, where every label is allowed, after log2(#values) fits),
#: 10 candidates spread over the values (quantiles and even steps) instead of every 20th of tens of
#: thousands of distinct values, and the loss chosen on validation with the threshold (BCE did better
#: for the larger student, the set loss for the smaller one).
OUR_RECIPE = Recipe(loss=("bce", "set"), memo=False, delta=1, n_thresholds=10)

_RECIPES = {"paper": PAPER_RECIPE, "ours": OUR_RECIPE}


def _as_recipe(recipe, overrides):
    if isinstance(recipe, str):
        if recipe not in _RECIPES:
            raise ValueError(f"recipe must be 'paper', 'ours' or a Recipe, got {recipe!r}")
        recipe = _RECIPES[recipe]
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be 'paper', 'ours' or a Recipe, got {type(recipe).__name__}")
    return replace(recipe, **overrides) if overrides else recipe


def _accuracy(student, X, y):
    return float(np.mean(student.predict(X) == np.asarray(y)))


class CremboNetResult:
    """What :func:`crembo_net` or :func:`crembo_kd_net` chose; ``predict`` gives class indices.

    ``student_``: the chosen :class:`TorchStudent`; ``threshold_``; ``validation_score_``;
    ``depth_`` (its hypothesis depth on the training belief); ``memo_threshold_`` (MEMO's, or the
    lowest candidate without MEMO); ``scan_``: dict of arrays, one entry per student scanned
    (``thresholds``, ``validation_scores``, ``depths``, ``epochs``, ``losses``; ``weights`` for CREMBO + KD);
    ``loss_``: the allowed-label loss of the chosen student; ``memo_trace_``: (index, threshold,
    consistent) per MEMO fit with that loss; ``n_candidates_``; ``n_fits_``
    (students trained in all); ``students_``: the student of each scan entry; ``recipe_``.
    """

    def __init__(self, **attrs):
        for name, value in attrs.items():
            setattr(self, name, value)

    def predict(self, X):
        return self.student_.predict(X)

    def predict_proba(self, X):
        return self.student_.predict_proba(X)


def crembo_net(
    X,
    teacher_logits,
    X_val,
    y_val,
    *,
    recipe="paper",
    kd_weight=0.0,
    kd_temperature=4.0,
    random_state=None,
    n_jobs=1,
    **train,
):
    """CREMBO with a neural student; returns a :class:`CremboNetResult`.

    ``teacher_logits``: the teacher's logits on ``X``; ``X_val``, ``y_val``: the validation split
    (true labels) that early-stops every student and picks the threshold (ties: the lowest).
    ``recipe``: "paper", "ours" or a :class:`Recipe`; recipe fields may also be given as keywords here
    (``loss``, ``clip``, ``temperature``, ``delta``, ``max_scan``, ``n_thresholds``, ``memo``). ``kd_weight`` >
    0 trains every student with the CREMBO + KD loss (see :func:`fit_allowed`). ``train``:
    :class:`TrainConfig` settings, shared by every student; each is seeded with ``random_state``,
    so students differ only in their targets. ``n_jobs``: threads of crembo's belief kernels.
    """
    overrides = {
        f: train.pop(f)
        for f in ("loss", "clip", "temperature", "delta", "max_scan", "n_thresholds", "memo")
        if f in train
    }
    r = _as_recipe(recipe, overrides)
    z = _check_logits(teacher_logits, np.shape(X)[0])
    if X_val is None or y_val is None:
        raise ValueError("crembo_net needs X_val and y_val: the threshold is chosen on validation")
    belief = r.belief(z)
    cands = r.candidates(belief)
    seed = seed_of(random_state)
    fits = {}

    def fit_at(loss, m):
        if (loss, m) not in fits:
            allowed = allowed_labels(belief, cands[m], validate=False, n_jobs=n_jobs)
            st = fit_allowed(
                X,
                allowed,
                loss=loss,
                teacher_logits=z,
                kd_weight=kd_weight,
                kd_temperature=kd_temperature,
                X_val=X_val,
                y_val=y_val,
                random_state=seed,
                **train,
            )
            depth = float(hypothesis_depth(belief, st.predict(X), validate=False, n_jobs=n_jobs))
            fits[loss, m] = (st, _accuracy(st, X_val, y_val), depth)
        return fits[loss, m]

    rows, traces, starts, steps = [], {}, {}, {}
    for loss in r.losses:
        start, trace = 0, traces.setdefault(loss, [])
        if r.memo:  # binary search for the deepest consistent candidate: D(f) >= d
            lo, hi = 0, len(cands) - 1
            while lo <= hi:
                m = (lo + hi) // 2
                ok = fit_at(loss, m)[2] >= cands[m]
                trace.append((m, float(cands[m]), bool(ok)))
                if ok:
                    start, lo = m, m + 1
                else:
                    hi = m - 1
        step = r.delta if r.max_scan is None else max(r.delta, -(-(len(cands) - start) // r.max_scan))
        starts[loss], steps[loss] = start, step
        rows += [(loss, int(m), *fit_at(loss, int(m))) for m in range(start, len(cands), step)]
    scores = np.array([row[3] for row in rows])
    best = int(np.argmax(scores))  # first maximum: ties go to the first loss, then the lowest threshold
    loss, m = rows[best][:2]
    idx = np.array([row[1] for row in rows])
    scan = {
        "thresholds": cands[idx],
        "validation_scores": scores,
        "depths": np.array([row[4] for row in rows]),
        "epochs": np.array([row[2].history_["epochs"] for row in rows]),
        "losses": np.array([row[0] for row in rows]),
    }
    return CremboNetResult(
        student_=rows[best][2],
        students_=[row[2] for row in rows],
        threshold_=float(cands[m]),
        index_=m,
        loss_=loss,
        validation_score_=float(scores[best]),
        depth_=float(scan["depths"][best]),
        memo_threshold_=float(cands[starts[loss]]),
        memo_index_=int(starts[loss]),
        memo_trace_=traces[loss],
        scan_=scan,
        step_=int(steps[loss]),
        n_candidates_=len(cands),
        n_fits_=len(fits),
        recipe_=r,
        kd_weight_=float(kd_weight),
    )


def crembo_kd_net(
    X,
    teacher_logits,
    X_val,
    y_val,
    threshold,
    *,
    weights=(0.25, 0.5, 0.75),
    kd_temperature=4.0,
    recipe="paper",
    random_state=None,
    n_jobs=1,
    **train,
):
    """CREMBO + KD at one ``threshold``: a student per weight w of ``(1 - w) * allowed + w * KD``,
    the one with the best validation accuracy kept (ties: the smallest w). Typically ``threshold``
    is :func:`crembo_net`'s choice and ``kd_temperature`` KD's validated T. Returns a
    :class:`CremboNetResult` with ``weight_`` and ``scan_["weights"]``."""
    overrides = {f: train.pop(f) for f in ("loss", "clip", "temperature") if f in train}
    r = _as_recipe(recipe, overrides)
    if len(r.losses) != 1:
        raise ValueError(
            f"crembo_kd_net needs one allowed-label loss (e.g. loss=crembo_net(...).loss_), got {r.loss!r}"
        )
    z = _check_logits(teacher_logits, np.shape(X)[0])
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or weights.size == 0 or not ((weights >= 0) & (weights <= 1)).all():
        raise ValueError(f"weights must be a non-empty 1-D sequence in [0, 1], got {weights!r}")
    if X_val is None or y_val is None:
        raise ValueError("crembo_kd_net needs X_val and y_val: the weight is chosen on validation")
    belief = r.belief(z)
    allowed = allowed_labels(belief, float(threshold), validate=False, n_jobs=n_jobs)
    seed = seed_of(random_state)
    students, scores, depths = [], [], []
    for w in weights:
        st = fit_allowed(
            X,
            allowed,
            loss=r.losses[0],
            teacher_logits=z,
            kd_weight=float(w),
            kd_temperature=kd_temperature,
            X_val=X_val,
            y_val=y_val,
            random_state=seed,
            **train,
        )
        students.append(st)
        scores.append(_accuracy(st, X_val, y_val))
        depths.append(float(hypothesis_depth(belief, st.predict(X), validate=False, n_jobs=n_jobs)))
    best = int(np.argmax(scores))
    scan = {
        "weights": weights,
        "thresholds": np.full(len(weights), float(threshold)),
        "validation_scores": np.array(scores),
        "depths": np.array(depths),
        "epochs": np.array([s.history_["epochs"] for s in students]),
    }
    return CremboNetResult(
        student_=students[best],
        students_=students,
        threshold_=float(threshold),
        weight_=float(weights[best]),
        loss_=r.losses[0],
        validation_score_=float(scores[best]),
        depth_=depths[best],
        memo_threshold_=float("nan"),
        memo_trace_=[],
        scan_=scan,
        n_fits_=len(students),
        recipe_=r,
        kd_temperature_=float(kd_temperature),
    )


# ------------------------------------------------------------- a torch student inside CREMBOClassifier


class TorchOracle(Oracle):
    """Consistency oracle that trains an MLP on the allowed-label matrix (for ``CREMBOClassifier``).

    Parameters
    ----------
    hidden : tuple of int
        Hidden layer widths of the student MLP.
    epochs, lr, batch_size, weight_decay
        Mini-batch Adam for a fixed number of epochs (the oracle sees no validation rows, so no
        early stopping); ``batch_size=None`` is full-batch.
    loss : "bce" (the paper's) or "set"
    standardize : bool
        Standardise features (statistics of the training X, computed once in ``prepare``).
    device : None (CPU), "auto" (CUDA when available), or a device
    n_threads : int or None
        Torch intra-op threads during training (restored afterwards); None leaves torch's setting.
    """

    def __init__(
        self,
        hidden=(32,),
        epochs=200,
        lr=1e-2,
        batch_size=128,
        weight_decay=0.0,
        loss="bce",
        standardize=True,
        device=None,
        n_threads=None,
    ):
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.loss = loss
        self.standardize = standardize
        self.device = device
        self.n_threads = n_threads

    def _config(self):
        return TrainConfig(
            hidden=self.hidden,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            weight_decay=self.weight_decay,
            patience=None,
            device=self.device,
            n_threads=self.n_threads,
        )

    def prepare(self, X):
        return Standardizer(X, self.standardize)

    def fit(self, prepared, allowed, random_state=None):
        if not isinstance(prepared, Standardizer):
            prepared = self.prepare(prepared)
        if self.loss not in _ALLOWED_LOSSES:
            raise ValueError(f"loss must be 'bce' or 'set', got {self.loss!r}")
        allowed = np.asarray(allowed)
        if allowed.ndim != 2 or allowed.shape[0] != prepared.X.shape[0]:
            raise ValueError(f"allowed must have shape ({prepared.X.shape[0]}, k), got {allowed.shape}")
        targets = (torch.from_numpy(allowed.astype(np.float32)),)
        model, history = train_mlp(
            prepared.X, allowed.shape[1], _ALLOWED_LOSSES[self.loss], targets, self._config(), seed_of(random_state)
        )
        return TorchStudent(model, prepared, history)

    def __repr__(self):
        return (
            f"TorchOracle(hidden={self.hidden!r}, epochs={self.epochs}, lr={self.lr}, "
            f"batch_size={self.batch_size}, weight_decay={self.weight_decay}, loss={self.loss!r}, "
            f"standardize={self.standardize}, device={self.device!r}, n_threads={self.n_threads})"
        )


class CremboResult:
    """What :func:`crembo_torch` found; ``predict`` maps the student's indices to ``classes_``.

    ``classifier_`` is the fitted ``CREMBOClassifier``; ``scan_`` a dict of arrays (thresholds,
    validation_scores, depths).
    """

    def __init__(self, classifier):
        self.classifier_ = classifier
        self.estimator_ = classifier.estimator_
        self.threshold_ = classifier.threshold_
        self.depth_ = classifier.depth_
        self.memo_ = classifier.memo_
        self.memo_threshold_ = classifier.memo_threshold_
        scan = classifier.scan_
        self.scan_ = {"thresholds": scan.thresholds, "validation_scores": scan.validation_scores, "depths": scan.depths}
        self.classes_ = classifier.classes_

    def predict(self, X):
        return self.classifier_.predict(X)


def crembo_torch(
    X, y, teacher, student=None, *, n_thresholds=40, validation_fraction=0.15, random_state=None, selection="paper"
):
    """``CREMBOClassifier(teacher, student, thresholds=n_thresholds, ...)`` for a neural student:
    the library's estimator (teacher fitted or given as a classifier) with a :class:`TorchOracle`
    (default ``TorchOracle()``). Returns a :class:`CremboResult`.

    ``selection`` defaults to "paper" (one validation split of ``validation_fraction``): each
    candidate is a net trained from scratch, and "cv" trains five per threshold."""
    from crembo.estimator import CREMBOClassifier

    clf = CREMBOClassifier(
        teacher=teacher,
        student=TorchOracle() if student is None else student,
        thresholds=n_thresholds,
        validation_fraction=validation_fraction,
        random_state=random_state,
        selection=selection,
    )
    return CremboResult(clf.fit(X, y))
