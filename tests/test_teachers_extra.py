"""Teachers from XGBoost, LightGBM and PyTorch (optional extras), belief choice, and clear errors.

The XGBoost/LightGBM/torch tests skip when the library is missing; run them with
``pip install ".[test,xgboost,lightgbm]" && python -m pytest tests/test_teachers_extra.py``
(torch: ``pip install ".[torch]"``).
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.multioutput import MultiOutputClassifier

import crembo
from crembo.teachers import (
    CallableTeacher,
    DeferredTeacher,
    LightGBMVoteTeacher,
    ProbaTeacher,
    TorchTeacher,
    VoteTeacher,
    XGBoostVoteTeacher,
    make_teacher,
)

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


# ------------------------------------------------------------------------------ sklearn


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
    X, y = data
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
    clf = crembo.CREMBOClassifier(teacher=spec, random_state=0, delta=3).fit(X, NAMES[y])
    assert isinstance(clf.teacher_, ProbaTeacher)
    n_train = len(X) - int(np.ceil(0.15 * len(X)))
    assert clf.teacher_.model.estimators_[0].tree_.n_node_samples[0] <= n_train  # never saw validation rows
    assert sum(e.tree_.weighted_n_node_samples[0] for e in clf.teacher_.model.estimators_) == 6 * n_train
    assert spec.model is not clf.teacher_.model and not hasattr(spec.model, "estimators_")
    clone(clf)  # an sklearn parameter like any other
    with pytest.raises(ValueError, match="already a ProbaTeacher"):
        make_teacher(clf.teacher_, belief="votes")


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
    clf = crembo.CREMBOClassifier(teacher=xgboost.XGBClassifier(n_estimators=5, max_depth=2, n_jobs=1), delta=100,
                                  random_state=0)
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
    with pytest.raises(ValueError, match="boosted XGBClassifier .4 boosting rounds"):
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
        boosting_type="rf", n_estimators=n, subsample=0.7, subsample_freq=1, colsample_bytree=0.8,
        num_leaves=8, min_child_samples=5, verbose=-1, n_jobs=1, **kw,
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
    with pytest.raises(ValueError, match="boosted LGBMClassifier .boosting_type='gbdt'"):
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


# -------------------------------------------------------------------------------- torch


def _torch():
    return pytest.importorskip("torch", reason="PyTorch is an optional extra: pip install '.[torch]'")


def test_torch_module_logits(data):
    torch = _torch()
    X, y = data
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    net.train()
    teacher = make_teacher(net)
    assert isinstance(teacher, TorchTeacher)
    with torch.no_grad():
        net.eval()
        z = net(torch.as_tensor(X, dtype=torch.float32)).double().numpy()
        net.train()
    expected = np.exp(z - z.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    belief = teacher.belief(X, np.arange(3))
    np.testing.assert_allclose(belief, expected, rtol=1e-6)
    np.testing.assert_array_equal(teacher.belief(X, np.arange(3)), belief)  # dropout off: deterministic
    assert net.training  # the user's mode is restored
    # small batches give the same belief; columns can be named
    small = TorchTeacher(net, batch_size=7, classes=NAMES)
    np.testing.assert_allclose(small.belief(X, NAMES), belief, rtol=1e-6)
    with pytest.raises(ValueError, match="hard votes are not defined for a torch module"):
        make_teacher(net, belief="votes")
    with pytest.raises(ValueError, match="3 columns but there are 2 classes"):
        teacher.belief(X, np.arange(2))


def test_torch_binary_output_and_crembo(data):
    torch = _torch()
    X, y = data
    yb = (y == 0).astype(int)
    lin = torch.nn.Linear(6, 1).double()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(np.linspace(-1, 1, 6)[None]))
        lin.bias.fill_(0.3)
    t = make_teacher(lin)
    z = X @ np.linspace(-1, 1, 6) + 0.3
    p1 = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(t.belief(X, np.array([0, 1])), np.column_stack([1 - p1, p1]), rtol=1e-9)
    sig = torch.nn.Sequential(lin, torch.nn.Sigmoid())
    np.testing.assert_allclose(make_teacher(sig, belief="proba").belief(X, np.array([0, 1])),
                               np.column_stack([1 - p1, p1]), rtol=1e-9)
    clf = crembo.CREMBOClassifier(teacher=lin, delta=40, random_state=0).fit(X, yb)
    assert isinstance(clf.teacher_, TorchTeacher) and 0.0 <= clf.fidelity_ <= 1.0
