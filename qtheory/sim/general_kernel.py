r"""Numba kernel for any piecewise-linear SOAP rank on ``k >= 1`` servers (ranks that rise too).

:func:`general_kernel` runs the central-queue preemptive-resume SOAP queue on ``k`` servers of
speed ``speed`` for every rank form of :mod:`qtheory.sim.kernels` (closed forms and tables),
including ranks that *rise* with age: LAS (FB-k), SRPT-Bounce, Gittins rank tables, user ranks
with rising pieces.  It is the kernel :func:`qtheory.sim.simulate` uses for such ranks when
``servers > 1`` (on one server :func:`~qtheory.sim.kernels.group_kernel` is faster and gives the
same response times).

Semantics (the fluid limit of "serve the ``k`` jobs of least key" with FCFS ties; keys
``(rank, rising flag, arrival index)`` as in :mod:`qtheory.sim.kernels`).  Walk the present jobs
in key order, ranks equal up to the relative tolerance :data:`~qtheory.sim.kernels.TIE` forming
a *tie class*.  Within a class the jobs whose rank does not rise at their age come first
(arrival order), then the rising ones.  Each job gets a full server (rate ``speed``) while
servers are left, except a class of ``g`` rising jobs meeting only ``m < g`` free servers: they
share the ``m`` servers so that their ranks stay equal (water-filling),

.. math::

    r_i = \min\bigl(s,\ c / \sigma_i\bigr), \qquad \sum_i r_i = m s,

with :math:`s` the server speed, :math:`\sigma_i > 0` the slope of job ``i``'s rank in its age
and :math:`c` the common rate :math:`d\,\mathrm{rank}/dt` of the class.  A member that would
need more than a full server gets one and its rank falls strictly below the class's.  With
``k = 1`` this is processor sharing with weights :math:`1/\sigma_i` (LAS: processor sharing among
the jobs of least attained service), i.e. :func:`~qtheory.sim.kernels.group_kernel`.  This
follows the SOAP framework of Scully, Harchol-Balter and Scheller-Wolf (POMACS 2018) on the
multiserver central queue (Scully, Grosof and Harchol-Balter, POMACS 2020).

Implementation: a *scan* kernel.  The present jobs are kept in an array ordered by key
(re-sorted by insertion sort at every event, which is linear when the order barely changes);
each job carries its current rank (column :data:`C_RK`), advanced at the rate
:math:`r_i \sigma_i` (exactly ``c`` for the members of a shared class, so that their ranks stay
bit-for-bit equal) and snapped to a common value inside a tie class.  The next event is the
first of: the next arrival; a completion or a rank breakpoint (``_seg``) of a served job; the
start of service of a job whose table jumps at age 0+; the first meeting of two consecutive
tie classes whose rank velocities differ (the class below faster than the one above), or of a
fully served job below the first not fully served class with it.  Same-instant events are
ordered as in the other kernels: completions and breakpoints, then arrivals, then age-0+
starts.  An event that can change the order costs O(n) for ``n`` jobs present; a breakpoint
where a lone job on a full server only changes the slope of its rank (the common event of
Gittins tables) skips the re-sort and costs O(k), unless its rank then ties with the first job
not fully served (a rank rising into a plateau at a waiting job's rank: the tie goes to the
earlier arrival, so the order is rebuilt).  Measured on one shared core, load 0.9,
exponential sizes: LAS about 0.45-0.6 M jobs/s on 2 or 4 servers (the one-server group
kernel: 0.9-1.1 M); Gittins (a 103-point table, ~55 breakpoints per job) 40-60 k jobs/s.

Same data layout and calling convention as :func:`~qtheory.sim.kernels.soap_kernel` (chunks,
slot arrays, ``NEED_CHUNK``/``NEED_CAP``/``DONE``, completion buffers folded by
:func:`~qtheory.sim.kernels.tally`).  The ordered job array is ``ORD`` (slots, the heap-slot array
of the other kernels, its length ``si[SI_HN]``); ``CL``, ``RATE`` and ``VEL`` are scratch arrays
of the slot capacity (cluster start, service rate and rank velocity per position).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernel_parts import _inner
from .kernels import (
    C_A0,
    C_AGE,
    C_D,
    C_END,
    C_GR,
    C_JID,
    C_SEG,
    C_SL,
    C_TN,
    C_TS,
    C_V0,
    C_X,
    DONE,
    INF,
    MAX_STILL,
    NEED_CAP,
    NEED_CHUNK,
    SI_HN,
    SI_NS,
    STALLED,
    TIE,
    TIE_T,
    _finish,
    _first_seg,
    _init_table,
    _load_state,
    _put_job,
    _put_seg,
    _save_state,
    _seg,
    _tables,
)

__all__ = ["general_kernel", "C_RK"]

#: slot column holding a job's current rank (the group-anchor column of the group kernel)
C_RK = C_GR


@_inner
def _before(F, I, s1, s2) -> bool:
    """Key of slot s1 < key of slot s2: (rank, rising flag, arrival index)."""
    r1 = F[s1, C_RK]
    r2 = F[s2, C_RK]
    if r1 != r2:
        return r1 < r2
    f1 = F[s1, C_SL] > 0.0
    f2 = F[s2, C_SL] > 0.0
    if f1 != f2:
        return f2
    return I[s1, C_JID] < I[s2, C_JID]


@_inner
def _insertion_sort(ORD, lo, hi, F, I):
    for i in range(lo + 1, hi):
        s = ORD[i]
        j = i - 1
        while j >= lo and _before(F, I, s, ORD[j]):
            ORD[j + 1] = ORD[j]
            j -= 1
        ORD[j + 1] = s


@njit(cache=True, nogil=True)
def _order(ORD, n, F, I, CL):
    """Sort the present jobs by key and form the tie classes (``CL[p]``: the position where the
    class of position ``p`` starts); the ranks of a class are snapped to its least rank."""
    _insertion_sort(ORD, np.int64(0), n, F, I)
    b = np.int64(0)  # (an int64, not the literal 0: one compile of _insertion_sort)
    while b < n:
        r0 = F[ORD[b], C_RK]
        tol = TIE * abs(r0) if abs(r0) < INF else 0.0
        e = b + 1
        while e < n:
            r = F[ORD[e], C_RK]
            if r == r0 or abs(r - r0) <= tol:
                e += 1
            else:
                break
        if e - b > 1:
            for j in range(b, e):
                F[ORD[j], C_RK] = r0
            _insertion_sort(ORD, b, e, F, I)  # now by (flag, arrival index)
        for j in range(b, e):
            CL[j] = b
        b = e


@_inner
def _allocate(ORD, n, F, CL, k, speed, RATE, VEL):
    """Service rates (``RATE``) and rank velocities (``VEL``) per position (see the module
    docstring: full servers in key order, water-filling in an oversubscribed rising class).

    Returns the number of leading positions that hold every served job (all later positions
    wait: once the servers are used up, nothing after is served)."""
    m = k
    b = np.int64(0)  # (an int64, not the literal 0: one compile of _insertion_sort)
    while b < n:
        if m == 0:
            for j in range(b, n):
                RATE[j] = 0.0
                VEL[j] = 0.0
            return b
        e = b + 1
        while e < n and CL[e] == b:
            e += 1
        j = b
        while j < e and F[ORD[j], C_SL] <= 0.0:  # non-rising members first
            if m > 0:
                RATE[j] = speed
                VEL[j] = speed * F[ORD[j], C_SL]
                m -= 1
            else:
                RATE[j] = 0.0
                VEL[j] = 0.0
            j += 1
        g = e - j
        if g > 0:
            if g <= m:
                for i in range(j, e):
                    RATE[i] = speed
                    VEL[i] = speed * F[ORD[i], C_SL]
                m -= g
            elif m == 0:
                for i in range(j, e):
                    RATE[i] = 0.0
                    VEL[i] = 0.0
            else:  # water-filling of m servers over g > m rising members
                for i in range(j, e):
                    RATE[i] = -1.0  # not yet capped
                ml = m
                while True:
                    inv = 0.0
                    smin = INF
                    imin = -1
                    for i in range(j, e):
                        if RATE[i] < 0.0:
                            sl = F[ORD[i], C_SL]
                            inv += 1.0 / sl
                            if sl < smin:
                                smin = sl
                                imin = i
                    c = ml * speed / inv
                    if ml > 1 and c / smin > speed:
                        RATE[imin] = speed
                        VEL[imin] = speed * smin
                        ml -= 1
                        continue
                    for i in range(j, e):
                        if RATE[i] < 0.0:
                            RATE[i] = c / F[ORD[i], C_SL]
                            VEL[i] = c
                    break
                m = 0
        b = e
    return n


@_inner
def _crossing(ORD, n, F, CL, RATE, VEL, speed):
    """Time until the first meeting that can change the allocation (INF if none).

    The served-at-full-speed prefix against the first class not entirely fully served, then
    consecutive classes from there on (the faster lower one against the slower upper one)."""
    p_b = 0
    while p_b < n and RATE[p_b] == speed:
        p_b += 1
    if p_b >= n:
        return INF
    best = INF
    cb = CL[p_b]
    ce = cb + 1
    vmin = VEL[cb]
    vmax = VEL[cb]
    while ce < n and CL[ce] == cb:
        v = VEL[ce]
        vmin = min(vmin, v)
        vmax = max(vmax, v)
        ce += 1
    rb = F[ORD[cb], C_RK]
    for p in range(cb):
        v = VEL[p]
        if v > vmin:
            dt = (rb - F[ORD[p], C_RK]) / (v - vmin)
            if dt < best:
                best = dt
    while ce < n:
        c2 = ce
        nmin = VEL[c2]
        rmax = RATE[c2]
        nmax = nmin
        ce2 = c2 + 1
        while ce2 < n and CL[ce2] == c2:
            v = VEL[ce2]
            nmin = min(nmin, v)
            nmax = max(nmax, v)
            rmax = max(rmax, RATE[ce2])
            ce2 += 1
        rn = F[ORD[c2], C_RK]
        if vmax > nmin:
            dt = (rn - rb) / (vmax - nmin)
            if dt < best:
                best = dt
        if rmax <= 0.0:  # this class and all later ones are waiting: static ranks
            break
        rb = rn
        vmin = nmin
        vmax = nmax
        ce = ce2
    return best


@njit(cache=True, nogil=True)
def _stays_ahead(r, F, ORD, pb, n) -> bool:
    """A fully served job now at rank ``r`` stays ahead of position ``pb`` (the first one not
    fully served), not tied with it up to :data:`~qtheory.sim.kernels.TIE` as in :func:`_order`.
    The rank of ``pb`` is read before this event moves it: it can only rise (a served position
    past ``pb`` is a water-filled rising class), so the test errs on the side of re-sorting."""
    return pb >= n or F[ORD[pb], C_RK] - r > TIE * abs(r)


@_inner
def _next_segment(s, form, e, F, I, TA, TV):
    """Move slot s (at age e, a breakpoint) to its next rank segment."""
    a0, v0, sl, end, idx = _seg(form, F[s, C_D], e, I[s, C_SEG], TA, TV, I[s, C_TS], I[s, C_TN])
    _put_seg(F, I, s, e, a0, v0, sl, end, idx)
    F[s, C_RK] = v0 + sl * (e - a0) if sl != 0.0 else v0


@njit(cache=True, nogil=True)
def general_kernel(form, k, speed, tab_mode, tm, ia, cx, cd, cy, ctid, ctab_a, ctab_v, ctab_n,
                   BA, BV, BS, BN, F, I, SA, SV, free, ORD, CL, RATE, VEL, sf, si,
                   n_track, bT, bX, bY, bJ):
    """Preemptive-resume SOAP queue on ``k`` servers of speed ``speed``, any piecewise-linear
    rank (rising pieces included), exact tie-sharing by water-filling.  Returns a status code.

    Arguments as :func:`qtheory.sim.kernels.soap_kernel`, with the heap arrays replaced by
    ``ORD`` (present slots in key order; count ``si[SI_HN]``), ``CL`` (int64) and ``RATE``,
    ``VEL`` (float64) scratch arrays of the slot capacity.
    """
    TA, TV = _tables(tab_mode, BA, BV, SA, SV)
    has_y = cy.size > 0
    nb = np.int64(0)  # (int64 from the start: the helpers compile once, not for a literal 0)
    t, tlast, ptr, jid, n, ftop, left = _load_state(sf, si)
    m = ia.size
    status = NEED_CHUNK
    still = 0
    dirty = True
    ns = 0  # leading positions of ORD that hold the served jobs
    pb = 0  # the first position of ORD not fully served (set with the allocation)
    while True:
        if ptr >= m:
            status = NEED_CHUNK
            break
        ta = tlast + ia[ptr]
        tol_t = TIE_T * ta
        stop = False
        while n > 0:
            if still > MAX_STILL:
                stop = True
                break
            if dirty:
                _order(ORD, n, F, I, CL)
                ns = _allocate(ORD, n, F, CL, k, speed, RATE, VEL)
                pb = 0  # the first position not fully served
                while pb < n and RATE[pb] == speed:
                    pb += 1
            dirty = True
            # the next completion or breakpoint of a served job
            dmin = INF
            imin = -1
            start = False
            for p in range(ns):
                r = RATE[p]
                if r <= 0.0:
                    continue
                s = ORD[p]
                x = F[s, C_X]
                e = F[s, C_END]
                if e == 0.0:  # unstarted job whose rank jumps at age 0+
                    start = True
                    continue
                lim = x if x <= e else e
                dt = (lim - F[s, C_AGE]) / r
                if dt < dmin:
                    dmin = dt
                    imin = p
            dc = _crossing(ORD, n, F, CL, RATE, VEL, speed)
            if dc < dmin:
                dmin = dc
                imin = -1
            if dmin < 0.0:
                dmin = 0.0
            if start and dmin > 0.0:
                if t >= ta - tol_t:
                    break  # the arrival at this instant comes first
                for p in range(ns):
                    if RATE[p] > 0.0 and F[ORD[p], C_END] == 0.0:
                        _next_segment(ORD[p], form, 0.0, F, I, TA, TV)
                still += 1
                continue
            te = t + dmin
            if te > ta + tol_t:
                break
            still = still + 1 if dmin == 0.0 else 0
            t = te if te < ta else ta
            # advance the served jobs; process every completion and breakpoint now due
            done = 0
            smooth = imin >= 0  # a crossing changes the order
            for p in range(ns):
                r = RATE[p]
                if r <= 0.0:
                    continue
                s = ORD[p]
                x = F[s, C_X]
                e = F[s, C_END]
                if e == 0.0:
                    continue
                a = F[s, C_AGE] + r * dmin
                if p == imin:
                    a = x if x <= e else e
                F[s, C_RK] += VEL[p] * dmin
                if x <= e:
                    if a >= x - TIE * x:  # completion
                        F[s, C_AGE] = x
                        nb, left, ftop = _finish(s, I[s, C_JID], t, x, F, free, ftop, n_track, bT,
                                                 bX, bY, bJ, nb, left)
                        ORD[p] = -1
                        done += 1
                        continue
                elif a >= e - TIE * e:  # breakpoint
                    r_old = F[s, C_RK]
                    _next_segment(s, form, e, F, I, TA, TV)
                    if (r == speed and CL[p] == p and (p + 1 == n or CL[p + 1] == p + 1)
                            and abs(F[s, C_RK] - r_old) <= TIE * abs(r_old)
                            and _stays_ahead(F[s, C_RK], F, ORD, pb, n)):
                        # a lone job on a full server whose rank only changes slope and ties
                        # with no job it could yield to (its rising flag matters in a tie class
                        # only): the order and the allocation stand, only its rank velocity
                        # changes.  A rank that rises into a plateau at the rank of a waiting
                        # job must re-sort: the earlier arrival wins the tie.
                        VEL[p] = speed * F[s, C_SL]
                    else:
                        smooth = False
                    continue
                F[s, C_AGE] = a
            dirty = done > 0 or not smooth
            if done > 0:
                w = 0
                for p in range(n):
                    if ORD[p] >= 0:
                        ORD[w] = ORD[p]
                        w += 1
                n = w
                ns = 0  # (re-allocated at the next event; no job is served when n == 0)
            if left == 0:
                stop = True
                break
        if stop:
            status = DONE if still <= MAX_STILL else STALLED
            break
        if ftop == 0:
            status = NEED_CAP
            break
        # the arrival
        dt = ta - t
        if dt > 0.0:
            for p in range(ns):
                r = RATE[p]
                if r > 0.0:
                    s = ORD[p]
                    if F[s, C_END] != 0.0:
                        F[s, C_AGE] += r * dt
                        F[s, C_RK] += VEL[p] * dt
        t = ta
        tlast = ta
        still = 0
        ftop -= 1
        s = free[ftop]
        d = cd[ptr]
        _put_job(F, I, s, t, cx[ptr], d, cy[ptr] if has_y else 0.0, jid)
        if tab_mode == 0:
            r0, f0 = _first_seg(s, form, d, F, I, TA, TV)
        else:
            r0, f0 = _init_table(s, ptr, form, tab_mode, tm, d, ctid, ctab_a, ctab_v, ctab_n, BS,
                                 BN, F, I, SA, SV, TA, TV)
        F[s, C_RK] = r0
        ORD[n] = s
        n += 1
        dirty = True
        ptr += 1
        jid += 1
    _save_state(sf, si, t, tlast, ptr, jid, n, ftop, left, nb)
    si[SI_NS] = 0
    return status


def to_general_state(F: np.ndarray, srv: np.ndarray, HS: np.ndarray, si: np.ndarray) -> None:
    """Convert the state left by :func:`~qtheory.sim.kernels.soap_kernel` (served slots in
    ``srv``, waiting slots in the heap ``HS``) into the state of :func:`general_kernel`
    (every present slot in ``HS``, its current rank in column :data:`C_RK`), in place."""
    ns = int(si[SI_NS])
    hn = int(si[SI_HN])
    slots = np.concatenate([srv[:ns], HS[:hn]]).astype(np.int64)
    if slots.size:
        sl = F[slots, C_SL]
        v0 = F[slots, C_V0]
        da = F[slots, C_AGE] - F[slots, C_A0]
        F[slots, C_RK] = np.where(sl != 0.0, v0 + sl * da, v0)
    HS[: slots.size] = slots
    si[SI_HN] = slots.size
    si[SI_NS] = 0
