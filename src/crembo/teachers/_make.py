"""``make_teacher``: from whatever the user passed to the ``Teacher`` that reads its belief."""

import numpy as np
from sklearn.base import is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from crembo.oracles import fresh_estimator
from crembo.teachers._base import BeliefTeacher, Teacher
from crembo.teachers._boosting import LightGBMVoteTeacher, XGBoostVoteTeacher, _library
from crembo.teachers._callable import CallableTeacher
from crembo.teachers._sklearn import ProbaTeacher, VoteTeacher, _auto_votes, _is_vote_ensemble
from crembo.teachers._torch import TorchTeacher, _is_torch_module


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
    if isinstance(classes, list) or multilabel or (binarizer is None and isinstance(n_outputs, int) and n_outputs > 1):
        raise ValueError(
            f"teacher {name} is multi-output (fitted on a 2-D y); CREMBO needs a single-output classifier "
            "giving one label per sample"
        )


def _fit_model(teacher, X, y, random_state):
    """Clone, seed and fit an unfitted model; return it and the labels its classes stand for."""
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] > 1:
        raise ValueError(f"y has shape {y_arr.shape}: a multi-output target; CREMBO needs one label per sample (1-D y)")
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
    """Wrap ``teacher`` into a ``Teacher`` (``crembo.teachers`` says what is accepted).

    Parameters
    ----------
    teacher : model, torch module, callable, belief matrix or Teacher
    X, y : training data, used only to fit an unfitted model
    belief : {"auto", "proba", "votes", "logits"}
        How to read the model's belief (``crembo.teachers``). With an unfitted model and no data, a
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
