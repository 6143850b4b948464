"""The consistency oracle A(X, Y): a learner trained on an allowed-label matrix.

MEMO and CREMBO only talk to students through this protocol, so any learner plugs in:

- ``prepare(X)`` runs once per MEMO/CREMBO run and returns whatever can be reused across
  thresholds (the native tree bins X here; the sklearn adapter just keeps X).
- ``fit(prepared, allowed, random_state)`` trains on the (n, k) bool matrix ``allowed``
  (allowed[i, c] is True iff label c is allowed for sample i) and returns a fitted model whose
  ``predict(X)`` returns class *indices* in [0, k).

``as_oracle(student)`` wraps a user's student (None, an sklearn classifier, an object with
``fit_allowed``, or an Oracle).
"""

import copy

import numpy as np
from sklearn.base import clone
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import get_tags

__all__ = [
    "Oracle",
    "MultiOutputOracle",
    "MultiOutputStudent",
    "FitAllowedOracle",
    "as_oracle",
    "default_student",
    "paper_student",
    "fresh_estimator",
]


def paper_student():
    """The paper's student as its reference code builds it: scikit-learn's depth-4 tree with
    balanced class weights (fitted multi-output on the allowed-label matrix)."""
    return DecisionTreeClassifier(max_depth=4, class_weight="balanced")


def default_student():
    """crembo's default student: the paper's depth-4 tree and criterion (multi-output Gini,
    balanced weights), grown by the native allowed-label tree, which bins X once per run and is
    faster than scikit-learn's tree on every data set we measured (benchmarks/oracle.py)."""
    from crembo.tree import AllowedLabelTreeClassifier

    return AllowedLabelTreeClassifier(max_depth=4, criterion="gini", class_weight="balanced")


def fresh_estimator(estimator, random_state=None):
    """An unfitted copy of ``estimator`` whose unset ``*random_state`` parameters are ``random_state``.

    Parameters the user set explicitly are kept, so a student's own seed wins.
    """
    if hasattr(estimator, "get_params"):
        est = clone(estimator)
        if random_state is not None:
            params = est.get_params(deep=True)
            to_set = {k: random_state for k, v in params.items() if k.endswith("random_state") and v is None}
            if to_set:
                est.set_params(**to_set)
        return est
    return copy.deepcopy(estimator)


class Oracle:
    """Base class of consistency oracles. Subclasses implement ``prepare`` and ``fit``."""

    def prepare(self, X):
        return X

    def fit(self, prepared, allowed, random_state=None):
        raise NotImplementedError

    def predict_training(self, model, prepared, X):
        """``model``'s class indices on the training rows X (``prepared`` = ``prepare(X)``)."""
        return model.predict(X)


def _multi_output_capable(estimator):
    try:
        tags = get_tags(estimator)
    except Exception:  # a non-sklearn object: try the joint fit
        return True
    return bool(tags.target_tags.multi_output or (tags.classifier_tags and tags.classifier_tags.multi_label))


def _prob_of_one(proba, classes):
    """P(output == 1) from one output's predict_proba block and its classes_."""
    hit = np.flatnonzero(np.asarray(classes) == 1)
    if hit.size == 0:  # the output was constant 0 in training
        return np.zeros(proba.shape[0])
    return np.asarray(proba)[:, hit[0]]


class MultiOutputStudent:
    """A fitted student of ``MultiOutputOracle``: predicts the label most likely to be allowed.

    ``estimator_`` is the fitted sklearn model on the (n, k) 0/1 matrix (or a list of k models,
    or None when k == 1); ``predict`` returns class indices, ties going to the lowest index.
    """

    def __init__(self, estimator_, n_classes, constants=None):
        self.estimator_ = estimator_
        self.n_classes = n_classes
        self.constants = constants  # per-output constant for per-column fits (None: fitted)

    def allowed_scores(self, X):
        """(n, k) score of each label being allowed: P(output c == 1), or its 0/1 prediction."""
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        k = self.n_classes
        if self.estimator_ is None:
            return np.ones((n, 1))
        if isinstance(self.estimator_, list):
            cols = []
            for c, est in enumerate(self.estimator_):
                if est is None:
                    cols.append(np.full(n, float(self.constants[c])))
                elif hasattr(est, "predict_proba"):
                    cols.append(_prob_of_one(est.predict_proba(X), est.classes_))
                else:
                    cols.append(np.asarray(est.predict(X), dtype=np.float64))
            return np.column_stack(cols)
        est = self.estimator_
        if hasattr(est, "predict_proba"):
            proba = est.predict_proba(X)
            if isinstance(proba, list):  # multi-output: one (n, n_classes_j) block per output
                return np.column_stack([_prob_of_one(p, cl) for p, cl in zip(proba, est.classes_, strict=True)])
            proba = np.asarray(proba)
            if proba.shape == (n, k):  # multilabel learners (MLP) give P(label == 1) directly
                return proba.astype(np.float64)
        return np.asarray(est.predict(X), dtype=np.float64).reshape(n, k)

    def predict(self, X):
        return np.argmax(self.allowed_scores(X), axis=1)

    def predict_proba(self, X):
        """Allowed-label scores normalised to sum to 1 per row (argmax equals ``predict``)."""
        s = self.allowed_scores(X)
        total = s.sum(axis=1, keepdims=True)
        out = np.full_like(s, 1.0 / s.shape[1])
        np.divide(s, total, out=out, where=total > 0)
        return out

    def node_classes(self):
        """For a single tree student: the class index it predicts at each node of ``tree_``."""
        est = self.estimator_
        tree = est.tree_
        classes = est.classes_ if isinstance(est.classes_, list) else [est.classes_]
        scores = np.zeros((tree.node_count, len(classes)))
        for j, cl in enumerate(classes):
            v = tree.value[:, j, : len(cl)]
            total = v.sum(axis=1, keepdims=True)
            scores[:, j] = _prob_of_one(v / np.where(total > 0, total, 1.0), cl)
        return np.argmax(scores, axis=1)

    def export_text(self, feature_names=None, class_names=None, decimals=2):
        """The tree as text, like ``sklearn.tree.export_text``, with the *student's* label at leaves.

        (sklearn's own export_text does not know that a multi-output tree's prediction is the
        output most likely to be 1.)
        """
        est = self.estimator_
        if est is None or isinstance(est, list) or not hasattr(est, "tree_"):
            raise TypeError("export_text needs a single fitted sklearn tree student")
        from crembo.tree.export import tree_text

        tree, node_class = est.tree_, self.node_classes()
        names = feature_names if feature_names is not None else [f"feature_{f}" for f in range(est.n_features_in_)]

        def leaf_label(node):
            c = int(node_class[node])
            return class_names[c] if class_names is not None else c

        return tree_text(
            tree.children_left, tree.children_right, tree.feature, tree.threshold, leaf_label, names, decimals
        )


