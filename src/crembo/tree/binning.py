"""Quantile binning of the features, done once per MEMO/CREMBO run and reused at every threshold.

Like scikit-learn's ``_BinMapper``: a feature with at most ``max_bins`` distinct values gets one
bin per value (edges at the midpoints, so binning is lossless); otherwise the edges are
quantiles of a subsample. Bin ``b`` of feature ``f`` holds ``edges[f][b-1] < x <= edges[f][b]``,
and NaN goes to a dedicated missing bin (code ``missing_bin``, the same for every feature).
"""

import numpy as np
from sklearn.utils import check_random_state

from crembo import _validation as v
from crembo._threads import resolve_n_threads

SUBSAMPLE = 200_000


def check_X(X, name="X"):
    """2-D float64 matrix with at least one row and one column; NaN allowed, +-inf allowed."""
    if X is None:
        raise TypeError(f"{name} must be an array, got None")
    if hasattr(X, "toarray"):
        raise TypeError(f"{name}: sparse matrices are not supported; pass a dense array")
    try:
        arr = np.asarray(X)
    except Exception as exc:
        raise TypeError(f"{name} could not be converted to an array: {exc}") from exc
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return arr.astype(np.float64, copy=False)


def find_bin_edges(col, max_bins):
    """Sorted edges (at most max_bins - 1) of one feature column; NaN ignored."""
    s = np.sort(col[~np.isnan(col)])
    if s.size == 0:
        return np.empty(0)
    distinct = s[np.r_[True, s[1:] != s[:-1]]]
    if distinct.size <= max_bins:
        with np.errstate(invalid="ignore", over="ignore"):
            edges = (distinct[:-1] + distinct[1:]) / 2.0
        # a midpoint next to +-inf is not finite: use the finite neighbour instead
        bad = ~np.isfinite(edges)
        if bad.any():
            lo, hi = distinct[:-1][bad], distinct[1:][bad]
            edges[bad] = np.where(np.isfinite(lo), lo, np.nextafter(hi, -np.inf))
    else:
        # np.percentile(s, q, method="midpoint") on the sorted sample, without re-partitioning
        pos = np.linspace(0, 100, max_bins + 1)[1:-1] / 100.0 * (s.size - 1)
        with np.errstate(invalid="ignore", over="ignore"):
            edges = (s[np.floor(pos).astype(np.intp)] + s[np.ceil(pos).astype(np.intp)]) / 2.0
    edges = np.unique(edges[~np.isnan(edges)])
    # An edge at +inf would leave the last bin empty; drop it.
    return edges[edges < np.inf]


class BinLayout:
    """Bin edges per feature and the flat histogram layout they give (shared by the local tree's
    ``BinnedData`` and the distributed grower's shards).

    Attributes: ``bin_edges`` (list of F arrays), ``n_bins_nonmissing`` (F,) int32,
    ``missing_bin`` (int), ``offsets`` (F + 1,) intp: the tree's histograms are flat, feature f
    owning rows ``offsets[f]:offsets[f + 1]`` (its non-missing bins, then its missing bin), so a
    node costs the features' actual bins, not n_features * the widest feature's.
    """

    def __init__(self, bin_edges, missing_bin):
        self.bin_edges = bin_edges
        self.n_bins_nonmissing = np.array([e.size + 1 for e in bin_edges], dtype=np.int32)
        self.missing_bin = int(missing_bin)
        self.offsets = np.zeros(len(bin_edges) + 1, dtype=np.intp)
        np.cumsum(self.n_bins_nonmissing + 1, out=self.offsets[1:])

    @property
    def n_features(self):
        return len(self.bin_edges)

    @property
    def n_bins(self):
        """Dense histogram length per feature: the widest feature's bins plus the missing bin."""
        return self.missing_bin + 1

    @property
    def total_bins(self):
        """Rows of a flat histogram: every feature's non-missing bins plus its missing bin."""
        return int(self.offsets[-1])

    def centred_bin(self, feature, left_bin, right_bin):
        """The split bin between a node's last occupied bin ``left_bin`` (left of the split) and
        its first occupied non-missing bin ``right_bin`` on the right (None: none).

        Every bin in [left_bin, right_bin) splits the node's rows alike; the split search finds
        ``left_bin``, whose edge hugs the left values. Like scikit-learn's tree, which puts its
        threshold midway between a node's neighbouring values, we take the bin whose upper edge is
        nearest the middle of the gap: unseen values are sent to the nearer side (about a point of
        test accuracy on wine and breast cancer at depth 4: docs/selection.md, "Split thresholds").
        """
        if right_bin is None or right_bin <= left_bin + 1:
            return left_bin
        edges = self.bin_edges[feature]
        gap = edges[left_bin:right_bin]
        return left_bin + int(np.argmin(np.abs(gap - (gap[0] + gap[-1]) / 2.0)))

    def threshold(self, feature, bin_):
        """Threshold in original units of the split "bin <= bin_": the bin's upper edge."""
        edges = self.bin_edges[feature]
        return float(edges[bin_]) if bin_ < edges.size else float("inf")


class BinnedData(BinLayout):
    """Binned features plus everything needed to map bins back to original units: the layout,
    ``X_binned`` (n, F) uint8 Fortran-ordered codes and ``has_missing`` (F,) bool."""

    def __init__(self, X_binned, bin_edges, missing_bin, max_bins):
        super().__init__(bin_edges, missing_bin)
        self.X_binned = X_binned
        self.max_bins = int(max_bins)
        self.has_missing = (X_binned == missing_bin).any(axis=0)

    @property
    def n_samples(self):
        return self.X_binned.shape[0]


def bin_features(X, max_bins=255, random_state=None, n_jobs=None):
    """Bin X (n, F) -> BinnedData. ``random_state`` only matters when n > 200,000 (subsample)."""
    max_bins = v.check_int(max_bins, "max_bins", low=2, high=255)
    X = check_X(X)
    sample = X
    if X.shape[0] > SUBSAMPLE:  # quantiles from a row subsample, as HistGradientBoosting does
        rows = check_random_state(random_state).choice(X.shape[0], SUBSAMPLE, replace=False)
        sample = X[np.sort(rows)]
    edges = [find_bin_edges(sample[:, f], max_bins) for f in range(X.shape[1])]
    missing_bin = max(e.size + 1 for e in edges)  # <= max_bins <= 255 fits uint8
    padded = np.zeros((X.shape[1], max(1, max(e.size for e in edges))), dtype=np.float64)
    n_edges = np.zeros(X.shape[1], dtype=np.int32)
    for f, e in enumerate(edges):
        padded[f, : e.size] = e
        n_edges[f] = e.size
    out = np.empty(X.shape, dtype=np.uint8, order="F")
    from crembo._ext._tree_binning import map_to_bins

    map_to_bins(X, padded, n_edges, missing_bin, out, resolve_n_threads(n_jobs))
    return BinnedData(out, edges, missing_bin, max_bins)
