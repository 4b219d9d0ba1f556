"""Independent reference for ``tests/test_distribution_prediction_rank.py``: the mean and second
moment of the response time of a class (x, y) under the prediction rank ``r = y - a/2`` on Exp(1)
sizes with exponential predictions (Y = X Z, Z ~ Exp(1)), from SOAP's decomposition as stated,
by series arithmetic written here and nested Gauss-Legendre quadrature (numpy and scipy.special
only; the closed forms of ``prediction_rank_reference.py``; no code of the library).

With b_y(m) = 2 (y - m) the age where the rank of a job of prediction y reaches level m:

* new jobs at level v: X 1{Y < v}, N_k(v) = E[X^k; Y < v] = k! - 2 v^{(k+1)/2} K_{k+1}(2 sqrt v);
* old jobs at level y: O_k = E[X^k; Y <= y] = N_k(y) and the sparse piece
  P_k = E[((X - b_Y(y))^+)^k; Y > y] by nested quadrature over y' then x;
* the old-job delay V: its transform ((1 - rho_0 - rho_1) u + lam E[1 - e^{-u X_1}]) /
  (u - lam E[1 - e^{-u X_0}]) expanded in u (a ratio of two power series), composed with the
  busy period eta(s) = s + lam E[1 - e^{-eta X}; Y < y] expanded in s: E[W], E[W^2];
* the residence exp(-int_0^x eta_{<s(y, a)}(s) da), s(y, a) = (y - a/2)^+: mean
  int da / (1 - lam N_1) and variance int lam N_2 / (1 - lam N_1)^3 da, written as integrals
  over the level m = y - a/2 (da = 2 dm) plus (x - 2y)^+ at level 0.

Run ``python tests/prediction_rank_moments_reference.py`` to see its accuracy (two resolutions).
"""

from __future__ import annotations

import math

import numpy as np
import prediction_rank_reference as R
from scipy import special


def N_k(v, k: int):
    """E[X^k; Y < v] on Exp(1) sizes with exponential predictions."""
    v = np.asarray(v, float)
    r = 2.0 * np.sqrt(np.maximum(v, 1e-300))
    return np.where(v > 0, math.factorial(k) - 2.0 * v ** ((k + 1) / 2.0) * special.kv(k + 1, r), 0.0)


def P_k(m: float, k: int, res=(12, 12)) -> float:
    """E[((X - 2 (Y - m))^+)^k; Y > m]: y' on (m, 2m + 2) and (2m + 2, m + 3000), then x on
    (b, b + 80 + sqrt(y')) (the integrand is e^{-x - y'/x} / x (x - b)^k)."""
    ny, nx = res
    y1, w1 = R._rule(m, 2.0 * m + 2.0, ny, 16)
    y2, w2 = R._rule(2.0 * m + 2.0, m + 3000.0, ny, 16)
    y, wy = np.concatenate([y1, y2]), np.concatenate([w1, w2])
    b = 2.0 * (y - m)
    lo = np.maximum(b, 1e-12)
    x, wx = R._rule(lo, lo + 80.0 + np.sqrt(y), nx, 16)
    val = np.exp(-x - y[:, None] / x) / x * np.maximum(x - b[:, None], 0.0) ** k
    return float(np.sum(wy * np.sum(wx * val, axis=1)))


def waiting_moments(lam: float, y: float, res=(12, 12), nk=None, pk=None) -> tuple[float, float]:
    """(E[W], E[W^2]) of a job of prediction y (``nk``, ``pk``: another law's N_k(v, k) and
    P_k(m, k); default this module's Exp/Exp)."""
    nk = N_k if nk is None else nk
    o = [float(nk(y, k)) for k in (1, 2, 3)]
    p = [P_k(y, k, res) if pk is None else pk(y, k) for k in (1, 2, 3)]
    c = 1.0 - lam * o[0]
    # numerator / u: c - lam p2 u / 2 + lam p3 u^2 / 6; denominator / u: c + lam o2 u / 2 - lam o3 u^2 / 6
    A = [c, -lam * p[1] / 2.0, lam * p[2] / 6.0]
    B = [c, lam * o[1] / 2.0, -lam * o[2] / 6.0]
    r1 = (A[1] - B[1]) / c
    r2 = (A[2] - B[2] - r1 * B[1]) / c
    n1, n2 = float(nk(y, 1)), float(nk(y, 2))
    e1 = 1.0 / (1.0 - lam * n1)
    e2 = -lam * n2 * e1 ** 2 / (2.0 * (1.0 - lam * n1))
    return -r1 * e1, 2.0 * (r1 * e2 + r2 * e1 ** 2)


