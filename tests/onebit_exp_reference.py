r"""An independent reference for ConditionalGittins with one-bit advice on exponential sizes
at any threshold (mpmath, 40 digits; nothing here imports the library).

**The class laws.** With :math:`q_< = P(Y = 1 \mid X \le T)`, :math:`q_> = P(Y = 1 \mid X > T)`
and :math:`q_> \ne q_<`, call S the class whose weight below the threshold is the larger
relative to the one above (class 0 where :math:`q_> > q_<`), L the other. On Exp(m) sizes the
density of a class is :math:`w^< e^{-x/m}/m` below :math:`T` and :math:`w^> e^{-x/m}/m` above,
normalised; S has :math:`w^< > w^>`, L has :math:`w^< < w^>`.

**The ranks** (written out here, and checked on a grid of ages by :func:`check_ranks`: the
Gittins index is a :math:`\bar F`-weighted average of the hazard over :math:`[a, b]`,
maximised over :math:`b`). Beyond :math:`T` both laws are memoryless: both ranks are :math:`m`.
Below :math:`T` the hazard of S is above :math:`1/m` and rises (its rank is below :math:`m`
and never rises: a started S job is not overtaken by a new one), that of L is below
:math:`1/m` (its rank is above :math:`m`); the formula below also needs L's rank to be largest
at age 0 (checked).

**The SOAP means** (new jobs count while their rank is strictly below the tagged job's worst
future rank, old jobs while it is at most it; :math:`p` the class probabilities,
:math:`M_k` the class moments, :math:`m_k(c) = E[\min(X, c)^k]`):

* S, :math:`x \le T`: :math:`x + \lambda p_S m^S_2(T) / (2 (1 - \lambda p_S m^S_1(T)))`;
* S, :math:`x > T`: with :math:`N = p_S m^S_1(T)`, :math:`\lambda (p_S M^S_2 + p_L
  E_L[((X - T)^+)^2]) / (2 (1 - \lambda p_S M^S_1)(1 - \lambda N)) + x / (1 - \lambda N)`;
* L: :math:`\lambda (p_S M^S_2 + p_L M^L_2) / (2 (1 - \rho)(1 - \lambda p_S M^S_1)) +
  \min(x, T) / (1 - \lambda p_S M^S_1) + (x - T)^+ / (1 - \lambda p_S m^S_1(T))`.

Every moment is a closed form of the exponential's incomplete moments; :math:`E[T]` is
:math:`\sum_b p_b E_b[E[T \mid X, b]]`, integrated in closed pieces on :math:`[0, T]` and
:math:`[T, \infty)` by ``mpmath.quad``.
"""

from __future__ import annotations

import mpmath as mp

DPS = 30


def _pieces(mean, T, w_lo, w_hi):
    """(probability, density, sf, partial moment k up to c, moment k) of one class."""
    m, T = mp.mpf(mean), mp.mpf(T)
    e = mp.exp(-T / m)
    Z = w_lo * (1 - e) + w_hi * e

    def base_partial(k, c):  # E[X^k; X <= c] of Exp(m)
        return m**k * mp.gammainc(k + 1, 0, c / m) if c > 0 else mp.mpf(0)

    def base_tail(k, c):  # E[X^k; X > c] of Exp(m)
        return m**k * mp.gammainc(k + 1, c / m, mp.inf)

    def partial(k, c):
        c = mp.mpf(c)
        lo = w_lo * base_partial(k, min(c, T))
        hi = w_hi * (base_partial(k, c) - base_partial(k, T)) if c > T else 0
        return (lo + hi) / Z

    def moment(k):
        return (w_lo * base_partial(k, T) + w_hi * base_tail(k, T)) / Z

    def sf(c):
        c = mp.mpf(c)
        if c >= T:
            return w_hi * mp.exp(-c / m) / Z
        return (w_lo * (mp.exp(-c / m) - e) + w_hi * e) / Z

    def pdf(x):
        return (w_lo if x <= T else w_hi) * mp.exp(-x / m) / m / Z

    def min_moment(k, c):  # E[min(X, c)^k]
        return partial(k, c) + mp.mpf(c) ** k * sf(c)

    return Z, pdf, sf, min_moment, moment


def _classes(mean, T, p_small_as_large, p_large_as_small):
    q_lo, q_hi = mp.mpf(p_small_as_large), 1 - mp.mpf(p_large_as_small)
    w = [(1 - q_lo, 1 - q_hi), (q_lo, q_hi)]  # class 0, class 1
    if q_hi == q_lo:
        raise ValueError("an uninformative bit: not this formula")
    s = 0 if q_hi > q_lo else 1
    return _pieces(mean, T, *w[s]), _pieces(mean, T, *w[1 - s]), w[s], w[1 - s]


