r"""An independent reference for the falling prediction rank :math:`y/(1 + a)` on Exp(1) sizes
with a uniform error factor :math:`Z \sim U[z_l, z_h]` (``UniformPrediction``,
``BoundedMultiplicative(z_l, z_h)``): a class's mean waiting time from SOAP's formula
(Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018; ``docs/soap_predictions.md``, "User
prediction ranks"), written without the engine's helpers:

.. math::
    E[W \mid y] = \frac{\lambda\,(B(y) + Q(y))}{2\,(1 - \lambda N(y))^2},\qquad
    N(y) = E[X;\ Y < y],\quad B(y) = E[X^2;\ Y \le y],\quad
    Q(y) = E\big[((X - b_Y(y))^+)^2;\ Y > y\big],

with the rank's age to reach level :math:`y` from prediction :math:`y'`,
:math:`b_{y'}(y) = y'/y - 1` (the rank is compared on the prediction scale: its fresh rank is
:math:`y` itself). With :math:`Y = xz` the remainder is :math:`x(1 - z/y) + 1`, positive for
all :math:`x` when :math:`z \le y` and for :math:`x < y/(z - y)` when :math:`z > y`; the
:math:`x` integrals are closed forms for :math:`e^{-x}`, the :math:`z` integrals scipy's
adaptive quadrature (a breakpoint at :math:`z = y`). Checked against mpmath at 30 digits
(the same integrals, :math:`x` by quadrature too) to 3e-16 at :math:`y = 1.501, 0.501, 1.51`.
"""

from __future__ import annotations

import math

from scipy.integrate import quad

_KW = {"epsabs": 0.0, "epsrel": 1e-13, "limit": 200}


def class_waiting_mean(y: float, lam: float, zl: float, zh: float) -> float:
    """:math:`E[W | y]` of :math:`y/(1 + a)` at arrival rate ``lam`` (module docstring)."""
    dens = 1.0 / (zh - zl)

    def n1(z):  # int_0^{y/z} x e^{-x} dx
        u = y / z
        return 1.0 - math.exp(-u) * (1.0 + u)

    def n2(z):  # int_0^{y/z} x^2 e^{-x} dx
        u = y / z
        return 2.0 - math.exp(-u) * (u * u + 2.0 * u + 2.0)

    def q(z):  # int (a x + 1)^2 e^{-x} dx over x > y/z where a x + 1 > 0
        a = 1.0 - z / y

        def prim(x):  # an antiderivative of (a x + 1)^2 e^{-x}
            return -math.exp(-x) * ((a * x + 1.0) ** 2 + 2.0 * a * (a * x + 1.0) + 2.0 * a * a)

        lo = y / z
        if z > y:
            hi = y / (z - y)
            return prim(hi) - prim(lo) if hi > lo else 0.0
        return -prim(lo)

    pts = [y] if zl < y < zh else None
    N = dens * quad(n1, zl, zh, **_KW)[0]
    B = dens * quad(n2, zl, zh, **_KW)[0]
    Q = dens * quad(q, zl, zh, points=pts, **_KW)[0]
    return lam * (B + Q) / (2.0 * (1.0 - lam * N) ** 2)
