r"""An independent closed-form reference for E[T] of ConditionalGittins on exponential sizes
(mean 1) with a factor log-uniform on :math:`[z_{lo}, z_{hi}]`
(``qt.BoundedMultiplicative(zlo, zhi, law="loguniform")``): scipy's incomplete gamma functions,
``quad`` and ``brentq``; nothing here imports the library.

Given :math:`Y = y` the joint density is :math:`k(x, y) = e^{-x} f_Z(y/x)/x = e^{-x}/(yL)` on
:math:`[a, b] = [y/z_{hi}, y/z_{lo}]` (:math:`L = \log(z_{hi}/z_{lo})`): :math:`X \mid y` is
exponential truncated to :math:`[a, b]`, log-concave, so its hazard rises and the Gittins
rank is the mean residual life (``docs/gittins.md``), falling in the age:

.. math::
    m(t) = 1 - \frac{d}{e^d - 1}, \quad d = b - t \quad (a \le t < b), \qquad
    r(y, t) = (a - t) + m(a) \quad (t < a).

So :math:`\{t : r(y, t) \le \ell\} = [B_y(\ell), \infty)` with :math:`B = 0` where
:math:`r(y, 0) = a + m(a) \le \ell`, :math:`B = a + m(a) - \ell` where :math:`m(a) \le \ell`,
and otherwise :math:`B = b - d(\ell)` with :math:`d/(e^d - 1) = 1 - \ell` (independent of
:math:`y`). The moments :math:`\int_s^b (x - B)^j e^{-x} dx = e^{-B} j!\,[P(j+1, b-B) - P(j+1,
s-B)]` (regularised incomplete gamma). The level functions (``docs/soap_predictions.md``,
sections 3-5; :math:`r(y, 0)` rises in :math:`y`, checked), with :math:`y_0(\ell)` where
:math:`r(y_0, 0) = \ell`:

.. math::
    N(\ell) = E[X; Y \le y_0], \qquad
    S_2(\ell) = E[X^2; Y \le y_0] + \int_{y_0}^\infty E[((X - B_y)^+)^2; Y \in dy], \qquad
    A(\ell) = N(\ell) + \int_{y_0}^\infty E[(X - B_y)^+; Y \in dy],

and (the rank falling in the age; the by-parts form of
``tests/conditional_gittins_ihr_reference.py``)

.. math::
    E[T] = \frac{1}{1 - \rho} + \lambda \int_0^\infty f_Y(v)
           \frac{S_2(r(v, 0))/2 - r(v, 0) A(r(v, 0))}{(1 - \lambda N(r(v, 0)))^2} dv,

by Gauss-Legendre panels in :math:`\log v` (:func:`_panels`; the orders 8 and 12 give the
rule's own error) with edges where :math:`r(v, 0) = 1` (the supremum of the
rank at the support's start, :math:`m(a) \to 1` as :math:`y \to \infty`: the old work has a
kink of power about 1/3 there) and at the y where :math:`m(a) = \ell` inside.

The same holds for Erlang(2) sizes of mean 1 with a uniform factor (``erlang2-uniform``:
:math:`k = 4 e^{-2x}/(z_{hi} - z_{lo})`, an exponential of rate 2 truncated to the same
support; the rank at the support's start climbs to 1/2).

Run ``python tests/conditional_gittins_truncexp_reference.py [erlang2-uniform] ZLO ZHI LOAD1
LOAD2 ...`` (E[T]; seconds) or ``... [erlang2-uniform] levels ZLO ZHI L1 L2 ...`` (N, S2).
"""

from __future__ import annotations

import math
import sys

from scipy import integrate, optimize, special

ZLO, ZHI = 0.5, 2.0
EPS = 1e-11
#: the case: "exp-loguniform" (Exp(1) sizes, log-uniform factor: k = e^{-x}/(yL)) or
#: "erlang2-uniform" (Erlang(2) sizes of mean 1, uniform factor: k = 4 e^{-2x}/(z_hi - z_lo));
#: both truncated exponentials of rate MU
CASE = "exp-loguniform"
MU = 1.0


