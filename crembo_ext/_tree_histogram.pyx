# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Per-node histograms of allowed-label counts, built in parallel over features.

A histogram is flat: feature f owns rows offsets[f] .. offsets[f + 1] - 1, its n_bins_nm[f]
non-missing bins and then its missing bin (local index n_bins_nm[f]; the binned code of NaN is
the global ``missing_bin``, larger than every non-missing code), so its size is the sum of the
features' actual bins. hist[offsets[f] + b, c] (c < k) is the (weighted) number of node samples
with bin b on feature f whose allowed set contains c; column k is their count and k + 1 their
weight (1 per sample when unweighted). Allowed sets come as label lists:
row i holds its n_allowed[i] labels first, so a sample costs |Y_i| + 1 additions instead of
k + 2 (at the thresholds MEMO probes most rows allow one or two labels). Each feature owns its
rows of hist, so the prange needs no reduction and the result does not depend on the thread
count. Also here: ``label_lists`` (allowed matrix -> label lists) and ``apply_tree`` (prediction).
"""

from cython.parallel import prange


cdef inline Py_ssize_t _row(const Py_ssize_t* offsets, const int* n_bins_nm, Py_ssize_t f,
                            unsigned char code) noexcept nogil:
    """Flat histogram row of a binned code: non-missing codes are < n_bins_nm[f], NaN's is larger."""
    cdef int b = code
    if b > n_bins_nm[f]:
        b = n_bins_nm[f]
    return offsets[f] + b


cdef inline void _add_sample(double* hist_row, const unsigned char* labels, int n_allowed, double w,
                             Py_ssize_t k) noexcept nogil:
    """One sample into its histogram row: w to each allowed label, w to the weight column (k + 1),
    1 to the count column (k). Unweighted fits pass w = 1.0 (the same sums as adding 1.0)."""
    cdef int p
    for p in range(n_allowed):
        hist_row[labels[p]] += w
    hist_row[k + 1] += w
    hist_row[k] += 1.0


def build_root(
    const unsigned char[::1, :] X_binned,   # IN (n_samples, n_features), Fortran order
    const unsigned char[:, ::1] labels,     # IN (n_samples, k) allowed labels, first n_allowed[i]
    const unsigned char[::1] n_allowed,     # IN (n_samples,)
    const double[::1] weights,              # IN (n_samples,) (ignored when not weighted)
    const Py_ssize_t[::1] offsets,          # IN (n_features + 1,) first row of each feature
    const int[::1] n_bins_nm,               # IN (n_features,) non-missing bins per feature
    double[:, ::1] hist,                    # OUT (offsets[n_features], k + 2), zeroed by caller
    bint weighted,
    int n_threads,
):
    cdef Py_ssize_t n = X_binned.shape[0]
    cdef Py_ssize_t n_features = X_binned.shape[1]
    cdef Py_ssize_t k = hist.shape[1] - 2
    cdef Py_ssize_t i, f, r
    for f in prange(n_features, schedule="static", num_threads=n_threads, nogil=True):
        for i in range(n):
            r = _row(&offsets[0], &n_bins_nm[0], f, X_binned[i, f])
            _add_sample(&hist[r, 0], &labels[i, 0], n_allowed[i], weights[i] if weighted else 1.0, k)


def build_subset(
    const unsigned char[::1, :] X_binned,   # IN (n_samples, n_features), Fortran order
    const Py_ssize_t[::1] sample_indices,   # IN (n_node,) rows of the node
    const unsigned char[:, ::1] labels,     # IN (n_node, k) the node's label lists, gathered
    const unsigned char[::1] n_allowed,     # IN (n_node,) gathered
    const double[::1] weights,              # IN (n_node,) gathered (ignored when not weighted)
    const Py_ssize_t[::1] offsets,          # IN (n_features + 1,) first row of each feature
    const int[::1] n_bins_nm,               # IN (n_features,) non-missing bins per feature
    double[:, ::1] hist,                    # OUT (offsets[n_features], k + 2), zeroed by caller
    bint weighted,
    int n_threads,
):
    cdef Py_ssize_t n = sample_indices.shape[0]
    cdef Py_ssize_t n_features = X_binned.shape[1]
    cdef Py_ssize_t k = hist.shape[1] - 2
    cdef Py_ssize_t j, f, r
    for f in prange(n_features, schedule="static", num_threads=n_threads, nogil=True):
        for j in range(n):
            r = _row(&offsets[0], &n_bins_nm[0], f, X_binned[sample_indices[j], f])
            _add_sample(&hist[r, 0], &labels[j, 0], n_allowed[j], weights[j] if weighted else 1.0, k)


def label_lists(const unsigned char[:, ::1] allowed,   # IN (n, k) 0/1
                unsigned char[:, ::1] labels,          # OUT (n, k) allowed labels first
                unsigned char[::1] n_allowed,          # OUT (n,)
                int n_threads):
    """Allowed sets as label lists (k <= 255)."""
    cdef Py_ssize_t n = allowed.shape[0], k = allowed.shape[1], i, c
    cdef int m
    for i in prange(n, schedule="static", num_threads=n_threads, nogil=True):
        m = 0
        for c in range(k):  # branch-free: write always, advance only past allowed labels
            labels[i, m] = <unsigned char>c
            m = m + (allowed[i, c] != 0)
        n_allowed[i] = <unsigned char>m


def apply_tree(
    const double[:, :] X,               # IN (n_samples, n_features), any layout
    const Py_ssize_t[::1] feature,      # IN (n_nodes,) -1 at leaves
    const double[::1] threshold,        # IN (n_nodes,) x <= threshold goes left
    const unsigned char[::1] missing_left,  # IN (n_nodes,) where NaN goes
    const Py_ssize_t[::1] left,         # IN (n_nodes,)
    const Py_ssize_t[::1] right,        # IN (n_nodes,)
    Py_ssize_t[::1] out,                # OUT (n_samples,) leaf id
    int n_threads,
):
    cdef Py_ssize_t n = X.shape[0], i, node
    cdef double x
    for i in prange(n, schedule="static", num_threads=n_threads, nogil=True):
        node = 0
        while feature[node] >= 0:
            x = X[i, feature[node]]
            if x <= threshold[node]:
                node = left[node]
            elif x != x:  # NaN
                node = left[node] if missing_left[node] else right[node]
            else:
                node = right[node]
        out[i] = node
