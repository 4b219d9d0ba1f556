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
module (``... laws``: BoundedPareto sizes and uniform predictions; ``... falling [beta] [loads]``:
``a - beta y``; both below).
"""

from __future__ import annotations

import math

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


def _main_exp():
    for load in (0.5, 0.8, 0.95):
        a, b = mean(load, (1.0, 0)), mean(load, (0.6, 1))
        print(f"{load}: {b!r},  # two resolutions differ by {abs(a - b) / b:.1e}", flush=True)


# ---- bounded sizes and uniform factors (issue 15, session 33) ------------------------------------
#
# The same theorem for ``r = y + a/2`` on two further kinds of law, still by quadrature of the
# formulas as stated and nothing of the library: sizes BoundedPareto(alpha, lo, hi) (a density
# that jumps to 0 at both ends) or Exp(1), predictions Y = X Z with Z ~ Exp(1) or Z ~ U[za, zb].
#
# * N(R), S(R): for each x the z integral in closed form on [0, z1] (min = x, z1 = R/x - 1/2) and
#   [z1, z2] (min = 2 (R - x z), z2 = R/x), clipped to the factor's support; the x integral
#   Gauss-Legendre in log x, cut at the size law's ends and where z1 or z2 crosses an end of
#   the factor's support (x = R/m for m in {1/2} (exponential) or {za, zb, za + 1/2, zb + 1/2}).
# * N and S are analytic in R except at the levels where such a cut x = R/m is an end of the
#   size law (R = m * end): E[T] is the integral over (x, y) with the y rule cut where
#   R = y + x/2 is one of these levels, and at the ends of Y's support given x (y = za x, zb x);
#   N and S are computed at every node (no interpolation).


class Law:
    """A size law and a factor law, written out here. ``size``: ("exp",) or
    ("bpareto", alpha, lo, hi); ``factor``: ("exp",) or ("uniform", za, zb)."""

    def __init__(self, size, factor):
        self.size, self.factor = size, factor
        if size[0] == "exp":
            self.xlo, self.xhi, self.ends = 1e-12, 60.0, ()
        else:
            _, al, lo, hi = size
            self.xlo, self.xhi, self.ends = lo, hi, (lo, hi)
        # the cut coefficients m: x = R/m where z1 or z2 meets an end of the factor's support
        if factor[0] == "exp":
            self.m = (0.5,)
        else:
            _, za, zb = factor
            self.m = (za, zb, za + 0.5, zb + 0.5)
        self.kinks = sorted({m * e for m in self.m for e in self.ends})

    def fx(self, x):
        if self.size[0] == "exp":
            return np.exp(-x)
        _, al, lo, hi = self.size
        return np.where((x >= lo) & (x <= hi), al * lo ** al * x ** (-al - 1.0)
                        / (1.0 - (lo / hi) ** al), 0.0)

    def fz(self, z):
        if self.factor[0] == "exp":
            return np.where(z >= 0, np.exp(-np.maximum(z, 0.0)), 0.0)
        _, za, zb = self.factor
        return np.where((z >= za) & (z <= zb), 1.0 / (zb - za), 0.0)

    def zpoly(self, c0, c1, c2, a, b):
        """int_a^b (c0 + c1 z + c2 z^2) f_Z(z) dz for a <= b (arrays broadcast)."""
        if self.factor[0] == "exp":
            return _poly_exp(c0, c1, c2, np.maximum(a, 0.0), np.maximum(b, 0.0))
        _, za, zb = self.factor
        a, b = np.clip(a, za, zb), np.clip(b, za, zb)

        def prim(z):
            return c0 * z + c1 * z * z / 2.0 + c2 * z ** 3 / 3.0
        return (prim(b) - prim(a)) / (zb - za)


def _cut_rule(lo, hi, cuts, panels, order=16):
    """Gauss-Legendre in log scale on [lo, hi] for each row (lo, hi: (n,), cuts: (n, k)), cut at
    the cuts inside, ``panels`` panels per piece and one more per 3 units of log length;
    returns nodes and weights (n, m)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    c = np.clip(np.asarray(cuts, float), lo[:, None], hi[:, None])
    e = np.sort(np.concatenate([lo[:, None], c, hi[:, None]], axis=1), axis=1)
    xs, ws = [], []
    for j in range(e.shape[1] - 1):
        a, b = e[:, j], e[:, j + 1]
        ok = b > a
        if not ok.any():
            continue
        span = float(np.max(np.log(np.where(ok, b, 2.0) / np.where(ok, a, 1.0))))
        x, w = _rule(np.where(ok, a, 1.0), np.where(ok, b, 2.0), panels + math.ceil(span / 3.0),
                     order)
        xs.append(x)
        ws.append(np.where(ok[:, None], w, 0.0))
    return np.concatenate(xs, axis=1), np.concatenate(ws, axis=1)


