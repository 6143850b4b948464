"""The consistency oracle A(X, Y): a learner trained on an allowed-label matrix.

MEMO and CREMBO only talk to students through this protocol, so any learner plugs in:
- ``prepare(X)`` runs once per MEMO/CREMBO run and returns whatever can be reused across
  thresholds (the native tree bins X here; the sklearn adapter just keeps X).
- ``fit(prepared, allowed, random_state)`` trains on the (n, k) bool matrix ``allowed``
  (allowed[i, c] is True iff label c is allowed for sample i) and returns a fitted model whose
  ``predict(X)`` returns class *indices* in [0, k).
``as_oracle(student)`` wraps a user's student (None, an sklearn classifier, or an Oracle).
"""


class Oracle:
    """Base class of consistency oracles. Subclasses implement ``prepare`` and ``fit``."""

    def prepare(self, X):
        return X

    def fit(self, prepared, allowed, random_state=None):
        raise NotImplementedError
