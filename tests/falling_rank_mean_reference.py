r"""Independent reference for ``tests/test_falling_rank_truth.py``: SOAP's mean response time of
two prediction ranks that fall with age, ``r = y - a/2`` ("half") and ``r = y exp(-a)`` ("exp"),
on uniform and log-uniform multiplicative predictions (``qt.UniformPrediction``,
``qt.BoundedMultiplicative(beta, alpha, "uniform" | "loguniform")``: :math:`Y = XZ`, :math:`Z`
uniform or log-uniform on :math:`[z_a, z_b]`, independent of :math:`X`), by scipy's adaptive
quadrature (``scipy.integrate.quad``, at most two nested; numpy, scipy and math only, no code of
the library).

With :math:`s(y, a)` the rank read on the prediction scale (:math:`(y - a/2)^+`,
:math:`y e^{-a}`), :math:`b_y(m)` the age where it reaches :math:`m` (:math:`2(y - m)`,
:math:`\log(y/m)`), :math:`N(m) = E[X; Y < m]`, :math:`B(m) = E[X^2; Y \le m]`,
:math:`Q(m) = E[((X - b_Y(m))^+)^2; Y > m]`, :math:`g = \lambda N / (1 - \lambda N)` and
:math:`w = \lambda / (2 (1 - \lambda N)^2)` (``docs/soap_predictions.md``, "User prediction
ranks"; the worst future rank of a falling rank is its current one):

.. math::
    E[T] = E[X] + \int_0^\infty f_Y(y)\, w(y)\, (B(y) + Q(y))\, dy + E[R],

    R(x, y) = \int_0^x g(s(y, a))\, da.

Written here without the library's identity for :math:`Q` (which avoids the roots) and without
its age rules:

* :math:`Q(m) = \int f_X(x) \int ((x - b_{xz}(m))^+)^2 f_Z(z)\, 1\{xz > m\}\, dz\, dx`, the
  inner integral in closed form: for "half", :math:`x - b = c - 2xz` with :math:`c = x + 2m`,
  positive for :math:`z < 1/2 + m/x`; for "exp", :math:`x - b = c - \log z` with
  :math:`c = x + \log(m/x)`, positive for :math:`z < m e^x / x`; uniform :math:`f_Z = 1/L`
  (antiderivatives :math:`-(c - 2xz)^3/(6x)` and :math:`z(u^2 + 2u + 2)`, :math:`u = c - \log z`),
  log-uniform :math:`f_Z = 1/(z \Lambda)` (:math:`c^2 \log z - 4cxz + 2x^2z^2` and
  :math:`-u^3/3`);
* the residence by the level's law instead of the age rule:
  :math:`E[R] = \int_0^\infty g(m)\, \kappa(m)\, (P(Y \ge m) - P(s(Y, X) \ge m))\, dm` with
  :math:`\kappa = 2` ("half": :math:`da = 2\, dm`) or :math:`1/m` ("exp": :math:`da = dm/m`),
  :math:`P(s(Y, X) \ge m) = E[\bar F_Z(1/2 + m/X)]` or :math:`E[\bar F_Z(m e^X / X)]`;
* :math:`N`, :math:`B`, :math:`f_Y`, :math:`P(Y \ge m)`: one quad over :math:`x` each, split
  where the factor's ends :math:`z_a, z_b` are crossed.

Size laws: Exp(1), Weibull(2) of mean 1 and U[1/2, 3/2] (densities written here). The test
module calls it (0.13-0.6 s of CPU per mean). Run ``python tests/falling_rank_mean_reference.py``
to print the means of :data:`CASES` and the difference of two tolerance settings (the
reference's own accuracy: 1.5e-16 for ``y - a/2``, 3.7e-12 for ``y exp(-a)``, at most).
"""

from __future__ import annotations

import math

from scipy import integrate, optimize

#: (relative, absolute) tolerances of the inner and outer quads
TOL = {"fine": (1e-13, 1e-16), "coarse": (1e-10, 1e-13)}


class Size:
    """A size law by its density, survival function, mean and breakpoints (where the density
    jumps or kinks)."""

    def __init__(self, name: str):
        self.name = name
        self.bps: tuple = ()
        if name == "exp":
            self.pdf = lambda x: math.exp(-x)
            self.sf = lambda x: math.exp(-x)
            self.mean = 1.0
        elif name == "weibull2":
            lam = 1.0 / math.gamma(1.5)
            self.pdf = lambda x: 2.0 * x / lam ** 2 * math.exp(-(x / lam) ** 2)
            self.sf = lambda x: math.exp(-(x / lam) ** 2)
            self.mean = 1.0
        elif name == "uniform":  # U[1/2, 3/2]
            self.pdf = lambda x: 1.0 if 0.5 <= x <= 1.5 else 0.0
            self.sf = lambda x: min(max(1.5 - x, 0.0), 1.0)
            self.mean = 1.0
            self.bps = (0.5, 1.5)
        else:
            raise ValueError(name)