class MultiOutputOracle(Oracle):
    """Any sklearn classifier as an oracle: fit a clone on the (n, k) 0/1 allowed matrix.

    Learners that handle multi-output/multilabel targets (trees, forests, k-NN, MLP, pipelines
    ending in one) are fitted once; others get one clone per label column, a constant column
    being a constant. The fitted ``MultiOutputStudent`` predicts the label with the highest
    probability of being allowed.
    """

    def __init__(self, estimator=None):
        self.estimator = paper_student() if estimator is None else estimator

    def fit(self, prepared, allowed, random_state=None, sample_weight=None):
        allowed = np.asarray(allowed)
        if allowed.ndim != 2:
            raise ValueError(f"allowed must be 2-D (n_samples, n_classes), got shape {allowed.shape}")
        k = allowed.shape[1]
        if k == 1:  # one class: nothing to learn, every prediction is class 0
            return MultiOutputStudent(None, 1)
        Y = allowed.astype(np.int8)
        kw = {} if sample_weight is None else {"sample_weight": sample_weight}
        if _multi_output_capable(self.estimator):
            return MultiOutputStudent(fresh_estimator(self.estimator, random_state).fit(prepared, Y, **kw), k)
        models, constants = [], []
        for c in range(k):
            col = Y[:, c]
            if col.min() == col.max():
                models.append(None)
                constants.append(int(col[0]))
            else:
                models.append(fresh_estimator(self.estimator, random_state).fit(prepared, col, **kw))
                constants.append(None)
        return MultiOutputStudent(models, k, constants)


class FitAllowedOracle(Oracle):
    """Adapter for learners that train on allowed labels natively.

    The learner has ``fit_allowed(X, allowed)`` returning a fitted model whose ``predict`` gives
    class indices, and optionally ``prepare_allowed(X)`` / ``fit_prepared(prepared, allowed)`` so
    work on X (binning) is done once per run. Each fit uses a fresh clone.
    """

    def __init__(self, learner):
        self.learner = learner

    def _two_step(self):
        return hasattr(self.learner, "prepare_allowed") and hasattr(self.learner, "fit_prepared")

    def prepare(self, X):
        return self.learner.prepare_allowed(X) if self._two_step() else X

    def fit(self, prepared, allowed, random_state=None):
        est = fresh_estimator(self.learner, random_state)
        fitted = est.fit_prepared(prepared, allowed) if self._two_step() else est.fit_allowed(prepared, allowed)
        return est if fitted is None else fitted

    def predict_training(self, model, prepared, X):
        # a learner that can predict its own prepared rows (the native tree: from the binned
        # codes, several times faster than from the floats) does so
        if self._two_step() and hasattr(model, "predict_prepared"):
            return model.predict_prepared(prepared)
        return model.predict(X)


def as_oracle(student):
    """Wrap a student: None -> ``default_student()`` (the native tree); an Oracle -> itself; an
    object with ``fit_allowed`` -> ``FitAllowedOracle``; an sklearn classifier -> ``MultiOutputOracle``."""
    if student is None:
        return FitAllowedOracle(default_student())
    if isinstance(student, Oracle):
        return student
    if hasattr(student, "fit_allowed"):
        return FitAllowedOracle(student)
    if hasattr(student, "fit") and hasattr(student, "predict"):
        return MultiOutputOracle(student)
    raise TypeError(
        f"cannot use a {type(student).__name__} as a student: pass an sklearn classifier, an object "
        "with fit_allowed(X, allowed), or a crembo.oracles.Oracle"
    )
