"""The training loop behind ``crembo.torch``: an MLP, a device, mini-batch Adam, early stopping.

Private: ``crembo.torch`` is the public face. Importing this module needs torch.
"""

import copy

import numpy as np
import torch
from sklearn.utils import check_random_state
from torch import nn

from crembo import _validation as v

__all__ = ["MLP", "Standardizer", "TorchStudent", "TrainConfig", "resolve_device", "seed_of", "train_mlp"]


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


def resolve_device(device):
    """None or "cpu": the CPU (the default: small nets are fastest there and bit-reproducible);
    "auto": CUDA when torch sees a GPU, else the CPU; "cuda", "cuda:1" or a ``torch.device``: that
    device, with a clear error when torch has no CUDA."""
    if device is None:
        return torch.device("cpu")
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be None, 'auto', 'cpu', 'cuda[:i]' or a torch.device, got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for CUDA, but this torch build sees no GPU (use 'auto' or 'cpu')")
    return dev


def seed_of(random_state):
    """The torch seed: an int is used as it is (so a method that seeds each of its students with
    one int trains the same student as a direct call with that int); None or a RandomState draws one."""
    if v.is_int(random_state):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def check_hidden(hidden):
    if v.is_int(hidden):
        hidden = (hidden,)
    try:
        hidden = tuple(hidden)
    except TypeError:
        raise ValueError(f"hidden must be positive ints, got {hidden!r}") from None
    if not all(v.is_int(h) and h > 0 for h in hidden):
        raise ValueError(f"hidden must be positive ints, got {hidden!r}")
    return tuple(int(h) for h in hidden)


class TrainConfig:
    """Validated training settings shared by every student of a comparison (one training budget).

    ``epochs`` is the most epochs; with validation data training stops once the validation
    accuracy has not improved for ``patience`` epochs and the best epoch's weights are kept.
    ``batch_size=None`` is full-batch.
    """

    def __init__(
        self,
        hidden=(32,),
        epochs=200,
        lr=1e-2,
        batch_size=128,
        weight_decay=0.0,
        patience=20,
        device=None,
        n_threads=None,
        progress=False,
    ):
        self.hidden = check_hidden(hidden)
        self.epochs = v.check_int(epochs, "epochs", low=1)
        self.batch_size = v.check_int(batch_size, "batch_size", low=1, allow_none=True)
        self.patience = v.check_int(patience, "patience", low=1, allow_none=True)
        self.n_threads = v.check_int(n_threads, "n_threads", low=1, allow_none=True)
        self.lr = v.check_real(lr, "lr", low=0, low_open=True)
        self.weight_decay = v.check_real(weight_decay, "weight_decay", low=0)
        self.device = resolve_device(device)
        self.progress = bool(progress)


class Standardizer:
    """Column standardisation fitted once, so every student of a run sees the same inputs."""

    def __init__(self, X, standardize=True):
        X = check_features(X)
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
        X = check_features(X)
        if X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n, {self.n_features}), got {X.shape}")
        return torch.from_numpy((X - self.mean) / self.scale)


def check_features(X):
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError("X has no rows")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity")
    return X


class TorchStudent:
    """A trained MLP student; ``predict`` returns class indices (argmax of its logits).

    ``history_`` (when trained with validation data): epochs run, the best epoch and its
    validation accuracy.
    """

    def __init__(self, model, transform, history=None):
        self.model = model
        self._transform = transform
        self.history_ = history or {}

    def logits(self, X):
        self.model.eval()
        device = next(self.model.parameters()).device
        with torch.no_grad():
            return self.model(self._transform(X).to(device)).cpu().numpy()

    def predict(self, X):
        return self.logits(X).argmax(axis=1).astype(np.int64)

    def predict_proba(self, X):
        z = self.logits(X).astype(np.float64)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


def _accuracy(model, X, y, batch=8192):
    model.eval()
    with torch.no_grad():
        hits = sum(int((model(X[s : s + batch]).argmax(1) == y[s : s + batch]).sum()) for s in range(0, len(y), batch))
    return hits / len(y)


def train_mlp(X, n_outputs, loss_fn, targets, cfg, seed, validation=None, desc="train"):
    """Adam on ``loss_fn(model(x_batch), *[t[batch] for t in targets])``; returns (model, history).

    ``X``: float32 tensor (standardised); ``targets``: tensors with one row per sample.
    ``validation``: (X_val tensor, y_val int64 tensor) for early stopping on validation accuracy
    (the first best epoch is kept: ties go to the shorter training). On the CPU the result is a
    function of (data, cfg, seed) and torch's thread count; the caller's RNG state is untouched.
    """
    dev = cfg.device
    prev_threads = torch.get_num_threads()
    if cfg.n_threads is not None:
        torch.set_num_threads(cfg.n_threads)
    try:
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(seed)
            model = MLP(X.shape[1], n_outputs, cfg.hidden)
        model.to(dev)
        X = X.to(dev)
        targets = tuple(t.to(dev) for t in targets)
        if validation is not None:
            Xv, yv = validation[0].to(dev), validation[1].to(dev)
        gen = torch.Generator().manual_seed(seed)  # batch order, always drawn on the CPU
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        n = X.shape[0]
        bs = n if cfg.batch_size is None else min(cfg.batch_size, n)
        best, best_epoch, best_state, epoch = -1.0, 0, None, 0
        epochs = range(1, cfg.epochs + 1)
        if cfg.progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc=desc, leave=False)
        for epoch in epochs:
            model.train()
            order = torch.randperm(n, generator=gen).to(dev) if bs < n else None
            for start in range(0, n, bs):
                idx = slice(None) if order is None else order[start : start + bs]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(X[idx]), *(t[idx] for t in targets))
                loss.backward()
                opt.step()
            if validation is None:
                continue
            acc = _accuracy(model, Xv, yv)
            if acc > best:
                best, best_epoch = acc, epoch
                best_state = copy.deepcopy(model.state_dict())
            if cfg.progress:
                epochs.set_postfix(val_acc=f"{acc:.3f}", best=f"{best:.3f}")
            if cfg.patience is not None and epoch - best_epoch >= cfg.patience:
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        history = {"epochs": epoch}
        if validation is not None:
            history.update(best_epoch=best_epoch, validation_accuracy=best)
        return model, history
    finally:
        torch.set_num_threads(prev_threads)
