"""The discretised generic route's error estimate (``qtheory.engine.generic.evaluate_discretised``:
the difference of the evaluations at 48 and 96 quantile cells) is an upper bound of the true error
for size-based ranks on continuous laws, against their closed forms. The Richardson correction
alone (a third of it, the estimate before) was below the true error for PSJF, whose
discretisation error is of order 1 (LogNormal(1) at load 0.9: 8.5e-3 off against 3.1e-3)."""

from __future__ import annotations

import pytest

import qtheory as qt
from qtheory.engine import generic

SIZES = [qt.Exponential(1.0), qt.LogNormal(1.0), qt.BoundedPareto(1.5, 1.0, 100.0)]


@pytest.mark.parametrize("size", SIZES, ids=repr)
@pytest.mark.parametrize("name", ["sjf", "psjf", "srpt"])
def test_estimate_bounds_the_error_of_size_ranks(size, name):
    q = qt.MG1(0.9 / size.mean, size)
    r = generic.evaluate_discretised(q, qt.get_policy(name), [q.arrival_rate])
    closed = float(q.mean_response_time(name))
    assert not r.exact and "above the true error in the 72 measured cases" in r.method
    assert abs(r.mean[0] - closed) <= r.error[0], (r.mean[0], closed, r.error[0])


def test_prediction_ranks_are_labelled_not_a_bound(monkeypatch):
    # PSPJF on a multiplicative prediction law takes the factor route (on the law itself) by
    # default: switched off here, so that method="generic" takes the discretised route
    monkeypatch.setattr(generic, "FACTOR_ROUTE", False)
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    r = generic.evaluate_discretised(q, qt.get_policy("pspjf"), [q.arrival_rate])
    assert "not a bound" in r.method
    m = q.mean_response_time("pspjf", method="generic")
    assert m.kind == "approx" and "not a bound" in m.method


def test_blind_ranks_are_labelled_not_a_bound():
    """Gittins on a scipy log-normal through the discretisation: 0.64% off the law-itself
    value of the same law (qt.LogNormal), with an estimate of 0.37%."""
    sc = qt.from_scipy(__import__("scipy.stats", fromlist=["lognorm"]).lognorm(1.0))
    q = qt.MG1(0.8 / sc.mean, sc)
    r = q.mean_response_time(qt.Gittins())
    exact = float(qt.MG1(0.8 / sc.mean, qt.LogNormal(1.0, sc.mean)).mean_response_time("gittins"))
    assert "not a bound" in r.method
    assert abs(float(r) / exact - 1) > r.error  # relative: the reason for the label
