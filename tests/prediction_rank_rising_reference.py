"""Independent reference for ``tests/test_soap_prediction_rank_rising.py``: SOAP's mean response
time of the prediction rank ``r = y + a/2`` (rising with age) on Exp(1) sizes with exponential
predictions (Y = X Z, Z ~ Exp(1)), by nested Gauss-Legendre quadrature of the theorem as stated
(numpy only; no code of the library).

A job (x, y) has the worst future rank R = y + x/2 (its rank just before it completes); another
job (X', Y') is served ahead of it up to the age c = 2 (R - Y')^+ where its own rank reaches R, so

* N(R) = E[min(X, 2 (R - XZ)^+)] and S(R) = E[min(X, 2 (R - XZ)^+)^2]: for each x the integral
  over z is closed-form (min(x, .) = x for z < z1 = R/x - 1/2, 2 (R - x z) for z1 < z < R/x,
  0 beyond: polynomials times e^{-z}), the x integral Gauss-Legendre in log x cut at x = 2R
  (where z1 = 0);
* E[T | x, y] = x / (1 - lam N(R)) + lam S(R) / (2 (1 - lam N(R))^2) (FB's formula at level R),
  and E[T] its Gauss-Legendre integral over (log x, log z) with weights e^{-x} e^{-z}.

:func:`mean` at two resolutions gives the reference's own accuracy (printed). Run
``python tests/prediction_rank_rising_reference.py``: it prints the values stored in the test
module.
"""

from __future__ import annotations

import numpy as np


def _rule(lo, hi, panels, order=16):
    """Gauss-Legendre in log scale on [lo, hi] (arrays broadcast: one rule per row)."""
    t, w = np.polynomial.legendre.leggauss(order)
    lo, hi = np.log(np.asarray(lo, float)), np.log(np.asarray(hi, float))
    e = lo[..., None] + (hi - lo)[..., None] * np.linspace(0.0, 1.0, panels + 1)
    h = np.diff(e, axis=-1)[..., None] / 2.0
    u = ((e[..., :-1] + e[..., 1:])[..., None] / 2.0 + h * t).reshape(*e.shape[:-1], -1)
    x = np.exp(u)
    return x, (h * w).reshape(*e.shape[:-1], -1) * x


def _poly_exp(c0, c1, c2, a, b):
    """int_a^b (c0 + c1 z + c2 z^2) e^{-z} dz (arrays broadcast)."""
    def prim(z):  # an antiderivative: -(p + p' + p'') e^{-z}
        p = c0 + c1 * z + c2 * z * z
        return -(p + (c1 + 2.0 * c2 * z) + 2.0 * c2) * np.exp(-z)
    return prim(b) - prim(a)


def level_functions(R, n):
    """(N(R), S(R)) for an array of levels R: the x integral on [1e-8 R, 2R] and
    [2R, 2R + 60], ``n`` panels each in log x (order 16); below 1e-8 R, min(x, .) = x holds
    less than 1e-16 of N(R)."""
    R = np.asarray(R, float)
    N, S = np.zeros(R.shape), np.zeros(R.shape)
    for lo, hi in ((1e-8 * R, 2.0 * R), (2.0 * R, 2.0 * R + 60.0)):
        x, wx = _rule(lo, hi, n)
        Rb = R[..., None]
        z1 = np.maximum(Rb / x - 0.5, 0.0)
        z2 = Rb / x
        w = wx * np.exp(-x)
        # min(x, 2(R - xz)) = x on [0, z1]; 2R - 2xz on [z1, z2]
        n1 = x * -np.expm1(-z1) + _poly_exp(2.0 * Rb, -2.0 * x, 0.0, z1, z2)
        s1 = x * x * -np.expm1(-z1) + _poly_exp(4.0 * Rb * Rb, -8.0 * Rb * x, 4.0 * x * x, z1, z2)
        N += np.sum(w * n1, axis=-1)
        S += np.sum(w * s1, axis=-1)
    return N, S


class LevelInterpolant:
    """N and S as Chebyshev interpolants in log R on panels ``width`` wide over
    [1e-14, 400] (``deg`` + 1 Chebyshev points each; numpy.polynomial), N = S = 0 below."""

    def __init__(self, width, deg, n):
        self.e = np.arange(np.log(1e-14), np.log(400.0) + width, width)
        t = np.cos(np.pi * (np.arange(deg + 1) + 0.5) / (deg + 1))  # Chebyshev points
        lo, hi = self.e[:-1, None], self.e[1:, None]
        u = (lo + hi) / 2 + (hi - lo) / 2 * t[None, :]
        N, S = level_functions(np.exp(u), n)
        V = np.polynomial.chebyshev.chebvander(t, deg)
        self.cN = np.linalg.solve(V, N.T).T
        self.cS = np.linalg.solve(V, S.T).T

    def __call__(self, R):
        u = np.log(np.maximum(R, 1e-300))
        j = np.clip(np.searchsorted(self.e, u) - 1, 0, self.e.size - 2)
        t = np.clip((2 * u - self.e[j] - self.e[j + 1]) / (self.e[j + 1] - self.e[j]), -1, 1)
        T = np.polynomial.chebyshev.chebvander(t, self.cN.shape[1] - 1)
        N = np.sum(T * self.cN[j], axis=-1)
        S = np.sum(T * self.cS[j], axis=-1)
        small = R < 1e-14  # N(R) < 1e-27 there
        return np.where(small, 0.0, N), np.where(small, 0.0, S)


def mean(lam, res=(1.0, 0)):
    """E[T] at the arrival rate ``lam`` (Exp(1) sizes: load lam); ``res``: the outer panels'
    width in log and an increment of every resolution."""
    width, inc = res
    it = LevelInterpolant(0.5 / (1 + inc), 24 + 4 * inc, 30 + 10 * inc)
    nx = int(np.ceil(np.log(60.0 / 1e-12) / width))
    nz = int(np.ceil(np.log(60.0 / 1e-17) / width))
    x, wx = _rule(1e-12, 60.0, nx)
    z, wz = _rule(1e-17, 60.0, nz)
    total = 0.0
    for i in range(x.size):  # one row of the outer rule at a time (bounded memory)
        R = x[i] * z + x[i] / 2.0
        N, S = it(R)
        d = 1.0 - lam * N
        total += wx[i] * np.exp(-x[i]) * float(np.sum(wz * np.exp(-z) * (x[i] / d + lam * S / (2.0 * d * d))))
    return total


if __name__ == "__main__":
    for load in (0.5, 0.8, 0.95):
        a, b = mean(load, (1.0, 0)), mean(load, (0.6, 1))
        print(f"{load}: {b!r},  # two resolutions differ by {abs(a - b) / b:.1e}", flush=True)
