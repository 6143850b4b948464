"""crembo.metrics against plain numpy formulas: fidelity, student depth, agreement, bootstrap CIs."""

import math

import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from crembo import metrics
from crembo.metrics import AgreementResult, ConfidenceInterval, agreement, bootstrap_ci, fidelity, student_depth


def _labels(rng, n, k=3):
    return rng.integers(0, k, size=n)


def _noisy_copy(rng, y, flip, k=3):
    out = y.copy()
    mask = rng.random(len(y)) < flip
    out[mask] = rng.integers(0, k, size=mask.sum())
    return out


def _belief(rng, n, k):
    p = rng.random((n, k)) + 0.05
    return p / p.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------------- fidelity


def test_fidelity_matches_numpy(rng):
    a = _labels(rng, 500)
    b = _noisy_copy(rng, a, 0.3)
    assert fidelity(a, b) == pytest.approx(np.mean(a == b))
    assert fidelity(a, a) == 1.0
    assert fidelity([0, 1, 2, 3], [1, 2, 3, 0]) == 0.0


def test_fidelity_string_labels_and_column_vectors():
    a = np.array(["cat", "dog", "dog", "bird"])
    b = np.array(["cat", "dog", "cat", "bird"])
    assert fidelity(a, b) == 0.75
    assert fidelity(a[:, None], b) == 0.75


def test_fidelity_with_estimators_and_mixed_inputs(rng):
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    teacher = DecisionTreeClassifier(max_depth=8, random_state=0).fit(X, y)
    student = DecisionTreeClassifier(max_depth=1, random_state=0).fit(X, y)
    expected = np.mean(student.predict(X) == teacher.predict(X))
    assert fidelity(student, teacher, X) == pytest.approx(expected)
    assert fidelity(student, teacher.predict(X), X) == pytest.approx(expected)
    assert fidelity(student.predict(X), teacher.predict(X)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "a, b, X, match",
    [
        ([0, 1, 2], [0, 1], None, "same number of samples"),
        ([], [], None, "empty"),
        (np.zeros((3, 2)), np.zeros((3, 2)), None, "1-D"),
        (None, [0], None, "got None"),
    ],
)
def test_fidelity_rejects_bad_inputs(a, b, X, match):
    with pytest.raises((ValueError, TypeError), match=match):
        fidelity(a, b, X)


def test_fidelity_estimator_needs_X(rng):
    X = rng.normal(size=(20, 2))
    est = DecisionTreeClassifier(max_depth=1).fit(X, X[:, 0] > 0)
    with pytest.raises(ValueError, match="pass X"):
        fidelity(est, np.zeros(20))
    with pytest.raises(ValueError, match="X has 20 rows"):
        fidelity(est, np.zeros(19), X)


def test_fidelity_ci_contains_estimate_and_is_deterministic(rng):
    a = _labels(rng, 400)
    b = _noisy_copy(rng, a, 0.4)
    res = fidelity(a, b, ci=True, random_state=7)
    assert isinstance(res, ConfidenceInterval)
    assert res.estimate == pytest.approx(np.mean(a == b))
    assert res.low <= res.estimate <= res.high
    assert 0 < res.high - res.low < 0.2
    assert tuple(res) == (res.estimate, res.low, res.high)
    assert fidelity(a, b, ci=True, random_state=7) == res
    assert fidelity(a, b, ci=True, random_state=np.random.default_rng(7)) == res
    assert fidelity(a, b, ci=True, random_state=8) != res


# ------------------------------------------------------------------------------ bootstrap


def test_bootstrap_matches_plain_numpy(rng):
    x = rng.normal(size=200)
    seed, n_resamples = 3, 500
    est, low, high = bootstrap_ci(
        lambda a: a.mean(axis=-1), x, n_resamples=n_resamples, confidence=0.9, random_state=seed
    )
    # the same percentile bootstrap written out: one (B, n) index draw, row means, quantiles
    idx = np.random.default_rng(seed).integers(0, len(x), size=(n_resamples, len(x)))
    stats = x[idx].mean(axis=1)
    assert est == pytest.approx(x.mean())
    assert low == pytest.approx(np.quantile(stats, 0.05))
    assert high == pytest.approx(np.quantile(stats, 0.95))


