"""Grow an allowed-label tree on binned data: the Python driver over the ``_tree_*`` kernels.

Greedy growth is depth-first (node ids in preorder, as scikit-learn numbers them). A node becomes
a leaf at ``max_depth``, when it has fewer than ``2 * min_samples_leaf`` (or 2) samples, when it
is pure, or when no split leaves ``min_samples_leaf`` samples on both sides. Pure means: some
label is allowed for every sample ("consistency"), or every allowed column is constant ("gini",
scikit-learn's impurity == 0). Each split maximises the criterion over (feature, bin, missing
direction) -- for "consistency" the pair (consistency count, Gini score), lexicographically, so
that the many zero-gain splits of a flat count are ranked -- and exact ties go to the lowest
feature, then the lowest bin, then "missing values right".

Missing values: when the node's training samples include NaNs on the split feature the direction
is learned (both are scored); otherwise NaNs go to the child with more training samples (left on
a tie). Histograms (flat, see ``BinnedData.offsets``): the smaller child is built from its
samples, the larger one is the parent minus the smaller (sibling subtraction, in the parent's
buffer); buffers are recycled within a fit, so a node costs no allocation. Rows are visited in
order of their allowed-set size (stable; the reference tree does the same, so weighted sums round
alike) and partitioned in place, each node's rows a slice of one array; a split's pass also sums
its children's label counts.
"""

import numpy as np

from crembo._threads import resolve_n_threads

CRITERIA = {"consistency": 0, "gini": 1}
# The kernels store each sample's allowed labels as a uint8 list: at most this many classes.
MAX_CLASSES = 255
# The tree's kernels go parallel only above these sizes, 8-16x crembo._threads.SERIAL_WORK: a
# fit runs ~30 kernels and MEMO/CREMBO ~100 fits, so a parallel region's wake-up cost (up to
# milliseconds on a loaded machine, where the region waits for a descheduled thread) is paid
# thousands of times, while a node below these sizes takes well under a millisecond serially
# (benchmarks/oracle.py --quick shows the difference on a loaded machine).
MIN_PARALLEL_HIST = 1 << 19  # node samples * features
MIN_PARALLEL_SCAN = 1 << 20  # histogram elements: bins * (classes + 2)


def better(cons, gini, best_cons, best_gini, criterion):
    if criterion == 0:
        return cons > best_cons or (cons == best_cons and gini > best_gini)
    return gini > best_gini


class Tree:
    """Flat arrays of a fitted tree; node ids in preorder, children -1 at leaves."""

    FIELDS = (
        "feature",
        "bin",
        "threshold",
        "missing_left",
        "left",
        "right",
        "label",
        "n_samples",
        "consistency",
        "depth",
    )

    def __init__(self, n_classes):
        self.n_classes = n_classes
        self.rows = []
        self.allowed_counts = []
        self.scores = []  # what the label maximises: allowed counts, or weighted ones for "gini"

    def add(self, depth, counts, label, n_samples, scores=None):
        self.rows.append(
            {
                "feature": -1,
                "bin": -1,
                "threshold": np.nan,
                "missing_left": False,
                "left": -1,
                "right": -1,
                "label": int(label),
                "n_samples": int(n_samples),
                "consistency": int(counts[label]),
                "depth": int(depth),
            }
        )
        self.allowed_counts.append(np.asarray(counts, dtype=np.int64))
        self.scores.append(np.asarray(counts if scores is None else scores, dtype=np.float64))
        return len(self.rows) - 1

    def finalize(self):
        r = self.rows
        self.feature = np.array([x["feature"] for x in r], dtype=np.intp)
        self.bin = np.array([x["bin"] for x in r], dtype=np.intp)
        self.threshold = np.array([x["threshold"] for x in r], dtype=np.float64)
        self.missing_left = np.array([x["missing_left"] for x in r], dtype=bool)
        self.left = np.array([x["left"] for x in r], dtype=np.intp)
        self.right = np.array([x["right"] for x in r], dtype=np.intp)
        self.label = np.array([x["label"] for x in r], dtype=np.intp)
        self.n_samples = np.array([x["n_samples"] for x in r], dtype=np.int64)
        self.consistency = np.array([x["consistency"] for x in r], dtype=np.int64)
        self.depth = np.array([x["depth"] for x in r], dtype=np.intp)
        self.value = np.array(self.allowed_counts, dtype=np.int64).reshape(len(r), self.n_classes)
        self.label_scores = np.array(self.scores, dtype=np.float64).reshape(len(r), self.n_classes)
        del self.scores, self.allowed_counts
        return self

    def __setstate__(self, state):
        # pickle, joblib and skops all restore a tree through here: a tree from a file is checked
        # before apply_tree can walk it (a bad child index would crash or hang the walk)
        from crembo.tree._validate import check_native_state

        self.__dict__.update(check_native_state(state))

    @property
    def node_count(self):
        return len(self.rows)

    def is_leaf(self):
        return self.feature < 0

    def leaf_consistency(self):
        """Training samples whose allowed set contains their leaf's label."""
        return int(self.consistency[self.is_leaf()].sum())

    def apply(self, X, n_threads=1):
        """Leaf id of each row of float X (compares raw values with the thresholds)."""
        try:
            from crembo._ext._tree_histogram import apply_tree
        except ImportError:
            return self._apply_numpy(X)
        out = np.empty(X.shape[0], dtype=np.intp)
        apply_tree(
            X, self.feature, self.threshold, self.missing_left.view(np.uint8), self.left, self.right, out, n_threads
        )
        return out

    def apply_binned(self, binned, n_threads=1):
        """Leaf id of each row of a BinnedData (the rows the tree may have been grown on)."""
        from crembo._ext._tree_histogram import apply_binned

        out = np.empty(binned.n_samples, dtype=np.intp)
        apply_binned(
            binned.X_binned,
            self.feature,
            self.bin,
            self.missing_left.view(np.uint8),
            self.left,
            self.right,
            binned.missing_bin,
            out,
            n_threads,
        )
        return out

    def _apply_numpy(self, X):
        node = np.zeros(X.shape[0], dtype=np.intp)
        active = np.arange(X.shape[0])
        while active.size:
            nd = node[active]
            inner = self.feature[nd] >= 0
            active, nd = active[inner], nd[inner]
            if not active.size:
                break
            x = X[active, self.feature[nd]]
            go_left = x <= self.threshold[nd]
            nan = np.isnan(x)
            go_left[nan] = self.missing_left[nd][nan]
            node[active] = np.where(go_left, self.left[nd], self.right[nd])
        return node


