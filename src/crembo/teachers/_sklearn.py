"""Teachers of scikit-learn-style models: hard votes of an ensemble, or ``predict_proba``."""

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import is_classifier
from sklearn.tree import DecisionTreeClassifier

from crembo._threads import joblib_n_jobs
from crembo.beliefs import belief_from_proba, belief_from_votes
from crembo.teachers import forest as native
from crembo.teachers._base import (
    Teacher,
    _check_chunk_size,
    _check_dtype,
    _chunked_belief,
    _scatter_columns,
    class_index_map,
)


# Ensembles whose members were fitted on class *indices* (0..k-1, as floats for forests)
# rather than on the original labels; every other ensemble's members predict labels.
def _members_predict_indices(model):
    from sklearn.ensemble import BaggingClassifier, VotingClassifier
    from sklearn.ensemble._forest import BaseForest

    return isinstance(model, (BaseForest, BaggingClassifier, VotingClassifier))


def _members_fit_on_arrays(model):
    from sklearn.ensemble import BaggingClassifier
    from sklearn.ensemble._forest import BaseForest

    return isinstance(model, (BaseForest, BaggingClassifier))


def _is_dataframe(X):
    return hasattr(X, "columns") and hasattr(X, "shape") and not isinstance(X, np.ndarray)


def _predict_member(member, X, features):
    return member.predict(X if features is None else X[:, features])


class VoteTeacher(Teacher):
    """Hard-vote belief of a fitted ensemble: p[i, c] = fraction of members predicting c.

    sklearn RandomForest/ExtraTrees and Bagging of decision trees are counted by the native
    traversal ``crembo.teachers.forest.forest_belief`` (no (T, n) predictions; bit-identical to the
    stacked path). Other ensembles (voting, AdaBoost, bagging of other learners): the members'
    predictions on ``chunk_size`` rows at a time are stacked into (T, chunk) class indices and
    counted by the native ``belief_from_votes`` kernel. ``member_labels``: "auto" (sklearn
    forests, bagging and voting members predict indices into ``classes_``; others predict
    labels), "indices" or "labels".
    """

    _accepts_dtype = True

    def __init__(self, model, member_labels="auto", n_jobs=None, backend=None, chunk_size=None):
        if member_labels not in ("auto", "indices", "labels"):
            raise ValueError(f"member_labels must be 'auto', 'indices' or 'labels', got {member_labels!r}")
        self.model = model
        self.member_labels = member_labels
        self.n_jobs = n_jobs
        self.backend = backend
        self.chunk_size = _check_chunk_size(chunk_size)
        self.classes_ = np.asarray(model.classes_)

    def votes(self, X, classes):
        """(T, n) int64 votes as indices into ``classes``."""
        if _members_fit_on_arrays(self.model) and _is_dataframe(X):
            X = np.asarray(X)  # forest/bagging members were fitted on the validated array
        members = list(self.model.estimators_)
        features = getattr(self.model, "estimators_features_", None) or [None] * len(members)
        # Tree predict releases the GIL, so threads parallelise without copying X.
        preds = Parallel(n_jobs=joblib_n_jobs(self.n_jobs), prefer="threads")(
            delayed(_predict_member)(m, X, f) for m, f in zip(members, features, strict=True)
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

    def native_forest(self):
        """The model's ``crembo.teachers.forest.FlatForest`` when the native traversal applies, else None."""
        if native._native_counts is None or self.member_labels == "labels" or not _members_predict_indices(self.model):
            return None
        from sklearn.ensemble import VotingClassifier

        members = self.model.estimators_
        if isinstance(self.model, VotingClassifier) or not all(isinstance(m, DecisionTreeClassifier) for m in members):
            return None
        try:
            return native.flatten_forest(self.model)
        except ValueError:  # multi-output or members it cannot map: the generic path decides
            return None

    def belief(self, X, classes, dtype=np.float64):
        dtype = _check_dtype(dtype)
        cols = class_index_map(self.classes_, classes)
        flat = self.native_forest()
        if flat is not None:
            # the flattened trees, not the model: flatten once (forest_belief converts X to
            # float32 chunk by chunk itself)
            p = native.forest_belief(flat, X, n_jobs=self.n_jobs, dtype=dtype)
            return _scatter_columns(p, cols, len(classes))
        k = len(classes)
        return _chunked_belief(
            lambda Xc: belief_from_votes(self.votes(Xc, classes), k, backend=self.backend, n_jobs=self.n_jobs),
            X,
            k,
            self.chunk_size,
            dtype,
        )


class ProbaTeacher(Teacher):
    """Belief = the model's ``predict_proba`` (on ``chunk_size`` rows at a time), columns mapped
    by ``model.classes_``."""

    _accepts_dtype = True

    def __init__(self, model, backend=None, chunk_size=None):
        self.model = model
        self.backend = backend
        self.chunk_size = _check_chunk_size(chunk_size)
        self.classes_ = getattr(model, "classes_", None)
        if self.classes_ is not None:
            self.classes_ = np.asarray(self.classes_)

    def _chunk(self, X, classes):
        proba = belief_from_proba(self.model.predict_proba(X), backend=self.backend)
        return _scatter_columns(proba, self._columns(classes, proba.shape[1]), len(classes))

    def belief(self, X, classes, dtype=np.float64):
        dtype = _check_dtype(dtype)
        return _chunked_belief(lambda Xc: self._chunk(Xc, classes), X, len(classes), self.chunk_size, dtype)


def default_teacher(random_state=None, n_jobs=None):
    """The paper's teacher: 100 trees of depth 12 with balanced class weights."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=100,
        max_depth=12,
        class_weight="balanced",
        random_state=random_state,
        n_jobs=joblib_n_jobs(n_jobs),
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


def _auto_votes(model):
    """Whether ``belief="auto"`` reads hard votes: the paper's forests (RandomForest, ExtraTrees),
    bagging and hard voting, whose own ``predict`` is (close to) the vote majority. AdaBoost and
    soft voting weigh or average their members, so unweighted votes would disagree with their
    ``predict``: they (and any other ensemble with ``predict_proba``) use ``predict_proba``."""
    from sklearn.ensemble import BaggingClassifier, VotingClassifier
    from sklearn.ensemble._forest import BaseForest

    if isinstance(model, VotingClassifier):
        return model.voting == "hard"
    if isinstance(model, (BaseForest, BaggingClassifier)):
        return True
    return not hasattr(model, "predict_proba")  # an ensemble with nothing else to read


def _is_classifier_object(m):
    try:
        return hasattr(m, "predict") and is_classifier(m)
    except (AttributeError, TypeError):  # not an estimator (e.g. a row of an array)
        return False
