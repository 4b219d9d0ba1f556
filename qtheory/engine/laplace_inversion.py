r"""Numerical inversion of Laplace transforms in double precision (Abate and Whitt's Euler method).

For a function :math:`f` on :math:`[0, \infty)` with transform :math:`\hat f(s) = \int_0^\infty
e^{-st} f(t)\,dt`, the Fourier-series (Bromwich trapezoidal) approximation with the contour at
:math:`\operatorname{Re} s = A/(2t)` is (Abate and Whitt, "Numerical inversion of Laplace
transforms of probability distributions", ORSA J. Computing 7(1), 1995, eq. (5)-(7))

.. math::
    f(t) \approx s_N(t) = \frac{e^{A/2}}{2t}\operatorname{Re}\hat f\Big(\frac{A}{2t}\Big)
      + \frac{e^{A/2}}{t}\sum_{k=1}^{N} (-1)^k \operatorname{Re}\hat f\Big(\frac{A + 2k\pi i}{2t}\Big),

whose *discretisation* error is :math:`\sum_{j\ge1} e^{-jA} f((2j+1)t)`, at most
:math:`e^{-A}\sup|f|/(1 - e^{-A})` (and, for a survival function, a fraction :math:`e^{-A}` of
:math:`\bar F(3t) \le \bar F(t)`: the error is relative in the tail). The alternating series is
summed by Euler's binomial average of the partial sums :math:`s_n, \dots, s_{n+m}`:
:math:`f(t) \approx \sum_{j=0}^{m}\binom{m}{j}2^{-m}s_{n+j}(t)`. Round-off is amplified by
:math:`e^{A/2}`: with :math:`A = 26` (discretisation error :math:`5\cdot10^{-12}`) it stays below
about :math:`10^{-10}` in double precision. The nodes reach
:math:`|\operatorname{Im}s| = (n+m)\pi/t`; the transform must be analytic in
:math:`\operatorname{Re} s > 0` only (no continuation to the left half-plane, unlike Talbot's
contour), which is why heavy-tailed laws (Pareto, Weibull with shape < 1) work.

Abate and Whitt's unified framework (INFORMS J. Computing 18(4), 2006) writes the same method as
:math:`f(t) \approx t^{-1}\sum_k \omega_k \operatorname{Re}\hat f(\alpha_k/t)` with nodes and
weights that depend only on the parameters: :func:`euler_nodes` returns them, so that one
vectorised call of the transform serves many times at once.

Derivation and accuracy: ``docs/response_time_distribution.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from scipy.special import comb

#: discretisation parameter A (error about e^{-A}) and the Euler summation's n and m
EULER_A = 26.0
EULER_N = 24
EULER_M = 14
#: a cheaper Euler rule (23 terms; sf within about 1e-6 relative at p99 of smooth laws) for the
#: percentile solver's first steps, whose points are only starts of the full-accuracy steps
EULER_CHEAP = (20.0, 12, 10)


def lst_in_blocks(block: Callable[[np.ndarray], np.ndarray], s, size: int) -> np.ndarray:
    """A transform at complex ``s`` (any shape) evaluated ``size`` values at a time by ``block``
    (a contiguous 1-d array in, its values out): bounds the memory of transforms whose tables
    grow with the number of values."""
    s = np.asarray(s, complex)
    flat = s.reshape(-1)
    out = np.empty(flat.size, complex)
    for b in range(0, flat.size, size):
        out[b:b + size] = block(np.ascontiguousarray(flat[b:b + size]))
    return out.reshape(s.shape)


def euler_nodes(A: float = EULER_A, n: int = EULER_N, m: int = EULER_M) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes :math:`\alpha_k` and real weights :math:`\omega_k` with
    :math:`f(t) \approx t^{-1}\sum_k \omega_k \operatorname{Re}\hat f(\alpha_k/t)` (``n + m + 1``
    of each): the Euler method above with the binomial average folded into the weights."""
    k = np.arange(n + m + 1)
    alpha = (A + 2j * math.pi * k) / 2.0
    # weight of term k in s_N: e^{A/2} (-1)^k (1/2 for k = 0); in the average of s_n..s_{n+m},
    # term k appears in every s_N with N >= k: sum_{j: n+j >= k} C(m, j) 2^{-m}
    binom = comb(m, np.arange(m + 1)) / 2.0 ** m
    tail = np.cumsum(binom[::-1])[::-1]  # tail[j] = sum_{i >= j} binom[i]
    share = np.where(k <= n, 1.0, tail[np.clip(k - n, 0, m)])
    sign = np.where(k % 2 == 0, 1.0, -1.0)
    omega = math.exp(A / 2) * sign * share
    omega[0] *= 0.5
    return alpha, omega


