"""Kernel 2 of the simulator: any piecewise-linear rank on one server, with exact tie-sharing
(jobs whose ranks rise into a tie share the server as a group); see :mod:`qtheory.sim.kernels`."""

from __future__ import annotations

from numba import njit

from ._kernel_parts import (
    _I64,
    C_A0,
    C_AGE,
    C_ARR,
    C_D,
    C_END,
    C_GA,
    C_GR,
    C_JID,
    C_SEG,
    C_SL,
    C_TN,
    C_TS,
    C_V0,
    C_X,
    C_Y,
    DONE,
    FLAG,
    FORM_TABLE,
    INF,
    MAX_STILL,
    NEED_CAP,
    NEED_CHUNK,
    SF_R,
    SF_SS,
    SI_CUR,
    SI_GN,
    SI_MODE,
    STALLED,
    TIE,
    TIE_T,
    _emit,
    _first_seg,
    _gpop,
    _gpush,
    _hpop,
    _hpush,
    _init_table,
    _inner,
    _load_state,
    _put_job,
    _put_seg,
    _rank,
    _save_state,
    _seg,
    _tables,
    _top_before,
    _wait_key,
)


# ---- kernel 2: any piecewise-linear rank, one server, exact tie-sharing -------------------------
@_inner
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


@_inner
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


@_inner
def _start(s, r, F, I, GK, GT, GS, HR, HT, HS, hn):
    """Serve slot s alone at rank r (rising or not), absorbing waiting jobs that tie with it.

    Returns (mode, cur, gn, R, Ss, hn)."""
    if F[s, C_SL] > 0.0:
        gn, Ss = _join(s, r, F, GK, GT, GS, _I64(0))
        while hn > 0 and HR[0] == r and HT[0] >= FLAG:
            s2 = HS[0]
            hn = _hpop(HR, HT, HS, hn)
            gn, inv = _join(s2, r, F, GK, GT, GS, gn)
            Ss += inv
        return 2, -1, gn, r, Ss, hn
    return 1, s, 0, 0.0, 0.0, hn


@_inner
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
    nb = _I64(0)  # (int64 from the start: the helpers compile once, not for a literal 0)
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
