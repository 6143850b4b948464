"""Reading the training data: a CSV or Parquet table with a label column, or a .npy pair."""

import csv
import math
from pathlib import Path

import numpy as np

from crembo.cli._errors import CLIError, one_line

_MISSING = {"", "na", "nan", "null", "none", "?"}  # CSV cells read as a missing feature value


def _float_cell(cell):
    c = cell.strip()
    if c.lower() in _MISSING:
        return math.nan
    return float(c)


def _labels_array(values):
    """Labels as int64 when every value is an integer literal, else as str."""
    try:
        return np.array([int(v) for v in values], dtype=np.int64)
    except ValueError:
        return np.array([v.strip() for v in values], dtype=str)


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
    if target not in header:
        raise CLIError(f"unknown target column {target!r} in {path}; columns are: {', '.join(header)}")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise CLIError(f"{path} has duplicate column names: {', '.join(dup)}")
    t = header.index(target)
    feature_idx = [j for j in range(len(header)) if j != t]
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
    return X, _labels_array(y_raw), [header[j] for j in feature_idx]


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
    if target not in columns:
        raise CLIError(f"unknown target column {target!r} in {path}; columns are: {', '.join(columns)}")
    feats = df.drop(columns=[df.columns[columns.index(target)]])
    if feats.shape[1] == 0:
        raise CLIError(f"{path} has no feature columns besides the target {target!r}")
    for c in feats.columns:
        if feats[c].dtype.kind not in "biuf":
            raise CLIError(f"feature column {str(c)!r} of {path} is not numeric (dtype {feats[c].dtype}); "
                           "encode it as numbers or drop it")
    y = df[df.columns[columns.index(target)]]
    if y.isna().any():
        raise CLIError(f"the target {target!r} is missing in {int(y.isna().sum())} row(s) of {path}")
    y = y.to_numpy()
    if y.dtype.kind == "O":
        y = y.astype(str)
    return feats.to_numpy(dtype=np.float64, na_value=np.nan), y, [str(c) for c in feats.columns]


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
    return X.astype(np.float64), y, [f"x{j}" for j in range(X.shape[1])]


def load_data(data, target=None, labels=None):
    """Features, labels and feature names from a CSV/Parquet table or a .npy pair; CLIError if bad."""
    path = Path(data)
    if not path.is_file():
        raise CLIError(f"data file not found: {data}")
    suffix = path.suffix.lower()
    if labels is not None and suffix != ".npy":
        raise CLIError("--labels goes with .npy data; for a table use --target COLUMN")
    if suffix == ".csv":
        X, y, names = _read_csv(path, target)
    elif suffix in (".parquet", ".pq"):
        X, y, names = _read_parquet(path, target)
    elif suffix == ".npy":
        X, y, names = _read_npy(path, labels, target)
    else:
        raise CLIError(f"unknown data file type {suffix or '(none)'!r} for {data}; use .csv, .parquet or .npy")
    if np.isinf(X).any():
        raise CLIError(f"{data} has infinite feature values")
    if len(np.unique(y)) < 2:
        raise CLIError(f"the labels of {data} have fewer than 2 classes; nothing to classify")
    return X, y, names
