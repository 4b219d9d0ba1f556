"""The reorganised sums of the prediction policies' transforms (SPJF, PSPJF, SPRPT; issue 16,
speed) give the same floating-point values as the sums they replace, bit for bit: the percentile
solver inverts with Euler weights up to :math:`e^{A/2} \\approx 4\\cdot10^5`, so a change of one
unit in the last place of the transform moves p99 by about 4e-10 and p99.9 by about 5e-9
(``docs/response_time_distribution.md``, section 5).

* SPRPT's residence sums with the Euler points on the inner axis
  (``_residence_kernel_t``) against the point-outer kernel (``_residence_kernel``);
* the sums over the distinct class sizes with real and imaginary parts apart
  (``_exp_sum_kernel_split``) against the complex kernel and against numpy's sum written out;
* the distinct sizes by a sort (``_unique_inverse``) against ``np.unique``;
* SPRPT's old-piece densities with one reused matrix a row (``_suffix_h_into``) against
  ``_suffix_h`` and a numpy evaluation;
* the Lagrange weights of Kendall's row starts computed for all rows at once
  (``_row_extrapolation``) against the row-by-row loop, and as interpolation weights (they
  reproduce polynomials of their degree).
"""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import _joint_rule as jr
from qtheory.engine import response_distribution_prediction as rdp
from qtheory.engine.response_distribution import response_time_distribution

#: points of Euler contours (t = 0.3 .. 40) and beyond
S = np.array([0.05 + 0.02j, 0.3 + 0.1j, 1.0 + 5.0j, 0.4 + 30.0j, 4.0 + 0.5j, 60.0 + 3.0j,
              43.3 + 100.0j, 0.325 + 2.5j])


def test_residence_and_exp_sums_bit_identical(monkeypatch):
    """SPRPT (unconditional and the class (1, 0.7)) and SPJF on Exp(1) sizes with log-normal(0.5)
    predictions at load 0.8: the transform with the reorganised kernels equals the one with the
    former kernels exactly; SPJF's class-size sums equal numpy's sum over every node to 1e-13."""
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.LogNormalPrediction(0.5))
    cases = [("sprpt", None, None), ("sprpt", 1.0, 0.7), ("spjf", None, None)]
    monkeypatch.setattr(rdp, "RESIDENCE_SHARED", False)  # (its own test below: not bit-identical)
    for pol, x, y in cases:
        tr = response_time_distribution(q, pol, x=x, y=y)._t
        monkeypatch.setattr(rdp, "RESIDENCE_TRANSPOSED", True)
        monkeypatch.setattr(rdp, "EXP_SUM_SPLIT", True)
        new = tr.lst(S)
        monkeypatch.setattr(rdp, "RESIDENCE_TRANSPOSED", False)
        monkeypatch.setattr(rdp, "EXP_SUM_SPLIT", False)
        old = tr.lst(S)
        np.testing.assert_array_equal(new, old, err_msg=f"{pol} {x}")
        if pol == "spjf":
            sh = tr._shared
            monkeypatch.setattr(rdp, "EXP_SUM_SPLIT", True)
            E = sh.exp_sums(S)
            direct = np.sum(tr.Wc[None] * np.exp(-S[:, None, None] * tr.Xc[None]), axis=2)
            np.testing.assert_allclose(E, direct, rtol=1e-13, atol=1e-16)


