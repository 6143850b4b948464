"""Consistency oracles: the sklearn multi-output adapter, per-column fits, and the fit_allowed plug-in."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from crembo.oracles import (
    FitAllowedOracle,
    MultiOutputOracle,
    MultiOutputStudent,
    Oracle,
    as_oracle,
    fresh_estimator,
)
from crembo.tree import AllowedLabelTreeClassifier


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=90, n_features=5, n_informative=3, n_classes=3, n_clusters_per_class=1, random_state=2
    )
    rng = np.random.default_rng(0)
    allowed = rng.random((len(X), 4)) < 0.5
    allowed[np.arange(len(X)), y] = True
    allowed[:, 3] = False  # a column never allowed: predict_proba gives it a single class
    return X, y, allowed


def prob_of_one(tree, X):
    """Plain re-statement: P(output j == 1) of a fitted multi-output tree."""
    cols = []
    for p, cl in zip(tree.predict_proba(X), tree.classes_, strict=True):
        cols.append(p[:, list(cl).index(1)] if 1 in cl else np.zeros(len(X)))
    return np.column_stack(cols)


def test_default_oracle_is_the_papers_tree_grown_natively():
    o = as_oracle(None)
    assert isinstance(o, FitAllowedOracle) and isinstance(o.learner, AllowedLabelTreeClassifier)
    p = o.learner.get_params()
    assert (p["max_depth"], p["criterion"], p["class_weight"]) == (4, "gini", "balanced")
    paper = MultiOutputOracle()  # the reference code's own student
    assert isinstance(paper.estimator, DecisionTreeClassifier)
    assert paper.estimator.max_depth == 4 and paper.estimator.class_weight == "balanced"


def test_multi_output_predicts_most_likely_allowed(data):
    X, _, allowed = data
    model = MultiOutputOracle().fit(X, allowed, random_state=0)
    tree = DecisionTreeClassifier(max_depth=4, class_weight="balanced", random_state=0).fit(X, allowed.astype(int))
    scores = prob_of_one(tree, X)
    np.testing.assert_array_equal(model.predict(X), np.argmax(scores, axis=1))
    assert model.estimator_.random_state == 0  # the seed reached the clone
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(np.argmax(proba, axis=1), model.predict(X))
    assert not (model.predict(X) == 3).any()  # the never-allowed label is never predicted


def test_constant_one_column_and_single_class(data):
    X, _, allowed = data
    a = allowed.copy()
    a[:, 2] = True  # always allowed: its probability of 1 is 1 everywhere
    model = MultiOutputOracle().fit(X, a, random_state=0)
    assert model.allowed_scores(X)[:, 2].min() == 1.0
    one = MultiOutputOracle().fit(X, np.ones((len(X), 1), dtype=bool))
    np.testing.assert_array_equal(one.predict(X), 0)


def test_per_column_fit_for_single_output_learners(data):
    X, _, allowed = data
    model = as_oracle(LogisticRegression(max_iter=500)).fit(X, allowed, random_state=0)
    assert isinstance(model.estimator_, list) and model.estimator_[3] is None  # constant column
    expected = np.column_stack(
        [LogisticRegression(max_iter=500).fit(X, allowed[:, c]).predict_proba(X)[:, 1] for c in range(3)]
        + [np.zeros(len(X))]
    )
    np.testing.assert_allclose(model.allowed_scores(X), expected)
    np.testing.assert_array_equal(model.predict(X), np.argmax(expected, axis=1))


def test_user_seed_is_kept():
    est = fresh_estimator(DecisionTreeClassifier(random_state=7), random_state=1)
    assert est.random_state == 7
    assert fresh_estimator(DecisionTreeClassifier(), random_state=1).random_state == 1


class CountingLearner:
    """An allowed-label learner: predicts the label allowed most often among training rows
    sharing the sign of feature 0. Counts how often X is prepared."""

    prepared_calls = 0

    def __init__(self, two_step=True):
        self.two_step = two_step

    def prepare_allowed(self, X):
        CountingLearner.prepared_calls += 1
        return ("binned", np.asarray(X[:, 0] > 0))

    def fit_prepared(self, prepared, allowed):
        side = prepared[1]
        self.labels_ = [int(np.argmax(allowed[side == s].sum(axis=0))) for s in (False, True)]
        return self

    def fit_allowed(self, X, allowed):
        return self.fit_prepared(("binned", X[:, 0] > 0), allowed)

    def predict(self, X):
        return np.where(X[:, 0] > 0, self.labels_[1], self.labels_[0])


class OneStepLearner:
    def fit_allowed(self, X, allowed):
        self.label_ = int(np.argmax(allowed.sum(axis=0)))

    def predict(self, X):
        return np.full(len(X), self.label_)


def test_fit_allowed_adapter(data):
    X, _, allowed = data
    learner = CountingLearner()
    o = as_oracle(learner)
    assert isinstance(o, FitAllowedOracle)
    before = CountingLearner.prepared_calls
    prepared = o.prepare(X)
    m1 = o.fit(prepared, allowed)
    m2 = o.fit(prepared, allowed[:, ::-1])
    assert CountingLearner.prepared_calls == before + 1
    assert m1 is not learner and m2 is not m1  # fresh copies
    assert not hasattr(learner, "labels_")
    side = X[:, 0] > 0
    assert m1.labels_ == [int(np.argmax(allowed[side == s].sum(0))) for s in (False, True)]
    # fit_allowed returning None: the adapter returns the fitted copy itself
    m = as_oracle(OneStepLearner()).fit(X, allowed)
    np.testing.assert_array_equal(m.predict(X), int(np.argmax(allowed.sum(0))))


def test_oracle_instances_and_errors():
    class Mine(Oracle):
        pass

    mine = Mine()
    assert as_oracle(mine) is mine
    with pytest.raises(NotImplementedError):
        mine.fit(None, None)
    with pytest.raises(TypeError, match="cannot use a int as a student"):
        as_oracle(3)


def test_export_text_leaves_match_predict(data):
    X, _, allowed = data
    model = as_oracle(DecisionTreeClassifier(max_depth=3)).fit(X, allowed, random_state=0)
    assert isinstance(model, MultiOutputStudent)
    leaves = model.estimator_.apply(X)
    np.testing.assert_array_equal(model.node_classes()[leaves], model.predict(X))
    text = model.export_text(feature_names=list("abcde"), class_names=np.array(["p", "q", "r", "s"]))
    assert text.count("class:") == model.estimator_.get_n_leaves()
    assert "|--- " in text and "class: s" not in text
