r"""An independent reference for the falling prediction rank :math:`y/(1 + a)` on Exp(1) sizes
with a uniform error factor :math:`Z \sim U[z_l, z_h]` (``UniformPrediction``,
``BoundedMultiplicative(z_l, z_h)``): a class's mean waiting time from SOAP's formula
(Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018; ``docs/soap_predictions.md``, "User
prediction ranks"), written without the engine's helpers:

.. math::
    E[W \mid y] = \frac{\lambda\,(B(y) + Q(y))}{2\,(1 - \lambda N(y))^2},\qquad
    N(y) = E[X;\ Y < y],\quad B(y) = E[X^2;\ Y \le y],\quad
    Q(y) = E\big[((X - b_Y(y))^+)^2;\ Y > y\big],

with the rank's age to reach level :math:`y` from prediction :math:`y'`,
:math:`b_{y'}(y) = y'/y - 1` (the rank is compared on the prediction scale: its fresh rank is
:math:`y` itself). With :math:`Y = xz` the remainder is :math:`x(1 - z/y) + 1`, positive for
all :math:`x` when :math:`z \le y` and for :math:`x < y/(z - y)` when :math:`z > y`; the
:math:`x` integrals are closed forms for :math:`e^{-x}`, the :math:`z` integrals scipy's
adaptive quadrature (a breakpoint at :math:`z = y`). Checked against mpmath at 30 digits
(the same integrals, :math:`x` by quadrature too) to 3e-16 at :math:`y = 1.501, 0.501, 1.51`.

Also: :func:`class_waiting_mean_sqrt` (the rank :math:`y/(1 + a)^2`), :func:`class_transform`
(a class's transform: Kendall's roots by Newton's method, the old piece by closed forms in
:math:`x`; the engine's class laws agree to 3.4e-15 at the Euler nodes of :math:`t = 1.5`,
which checks both) and :func:`class_mixture_cdf_cut` (the unconditional cdf from the class laws).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.integrate import quad

_KW = {"epsabs": 0.0, "epsrel": 1e-13, "limit": 200}


def class_waiting_mean(y: float, lam: float, zl: float, zh: float) -> float:
    """:math:`E[W | y]` of :math:`y/(1 + a)` at arrival rate ``lam`` (module docstring)."""
    dens = 1.0 / (zh - zl)

    def n1(z):  # int_0^{y/z} x e^{-x} dx
        u = y / z
        return 1.0 - math.exp(-u) * (1.0 + u)

    def n2(z):  # int_0^{y/z} x^2 e^{-x} dx
        u = y / z
        return 2.0 - math.exp(-u) * (u * u + 2.0 * u + 2.0)

    def q(z):  # int (a x + 1)^2 e^{-x} dx over x > y/z where a x + 1 > 0
        a = 1.0 - z / y

        def prim(x):  # an antiderivative of (a x + 1)^2 e^{-x}
            return -math.exp(-x) * ((a * x + 1.0) ** 2 + 2.0 * a * (a * x + 1.0) + 2.0 * a * a)

        lo = y / z
        if z > y:
            hi = y / (z - y)
            return prim(hi) - prim(lo) if hi > lo else 0.0
        return -prim(lo)

    pts = [y] if zl < y < zh else None
    N = dens * quad(n1, zl, zh, **_KW)[0]
    B = dens * quad(n2, zl, zh, **_KW)[0]
    Q = dens * quad(q, zl, zh, points=pts, **_KW)[0]
    return lam * (B + Q) / (2.0 * (1.0 - lam * N) ** 2)


def class_waiting_mean_sqrt(y: float, lam: float, zl: float, zh: float) -> float:
    r""":math:`E[W \mid y]` of :math:`y/(1 + a)^2` (:math:`b_{y'}(y) = \sqrt{y'/y} - 1`): as
    :func:`class_waiting_mean` with the remainder :math:`x - \sqrt{xz/y} + 1`, negative
    between its roots :math:`\sqrt{x} = (c \pm \sqrt{c^2 - 4})/2`, :math:`c = \sqrt{z/y}`
    (where :math:`z > 4y`): the :math:`x` integral by quadrature on the pieces between the
    roots, the :math:`z` integral with a breakpoint at :math:`4y`. Its :math:`\Phi_k(y') =
    y'/k - b_{y'}(v)` has an interior minimum (:func:`~qtheory.engine.
    response_distribution_prediction_rank._extrema`)."""
    kw = {"epsabs": 0.0, "epsrel": 1e-12, "limit": 400}
    dens = 1.0 / (zh - zl)

    def n1(z):
        u = y / z
        return 1.0 - math.exp(-u) * (1.0 + u)

    def n2(z):
        u = y / z
        return 2.0 - math.exp(-u) * (u * u + 2.0 * u + 2.0)

    def q(z):
        lo = y / z
        c = math.sqrt(z / y)

        def g(x):
            return max(x - c * math.sqrt(x) + 1.0, 0.0) ** 2 * math.exp(-x)

        edges = [lo]
        if c > 2.0:
            d = math.sqrt(c * c - 4.0)
            edges += sorted(r for r in (((c - d) / 2.0) ** 2, ((c + d) / 2.0) ** 2) if r > lo)
        tot = sum(quad(g, a, b, **kw)[0] for a, b in zip(edges[:-1], edges[1:], strict=True))
        return tot + quad(g, edges[-1], math.inf, **kw)[0]

    pts = [4.0 * y] if zl < 4.0 * y < zh else None
    N = dens * quad(n1, zl, zh, **kw)[0]
    B = dens * quad(n2, zl, zh, **kw)[0]
    Q = dens * quad(q, zl, zh, points=pts, **kw)[0]
    return lam * (B + Q) / (2.0 * (1.0 - lam * N) ** 2)


# ---- the class transform ---------------------------------------------------------------------------------


def _gl_panels(a: float, b: float, n_pan: int, order: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre with ``order`` nodes on each of ``n_pan`` equal panels of ``[a, b]``."""
    g, w = np.polynomial.legendre.leggauss(order)
    e = np.linspace(a, b, n_pan + 1)
    h = np.diff(e)[:, None]
    return ((e[:-1, None] + (g[None, :] + 1.0) * h / 2.0).ravel(), (w[None, :] * h / 2.0).ravel())


