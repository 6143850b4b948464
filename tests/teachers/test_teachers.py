"""Teachers: every kind of teacher gives the belief the paper defines, with labels mapped by value."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
    VotingClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

import crembo
from crembo.teachers import (
    BeliefTeacher,
    CallableTeacher,
    DeferredTeacher,
    ProbaTeacher,
    VoteTeacher,
    class_index_map,
    compute_belief,
    make_teacher,
)

NAMES = np.array(["cat", "dog", "emu"])


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=120, n_features=6, n_informative=4, n_classes=3, n_clusters_per_class=1, random_state=0
    )
    return X, y


def manual_vote_belief(members_labels, classes):
    """members_labels: (T, n) predicted *labels*; p[i, c] = fraction equal to classes[c]."""
    members_labels = np.asarray(members_labels)
    return np.stack([(members_labels == c).mean(axis=0) for c in classes], axis=1)


@pytest.mark.parametrize("forest_cls", [RandomForestClassifier, ExtraTreesClassifier])
def test_forest_belief_is_hard_vote_fraction(data, forest_cls):
    X, y = data
    names = np.array(["cat", "dog", "emu"])
    ys = names[y]
    forest = forest_cls(n_estimators=11, max_depth=3, random_state=0).fit(X, ys)
    teacher = make_teacher(forest)
    assert isinstance(teacher, VoteTeacher)
    # sklearn forest members predict float indices into the forest's classes_
    labels = [forest.classes_[t.predict(X).astype(int)] for t in forest.estimators_]
    expected = manual_vote_belief(labels, names)
    np.testing.assert_array_equal(teacher.belief(X, names), expected)
    # votes, not averaged probabilities
    assert not np.allclose(teacher.belief(X, names), forest.predict_proba(X))
    np.testing.assert_array_equal(teacher.belief(X, names) * 11, np.round(teacher.belief(X, names) * 11))


def test_gapped_labels_and_extra_target_classes(data):
    X, y = data
    gapped = np.array([1, 10, 16])[y]
    forest = RandomForestClassifier(n_estimators=9, max_depth=3, random_state=1).fit(X, gapped)
    target = np.array([1, 2, 10, 14, 16])  # the student knows classes the teacher never saw
    b = make_teacher(forest).belief(X, target)
    assert b.shape == (len(X), 5)
    np.testing.assert_array_equal(b[:, [1, 3]], 0.0)
    labels = [forest.classes_[t.predict(X).astype(int)] for t in forest.estimators_]
    np.testing.assert_array_equal(b, manual_vote_belief(labels, target))


def test_teacher_class_unseen_in_targets_is_an_error(data):
    X, y = data
    forest = RandomForestClassifier(n_estimators=5, max_depth=2, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"class\(es\) \[2\].*not in the training labels"):
        make_teacher(forest).belief(X, np.array([0, 1]))
    with pytest.raises(ValueError, match="not in the training labels"):
        class_index_map(np.array(["a", "b"]), np.array(["a", "c"]))


def test_bagging_uses_feature_subsets(data):
    X, y = data
    bag = BaggingClassifier(DecisionTreeClassifier(max_depth=3), n_estimators=8, max_features=0.5, random_state=0).fit(
        X, y + 5
    )
    teacher = make_teacher(bag)
    assert isinstance(teacher, VoteTeacher)
    labels = [
        bag.classes_[m.predict(X[:, f]).astype(int)]
        for m, f in zip(bag.estimators_, bag.estimators_features_, strict=True)
    ]
    np.testing.assert_array_equal(teacher.belief(X, bag.classes_), manual_vote_belief(labels, bag.classes_))


def test_adaboost_members_predict_labels(data):
    X, y = data
    names = np.array(["x", "y", "z"])
    ada = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=6, random_state=0).fit(X, names[y])
    labels = [m.predict(X) for m in ada.estimators_]
    np.testing.assert_array_equal(make_teacher(ada, belief="votes").belief(X, names), manual_vote_belief(labels, names))


def test_auto_belief_of_weighted_ensembles_is_their_proba(data):
    # AdaBoost weighs its members and soft voting averages probabilities: unweighted hard votes
    # would disagree with their predict, so "auto" reads predict_proba (argmax == predict).
    X, y = data
    ada = AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=20, random_state=0).fit(X, y)
    soft = VotingClassifier(
        [
            ("a", DecisionTreeClassifier(max_depth=2, random_state=0)),
            ("b", LogisticRegression(max_iter=200)),
            ("c", DecisionTreeClassifier(max_depth=1, random_state=0)),
        ],
        voting="soft",
        weights=[1, 3, 1],
    ).fit(X, y)
    for model in (ada, soft):
        teacher = make_teacher(model)
        assert isinstance(teacher, ProbaTeacher)
        np.testing.assert_array_equal(np.argmax(teacher.belief(X, model.classes_), axis=1), model.predict(X))
    assert isinstance(make_teacher(ada, belief="votes"), VoteTeacher)
    hard = VotingClassifier(soft.estimators, voting="hard").fit(X, y)
    assert isinstance(make_teacher(hard), VoteTeacher)
    assert isinstance(make_teacher(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)), VoteTeacher)


def test_voting_classifier_votes(data):
    X, y = data
    vote = VotingClassifier(
        [("a", DecisionTreeClassifier(max_depth=2, random_state=0)), ("b", LogisticRegression(max_iter=200))]
    ).fit(X, y + 1)
    labels = [vote.classes_[m.predict(X)] for m in vote.estimators_]
    np.testing.assert_array_equal(
        make_teacher(vote).belief(X, vote.classes_), manual_vote_belief(labels, vote.classes_)
    )


def test_proba_teachers(data):
    X, y = data
    names = np.array(["a", "b", "c"])
    for model in [
        LogisticRegression(max_iter=300).fit(X, names[y]),
        GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(X, names[y]),
        StackingClassifier([("t", DecisionTreeClassifier(max_depth=2, random_state=0))], cv=3).fit(X, names[y]),
    ]:
        teacher = make_teacher(model)
        assert isinstance(teacher, ProbaTeacher), type(model).__name__
        np.testing.assert_allclose(teacher.belief(X, names), model.predict_proba(X), atol=1e-12)
        # target classes in another order: columns follow the labels, not the positions
        rev = names[::-1]
        np.testing.assert_allclose(teacher.belief(X, rev), model.predict_proba(X)[:, ::-1], atol=1e-12)
        np.testing.assert_array_equal(teacher.predict(X, names), np.argmax(model.predict_proba(X), axis=1))


def test_callable_teachers(data):
    X, _ = data
    W = np.random.default_rng(0).normal(size=(X.shape[1], 3))
    logits = X @ W
    soft = np.exp(logits - logits.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    classes = np.array([0, 1, 2])
    np.testing.assert_allclose(CallableTeacher(lambda Z: Z @ W, kind="logits").belief(X, classes), soft, rtol=1e-12)
    t = CallableTeacher(lambda Z: soft[: len(Z)], kind="proba")
    np.testing.assert_allclose(t.belief(X, classes), soft, rtol=1e-12)
    # a bare callable: probabilities are recognised, anything else is treated as logits
    np.testing.assert_allclose(make_teacher(lambda Z: soft[: len(Z)]).belief(X, classes), soft, rtol=1e-12)
    np.testing.assert_allclose(make_teacher(lambda Z: Z @ W).belief(X, classes), soft, rtol=1e-12)
    # declared column labels are mapped into the target classes
    t = CallableTeacher(lambda Z: soft[: len(Z)], kind="proba", classes=["z", "x", "y"])
    np.testing.assert_allclose(t.belief(X, np.array(["x", "y", "z"])), soft[:, [1, 2, 0]])
    with pytest.raises(ValueError, match="3 columns but there are 2 classes"):
        CallableTeacher(lambda Z: soft[: len(Z)]).belief(X, np.array([0, 1]))
    with pytest.raises(ValueError, match="kind"):
        CallableTeacher(lambda Z: Z, kind="scores")


def test_belief_matrix_teacher(data):
    X, _ = data
    rng = np.random.default_rng(1)
    P = rng.dirichlet(np.ones(3), size=len(X))
    t = make_teacher(P)
    assert isinstance(t, BeliefTeacher)
    np.testing.assert_array_equal(t.belief(X, np.arange(3)), P)
    rows = np.array([3, 0, 7])
    np.testing.assert_array_equal(t.subset(rows).belief(X[rows], np.arange(3)), P[rows])
    with pytest.raises(ValueError, match="cannot describe 5 new samples"):
        t.belief(X[:5], np.arange(3))
    with pytest.raises(ValueError, match="does not sum to 1"):
        make_teacher(P * 2)


def test_unfitted_teacher_is_cloned_fitted_and_seeded(data):
    X, y = data
    proto = RandomForestClassifier(n_estimators=6, max_depth=3)
    a = make_teacher(proto, X, y, random_state=3)
    b = make_teacher(proto, X, y, random_state=3)
    assert not hasattr(proto, "estimators_")  # the user's object is untouched
    assert a.model is not proto and a.model.random_state == 3
    np.testing.assert_array_equal(a.belief(X, np.arange(3)), b.belief(X, np.arange(3)))
    # an explicit seed of the user wins
    c = make_teacher(RandomForestClassifier(n_estimators=6, max_depth=3, random_state=9), X, y, random_state=3)
    assert c.model.random_state == 9
    with pytest.raises(ValueError, match="not fitted; pass X and y"):
        make_teacher(proto)


def test_bad_teachers(data):
    X, y = data
    with pytest.raises(TypeError, match="neither predict_proba nor estimators_"):
        make_teacher(LinearSVC().fit(X, y))
    with pytest.raises(TypeError, match="cannot use a object as a teacher"):
        make_teacher(object())
    with pytest.raises(TypeError, match="teacher is None"):
        make_teacher(None)


def test_vote_belief_matches_kernel_on_every_backend(data):
    X, y = data
    forest = RandomForestClassifier(n_estimators=7, max_depth=3, random_state=0).fit(X, y)
    ref = VoteTeacher(forest, backend="reference").belief(X, forest.classes_)
    for name in crembo.available_backends():
        np.testing.assert_array_equal(VoteTeacher(forest, backend=name).belief(X, forest.classes_), ref)


# ------------------------------------------------------------------ teachers that are not sklearn


class PlainProba:
    """Not an sklearn estimator: fit / predict_proba only, fitted state in a trailing-_ attribute,
    and a fit that returns None."""

    def fit(self, X, y):
        self.model_ = LogisticRegression(max_iter=500).fit(X, y)
        self.classes_ = self.model_.classes_

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


class PlainPredict:
    """Not an sklearn estimator, and only hard labels: no belief to give."""

    def __init__(self, model=None):
        self.model_ = model

    def fit(self, X, y):
        raise AssertionError("a teacher that cannot give a belief must be refused before it is fitted")

    def predict(self, X):
        return self.model_.predict(X)


def test_plain_teacher_with_predict_proba_works(data):
    X, y = data
    expected = LogisticRegression(max_iter=500).fit(X, y).predict_proba(X)
    unfitted = PlainProba()
    teacher = make_teacher(unfitted, X, y)  # a plain class: no sklearn __sklearn_tags__ to read
    assert isinstance(teacher, ProbaTeacher) and not hasattr(unfitted, "model_")  # fitted on a copy
    np.testing.assert_allclose(teacher.belief(X, np.unique(y)), expected, rtol=1e-12)
    fitted = PlainProba()
    fitted.fit(X, y)
    assert make_teacher(fitted, X, y).model is fitted  # fitted already: used as given
    clf = crembo.CREMBOClassifier(teacher=PlainProba(), random_state=0, selection="paper").fit(X, y)
    assert clf.teacher_validation_score_ > 0.5 and clf.predict(X).shape == y.shape
    assert crembo.CREMBOClassifier(teacher=PlainProba(), random_state=0).fit(X, y).score(X, y) > 0.5


def test_plain_teacher_fitted_flag_follows_sklearn(data):
    X, y = data

    class Flagged(PlainProba):
        def __init__(self, fitted):
            self.fitted = fitted

        def __sklearn_is_fitted__(self):
            return self.fitted

    fitted = Flagged(True)
    fitted.fit(X, y)
    assert make_teacher(fitted, X, y).model is fitted
    with pytest.raises(ValueError, match="not fitted; pass X and y"):
        make_teacher(Flagged(False))


def test_plain_teacher_without_belief_gets_a_crembo_error(data):
    X, y = data
    for teacher in (PlainPredict(), PlainPredict(LogisticRegression().fit(X, y))):
        with pytest.raises(TypeError, match=r"gives no belief.*must provide predict_proba"):
            make_teacher(teacher, X, y)
        with pytest.raises(TypeError, match=r"gives no belief.*must provide predict_proba"):
            crembo.CREMBOClassifier(teacher=teacher, random_state=0).fit(X, y)
        with pytest.raises(TypeError, match="gives no belief"):
            crembo.TeacherLabelBaseline(teacher=teacher, random_state=0).fit(X, y)


def test_teacher_class_instead_of_instance(data):
    X, y = data
    with pytest.raises(TypeError, match="class LogisticRegression, not an instance"):
        make_teacher(LogisticRegression, X, y)


def test_callable_auto_refuses_ambiguous_outputs(data):
    X, _ = data
    soft = np.random.default_rng(1).dirichlet(np.ones(3), size=len(X)).astype(np.float32)
    off = soft.copy()
    off[5] *= 1.01  # one row of a float32 model's probabilities off by 1%
    classes = np.arange(3)
    # read as logits, these became softmax(probabilities): a silently wrong belief
    with pytest.raises(ValueError, match=r"row 5 sums to .*kind='proba'"):
        make_teacher(lambda Z: off[: len(Z)]).belief(X, classes)
    with pytest.raises(ValueError, match="row 0 sums to"):
        make_teacher(lambda Z: np.zeros((len(Z), 3))).belief(X, classes)
    # said explicitly, each is accepted for what it is
    np.testing.assert_allclose(
        CallableTeacher(lambda Z: soft[: len(Z)] * 1.000001, kind="proba").belief(X, classes),
        soft / soft.sum(1, keepdims=True),
        rtol=1e-6,
    )
    z = off.astype(np.float64)
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(
        CallableTeacher(lambda Z: off[: len(Z)], kind="logits").belief(X, classes),
        e / e.sum(1, keepdims=True),
        rtol=1e-12,
    )
    # values that cannot be probabilities are still logits
    np.testing.assert_allclose(make_teacher(lambda Z: 3 * off[: len(Z)]).belief(X, classes).sum(1), 1.0)


# ------------------------------------------------------------------ belief choice and refusals


def test_belief_choice_for_sklearn_models(data):
    X, y = data
    forest = RandomForestClassifier(n_estimators=9, max_depth=3, random_state=0).fit(X, y)
    assert isinstance(make_teacher(forest), VoteTeacher)  # auto: the paper's hard votes
    proba = make_teacher(forest, belief="proba")
    assert isinstance(proba, ProbaTeacher)
    np.testing.assert_allclose(proba.belief(X, np.arange(3)), forest.predict_proba(X))
    assert isinstance(make_teacher(forest, belief="votes"), VoteTeacher)
    with pytest.raises(ValueError, match="boosted: its trees are regressors"):
        make_teacher(GradientBoostingClassifier(n_estimators=3).fit(X, y), belief="votes")
    with pytest.raises(ValueError, match="not an ensemble whose members each predict a class"):
        make_teacher(LogisticRegression().fit(X, y), belief="votes")
    with pytest.raises(ValueError, match="belief='logits' applies to callables"):
        make_teacher(forest, belief="logits")
    with pytest.raises(ValueError, match="belief must be one of"):
        make_teacher(forest, belief="hard")
    with pytest.raises(ValueError, match="hard votes are not defined for a callable"):
        make_teacher(lambda Z: Z[:, :3], belief="votes")


def test_callable_returning_logits(data):
    X, _y = data
    W = np.random.default_rng(0).normal(size=(6, 3))
    t = make_teacher(lambda Z: Z @ W, belief="logits")
    assert isinstance(t, CallableTeacher) and t.kind == "logits"
    z = X @ W
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    np.testing.assert_allclose(t.belief(X, np.arange(3)), expected / expected.sum(axis=1, keepdims=True))


def test_regressor_teachers_are_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="is a regressor"):
        make_teacher(RandomForestRegressor(n_estimators=3).fit(X, y.astype(float)))
    with pytest.raises(ValueError, match="is a regressor"):  # refused before it is trained
        make_teacher(RandomForestRegressor(n_estimators=3), X, y)
    with pytest.raises(ValueError, match="is a regressor"):
        crembo.CREMBOClassifier(teacher=RandomForestRegressor(n_estimators=3)).fit(X, y)


def test_multi_output_teachers_are_refused(data):
    X, y = data
    Y = np.column_stack([y, (y + 1) % 3])
    with pytest.raises(ValueError, match="multi-output"):
        make_teacher(RandomForestClassifier(n_estimators=3).fit(X, Y))
    with pytest.raises(ValueError, match="multi-output"):
        make_teacher(MultiOutputClassifier(LogisticRegression()).fit(X, Y))
    with pytest.raises(ValueError, match="multi-output target"):
        make_teacher(RandomForestClassifier(n_estimators=3), X, Y)


def test_teacher_predicting_labels_unseen_in_y(data):
    X, y = data
    four = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, np.where(X[:, 0] > 2, 3, y))
    assert 3 in four.classes_
    with pytest.raises(ValueError, match=r"class\(es\) \[3\] that are not in the training labels"):
        crembo.CREMBOClassifier(teacher=four, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="not in the training labels"):
        make_teacher(four, belief="proba").belief(X, np.arange(3))


def test_deferred_teacher_is_fitted_on_the_training_split(data):
    X, y = data
    spec = make_teacher(RandomForestClassifier(n_estimators=6, max_depth=3), belief="proba")
    assert isinstance(spec, DeferredTeacher)
    with pytest.raises(ValueError, match="not fitted yet"):
        spec.belief(X, np.arange(3))
    clf = crembo.CREMBOClassifier(teacher=spec, random_state=0, delta=3, selection="paper").fit(X, NAMES[y])
    assert isinstance(clf.teacher_, ProbaTeacher)
    n_train = len(X) - int(np.ceil(0.15 * len(X)))
    assert clf.teacher_.model.estimators_[0].tree_.n_node_samples[0] <= n_train  # never saw validation rows
    assert sum(e.tree_.weighted_n_node_samples[0] for e in clf.teacher_.model.estimators_) == 6 * n_train
    assert spec.model is not clf.teacher_.model and not hasattr(spec.model, "estimators_")
    # the default selection cross-validates on every training row: the teacher is fitted on all
    cv = crembo.CREMBOClassifier(teacher=spec, random_state=0, delta=3).fit(X, NAMES[y])
    assert sum(e.tree_.weighted_n_node_samples[0] for e in cv.teacher_.model.estimators_) == 6 * len(X)
    clone(clf)  # an sklearn parameter like any other
    with pytest.raises(ValueError, match="already a ProbaTeacher"):
        make_teacher(clf.teacher_, belief="votes")


def test_mlp_teacher_is_single_output_unless_multilabel(data):
    # an MLP's n_outputs_ is its number of output units, not of targets
    X, y = data
    mlp = MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0)
    with pytest.warns(Warning):
        assert isinstance(make_teacher(mlp.fit(X, y)), ProbaTeacher)
    Y = np.column_stack([y == 0, y == 1]).astype(int)
    with pytest.warns(Warning), pytest.raises(ValueError, match="multi-output"):
        make_teacher(MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0).fit(X, Y))


# ------------------------------------------------------------------ native forest teachers


def stacked_belief(teacher, X, classes):
    """The generic path: every member's predict stacked into (T, n), counted by the kernel."""
    return crembo.belief_from_votes(teacher.votes(X, classes), len(classes))


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
