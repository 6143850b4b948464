"""The one place that decides thread counts: crembo._threads.resolve_n_threads."""

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
