r"""The compiled loops of :mod:`qtheory.engine.soap_factor` (numba): the outer expectation
reduced to load-independent sums, so that a load costs one pass over the level panels and one
over the nodes' two load-dependent fractions (:func:`outer_sums`, :func:`fraction_sums`), and
the z-sums of the level functions from the size law's moments at the interval ends
(:func:`level_ends`, :func:`level_sums`); for the shapes of
:mod:`qtheory.engine.soap_factor_shapes` (PSPJF, SPJF, TRAIL(c)) the same two steps are
:func:`node_sums` and :func:`shape_level_sums`.

At the outer rule's nodes :math:`(x_i, y_i)` with weights :math:`w_i` the mean is
(``docs/soap_predictions.md``, sections 3-5)

.. math::
    \sum_i w_i \Big[\frac{\lambda S_2(R_i)}{2 (1 - \lambda N(R_i))^2}
        + \sum_{\ell \in \{y_i, |x_i - y_i|\}} s_{i,\ell}\, G_\lambda(\ell)
        + \frac{d_i}{1 - \lambda N(|x_i - y_i|)} + k_i\Big],

with :math:`G_\lambda(\ell) = \int_0^\ell d\ell'/(1 - \lambda N(\ell'))`, signs
:math:`s = \pm 1` or 0 and the coefficients :math:`d_i`, :math:`k_i` of the rank shape
(:class:`~qtheory.engine.soap_factor.FactorSOAP`). :math:`N` is a piecewise Chebyshev
interpolant in :math:`u = \log \ell` (panels :math:`p`, Chebyshev-Lobatto nodes :math:`t_k`), so
:math:`G_\lambda(\ell) = g_0 + \mathrm{cum}_\lambda[p] + \sum_k \omega_k(\tau)\, q_\lambda[p, k]`
with :math:`q_\lambda[p, k] = (d\ell/d\tau)_{p,k} / (1 - \lambda N(\ell_{p,k}))` and the
cumulative weights :math:`\omega(\tau) = \int_{-1}^{\tau} T(s)\, ds \cdot V^{-1}` of the
Chebyshev basis. The :math:`G` part is therefore linear in :math:`q_\lambda`: its coefficients
:math:`\sum_i w_i s_{i,\ell} \int_{-1}^{\tau_i} T(s)\,ds` per panel are summed once
(:func:`outer_sums`); only the two fractions need every node at every load
(:func:`fraction_sums`). :func:`outer_sums` takes the nodes in blocks: the Chebyshev bases of a
block's levels side by side (vectorised), the panel sums as sums of the basis values
:math:`\sum_i s_i T_k(\tau_i)`, turned into the integrals' terms once per panel
(:func:`_basis_integrals`; the same value to rounding: the means moved 2e-15 relative at most).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: nodes summed into one partial sum before it is added to the total (rounding grows like the
#: block size plus the number of blocks, not like the number of nodes)
BLOCK = 512
#: outer nodes whose levels :func:`outer_sums` takes together (their bases: 18 x 2 x this
#: doubles, well within the first-level cache)
OUTER_BLOCK = 64


@njit(cache=True)
def _locate(edges, u):  # pragma: no cover - compiled
    """Panel of ``u`` (clipped to the first and last) and the local coordinate in [-1, 1]."""
    P = edges.size - 1
    # np.searchsorted(edges, u, side="right") - 1 by bisection (half its cost compiled)
    lo, hi = 0, edges.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if edges[mid] <= u:
            lo = mid + 1
        else:
            hi = mid
    j = lo - 1
    if j < 0:
        j = 0
    elif j > P - 1:
        j = P - 1
    e0, e1 = edges[j], edges[j + 1]
    tau = (2.0 * u - e0 - e1) / (e1 - e0)
    if tau < -1.0:
        tau = -1.0
    elif tau > 1.0:
        tau = 1.0
    return j, tau


@njit(cache=True)
def _cheb(tau, T):  # pragma: no cover - compiled
    """T_0 .. T_{n-1} at tau into T (the same recurrence as ``soap_exact._cheb_T``)."""
    T[0] = 1.0
    T[1] = tau
    for k in range(2, T.size):
        T[k] = 2.0 * tau * T[k - 1] - T[k - 2]


@njit(cache=True)
def _value(coef, j, T):  # pragma: no cover - compiled
    s = 0.0
    for k in range(coef.shape[1]):
        s += coef[j, k] * T[k]
    return s


@njit(cache=True)
def _value2(coef1, coef2, j, T):  # pragma: no cover - compiled
    """:func:`_value` of two interpolants at one point: two independent sums side by side,
    each added in :func:`_value`'s order."""
    s1 = 0.0
    s2 = 0.0
    for k in range(coef1.shape[1]):
        s1 += coef1[j, k] * T[k]
        s2 += coef2[j, k] * T[k]
    return s1, s2


