#!/usr/bin/env python
"""DNN -> small DNN: does CREMBO beat knowledge distillation (the paper's last claim)?

    nice -n 5 python benchmarks/paper_torch.py --quick   # smoke run, about a minute on 2 cores
    nice -n 5 python benchmarks/paper_torch.py           # full: 10 seeds x 4 data sets x 2 students

Protocol. Per data set one stratified 25% test set is held out once (split seed 0) and is common
to every seed, so students of different seeds can be compared on it (agreement, the paper's
robustness measure). Per seed, the rest is split 85/15 (stratified, seeded) into train and
validation; a teacher MLP (hidden 256-256, cross-entropy, early stopping) is trained on the train
part; then for each of two student sizes every method trains students under one training budget
(the same MLP, mini-batch Adam, learning rate, batch size, most epochs, and early stopping on the
validation accuracy with the same patience), on the same rows, from the same seed, and picks its
hyper-parameter on the same validation split:

* BM / VT: cross-entropy on the true / the teacher's labels;
* KD(T): Hinton's distillation at T in (2, 5, 10); KD(best T): T chosen on validation;
* CREMBO: ``crembo.torch.crembo_net`` with the recipe chosen on development runs (CREMBO_RECIPE);
  the threshold chosen on validation;
* CREMBO + KD: ``crembo.torch.crembo_kd_net`` at CREMBO's threshold and KD's validated T, the
  weight w of ``(1 - w) allowed + w KD`` chosen on validation;
* read-offs of CREMBO + KD's own students (no extra training): its student at each weight, and
  the one-standard-error rule (the largest weight within one binomial standard error of the best
  validation accuracy), to see whether the KD term makes CREMBO stable;
* ablations (full mode): CREMBO with the paper's recipe (``crembo.torch.PAPER_RECIPE``, its scan
  capped at 8 students), and CREMBO with only one of its two losses (read off its own scan).

Data: scikit-learn's digits; crembo's bundled dermatology; two synthetic many-class sets
(``make_classification``, k = 10 and k = 50) whose train/validation labels get 20% symmetric
label noise (the test labels stay clean). Development runs (``--dev``) use another test split
and other seeds, so design choices were made without the reported runs.

Writes every record to benchmarks/results/paper_torch.json and the report between the
paper_torch markers of docs/results.md. Requires the optional extra: ``pip install 'crembo[torch]'``.
The protocol's constants are in _paper_torch_protocol.py, the statistics and the Markdown report
in _paper_torch_report.py.
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
from _paper_torch_protocol import (
    ABLATIONS,
    CONFIGS,
    CREMBO_RECIPE,
    HINTON_ALPHA,
    KD_WEIGHTS,
    NOISE,
    ONE_SE_LABEL,
    STUDENTS,
    TEACHER,
    TEMPERATURES,
    TRAIN,
)
from _paper_torch_report import NOTES, markdown, summarise, write_section

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------------------- data


def _synthetic(k, n, seed):
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=n,
        n_features=30,
        n_informative=20,
        n_redundant=5,
        n_classes=k,
        n_clusters_per_class=2 if k <= 10 else 1,
        class_sep=1.5,
        flip_y=0.0,
        random_state=seed,
    )


def load_dataset(name):
    """(X, y, label_noise) for a data set name; synthetic sets are fixed (generator seed 0)."""
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X, y, 0.0
    if name == "dermatology":
        from crembo.datasets import load_dermatology

        ds = load_dermatology()
        return ds.X, ds.y, 0.0
    if name == "synth-k10":
        return (*_synthetic(10, 3000, 0), NOISE)
    if name == "synth-k50":
        return (*_synthetic(50, 4000, 0), NOISE)
    raise ValueError(f"unknown data set {name!r}")


def split(name, split_seed, seed):
    """The common test set (split_seed) and this seed's train/validation parts, noise applied."""
    from sklearn.model_selection import train_test_split

    X, y, noise = load_dataset(name)
    X_pool, X_te, y_pool, y_te = train_test_split(X, y, test_size=0.25, stratify=y, random_state=split_seed)
    if noise > 0:  # symmetric noise on the labels a learner sees; fixed per data set, like the data
        rng = np.random.default_rng(split_seed + 12345)
        k = int(y.max()) + 1
        flip = rng.random(len(y_pool)) < noise
        y_pool = y_pool.copy()
        y_pool[flip] = (y_pool[flip] + rng.integers(1, k, flip.sum())) % k
    X_tr, X_va, y_tr, y_va = train_test_split(X_pool, y_pool, test_size=0.15, stratify=y_pool, random_state=seed)
    return X_tr, y_tr, X_va, y_va, X_te, y_te


