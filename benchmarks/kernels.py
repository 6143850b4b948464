"""Kernel benchmark: every kernel on every available backend, against the memory-bandwidth bound.

One command (defaults: n = 1,000,000 samples, T = 100 members, k = 10 classes):

    python benchmarks/kernels.py [--n 1000000 --members 100 --classes 10 --repeat 3
                                  --out benchmarks/results/kernels.json] [--quick] [--cold-numba]

What is timed
- Each backend kernel called directly (``crembo.get_backend(name).<kernel>``: inputs already
  validated, as MEMO/CREMBO call them), best wall time of ``--repeat`` runs (at least 7 for calls
  under 0.3 s) after a first call, in ``--rounds`` rounds over all native kernels (default 2: on a
  shared 2-core machine one round is easily disturbed by other processes).
  The first call is reported separately: for Numba it includes the JIT compile, or only the load
  from Numba's on-disk cache when that is warm (``--cold-numba`` empties it for the run).
- The paper's reference vote counting: per-member predictions stacked into (T, n), then
  ``np.apply_along_axis(np.bincount, 0, ...)`` (one Python-level bincount per sample), timed on the
  first ``--baseline-rows`` samples and scaled linearly to n (it is O(n); marked "scaled").
- The memory-bandwidth bound, in the same run: the fastest single read of the int64 votes array
  (NumPy ``sum`` on one thread; a Numba ``prange`` sum and NumPy sums of halves in 2 threads in
  parallel). Each kernel's minimum traffic (inputs read once + outputs written once, ``min_bytes``)
  divided by that read bandwidth is its bound; ``x_bound`` = best time / bound time. This is the
  strict bound of the issue (a write counted like a read).
- ``x_bound_rw``: the same bytes, but outputs priced at the measured write bandwidth of a *fresh*
  array (``np.empty`` + fill, in parallel), which is what an allocating kernel pays: page faults
  and zeroing of new pages, and a read-for-ownership of every written line. Both are reported.
- Gather kernels (``pointwise_depth``, ``hypothesis_depth``, ``count_consistent``,
  ``quantile_depth``) read one element of each belief row. ``min_bytes`` counts that element
  only (optimistic: the hardware moves whole 64-byte lines). ``x_bound_line`` uses the
  cache-line traffic instead: min(row bytes, 64) per row (rows are contiguous, so rows shorter
  than a line mean the whole matrix). Both are reported side by side.
- Compute-bound kernels get a measured floor instead of a memory bound, in the same run:
  ``softmax`` is floored by ``np.exp`` over the same n*k values (NumPy's SIMD exp, in L2-sized
  chunks, one thread) divided by the thread count, plus the memory bound; ``unique_values`` on a
  softmax belief (n*k distinct values: the hash sets overflow and it sorts) is compared with
  ``np.sort`` of the same values on one thread. ``x_floor`` = best time / floor time.
Every native result is checked against the reference backend (softmax within 4 ulp).
"""

import argparse
import os
import sys
import time
from pathlib import Path

if "--cold-numba" in sys.argv:  # before anything imports numba: an empty on-disk cache
    import tempfile

    os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="crembo-numba-cold-")

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS_DIR, best_of, machine_info, markdown_table, time_once, write_json
from _kernels_bounds import measure_bandwidth, measure_floors, measure_write_bandwidth

import crembo
from crembo.backends import reference as ref

VOTE_DTYPES = ("uint8", "int16", "int32", "int64")


# ---------------------------------------------------------------------------------------------
# data


