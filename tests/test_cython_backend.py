"""Targeted checks of the Cython backend against the reference (the full kernel suite is test_kernels.py)."""

import numpy as np
import pytest

pytest.importorskip("crembo._ext._depths")

import crembo
from crembo.backends import cython_backend as cy
from crembo.backends import reference as ref


def assert_bitwise(a, b):
    """Same dtype, shape and bits (NaNs compared as NaN); Python scalars compared by value and type."""
    if isinstance(b, tuple):
        assert isinstance(a, tuple) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_bitwise(x, y)
        return
    if not isinstance(b, np.ndarray):
        assert type(a) is type(b), (a, b)
        assert (np.isnan(a) and np.isnan(b)) if isinstance(b, float) and np.isnan(b) else a == b
        if isinstance(b, float):
            assert np.signbit(a) == np.signbit(b)
        return
    assert a.dtype == b.dtype and a.shape == b.shape
    if a.dtype.kind == "f":
        nan = np.isnan(a) & np.isnan(b)
        a, b = np.where(nan, 0, a), np.where(nan, 0, b)
        np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))
    else:
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    n, k, T = 40_000, 7, 31  # several vote blocks, hash parts and depth parts per thread
    votes = rng.integers(-1, k + 1, size=(T, n)).astype(np.int16)  # ~20% invalid
    good = rng.integers(0, k, size=(T, n)).astype(np.int32)
    belief = ref.vote_belief(good, k)[0]
    labels = rng.integers(-1, k + 1, size=n).astype(np.int64)
    proba = rng.random((n, k))
    proba /= proba.sum(axis=1, keepdims=True)
    return dict(votes=votes, good=good, belief=belief, labels=labels, proba=proba, k=k, rng=rng)


def _calls(d):
    b, lab, k = d["belief"], d["labels"], d["k"]
    return {
        "vote_counts": lambda m, t: m.vote_counts(d["votes"], k, t),
        "vote_belief": lambda m, t: m.vote_belief(d["votes"], k, t),
        "belief_status": lambda m, t: m.belief_status(d["proba"], 1e-5, t),
        "normalize_belief": lambda m, t: m.normalize_belief(d["proba"], 1e-5, t),
        "unique_values": lambda m, t: m.unique_values(b, t),
        "unique_values_many": lambda m, t: m.unique_values(d["proba"], t),
        "allowed_labels": lambda m, t: m.allowed_labels(b, 3 / 31, t),
        "pointwise_depth": lambda m, t: m.pointwise_depth(b, lab, t),
        "hypothesis_depth": lambda m, t: m.hypothesis_depth(b, lab, t),
        "hypothesis_depths": lambda m, t: m.hypothesis_depths(b, np.stack([lab, np.roll(lab, 1), d["good"][0]]), t),
        "count_consistent": lambda m, t: m.count_consistent(b, lab, 4 / 31, t),
        "quantile_depth": lambda m, t: m.quantile_depth(b, lab, 1234, t),
    }


@pytest.mark.parametrize("kernel", list(_calls({"belief": None, "labels": None, "k": None})))
def test_equals_reference_and_thread_count_independent(data, kernel):
    call = _calls(data)[kernel]
    expected = call(ref, 1)
    one, two = call(cy, 1), call(cy, 2)
    assert_bitwise(one, expected)
    assert_bitwise(two, one)


def test_softmax_within_4_ulp_and_thread_independent(data):
    logits = data["rng"].standard_normal((5000, 13)) * 20
    got1, got2, expected = cy.softmax(logits, 1), cy.softmax(logits, 2), ref.softmax(logits)
    assert_bitwise(got2, got1)
    assert np.all(np.abs(got1 - expected) <= 4 * np.spacing(expected))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.int64])
