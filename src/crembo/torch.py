"""PyTorch students for CREMBO/MEMO (optional extra: ``pip install 'crembo[torch]'``).

A neural student is a consistency oracle like any other: :class:`TorchOracle` trains a small MLP
on the allowed-label matrix [p >= d] with :func:`allowed_labels_loss` (binary cross-entropy with
logits, the paper's loss for NN students), so the CREMBO loop is the ordinary estimator::

    from crembo import CREMBOClassifier
    from crembo.torch import TorchOracle
    clf = CREMBOClassifier(teacher=big_net, student=TorchOracle(hidden=(32,)), delta=200).fit(X, y)

Softmax beliefs have up to n*k distinct thresholds, most of them tiny (1e-6 and below), so an
index step ``delta`` spends the scan where the allowed sets barely change. :func:`crembo_torch`
is ``CREMBOClassifier`` with ``thresholds=n_thresholds`` (:func:`threshold_grid`): a few dozen
candidates, quantiles and evenly spaced values, each a real belief value.
:func:`fit_distilled` (Hinton et al.'s knowledge distillation) and :func:`fit_supervised` are the
baselines the DNN benchmark compares against.
"""

import numbers

import numpy as np

try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ImportError as exc:  # torch is an optional extra, never a core dependency
    raise ImportError(
        "crembo.torch needs PyTorch, which is not installed. Install it with "
        "`pip install 'crembo[torch]'` (or `pip install torch`)."
    ) from exc

from sklearn.utils import check_random_state

from crembo.beliefs import check_belief
from crembo.candidates import candidate_thresholds
from crembo.oracles import Oracle

__all__ = [
    "MLP",
    "TorchOracle",
    "TorchStudent",
    "CremboResult",
    "allowed_labels_loss",
    "crembo_torch",
    "distillation_loss",
    "fit_distilled",
    "fit_supervised",
    "threshold_grid",
]


def allowed_labels_loss(logits, allowed, reduction="mean"):
    """Binary cross-entropy with logits against the 0/1 allowed-label matrix [p >= d].

    Each output is an independent "is this label allowed here" unit, so a student minimising it
    puts its highest logit on an allowed label wherever it can (the paper's NN consistency loss).
    """
    if logits.shape != allowed.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and allowed {tuple(allowed.shape)} differ in shape")
    return F.binary_cross_entropy_with_logits(logits, allowed.to(logits.dtype), reduction=reduction)


def distillation_loss(student_logits, teacher_logits, temperature):
    """Knowledge-distillation loss: T^2 * KL(softmax(t/T) || softmax(s/T)), batch mean."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    t = F.log_softmax(teacher_logits / temperature, dim=1)
    s = F.log_softmax(student_logits / temperature, dim=1)
    return F.kl_div(s, t, reduction="batchmean", log_target=True) * temperature**2


class MLP(nn.Module):
    """A plain ReLU multilayer perceptron: n_features -> hidden... -> n_outputs."""

    def __init__(self, n_features, n_outputs, hidden=(32,)):
        super().__init__()
        layers, width = [], n_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, n_outputs))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def _check_hidden(hidden):
    if isinstance(hidden, numbers.Integral):
        hidden = (hidden,)
    hidden = tuple(hidden)
    if not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0 for h in hidden):
        raise ValueError(f"hidden must be positive ints, got {hidden!r}")
    return tuple(int(h) for h in hidden)


def _seed_of(random_state):
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


class _Standardizer:
    """Column standardisation fitted once per run, so every threshold's network sees the same inputs."""

    def __init__(self, X, standardize):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, got shape {X.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity")
        self.n_features = X.shape[1]
        if standardize:
            self.mean = X.mean(axis=0)
            scale = X.std(axis=0)
            self.scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        else:
            self.mean = np.zeros(X.shape[1], np.float32)
            self.scale = np.ones(X.shape[1], np.float32)
        self.X = self(X)

    def __call__(self, X):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n, {self.n_features}), got {X.shape}")
        return torch.from_numpy((X - self.mean) / self.scale)


