"""CREMBOClassifier against the paper's algorithm written out plainly (selection="paper"), plus
sklearn conventions. The default cross-validated selection is tested in test_selection.py."""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import check_estimator

import crembo
import crembo._candidates
from crembo.oracles import paper_student


def small_forest(seed=0, trees=10):
    return RandomForestClassifier(n_estimators=trees, max_depth=4, class_weight="balanced", random_state=seed)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=200, n_features=6, n_informative=4, n_classes=3, n_clusters_per_class=1, flip_y=0.1, random_state=5
    )
    return X[:160], y[:160], X[160:], y[160:]


def paper_student_predict(tree, X):
    """The paper's prediction of a multi-output tree: the output most likely to be 1."""
    scores = [
        p[:, list(cl).index(1)] if 1 in cl else np.zeros(len(X))
        for p, cl in zip(tree.predict_proba(X), tree.classes_, strict=True)
    ]
    return np.argmax(np.column_stack(scores), axis=1)


def reference_crembo(X, y, seed, delta, trees=10, fraction=0.15):
    """CREMBO as in the paper, step by step, with sklearn only (no crembo code)."""
    classes, y_enc = np.unique(y, return_inverse=True)
    tr, va = train_test_split(np.arange(len(y)), test_size=fraction, stratify=y_enc, random_state=seed)
    forest = small_forest(seed, trees).fit(X[tr], y[tr])
    votes = np.array([forest.classes_[t.predict(X[tr]).astype(int)] for t in forest.estimators_])
    belief = np.stack([(votes == c).mean(axis=0) for c in classes], axis=1)
    thr = np.unique(belief)

    def student(d):
        tree = DecisionTreeClassifier(max_depth=4, class_weight="balanced", random_state=seed)
        return tree.fit(X[tr], (belief >= d).astype(int))

    def depth(tree):
        return belief[np.arange(len(tr)), paper_student_predict(tree, X[tr])].min()

    # MEMO: binary search for the largest threshold with a consistent student.
    lo, hi = 0, len(thr) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if depth(student(thr[mid])) >= thr[mid]:
            lo = mid
        else:
            hi = mid - 1
    # CREMBO: scan upward from MEMO's index, score on validation, keep the best (first max).
    scan, scores = list(range(lo, len(thr), delta)), []
    for m in scan:
        scores.append(np.mean(paper_student_predict(student(thr[m]), X[va]) == y_enc[va]))
    best = int(np.argmax(scores))
    return dict(
        memo_index=lo,
        scan=scan,
        scores=np.array(scores),
        threshold=thr[scan[best]],
        tree=student(thr[scan[best]]),
        classes=classes,
    )


@pytest.mark.parametrize("delta", [1, 3])
def test_equals_the_papers_algorithm(data, delta):
    X, y, X_test, _ = data
    ref = reference_crembo(X, y, seed=0, delta=delta)
    clf = crembo.CREMBOClassifier(
        teacher=RandomForestClassifier(n_estimators=10, max_depth=4, class_weight="balanced"),
        student=paper_student(),
        delta=delta,
        random_state=0,
        selection="paper",
    ).fit(X, y)
    assert clf.memo_.index == ref["memo_index"]
    np.testing.assert_array_equal(clf.scan_.indices, ref["scan"])
    np.testing.assert_array_equal(clf.scan_.validation_scores, ref["scores"])
    assert clf.threshold_ == ref["threshold"] and clf.memo_threshold_ == clf.memo_.threshold
    np.testing.assert_array_equal(clf.predict(X_test), ref["classes"][paper_student_predict(ref["tree"], X_test)])
    best = int(np.argmax(clf.scan_.validation_scores))
    assert clf.depth_ == clf.scan_.depths[best] and clf.scan_.position == best


def test_determinism_and_parallel_scan(data):
    X, y, X_test, _ = data
    kw = dict(teacher=small_forest(None), random_state=3, delta=2)
    a = crembo.CREMBOClassifier(**kw).fit(X, y)
    b = crembo.CREMBOClassifier(**kw).fit(X, y)
    c = crembo.CREMBOClassifier(**kw, n_jobs=2).fit(X, y)
    for other in (b, c):
        np.testing.assert_array_equal(a.predict(X_test), other.predict(X_test))
        np.testing.assert_array_equal(a.scan_.validation_scores, other.scan_.validation_scores)
        np.testing.assert_array_equal(a.scan_.depths, other.scan_.depths)
        assert a.threshold_ == other.threshold_


