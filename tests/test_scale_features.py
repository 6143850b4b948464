"""Large-data features: native forest teachers, chunked inference, float32 beliefs, bounded thresholds."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
    VotingClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.tree import DecisionTreeClassifier

import crembo
from crembo._candidates import (
    AUTO_MAX_UNIQUE,
    AUTO_N_QUANTILES,
    bounded_candidates,
    candidate_thresholds,
    check_thresholds_param,
    quantile_candidates,
    spaced_candidates,
)
from crembo.teachers import BeliefTeacher, ProbaTeacher, VoteTeacher, compute_belief, make_teacher


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_redundant=0, n_classes=3, random_state=0
    )
    return X, y


def stacked_belief(teacher, X, classes):
    """The generic path: every member's predict stacked into (T, n), counted by the kernel."""
    return crembo.belief_from_votes(teacher.votes(X, classes), len(classes))


# ------------------------------------------------------------------ native forest teachers


@pytest.mark.parametrize(
    "model",
    [
        RandomForestClassifier(n_estimators=15, max_depth=5, random_state=1),
        ExtraTreesClassifier(n_estimators=15, random_state=2),
        BaggingClassifier(DecisionTreeClassifier(), n_estimators=9, max_features=0.5, random_state=3),
    ],
    ids=["rf", "extra_trees", "bagging_feature_subsets"],
)
def test_forest_teacher_uses_native_traversal_bit_identically(data, model):
    X, y = data
    labels = np.array(["b", "d", "f"])[y]  # string labels; targets have one more class
    model.fit(X, labels)
    teacher = make_teacher(model)
    assert isinstance(teacher, VoteTeacher) and teacher.native_forest() is not None
    classes = np.array(["a", "b", "d", "f"])
    X_new = X + 0.1  # unseen rows
    fast = teacher.belief(X_new, classes)
    assert fast.dtype == np.float64
    np.testing.assert_array_equal(fast, stacked_belief(teacher, X_new, classes))
    assert (fast[:, 0] == 0).all()
    np.testing.assert_array_equal(teacher.belief(X_new, classes, dtype=np.float32), fast.astype(np.float32))


def test_other_ensembles_fall_back_to_stacked_predictions(data):
    X, y = data
    voting = VotingClassifier([("a", DecisionTreeClassifier(max_depth=2)), ("b", LogisticRegression())]).fit(X, y)
    ada = AdaBoostClassifier(n_estimators=5, random_state=0).fit(X, y)
    bag_lr = BaggingClassifier(LogisticRegression(), n_estimators=4, random_state=0).fit(X, y)
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    for model in (voting, ada, bag_lr):
        teacher = VoteTeacher(model)
        assert teacher.native_forest() is None
        np.testing.assert_array_equal(teacher.belief(X, model.classes_), stacked_belief(teacher, X, model.classes_))
    assert VoteTeacher(rf, member_labels="labels").native_forest() is None


def test_vote_fallback_is_chunked_and_exact(data):
    X, y = data
    voting = VotingClassifier([("a", DecisionTreeClassifier(max_depth=2)), ("b", LogisticRegression())]).fit(X, y)
    whole = VoteTeacher(voting).belief(X, voting.classes_)
    np.testing.assert_array_equal(VoteTeacher(voting, chunk_size=7).belief(X, voting.classes_), whole)


# ------------------------------------------------------------------ chunked proba, float32


def test_proba_teacher_predicts_in_chunks(data):
    X, y = data
    gb = GradientBoostingClassifier(n_estimators=10, random_state=0).fit(X, y)
    whole = ProbaTeacher(gb).belief(X, gb.classes_)
    np.testing.assert_array_equal(ProbaTeacher(gb, chunk_size=64).belief(X, gb.classes_), whole)
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, y)
    np.testing.assert_allclose(
        ProbaTeacher(mlp, chunk_size=50).belief(X, mlp.classes_), ProbaTeacher(mlp).belief(X, mlp.classes_), atol=1e-12
    )
    chunked32 = ProbaTeacher(gb, chunk_size=64).belief(X, gb.classes_, dtype=np.float32)
    assert chunked32.dtype == np.float32
    np.testing.assert_array_equal(chunked32, whole.astype(np.float32))
    with pytest.raises(ValueError, match="chunk_size"):
        ProbaTeacher(gb, chunk_size=0)
    with pytest.raises(ValueError, match="float32 or float64"):
        ProbaTeacher(gb).belief(X, gb.classes_, dtype=np.int64)


