"""CREMBO on Dask with rows that never reach the client: ``crembo.distributed.fit_distributed``.

One command:

    python benchmarks/distributed.py --quick     # 1,000,000 x 20, k = 10; design comparison at 200,000
    python benchmarks/distributed.py             # 20,000,000 x 20, k = 10; design comparison at 1,000,000

A scheduler and 4 worker processes (1 thread each), each a process of its own (``dask
scheduler`` / ``dask worker`` on loopback, as on a real cluster, so the client's memory is its
own). Data: 20 float32
features, k = 10 classes from a fixed linear-plus-sine score with Gumbel noise, generated
block by block *on the workers* (a block's rows depend only on its index and the seed), so the
client never holds them. Teacher: RandomForest(32 trees, max_depth 10) fitted on a worker on
50,000 generated rows (block index -1); the fitted model is what travels.

Main run: ``fit_distributed(CREMBOClassifier(teacher, student=None (depth-4 balanced Gini
tree), belief_dtype="float32", random_state=0), X, y)``: wall time per stage (``timings_``),
student fits, peak RSS (VmHWM) of each worker and of the client, the client's peak RSS *growth*
during the fit (VmHWM reset just before), its tracemalloc peak, and test accuracy on 200,000
fresh rows generated on the workers and predicted lazily (``crembo.distributed.predict``).

Design comparison (per student fit, the same thresholds, on n rows): (a) the local native tree
on the gathered rows (binned once, ``fit_prepared``), (b) the native tree grown from histograms
summed across the workers (``fit_distributed`` with that one candidate: its one MEMO call),
(c) xgboost.dask as the oracle: one multi-output tree (``multi_strategy="multi_output_tree"``,
depth 4, hist, ``binary:logistic`` on the 0/1 allowed matrix, no balanced weights: xgboost has
no per-output weights), a ``DaskQuantileDMatrix`` per threshold since the labels change. Test
accuracy of each fitted student on the same test rows.

Writes benchmarks/results/distributed.json (distributed_quick.json with --quick).
"""

import argparse
import json
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

# This file's name is the dask package's: import the package before this folder is on the path.
_HERE = str(Path(__file__).resolve().parent)
sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]
import distributed  # noqa: E402

sys.path.append(_HERE)
from _common import RESULTS_DIR, machine_info, markdown_table, write_json  # noqa: E402

FEATURES, CLASSES, SEED = 20, 10, 7
TREES, TREE_DEPTH, TEACHER_ROWS = 32, 10, 50_000
N_TEST = 200_000


def _weights():
    rng = np.random.default_rng(SEED)
    return rng.normal(size=(12, CLASSES)).astype(np.float32), rng.normal(size=(8, CLASSES)).astype(np.float32)


def gen_X(block, rows):
    """Rows of block ``block`` (its own seed: any worker makes the same rows)."""
    rng = np.random.default_rng([SEED, block + 1])
    return rng.standard_normal((rows, FEATURES), dtype=np.float32)


def labels_of(X, block=0):
    W, V = _weights()
    noise = np.random.default_rng([SEED, 10**6 + block]).gumbel(size=(X.shape[0], CLASSES)).astype(np.float32)
    score = X[:, :12] @ W + 1.5 * np.sin(2.0 * X[:, 12:]) @ V + 1.2 * noise
    return np.argmax(score, axis=1).astype(np.int8)


def gen_y(block, rows):
    return labels_of(gen_X(block, rows), block)


def fit_teacher():
    from sklearn.ensemble import RandomForestClassifier

    X = gen_X(-1, TEACHER_ROWS)
    return RandomForestClassifier(n_estimators=TREES, max_depth=TREE_DEPTH, random_state=0, n_jobs=1).fit(
        X, labels_of(X, -1)
    )


