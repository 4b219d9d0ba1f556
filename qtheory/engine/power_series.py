r"""Truncated power series in :math:`s` at 0 (Taylor mode) of the response-time transforms: the
moments :math:`E[T^n] = (-1)^n n!\,[s^n]\tilde T(s)` from the same formula as the transform,
with exact partial moments of the size law in place of numerical derivatives.

A series is an array whose last axis holds the coefficients :math:`c_0, \dots, c_n` (leading axes:
classes). For a piece :math:`X` with moments :math:`m_k = E[X^k]` (defective laws allowed),
:math:`\psi(u) = E[1 - e^{-uX}] = \sum_{k \ge 1} (-1)^{k+1} m_k u^k / k!`; Kendall's busy-period
equation :math:`\eta = s + \lambda\psi(\eta)` is solved order by order: the coefficient
:math:`e_k` enters order k linearly, :math:`e_k (1 - \lambda m_1) = [k = 1] + \lambda[s^k]\psi(\eta)|_{e_k = 0}`.

Derivation: ``docs/response_time_distribution.md`` (moments of any order).
"""

from __future__ import annotations

import math

import numpy as np


def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cauchy product truncated to the common length (last axis)."""
    n = a.shape[-1]
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape))
    for k in range(n):
        out[..., k] = np.sum(a[..., : k + 1] * b[..., k::-1], axis=-1)
    return out


def recip(a: np.ndarray) -> np.ndarray:
    """:math:`1/a(s)` (``a[..., 0] != 0``)."""
    n = a.shape[-1]
    b = np.zeros(a.shape)
    b[..., 0] = 1.0 / a[..., 0]
    for k in range(1, n):
        b[..., k] = -np.sum(a[..., 1: k + 1] * b[..., k - 1:: -1], axis=-1) / a[..., 0]
    return b


def exp(a: np.ndarray) -> np.ndarray:
    r""":math:`e^{a(s)}` (from :math:`b' = a' b`)."""
    n = a.shape[-1]
    b = np.zeros(a.shape)
    b[..., 0] = np.exp(a[..., 0])
    for k in range(1, n):
        j = np.arange(1, k + 1)
        b[..., k] = np.sum(j * a[..., j] * b[..., k - j], axis=-1) / k
    return b


def compose(c: np.ndarray, e: np.ndarray) -> np.ndarray:
    r""":math:`\sum_k c_k e(s)^k` for a series ``e`` without constant term (Horner)."""
    n = c.shape[-1]
    out = np.zeros(np.broadcast_shapes(c.shape, e.shape))
    for k in range(n - 1, -1, -1):
        out = mul(out, np.broadcast_to(e, out.shape))
        out[..., 0] += c[..., k]
    return out


def psi(m: np.ndarray) -> np.ndarray:
    r"""Coefficients of :math:`\psi(u) = E[1 - e^{-uX}]` from ``m[..., k-1]`` :math:`= E[X^k]`,
    :math:`k = 1..n` (series of length n + 1)."""
    n = m.shape[-1]
    k = np.arange(1, n + 1)
    c = np.zeros(m.shape[:-1] + (n + 1,))
    c[..., 1:] = (-1.0) ** (k + 1) * m / np.array([math.factorial(j) for j in k], float)
    return c


def psi_over_u(m: np.ndarray) -> np.ndarray:
    r"""Coefficients of :math:`\psi(u)/u` from :math:`E[X^k]`, k = 1..n + 1 (length n + 1)."""
    return psi(m)[..., 1:]


def kendall(lam: float, m: np.ndarray) -> np.ndarray:
    r""":math:`\eta(s) = s + \lambda\psi(\eta(s))` as a series of length n + 1 from the new jobs'
    moments ``m`` (:math:`E[X^k]`, k = 1..n): :math:`\eta'(0) = 1/(1 - \rho)`, ...
    (Kendall's equation for :math:`\eta = s + \lambda(1 - \tilde B(s))`)."""
    c = psi(m)
    n = c.shape[-1]
    eta = np.zeros(c.shape)
    # order k: e_k = [k = 1] + lam (c_1 e_k + [s^k] of the terms in e_1..e_{k-1}), linear in e_k
    for k in range(1, n):
        rest = compose(c, eta)[..., k]  # e_k = 0 still: the lower orders' share
        eta[..., k] = ((1.0 if k == 1 else 0.0) + lam * rest) / (1.0 - lam * c[..., 1])
    return eta


def moments_of(c: np.ndarray) -> np.ndarray:
    r""":math:`E[T^k] = (-1)^k k!\,c_k` from the series of :math:`E[e^{-sT}]`."""
    n = c.shape[-1]
    k = np.arange(n)
    return (-1.0) ** k * np.array([math.factorial(j) for j in k], float) * c


def series_of(moments: np.ndarray) -> np.ndarray:
    r"""Inverse of :func:`moments_of`: :math:`c_k = (-1)^k E[T^k]/k!`."""
    n = moments.shape[-1]
    k = np.arange(n)
    return (-1.0) ** k * moments / np.array([math.factorial(j) for j in k], float)


__all__ = ["mul", "recip", "exp", "compose", "psi", "psi_over_u", "kendall", "moments_of", "series_of"]