def _z_rule(zl: float, zh: float, n_pan: int, cut: float | None = None):
    """The factor's rule (weights include the density 1/(zh - zl)), cut at ``cut`` if inside."""
    if cut is not None and zl < cut < zh:
        n1 = max(2, round(n_pan * (cut - zl) / (zh - zl)))
        z1, w1 = _gl_panels(zl, cut, n1)
        z2, w2 = _gl_panels(cut, zh, max(2, n_pan - n1))
        z, w = np.concatenate([z1, z2]), np.concatenate([w1, w2])
    else:
        z, w = _gl_panels(zl, zh, n_pan)
    return z, w / (zh - zl)


def _lower_terms(u: np.ndarray, v: np.ndarray, z: np.ndarray, wz: np.ndarray):
    r""":math:`E[1 - e^{-uX}; XZ < v]` and its derivative in :math:`u` (shapes ``(S, V)``),
    closed forms in :math:`x` (:math:`m = v/z`: :math:`\int_0^m (1 - e^{-ux})e^{-x}dx =
    1 - e^{-m} - (1 - e^{-(1 + u)m})/(1 + u)`)."""
    m = v[None, :, None] / z[None, None, :]
    up = 1.0 + u[:, :, None]
    e = np.exp(-up * m)
    a = (1.0 - np.exp(-m)) - (1.0 - e) / up
    da = (1.0 - e * (1.0 + up * m)) / up ** 2
    return a @ wz, da @ wz


def eta_below(s: np.ndarray, v: np.ndarray, lam: float, zl: float, zh: float, n_pan: int = 96) -> np.ndarray:
    r"""Kendall's root :math:`\eta_{<v}(s) = s + \lambda E[1 - e^{-\eta X}; Y < v]` (rows ``s``,
    columns ``v``) by Newton's method from :math:`s`, the :math:`z` integral on ``n_pan``
    Gauss-Legendre panels of 16 nodes."""
    s = np.asarray(s, complex)
    v = np.asarray(v, float)
    z, wz = _z_rule(zl, zh, n_pan)
    out = np.empty((s.size, v.size), complex)
    for i, si in enumerate(s):
        u = np.full((1, v.size), si)
        for _ in range(60):
            a, da = _lower_terms(u, v, z, wz)
            step = (u - si - lam * a) / (1.0 - lam * da)
            u = u - step
            if np.max(np.abs(step) / np.abs(u)) < 1e-15:
                break
        out[i] = u[0]
    return out


