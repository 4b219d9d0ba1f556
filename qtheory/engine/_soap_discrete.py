"""Exact SOAP evaluation for a discrete joint law and piecewise-linear rank functions (numba).

The joint law is a set of descriptor classes ``j`` (a prediction value, a size, or one class for
blind policies), each with sorted size atoms ``x`` and joint probabilities ``p``. The rank of a
class is piecewise linear in the age on a grid ``g`` containing 0 and every atom: ``P[m]`` is the
rank at ``g[m]``, and on the open segment ``(g[m], g[m+1])`` it runs linearly from ``S[m]`` to
``E[m]`` (so jumps at grid points, in either direction, are represented exactly).

For such ranks and laws every SOAP quantity is a finite computation:

* ``N_new(r) = E[min(X, c_new(r))]``, ``c_new(r) = inf{a : rank(a) >= r}``;
* ``N_old0(r) = E[min(X, c_0(r))]`` when ``rank(0) <= r`` (else 0), ``c_0 = inf{a > 0 : rank > r}``;
* ``S2(r) = sum_i E[((min(X, c_i) - b_i)^+)^2]`` over the maximal intervals where rank <= r.

``N_new`` is linear in ``r`` between consecutive rank values of the grid (its knots), because
``c_new`` is linear there and ``E[min(X, c)]`` is linear between atoms (atoms are grid points).
So the residence integral ``int_0^x da / (1 - lam N_new(r_worst(a)))`` is integrated exactly,
piece by piece, as integrals of ``1/(alpha + beta a)``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_INF = np.inf


@njit(cache=True)
def class_prefix_sums(xs, ps, xo):  # pragma: no cover - compiled
    """Per class j the prefix sums [0, cumsum(p), cumsum(p x), cumsum(p x^2)] of its atoms
    ``xs[xo[j]:xo[j+1]]`` (probabilities ``ps``), concatenated over the classes (class j's
    run starts at ``xo[j] + j``); the same running sums as ``np.cumsum`` class by class."""
    J = xo.size - 1
    n = xs.size + J
    q0 = np.empty(n)
    q1 = np.empty(n)
    q2 = np.empty(n)
    for j in range(J):
        o = xo[j] + j
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        q0[o] = 0.0
        q1[o] = 0.0
        q2[o] = 0.0
        for i in range(xo[j], xo[j + 1]):
            p = ps[i]
            x = xs[i]
            px = p * x
            s0 += p
            s1 += px
            s2 += px * x
            o += 1
            q0[o] = s0
            q1[o] = s1
            q2[o] = s2
    return q0, q1, q2


@njit(cache=True)
def min_moments(xs, q0, q1, q2, xo, ko, j, c):
    """E[min(X,c) 1{class j}] and E[min(X,c)^2 1{class j}].

    Atoms of class j are xs[xo[j]:xo[j+1]]; prefix sums q*[ko[j] + k] for k = 0..n (ko[j] = xo[j] + j).
    """
    a, b = xo[j], xo[j + 1]
    k = np.searchsorted(xs[a:b], c, side="right")
    base = ko[j]
    n = b - a
    s0 = q0[base + k]
    s1 = q1[base + k]
    s2 = q2[base + k]
    t0 = q0[base + n] - s0
    if c == _INF:
        return s1, s2
    return s1 + c * t0, s2 + c * c * t0


@njit(cache=True)
def square_sums(xs, q0, q1, q2, xo, ko, j, bs, cs):
    """The class-``j`` sums of :func:`old_square` with the atom sets decided at ``bs`` and
    ``cs``: ``(s0, s1, s2, t0)``, the moments 0-2 of the atoms in ``(bs, cs]`` and the mass above
    ``cs`` (0 when ``cs`` is infinite). Shared with :func:`qtheory.engine.soap_sweep._square_part`."""
    a0, a1 = xo[j], xo[j + 1]
    base = ko[j]
    n = a1 - a0
    kb = np.searchsorted(xs[a0:a1], bs, side="right")
    if cs == _INF:
        kc = n
    else:
        kc = np.searchsorted(xs[a0:a1], cs, side="right")
    if kc < kb:
        kc = kb
    s0 = q0[base + kc] - q0[base + kb]
    s1 = q1[base + kc] - q1[base + kb]
    s2 = q2[base + kc] - q2[base + kb]
    t0 = q0[base + n] - q0[base + kc] if cs != _INF else 0.0
    return s0, s1, s2, t0


@njit(cache=True)
def old_square(xs, q0, q1, q2, xo, ko, j, b, c):
    """E[((min(X, c) - b)^+)^2 1{class j}] for b < c."""
    s0, s1, s2, t0 = square_sums(xs, q0, q1, q2, xo, ko, j, b, c)
    val = s2 - 2.0 * b * s1 + b * b * s0
    if c != _INF:
        val += (c - b) * (c - b) * t0
    return max(val, 0.0)


@njit(cache=True)
def _lin_cross(g0, g1, s, e, r):
    """Age in [g0, g1] where the linear piece from s to e equals r (s != e)."""
    return g0 + (r - s) / (e - s) * (g1 - g0)


@njit(cache=True)
def _close(xs, q0, q1, q2, xo, ko, j, start, end, interval0):
    """Contributions of the old interval [start, end) of class j: (E[min(X, end)] when it is
    interval 0, else 0; E[((min(X, end) - start)^+)^2])."""
    n = min_moments(xs, q0, q1, q2, xo, ko, j, end)[0] if interval0 else 0.0
    sq = old_square(xs, q0, q1, q2, xo, ko, j, start, end) if end > start else 0.0
    return n, sq


@njit(cache=True)
def threshold(r, g, P, S, E, go, xs, q0, q1, q2, xo, ko):
    """(N_new, N_old0, S2) at threshold r, summed over classes."""
    J = go.size - 1
    nnew = 0.0
    nold = 0.0
    s2 = 0.0
    for j in range(J):
        g_lo, g_hi = go[j], go[j + 1]
        # --- new work: first age with rank >= r
        cnew = _INF
        if P[g_lo] >= r:
            cnew = g[g_lo]
        else:
            for m in range(g_lo, g_hi - 1):
                s, e = S[m], E[m]
                if s >= r:
                    cnew = g[m]
                    break
                if e >= r:
                    cnew = _lin_cross(g[m], g[m + 1], s, e, r)
                    break
                if P[m + 1] >= r:
                    cnew = g[m + 1]
                    break
        if cnew > 0.0:
            nnew += min_moments(xs, q0, q1, q2, xo, ko, j, cnew)[0]
        # --- old intervals where rank <= r
        inside = P[g_lo] <= r
        start = g[g_lo]
        first = True  # the interval containing age 0 is interval 0
        for m in range(g_lo, g_hi - 1):
            s, e = S[m], E[m]
            a, bnd = g[m], g[m + 1]
            # open segment (a, bnd)
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
                # interval ends at cut
                dn, ds = _close(xs, q0, q1, q2, xo, ko, j, start, cut, first and P[g_lo] <= r)
                nold += dn
                s2 += ds
                inside = False
                first = False
            elif s > r >= e:
                if inside:
                    dn, ds = _close(xs, q0, q1, q2, xo, ko, j, start, a, first and P[g_lo] <= r)
                    nold += dn
                    s2 += ds
                    first = False
                start = _lin_cross(a, bnd, s, e, r)
                inside = True
                first = False
            else:  # both > r
                if inside:
                    dn, ds = _close(xs, q0, q1, q2, xo, ko, j, start, a, first and P[g_lo] <= r)
                    nold += dn
                    s2 += ds
                    inside = False
                first = False
            # the grid point bnd itself
            pin = P[m + 1] <= r
            if inside and not pin:
                dn, ds = _close(xs, q0, q1, q2, xo, ko, j, start, bnd, first and P[g_lo] <= r)
                nold += dn
                s2 += ds
                inside = False
                first = False
            elif (not inside) and pin:
                inside = True
                start = bnd
                first = False
        if inside:
            dn, ds = _close(xs, q0, q1, q2, xo, ko, j, start, _INF, first and P[g_lo] <= r)
            nold += dn
            s2 += ds
    return nnew, nold, s2


@njit(cache=True)
def new_work_table(knots, g, P, S, E, go, xs, q0, q1, q2, xo, ko):
    """N_new at each knot and its linear form (slope, intercept) on each open gap."""
    K = knots.size
    at = np.empty(K)
    slope = np.zeros(K + 1)
    icpt = np.zeros(K + 1)
    for i in range(K):
        at[i] = threshold(knots[i], g, P, S, E, go, xs, q0, q1, q2, xo, ko)[0]
    for i in range(K - 1):
        a, b = knots[i], knots[i + 1]
        t1 = a + (b - a) / 3.0
        t2 = a + 2.0 * (b - a) / 3.0
        v1 = threshold(t1, g, P, S, E, go, xs, q0, q1, q2, xo, ko)[0]
        v2 = threshold(t2, g, P, S, E, go, xs, q0, q1, q2, xo, ko)[0]
        sl = (v2 - v1) / (t2 - t1) if t2 > t1 else 0.0
        slope[i + 1] = sl
        icpt[i + 1] = v1 - sl * t1
    # below the first knot / above the last: constant
    lo = threshold(knots[0] - 1.0 - abs(knots[0]), g, P, S, E, go, xs, q0, q1, q2, xo, ko)[0]
    hi = threshold(knots[K - 1] + 1.0 + abs(knots[K - 1]), g, P, S, E, go, xs, q0, q1, q2,
                   xo, ko)[0]
    icpt[0] = lo
    icpt[K] = hi
    return at, slope, icpt


@njit(cache=True)
def _nnew_lin(r, knots, slope, icpt):
    """Linear form (beta, alpha) with N_new = alpha + beta r valid on the open gap holding r."""
    if r == -_INF:
        return 0.0, icpt[0]
    if r == _INF:
        return 0.0, icpt[knots.size]
    i = np.searchsorted(knots, r, side="right")
    return slope[i], icpt[i]


@njit(cache=True)
def _int_piece(a0, a1, r0, r1, lam, knots, at, slope, icpt):
    """int_{a0}^{a1} da / (1 - lam N_new(r(a))) with r linear from r0 (at a0) to r1 (at a1)."""
    if a1 <= a0:
        return 0.0
    total = 0.0
    # split at knots strictly between r0 and r1
    lo, hi = min(r0, r1), max(r0, r1)
    i0 = np.searchsorted(knots, lo, side="right")
    i1 = np.searchsorted(knots, hi, side="left")
    # breakpoints in a
    npts = max(i1 - i0, 0)
    pts = np.empty(npts + 2)
    pts[0] = a0
    for k in range(npts):
        kn = knots[i0 + k]
        pts[k + 1] = a0 + (kn - r0) / (r1 - r0) * (a1 - a0)
    pts[npts + 1] = a1
    if r1 < r0:
        # knots visited in decreasing order: sort the interior points
        inner = pts[1:npts + 1].copy()
        inner.sort()
        pts[1:npts + 1] = inner
    for k in range(npts + 1):
        u0, u1 = pts[k], pts[k + 1]
        if u1 <= u0:
            continue
        um = 0.5 * (u0 + u1)
        rm = r0 + (r1 - r0) * (um - a0) / (a1 - a0) if a1 > a0 else r0
        beta, alpha = _nnew_lin(rm, knots, slope, icpt)
        # on this piece N(r(a)) = alpha + beta (r0 + dr (a - a0)), integrand 1/(c1 + c2 a)
        dr = (r1 - r0) / (a1 - a0)
        c2 = -lam * beta * dr
        c1 = 1.0 - lam * (alpha + beta * (r0 - dr * a0))
        v0 = c1 + c2 * u0
        v1 = c1 + c2 * u1
        if abs(c2) * (u1 - u0) < 1e-12 * abs(v0):
            total += (u1 - u0) / (0.5 * (v0 + v1))
        else:
            total += math.log(v1 / v0) / c2
    return total


@njit(cache=True)
def _int_const(a0, a1, r, lam, knots, at, slope, icpt):
    """Residence over [a0, a1) where the worst future rank is the constant r."""
    if a1 <= a0:
        return 0.0
    i = np.searchsorted(knots, r, side="left")
    if i < knots.size and knots[i] == r:
        n = at[i]
    else:
        beta, alpha = _nnew_lin(r, knots, slope, icpt)
        n = alpha + beta * r if beta != 0.0 else alpha
    return (a1 - a0) / (1.0 - lam * n)


@njit(cache=True)
def worst_future_ranks(g, P, S, E, g_lo, g_hi, x):
    """``(mx, Q)`` for an atom of size ``x`` of the class whose age grid is ``g[g_lo:g_hi]``:
    ``mx`` the index of ``x`` in the grid and the suffix sups ``Q[m - g_lo]`` = sup of the rank
    over ``[g[m], x)`` for ``m <= mx`` (``Q[mx - g_lo] = -inf``)."""
    mx = g_lo + np.searchsorted(g[g_lo:g_hi], x, side="left")
    nseg = mx - g_lo
    Q = np.empty(nseg + 1)
    Q[nseg] = -_INF
    for m in range(mx - 1, g_lo - 1, -1):
        loc = m - g_lo
        v = max(P[m], max(S[m], E[m]))
        Q[loc] = max(v, Q[loc + 1])
    return mx, Q


@njit(cache=True)
def tagged(lams, g, P, S, E, go, xs, p, q0, q1, q2, xo, ko, knots, at, slope, icpt, cond_out):
    """Mean response time for each load (and the conditional means of every atom for lams[0]).

    For each atom (class j, size x): r0 = sup_[0,x) rank; waiting from the threshold sums at r0;
    residence piece by piece with r_worst(a) = max(lin(a), E[m], Q[m+1]) on segment m.
    """
    L = lams.size
    out = np.zeros(L)
    J = go.size - 1
    for j in range(J):
        g_lo, g_hi = go[j], go[j + 1]
        for ia in range(xo[j], xo[j + 1]):
            x = xs[ia]
            mx, Q = worst_future_ranks(g, P, S, E, g_lo, g_hi, x)
            r0 = Q[0]
            nn, no, s2 = threshold(r0, g, P, S, E, go, xs, q0, q1, q2, xo, ko)
            for il in range(L):
                lam = lams[il]
                if s2 > 0.0:
                    wait = lam * s2 / (2.0 * (1.0 - lam * no) * (1.0 - lam * nn))
                else:
                    wait = 0.0
                res = 0.0
                for m in range(g_lo, mx):
                    loc = m - g_lo
                    a, bnd = g[m], g[m + 1]
                    s, e = S[m], E[m]
                    level = max(e, Q[loc + 1])
                    if s <= level or s == -_INF:
                        res += _int_const(a, bnd, level, lam, knots, at, slope, icpt)
                    else:
                        # lin(a) decreases from s to e (< level at the end): above level until cut
                        if e < level:
                            cut = _lin_cross(a, bnd, s, e, level)
                        else:
                            cut = bnd
                        res += _int_piece(a, cut, s, level if cut < bnd else e, lam, knots, at,
                                          slope, icpt)
                        res += _int_const(cut, bnd, level, lam, knots, at, slope, icpt)
                t = wait + res
                out[il] += p[ia] * t
                if il == 0:
                    cond_out[ia] = t
    return out
