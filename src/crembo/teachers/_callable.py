"""A teacher that is a function of X returning logits or probabilities."""

import numpy as np

from crembo.beliefs import belief_from_logits, belief_from_proba
from crembo.teachers._base import Teacher, _scatter_columns


def _guess_kind(out):
    """``kind="auto"``: "proba" when every row is non-negative and sums to 1; "logits" when some
    value cannot be a probability (negative, above 1, not finite). Values all in [0, 1] whose
    rows do not all sum to 1 are refused: read as logits they would be silently wrong
    probabilities (softmax([0.9, 0.1]) is [0.69, 0.31])."""
    finite = bool(np.isfinite(out).all())
    if finite and (out >= 0).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-5):
        return "proba"
    if finite and (out >= 0).all() and (out <= 1).all():
        row = int(np.flatnonzero(~np.isclose(out.sum(axis=1), 1.0, atol=1e-5))[0])
        raise ValueError(
            f"the teacher callable's outputs are all in [0, 1] like probabilities, but row {row} sums to "
            f"{float(out[row].sum())!r}: say which they are with CallableTeacher(fn, kind='proba') (rows are "
            "then checked and renormalised) or kind='logits'"
        )
    return "logits"


class CallableTeacher(Teacher):
    """Belief from ``fn(X)``: softmax of logits (kind="logits"), probabilities (kind="proba"),
    or "auto": probabilities when every row is non-negative and sums to 1, logits when some
    value cannot be a probability, an error when it cannot tell (values in [0, 1], rows not
    all summing to 1).

    ``classes``: the label of each column; None means the columns are the target classes in
    sorted order (``np.unique(y)``).
    """

    def __init__(self, fn, kind="proba", classes=None, backend=None):
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if kind not in ("logits", "proba", "auto"):
            raise ValueError(f"kind must be 'logits', 'proba' or 'auto', got {kind!r}")
        self.fn = fn
        self.kind = kind
        self.backend = backend
        self.classes_ = None if classes is None else np.asarray(classes)

    def belief(self, X, classes):
        out = np.asarray(self.fn(X))
        if out.ndim != 2 or out.shape[0] != len(X):
            raise ValueError(f"the teacher callable must return an (n_samples, n_classes) array, got shape {out.shape}")
        kind = _guess_kind(out) if self.kind == "auto" else self.kind
        if kind == "logits":
            p = belief_from_logits(out, backend=self.backend)
        else:
            p = belief_from_proba(out, backend=self.backend)
        return _scatter_columns(p, self._columns(classes, p.shape[1]), len(classes))
