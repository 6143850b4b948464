"""The five tabular data sets of the CREMBO paper's "compress to interpretable models" experiments.

Four come from the UCI Machine Learning Repository (CC BY 4.0) and ship with crembo as package
data; Wisconsin breast cancer comes from scikit-learn. Every loader follows the paper's protocol:
a missing value (``?`` in the files) is replaced by its column's mean, and labels are mapped to
0..k-1 in sorted order of the original labels, which ``class_names`` keeps.

Quirks handled here (see the data sets' README): arrhythmia has *no* header row (the paper's
loader drops its first sample by mistake; we keep all 452) and only 13 of its 16 classes occur;
iris is sorted by class, so shuffle before any k-fold split.
"""

import csv
from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = [
    "NAMES",
    "Dataset",
    "load",
    "load_arrhythmia",
    "load_breast_cancer",
    "load_dermatology",
    "load_heart",
    "load_iris",
]

NAMES = ("iris", "heart", "dermatology", "arrhythmia", "breast_cancer")


class Dataset(NamedTuple):
    """A loaded data set; unpacks as ``X, y, feature_names, class_names = load(name)``.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), float64, no NaN
    y : ndarray of shape (n_samples,), int64 in [0, k)
    feature_names : list of str
    class_names : list of str
        ``class_names[j]`` is the original label of class ``j``.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list
    class_names: list


# The 15 named leading attributes of the UCI arrhythmia data; the remaining 264 are per-lead
# ECG measurements (12 leads x 22 values) which we name generically.
_ARRHYTHMIA_HEAD = [
    "age",
    "sex",
    "height",
    "weight",
    "QRS duration",
    "P-R interval",
    "Q-T interval",
    "T interval",
    "P interval",
    "QRS angle",
    "T angle",
    "P angle",
    "QRST angle",
    "J angle",
    "heart rate",
]


def _read_rows(filename):
    with resources.files(__package__).joinpath("data", filename).open("r", newline="") as fh:
        return [row for row in csv.reader(fh) if row]


def _to_float(rows, filename):
    """Parse cells to float, ``?`` to NaN; fail loudly on anything else."""
    out = np.empty((len(rows), len(rows[0])), dtype=np.float64)
    for i, row in enumerate(rows):
        if len(row) != out.shape[1]:
            raise ValueError(f"{filename}: row {i} has {len(row)} cells, expected {out.shape[1]}")
        for j, cell in enumerate(row):
            cell = cell.strip()
            out[i, j] = np.nan if cell == "?" else float(cell)
    return out


def _fill_column_mean(X):
    """Replace NaN by the mean of the column's present values (the paper's protocol)."""
    X = X.copy()
    missing = np.isnan(X)
    if missing.any():
        cols = np.flatnonzero(missing.any(axis=0))
        means = np.nanmean(X[:, cols], axis=0)
        for c, m in zip(cols, means, strict=True):
            X[missing[:, c], c] = m
    return X


def _encode_labels(raw):
    """Map labels to 0..k-1 by sorted original value; return codes and original names."""
    values, y = np.unique(raw, return_inverse=True)
    names = [str(int(v)) if float(v).is_integer() else str(v) for v in values]
    return y.astype(np.int64), names


def _load_csv(filename, header, feature_names=None):
    rows = _read_rows(filename)
    if header:
        head, rows = rows[0], rows[1:]
        feature_names = [h.strip() for h in head[:-1]]
    data = _to_float(rows, filename)
    raw_y = data[:, -1]
    if np.isnan(raw_y).any():
        raise ValueError(f"{filename}: missing class labels")
    X = _fill_column_mean(data[:, :-1])
    y, class_names = _encode_labels(raw_y)
    if feature_names is None or len(feature_names) != X.shape[1]:
        raise ValueError(f"{filename}: {X.shape[1]} features but {len(feature_names or [])} names")
    return Dataset(X, y, list(feature_names), class_names)


def load_iris():
    """Iris: 150 x 4, 3 classes (rows in the file are sorted by class)."""
    return _load_csv("iris.csv", header=True)


def load_heart():
    """Heart disease (Cleveland): 303 x 13, 5 classes (0-4), 6 missing cells mean-filled."""
    return _load_csv("heart_cleveland.csv", header=True)


def load_dermatology():
    """Dermatology: 366 x 34, 6 classes (1-6 mapped to 0-5), 8 missing ages mean-filled."""
    ds = _load_csv("dermatology.csv", header=True)
    # The UCI header carries a stray trailing comma inside one quoted name.
    names = [n.rstrip(",").strip() for n in ds.feature_names]
    return ds._replace(feature_names=names)


def load_arrhythmia():
    """Arrhythmia: 452 x 279, 13 classes present of 16 (class_names keeps the original labels).

    The file has no header row; every row is a sample.
    """
    n_features = 279
    names = _ARRHYTHMIA_HEAD + [f"ecg_{j}" for j in range(len(_ARRHYTHMIA_HEAD), n_features)]
    return _load_csv("arrhythmia.csv", header=False, feature_names=names)


def load_breast_cancer():
    """Wisconsin breast cancer from scikit-learn: 569 x 30, 2 classes."""
    from sklearn.datasets import load_breast_cancer as _sk_load

    b = _sk_load()
    return Dataset(
        np.ascontiguousarray(b.data, dtype=np.float64),
        b.target.astype(np.int64),
        [str(n) for n in b.feature_names],
        [str(n) for n in b.target_names],
    )


_LOADERS = {
    "iris": load_iris,
    "heart": load_heart,
    "dermatology": load_dermatology,
    "arrhythmia": load_arrhythmia,
    "breast_cancer": load_breast_cancer,
}


def load(name):
    """Load a data set by name, one of :data:`NAMES`."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key not in _LOADERS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(NAMES)}")
    return _LOADERS[key]()
