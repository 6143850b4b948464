"""Reading the training data: a CSV or Parquet table with a label column, or a .npy pair."""

import csv
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from crembo.cli._errors import CLIError, one_line

_MISSING = {"", "na", "nan", "null", "none", "?"}  # CSV cells read as a missing feature value


class Dataset(NamedTuple):
    """Features, labels, feature names (``named``: from the file, not made up), and notes for the user."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list
    named: bool
    notes: list


def _float_cell(cell):
    c = cell.strip()
    if c.lower() in _MISSING:
        return math.nan
    return float(c)


def _labels_array(values, where):
    """Labels read as text: int64 when every one is an integer (``1`` and ``1.0`` alike), float
    when every one is a number, else str. CLIError when text labels spell one number two ways
    (``1`` and ``1.0`` would silently be two classes)."""
    values = [str(v).strip() for v in values]
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError:
        numbers = None
    if numbers is not None and np.isfinite(numbers).all():
        if (numbers == np.round(numbers)).all() and np.abs(numbers).max() < 2**53:
            return numbers.astype(np.int64)
        return numbers
    spellings = {}
    for v in set(values):
        try:
            spellings.setdefault(float(v), []).append(v)
        except ValueError:
            continue
    clashes = [sorted(group) for group in spellings.values() if len(group) > 1]
    if clashes:
        shown = "; ".join(" and ".join(repr(v) for v in group) for group in sorted(clashes))
        raise CLIError(
            f"the labels of {where} mix numbers and text, and spell the same number differently "
            f"({shown}); write each class one way"
        )
    return np.array(values, dtype=str)


# The first column of ``DataFrame.to_csv()`` without ``index=False``: the row index, unnamed
# (or "Unnamed: 0" once read back by pandas and written again). As a feature it leaks the row order.
_INDEX_NAMES = ("", "Unnamed: 0")


def _index_column(header, path):
    """Which column to drop as a written-out row index (None or 0), and the note saying so;
    CLIError for any other unnamed column."""
    drop = 0 if header and header[0] in _INDEX_NAMES else None
    unnamed = [j + 1 for j, h in enumerate(header) if h == "" and j != drop]
    if unnamed:
        raise CLIError(f"column {unnamed[0]} of {path} has no name; name it in the header row, or remove it")
    if drop is None:
        return None, None
    return 0, (
        f"dropped the first column of {path} (named {header[0]!r}): it is the row index that "
        "DataFrame.to_csv() writes unless index=False, and as a feature it would leak the row order"
    )


def _read_csv(path, target):
    if target is None:
        raise CLIError(f"{path} is a table: say which column is the label with --target")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path} is not a UTF-8 text CSV file ({exc.reason})") from None
    except csv.Error as exc:
        raise CLIError(f"{path} is not a readable CSV file: {exc}") from None
    rows = [r for r in rows if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise CLIError(f"{path} has no data rows (a header row and at least one row are needed)")
    header = [h.strip() for h in rows[0]]
    index, note = _index_column(header, path)
    if target not in header or header.index(target) == index:
        raise CLIError(f"unknown target column {target!r} in {path}; columns are: {', '.join(header)}")
    named = [h for j, h in enumerate(header) if j != index]
    if len(set(named)) != len(named):
        dup = sorted({h for h in named if named.count(h) > 1})
        raise CLIError(f"{path} has duplicate column names: {', '.join(dup)}")
    t = header.index(target)
    feature_idx = [j for j in range(len(header)) if j not in (t, index)]
    if not feature_idx:
        raise CLIError(f"{path} has no feature columns besides the target {target!r}")
    X = np.empty((len(rows) - 1, len(feature_idx)))
    y_raw = []
    for i, row in enumerate(rows[1:]):
        line = i + 2
        if len(row) != len(header):
            raise CLIError(f"{path}, line {line}: {len(row)} fields, the header has {len(header)}")
        if row[t].strip().lower() in _MISSING:
            raise CLIError(f"{path}, line {line}: the target {target!r} is missing")
        y_raw.append(row[t])
        for col, j in enumerate(feature_idx):
            try:
                X[i, col] = _float_cell(row[j])
            except ValueError:
                raise CLIError(
                    f"feature column {header[j]!r} of {path} is not numeric (line {line}: {row[j]!r}); "
                    "encode it as numbers or drop it"
                ) from None
    return Dataset(X, _labels_array(y_raw, path), [header[j] for j in feature_idx], True, [note] if note else [])


def _read_parquet(path, target):
    if target is None:
        raise CLIError(f"{path} is a table: say which column is the label with --target")
    try:
        import pandas as pd
    except ImportError:
        raise CLIError("reading Parquet needs pandas and pyarrow: pip install pandas pyarrow") from None
    try:
        df = pd.read_parquet(path)
    except ImportError as exc:
        raise CLIError(f"reading Parquet needs pyarrow: pip install pyarrow ({one_line(exc)})") from None
    except Exception as exc:  # pyarrow's errors have many types
        raise CLIError(f"{path} is not a readable Parquet file: {one_line(exc)}") from None
    columns = [str(c) for c in df.columns]
    index, note = _index_column(columns, path)
    if target not in columns or columns.index(target) == index:
        raise CLIError(f"unknown target column {target!r} in {path}; columns are: {', '.join(columns)}")
    feats = df.drop(columns=[df.columns[j] for j in (columns.index(target), index) if j is not None])
    if feats.shape[1] == 0:
        raise CLIError(f"{path} has no feature columns besides the target {target!r}")
    for c in feats.columns:
        if feats[c].dtype.kind not in "biuf":
            raise CLIError(
                f"feature column {str(c)!r} of {path} is not numeric (dtype {feats[c].dtype}); "
                "encode it as numbers or drop it"
            )
    y = df[df.columns[columns.index(target)]]
    if y.isna().any():
        raise CLIError(f"the target {target!r} is missing in {int(y.isna().sum())} row(s) of {path}")
    y = y.to_numpy()
    if y.dtype.kind == "O":  # mixed Python values: read as text, as from a CSV
        y = _labels_array(y, path)
    X = feats.to_numpy(dtype=np.float64, na_value=np.nan)
    return Dataset(X, y, [str(c) for c in feats.columns], True, [note] if note else [])


def _load_npy(path, what):
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise CLIError(f"{path}: cannot read {what} as .npy without pickle ({one_line(exc)})") from None
    except (OSError, EOFError) as exc:
        raise CLIError(f"{path} is not a readable .npy file: {one_line(exc)}") from None


def _read_npy(path, labels, target):
    if target is not None:
        raise CLIError("--target names a table column; a .npy file holds features only: give labels with --labels")
    if labels is None:
        raise CLIError(f"{path} holds features only: give the labels with --labels FILE.npy")
    X = _load_npy(path, "features")
    if X.ndim != 2 or X.dtype.kind not in "biuf":
        raise CLIError(f"{path} must hold a 2-D numeric array, got {X.ndim}-D {X.dtype}")
    lp = Path(labels)
    if not lp.is_file():
        raise CLIError(f"labels file not found: {labels}")
    y = _load_npy(lp, "labels")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise CLIError(f"{labels} must hold a 1-D array of {X.shape[0]} labels, got shape {y.shape}")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise CLIError(f"{labels} has missing (NaN) labels")
    return Dataset(X.astype(np.float64), y, [f"x{j}" for j in range(X.shape[1])], False, [])


def load_data(data, target=None, labels=None):
    """A ``Dataset`` from a CSV/Parquet table or a .npy pair; CLIError if bad."""
    path = Path(data)
    if not path.is_file():
        raise CLIError(f"data file not found: {data}")
    suffix = path.suffix.lower()
    if labels is not None and suffix != ".npy":
        raise CLIError("--labels goes with .npy data; for a table use --target COLUMN")
    if suffix == ".csv":
        data_set = _read_csv(path, target)
    elif suffix in (".parquet", ".pq"):
        data_set = _read_parquet(path, target)
    elif suffix == ".npy":
        data_set = _read_npy(path, labels, target)
    else:
        raise CLIError(f"unknown data file type {suffix or '(none)'!r} for {data}; use .csv, .parquet or .npy")
    if np.isinf(data_set.X).any():
        raise CLIError(f"{data} has infinite feature values")
    if len(np.unique(data_set.y)) < 2:
        raise CLIError(f"the labels of {data} have fewer than 2 classes; nothing to classify")
    return data_set


def align_to_teacher(data, teacher, where):
    """``data`` with its feature columns in the order of the teacher's ``feature_names_in_`` (set
    when it was fitted on a DataFrame); CLIError when the names differ. Without names on either
    side the columns are used in their order, as scikit-learn does."""
    expected = getattr(teacher, "feature_names_in_", None)
    if expected is None:
        return data
    expected = [str(n) for n in expected]
    if not data.named:
        note = (
            f"{where} was fitted on named columns ({_some(expected)}) but the data has no column names: "
            "its columns are used in their order"
        )
        return data._replace(notes=[*data.notes, note])
    have = data.feature_names
    missing = [n for n in expected if n not in have]
    unknown = [n for n in have if n not in expected]
    if missing or unknown:
        parts = [
            f"missing from the data: {_some(missing)}" if missing else "",
            f"not known to the teacher: {_some(unknown)}" if unknown else "",
        ]
        raise CLIError(
            f"the feature columns of the data do not match the columns {where} was fitted on "
            f"(feature_names_in_): {'; '.join(p for p in parts if p)}"
        )
    if expected == have:
        return data
    order = [have.index(n) for n in expected]
    note = f"the feature columns were put in the order {where} was fitted with (by name, feature_names_in_)"
    return data._replace(X=data.X[:, order], feature_names=expected, notes=[*data.notes, note])


def _some(names, n=5):
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")