# ------------------------------------------------------------------------------------ methods


def _acc(pred, y):
    return float(np.mean(np.asarray(pred) == np.asarray(y)))


class _Clock:
    """CPU and wall seconds per method (each worker runs single-threaded: CPU time is its cost)."""

    def __init__(self):
        self.cpu, self.wall = {}, {}

    def __call__(self, name, fn):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c0
        self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w0
        return out


def run_unit(name, seed, cfg):
    """One data set and seed: the teacher, then every method for each student size.

    Returns (records, predictions): one JSON record per student size, and the test predictions
    {(dataset, student, method): array} for the agreement between seeds."""
    import torch

    from crembo import torch as ct

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)  # one worker per core
    X_tr, y_tr, X_va, y_va, X_te, y_te = split(name, cfg["split_seed"], seed)
    k = int(max(y_tr.max(), y_va.max(), y_te.max())) + 1
    train = dict(TRAIN, epochs=cfg.get("epochs", TRAIN["epochs"]))
    teacher_kw = dict(TEACHER, epochs=cfg.get("epochs", TEACHER["epochs"]))
    clock = _Clock()
    teacher = clock(
        "Teacher", lambda: ct.fit_supervised(X_tr, y_tr, k, X_val=X_va, y_val=y_va, random_state=seed, **teacher_kw)
    )
    z = teacher.logits(X_tr)
    t_pred = teacher.predict(X_te)
    records, preds = [], {}
    for size in cfg["students"]:
        hidden = STUDENTS[size]
        kw = dict(train, hidden=hidden, random_state=seed)
        val = dict(X_val=X_va, y_val=y_va)
        sclock = _Clock()
        acc, vacc, chosen, fits, epochs = {"Teacher": _acc(t_pred, y_te)}, {}, {}, {}, {}
        pred = {"Teacher": t_pred}

        def keep(method, model, n_fits=1):
            pred[method] = model.predict(X_te)
            acc[method] = _acc(pred[method], y_te)
            vacc[method] = _acc(model.predict(X_va), y_va)
            fits[method] = n_fits
            student = getattr(model, "student_", model)
            epochs[method] = int(student.history_["epochs"])

        keep("BM", sclock("BM", lambda: ct.fit_supervised(X_tr, y_tr, k, **val, **kw)))
        keep("VT", sclock("VT", lambda: ct.fit_supervised(X_tr, z.argmax(axis=1), k, **val, **kw)))
        for T in TEMPERATURES:
            keep(f"KD(T={T:g})", sclock(f"KD(T={T:g})", lambda: ct.fit_distilled(X_tr, z, T, **val, **kw)))
            keep(
                f"KD+CE(T={T:g})",
                sclock(
                    f"KD+CE(T={T:g})", lambda: ct.fit_distilled(X_tr, z, T, y=y_tr, alpha=HINTON_ALPHA, **val, **kw)
                ),
            )
        for kd in ("KD", "KD+CE"):  # T chosen on validation; ties: the lower T
            best_T = max(TEMPERATURES, key=lambda T: (vacc[f"{kd}(T={T:g})"], -T))
            chosen[f"{kd} T"] = best_T
            for table in (acc, vacc, pred, epochs):
                table[f"{kd}(best T)"] = table[f"{kd}(T={best_T:g})"]
            fits[f"{kd}(best T)"] = len(TEMPERATURES)
            sclock.cpu[f"{kd}(best T)"] = sum(sclock.cpu[f"{kd}(T={T:g})"] for T in TEMPERATURES)
            sclock.wall[f"{kd}(best T)"] = sum(sclock.wall[f"{kd}(T={T:g})"] for T in TEMPERATURES)
        kd_T = chosen["KD T"]

        cre = sclock("CREMBO", lambda: ct.crembo_net(X_tr, z, X_va, y_va, **CREMBO_RECIPE, **kw))
        keep("CREMBO", cre, cre.n_fits_)
        chosen.update({"CREMBO threshold": cre.threshold_, "CREMBO loss": cre.loss_})
        ckd = sclock(
            "CREMBO + KD",
            lambda: ct.crembo_kd_net(
                X_tr,
                z,
                X_va,
                y_va,
                cre.threshold_,
                weights=KD_WEIGHTS,
                kd_temperature=kd_T,
                loss=cre.loss_,
                **{f: v for f, v in CREMBO_RECIPE.items() if f != "loss"},
                **kw,
            ),
        )
        keep("CREMBO + KD", ckd, ckd.n_fits_)
        chosen["CREMBO + KD weight"] = ckd.weight_
        # read off CREMBO + KD's own students (no extra training): each weight, and the one-SE rule
        for label, i in kd_weight_readoffs(ckd.scan_["validation_scores"], len(y_va)).items():
            n_fits = ckd.n_fits_ if label == ONE_SE_LABEL else 1  # the rule needs all of them
            keep(label, ckd.students_[i], n_fits)
            sclock.cpu[label] = sclock.cpu["CREMBO + KD"] * n_fits / ckd.n_fits_
            chosen[f"{label} weight"] = float(KD_WEIGHTS[i])
        if cfg["ablations"]:
            for label, overrides in ABLATIONS.items():
                if overrides is None:  # one loss of CREMBO's scan
                    loss = "bce" if "BCE" in label else "set"
                    rows = np.flatnonzero(cre.scan_["losses"] == loss)
                    best = rows[int(np.argmax(cre.scan_["validation_scores"][rows]))]
                    th = float(cre.scan_["thresholds"][best])
                    keep(label, cre.students_[best], int(rows.size))
                    sclock.cpu[label] = sclock.cpu["CREMBO"] * rows.size / len(cre.scan_["losses"])
                    chosen[f"{label} threshold"] = th
                    continue
                if seed - cfg["first_seed"] >= cfg["ablation_seeds"]:
                    continue
                res = sclock(label, lambda: ct.crembo_net(X_tr, z, X_va, y_va, **overrides, **kw))
                keep(label, res, res.n_fits_)
                chosen[f"{label} threshold"] = res.threshold_
                if res.memo_trace_:
                    chosen[f"{label} memo_index"] = res.memo_index_
        records.append(
            {
                "dataset": name,
                "seed": seed,
                "student": size,
                "hidden": list(hidden),
                "n_train": len(y_tr),
                "n_validation": len(y_va),
                "n_test": len(y_te),
                "accuracy": acc,
                "validation_accuracy": vacc,
                "chosen": chosen,
                "n_fits": fits,
                "epochs": epochs,
                "cpu_seconds": sclock.cpu,
                "wall_seconds": sclock.wall,
                "teacher_cpu_seconds": clock.cpu["Teacher"],
            }
        )
        preds.update({(name, size, m): p for m, p in pred.items()})
    return records, preds


