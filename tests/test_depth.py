"""crembo.depth against plain NumPy expressions of its definitions (module docstring), on every
backend: pointwise, hypothesis and quantile depths, consistency, and the worked example."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import crembo


@given(data=st.data())
def test_api_depths(backend_name, data, kernel_inputs):
    belief = data.draw(kernel_inputs.beliefs())
    n, k = belief.shape
    y = data.draw(kernel_inputs.labels_for(belief).filter(lambda y: ((y >= 0) & (y < y.dtype.type(k))).all()))
    gathered = belief[np.arange(n), y].astype(np.float64)
    kw = {"backend": backend_name, "validate": False}
    np.testing.assert_array_equal(crembo.pointwise_depth(belief, y, **kw), gathered)
    depth = crembo.hypothesis_depth(belief, y, **kw)
    assert depth == gathered.min()
    assert crembo.quantile_depth(belief, y, 0.0, **kw) == depth  # eps = 0 is the min
    eps = data.draw(st.floats(0, 1, exclude_max=True))
    assert crembo.quantile_depth(belief, y, eps, **kw) == np.sort(gathered)[min(int(np.floor(eps * n)), n - 1)]
    others = (y + np.arange(n)) % k
    np.testing.assert_array_equal(
        crembo.hypothesis_depths(belief, np.stack([y, others]), **kw),
        [depth, belief[np.arange(n), others].astype(np.float64).min()],
    )
    # the API refuses thresholds outside [0, 1] (test_validation); the kernels take any
    probes = [
        depth,
        float(np.nextafter(depth, 2)),
        0.0,
        0.5,
        kernel_inputs.pick_threshold(belief, data.draw(kernel_inputs.seeds)),
    ]
    for d in [d for d in probes if 0 <= d <= 1]:
        count = crembo.count_consistent(belief, y, d, **kw)
        assert count == np.count_nonzero(gathered >= d)
        # f is consistent with Y(d) iff D(f) >= d, iff every prediction is allowed
        assert crembo.is_consistent(belief, y, d, **kw) == (depth >= d)
        allowed = crembo.allowed_labels(belief, d, **kw)
        np.testing.assert_array_equal(allowed, belief.astype(np.float64) >= d)
        assert allowed[np.arange(n), y].all() == (depth >= d)


def test_api_paper_example(backend_name):
    # 4 members, 3 samples, 3 classes: the worked example of the definitions
    votes = np.array([[0, 1, 2], [0, 1, 1], [0, 2, 1], [1, 2, 1]])
    belief = crembo.belief_from_votes(votes, 3, backend=backend_name)
    np.testing.assert_array_equal(belief, [[0.75, 0.25, 0], [0, 0.5, 0.5], [0, 0.75, 0.25]])
    np.testing.assert_array_equal(crembo.thresholds(belief, backend=backend_name), [0, 0.25, 0.5, 0.75])
    assert crembo.hypothesis_depth(belief, [0, 1, 1], backend=backend_name) == 0.5
    assert crembo.hypothesis_depth(belief, [0, 2, 1], backend=backend_name) == 0.5
    assert crembo.hypothesis_depth(belief, [0, 1, 2], backend=backend_name) == 0.25
    np.testing.assert_array_equal(crembo.hypothesis_depths(belief, votes, backend=backend_name), [0.25, 0.5, 0.5, 0.25])
    assert crembo.is_consistent(belief, [0, 1, 1], 0.5, backend=backend_name)
    assert not crembo.is_consistent(belief, [0, 1, 1], 0.75, backend=backend_name)
    assert crembo.count_consistent(belief, [0, 1, 1], 0.75, backend=backend_name) == 2
    assert crembo.quantile_depth(belief, [0, 1, 2], 0.34, backend=backend_name) == 0.5  # floor(1.02) = 1
    assert crembo.quantile_depth(belief, [0, 1, 2], 0.67, backend=backend_name) == 0.75
    np.testing.assert_array_equal(
        crembo.allowed_labels(belief, 0.5, backend=backend_name),
        [[True, False, False], [False, True, True], [False, True, False]],
    )
