"""SPRPT's load-free set-up (``qtheory.engine._joint_rule``, the residence starts of
``qtheory.engine.response_distribution_prediction`` and the exponential factor of
``qtheory.laws.predictions``) against the plain numpy evaluations its compiled or restructured
parts replace: the same values, bit for bit; the threshold grid's cumulative basis also against
an independent quadrature of the Lagrange basis."""

import math

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import _joint_rule as jr
from qtheory.engine import response_distribution_prediction as rdp
from qtheory.engine.response_distribution import _rule as size_rule
from qtheory.laws._quadrature import ORDER, _gl
from qtheory.laws.predictions import _ExpFactor, _LogNormalFactor


def _rule(factor):
    """A joint rule on Exp(1) sizes with only what ``_split`` and ``gt_rem`` read (the full
    constructor tabulates the law of Y)."""
    rule = jr.FactorJointRule.__new__(jr.FactorJointRule)
    rule.r = size_rule(qt.Exponential(1.0), rdp.WIDTH_JOINT)
    rule.f = factor
    rule.kinks = np.zeros(0)
    return rule


def _suffix_sums_row_by_row(P, first, v, x, w, U, inv):
    r""":math:`G_{iq} = \sum_{k \ge f_{iq}} a_{ik}b_{uk}` (:math:`a_{ik} = w_k e^{-1 - v_i/x_k}/x_k`,
    :math:`b_{uk} = e^{U_u/x_k}`) one (i, q) at a time in plain Python: four partial sums from the
    first node, then ``(s0 + s1) + (s2 + s3)`` (the order before the blocked kernel)."""
    n, Q = P.shape
    m = x.size
    G = np.empty((n, Q))
    for i in range(n):
        a = [w[k] * (math.exp(-1.0 - v[i] / x[k]) / x[k]) for k in range(m)]
        for q in range(Q):
            k0 = min(max(int(first[i, q]), 0), m)
            b = [math.exp(U[inv[i, q]] / x[k]) if k >= k0 else 0.0 for k in range(m)]
            s = [0.0, 0.0, 0.0, 0.0]
            k = k0
            while k + 3 < m:
                for lane in range(4):
                    s[lane] += a[k + lane] * b[k + lane]
                k += 4
            while k < m:
                s[0] += a[k] * b[k]
                k += 1
            G[i, q] = (s[0] + s[1]) + (s[2] + s[3])
    return G


def test_exp_suffix_sums_blocked_equal_row_by_row():
    """The suffix sums of SPRPT's old piece on exponential predictions, the shared values'
    sums four rows per reading of the table row, equal a plain row-by-row loop in the same
    order, bit for bit (9 rows: not a multiple of four; shared and one-row values; first nodes
    from 0 to past the end)."""
    rng = np.random.default_rng(2)
    m, n, Q, nu = 23, 9, 12, 30
    x = np.sort(rng.exponential(1.0, m)) + 0.01
    w = rng.random(m)
    U = np.sort(rng.random(nu) * 0.5)
    U[-1] = 2 * x[-1]  # a value above every node: no term
    inv = rng.integers(0, nu, (n, Q))
    inv[:, :6] = np.arange(6)  # six values in every row
    inv[0, 6] = nu - 1
    ufirst = np.searchsorted(x, U).astype(np.int64)
    first = ufirst[inv]
    shared = np.bincount(inv.reshape(-1), minlength=nu) > 1
    slot = np.where(shared, np.cumsum(shared) - 1, -1).astype(np.int64)
    assert 0 < shared.sum() < nu
    v = rng.random(n) * 2
    G = jr._exp_suffix_sums(U[inv], first, v, x, w, U, inv.astype(np.int64), ufirst, slot)
    assert np.array_equal(G, _suffix_sums_row_by_row(U[inv], first, v, x, w, U, inv))
    assert G[0, 6] == 0.0 and np.all(G[:, :6] > 0)


@pytest.mark.parametrize("factor", [_ExpFactor(), _LogNormalFactor(0.5)], ids=["exp", "lognormal"])
def test_gt_rem_panel_part_compiled_equals_numpy(factor, monkeypatch):
    """SPRPT's old piece with the part of p's panel above p compiled (the density on the
    terms that count, flat; the exponential factor's by one exp) equals the numpy expression
    over every (threshold, p, node), bit for bit, at thresholds below, inside and above the
    bulk (and at 0)."""
    v = np.array([0.0, 1e-3, 0.05, 0.7, 3.0, 40.0])
    P, W = _rule(factor).gt_rem(v)
    monkeypatch.setattr(jr, "PANEL_PART_COMPILED", False)
    P0, W0 = _rule(factor).gt_rem(v)
    assert np.array_equal(P, P0)
    assert np.array_equal(W, W0)
    assert np.sum(W > 0) > 0.5 * W.size


def test_unique_of_gt_rem_pieces_is_numpys_unique():
    """The distinct pieces that ``gt_rem`` found are ``np.unique(P, return_inverse=True)``;
    another array (even an equal copy) is not looked up."""
    rule = _rule(_ExpFactor())
    P, _ = rule.gt_rem(np.array([0.05, 0.7, 3.0]))
    U, inv = rule.unique_of(P)
    U0, inv0 = np.unique(P, return_inverse=True)
    assert np.array_equal(U, U0)
    assert np.array_equal(inv, inv0.reshape(P.shape))
    assert inv.dtype == np.int64 and inv.flags.c_contiguous
    assert rule.unique_of(P.copy()) is None


