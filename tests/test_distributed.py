"""crembo.distributed against a two-worker dask.distributed LocalCluster on loopback.

Every result must equal the local computation exactly (beliefs, the CREMBO scan, predictions).
One module-scoped cluster of two worker processes keeps the file fast.
"""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

import crembo

pytest.importorskip("dask.array", reason="dask is optional: pip install 'crembo[dask]'")
distributed = pytest.importorskip("distributed", reason="distributed is optional: pip install 'crembo[dask]'")

import dask.array as da  # noqa: E402

from crembo.distributed import belief_from_dask, fit_on_dask  # noqa: E402


@pytest.fixture(scope="module")
def client():
    # Worker processes (not threads), so models, oracles and data really cross a process boundary.
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, n_clusters_per_class=1, flip_y=0.05, random_state=11
    )
    return X, np.array(["x", "y", "z"])[y]


def forest(seed=0):
    return RandomForestClassifier(n_estimators=12, max_depth=5, random_state=seed)


def test_forest_belief_over_dask_array_equals_local(client, data):
    X, y = data
    rf = forest().fit(X, y)
    local = crembo.make_teacher(rf).belief(X, rf.classes_)
    # Uneven row chunks, and feature chunks that must be joined before a belief can be computed.
    Xd = da.from_array(X, chunks=((70, 100, 130), (3, 3)))
    lazy = belief_from_dask(rf, Xd)
    assert lazy.shape == (300, 3) and lazy.chunks[0] == (70, 100, 130)
    np.testing.assert_array_equal(client.compute(lazy).result(), local)
    # The votes are counted exactly: every entry is a multiple of 1/12.
    np.testing.assert_allclose(local * 12, np.round(local * 12), atol=1e-12)


def test_proba_belief_over_dask_dataframe_equals_local(client, data):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = data
    model = LogisticRegression(max_iter=500).fit(X, y)
    local = crembo.belief_from_proba(model.predict_proba(X))
    df = dd.from_pandas(pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]), npartitions=4)
    np.testing.assert_array_equal(client.compute(belief_from_dask(model, df)).result(), local)
    # A column order given explicitly.
    swapped = belief_from_dask(model, da.from_array(X, chunks=100), classes=["z", "y", "x"])
    np.testing.assert_array_equal(client.compute(swapped).result(), local[:, ::-1])


def test_belief_input_errors():
    with pytest.raises(TypeError, match="dask array or dask dataframe"):
        belief_from_dask(forest().fit([[0.0], [1.0]], [0, 1]), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="2-D"):
        belief_from_dask(forest().fit([[0.0], [1.0]], [0, 1]), da.zeros(4, chunks=2))


@pytest.mark.parametrize(("student", "selection"), [("sklearn", "paper"), ("native", "paper"), ("native", "cv")])
def test_crembo_scan_on_the_cluster_equals_local(client, data, student, selection):
    X, y = data
    make_student = (lambda: None) if student == "sklearn" else (lambda: crembo.AllowedLabelTreeClassifier(max_depth=3))
    local = crembo.CREMBOClassifier(
        teacher=forest(), student=make_student(), random_state=4, n_jobs=1, selection=selection
    ).fit(X, y)
    with distributed.get_task_stream(client) as stream:
        remote = fit_on_dask(
            crembo.CREMBOClassifier(teacher=forest(), student=make_student(), random_state=4, selection=selection),
            X,
            y,
            client,
        )
    # The scan (one task per threshold, or per cross-validation fold) ran as tasks on the workers.
    names = " ".join(str(t["key"]) for t in stream.data)
    assert ("_scan_one" if selection == "paper" else "_score_split") in names, names[:500]
    assert {t["worker"] for t in stream.data} <= set(client.scheduler_info()["workers"])
    for field in ("indices", "thresholds", "validation_scores", "depths"):
        np.testing.assert_array_equal(getattr(remote.scan_, field), getattr(local.scan_, field))
    assert remote.threshold_ == local.threshold_ and remote.memo_threshold_ == local.memo_threshold_
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))


# ---------------------------------------------------------------- fit_distributed


@pytest.fixture(scope="module")
def big():
    # rounded features: few distinct values per partition, so the quantile summaries stay exact
    # and the bin edges equal a local fit's; 1,800 rows in uneven partitions
    X, y = make_classification(
        n_samples=2400, n_features=8, n_informative=5, n_classes=4, n_clusters_per_class=1, flip_y=0.05, random_state=3
    )
    rf = RandomForestClassifier(n_estimators=16, max_depth=6, random_state=0).fit(X[1800:], y[1800:])
    return X[:1800], y[:1800], rf, X[1800:], y[1800:]


