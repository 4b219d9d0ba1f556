r"""An independent reference for TRAIL(:math:`\gamma`)'s response-time law (SPRPT at
:math:`\gamma = 1`) for :math:`2L \le t < 3L`, :math:`L` the least size of a size law whose density
jumps there (Pareto(2.5, L)), exponential predictions :math:`Y = XZ`: the class law of
``tests/trail_jump_reference.py`` (:math:`w = t - x < L`) extended to :math:`w < 2L` by the terms
of one arrival. Nothing here imports the library's engine.

Every arrival brings at least :math:`L` of work, so terms of the transform with two arrivals
(:math:`e^{-2sL}` and beyond) are supported on :math:`w \ge 2L`. With :math:`g = \lambda P(Y < y)`,
:math:`\Phi(s) = \lambda E[e^{-(s + g)X}; Y < y]` (time domain
:math:`\varphi(u) = \lambda f_X(u) P(Y < y \mid u) e^{-gu}`, :math:`u \ge L`), Kendall's root is
:math:`\eta_{<y}(s) = s + g - \Phi(s)` up to them, and the old-job delay
:math:`\tilde V_y(\eta) = \eta\,(p_0 + H(\eta))/s` (:math:`H` the transform of
:math:`h_1(p) = \lambda P(X_1 > p)`, ``trail_jump_reference``) becomes

.. math::
    \tilde V_y \approx \big[(s + g)(p_0 + H(s + g)) - \Phi\,(p_0 + H(s + g))
        + (s + g)\,\Phi\,\hat M(s)\big]/s,\qquad \hat M = -H'(s + g)

(:math:`\hat M` the transform of :math:`m(p) = p\,h_1(p)e^{-gp}`); the residence
:math:`\exp(-\int_d^y(\eta_{<v} - s)\,dv) \approx e^{-\lambda I}(1 + \Psi(s))` with
:math:`\Psi \leftrightarrow \psi(u) = \lambda f_X(u)\int_d^y P(Y < v \mid u)\,e^{-g_v u}\,dv`.
So for :math:`w < 2L`

.. math::
    P(T \le x + w \mid x, y) = e^{-\lambda I}\Big(F_0(w) + \int_L^w \big[\psi(u) F_0(w - u)
        - \varphi(u) K(w - u) + \varphi(u) M(w - u)\big]\,du\Big),

:math:`F_0(r) = p_0(1 + gr) + \int_0^r h_1(q)e^{-gq}(1 + g(r - q))\,dq` (the one-scale law),
:math:`K(r) = p_0 r + \int_0^r h_1(q)e^{-gq}(r - q)\,dq` (:math:`(p_0 + H)/s^2`) and
:math:`M(r) = \int_0^r m(q)(1 + g(r - q))\,dq` (:math:`(s + g)\hat M/s^2`). For :math:`t < 3L`
every class with :math:`x \le t` has :math:`w < 2L`: the unconditional cdf mixes these over
:math:`x \in [L, t]` (split at :math:`t - L`, where the one-arrival terms start) and :math:`z`.
All integrals are Gauss-Legendre panels split where the integrands kink
(``docs/response_time_distribution.md``, sections 5.4 and 13).
"""

from __future__ import annotations

import math

import numpy as np
import trail_jump_reference as ref

#: nodes per panel of the u (convolution), q (inner) and v (residence) integrals
N_U = 16
N_Q = 16
N_V = 16
#: classes per call of :func:`class_cdf` in :func:`cdf`
_BLOCK = 32
#: cuts of the v integral of psi (where P(Y < v) and e^{-g_v u} change their scale)
_V_CUTS = np.array([0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0])