class Factor:
    """Z uniform (``log=False``) or log-uniform on [a, b]."""

    def __init__(self, a: float, b: float, log: bool):
        self.a, self.b, self.log = a, b, log
        self.L = math.log(b / a) if log else b - a

    def cdf(self, t: float) -> float:
        t = min(max(t, self.a), self.b)
        return math.log(t / self.a) / self.L if self.log else (t - self.a) / self.L

    def sf(self, t: float) -> float:
        if t <= self.a:
            return 1.0
        if t >= self.b:
            return 0.0
        return math.log(self.b / t) / self.L if self.log else (self.b - t) / self.L

    def pdf(self, t: float) -> float:
        if not self.a <= t <= self.b:
            return 0.0
        return 1.0 / (t * self.L) if self.log else 1.0 / self.L


class Reference:
    def __init__(self, size: Size, factor: Factor, rank: str, tol: str = "fine"):
        self.X, self.Z, self.rank = size, factor, rank
        self.er, self.ea = TOL[tol]

    # ---- quadrature ------------------------------------------------------------------------------
    def quad(self, f, lo: float, hi: float, pts=(), er=None, ea=None, level=False) -> float:
        """quad on [lo, hi] split at the points inside (hi may be inf) and at the size law's
        breakpoints (over a size) or those times the factor's ends (``level``: over a
        prediction level)."""
        er = self.er if er is None else er
        ea = self.ea if ea is None else ea
        bp = [b * z for b in self.X.bps for z in (self.Z.a, self.Z.b)] if level else list(self.X.bps)
        e = [lo] + sorted(set(p for p in list(pts) + bp if lo < p < hi)) + [hi]
        out = 0.0
        for a, b in zip(e[:-1], e[1:], strict=True):
            if b > a:
                out += integrate.quad(f, a, b, epsrel=er, epsabs=ea, limit=400)[0]
        return out

    def _tail_pts(self, lo: float) -> list:
        return [lo + d for d in (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)]

    # ---- level functions -------------------------------------------------------------------------
    def N(self, m: float, k: int = 1) -> float:
        """E[X^k; Y < m]: x < m/b whole, (m/b, m/a) with F_Z(m/x)."""
        if m <= 0:
            return 0.0
        Z, X = self.Z, self.X
        lo, hi = m / Z.b, m / Z.a
        full = self.quad(lambda x: x ** k * X.pdf(x), 0.0, lo)
        part = self.quad(lambda x: x ** k * X.pdf(x) * Z.cdf(m / x), lo, hi)
        return full + part

    def sf_Y(self, m: float) -> float:
        """P(Y >= m)."""
        Z, X = self.Z, self.X
        lo, hi = m / Z.b, m / Z.a
        return self.quad(lambda x: X.pdf(x) * Z.sf(m / x), lo, hi) + X.sf(hi)

    def f_Y(self, y: float) -> float:
        Z, X = self.Z, self.X
        return self.quad(lambda x: X.pdf(x) * Z.pdf(y / x) / x, y / Z.b, y / Z.a)

    def _exp_roots(self, m: float, c: float) -> list:
        """The x where m e^x / x = c (none, or one each side of x = 1)."""
        if m * math.e >= c:
            return []
        h = lambda x: math.log(m) + x - math.log(x) - math.log(c)  # noqa: E731
        out = [optimize.brentq(h, 1e-300, 1.0, xtol=1e-300, rtol=1e-15)]
        hi = 2.0
        while h(hi) < 0:
            hi *= 2.0
        out.append(optimize.brentq(h, 1.0, hi, xtol=1e-300, rtol=1e-15))
        return out

    def _inner_Q(self, x: float, m: float) -> float:
        """int ((x - b_{xz}(m))^+)^2 f_Z(z) dz over z > m/x, in closed form."""
        Z = self.Z
        zl = max(Z.a, m / x)
        if self.rank == "half":
            zh = min(Z.b, 0.5 + m / x)
            if zh <= zl:
                return 0.0
            c = x + 2.0 * m
            if Z.log:
                return (c * c * math.log(zh / zl) - 4.0 * c * x * (zh - zl)
                        + 2.0 * x * x * (zh * zh - zl * zl)) / Z.L
            return ((c - 2.0 * x * zl) ** 3 - (c - 2.0 * x * zh) ** 3) / (6.0 * x * Z.L)
        lzs = math.log(m) + x - math.log(x)
        zh = Z.b if lzs >= math.log(Z.b) else min(Z.b, math.exp(lzs))
        if zh <= zl:
            return 0.0
        c = x + math.log(m / x)
        ul, uh = c - math.log(zl), c - math.log(zh)
        if Z.log:
            return (ul ** 3 - uh ** 3) / (3.0 * Z.L)
        return (zh * (uh * uh + 2.0 * uh + 2.0) - zl * (ul * ul + 2.0 * ul + 2.0)) / Z.L

    def Q(self, m: float) -> float:
        Z, X = self.Z, self.X
        lo = m / Z.b
        if self.rank == "half":
            pts = [m / Z.a] + [m / (c - 0.5) for c in (Z.a, Z.b) if c > 0.5]
        else:
            pts = [m / Z.a] + self._exp_roots(m, Z.a) + self._exp_roots(m, Z.b)
        pts += self._tail_pts(lo)
        return self.quad(lambda x: X.pdf(x) * self._inner_Q(x, m), lo, math.inf, pts)

    def sf_end(self, m: float) -> float:
        """P(s(Y, X) >= m), the level at the end of service at least m."""
        Z, X = self.Z, self.X
        if self.rank == "half":
            # Z >= 1/2 + m/x: x > m/(b - 1/2) needed, whole above m/(a - 1/2) when a > 1/2
            if Z.b <= 0.5:
                return 0.0
            lo = m / (Z.b - 0.5)
            hi = m / (Z.a - 0.5) if Z.a > 0.5 else math.inf
            part = self.quad(lambda x: X.pdf(x) * Z.sf(0.5 + m / x), lo, hi,
                             self._tail_pts(lo) if hi == math.inf else ())
            return part + (X.sf(hi) if hi < math.inf else 0.0)
        # Z >= m e^x / x: inside the roots of m e^x / x = b
        rb = self._exp_roots(m, Z.b)
        if not rb:
            return 0.0
        ra = self._exp_roots(m, Z.a)

        def f(x):
            lzs = math.log(m) + x - math.log(x)
            return X.pdf(x) * (Z.sf(math.exp(lzs)) if lzs < math.log(Z.b) else 0.0)

        return self.quad(f, rb[0], rb[1], ra)

    # ---- the mean --------------------------------------------------------------------------------
    def waiting(self, lam: float) -> float:
        def f(y):
            n = self.N(y)
            return self.f_Y(y) * lam / (2.0 * (1.0 - lam * n) ** 2) * (self.N(y, 2) + self.Q(y))

        pts = [0.01, 0.1, 0.3, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
        return self.quad(f, 0.0, math.inf, pts, er=10 * self.er, ea=10 * self.ea, level=True)

    def residence(self, lam: float) -> float:
        def f(m):
            n = self.N(m)
            k = 2.0 if self.rank == "half" else 1.0 / m
            return lam * n / (1.0 - lam * n) * k * (self.sf_Y(m) - self.sf_end(m))

        pts = [0.01, 0.1, 0.3, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
        return self.X.mean + self.quad(f, 0.0, math.inf, pts, er=10 * self.er, ea=10 * self.ea,
                                       level=True)

    def mean(self, lam: float) -> float:
        return self.waiting(lam) + self.residence(lam)

    def conditional(self, lam: float, x: float, y: float) -> float:
        r""":math:`E[T \mid x, y] = w(y) (B(y) + Q(y)) + x + \int g\, \kappa\, dm` over the
        levels the rank passes, :math:`((y - x/2)^+, y)` or :math:`(y e^{-x}, y)`."""
        n = self.N(y)
        wait = lam / (2.0 * (1.0 - lam * n) ** 2) * (self.N(y, 2) + self.Q(y))

        def g(m):
            nm = self.N(m)
            return lam * nm / (1.0 - lam * nm) * (2.0 if self.rank == "half" else 1.0 / m)

        lo = max(y - x / 2.0, 0.0) if self.rank == "half" else y * math.exp(-x)
        return wait + x + self.quad(g, lo, y, level=True)


#: the cases of the test module: (size, factor (a, b, log), rank)
CASES = {
    "half-exp-uniform0.5": ("exp", (0.5, 1.5, False), "half"),
    "exp-exp-bounded-log": ("exp", (0.5, 2.0, True), "exp"),
    "half-weibull2-bounded": ("weibull2", (0.5, 2.0, False), "half"),
    "exp-exp-uniform0.5": ("exp", (0.5, 1.5, False), "exp"),
}


def reference(case: str, lam: float, tol: str = "fine") -> float:
    size, (a, b, log), rank = CASES[case]
    return Reference(Size(size), Factor(a, b, log), rank, tol).mean(lam)


if __name__ == "__main__":
    import sys
    import time

    cases = sys.argv[1:] or list(CASES)
    for case in cases:
        for load in (0.5, 0.8, 0.95):
            t0 = time.process_time()
            v = reference(case, load)
            t1 = time.process_time()
            c = reference(case, load, "coarse")
            print(f'("{case}", {load}): {v!r},  # coarse tolerances {abs(v - c) / v:.1e} off, '
                  f'{t1 - t0:.1f} s', flush=True)
