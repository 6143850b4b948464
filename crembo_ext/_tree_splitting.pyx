# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Split search of the allowed-label tree: greedy best split per feature, and the exact depth-2 solver.

A node's histogram is flat (see _tree_histogram): feature f owns rows offsets[f] .. offsets[f + 1] - 1,
its non-missing bins then its missing bin; a row holds k allowed counts (weighted for "gini"), then
the sample count, then the weight. For a candidate split with left totals L and
parent totals P (right = P - L):
- consistency  = max_c L[c] + max_c R[c] (samples whose allowed set contains their leaf's label);
- gini score   = sum_c (L[c]^2 + (W_L - L[c])^2) / W_L + the same for R, which orders splits as
  scikit-learn's multi-output Gini proxy (-W_L imp_L - W_R imp_R) does.
criterion 0 ("consistency") maximises (consistency, gini score) lexicographically, criterion 1
("gini") the gini score alone. Ties keep the first candidate: lowest bin, missing values right
before left; across features the lowest feature.
"""

from cython.parallel import prange, threadid
from libc.string cimport memset
from libc.math cimport INFINITY


cdef inline void _score(const double* left, const double* P, int k,
                        double* cons, double* gini) noexcept nogil:
    cdef double max_l = -1.0, max_r = -1.0, g = 0.0, cl, cr, d
    cdef double wl = left[k + 1]
    cdef double wr = P[k + 1] - left[k + 1]
    cdef int c
    for c in range(k):
        cl = left[c]  # class c's totals on the left and on the right
        cr = P[c] - cl
        if cl > max_l:
            max_l = cl
        if cr > max_r:
            max_r = cr
        d = wl - cl
        g = g + (cl * cl + d * d) / wl
        d = wr - cr
        g = g + (cr * cr + d * d) / wr
    cons[0] = max_l + max_r
    gini[0] = g


cdef inline bint _better(double cons, double gini, double best_cons, double best_gini,
                         int criterion) noexcept nogil:
    if criterion == 0:
        return cons > best_cons or (cons == best_cons and gini > best_gini)
    return gini > best_gini


cdef inline void _consider(
    const double* left, const double* P, int k, double n_total, double msl, int criterion, int b,
    int missing_left, double* best_cons, double* best_gini, int* best_bin, int* best_ml,
) noexcept nogil:
    """Keep the split whose left child has the counts ``left`` if it is valid and the best so far."""
    cdef double cons, gini
    if left[k] >= msl and n_total - left[k] >= msl:
        _score(left, P, k, &cons, &gini)
        if _better(cons, gini, best_cons[0], best_gini[0], criterion):
            best_cons[0] = cons
            best_gini[0] = gini
            best_bin[0] = b
            best_ml[0] = missing_left


cdef int _scan_feature(
    const double* Hf,       # IN (nb + 1, K2) histogram of one feature, missing bin last
    int K2,                 # k + 2
    const double* P,        # IN (K2,) node totals
    int k,
    int nb,                 # non-missing bins of this feature
    double msl,             # min_samples_leaf
    int criterion,
    double* L,              # scratch (K2,)
    double* LM,             # scratch (K2,)
    double* best_cons,      # OUT
    double* best_gini,      # OUT
    int* best_bin,          # OUT (-1 if no valid split)
    int* best_ml,           # OUT 1 if missing values go left
) noexcept nogil:
    cdef const double* miss = Hf + nb * K2
    cdef const double* row
    cdef bint has_miss = miss[k] > 0
    cdef double n_total = P[k]
    cdef int b, c
    for c in range(K2):
        L[c] = 0.0
    best_cons[0] = -1.0
    best_gini[0] = -INFINITY
    best_bin[0] = -1
    best_ml[0] = 0
    for b in range(nb):
        row = Hf + b * K2
        if row[k] == 0:
            continue  # same partition as the previous bin
        for c in range(K2):
            L[c] += row[c]
        _consider(L, P, k, n_total, msl, criterion, b, 0, best_cons, best_gini, best_bin, best_ml)
        if has_miss:
            for c in range(K2):
                LM[c] = L[c] + miss[c]
            _consider(LM, P, k, n_total, msl, criterion, b, 1, best_cons, best_gini, best_bin, best_ml)
    return best_bin[0] >= 0


def find_best_split(
    const double[:, ::1] hist,        # IN (offsets[n_features], k + 2) flat histogram
    const double[::1] P,              # IN (k + 2,) node totals
    const Py_ssize_t[::1] offsets,    # IN (n_features + 1,) first row of each feature
    const int[::1] n_bins_nm,         # IN (n_features,) non-missing bins per feature
    double min_samples_leaf,
    int criterion,
    double[::1] out_cons,             # OUT (n_features,) best per feature
    double[::1] out_gini,             # OUT (n_features,)
    int[::1] out_bin,                 # OUT (n_features,) -1: no valid split on f
    int[::1] out_ml,                  # OUT (n_features,)
    double[:, ::1] scratch,           # (n_features, 2 * (k + 2))
    int n_threads,
):
    """Best split per feature (in parallel), then the best feature: returns it, or -1."""
    cdef Py_ssize_t n_features = n_bins_nm.shape[0]
    cdef int K2 = <int>hist.shape[1]
    cdef int k = K2 - 2
    cdef Py_ssize_t f, best = -1
    for f in prange(n_features, schedule="static", num_threads=n_threads, nogil=True):
        _scan_feature(&hist[offsets[f], 0], K2, &P[0], k, n_bins_nm[f],
                      min_samples_leaf, criterion, &scratch[f, 0], &scratch[f, K2],
                      &out_cons[f], &out_gini[f], &out_bin[f], &out_ml[f])
    for f in range(n_features):  # fixed order: the result is thread-count independent
        if out_bin[f] >= 0 and (best < 0 or _better(out_cons[f], out_gini[f], out_cons[best],
                                                    out_gini[best], criterion)):
            best = f
    return best


cdef void _child_best(
    const double* H,        # IN (offsets[n_features], K2) flat child histogram
    int n_features, const Py_ssize_t* offsets, int K2,
    const int* n_bins_nm, double msl,
    double* scratch,        # (3 * K2,)
    double* out_cons, double* out_gini, int* out_f, int* out_b, int* out_ml,
) noexcept nogil:
    """Best (consistency, gini) of a depth-1 subtree at a child: a leaf when pure or unsplittable."""
    cdef int k = K2 - 2, g, b, c, bb, mm
    cdef double* T = scratch + 2 * K2
    cdef double cons, gini, m = -1.0, d
    for c in range(K2):
        T[c] = 0.0
    for b in range(n_bins_nm[0] + 1):  # feature 0's bins hold every sample once
        for c in range(K2):
            T[c] += H[b * K2 + c]
    for c in range(k):
        if T[c] > m:
            m = T[c]
    out_f[0] = -1
    out_b[0] = -1
    out_ml[0] = 0
    out_cons[0] = m
    gini = 0.0
    for c in range(k):
        d = T[k + 1] - T[c]
        gini = gini + (T[c] * T[c] + d * d) / T[k + 1]
    out_gini[0] = gini
    if m == T[k] or T[k] < 2 * msl:
        return  # pure, or too small to split: a leaf
    cdef double best_cons = -1.0, best_gini = -INFINITY
    for g in range(n_features):
        if _scan_feature(H + offsets[g] * K2, K2, T, k, n_bins_nm[g], msl, 0,
                         scratch, scratch + K2, &cons, &gini, &bb, &mm):
            if _better(cons, gini, best_cons, best_gini, 0):
                best_cons = cons
                best_gini = gini
                out_f[0] = g
                out_b[0] = bb
                out_ml[0] = mm
    if out_f[0] >= 0:
        out_cons[0] = best_cons
        out_gini[0] = best_gini


cdef inline void _add_samples(
    double* Hh, const unsigned char[::1, :] X_binned, const unsigned char[:, ::1] allowed,
    const Py_ssize_t[:, ::1] order, Py_ssize_t f, Py_ssize_t start, Py_ssize_t stop,
    int n_features, const Py_ssize_t* offsets, const int* n_bins_nm, int K2,
) noexcept nogil:
    cdef Py_ssize_t j, i
    cdef int g, c, b, k = K2 - 2
    cdef double* row
    for j in range(start, stop):
        i = order[f, j]
        for g in range(n_features):
            b = X_binned[i, g]
            if b > n_bins_nm[g]:  # NaN's code: the feature's own missing bin
                b = n_bins_nm[g]
            row = Hh + (offsets[g] + b) * K2
            for c in range(k):
                row[c] += allowed[i, c]
            row[k] += 1.0
            row[k + 1] += 1.0


def exact_depth2(
    const unsigned char[::1, :] X_binned,  # IN (n_samples, n_features), Fortran order
    const unsigned char[:, ::1] allowed,   # IN (n_samples, k)
    const Py_ssize_t[:, ::1] order,        # IN (n_features, n_samples) rows sorted by bin of f
    const Py_ssize_t[:, ::1] starts,       # IN (n_features, missing_bin + 2) segments of binned codes
    const double[:, ::1] root_hist,        # IN (offsets[n_features], k + 2) flat, unweighted
    const Py_ssize_t[::1] offsets,         # IN (n_features + 1,) first row of each feature
    const int[::1] n_bins_nm,
    int missing_bin,                       # the binned code of NaN
    double min_samples_leaf,
    double[:, :, :, ::1] bufs,             # (n_threads, 4, offsets[n_features], k + 2)
    double[:, ::1] scratch,                # (n_threads, 3 * (k + 2))
    double[:, ::1] dres,                   # (n_threads, 4) children's (consistency, gini)
    int[:, ::1] ires,                      # (n_threads, 6) children's (feature, bin, missing_left)
    double[::1] res_cons,                  # OUT (n_features,) best total consistency per root feature
    double[::1] res_gini,                  # OUT (n_features,)
    int[:, ::1] res_int,                   # OUT (n_features, 9): b, ml, nl, fL, bL, mlL, fR, bR, mlR
    int n_threads,
):
    """For every root feature, the best depth-2 tree by (consistency, gini) over all root bins.

    The left child's histogram grows bin by bin (samples are visited in bin order of the root
    feature), the right child's is root minus left; the two children's best sub-splits are
    independent, so each root split costs two depth-1 scans.
    """
    cdef int n_features = <int>X_binned.shape[1]
    cdef int K2 = <int>root_hist.shape[1]
    cdef Py_ssize_t size = root_hist.shape[0] * K2
    cdef Py_ssize_t n = X_binned.shape[0]
    cdef Py_ssize_t f, j, nl, nleft, n_miss
    cdef int t, b, ml
    cdef double cons, gini
    cdef double* Lh
    cdef double* Mh
    cdef double* C1
    cdef double* C2
    cdef double* left
    cdef const double* Pr = &root_hist[0, 0]
    for f in prange(n_features, schedule="static", num_threads=n_threads, nogil=True):
        t = threadid()
        Lh = &bufs[t, 0, 0, 0]
        Mh = &bufs[t, 1, 0, 0]
        C1 = &bufs[t, 2, 0, 0]
        C2 = &bufs[t, 3, 0, 0]
        memset(Lh, 0, size * sizeof(double))
        memset(Mh, 0, size * sizeof(double))
        n_miss = starts[f, missing_bin + 1] - starts[f, missing_bin]
        _add_samples(Mh, X_binned, allowed, order, f, starts[f, missing_bin],
                     starts[f, missing_bin + 1], n_features, &offsets[0], &n_bins_nm[0], K2)
        res_cons[f] = -1.0
        res_gini[f] = -INFINITY
        res_int[f, 0] = -1
        nl = 0
        for b in range(n_bins_nm[f]):
            if starts[f, b + 1] == starts[f, b]:
                continue
            _add_samples(Lh, X_binned, allowed, order, f, starts[f, b], starts[f, b + 1],
                         n_features, &offsets[0], &n_bins_nm[0], K2)
            nl = nl + starts[f, b + 1] - starts[f, b]
            for ml in range(2):
                if ml == 1 and n_miss == 0:
                    break
                if ml == 0:
                    left = Lh
                    nleft = nl
                else:
                    for j in range(size):
                        C1[j] = Lh[j] + Mh[j]
                    left = C1
                    nleft = nl + n_miss
                if nleft < min_samples_leaf or n - nleft < min_samples_leaf:
                    continue
                for j in range(size):
                    C2[j] = Pr[j] - left[j]
                # children write their results into this thread's own buffers (a variable
                # only assigned through a pointer would be shared between threads)
                _child_best(left, n_features, &offsets[0], K2, &n_bins_nm[0],
                            min_samples_leaf, &scratch[t, 0], &dres[t, 0], &dres[t, 1],
                            &ires[t, 0], &ires[t, 1], &ires[t, 2])
                _child_best(C2, n_features, &offsets[0], K2, &n_bins_nm[0],
                            min_samples_leaf, &scratch[t, 0], &dres[t, 2], &dres[t, 3],
                            &ires[t, 3], &ires[t, 4], &ires[t, 5])
                cons = dres[t, 0] + dres[t, 2]
                gini = dres[t, 1] + dres[t, 3]
                if _better(cons, gini, res_cons[f], res_gini[f], 0):
                    res_cons[f] = cons
                    res_gini[f] = gini
                    res_int[f, 0] = b
                    res_int[f, 1] = ml
                    res_int[f, 2] = <int>nleft
                    for j in range(6):
                        res_int[f, 3 + j] = ires[t, j]
