#!/usr/bin/env python
"""CREMBO against the trees a practitioner would fit, on the paper's data sets and two synthetic ones.

    python benchmarks/paper.py --quick     # a few minutes on 2 cores
    python benchmarks/paper.py             # full protocol: 10-fold CV x 3 repetitions
    python benchmarks/paper.py --from-json # no fits: the report again from paper.json's records

Grid (benchmarks/_grid.py REPORTED): the paper's five UCI sets (iris, heart, dermatology,
arrhythmia, breast cancer) and make_classification sets with 10 and 20 classes at fixed seeds;
teachers RF (100 trees of depth 12, balanced: the paper's), GB (histogram gradient boosting,
100 rounds) and MLP (standardised inputs, 100 hidden units); student depths 2, 3 and 4. Nothing
was tuned on these rows: the selection was chosen on development data (docs/selection.md).

* generalization: stratified, shuffled, seeded K-fold CV x R repetitions. In each fold the
  teacher is fitted on the whole training part and given, fitted, to every method:
  - CREMBO: ``CREMBOClassifier`` with its default selection and default student (crembo's native
    depth-d tree);
  - CREMBO (paper): the same student with ``selection="paper"`` (the paper's 15% validation
    split, first best threshold, no refit); MEMO: the deepest consistent tree of that run;
  - BM-b, BM-u, VT-b, VT-u: scikit-learn depth-d trees, class-balanced (b, the paper's) and
    unweighted (u), on the true labels (BM) and on the teacher's ``predict`` (VT);
  - the teacher itself.
  Per configuration (data set x teacher x depth) the *best baseline* is the one of the four with
  the highest mean accuracy (what a practitioner would pick); reported: per-fold wins/ties/losses
  of CREMBO against it and against each baseline, with a two-sided sign test.
* robustness: a common stratified 15% test set is held out; every method is trained on each of
  the K folds' training parts of the rest; the mean pairwise agreement of its K students on the
  common test set (the paper's measure), beside their accuracy there; against each baseline, the
  configurations where CREMBO's students agree more / equally / less, with a sign test.

Outputs: docs/results.md (benchmarks/_paper_report.py writes it; the section between the
``paper_torch`` markers is benchmarks/paper_torch.py's and is kept), every number as JSON
(benchmarks/results/paper.json).
"""

import argparse
import datetime
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import _grid

ROOT = Path(__file__).resolve().parent.parent
BASELINES = _grid.BASELINES
METHODS = ("CREMBO", "CREMBO-paper", "MEMO", *BASELINES, "Teacher")

CONFIGS = {
    "full": dict(
        reps=3,
        folds=10,
        robust_folds=10,
        depths=(2, 3, 4),
        rf_trees=100,
        rf_depth=12,
        gb_rounds=100,
        gb_leaves=15,
        mlp_hidden=(100,),
        mlp_iter=1000,
    ),
    # the same protocol, less of it: one repetition of 3 folds, smaller teachers
    "quick": dict(
        reps=1,
        folds=3,
        robust_folds=3,
        depths=(2, 3, 4),
        rf_trees=30,
        rf_depth=12,
        gb_rounds=30,
        gb_leaves=15,
        mlp_hidden=(32,),
        mlp_iter=300,
    ),
}


def fit_and_predict(X_fit, y_fit, X_eval, kind, cfg, seed):
    """Fit the teacher once and every method at every depth on (X_fit, y_fit); predict X_eval."""
    from sklearn.tree import DecisionTreeClassifier
    from threadpoolctl import threadpool_limits

    import crembo
    from crembo.oracles import default_student

    warnings.filterwarnings("ignore")  # MLP convergence, tiny classes in stratified splits
    teacher_cfg = {k: cfg[k] for k in _grid.TEACHER_CONFIG}
    preds, info = {}, {}
    with threadpool_limits(1):
        t0 = time.perf_counter()
        teacher = _grid.make_teacher(kind, seed, teacher_cfg).fit(X_fit, y_fit)
        info["teacher_seconds"] = time.perf_counter() - t0
        labels = teacher.predict(X_fit)
        preds["Teacher"] = teacher.predict(X_eval)
        for d in cfg["depths"]:
            student = default_student().set_params(max_depth=d)
            runs = {}
            for name, selection in (("CREMBO", {}), ("CREMBO-paper", {"selection": "paper"})):
                t0 = time.perf_counter()
                runs[name] = crembo.CREMBOClassifier(
                    teacher=teacher, student=student, n_jobs=1, random_state=seed, **selection
                ).fit(X_fit, y_fit)
                info[(d, name)] = {
                    "seconds": time.perf_counter() - t0,
                    "threshold": runs[name].threshold_,
                    "memo_threshold": runs[name].memo_threshold_,
                    "student": getattr(runs[name], "student_", "student"),
                    "n_scanned": len(runs[name].scan_.indices),
                }
                preds[(d, name)] = runs[name].predict(X_eval)
            memo = runs["CREMBO-paper"]
            preds[(d, "MEMO")] = memo.classes_[np.asarray(memo.memo_.estimator.predict(X_eval), dtype=np.intp)]
            t0 = time.perf_counter()
            for b in BASELINES:
                tree = DecisionTreeClassifier(
                    max_depth=d, class_weight="balanced" if b.endswith("-b") else None, random_state=seed
                )
                preds[(d, b)] = tree.fit(X_fit, y_fit if b.startswith("BM") else labels).predict(X_eval)
            info[(d, "baselines")] = {"seconds": time.perf_counter() - t0}
    return preds, info


