"""The ``crembo`` command line: compress a model, run many compressions, look at a student.

    crembo compress --data table.csv --target label --fit random-forest --out run1
    crembo batch jobs.toml
    crembo show run1/student.skops

Exit codes: 0 success; 2 usage errors and bad input (one line on stderr: unreadable or corrupt
files, unknown columns, a missing target, non-numeric features, untrusted model files, ...);
1 an unexpected error (with its traceback). A failed ``compress`` leaves no output behind: it
writes into a temporary directory beside ``--out`` and renames it at the end.
"""

import argparse
import contextlib
import csv
import json
import math
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

__all__ = ["CLIError", "main", "run_compress", "run_batch", "build_parser"]

TEACHERS = ("random-forest", "gradient-boosting", "mlp")
ORACLES = ("sklearn", "native")
_MISSING = {"", "na", "nan", "null", "none", "?"}  # CSV cells read as a missing feature value
_SUMMARY_COLUMNS = (
    "job", "status", "teacher_accuracy", "crembo_accuracy", "bm_accuracy", "vt_accuracy",
    "fidelity", "threshold", "memo_threshold", "tree_depth", "seconds", "out", "error",
)


class CLIError(Exception):
    """Bad input or usage: reported as one line on stderr, exit code 2."""


def _one_line(msg):
    return " ".join(str(msg).split())


# ----------------------------------------------------------------------------- argument types


def _int_at_least(low):
    def parse(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {v}")
        return v

    return parse


def _fraction(low_open=True, high_open=True, low=0.0, high=1.0):
    def parse(s):
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
        ok_low = v > low if low_open else v >= low
        ok_high = v < high if high_open else v <= high
        if not (ok_low and ok_high and math.isfinite(v)):
            lb, hb = "(" if low_open else "[", ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"must be in {lb}{low:g}, {high:g}{hb}, got {s}")
        return v

    return parse