def _c(y):
    """k(x, y) = _c(y) e^{-MU x} on the support."""
    if CASE == "exp-loguniform":
        return 1.0 / (y * _L())
    return 4.0 / (ZHI - ZLO)


def f_size(x):
    return math.exp(-x) if CASE == "exp-loguniform" else 4.0 * x * math.exp(-2.0 * x)


def F_Z(z):
    if z <= ZLO:
        return 0.0
    if z >= ZHI:
        return 1.0
    return math.log(z / ZLO) / _L() if CASE == "exp-loguniform" else (z - ZLO) / (ZHI - ZLO)


def _L():
    return math.log(ZHI / ZLO)


def _ab(y):
    return y / ZHI, y / ZLO


def m_trunc(d):
    """The mean residual life of an exponential of rate MU truncated at distance d ahead:
    (1 - MU d/(e^{MU d} - 1)) / MU."""
    return _m1(MU * d) / MU


def _m1(d):
    """m_trunc at rate 1."""
    if d <= 0:
        return 0.0
    if d < 1e-4:
        return d / 2 - d * d / 12
    if d > 1.0:
        return 1.0 - d * math.exp(-d) / -math.expm1(-d)
    return 1.0 - d / math.expm1(d)


def r0(y):
    """r(y, 0) = a + m(a) = E[X | y]."""
    a, b = _ab(y)
    return a + m_trunc(b - a)


def d_of(ell):
    """d > 0 with m_trunc(d) = ell (ell in (0, 1/MU))."""
    hi = 1.0
    while m_trunc(hi) < ell:
        hi *= 2.0
    return optimize.brentq(lambda d: m_trunc(d) - ell, 0.0, hi, xtol=1e-300, rtol=1e-15)


def moment(y, B, j):
    """int (x - B)^j k(x, y) over x >= max(a, B) (unnormalised: times f_Y(y))."""
    a, b = _ab(y)
    s = max(a, B)
    if s >= b:
        return 0.0
    z1, z2 = s - B, b - B
    z1, z2 = MU * z1, MU * z2
    if z1 > 1.0:
        g = special.gammaincc(j + 1, z1) - special.gammaincc(j + 1, z2)
    else:
        g = special.gammainc(j + 1, z2) - special.gammainc(j + 1, z1)
    return math.exp(-MU * B) * math.factorial(j) * g / MU ** (j + 1) * _c(y)


def f_Y(y):
    a, b = _ab(y)
    return (math.exp(-MU * a) - math.exp(-MU * b)) / MU * _c(y)


def y0(ell):
    """r(y0, 0) = ell."""
    g = lambda u: r0(math.exp(u)) - ell  # noqa: E731
    lo, hi = -60.0, 10.0
    return math.exp(optimize.brentq(g, lo, hi, xtol=1e-15, rtol=1e-15))


def B_of(y, ell, d):
    """The old interval's start B_y(l) for r(y, 0) > l (d = d_of(l) or inf for l >= 1)."""
    a, b = _ab(y)
    ma = m_trunc(b - a)
    if ma <= ell:
        return a + ma - ell
    return b - d


