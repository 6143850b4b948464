"""crembo.backends: which backends exist, and choosing one per call, per block or globally."""

import threading
import warnings

import numpy as np
import pytest

import crembo
from crembo import backends


def _loadable_backends():
    names = []
    for name in crembo.available_backends():
        try:
            crembo.get_backend(name)
        except ImportError:  # listed, but its module is not there (see conftest.backend_name)
            continue
        names.append(name)
    return names


LOADABLE_BACKENDS = _loadable_backends()


def test_available_backends():
    names = crembo.available_backends()
    assert names[-1] == "reference"
    assert set(names) <= {"cython", "numba", "reference"}
    assert names == [n for n in ("cython", "numba", "reference") if n in names]  # fastest first


def _spy(monkeypatch, name, kernel="hypothesis_depth"):
    module = crembo.get_backend(name)
    calls = []
    original = getattr(module, kernel)

    def wrapper(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, kernel, wrapper)
    return calls


def test_backend_per_call(monkeypatch, backend_name):
    calls = {name: _spy(monkeypatch, name) for name in LOADABLE_BACKENDS}
    belief, y = np.array([[0.5, 0.5]]), [1]
    assert crembo.hypothesis_depth(belief, y, backend=backend_name) == 0.5
    assert calls[backend_name] == [backend_name]
    assert sum(len(c) for c in calls.values()) == 1


def test_set_backend_and_use_backend(monkeypatch, backend_name):
    calls = {name: _spy(monkeypatch, name) for name in LOADABLE_BACKENDS}
    belief, y = np.array([[0.5, 0.5]]), [1]
    crembo.set_backend(backend_name)
    assert crembo.current_backend_name() == backend_name
    crembo.hypothesis_depth(belief, y)
    assert calls[backend_name] == [backend_name]
    with crembo.use_backend("reference"):
        assert crembo.current_backend_name() == "reference"
        crembo.hypothesis_depth(belief, y)
        # the context manager is per thread: another thread still sees the global choice
        seen = []
        thread = threading.Thread(target=lambda: seen.append(crembo.current_backend_name()))
        thread.start()
        thread.join()
        assert seen == [backend_name]
    assert calls["reference"][-1] == "reference"
    assert crembo.current_backend_name() == backend_name
    crembo.set_backend(None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "compiled extension not available"
        assert crembo.current_backend_name() == LOADABLE_BACKENDS[0]


def test_use_backend_restores_on_error():
    crembo.set_backend("reference")
    with pytest.raises(RuntimeError), crembo.use_backend(LOADABLE_BACKENDS[0]):
        raise RuntimeError("boom")
    assert crembo.current_backend_name() == "reference"


@pytest.mark.parametrize("bad", ["fortran", "", "Cython", None, 3])
def test_unknown_backend(bad):
    belief = np.array([[1.0]])
    if bad is not None:
        with pytest.raises(ValueError, match="unknown backend"):
            crembo.set_backend(bad)
        with pytest.raises(ValueError, match="unknown backend"), crembo.use_backend(bad):
            pass
    with pytest.raises(ValueError, match="unknown backend"):
        crembo.hypothesis_depth(belief, [0], backend=bad if bad is not None else "nope")


@pytest.mark.parametrize("name", ["cython", "numba"])
def test_unavailable_backend(monkeypatch, name):
    # simulate a missing compiled extension / numba: the import failed
    monkeypatch.setattr(backends, "_loaded", {k: v for k, v in backends._loaded.items() if k != name})
    monkeypatch.setattr(backends, "_import_errors", {name: ImportError(f"no module for {name}")})
    with pytest.raises(ImportError, match=f"backend '{name}' is not available"):
        crembo.hypothesis_depth(np.array([[1.0]]), [0], backend=name)
    with pytest.raises(ImportError):
        crembo.set_backend(name)
    with pytest.raises(ImportError), crembo.use_backend(name):
        pass
