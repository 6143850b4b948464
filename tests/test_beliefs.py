"""crembo.beliefs against plain NumPy expressions of its definitions (module docstring), on every
backend: vote fractions, probabilities, softmax of logits, candidate thresholds, allowed labels."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import crembo


@given(data=st.data())
def test_api_belief_from_votes(backend_name, data, kernel_inputs):
    votes, k = data.draw(kernel_inputs.votes())
    ok = (votes >= 0) & (votes < k)
    if not ok.all():
        with pytest.raises(ValueError, match="outside"):
            crembo.belief_from_votes(votes, k, backend=backend_name)
        return
    t = votes.shape[0]
    counts = np.stack([np.bincount(col.astype(np.int64), minlength=k) for col in votes.T])
    belief = crembo.belief_from_votes(votes, k, backend=backend_name)
    assert belief.dtype == np.float64
    np.testing.assert_array_equal(belief, counts / t)  # a division, exact as a fraction can be
    np.testing.assert_array_equal(crembo.vote_counts(votes, k, backend=backend_name), counts)
    # thresholds of a T-member vote belief are a subset of {0, 1/T, ..., 1}
    th = crembo.thresholds(belief, backend=backend_name)
    assert np.isin(th, np.arange(t + 1) / t).all()
    assert np.all(np.diff(th) > 0)
    assert th.size <= t + 1


@given(data=st.data())
def test_api_thresholds_and_allowed_labels(backend_name, data, kernel_inputs):
    belief = data.draw(kernel_inputs.beliefs())
    # validate=False: float32 rows of tiny classes may be off by a little; the spec is unique().
    th = crembo.thresholds(belief, backend=backend_name, validate=False)
    np.testing.assert_array_equal(th, np.unique(belief.astype(np.float64)))
    # Y(d) shrinks as d grows (checked on at most 12 of the thresholds, smallest and largest included)
    previous = None
    for d in th[np.unique(np.linspace(0, th.size - 1, 12).astype(int))]:
        allowed = crembo.allowed_labels(belief, d, backend=backend_name, validate=False)
        if previous is not None:
            assert not (allowed & ~previous).any()
        previous = allowed
    assert previous.any()  # the largest value is allowed somewhere


@given(data=st.data())
def test_api_belief_from_proba(backend_name, data, kernel_inputs):
    proba, atol = data.draw(kernel_inputs.proba())
    p = proba.astype(np.float64)
    sums = np.zeros(p.shape[0])
    for c in range(p.shape[1]):  # the spec: row sums accumulated left to right in float64
        sums += p[:, c]
    good = np.isfinite(p).all() and (p >= 0).all() and (np.abs(sums - 1) <= atol * (1 + 1e-9)).all()
    bad = not np.isfinite(p).all() or (p < 0).any() or (np.abs(sums - 1) > atol * (1 + 1e-6) + 1e-15).any()
    if bad:
        with pytest.raises(ValueError, match="proba: row"):
            crembo.belief_from_proba(proba, atol=atol, backend=backend_name)
    elif good:
        belief = crembo.belief_from_proba(proba, atol=atol, backend=backend_name)
        np.testing.assert_array_equal(belief, p / sums[:, None])
        np.testing.assert_allclose(belief.sum(axis=1), 1.0, rtol=0, atol=1e-14)


@given(data=st.data())
def test_api_belief_from_logits(backend_name, data, kernel_inputs):
    logits = data.draw(kernel_inputs.logits())
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    expected = e / e.sum(axis=1, keepdims=True)
    belief = crembo.belief_from_logits(logits, backend=backend_name)
    np.testing.assert_allclose(belief, expected, rtol=1e-12, atol=1e-300)
    # shifting every logit of a row by a constant changes nothing (up to rounding of the shift)
    np.testing.assert_allclose(crembo.belief_from_logits(z + 3.0, backend=backend_name), belief, rtol=1e-9, atol=1e-300)