def test_labels_of_any_type(data):
    X, y, X_test, _ = data
    ref = crembo.CREMBOClassifier(teacher=small_forest(), random_state=1).fit(X, y)
    for labels in (np.array(["setosa", "versicolor", "virginica"]), np.array([1, 11, 16])):
        clf = crembo.CREMBOClassifier(teacher=small_forest(), random_state=1).fit(X, labels[y])
        np.testing.assert_array_equal(clf.classes_, labels)
        np.testing.assert_array_equal(clf.predict(X_test), labels[ref.predict(X_test)])
        assert clf.threshold_ == ref.threshold_


def test_teachers_of_every_kind(data):
    X, y, X_test, _ = data
    # A prefit forest is used as is; its belief given as a matrix gives the same student.
    forest = small_forest().fit(X, y)
    a = crembo.CREMBOClassifier(teacher=forest, random_state=2).fit(X, y)
    assert a.teacher_.model is forest
    belief = crembo.make_teacher(forest).belief(X, np.unique(y))
    b = crembo.CREMBOClassifier(teacher=belief, random_state=2).fit(X, y)
    np.testing.assert_array_equal(a.predict(X_test), b.predict(X_test))
    assert a.threshold_ == b.threshold_
    # predict_proba teacher, and a callable returning logits
    lr = LogisticRegression(max_iter=500)
    c = crembo.CREMBOClassifier(teacher=lr, random_state=2, delta=20).fit(X, y)
    assert isinstance(c.teacher_, crembo.teachers.ProbaTeacher) and not hasattr(lr, "coef_")
    W = np.random.default_rng(0).normal(size=(X.shape[1], 3))
    d = crembo.CREMBOClassifier(
        teacher=crembo.CallableTeacher(lambda Z: Z @ W, kind="logits"), delta=20, random_state=2, selection="paper"
    ).fit(X, y)
    # the callable's labels on the validation split are what fidelity_ compares the student with
    _tr, va = crembo.estimator.stratified_split(np.unique(y, return_inverse=True)[1], d.classes_, 0.15, 2)
    assert d.fidelity_ == np.mean(d.estimator_.predict(X[va]) == np.argmax(X[va] @ W, axis=1))
    with pytest.raises(ValueError, match="belief matrix has 10 rows but X has 160"):
        crembo.CREMBOClassifier(teacher=belief[:10]).fit(X, y)


def test_other_students(data):
    X, y, X_test, _ = data
    clf = crembo.CREMBOClassifier(
        teacher=small_forest(), student=LogisticRegression(max_iter=300), random_state=0, delta=3
    ).fit(X, y)
    np.testing.assert_array_equal(clf.predict(X_test), clf.classes_[clf.estimator_.predict(X_test)])
    assert isinstance(clf.estimator_.estimator_, list)  # one logistic regression per label
    # depth_ is the chosen student's depth on the training belief (every row: the refit's);
    # MEMO's is >= its threshold
    belief = clf.teacher_.belief(X, clf.classes_)
    assert clf.depth_ == belief[np.arange(len(y)), clf.estimator_.predict(X)].min()
    assert clf.memo_.depth >= clf.memo_.threshold

    class Majority:  # an allowed-label learner without sklearn
        def fit_allowed(self, X, allowed):
            self.label_ = int(np.argmax(allowed.sum(axis=0)))
            return self

        def predict(self, X):
            return np.full(len(X), self.label_)

    clf = crembo.CREMBOClassifier(teacher=small_forest(), student=Majority(), random_state=0).fit(X, y)
    assert len(set(clf.predict(X_test))) == 1
    np.testing.assert_array_equal(clf.predict_proba(X_test)[:, clf.estimator_.label_], 1.0)


@pytest.mark.parametrize(
    "params, error, match",
    [
        (dict(delta=0), ValueError, "delta must be >= 1"),
        (dict(delta=1.5), TypeError, "delta must be an int"),
        (dict(delta=True), TypeError, "delta must be an int"),
        (dict(validation_fraction=0.0), ValueError, r"validation_fraction must be in \(0, 1\)"),
        (dict(validation_fraction=1.0), ValueError, r"validation_fraction must be in \(0, 1\)"),
        (dict(eps=1.0), ValueError, r"eps must be in \[0, 1\)"),
        (dict(search="linear"), ValueError, "search must be"),
        (dict(selection="holdout!"), ValueError, "selection must be one of"),
        (dict(teacher=LinearSVC()), TypeError, "neither predict_proba nor estimators_"),
        (dict(teacher=object()), TypeError, "cannot use a object as a teacher"),
    ],
)
def test_invalid_parameters_fail_at_fit(data, params, error, match):
    X, y, _, _ = data
    clf = crembo.CREMBOClassifier(**params)  # never at construction
    with pytest.raises(error, match=match):
        clf.fit(X, y)


