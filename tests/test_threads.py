"""The one place that decides thread counts: crembo._threads.resolve_n_threads."""

import os
import subprocess
import sys

import numpy as np
import pytest

from crembo import _threads


def test_n_jobs_mapping(monkeypatch):
    monkeypatch.setattr(_threads, "available_cpus", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _threads.resolve_n_threads(None) == 4
    assert _threads.resolve_n_threads(3) == 3
    assert _threads.resolve_n_threads(-1) == 4
    assert _threads.resolve_n_threads(-2) == 3
    assert _threads.resolve_n_threads(-10) == 1


def test_omp_num_threads_caps_the_default(monkeypatch):
    monkeypatch.setattr(_threads, "available_cpus", lambda: 4)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert _threads.resolve_n_threads(None) == 2
    assert _threads.resolve_n_threads(3) == 3  # an explicit n_jobs wins
    monkeypatch.setenv("OMP_NUM_THREADS", "nonsense")
    assert _threads.resolve_n_threads(None) == 4


def test_small_work_runs_serially(monkeypatch):
    monkeypatch.setattr(_threads, "available_cpus", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _threads.resolve_n_threads(4, work=_threads.SERIAL_WORK - 1) == 1
    assert _threads.resolve_n_threads(4, work=_threads.SERIAL_WORK) == 4


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (1.5, TypeError), ("2", TypeError), (True, TypeError)])
def test_bad_n_jobs(bad, exc):
    with pytest.raises(exc):
        _threads.resolve_n_threads(bad)


def test_explicit_n_jobs_is_capped_at_the_cpus(monkeypatch):
    monkeypatch.setattr(_threads, "available_cpus", lambda: 4)
    monkeypatch.setenv("OMP_NUM_THREADS", "64")
    assert _threads.resolve_n_threads(5) == 4
    assert _threads.resolve_n_threads(100_000) == 4
    assert _threads.resolve_n_threads(2**31) == 4
    assert _threads.resolve_n_threads(np.int64(2**62)) == 4
    assert _threads.resolve_n_threads(None) == 4  # OMP_NUM_THREADS above the CPUs is capped too
    assert _threads.resolve_n_threads(-(2**70)) == 1


def test_joblib_n_jobs_keeps_none_and_caps_the_rest(monkeypatch):
    monkeypatch.setattr(_threads, "available_cpus", lambda: 3)
    assert _threads.joblib_n_jobs(None) is None  # joblib's own default (and parallel_config)
    assert _threads.joblib_n_jobs(100_000) == 3
    assert _threads.joblib_n_jobs(-1) == 3
    with pytest.raises(ValueError):
        _threads.joblib_n_jobs(0)


def test_available_cpus_follows_the_affinity_mask():
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    assert 1 <= _threads.available_cpus() <= len(os.sched_getaffinity(0))


# Every path where an n_jobs reaches native code or a thread pool, with a count far above any
# machine's CPUs: before the cap, the cython kernels and the native tree/forest walk crashed the
# process (libgomp reserves a stack per thread), n_jobs >= 2**31 raised OverflowError on cython
# only, and joblib's pools (the scan, the default forest teacher, member votes) could not start.
# Each result must equal the single-threaded one, on every backend.
_HUGE_N_JOBS_SCRIPT = """
import numpy as np, crembo
from sklearn.datasets import make_classification
from sklearn.ensemble import AdaBoostClassifier, RandomForestClassifier
from crembo.teachers.forest import forest_belief
from crembo.tree import AllowedLabelTreeClassifier

ones = np.ones((70000, 1))
for backend in crembo.available_backends():
    for n_jobs in (100000, 2**31, 2**63):
        got = crembo.allowed_labels(ones, 0.5, n_jobs=n_jobs, backend=backend)
        assert got.shape == (70000, 1) and got.all(), (backend, n_jobs)
        votes = np.tile(np.arange(3), (5, 30000))
        assert np.array_equal(crembo.belief_from_votes(votes, 3, backend=backend, n_jobs=n_jobs),
                              crembo.belief_from_votes(votes, 3, backend=backend, n_jobs=1))
    print("kernels", backend, flush=True)

X, y = make_classification(400, 5, random_state=0)
big = np.repeat(X, 200, axis=0)
allowed = np.eye(2, dtype=bool)[np.repeat(y, 200)]
trees = [AllowedLabelTreeClassifier(n_jobs=j).fit_allowed(big, allowed) for j in (100000, 1)]
assert np.array_equal(trees[0].predict(big), trees[1].predict(big))
print("native tree", flush=True)

rf = RandomForestClassifier(10, random_state=0).fit(X, y)
assert np.array_equal(forest_belief(rf, big, n_jobs=100000), forest_belief(rf, big, n_jobs=1))
print("forest walk", flush=True)

ada = AdaBoostClassifier(n_estimators=5, random_state=0).fit(X, y)
teachers = [crembo.make_teacher(ada, belief="votes", n_jobs=j) for j in (100000, 1)]
assert np.array_equal(teachers[0].belief(X, np.unique(y)), teachers[1].belief(X, np.unique(y)))
print("member votes", flush=True)

fits = [crembo.CREMBOClassifier(n_jobs=j, random_state=0).fit(X, y) for j in (100000, 1)]
assert fits[0].threshold_ == fits[1].threshold_
assert np.array_equal(fits[0].predict(X), fits[1].predict(X))
print("CREMBO scan and default teacher", flush=True)
print("DONE")
"""


def test_huge_n_jobs_is_safe_on_every_path(child_env):
    proc = subprocess.run(
        [sys.executable, "-c", _HUGE_N_JOBS_SCRIPT],
        env=child_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("DONE"), (
        f"exit code {proc.returncode}; got through:\n{proc.stdout}\n{proc.stderr[-3000:]}"
    )
