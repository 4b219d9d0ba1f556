r"""An independent reference for the unconditional response-time transforms of PSPJF and SPJF on
Exp(1) sizes with a uniform prediction factor :math:`Z \sim U[a, b]` (``qt.UniformPrediction``),
written with numpy and scipy only (no qtheory code).

With :math:`c = 1 + u`, the joint law's partial transforms are closed forms in :math:`E_1`:

.. math::
    L(y, u) = E[e^{-uX}; Y < y] = \frac{1 - e^{-cy/b}}{c}
        + \frac{y\,(E_1(cy/b) - E_1(cy/a)) - a\,(e^{-cy/b} - e^{-cy/a})/c}{b - a},

    E[e^{-uX}\mid Y = y] f_Y(y) = \frac{E_1(cy/b) - E_1(cy/a)}{b - a},

:math:`\partial_u L = -E[X e^{-uX}; Y < y]` likewise. Kendall's equation
:math:`\eta = s + \lambda(P(Y < y) - L(y, \eta))` is solved by Newton's method at every
prediction node, and

.. math::
    E[e^{-sT}] = \int_0^\infty \tilde V_y(\eta_y)\, R_y(s)\,dy,

with PSPJF's :math:`\tilde V_y = (1 - \lambda E[X; Y < y])\eta_y/s` and residence
:math:`R_y = E[e^{-\eta_y X}\mid y] f_Y(y)`, SPJF's
:math:`\tilde V_y = ((1 - \rho_0 - \rho_1)\eta_y + \lambda E[1 - e^{-\eta_y X}; Y > y])/s` and
:math:`R_y = E[e^{-sX}\mid y] f_Y(y)` (``docs/response_time_distribution.md``, section 5). The
integral over :math:`y` is a composite Gauss-Legendre rule whose panels are at most
``1 / (4 |s|)`` wide (it follows :math:`e^{-c y/a}`), checked by halving the panels.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _e1(z):
    return special.exp1(z)


def _parts(y, u, a, b):
    """(L, -dL/du, P(Y < y)) at the prediction ``y`` and transform variable ``u`` (arrays)."""
    c = 1.0 + u
    ya, yb = y / a, y / b
    ea, eb = np.exp(-c * ya), np.exp(-c * yb)
    e1d = _e1(c * yb) - _e1(c * ya)
    L = (1.0 - eb) / c + (y * e1d - a * (eb - ea) / c) / (b - a)
    # E[X e^{-uX}; Y < y]: int_0^{y/b} x e^{-cx} + int_{y/b}^{y/a} x e^{-cx} (y/x - a)/(b - a)
    g2 = lambda v: (1.0 - (1.0 + c * v) * np.exp(-c * v)) / c ** 2  # noqa: E731  int_0^v x e^{-cx}
    M = g2(yb) + (y * (eb - ea) / c - a * (g2(ya) - g2(yb))) / (b - a)
    # P(Y < y): u = 0
    pa, pb = np.exp(-ya), np.exp(-yb)
    P = (1.0 - pb) + (y * (_e1(yb) - _e1(ya)) - a * (pb - pa)) / (b - a)
    return L, M, P


def _mean_below(y, a, b):
    """E[X; Y < y] (real)."""
    ya, yb = y / a, y / b
    g2 = lambda v: 1.0 - (1.0 + v) * np.exp(-v)  # noqa: E731
    return g2(yb) + (y * (np.exp(-yb) - np.exp(-ya)) - a * (g2(ya) - g2(yb))) / (b - a)


def transform(policy: str, lam: float, s: complex, a: float = 0.5, b: float = 1.5,
              width: float | None = None, top: float = 80.0) -> complex:
    r""":math:`E[e^{-sT}]` of ``policy`` ("pspjf" or "spjf") at one complex ``s``."""
    s = complex(s)
    h = width if width is not None else min(0.05, 0.25 / abs(s))
    # R_y carries E_1(c y / b) ~ e^{-Re(c) y / b}, Re(c) >= 1 + Re(s): beyond 60 b / (1 + Re s)
    # it is below e^{-60}
    top = min(top, 60.0 * b / (1.0 + max(s.real, 0.0)))
    edges = np.concatenate([np.arange(0.0, 2.0, h / 4), np.arange(2.0, top, h)])
    t, w = np.polynomial.legendre.leggauss(10)
    lo, hi = edges[:-1, None], edges[1:, None]
    y = (0.5 * (lo + hi) + 0.5 * (hi - lo) * t[None, :]).ravel()
    wy = (0.5 * (hi - lo) * w[None, :]).ravel()
    y = np.maximum(y, 1e-300)
    _, _, P = _parts(y, np.zeros(y.size), a, b)
    eta = np.full(y.size, s, complex)
    for _ in range(60):
        L, M, _ = _parts(y, eta, a, b)
        g = eta - s - lam * (P - L)
        step = g / (1.0 - lam * M)
        eta = eta - step
        if np.max(np.abs(step)) < 1e-15 * max(1.0, abs(s)):
            break
    L, M, _ = _parts(y, eta, a, b)
    ya, yb = y / a, y / b
    if policy == "pspjf":
        V = (1.0 - lam * _mean_below(y, a, b)) * eta / s
        c = 1.0 + eta
        R = (_e1(c * yb) - _e1(c * ya)) / (b - a)
    elif policy == "spjf":
        rho0 = lam * _mean_below(y, a, b)
        rho1 = lam * 1.0 - rho0
        # E[1 - e^{-eta X}; Y > y] = (1 - P) - (1/(1 + eta) - L)
        tail = (1.0 - P) - (1.0 / (1.0 + eta) - L)
        V = ((1.0 - rho0 - rho1) * eta + lam * tail) / s
        c = 1.0 + s
        R = (_e1(c * yb) - _e1(c * ya)) / (b - a)
    else:
        raise ValueError(policy)
    return complex(np.sum(wy * V * R))


def cdf(policy: str, lam: float, t: float, a: float = 0.5, b: float = 1.5, A: float = 26.0,
        n: int = 40, m: int = 20) -> float:
    r""":math:`P(T \le t)` by Abate and Whitt's Euler algorithm (its own few lines here) on
    :math:`(1 - E[e^{-sT}])/s`: the trapezoidal rule on the Bromwich line
    :math:`\operatorname{Re} s = A/(2t)` (discretisation error about :math:`e^{-A}`), the
    partial sums :math:`n \ldots n + m` averaged with binomial weights."""
    def F(s):
        return (1.0 - transform(policy, lam, s, a, b)) / s

    terms = [0.5 * F(A / (2 * t)).real]
    for k in range(1, n + m + 1):
        terms.append((-1) ** k * F(complex(A, 2 * k * np.pi) / (2 * t)).real)
    partial = np.cumsum(terms)
    coef = np.array([special.binom(m, j) for j in range(m + 1)]) / 2.0 ** m
    sf = float(np.exp(A / 2) / t * np.sum(coef * partial[n:n + m + 1]))
    return 1.0 - sf
