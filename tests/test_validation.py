"""Bad input gets a clear ValueError/TypeError naming the problem.

Odd-but-valid input (views, read-only buffers, other dtypes, byte order, lists) giving exactly
the answer of the plain input, on every backend: test_odd_inputs.py.
"""

import numpy as np
import pytest

import crembo
from crembo import _validation as v
from crembo._validation import BELIEF_ATOL

BELIEF = np.array([[0.5, 0.25, 0.25], [0.0, 1.0, 0.0], [0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3]])
Y = np.array([0, 1, 2, 1])
VOTES = np.array([[0, 1, 2, 1], [0, 1, 2, 2], [1, 1, 0, 0]])

# every public function that takes a belief, as f(belief) with otherwise valid arguments
BELIEF_FUNCTIONS = {
    "check_belief": lambda b, **kw: crembo.check_belief(b, **kw),
    "thresholds": lambda b, **kw: crembo.thresholds(b, **kw),
    "allowed_labels": lambda b, **kw: crembo.allowed_labels(b, 0.25, **kw),
    "pointwise_depth": lambda b, **kw: crembo.pointwise_depth(b, Y, **kw),
    "hypothesis_depth": lambda b, **kw: crembo.hypothesis_depth(b, Y, **kw),
    "hypothesis_depths": lambda b, **kw: crembo.hypothesis_depths(b, Y[None, :], **kw),
    "count_consistent": lambda b, **kw: crembo.count_consistent(b, Y, 0.25, **kw),
    "is_consistent": lambda b, **kw: crembo.is_consistent(b, Y, 0.25, **kw),
    "quantile_depth": lambda b, **kw: crembo.quantile_depth(b, Y, 0.25, **kw),
}

# every public function that takes labels, as f(labels)
LABEL_FUNCTIONS = {
    "pointwise_depth": lambda y, **kw: crembo.pointwise_depth(BELIEF, y, **kw),
    "hypothesis_depth": lambda y, **kw: crembo.hypothesis_depth(BELIEF, y, **kw),
    "count_consistent": lambda y, **kw: crembo.count_consistent(BELIEF, y, 0.25, **kw),
    "is_consistent": lambda y, **kw: crembo.is_consistent(BELIEF, y, 0.25, **kw),
    "quantile_depth": lambda y, **kw: crembo.quantile_depth(BELIEF, y, 0.5, **kw),
}

VOTE_FUNCTIONS = {
    "belief_from_votes": lambda v, k=3, **kw: crembo.belief_from_votes(v, k, **kw),
    "vote_counts": lambda v, k=3, **kw: crembo.vote_counts(v, k, **kw),
}

belief_functions = pytest.mark.parametrize("func", list(BELIEF_FUNCTIONS), ids=str)
label_functions = pytest.mark.parametrize("func", list(LABEL_FUNCTIONS), ids=str)
vote_functions = pytest.mark.parametrize("func", list(VOTE_FUNCTIONS), ids=str)


# ---------------------------------------------------------------------------------------------
# beliefs


@belief_functions
@pytest.mark.parametrize("shape", [(12,), (2, 2, 3), ()], ids=str)
def test_belief_wrong_ndim(func, shape):
    with pytest.raises(ValueError, match=r"belief must be 2-D \(n_samples, n_classes\)"):
        BELIEF_FUNCTIONS[func](np.full(shape, 0.5))


@belief_functions
@pytest.mark.parametrize("shape", [(0, 3), (4, 0), (0, 0)], ids=str)
def test_belief_empty(func, shape):
    with pytest.raises(ValueError, match="belief is empty"):
        BELIEF_FUNCTIONS[func](np.zeros(shape))


@belief_functions
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_belief_nonfinite(func, value):
    belief = BELIEF.copy()
    belief[2, 1] = value
    with pytest.raises(ValueError, match="belief: row 2 contains NaN or infinity"):
        BELIEF_FUNCTIONS[func](belief)