def kd_weight_readoffs(scores, n_validation):
    """{label: index into KD_WEIGHTS}: every weight of CREMBO + KD, and the one-standard-error
    rule (the largest weight whose validation accuracy is within one binomial standard error of
    the best: more of the teacher's soft targets unless the validation split says otherwise)."""
    scores = np.asarray(scores, dtype=float)
    best = scores.max()
    se = np.sqrt(best * (1 - best) / n_validation)
    out = {f"CREMBO + KD(w={w:g})": i for i, w in enumerate(KD_WEIGHTS)}
    out[ONE_SE_LABEL] = int(np.flatnonzero(scores >= best - se).max())
    return out


def method_order(cfg):
    base = (
        ["Teacher", "BM", "VT"]
        + [f"KD(T={T:g})" for T in TEMPERATURES]
        + ["KD(best T)"]
        + [f"KD+CE(T={T:g})" for T in TEMPERATURES]
        + ["KD+CE(best T)", "CREMBO", "CREMBO + KD"]
        + [f"CREMBO + KD(w={w:g})" for w in KD_WEIGHTS]
        + [ONE_SE_LABEL]
    )
    return base + (list(ABLATIONS) if cfg["ablations"] else [])


def main(argv=None):
    try:
        import torch
    except ImportError:
        sys.exit("benchmarks/paper_torch.py needs PyTorch: pip install 'crembo[torch]'")
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="smoke run: 2 seeds, 2 data sets, 1 student, 60 epochs")
    mode.add_argument("--dev", action="store_true", help="development runs: another test split and other seeds")
    p.add_argument("--seeds", type=int, help="number of seeds")
    p.add_argument("--datasets", help="comma-separated subset of " + ", ".join(CONFIGS["full"]["datasets"]))
    p.add_argument("--no-ablations", action="store_true", help="skip the recipe ablations")
    p.add_argument("--n-jobs", type=int, default=None, help="worker processes (default: usable cores)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "paper_torch.json"))
    p.add_argument("--markdown", default=str(ROOT / "docs" / "results.md"))
    p.add_argument("--render", action="store_true", help="only rewrite the Markdown section from the --json file")
    args = p.parse_args(argv)
    if args.render:
        with open(args.json) as fh:
            saved = json.load(fh)
        meta = dict(saved["meta"], notes=NOTES)
        section = markdown(saved["summary"], meta, method_order(meta["config"]), saved["records"])
        write_section(Path(args.markdown), section)
        print(section)
        return
    mode = "quick" if args.quick else "dev" if args.dev else "full"
    cfg = dict(CONFIGS[mode])
    if args.seeds is not None:
        if args.seeds < 2:
            p.error("--seeds must be >= 2 (agreement needs two students)")
        cfg["seeds"] = args.seeds
    if args.datasets:
        names = tuple(args.datasets.split(","))
        bad = [n for n in names if n not in CONFIGS["full"]["datasets"]]
        if bad:
            p.error(f"unknown data sets {bad}")
        cfg["datasets"] = names
    if args.no_ablations:
        cfg["ablations"] = False
    n_jobs = args.n_jobs or len(os.sched_getaffinity(0))
    if n_jobs < 1:
        p.error("--n-jobs must be >= 1")

    # the largest units first, so the last worker does not run alone for long
    order = {"synth-k50": 0, "synth-k10": 1, "digits": 2, "dermatology": 3}
    units = sorted(
        ((n, s) for n in cfg["datasets"] for s in range(cfg["first_seed"], cfg["first_seed"] + cfg["seeds"])),
        key=lambda u: (order.get(u[0], 9), u[1]),
    )
    start, cpu0 = time.perf_counter(), time.process_time()
    records, preds = [], {}
    jobs = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(delayed(run_unit)(n, s, cfg) for n, s in units)
    partial = Path(args.json).with_suffix(".partial.jsonl")  # records so far, should the run be cut short
    partial.unlink(missing_ok=True)
    for recs, pr in tqdm(jobs, total=len(units), desc="paper_torch", unit="seed"):
        records.extend(recs)
        with open(partial, "a") as fh:
            fh.writelines(json.dumps(r, default=float) + "\n" for r in recs)
        for key, value in pr.items():
            preds.setdefault(key, []).append((recs[0]["seed"], value))
    wall = time.perf_counter() - start
    preds = {key: [v for _, v in sorted(vals, key=lambda sv: sv[0])] for key, vals in preds.items()}
    records.sort(key=lambda r: (cfg["datasets"].index(r["dataset"]), r["seed"], cfg["students"].index(r["student"])))
    methods = method_order(cfg)
    summary = summarise(records, preds, methods)
    cpu = (
        time.process_time()
        - cpu0
        + sum(sum(r["cpu_seconds"].values()) for r in records)
        + sum(r["teacher_cpu_seconds"] for r in records if r["student"] == cfg["students"][0])
    )
    json_path = Path(args.json)
    cmd = "python benchmarks/paper_torch.py" + (" " + " ".join(sys.argv[1:]) if argv is None and sys.argv[1:] else "")
    meta = {
        "command": cmd,
        "mode": mode,
        "config": cfg,
        "n_jobs": n_jobs,
        "torch": torch.__version__,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "json_path": os.path.relpath(json_path.resolve(), ROOT),
        "crembo_recipe": repr(CREMBO_RECIPE),
        "ablations": {k: repr(v) for k, v in ABLATIONS.items()},
        "train": TRAIN,
        "teacher": TEACHER,
        "students": STUDENTS,
        "notes": NOTES,
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    with open(json_path, "w") as fh:
        json.dump({"meta": meta, "summary": summary, "records": records}, fh, indent=1, default=float)
        fh.write("\n")
    partial.unlink(missing_ok=True)
    section = markdown(summary, meta, methods, records)
    write_section(Path(args.markdown), section)
    print(section)
    print(f"[paper_torch] wrote {args.markdown}, {json_path} in {wall:.0f} s wall, {cpu:.0f} s CPU")


if __name__ == "__main__":
    main()
