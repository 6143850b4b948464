#!/usr/bin/env python
"""DNN -> DNN: compress an MLP teacher into a small MLP with CREMBO and with knowledge distillation.

    python benchmarks/paper_torch.py --quick    # ~1-2 minutes on 2 cores
    python benchmarks/paper_torch.py            # 5 seeds

Data: scikit-learn's digits (1797 x 64, 10 classes). Per seed: a stratified 75/25 train/test
split; the teacher is an sklearn MLP (standardised inputs, hidden (256, 128)) trained on the whole
training part; the student is a torch MLP with one small hidden layer. Methods:

* CREMBO: ``crembo.torch.crembo_torch(..., TorchOracle(...))``: the student is trained on the
  allowed-label matrix with BCE-with-logits at each threshold of a bounded grid (softmax
  beliefs have ~n*k distinct values, mostly tiny); 15% validation split.
  MEMO: the deepest consistent student of the same run.
* KD(T): Hinton et al.'s distillation at temperature T (a grid), trained on the same 85% part;
  KD(best T) picks T on the same 15% validation split, like CREMBO picks its threshold.
* BM / VT: the student trained with cross-entropy on the true / the teacher's labels of the whole
  training part (the paper's baselines); and the teacher itself.

Requires the optional extra: ``pip install 'crembo[torch]'``.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

CONFIGS = {
    "full": dict(seeds=5, teacher_hidden=(256, 128), teacher_iter=300, student_hidden=(8,), epochs=300,
                 temperatures=(2.0, 5.0, 10.0), n_thresholds=40),
    "quick": dict(seeds=2, teacher_hidden=(128,), teacher_iter=200, student_hidden=(8,), epochs=150,
                  temperatures=(2.0, 5.0, 10.0), n_thresholds=16),
}
BEGIN, END = "<!-- paper_torch:begin -->", "<!-- paper_torch:end -->"


def run_seed(seed, cfg):
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import crembo
    from crembo.torch import TorchOracle, crembo_torch, fit_distilled, fit_supervised

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)  # one process per core
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=seed)
    t0 = time.perf_counter()
    teacher = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=cfg["teacher_hidden"],
                            max_iter=cfg["teacher_iter"], random_state=seed)).fit(X_tr, y_tr)
    seconds = {"teacher": time.perf_counter() - t0}
    train_kw = dict(hidden=cfg["student_hidden"], epochs=cfg["epochs"], lr=1e-2, n_threads=1)

    acc = {"Teacher": float((teacher.predict(X_te) == y_te).mean())}

    # CREMBO on a bounded grid of thresholds (quantiles and even steps, crembo.candidates): a softmax belief has ~n*k distinct values, 90% of
    # them below 0.2, so CREMBOClassifier's index step (delta) would scan mostly tiny thresholds.
    n_thr = len(crembo.thresholds(teacher.predict_proba(X_tr)))
    t0 = time.perf_counter()
    est = crembo_torch(X_tr, y_tr, teacher, TorchOracle(**train_kw), n_thresholds=cfg["n_thresholds"],
                       validation_fraction=0.15, random_state=seed)
    seconds["crembo"] = time.perf_counter() - t0
    acc["CREMBO"] = float((est.predict(X_te) == y_te).mean())
    acc["MEMO"] = float((est.classes_[est.memo_.estimator.predict(X_te)] == y_te).mean())

    # KD on the same 85/15 split as CREMBO's (the estimator's stratified split with the same seed).
    tr, va = train_test_split(np.arange(len(y_tr)), test_size=0.15, stratify=y_tr, random_state=seed)
    logits = np.log(np.clip(teacher.predict_proba(X_tr[tr]), 1e-12, None))
    kd_val = {}
    t0 = time.perf_counter()
    for T in cfg["temperatures"]:
        student = fit_distilled(X_tr[tr], logits, T, random_state=seed, **train_kw)
        kd_val[T] = float((student.predict(X_tr[va]) == y_tr[va]).mean())
        acc[f"KD(T={T:g})"] = float((student.predict(X_te) == y_te).mean())
    seconds["kd_grid"] = time.perf_counter() - t0
    best_T = max(cfg["temperatures"], key=lambda T: (kd_val[T], -T))  # ties -> the lower T
    acc["KD(best T)"] = acc[f"KD(T={best_T:g})"]

    t0 = time.perf_counter()
    acc["BM"] = float((fit_supervised(X_tr, y_tr, 10, random_state=seed, **train_kw).predict(X_te) == y_te).mean())
    acc["VT"] = float((fit_supervised(X_tr, teacher.predict(X_tr), 10, random_state=seed, **train_kw)
                       .predict(X_te) == y_te).mean())
    seconds["bm_vt"] = time.perf_counter() - t0
    return {"seed": seed, "accuracy": acc, "kd_validation": {f"{T:g}": s for T, s in kd_val.items()},
            "kd_best_T": best_T, "crembo": {"n_thresholds": n_thr, "threshold": float(est.threshold_),
                                            "memo_threshold": float(est.memo_threshold_), "depth": float(est.depth_),
                                            "n_scanned": int(len(est.scan_["thresholds"])),
                                            "memo_calls": len(est.memo_.trace)},
            "seconds": seconds}


def method_order(cfg):
    return (["Teacher", "CREMBO", "MEMO", "KD(best T)"] + [f"KD(T={T:g})" for T in cfg["temperatures"]]
            + ["BM", "VT"])


def markdown(records, meta):
    cfg = meta["config"]
    L = [BEGIN, "## DNN -> DNN: digits, MLP teacher into a small MLP\n"]
    L.append(f"Generated by `{meta['command']}` on {meta['date']} in {meta['wall_seconds'] / 60:.1f} min "
             f"({meta['mode']} mode, {len(records)} seeds, torch {meta['torch']}, {meta['n_jobs']} processes).\n")
    L.append(f"Teacher: sklearn MLP {list(cfg['teacher_hidden'])} on standardised digits (75/25 stratified split "
             f"per seed). Student: torch MLP with hidden {list(cfg['student_hidden'])}, Adam, {cfg['epochs']} "
             "full-batch epochs. CREMBO and KD use the same 85/15 train/validation split (KD's T and CREMBO's "
             f"threshold are both chosen on validation; CREMBO runs `crembo.torch.crembo_torch` on a grid of "
             f"{cfg['n_thresholds']} thresholds: half quantiles of the belief, half evenly spaced); "
             "BM and VT train on the whole training part.\n")
    L.append("| method | test accuracy (%) mean ± std | wins/ties/losses of CREMBO |")
    L.append("|---|---|---|")
    cre = np.array([r["accuracy"]["CREMBO"] for r in records])
    for m in method_order(cfg):
        a = np.array([r["accuracy"][m] for r in records])
        wtl = "" if m == "CREMBO" else f"{int((cre > a).sum())}/{int((cre == a).sum())}/{int((cre < a).sum())}"
        L.append(f"| {m} | {100 * a.mean():.2f} ± {100 * a.std():.2f} | {wtl} |")
    c = records[0]["crembo"]
    L.append(f"\nCREMBO scan: {c['n_thresholds']} distinct belief values, "
             f"{c['n_scanned']} students scanned + {c['memo_calls']} MEMO calls (seed {records[0]['seed']}); "
             f"mean fit time {np.mean([r['seconds']['crembo'] for r in records]):.1f} s vs "
             f"{np.mean([r['seconds']['kd_grid'] for r in records]):.1f} s for the KD grid.\n")
    L.append(f"Every number is in `{meta['json_path']}`.")
    L.append(END)
    return "\n".join(L)


def write_section(md_path, section):
    """Replace the marked DNN section of the results page (or append it), keeping the rest."""
    md_path.parent.mkdir(parents=True, exist_ok=True)
    text = md_path.read_text() if md_path.exists() else "# Benchmark results\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    md_path.write_text(text)


def main(argv=None):
    try:
        import torch
    except ImportError:
        sys.exit("benchmarks/paper_torch.py needs PyTorch: pip install 'crembo[torch]'")
    from joblib import Parallel, delayed

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 seeds, smaller teacher, fewer epochs")
    p.add_argument("--seeds", type=int, help="number of seeds (default 5; quick 2)")
    p.add_argument("--n-jobs", type=int, default=None, help="worker processes (default: usable cores)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "paper_torch.json"))
    p.add_argument("--markdown", default=str(ROOT / "docs" / "results.md"))
    args = p.parse_args(argv)
    mode = "quick" if args.quick else "full"
    cfg = dict(CONFIGS[mode])
    if args.seeds is not None:
        if args.seeds < 1:
            p.error("--seeds must be >= 1")
        cfg["seeds"] = args.seeds
    n_jobs = args.n_jobs or len(os.sched_getaffinity(0))

    start = time.perf_counter()
    records = Parallel(n_jobs=n_jobs)(delayed(run_seed)(s, cfg) for s in range(cfg["seeds"]))
    wall = time.perf_counter() - start
    json_path = Path(args.json)
    cmd = "python benchmarks/paper_torch.py" + (" " + " ".join(sys.argv[1:]) if argv is None and sys.argv[1:] else "")
    meta = {"command": cmd, "mode": mode, "config": cfg, "n_jobs": n_jobs, "torch": torch.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "wall_seconds": wall, "json_path": os.path.relpath(json_path, ROOT)}
    section = markdown(records, meta)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    with open(json_path, "w") as fh:
        json.dump({"meta": meta, "records": records}, fh, indent=1)
    write_section(Path(args.markdown), section)
    print(section)
    print(f"[paper_torch] wrote {args.markdown}, {json_path} in {wall:.0f} s")


if __name__ == "__main__":
    main()