@belief_functions
def test_belief_negative(func):
    belief = BELIEF.copy()
    belief[1] = [-0.25, 1.0, 0.25]  # sums to 1, but negative
    with pytest.raises(ValueError, match="belief: row 1 has a negative value"):
        BELIEF_FUNCTIONS[func](belief)


@belief_functions
@pytest.mark.parametrize("sign", [1, -1])
def test_belief_bad_row_sum(func, sign):
    belief = BELIEF.copy()
    belief[3] *= 1 + sign * 3 * BELIEF_ATOL
    with pytest.raises(ValueError, match=r"belief: row 3 does not sum to 1 \(tolerance 1e-05\) \(it sums to"):
        BELIEF_FUNCTIONS[func](belief)


def test_belief_first_bad_row_named_and_counted():
    belief = BELIEF.copy()
    belief[1, 0] = np.nan
    belief[3] *= 2
    with pytest.raises(ValueError, match=r"row 1 contains NaN.*2 bad row"):
        crembo.check_belief(belief)


@belief_functions
def test_belief_within_tolerance_accepted(func):
    belief = BELIEF.copy()
    belief[0] *= 1 + 0.5 * BELIEF_ATOL
    belief[2] *= 1 - 0.5 * BELIEF_ATOL
    out, plain = (np.asarray(BELIEF_FUNCTIONS[func](b), dtype=np.float64) for b in (belief, BELIEF))
    if func == "thresholds":  # the perturbation splits equal values apart: compare the rounded sets
        out, plain = np.unique(out.round(4)), np.unique(plain.round(4))
    np.testing.assert_allclose(out, plain, rtol=1e-4, atol=0)


def test_proba_renormalised_within_tolerance():
    proba = BELIEF.copy()
    proba[0] *= 1 + 0.5 * BELIEF_ATOL
    proba[2] *= 1 - 0.9 * BELIEF_ATOL
    belief = crembo.belief_from_proba(proba)
    assert belief.dtype == np.float64
    np.testing.assert_allclose(belief.sum(axis=1), 1.0, rtol=0, atol=4e-16)
    np.testing.assert_allclose(belief, BELIEF, rtol=1e-15, atol=0)
    # a custom tolerance is honoured, both ways
    crembo.belief_from_proba(BELIEF * (1 + 1e-3), atol=1e-2)
    with pytest.raises(ValueError, match=r"proba: row 0 does not sum to 1 \(tolerance 1e-09\)"):
        crembo.belief_from_proba(BELIEF * (1 + 1e-6), atol=1e-9)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda p: p.__setitem__((1, 1), np.nan), "proba: row 1 contains NaN or infinity"),
        (lambda p: p.__setitem__((0, 0), -0.5), "proba: row 0 has a negative value"),
        (lambda p: p.__setitem__(3, p[3] * 1.01), "proba: row 3 does not sum to 1"),
        (lambda p: p.__setitem__(2, 0.0), "proba: row 2 does not sum to 1"),
    ],
    ids=["nan", "negative", "sum", "zero-row"],
)
def test_proba_bad_rows(bad, message):
    proba = BELIEF.copy()
    bad(proba)
    with pytest.raises(ValueError, match=message):
        crembo.belief_from_proba(proba)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_logits_nonfinite(value):
    logits = np.zeros((3, 2))
    logits[1, 0] = value
    with pytest.raises(ValueError, match="logits contain NaN or infinity"):
        crembo.belief_from_logits(logits)


@pytest.mark.parametrize("shape", [(3,), (0, 2), (2, 0), (1, 2, 2)], ids=str)
def test_logits_and_proba_shapes(shape):
    with pytest.raises(ValueError, match=r"logits (must be 2-D|is empty)"):
        crembo.belief_from_logits(np.zeros(shape))
    with pytest.raises(ValueError, match=r"proba (must be 2-D|is empty)"):
        crembo.belief_from_proba(np.zeros(shape))


