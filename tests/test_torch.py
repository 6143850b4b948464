import dataclasses
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


@pytest.fixture(scope="module")
def split_iris(iris):
    """Iris shuffled into train / validation / test, and a logistic-regression teacher's logits."""
    X, y = iris
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    tr, va, te = slice(0, 90), slice(90, 120), slice(120, 150)
    teacher = LogisticRegression(max_iter=500, C=0.3).fit(X[tr], y[tr])
    return dict(
        X=X[tr], y=y[tr], X_val=X[va], y_val=y[va], X_te=X[te], y_te=y[te], logits=teacher.decision_function(X[tr])
    )


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
    # an infinite step or weight decay would train to NaN weights without a word
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got inf"):
        ctorch.TorchOracle(lr=np.inf).fit(X, np.ones((4, 2), bool))
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0, got inf"):
        ctorch.TorchOracle(weight_decay=np.inf).fit(X, np.ones((4, 2), bool))
    with pytest.raises(TypeError, match=r"epochs must be an int >= 1, got 2.0"):
        ctorch.TorchOracle(epochs=2.0).fit(X, np.ones((4, 2), bool))
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


# ------------------------------------------------------------------ the DNN -> DNN recipe (issue 18)


def test_allowed_set_loss_is_minus_log_allowed_mass():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=g)
    allowed = torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 1, 0]]).bool()
    p = torch.softmax(logits, dim=1)
    manual = -torch.log((p * allowed).sum(dim=1))
    per = ctorch.allowed_set_loss(logits, allowed, reduction="none")
    assert torch.allclose(per[[0, 1, 2, 3, 5]], manual[[0, 1, 2, 3, 5]], atol=1e-6)
    assert float(per[3]) == pytest.approx(0.0, abs=1e-6)  # everything allowed: nothing to pay
    assert float(per[4]) == 0.0  # no allowed label: the row is left out
    assert torch.allclose(ctorch.allowed_set_loss(logits, allowed), manual[[0, 1, 2, 3, 5]].mean(), atol=1e-6)
    # one allowed label: the set loss is cross-entropy on it
    assert float(per[0]) == pytest.approx(float(torch.nn.functional.cross_entropy(logits[:1], torch.tensor([0]))))
    with pytest.raises(ValueError, match="shape"):
        ctorch.allowed_set_loss(logits, allowed[:, :3])
    with pytest.raises(ValueError, match="reduction"):
        ctorch.allowed_set_loss(logits, allowed, reduction="max")


def test_clip_belief_and_tempered_belief():
    b = np.array([[0.005, 0.095, 0.9], [0.001, 0.004, 0.995], [0.3, 0.3, 0.4]])
    c = ctorch.clip_belief(b)
    np.testing.assert_array_equal(c, [[0.0, 0.095, 0.9], [0.0, 0.0, 1.0], [0.3, 0.3, 0.4]])
    assert b[0, 0] == 0.005  # the input is not modified
    with pytest.raises(ValueError, match="clip"):
        ctorch.clip_belief(b, 0.5, 0.5)
    with pytest.raises(ValueError, match="belief"):
        ctorch.clip_belief(b * 2)
    z = np.array([[2.0, 0.0, -1.0]])
    np.testing.assert_allclose(ctorch.net_belief(z), np.exp(z) / np.exp(z).sum())
    hot = ctorch.net_belief(z, temperature=4.0)
    np.testing.assert_allclose(hot, np.exp(z / 4) / np.exp(z / 4).sum())
    assert hot.max() < ctorch.net_belief(z).max()  # a higher temperature spreads the belief
    with pytest.raises(ValueError, match="temperature"):
        ctorch.net_belief(z, temperature=0)
    with pytest.raises(ValueError, match="NaN"):
        ctorch.net_belief(np.array([[np.nan, 1.0]]))


def test_recipe_validation():
    assert ctorch.PAPER_RECIPE.loss == "bce" and ctorch.PAPER_RECIPE.clip == (0.01, 0.9)
    assert ctorch.PAPER_RECIPE.delta == 20 and ctorch.PAPER_RECIPE.memo
    for bad in (
        dict(loss="mse"),
        dict(loss=()),
        dict(loss=("bce", "mse")),
        dict(clip=(0.9, 0.1)),
        dict(temperature=-1.0),
        dict(delta=0),
        dict(max_scan=0),
        dict(n_thresholds=1),
    ):
        with pytest.raises(ValueError):
            ctorch.Recipe(**bad)