def test_residence_shared_exponentials_within_rounding(monkeypatch):
    """SPRPT's residence terms :math:`e^{-sx}e^{\\epsilon}` with :math:`e^{-sx}` from the table of
    the distinct class sizes and :math:`e^{\\epsilon}` by its Taylor polynomial
    (``RESIDENCE_SHARED``, unconditional; Exp(1) sizes, log-normal(0.5) predictions, load 0.8)
    against each term's own exponential (the former kernel): the class sums within 1e-15 of the
    sum of the terms' moduli, the transform within 1e-15 relative (a few units in the last
    place: not bit-identical; p99 moves by about 1e-9)."""
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.LogNormalPrediction(0.5))
    tr = response_time_distribution(q, "sprpt")._t
    s = S[2:]  # Re s >= 0.3
    et = tr._eta_grid(s)
    monkeypatch.setattr(rdp, "RESIDENCE_SHARED", False)
    old = tr._sprpt_residence(s, et)
    L_old = tr.lst(s)
    monkeypatch.setattr(rdp, "RESIDENCE_SHARED", True)
    new = tr._sprpt_residence(s, et)
    L_new = tr.lst(s)
    # the sum of the terms' moduli: W e^{-Re(s) x} bounds each (Re eps <= 0)
    scale = np.einsum("jk,ijk->ij", tr.Wc, np.exp(-s.real[:, None, None] * tr.Xc[None]))
    assert np.max(np.abs(new - old) / scale) <= 1e-15
    np.testing.assert_allclose(L_new, L_old, rtol=1e-15, atol=0)


def test_residence_adaptive_order_within_rounding(monkeypatch):
    """SPRPT's residence polynomial :math:`e^{\\epsilon}` per class node at the lowest order whose
    remainder bound at the node's largest :math:`|\\epsilon|` stays below order 9's at 1/16
    (``RESIDENCE_ADAPTIVE``; Exp(1) sizes, exponential predictions, load 0.8) against order 9
    at every node: the class sums within 1e-16 of the sum of the terms' moduli and the
    transform within 1e-16 relative (measured bit-identical at loads 0.35, 0.8, 0.95)."""
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    tr = response_time_distribution(q, "sprpt")._t
    s = S[2:]
    et = tr._eta_grid(s)
    monkeypatch.setattr(rdp, "RESIDENCE_ADAPTIVE", False)
    old = tr._sprpt_residence(s, et)
    L_old = tr.lst(s)
    monkeypatch.setattr(rdp, "RESIDENCE_ADAPTIVE", True)
    new = tr._sprpt_residence(s, et)
    L_new = tr.lst(s)
    scale = np.einsum("jk,ijk->ij", tr.Wc, np.exp(-s.real[:, None, None] * tr.Xc[None]))
    assert np.max(np.abs(new - old) / scale) <= 1e-16
    np.testing.assert_allclose(L_new, L_old, rtol=1e-16, atol=0)


def test_unique_inverse_equals_numpy():
    """``_unique_inverse`` returns ``np.unique(X, return_inverse=True)`` (the inverse shaped as
    X): repeated values, signed zeros, one value, and non-finite values (numpy's route)."""
    rng = np.random.default_rng(3)
    base = np.exp(rng.normal(size=40))
    cases = [rng.choice(base, size=(7, 30)), np.array([[0.0, -0.0, 1.0], [1.0, 0.0, 2.0]]),
             np.full((2, 2), 3.5), np.array([[1.0, np.inf, 1.0], [np.nan, 2.0, 1.0]])]
    for X in cases:
        U, inv = np.unique(X, return_inverse=True)
        U2, idx = rdp._unique_inverse(X)
        np.testing.assert_array_equal(U2, U)
        np.testing.assert_array_equal(idx, inv.reshape(X.shape))
        assert idx.dtype == np.int64 and idx.flags.c_contiguous


def _extrapolation_loop(t, P):
    """The Lagrange weights row by row (the loop ``_row_extrapolation`` replaced)."""
    lx = np.log(np.asarray(t, float))
    n = lx.size
    L = np.zeros((n, P))
    npts = np.zeros(n, np.int64)
    for j in range(3, n):
        q = min(P, j)
        pts = lx[j - q:j]
        w = np.ones(q)
        for a in range(q):
            for b in range(q):
                if a != b:
                    w[a] *= (lx[j] - pts[b]) / (pts[a] - pts[b])
        L[j, P - q:] = w
        npts[j] = q
    return L, npts


