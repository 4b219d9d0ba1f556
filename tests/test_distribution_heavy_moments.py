"""Moments of the response-time distributions on heavy-tailed sizes (issue 16).

Truth: the engine's mean response times (checked against tests/reference_soap.py and mpmath
elsewhere), the lower bound T >= X (E[T^2] = inf where E[X^2] = inf), P-K's old-work moment
E[min(X1, X2)^3] for the waiting part of SOAP's second moment, and for a finite second moment
a separate quadrature of E[T^2 | x] f(x) over x (scipy.integrate.quad on the class laws, whose
moments come from the size law's exact partial moments, not from the unconditional rule).
"""

from __future__ import annotations

import math

import pytest
from scipy import integrate

import qtheory as qt
from qtheory.engine.response_distribution import min_pair_moment_finite

LOAD = 0.8


def _model(size):
    return qt.MG1(LOAD / size.mean, size, qt.ExponentialPrediction())


P25, P15, BP = qt.Pareto(2.5), qt.Pareto(1.5), qt.BoundedPareto(1.1, 1.0, 1e6)


@pytest.mark.parametrize("size", [P25, P15, BP], ids=repr)
@pytest.mark.parametrize("policy", ["srpt", "psjf", "las", "pspjf"])
def test_means_equal_the_engine(size, policy):
    # SRPT: 1.6e-7 (Pareto(2.5)) before the residence below the least size was fixed;
    # PSPJF on Pareto(1.5): 3e-5 (the classes above the 1 - 1e-14 quantile of Y, weights < 1e-22)
    q = _model(size)
    assert q.response_time_distribution(policy).mean() == pytest.approx(
        float(q.mean_response_time(policy)), rel=1e-9)


def test_spjf_mean_on_a_finite_variance_pareto():
    # the piece E[X^2 1{Y > y}]: one tail node beyond the 1 - 1e-15 quantile had 3.3e-4 of E[T]
    q = _model(P25)
    assert q.response_time_distribution("spjf").mean() == pytest.approx(
        float(q.mean_response_time("spjf")), rel=1e-9)


@pytest.mark.slow
def test_sprpt_mean_on_a_finite_variance_pareto():
    q = _model(P25)
    assert q.response_time_distribution("sprpt").mean() == pytest.approx(
        float(q.mean_response_time("sprpt")), rel=1e-9)


@pytest.mark.parametrize("x", [1.0, 1.5, 3.0, 100.0])
def test_srpt_class_means(x):
    # a class's residence below the least size (E[T | x] was 6.3e-7 too large)
    q = _model(P25)
    assert q.response_time_distribution("srpt", x=x).mean() == pytest.approx(
        float(q.response_time("srpt", x)), rel=1e-12)


@pytest.mark.parametrize("policy", ["srpt", "psjf", "las", "pspjf"])
def test_infinite_variance_where_the_size_variance_is_infinite(policy):
    # T >= X: E[T^2] >= E[X^2] = inf on Pareto(1.5) (the class sums gave 4.8e6 and 1.4e7)
    d = _model(P15).response_time_distribution(policy)
    assert math.isfinite(d.mean())
    assert d.var() == math.inf and d.moment(2) == math.inf and d.moment(3) == math.inf


@pytest.mark.parametrize("policy", ["spjf", "sjf", "fcfs"])
def test_infinite_variance_from_the_third_size_moment(policy):
    # Pareto(2.5): E[X^3] = inf in the old work's second moment (SPJF gave 1.5e4)
    d = _model(P25).response_time_distribution(policy)
    assert math.isfinite(d.mean()) and d.var() == math.inf


@pytest.mark.parametrize("policy", ["srpt", "psjf"])
def test_waiting_time_variance(policy):
    # E[W^2] ~ E[min(X1, X2)^3]: finite on Pareto(1.6) (3 < 3.2), infinite on Pareto(1.45)
    w = qt.MG1(0.5 / qt.Pareto(1.6).mean, qt.Pareto(1.6)).waiting_time_distribution(policy)
    assert math.isfinite(w.var())
    w = qt.MG1(0.5 / qt.Pareto(1.45).mean, qt.Pareto(1.45)).waiting_time_distribution(policy)
    assert w.var() == math.inf and math.isfinite(w.mean())


def test_min_pair_moment_finite():
    assert min_pair_moment_finite(qt.Pareto(1.6), 3) and not min_pair_moment_finite(qt.Pareto(1.4), 3)
    assert min_pair_moment_finite(qt.Exponential(1.0), 7)


@pytest.mark.parametrize("policy", ["srpt", "psjf"])
def test_second_moment_against_class_quadrature(policy):
    # Pareto(2.5): E[T^2] = int_1^inf E[T^2 | x] f(x) dx, the class laws on their own rules
    q = _model(P25)
    d = q.response_time_distribution(policy)

    def g(u):  # x = u^(-1/alpha): f(x) dx = du on (0, 1]
        x = u ** (-1.0 / 2.5)
        return q.response_time_distribution(policy, x=x).moment(2)

    ref, err = integrate.quad(g, 0.0, 1.0, limit=200, epsabs=0.0, epsrel=1e-10,
                              points=[1e-6, 1e-3, 0.1])
    assert d.moment(2) == pytest.approx(ref, rel=1e-7)


@pytest.mark.slow
def test_gittins_variance_infinite_where_the_size_variance_is():
    # the blind route's class sum gave 9.6e18 on Pareto(1.5) (T >= X: inf)
    d = qt.MG1(LOAD / P15.mean, P15).response_time_distribution("gittins")
    assert d.var() == math.inf
