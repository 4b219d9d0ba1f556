r"""An independent quadrature reference for the level functions of ConditionalGittins on
exponential sizes (mean 1) with exponential predictions (``scipy.integrate.quad`` and
``scipy.optimize``; nothing here imports the library).

Given :math:`Y = y` the joint density is :math:`k(x, y) = e^{-x - y/x}/x` and the tail
:math:`S_y(t) = \int_t^\infty k(x, y)\,dx`. The Gittins rank of a job with prediction
:math:`y` falls until the hazard :math:`h_y = k/S_y` peaks at :math:`a_p(y)` and is
:math:`1/h_y` after it, so :math:`\{a : r(y, a) \le \ell\} = [B_y(\ell), C_y(\ell))` with
:math:`1/h_y(C) = \ell` (:math:`C > a_p`) and :math:`\int_B^C S_y = \ell (S_y(B) - S_y(C))`
(``docs/gittins.md``; ``docs/soap_predictions.md``, sections 3-5). With :math:`y_0(\ell)`
where :math:`r(y_0, 0) = \ell` and :math:`y_1(\ell)` where the minimal rank
:math:`1/h_y(a_p)` is :math:`\ell` (both given: from ``tests/conditional_gittins_mp_reference.py``
or the code under test; the values only place the integration ends):

.. math::
    N(\ell) = \int_0^{y_0} \int_0^{C_y} S_y\,dt\,dy, \qquad
    S_2(\ell) = \int_0^{y_0} E[\min(X, C_y)^2; Y \in dy]
              + \int_{y_0}^{y_1} E[((\min(X, C_y) - B_y)^+)^2; Y \in dy],

the second integral in :math:`\log(y_1/y) = s^2` (its integrand vanishes like
:math:`(y_1 - y)` at the tip, with a :math:`(y_1 - y)^{3/2}` term).

Run ``python tests/conditional_gittins_quad_reference.py L Y0 Y1`` (about 30 s).
"""

from __future__ import annotations

import math
import sys

import numpy as np
from scipy import integrate, optimize


def k(x, y):
    return math.exp(-x - y / x) / x if x > 0 else 0.0


def _quad(f, a, b, y):
    s = math.sqrt(y)
    pts = sorted({a} | {p for p in (s / 8, s / 2, s, 2 * s, 8 * s + 4) if a < p < b}
                 | ({b} if math.isfinite(b) else set()))
    tot = sum(integrate.quad(f, lo, hi, epsabs=0, epsrel=1e-13, limit=200)[0]
              for lo, hi in zip(pts[:-1], pts[1:]))
    if not math.isfinite(b):
        tot += integrate.quad(f, pts[-1], np.inf, epsabs=0, epsrel=1e-13, limit=200)[0]
    return tot


def S(y, t):
    return _quad(lambda x: k(x, y), t, np.inf, y)


def inv_hazard(y, t):
    return S(y, t) / k(t, y)


def peak(y):
    r = optimize.minimize_scalar(lambda u: math.log(inv_hazard(y, math.exp(u))),
                                 bounds=(math.log(y / 2), math.log(3 * y + 2)), method="bounded",
                                 options={"xatol": 1e-10})
    return math.exp(r.x)


def c_new(y, ell, ap):
    def g(u):
        return math.log(inv_hazard(y, math.exp(u))) - math.log(ell)

    hi = math.log(ap) + 0.5
    while g(hi) < 0:
        hi += 0.5
        if hi > math.log(30):  # beyond 30 the tail is below 1e-13: C = infinity
            return math.inf
    return math.exp(optimize.brentq(g, math.log(ap), hi, xtol=1e-15, rtol=1e-15))


def s_int(y, a, b):
    return _quad(lambda x: (min(x, b) - a) * k(x, y), a, np.inf, y)


def old_square(y, b, c):
    return _quad(lambda x: (min(x, c) - b) ** 2 * k(x, y), b, np.inf, y)


def b_old(y, ell, c, ap):
    def F(b):
        return s_int(y, b, c) - ell * (S(y, b) - (S(y, c) if math.isfinite(c) else 0.0))

    if F(1e-300) <= 0:
        return 0.0
    if F(ap) >= 0:  # the tip: the interval has shrunk to the peak
        return ap
    return optimize.brentq(F, 1e-300, ap, xtol=1e-16, rtol=1e-14)


def levels(ell, y0, y1, ylo=1e-16):
    """(N(l), S2(l)) by nested adaptive quadrature."""
    def head(u, which):
        y = math.exp(u)
        c = c_new(y, ell, peak(y))
        return y * (s_int(y, 0.0, c) if which == 0 else old_square(y, 0.0, c))

    n = integrate.quad(head, math.log(ylo), math.log(y0), args=(0,), epsabs=0, epsrel=1e-11,
                       limit=200)[0]
    s2a = integrate.quad(head, math.log(ylo), math.log(y0), args=(1,), epsabs=0, epsrel=1e-11,
                         limit=200)[0]

    def tip(s):
        y = y1 * math.exp(-s * s)
        ap = peak(y)
        c = c_new(y, ell, ap)
        return y * 2 * s * old_square(y, b_old(y, ell, c, ap), c)

    s2b = integrate.quad(tip, 0.0, math.sqrt(math.log(y1 / y0)), epsabs=0, epsrel=1e-10,
                         limit=200)[0]
    return n, s2a + s2b


if __name__ == "__main__":
    ell, y0, y1 = (float(v) for v in sys.argv[1:4])
    print(ell, levels(ell, y0, y1))
