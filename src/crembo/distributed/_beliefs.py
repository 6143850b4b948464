"""Beliefs over dask collections, and a local fit whose scan runs on a cluster (joblib's dask
backend).

- ``belief_from_dask(model, X)``: the teacher's belief over a dask array or dataframe, one
  ``map_blocks`` task per row chunk. Each task runs the same code as ``CREMBOClassifier``: an
  ensemble's members vote on the block and ``crembo.belief_from_votes`` counts the stacked
  (T, rows) votes natively; other models give ``predict_proba`` -> ``crembo.belief_from_proba``.
  The model goes into the graph once (as one delayed object), not once per chunk.
- ``fit_on_dask(estimator, X, y, client)``: fit under joblib's dask backend, so CREMBO's
  threshold scan (a ``joblib.Parallel`` over thresholds) runs on the cluster's workers. Results
  equal a local fit: every task is seeded and the scan keeps the results in threshold order.
"""

import contextlib

import numpy as np

__all__ = ["belief_from_dask", "dask_backend", "fit_on_dask"]


def _require_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError('crembo.distributed needs dask: pip install "crembo[dask]"') from exc
    return dask, da


def _block_belief(block, teacher, classes):
    # Called on a worker with one row chunk (all feature columns) of X.
    block = np.asarray(block, dtype=np.float64)
    if block.shape[0] == 0:
        return np.zeros((0, len(classes)))
    return teacher.belief(block, classes)


def _as_dask_array(X, da):
    """A 2-D float64 dask array chunked by rows only (a dataframe is converted with known lengths)."""
    if hasattr(X, "to_dask_array"):  # dask dataframe
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask array or dask dataframe, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got {X.ndim}-D")
    if any(np.isnan(c) for c in X.chunks[0]):
        raise ValueError("X has unknown chunk sizes; call X.compute_chunk_sizes() first")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must be numeric, got dtype {X.dtype}")
    if len(X.chunks[1]) > 1:  # a belief row needs every feature of its sample
        X = X.rechunk({1: -1})
    return X.astype(np.float64)


def belief_from_dask(model, X, classes=None, *, backend=None):
    """Lazy (n_samples, n_classes) belief of a fitted teacher over a dask array or dataframe.

    Parameters
    ----------
    model : fitted classifier or crembo.teachers.Teacher
        An ensemble (random forest, bagging, ...: hard votes) or any model with ``predict_proba``.
    X : dask.array.Array or dask.dataframe.DataFrame, shape (n_samples, n_features)
    classes : array-like or None
        Labels of the output columns; None: ``model.classes_``.
    backend : str or None
        crembo kernel backend used on the workers.

    Returns
    -------
    dask.array.Array of float64, chunked by the rows of X; call ``.compute()`` for numbers.
    """
    dask, da = _require_dask()
    from crembo.teachers import Teacher, make_teacher

    if classes is None:
        classes = getattr(model, "classes_", None)
        if classes is None:
            raise ValueError("the model has no classes_; pass classes=")
    classes = np.asarray(classes)
    teacher = model if isinstance(model, Teacher) else make_teacher(model, backend=backend)
    X = _as_dask_array(X, da)
    # Workers run many tasks at once: one kernel thread and one member-prediction job per task.
    if hasattr(teacher, "n_jobs"):
        import copy

        teacher = copy.copy(teacher)
        teacher.n_jobs = 1
    teacher_d = dask.delayed(teacher, pure=True)
    return da.map_blocks(
        _block_belief,
        X,
        teacher_d,
        classes,
        dtype=np.float64,
        chunks=(X.chunks[0], (len(classes),)),
        meta=np.empty((0, 0), dtype=np.float64),
    )


@contextlib.contextmanager
def dask_backend(client=None, **backend_kwargs):
    """``joblib.parallel_backend("dask")`` bound to ``client`` (None: the current default client)."""
    _require_dask()
    import joblib

    if client is not None:
        # joblib's dask backend uses the default client; make ours the default while inside.
        with client.as_current(), joblib.parallel_backend("dask", **backend_kwargs):
            yield
    else:
        with joblib.parallel_backend("dask", **backend_kwargs):
            yield


def fit_on_dask(estimator, X, y, client=None, **backend_kwargs):
    """``estimator.fit(X, y)`` with joblib's dask backend active, so its ``joblib.Parallel`` work
    (CREMBO's threshold scan; a forest teacher's tree fitting) runs on the Dask cluster.

    ``estimator.n_jobs`` should be None or -1 (use every worker thread); the fitted estimator is
    returned. Data in X and y are numpy arrays on the client; joblib ships them to the workers.
    """
    with dask_backend(client, **backend_kwargs):
        return estimator.fit(X, y)