@njit(cache=True)
def _add_integral(B, C, j, tau, T, s, cint):  # pragma: no cover - compiled
    r"""B[j] += s * (\int_{-1}^{tau} T_k), C[j] += s (T holds T_0 .. T_n at tau)."""
    n = B.shape[1]
    B[j, 0] += s * (tau + 1.0)
    B[j, 1] += s * (tau * tau - 1.0) / 2.0
    for k in range(2, n):
        B[j, k] += s * ((T[k + 1] / (k + 1) - T[k - 1] / (k - 1)) / 2.0 - cint[k])
    C[j] += s


@njit(cache=True)
def _add_basis(A, C, j, T, s):  # pragma: no cover - compiled
    """A[j] += s * T (T_0 .. T_n at the node), C[j] += s: the node's part of the panel
    integral, turned into :func:`_add_integral`'s terms once per panel by
    :func:`_basis_integrals` (no divisions per node)."""
    for k in range(A.shape[1]):
        A[j, k] += s * T[k]
    C[j] += s


@njit(cache=True)
def _basis_integrals(A, C, cint):  # pragma: no cover - compiled
    r"""The panel integrals' terms ``B`` of :func:`_add_integral` from the basis sums
    :math:`A_{j,k} = \sum_i s_i T_k(\tau_i)` and :math:`C_j = \sum_i s_i` of
    :func:`_add_basis`, by :math:`\int_{-1}^{\tau} T_k = \frac12\big(\frac{T_{k+1}(\tau)}{k+1}
    - \frac{T_{k-1}(\tau)}{k-1}\big) - \mathrm{cint}_k` (:math:`k \ge 2`),
    :math:`\tau + 1 = T_1 + T_0` and :math:`(\tau^2 - 1)/2 = (T_2 - T_0)/4`: the sums
    over the nodes taken before the divisions (the same value to rounding)."""
    P, n = A.shape[0], A.shape[1] - 1
    B = np.zeros((P, n))
    for j in range(P):
        B[j, 0] = A[j, 1] + C[j]
        B[j, 1] = (A[j, 2] - C[j]) / 4.0
        for k in range(2, n):
            B[j, k] = (A[j, k + 1] / (k + 1) - A[j, k - 1] / (k - 1)) / 2.0 - cint[k] * C[j]
    return B


@njit(cache=True)
def _sums_init(edges, ncoef):  # pragma: no cover - compiled
    """The empty ``B`` (panels x coefficients) and ``C`` of the outer sums, the basis buffer
    ``T`` and ``cint[k]``, the integral of :math:`T_k` over the whole panel in :math:`\tau`."""
    n = ncoef.shape[1]
    P = edges.size - 1
    cint = np.zeros(n)
    for k in range(2, n):
        cint[k] = ((-1.0) ** (k + 1) / (k + 1) - (-1.0) ** (k - 1) / (k - 1)) / 2.0
    return np.zeros((P, n)), np.zeros(P), np.empty(n + 1), cint