def _crembo(rf, student=None, **kw):
    kw.setdefault("selection", "paper")  # fit_distributed's only selection
    return crembo.CREMBOClassifier(teacher=rf, student=student, random_state=4, n_jobs=1, **kw)


def _assert_same_fit(remote, local):
    for field in ("indices", "thresholds", "validation_scores", "fidelities", "depths"):
        np.testing.assert_array_equal(getattr(remote.scan_, field), getattr(local.scan_, field), err_msg=field)
    assert remote.scan_.position == local.scan_.position  # the chosen entry (the CLI reports it)
    np.testing.assert_array_equal(remote.memo_.thresholds, local.memo_.thresholds)
    assert [(c.index, c.consistent, c.depth) for c in remote.memo_.trace] == [
        (c.index, c.consistent, c.depth) for c in local.memo_.trace
    ]
    for attr in (
        "threshold_",
        "memo_threshold_",
        "depth_",
        "validation_score_",
        "fidelity_",
        "teacher_validation_score_",
        "n_features_in_",
    ):
        assert getattr(remote, attr) == getattr(local, attr), attr
    np.testing.assert_array_equal(remote.classes_, local.classes_)
    for f in ("feature", "bin", "threshold", "left", "right", "label", "value"):
        np.testing.assert_array_equal(getattr(remote.estimator_.tree_, f), getattr(local.estimator_.tree_, f))


@pytest.mark.parametrize("student,search", [(None, "binary"), ("consistency", "gallop")])
def test_fit_distributed_equals_a_local_fit(client, big, student, search):
    from crembo.distributed import fit_distributed, predict

    X, y, _, X_test, _ = big
    make_student = (
        (lambda: None)
        if student is None
        else (lambda: crembo.AllowedLabelTreeClassifier(max_depth=3, criterion="consistency", min_samples_leaf=5))
    )
    labels = np.array(["ant", "bee", "cat", "dog"])
    rf_named = RandomForestClassifier(n_estimators=16, max_depth=6, random_state=0).fit(X_test, labels[big[4]])
    local = _crembo(rf_named, make_student(), search=search).fit(X, labels[y])
    with distributed.get_task_stream(client) as stream:
        remote = fit_distributed(
            _crembo(rf_named, make_student(), search=search),
            da.from_array(X, chunks=((300, 500, 400, 600), 8)),
            da.from_array(labels[y], chunks=450),
            client,
            batch_size=3,
        )
    # the histograms were built next to the data, on both workers
    names = " ".join(str(t["key"]) for t in stream.data)
    assert "round_" in names and "evaluate" in names and "prepare" in names
    assert len({t["worker"] for t in stream.data if "round_" in str(t["key"])}) == 2
    assert remote.distributed_info_["sketch_exact"] and remote.distributed_info_["partitions"] == 4
    _assert_same_fit(remote, local)
    np.testing.assert_array_equal(remote.predict(X_test), local.predict(X_test))
    # leaf scores are weighted sums (balanced weights) added per partition, then across: the
    # same numbers in another order
    np.testing.assert_allclose(remote.predict_proba(X_test), local.predict_proba(X_test), rtol=1e-12, atol=1e-15)
    lazy = predict(remote, da.from_array(X_test, chunks=250))
    assert lazy.chunks == ((250, 250, 100),)
    np.testing.assert_array_equal(client.compute(lazy).result(), local.predict(X_test))


def test_fit_distributed_dataframe_and_saved_student(client, big, tmp_path):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    from crembo.distributed import fit_distributed, predict

    X, y, _, X_test, y_test = big
    cols = [f"f{i}" for i in range(X.shape[1])]
    rf_df = RandomForestClassifier(n_estimators=16, max_depth=6, random_state=0).fit(
        pd.DataFrame(X_test, columns=cols), y_test
    )
    local = _crembo(rf_df, belief_dtype="float32").fit(pd.DataFrame(X, columns=cols), y)
    remote = fit_distributed(
        _crembo(rf_df, belief_dtype="float32"),
        dd.from_pandas(pd.DataFrame(X, columns=cols), npartitions=3),
        dd.from_pandas(pd.Series(y), npartitions=2),
        client,
    )
    _assert_same_fit(remote, local)
    assert list(remote.feature_names_in_) == cols
    df_test = pd.DataFrame(X_test, columns=cols)
    np.testing.assert_array_equal(remote.predict(df_test), local.predict(df_test))
    np.testing.assert_array_equal(
        client.compute(predict(remote, dd.from_pandas(df_test, npartitions=2))).result(), local.predict(df_test)
    )
    path = tmp_path / "student.skops"
    from crembo.persistence import load_student, save_student

    save_student(remote, path)
    np.testing.assert_array_equal(load_student(path).predict(df_test), local.predict(df_test))


