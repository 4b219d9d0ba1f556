"""The shared pieces of the event kernels (:mod:`qtheory.sim.kernels`,
:mod:`qtheory.sim.group_kernel`, :mod:`qtheory.sim.general_kernel`): the rank-form codes, the
slot columns and scalar state, the response-time histogram, the heaps of waiting jobs, the
per-event helpers (admit a job, store a rank segment, finish a job) and the tally of
finished jobs. Numba inlines the helpers into the kernels (see the notes of
:mod:`qtheory.sim.kernels`)."""

from __future__ import annotations

import numpy as np
from numba import njit

#: the decorator of the helpers that only compiled code calls: no CPython and C wrappers (a
#: sixth of a small function's compile time), not cached on their own (the cached kernels
#: hold their code)
_inner = njit(nogil=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
#: an int passed as ``_I64(0)`` is an ordinary int64 argument (a bare literal compiles the
#: helper once more for that value)
_I64 = np.int64

INF = np.inf

# ---- rank forms --------------------------------------------------------------------------------
FORM_CONST = 0  # FCFS: r = 0
FORM_AGE = 1  # LAS: r = a
FORM_STATIC = 2  # PSJF / PSPJF: r = d
FORM_DMA = 3  # SRPT / SPRPT: r = d - a
FORM_NP = 4  # SJF / SPJF: r = d at a = 0, -inf once started
FORM_BOUNCE = 5  # SRPT-Bounce: r = |d - a|
FORM_TABLE = 6  # piecewise-linear table per job

FORM_NAMES = ("const", "age", "static", "d-a", "nonpreemptive", "|d-a|", "table")

# ---- slot columns ------------------------------------------------------------------------------
C_ARR = 0  # arrival time
C_X = 1  # size
C_D = 2  # descriptor seen by the policy
C_Y = 3  # prediction (for the statistics only)
C_AGE = 4  # attained service (for group members: at the last anchor)
C_A0 = 5  # age at which the current segment value C_V0 holds
C_V0 = 6  # rank at age C_A0
C_SL = 7  # slope of the current segment
C_END = 8  # age where the current segment ends (next breakpoint)
C_GA = 9  # group anchor: age when the job joined the group
C_GR = 10  # group anchor: group rank when the job joined
NFC = 11

C_JID = 0  # arrival index
C_SEG = 1  # current table segment index
C_TS = 2  # table start offset in the table bank
C_TN = 3  # table length
NIC = 4

# ---- scalar state ------------------------------------------------------------------------------
SF_T = 0  # current time
SF_TLAST = 1  # time of the last arrival
SF_R = 2  # group rank (group kernel) / virtual time (PS kernel)
SF_SS = 3  # sum of 1/slope over the group
NSF = 4

SI_PTR = 0  # next arrival in the chunk
SI_JID = 1  # arrival index of the next arrival
SI_NS = 2  # busy servers (soap kernel)
SI_HN = 3  # heap size
SI_FREE = 4  # number of free slots
SI_LEFT = 5  # tracked jobs not yet completed
SI_MODE = 6  # group kernel: 0 idle, 1 one job served, 2 group served
SI_CUR = 7  # group kernel: the served slot in mode 1
SI_GN = 8  # group kernel: group size
SI_NB = 9  # completions written to the buffers by the last call
SI_WHEAP = 10  # soap kernels: 1 when the waiting set is a heap, 0 a sorted array
NSI = 11

NEED_CHUNK = 0
NEED_CAP = 1
DONE = 2
STALLED = 3  # safety valve: a long run of simultaneous events without progress (a bug)
MAX_STILL = 10_000_000

FLAG = np.int64(1) << np.int64(62)
#: relative tolerance under which group ranks computed along different paths are equal
TIE = 1e-12
#: relative tolerance under which an internal event and an arrival are simultaneous (the
#: internal event goes first); it only matters for traces with exactly coinciding events
TIE_T = 1e-13

# ---- response-time histogram: log-linear bins read off the float64 bit pattern -------------------
HMB = 10  # mantissa bits kept: relative bin width 2**-10
HEMIN = -64  # smallest binary exponent
HEMAX = 64
HSHIFT = 52 - HMB
HBASE = (1023 + HEMIN) << HMB
HBINS = (HEMAX - HEMIN) << HMB


def hist_edges() -> np.ndarray:
    """Lower edges of the histogram bins (``HBINS + 1`` values, the last one the upper end)."""
    bits = (np.arange(HBINS + 1, dtype=np.int64) + HBASE) << HSHIFT
    return bits.view(np.float64)


_CELLS = None  # hist_edges(), once


def bin_lookup(edges: np.ndarray) -> np.ndarray:
    """Bin index (the number of ``edges`` <= v) of every value v in each histogram cell, or -1
    where the cell holds an edge (or is an end cell): :func:`tally` reads a value's bin from
    its cell, and scans the edges only for the -1 cells (about one value in 10^3 per edge).
    Replacing the scan of 9 edges per value, it takes the statistics pass from 10.5 to 8.5 ns
    a job."""
    global _CELLS
    if _CELLS is None:
        _CELLS = hist_edges()
    cells = _CELLS
    lo = np.searchsorted(edges, cells[:-1], side="right")  # bin of a cell's lower end
    hi = np.searchsorted(edges, cells[1:], side="left")  # bin just below its upper end
    lut = np.where(lo == hi, lo, -1)
    lut[0] = lut[-1] = -1  # they also hold what lies beyond (0, negatives, inf, nan)
    return lut.astype(np.int16 if edges.size < 1 << 15 else np.int64)


# ---- helpers -----------------------------------------------------------------------------------
@_inner
def _hpush(HR, HT, HS, n, r, tb, s):
    """Push (r, tb) -> slot s on the binary min-heap of size n; return the new size."""
    i = n
    while i > 0:
        p = (i - 1) >> 1
        pr = HR[p]
        if r < pr or (r == pr and tb < HT[p]):
            HR[i] = pr
            HT[i] = HT[p]
            HS[i] = HS[p]
            i = p
        else:
            break
    HR[i] = r
    HT[i] = tb
    HS[i] = s
    return n + 1


@_inner
def _hsift(HR, HT, HS, n, r, tb, s):
    """Place (r, tb, s) at the root of a heap of size n (root vacant) and sift it down."""
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        c2 = c + 1
        if c2 < n and (HR[c2] < HR[c] or (HR[c2] == HR[c] and HT[c2] < HT[c])):
            c = c2
        if HR[c] < r or (HR[c] == r and HT[c] < tb):
            HR[i] = HR[c]
            HT[i] = HT[c]
            HS[i] = HS[c]
            i = c
        else:
            break
    HR[i] = r
    HT[i] = tb
    HS[i] = s


@_inner
def _hpop(HR, HT, HS, n):
    """Remove the top of the heap of size n (read it first); return the new size."""
    n -= 1
    if n > 0:
        _hsift(HR, HT, HS, n, HR[n], HT[n], HS[n])
    return n


# ---- the waiting set of the soap kernels: a sorted array while small, a heap when large ------
#: The waiting set is an array sorted by decreasing key (the least key last) while it holds at
#: most ``WS_SORTED_MAX`` jobs, and a binary min-heap above; it returns to a sorted array once
#: a pop leaves at most ``WS_SORTED_MIN``.  ``si[SI_WHEAP]`` says which between calls.  At load
#: 0.9 it holds a few jobs (SPRPT: 4.3 on average when one is popped); there, insertion into
#: the short sorted array (a predictable shift loop) and popping its last entry cost far less
#: than the heap's sift loops (SPRPT event loop 20 -> 29 M jobs/s), and the heap keeps the
#: worst case at O(log n).  Both order the same total order of keys (ties are broken by the
#: arrival index), so the served job is the same either way.  The kernels keep the mode in a
#: local ``heap`` and test it where they push and pop; the heap paths are calls out of line
#: (inlined, they slowed the SPRPT loop by 15-20%; behind helpers that also return the mode,
#: 32 -> 23 M jobs/s).
WS_SORTED_MAX = 32
WS_SORTED_MIN = 8


@njit(cache=True, nogil=True, inline="always")
def _sorted_push(HR, HT, HS, hn, r, tb, s):
    """Insert (r, tb) -> slot s into the array of ``hn`` entries sorted by decreasing key;
    return the new size."""
    i = hn
    while i > 0:
        pr = HR[i - 1]
        if pr < r or (pr == r and HT[i - 1] < tb):
            HR[i] = pr
            HT[i] = HT[i - 1]
            HS[i] = HS[i - 1]
            i -= 1
        else:
            break
    HR[i] = r
    HT[i] = tb
    HS[i] = s
    return hn + 1


@_inner
def _heap_push(HR, HT, HS, hn, heap, r, tb, s):
    """Push onto the waiting set when it is a heap (``heap``) or becomes one (a full sorted
    array); return the new size.  The caller then sets ``heap = True``."""
    if not heap:
        # decreasing -> increasing order: a sorted array is a valid min-heap
        i = 0
        j = hn - 1
        while i < j:
            HR[i], HR[j] = HR[j], HR[i]
            HT[i], HT[j] = HT[j], HT[i]
            HS[i], HS[j] = HS[j], HS[i]
            i += 1
            j -= 1
    return _hpush(HR, HT, HS, hn, r, tb, s)


@_inner
def _heap_pop(HR, HT, HS, hn):
    """Pop the top of a waiting set that is a heap; return the new size.  At most
    ``WS_SORTED_MIN`` left: they are sorted by decreasing key (the caller then sets
    ``heap = hn > WS_SORTED_MIN``)."""
    hn = _hpop(HR, HT, HS, hn)
    if hn <= WS_SORTED_MIN:
        for i in range(1, hn):  # insertion sort
            _sorted_push(HR, HT, HS, i, HR[i], HT[i], HS[i])
    return hn


@_inner
def _wreplace(HR, HT, HS, hn, heap, r, tb, s):
    """Replace the least key of the waiting set (``hn > 0``) by (r, tb) -> slot s."""
    if heap:
        _hsift(HR, HT, HS, hn, r, tb, s)
    else:
        _sorted_push(HR, HT, HS, hn - 1, r, tb, s)


@njit(cache=True, nogil=True, inline="always")
def _wtop_before(HR, HT, hn, w, r, tb):
    """The waiting set is not empty and its least key (at index ``w``) is lower than
    ``(r, tb)``."""
    return (hn > 0) and (HR[w] < r or (HR[w] == r and HT[w] < tb))


@_inner
def _gpush(GK, GT, GS, n, key, typ, s):
    """Push a group member (leaving at group rank ``key``; ``typ`` 0 completion, 1 breakpoint:
    completions first at equal ranks) on the group heap of size n; return the new size."""
    i = n
    while i > 0:
        p = (i - 1) >> 1
        if key < GK[p] or (key == GK[p] and typ < GT[p]):
            GK[i] = GK[p]
            GT[i] = GT[p]
            GS[i] = GS[p]
            i = p
        else:
            break
    GK[i] = key
    GT[i] = typ
    GS[i] = s
    return n + 1


@_inner
def _gpop(GK, GT, GS, n):
    """Remove the top of the group heap of size n; return the new size."""
    n -= 1
    if n > 0:
        key = GK[n]
        typ = GT[n]
        s = GS[n]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and (GK[c + 1] < GK[c] or (GK[c + 1] == GK[c] and GT[c + 1] < GT[c])):
                c += 1
            if GK[c] < key or (GK[c] == key and GT[c] < typ):
                GK[i] = GK[c]
                GT[i] = GT[c]
                GS[i] = GS[c]
                i = c
            else:
                break
        GK[i] = key
        GT[i] = typ
        GS[i] = s
    return n


@_inner
def _bin(edges, v):
    """Number of inner bin edges <= v (the bin index)."""
    b = 0
    for i in range(edges.size):
        b += edges[i] <= v
    return b


@_inner
def _seg(form, d, a, i, TA, TV, ts, tn):
    """The rank segment holding age ``a`` (right-continuous).

    Returns ``(a0, v0, slope, end, i)``: on ``[a0, end)`` the rank is ``v0 + slope (a - a0)``;
    ``i`` is the table index of the segment (search starts from the cached index ``i``).
    """
    if form == FORM_CONST:
        return 0.0, 0.0, 0.0, INF, 0
    if form == FORM_STATIC:
        return 0.0, d, 0.0, INF, 0
    if form == FORM_DMA:
        return 0.0, d, -1.0, INF, 0
    if form == FORM_AGE:
        return 0.0, 0.0, 1.0, INF, 0
    if form == FORM_NP:
        return 0.0, -INF, 0.0, INF, 0
    if form == FORM_BOUNCE:
        if a < d:
            return 0.0, d, -1.0, d, 0
        return d, 0.0, 1.0, INF, 1
    # FORM_TABLE
    while i + 1 < tn and TA[ts + i + 1] <= a:
        i += 1
    a0 = TA[ts + i]
    v0 = TV[ts + i]
    if i + 1 < tn:
        a1 = TA[ts + i + 1]
        return a0, v0, (TV[ts + i + 1] - v0) / (a1 - a0), a1, i
    sl = 0.0
    if tn >= 2:
        da = TA[ts + tn - 1] - TA[ts + tn - 2]
        if da > 0.0:
            sl = (TV[ts + tn - 1] - TV[ts + tn - 2]) / da
    return a0, v0, sl, INF, i


@_inner
def _put_rank(F, s, age, a0, v0, sl, end):
    """Store the age and the current rank segment of slot ``s``."""
    F[s, C_AGE] = age
    F[s, C_A0] = a0
    F[s, C_V0] = v0
    F[s, C_SL] = sl
    F[s, C_END] = end


@_inner
def _put_seg(F, I, s, age, a0, v0, sl, end, idx):
    """:func:`_put_rank` and the table index ``idx`` of the segment."""
    _put_rank(F, s, age, a0, v0, sl, end)
    I[s, C_SEG] = idx


@_inner
def _rank(F, s):
    """Current rank of the job in slot ``s`` (at its stored age)."""
    return F[s, C_V0] + F[s, C_SL] * (F[s, C_AGE] - F[s, C_A0])


@_inner
def _wait_key(j, rising):
    """Heap tie-break key of arrival ``j``: ``FLAG`` set when its rank is rising."""
    return j | FLAG if rising else j


@_inner
def _top_before(HR, HT, hn, r, tb):
    """The heap (size ``hn``) is not empty and its top has a lower key than ``(r, tb)``
    (branch-free: the top is read even when the heap is empty, and ignored)."""
    return (hn > 0) & ((HR[0] < r) | ((HR[0] == r) & (HT[0] < tb)))


@_inner
def _tables(tab_mode, BA, BV, SA, SV):
    """The rank tables a kernel reads: the per-slot copies (``tab_mode == 2``) or the bank."""
    if tab_mode == 2:
        return SA, SV
    return BA, BV


@_inner
def _load_state(sf, si):
    """The scalar state every kernel keeps in registers: ``(t, tlast, ptr, jid, hn, ftop,
    left)``."""
    return sf[SF_T], sf[SF_TLAST], si[SI_PTR], si[SI_JID], si[SI_HN], si[SI_FREE], si[SI_LEFT]


@_inner
def _save_state(sf, si, t, tlast, ptr, jid, hn, ftop, left, nb):
    """Write back the state read by :func:`_load_state` and the completion count ``nb``."""
    sf[SF_T] = t
    sf[SF_TLAST] = tlast
    si[SI_PTR] = ptr
    si[SI_JID] = jid
    si[SI_HN] = hn
    si[SI_FREE] = ftop
    si[SI_LEFT] = left
    si[SI_NB] = nb


@_inner
def _put_job(F, I, s, t, x, d, y, jid):
    """A new job in slot ``s``: arrival time, size, descriptor, prediction, arrival index, age 0."""
    F[s, C_ARR] = t
    F[s, C_X] = x
    F[s, C_D] = d
    F[s, C_Y] = y
    F[s, C_AGE] = 0.0
    I[s, C_JID] = jid


@_inner
def _first_seg(s, form, d, F, I, TA, TV):
    """Set the first rank segment of the new job in slot ``s`` (descriptor ``d``, a closed-form
    rank); return (rank at age 0, rising flag)."""
    if form == FORM_NP:  # rank d until the job has received service, then -inf
        a0, v0, sl, end, idx = 0.0, d, 0.0, 0.0, 0
    else:
        a0, v0, sl, end, idx = _seg(form, d, 0.0, _I64(0), TA, TV, _I64(0), _I64(0))
    _put_seg(F, I, s, 0.0, a0, v0, sl, end, idx)
    return (0.0 if (form == FORM_CONST or form == FORM_AGE) else d), sl > 0.0


@_inner
def _init_table(s, p, form, tab_mode, tm, d, ctid, ctab_a, ctab_v, ctab_n, BS, BN, F, I, SA, SV,
                TA, TV):
    """Attach its rank table to the job in slot ``s`` (arrival ``p`` of the chunk; ``tab_mode``
    1: a table of the bank, 2: its own copy in ``SA``/``SV``) and set its first segment; return
    (rank at age 0, rising flag)."""
    ts = 0
    tn = 0
    if tab_mode == 1:
        tid = ctid[p]
        ts = BS[tid]
        tn = BN[tid]
    else:
        tn = ctab_n[p]
        ts = s * tm
        for j in range(tn):
            SA[ts + j] = ctab_a[p, j]
            SV[ts + j] = ctab_v[p, j]
    I[s, C_TS] = ts
    I[s, C_TN] = tn
    a0, v0, sl, end, i = _seg(form, d, 0.0, _I64(0), TA, TV, ts, tn)
    if v0 != TV[ts]:
        # a jump at age 0: the rank is TV[ts] until the job has received service (a zero-length
        # first segment, whose end is processed as a breakpoint once the job is in service)
        a0, v0, sl, end, i = 0.0, TV[ts], 0.0, 0.0, 0
    _put_seg(F, I, s, 0.0, a0, v0, sl, end, i)
    return TV[ts], sl > 0.0


@_inner
def _to_event(F, s, ispeed):
    """Time until the next event of the served job in slot ``s`` at full speed (``ispeed``: 1 /
    speed), and whether it is its completion (else a breakpoint of its rank)."""
    x = F[s, C_X]
    e = F[s, C_END]
    return (min(x, e) - F[s, C_AGE]) * ispeed, x <= e


@_inner
def _cached(F, I, s):
    """The served job's state that :func:`soap1_kernel` keeps in registers: ``(age, x, end,
    v0, slope, a0, arrival index)`` of slot ``s``."""
    return F[s, C_AGE], F[s, C_X], F[s, C_END], F[s, C_V0], F[s, C_SL], F[s, C_A0], I[s, C_JID]


@_inner
def _emit(bT, bX, bY, bJ, nb, j, T, x, y):
    """Append a completed tracked job to the completion buffers; return the new count."""
    bT[nb] = T
    bX[nb] = x
    bY[nb] = y
    bJ[nb] = j
    return nb + 1


@_inner
def _finish(s, j, t, x, F, free, ftop, n_track, bT, bX, bY, bJ, nb, left):
    """The job in slot ``s`` (arrival index ``j``, size ``x``) completes at time ``t``: emit it
    if tracked and free its slot.  Returns ``(nb, left, ftop)``.

    Branch-free (a branch here would leave reference counting of the arrays in the event
    loops): the entry is written at ``nb`` in any case (in bounds: the buffers hold every
    completion of the call) and counted only for a tracked job."""
    tracked = j < n_track
    _emit(bT, bX, bY, bJ, nb, j, t - F[s, C_ARR], x, F[s, C_Y])
    free[ftop] = s
    return nb + tracked, left - tracked, ftop + 1


@_inner
def _cell(bits, last):
    """Histogram cell of a float64 with bit pattern ``bits`` (clamped to ``[0, last]``)."""
    return min(max((bits >> HSHIFT) - HBASE, 0), last)


@_inner
def _bin_of(edges, lut, bits, v):
    """Bin index of ``v`` (float64 bit pattern ``bits``) by its histogram cell's entry in
    ``lut`` (see :func:`bin_lookup`), scanning ``edges`` where the cell holds one."""
    b = np.int64(lut[_cell(bits, lut.size - 1)])
    if b < 0:
        b = 0
        for e in range(edges.size):
            b += edges[e] <= v
    return b


@njit(cache=True, nogil=True)
def tally(bT, bX, bY, bJ, nb, warm, has_y, acc, hist, ex, ey, lx, ly, bnx, bny, keep):
    """Add the buffered completions (after the warm-up) to the statistics.

    ``acc``: [count, sum T, sum T^2, sum T/X, sum (T/X)^2]; ``hist``: log-linear histogram of
    T read off the float64 bit pattern; ``bnx``/``bny``: per size/prediction bin (inner edges
    ``ex``/``ey``, their :func:`bin_lookup` tables ``lx``/``ly``) [count, sum T, sum of the
    value, sum T^2]; ``keep[j - warm] = T`` when ``keep`` is not empty.  Kept out of the event
    loop: there it would cost more than the simulation itself.
    """
    ib = bT.view(np.int64)
    ix = bX.view(np.int64)
    iy = bY.view(np.int64)
    c0 = 0.0
    s1 = 0.0
    s2 = 0.0
    q1 = 0.0
    q2 = 0.0
    hmax = hist.size - 1
    nk = keep.size
    for i in range(nb):
        j = bJ[i]
        if j < warm:
            continue
        T = bT[i]
        x = bX[i]
        c0 += 1.0
        s1 += T
        s2 += T * T
        sd = T / x
        q1 += sd
        q2 += sd * sd
        hist[_cell(ib[i], hmax)] += 1
        b = _bin_of(ex, lx, ix[i], x)
        bnx[b, 0] += 1.0
        bnx[b, 1] += T
        bnx[b, 2] += x
        bnx[b, 3] += T * T
        if has_y:
            y = bY[i]
            b = _bin_of(ey, ly, iy[i], y)
            bny[b, 0] += 1.0
            bny[b, 1] += T
            bny[b, 2] += y
            bny[b, 3] += T * T
        if nk > 0:
            keep[j - warm] = T
    acc[0] += c0
    acc[1] += s1
    acc[2] += s2
    acc[3] += q1
    acc[4] += q2
