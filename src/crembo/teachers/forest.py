"""Belief of a fitted tree ensemble without materialising its members' (T, n) predictions.

``forest_vote_counts`` walks the fitted sklearn trees' node arrays natively (Cython, OpenMP) and
counts the members' hard votes on the fly; ``forest_belief`` divides by T. The result equals
``crembo.belief_from_votes(np.stack([m.predict(X) for m in forest.estimators_]), k)`` exactly,
while memory stays at the (n, k) output plus one float32 chunk of X.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils import check_array, get_tags
from sklearn.utils.validation import check_is_fitted

from crembo import _validation as v
from crembo._threads import resolve_n_threads

try:
    from crembo._ext._forest import NODE_ITEMSIZE as _NODE_ITEMSIZE
    from crembo._ext._forest import forest_vote_counts_dense as _native_counts
except ImportError:  # extension not built: NumPy fallback below, with a warning
    _native_counts, _NODE_ITEMSIZE = None, None

__all__ = ["FlatForest", "flatten_forest", "forest_vote_counts", "forest_belief"]

# Samples per parallel block. Trees are the outer loop inside a block, so every block reloads all
# T trees' nodes (from L3 at 100 trees of depth 12); bigger blocks amortise that, with little
# left to gain beyond a few thousand rows, while X's block rows stay in L2
# (benchmarks/forest_votes.py). Smaller blocks only when there are too few rows to give every
# thread work.
MAX_BLOCK_SIZE = 4096
MIN_BLOCK_SIZE = 64
# Rows of X converted to float32 at a time when chunk_size is None (about 32 MiB per chunk).
_CHUNK_BYTES = 32 * 2**20
_LEAF = -1  # sklearn's TREE_LEAF in children_left
_warned_fallback = False


# One record per node; must match ``FlatNode`` in crembo_ext/_forest.pyx (32 bytes, two per line).
NODE_DTYPE = np.dtype(
    [
        ("threshold", np.float64),
        ("feature", np.int32),
        ("nan_right", np.int32),
        ("left", np.int32),
        ("right", np.int32),
        ("leaf_class", np.int32),
        ("_pad", np.int32),
    ]
)
if _NODE_ITEMSIZE is not None and _NODE_ITEMSIZE != NODE_DTYPE.itemsize:  # stale build
    raise ImportError(f"crembo._ext._forest's FlatNode is {_NODE_ITEMSIZE} bytes, expected {NODE_DTYPE.itemsize}")


@dataclass(frozen=True)
class FlatForest:
    """All trees of an ensemble as one array of node records (child indices are absolute).

    Leaves point to themselves (left = right = own index, feature 0) so the native walk can step
    them branch-free; ``leaf_class`` is the forest class index a leaf votes for, -1 internally.
    """

    nodes: np.ndarray  # (N,) NODE_DTYPE
    roots: np.ndarray  # (T,) int32
    n_classes: int
    n_features: int
    allow_nan: bool

    @property
    def n_trees(self):
        return self.roots.shape[0]


def _member_class_map(member, forest_classes, t):
    """Map a member's class positions to the forest's class indices.

    sklearn forests (and Bagging) train members on y encoded as 0..k-1, so a member's
    ``classes_`` are those indices (as floats) and its ``predict`` returns them. A member trained
    on the raw labels is mapped through the forest's ``classes_`` instead.
    """
    mc = np.asarray(member.classes_)
    k = len(forest_classes)
    if mc.dtype.kind in "biuf":
        with np.errstate(invalid="ignore"):
            as_index = np.isfinite(mc).all() and (mc == np.round(mc)).all() and (mc >= 0).all() and (mc < k).all()
        if as_index:
            return mc.astype(np.int32)
    lookup = {label: i for i, label in enumerate(forest_classes.tolist())}
    try:
        return np.array([lookup[label] for label in mc.tolist()], dtype=np.int32)
    except (KeyError, TypeError):
        raise ValueError(
            f"member {t} has classes {mc!r}, which are neither class indices of the ensemble nor among its classes_"
        ) from None


def flatten_forest(forest):
    """Flatten a fitted single-output ensemble of ``DecisionTreeClassifier`` members.

    Each leaf stores the member's vote: ``argmax`` of the leaf's value row (first maximum, as
    ``DecisionTreeClassifier.predict``), mapped to the forest's class index. Raises sklearn's
    NotFittedError for an unfitted ensemble, ValueError for multi-output or non-tree members.
    """
    if isinstance(forest, FlatForest):
        return forest
    if not hasattr(forest, "fit"):
        raise TypeError(f"forest must be a fitted sklearn tree ensemble, got {type(forest).__name__}")
    check_is_fitted(forest)
    members = getattr(forest, "estimators_", None)
    if members is None or len(members) == 0:
        raise ValueError(f"{type(forest).__name__} has no estimators_; expected a tree ensemble")
    if getattr(forest, "n_outputs_", 1) != 1 or isinstance(forest.classes_, list):
        raise ValueError(
            f"forest_vote_counts supports single-output ensembles only; this one has "
            f"n_outputs_={getattr(forest, 'n_outputs_', None)}"
        )
    forest_classes = np.asarray(forest.classes_)
    subsets = getattr(forest, "estimators_features_", None)  # BaggingClassifier
    for t, member in enumerate(members):
        if not isinstance(member, DecisionTreeClassifier):
            raise ValueError(
                f"member {t} is a {type(member).__name__}; forest_vote_counts needs "
                f"DecisionTreeClassifier members (RandomForest, ExtraTrees, Bagging of trees)"
            )
        if member.tree_.n_outputs != 1:
            raise ValueError(f"member {t} is multi-output; only single-output ensembles are supported")
    sizes = np.array([m.tree_.node_count for m in members], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    if offsets[-1] >= 2**31:
        raise ValueError("the ensemble has 2**31 nodes or more; int32 node indices would overflow")

    nodes = np.zeros(int(offsets[-1]), dtype=NODE_DTYPE)
    for t, member in enumerate(members):
        tree, off = member.tree_, int(offsets[t])
        rec = nodes[off : off + tree.node_count]
        own = np.arange(off, off + tree.node_count, dtype=np.int64)
        is_leaf = tree.children_left == _LEAF
        feat = np.where(is_leaf, 0, tree.feature)
        if subsets is not None:  # a Bagging member sees only its feature subset
            feat = np.where(is_leaf, 0, np.asarray(subsets[t])[feat])
        vote = _member_class_map(member, forest_classes, t)[np.argmax(tree.value[:, 0, :], axis=1)]
        mgl = getattr(tree, "missing_go_to_left", None)  # sklearn < 1.3 has no missing values
        rec["threshold"] = tree.threshold
        rec["feature"] = feat
        rec["nan_right"] = 1 if mgl is None else (np.asarray(mgl) == 0)
        rec["left"] = np.where(is_leaf, own, tree.children_left + off)
        rec["right"] = np.where(is_leaf, own, tree.children_right + off)
        rec["leaf_class"] = np.where(is_leaf, vote, -1)

    # NaN is accepted exactly when sklearn's forest predict accepts it (its first member decides).
    allow_nan = bool(get_tags(members[0]).input_tags.allow_nan)
    return FlatForest(
        nodes=nodes,
        roots=offsets[:-1].astype(np.int32),
        n_classes=len(forest_classes),
        n_features=int(forest.n_features_in_),
        allow_nan=allow_nan,
    )


def _check_X(forest, X, flat):
    if sparse.issparse(X):
        X = X.tocsr()
        if X.shape[0] < 1:
            raise ValueError(f"X has no rows (shape {X.shape}); need at least one sample")
    else:
        names = getattr(forest, "feature_names_in_", None)
        if names is not None and hasattr(X, "columns") and list(X.columns) != list(names):
            raise ValueError("X's column names differ from those the forest was fitted with")
        # dtype "numeric": keep numeric dtypes (no float32 copy of the whole X), objects -> float64
        X = check_array(X, dtype="numeric", ensure_all_finite=False, ensure_min_samples=1)
    if X.shape[1] != flat.n_features:
        raise ValueError(f"X has {X.shape[1]} features, but the forest was fitted with {flat.n_features}")
    return X


def _check_chunk_size(chunk_size, n_features):
    chunk_size = v.check_int(chunk_size, "chunk_size", low=1, allow_none=True)
    if chunk_size is None:
        return max(MAX_BLOCK_SIZE, (_CHUNK_BYTES // (4 * max(n_features, 1))) // MAX_BLOCK_SIZE * MAX_BLOCK_SIZE)
    return chunk_size


def _float32_chunk(X, start, stop, allow_nan):
    """Rows start:stop of X as sklearn's predict sees them: float32, C-contiguous, dense."""
    is_sparse = sparse.issparse(X)
    chunk = check_array(
        X[start:stop],
        dtype=np.float32,
        order="C",
        accept_sparse="csr",
        # sklearn never accepts NaN in sparse input nor infinity anywhere
        ensure_all_finite="allow-nan" if allow_nan and not is_sparse else True,
    )
    if is_sparse:
        chunk = np.ascontiguousarray(chunk.toarray(), dtype=np.float32)
    return chunk


