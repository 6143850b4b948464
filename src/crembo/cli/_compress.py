"""``crembo compress``: fit or load a teacher, compress it, compare with BM and VT, write the results."""

import contextlib
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from crembo._user_vt import kept_user_vt
from crembo.cli._data import align_to_teacher, load_data
from crembo.cli._errors import CLIError, one_line
from crembo.cli._output import _jsonable, output_folder
from crembo.cli._show import _tree_depth, tree_text


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
    if oracle == "native":  # crembo's default student (as in Python), at --depth
        from crembo.oracles import default_student

        return default_student().set_params(max_depth=depth, random_state=seed)
    from crembo.oracles import paper_student  # the paper's scikit-learn tree, at --depth

    return paper_student().set_params(max_depth=depth, random_state=seed)


STAGES = ("load", "teacher", "crembo", "baselines", "evaluate", "write")


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


def _write_scan(est, path):
    """``crembo.plotting.plot_scan`` on a figure of its own (no pyplot: no GUI backend, no global
    figure list) saved as PNG."""
    from matplotlib.figure import Figure

    from crembo.plotting import plot_scan

    fig = Figure(figsize=(8, 5.6), layout="constrained")
    plot_scan(est, ax=fig.subplots())
    fig.savefig(path, dpi=110)


def _show_progress(args):
    return bool(args.verbose) or sys.stderr.isatty()


def _accuracy(y_true, y_pred):
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _load_teacher(args):
    from crembo.persistence import UntrustedFileError, load_model

    try:
        teacher = load_model(args.teacher, trust_pickle=args.trust, trusted=args.trusted)
    except UntrustedFileError as exc:
        raise CLIError(
            f"{one_line(exc)} (on the command line: --trusted TYPE for each type, or --trust "
            "for everything in the file)"
        ) from None
    except FileNotFoundError as exc:
        raise CLIError(one_line(exc)) from None
    except ValueError as exc:
        raise CLIError(f"cannot use --teacher: {one_line(exc)}") from None
    if not (hasattr(teacher, "predict_proba") or hasattr(teacher, "estimators_")):
        raise CLIError(f"{args.teacher} holds a {type(teacher).__name__}, not a fitted classifier with predict_proba")
    return teacher


def _splits(args, y):
    """(train + validation, test) rows, and CREMBO's training rows among train + validation (all of
    them with the cross-validated selection)."""
    from sklearn.model_selection import train_test_split

    from crembo.estimator import stratified_split

    try:
        idx_trval, idx_test = train_test_split(
            np.arange(len(y)), test_size=args.test_fraction, stratify=y, random_state=args.seed
        )
    except ValueError as exc:
        raise CLIError(
            f"cannot make a stratified test split of {len(y)} samples with "
            f"--test-fraction {args.test_fraction}: {one_line(exc)}"
        ) from None
    if args.selection != "paper":
        return idx_trval, idx_test, np.arange(len(idx_trval))
    classes, y_enc = np.unique(y[idx_trval], return_inverse=True)
    try:
        idx_tr, _ = stratified_split(y_enc, classes, args.validation_fraction, args.seed)
    except ValueError as exc:
        raise CLIError(one_line(exc)) from None
    return idx_trval, idx_test, idx_tr


def _fit_crembo(args, teacher, student, X, y, progress):
    import crembo

    est = crembo.CREMBOClassifier(
        teacher=teacher,
        student=student,
        delta=args.delta,
        validation_fraction=args.validation_fraction,
        eps=args.eps,
        n_jobs=args.n_jobs,
        random_state=args.seed,
        verbose=int(progress),
        selection=args.selection,
    )
    # CREMBO's verbose summary goes to stderr: stdout is the command's own output.
    with contextlib.ExitStack() as stack:
        sink = sys.stderr if progress else stack.enter_context(open(os.devnull, "w"))
        stack.enter_context(contextlib.redirect_stdout(sink))
        est.fit(X, y)
    return est


