"""What a loaded model file may do (docs/security.md): skops' verdict plus crembo's reviewed
allow-list decide which types are built, trust comes only from the caller, and every decision
tree is checked before anything walks it."""

import importlib
import select
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

import crembo
from crembo.persistence import (
    UntrustedFileError,
    default_trusted,
    load_model,
    load_student,
    save_student,
    trusted_types,
)

skops_io = pytest.importorskip("skops.io", reason="skops is a dependency of crembo.persistence")

ROOT = Path(__file__).resolve().parents[1]
SKLEARN_TREE = "sklearn.tree._tree.Tree"


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=150, n_features=5, n_informative=3, n_classes=3, n_clusters_per_class=1, random_state=5
    )
    return X, y


# ----------------------------------------------------------------- a file that dials out


def _scoring_monitor_file(path, address):
    """A skops file made only of scikit-learn classes: a ScoringMonitor whose __setstate__ opens a
    multiprocessing Client to ``address`` (read from the file) and, used later, unpickles what
    that address sends. skops itself refuses both of its types."""
    scoring = pytest.importorskip("sklearn.callback._scoring_monitor", reason="sklearn without callbacks")
    transport = importlib.import_module("sklearn.callback._transport")
    monitor = scoring.ScoringMonitor.__new__(scoring.ScoringMonitor)  # __init__ would open a listener
    monitor.__dict__.update(
        _scoring=["accuracy"],
        _log=[],
        _estimator_scorers={},
        _listener_handle=transport.ListenerHandle(address, b"key"),
    )
    skops_io.dump(monitor, path)
    return skops_io.get_untrusted_types(file=path)


def test_file_cannot_connect_out(tmp_path, child_env):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    try:
        path = tmp_path / "teacher.skops"
        untrusted = _scoring_monitor_file(path, server.getsockname())
        assert "sklearn.callback._scoring_monitor.ScoringMonitor" in untrusted
        assert default_trusted(untrusted) == []
        api = (
            "import sys\n"
            "from crembo.persistence import UntrustedFileError, load_model, load_student\n"
            "for load in (load_student, load_model):\n"
            "    try:\n"
            "        load(sys.argv[1])\n"
            "        print('LOADED')\n"
            "    except UntrustedFileError as exc:\n"
            "        print('refused:', exc)\n"
        )
        procs = [
            subprocess.Popen(cmd, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for cmd in ([sys.executable, "-c", api, str(path)], [sys.executable, "-m", "crembo", "show", str(path)])
        ]
        # the timeout only stops a child that hangs (an unfixed loader waits on the connection)
        (api_out, api_err), (show_out, show_err) = (p.communicate(timeout=300) for p in procs)
        assert procs[0].returncode == 0, api_err
        lines = api_out.splitlines()
        assert len(lines) == 2 and all(
            line.startswith("refused:") and "ScoringMonitor" in line and "not trusted" in line for line in lines
        )
        assert procs[1].returncode == 2 and show_out == ""
        assert len(show_err.strip().splitlines()) == 1 and "ScoringMonitor" in show_err
        # a connection made by either child would be waiting in the listen queue
        assert select.select([server], [], [], 0)[0] == [], "a loader connected to the address in the file"
    finally:
        server.close()


def test_trust_comes_from_the_caller(tmp_path):
    path = tmp_path / "monitor.skops"
    untrusted = _scoring_monitor_file(path, ("127.0.0.1", 9))
    with pytest.raises(UntrustedFileError, match="ListenerHandle"):
        load_student(path, trusted=untrusted[:1])  # one of the two is not enough
    with pytest.raises(UntrustedFileError, match="not trusted"):
        load_model(path)


# ---------------------------------------------------------------------- the allow-list


def test_allow_list_names_come_from_the_classes():
    names = trusted_types()
    assert 5 <= len(names) <= 20  # a short, reviewed list, not "everything in a package"
    for name, why in names.items():
        module, _, qualname = name.rpartition(".")
        cls = importlib.import_module(module)
        for part in qualname.split("."):
            cls = getattr(cls, part)
        assert isinstance(cls, type) and f"{cls.__module__}.{cls.__qualname__}" == name
        assert len(why) > 20  # each entry says why it is safe
    assert {"crembo.estimator.CREMBOClassifier", "crembo.tree.grower.Tree", SKLEARN_TREE} <= set(names)
    # functions, other crembo/sklearn classes and unknown names are not trusted
    assert default_trusted(
        [
            "builtins.eval",
            "os.system",
            "crembo.cli.main",
            "crembo.nope.Klass",
            f"{crembo.CallableTeacher.__module__}.CallableTeacher",
            "sklearn.callback._transport.ListenerHandle",
            "crembo.tree.grower.Tree",
        ]
    ) == ["crembo.tree.grower.Tree"]


def test_security_doc_lists_the_allow_list():
    doc = (ROOT / "docs" / "security.md").read_text()
    for name in trusted_types():
        assert f"`{name}`" in doc, name
    assert "docs/security.md" in (ROOT / "README.md").read_text()


def test_gradient_boosting_trees_need_explicit_trust(data, tmp_path):
    # GradientBoosting's Cython predict walks its members' nodes itself: crembo cannot vouch for
    # those trees, so (as skops says for every tree) they need the caller's trust.
    X, y = data
    gb = GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, y)
    skops_io.dump(gb, tmp_path / "gb.skops")
    with pytest.raises(UntrustedFileError, match=r"estimators_\[0\]\.tree_.*sklearn\.tree\._tree\.Tree"):
        load_model(tmp_path / "gb.skops")
    loaded = load_model(tmp_path / "gb.skops", trusted=[SKLEARN_TREE])
    np.testing.assert_array_equal(loaded.predict(X), gb.predict(X))
    # a forest's trees are checked against the forest: no trust needed
    rf = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, y)
    skops_io.dump(rf, tmp_path / "rf.skops")
    np.testing.assert_array_equal(load_model(tmp_path / "rf.skops").predict(X), rf.predict(X))


def test_show_refuses_a_crafted_tree_in_one_line(tmp_path, data, child_env):
    """``crembo show`` of a student whose tree loops: one line, exit 2, no hang, no traceback."""
    X, y = data
    est = crembo.AllowedLabelTreeClassifier(max_depth=2).fit(X, y)
    est.tree_.left[0] = est.tree_.rows[0]["left"] = 0  # the walk would loop here forever
    path = tmp_path / "student.skops"
    save_student(est, path)
    out = subprocess.run(
        [sys.executable, "-m", "crembo", "show", str(path)],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 2 and out.stdout == "", out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "'left' must be a node index" in out.stderr
