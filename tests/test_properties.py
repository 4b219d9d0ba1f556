"""Property-based checks (hypothesis) of the SOAP engine on random discrete laws, where the
closed forms and the generic evaluator must agree exactly, and on continuous laws."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stats_policy import examples

import qtheory as qt
from qtheory import generic

SETTINGS = settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pair_models(draw):
    n = draw(st.integers(3, 40))
    seed = draw(st.integers(0, 2**31 - 1))
    load = draw(st.floats(0.05, 0.97))
    sigma = draw(st.floats(0.0, 2.0))
    rng = np.random.default_rng(seed)
    x = np.round(rng.lognormal(0, 1, n), 3) + 0.001
    y = np.round(x * rng.lognormal(0, sigma, n), 3)
    pairs = qt.EmpiricalPairs(x, y)
    return qt.MG1(load / pairs.size_law().mean, prediction=pairs)


@SETTINGS
@given(pair_models())
def test_generic_route_equals_closed_forms_on_random_pairs(q):
    for name in ("spjf", "pspjf", "sprpt"):
        g = generic.evaluate(q, qt.get_policy(name), [q.arrival_rate])
        assert g.mean[0] == pytest.approx(q.mean_response_time(name), rel=1e-9)


@SETTINGS
@given(pair_models())
def test_conditional_gittins_is_best_given_predictions(q):
    cg = q.mean_response_time("conditionalgittins")
    for name in ("spjf", "pspjf", "sprpt", "srpt-bounce", "fcfs"):
        assert cg <= q.mean_response_time(name) * (1 + 1e-9)


@SETTINGS
@given(pair_models())
def test_srpt_is_optimal_and_gittins_beats_blind(q):
    srpt = q.mean_response_time("srpt")
    for name in ("fcfs", "ps", "las", "sjf", "psjf", "sprpt", "conditionalgittins"):
        assert srpt <= q.mean_response_time(name) * (1 + 1e-9)
    g = q.mean_response_time("gittins")
    for name in ("fcfs", "ps", "las"):
        assert g <= q.mean_response_time(name) * (1 + 1e-9)


@SETTINGS
@given(st.sampled_from([qt.Exponential(1.0), qt.Weibull(0.5, 1.0), qt.Erlang(3, 1.0),
                        qt.LogNormal(1.0, 1.0)]),
       st.sampled_from([qt.ExponentialPrediction(), qt.LogNormalPrediction(0.7),
                        qt.UniformPrediction(0.5)]))
def test_sweep_is_monotone_in_load(size, pred):
    q = qt.MG1(0.5 / size.mean, size, pred)
    loads = np.linspace(0.05, 0.99, 30)
    for name in ("spjf", "pspjf", "sprpt", "srpt", "psjf", "las"):
        s = q.sweep(name, loads)
        assert np.all(np.isfinite(s)) and np.all(np.diff(s) > 0)