@lru_cache(maxsize=16)
def _cached_nodes(A: float, n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    alpha, omega = euler_nodes(A, n, m)
    if n >= 1:
        _, prev = euler_nodes(A, n - 1, m)
        diff = omega.copy()
        diff[:-1] -= prev
    else:
        diff = np.zeros_like(omega)
    for a in (alpha, omega, diff):
        a.setflags(write=False)
    return alpha, omega, diff


def euler_nodes_err(A: float = EULER_A, n: int = EULER_N,
                    m: int = EULER_M) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The nodes and weights of :func:`euler_nodes` (cached, read-only) and the weights
    :math:`\delta_k` on the same nodes of the difference between the Euler averages of
    :math:`s_n, \dots, s_{n+m}` and of :math:`s_{n-1}, \dots, s_{n+m-1}`:
    :math:`t^{-1}|\sum_k \delta_k \operatorname{Re}\hat f(\alpha_k/t)|` estimates the truncation
    error of the inversion at ``t`` from the transform values already computed (Abate and
    Whitt 2006: the averaged sums converge geometrically on smooth functions, so the last
    difference bounds what is left; next to a kink of :math:`f` it is large). It does not see
    the discretisation error :math:`e^{-A}` nor the round-off."""
    return _cached_nodes(float(A), int(n), int(m))


def _dot(vals: np.ndarray, omega: np.ndarray) -> np.ndarray:
    r"""``vals @ omega`` row by row in a fixed order (``einsum``, not BLAS): the weights are
    about :math:`e^{A/2}`, so the sum's rounding (~1e-12 of the result) must not depend on how
    many times are inverted together (a quantile and the cdf at that quantile agree exactly)."""
    return np.einsum("ij,j->i", vals, omega)


def invert(transform: Callable[[np.ndarray], np.ndarray], t, A: float = EULER_A, n: int = EULER_N,
           m: int = EULER_M) -> np.ndarray:
    r""":math:`f(t)` from its Laplace transform :math:`\hat f(s)` (``transform``, vectorised over a
    complex array of any shape), at every ``t > 0`` in one call of the transform.

    Parameters
    ----------
    transform : callable
        :math:`\hat f(s)` for a complex ndarray ``s``; must be analytic for
        :math:`\operatorname{Re} s > 0`.
    t : array_like
        Times, all finite and > 0.
    A, n, m : float, int, int
        Euler parameters (discretisation error about :math:`e^{-A}`).

    Returns
    -------
    ndarray of the shape of ``t``.
    """
    t = np.asarray(t, float)
    if np.any(~(t > 0)) or np.any(~np.isfinite(t)):
        raise ValueError("invert: every t must be finite and > 0")
    alpha, omega = euler_nodes(A, n, m)
    flat = t.reshape(-1)
    s = alpha[None, :] / flat[:, None]
    vals = np.asarray(transform(s), complex).real
    out = _dot(vals, omega) / flat
    return out.reshape(t.shape)


__all__ = ["euler_nodes", "euler_nodes_err", "invert", "EULER_A", "EULER_N", "EULER_M", "EULER_CHEAP"]
