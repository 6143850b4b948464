"""Seeing the student: CREMBOClassifier's reports, plot_scan's figure, export_text with names."""

import types

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import train_test_split

import crembo
from crembo import metrics

matplotlib = pytest.importorskip("matplotlib", reason="plotting needs matplotlib: pip install '.[plot]'")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from crembo.plotting import plot_scan, scan_summary  # noqa: E402

NAMES = np.array(["cat", "dog", "emu"])


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=240,
        n_features=6,
        n_informative=4,
        n_classes=3,
        n_clusters_per_class=1,
        flip_y=0.05,
        random_state=4,
    )
    return X, NAMES[y]


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    teacher = RandomForestClassifier(n_estimators=12, max_depth=5, class_weight="balanced")
    # the paper's selection: its scores are on one validation split these tests can rebuild
    return crembo.CREMBOClassifier(teacher=teacher, random_state=0, selection="paper").fit(X, y)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def validation_split(clf, X, y):
    _, y_enc = np.unique(y, return_inverse=True)
    tr, va = train_test_split(
        np.arange(len(y)), test_size=clf.validation_fraction, stratify=y_enc, random_state=clf.random_state
    )
    return tr, va


# ------------------------------------------------------------------------------- reports


def test_reports_are_measured_on_the_validation_split(fitted, data):
    X, y = data
    clf = fitted
    _, va = validation_split(clf, X, y)
    student = clf.predict(X[va])
    teacher = clf.classes_[clf.teacher_.predict(X[va], clf.classes_)]
    assert clf.validation_score_ == pytest.approx(np.mean(student == y[va]))
    assert clf.fidelity_ == pytest.approx(metrics.fidelity(student, teacher))
    assert clf.teacher_validation_score_ == pytest.approx(np.mean(teacher == y[va]))
    best = int(np.argmax(clf.scan_.validation_scores))
    assert clf.validation_score_ == clf.scan_.validation_scores[best]
    assert clf.fidelity_ == clf.scan_.fidelities[best]
    assert clf.depth_ == clf.scan_.depths[best]
    scan = clf.scan_
    assert scan.fidelities.shape == scan.validation_scores.shape == scan.depths.shape == scan.thresholds.shape
    assert np.all((scan.fidelities >= 0) & (scan.fidelities <= 1))
    # the depth reported is the student's depth under the training belief
    tr, _ = validation_split(clf, X, y)
    belief = clf.teacher_.belief(X[tr], clf.classes_)
    assert clf.depth_ == pytest.approx(metrics.student_depth(clf.predict(X[tr]), belief, classes=clf.classes_))


def test_fidelity_with_a_belief_matrix_teacher(data):
    X, y = data
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    belief = crembo.make_teacher(forest).belief(X, np.unique(y))
    clf = crembo.CREMBOClassifier(teacher=belief, random_state=1, selection="paper").fit(X, y)
    _, va = validation_split(clf, X, y)
    teacher = clf.classes_[belief[va].argmax(axis=1)]  # the matrix's own rows for the validation samples
    assert clf.fidelity_ == pytest.approx(metrics.fidelity(clf.predict(X[va]), teacher))


# -------------------------------------------------------------------------------- figure


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.lines}


def test_plot_scan_draws_the_scan(fitted, tmp_path):
    clf = fitted
    ax = plot_scan(clf)
    lines = lines_by_label(ax)
    acc, fid, depth = (
        lines["validation accuracy"],
        lines["fidelity to teacher (validation)"],
        lines["student depth D(f) (training belief)"],
    )
    for line, values in ((acc, clf.scan_.validation_scores), (fid, clf.scan_.fidelities), (depth, clf.scan_.depths)):
        np.testing.assert_array_equal(line.get_xdata(), clf.scan_.thresholds)
        np.testing.assert_array_equal(line.get_ydata(), values)
        assert line.get_marker() == "o"
    memo = next(line for label, line in lines.items() if label.startswith("MEMO: deepest consistent d="))
    chosen = next(line for label, line in lines.items() if label.startswith("CREMBO: chosen d="))
    assert list(memo.get_xdata()) == [clf.memo_threshold_] * 2  # vertical lines
    assert list(chosen.get_xdata()) == [clf.threshold_] * 2
    assert memo.get_linestyle() == "--" and chosen.get_linestyle() == "-"
    teacher = next(line for label, line in lines.items() if label.startswith("teacher validation accuracy"))
    assert list(teacher.get_ydata()) == [clf.teacher_validation_score_] * 2
    diagonal = lines["depth = d (consistent on or above)"]
    np.testing.assert_array_equal(diagonal.get_xdata(), diagonal.get_ydata())
    # the star on the chosen student
    (star,) = ax.collections
    np.testing.assert_array_equal(star.get_offsets(), [[clf.threshold_, clf.validation_score_]])
    # the vertical lines are annotated, the legend names every curve, the title says why
    texts = [t.get_text() for t in ax.texts]
    assert any(t.strip().startswith("MEMO") for t in texts)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"validation accuracy", "fidelity to teacher (validation)", "chosen student"} <= set(legend)
    title = ax.get_title()
    assert f"best validation accuracy {clf.validation_score_:.3f} at d=" in title
    assert "MEMO's deepest consistent d=" in title
    path = tmp_path / "scan.png"
    ax.figure.savefig(path, dpi=60)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_plot_scan_of_the_default_selection(data):
    # cross-validated scores, no validation split: no teacher line, the star at the chosen position
    X, y = data
    teacher = RandomForestClassifier(n_estimators=12, max_depth=5, random_state=0)
    clf = crembo.CREMBOClassifier(teacher=teacher, random_state=0).fit(X, y)
    ax = plot_scan(clf)
    lines = lines_by_label(ax)
    np.testing.assert_array_equal(lines["validation accuracy"].get_ydata(), clf.scan_.validation_scores)
    assert not any(label.startswith("teacher validation accuracy") for label in lines)
    (star,) = ax.collections
    np.testing.assert_array_equal(star.get_offsets(), [[clf.threshold_, clf.validation_score_]])
    # here the default kept the tree a user would fit (SelectionSpec.user_vt): the star and the
    # title say so, and the best student of the scan is named beside it
    assert clf.student_ == "scikit-learn VT, class_weight=None"
    assert star.get_label() == "chosen student (scikit-learn's tree on the teacher's labels)"
    title = ax.get_title().splitlines()
    assert (
        title[1]
        == f"kept scikit-learn's tree on the teacher's labels (validation accuracy {clf.validation_score_:.3f})"
    )
    assert title[2] == "the student chosen from the scan did not beat it by SelectionSpec.user_vt's margin"
    # without that rule the star is the refit student of the scan, at its threshold
    native = crembo.CREMBOClassifier(teacher=teacher, random_state=0, selection=crembo.SelectionSpec(user_vt=None))
    ax = plot_scan(native.fit(X, y))
    (star,) = ax.collections
    pos = native.scan_.position
    assert star.get_label() == "chosen student"
    np.testing.assert_array_equal(
        star.get_offsets(), [[native.scan_.thresholds[pos], native.scan_.validation_scores[pos]]]
    )


