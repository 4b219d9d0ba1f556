r"""The one compiled sum :math:`\psi_j(u) = \sum_k W_{jk}(1 - e^{-uX_{jk}})`
(``qtheory.engine._psi_kernel``) behind ``_psi_at``, ``psi_rows`` and ``eta_rows``' pass at the
root: the plain sum and the series start against mpmath, and the count of exponentials."""

from __future__ import annotations

import mpmath as mp
import numpy as np

from qtheory.engine import _psi_kernel as pk
from qtheory.engine import response_distribution as rd
from qtheory.engine import response_distribution_prediction as rdp


def _rows():
    """Three rows of increasing nodes over 1e-4..300 (so that both ``Re(u) x > 46`` and
    ``|u| x < 0.5`` occur), some weights zero, the last row shorter (trailing zeros)."""
    x = np.geomspace(1e-4, 300.0, 40)
    X = np.vstack([x, 0.5 * x, 2.0 * x])
    W = np.vstack([np.exp(-x), 1.0 / (1.0 + x) ** 3, np.where(x < 50.0, np.exp(-0.3 * x), 0.0)]) / 10.0
    W[0, 5:9] = 0.0
    W[1, 20] = 0.0
    U = np.array([[0.37 + 0.21j, 1.7 - 3.0j, 0.05 + 0.0j], [4.0 + 9.0j, 0.2 + 0.6j, 12.0 - 1.0j]])
    return X, W, U


def _mp_psi(u, x, w):
    """The sum and the number of nodes with a non-zero weight and ``Re(u) x <= 46``, in mpmath
    (50 digits), term by term."""
    with mp.workdps(50):
        v = mp.fsum(mp.mpf(wk) * (1 - mp.exp(-mp.mpc(u) * mp.mpf(xk))) for xk, wk in zip(x, w) if wk != 0.0)
    return complex(v), sum(1 for xk, wk in zip(x, w) if wk != 0.0 and u.real * xk <= 46.0)


def test_psi_kernel_plain_and_series_against_mpmath():
    r"""``psi_kernel`` without the series (``NO_SERIES``; ``_psi_at``'s route) and with it
    (:func:`small_tables`; ``psi_rows``' route) within 1e-15 relative of mpmath (the left-out
    terms :math:`|e^{-ux}| < 10^{-20}` and the series' remainder :math:`4.3\cdot10^{-20}` of
    :math:`|u|\sum Wx` are below it); ``_psi_one`` counts one exponential per summed node from
    the series' end on (all of them without the series); the series covers nodes in most
    cells."""
    X, W, U = _rows()
    nnz = rd._nnz(W)
    C = rdp.small_tables(X, W)
    theta = float(rdp.SMALL_THETA)
    plain = np.empty(U.shape, complex)
    series = np.empty(U.shape, complex)
    pk.psi_kernel(U, X, W, nnz, pk.NO_SERIES, 0.0, plain)
    pk.psi_kernel(U, X, W, nnz, C, theta, series)
    covered = 0
    for i in range(U.shape[0]):
        for j in range(U.shape[1]):
            u = U[i, j]
            ref, nexp = _mp_psi(u, X[j], W[j])
            assert abs(plain[i, j] - ref) <= 1e-15 * abs(ref), (i, j)
            assert abs(series[i, j] - ref) <= 1e-15 * abs(ref), (i, j)
            assert pk._psi_one(u, X, W, j, nnz[j], pk.NO_SERIES, 0.0) == (plain[i, j], nexp)
            ms = int(np.searchsorted(X[j, :nnz[j]], theta / abs(u)))
            _, nser = _mp_psi(u, X[j, ms:nnz[j]], W[j, ms:nnz[j]])
            assert pk._psi_one(u, X, W, j, nnz[j], C, theta) == (series[i, j], nser)
            covered += ms > 0
    assert covered >= 5
    # the public routes are this kernel
    np.testing.assert_array_equal(rd._psi_at(U, X, W), plain)
    np.testing.assert_array_equal(rdp.psi_rows(U, X, W, C), series)