def test_too_few_samples_per_class(data):
    # a class seen once is kept with a warning (test_selection.py); the paper's split of 8 rows
    # of 4 classes leaves no validation row per class
    with pytest.raises(ValueError, match="cannot split 8 samples of 4 classes"):
        crembo.CREMBOClassifier(teacher=small_forest(), selection="paper").fit(data[0][:8], np.repeat([0, 1, 2, 3], 2))


def test_pickle_and_joblib_round_trip(data, tmp_path):
    X, y, X_test, _ = data
    clf = crembo.CREMBOClassifier(teacher=small_forest(), random_state=0, delta=2).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(X_test), clf.predict(X_test))
    joblib.dump(clf, tmp_path / "m.joblib")
    again = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(again.predict_proba(X_test), clf.predict_proba(X_test))


def test_predict_proba_verbose_and_export(data, capsys):
    X, y, X_test, _ = data
    clf = crembo.CREMBOClassifier(teacher=small_forest(), random_state=0, verbose=1, delta=4).fit(X, y)
    out = capsys.readouterr()
    assert "MEMO threshold" in out.out
    p = clf.predict_proba(X_test)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[np.argmax(p, axis=1)], clf.predict(X_test))
    assert clf.export_text().count("class:") == clf.estimator_.get_n_leaves()  # the default: native tree


def test_one_class():
    X = np.random.default_rng(0).normal(size=(20, 3))
    clf = crembo.CREMBOClassifier(teacher=small_forest()).fit(X, np.full(20, "only"))
    np.testing.assert_array_equal(clf.predict(X), "only")


def test_baselines(data):
    X, y, X_test, _ = data
    names = np.array(["a", "b", "c"])
    bm = crembo.fit_baseline_bm(X, names[y], random_state=0)
    tree = DecisionTreeClassifier(max_depth=4, class_weight="balanced", random_state=0).fit(X, y)
    np.testing.assert_array_equal(bm.predict(X_test), names[tree.predict(X_test)])

    forest = small_forest().fit(X, names[y])
    vt = crembo.fit_baseline_vt(X, names[y], forest, random_state=0)
    votes = np.array([forest.classes_[t.predict(X).astype(int)] for t in forest.estimators_])
    majority = np.argmax(np.stack([(votes == c).sum(0) for c in names], axis=1), axis=1)
    tree = DecisionTreeClassifier(max_depth=4, class_weight="balanced", random_state=0).fit(X, majority)
    np.testing.assert_array_equal(vt.predict(X_test), names[tree.predict(X_test)])
    np.testing.assert_allclose(vt.predict_proba(X_test).sum(1), 1.0)
    # unfitted teacher: cloned and fitted on (X, y) by the baseline
    vt2 = crembo.TeacherLabelBaseline(teacher=clone(forest), random_state=0).fit(X, names[y])
    np.testing.assert_array_equal(vt2.predict(X_test), vt.predict(X_test))


def test_check_estimator():
    # A tiny forest keeps the ~50 checks fast; every check passes (pandas-based and array-API
    # checks are skipped by sklearn itself when those libraries are absent).
    check_estimator(crembo.CREMBOClassifier(teacher=small_forest(trees=5), delta=2))
    check_estimator(crembo.TrueLabelBaseline())
    check_estimator(crembo.TeacherLabelBaseline(teacher=small_forest(trees=5)))


def test_dataframe_reaches_the_teacher_unchanged():
    # A prefit pipeline selecting columns by name needs the DataFrame; the student gets the array.
    pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import load_iris
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    Xdf, y = load_iris(as_frame=True, return_X_y=True)
    cols = ["sepal length (cm)", "petal width (cm)"]
    pipe = make_pipeline(ColumnTransformer([("s", StandardScaler(), cols)]), LogisticRegression()).fit(Xdf, y)
    for selection in ("cv", "paper"):
        clf = crembo.CREMBOClassifier(teacher=pipe, random_state=0, selection=selection).fit(Xdf, y)
        assert list(clf.feature_names_in_) == list(Xdf.columns)
        # the paper's student trains on its split's training part, the default's on every row
        tr = (
            crembo.estimator.stratified_split(y.to_numpy(), clf.classes_, 0.15, 0)[0]
            if selection == "paper"
            else np.arange(len(y))
        )
        belief = clf.teacher_.belief(Xdf.iloc[tr], clf.classes_)
        np.testing.assert_allclose(belief, pipe.predict_proba(Xdf.iloc[tr]))
        assert clf.depth_ == belief[np.arange(len(tr)), clf.estimator_.predict(Xdf.to_numpy()[tr])].min()
        assert clf.score(Xdf, y) > 0.8
    vt = crembo.TeacherLabelBaseline(teacher=pipe, random_state=0).fit(Xdf, y)
    tree = DecisionTreeClassifier(max_depth=4, class_weight="balanced", random_state=0).fit(
        Xdf.to_numpy(), pipe.predict(Xdf)
    )
    np.testing.assert_array_equal(vt.predict(Xdf), tree.predict(Xdf.to_numpy()))