def _counts_numpy(flat, Xc, out):
    """NumPy twin of the native kernel (used when the extension is missing, and in tests)."""
    nodes = flat.nodes
    rows = np.arange(Xc.shape[0])
    out[...] = 0
    for t in range(flat.n_trees):
        node = np.full(Xc.shape[0], flat.roots[t], dtype=np.int64)
        while True:
            internal = nodes["leaf_class"][node] < 0
            if not internal.any():
                break
            idx, nd = np.flatnonzero(internal), node[internal]
            x = Xc[idx, nodes["feature"][nd]].astype(np.float64)
            go_right = np.where(np.isnan(x), nodes["nan_right"][nd] == 1, ~(x <= nodes["threshold"][nd]))
            node[idx] = np.where(go_right, nodes["right"][nd], nodes["left"][nd])
        np.add.at(out, (rows, nodes["leaf_class"][node]), 1)


def _chunks(forest, flat, X, chunk_size):
    """Validate X, then yield (n, start, stop, float32 rows start:stop) chunk by chunk."""
    X = _check_X(forest, X, flat)
    chunk = _check_chunk_size(chunk_size, flat.n_features)
    n = X.shape[0]
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        yield n, start, stop, _float32_chunk(X, start, stop, flat.allow_nan)


def _count_into(flat, Xc, out, n_threads):
    """out[...] = vote counts of the float32 rows Xc (out: C-contiguous (rows, k) uint16/32)."""
    global _warned_fallback
    if _native_counts is not None:
        block = min(MAX_BLOCK_SIZE, max(MIN_BLOCK_SIZE, -(-Xc.shape[0] // (4 * n_threads))))
        _native_counts(Xc, flat.nodes.view(np.uint8), flat.roots, out, block, n_threads)
        return
    if not _warned_fallback:
        warnings.warn(
            "crembo's compiled extension crembo._ext._forest is missing; counting forest votes "
            "with a slow NumPy fallback. Reinstall crembo with a C compiler to build it.",
            RuntimeWarning,
            stacklevel=3,
        )
        _warned_fallback = True
    _counts_numpy(flat, Xc, out)


def _default_count_dtype(flat):
    return np.uint16 if flat.n_trees < 2**16 else np.uint32


def _check_count_dtype(dtype):
    if dtype is None:
        return None
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.uint16), np.dtype(np.uint32)):
        raise ValueError(f"dtype must be None, uint16 or uint32, got {dtype}")
    return dtype.type


def forest_vote_counts(forest, X, *, n_jobs=None, chunk_size=None, dtype=None):
    """Count the members' hard votes of a fitted tree ensemble on X, natively and in parallel.

    Parameters
    ----------
    forest : fitted RandomForestClassifier, ExtraTreesClassifier, or any single-output ensemble
        whose ``estimators_`` are ``DecisionTreeClassifier`` (a ``FlatForest`` is accepted too).
    X : array-like or CSR matrix (n, n_features). Converted to float32 chunk by chunk, as
        sklearn's ``predict`` does, so the copy is bounded by ``chunk_size`` rows.
    n_jobs : threads (None = all CPUs this process may use); the result does not depend on it.
    chunk_size : rows of X converted at a time (None: about 32 MiB of float32).
    dtype : None (uint16 when T < 65536, else uint32), uint16 or uint32.

    Returns
    -------
    counts : (n, k) with counts[i, c] = #{t : estimators_[t].predict(X)[i] == c}, c indexing
        ``forest.classes_``.
    """
    dtype = _check_count_dtype(dtype)
    flat = flatten_forest(forest)
    if dtype is np.uint16 and flat.n_trees >= 2**16:
        raise ValueError(f"uint16 counts overflow with {flat.n_trees} trees; use uint32")
    n_threads = resolve_n_threads(n_jobs)
    counts = None
    for n, start, stop, Xc in _chunks(forest, flat, X, chunk_size):
        if counts is None:
            counts = np.empty((n, flat.n_classes), dtype=dtype or _default_count_dtype(flat))
        _count_into(flat, Xc, counts[start:stop], n_threads)  # a row slice stays C-contiguous
    return counts


def forest_belief(forest, X, *, n_jobs=None, chunk_size=None, dtype=None):
    """Hard-vote belief of a fitted tree ensemble: ``forest_vote_counts / T``.

    Equals ``crembo.belief_from_votes(np.stack([m.predict(X) for m in forest.estimators_]), k)``
    exactly for float64 (division, not a product); float32 (``dtype=np.float32``) is that value
    rounded to float32. Peak memory beyond X itself, in bytes:
    ``n*k*itemsize + chunk*(4*n_features + 2*k) + 32*total_nodes``: the output, one float32
    copy of a chunk of X (no copy when X is already float32, C-contiguous and dense), one uint16
    counts chunk and the flattened trees (checked by benchmarks/forest_votes.py).
    """
    out_dtype = np.float64 if dtype is None else v.check_float_dtype(dtype)
    flat = flatten_forest(forest)
    n_threads = resolve_n_threads(n_jobs)
    n_trees = np.float64(flat.n_trees)
    belief = buf = None
    for n, start, stop, Xc in _chunks(forest, flat, X, chunk_size):
        if belief is None:
            belief = np.empty((n, flat.n_classes), dtype=out_dtype)
            buf = np.empty((min(n, stop - start), flat.n_classes), dtype=_default_count_dtype(flat))
        counts = buf[: stop - start]
        _count_into(flat, Xc, counts, n_threads)
        # float64 quotient (exactly belief_from_votes), rounded to float32 only when asked
        # (dtype pinned: numpy < 2's value-based casting would pick a float32 loop here)
        np.divide(counts, n_trees, out=belief[start:stop], dtype=np.float64, casting="same_kind")
    return belief