def test_early_stopping_keeps_the_best_validation_epoch(split_iris):
    d = split_iris
    s = ctorch.fit_supervised(
        d["X"],
        d["y"],
        3,
        X_val=d["X_val"],
        y_val=d["y_val"],
        random_state=0,
        hidden=(8,),
        epochs=400,
        lr=3e-2,
        batch_size=16,
        patience=5,
        n_threads=1,
    )
    h = s.history_
    assert h["epochs"] < 400 and h["epochs"] - h["best_epoch"] == 5  # stopped by patience, not by the limit
    # the weights kept are the best epoch's: their validation accuracy is the one recorded
    assert np.mean(s.predict(d["X_val"]) == d["y_val"]) == h["validation_accuracy"]
    full = ctorch.fit_supervised(
        d["X"], d["y"], 3, random_state=0, hidden=(8,), epochs=7, lr=3e-2, batch_size=16, n_threads=1
    )
    assert full.history_ == {"epochs": 7}  # without validation data: every epoch, no early stopping
    with pytest.raises(ValueError, match="X_val"):
        ctorch.fit_supervised(d["X"], d["y"], 3, X_val=d["X_val"], **FAST)
    with pytest.raises(ValueError, match="patience"):
        ctorch.fit_supervised(d["X"], d["y"], 3, patience=0, **FAST)


def test_same_seed_same_student_on_cpu(split_iris):
    d = split_iris
    kw = dict(hidden=(8,), epochs=30, lr=3e-2, batch_size=16, n_threads=1)
    runs = [
        ctorch.fit_distilled(d["X"], d["logits"], 2.0, X_val=d["X_val"], y_val=d["y_val"], random_state=s, **kw)
        for s in (5, 5, 6)
    ]
    np.testing.assert_array_equal(runs[0].logits(d["X_te"]), runs[1].logits(d["X_te"]))
    assert not np.array_equal(runs[0].logits(d["X_te"]), runs[2].logits(d["X_te"]))
    a, b = (
        ctorch.crembo_net(
            d["X"], d["logits"], d["X_val"], d["y_val"], random_state=3, memo=False, n_thresholds=4, delta=1, **kw
        )
        for _ in range(2)
    )
    assert a.threshold_ == b.threshold_
    np.testing.assert_array_equal(a.scan_["validation_scores"], b.scan_["validation_scores"])
    np.testing.assert_array_equal(a.student_.logits(d["X_te"]), b.student_.logits(d["X_te"]))


def test_device_choice():
    from crembo._torch_training import resolve_device

    assert resolve_device(None).type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            ctorch.TrainConfig(device="cuda")


def test_progress_bar(split_iris, capsys):
    d = split_iris
    ctorch.fit_supervised(
        d["X"],
        d["y"],
        3,
        X_val=d["X_val"],
        y_val=d["y_val"],
        random_state=0,
        progress=True,
        hidden=(4,),
        epochs=3,
        n_threads=1,
    )
    err = capsys.readouterr().err
    assert "supervised" in err and "val_acc" in err


def test_crembo_net_paper_recipe(split_iris):
    d = split_iris
    kw = dict(hidden=(8,), epochs=40, lr=3e-2, batch_size=32, patience=10, n_threads=1)
    r = ctorch.crembo_net(d["X"], d["logits"], d["X_val"], d["y_val"], random_state=0, delta=5, **kw)
    belief = ctorch.clip_belief(ctorch.net_belief(d["logits"]))
    cands = crembo.thresholds(belief, validate=False)
    assert r.n_candidates_ == len(cands) and r.step_ == 5
    # MEMO: a binary search whose last consistent index starts the scan
    consistent = [m for m, _, ok in r.memo_trace_ if ok]
    assert r.memo_index_ == (max(consistent) if consistent else 0)
    np.testing.assert_array_equal(r.scan_["thresholds"], cands[r.memo_index_ :: 5])
    best = int(np.argmax(r.scan_["validation_scores"]))
    assert r.threshold_ == r.scan_["thresholds"][best] and r.validation_score_ == r.scan_["validation_scores"][best]
    assert np.mean(r.predict(d["X_val"]) == d["y_val"]) == r.validation_score_
    assert r.depth_ == crembo.hypothesis_depth(belief, r.predict(d["X"]), validate=False)
    assert r.n_fits_ <= len(r.memo_trace_) + len(r.scan_["thresholds"])
    assert (r.predict(d["X_te"]) == d["y_te"]).mean() > 0.8
    capped = ctorch.crembo_net(
        d["X"], d["logits"], d["X_val"], d["y_val"], random_state=0, memo=False, max_scan=3, **kw
    )
    assert len(capped.scan_["thresholds"]) <= 3 and capped.step_ >= 20
    with pytest.raises(ValueError, match="X_val"):
        ctorch.crembo_net(d["X"], d["logits"], None, None, **kw)
    with pytest.raises(ValueError, match="recipe"):
        ctorch.crembo_net(d["X"], d["logits"], d["X_val"], d["y_val"], recipe="best", **kw)