def test_nan_in_X_when_student_and_teacher_allow_it():
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = make_classification(
        n_samples=200, n_features=5, n_informative=3, n_classes=3, n_clusters_per_class=1, random_state=1
    )
    X[np.random.default_rng(0).random(X.shape) < 0.1] = np.nan
    clf = crembo.CREMBOClassifier(
        teacher=HistGradientBoostingClassifier(max_iter=20, random_state=0),
        student=crembo.AllowedLabelTreeClassifier(),
        random_state=0,
    ).fit(X, y)
    assert np.isnan(X).any(axis=1).sum() > 50 and clf.score(X, y) > 0.6
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    # a teacher that refuses NaN makes the estimator refuse it up front
    with pytest.raises(ValueError, match="NaN"):
        crembo.CREMBOClassifier(teacher=LogisticRegression(), student=crembo.AllowedLabelTreeClassifier()).fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        crembo.TrueLabelBaseline(student=LogisticRegression()).fit(X, y)


def test_parallel_scan_gives_native_students_one_thread_each(data):
    X, y, _, _ = data
    student = crembo.AllowedLabelTreeClassifier(max_depth=3)
    clf = crembo.CREMBOClassifier(
        teacher=small_forest(), student=student, n_jobs=2, random_state=0, selection="paper"
    ).fit(X, y)
    assert student.n_jobs is None  # the user's learner is untouched
    assert clf.estimator_.n_jobs == 1  # the scan ran 2 workers: one thread per student
    # the default selection's fold students run in 2 workers too; its refit keeps the user's n_jobs
    native = crembo.SelectionSpec(user_vt=None)  # the refit is the native student, not the user's VT
    clf = crembo.CREMBOClassifier(
        teacher=small_forest(), student=student, n_jobs=2, random_state=0, selection=native
    ).fit(X, y)
    assert student.n_jobs is None and clf.estimator_.n_jobs is None
    oracle = crembo.oracles.FitAllowedOracle(student)
    assert crembo.estimator._scan_oracle(oracle, None) is oracle  # not parallel: keeps every core
    pinned = crembo.oracles.FitAllowedOracle(crembo.AllowedLabelTreeClassifier(n_jobs=2))
    assert crembo.estimator._scan_oracle(pinned, 1) is pinned  # the user's own n_jobs wins


def test_float32_belief_gives_the_same_crembo_decisions(data):
    X, y, _, _ = data
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
    assert set(a.timings_) == {"teacher", "belief", "prepare", "memo", "scan", "refit"}
    paper = crembo.CREMBOClassifier(teacher=rf, selection="paper", random_state=5).fit(X, y)
    assert set(paper.timings_) == {"teacher", "belief", "teacher_validation", "prepare", "memo", "scan"}
    with pytest.raises(ValueError, match="belief_dtype"):
        crembo.CREMBOClassifier(teacher=rf, belief_dtype="float16").fit(X, y)


def test_crembo_bounds_the_scan_of_a_softmax_teacher(data):
    X, y, _, _ = data
    mlp = MLPClassifier(hidden_layer_sizes=(8,), max_iter=200, random_state=0).fit(X, y)
    student = crembo.AllowedLabelTreeClassifier(max_depth=2, n_jobs=1)
    bounded = crembo.CREMBOClassifier(teacher=mlp, student=student, thresholds=16, random_state=0).fit(X, y)
    assert bounded.memo_.thresholds.size <= 16
    assert len(bounded.scan_.indices) <= 16
    explicit = crembo.CREMBOClassifier(teacher=mlp, student=student, thresholds=[0.0, 0.2, 0.4], random_state=0).fit(
        X, y
    )
    np.testing.assert_array_equal(explicit.memo_.thresholds, [0.0, 0.2, 0.4])
    # "auto" on a softmax belief of ~255 x 3 distinct values uses 128 quantiles
    auto = crembo.CREMBOClassifier(teacher=mlp, student=student, random_state=0).fit(X, y)
    assert auto.memo_.thresholds.size <= crembo._candidates.AUTO_N_QUANTILES
    with pytest.raises(ValueError, match="thresholds"):
        crembo.CREMBOClassifier(teacher=mlp, thresholds=1).fit(X, y)
