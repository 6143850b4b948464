"""Every backend kernel returns exactly what the reference backend returns.

The reference backend (``crembo.backends.reference``) is the executable spec. Each native
backend listed by ``crembo.available_backends()`` is compared with it on random inputs drawn by
hypothesis and on hand-picked edge cases: bitwise equality (NaN positions included), except
``softmax`` which may differ by a few ulps because ``exp`` differs between libms. The reference is
also compared with itself, so this file exercises the generators when it is the only backend.
Then the public API is checked against plain NumPy expressions of the definitions in the
docstrings of ``crembo.beliefs`` and ``crembo.depth``.
"""

import functools
import threading
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import crembo
from crembo import backends
from crembo._validation import FLOAT_DTYPES, LABEL_DTYPES, VOTE_DTYPES
from crembo.backends import KERNELS
from crembo.backends import reference as ref



def _loadable_backends():
    names = []
    for name in crembo.available_backends():
        try:
            crembo.get_backend(name)
        except ImportError:  # listed, but its module is not there (see conftest.backend_name)
            continue
        names.append(name)
    return names


AVAILABLE_BACKENDS = _loadable_backends()

SOFTMAX_MAX_ULP = 4

SEEDS = st.integers(0, 2**32 - 1)
# Small class counts are the common case; the large ones hit uint8/int16 limits and k = 10,000.
N_CLASSES = st.one_of(st.integers(1, 12), st.sampled_from([255, 256, 257, 1000, 10_000]))
N_MEMBERS = st.one_of(st.integers(1, 12), st.sampled_from([100, 255, 256, 1000]))
N_THREADS = st.sampled_from([1, 2])  # 3 (oversubscribed here) in test_thread_count_independence


# ---------------------------------------------------------------------------------------------
# comparison


def assert_same(actual, expected, *, max_ulp=None, where=""):
    """Bitwise equality of kernel results: same structure, shapes, dtypes, values and NaNs."""
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple), f"{where}: expected a tuple, got {type(actual)}"
        assert len(actual) == len(expected), f"{where}: tuple length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same(a, e, max_ulp=max_ulp, where=f"{where}[{i}]")
        return
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{where}: expected an ndarray, got {type(actual)}"
        assert actual.shape == expected.shape, f"{where}: shape {actual.shape} != {expected.shape}"
        assert actual.dtype == expected.dtype, f"{where}: dtype {actual.dtype} != {expected.dtype}"
        if expected.dtype.kind == "f":
            np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected), err_msg=f"{where}: NaN positions")
            if max_ulp is not None:
                ok = ~np.isnan(expected)
                np.testing.assert_array_max_ulp(actual[ok], expected[ok], maxulp=max_ulp)
                return
        np.testing.assert_array_equal(actual, expected, err_msg=where, strict=True)
        return
    # scalars: counts are ints, depths are floats (possibly +inf)
    if isinstance(expected, (int, np.integer)) and not isinstance(expected, bool):
        assert isinstance(actual, (int, np.integer)), f"{where}: expected an int, got {actual!r}"
        assert int(actual) == int(expected), f"{where}: {actual!r} != {expected!r}"
        return
    assert isinstance(actual, (float, np.floating)), f"{where}: expected a float, got {actual!r}"
    if np.isnan(expected):
        assert np.isnan(actual), f"{where}: {actual!r} != nan"
    else:
        assert float(actual) == float(expected), f"{where}: {actual!r} != {expected!r}"


def check_kernel(backend_name, kernel, args, n_threads=1):
    """Run ``kernel`` on the backend and on the reference, compare; return the reference result."""
    expected = getattr(ref, kernel)(*args, n_threads=1)
    actual = getattr(crembo.get_backend(backend_name), kernel)(*args, n_threads)
    if kernel == "normalize_belief":
        # rows with a non-zero status hold unspecified values; compare the status and good rows
        assert_same(actual[1], expected[1], where=f"{backend_name}.{kernel} status")
        ok = expected[1] == ref.ROW_OK
        assert_same(actual[0][ok], expected[0][ok], where=f"{backend_name}.{kernel} belief")
        assert actual[0].shape == expected[0].shape and actual[0].dtype == expected[0].dtype
    else:
        assert_same(
            actual,
            expected,
            max_ulp=SOFTMAX_MAX_ULP if kernel == "softmax" else None,
            where=f"{backend_name}.{kernel}",
        )
    return expected


# ---------------------------------------------------------------------------------------------
# input generators (a seed drawn by hypothesis drives NumPy, so examples are fast and shrink well)


def _invalid_values(dtype, n_classes):
    """Values of ``dtype`` outside [0, n_classes), including the dtype's extremes."""
    info = np.iinfo(dtype)
    candidates = [-1, -2, n_classes, n_classes + 1, info.min, info.max]
    return np.array([c for c in candidates if info.min <= c <= info.max and not 0 <= c < n_classes], dtype=dtype)


def _inject_invalid(arr, n_classes, fraction, rng):
    bad = _invalid_values(arr.dtype, n_classes)
    if fraction <= 0 or bad.size == 0:
        return arr
    mask = rng.random(arr.shape) < fraction
    arr[mask] = rng.choice(bad, size=int(mask.sum()))
    return arr


