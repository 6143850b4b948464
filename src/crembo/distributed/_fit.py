"""CREMBO on rows that stay on the Dask workers: ``fit_distributed`` and ``predict``.

The client never holds rows. In order, each step a set of tasks next to the partitions whose
small results are summed in a fixed pairwise order (so they do not depend on which worker ran
what):

1. labels: each partition's distinct labels and counts -> ``classes_`` and the class counts;
2. split: the client draws ``CREMBOClassifier``'s stratified holdout from the counts alone
   (``_split``) and sends each partition a packed bit per row saying which are held out;
3. belief: each partition splits itself, runs the (fitted) teacher on its training rows and
   labels its validation rows;
4. bin edges: a mergeable quantile summary per partition (``crembo.tree.sketch``), merged;
   each partition then bins its rows (1 byte per value) and drops its floats;
5. candidates and balanced-weight counts: distinct belief values, and per threshold and label
   how many rows allow it;
6. MEMO (the same search code as ``crembo.memo``) and the scan: each student fit grows a tree a
   level per round (``crembo.tree.level_grower``): the partitions build the histograms of the
   level's nodes, the client sums them and picks the splits with the native split kernel.
   Trees of the scan are grown ``batch_size`` at a time (one round serves a level of each).
   Each finished tree gets one more round: its depth on the training rows and its hits on the
   validation rows.

Every task is a pure function of its partition (recomputed by Dask from the collection's graph
when a worker is lost), so a retried task returns the same numbers.
"""

import time

import numpy as np

from crembo import _validation as v
from crembo.distributed import _parts as P
from crembo.distributed._beliefs import _require_dask
from crembo.distributed._split import validation_masks

__all__ = ["fit_distributed", "predict"]

# Distinct belief values a partition reports exactly; past it, that many at even ranks (the
# bounded candidates then come from an approximation of the distinct values).
UNIQUE_CAP = 1 << 16


# Results the client gathers per round without reducing them on the cluster first: summing
# on the client saves a task hop per level of a reduction tree (rounds are latency-bound at small
# n); larger results are reduced on the cluster so the client holds one summed copy.
GATHER_BYTES = 8 << 20