@pytest.mark.parametrize("n,P", [(4, 12), (5, 3), (13, 12), (14, 12), (280, 12), (40, 6)])
def test_row_extrapolation_equals_the_loop(n, P):
    """All rows at once equal the loop exactly; each row's weights reproduce the polynomials of
    degree below its point count at its own log t (the Lagrange property, to 1e-9)."""
    rng = np.random.default_rng(n + P)
    t = np.exp(np.cumsum(rng.uniform(0.2, 1.0, n)) - 20.0)
    L, npts = rdp._row_extrapolation(t, P)
    Lr, nr = _extrapolation_loop(t, P)
    np.testing.assert_array_equal(npts, nr)
    np.testing.assert_array_equal(L, Lr)
    lx = np.log(t)
    for j in range(3, n):
        q = npts[j]
        u = (lx[j - q:j] - lx[j]) / (lx[j - q] - lx[j])  # scaled: the values stay O(1)
        for d in range(q):
            np.testing.assert_allclose(L[j, P - q:] @ u ** d, 0.0 ** d, atol=1e-9)


def test_suffix_h_into_a_reused_matrix():
    """``_suffix_h_into`` writes every entry of a used (nan-filled) matrix: the rows of
    ``_suffix_h`` and of numpy's ``f_Z(Z)/x`` (0 before ``first``), row after row from one flat
    array of densities, and returns the offset after each row."""
    rng = np.random.default_rng(11)
    x = np.sort(np.exp(rng.uniform(-4, 3, 50)))
    f = qt.ExponentialPrediction().factor
    H = np.full((20, x.size), np.nan)
    off = 0
    for v in (0.3, 2.0):
        p = np.exp(rng.uniform(-4, 3, 20))
        first = rng.integers(-3, 60, 20)
        with np.errstate(over="ignore"):
            fz = f.pdf(jr._suffix_z(p, x, first, v))
            cols = np.arange(x.size)[None, :] >= np.clip(first, 0, x.size)[:, None]
            ref = np.where(cols, f.pdf(1.0 + (v - p[:, None]) / x[None, :]) / x[None, :], 0.0)
        both = np.concatenate([np.zeros(off), fz])
        end = jr._suffix_h_into(both, off, x, first, H)
        assert end == off + fz.size
        np.testing.assert_array_equal(H, jr._suffix_h(fz, x, first))
        np.testing.assert_array_equal(H, ref)
        off = 7


def test_class_moment_terms_equal_numpy():
    """The mixed moments (E, E2) of SPJF, PSPJF and SPRPT (unconditional, a class of T - x) from
    the compiled class terms equal numpy's masked sums of the same terms exactly, and so do the
    terms one by one."""
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.LogNormalPrediction(0.5))
    for pol, x, y in [("spjf", None, None), ("pspjf", None, None), ("sprpt", None, None),
                      ("sprpt", 1.0, 0.7)]:
        tr = response_time_distribution(q, pol, x=x, y=y)._t
        ew, varw, rn, n2 = tr._class_moments()
        rm, rv = tr._residence_moments(rn, n2)
        m = ew[:, None] + rm
        v = varw[:, None] + rv
        if tr.shifted:
            m = m - tr.Xc
        W = tr.Wc
        with np.errstate(invalid="ignore"):
            A, B = np.where(W > 0, m * W, 0.0), np.where(W > 0, (v + m * m) * W, 0.0)
        assert tr._moments_finite() == (float(np.sum(A)), float(np.sum(B))), (pol, x)
        # term by term (a reassociated term can leave the sums equal)
        A2, B2 = np.full(W.shape, np.nan), np.full(W.shape, np.nan)
        rdp._class_moment_terms(ew, varw, np.ascontiguousarray(np.broadcast_to(rm, W.shape)),
                                np.ascontiguousarray(np.broadcast_to(rv, W.shape)),
                                np.ascontiguousarray(np.broadcast_to(tr.Xc, W.shape)), W, bool(tr.shifted), A2, B2)
        np.testing.assert_array_equal(A2, A)
        np.testing.assert_array_equal(B2, B)
