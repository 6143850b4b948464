"""Saving students with skops and loading them safely (crembo.persistence)."""

import operator
import pickle

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.preprocessing import FunctionTransformer

import crembo
from crembo.persistence import (
    UntrustedFileError,
    default_trusted,
    load_model,
    load_student,
    save_student,
    trusted_types,
)

skops_io = pytest.importorskip("skops.io", reason="skops is a dependency of crembo.persistence")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=160, n_features=5, n_informative=3, n_classes=3, n_clusters_per_class=1, random_state=3
    )
    return X, np.array(["ant", "bee", "cat"])[y]


def forest(seed=0):
    return RandomForestClassifier(n_estimators=8, max_depth=4, random_state=seed)


@pytest.fixture(scope="module", params=["sklearn", "native", "spec"])
def fitted(request, data):
    X, y = data
    student = None if request.param == "sklearn" else crembo.AllowedLabelTreeClassifier(max_depth=3)
    # "spec": a SelectionSpec as the selection= parameter is saved with the model and trusted on load
    selection = crembo.SelectionSpec(folds=3) if request.param == "spec" else "cv"
    return crembo.CREMBOClassifier(
        teacher=forest(), student=student, random_state=0, n_jobs=1, selection=selection
    ).fit(X, y)


def test_round_trip_predicts_identically(fitted, data, tmp_path):
    X, _ = data
    path = save_student(fitted, tmp_path / "student.skops")
    loaded = load_student(path)
    assert type(loaded) is crembo.CREMBOClassifier
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.classes_, fitted.classes_)
    assert loaded.threshold_ == fitted.threshold_ and loaded.depth_ == fitted.depth_
    np.testing.assert_array_equal(loaded.scan_.validation_scores, fitted.scan_.validation_scores)
    # The memo student round-trips too.
    np.testing.assert_array_equal(loaded.memo_.estimator.predict(X), fitted.memo_.estimator.predict(X))


def test_teacher_is_dropped_unless_kept(fitted, data, tmp_path):
    X, _ = data
    slim = load_student(save_student(fitted, tmp_path / "slim.skops"))
    assert not hasattr(slim, "teacher_") and slim.teacher is None
    assert hasattr(fitted, "teacher_") and fitted.teacher is not None  # the original is untouched
    full = load_student(save_student(fitted, tmp_path / "full.skops", keep_teacher=True))
    np.testing.assert_array_equal(full.teacher_.belief(X, full.classes_), fitted.teacher_.belief(X, fitted.classes_))
    assert (tmp_path / "slim.skops").stat().st_size < (tmp_path / "full.skops").stat().st_size


def test_trusted_by_default_is_skops_plus_the_allow_list(fitted, tmp_path):
    callable_teacher = f"{crembo.CallableTeacher.__module__}.{crembo.CallableTeacher.__qualname__}"
    path = save_student(fitted, tmp_path / "s.skops")
    untrusted = skops_io.get_untrusted_types(file=path)
    assert any(t.startswith("crembo.") for t in untrusted)  # skops itself would refuse them
    assert sorted(default_trusted(untrusted)) == sorted(untrusted)
    assert set(untrusted) <= set(trusted_types())
    # Names outside the allow-list are never trusted, even crembo's or scikit-learn's own.
    assert (
        default_trusted(
            [
                "builtins.eval",
                "os.system",
                "crembo.cli.main",
                "crembo.nope.Klass",
                "numpy.ndarray",
                callable_teacher,
                "sklearn.callback._scoring_monitor.ScoringMonitor",
            ]
        )
        == []
    )


@pytest.mark.parametrize("kind", ["true-label", "teacher-label", "belief", "proba"])
def test_baselines_and_teacher_wrappers_round_trip(kind, data, tmp_path):
    from sklearn.linear_model import LogisticRegression

    from crembo.estimator import TeacherLabelBaseline, TrueLabelBaseline

    X, y = data
    if kind == "true-label":
        model = TrueLabelBaseline(random_state=0).fit(X, y)
    elif kind == "teacher-label":
        model = TeacherLabelBaseline(teacher=forest(), random_state=0).fit(X, y)
    elif kind == "belief":
        idx = np.unique(y, return_inverse=True)[1]
        belief = np.full((len(y), 3), 0.1) + 0.7 * np.eye(3)[idx]
        model = crembo.CREMBOClassifier(teacher=belief, random_state=0, n_jobs=1).fit(X, idx)
    else:
        model = crembo.CREMBOClassifier(
            teacher=LogisticRegression(max_iter=500).fit(X, y), random_state=0, n_jobs=1
        ).fit(X, y)
    for keep in (False, True):
        loaded = load_student(save_student(model, tmp_path / "m.skops", keep_teacher=keep))
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        if keep and hasattr(model, "teacher_"):
            assert type(loaded.teacher_) is type(model.teacher_)


def test_foreign_types_need_explicit_trust(data, tmp_path):
    X, _y = data
    # A FunctionTransformer holding a function from outside crembo/sklearn.
    model = FunctionTransformer(operator.neg).fit(X)
    path = tmp_path / "f.skops"
    skops_io.dump(model, path)
    with pytest.raises(UntrustedFileError, match=r"_operator.neg"):
        load_student(path)
    loaded = load_student(path, trusted=["_operator.neg"])
    np.testing.assert_array_equal(loaded.transform(X), -X)
    with pytest.raises(TypeError, match="sequence of type names"):
        load_student(path, trusted="_operator.neg")


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_student(tmp_path / "missing.skops")
    bad = tmp_path / "bad.skops"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="not a readable skops file"):
        load_student(bad)


def test_pickle_teachers_need_trust(data, tmp_path):
    X, y = data
    rf = forest().fit(X, y)
    for name, dump in (("rf.joblib", joblib.dump), ("rf.pkl", lambda m, p: p.write_bytes(pickle.dumps(m)))):
        path = tmp_path / name
        dump(rf, path)
        with pytest.raises(UntrustedFileError, match="arbitrary code"):
            load_model(path)
        np.testing.assert_array_equal(load_model(path, trust_pickle=True).predict(X), rf.predict(X))
    skops_io.dump(rf, tmp_path / "rf.skops")
    np.testing.assert_array_equal(load_model(tmp_path / "rf.skops").predict(X), rf.predict(X))
    (tmp_path / "rf.txt").write_text("x")
    with pytest.raises(ValueError, match="unknown model file type"):
        load_model(tmp_path / "rf.txt")


def test_failed_save_leaves_no_file(tmp_path):
    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("cannot be saved")

    path = tmp_path / "x.skops"
    with pytest.raises(RuntimeError, match="cannot be saved"):
        save_student(Unsaveable(), path)
    assert list(tmp_path.iterdir()) == []
