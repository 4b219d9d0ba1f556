"""Kernel 3 of the simulator: processor sharing on k servers; see :mod:`qtheory.sim.kernels`."""

from __future__ import annotations

from numba import njit

from ._kernel_parts import (
    _I64,
    C_ARR,
    C_JID,
    C_X,
    C_Y,
    DONE,
    NEED_CAP,
    NEED_CHUNK,
    SF_R,
    TIE_T,
    _finish,
    _hpop,
    _hpush,
    _load_state,
    _save_state,
)


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
    nb = _I64(0)  # (int64 from the start: the helpers compile once, not for a literal 0)
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
