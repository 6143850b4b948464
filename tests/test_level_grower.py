"""The reducible tree path without a cluster: level-wise growth from summed shard histograms
equals the depth-first native grower, the quantile summary gives ``bin_features``' edges, and
the split drawn from class counts is ``CREMBOClassifier``'s."""

import functools
import itertools

import numpy as np
import pytest

from crembo.distributed._split import unpack_mask, validation_masks
from crembo.estimator import stratified_split
from crembo.tree import AllowedLabelTreeClassifier, bin_features
from crembo.tree.binning import find_bin_edges
from crembo.tree.level_grower import (
    Layout,
    LevelTree,
    ShardData,
    add_results,
    combine_evals,
    grow_level_trees,
    shard_eval,
    shard_positives,
    shard_round,
)
from crembo.tree.sketch import QuantileSummary

TREE_FIELDS = ("feature", "bin", "missing_left", "left", "right", "label", "n_samples", "value", "consistency")


def _data(seed, n=2500, F=5, k=4, nan=0.05):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, F))
    X[:, 1] = np.round(X[:, 1] * 3)  # few distinct values: ties inside bins
    X[rng.random((n, F)) < nan] = np.nan
    belief = np.round(rng.dirichlet(np.full(k, 0.5), size=n) * 10) / 10  # a 10-member vote belief
    return X, belief


def _level_tree(binned, belief, d, cuts, **params):
    """Grow one tree level-wise over the rows split into shards at ``cuts``."""
    layout = Layout(binned.bin_edges)
    bounds = [0, *cuts, belief.shape[0]]
    shards = [
        ShardData(np.asfortranarray(binned.X_binned[a:b]), belief[a:b], binned.missing_bin)
        for a, b in itertools.pairwise(bounds)
    ]
    pos = functools.reduce(np.add, [shard_positives(s.belief, [d]) for s in shards])[0]
    tree = LevelTree(
        layout,
        belief.shape[0],
        belief.shape[1],
        d,
        pos,
        params["criterion"],
        params.get("class_weight") == "balanced",
        params["max_depth"],
        params["min_samples_leaf"],
    )
    grow_level_trees([tree], lambda reqs: functools.reduce(add_results, [shard_round(s, layout, reqs) for s in shards]))
    return tree.to_tree(), shards


@pytest.mark.parametrize("criterion,class_weight", [("gini", "balanced"), ("gini", None), ("consistency", None)])
@pytest.mark.parametrize("max_depth,min_samples_leaf", [(4, 1), (3, 25), (5, 3)])
def test_level_tree_equals_depth_first_grower(criterion, class_weight, max_depth, min_samples_leaf):
    X, belief = _data(seed=max_depth)
    binned = bin_features(X, max_bins=40)
    params = {
        "criterion": criterion,
        "class_weight": class_weight,
        "max_depth": max_depth,
        "min_samples_leaf": min_samples_leaf,
    }
    for d in (0.1, 0.3, 0.5):
        ref = AllowedLabelTreeClassifier(**params).fit_prepared(binned, belief >= d).tree_
        for cuts in ([], [600, 1400], [1, 1, 2499]):  # one shard, several, tiny and empty ones
            tree, shards = _level_tree(binned, belief, d, cuts, **params)
            for f in TREE_FIELDS:
                np.testing.assert_array_equal(getattr(tree, f), getattr(ref, f), err_msg=f"{f} at d={d}")
            np.testing.assert_array_equal(tree.threshold, ref.threshold)  # NaN at leaves on both
            # weighted label scores: the same sums in another order (shards, then nodes)
            np.testing.assert_allclose(tree.label_scores, ref.label_scores, rtol=1e-12)
    # shard_eval: the depth on the training rows and validation hits of the finished tree
    arrays = {
        "feature": tree.feature,
        "bin": tree.bin,
        "missing_left": tree.missing_left.view(np.uint8),
        "left": tree.left,
        "right": tree.right,
        "label": tree.label,
    }
    ev = functools.reduce(combine_evals, [shard_eval(s, [arrays]) for s in shards])[0]
    pred = tree.label[tree.apply(X)]
    assert ev[0] == belief[np.arange(len(pred)), pred].min()
    assert ev[3] == 0  # these shards hold no validation rows