@pytest.mark.parametrize(
    "bad",
    [
        [["a", "b"], ["c", "d"]],
        np.array([[0.5, 0.5]], dtype=object),
        [[0.5, 0.5], [1.0]],
        None,
        np.ones((2, 2), complex),
    ],
    ids=["strings", "object", "ragged", "None", "complex"],
)
def test_belief_not_numbers(bad):
    with pytest.raises(TypeError, match="belief"):
        crembo.check_belief(bad)
    with pytest.raises(TypeError, match="belief"):
        crembo.hypothesis_depth(bad, [0, 0])
    with pytest.raises(TypeError, match="proba"):
        crembo.belief_from_proba(bad)
    with pytest.raises(TypeError, match="logits"):
        crembo.belief_from_logits(bad)


# ---------------------------------------------------------------------------------------------
# labels / predictions


@label_functions
@pytest.mark.parametrize("bad", [[0, 1, 3, 1], [0, -1, 2, 1], [3, 3, 3, 3], [0, 1, 2, 2**40]], ids=str)
def test_labels_out_of_range(func, bad):
    n_bad = sum(not 0 <= b < 3 for b in bad)
    with pytest.raises(ValueError, match=rf"y_pred must be class indices in \[0, 3\); {n_bad} value\(s\) are outside"):
        LABEL_FUNCTIONS[func](np.array(bad))


@label_functions
def test_labels_wrong_shape(func):
    with pytest.raises(ValueError, match=r"y_pred must be 1-D"):
        LABEL_FUNCTIONS[func](Y[None, :])
    with pytest.raises(ValueError, match="y_pred has 3 entries but the belief has 4 rows"):
        LABEL_FUNCTIONS[func](Y[:3])
    with pytest.raises(ValueError, match="y_pred has 0 entries"):
        LABEL_FUNCTIONS[func](np.array([], dtype=np.int64))


@label_functions
@pytest.mark.parametrize(
    "bad", [[0.0, 1.5, 2.0, 1.0], [0.0, np.nan, 2.0, 1.0], [0, 1, np.inf, 1]], ids=["half", "nan", "inf"]
)
def test_labels_non_integral(func, bad):
    with pytest.raises(ValueError, match=r"y_pred contains (non-integer values|NaN or infinity)"):
        LABEL_FUNCTIONS[func](np.array(bad))


@label_functions
@pytest.mark.parametrize(
    "bad", [["a", "b", "c", "d"], np.array([0, 1, 2, 1], dtype=object), None], ids=["str", "object", "None"]
)
def test_labels_not_numbers(func, bad):
    with pytest.raises(TypeError, match="y_pred"):
        LABEL_FUNCTIONS[func](bad)


def test_prediction_matrix_errors():
    with pytest.raises(ValueError, match=r"predictions must be 2-D \(n_hypotheses, n_samples\)"):
        crembo.hypothesis_depths(BELIEF, Y)
    with pytest.raises(ValueError, match="predictions has 3 columns but the belief has 4 rows"):
        crembo.hypothesis_depths(BELIEF, np.zeros((2, 3), dtype=int))
    with pytest.raises(ValueError, match="predictions has no hypothesis"):
        crembo.hypothesis_depths(BELIEF, np.zeros((0, 4), dtype=int))
    with pytest.raises(ValueError, match=r"predictions must be class indices in \[0, 3\); 2 value\(s\)"):
        crembo.hypothesis_depths(BELIEF, np.array([[0, 1, 2, 1], [5, 1, -1, 0]]))
    with pytest.raises(ValueError, match="predictions contains non-integer"):
        crembo.hypothesis_depths(BELIEF, np.array([[0, 1, 2, 1.5]]))
    with pytest.raises(TypeError, match="predictions"):
        crembo.hypothesis_depths(BELIEF, [["0", "1", "2", "1"]])


# ---------------------------------------------------------------------------------------------
# votes and n_classes


