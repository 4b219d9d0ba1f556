"""Loose ends found in session 30: M/G/k means on heavy tails (infinite where the delay moment
condition fails, bounds where they are finite), Pareto partial moments at extreme scales, the
scale invariance of the M/G/k bounds, the response-time second moments of the prediction
policies, and the route table of the generic SOAP evaluator.

Independent references: the delay moment condition of Scheller-Wolf and Vesilo (Queueing
Systems 67, 2011: the delay has a finite mean when E[S^(1 + 1/(k - floor(a)))] is finite, and
only then for Pareto sizes), evaluated here from the tail index alone; the closed-form Pareto
partial moments in mpmath at 50 digits; the bounds at xmin = 1 (a change of units must not
change E[T] / E[S]); the closed-form M/G/1 SJF second moment (infinite with E[X^3]).
"""

from __future__ import annotations

import math
import warnings

import mpmath as mp
import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import generic

# ----------------------------------------------------------------------------------------------
# 1. M/G/k means on Pareto sizes with E[S^2] = inf


def _fcfs_mean_finite(alpha: float, k: int, load: float) -> bool:
    """Scheller-Wolf and Vesilo (2011), written from the tail index alone: finite iff
    alpha > 1 + 1/(k - floor(a)), a = k * load the offered load (a not an integer)."""
    a = k * load
    assert a != math.floor(a)
    return alpha > 1.0 + 1.0 / (k - math.floor(a))


@pytest.mark.parametrize("alpha,k,load", [(1.05, 4, 0.7), (1.5, 4, 0.7), (1.9, 4, 0.7), (1.5, 4, 0.2),
                                          (1.9, 4, 0.9), (1.9, 2, 0.3)])
def test_fcfs_k_mean_infinite_exactly_where_the_delay_condition_fails(alpha, k, load):
    size = qt.Pareto(alpha=alpha, xmin=1.0)
    m = qt.MGk(k, load * k / size.mean, size)
    r = m.mean_response_time("fcfs")
    if _fcfs_mean_finite(alpha, k, load):
        # finite but unknown: bounds only (value nan), never inf
        assert r.kind == "bounds" and math.isnan(float(r))
        assert math.isfinite(r.lower)
    else:
        assert float(r) == math.inf and r.exact
        assert m.bounds("fcfs").lower == math.inf


@pytest.mark.parametrize("alpha", [1.5, 1.9])
def test_size_based_ranks_keep_finite_bounds_on_infinite_variance(alpha):
    """SRPT-k, PSJF-k, FB-k: the tagged-job upper bound is finite (E[min(X, x)^2] terms only), so
    the mean is finite: bounds only, never inf."""
    size = qt.Pareto(alpha=alpha, xmin=1.0)
    m = qt.MGk(4, 0.9 * 4 / size.mean, size)
    for p in ("srpt", "psjf", "las"):
        r = m.mean_response_time(p)
        assert r.kind == "bounds" and 0 < r.lower < r.upper < math.inf


def test_blocking_policies_infinite_above_k_minus_one_erlangs():
    """a = 3.6 > k - 1 = 3, E[S^2] = inf: a non-preemptive job, or an SPRPT job past its estimate,
    holds a server while the other three cannot keep up: E[T] = inf. Below k - 1 Erlangs (a = 2.8)
    nothing is claimed, and SPRPT with estimates never below sizes keeps its finite bound."""
    size = qt.Pareto(alpha=1.9, xmin=1.0)
    pred = qt.LogNormalPrediction(sigma=0.5)
    hi = qt.MGk(4, 0.9 * 4 / size.mean, size, prediction=pred)
    for p in ("sjf", "spjf", "sprpt"):
        assert float(hi.mean_response_time(p)) == math.inf, p
    lo = qt.MGk(4, 0.7 * 4 / size.mean, size, prediction=pred)
    for p in ("sjf", "spjf"):
        assert lo.mean_response_time(p).kind == "bounds", p
    over = qt.MGk(4, 0.9 * 4 / size.mean, size, prediction=qt.BoundedMultiplicative(beta=1.2, alpha=2.0))
    r = over.mean_response_time("sprpt")
    assert r.kind == "bounds" and r.upper < math.inf


def test_infinite_mean_rule_at_one_server_agrees_with_the_mg1_closed_forms():
    """At k = 1 (a > k - 1 = 0 always) the rule must call infinite exactly the M/G/1 means the
    closed forms make infinite on Pareto(1.9) sizes (E[S^2] = inf): FCFS, SJF, SPJF, SPRPT (the
    residual of a job in service, or of one past its estimate); PSPJF and SRPT stay finite."""
    from qtheory.models.multiserver_bounds import _infinite_mean
    from qtheory.policies import get_policy

    size = qt.Pareto(alpha=1.9, xmin=1.0)
    pred = qt.LogNormalPrediction(sigma=0.5)
    lam = 0.5 / size.mean
    mg1 = qt.MG1(lam, size, prediction=pred)
    for name in ("fcfs", "sjf", "spjf", "sprpt", "pspjf", "srpt"):
        pol = get_policy(name)
        claimed = _infinite_mean(size, pred if pol.uses_predictions else None, pol.formula_form(),
                                 pol.descriptor, lam, 1, 1.0) is not None
        assert claimed == (float(mg1.mean_response_time(name)) == math.inf), name


