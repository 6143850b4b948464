"""Targeted checks of the Numba backend (the general kernel-vs-reference suite is test_kernels.py)."""

import subprocess
import sys

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from crembo.backends import numba_backend as nb  # noqa: E402
from crembo.backends import reference as ref  # noqa: E402


@pytest.fixture
def small_blocks(monkeypatch):
    """Many parallel blocks on small inputs, so block combination is exercised."""
    monkeypatch.setattr(nb, "_SAMPLE_BLOCK", 64)
    monkeypatch.setattr(nb, "_UNIQUE_BLOCK", 256)


def _inputs(rng, n=3000, k=7, T=31, fdtype=np.float64):
    votes = rng.integers(0, k, size=(T, n)).astype(np.int16)
    belief = ref.vote_belief(votes, k)[0].astype(fdtype)
    labels = rng.integers(0, k, size=n)
    label_matrix = votes[:4].astype(np.int64)
    return votes, belief, labels, label_matrix


def _all_results(votes, belief, labels, label_matrix, k, n_threads, backend):
    return [
        backend.vote_counts(votes, k, n_threads),
        backend.vote_belief(votes, k, n_threads),
        backend.softmax(belief * 3.0, n_threads),
        backend.unique_values(belief, n_threads),
        backend.pointwise_depth(belief, labels, n_threads),
        backend.hypothesis_depth(belief, labels, n_threads),
        backend.hypothesis_depths(belief, label_matrix, n_threads),
        backend.count_consistent(belief, labels, 0.25, n_threads),
        backend.quantile_depth(belief, labels, 100, n_threads),
    ]


@pytest.mark.parametrize("fdtype", [np.float64, np.float32])
def test_one_and_two_threads_agree_with_reference(small_blocks, fdtype, assert_same):
    rng = np.random.default_rng(0)
    votes, belief, labels, label_matrix = _inputs(rng, fdtype=fdtype)
    expected = _all_results(votes, belief, labels, label_matrix, 7, 1, ref)
    one = _all_results(votes, belief, labels, label_matrix, 7, 1, nb)
    two = _all_results(votes, belief, labels, label_matrix, 7, 2, nb)
    for e, a, b in zip(expected, one, two, strict=True):
        assert_same(a, e)
        assert_same(b, e)


def test_thread_count_set_and_restored(monkeypatch):
    previous = numba.get_num_threads()
    seen = []

    def record(*args):
        seen.append(numba.get_num_threads())

    def boom(*args):
        raise RuntimeError("kernel failed")

    votes = np.zeros((2, 5), dtype=np.int64)
    try:
        numba.set_num_threads(1)
        nb.vote_belief(votes, 3, 10**6)  # clipped to NUMBA_NUM_THREADS, no error
        assert numba.get_num_threads() == 1
        monkeypatch.setattr(nb._k, "vote_belief", record)
        nb.vote_belief(votes, 3, 2)
        assert seen == [min(2, numba.config.NUMBA_NUM_THREADS)]
        assert numba.get_num_threads() == 1
        monkeypatch.setattr(nb._k, "vote_counts", boom)
        with pytest.raises(RuntimeError):
            nb.vote_counts(votes, 3, 2)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(previous)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.int64])
def test_invalid_votes_counted_and_skipped(dtype, assert_same):
    rng = np.random.default_rng(1)
    k = 4
    votes = rng.integers(0, k, size=(9, 50)).astype(dtype)
    votes[0, :5] = k
    votes[3, 7] = 200
    if np.issubdtype(dtype, np.signedinteger):
        votes[2, :3] = -1
    for kernel in ("vote_counts", "vote_belief"):
        got = getattr(nb, kernel)(votes, k, 2)
        assert_same(got, getattr(ref, kernel)(votes, k))
    assert nb.vote_counts(votes, k, 1)[1] == (9 if np.issubdtype(dtype, np.signedinteger) else 6)


