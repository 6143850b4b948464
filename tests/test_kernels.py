"""Every backend kernel returns exactly what the reference backend returns.

The reference backend (``crembo.backends.reference``) is the executable spec. Each native
backend listed by ``crembo.available_backends()`` is compared with it on random inputs drawn by
hypothesis (``kernel_inputs`` in conftest.py) and on hand-picked edge cases: bitwise equality
(NaN positions and the signs of zeros included), except ``softmax`` which may differ by a few
ulps because ``exp`` differs between libms. The reference is also compared with itself, so this
file exercises the generators when it is the only backend. The public functions over these
kernels are checked against their definitions in test_beliefs.py and test_depth.py.
"""

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import crembo
from crembo._validation import FLOAT_DTYPES, LABEL_DTYPES, VOTE_DTYPES
from crembo.backends import KERNELS
from crembo.backends import reference as ref

SOFTMAX_MAX_ULP = 4
N_THREADS = st.sampled_from([1, 2])  # 3 (oversubscribed here) in test_thread_count_independence


@pytest.fixture(scope="session")
def check_kernel(assert_same):
    """``check_kernel(backend_name, kernel, args, n_threads=1)``: run ``kernel`` on the backend and
    on the reference, compare; return the reference result."""

    def check(backend_name, kernel, args, n_threads=1):
        expected = getattr(ref, kernel)(*args, n_threads=1)
        actual = getattr(crembo.get_backend(backend_name), kernel)(*args, n_threads)
        if kernel == "normalize_belief":
            # rows with a non-zero status hold unspecified values; compare the status and good rows
            assert_same(actual[1], expected[1], where=f"{backend_name}.{kernel} status")
            ok = expected[1] == ref.ROW_OK
            assert_same(actual[0][ok], expected[0][ok], where=f"{backend_name}.{kernel} belief")
            assert actual[0].shape == expected[0].shape and actual[0].dtype == expected[0].dtype
        else:
            max_ulp = SOFTMAX_MAX_ULP if kernel == "softmax" else None
            assert_same(actual, expected, max_ulp=max_ulp, where=f"{backend_name}.{kernel}")
        return expected

    return check


# ---------------------------------------------------------------------------------------------
# every kernel vs the reference, on random inputs


def test_kernel_list_is_complete(backend_name):
    module = crembo.get_backend(backend_name)
    missing = [k for k in KERNELS if not callable(getattr(module, k, None))]
    assert not missing, f"backend {backend_name!r} lacks kernels {missing}"
    assert module.NAME == backend_name


@given(data=st.data(), n_threads=N_THREADS)
def test_vote_counts(backend_name, check_kernel, kernel_inputs, data, n_threads):
    votes, k = data.draw(kernel_inputs.votes())
    counts, n_invalid = check_kernel(backend_name, "vote_counts", (votes, k), n_threads)
    ok = (votes >= 0) & (votes < k)
    assert n_invalid == np.count_nonzero(~ok)
    np.testing.assert_array_equal(counts.sum(axis=1), ok.sum(axis=0))


@given(data=st.data(), n_threads=N_THREADS)
def test_vote_belief(backend_name, check_kernel, kernel_inputs, data, n_threads):
    check_kernel(backend_name, "vote_belief", data.draw(kernel_inputs.votes()), n_threads)


@given(data=st.data(), n_threads=N_THREADS)
def test_softmax(backend_name, check_kernel, kernel_inputs, data, n_threads):
    p = check_kernel(backend_name, "softmax", (data.draw(kernel_inputs.logits()),), n_threads)
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


@given(data=st.data(), n_threads=N_THREADS)
def test_belief_status(backend_name, check_kernel, kernel_inputs, data, n_threads):
    check_kernel(backend_name, "belief_status", data.draw(kernel_inputs.proba()), n_threads)


@given(data=st.data(), n_threads=N_THREADS)
def test_normalize_belief(backend_name, check_kernel, kernel_inputs, data, n_threads):
    check_kernel(backend_name, "normalize_belief", data.draw(kernel_inputs.proba()), n_threads)


@given(data=st.data(), n_threads=N_THREADS)
def test_unique_values(backend_name, check_kernel, kernel_inputs, data, n_threads):
    check_kernel(backend_name, "unique_values", (data.draw(kernel_inputs.beliefs()),), n_threads)