def _flat(d):
    """JSON-friendly: tuple keys (depth, method) -> "d<depth>/<method>"."""
    return {(f"d{k[0]}/{k[1]}" if isinstance(k, tuple) else k): v for k, v in d.items()}


def generalization_task(name, kind, rep, fold, train, test, cfg, seed):
    X, y = _grid.load(name)
    preds, info = fit_and_predict(X[train], y[train], X[test], kind, cfg, seed)
    correct = {k: int((p == y[test]).sum()) for k, p in preds.items()}
    return {
        "dataset": name,
        "teacher": kind,
        "rep": rep,
        "fold": fold,
        "n_test": len(test),
        "correct": _flat(correct),
        "info": _flat(info),
    }


def robustness_task(name, kind, fold, train, test, cfg, seed):
    X, y = _grid.load(name)
    preds, _info = fit_and_predict(X[train], y[train], X[test], kind, cfg, seed)
    return {
        "dataset": name,
        "teacher": kind,
        "fold": fold,
        "preds": _flat({k: p.tolist() for k, p in preds.items()}),
        "accuracy": _flat({k: float((p == y[test]).mean()) for k, p in preds.items()}),
    }


def build_tasks(names, teachers, cfg, seed):
    from sklearn.model_selection import StratifiedKFold, train_test_split

    gen, rob = [], []
    for name in names:
        _X, y = _grid.load(name)
        for rep, fold, tr, te in _grid.fold_plan(name, cfg["reps"], cfg["folds"], seed):
            for kind in teachers:
                gen.append((name, kind, rep, fold, tr, te, cfg, seed + 1000 * rep + fold))
        # robustness: a common held-out test set; students trained on each fold's training part
        idx = np.arange(len(y))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # classes of 2-3 samples (arrhythmia)
            pool, common = train_test_split(idx, test_size=0.15, stratify=_strata(y), random_state=seed)
            splits = list(StratifiedKFold(cfg["robust_folds"], shuffle=True, random_state=seed).split(pool, y[pool]))
        for fold, (tr, _) in enumerate(splits):
            for kind in teachers:
                rob.append((name, kind, fold, pool[tr], common, cfg, seed + fold))
    return gen, rob


def _strata(y):
    """Stratification labels with classes of one sample merged into the largest class (a
    stratified split needs two of each)."""
    counts = np.bincount(y)
    s = y.copy()
    s[counts[y] < 2] = int(np.argmax(counts))
    return s