def test_cum_basis_against_quadrature_and_numpy_legval():
    r""":math:`S_k(\xi) = \int_0^\xi \ell_k` (Lagrange basis of the Gauss-Legendre nodes of
    [0, 1]): against a 40-point Gauss-Legendre quadrature of the basis on :math:`[0, \xi]` (exact
    for the degree-9 polynomials, to rounding) and, bit for bit, against numpy's ``legval`` of
    each antiderivative."""
    rng = np.random.default_rng(7)
    xi = np.concatenate([[0.0, 1.0, 0.5, 1e-300], rng.random(200)])
    S = jr._cum_basis(xi)
    nodes, _ = _gl(ORDER)
    t40, w40 = _gl(40)
    for q in (0, 1, 2, 5, 50, 150):
        pts = xi[q] * t40
        ell = np.ones((pts.size, ORDER))
        for k in range(ORDER):
            for j in range(ORDER):
                if j != k:
                    ell[:, k] *= (pts - nodes[j]) / (nodes[k] - nodes[j])
        ref = xi[q] * (w40 @ ell)
        np.testing.assert_allclose(S[q], ref, rtol=0, atol=1e-12)
    # the compiled Clenshaw recursion against numpy's, per polynomial
    anti, Vinv = jr._cum_basis_tables(ORDER)
    y = 2 * np.clip(xi, 0.0, 1.0) - 1
    ints = np.empty((xi.size, ORDER))
    for p in range(ORDER):
        ints[:, p] = np.polynomial.legendre.legval(y, anti[:, p]) / 2.0
    assert np.array_equal(jr._legval_cols(np.ascontiguousarray(y), anti), ints)
    assert np.array_equal(S, ints @ Vinv)


def test_split_same_cuts_rows_equal_the_sorted_rows():
    """Rows cut at the same points (no cuts: NaN) computed once and repeated equal the rows of
    the general path (a batch with one other row), bit for bit, nodes and weights."""
    rule = _rule(_ExpFactor())
    same = np.full((5, 1), np.nan)
    X, W = rule._split(same)
    mixed = np.concatenate([same, [[0.3]]])
    X0, W0 = rule._split(mixed)
    assert np.array_equal(X, X0[:5]) and np.array_equal(W, W0[:5])
    assert not np.array_equal(X0[5], X0[0])
    X1, W1 = rule._split(np.full((5, 1), 0.3))
    assert np.array_equal(X1, np.repeat(X0[5:], 5, axis=0)) and np.array_equal(W1, np.repeat(W0[5:], 5, axis=0))


def test_exponential_factor_in_place_formulas():
    r"""The exponential factor's cdf, sf and pdf (in place) against the formulas
    :math:`1 - e^{-z}`, :math:`e^{-z}` (:math:`z \ge 0`; 0 and 1 below) elementwise with
    ``math``, and, bit for bit, against numpy's expressions; NaN: cdf and sf NaN, pdf 0."""
    f = _ExpFactor()
    z = np.array([-3.0, -0.0, 0.0, 1e-300, 1e-9, 0.5, 1.0, 30.0, 800.0, np.inf, -np.inf, np.nan])
    cdf, sf, pdf = f.cdf(z), f.sf(z), f.pdf(z)
    for k, x in enumerate(z):
        if math.isnan(x):
            assert math.isnan(cdf[k]) and math.isnan(sf[k]) and pdf[k] == 0.0
            continue
        xp = max(x, 0.0)
        assert cdf[k] == pytest.approx(-math.expm1(-xp), rel=1e-15, abs=0)
        assert sf[k] == pytest.approx(math.exp(-xp), rel=1e-15, abs=0)
        assert pdf[k] == (pytest.approx(math.exp(-x), rel=1e-15, abs=0) if x >= 0 else 0.0)
    assert np.array_equal(cdf, -np.expm1(-np.maximum(z, 0.0)), equal_nan=True)
    assert np.array_equal(sf, np.exp(-np.maximum(z, 0.0)), equal_nan=True)
    assert np.array_equal(pdf, np.where(z >= 0, np.exp(-np.maximum(z, 0)), 0.0))
    assert np.array_equal(np.signbit(cdf), np.signbit(-np.expm1(-np.maximum(z, 0.0))))
    # scalars keep numpy's scalar results
    for x in (0.5, -1.0, 3):
        assert f.cdf(x) == -np.expm1(-np.maximum(x, 0.0)) and np.ndim(f.cdf(x)) == 0
        assert f.sf(x) == np.exp(-np.maximum(x, 0.0)) and np.ndim(f.pdf(x)) == 0


def test_small_tables_rows_with_decreasing_nodes():
    """No series table where a row's nodes decrease before its last weight; a decrease after
    it (zero weights) is ignored, as the row-by-row check did."""
    X = np.array([[1.0, 2.0, 3.0, 0.5], [1.0, 2.0, 3.0, 4.0]])
    W = np.array([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    assert rdp.small_tables(X, W) is not None
    W2 = W.copy()
    W2[0, 3] = 1.0
    assert rdp.small_tables(X, W2) is None
    assert rdp.small_tables(X[:, :1], W[:, :1]) is not None