@vote_functions
@pytest.mark.parametrize("shape", [(4,), (2, 2, 2), ()], ids=str)
def test_votes_wrong_ndim(func, shape):
    with pytest.raises(ValueError, match=r"votes must be 2-D \(n_members, n_samples\)"):
        VOTE_FUNCTIONS[func](np.zeros(shape, dtype=int))


@vote_functions
@pytest.mark.parametrize("shape", [(0, 4), (3, 0)], ids=str)
def test_votes_empty(func, shape):
    with pytest.raises(ValueError, match="votes is empty"):
        VOTE_FUNCTIONS[func](np.zeros(shape, dtype=int))


@vote_functions
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.int64, np.uint64])
def test_votes_out_of_range(func, dtype):
    votes = VOTES.astype(dtype)
    votes[0, 0] = 7
    votes[2, 3] = 3
    with pytest.raises(ValueError, match=r"votes must be class indices in \[0, 3\); 2 value\(s\) are outside"):
        VOTE_FUNCTIONS[func](votes)
    if np.dtype(dtype).kind == "i":
        votes = VOTES.astype(dtype)
        votes[1, 1] = -1
        with pytest.raises(ValueError, match=r"1 value\(s\) are outside"):
            VOTE_FUNCTIONS[func](votes)


@vote_functions
def test_votes_non_integral_floats(func):
    with pytest.raises(ValueError, match="votes contains non-integer values"):
        VOTE_FUNCTIONS[func](VOTES + 0.5)
    bad = VOTES.astype(float)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="votes contains NaN or infinity"):
        VOTE_FUNCTIONS[func](bad)
    with pytest.raises(ValueError, match=r"outside the int64 range|are outside"):
        VOTE_FUNCTIONS[func](VOTES * 1e19)


@vote_functions
@pytest.mark.parametrize(
    "bad",
    [[["0", "1"]], np.array([[0, 1]], dtype=object), [[0, 1], [1]], None],
    ids=["str", "object", "ragged", "None"],
)
def test_votes_not_numbers(func, bad):
    with pytest.raises(TypeError, match="votes"):
        VOTE_FUNCTIONS[func](bad)


@vote_functions
@pytest.mark.parametrize("k", [0, -3])
def test_n_classes_too_small(func, k):
    with pytest.raises(ValueError, match=f"n_classes must be >= 1, got {k}"):
        VOTE_FUNCTIONS[func](VOTES, k)


@vote_functions
@pytest.mark.parametrize("k", [3.0, "3", None, True, np.float64(3)], ids=repr)
def test_n_classes_not_int(func, k):
    with pytest.raises(TypeError, match="n_classes must be an int"):
        VOTE_FUNCTIONS[func](VOTES, k)


@vote_functions
def test_n_classes_numpy_int_accepted(func):
    np.testing.assert_array_equal(VOTE_FUNCTIONS[func](VOTES, np.int32(3)), VOTE_FUNCTIONS[func](VOTES, 3))


# ---------------------------------------------------------------------------------------------
# scalar arguments


@pytest.mark.parametrize("func", ["allowed_labels", "count_consistent", "is_consistent"])
def test_threshold_checks(func):
    f = {
        "allowed_labels": lambda d: crembo.allowed_labels(BELIEF, d),
        "count_consistent": lambda d: crembo.count_consistent(BELIEF, Y, d),
        "is_consistent": lambda d: crembo.is_consistent(BELIEF, Y, d),
    }[func]
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\] .*got nan"):
        f(float("nan"))
    for bad in ["0.5", None, True, [0.5], 1j]:
        with pytest.raises(TypeError, match="threshold must be a real number"):
            f(bad)
    for bad in [np.True_, np.bool_(False)]:
        with pytest.raises(TypeError, match="threshold must be a real number"):
            f(bad)
    # beliefs are probabilities: a threshold outside [0, 1] is a mistake (50 for 50%, a logit),
    # not a question to answer silently (all False / all True)
    for bad in [50, 1.5, float(np.nextafter(1.0, 2.0)), -0.1, np.inf, -np.inf]:
        with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\]"):
            f(bad)
    f(np.float32(0.25))  # numpy scalars are fine
    f(0)  # the ends are thresholds like any other
    f(1)


