"""Output folders: nothing crembo did not write is deleted, two runs never share a folder, an
unusable --out is refused before any work, permissions follow the umask, and a failed,
interrupted or terminated run leaves nothing behind."""

import json
import os
import signal
import stat
import time

import numpy as np
import pytest

from crembo import cli
from crembo.cli._output import MANIFEST, _lock

SMALL = ["--fit", "random-forest", "--n-estimators", "4", "--n-jobs", "1"]


@pytest.fixture
def npy_args(cli_inputs):
    d = cli_inputs["dir"]
    return ["compress", "--data", str(d / "X.npy"), "--labels", str(d / "y.npy"), *SMALL]


def _entries(path):
    return sorted(p.name for p in path.iterdir())


def test_failure_while_writing_leaves_nothing(npy_args, tmp_path, monkeypatch, capsys):
    """Make the last stage fail: no output, no temporary folder, no lock, no parents made for it."""

    def broken_plot(est, path):
        path.write_bytes(b"half a png")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli._compress, "_write_scan", broken_plot)
    out = tmp_path / "deep" / "er" / "out"
    assert cli.main([*npy_args, "--out", str(out)]) == 1
    assert "disk on fire" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_an_earlier_result(npy_args, tmp_path):
    out = tmp_path / "out"
    assert cli.main([*npy_args, "--out", str(out)]) == 0
    first = json.loads((out / MANIFEST).read_text())["files"]
    assert first == ["report.json", "scan.png", "student.skops", "student.txt"]
    (out / "student.txt").write_text("edited by hand")  # a file crembo wrote, changed: still crembo's
    assert cli.main([*npy_args, "--seed", "1", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "report.json").read_text())["options"]["seed"] == 1
    assert (out / "student.txt").read_text().startswith("|---")
    assert _entries(tmp_path) == ["out"]


def test_overwrite_never_deletes_what_crembo_did_not_write(npy_args, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main([*npy_args, "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    assert cli.main([*npy_args, "--out", str(out), "--overwrite"]) == 2
    assert "notes.txt" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine" and (out / "report.json").exists()


def test_overwrite_of_a_project_folder_is_refused(cli_inputs, tmp_path, monkeypatch, capsys):
    """``--out . --overwrite`` in the folder of the input data deleted the data."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "table.csv").write_bytes((cli_inputs["dir"] / "table.csv").read_bytes())
    (project / "analysis.py").write_text("print('hello')\n")
    monkeypatch.chdir(project)
    code = cli.main(["compress", "--data", "table.csv", "--target", "kind", *SMALL, "--out", ".", "--overwrite"])
    assert code == 2
    assert "did not write" in capsys.readouterr().err
    assert _entries(project) == ["analysis.py", "table.csv"]
    assert _entries(tmp_path) == ["project"]


def test_a_second_run_on_a_locked_output_fails_at_once(npy_args, tmp_path, monkeypatch, capsys):
    out = (tmp_path / "out").absolute()

    def must_not_run(*args, **kwargs):
        raise AssertionError("the data was loaded although --out is in use")

    monkeypatch.setattr(cli._compress, "load_data", must_not_run)
    with _lock(out):
        assert cli.main([*npy_args, "--out", str(out)]) == 2
        assert "another crembo run is writing" in capsys.readouterr().err
        assert _entries(tmp_path) == [".out.lock"]
    assert _entries(tmp_path) == []  # the lock is removed with the run that held it


def test_two_concurrent_runs_on_one_output_one_fails(cli_inputs, tmp_path, start_crembo):
    """Not both exit 0, the second silently replacing the first's result."""
    d = cli_inputs["dir"]
    args = ["compress", "--data", d / "X.npy", "--labels", d / "y.npy", *SMALL, "--out", tmp_path / "out"]
    procs = [start_crembo(*args, "--seed", seed, cwd=tmp_path) for seed in (1, 2)]
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    winner = next(i for i, (code, _, _) in enumerate(results) if code == 0)
    loser_err = next(err for code, _, err in results if code == 2)
    assert "another crembo run is writing" in loser_err or "exists and is not empty" in loser_err
    assert json.loads((tmp_path / "out" / "report.json").read_text())["options"]["seed"] == (1, 2)[winner]
    assert _entries(tmp_path) == ["out"]


def test_unwritable_output_is_refused_before_any_work(npy_args, tmp_path, monkeypatch, capsys):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the data was loaded although --out cannot be written")

    monkeypatch.setattr(cli._compress, "load_data", must_not_run)
    (tmp_path / "a-file").write_text("not a folder")
    assert cli.main([*npy_args, "--out", str(tmp_path / "a-file" / "out")]) == 2
    err = capsys.readouterr().err
    assert "a-file: Not a directory" in err and "Traceback" not in err
    assert _entries(tmp_path) == ["a-file"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_parent_is_refused_before_any_work(npy_args, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli._compress, "load_data", lambda *a, **k: pytest.fail("data loaded"))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert cli.main([*npy_args, "--out", str(locked / "out")]) == 2
        assert "cannot write in" in capsys.readouterr().err
    finally:
        locked.chmod(0o755)


def test_output_permissions_follow_the_umask(npy_args, tmp_path):
    out = tmp_path / "made" / "out"
    old = os.umask(0o027)
    try:
        assert cli.main([*npy_args, "--out", str(out)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "made").stat().st_mode) == 0o750
    assert stat.S_IMODE(out.stat().st_mode) == 0o750  # not tempfile.mkdtemp's 0700
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o640}


def test_sigterm_mid_run_leaves_no_temporary_folder(tmp_path, start_crembo):
    """SIGTERM while the teacher is being fitted: exit 143, nothing left in the parent folder."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30_000, 10))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", (X[:, 0] + 0.5 * rng.normal(size=len(X)) > 0).astype(np.int64))
    runs = tmp_path / "runs"
    runs.mkdir()
    proc = start_crembo(
        "compress",
        "--data",
        "X.npy",
        "--labels",
        "y.npy",
        "--fit",
        "random-forest",
        "--n-estimators",
        "200",
        "--n-jobs",
        "1",
        "--out",
        runs / "out",
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".out.tmp-") for p in runs.iterdir()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never started writing"
            time.sleep(0.05)
        time.sleep(0.5)  # into the run
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "terminated" in err
    assert _entries(runs) == []
