"""``crembo batch``: run the compress jobs of a TOML file and write a summary table.

The whole batch is one output folder (see ``_output.output_folder``): job folders and the
summary are written into a temporary folder that replaces ``--out`` when the last job is done,
so an interrupted or failed batch leaves an earlier result as it was, and a repeated one never
mixes its summary with another run's job folders. A jobs file cannot grant itself ``--trust`` or
``--overwrite``, nor write outside the batch's folder.
"""

import csv
import io
import json
import re
import sys
import time
import tomllib
import traceback
from pathlib import Path, PurePath

from crembo.cli._args import job_parser
from crembo.cli._compress import _show_progress, run_compress
from crembo.cli._errors import CLIError, one_line
from crembo.cli._output import _jsonable, output_folder

_SUMMARY_COLUMNS = (
    "job",
    "status",
    "teacher_accuracy",
    "crembo_accuracy",
    "bm_accuracy",
    "vt_accuracy",
    "fidelity",
    "threshold",
    "memo_threshold",
    "tree_depth",
    "seconds",
    "out",
    "error",
)
_SUMMARY_FILES = ("summary.md", "summary.csv", "summary.json")
_PATH_KEYS = ("data", "labels", "teacher")  # relative to the jobs file
_COMMAND_LINE_ONLY = ("trust", "trusted", "overwrite")
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def _job_argv(job, base_dir):
    argv = []
    for key, value in job.items():
        if key in ("name", "out"):
            continue
        opt = key.replace("_", "-")
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


def _job_out(path, name, value):
    """A job's folder as a relative path inside the batch's folder; CLIError for one that leaves it."""
    rel = PurePath(str(value))
    if (
        rel.is_absolute()
        or rel.anchor
        or not rel.parts
        or str(value).startswith("~")
        or any(part.startswith(".") for part in rel.parts)
    ):
        raise CLIError(
            f"{path}: job {name!r} has out = {value!r}; a job writes inside the batch's output "
            "folder (crembo batch --out DIR): give a relative path without '..' or hidden parts"
        )
    if rel.parts[0] in _SUMMARY_FILES:
        raise CLIError(f"{path}: job {name!r} has out = {value!r}, which is the name of a summary file")
    return rel


def _check_keys(path, name, job):
    for key in job:
        if key.replace("-", "_") in _COMMAND_LINE_ONLY:
            raise CLIError(
                f"{path}: job {name!r} sets {key!r}; --trust, --trusted and --overwrite are given on the "
                "crembo batch command line only, never by a jobs file"
            )
        if not _KEY.fullmatch(key):
            raise CLIError(f"{path}: job {name!r} has an unusable key {key!r}")


def _read_jobs(path):
    """[(name, options, relative output folder)] of a jobs file; CLIError before any job runs."""
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
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise CLIError(f"{path}: job {i + 1} has an unusable name {name!r}")
        _check_keys(path, name, merged)
        out.append((name, merged, _job_out(path, name, merged.get("out", name))))
    names = [n for n, _, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CLIError(f"{path}: duplicate job name(s) {', '.join(dup)}")
    for a_name, _, a in out:
        for b_name, _, b in out:
            if a_name != b_name and a.parts == b.parts[: len(a.parts)]:
                raise CLIError(f"{path}: jobs {a_name!r} and {b_name!r} would write into the same folder ({a} and {b})")
    return out


def _fmt(v, digits=4):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}" if not (0 <= v <= 1) else f"{v:.4f}"
    return str(v)


def _write_summary(rows, folder):
    cols = _SUMMARY_COLUMNS
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        md.append("| " + " | ".join(_fmt(r.get(c)).replace("|", "\\|") for c in cols) + " |")
    (folder / "summary.md").write_text("\n".join(md) + "\n")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: "" if r.get(c) is None else r.get(c) for c in cols})
    (folder / "summary.csv").write_text(buf.getvalue())
    (folder / "summary.json").write_text(json.dumps(_jsonable(rows), indent=2) + "\n")


def _run_job(parser, job, rel, base, tmp, out, trust, trusted):
    """One job into ``tmp/rel``; its summary row (status ok, or why it failed) and exit code."""
    row = {"status": "ok", "out": None, "error": None}
    try:
        jargs = parser.parse_args([*_job_argv(job, base), "--out", str(tmp / rel)])
        jargs.trust, jargs.trusted, jargs.overwrite, jargs.verbose = trust, trusted, False, False  # one bar
        report = run_compress(jargs)
    except CLIError as exc:
        row.update(status="failed", error=one_line(exc))
        return row, 2
    except Exception as exc:  # one job's bug must not stop the others
        row.update(status="error", error=one_line(f"{type(exc).__name__}: {exc}"))
        traceback.print_exc()
        return row, 1
    a = report["test_accuracy"]
    row.update(
        teacher_accuracy=a["teacher"],
        crembo_accuracy=a["crembo"],
        bm_accuracy=a["bm"],
        vt_accuracy=a["vt"],
        fidelity=report["fidelity"]["crembo"],
        threshold=report["thresholds"]["crembo"],
        memo_threshold=report["thresholds"]["memo"],
        tree_depth=report["student"]["tree_depth"],
        out=str((out / rel).absolute()),
    )
    return row, 0


def run_batch(args):
    """Run every job of ``args.jobs``; returns (rows, exit code)."""
    jobs_path = Path(args.jobs)
    jobs = _read_jobs(jobs_path)
    base = jobs_path.parent.absolute()
    out = Path(args.out) if args.out else base / f"{jobs_path.stem}-results"
    parser = job_parser()
    rows, codes = [], []
    with output_folder(out, args.overwrite) as tmp:
        bar = None
        if _show_progress(args):
            from tqdm.auto import tqdm

            bar = tqdm(total=len(jobs), desc="batch", unit="job", file=sys.stderr)
        try:
            for name, job, rel in jobs:
                if bar is not None:
                    bar.set_postfix_str(name)
                t0 = time.perf_counter()
                row, code = _run_job(parser, job, rel, base, tmp, out, args.trust, args.trusted)
                rows.append({"job": name, **row, "seconds": time.perf_counter() - t0})
                codes.append(code)
                if code:
                    print(f"crembo batch: job {name!r} failed: {row['error']}", file=sys.stderr)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        _write_summary(rows, tmp)
    n_bad = sum(c != 0 for c in codes)
    print(f"{len(rows) - n_bad} of {len(rows)} job(s) succeeded; summary in {out}/summary.md")
    code = 1 if 1 in codes else (2 if 2 in codes else 0)
    return rows, code


def _cmd_batch(args):
    _, code = run_batch(args)
    return code
