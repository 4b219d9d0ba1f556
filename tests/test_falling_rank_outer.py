"""The unconditional law of a falling prediction rank (``qt.Rank(..., monotone="decreasing")``)
on a factor whose density jumps (uniform errors): the classes mixed over (x, z) with e^{-sx}
outside (:class:`qtheory.engine.response_distribution_prediction_outer.OuterRankTransform`).

Truth: ranks that order jobs as SPRPT (2(y - a)) and PSPJF (y^2) against those policies' outer
laws (``tests/test_prediction_kinked_unconditional.py`` checks those against an independent
reference); the prediction-node mixing was 1.7e-4 off SPRPT's law at t = 0.1."""

from __future__ import annotations

import functools

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import response_distribution_prediction as rdp
from qtheory.engine import response_distribution_prediction_outer as rdo
from qtheory.engine import response_distribution_prediction_rank as rk
from qtheory.engine.response_distribution import response_time_distribution as rtd


def _rank(fn, name):
    return qt.Rank(fn, descriptor="prediction", monotone="decreasing", name=name)


TWO = _rank(lambda y, a: 2.0 * (y - a), "2(y - a)")
HALF = _rank(lambda y, a: y - a / 2.0, "y - a/2")
EXPR = _rank(lambda y, a: np.exp(y - a), "exp(y - a)")
SQUARE = _rank(lambda y, a: y ** 2 + 0.0 * a, "y^2")
FRAC = _rank(lambda y, a: y / (1.0 + a), "y/(1 + a)")


@functools.cache
def _model() -> qt.MG1:
    return qt.MG1(0.8, qt.Exponential(1.0), qt.UniformPrediction(0.5))


def _stub(pol):
    """The route's rank-shape probes without its tables: the rule's prediction range as classes."""
    rule = rdp.joint_rule(_model(), conditional=False)
    tr = object.__new__(rdo.OuterRankTransform)
    tr.fn, tr.psi = pol.fn, rk._inverse(rule, pol)
    tr.ys = np.geomspace(1e-6, float(np.exp(rule.yedges[-1])), 200)
    return tr


@pytest.mark.parametrize("pol,shape", [(TWO, "autonomous"), (HALF, "autonomous"), (EXPR, "autonomous"),
                                       (SQUARE, "constant"), (FRAC, "general")])
def test_rank_shapes(pol, shape):
    """SPRPT's family, y - a/2 and exp(y - a) follow one path shifted in age; y^2 is constant
    in age; y/(1 + a) neither (its level at age a from y is y/(1 + a), the top path's
    y_top/(1 + a + y_top/y - 1))."""
    tr = _stub(pol)
    assert tr._rank_shape() == shape


def test_autonomous_start_ages():
    """2(y - a): the age where the top prediction's rank falls to 2y is y_top - y (to rounding
    at y_top's scale), y - a/2: 2(y_top - y)."""
    for pol, c in ((TWO, 1.0), (HALF, 2.0)):
        tr = _stub(pol)
        assert tr._rank_shape() == "autonomous"
        assert np.max(np.abs(tr._A - c * (tr._ytop - tr.ys))) <= 1e-13 * c * tr._ytop


def test_factor_edges_where_the_rank_reaches_level_zero():
    """The factor rule of a coarse size x has an edge where the rank reaches level 0 (the
    inverse's lowest level y_lo) at age x: 2(y - a) at z = 1 + y_lo/x (b_y(y_lo) = y - y_lo),
    y - a/2 at z = 1/2 + y_lo/x, to 1e-14 relative; none for y^2."""
    x = np.array([0.01, 0.3, 2.0, 17.0])
    for pol, z in ((TWO, 1.0), (HALF, 0.5)):
        tr = _stub(pol)
        br = tr._z_breaks_at(x, np.log(0.3), np.log(2.0))
        for xi, b in zip(x, br, strict=True):
            want = z + tr.psi.y[0] / xi
            assert b.size == 1 and abs(b[0] - want) <= 1e-14 * want
    assert all(b.size == 0 for b in _stub(SQUARE)._z_breaks_at(x, np.log(0.3), np.log(2.0)))


@pytest.mark.slow
def test_sprpts_rank_is_sprpts_outer_law():
    """2(y - a) on uniform(0.5) predictions (Exp(1) sizes, load 0.8) takes the outer route and
    its transform at Euler nodes of t = 1 and 0.5 equals SPRPT's outer transform to 1e-12
    (measured 1.3e-15 and 2.9e-15; the prediction-node mixing's cdf was 1.7e-4 off at t = 0.1),
    its mean to 1e-12 relative (measured 1.8e-14)."""
    q = _model()
    a, b = rtd(q, TWO), rtd(q, qt.SPRPT())
    assert isinstance(a._t, rdo.OuterRankTransform) and a._t._shape == "autonomous"
    s = np.array([13 + 56.5j, 26 + 226j])
    assert np.max(np.abs(a._t.lst(s) - b._t.lst(s))) <= 1e-12
    assert abs(a.mean() - b.mean()) <= 1e-12 * b.mean()
