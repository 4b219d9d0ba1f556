r"""Response-time and waiting-time distributions of the generic SOAP policies (SRPT-Bounce,
Gittins, ConditionalGittins, a user :class:`~qtheory.policies.Rank`, any SOAP rank) on discrete
size laws and finite joint laws of (size, prediction), built on the rank tables of the generic
evaluator (:mod:`qtheory.engine.generic`, :mod:`qtheory.engine.rank_tables`).

SOAP's decomposition (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018, Section 5) for a
job of descriptor :math:`d` and size :math:`x`, with worst future rank
:math:`r(a) = \sup_{[a, x)} r(d, \cdot)` and :math:`r = r(0)`:

.. math::
    E[e^{-sT}\mid d, x] = \tilde V_r\big(\eta_r(s)\big)\,
        \exp\Big(-\int_0^x \eta_{r(a)}(s)\,da\Big),\qquad
    \eta_v(s) = s + \lambda E\big[1 - e^{-\eta_v(s) X^{new}[v]}\big],

with :math:`X^{new}[v] = \min(X, c^{new}(v))` (new jobs stop at the first age where their rank
is :math:`\ge v`) and the old-job delay of the M/G/1 with sparse vacations

.. math::
    \tilde V_r(u) = \frac{(1 - \rho_0 - \sum_{i\ge1}\rho_i)\,u
        + \lambda\sum_{i\ge1} E[1 - e^{-uX^{old}_i[r]}]}{u - \lambda E[1 - e^{-uX^{old}_0[r]}]},

:math:`X^{old}_i[r] = (\min(X, c_i) - b_i)^+` on the maximal age intervals :math:`[b_i, c_i)`
where the rank is :math:`\le r` (interval 0 starts at age 0). A non-monotone rank gives several
sparse pieces per job (each starts only when no relevant work is present, so each adds its own
term :math:`\lambda E[1 - e^{-uX^{old}_i}]`; rate conservation as for one piece).

On a discrete law the rank tables are piecewise linear in age, so the worst future rank is
constant or follows a linear piece of the rank, and :math:`c^{new}(v)` is, on every open gap
between two consecutive rank values, either a fixed age (then :math:`\eta_v` is constant on the
gap) or the crossing of a rising linear piece, linear in :math:`v` (SRPT-Bounce's
:math:`c^{new}(v) = y' + v`; then :math:`\eta_v` oscillates on the gap like
:math:`e^{-\eta c(v)}`, and :math:`\int \eta_v\,dv` is computed by Gauss-Legendre rules where
it oscillates little and by steepest descent in the complex level where it oscillates much:
4e-15 from a brute-force evaluation at :math:`|s|` up to 1.7e4). Means and variances come
from the same pieces in closed form (busy-period cumulants), not from the inversion.

Derivation: ``docs/response_time_distribution.md`` (section 6).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from . import generic, rank_tables
from . import laplace_inversion as li
from ._psi_kernel import NO_SERIES, _psi_one
from ._soap_discrete import worst_future_ranks
from .distribution import ResponseTimeDistribution

#: Euler terms for discrete laws (the law has kinks at sums of atoms): n and m, as the
#: closed-form policies on discrete laws use
EULER_N_KINKS = 1600
EULER_M_KINKS = 40
#: Gauss-Legendre nodes per panel of a gap with moving new-job cut-offs, and the most phase
#: (radians of :math:`|\eta|\,\Delta c`) one panel may hold
GL_NODES = 12
PANEL_PHASE = 1.5
#: above this total phase a gap is integrated by steepest descent (:func:`_descent`)
NSD_PHASE = 12.0
#: a moving term below this (weight times :math:`e^{-\operatorname{Re}(s) c}`) is negligible
DAMPED = 1e-18
#: transform values per block (memory: block x levels complex numbers)
_S_BLOCK = 64
_INF = np.inf


# ---- the rank tables as level events ----------------------------------------------------------
@numba.njit(cache=True)
def _lin_cross(g0, g1, s, e, r):  # pragma: no cover - compiled
    return g0 + (r - s) / (e - s) * (g1 - g0)


@numba.njit(cache=True)
def _new_cut(j, rs, re, g, P, S, E, go):  # pragma: no cover - compiled
    """The new-job cut-off of class j: (c at level re, dc/dv, c at rs); the structure (which
    segment is crossed) is decided at rs, as in :func:`qtheory.engine.soap_sweep.class_eval`."""
    g_lo, g_hi = go[j], go[j + 1]
    if P[g_lo] >= rs:
        return g[g_lo], 0.0, g[g_lo]
    for m in range(g_lo, g_hi - 1):
        s, e = S[m], E[m]
        if s >= rs:
            return g[m], 0.0, g[m]
        if e >= rs:
            return (_lin_cross(g[m], g[m + 1], s, e, re), (g[m + 1] - g[m]) / (e - s),
                    _lin_cross(g[m], g[m + 1], s, e, rs))
        if P[m + 1] >= rs:
            return g[m + 1], 0.0, g[m + 1]
    return _INF, 0.0, _INF


@numba.njit(cache=True)
def _law_count(rs, re, g, P, S, E, go, xs, ps, xo):  # pragma: no cover - compiled
    k = 0
    for j in range(go.size - 1):
        c, dc, cs = _new_cut(j, rs, re, g, P, S, E, go)
        if not cs > 0.0:
            continue
        a, b = xo[j], xo[j + 1]
        kk = a + np.searchsorted(xs[a:b], cs, side="right")
        k += kk - a
        if kk < b and c < _INF:
            k += 1
    return k


@numba.njit(cache=True)
def _laws(rs_arr, re_arr, g, P, S, E, go, xs, ps, xo):  # pragma: no cover - compiled
    r"""The new-job laws at levels (structure at ``rs_arr``, values at ``re_arr``) in CSR form:
    entries ``(x0, dx, w)``: a size :math:`x_0 + dx\,(v - re)` of probability w (dx != 0 only
    for a moving cut-off)."""
    L = rs_arr.size
    ptr = np.zeros(L + 1, np.int64)
    for li_ in range(L):
        ptr[li_ + 1] = ptr[li_] + _law_count(rs_arr[li_], re_arr[li_], g, P, S, E, go, xs, ps, xo)
    n = ptr[L]
    X = np.empty(n)
    D = np.empty(n)
    W = np.empty(n)
    for li_ in range(L):
        k = ptr[li_]
        for j in range(go.size - 1):
            c, dc, cs = _new_cut(j, rs_arr[li_], re_arr[li_], g, P, S, E, go)
            if not cs > 0.0:
                continue
            a, b = xo[j], xo[j + 1]
            kk = a + np.searchsorted(xs[a:b], cs, side="right")
            for i in range(a, kk):
                X[k] = xs[i]
                D[k] = 0.0
                W[k] = ps[i]
                k += 1
            if kk < b and c < _INF:
                tail = 0.0
                for i in range(kk, b):
                    tail += ps[i]
                X[k] = c
                D[k] = dc
                W[k] = tail
                k += 1
    return ptr, X, D, W


@numba.njit(cache=True)
def _old_pieces(r, g, P, S, E, go, xs, ps, xo):  # pragma: no cover - compiled
    """The old-job pieces at level r: (x0, w0) of :math:`X^{old}_0` and (x1, w1) of every
    sparse piece :math:`(\\min(X, c_i) - b_i)^+`, i >= 1 (the intervals of
    :func:`qtheory.engine._soap_discrete.threshold`)."""
    J = go.size - 1
    cap = g.size + J
    ij = np.empty(cap, np.int64)
    ib = np.empty(cap)
    ic = np.empty(cap)
    i0 = np.empty(cap, np.bool_)
    n = 0
    for j in range(J):
        g_lo, g_hi = go[j], go[j + 1]
        p0in = P[g_lo] <= r
        inside = p0in
        start = g[g_lo]
        first = True
        for m in range(g_lo, g_hi - 1):
            s, e = S[m], E[m]
            a, bnd = g[m], g[m + 1]
            if s <= r and e <= r:
                if not inside:
                    inside = True
                    start = a
                    first = False
            elif s <= r < e:
                if not inside:
                    start = a
                    first = False
                cut = _lin_cross(a, bnd, s, e, r)
                ij[n], ib[n], ic[n], i0[n] = j, start, cut, first and p0in
                n += 1
                inside = False
                first = False
            elif s > r >= e:
                if inside:
                    ij[n], ib[n], ic[n], i0[n] = j, start, a, first and p0in
                    n += 1
                    first = False
                start = _lin_cross(a, bnd, s, e, r)
                inside = True
                first = False
            else:
                if inside:
                    ij[n], ib[n], ic[n], i0[n] = j, start, a, first and p0in
                    n += 1
                    inside = False
                first = False
            pin = P[m + 1] <= r
            if inside and not pin:
                ij[n], ib[n], ic[n], i0[n] = j, start, bnd, first and p0in
                n += 1
                inside = False
                first = False
            elif (not inside) and pin:
                inside = True
                start = bnd
                first = False
        if inside:
            ij[n], ib[n], ic[n], i0[n] = j, start, _INF, first and p0in
            n += 1
    # the atoms of the pieces
    n0 = 0
    n1 = 0
    for q in range(n):
        j = ij[q]
        a, b = xo[j], xo[j + 1]
        if i0[q]:
            n0 += b - a
        elif ic[q] > ib[q]:
            n1 += b - (a + np.searchsorted(xs[a:b], ib[q], side="right"))
    x0 = np.empty(n0)
    w0 = np.empty(n0)
    x1 = np.empty(n1)
    w1 = np.empty(n1)
    k0 = 0
    k1 = 0
    for q in range(n):
        j = ij[q]
        a, b = xo[j], xo[j + 1]
        c = ic[q]
        if i0[q]:
            for i in range(a, b):
                x0[k0] = min(xs[i], c)
                w0[k0] = ps[i]
                k0 += 1
        elif c > ib[q]:
            for i in range(a + np.searchsorted(xs[a:b], ib[q], side="right"), b):
                x1[k1] = min(xs[i], c) - ib[q]
                w1[k1] = ps[i]
                k1 += 1
    return x0, w0, x1, w1


@numba.njit(cache=True)
def _tagged_terms(g, P, S, E, go, xs, xo):  # pragma: no cover - compiled
    """Per atom: r = r^worst(0), and the residence as constant-level terms (level, length) and
    falling terms (rank from ``hi`` down to ``lo``, factor da/dr), the walk of
    :func:`qtheory.engine.soap_sweep.tagged`."""
    J = go.size - 1
    n_at = xs.size
    r0 = np.empty(n_at)
    cptr = np.zeros(n_at + 1, np.int64)
    dptr = np.zeros(n_at + 1, np.int64)
    cap = 0
    for j in range(J):
        cap += (xo[j + 1] - xo[j]) * 2 * (go[j + 1] - go[j])
    clev = np.empty(cap)
    clen = np.empty(cap)
    dlo = np.empty(cap)
    dhi = np.empty(cap)
    dfac = np.empty(cap)
    nc = 0
    nd = 0
    for j in range(J):
        g_lo, g_hi = go[j], go[j + 1]
        for ia in range(xo[j], xo[j + 1]):
            x = xs[ia]
            mx, Q = worst_future_ranks(g, P, S, E, g_lo, g_hi, x)
            r0[ia] = Q[0]
            for m in range(g_lo, mx):
                loc = m - g_lo
                a, bnd = g[m], g[m + 1]
                s, e = S[m], E[m]
                level = max(e, Q[loc + 1])
                if s <= level or s == -_INF:
                    if bnd > a:
                        clev[nc], clen[nc] = level, bnd - a
                        nc += 1
                else:
                    if e < level:
                        cut = _lin_cross(a, bnd, s, e, level)
                        rend = level
                    else:
                        cut = bnd
                        rend = e
                    if cut > a:
                        dlo[nd], dhi[nd], dfac[nd] = rend, s, (cut - a) / (s - rend)
                        nd += 1
                    if bnd > cut:
                        clev[nc], clen[nc] = level, bnd - cut
                        nc += 1
            cptr[ia + 1] = nc
            dptr[ia + 1] = nd
    return r0, cptr, clev[:nc], clen[:nc], dptr, dlo[:nd], dhi[:nd], dfac[:nd]


# ---- Kendall's equation along the levels ------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _eta_kernel(s, lam, u, lptr, LX, LD, LW, need, gptr, GX, GD, GW, nk, xg, wg, x4, w4, x6, w6, x12, w12, xq3, wq3,
                EX, C):  # pragma: no cover - compiled
    """For every s: :math:`\\eta` at the exact levels flagged in ``need`` (``EX``) and the
    prefix integrals :math:`C_k = \\int_{u_0}^{u_k}(\\eta_v - s)\\,dv` for k < nk (``C``; without
    the part :math:`s\\,dv`, whose sum over the residence is :math:`sx` exactly: no
    cancellation between terms of size :math:`|s|`)."""
    nL = need.size
    for i in range(s.size):
        si = s[i]
        sr = si.real
        prev = si
        for li_ in range(nL):
            if need[li_]:
                prev = _kendall(si, lam, LX, LD, LW, lptr[li_], lptr[li_ + 1], 0.0, prev)
                EX[i, li_] = prev
        if nk == 0:
            continue
        C[i, 0] = 0.0
        cur = si
        for k in range(nk - 1):
            lo, hi = gptr[k], gptr[k + 1]
            d = u[k + 1] - u[k]
            moving = False
            tmax = 0.0  # the extent of the oscillating part, in v - u_k
            dmax = 0.0
            dmin = _INF
            for q in range(lo, hi):
                if GD[q] != 0.0:
                    w = GW[q]
                    x0 = GX[q]
                    if sr <= 0.0 or w * math.exp(-sr * x0) > DAMPED_K:
                        moving = True
                        # beyond t (from u_k) the term is below DAMPED (no damping: Re s <= 0)
                        t = (math.log(w / DAMPED_K) / sr - x0) / GD[q] if sr > 0.0 else _INF
                        if t > tmax:
                            tmax = t
                        if GD[q] > dmax:
                            dmax = GD[q]
                        if GD[q] < dmin:
                            dmin = GD[q]
            if not moving:
                cur = _kendall(si, lam, GX, GD, GW, lo, hi, 0.5 * d, cur)
                C[i, k + 1] = C[i, k] + d * (cur - si)
                continue
            tend = min(tmax, d)
            if sr > 0.0 and (abs(si) + 2.0 * lam) * dmax * tend > NSD_PHASE_K:
                # many oscillations: deform [0, d] into the complex offsets (steepest descent)
                cur = _kendall(si, lam, GX, GD, GW, lo, hi, 0.0, cur)
                C[i, k + 1] = C[i, k] + _descent(si, lam, GX, GD, GW, lo, hi, d, dmin, cur,
                                                 xq3, wq3)
                cur = _kendall(si, lam, GX, GD, GW, lo, hi, d, cur)
                continue
            # total phase |eta| dc (v - u_k) over the oscillating part (above NSD_PHASE: steepest
            # descent): Gauss-Legendre with 4 nodes up to 0.02, 6 up to 0.2, else panels of at
            # most PANEL_PHASE with 12 (the integrand holds the harmonics e^{-k eta c} of
            # Kendall's nonlinearity too: 24 nodes over 23 radians were 9e-8 off)
            phase = (abs(si) + 2.0 * lam) * dmax * tend
            if phase <= 0.02:
                xq, wq, npan = x4, w4, 1
            elif phase <= 0.2:
                xq, wq, npan = x6, w6, 1
            else:
                xq, wq, npan = xg, wg, int(math.ceil(phase / PANEL_PHASE_K))
            h = tend / npan
            acc = 0.0 + 0.0j
            for pnl in range(npan):
                a0 = pnl * h
                for q in range(xq.size):
                    cur = _kendall(si, lam, GX, GD, GW, lo, hi, a0 + h * xq[q], cur)
                    acc += (h * wq[q]) * (cur - si)
            if tend < d:  # the rest: the moving terms are below DAMPED, eta constant
                cur = _kendall(si, lam, GX, GD, GW, lo, hi, 0.5 * (tend + d), cur)
                acc += (d - tend) * (cur - si)
            C[i, k + 1] = C[i, k] + acc


DAMPED_K = DAMPED
PANEL_PHASE_K = PANEL_PHASE
NSD_PHASE_K = NSD_PHASE


@numba.njit(cache=True, nogil=True)
def _kendall(s, lam, X, D, W, lo, hi, z, u):  # pragma: no cover - compiled
    """The root of :math:`\\eta = s + \\lambda\\psi(\\eta)` for the law ``lo:hi`` at the level offset
    ``z`` (real, or complex on the steepest-descent rays; sizes ``X + D z``), by Newton's method
    from ``u``."""
    prev = np.inf
    for _ in range(100):
        psi = 0.0 + 0.0j
        dpsi = 0.0 + 0.0j
        for k in range(lo, hi):
            w = W[k]
            x = X[k] + D[k] * z
            e = u * x
            if e.real > 46.0:
                psi += w
                continue
            ex = np.exp(-e)
            psi += w * (1.0 - ex)
            dpsi += (w * x) * ex
        step = (u - s - lam * psi) / (1.0 - lam * dpsi)
        u = u - step
        err = abs(step) / abs(u)
        if err <= 1e-9 or (err <= 1e-7 and err >= prev):
            break
        prev = err
    return u


@numba.njit(cache=True, nogil=True)
def _descent(s, lam, X, D, W, lo, hi, d, dmin, e0, xq, wq):  # pragma: no cover - compiled
    r""":math:`\int_0^d (\eta(t) - s)\,dt` on a gap whose moving terms
    :math:`e^{-\eta (x_0 + D t)}` oscillate many times: :math:`\eta(t)` is analytic in the
    offset t, so the segment is replaced by the rays :math:`t = \tau e^{i\varphi}` and
    :math:`d + \tau e^{i\varphi}`, :math:`\varphi = -\arg\eta(0)`, along which the moving terms
    decay like :math:`e^{-D|\eta|\tau}` without oscillating, and the far side, where they are
    below :math:`e^{-45}` (:math:`\eta` is there the root with the moving sizes infinite):
    numerical steepest descent (Huybrechs and Vandewalle, SIAM J. Numer. Anal. 44, 2006).
    ``xq, wq``: a rule on [0, 1] for each of the panels [0, 5], [5, 15], [15, 45] of
    :math:`D_{min}|\eta(0)|\tau`."""
    ang = -math.atan2(e0.imag, e0.real)
    rot = complex(math.cos(ang), math.sin(ang))
    rate = dmin * abs(e0)
    einf = _kendall(s, lam, X, D, W, lo, hi, complex(1e300, 0.0), e0)
    tot = d * (einf - s)
    for side in range(2):
        base = 0.0 if side == 0 else d
        u = e0 if side == 0 else _kendall(s, lam, X, D, W, lo, hi, complex(d, 0.0), einf)
        acc = 0.0 + 0.0j
        a = 0.0
        for b in (5.0, 15.0, 45.0):
            h = (b - a) / rate
            for q in range(xq.size):
                tau = (a + (b - a) * xq[q]) / rate
                u = _kendall(s, lam, X, D, W, lo, hi, base + tau * rot, u)
                acc += (h * wq[q]) * (u - s)
            a = b
        tot += rot * acc if side == 0 else -rot * acc
    return tot


def _descent_rule() -> tuple[np.ndarray, np.ndarray]:
    return _gl(16)


# ---- the rank tables ---------------------------------------------------------------------------
#: fractions of a segment where a user rank is compared with its linear interpolation
_PROBES = (0.21, 0.5, 0.83)


def _rank_tables(policy, dj):
    r"""``(g, P, S, E, go, xs, ps, xo, exact)``: the rank tables of the generic evaluator
    (:func:`qtheory.engine.generic._tables`, ties snapped). A rank without a declared shape (a
    user :class:`~qtheory.policies.Rank`) is first tried as linear between the atoms and its
    breakpoints (:func:`qtheory.engine.rank_tables.linear_tables`): where it equals its
    linear interpolation at three interior points of every segment (to 1e-12 relative) that
    table is the rank itself (``exact``); otherwise the evaluator's chords (8 per interval)
    stand for it and ``exact`` is False."""
    xs = np.concatenate(dj.x)
    ps = np.concatenate(dj.p)
    xo = np.concatenate([[0], np.cumsum([a.size for a in dj.x])]).astype(np.int64)
    if policy.formula_form() is None and policy.law_rank is None:
        d = np.asarray(dj.d, float)
        g, P, S, E, go = rank_tables.linear_tables(policy, d, xs, xo)
        if _is_linear(policy, d, g, S, E, go):
            P, S, E = generic._snap_ties(P, S, E)
            return g, P, S, E, go, xs, ps, xo, True
        t = generic._tables(policy, dj, snap=True)
        return t[0], t[1], t[2], t[3], t[4], xs, ps, xo, False
    t = generic._tables(policy, dj, snap=True)
    return t[0], t[1], t[2], t[3], t[4], xs, ps, xo, True


def _is_linear(policy, d, g, S, E, go) -> bool:
    """Whether the rank equals the table's line on every open segment (at :data:`_PROBES`)."""
    last = np.zeros(g.size, bool)
    last[go[1:] - 1] = True
    seg = np.flatnonzero(~last)
    if not seg.size:
        return True
    cls = np.repeat(np.arange(go.size - 1), np.diff(go))[seg]
    h = g[seg + 1] - g[seg]
    for f in _PROBES:
        r = np.asarray(policy.rank(d[cls], g[seg] + f * h), float)
        with np.errstate(invalid="ignore"):
            line = S[seg] + f * (E[seg] - S[seg])
        both_inf = np.isinf(r) & (r == S[seg]) & (r == E[seg])
        tol = 1e-12 * np.maximum(1.0, np.maximum(np.abs(S[seg]), np.abs(E[seg])))
        with np.errstate(invalid="ignore"):
            ok = both_inf | (np.abs(r - line) <= tol)
        if not np.all(ok):
            return False
    return True


