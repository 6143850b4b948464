"""Numba kernels behind ``crembo.backends.numba_backend`` (the wrappers there set threads).

Every loop is compiled lazily (one specialisation per input dtype / read-only flag actually
used), without fastmath: sums over classes run left to right in float64 exactly as in the
reference, and NaN/inf keep their IEEE meaning. ``error_model="numpy"`` makes x / 0 give inf/NaN
instead of raising. Parallel loops run over fixed-size blocks whose boundaries do not depend on
the thread count; per-block partial results are combined in block order by the caller.
"""

import numba
import numpy as np
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic

from crembo.backends.reference import ROW_BAD_SUM, ROW_NEGATIVE, ROW_NONFINITE, ROW_OK

_PAR = dict(cache=True, nogil=True, parallel=True, error_model="numpy")
_SER = dict(cache=True, nogil=True, error_model="numpy")


# The unique-value hash tables mark empty slots with -1, a NaN bit pattern in both float32 and
# float64; a block holding that exact pattern is flagged and the caller uses np.unique.


# --------------------------------------------------------------------------------------------
# SIMD helpers: LLVM's vectorizer only makes 4-lane gathers here (its AVX-512 cost model prefers
# 256-bit vectors), each with extra index arithmetic, so the two gather loops are written as
# 8-lane LLVM IR with llvm.masked.gather (vgatherqpd / vpgatherqq on zmm registers). Without
# AVX-512 LLVM splits the gathers into scalar loads: still correct, and the depth kernel then
# skips them (see ``_gather_min_bits``).
# --------------------------------------------------------------------------------------------
_LANES = 8
# The IR below is written for (and tested with) LLVM 22's gather; with an older llvmlite the
# kernels keep to their scalar loops.
_IR_GATHER = llvm_version_info >= (22,)


def _gathers_on(codegen):
    """Whether the depth gathers run natively for this codegen's target (AVX-512, LLVM 22); the
    feature string is numba's private attribute: without it, the scalar loops (still exact)."""
    return _IR_GATHER and "+avx512f" in getattr(codegen, "_tm_features", "").split(",")


def _make_bitcast(src, dst):
    """An intrinsic reinterpreting a float64 as uint64 or back (``np.float64.view`` for scalars)."""
    if numba.config.DISABLE_JIT:
        to = np.uint64 if dst is types.uint64 else np.float64

        def bitcast(x):
            return np.asarray(x, dtype=np.float64 if to is np.uint64 else np.uint64).view(to)[()]

        return bitcast

    @intrinsic
    def bitcast(typingctx, x):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(dst))

        return dst(src), codegen

    return bitcast


_f64_bits = _make_bitcast(types.float64, types.uint64)
_bits_f64 = _make_bitcast(types.uint64, types.float64)


def _splat(builder, scalar):
    vty = ir.VectorType(scalar.type, _LANES)
    v = builder.insert_element(ir.Constant(vty, ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0))
    mask = ir.Constant(ir.VectorType(ir.IntType(32), _LANES), [0] * _LANES)
    return builder.shuffle_vector(v, ir.Constant(vty, ir.Undefined), mask)


def _masked_gather(builder, base, index, mask, passthru, align):
    """llvm.masked.gather of base[index[l]] for the lanes l where mask is set, else passthru."""
    gep = ir.instructions.GEPInstr(builder.block, base, [index], inbounds=False, name="",
                                   source_etype=passthru.type.element)
    gep.type = ir.VectorType(base.type, _LANES)  # a vector of pointers (llvmlite types it scalar)
    builder._insert(gep)
    elt = passthru.type.element
    code = "f64" if isinstance(elt, ir.DoubleType) else "f32" if isinstance(elt, ir.FloatType) else f"i{elt.width}"
    name = f"llvm.masked.gather.v{_LANES}{code}.v{_LANES}p0"
    # the LLVM 22 form (opaque pointers, the alignment an attribute of the pointer argument)
    fnty = ir.FunctionType(passthru.type, [gep.type, mask.type, passthru.type])
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    call = builder.call(fn, [gep, mask, passthru])
    attrs = ir.values.ArgumentAttributes()
    attrs.align = align
    call.arg_attributes[0] = attrs
    return call


def _reduce(builder, op, vec):
    elt = vec.type.element
    fnty = ir.FunctionType(elt, [vec.type])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.vector.reduce.{op}.v{_LANES}i{elt.width}")
    return builder.call(fn, [vec])


def _emit_prefetch(builder, ptr, locality):
    i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
    builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(locality), i32(1)])


