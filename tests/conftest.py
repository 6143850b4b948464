"""Shared pytest configuration and helpers: a deterministic hypothesis profile, backend fixtures,
bitwise comparison of kernel results, and the environment of a child Python."""

import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import crembo
from crembo import backends
from crembo._validation import FLOAT_DTYPES, LABEL_DTYPES, VOTE_DTYPES

# Derandomized so a failure reproduces on every machine; modest example counts keep each test
# file well under a minute. `HYPOTHESIS_PROFILE=thorough pytest` runs many more examples.
settings.register_profile(
    "crembo",
    max_examples=30,
    deadline=None,
    derandomize=True,
    print_blob=True,
    # the fixtures used with @given are stateless per example (backend name, state restore)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "crembo"))

AVAILABLE_BACKENDS = crembo.available_backends()
NATIVE_BACKENDS = [name for name in AVAILABLE_BACKENDS if name != "reference"]


@pytest.fixture(scope="session", params=AVAILABLE_BACKENDS, ids=lambda name: f"backend={name}")
def backend_name(request):
    """Every backend that can run here (always includes 'reference')."""
    name = request.param
    try:
        crembo.get_backend(name)
    except ImportError as exc:
        # available_backends() only checks that numba / the extension is importable; while a
        # backend module is not written yet, skip it rather than fail every test
        if importlib.util.find_spec(backends._MODULES[name]) is None:
            pytest.skip(f"backend module {backends._MODULES[name]} does not exist yet")
        raise AssertionError(f"backend {name!r} is listed as available but fails to load: {exc}") from exc
    return name


@pytest.fixture(autouse=True)
def _restore_backend_state():
    """Tests that change the global or thread-local backend must not leak it into others."""
    global_name = backends._global["name"]
    local_name = getattr(backends._state, "name", None)
    yield
    backends._global["name"] = global_name
    backends._state.name = local_name


@pytest.fixture(scope="session", params=NATIVE_BACKENDS, ids=lambda name: f"backend={name}")
def native_backend_name(request):
    """Every compiled backend that can run here (cython, numba): their own fast paths."""
    try:
        crembo.get_backend(request.param)
    except ImportError as exc:
        pytest.skip(f"backend {request.param} does not load here: {exc}")
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def _assert_same(actual, expected, *, max_ulp=None, where=""):
    if isinstance(expected, tuple):
        assert isinstance(actual, tuple), f"{where}: expected a tuple, got {type(actual)}"
        assert len(actual) == len(expected), f"{where}: tuple length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_same(a, e, max_ulp=max_ulp, where=f"{where}[{i}]")
        return
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{where}: expected an ndarray, got {type(actual)}"
    else:  # scalars: counts are Python or NumPy ints, depths floats (possibly +inf or NaN)
        kind = (int, np.integer) if isinstance(expected, (int, np.integer)) else (float, np.floating)
        assert isinstance(actual, kind) and not isinstance(actual, bool), (
            f"{where}: {actual!r} is not like {expected!r}"
        )
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, f"{where}: shape {a.shape} != {e.shape}"
    assert a.dtype == e.dtype or not isinstance(expected, np.ndarray), f"{where}: dtype {a.dtype} != {e.dtype}"
    if e.dtype.kind != "f":
        np.testing.assert_array_equal(a, e, err_msg=where, strict=True)
        return
    nan = np.isnan(e)
    np.testing.assert_array_equal(np.isnan(a), nan, err_msg=f"{where}: NaN positions")
    a, e = a.astype(e.dtype)[~nan], e[~nan]
    if max_ulp is not None:
        np.testing.assert_array_max_ulp(a, e, maxulp=max_ulp)
        return
    bits = f"u{e.dtype.itemsize}"
    differ = np.flatnonzero(a.view(bits) != e.view(bits))  # the sign of a zero counts
    assert differ.size == 0, (
        f"{where}: {differ.size} value(s) differ, first at {differ[0]}: {a[differ[0]]!r} != {e[differ[0]]!r}"
    )


@pytest.fixture(scope="session")
def assert_same():
    """``assert_same(actual, expected, max_ulp=None, where="")``: kernel results are identical --
    same structure, shapes, dtypes and NaN positions, the same bits (a zero's sign included), or
    within ``max_ulp`` units in the last place; ``where`` names the case in a failure."""
    return _assert_same


@pytest.fixture(scope="session")
def child_env():
    """The environment of a child Python: this crembo first on its path, one OpenMP thread (the
    children's work is small, and the machine is shared)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    src = str(Path(crembo.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


# ---------------------------------------------------------------------------------------------
# kernel inputs: hypothesis strategies and the NumPy generators behind them (a seed drawn by
# hypothesis drives NumPy, so examples are fast and shrink well)

SEEDS = st.integers(0, 2**32 - 1)
# Small class counts are the common case; the large ones hit uint8/int16 limits and k = 10,000.
N_CLASSES = st.one_of(st.integers(1, 12), st.sampled_from([255, 256, 257, 1000, 10_000]))
N_MEMBERS = st.one_of(st.integers(1, 12), st.sampled_from([100, 255, 256, 1000]))


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


@pytest.fixture(scope="session")
def kernel_inputs():
    """Generators of kernel inputs, for ``data.draw(kernel_inputs.votes())`` in a ``@given(data=
    st.data())`` test: ``votes()`` -> (votes, k), ``beliefs(max_cells)``, ``labels_for(belief,
    matrix)``, ``logits()``, ``proba()`` -> (proba, atol), ``seeds``; and the NumPy makers
    ``make_votes``, ``make_belief``, ``make_labels``, ``invalid_values``, ``pick_threshold``."""
    return SimpleNamespace(
        votes=vote_args,
        beliefs=belief_args,
        labels_for=labels_for,
        logits=logits_args,
        proba=proba_args,
        seeds=SEEDS,
        make_votes=make_votes,
        make_belief=make_belief,
        make_labels=make_labels,
        invalid_values=_invalid_values,
        pick_threshold=pick_threshold,
    )