def _tree_reduce(client, futures, fn, *args, nbytes=None):
    """Reduce futures pairwise in a fixed order (results do not depend on which worker ran
    what): on the cluster while gathering them would pass GATHER_BYTES (``nbytes``: the size of
    one result; None: always on the cluster), then on the client. Returns the result."""
    futures = list(futures)
    while len(futures) > 1 and (nbytes is None or nbytes * len(futures) > GATHER_BYTES):
        nxt = [client.submit(fn, futures[i], futures[i + 1], *args, pure=False) for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            nxt.append(futures[-1])
        futures = nxt
    parts = client.gather(futures)
    while len(parts) > 1:  # the same pairwise order as on the cluster
        parts = [fn(parts[i], parts[i + 1], *args) for i in range(0, len(parts) - 1, 2)] + (
            [parts[-1]] if len(parts) % 2 else []
        )
    return parts[0]


def _map_reduce(client, shards, fn, args, reduce_fn, *reduce_args, nbytes=None):
    futs = [client.submit(fn, s, *args, pure=False) for s in shards]
    return _tree_reduce(client, futs, reduce_fn, *reduce_args, nbytes=nbytes)


def _check_student(estimator, seed):
    from crembo._memo import seeded_oracle
    from crembo.oracles import FitAllowedOracle
    from crembo.tree import AllowedLabelTreeClassifier

    oracle = seeded_oracle(estimator.student, seed)
    learner = getattr(oracle, "learner", None)
    if type(oracle) is not FitAllowedOracle or not isinstance(learner, AllowedLabelTreeClassifier):
        raise TypeError(
            "fit_distributed grows crembo's native tree from summed histograms: the student must be None or an "
            f"AllowedLabelTreeClassifier, got {type(estimator.student).__name__}"
        )
    learner._check_params()
    if learner.solver != "greedy":
        raise ValueError("fit_distributed supports solver='greedy' only (the exact solver needs every row)")
    return learner


def _check_estimator(estimator):
    from crembo._estimator_inputs import _check_params
    from crembo.estimator import CREMBOClassifier

    if not isinstance(estimator, CREMBOClassifier):
        raise TypeError(f"estimator must be a CREMBOClassifier, got {type(estimator).__name__}")
    thresholds = _check_params(estimator)
    if estimator.eps != 0:
        raise ValueError("fit_distributed supports eps=0 (the paper's strict depth) only")
    if estimator.selection != "paper":
        # Cross-validation over partitions is not implemented: say so rather than run another
        # selection than the estimator's parameters state.
        raise ValueError(
            "fit_distributed runs the paper's holdout selection only: pass CREMBOClassifier(..., selection='paper') "
            f"(got selection={estimator.selection!r})"
        )
    return thresholds


def _teacher(estimator):
    import copy

    from crembo.teachers import BeliefTeacher, Teacher, make_teacher

    t = estimator.teacher
    if t is None or isinstance(t, (np.ndarray, list, tuple, BeliefTeacher)):
        raise TypeError(
            "fit_distributed needs a fitted teacher model (or a crembo Teacher): fit it on a sample, or on the "
            "cluster (e.g. xgboost.dask), first; a belief matrix would have to live on the client"
        )
    try:
        teacher = t if isinstance(t, Teacher) else make_teacher(t, backend=estimator.backend)
    except ValueError as exc:
        raise ValueError(f"fit_distributed needs a fitted teacher: {exc}") from exc
    if hasattr(teacher, "n_jobs"):  # one kernel thread per task: workers run tasks side by side
        teacher = copy.copy(teacher)
        teacher.n_jobs = 1
    return teacher


def _as_dask_xy(X, y, da):
    names = None
    if hasattr(X, "to_dask_array"):  # dask dataframe
        names = np.asarray(X.columns, dtype=object)
        if not all(isinstance(c, str) for c in names):
            names = None
        X = X.to_dask_array(lengths=True)
    if hasattr(y, "to_dask_array"):
        y = y.to_dask_array(lengths=True)
    if not isinstance(X, da.Array) or not isinstance(y, da.Array):
        raise TypeError(
            f"X and y must be dask arrays or dask dataframes/series, got {type(X).__name__} and {type(y).__name__}"
        )
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got {X.ndim}-D")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got {y.ndim}-D")
    if any(np.isnan(c) for c in X.chunks[0] + y.chunks[0]):
        raise ValueError("X or y has unknown chunk sizes; call .compute_chunk_sizes() first")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}")
    if X.dtype.kind not in "biuf":
        raise TypeError(f"X must be numeric, got dtype {X.dtype}")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if y.chunks[0] != X.chunks[0]:
        y = y.rechunk((X.chunks[0],))
    return X, y, names


class _DaskFit:
    """The client's side of one ``fit_distributed``: shards (futures) and reductions over them."""

    def __init__(self, client, shards, layout, thr, positives, n_train, n_classes, learner, seed):
        self.client, self.shards, self.layout = client, shards, layout
        self.thr, self.positives, self.n_train, self.k = thr, positives, n_train, n_classes
        self.learner, self.seed = learner, seed
        self.done = {}  # threshold index -> (model, depth, score, seconds, fidelity)

    def _round(self, requests):
        width = self.layout.total_bins * (self.k + 2) + 2 * self.k
        nbytes = 8 * sum(width * (len(r["hists"]) + len(r["sums"])) for r in requests)
        return _map_reduce(self.client, self.shards, P.round_, (self.layout, requests), P.add_results, nbytes=nbytes)

    def fit_many(self, indices):
        """Fit the student at each threshold index (those not fitted yet), grown together."""
        from crembo.oracles import fresh_estimator
        from crembo.tree.level_grower import LevelTree, grow_level_trees

        todo = [i for i in dict.fromkeys(indices) if i not in self.done]
        if not todo:
            return
        start = time.perf_counter()
        lrn = self.learner
        trees = [
            LevelTree(
                self.layout,
                self.n_train,
                self.k,
                self.thr[i],
                self.positives[i],
                lrn.criterion,
                lrn.class_weight == "balanced",
                lrn.max_depth,
                lrn.min_samples_leaf,
            )
            for i in todo
        ]
        grow_level_trees(trees, self._round)
        final = [t.to_tree() for t in trees]
        arrays = [
            {
                "feature": t.feature,
                "bin": t.bin,
                "missing_left": t.missing_left.view(np.uint8),
                "left": t.left,
                "right": t.right,
                "label": t.label,
            }
            for t in final
        ]
        ev = _map_reduce(self.client, self.shards, P.evaluate, (arrays,), P.combine_evals, nbytes=32 * len(arrays))
        seconds = (time.perf_counter() - start) / len(todo)
        for i, tree, (depth, hits, agree, n_val) in zip(todo, final, ev, strict=True):
            model = fresh_estimator(lrn, self.seed)
            model.tree_ = tree
            model.n_features_in_ = self.layout.n_features
            model.n_classes_ = self.k
            model.classes_ = np.arange(self.k)
            model.n_samples_fit_ = self.n_train
            model.consistency_count_ = tree.leaf_consistency()
            self.done[i] = (model, float(depth), float(hits / n_val), seconds, float(agree / n_val))


