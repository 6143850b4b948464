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
count. Also here, the grower's other per-sample passes (so a fit makes no (n, k) temporaries):
``label_lists`` (allowed matrix -> label lists), ``balanced_weights``, ``node_sums`` (a node's
label counts), ``partition`` (a split's rows), and ``apply_tree`` / ``apply_binned`` (prediction
on raw or binned rows).
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
                             Py_ssize_t k, bint weighted) noexcept nogil:
    """One sample into its histogram row: w to each allowed label and to the weight column (k + 1),
    1 to the count column (k). Unweighted fits add 1.0 and leave the weight column to
    ``_copy_counts`` (one add fewer per sample and feature)."""
    cdef int p
    for p in range(n_allowed):
        hist_row[labels[p]] += w
    hist_row[k] += 1.0
    if weighted:
        hist_row[k + 1] += w


cdef void _copy_counts(double[:, ::1] hist, Py_ssize_t k) noexcept nogil:
    """Unweighted: the weight column is the count column."""
    cdef Py_ssize_t r
    for r in range(hist.shape[0]):
        hist[r, k + 1] = hist[r, k]


# Samples per block: a thread streams one block through each of its features, so the block's
# label lists, counts and weights are gathered from memory once and then re-read from cache
# rather than gathered again for every feature.
cdef enum:
    BLOCK = 4096


def build_hist(
    const unsigned char[::1, :] X_binned,   # IN (n_samples, n_features), Fortran order
    const Py_ssize_t[::1] sample_indices,   # IN (n_node,) rows of the node
    const unsigned char[:, ::1] labels,     # IN (n_samples, k) allowed labels, first n_allowed[i]
    const unsigned char[::1] n_allowed,     # IN (n_samples,)
    const double[::1] weights,              # IN (n_samples,) (ignored when not weighted)
    const Py_ssize_t[::1] offsets,          # IN (n_features + 1,) first row of each feature
    const int[::1] n_bins_nm,               # IN (n_features,) non-missing bins per feature
    double[:, ::1] hist,                    # OUT (offsets[n_features], k + 2), zeroed by caller
    bint weighted,
    int n_threads,
):
    """The node's histogram. Thread t owns features t, t + n_threads, ...: every feature's rows
    are summed by one thread in sample order, whatever the thread count."""
    cdef Py_ssize_t n = sample_indices.shape[0]
    cdef Py_ssize_t n_features = X_binned.shape[1]
    cdef Py_ssize_t k = hist.shape[1] - 2
    cdef Py_ssize_t t, start, stop, j, i, f, r
    if n_threads < 1:
        n_threads = 1
    for t in prange(n_threads, schedule="static", chunksize=1, num_threads=n_threads, nogil=True):
        start = 0
        while start < n:
            stop = start + BLOCK
            if stop > n:
                stop = n
            f = t
            while f < n_features:
                for j in range(start, stop):
                    i = sample_indices[j]
                    r = _row(&offsets[0], &n_bins_nm[0], f, X_binned[i, f])
                    _add_sample(&hist[r, 0], &labels[i, 0], n_allowed[i],
                                weights[i] if weighted else 1.0, k, weighted)
                f = f + n_threads
            start = stop
    if not weighted:
        _copy_counts(hist, k)


def node_sums(
    const Py_ssize_t[::1] sample_indices,   # IN (n_node,) rows of the node; None: every row
    const unsigned char[:, ::1] labels,     # IN (n_samples, k) allowed labels, first n_allowed[i]
    const unsigned char[::1] n_allowed,     # IN (n_samples,)
    const double[::1] weights,              # IN (n_samples,) (ignored when not weighted)
    long long[::1] counts,                  # OUT (k,) allowed counts, zeroed by caller
    double[::1] wsum,                       # OUT (k,) weighted allowed counts, zeroed by caller
    bint weighted,
):
    """A node's allowed counts and weighted ones, summed in sample order (as
    ``grower.node_stats`` does), so the weighted sums round the same way."""
    cdef bint every = sample_indices is None
    cdef Py_ssize_t n = n_allowed.shape[0] if every else sample_indices.shape[0]
    cdef Py_ssize_t j, i
    cdef int p
    with nogil:
        for j in range(n):
            i = j if every else sample_indices[j]
            for p in range(n_allowed[i]):
                counts[labels[i, p]] += 1
                if weighted:
                    wsum[labels[i, p]] += weights[i]


