"""One kernel interface, three implementations: ``cython``, ``numba`` and ``reference``.

A backend is a module exposing the kernels listed in ``KERNELS`` with the signatures of
``crembo.backends.reference`` (the spec). The public functions in ``crembo.beliefs`` and
``crembo.depth`` validate inputs once and dispatch here. Choose a backend per call
(``backend="numba"``), globally (``crembo.set_backend``), or for a block
(``with crembo.use_backend("reference"):``). The default is the fastest available.
"""

import contextlib
import importlib
import importlib.util
import threading
import warnings

KERNELS = (
    "vote_counts",
    "vote_belief",
    "softmax",
    "belief_status",
    "normalize_belief",
    "unique_values",
    "allowed_labels",
    "pointwise_depth",
    "hypothesis_depth",
    "hypothesis_depths",
    "count_consistent",
    "quantile_depth",
)

# Fastest first: the order in which the default is chosen.
_MODULES = {
    "cython": "crembo.backends.cython_backend",
    "numba": "crembo.backends.numba_backend",
    "reference": "crembo.backends.reference",
}

# The compiled kernel modules the cython backend needs.
_CYTHON_MODULES = ("_votes", "_rows", "_unique", "_depths")

_state = threading.local()
_global = {"name": None}
_loaded = {}
_import_errors = {}


def _try_load(name):
    if name in _loaded:
        return _loaded[name]
    if name in _import_errors:
        return None
    try:
        module = importlib.import_module(_MODULES[name])
    except ImportError as exc:  # compiled extension missing, or numba not installed
        _import_errors[name] = exc
        return None
    _loaded[name] = module
    return module


def available_backends():
    """Names of the backends that can run here, fastest first, e.g. ['cython', 'numba', 'reference']."""
    names = []
    for name in _MODULES:
        if name == "cython":
            ok = all(importlib.util.find_spec(f"crembo._ext.{m}") is not None for m in _CYTHON_MODULES)
        elif name == "numba":
            ok = importlib.util.find_spec("numba") is not None
        else:
            ok = True
        if ok:
            names.append(name)
    return names


def _check_name(name):
    if not isinstance(name, str) or name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; choose one of {list(_MODULES)}")


def get_backend(name=None):
    """The backend module for ``name``, or for the current default when ``name`` is None."""
    if name is None:
        name = getattr(_state, "name", None) or _global["name"]
    if name is None:
        for candidate in _MODULES:
            module = _try_load(candidate)
            if module is not None:
                if candidate != "cython" and not _warned_default[0]:
                    _warned_default[0] = True
                    warnings.warn(
                        "crembo's compiled extension is not available "
                        f"({_import_errors.get('cython')}); using the {candidate!r} backend. "
                        "Reinstall crembo with a C compiler (pip install .) for the Cython kernels.",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                return module
    _check_name(name)
    module = _try_load(name)
    if module is None:
        raise ImportError(
            f"backend {name!r} is not available here: {_import_errors[name]}. "
            f"Available backends: {available_backends()}"
        )
    return module


_warned_default = [False]


def set_backend(name):
    """Set the process-wide default backend (None restores 'fastest available')."""
    if name is not None:
        get_backend(name)  # fail now, not at the first kernel call
    _global["name"] = name


@contextlib.contextmanager
def use_backend(name):
    """Use backend ``name`` in this thread for the duration of a ``with`` block."""
    get_backend(name)
    previous = getattr(_state, "name", None)
    _state.name = name
    try:
        yield
    finally:
        _state.name = previous


def current_backend_name():
    """Name of the backend a call without ``backend=`` would use now."""
    return get_backend(None).NAME
