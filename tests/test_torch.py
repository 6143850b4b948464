import importlib
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import crembo  # noqa: E402
from crembo import torch as ctorch  # noqa: E402

FAST = dict(hidden=(16,), epochs=60, lr=3e-2, n_threads=1)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def test_allowed_labels_loss_is_bce_on_allowed_matrix():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 3, generator=g)
    allowed = torch.rand(7, 3, generator=g) > 0.5
    p = torch.sigmoid(logits)
    a = allowed.float()
    manual = -(a * torch.log(p) + (1 - a) * torch.log(1 - p)).mean()
    assert torch.allclose(ctorch.allowed_labels_loss(logits, allowed), manual, atol=1e-6)
    per = ctorch.allowed_labels_loss(logits, allowed, reduction="none")
    assert per.shape == (7, 3)
    with pytest.raises(ValueError, match="shape"):
        ctorch.allowed_labels_loss(logits, allowed[:, :2])


def test_distillation_loss_zero_iff_matching():
    z = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    assert float(ctorch.distillation_loss(z, z, 4.0)) == pytest.approx(0.0, abs=1e-7)
    assert float(ctorch.distillation_loss(z.flip(1), z, 4.0)) > 0.1
    # a constant shift of the logits does not change the softmax
    assert float(ctorch.distillation_loss(z + 5, z, 2.0)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        ctorch.distillation_loss(z, z, 0.0)


def test_oracle_learns_allowed_labels_and_is_deterministic(iris):
    X, y = iris
    allowed = np.zeros((len(y), 3), dtype=bool)
    allowed[np.arange(len(y)), y] = True
    allowed[y == 1, 2] = True  # classes 1 and 2 both allowed on class-1 rows
    oracle = ctorch.TorchOracle(**FAST)
    prepared = oracle.prepare(X)
    state = torch.get_rng_state()
    a = oracle.fit(prepared, allowed, random_state=3)
    assert torch.equal(state, torch.get_rng_state())  # the caller's RNG is untouched
    pred = a.predict(X)
    assert pred.dtype == np.int64 and pred.shape == (150,)
    assert allowed[np.arange(150), pred].mean() > 0.95
    b = oracle.fit(prepared, allowed, random_state=3)
    np.testing.assert_array_equal(a.logits(X), b.logits(X))
    np.testing.assert_allclose(a.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="allowed"):
        oracle.fit(prepared, allowed[:10], random_state=0)


def test_parameter_validation():
    X = np.zeros((4, 2))
    with pytest.raises(ValueError, match="hidden"):
        ctorch.TorchOracle(hidden=(0,)).fit(X, np.ones((4, 2), bool))
    with pytest.raises(ValueError, match="epochs"):
        ctorch.TorchOracle(epochs=0).fit(X, np.ones((4, 2), bool))
    with pytest.raises(ValueError, match="NaN"):
        ctorch.TorchOracle().prepare(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="shape"):
        ctorch.TorchOracle().prepare(X)(np.zeros((3, 5)))


def test_supervised_and_distilled_students_fit_iris(iris):
    X, y = iris
    bm = ctorch.fit_supervised(X, y, 3, random_state=0, **FAST)
    assert (bm.predict(X) == y).mean() > 0.9
    teacher = LogisticRegression(max_iter=500).fit(X, y)
    logits = np.log(np.clip(teacher.predict_proba(X), 1e-12, None))
    kd = ctorch.fit_distilled(X, logits, 3.0, random_state=0, **FAST)
    assert (kd.predict(X) == teacher.predict(X)).mean() > 0.9
    kd_mix = ctorch.fit_distilled(X, logits, 3.0, y=y, alpha=0.5, random_state=0, **FAST)
    assert (kd_mix.predict(X) == y).mean() > 0.9
    with pytest.raises(ValueError, match="alpha"):
        ctorch.fit_distilled(X, logits, 3.0, alpha=0.5)
    with pytest.raises(ValueError, match="NaN"):
        ctorch.fit_distilled(X, np.full_like(logits, np.nan), 3.0)


def test_threshold_grid_snaps_to_real_thresholds():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 5)) * 6
    belief = np.exp(z - z.max(axis=1, keepdims=True))
    belief /= belief.sum(axis=1, keepdims=True)
    all_thr = crembo.thresholds(belief)
    grid = ctorch.threshold_grid(belief, 20)
    assert len(grid) <= 21 and grid[0] == all_thr[0]
    assert np.all(np.diff(grid) > 0)
    assert np.isin(grid, all_thr).all()
    assert grid.max() > 0.5 and grid[1] < 1e-3  # both scales covered
    small = np.array([[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_array_equal(ctorch.threshold_grid(small, 10), crembo.thresholds(small))
    with pytest.raises(ValueError):
        ctorch.threshold_grid(belief, 1)


def test_crembo_with_torch_students(iris):
    X, y = iris
    teacher = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y)
    oracle = ctorch.TorchOracle(**FAST)
    # the library's estimator with a torch student
    est = crembo.CREMBOClassifier(teacher=teacher, student=oracle, delta=3, random_state=0, n_jobs=1).fit(X, y)
    assert (est.predict(X) == y).mean() > 0.85
    assert len(est.scan_.thresholds) >= 1
    # the grid loop
    res = ctorch.crembo_torch(X, y, teacher, oracle, n_thresholds=6, random_state=0)
    assert (res.predict(X) == y).mean() > 0.85
    assert res.threshold_ >= res.memo_threshold_
    assert res.threshold_ in set(res.scan_["thresholds"].tolist())
    assert res.depth_ == res.scan_["depths"][list(res.scan_["thresholds"]).index(res.threshold_)]


def test_clear_error_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    monkeypatch.delitem(sys.modules, "crembo.torch")
    try:
        with pytest.raises(ImportError, match=r"crembo\[torch\]"):
            importlib.import_module("crembo.torch")
    finally:
        monkeypatch.undo()
        importlib.import_module("crembo.torch")
