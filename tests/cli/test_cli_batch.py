"""``crembo batch``: jobs, the summary, and what a jobs file may not do (grant itself --trust or
--overwrite, write outside the batch's folder); a repeated or interrupted batch never mixes
results of two runs."""

import json
import pickle
import shutil

import pytest

from crembo import cli
from crembo.cli._output import MANIFEST

SMALL = 'n_estimators = 4\nn_jobs = 1\nfit = "random-forest"\n'


@pytest.fixture
def folder(tmp_path, cli_inputs):
    for name in ("table.csv", "X.npy", "y.npy", "rf.joblib"):
        shutil.copy(cli_inputs["dir"] / name, tmp_path / name)
    return tmp_path


def _jobs(folder, text, name="jobs.toml"):
    (folder / name).write_text(text)
    return str(folder / name)


def _entries(path):
    return sorted(p.name for p in path.iterdir())


def test_batch_runs_all_jobs_and_reports_failures(folder, run_crembo):
    _jobs(
        folder,
        """
[defaults]
seed = 1
n_estimators = 6

[[job]]
name = "csv-forest"
data = "table.csv"
target = "kind"
fit = "random-forest"
depth = 2

[[job]]
name = "broken"
data = "table.csv"
target = "no_such_column"
fit = "random-forest"

[[job]]
name = "pickled-teacher"
data = "X.npy"
labels = "y.npy"
teacher = "rf.joblib"
out = "teachers/pickled"
""",
    )
    res = run_crembo("batch", "jobs.toml", "--out", "batch-out", "--trust", cwd=folder)
    assert res.returncode == 2, res.stderr  # a job failed on bad input; the others still ran
    assert "job 'broken' failed" in res.stderr and "2 of 3 job(s) succeeded" in res.stdout
    out = folder / "batch-out"
    assert _entries(out) == sorted([MANIFEST, "csv-forest", "summary.csv", "summary.json", "summary.md", "teachers"])
    rows = json.loads((out / "summary.json").read_text())
    assert [r["job"] for r in rows] == ["csv-forest", "broken", "pickled-teacher"]
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "no_such_column" in rows[1]["error"]
    assert [r["out"] for r in rows] == [str(out / "csv-forest"), None, str(out / "teachers" / "pickled")]
    for r in (rows[0], rows[2]):
        report = json.loads((out / r["out"] / "report.json").read_text())
        assert r["crembo_accuracy"] == report["test_accuracy"]["crembo"]
        assert r["threshold"] == report["thresholds"]["crembo"]
    assert rows[0]["tree_depth"] <= 2
    md = (out / "summary.md").read_text().splitlines()
    assert md[0].startswith("| job | status |") and len(md) == 2 + 3
    assert (out / "summary.csv").read_text().splitlines()[0].startswith("job,status,teacher_accuracy")
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []  # no temporary folder or lock


class _RunsCode:
    """Unpickling it creates a file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("key", ["trust = true", "overwrite = true", "Trust = true", "tru = true"])
def test_a_jobs_file_cannot_grant_trust(folder, key, capsys):
    marker = folder / "code-ran"
    (folder / "evil.pkl").write_bytes(pickle.dumps(_RunsCode(marker)))
    jobs = _jobs(folder, f'[[job]]\nname = "evil"\ndata = "X.npy"\nlabels = "y.npy"\nteacher = "evil.pkl"\n{key}\n')
    code = cli.main(["batch", jobs, "--out", str(folder / "results")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert not marker.exists()
    if key.startswith(("trust", "overwrite")):  # refused before any job runs
        assert "command line only" in err
        assert not (folder / "results").exists()
    else:  # not an option of a job at all (no abbreviations)
        assert "unrecognized arguments" in err


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("../escaped", "inside the batch's output folder"),
        ("{outside}", "inside the batch's output folder"),
        ("~/escaped", "inside the batch's output folder"),
        ("a/../../escaped", "inside the batch's output folder"),
        (".hidden", "inside the batch's output folder"),
        ("summary.md", "the name of a summary file"),
    ],
)
def test_job_outputs_stay_in_the_batch_folder(folder, out, message, monkeypatch, capsys):
    home = folder / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    outside = folder.parent / f"{folder.name}-outside"
    jobs = _jobs(
        folder,
        f'[[job]]\nname = "x"\ndata = "table.csv"\ntarget = "kind"\n{SMALL}out = "{out.format(outside=outside)}"\n',
    )
    before = _entries(folder.parent), _entries(folder)
    code = cli.main(["batch", jobs, "--out", str(folder / "results" / "deep"), "--overwrite"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert (_entries(folder.parent), _entries(folder)) == before  # nothing made, not even --out's parent
    assert _entries(home) == []


def test_jobs_writing_into_one_folder_are_refused(folder, capsys):
    jobs = _jobs(
        folder,
        f'[defaults]\ndata = "table.csv"\ntarget = "kind"\n{SMALL}\n'
        '[[job]]\nname = "a"\nout = "x"\n\n[[job]]\nname = "b"\nout = "x/y"\n',
    )
    assert cli.main(["batch", jobs, "--out", str(folder / "results")]) == 2
    assert "the same folder" in capsys.readouterr().err


JOBS_AB = f'[defaults]\ndata = "table.csv"\ntarget = "kind"\n{SMALL}\n[[job]]\nname = "a"\n\n[[job]]\nname = "b"\n'
JOBS_A = f'[defaults]\ndata = "table.csv"\ntarget = "kind"\n{SMALL}\n[[job]]\nname = "a"\n'


def test_a_repeated_batch_replaces_the_whole_result(folder, capsys):
    out = folder / "results"
    assert cli.main(["batch", _jobs(folder, JOBS_AB), "--out", str(out)]) == 0
    first = (out / "summary.json").read_text()
    # Again without --overwrite: refused before any job runs, the first result untouched.
    assert cli.main(["batch", _jobs(folder, JOBS_A), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "summary.json").read_text() == first
    # With --overwrite and fewer jobs: no job folder of the first run is left beside the new summary.
    assert cli.main(["batch", _jobs(folder, JOBS_A), "--out", str(out), "--overwrite"]) == 0
    assert _entries(out) == sorted([MANIFEST, "a", "summary.csv", "summary.json", "summary.md"])
    assert [r["job"] for r in json.loads((out / "summary.json").read_text())] == ["a"]


def test_an_interrupted_batch_leaves_the_earlier_result_as_it_was(folder, monkeypatch, capsys):
    out = folder / "results"
    assert cli.main(["batch", _jobs(folder, JOBS_AB), "--out", str(out)]) == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    real = cli._batch.run_compress
    calls = []

    def interrupted_on_the_second_job(args, log=None):
        calls.append(args.out)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(args, log)

    monkeypatch.setattr(cli._batch, "run_compress", interrupted_on_the_second_job)
    assert cli.main(["batch", str(folder / "jobs.toml"), "--out", str(out), "--overwrite"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert len(calls) == 2
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
