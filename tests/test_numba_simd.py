"""The Numba backend's 8-lane gather loops (hypothesis depths, unique values) and their exact
fallbacks, compared with the reference and with plain-Python twins."""

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from crembo.backends import _numba_kernels as _k  # noqa: E402
from crembo.backends import numba_backend as nb  # noqa: E402
from crembo.backends import reference as ref  # noqa: E402
from test_numba_backend import assert_same  # noqa: E402

LABEL_DTYPES = [np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64]


_AVX512 = _k._gathers_on(numba.core.registry.cpu_target.target_context.codegen())


@numba.njit
def _gather_min_bits(f, labels, i0, i1, k):
    return _k._gather_min_bits(f, labels, i0, i1, np.uint64(k))


@pytest.mark.parametrize("fdtype", [np.float64, np.float32])
@pytest.mark.parametrize("ldtype", LABEL_DTYPES)
def test_gather_min_bits_matches_python(fdtype, ldtype):
    """min/max of the gathered float64 bit patterns over whole groups of 8 rows; an invalid label
    gathers a NaN; a span shorter than 8 rows is left to the caller (every span, without AVX-512)."""
    rng = np.random.default_rng(0)
    n, k = 45, 5
    belief = rng.random((n, k)).astype(fdtype)
    labels = rng.integers(0, k, size=n).astype(ldtype)
    labels[30] = ldtype(-1) if np.issubdtype(ldtype, np.signedinteger) else np.iinfo(ldtype).max
    f = belief.reshape(-1)
    for i0, i1 in [(0, 45), (3, 45), (5, 12), (0, 7), (9, 9), (1, 30), (24, 32)]:
        lo, hi, end = _gather_min_bits(f, labels, i0, i1, k)
        # without AVX-512 it processes nothing and leaves every row to the exact loop
        assert end == (i0 + (i1 - i0) // 8 * 8 if _AVX512 else i0)
        if end == i0:
            assert (lo, hi) == (np.iinfo(np.uint64).max, 0)
            continue
        rows = np.arange(i0, end)
        lab = labels[i0:end].astype(np.int64)
        ok = (lab >= 0) & (lab < k)
        vals = np.where(ok, belief[rows, np.where(ok, lab, 0)].astype(np.float64), np.nan)
        bits = vals.view(np.uint64)
        assert lo == bits.min() and hi == bits.max()
        assert (hi > 0x7FF0000000000000) == (not ok.all())


def _special_belief(rng, n, k, fdtype):
    """Vote-like values (many ties) with a few rows holding -0.0, +0.0, NaN and negative values."""
    belief = rng.integers(1, 9, size=(n, k)) / 8.0
    return belief.astype(fdtype)


@pytest.mark.parametrize("fdtype", [np.float64, np.float32])
@pytest.mark.parametrize("n", [1, 7, 8, 9, 63, 64, 65, 1003])
def test_hypothesis_depths_fast_and_exact_paths(monkeypatch, fdtype, n):
    """Each hypothesis exercises one path: all valid and positive (the gather fast path), an
    invalid label, a NaN, a negative value, -0.0 alone, +0.0 alone, both zeros (np.min decides),
    every label invalid; sizes around the 8-row groups, small blocks and sub-blocks."""
    monkeypatch.setattr(nb, "_SAMPLE_BLOCK", 64)
    rng = np.random.default_rng(n)
    k = 6
    belief = _special_belief(rng, n, k, fdtype)
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
def test_hypothesis_depths_zero_signs_across_sub_blocks(rows):
    """-0.0 and +0.0 in different sub-blocks of one block: the -0.0 goes the exact way, the
    +0.0 the fast one, and np.min's order decides the sign (here, the later zero wins)."""
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


def test_hypothesis_depths_readonly_and_strided_labels():
    rng = np.random.default_rng(5)
    belief = rng.random((500, 4))
    labels = rng.integers(-1, 5, size=(6, 1000)).astype(np.int32)[:, ::2]  # not contiguous
    expected = ref.hypothesis_depths(belief, labels)
    assert_same(nb.hypothesis_depths(belief, labels, 2), expected)
    frozen = np.ascontiguousarray(labels)
    frozen.flags.writeable = False
    belief.flags.writeable = False
    assert_same(nb.hypothesis_depths(belief, frozen, 2), expected)


@numba.njit
def _first_new(bits, i, i1, table, log2):
    return _k._first_new(bits, i, i1, table, (1 << log2) - 1, np.uint64(64 - log2))


@numba.njit
def _fill(table, keys, log2):
    for x in keys:
        _k._insert(table, (1 << log2) - 1, 64 - log2, x)


def test_first_new_matches_python():
    """The 16-value all-present check with two gathers per 8 values, against a set: crowded
    tables (keys displaced past the next slot), the empty marker, sizes not multiple of 16."""
    rng = np.random.default_rng(3)
    empty = np.uint64(0xFFFFFFFFFFFFFFFF)
    for log2, n_keys in [(10, 100), (10, 256), (6, 40)]:
        keys = np.unique(rng.integers(8, 1 << 62, size=n_keys, dtype=np.uint64))  # 7: never a key
        table = np.full(1 << log2, empty, dtype=np.uint64)
        _fill(table, keys, log2)
        known = set(int(x) for x in keys)
        for size in (0, 5, 16, 37, 300, 1000):
            bits = rng.choice(keys, size=size)
            if size:
                pos = int(rng.integers(0, size))
                bits[pos] = rng.choice([np.uint64(7), empty])  # a new value, or the marker
            for i in (0, min(3, size)):
                expected = next((q for q in range(i, size) if int(bits[q]) not in known or bits[q] == empty), size)
                assert _first_new(bits, i, size, table, log2) == expected


@pytest.mark.parametrize("fdtype", [np.float64, np.float32])
def test_unique_values_table_growth_and_tails(fdtype):
    """A block with > 256 distinct values (its table grows and is rehashed between fast-path
    calls), new values in the last partial 16-value chunk, sizes not multiple of 16."""
    rng = np.random.default_rng(9)
    pool = np.arange(600) / 599.0
    for n in (1, 15, 17, 4001, 30_011):
        values = rng.choice(pool[: min(600, max(2, n // 8))], size=n)
        if n > 20:
            values[-2:] = [1.5, 2.5]
        belief = values.reshape(-1, 1).astype(fdtype)
        for n_threads in (1, 2):
            assert_same(nb.unique_values(belief, n_threads), ref.unique_values(belief))