def balanced_factors(pos, n):
    """Per output c, the balanced weight of a 1 and of a 0: n / (2 * count of that value), or 1
    when the column is constant (scikit-learn's ``compute_sample_weight("balanced")``)."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = n - pos
    both = (pos > 0) & (neg > 0)
    w1 = np.where(both, n / (2.0 * np.maximum(pos, 1)), 1.0)
    w0 = np.where(both, n / (2.0 * np.maximum(neg, 1)), 1.0)
    return w1, w0


def stats_from_counts(counts, wpos, n, criterion):
    """(label, pure) of a node from its allowed counts and label scores (ties -> lowest label)."""
    label = int(np.argmax(wpos))
    if criterion == 0:
        return label, bool(counts[label] == n)
    return label, bool(np.all((counts == 0) | (counts == n)))


def node_stats(allowed_rows, w_rows, criterion):
    """(allowed counts, label, pure, label scores) of a node from its allowed rows. Weighted
    scores are summed in sample order (bincount's), the order the native ``node_sums`` uses."""
    counts = allowed_rows.sum(axis=0, dtype=np.int64)
    if criterion == 0 or w_rows is None:
        wpos = counts
    else:
        rows, cols = np.nonzero(allowed_rows)
        wpos = np.bincount(cols, weights=w_rows[rows], minlength=allowed_rows.shape[1])
    label, pure = stats_from_counts(counts, wpos, allowed_rows.shape[0], criterion)
    return counts, label, pure, wpos


class Grower:
    """Greedy (and exact depth-2) growth over a BinnedData and an (n, k) uint8 allowed matrix."""

    def __init__(self, binned, allowed, weights, criterion, max_depth, min_samples_leaf, n_jobs):
        from crembo._ext._tree_histogram import label_lists

        self.binned = binned
        self.Xb = binned.X_binned
        self.allowed = allowed
        self.criterion = CRITERIA[criterion] if isinstance(criterion, str) else criterion
        self.max_depth = max_depth
        self.msl = min_samples_leaf
        self.n_jobs = n_jobs
        self.n_threads = resolve_n_threads(n_jobs)
        self.k = allowed.shape[1]
        if self.k > MAX_CLASSES:
            raise ValueError(f"the native tree supports at most {MAX_CLASSES} classes, got {self.k}")
        self.labels = np.empty(allowed.shape, dtype=np.uint8)
        self.n_allowed = np.empty(allowed.shape[0], dtype=np.uint8)
        label_lists(allowed, self.labels, self.n_allowed, self._threads(allowed.size))
        if isinstance(weights, str) and weights == "balanced":
            weights = self._balanced_weights()
        self.weighted = weights is not None
        self.weights = weights if weights is not None else np.ones(allowed.shape[0])
        F = binned.n_features
        self.offsets = binned.offsets
        self.nb = binned.n_bins_nonmissing
        self._f0 = int(binned.offsets[1])  # feature 0's rows hold every node sample once
        self._out = (np.empty(F), np.empty(F), np.empty(F, np.int32), np.empty(F, np.int32))
        self._scratch = np.empty((F, 2 * (self.k + 2)))
        self._free = []  # histogram buffers no node uses any more
        self._rows_scratch = np.empty(allowed.shape[0], dtype=np.intp)

    def _balanced_weights(self):
        """``estimator.balanced_multioutput_weights`` natively (same rounding, no (n, k)
        temporaries)."""
        from crembo._ext._tree_histogram import balanced_weights, node_sums

        n = self.allowed.shape[0]
        pos = np.zeros(self.k, dtype=np.int64)
        node_sums(None, self.labels, self.n_allowed, np.empty(0), pos, np.empty(self.k), False)
        w1, w0 = balanced_factors(pos, n)
        out = np.empty(n)
        balanced_weights(self.allowed, np.column_stack([w0, w1]), out, self._threads(self.allowed.size))
        return out

    # -- kernels -------------------------------------------------------------------------
    def _threads(self, work, cutoff=None):
        """Threads for a kernel touching ``work`` elements (1 below the tree's cut-off, by default
        MIN_PARALLEL_HIST, read at call time)."""
        cutoff = MIN_PARALLEL_HIST if cutoff is None else cutoff
        return resolve_n_threads(self.n_jobs, work) if work >= cutoff else 1

    def _zeros(self):
        if self._free:
            hist = self._free.pop()
            hist.fill(0.0)
            return hist
        return np.zeros((self.binned.total_bins, self.k + 2))

    def _release(self, hist):
        if hist is not None:
            self._free.append(hist)

    def _hist(self, idx):
        """The node's flat histogram (idx None: every sample)."""
        from crembo._ext import _tree_histogram as H

        hist = self._zeros()
        if idx is None:
            idx = np.arange(self.Xb.shape[0])
        H.build_hist(
            self.Xb,
            idx,
            self.labels,
            self.n_allowed,
            self.weights,
            self.offsets,
            self.nb,
            hist,
            self.weighted,
            self._threads(idx.shape[0] * self.binned.n_features),
        )
        return hist

    def _best_split(self, hist):
        from crembo._ext._tree_splitting import find_best_split

        P = hist[: self._f0].sum(axis=0)
        cons, gini, bins, mls = self._out
        best = find_best_split(
            hist,
            P,
            self.offsets,
            self.nb,
            float(self.msl),
            self.criterion,
            cons,
            gini,
            bins,
            mls,
            self._scratch,
            self._threads(hist.size, MIN_PARALLEL_SCAN),
        )
        if best < 0:
            return None
        return best, int(bins[best]), bool(mls[best])

    # -- growth --------------------------------------------------------------------------
    def _new_node(self, tree, idx, depth, sums=None):
        """Add a node; its label counts (and weighted ones) are ``sums`` (from the parent's
        partition) or summed over its label lists."""
        from crembo._ext._tree_histogram import node_sums

        n = self.allowed.shape[0] if idx is None else idx.shape[0]
        if sums is None:
            counts, scores = np.zeros(self.k, dtype=np.int64), np.zeros(self.k)
            node_sums(idx, self.labels, self.n_allowed, self.weights, counts, scores, self.weighted)
        else:
            counts, scores = sums
        if not self.weighted or self.criterion == 0:
            scores = counts
        label, pure = stats_from_counts(counts, scores, n, self.criterion)
        node = tree.add(depth, counts, label, n, scores)
        can_split = depth < self.max_depth and n >= 2 * self.msl and n >= 2 and not pure
        return node, can_split

    def _partition(self, tree, node, idx, f, b, ml):
        from crembo._ext._tree_histogram import partition

        if idx is None:
            idx = np.arange(self.Xb.shape[0])
        n = idx.shape[0]
        counts, wsum = np.zeros((2, self.k), dtype=np.int64), np.zeros((2, self.k))
        # in place: the children are views of the parent's rows (no allocation per node)
        n_left, any_missing = partition(
            self.Xb[:, f],
            idx,
            b,
            self.binned.missing_bin,
            ml,
            self.labels,
            self.n_allowed,
            self.weights,
            self.weighted,
            self._rows_scratch[:n],
            counts,
            wsum,
        )
        idx[:] = self._rows_scratch[:n]
        if not any_missing:  # direction not learned here: NaNs follow the majority
            ml = n_left >= n - n_left
        right = self.Xb[idx[n_left:], f]
        right = right[right != self.binned.missing_bin]
        b = self.binned.centred_bin(f, b, int(right.min()) if right.size else None)
        row = tree.rows[node]
        row.update(feature=int(f), bin=int(b), threshold=self.binned.threshold(f, b), missing_left=bool(ml))
        return idx[:n_left], idx[n_left:], (counts[0], wsum[0]), (counts[1], wsum[1])

    def grow(self):
        tree = Tree(self.k)
        # Samples ordered by how many labels they allow (stable): every node keeps that order, so
        # the histogram's per-sample label loop has runs of equal length and its branch predicts
        # well.
        self._grow(tree, np.argsort(self.n_allowed, kind="stable"), 0, None)
        return tree.finalize()

    def _grow(self, tree, idx, depth, hist, sums=None):
        n = self.allowed.shape[0] if idx is None else idx.shape[0]
        if hist is None and depth < self.max_depth and n >= max(2, 2 * self.msl):
            hist = self._hist(idx)  # the node may split: it needs its histogram anyway
        node, can_split = self._new_node(tree, idx, depth, sums)
        split = self._best_split(hist) if can_split else None
        if split is None:
            self._release(hist)
            return node
        left_idx, right_idx, sums_l, sums_r = self._partition(tree, node, idx, *split)
        hist_l = hist_r = None
        if depth + 1 < self.max_depth:  # children may split: they need histograms
            # the larger child is the parent minus the smaller, in the parent's buffer
            if left_idx.size <= right_idx.size:
                hist_l = self._hist(left_idx)
                hist_r = np.subtract(hist, hist_l, out=hist)
            else:
                hist_r = self._hist(right_idx)
                hist_l = np.subtract(hist, hist_r, out=hist)
        else:
            self._release(hist)
        del hist
        tree.rows[node]["left"] = self._grow(tree, left_idx, depth + 1, hist_l, sums_l)
        tree.rows[node]["right"] = self._grow(tree, right_idx, depth + 1, hist_r, sums_r)
        return node

    def grow_exact(self):
        """Depth <= 2 tree with the maximal consistency count (ties: larger gini score)."""
        if self.max_depth < 2:
            return self.grow()
        from crembo._ext._tree_splitting import exact_depth2

        tree = Tree(self.k)
        root, can_split = self._new_node(tree, None, 0)
        if not can_split:
            return tree.finalize()
        b = self.binned
        F, n_codes = b.n_features, b.missing_bin + 1
        order = np.empty((F, b.n_samples), dtype=np.intp)
        starts = np.zeros((F, n_codes + 1), dtype=np.intp)
        for f in range(F):
            order[f] = np.argsort(self.Xb[:, f], kind="stable")
            starts[f, 1:] = np.cumsum(np.bincount(self.Xb[:, f], minlength=n_codes))
        hist = self._hist(None)
        T = self.n_threads
        bufs = np.empty((T, 4, b.total_bins, self.k + 2))
        scratch = np.empty((T, 3 * (self.k + 2)))
        res_cons, res_gini = np.empty(F), np.empty(F)
        res_int = np.empty((F, 9), dtype=np.int32)
        exact_depth2(
            self.Xb,
            self.allowed,
            order,
            starts,
            hist,
            self.offsets,
            self.nb,
            b.missing_bin,
            float(self.msl),
            bufs,
            scratch,
            np.empty((T, 4)),
            np.empty((T, 6), dtype=np.int32),
            res_cons,
            res_gini,
            res_int,
            T,
        )
        best = -1
        for f in range(F):  # fixed order: the result is thread-count independent
            if res_int[f, 0] >= 0 and (best < 0 or better(res_cons[f], res_gini[f], res_cons[best], res_gini[best], 0)):
                best = f
        if best < 0:
            return tree.finalize()
        r = res_int[best]
        left_idx, right_idx, sums_l, sums_r = self._partition(tree, root, None, best, r[0], r[1])
        for side, idx, sums, (fs, bs, ms) in (("left", left_idx, sums_l, r[3:6]), ("right", right_idx, sums_r, r[6:9])):
            child = self._new_node(tree, idx, 1, sums)[0]
            tree.rows[root][side] = child
            if fs >= 0:
                li, ri, sl, sr = self._partition(tree, child, idx, fs, bs, ms)
                tree.rows[child]["left"] = self._new_node(tree, li, 2, sl)[0]
                tree.rows[child]["right"] = self._new_node(tree, ri, 2, sr)[0]
        tree.exact_consistency = float(res_cons[best])
        return tree.finalize()
