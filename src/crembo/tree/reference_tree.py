"""Plain-Python reference of the greedy allowed-label tree: the executable spec the kernels match.

Same algorithm as ``grower.Grower.grow`` (see its module docstring for the rules), written for
reading, not speed: each node's histogram is computed directly from its samples (no sibling
subtraction), and the split scan is a Python loop.
"""

import math

import numpy as np

from crembo.tree.grower import CRITERIA, Tree, better, node_stats


def node_histogram(Xb, allowed, weights, idx, n_bins):
    """hist[f, b] = (allowed counts per class (weighted), sample count, weight) of node samples."""
    n_features, k = Xb.shape[1], allowed.shape[1]
    hist = np.zeros((n_features, n_bins, k + 2))
    a = allowed[idx].astype(np.float64) * weights[idx, None]
    for f in range(n_features):
        codes = Xb[idx, f]
        for c in range(k):
            hist[f, :, c] = np.bincount(codes, weights=a[:, c], minlength=n_bins)
        hist[f, :, k] = np.bincount(codes, minlength=n_bins)
        hist[f, :, k + 1] = np.bincount(codes, weights=weights[idx], minlength=n_bins)
    return hist


def score(left, P, k):
    """(consistency, gini score) of the split whose left totals are ``left``."""
    max_l = max_r = -1.0
    g = 0.0
    wl, wr = left[k + 1], P[k + 1] - left[k + 1]
    for c in range(k):
        cl = left[c]  # class c's totals on the left and on the right
        cr = P[c] - cl
        max_l, max_r = max(max_l, cl), max(max_r, cr)
        d = wl - cl
        g = g + (cl * cl + d * d) / wl
        d = wr - cr
        g = g + (cr * cr + d * d) / wr
    return max_l + max_r, g


def best_split(hist, P, n_bins_nm, missing_bin, msl, criterion):
    """(feature, bin, missing_left) of the best split, or None."""
    k = hist.shape[2] - 2
    best, best_cons, best_gini = None, -1.0, -math.inf
    for f in range(hist.shape[0]):
        miss = hist[f, missing_bin]
        L = np.zeros(k + 2)
        for b in range(n_bins_nm[f]):
            if hist[f, b, k] == 0:
                continue
            L = L + hist[f, b]
            candidates = [(L, False)] + ([(L + miss, True)] if miss[k] > 0 else [])
            for left, ml in candidates:
                if left[k] >= msl and P[k] - left[k] >= msl:
                    cons, gini = score(left, P, k)
                    if better(cons, gini, best_cons, best_gini, criterion):
                        best, best_cons, best_gini = (f, b, ml), cons, gini
    return best


def fit_reference(binned, allowed, weights=None, criterion="consistency", max_depth=4, min_samples_leaf=1):
    """Greedy tree (a grower.Tree) on BinnedData and an (n, k) 0/1 allowed matrix."""
    crit = CRITERIA[criterion]
    Xb = np.asarray(binned.X_binned)
    allowed = np.asarray(allowed, dtype=np.uint8)
    w = np.ones(allowed.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    tree = Tree(allowed.shape[1])

    def grow(idx, depth):
        counts, label, pure, scores = node_stats(allowed[idx], None if weights is None else w[idx], crit)
        node = tree.add(depth, counts, label, idx.size, scores)
        if depth >= max_depth or idx.size < max(2, 2 * min_samples_leaf) or pure:
            return node
        hist = node_histogram(Xb, allowed, w, idx, binned.n_bins)
        P = hist[0].sum(axis=0)
        split = best_split(hist, P, binned.n_bins_nonmissing, binned.missing_bin, min_samples_leaf, crit)
        if split is None:
            return node
        f, b, ml = split
        codes = Xb[idx, f]
        missing = codes == binned.missing_bin
        go_left = (codes <= b) | (missing & ml)
        if not missing.any():
            ml = bool(go_left.sum() >= idx.size - go_left.sum())
        right = codes[~go_left & ~missing]
        b = binned.centred_bin(f, b, int(right.min()) if right.size else None)
        tree.rows[node].update(feature=f, bin=b, threshold=binned.threshold(f, b), missing_left=ml)
        tree.rows[node]["left"] = grow(idx[go_left], depth + 1)
        tree.rows[node]["right"] = grow(idx[~go_left], depth + 1)
        return node

    # samples in order of their allowed-set size, as the grower visits them (weighted sums round alike)
    grow(np.argsort(allowed.sum(axis=1), kind="stable"), 0)
    return tree.finalize()
