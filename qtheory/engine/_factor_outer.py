r"""The outer expectation of :mod:`qtheory.engine.soap_factor` reduced to load-independent sums
(numba), so that a load costs one pass over the level panels and one over the nodes' two
load-dependent fractions.

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
(:func:`fraction_sums`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: nodes summed into one partial sum before it is added to the total (rounding grows like the
#: block size plus the number of blocks, not like the number of nodes)
BLOCK = 512


@njit(cache=True)
def _locate(edges, u):  # pragma: no cover - compiled
    """Panel of ``u`` (clipped to the first and last) and the local coordinate in [-1, 1]."""
    P = edges.size - 1
    j = np.searchsorted(edges, u, side="right") - 1
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
def _add_integral(B, C, j, tau, T, s, cint):  # pragma: no cover - compiled
    r"""B[j] += s * (\int_{-1}^{tau} T_k), C[j] += s (T holds T_0 .. T_n at tau)."""
    n = B.shape[1]
    B[j, 0] += s * (tau + 1.0)
    B[j, 1] += s * (tau * tau - 1.0) / 2.0
    for k in range(2, n):
        B[j, k] += s * ((T[k + 1] / (k + 1) - T[k - 1] / (k - 1)) / 2.0 - cint[k])
    C[j] += s


@njit(cache=True)
def outer_sums(edges, ncoef, scoef, X, Y, W, llo, lhi, bounce):  # pragma: no cover - compiled
    """One pass over the outer nodes.

    Returns ``(B, C, s_in, s_low, const, nr, ws, nd, cd)``: the :math:`G` coefficients per panel
    (``B`` against the antiderivatives of the Chebyshev basis, ``C`` against the cumulative
    integral before the panel, ``s_in`` against :math:`g_0`), ``s_low`` against
    :math:`1/(1 - \\lambda N(\\ell_{lo}))` (levels below the interpolants' range), the
    load-independent part ``const``, and the nodes of the two fractions:
    :math:`\\sum ws \\lambda / (2 (1 - \\lambda nr)^2)` and :math:`\\sum cd / (1 - \\lambda nd)`.
    """
    n = ncoef.shape[1]
    P = edges.size - 1
    B = np.zeros((P, n))
    C = np.zeros(P)
    T = np.empty(n + 1)
    cint = np.zeros(n)
    for k in range(2, n):
        cint[k] = ((-1.0) ** (k + 1) / (k + 1) - (-1.0) ** (k - 1) / (k - 1)) / 2.0
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
    for i in range(m):
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
        # ---- at y: G (coefficient sy), and N, S2 there when R = y
        if y < llo:
            if sy != 0.0:
                if y <= 0.0:
                    const += sy * y
                else:
                    s_low += sy * y
            uy = ulo
        else:
            uy = min(np.log(y), uhi)
        jy, ty = _locate(edges, uy)
        _cheb(ty, T)
        if y >= llo and sy != 0.0:
            _add_integral(B, C, jy, ty, T, sy, cint)
            s_in += sy
        if r_is_y:
            if y > 0.0:
                sr = _value(scoef, jy, T)
                if sr > 0.0:
                    nr[nw] = _value(ncoef, jy, T)
                    ws[nw] = w * sr
                    nw += 1
        # ---- at |x - y|: G (coefficient sd), N there, and N, S2 there when R = x - y
        need_nd = bounce and x > y
        if sd == 0.0 and not need_nd and r_is_y:
            continue
        if d < llo:
            if sd != 0.0:
                if d <= 0.0:
                    const += sd * d
                else:
                    s_low += sd * d
            ud = ulo
        else:
            ud = min(np.log(d), uhi)
        jd, td = _locate(edges, ud)
        _cheb(td, T)
        if d >= llo and sd != 0.0:
            _add_integral(B, C, jd, td, T, sd, cint)
            s_in += sd
        nval = _value(ncoef, jd, T) if d > 0.0 else 0.0
        if need_nd:
            nd[ndn] = nval
            cd[ndn] = w * (2.0 * (x - y) if x <= 2.0 * y else x)
            ndn += 1
        if not r_is_y and d > 0.0:
            sr = _value(scoef, jd, T)
            if sr > 0.0:
                nr[nw] = nval
                ws[nw] = w * sr
                nw += 1
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
def level_ends(L, z, bounce, med):  # pragma: no cover - compiled
    r"""Per (level, z) node the ends :math:`e_1 \le e_2` of the one interval whose moments the
    level functions read (``docs/soap_predictions.md``, sections 3-5), the region code, and
    whether each end lies at or above the size law's median (tails there, partial moments
    below).

    Bounce: region 0 (:math:`z < 1/2`): :math:`(\ell/(1-z), \ell/z]`; region 1
    (:math:`1/2 \le z < 1`): :math:`(\ell/z, \ell/(1-z)]`; region 2 (:math:`z \ge 1`):
    :math:`(\ell/z, \ell/(z-1)]`. Remaining: :math:`(\ell/z, \infty)` below :math:`z = 1`,
    :math:`(\ell/z, \ell/(z-1)]` above."""
    m, nz = L.size, z.shape[1]
    e1 = np.empty((m, nz))
    e2 = np.empty((m, nz))
    reg = np.empty((m, nz), np.int8)
    shared = z.shape[0] == 1
    for i in range(m):
        ell = L[i]
        for j in range(nz):
            zz = z[0, j] if shared else z[i, j]
            a = ell / zz
            if zz < 1.0:
                k1 = ell / (1.0 - zz)
            else:
                k1 = np.inf
            if zz > 1.0:
                k2 = ell / (zz - 1.0)
            else:
                k2 = np.inf
            if bounce:
                if zz < 0.5:
                    e1[i, j], e2[i, j], reg[i, j] = k1, a, 0
                elif zz < 1.0:
                    e1[i, j], e2[i, j], reg[i, j] = a, k1, 1
                else:
                    e1[i, j], e2[i, j], reg[i, j] = a, k2, 2
            else:
                e1[i, j], e2[i, j], reg[i, j] = a, k2, 2
    return e1, e2, reg


@njit(cache=True)
def level_sums(L, z, w, e1, e2, reg, M1, M2, U, full, med, bounce):  # pragma: no cover - compiled
    r"""(N, S2) at each level: the z-sums of the inner terms (see
    :meth:`qtheory.engine.soap_factor.FactorSOAP._inner`) from the moments ``M1[k]`` at
    :math:`e_1` and ``M2[k]`` at :math:`e_2` (tail moments where :math:`e_1` is at or above the
    median, partial moments below) and ``U`` = :math:`E[1; X > e_2]` (read in regions 0 and 1 of
    the bounce)."""
    m, nz = L.size, z.shape[1]
    shared = z.shape[0] == 1
    N = np.zeros(m)
    S2 = np.zeros(m)
    S = np.empty(3)
    for i in range(m):
        ell = L[i]
        sn = 0.0
        ss = 0.0
        for j in range(nz):
            zz = z[0, j] if shared else z[i, j]
            ww = w[0, j] if shared else w[i, j]
            x1, x2 = e1[i, j], e2[i, j]
            hi = x1 >= med
            fin2 = x2 < np.inf
            for k in range(3):
                if hi:
                    s = M1[k, i, j] - M2[k, i, j] if fin2 else M1[k, i, j]
                else:
                    s = M2[k, i, j] - M1[k, i, j] if fin2 else full[k] - M1[k, i, j]
                S[k] = s if s > 0.0 else 0.0
            if not fin2 or x2 >= x1:
                pass
            else:  # an empty interval
                S[0] = 0.0
                S[1] = 0.0
                S[2] = 0.0
            p1 = full[1] - M1[1, i, j] if hi else M1[1, i, j]
            p2 = full[2] - M1[2, i, j] if hi else M1[2, i, j]
            r = reg[i, j]
            if bounce and r == 0:
                n = p1 + zz * S[1] + ell * S[0]
                s2 = p2 + (ell * ell * S[0] + 2.0 * ell * zz * S[1] + zz * zz * S[2]) \
                    + 4.0 * ell * ell * U[i, j]
            else:
                b = 1.0 - zz
                n = p1
                s2 = p2 + (ell * ell * S[0] + 2.0 * ell * b * S[1] + b * b * S[2])
                if bounce and r == 1:
                    s2 += 4.0 * ell * ell * U[i, j]
            sn += ww * n
            ss += ww * s2
        N[i] = sn
        S2[i] = ss
    return N, S2
