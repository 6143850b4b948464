"""Level-wise growth of the allowed-label tree from summed histograms: the reducible path.

``Grower`` grows depth-first over rows held in one process. Here the rows live in *shards*
(the partitions on Dask workers, or one array locally) and the client only sees sums:

- ``shard_positives(belief, thresholds)``: per threshold and label, how many rows allow it
  (the balanced weights' factors need the global counts, so they come first, for every
  threshold in one pass);
- ``shard_round(shard, jobs)``: for each job (a threshold, its weight factors and the tree
  grown so far) the label sums of the requested nodes and the histograms of the requested
  nodes, over the shard's rows; results of shards add up elementwise (``add_results``);
- ``shard_eval(shard, jobs)``: for each finished tree, the minimum depth p[i, f(x_i)] over the
  shard's training rows and, on its validation rows, the hits against the true and the
  teacher's labels (``combine_evals``).

Every shard function is pure (a function of the shard and its arguments): a lost result is
recomputed and gives the same numbers, which is what Dask's retries need.

``LevelTree`` is the client's side of one fit: it asks for one level per round and makes the
same decisions as ``Grower`` (same ``find_best_split`` kernel, sibling subtraction of the same
smaller child, the same leaf rules and missing-value direction), so a level-wise tree equals the
depth-first one up to the summation order of weighted sums (float rounding; counts are exact).
Rows are visited in each shard in order of their allowed-set size, as the grower does.
"""

import numpy as np

from crembo.tree.binning import BinLayout
from crembo.tree.grower import CRITERIA, Tree, balanced_factors, stats_from_counts

__all__ = [
    "Layout",
    "LevelTree",
    "ShardData",
    "add_results",
    "combine_evals",
    "grow_level_trees",
    "shard_eval",
    "shard_positives",
    "shard_round",
]


class Layout(BinLayout):
    """The bin layout every shard shares: edges per feature -> flat histogram offsets."""

    def __init__(self, bin_edges):
        edges = [np.asarray(e, dtype=np.float64) for e in bin_edges]
        super().__init__(edges, max(e.size + 1 for e in edges))

    def bin(self, X, n_threads=1, block=1 << 18):
        """uint8 codes (Fortran order) of float rows X, binned in blocks (float64 per block only)."""
        from crembo._ext._tree_binning import map_to_bins

        F = self.n_features
        padded = np.zeros((F, max(1, max(e.size for e in self.bin_edges))), dtype=np.float64)
        n_edges = np.array([e.size for e in self.bin_edges], dtype=np.int32)
        for f, e in enumerate(self.bin_edges):
            padded[f, : e.size] = e
        out = np.empty((X.shape[0], F), dtype=np.uint8, order="F")
        for start in range(0, X.shape[0], block):
            part = np.asarray(X[start : start + block], dtype=np.float64)
            tmp = np.empty(part.shape, dtype=np.uint8, order="F")
            map_to_bins(part, padded, n_edges, self.missing_bin, tmp, n_threads)
            out[start : start + block] = tmp
        return out


class ShardData:
    """The rows of one shard: training codes and belief, validation codes and labels."""

    def __init__(self, codes, belief, missing_bin, codes_val=None, y_val=None, teacher_val=None):
        self.codes = codes
        self.belief = belief
        self.missing_bin = int(missing_bin)
        F = codes.shape[1]
        self.codes_val = codes_val if codes_val is not None else np.empty((0, F), np.uint8, order="F")
        self.y_val = y_val if y_val is not None else np.empty(0, np.intp)
        self.teacher_val = teacher_val if teacher_val is not None else np.empty(0, np.intp)

    @property
    def n_samples(self):
        return self.codes.shape[0]


def shard_positives(belief, thresholds):
    """(T, k) int64: rows whose belief in label c is >= thresholds[t] (thresholds sorted)."""
    thresholds = np.asarray(thresholds, dtype=np.float64)
    T, k = thresholds.size, belief.shape[1]
    out = np.zeros((T, k), dtype=np.int64)
    for c in range(k):
        # a value allows label c at every threshold <= it: count per "number of such thresholds"
        n_le = np.searchsorted(thresholds, belief[:, c], side="right")
        out[:, c] = np.cumsum(np.bincount(n_le, minlength=T + 1)[::-1])[::-1][1:]
    return out


def _apply(codes, tree, missing_bin):
    from crembo._ext._tree_histogram import apply_binned

    out = np.empty(codes.shape[0], dtype=np.intp)
    if codes.shape[0]:
        apply_binned(
            codes, tree["feature"], tree["bin"], tree["missing_left"], tree["left"], tree["right"], missing_bin, out, 1
        )
    return out


