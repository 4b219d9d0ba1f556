r"""An independent reference for ConditionalGittins with a perfect bit of advice
(:math:`Y = 1\{X > T\}`) on LogNormal sizes (mpmath, 30 digits): the two class laws
:math:`X \mid X \le T` and :math:`X \mid X > T` written out from the LogNormal's closed forms,
their Gittins ranks by the direct maximisation of ``gittins_mp_reference.index``, and the SOAP
integrals of the two classes. Nothing here imports the library.

**The ranks** (checked on grids of ages, :func:`structure`). Class 0's rank falls on
:math:`[0, T]` (its hazard rises to infinity at :math:`T`); class 1's rank falls on
:math:`[0, m]` and rises after it to infinity, and every rank of class 1 is above every rank
of class 0. Let :math:`t^* > m` be the age where class 1's rank climbs back to its value at 0.

**The SOAP integrals** (``docs/soap_predictions.md``; new jobs count while their rank is
strictly below the tagged job's worst future rank, old jobs while it is at most it), with
:math:`p_b = P(Y = b)`, :math:`m_0 = E_0[X]`, :math:`s_0 = E_0[X^2]`:

* class 0, size :math:`x`: worst future rank :math:`r_0(0)`; no new job overtakes (class 0
  starts at :math:`r_0(0)`, class 1 above it), the old class-0 jobs count whole, the old
  class-1 jobs not at all: :math:`E[T \mid x, 0] = x + \lambda p_0 s_0 / (2(1 - \lambda p_0
  m_0))` (a preemptive top-priority FCFS class);
* class 1, :math:`x \le t^*`: worst future rank :math:`r_1(0)` from every age; new class-0
  jobs count whole, new class-1 jobs not at all, old class-1 jobs up to age :math:`t^*`:
  :math:`E[T \mid x, 1] = x/(1 - \lambda p_0 m_0) + \lambda S_2 / (2 (1 - \lambda N_0)(1 -
  \lambda p_0 m_0))`, :math:`N_0 = p_0 m_0 + p_1 E_1[\min(X, t^*)]`,
  :math:`S_2 = p_0 s_0 + p_1 E_1[\min(X, t^*)^2]`;
* class 1, :math:`x > t^*`: worst future rank :math:`r_1(x)` from every age, everything of
  class 0 and of class 1 up to age :math:`x` counts: :math:`E[T \mid x, 1] = x/(1 - \bar\rho) +
  \lambda S_2/(2(1 - \bar\rho)^2)`, :math:`\bar\rho = \lambda(p_0 m_0 + p_1 E_1[\min(X, x)])`,
  :math:`S_2 = p_0 s_0 + p_1 E_1[\min(X, x)^2]`.

:math:`E[T]` and :math:`E[T/X]` are the integrals of these over the class laws (``mpmath.quad``).
"""

from __future__ import annotations

import gittins_mp_reference as one
import mpmath as mp

mp.mp.dps = 30


class Truncated:
    """The law of X given lo < X <= hi for a base law with closed forms (mpmath)."""

    def __init__(self, base, lo, hi):
        self.b = base
        self.lo = mp.mpf(lo)
        self.hi = mp.mpf(hi) if hi != mp.inf else mp.inf
        self.mass = base.cdf(self.hi) - base.cdf(self.lo) if self.hi != mp.inf else base.sf(self.lo)

    def sf(self, x):
        if x >= self.hi:
            return mp.mpf(0)
        top = self.b.sf(self.hi) if self.hi != mp.inf else 0
        return (self.b.sf(max(x, self.lo)) - top) / self.mass

    def cdf(self, x):
        return 1 - self.sf(x)

    def pdf(self, x):
        return self.b.pdf(x) / self.mass if self.lo < x <= self.hi else mp.mpf(0)

    def partial(self, k, x):
        c = min(max(mp.mpf(x), self.lo), self.hi)
        return (self.b.partial(k, c) - self.b.partial(k, self.lo)) / self.mass

    def mean_min(self, k, x):
        return self.partial(k, x) + mp.mpf(x) ** k * self.sf(x)


