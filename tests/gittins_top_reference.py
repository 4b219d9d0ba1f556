r"""An independent reference for the Gittins rank of a law with a finite top (mpmath, 40 digits):
Uniform, BoundedPareto and the exponential law truncated at :math:`T` (the class of small jobs
of a perfect bit). Nothing here imports the library.

**The laws.** Each gives its tail :math:`\bar F`, density :math:`f` and excess
:math:`V(c) = E[(X - c)^+] = \int_c^{t} \bar F(u)\,du` in closed form (``t`` the top):

* Uniform(:math:`l, t`): :math:`\bar F(c) = (t - c)/(t - l)`, :math:`V(c) = (t - c)^2 / (2(t - l))`;
* BoundedPareto(:math:`\alpha, l, t`), :math:`D = 1 - (l/t)^\alpha`:
  :math:`\bar F(c) = ((l/c)^\alpha - (l/t)^\alpha)/D`,
  :math:`V(c) = \left(l^\alpha \frac{c^{1-\alpha} - t^{1-\alpha}}{\alpha - 1}
  - (l/t)^\alpha (t - c)\right) / D`;
* Exp(1) truncated at :math:`t`: :math:`\bar F(c) = (e^{-c} - e^{-t})/(1 - e^{-t})`,
  :math:`V(c) = (e^{-c} - e^{-t} - (t - c) e^{-t}) / (1 - e^{-t})`.

The operands cancel next to the top (:math:`t - c = 10^{-12} t` loses about 12 digits of the 40:
28 are left).

**The rank.** :math:`r(a) = 1 / G(a)` with the Gittins index
:math:`G(a) = \sup_{b > a} P(a < X \le b) / E[\min(X, b) - a; X > a]`, i.e.
:math:`r(a) = \inf_{a < b \le t} (V(a) - V(b)) / (\bar F(a) - \bar F(b))`, found by a scan of
``grid`` stopping ages (:math:`b - a` log-spaced from :math:`10^{-8}` of :math:`t - a` to
:math:`t - a`, so :math:`b = t` is a candidate) and golden-section minimisation around the best
one, with the limit :math:`b \downarrow a` (:math:`\bar F(a) / f(a)`, the inverse hazard) as a
candidate.
"""

from __future__ import annotations

import mpmath as mp

DPS = 40


class UniformLaw:
    def __init__(self, low, high):
        self.l, self.top = mp.mpf(low), mp.mpf(high)

    def sf(self, c):
        return (self.top - c) / (self.top - self.l)

    def pdf(self, c):
        return 1 / (self.top - self.l)

    def excess(self, c):
        return (self.top - c) ** 2 / (2 * (self.top - self.l))


class BoundedParetoLaw:
    def __init__(self, alpha, low, high):
        self.al, self.l, self.top = mp.mpf(alpha), mp.mpf(low), mp.mpf(high)
        with mp.workdps(DPS):
            self.D = 1 - (self.l / self.top) ** self.al

    def sf(self, c):
        return ((self.l / c) ** self.al - (self.l / self.top) ** self.al) / self.D

    def pdf(self, c):
        return self.al * self.l**self.al * c ** (-self.al - 1) / self.D

    def excess(self, c):
        al, l, t = self.al, self.l, self.top
        return (l**al * (c ** (1 - al) - t ** (1 - al)) / (al - 1) - (l / t) ** al * (t - c)) / self.D


class TruncatedExpLaw:
    def __init__(self, top):
        self.top = mp.mpf(top)
        with mp.workdps(DPS):
            self.Z = 1 - mp.exp(-self.top)

    def sf(self, c):
        return (mp.exp(-c) - mp.exp(-self.top)) / self.Z

    def pdf(self, c):
        return mp.exp(-c) / self.Z

    def excess(self, c):
        t = self.top
        return (mp.exp(-c) - mp.exp(-t) - (t - c) * mp.exp(-t)) / self.Z


def gittins_rank(law, a, grid: int = 60, iters: int = 80):
    """The Gittins rank of ``law`` at the age ``a`` (a float taken exactly), as an mpf."""
    with mp.workdps(DPS):
        a = mp.mpf(a)
        t = law.top
        Sa, Va = law.sf(a), law.excess(a)

        def ratio(b):
            return (Va - law.excess(b)) / (Sa - law.sf(b))

        span = t - a
        ds = [span * mp.mpf(10) ** (-8 + 8 * mp.mpf(i) / (grid - 1)) for i in range(grid)]
        vals = [ratio(a + d) for d in ds]
        k = min(range(grid), key=lambda i: vals[i])
        best = vals[k]
        lo = ds[k - 1] if k > 0 else ds[0] / 10
        hi = ds[min(k + 1, grid - 1)]
        g = (mp.sqrt(5) - 1) / 2
        x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
        f1, f2 = ratio(a + x1), ratio(a + x2)
        for _ in range(iters):
            if f1 <= f2:
                hi, x2, f2 = x2, x1, f1
                x1 = hi - g * (hi - lo)
                f1 = ratio(a + x1)
            else:
                lo, x1, f1 = x1, x2, f2
                x2 = lo + g * (hi - lo)
                f2 = ratio(a + x2)
        return min(best, f1, f2, Sa / law.pdf(a))
