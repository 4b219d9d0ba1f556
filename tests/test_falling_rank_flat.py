"""A falling prediction rank whose remaining work after a threshold stops depending on the
prediction at one threshold: ``y/(1 + a)`` (``b_y(v) = y/v - 1``, so that ``y/k - b_y(v)`` is
flat in ``y`` at ``v = k`` for a kink ``k`` of the factor's density), on uniform(0.5) and
bounded-multiplicative(0.5, 2) errors, Exp(1) sizes, load 0.8
(:func:`qtheory.engine.response_distribution_prediction_rank._flat_cuts`).

Truth: a class's E[W | y] against ``tests/falling_rank_flat_reference.py`` (SOAP's formula,
closed forms in x and scipy's quadrature in z, no engine helpers); the unconditional mean
against the mean engine (:mod:`qtheory.engine.soap_prediction_rank`: no roots per level, no
old piece); the unconditional cdf against the class laws mixed over (x, z) by
``tests/class_mixture.py``. Before the piece's rule in p was cut where ``y/k - b_y(v)`` is
nearly flat, the class means were up to 7.4e-5 off (y = 1.501) and the rank was declined."""

from __future__ import annotations

import functools

import pytest
from class_mixture import class_mixture_cdf
from falling_rank_flat_reference import class_waiting_mean

import qtheory as qt
from qtheory.engine import response_distribution_prediction_outer as rdo
from qtheory.engine import response_distribution_prediction_rank as rk
from qtheory.engine.response_distribution import response_time_distribution as rtd
from qtheory.engine.response_distribution import waiting_time_distribution as wtd

FRAC = qt.Rank(lambda y, a: y / (1.0 + a), descriptor="prediction", monotone="decreasing", name="y/(1 + a)")
#: factor name -> (prediction law, factor support, classes' predictions next to the flat thresholds)
FACTORS = {
    "uniform": (qt.UniformPrediction(0.5), (0.5, 1.5), (1.501, 0.501, 1.51)),
    "bounded": (qt.BoundedMultiplicative(0.5, 2.0), (0.5, 2.0), (2.001, 0.501, 2.01)),
}


@functools.cache
def _model(factor: str) -> qt.MG1:
    return qt.MG1(0.8, qt.Exponential(1.0), FACTORS[factor][0])


@pytest.mark.parametrize("factor", list(FACTORS))
def test_class_waiting_means_next_to_the_flat_thresholds(factor):
    """E[W | y] at predictions 1e-3 and 1e-2 above the flat thresholds k within 1e-9 relative
    of the reference (measured 1.3e-14 / 4.2e-15 / 1.5e-14 on uniform(0.5), 1.8e-14 / 2.7e-15 /
    6.8e-15 on bounded-multiplicative; without the cuts 7.4e-5 / 7.1e-5 / 2.6e-7 and 6.1e-5 /
    6.8e-5 / 8.2e-7)."""
    q = _model(factor)
    zl, zh = FACTORS[factor][1]
    assert rk.supported(q, FRAC)
    for y in FACTORS[factor][2]:
        d = wtd(q, FRAC, x=1.0, y=y)
        assert isinstance(d._t, rk.PredictionRankTransform)
        want = class_waiting_mean(y, 0.8, zl, zh)
        assert abs(d.mean() - want) <= 1e-9 * want, y


@pytest.mark.slow
@pytest.mark.parametrize("factor", list(FACTORS))
def test_unconditional_mean_is_the_mean_engine(factor):
    """The unconditional mean (outer rule, an age rule per class) within 1e-9 relative of the
    mean engine's (measured 1.1e-12 on uniform(0.5)). Costly: about 35 s of CPU."""
    q = _model(factor)
    d = rtd(q, FRAC)
    assert isinstance(d._t, rdo.OuterRankTransform)
    want = float(q.mean_response_time(FRAC))
    assert d.mean() == pytest.approx(want, rel=1e-9)


@pytest.mark.slow
def test_unconditional_cdf_against_the_class_mixture():
    """The cdf at t = 0.5 (uniform(0.5)) within 5e-9 of the class laws mixed over a
    Gauss-Legendre rule in (x, z) (10 x 5 nodes a panel, 3 panels in x on [0, t], z split at 1:
    ``tests/class_mixture.py``); measured 1.5e-9 (the mixture with 14 x 7 nodes and 4 panels
    -8.7e-10: the mixture's own error; edges at z = k/x, where the class laws' y crosses a
    flat threshold, moved it by 3e-11). The classes without the cuts of the old piece move the
    mixture by 8.6e-9. Costly: 300 class laws (about 85 s of CPU)."""
    q = _model("uniform")
    d = rtd(q, FRAC)
    assert isinstance(d._t, rdo.OuterRankTransform)
    t = 0.5
    assert abs(float(d.cdf(t)) - class_mixture_cdf(q, FRAC, t, (0.5, 1.0, 1.5))) < 5e-9


def test_outer_rule_is_cut_at_the_flat_thresholds():
    """The outer route's threshold grid has edges at the flat thresholds v* = 0.5, 1.5
    (:func:`rk.flat_tedges`) and each coarse size's factor rule edges at z = v*/x: the class
    transform is not analytic in the prediction there (the old piece's support [0, v/z_l] becomes
    unbounded at v = z_l; its density below 1 vanishes at v = z_h). The truth of the cut rule:
    test_outer_class_transforms_next_to_the_flat_thresholds (gated)."""
    import types

    import numpy as np

    from qtheory.engine import response_distribution_prediction as rdp

    q = _model("uniform")
    rule = rdp.joint_rule(q, conditional=False)
    psi = rk._inverse(rule, FRAC)
    e = rk.flat_tedges(rule, FRAC.fn, psi, np.asarray(rule.tedges, float))
    # flat_thresholds stops where the direction of Phi_k is flat to 1e-9 of its terms: v* to
    # about 1.7e-9 (relative)
    assert np.all(np.min(np.abs(e[:, None] - np.log([0.5, 1.5])[None, :]), axis=0) < 1e-8)
    assert np.all(np.diff(e) > 0)
    xc = np.array([0.4, 0.8, 2.0])
    fake = types.SimpleNamespace(fn=FRAC.fn, psi=psi, rule=rule)
    zb = rdo.OuterRankTransform._z_breaks_at(fake, xc, np.log(0.5), np.log(1.5))
    # v*/x inside (0.5, 1.5): 0.5/0.4 = 1.25; 0.5/0.8 = 0.625, 1.5/0.8 = 1.875 outside; 1.5/2 = 0.75
    assert [np.sort(z).round(6).tolist() for z in zb] == [[1.25], [0.625], [0.75]]
