"""PSPJF's and SPJF's class laws on factor laws with kinks (uniform and bounded-multiplicative
predictions, issue 16): Kendall's row :math:`X1\\{Y < y\\}` (and the old work's) on the size rule
of ``LEVEL_SIZE_WIDTH`` (``PredictionTransform._kinked_class``), as SPRPT's levels and the
falling rank route's. PSPJF's residence :math:`e^{-x(\\eta_{<y}(s) - s)}` multiplies the row's
error by :math:`x`: on a size rule 0.25 wide in log x the rows alias :math:`e^{-\\eta x}` and the
class cdf at :math:`x + 0.2` was 2e-8 to 3e-7 off (Exp(1) sizes, loads 0.5 to 0.95; the small
class (0.05, 0.1): 2e-10).

Truth: ``tests/sprpt_class_uniform_reference.py`` with ``policy="pspjf"`` / ``"spjf"`` (Kendall's
equation in closed form with exponential integrals at every point, no size rule; written
without the library), its transform inverted with the engine's Euler rule (26, 24, 14) (the
cdf's own truncation, the same for both, is measured apart: up to 1e-6 at :math:`x + 0.6` and
:math:`x + 1.6` on these laws, whose densities kink at :math:`y/z_h`, :math:`y/z_l`)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import sprpt_class_uniform_reference as REF

import qtheory as qt
from qtheory.engine import laplace_inversion as li
from qtheory.engine.response_distribution import response_time_distribution as rtd

EXP = qt.Exponential(1.0)
#: the factor laws: (prediction law, z_l, z_h)
PREDS = {"uniform": (qt.UniformPrediction(0.5), 0.5, 1.5),
         "bounded": (qt.BoundedMultiplicative(0.5, 2.0), 0.5, 2.0)}
POLICIES = {"pspjf": qt.PSPJF(), "spjf": qt.SPJF()}


@functools.cache
def _model(load: float, pred: str) -> qt.MG1:
    return qt.MG1(load, EXP, PREDS[pred][0])


def _euler_cdf(lst, atom: float, u: float) -> float:
    r""":math:`P(T - x \le u)` from the transform ``lst`` of :math:`T - x` by the engine's Euler
    nodes (:func:`~qtheory.engine.laplace_inversion.euler_nodes`)."""
    alpha, omega = li.euler_nodes()
    s = alpha / u
    return float(np.sum(omega * ((lst(s) - atom) / s).real) / u) + atom


def test_pspjf_class_cdf_near_the_atom_against_reference():
    """Class (0.4, 1.1) at load 0.8, uniform(0.5) predictions: the cdf at x + 0.2 within 1e-9
    of the reference's transform inverted on the same Euler nodes (that rule is within 1.3e-10
    of (26, 160, 40) there). Measured 3e-12; 9e-8 with the rows on a size rule 0.25 wide."""
    x, y = 0.4, 1.1
    d = rtd(_model(0.8, "uniform"), qt.PSPJF(), x=x, y=y)
    ref = REF.Reference(0.8, 0.5, 1.5, x, y, policy="pspjf")
    assert abs(float(d.cdf(x + 0.2)) - _euler_cdf(ref.lst, ref.atom(), 0.2)) <= 1e-9


def _check_class(policy: str, pred: str, load: float, xy: tuple[float, float]) -> None:
    r"""The class transform of :math:`T - x` at the Euler nodes of :math:`t - x = 0.2` (where
    :math:`|s|` reaches 600) within 1e-12 of the reference, :math:`P(T = x)` within 1e-14, the
    mean within 1e-12 (relative) of the mean engine's :math:`E[T \mid x, y] - x` and mean and
    second moment within 1e-10 of the reference's Cauchy integral (its circle of radius 0.05
    inside the busy period's branch point)."""
    x, y = xy
    q = _model(load, pred)
    d = rtd(q, POLICIES[policy], x=x, y=y)
    _, zl, zh = PREDS[pred]
    ref = REF.Reference(load, zl, zh, x, y, policy=policy)
    s = li.euler_nodes()[0] / 0.2
    assert np.max(np.abs(d._t.lst(s) - ref.lst(s))) <= 1e-12
    assert abs(d.atom0 - ref.atom()) <= 1e-14
    m1, m2 = d._t.moments()
    assert m1 == pytest.approx(float(q.response_time(policy, x, y)) - x, rel=1e-12)
    r1, r2 = ref.moments(r=0.05)
    assert m1 == pytest.approx(r1, rel=1e-10) and m2 == pytest.approx(r2, rel=1e-10)


@pytest.mark.parametrize("pred,load,xy", [
    pytest.param("bounded", 0.95, (3.0, 1.1), id="bounded-0.95-x3-y1.1"),  # x >= y / z_l
    pytest.param("uniform", 0.5, (1.5, 0.6), id="uniform-0.5-x1.5-y0.6"),
])
def test_pspjf_class_transform_and_moments_against_reference(pred, load, xy):
    """PSPJF's class (:func:`_check_class`): measured 1e-13 on the contour (the rows on a 0.25
    size rule: 5e-10, 7e-10), the mean 1e-15 from the mean engine's, the moments 3e-15 and 1e-13
    from the reference's."""
    _check_class("pspjf", pred, load, xy)


def test_spjf_class_transform_and_moments_against_reference():
    """SPJF's class (1.0, 1.1) (:math:`y/z_h < x < y/z_l`) on bounded-multiplicative(0.5, 2)
    predictions at load 0.8 (:func:`_check_class`; no residence beyond :math:`x`, so the rows'
    error is not multiplied by it): measured 2e-16 on the contour, the mean 3e-16 from the mean
    engine's."""
    _check_class("spjf", "bounded", 0.8, (1.0, 1.1))