def structure(c0, c1, T):
    """Checks the rank shapes the formulas need; returns (m, r_1(0)) of class 1."""
    T = mp.mpf(T)
    a0 = [T * mp.mpf(v) for v in ("0.1", "0.5", "0.9", "0.99")]
    r0 = [one.rank(c0, a) for a in [mp.mpf(0)] + a0]
    if not all(r0[j] >= r0[j + 1] for j in range(len(r0) - 1)):
        raise AssertionError("class 0's rank does not fall")
    ages = [mp.mpf(0)] + [T * mp.mpf(v) for v in ("0.5", "0.99", "1.01", "1.5", "4", "30")]
    m = one.u_shape(c1, ages)
    if not min(one.rank(c1, a) for a in ages) > r0[0]:
        raise AssertionError("a rank of class 1 is below class 0's top rank")
    return m, one.rank(c1, 0)


def t_star(law, m, hi):
    """The age above ``m`` where the rank climbs back to r(0): the Illinois variant of regula
    falsi on [m, hi] (the rank is smooth and rising there), to 1e-16 relative."""
    r0 = one.rank(law, 0)
    a, b = mp.mpf(m), mp.mpf(hi)
    fa, fb = one.rank(law, a) - r0, one.rank(law, b) - r0
    if not (fa < 0 < fb):
        raise AssertionError("t* is not bracketed by [m, hi]")
    side = 0
    for _ in range(60):
        c = (a * fb - b * fa) / (fb - fa)
        fc = one.rank(law, c) - r0
        if fc < 0:
            a, fa = c, fc
            if side < 0:
                fb /= 2
            side = -1
        else:
            b, fb = c, fc
            if side > 0:
                fa /= 2
            side = 1
        if b - a < mp.mpf("1e-16") * b or fc == 0:
            break
    return c


def evaluate(base, T, lam, hi, dps: int = 20):
    """(E[T], E[T/X], t*, E[T | x, 0], E[T | x, 1]) of ConditionalGittins with the perfect bit
    at threshold ``T``, at ``dps`` digits (20: 5 digits beyond the doubles compared with)."""
    with mp.workdps(dps):
        return _evaluate(base, T, lam, hi)


def _evaluate(base, T, lam, hi):
    lam = mp.mpf(lam)
    T = mp.mpf(T)
    c0, c1 = Truncated(base, 0, T), Truncated(base, T, mp.inf)
    p0, p1 = base.cdf(T), base.sf(T)
    m0, s0 = c0.mean_min(1, T), c0.mean_min(2, T)
    m, _ = structure(c0, c1, T)
    ts = t_star(c1, m, hi)

    def cond0(x):
        return x + lam * p0 * s0 / (2 * (1 - lam * p0 * m0))

    n0 = p0 * m0 + p1 * c1.mean_min(1, ts)
    s2 = p0 * s0 + p1 * c1.mean_min(2, ts)
    bg = 1 - lam * p0 * m0

    def cond1(x):
        if x <= ts:
            return x / bg + lam * s2 / (2 * (1 - lam * n0) * bg)
        rb = lam * (p0 * m0 + p1 * c1.mean_min(1, x))
        S2 = p0 * s0 + p1 * c1.mean_min(2, x)
        return x / (1 - rb) + lam * S2 / (2 * (1 - rb) ** 2)

    pts0 = [mp.mpf(0), T * mp.mpf("1e-3"), T / 10, T]
    pts1 = [T, ts, 2 * ts, 5 * ts, 20 * ts, 100 * ts, 1000 * ts, mp.inf]
    mean = p0 * mp.quad(lambda x: cond0(x) * c0.pdf(x), pts0) \
        + p1 * mp.quad(lambda x: cond1(x) * c1.pdf(x), pts1)
    slow = p0 * mp.quad(lambda x: cond0(x) / x * c0.pdf(x), pts0) \
        + p1 * mp.quad(lambda x: cond1(x) / x * c1.pdf(x), pts1)
    return mean, slow, ts, cond0, cond1


# ---- informative bits: the class laws and their Gittins ranks ----------------------------------
class WeibullLaw:
    """Weibull with shape ``k`` and mean ``mean`` (closed forms: the incomplete gamma)."""

    def __init__(self, k, mean=1):
        self.k = mp.mpf(k)
        self.lam = mp.mpf(mean) / mp.gamma(1 + 1 / self.k)
        self.top = mp.inf

    def sf(self, x):
        return mp.exp(-((x / self.lam) ** self.k)) if x > 0 else mp.mpf(1)

    def cdf(self, x):
        return 1 - self.sf(x)

    def pdf(self, x):
        if x <= 0:
            return mp.mpf(0)
        z = x / self.lam
        return self.k / self.lam * z ** (self.k - 1) * mp.exp(-(z**self.k))

    def partial(self, k, x):
        """E[X^k; X <= x] = lam^k gamma(1 + k/shape, (x/lam)^shape) (lower incomplete)."""
        if x <= 0:
            return mp.mpf(0)
        return self.lam**k * mp.gammainc(1 + k / self.k, 0, (x / self.lam) ** self.k)

    def mean_min(self, k, x):
        return self.partial(k, x) + x**k * self.sf(x)