@njit(cache=True)
def _g_locate(edges, lv, coef, llo, ulo, uhi):  # pragma: no cover - compiled
    """:func:`_g_term` without the basis and the panel integral: ``(j, tau, const, s_low,
    s_in)`` increments; the caller adds the integral where ``s_in`` is nonzero."""
    dconst = 0.0
    dlow = 0.0
    din = 0.0
    if lv < llo:
        if coef != 0.0:
            if lv <= 0.0:
                dconst = coef * lv
            else:
                dlow = coef * lv
        u = ulo
    else:
        u = min(np.log(lv), uhi)
    j, tau = _locate(edges, u)
    if lv >= llo and coef != 0.0:
        din = coef
    return j, tau, dconst, dlow, din


@njit(cache=True)
def _g_term(edges, B, C, T, cint, lv, coef, llo, ulo, uhi):  # pragma: no cover - compiled
    r"""Locate the level ``lv`` (``T`` holds the Chebyshev basis there: at :math:`\ell_{lo}` for
    a level below it) and add ``coef`` times :math:`G_\lambda(lv)` in the outer sums' terms:
    :math:`lv` itself at levels :math:`\le 0` (``const``), :math:`lv / (1 - \lambda
    N(\ell_{lo}))` below the interpolants' range (``s_low``), else the panel integral (``B``,
    ``C``, ``s_in``). Returns ``(j, tau, const, s_low, s_in)`` increments (0 where none)."""
    j, tau, dconst, dlow, din = _g_locate(edges, lv, coef, llo, ulo, uhi)
    _cheb(tau, T)
    if din != 0.0:
        _add_integral(B, C, j, tau, T, coef, cint)
    return j, tau, dconst, dlow, din


@njit(cache=True)
def _basis_block(tau, npt, Tb):  # pragma: no cover - compiled
    """:func:`_cheb` at the first ``npt`` points of ``tau`` at once, into the rows of ``Tb``
    (``Tb[k, i]`` = :math:`T_k(\tau_i)`): the recurrence runs over the points side by side (a
    loop the compiler vectorises; one point's recurrence is a latency-bound chain, which was
    most of :func:`outer_sums`), each value computed exactly as :func:`_cheb` computes it."""
    for i in range(npt):
        Tb[0, i] = 1.0
        Tb[1, i] = tau[i]
    for k in range(2, Tb.shape[0]):
        for i in range(npt):
            Tb[k, i] = 2.0 * tau[i] * Tb[k - 1, i] - Tb[k - 2, i]


@njit(cache=True)
def _block_sums(A, C, ncoef, scoef, jb, sb, npt, Tb, vn, vs):  # pragma: no cover - compiled
    """For the first ``npt`` located levels (panel ``jb``, basis ``Tb`` by :func:`_basis_block`,
    G coefficient ``sb``, 0 where none): :func:`_add_basis` at each, in their order, and both
    interpolants' values ``vn``, ``vs`` at each (each summed in :func:`_value`'s order)."""
    # the panel sums point by point (the levels of one panel follow each other: a loop over
    # the points inside one over k would wait on each sum's previous addition)
    for i in range(npt):
        if sb[i] != 0.0:
            j, s = jb[i], sb[i]
            for k in range(Tb.shape[0]):
                A[j, k] += s * Tb[k, i]
            C[j] += s
    for i in range(npt):
        j = jb[i]
        s1 = 0.0
        s2 = 0.0
        for k in range(ncoef.shape[1]):
            s1 += ncoef[j, k] * Tb[k, i]
            s2 += scoef[j, k] * Tb[k, i]
        vn[i] = s1
        vs[i] = s2