def _n_jobs(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v == 0:
        raise argparse.ArgumentTypeError("must not be 0 (use -1 for all cores)")
    return v


class _RaisingParser(argparse.ArgumentParser):
    """A parser whose errors raise CLIError instead of exiting (batch jobs are parsed with it)."""

    def error(self, message):
        raise CLIError(message)


# ----------------------------------------------------------------------------- the parser


def _add_compress_options(p):
    data = p.add_argument_group("data")
    data.add_argument("--data", required=True, metavar="FILE",
                      help="training data: .csv (with a header row), .parquet (needs pandas and pyarrow) "
                           "or .npy (a 2-D float array of features)")
    data.add_argument("--target", metavar="COLUMN", help="the label column of a CSV or Parquet table")
    data.add_argument("--labels", metavar="FILE", help="labels of a .npy data file: a 1-D .npy array")
    data.add_argument("--test-fraction", type=_fraction(), default=0.2, metavar="F",
                      help="stratified held-out test split for the report (default: %(default)s)")

    teacher = p.add_argument_group("teacher (exactly one of --teacher, --fit)")
    which = teacher.add_mutually_exclusive_group(required=True)
    which.add_argument("--teacher", metavar="MODEL",
                       help="a fitted classifier: .skops (loaded safely), or .pkl/.pickle/.joblib with --trust")
    which.add_argument("--fit", choices=TEACHERS,
                       help="train a teacher on the training split: random-forest (depth 12, balanced, as in "
                            "the paper), gradient-boosting (histogram boosting) or mlp (scaled inputs, one "
                            "hidden layer of 64)")
    teacher.add_argument("--trust", action="store_true",
                         help="allow loading a pickle/joblib teacher (or untrusted types in a skops file). "
                              "Unpickling runs arbitrary code stored in the file: use it only for files "
                              "you made or whose source you trust")
    teacher.add_argument("--n-estimators", type=_int_at_least(1), default=100, metavar="N",
                         help="trees (random-forest) or boosting iterations (gradient-boosting) of --fit "
                              "(default: %(default)s)")

    student = p.add_argument_group("student")
    student.add_argument("--depth", type=_int_at_least(1), default=4, metavar="D",
                         help="maximum depth of the student tree (default: %(default)s)")
    student.add_argument("--oracle", choices=ORACLES, default="sklearn",
                         help="the consistency oracle: sklearn (the paper's multi-output balanced "
                              "DecisionTreeClassifier) or native (crembo's AllowedLabelTreeClassifier) "
                              "(default: %(default)s)")

    algo = p.add_argument_group("CREMBO")
    algo.add_argument("--delta", type=_int_at_least(1), default=1, metavar="K",
                      help="step of the threshold scan above MEMO's (default: %(default)s)")
    algo.add_argument("--validation-fraction", type=_fraction(), default=0.15, metavar="F",
                      help="stratified validation split that scores the scan (default: %(default)s)")
    algo.add_argument("--eps", type=_fraction(low_open=False), default=0.0, metavar="E",
                      help="quantile depth for consistency, 0 = strict as in the paper (default: %(default)s)")
    algo.add_argument("--seed", type=int, default=0, help="one seed for every split and fit (default: %(default)s)")
    algo.add_argument("--n-jobs", type=_n_jobs, default=None, metavar="N",
                      help="parallel scan and kernel threads (default: all cores)")

    out = p.add_argument_group("output")
    out.add_argument("--out", required=True, metavar="DIR",
                     help="directory to create with student.skops, report.json, student.txt and scan.png")
    out.add_argument("--overwrite", action="store_true", help="replace DIR if it exists and is not empty")
    out.add_argument("-v", "--verbose", action="store_true", help="progress bars and stage messages on stderr")


def build_parser(parser_class=argparse.ArgumentParser):
    parser = parser_class(
        prog="crembo",
        description="Compress a large classifier into a small robust one with CREMBO/MEMO "
                    "(Armstrong & Gilad-Bachrach, AAAI 2021).",
        epilog="Exit codes: 0 ok, 2 usage error or bad input, 1 unexpected error. See docs/cli.md.",
    )
    from crembo import __version__

    parser.add_argument("--version", action="version", version=f"crembo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("compress", help="compress one teacher into a student tree",
                       description="Fit (or load) a teacher, compress it with CREMBO, compare with the BM and VT "
                                   "baselines on a test split, and write the student, a report and plots.")
    _add_compress_options(p)

    b = sub.add_parser("batch", help="run many compressions described in a TOML file",
                       description="Run every [[job]] of a TOML file (keys: the compress options, e.g. "
                                   "data, target, fit, depth; a [defaults] table applies to all jobs) and write "
                                   "summary.md, summary.csv and summary.json. A failing job is reported and the "
                                   "others still run.")
    b.add_argument("jobs", metavar="JOBS.toml")
    b.add_argument("--out", metavar="DIR",
                   help="where job directories (unless a job sets out) and the summary go "
                        "(default: <JOBS>-results beside the TOML file)")
    b.add_argument("--overwrite", action="store_true", help="replace existing job output directories")
    b.add_argument("-v", "--verbose", action="store_true", help="progress bars on stderr")

    s = sub.add_parser("show", help="print a saved student tree and what it is",
                       description="Print a student's classes, features, depth and tree. Feature names come "
                                   "from a report.json beside the file when there is one.")
    s.add_argument("student", metavar="STUDENT.skops")
    s.add_argument("--trusted", action="append", default=[], metavar="TYPE",
                   help="also trust this type when loading (repeatable); crembo's and scikit-learn's "
                        "classes are always trusted")
    s.add_argument("--decimals", type=_int_at_least(0), default=2, help="decimals of split thresholds")
    return parser


# ----------------------------------------------------------------------------- data loading


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
        raise CLIError(f"reading Parquet needs pyarrow: pip install pyarrow ({_one_line(exc)})") from None
    except Exception as exc:  # pyarrow's errors have many types
        raise CLIError(f"{path} is not a readable Parquet file: {_one_line(exc)}") from None
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
        raise CLIError(f"{path}: cannot read {what} as .npy without pickle ({_one_line(exc)})") from None
    except (OSError, EOFError) as exc:
        raise CLIError(f"{path} is not a readable .npy file: {_one_line(exc)}") from None


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


# ----------------------------------------------------------------------------- compress


def _make_teacher(kind, n_estimators, seed, n_jobs):
    if kind == "random-forest":  # the paper's teacher, with --n-estimators trees
        from crembo.teachers import default_teacher

        return default_teacher(seed, n_jobs).set_params(n_estimators=n_estimators)
    if kind == "gradient-boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(max_iter=n_estimators, early_stopping=False, random_state=seed)
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=seed))