@given(data=st.data(), n_threads=N_THREADS)
def test_allowed_labels(backend_name, check_kernel, kernel_inputs, data, n_threads):
    belief = data.draw(kernel_inputs.beliefs())
    d = kernel_inputs.pick_threshold(belief, data.draw(kernel_inputs.seeds))
    check_kernel(backend_name, "allowed_labels", (belief, d), n_threads)


@pytest.mark.parametrize("kernel", ["pointwise_depth", "hypothesis_depth"])
@given(data=st.data(), n_threads=N_THREADS)
def test_depth_of_one_hypothesis(backend_name, check_kernel, kernel_inputs, kernel, data, n_threads):
    belief = data.draw(kernel_inputs.beliefs())
    labels = data.draw(kernel_inputs.labels_for(belief))
    check_kernel(backend_name, kernel, (belief, labels), n_threads)


@given(data=st.data(), n_threads=N_THREADS)
def test_hypothesis_depths(backend_name, check_kernel, kernel_inputs, data, n_threads):
    belief = data.draw(kernel_inputs.beliefs(max_cells=30_000))
    label_matrix = data.draw(kernel_inputs.labels_for(belief, matrix=True))
    check_kernel(backend_name, "hypothesis_depths", (belief, label_matrix), n_threads)


@given(data=st.data(), n_threads=N_THREADS)
def test_count_consistent(backend_name, check_kernel, kernel_inputs, data, n_threads):
    belief = data.draw(kernel_inputs.beliefs())
    labels = data.draw(kernel_inputs.labels_for(belief))
    d = kernel_inputs.pick_threshold(belief, data.draw(kernel_inputs.seeds))
    check_kernel(backend_name, "count_consistent", (belief, labels, d), n_threads)