@njit(cache=True)
def outer_sums(edges, ncoef, scoef, X, Y, W, llo, lhi, bounce):  # pragma: no cover - compiled
    """One pass over the outer nodes.

    Returns ``(B, C, s_in, s_low, const, nr, ws, nd, cd)``: the :math:`G` coefficients per panel
    (``B`` against the antiderivatives of the Chebyshev basis, ``C`` against the cumulative
    integral before the panel, ``s_in`` against :math:`g_0`), ``s_low`` against
    :math:`1/(1 - \\lambda N(\\ell_{lo}))` (levels below the interpolants' range), the
    load-independent part ``const``, and the nodes of the two fractions:
    :math:`\\sum ws \\lambda / (2 (1 - \\lambda nr)^2)` and :math:`\\sum cd / (1 - \\lambda nd)`.

    The nodes go in blocks of :data:`OUTER_BLOCK`: their levels located one by one, then the
    Chebyshev bases of all of them at once (:func:`_basis_block`), the panel sums
    (:func:`_add_basis`'s, turned into the integrals' terms by :func:`_basis_integrals` at the
    end) and the interpolants' values (:func:`_block_sums`), then each node's fractions.
    """
    _, C, T, cint = _sums_init(edges, ncoef)
    A = np.zeros((C.size, T.size))
    m = X.size
    nr = np.empty(m)
    ws = np.empty(m)
    nd = np.empty(m)
    cd = np.empty(m)
    nw = 0
    ndn = 0
    s_in = 0.0
    s_low = 0.0
    const = 0.0
    ulo, uhi = np.log(llo), np.log(lhi)
    nb = 2 * OUTER_BLOCK
    tb = np.empty(nb)
    jb = np.empty(nb, np.int64)
    sb = np.empty(nb)
    Tb = np.empty((T.size, nb))
    vn = np.empty(nb)
    vs = np.empty(nb)
    py = np.empty(OUTER_BLOCK, np.int64)  # each node's point at y, and at |x - y| (-1: none)
    pd = np.empty(OUTER_BLOCK, np.int64)
    for i0 in range(0, m, OUTER_BLOCK):
        i1 = min(i0 + OUTER_BLOCK, m)
        npt = np.int64(0)  # (a bare 0 compiles _basis_block and _block_sums twice: Literal[int](0) and int64)
        # ---- locate both levels of each node; G's location-only terms
        for i in range(i0, i1):
            x, y, w = X[i], Y[i], W[i]
            d = abs(x - y)
            if bounce:
                sy = w if x <= 2.0 * y else 0.0
                sd = -sy
                r_is_y = x <= 2.0 * y
            else:
                sy = w
                if y >= x:
                    sd = -w
                else:
                    sd = 0.0
                    const -= w * (y - x)
                r_is_y = True
            need_nd = bounce and x > y
            second = not (sd == 0.0 and not need_nd and r_is_y)
            jy, ty, dc, dl, di = _g_locate(edges, y, sy, llo, ulo, uhi)
            const += dc
            s_low += dl
            s_in += di
            tb[npt], jb[npt], sb[npt] = ty, jy, (sy if di != 0.0 else 0.0)
            py[i - i0] = npt
            npt += 1
            pd[i - i0] = -1
            if second:
                jd, td, dc2, dl2, di2 = _g_locate(edges, d, sd, llo, ulo, uhi)
                const += dc2
                s_low += dl2
                s_in += di2
                tb[npt], jb[npt], sb[npt] = td, jd, (sd if di2 != 0.0 else 0.0)
                pd[i - i0] = npt
                npt += 1
        # ---- the bases, the panel sums and the values of N, S2 at every level
        _basis_block(tb, npt, Tb)
        _block_sums(A, C, ncoef, scoef, jb, sb, npt, Tb, vn, vs)
        # ---- each node's fractions: N, S2 at R (waiting), N at |x - y| (bounce, x > y)
        for i in range(i0, i1):
            x, y, w = X[i], Y[i], W[i]
            d = abs(x - y)
            r_is_y = (x <= 2.0 * y) if bounce else True
            need_nd = bounce and x > y
            if r_is_y and y > 0.0:
                p = py[i - i0]
                if vs[p] > 0.0:
                    nr[nw] = vn[p]
                    ws[nw] = w * vs[p]
                    nw += 1
            p = pd[i - i0]
            if p < 0:
                continue
            if d > 0.0:
                nval, sr = vn[p], vs[p]
            else:
                nval, sr = 0.0, 0.0
            if need_nd:
                nd[ndn] = nval
                cd[ndn] = w * (2.0 * (x - y) if x <= 2.0 * y else x)
                ndn += 1
            if not r_is_y and d > 0.0:
                if sr > 0.0:
                    nr[nw] = nval
                    ws[nw] = w * sr
                    nw += 1
    B = _basis_integrals(A, C, cint)
    return B, C, s_in, s_low, const, nr[:nw].copy(), ws[:nw].copy(), nd[:ndn].copy(), cd[:ndn].copy()