def test_eps_checks():
    for bad in [-0.1, 1.0, 1.5, float("nan"), np.inf, -np.inf]:
        with pytest.raises(ValueError, match=r"eps must be in \[0, 1\)"):
            crembo.quantile_depth(BELIEF, Y, bad)
    for bad in ["0.1", None, True, np.True_]:
        with pytest.raises(TypeError, match="eps must be a real number"):
            crembo.quantile_depth(BELIEF, Y, bad)


@pytest.mark.parametrize("func", ["belief_from_proba", "check_belief"])
def test_atol_checks(func, backend_name):
    f = getattr(crembo, func)
    # a tolerance of 1 or more accepts a row of zeros, which has no normalisation (0 / 0 gave a
    # NaN belief), and NaN accepts every row: both are refused, as are negative tolerances
    for bad in [np.inf, 1.0, 2, float("nan"), -1e-9, -np.inf]:
        with pytest.raises(ValueError, match=r"atol must be in \[0, 1\) \(the tolerance on a row sum of 1\)"):
            f(np.zeros((3, 2)), atol=bad, backend=backend_name)
        with pytest.raises(ValueError, match=r"atol must be in \[0, 1\) \(the tolerance on a row sum of 1\)"):
            f(BELIEF * 3, atol=bad, backend=backend_name)
    for bad in ["1e-5", None, True, [1e-5]]:
        with pytest.raises(TypeError, match="atol must be a real number"):
            f(BELIEF, atol=bad, backend=backend_name)
    # the largest tolerance still refuses a row of zeros
    with pytest.raises(ValueError, match="row 0 does not sum to 1"):
        f(np.zeros((3, 2)), atol=float(np.nextafter(1.0, 0.0)), backend=backend_name)
    np.testing.assert_allclose(
        np.asarray(f(BELIEF * 1.5, atol=0.5, backend=backend_name)).sum(axis=1),
        1.0 if func == "belief_from_proba" else 1.5,
    )
    f(BELIEF, atol=0, backend=backend_name)


def test_n_jobs_checks():
    with pytest.raises(ValueError, match="n_jobs == 0"):
        crembo.hypothesis_depth(BELIEF, Y, n_jobs=0)
    for bad in [1.5, "2", True]:
        with pytest.raises(TypeError, match="n_jobs must be an int or None"):
            crembo.hypothesis_depth(BELIEF, Y, n_jobs=bad)
    for ok in [None, 1, 2, -1, -100, np.int64(2)]:
        assert crembo.hypothesis_depth(BELIEF, Y, n_jobs=ok) == 1 / 3