def test_fit_distributed_sketch_edges_differ_accuracy_within_half_a_point(client):
    from crembo.distributed import fit_distributed

    # continuous features and 4 partitions of 1,500 training rows, with summaries of at most
    # 300 values: every merge compresses, so the bin edges are the sketch's, not the local ones
    X, y = make_classification(
        n_samples=12_000,
        n_features=6,
        n_informative=4,
        n_classes=3,
        n_clusters_per_class=1,
        flip_y=0.05,
        random_state=5,
    )
    X_fit, y_fit, X_test, y_test = X[:7000], y[:7000], X[7000:], y[7000:]
    rf = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0).fit(X_test[:1000], y_test[:1000])
    local = _crembo(rf).fit(X_fit, y_fit)
    remote = fit_distributed(
        _crembo(rf), da.from_array(X_fit, chunks=1750), da.from_array(y_fit, chunks=1750), client, sketch_size=300
    )
    assert not remote.distributed_info_["sketch_exact"]
    # the same candidates (the belief does not depend on the edges), different edges
    np.testing.assert_array_equal(remote.memo_.thresholds, local.memo_.thresholds)
    assert not np.array_equal(remote.estimator_.tree_.threshold, local.estimator_.tree_.threshold)
    acc_local = np.mean(local.predict(X_test) == y_test)
    acc_remote = np.mean(remote.predict(X_test) == y_test)
    assert abs(acc_remote - acc_local) <= 0.005, (acc_remote, acc_local)


def test_fit_distributed_input_errors(client, big):
    from sklearn.tree import DecisionTreeClassifier

    from crembo.distributed import fit_distributed

    X, y, rf, _, _ = big
    Xd, yd = da.from_array(X, chunks=900), da.from_array(y, chunks=900)
    with pytest.raises(TypeError, match="dask arrays or dask dataframes"):
        fit_distributed(_crembo(rf), X, y, client)
    with pytest.raises(ValueError, match="fitted teacher"):
        fit_distributed(_crembo(RandomForestClassifier()), Xd, yd, client)
    with pytest.raises(TypeError, match="fitted teacher model"):
        fit_distributed(_crembo(None), Xd, yd, client)
    with pytest.raises(TypeError, match="AllowedLabelTreeClassifier"):
        fit_distributed(_crembo(rf, DecisionTreeClassifier(max_depth=3)), Xd, yd, client)
    with pytest.raises(ValueError, match="eps=0"):
        fit_distributed(_crembo(rf, eps=0.1), Xd, yd, client)
    with pytest.raises(ValueError, match="selection='paper'"):
        fit_distributed(_crembo(rf, selection="cv"), Xd, yd, client)
    with pytest.raises(ValueError, match="samples but y has"):
        fit_distributed(_crembo(rf), Xd, yd[:10], client)
    with pytest.raises(ValueError, match="sketch_size"):
        fit_distributed(_crembo(rf), Xd, yd, client, sketch_size=100)
    X_inf = X.copy()
    X_inf[7, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        fit_distributed(_crembo(rf), da.from_array(X_inf, chunks=900), yd, client)


def test_fit_distributed_survives_a_killed_worker(client, big, monkeypatch):
    # Last in the file: it kills one of the module cluster's workers (its nanny restarts it).
    import os
    import signal
    from concurrent.futures import ThreadPoolExecutor

    from crembo.distributed import _fit, fit_distributed

    X, y, rf, X_test, _ = big
    Xd, yd = da.from_array(X, chunks=450), da.from_array(y, chunks=450)
    expected = fit_distributed(_crembo(rf), Xd, yd, client)
    pids = client.run(os.getpid)
    rounds = {"n": 0, "killed": None}
    original = _fit._DaskFit._round

    def round_after_a_kill(self, requests):
        rounds["n"] += 1
        if rounds["n"] == 3:  # inside MEMO's first student: kill a worker that holds shards
            holder = next(iter(client.who_has(self.shards[:1]).values()))[0]
            rounds["killed"] = pids[holder]
            os.kill(pids[holder], signal.SIGKILL)
        return original(self, requests)

    monkeypatch.setattr(_fit._DaskFit, "_round", round_after_a_kill)
    with ThreadPoolExecutor(1) as pool:  # a generous bound, so a hang fails instead of blocking
        remote = pool.submit(fit_distributed, _crembo(rf), Xd, yd, client).result(timeout=600)
    assert rounds["killed"] is not None and rounds["n"] > 3
    _assert_same_fit(remote, expected)
    np.testing.assert_array_equal(remote.predict(X_test), expected.predict(X_test))
    client.wait_for_workers(2, timeout=300)
    assert rounds["killed"] not in client.run(os.getpid).values()
