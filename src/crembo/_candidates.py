"""Candidate thresholds for MEMO and the CREMBO scan.

The paper searches every unique value of the belief. A vote ensemble of T members has at most
T + 1 of them, but a softmax teacher has up to n * k, and the CREMBO scan trains one student per
candidate above MEMO's, so on large data the exhaustive set is out of reach. ``thresholds=``:

- ``"unique"``: every unique value (the paper's exhaustive behaviour);
- an int m >= 2: at most m candidates, ceil(m / 2) quantiles ``linspace(0, 1, .)`` of the unique
  values (snapped to the nearest order statistic: equal numbers of belief entries change side
  between neighbours) merged with floor(m / 2) values evenly spaced in [min, max] (each rounded
  up to the next actual value, which has the same allowed sets). The smallest and largest values
  are always in, and every candidate is a real belief value, so the allowed sets at a candidate
  are exactly those of the exhaustive run at that value. Quantiles alone are not enough for
  softmax beliefs: most entries are tiny, so nearly all quantiles fall below 0.01 and the
  thresholds where students differ (0.05 to 0.9) get a handful, which costs test accuracy
  against the exhaustive scan that the mix does not (docs/cost_model.md);
- an array: exactly these thresholds (sorted and deduplicated), each in [0, 1]. MEMO is consistent
  at the belief's smallest value whatever the student, but not necessarily at the smallest of
  these: when none is consistent, ``crembo.memo`` warns (``NoConsistentThresholdWarning``);
- ``"auto"``: ``"unique"`` when there are at most ``AUTO_MAX_UNIQUE`` (256) distinct values (every
  vote ensemble of <= 255 members), else ``AUTO_N_QUANTILES`` (128) bounded candidates.
"""

import numpy as np

from crembo import _validation as v
from crembo.beliefs import thresholds as unique_thresholds

__all__ = [
    "candidate_thresholds",
    "check_thresholds_param",
    "quantile_candidates",
    "spaced_candidates",
    "bounded_candidates",
    "AUTO_MAX_UNIQUE",
    "AUTO_N_QUANTILES",
]

# A vote ensemble of up to 255 members stays exhaustive under "auto"; for softmax teachers 128
# bounded candidates come close to the exhaustive scan's test accuracy at a small fraction of its
# time (docs/cost_model.md measures both).
AUTO_MAX_UNIQUE = 256
AUTO_N_QUANTILES = 128


def check_thresholds_param(thresholds):
    """Validate a ``thresholds=`` value; returns "auto", "unique", an int m >= 2 or a float64 array."""
    if isinstance(thresholds, str):
        if thresholds not in ("auto", "unique"):
            raise ValueError(f"thresholds must be 'auto', 'unique', an int >= 2 or an array, got {thresholds!r}")
        return thresholds
    if isinstance(thresholds, (bool, np.bool_)) or thresholds is None:
        raise TypeError(f"thresholds must be 'auto', 'unique', an int >= 2 or an array, got {thresholds!r}")
    if v.is_int(thresholds):
        return v.check_int(thresholds, "thresholds as a number of candidates", low=2)
    if v.is_real(thresholds):
        raise TypeError(
            f"thresholds must be 'auto', 'unique', an int >= 2 (a number of candidates) or an array of "
            f"thresholds, got the float {thresholds!r}; for one threshold pass [{thresholds!r}]"
        )
    c = np.asarray(thresholds)
    if c.dtype.kind not in "iuf":
        raise TypeError(f"thresholds as an array must be numeric, got dtype {c.dtype}")
    c = c.astype(np.float64)
    if c.ndim != 1 or c.size == 0:
        raise ValueError("thresholds as an array must be non-empty and 1-D")
    if not np.isfinite(c).all():
        raise ValueError("thresholds contain NaN or infinity")
    # Belief values are probabilities: above 1 no label is allowed anywhere (nothing can be
    # consistent there), below 0 every label is; either is a mistake (a percentage, a logit).
    outside = c[(c < 0.0) | (c > 1.0)]
    if outside.size:
        raise ValueError(f"thresholds must lie in [0, 1] (belief values are probabilities); got {outside[:5].tolist()}")
    return np.unique(c)


def quantile_candidates(values, m):
    """At most m of the sorted unique ``values``: their quantiles ``linspace(0, 1, m)`` snapped
    to the nearest order statistic (the values at ranks ``round(j * (N - 1) / (m - 1))``).

    The first and last values are always kept; all N come back when N <= m.
    """
    u = np.asarray(values, dtype=np.float64)
    if u.size <= m:
        return u
    return u[np.unique(np.round(np.linspace(0.0, u.size - 1, m)).astype(np.intp))]


def spaced_candidates(values, m):
    """At most m of the sorted unique ``values``: ``linspace(min, max, m)`` each rounded up to
    the next value (a threshold between two values allows what the upper one allows)."""
    u = np.asarray(values, dtype=np.float64)
    if u.size <= m:
        return u
    idx = np.searchsorted(u, np.linspace(u[0], u[-1], m), side="left")
    return u[np.unique(np.clip(idx, 0, u.size - 1))]


def bounded_candidates(values, m):
    """At most m candidates: ceil(m / 2) quantiles merged with floor(m / 2) evenly spaced values."""
    u = np.asarray(values, dtype=np.float64)
    if u.size <= m:
        return u
    return np.union1d(quantile_candidates(u, m - m // 2), spaced_candidates(u, m // 2))


def candidate_thresholds(belief, thresholds="auto", *, backend=None, n_jobs=None, validate=False):
    """Sorted float64 candidate thresholds of ``belief`` under a ``thresholds=`` choice (module doc)."""
    choice = check_thresholds_param(thresholds)
    if isinstance(choice, np.ndarray):
        return choice
    u = unique_thresholds(belief, backend=backend, n_jobs=n_jobs, validate=validate)
    if choice == "unique":
        return u
    if choice == "auto":
        return u if u.size <= AUTO_MAX_UNIQUE else bounded_candidates(u, AUTO_N_QUANTILES)
    return bounded_candidates(u, choice)
