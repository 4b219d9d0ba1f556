r"""Numba kernels of the Monte Carlo verifier: event-driven preemptive-resume queues.

The kernels share one data layout and one calling convention:

* :func:`soap_kernel`: a SOAP policy whose rank never *rises* continuously with age (every
  segment has slope <= 0; jumps either way at breakpoints are allowed), on ``k >= 1`` servers.
  FCFS, PSJF/PSPJF, SRPT/SPRPT, SJF/SPJF and tabulated ranks without rising pieces.
  :func:`soap1_kernel` is the same on one server, with the served job kept in registers, and
  :func:`srpt1_kernel` that again for the ranks ``d`` and ``d - a`` (PSJF, PSPJF, SRPT, SPRPT).
* :func:`group_kernel`: any piecewise-linear SOAP rank on one server, including ranks that rise
  with age (LAS, SRPT-Bounce, Gittins-like tables).  Jobs that tie at a rising rank share the
  server so that their ranks stay equal (the limit of the FCFS tie rule; for LAS this is
  processor sharing among the jobs of least attained service), handled exactly.
* :func:`ps_kernel`: processor sharing on ``k`` servers (each job gets ``speed * min(1, k/n)``).
* :func:`fcfs1_kernel`: FCFS on one server by the Lindley recursion (no event loop).

Conventions (the SOAP paper, Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018):
lower rank is served first; ties go to the earlier arrival; a job rank is compared through the
key ``(rank, flag, arrival index)`` where ``flag = 1`` when the rank is rising at the job's
current age (a rising job at rank ``R`` is effectively at ``R + 0`` and loses to a non-rising job
at the same rank, whatever their arrival order).  An arriving job therefore preempts only with a
strictly lower key.

The rank of a job is piecewise linear in its age ``a``.  The closed forms are encoded by a small
integer ``form`` (``FORM_*`` below); ``FORM_TABLE`` reads a per-job table of points
``(ages[i], ranks[i])``, ages non-decreasing from 0, linear in between, right-continuous at a
repeated age (a jump), linearly extrapolated past the last point with the slope of the last
segment.  The rank of an unstarted job (age exactly 0) is ``ranks[0]``; once served it follows
the right limit (this is how non-preemptive ranks are encoded, ``FORM_NP``: ``d`` at age 0 and
``-inf`` in service).  Such a jump at age 0 is a zero-length first segment whose end is
processed as a breakpoint as soon as the job is in service.

Events at the same instant are ordered: completions, then rank breakpoints, then arrivals,
then the start of a job whose rank jumps at age 0+ (so that jobs arriving together are
compared by their unstarted ranks).  Group ranks reached along different arithmetic paths are
equal up to rounding; :data:`TIE` (relative 1e-12) merges them, and :data:`TIE_T` (relative
1e-13 of the clock) makes an internal event and an arrival simultaneous.  Both only matter for
traces with exactly coinciding events (lattice times and sizes), which the tests exercise
against an independent fluid simulation.

Waiting jobs have frozen ranks and are ordered by the key ``(rank, flag << 62 | arrival
index)``: in the soap kernels a short sorted array that turns into a binary heap when long (see
:data:`WS_SORTED_MAX`), in the others a binary heap.  The served job(s) move; the next internal
event (completion, a breakpoint of the rank, or for rising ranks the rank reaching the heap top)
is computed exactly.  Nothing is
allocated per event; when the slot arrays are full the kernel returns ``NEED_CAP`` and the
caller grows them.

Data layout: a job lives in a *slot* while it is in the system.  ``F[slot, C_*]`` holds floats,
``I[slot, C_*]`` integers.  Arrivals come in chunks (interarrival times ``ia``, sizes ``cx``,
descriptors ``cd``, predictions ``cy`` for the statistics); the kernel returns ``NEED_CHUNK``
when it has consumed a chunk, and ``DONE`` once every tracked job (arrival index
``< n_track``) has completed.  Each completed tracked job is appended to completion buffers
(``bT``, ``bX``, ``bY``, ``bJ``: response time, size, prediction, arrival index; their count is
``si[SI_NB]``); the caller folds them into the statistics with :func:`tally` after each call.
The buffers must hold ``slots + chunk`` entries (no call completes more jobs than were present
at its start plus those arriving during it; every completion is written at position ``nb``,
which only a tracked one advances).

The steps the event kernels (and :mod:`qtheory.sim.general_kernel`) have in common are small
helpers here: admitting an arrival (:func:`_put_job`, :func:`_first_seg` or :func:`_init_table`),
storing a rank segment (:func:`_put_seg`), completing a job (:func:`_finish`), the current rank
and heap key of a job, loading and saving the scalar state.  Numba inlines them; a helper that
takes arrays is kept branch-free where it runs per event (a branch would leave reference
counting of its array arguments in the event loop: 2-3x slower).  A few hot blocks of
:func:`group_kernel` (the breakpoint of the served job and of the group members, the group
completions) stay written out: there even the branch-free helpers cost 3-8% (SRPT-Bounce,
Gittins tables).
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _heap_pop(HR, HT, HS, hn):
    """Pop the top of a waiting set that is a heap; return the new size.  At most
    ``WS_SORTED_MIN`` left: they are sorted by decreasing key (the caller then sets
    ``heap = hn > WS_SORTED_MIN``)."""
    hn = _hpop(HR, HT, HS, hn)
    if hn <= WS_SORTED_MIN:
        for i in range(1, hn):  # insertion sort
            _sorted_push(HR, HT, HS, i, HR[i], HT[i], HS[i])
    return hn


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _bin(edges, v):
    """Number of inner bin edges <= v (the bin index)."""
    b = 0
    for i in range(edges.size):
        b += edges[i] <= v
    return b


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _put_rank(F, s, age, a0, v0, sl, end):
    """Store the age and the current rank segment of slot ``s``."""
    F[s, C_AGE] = age
    F[s, C_A0] = a0
    F[s, C_V0] = v0
    F[s, C_SL] = sl
    F[s, C_END] = end


@njit(cache=True, nogil=True)
def _put_seg(F, I, s, age, a0, v0, sl, end, idx):
    """:func:`_put_rank` and the table index ``idx`` of the segment."""
    _put_rank(F, s, age, a0, v0, sl, end)
    I[s, C_SEG] = idx


@njit(cache=True, nogil=True)
def _rank(F, s):
    """Current rank of the job in slot ``s`` (at its stored age)."""
    return F[s, C_V0] + F[s, C_SL] * (F[s, C_AGE] - F[s, C_A0])


@njit(cache=True, nogil=True)
def _wait_key(j, rising):
    """Heap tie-break key of arrival ``j``: ``FLAG`` set when its rank is rising."""
    return j | FLAG if rising else j


@njit(cache=True, nogil=True)
def _top_before(HR, HT, hn, r, tb):
    """The heap (size ``hn``) is not empty and its top has a lower key than ``(r, tb)``
    (branch-free: the top is read even when the heap is empty, and ignored)."""
    return (hn > 0) & ((HR[0] < r) | ((HR[0] == r) & (HT[0] < tb)))


@njit(cache=True, nogil=True)
def _tables(tab_mode, BA, BV, SA, SV):
    """The rank tables a kernel reads: the per-slot copies (``tab_mode == 2``) or the bank."""
    if tab_mode == 2:
        return SA, SV
    return BA, BV


@njit(cache=True, nogil=True)
def _load_state(sf, si):
    """The scalar state every kernel keeps in registers: ``(t, tlast, ptr, jid, hn, ftop,
    left)``."""
    return sf[SF_T], sf[SF_TLAST], si[SI_PTR], si[SI_JID], si[SI_HN], si[SI_FREE], si[SI_LEFT]


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _put_job(F, I, s, t, x, d, y, jid):
    """A new job in slot ``s``: arrival time, size, descriptor, prediction, arrival index, age 0."""
    F[s, C_ARR] = t
    F[s, C_X] = x
    F[s, C_D] = d
    F[s, C_Y] = y
    F[s, C_AGE] = 0.0
    I[s, C_JID] = jid


@njit(cache=True, nogil=True)
def _first_seg(s, form, d, F, I, TA, TV):
    """Set the first rank segment of the new job in slot ``s`` (descriptor ``d``, a closed-form
    rank); return (rank at age 0, rising flag)."""
    if form == FORM_NP:  # rank d until the job has received service, then -inf
        a0, v0, sl, end, idx = 0.0, d, 0.0, 0.0, 0
    else:
        a0, v0, sl, end, idx = _seg(form, d, 0.0, 0, TA, TV, 0, 0)
    _put_seg(F, I, s, 0.0, a0, v0, sl, end, idx)
    return (0.0 if (form == FORM_CONST or form == FORM_AGE) else d), sl > 0.0


@njit(cache=True, nogil=True)
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
    a0, v0, sl, end, i = _seg(form, d, 0.0, 0, TA, TV, ts, tn)
    if v0 != TV[ts]:
        # a jump at age 0: the rank is TV[ts] until the job has received service (a zero-length
        # first segment, whose end is processed as a breakpoint once the job is in service)
        a0, v0, sl, end, i = 0.0, TV[ts], 0.0, 0.0, 0
    _put_seg(F, I, s, 0.0, a0, v0, sl, end, i)
    return TV[ts], sl > 0.0


@njit(cache=True, nogil=True)
def _to_event(F, s, ispeed):
    """Time until the next event of the served job in slot ``s`` at full speed (``ispeed``: 1 /
    speed), and whether it is its completion (else a breakpoint of its rank)."""
    x = F[s, C_X]
    e = F[s, C_END]
    return (min(x, e) - F[s, C_AGE]) * ispeed, x <= e


@njit(cache=True, nogil=True)
def _cached(F, I, s):
    """The served job's state that :func:`soap1_kernel` keeps in registers: ``(age, x, end,
    v0, slope, a0, arrival index)`` of slot ``s``."""
    return F[s, C_AGE], F[s, C_X], F[s, C_END], F[s, C_V0], F[s, C_SL], F[s, C_A0], I[s, C_JID]


@njit(cache=True, nogil=True)
def _emit(bT, bX, bY, bJ, nb, j, T, x, y):
    """Append a completed tracked job to the completion buffers; return the new count."""
    bT[nb] = T
    bX[nb] = x
    bY[nb] = y
    bJ[nb] = j
    return nb + 1


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def _cell(bits, last):
    """Histogram cell of a float64 with bit pattern ``bits`` (clamped to ``[0, last]``)."""
    return min(max((bits >> HSHIFT) - HBASE, 0), last)


@njit(cache=True, nogil=True)
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


# ---- kernel 1: non-rising SOAP ranks, k servers -------------------------------------------------
@njit(cache=True, nogil=True)
def soap_kernel(form, k, speed, tab_mode, tm, ia, cx, cd, cy, ctid, ctab_a, ctab_v, ctab_n,
                BA, BV, BS, BN, F, I, SA, SV, free, HR, HT, HS, srv, sf, si,
                n_track, bT, bX, bY, bJ):
    """Preemptive-resume SOAP queue, ``k`` servers of speed ``speed``, non-rising ranks.

    The served set is always the ``k`` jobs of least key.  Since a served job's rank never
    rises within a segment, the served set changes only at an arrival (the newcomer against the
    worst served job), at a completion (the heap top enters) and at an upward jump of a served
    job's rank at a breakpoint (against the heap top).  Returns a status code.
    """
    TA, TV = _tables(tab_mode, BA, BV, SA, SV)
    has_y = cy.size > 0
    ispeed = 1.0 / speed
    nb = 0
    t, tlast, ptr, jid, hn, ftop, left = _load_state(sf, si)
    ns = si[SI_NS]
    heap = si[SI_WHEAP] != 0
    m = ia.size
    status = NEED_CHUNK
    while True:
        if ptr >= m:
            status = NEED_CHUNK
            break
        ta = tlast + ia[ptr]
        stop = False
        # internal events before the next arrival
        while ns > 0:
            bi = 0
            if ns == 1:
                bdt, bcomp = _to_event(F, srv[0], ispeed)
            else:
                bdt = INF
                bcomp = False
                for i in range(ns):
                    dt, comp = _to_event(F, srv[i], ispeed)
                    if dt < bdt or (dt == bdt and comp and not bcomp):
                        bdt = dt
                        bi = i
                        bcomp = comp
            if bdt < 0.0:
                bdt = 0.0
            # at the same instant: completions and breakpoints, then arrivals, then the start
            # of a job whose rank jumps at age 0+ (it has not yet received service)
            te = t + bdt
            if te > ta + TIE_T * ta or (te >= ta - TIE_T * ta and not bcomp
                                         and F[srv[bi], C_END] == 0.0):
                break
            t = te if te < ta else ta
            if ns > 1:
                for i in range(ns):
                    if i != bi:
                        F[srv[i], C_AGE] += speed * bdt
            s = srv[bi]
            x = F[s, C_X]
            e = F[s, C_END]
            if x <= e:  # completion
                F[s, C_AGE] = x
                nb, left, ftop = _finish(s, I[s, C_JID], t, x, F, free, ftop, n_track, bT, bX, bY,
                                         bJ, nb, left)
                if hn > 0:
                    if heap:
                        srv[bi] = HS[0]
                        hn = _heap_pop(HR, HT, HS, hn)
                        heap = hn > WS_SORTED_MIN
                    else:
                        hn -= 1
                        srv[bi] = HS[hn]
                else:
                    ns -= 1
                    srv[bi] = srv[ns]
                if left == 0:
                    stop = True
                    break
            else:  # breakpoint of the rank
                a0, v0, sl, end, idx = _seg(form, F[s, C_D], e, I[s, C_SEG], TA, TV,
                                            I[s, C_TS], I[s, C_TN])
                _put_seg(F, I, s, e, e, v0, sl, end, idx)
                tb = I[s, C_JID]
                w = 0 if heap else hn - 1
                if _wtop_before(HR, HT, hn, w, v0, tb):
                    srv[bi] = HS[w]
                    _wreplace(HR, HT, HS, hn, heap, v0, tb, s)
        if stop:
            status = DONE
            break
        if ftop == 0:
            status = NEED_CAP
            break
        # the arrival
        dt = ta - t
        for i in range(ns):
            F[srv[i], C_AGE] += speed * dt
        t = ta
        tlast = ta
        ftop -= 1
        s = free[ftop]
        d = cd[ptr]
        _put_job(F, I, s, t, cx[ptr], d, cy[ptr] if has_y else 0.0, jid)
        if tab_mode == 0:
            r0, f0 = _first_seg(s, form, d, F, I, TA, TV)
        else:
            r0, f0 = _init_table(s, ptr, form, tab_mode, tm, d, ctid, ctab_a, ctab_v, ctab_n, BS,
                                 BN, F, I, SA, SV, TA, TV)
        ptr += 1
        tb = jid
        jid += 1
        if ns < k:
            srv[ns] = s
            ns += 1
        else:
            wi = 0
            if ns == 1:
                s1 = srv[0]
                wr = _rank(F, s1)
                wt = I[s1, C_JID]
            else:
                wr = -INF
                wt = np.int64(-1)
            for i in range(ns if ns > 1 else 0):
                s1 = srv[i]
                r = _rank(F, s1)
                t1 = I[s1, C_JID]
                if r > wr or (r == wr and t1 > wt):
                    wr = r
                    wt = t1
                    wi = i
            if r0 < wr:  # the newcomer has the largest index: it needs a strictly lower rank
                s1 = srv[wi]
                F[s1, C_A0] = F[s1, C_AGE]
                F[s1, C_V0] = wr
                if heap or hn >= WS_SORTED_MAX:
                    hn = _heap_push(HR, HT, HS, hn, heap, wr, wt, s1)
                    heap = True
                else:
                    hn = _sorted_push(HR, HT, HS, hn, wr, wt, s1)
                srv[wi] = s
            else:
                if heap or hn >= WS_SORTED_MAX:
                    hn = _heap_push(HR, HT, HS, hn, heap, r0, tb, s)
                    heap = True
                else:
                    hn = _sorted_push(HR, HT, HS, hn, r0, tb, s)
    _save_state(sf, si, t, tlast, ptr, jid, hn, ftop, left, nb)
    si[SI_NS] = ns
    si[SI_WHEAP] = heap
    return status


@njit(cache=True, nogil=True)
def fcfs1_kernel(speed, ia, cx, cy, sf, si, n_track, bT, bX, bY, bJ):
    r"""FCFS on one server by the Lindley recursion: the departure time of arrival ``n`` is
    :math:`D_n = \max(A_n, D_{n-1}) + X_n/s`, known when the job arrives, so there is no event
    loop and no queue.  Same calling convention and results as :func:`soap1_kernel` with
    ``FORM_CONST`` (response times are emitted at arrival, in arrival order, which for FCFS is
    also the completion order); ``sf[SF_T]`` holds the last departure time."""
    has_y = cy.size > 0
    ispeed = 1.0 / speed
    nb = 0
    dep, tlast, ptr, jid, hn, ftop, left = _load_state(sf, si)  # (hn, ftop: unused, kept)
    m = ia.size
    status = NEED_CHUNK
    while ptr < m:
        ta = tlast + ia[ptr]
        start = dep if dep > ta else ta
        dep = start + cx[ptr] * ispeed
        if jid < n_track:
            nb = _emit(bT, bX, bY, bJ, nb, jid, dep - ta, cx[ptr], cy[ptr] if has_y else 0.0)
            left -= 1
        tlast = ta
        ptr += 1
        jid += 1
        if left == 0:
            status = DONE
            break
    _save_state(sf, si, dep, tlast, ptr, jid, hn, ftop, left, nb)
    return status


@njit(cache=True, nogil=True)
def soap1_kernel(form, speed, tab_mode, tm, ia, cx, cd, cy, ctid, ctab_a, ctab_v, ctab_n,
                BA, BV, BS, BN, F, I, SA, SV, free, HR, HT, HS, srv, sf, si,
                 n_track, bT, bX, bY, bJ):
    """:func:`soap_kernel` specialised to one server: the served job's age, size and rank
    segment live in local variables (written back to its slot only when it is preempted), which
    makes the common SRPT/SPRPT event loop about 10% faster.  Same arguments (without ``k``),
    same results."""
    TA, TV = _tables(tab_mode, BA, BV, SA, SV)
    has_y = cy.size > 0
    ispeed = 1.0 / speed
    nb = 0
    t, tlast, ptr, jid, hn, ftop, left = _load_state(sf, si)
    m = ia.size
    status = NEED_CHUNK
    cur = srv[0] if si[SI_NS] > 0 else -1
    heap = si[SI_WHEAP] != 0
    # the served job, cached
    age, x, end, v0, sl, a0, cj = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.int64(0)
    if cur >= 0:
        age, x, end, v0, sl, a0, cj = _cached(F, I, cur)
    while True:
        if ptr >= m:
            status = NEED_CHUNK
            break
        ta = tlast + ia[ptr]
        tol = TIE_T * ta
        stop = False
        while cur >= 0:
            comp = x <= end
            lim = x if comp else end
            te = t + (lim - age) * ispeed
            if te > ta + tol or (not comp and end == 0.0 and te >= ta - tol):
                break
            t = te if te < ta else ta
            if comp:
                nb, left, ftop = _finish(cur, cj, t, x, F, free, ftop, n_track, bT, bX, bY, bJ, nb,
                                         left)
                if hn > 0:
                    if heap:
                        cur = HS[0]
                        hn = _heap_pop(HR, HT, HS, hn)
                        heap = hn > WS_SORTED_MIN
                    else:
                        hn -= 1
                        cur = HS[hn]
                    age, x, end, v0, sl, a0, cj = _cached(F, I, cur)
                else:
                    cur = -1
                if left == 0:
                    stop = True
                    break
            else:
                age = end
                a0, v0, sl, end, idx = _seg(form, F[cur, C_D], age, I[cur, C_SEG], TA, TV,
                                            I[cur, C_TS], I[cur, C_TN])
                a0 = age
                I[cur, C_SEG] = idx
                w = 0 if heap else hn - 1
                if _wtop_before(HR, HT, hn, w, v0, cj):
                    _put_rank(F, cur, age, a0, v0, sl, end)
                    s1 = cur
                    cur = HS[w]
                    _wreplace(HR, HT, HS, hn, heap, v0, cj, s1)
                    age, x, end, v0, sl, a0, cj = _cached(F, I, cur)
        if stop:
            status = DONE
            break
        if ftop == 0:
            status = NEED_CAP
            break
        if cur >= 0:
            age += speed * (ta - t)
        t = ta
        tlast = ta
        ftop -= 1
        s = free[ftop]
        d = cd[ptr]
        _put_job(F, I, s, t, cx[ptr], d, cy[ptr] if has_y else 0.0, jid)
        if tab_mode == 0:
            r0, f0 = _first_seg(s, form, d, F, I, TA, TV)
        else:
            r0, f0 = _init_table(s, ptr, form, tab_mode, tm, d, ctid, ctab_a, ctab_v, ctab_n, BS,
                                 BN, F, I, SA, SV, TA, TV)
        ptr += 1
        tb = jid
        jid += 1
        if cur < 0:
            cur = s
            age, x, end, v0, sl, a0, cj = _cached(F, I, s)
        else:
            r = v0 + sl * (age - a0)
            if r0 < r:
                _put_rank(F, cur, age, age, r, sl, end)
                if heap or hn >= WS_SORTED_MAX:
                    hn = _heap_push(HR, HT, HS, hn, heap, r, cj, cur)
                    heap = True
                else:
                    hn = _sorted_push(HR, HT, HS, hn, r, cj, cur)
                cur = s
                age, x, end, v0, sl, a0, cj = _cached(F, I, s)
            else:
                if heap or hn >= WS_SORTED_MAX:
                    hn = _heap_push(HR, HT, HS, hn, heap, r0, tb, s)
                    heap = True
                else:
                    hn = _sorted_push(HR, HT, HS, hn, r0, tb, s)
    if cur >= 0:
        _put_rank(F, cur, age, a0, v0, sl, end)
        srv[0] = cur
        si[SI_NS] = 1
    else:
        si[SI_NS] = 0
    si[SI_WHEAP] = heap
    _save_state(sf, si, t, tlast, ptr, jid, hn, ftop, left, nb)
    return status


@njit(cache=True, nogil=True)
def srpt1_kernel(form, speed, ia, cx, cd, cy, F, I, free, HR, HT, HS, srv, sf, si, n_track, bT,
                 bX, bY, bJ):
    """:func:`soap1_kernel` for the ranks of the SRPT family: ``d - a`` (``FORM_DMA``: SRPT,
    SPRPT) or ``d`` (``FORM_STATIC``: PSJF, PSPJF).  These ranks have no breakpoints, and a
    served job's rank only falls, so the only events are arrivals (the newcomer against the
    served job) and completions (the waiting set's least key enters).  Without the breakpoint
    and table paths the loop is about 10% faster (SPRPT: 29 -> 32 M jobs/s).  Same state layout and results as
    :func:`soap1_kernel` (job by job: the tests compare them)."""
    has_y = cy.size > 0
    ispeed = 1.0 / speed
    sl = -1.0 if form == FORM_DMA else 0.0
    nb = 0
    t, tlast, ptr, jid, hn, ftop, left = _load_state(sf, si)
    m = ia.size
    status = NEED_CHUNK
    cur = srv[0] if si[SI_NS] > 0 else -1
    heap = si[SI_WHEAP] != 0
    # the served job: age, size, rank v0 + sl (age - a0), arrival index
    age, x, v0, a0, cj = 0.0, 0.0, 0.0, 0.0, np.int64(0)
    if cur >= 0:
        age, x, _e, v0, _s, a0, cj = _cached(F, I, cur)
    while True:
        if ptr >= m:
            status = NEED_CHUNK
            break
        ta = tlast + ia[ptr]
        lim = ta + TIE_T * ta
        stop = False
        while cur >= 0:  # completions before the arrival
            te = t + (x - age) * ispeed
            if te > lim:
                break
            t = te if te < ta else ta
            nb, left, ftop = _finish(cur, cj, t, x, F, free, ftop, n_track, bT, bX, bY, bJ, nb,
                                     left)
            if hn > 0:
                if heap:
                    cur = HS[0]
                    hn = _heap_pop(HR, HT, HS, hn)
                    heap = hn > WS_SORTED_MIN
                else:
                    hn -= 1
                    cur = HS[hn]
                age, x, _e, v0, _s, a0, cj = _cached(F, I, cur)
            else:
                cur = -1
            if left == 0:
                stop = True
                break
        if stop:
            status = DONE
            break
        if ftop == 0:
            status = NEED_CAP
            break
        if cur >= 0:
            age += speed * (ta - t)
        t = ta
        tlast = ta
        ftop -= 1
        s = free[ftop]
        d = cd[ptr]
        xn = cx[ptr]
        _put_job(F, I, s, t, xn, d, cy[ptr] if has_y else 0.0, jid)
        _put_seg(F, I, s, 0.0, 0.0, d, sl, INF, 0)
        ptr += 1
        tb = jid
        jid += 1
        if cur < 0:
            cur = s
            age, x, v0, a0, cj = 0.0, xn, d, 0.0, tb
            continue
        r = v0 + sl * (age - a0)
        if d < r:  # the newcomer preempts: the served job waits at its current rank
            _put_rank(F, cur, age, age, r, sl, INF)
            pr, pt, ps = r, cj, cur
            cur = s
            age, x, v0, a0, cj = 0.0, xn, d, 0.0, tb
        else:
            pr, pt, ps = d, tb, s
        if heap or hn >= WS_SORTED_MAX:
            hn = _heap_push(HR, HT, HS, hn, heap, pr, pt, ps)
            heap = True
        else:
            hn = _sorted_push(HR, HT, HS, hn, pr, pt, ps)
    if cur >= 0:
        _put_rank(F, cur, age, a0, v0, sl, INF)
        srv[0] = cur
        si[SI_NS] = 1
    else:
        si[SI_NS] = 0
    si[SI_WHEAP] = heap
    _save_state(sf, si, t, tlast, ptr, jid, hn, ftop, left, nb)
    return status


# ---- kernel 2: any piecewise-linear rank, one server, exact tie-sharing -------------------------
@njit(cache=True, nogil=True)
def _join(s, R, F, GK, GT, GS, gn):
    """Add slot s (rank R, rising) to the served group; return (new size, 1/slope)."""
    sl = F[s, C_SL]
    F[s, C_GA] = F[s, C_AGE]
    F[s, C_GR] = R
    lim = F[s, C_X]
    typ = 0
    if F[s, C_END] < lim:
        lim = F[s, C_END]
        typ = 1
    gn = _gpush(GK, GT, GS, gn, R + sl * (lim - F[s, C_AGE]), typ, s)
    return gn, 1.0 / sl


@njit(cache=True, nogil=True)
def _suspend(R, form, F, I, GK, GS, gn, HR, HT, HS, hn, TA, TV):
    """Move every group member to the waiting heap; return the heap size.

    A member waits at key (R, rising), except one whose breakpoint falls exactly at R: it first
    moves to its next segment (so that jobs reaching a jump together stay together)."""
    for g in range(gn):
        s = GS[g]
        x = F[s, C_X]
        e = F[s, C_END]
        lim = x if x <= e else e
        a = F[s, C_GA] + (R - F[s, C_GR]) / F[s, C_SL]
        if a > lim:
            a = lim
        if a < F[s, C_GA]:
            a = F[s, C_GA]
        tb = I[s, C_JID]
        if e < x and F[s, C_GR] + F[s, C_SL] * (e - F[s, C_GA]) <= R + TIE * abs(R):
            first = I[s, C_SEG] + 1
            a0, v0, sl, end, idx = _seg(form, F[s, C_D], e, I[s, C_SEG], TA, TV, I[s, C_TS],
                                        I[s, C_TN])
            if not (form == FORM_TABLE and TV[I[s, C_TS] + idx] != TV[I[s, C_TS] + first]):
                if abs(v0 - R) > TIE * abs(v0):
                    v0 = R
            _put_seg(F, I, s, e, e, v0, sl, end, idx)
            hn = _hpush(HR, HT, HS, hn, v0, _wait_key(tb, sl > 0.0), s)
        else:
            F[s, C_AGE] = a
            F[s, C_A0] = a
            F[s, C_V0] = R
            hn = _hpush(HR, HT, HS, hn, R, tb | FLAG, s)
    return hn


@njit(cache=True, nogil=True)
def _start(s, r, F, I, GK, GT, GS, HR, HT, HS, hn):
    """Serve slot s alone at rank r (rising or not), absorbing waiting jobs that tie with it.

    Returns (mode, cur, gn, R, Ss, hn)."""
    if F[s, C_SL] > 0.0:
        gn, Ss = _join(s, r, F, GK, GT, GS, 0)
        while hn > 0 and HR[0] == r and HT[0] >= FLAG:
            s2 = HS[0]
            hn = _hpop(HR, HT, HS, hn)
            gn, inv = _join(s2, r, F, GK, GT, GS, gn)
            Ss += inv
        return 2, -1, gn, r, Ss, hn
    return 1, s, 0, 0.0, 0.0, hn


@njit(cache=True, nogil=True)
def _dispatch(F, I, GK, GT, GS, HR, HT, HS, hn):
    """Serve the best waiting job (the server is free). Returns (mode, cur, gn, R, Ss, hn)."""
    while hn > 0:
        s = HS[0]
        hn = _hpop(HR, HT, HS, hn)
        r = _rank(F, s)
        tb = _wait_key(I[s, C_JID], F[s, C_SL] > 0.0)
        if _top_before(HR, HT, hn, r, tb):
            # only for a table that jumps up at age 0: wait again at the in-service rank
            F[s, C_A0] = F[s, C_AGE]
            F[s, C_V0] = r
            hn = _hpush(HR, HT, HS, hn, r, tb, s)
            continue
        return _start(s, r, F, I, GK, GT, GS, HR, HT, HS, hn)
    return 0, -1, 0, 0.0, 0.0, hn


@njit(cache=True, nogil=True)
def group_kernel(form, speed, tab_mode, tm, ia, cx, cd, cy, ctid, ctab_a, ctab_v, ctab_n,
                 BA, BV, BS, BN, F, I, SA, SV, free, HR, HT, HS, GK, GT, GS, GX, sf, si,
                 n_track, bT, bX, bY, bJ):
    """Preemptive-resume SOAP queue on one server of speed ``speed``, any piecewise-linear rank.

    Mode 1 serves one job whose rank does not rise (its age is tracked).  Mode 2 serves a
    *group* of jobs at a common rank ``R`` that rises: member ``i`` on a segment of slope
    ``s_i > 0`` gets the share ``(1/s_i) / sum_j (1/s_j)`` of the server so that all ranks stay
    equal, and ``R`` grows at rate ``speed / sum_j (1/s_j)``.  This is the exact limit of the FCFS
    tie rule (any service pushes a rising job above its tied competitors); with ``r = a`` (LAS)
    it is processor sharing among the jobs of least age.  Members are kept in a heap keyed by
    the group rank at which they leave (completion or a breakpoint), so events cost O(log n).
    """
    TA, TV = _tables(tab_mode, BA, BV, SA, SV)
    has_y = cy.size > 0
    ispeed = 1.0 / speed
    nb = 0
    t, tlast, ptr, jid, hn, ftop, left = _load_state(sf, si)
    R = sf[SF_R]
    Ss = sf[SF_SS]
    mode = si[SI_MODE]
    cur = si[SI_CUR]
    gn = si[SI_GN]
    m = ia.size
    status = NEED_CHUNK
    while True:
        if ptr >= m:
            status = NEED_CHUNK
            break
        ta = tlast + ia[ptr]
        stop = False
        still = 0
        while mode != 0:
            if still > MAX_STILL:
                stop = True
                break
            if mode == 1:
                s = cur
                x = F[s, C_X]
                e = F[s, C_END]
                lim = x if x <= e else e
                dt = (lim - F[s, C_AGE]) * ispeed
                if dt < 0.0:
                    dt = 0.0
                te = t + dt
                if te > ta + TIE_T * ta or (te >= ta - TIE_T * ta and x > e and e == 0.0):
                    break
                still = still + 1 if dt == 0.0 else 0
                t = te if te < ta else ta
                F[s, C_AGE] = lim
                if x <= e:  # completion
                    j = I[s, C_JID]
                    if j < n_track:
                        nb = _emit(bT, bX, bY, bJ, nb, j, t - F[s, C_ARR], x, F[s, C_Y])
                        left -= 1
                    free[ftop] = s
                    ftop += 1
                    mode, cur, gn, R, Ss, hn = _dispatch(F, I, GK, GT, GS, HR, HT, HS, hn)
                    if left == 0:
                        stop = True
                        break
                else:  # breakpoint
                    a0, v0, sl, end, idx = _seg(form, F[s, C_D], e, I[s, C_SEG], TA, TV,
                                                I[s, C_TS], I[s, C_TN])
                    F[s, C_A0] = e
                    F[s, C_V0] = v0
                    F[s, C_SL] = sl
                    F[s, C_END] = end
                    I[s, C_SEG] = idx
                    tb = I[s, C_JID]
                    if sl > 0.0:
                        tb |= FLAG
                    if hn > 0 and (HR[0] < v0 or (HR[0] == v0 and HT[0] < tb)):
                        hn = _hpush(HR, HT, HS, hn, v0, tb, s)
                        mode, cur, gn, R, Ss, hn = _dispatch(F, I, GK, GT, GS, HR, HT, HS, hn)
                    elif sl > 0.0:
                        mode, cur, gn, R, Ss, hn = _start(s, v0, F, I, GK, GT, GS, HR, HT, HS, hn)
            else:
                Re = GK[0]
                Rj = HR[0] if hn > 0 else INF
                # exits that coincide up to rounding (anchors differ) come first
                tol = TIE * abs(Re)
                exit_first = Re <= Rj + tol
                Rn = Re if exit_first else Rj
                dt = (Rn - R) * Ss * ispeed
                if dt < 0.0:
                    dt = 0.0
                te = t + dt
                if te > ta + TIE_T * ta:
                    break
                still = still + 1 if dt == 0.0 else 0
                t = te if te < ta else ta
                if Rn > R or not exit_first:
                    R = Rn  # (a join sets R to the waiting rank exactly, even 1 ulp below)
                if exit_first:  # members leave: completions, then breakpoints
                    # every member leaving at this rank (up to rounding) leaves together
                    ne = 0
                    while gn > 0 and GK[0] <= Re + tol:
                        GX[ne] = GS[0]
                        ne += 1
                        Ss -= 1.0 / F[GS[0], C_SL]
                        gn = _gpop(GK, GT, GS, gn)
                    for i in range(ne):
                        s = GX[i]
                        x = F[s, C_X]
                        if x <= F[s, C_END]:
                            F[s, C_AGE] = x
                            j = I[s, C_JID]
                            if j < n_track:
                                nb = _emit(bT, bX, bY, bJ, nb, j, t - F[s, C_ARR], x, F[s, C_Y])
                                left -= 1
                            free[ftop] = s
                            ftop += 1
                    if left == 0:
                        stop = True
                    ahead = False
                    for i in range(ne):
                        s = GX[i]
                        e = F[s, C_END]
                        if F[s, C_X] <= e:
                            continue
                        F[s, C_AGE] = e
                        first = I[s, C_SEG] + 1
                        a0, v0, sl, end, idx = _seg(form, F[s, C_D], e, I[s, C_SEG], TA, TV,
                                                    I[s, C_TS], I[s, C_TN])
                        if not (form == FORM_TABLE
                                and TV[I[s, C_TS] + idx] != TV[I[s, C_TS] + first]):
                            # continuous at the breakpoint: the group rank, snapped to the
                            # table value when they agree up to rounding
                            if abs(v0 - R) <= TIE * abs(v0):
                                R = v0
                            v0 = R
                        F[s, C_A0] = e
                        F[s, C_V0] = v0
                        F[s, C_SL] = sl
                        F[s, C_END] = end
                        I[s, C_SEG] = idx
                        if sl > 0.0 and v0 == R:
                            gn, inv = _join(s, R, F, GK, GT, GS, gn)
                            Ss += inv
                        else:
                            if v0 < R or (v0 == R and sl <= 0.0):
                                ahead = True  # now ahead of the rising group
                            tb = I[s, C_JID]
                            if sl > 0.0:
                                tb |= FLAG
                            hn = _hpush(HR, HT, HS, hn, v0, tb, s)
                    if ahead:
                        hn = _suspend(R, form, F, I, GK, GS, gn, HR, HT, HS, hn, TA, TV)
                        gn = 0
                    if gn == 0:
                        mode, cur, gn, R, Ss, hn = _dispatch(F, I, GK, GT, GS, HR, HT, HS, hn)
                    elif gn == 1:
                        Ss = 1.0 / F[GS[0], C_SL]
                    if stop:
                        break
                else:  # the group rank reached the heap top
                    if HT[0] >= FLAG:  # rising too: it joins (with every tie)
                        while hn > 0 and HR[0] == R and HT[0] >= FLAG:
                            s2 = HS[0]
                            hn = _hpop(HR, HT, HS, hn)
                            gn, inv = _join(s2, R, F, GK, GT, GS, gn)
                            Ss += inv
                    else:  # a non-rising job at rank R beats the rising group
                        hn = _suspend(R, form, F, I, GK, GS, gn, HR, HT, HS, hn, TA, TV)
                        gn = 0
                        mode, cur, gn, R, Ss, hn = _dispatch(F, I, GK, GT, GS, HR, HT, HS, hn)
        if stop:
            status = DONE if still <= MAX_STILL else STALLED
            break
        if ftop == 0:
            status = NEED_CAP
            break
        # the arrival
        dt = ta - t
        if mode == 1:
            F[cur, C_AGE] += speed * dt
        elif mode == 2:
            R += dt * speed / Ss
        t = ta
        tlast = ta
        ftop -= 1
        s = free[ftop]
        d = cd[ptr]
        _put_job(F, I, s, t, cx[ptr], d, cy[ptr] if has_y else 0.0, jid)
        if tab_mode == 0:
            r0, f0 = _first_seg(s, form, d, F, I, TA, TV)
        else:
            r0, f0 = _init_table(s, ptr, form, tab_mode, tm, d, ctid, ctab_a, ctab_v, ctab_n, BS,
                                 BN, F, I, SA, SV, TA, TV)
        ptr += 1
        tb = _wait_key(jid, f0)
        jid += 1
        if mode == 0:
            hn = _hpush(HR, HT, HS, hn, r0, tb, s)
            mode, cur, gn, R, Ss, hn = _dispatch(F, I, GK, GT, GS, HR, HT, HS, hn)
        elif mode == 1:
            c = cur
            rc = _rank(F, c)
            if r0 < rc:
                F[c, C_A0] = F[c, C_AGE]
                F[c, C_V0] = rc
                hn = _hpush(HR, HT, HS, hn, rc, I[c, C_JID], c)
                hn = _hpush(HR, HT, HS, hn, r0, tb, s)
                mode, cur, gn, R, Ss, hn = _dispatch(F, I, GK, GT, GS, HR, HT, HS, hn)
            else:
                hn = _hpush(HR, HT, HS, hn, r0, tb, s)
        else:
            if r0 < R or (r0 == R and not f0):
                hn = _suspend(R, form, F, I, GK, GS, gn, HR, HT, HS, hn, TA, TV)
                gn = 0
                hn = _hpush(HR, HT, HS, hn, r0, tb, s)
                mode, cur, gn, R, Ss, hn = _dispatch(F, I, GK, GT, GS, HR, HT, HS, hn)
            elif r0 == R and f0:
                gn, inv = _join(s, R, F, GK, GT, GS, gn)
                Ss += inv
            else:
                hn = _hpush(HR, HT, HS, hn, r0, tb, s)
    _save_state(sf, si, t, tlast, ptr, jid, hn, ftop, left, nb)
    sf[SF_R] = R
    sf[SF_SS] = Ss
    si[SI_MODE] = mode
    si[SI_CUR] = cur
    si[SI_GN] = gn
    return status


# ---- kernel 3: processor sharing ----------------------------------------------------------------
@njit(cache=True, nogil=True)
def ps_kernel(k, speed, ia, cx, cy, F, I, free, HR, HT, HS, sf, si,
              n_track, bT, bX, bY, bJ):
    """Processor sharing on ``k`` servers of speed ``speed`` (exact).

    With ``n`` jobs present each is served at rate ``speed * min(1, k/n)``; all present jobs
    gain the same service, so a *virtual time* ``V`` (service per job since the system was last
    empty) orders departures: a job arriving at virtual time ``V`` leaves when ``V`` reaches
    ``V + x``.  The heap holds these finish tags.
    """
    nb = 0
    t, tlast, ptr, jid, hn, ftop, left = _load_state(sf, si)
    V = sf[SF_R]
    m = ia.size
    kf = float(k)
    status = NEED_CHUNK
    while True:
        if ptr >= m:
            status = NEED_CHUNK
            break
        ta = tlast + ia[ptr]
        stop = False
        while hn > 0:
            rate = speed if hn <= k else speed * kf / hn
            dt = (HR[0] - V) / rate
            if dt < 0.0:
                dt = 0.0
            te = t + dt
            if te > ta + TIE_T * ta:
                break
            t = te if te < ta else ta
            V = HR[0]
            s = HS[0]
            hn = _hpop(HR, HT, HS, hn)
            nb, left, ftop = _finish(s, I[s, C_JID], t, F[s, C_X], F, free, ftop, n_track, bT, bX,
                                     bY, bJ, nb, left)
            if hn == 0:
                V = 0.0
            if left == 0:
                stop = True
                break
        if stop:
            status = DONE
            break
        if ftop == 0:
            status = NEED_CAP
            break
        if hn > 0:
            rate = speed if hn <= k else speed * kf / hn
            V += (ta - t) * rate
        t = ta
        tlast = ta
        ftop -= 1
        s = free[ftop]
        F[s, C_ARR] = t
        F[s, C_X] = cx[ptr]
        F[s, C_Y] = cy[ptr] if cy.size > 0 else 0.0
        I[s, C_JID] = jid
        hn = _hpush(HR, HT, HS, hn, V + cx[ptr], jid, s)
        ptr += 1
        jid += 1
    _save_state(sf, si, t, tlast, ptr, jid, hn, ftop, left, nb)
    sf[SF_R] = V
    return status
