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
from class_mixture import class_mixture_cdf

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
    (measured 4.3e-16 and 6.7e-17; the prediction-node mixing's cdf was 1.7e-4 off at t = 0.1),
    its mean to 1e-12 relative (measured 1.2e-14)."""
    q = _model()
    a, b = rtd(q, TWO), rtd(q, qt.SPRPT())
    assert isinstance(a._t, rdo.OuterRankTransform) and a._t._shape == "autonomous"
    s = np.array([13 + 56.5j, 26 + 226j])
    assert np.max(np.abs(a._t.lst(s) - b._t.lst(s))) <= 1e-12
    assert abs(a.mean() - b.mean()) <= 1e-12 * b.mean()


def test_ranks_flat_at_a_threshold_are_found():
    """y/(1 + a) on uniform(0.5) predictions: y/k - b_y(v) = y (1/k - 1/v) + 1 is flat at
    v = k = 0.5 and 1.5: flat_thresholds finds both to 1e-8 (its bisection stops where the
    difference falls in its flat band of 1e-9); y - a/2 (flat at k = 1/2 for every v) and
    2(y - a) have none. The route covers the rank (its old piece's rule in p is cut where
    y/k - b_y(v) is nearly flat: tests/test_falling_rank_flat.py)."""
    q = _model()
    rule = rdp.joint_rule(q, conditional=False)
    got = rk.flat_thresholds(rule, FRAC.fn, rk._inverse(rule, FRAC))
    assert got.size == 2 and np.allclose(got, [0.5, 1.5], rtol=1e-8, atol=0)
    for pol in (HALF, TWO):
        assert rk.flat_thresholds(rule, pol.fn, rk._inverse(rule, pol)).size == 0
    assert rk.supported(q, FRAC) and rk.supported(q, HALF)


@pytest.mark.slow
def test_general_residence_is_the_autonomous_one(monkeypatch):
    """The age rule per class (ranks neither constant in age nor autonomous) against the top
    prediction's path for 2(y - a): transform at Euler nodes of t = 1 and 0.5 within 1e-12
    (measured 2.8e-15 against SPRPT's outer law by the per-class rules). Costly: 9.6 million age
    nodes (160 s on a loaded machine)."""
    q = _model()
    auto = rtd(q, TWO)._t
    monkeypatch.setattr(rdo.OuterRankTransform, "_rank_shape", lambda self: "general")
    rule = rdp.joint_rule(q, conditional=False)
    monkeypatch.setitem(rule.__dict__, "_qt_setups", {})  # the autonomous tables are cached there
    gen = rdo.OuterRankTransform(q, TWO, rule, rk._inverse(rule, TWO))
    assert gen._shape == "general" and gen.ages is not None
    s = np.array([13 + 56.5j, 26 + 226j])
    assert np.max(np.abs(gen.lst(s) - auto.lst(s))) <= 1e-12
    assert gen.moments()[0] == pytest.approx(auto.moments()[0], rel=1e-12)


@pytest.mark.slow
def test_half_rank_cdf_against_the_class_mixture():
    """y - a/2 (level 0 at age 2y: a kink at z = 1/2, the factor's lower end) on uniform(0.5)
    predictions: the cdf at t = 0.1 within 1e-8 of its class laws mixed over a Gauss-Legendre
    rule in (x, z) (10 x 5 nodes a panel, 3 panels in x on [0, t], z split at 1), and its mean
    within 1e-10 relative of the mean engine's. Costly: 300 class laws (400 s on a loaded
    machine)."""
    q = _model()
    d = rtd(q, HALF)
    assert isinstance(d._t, rdo.OuterRankTransform)
    t = 0.1
    total = class_mixture_cdf(q, HALF, t, (0.5, 1.0, 1.5))
    assert abs(float(d.cdf(t)) - total) < 1e-8
    assert d.mean() == pytest.approx(float(q.mean_response_time(HALF)), rel=1e-10)