def law_level_functions(law, R, n):
    """(N(R), S(R)) of ``y + a/2`` on ``law`` for an array of levels R (``n`` panels per piece
    of the x rule)."""
    R = np.asarray(R, float).ravel()
    lo = np.full(R.size, law.xlo) if law.ends else np.maximum(1e-8 * np.minimum(R, 1.0), 1e-300)
    hi = np.full(R.size, law.xhi)
    if not law.ends and law.factor[0] == "exp":
        hi = 2.0 * R + 60.0
    cuts = np.stack([R / m for m in law.m] + [np.full(R.size, e) for e in law.ends], axis=1)
    x, wx = _cut_rule(lo, hi, cuts, n)
    Rb = R[:, None]
    z1 = np.maximum(Rb / x - 0.5, 0.0)
    z2 = Rb / x
    w = wx * law.fx(x)
    zero = np.zeros_like(x)
    n1 = law.zpoly(x, zero, zero, zero, z1) + law.zpoly(2.0 * Rb, -2.0 * x, zero, z1, z2)
    s1 = (law.zpoly(x * x, zero, zero, zero, z1)
          + law.zpoly(4.0 * Rb * Rb, -8.0 * Rb * x, 4.0 * x * x, z1, z2))
    return np.sum(w * n1, axis=1), np.sum(w * s1, axis=1)


def law_mean(law, lam, res=(4, 6)):
    """E[T] of ``y + a/2`` on ``law`` at the arrival rate ``lam``; ``res``: panels per piece of the
    outer rules and of the level functions' x rule."""
    nout, nin = res
    x, wx = _cut_rule(np.array([law.xlo]), np.array([law.xhi]),
                      np.array([list(law.ends)]).reshape(1, -1), 3 * nout)
    x, wx = x[0], wx[0] * law.fx(x[0])
    if law.factor[0] == "exp":
        ylo, yhi = 1e-17 * x, 60.0 * x
    else:
        ylo, yhi = law.factor[1] * x, law.factor[2] * x
    kinks = np.array(law.kinks, float).reshape(1, -1) - x[:, None] / 2.0
    total = 0.0
    for i in range(0, x.size, 8):  # a few rows of the outer rule at a time (bounded memory)
        s = slice(i, i + 8)
        y, wy = _cut_rule(ylo[s], yhi[s], np.where(kinks[s] > 0, kinks[s], ylo[s, None]), nout)
        xb = x[s, None]
        R = y + xb / 2.0
        N, S = law_level_functions(law, R, nin)
        N, S = N.reshape(R.shape), S.reshape(R.shape)
        d = 1.0 - lam * N
        ET = xb / d + lam * S / (2.0 * d * d)
        total += float(np.sum(wx[s, None] * wy * law.fz(y / xb) / xb * ET))
    return total


#: the further laws: name -> (Law, E[X])
LAWS = {
    "bpareto-exp": (Law(("bpareto", 1.5, 1.0, 100.0), ("exp",)), 1.5 * (1 - 0.1) / 0.5 / (1 - 0.001)),
    "exp-uniform": (Law(("exp",), ("uniform", 0.5, 1.5)), 1.0),
    "bpareto-uniform": (Law(("bpareto", 1.5, 1.0, 100.0), ("uniform", 0.5, 1.5)),
                        1.5 * (1 - 0.1) / 0.5 / (1 - 0.001)),
}


