r"""An independent reference for ConditionalGittins on exponential sizes (mean 1) with
exponential predictions (:math:`Y \mid X = x \sim \mathrm{Exp}(\text{mean } x)`), in mpmath.
Nothing here imports the library.

The joint density is :math:`k(x, y) = e^{-x} e^{-y/x} / x`; given :math:`Y = y` the size has
the tail :math:`S_y(t) = \int_t^\infty k(x, y)\,dx` (unnormalised: the factor :math:`f_Y(y)`
cancels in the rank and is wanted in the level functions).

**The index** (by direct maximisation, as in ``tests/gittins_mp_reference.py``):
:math:`r(y, a) = \inf_{b > a} \int_a^b S_y / (S_y(a) - S_y(b))`, found by a scan of stopping
ages :math:`b` log-spaced above :math:`a` and golden-section search around the best one, with
the limits :math:`b \downarrow a` (:math:`1/h`) and :math:`b = \infty` (the mean residual life)
as candidates.

**The level functions** (``docs/soap_predictions.md``, sections 3-5; the rank of a job with
prediction y falls until the hazard's peak and is :math:`1/h` after it, so the set
:math:`\{a : r(y, a) \le \ell\}` is one interval :math:`[B_y(\ell), C_y(\ell))` with
:math:`1/h_y(C) = \ell` on the rising side and :math:`\int_B^C S = \ell (S(B) - S(C))`):

here the index itself, the hazard's peak, :math:`C_y(\ell)`, :math:`B_y(\ell)` and the
prediction :math:`y_0(\ell)` where :math:`r(y_0, 0) = \ell` (the end of the new-work integral);
the level functions themselves are checked by ``tests/conditional_gittins_quad_reference.py``
(scipy quadrature, faster).

Run ``python tests/conditional_gittins_mp_reference.py`` to print the values the tests use
(about a minute at 20 digits).
"""

from __future__ import annotations

import mpmath as mp

mp.mp.dps = 20


def k(x, y):
    return mp.exp(-x - y / x) / x if x > 0 else mp.mpf(0)


def _split(y):
    """Break points of the x-integrals: the density peaks near sqrt(y)."""
    s = mp.sqrt(y)
    return [s / 8, s / 2, s, 2 * s, 8 * s + 4]


def S(y, t):
    """P(X > t, Y in dy)/dy."""
    pts = sorted(set([t] + [p for p in _split(y) if p > t] + [mp.inf]))
    return mp.quad(lambda x: k(x, y), pts)


def S_int(y, a, b):
    r""":math:`\int_a^b S_y(t)\,dt = \int_a^\infty (\min(x, b) - a) k(x, y)\,dx`."""
    pts = sorted(set([a, b] + [p for p in _split(y) if p > a] + [mp.inf]))
    return mp.quad(lambda x: (min(x, b) - a) * k(x, y), pts)


def rank(y, a, scan: int = 40, iters: int = 50):
    """The Gittins rank r(y, a) by direct minimisation over the stopping age b."""
    y, a = mp.mpf(y), mp.mpf(a)
    Sa = S(y, a)
    cands = [S_int(y, a, mp.inf) / Sa]  # b = infinity
    if a > 0:
        cands.append(Sa / k(a, y))  # b -> a
    lo = max(a, mp.sqrt(y) / 100) if a == 0 else a

    def ratio(b):
        den = Sa - S(y, b)
        return S_int(y, a, b) / den if den > 0 else mp.inf

    bs = [lo + (mp.sqrt(y) + 1) * mp.mpf(10) ** (mp.mpf(j) / scan * 4 - 3) for j in range(scan + 1)]
    vals = [ratio(b) for b in bs]
    j = min(range(len(vals)), key=lambda i: vals[i])
    left = bs[max(j - 1, 0)] if j > 0 else a + (bs[0] - a) / 1000
    right = bs[min(j + 1, scan)]
    g = (mp.sqrt(5) - 1) / 2
    x1, x2 = right - g * (right - left), left + g * (right - left)
    f1, f2 = ratio(x1), ratio(x2)
    for _ in range(iters):
        if f1 <= f2:
            right, x2, f2 = x2, x1, f1
            x1 = right - g * (right - left)
            f1 = ratio(x1)
        else:
            left, x1, f1 = x1, x2, f2
            x2 = left + g * (right - left)
            f2 = ratio(x2)
    cands.append(min(f1, f2, *vals))
    return min(cands)


def hazard_peak(y):
    """The age where the hazard of X | y peaks (golden section on 1/h)."""
    left, right = mp.sqrt(y) / 50, 4 * mp.sqrt(y) + 6
    g = (mp.sqrt(5) - 1) / 2

    def ih(t):
        return S(y, t) / k(t, y)

    x1, x2 = right - g * (right - left), left + g * (right - left)
    f1, f2 = ih(x1), ih(x2)
    for _ in range(60):
        if f1 <= f2:
            right, x2, f2 = x2, x1, f1
            x1 = right - g * (right - left)
            f1 = ih(x1)
        else:
            left, x1, f1 = x1, x2, f2
            x2 = left + g * (right - left)
            f2 = ih(x2)
    return (left + right) / 2


def c_new(y, ell, ap):
    """C_y(l): 1/h(C) = l on the rising side of the hazard (beyond its peak ap)."""
    f = lambda u: S(y, mp.exp(u)) / k(mp.exp(u), y) - ell  # noqa: E731
    lo, hi = mp.log(ap), mp.log(ap) + 1
    while f(hi) < 0:
        lo, hi = hi, hi + 1
        if hi > mp.log(200):
            return mp.inf
    return mp.exp(mp.findroot(f, (lo, hi), solver="anderson"))


def b_old(y, ell, C, ap):
    """B_y(l): the falling-side end of the old interval [B, C)."""
    def F(b):
        b = max(b, mp.mpf(0))
        Sc = S(y, C) if C != mp.inf else 0
        return S_int(y, b, C) - ell * (S(y, b) - Sc)
    if F(mp.mpf(0)) <= 0:
        return mp.mpf(0)
    return mp.findroot(F, (mp.mpf(0), ap), solver="anderson")


def y0(ell):
    """r(y0, 0) = l."""
    def f(u):
        return mp.log(rank(mp.exp(u), 0)) - mp.log(ell)

    return mp.exp(mp.findroot(f, (mp.log(ell) - 4, mp.log(ell) + 2), solver="anderson"))


if __name__ == "__main__":
    for y, a in ((0.3, 0.0), (0.3, 0.2), (2.0, 0.0), (2.0, 1.5), (1e-6, 0.0)):
        print("rank", y, a, mp.nstr(rank(y, a), 16))
    print("y0", 0.5, mp.nstr(y0(0.5), 16))


# every public function and method at this module's precision, whatever the global setting
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

if str(Path(__file__).parent) not in sys.path:  # loaded by path (benchmarks/): its neighbour
    sys.path.insert(0, str(Path(__file__).parent))
from mp_precision import at_precision  # noqa: E402

at_precision(globals(), 20)
