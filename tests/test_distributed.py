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
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_classes=3,
                               n_clusters_per_class=1, flip_y=0.05, random_state=11)
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


@pytest.mark.parametrize("student", ["sklearn", "native"])
def test_crembo_scan_on_the_cluster_equals_local(client, data, student):
    X, y = data
    make_student = (lambda: None) if student == "sklearn" else (lambda: crembo.AllowedLabelTreeClassifier(max_depth=3))
    local = crembo.CREMBOClassifier(teacher=forest(), student=make_student(), random_state=4, n_jobs=1).fit(X, y)
    with distributed.get_task_stream(client) as stream:
        remote = fit_on_dask(crembo.CREMBOClassifier(teacher=forest(), student=make_student(), random_state=4),
                             X, y, client)
    # The scan (and the forest's fit) ran as tasks on the workers.
    names = " ".join(str(t["key"]) for t in stream.data)
    assert "_scan_one" in names, names[:500]
    assert {t["worker"] for t in stream.data} <= set(client.scheduler_info()["workers"])
    for field in ("indices", "thresholds", "validation_scores", "depths"):
        np.testing.assert_array_equal(getattr(remote.scan_, field), getattr(local.scan_, field))
    assert remote.threshold_ == local.threshold_ and remote.memo_threshold_ == local.memo_threshold_
    np.testing.assert_array_equal(remote.predict(X), local.predict(X))
    np.testing.assert_array_equal(remote.predict_proba(X), local.predict_proba(X))