def test_compute_belief_converts_foreign_teachers(data):
    X, _ = data
    p = np.full((len(X), 3), 1 / 3)

    class Plain(crembo.teachers.Teacher):
        def belief(self, X, classes):
            return p

    out = compute_belief(Plain(), X, np.arange(3), "float32")
    assert out.dtype == np.float32
    assert compute_belief(BeliefTeacher(p), X, np.arange(3), np.float32).dtype == np.float32


@pytest.mark.parametrize("T", [1, 2, 3, 7, 100, 255, 1000, 65535, 1 << 20])
def test_float32_vote_fractions_stay_distinct_and_ordered(T):
    # Why belief_dtype="float32" changes no decision for votes: rounding c / T to float32 is
    # monotone and, for T < 2**24, keeps every pair of fractions apart.
    c = np.arange(T + 1, dtype=np.float64) / T
    assert (np.diff(c.astype(np.float32)) > 0).all()


def test_float32_belief_gives_the_same_crembo_decisions(data):
    X, y = data
    rf = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X, y)
    runs = [
        crembo.CREMBOClassifier(teacher=rf, belief_dtype=dt, random_state=5).fit(X, y) for dt in ("float64", "float32")
    ]
    a, b = runs
    assert a.memo_.index == b.memo_.index
    assert [c.index for c in a.memo_.trace] == [c.index for c in b.memo_.trace]
    np.testing.assert_array_equal(a.scan_.indices, b.scan_.indices)
    np.testing.assert_array_equal(a.scan_.validation_scores, b.scan_.validation_scores)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.memo_.thresholds.astype(np.float32), b.memo_.thresholds.astype(np.float32))
    assert set(a.timings_) == {"teacher", "belief", "teacher_validation", "prepare", "memo", "scan"}
    with pytest.raises(ValueError, match="belief_dtype"):
        crembo.CREMBOClassifier(teacher=rf, belief_dtype="float16").fit(X, y)


# ------------------------------------------------------------------ candidate thresholds


def test_quantile_candidates_are_actual_values_with_both_ends():
    rng = np.random.default_rng(0)
    u = np.unique(rng.random(5000) ** 3)
    for m in (2, 3, 32, 128):
        c = quantile_candidates(u, m)
        assert 2 <= c.size <= m
        assert c[0] == u[0] and c[-1] == u[-1]
        assert np.isin(c, u).all() and (np.diff(c) > 0).all()
    np.testing.assert_array_equal(quantile_candidates(u[:10], 32), u[:10])
    # a quantile of the unique values is where the snapped candidate sits (within one gap)
    c = quantile_candidates(u, 5)
    np.testing.assert_array_equal(c, u[np.round(np.linspace(0, u.size - 1, 5)).astype(int)])


def test_bounded_candidates_cover_both_ranks_and_values():
    # softmax-like: most values tiny. Quantiles alone put nearly every candidate below 0.01;
    # the evenly spaced half keeps resolution where students differ.
    rng = np.random.default_rng(1)
    u = np.unique(np.concatenate([rng.random(9000) * 1e-3, rng.random(1000)]))
    q = quantile_candidates(u, 32)
    s = spaced_candidates(u, 16)
    assert (q > 0.1).sum() <= 4 and (s > 0.1).sum() >= 13
    # rounding up: every spaced candidate is the smallest value >= its grid point
    grid = np.linspace(u[0], u[-1], 16)
    np.testing.assert_array_equal(s, np.unique([u[u >= g][0] for g in grid]))
    b = bounded_candidates(u, 32)
    assert b.size <= 32 and b[0] == u[0] and b[-1] == u[-1] and np.isin(b, u).all()
    np.testing.assert_array_equal(b, np.union1d(quantile_candidates(u, 16), s))
    np.testing.assert_array_equal(bounded_candidates(u[:20], 32), u[:20])