def gittins_rank(mean, T, w_lo, w_hi, a, grid=400):
    r"""The Gittins rank of the class law with weights ``(w_lo, w_hi)`` at age ``a``: the
    minimum over stopping ages :math:`b > a` of :math:`\int_a^b \bar F / (\bar F(a) - \bar
    F(b))`, on a geometric grid of :math:`b - a` from 1e-8 to 200 means and :math:`b = \infty`."""
    _, _, sf, _, _ = _pieces(mean, T, w_lo, w_hi)
    m, T, a = mp.mpf(mean), mp.mpf(T), mp.mpf(a)

    def integral(lo, hi):  # closed form of the integral of the unnormalised sf
        out = mp.mpf(0)
        if lo < T:
            h = min(hi, T)
            out += w_lo * m * (mp.exp(-lo / m) - mp.exp(-h / m)) - w_lo * (h - lo) * mp.exp(-T / m)
            out += w_hi * (h - lo) * mp.exp(-T / m)
        if hi > T:
            g = max(lo, T)
            out += w_hi * m * (mp.exp(-g / m) - (mp.exp(-hi / m) if hi != mp.inf else 0))
        return out

    Sa = sf(a)
    Z = _pieces(mean, T, w_lo, w_hi)[0]
    best = integral(a, mp.inf) / Z / Sa
    for d in (mp.mpf(10) ** (-8 + 10.3 * i / grid) * m for i in range(grid + 1)):
        b = a + d
        drop = Sa - sf(b)
        if drop > 0:
            best = min(best, integral(a, b) / Z / drop)
    return best


def check_ranks(mean, T, p_small_as_large, p_large_as_small, n=12, grid=400):
    """Checks the rank shapes the formula needs on ``n`` ages spread over ``[0, T)`` (and two
    beyond ``T``); raises AssertionError if one fails."""
    with mp.workdps(DPS):
        _, _, wS, wL = _classes(mean, T, p_small_as_large, p_large_as_small)
        m, T = mp.mpf(mean), mp.mpf(T)
        ages = [T * i / n for i in range(n)]
        rS = [gittins_rank(mean, T, *wS, a, grid) for a in ages] if wS[0] > 0 else []
        rL = [gittins_rank(mean, T, *wL, a, grid) for a in ages] if wL[0] > 0 else []
        if not all(r < m for r in rS) or not all(x >= y for x, y in zip(rS, rS[1:])):
            raise AssertionError("class S's rank below T is not below E[X] and non-rising")
        if rL and not (all(r > m for r in rL) and max(rL) <= rL[0]):
            raise AssertionError("class L's rank below T is not above E[X], largest at 0")
        for w in (wS, wL):
            if w[1] > 0:
                for a in (T * mp.mpf("1.5"), T + 3 * m):
                    if abs(gittins_rank(mean, T, *w, a, grid) - m) > m * mp.mpf("1e-6"):
                        raise AssertionError("a rank beyond T is not E[X]")


def mean_response(mean, T, p_small_as_large, p_large_as_small, lam):
    r""":math:`E[T]` of ConditionalGittins (see the module docstring), at ``DPS`` digits."""
    with mp.workdps(DPS):
        (pS, fS, _, mmS, MS), (pL, fL, sfL, mmL, ML), wS, wL = _classes(
            mean, T, p_small_as_large, p_large_as_small)
        T, lam = mp.mpf(T), mp.mpf(lam)
        rho = lam * (pS * MS(1) + pL * ML(1))
        n_T = pS * mmS(1, T)
        old_S = pS * mmS(2, T) / (2 * (1 - lam * n_T))
        # E_L[((X - T)^+)^2] = E_L[X^2] - E_L[min(X, T)^2] - 2 T (E_L[X] - E_L[min(X, T)])
        beyond_L = ML(2) - mmL(2, T) - 2 * T * (ML(1) - mmL(1, T)) if pL > 0 else 0
        s2_beyond = pS * MS(2) + pL * beyond_L
        hi_S = lam * s2_beyond / (2 * (1 - lam * pS * MS(1)) * (1 - lam * n_T))
        wait_L = lam * (pS * MS(2) + pL * ML(2)) / (2 * (1 - rho) * (1 - lam * pS * MS(1)))

        def cond_S(x):
            return x + lam * old_S if x <= T else hi_S + x / (1 - lam * n_T)

        def cond_L(x):
            return (wait_L + min(x, T) / (1 - lam * pS * MS(1))
                    + max(x - T, 0) / (1 - lam * n_T))

        out = mp.mpf(0)
        for p, f, cond in ((pS, fS, cond_S), (pL, fL, cond_L)):
            if p > 0:
                cut = sorted({min(T, 40 * mp.mpf(mean)), T})  # the mass sits near 0
                def g(x, cond=cond, f=f):
                    return cond(x) * f(x)

                out += p * (mp.quad(g, [0, *cut]) + mp.quad(g, [T, T + 40 * mp.mpf(mean), mp.inf]))
        return out
