"""A mergeable quantile summary of the feature columns: bin edges for data no process holds.

Each shard summarises its rows per feature as sorted distinct values with their counts; two
summaries merge by adding the counts of equal values. While a summary has at most ``size``
values per feature it is *exact* (the multiset of the column itself), and ``bin_edges`` then
gives exactly ``binning.find_bin_edges`` of the whole column: the midpoints of the distinct
values when there are at most ``max_bins`` of them, else the midpoint percentiles of the sorted
column, each order statistic read from the cumulative counts.

Past ``size`` values a feature is *compressed*: ``size`` values are kept at evenly spaced ranks,
each carrying the count of the values dropped below it, so a rank read from the summary is off
by at most about ``total / size`` rows per compression (the minimum and maximum are kept
exactly). The edges then approximate the exact ones (XGBoost's and LightGBM's distributed
binning make the same trade); with ``size`` = 4096 and 255 bins an edge moves by well under a
tenth of a bin's rows per merge level. NaN is counted apart and never becomes an edge.
"""

import numpy as np

from crembo._validation import check_int

__all__ = ["QuantileSummary", "compress", "edges_from_counts"]


def compress(values, weights, size):
    """At most ``size`` (>= 2) of the sorted ``values``: the first, the last and those at evenly
    spaced cumulative weights, each kept value taking the weight of the dropped ones below it."""
    if values.size <= size:
        return values, weights
    W = np.cumsum(weights)
    targets = W[-1] * np.arange(1, size - 1) / (size - 1)
    keep = np.unique(np.r_[0, np.searchsorted(W, targets, side="left"), values.size - 1])
    kept_w = np.diff(np.r_[0.0, W[keep]])
    return values[keep], kept_w


def edges_from_counts(values, counts, max_bins):
    """``binning.find_bin_edges`` of the column whose sorted distinct values are ``values`` with
    multiplicities ``counts`` (NaN excluded), without materialising the column."""
    from crembo.tree.binning import find_bin_edges

    if values.size == 0:
        return np.empty(0)
    if values.size <= max_bins:
        return find_bin_edges(values, max_bins)  # the distinct branch needs only the values
    cum = np.cumsum(counts)
    N = cum[-1]
    pos = np.linspace(0, 100, max_bins + 1)[1:-1] / 100.0 * (N - 1)

    def order_stat(r):  # the value at 0-based rank r of the sorted column
        return values[np.searchsorted(cum, r, side="right")]

    with np.errstate(invalid="ignore", over="ignore"):
        edges = (order_stat(np.floor(pos)) + order_stat(np.ceil(pos))) / 2.0
    edges = np.unique(edges[~np.isnan(edges)])
    return edges[edges < np.inf]


class QuantileSummary:
    """Per feature: sorted distinct values, their counts, NaN count; ``exact`` until compressed."""

    def __init__(self, values, counts, n_nan, exact, size):
        self.values = values
        self.counts = counts
        self.n_nan = np.asarray(n_nan, dtype=np.int64)
        self.exact = bool(exact)
        self.size = int(size)

    @classmethod
    def from_rows(cls, X, size=4096):
        """Summary of the rows of a 2-D array (any float dtype; compared as float64)."""
        size = check_int(size, "size", low=2)
        values, counts, n_nan, exact = [], [], [], True
        for f in range(X.shape[1]):
            col = np.asarray(X[:, f], dtype=np.float64)
            nan = np.isnan(col)
            v, c = np.unique(col[~nan], return_counts=True)
            exact &= v.size <= size
            v, c = compress(v, c.astype(np.float64), size)
            values.append(v)
            counts.append(c)
            n_nan.append(int(nan.sum()))
        return cls(values, counts, n_nan, exact, size)

    @property
    def n_features(self):
        return len(self.values)

    def merge(self, other):
        """The summary of both shards' rows (compressed again past ``size`` values)."""
        if other.n_features != self.n_features:
            raise ValueError(f"cannot merge summaries of {self.n_features} and {other.n_features} features")
        size = min(self.size, other.size)
        values, counts, exact = [], [], self.exact and other.exact
        for f in range(self.n_features):
            v = np.concatenate([self.values[f], other.values[f]])
            c = np.concatenate([self.counts[f], other.counts[f]])
            u, inv = np.unique(v, return_inverse=True)
            w = np.bincount(inv, weights=c, minlength=u.size)
            exact &= u.size <= size
            u, w = compress(u, w, size)
            values.append(u)
            counts.append(w)
        return QuantileSummary(values, counts, self.n_nan + other.n_nan, exact, size)

    def bin_edges(self, max_bins=255):
        """Edges per feature as ``bin_features`` computes them (exactly, while ``exact``)."""
        return [edges_from_counts(v, c, max_bins) for v, c in zip(self.values, self.counts, strict=True)]