def test_bootstrap_close_to_normal_theory_and_narrows_with_n(rng):
    widths = []
    for n in (100, 1600):
        x = rng.normal(size=n)
        res = bootstrap_ci(lambda a: a.mean(axis=-1), x, n_resamples=2000, random_state=0)
        assert res.low <= res.estimate <= res.high
        half = 1.959964 * x.std(ddof=1) / math.sqrt(n)
        assert (res.high - res.low) / 2 == pytest.approx(half, rel=0.12)
        widths.append(res.high - res.low)
    # 16 times the samples: about a quarter of the width
    assert widths[1] < widths[0] / 3


def test_bootstrap_paired_arrays_and_blocks(rng, monkeypatch):
    a = _labels(rng, 300)
    b = _noisy_copy(rng, a, 0.5)

    def agree(x, y):
        return (x == y).mean(axis=-1)

    whole = bootstrap_ci(agree, a, b, n_resamples=300, random_state=1)
    # Drawing the resamples in many small blocks changes the memory footprint, not the answer.
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 7 * len(a))
    blocked = bootstrap_ci(agree, a, b, n_resamples=300, random_state=1)
    assert blocked == whole


def test_bootstrap_non_vectorized(rng):
    x = rng.normal(size=150)
    res = bootstrap_ci(np.median, x, n_resamples=400, random_state=0, vectorized=False)
    assert res.estimate == pytest.approx(np.median(x))
    assert res.low <= res.estimate <= res.high
    assert bootstrap_ci(np.median, x, n_resamples=400, random_state=0, vectorized=False) == res


def test_bootstrap_single_resample_and_constant_data():
    res = bootstrap_ci(lambda a: a.mean(axis=-1), np.ones(10), n_resamples=1, random_state=0)
    assert (res.estimate, res.low, res.high) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    "kwargs, arrays, exc, match",
    [
        ({"n_resamples": 0}, (np.ones(3),), ValueError, "n_resamples must be >= 1"),
        ({"n_resamples": 2.5}, (np.ones(3),), TypeError, "n_resamples must be an int"),
        ({"confidence": 1.0}, (np.ones(3),), ValueError, r"confidence must be in \(0, 1\)"),
        ({"confidence": 0.0}, (np.ones(3),), ValueError, r"confidence must be in \(0, 1\)"),
        ({}, (), ValueError, "at least one array"),
        ({}, (np.ones(0),), ValueError, "empty"),
        ({}, (np.ones(3), np.ones(4)), ValueError, "same number of samples"),
        ({}, (np.float64(1.0),), ValueError, "scalar"),
        ({"random_state": "seed"}, (np.ones(3),), TypeError, "random_state"),
    ],
)
def test_bootstrap_rejects_bad_arguments(kwargs, arrays, exc, match):
    with pytest.raises(exc, match=match):
        bootstrap_ci(lambda *a: a[0].mean(axis=-1), *arrays, **kwargs)


def test_bootstrap_rejects_non_reducing_metric():
    with pytest.raises(ValueError, match="reduce over axis=-1"):
        bootstrap_ci(np.mean, np.ones(5), n_resamples=3)  # np.mean reduces everything to a scalar


# ---------------------------------------------------------------------------- depth


def test_student_depth_on_predictions(rng):
    belief = _belief(rng, 200, 4)
    y = rng.integers(0, 4, size=200)
    pointwise = belief[np.arange(200), y]
    assert student_depth(y, belief) == pytest.approx(pointwise.min())
    for eps in (0.01, 0.1, 0.5):
        assert student_depth(y, belief, eps=eps) == pytest.approx(np.sort(pointwise)[math.floor(eps * 200)])


def test_student_depth_maps_estimator_labels_to_belief_columns(rng):
    X = rng.normal(size=(150, 3))
    names = np.array(["a", "b", "c"])
    y = names[(X[:, 0] > 0).astype(int) + (X[:, 1] > 1)]
    student = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    belief = _belief(rng, 150, 3)
    cols = np.searchsorted(names, student.predict(X))
    expected = belief[np.arange(150), cols].min()
    assert student_depth(student, belief, X) == pytest.approx(expected)
    # explicit column labels in another order
    order = np.array([2, 0, 1])
    assert student_depth(student, belief[:, order], X, classes=names[order]) == pytest.approx(expected)
    assert student_depth(student.predict(X), belief, classes=names) == pytest.approx(expected)


