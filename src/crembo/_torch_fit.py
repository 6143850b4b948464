"""Losses, beliefs and the one-call fits behind ``crembo.torch`` (supervised, distilled, allowed).

Private: ``crembo.torch`` is the public face and re-exports the public names. Importing this
module needs torch.
"""

import numpy as np
import torch
from torch.nn import functional as F

from crembo import _validation as v
from crembo._candidates import candidate_thresholds
from crembo._torch_training import Standardizer, TorchStudent, TrainConfig, seed_of, train_mlp
from crembo.beliefs import belief_from_logits, check_belief

# ---------------------------------------------------------------------------------------- losses


def allowed_labels_loss(logits, allowed, reduction="mean"):
    """The paper's loss: binary cross-entropy with logits against the 0/1 allowed matrix [p >= d].

    Each output is an independent "is this label allowed here" unit; a row with no allowed label
    pushes every logit down.
    """
    if logits.shape != allowed.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and allowed {tuple(allowed.shape)} differ in shape")
    return F.binary_cross_entropy_with_logits(logits, allowed.to(logits.dtype), reduction=reduction)


def allowed_set_loss(logits, allowed, reduction="mean"):
    """-log of the student's softmax mass on the allowed set: ``logsumexp(z) - logsumexp(z[allowed])``.

    Zero exactly when the student puts all its probability on allowed labels, so, unlike BCE, it
    does not ask for every allowed label to be likely, only for the prediction to fall in the set
    (the partial-label likelihood). Rows with no allowed label contribute 0 and are not counted in
    the mean.
    """
    if logits.shape != allowed.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and allowed {tuple(allowed.shape)} differ in shape")
    allowed = allowed.bool()
    has = allowed.any(dim=1)
    masked = logits.masked_fill(~allowed, float("-inf"))
    per_row = torch.where(
        has,
        torch.logsumexp(logits, dim=1) - torch.logsumexp(masked, dim=1),
        torch.zeros((), dtype=logits.dtype, device=logits.device),
    )
    if reduction == "none":
        return per_row
    if reduction == "sum":
        return per_row.sum()
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return per_row.sum() / has.sum().clamp(min=1)


_ALLOWED_LOSSES = {"bce": allowed_labels_loss, "set": allowed_set_loss}


def distillation_loss(student_logits, teacher_logits, temperature):
    """Knowledge-distillation loss: T^2 * KL(softmax(t/T) || softmax(s/T)), batch mean."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    t = F.log_softmax(teacher_logits / temperature, dim=1)
    s = F.log_softmax(student_logits / temperature, dim=1)
    return F.kl_div(s, t, reduction="batchmean", log_target=True) * temperature**2


# ------------------------------------------------------------------------------ beliefs, thresholds


def _check_logits(teacher_logits, n_rows=None):
    z = np.asarray(teacher_logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2 or (n_rows is not None and z.shape[0] != n_rows):
        want = f"({n_rows}, k)" if n_rows is not None else "(n, k)"
        raise ValueError(f"teacher_logits must have shape {want} with k >= 2, got {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("teacher_logits contain NaN or infinity (clip probabilities before taking logs)")
    return z


def _check_temperature(t, name="temperature"):
    return v.check_real(t, name, low=0, low_open=True)


def net_belief(teacher_logits, temperature=1.0):
    """The teacher's belief ``softmax(logits / temperature)`` (float64, rows sum to 1)."""
    z = _check_logits(teacher_logits)
    return belief_from_logits(z / _check_temperature(temperature))


def clip_belief(belief, low=0.01, high=0.9):
    """The paper's clipping of a softmax belief: values below ``low`` -> 0, above ``high`` -> 1.

    Thousands of tiny probabilities collapse into one candidate (0) and confident ones into
    another (1), so the scan is spent on 0.01..0.9. Rows no longer sum to 1 (it is a set of
    candidate thresholds and allowed sets, not a distribution).
    """
    b = check_belief(belief)
    if not (0.0 <= low < high <= 1.0):
        raise ValueError(f"clip bounds must satisfy 0 <= low < high <= 1, got ({low}, {high})")
    out = b.astype(np.float64, copy=True)
    out[out < low] = 0.0
    out[out > high] = 1.0
    return out


def threshold_grid(belief, n_thresholds=40):
    """At most ``n_thresholds`` candidate thresholds of ``belief``: ``CREMBOClassifier``'s
    ``thresholds=n_thresholds`` (quantiles of the unique values merged with evenly spaced
    values, each a real belief value; min and max included)."""
    return candidate_thresholds(check_belief(belief), v.check_int(n_thresholds, "n_thresholds", low=2))


# ----------------------------------------------------------------------------------- fitting


def _class_indices(y, n_classes, name="y"):
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"{name} must be 1-D integer class indices in [0, {n_classes})")
    return torch.from_numpy(y.astype(np.int64))