class StepLaw:
    r"""The law of :math:`X \mid Y = b` for one-bit advice: density :math:`w(x) f(x) / Z` with
    :math:`w = ` ``w_lo`` on :math:`(0, T]`, ``w_hi`` above, :math:`Z = w_{lo} F(T) + w_{hi}
    \bar F(T)`; ``jumps`` are the ages where the density jumps (``T`` and a support start)."""

    def __init__(self, base, T, w_lo, w_hi, jumps=()):
        self.b = base
        self.T = mp.mpf(T)
        self.wl, self.wh = mp.mpf(w_lo), mp.mpf(w_hi)
        self.Z = self.wl * base.cdf(self.T) + self.wh * base.sf(self.T)
        self.jumps = sorted({self.T, *(mp.mpf(j) for j in jumps)})

    def sf(self, x):
        b, T = self.b, self.T
        if x >= T:
            return self.wh * b.sf(x) / self.Z
        return (self.wl * (b.sf(x) - b.sf(T)) + self.wh * b.sf(T)) / self.Z

    def pdf(self, x, right=False):
        """The density at ``x`` (its right limit with ``right``)."""
        w = self.wh if (x > self.T or (right and x == self.T)) else self.wl
        if right and x in self.jumps and x != self.T:
            return w * self.b.pdf(x * (1 + mp.mpf(10) ** (-mp.mp.dps + 2))) / self.Z
        return w * self.b.pdf(x) / self.Z

    def partial(self, k, x):
        b, T = self.b, self.T
        lo = b.partial(k, min(x, T))
        hi = b.partial(k, max(x, T)) - b.partial(k, T)
        return (self.wl * lo + self.wh * hi) / self.Z

    def mean_min(self, k, x):
        return self.partial(k, x) + x**k * self.sf(x)


def step_rank(law, a, hi, grid=60):
    r"""The Gittins rank :math:`\inf_{b > a} \int_a^b \bar F / (\bar F(a) - \bar F(b))` of a
    :class:`StepLaw`, by direct minimisation on each segment of stopping ages between the
    density's jumps: the candidates are the limit :math:`b \downarrow a` (:math:`\bar F(a) /
    f(a+)`), the segment ends (corners) and the interior local minima, located as the roots
    of the first-order condition :math:`g(b) = \bar F(b) - f(b)\,\rho(b)` (:math:`\rho` the
    ratio) where it changes sign from - to + on a grid of ``grid`` stopping ages per segment
    (log-spaced from 1e-15 of its width past its start), by bisection to 1e-25; at 30
    digits (a stopping age 1e-15 of the width past the start leaves 15 after the cancellation). ``hi`` caps the stopping
    ages (where the tail beyond is negligible)."""
    a = mp.mpf(a)
    Fa = law.sf(a)
    Ma = law.mean_min(1, a)

    def ratio(b):
        den = Fa - law.sf(b)
        return (law.mean_min(1, b) - Ma) / den if den > 0 else mp.inf

    def g(b):
        return law.sf(b) - law.pdf(b) * ratio(b)

    fa = law.pdf(a, right=True)
    best = Fa / fa if fa > 0 else mp.inf
    ends = [j for j in law.jumps if j > a] + [mp.mpf(hi)]
    start = a
    for end in ends:
        if end <= start:
            continue
        L = start
        width = end - L
        pts = [L + width * mp.mpf(10) ** (-15 + 15 * mp.mpf(i) / (grid - 1)) for i in range(grid)]
        if L > a:
            best = min(best, ratio(L))
        best = min(best, ratio(end))
        vals = [g(p) for p in pts]
        for i in range(grid - 1):
            if vals[i] < 0 < vals[i + 1]:
                lo, up = pts[i], pts[i + 1]
                for _ in range(90):
                    mid = (lo + up) / 2
                    if g(mid) < 0:
                        lo = mid
                    else:
                        up = mid
                    if up - lo < mp.mpf("1e-25") * up:
                        break
                best = min(best, ratio((lo + up) / 2))
        start = end
    return best