# ---- the transform -----------------------------------------------------------------------------
def _gl(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(n)
    return 0.5 * (x + 1.0), 0.5 * w


def _sum_by(idx: np.ndarray, values: np.ndarray, minlength: int) -> np.ndarray:
    """Sums of ``values`` grouped by ``idx`` (floats, also when empty)."""
    return np.bincount(idx, values, minlength=minlength).astype(float)


def _moments_of(x: np.ndarray, w: np.ndarray) -> list[float]:
    return [float(np.sum(w * x ** k)) for k in (1, 2, 3)]


def _csr(old: list, lam: float):
    r"""The old pieces of every distinct r0 as CSR arrays, with :math:`\rho_0 + \sum_i\rho_i`."""
    p0 = np.zeros(len(old) + 1, np.int64)
    p1 = np.zeros(len(old) + 1, np.int64)
    for i, (x0, _w0, x1, _w1) in enumerate(old):
        p0[i + 1] = p0[i] + x0.size
        p1[i + 1] = p1[i] + x1.size
    cat = [np.concatenate([o[k] for o in old]) if old else np.zeros(0) for k in range(4)]
    rho = np.array([lam * (np.sum(w0 * x0) + np.sum(w1 * x1)) for x0, w0, x1, w1 in old])
    return p0, cat[0], cat[1], p1, cat[2], cat[3], rho


@numba.njit(cache=True, nogil=True)
def _psi_sum(u, X, W, lo, hi):  # pragma: no cover - compiled
    # sum_{lo <= k < hi} W_k (1 - e^{-u X_k}): the nodes X[lo:hi] as one row of the shared
    # kernel (_psi_kernel._psi_one, the plain sum: the same terms in the same order)
    n = hi - lo
    return _psi_one(u, X[lo:hi].reshape((1, n)), W[lo:hi].reshape((1, n)), np.int64(0), n, NO_SERIES, 0.0)[0]


@numba.njit(cache=True, nogil=True)
def _delay_kernel(U, lam, p0, x0, w0, p1, x1, w1, rho, V):  # pragma: no cover - compiled
    """The old-job delay transform at ``U[i, r]`` for the pieces of each r0 (sparse-vacation
    M/G/1, docs/response_time_distribution.md section 1)."""
    for i in range(U.shape[0]):
        for r in range(U.shape[1]):
            u = U[i, r]
            num = (1.0 - rho[r]) * u + lam * _psi_sum(u, x1, w1, p1[r], p1[r + 1])
            V[i, r] = num / (u - lam * _psi_sum(u, x0, w0, p0[r], p0[r + 1]))


@numba.njit(cache=True, nogil=True)
def _residence_kernel(s, EX, C, cptr, clev, clen, dptr, dlo, dhi, dfac, R):  # pragma: no cover
    r"""The residence exponents :math:`\int_0^x (\eta_{r(a)}(s) - s)\,da` of each class (row
    ``i`` of ``s``, column ``a`` of the classes): its constant-level stretches (``clev``,
    ``clen``, ranges ``cptr``) and its stretches over gaps with moving cut-offs (prefix integrals
    ``C`` between ``dlo`` and ``dhi``, factor ``dfac``, ranges ``dptr``), summed in that order."""
    for i in range(s.size):
        si = s[i]
        for a in range(R.shape[1]):
            acc = 0.0 + 0.0j
            for k in range(cptr[a], cptr[a + 1]):
                acc += (EX[i, clev[k]] - si) * clen[k]
            for k in range(dptr[a], dptr[a + 1]):
                acc += (C[i, dhi[k]] - C[i, dlo[k]]) * dfac[k]
            R[i, a] = acc


class GenericTransform:
    r"""LST and the first two moments of :math:`T` (or :math:`W`) of a SOAP policy on a discrete
    joint law, at one atom (a class) or mixed over all atoms.

    Parameters
    ----------
    model : qtheory.MG1
        With a discrete size law (and, for prediction ranks, a finite joint law).
    policy : Policy
        A SOAP policy; its rank tables are those of :func:`qtheory.engine.generic._tables`.
    x, y : float or None
        A class: the size ``x`` (and the prediction ``y`` for prediction ranks); ``None``: the
        unconditional law.
    waiting : bool
        The waiting time :math:`W` instead of :math:`T`.
    """

    def __init__(self, model, policy, x=None, y=None, waiting: bool = False,
                 resolution: int | None = None):
        self.lam = float(model.arrival_rate)
        self.policy = policy
        self.waiting = waiting
        #: ``resolution``: a continuous law is replaced by the generic evaluator's discretisation
        #: with that many cells (an approximation: :func:`build_discretised`); ``None``: exact
        #: laws only
        dj, exact = generic.discretise(model, policy.descriptor, resolution or generic.RESOLUTION)
        if not exact and resolution is None:
            raise NotImplementedError(_continuous_message(model, policy))
        g, P, S, E, go, xs, ps, xo, self.exact_rank = _rank_tables(policy, dj)
        self._tab = (g, P, S, E, go, xs, ps, xo)
        ds = np.repeat(np.asarray(dj.d, float), [a.size for a in dj.x])
        r0, cptr, clev, clen, dptr, dlo, dhi, dfac = _tagged_terms(g, P, S, E, go, xs, xo)
        if x is None:
            atoms = np.arange(xs.size)
        else:
            yy = {"prediction": y, "size": x}.get(policy.descriptor, 0.0)
            hit = np.flatnonzero(np.isclose(xs, float(x), rtol=1e-12, atol=0)
                                 & np.isclose(ds, float(yy), rtol=1e-12, atol=1e-300))
            if hit.size == 0:
                raise ValueError(
                    f"{policy.name}: the class x={x!r}" + ("" if y is None else f", y={y!r}")
                    + " is not an atom of the model's law: the generic distributions are exact on "
                    "discrete laws at their atoms")
            atoms = hit[:1]
        self.conditional = x is not None
        self.shifted = self.conditional and not waiting
        self.atoms = atoms
        self.weights = np.ones(1) if self.conditional else ps[atoms]
        self.xs = xs[atoms]
        # levels: every finite rank value, -inf and +inf around them
        vals = np.concatenate([P, S, E])
        u = np.unique(vals[np.isfinite(vals)])
        self.u = u
        self._r0 = r0[atoms]
        # terms of the atoms used, mapped to level indices
        sel_c = np.concatenate([np.arange(cptr[a], cptr[a + 1]) for a in atoms])
        sel_d = np.concatenate([np.arange(dptr[a], dptr[a + 1]) for a in atoms])
        cnt_c = np.array([cptr[a + 1] - cptr[a] for a in atoms])
        cnt_d = np.array([dptr[a + 1] - dptr[a] for a in atoms])
        self._c_atom = np.repeat(np.arange(atoms.size), cnt_c)
        self._d_atom = np.repeat(np.arange(atoms.size), cnt_d)
        self._c_ptr = np.concatenate([[0], np.cumsum(cnt_c)]).astype(np.int64)
        self._d_ptr = np.concatenate([[0], np.cumsum(cnt_d)]).astype(np.int64)
        self._c_lev = self._level_index(clev[sel_c.astype(int)]) if sel_c.size else np.zeros(0, int)
        self._c_len = clen[sel_c.astype(int)] if sel_c.size else np.zeros(0)
        self._d_lo = np.searchsorted(u, dlo[sel_d.astype(int)]) if sel_d.size else np.zeros(0, int)
        self._d_hi = np.searchsorted(u, dhi[sel_d.astype(int)]) if sel_d.size else np.zeros(0, int)
        self._d_fac = dfac[sel_d.astype(int)] if sel_d.size else np.zeros(0)
        self._r_idx = self._level_index(self._r0)
        # exact levels needed: r0 and the constant levels (residence only for T)
        need = np.zeros(u.size + 2, bool)
        need[self._r_idx] = True
        if not waiting:
            need[self._c_lev] = True
        self._need = need
        self._nk = 0 if waiting or not self._d_hi.size else int(self._d_hi.max()) + 1
        lev = np.concatenate([[-np.inf], u, [np.inf]])
        self._lptr, self._LX, self._LD, self._LW = _laws(lev, lev, g, P, S, E, go, xs, ps, xo)
        if self._nk > 1:
            mid = 0.5 * (u[:self._nk - 1] + u[1:self._nk])
            self._gptr, self._GX, self._GD, self._GW = _laws(mid, u[:self._nk - 1].copy(), g, P, S,
                                                             E, go, xs, ps, xo)
        else:
            self._gptr = np.zeros(1, np.int64)
            self._GX = self._GD = self._GW = np.zeros(0)
        # old pieces per distinct r0
        self._rvals, self._r_of = np.unique(self._r0, return_inverse=True)
        self._old = [_old_pieces(float(r), g, P, S, E, go, xs, ps, xo) for r in self._rvals]
        self._rv_idx = self._level_index(self._rvals)
        self._old_csr = _csr(self._old, lam=self.lam)
        self._rules = (*_gl(GL_NODES), *_gl(4), *_gl(6), *_gl(12), *_descent_rule())

    def _level_index(self, v: np.ndarray) -> np.ndarray:
        """Index of each level in [-inf, u..., +inf]."""
        v = np.asarray(v, float)
        out = 1 + np.searchsorted(self.u, v)
        out = np.where(v == -np.inf, 0, np.where(v == np.inf, self.u.size + 1, out))
        return out.astype(np.int64)

    # -- the new-job loads along the levels ------------------------------------------------------
    def _level_loads(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(E[X^new], E[(X^new)^2], P(X^new > 0)) at the exact levels ``idx``."""
        p, X, W = self._lptr, self._LX, self._LW
        out = np.empty((3, idx.size))
        for n, i in enumerate(idx):
            xx, ww = X[p[i]:p[i + 1]], W[p[i]:p[i + 1]]
            out[:, n] = (np.sum(ww * xx), np.sum(ww * xx * xx), np.sum(ww))
        return out[0], out[1], out[2]

    def _gap_prefix(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Prefix integrals over the gaps of :math:`1/(1-\lambda N)`,
        :math:`\lambda N_2/(1-\lambda N)^3` and :math:`P(X^{new} > 0)` (N linear, N2 quadratic
        in v on a gap with moving cut-offs)."""
        nk = self._nk
        lam = self.lam
        M1 = np.zeros(max(nk, 1))
        M2 = np.zeros(max(nk, 1))
        P1 = np.zeros(max(nk, 1))
        p, X, D, W = self._gptr, self._GX, self._GD, self._GW
        xg, wg = _gl(40)
        for k in range(nk - 1):
            d = self.u[k + 1] - self.u[k]
            x0, dx, w = X[p[k]:p[k + 1]], D[p[k]:p[k + 1]], W[p[k]:p[k + 1]]
            n0, n1 = np.sum(w * x0), np.sum(w * dx)
            a0, a1, a2 = np.sum(w * x0 * x0), np.sum(2 * w * x0 * dx), np.sum(w * dx * dx)
            A, B = 1.0 - lam * n0, -lam * n1
            P1[k + 1] = P1[k] + d * np.sum(w)
            z = B * d / A
            if abs(z) < 0.2:  # nearly constant: Gauss-Legendre (the pole is far)
                t = d * xg
                D_ = A + B * t
                M1[k + 1] = M1[k] + d * np.sum(wg / D_)
                M2[k + 1] = M2[k] + d * np.sum(wg * lam * (a0 + a1 * t + a2 * t * t) / D_ ** 3)
                continue
            M1[k + 1] = M1[k] + math.log1p(z) / B
            # N2 in powers of D = A + B t: t = (D - A)/B
            b2 = a2 / B ** 2
            b1 = a1 / B - 2 * a2 * A / B ** 2
            b0 = a0 - a1 * A / B + a2 * A * A / B ** 2
            D0, D1 = A, A + B * d
            integ = (b0 * (1 / D0 ** 2 - 1 / D1 ** 2) / 2 + b1 * (1 / D0 - 1 / D1)
                     + b2 * math.log(D1 / D0)) / B
            M2[k + 1] = M2[k] + lam * integ
        return M1, M2, P1

    # -- moments ---------------------------------------------------------------------------------
    def _class_moments(self):
        lam = self.lam
        ew = np.empty(self._rvals.size)
        varw = np.empty(self._rvals.size)
        atom_w = np.empty(self._rvals.size)
        n1, n2, _ = self._level_loads(self._rv_idx)
        for i, (x0, w0, x1, w1) in enumerate(self._old):
            o1, o2, o3 = _moments_of(x0, w0)
            p1, p2, p3 = _moments_of(x1, w1)
            r0 = 1.0 - lam * o1
            a1, a2 = lam * p2 / (2 * r0), lam * p3 / (6 * r0)
            b1, b2 = lam * o2 / (2 * r0), lam * o3 / (6 * r0)
            ev = a1 + b1
            varv = 2 * (a2 + b2 + b1 * (a1 + b1)) - ev * ev
            rn = 1.0 - lam * n1[i]
            ew[i] = ev / rn
            varw[i] = varv / rn ** 2 + ev * lam * n2[i] / rn ** 3
            atom_w[i] = 1.0 - lam * (o1 + p1)
        ew, varw, atom_w = ew[self._r_of], varw[self._r_of], atom_w[self._r_of]
        if self.waiting:
            return ew, varw, atom_w
        N1, N2, PP = self._level_loads(self._c_lev)
        rn = 1.0 - lam * N1
        na = self.atoms.size
        r1 = _sum_by(self._c_atom, self._c_len / rn, minlength=na)
        r2 = _sum_by(self._c_atom, self._c_len * lam * N2 / rn ** 3, minlength=na)
        pi = _sum_by(self._c_atom, self._c_len * PP, minlength=na)
        if self._d_fac.size:
            M1, M2, P1 = self._gap_prefix()
            lo, hi, f = self._d_lo, self._d_hi, self._d_fac
            r1 += _sum_by(self._d_atom, f * (M1[hi] - M1[lo]), minlength=na)
            r2 += _sum_by(self._d_atom, f * (M2[hi] - M2[lo]), minlength=na)
            pi += _sum_by(self._d_atom, f * (P1[hi] - P1[lo]), minlength=na)
        return ew + r1, varw + r2, atom_w * np.exp(-lam * pi)

    def moments(self) -> tuple[float, float]:
        """(E, E[.^2]) of the law (of ``T - x`` for a class), mixed over the atoms."""
        m, v, _ = self._class_moments()
        if self.shifted:
            m = m - self.xs
        w = self.weights
        return float(np.sum(w * m)), float(np.sum(w * (v + m * m)))

    def atom_list(self) -> list[tuple[float, float]]:
        r"""The atoms of the law (not shifted), mixed over the classes with their weights: class
        :math:`x` contributes :math:`P(V = 0)` times the atomic law of :math:`x` plus the busy
        periods of the new jobs that run first on each stretch of its residence (Takács'
        formula, :mod:`qtheory.engine.busy_atoms`, as for the closed-form policies;
        ``docs/response_time_distribution.md`` section 10). A class whose stretches include a
        moving new-job cut-off (SRPT-Bounce: sizes :math:`y' + v`) keeps only its atom at
        :math:`x`: those busy periods have no atoms besides the empty one. The same budget as
        the closed forms' bounds the enumeration."""
        from . import busy_atoms as ba

        lam = self.lam
        p0_r = np.array([1.0 - lam * (_moments_of(x0, w0)[0] + _moments_of(x1, w1)[0])
                         for x0, w0, x1, w1 in self._old])
        p0 = p0_r[self._r_of]
        lp, LX, LW = self._lptr, self._LX, self._LW
        gp, GX, GD, GW = self._gptr, self._GX, self._GD, self._GW
        allp, moving = [], []
        for a in range(self.atoms.size):
            pieces, mov = [], False
            for ell, lev in zip(self._c_len[self._c_atom == a], self._c_lev[self._c_atom == a], strict=True):
                pieces.append((float(ell), LX[lp[lev]:lp[lev + 1]], LW[lp[lev]:lp[lev + 1]]))
            sel = self._d_atom == a
            for lo, hi, f in zip(self._d_lo[sel], self._d_hi[sel], self._d_fac[sel], strict=True):
                for k in range(int(lo), int(hi)):
                    d, w = GX[gp[k]:gp[k + 1]], GW[gp[k]:gp[k + 1]]
                    mov = mov or bool(np.any((GD[gp[k]:gp[k + 1]] != 0) & (w > 0)))
                    pieces.append((float(f * (self.u[k + 1] - self.u[k])), d, w))
            allp.append(pieces)
            moving.append(mov)
        full = sum(ba.cost(pc) for pc in allp) <= ba.BUDGET
        laws = [ba.residence_law(lam, pc, full and not mov) for pc, mov in zip(allp, moving, strict=True)]
        return ba.to_atoms(laws, self.xs.tolist(), (self.weights * p0).tolist())

    def atom(self) -> float:
        r""":math:`P(W = 0)` (waiting time) or :math:`P(T = x)` (a class): no old work and, for
        :math:`T`, no new job ahead during the residence,
        :math:`(1 - \rho_0 - \sum_i\rho_i)\exp(-\lambda\int_0^x P(X^{new}[r(a)] > 0)\,da)`."""
        return float(np.sum(self.weights * self._class_moments()[2]))

    # -- the transform ---------------------------------------------------------------------------
    def lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        flat = s.reshape(-1)
        out = np.empty(flat.size, complex)
        for a in range(0, flat.size, _S_BLOCK):
            out[a:a + _S_BLOCK] = self._lst_block(np.ascontiguousarray(flat[a:a + _S_BLOCK]))
        return out.reshape(s.shape)

    def _lst_block(self, s: np.ndarray) -> np.ndarray:
        lam = self.lam
        nL = self.u.size + 2
        EX = np.zeros((s.size, nL), complex)
        nk = self._nk
        C = np.zeros((s.size, max(nk, 1)), complex)
        _eta_kernel(s, lam, self.u, self._lptr, self._LX, self._LD, self._LW, self._need,
                    self._gptr, self._GX, self._GD, self._GW, nk, *self._rules, EX, C)
        # the old-job delay at each distinct r0
        V = np.empty((s.size, self._rvals.size), complex)
        _delay_kernel(np.ascontiguousarray(EX[:, self._rv_idx]), lam, *self._old_csr, V)
        V = V[:, self._r_of]
        if self.waiting:
            return V @ self.weights
        na = self.atoms.size
        R = np.empty((s.size, na), complex)
        _residence_kernel(s, EX, C, self._c_ptr, self._c_lev.astype(np.int64), self._c_len,
                          self._d_ptr, self._d_lo.astype(np.int64), self._d_hi.astype(np.int64),
                          self._d_fac.astype(float), R)
        if not self.shifted:
            R = R + s[:, None] * self.xs[None, :]
        with np.errstate(under="ignore"):
            return (V * np.exp(-R)) @ self.weights


# ---- entry point --------------------------------------------------------------------------------
#: what the exact routes for the distributions of generic SOAP policies cover (the text of
#: :func:`_continuous_message`)
SUPPORTED = (
    "a generic SOAP policy's response-time distribution is exact on discrete laws "
    "(qt.Empirical sizes, qt.EmpiricalPairs, discrete sizes with perfect predictions or "
    "deterministic prediction maps); on continuous laws for blind ranks (Gittins, a qt.Rank with "
    "descriptor='none') and size ranks (descriptor='size'), for SRPT-Bounce and, with "
    "exponential or log-normal predictions where the hazard of X | y is single-peaked, "
    "ConditionalGittins, and for qt.Rank prediction "
    "ranks declared monotone= on continuous sizes without atoms or breakpoints on (0, inf) "
    "with multiplicative predictions (exponential, log-normal, uniform, bounded "
    "multiplicative): declared monotone='decreasing' with a fresh rank fn(y, 0) rising with y, the "
    "class laws (x=..., y=...) of every such rank and the unconditional law except on uniform "
    "or bounded multiplicative predictions for ranks whose y/k - b_y(v) has an interior "
    "extremum in y (y/(1 + a)**2, y*exp(-a): their class laws only); declared monotone='increasing' and "
    "rising strictly with y, the response time (the waiting time only for ranks constant in age)")


def _decline_reason(model, policy) -> str:
    """Why the exact distribution routes decline ``policy`` on ``model`` (for a
    :class:`~qtheory.Rank` on predictions; empty for other policies)."""
    from ..laws.joint import FactorJoint
    from ..policies.rank import Rank
    from . import response_distribution_prediction_rank as rdpr
    from . import soap_prediction_rank_rising as sr

    if not isinstance(policy, Rank) or policy.descriptor != "prediction" or model.prediction is None:
        return ""
    size = model.size
    if size.is_discrete:
        return ""
    if size.is_mixed or np.size(size.atom_values) or np.size(size.breakpoints) \
            or float(size.support[0]) > 0 or math.isfinite(float(size.support[1])):
        return (f"the size law {size!r} has atoms, breakpoints or support ends besides 0 and "
                "infinity")
    if model.prediction.is_perfect or not isinstance(model.prediction.joint(size), FactorJoint):
        return f"the prediction law {model.prediction!r} is not a noisy multiplicative one (Y = X Z)"
    if policy.monotone is None:  # (a direction found on the grid was taken: build)
        why = generic.detection(model, policy)[1]
        return ("monotone= not declared and the grid check finds no direction in age"
                + (f": the rank is {why}" if why else ""))
    if policy.monotone is False:
        return "the rank is declared not monotone in age (monotone=False)"
    if policy.monotone == "decreasing":
        if not rdpr.supported(model, policy):
            return ("its fresh rank fn(y, 0) does not rise strictly with the prediction y on this "
                    "law")
        return ""
    if sr.shape_direction(policy.fn) <= 0 or not sr.supported(model, policy):
        return "the rank (declared 'increasing' in age) does not rise strictly with the prediction y"
    return ""


def _continuous_message(model, policy) -> str:
    """The ``NotImplementedError`` text for a generic SOAP policy whose distribution has no exact
    route on ``model``: why (for a prediction :class:`~qtheory.Rank`), what is supported
    (:data:`SUPPORTED`), and what to call instead."""
    reason = _decline_reason(model, policy)
    law = f"{model.size!r}" + ("" if model.prediction is None else f" with {model.prediction!r}")
    return (f"{policy.name}: no exact response-time distribution on {law}"
            + (f" ({reason})" if reason else "") + f"; {SUPPORTED}. Instead: the mean by "
            "MG1.mean_response_time (on the law itself where a route applies, else discretised with "
            "an error estimate); the exact law on the empirical law of samples of the model "
            "(qt.EmpiricalPairs / qt.Empirical)")


def build(model, pol, x, y, waiting: bool) -> ResponseTimeDistribution:
    """The distribution object of a generic SOAP policy (dispatched from
    :func:`qtheory.engine.response_distribution.response_time_distribution`)."""
    if pol.descriptor == "prediction":
        if (x is None) != (y is None):
            raise ValueError(f"{pol.name}: pass both x and y (a job class: size and prediction) or "
                             f"neither (the unconditional law), got x={x!r}, y={y!r}")
        if model.prediction is None:
            raise ValueError(f"{pol.name} uses predictions but the model has none; pass "
                             "prediction=... (e.g. qt.EmpiricalPairs(sizes, predictions))")
        if y is not None:
            yv = np.asarray(y, float)
            if yv.ndim != 0 or not (math.isfinite(float(yv)) and float(yv) >= 0):
                raise ValueError(f"y must be one finite prediction >= 0, got y={y!r}")
            y = float(yv)
    elif y is not None:
        raise ValueError(f"{pol.name} does not use predictions: pass x only (got y={y!r})")
    # an undeclared prediction qt.Rank: the direction in age found on the law's grid, as for
    # the means (generic.detected_rank: the declared copy, so the law is the declared rank's)
    pol = generic.detected_rank(model, pol)[0]
    from . import response_distribution_blind as rdb

    if not model.size.is_discrete and rdb.supported(model, pol):
        return rdb.build(model, pol, x, waiting)
    from . import response_distribution_bounce as rdbo

    if rdbo.supported(model, pol):  # SRPT-Bounce on a continuous law Y = XZ
        return rdbo.build(model, pol, x, y, waiting)
    from . import response_distribution_conditional as rdc

    if rdc.supported(model, pol):  # ConditionalGittins on a continuous law Y = XZ
        return rdc.build(model, pol, x, y, waiting)
    from . import response_distribution_prediction_rank as rdpr

    if pol.descriptor == "prediction" and rdpr.supported(model, pol):  # a rank falling with age, Y = XZ
        return rdpr.build(model, pol, x, y, waiting)
    from . import response_distribution_prediction_rank_rising as rdrr

    if pol.descriptor == "prediction" and rdrr.supported(model, pol):  # a rank rising with age, Y = XZ
        return rdrr.build(model, pol, x, y, waiting)
    from . import response_distribution_size as rds

    if pol.descriptor == "size" and not model.size.is_discrete and rds.supported(model, pol):
        try:  # a size rank on a continuous law: the exact transform
            return rds.build(model, pol, x, waiting)
        except rds.Unsupported:
            pass  # (below: the discretised approximation of the unconditional law)
    if pol.descriptor in ("prediction", "size") and not generic.discretise(model, pol.descriptor, 2)[1]:
        # a continuous law: for size ranks an approximation on the evaluator's discretisation
        # (unconditional; 2.6 s on Exp sizes); prediction ranks only on request: their
        # discretisation takes about a minute (ConditionalGittins 3 minutes, its mean 3.5% low),
        # see DISCRETE_RESOLUTIONS
        if x is not None or pol.descriptor == "prediction":
            raise NotImplementedError(
                _continuous_message(model, policy=pol)
                + ("; the unconditional law is approximated on a discretised law"
                   if pol.descriptor == "size" else
                   "; an approximation of the unconditional law on a discretised law, slow (about "
                   "a minute) and with an estimate that is not a bound: qtheory.engine."
                   "response_distribution_generic.build_discretised(model, policy, waiting=False)"))
        return build_discretised(model, pol, waiting)
    tr = GenericTransform(model, pol, x, y, waiting=waiting)
    euler = (li.EULER_A, EULER_N_KINKS, EULER_M_KINKS)
    label = f"{pol.name} on {model!r}" + ("" if x is None else f", x={float(x):g}") + \
        ("" if y is None else f", y={float(y):g}")
    if waiting:
        return ResponseTimeDistribution(tr, "waiting time, " + label, tr.atom(), euler=euler)
    atoms = tr.atom_list()
    if tr.shifted:
        return ResponseTimeDistribution(tr, label, tr.atom(), shift=float(x), euler=euler,
                                        atoms=[(a, m) for a, m in atoms if a > float(x)])
    return ResponseTimeDistribution(tr, label, euler=euler, atoms=atoms, lower=float(np.min(tr.xs)))


#: the cells per axis of the two discretisations of a continuous law, per descriptor (the finer
#: one is the approximation; twice the difference of the two its error estimate). Measured on
#: Exp(1) sizes at load 0.8 (exponential predictions) against the closed-form distributions:
#: PSJF's rank as a qt.Rank (descriptor "size"), 64/128 cells: p50/p90/p99 of the finer law
#: 3e-4, 0.019, 0.41 off, the difference 0.022, 0.019, 0.40 (ratios 0.02, 1.0, 1.04; 2.6 s on a
#: loaded machine); SPRPT's rank (descriptor "prediction"), 16/32 cells: 0.015, 0.014, 0.20 off,
#: differences 0.092, 0.035, 0.33 (61 s loaded); ConditionalGittins 16/32: 183 s loaded, its mean
#: 3.5% below the mean engine's (the law's mean is not extrapolated)
DISCRETE_RESOLUTIONS = {"none": (64, 128), "size": (64, 128), "prediction": (16, 32)}
#: the error estimate is this times the difference of the two resolutions: with first-order
#: convergence in the cell width the difference is about the finer law's error (measured
#: ratios 0.02 to 1.04 above); 2 leaves a margin
ERROR_FACTOR = 2.0


class DiscretisedDistribution(ResponseTimeDistribution):
    r"""An **approximation**: the distribution of a generic SOAP policy on the generic
    evaluator's discretisation of a continuous law (:func:`qtheory.engine.generic.discretise`:
    quantile cells of the sizes and of the prediction factor, ``resolution`` per axis), exact for
    that discrete law (this module's transform) and inverted with the short Euler sum of
    continuous laws. :attr:`coarse` is the same at the coarser resolution;
    :meth:`cdf_error` and :meth:`ppf_error` are :data:`ERROR_FACTOR` times the differences of the
    two, an error estimate, not a bound (measured: :data:`DISCRETE_RESOLUTIONS`)."""

    coarse: ResponseTimeDistribution | None = None

    def cdf_error(self, t) -> np.ndarray:
        """Estimated error of :meth:`cdf` (from the two resolutions)."""
        return ERROR_FACTOR * np.abs(self.cdf(t) - self.coarse.cdf(t))

    def ppf_error(self, q, **kw) -> np.ndarray:
        """Estimated error of :meth:`ppf` (from the two resolutions)."""
        return ERROR_FACTOR * np.abs(np.asarray(self.ppf(q, **kw)) - np.asarray(self.coarse.ppf(q, **kw)))


def build_discretised(model, pol, waiting: bool, resolutions: tuple[int, int] | None = None
                      ) -> DiscretisedDistribution:
    """The unconditional law (of :math:`T` or :math:`W`) of a generic SOAP policy on a
    continuous law as :class:`DiscretisedDistribution` (an approximation, labelled so)."""
    lo, hi = (int(r) for r in (resolutions or DISCRETE_RESOLUTIONS[pol.descriptor]))
    kind = "waiting time, " if waiting else ""
    out = []
    for n in (hi, lo):
        tr = GenericTransform(model, pol, waiting=waiting, resolution=n)
        label = (f"approximation: {kind}{pol.name} on {model!r} discretised ({n} cells per axis; "
                 f"error estimate from {lo} cells)")
        cls = DiscretisedDistribution if n == hi else ResponseTimeDistribution
        out.append(cls(tr, label, tr.atom() if waiting else 0.0))
    out[0].coarse = out[1]
    return out[0]


def is_generic(pol) -> bool:
    """Whether ``pol`` goes through this module: a SOAP policy without a closed-form rank shape
    of the distributions (no ``form``, or SRPT-Bounce's ``"bounce"``) and without its own
    transform."""
    return bool(pol.soap) and pol.formula_form() in (None, "bounce") \
        and not pol.declares("response_transform")


__all__ = ["DiscretisedDistribution", "GenericTransform", "build", "build_discretised", "is_generic"]
