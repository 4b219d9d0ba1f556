r"""The compiled sum :math:`\psi_j(u) = \sum_k W_{jk}(1 - e^{-uX_{jk}})` of the response-time
transforms (Kendall's equation and the old-job delay of SOAP's decomposition,
``docs/response_time_distribution.md`` sections 1 and 5), one kernel for every caller.

The nodes of a row from ``ms`` on are summed with one complex exponential each (a node with
:math:`\operatorname{Re}(u)\,x > 46`, where :math:`|e^{-ux}| < 10^{-20}`, adds its weight
alone); the nodes below ``ms`` (rows of increasing nodes, :math:`|u| x < \theta`) by the Taylor
series from the row's cumulative moments :math:`C_{jmn} = \sum_{k < m} W_{jk}X_{jk}^n/n!`:

.. math::
    \sum_{k < m} W_{jk}(1 - e^{-uX_{jk}}) = -\sum_{n=1}^{N}(-u)^n C_{jmn} + r,\qquad
    |r| \le \frac{\theta^N}{(N+1)!}\,|u|\sum_{k<m}W_{jk}X_{jk}

(:math:`|e^{-z} - \sum_{n \le N}(-z)^n/n!| \le |z|^{N+1}/(N+1)!` for
:math:`\operatorname{Re}z \ge 0`). ``ms = 0`` (no table): the plain sum.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _small_terms(X, W, C):  # pragma: no cover - compiled
    # C[j, m + 1, n - 1] = C[j, m, n - 1] + W_jm X_jm^n / n!, the powers by x^n / n! =
    # (x^{n-1} / (n-1)!) x / n (one multiplication and one division a term, not a power).
    # Load-free, once per set-up (not per Euler node): PSPJF's tables on Exp(1) sizes with
    # exponential predictions are Kendall's rows (280, 613, 16), 22 MB, and the class rows
    # (270, 1123, 16), 39 MB; filling them takes 4.9 and 6.9 ms CPU into memory already
    # mapped (the node-by-node recurrence vectorised over the nodes: 3.8 and 6.1 ms, not
    # taken), the rest of the 35 to 95 ms measured a call is the first touch of the fresh
    # pages (about 0.5 ms a MB, up to 2 ms a MB with transparent huge pages being compacted)
    N = C.shape[2]
    for j in range(X.shape[0]):
        for m in range(X.shape[1]):
            x = X[j, m]
            t = W[j, m]
            if t == 0.0:
                for n in range(N):
                    C[j, m + 1, n] = C[j, m, n]
                continue
            for n in range(N):
                t = t * x / (n + 1)
                C[j, m + 1, n] = C[j, m, n] + t


@numba.njit(cache=True, nogil=True)
def _small_sum(C, j, m, u):  # pragma: no cover - compiled
    # sum_{k < m} W_jk (1 - e^{-u x_k}) and its u-derivative sum W x e^{-u x} by the series:
    # -sum_{n>=1} (-u)^n C_n and sum_{n>=1} n (-u)^{n-1} C_n (Horner's scheme)
    if m == 0:
        return 0.0 + 0.0j, 0.0 + 0.0j
    # (C[j, m, n - 1] holds the moment of order n)
    v = -u
    N = C.shape[2]
    p = C[j, m, N - 1] + 0.0j
    d = N * C[j, m, N - 1] + 0.0j
    for n in range(N - 1, 0, -1):
        p = C[j, m, n - 1] + v * p
        d = n * C[j, m, n - 1] + v * d
    return -v * p, d


@numba.njit(cache=True, nogil=True)
def _psi_one(u, X, W, j, K, C, theta):  # pragma: no cover - compiled
    # psi_j(u) over the row's first K nodes and the number of complex exponentials taken: the
    # nodes below ms (the first at or above theta / |u|; C of shape (0, 0, 0) or Re u <= 0:
    # ms = 0) by the series (_small_sum), the others one exponential each, e^{-ux} below 1e-20
    # left out (the summation order of every former copy: the series first, then k = ms..K-1)
    ur = u.real
    ms = np.searchsorted(X[j, :K], theta / abs(u)) if C.shape[0] > 0 and ur > 0.0 else 0
    psi = _small_sum(C, j, ms, u)[0] if ms > 0 else 0.0 + 0.0j
    n = 0
    for k in range(ms, K):
        w = W[j, k]
        if w == 0.0:
            continue
        x = X[j, k]
        if ur * x > 46.0:  # e^{-u x} below 1e-20
            psi += w
        else:
            psi += w * (1.0 - np.exp(-u * x))
            n += 1
    return psi, n


@numba.njit(cache=True, nogil=True)
def psi_kernel(U, X, W, nnz, C, theta, out):  # pragma: no cover - compiled
    """``out[i, j]`` = :math:`\\psi_j(U_{ij})` over the first ``nnz[j]`` nodes of row ``j``
    (:func:`_psi_one`; ``C``: the rows' cumulative moments, or shape ``(0, 0, 0)``: the plain
    sum)."""
    n_s, n_t = U.shape
    for i in range(n_s):
        for j in range(n_t):
            out[i, j] = _psi_one(U[i, j], X, W, j, nnz[j], C, theta)[0]


#: ``C`` of :func:`psi_kernel` without the series
NO_SERIES = np.zeros((0, 0, 0))
