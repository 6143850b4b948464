# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Probability rows behind ``crembo.backends.cython_backend`` (spec: ``backends/reference.py``):
softmax steps, row status, normalisation, allowed labels.

Each row is handled inside one thread with its sums taken left to right over the classes, as
in the reference, so results do not depend on ``n_threads``.
"""

from cython.parallel cimport parallel, prange
from libc.stdint cimport uint8_t, int8_t
from libc.stdlib cimport malloc, free
from libc.math cimport fabs
from libc.float cimport DBL_MAX

from _common cimport real_t

from crembo.backends import reference as _ref

# The row status codes are the reference's (the spec's): read once, when the module loads.
cdef int8_t ROW_OK = _ref.ROW_OK
cdef int8_t ROW_NONFINITE = _ref.ROW_NONFINITE
cdef int8_t ROW_NEGATIVE = _ref.ROW_NEGATIVE
cdef int8_t ROW_BAD_SUM = _ref.ROW_BAD_SUM


def softmax_shift_into(
    const real_t[:, ::1] logits,  # IN  (n, k)
    double[:, ::1] out,           # OUT (n, k) logits - row max, in float64
):
    """Softmax step 1 (serial, without the GIL: the caller runs row chunks in threads)."""
    cdef Py_ssize_t n = logits.shape[0], k = logits.shape[1], i, c
    cdef double m
    cdef const real_t* z
    cdef double* e
    if n == 0 or k == 0:
        return
    with nogil:
        for i in range(n):
            z = &logits[i, 0]
            e = &out[i, 0]
            m = z[0]
            for c in range(1, k):
                if z[c] > m:
                    m = z[c]
            for c in range(k):
                e[c] = <double>z[c] - m


def softmax_divide(double[:, ::1] e):  # INOUT (n, k) exp values -> divided by their row sums
    """Softmax step 3 (serial, without the GIL): sums left to right, then divisions."""
    cdef Py_ssize_t i, c
    cdef double total
    with nogil:
        for i in range(e.shape[0]):
            total = 0.0
            for c in range(e.shape[1]):
                total = total + e[i, c]
            for c in range(e.shape[1]):
                e[i, c] = e[i, c] / total


cdef inline int8_t _sum_status(double total, double atol) noexcept nogil:
    if fabs(total - 1.0) <= atol:   # NaN sums count as bad
        return ROW_OK
    return ROW_BAD_SUM


cdef int8_t _row_status(const real_t* p, Py_ssize_t k, double atol, double* total_out) noexcept nogil:
    """Status of one row, the slow general path (see _status_rows)."""
    cdef Py_ssize_t c
    cdef double x, total = 0.0
    cdef bint nonfinite = False, negative = False
    for c in range(k):
        x = p[c]
        total = total + x
        # x - x is NaN exactly when x is NaN or +-inf (no -ffast-math, so it is not folded).
        nonfinite = nonfinite | (not (x - x == 0.0))
        negative = negative | (x < 0.0)
    total_out[0] = total
    if nonfinite:
        return ROW_NONFINITE
    if negative:
        return ROW_NEGATIVE
    return _sum_status(total, atol)


cdef inline double _fmin(double a, double b) noexcept nogil:
    return b if b < a else a


cdef void _status_rows(
    const real_t* p,    # IN  rows i0:i1 of the (n, k) matrix, from row i0 on
    Py_ssize_t k,
    Py_ssize_t rows,
    double atol,
    int8_t* status,     # OUT (rows,)
    double* totals,     # OUT (rows,) left-to-right float64 sums
) noexcept nogil:
    """Four rows at a time: each row's sum is a chain of dependent adds, and four independent
    chains keep the adder busy. A group is clean when its
    sums are finite (a NaN or +-inf value makes its row's sum NaN or inf) and its minimum is >= 0;
    only a group that is not is redone row by row to tell the cases apart."""
    cdef Py_ssize_t i = 0, c, r
    cdef double t0, t1, t2, t3, m0, m1, m2, m3, x0, x1, x2, x3
    cdef const real_t* q
    while i + 4 <= rows:
        q = p + i * k
        t0 = 0.0
        t1 = 0.0
        t2 = 0.0
        t3 = 0.0
        m0 = q[0]
        m1 = q[k]
        m2 = q[2 * k]
        m3 = q[3 * k]
        for c in range(k):
            x0 = q[c]
            x1 = q[k + c]
            x2 = q[2 * k + c]
            x3 = q[3 * k + c]
            t0 = t0 + x0
            t1 = t1 + x1
            t2 = t2 + x2
            t3 = t3 + x3
            m0 = _fmin(m0, x0)
            m1 = _fmin(m1, x1)
            m2 = _fmin(m2, x2)
            m3 = _fmin(m3, x3)
        if _fmin(_fmin(m0, m1), _fmin(m2, m3)) >= 0.0 and fabs(t0 + t1 + t2 + t3) <= DBL_MAX:
            status[i] = _sum_status(t0, atol)
            status[i + 1] = _sum_status(t1, atol)
            status[i + 2] = _sum_status(t2, atol)
            status[i + 3] = _sum_status(t3, atol)
            totals[i] = t0
            totals[i + 1] = t1
            totals[i + 2] = t2
            totals[i + 3] = t3
        else:
            for r in range(i, i + 4):
                status[r] = _row_status(p + r * k, k, atol, &totals[r])
        i += 4
    while i < rows:
        status[i] = _row_status(p + i * k, k, atol, &totals[i])
        i += 1


# Rows per parallel task of the row-status kernels (sums kept in a per-thread buffer).
cdef enum:
    ROW_BLOCK = 256


cdef int _check_rows(
    const real_t* p,    # IN  (n, k) C-contiguous
    Py_ssize_t n,
    Py_ssize_t k,
    double atol,
    int8_t* status,     # OUT (n,) ROW_* code per row
    double* out,        # OUT (n, k) each row divided by its sum, or NULL for the status only
    int n_threads,
) noexcept nogil:
    """Row status (and normalised rows) in blocks of ROW_BLOCK rows; -1 when a thread's buffer
    for the block's sums could not be allocated, else 0."""
    cdef Py_ssize_t b, i0, rows, i, c, failed = 0
    cdef double* totals = NULL
    cdef const real_t* q
    cdef double* o
    with parallel(num_threads=n_threads):
        totals = <double*>malloc(ROW_BLOCK * sizeof(double))   # one per thread
        for b in prange((n + ROW_BLOCK - 1) // ROW_BLOCK, schedule="static"):
            i0 = b * ROW_BLOCK
            rows = min(<Py_ssize_t>ROW_BLOCK, n - i0)
            if totals == NULL:
                failed += 1
            else:
                _status_rows(p + i0 * k, k, rows, atol, status + i0, totals)
            if totals != NULL and out != NULL:
                # the divisions in a second pass over the block (still in L1/L2): no sum chain
                # in the way
                q = p + i0 * k
                o = out + i0 * k
                for i in range(rows):
                    for c in range(k):
                        o[c] = <double>q[c] / totals[i]
                    q = q + k
                    o = o + k
        free(totals)
    return -1 if failed else 0


def row_status_into(
    const real_t[:, ::1] proba,   # IN  (n, k)
    int8_t[::1] status,           # OUT (n,) ROW_* code per row
    double atol,
    int n_threads,
    double[:, ::1] belief=None,   # OUT (n, k) each row divided by its sum, when given
):
    cdef Py_ssize_t n = proba.shape[0], k = proba.shape[1]
    cdef double* out = NULL if belief is None else &belief[0, 0]
    cdef int ok
    if n == 0 or k == 0:
        return
    with nogil:
        ok = _check_rows(&proba[0, 0], n, k, atol, &status[0], out, n_threads)
    if ok < 0:
        raise MemoryError("crembo: no memory for the row sums")


def allowed_labels_into(
    const real_t[:, ::1] belief,  # IN  (n, k)
    uint8_t[:, ::1] out,          # OUT (n, k) 1 where belief >= threshold (a bool array's bytes)
    double threshold,
    int n_threads,
):
    cdef Py_ssize_t n = belief.shape[0], k = belief.shape[1], i, c
    cdef const real_t* p
    cdef uint8_t* o
    if n == 0 or k == 0:
        return
    for i in prange(n, nogil=True, schedule="static", num_threads=n_threads):
        p = &belief[i, 0]
        o = &out[i, 0]
        for c in range(k):
            o[c] = <double>p[c] >= threshold