# ---- informative bits on Pareto sizes: the two-class formula ----------------------------------
def pareto_informative(alpha, xmin, T, q_small, q_large, lam, dps: int = 20):
    r"""E[T] of ConditionalGittins with ``OneBit`` advice (:math:`P(Y = 1 \mid x) = q_<` for
    :math:`x \le T`, :math:`q_>` above) on Pareto(``alpha``, ``xmin``) sizes, :math:`x_{min} < T`,
    at arrival rate ``lam``, by the SOAP formula written out for the rank shapes below (checked
    by :func:`pareto_structure` with the index :func:`step_rank`).

    **The ranks.** Beyond :math:`T` both class laws are Pareto tails: their Gittins ranks are
    :math:`a/\alpha` (a decreasing hazard). Class 0's rank on :math:`[0, T)` is at most
    :math:`A_0 = r_0(0)`; class 1's rank falls from :math:`A_1 = r_1(0) > A_0` on a first piece
    :math:`[0, k_1)` below :math:`x_{min}` and stays below :math:`A_0` on :math:`[k_1, T]`. On
    the first piece the law has no mass below :math:`x_{min}`, so with :math:`D(b) = P_1(X \le
    b)`, :math:`K(b) = \int_{x_{min}}^b \bar F_1`,

    .. math:: r_1(a) = \min_b \frac{x_{min} - a + K(b)}{D(b)}, \qquad
        u_1(\ell) = r_1^{-1}(\ell) = x_{min} - \max_b (\ell D(b) - K(b)),

    the maximiser :math:`b^* = \alpha\ell` beyond :math:`T` (first-order condition
    :math:`1/h_1(b) = b/\alpha = \ell`), and :math:`u_1'(\ell) = -D(\alpha\ell)`.

    **The formula** (``docs/soap_predictions.md``; :math:`s(\ell) = \alpha\ell`, :math:`m_k^b(c)
    = E_b[\min(X, c)^k]`, :math:`u_A = u_1(A_0)`). Class 0, :math:`x \le s(A_0)`: worst rank
    :math:`A_0`, no new job overtakes; old class-0 jobs up to age :math:`s(A_0)`, old class-1
    jobs on :math:`[u_A, s(A_0)]`. Class 0, :math:`x > s(A_0)`, :math:`\ell = x/\alpha`: new
    class-0 jobs up to age :math:`x`, class-1 ones up to :math:`x` if :math:`\ell > A_1`; old
    class-1 jobs on :math:`[u_1(\ell), x]` (:math:`[0, x]` if :math:`\ell \ge A_1`). Class 1,
    :math:`x \le s(A_1)`: worst rank :math:`A_1`; new class-0 jobs up to :math:`s(A_1)`, both
    classes' old jobs up to :math:`s(A_1)`; residence :math:`G(\ell_x) + (x - u_1(\ell_x)) /
    (1 - \lambda N(\ell_x))` with :math:`\ell_x = \max(x/\alpha, A_0)`, :math:`N(\ell) = p_0
    m_1^0(\alpha\ell)` for :math:`\ell > A_0` (0 below), and

    .. math:: G(\ell) = \int_0^{u_1(\ell)} \frac{da}{1 - \lambda N(r_1(a))}
        = \int_\ell^{A_1} \frac{D(\alpha m)\, dm}{1 - \lambda p_0 m_1^0(\alpha m)}.

    Class 1, :math:`x > s(A_1)`: FB on both classes up to age :math:`x`."""
    with mp.workdps(dps):
        return _pareto_informative(alpha, xmin, T, q_small, q_large, lam)


def _pareto_laws(alpha, xmin, T, q_small, q_large):
    base = one.ParetoLaw(alpha, mp.mpf(xmin))
    laws, probs = [], []
    for w_lo, w_hi in ((1 - mp.mpf(q_small), 1 - mp.mpf(q_large)), (mp.mpf(q_small), mp.mpf(q_large))):
        law = StepLaw(base, T, w_lo, w_hi, [xmin])
        laws.append(law)
        probs.append(law.Z)
    return laws, probs


