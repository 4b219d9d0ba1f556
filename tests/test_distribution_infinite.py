"""Infinite in, inf out, for the response-time distributions: on Pareto(1.5) sizes (E[X^2] = inf)
the mean of every law whose closed-form mean is infinite is ``inf`` (the size rule's truncation
made SPJF's and SPRPT's class means 144614.8 and 10189.4), and the finite ones equal the closed
forms."""

from __future__ import annotations

import math

import pytest

import qtheory as qt

SIZE = qt.Pareto(1.5, 1.0)


@pytest.mark.parametrize("pred", [qt.ExponentialPrediction(), qt.UniformPrediction(0.5)], ids=repr)
@pytest.mark.parametrize("name", ["spjf", "sprpt", "pspjf", "trail-0.5"])
def test_prediction_class_means_follow_the_closed_form(name, pred):
    q = qt.MG1(0.5 / SIZE.mean, SIZE, pred)
    closed = float(q.response_time(name, 2.0, 1.5))
    d = q.response_time_distribution(name, x=2.0, y=1.5)
    w = q.waiting_time_distribution(name, x=2.0, y=1.5)
    if math.isinf(closed):
        assert d.mean() == math.inf and w.mean() == math.inf and d.moment(2) == math.inf
    else:
        assert d.mean() == pytest.approx(closed, rel=1e-9)
    assert math.isfinite(float(d.ppf(0.99)))  # percentiles stay finite


@pytest.mark.parametrize("name", ["fcfs", "sjf", "psjf", "srpt", "las"])
def test_size_based_means_follow_the_closed_form(name):
    q = qt.MG1(0.5 / SIZE.mean, SIZE)
    closed = float(q.response_time(name, 2.0))
    m = q.response_time_distribution(name, x=2.0).mean()
    if math.isinf(closed):
        assert m == math.inf
    else:
        assert m == pytest.approx(closed, rel=1e-6)  # SRPT class: 1e-16 (9e-8 before the fix below x_min)
