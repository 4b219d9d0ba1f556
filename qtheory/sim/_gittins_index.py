r"""The simulator's own Gittins index, written apart from :mod:`qtheory.engine.gittins`.

The simulator checks the engine: a Gittins rank computed by the engine's code on both sides
would hide a bug in it from :func:`qtheory.verify`. Here the rank of a size law at age
:math:`a` is minimised directly over the stopping age :math:`b`,

.. math::
    r(a) = \inf_{b > a} \frac{E[\min(X, b) - a \mid X > a]}{P(X \le b \mid X > a)}
         = \inf_{b > a} \frac{V(a) - V(b)}{T(a) - T(b)},\qquad
    T(b) = P(X > b),\ V(b) = E[(X - b)^+],

(Gittins, Glazebrook and Weber, *Multi-armed Bandit Allocation Indices*, 2011; for the M/G/1,
Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018), with the limits :math:`b \to a^+`
(:math:`1/h(a) = T(a)/f(a)`) and :math:`b = \infty` (:math:`V(a)/T(a)`) as candidates. The
candidates are the law's quantiles above :math:`a` (480 levels, dense towards both ends) and
its atoms; the best is refined by a bounded scalar minimisation (Brent) between its neighbours,
with the law's exact :math:`T` and :math:`V` throughout. (The engine instead takes the least
ratio on a fixed log-spaced grid of 2000 stopping ages, without refinement.)
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

#: quantile levels of the candidate stopping ages (dense towards both ends)
_Q = np.unique(np.concatenate([np.geomspace(1e-13, 0.5, 120), 1.0 - np.geomspace(1e-13, 0.5, 160),
                               np.linspace(0.0, 1.0, 201)[1:-1]]))


def atom_tails(x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``(T, V)`` at the atoms ``x`` (sorted) of a discrete law: :math:`T_i = P(X > x_i)`,
    :math:`V_i = E[(X - x_i)^+]`, summed from the right."""
    x = np.asarray(x, float)
    p = np.asarray(p, float)
    T = np.concatenate([np.cumsum(p[::-1])[::-1][1:], [0.0]])
    M = np.concatenate([np.cumsum((p * x)[::-1])[::-1][1:], [0.0]])  # E[X; X > x_i]
    return T, np.maximum(M - x * T, 0.0)


def _TV(size, b):
    b = np.asarray(b, float)
    T = np.asarray(size.sf(b), float)
    V = np.maximum(np.asarray(size.tail_moment(1, b), float) - b * T, 0.0)
    return T, V


def law_rank(size, ages) -> np.ndarray:
    """The Gittins rank of ``size`` at each age (``inf`` where no mass is left above it)."""
    ages = np.atleast_1d(np.asarray(ages, float))
    out = np.full(ages.shape, np.inf)
    atoms = np.asarray(size.atom_values, float)
    grid = np.asarray(size.ppf(_Q), float)
    grid = np.unique(np.concatenate([grid[np.isfinite(grid) & (grid > 0)], atoms]))
    Tg, Vg = _TV(size, grid)
    Ta_all, Va_all = _TV(size, ages)
    f_all = np.asarray(size.pdf(ages), float)
    for i, a in enumerate(ages):
        Ta, Va = float(Ta_all[i]), float(Va_all[i])
        if not Ta > 0:
            continue
        best = Va / Ta  # b = infinity
        if f_all[i] > 0:
            best = min(best, Ta / float(f_all[i]))  # b -> a+
        k = np.searchsorted(grid, a, side="right")
        b, Tb, Vb = grid[k:], Tg[k:], Vg[k:]
        # T must drop by 1e-6 of T(a) at least: closer to a, V(a) - V(b) cancels (the limit
        # b -> a+ is the candidate 1/h(a) above)
        ok = Ta - Tb > 1e-6 * Ta
        if not np.any(ok):
            out[i] = best
            continue
        R = np.where(ok, (Va - Vb) / np.where(ok, Ta - Tb, 1.0), np.inf)
        j = int(np.argmin(R))
        best = min(best, float(R[j]))
        lo = b[j - 1] if j > 0 else a
        hi = b[j + 1] if j + 1 < b.size else b[j]
        if hi > lo:
            def ratio(t, Ta=Ta, Va=Va):
                Tt, Vt = (float(v[0]) for v in _TV(size, [t]))
                return (Va - Vt) / (Ta - Tt) if Ta - Tt > 1e-6 * Ta else np.inf

            r = optimize.minimize_scalar(ratio, bounds=(lo, hi), method="bounded",
                                         options={"xatol": 1e-10 * hi})
            if np.isfinite(r.fun):
                best = min(best, float(r.fun))
        out[i] = best
    return out