def test_check_int_and_check_real():
    assert v.check_int(np.int32(3), "m", low=1) == 3 and type(v.check_int(np.int64(3), "m")) is int
    assert v.check_int(None, "m", low=1, allow_none=True) is None
    assert v.check_real(np.float32(0.5), "f", low=0, high=1) == 0.5 and type(v.check_real(1, "f")) is float
    for bad, message in [
        (True, "m must be an int >= 1, got True"),
        (np.True_, "m must be an int >= 1"),
        (1.0, "m must be an int >= 1, got 1.0"),
        ("2", "m must be an int >= 1"),
        (None, "m must be an int >= 1, got None"),
    ]:
        with pytest.raises(TypeError, match=message):
            v.check_int(bad, "m", low=1)
    with pytest.raises(TypeError, match="m must be None or an int in \\[2, 255\\], got 'a'"):
        v.check_int("a", "m", low=2, high=255, allow_none=True)
    with pytest.raises(ValueError, match="m must be in \\[2, 255\\], got 256"):
        v.check_int(256, "m", low=2, high=255)
    with pytest.raises(ValueError, match="m must be >= 1, got 0"):
        v.check_int(np.int8(0), "m", low=1)
    for bad in [True, "0.5", None, 1j]:
        with pytest.raises(TypeError, match="f must be a real number in \\(0, 1\\)"):
            v.check_real(bad, "f", low=0, high=1, low_open=True, high_open=True)
    for bad in [0, 1.0, float("nan"), np.inf]:
        with pytest.raises(ValueError, match=f"f must be in \\(0, 1\\), got {bad!r}"):
            v.check_real(bad, "f", low=0, high=1, low_open=True, high_open=True)
    # a one-sided range says "finite": infinity passes "> 0" but is no learning rate
    for bad in [0.0, -1, np.inf, float("nan")]:
        with pytest.raises(ValueError, match="f must be a finite number > 0"):
            v.check_real(bad, "f", low=0, low_open=True)
    with pytest.raises(ValueError, match=r"f must be in \[0, 1\] \(a reason\), got 2.0"):
        v.check_real(2, "f", low=0, high=1, why="a reason")


def _forest_and_data():
    from sklearn.ensemble import RandomForestClassifier

    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.arange(30) % 2
    return RandomForestClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, y), X, y


# Integer parameters of public functions and estimators: a value of the wrong kind is a
# TypeError, one out of range a ValueError, with the same words everywhere.
INT_PARAMETERS = {
    "max_depth": (lambda x, f, X, y: crembo.AllowedLabelTreeClassifier(max_depth=x).fit(X, y), -1),
    "min_samples_leaf": (lambda x, f, X, y: crembo.AllowedLabelTreeClassifier(min_samples_leaf=x).fit(X, y), 0),
    "max_bins": (lambda x, f, X, y: crembo.tree.bin_features(X, max_bins=x), 256),
    "n_resamples": (lambda x, f, X, y: crembo.metrics.fidelity(f, f, X, ci=True, n_resamples=x), 0),
    "chunk_size": (lambda x, f, X, y: crembo.teachers.forest.forest_belief(f, X, chunk_size=x), 0),
    "n_features": (lambda x, f, X, y: crembo.export.to_onnx(f.estimators_[0], n_features=x), None),
}


@pytest.mark.parametrize("name", sorted(INT_PARAMETERS))
def test_integer_parameters_share_one_check(name):
    call, out_of_range = INT_PARAMETERS[name]
    forest, X, y = _forest_and_data()
    if name == "n_features":
        pytest.importorskip("skl2onnx")
    for bad in [1.5, True, "3"]:
        with pytest.raises(TypeError, match=f"{name} must be (None or )?an int"):
            call(bad, forest, X, y)
    if out_of_range is not None:
        with pytest.raises(ValueError, match=f"{name} must be (>=|in) "):
            call(out_of_range, forest, X, y)


def test_unknown_backend_argument():
    with pytest.raises(ValueError, match="unknown backend 'fast'"):
        crembo.belief_from_votes(VOTES, 3, backend="fast")


@pytest.mark.parametrize(
    "params, exc",
    [
        ({"backend": "fast"}, ValueError),
        ({"n_jobs": 0}, ValueError),
        ({"n_jobs": 1.5}, TypeError),
        ({"n_jobs": True}, TypeError),
    ],
)
@pytest.mark.parametrize("estimator", ["CREMBOClassifier", "TeacherLabelBaseline"])
def test_estimator_run_params_checked_before_the_teacher(estimator, params, exc):
    from sklearn.linear_model import LogisticRegression

    class Teacher(LogisticRegression):
        def fit(self, X, y):
            raise AssertionError("the teacher was fitted before n_jobs / backend were checked")

    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.arange(40) % 2
    with pytest.raises(exc, match=r"backend|n_jobs"):
        getattr(crembo, estimator)(teacher=Teacher(), random_state=0, **params).fit(X, y)
