"""Teachers: anything that gives a belief P (n, k) over the estimator's classes.

``make_teacher`` accepts
- an sklearn ensemble with ``estimators_`` of classifiers (random forest, extra trees, bagging,
  hard voting): belief = fraction of members voting for each class (the paper's hard votes;
  AdaBoost and soft voting can vote with ``belief="votes"``),
- any classifier with ``predict_proba`` (gradient boosting, an MLP, a pipeline, stacking, XGBoost,
  LightGBM, ...),
- a PyTorch ``nn.Module`` returning logits (``TorchTeacher``; torch is an optional extra),
- a callable returning logits or probabilities (wrap it in ``CallableTeacher`` to say which),
- a precomputed belief matrix (``BeliefTeacher``; rows aligned with the training X).

``belief=`` chooses how a model's belief is read: "auto" (hard votes for sklearn forests,
bagging and hard voting; ``predict_proba`` for everything else, AdaBoost and soft voting
included; softmax of logits for torch modules), "proba", "votes" or "logits". Hard votes are
defined only where every member of an ensemble is a classifier on its own:

- sklearn RandomForest, ExtraTrees, Bagging, Voting and AdaBoost: each member's ``predict``.
- LightGBM ``boosting_type="rf"``: each iteration's tree(s) start from the same initial score
  (the bias is folded into every tree) and the forest's probability is the link of the *mean*
  of the members' raw scores. Member t's vote is the class of its own raw score: class 1 iff
  score > 0 (binary), else the argmax over the per-class trees of iteration t.
- XGBoost random forests (``XGBRFClassifier``, or ``num_parallel_tree`` trees trained in one
  boosting round): XGBoost stores each parallel tree's leaf weight divided by
  ``num_parallel_tree``, so member t's own margin is ``base_margin + num_parallel_tree * w_t(x)``
  -- exactly the margin of a one-tree forest -- and the forest's margin is the mean of the
  members' margins. Member t votes class 1 iff its margin > 0 (binary), else the argmax over
  the classes of the t-th parallel tree of every class.

Boosted models (sklearn gradient boosting, XGBoost/LightGBM with more than one boosting round
of trees, dart) have no such members: each tree is a regression step on the residuals of the
trees before it and predicts no class on its own, so ``belief="votes"`` raises ValueError
there; use their probabilities.

Class labels of any type are mapped by value: a teacher's ``classes_`` (its column or vote
labels) are looked up in the target classes (the estimator's ``classes_ = np.unique(y)``), so
strings and gapped integer labels stay consistent. A teacher class absent from the targets is
an error (its belief mass would have nowhere to go). Regressors and multi-output teachers are
errors too. An unfitted XGBoost classifier is fitted on the codes of ``np.unique(y)`` (XGBoost
only accepts labels 0..k-1) and reports the original labels.
"""

import numbers
import sys

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

from crembo._threads import joblib_n_jobs
from crembo.beliefs import belief_from_logits, belief_from_proba, belief_from_votes, check_belief
from crembo.oracles import fresh_estimator

