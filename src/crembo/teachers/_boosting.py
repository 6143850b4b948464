"""Hard votes of XGBoost and LightGBM random forests, read from each member's own margin."""

import numpy as np

from crembo.beliefs import belief_from_votes
from crembo.teachers._base import Teacher, class_index_map


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
