"""Teachers from XGBoost and LightGBM (optional extras): probabilities, and the hard votes of their
random forests read from each member's own margin (crembo.teachers._boosting).

These tests skip when the library is missing; run them with
``pip install ".[test,xgboost,lightgbm]" && python -m pytest tests/teachers``.
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification

import crembo
from crembo.teachers import LightGBMVoteTeacher, ProbaTeacher, XGBoostVoteTeacher, make_teacher

try:
    import xgboost
except ImportError:
    xgboost = None
try:
    import lightgbm
except ImportError:
    lightgbm = None

EXTRA = "pip install '.[test,xgboost,lightgbm]' to run it"
needs_xgb = pytest.mark.skipif(xgboost is None, reason=f"XGBoost is an optional extra; {EXTRA}")
needs_lgb = pytest.mark.skipif(lightgbm is None, reason=f"LightGBM is an optional extra; {EXTRA}")
NAMES = np.array(["cat", "dog", "emu"])


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=240, n_features=6, n_informative=4, n_classes=3, n_clusters_per_class=1, random_state=0
    )
    return X, y


@pytest.fixture(scope="module")
def binary_imbalanced():
    # 20% positives: the base margin is far from 0, so a wrong per-member margin would flip votes
    X, y = make_classification(n_samples=300, n_features=5, n_informative=3, weights=[0.8], random_state=1)
    return X, y


def vote_fractions(member_labels, k):
    return np.stack([(member_labels == c).mean(axis=0) for c in range(k)], axis=1)


# ------------------------------------------------------------------------------ XGBoost


@needs_xgb
def test_xgboost_predict_proba_with_string_labels(data):
    X, y = data
    t = make_teacher(xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1), X, NAMES[y], random_state=0)
    assert isinstance(t, ProbaTeacher)
    np.testing.assert_array_equal(t.classes_, NAMES)  # fitted on codes 0..2, reports the labels
    np.testing.assert_allclose(t.belief(X, NAMES), t.model.predict_proba(X), rtol=1e-6)
    gapped = np.array([2, 5, 9])[y]  # XGBoost itself refuses gapped labels
    t2 = make_teacher(xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1), X, gapped, random_state=0)
    np.testing.assert_allclose(t2.belief(X, np.array([2, 5, 9])), t.belief(X, NAMES))
    # probabilities give up to n * k thresholds: a coarse scan keeps the test fast
    clf = crembo.CREMBOClassifier(
        teacher=xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1), delta=100, random_state=0
    )
    assert set(clf.fit(X, NAMES[y]).predict(X)) <= set(NAMES)


@needs_xgb
@pytest.mark.parametrize("k", [2, 3])
def test_xgboost_forest_member_margin_is_a_one_tree_forest(data, binary_imbalanced, k):
    X, y = binary_imbalanced if k == 2 else data
    params = dict(max_depth=3, subsample=1.0, colsample_bynode=1.0, random_state=0, n_jobs=1)
    # Without sampling every parallel tree is the same tree, so every member must vote exactly as
    # a forest of one such tree predicts: this pins the member margin base + T * w_t.
    one = xgboost.XGBRFClassifier(n_estimators=1, **params).fit(X, y)
    many = xgboost.XGBRFClassifier(n_estimators=7, **params).fit(X, y)
    teacher = make_teacher(many, belief="votes")
    assert isinstance(teacher, XGBoostVoteTeacher) and teacher.n_members == 7
    expected = np.eye(k)[one.predict(X)]
    np.testing.assert_array_equal(teacher.belief(X, np.arange(k)), expected)
    if k == 2:  # the imbalance is real: a vote read from the leaf weight alone would differ
        assert 0 < expected[:, 1].mean() < 0.5


@needs_xgb
@pytest.mark.parametrize("k", [2, 3])
def test_xgboost_forest_votes(data, k):
    X, y = data
    y = y % k
    model = xgboost.XGBRFClassifier(n_estimators=15, max_depth=3, random_state=0, n_jobs=1).fit(X, y)
    teacher = make_teacher(model, belief="votes")
    margins = teacher.member_margins(X)
    # the forest's margin is the mean of its members' margins
    forest_margin = model.get_booster().predict(xgboost.DMatrix(X), output_margin=True)
    np.testing.assert_allclose(margins.mean(axis=0), forest_margin, atol=1e-4)
    votes = (margins > 0).astype(int) if k == 2 else margins.argmax(axis=2)
    belief = teacher.belief(X, np.arange(k))
    np.testing.assert_array_equal(belief, vote_fractions(votes, k))
    np.testing.assert_allclose(belief * 15, np.round(belief * 15), atol=1e-12)
    assert np.mean(belief.argmax(axis=1) == model.predict(X)) > 0.9  # the vote mostly agrees with the forest


@needs_xgb
def test_xgboost_boosted_models_have_no_votes(data):
    X, y = data
    with pytest.raises(ValueError, match=r"boosted XGBClassifier .4 boosting rounds"):
        make_teacher(xgboost.XGBClassifier(n_estimators=4, max_depth=2, n_jobs=1).fit(X, y), belief="votes")
    with pytest.raises(ValueError, match="booster='gblinear'"):
        make_teacher(xgboost.XGBClassifier(n_estimators=1, booster="gblinear", n_jobs=1).fit(X, y), belief="votes")
    with pytest.raises(ValueError, match="is a regressor"):
        make_teacher(xgboost.XGBRegressor(n_estimators=2), X, y)
    # deferred: the check runs when CREMBO fits the teacher
    spec = make_teacher(xgboost.XGBClassifier(n_estimators=4), belief="votes")
    with pytest.raises(ValueError, match="boosted"):
        crembo.CREMBOClassifier(teacher=spec).fit(X, y)


@needs_xgb
def test_crembo_with_xgboost_forest_votes(data):
    X, y = data
    spec = make_teacher(xgboost.XGBRFClassifier(n_estimators=10, max_depth=3, n_jobs=1), belief="votes")
    clf = crembo.CREMBOClassifier(teacher=spec, random_state=0).fit(X, NAMES[y])
    assert isinstance(clf.teacher_, XGBoostVoteTeacher)
    np.testing.assert_array_equal(clf.teacher_.classes_, NAMES)
    assert len(clf.scan_.thresholds) <= 11  # vote fractions of 10 members
    assert clf.score(X, NAMES[y]) > 0.6


# ----------------------------------------------------------------------------- LightGBM


def lgb_forest(n, **kw):
    return lightgbm.LGBMClassifier(
        boosting_type="rf",
        n_estimators=n,
        subsample=0.7,
        subsample_freq=1,
        colsample_bytree=0.8,
        num_leaves=8,
        min_child_samples=5,
        verbose=-1,
        n_jobs=1,
        **kw,
    )


@needs_lgb
@pytest.mark.parametrize("k", [2, 3])
def test_lightgbm_forest_votes(data, k):
    X, y = data
    labels = NAMES[y % k]
    model = lgb_forest(12, random_state=0).fit(X, labels)
    teacher = make_teacher(model, belief="votes")
    assert isinstance(teacher, LightGBMVoteTeacher) and teacher.n_members == 12
    # Independent route: each member's raw score from its leaves (pred_leaf + get_leaf_output).
    booster = model.booster_
    leaves = booster.predict(X, pred_leaf=True)
    per_tree = np.array([[booster.get_leaf_output(t, int(leaf)) for t, leaf in enumerate(row)] for row in leaves])
    raw = per_tree.T.reshape(12, k if k > 2 else 1, len(X))  # trees are iteration-major, class-minor
    mean = raw.mean(axis=0)
    if k == 2:
        np.testing.assert_allclose(model.predict_proba(X)[:, 1], 1 / (1 + np.exp(-mean[0])))  # forest = mean
        votes = (raw[:, 0] > 0).astype(int)
    else:
        p = np.exp(mean - mean.max(axis=0))
        np.testing.assert_allclose(model.predict_proba(X), (p / p.sum(axis=0)).T, rtol=1e-6)
        votes = raw.argmax(axis=1)
    np.testing.assert_array_equal(teacher.belief(X, NAMES[:k]), vote_fractions(votes, k))
    # probabilities stay the default
    assert isinstance(make_teacher(model), ProbaTeacher)


@needs_lgb
def test_lightgbm_boosted_models_have_no_votes(data):
    X, y = data
    gbdt = lightgbm.LGBMClassifier(n_estimators=3, verbose=-1, n_jobs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"boosted LGBMClassifier .boosting_type='gbdt'"):
        make_teacher(gbdt, belief="votes")
    np.testing.assert_allclose(make_teacher(gbdt).belief(X, np.arange(3)), gbdt.predict_proba(X))
    with pytest.raises(ValueError, match="is a regressor"):
        make_teacher(lightgbm.LGBMRegressor(n_estimators=2, verbose=-1), X, y)


@needs_lgb
def test_crembo_with_lightgbm_teachers(data):
    X, y = data
    a = crembo.CREMBOClassifier(teacher=lgb_forest(10), random_state=0, delta=100).fit(X, NAMES[y])
    assert isinstance(a.teacher_, ProbaTeacher)
    b = crembo.CREMBOClassifier(teacher=make_teacher(lgb_forest(10), belief="votes"), random_state=0).fit(X, NAMES[y])
    assert isinstance(b.teacher_, LightGBMVoteTeacher)
    assert b.score(X, NAMES[y]) > 0.6 and 0.0 <= b.fidelity_ <= 1.0
