"""Independent reference for ``tests/test_distribution_prediction_rank.py`` on uniform
predictions: the level functions of the rank ``r = y - a/2`` on Exp(1) sizes with
``qt.UniformPrediction(0.5)`` (Y = X Z, Z uniform on [0.5, 1.5], density 1), in closed form or
by scipy's adaptive quadrature (numpy and scipy only; no code of the library), for the series
arithmetic of ``prediction_rank_moments_reference.py`` (its ``nk``, ``pk`` arguments).

* N_k(v) = E[X^k; Y < v] = E[X^k F_Z(v/X)], F_Z(v/x) = 1 for x <= v/1.5 and v/x - 1/2 on
  (v/1.5, 2v): incomplete gamma functions,
  N_k = G(k+1, v/1.5) + v (G(k, 2v) - G(k, v/1.5)) - (G(k+1, 2v) - G(k+1, v/1.5)) / 2 with
  G(a, t) = int_0^t x^{a-1} e^{-x} dx;
* P_k(m) = E[((X - 2(Y - m))^+)^k; Y > m]: the integral over z in closed form,
  int (x + 2m - 2xz)^k dz = -(x + 2m - 2xz)^{k+1} / (2x(k+1)) on
  z in (max(1/2, m/x), min(3/2, 1/2 + m/x)), then scipy.integrate.quad over x > m/1.5 with
  the break points x = m and x = 2m where the z limits switch.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

ZLO, ZHI = 0.5, 1.5


def _G(a: int, t):
    return math.gamma(a) * special.gammainc(a, t)


def N_k(v, k: int):
    """E[X^k; Y < v] on Exp(1) sizes with uniform(0.5) predictions."""
    v = np.asarray(v, float)
    a, b = v / ZHI, v / ZLO
    return _G(k + 1, a) + (v * (_G(k, b) - _G(k, a)) - ZLO * (_G(k + 1, b) - _G(k + 1, a))) / (ZHI - ZLO)


def P_k(m: float, k: int) -> float:
    """E[((X - 2 (Y - m))^+)^k; Y > m]."""

    def inner(x):
        z1 = max(ZLO, m / x)
        z2 = min(ZHI, 0.5 + m / x)
        if z2 <= z1:
            return 0.0
        c = x + 2.0 * m
        return ((c - 2.0 * x * z1) ** (k + 1) - (c - 2.0 * x * z2) ** (k + 1)) / (2.0 * x * (k + 1)) \
            * math.exp(-x) / (ZHI - ZLO)

    lo = m / ZHI
    pts = [lo, m, 2.0 * m, 2.0 * m + 60.0]
    out = 0.0
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        out += integrate.quad(inner, a, b, epsabs=1e-17, epsrel=1e-13, limit=200)[0]
    return out + integrate.quad(inner, pts[-1], np.inf, epsabs=1e-17, epsrel=1e-13, limit=200)[0]


if __name__ == "__main__":
    import prediction_rank_moments_reference as RM

    for x, y in ((0.5, 1.2), (3.0, 1.0)):
        a = np.array(RM.class_moments(0.8, x, y, (8, 8), N_k, P_k))
        b = np.array(RM.class_moments(0.8, x, y, (12, 12), N_k, P_k))
        print((x, y), b.tolist(), "two resolutions differ by", np.max(np.abs(a - b) / b))
