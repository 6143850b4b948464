"""``crembo batch``: run the compress jobs of a TOML file and write a summary table."""

import csv
import io
import json
import sys
import time
import traceback
from pathlib import Path

from crembo.cli._args import _RaisingParser, build_parser
from crembo.cli._compress import _show_progress, run_compress
from crembo.cli._errors import CLIError, one_line
from crembo.cli._output import _jsonable, _write_text_atomic

_SUMMARY_COLUMNS = (
    "job", "status", "teacher_accuracy", "crembo_accuracy", "bm_accuracy", "vt_accuracy",
    "fidelity", "threshold", "memo_threshold", "tree_depth", "seconds", "out", "error",
)

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
        raise CLIError(f"{path} is not valid TOML: {one_line(exc)}") from None
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


def _write_summary(rows, out):
    out.mkdir(parents=True, exist_ok=True)
    cols = _SUMMARY_COLUMNS
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        md.append("| " + " | ".join(_fmt(r.get(c)).replace("|", "\\|") for c in cols) + " |")
    _write_text_atomic(out / "summary.md", "\n".join(md) + "\n")
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
                row.update(status="failed", error=one_line(exc))
                codes.append(2)
            except Exception as exc:  # one job's bug must not stop the others
                row.update(status="error", error=one_line(f"{type(exc).__name__}: {exc}"))
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
