"""MEMO: binary and galloping search against exhaustive search and known answers."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier

import crembo
from crembo import MemoResult, NoConsistentThresholdWarning
from crembo._memo import seeded_oracle
from crembo.oracles import Oracle, as_oracle
from crembo.teachers import make_teacher


def forest_belief(seed, n=80, k=3, trees=12):
    X, y = make_classification(
        n_samples=n, n_features=6, n_informative=4, n_classes=k, n_clusters_per_class=1, flip_y=0.1, random_state=seed
    )
    forest = RandomForestClassifier(n_estimators=trees, max_depth=3, random_state=seed).fit(X, y)
    return X, make_teacher(forest).belief(X, np.arange(k))


class ArgmaxOracle(Oracle):
    """Memorises the belief's argmax on the training rows, whatever is allowed. Its depth is
    min_i max_c p[i, c] at every threshold, so MEMO's answer is known in closed form."""

    def __init__(self, belief):
        self.labels = np.argmax(belief, axis=1)

    def fit(self, prepared, allowed, random_state=None):
        labels = self.labels

        class Fitted:
            def predict(self, X):
                return labels[: len(X)]

        return Fitted()


def consistent_at(X, belief, student, d, seed):
    model = as_oracle(student).fit(X, crembo.allowed_labels(belief, d, n_jobs=1), seed)
    return crembo.hypothesis_depth(belief, model.predict(X), n_jobs=1) >= d


@pytest.mark.parametrize("seed", range(6))
def test_binary_search_equals_exhaustive_search(seed):
    X, belief = forest_belief(seed)
    student = DecisionTreeClassifier(max_depth=2, class_weight="balanced")
    res = crembo.memo(X, belief, student, random_state=seed)
    thr = crembo.thresholds(belief)
    flags = np.array([consistent_at(X, belief, student, d, seed) for d in thr])
    # Whatever the oracle does, binary search ends at a consistent index whose successor fails.
    assert flags[res.index]
    assert res.index == len(thr) - 1 or not flags[res.index + 1]
    # The paper's oracle is monotone on these data (checked), so binary search finds the
    # exhaustive answer: the largest consistent threshold.
    assert flags[: np.flatnonzero(flags).max() + 1].all()
    assert res.index == np.flatnonzero(flags).max()
    assert res.threshold == thr[res.index]
    assert res.depth == crembo.hypothesis_depth(belief, res.estimator.predict(X)) >= res.threshold
    np.testing.assert_array_equal(res.thresholds, thr)


@pytest.mark.parametrize("search", ["binary", "gallop"])
def test_known_answer_with_argmax_oracle(search):
    X, belief = forest_belief(0, n=100)
    thr = crembo.thresholds(belief)
    answer = np.max(belief, axis=1).min()
    res = crembo.memo(X, belief, ArgmaxOracle(belief), search=search)
    assert res.threshold == answer and thr[res.index] == answer and res.depth == answer
    for call in res.trace:
        assert call.consistent == (call.depth >= call.threshold) == (call.threshold <= answer)
        assert call.seconds >= 0


def test_gallop_jumps_to_the_hypothesis_depth():
    X, belief = forest_belief(3, n=100)
    thr = crembo.thresholds(belief)
    binary = crembo.memo(X, belief, ArgmaxOracle(belief), search="binary")
    gallop = crembo.memo(X, belief, ArgmaxOracle(belief), search="gallop")
    # the first consistent call already reaches the answer: no more calls below it
    first_ok = next(i for i, c in enumerate(gallop.trace) if c.consistent)
    assert all(c.index > gallop.index for c in gallop.trace[first_ok + 1 :])
    assert len(gallop.trace) <= len(binary.trace)
    # with the paper's tree: the answer sits where its own depth falls among the thresholds
    res = crembo.memo(X, belief, None, search="gallop", random_state=0)
    assert thr[res.index] <= res.depth
    assert res.index == len(thr) - 1 or res.depth < thr[res.index + 1]


def test_eps_quantile_depth():
    X, belief = forest_belief(1, n=100)
    eps = 0.1
    rowmax = np.sort(np.max(belief, axis=1))
    answer = rowmax[int(np.floor(eps * len(X)))]
    res = crembo.memo(X, belief, ArgmaxOracle(belief), eps=eps)
    assert res.threshold == answer == res.depth
    assert res.depth == crembo.quantile_depth(belief, res.estimator.predict(X), eps)
    assert res.threshold > rowmax[0]  # deeper than strict consistency allows
    res_tree = crembo.memo(X, belief, None, eps=eps, random_state=0)
    assert res_tree.depth == crembo.quantile_depth(belief, res_tree.estimator.predict(X), eps) >= res_tree.threshold