def test_invalid_votes_are_counted_and_skipped(dtype):
    lo = 0 if dtype == np.uint8 else -3
    votes = np.array([[0, 1, 2, 200], [lo, 3, 2, 1], [1, 1, 4, 0]]).astype(dtype)
    counts, n_invalid = cy.vote_counts(votes, 3, 2)
    assert n_invalid == (3 if dtype == np.uint8 else 4)  # 200, 3, 4 (and -3)
    assert_bitwise((counts, n_invalid), ref.vote_counts(votes, 3))
    assert_bitwise(cy.vote_belief(votes, 3, 2), ref.vote_belief(votes, 3))
    with pytest.raises(ValueError, match="outside"):
        crembo.belief_from_votes(votes, 3, backend="cython")


@pytest.mark.parametrize("n_members", [1, 2, 7, 1000])
def test_vote_belief_odd_even_members_and_many_classes(n_members):
    rng = np.random.default_rng(n_members)
    for k in (1, 2, 10_000):
        votes = rng.integers(0, k, size=(n_members, 300)).astype(np.int32)
        assert_bitwise(cy.vote_belief(votes, k, 2), ref.vote_belief(votes, k))


def test_float32_beliefs_are_compared_in_float64():
    rng = np.random.default_rng(3)
    b32 = ref.vote_belief(rng.integers(0, 3, size=(3, 500)), 3)[0].astype(np.float32)
    labels = rng.integers(0, 3, size=500).astype(np.int32)
    thr = float(np.float32(1 / 3))  # equal to the float32 1/3, above the float64 1/3
    assert_bitwise(cy.unique_values(b32, 2), ref.unique_values(b32))
    assert_bitwise(cy.allowed_labels(b32, thr, 2), ref.allowed_labels(b32, thr))
    assert_bitwise(cy.count_consistent(b32, labels, thr, 2), ref.count_consistent(b32, labels, thr))
    assert_bitwise(cy.pointwise_depth(b32, labels, 2), ref.pointwise_depth(b32, labels))
    assert_bitwise(cy.quantile_depth(b32, labels, 7, 2), ref.quantile_depth(b32, labels, 7))
    p32 = (rng.random((200, 5)) + 0.1).astype(np.float32)
    p32 /= p32.sum(axis=1, keepdims=True)
    assert_bitwise(cy.normalize_belief(p32, 1e-5, 2), ref.normalize_belief(p32, 1e-5))


def test_unique_values_signed_zero_and_nan_fall_back_exactly():
    b = np.array([[0.5, 0.5, 0.0], [0.25, 0.75, 0.0]])
    for arr in (b, -np.abs(b * 0), np.where(b == 0, -0.0, b)):
        assert_bitwise(cy.unique_values(arr, 2), ref.unique_values(arr))
    mixed = b.copy()
    mixed[1, 2] = -0.0  # both zeros: one threshold, +0.0
    assert_bitwise(cy.unique_values(mixed, 2), ref.unique_values(mixed))
    with_nan = b.copy()
    with_nan[0, 0] = np.nan
    assert_bitwise(cy.unique_values(with_nan, 2), ref.unique_values(with_nan))


@pytest.fixture(params=[True, False], ids=["simd", "portable"])
def simd(request):
    """Run a test with the AVX-512 path (where the CPU has it) and with the portable loop."""
    old = cy.set_simd(request.param)
    yield request.param
    cy.set_simd(old)


@pytest.mark.parametrize("n_rows", [1, 2, 15, 16, 17, 333, 5000])
def test_unique_values_simd_and_portable_paths_agree_with_reference(simd, n_rows):
    rng = np.random.default_rng(n_rows)
    votes = rng.integers(0, 7, size=(41, n_rows))
    belief = ref.vote_belief(votes, 7)[0]
    late = belief.copy()
    late[-1, -1] = 0.123  # a new value in the last chunk, after long runs of hits
    for arr in (belief, late, belief.astype(np.float32), late[:, ::2], rng.random((n_rows, 3))):
        for t in (1, 2):
            assert_bitwise(cy.unique_values(arr, t), ref.unique_values(arr))
    empty_marker = belief.copy()  # the hash table's empty-slot pattern is a NaN: np.unique's answer
    empty_marker.reshape(-1)[rng.integers(0, empty_marker.size)] = np.uint64(2**64 - 1).view(np.float64)
    assert_bitwise(cy.unique_values(empty_marker, 2), ref.unique_values(empty_marker))
    if n_rows > 1:
        mixed = belief.copy()
        mixed[0, 0], mixed[-1, -1] = 0.0, -0.0
        assert_bitwise(cy.unique_values(mixed, 2), ref.unique_values(mixed))


