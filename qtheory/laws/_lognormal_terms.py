"""One compiled pass over ``t = v/x`` for the log-normal error factor (numba).

The X-outer threshold sums of :class:`qtheory.laws.joint.FactorJoint` need four functions of every
entry of a (thresholds x size nodes) matrix: :math:`F_Z(t)`, :math:`\\psi(t)`,
:math:`P(t < Z \\le 1 + t)` and :math:`f_Z(t)`, for :math:`\\log Z \\sim N(0, s^2)`. In numpy
each masked step allocates a matrix; here each entry costs its normal-cdf evaluations and
nothing else. The formulas are those of :class:`qtheory.laws.predictions._LogNormalFactor`:
:math:`E[Z^k 1\\{lo < Z \\le hi\\}] = e^{k^2 s^2/2} (\\Phi(b_k) - \\Phi(a_k))` with
:math:`a_k = \\log(lo)/s - ks`, :math:`b_k = \\log(hi)/s - ks`, the difference taken in the lower
tail to avoid cancellation, and :math:`\\psi(t) = c^2 m_0 - 2 c m_1 + m_2` with :math:`c = 1+t`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(cache=True, inline="always")
def _ndtr(x):
    return 0.5 * math.erfc(-x * _SQRT1_2)


@njit(cache=True, inline="always")
def _between(a, b):
    """Phi(b) - Phi(a) for a <= b, in the tail where it does not cancel."""
    if a > 0.0:
        return _ndtr(-a) - _ndtr(-b)
    return _ndtr(b) - _ndtr(a)


@njit(cache=True)
def lognormal_terms(t, s, zlo, zhi):
    """(cdf, psi, P(t < Z <= 1+t), pdf) of the factor at every entry of the 2-D array ``t``;
    ``zlo``, ``zhi``: the factor's range, outside which its cdf is 0 or 1 to 1e-18."""
    n, m = t.shape
    cdf = np.empty((n, m))
    psi = np.empty((n, m))
    dg = np.empty((n, m))
    pdf = np.empty((n, m))
    e1 = math.exp(s * s / 2.0)
    e2 = math.exp(2.0 * s * s)
    for i in range(n):
        for j in range(m):
            tt = t[i, j]
            if tt >= zhi:  # Z <= t almost surely: psi = 0, both tails 0
                cdf[i, j] = 1.0
                psi[i, j] = 0.0
                dg[i, j] = 0.0
                pdf[i, j] = 0.0
                continue
            tp = tt if tt > 0.0 else 0.0
            c = 1.0 + tp
            lh = math.log1p(tp) / s
            sf1 = _ndtr(-lh)
            if tt <= zlo:  # Z > t almost surely: only the upper end 1 + t matters
                cdf[i, j] = 0.0
                pdf[i, j] = 0.0
                dg[i, j] = 1.0 - sf1
                m0 = _ndtr(lh)
                m1 = e1 * _ndtr(lh - s)
                m2 = e2 * _ndtr(lh - 2.0 * s)
            else:
                u = math.log(tt) / s
                cdf[i, j] = _ndtr(u)
                dg[i, j] = _ndtr(-u) - sf1
                pdf[i, j] = math.exp(-0.5 * u * u) * _INV_SQRT_2PI / (tt * s)
                m0 = _between(u, lh)
                m1 = e1 * _between(u - s, lh - s)
                m2 = e2 * _between(u - 2.0 * s, lh - 2.0 * s)
            v = c * c * m0 - 2.0 * c * m1 + m2
            psi[i, j] = v if v > 0.0 else 0.0
    return cdf, psi, dg, pdf