def test_float32_and_readonly_inputs(assert_same):
    rng = np.random.default_rng(2)
    proba = rng.random((40, 5)).astype(np.float32)
    proba /= proba.sum(axis=1, keepdims=True)
    proba[3, 1] = np.nan
    proba[5, 0] = -0.25
    proba[7, 2] += 0.5
    labels = rng.integers(-1, 6, size=40).astype(np.int32)
    for arr in (proba, labels):
        arr.flags.writeable = False
    for atol in (1e-5, 1e-2):
        assert_same(nb.belief_status(proba, atol, 2), ref.belief_status(proba, atol))
        assert_same(nb.normalize_belief(proba, atol, 2), ref.normalize_belief(proba, atol))
    assert_same(nb.softmax(proba * 0 + 1, 2), ref.softmax(proba * 0 + 1))
    assert_same(nb.unique_values(proba, 2), ref.unique_values(proba))
    assert_same(nb.allowed_labels(proba, 0.2, 2), ref.allowed_labels(proba, 0.2))
    assert_same(nb.pointwise_depth(proba, labels, 2), ref.pointwise_depth(proba, labels))
    assert_same(nb.hypothesis_depth(proba, labels, 2), ref.hypothesis_depth(proba, labels))
    assert_same(nb.quantile_depth(proba, labels, 3, 2), ref.quantile_depth(proba, labels, 3))
    assert_same(nb.count_consistent(proba, labels, 0.1, 2), ref.count_consistent(proba, labels, 0.1))


def test_edge_values(assert_same):
    belief = np.array([[0.0, 1.0], [-0.0, 1.0], [0.5, 0.5]])
    for lab in ([0, 0, 0], [1, 1, 0], [0, 1, 1], [2, 2, 2], [-1, 0, 9]):
        lab = np.array(lab)
        for kernel in ("hypothesis_depth", "pointwise_depth", "count_consistent", "quantile_depth"):
            extra = (0.0,) if kernel == "count_consistent" else (0,) if kernel == "quantile_depth" else ()
            assert_same(getattr(nb, kernel)(belief, lab, *extra, 1), getattr(ref, kernel)(belief, lab, *extra))
    assert nb.hypothesis_depth(belief, np.array([5, 5, 5]), 1) == (np.inf, 3)
    assert_same(nb.unique_values(belief, 1), ref.unique_values(belief))
    assert_same(nb.unique_values(belief[1:], 1), ref.unique_values(belief[1:]))
    with_nan = belief.copy()
    with_nan[2, 0] = np.nan
    assert_same(nb.unique_values(with_nan, 1), ref.unique_values(with_nan))
    # one sample, one class; many distinct values (falls back to np.unique)
    assert_same(nb.vote_belief(np.zeros((1, 1), np.uint8), 1, 1), ref.vote_belief(np.zeros((1, 1), np.uint8), 1))
    many = np.random.default_rng(3).random((3000, 10))
    assert_same(nb.unique_values(many, 2), ref.unique_values(many))


def test_runs_without_jit(child_env):
    code = (
        "import numpy as np\n"
        "from crembo.backends import numba_backend as nb, reference as ref\n"
        "v = np.array([[0, 1, 2, 5], [1, 1, -1, 0]])\n"
        "b, bad = nb.vote_belief(v, 3, 2)\n"
        "assert bad == 2 and (b == ref.vote_belief(v, 3)[0]).all()\n"
        "assert nb.unique_values(b, 2).tolist() == ref.unique_values(b).tolist()\n"
        "assert nb.hypothesis_depth(b, np.array([0, 1, 2, 0]), 2) == ref.hypothesis_depth(b, np.array([0, 1, 2, 0]))\n"
    )
    subprocess.run([sys.executable, "-c", code], env={**child_env, "NUMBA_DISABLE_JIT": "1"}, check=True, timeout=120)


# -- hypothesis depths: special values, label dtypes, sizes around blocks and sub-blocks -------

LABEL_DTYPES = [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64]