@pytest.mark.parametrize("n_rows", [1, 7, 8, 9, 23, 200, 3000])
@pytest.mark.parametrize("label_dtype", [np.int32, np.int64])
def test_hypothesis_depths_simd_and_portable_paths_agree_with_reference(simd, n_rows, label_dtype):
    rng = np.random.default_rng(n_rows)
    k = 5
    belief = ref.vote_belief(rng.integers(0, k, size=(9, n_rows)), k)[0]
    labels = rng.integers(0, k, size=(6, n_rows)).astype(label_dtype)
    labels[1, rng.integers(0, n_rows, size=3)] = -1  # invalid labels inside gathered groups
    labels[2, rng.integers(0, n_rows, size=2)] = k
    if label_dtype is np.int64:
        labels[3, -1] = 2**40 + 1  # does not survive narrowing to 32 bits as a valid label
    specials = [belief]
    for value in (np.nan, -0.0, -0.25):
        b = belief.copy()
        b[rng.integers(0, n_rows), :] = value
        specials.append(b)
    zeros = belief.copy()  # both signs of zero, in different groups of 8 rows
    zeros[0, :], zeros[-1, :] = 0.0, -0.0
    specials.append(zeros)
    for b in specials:
        for t in (1, 2):
            assert_bitwise(cy.hypothesis_depths(b, labels, t), ref.hypothesis_depths(b, labels))
        assert_bitwise(cy.hypothesis_depth(b, labels[1], 2), ref.hypothesis_depth(b, labels[1]))
        many = np.repeat(labels[1:3], n_rows // 2 + 1, axis=0)  # m >= n: each thread whole hypotheses
        assert_bitwise(cy.hypothesis_depths(b, many, 2), ref.hypothesis_depths(b, many))


def test_depth_edge_cases():
    b = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    none_valid = np.array([-1, 2, 5])
    assert cy.hypothesis_depth(b, none_valid, 2) == (np.inf, 3)
    assert cy.quantile_depth(b, none_valid, 0, 2) == (np.inf, 3)
    labels = np.array([1, -1, 0])
    for rank in (0, 1, 2, 10**12):  # rank is clipped to n_valid - 1
        assert_bitwise(cy.quantile_depth(b, labels, rank, 2), ref.quantile_depth(b, labels, rank))
    many = np.random.default_rng(0).integers(-1, 3, size=(50, 3))  # m > n: parallel over hypotheses
    assert_bitwise(cy.hypothesis_depths(b, many, 2), ref.hypothesis_depths(b, many))


def test_public_api_accepts_read_only_and_non_contiguous_inputs():
    rng = np.random.default_rng(5)
    votes = rng.integers(0, 4, size=(9, 400)).astype(np.int64)[:, ::2]
    votes.setflags(write=False)
    belief = crembo.belief_from_votes(votes, 4, backend="cython", n_jobs=2)
    assert_bitwise(belief, crembo.belief_from_votes(votes, 4, backend="reference"))
    fortran = np.asfortranarray(belief)
    fortran.setflags(write=False)
    y = rng.integers(0, 4, size=200)[::-1]
    for fn in (crembo.thresholds, lambda b: crembo.pointwise_depth(b, y), lambda b: crembo.hypothesis_depth(b, y)):
        with crembo.use_backend("reference"):
            expected = fn(fortran)
        assert_bitwise(fn(fortran), expected)