@njit(cache=True)
def fraction_sums(lams, nr, ws, nd, cd):  # pragma: no cover - compiled
    r""":math:`\sum_i ws_i \lambda / (2 (1 - \lambda nr_i)^2) + \sum_i cd_i / (1 - \lambda nd_i)`
    at every arrival rate ``lams`` (partial sums of :data:`BLOCK` nodes)."""
    L = lams.size
    out = np.zeros(L)
    part = np.zeros(L)
    for i in range(nr.size):
        for l in range(L):
            g = 1.0 - lams[l] * nr[i]
            part[l] += ws[i] * lams[l] / (2.0 * g * g)
        if (i + 1) % BLOCK == 0:
            for l in range(L):
                out[l] += part[l]
                part[l] = 0.0
    for l in range(L):
        out[l] += part[l]
        part[l] = 0.0
    for i in range(nd.size):
        for l in range(L):
            part[l] += cd[i] / (1.0 - lams[l] * nd[i])
        if (i + 1) % BLOCK == 0:
            for l in range(L):
                out[l] += part[l]
                part[l] = 0.0
    for l in range(L):
        out[l] += part[l]
    return out


# ---- the level functions: the interval ends at each (level, z) node and the combination ---------
@njit(cache=True)
def panel_nodes(edges, t, wgl):  # pragma: no cover - compiled
    """:func:`qtheory.laws._quadrature.panels` of each row of ``edges`` (Gauss-Legendre nodes
    ``t`` and weights ``wgl`` on [0, 1]) less the panels of zero width: ``(row, u, weight)``
    of the nodes kept, row by row (the same floating-point operations as ``panels``: node
    :math:`a + h t_k`, weight :math:`h w_k`), without the full arrays and their mask."""
    R, K = edges.shape
    n = t.size
    total = R * (K - 1) * n
    lev = np.empty(total, np.int64)
    u = np.empty(total)
    wu = np.empty(total)
    c = 0
    for r in range(R):
        for p in range(K - 1):
            a = edges[r, p]
            h = edges[r, p + 1] - a
            for k in range(n):
                wk = h * wgl[k]
                if wk > 0.0:
                    lev[c] = r
                    u[c] = a + h * t[k]
                    wu[c] = wk
                    c += 1
    return lev[:c], u[:c], wu[:c]


@njit(cache=True)
def split_ends(e1, e2, reg, med, bounce):  # pragma: no cover - compiled
    """The interval ends of :func:`level_ends` in the groups whose moments
    :func:`level_sums` reads, in node order: :math:`e_1` at or above / below the median,
    a finite :math:`e_2` of the nodes of either group, and (bounce) :math:`e_2` at or above
    the median where :math:`e_1` is below it and the node is in region 0 or 1."""
    n = e1.size
    x1h = np.empty(n)
    x1l = np.empty(n)
    x2h = np.empty(n)
    x2l = np.empty(n)
    xu = np.empty(n)
    a = 0
    b = 0
    c = 0
    d = 0
    f = 0
    for i in range(n):
        x1, x2 = e1[i], e2[i]
        fin = np.isfinite(x2)
        if x1 >= med:
            x1h[a] = x1
            a += 1
            if fin:
                x2h[c] = x2
                c += 1
        else:
            x1l[b] = x1
            b += 1
            if fin:
                x2l[d] = x2
                d += 1
                if bounce and reg[i] < 2 and x2 >= med:
                    xu[f] = x2
                    f += 1
    return x1h[:a], x1l[:b], x2h[:c], x2l[:d], xu[:f]