def _allowed_lists(belief, d, factors, n_threads):
    from crembo._ext._tree_histogram import balanced_weights, label_lists

    allowed = np.ascontiguousarray(belief >= d).view(np.uint8)
    n, k = allowed.shape
    labels = np.empty((n, k), dtype=np.uint8)
    n_allowed = np.empty(n, dtype=np.uint8)
    label_lists(allowed, labels, n_allowed, n_threads)
    if factors is None:
        return labels, n_allowed, np.ones(0)
    weights = np.empty(n)
    balanced_weights(allowed, np.ascontiguousarray(factors, dtype=np.float64), weights, n_threads)
    return labels, n_allowed, weights


def shard_round(shard, layout, jobs, n_threads=1):
    """Per job: (counts (m, k) int64, scores (m, k) float64, hists (h, total_bins, k + 2)) of the
    shard's rows in the job's ``sums`` nodes and ``hists`` nodes (see ``LevelTree.request``)."""
    from crembo._ext._tree_histogram import build_hist, node_sums

    k = shard.belief.shape[1]
    out = []
    for job in jobs:
        weighted = job["factors"] is not None
        counts = np.zeros((len(job["sums"]), k), dtype=np.int64)
        scores = np.zeros((len(job["sums"]), k))
        hists = np.zeros((len(job["hists"]), layout.total_bins, k + 2))
        if shard.n_samples:
            labels, n_allowed, weights = _allowed_lists(shard.belief, job["d"], job["factors"], n_threads)
            if not weighted:
                weights = np.ones(shard.n_samples)
            node = _apply(shard.codes, job["tree"], shard.missing_bin)
            # rows by allowed-set size (stable), then grouped by node keeping that order
            order = np.argsort(n_allowed, kind="stable")
            small = np.int16 if job["tree"]["feature"].size < (1 << 15) else np.intp
            by_node = order[np.argsort(node[order].astype(small), kind="stable")]  # int16: radix sort
            starts = np.zeros(job["tree"]["feature"].size + 1, dtype=np.intp)
            np.cumsum(np.bincount(node, minlength=starts.size - 1), out=starts[1:])

            for j, i in enumerate(job["sums"]):
                node_sums(
                    by_node[starts[i] : starts[i + 1]], labels, n_allowed, weights, counts[j], scores[j], weighted
                )
            for j, i in enumerate(job["hists"]):
                build_hist(
                    shard.codes,
                    by_node[starts[i] : starts[i + 1]],
                    labels,
                    n_allowed,
                    weights,
                    layout.offsets,
                    layout.n_bins_nonmissing,
                    hists[j],
                    weighted,
                    n_threads,
                )
        out.append((counts, scores, hists))
    return out


def add_results(a, b):
    """Elementwise sum of two ``shard_round`` results (a fixed order keeps the sums reproducible)."""
    return [(ca + cb, sa + sb, ha + hb) for (ca, sa, ha), (cb, sb, hb) in zip(a, b, strict=True)]


def shard_eval(shard, trees):
    """Per finished tree: [min p[i, f(x_i)] over training rows (inf if none), validation hits
    against the true labels, against the teacher's labels, validation rows]."""
    out = np.zeros((len(trees), 4))
    rows = np.arange(shard.n_samples)
    for j, tree in enumerate(trees):
        pred = tree["label"][_apply(shard.codes, tree, shard.missing_bin)]
        out[j, 0] = float(shard.belief[rows, pred].min()) if shard.n_samples else np.inf
        pv = tree["label"][_apply(shard.codes_val, tree, shard.missing_bin)]
        out[j, 1] = np.count_nonzero(pv == shard.y_val)
        out[j, 2] = np.count_nonzero(pv == shard.teacher_val)
        out[j, 3] = pv.size
    return out


def combine_evals(a, b):
    out = a + b
    out[:, 0] = np.minimum(a[:, 0], b[:, 0])
    return out


