"""A teacher that is a PyTorch module (torch is an optional extra, imported only when used)."""

import sys

import numpy as np

from crembo import _validation as v
from crembo.beliefs import belief_from_logits, belief_from_proba
from crembo.teachers._base import Teacher, _scatter_columns


def _is_torch_module(obj):
    torch = sys.modules.get("torch")  # an nn.Module can only exist if torch was imported
    return torch is not None and isinstance(obj, torch.nn.Module)


class TorchTeacher(Teacher):
    """Belief of a PyTorch module: softmax of its logits (kind="logits") or its probabilities.

    The module runs in eval mode under ``torch.no_grad`` in batches, on its parameters' device
    and dtype (float32 when it has none); its training mode is restored afterwards. An output of
    shape (n,) or (n, 1) is one binary logit (or P(class 1)), the two classes' columns being
    [1 - p, p]. ``classes``: the label of each output column (None: the sorted target classes).
    """

    def __init__(self, module, kind="logits", classes=None, batch_size=8192, backend=None):
        if not _is_torch_module(module):
            raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
        if kind not in ("logits", "proba"):
            raise ValueError(f"kind must be 'logits' or 'proba', got {kind!r}")
        self.module = module
        self.kind = kind
        self.batch_size = v.check_int(batch_size, "batch_size", low=1)
        self.backend = backend
        self.classes_ = None if classes is None else np.asarray(classes)

    def outputs(self, X):
        """The module's raw outputs on X as an (n, m) float64 array."""
        import torch

        param = next(iter(self.module.parameters()), None)
        dtype = param.dtype if param is not None and param.dtype.is_floating_point else torch.float32
        device = param.device if param is not None else torch.device("cpu")
        X = np.asarray(X, dtype=np.float64)
        was_training = self.module.training
        self.module.eval()  # dropout/batch-norm in inference mode: a teacher's belief is deterministic
        try:
            with torch.no_grad():
                chunks = [
                    self.module(torch.as_tensor(X[s : s + self.batch_size], dtype=dtype, device=device))
                    .detach()
                    .to("cpu", torch.float64)
                    .numpy()
                    for s in range(0, len(X), self.batch_size)
                ]
        finally:
            self.module.train(was_training)
        out = np.concatenate(chunks) if chunks else np.empty((0, 1))
        if out.ndim == 1:
            out = out[:, None]
        if out.ndim != 2 or out.shape[0] != len(X):
            raise ValueError(f"the torch teacher must return (n_samples, n_classes) outputs, got shape {out.shape}")
        return out

    def belief(self, X, classes):
        out = self.outputs(X)
        if out.shape[1] == 1:  # one binary output
            out = np.hstack([np.zeros_like(out), out]) if self.kind == "logits" else np.hstack([1.0 - out, out])
        if self.kind == "logits":
            p = belief_from_logits(out, backend=self.backend)
        else:
            p = belief_from_proba(out, backend=self.backend)
        return _scatter_columns(p, self._columns(classes, p.shape[1]), len(classes))
