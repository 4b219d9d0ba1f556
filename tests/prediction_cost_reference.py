r"""An independent evaluation of SkipPredict's mean response time (server-cost model) for
Pareto sizes, uniform multiplicative errors :math:`Y = XZ`, :math:`Z \sim U[a, b]`, and an exact
cheap bit (predicted long iff :math:`X \ge T`), written from the formulas of
``docs/prediction_cost.md`` (section 3) without the library's quadrature or threshold helpers.

The size law enters only through its closed-form partial moments (Pareto, :math:`x_m = 1`):
:math:`E[X^k; X > c] = \alpha c^{k - \alpha}/(\alpha - k)` for :math:`c \ge 1`. The
integrals over :math:`Z` are Gauss-Legendre sums (60 nodes) on the pieces between the kinks
:math:`z = v/T, 1, 1 + v/T` (graded towards :math:`z = 1^+`); the integrals over the threshold :math:`v` are
``scipy.integrate.quad`` on pieces between the kinks of the threshold functions, in
:math:`\log v` beyond them (with the tail beyond :math:`v = e^{340}` in closed form).

SPRPT with every job predicted long is :math:`T = x_m`, :math:`c_1 = 0`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

_T, _W = np.polynomial.legendre.leggauss(60)


def _gl(lo: float, hi: float, fn):
    """int_lo^hi fn(z) dz by 60-point Gauss-Legendre (fn vectorised)."""
    if not hi > lo:
        return 0.0
    z = lo + (hi - lo) * (_T + 1) / 2
    return float(np.sum(_W * fn(z)) * (hi - lo) / 2)


class SkipPredictParetoUniform:
    """E[T] of SkipPredict (server model) with the data of the module docstring."""

    xmin = 1.0

    def __init__(self, alpha: float, a: float, b: float, threshold: float, c1: float, c2: float,
                 lam: float):
        self.al, self.a, self.b = alpha, a, b
        self.T = max(threshold, self.xmin)  # below the support's start every job is long
        self.c1, self.c2, self.lam = c1, c2, lam
        self.L = b - a

    # -- the size law: tails E[X^k; X > c] and windows E[X^k; lo < X <= hi] ------------------
    def tail(self, k: int, c):
        c = np.maximum(np.asarray(c, float), 1.0)
        return self.al * c ** (k - self.al) / (self.al - k)

    def _moment(self, k: int) -> float:
        return self.al / (self.al - k)

    def window(self, k: int, lo, hi):
        lo = np.maximum(np.asarray(lo, float), self.xmin)
        hi = np.asarray(hi, float)
        out = self.tail(k, lo) - np.where(np.isfinite(hi), self.tail(k, np.where(np.isfinite(hi), hi, 1.0)), 0.0)
        return np.where(hi > lo, out, 0.0)

    def pdf(self, x):
        x = np.asarray(x, float)
        return np.where(x >= 1.0, self.al * np.maximum(x, 1.0) ** (-self.al - 1), 0.0)

    # -- long-class functions (X >= T) of the threshold v ---------------------------------------
    def _zcuts(self, v: float) -> list:
        cuts = {self.a, self.b, 1.0}
        if self.T > 0:
            cuts |= {v / self.T, 1.0 + v / self.T}
        return sorted(c for c in cuts if self.a <= c <= self.b)

    def _zint(self, v: float, fn) -> float:
        c = self._zcuts(v)
        out = 0.0
        for lo, hi in zip(c[:-1], c[1:], strict=True):
            if lo == 1.0:
                # the windows v/(z - 1) make the integrand a power of z - 1 at z = 1+ (Pareto:
                # (z - 1)^alpha): z = 1 + (hi - 1) t^4 makes it smooth enough for Gauss-Legendre
                out += _gl(0.0, 1.0, lambda t, hi=hi: fn(1.0 + (hi - 1.0) * t ** 4)
                           * 4.0 * (hi - 1.0) * t ** 3)
            else:
                out += _gl(lo, hi, fn)
        return out / self.L

    def A(self, v: float) -> float:
        """E[X; X >= T, XZ < v]."""
        return self._zint(v, lambda z: self.window(1, self.T, v / z))

    def B(self, v: float) -> float:
        return self._zint(v, lambda z: self.window(2, self.T, v / z))

    def C(self, v: float) -> float:
        r"""E[(X(1 - Z) + v)^2; X >= T, XZ > v, X(Z - 1) < v]."""

        def fn(z):
            lo = np.maximum(self.T, v / z)
            hi = np.where(z > 1, v / np.where(z > 1, z - 1, 1.0), np.inf)
            om = 1.0 - z
            return (om * om * self.window(2, lo, hi) + 2 * v * om * self.window(1, lo, hi)
                    + v * v * self.window(0, lo, hi))

        return self._zint(v, fn)

    def G(self, w: float) -> float:
        """P(X >= T, XZ >= w, X(Z - 1) < w): the jobs whose remaining prediction sweeps w."""

        def fn(z):
            lo = np.maximum(self.T, w / z)
            hi = np.where(z > 1, w / np.where(z > 1, z - 1, 1.0), np.inf)
            return self.window(0, lo, hi)

        return self._zint(w, fn)

    def fY(self, v: float) -> float:
        """Density of Y on the long jobs: E_Z[f(v/Z)/Z; v/Z >= T]."""
        return self._zint(v, lambda z: np.where(v / z >= self.T, self.pdf(v / z) / z, 0.0))

    # -- E[T] ---------------------------------------------------------------------------------
    def mean(self) -> float:
        lam, c1, c2 = self.lam, self.c1, self.c2
        s = c1 + c2
        pS = 1.0 - float(self.tail(0, self.T))
        m1S = self._moment(1) - float(self.tail(1, self.T))
        m2S = self._moment(2) - float(self.tail(2, self.T))
        pL = 1.0 - pS
        rho1 = lam * (c1 + m1S)
        rhob = lam * (c1 + m1S + c2 * pL)
        short = pS * (c1 + lam * (c1 * c1 + 2 * c1 * m1S + m2S) / (2 * (1 - rho1))) + m1S
        K0 = c1 * c1 * pS + 2 * c1 * m1S + m2S + s * s * pL

        def d(v):
            return 1.0 - rhob - lam * self.A(v)

        def wait(v):
            dv = d(v)
            return self.fY(v) * (lam * (K0 + 2 * s * self.A(v) + self.B(v) + self.C(v))
                                 / (2 * dv * dv) + s / dv)

        def sweep(v):
            return self.G(v) / d(v)

        kinks = sorted({self.T * self.a, self.T * self.b, self.T * (self.b - 1),
                        self.T, self.T * (1 - self.a)})
        kinks = [k for k in kinks if k > 0] or [1.0]
        total = 0.0
        for fn in (wait, sweep):
            pts = [0.0] + kinks
            for lo, hi in zip(pts[:-1], pts[1:], strict=True):
                total += integrate.quad(fn, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
            # beyond the last kink, in u = log v (power-law tails), up to v = e^340 (v^2 stays
            # finite)
            u0 = math.log(pts[-1])
            for lo, hi in ((u0, u0 + 5), (u0 + 5, u0 + 20), (u0 + 20, u0 + 80), (u0 + 80, 340.0)):
                total += integrate.quad(lambda u, fn=fn: fn(math.exp(u)) * math.exp(u), lo, hi,
                                        epsabs=0, epsrel=1e-13, limit=200)[0]
        # beyond W = e^340: G(w) = K w^{-alpha} with K = E[Z^alpha - ((Z - 1)^+)^alpha] and
        # d(w) -> 1 - rho_b - lam E[X; long] (the wait term and the rest decay like
        # W^{2 - 2 alpha}); it matters for alpha near 1 (Pareto(1.05): W^{1 - alpha} = 4e-8)
        total += self._beyond(math.exp(340.0), rhob)
        # E[(X - Y)^+; long] / (1 - rho_b): E[X; X >= T] E[(1 - Z)^+]
        ex = ((1 - self.a) ** 2 - (1 - min(self.b, 1.0)) ** 2) / (2 * self.L) if self.a < 1 else 0.0
        total += float(self.tail(1, self.T)) * ex / (1 - rhob)
        return short + total

    def _beyond(self, W: float, rhob: float) -> float:
        """The sweep term beyond W (Pareto: K W^{1 - alpha} / ((alpha - 1) d))."""
        K = _gl(self.a, self.b, lambda z: z ** self.al - np.maximum(z - 1, 0.0) ** self.al) / self.L
        d_inf = 1.0 - rhob - self.lam * float(self.tail(1, self.T))
        return K * W ** (1 - self.al) / ((self.al - 1) * d_inf)


class SkipPredictWeibullUniform(SkipPredictParetoUniform):
    r"""The same for Weibull sizes of shape :math:`\beta` and scale :math:`s`:
    :math:`E[X^k; X > c] = s^k \Gamma(1 + k/\beta, (c/s)^\beta)` (upper incomplete gamma)."""

    xmin = 0.0

    def __init__(self, shape: float, mean: float, a: float, b: float, threshold: float,
                 c1: float, c2: float, lam: float):
        self.beta = shape
        self.scale = mean / special.gamma(1 + 1 / shape)
        super().__init__(math.inf, a, b, threshold, c1, c2, lam)

    def tail(self, k: int, c):
        c = np.maximum(np.asarray(c, float), 0.0)
        g = 1 + k / self.beta
        return self.scale ** k * special.gamma(g) * special.gammaincc(g, (c / self.scale) ** self.beta)

    def pdf(self, x):
        x = np.asarray(x, float)
        u = np.maximum(x, 1e-300) / self.scale
        return np.where(x > 0, self.beta / self.scale * u ** (self.beta - 1)
                        * np.exp(-u ** self.beta), 0.0)

    def _moment(self, k: int) -> float:
        return float(self.tail(k, 0.0))

    def _beyond(self, W: float, rhob: float) -> float:
        return 0.0  # P(X > e^340) = 0 in doubles