def make_data(n, n_members, n_classes, seed=0):
    """Forest-like votes (60% of members vote the true class), and what the kernels consume."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, size=n)
    votes = np.empty((n_members, n), dtype=np.uint8 if n_classes <= 256 else np.int64)
    for t in range(n_members):  # row by row: no (T, n) float temporary
        noise = rng.integers(0, n_classes, size=n)
        votes[t] = np.where(rng.random(n) < 0.6, y_true, noise)
    belief, _ = ref.vote_belief(votes, n_classes)
    logits = rng.standard_normal((n, n_classes)) * 3.0
    proba = ref.softmax(logits)
    labels = np.where(rng.random(n) < 0.8, belief.argmax(axis=1), rng.integers(0, n_classes, size=n)).astype(np.int64)
    return {"votes_uint8": votes, "belief": belief, "logits": logits, "proba": proba, "labels": labels}


def votes_as(data, dtype):
    key = f"votes_{dtype}"
    if key not in data:
        data[key] = data["votes_uint8"].astype(dtype)
    return data[key]


# ---------------------------------------------------------------------------------------------
# kernel cases: (label, kernel, args, min bytes touched)


def kernel_cases(data, n_classes, eps=0.05):
    """[(label, kernel, make_args, bytes)] where bytes = {"in", "out"[, "line_in"][, "floor"]}.

    "in"/"out": bytes read/written at least once; "line_in": the input bytes in whole cache lines
    for gathers; "floor": the name of a compute floor measured in the same run.
    """
    belief, labels, proba, logits = data["belief"], data["labels"], data["proba"], data["logits"]
    n, k = belief.shape
    f8 = 8
    cases = []
    for dtype in VOTE_DTYPES:
        if np.iinfo(dtype).max < n_classes - 1:
            continue
        votes = votes_as(data, dtype)
        cases.append(
            (
                f"vote_counts[{dtype}]",
                "vote_counts",
                lambda v=votes: (v, n_classes),
                {"in": votes.nbytes, "out": n * k * 4},
            )
        )
        if dtype in ("uint8", "int64"):  # smallest, and what sklearn's float predictions become
            cases.append(
                (
                    f"vote_belief[{dtype}]",
                    "vote_belief",
                    lambda v=votes: (v, n_classes),
                    {"in": votes.nbytes, "out": n * k * f8},
                )
            )
    nk = n * k * f8
    line = n * min(k * f8, 64)  # one gathered element per row, in whole cache lines
    softmax_belief = proba
    label_matrix = votes_as(data, "int32")  # rank the members themselves: (T, n) predictions
    lab = labels.nbytes
    cases += [
        ("softmax", "softmax", lambda: (logits,), {"in": nk, "out": nk, "floor": "exp"}),
        ("belief_status", "belief_status", lambda: (proba, 1e-5), {"in": nk, "out": n}),
        ("normalize_belief", "normalize_belief", lambda: (proba, 1e-5), {"in": nk, "out": nk + n}),
        ("unique_values[vote belief]", "unique_values", lambda: (belief,), {"in": nk, "out": 0}),
        (
            "unique_values[softmax belief]",
            "unique_values",
            lambda: (softmax_belief,),
            {"in": nk, "out": nk, "floor": "sort"},
        ),
        ("allowed_labels", "allowed_labels", lambda: (belief, 0.3), {"in": nk, "out": n * k}),
        (
            "pointwise_depth",
            "pointwise_depth",
            lambda: (belief, labels),
            {"in": lab + n * f8, "out": n * f8, "line_in": lab + line},
        ),
        (
            "hypothesis_depth",
            "hypothesis_depth",
            lambda: (belief, labels),
            {"in": lab + n * f8, "out": 0, "line_in": lab + line},
        ),
        (
            "count_consistent",
            "count_consistent",
            lambda: (belief, labels, 0.3),
            {"in": lab + n * f8, "out": 0, "line_in": lab + line},
        ),
        (
            f"quantile_depth[eps={eps}]",
            "quantile_depth",
            lambda: (belief, labels, int(eps * n)),
            {"in": lab + n * f8, "out": 0, "line_in": lab + line},
        ),
        (
            f"hypothesis_depths[m={label_matrix.shape[0]}]",
            "hypothesis_depths",
            lambda: (belief, label_matrix),
            {"in": label_matrix.nbytes + nk, "out": 0},  # belief blocks stay cached across hypotheses
        ),
    ]
    return cases


def same_as_reference(kernel, actual, expected):
    """True when a native result equals the reference one (softmax within 4 ulp)."""
    if isinstance(expected, tuple):
        if kernel == "normalize_belief":
            ok = expected[1] == 0
            return bool(np.array_equal(actual[1], expected[1]) and np.array_equal(actual[0][ok], expected[0][ok]))
        return all(same_as_reference(kernel, a, e) for a, e in zip(actual, expected, strict=True))
    if isinstance(expected, np.ndarray):
        if kernel == "softmax":
            try:
                np.testing.assert_array_max_ulp(actual, expected, maxulp=4)
                return True
            except AssertionError:
                return False
        return bool(actual.shape == expected.shape and np.array_equal(actual, expected, equal_nan=True))
    return bool(actual == expected or (np.isnan(actual) and np.isnan(expected)))


# ---------------------------------------------------------------------------------------------
# the paper's baseline


def paper_vote_belief(member_predictions, n_classes):
    """The paper's code path: stack the members' predictions, bincount per sample in Python."""
    stacked = np.stack(member_predictions)  # (T, n)
    counts = np.apply_along_axis(np.bincount, 0, stacked, minlength=n_classes)  # (k, n)
    return counts.T / stacked.shape[0]


def time_baseline(data, n_classes, rows, repeat):
    votes = data["votes_uint8"][:, :rows].astype(np.int64)  # sklearn's predict gives float/int64
    members = [votes[t].copy() for t in range(votes.shape[0])]
    wall, cpu, walls, out = best_of(lambda: paper_vote_belief(members, n_classes), repeat=repeat)
    expected, _ = ref.vote_belief(np.ascontiguousarray(votes), n_classes)
    return wall, cpu, walls, bool(np.array_equal(out, expected))


# ---------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="samples (default 1,000,000)")
    parser.add_argument("--members", type=int, default=100, help="ensemble members T (default 100)")
    parser.add_argument("--classes", type=int, default=10, help="classes k (default 10)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs per kernel (at least 7 when a call takes < 0.3 s); the best is kept",
    )
    parser.add_argument("--rounds", type=int, default=2, help="timing rounds of the native kernels; the best is kept")
    parser.add_argument(
        "--threads", default=None, help="comma-separated n_threads for native kernels (default: 1 and all CPUs)"
    )
    parser.add_argument("--backends", default=None, help="comma-separated subset of the available backends")
    parser.add_argument(
        "--baseline-rows", type=int, default=20_000, help="rows the paper baseline runs on (scaled to n)"
    )
    parser.add_argument("--quick", action="store_true", help="n = 100,000 (well under a minute)")
    parser.add_argument(
        "--cold-numba", action="store_true", help="empty Numba cache: 'first call' then includes the full JIT compile"
    )
    parser.add_argument("--out", default=None, help="JSON output (default benchmarks/results/kernels[_quick].json)")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = min(args.n, 100_000)
    out_path = Path(args.out) if args.out else RESULTS_DIR / ("kernels_quick.json" if args.quick else "kernels.json")
    n, n_members, n_classes = args.n, args.members, args.classes
    n_threads = crembo.resolve_n_threads(None)
    if args.threads:
        thread_counts = sorted({crembo.resolve_n_threads(int(t)) for t in args.threads.split(",")})
    else:
        thread_counts = sorted({1, n_threads})
    n_threads = max(thread_counts)
    names = crembo.available_backends() if args.backends is None else args.backends.split(",")
    backends, load_s = {}, {}
    for name in names:
        try:  # import time counts too: an eagerly compiled backend pays its JIT here
            load_s[name], backends[name] = time_once(lambda: crembo.get_backend(name))
        except ImportError as exc:
            print(f"skipping backend {name!r}: {exc}", file=sys.stderr)

    print(
        f"# crembo kernels: n={n:,}, T={n_members}, k={n_classes}, n_threads={thread_counts}, backends={list(backends)}"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > 0.5 * (os.cpu_count() or 1):
        print(
            f"WARNING: load average {load:.1f} on {os.cpu_count()} CPUs: other processes compete, "
            "multi-threaded timings will be inflated (compare wall with CPU time)",
            file=sys.stderr,
        )
    data = make_data(n, n_members, n_classes)

    # memory bandwidth: one read of the largest votes array
    votes64 = votes_as(data, "int64")
    bw_reader, bw_rates = measure_bandwidth(votes64, n_threads, args.repeat)
    single = max(v for k_, v in bw_rates.items() if "1 thread" in k_)
    print("backend import (s): " + ", ".join(f"{k_} {v:.2f}" for k_, v in load_s.items()))
    print(
        f"\nbandwidth (before the kernels): {bw_rates[bw_reader]:.2f} GB/s ({bw_reader}); "
        f"single-thread read {single:.2f} GB/s"
    )

    results = []
    for label, kernel, make_args, nbytes in kernel_cases(data, n_classes):
        min_bytes = nbytes["in"] + nbytes["out"]
        fn_args = make_args()
        expected = None
        runs = [
            (name, module, t)
            for name, module in backends.items()
            for t in ([1] if name == "reference" else thread_counts)
        ]
        for name, module, threads in runs:  # the reference ignores n_threads: run it once
            fn = getattr(module, kernel)
            c0 = time.process_time()
            first, out = time_once(lambda: fn(*fn_args, threads))
            first_cpu = time.process_time() - c0
            if name == "reference" and first > 1.0:
                # no JIT: the first call is a fair sample, and the slow NumPy paths need no more
                wall, cpu, walls = first, first_cpu, [first]
            else:
                # fast kernels get more runs: on a shared machine the best of 3 is often disturbed
                reps = args.repeat if first > 0.3 else max(args.repeat, 7)
                wall, cpu, walls, out = best_of(lambda: fn(*fn_args, threads), repeat=reps)
            if name == "reference":
                expected = out
            row = {
                "case": label,
                "kernel": kernel,
                "backend": name,
                "n_threads": threads,
                "best_s": wall,
                "cpu_s_of_best": cpu,
                "times_s": walls,
                "first_call_s": first,
                "min_bytes": int(min_bytes),
                "in_bytes": int(nbytes["in"]),
                "out_bytes": int(nbytes["out"]),
                **({"line_bytes": int(nbytes["line_in"] + nbytes["out"])} if "line_in" in nbytes else {}),
                **({"floor": nbytes["floor"]} if "floor" in nbytes else {}),
                "gb_per_s": min_bytes / wall / 1e9,
                "_out": out,
            }
            results.append(row)
        # correctness and speed-up against the reference (it runs last in the available order)
        ref_rows = [r for r in results if r["case"] == label and r["backend"] == "reference"]
        for r in results:
            if r["case"] != label:
                continue
            if expected is not None:
                r["matches_reference"] = same_as_reference(kernel, r["_out"], expected)
            if ref_rows:
                r["speedup_vs_reference"] = ref_rows[0]["best_s"] / r["best_s"]
            del r["_out"]
        print(
            f"  {label}: "
            + ", ".join(
                f"{r['backend']}/{r['n_threads']} {r['best_s'] * 1e3:.1f} ms" for r in results if r["case"] == label
            ),
            flush=True,
        )

    # A second round of the native kernels (on a shared machine one round is easily disturbed;
    # the reference is slow and steady enough for one): keep the faster best of the two rounds.
    for _ in range(1, args.rounds):
        cases = {c[0]: c for c in kernel_cases(data, n_classes)}
        for r in results:
            if r["backend"] == "reference":
                continue
            _, kernel, make_args, _ = cases[r["case"]]
            fn, fn_args = getattr(backends[r["backend"]], kernel), make_args()
            wall, cpu, walls, _ = best_of(lambda: fn(*fn_args, r["n_threads"]), repeat=len(r["times_s"]))
            r["times_s"] = r["times_s"] + walls
            if wall < r["best_s"]:
                r["best_s"], r["cpu_s_of_best"] = wall, cpu
                r["gb_per_s"] = r["min_bytes"] / wall / 1e9
        for r in results:
            ref_rows = [q for q in results if q["case"] == r["case"] and q["backend"] == "reference"]
            if ref_rows:
                r["speedup_vs_reference"] = ref_rows[0]["best_s"] / r["best_s"]

    # the bandwidth again, after the kernels: on a shared machine keep the faster of the two
    _, bw_rates_after = measure_bandwidth(votes64, n_threads, args.repeat)
    bw_rates = {k_: max(v, bw_rates_after[k_]) for k_, v in bw_rates.items()}
    bw_reader = max(bw_rates, key=bw_rates.get)
    bandwidth = bw_rates[bw_reader] * 1e9
    wr_writer, wr_rates = measure_write_bandwidth(n * n_classes * 8, n_threads, args.repeat)
    write_bw = wr_rates[wr_writer] * 1e9
    floors, floor_notes, floor_raw = measure_floors(data, n_threads, args.repeat)
    print(
        f"write bandwidth (fresh array): {wr_rates[wr_writer]:.2f} GB/s ({wr_writer}); "
        + "; ".join(floor_notes.values())
    )
    for r in results:
        r["bound_s"] = r["min_bytes"] / bandwidth
        r["x_bound"] = r["best_s"] / r["bound_s"]
        r["bound_rw_s"] = r["in_bytes"] / bandwidth + r["out_bytes"] / write_bw
        r["x_bound_rw"] = r["best_s"] / r["bound_rw_s"]
        if "line_bytes" in r:
            r["bound_line_s"] = r["line_bytes"] / bandwidth
            r["x_bound_line"] = r["best_s"] / r["bound_line_s"]
        if "floor" in r:
            # softmax: the exp floor on the threads this row used, plus its memory bound;
            # unique: one thread's np.sort of the same values
            threads = r["n_threads"] if r["backend"] != "reference" else 1
            fl = floors[r["floor"]]
            if r["floor"] == "exp":
                fl = floors["exp"] * n_threads / threads + r["bound_s"]
            r["floor_s"] = fl
            r["x_floor"] = r["best_s"] / fl

    # the paper's reference code path, on a subsample, scaled linearly to n
    rows = min(args.baseline_rows, n)
    b_wall, _b_cpu, b_walls, b_ok = time_baseline(data, n_classes, rows, max(1, min(args.repeat, 3)))
    scale = n / rows
    baseline = {
        "description": "np.stack(member predictions) then np.apply_along_axis(np.bincount, 0, ..., minlength=k) / T",
        "rows_timed": rows,
        "best_s_on_rows": b_wall,
        "scaled_s": b_wall * scale,
        "scale_factor": scale,
        "times_s_on_rows": b_walls,
        "matches_reference": b_ok,
    }

    # Markdown table
    headers = [
        "kernel",
        "backend",
        "threads",
        "best (ms)",
        "CPU (ms)",
        "first call (s)",
        "GB/s",
        "x bound",
        "x bound rw",
        "x line / floor",
        "vs reference",
        "vs paper",
        "same",
    ]
    table = []
    for r in results:
        vs_paper = ""
        if r["kernel"] == "vote_belief":
            vs_paper = f"{baseline['scaled_s'] / r['best_s']:,.0f}x"
        table.append(
            [
                r["case"],
                r["backend"],
                r["n_threads"],
                f"{r['best_s'] * 1e3:,.2f}",
                f"{r['cpu_s_of_best'] * 1e3:,.2f}",
                f"{r['first_call_s']:.3f}",
                f"{r['gb_per_s']:.2f}",
                f"{r['x_bound']:.1f}x",
                f"{r['x_bound_rw']:.1f}x",
                f"{r['x_bound_line']:.1f}x line"
                if "x_bound_line" in r
                else (f"{r['x_floor']:.2f}x {r['floor']}" if "x_floor" in r else ""),
                f"{r.get('speedup_vs_reference', float('nan')):.1f}x",
                vs_paper,
                "yes" if r.get("matches_reference", True) else "NO",
            ]
        )
    table.append(
        [
            f"paper vote belief: stack + apply_along_axis(bincount), scaled from {rows:,} rows",
            "numpy",
            1,
            f"{baseline['scaled_s'] * 1e3:,.0f}",
            "",
            "",
            f"{n_members * n * 8 / baseline['scaled_s'] / 1e9:.3f}",
            "",
            "",
            "",
            "",
            "1x",
            "yes" if b_ok else "NO",
        ]
    )
    print()
    print(markdown_table(headers, table))
    print(
        f"\nPaper baseline timed on {rows:,} rows and scaled x{scale:.0f} to n = {n:,} (scaled). "
        f"Bound: min bytes (inputs read once + outputs written once) / {bw_rates[bw_reader]:.2f} GB/s "
        f"({bw_reader}, int64 votes, {votes64.nbytes / 1e6:,.0f} MB). 'x bound rw' prices outputs at the "
        f"fresh-array write bandwidth {wr_rates[wr_writer]:.2f} GB/s ({wr_writer}). Gathers: 'x line' counts "
        f"min(row bytes, 64) per row instead of one element. Floors: {floor_notes['exp']}; {floor_notes['sort']}. "
        f"Kernels are called directly (no validation). 'first call' includes Numba's compile / cache load."
    )

    payload = {
        "benchmark": "kernels",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "config": {
            "n": n,
            "members": n_members,
            "classes": n_classes,
            "repeat": args.repeat,
            "rounds": args.rounds,
            "n_threads": thread_counts,
            "backends": list(backends),
            "backend_import_s": load_s,
            "quick": args.quick,
            "cold_numba": args.cold_numba,
            "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR"),
        },
        "machine": machine_info(),
        "bandwidth": {
            "bound_reader": bw_reader,
            "note": "best of a measurement before and one after the kernels",
            "bound_gb_per_s": bw_rates[bw_reader],
            "readers_gb_per_s": bw_rates,
            "array": f"votes int64 {votes64.shape}, {votes64.nbytes} bytes",
            "write_bound_writer": wr_writer,
            "write_gb_per_s": wr_rates[wr_writer],
            "writers_gb_per_s": wr_rates,
        },
        "bounds_note": (
            "x_bound: (inputs read once + outputs written once) at the read bandwidth (the issue's bound). "
            "x_bound_rw: outputs at the fresh-array write bandwidth instead. x_bound_line (gather kernels): "
            "the hardware moves whole 64-byte lines, so min(row bytes, 64) per row instead of one element; "
            "the optimistic x_bound is kept beside it. x_floor: compute floors measured in this run."
        ),
        "floors": {"notes": floor_notes, **floor_raw},
        "paper_baseline_vote_belief": baseline,
        "results": results,
    }
    print(f"\nwrote {write_json(out_path, payload)}")
    return payload


if __name__ == "__main__":
    main()
