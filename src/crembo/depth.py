"""Depth of hypotheses under a belief (the paper's notion of how "central" a classifier is).

pointwise depth  p[i, f(x_i)];  hypothesis depth  D(f) = min_i p[i, f(x_i)];
eps-quantile depth  the floor(eps * n)-th smallest pointwise depth (eps = 0 gives D(f)).
f is consistent with the allowed labels Y(d) iff D(f) >= d.
"""

import math

from crembo import _validation as v
from crembo._threads import resolve_n_threads
from crembo.backends import get_backend
from crembo.beliefs import as_belief


def _prepare(belief, y_pred, backend, n_jobs, validate):
    belief = as_belief(belief, validate, backend, n_jobs)
    y_pred = v.check_labels(y_pred, belief.shape[0], "y_pred")
    return belief, y_pred, get_backend(backend), resolve_n_threads(n_jobs, y_pred.size)


def pointwise_depth(belief, y_pred, *, backend=None, n_jobs=None, validate=True):
    """(n,) float64: p[i, y_pred[i]], the belief in each of the hypothesis' predictions."""
    belief, y_pred, kernels, n_threads = _prepare(belief, y_pred, backend, n_jobs, validate)
    depth, n_invalid = kernels.pointwise_depth(belief, y_pred, n_threads)
    v.raise_invalid_labels(n_invalid, belief.shape[1], "y_pred")
    return depth


def hypothesis_depth(belief, y_pred, *, backend=None, n_jobs=None, validate=True):
    """D(f) = min_i p[i, y_pred[i]] as a float."""
    belief, y_pred, kernels, n_threads = _prepare(belief, y_pred, backend, n_jobs, validate)
    depth, n_invalid = kernels.hypothesis_depth(belief, y_pred, n_threads)
    v.raise_invalid_labels(n_invalid, belief.shape[1], "y_pred")
    return depth


def hypothesis_depths(belief, predictions, *, backend=None, n_jobs=None, validate=True):
    """Depth of many hypotheses at once: predictions (m, n) -> (m,) float64.

    E.g. rank a forest's own trees by depth: ``hypothesis_depths(belief, votes)``.
    """
    belief = as_belief(belief, validate, backend, n_jobs)
    predictions = v.check_label_matrix(predictions, belief.shape[0], "predictions")
    if predictions.shape[0] < 1:
        raise ValueError("predictions has no hypothesis (0 rows)")
    depths, n_invalid = get_backend(backend).hypothesis_depths(
        belief, predictions, resolve_n_threads(n_jobs, predictions.size)
    )
    v.raise_invalid_labels(n_invalid, belief.shape[1], "predictions")
    return depths


def count_consistent(belief, y_pred, d, *, backend=None, n_jobs=None, validate=True):
    """Number of samples i whose prediction is allowed at threshold d: p[i, y_pred[i]] >= d."""
    d = v.check_threshold(d)
    belief, y_pred, kernels, n_threads = _prepare(belief, y_pred, backend, n_jobs, validate)
    count, n_invalid = kernels.count_consistent(belief, y_pred, d, n_threads)
    v.raise_invalid_labels(n_invalid, belief.shape[1], "y_pred")
    return count


def is_consistent(belief, y_pred, d, **kwargs):
    """True iff y_pred[i] is in Y_i(d) for every i, i.e. D(f) >= d."""
    return count_consistent(belief, y_pred, d, **kwargs) == len(y_pred)


def quantile_rank(eps, n):
    """Index (0-based, in sorted order) of the eps-quantile among n pointwise depths."""
    return min(math.floor(eps * n), n - 1)


def quantile_depth(belief, y_pred, eps, *, backend=None, n_jobs=None, validate=True):
    """eps-quantile depth: the (floor(eps * n) + 1)-th smallest p[i, y_pred[i]].

    Ignores the floor(eps * n) least-supported samples, so on large noisy data a hypothesis can
    be deep without being consistent everywhere. eps = 0 is ``hypothesis_depth``.
    """
    eps = v.check_fraction(eps, "eps")
    belief, y_pred, kernels, n_threads = _prepare(belief, y_pred, backend, n_jobs, validate)
    depth, n_invalid = kernels.quantile_depth(belief, y_pred, quantile_rank(eps, belief.shape[0]), n_threads)
    v.raise_invalid_labels(n_invalid, belief.shape[1], "y_pred")
    return depth