def fit_distributed(estimator, X, y, client=None, *, batch_size=8, sketch_size=4096):
    """Fit a ``CREMBOClassifier`` on rows partitioned across a Dask cluster.

    Parameters
    ----------
    estimator : CREMBOClassifier
        Its parameters are used as ``fit`` uses them, with these limits: the teacher is a
        *fitted* model (or a ``crembo.teachers.Teacher``), run on the workers; the student is
        None or an ``AllowedLabelTreeClassifier`` (greedy); ``eps=0``; the paper's holdout
        selection (``validation_fraction``). ``search``, ``delta``, ``thresholds``,
        ``belief_dtype``, ``random_state`` and ``backend`` work as in ``fit``.
    X : dask array or dask dataframe (n_samples, n_features), partitioned by rows
    y : dask array or dask series (n_samples,), any row chunking (rechunked like X)
    client : distributed.Client or None (the default client)
    batch_size : int >= 1
        Scan students grown together (one round of tasks serves a level of each).
    sketch_size : int > student's max_bins
        Distinct values a feature's quantile summary keeps exactly (``crembo.tree.sketch``):
        while no summary passes it, the bin edges are exactly those of a local fit.

    Returns
    -------
    The fitted ``estimator``: the same fitted attributes as ``estimator.fit`` (``estimator_``,
    ``threshold_``, ``memo_``, ``scan_``, ...), predicting on numpy arrays as usual (see also
    ``predict`` for dask arrays). With the same rows, seed and, while the summaries are exact,
    bin edges, the split, thresholds, trees and predictions are those of ``estimator.fit`` on
    the gathered rows, up to the summation order of weighted histogram sums.
    """
    dask, da = _require_dask()
    from distributed import default_client, wait
    from sklearn.utils.multiclass import check_classification_targets

    from crembo._candidates import AUTO_MAX_UNIQUE, AUTO_N_QUANTILES, bounded_candidates
    from crembo._estimator_inputs import _nan_policy
    from crembo._memo import MemoResult, OracleCall, resolve_seed, search_thresholds
    from crembo.estimator import ScanResult

    thresholds = _check_estimator(estimator)
    batch_size = v.check_int(batch_size, "batch_size", low=1)
    sketch_size = v.check_int(sketch_size, "sketch_size", low=2)
    seed = resolve_seed(estimator.random_state)
    learner = _check_student(estimator, seed)
    if sketch_size <= learner.max_bins:
        raise ValueError(f"sketch_size ({sketch_size}) must exceed the student's max_bins ({learner.max_bins})")
    teacher = _teacher(estimator)
    client = client if client is not None else default_client()
    X, y, names = _as_dask_xy(X, y, da)
    allow_nan = _nan_policy(estimator.student, estimator.teacher, True) == "allow-nan"
    timings, clock = {"teacher": 0.0}, time.perf_counter()

    def lap(stage):
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = now - clock
        clock = now

    # 1-2: labels and the split, from counts
    x_parts, y_parts = X.to_delayed().ravel(), y.to_delayed().ravel()
    stats = client.gather(client.compute([dask.delayed(P.label_counts)(yp) for yp in y_parts]))
    classes = np.unique(np.concatenate([u for u, _ in stats]))
    check_classification_targets(classes)
    part_counts = np.zeros((len(stats), classes.size), dtype=np.int64)
    for p, (u, c) in enumerate(stats):
        part_counts[p, np.searchsorted(classes, u)] = c
    masks = validation_masks(part_counts.sum(axis=0), estimator.validation_fraction, seed, classes, part_counts)
    del stats
    # 3: belief next to the data (the teacher enters the graph once)
    teacher_d = dask.delayed(teacher, pure=True)
    preps = client.compute(
        [
            dask.delayed(P.prepare)(xp, yp, classes, r, teacher_d, estimator.belief_dtype, allow_nan, names)
            for xp, yp, r in zip(x_parts, y_parts, masks, strict=True)
        ]
    )
    del masks
    wait(preps)
    lap("belief")
    timings["teacher_validation"] = 0.0  # labelled with the belief, in the same tasks
    # 4: bin edges from merged quantile summaries, then binned shards; the floats are dropped
    from crembo.tree.level_grower import Layout

    summary = _map_reduce(client, preps, P.summarise, (int(sketch_size),), P.merge_summaries)
    layout = Layout(summary.bin_edges(learner.max_bins))
    sketch_exact = summary.exact
    del summary
    shards = [client.submit(P.make_shard, p, layout, pure=False) for p in preps]
    wait(shards)
    del preps
    lap("prepare")
    # 5: candidates, sizes, and the balanced weights' counts for every candidate
    values, exact, n_train, teacher_hits, n_val = _map_reduce(
        client, shards, P.shard_summary, (UNIQUE_CAP,), P.merge_shard_summaries, UNIQUE_CAP
    )
    if isinstance(thresholds, np.ndarray):
        thr = thresholds
    elif thresholds == "unique" or (thresholds == "auto" and exact and values.size <= AUTO_MAX_UNIQUE):
        if not exact:
            raise ValueError(
                f"thresholds='unique' with more than {UNIQUE_CAP} distinct belief values is out of "
                "reach here; use 'auto' or an int"
            )
        thr = values
    else:
        thr = bounded_candidates(values, AUTO_N_QUANTILES if thresholds == "auto" else thresholds)
    positives = _map_reduce(client, shards, P.positives, (thr,), P.add, nbytes=8 * thr.size * classes.size)
    run = _DaskFit(client, shards, layout, thr, positives, int(n_train), classes.size, learner, seed)
    # 6: MEMO, then the scan
    trace = []

    def call(i):
        run.fit_many([i])
        model, depth, _, seconds, _ = run.done[i]
        ok = depth >= thr[i]
        trace.append(OracleCall(float(thr[i]), int(i), bool(ok), depth, seconds))
        return model, depth, ok

    lo, best, consistent = search_thresholds(thr, call, estimator.search)
    estimator.memo_ = MemoResult(best[0], float(thr[lo]), int(lo), best[1], thr, trace, consistent)
    lap("memo")
    idx = np.arange(lo, len(thr), estimator.delta)
    for start in range(0, idx.size, batch_size):
        run.fit_many([int(i) for i in idx[start : start + batch_size]])
    lap("scan")
    results = [run.done[int(i)] for i in idx]
    estimator.scan_ = ScanResult.of_paper_loop(idx, thr[idx], results)
    scores, pick = estimator.scan_.validation_scores, estimator.scan_.position
    estimator.classes_ = classes
    estimator.n_features_in_ = layout.n_features
    if names is not None:
        estimator.feature_names_in_ = names
    estimator.teacher_ = teacher
    estimator.estimator_ = results[pick][0]
    estimator.threshold_ = float(thr[idx[pick]])
    estimator.memo_threshold_ = estimator.memo_.threshold
    estimator.depth_ = float(results[pick][1])
    estimator.validation_score_ = float(scores[pick])
    estimator.fidelity_ = float(results[pick][4])
    estimator.teacher_validation_score_ = float(teacher_hits / n_val)
    estimator.timings_ = timings
    estimator.distributed_info_ = {
        "partitions": len(shards),
        "n_train": int(n_train),
        "n_validation": int(n_val),
        "sketch_exact": bool(sketch_exact),
        "candidates_exact": bool(exact),
        "student_fits": len(run.done),
    }
    return estimator


def predict(estimator, X):
    """Lazy predictions of a fitted estimator over a dask array or dataframe (one task per row
    chunk; the estimator enters the graph once). Returns a 1-D dask array of its labels."""
    dask, da = _require_dask()
    from sklearn.utils.validation import check_is_fitted

    from crembo.distributed._beliefs import _as_dask_array

    check_is_fitted(estimator)
    X = _as_dask_array(X, da)
    est = dask.delayed(estimator, pure=True)
    classes = np.asarray(estimator.classes_)
    return X.map_blocks(
        P.predict_block,
        est,
        dtype=classes.dtype,
        drop_axis=1,
        chunks=(X.chunks[0],),
        meta=np.empty((0,), dtype=classes.dtype),
    )
