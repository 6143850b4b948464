"""Shared helpers of the command-line tests: a folder of small input files, and running
``python -m crembo`` in a subprocess (for what can crash, hang or needs a real process)."""

import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier

FEATURES = ["alpha", "beta", "gamma", "delta"]
LABELS = np.array(["ant", "bee", "cat"])  # y = 0, 1, 2 in the .npy files


def crembo_cmd(*args):
    return [sys.executable, "-m", "crembo", *map(str, args)]


@pytest.fixture(scope="session")
def run_crembo(child_env):
    """``run_crembo(*args, cwd=...)``: the finished subprocess (text output, 120 s at most)."""

    def run(*args, cwd):
        return subprocess.run(crembo_cmd(*args), cwd=cwd, env=child_env, capture_output=True, text=True, timeout=120)

    return run


@pytest.fixture(scope="session")
def start_crembo(child_env):
    """``start_crembo(*args, cwd=...)``: a running ``subprocess.Popen`` (text pipes)."""

    def start(*args, cwd, **kwargs):
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(crembo_cmd(*args), cwd=cwd, env=child_env, text=True, **kwargs)

    return start


@pytest.fixture(scope="session")
def cli_inputs(tmp_path_factory):
    """A folder with a CSV table (features FEATURES, label column 'kind' with LABELS), the same
    data as X.npy / y.npy, and a small forest fitted on it (rf.joblib, rf.skops)."""
    skops_io = pytest.importorskip("skops.io")
    d = tmp_path_factory.mktemp("cli-inputs")
    X, y = make_classification(
        n_samples=150, n_features=4, n_informative=3, n_redundant=0, n_classes=3, n_clusters_per_class=1, random_state=7
    )
    with open(d / "table.csv", "w") as f:
        f.write(",".join([*FEATURES, "kind"]) + "\n")
        for row, label in zip(X, LABELS[y], strict=True):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label}\n")
    np.save(d / "X.npy", X)
    np.save(d / "y.npy", y)
    rf = RandomForestClassifier(n_estimators=8, max_depth=5, random_state=0).fit(X, y)
    joblib.dump(rf, d / "rf.joblib")
    skops_io.dump(rf, d / "rf.skops")
    return {"dir": d, "X": X, "y": y}