def main_laws():
    for name, (law, ex) in LAWS.items():
        for load in (0.5, 0.8, 0.95):
            a, b = law_mean(law, load / ex, (3, 4)), law_mean(law, load / ex, (4, 6))
            print(f"{name} {load}: {b!r},  # two resolutions differ by {abs(a - b) / b:.1e}", flush=True)


# ---- ranks that fall with the prediction: ``r = a - beta y`` on Exp(1) sizes with exponential
# predictions (the rising theorem holds whatever the rank does in y: another job is ahead up to
# the age c = (R + beta Y')^+, R = x - beta y the tagged job's rank before it completes).
#
# * N(R) = E[min(X, (R + beta XZ)^+)]: for each x, min = x for z >= z1 = (1 - R/x)^+ / beta and
#   R + beta x z on [z0, z1], z0 = (-R/(beta x))^+, 0 below; the x integral Gauss-Legendre in
#   log x cut at x = R (R > 0; z1 = 0 below it);
# * N and S are smooth in R but at R = 0 (where z0 leaves 0 for every x; they behave like
#   R^2 log|R| there): E[T] over (x, z), R = x (1 - beta z), the z rule cut at z = 1/beta and
#   graded towards it; N and S computed at every node.


def falling_level_functions(R, n, beta=1.0):
    """(N(R), S(R)) of ``a - beta y`` on Exp/Exp for an array of levels R (any sign)."""
    R = np.asarray(R, float).ravel()
    lo = 1e-8 * np.minimum(np.maximum(np.abs(R), 1e-300), 1.0)
    hi = np.maximum(R, 0.0) + 60.0 + 2.0 * np.sqrt(np.maximum(-R, 0.0) * 60.0 / beta)
    x, wx = _cut_rule(lo, hi, np.maximum(R, lo)[:, None], n)
    Rb = R[:, None]
    z0 = np.maximum(-Rb / (beta * x), 0.0)
    z1 = np.maximum(1.0 - Rb / x, 0.0) / beta
    w = wx * np.exp(-x)
    zero = np.zeros_like(x)
    n1 = _poly_exp(Rb + zero, beta * x, zero, z0, z1) + x * np.exp(-z1)
    s1 = (_poly_exp(Rb * Rb + zero, 2.0 * beta * Rb * x, beta * beta * x * x, z0, z1)
          + x * x * np.exp(-z1))
    return np.sum(w * n1, axis=1), np.sum(w * s1, axis=1)


def law_falling_level_functions(law, R, n, beta=1.0):
    """(N(R), S(R)) of ``a - beta y`` on one of :data:`LAWS`' laws (bounded sizes, uniform
    factors) for an array of levels R (any sign): the z integral in closed form on [z0, z1]
    (min = R + beta x z) and above z1 (min = x), clipped to the factor's support; the x rule cut
    at the size law's ends, at x = R (z1 = 0) and where z0 or z1 meets an end m of the factor's
    support (x = -R/(beta m), x = R/(1 - beta m))."""
    R = np.asarray(R, float).ravel()
    if law.ends:
        lo, hi = np.full(R.size, law.xlo), np.full(R.size, law.xhi)
    else:
        lo = 1e-8 * np.minimum(np.maximum(np.abs(R), 1e-300), 1.0)
        zb = law.factor[2] if law.factor[0] == "uniform" else 0.0
        hi = np.maximum(R, 0.0) + 60.0 + np.where(R < 0, -R / (beta * zb) if zb else 0.0, 0.0)
        if law.factor[0] == "exp":
            hi = hi + 2.0 * np.sqrt(np.maximum(-R, 0.0) * 60.0 / beta)
    ms = [law.factor[1], law.factor[2]] if law.factor[0] == "uniform" else []
    cuts = [np.maximum(R, 0.0)]
    for m in ms:
        cuts.append(np.where(R < 0, -R / (beta * m), 0.0))
        if abs(1.0 - beta * m) > 1e-12:
            cuts.append(np.maximum(R / (1.0 - beta * m), 0.0))
    cuts = np.stack([np.where(c > 0, c, lo) for c in cuts], axis=1)
    x, wx = _cut_rule(lo, hi, cuts, n)
    Rb = R[:, None]
    z0 = np.maximum(-Rb / (beta * x), 0.0)
    z1 = np.maximum(np.maximum(1.0 - Rb / x, 0.0) / beta, z0)
    w = wx * law.fx(x)
    zero = np.zeros_like(x)
    big = np.full_like(x, 1e300 if law.factor[0] == "uniform" else 800.0)
    n1 = law.zpoly(Rb + zero, beta * x, zero, z0, z1) + law.zpoly(x, zero, zero, z1, big)
    s1 = (law.zpoly(Rb * Rb + zero, 2.0 * beta * Rb * x, beta * beta * x * x, z0, z1)
          + law.zpoly(x * x, zero, zero, z1, big))
    return np.sum(w * n1, axis=1), np.sum(w * s1, axis=1)