def residence_moments(lam: float, x: float, y: float, n: int = 12, nk=None) -> tuple[float, float]:
    """(mean, variance) of the residence of the class (x, y)."""
    nk = N_k if nk is None else nk
    lo = max(y - x / 2.0, 0.0)
    m, wm = R._rule(max(lo, 1e-16 * y), y, n, 16)
    n1, n2 = nk(m, 1), nk(m, 2)
    mean = 2.0 * float(np.sum(wm / (1.0 - lam * n1))) + max(x - 2.0 * y, 0.0)
    var = 2.0 * float(np.sum(wm * lam * n2 / (1.0 - lam * n1) ** 3))
    return mean, var


def class_moments(lam: float, x: float, y: float, res=(12, 12), nk=None, pk=None
                  ) -> tuple[float, float, float, float]:
    """(E[T], E[T^2], E[W], E[W^2]) of the class (x, y) (``nk``, ``pk`` as in
    :func:`waiting_moments`)."""
    w1, w2 = waiting_moments(lam, y, res, nk, pk)
    m, v = residence_moments(lam, x, y, res[0], nk)
    return w1 + m, w2 + 2.0 * w1 * m + v + m * m, w1, w2


def unconditional_moments(lam: float, res=(8, 8)) -> tuple[float, float]:
    """(E[T], E[T^2]) mixed over the joint law, density f(x, y) = e^{-x - y/x} / x: y on
    (1e-14, 400) in log scale, x given y on (1e-14, 2y) and (2y, 80) (the residence reaches
    level 0 at age 2y), each class by :func:`waiting_moments` and :func:`residence_moments`
    (vectorised over x)."""
    n = res[0]
    ys, wy = R._rule(1e-14, 400.0, 4 * n, 16)
    m1 = m2 = 0.0
    for y, w in zip(ys.tolist(), wy.tolist(), strict=True):
        w1, w2 = waiting_moments(lam, y, res)
        x1, v1 = R._rule(1e-14, 2.0 * y, 2 * n, 16)
        x2, v2 = R._rule(2.0 * y, 80.0 + 2.0 * y, 2 * n, 16)
        x, wx = np.concatenate([x1, x2]), np.concatenate([v1, v2])
        f = wx * np.exp(-x - y / x) / x * w
        lo = np.maximum(y - x / 2.0, 0.0)
        m, wm = R._rule(np.maximum(lo, 1e-16 * y), np.full(x.size, y), n, 16)
        nn1, nn2 = N_k(m, 1), N_k(m, 2)
        mean = 2.0 * np.sum(wm / (1.0 - lam * nn1), axis=1) + np.maximum(x - 2.0 * y, 0.0)
        var = 2.0 * np.sum(wm * lam * nn2 / (1.0 - lam * nn1) ** 3, axis=1)
        m1 += float(np.sum(f * (w1 + mean)))
        m2 += float(np.sum(f * (w2 + 2.0 * w1 * mean + var + mean * mean)))
    return m1, m2


if __name__ == "__main__":
    a, b = unconditional_moments(0.8, (6, 6)), unconditional_moments(0.8, (8, 8))
    print("unconditional", b, "two resolutions differ by",
          max(abs(u - v) / v for u, v in zip(a, b, strict=True)))
    for x, y in ((0.5, 1.2), (3.0, 1.0)):
        a = np.array(class_moments(0.8, x, y, (8, 8)))
        b = np.array(class_moments(0.8, x, y, (12, 12)))
        print((x, y), b.tolist(), "two resolutions differ by", np.max(np.abs(a - b) / b))