def pareto_structure(alpha, xmin, T, q_small, q_large, hi):
    """Checks the rank shapes :func:`pareto_informative` needs with :func:`step_rank`; returns
    (A_0, A_1)."""
    (L0, L1), _ = _pareto_laws(alpha, xmin, T, q_small, q_large)
    T, xmin = mp.mpf(T), mp.mpf(xmin)
    A0, A1 = step_rank(L0, 0, hi), step_rank(L1, 0, hi)
    if not A1 > A0:
        raise AssertionError("class 1's rank at 0 is not above class 0's")
    for a in (xmin / 2, xmin * mp.mpf("1.01"), (xmin + T) / 2, T * mp.mpf("0.999")):
        if not step_rank(L0, a, hi) <= A0:
            raise AssertionError("class 0's rank below T exceeds its value at 0")
    for a in (T * mp.mpf("1.01"), 3 * T):
        for law in (L0, L1):
            if abs(step_rank(law, a, hi) - a / alpha) > mp.mpf(10) ** (-mp.mp.dps + 3):
                raise AssertionError("a rank beyond T is not a / alpha")
    u1 = _inverse(L1, alpha, xmin, T)
    if abs(u1(A1)) > mp.mpf("1e-15"):
        raise AssertionError("the first piece's inverse does not give age 0 at A_1")
    k1 = u1(A0)  # below it class 1's rank is above A_0
    for a in (k1 / 2, k1 * mp.mpf("0.9")):
        if abs(u1(step_rank(L1, a, hi)) - a) > mp.mpf("1e-14"):
            raise AssertionError("class 1's rank on its first piece is not the far minimum")
    for a in (k1 * mp.mpf("1.001"), xmin, xmin * mp.mpf("1.01"), (xmin + T) / 2, T * mp.mpf("0.999")):
        if not step_rank(L1, a, hi) < A0:
            raise AssertionError("class 1's rank after its first piece reaches A_0")
    return A0, A1


def _inverse(L1, alpha, xmin, T):
    """u_1(ell) = xmin - max_b (ell D(b) - K(b)) with the maximiser alpha ell beyond T."""
    K0 = L1.mean_min(1, xmin)

    def u1(ell):
        b = alpha * ell
        if not b > T:
            raise AssertionError("the maximiser is not beyond T")
        return xmin - (ell * (1 - L1.sf(b)) - (L1.mean_min(1, b) - K0))

    return u1


def _pareto_informative(alpha, xmin, T, q_small, q_large, lam):
    alpha, xmin, T, lam = mp.mpf(alpha), mp.mpf(xmin), mp.mpf(T), mp.mpf(lam)
    (L0, L1), (p0, p1) = _pareto_laws(alpha, xmin, T, q_small, q_large)
    hi = mp.mpf(10) ** 7
    A0, A1 = pareto_structure(alpha, xmin, T, q_small, q_large, hi)
    u1 = _inverse(L1, alpha, xmin, T)
    uA = u1(A0)
    sA0, sA1 = alpha * A0, alpha * A1

    def m(law, k, c):
        return law.mean_min(k, c)

    def H(ell):
        return (1 - L1.sf(alpha * ell)) / (1 - lam * p0 * m(L0, 1, alpha * ell))

    def G(ell):
        return mp.quad(H, [ell, A1])

    GA = G(A0)

    def cond0(x):
        if x <= sA0:
            n0 = p0 * m(L0, 1, sA0)
            s2 = p0 * m(L0, 2, sA0) + p1 * (m(L1, 2, sA0) - 2 * uA * m(L1, 1, sA0) + uA**2)
            return x + lam * s2 / (2 * (1 - lam * n0))
        ell = x / alpha
        inc = ell >= A1
        u = 0 if inc else u1(ell)
        n = p0 * m(L0, 1, x) + (p1 * m(L1, 1, x) if inc else 0)
        s2 = p0 * m(L0, 2, x) + p1 * (m(L1, 2, x) - 2 * u * m(L1, 1, x) + u**2)
        return lam * s2 / (2 * (1 - lam * n) ** 2) + x / (1 - lam * n)

    nw = p0 * m(L0, 1, sA1)
    n0w = nw + p1 * m(L1, 1, sA1)
    s2w = p0 * m(L0, 2, sA1) + p1 * m(L1, 2, sA1)
    wait1 = lam * s2w / (2 * (1 - lam * n0w) * (1 - lam * nw))

    def cond1(x):
        if x <= sA0:
            return wait1 + GA + (x - uA)
        if x <= sA1:
            ell = x / alpha
            return wait1 + G(ell) + (x - u1(ell)) / (1 - lam * p0 * m(L0, 1, x))
        n = p0 * m(L0, 1, x) + p1 * m(L1, 1, x)
        s2 = p0 * m(L0, 2, x) + p1 * m(L1, 2, x)
        return lam * s2 / (2 * (1 - lam * n) ** 2) + x / (1 - lam * n)

    pts = [xmin, T, sA0, sA1, 10 * sA1, 100 * sA1, 10000 * sA1, mp.inf]
    pts = sorted(set(pts), key=lambda v: v)
    mean = p0 * mp.quad(lambda x: cond0(x) * L0.pdf(x), pts) \
        + p1 * mp.quad(lambda x: cond1(x) * L1.pdf(x), pts)
    return mean, A0, A1, uA


