"""PSPJF's residence sums over the classes' sizes by the Taylor model at the sizes' shared
exponentials (:class:`qtheory.engine.response_distribution_prediction.ClassTaylor`) against the
sums :math:`\\sum_k W_{jk}e^{-\\eta_j X_{jk}}` at 40 digits (mpmath), written without the
engine's helpers."""

from __future__ import annotations

import mpmath as mp
import numpy as np

from qtheory.engine.response_distribution_prediction import ClassTaylor, small_tables


def _rows():
    # 24 classes on 120 increasing sizes in [1e-3, 30] (10 Gauss-Legendre-like clusters in
    # log x), weights e^{-x} dx scaled per class; the roots eta_j = s + delta_j with delta_j
    # from 1e-12 to 3 (the small classes on the model, the large ones by exponentials)
    lx = np.linspace(np.log(1e-3), np.log(30.0), 120)
    x = np.exp(lx)
    w = np.exp(-x) * x * (lx[1] - lx[0])
    J = 24
    X = np.tile(x, (J, 1))
    W = w[None, :] * np.geomspace(1e-6, 1.0, J)[:, None]
    W[3, 100:] = 0.0  # a row with fewer nodes
    delta = np.geomspace(1e-12, 3.0, J) * (1.0 + 0.5j)
    delta[0] = -3e-16 + 1e-15j  # eta - s rounded below Re s (the first rows of a contour)
    return X, W, delta


def _reference(s, eta, X, W, rows):
    mp.mp.dps = 40
    out = []
    for j in rows:
        acc = mp.mpc(0)
        u = mp.mpc(eta[j].real, eta[j].imag)
        for xk, wk in zip(X[j], W[j], strict=True):
            if wk != 0.0:
                acc += mp.mpf(wk) * mp.exp(-u * mp.mpf(xk))
        out.append(complex(acc))
    return np.array(out)


def test_class_taylor_matches_high_precision_sums():
    X, W, delta = _rows()
    ct = ClassTaylor(X, W, small_tables(X, W))
    s = np.array([0.4 + 0.0j, 0.4 + 6.0j, 2.0 + 40.0j])
    eta = s[:, None] + delta[None, :]
    got = ct.residence(s, eta)
    rows = range(0, 24, 3)
    for i in range(s.size):
        ref = _reference(s[i], eta[i], X, W, rows)
        mag = np.array([np.sum(W[j] * np.exp(-eta[i, j].real * X[j])) for j in rows])  # sum of |terms|
        err = np.abs(got[i, list(rows)] - ref) / mag
        assert np.all(err <= 1e-14), (i, err)
    # the model took the small classes at every point (not only the exponentials' route)
    from qtheory.engine.response_distribution_prediction import _class_taylor_kernel

    out = np.empty(eta.shape, complex)
    ok = np.zeros(eta.shape, bool)
    _class_taylor_kernel(s, np.ascontiguousarray(eta), ct.nodes.U, ct.nodes.idx, ct.X, ct.W, ct.nnz, ct.Wcum,
                         ct.C, 0.5, ct.order, True, out, ok)
    assert np.all(ok[:, :6]) and not np.any(ok[:, -3:])


def test_class_taylor_psi_matches_high_precision_sums():
    """The old piece's form :math:`\\psi_j = \\sum_k W_{jk}(1 - e^{-\\eta_j X_{jk}})` (SPRPT's
    :math:`X^{old}_1` at Kendall's roots) against mpmath at 40 digits, within 1e-14 of
    :math:`\\sum_k W_{jk}\\min(1, |\\eta_j| X_{jk})` (the scale of its terms)."""
    X, W, delta = _rows()
    ct = ClassTaylor(X, W, small_tables(X, W))
    s = np.array([0.4 + 6.0j, 2.0 + 40.0j])
    eta = s[:, None] + delta[None, :]
    got = ct.psi(s, eta)
    rows = list(range(0, 24, 3))
    for i in range(s.size):
        ref = W[rows].sum(1) - _reference(s[i], eta[i], X, W, rows)
        scale = np.array([np.sum(W[j] * np.minimum(1.0, np.abs(eta[i, j]) * X[j])) for j in rows])
        err = np.abs(got[i, rows] - ref) / scale
        assert np.all(err <= 1e-14), (i, err)


def test_class_taylor_adaptive_order_same_rows_fewer_columns():
    """Each row's model to the lowest order whose remainder bound holds (``CLASS_ADAPTIVE``,
    :func:`_class_taylor_kernel_a`) against every row at ``CLASS_ORDER`` (``_class_taylor_kernel``):
    the same rows on the model, the sums within 1e-15 of the sum of the terms' moduli (the
    values against mpmath: the tests above, which take this route), and fewer than 70% of the
    columns of order ``CLASS_ORDER`` summed (the rows of tiny :math:`\\delta_j` at low order)."""
    from qtheory.engine.response_distribution_prediction import _class_taylor_kernel, _class_taylor_kernel_a

    X, W, delta = _rows()
    ct = ClassTaylor(X, W, small_tables(X, W))
    s = np.array([0.4 + 0.0j, 0.4 + 6.0j, 2.0 + 40.0j])
    eta = np.ascontiguousarray(s[:, None] + delta[None, :])
    args = (s, eta, ct.nodes.U, ct.nodes.idx, ct.X, ct.W, ct.nnz, ct.Wcum, ct.C, 0.5, ct.order, True)
    out0, ok0 = np.empty(eta.shape, complex), np.zeros(eta.shape, bool)
    _class_taylor_kernel(*args, out0, ok0)
    out, ok, cols = np.empty(eta.shape, complex), np.zeros(eta.shape, bool), np.zeros(1, np.int64)
    _class_taylor_kernel_a(*args, out, ok, cols)
    np.testing.assert_array_equal(ok, ok0)
    mag = np.array([[np.sum(W[j] * np.exp(-eta[i, j].real * X[j])) for j in range(W.shape[0])]
                    for i in range(s.size)])
    assert np.max(np.abs(out - out0)[ok] / mag[ok]) <= 1e-15
    assert cols[0] < 0.7 * 3 * (ct.order + 1) * ok.sum(), (cols[0], ok.sum())