class TorchStudent:
    """A trained MLP student; ``predict`` returns class indices (argmax of its logits)."""

    def __init__(self, model, transform):
        self.model = model
        self._transform = transform

    def logits(self, X):
        self.model.eval()
        with torch.no_grad():
            return self.model(self._transform(X)).numpy()

    def predict(self, X):
        return self.logits(X).argmax(axis=1).astype(np.int64)

    def predict_proba(self, X):
        z = self.logits(X)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


class _Config:
    def __init__(self, hidden, epochs, lr, batch_size, weight_decay, n_threads):
        self.hidden = _check_hidden(hidden)
        for name, val in (("epochs", epochs), ("batch_size", batch_size), ("n_threads", n_threads)):
            if val is not None and (not isinstance(val, numbers.Integral) or isinstance(val, bool) or val < 1):
                raise ValueError(f"{name} must be a positive int, got {val!r}")
        if epochs is None:
            raise ValueError("epochs must be a positive int, got None")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.epochs, self.lr, self.batch_size = int(epochs), float(lr), batch_size
        self.weight_decay, self.n_threads = float(weight_decay), n_threads


def _train(Xt, n_outputs, loss_fn, targets, cfg, seed):
    """Adam on ``loss_fn(model(x), targets[batch])``; deterministic for a given seed."""
    prev_threads = torch.get_num_threads()
    if cfg.n_threads is not None:
        torch.set_num_threads(cfg.n_threads)
    try:
        with torch.random.fork_rng(devices=[]):  # seed init without touching the caller's RNG
            torch.manual_seed(seed)
            model = MLP(Xt.shape[1], n_outputs, cfg.hidden)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        n = Xt.shape[0]
        bs = n if cfg.batch_size is None else min(cfg.batch_size, n)
        model.train()
        for _ in range(cfg.epochs):
            order = torch.randperm(n, generator=gen) if bs < n else None
            for start in range(0, n, bs):
                idx = slice(None) if order is None else order[start:start + bs]
                opt.zero_grad()
                loss = loss_fn(model(Xt[idx]), targets[idx])
                loss.backward()
                opt.step()
        model.eval()
        return model
    finally:
        torch.set_num_threads(prev_threads)


class TorchOracle(Oracle):
    """Consistency oracle that trains an MLP on the allowed-label matrix with BCE-with-logits.

    Parameters
    ----------
    hidden : tuple of int
        Hidden layer widths of the student MLP.
    epochs, lr, batch_size, weight_decay
        Adam training; ``batch_size=None`` is full-batch (fast and deterministic on small data).
    standardize : bool
        Standardise features (statistics of the training X, computed once in ``prepare``).
    n_threads : int or None
        Torch intra-op threads during training (restored afterwards); None leaves torch's setting.
    """

    def __init__(self, hidden=(32,), epochs=200, lr=1e-2, batch_size=None, weight_decay=0.0,
                 standardize=True, n_threads=None):
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.standardize = standardize
        self.n_threads = n_threads

    def _config(self):
        return _Config(self.hidden, self.epochs, self.lr, self.batch_size, self.weight_decay, self.n_threads)

    def prepare(self, X):
        return _Standardizer(X, self.standardize)

    def fit(self, prepared, allowed, random_state=None):
        if not isinstance(prepared, _Standardizer):
            prepared = self.prepare(prepared)
        allowed = np.asarray(allowed)
        if allowed.ndim != 2 or allowed.shape[0] != prepared.X.shape[0]:
            raise ValueError(f"allowed must have shape ({prepared.X.shape[0]}, k), got {allowed.shape}")
        targets = torch.from_numpy(allowed.astype(np.float32))
        model = _train(prepared.X, allowed.shape[1], allowed_labels_loss, targets, self._config(),
                       _seed_of(random_state))
        return TorchStudent(model, prepared)

    def __repr__(self):
        return (f"TorchOracle(hidden={self.hidden!r}, epochs={self.epochs}, lr={self.lr}, "
                f"batch_size={self.batch_size}, weight_decay={self.weight_decay}, "
                f"standardize={self.standardize}, n_threads={self.n_threads})")


def _class_indices(y, n_classes):
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "iu" or (y.size and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"y must be 1-D integer class indices in [0, {n_classes})")
    return torch.from_numpy(y.astype(np.int64))