def make_votes(n_members, n, n_classes, dtype, seed, invalid_fraction=0.0, concentrated=False):
    rng = np.random.default_rng(seed)
    top = min(n_classes, np.iinfo(dtype).max + 1)
    if concentrated:  # most members agree on one or two classes: many ties and zero columns
        favourites = rng.integers(0, top, size=(2, n))
        pick = rng.random((n_members, n)) < 0.5
        votes = np.where(pick, favourites[0], favourites[1])
    else:
        votes = rng.integers(0, top, size=(n_members, n))
    votes = votes.astype(dtype)
    return _inject_invalid(votes, n_classes, invalid_fraction, rng)


def make_belief(kind, n, n_classes, dtype, seed, n_members=10):
    rng = np.random.default_rng(seed)
    k = n_classes
    if kind == "votes":  # few distinct values: multiples of 1/T, with ties
        classes = rng.integers(0, k, size=(n_members, n))
        counts = np.zeros((n, k))
        np.add.at(counts, (np.tile(np.arange(n), n_members), classes.ravel()), 1)
        belief = counts / n_members
    elif kind == "dirichlet":  # many distinct values
        belief = rng.dirichlet(np.full(k, 0.5), size=n)
    elif kind == "onehot":
        belief = np.zeros((n, k))
        belief[np.arange(n), rng.integers(0, k, size=n)] = 1.0
    elif kind == "uniform":  # every entry tied
        belief = np.full((n, k), 1.0 / k)
    elif kind == "sparse":  # mostly zeros, a few rows of random support
        belief = rng.random((n, k)) * (rng.random((n, k)) < 2.0 / k)
        empty = belief.sum(axis=1) == 0
        belief[empty, 0] = 1.0
        belief /= belief.sum(axis=1, keepdims=True)
    else:
        raise AssertionError(kind)
    return np.ascontiguousarray(belief.astype(dtype))


def make_labels(shape, n_classes, dtype, seed, invalid_fraction=0.0, belief=None):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=shape)
    if belief is not None and rng.random() < 0.5:  # deep labels: the top class of each row
        labels = np.broadcast_to(belief.argmax(axis=1), shape).copy()
    labels = labels.astype(dtype)
    return _inject_invalid(labels, n_classes, invalid_fraction, rng)


def pick_threshold(belief, seed):
    """A threshold that matters: a belief value, its float neighbours, or a special value."""
    rng = np.random.default_rng(seed)
    value = float(belief.flat[rng.integers(belief.size)])
    options = [
        value,
        float(np.nextafter(value, np.inf)),
        float(np.nextafter(value, -np.inf)),
        0.0,
        -0.0,
        1.0,
        0.5,
        1.0 / 3.0,
        float(rng.random()),
        -np.inf,
        np.inf,
        1e-300,
    ]
    return options[rng.integers(len(options))]


