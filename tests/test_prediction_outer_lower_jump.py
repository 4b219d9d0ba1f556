"""The unconditional laws of PSPJF and SPJF on sizes whose density jumps at the lower end
(Uniform(0.5, 1.5) sizes, uniform(0.5) prediction errors, load 0.8) take the outer rule
(:mod:`qtheory.engine.response_distribution_prediction_outer`) and its split
(:class:`~qtheory.engine.response_distribution_prediction_outer.OuterDensityAtoms`), checked
against the independent reference ``tests/prediction_uniform_size_reference.py`` (closed forms
in :math:`E_1`, Kendall's equation by Newton at every prediction node, its own Euler sums). The
prediction-node mixing there was 3.7e-7 (PSPJF) and 3.1e-6 (SPJF) off in the rest's transform at
the Euler nodes of t = 1, 2, 4 and 1.9e-6 / 4.3e-6 off in the cdf on the same nodes."""

from __future__ import annotations

import numpy as np
import pytest
from prediction_uniform_size_reference import Reference

import qtheory as qt
from qtheory.engine import response_distribution_prediction_outer as rdo
from qtheory.engine.response_distribution import response_time_distribution as rtd

LAM = 0.8
A, N, M = 26.0, 24, 14


def _model():
    return qt.MG1(LAM, qt.Uniform(0.5, 1.5), qt.UniformPrediction(0.5))


def _nodes(t: float, every: int = 1) -> np.ndarray:
    k = np.arange(0, N + M + 1, every)
    return (A + 2j * np.pi * k) / (2.0 * (t - 0.5))


@pytest.mark.parametrize("policy,tol", [("spjf", 1e-12), ("pspjf", 1e-11)])
def test_rest_transform_against_the_reference(policy, tol):
    """The split's rest transform (shifted by c = 0.5) at every fourth Euler node of t = 2
    (|s| up to 80, Re s = 26/3: the coarse sizes' panels 0.25 wide left PSPJF's 8.8e-11 off
    there) within ``tol`` of the reference (measured 2e-14 SPJF, 6.3e-13 PSPJF)."""
    d = rtd(_model(), policy)
    sp = d._split
    assert isinstance(sp, rdo.OuterDensityAtoms)
    s = _nodes(2.0, 4)
    ref = Reference(LAM, 0.5, 1.5, 0.5, 1.5, policy)
    assert np.max(np.abs(sp.rest_lst(s) - ref.rest_lst(s))) < tol
    assert abs(sp.part_total - ref.part_total()) < 1e-14
    assert abs(sp.rest_total - (1.0 - ref.part_total())) < 1e-14


@pytest.mark.parametrize("policy", ["pspjf", "spjf"])
def test_cdf_against_the_reference_on_the_same_nodes(policy, monkeypatch):
    """The cdf at t = 0.5, 1, 2, 4 against the reference's split inverted on the same Euler
    nodes (26, 24, 14; the rest not refined): within 1e-9 (measured 2.2e-10, 3.8e-10, 2.9e-11
    PSPJF; 5.9e-12, 1.9e-11, 9.3e-12 SPJF: e^{A/2} times the transforms' rounding);
    P(T <= 0.5) = 0."""
    monkeypatch.setattr(rdo, "REST_REFINED", False)
    d = rtd(_model(), policy)
    ref = Reference(LAM, 0.5, 1.5, 0.5, 1.5, policy)
    t = np.array([0.5, 1.0, 2.0, 4.0])
    got = d.cdf(t)
    want = np.array([ref.cdf(ti, A, N, M) for ti in t])
    assert abs(got[0]) < 1e-15
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_refined_cdf_against_the_converged_reference():
    """The law kinks at sums of the sizes' ends, where the Euler sum converges like n^-2: PSPJF's
    cdf at t = 1.25, 2, 4 against the reference inverted on (26, 192, 96) (96 terms: within
    2.7e-8 of it): the rest refined (:data:`rdo.REST_REFINED`) 5.2e-7, -2.9e-7, -1.1e-7 off
    (asserted 1e-6); on the default rule alone it was 5.8e-8, -1.8e-6, -5.8e-6."""
    d = rtd(_model(), "pspjf")
    ref = Reference(LAM, 0.5, 1.5, 0.5, 1.5, "pspjf")
    t = np.array([1.25, 2.0, 4.0])
    want = np.array([ref.cdf(ti, A, 192, 96) for ti in t])
    np.testing.assert_allclose(d.cdf(t), want, rtol=0, atol=1e-6)


def test_sprpt_old_piece_against_the_reference():
    r"""SPRPT's sparse old piece :math:`X_1 = (X - (Y - v))^+` on the outer rule's threshold
    grid: :math:`E[1 - e^{-uX_1}]` at :math:`u = 8.67 + 75.4i` (an Euler node of t = 2) for the
    grid's thresholds in (0.55, 1) within 1e-10 of ``tests/sprpt_unconditional_reference.py``
    (its :math:`z` integral closed, :math:`x` by Gauss-Legendre; measured 3.6e-12 with the
    piece's head graded towards 0, 5.1e-3 with the plain head), and :math:`E[X_1]` within 1e-13."""
    from sprpt_unconditional_reference import SPRPTReference, UniformLevels

    from qtheory.engine import response_distribution_prediction as rdp

    q = _model()
    tr = rdo.OuterPredictionTransform(q, qt.SPRPT(), rdp.joint_rule(q, conditional=False))
    ref = SPRPTReference(LAM, UniformLevels(0.5, 1.5, 0.5, 1.5), rad=2.0)
    u = 8.67 + 75.4j
    t = tr.grid.t
    for j in np.flatnonzero((t > 0.55) & (t < 1.0))[::3]:
        got = np.sum(tr.W1[j] * (1.0 - np.exp(-u * tr.X1[j])))
        want, ex1 = ref.old(u, float(t[j]))
        assert abs(got - want) < 1e-10, (t[j], abs(got - want))
        assert abs(np.sum(tr.W1[j] * tr.X1[j]) - ex1) < 1e-13


def test_sprpt_transform_against_the_reference():
    r"""SPRPT's unconditional transform (outer rule, graded old piece) times :math:`e^{sc}` at
    three Euler nodes of t = 2 (:math:`|s|` 52 to 76) within 1e-11 of
    ``tests/sprpt_unconditional_reference.py`` (residence by the antiderivative of Kendall's
    roots' Legendre interpolant; measured 1.1e-14 .. 3.1e-12; the plain piece head 6.6e-10 ..
    3.5e-8, the prediction-node route 6.8e-5)."""
    from sprpt_unconditional_reference import SPRPTReference, UniformLevels

    from qtheory.engine import response_distribution_prediction as rdp

    q = _model()
    tr = rdo.OuterPredictionTransform(q, qt.SPRPT(), rdp.joint_rule(q, conditional=False))
    ref = SPRPTReference(LAM, UniformLevels(0.5, 1.5, 0.5, 1.5), rad=4.0)
    s = _nodes(2.0)[[24, 30, 36]]
    want = np.array([ref.lst(si) for si in s])
    assert np.max(np.abs((tr.lst(s) - want) * np.exp(0.5 * s))) < 1e-11
