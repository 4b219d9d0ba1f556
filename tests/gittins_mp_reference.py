r"""An independent reference for the Gittins policy on LogNormal and Pareto sizes (mpmath, 30
digits): its own Gittins index by direct maximisation and its own SOAP integrals. Nothing here
imports the library.

**The index.** :math:`G(a) = \sup_{b > a} P(a < X \le b) / \int_a^b \bar F(t)\,dt`, found by a scan
of 240 stopping ages :math:`b` (log-spaced in :math:`b - a`) and golden-section maximisation
around the best one, with the limit :math:`b \downarrow a` (the hazard rate :math:`h(a)`) as a
candidate. The rank is :math:`r(a) = 1/G(a)`.

**The SOAP integrals for a U-shaped rank.** For both laws the rank falls on :math:`[0, m]` and
rises on :math:`[m, \infty)` to infinity (checked here on a grid of ages, see :func:`u_shape`).
Let :math:`t^* > m` be the age where the rank climbs back to :math:`r(0)`. By the SOAP theorem
(``docs/soap_predictions.md``; new jobs count while their rank is strictly below the tagged job's
worst future rank, old jobs while it is at most it):

* a job of size :math:`x \le t^*` has worst future rank :math:`r(0)` at every age (the sup over
  :math:`[a, x)` never exceeds :math:`r(0)`); a new job's rank starts at :math:`r(0)`, not below
  it, so no new job ever overtakes (:math:`\rho^{new} = 0`); old jobs are served while their age
  is below :math:`t^*` (the set :math:`\{r \le r(0)\} = [0, t^*]`). So
  :math:`E[T \mid x] = x + \lambda E[\min(X, t^*)^2] / (2(1 - \lambda E[\min(X, t^*)]))`.
* a job of size :math:`x > t^*` has worst future rank :math:`r(x)` at every age below
  :math:`x` (the rank rises on :math:`[m, x)` to :math:`r(x) > r(0) \ge r` on :math:`[0, m]`);
  new jobs are served until age :math:`x`, old ones until age :math:`x` (a single old interval
  :math:`[0, x)`). So :math:`E[T \mid x]` is the FB formula
  :math:`x/(1 - \bar\rho_x) + \lambda E[\min(X, x)^2] / (2 (1 - \bar\rho_x)^2)`,
  :math:`\bar\rho_x = \lambda E[\min(X, x)]`.

:math:`E[T]` is the integral of these over the law (``mpmath.quad``).
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 30


class LogNormalLaw:
    """LogNormal with log-sd ``sigma`` and mean ``mean`` (closed forms)."""

    def __init__(self, sigma, mean=1):
        self.s = mp.mpf(sigma)
        self.mu = mp.log(mean) - self.s**2 / 2
        self.top = mp.inf

    def _z(self, x, k):
        return (mp.log(x) - self.mu - k * self.s**2) / self.s

    def cdf(self, x):
        return mp.ncdf(self._z(x, 0)) if x > 0 else mp.mpf(0)

    def sf(self, x):
        return mp.ncdf(-self._z(x, 0)) if x > 0 else mp.mpf(1)

    def pdf(self, x):
        return mp.npdf(self._z(x, 0)) / (self.s * x) if x > 0 else mp.mpf(0)

    def partial(self, k, x):
        """E[X^k; X <= x]."""
        if x <= 0:
            return mp.mpf(0)
        return mp.exp(k * self.mu + k * k * self.s**2 / 2) * mp.ncdf(self._z(x, k))

    def mean_min(self, k, x):
        """E[min(X, x)^k]."""
        return self.partial(k, x) + x**k * self.sf(x)


class ParetoLaw:
    """Pareto with index ``alpha`` above ``xmin`` (closed forms)."""

    def __init__(self, alpha, xmin=1):
        self.a = mp.mpf(alpha)
        self.m = mp.mpf(xmin)
        self.top = mp.inf

    def cdf(self, x):
        return 1 - self.sf(x)

    def sf(self, x):
        return (self.m / x) ** self.a if x > self.m else mp.mpf(1)

    def pdf(self, x):
        return self.a * self.m**self.a / x ** (self.a + 1) if x > self.m else mp.mpf(0)

    def partial(self, k, x):
        if x <= self.m:
            return mp.mpf(0)
        return self.a * self.m**self.a * (x ** (k - self.a) - self.m ** (k - self.a)) / (k - self.a)

    def mean_min(self, k, x):
        return self.partial(k, x) + x**k * self.sf(x)


def index(law, a):
    r"""The Gittins index :math:`G(a)` by direct maximisation over the stopping age."""
    a = mp.mpf(a)
    Ta = law.sf(a)
    Ma = law.mean_min(1, a)

    def ratio(b):
        num = Ta - law.sf(b)  # P(a < X <= b)
        den = law.mean_min(1, b) - Ma  # int_a^b sf
        return num / den if den > 0 else mp.mpf(0)

    best = law.pdf(a) / Ta if Ta > 0 else mp.mpf(0)  # b -> a+: the hazard rate
    scale = max(a, mp.mpf("0.01"))
    grid = [a + scale * mp.mpf(10) ** (mp.mpf(i) / 20 - 6) for i in range(240)]
    vals = [ratio(b) for b in grid]
    i = max(range(len(grid)), key=lambda j: vals[j])
    if vals[i] > best:
        lo = grid[max(i - 1, 0)] if i > 0 else a
        hi = grid[min(i + 1, len(grid) - 1)]
        g = (mp.sqrt(5) - 1) / 2
        x1, x2 = hi - g * (hi - lo), lo + g * (hi - lo)
        f1, f2 = ratio(x1), ratio(x2)
        for _ in range(120):
            if f1 >= f2:
                hi, x2, f2 = x2, x1, f1
                x1 = hi - g * (hi - lo)
                f1 = ratio(x1)
            else:
                lo, x1, f1 = x1, x2, f2
                x2 = lo + g * (hi - lo)
                f2 = ratio(x2)
        best = max(f1, f2, vals[i])
    return best


def rank(law, a):
    return 1 / index(law, a)


def u_shape(law, ages):
    """The age of the rank's minimum on the grid ``ages``; raises where the rank is not
    decreasing before it and increasing after it (the formulas above need the U shape)."""
    r = [rank(law, a) for a in ages]
    i = min(range(len(r)), key=lambda j: r[j])
    tol = mp.mpf("1e-20")
    if not all(r[j] >= r[j + 1] - tol for j in range(i)):
        raise AssertionError("the rank does not fall before its minimum")
    if not all(r[j] <= r[j + 1] + tol for j in range(i, len(r) - 1)):
        raise AssertionError("the rank does not rise after its minimum")
    return ages[i]


def t_star(law, m, hi):
    """The age above ``m`` where the rank climbs back to r(0) (bisection on [m, hi])."""
    r0 = rank(law, 0)
    lo = mp.mpf(m)
    hi = mp.mpf(hi)
    if rank(law, hi) <= r0:
        raise AssertionError("t* lies above the search interval")
    for _ in range(64):
        mid = (lo + hi) / 2
        if rank(law, mid) <= r0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mean_response_time(law, lam, ages, hi):
    """E[T] of Gittins at arrival rate ``lam`` (see the module docstring)."""
    lam = mp.mpf(lam)
    m = u_shape(law, ages)
    ts = t_star(law, m, hi)
    n1, n2 = law.mean_min(1, ts), law.mean_min(2, ts)
    wait = lam * n2 / (2 * (1 - lam * n1))
    small = law.partial(1, ts) + wait * law.cdf(ts)

    def las(x):
        rb = lam * law.mean_min(1, x)
        return (x / (1 - rb) + lam * law.mean_min(2, x) / (2 * (1 - rb) ** 2)) * law.pdf(x)

    pts = [ts, 2 * ts, 5 * ts, 20 * ts, 100 * ts, 1000 * ts, mp.inf]
    return small + mp.quad(las, pts), ts


def conditional(law, lam, x, ts):
    """E[T | X = x] of Gittins at arrival rate ``lam`` given :math:`t^*` (module docstring)."""
    lam = mp.mpf(lam)
    x = mp.mpf(x)
    if x <= ts:
        n1, n2 = law.mean_min(1, ts), law.mean_min(2, ts)
        return x + lam * n2 / (2 * (1 - lam * n1))
    rb = lam * law.mean_min(1, x)
    return x / (1 - rb) + lam * law.mean_min(2, x) / (2 * (1 - rb) ** 2)


# every public function and method at this module's precision, whatever the global setting
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

if str(Path(__file__).parent) not in sys.path:  # loaded by path (benchmarks/): its neighbour
    sys.path.insert(0, str(Path(__file__).parent))
from mp_precision import at_precision  # noqa: E402

at_precision(globals(), 30)
