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

**Laws with kinks.** Where :math:`f` kinks at :math:`\tau_0` (its density jumps or kinks), the
terms carry the phase :math:`e^{-i k\pi\tau_0/t}` besides :math:`(-1)^k`; the binomial average
then damps them only by :math:`|\sin(\pi\tau_0/2t)|^m` and the sum converges algebraically in
:math:`n`, slowest for kinks near :math:`t`. The class laws of the prediction policies kink where
their new jobs' size densities do (a uniform factor :math:`Z \in [z_l, z_h]`: sizes
:math:`v/z_h` and :math:`v/z_l` at the level :math:`v`), and the default rule was up to
:math:`1.9\cdot10^{-7}` (SPRPT), :math:`1.2\cdot10^{-6}` (PSPJF) and :math:`7\cdot10^{-8}` (SPJF)
off their cdfs (Exp(1) sizes, uniform(0.5) predictions, class (0.4, 1.1), loads 0.5 to 0.95,
against ``tests/sprpt_class_uniform_reference.py``). :func:`invert_refined` estimates the
truncation error from the default rule's own transform values (:func:`euler_nodes_spread`: the
largest of four differences of Euler averages; one difference, :func:`euler_nodes_err`, can
vanish where the averages oscillate in :math:`n`) and recomputes the times where it exceeds
:data:`REFINE_TOL` on :data:`EULER_FINE`, whose first 39 nodes are the default's.

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
#: the finer rule of :func:`invert_refined` (73 terms): the same :math:`A`, so its nodes
#: :math:`k = 0, \dots, 72` contain the default rule's :math:`k = 0, \dots, 38`, whose transform
#: values are reused (34 new ones a refined time)
EULER_FINE = (26.0, 48, 24)
#: :func:`invert_refined` recomputes a time on :data:`EULER_FINE` where the default rule's
#: estimated truncation error (:func:`truncation_error`) exceeds this
REFINE_TOL = 1e-9
#: ... and keeps the finer rule's value where its own estimate is at most this fraction of the
#: default's (a transform that is not accurate at the new nodes' larger :math:`|s|` shows there: PSPJF's
#: class at x + 0.6 was 1.0e-9 off on the default rule, 4.6e-9 on the finer one, whose estimate
#: was 0.57 of the default's)
REFINE_GAIN = 0.5
#: the differences of Euler averages that :func:`euler_nodes_spread` takes (n - 1, ..., n - SPREAD)
SPREAD = 4
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
    the discretisation error :math:`e^{-A}` nor the round-off. Near a kink at :math:`\tau_0` the
    averages oscillate in :math:`n` (with the phase :math:`\pi\tau_0/t` a term), and two
    consecutive ones can agree by chance: on the class laws of the prediction policies this one
    difference was up to 900 times below the error (:func:`euler_nodes_spread` is not)."""
    return _cached_nodes(float(A), int(n), int(m))


@lru_cache(maxsize=16)
def _cached_spread(A: float, n: int, m: int, J: int) -> np.ndarray:
    _, omega = euler_nodes(A, n, m)
    D = np.zeros((J, omega.size))
    for j in range(1, J + 1):
        _, prev = euler_nodes(A, n - j, m)
        D[j - 1] = omega
        D[j - 1, :prev.size] -= prev
    D.setflags(write=False)
    return D


def euler_nodes_spread(A: float = EULER_A, n: int = EULER_N, m: int = EULER_M,
                       J: int = SPREAD) -> np.ndarray:
    r"""Weights :math:`D_{jk}` (shape ``(J, n + m + 1)``, cached, read-only) on the nodes of
    :func:`euler_nodes` of the differences between the Euler average of :math:`s_n, \dots,
    s_{n+m}` and those of :math:`s_{n-j}, \dots, s_{n-j+m}`, :math:`j = 1, \dots, J`:
    :math:`t^{-1}\max_j|\sum_k D_{jk}\operatorname{Re}\hat f(\alpha_k/t)|`
    (:func:`truncation_error`) estimates the truncation error where the averages oscillate in
    :math:`n` (a kink at :math:`\tau_0`: period :math:`2t/(t - \tau_0)` terms or so), which one
    difference (:func:`euler_nodes_err`) can miss. Measured (the error against a rule with
    twice the terms, :math:`J = 4`): at most 1.7 times the estimate on the uniform and
    triangular cdfs (:math:`t \in [0.3, 12]`), 1.6 times on the class laws of SPRPT, PSPJF and
    SPJF (Exp(1) sizes, uniform(0.5) predictions, loads 0.5 to 0.95); one difference: 42, 9 and
    916 times."""
    return _cached_spread(float(A), int(n), int(m), int(J))


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


def truncation_error(vals: np.ndarray, rule: tuple[float, int, int], t: np.ndarray) -> np.ndarray:
    r""":math:`t^{-1}\max_j|\sum_k D_{jk} v_k|` row by row (:func:`euler_nodes_spread` of the
    Euler rule ``rule``): the estimated truncation error of the inversion at the times ``t``
    from the real transform values ``vals`` on that rule's nodes (rows: the times)."""
    D = euler_nodes_spread(*rule)
    return np.max(np.abs(np.einsum("ij,kj->ik", vals, D)), axis=1) / t


