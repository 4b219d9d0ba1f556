r"""Gittins ranks for discrete size laws, from accumulated tail quantities.

For a size law with atoms :math:`t_1 < \dots < t_K` the Gittins rank at age :math:`a` is

.. math::
    r(a) = \min_{k:\ t_k > a} \frac{V(a) - V(t_k)}{T(a) - T(t_k)},\qquad
    V(a) = E[(X-a)^+],\quad T(a) = P(X > a),

the infimum of the ratio of expected service to completion probability over stopping ages
(Gittins 1989; the discrete form as in Ramakrishna, Harlev, Scully, "Empirical Gittins",
POMACS 2026, Observation A.1). Both tail quantities are accumulated from the right, so no
difference of near-equal numbers is formed at large ages. Between atoms the rank is a minimum of
decreasing linear functions (it decreases, towards 0 just before an atom) and it can jump up only
at an atom.
"""

from __future__ import annotations

import numpy as np


def tails(x: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """T_k = P(X > x_k) and V_k = E[(X - x_k)^+] at the sorted atoms, accumulated from the right."""
    x = np.asarray(x, float)
    p = np.asarray(p, float)
    T = np.concatenate([np.cumsum(p[::-1])[::-1][1:], [0.0]])
    # V_k = sum_{i>k} p_i (x_i - x_k) = sum_{i>k} T_{i-1} (x_i - x_{i-1}) accumulated from the right
    gaps = np.diff(x)
    V = np.concatenate([np.cumsum((T[:-1] * gaps)[::-1])[::-1], [0.0]])
    return T, V


def rank_at(x: np.ndarray, p: np.ndarray, ages: np.ndarray) -> np.ndarray:
    """Gittins rank of the discrete law (atoms ``x``, probabilities ``p``) at each age.

    Ages at or beyond the largest atom get ``inf`` (the job has surely completed).
    """
    x = np.asarray(x, float)
    p = np.asarray(p, float)
    p = p / p.sum()
    T, V = tails(x, p)
    ages = np.asarray(ages, float)
    out = np.full(ages.shape, np.inf)
    m = np.searchsorted(x, ages, side="right") - 1  # last atom <= a (-1 if none)
    for idx in np.ndindex(ages.shape):
        a = ages[idx]
        k0 = m[idx] + 1
        if k0 >= x.size:
            continue
        if m[idx] >= 0:
            Ta = T[m[idx]]
            Va = V[m[idx]] - Ta * (a - x[m[idx]])
        else:
            Ta = 1.0
            Va = V[0] + (x[0] - a) if x.size else 0.0
            # V(a) for a < x_0: E[X] - a = V_0 + x_0 - a
        num = Va - V[k0:]
        den = Ta - T[k0:]
        out[idx] = np.min(num / den)
    return out
