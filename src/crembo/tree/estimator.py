"""``AllowedLabelTreeClassifier``: the native consistency oracle of MEMO and CREMBO."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from crembo import _validation as v
from crembo._threads import resolve_n_threads
from crembo.tree.binning import BinnedData, bin_features
from crembo.tree.grower import CRITERIA, Grower, balanced_factors


def balanced_multioutput_weights(allowed):
    """scikit-learn's ``compute_sample_weight("balanced", Y)`` for a 0/1 multi-output Y.

    Per output c the balanced weight of a sample is n / (n_classes_c * count of its value in
    column c) (1 when the column is constant); a sample's weight is the product over outputs.
    """
    w1, w0 = balanced_factors(allowed.sum(axis=0, dtype=np.int64), allowed.shape[0])
    return np.prod(np.where(allowed.astype(bool), w1, w0), axis=1, dtype=np.float64)


class AllowedLabelTreeClassifier(ClassifierMixin, BaseEstimator):
    """A decision tree fitted on allowed-label sets: the fast consistency oracle.

    ``fit(X, allowed)`` takes an (n, k) bool matrix (``allowed[i, c]``: label c is acceptable for
    sample i), ``fit(X, belief, threshold=d)`` uses ``belief >= d``, and ``fit(X, y)`` with 1-D
    labels is ordinary classification (one allowed label per row). Features are binned once
    (quantile bins, at most ``max_bins`` per feature; NaN gets its own bin), histograms of
    allowed-label counts are built in parallel over features, and ``predict`` compares raw
    values with thresholds in original units (``x <= threshold`` goes left).

    Parameters
    ----------
    max_depth : int, default=4
    min_samples_leaf : int, default=1
    max_bins : int in [2, 255], default=255
    criterion : {"consistency", "gini"}, default="consistency"
        "consistency" maximises the number of samples whose allowed set contains their leaf's
        label (ties broken by the Gini score); leaves predict the most often allowed label.
        "gini" is scikit-learn's multi-output Gini over the k 0/1 columns; leaves predict the
        output with the largest (weighted) fraction of 1s, like the paper's reference oracle.
    class_weight : None or "balanced", default=None
        "gini" only: scikit-learn's multi-output "balanced" sample weights (the product over
        outputs of the per-output balanced weights).
    solver : {"greedy", "exact"}, default="greedy"
        "exact" (consistency, max_depth <= 2) enumerates every root split and the best split of
        each child, returning a tree of maximal consistency count.
    n_jobs : int or None
        Threads of the native kernels (see ``crembo.resolve_n_threads``).
    random_state : int, RandomState or None
        Only used to subsample rows for the bin quantiles when n > 200,000.

    Missing values: a split learns where NaNs go when its node saw NaNs in training; otherwise
    NaNs go to the child that had more training samples.

    At most 255 classes (allowed-label columns): the kernels store label lists as uint8; more
    raise ValueError at fit.
    """

    def __init__(
        self,
        max_depth=4,
        min_samples_leaf=1,
        max_bins=255,
        criterion="consistency",
        class_weight=None,
        solver="greedy",
        n_jobs=None,
        random_state=None,
    ):
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_bins = max_bins
        self.criterion = criterion
        self.class_weight = class_weight
        self.solver = solver
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- validation ----------------------------------------------------------------------
    def _check_params(self):
        v.check_int(self.max_depth, "max_depth", low=0)
        v.check_int(self.min_samples_leaf, "min_samples_leaf", low=1)
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {sorted(CRITERIA)}, got {self.criterion!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        if self.class_weight is not None and self.criterion != "gini":
            raise ValueError("class_weight only applies to criterion='gini'")
        if self.solver not in ("greedy", "exact"):
            raise ValueError(f"solver must be 'greedy' or 'exact', got {self.solver!r}")
        if self.solver == "exact" and (self.criterion != "consistency" or self.max_depth > 2):
            raise ValueError("solver='exact' needs criterion='consistency' and max_depth <= 2")
        return resolve_n_threads(self.n_jobs)

    @staticmethod
    def _check_allowed(allowed, n_samples):
        if allowed is None:
            raise TypeError("allowed must be an array, got None")
        a = np.asarray(allowed)
        if a.ndim != 2:
            raise ValueError(f"allowed must be 2-D (n_samples, n_classes), got shape {a.shape}")
        if a.shape[0] != n_samples:
            raise ValueError(f"allowed has {a.shape[0]} rows but X has {n_samples}")
        if a.shape[1] < 1:
            raise ValueError("allowed needs at least one class column")
        if a.dtype != np.bool_ and (a.dtype.kind not in "biuf" or not np.isin(a, (0, 1)).all()):
            raise ValueError("allowed must be a bool (or 0/1) matrix")
        a = np.ascontiguousarray(a)
        return a.view(np.uint8) if a.dtype == np.bool_ else a.astype(np.uint8)

    # -- the oracle protocol -------------------------------------------------------------
    def prepare_allowed(self, X):
        """Bin X once; pass the result to ``fit_prepared`` at every threshold."""
        return bin_features(X, self.max_bins, self.random_state, self.n_jobs)

    def fit_allowed(self, X, allowed):
        """Fit on float X and an (n, k) bool allowed matrix; ``predict`` returns indices 0..k-1."""
        prepared = self.prepare_allowed(X)
        return self.fit_prepared(prepared, allowed)

    def fit_prepared(self, prepared, allowed, sample_weight=None):
        """Fit on a ``prepare_allowed`` result and an (n, k) bool allowed matrix; ``sample_weight``
        (criterion "gini", class_weight None): one non-negative weight per row."""
        if not isinstance(prepared, BinnedData):
            raise TypeError("prepared must come from prepare_allowed(X)")
        self._check_params()
        allowed = self._check_allowed(allowed, prepared.n_samples)
        weights = self.class_weight
        if sample_weight is not None:
            if self.criterion != "gini" or self.class_weight is not None:
                raise ValueError("sample_weight needs criterion='gini' and class_weight=None")
            weights = np.ascontiguousarray(sample_weight, dtype=np.float64)
            if weights.shape != (prepared.n_samples,) or not np.isfinite(weights).all() or (weights < 0).any():
                raise ValueError(f"sample_weight must be {prepared.n_samples} finite non-negative numbers")
        grower = Grower(prepared, allowed, weights, self.criterion, self.max_depth, self.min_samples_leaf, self.n_jobs)
        self.tree_ = grower.grow_exact() if self.solver == "exact" else grower.grow()
        self.n_features_in_ = prepared.n_features
        self.n_classes_ = allowed.shape[1]
        self.classes_ = np.arange(self.n_classes_)
        self.n_samples_fit_ = prepared.n_samples
        self.consistency_count_ = self.tree_.leaf_consistency()
        return self

    # -- sklearn API ---------------------------------------------------------------------
    def fit(self, X, Y, threshold=None):
        """Fit on allowed sets (2-D bool Y), a belief (2-D float Y with ``threshold``) or labels."""
        # NaN and +-inf are values like any other to the binned splits
        X, Y = validate_data(self, X, Y, dtype=np.float64, ensure_all_finite=False, multi_output=True, y_numeric=False)
        if threshold is not None:
            if Y.ndim != 2 or Y.dtype.kind not in "iuf":
                raise ValueError("with threshold, Y must be a 2-D belief matrix")
            allowed = Y >= float(threshold)
            classes = None
        elif Y.ndim == 1:
            check_classification_targets(Y)
            classes, y_idx = np.unique(Y, return_inverse=True)
            allowed = np.zeros((Y.shape[0], classes.size), dtype=bool)
            allowed[np.arange(Y.shape[0]), y_idx] = True
        else:
            allowed, classes = Y, None
        self._check_allowed(allowed, X.shape[0])
        self.fit_allowed(X, allowed)
        self.classes_ = np.arange(self.n_classes_) if classes is None else classes
        return self

    def apply(self, X):
        """Leaf index of each row."""
        check_is_fitted(self, "tree_")
        X = validate_data(self, X, reset=False, dtype=np.float64, ensure_all_finite=False)
        # threads only pay off on many rows (waking them costs more than a small predict)
        return self.tree_.apply(X, resolve_n_threads(self.n_jobs, X.shape[0]))

    def predict(self, X):
        """Predicted label of each row (class indices 0..k-1 when fitted on allowed sets)."""
        leaves = self.apply(X)
        return self.classes_[self.tree_.label[leaves]]

    def predict_prepared(self, prepared):
        """Labels of the rows of a ``prepare_allowed`` result: the same as ``predict`` on the X it
        binned, read from the 1-byte codes (MEMO and CREMBO score every fit on its training rows)."""
        check_is_fitted(self, "tree_")
        if not isinstance(prepared, BinnedData):
            raise TypeError("prepared must come from prepare_allowed(X)")
        if prepared.n_features != self.n_features_in_:
            raise ValueError(
                f"prepared has {prepared.n_features} features, the tree was fitted on {self.n_features_in_}"
            )
        leaves = self.tree_.apply_binned(prepared, resolve_n_threads(self.n_jobs, prepared.n_samples))
        labels = self.tree_.label[leaves]
        if self.classes_.dtype.kind in "iu" and np.array_equal(self.classes_, np.arange(self.n_classes_)):
            return labels  # fitted on allowed sets: the labels are the class indices
        return self.classes_[labels]

    def predict_proba(self, X):
        """The leaf's label scores (allowed counts; weighted for "gini") normalised per row; the
        argmax is ``predict``'s label. Uniform at a leaf where no label is allowed."""
        leaves = self.apply(X)
        s = self.tree_.label_scores[leaves]
        total = s.sum(axis=1, keepdims=True)
        out = np.full_like(s, 1.0 / s.shape[1])
        np.divide(s, total, out=out, where=total > 0)
        return out

    def get_depth(self):
        check_is_fitted(self, "tree_")
        return int(self.tree_.depth[self.tree_.is_leaf()].max())

    def get_n_leaves(self):
        check_is_fitted(self, "tree_")
        return int(self.tree_.is_leaf().sum())

    @property
    def nodes_(self):
        """List of node dicts in preorder: feature (-1 at leaves), threshold (original units),
        missing_left, left, right, label, n_samples, consistency (samples in the node whose
        allowed set contains its label), depth, allowed_counts (per class)."""
        check_is_fitted(self, "tree_")
        return [dict(row, allowed_counts=self.tree_.value[i].tolist()) for i, row in enumerate(self.tree_.rows)]

    def to_dict(self):
        """Nested dict of the tree (JSON-serialisable)."""
        nodes = self.nodes_

        def rec(i):
            nd = {k: v for k, v in nodes[i].items() if k not in ("left", "right", "bin")}
            if nd["feature"] >= 0:
                nd["left"], nd["right"] = rec(nodes[i]["left"]), rec(nodes[i]["right"])
            else:
                del nd["threshold"], nd["missing_left"], nd["feature"]
            return nd

        return rec(0)

    def __setstate__(self, state):
        super().__setstate__(state)
        if "tree_" in self.__dict__:  # fitted: the tree (checked on its own) must fit this model
            from crembo.tree._validate import check_native_estimator

            check_native_estimator(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
