"""The compiled kernels of the joint rule's tables (qtheory.engine._joint_rule and
qtheory.engine.response_distribution_trail) against the plain numpy formulas they replace: the
same values, bit for bit."""

import math

import numpy as np

import qtheory as qt
from qtheory.engine import _joint_rule as jr
from qtheory.engine import response_distribution_trail as rt
from qtheory.engine.response_distribution import _rule as size_rule
from qtheory.engine.response_distribution_prediction import WIDTH_JOINT
from qtheory.laws._quadrature import panels
from qtheory.laws.predictions import _ExpFactor


def _rule():
    """A joint rule on Exp(1) sizes and Exp(1) factors with only what ``_split`` reads (the
    full constructor tabulates the law of Y: a second of CPU)."""
    rule = jr.FactorJointRule.__new__(jr.FactorJointRule)
    rule.r = size_rule(qt.Exponential(1.0), WIDTH_JOINT)
    rule.f = _ExpFactor()
    return rule


def test_split_reuses_uncut_panels_bit_for_bit():
    rule = _rule()
    r = rule.r
    ext, _ = jr._tail_extension(r)
    edges = np.concatenate([r.edges, ext])
    rng = np.random.default_rng(3)
    # cuts inside, outside and on the rule's edges, NaN (no cut)
    cuts = np.exp(rng.uniform(math.log(r.lo) - 2, math.log(r.hi) + 2, (40, 6)))
    cuts[::3, 0] = np.exp(edges[5])
    cuts[::4, 1] = np.nan
    X, W = rule._split(cuts)
    # the direct evaluation: every panel of the sorted edges
    lc = np.log(np.clip(np.where(np.isnan(cuts), r.lo, cuts), r.lo, math.exp(edges[-1])))
    e = np.sort(np.concatenate([np.broadcast_to(edges, (40, edges.size)), lc], axis=1), axis=1)
    u, wu = panels(e)
    x = np.exp(u)
    w = wu * x * r.size.pdf(x)
    assert np.array_equal(X[:, 1:-1], x)
    assert np.array_equal(W[:, 1:-1], w)


def test_piece_kernels_match_numpy():
    rng = np.random.default_rng(5)
    X = np.exp(rng.uniform(-4, 3, (30, 50)))
    p = np.exp(rng.uniform(-4, 3, 30))
    W = rng.uniform(0, 1, X.shape)
    f = _rule().f
    for vi, c in ((0.7, 0.3), (2.0, 0.8), (1.5, 1.0)):
        one = c >= 1.0
        ki = math.inf if one else vi * c / (1.0 - c)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            A = X <= p[:, None] + ki
            z = np.where(A, 1.0 + (vi - p[:, None]) / X, (1.0 - p[:, None] / X) / c if not one else 0.0)
            jac = np.where(A, 1.0, 1.0 / c if not one else 0.0) / X
            h = np.where(X > p[:, None], f.pdf(z) * jac, 0.0)
        zk = rt._piece_z(X, p, vi, ki, c, one)
        assert np.array_equal(zk, z)
        T = rt._piece_terms(X, W, p, ki, f.pdf(zk), 0.0 if one else 1.0 / c)
        assert np.array_equal(T, W * np.nan_to_num(h))
        assert np.count_nonzero(T) > 100


def test_suffix_kernels_match_numpy():
    rng = np.random.default_rng(7)
    x = np.sort(np.exp(rng.uniform(-4, 3, 60)))
    p = np.exp(rng.uniform(-4, 3, 25))
    first = rng.integers(0, 70, 25)
    f = _rule().f
    v = 0.9
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        Z = 1.0 + (v - p[:, None]) / x[None, :]
        keep = np.arange(x.size)[None, :] >= first[:, None]
        h = np.zeros(Z.shape)
        h[keep] = f.pdf(Z[keep])
        ref = h / x[None, :]
    z = jr._suffix_z(p, x, first, v)
    assert np.array_equal(z, Z[keep])
    assert np.array_equal(jr._suffix_h(f.pdf(z), x, first), ref)
