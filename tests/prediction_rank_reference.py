"""Independent reference for ``tests/test_soap_prediction_rank.py``: SOAP's mean response time of
two prediction ranks that fall with age, ``r = y - a/2`` and ``r = y exp(-a)``, on Exp(1) sizes
with exponential predictions (Y = X Z, Z ~ Exp(1)), by nested Gauss-Legendre quadrature of the
theorem as stated (numpy and scipy.special only; no code of the library).

With s(y, a) the rank read on the prediction scale (``(y - a/2)^+``, ``y exp(-a)``) and b_y(m)
the first age where it is at most m (``2 (y - m)``, ``log(y / m)``):

* N(m) = E[X; Y < m] = 1 - 2 m K_2(2 sqrt m), B(m) = E[X^2; Y <= m] = 2 - 2 m^{3/2} K_3(2 sqrt m)
  (the integral of x^{v-1} exp(-x - m/x) over x > 0 is 2 m^{v/2} K_v(2 sqrt m)); the density of
  Y is f_Y(y) = 2 K_0(2 sqrt y);
* Q(m) = E[((X - b_Y(m))^+)^2; Y > m] = int_{y > m} int_{x > b_y(m)} exp(-x - y/x) / x
  (x - b)^2 dx dy, nested (no identity that avoids the root, unlike the library);
* E[T] = int f_Y(y) lam (B(y) + Q(y)) / (2 (1 - lam N(y))^2) dy + 1 + E[R(X, Y)] with the
  residence's excess R(x, y) = int_0^x g(s(y, a)) da, g = lam N / (1 - lam N), written as an
  integral over the level: 2 int_{(y - x/2)^+}^y g(m) dm and int_{y e^{-x}}^y g(m) dm / m.

Every integral is composite Gauss-Legendre on panels in log scale; :func:`mean` at two
resolutions gives the reference's own accuracy (printed). Run
``python tests/prediction_rank_reference.py`` (about a minute): it prints the values stored in
the test module.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def N(m):
    m = np.asarray(m, float)
    r = 2.0 * np.sqrt(np.maximum(m, 1e-300))
    return np.where(m > 0, 1.0 - 2.0 * m * special.kv(2, r), 0.0)


def B(m):
    m = np.asarray(m, float)
    r = 2.0 * np.sqrt(np.maximum(m, 1e-300))
    return np.where(m > 0, 2.0 - 2.0 * m ** 1.5 * special.kv(3, r), 0.0)


def f_Y(y):
    return 2.0 * special.k0(2.0 * np.sqrt(y))


def _rule(lo, hi, panels, order):
    """Gauss-Legendre in log scale on [lo, hi] (arrays broadcast: one rule per row)."""
    t, w = np.polynomial.legendre.leggauss(order)
    lo, hi = np.log(np.asarray(lo, float)), np.log(np.asarray(hi, float))
    e = lo[..., None] + (hi - lo)[..., None] * np.linspace(0.0, 1.0, panels + 1)
    h = np.diff(e, axis=-1)[..., None] / 2.0
    u = ((e[..., :-1] + e[..., 1:])[..., None] / 2.0 + h * t).reshape(*e.shape[:-1], -1)
    x = np.exp(u)
    return x, (h * w).reshape(*e.shape[:-1], -1) * x


def b_of(name, y, m):
    return 2.0 * (y - m) if name == "half" else np.log(y / m)


def Q(m, name, res):
    """Q at one level m: y' in (m, m + 3000) then x in (b, b + 60 + y')."""
    ny, nx = res
    y, wy = _rule(m, m + 3000.0, ny, 16)
    # the y' range split where b crosses the bulk: [m, 2m + 2] finely, then out
    y1, w1 = _rule(m, 2.0 * m + 2.0, ny, 16)
    y2, w2 = _rule(2.0 * m + 2.0, m + 3000.0, ny, 16)
    y, wy = np.concatenate([y1, y2]), np.concatenate([w1, w2])
    b = b_of(name, y, m)
    lo = np.maximum(b, 1e-12)
    x, wx = _rule(lo, lo + 80.0 + np.sqrt(y), nx, 16)
    val = np.exp(-x - y[:, None] / x) / x * np.maximum(x - b[:, None], 0.0) ** 2
    # the (x - b)^2 factor near x = b: the lower end is b itself (x > b only)
    return float(np.sum(wy * np.sum(wx * val, axis=1)))


def waiting(lam, name, res):
    y, wy = _rule(1e-16, 2500.0, res[0] * 4, 16)
    q = np.array([Q(v, name, res) for v in y])
    return float(np.sum(wy * f_Y(y) * lam * (B(y) + q) / (2.0 * (1.0 - lam * N(y)) ** 2)))


def residence(lam, name, res):
    n = res[0]
    x, wx = _rule(1e-14, 60.0, 2 * n, 16)
    z1, w1 = _rule(1e-18, 0.5, n, 16)
    z2, w2 = _rule(0.5, 60.0, n, 16)
    z, wz = np.concatenate([z1, z2]), np.concatenate([w1, w2])
    X = x[:, None]
    Y = X * z[None, :]
    W = (wx * np.exp(-x))[:, None] * (wz * np.exp(-z))[None, :]
    if name == "half":
        lo = np.maximum(Y - X / 2.0, 0.0)
        # level rule graded towards 0 where the rank reaches 0: in log scale from lo (or 1e-16 Y)
        m, wm = _rule(np.maximum(lo, 1e-16 * Y), Y, n, 16)
        gm = lam * N(m) / (1.0 - lam * N(m))
        R = 2.0 * np.sum(wm * gm, axis=-1)
    else:
        m, wm = _rule(Y * np.exp(-X), Y, n, 16)
        gm = lam * N(m) / (1.0 - lam * N(m))
        R = np.sum(wm * gm / m, axis=-1)
    return 1.0 + float(np.sum(W * R))


def mean(lam, name, res=(8, 8)):
    return waiting(lam, name, res) + residence(lam, name, res)


if __name__ == "__main__":
    for name in ("half", "exp"):
        for load in (0.5, 0.8, 0.95):
            a, b = mean(load, name, (8, 8)), mean(load, name, (12, 12))
            print(f'("{name}", {load}): {b!r},  # two resolutions differ by {abs(a - b) / b:.1e}',
                  flush=True)