# ----------------------------------------------------------------------------------------------
# 2. Pareto partial moments at extreme scales; scale invariance of the M/G/k bounds


@pytest.mark.parametrize("alpha", [1.05, 2.5])
@pytest.mark.parametrize("xmin", [1e-120, 1e120])
def test_pareto_partial_and_tail_moments_at_extreme_scales(alpha, xmin):
    law = qt.Pareto(alpha=alpha, xmin=xmin)
    ratios = [1.0, 1.5, 1e20, 1e150, 3.4e300 if xmin < 1 else 1e180]
    x = np.array([xmin * r for r in ratios])
    mp.mp.dps = 50
    a, xm = mp.mpf(alpha), mp.mpf(xmin)
    for k in (0, 1, 2, 3):
        got_p = law.partial_moment(k, x)
        got_t = law.tail_moment(k, x)
        for xi, gp, gt in zip(x, got_p, got_t, strict=True):
            X = mp.mpf(xi)
            ref_p = a * xm**k * (1 - (X / xm) ** (k - a)) / (a - k)
            ref_t = a * xm**k * (X / xm) ** (k - a) / (a - k) if k < alpha else mp.inf
            for got, ref in ((gp, ref_p), (gt, ref_t)):
                if ref == mp.inf or abs(ref) > mp.mpf("1.7e308"):
                    assert got == math.inf
                elif abs(ref) < mp.mpf("1e-300"):
                    assert abs(got) < 1e-290
                else:
                    assert got == pytest.approx(float(ref), rel=1e-12, abs=0.0), (k, xi)


def test_mgk_bounds_scale_invariant_at_xmin_1e120():
    ref = {}
    for alpha in (1.05,):
        for xmin in (1.0, 1e120):           # 1e-120 is the partial-moment test's (and slow here)
            size = qt.Pareto(alpha=alpha, xmin=xmin)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                m = qt.MGk(2, 0.8 * 2 / size.mean, size)
                vals = np.array([m.lower_bound(), m.bounds("srpt").upper]) / size.mean
            assert np.all(np.isfinite(vals)), (alpha, xmin, vals)
            ref.setdefault(alpha, vals)
            np.testing.assert_allclose(vals, ref[alpha], rtol=1e-9)


# ----------------------------------------------------------------------------------------------
# 3. Response-time second moments with E[X^3] = inf, E[X^2] < inf (Pareto(2.5))


def test_second_moments_infinite_exactly_with_the_third_moment_terms():
    """SPJF's second moment holds lam E[X^3 1{Y > y}] (the residual of the job in service, its
    sparse old piece): inf, as SJF's closed form; SRPT's and PSJF's hold
    E[X^3 1{X <= x}] and E[min(X1, X2)^3] (Pareto(5)): finite. (PSPJF: finite, E[X1^3; Y1 <= Y2]
    < inf for alpha > 3/2; SPRPT: inf, the overrun X - Y of an old job; both checked on
    BoundedPareto(2.5, 1, H) as H grows in the session notes, 2-30 s each: too slow here.)"""
    size = qt.Pareto(alpha=2.5, xmin=1.0)
    m = qt.MG1(0.6 / size.mean, size, prediction=qt.LogNormalPrediction(sigma=0.5))
    assert m.response_time_distribution("spjf").var() == math.inf
    for p in ("srpt", "psjf"):
        v = m.response_time_distribution(p).var()
        assert 0 < v < math.inf, p


# ----------------------------------------------------------------------------------------------
# 4. The generic evaluator's route table


def test_a_route_that_raises_floating_point_error_hands_over(monkeypatch):
    """The first route that applies answers; one that raises ``FloatingPointError`` hands over to
    the next, down to the discretised route (stubbed here: its value is not the point)."""
    from qtheory.policies import get_policy

    model = qt.MG1(0.5, qt.Exponential(mean=1.0))
    pol = get_policy("las")
    first = generic.evaluate(model, pol, [0.5])
    assert "blind rank" in first.method
    np.testing.assert_allclose(first.mean, [2.0], rtol=1e-9)     # M/M/1 blind: 1/(1 - rho)

    def fail(*args, **kwargs):
        raise FloatingPointError("forced")

    stub = generic.GenericResult(np.array([-1.0]), np.array([0.0]), False, "stub")
    monkeypatch.setattr(generic.soap_exact, "evaluate_blind", fail)
    monkeypatch.setattr(generic, "evaluate_discretised", lambda *a, **k: stub)
    assert generic.evaluate(model, pol, [0.5]) is stub
