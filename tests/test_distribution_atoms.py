"""Quantiles at and below an atom, and cdf/ppf consistency (issue 16).

Deterministic comparisons against closed forms (no random draws of the queue: the random levels
and times are test points of exact functions, drawn with ``stats_policy.rng``):

* M/D/1 (size 1, load 0.5), FCFS: :math:`T = 1 + W` with :math:`P(W = 0) = 1 - \\rho = 0.5`, so
  :math:`P(T = 1) = 0.5` and :math:`t_q = 1` for every :math:`q \\le 0.5`;
* M/M/1 FCFS waiting time: :math:`P(W = 0) = 1 - \\rho` and
  :math:`P(W > t) = \\rho e^{-(\\mu - \\lambda) t}`, so :math:`t_q = 0` for
  :math:`q \\le 1 - \\rho` and :math:`t_q = \\log(\\rho / (1 - q)) / (\\mu - \\lambda)` above.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from stats_policy import rng

import qtheory as qt
from qtheory.engine.response_distribution import response_time_distribution, waiting_time_distribution

#: the inverted cdf's absolute accuracy (Abate-Whitt Euler, docs/response_time_distribution.md)
CDF_TOL = 1e-9
#: ppf's relative accuracy
PPF_RTOL = 1e-7


@pytest.mark.parametrize("policy", ["fcfs", "sjf", "psjf", "srpt"])
def test_md1_unconditional_quantile_at_the_atom(policy):
    # one size: no new job ever runs first (SJF/PSJF/SRPT: strictly smaller sizes only), so
    # P(T = 1) = P(W = 0) = 1 - rho = 0.5 exactly
    d = response_time_distribution(qt.MG1(0.5, qt.Deterministic(1.0)), policy)
    assert d.ppf(0.5) == 1.0
    assert d.ppf(0.25) == 1.0
    assert np.all(d.ppf([0.0, 0.1, 0.5]) == 1.0)
    assert d.ppf(0.5 + 1e-6) > 1.0
    assert abs(d.cdf(1.0) - 0.5) <= CDF_TOL
    assert d.cdf(1.0 - 1e-9) == 0.0


@pytest.mark.parametrize("load", [0.5, 0.8])
def test_mm1_waiting_quantile_at_the_atom(load):
    w = waiting_time_distribution(qt.MG1(load, qt.Exponential(1.0)), "fcfs")
    assert w.ppf(1.0 - load) == 0.0  # the level equal to P(W = 0)
    assert w.ppf(0.5 * (1.0 - load)) == 0.0
    for q in (1.0 - load + 1e-3, 0.9, 0.99):
        exact = math.log(load / (1.0 - q)) / (1.0 - load)
        assert abs(w.ppf(q) / exact - 1.0) <= PPF_RTOL


def _laws():
    mm1 = qt.MG1(0.8, qt.Exponential(1.0))
    disc = qt.MG1(0.25, qt.Empirical([1.0, 3.0], weights=[0.5, 0.5]))
    return {
        "fcfs-exp": response_time_distribution(mm1, "fcfs"),
        "psjf-exp-x1": response_time_distribution(mm1, "psjf", x=1.0),
        "wait-exp": waiting_time_distribution(mm1, "fcfs"),
        "fcfs-disc-x3": response_time_distribution(disc, "fcfs", x=3.0),
        "wait-disc": waiting_time_distribution(disc, "sjf", x=1.0),
        "md1": response_time_distribution(qt.MG1(0.5, qt.Deterministic(1.0)), "fcfs"),
    }


@pytest.mark.parametrize("name", list(_laws()))
def test_cdf_ppf_consistency(name):
    d = _laws()[name]
    g = rng(16)
    lo = d.shift
    q = np.concatenate([g.uniform(0.0, 0.999, 12), [d.atom0]])
    t = np.concatenate([lo + g.exponential(d.mean(), 12), [lo]])
    tq = d.ppf(q)
    # cdf(ppf(q)) >= q and ppf(cdf(t)) <= t, up to the inversion's accuracy
    assert np.all(d.cdf(tq) >= q - CDF_TOL), (q, tq, d.cdf(tq))
    back = d.ppf(np.minimum(d.cdf(t), 1.0 - 1e-12))
    assert np.all(back <= t * (1 + PPF_RTOL) + 1e-12), (t, back)
    # at the atom itself: exactly its position
    assert d.ppf(d.atom0) == lo