@njit(cache=True)
def level_ends(L, lev, z, bounce):  # pragma: no cover - compiled
    r"""At each node (level ``L[lev[i]]``, factor value ``z[i]``) the ends
    :math:`e_1 \le e_2` of the one interval whose moments the level functions read
    (``docs/soap_predictions.md``, sections 3-5) and the region code.

    Bounce: region 0 (:math:`z < 1/2`): :math:`(\ell/(1-z), \ell/z]`; region 1
    (:math:`1/2 \le z < 1`): :math:`(\ell/z, \ell/(1-z)]`; region 2 (:math:`z \ge 1`):
    :math:`(\ell/z, \ell/(z-1)]`. Remaining: :math:`(\ell/z, \infty)` below :math:`z = 1`,
    :math:`(\ell/z, \ell/(z-1)]` above."""
    n = z.size
    e1 = np.empty(n)
    e2 = np.empty(n)
    reg = np.empty(n, np.int8)
    for i in range(n):
        ell = L[lev[i]]
        zz = z[i]
        a = ell / zz
        k1 = ell / (1.0 - zz) if zz < 1.0 else np.inf
        k2 = ell / (zz - 1.0) if zz > 1.0 else np.inf
        if bounce and zz < 0.5:
            e1[i], e2[i], reg[i] = k1, a, 0
        elif bounce and zz < 1.0:
            e1[i], e2[i], reg[i] = a, k1, 1
        else:
            e1[i], e2[i], reg[i] = a, k2, 2
    return e1, e2, reg


@njit(cache=True)
def level_sums(m, L, lev, z, w, e1, e2, reg, med, full, T1, P1, T2, P2, Ut, bounce):  # pragma: no cover - compiled
    r"""(N, S2) at each of the ``m`` levels: the weighted z-sums of the inner terms.

    The size law's moments come compressed, in node order (tuples over k = 0, 1, 2):
    ``T1[k]`` / ``P1[k]`` the tail /
    partial moments at :math:`e_1` for the nodes with :math:`e_1` at or above / below the
    median, ``T2[k]`` / ``P2[k]`` the same at a finite :math:`e_2` (the side is
    :math:`e_1`'s), ``Ut`` :math:`E[1; X > e_2]` where the bounce reads it (regions 0, 1) with
    :math:`e_1` below and :math:`e_2` at or above the median. With
    :math:`S_k = E[X^k; e_1 < X \le e_2]`, :math:`P_k = E[X^k; X \le e_1]` and
    :math:`U = E[1; X > e_2]`:

    * bounce, :math:`z < 1/2`: :math:`N = P_1 + z S_1 + \ell S_0`,
      :math:`S_2 = P_2 + E[(\ell + zX)^2; e_1 < X \le e_2] + 4 \ell^2 U`;
    * otherwise :math:`N = P_1`, :math:`S_2 = P_2 + E[(\ell + (1 - z) X)^2; e_1 < X \le e_2]`,
      plus :math:`4 \ell^2 U` for the bounce below :math:`z = 1`."""
    N = np.zeros(m)
    S2 = np.zeros(m)
    S = np.empty(3)
    M1 = np.empty(3)
    M2 = np.zeros(3)
    ch = 0
    cl = 0
    ch2 = 0
    cl2 = 0
    cu = 0
    for i in range(z.size):
        li = lev[i]
        ell = L[li]
        zz = z[i]
        x1, x2 = e1[i], e2[i]
        hi = x1 >= med
        fin2 = x2 < np.inf
        if hi:
            M1[0], M1[1], M1[2] = T1[0][ch], T1[1][ch], T1[2][ch]
            if fin2:
                M2[0], M2[1], M2[2] = T2[0][ch2], T2[1][ch2], T2[2][ch2]
        else:
            M1[0], M1[1], M1[2] = P1[0][cl], P1[1][cl], P1[2][cl]
            if fin2:
                M2[0], M2[1], M2[2] = P2[0][cl2], P2[1][cl2], P2[2][cl2]
        if not fin2:
            M2[0], M2[1], M2[2] = 0.0, 0.0, 0.0
        if hi:
            ch += 1
            if fin2:
                ch2 += 1
        else:
            cl += 1
            if fin2:
                cl2 += 1
        for k in range(3):
            if hi:
                s = M1[k] - M2[k] if fin2 else M1[k]
            else:
                s = M2[k] - M1[k] if fin2 else full[k] - M1[k]
            S[k] = s if s > 0.0 else 0.0
        if fin2 and x2 < x1:  # an empty interval
            S[0] = 0.0
            S[1] = 0.0
            S[2] = 0.0
        p1 = full[1] - M1[1] if hi else M1[1]
        p2 = full[2] - M1[2] if hi else M1[2]
        r = reg[i]
        u = 0.0
        if bounce and r < 2 and fin2:
            if hi:
                u = M2[0]
            elif x2 >= med:
                u = Ut[cu]
                cu += 1
            else:
                u = full[0] - M2[0]
                if u < 0.0:
                    u = 0.0
        if bounce and r == 0:
            n = p1 + zz * S[1] + ell * S[0]
            s2 = p2 + (ell * ell * S[0] + 2.0 * ell * zz * S[1] + zz * zz * S[2]) \
                + 4.0 * ell * ell * u
        else:
            b = 1.0 - zz
            n = p1
            s2 = p2 + (ell * ell * S[0] + 2.0 * ell * b * S[1] + b * b * S[2])
            if bounce and r == 1:
                s2 += 4.0 * ell * ell * u
        N[li] += w[i] * n
        S2[li] += w[i] * s2
    return N, S2