def test_single_class_single_sample_and_index_zero():
    X = np.arange(10.0).reshape(5, 2)
    res = crembo.memo(X, np.ones((5, 1)))
    assert res.index == 0 and res.threshold == 1.0 and len(res.trace) == 1
    np.testing.assert_array_equal(res.estimator.predict(X), 0)

    res = crembo.memo(X[:1], np.array([[0.2, 0.5, 0.3]]), random_state=0)
    assert res.index == 2 and res.threshold == 0.5 and res.depth == 0.5
    assert res.estimator.predict(X[:1])[0] == 1

    # A student that can only predict class 0: nothing above the first threshold is consistent,
    # and the hypothesis at index 0 is still fitted and returned.
    class Zero(Oracle):
        def fit(self, prepared, allowed, random_state=None):
            return type("F", (), {"predict": lambda self, X: np.zeros(len(X), dtype=int)})()

    belief = np.array([[0.1, 0.9], [0.6, 0.4], [0.3, 0.7]])
    res = crembo.memo(X[:3], belief, Zero())
    assert res.index == 0 and res.threshold == 0.1 and res.depth == 0.1
    assert res.trace[-1].index == 0 and res.trace[-1].consistent and res.consistent
    assert isinstance(res, MemoResult)


def test_custom_candidates_and_determinism():
    X, belief = forest_belief(2)
    cand = [0.5, 0.0, 0.25, 0.25]
    res = crembo.memo(X, belief, None, candidate_thresholds=cand, random_state=4)
    np.testing.assert_array_equal(res.thresholds, [0.0, 0.25, 0.5])
    a = crembo.memo(X, belief, None, random_state=4)
    b = crembo.memo(X, belief, None, random_state=4)
    assert [(c.index, c.depth, c.consistent) for c in a.trace] == [(c.index, c.depth, c.consistent) for c in b.trace]
    np.testing.assert_array_equal(a.estimator.predict(X), b.estimator.predict(X))


def test_invalid_arguments():
    X, belief = forest_belief(0, n=40)
    with pytest.raises(ValueError, match="search must be one of"):
        crembo.memo(X, belief, search="linear")
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\)"):
        crembo.memo(X, belief, eps=1.0)
    with pytest.raises(ValueError, match="X has 39 samples but the belief has 40 rows"):
        crembo.memo(X[:-1], belief)
    with pytest.raises(ValueError, match="does not sum to 1"):
        crembo.memo(X, belief * 0.5)
    with pytest.raises(ValueError, match="NaN"):
        crembo.memo(X, belief, candidate_thresholds=[0.1, np.nan])
    with pytest.raises(TypeError, match="random_state"):
        crembo.memo(X, belief, random_state="seed")


def test_no_consistent_candidate_warns_and_says_so():
    # every row's belief is at most 0.75, so no hypothesis is consistent at 0.8 or 0.9
    X = np.arange(12.0).reshape(6, 2)
    belief = np.array([[0.75, 0.25], [0.25, 0.75]] * 3)
    for search in ("binary", "gallop"):
        with pytest.warns(NoConsistentThresholdWarning, match="no candidate threshold is consistent"):
            res = crembo.memo(X, belief, None, candidate_thresholds=[0.9, 0.8], search=search, random_state=0)
        assert not res.consistent and res.index == 0 and res.threshold == 0.8
        assert res.depth < res.threshold and not res.trace[-1].consistent
    # with a consistent candidate among them, no warning and consistent=True
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoConsistentThresholdWarning)
        res = crembo.memo(X, belief, None, candidate_thresholds=[0.25, 0.8], random_state=0)
    assert res.consistent and res.threshold == 0.25 and res.depth >= 0.25


def test_no_consistent_candidate_in_crembo_warns():
    X, y = make_classification(n_samples=120, n_features=5, flip_y=0.2, random_state=0)
    belief = np.where(np.eye(2, dtype=bool)[y], 0.75, 0.25)
    with pytest.warns(NoConsistentThresholdWarning):
        clf = crembo.CREMBOClassifier(teacher=belief, thresholds=[0.8, 0.9], random_state=0).fit(X, y)
    assert not clf.memo_.consistent and clf.depth_ < clf.memo_threshold_


