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


def _base(rule):
    from qtheory.laws._quadrature import ORDER, _gl

    r = rule.r
    ext, _ = jr._tail_extension(r)
    edges = np.concatenate([r.edges, ext])
    u, wu = panels(edges)
    xb = np.exp(u)
    wb = (wu * xb * r.size.pdf(xb)).reshape(-1, ORDER)
    t, w = _gl(ORDER)
    return edges, xb.reshape(-1, ORDER), wb, t, w


def test_piece_nodes_match_split_rows():
    r"""TRAIL's piece rows (``response_distribution_trail._nodes``): the size rule split at
    sorted cuts, the panels of positive width inside ``[lo_b, hi_b]``, against ``panels`` of
    the sorted edges, bit for bit (an uncut panel keeps the rule's nodes)."""
    rule = _rule()
    r = rule.r
    base = _base(rule)
    edges = base[0]
    rng = np.random.default_rng(5)
    n = 30
    cuts = rng.uniform(edges[0] - 1, edges[-1] + 1, (n, 7))
    cuts[::3, 0] = edges[4]  # on an edge
    cuts[::5, 1] = -np.inf  # no cut
    cuts = np.sort(cuts, axis=1)
    lo_b = rng.uniform(edges[0], edges[-1] - 2, n)
    hi_b = np.where(rng.uniform(size=n) < 0.3, edges[-1], np.minimum(lo_b + rng.uniform(1, 8, n), edges[-1]))
    cuts[:, 2] = lo_b  # the bounds are edges (as the callers have them)
    cuts[:, 3] = hi_b
    cuts = np.sort(cuts, axis=1)
    X, W, start, poff, pend, pnode = rt._nodes(base, cuts, lo_b, hi_b, r.size)
    for i in range(n):
        e = np.sort(np.concatenate([edges, cuts[i]]))
        keep = (e[:-1] >= lo_b[i]) & (e[1:] <= hi_b[i]) & (e[1:] > e[:-1])
        assert np.any(keep)
        u, wu = panels(np.stack([e[:-1][keep], e[1:][keep]], axis=1))
        x = np.exp(u.reshape(-1))
        w = wu.reshape(-1) * x * r.size.pdf(x)
        assert np.array_equal(X[start[i]:start[i + 1]], x)
        assert np.array_equal(W[start[i]:start[i + 1]], w)
        assert np.array_equal(pend[poff[i]:poff[i + 1]], e[1:][keep])
    assert start[-1] > 1000
    # the sums above each panel, and the panel holding a point
    fz = rng.uniform(0, 1, X.size)
    above = rt._panel_suffix(X, W, fz, 1.5, pnode, poff)
    S = np.array([np.sum(W[a:b] * fz[a:b] * (1.5 / X[a:b])) for a, b in zip(pnode[:-1], pnode[1:], strict=True)])
    for i in range(n):
        s = S[poff[i]:poff[i + 1]]
        ref = np.concatenate([np.cumsum(s[::-1])[::-1][1:], [0.0]])
        np.testing.assert_allclose(above[poff[i]:poff[i + 1]], ref, rtol=1e-13, atol=0)
    x = rng.uniform(edges[0], edges[-1], n)
    k = rt._panel_at(pend, poff, np.arange(n), x)
    for i in range(n):
        pe = pend[poff[i]:poff[i + 1]]
        j = np.flatnonzero(pe > x[i])
        assert k[i] == (poff[i] + j[0] if j.size else -1)


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