# --------------------------------------------------------------------------------------------
# votes
# --------------------------------------------------------------------------------------------
# Member rows prefetched ahead of the pair being counted: a block reads T short row segments,
# too short for the hardware prefetcher to ramp up on (same scheme as the Cython kernel).
_PREFETCH_ROWS = 4

def _make_prefetch(locality):
    """An intrinsic hinting the CPU to load the cache line holding ``arr[idx]`` (1-D array) for
    reading; locality 3 keeps it in L1, 2 in L2 (llvm.prefetch's scale)."""
    if numba.config.DISABLE_JIT:

        def prefetch(arr, idx):
            """No-op in pure Python mode."""

        return prefetch

    @intrinsic
    def prefetch(typingctx, arr, idx):
        def codegen(context, builder, signature, args):
            aryty = signature.args[0]
            ary = context.make_array(aryty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
            _emit_prefetch(builder, ptr, locality)
            return context.get_dummy_value()

        return types.void(arr, idx), codegen

    return prefetch


prefetch = _make_prefetch(3)
prefetch_l2 = _make_prefetch(2)


@njit(**_SER)
def _count_block(flat, T, n, n_classes, i0, i1, buf, off):
    """Add the votes of samples i0:i1 into buf[off + (i - i0) * k + c] (zeroed by the caller).

    ``flat`` is the (T, n) votes raveled. Two members per pass over the block's counts (two load
    streams), prefetching PREFETCH_ROWS rows ahead. Returns the number of invalid votes.
    """
    k = np.uint64(n_classes)
    w = i1 - i0
    ahead = _PREFETCH_ROWS * n
    bad = 0
    t = 0
    while t + 1 < T:
        r0 = t * n + i0
        r1 = r0 + n
        pre = t + 1 + _PREFETCH_ROWS < T
        base = np.uint64(off)
        for j in range(w):
            if pre and (j & 7) == 0:  # one line ahead per 8 votes (>= 1 per 64 bytes)
                prefetch(flat, r0 + ahead + j)
                prefetch(flat, r1 + ahead + j)
            # one unsigned compare rejects both v < 0 and v >= k
            v0 = np.uint64(np.int64(flat[r0 + j]))
            v1 = np.uint64(np.int64(flat[r1 + j]))
            if v0 < k:
                buf[base + v0] += np.uint32(1)
            else:
                bad += 1
            if v1 < k:
                buf[base + v1] += np.uint32(1)
            else:
                bad += 1
            base += k
        t += 2
    if t < T:  # odd T: the last member alone
        r0 = t * n + i0
        base = np.uint64(off)
        for j in range(w):
            v0 = np.uint64(np.int64(flat[r0 + j]))
            if v0 < k:
                buf[base + v0] += np.uint32(1)
            else:
                bad += 1
            base += k
    return bad


@njit(**_SER)
def _count_block_u8(flat, T, n, k, i0, i1, acc, counts, off):
    """Votes of samples i0:i1 of uint8 votes (k small): counts[off + (i - i0) * k + c] is
    overwritten with the counts; acc: >= k * (i1 - i0) uint8 scratch. Returns #invalid votes.

    One byte counter per (class, sample) in acc[c * w + j] (in L1): for each class, a compare
    over the contiguous votes of four members at once, which LLVM vectorizes. That is k byte
    compares per vote lane instead of a load-increment-store per vote (the old ~0.5 ns per vote
    limit). A byte counts at most 255 votes: members go in groups of 255.
    """
    w = i1 - i0
    total = 0
    g0 = 0
    while g0 < T:
        g1 = min(g0 + 255, T)
        acc[: k * w] = 0
        t = g0
        while t < g1:
            r0 = flat[t * n + i0 : t * n + i1]
            if t + 4 <= g1:
                r1 = flat[(t + 1) * n + i0 : (t + 1) * n + i1]
                r2 = flat[(t + 2) * n + i0 : (t + 2) * n + i1]
                r3 = flat[(t + 3) * n + i0 : (t + 3) * n + i1]
                if t + 12 <= T:  # rows 8 ahead: short segments, the hardware prefetcher lags
                    for q in range(0, w, 64):
                        for a in range(8, 12):
                            prefetch(flat, (t + a) * n + i0 + q)
                for c in range(k):
                    cc = np.uint8(c)
                    row = acc[c * w : (c + 1) * w]
                    for j in range(w):
                        row[j] += np.uint8(r0[j] == cc) + np.uint8(r1[j] == cc) + np.uint8(r2[j] == cc) + np.uint8(r3[j] == cc)
                t += 4
            else:
                for c in range(k):
                    cc = np.uint8(c)
                    row = acc[c * w : (c + 1) * w]
                    for j in range(w):
                        row[j] += np.uint8(r0[j] == cc)
                t += 1
        for j in range(w):  # to the (samples, classes) layout of the output
            base = off + j * k
            for c in range(k):
                x = np.uint32(acc[c * w + j])
                total += x
                if g0 == 0:
                    counts[base + c] = x
                else:
                    counts[base + c] += x
        g0 = g1
    return T * w - total


@njit(**_PAR)
def vote_counts_u8(votes, n_classes, block, out, bad):
    """vote_counts for uint8 votes and few classes (see _count_block_u8)."""
    T, n = votes.shape
    flat = votes.reshape(-1)
    o = out.reshape(-1)
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        acc = np.empty((i1 - i0) * n_classes, dtype=np.uint8)
        bad[b] = _count_block_u8(flat, T, n, n_classes, i0, i1, acc, o, i0 * n_classes)


@njit(**_PAR)
def vote_lookup_u8(votes, n_classes, block, table, out, bad):
    """vote_lookup for uint8 votes and few classes (see _count_block_u8)."""
    T, n = votes.shape
    flat = votes.reshape(-1)
    o = out.reshape(-1)
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        m = (i1 - i0) * n_classes
        acc = np.empty(m, dtype=np.uint8)
        local = np.empty(m, dtype=np.uint32)
        bad[b] = _count_block_u8(flat, T, n, n_classes, i0, i1, acc, local, 0)
        base = i0 * n_classes
        for j in range(m):
            o[base + j] = table[local[j]]


@njit(**_PAR)
def vote_counts(votes, n_classes, block, out, bad):
    """out (n, k) uint32 OUT: counts, written in place block by block (a block's rows stay in
    cache while T member rows stream through); bad (n_blocks,) int64 OUT: invalid votes."""
    T, n = votes.shape
    flat = votes.reshape(-1)
    o = out.reshape(-1)
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        o[i0 * n_classes : i1 * n_classes] = 0
        bad[b] = _count_block(flat, T, n, n_classes, i0, i1, o, i0 * n_classes)


@njit(**_PAR)
def vote_lookup(votes, n_classes, block, table, out, bad):
    """out (n, k) OUT = table[count of votes for c at i]; bad (n_blocks,) int64 OUT: invalid votes
    per block. ``table`` maps every possible count 0..T: c / T (divided once per count: the
    same IEEE quotient as the reference) for beliefs."""
    T, n = votes.shape
    flat = votes.reshape(-1)
    o = out.reshape(-1)
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        m = (i1 - i0) * n_classes
        local = np.zeros(m, dtype=np.uint32)
        bad[b] = _count_block(flat, T, n, n_classes, i0, i1, local, 0)
        base = i0 * n_classes
        for j in range(m):
            o[base + j] = table[local[j]]


# --------------------------------------------------------------------------------------------
# probabilities and logits (row-wise, so trivially thread-count independent)
# --------------------------------------------------------------------------------------------
@njit(**_SER)
def shift_by_row_max(logits, out):
    """out[i, c] = logits[i, c] - max_c logits[i, c], in float64 (softmax, step 1; serial: the
    caller runs it on row chunks small enough to stay in L2 through all three steps)."""
    n, k = logits.shape
    for i in range(n):
        m = np.float64(logits[i, 0])
        for c in range(1, k):
            z = np.float64(logits[i, c])
            if z > m:
                m = z
        for c in range(k):
            out[i, c] = np.float64(logits[i, c]) - m


@njit(**_SER)
def divide_by_row_sum(e):
    """e[i, c] /= sum_c e[i, c], the sum taken left to right (softmax, step 3, in place)."""
    n, k = e.shape
    for i in range(n):
        total = 0.0
        for c in range(k):
            total += e[i, c]
        for c in range(k):
            e[i, c] = e[i, c] / total


_FMAX = np.finfo(np.float64).max
_ROW_BLOCK = 512  # rows per parallel task of the row-status kernels


@njit(**_SER)
def _sum_status(total, atol):
    # branch-free: ROW_OK (0) when |total - 1| <= atol, else ROW_BAD_SUM (NaN sums count as bad)
    return np.int8(ROW_BAD_SUM) * np.int8(not (abs(total - 1.0) <= atol))


@njit(**_SER)
def _one_row(f, k, i, atol):
    """(status, left-to-right float64 sum) of row i of the raveled matrix f."""
    total = 0.0
    ok = True
    for c in range(k):
        x = np.float64(f[i * k + c])
        total += x
        ok &= (x >= 0.0) & (x <= _FMAX)
    if ok:
        return _sum_status(total, atol), total
    for c in range(k):
        if not np.isfinite(f[i * k + c]):
            return ROW_NONFINITE, total
    return ROW_NEGATIVE, total


@njit(**_SER)
def _status_rows(proba, atol, i0, i1, status, totals):
    """status[i] for rows i0:i1, and totals[i - i0] = their left-to-right float64 sums.

    Four rows at a time: each row's sum is a chain of dependent adds, and four independent chains
    keep the adder busy (measured 3x). A group is clean when its sums are finite (a NaN or +-inf
    value makes its row's sum NaN or inf) and its minimum is >= 0; only a group that is not is
    redone row by row to tell the cases apart (an overflowing sum lands there too, correctly).
    """
    k = proba.shape[1]
    f = proba.reshape(-1)  # C-contiguous (the wrappers make sure)
    i = i0
    while i + 4 <= i1:
        t0 = t1 = t2 = t3 = 0.0
        b = i * k
        m0 = np.float64(f[b])
        m1 = np.float64(f[b + k])
        m2 = np.float64(f[b + 2 * k])
        m3 = np.float64(f[b + 3 * k])
        for c in range(k):
            x0 = np.float64(f[b + c])
            x1 = np.float64(f[b + k + c])
            x2 = np.float64(f[b + 2 * k + c])
            x3 = np.float64(f[b + 3 * k + c])
            t0 += x0
            t1 += x1
            t2 += x2
            t3 += x3
            m0 = min(m0, x0)
            m1 = min(m1, x1)
            m2 = min(m2, x2)
            m3 = min(m3, x3)
        if (min(min(m0, m1), min(m2, m3)) >= 0.0) & (abs(t0 + t1 + t2 + t3) <= _FMAX):
            status[i] = _sum_status(t0, atol)
            status[i + 1] = _sum_status(t1, atol)
            status[i + 2] = _sum_status(t2, atol)
            status[i + 3] = _sum_status(t3, atol)
        else:
            for r in range(4):
                status[i + r] = _one_row(f, k, i + r, atol)[0]
        totals[i - i0] = t0
        totals[i + 1 - i0] = t1
        totals[i + 2 - i0] = t2
        totals[i + 3 - i0] = t3
        i += 4
    while i < i1:
        status[i], totals[i - i0] = _one_row(f, k, i, atol)
        i += 1


@njit(**_PAR)
def belief_status(proba, atol, status):
    n = proba.shape[0]
    n_blocks = (n + _ROW_BLOCK - 1) // _ROW_BLOCK
    for b in prange(n_blocks):
        i0 = b * _ROW_BLOCK
        i1 = min(i0 + _ROW_BLOCK, n)
        totals = np.empty(i1 - i0)
        _status_rows(proba, atol, i0, i1, status, totals)


@njit(**_PAR)
def normalize_belief(proba, atol, belief, status):
    n, k = proba.shape
    n_blocks = (n + _ROW_BLOCK - 1) // _ROW_BLOCK
    for b in prange(n_blocks):
        i0 = b * _ROW_BLOCK
        i1 = min(i0 + _ROW_BLOCK, n)
        totals = np.empty(i1 - i0)
        _status_rows(proba, atol, i0, i1, status, totals)
        # a second, division-only pass over the block (still in L1/L2): it vectorizes
        for i in range(i0, i1):
            total = totals[i - i0]
            for c in range(k):
                belief[i, c] = np.float64(proba[i, c]) / total


@njit(**_PAR)
def allowed_labels(belief, threshold, out):
    n, k = belief.shape
    for i in prange(n):
        for c in range(k):
            out[i, c] = np.float64(belief[i, c]) >= threshold


# --------------------------------------------------------------------------------------------
# unique values: one open-addressing hash set of bit patterns per block of elements
# --------------------------------------------------------------------------------------------
_HMUL = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing: the top bits of pattern * this
_EMPTY = np.uint64(0xFFFFFFFFFFFFFFFF)  # a NaN pattern: a block holding it is flagged


@njit(**_SER)
def _insert(table, mask, shift, key):
    """Insert key into the table's first mask + 1 slots; return 1 if it was new, else 0."""
    j = np.int64((key * _HMUL) >> np.uint64(shift))
    while True:
        cur = table[j]
        if cur == key:
            return 0
        if cur == _EMPTY:
            table[j] = key
            return 1
        j = (j + 1) & mask


_CHUNK = 16  # values per all-present check (two 8-lane vectors, one branch)


def _make_skip_present():
    if numba.config.DISABLE_JIT:

        def skip_present(bits, i, i1, table, mask, shift):
            """Pure Python mode: skip nothing; the value-by-value loop looks at every value."""
            return i

        return skip_present

    @intrinsic
    def skip_present(typingctx, bits, i, i1, table, mask, shift):
        """The first i' = i + 16 * c such that bits[i':i' + 16] holds a value found neither at its
        home slot nor at the next one (or the empty marker), or fewer than 16 values remain."""
        for a in (bits, table):
            if a.layout != "C" or a.ndim != 1 or a.dtype != types.uint64:
                return None
        sig = types.int64(bits, i, i1, table, mask, shift)

        def codegen(context, builder, signature, args):
            ba = context.make_array(signature.args[0])(context, builder, args[0])
            ta = context.make_array(signature.args[3])(context, builder, args[3])
            start, stop, m, sh = (context.cast(builder, v, t, types.int64) for v, t in zip(
                (args[1], args[2], args[4], args[5]), (signature.args[1], signature.args[2], signature.args[4], signature.args[5])))
            if not _IR_GATHER:  # skip nothing: the value-by-value loop looks at every value
                return start
            i64 = ir.IntType(64)
            v64 = ir.VectorType(i64, _LANES)
            hmul = ir.Constant(v64, [int(_HMUL)] * _LANES)
            empty = ir.Constant(v64, [int(_EMPTY)] * _LANES)
            one = ir.Constant(v64, [1] * _LANES)
            every = ir.Constant(ir.VectorType(ir.IntType(1), _LANES), [1] * _LANES)
            shv, mv = _splat(builder, sh), _splat(builder, m)
            last = builder.sub(stop, i64(_CHUNK))
            entry = builder.block
            head = builder.append_basic_block("sp.head")
            body = builder.append_basic_block("sp.body")
            done = builder.append_basic_block("sp.done")
            builder.branch(head)
            builder.position_at_end(head)
            i = builder.phi(i64)
            i.add_incoming(start, entry)
            builder.cbranch(builder.icmp_signed("<=", i, last), body, done)
            builder.position_at_end(body)
            # the hardware prefetcher keeps too few lines in flight for this loop
            _emit_prefetch(builder, builder.gep(ba.data, [builder.add(i, i64(256))]), 3)
            _emit_prefetch(builder, builder.gep(ba.data, [builder.add(i, i64(264))]), 3)
            hit = every
            for half in range(_CHUNK // _LANES):
                p = builder.gep(ba.data, [builder.add(i, i64(half * _LANES))])
                key = builder.load(builder.bitcast(p, v64.as_pointer()), align=8)
                slot = builder.lshr(builder.mul(key, hmul), shv)
                nxt = builder.and_(builder.add(slot, one), mv)
                zero = ir.Constant(v64, [0] * _LANES)
                t0 = _masked_gather(builder, ta.data, slot, every, zero, 8)
                t1 = _masked_gather(builder, ta.data, nxt, every, zero, 8)
                found = builder.or_(builder.icmp_unsigned("==", t0, key), builder.icmp_unsigned("==", t1, key))
                hit = builder.and_(hit, builder.and_(found, builder.icmp_unsigned("!=", key, empty)))
            all_hit = _reduce(builder, "and", hit)
            i.add_incoming(builder.add(i, i64(_CHUNK)), body)
            builder.cbranch(all_hit, head, done)
            builder.position_at_end(done)
            return i

        return sig, codegen

    return skip_present


_skip_present = _make_skip_present()


@njit(**_SER)
def _first_new(bits, i, i1, table, mask, shift):
    """Index of the first value of bits[i:i1] absent from the table (or the empty marker), or i1.

    Fast path (``_skip_present``): 16 values at a time, each looked up at its home slot and the
    next one (where nearly every key sits, at load <= 1/4) with two 8-lane gathers per 8 values
    and one branch per 16 (the per-value probe loop was the limit). A chunk with a miss, and the
    last < 16 values, are looked at value by value.
    """
    while i < i1:
        i = _skip_present(bits, i, i1, table, mask, shift)
        q1 = min(i + _CHUNK, i1)
        for q in range(i, q1):
            key = bits[q]
            if key == _EMPTY:
                return q
            j = np.int64((key * _HMUL) >> shift)
            while True:
                cur = table[j]
                if cur == key:
                    break
                if cur == _EMPTY:
                    return q
                j = (j + 1) & mask
        i = q1
    return i1


@njit(**_PAR)
def unique_blocks(bits, block, limit, found, n_found, flags):
    """Distinct bit patterns of each block of ``bits`` (a uint64 view of a float64 belief).

    found (n_blocks, limit) OUT: the distinct patterns of block b in found[b, :n_found[b]].
    flags (n_blocks,) OUT: 1 if the block has more than ``limit`` distinct values, 2 if it holds
    the empty marker; the caller then falls back to sorting. Each block's table starts at
    1024 slots (8 KiB, in L1) and doubles to keep its load <= 1/4, so nearly every lookup ends
    at its first slot.
    """
    n = bits.shape[0]
    n_blocks = (n + block - 1) // block
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        # one allocation per block; only the first mask + 1 slots are in use
        table = np.full(4 * limit, _EMPTY, dtype=np.uint64)
        log2 = 10
        mask = (1 << log2) - 1
        shift = np.uint64(64 - log2)
        count = 0
        flag = 0
        i = _first_new(bits, i0, i1, table, mask, shift)
        while i < i1:
            key = bits[i]
            if key == _EMPTY:
                flag = 2
                break
            if count == limit:
                flag = 1
                break
            _insert(table, mask, shift, key)
            found[b, count] = key
            count += 1
            if 4 * count > mask + 1:  # grow: rehash what was found so far
                log2 += 1
                mask = (1 << log2) - 1
                shift = np.uint64(64 - log2)
                table[: mask + 1] = _EMPTY
                for q in range(count):
                    _insert(table, mask, shift, found[b, q])
            i = _first_new(bits, i + 1, i1, table, mask, shift)
        n_found[b] = count
        flags[b] = flag


@njit(**_SER)
def merge_unique(found, n_found, cap_log2):
    """The distinct patterns over all blocks (serial; at most n_blocks * limit inserts)."""
    table = np.full(1 << cap_log2, _EMPTY, dtype=np.uint64)
    out = np.empty(table.shape[0] // 2, dtype=found.dtype)
    m = 0
    for b in range(found.shape[0]):
        for j in range(n_found[b]):
            x = found[b, j]
            if _insert(table, (1 << cap_log2) - 1, 64 - cap_log2, x):
                out[m] = x
                m += 1
    return out[:m]


@njit(**_SER)
def _dedupe_tail(a, i, out, m, last):
    for p in range(i, a.shape[0]):
        x = a[p]
        out[m] = x
        m += x != last
        last = x
    return m, last


@njit(**_SER)
def merge_sorted_unique(a, b, out):
    """Merge sorted a and b (no NaN) into out keeping one value of each run of equal values;
    return how many. Branch-free (a select and conditional advances): the data-dependent
    branches of a plain merge mispredict about half the time."""
    na = a.shape[0]
    nb = b.shape[0]
    i = 0
    j = 0
    m = 0
    last = np.nan  # x != NaN: the first value is always kept
    while i < na and j < nb:
        ai = a[i]
        bj = b[j]
        take_b = np.int64(bj < ai)
        x = bj if take_b else ai
        j += take_b
        i += 1 - take_b
        out[m] = x
        m += x != last
        last = x
    m, last = _dedupe_tail(a, i, out, m, last)
    m, last = _dedupe_tail(b, j, out, m, last)
    return m


# --------------------------------------------------------------------------------------------
# depths
# --------------------------------------------------------------------------------------------
@njit(**_PAR)
def pointwise_depth(belief, labels, block, depth, bad):
    n, k = belief.shape
    n_blocks = (n + block - 1) // block
    f = belief.reshape(-1)  # C-contiguous (the wrapper makes sure)
    ku = np.uint64(k)
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        nb = 0
        for i in range(i0, i1):
            lab = np.uint64(np.int64(labels[i]))  # one unsigned compare rejects < 0 and >= k
            if lab < ku:
                depth[i] = np.float64(f[np.uint64(i) * ku + lab])
            else:
                depth[i] = np.nan
                nb += 1
        bad[b] = nb


@njit(**_PAR)
def count_consistent(belief, labels, threshold, block, good, bad):
    n, k = belief.shape
    n_blocks = (n + block - 1) // block
    f = belief.reshape(-1)  # C-contiguous (the wrapper makes sure)
    ku = np.uint64(k)
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        ng = 0
        nb = 0
        for i in range(i0, i1):
            lab = np.uint64(np.int64(labels[i]))  # one unsigned compare rejects < 0 and >= k
            if lab < ku:
                ng += np.float64(f[np.uint64(i) * ku + lab]) >= threshold
            else:
                nb += 1
        good[b] = ng
        bad[b] = nb


# Hypothesis depths. The fast path reads 8 labels, gathers their 8 belief values (one masked
# gather: LLVM's vectorizer only makes 4-lane ones here, with twice the index arithmetic) and
# keeps the unsigned min and max of their bit patterns. Non-negative doubles order like their
# bits, so when the max is <= +inf's pattern (no negative value, no NaN, no invalid label:
# those gather as a NaN), the min of the bits is the min of the values. Anything else sends
# the span to the exact scalar loop below, which orders values by ``_key``.
_SIGN = np.uint64(0x8000000000000000)
_INF_BITS = np.uint64(0x7FF0000000000000)
_NO_KEY = np.uint64(0xFFFFFFFFFFFFFFFF)  # above every value's key (+inf's is 0xFFF0...)


def _make_gather_min_bits():
    if numba.config.DISABLE_JIT:

        def gather_min_bits(f, labels, i0, i1, ku):
            """Pure Python mode: process nothing; the exact loop does every row."""
            return _NO_KEY, np.uint64(0), i0

        return gather_min_bits

    @intrinsic
    def gather_min_bits(typingctx, f, labels, i0, i1, ku):
        """(min, max of the bits of f[i * k + labels[i]] as uint64, end) for rows i0:end, end - i0
        the largest multiple of 8 <= i1 - i0; an invalid label gathers a NaN (max > +inf)."""
        if f.layout != "C" or labels.layout != "C" or f.ndim != 1 or labels.ndim != 1:
            return None  # the vector loads and gathers assume contiguous rows
        sig = types.Tuple((types.uint64, types.uint64, types.int64))(f, labels, i0, i1, ku)

        def codegen(context, builder, signature, args):
            fty, lty = signature.args[:2]
            fa = context.make_array(fty)(context, builder, args[0])
            la = context.make_array(lty)(context, builder, args[1])
            start, stop, k = (context.cast(builder, v, t, types.int64) for v, t in zip(args[2:], signature.args[2:]))
            i64 = ir.IntType(64)
            if not _gathers_on(context.codegen()):
                # without AVX-512 the gathers are split into scalar loads (measured 1.2x slower
                # than the exact loop on an AVX2 target): leave every row to that loop
                return context.make_tuple(builder, signature.return_type,
                                          [i64(int(_NO_KEY)), i64(0), start])
            v64 = ir.VectorType(i64, _LANES)
            felt = context.get_data_type(fty.dtype)
            lelt = context.get_data_type(lty.dtype)
            end = builder.add(start, builder.and_(builder.sub(stop, start), i64(-_LANES)))
            kv = _splat(builder, k)
            lane_rows = builder.mul(ir.Constant(v64, list(range(_LANES))), kv)  # l * k
            row_step = builder.mul(k, i64(_LANES))
            row0 = builder.mul(start, k)
            entry = builder.block
            head = builder.append_basic_block("gm.head")
            body = builder.append_basic_block("gm.body")
            done = builder.append_basic_block("gm.done")
            builder.branch(head)
            builder.position_at_end(head)
            i, row, lo, hi = (builder.phi(t) for t in (i64, i64, v64, v64))
            i.add_incoming(start, entry)
            row.add_incoming(row0, entry)
            lo.add_incoming(ir.Constant(v64, [int(_NO_KEY)] * _LANES), entry)
            hi.add_incoming(ir.Constant(v64, [0] * _LANES), entry)
            builder.cbranch(builder.icmp_signed("<", i, end), body, done)
            builder.position_at_end(body)
            lvty = ir.VectorType(lelt, _LANES)
            lab = builder.load(builder.bitcast(builder.gep(la.data, [i]), lvty.as_pointer()), align=lty.dtype.bitwidth // 8)
            if lelt.width < 64:
                lab = builder.sext(lab, v64) if lty.dtype.signed else builder.zext(lab, v64)
            ok = builder.icmp_unsigned("<", lab, kv)  # one unsigned compare: 0 <= label < k
            fvty = ir.VectorType(felt, _LANES)
            nan = ir.Constant(fvty, [float("nan")] * _LANES)
            rows = builder.gep(fa.data, [row])
            x = _masked_gather(builder, rows, builder.add(lane_rows, lab), ok, nan, fty.dtype.bitwidth // 8)
            if not isinstance(felt, ir.DoubleType):
                x = builder.fpext(x, ir.VectorType(ir.DoubleType(), _LANES))
            bits = builder.bitcast(x, v64)
            new_lo = builder.select(builder.icmp_unsigned("<", bits, lo), bits, lo)
            new_hi = builder.select(builder.icmp_unsigned(">", bits, hi), bits, hi)
            i.add_incoming(builder.add(i, i64(_LANES)), body)
            row.add_incoming(builder.add(row, row_step), body)
            lo.add_incoming(new_lo, body)
            hi.add_incoming(new_hi, body)
            builder.branch(head)
            builder.position_at_end(done)
            out = [_reduce(builder, "umin", lo), _reduce(builder, "umax", hi), end]
            return context.make_tuple(builder, signature.return_type, out)

        return sig, codegen

    return gather_min_bits


_gather_min_bits = _make_gather_min_bits()


@njit(**_SER)
def _key(bits):
    """An unsigned key ordered like the double with these bits (NaNs aside): -0.0 just below +0.0."""
    return bits ^ (np.uint64(np.int64(bits) >> 63) | _SIGN)


@njit(**_SER)
def _from_key(key):
    return _bits_f64(key ^ _SIGN) if key & _SIGN else _bits_f64(~key)


@njit(**_SER)
def _min_exact(f, labels, i0, i1, ku, key, flags):
    """Rows i0:i1 one by one: (min key, flags | 1 NaN | 2 +0.0 | 4 -0.0, #invalid labels).

    One test per row on the hot path (x > running min: well predicted); only a new minimum, a
    tie or a NaN goes further, so the zeros of the minimum and every NaN are seen.
    """
    nb = 0
    lo = _from_key(key) if key != _NO_KEY else np.inf
    for i in range(i0, i1):
        u = np.uint64(np.int64(labels[np.uint64(i)]))  # one unsigned compare: 0 <= label < k
        if u < ku:
            x = np.float64(f[np.uint64(i) * ku + u])
            if not (x > lo):
                bits = _f64_bits(x)
                key = min(key, _key(bits))
                lo = _from_key(key)
                flags |= np.int64(x != x) | (np.int64(bits == 0) << 1) | (np.int64(bits == _SIGN) << 2)
        else:
            nb += 1
    return key, flags, nb


# Label rows are prefetched this many sub-blocks ahead (into L2: m short segments per sub-block
# are too many streams for the hardware prefetcher; measured 2 ~ 1 < 3 < 0 on 1e6 x 100).
_LABELS_AHEAD = 2


@njit(**_PAR)
def min_depth_blocks(belief, label_matrix, block, sub, mins, stats):
    """Per (hypothesis j, block b): the min of valid belief[i, labels[j, i]] and its side facts.

    mins (m, n_blocks) OUT: +inf when the block has no valid label.
    stats (m, n_blocks, 3) int64 OUT: #invalid, any NaN among valid values, and (meaningful when
    the minimum is a zero) whether both +0.0 and -0.0 are among them: np.min's own reduction
    order then decides the sign, so the caller asks it.

    A block is walked in sub-blocks of ``sub`` rows whose belief stays in L1 while all m
    hypotheses gather from it; the next sub-block's belief and the labels ``_LABELS_AHEAD``
    sub-blocks ahead are prefetched into L2.
    """
    n, k = belief.shape
    m = label_matrix.shape[0]
    n_blocks = (n + block - 1) // block
    f = belief.reshape(-1)  # C-contiguous (the wrapper makes sure)
    ku = np.uint64(k)
    line = max(1, 64 // label_matrix.itemsize)
    ahead = _LABELS_AHEAD * sub if m > 1 else n  # one hypothesis: one stream, no help needed
    for b in prange(n_blocks):
        i0 = b * block
        i1 = min(i0 + block, n)
        keys = np.full(m, _NO_KEY, dtype=np.uint64)
        flags = np.zeros(m, dtype=np.int64)
        nbad = np.zeros(m, dtype=np.int64)
        s0 = i0
        while s0 < i1:
            s1 = min(s0 + sub, i1)
            s2 = min(s1 + sub, i1)
            for q in range(s1 * k, s2 * k, max(1, 64 // f.itemsize)):  # next sub-block's belief
                prefetch_l2(f, q)
            p0 = min(s0 + ahead, n)
            p1 = min(p0 + sub, n)
            for j in range(m):
                labels = label_matrix[j]
                for q in range(p0, p1, line):
                    prefetch_l2(labels, q)
                lo, hi, end = _gather_min_bits(f, labels, s0, s1, ku)
                key = keys[j]
                fl = flags[j]
                if hi <= _INF_BITS:  # all valid, none negative or NaN: lo is the min's bits
                    key = min(key, lo | _SIGN)
                    fl |= np.int64(lo == 0) << 1
                else:
                    key, fl, nb = _min_exact(f, labels, s0, end, ku, key, fl)
                    nbad[j] += nb
                if end < s1:  # the < 8 rows the gathers left (all of them without AVX-512)
                    key, fl, nb = _min_exact(f, labels, end, s1, ku, key, fl)
                    nbad[j] += nb
                keys[j] = key
                flags[j] = fl
            s0 = s1
        for j in range(m):
            mins[j, b] = _from_key(keys[j]) if keys[j] != _NO_KEY else np.inf
            stats[j, b, 0] = nbad[j]
            stats[j, b, 1] = flags[j] & 1
            stats[j, b, 2] = np.int64((flags[j] & 6) == 6)
