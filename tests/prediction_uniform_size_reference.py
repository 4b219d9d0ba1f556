r"""An independent reference for the unconditional response-time law of PSPJF and SPJF on
uniform sizes :math:`X \sim U[a, b]` (``qt.Uniform(a, b)``, :math:`a > 0`: the density jumps at
the lower end) with uniform multiplicative predictions :math:`Y = XZ`,
:math:`Z \sim U[z_l, z_h]` independent of :math:`X` (``qt.UniformPrediction(alpha)``:
:math:`[1 - \alpha, 1 + \alpha]`), in numpy and scipy only. Nothing here imports the library.

SOAP's decomposition (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018;
``docs/response_time_distribution.md``, section 5): a class :math:`(x, y)` has

.. math::
    E[e^{-sT}\mid x, y] = \tilde V_y(\eta_y)\times\begin{cases}
        e^{-x\eta_y} & \text{PSPJF},\\ e^{-sx} & \text{SPJF},\end{cases}\qquad
    \eta_y = s + \lambda\big(P(y) - M(\eta_y, y)\big),

with :math:`M(u, v) = E[e^{-uX}F_Z(v/X)]`, :math:`P(v) = M(0, v) = P(Y < v)`, in closed form on
the pieces of :math:`x` where :math:`F_Z(v/x)` is 1 or :math:`(v/x - z_l)/(z_h - z_l)` (cut at
:math:`v/z_h`, :math:`v/z_l` and the size's ends: :math:`\int e^{-ux}dx`,
:math:`\int e^{-ux}dx/x = E_1(up) - E_1(uq)`, :math:`\int x e^{-ux}dx`), Kendall's equation by
Newton's method at every prediction node, and
:math:`\tilde V_y(\eta_y) = ((1 - \rho_0 - \rho_1)\eta_y + \lambda E[1 - e^{-\eta_y X_1}])/s`
(:math:`X_1 = 0`, PSPJF; :math:`X1\{Y > y\}`, SPJF, :math:`\rho_0 + \rho_1 = \rho`).

Mixed over the joint density :math:`f_X(x)f_Z(y/x)/x` the size integral is closed,
:math:`\int_{x_-(y)}^{x_+(y)} e^{-ux}\,dx/x = E_1(ux_-) - E_1(ux_+)` with
:math:`x_\mp = \max(a, y/z_h)`, :math:`\min(b, y/z_l)` (:math:`u = \eta_y`, PSPJF; :math:`s`,
SPJF), and the prediction integral is composite Gauss-Legendre on panels cut at every kink of
the integrand in :math:`y` (:math:`a z_l, a z_h, b z_l, b z_h`: the size's ends' images under
the factor's ends), each panel cut so that :math:`e^{-\eta y/z_l}` is resolved
(``y_rad`` radians a panel at most; checked by halving it).

The law is split as the engine's split of a density jump at :math:`c = a` is (written again
here): the atoms :math:`a(x, y) = p_0(y)e^{-\lambda xP(y)}` (PSPJF, :math:`p_0 = 1 - \rho_0(y)`),
:math:`1 - \rho` (SPJF), whose part of the cdf :math:`\int_a^t f_X\bar a\,dx` is Gauss-Legendre in
:math:`(x, z)` (:math:`z` cut where :math:`xz` is one of those kinks of :math:`y`), and the rest, whose
transform shifted by :math:`c`, :math:`e^{sc}(\phi(s) - \int f_X\bar a e^{-sx}dx)`, is inverted
at :math:`t - c` by the Euler summation of Abate and Whitt (:func:`euler_sf`, any ``(A, N, M)``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

#: Gauss-Legendre nodes per panel
ORDER = 20
_GX, _GW = np.polynomial.legendre.leggauss(ORDER)
_GX, _GW = (_GX + 1.0) / 2.0, _GW / 2.0


def _panels(edges, per):
    edges = np.asarray(edges, float)
    per = np.broadcast_to(np.asarray(per, int), (edges.size - 1,))
    e = np.concatenate([np.linspace(p, q, k + 1)[:-1] for p, q, k in zip(edges[:-1], edges[1:], per, strict=True)]
                       + [edges[-1:]])
    h = np.diff(e)
    return (e[:-1, None] + h[:, None] * _GX).ravel(), (h[:, None] * _GW).ravel()


def _i0(u, p, q):
    r""":math:`\int_p^q e^{-ux}\,dx` (``u`` complex, not 0)."""
    return -np.exp(-u * p) * np.expm1(-u * (q - p)) / u


def _j(u, p, q):
    r""":math:`\int_p^q x e^{-ux}\,dx` (``u`` not 0)."""
    return (np.exp(-u * p) * (1.0 + u * p) - np.exp(-u * q) * (1.0 + u * q)) / (u * u)


def _e1d(u, p, q):
    r""":math:`\int_p^q e^{-ux}\,dx/x = E_1(up) - E_1(uq)` (0 where ``q <= p``)."""
    ok = q > p
    pp, qq = np.where(ok, p, 1.0), np.where(ok, q, 1.0)
    return np.where(ok, special.exp1(u * pp) - special.exp1(u * qq), 0.0)


class Reference:
    """The unconditional law of PSPJF (``policy="pspjf"``) or SPJF (``"spjf"``) at arrival rate
    ``lam``, sizes U[a, b], factor U[zl, zh]."""

    def __init__(self, lam: float, a: float, b: float, zl: float, zh: float, policy: str = "pspjf"):
        self.lam, self.a, self.b, self.zl, self.zh = float(lam), float(a), float(b), float(zl), float(zh)
        self.fx, self.fz = 1.0 / (b - a), 1.0 / (zh - zl)
        self.policy = policy
        self.c = self.a
        self.rho = self.lam * (a + b) / 2.0
        #: the kinks in y of the classes' functions: the size's ends times the factor's ends
        k = sorted({a * zl, a * zh, b * zl, b * zh})
        self.yedges = np.array(k)

    # -- the level functions ---------------------------------------------------------------------
    def _pieces(self, v):
        """The x pieces where F_Z(v/x) = 1 ([a, p1]) and (v/x - zl)/(zh - zl) ([p1, q1])."""
        a, b = self.a, self.b
        p1 = np.clip(v / self.zh, a, b)
        q1 = np.clip(v / self.zl, a, b)
        return p1, q1

    def M(self, u, v):
        r""":math:`M(u, v) = E[e^{-uX}F_Z(v/X)]` and :math:`\partial_u M` (``u`` complex, not 0)."""
        p1, q1 = self._pieces(v)
        m = self.fx * (_i0(u, self.a, p1) + self.fz * (v * _e1d(u, p1, q1) - self.zl * _i0(u, p1, q1)))
        dm = -self.fx * (_j(u, self.a, p1) + self.fz * (v * _i0(u, p1, q1) - self.zl * _j(u, p1, q1)))
        return m, dm

    def P(self, v):
        r""":math:`P(Y < v)` and :math:`E[X; Y < v]`."""
        p1, q1 = self._pieces(v)
        a, zl = self.a, self.zl
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.where(q1 > p1, np.log(q1 / p1), 0.0)
        pv = self.fx * ((p1 - a) + self.fz * (v * lg - zl * (q1 - p1)))
        ex = self.fx * ((p1 ** 2 - a ** 2) / 2.0 + self.fz * (v * (q1 - p1) - zl * (q1 ** 2 - p1 ** 2) / 2.0))
        return pv, ex

    def Ex(self, u):
        r""":math:`E[e^{-uX}]`."""
        return self.fx * _i0(u, self.a, self.b)

    def eta(self, s, v):
        r""":math:`\eta_{<v}(s)` by Newton's method (``s``, ``v`` broadcast)."""
        s, v = np.broadcast_arrays(np.asarray(s, complex), np.asarray(v, float))
        pv = self.P(v)[0]
        e = s + self.lam * pv
        done = 0
        for _ in range(80):
            m, dm = self.M(e, v)
            f = e - s - self.lam * (pv - m)
            de = f / (1.0 + self.lam * dm)
            e = e - de
            done = done + 1 if np.all(np.abs(de) <= 1e-13 * np.abs(e)) else 0
            if done == 2:
                break
        return e

    def delay(self, s, y, eta):
        r""":math:`\tilde V_y(\eta_y)` (``s`` broadcast against ``y``)."""
        lam = self.lam
        pv, ex = self.P(y)
        if self.policy == "pspjf":
            return (1.0 - lam * ex) * eta / s
        old = (1.0 - pv) - (self.Ex(eta) - self.M(eta, y)[0])
        return ((1.0 - self.rho) * eta + lam * old) / s

    def p0(self, y):
        """The atom of the old-job delay, 1 - rho_0 - rho_1."""
        return 1.0 - self.lam * self.P(y)[1] if self.policy == "pspjf" else np.full(np.shape(y), 1.0 - self.rho)

    # -- the transform ---------------------------------------------------------------------------
    def _ynodes(self, smax: float, y_rad: float):
        e = self.yedges
        per = np.maximum(2, np.ceil(np.diff(e) * (smax + 1.0) / self.zl / y_rad)).astype(int)
        return _panels(e, per)

    def _xends(self, y):
        return np.maximum(self.a, y / self.zh), np.minimum(self.b, y / self.zl)

    def rest_lst(self, s, y_rad: float = 6.0):
        r""":math:`e^{sc}\big(\phi(s) - \int f_X\bar a\,e^{-sx}dx\big)` at each complex ``s``."""
        s = np.atleast_1d(np.asarray(s, complex))
        out = np.empty(s.size, complex)
        for i, si in enumerate(s):
            y, w = self._ynodes(abs(si), y_rad)
            lo, hi = self._xends(y)
            eta = self.eta(si, y)
            V = self.delay(si, y, eta)
            p0 = self.p0(y)
            ec = np.exp(si * self.c)
            if self.policy == "pspjf":
                ua = si + self.lam * self.P(y)[0]
                f = V * _e1d(eta, lo, hi) * ec - p0 * _e1d(ua, lo, hi) * ec
            else:
                f = (V - p0) * _e1d(si, lo, hi) * ec
            out[i] = self.fx * self.fz * np.sum(w * f)
        return out

    def lst(self, s, y_rad: float = 6.0):
        r""":math:`\phi(s) = E[e^{-sT}]`."""
        s = np.atleast_1d(np.asarray(s, complex))
        out = np.empty(s.size, complex)
        for i, si in enumerate(s):
            y, w = self._ynodes(abs(si), y_rad)
            lo, hi = self._xends(y)
            eta = self.eta(si, y)
            V = self.delay(si, y, eta)
            f = V * _e1d(eta if self.policy == "pspjf" else si, lo, hi)
            out[i] = self.fx * self.fz * np.sum(w * f)
        return out

    # -- the atoms' part ---------------------------------------------------------------------------
    def abar(self, x):
        r""":math:`\bar a(x) = E[a(x, xZ)]` (Gauss-Legendre in :math:`z`, cut where :math:`xz` is a
        kink of :math:`y`)."""
        out = np.empty(np.size(x))
        for i, xi in enumerate(np.atleast_1d(x)):
            cuts = [k / xi for k in self.yedges if self.zl < k / xi < self.zh]
            z, w = _panels([self.zl] + cuts + [self.zh], 2)
            y = xi * z
            if self.policy == "pspjf":
                a = self.p0(y) * np.exp(-self.lam * xi * self.P(y)[0])
            else:
                a = self.p0(y)
            out[i] = self.fz * np.sum(w * a)
        return out

    def part_cdf(self, t: float) -> float:
        r""":math:`\int_a^t f_X\bar a\,dx`."""
        hi = min(float(t), self.b)
        if hi <= self.a:
            return 0.0
        x, w = _panels([self.a, hi], 4)
        return float(self.fx * np.sum(w * self.abar(x)))

    def part_total(self) -> float:
        return self.part_cdf(self.b)

    # -- the rest's kinks --------------------------------------------------------------------------
    def _zmean(self, fn, x0: float) -> float:
        cuts = [k / x0 for k in self.yedges if self.zl < k / x0 < self.zh]
        z, w = _panels([self.zl] + cuts + [self.zh], 4)
        return float(self.fz * np.sum(w * fn(z)))

    def _fzc(self, w):
        return np.clip((w - self.zl) / (self.zh - self.zl), 0.0, 1.0)

    def kinks(self) -> list[tuple[float, float]]:
        r"""The leading kinks of the rest's density: ``(t_k, K_k)`` with the rest's transform
        :math:`\sim K_k e^{-s(t_k - c)}/s^2`. PSPJF's class transform is exactly
        :math:`a(1 + \lambda(P - m)/s)e^{\lambda xm}` (:math:`m = M(\eta_y, y)`, :math:`a =
        p_0e^{-\lambda xP}`), so :math:`\Phi - a = a\lambda P/s + a\lambda xm + \ldots` with
        :math:`m \approx \sum_{x_1}\sigma_1 f_XF_Z(y/x_1)e^{-(s + \lambda P)x_1}/s` over the
        size's ends (:math:`\sigma = \pm1` at :math:`a`, :math:`b`); the size integral
        :math:`\int_a^b g e^{-s(x - a)}dx \approx (g(a) - g(b)e^{-s(b - a)})/s`. So a kink at
        :math:`t = b` (:math:`K = -f_XE[a(b, bZ)\lambda P(bZ)]`; SPJF:
        :math:`-f_X\lambda E[(1 - \rho)P(bZ) + 1 - P(bZ)]`) and, PSPJF, at :math:`x_0 + x_1`:
        :math:`K = \sigma_0\sigma_1 f_X^2\lambda x_0E[a(x_0, x_0Z)F_Z(x_0Z/x_1)
        e^{-\lambda P(x_0Z)x_1}]`."""
        a, b, lam, fx = self.a, self.b, self.lam, self.fx
        if self.policy != "pspjf":
            return [(b, -fx * lam * self._zmean(lambda z: (1 - self.rho) * self.P(b * z)[0] + 1 - self.P(b * z)[0],
                                                b))]

        def am(x, y):
            return self.p0(y) * np.exp(-lam * x * self.P(y)[0])

        out = [(b, -fx * self._zmean(lambda z: am(b, b * z) * lam * self.P(b * z)[0], b))]
        for x0, s0 in ((a, 1.0), (b, -1.0)):
            for x1, s1 in ((a, 1.0), (b, -1.0)):
                out.append((x0 + x1, s0 * s1 * fx * fx * lam * x0 * self._zmean(
                    lambda z, x0=x0, x1=x1: am(x0, x0 * z) * self._fzc(x0 * z / x1)
                    * np.exp(-lam * self.P(x0 * z)[0] * x1), x0)))
        return out

    # -- the cdf -----------------------------------------------------------------------------------
    def cdf(self, t: float, A: float = 26.0, N: int = 24, M: int = 14, y_rad: float = 6.0,
            kinks: bool = False, beta: float = 2.0) -> float:
        r""":math:`P(T \le t)`: the atoms' part plus the rest's sf inverted at :math:`t - c`
        (:func:`euler_sf`). ``kinks``: the rest less the terms
        :math:`K_ke^{-sd_k}(s + 3\beta)/(s + \beta)^3` (:meth:`kinks`, :math:`d_k = t_k - c`),
        whose sf :math:`K_k(w^2 + 3w/\beta + 3/\beta^2)e^{-\beta w}` (:math:`w = u - d_k`) is
        added back: the inverted rest keeps no kink of the first order (the Euler sum converges
        faster)."""
        u = float(t) - self.c
        if u <= 0:
            return 0.0
        pt = self.part_total()
        rbar = 1.0 - pt
        if not kinks:
            sf_rest = euler_sf(lambda s: self.rest_lst(s, y_rad), rbar, u, A, N, M)
            return 1.0 - (pt - self.part_cdf(t)) - sf_rest
        ks = self.kinks()
        d = np.array([k[0] - self.c for k in ks])
        K = np.array([k[1] for k in ks])

        def rest(s):
            s = np.asarray(s, complex)
            part = np.exp(-s[:, None] * d[None, :]) * ((s[:, None] + 3 * beta) / (s[:, None] + beta) ** 3)
            return self.rest_lst(s, y_rad) - part @ K

        w = u - d
        wp = np.maximum(w, 0.0)
        sf_part = np.exp(-beta * wp) * (wp * wp + 3 * wp / beta + 3 / beta ** 2)
        sf_rest = euler_sf(rest, rbar - float(np.sum(3 * K)) / beta ** 2, u, A, N, M) + float(sf_part @ K)
        return 1.0 - (pt - self.part_cdf(t)) - sf_rest


def euler_sf(rest, total: float, u: float, A: float, N: int, M: int) -> float:
    r"""The sf at ``u`` of a measure of mass ``total`` on :math:`[0, \infty)` whose transform is
    ``rest(s)``: the Euler summation (Abate and Whitt, ORSA J. Computing 1995) of the Fourier
    series of :math:`(\bar R - \tilde R(s))/s`, discretization error :math:`e^{-A}`."""
    k = np.arange(N + M + 1)
    s = (A + 2j * np.pi * k) / (2.0 * u)
    g = (total - rest(s)) / s
    terms = (-1.0) ** k * g.real
    terms[0] /= 2.0
    partial = np.cumsum(terms)[N:]
    binom = np.array([math.comb(M, j) for j in range(M + 1)]) / 2.0 ** M
    return float(math.exp(A / 2.0) / u * np.sum(binom * partial))
