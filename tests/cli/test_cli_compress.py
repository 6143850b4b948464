"""``crembo compress`` and ``crembo show``, driven as a user would: ``python -m crembo ...`` in a
subprocess, or ``cli.main`` in-process where nothing can crash.

Small data and small forests keep every run short; the bad-input runs start together (each
spends most of its time importing) so the file stays well under a minute.
"""

import json
import os
import shutil
import sys

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

import crembo
from crembo import cli
from crembo.cli._output import MANIFEST
from crembo.persistence import load_student

FEATURES = ["alpha", "beta", "gamma", "delta"]  # the columns of cli_inputs' table.csv
LABELS = np.array(["ant", "bee", "cat"])
OUTPUT_FILES = sorted([MANIFEST, "report.json", "scan.png", "student.skops", "student.txt"])


@pytest.fixture(scope="module")
def work(tmp_path_factory, cli_inputs):
    """A directory with a CSV table, .npy features/labels, teacher model files and bad inputs."""
    d = tmp_path_factory.mktemp("cli")
    for name in ("table.csv", "X.npy", "y.npy", "rf.joblib", "rf.skops"):
        shutil.copy(cli_inputs["dir"] / name, d / name)
    (d / "corrupt.skops").write_bytes(b"PK\x03\x04 this is not really a zip archive")
    (d / "nonnumeric.csv").write_text("a,b,kind\n1.0,red,x\n2.0,blue,y\n3.0,red,x\n")
    (d / "full").mkdir()
    (d / "full" / "keep.txt").write_text("precious")
    return {"dir": d, "X": cli_inputs["X"], "y": cli_inputs["y"]}


@pytest.fixture(scope="module")
def compressed(work, run_crembo):
    """One successful CSV run shared by several tests."""
    d = work["dir"]
    res = run_crembo(
        "compress",
        "--data",
        "table.csv",
        "--target",
        "kind",
        "--fit",
        "random-forest",
        "--n-estimators",
        10,
        "--seed",
        3,
        "--out",
        "runs/csv",
        cwd=d,
    )
    return res, d / "runs" / "csv"


GOOD = ["--fit", "random-forest", "--n-estimators", "5"]
# Run as subprocesses (the cases the issue names); each spends most of its time importing, so
# they start together.
BAD_CASES = {
    "missing data file": (["--data", "nope.csv", "--target", "kind", *GOOD], "data file not found"),
    "unknown target": (["--data", "table.csv", "--target", "species", *GOOD], "unknown target column 'species'"),
    "non-numeric feature": (["--data", "nonnumeric.csv", "--target", "kind", *GOOD], "feature column 'b'"),
    "corrupt model file": (
        ["--data", "X.npy", "--labels", "y.npy", "--teacher", "corrupt.skops"],
        "not a readable skops file",
    ),
    "pickle without --trust": (["--data", "X.npy", "--labels", "y.npy", "--teacher", "rf.joblib"], "arbitrary code"),
}
# The same checks in-process (cli.main), to keep the file fast.
MORE_BAD_CASES = {
    "missing target": (["--data", "table.csv", *GOOD], "--target"),
    "npy without labels": (["--data", "X.npy", *GOOD], "--labels"),
    "labels of the wrong length": (["--data", "X.npy", "--labels", "short.npy", *GOOD], "1-D array of 150"),
    "missing model file": (["--data", "X.npy", "--labels", "y.npy", "--teacher", "gone.skops"], "no such file"),
    "unknown data type": (["--data", "jobs.txt", *GOOD], "unknown data file type"),
    "teacher of other classes": (
        ["--data", "table.csv", "--target", "kind", "--teacher", "rf.skops"],
        "not in the training labels",
    ),
}


@pytest.fixture(scope="module")
def bad_runs(work, start_crembo):
    """Start every bad-input subprocess at once; collect their results."""
    d = work["dir"]
    procs = {}
    for name, (args, _) in BAD_CASES.items():
        out = f"bad-{name.replace(' ', '-')}/out"
        procs[name] = start_crembo("compress", *args, "--out", out, cwd=d)
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
    for option in (
        "--teacher",
        "--fit",
        "--depth",
        "--oracle",
        "--delta",
        "--validation-fraction",
        "--test-fraction",
        "--seed",
        "--out",
        "--n-estimators",
    ):
        assert option in text


