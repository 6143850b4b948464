"""The ``crembo`` command line, driven as a user would: ``python -m crembo ...`` in a subprocess.

Small data and small forests keep every run short; the bad-input runs start together (each
spends most of its time importing) so the file stays well under a minute.
"""

import json
import os
import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import crembo
from crembo import cli
from crembo.persistence import load_student

skops_io = pytest.importorskip("skops.io")

FEATURES = ["alpha", "beta", "gamma", "delta"]
LABELS = np.array(["ant", "bee", "cat"])


def _cmd(*args):
    return [sys.executable, "-m", "crembo", *map(str, args)]


def _env():
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # the CI machine is small; runs are tiny anyway
    return env


def run(*args, cwd):
    return subprocess.run(_cmd(*args), cwd=cwd, env=_env(), capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A directory with a CSV table, .npy features/labels and teacher model files."""
    d = tmp_path_factory.mktemp("cli")
    X, y = make_classification(n_samples=150, n_features=4, n_informative=3, n_redundant=0, n_classes=3,
                               n_clusters_per_class=1, random_state=7)
    with open(d / "table.csv", "w") as f:
        f.write(",".join(FEATURES + ["kind"]) + "\n")
        for row, label in zip(X, LABELS[y]):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", y)
    rf = RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0).fit(X, y)
    joblib.dump(rf, d / "rf.joblib")
    skops_io.dump(rf, d / "rf.skops")
    (d / "corrupt.skops").write_bytes(b"PK\x03\x04 this is not really a zip archive")
    (d / "nonnumeric.csv").write_text("a,b,kind\n1.0,red,x\n2.0,blue,y\n3.0,red,x\n")
    (d / "full").mkdir()
    (d / "full" / "keep.txt").write_text("precious")
    return {"dir": d, "X": X, "y": y}


@pytest.fixture(scope="module")
def compressed(work):
    """One successful CSV run shared by several tests."""
    d = work["dir"]
    res = run("compress", "--data", "table.csv", "--target", "kind", "--fit", "random-forest",
              "--n-estimators", 10, "--seed", 3, "--out", "runs/csv", cwd=d)
    return res, d / "runs" / "csv"


GOOD = ["--fit", "random-forest", "--n-estimators", "5"]
# Run as subprocesses (the cases the issue names); each spends most of its time importing, so
# they start together.
BAD_CASES = {
    "missing data file": (["--data", "nope.csv", "--target", "kind", *GOOD], "data file not found"),
    "unknown target": (["--data", "table.csv", "--target", "species", *GOOD], "unknown target column 'species'"),
    "non-numeric feature": (["--data", "nonnumeric.csv", "--target", "kind", *GOOD], "feature column 'b'"),
    "corrupt model file": (["--data", "X.npy", "--labels", "y.npy", "--teacher", "corrupt.skops"],
                           "not a readable skops file"),
    "pickle without --trust": (["--data", "X.npy", "--labels", "y.npy", "--teacher", "rf.joblib"],
                               "arbitrary code"),
}
# The same checks in-process (cli.main), to keep the file fast.
MORE_BAD_CASES = {
    "missing target": (["--data", "table.csv", *GOOD], "--target"),
    "npy without labels": (["--data", "X.npy", *GOOD], "--labels"),
    "labels of the wrong length": (["--data", "X.npy", "--labels", "short.npy", *GOOD], "1-D array of 150"),
    "missing model file": (["--data", "X.npy", "--labels", "y.npy", "--teacher", "gone.skops"], "no such file"),
    "unknown data type": (["--data", "jobs.txt", *GOOD], "unknown data file type"),
    "teacher of other classes": (["--data", "table.csv", "--target", "kind", "--teacher", "rf.skops"],
                                 "not in the training labels"),
}


@pytest.fixture(scope="module")
def bad_runs(work):
    """Start every bad-input subprocess at once; collect their results."""
    d = work["dir"]
    procs = {}
    for name, (args, _) in BAD_CASES.items():
        out = f"bad-{name.replace(' ', '-')}/out"
        procs[name] = subprocess.Popen(_cmd("compress", *args, "--out", out), cwd=d, env=_env(),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        results[name] = (p.returncode, stdout, stderr)
    return results


def _check_bad(code, stdout, stderr, expected, parent):
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("crembo compress: error: ")
    assert expected in lines[0]
    assert "Traceback" not in stderr and stdout == ""
    # Nothing was created: neither --out nor its parent, nor a temporary directory.
    assert not parent.exists()


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_exits_2_with_one_line_and_no_output(case, bad_runs, work):
    _check_bad(*bad_runs[case], BAD_CASES[case][1], work["dir"] / f"bad-{case.replace(' ', '-')}")


@pytest.mark.parametrize("case", list(MORE_BAD_CASES))
def test_more_bad_input_in_process(case, work, capsys, monkeypatch):
    d = work["dir"]
    np.save(d / "short.npy", np.zeros(3))
    (d / "jobs.txt").write_text("not data")
    monkeypatch.chdir(d)
    parent = d / f"bad-{case.replace(' ', '-')}"
    code = cli.main(["compress", *MORE_BAD_CASES[case][0], "--out", str(parent / "out")])
    captured = capsys.readouterr()
    _check_bad(code, captured.out, captured.err, MORE_BAD_CASES[case][1], parent)


def test_existing_output_is_not_touched(work, capsys):
    d = work["dir"]
    code = cli.main(["compress", "--data", str(d / "table.csv"), "--target", "kind", *GOOD, "--out", str(d / "full")])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in (d / "full").iterdir()) == ["keep.txt"]


def test_help_explains_trust(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["compress", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "--trust" in text and "arbitrary code" in text
    for option in ("--teacher", "--fit", "--depth", "--oracle", "--delta", "--validation-fraction",
                   "--test-fraction", "--seed", "--out", "--n-estimators"):
        assert option in text


def test_compress_writes_student_report_text_and_plot(compressed, work):
    res, out = compressed
    assert res.returncode == 0, res.stderr
    assert "test accuracy" in res.stdout
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "scan.png", "student.skops", "student.txt"]
    # No temporary directory was left beside the output.
    assert [p.name for p in out.parent.iterdir()] == ["csv"]
    assert (out / "scan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    report = json.loads((out / "report.json").read_text())
    assert report["data"]["feature_names"] == FEATURES
    assert report["data"]["classes"] == LABELS.tolist()
    t = report["thresholds"]
    assert t["memo"] <= t["crembo"] and t["memo_index"] <= t["crembo_index"] < t["n_candidates"]
    scan = report["scan"]
    assert len(scan["thresholds"]) == len(scan["validation_scores"]) == len(scan["depths"]) >= 1
    assert scan["thresholds"][scan["validation_scores"].index(max(scan["validation_scores"]))] == t["crembo"]
    assert report["validation"]["crembo"] == max(scan["validation_scores"])
    assert set(report["test_accuracy"]) == {"teacher", "crembo", "memo", "bm", "vt"}
    assert all(0.0 <= a <= 1.0 for a in report["test_accuracy"].values())
    assert set(report["fidelity"]) == {"crembo", "memo", "bm", "vt"}
    assert {"load", "teacher", "crembo", "baselines", "evaluate", "write"} <= set(report["timings"])
    assert report["student"]["tree_depth"] <= 4

    # The saved student reproduces the reported test accuracy on the same seeded test split.
    X, y = work["X"], LABELS[work["y"]]
    student = load_student(out / "student.skops")
    _, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=3)
    assert np.mean(student.predict(X[test]) == y[test]) == pytest.approx(report["test_accuracy"]["crembo"])
    assert student.threshold_ == t["crembo"]
    assert (out / "student.txt").read_text() == student.export_text(feature_names=FEATURES)


def test_show_prints_tree_and_info(compressed):
    _, out = compressed
    res = run("show", out / "student.skops", cwd=out)
    assert res.returncode == 0, res.stderr
    assert "classes (3): ant, bee, cat" in res.stdout
    assert "features (4): alpha, beta, gamma, delta" in res.stdout  # names from report.json beside it
    assert "tree depth:" in res.stdout
    assert res.stdout.endswith((out / "student.txt").read_text())


def test_npy_data_skops_teacher_native_oracle(work):
    d = work["dir"]
    argv = ["compress", "--data", "X.npy", "--labels", "y.npy", "--teacher", "rf.skops", "--oracle", "native",
            "--depth", "3", "--delta", "2", "--n-jobs", "1", "--out", "npy-native"]
    cwd = os.getcwd()
    os.chdir(d)  # relative paths, as a user types them
    try:
        assert cli.main(argv) == 0
    finally:
        os.chdir(cwd)
    report = json.loads((d / "npy-native" / "report.json").read_text())
    assert report["student"]["type"] == "AllowedLabelTreeClassifier"
    assert report["teacher"] == {"file": "rf.skops", "type": "RandomForestClassifier"}
    assert report["student"]["tree_depth"] <= 3
    assert np.all(np.diff(report["scan"]["indices"]) == 2)
    student = load_student(d / "npy-native" / "student.skops")
    assert isinstance(student.estimator_, crembo.AllowedLabelTreeClassifier)
    assert (d / "npy-native" / "student.txt").read_text().startswith("|--- x")


def test_batch_runs_all_jobs_and_reports_failures(work):
    d = work["dir"]
    (d / "jobs.toml").write_text(
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
trust = true
"""
    )
    res = run("batch", "jobs.toml", "--out", "batch-out", cwd=d)
    assert res.returncode == 2, res.stderr  # a job failed on bad input; the others still ran
    assert "job 'broken' failed" in res.stderr and "2 of 3 job(s) succeeded" in res.stdout
    out = d / "batch-out"
    assert sorted(p.name for p in out.iterdir()) == [
        "csv-forest", "pickled-teacher", "summary.csv", "summary.json", "summary.md"]
    rows = json.loads((out / "summary.json").read_text())
    assert [r["job"] for r in rows] == ["csv-forest", "broken", "pickled-teacher"]
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "no_such_column" in rows[1]["error"]
    for r in (rows[0], rows[2]):
        report = json.loads((out / r["job"] / "report.json").read_text())
        assert r["crembo_accuracy"] == report["test_accuracy"]["crembo"]
        assert r["threshold"] == report["thresholds"]["crembo"]
    assert rows[0]["tree_depth"] <= 2
    md = (out / "summary.md").read_text().splitlines()
    assert md[0].startswith("| job | status |") and len(md) == 2 + 3
    assert (out / "summary.csv").read_text().splitlines()[0].startswith("job,status,teacher_accuracy")


