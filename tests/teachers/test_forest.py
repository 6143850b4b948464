"""crembo.teachers.forest: native vote counting over fitted sklearn trees == the members' own predict."""

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    BaggingClassifier,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.exceptions import NotFittedError
from sklearn.tree import DecisionTreeClassifier

import crembo
from crembo.teachers.forest import (
    _counts_numpy,
    _float32_chunk,
    flatten_forest,
    forest_belief,
    forest_vote_counts,
)

FORESTS = [RandomForestClassifier, ExtraTreesClassifier]


def member_votes(forest, X):
    """The plain way: every member's predict, stacked into (T, n) class indices."""
    return np.stack([est.predict(X) for est in forest.estimators_]).astype(np.int64)


def expected_counts(forest, X):
    """Count the stacked member predictions per sample and class, one member at a time."""
    votes = member_votes(forest, X)
    counts = np.zeros((votes.shape[1], len(forest.classes_)), dtype=np.int64)
    for t in range(votes.shape[0]):
        counts[np.arange(votes.shape[1]), votes[t]] += 1
    return counts


def data(n=600, n_features=6, n_classes=3, seed=0):
    X, y = make_classification(
        n_samples=n,
        n_features=n_features,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )
    return X, y


def fit(cls, X, y, n_estimators=15, seed=0, **kw):
    return cls(n_estimators=n_estimators, max_depth=kw.pop("max_depth", 8), random_state=seed, **kw).fit(X, y)


def assert_matches_members(forest, X, **kw):
    counts = forest_vote_counts(forest, X, **kw)
    assert counts.shape == (X.shape[0], len(forest.classes_))
    np.testing.assert_array_equal(counts, expected_counts(forest, X))
    # belief is counts / T, bit for bit the belief of the stacked member predictions
    belief = forest_belief(forest, X, **kw)
    assert belief.dtype == np.float64
    np.testing.assert_array_equal(belief, crembo.belief_from_votes(member_votes(forest, X), len(forest.classes_)))
    return counts


@pytest.mark.parametrize("cls", FORESTS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("n_classes", [2, 5])
@pytest.mark.parametrize("labels", ["indices", "strings", "gapped_ints"])
def test_counts_equal_stacked_member_predictions(cls, n_classes, labels):
    X, y = data(n_classes=n_classes, seed=n_classes)
    if labels == "strings":
        y = np.array(["cat", "dog", "emu", "fox", "gnu"])[y]
    elif labels == "gapped_ints":
        y = np.array([-7, 3, 10, 42, 1000])[y]
    forest = fit(cls, X[:400], y[:400])
    counts = assert_matches_members(forest, X)
    assert counts.dtype == np.uint16
    assert (counts.sum(axis=1) == forest.n_estimators).all()


@pytest.mark.parametrize("cls", FORESTS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("trained_with_nan", [True, False])
def test_nan_follows_missing_go_to_left(cls, trained_with_nan):
    rng = np.random.default_rng(3)
    X, y = data(n=800, n_classes=4, seed=3)
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < 0.2] = np.nan
    X_nan[::50] = np.nan  # whole rows missing
    forest = fit(cls, X_nan[:500] if trained_with_nan else X[:500], y[:500])
    counts = assert_matches_members(forest, X_nan)
    # the test has teeth: sending every NaN right (ignoring missing_go_to_left) changes votes
    flat = flatten_forest(forest)
    assert flat.nodes["nan_right"][flat.nodes["leaf_class"] < 0].min() == 0
    flat.nodes["nan_right"][:] = 1
    always_right = np.empty_like(counts)
    _counts_numpy(flat, X_nan.astype(np.float32), always_right)
    assert (always_right != counts).any()


def test_infinity_is_rejected_like_sklearn():
    X, y = data()
    forest = fit(RandomForestClassifier, X, y, n_estimators=3)
    X_inf = X.copy()
    X_inf[3, 1] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        forest.estimators_[0].predict(X_inf)
    with pytest.raises(ValueError, match="infinity"):
        forest_vote_counts(forest, X_inf)


def test_float32_rounding_matches_sklearn():
    # float64 values just either side of the thresholds: sklearn compares X cast to float32 with
    # the float64 threshold, so several of these land on the other side than in float64.
    X, y = data(n=500, n_classes=3, seed=5)
    forest = fit(RandomForestClassifier, X, y, n_estimators=10, max_depth=10)
    flat = flatten_forest(forest)
    internal = flat.nodes["leaf_class"] < 0
    thr, feat = flat.nodes["threshold"][internal], flat.nodes["feature"][internal]
    rng = np.random.default_rng(0)
    X_edge = np.repeat(X[:1], thr.size * 2, axis=0)
    for j, (f, t) in enumerate(zip(feat, thr, strict=True)):
        for s, sign in enumerate((-1, 1)):
            X_edge[2 * j + s, f] = t + sign * abs(t) * 1e-9 * rng.random()
    X_edge = np.concatenate([X_edge, X + rng.normal(scale=1e-9, size=X.shape)])
    counts = assert_matches_members(forest, X_edge)
    # the test has teeth: walking the float64 values instead would change some votes
    walked_in_float64 = np.empty_like(counts)
    _counts_numpy(flat, X_edge, walked_in_float64)
    assert (walked_in_float64 != counts).any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int32])