def _make_student(oracle, depth, seed):
    if oracle == "native":
        from crembo.tree import AllowedLabelTreeClassifier

        return AllowedLabelTreeClassifier(max_depth=depth, random_state=seed)
    from crembo.oracles import paper_student  # the paper's student, at --depth

    return paper_student().set_params(max_depth=depth, random_state=seed)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _inner(model):
    """The fitted student inside crembo's wrappers (CREMBO, BM, VT); other models as they are.
    (Not ``getattr(model, "estimator_")``: sklearn ensembles keep an unfitted template there.)"""
    from crembo.estimator import CREMBOClassifier, _LabelBaseline

    return model.estimator_ if isinstance(model, (CREMBOClassifier, _LabelBaseline)) else model


def tree_text(model, feature_names=None, decimals=2):
    """The tree of a student (CREMBO, a baseline, or a bare tree) as text; None if it has no tree."""
    from sklearn.tree import BaseDecisionTree
    from sklearn.tree import export_text as sk_export_text

    from crembo.oracles import MultiOutputStudent
    from crembo.tree import AllowedLabelTreeClassifier
    from crembo.tree import export_text as native_export_text

    inner = _inner(model)
    classes = getattr(model, "classes_", None)
    names = list(feature_names) if feature_names is not None else None
    if isinstance(inner, MultiOutputStudent):
        if not hasattr(inner.estimator_, "tree_"):
            return None
        return inner.export_text(feature_names=names, class_names=classes, decimals=decimals)
    if isinstance(inner, AllowedLabelTreeClassifier):
        if classes is not None and len(classes) != len(inner.classes_):
            classes = None
        return native_export_text(inner, feature_names=names, class_names=classes, decimals=decimals)
    if isinstance(inner, BaseDecisionTree) and hasattr(inner, "tree_") and hasattr(inner, "classes_"):
        if inner.n_outputs_ != 1:
            return None
        known = classes is not None and len(classes) == len(inner.classes_)
        labels = classes if known and inner is not model else inner.classes_
        return sk_export_text(inner, feature_names=names, class_names=[str(c) for c in labels], decimals=decimals)
    return None


def _tree_depth(model):
    inner = _inner(model)
    inner = getattr(inner, "estimator_", inner) if type(inner).__name__ == "MultiOutputStudent" else inner
    try:
        return int(inner.get_depth())
    except (AttributeError, TypeError, ValueError):
        return None


