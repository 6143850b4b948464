"""Odd-but-valid input is accepted and gives exactly the answer of the plain input.

Odd-but-valid: non-contiguous views, read-only buffers, other int/float dtypes, byte-swapped
arrays, lists. These must give exactly the answer of the plain float64 / int64 input, on every
backend (native kernels are typed, so this is where a dtype or read-only gap would show).
Bad input and its error messages: test_validation.py.
"""

import numpy as np
import pytest

import crembo

# ---------------------------------------------------------------------------------------------
# odd but valid inputs: same answers as plain float64 / int64, on every backend


def _results(belief, y, votes, predictions, backend):
    """Every public function's answer, as a list of arrays / scalars."""
    kw = {"backend": backend}
    return [
        crembo.check_belief(belief, **kw),
        crembo.thresholds(belief, **kw),
        crembo.allowed_labels(belief, 0.25, **kw),
        crembo.pointwise_depth(belief, y, **kw),
        crembo.hypothesis_depth(belief, y, **kw),
        crembo.hypothesis_depths(belief, predictions, **kw),
        crembo.count_consistent(belief, y, 0.3, **kw),
        crembo.is_consistent(belief, y, 0.0, **kw),
        crembo.quantile_depth(belief, y, 0.4, **kw),
        crembo.belief_from_proba(belief, **kw),
        crembo.belief_from_logits(belief, **kw),
        crembo.belief_from_votes(votes, 4, **kw),
        crembo.vote_counts(votes, 4, **kw),
    ]


def _assert_same_results(actual, expected):
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e), err_msg=f"result {i}")


def _plain_inputs():
    rng = np.random.default_rng(3)
    votes = rng.integers(0, 4, size=(9, 40))
    belief = crembo.belief_from_votes(votes, 4, backend="reference")
    belief = np.round(belief * 8) / 8  # multiples of 1/8: exact in float32 too
    belief = np.where(belief.sum(axis=1, keepdims=True) == 1, belief, np.full_like(belief, 0.25))
    y = rng.integers(0, 4, size=40)
    predictions = rng.integers(0, 4, size=(3, 40))
    return belief, y, votes, predictions


def _readonly(a):
    a = np.array(a)
    a.setflags(write=False)
    return a


def _strided(a):
    """A non-contiguous view with the same values."""
    big = np.repeat(a, 2, axis=-1)
    return big[..., ::2]


VARIANTS = {
    "fortran": lambda b, y, v, p: (np.asfortranarray(b), y, np.asfortranarray(v), np.asfortranarray(p)),
    "strided": lambda b, y, v, p: (_strided(b), _strided(y), _strided(v), _strided(p)),
    "reversed": lambda b, y, v, p: (b[::-1][::-1], y[::-1][::-1], v[:, ::-1][:, ::-1], p[::-1][::-1]),
    "readonly": lambda b, y, v, p: (_readonly(b), _readonly(y), _readonly(v), _readonly(p)),
    "readonly-strided": lambda b, y, v, p: (
        _strided(_readonly(b)),
        _strided(_readonly(y)),
        _strided(_readonly(v)),
        _readonly(p),
    ),
    "float32-int32": lambda b, y, v, p: (
        b.astype(np.float32),
        y.astype(np.int32),
        v.astype(np.int32),
        p.astype(np.int32),
    ),
    "float32-readonly": lambda b, y, v, p: (
        _readonly(b.astype(np.float32)),
        _readonly(y.astype(np.int32)),
        _readonly(v.astype(np.uint8)),
        _readonly(p.astype(np.int32)),
    ),
    "uint8-int16": lambda b, y, v, p: (b, y.astype(np.uint8), v.astype(np.int16), p.astype(np.int16)),
    "int8-uint16": lambda b, y, v, p: (b, y.astype(np.int8), v.astype(np.int8), p.astype(np.uint16)),
    "uint32-uint64": lambda b, y, v, p: (b, y.astype(np.uint32), v.astype(np.uint32), p.astype(np.uint64)),
    "integral-floats": lambda b, y, v, p: (b, y.astype(np.float64), v.astype(np.float32), p.astype(np.float64)),
    "big-endian": lambda b, y, v, p: (b.astype(">f8"), y.astype(">i8"), v.astype(">i4"), p.astype(">i2")),
    "lists": lambda b, y, v, p: (b.tolist(), y.tolist(), v.tolist(), p.tolist()),
}


@pytest.mark.parametrize("variant", list(VARIANTS), ids=str)
def test_odd_inputs_same_answers(backend_name, variant):
    belief, y, votes, predictions = _plain_inputs()
    expected = _results(belief, y, votes, predictions, backend_name)
    odd = VARIANTS[variant](belief, y, votes, predictions)
    np.testing.assert_array_equal(np.asarray(odd[0], dtype=np.float64), belief)  # same values, really
    _assert_same_results(_results(*odd, backend_name), expected)


def test_float32_belief_compared_in_float64(backend_name):
    # a float32 belief whose values are not exact in binary: its answers are those of the float64
    # array holding the same (float32) values, not of the decimal values it was rounded from
    belief32 = np.array([[0.1, 0.9], [0.7, 0.3], [0.3, 0.7]], dtype=np.float32)
    y = np.array([0, 1, 1])
    as64 = belief32.astype(np.float64)
    kw = {"backend": backend_name}
    np.testing.assert_array_equal(crembo.thresholds(belief32, **kw), np.unique(as64))
    np.testing.assert_array_equal(crembo.pointwise_depth(belief32, y, **kw), as64[np.arange(3), y])
    assert crembo.hypothesis_depth(belief32, y, **kw) == as64[0, 0]
    assert crembo.count_consistent(belief32, y, 0.1, **kw) == np.count_nonzero(as64[np.arange(3), y] >= 0.1)
    np.testing.assert_array_equal(crembo.allowed_labels(belief32, 0.3, **kw), as64 >= 0.3)


def test_inputs_not_modified(backend_name):
    belief, y, votes, predictions = _plain_inputs()
    copies = [a.copy() for a in (belief, y, votes, predictions)]
    _results(belief, y, votes, predictions, backend_name)
    for a, c in zip((belief, y, votes, predictions), copies, strict=True):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("variant", ["fortran", "strided", "float32-readonly", "lists", "big-endian"])
def test_validate_false_still_converts_layout(backend_name, variant):
    # validate=False skips the value scan only; layout/dtype are still made kernel-ready
    belief, y, votes, predictions = _plain_inputs()
    odd_b, odd_y, _, odd_p = VARIANTS[variant](belief, y, votes, predictions)
    kw = {"backend": backend_name, "validate": False}
    np.testing.assert_array_equal(crembo.thresholds(odd_b, **kw), crembo.thresholds(belief, **kw))
    np.testing.assert_array_equal(crembo.allowed_labels(odd_b, 0.25, **kw), crembo.allowed_labels(belief, 0.25, **kw))
    assert crembo.hypothesis_depth(odd_b, odd_y, **kw) == crembo.hypothesis_depth(belief, y, **kw)
    np.testing.assert_array_equal(
        crembo.hypothesis_depths(odd_b, odd_p, **kw), crembo.hypothesis_depths(belief, predictions, **kw)
    )
    with pytest.raises(ValueError, match="belief must be 2-D"):
        crembo.hypothesis_depth(np.ones(3), [0, 0, 0], **kw)
    with pytest.raises(TypeError, match="belief must hold numbers"):
        crembo.thresholds([["a"]], **kw)
    np.testing.assert_array_equal(crembo.thresholds(np.ones((2, 2), np.float16), **kw), [1.0])