def _validation(prep, X_val, y_val, n_classes):
    if (X_val is None) != (y_val is None):
        raise ValueError("give both X_val and y_val (early stopping), or neither")
    if X_val is None:
        return None
    Xv = prep(X_val)
    yv = _class_indices(y_val, n_classes, "y_val")
    if len(yv) != Xv.shape[0]:
        raise ValueError(f"X_val has {Xv.shape[0]} rows but y_val has {len(yv)}")
    return Xv, yv


def _fit(X, n_classes, loss_fn, targets, X_val, y_val, train, random_state, desc):
    """Build the config, standardise, train; the common tail of every ``fit_*``."""
    train = dict(train)
    standardize = train.pop("standardize", True)
    cfg = TrainConfig(**train)
    prep = Standardizer(X, standardize)
    if any(t.shape[0] != prep.X.shape[0] for t in targets):
        raise ValueError("every target must have one row per row of X")
    validation = _validation(prep, X_val, y_val, n_classes)
    model, history = train_mlp(prep.X, n_classes, loss_fn, targets, cfg, seed_of(random_state), validation, desc)
    return TorchStudent(model, prep, history)


def fit_supervised(X, y, n_classes=None, *, X_val=None, y_val=None, random_state=None, **train):
    """Train an MLP on hard labels with cross-entropy (BM on true labels, VT on the teacher's).

    ``train``: :class:`TrainConfig` settings (``hidden``, ``epochs``, ``lr``, ``batch_size``,
    ``weight_decay``, ``patience``, ``device``, ``n_threads``, ``progress``) and ``standardize``.
    """
    n_classes = int(np.max(y)) + 1 if n_classes is None else int(n_classes)
    targets = (_class_indices(y, n_classes),)
    return _fit(X, n_classes, F.cross_entropy, targets, X_val, y_val, train, random_state, "supervised")


def fit_distilled(
    X, teacher_logits, temperature, y=None, alpha=0.0, *, X_val=None, y_val=None, random_state=None, **train
):
    """Knowledge distillation (Hinton et al.): fit an MLP to the teacher's tempered softmax.

    Loss = (1 - alpha) * T^2 KL(softmax(t/T) || softmax(s/T)) + alpha * CE(s, y).
    """
    z = _check_logits(teacher_logits, np.shape(X)[0])
    temperature = _check_temperature(temperature)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if alpha > 0 and y is None:
        raise ValueError("alpha > 0 needs the true labels y")
    k = z.shape[1]
    y_t = _class_indices(y, k) if y is not None else torch.zeros(len(z), dtype=torch.int64)

    def loss_fn(logits, t_logits, yb):
        kd = distillation_loss(logits, t_logits, temperature)
        return kd if alpha == 0 else (1 - alpha) * kd + alpha * F.cross_entropy(logits, yb)

    targets = (torch.from_numpy(z.astype(np.float32)), y_t)
    return _fit(X, k, loss_fn, targets, X_val, y_val, train, random_state, f"KD T={temperature:g}")


def fit_allowed(
    X,
    allowed,
    *,
    loss="bce",
    teacher_logits=None,
    kd_weight=0.0,
    kd_temperature=4.0,
    X_val=None,
    y_val=None,
    random_state=None,
    **train,
):
    """Train an MLP on an (n, k) allowed-label matrix: CREMBO's student at one threshold.

    ``loss``: "bce" (:func:`allowed_labels_loss`, the paper's) or "set" (:func:`allowed_set_loss`).
    With ``kd_weight`` w > 0 (CREMBO + KD) the loss is ``(1 - w) * allowed + w * KD`` where KD is
    :func:`distillation_loss` against ``teacher_logits`` at ``kd_temperature``.
    """
    allowed = np.asarray(allowed)
    if allowed.ndim != 2 or allowed.shape[0] != np.shape(X)[0] or allowed.shape[1] < 2:
        raise ValueError(f"allowed must have shape ({np.shape(X)[0]}, k) with k >= 2, got {allowed.shape}")
    if loss not in _ALLOWED_LOSSES:
        raise ValueError(f"loss must be 'bce' or 'set', got {loss!r}")
    allowed_loss = _ALLOWED_LOSSES[loss]
    k = allowed.shape[1]
    w = v.check_real(kd_weight, "kd_weight", low=0, high=1)
    targets = [torch.from_numpy(allowed.astype(np.float32))]
    if w > 0:
        if teacher_logits is None:
            raise ValueError("kd_weight > 0 needs teacher_logits")
        z = _check_logits(teacher_logits, allowed.shape[0])
        if z.shape[1] != k:
            raise ValueError(f"teacher_logits have {z.shape[1]} classes but allowed has {k}")
        kd_temperature = _check_temperature(kd_temperature, "kd_temperature")
        targets.append(torch.from_numpy(z.astype(np.float32)))

    def loss_fn(logits, allowed_b, *t_logits):
        term = allowed_loss(logits, allowed_b)
        if w == 0:
            return term
        return (1 - w) * term + w * distillation_loss(logits, t_logits[0], kd_temperature)

    return _fit(X, k, loss_fn, tuple(targets), X_val, y_val, train, random_state, f"allowed ({loss})")