# ---- informative bits on exponential sizes: ties on the flat pieces beyond T ------------------
class ExpLaw:
    """Exponential with mean ``mean`` (closed forms: the incomplete gamma)."""

    def __init__(self, mean=1):
        self.m = mp.mpf(mean)
        self.top = mp.inf

    def sf(self, x):
        return mp.exp(-x / self.m) if x > 0 else mp.mpf(1)

    def cdf(self, x):
        return 1 - self.sf(x)

    def pdf(self, x):
        return mp.exp(-x / self.m) / self.m if x > 0 else mp.mpf(0)

    def partial(self, k, x):
        """E[X^k; X <= x] = m^k gamma(k + 1, x/m) (lower incomplete)."""
        if x <= 0:
            return mp.mpf(0)
        return self.m**k * mp.gammainc(k + 1, 0, x / self.m)

    def mean_min(self, k, x):
        return self.partial(k, x) + x**k * self.sf(x)


def _exp_laws(mean, T, q_small, q_large):
    base = ExpLaw(mean)
    laws = [StepLaw(base, T, 1 - mp.mpf(q_small), mp.mpf(q_large)),
            StepLaw(base, T, mp.mpf(q_small), 1 - mp.mpf(q_large))]
    return laws, [law.Z for law in laws]


def exp_structure(mean, T, q_small, q_large, hi):
    r"""Checks the rank shapes :func:`exp_informative` needs with :func:`step_rank` (at ages
    spread over :math:`[0, T)`, one next to :math:`T` and two beyond it); returns (A_0, A_1)."""
    with mp.workdps(30):  # step_rank's grid starts 1e-15 of a width past its age
        (L0, L1), _ = _exp_laws(mean, T, q_small, q_large)
        m, T = mp.mpf(mean), mp.mpf(T)
        A0, A1 = step_rank(L0, 0, hi), step_rank(L1, 0, hi)
        if not (A0 < m < A1):
            raise AssertionError("the ranks at 0 are not A_0 < E[X] < A_1")
        for v in ("0.25", "0.5", "0.75", "0.999"):
            a = T * mp.mpf(v)
            if not step_rank(L0, a, hi) <= A0:
                raise AssertionError("class 0's rank below T exceeds its value at 0")
            if not m < step_rank(L1, a, hi) <= A1:
                raise AssertionError("class 1's rank below T leaves (E[X], A_1]")
        for law in (L0, L1):
            if abs(step_rank(law, T * mp.mpf("1.5"), hi) - m) > m * mp.mpf("1e-12"):
                raise AssertionError("a rank beyond T is not E[X]")
    return A0, A1


