"""Candidate thresholds (crembo._candidates): what ``thresholds=`` accepts, and the bounded sets
(quantiles of the unique values merged with evenly spaced values) that "auto" and an int choose."""

import numpy as np
import pytest

from crembo._candidates import (
    AUTO_MAX_UNIQUE,
    AUTO_N_QUANTILES,
    bounded_candidates,
    candidate_thresholds,
    check_thresholds_param,
    quantile_candidates,
    spaced_candidates,
)


@pytest.mark.parametrize("bad", [[5.0], [0.2, 1.5], [-0.1, 0.5], [50, 90], np.array([1.0 + 1e-12])])
def test_explicit_thresholds_outside_unit_interval_are_refused(bad):
    # beliefs are probabilities: above 1 nothing is allowed anywhere (nothing can be consistent),
    # below 0 everything is; [5.0] must not be reported as CREMBO's threshold_
    with pytest.raises(ValueError, match=r"thresholds must lie in \[0, 1\]"):
        check_thresholds_param(bad)


@pytest.mark.parametrize(
    "ok, expected", [([1.0, 0.0, 0.5, 0.5], [0.0, 0.5, 1.0]), ([1], [1.0]), (np.array([0]), [0.0])]
)
def test_explicit_thresholds_in_unit_interval(ok, expected):
    np.testing.assert_array_equal(check_thresholds_param(ok), expected)
    belief = np.array([[0.25, 0.75], [0.5, 0.5]])
    np.testing.assert_array_equal(candidate_thresholds(belief, ok), expected)


@pytest.mark.parametrize("bad", [5.0, 0.5, np.float64(16.0)])
def test_a_float_is_neither_a_count_nor_an_array(bad):
    with pytest.raises(TypeError, match=r"got the float .*pass \["):
        check_thresholds_param(bad)


@pytest.mark.parametrize("bad", [True, np.True_, None])
def test_bools_and_none_are_refused(bad):
    with pytest.raises(TypeError, match="thresholds must be"):
        check_thresholds_param(bad)


def test_numpy_ints_count_candidates():
    assert check_thresholds_param(np.int64(8)) == 8
    with pytest.raises(ValueError, match=">= 2"):
        check_thresholds_param(np.int32(1))


def test_quantile_candidates_are_actual_values_with_both_ends():
    rng = np.random.default_rng(0)
    u = np.unique(rng.random(5000) ** 3)
    for m in (2, 3, 32, 128):
        c = quantile_candidates(u, m)
        assert 2 <= c.size <= m
        assert c[0] == u[0] and c[-1] == u[-1]
        assert np.isin(c, u).all() and (np.diff(c) > 0).all()
    np.testing.assert_array_equal(quantile_candidates(u[:10], 32), u[:10])
    # a quantile of the unique values is where the snapped candidate sits (within one gap)
    c = quantile_candidates(u, 5)
    np.testing.assert_array_equal(c, u[np.round(np.linspace(0, u.size - 1, 5)).astype(int)])


def test_bounded_candidates_cover_both_ranks_and_values():
    # softmax-like: most values tiny. Quantiles alone put nearly every candidate below 0.01;
    # the evenly spaced half keeps resolution where students differ.
    rng = np.random.default_rng(1)
    u = np.unique(np.concatenate([rng.random(9000) * 1e-3, rng.random(1000)]))
    q = quantile_candidates(u, 32)
    s = spaced_candidates(u, 16)
    assert (q > 0.1).sum() <= 4 and (s > 0.1).sum() >= 13
    # rounding up: every spaced candidate is the smallest value >= its grid point
    grid = np.linspace(u[0], u[-1], 16)
    np.testing.assert_array_equal(s, np.unique([u[u >= g][0] for g in grid]))
    b = bounded_candidates(u, 32)
    assert b.size <= 32 and b[0] == u[0] and b[-1] == u[-1] and np.isin(b, u).all()
    np.testing.assert_array_equal(b, np.union1d(quantile_candidates(u, 16), s))
    np.testing.assert_array_equal(bounded_candidates(u[:20], 32), u[:20])


def test_auto_candidates_switch_at_256_unique_values():
    def two_class_votes(T):  # rows [c / T, (T - c) / T]: exactly the T + 1 fractions
        c = np.arange(T + 1)
        return np.column_stack([c / T, (T - c) / T])

    belief = two_class_votes(AUTO_MAX_UNIQUE - 1)
    assert candidate_thresholds(belief, "auto").size == AUTO_MAX_UNIQUE
    belief = two_class_votes(AUTO_MAX_UNIQUE)
    assert candidate_thresholds(belief, "unique").size == AUTO_MAX_UNIQUE + 1
    auto = candidate_thresholds(belief, "auto")
    assert auto.size <= AUTO_N_QUANTILES and auto[0] == 0.0 and auto[-1] == 1.0
    np.testing.assert_array_equal(auto, bounded_candidates(np.unique(belief), AUTO_N_QUANTILES))
    np.testing.assert_array_equal(candidate_thresholds(belief, [0.5, 0.1, 0.5]), [0.1, 0.5])


@pytest.mark.parametrize(
    "bad, exc",
    [
        ("all", ValueError),
        (1, ValueError),
        (True, TypeError),
        (None, TypeError),
        ([], ValueError),
        ([0.1, np.inf], ValueError),
        (["a"], TypeError),
    ],
)
def test_invalid_thresholds_param(bad, exc):
    with pytest.raises(exc, match="thresholds"):
        check_thresholds_param(bad)
