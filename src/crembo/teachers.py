"""Teachers: anything that gives a belief P (n, k) over the estimator's classes.

``make_teacher`` accepts
- an sklearn ensemble with ``estimators_`` of classifiers (random forest, extra trees, bagging,
  voting, AdaBoost): belief = fraction of members voting for each class (the paper's hard votes),
- any classifier with ``predict_proba`` (gradient boosting, an MLP, a pipeline, stacking, ...),
- a callable returning logits or probabilities (wrap it in ``CallableTeacher`` to say which),
- a precomputed belief matrix (``BeliefTeacher``; rows aligned with the training X).

Class labels of any type are mapped by value: a teacher's ``classes_`` (its column or vote
labels) are looked up in the target classes (the estimator's ``classes_ = np.unique(y)``), so
strings and gapped integer labels stay consistent. A teacher class absent from the targets is
an error (its belief mass would have nowhere to go).
"""

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from crembo.beliefs import belief_from_logits, belief_from_proba, belief_from_votes, check_belief

__all__ = [
    "Teacher",
    "VoteTeacher",
    "ProbaTeacher",
    "CallableTeacher",
    "BeliefTeacher",
    "make_teacher",
    "default_teacher",
    "class_index_map",
]


def class_index_map(teacher_classes, classes):
    """Index of each teacher class in ``classes`` (int64 array); ValueError if one is missing."""
    lookup = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    out = np.empty(len(teacher_classes), dtype=np.int64)
    missing = []
    for j, c in enumerate(np.asarray(teacher_classes).tolist()):
        i = lookup.get(c)
        if i is None:
            missing.append(c)
        else:
            out[j] = i
    if missing:
        raise ValueError(
            f"the teacher knows class(es) {missing} that are not in the training labels "
            f"{np.asarray(classes).tolist()}; fit the teacher on the same labels as the student"
        )
    return out


def _set_seed(estimator, random_state):
    """Give every unset ``*random_state`` parameter of a clone a fixed seed (for determinism)."""
    if random_state is None:
        return estimator
    params = estimator.get_params(deep=True)
    to_set = {k: random_state for k, v in params.items() if k.endswith("random_state") and v is None}
    if to_set:
        estimator.set_params(**to_set)
    return estimator


class Teacher:
    """A source of beliefs. ``classes_`` are the labels of its columns (None: the target classes)."""

    classes_ = None

    def belief(self, X, classes):
        """(n, len(classes)) float64 belief of the teacher on X, columns aligned with ``classes``."""
        raise NotImplementedError

    def predict(self, X, classes):
        """The teacher's hard labels as indices into ``classes`` (argmax of its belief; ties -> lowest)."""
        return np.argmax(self.belief(X, classes), axis=1)

    def _columns(self, classes, width):
        """Map this teacher's columns to indices into ``classes``."""
        if self.classes_ is None:
            if width != len(classes):
                raise ValueError(
                    f"the teacher gives {width} columns but there are {len(classes)} classes; "
                    "pass classes= to say which label each column is"
                )
            return np.arange(width)
        if width != len(self.classes_):
            raise ValueError(f"the teacher gives {width} columns but declares {len(self.classes_)} classes")
        return class_index_map(self.classes_, classes)


def _scatter_columns(values, cols, n_classes):
    """Place columns of ``values`` at positions ``cols`` of an (n, n_classes) zero matrix."""
    if values.shape[1] == n_classes and np.array_equal(cols, np.arange(n_classes)):
        return values
    out = np.zeros((values.shape[0], n_classes), dtype=np.float64)
    out[:, cols] = values
    return out


# Ensembles whose members were fitted on class *indices* (0..k-1, as floats for forests)
# rather than on the original labels; every other ensemble's members predict labels.
def _members_predict_indices(model):
    from sklearn.ensemble import BaggingClassifier, VotingClassifier
    from sklearn.ensemble._forest import BaseForest

    return isinstance(model, (BaseForest, BaggingClassifier, VotingClassifier))


def _predict_member(member, X, features):
    return member.predict(X if features is None else X[:, features])


class VoteTeacher(Teacher):
    """Hard-vote belief of a fitted ensemble: p[i, c] = fraction of members predicting c.

    Members' predictions are computed once, stacked into (T, n) class indices and counted by the
    native ``belief_from_votes`` kernel. ``member_labels``: "auto" (sklearn forests, bagging and
    voting members predict indices into ``classes_``; others predict labels), "indices" or "labels".
    """

    def __init__(self, model, member_labels="auto", n_jobs=None, backend=None):
        if member_labels not in ("auto", "indices", "labels"):
            raise ValueError(f"member_labels must be 'auto', 'indices' or 'labels', got {member_labels!r}")
        self.model = model
        self.member_labels = member_labels
        self.n_jobs = n_jobs
        self.backend = backend
        self.classes_ = np.asarray(model.classes_)

    def votes(self, X, classes):
        """(T, n) int64 votes as indices into ``classes``."""
        members = list(self.model.estimators_)
        features = getattr(self.model, "estimators_features_", None) or [None] * len(members)
        # Tree predict releases the GIL, so threads parallelise without copying X.
        preds = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(_predict_member)(m, X, f) for m, f in zip(members, features)
        )
        cols = class_index_map(self.classes_, classes)
        indices = self.member_labels == "indices" or (
            self.member_labels == "auto" and _members_predict_indices(self.model)
        )
        votes = np.empty((len(preds), len(preds[0])), dtype=np.int64)
        for t, pred in enumerate(preds):
            pred = np.asarray(pred)
            if indices:
                idx = pred.astype(np.int64)
                if idx.size and (idx.min() < 0 or idx.max() >= len(cols) or not np.array_equal(idx, pred)):
                    raise ValueError(f"member {t} of the ensemble predicts values that are not class indices")
            else:
                uniq, inv = np.unique(pred, return_inverse=True)
                idx = class_index_map(uniq, self.classes_)[inv]
            votes[t] = cols[idx]
        return votes

    def belief(self, X, classes):
        return belief_from_votes(self.votes(X, classes), len(classes), backend=self.backend, n_jobs=self.n_jobs)


