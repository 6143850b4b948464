"""crembo.backends._thread_parts: the native backends' thread-level work split -- sorted parts
of the unique values merged (and the merges cut among threads), softmax by row chunks -- gives
exactly the reference's result whatever the split."""

import numpy as np
import pytest

from crembo import backends
from crembo._validation import FLOAT_DTYPES
from crembo.backends import reference as ref


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


@pytest.mark.parametrize("case", ["plain", "pos_zero", "neg_zero", "both_zeros", "nan", "float32"])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_unique_values_sorted_path(native_backend_name, case, n_threads, assert_same):
    belief = _many_values(case)
    if case == "float32":
        belief = belief.astype(np.float32)
    actual = backends.get_backend(native_backend_name).unique_values(belief, n_threads)
    assert_same(actual, ref.unique_values(belief), where=case)  # the signs of zeros too


def _native_merge(backend_name):
    if backend_name == "cython":
        from crembo._ext._unique import merge_unique_into as merge
    else:
        from crembo.backends._numba_kernels import merge_sorted_unique as merge
    return merge


@pytest.mark.parametrize("n_threads", [2, 3, 4])
def test_sorted_unique_merges_split_by_co_rank_keep_one_of_each_value(native_backend_name, n_threads, assert_same):
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
        actual = sorted_unique(values, n_threads, _native_merge(native_backend_name), values)
        assert_same(actual, np.unique(values.astype(np.float64)))
        np.testing.assert_array_equal(values, before)  # the caller's values are not sorted in place


def test_merge_sorted_unique_edges(native_backend_name):
    merge = _native_merge(native_backend_name)
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


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_softmax_bit_exact_across_chunks_and_threads(native_backend_name, dtype):
    """Both native softmaxes use NumPy's exp on row chunks: exactly the reference, whatever the
    chunking (n is not a multiple of the chunk) or the thread count."""
    rng = np.random.default_rng(3)
    logits = (rng.standard_normal((20_011, 7)) * 30).astype(dtype)
    expected = ref.softmax(logits)
    module = backends.get_backend(native_backend_name)
    for n_threads in (1, 2, 3):
        np.testing.assert_array_equal(module.softmax(logits, n_threads), expected)
