"""Beliefs of a teacher: vote fractions, probabilities, softmax of logits; their thresholds.

A belief P is an (n, k) matrix with p[i, c] = P(y = c | x_i), rows summing to 1. Every function
here validates its input, then runs one kernel of the chosen backend (see ``crembo.backends``).
"""

import numpy as np

from crembo import _validation as v
from crembo._threads import resolve_n_threads
from crembo.backends import get_backend


def vote_counts(votes, n_classes, *, backend=None, n_jobs=None):
    """Count the members' hard votes: (n_members, n_samples) class indices -> (n_samples, k) uint32.

    counts[i, c] is the number of members that predicted class c for sample i. Votes may be any
    integer dtype, or floats holding integers (as sklearn trees' ``predict`` returns).
    """
    votes = v.check_votes(votes)
    n_classes = v.check_n_classes(n_classes)
    counts, n_invalid = get_backend(backend).vote_counts(votes, n_classes, resolve_n_threads(n_jobs, votes.size))
    v.raise_invalid_labels(n_invalid, n_classes, "votes")
    return counts


def belief_from_votes(votes, n_classes, backend=None, *, n_jobs=None):
    """Belief of an ensemble: the fraction of members voting for each class.

    votes: (n_members, n_samples) class indices in [0, n_classes). Returns (n_samples, n_classes)
    float64 with p[i, c] = #{t : votes[t, i] == c} / n_members (exact fractions, the paper's
    hard-vote belief, not averaged probabilities).
    """
    votes = v.check_votes(votes)
    n_classes = v.check_n_classes(n_classes)
    belief, n_invalid = get_backend(backend).vote_belief(votes, n_classes, resolve_n_threads(n_jobs, votes.size))
    v.raise_invalid_labels(n_invalid, n_classes, "votes")
    return belief


def belief_from_proba(proba, *, atol=v.BELIEF_ATOL, backend=None, n_jobs=None):
    """Validate a ``predict_proba`` matrix and renormalise each row to sum to exactly 1 (float64).

    Raises ValueError naming the first bad row for NaN/inf, negative values, or a row sum further
    than ``atol`` from 1; ``atol`` must be in [0, 1) (a row of zeros has no normalisation).
    """
    atol = v.check_atol(atol)
    proba = v.check_float_matrix(proba, "proba")
    belief, status = get_backend(backend).normalize_belief(proba, atol, resolve_n_threads(n_jobs, proba.size))
    v.raise_bad_rows(status, "proba", atol, proba)
    return belief


def belief_from_logits(logits, *, backend=None, n_jobs=None):
    """Row-wise softmax of an (n, k) matrix of logits, in float64 (max-subtracted, stable)."""
    logits = v.check_float_matrix(logits, "logits")
    if not np.isfinite(logits).all():
        raise ValueError("logits contain NaN or infinity")
    return get_backend(backend).softmax(logits, resolve_n_threads(n_jobs, logits.size))


def check_belief(belief, *, atol=v.BELIEF_ATOL, backend=None, n_jobs=None):
    """Validate a belief matrix without copying it: returns it as a C-contiguous float array.

    Raises ValueError for a wrong shape, NaN/inf, negative values or rows not summing to 1.
    """
    atol = v.check_atol(atol)
    belief = v.check_float_matrix(belief, "belief")
    status = get_backend(backend).belief_status(belief, atol, resolve_n_threads(n_jobs, belief.size))
    v.raise_bad_rows(status, "belief", atol, belief)
    return belief


def as_belief(belief, validate=True, backend=None, n_jobs=None):
    """The belief as a kernel-ready array; ``validate=False`` skips only the O(n k) value scan
    (for callers that validated it once already), never the shape/dtype/layout conversion."""
    if validate:
        return check_belief(belief, backend=backend, n_jobs=n_jobs)
    return v.check_float_matrix(belief, "belief")


def thresholds(belief, *, backend=None, n_jobs=None, validate=True):
    """Candidate thresholds: the sorted unique values of the belief (float64).

    An ensemble of T members gives at most T + 1 of them (0, 1/T, ..., 1).
    """
    belief = as_belief(belief, validate, backend, n_jobs)
    return get_backend(backend).unique_values(belief, resolve_n_threads(n_jobs, belief.size))


def allowed_labels(belief, d, *, backend=None, n_jobs=None, validate=True):
    """Allowed labels at threshold d: the (n, k) bool matrix Y(d) with Y[i, c] = p[i, c] >= d."""
    d = v.check_threshold(d)
    belief = as_belief(belief, validate, backend, n_jobs)
    return get_backend(backend).allowed_labels(belief, d, resolve_n_threads(n_jobs, belief.size))