def _compress(args, tmp, stages, progress, log):
    """The stages of ``compress``, writing into the folder ``tmp``; returns the report."""
    import crembo
    from crembo.persistence import save_student

    with stages("load"):
        data = load_data(args.data, args.target, args.labels)
        idx_trval, idx_test, idx_tr = _splits(args, data.y)
        log(f"data: {data.X.shape[0]} samples, {data.X.shape[1]} features, {len(np.unique(data.y))} classes")

    with stages("teacher"):
        if args.teacher is not None:
            teacher = _load_teacher(args)
            data = align_to_teacher(data, teacher, args.teacher)
            teacher_info = {"file": str(args.teacher), "type": type(teacher).__name__}
        X, y, feature_names = data.X, data.y, data.feature_names
        X_trval, y_trval, X_test, y_test = X[idx_trval], y[idx_trval], X[idx_test], y[idx_test]
        if args.teacher is None:
            # The teacher sees CREMBO's training rows only (never the test rows; with --selection
            # paper, never the validation rows either: CREMBO makes the same split from the seed).
            teacher = _make_teacher(args.fit, args.n_estimators, args.seed, args.n_jobs)
            log(f"fitting teacher {args.fit} on {len(idx_tr)} samples")
            teacher.fit(X_trval[idx_tr], y_trval[idx_tr])
            teacher_info = {"fit": args.fit, "type": type(teacher).__name__, "n_estimators": args.n_estimators}

    student = _make_student(args.oracle, args.depth, args.seed)
    with stages("crembo"):
        est = _fit_crembo(args, teacher, student, X_trval, y_trval, progress)

    with stages("baselines"):
        fitted_teacher = est.teacher_.model if hasattr(est.teacher_, "model") else teacher
        bm = crembo.fit_baseline_bm(X_trval, y_trval, student=student, random_state=args.seed)
        vt = crembo.fit_baseline_vt(X_trval, y_trval, teacher=fitted_teacher, student=student, random_state=args.seed)

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

    with stages("write"):
        t_write = time.perf_counter()
        if data.named:
            # What fitting on a DataFrame of these columns would have set: the saved student knows
            # its features (crembo show, export_text) and a DataFrame given to predict is checked.
            est.feature_names_in_ = np.asarray(feature_names, dtype=object)
        save_student(est, tmp / "student.skops")
        text = tree_text(est, feature_names)
        if text is not None:
            (tmp / "student.txt").write_text(text)
        _write_scan(est, tmp / "scan.png")
        scan = est.scan_
        report = {
            "crembo_version": crembo.__version__,
            "options": {k: v for k, v in vars(args).items() if k not in ("func", "command")},
            "data": {
                "file": str(args.data),
                "n_samples": int(X.shape[0]),
                "n_features": int(X.shape[1]),
                "feature_names": feature_names,
                "classes": est.classes_,
                "n_train": len(idx_tr),
                "n_validation": int(len(idx_trval) - len(idx_tr)),
                "n_test": len(idx_test),
            },
            "teacher": teacher_info,
            "student": {
                "oracle": args.oracle,
                "max_depth": args.depth,
                "type": type(est.estimator_).__name__,
                "candidate": getattr(est, "student_", None),
                "tree_depth": _tree_depth(est),
            },
            "thresholds": {
                "memo": est.memo_threshold_,
                "crembo": est.threshold_,
                "memo_index": int(est.memo_.index),
                "crembo_index": int(scan.indices[scan.position]),
                "n_candidates": len(est.memo_.thresholds),
            },
            "depths": {"memo": est.memo_.depth, "crembo": est.depth_},
            "validation": {"crembo": est.validation_score_, "selection": args.selection},
            "scan": {
                "position": int(scan.position),
                "indices": scan.indices,
                "thresholds": scan.thresholds,
                "validation_scores": scan.validation_scores,
                "depths": scan.depths,
                "seconds": scan.seconds,
                # the tree a user would fit on the teacher's labels, scored on the same folds; when
                # it was kept, validation.crembo is its score (validation_scores are the scan's)
                "user_vt_score": scan.user_vt_score,
                "user_vt_kept": kept_user_vt(est),
            },
            "test_accuracy": accuracy,
            "fidelity": fidelity,
            "timings": {
                **{k: v for k, v in stages.seconds.items()},
                "memo_oracle_calls": float(sum(c.seconds for c in est.memo_.trace)),
                "scan_fits": float(np.sum(scan.seconds)),
            },
            "notes": data.notes,
            "files": [*sorted(p.name for p in tmp.iterdir()), "report.json"],
        }
        report["timings"]["write"] = time.perf_counter() - t_write  # all but report.json itself
        (tmp / "report.json").write_text(json.dumps(_jsonable(report), indent=2) + "\n")
    return report


def run_compress(args, log=None):
    """Run one compression from parsed ``compress`` options; returns the report dict.

    Raises CLIError for bad input; nothing is left behind then (see ``output_folder``)."""
    log = log or (lambda msg: None)
    progress = _show_progress(args)
    with output_folder(args.out, args.overwrite) as tmp:
        stages = _Stages(STAGES, progress)
        try:
            with warnings.catch_warnings():
                # A teacher fitted on a DataFrame has had its columns matched by name
                # (align_to_teacher); it then sees arrays in that order.
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                report = _compress(args, tmp, stages, progress, log)
        finally:
            stages.close()
    report["out"] = str(Path(args.out))
    return report


def _summary_line(report):
    a, f, t = report["test_accuracy"], report["fidelity"], report["thresholds"]
    return (
        f"wrote {report['out']}: test accuracy teacher {a['teacher']:.3f}, CREMBO {a['crembo']:.3f}, "
        f"BM {a['bm']:.3f}, VT {a['vt']:.3f}; fidelity {f['crembo']:.3f}; threshold {t['crembo']:.3g} "
        f"(MEMO {t['memo']:.3g})"
    )


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