__all__ = [
    "Teacher",
    "VoteTeacher",
    "ProbaTeacher",
    "CallableTeacher",
    "BeliefTeacher",
    "TorchTeacher",
    "XGBoostVoteTeacher",
    "LightGBMVoteTeacher",
    "DeferredTeacher",
    "make_teacher",
    "default_teacher",
    "compute_belief",
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
    out = np.zeros((values.shape[0], n_classes), dtype=values.dtype)
    out[:, cols] = values
    return out


# Rows of X a teacher predicts at a time: bounds the transient memory of inference (a chunk of
# predict_proba output, or T x chunk int64 member votes: 52 MB for 100 members) whatever n is.
DEFAULT_CHUNK_SIZE = 65536
BELIEF_DTYPES = (np.float32, np.float64)


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _rows(X, start, stop):
    """Rows start:stop of an array, sparse matrix, DataFrame or list."""
    return X.iloc[start:stop] if hasattr(X, "iloc") else X[start:stop]


def _check_chunk_size(chunk_size):
    if chunk_size is None:
        return DEFAULT_CHUNK_SIZE
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an int >= 1 or None, got {chunk_size!r}")
    return int(chunk_size)


def _check_dtype(dtype):
    dt = np.dtype(dtype).type
    if dt not in BELIEF_DTYPES:
        raise ValueError(f"a belief's dtype must be float32 or float64, got {np.dtype(dtype)}")
    return dt


def _chunked_belief(fn, X, n_classes, chunk_size, dtype):
    """Fill an (n, n_classes) belief of ``dtype`` with ``fn(rows)`` -> (rows, n_classes) chunk by chunk."""
    n = _n_rows(X)
    if n <= chunk_size:
        return np.asarray(fn(X), dtype=dtype)
    out = np.empty((n, n_classes), dtype=dtype)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        out[start:stop] = fn(_rows(X, start, stop))
    return out


def compute_belief(teacher, X, classes, dtype=np.float64):
    """``teacher.belief(X, classes)`` as ``dtype`` (float32 or float64).

    crembo's chunked teachers write float32 directly (no float64 copy of the whole belief);
    other teachers' float64 result is converted.
    """
    dtype = _check_dtype(dtype)
    if dtype is np.float64:
        return teacher.belief(X, classes)
    if getattr(teacher, "_accepts_dtype", False):
        return teacher.belief(X, classes, dtype=dtype)
    return np.asarray(teacher.belief(X, classes), dtype=dtype)


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
    traversal ``crembo.forest.forest_belief`` (no (T, n) predictions; bit-identical to the
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

    def native_forest(self):
        """The model's ``crembo.forest.FlatForest`` when the native traversal applies, else None."""
        from crembo import forest as native

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
            from crembo.forest import forest_belief

            # the flattened trees, not the model: flatten once (forest_belief converts X to
            # float32 chunk by chunk itself)
            p = forest_belief(flat, X, n_jobs=self.n_jobs, dtype=dtype)
            return _scatter_columns(p, cols, len(classes))
        k = len(classes)
        return _chunked_belief(
            lambda Xc: belief_from_votes(self.votes(Xc, classes), k, backend=self.backend, n_jobs=self.n_jobs),
            X, k, self.chunk_size, dtype,
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

    _accepts_dtype = True

    def belief(self, X, classes, dtype=np.float64):
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        if n != self.matrix.shape[0]:
            raise ValueError(
                f"a precomputed belief has {self.matrix.shape[0]} rows and cannot describe {n} new samples"
            )
        p = np.asarray(self.matrix, dtype=_check_dtype(dtype))
        return _scatter_columns(p, self._columns(classes, p.shape[1]), len(classes))


def default_teacher(random_state=None, n_jobs=None):
    """The paper's teacher: 100 trees of depth 12 with balanced class weights."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=100, max_depth=12, class_weight="balanced", random_state=random_state,
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


def _is_fitted(model):
    if not hasattr(model, "fit"):
        return True  # nothing to fit: it can only be used as given
    if not hasattr(model, "__sklearn_tags__"):
        # A plain class with fit/predict_proba: check_is_fitted would fail reading sklearn tags.
        # sklearn's own rule without them: __sklearn_is_fitted__, else an attribute ending in "_".
        if hasattr(model, "__sklearn_is_fitted__"):
            return bool(model.__sklearn_is_fitted__())
        return any(k.endswith("_") and not k.startswith("__") for k in getattr(model, "__dict__", {}))
    try:
        check_is_fitted(model)
    except NotFittedError:
        return False
    return True


# ------------------------------------------------------------------ tree-forest votes by margin


class _MarginVoteTeacher(Teacher):
    """Hard votes of forest members that each give a raw score (margin) per class.

    Subclasses implement ``member_margins(X)`` -> (T, n) for binary models (one score: class 1
    iff > 0) or (T, n, k) (vote = argmax, ties -> lowest). ``model_classes`` are the labels of
    the model's class indices; ``classes_`` is what they are reported as.
    """

    def __init__(self, model, classes=None, backend=None, n_jobs=None):
        self.model = model
        self.backend = backend
        self.n_jobs = n_jobs
        self.classes_ = np.asarray(model.classes_ if classes is None else classes)

    def member_margins(self, X):
        raise NotImplementedError

    def votes(self, X, classes):
        """(T, n) int64 votes as indices into ``classes``."""
        margins = self.member_margins(X)
        # A tie (margin exactly 0, or equal class scores) goes to the lowest class, as the
        # libraries' own predict does (probability > 0.5 for class 1).
        idx = (margins > 0).astype(np.int64) if margins.ndim == 2 else np.argmax(margins, axis=2)
        return class_index_map(self.classes_, classes)[idx]

    def belief(self, X, classes):
        return belief_from_votes(self.votes(X, classes), len(classes), backend=self.backend, n_jobs=self.n_jobs)


def _library(model):
    """'xgboost', 'lightgbm' or None, from the model's class (without importing either)."""
    for cls in type(model).__mro__:
        root = cls.__module__.split(".")[0]
        if root in ("xgboost", "lightgbm"):
            return root
    return None


class XGBoostVoteTeacher(_MarginVoteTeacher):
    """Hard votes of an XGBoost random forest (one boosting round of ``num_parallel_tree`` trees).

    XGBoost divides each parallel tree's leaf weight by ``num_parallel_tree``, so member t's own
    margin is ``base + T * w_t(x)`` (the margin of a one-tree forest), whose mean over members
    is the forest's margin. ``base`` is recovered per sample as the forest margin minus the
    summed leaf weights, so any ``base_score`` or intercept is accounted for.
    """

    def __init__(self, model, classes=None, backend=None, n_jobs=None):
        super().__init__(model, classes, backend, n_jobs)
        import json

        booster = model.get_booster()
        config = json.loads(booster.save_config())["learner"]
        name = type(model).__name__
        booster_name = config["gradient_booster"]["name"]
        if booster_name != "gbtree":
            raise ValueError(
                f"hard votes are not defined for an XGBoost model with booster={booster_name!r}: only a "
                "random forest (booster='gbtree', one boosting round) has members that each predict a class; "
                "use belief='proba'"
            )
        rounds = booster.num_boosted_rounds()
        if rounds != 1:
            raise ValueError(
                f"hard votes are not defined for this boosted {name} ({rounds} boosting rounds): each round's "
                "trees fit the residuals of the rounds before and predict no class on their own. Hard votes "
                "need a random forest (XGBRFClassifier, or num_parallel_tree trees in one boosting round); "
                "use belief='proba' for boosted models"
            )
        objective = config["objective"]["name"]
        if not objective.startswith(("binary:", "multi:")):
            raise ValueError(f"XGBoost objective {objective!r} is not a classification objective")
        model_json = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]
        # A leaf's entry of split_conditions is its leaf weight (inner nodes hold thresholds,
        # never read here: pred_leaf gives leaf node ids).
        self._leaf_values = [np.asarray(t["split_conditions"], dtype=np.float64) for t in model_json["trees"]]
        self._tree_class = np.asarray(model_json["tree_info"], dtype=np.int64)
        counts = np.bincount(self._tree_class)
        if counts.min() != counts.max():
            raise ValueError("this XGBoost forest has different numbers of trees per class; cannot pair members")
        self.n_members = int(counts[0])

    def member_margins(self, X):
        import xgboost

        booster = self.model.get_booster()
        dm = xgboost.DMatrix(np.asarray(X), missing=getattr(self.model, "missing", np.nan))
        leaves = np.asarray(booster.predict(dm, pred_leaf=True, validate_features=False), dtype=np.int64)
        margin = np.asarray(booster.predict(dm, output_margin=True, validate_features=False), dtype=np.float64)
        leaves = leaves.reshape(leaves.shape[0], -1)
        if leaves.shape[1] != len(self._leaf_values):
            raise RuntimeError(
                f"XGBoost returned {leaves.shape[1]} leaves per sample for {len(self._leaf_values)} trees"
            )
        w = np.stack([vals[leaves[:, t]] for t, vals in enumerate(self._leaf_values)])  # (trees, n)
        T = self.n_members
        if margin.ndim == 1:  # binary: one margin, class 1 iff > 0
            return (margin - w.sum(axis=0)) + T * w
        out = np.empty((T, margin.shape[0], margin.shape[1]))
        for c in range(margin.shape[1]):
            wc = w[self._tree_class == c]  # the T parallel trees of class c, in training order
            out[:, :, c] = (margin[:, c] - wc.sum(axis=0)) + T * wc
        return out


class LightGBMVoteTeacher(_MarginVoteTeacher):
    """Hard votes of a LightGBM random forest (``boosting_type="rf"``).

    Every iteration's tree(s) are trained from the same initial score, which LightGBM adds to
    each tree as a bias, and the forest's probability is the link of the mean raw score over
    iterations; member t's raw score is iteration t's prediction alone.
    """

    def __init__(self, model, classes=None, backend=None, n_jobs=None):
        super().__init__(model, classes, backend, n_jobs)
        booster = model.booster_
        # average_output is how LightGBM marks a random forest (set by boosting='rf' under
        # any of its aliases), read from the first iteration's dump only.
        if not booster.dump_model(num_iteration=1).get("average_output", False):
            raise ValueError(
                f"hard votes are not defined for this boosted {type(model).__name__} "
                f"(boosting_type={model.get_params().get('boosting_type')!r}): each iteration's trees fit the "
                "residuals of the iterations before and predict no class on their own. Hard votes need "
                "boosting_type='rf'; use belief='proba' for boosted models"
            )
        best = int(getattr(booster, "best_iteration", 0) or 0)
        self.n_members = best if best > 0 else int(booster.current_iteration())

    def member_margins(self, X):
        booster = self.model.booster_
        X = np.asarray(X)
        return np.stack(
            [
                np.asarray(booster.predict(X, start_iteration=t, num_iteration=1, raw_score=True), dtype=np.float64)
                for t in range(self.n_members)
            ]
        )


# --------------------------------------------------------------------------------- torch


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
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        self.module = module
        self.kind = kind
        self.batch_size = int(batch_size)
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


# ------------------------------------------------------------------------------- deferred


class DeferredTeacher(Teacher):
    """An unfitted model with a chosen belief kind, fitted later on the training data.

    ``make_teacher(model, belief="votes")`` returns one when ``model`` is not fitted and no data
    is given, so that ``CREMBOClassifier(teacher=make_teacher(XGBRFClassifier(), belief="votes"))``
    fits the teacher on its training split (never on the validation split) with that belief.
    """

    def __init__(self, model, belief="auto"):
        _check_belief_kind(belief)
        self.model = model
        self.belief_kind = belief

    def fit(self, X, y, *, random_state=None, n_jobs=None, backend=None):
        """The fitted teacher (a new ``Teacher``; the wrapped model is cloned, never modified)."""
        return make_teacher(
            self.model, X, y, belief=self.belief_kind, random_state=random_state, n_jobs=n_jobs, backend=backend
        )

    def belief(self, X, classes):
        raise ValueError("this teacher is not fitted yet; CREMBOClassifier fits it, or call .fit(X, y)")


# -------------------------------------------------------------------------- make_teacher

_BELIEF_KINDS = ("auto", "proba", "votes", "logits")


def _check_belief_kind(belief):
    if belief not in _BELIEF_KINDS:
        raise ValueError(f"belief must be one of {_BELIEF_KINDS}, got {belief!r}")


def _check_classifier(model):
    """ValueError for regressors and multi-output classifiers (CREMBO needs one label per sample)."""
    name = type(model).__name__
    try:
        regressor = is_regressor(model)
    except (AttributeError, TypeError):  # not an sklearn-style estimator
        regressor = False
    if regressor:
        raise ValueError(
            f"teacher {name} is a regressor; CREMBO compresses classifiers: pass a classifier "
            "(with predict_proba), or wrap a function returning class logits in CallableTeacher"
        )
    classes = getattr(model, "classes_", None)
    n_outputs = getattr(model, "n_outputs_", 1)
    # An MLP's n_outputs_ counts its output units (k for k classes): it is multilabel only when
    # its label binarizer says so; other multi-output sklearn classifiers keep a list of classes_.
    binarizer = getattr(model, "_label_binarizer", None)
    multilabel = getattr(binarizer, "y_type_", None) == "multilabel-indicator"
    if isinstance(classes, list) or multilabel or (
        binarizer is None and isinstance(n_outputs, int) and n_outputs > 1
    ):
        raise ValueError(
            f"teacher {name} is multi-output (fitted on a 2-D y); CREMBO needs a single-output classifier "
            "giving one label per sample"
        )


def _fit_model(teacher, X, y, random_state):
    """Clone, seed and fit an unfitted model; return it and the labels its classes stand for."""
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] > 1:
        raise ValueError(
            f"y has shape {y_arr.shape}: a multi-output target; CREMBO needs one label per sample (1-D y)"
        )
    model = fresh_estimator(teacher, random_state)
    if _library(teacher) == "xgboost":
        # XGBoost only accepts labels 0..k-1: fit on the codes, report the original labels.
        uniq, codes = np.unique(y_arr.ravel(), return_inverse=True)
        model.fit(X, codes)
        return model, uniq[np.asarray(model.classes_, dtype=np.intp)]
    model.fit(X, y)  # fitted in place: a plain class's fit need not return self
    return model, None


def _vote_teacher(model, classes, n_jobs, backend):
    """The hard-vote teacher of a fitted model, or ValueError saying why votes are undefined."""
    library = _library(model)
    if library == "xgboost":
        return XGBoostVoteTeacher(model, classes, backend=backend, n_jobs=n_jobs)
    if library == "lightgbm":
        return LightGBMVoteTeacher(model, classes, backend=backend, n_jobs=n_jobs)
    if _is_vote_ensemble(model):
        return VoteTeacher(model, n_jobs=n_jobs, backend=backend)
    name = type(model).__name__
    boosted = "Boost" in name  # GradientBoosting, HistGradientBoosting, CatBoost (AdaBoost votes, above)
    why = (
        f"{name} is boosted: its trees are regressors fitted to residuals and predict no class on their own"
        if boosted
        else f"{name} is not an ensemble whose members each predict a class"
    )
    raise ValueError(
        f"hard votes are not defined for this teacher: {why}. Votes are defined for sklearn RandomForest, "
        "ExtraTrees, Bagging, Voting and AdaBoost ensembles, LightGBM boosting_type='rf' and XGBoost random "
        "forests (XGBRFClassifier); use belief='proba'"
    )


def _no_belief_message(teacher):
    return (
        f"teacher {type(teacher).__name__} gives no belief: it has neither predict_proba nor estimators_ of "
        "classifiers (predict alone gives labels, not a probability per class). A teacher must provide "
        "predict_proba(X) -> (n_samples, n_classes) probabilities (with classes_ naming the columns, else "
        "they are the sorted training labels), or be an ensemble whose estimators_ each predict a class "
        "(fit(X, y) is used when it is not fitted yet); otherwise wrap a function of X returning logits or "
        "probabilities in crembo.teachers.CallableTeacher, or pass a belief matrix"
    )


def make_teacher(teacher, X=None, y=None, *, belief="auto", random_state=None, n_jobs=None, backend=None):
    """Wrap ``teacher`` into a ``Teacher`` (see the module docstring for what is accepted).

    Parameters
    ----------
    teacher : model, torch module, callable, belief matrix or Teacher
    X, y : training data, used only to fit an unfitted model
    belief : {"auto", "proba", "votes", "logits"}
        How to read the model's belief (module docstring). With an unfitted model and no data, a
        non-"auto" belief gives a ``DeferredTeacher``, fitted later by ``CREMBOClassifier``.

    An unfitted sklearn-style teacher is cloned, its unset ``random_state`` parameters set to
    ``random_state``, and fitted on (X, y). A ``Teacher`` instance is returned as is. A model need
    not be a scikit-learn estimator: any object with ``predict_proba`` (and ``fit``, to be fitted
    here on a copy) works; it counts as fitted, as in scikit-learn, when its
    ``__sklearn_is_fitted__()`` is true or it has an attribute whose name ends in "_".
    """
    _check_belief_kind(belief)
    if isinstance(teacher, DeferredTeacher):
        if belief != "auto":
            raise ValueError("this DeferredTeacher already has its belief kind; pass belief='auto'")
        if X is None or y is None:
            return teacher
        return teacher.fit(X, y, random_state=random_state, n_jobs=n_jobs, backend=backend)
    if isinstance(teacher, Teacher):
        if belief != "auto":
            raise ValueError(f"teacher is already a {type(teacher).__name__}; belief= applies to models")
        return teacher
    if teacher is None:
        raise TypeError("teacher is None; pass a classifier, a callable, or a belief matrix")
    if isinstance(teacher, type):
        raise TypeError(f"teacher is the class {teacher.__name__}, not an instance: pass {teacher.__name__}()")
    if isinstance(teacher, (np.ndarray, list, tuple)):
        if belief not in ("auto", "proba"):
            raise ValueError(f"belief={belief!r} does not apply to a precomputed belief matrix")
        return BeliefTeacher(np.asarray(teacher), backend=backend)
    if _is_torch_module(teacher):
        if belief == "votes":
            raise ValueError("hard votes are not defined for a torch module; use belief='logits' or 'proba'")
        return TorchTeacher(teacher, kind="proba" if belief == "proba" else "logits", backend=backend)
    has_proba = hasattr(teacher, "predict_proba")
    if hasattr(teacher, "estimators_") or has_proba or hasattr(teacher, "fit"):
        _check_classifier(teacher)  # before fitting: a regressor is refused without training it
        if not has_proba and not hasattr(teacher, "__sklearn_tags__") and not hasattr(teacher, "estimators_"):
            # not sklearn, so fitting cannot give it what it lacks: say so before the fit
            raise TypeError(_no_belief_message(teacher))
        classes = None
        if not _is_fitted(teacher):
            if X is None or y is None:
                if belief != "auto":
                    return DeferredTeacher(teacher, belief)
                raise ValueError(f"teacher {type(teacher).__name__} is not fitted; pass X and y to fit it")
            teacher, classes = _fit_model(teacher, X, y, random_state)
        _check_classifier(teacher)
        if belief == "logits":
            raise ValueError("belief='logits' applies to callables and torch modules; use 'proba' or 'votes'")
        if belief == "votes":
            return _vote_teacher(teacher, classes, n_jobs, backend)
        if belief == "auto" and _is_vote_ensemble(teacher) and _auto_votes(teacher):
            return VoteTeacher(teacher, n_jobs=n_jobs, backend=backend)
        if hasattr(teacher, "predict_proba"):
            out = ProbaTeacher(teacher, backend=backend)
            if classes is not None:
                out.classes_ = np.asarray(classes)
            return out
        if belief == "proba":
            raise ValueError(f"belief='proba' but teacher {type(teacher).__name__} has no predict_proba")
        raise TypeError(_no_belief_message(teacher))
    if callable(teacher):
        if belief == "votes":
            raise ValueError("hard votes are not defined for a callable teacher; use belief='logits' or 'proba'")
        return CallableTeacher(teacher, kind=belief)
    raise TypeError(
        f"cannot use a {type(teacher).__name__} as a teacher: pass an sklearn classifier with "
        "predict_proba or estimators_, a callable (crembo.teachers.CallableTeacher), or a belief matrix"
    )
