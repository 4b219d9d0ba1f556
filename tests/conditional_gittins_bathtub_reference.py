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


def _structure(y: float, level: float):
    """(number of intervals, whether the first starts at 0) of the level set of X | y."""
    iv = ExpUniformClass(y).level_set(level)
    return len(iv), iv[0][0] == 0.0


def level_functions(level: float, ylo: float = 1e-6, yhi: float = 80.0, grid: int = 40,
                    width: float = 1.0, order: int = 8):
    """N(level) and S2(level) by quadrature over log y of :meth:`ExpUniformClass.level_pieces`,
    split where the level set changes its structure (located by bisection in y on the
    structure itself: the number of intervals and whether the first starts at 0): Gauss-Legendre
    panels of ``width`` in log y, the first after each split in (u - u_split)^(1/2) (the old work
    opens like a square root where two intervals part)."""
    us = np.linspace(math.log(ylo), math.log(yhi), grid)
    st = [_structure(math.exp(u), level) for u in us]
    cuts = []
    for i in range(grid - 1):
        if st[i] != st[i + 1]:
            a, b = us[i], us[i + 1]
            for _ in range(45):
                mid = 0.5 * (a + b)
                if _structure(math.exp(mid), level) == st[i]:
                    a = mid
                else:
                    b = mid
            cuts.append(0.5 * (a + b))
    ends = [us[0]] + cuts + [us[-1]]
    t, w = np.polynomial.legendre.leggauss(order)
    t, w = (t + 1) / 2, w / 2
    out = np.zeros(2)
    for a, b in zip(ends[:-1], ends[1:]):
        first = min(b, a + width)
        # the first panel in s = (u - a)^(1/2), the rest linear
        nodes = [a + (t * math.sqrt(first - a)) ** 2]
        wts = [w * math.sqrt(first - a) * 2 * t * math.sqrt(first - a)]
        n = max(1, math.ceil((b - first) / width)) if b > first else 0
        for k in range(n):
            lo_, hi_ = first + (b - first) * k / n, first + (b - first) * (k + 1) / n
            nodes.append(lo_ + (hi_ - lo_) * t)
            wts.append(w * (hi_ - lo_))
        for u, wu in zip(np.concatenate(nodes), np.concatenate(wts)):
            y = math.exp(u)
            out += wu * y * np.array(ExpUniformClass(y).level_pieces(level))
    return float(out[0]), float(out[1]), cuts


if __name__ == "__main__":
    import sys
    import time

    for lv in map(float, sys.argv[1:]):
        t = time.process_time()
        n, s2, cuts = level_functions(lv)
        print(f"level {lv}: N = {n!r} S2 = {s2!r} cuts (log y) {cuts} ({time.process_time() - t:.0f} s)",
              flush=True)