def test_compress_writes_student_report_text_and_plot(compressed, work):
    res, out = compressed
    assert res.returncode == 0, res.stderr
    assert "test accuracy" in res.stdout
    assert sorted(p.name for p in out.iterdir()) == OUTPUT_FILES
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
    # the default selection: cross-validated on every training row (no validation split)
    assert report["validation"]["selection"] == "cv" and report["data"]["n_validation"] == 0
    assert scan["thresholds"][scan["position"]] == t["crembo"]
    chosen = scan["validation_scores"][scan["position"]]
    assert report["validation"]["crembo"] == chosen == max(scan["validation_scores"])
    # the tree a user would fit was scored on the same folds and not kept: the scan's student won
    assert scan["user_vt_kept"] is False and 0.0 <= scan["user_vt_score"] < chosen
    assert set(report["test_accuracy"]) == {"teacher", "crembo", "memo", "bm", "vt"}
    assert all(0.0 <= a <= 1.0 for a in report["test_accuracy"].values())
    assert set(report["fidelity"]) == {"crembo", "memo", "bm", "vt"}
    assert {"load", "teacher", "crembo", "baselines", "evaluate", "write"} <= set(report["timings"])
    assert report["student"]["tree_depth"] <= 4

    # The saved student reproduces the reported test accuracy on the same seeded test split.
    X, y = work["X"], LABELS[work["y"]]
    student = load_student(out / "student.skops")
    _, test = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=3)
    with pytest.warns(UserWarning, match="fitted with feature names"):  # it knows its features' names
        predicted = student.predict(X[test])
    assert np.mean(predicted == y[test]) == pytest.approx(report["test_accuracy"]["crembo"])
    assert student.threshold_ == t["crembo"]
    assert list(student.feature_names_in_) == FEATURES
    assert (out / "student.txt").read_text() == student.export_text()


def test_show_prints_tree_and_info(compressed, run_crembo, tmp_path, capsys):
    _, out = compressed
    res = run_crembo("show", out / "student.skops", cwd=out)
    assert res.returncode == 0, res.stderr
    assert "classes (3): ant, bee, cat" in res.stdout
    assert "features (4): alpha, beta, gamma, delta" in res.stdout
    assert "tree depth:" in res.stdout
    assert res.stdout.endswith((out / "student.txt").read_text())
    # The names are in the student itself: the same without the report.json beside it.
    shutil.copy(out / "student.skops", tmp_path / "alone.skops")
    assert cli.main(["show", str(tmp_path / "alone.skops")]) == 0
    shown = capsys.readouterr().out
    assert "features (4): alpha, beta, gamma, delta" in shown
    assert shown.endswith((out / "student.txt").read_text())


def test_npy_data_skops_teacher_native_oracle(work):
    d = work["dir"]
    argv = [
        "compress",
        "--data",
        "X.npy",
        "--labels",
        "y.npy",
        "--teacher",
        "rf.skops",
        "--oracle",
        "native",
        "--depth",
        "3",
        "--delta",
        "2",
        "--n-jobs",
        "1",
        "--selection",
        "paper",
        "--out",
        "npy-native",
    ]
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
    assert report["validation"]["selection"] == "paper" and report["data"]["n_validation"] > 0
    assert report["scan"]["thresholds"][report["scan"]["position"]] == report["thresholds"]["crembo"]
    student = load_student(d / "npy-native" / "student.skops")
    assert isinstance(student.estimator_, crembo.AllowedLabelTreeClassifier)
    assert (d / "npy-native" / "student.txt").read_text().startswith("|--- x")


def test_skops_teacher_types_trusted_one_by_one(work, tmp_path, capsys):
    """A boosted teacher's sklearn trees are not vouched for by crembo: refused, with the hint
    to trust that one type on the command line; --trusted TYPE then loads it (and --trust too)."""
    import skops.io as sio
    from sklearn.ensemble import GradientBoostingClassifier

    d = work["dir"]
    X, y = np.load(d / "X.npy"), np.load(d / "y.npy")
    sio.dump(GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, y), tmp_path / "gb.skops")
    base = [
        "compress",
        "--data",
        str(d / "X.npy"),
        "--labels",
        str(d / "y.npy"),
        "--teacher",
        str(tmp_path / "gb.skops"),
        "--depth",
        "2",
        "--n-jobs",
        "1",
    ]
    assert cli.main([*base, "--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err
    assert "sklearn.tree._tree.Tree" in err and "--trusted TYPE" in err
    assert not (tmp_path / "refused").exists()
    assert cli.main([*base, "--trusted", "sklearn.tree._tree.Tree", "--out", str(tmp_path / "one")]) == 0
    report = json.loads((tmp_path / "one" / "report.json").read_text())
    assert report["teacher"]["type"] == "GradientBoostingClassifier"


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
    argv = [
        "compress",
        "--data",
        str(tmp_path / "table.parquet"),
        "--target",
        "kind",
        *GOOD,
        "--n-jobs",
        "1",
        "--seed",
        "3",
        "--out",
        str(out),
    ]
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
