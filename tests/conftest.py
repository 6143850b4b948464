"""Shared pytest configuration: a deterministic hypothesis profile and backend fixtures."""

import importlib.util
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import crembo
from crembo import backends

# Derandomized so a failure reproduces on every machine; modest example counts keep each test
# file well under a minute. `HYPOTHESIS_PROFILE=thorough pytest` runs many more examples.
settings.register_profile(
    "crembo",
    max_examples=30,
    deadline=None,
    derandomize=True,
    print_blob=True,
    # the fixtures used with @given are stateless per example (backend name, state restore)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "crembo"))

AVAILABLE_BACKENDS = crembo.available_backends()
NATIVE_BACKENDS = [name for name in AVAILABLE_BACKENDS if name != "reference"]


@pytest.fixture(scope="session", params=AVAILABLE_BACKENDS, ids=lambda name: f"backend={name}")
def backend_name(request):
    """Every backend that can run here (always includes 'reference')."""
    name = request.param
    try:
        crembo.get_backend(name)
    except ImportError as exc:
        # available_backends() only checks that numba / the extension is importable; while a
        # backend module is not written yet, skip it rather than fail every test
        if importlib.util.find_spec(backends._MODULES[name]) is None:
            pytest.skip(f"backend module {backends._MODULES[name]} does not exist yet")
        raise AssertionError(f"backend {name!r} is listed as available but fails to load: {exc}") from exc
    return name


@pytest.fixture(autouse=True)
def _restore_backend_state():
    """Tests that change the global or thread-local backend must not leak it into others."""
    global_name = backends._global["name"]
    local_name = getattr(backends._state, "name", None)
    yield
    backends._global["name"] = global_name
    backends._state.name = local_name


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