@pytest.mark.parametrize("thresholds", [[5.0], [0.5, 1.5], [-0.5]])
def test_crembo_refuses_thresholds_outside_unit_interval_before_the_teacher(thresholds):
    class Teacher:  # would take the fit's time; must never be reached
        def fit(self, X, y):
            raise AssertionError("the teacher ran before the parameters were checked")

    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    with pytest.raises(ValueError, match=r"thresholds must lie in \[0, 1\]"):
        crembo.CREMBOClassifier(teacher=Teacher(), thresholds=thresholds, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match=r"thresholds must lie in \[0, 1\]"):
        crembo.memo(X, np.full((60, 2), 0.5), candidate_thresholds=thresholds)


@pytest.mark.parametrize("bad", [-1, 2**32, 2**40, np.int64(-5)])
def test_seed_out_of_range_is_refused_up_front(bad):
    X, belief = forest_belief(0, n=40)
    # refused even by the default native tree, which draws only above 200,000 rows
    with pytest.raises(ValueError, match=r"random_state must be in \[0, 2\*\*32 - 1\]"):
        crembo.memo(X, belief, random_state=bad)
    assert crembo.memo(X, belief, random_state=2**32 - 1).consistent


class _NeverFit:
    def fit(self, X, y):
        raise AssertionError("the teacher ran before the class count was checked")

    def predict_proba(self, X):
        raise AssertionError("the teacher ran before the class count was checked")


def test_native_tree_class_limit_is_checked_before_any_work():
    from crembo.tree import AllowedLabelTreeClassifier

    k = 256
    X = np.arange(2.0 * 2 * k).reshape(2 * k, 2)
    y = np.repeat(np.arange(k), 2)
    native = AllowedLabelTreeClassifier(max_depth=2)
    for student in (None, native):
        with pytest.raises(ValueError, match=r"256 classes but crembo's native tree .* at most 255"):
            crembo.CREMBOClassifier(teacher=_NeverFit(), student=student, random_state=0).fit(X, y)
        with pytest.raises(ValueError, match="at most 255"):
            crembo.memo(X, np.full((2 * k, k), 1.0 / k), student)
    with pytest.raises(ValueError, match="at most 255"):
        crembo.TeacherLabelBaseline(teacher=_NeverFit(), student=native, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="at most 255"):
        crembo.TrueLabelBaseline(student=native, random_state=0).fit(X, y)
    # other students are not limited: the baselines' default is scikit-learn's tree
    assert crembo.TrueLabelBaseline(random_state=0).fit(X, y).classes_.size == k
    # and 255 classes are within the limit
    res = crembo.memo(X[: 2 * 255], np.full((2 * 255, 255), 1.0 / 255), native, random_state=0)
    assert res.consistent


def test_memo_accepts_threshold_choices():
    X, belief = forest_belief(0, n=300)
    full = crembo.memo(X, belief, random_state=0)
    assert full.thresholds.size == np.unique(belief).size
    assert crembo.memo(X, belief, candidate_thresholds="auto", random_state=0).thresholds.size == full.thresholds.size
    few = crembo.memo(X, belief, candidate_thresholds=4, random_state=0)
    assert few.thresholds.size <= 4 and np.isin(few.thresholds, full.thresholds).all()


def test_seeded_oracle_bins_reproducibly_beyond_the_bin_subsample():
    # The native tree draws the rows for its bin edges when n > 200,000, in ``prepare``, which
    # runs on the student itself: MEMO/CREMBO seed it, or two runs with one random_state differ.
    X = np.random.default_rng(0).standard_normal((210_000, 2))
    student = crembo.AllowedLabelTreeClassifier(max_depth=1)
    unseeded = [crembo.as_oracle(student).prepare(X).X_binned for _ in range(2)]
    assert not np.array_equal(*unseeded)
    seeded = [seeded_oracle(student, 3).prepare(X).X_binned for _ in range(2)]
    np.testing.assert_array_equal(*seeded)
    assert student.random_state is None  # the user's student is not modified
    explicit = crembo.AllowedLabelTreeClassifier(random_state=7)
    assert seeded_oracle(explicit, 3).learner.random_state == 7  # a user's own seed wins