def fit_supervised(X, y, n_classes=None, *, hidden=(32,), epochs=200, lr=1e-2, batch_size=None,
                   weight_decay=0.0, standardize=True, random_state=None, n_threads=None):
    """Train an MLP on hard labels with cross-entropy (the BM / VT baselines for NN students)."""
    n_classes = int(np.max(y)) + 1 if n_classes is None else int(n_classes)
    prep = _Standardizer(X, standardize)
    targets = _class_indices(y, n_classes)
    cfg = _Config(hidden, epochs, lr, batch_size, weight_decay, n_threads)
    model = _train(prep.X, n_classes, F.cross_entropy, targets, cfg, _seed_of(random_state))
    return TorchStudent(model, prep)


def fit_distilled(X, teacher_logits, temperature, y=None, alpha=0.0, *, hidden=(32,), epochs=200, lr=1e-2,
                  batch_size=None, weight_decay=0.0, standardize=True, random_state=None, n_threads=None):
    """Knowledge distillation: fit an MLP to the teacher's tempered softmax.

    Loss = (1 - alpha) * T^2 KL(softmax(t/T) || softmax(s/T)) + alpha * CE(s, y). Pass
    ``log(predict_proba)`` as ``teacher_logits`` for teachers that only expose probabilities.
    """
    teacher_logits = np.asarray(teacher_logits, dtype=np.float32)
    if teacher_logits.ndim != 2 or teacher_logits.shape[0] != np.shape(X)[0]:
        raise ValueError("teacher_logits must have shape (n_samples, n_classes)")
    if not np.isfinite(teacher_logits).all():
        raise ValueError("teacher_logits contain NaN or infinity (clip probabilities before taking logs)")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if alpha > 0 and y is None:
        raise ValueError("alpha > 0 needs the true labels y")
    k = teacher_logits.shape[1]
    prep = _Standardizer(X, standardize)
    t_logits = torch.from_numpy(teacher_logits)
    y_t = _class_indices(y, k) if y is not None else torch.zeros(len(t_logits), dtype=torch.int64)
    targets = torch.cat([t_logits, y_t[:, None].to(t_logits.dtype)], dim=1)

    def loss_fn(logits, tgt):
        kd = distillation_loss(logits, tgt[:, :k], float(temperature))
        if alpha == 0:
            return kd
        return (1 - alpha) * kd + alpha * F.cross_entropy(logits, tgt[:, k].long())

    cfg = _Config(hidden, epochs, lr, batch_size, weight_decay, n_threads)
    model = _train(prep.X, k, loss_fn, targets, cfg, _seed_of(random_state))
    return TorchStudent(model, prep)


def threshold_grid(belief, n_thresholds=40):
    """At most ``n_thresholds`` candidate thresholds of ``belief``: ``CREMBOClassifier``'s
    ``thresholds=n_thresholds`` (``crembo.candidates.bounded_candidates``: quantiles of the unique
    values merged with evenly spaced values, each a real belief value; min and max included)."""
    if isinstance(n_thresholds, bool) or not isinstance(n_thresholds, numbers.Integral) or n_thresholds < 2:
        raise ValueError(f"n_thresholds must be an int >= 2, got {n_thresholds!r}")
    return candidate_thresholds(check_belief(belief), int(n_thresholds))


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


def crembo_torch(X, y, teacher, student=None, *, n_thresholds=40, validation_fraction=0.15,
                 random_state=None):
    """``CREMBOClassifier(teacher, student, thresholds=n_thresholds, ...)`` for a neural student.

    Scans every one of at most ``n_thresholds`` candidates (:func:`threshold_grid`) above MEMO's
    instead of every distinct softmax value. ``student``: a :class:`TorchOracle` (default
    ``TorchOracle()``). Returns a :class:`CremboResult`.
    """
    from crembo.estimator import CREMBOClassifier

    clf = CREMBOClassifier(
        teacher=teacher, student=TorchOracle() if student is None else student, thresholds=n_thresholds,
        validation_fraction=validation_fraction, random_state=random_state,
    )
    return CremboResult(clf.fit(X, y))