def levels(ell):
    """(N, S2, A) at level ell."""
    v0 = y0(ell)
    # E[X^j; Y <= v0] = int x^j e^{-x} F_Z(v0 / x) dx, F_Z(z) = log(z/zlo)/L inside
    def head(j):
        def g(x):
            return x ** j * f_size(x) * F_Z(v0 / x)
        pts = [0.0, v0 / ZHI, v0 / ZLO]
        out = sum(integrate.quad(g, p, q, epsabs=0, epsrel=EPS, limit=200)[0]
                  for p, q in zip(pts, pts[1:]))
        return out + integrate.quad(g, v0 / ZLO, math.inf, epsabs=0, epsrel=EPS, limit=200)[0]
    n, s2a = head(1), head(2)
    d = d_of(ell) if ell < 1.0 / MU else math.inf
    # the prediction where m(a) = ell (B reaches the support's start): b - a = d
    ys = d / (1.0 / ZLO - 1.0 / ZHI) if d < math.inf else math.inf

    def old(u, j):
        y = math.exp(u)
        return y * moment(y, B_of(y, ell, d), j)

    ulo, utop = math.log(v0), math.log(250.0 * ZHI)
    pts = sorted({ulo, utop} | ({math.log(ys)} if ulo < math.log(ys) < utop else set()))
    pts = sorted(set(pts) | {u for u in range(-40, 8, 2) if ulo < u < utop})
    s2b = a1 = 0.0
    for p, q in zip(pts, pts[1:]):
        s2b += integrate.quad(old, p, q, args=(2,), epsabs=0, epsrel=EPS, limit=200)[0]
        a1 += integrate.quad(old, p, q, args=(1,), epsabs=0, epsrel=EPS, limit=200)[0]
    return n, s2a + s2b, n + a1


def _panels(v1: float, grade: int = 10) -> list[float]:
    """Panel edges in u = log v: wide where the integrand is smooth, 0.5 wide from -4.5 to the
    top, and the panels on either side of log v1 (r(v1, 0) = 1: the kink) halved ``grade``
    times towards it."""
    top = math.log(250.0 * ZHI)
    e = [-40.0, -30.0, -22.0, -16.0, -12.0, -9.0, -7.0, -5.5, -4.5]
    e += [u / 2 for u in range(-8, int(2 * top) + 1) if u / 2 < top - 0.25] + [top]
    k = math.log(v1)
    i = max(j for j in range(len(e)) if e[j] < k)
    lo, hi = e[i], e[i + 1]
    g = [2.0 ** -n for n in range(1, grade + 1)]
    return sorted(set(e) | {k} | {k - (k - lo) * t for t in g} | {k + (hi - k) * t for t in g})


def mean(lams, order: int = 12):
    """E[T] at each arrival rate (sizes of mean 1): Gauss-Legendre of ``order`` on
    :func:`_panels` over u = log v, the level functions once per node for all loads."""
    lams = list(lams)
    v1 = y0((1.0 - 1e-15) / MU)
    e = _panels(v1)
    t, w = (lambda t, w: ((t + 1) / 2, w / 2))(*__import__("numpy").polynomial.legendre.leggauss(order))
    tot = [0.0] * len(lams)
    for p, q in zip(e[:-1], e[1:]):
        for ti, wi in zip(t, w):
            u = p + (q - p) * ti
            v = math.exp(u)
            ell = r0(v)
            n, s2, a = levels(ell)
            base = (q - p) * wi * v * f_Y(v) * (s2 / 2 - ell * a)
            for i, lam in enumerate(lams):
                tot[i] += base / (1 - lam * n) ** 2
    return [1 / (1 - lam) + lam * x for lam, x in zip(lams, tot)]


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[0] == "erlang2-uniform":
        CASE, MU = args[0], 2.0
        args = args[1:]
    if args[0] == "levels":
        ZLO, ZHI = float(args[1]), float(args[2])
        for v in args[3:]:
            print(v, [repr(x) for x in levels(float(v))])
        sys.exit(0)
    if args[0] == "erlang2-uniform":
        CASE, MU = args[0], 2.0
        args = args[1:]
    ZLO, ZHI = float(args[0]), float(args[1])
    us = [u / 4 for u in range(-120, 24)]
    r = [r0(math.exp(u)) for u in us]
    assert all(q > p for p, q in zip(r, r[1:])), "r(y, 0) not increasing"
    order = int(__import__("os").environ.get("ORDER", "12"))
    for lam, v in zip(args[2:], mean([float(v) for v in args[2:]], order)):
        print("order", order, "load", lam, "E[T]", repr(v), flush=True)
