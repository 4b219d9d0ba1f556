"""The unconditional cdf of a prediction policy on Exp(1) sizes with a uniform error factor
(density 1 on its range), as its class laws mixed by Gauss-Legendre quadrature in (x, z): an
independent check of the outer rule's mixing (the class laws are checked on their own)."""

from __future__ import annotations

import numpy as np

from qtheory.engine.response_distribution import response_time_distribution as rtd


def _gl(n: int, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    g, w = np.polynomial.legendre.leggauss(n)
    return (g + 1) / 2 * (hi - lo) + lo, w * (hi - lo) / 2


def class_mixture_cdf(q, policy, t: float, z_edges, nx: int = 10, nz: int = 5, x_panels: int = 3) -> float:
    r""":math:`P(T \le t) = \int_0^t e^{-x} \int f_Z(z) P(T \le t \mid x, xz)\,dz\,dx` with
    :math:`f_Z = 1` on ``[z_edges[0], z_edges[-1]]``: ``x_panels`` equal panels of ``nx`` nodes
    on :math:`[0, t]` (a class's response time is at least its size), ``nz`` nodes on each
    panel between consecutive ``z_edges`` (the class laws' kinks in z)."""
    total = 0.0
    xe = np.linspace(0.0, t, x_panels + 1)
    for lo, hi in zip(xe[:-1], xe[1:], strict=True):
        for xi, wxi in zip(*_gl(nx, lo, hi), strict=True):
            inner = 0.0
            for zl, zh in zip(z_edges[:-1], z_edges[1:], strict=True):
                for zi, wzi in zip(*_gl(nz, zl, zh), strict=True):
                    inner += wzi * float(rtd(q, policy, x=xi, y=xi * zi).cdf(t))
            total += wxi * np.exp(-xi) * inner
    return total