# ---- the further rank shapes (:mod:`qtheory.engine.soap_factor_shapes`) -------------------------
@njit(cache=True)
def node_sums(edges, ncoef, scoef, Y, wy, gy, fy, D, gd, llo, lhi):  # pragma: no cover - compiled
    r"""The load-independent sums of :func:`outer_sums` for a rank shape whose waiting time
    reads the level :math:`y_i` and whose residence is
    :math:`gy_i\, G_\lambda(y_i) + gd_i\, G_\lambda(d_i) + fy_i / (1 - \lambda N(y_i))` (plus a
    constant the caller adds): at each node the waiting fraction
    :math:`wy_i \lambda S_2(y_i) / (2 (1 - \lambda N(y_i))^2)` (a level below :math:`\ell_{lo}`
    reads the interpolants at :math:`\ell_{lo}`), :math:`G_\lambda(\ell) = \ell` at levels
    :math:`\le 0` and :math:`\ell / (1 - \lambda N(\ell_{lo}))` below the interpolants' range.
    The interpolants are evaluated once per node and level.

    Returns ``(B, C, s_in, s_low, const, nr, ws, nd, cd)`` as :func:`outer_sums` does (``const``
    holds only the :math:`G` terms at levels :math:`\le 0`)."""
    B, C, T, cint = _sums_init(edges, ncoef)
    s_in = 0.0
    s_low = 0.0
    const = 0.0
    ulo, uhi = np.log(llo), np.log(lhi)
    m = Y.size
    nr = np.empty(m)
    ws = np.empty(m)
    nd = np.empty(m)
    cd = np.empty(m)
    nw = 0
    nf = 0
    for i in range(m):
        y = Y[i]
        j, tau, dc, dl, di = _g_term(edges, B, C, T, cint, y, gy[i], llo, ulo, uhi)
        const += dc
        s_low += dl
        s_in += di
        if wy[i] != 0.0:
            sr = _value(scoef, j, T)
            if sr > 0.0:
                nr[nw] = _value(ncoef, j, T)
                ws[nw] = wy[i] * sr
                nw += 1
        if fy[i] != 0.0:
            nd[nf] = _value(ncoef, j, T) if y > 0.0 else 0.0
            cd[nf] = fy[i]
            nf += 1
        if gd[i] != 0.0:
            _, _, dc, dl, di = _g_term(edges, B, C, T, cint, D[i], gd[i], llo, ulo, uhi)
            const += dc
            s_low += dl
            s_in += di
    return B, C, s_in, s_low, const, nr[:nw].copy(), ws[:nw].copy(), nd[:nf].copy(), cd[:nf].copy()