def test_student_depth_errors(rng):
    belief = _belief(rng, 10, 3)
    with pytest.raises(ValueError, match="not belief columns"):
        student_depth(np.array(["a"] * 10), belief, classes=["x", "y", "z"])
    with pytest.raises(ValueError, match="pass classes="):
        student_depth(np.array(["a"] * 10), belief)
    with pytest.raises(ValueError, match="one label per belief column"):
        student_depth(np.zeros(10, int), belief, classes=[0, 1])
    with pytest.raises(ValueError, match="belief has 10 rows"):
        student_depth(np.zeros(9, int), belief)
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        student_depth(np.full(10, 3), belief)
    X = rng.normal(size=(10, 2))
    two_class = DecisionTreeClassifier(max_depth=1).fit(X, X[:, 0] > 0)
    with pytest.raises(ValueError, match="2 classes but the belief has 3 columns"):
        student_depth(two_class, belief, X)


# ------------------------------------------------------------------------------- agreement


def test_agreement_matrix_and_mean_match_numpy(rng):
    base = _labels(rng, 300)
    students = [_noisy_copy(rng, base, f) for f in (0.1, 0.2, 0.3, 0.5)]
    res = agreement(students)
    assert isinstance(res, AgreementResult)
    m = len(students)
    expected = np.array([[np.mean(students[i] == students[j]) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(res.matrix, expected)
    off_diag = expected[~np.eye(m, dtype=bool)]
    assert res.estimate == pytest.approx(off_diag.mean())
    assert float(res) == res.estimate and res.low is None
    np.testing.assert_allclose(agreement(np.vstack(students)).matrix, expected)


def test_agreement_identical_and_string_labels():
    y = np.array(["x", "y", "z", "x"])
    assert agreement([y, y, y]).estimate == 1.0
    res = agreement([y, np.array(["x", "y", "x", "y"])])
    assert res.estimate == 0.5
    np.testing.assert_allclose(res.matrix, [[1, 0.5], [0.5, 1]])


def test_agreement_of_estimators_trained_on_folds(rng):
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + rng.normal(scale=0.5, size=400) > 0).astype(int)
    X_test = rng.normal(size=(200, 3))
    folds = np.array_split(rng.permutation(400), 4)
    students = [DecisionTreeClassifier(max_depth=3, random_state=0).fit(X[f], y[f]) for f in folds]
    res = agreement(students, X_test)
    preds = [s.predict(X_test) for s in students]
    assert res.estimate == pytest.approx(agreement(preds).estimate)


def test_agreement_ci(rng):
    base = _labels(rng, 500)
    students = [_noisy_copy(rng, base, 0.3) for _ in range(5)]
    res = agreement(students, ci=True, n_resamples=800, random_state=0)
    assert res.low <= res.estimate <= res.high
    assert res.confidence == 0.95 and res.n_resamples == 800
    # the CI is the bootstrap of the per-sample fraction of agreeing pairs
    codes = np.vstack(students)
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    per_sample = np.mean([codes[i] == codes[j] for i, j in pairs], axis=0)
    ref = bootstrap_ci(lambda a: a.mean(axis=-1), per_sample, n_resamples=800, random_state=0)
    assert (res.low, res.high) == pytest.approx((ref.low, ref.high))
    assert agreement(students, ci=True, n_resamples=800, random_state=0).low == res.low


def test_agreement_errors(rng):
    with pytest.raises(ValueError, match="at least 2 students"):
        agreement([np.zeros(5)])
    with pytest.raises(ValueError, match="same number of samples"):
        agreement([np.zeros(5), np.zeros(4)])
    with pytest.raises(TypeError, match="list of predictions"):
        agreement(3)
    with pytest.raises(ValueError, match="n_resamples"):
        agreement([np.zeros(5), np.zeros(5)], ci=True, n_resamples=0)
