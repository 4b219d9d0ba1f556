"""Waiting-time laws inverted with the refinement of the Euler rule next to their kinks
(``ResponseTimeDistribution.refine``, ``laplace_inversion.invert_refined``): a waiting time
(atom ``P(W = 0)``, no shift) kinks where the old and new jobs' size densities do, as a class's
:math:`T - x` does, and is refined by default as the classes are.

Truth: FCFS's waiting time on Uniform(0, 2) sizes from the Pollaczek-Khinchine transform in
closed form, inverted here by the Euler summation with (26, 288, 144) terms (within 2e-14 of
(26, 576, 288) at the times below); PSPJF's and SPRPT's waiting time of the class y = 1.1 with
uniform(0.5) predictions from ``tests/sprpt_class_uniform_reference.py`` (its delay
:math:`\\tilde V_y(\\eta_{<y}(s))`: Kendall's equation in closed form with exponential
integrals), inverted with (26, 160, 40) (within 1.3e-12 of (26, 80, 30) there)."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import sprpt_class_uniform_reference as REF

import qtheory as qt
from qtheory.engine.response_distribution import response_time_distribution as rtd
from qtheory.engine.response_distribution import waiting_time_distribution as wtd


def _euler(F, t: float, A: float, N: int, M: int) -> float:
    """The Euler summation (Abate and Whitt, ORSA J. Computing 1995) of ``F`` at ``t``, written
    without the library's nodes."""
    k = np.arange(N + M + 1)
    s = (A + 2j * np.pi * k) / (2.0 * t)
    terms = (-1.0) ** k * F(s).real
    terms[0] /= 2.0
    partial = np.cumsum(terms)[N:]
    binom = np.array([math.comb(M, j) for j in range(M + 1)]) / 2.0 ** M
    return float(math.exp(A / 2.0) / t * np.sum(binom * partial))


def test_fcfs_waiting_time_on_uniform_sizes_refined_next_to_its_kinks():
    """FCFS at load 0.8 on Uniform(0, 2) sizes (the equilibrium density 1 - r/2 on [0, 2]: W's
    density kinks at 2, 4, ...), at t = 2.81, 3.3 and 4.4: the cdf within 3e-7 of the closed
    form's inversion (the default rule alone was 7.2e-6, 3.5e-6 and 3.4e-6 off; refined:
    1.2e-7, 9.2e-8, 5.7e-9), and the closed form's cdf at the p99 within 1e-9 of 0.99
    (1.8e-11; the default rule's p99 was 4.7e-9 off, 1.1e-7 relative in t)."""
    lam = 0.8

    def sf_lst(s):
        b = -np.expm1(-2.0 * s) / (2.0 * s)
        return (1.0 - (1.0 - lam) * s / (s - lam * (1.0 - b))) / s

    d = wtd(qt.MG1(lam, qt.Uniform(0.0, 2.0)), "fcfs")
    assert d.refine
    t = np.array([2.81, 3.3, 4.4])
    truth = np.array([1.0 - _euler(sf_lst, v, 26.0, 288, 144) for v in t])
    assert np.max(np.abs(d.cdf(t) - truth)) <= 3e-7
    assert abs(1.0 - _euler(sf_lst, float(d.ppf(0.99)), 26.0, 288, 144) - 0.99) <= 1e-9


@functools.cache
def _prediction_model():
    return qt.MG1(0.8, qt.Exponential(1.0), qt.UniformPrediction(0.5))


@pytest.mark.parametrize("policy, times", [("pspjf", (2.0, 4.11)), ("sprpt", (5.36,))])
def test_prediction_class_waiting_time_refined_against_reference(policy, times):
    """PSPJF's and SPRPT's waiting time of the class y = 1.1 at load 0.8 with uniform(0.5)
    predictions (the new jobs' sizes below y / 0.5 kink at y / 1.5 and y / 0.5): the cdf within
    1e-9 of the reference at t = 2 and 4.11 (PSPJF), 5.36 (SPRPT), where the default rule alone
    was 1.2e-8, 1.7e-8 and 1.6e-8 off (refined: 3.8e-11, 1.8e-11, 2.3e-12); the reference's
    cdf at the p99 within 2e-9 of 0.99 (4.7e-10 and 1.2e-10; the default rule's p99: 1.2e-8
    and 1.7e-8)."""
    y = 1.1
    ref = REF.Reference(0.8, 0.5, 1.5, 0.4, y, policy=policy)
    rho0 = -ref.lam * ref.M(np.zeros(1), np.array([y]))[1][0]
    a0 = 1.0 - rho0 - ref.lam * ref.old_piece(None)  # P(W = 0)
    d = wtd(_prediction_model(), policy, x=0.4, y=y)
    assert d.refine and abs(d.atom0 - a0) <= 1e-14
    t = np.array(times)
    def ref_cdf(v):
        return a0 + _euler(lambda s: (ref.delay(s) - a0) / s, v, 26.0, 160, 40)

    truth = np.array([ref_cdf(v) for v in t])
    assert np.max(np.abs(d.cdf(t) - truth)) <= 1e-9
    assert abs(ref_cdf(float(d.ppf(0.99))) - 0.99) <= 2e-9


@pytest.mark.parametrize("policy, waiting", [("psjf", False), ("srpt", True)])
def test_split_class_laws_refined_from_near_below(policy, waiting):
    """PSJF's class law (T - x) and SRPT's class waiting time, x = 1, at load 0.8 on
    Uniform(0, 2) sizes: from ``near_below`` (at most 8x) on they are inverted whole, refined there
    (``ResponseTimeDistribution._fine_whole``): their sf at 8.2x to 16x within 2e-9 of the same
    transform inverted here with (26, 96, 48) (the default rule alone was up to 2.9e-8 and
    3.0e-8 off; refined 4.7e-10 and 2.9e-10)."""
    m = qt.MG1(0.8, qt.Uniform(0.0, 2.0))
    d = (wtd if waiting else rtd)(m, policy, x=1.0)
    u = np.linspace(8.2, 16.0, 8)
    # the times are on the whole law's path (near_below: at most 8x; 4.5x here, where the
    # split's terms grow, qtheory.engine._class_kinks._growth_rate)
    assert d._split.near_below < u[0]
    truth = np.array([_euler(lambda s: (1.0 - d._t.lst(s)) / s, v, 26.0, 96, 48) for v in u])
    assert np.max(np.abs(d.sf(u + d.shift) - truth)) <= 2e-9
