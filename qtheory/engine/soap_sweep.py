r"""The SOAP theorem on a discrete joint law in :math:`O(M \log M)`: a sweep over rank levels.

Same input and the same conventions as :mod:`qtheory.engine._soap_discrete` (descriptor classes
``j`` with sorted atoms, a rank that is piecewise linear in age on each class's grid ``g``:
``P`` at the grid points, linear from ``S`` to ``E`` on the open segments), and the same value,
but without rescanning every class at every threshold (that route costs
:math:`O(M \cdot K)` for ``M`` grid points and ``K`` distinct rank values, :math:`n^2` on
:class:`~qtheory.laws.predictions.EmpiricalPairs`).

The three class sums of the SOAP theorem (``docs/soap_predictions.md``, sections 3-5) at a
rank level :math:`r`,

.. math::
    N^{new}(r) = \sum_j E[\min(X, c^{new}_j(r)); j],\quad
    N^{old}_0(r) = \sum_j E[\min(X, c^{0}_j(r)); j],\quad
    S_2(r) = \sum_j \sum_i E[((\min(X, c_{j,i}) - b_{j,i})^+)^2; j],

are, for one class, polynomials in :math:`r` (degree 1, 1 and 2) on every open gap between
two consecutive rank values of that class's table, because there the cut-offs
:math:`c^{new}_j, c^0_j` and the ends :math:`b_{j,i}, c_{j,i}` of the components of
:math:`\{a : r_j(a) \le r\}` are grid points or crossings of one linear segment (linear in
:math:`r`), and no atom lies strictly inside a segment. So each class is scanned once per
own gap (:func:`class_pieces`: the value, slope and curvature at the gap's ends, and the value
at each rank value itself), the changes are sorted by level, and one sweep accumulates the
sums over all classes (:func:`sweep`). A query at level :math:`r` is then a binary search.

The residence integral :math:`\int da / (1 - \lambda N^{new}(r(a)))` along a linear rank piece
is :math:`\frac{da}{dr} \int dr / (1 - \lambda N^{new}(r))`, and :math:`N^{new}` is linear on
the gaps of the global level table: the integral over each gap is closed form (a logarithm),
and their prefix sums give any range in :math:`O(\log M)`.

Cost: :math:`O(\sum_j K_j G_j + M \log M + L \sum_j n_j G_j)` for classes with ``G_j`` grid
points, ``K_j`` rank values and ``n_j`` atoms, and ``L`` loads: :math:`n \log n` when the
classes are small (one class per prediction of :class:`EmpiricalPairs`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ._soap_discrete import _lin_cross, square_sums, worst_future_ranks

_INF = np.inf
#: the decorator of the helpers that only compiled code calls: no CPython and C wrappers (a
#: sixth of a small function's compile time), not cached on their own (the cached kernels
#: hold their code)
_inner = njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)
#: an int passed as ``_I64(2)`` is an ordinary int64 argument (a bare literal compiles the
#: helper once per value)
_I64 = np.int64
#: quantities of the sweep: N_new, N_old0, S2
NQ = 3


@_inner
def _min_part(xs, q0, q1, xo, ko, j, c, dc, cs, out, o):
    """E[min(X, c); j] and its r-derivative (c moves at rate dc), atoms split at cs."""
    a, b = xo[j], xo[j + 1]
    base = ko[j]
    n = b - a
    if c == _INF:
        out[o] += q1[base + n]
        return
    k = np.searchsorted(xs[a:b], cs, side="right")
    t0 = q0[base + n] - q0[base + k]
    out[o] += q1[base + k] + c * t0
    out[o + 1] += t0 * dc


@_inner
def _square_part(xs, q0, q1, q2, xo, ko, j, b, db, bs, c, dc, cs, out, o):
    """E[((min(X, c) - b)^+)^2; j], its first and second r-derivatives (b, c move at rates db,
    dc; the atom sets are decided at bs, cs)."""
    s0, s1, s2, t0 = square_sums(xs, q0, q1, q2, xo, ko, j, bs, cs)
    val = s2 - 2.0 * b * s1 + b * b * s0
    d1 = (-2.0 * s1 + 2.0 * b * s0) * db
    d2 = 2.0 * s0 * db * db
    if c != _INF:
        w = c - b
        val += w * w * t0
        d1 += 2.0 * w * t0 * (dc - db)
        d2 += 2.0 * t0 * (dc - db) * (dc - db)
    out[o] += val
    out[o + 1] += d1
    out[o + 2] += d2


@_inner
def class_eval(j, rs, re, g, P, S, E, go, xs, q0, q1, q2, xo, ko, out):
    """The class-``j`` terms at level ``re``, with every comparison with the level made at
    ``rs`` (the structure of an open gap is decided at its midpoint; ``rs == re`` at a rank
    value itself). ``out`` (length 7): N_new, dN_new/dr, N_old0, dN_old0/dr, S2, dS2/dr,
    d2S2/dr2. Mirrors :func:`qtheory.engine._soap_discrete.threshold`."""
    for i in range(7):
        out[i] = 0.0
    g_lo, g_hi = go[j], go[j + 1]
    # --- new work: the first age with rank >= r
    cnew, dnew, cns = _INF, 0.0, _INF
    if P[g_lo] >= rs:
        cnew, cns = g[g_lo], g[g_lo]
    else:
        for m in range(g_lo, g_hi - 1):
            s, e = S[m], E[m]
            if s >= rs:
                cnew, cns = g[m], g[m]
                break
            if e >= rs:
                cnew = _lin_cross(g[m], g[m + 1], s, e, re)
                cns = _lin_cross(g[m], g[m + 1], s, e, rs)
                dnew = (g[m + 1] - g[m]) / (e - s)
                break
            if P[m + 1] >= rs:
                cnew, cns = g[m + 1], g[m + 1]
                break
    if cns > 0.0:
        _min_part(xs, q0, q1, xo, ko, j, cnew, dnew, cns, out, _I64(0))
    # --- old intervals where rank <= r: start (b, db, bs), interval 0 flag
    p0in = P[g_lo] <= rs
    inside = p0in
    b, db, bs = g[g_lo], 0.0, g[g_lo]
    first = True
    for m in range(g_lo, g_hi - 1):
        s, e = S[m], E[m]
        a, bnd = g[m], g[m + 1]
        if s <= rs and e <= rs:
            if not inside:
                inside = True
                b, db, bs = a, 0.0, a
                first = False
        elif s <= rs < e:
            if not inside:
                b, db, bs = a, 0.0, a
                first = False
            c = _lin_cross(a, bnd, s, e, re)
            cs = _lin_cross(a, bnd, s, e, rs)
            dc = (bnd - a) / (e - s)
            if first and p0in:
                _min_part(xs, q0, q1, xo, ko, j, c, dc, cs, out, _I64(2))
            if cs > bs:
                _square_part(xs, q0, q1, q2, xo, ko, j, b, db, bs, c, dc, cs, out, _I64(4))
            inside = False
            first = False
        elif s > rs >= e:
            if inside:
                if first and p0in:
                    _min_part(xs, q0, q1, xo, ko, j, a, 0.0, a, out, _I64(2))
                if a > bs:
                    _square_part(xs, q0, q1, q2, xo, ko, j, b, db, bs, a, 0.0, a, out, _I64(4))
                first = False
            b = _lin_cross(a, bnd, s, e, re)
            bs = _lin_cross(a, bnd, s, e, rs)
            db = (bnd - a) / (e - s)
            inside = True
            first = False
        else:
            if inside:
                if first and p0in:
                    _min_part(xs, q0, q1, xo, ko, j, a, 0.0, a, out, _I64(2))
                if a > bs:
                    _square_part(xs, q0, q1, q2, xo, ko, j, b, db, bs, a, 0.0, a, out, _I64(4))
                inside = False
            first = False
        pin = P[m + 1] <= rs
        if inside and not pin:
            if first and p0in:
                _min_part(xs, q0, q1, xo, ko, j, bnd, 0.0, bnd, out, _I64(2))
            if bnd > bs:
                _square_part(xs, q0, q1, q2, xo, ko, j, b, db, bs, bnd, 0.0, bnd, out, _I64(4))
            inside = False
            first = False
        elif (not inside) and pin:
            inside = True
            b, db, bs = bnd, 0.0, bnd
            first = False
    if inside:
        if first and p0in:
            _min_part(xs, q0, q1, xo, ko, j, _INF, 0.0, _INF, out, _I64(2))
        _square_part(xs, q0, q1, q2, xo, ko, j, b, db, bs, _INF, 0.0, _INF, out, _I64(4))


@njit(cache=True)
def class_pieces(g, P, S, E, go, xs, q0, q1, q2, xo, ko):
    """The level events of every class: at each of the class's distinct finite rank values
    ``v`` a *closed* event (applies at levels ``>= v``: the open gap below ``v`` gives way to
    the value at ``v``) and an *open* event (levels ``> v``: the value at ``v`` gives way to
    the gap above). Returns (position, kind 0/1, jumps (n, 9): value, slope and curvature of
    N_new, N_old0, S2) and the sum of the terms below every rank value (0 for a valid table)."""
    J = go.size - 1
    cnt = 0
    for j in range(J):
        cnt += 2 * 3 * (go[j + 1] - go[j])
    pos = np.empty(cnt)
    kind = np.empty(cnt, np.int64)
    jump = np.zeros((cnt, 9))
    base = np.zeros(9)
    tmp = np.empty(7)
    nev = 0
    for j in range(J):
        lo, hi = go[j], go[j + 1]
        vals = np.concatenate((P[lo:hi], S[lo:hi], E[lo:hi]))
        vals = np.sort(vals[np.isfinite(vals)])
        # the distinct values (np.unique's own steps: its compile costs 0.6 s more)
        K = 0
        for i in range(vals.size):
            if K == 0 or vals[i] != vals[K - 1]:
                vals[K] = vals[i]
                K += 1
        if K == 0:
            continue
        # the terms below the first value: constant
        r0 = vals[0] - 1.0 - abs(vals[0])
        class_eval(j, r0, r0, g, P, S, E, go, xs, q0, q1, q2, xo, ko, tmp)
        prev = np.zeros(9)  # value, slope, curvature of the current piece at the event
        prev[0], prev[3], prev[6] = tmp[0], tmp[2], tmp[4]
        for k in range(9):
            base[k] += prev[k]
        for i in range(K):
            v = vals[i]
            # the open gap below v, at its right end
            if i > 0:
                mid = 0.5 * (vals[i - 1] + v)
                class_eval(j, mid, v, g, P, S, E, go, xs, q0, q1, q2, xo, ko, tmp)
                prev[0], prev[1], prev[2] = tmp[0], tmp[1], 0.0
                prev[3], prev[4], prev[5] = tmp[2], tmp[3], 0.0
                prev[6], prev[7], prev[8] = tmp[4], tmp[5], tmp[6]
            # the value at v
            class_eval(j, v, v, g, P, S, E, go, xs, q0, q1, q2, xo, ko, tmp)
            pos[nev] = v
            kind[nev] = 0
            jump[nev, 0] = tmp[0] - prev[0]
            jump[nev, 1] = -prev[1]
            jump[nev, 2] = -prev[2]
            jump[nev, 3] = tmp[2] - prev[3]
            jump[nev, 4] = -prev[4]
            jump[nev, 5] = -prev[5]
            jump[nev, 6] = tmp[4] - prev[6]
            jump[nev, 7] = -prev[7]
            jump[nev, 8] = -prev[8]
            pv0, pv1, pv2 = tmp[0], tmp[2], tmp[4]
            nev += 1
            # the open gap above v, at its left end
            if i + 1 < K:
                mid = 0.5 * (v + vals[i + 1])
            else:
                mid = v + 1.0 + abs(v)
            class_eval(j, mid, v, g, P, S, E, go, xs, q0, q1, q2, xo, ko, tmp)
            pos[nev] = v
            kind[nev] = 1
            jump[nev, 0] = tmp[0] - pv0
            jump[nev, 1] = tmp[1]
            jump[nev, 2] = 0.0
            jump[nev, 3] = tmp[2] - pv1
            jump[nev, 4] = tmp[3]
            jump[nev, 5] = 0.0
            jump[nev, 6] = tmp[4] - pv2
            jump[nev, 7] = tmp[5]
            jump[nev, 8] = tmp[6]
            nev += 1
            if i + 1 == K:  # above the last value the terms are constant
                jump[nev - 1, 1] = 0.0
                jump[nev - 1, 4] = 0.0
                jump[nev - 1, 7] = 0.0
                jump[nev - 1, 8] = 0.0
    return pos[:nev], kind[:nev], jump[:nev], base


@_inner
def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@njit(cache=True)
def sweep(pos, jump, base):
    """The sums over all classes right after each (sorted) event: (n, 9) value, slope and
    curvature of N_new, N_old0, S2 at the event's level. Compensated (Neumaier) sums, so that
    a steep piece entering and leaving leaves no rounding behind."""
    n = pos.size
    st = np.empty((n, 9))
    val = base.copy()
    comp = np.zeros(9)
    last = pos[0] if n else 0.0
    for i in range(n):
        d = pos[i] - last
        if d != 0.0:
            for q in range(3):
                o = 3 * q
                v = val[o] + comp[o]
                s1 = val[o + 1] + comp[o + 1]
                s2 = val[o + 2] + comp[o + 2]
                val[o], comp[o] = v + s1 * d + 0.5 * s2 * d * d, 0.0
                val[o + 1], comp[o + 1] = s1 + s2 * d, 0.0
                val[o + 2], comp[o + 2] = s2, 0.0
            last = pos[i]
        for k in range(9):
            s, c = _two_sum(val[k], jump[i, k])
            val[k] = s
            comp[k] += c
        for k in range(9):
            st[i, k] = val[k] + comp[k]
    return st


@_inner
def _state_index(pos, kind, r):
    """Index of the last event that applies at level r (-1 if none): events below r, and the
    closed ones at r."""
    i = np.searchsorted(pos, r, side="left")
    n = pos.size
    while i < n and pos[i] == r and kind[i] == 0:
        i += 1
    return i - 1


@_inner
def query(pos, kind, st, base, r, q):
    """Quantity q (0 N_new, 1 N_old0, 2 S2) at level r."""
    i = _state_index(pos, kind, r)
    o = 3 * q
    if i < 0:
        return base[o]
    if r == _INF:
        return st[pos.size - 1, o]
    d = r - pos[i]
    return st[i, o] + st[i, o + 1] * d + 0.5 * st[i, o + 2] * d * d


@_inner
def _gap_integral(d, v0, v1):
    """int over a gap of length d of 1/v with v linear from v0 to v1 (both > 0)."""
    if d <= 0.0:
        return 0.0
    z = (v1 - v0) / v0
    if abs(z) < 1e-300:
        return d / v0
    return d / v0 * math.log1p(z) / z


@_inner
def level_table(pos, kind, st, base, lam):
    """Distinct event levels ``u``, N_new just above each (``nu``) and its slope there, and the
    prefix integrals ``C[k] = int_{u_0}^{u_k} dr / (1 - lam N_new(r))``."""
    n = pos.size
    u = np.empty(n)
    nu = np.empty(n)
    sl = np.empty(n)
    m = 0
    for i in range(n):
        if i + 1 < n and pos[i + 1] == pos[i]:
            continue
        u[m] = pos[i]
        nu[m] = st[i, 0]
        sl[m] = st[i, 1]
        m += 1
    u, nu, sl = u[:m], nu[:m], sl[:m]
    C = np.zeros(m)
    for k in range(m - 1):
        d = u[k + 1] - u[k]
        v0 = 1.0 - lam * nu[k]
        v1 = 1.0 - lam * (nu[k] + sl[k] * d)
        C[k + 1] = C[k] + _gap_integral(d, v0, v1)
    return u, nu, sl, C


@_inner
def _range_integral(r0, r1, lam, u, nu, sl, C, base0):
    """int_{r0}^{r1} dr / (1 - lam N_new(r)) for r0 <= r1 (N_new on open gaps)."""
    if r1 <= r0:
        return 0.0
    m = u.size
    k0 = np.searchsorted(u, r0, side="right") - 1  # gap holding r0 (-1: below u_0)
    k1 = np.searchsorted(u, r1, side="left") - 1  # gap holding r1 from the left
    if k0 == k1:
        if k0 < 0:
            return (r1 - r0) / (1.0 - lam * base0)
        n0 = nu[k0] + sl[k0] * (r0 - u[k0])
        n1 = nu[k0] + sl[k0] * (r1 - u[k0])
        if k0 == m - 1:
            return (r1 - r0) / (1.0 - lam * nu[k0])
        return _gap_integral(r1 - r0, 1.0 - lam * n0, 1.0 - lam * n1)
    # the part of r0's gap, the full gaps, the part of r1's gap
    if k0 < 0:
        tot = (u[0] - r0) / (1.0 - lam * base0)
        ka = 0
    else:
        n0 = nu[k0] + sl[k0] * (r0 - u[k0])
        d = u[k0 + 1] - r0
        tot = _gap_integral(d, 1.0 - lam * n0, 1.0 - lam * (n0 + sl[k0] * d))
        ka = k0 + 1
    if k1 - ka <= 32:
        for k in range(ka, k1):
            d = u[k + 1] - u[k]
            tot += _gap_integral(d, 1.0 - lam * nu[k], 1.0 - lam * (nu[k] + sl[k] * d))
    else:
        tot += C[k1] - C[ka]
    d = r1 - u[k1]
    if k1 == m - 1:
        tot += d / (1.0 - lam * nu[k1])
    else:
        tot += _gap_integral(d, 1.0 - lam * nu[k1], 1.0 - lam * (nu[k1] + sl[k1] * d))
    return tot


@njit(cache=True)
def tagged(lams, g, P, S, E, go, xs, p, xo, pos, kind, st, base, cond_out):
    """Mean response time at each arrival rate (and E[T | atom] at lams[0] in ``cond_out``);
    the tagged-job walk of :func:`qtheory.engine._soap_discrete.tagged` with the level sums from
    the sweep."""
    L = lams.size
    out = np.zeros(L)
    J = go.size - 1
    tabs = []
    for il in range(L):
        tabs.append(level_table(pos, kind, st, base, lams[il]))
    for j in range(J):
        g_lo, g_hi = go[j], go[j + 1]
        for ia in range(xo[j], xo[j + 1]):
            x = xs[ia]
            mx, Q = worst_future_ranks(g, P, S, E, g_lo, g_hi, x)
            r0 = Q[0]
            nn = query(pos, kind, st, base, r0, _I64(0))
            no = query(pos, kind, st, base, r0, _I64(1))
            s2 = query(pos, kind, st, base, r0, _I64(2))
            for il in range(L):
                lam = lams[il]
                u, nu, sl, C = tabs[il]
                wait = lam * s2 / (2.0 * (1.0 - lam * no) * (1.0 - lam * nn)) if s2 > 0.0 else 0.0
                res = 0.0
                for m in range(g_lo, mx):
                    loc = m - g_lo
                    a, bnd = g[m], g[m + 1]
                    s, e = S[m], E[m]
                    level = max(e, Q[loc + 1])
                    if s <= level or s == -_INF:
                        if bnd > a:
                            res += (bnd - a) / (1.0 - lam * query(pos, kind, st, base, level, _I64(0)))
                    else:
                        if e < level:
                            cut = _lin_cross(a, bnd, s, e, level)
                            rend = level
                        else:
                            cut = bnd
                            rend = e
                        if cut > a:
                            # the rank falls from s to rend on [a, cut]
                            res += (cut - a) / (s - rend) * _range_integral(
                                rend, s, lam, u, nu, sl, C, base[0])
                        if bnd > cut:
                            res += (bnd - cut) / (1.0 - lam * query(pos, kind, st, base, level, _I64(0)))
                t = wait + res
                out[il] += p[ia] * t
                if il == 0:
                    cond_out[ia] = t
    return out


def evaluate_tables(lams, g, P, S, E, go, xs, ps, q0, q1, q2, xo, ko):
    """Mean response time at each arrival rate and the conditional means of every atom at the
    first rate, from the rank tables of :func:`qtheory.engine.generic._tables`."""
    pos, kind, jump, base = class_pieces(g, P, S, E, go, xs, q0, q1, q2, xo, ko)
    order = np.lexsort((kind, pos))
    pos, kind, jump = pos[order], kind[order], jump[order]
    st = sweep(pos, jump, base)
    cond = np.empty(xs.size)
    out = tagged(np.asarray(lams, float), g, P, S, E, go, xs, ps, xo, pos, kind, st, base, cond)
    return out, cond
