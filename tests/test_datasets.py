import csv
from importlib import resources

import numpy as np
import pytest

from crembo import datasets

EXPECTED = {
    # name: (n_samples, n_features, n_classes)
    "iris": (150, 4, 3),
    "heart": (303, 13, 5),
    "dermatology": (366, 34, 6),
    "arrhythmia": (452, 279, 13),
    "breast_cancer": (569, 30, 2),
}


def _raw_column(filename, col, header):
    """Parse one column of a packaged CSV independently of the loader: floats, '?' -> None."""
    path = resources.files("crembo.datasets").joinpath("data", filename)
    with path.open("r", newline="") as fh:
        rows = [r for r in csv.reader(fh) if r]
    if header:
        rows = rows[1:]
    return [None if r[col].strip() == "?" else float(r[col]) for r in rows]


def test_names_cover_all_loaders():
    assert set(datasets.NAMES) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shapes_dtypes_labels(name):
    n, p, k = EXPECTED[name]
    ds = datasets.load(name)
    X, y, feature_names, class_names = ds  # tuple unpacking works
    assert isinstance(ds, datasets.Dataset)
    assert X.shape == (n, p) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert not np.isnan(X).any()
    assert np.array_equal(np.unique(y), np.arange(k))  # labels exactly 0..k-1, none skipped
    assert len(feature_names) == p and len(set(feature_names)) == p
    assert len(class_names) == k


def test_named_loaders_match_load():
    for name, fn in [
        ("iris", datasets.load_iris),
        ("heart", datasets.load_heart),
        ("dermatology", datasets.load_dermatology),
        ("arrhythmia", datasets.load_arrhythmia),
        ("breast_cancer", datasets.load_breast_cancer),
    ]:
        a, b = fn(), datasets.load(name)
        np.testing.assert_array_equal(a.X, b.X)
        np.testing.assert_array_equal(a.y, b.y)


def test_arrhythmia_keeps_first_row_and_original_labels():
    X, y, names, class_names = datasets.load_arrhythmia()
    assert X.shape[0] == 452  # no header: the first line is a sample
    # The file's first line starts 75,0,190,80 (age, sex, height, weight) and has class 8.
    np.testing.assert_array_equal(X[0, :4], [75, 0, 190, 80])
    assert class_names == [str(c) for c in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15, 16)]
    assert class_names[y[0]] == "8"
    assert names[0] == "age"


def test_mean_fill_on_known_cells():
    # arrhythmia: column 13 (J angle) is '?' on the first line
    col = _raw_column("arrhythmia.csv", 13, header=False)
    assert col[0] is None
    present = [v for v in col if v is not None]
    X = datasets.load_arrhythmia().X
    assert X[0, 13] == pytest.approx(np.mean(present))
    # a present value is untouched
    i = next(i for i, v in enumerate(col) if v is not None)
    assert X[i, 13] == col[i]

    # dermatology: the missing values are all in Age (column 33)
    col = _raw_column("dermatology.csv", 33, header=True)
    missing = [i for i, v in enumerate(col) if v is None]
    assert len(missing) == 8
    X = datasets.load_dermatology().X
    expected = np.mean([v for v in col if v is not None])
    np.testing.assert_allclose(X[missing, 33], expected)


def test_heart_missing_cells_filled_with_column_mean():
    path = resources.files("crembo.datasets").joinpath("data", "heart_cleveland.csv")
    with path.open("r", newline="") as fh:
        rows = [r for r in csv.reader(fh) if r][1:]
    X = datasets.load_heart().X
    holes = [(i, j) for i, r in enumerate(rows) for j, c in enumerate(r) if c.strip() == "?"]
    assert len(holes) == 6
    for i, j in holes:
        present = [float(r[j]) for r in rows if r[j].strip() != "?"]
        assert X[i, j] == pytest.approx(np.mean(present))


def test_iris_sorted_and_label_mapping():
    _X, y, feature_names, class_names = datasets.load_iris()
    assert np.all(np.diff(y) >= 0)  # the file is sorted by class: shuffle before k-fold
    assert class_names == ["0", "1", "2"]
    assert feature_names[0] == "sepal length"


def test_dermatology_labels_shifted_and_names_clean():
    _X, _y, feature_names, class_names = datasets.load_dermatology()
    assert class_names == ["1", "2", "3", "4", "5", "6"]
    assert all(not n.endswith(",") for n in feature_names)
    assert feature_names[-1] == "Age"


def test_load_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown data set"):
        datasets.load("mnist")
    with pytest.raises(TypeError):
        datasets.load(3)
    assert datasets.load("Breast-Cancer").X.shape == (569, 30)