def test_positives_count_allowed_labels_per_threshold():
    _, belief = _data(seed=1, n=500)
    thr = np.unique(belief)
    expect = np.array([(belief >= d).sum(axis=0) for d in thr])
    np.testing.assert_array_equal(shard_positives(belief, thr), expect)
    np.testing.assert_array_equal(shard_positives(belief.astype(np.float32), thr.astype(np.float32)), expect)


def _summary(X, cuts, size):
    parts = np.split(X, cuts)
    return functools.reduce(lambda a, b: a.merge(b), [QuantileSummary.from_rows(p, size) for p in parts])


@pytest.mark.parametrize("seed", range(8))
def test_exact_summary_gives_the_local_bin_edges(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    X = rng.normal(size=(n, 3))
    X[:, 1] = np.round(X[:, 1] * rng.integers(1, 40))
    X[rng.random((n, 3)) < 0.1] = np.nan
    X[0, 0], X[-1, 2] = np.inf, -np.inf
    max_bins = int(rng.integers(2, 256))
    s = _summary(X, np.sort(rng.integers(0, n, 3)), 4096)
    assert s.exact and s.n_nan.tolist() == np.isnan(X).sum(axis=0).tolist()
    for f, edges in enumerate(s.bin_edges(max_bins)):
        np.testing.assert_array_equal(edges, find_bin_edges(X[:, f], max_bins))


def test_compressed_summary_edges_are_close_in_rank():
    X = np.random.default_rng(0).normal(size=(100_000, 2))
    s = _summary(X, [12_500 * i for i in range(1, 8)], 1024)
    assert not s.exact
    col = np.sort(X[:, 0])
    got, ref = s.bin_edges(255)[0], find_bin_edges(X[:, 0], 255)
    assert got.size == ref.size == 254
    # each edge within one bin's rows of the exact one (1/255 of the rows)
    assert np.abs(np.searchsorted(col, got) - np.searchsorted(col, ref)).max() < X.shape[0] / 255
    with pytest.raises(ValueError, match="size"):
        QuantileSummary.from_rows(X, 1)


@pytest.mark.parametrize("seed", range(10))
def test_split_from_class_counts_is_the_local_split(seed):
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(40, 3000)), int(rng.integers(2, 6))
    y = np.r_[np.arange(k), np.arange(k), rng.integers(0, k, n - 2 * k)]
    fraction, split_seed = float(rng.uniform(0.05, 0.5)), int(rng.integers(1 << 30))
    _, va = stratified_split(y, np.arange(k), fraction, split_seed)
    # partitions of uneven size; each knows only its own rows
    cuts = np.sort(rng.integers(0, n, 3))
    parts = np.split(y, cuts)
    counts = np.array([np.bincount(p, minlength=k) for p in parts])
    masks = validation_masks(counts.sum(axis=0), fraction, split_seed, np.arange(k), counts)
    got = []
    for start, p, bits in zip(np.r_[0, cuts], parts, masks, strict=True):
        for c in range(k):
            rows = np.flatnonzero(p == c)
            got.extend(start + rows[unpack_mask(bits[c], rows.size)])
    np.testing.assert_array_equal(np.sort(got), np.sort(va))


def test_split_errors_match_the_local_ones():
    with pytest.raises(ValueError, match="'b' has only 1 sample"):
        validation_masks([5, 1], 0.2, 0, np.array(["a", "b"]), [[5, 1]])
    with pytest.raises(ValueError, match="cannot split 6 samples"):
        validation_masks([3, 3], 0.1, 0, np.array([0, 1]), [[3, 3]])