@st.composite
def belief_args(draw, max_cells=50_000):
    kind = draw(st.sampled_from(["votes", "dirichlet", "onehot", "uniform", "sparse"]))
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    k = draw(N_CLASSES)
    n = draw(st.integers(1, max(1, min(200, max_cells // k))))
    n_members = draw(N_MEMBERS)
    return make_belief(kind, n, k, dtype, draw(SEEDS), n_members=n_members)


@st.composite
def labels_for(draw, belief, matrix=False):
    n, k = belief.shape
    dtype = draw(st.sampled_from(LABEL_DTYPES))
    invalid = draw(st.sampled_from([0.0, 0.0, 0.0, 0.05, 1.0]))
    shape = (draw(st.integers(1, 12)), n) if matrix else (n,)
    return make_labels(shape, k, dtype, draw(SEEDS), invalid, belief)


@st.composite
def vote_args(draw):
    dtype = draw(st.sampled_from(VOTE_DTYPES))
    k = draw(N_CLASSES)
    n_members = draw(N_MEMBERS)
    n = draw(st.integers(1, max(1, min(400, 40_000 // n_members, 200_000 // k))))
    invalid = draw(st.sampled_from([0.0, 0.0, 0.0, 0.05, 1.0]))
    concentrated = draw(st.booleans())
    return make_votes(n_members, n, k, dtype, draw(SEEDS), invalid, concentrated), k


@st.composite
def logits_args(draw):
    rng = np.random.default_rng(draw(SEEDS))
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    k = draw(N_CLASSES)
    n = draw(st.integers(1, max(1, min(200, 50_000 // k))))
    scale = draw(st.sampled_from([1e-3, 1.0, 30.0, 1e3, 1e5]))
    logits = rng.standard_normal((n, k)) * scale
    if draw(st.booleans()):  # ties: integer logits, and some constant rows
        logits = np.round(logits)
        logits[rng.random(n) < 0.2] = 7.0
    logits += draw(st.sampled_from([0.0, -50.0, 1e4]))
    return np.ascontiguousarray(logits.astype(dtype))


@st.composite
def proba_args(draw):
    """Probability rows, some corrupted: off by less/more than atol, negative, NaN, inf, zero."""
    rng = np.random.default_rng(draw(SEEDS))
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    atol = draw(st.sampled_from([1e-5, 1e-5, 0.0, 1e-9, 1e-3]))
    k = draw(N_CLASSES)
    n = draw(st.integers(1, max(1, min(200, 50_000 // k))))
    proba = rng.dirichlet(np.full(k, 0.7), size=n)
    corrupt = rng.random(n) < draw(st.sampled_from([0.0, 0.2, 0.8]))
    for i in np.flatnonzero(corrupt):
        how = rng.integers(8)
        j = rng.integers(k)
        if how == 0:
            proba[i] *= 1 + 0.5 * max(atol, 1e-12) * rng.choice([-1, 1])
        elif how == 1:
            proba[i] *= 1 + 3 * max(atol, 1e-9) * rng.choice([-1, 1])
        elif how == 2:
            proba[i, j] = -rng.choice([1e-300, 1e-9, 0.5])
        elif how == 3:
            proba[i, j] = np.nan
        elif how == 4:
            proba[i, j] = rng.choice([np.inf, -np.inf])
        elif how == 5:
            proba[i] = 0.0
        elif how == 6:
            proba[i] *= 1e-3
        else:
            proba[i, j] = -0.0
    return np.ascontiguousarray(proba.astype(dtype)), atol


# ---------------------------------------------------------------------------------------------
# every kernel vs the reference, on random inputs


def test_kernel_list_is_complete():
    for name in AVAILABLE_BACKENDS:
        module = crembo.get_backend(name)
        missing = [k for k in KERNELS if not callable(getattr(module, k, None))]
        assert not missing, f"backend {name!r} lacks kernels {missing}"
        assert module.NAME == name


@given(case=vote_args(), n_threads=N_THREADS)
def test_vote_counts(backend_name, case, n_threads):
    votes, k = case
    counts, n_invalid = check_kernel(backend_name, "vote_counts", (votes, k), n_threads)
    ok = (votes >= 0) & (votes < k)
    assert n_invalid == np.count_nonzero(~ok)
    np.testing.assert_array_equal(counts.sum(axis=1), ok.sum(axis=0))


@given(case=vote_args(), n_threads=N_THREADS)
def test_vote_belief(backend_name, case, n_threads):
    votes, k = case
    check_kernel(backend_name, "vote_belief", (votes, k), n_threads)


@given(logits=logits_args(), n_threads=N_THREADS)
def test_softmax(backend_name, logits, n_threads):
    p = check_kernel(backend_name, "softmax", (logits,), n_threads)
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


@given(case=proba_args(), n_threads=N_THREADS)
def test_belief_status(backend_name, case, n_threads):
    proba, atol = case
    check_kernel(backend_name, "belief_status", (proba, atol), n_threads)


@given(case=proba_args(), n_threads=N_THREADS)
def test_normalize_belief(backend_name, case, n_threads):
    proba, atol = case
    check_kernel(backend_name, "normalize_belief", (proba, atol), n_threads)


@given(belief=belief_args(), n_threads=N_THREADS)
def test_unique_values(backend_name, belief, n_threads):
    check_kernel(backend_name, "unique_values", (belief,), n_threads)


@given(belief=belief_args(), seed=SEEDS, n_threads=N_THREADS)
def test_allowed_labels(backend_name, belief, seed, n_threads):
    check_kernel(backend_name, "allowed_labels", (belief, pick_threshold(belief, seed)), n_threads)


@given(data=st.data(), belief=belief_args(), n_threads=N_THREADS)
def test_pointwise_depth(backend_name, data, belief, n_threads):
    labels = data.draw(labels_for(belief))
    check_kernel(backend_name, "pointwise_depth", (belief, labels), n_threads)


@given(data=st.data(), belief=belief_args(), n_threads=N_THREADS)
def test_hypothesis_depth(backend_name, data, belief, n_threads):
    labels = data.draw(labels_for(belief))
    check_kernel(backend_name, "hypothesis_depth", (belief, labels), n_threads)


@given(data=st.data(), belief=belief_args(max_cells=30_000), n_threads=N_THREADS)
def test_hypothesis_depths(backend_name, data, belief, n_threads):
    label_matrix = data.draw(labels_for(belief, matrix=True))
    check_kernel(backend_name, "hypothesis_depths", (belief, label_matrix), n_threads)


@given(data=st.data(), belief=belief_args(), seed=SEEDS, n_threads=N_THREADS)
def test_count_consistent(backend_name, data, belief, seed, n_threads):
    labels = data.draw(labels_for(belief))
    check_kernel(backend_name, "count_consistent", (belief, labels, pick_threshold(belief, seed)), n_threads)


@given(data=st.data(), belief=belief_args(), n_threads=N_THREADS)
def test_quantile_depth(backend_name, data, belief, n_threads):
    labels = data.draw(labels_for(belief))
    n = belief.shape[0]
    # rank 0 is the min; ranks at and beyond n are clipped to the largest valid depth
    rank = data.draw(st.one_of(st.integers(0, n - 1), st.sampled_from([0, n - 1, n, n + 1, 3 * n + 7])))
    check_kernel(backend_name, "quantile_depth", (belief, labels, rank), n_threads)


# ---------------------------------------------------------------------------------------------
# hand-picked edge cases


def _edge_cases():
    cases = []
    # one sample, one class; one member
    one = np.zeros((1, 1), dtype=np.int64)
    cases += [("vote_counts", (one, 1)), ("vote_belief", (one, 1))]
    b11 = np.ones((1, 1))
    l1 = np.zeros(1, dtype=np.int64)
    for kernel, args in [
        ("softmax", (np.array([[3.0]]),)),
        ("belief_status", (b11, 1e-5)),
        ("normalize_belief", (b11, 1e-5)),
        ("unique_values", (b11,)),
        ("allowed_labels", (b11, 1.0)),
        ("pointwise_depth", (b11, l1)),
        ("hypothesis_depth", (b11, l1)),
        ("hypothesis_depths", (b11, l1[None, :])),
        ("count_consistent", (b11, l1, 1.0)),
        ("quantile_depth", (b11, l1, 0)),
        ("quantile_depth", (b11, l1, 5)),
    ]:
        cases.append((kernel, args))
    # k = 10,000 classes and T = 1,000 members
    votes = make_votes(1000, 7, 10_000, np.int16, seed=1)
    cases += [("vote_counts", (votes, 10_000)), ("vote_belief", (votes, 10_000))]
    # uint8 votes at the edge of the dtype: 255 is valid for k = 256, invalid for k = 255
    v8 = np.array([[255, 0, 254], [255, 255, 1]], dtype=np.uint8)
    cases += [("vote_counts", (v8, 256)), ("vote_counts", (v8, 255)), ("vote_belief", (v8, 255))]
    # every vote invalid, and the signed extremes
    for dtype in VOTE_DTYPES:
        bad = _invalid_values(dtype, 3)
        cases.append(("vote_counts", (np.tile(bad, (3, 1)).astype(dtype), 3)))
        cases.append(("vote_belief", (np.tile(bad, (2, 1)).astype(dtype), 3)))
    # ties everywhere: a belief of 1/k, the min attained by every sample
    tied = np.full((50, 4), 0.25)
    lab = np.arange(50, dtype=np.int32) % 4
    cases += [
        ("quantile_depth", (tied, lab, 17)),
        ("hypothesis_depth", (tied, lab)),
        ("count_consistent", (tied, lab, 0.25)),
        ("count_consistent", (tied, lab, float(np.nextafter(0.25, 1)))),
        ("unique_values", (tied.astype(np.float32),)),
    ]
    # every label invalid: depths are NaN / +inf, all counted
    for dtype in LABEL_DTYPES:
        bad = np.resize(_invalid_values(dtype, 4), 50).astype(dtype)
        cases += [
            ("pointwise_depth", (tied, bad)),
            ("hypothesis_depth", (tied, bad)),
            ("hypothesis_depths", (tied, np.stack([bad, lab.astype(dtype)]))),
            ("count_consistent", (tied, bad, 0.0)),
            ("quantile_depth", (tied, bad, 0)),
        ]
    # softmax: equal logits, a dominant logit, huge magnitudes in both directions, one column
    cases += [
        ("softmax", (np.zeros((3, 5)),)),
        ("softmax", (np.array([[0.0, 800.0, -800.0], [-1e300, 1e300, 0.0]]),)),
        ("softmax", (np.array([[1.0, 2.0], [-745.0, 0.0]], dtype=np.float32),)),
        ("softmax", (np.full((4, 1), -3.5),)),
    ]
    # status: a negative zero is fine; NaN beats negative beats bad sum
    st_rows = np.array([[0.5, 0.5], [-0.0, 1.0], [np.nan, -1.0], [-1.0, 5.0], [0.0, 0.0], [np.inf, 0.0]])
    cases += [("belief_status", (st_rows, 1e-5)), ("normalize_belief", (st_rows, 1e-5))]
    return cases


EDGE_CASES = _edge_cases()


@pytest.mark.parametrize("case", range(len(EDGE_CASES)), ids=lambda i: f"{i}-{EDGE_CASES[i][0]}")
def test_edge_cases(backend_name, case):
    kernel, args = EDGE_CASES[case]
    check_kernel(backend_name, kernel, args, n_threads=2)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_zero_depths_and_thresholds_are_positive_zero(backend_name, dtype):
    """-0.0 == +0.0, and a depth or threshold that is zero is +0.0, whichever signs of zero the
    belief holds and in whatever order (no backend reproduces np.min's pick between them)."""
    module = crembo.get_backend(backend_name)
    z = np.array([0.0, -0.0])
    for signs in ([1], [0, 1], [1, 0], [1, 0, 1, 1]):
        belief = np.array([[1.0, z[s]] for s in signs] + [[0.5, 0.5]] * 20, dtype=dtype)
        labels = np.ones(belief.shape[0], dtype=np.int64)
        for n_threads in (1, 2):
            zeros = [
                module.hypothesis_depth(belief, labels, n_threads)[0],
                *module.hypothesis_depths(belief, np.stack([labels, labels]), n_threads)[0],
                module.quantile_depth(belief, labels, 0, n_threads)[0],
                module.unique_values(belief, n_threads)[0],
            ]
            assert all(x == 0 and not np.signbit(x) for x in zeros), (signs, n_threads, zeros)


# ---------------------------------------------------------------------------------------------
# thread-count independence on inputs big enough to be split between threads


@functools.lru_cache(maxsize=None)
def _medium_data(dtype_name="int32"):
    n, k, t = 40_003, 10, 32  # several parallel blocks in every backend; odd n: uneven splits
    votes = make_votes(t, n, k, np.dtype(dtype_name).type, seed=7, invalid_fraction=0.001)
    belief = make_belief("votes", n, k, np.float64, seed=8, n_members=t)
    soft = make_belief("dirichlet", n, k, np.float32, seed=9)
    # few distinct values in most blocks, many in a few (hash-set and fallback paths together)
    mixed = belief.copy()
    mixed[20_000:21_000] = make_belief("dirichlet", 1000, k, np.float64, seed=13)
    labels = make_labels((n,), k, np.int64, seed=10, invalid_fraction=0.0)
    labels_bad = make_labels((n,), k, np.int32, seed=11, invalid_fraction=0.001)
    rng = np.random.default_rng(12)
    proba = rng.dirichlet(np.ones(k), size=n)
    proba[rng.random(n) < 0.01] *= 1.001
    proba[5, 3] = np.nan
    proba[n - 3, 0] = -0.1
    logits = rng.standard_normal((n, k)) * 5
    label_matrix = np.stack([labels, labels[::-1].copy(), (labels + 1) % k])
    return {
        "vote_counts": ("vote_counts", (votes, k)),
        "vote_belief": ("vote_belief", (votes, k)),
        "softmax": ("softmax", (logits,)),
        "belief_status": ("belief_status", (proba, 1e-5)),
        "normalize_belief": ("normalize_belief", (proba, 1e-5)),
        "unique_values[soft]": ("unique_values", (soft,)),
        "unique_values[votes]": ("unique_values", (belief,)),
        "unique_values[mixed]": ("unique_values", (mixed,)),
        "allowed_labels": ("allowed_labels", (belief, 0.25)),
        "pointwise_depth": ("pointwise_depth", (belief, labels_bad)),
        "hypothesis_depth": ("hypothesis_depth", (soft, labels)),
        "hypothesis_depth[votes]": ("hypothesis_depth", (belief, labels_bad)),
        "hypothesis_depths": ("hypothesis_depths", (belief, label_matrix)),
        "count_consistent": ("count_consistent", (soft, labels_bad, 0.1)),
        "quantile_depth": ("quantile_depth", (belief, labels, n // 10)),
        "quantile_depth[invalid]": ("quantile_depth", (soft, labels_bad, n - 7)),
    }


_REFERENCE_CACHE = {}


def _check_medium(backend_name, case, dtype_name="int32"):
    """Compare with the reference (computed once per input: np.add.at on 40,000 x 32 is slow)."""
    kernel, args = _medium_data(dtype_name)[case]
    key = (case, dtype_name)
    if key not in _REFERENCE_CACHE:
        _REFERENCE_CACHE[key] = getattr(ref, kernel)(*args, n_threads=1)
    module = crembo.get_backend(backend_name)
    one = getattr(module, kernel)(*args, 1)
    for n_threads in (2, 3, 7):  # 7 > cores: more threads than blocks for some kernels
        assert_same(getattr(module, kernel)(*args, n_threads), one, where=f"{backend_name}.{case} threads={n_threads}")
    expected = _REFERENCE_CACHE[key]
    if kernel == "normalize_belief":
        ok = expected[1] == ref.ROW_OK
        assert_same(one[1], expected[1], where=f"{backend_name}.{case} status")
        assert_same(one[0][ok], expected[0][ok], where=f"{backend_name}.{case} belief")
    else:
        assert_same(one, expected, max_ulp=SOFTMAX_MAX_ULP if kernel == "softmax" else None, where=f"{backend_name}.{case}")


MEDIUM_CASES = list(_medium_data("int32"))


@pytest.mark.parametrize("case", MEDIUM_CASES)
def test_thread_count_independence(backend_name, case):
    """1, 2, 3 and 7 threads give identical results, equal to the reference."""
    _check_medium(backend_name, case)


@pytest.mark.parametrize("dtype", VOTE_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", ["vote_counts", "vote_belief"])
def test_vote_kernels_threads_all_dtypes(backend_name, case, dtype):
    _check_medium(backend_name, case, np.dtype(dtype).name)


# ---------------------------------------------------------------------------------------------
# the public API against NumPy expressions of the definitions (crembo.beliefs, crembo.depth)


@given(case=vote_args())
def test_api_belief_from_votes(backend_name, case):
    votes, k = case
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


@given(belief=belief_args(), data=st.data())
def test_api_depths(backend_name, belief, data):
    n, k = belief.shape
    y = data.draw(labels_for(belief).filter(lambda y: ((y >= 0) & (y < y.dtype.type(k))).all()))
    gathered = belief[np.arange(n), y].astype(np.float64)
    kw = {"backend": backend_name, "validate": False}
    np.testing.assert_array_equal(crembo.pointwise_depth(belief, y, **kw), gathered)
    depth = crembo.hypothesis_depth(belief, y, **kw)
    assert depth == gathered.min()
    assert crembo.quantile_depth(belief, y, 0.0, **kw) == depth  # eps = 0 is the min
    eps = data.draw(st.floats(0, 1, exclude_max=True))
    assert crembo.quantile_depth(belief, y, eps, **kw) == np.sort(gathered)[min(int(np.floor(eps * n)), n - 1)]
    others = (y + np.arange(n)) % k
    np.testing.assert_array_equal(
        crembo.hypothesis_depths(belief, np.stack([y, others]), **kw),
        [depth, belief[np.arange(n), others].astype(np.float64).min()],
    )
    # the API refuses thresholds outside [0, 1] (test_validation); the kernels take any
    probes = [depth, float(np.nextafter(depth, 2)), 0.0, 0.5, pick_threshold(belief, data.draw(SEEDS))]
    for d in [d for d in probes if 0 <= d <= 1]:
        count = crembo.count_consistent(belief, y, d, **kw)
        assert count == np.count_nonzero(gathered >= d)
        # f is consistent with Y(d) iff D(f) >= d, iff every prediction is allowed
        assert crembo.is_consistent(belief, y, d, **kw) == (depth >= d)
        allowed = crembo.allowed_labels(belief, d, **kw)
        np.testing.assert_array_equal(allowed, belief.astype(np.float64) >= d)
        assert allowed[np.arange(n), y].all() == (depth >= d)


@given(belief=belief_args())
def test_api_thresholds_and_allowed_labels(backend_name, belief):
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


@given(case=proba_args())
def test_api_belief_from_proba(backend_name, case):
    proba, atol = case
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


@given(logits=logits_args())
def test_api_belief_from_logits(backend_name, logits):
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    expected = e / e.sum(axis=1, keepdims=True)
    belief = crembo.belief_from_logits(logits, backend=backend_name)
    np.testing.assert_allclose(belief, expected, rtol=1e-12, atol=1e-300)
    # shifting every logit of a row by a constant changes nothing (up to rounding of the shift)
    np.testing.assert_allclose(crembo.belief_from_logits(z + 3.0, backend=backend_name), belief, rtol=1e-9, atol=1e-300)


def test_api_paper_example(backend_name):
    # 4 members, 3 samples, 3 classes: the worked example of the definitions
    votes = np.array([[0, 1, 2], [0, 1, 1], [0, 2, 1], [1, 2, 1]])
    belief = crembo.belief_from_votes(votes, 3, backend=backend_name)
    np.testing.assert_array_equal(belief, [[0.75, 0.25, 0], [0, 0.5, 0.5], [0, 0.75, 0.25]])
    np.testing.assert_array_equal(crembo.thresholds(belief, backend=backend_name), [0, 0.25, 0.5, 0.75])
    assert crembo.hypothesis_depth(belief, [0, 1, 1], backend=backend_name) == 0.5
    assert crembo.hypothesis_depth(belief, [0, 2, 1], backend=backend_name) == 0.5
    assert crembo.hypothesis_depth(belief, [0, 1, 2], backend=backend_name) == 0.25
    np.testing.assert_array_equal(crembo.hypothesis_depths(belief, votes, backend=backend_name), [0.25, 0.5, 0.5, 0.25])
    assert crembo.is_consistent(belief, [0, 1, 1], 0.5, backend=backend_name)
    assert not crembo.is_consistent(belief, [0, 1, 1], 0.75, backend=backend_name)
    assert crembo.count_consistent(belief, [0, 1, 1], 0.75, backend=backend_name) == 2
    assert crembo.quantile_depth(belief, [0, 1, 2], 0.34, backend=backend_name) == 0.5  # floor(1.02) = 1
    assert crembo.quantile_depth(belief, [0, 1, 2], 0.67, backend=backend_name) == 0.75
    np.testing.assert_array_equal(
        crembo.allowed_labels(belief, 0.5, backend=backend_name),
        [[True, False, False], [False, True, True], [False, True, False]],
    )


# ---------------------------------------------------------------------------------------------
# backend selection


def test_available_backends():
    names = crembo.available_backends()
    assert names[-1] == "reference"
    assert set(names) <= {"cython", "numba", "reference"}
    assert names == [n for n in ("cython", "numba", "reference") if n in names]  # fastest first


def _spy(monkeypatch, name, kernel="hypothesis_depth"):
    module = crembo.get_backend(name)
    calls = []
    original = getattr(module, kernel)

    def wrapper(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, kernel, wrapper)
    return calls


def test_backend_per_call(monkeypatch, backend_name):
    calls = {name: _spy(monkeypatch, name) for name in AVAILABLE_BACKENDS}
    belief, y = np.array([[0.5, 0.5]]), [1]
    assert crembo.hypothesis_depth(belief, y, backend=backend_name) == 0.5
    assert calls[backend_name] == [backend_name]
    assert sum(len(c) for c in calls.values()) == 1


def test_set_backend_and_use_backend(monkeypatch, backend_name):
    calls = {name: _spy(monkeypatch, name) for name in AVAILABLE_BACKENDS}
    belief, y = np.array([[0.5, 0.5]]), [1]
    crembo.set_backend(backend_name)
    assert crembo.current_backend_name() == backend_name
    crembo.hypothesis_depth(belief, y)
    assert calls[backend_name] == [backend_name]
    with crembo.use_backend("reference"):
        assert crembo.current_backend_name() == "reference"
        crembo.hypothesis_depth(belief, y)
        # the context manager is per thread: another thread still sees the global choice
        seen = []
        thread = threading.Thread(target=lambda: seen.append(crembo.current_backend_name()))
        thread.start()
        thread.join()
        assert seen == [backend_name]
    assert calls["reference"][-1] == "reference"
    assert crembo.current_backend_name() == backend_name
    crembo.set_backend(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "compiled extension not available"
        assert crembo.current_backend_name() == AVAILABLE_BACKENDS[0]


def test_use_backend_restores_on_error():
    crembo.set_backend("reference")
    with pytest.raises(RuntimeError):
        with crembo.use_backend(AVAILABLE_BACKENDS[0]):
            raise RuntimeError("boom")
    assert crembo.current_backend_name() == "reference"


@pytest.mark.parametrize("bad", ["fortran", "", "Cython", None, 3])
def test_unknown_backend(bad):
    belief = np.array([[1.0]])
    if bad is not None:
        with pytest.raises(ValueError, match="unknown backend"):
            crembo.set_backend(bad)
        with pytest.raises(ValueError, match="unknown backend"):
            with crembo.use_backend(bad):
                pass
    with pytest.raises(ValueError, match="unknown backend"):
        crembo.hypothesis_depth(belief, [0], backend=bad if bad is not None else "nope")


@pytest.mark.parametrize("name", ["cython", "numba"])
def test_unavailable_backend(monkeypatch, name):
    # simulate a missing compiled extension / numba: the import failed
    monkeypatch.setattr(backends, "_loaded", {k: v for k, v in backends._loaded.items() if k != name})
    monkeypatch.setattr(backends, "_import_errors", {name: ImportError(f"no module for {name}")})
    with pytest.raises(ImportError, match=f"backend '{name}' is not available"):
        crembo.hypothesis_depth(np.array([[1.0]]), [0], backend=name)
    with pytest.raises(ImportError):
        crembo.set_backend(name)
    with pytest.raises(ImportError):
        with crembo.use_backend(name):
            pass


# -- unique_values on many distinct values: per-thread sorts merged natively ------------------


def _many_values(case, seed=7):
    """(20000, 10) float64 with ~100,000 distinct values (past every hash limit), duplicates
    spread over the whole array (so across the sorted parts), plus the case's special values."""
    rng = np.random.default_rng(seed)
    pool = rng.random(100_000)
    values = pool[rng.integers(0, pool.size, size=200_000)]
    if case in ("pos_zero", "both_zeros"):
        values[rng.integers(0, values.size, size=50)] = 0.0
    if case in ("neg_zero", "both_zeros"):
        values[rng.integers(0, values.size, size=50)] = -0.0
    if case == "nan":
        values[[3, 150_000]] = np.nan
    return values.reshape(20_000, 10)


@pytest.mark.parametrize("backend_name", [b for b in AVAILABLE_BACKENDS if b != "reference"])
@pytest.mark.parametrize("case", ["plain", "pos_zero", "neg_zero", "both_zeros", "nan", "float32"])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_unique_values_sorted_path(backend_name, case, n_threads):
    belief = _many_values(case)
    if case == "float32":
        belief = belief.astype(np.float32)
    expected = ref.unique_values(belief)
    actual = backends.get_backend(backend_name).unique_values(belief, n_threads)
    assert actual.dtype == np.float64 and actual.shape == expected.shape
    nan = np.isnan(expected)
    assert (np.isnan(actual) == nan).all()
    assert (actual[~nan].view(np.uint64) == expected[~nan].view(np.uint64)).all()  # signs of zero too


def _native_merge(backend_name):
    if backend_name == "cython":
        from crembo._ext._unique import merge_unique_into as merge
    else:
        from crembo.backends._numba_kernels import merge_sorted_unique as merge
    return merge


@pytest.mark.parametrize("backend_name", [b for b in AVAILABLE_BACKENDS if b != "reference"])
@pytest.mark.parametrize("n_threads", [2, 3, 4])
def test_sorted_unique_merges_split_by_co_rank_keep_one_of_each_value(backend_name, n_threads):
    """Long merges are cut among the threads; runs of one value cross the cuts (and whole chunks)."""
    from crembo.backends._thread_parts import sorted_unique

    rng = np.random.default_rng(n_threads)
    for values in (
        np.full(300_000, 0.5),
        np.repeat(rng.random(7), 50_000),
        rng.integers(0, 1000, size=400_000) / 1000.0,
        rng.random(300_001).astype(np.float32),
    ):
        before = values.copy()
        actual = sorted_unique(values, n_threads, _native_merge(backend_name), values)
        expected = np.unique(values.astype(np.float64))
        assert actual.shape == expected.shape and (actual.view(np.uint64) == expected.view(np.uint64)).all()
        np.testing.assert_array_equal(values, before)  # the caller's values are not sorted in place


@pytest.mark.parametrize("backend_name", [b for b in AVAILABLE_BACKENDS if b != "reference"])
def test_merge_sorted_unique_edges(backend_name):
    merge = _native_merge(backend_name)
    cases = [
        ([], []),
        ([1.0], []),
        ([], [2.0, 2.0]),
        ([0.1, 0.1, 0.5, 0.9], [0.1, 0.5, 0.5, 1.0]),
        ([0.2, 0.3], [0.0, 0.05]),
        ([0.0, 0.7, 0.7], [0.7, 0.8, 0.8, 0.8]),
    ]
    for a, b in cases:
        a, b = np.array(a, dtype=np.float64), np.array(b, dtype=np.float64)
        out = np.empty(a.size + b.size)
        m = merge(a, b, out)
        np.testing.assert_array_equal(out[:m], np.unique(np.concatenate([a, b])))


@pytest.mark.parametrize("backend_name", [b for b in AVAILABLE_BACKENDS if b != "reference"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_softmax_bit_exact_across_chunks_and_threads(backend_name, dtype):
    """Both native softmaxes use NumPy's exp on row chunks: exactly the reference, whatever the
    chunking (n is not a multiple of the chunk) or the thread count."""
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((20_011, 7)) * 30).astype(dtype)
    expected = ref.softmax(logits)
    module = backends.get_backend(backend_name)
    for n_threads in (1, 2, 3):
        np.testing.assert_array_equal(module.softmax(logits, n_threads), expected)


# -- the fast paths of the native kernels: byte-counter votes, hash fast path, L1 depth blocks --


@pytest.mark.parametrize("backend_name", [b for b in AVAILABLE_BACKENDS if b != "reference"])
@pytest.mark.parametrize("n_members", [1, 7, 8, 9, 255, 256, 600])  # groups of 255 per byte counter
@pytest.mark.parametrize("n_classes", [1, 10, 32, 33])  # 33: past the byte-compare limit
def test_uint8_vote_counting_paths(backend_name, n_members, n_classes):
    """uint8 votes with few classes are counted with byte compares, 16 samples at a time: sample
    counts that are not multiples of 16 or of the block, and invalid votes (>= k), included."""
    rng = np.random.default_rng(n_members * 100 + n_classes)
    votes = rng.integers(0, n_classes + 3, size=(n_members, 1237)).astype(np.uint8)
    votes[:, 5] = 255
    module = backends.get_backend(backend_name)
    for n_threads in (1, 2, 3):
        for kernel in ("vote_counts", "vote_belief"):
            assert_same(getattr(module, kernel)(votes, n_classes, n_threads), getattr(ref, kernel)(votes, n_classes),
                        where=f"{kernel} T={n_members} k={n_classes}")


@pytest.mark.parametrize("backend_name", [b for b in AVAILABLE_BACKENDS if b != "reference"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_unique_values_hash_fast_path(backend_name, dtype):
    """Few distinct values in long runs of chunks that are all known, then new values late, the
    empty-slot marker (an all-ones NaN pattern), and each sign of zero alone or both."""
    rng = np.random.default_rng(11)
    module = backends.get_backend(backend_name)
    base = rng.choice(np.arange(101) / 100, size=300_000)
    marker = np.uint64(0xFFFFFFFFFFFFFFFF).view(np.float64)
    cases = {"plain": base.copy()}
    late = base.copy()
    late[-3:] = [0.123, 0.456, 0.789]  # new values in the last chunk of the last part
    cases["late"] = late
    for name, special in [("marker", marker), ("neg_zero", -0.0), ("nan", np.nan)]:
        c = base.copy()
        c[c == 0.0] = 0.5
        c[[17, 250_000]] = special
        cases[name] = c
    both = base.copy()
    both[both == 0.0] = -0.0
    both[3] = 0.0
    cases["both_zeros"] = both
    for name, values in cases.items():
        belief = values.reshape(-1, 10).astype(dtype)
        expected = ref.unique_values(belief)
        for n_threads in (1, 2, 3):
            assert_same(module.unique_values(belief, n_threads), expected, where=f"{name} threads={n_threads}")


@pytest.mark.parametrize("backend_name", [b for b in AVAILABLE_BACKENDS if b != "reference"])
@pytest.mark.parametrize("n_classes", [3, 10, 700])  # L1 sub-blocks of many, some and 64 rows
def test_hypothesis_depths_many_blocks(backend_name, n_classes):
    """Many hypotheses over many L1 sub-blocks (the next one's labels prefetched), minima late
    in the samples, and invalid labels."""
    rng = np.random.default_rng(n_classes)
    n = 40_003
    votes = rng.integers(0, n_classes, size=(15, n))
    belief = ref.vote_belief(votes, n_classes)[0]
    labels = rng.integers(-1, n_classes + 1, size=(23, n))
    labels[:, -1] = np.argmin(belief[-1])  # the minimum, possibly, at the very last sample
    module = backends.get_backend(backend_name)
    for dtype in LABEL_DTYPES:
        for n_threads in (1, 2, 3):
            assert_same(module.hypothesis_depths(belief, labels.astype(dtype), n_threads),
                        ref.hypothesis_depths(belief, labels.astype(dtype)), where=f"{dtype} threads={n_threads}")