def test_auto_candidates_switch_at_256_unique_values():
    def two_class_votes(T):  # rows [c / T, (T - c) / T]: exactly the T + 1 fractions
        c = np.arange(T + 1)
        return np.column_stack([c / T, (T - c) / T])

    belief = two_class_votes(AUTO_MAX_UNIQUE - 1)
    assert candidate_thresholds(belief, "auto").size == AUTO_MAX_UNIQUE
    belief = two_class_votes(AUTO_MAX_UNIQUE)
    assert candidate_thresholds(belief, "unique").size == AUTO_MAX_UNIQUE + 1
    auto = candidate_thresholds(belief, "auto")
    assert auto.size <= AUTO_N_QUANTILES and auto[0] == 0.0 and auto[-1] == 1.0
    np.testing.assert_array_equal(auto, bounded_candidates(np.unique(belief), AUTO_N_QUANTILES))
    np.testing.assert_array_equal(candidate_thresholds(belief, [0.5, 0.1, 0.5]), [0.1, 0.5])


@pytest.mark.parametrize(
    "bad, exc",
    [("all", ValueError), (1, ValueError), (True, TypeError), (None, TypeError), ([], ValueError),
     ([0.1, np.inf], ValueError), (["a"], TypeError)],
)
def test_invalid_thresholds_param(bad, exc):
    with pytest.raises(exc, match="thresholds"):
        check_thresholds_param(bad)


def test_crembo_bounds_the_scan_of_a_softmax_teacher(data):
    X, y = data
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0).fit(X, y)
    student = crembo.AllowedLabelTreeClassifier(max_depth=2, n_jobs=1)
    bounded = crembo.CREMBOClassifier(teacher=mlp, student=student, thresholds=16, random_state=0).fit(X, y)
    assert bounded.memo_.thresholds.size <= 16
    assert len(bounded.scan_.indices) <= 16
    explicit = crembo.CREMBOClassifier(teacher=mlp, student=student, thresholds=[0.0, 0.2, 0.4], random_state=0).fit(X, y)
    np.testing.assert_array_equal(explicit.memo_.thresholds, [0.0, 0.2, 0.4])
    # "auto" on a softmax belief of ~255 x 3 distinct values uses 128 quantiles
    auto = crembo.CREMBOClassifier(teacher=mlp, student=student, random_state=0).fit(X, y)
    assert auto.memo_.thresholds.size <= AUTO_N_QUANTILES
    with pytest.raises(ValueError, match="thresholds"):
        crembo.CREMBOClassifier(teacher=mlp, thresholds=1).fit(X, y)


def test_mlp_teacher_is_single_output_unless_multilabel(data):
    # an MLP's n_outputs_ is its number of output units, not of targets
    X, y = data
    mlp = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    with pytest.warns(Warning):
        assert isinstance(make_teacher(mlp.fit(X, y)), ProbaTeacher)
    Y = np.column_stack([y == 0, y == 1]).astype(int)
    with pytest.warns(Warning), pytest.raises(ValueError, match="multi-output"):
        make_teacher(MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, Y))


def test_memo_accepts_threshold_choices(data):
    X, y = data
    rf = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y)
    belief = make_teacher(rf).belief(X, rf.classes_)
    full = crembo.memo(X, belief, random_state=0)
    assert full.thresholds.size == np.unique(belief).size
    assert crembo.memo(X, belief, candidate_thresholds="auto", random_state=0).thresholds.size == full.thresholds.size
    few = crembo.memo(X, belief, candidate_thresholds=4, random_state=0)
    assert few.thresholds.size <= 4 and np.isin(few.thresholds, full.thresholds).all()


def test_seeded_oracle_bins_reproducibly_beyond_the_bin_subsample():
    # The native tree draws the rows for its bin edges when n > 200,000, in ``prepare``, which
    # runs on the student itself: MEMO/CREMBO seed it, or two runs with one random_state differ.
    from crembo._memo import seeded_oracle

    X = np.random.default_rng(0).standard_normal((210_000, 2))
    student = crembo.AllowedLabelTreeClassifier(max_depth=1)
    unseeded = [crembo.as_oracle(student).prepare(X).X_binned for _ in range(2)]
    assert not np.array_equal(*unseeded)
    seeded = [seeded_oracle(student, 3).prepare(X).X_binned for _ in range(2)]
    np.testing.assert_array_equal(*seeded)
    assert student.random_state is None  # the user's student is not modified
    explicit = crembo.AllowedLabelTreeClassifier(random_state=7)
    assert seeded_oracle(explicit, 3).learner.random_state == 7  # a user's own seed wins
