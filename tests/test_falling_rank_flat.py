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
from falling_rank_flat_reference import class_mixture_cdf_cut, class_transform, class_waiting_mean

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


def test_class_transform_next_to_the_flat_threshold():
    """A class's transform E[e^{-s(T - x)} | x, y] at (x, y) = (1.1088, 1.4993), next to the flat
    threshold 1.5, at the Euler nodes of t = 1.5 (A, n, m = 26, 24, 14) within 1e-12 of
    :func:`class_transform` (Kendall's roots by Newton's method and the old piece by closed
    forms in x, no engine helpers); measured 3.4e-15 (1.6e-11 up to |s| = 151 on the finer
    rule); without the cuts of the old piece's rule in p (FLAT_SLOPE = 0) 4.7e-7."""
    import numpy as np

    from qtheory.engine import laplace_inversion as li

    q = _model("uniform")
    x, y = 1.10881, 1.499307
    a, _ = li.euler_nodes(li.EULER_A, li.EULER_N, li.EULER_M)
    s = a / 1.5
    got = np.asarray(rtd(q, FRAC, x=x, y=y)._t.lst(s))
    want = class_transform(s, x, y, 0.8, 0.5, 1.5, 24, v_pan=8)
    assert np.max(np.abs(got - want)) < 1e-12


@pytest.mark.slow
def test_unconditional_cdf_at_1_5_against_the_cut_class_mixture():
    """The cdf at t = 1.5 (uniform(0.5)) within 5e-8 of the class laws mixed with the z rule cut
    at the flat thresholds and where x + y/c = t (:func:`class_mixture_cdf_cut`, 8 x 5 nodes a
    panel, 4 panels in x): 0.6557888301613984, the route's 0.6557888340683613, 3.9e-9 above.
    The tolerance is the reference's own spread, not the route's error: 7 nodes a z panel move
    it by 4.1e-9; its rule in x is the weak part (the inner integral kinks at x = 1/3, 0.375,
    0.5, 0.6, 0.75, 0.9, 1, 1.125, 7/6): those 10 panels with 5 nodes give 3.2e-8 more
    (0.6557888620899688, the route 2.8e-8 below), 3 equal panels 1.6e-7 more. Costly: about
    160 s of CPU."""
    q = _model("uniform")
    d = rtd(q, FRAC)
    want = class_mixture_cdf_cut(q, FRAC, 1.5, 0.5, 1.5, x_panels=4)
    assert abs(float(d.cdf(1.5)) - want) < 5e-8
