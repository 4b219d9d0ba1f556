r"""Independent reference for ConditionalGittins on exponential sizes with a factor uniform on
:math:`[z_{lo}, z_{hi}]` (``qt.UniformPrediction``): the conditional law :math:`X \mid y`
has density :math:`e^{-x}/x` on :math:`[y/z_{hi}, y/z_{lo}]` (times :math:`1/(z_{hi} -
z_{lo})`), so its tail and partial moments are exponential integrals. The Gittins rank by
direct minimisation of :math:`\int_a^b S / (S(a) - S(b))` over :math:`b` (a dense grid, then
the stationary points refined by root finding, the end :math:`b = x_{hi}` and the limit
:math:`b \to a`), the level sets by bisection on that rank, and their pieces by quadrature.
Nothing from qtheory is used.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize, special


class ExpUniformClass:
    """X | Y = y for X ~ Exp(1), Y = X Z, Z ~ U[zlo, zhi] (unnormalised: times f_Y(y))."""

    def __init__(self, y: float, zlo: float = 0.5, zhi: float = 1.5):
        self.y = y
        self.w = 1.0 / (zhi - zlo)
        self.lo, self.hi = y / zhi, y / zlo
        self.e1hi = float(special.exp1(self.hi))
        self.fY = self.w * (float(special.exp1(self.lo)) - self.e1hi)

    def k(self, x):
        x = np.asarray(x, float)
        return np.where((x >= self.lo) & (x <= self.hi), self.w * np.exp(-x) / x, 0.0)

    def S(self, t):
        t = np.clip(np.asarray(t, float), self.lo, self.hi)
        return self.w * (special.exp1(t) - self.e1hi)

    def _G(self, t):  # antiderivative of E1: t E1(t) - e^{-t}
        return t * special.exp1(t) - np.exp(-t)

    def S_int(self, a, b):
        """int_a^b S (a <= b; b scalar or array), with S = f_Y before the support."""
        a, b = float(a), np.asarray(b, float)
        pre = np.maximum(0.0, np.minimum(b, self.lo) - a) * self.fY
        a2 = max(a, self.lo)
        b2 = np.minimum(np.maximum(b, a2), self.hi)
        return pre + self.w * (self._G(b2) - self._G(a2) - (b2 - a2) * self.e1hi)

    def mean(self):
        return self.w * (math.exp(-self.lo) - math.exp(-self.hi)) / self.fY

    def rank(self, a: float, n: int = 4000) -> float:
        """inf over b in (a, hi] of int_a^b S / (S(a) - S(b))."""
        Sa = float(self.S(a)) if a >= self.lo else self.fY
        start = max(a, self.lo)
        bs = start + (self.hi - start) * (np.arange(1, n + 1) / n) ** 2
        num = self.S_int(a, bs)
        den = Sa - self.S(bs)
        R = num / den
        best = [R[-1]]  # b = hi: the mean residual life
        if a >= self.lo:
            best.append(Sa / float(self.k(a)))  # b -> a
        # stationary points: d/db (num/den) = (S(b) den - num k(b)) / den^2
        g = self.S(bs) * den - num * self.k(bs)
        for i in np.nonzero(np.sign(g[:-1]) != np.sign(g[1:]))[0]:
            def gg(b):
                return float(self.S(b)) * (Sa - float(self.S(b))) - float(self.S_int(a, b)) * float(self.k(b))
            b = optimize.brentq(gg, bs[i], bs[i + 1], xtol=1e-15, rtol=1e-15)
            best.append(float(self.S_int(a, b)) / (Sa - float(self.S(b))))
        return float(min(best))

    def level_set(self, level: float, n: int = 400):
        """[(start, end)] of {a : rank(a) <= level} (end inf for the last), by a grid and
        bisection on rank(a) - level."""
        ages = np.concatenate([np.linspace(0.0, self.lo, n // 4, endpoint=False),
                               self.lo + (self.hi - self.lo) * np.linspace(0.0, 1.0, n)[:-1]])
        v = np.array([self.rank(a, 800) for a in ages]) - level
        out, start = [], (0.0 if v[0] <= 0 else None)
        for i in range(ages.size - 1):
            if np.sign(v[i]) != np.sign(v[i + 1]):
                x = optimize.brentq(lambda a: self.rank(a) - level, ages[i], ages[i + 1], xtol=1e-13)
                if v[i] > 0:
                    start = x
                else:
                    out.append((start, x))
                    start = None
        out.append((start, math.inf))
        return out

    def work(self, B, C, power: int):
        """E[((min(X, C) - B)^+)^power] times f_Y (quadrature of the density)."""
        lo, hi = max(B, self.lo), min(C, self.hi)
        f = lambda x: (x - B) ** power * float(self.k(x))  # noqa: E731
        v = integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0] if hi > lo else 0.0
        if C < self.hi:
            v += (C - B) ** power * float(self.S(C))
        return v

    def level_pieces(self, level: float):
        """(new work E[min(X, C)], sum of the intervals' squared work), both times f_Y."""
        iv = self.level_set(level)
        n_new = self.work(0.0, iv[0][1], 1) if iv[0][0] == 0.0 else 0.0
        return n_new, sum(self.work(b, c, 2) for b, c in iv)
