"""Candidate thresholds: what ``thresholds=`` accepts (crembo._candidates.check_thresholds_param)."""

import numpy as np
import pytest

from crembo._candidates import candidate_thresholds, check_thresholds_param


@pytest.mark.parametrize("bad", [[5.0], [0.2, 1.5], [-0.1, 0.5], [50, 90], np.array([1.0 + 1e-12])])
def test_explicit_thresholds_outside_unit_interval_are_refused(bad):
    # beliefs are probabilities: above 1 nothing is allowed anywhere (nothing can be consistent),
    # below 0 everything is; [5.0] must not be reported as CREMBO's threshold_
    with pytest.raises(ValueError, match=r"thresholds must lie in \[0, 1\]"):
        check_thresholds_param(bad)


@pytest.mark.parametrize("ok, expected", [([1.0, 0.0, 0.5, 0.5], [0.0, 0.5, 1.0]), ([1], [1.0]), (np.array([0]), [0.0])])
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