@given(data=st.data(), n_threads=N_THREADS)
def test_quantile_depth(backend_name, check_kernel, kernel_inputs, data, n_threads):
    belief = data.draw(kernel_inputs.beliefs())
    labels = data.draw(kernel_inputs.labels_for(belief))
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
    votes = np.random.default_rng(1).integers(0, 10_000, size=(1000, 7)).astype(np.int16)
    cases += [("vote_counts", (votes, 10_000)), ("vote_belief", (votes, 10_000))]
    # uint8 votes at the edge of the dtype: 255 is valid for k = 256, invalid for k = 255
    v8 = np.array([[255, 0, 254], [255, 255, 1]], dtype=np.uint8)
    cases += [("vote_counts", (v8, 256)), ("vote_counts", (v8, 255)), ("vote_belief", (v8, 255))]
    # ties everywhere: a belief of 1/k, the min attained by every sample
    cases += [
        ("quantile_depth", (TIED, TIED_LABELS, 17)),
        ("hypothesis_depth", (TIED, TIED_LABELS)),
        ("count_consistent", (TIED, TIED_LABELS, 0.25)),
        ("count_consistent", (TIED, TIED_LABELS, float(np.nextafter(0.25, 1)))),
        ("unique_values", (TIED.astype(np.float32),)),
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


TIED = np.full((50, 4), 0.25)
TIED_LABELS = np.arange(50, dtype=np.int32) % 4
EDGE_CASES = _edge_cases()


@pytest.mark.parametrize("case", range(len(EDGE_CASES)), ids=lambda i: f"{i}-{EDGE_CASES[i][0]}")
def test_edge_cases(backend_name, check_kernel, case):
    kernel, args = EDGE_CASES[case]
    check_kernel(backend_name, kernel, args, n_threads=2)


@pytest.mark.parametrize("dtype", VOTE_DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_vote_invalid(backend_name, check_kernel, kernel_inputs, dtype):
    """Nothing is counted, and every vote is reported (the dtype's extremes included)."""
    bad = kernel_inputs.invalid_values(dtype, 3)
    check_kernel(backend_name, "vote_counts", (np.tile(bad, (3, 1)).astype(dtype), 3), n_threads=2)
    check_kernel(backend_name, "vote_belief", (np.tile(bad, (2, 1)).astype(dtype), 3), n_threads=2)


@pytest.mark.parametrize("dtype", LABEL_DTYPES, ids=lambda d: np.dtype(d).name)
def test_every_label_invalid(backend_name, check_kernel, kernel_inputs, dtype):
    """Depths are NaN / +inf, and every label is counted."""
    bad = np.resize(kernel_inputs.invalid_values(dtype, 4), 50).astype(dtype)
    for kernel, args in [
        ("pointwise_depth", (TIED, bad)),
        ("hypothesis_depth", (TIED, bad)),
        ("hypothesis_depths", (TIED, np.stack([bad, TIED_LABELS.astype(dtype)]))),
        ("count_consistent", (TIED, bad, 0.0)),
        ("quantile_depth", (TIED, bad, 0)),
    ]:
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

# name: (kernel, its arguments from the medium-sized inputs)
MEDIUM_CASES = {
    "vote_counts": ("vote_counts", lambda m: (m.votes, m.k)),
    "vote_belief": ("vote_belief", lambda m: (m.votes, m.k)),
    "softmax": ("softmax", lambda m: (m.logits,)),
    "belief_status": ("belief_status", lambda m: (m.proba, 1e-5)),
    "normalize_belief": ("normalize_belief", lambda m: (m.proba, 1e-5)),
    "unique_values[soft]": ("unique_values", lambda m: (m.soft,)),
    "unique_values[votes]": ("unique_values", lambda m: (m.belief,)),
    "unique_values[mixed]": ("unique_values", lambda m: (m.mixed,)),
    "allowed_labels": ("allowed_labels", lambda m: (m.belief, 0.25)),
    "pointwise_depth": ("pointwise_depth", lambda m: (m.belief, m.labels_bad)),
    "hypothesis_depth": ("hypothesis_depth", lambda m: (m.soft, m.labels)),
    "hypothesis_depth[votes]": ("hypothesis_depth", lambda m: (m.belief, m.labels_bad)),
    "hypothesis_depths": ("hypothesis_depths", lambda m: (m.belief, m.label_matrix)),
    "count_consistent": ("count_consistent", lambda m: (m.soft, m.labels_bad, 0.1)),
    "quantile_depth": ("quantile_depth", lambda m: (m.belief, m.labels, m.n // 10)),
    "quantile_depth[invalid]": ("quantile_depth", lambda m: (m.soft, m.labels_bad, m.n - 7)),
}


def _medium_inputs(make, dtype):
    n, k, t = 40_003, 10, 32  # several parallel blocks in every backend; odd n: uneven splits
    votes = make.make_votes(t, n, k, dtype, seed=7, invalid_fraction=0.001)
    belief = make.make_belief("votes", n, k, np.float64, seed=8, n_members=t)
    soft = make.make_belief("dirichlet", n, k, np.float32, seed=9)
    # few distinct values in most blocks, many in a few (hash-set and fallback paths together)
    mixed = belief.copy()
    mixed[20_000:21_000] = make.make_belief("dirichlet", 1000, k, np.float64, seed=13)
    labels = make.make_labels((n,), k, np.int64, seed=10, invalid_fraction=0.0)
    labels_bad = make.make_labels((n,), k, np.int32, seed=11, invalid_fraction=0.001)
    rng = np.random.default_rng(12)
    proba = rng.dirichlet(np.ones(k), size=n)
    proba[rng.random(n) < 0.01] *= 1.001
    proba[5, 3] = np.nan
    proba[n - 3, 0] = -0.1
    logits = rng.standard_normal((n, k)) * 5
    label_matrix = np.stack([labels, labels[::-1].copy(), (labels + 1) % k])
    return SimpleNamespace(
        n=n,
        k=k,
        votes=votes,
        belief=belief,
        soft=soft,
        mixed=mixed,
        labels=labels,
        labels_bad=labels_bad,
        proba=proba,
        logits=logits,
        label_matrix=label_matrix,
    )


@pytest.fixture(scope="session")
def check_medium(kernel_inputs, assert_same):
    """``check_medium(backend_name, case, vote_dtype)``: 1, 2, 3 and 7 threads give identical
    results, equal to the reference (inputs and reference results computed once: np.add.at on
    40,000 x 32 is slow)."""
    inputs, references = {}, {}

    def check(backend_name, case, dtype=np.int32):
        name = np.dtype(dtype).name
        if name not in inputs:
            inputs[name] = _medium_inputs(kernel_inputs, np.dtype(dtype).type)
        kernel, arguments = MEDIUM_CASES[case]
        args = arguments(inputs[name])
        if (case, name) not in references:
            references[case, name] = getattr(ref, kernel)(*args, n_threads=1)
        expected = references[case, name]
        module = crembo.get_backend(backend_name)
        one = getattr(module, kernel)(*args, 1)
        for n_threads in (2, 3, 7):  # 7 > cores: more threads than blocks for some kernels
            assert_same(
                getattr(module, kernel)(*args, n_threads), one, where=f"{backend_name}.{case} threads={n_threads}"
            )
        if kernel == "normalize_belief":
            ok = expected[1] == ref.ROW_OK
            assert_same(one[1], expected[1], where=f"{backend_name}.{case} status")
            assert_same(one[0][ok], expected[0][ok], where=f"{backend_name}.{case} belief")
        else:
            max_ulp = SOFTMAX_MAX_ULP if kernel == "softmax" else None
            assert_same(one, expected, max_ulp=max_ulp, where=f"{backend_name}.{case}")

    return check


@pytest.mark.parametrize("case", list(MEDIUM_CASES))
def test_thread_count_independence(backend_name, check_medium, case):
    """1, 2, 3 and 7 threads give identical results, equal to the reference."""
    check_medium(backend_name, case)


@pytest.mark.parametrize("dtype", VOTE_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", ["vote_counts", "vote_belief"])
def test_vote_kernels_threads_all_dtypes(backend_name, check_medium, case, dtype):
    check_medium(backend_name, case, dtype)


# -- the fast paths of the native kernels: byte-counter votes, hash fast path, L1 depth blocks --


@pytest.mark.parametrize("n_members", [1, 7, 8, 9, 255, 256, 600])  # groups of 255 per byte counter
@pytest.mark.parametrize("n_classes", [1, 10, 32, 33])  # 33: past the byte-compare limit
def test_uint8_vote_counting_paths(native_backend_name, n_members, n_classes, assert_same):
    """uint8 votes with few classes are counted with byte compares, 16 samples at a time: sample
    counts that are not multiples of 16 or of the block, and invalid votes (>= k), included."""
    rng = np.random.default_rng(n_members * 100 + n_classes)
    votes = rng.integers(0, n_classes + 3, size=(n_members, 1237)).astype(np.uint8)
    votes[:, 5] = 255
    module = crembo.get_backend(native_backend_name)
    for n_threads in (1, 2, 3):
        for kernel in ("vote_counts", "vote_belief"):
            assert_same(
                getattr(module, kernel)(votes, n_classes, n_threads),
                getattr(ref, kernel)(votes, n_classes),
                where=f"{kernel} T={n_members} k={n_classes}",
            )


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_unique_values_hash_fast_path(native_backend_name, dtype, assert_same):
    """Few distinct values in long runs of chunks that are all known, then new values late, the
    empty-slot marker (an all-ones NaN pattern), and each sign of zero alone or both."""
    rng = np.random.default_rng(11)
    module = crembo.get_backend(native_backend_name)
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


@pytest.mark.parametrize("n_classes", [3, 10, 700])  # L1 sub-blocks of many, some and 64 rows
def test_hypothesis_depths_many_blocks(native_backend_name, n_classes, assert_same):
    """Many hypotheses over many L1 sub-blocks (the next one's labels prefetched), minima late
    in the samples, and invalid labels."""
    rng = np.random.default_rng(n_classes)
    n = 40_003
    votes = rng.integers(0, n_classes, size=(15, n))
    belief = ref.vote_belief(votes, n_classes)[0]
    labels = rng.integers(-1, n_classes + 1, size=(23, n))
    labels[:, -1] = np.argmin(belief[-1])  # the minimum, possibly, at the very last sample
    module = crembo.get_backend(native_backend_name)
    for dtype in LABEL_DTYPES:
        for n_threads in (1, 2, 3):
            assert_same(
                module.hypothesis_depths(belief, labels.astype(dtype), n_threads),
                ref.hypothesis_depths(belief, labels.astype(dtype)),
                where=f"{dtype} threads={n_threads}",
            )