def class_transform(s, x: float, y: float, lam: float, zl: float, zh: float, n_pan: int = 96,
                    v_pan: int | None = None) -> np.ndarray:
    r""":math:`E[e^{-s(T - x)} \mid x, y]` of :math:`y/(1 + a)` (SOAP, the module's
    references): :math:`\tilde V_y(\eta_{<y}(s))\,e^{-R}` with

    .. math::
        \tilde V_y(u) = \frac{(1 - \rho_0 - \rho_1)u + \lambda E[1 - e^{-uX_1}]}
                             {u - \lambda E[1 - e^{-uX}; Y \le y]},\qquad
        R = \int_0^x (\eta_{<y/(1 + a)}(s) - s)\,da
          = \int_{y/(1 + x)}^{y} (\eta_{<v}(s) - s)\,\frac{y\,dv}{v^2},

    :math:`X_1 = (X(1 - Z/y) + 1)^+ 1\{XZ > y\}`: for a factor :math:`z` the sizes
    :math:`x > y/z` up to :math:`y/(z - y)` where :math:`z > y`, and
    :math:`\int_{lo}^{hi}(1 - e^{-u(cx + 1)})e^{-x}dx = e^{-lo} - e^{-hi} -
    e^{-u}e^{-d\,lo}(1 - e^{-d(hi - lo)})/d` (:math:`c = 1 - z/y`, :math:`d = 1 + uc`); the
    :math:`z` integrals cut at :math:`z = y`, the :math:`v` integral on ``v_pan`` panels (by
    default one per oscillation of :math:`e^{-sv/z_l}`)."""
    s = np.atleast_1d(np.asarray(s, complex))
    u = eta_below(s, np.array([y]), lam, zl, zh, n_pan)[:, 0]
    z, wz = _z_rule(zl, zh, n_pan, cut=y)
    lo = y / z
    c = 1.0 - z / y
    with np.errstate(divide="ignore", over="ignore"):
        hi = np.where(z > y, y / np.maximum(z - y, 1e-300), np.inf)
    e_hi = np.exp(-hi)
    rho0 = lam * float((1.0 - np.exp(-lo) * (1.0 + lo)) @ wz)
    prim_lo = -np.exp(-lo) * (c * lo + 1.0 + c)
    prim_hi = np.where(np.isfinite(hi), -e_hi * (c * np.where(np.isfinite(hi), hi, 0.0) + 1.0 + c), 0.0)
    rho1 = lam * float((prim_hi - prim_lo) @ wz)
    d = 1.0 + u[:, None] * c[None, :]
    L = (hi - lo)[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        tail = np.where(np.isfinite(L), -np.expm1(-d * np.where(np.isfinite(L), L, 0.0)), 1.0)
    e1 = (np.exp(-lo) - e_hi)[None, :] - np.exp(-u)[:, None] * np.exp(-d * lo[None, :]) * tail / d
    ex1 = e1 @ wz
    a0, _ = _lower_terms(u[:, None], np.array([y]), *_z_rule(zl, zh, n_pan))
    V = ((1.0 - rho0 - rho1) * u + lam * ex1) / (u - lam * a0[:, 0])
    va = y / (1.0 + x)
    if v_pan is None:
        v_pan = max(4, int(np.ceil(np.max(np.abs(s)) * (y - va) / zl / (2.0 * np.pi))) + 4)
    v, wv = _gl_panels(va, y, v_pan)
    et = eta_below(s, v, lam, zl, zh, n_pan)
    R = (et - s[:, None]) @ (wv * y / v ** 2)
    return V * np.exp(-R)


def class_mixture_cdf_cut(q, policy, t: float, zl: float, zh: float, nx: int = 8, nz: int = 5,
                          x_panels: int = 3, xstart: float = -1.0) -> float:
    r""":math:`P(T \le t) = \int_0^t e^{-x} \int f_Z(z) P(T \le t \mid x, xz)\,dz\,dx` (Exp(1)
    sizes, :math:`Z \sim U[z_l, z_h]`) from the class laws (checked on their own: their
    transforms against :func:`class_transform`), Gauss-Legendre with ``nx`` nodes on each of
    ``x_panels`` equal panels of :math:`[0, t]` and ``nz`` nodes on each panel in :math:`z`
    between the edges :math:`z_l, 1, z_h`, :math:`k/x` (the flat thresholds :math:`y = k`,
    :math:`k = z_l, z_h`: the class law is not analytic in :math:`y` there) and
    :math:`c(t - x)/x`, :math:`c = z_l, 1, z_h` (where :math:`x + y/c = t`: the law of a class
    with no arrival during its service has a kink at :math:`x` plus the old piece's edges
    :math:`y/z_h, y, y/z_l`); the nodes :math:`x <` ``xstart`` are left out."""
    from qtheory.engine.response_distribution import response_time_distribution as rtd

    g, w = np.polynomial.legendre.leggauss(nx)
    gz, wz = np.polynomial.legendre.leggauss(nz)
    total = 0.0
    xe = np.linspace(0.0, t, x_panels + 1)
    for lo, hi in zip(xe[:-1], xe[1:], strict=True):
        for xi, wxi in zip((g + 1) / 2 * (hi - lo) + lo, w * (hi - lo) / 2, strict=True):
            if xi < xstart:
                continue
            cuts = [zl, 1.0, zh, zl / xi, zh / xi] + [c * (t - xi) / xi for c in (zl, 1.0, zh)]
            ze = np.unique(np.clip(cuts, zl, zh))
            inner = 0.0
            for a, b in zip(ze[:-1], ze[1:], strict=True):
                if b - a < 1e-12:
                    continue
                for zi, wzi in zip((gz + 1) / 2 * (b - a) + a, wz * (b - a) / 2, strict=True):
                    inner += wzi * float(rtd(q, policy, x=xi, y=xi * zi).cdf(t))
            total += wxi * math.exp(-xi) * inner / (zh - zl)
    return total