class LevelTree:
    """One tree grown a level per round from summed shard results (the client's side)."""

    def __init__(self, layout, n_samples, n_classes, d, positives, criterion, weighted, max_depth, min_samples_leaf):
        self.layout = layout
        self.k = n_classes
        self.d = float(d)
        self.criterion = CRITERIA[criterion] if isinstance(criterion, str) else criterion
        self.weighted = bool(weighted)
        self.factors = None
        if self.weighted:
            w1, w0 = balanced_factors(positives, n_samples)
            self.factors = np.column_stack([w0, w1])
        self.max_depth = max_depth
        self.msl = min_samples_leaf
        self._f0 = int(layout.offsets[1])
        self.nodes = []  # dicts: depth, n, counts, scores, label, split fields, children
        root = self._add(0, n_samples)
        self._pending_sums = [root]
        self._pending_hists = [root] if self._wants_hist(0, n_samples) else []
        self._subtract = []  # (node, parent hist, sibling): hist = parent - sibling's
        self._hist = {}

    def _wants_hist(self, depth, n):
        return depth < self.max_depth and n >= max(2, 2 * self.msl)

    def _add(self, depth, n):
        self.nodes.append(
            {"depth": depth, "n": int(n), "feature": -1, "bin": -1, "missing_left": False, "left": -1, "right": -1}
        )
        return len(self.nodes) - 1

    @property
    def done(self):
        return not self._pending_sums and not self._pending_hists

    def partial_tree(self):
        nd = self.nodes
        return {
            "feature": np.array([x["feature"] for x in nd], dtype=np.intp),
            "bin": np.array([x["bin"] for x in nd], dtype=np.intp),
            "missing_left": np.array([x["missing_left"] for x in nd], dtype=np.uint8),
            "left": np.array([x["left"] for x in nd], dtype=np.intp),
            "right": np.array([x["right"] for x in nd], dtype=np.intp),
            "label": np.array([x.get("label", 0) for x in nd], dtype=np.intp),
        }

    def request(self):
        """What this tree needs from the shards in the next round."""
        return {
            "d": self.d,
            "factors": self.factors,
            "tree": self.partial_tree(),
            "sums": list(self._pending_sums),
            "hists": list(self._pending_hists),
        }

    def absorb(self, result):
        """Take the summed ``shard_round`` result of ``request()``; decide this level's splits."""
        counts, scores, hists = result
        level = list(self._pending_sums)
        for j, i in enumerate(self._pending_hists):
            self._hist[i] = hists[j]
        for i, parent_hist, sibling in self._subtract:
            self._hist[i] = np.subtract(parent_hist, self._hist[sibling], out=parent_hist)
        self._subtract = []
        self._pending_sums, self._pending_hists = [], []
        for j, i in enumerate(level):
            node = self.nodes[i]
            c, s = counts[j], scores[j]
            if not self.weighted or self.criterion == 0:
                s = c
            label, pure = stats_from_counts(c, s, node["n"], self.criterion)
            node.update(counts=c.copy(), scores=np.asarray(s, dtype=np.float64).copy(), label=label)
            can_split = node["depth"] < self.max_depth and node["n"] >= 2 * self.msl and node["n"] >= 2 and not pure
            hist = self._hist.pop(i, None)
            split = self._best_split(hist) if can_split else None
            if split is not None:
                self._split(i, hist, *split)

    def _best_split(self, hist):
        from crembo._ext._tree_splitting import find_best_split

        lay = self.layout
        F = lay.n_features
        P = hist[: self._f0].sum(axis=0)
        cons, gini = np.empty(F), np.empty(F)
        bins, mls = np.empty(F, np.int32), np.empty(F, np.int32)
        best = find_best_split(
            hist,
            P,
            lay.offsets,
            lay.n_bins_nonmissing,
            float(self.msl),
            self.criterion,
            cons,
            gini,
            bins,
            mls,
            np.empty((F, 2 * (self.k + 2))),
            1,
        )
        if best < 0:
            return None
        return best, int(bins[best]), bool(mls[best])

    def _split(self, i, hist, f, b, ml):
        lay, k = self.layout, self.k
        node = self.nodes[i]
        lo = lay.offsets[f]
        missing = hist[lo + lay.n_bins_nonmissing[f], k]
        n_left = int(np.rint(hist[lo : lo + b + 1, k].sum()))  # counts: exact in float64
        n = node["n"]
        if missing == 0:  # direction not learned here: NaNs follow the majority
            ml = n_left >= n - n_left
        elif ml:
            n_left += int(np.rint(missing))
        occupied = np.flatnonzero(hist[lo + b + 1 : lo + lay.n_bins_nonmissing[f], k] > 0)
        b = lay.centred_bin(f, b, b + 1 + int(occupied[0]) if occupied.size else None)
        node.update(feature=int(f), bin=int(b), missing_left=bool(ml), threshold=lay.threshold(f, b))
        depth = node["depth"] + 1
        left, right = self._add(depth, n_left), self._add(depth, n - n_left)
        node["left"], node["right"] = left, right
        self._pending_sums += [left, right]
        if depth < self.max_depth:
            small, large = (left, right) if n_left <= n - n_left else (right, left)
            self._pending_hists.append(small)
            self._subtract.append((large, hist, small))

    def to_tree(self):
        """The grown tree as ``grower.Tree`` (node ids in preorder, as the depth-first grower)."""
        tree = Tree(self.k)

        def emit(i):
            nd = self.nodes[i]
            node = tree.add(nd["depth"], nd["counts"], nd["label"], nd["n"], nd["scores"])
            if nd["feature"] >= 0:
                tree.rows[node].update(
                    feature=nd["feature"], bin=nd["bin"], threshold=nd["threshold"], missing_left=nd["missing_left"]
                )
                tree.rows[node]["left"] = emit(nd["left"])
                tree.rows[node]["right"] = emit(nd["right"])
            return node

        emit(0)
        return tree.finalize()


def grow_level_trees(trees, run_round):
    """Grow every ``LevelTree`` in ``trees`` together: ``run_round(requests)`` returns the summed
    shard results for a list of requests (one round answers a level of every unfinished tree)."""
    while True:
        active = [t for t in trees if not t.done]
        if not active:
            return trees
        results = run_round([t.request() for t in active])
        for t, r in zip(active, results, strict=True):
            t.absorb(r)