@pytest.mark.parametrize("fdtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 63, 64, 65, 1003])
def test_hypothesis_depths_special_values(monkeypatch, fdtype, n, assert_same):
    """Each hypothesis meets one case: all valid and positive, an invalid label, a NaN, a
    negative value, -0.0 alone, +0.0 alone, both zeros, -inf, every label invalid; label dtypes
    the kernels are not built for; sizes around small blocks (64 samples)."""
    monkeypatch.setattr(nb, "_SAMPLE_BLOCK", 64)
    rng = np.random.default_rng(n)
    k = 6
    belief = (rng.integers(1, 9, size=(n, k)) / 8.0).astype(fdtype)  # vote-like: many ties
    m = 9
    labels = rng.integers(0, k, size=(m, n))
    last = n - 1
    labels[1, last // 2] = k  # invalid
    labels[8] = -1  # all invalid
    belief[last // 3, labels[2, last // 3]] = np.nan
    belief[last, labels[3, last]] = -0.5
    r = min(5, last)
    belief[r, labels[4, r]] = -0.0
    belief[last, labels[5, last]] = 0.0
    if n > 1:  # both signs of zero in one hypothesis, in different rows
        labels[6, 0] = labels[6, last] = 0
        belief[0, 0] = -0.0
        belief[last, 0] = 0.0
    labels[7, last] = 2
    belief[last, 2] = -np.inf
    for dtype in LABEL_DTYPES:
        lab = labels.astype(np.int64)
        lab = lab if np.issubdtype(dtype, np.signedinteger) else np.where(lab < 0, np.iinfo(dtype).max, lab)
        lab = lab.astype(dtype)
        expected = ref.hypothesis_depths(belief, lab)
        for n_threads in (1, 2):
            assert_same(nb.hypothesis_depths(belief, lab, n_threads), expected)
        assert_same(nb.hypothesis_depth(belief, lab[3], 1), ref.hypothesis_depth(belief, lab[3]))


@pytest.mark.parametrize("rows", [(100, 1500), (1500, 100), (3, 1999)])
def test_hypothesis_depths_zero_signs_across_sub_blocks(rows, assert_same):
    """-0.0 and +0.0 in different sub-blocks of one block: the depth is +0.0 either way."""
    neg, pos = rows
    n = 2000
    belief = np.full((n, 10), 0.5)
    belief[neg, 0] = -0.0
    belief[pos, 0] = 0.0
    labels = np.zeros((3, n), dtype=np.int32)
    labels[1, neg] = 1  # this one sees +0.0 only
    labels[2, pos] = 1  # and this one -0.0 only
    expected = ref.hypothesis_depths(belief, labels)
    assert_same(nb.hypothesis_depths(belief, labels, 1), expected)
    assert_same(nb.hypothesis_depths(belief, labels, 2), expected)


def test_hypothesis_depths_readonly_and_strided_labels(assert_same):
    rng = np.random.default_rng(5)
    belief = rng.random((500, 4))
    labels = rng.integers(-1, 5, size=(6, 1000)).astype(np.int32)[:, ::2]  # not contiguous
    expected = ref.hypothesis_depths(belief, labels)
    assert_same(nb.hypothesis_depths(belief, labels, 2), expected)
    frozen = np.ascontiguousarray(labels)
    frozen.flags.writeable = False
    belief.flags.writeable = False
    assert_same(nb.hypothesis_depths(belief, frozen, 2), expected)


# -- unique values: the per-block hash sets ----------------------------------------------------


@pytest.mark.parametrize("fdtype", [np.float64, np.float32])
def test_unique_values_table_growth_and_tails(fdtype, assert_same):
    """A block with > 256 distinct values (its table grows and is rehashed between all-present
    checks), new values in the last partial chunk, sizes not multiple of the chunk."""
    rng = np.random.default_rng(9)
    pool = np.arange(600) / 599.0
    for n in (1, 15, 17, 4001, 30_011):
        values = rng.choice(pool[: min(600, max(2, n // 8))], size=n)
        if n > 20:
            values[-2:] = [1.5, 2.5]
        belief = values.reshape(-1, 1).astype(fdtype)
        for n_threads in (1, 2):
            assert_same(nb.unique_values(belief, n_threads), ref.unique_values(belief))


def test_unique_values_colliding_keys(assert_same):
    """Values whose hash home slots coincide sit past the next slot, where the all-present check
    does not look: their chunks are read value by value, and every value is still found once."""
    from crembo.backends._numba_kernels import _HMUL

    rng = np.random.default_rng(4)
    candidates = rng.random(200_000)
    home = (candidates.view(np.uint64) * _HMUL) >> np.uint64(64 - 10)  # a fresh table's 1024 slots
    crowded = candidates[home == np.bincount(home).argmax()][:6]
    assert crowded.size >= 4
    values = np.concatenate([rng.choice(crowded, size=5000), rng.random(4)])
    for belief in (values.reshape(-1, 1), values[::-1].reshape(-1, 2)):
        for n_threads in (1, 2):
            assert_same(nb.unique_values(np.ascontiguousarray(belief), n_threads), ref.unique_values(belief))