def _plot_scan(est, path):
    """Validation accuracy and depth against the threshold, MEMO's and CREMBO's choices marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scan = est.scan_
    fig = Figure(figsize=(6.4, 5.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    best = int(np.argmax(scan.validation_scores))
    for ax, values, label in ((ax1, scan.validation_scores, "validation accuracy"),
                              (ax2, scan.depths, "student depth on the belief")):
        ax.plot(scan.thresholds, values, marker="o", ms=3, lw=1, color="tab:blue")
        ax.axvline(est.memo_threshold_, ls="--", color="tab:gray", label=f"MEMO d={est.memo_threshold_:.3g}")
        ax.plot([scan.thresholds[best]], [values[best]], marker="*", ms=14, color="tab:red", ls="none",
                label=f"CREMBO d={est.threshold_:.3g}")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax1.legend(loc="best", fontsize=8)
    ax2.set_xlabel("threshold d")
    fig.suptitle("CREMBO threshold scan")
    fig.savefig(path, dpi=110)


class _Stages:
    """Times named stages and drives an optional tqdm bar over them."""

    def __init__(self, names, progress):
        self.seconds = {}
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(names), desc="compress", unit="stage", file=sys.stderr, leave=False)

    @contextlib.contextmanager
    def __call__(self, name):
        if self.bar is not None:
            self.bar.set_postfix_str(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = time.perf_counter() - t0
            if self.bar is not None:
                self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _show_progress(args):
    return bool(args.verbose) or sys.stderr.isatty()


def _check_out(out, overwrite):
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise CLIError(f"--out {out} exists and is not empty; pass --overwrite to replace it")
    return out


@contextlib.contextmanager
def _atomic_dir(out):
    """Yield a temporary directory beside ``out``; on success it becomes ``out`` (replacing an old
    one), on failure it is removed, together with any parent directories made for it."""
    out = Path(out).absolute()
    made = []
    parent = out.parent
    while not parent.exists():
        made.append(parent)
        parent = parent.parent
    for d in reversed(made):
        d.mkdir()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, trash / "old")
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for d in made:  # innermost first
            with contextlib.suppress(OSError):
                d.rmdir()
        raise


def _accuracy(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def run_compress(args, log=None):
    """Run one compression from parsed ``compress`` options; returns the report dict.

    Raises CLIError for bad input (nothing is written then)."""
    from sklearn.model_selection import train_test_split

    import crembo
    from crembo.estimator import stratified_split
    from crembo.persistence import UntrustedFileError, load_model, save_student

    log = log or (lambda msg: None)
    out = _check_out(args.out, args.overwrite)
    progress = _show_progress(args)
    stages = _Stages(["load", "teacher", "crembo", "baselines", "evaluate", "write"], progress)
    try:
        with stages("load"):
            X, y, feature_names = load_data(args.data, args.target, args.labels)
            try:
                idx_trval, idx_test = train_test_split(np.arange(len(y)), test_size=args.test_fraction,
                                                       stratify=y, random_state=args.seed)
            except ValueError as exc:
                raise CLIError(f"cannot make a stratified test split of {len(y)} samples with "
                               f"--test-fraction {args.test_fraction}: {_one_line(exc)}") from None
            X_trval, y_trval, X_test, y_test = X[idx_trval], y[idx_trval], X[idx_test], y[idx_test]
            classes, y_enc = np.unique(y_trval, return_inverse=True)
            try:
                idx_tr, _ = stratified_split(y_enc, classes, args.validation_fraction, args.seed)
            except ValueError as exc:
                raise CLIError(_one_line(exc)) from None
            log(f"data: {X.shape[0]} samples, {X.shape[1]} features, {len(np.unique(y))} classes")

        with stages("teacher"):
            if args.teacher is not None:
                try:
                    teacher = load_model(args.teacher, trust_pickle=args.trust)
                except (UntrustedFileError, FileNotFoundError) as exc:
                    raise CLIError(_one_line(exc)) from None
                except ValueError as exc:
                    raise CLIError(f"cannot use --teacher: {_one_line(exc)}") from None
                if not (hasattr(teacher, "predict_proba") or hasattr(teacher, "estimators_")):
                    raise CLIError(f"{args.teacher} holds a {type(teacher).__name__}, not a fitted classifier "
                                   "with predict_proba")
                teacher_info = {"file": str(args.teacher), "type": type(teacher).__name__}
            else:
                # The teacher sees CREMBO's training part only (never the validation or test rows),
                # as in the paper; CREMBO below makes the same split from the same seed.
                teacher = _make_teacher(args.fit, args.n_estimators, args.seed, args.n_jobs)
                log(f"fitting teacher {args.fit} on {len(idx_tr)} samples")
                teacher.fit(X_trval[idx_tr], y_trval[idx_tr])
                teacher_info = {"fit": args.fit, "type": type(teacher).__name__, "n_estimators": args.n_estimators}

        student = _make_student(args.oracle, args.depth, args.seed)
        with stages("crembo"):
            est = crembo.CREMBOClassifier(
                teacher=teacher, student=student, delta=args.delta, validation_fraction=args.validation_fraction,
                eps=args.eps, n_jobs=args.n_jobs, random_state=args.seed, verbose=int(progress),
            )
            # CREMBO's verbose summary goes to stderr: stdout is the command's own output.
            with contextlib.redirect_stdout(sys.stderr if progress else open(os.devnull, "w")) as f:
                try:
                    est.fit(X_trval, y_trval)
                finally:
                    if f is not sys.stderr:
                        f.close()

        with stages("baselines"):
            fitted_teacher = est.teacher_.model if hasattr(est.teacher_, "model") else teacher
            bm = crembo.fit_baseline_bm(X_trval, y_trval, student=student, random_state=args.seed)
            vt = crembo.fit_baseline_vt(X_trval, y_trval, teacher=fitted_teacher, student=student,
                                        random_state=args.seed)

        with stages("evaluate"):
            y_teacher = est.classes_[est.teacher_.predict(X_test, est.classes_)]
            preds = {
                "teacher": y_teacher,
                "crembo": est.predict(X_test),
                "memo": est.classes_[np.asarray(est.memo_.estimator.predict(X_test), dtype=np.intp)],
                "bm": bm.predict(X_test),
                "vt": vt.predict(X_test),
            }
            accuracy = {k: _accuracy(y_test, p) for k, p in preds.items()}
            fidelity = {k: crembo.metrics.fidelity(p, y_teacher) for k, p in preds.items() if k != "teacher"}

        with stages("write"), _atomic_dir(out) as tmp:
            t_write = time.perf_counter()
            save_student(est, tmp / "student.skops")
            text = tree_text(est, feature_names)
            if text is not None:
                (tmp / "student.txt").write_text(text)
            notes = []
            try:
                _plot_scan(est, tmp / "scan.png")
            except ImportError:
                notes.append("scan.png not written: matplotlib is not installed (pip install matplotlib)")
            scan = est.scan_
            report = {
                "crembo_version": crembo.__version__,
                "options": {k: v for k, v in vars(args).items() if k not in ("func", "command")},
                "data": {
                    "file": str(args.data), "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
                    "feature_names": feature_names, "classes": est.classes_,
                    "n_train": int(len(idx_tr)), "n_validation": int(len(idx_trval) - len(idx_tr)),
                    "n_test": int(len(idx_test)),
                },
                "teacher": teacher_info,
                "student": {"oracle": args.oracle, "max_depth": args.depth, "type": type(est.estimator_).__name__,
                            "tree_depth": _tree_depth(est)},
                "thresholds": {
                    "memo": est.memo_threshold_, "crembo": est.threshold_, "memo_index": int(est.memo_.index),
                    "crembo_index": int(scan.indices[int(np.argmax(scan.validation_scores))]),
                    "n_candidates": int(len(est.memo_.thresholds)),
                },
                "depths": {"memo": est.memo_.depth, "crembo": est.depth_},
                "validation": {"crembo": float(np.max(scan.validation_scores))},
                "scan": {"indices": scan.indices, "thresholds": scan.thresholds,
                         "validation_scores": scan.validation_scores, "depths": scan.depths,
                         "seconds": scan.seconds},
                "test_accuracy": accuracy,
                "fidelity": fidelity,
                "timings": {
                    **{k: v for k, v in stages.seconds.items()},
                    "memo_oracle_calls": float(sum(c.seconds for c in est.memo_.trace)),
                    "scan_fits": float(np.sum(scan.seconds)),
                },
                "notes": notes,
                "files": sorted(p.name for p in tmp.iterdir()) + ["report.json"],
            }
            report["timings"]["write"] = time.perf_counter() - t_write  # all but report.json itself
            (tmp / "report.json").write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    finally:
        stages.close()
    report["out"] = str(out)
    return report


def _summary_line(report):
    a, f, t = report["test_accuracy"], report["fidelity"], report["thresholds"]
    return (f"wrote {report['out']}: test accuracy teacher {a['teacher']:.3f}, CREMBO {a['crembo']:.3f}, "
            f"BM {a['bm']:.3f}, VT {a['vt']:.3f}; fidelity {f['crembo']:.3f}; threshold {t['crembo']:.3g} "
            f"(MEMO {t['memo']:.3g})")


def _cmd_compress(args):
    def log(msg):
        if args.verbose:
            from tqdm.auto import tqdm

            tqdm.write(f"crembo: {msg}", file=sys.stderr)  # keeps an active bar intact

    report = run_compress(args, log)
    print(_summary_line(report))
    for note in report["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- batch

_PATH_KEYS = ("data", "labels", "teacher", "out")


def _job_argv(job, base_dir):
    argv = ["compress"]
    for key, value in job.items():
        opt = key.replace("_", "-")
        if opt == "name":
            continue
        if isinstance(value, bool):
            if value:
                argv.append(f"--{opt}")
            continue
        if isinstance(value, (dict, list)):
            raise CLIError(f"option {key!r} must be a single value, got {type(value).__name__}")
        if opt in _PATH_KEYS:
            value = str(base_dir / Path(str(value)).expanduser())
        argv += [f"--{opt}", str(value)]
    return argv


def _read_jobs(path):
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise CLIError(f"jobs file not found: {path}")
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CLIError(f"{path} is not valid TOML: {_one_line(exc)}") from None
    unknown = sorted(set(doc) - {"defaults", "job"})
    if unknown:
        raise CLIError(f"{path}: unknown top-level key(s) {', '.join(unknown)}; use [defaults] and [[job]]")
    defaults = doc.get("defaults", {})
    jobs = doc.get("job", [])
    if not isinstance(defaults, dict) or not isinstance(jobs, list) or not all(isinstance(j, dict) for j in jobs):
        raise CLIError(f"{path}: [defaults] must be a table and jobs an array of [[job]] tables")
    if not jobs:
        raise CLIError(f"{path} has no [[job]] tables")
    out = []
    for i, job in enumerate(jobs):
        merged = {**defaults, **job}
        name = str(merged.get("name", f"job-{i + 1}"))
        if not name or "/" in name or name.startswith("."):
            raise CLIError(f"{path}: job {i + 1} has an unusable name {name!r}")
        out.append((name, merged))
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CLIError(f"{path}: duplicate job name(s) {', '.join(dup)}")
    return out


def _fmt(v, digits=4):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}" if not (0 <= v <= 1) else f"{v:.4f}"
    return str(v)


def _write_text_atomic(path, text):
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_summary(rows, out):
    out.mkdir(parents=True, exist_ok=True)
    cols = _SUMMARY_COLUMNS
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        md.append("| " + " | ".join(_fmt(r.get(c)).replace("|", "\\|") for c in cols) + " |")
    _write_text_atomic(out / "summary.md", "\n".join(md) + "\n")
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: "" if r.get(c) is None else r.get(c) for c in cols})
    _write_text_atomic(out / "summary.csv", buf.getvalue())
    _write_text_atomic(out / "summary.json", json.dumps(_jsonable(rows), indent=2) + "\n")


def run_batch(args):
    """Run every job of ``args.jobs``; returns (rows, exit code)."""
    jobs_path = Path(args.jobs)
    jobs = _read_jobs(jobs_path)
    base = jobs_path.parent.absolute()
    out = Path(args.out) if args.out else base / f"{jobs_path.stem}-results"
    progress = _show_progress(args)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc="batch", unit="job", file=sys.stderr)
    parser = build_parser(_RaisingParser)
    rows, codes = [], []
    try:
        for name, job in jobs:
            if bar is not None:
                bar.set_postfix_str(name)
            job = dict(job)
            job.setdefault("out", str((out / name).absolute()))
            if args.overwrite:
                job.setdefault("overwrite", True)
            row = {"job": name, "status": "ok", "out": None, "error": None}
            t0 = time.perf_counter()
            try:
                jargs = parser.parse_args(_job_argv(job, base))
                jargs.verbose = False  # one bar for the batch, not one per job
                report = run_compress(jargs)
                a = report["test_accuracy"]
                row.update(
                    teacher_accuracy=a["teacher"], crembo_accuracy=a["crembo"], bm_accuracy=a["bm"],
                    vt_accuracy=a["vt"], fidelity=report["fidelity"]["crembo"],
                    threshold=report["thresholds"]["crembo"], memo_threshold=report["thresholds"]["memo"],
                    tree_depth=report["student"]["tree_depth"], out=report["out"],
                )
                codes.append(0)
            except CLIError as exc:
                row.update(status="failed", error=_one_line(exc))
                codes.append(2)
            except Exception as exc:  # one job's bug must not stop the others
                row.update(status="error", error=_one_line(f"{type(exc).__name__}: {exc}"))
                traceback.print_exc()
                codes.append(1)
            row["seconds"] = time.perf_counter() - t0
            if row["status"] != "ok":
                print(f"crembo batch: job {name!r} failed: {row['error']}", file=sys.stderr)
            rows.append(row)
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    _write_summary(rows, out)
    n_bad = sum(c != 0 for c in codes)
    print(f"{len(rows) - n_bad} of {len(rows)} job(s) succeeded; summary in {out}/summary.md")
    code = 1 if 1 in codes else (2 if 2 in codes else 0)
    return rows, code


def _cmd_batch(args):
    _, code = run_batch(args)
    return code


# ----------------------------------------------------------------------------- show


def _feature_names_beside(path, n_features):
    report = Path(path).with_name("report.json")
    try:
        names = json.loads(report.read_text())["data"]["feature_names"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return names if isinstance(names, list) and len(names) == n_features else None


def _cmd_show(args):
    from crembo.persistence import UntrustedFileError, load_student

    try:
        model = load_student(args.student, trusted=args.trusted)
    except UntrustedFileError as exc:
        raise CLIError(f"{_one_line(exc)} (on the command line: --trusted TYPE for each)") from None
    except FileNotFoundError as exc:
        raise CLIError(_one_line(exc)) from None
    except ValueError as exc:
        raise CLIError(_one_line(exc)) from None
    inner = _inner(model)
    inner = None if inner is model else inner
    n_features = getattr(model, "n_features_in_", None)
    names = _feature_names_beside(args.student, n_features) if n_features else None
    lines = [f"file: {args.student}", f"model: {type(model).__name__}"]
    if inner is not None:
        lines.append(f"student: {type(inner).__name__}")
    classes = getattr(model, "classes_", None)
    if classes is not None:
        lines.append(f"classes ({len(classes)}): {', '.join(str(c) for c in classes)}")
    if n_features is not None:
        shown = f": {', '.join(names)}" if names else ""
        lines.append(f"features ({n_features}){shown}")
    depth = _tree_depth(model)
    if depth is not None:
        lines.append(f"tree depth: {depth}")
    if hasattr(model, "threshold_"):
        lines.append(f"threshold: {model.threshold_:.4g} (MEMO {model.memo_threshold_:.4g}); "
                     f"depth on the teacher's belief: {model.depth_:.4g}")
    text = tree_text(model, names, decimals=args.decimals)
    print("\n".join(lines))
    if text is not None:
        print()
        print(text, end="")
    else:
        print("(this model is not a tree; nothing more to print)")
    return 0


# ----------------------------------------------------------------------------- main

_COMMANDS = {"compress": _cmd_compress, "batch": _cmd_batch, "show": _cmd_show}


def main(argv=None):
    """Entry point of the ``crembo`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return _COMMANDS[args.command](args)
    except CLIError as exc:
        print(f"crembo {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:
        # Raised by crembo or scikit-learn on data they cannot use (a class too small to split,
        # NaN for a teacher that cannot take it, ...): bad input, not a bug.
        print(f"crembo {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"crembo {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(f"crembo {args.command}: unexpected error (exit code 1); the traceback above says where",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