def _panelled(a, b, cuts, n):
    """Gauss-Legendre nodes and weights on [a, b] (arrays of one shape) split at ``cuts`` (an array
    whose leading axes broadcast with ``a``'s, last axis the cuts), axis -1 of the result the nodes."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    c = np.clip(np.asarray(cuts, float), a[..., None], b[..., None])
    e = np.sort(np.concatenate([a[..., None], c, b[..., None]], axis=-1), axis=-1)
    x, w = ref._gauss(e[..., :-1], e[..., 1:], n)
    return x.reshape(*x.shape[:-2], -1), w.reshape(*w.shape[:-2], -1)


def _expect_above(law: ref.Law, f, lo, K, n: int | None = None):
    r""":math:`E[f(X); X > lo]` (``lo`` an array, ``f`` on arrays whose last axis holds the nodes),
    split at ``K`` (an array of ``lo``'s shape): ``law.expect`` on :math:`X > \max(L, lo)`."""
    n = ref.N_X if n is None else n
    lo = np.maximum(np.asarray(lo, float), law.lo)
    K = np.clip(np.asarray(K, float), lo, law.hi)
    if math.isinf(law.hi):  # Pareto in v = sqrt(L / X): polynomial density
        vl = np.sqrt(law.lo / lo)
        vk = np.sqrt(law.lo / K)
        out = 0.0
        for a, b in ((0.0 * vk, vk), (vk, vl)):
            v, w = ref._gauss(a, b, n)
            ok = v > 0
            X = law.lo / np.where(ok, v, 1.0) ** 2
            with np.errstate(invalid="ignore", over="ignore"):
                val = f(X) * w * 2.0 * law.alpha * v ** (2.0 * law.alpha - 1.0)
            out = out + np.sum(np.where(ok, val, 0.0), axis=-1)
        return out
    out = 0.0
    for a, b in ((lo, K), (K, 0.0 * K + law.hi)):
        X, w = ref._gauss(a, b, n)
        out = out + np.sum(f(X) * w / (law.hi - law.lo), axis=-1)
    return out


def _h1(law: ref.Law, lam: float, gam: float, y, u):
    r""":math:`h_1(u) = \lambda P(X_1 > u) = \lambda E[e^{-y/X} - e^{-\max(X + y - u, (X - u)/\gamma)/X};
    X > u]` (``y`` broadcast against ``u``; ``u`` may exceed :math:`L`)."""
    q = ref._q(gam)
    y, u = np.broadcast_arrays(np.asarray(y, float), np.asarray(u, float))
    Y, U = y[..., None], u[..., None]
    return lam * _expect_above(law, lambda X: np.exp(-Y / X) - np.exp(-np.maximum(X + Y - U, (X - U) / gam) / X),
                               u, u + q * y)


def _one_scale(law: ref.Law, lam: float, gam: float, y, r, g, p0):
    r"""(:math:`F_0(r)`, :math:`K(r)`, :math:`M(r)`) for ``0 <= r < 2L``; ``y``, ``g``, ``p0``
    broadcast against ``r``."""
    q = ref._q(gam)
    y, r, g, p0 = np.broadcast_arrays(*(np.asarray(a, float) for a in (y, r, g, p0)))
    # h_1 kinks where its split u + q y meets an end b (TRAIL, gamma < 1) and at u = b (X > u)
    cuts = np.stack([np.clip(b - q * y, 0.0, None) for b in law.ends()]
                    + [np.full(y.shape, b) for b in law.ends()], axis=-1)
    qq, wq = _panelled(np.zeros(r.shape), r, cuts, N_Q)
    h = _h1(law, lam, gam, y[..., None], qq) * np.exp(-g[..., None] * qq) * wq
    lag = r[..., None] - qq
    F0 = p0 * (1.0 + g * r) + np.sum(h * (1.0 + g[..., None] * lag), axis=-1)
    K = p0 * r + np.sum(h * lag, axis=-1)
    M = np.sum(h * qq * (1.0 + g[..., None] * lag), axis=-1)
    return F0, K, M


def class_cdf(law: ref.Law, lam: float, gam: float, x, y, t: float, orders: int = 1) -> np.ndarray:
    r""":math:`P(T \le t \mid x, y)` for :math:`L \le x \le t < x + 2L` (module docstring); arrays
    ``x``, ``y`` of one shape. ``orders``: a factor on the u, q and v nodes (a convergence check)."""
    global N_U, N_Q, N_V
    saved = (N_U, N_Q, N_V)
    N_U, N_Q, N_V = (n * orders for n in saved)
    try:
        return _class_cdf(law, lam, gam, x, y, t)
    finally:
        N_U, N_Q, N_V = saved


def _class_cdf(law, lam, gam, x, y, t):
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    L = law.lo
    Y = y[..., None]
    q = ref._q(gam)
    g = lam * (1.0 - law.expect(lambda X: np.exp(-Y / X)))
    ex0 = law.expect(lambda X: X * -np.expm1(-Y / X))

    def ex1(X):
        ps = np.clip(X - q * Y, 0.0, X)
        i1 = gam * X * (np.exp(-(X - ps) / (gam * X)) - math.exp(-1.0 / gam))
        i2 = X * (np.exp(-Y / X) - np.exp(-(X + Y - ps) / X))
        return X * np.exp(-Y / X) - i1 - i2

    p0 = 1.0 - lam * (ex0 + law.expect(ex1, K=q * y))
    d = y - np.minimum(x, gam * y)
    D = d[..., None]
    k = np.exp(-lam * ((y - d) - law.expect(lambda X: X * (np.exp(-D / X) - np.exp(-Y / X)))))
    w = t - x
    F0 = _one_scale(law, lam, gam, y, w, g, p0)[0]
    out = F0.copy()
    one = w > L
    if np.any(one):
        yo, wo, go, p0o, do = y[one], w[one], g[one], p0[one], d[one]
        # the u integral on [L, w]: K(w - u), M(w - u), F0(w - u) kink where w - u = L - q y
        cu = np.stack([np.clip(wo - b + q * yo, L, wo) for b in law.ends()], axis=-1)
        uu, wu = _panelled(np.full(wo.shape, L), wo, cu, N_U)
        F0u, Ku, Mu = _one_scale(law, lam, gam, yo[:, None], wo[:, None] - uu, go[:, None], p0o[:, None])
        fu = np.array([law.pdf(v) for v in uu.ravel()]).reshape(uu.shape)
        phi = lam * fu * -np.expm1(-yo[:, None] / uu) * np.exp(-go[:, None] * uu)
        # psi: the v integral on [d, y], g_v at its nodes
        vv, wv = _panelled(do, yo, np.broadcast_to(_V_CUTS, (yo.size, _V_CUTS.size)), N_V)
        V = vv[..., None]
        gv = lam * (1.0 - law.expect(lambda X: np.exp(-V / X)))
        inner = wv[:, None, :] * -np.expm1(-vv[:, None, :] / uu[:, :, None]) * np.exp(-gv[:, None, :] * uu[:, :, None])
        psi = lam * fu * np.sum(inner, axis=-1)
        out[one] += np.sum(wu * (psi * F0u - phi * Ku + phi * Mu), axis=-1)
    return k * out


def cdf(law: ref.Law, lam: float, gam: float, t: float, nx: int = 16, nz: int = 16, orders: int = 1) -> float:
    r""":math:`P(T \le t)` for :math:`L \le t < 3L`: the class law mixed over :math:`x \in [L, t]`
    (split at :math:`t - L`) and :math:`z` (Gauss-Legendre panels split at 1, :math:`1/\gamma`,
    :math:`L/x`, :math:`2L/x`, and for :math:`\gamma < 1` where the cuts of :math:`h_1` and of the
    u integral meet their ends; Gauss-Laguerre beyond the last edge below 60)."""
    L = law.lo
    q = ref._q(gam)
    xe = sorted({L, t} | ({t - L} if t - L > L else set()))
    tot = 0.0
    for a, b in zip(xe[:-1], xe[1:], strict=True):
        xs, wx = ref._gauss(a, b, nx)
        for xi, wi in zip(xs, wx, strict=True):
            w = t - xi
            edges = {0.0, 1.0, 1.0 / gam, L / xi, 2.0 * L / xi, 3.0 * L / xi}
            for bnd in law.ends():
                edges |= {bnd / (q * xi), (bnd - w) / (q * xi), (2.0 * bnd - w) / (q * xi)}
            edges = sorted(e for e in edges if 0.0 <= e < 60.0)
            zs, ws = [], []
            for lo_, hi_ in zip(edges[:-1], edges[1:], strict=True):
                z, wz = ref._gauss(lo_, hi_, nz)
                zs.append(z)
                ws.append(wz * np.exp(-z))
            zl, wl = np.polynomial.laguerre.laggauss(nz)
            zs.append(zl + edges[-1])
            ws.append(wl * math.exp(-edges[-1]))
            z, wz = np.concatenate(zs), np.concatenate(ws)
            # classes in blocks of _BLOCK (memory: the one-arrival terms hold blocks x u x q x X nodes)
            vals = np.concatenate([class_cdf(law, lam, gam, np.full(z[b:b + _BLOCK].size, xi), xi * z[b:b + _BLOCK],
                                             t, orders) for b in range(0, z.size, _BLOCK)])
            tot += wi * law.pdf(xi) * float(vals @ wz)
    return tot


def _class_pieces(law: ref.Law, lam: float, gam: float, x, y):
    r"""(:math:`k = e^{-\lambda I}`, :math:`p_0`, :math:`g`, :math:`d`) of the classes ``x``, ``y``."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    Y = y[..., None]
    q = ref._q(gam)
    g = lam * (1.0 - law.expect(lambda X: np.exp(-Y / X)))
    ex0 = law.expect(lambda X: X * -np.expm1(-Y / X))

    def ex1(X):
        ps = np.clip(X - q * Y, 0.0, X)
        i1 = gam * X * (np.exp(-(X - ps) / (gam * X)) - math.exp(-1.0 / gam))
        i2 = X * (np.exp(-Y / X) - np.exp(-(X + Y - ps) / X))
        return X * np.exp(-Y / X) - i1 - i2

    p0 = 1.0 - lam * (ex0 + law.expect(ex1, K=q * y))
    d = y - np.minimum(x, gam * y)
    D = d[..., None]
    k = np.exp(-lam * ((y - d) - law.expect(lambda X: X * (np.exp(-D / X) - np.exp(-Y / X)))))
    return k, p0, g, d


def class_jumps(law: ref.Law, lam: float, gam: float, x, y, n: int = 32, hu: float = 1e-3):
    r"""(:math:`j`, :math:`j_1`, :math:`j_2`): the jumps of the class density of :math:`T - x`, of
    its slope and of its second derivative at :math:`w = L`: the derivatives at :math:`w = L^+`
    of :math:`k\int_L^w A(u, w - u)\,du`, :math:`A = \psi F_0 - \varphi K + \varphi M` (module
    docstring), :math:`A(L, 0)`, :math:`(A_u + A_r)(L, 0)` and :math:`(A_{uu} + A_{ur} + A_{rr})(L, 0)`,
    with :math:`F_0(0) = p_0`, :math:`F_0'(0) = p_0 g + h_1(0)`, :math:`F_0''(0) = h_1'(0)`,
    :math:`K' = p_0`, :math:`K'' = M'' = h_1(0)`, :math:`K = M = M' = 0` at 0; plus in :math:`j_2`
    the jump :math:`k\Delta e^{-gL}` of :math:`F_0^{(3)}` at :math:`L`, :math:`\Delta = \lambda f_X(L)
    e^{-y/L}/L` (:math:`h_1`'s restriction :math:`X > p` starts at :math:`p = L`). Derivatives in
    the arrival's size :math:`u` by one-sided differences of :math:`\psi`, :math:`\varphi` (step
    ``hu`` L), :math:`h_1'(0)` by a one-sided difference of :func:`_h1`."""
    L = law.lo
    k, p0, g, d = _class_pieces(law, lam, gam, x, y)
    y = np.broadcast_to(np.asarray(y, float), k.shape)
    vv, wv = _panelled(d, y, np.broadcast_to(_V_CUTS, (*y.shape, _V_CUTS.size)), n)
    V = vv[..., None]
    gv = lam * (1.0 - law.expect(lambda X: np.exp(-V / X)))

    def psi(u):
        return lam * law.pdf(u) * np.sum(wv * -np.expm1(-vv / u) * np.exp(-gv * u), axis=-1)

    def phi(u):
        return lam * law.pdf(u) * -np.expm1(-y / u) * np.exp(-g * u)

    h = hu * L
    ps = [psi(L + i * h) for i in range(4)]
    ph = [phi(L + i * h) for i in range(3)]
    dpsi = (-3.0 * ps[0] + 4.0 * ps[1] - ps[2]) / (2.0 * h)
    d2psi = (2.0 * ps[0] - 5.0 * ps[1] + 4.0 * ps[2] - ps[3]) / h ** 2
    dphi = (-3.0 * ph[0] + 4.0 * ph[1] - ph[2]) / (2.0 * h)
    z0 = np.zeros(y.shape)
    h10 = _h1(law, lam, gam, y, z0)
    hq = 1e-4 * L
    dh10 = (-3.0 * h10 + 4.0 * _h1(law, lam, gam, y, z0 + hq) - _h1(law, lam, gam, y, z0 + 2 * hq)) / (2.0 * hq)
    delta = lam * law.pdf(L) * np.exp(-y / L) / L
    j = k * p0 * ps[0]
    j1 = k * (p0 * dpsi + ps[0] * (p0 * g + h10) - p0 * ph[0])
    j2 = k * (p0 * d2psi + dpsi * (p0 * g + h10) - p0 * dphi + ps[0] * dh10 + delta * np.exp(-g * L))
    return j, j1, j2


def _z_nodes(n: int, edges) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre panels on ``edges`` (below 40) and Gauss-Laguerre beyond 40, weights times
    the exponential factor's density."""
    edges = sorted(e for e in set(edges) | {0.0, 40.0} if e <= 40.0)
    z, wz = [], []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        zi, wi = ref._gauss(a, b, n)
        z.append(zi)
        wz.append(wi * np.exp(-zi))
    zl, wl = np.polynomial.laguerre.laggauss(n)
    z.append(zl + 40.0)
    wz.append(wl * math.exp(-40.0))
    return np.concatenate(z), np.concatenate(wz)


def _mixed_jumps(fjbar, L: float, h: float) -> tuple[float, float, float]:
    r"""(:math:`J_1, J_2, J_3`) from ``fjbar(x)`` = (:math:`f_X\bar j`, :math:`f_X\bar j_1`,
    :math:`f_X\bar j_2`) at :math:`x`: near :math:`t = 2L^+` the mixture
    :math:`\int_L^{t - L} f_X(x)\sum_i\bar j_i(x)(t - L - x)^i/i!\,dx = J_1\epsilon + J_2\epsilon^2/2
    + J_3\epsilon^3/6 + \dots` (:math:`\epsilon = t - 2L`), so :math:`J_1 = P_0`,
    :math:`J_2 = P_0' + P_1`, :math:`J_3 = P_0'' + P_1' + P_2` at :math:`L^+`
    (:math:`P_i = f_X\bar j_i`; derivatives by one-sided differences of step ``h`` L)."""
    P = [np.asarray(fjbar(L + i * h * L), float) for i in range(4)]
    H = h * L
    d1 = (-3.0 * P[0][0] + 4.0 * P[1][0] - P[2][0]) / (2.0 * H)
    d2 = (2.0 * P[0][0] - 5.0 * P[1][0] + 4.0 * P[2][0] - P[3][0]) / H ** 2
    d1b = (-3.0 * P[0][1] + 4.0 * P[1][1] - P[2][1]) / (2.0 * H)
    return float(P[0][0]), float(d1 + P[0][1]), float(d2 + d1b + P[0][2])


def kink_jumps(law: ref.Law, lam: float, gam: float, n: int = 32, h: float = 1e-3) -> tuple[float, float, float]:
    r"""(:math:`J_1, J_2, J_3`): the jumps at :math:`t = 2L` of the slope, the second and the third
    derivative of the density of :math:`T` (TRAIL(:math:`\gamma`), SPRPT at 1): :func:`_mixed_jumps`
    of the class jumps (:func:`class_jumps`) averaged over :math:`Z` (Gauss-Legendre panels split
    at 1 and :math:`1/\gamma`, where :math:`d` switches form; Gauss-Laguerre beyond 40)."""
    z, wz = _z_nodes(n, {1.0, 1.0 / gam})

    def fj(x):
        return law.pdf(x) * np.array([jj @ wz for jj in class_jumps(law, lam, gam, np.full(z.size, x), x * z, n)])

    return _mixed_jumps(fj, law.lo, h)


def two_arrival_jump(law: ref.Law, lam: float, gam: float | None, n: int = 32) -> float:
    r"""The jump at :math:`t = 3L` of the second derivative of the density of :math:`T`:
    :math:`f_X(L)E[k p_0 C_2]` at :math:`x = L`, :math:`y = LZ`, :math:`C_2` the coefficient of
    :math:`e^{-2sL}/s^2` in the class transform of :math:`T - x` over :math:`k p_0`: the residence's
    :math:`\exp(\Psi - \int_d^y\Phi_v'(s + g_v)\Phi_v(s + g_v)\,dv)` to second order in the arrivals,
    :math:`\Psi \approx \psi(L)e^{-sL}/s`, :math:`\Phi_v \approx \varphi_v(L)e^{-sL}/s`,
    :math:`\Phi_v' \approx -L\varphi_v(L)e^{-sL}/s`: :math:`C_2 = \psi(L)^2/2 + L\int_d^y\varphi_v(L)^2dv`
    (``gam=None``: PSPJF, the level :math:`y` for a time :math:`x`: :math:`C_2 = \varphi(L)^2(x^2/2 + xL)`,
    :math:`k p_0 = p_0e^{-gx}`)."""
    L = law.lo
    fL = law.pdf(L)
    z, wz = _z_nodes(n, {1.0} | ({1.0 / gam} if gam else set()))
    y = L * z
    if gam is None:
        Y = y[:, None]
        g = lam * (1.0 - law.expect(lambda X: np.exp(-Y / X)))
        p0 = 1.0 - lam * law.expect(lambda X: X * -np.expm1(-Y / X))
        phi = lam * fL * -np.expm1(-y / L) * np.exp(-g * L)
        return float(fL * (p0 * np.exp(-g * L) * phi ** 2 * 1.5 * L * L) @ wz)
    k, p0, g, d = _class_pieces(law, lam, gam, np.full(z.size, L), y)
    vv, wv = _panelled(d, y, np.broadcast_to(_V_CUTS, (y.size, _V_CUTS.size)), n)
    V = vv[..., None]
    gv = lam * (1.0 - law.expect(lambda X: np.exp(-V / X)))
    phiv = lam * fL * -np.expm1(-vv / L) * np.exp(-gv * L)
    C2 = np.sum(wv * phiv, axis=-1) ** 2 / 2.0 + L * np.sum(wv * phiv ** 2, axis=-1)
    return float(fL * (k * p0 * C2) @ wz)


# ---- PSPJF (static rank y: the residence at the level y throughout, no sparse old piece) --------
def pspjf_class_cdf(law: ref.Law, lam: float, x, y, t: float) -> np.ndarray:
    r""":math:`P(T \le t \mid x, y)` of PSPJF for :math:`L \le x \le t < x + 2L`. Its class transform
    is :math:`p_0\,\eta/s\cdot e^{-(\eta - s)x}` (:math:`\eta = \eta_{<y}(s)`,
    :math:`p_0 = 1 - \lambda E[X; Y < y]`: old jobs with :math:`Y > y` never run first), so with
    :math:`\eta = s + g - \Phi` up to two arrivals (module docstring),
    :math:`P(T \le x + w) = p_0e^{-gx}\big(1 + gw + \int_L^w\varphi(u)\,[x(1 + g(w - u)) - (w - u)]\,du\big)`."""
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    L = law.lo
    Y = y[..., None]
    g = lam * (1.0 - law.expect(lambda X: np.exp(-Y / X)))
    p0 = 1.0 - lam * law.expect(lambda X: X * -np.expm1(-Y / X))
    w = t - x
    out = 1.0 + g * w
    one = w > L
    if np.any(one):
        yo, wo, go, xo = y[one], w[one], g[one], x[one]
        uu, wu = ref._gauss(np.full(wo.shape, L), wo, N_U)
        fu = np.array([law.pdf(v) for v in uu.ravel()]).reshape(uu.shape)
        phi = lam * fu * -np.expm1(-yo[:, None] / uu) * np.exp(-go[:, None] * uu)
        lag = wo[:, None] - uu
        out[one] += np.sum(wu * phi * (xo[:, None] * (1.0 + go[:, None] * lag) - lag), axis=-1)
    return p0 * np.exp(-g * x) * out


def pspjf_cdf(law: ref.Law, lam: float, t: float, nx: int = 16, nz: int = 16) -> float:
    r""":math:`P(T \le t)` of PSPJF for :math:`L \le t < 3L` (as :func:`cdf`; :math:`z` panels split
    at :math:`kL/x`, Gauss-Laguerre beyond the last edge below 60)."""
    L = law.lo
    xe = sorted({L, t} | ({t - L} if t - L > L else set()))
    tot = 0.0
    for a, b in zip(xe[:-1], xe[1:], strict=True):
        xs, wx = ref._gauss(a, b, nx)
        for xi, wi in zip(xs, wx, strict=True):
            edges = sorted(e for e in {0.0, 1.0, L / xi, 2.0 * L / xi, 3.0 * L / xi, 8.0, 20.0} if e < 60.0)
            zs, ws = [], []
            for lo_, hi_ in zip(edges[:-1], edges[1:], strict=True):
                z, wz = ref._gauss(lo_, hi_, nz)
                zs.append(z)
                ws.append(wz * np.exp(-z))
            zl, wl = np.polynomial.laguerre.laggauss(nz)
            zs.append(zl + edges[-1])
            ws.append(wl * math.exp(-edges[-1]))
            z, wz = np.concatenate(zs), np.concatenate(ws)
            tot += wi * law.pdf(xi) * float(pspjf_class_cdf(law, lam, np.full(z.size, xi), xi * z, t) @ wz)
    return tot


def pspjf_kink_jumps(law: ref.Law, lam: float, n: int = 32, h: float = 1e-3) -> tuple[float, float, float]:
    r"""PSPJF's (:math:`J_1, J_2, J_3`) as :func:`kink_jumps`: the one-arrival term of
    :func:`pspjf_class_cdf` is :math:`a\int_L^w B(u, w - u)\,du`, :math:`B = \varphi(u)[x(1 + gr) - r]`,
    so :math:`j = a x\varphi(L)`, :math:`j_1 = a[x\varphi' + (gx - 1)\varphi]` and
    :math:`j_2 = a[x\varphi'' + (gx - 1)\varphi']` at :math:`L^+`, :math:`a = p_0e^{-gx}`
    (derivatives of :math:`\varphi` by one-sided differences of step ``h`` L)."""
    L = law.lo
    z, wz = _z_nodes(n, {1.0, 8.0, 20.0})

    def fj(x):
        y = x * z
        Y = y[:, None]
        g = lam * (1.0 - law.expect(lambda X: np.exp(-Y / X)))
        p0 = 1.0 - lam * law.expect(lambda X: X * -np.expm1(-Y / X))
        a = p0 * np.exp(-g * x)

        def phi(u):
            return lam * law.pdf(u) * -np.expm1(-y / u) * np.exp(-g * u)

        H = h * L
        f = [phi(L + i * H) for i in range(4)]
        d1 = (-3.0 * f[0] + 4.0 * f[1] - f[2]) / (2.0 * H)
        d2 = (2.0 * f[0] - 5.0 * f[1] + 4.0 * f[2] - f[3]) / H ** 2
        js = (a * x * f[0], a * (x * d1 + (g * x - 1.0) * f[0]), a * (x * d2 + (g * x - 1.0) * d1))
        return law.pdf(x) * np.array([jj @ wz for jj in js])

    return _mixed_jumps(fj, L, h)