def balanced_weights(
    const unsigned char[:, ::1] allowed,    # IN (n, k) 0/1
    const double[:, ::1] factors,           # IN (k, 2) per column: weight of a 0, of a 1
    double[::1] out,                        # OUT (n,)
    int n_threads,
):
    """Per sample the product over columns 0..k-1 of its factor, in column order (the rounding of
    ``estimator.balanced_multioutput_weights``) without an (n, k) temporary; the factor is
    looked up, not branched on."""
    cdef Py_ssize_t n = allowed.shape[0], k = allowed.shape[1], i, c
    cdef double prod
    for i in prange(n, schedule="static", num_threads=n_threads, nogil=True):
        prod = 1.0
        for c in range(k):
            prod = prod * factors[c, allowed[i, c] != 0]
        out[i] = prod


def partition(
    const unsigned char[::1] codes,          # IN (n_samples,) binned column of the split feature
    const Py_ssize_t[::1] sample_indices,   # IN (n_node,) rows of the node
    int bin, int missing_bin, bint missing_left,
    const unsigned char[:, ::1] labels,     # IN (n_samples, k) allowed labels, first n_allowed[i]
    const unsigned char[::1] n_allowed,     # IN (n_samples,)
    const double[::1] weights,              # IN (n_samples,) (ignored when not weighted)
    bint weighted,
    Py_ssize_t[::1] out,                    # OUT (n_node,) left rows, then right rows
    long long[:, ::1] counts,               # OUT (2, k) children's allowed counts, zeroed by caller
    double[:, ::1] wsum,                    # OUT (2, k) and weighted ones, zeroed by caller
):
    """Split a node's rows by ``code <= bin`` (NaN's code goes left iff missing_left), each side
    keeping their order, and sum each child's label counts on the way (in the child's row order:
    the sums ``node_sums`` would give); returns (n_left, whether any row was NaN)."""
    cdef Py_ssize_t n = sample_indices.shape[0]
    cdef Py_ssize_t j, i, nl = 0, nr
    cdef bint any_missing = False
    cdef int side, p
    cdef unsigned char code
    with nogil:
        for j in range(n):  # count, so both sides can be written in order in one array
            code = codes[sample_indices[j]]
            if code == missing_bin:
                any_missing = True
                nl = nl + missing_left
            else:
                nl = nl + (code <= bin)
        nr = nl
        nl = 0
        for j in range(n):
            i = sample_indices[j]
            code = codes[i]
            if (missing_left if code == missing_bin else code <= bin):
                out[nl] = i
                nl = nl + 1
                side = 0
            else:
                out[nr] = i
                nr = nr + 1
                side = 1
            for p in range(n_allowed[i]):
                counts[side, labels[i, p]] += 1
                if weighted:
                    wsum[side, labels[i, p]] += weights[i]
    return nl, any_missing


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


def apply_binned(
    const unsigned char[::1, :] X_binned,   # IN (n_samples, n_features), Fortran order
    const Py_ssize_t[::1] feature,          # IN (n_nodes,) -1 at leaves
    const Py_ssize_t[::1] bin,              # IN (n_nodes,) code <= bin goes left
    const unsigned char[::1] missing_left,  # IN (n_nodes,) where NaN's code goes
    const Py_ssize_t[::1] left,             # IN (n_nodes,)
    const Py_ssize_t[::1] right,            # IN (n_nodes,)
    int missing_bin,                        # the binned code of NaN
    Py_ssize_t[::1] out,                    # OUT (n_samples,) leaf id
    int n_threads,
):
    """Leaf of each binned row: the training partition (a threshold lies between the codes it
    separates, so this equals ``apply_tree`` on the raw rows), reading 1 byte per level."""
    cdef Py_ssize_t n = X_binned.shape[0], i, node
    cdef unsigned char code
    for i in prange(n, schedule="static", num_threads=n_threads, nogil=True):
        node = 0
        while feature[node] >= 0:
            code = X_binned[i, feature[node]]
            if code == missing_bin:
                node = left[node] if missing_left[node] else right[node]
            elif code <= bin[node]:
                node = left[node]
            else:
                node = right[node]
        out[i] = node