def fine_nodes(rule: tuple[float, int, int], fine: tuple[float, int, int] = EULER_FINE) -> int:
    r"""How many of the finer rule's nodes the rule ``rule`` already has (its :math:`n + m + 1`:
    the nodes :math:`\alpha_k = (A + 2k\pi i)/2` depend on :math:`A` and :math:`k` only);
    raises where the two rules' :math:`A` differ or ``fine`` is not longer."""
    A, n, m = rule
    if float(fine[0]) != float(A) or fine[1] + fine[2] <= n + m:
        raise ValueError(f"fine_nodes: {fine} does not extend {rule} (the same A, more terms)")
    return int(n + m + 1)


def invert_refined(transform: Callable[[np.ndarray], np.ndarray], t, A: float = EULER_A,
                   n: int = EULER_N, m: int = EULER_M, fine: tuple[float, int, int] = EULER_FINE,
                   tol: float = REFINE_TOL) -> np.ndarray:
    r""":func:`invert` on the rule ``(A, n, m)``, and where its estimated truncation error
    (:func:`truncation_error`, from the same transform values) exceeds ``tol``, on the finer
    rule ``fine`` (the same :math:`A`: the transform is computed at its new nodes only,
    :func:`fine_nodes`), kept where the finer rule's own estimate is at most
    :data:`REFINE_GAIN` times the first (a transform that is not accurate at the new nodes'
    larger :math:`|s|` leaves the first value).

    The Euler average converges geometrically on smooth functions but only algebraically where
    the function kinks (module docstring). Rows whose estimate is at most ``tol`` are
    bit-identical to :func:`invert`."""
    t = np.asarray(t, float)
    if np.any(~(t > 0)) or np.any(~np.isfinite(t)):
        raise ValueError("invert_refined: every t must be finite and > 0")
    flat = t.reshape(-1)
    alpha, omega = euler_nodes(A, n, m)
    s = alpha[None, :] / flat[:, None]
    vals = np.asarray(transform(s), complex).real
    out = _dot(vals, omega) / flat
    est = truncation_error(vals, (A, n, m), flat)
    idx = np.flatnonzero(est > tol)
    if idx.size:
        k0 = fine_nodes((A, n, m), fine)
        af, of = euler_nodes(*fine)
        tr = flat[idx]
        new = np.asarray(transform(af[None, k0:] / tr[:, None]), complex).real
        vf = np.concatenate([vals[idx], new], axis=1)
        better = truncation_error(vf, fine, tr) <= REFINE_GAIN * est[idx]
        out[idx[better]] = (_dot(vf, of) / tr)[better]
    return out.reshape(t.shape)


__all__ = ["euler_nodes", "euler_nodes_err", "euler_nodes_spread", "fine_nodes", "invert", "invert_refined",
           "truncation_error", "EULER_A", "EULER_N", "EULER_M", "EULER_CHEAP", "EULER_FINE", "REFINE_TOL",
           "REFINE_GAIN", "SPREAD"]