def test_crembo_net_chooses_the_loss_with_the_threshold(split_iris):
    d = split_iris
    kw = dict(hidden=(8,), epochs=30, lr=3e-2, batch_size=32, patience=10, n_threads=1)
    r = ctorch.crembo_net(
        d["X"], d["logits"], d["X_val"], d["y_val"], recipe="ours", n_thresholds=4, random_state=1, **kw
    )
    assert r.recipe_ == dataclasses.replace(ctorch.OUR_RECIPE, n_thresholds=4)
    losses = r.scan_["losses"]
    assert list(dict.fromkeys(losses)) == ["bce", "set"] and r.memo_trace_ == []
    n = int((losses == "bce").sum())
    assert n == int((losses == "set").sum()) and r.n_fits_ == 2 * n == len(r.students_)
    np.testing.assert_array_equal(r.scan_["thresholds"][:n], r.scan_["thresholds"][n:])
    best = int(np.argmax(r.scan_["validation_scores"]))
    assert (r.loss_, r.threshold_) == (losses[best], r.scan_["thresholds"][best])
    assert r.student_ is r.students_[best]
    # each half of the scan is the single-loss run
    for loss, rows in (("bce", slice(0, n)), ("set", slice(n, None))):
        single = ctorch.crembo_net(
            d["X"], d["logits"], d["X_val"], d["y_val"], recipe="ours", loss=loss, n_thresholds=4, random_state=1, **kw
        )
        np.testing.assert_array_equal(single.scan_["validation_scores"], r.scan_["validation_scores"][rows])
    with pytest.raises(ValueError, match="one allowed-label loss"):
        ctorch.crembo_kd_net(d["X"], d["logits"], d["X_val"], d["y_val"], 0.1, recipe="ours", **kw)
    ckd = ctorch.crembo_kd_net(
        d["X"],
        d["logits"],
        d["X_val"],
        d["y_val"],
        r.threshold_,
        recipe="ours",
        loss=r.loss_,
        weights=(0.5,),
        random_state=1,
        **kw,
    )
    assert ckd.loss_ == r.loss_ and ckd.weight_ == 0.5


def test_crembo_kd_chooses_the_weight_on_validation(split_iris):
    d = split_iris
    kw = dict(hidden=(8,), epochs=40, lr=3e-2, batch_size=32, patience=10, n_threads=1, random_state=2)
    r = ctorch.crembo_kd_net(
        d["X"], d["logits"], d["X_val"], d["y_val"], 0.1, weights=(0.0, 0.5, 1.0), kd_temperature=3.0, **kw
    )
    scores = r.scan_["validation_scores"]
    assert r.weight_ == (0.0, 0.5, 1.0)[int(np.argmax(scores))]
    assert len(r.students_) == 3 and r.student_ is r.students_[int(np.argmax(scores))]
    # weight 0 is the pure allowed-label student at that threshold
    allowed = crembo.allowed_labels(ctorch.clip_belief(ctorch.net_belief(d["logits"])), 0.1, validate=False)
    plain = ctorch.fit_allowed(d["X"], allowed, X_val=d["X_val"], y_val=d["y_val"], **kw)
    assert np.mean(plain.predict(d["X_val"]) == d["y_val"]) == scores[0]
    # weight 1 is plain distillation (the allowed term has no weight left)
    kd = ctorch.fit_distilled(d["X"], d["logits"], 3.0, X_val=d["X_val"], y_val=d["y_val"], **kw)
    assert np.mean(kd.predict(d["X_val"]) == d["y_val"]) == scores[2]
    with pytest.raises(ValueError, match="weights"):
        ctorch.crembo_kd_net(d["X"], d["logits"], d["X_val"], d["y_val"], 0.1, weights=(1.5,), **kw)
    with pytest.raises(ValueError, match="teacher_logits"):
        ctorch.fit_allowed(d["X"], allowed, kd_weight=0.5, **FAST)
    with pytest.raises(ValueError, match="loss"):
        ctorch.fit_allowed(d["X"], allowed, loss="hinge", **FAST)