def _graded_z_rule(nout, depth, zc):
    """A rule in log z on [1e-17, 60] for E over Z ~ Exp(1) (weights include e^{-z}) whose
    panels are graded geometrically towards z = ``zc`` from both sides (edges at
    log z = log zc +- 2^-j, j < ``depth``): there R crosses 0."""
    t, w = np.polynomial.legendre.leggauss(16)
    c = math.log(zc)
    g = 2.0 ** -np.arange(1, depth, dtype=float)
    inner = c + np.concatenate([-g, [0.0], g[::-1]])
    lo, hi = math.log(1e-17), math.log(60.0)
    e = np.concatenate([np.linspace(lo, c - 1.0, 3 * nout + 1), [c - 0.5], inner, [c + 0.5],
                        np.linspace(c + 1.0, hi, nout + 2)])
    e = np.unique(e[(e >= lo) & (e <= hi)])
    h = np.diff(e)[:, None] / 2.0
    u = ((e[:-1] + e[1:])[:, None] / 2.0 + h * t[None, :]).ravel()
    z = np.exp(u)
    return z, (h * w[None, :]).ravel() * z * np.exp(-z)


def falling_mean(lam, res=(4, 6), beta=1.0):
    """E[T] of ``a - beta y`` on Exp/Exp at the load ``lam`` (an array: one value each; the
    level functions computed once): the x rule as for the other laws, the z rule graded towards
    z = 1/beta (:func:`_graded_z_rule`)."""
    lam = np.asarray(lam, float)[..., None, None]
    nout, nin = res
    x, wx = _cut_rule(np.array([1e-12]), np.array([60.0]), np.zeros((1, 0)), 3 * nout)
    x, wx = x[0], wx[0] * np.exp(-x[0])
    z, wz = _graded_z_rule(nout, 18 + 4 * nout, 1.0 / beta)
    total = np.zeros(lam.shape[:-2])
    for i in range(0, x.size, 16):
        xb = x[i:i + 16, None]
        R = xb * (1.0 - beta * z[None, :])
        N, S = falling_level_functions(R, nin, beta)
        N, S = N.reshape(R.shape), S.reshape(R.shape)
        d = 1.0 - lam * N
        total += np.sum(wx[i:i + 16, None] * wz[None, :] * (xb / d + lam * S / (2.0 * d * d)),
                        axis=(-2, -1))
    return total


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["laws"]:
        main_laws()
    elif sys.argv[1:2] == ["falling"]:
        # ``... falling [beta] [load ...]``: a - beta y (beta 1 and loads 0.5, 0.8 by default)
        beta = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
        loads = [float(v) for v in sys.argv[3:]] or [0.5, 0.8]
        a, b = falling_mean(loads, (2, 3), beta), falling_mean(loads, (3, 4), beta)
        for load, u, v in zip(loads, a, b):
            print(f"a - {beta} y {load}: {float(v)!r},  # two resolutions differ by "
                  f"{abs(u - v) / v:.1e}", flush=True)
    else:
        _main_exp()