class ProbaTeacher(Teacher):
    """Belief = the model's ``predict_proba``, columns mapped by ``model.classes_``."""

    def __init__(self, model, backend=None):
        self.model = model
        self.backend = backend
        self.classes_ = getattr(model, "classes_", None)
        if self.classes_ is not None:
            self.classes_ = np.asarray(self.classes_)

    def belief(self, X, classes):
        proba = belief_from_proba(self.model.predict_proba(X), backend=self.backend)
        return _scatter_columns(proba, self._columns(classes, proba.shape[1]), len(classes))


class CallableTeacher(Teacher):
    """Belief from ``fn(X)``: softmax of logits (kind="logits"), probabilities (kind="proba"),
    or "auto": probabilities when every row is non-negative and sums to 1, else logits.

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
        kind = self.kind
        if kind == "auto":
            ok = np.isfinite(out).all() and (out >= 0).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-5)
            kind = "proba" if ok else "logits"
        if kind == "logits":
            p = belief_from_logits(out, backend=self.backend)
        else:
            p = belief_from_proba(out, backend=self.backend)
        return _scatter_columns(p, self._columns(classes, p.shape[1]), len(classes))


class BeliefTeacher(Teacher):
    """A precomputed belief matrix; row i is the belief on training sample i.

    ``belief(X, classes)`` only answers for the X it was computed on (same number of rows);
    ``subset(rows)`` selects the rows of a split.
    """

    def __init__(self, belief, classes=None, backend=None):
        self.matrix = check_belief(belief, backend=backend)
        self.backend = backend
        self.classes_ = None if classes is None else np.asarray(classes)
        if self.classes_ is not None and len(self.classes_) != self.matrix.shape[1]:
            raise ValueError(f"belief has {self.matrix.shape[1]} columns but {len(self.classes_)} classes were given")

    def subset(self, rows):
        return BeliefTeacher(self.matrix[rows], self.classes_, self.backend)

    def belief(self, X, classes):
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        if n != self.matrix.shape[0]:
            raise ValueError(
                f"a precomputed belief has {self.matrix.shape[0]} rows and cannot describe {n} new samples"
            )
        p = np.asarray(self.matrix, dtype=np.float64)
        return _scatter_columns(p, self._columns(classes, p.shape[1]), len(classes))


def default_teacher(random_state=None, n_jobs=None):
    """The paper's teacher: 100 trees of depth 12 with balanced class weights."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=100, max_depth=12, class_weight="balanced", random_state=random_state, n_jobs=n_jobs
    )


def _is_vote_ensemble(model):
    from sklearn.ensemble import StackingClassifier

    members = getattr(model, "estimators_", None)
    if members is None or isinstance(model, StackingClassifier):
        return False  # stacking's meaning is its final estimator: use predict_proba
    try:
        members = list(members)
    except TypeError:
        return False
    # Gradient boosting keeps an array of *regressors* in estimators_: not voters.
    return len(members) > 0 and hasattr(model, "classes_") and all(_is_classifier_object(m) for m in members)


def _is_classifier_object(m):
    try:
        return hasattr(m, "predict") and is_classifier(m)
    except (AttributeError, TypeError):  # not an estimator (e.g. a row of an array)
        return False


def _is_fitted(model):
    try:
        check_is_fitted(model)
    except NotFittedError:
        return False
    except TypeError:  # not an sklearn estimator (no fit): it can only be used as given
        return True
    return True


def make_teacher(teacher, X=None, y=None, *, random_state=None, n_jobs=None, backend=None):
    """Wrap ``teacher`` into a ``Teacher`` (see the module docstring for what is accepted).

    An unfitted sklearn teacher is cloned, its unset ``random_state`` parameters set to
    ``random_state``, and fitted on (X, y). A ``Teacher`` instance is returned as is.
    """
    if isinstance(teacher, Teacher):
        return teacher
    if teacher is None:
        raise TypeError("teacher is None; pass a classifier, a callable, or a belief matrix")
    if isinstance(teacher, (np.ndarray, list, tuple)):
        return BeliefTeacher(np.asarray(teacher), backend=backend)
    has_proba = hasattr(teacher, "predict_proba")
    if hasattr(teacher, "estimators_") or has_proba or hasattr(teacher, "fit"):
        if not _is_fitted(teacher):
            if X is None or y is None:
                raise ValueError(f"teacher {type(teacher).__name__} is not fitted; pass X and y to fit it")
            teacher = _set_seed(clone(teacher), random_state).fit(X, y)
        if _is_vote_ensemble(teacher):
            return VoteTeacher(teacher, n_jobs=n_jobs, backend=backend)
        if hasattr(teacher, "predict_proba"):
            return ProbaTeacher(teacher, backend=backend)
        raise TypeError(
            f"teacher {type(teacher).__name__} has neither predict_proba nor estimators_ of classifiers; "
            "wrap a function of X in crembo.teachers.CallableTeacher, or pass a belief matrix"
        )
    if callable(teacher):
        return CallableTeacher(teacher, kind="auto")
    raise TypeError(
        f"cannot use a {type(teacher).__name__} as a teacher: pass an sklearn classifier with "
        "predict_proba or estimators_, a callable (crembo.teachers.CallableTeacher), or a belief matrix"
    )