def test_failure_while_writing_leaves_nothing(work, tmp_path, monkeypatch, capsys):
    """In-process: make the last stage fail and check that the atomic output leaves no trace."""
    def broken_plot(est, path):
        path.write_bytes(b"half a png")
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli._compress, "_write_scan", broken_plot)
    out = tmp_path / "deep" / "er" / "out"
    code = cli.main(["compress", "--data", str(work["dir"] / "X.npy"), "--labels", str(work["dir"] / "y.npy"),
                     "--fit", "random-forest", "--n-estimators", "4", "--n-jobs", "1", "--out", str(out)])
    assert code == 1
    assert "disk on fire" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # not even the parents made for it


def test_overwrite_replaces_atomically(work, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    argv = ["compress", "--data", str(work["dir"] / "X.npy"), "--labels", str(work["dir"] / "y.npy"),
            "--fit", "random-forest", "--n-estimators", "4", "--n-jobs", "1", "--out", str(out), "--overwrite"]
    assert cli.main(argv) == 0
    assert "old.txt" not in {p.name for p in out.iterdir()}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["compress", "--data", "x.csv", "--fit", "random-forest", "--out", "o", "--depth", "0"])
    assert exc.value.code == 2
    assert "--depth" in capsys.readouterr().err
    assert cli.main([]) == 2


def test_parquet_table(work, tmp_path, monkeypatch, capsys):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    X, y = work["X"], LABELS[work["y"]]
    df = pd.DataFrame(X, columns=FEATURES).assign(kind=y)
    df.to_parquet(tmp_path / "table.parquet")
    out = tmp_path / "pq"
    argv = ["compress", "--data", str(tmp_path / "table.parquet"), "--target", "kind", *GOOD, "--n-jobs", "1",
            "--seed", "3", "--out", str(out)]
    assert cli.main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["data"]["feature_names"] == FEATURES and report["data"]["classes"] == LABELS.tolist()
    # A text column is refused with the same one-line error as in a CSV.
    df.assign(colour="red").to_parquet(tmp_path / "text.parquet")
    argv[2], argv[-1] = str(tmp_path / "text.parquet"), str(tmp_path / "never")
    assert cli.main(argv) == 2
    assert "feature column 'colour'" in capsys.readouterr().err
    # Without pandas the error says what to install.
    monkeypatch.setitem(sys.modules, "pandas", None)
    argv[2] = str(tmp_path / "table.parquet")
    assert cli.main(argv) == 2
    assert "pip install pandas pyarrow" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