def fake_model(thresholds, scores, depths, chosen, memo, fidelities=None):
    scan = {"thresholds": thresholds, "validation_scores": scores, "depths": depths}
    if fidelities is not None:
        scan["fidelities"] = fidelities
    return types.SimpleNamespace(scan_=scan, threshold_=chosen, memo_threshold_=memo)


def test_title_explains_the_choice():
    m = fake_model([0.33, 0.4, 0.5], [0.8, 0.91, 0.9], [0.33, 0.41, 0.2], chosen=0.4, memo=0.33)
    assert scan_summary(m) == "best validation accuracy 0.910 at d=0.40; MEMO's deepest consistent d=0.33"
    tie = fake_model([0.2, 0.3], [0.9, 0.9], [0.25, 0.1], chosen=0.2, memo=0.2)
    assert scan_summary(tie) == (
        "best validation accuracy 0.900 at d=0.20 (tied at 2 thresholds: the lowest wins); "
        "MEMO's deepest consistent d=0.20 is the same threshold"
    )
    assert "d=0.123" in scan_summary(fake_model([0.1234], [0.5], [0.1], chosen=0.1234, memo=0.1234))


def test_plot_scan_on_given_axes_and_without_fidelity():
    # e.g. crembo.torch's result, whose scan_ is a dict without fidelities
    m = fake_model(np.array([0.1, 0.2, 0.3]), np.array([0.7, 0.8, 0.75]), np.array([0.1, 0.2, 0.0]), 0.2, 0.1)
    _fig, (left, right) = plt.subplots(1, 2)
    assert plot_scan(m, ax=right) is right
    assert not left.lines and "fidelity to teacher (validation)" not in lines_by_label(right)
    assert len(right.collections) == 1 and "CREMBO d=0.20" in " ".join(t.get_text() for t in right.texts)


def test_plot_scan_errors(data):
    with pytest.raises(NotFittedError):
        plot_scan(crembo.CREMBOClassifier())
    with pytest.raises(TypeError, match="needs a fitted CREMBO model"):
        plot_scan(object())
    with pytest.raises(ValueError, match="depths has shape"):
        plot_scan(fake_model([0.1, 0.2], [0.5, 0.6], [0.1], 0.1, 0.1))
    with pytest.raises(ValueError, match="threshold_"):
        plot_scan(fake_model([0.1], [0.5], [0.1], None, 0.1))


# ---------------------------------------------------------------------------------- text


def test_export_text_with_class_and_feature_names(fitted):
    clf = fitted
    features = [f"x{j}" for j in range(6)]
    text = clf.export_text(feature_names=features, class_names=["Cat", "Dog", "Emu"])
    # a leaf reads "class: NAME" (the native tree adds " (allowed for a/b)")
    leaves = {line.split("class: ")[1].split(" (")[0] for line in text.splitlines() if "class: " in line}
    assert leaves <= {"Cat", "Dog", "Emu"} and any(f in text for f in features)
    default = clf.export_text()
    assert {line.split("class: ")[1].split(" (")[0] for line in default.splitlines() if "class: " in line} <= set(NAMES)
    assert "feature_" in default
    with pytest.raises(ValueError, match="class_names has 2 entries, expected 3"):
        clf.export_text(class_names=["a", "b"])
    with pytest.raises(ValueError, match="feature_names has 2 entries, expected 6"):
        clf.export_text(feature_names=["a", "b"])


def test_export_text_of_a_native_tree_student(data):
    X, y = data
    clf = crembo.CREMBOClassifier(
        teacher=RandomForestClassifier(n_estimators=8, max_depth=4),
        student=crembo.AllowedLabelTreeClassifier(max_depth=3),
        random_state=0,
    ).fit(X, y)
    text = clf.export_text(feature_names=[f"x{j}" for j in range(6)], class_names=["Cat", "Dog", "Emu"])
    leaves = {line.split("class: ")[1].split(" (")[0] for line in text.splitlines() if "class: " in line}
    assert leaves and leaves <= {"Cat", "Dog", "Emu"} and "x" in text
