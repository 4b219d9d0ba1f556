r"""An independent reference for the conditional mean :math:`E[T \mid x, y]` of ConditionalGittins
on exponential sizes (mean 1) with exponential predictions, at arrival rate 0.8
(``scipy.integrate.quad`` and ``scipy.optimize``; nothing here imports the library).

The pieces of :math:`X \mid Y = y` (the tail :math:`S_y`, its integrals, the hazard's peak,
:math:`C_y(\ell)`, the old interval's second moment) are those of
``tests/conditional_gittins_quad_reference.py``. Written here:

* the Gittins rank :math:`r(y, a) = \inf_{b > a} \int_a^b S_y / (S_y(a) - S_y(b))` by direct
  minimisation: a scan of 24 stopping ages log-spaced on :math:`[\max(a, a_p), 30]`, refined by
  bounded Brent steps around the best one, and the mean residual life (:math:`b = \infty`) as a
  candidate;
* :math:`y_0(\ell)` (:math:`r(y_0, 0) = \ell`) and :math:`y_1(\ell)` (the minimal rank
  :math:`1/h_y(a_p(y))` is :math:`\ell`) by Brent's root finder on those;
* the level functions :math:`N(\ell)`, :math:`S_2(\ell)` by nested adaptive quadrature
  (``docs/soap_predictions.md``, sections 3-5), :math:`N` on a Chebyshev interpolant in
  :math:`\ell` (10 nodes) over the levels the residence visits, its error printed at an extra
  level; the residence by adaptive quadrature in the age;
* SOAP's conditional mean (``docs/soap.md``): with :math:`r_w(a) = \sup_{[a, x)} r(y, \cdot)` and
  :math:`R = r_w(0)`,
  :math:`E[T \mid x, y] = \lambda S_2(R) / (2 (1 - \lambda N(R))^2) + \int_0^x da / (1 -
  \lambda N(r_w(a)))`, where, the rank falling to the hazard's peak and being :math:`1/h_y`
  after it, :math:`r_w(a) = \max(r(y, a), 1/h_y(x))` for :math:`x > a_p`: the residence is
  the integral of :math:`g(r(y, a))` up to the age :math:`B` where :math:`r(y, B) = 1/h_y(x)`
  (a root of the rank itself), then flat.

Run ``python tests/conditional_gittins_class_reference.py Y X1 X2 ...`` to print the values
the tests use (several minutes; ``--direct``: N at each node of the residence's quadrature,
where the levels it visits cross a region that N's interpolant does not follow).
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
from scipy import integrate, optimize

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conditional_gittins_quad_reference import (  # noqa: E402
    S,
    b_old,
    c_new,
    inv_hazard,
    levels,
    old_square,
    peak,
    s_int,
)

LAM = 0.8


def rank(y, a, ap):
    """r(y, a) for a <= ap by direct minimisation over the stopping age b."""
    Sa = S(y, a)

    def ratio(u):
        b = math.exp(u)
        den = Sa - S(y, b)
        return s_int(y, a, b) / den if den > 0 else math.inf

    lo, hi = math.log(max(a, ap)), math.log(30.0)
    us = np.linspace(lo, hi, 24)
    vals = [ratio(u) for u in us]
    j = int(np.argmin(vals))
    r = optimize.minimize_scalar(ratio, bounds=(us[max(j - 1, 0)], us[min(j + 1, 23)]),
                                 method="bounded", options={"xatol": 1e-10})
    mrl = s_int(y, a, math.inf) / Sa
    return min(float(r.fun), min(vals), mrl)


def y0(ell):
    return math.exp(optimize.brentq(lambda u: math.log(rank(math.exp(u), 0.0, peak(math.exp(u))) / ell),
                                    math.log(1e-3), math.log(10.0), xtol=1e-14, rtol=1e-14))


def y1(ell):
    """The prediction where the minimal rank reaches l (inf where it stays below l)."""
    def f(u):
        y = math.exp(u)
        return math.log(inv_hazard(y, peak(y)) / ell)

    if f(math.log(10.0)) < 0:
        return math.inf
    return math.exp(optimize.brentq(f, math.log(1e-3), math.log(10.0), xtol=1e-14, rtol=1e-14))


def new_work(ell, ylo=1e-16):
    """N(l) = int_0^{y0} E[min(X, C_y(l)); Y in dy] (in log y)."""
    def head(u):
        y = math.exp(u)
        return y * s_int(y, 0.0, c_new(y, ell, peak(y)))

    return integrate.quad(head, math.log(ylo), math.log(y0(ell)), epsabs=0, epsrel=1e-11, limit=200)[0]


def old_work(ell, yhi=200.0):
    """S2(l) by the quad reference's nested quadrature (the head below y0, the old intervals
    [B, C) on [y0, y1] in log(y1 / y) = s^2), with y0 and y1 from here; where the minimal
    rank stays below l for every prediction above y0 (y1 = inf) the old intervals
    [B_y, C_y) are integrated in log y from y0 to ``yhi`` (at l = 1.456 the part beyond
    y = 80 is still 2e-8 of S2; to 200 it is within 5e-12 of the library's value; the quad
    reference's hazard peak search underflows beyond y ~ 300)."""
    a, b = y0(ell), y1(ell)
    if math.isfinite(b):
        return levels(ell, a, b)[1]
    s2a = levels_head(ell, a)

    def tail(u):
        y = math.exp(u)
        ap = peak(y)
        c = c_new(y, ell, ap)
        return y * old_square(y, b_old(y, ell, c, ap), c)

    return s2a + integrate.quad(tail, math.log(a), math.log(yhi), epsabs=0, epsrel=1e-11, limit=400)[0]


def levels_head(ell, y0v, ylo=1e-16):
    """The head of S2(l): int_0^{y0} E[min(X, C_y(l))^2; Y in dy]."""
    def head(u):
        y = math.exp(u)
        return y * old_square(y, 0.0, c_new(y, ell, peak(y)))

    return integrate.quad(head, math.log(ylo), math.log(y0v), epsabs=0, epsrel=1e-11, limit=200)[0]


def cheb_nodes(lo, hi, n):
    t = np.cos(np.pi * (np.arange(n) + 0.5) / n)
    return 0.5 * (lo + hi) + 0.5 * (hi - lo) * t


def cheb_interp(xs, fs, lo, hi):
    c = np.polynomial.chebyshev.chebfit((2 * xs - lo - hi) / (hi - lo), fs, len(xs) - 1)
    return lambda v: float(np.polynomial.chebyshev.chebval((2 * v - lo - hi) / (hi - lo), c))


def conditional(y, xs, n_cheb=10, direct=False):
    """E[T | x, y] at the sizes ``xs`` of one prediction ``y``, and the error of N's
    interpolant at an extra level (between its two middle nodes); ``direct``: N computed at
    each node of the residence's quadrature instead (epsrel 1e-10: slower)."""
    ap = peak(y)
    r0 = rank(y, 0.0, ap)
    plan = []
    for x in xs:
        if x <= ap:
            plan.append((x, x, None))  # residence to x on the falling branch
        else:
            ell = inv_hazard(y, x)
            if ell >= r0:
                plan.append((x, 0.0, ell))
            else:
                B = optimize.brentq(lambda t, e=ell: rank(y, t, ap) - e, 0.0, ap, xtol=1e-14, rtol=1e-13)
                plan.append((x, B, ell))
    # N over the levels the residences visit: r(y, a) for a up to the largest B (a Chebyshev
    # interpolant in l: N is smooth there where those levels avoid l = 1, above which the new
    # work of every prediction below y0 is whole)
    amax = max(p[1] for p in plan)
    lo, hi = rank(y, amax, ap), r0
    nodes = cheb_nodes(lo, hi, n_cheb)
    Ni = cheb_interp(nodes, np.array([new_work(v) for v in nodes]), lo, hi)
    mid = 0.5 * (nodes[n_cheb // 2] + nodes[n_cheb // 2 - 1])
    check = abs(Ni(mid) - new_work(mid))

    def g(l):
        return 1.0 / (1.0 - LAM * (new_work(l) if direct else Ni(l)))

    out = []
    N0, S0 = new_work(r0), old_work(r0)
    for x, B, ell in plan:
        res = 0.0
        if B > 0:
            res = integrate.quad(lambda a: g(rank(y, a, ap)), 0.0, B, epsabs=0,
                                 epsrel=1e-10 if direct else 1e-12, limit=100)[0]
        if ell is None:  # falling branch: R = r(y, 0)
            R, NR, SR = r0, N0, S0
        elif ell >= r0:  # beyond b0: R = 1/h(x), flat all along
            R, NR, SR = ell, new_work(ell), old_work(ell)
            res = x / (1.0 - LAM * NR)
        else:  # to B (r(y, B) = 1/h(x)) on the falling branch, then flat at 1/h(x)
            R, NR, SR = r0, N0, S0
            res += (x - B) * g(ell)
        wait = LAM * SR / (2 * (1 - LAM * NR) ** 2)
        out.append((x, wait + res, R))
    return out, check


if __name__ == "__main__":
    direct = "--direct" in sys.argv
    args = [v for v in sys.argv[1:] if v != "--direct"]
    y = float(args[0]) if args else 0.3
    xs = [float(v) for v in args[1:]] or [0.3, 1.0, 3.0]
    vals, check = conditional(y, xs, direct=direct)
    print("N interpolant check", check)
    for x, v, R in vals:
        print(f"({y!r}, {x!r}, {v!r}),  # R = {R!r}")