def dask_data(n, rows_per_block, first_block=0):
    import dask
    import dask.array as da

    sizes = [rows_per_block] * (n // rows_per_block) + ([n % rows_per_block] if n % rows_per_block else [])
    X = da.concatenate(
        [
            da.from_delayed(dask.delayed(gen_X)(first_block + b, r), (r, FEATURES), np.float32)
            for b, r in enumerate(sizes)
        ]
    )
    y = da.concatenate(
        [da.from_delayed(dask.delayed(gen_y)(first_block + b, r), (r,), np.int8) for b, r in enumerate(sizes)]
    )
    return X, y


def vm_hwm_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vm_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_hwm():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def start_cluster(n_workers):
    import subprocess
    import tempfile

    folder = tempfile.mkdtemp(prefix="crembo-bench-")
    sched_file = os.path.join(folder, "scheduler.json")
    bin_dir = os.path.dirname(sys.executable)
    procs = [
        subprocess.Popen(
            [
                os.path.join(bin_dir, "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                sched_file,
            ],
            cwd=folder,
        )
    ]
    for _ in range(600):  # the scheduler writes its address when it listens
        if os.path.exists(sched_file) and os.path.getsize(sched_file):
            break
        time.sleep(0.1)
    procs.append(
        subprocess.Popen(
            [
                os.path.join(bin_dir, "dask"),
                "worker",
                "--scheduler-file",
                sched_file,
                "--nworkers",
                str(n_workers),
                "--nthreads",
                "1",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--memory-limit",
                "5GiB",
            ],
            cwd=folder,
        )
    )
    client = distributed.Client(scheduler_file=sched_file)
    client.wait_for_workers(n_workers, timeout=600)
    return procs, client


def stop_cluster(procs, client):
    import subprocess

    try:
        client.shutdown()
    finally:
        for p in procs:  # only the processes started above
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.terminate()
                p.wait(timeout=30)


def crembo_estimator(teacher, **kw):
    import crembo

    return crembo.CREMBOClassifier(
        teacher=teacher, belief_dtype="float32", random_state=0, n_jobs=1, selection="paper", **kw
    )


def main_run(client, teacher, n, rows_per_block):
    from crembo.distributed import fit_distributed, predict

    X, y = dask_data(n, rows_per_block)
    X_test, y_test = dask_data(N_TEST, 50_000, first_block=10**5)
    rss0 = vm_rss_mb()
    reset_hwm()
    tracemalloc.start()
    t0 = time.perf_counter()
    est = fit_distributed(crembo_estimator(teacher), X, y, client)
    wall = time.perf_counter() - t0
    py_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    client_peak = vm_hwm_mb()
    pred = predict(est, X_test)
    acc = float((pred == y_test).mean().compute())
    workers = client.run(vm_hwm_mb)
    scheduler = client.run_on_scheduler(vm_hwm_mb)
    data_mb = n * FEATURES * 4 / 2**20
    return {
        "n": n,
        "features": FEATURES,
        "classes": CLASSES,
        "partitions": est.distributed_info_["partitions"],
        "data_mb_float32": data_mb,
        "wall_s": wall,
        "timings_s": est.timings_,
        "info": est.distributed_info_,
        "memo_calls": len(est.memo_.trace),
        "scan_fits": int(est.scan_.indices.size),
        "candidates": int(est.memo_.thresholds.size),
        "threshold": est.threshold_,
        "memo_threshold": est.memo_threshold_,
        "validation_accuracy": est.validation_score_,
        "teacher_validation_accuracy": est.teacher_validation_score_,
        "test_accuracy": acc,
        "client_rss_before_mb": rss0,
        "client_peak_rss_mb": client_peak,
        "client_peak_growth_mb": client_peak - rss0,
        "client_tracemalloc_peak_mb": py_peak,
        "client_growth_fraction_of_data": (client_peak - rss0) / data_mb,
        "worker_peak_rss_mb": {str(k): v for k, v in workers.items()},
        "scheduler_peak_rss_mb": scheduler,
    }


def compare(client, teacher, n, n_thresholds=3):
    """Per-fit seconds and test accuracy: local native, distributed native, xgboost.dask."""
    import dask.array as da
    import xgboost as xgb
    import xgboost.dask

    import crembo
    from crembo.distributed import belief_from_dask, fit_distributed
    from crembo.teachers import make_teacher

    X, y = dask_data(n, max(n // 8, 1))
    X_test, y_test = client.compute([dask_data(N_TEST, 50_000, first_block=10**5)[i] for i in (0, 1)])
    X_test, y_test = X_test.result(), y_test.result()
    belief_d = belief_from_dask(teacher, X).astype(np.float32)
    thr_all = np.unique(client.compute(da.unique(belief_d)).result())
    # thresholds where the scan's students differ: the middle of the candidates
    picks = thr_all[np.linspace(len(thr_all) // 4, 3 * len(thr_all) // 4, n_thresholds).astype(int)]
    rows = {"local native": [], "distributed native": [], "xgboost.dask": []}
    # (a) local: the rows gathered on this process (what the distributed path avoids)
    X_loc = client.compute(X).result()
    belief = make_teacher(teacher).belief(X_loc, teacher.classes_).astype(np.float32)
    student = crembo.AllowedLabelTreeClassifier(max_depth=4, criterion="gini", class_weight="balanced", n_jobs=2)
    t0 = time.perf_counter()
    prepared = student.prepare_allowed(X_loc)
    bin_s = time.perf_counter() - t0
    for d in picks:
        t0 = time.perf_counter()
        m = crembo.AllowedLabelTreeClassifier(**student.get_params()).fit_prepared(prepared, belief >= d)
        rows["local native"].append((float(d), time.perf_counter() - t0, float(np.mean(m.predict(X_test) == y_test))))
    del X_loc, prepared, belief
    # (b) distributed native: one candidate, so one MEMO call = one student fit
    setup = []
    for d in picks:
        est = fit_distributed(crembo_estimator(teacher, thresholds=np.array([d])), X, y, client)
        setup.append(est.timings_["belief"] + est.timings_["prepare"])
        rows["distributed native"].append(
            (float(d), est.memo_.trace[0].seconds, float(np.mean(est.predict(X_test) == y_test)))
        )
    # (c) xgboost.dask: one multi-output tree on the allowed matrix
    params = {
        "tree_method": "hist",
        "max_depth": 4,
        "multi_strategy": "multi_output_tree",
        "objective": "binary:logistic",
        "learning_rate": 1.0,
        "nthread": 1,
        "max_bin": 255,
    }
    for d in picks:
        t0 = time.perf_counter()
        allowed = (belief_d >= d).astype(np.float32)
        dtrain = xgb.dask.DaskQuantileDMatrix(client, X, allowed, max_bin=255)
        out = xgb.dask.train(client, params, dtrain, num_boost_round=1)
        sec = time.perf_counter() - t0
        margin = out["booster"].inplace_predict(X_test)
        rows["xgboost.dask"].append((float(d), sec, float(np.mean(np.argmax(margin, axis=1) == y_test))))
    return {
        "n": n,
        "thresholds": picks.tolist(),
        "local_binning_s": bin_s,
        "distributed_setup_s (belief+sketch+binning, per call)": setup,
        "per_fit": rows,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--skip-compare", action="store_true")
    ap.add_argument("--skip-main", action="store_true")
    ap.add_argument("--rows", type=int, default=None, help="rows of the main run (a smoke test)")
    args = ap.parse_args()
    n = args.rows or (1_000_000 if args.quick else 20_000_000)
    n_cmp = 200_000 if args.quick else 1_000_000

    # The scheduler and the workers are processes of their own (as on a real cluster): the client's
    # memory is then the client's alone (a LocalCluster would run the scheduler inside it).
    procs, client = start_cluster(args.workers)
    try:
        teacher = client.submit(fit_teacher).result()
        out = {"machine": machine_info(), "workers": args.workers, "command": " ".join(sys.argv)}
        name = ("distributed_quick" if args.quick else "distributed") + ("_compare" if args.skip_main else "")
        if args.rows:
            name = f"distributed_{args.rows}"
        if not args.skip_main:
            out["main"] = main_run(client, teacher, n, 1_250_000 if n >= 10_000_000 else 125_000)
            print(json.dumps(out["main"], indent=1, default=str), flush=True)
            write_json(RESULTS_DIR / f"{name}.json", out)
            client.restart()  # fresh worker peaks for the comparison
        if not args.skip_compare:
            out["compare"] = compare(client, teacher, n_cmp)
    finally:
        stop_cluster(procs, client)
    if "main" in out:
        _print_main(out["main"])
    if "compare" in out:
        rows = [
            [name, f"{d:.3f}", f"{s:.2f}", f"{a:.4f}"] for name, r in out["compare"]["per_fit"].items() for d, s, a in r
        ]
        print(markdown_table(["oracle", "threshold", "s per fit", "test acc"], rows))
    write_json(RESULTS_DIR / f"{name}.json", out)


def _print_main(m):
    print(
        markdown_table(
            [
                "n",
                "partitions",
                "wall s",
                "belief s",
                "prepare s",
                "memo s",
                "scan s",
                "fits",
                "test acc",
                "client growth MB",
                "data MB",
                "max worker peak MB",
            ],
            [
                [
                    m["n"],
                    m["partitions"],
                    f"{m['wall_s']:.1f}",
                    f"{m['timings_s']['belief']:.1f}",
                    f"{m['timings_s']['prepare']:.1f}",
                    f"{m['timings_s']['memo']:.1f}",
                    f"{m['timings_s']['scan']:.1f}",
                    m["info"]["student_fits"],
                    f"{m['test_accuracy']:.4f}",
                    f"{m['client_peak_growth_mb']:.0f}",
                    f"{m['data_mb_float32']:.0f}",
                    f"{max(m['worker_peak_rss_mb'].values()):.0f}",
                ]
            ],
        )
    )


if __name__ == "__main__":
    main()