def machine_info():
    import platform

    import sklearn

    import crembo

    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores_usable": len(os.sched_getaffinity(0)),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "crembo": crembo.__version__,
        "crembo_backend": crembo.current_backend_name(),
        "load_average_at_end": list(os.getloadavg()),
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="1 repetition of 3 folds, smaller teachers")
    p.add_argument("--reps", type=int, help="CV repetitions (default 3; quick 1)")
    p.add_argument("--folds", type=int, help="CV folds (default 10; quick 3)")
    p.add_argument("--robust-folds", type=int, help="students per method for agreement (default 10; quick 3)")
    p.add_argument("--depths", type=int, nargs="+", help="student depths (default 2 3 4)")
    p.add_argument("--datasets", nargs="+", default=list(_grid.REPORTED), choices=_grid.REPORTED)
    p.add_argument("--teachers", nargs="+", default=list(_grid.TEACHERS), choices=_grid.TEACHERS)
    p.add_argument("--n-jobs", type=int, default=None, help="worker processes (default: usable cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "paper.json"))
    p.add_argument("--markdown", default=str(ROOT / "docs" / "results.md"))
    p.add_argument(
        "--from-json",
        action="store_true",
        help="fit nothing: recompute the summary and the report from the records of --json (a past run)",
    )
    args = p.parse_args(argv)
    for opt in ("reps", "folds", "robust_folds", "n_jobs"):
        val = getattr(args, opt)
        if val is not None and val < (2 if "folds" in opt else 1):
            p.error(f"--{opt.replace('_', '-')} is too small: {val}")
    return args


def main(argv=None):
    import _paper_report
    from joblib import Parallel, delayed

    args = parse_args(argv)
    if args.from_json:
        return report_again(args)
    mode = "quick" if args.quick else "full"
    cfg = dict(CONFIGS[mode])
    for opt in ("reps", "folds", "robust_folds", "depths"):
        if getattr(args, opt) is not None:
            cfg[opt] = tuple(getattr(args, opt)) if opt == "depths" else getattr(args, opt)
    n_jobs = args.n_jobs or len(os.sched_getaffinity(0))
    names, teachers = list(args.datasets), list(args.teachers)

    start = time.perf_counter()
    gen_tasks, rob_tasks = build_tasks(names, teachers, cfg, args.seed)
    # costliest first so the workers finish together
    cost = {"synth20": 6, "synth10": 4, "arrhythmia": 4, "breast_cancer": 2, "dermatology": 2, "heart": 2}
    jobs = [("gen", t) for t in gen_tasks] + [("rob", t) for t in rob_tasks]
    jobs.sort(key=lambda j: -(cost.get(j[1][0], 1) * (1 if j[1][1] == "rf" else 3)))
    print(
        f"[paper] mode={mode}: {len(gen_tasks)} generalization + {len(rob_tasks)} robustness tasks "
        f"(each: one teacher, {len(cfg['depths'])} depths) on {n_jobs} workers",
        flush=True,
    )

    def run(kind, t):
        return kind, (generalization_task(*t) if kind == "gen" else robustness_task(*t))

    results = Parallel(n_jobs=n_jobs, verbose=5)(delayed(run)(k, t) for k, t in jobs)
    gen_records = [r for k, r in results if k == "gen"]
    rob_records = [r for k, r in results if k == "rob"]
    wall = time.perf_counter() - start
    cmd = "python benchmarks/paper.py" + "".join(" " + a for a in (sys.argv[1:] if argv is None else argv))
    json_path = Path(args.json)
    meta = {
        "command": cmd,
        "mode": mode,
        "seed": args.seed,
        "n_jobs": n_jobs,
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "datasets": names,
        "teachers": teachers,
        "data": {n: _grid.describe(n) for n in names},
        "synthetic": {n: _grid.SYNTHETIC[n] for n in names if n in _grid.SYNTHETIC},
        "machine": machine_info(),
        "wall_seconds": wall,
        "json_path": os.path.relpath(json_path, ROOT),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    summary = _paper_report.summarise(gen_records, rob_records, names, teachers, cfg["depths"])
    md = _paper_report.markdown(summary, meta)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    with open(json_path, "w") as fh:  # compact: the per-row predictions make 2 MB rather than 5
        json.dump(
            {
                "meta": meta,
                "summary": _paper_report.jsonable(summary),
                "generalization": gen_records,
                "robustness": rob_records,
            },
            fh,
            separators=(",", ":"),
        )
    write_markdown(md, args.markdown)
    print(md)
    print(f"[paper] wrote {args.markdown}, {json_path} in {wall:.0f} s", flush=True)


def write_markdown(md, path):
    import _paper_report

    md_path = Path(path)
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(md + _paper_report.kept_torch_section(md_path))


def report_again(args):
    """The summary and the report of a past run, recomputed from its records (a change of the report,
    not of the run: its command, date and machine stay those of the run)."""
    import _paper_report

    json_path = Path(args.json)
    record = json.loads(json_path.read_text())
    meta = record["meta"]
    summary = _paper_report.summarise(
        record["generalization"], record["robustness"], meta["datasets"], meta["teachers"], meta["config"]["depths"]
    )
    meta["report_regenerated"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    record["summary"] = _paper_report.jsonable(summary)
    with open(json_path, "w") as fh:
        json.dump(record, fh, separators=(",", ":"))
    md = _paper_report.markdown(summary, meta)
    write_markdown(md, args.markdown)
    print(f"[paper] report of the run of {meta['date']} recomputed from {json_path}; wrote {args.markdown}")


if __name__ == "__main__":
    main()