def test_input_dtypes_and_layouts(dtype):
    X, y = data(n=500, seed=7)
    X = (X * 10).astype(dtype) if np.dtype(dtype).kind == "i" else X.astype(dtype)
    forest = fit(ExtraTreesClassifier, X[:300], y[:300])
    expected = expected_counts(forest, X)
    for X_in in (X, np.asfortranarray(X), X[::-1][::-1], X.tolist()):
        np.testing.assert_array_equal(forest_vote_counts(forest, X_in), expected)
    X_strided = np.repeat(X, 2, axis=1)[:, ::2]  # non-contiguous view
    np.testing.assert_array_equal(forest_vote_counts(forest, X_strided), expected)


def test_sparse_csr_matches_members():
    X, y = data(n=400, seed=9)
    X[np.abs(X) < 0.7] = 0.0
    forest = fit(RandomForestClassifier, X, y)
    X_csr = sparse.csr_matrix(X)
    np.testing.assert_array_equal(forest_vote_counts(forest, X_csr, chunk_size=64), expected_counts(forest, X_csr))


def test_one_sample_and_one_tree():
    X, y = data(n=300, n_classes=3, seed=11)
    forest = fit(RandomForestClassifier, X, y, n_estimators=1)
    assert_matches_members(forest, X)
    assert_matches_members(forest, X[:1])
    forest = fit(RandomForestClassifier, X, y, n_estimators=7)
    counts = assert_matches_members(forest, X[5:6])
    assert counts.shape == (1, 3)


def test_stump_and_pure_forest():
    X, y = data(n=200, n_classes=2, seed=12)
    # a single-class y gives single-leaf trees: the root is the leaf
    forest = fit(RandomForestClassifier, X, np.zeros(200, dtype=int), n_estimators=3)
    np.testing.assert_array_equal(forest_vote_counts(forest, X), np.full((200, 1), 3))
    assert_matches_members(fit(ExtraTreesClassifier, X, y, max_depth=1), X)


def test_thread_count_and_chunking_do_not_change_the_result():
    X, y = data(n=3000, n_classes=6, seed=13)
    X[::17, 2] = np.nan
    forest = fit(RandomForestClassifier, X[:1000], y[:1000], n_estimators=20, max_depth=10)
    expected = expected_counts(forest, X)
    for n_jobs in (1, 2):
        for chunk_size in (None, 1, 255, 1000):
            if chunk_size == 1 and n_jobs == 2:
                continue  # same as n_jobs=1 with one row per call; slow-ish and adds nothing
            counts = forest_vote_counts(forest, X, n_jobs=n_jobs, chunk_size=chunk_size)
            np.testing.assert_array_equal(counts, expected)
    np.testing.assert_array_equal(forest_belief(forest, X, n_jobs=1), forest_belief(forest, X, n_jobs=2))