def exp_informative(mean, T, q_small, q_large, lam, dps: int = 20, check: bool = True):
    r"""E[T] of ConditionalGittins with ``OneBit`` advice on exponential sizes of mean
    :math:`m` (the classes as in :func:`pareto_informative`), for the rank shapes below
    (checked by :func:`exp_structure` where ``check``), and the conditional means
    :math:`E[T \mid x, 0]`, :math:`E[T \mid x, 1]`.

    **The ranks.** Beyond :math:`T` both class laws are memoryless: both ranks are :math:`m`
    there, a tie broken FCFS. Below :math:`T` class 0's rank is at most :math:`A_0 = r_0(0) <
    m` (its density falls at :math:`T`) and class 1's lies in :math:`(m, A_1]`, :math:`A_1 =
    r_1(0)` (its density rises at :math:`T`). The formula uses nothing else: no rank value
    enters, only which ages lie below which levels. With :math:`m_k^b(c) = E_b[\min(X,
    c)^k]`, :math:`M_k^b = E_b[X^k]`:

    * class 0, :math:`x \le T`: worst rank :math:`A_0`; no new job is below it (class 0
      starts at :math:`A_0`, class 1 above :math:`m`); old class-0 jobs below age :math:`T`:
      :math:`E[T \mid x, 0] = x + \lambda p_0 m_2^0(T) / (2 (1 - \lambda p_0 m_1^0(T)))`;
    * class 0, :math:`x > T`: worst rank :math:`m`; new class-0 jobs below age :math:`T`
      (strictly below :math:`m`), :math:`N = p_0 m_1^0(T)`; old class-0 jobs whole (at most
      :math:`m` at every age), old class-1 jobs from age :math:`T` on:
      :math:`E[T \mid x, 0] = \lambda (p_0 M_2^0 + p_1 E_1[((X - T)^+)^2]) / (2 (1 - \lambda
      p_0 M_1^0)(1 - \lambda N)) + x / (1 - \lambda N)`;
    * class 1: worst rank :math:`A_1`; new class-0 jobs whole, new class-1 jobs not at all;
      all old jobs whole; at ages below :math:`T` the worst future rank is above :math:`m`
      (new class-0 jobs count whole), from :math:`T` on it is :math:`m` (class 0 below age
      :math:`T` only): :math:`E[T \mid x, 1] = \lambda (p_0 M_2^0 + p_1 M_2^1) / (2 (1 -
      \lambda (p_0 M_1^0 + p_1 M_1^1))(1 - \lambda p_0 M_1^0)) + \min(x, T) / (1 - \lambda p_0
      M_1^0) + (x - T)^+ / (1 - \lambda p_0 m_1^0(T))`.

    The outer expectations are ``mpmath.quad`` on :math:`[0, T]` and :math:`[T, \infty)`."""
    with mp.workdps(dps):
        if check:
            exp_structure(mean, T, q_small, q_large, 60 * mp.mpf(mean) + 2 * mp.mpf(T))
        return _exp_informative(mean, T, q_small, q_large, lam)


def _exp_informative(mean, T, q_small, q_large, lam):
    T, lam = mp.mpf(T), mp.mpf(lam)
    (L0, L1), (p0, p1) = _exp_laws(mean, T, q_small, q_large)
    m10, m20 = L0.mean_min(1, T), L0.mean_min(2, T)
    M10 = mp.quad(lambda x: x * L0.pdf(x), [0, T, mp.inf])
    M20 = mp.quad(lambda x: x**2 * L0.pdf(x), [0, T, mp.inf])
    M11 = mp.quad(lambda x: x * L1.pdf(x), [0, T, mp.inf])
    M21 = mp.quad(lambda x: x**2 * L1.pdf(x), [0, T, mp.inf])
    beyond = mp.quad(lambda x: (x - T) ** 2 * L1.pdf(x), [T, mp.inf])
    N = p0 * m10

    def cond0(x):
        if x <= T:
            return x + lam * p0 * m20 / (2 * (1 - lam * N))
        s2 = p0 * M20 + p1 * beyond
        return lam * s2 / (2 * (1 - lam * p0 * M10) * (1 - lam * N)) + x / (1 - lam * N)

    wait1 = lam * (p0 * M20 + p1 * M21) / (2 * (1 - lam * (p0 * M10 + p1 * M11))
                                            * (1 - lam * p0 * M10))

    def cond1(x):
        return wait1 + min(x, T) / (1 - lam * p0 * M10) + max(x - T, 0) / (1 - lam * N)

    mean_T = p0 * mp.quad(lambda x: cond0(x) * L0.pdf(x), [0, T, mp.inf]) \
        + p1 * mp.quad(lambda x: cond1(x) * L1.pdf(x), [0, T, mp.inf])
    return mean_T, cond0, cond1


# every public function and method at this module's precision, whatever the global setting
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

if str(Path(__file__).parent) not in sys.path:  # loaded by path (benchmarks/): its neighbour
    sys.path.insert(0, str(Path(__file__).parent))
from mp_precision import at_precision  # noqa: E402

at_precision(globals(), 30)
