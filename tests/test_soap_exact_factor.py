"""The generic SOAP route on continuous multiplicative prediction laws evaluated on the law
itself (issue 15): :mod:`qtheory.engine.soap_factor` for the ranks y - a (SPRPT's shape) and
|y - a| (SRPT-Bounce).

References: SPRPT's closed form (the same machinery with the remaining rank: N, S2, the
residence and the outer rule all enter), the simulator for SRPT-Bounce (mean and slowdown), and
the discretised route converging towards the value.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from stats_policy import assert_consistent, estimate

import qtheory as qt
from qtheory.engine import generic, soap_factor

FULL = os.environ.get("QTHEORY_FULL") == "1"
#: one size law and prediction law for the Exp/Exp cases: the route's tables are cached on the law
EXP, EXP_PRED = qt.Exponential(1.0), qt.ExponentialPrediction()
CASES = [
    (EXP, EXP_PRED, (0.8, 0.95)),
    (qt.LogNormal(1.0), qt.LogNormalPrediction(0.5), (0.8,)),
    (qt.Exponential(1.0), qt.UniformPrediction(0.5), (0.5, 0.8)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]!r}-{c[1]!r}")
def test_remaining_rank_equals_sprpt_closed_form(case):
    """SPRPT through the factor route against its closed form, to 1e-9 relative (measured:
    5e-14 at worst on Exp/Exp and LogNormal/LogNormal, 8e-12 with the uniform factor, whose
    closed form is itself a quadrature); the error estimate covers the error where the
    closed form is exact to 1e-13 (the smooth factor laws)."""
    size, pred, loads = case
    for load in loads:
        q = qt.MG1(load / size.mean, size, prediction=pred)
        assert soap_factor.supported(q, qt.SPRPT())
        v, err = soap_factor.evaluate(q, qt.SPRPT(), [q.arrival_rate])
        ref = q.mean_response_time("sprpt")
        assert abs(v[0] - ref) <= 1e-9 * ref, (load, v[0], ref)
        if not isinstance(pred, qt.UniformPrediction):
            assert abs(v[0] - ref) <= err[0] + 1e-13 * ref, (load, v[0] - ref, err[0])


def test_srpt_bounce_takes_the_exact_route_and_matches_the_simulator():
    """SRPT-Bounce on Exp sizes with exponential predictions at load 0.8: the model's value is
    the factor route's (labelled with it), the simulator agrees on E[T] and E[T/X], and the
    discretised route (48 cells, Richardson) is within 1e-3 of it (measured 2.8e-4 off)."""
    q = qt.MG1(0.8, EXP, prediction=EXP_PRED)
    pol = qt.SRPTBounce()
    r = generic.evaluate(q, pol, [0.8])
    assert "multiplicative prediction law" in r.method and not r.exact
    assert r.error[0] < 1e-9 * r.mean[0]
    v = q.mean_response_time(pol)
    assert float(v) == pytest.approx(r.mean[0], rel=1e-12)
    d = generic.evaluate_discretised(q, pol, [0.8], 48)
    assert abs(d.mean[0] / r.mean[0] - 1) < 1e-3
    sim = qt.simulate(q, "srpt-bounce", jobs=4_000_000 if FULL else 1_000_000, seed=21,
                      replications=16)
    assert_consistent(r.mean[0], sim, "SRPT-Bounce, Exp/Exp at 0.8")
    sd = generic.mean_slowdown(q, pol)
    assert_consistent(sd, estimate(sim, "slowdown"), "SRPT-Bounce slowdown, Exp/Exp at 0.8")


def test_slowdown_infinite_where_late_jobs_hold_level_zero():
    """SPRPT's slowdown on Exp sizes with exponential predictions is infinite (its closed form
    says so: jobs past their prediction keep negative ranks, so a job of size near 0 still
    waits), SRPT-Bounce's is finite."""
    q = qt.MG1(0.8, EXP, prediction=EXP_PRED)
    assert generic.mean_slowdown(q, qt.SPRPT()) == np.inf
    assert np.isfinite(generic.mean_slowdown(q, qt.SRPTBounce()))


def test_conditional_means_average_to_the_mean():
    """E[T | x, y] from the route, averaged over the outer rule, is the mean (the same
    numbers)."""
    q = qt.MG1(0.8, EXP, prediction=EXP_PRED)
    pol = qt.SRPTBounce()
    t = soap_factor.tables(q, pol, 0.35)
    c = generic.response_time(q, pol, t.X, t.Y)
    assert np.sum(t.W * c) == pytest.approx(generic.evaluate(q, pol, [0.8]).mean[0], rel=1e-12)


def test_infinite_second_moment_left_to_the_discretised_route():
    """Pareto(1.5) sizes (E[X^2] = inf): the factor route declines (its S2 needs E[X^2]), and
    the generic route answers by the discretisation instead of hanging on non-finite levels."""
    q = qt.MG1(0.8 / qt.Pareto(1.5).mean, qt.Pareto(1.5), prediction=EXP_PRED)
    assert not soap_factor.supported(q, qt.SRPTBounce())
    bp = qt.BoundedPareto(1.5, 1.0, 100.0)
    assert soap_factor.supported(qt.MG1(0.5 / bp.mean, bp, prediction=EXP_PRED),
                                 qt.SRPTBounce())