@njit(cache=True)
def shape_level_sums(m, L, lev, z, w, e1, e2, med, full, T1, P1, T2, P2, kind, c):  # pragma: no cover - compiled
    r"""(N, S2) at each of the ``m`` levels for the shapes of
    :mod:`qtheory.engine.soap_factor_shapes` (``kind`` 0 static, 1 non-preemptive, 2 TRAIL(c)):
    the weighted z-sums of the inner terms, with :math:`P_k = E[X^k; X \le e_1]`,
    :math:`S_k = E[X^k; e_1 < X \le e_2]`, :math:`U = E[X^2; X > e_2]`:
    :math:`N = P_1`; :math:`S_2 = P_2` (static), :math:`E[X^2]` (non-preemptive),
    :math:`P_2 + E[(\ell + (1 - z) X)^2; e_1 < X \le e_2] + (1 - cz)^{+2} U` (TRAIL).

    The size law's moments k = 0, 1, 2 come compressed in node order: ``T1`` / ``P1`` the tail /
    partial moments at :math:`e_1` for the nodes with :math:`e_1` at or above / below the
    median, ``T2`` / ``P2`` the same at :math:`e_2` (TRAIL only; an infinite :math:`e_2` is in
    neither)."""
    N = np.zeros(m)
    S2 = np.zeros(m)
    A = np.empty(3)  # partial moments at e1
    Bt = np.empty(3)  # tail moments at e1
    Pe = np.empty(3)  # partial moments at e2
    Te = np.empty(3)  # tail moments at e2
    s = np.empty(3)  # moments on (e1, e2]
    c1h = 0
    c1l = 0
    c2h = 0
    c2l = 0
    for i in range(z.size):
        li = lev[i]
        if e1[i] >= med:
            for k in range(3):
                Bt[k] = T1[k, c1h]
                A[k] = full[k] - Bt[k]
            c1h += 1
            hi = True
        else:
            for k in range(3):
                A[k] = P1[k, c1l]
                Bt[k] = full[k] - A[k]
            c1l += 1
            hi = False
        N[li] += w[i] * A[1]
        if kind == 0:
            S2[li] += w[i] * A[2]
            continue
        if kind == 1:
            continue
        x2 = e2[i]
        if x2 == np.inf:
            for k in range(3):
                Pe[k] = full[k]
                Te[k] = 0.0
        elif x2 >= med:
            for k in range(3):
                Te[k] = T2[k, c2h]
                Pe[k] = full[k] - Te[k]
            c2h += 1
        else:
            for k in range(3):
                Pe[k] = P2[k, c2l]
                Te[k] = full[k] - Pe[k]
            c2l += 1
        ell = L[li]
        zz = z[i]
        for k in range(3):
            v = Bt[k] - Te[k] if hi else Pe[k] - A[k]
            s[k] = v if v > 0.0 else 0.0
        b = 1.0 - zz
        s2 = A[2] + (ell * ell * s[0] + 2.0 * ell * b * s[1] + b * b * s[2])
        q = 1.0 - c * zz
        if q > 0.0:
            s2 += q * q * Te[2]
        S2[li] += w[i] * s2
    if kind == 1:
        for li in range(m):
            S2[li] = full[2]
    return N, S2