def test_output_dtypes():
    X, y = data(n=300, seed=14)
    forest = fit(RandomForestClassifier, X, y, n_estimators=9)
    counts16 = forest_vote_counts(forest, X)
    counts32 = forest_vote_counts(forest, X, dtype=np.uint32)
    assert counts16.dtype == np.uint16 and counts32.dtype == np.uint32
    np.testing.assert_array_equal(counts16, counts32)
    b64 = forest_belief(forest, X)
    b32 = forest_belief(forest, X, dtype=np.float32)
    assert b32.dtype == np.float32
    np.testing.assert_array_equal(b32, b64.astype(np.float32))
    np.testing.assert_array_equal(b64, counts16 / 9.0)
    with pytest.raises(ValueError, match="dtype"):
        forest_vote_counts(forest, X, dtype=np.int64)
    with pytest.raises(ValueError, match="dtype"):
        forest_belief(forest, X, dtype=np.int32)


def test_bagging_of_trees_with_feature_subsets():
    X, y = data(n=500, n_features=8, n_classes=3, seed=15)
    bag = BaggingClassifier(DecisionTreeClassifier(max_depth=6), n_estimators=8, max_features=0.5, random_state=0).fit(
        X, y
    )
    votes = np.stack(
        [est.predict(X[:, feats]) for est, feats in zip(bag.estimators_, bag.estimators_features_, strict=True)]
    )
    np.testing.assert_array_equal(
        forest_belief(bag, X), crembo.belief_from_votes(votes.astype(np.int64), len(bag.classes_))
    )


def test_numpy_twin_equals_native_kernel():
    X, y = data(n=700, n_classes=4, seed=16)
    X[::9, 0] = np.nan
    forest = fit(ExtraTreesClassifier, X, y, n_estimators=12)
    flat = flatten_forest(forest)
    twin = np.empty((700, 4), dtype=np.uint32)
    _counts_numpy(flat, _float32_chunk(X, 0, 700, flat.allow_nan), twin)
    np.testing.assert_array_equal(twin, forest_vote_counts(forest, X))
    # a pre-flattened forest is accepted too
    np.testing.assert_array_equal(forest_vote_counts(flat, X), twin)


def test_errors():
    X, y = data(n=200, seed=17)
    with pytest.raises(NotFittedError):
        forest_vote_counts(RandomForestClassifier(), X)
    multi = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, np.stack([y, 1 - y % 2], axis=1))
    with pytest.raises(ValueError, match="single-output"):
        forest_vote_counts(multi, X)
    gb = GradientBoostingClassifier(n_estimators=2).fit(X, y)
    with pytest.raises(ValueError, match="DecisionTreeClassifier"):
        forest_vote_counts(gb, X)
    with pytest.raises(TypeError):
        forest_vote_counts(object(), X)
    forest = fit(RandomForestClassifier, X, y, n_estimators=3)
    with pytest.raises(ValueError, match="features"):
        forest_vote_counts(forest, X[:, :3])
    with pytest.raises(ValueError):
        forest_vote_counts(forest, X[:0])
    with pytest.raises(ValueError, match="chunk_size"):
        forest_vote_counts(forest, X, chunk_size=0)
    with pytest.raises(TypeError, match="chunk_size"):
        forest_vote_counts(forest, X, chunk_size=2.5)
    with pytest.raises(ValueError, match="n_jobs"):
        forest_vote_counts(forest, X, n_jobs=0)


def test_fallback_without_extension_warns_and_agrees(monkeypatch):
    import crembo.teachers.forest as cf

    X, y = data(n=300, n_classes=3, seed=18)
    forest = fit(RandomForestClassifier, X, y, n_estimators=5)
    expected = expected_counts(forest, X)
    monkeypatch.setattr(cf, "_native_counts", None)
    monkeypatch.setattr(cf, "_warned_fallback", False)
    with pytest.warns(RuntimeWarning, match="NumPy fallback"):
        counts = forest_vote_counts(forest, X, chunk_size=100)
    np.testing.assert_array_equal(counts, expected)
