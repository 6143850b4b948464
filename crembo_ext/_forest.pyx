# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Count a tree ensemble's hard votes by walking its flattened nodes (no (T, n) matrix).

The Python driver (``crembo.teachers.forest``) packs every fitted sklearn tree into one array of 32-byte
``FlatNode`` records; this kernel walks them for each sample with sklearn's ``Tree._apply_dense``
rule (float32 feature value vs float64 threshold; NaN follows ``missing_go_to_left``) and adds
one vote per tree to the sample's count row.

Speed: a tree walk is a chain of dependent loads and hard-to-predict branches, so one walk at a
time leaves the core idle. We walk LANES samples in lockstep, branch-free: leaves point to
themselves (stepping a leaf is a no-op) and the child is chosen by indexing ``child[go_right]``,
so the LANES independent chains overlap in the out-of-order core.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t

ctypedef fused count_t:
    uint16_t
    uint32_t

# Must match crembo.teachers.forest.NODE_DTYPE (checked there via NODE_ITEMSIZE).
ctypedef struct FlatNode:
    double threshold      # go left iff x <= threshold (x converted to double)
    int32_t feature       # split feature; 0 at leaves (any valid column works, both children are self)
    int32_t nan_right     # 1 if a NaN goes to the right child (not missing_go_to_left)
    int32_t child[2]      # absolute indices of (left, right); a leaf's are its own index
    int32_t leaf_class    # voted class index at a leaf, -1 at internal nodes
    int32_t _pad          # keeps the record at 32 bytes (two per cache line)

NODE_ITEMSIZE = sizeof(FlatNode)

cdef enum:
    LANES = 8  # samples walked in lockstep per thread


cdef inline void _count_block(
    const float* X,                 # IN  (n, n_features) row-major
    Py_ssize_t n_features,
    Py_ssize_t start,
    Py_ssize_t stop,
    const FlatNode* nodes,          # IN  all trees' nodes
    const int32_t* roots,           # IN  (T,)
    Py_ssize_t n_trees,
    count_t* counts,                # OUT (n, k) row-major; rows start:stop are written
    Py_ssize_t n_classes,
) noexcept nogil:
    cdef int32_t node[LANES]        # locals of a cdef function: private to the calling thread
    cdef const float* row[LANES]
    cdef const FlatNode* nd
    cdef Py_ssize_t i, t, g, n_valid
    cdef int32_t active
    cdef float x

    for i in range(start * n_classes, stop * n_classes):
        counts[i] = 0
    for t in range(n_trees):
        i = start
        while i < stop:
            n_valid = stop - i
            if n_valid > LANES:
                n_valid = LANES
            for g in range(LANES):
                node[g] = roots[t]
                # idle lanes repeat the last sample; they are walked but not counted
                row[g] = X + (i + (g if g < n_valid else n_valid - 1)) * n_features
            active = 1
            while active:
                active = 0
                for g in range(LANES):
                    nd = &nodes[node[g]]
                    active |= nd.leaf_class < 0
                    x = row[g][nd.feature]
                    # non-NaN: right iff not x <= thr; NaN: right iff nan_right (sklearn's rule)
                    node[g] = nd.child[<int>(x > nd.threshold) | (<int>(x != x) & nd.nan_right)]
            for g in range(n_valid):
                counts[(i + g) * n_classes + nodes[node[g]].leaf_class] += 1
            i += LANES


def forest_vote_counts_dense(
    const float[:, ::1] X,             # IN  (n, n_features) float32, as sklearn's predict sees it
    const uint8_t[::1] nodes,          # IN  (N * sizeof(FlatNode),) bytes of the FlatNode records
    const int32_t[::1] roots,          # IN  (T,) index of each tree's root record
    count_t[:, ::1] counts,            # OUT (n, k) votes per class; overwritten
    Py_ssize_t block_size,
    int n_threads,
):
    """counts[i, c] = number of trees whose leaf for X[i] votes c.

    Blocks of ``block_size`` samples are spread over threads; each block owns its count rows,
    so the result does not depend on the thread count. Within a block trees are the outer loop,
    so one tree's nodes stay in cache while the whole block walks it.
    """
    cdef Py_ssize_t n = X.shape[0]
    cdef Py_ssize_t n_features = X.shape[1]
    cdef Py_ssize_t n_classes = counts.shape[1]
    cdef Py_ssize_t n_trees = roots.shape[0]
    cdef Py_ssize_t n_blocks = (n + block_size - 1) // block_size
    cdef Py_ssize_t b, start, stop
    if n == 0 or n_trees == 0:
        return
    if nodes.shape[0] % sizeof(FlatNode) != 0:
        raise ValueError("nodes is not a whole number of FlatNode records")
    cdef const FlatNode* node_ptr = <const FlatNode*> &nodes[0]
    cdef const float* X_ptr = &X[0, 0]
    cdef count_t* counts_ptr = &counts[0, 0]

    with nogil:
        # dynamic: the machine may be shared, and a block is block_size * T walks, so the
        # scheduling overhead is negligible while a stalled thread cannot hold the others up.
        for b in prange(n_blocks, schedule="dynamic", num_threads=n_threads):
            start = b * block_size
            stop = start + block_size
            if stop > n:
                stop = n
            _count_block(X_ptr, n_features, start, stop, node_ptr, &roots[0], n_trees,
                         counts_ptr, n_classes)
