r"""An independent evaluation of SkipPredict's mean response time (server-cost model) for
Pareto sizes, uniform multiplicative errors :math:`Y = XZ`, :math:`Z \sim U[a, b]`, and an exact
cheap bit (predicted long iff :math:`X \ge T`), written from the formulas of
``docs/prediction_cost.md`` (section 3) without the library's quadrature or threshold helpers.

The size law enters only through its closed-form partial moments (Pareto, :math:`x_m = 1`):
:math:`E[X^k; X > c] = \alpha c^{k - \alpha}/(\alpha - k)` for :math:`c \ge 1`. The
integrals over :math:`Z` are Gauss-Legendre sums (60 nodes) on the pieces between the kinks
:math:`z = v/T, 1, v/(v + T)`; the integrals over the threshold :math:`v` are
``scipy.integrate.quad`` on pieces between the kinks of the threshold functions, in
:math:`\log v` beyond them.

SPRPT with every job predicted long is :math:`T = x_m`, :math:`c_1 = 0`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate

_T, _W = np.polynomial.legendre.leggauss(60)


def _gl(lo: float, hi: float, fn):
    """int_lo^hi fn(z) dz by 60-point Gauss-Legendre (fn vectorised)."""
    if not hi > lo:
        return 0.0
    z = lo + (hi - lo) * (_T + 1) / 2
    return float(np.sum(_W * fn(z)) * (hi - lo) / 2)


class SkipPredictParetoUniform:
    """E[T] of SkipPredict (server model) with the data of the module docstring."""

    def __init__(self, alpha: float, a: float, b: float, threshold: float, c1: float, c2: float,
                 lam: float):
        self.al, self.a, self.b = alpha, a, b
        self.T = max(threshold, 1.0)  # below x_m = 1 every job is long
        self.c1, self.c2, self.lam = c1, c2, lam
        self.L = b - a

    # -- the size law: tails E[X^k; X > c] and windows E[X^k; lo < X <= hi] ------------------
    def tail(self, k: int, c):
        c = np.maximum(np.asarray(c, float), 1.0)
        return self.al * c ** (k - self.al) / (self.al - k)

    def window(self, k: int, lo, hi):
        lo = np.maximum(np.asarray(lo, float), 1.0)
        hi = np.asarray(hi, float)
        out = self.tail(k, lo) - np.where(np.isfinite(hi), self.tail(k, np.where(np.isfinite(hi), hi, 1.0)), 0.0)
        return np.where(hi > lo, out, 0.0)

    def pdf(self, x):
        x = np.asarray(x, float)
        return np.where(x >= 1.0, self.al * np.maximum(x, 1.0) ** (-self.al - 1), 0.0)

    # -- long-class functions (X >= T) of the threshold v ---------------------------------------
    def _zcuts(self, v: float) -> list:
        cuts = {self.a, self.b, 1.0, v / self.T, 1.0 + v / self.T}
        return sorted(c for c in cuts if self.a <= c <= self.b)

    def _zint(self, v: float, fn) -> float:
        c = self._zcuts(v)
        return sum(_gl(lo, hi, fn) for lo, hi in zip(c[:-1], c[1:], strict=True)) / self.L

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
        m1S = self.al / (self.al - 1) - float(self.tail(1, self.T))
        m2S = self.al / (self.al - 2) - float(self.tail(2, self.T))
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
        kinks = [k for k in kinks if k > 0]
        total = 0.0
        for fn in (wait, sweep):
            pts = [0.0] + kinks
            for lo, hi in zip(pts[:-1], pts[1:], strict=True):
                total += integrate.quad(fn, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
            # beyond the last kink, in u = log v (power-law tails)
            u0 = math.log(pts[-1])
            for lo, hi in ((u0, u0 + 5), (u0 + 5, u0 + 20), (u0 + 20, u0 + 80)):
                total += integrate.quad(lambda u, fn=fn: fn(math.exp(u)) * math.exp(u), lo, hi,
                                        epsabs=0, epsrel=1e-13, limit=200)[0]
        # E[(X - Y)^+; long] / (1 - rho_b): E[X; X >= T] E[(1 - Z)^+]
        ex = ((1 - self.a) ** 2 - (1 - min(self.b, 1.0)) ** 2) / (2 * self.L) if self.a < 1 else 0.0
        total += float(self.tail(1, self.T)) * ex / (1 - rhob)
        return short + total
