"""The robustness adversary's evaluations (qtheory.engine.soap_pairs, qtheory.measures.robustness)
and the engine's routing entry (qtheory.engine.routing).

* :func:`mean_on_pairs` against independent closed forms: SRPT-Bounce with perfect predictions
  schedules as SRPT (rank |x - a| = the remaining size), SPRPT on noisy pairs has its own
  closed form (Scully et al.'s SOAP formula in the engine's sums of EmpiricalJoint).
* The adversary's evaluator gives the numbers of qt.MG1 bit for bit (deterministic and
  randomised maps, a law with mean 1 and laws the model rescales), and ``robustness`` finds the
  same map and ratio with and without it.
* :func:`qtheory.engine.routing.means` reads only the size law for a blind policy (the model's
  rate and prediction law do not enter), and Gittins on Exp(1) is FCFS (closed form 1/(1-rho)).
"""

from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import routing
from qtheory.engine.soap_pairs import mean_on_pairs
from qtheory.laws.predictions import EmpiricalPairs
from qtheory.measures import robustness as R

X = np.array([0.2, 0.5, 1.0, 1.7, 4.0, 9.0])  # sizes of the closed-form checks
P = np.array([0.3, 0.25, 0.2, 0.12, 0.1, 0.03])


def _unit(x, p):
    """Sizes scaled to mean 1 (so that qt.MG1 evaluates them in their own unit)."""
    return x / float(np.sum(p * x)), p


def test_perfect_predictions_are_srpt():
    x, p = _unit(X, P)
    law = qt.Empirical(x, weights=p)
    for rho in (0.5, 0.9):
        lam = rho / law.mean
        got = mean_on_pairs(qt.SRPTBounce(), x, x, p / p.sum(), [lam])[0]
        srpt = qt.MG1(lam, law).mean_response_time("srpt")
        assert got == pytest.approx(float(srpt), rel=1e-13, abs=0)


def test_sprpt_on_pairs_against_its_closed_form():
    x, p = _unit(X, P)
    y = x * np.array([1.8, 0.6, 1.3, 0.5, 2.0, 0.9])
    y[3] = y[1]  # two pairs share a prediction: one class of two sizes
    pairs = EmpiricalPairs(x, y, p)
    for rho in (0.5, 0.9):
        lam = rho / float(np.sum(p * x))
        got = mean_on_pairs(qt.SPRPT(), x, y, pairs.w, [lam])[0]
        closed = qt.MG1(lam, prediction=pairs).mean_response_time("sprpt")
        assert closed.kind == "exact" and "closed form" in closed.method
        assert got == pytest.approx(float(closed), rel=1e-13, abs=0)


@pytest.mark.parametrize("scale", [1.0, 3.7])
def test_map_means_are_the_models_bit_for_bit(scale):
    """The deterministic and randomised maps of the search, SRPT-Bounce and a user rank, on a
    law of mean 1 and of mean 3.7 (which the model rescales), with predictions shared by two
    sizes (x[0] * 2 == x[1] * 1 exactly) and by the two parts of a randomised atom."""
    x = np.array([0.25, 0.5, 1.0, 2.0, 4.0]) * scale  # dyadic: mean 1 at scale 1
    p = np.array([0.4, 0.2, 0.2, 0.1, 0.1])
    lam = 0.8 / float(np.sum(p * x))
    g = np.array([2.0, 0.5, 1.0, 0.5, 2.0])
    tie = np.array([2.0, 1.0, 1.0, 0.5, 1.0])
    maps = [(g, None), (tie, None),
            (g, (np.where(g > 1, 0.5, 2.0), np.array([0.0, 0.5, 0.0, 0.25, 0.75]))),
            (g, (g.copy(), np.array([0.5, 0.0, 0.0, 0.0, 0.25])))]
    rank = qt.Rank(lambda y, a: np.abs(y - 1.5 * a), descriptor="prediction")
    for pol in (qt.SRPTBounce(), rank):
        means = R._MapMeans(pol, x, p, lam)
        assert means.fast
        if scale != 1.0:
            assert means.unit is not None  # the rescaled unit is taken
        for f, mix in maps:
            model = float(R._pairs_mean(pol, x, p, lam, f, mix))
            assert means(f, mix) == model, (pol, scale, f, mix)


def test_robustness_finds_the_same_map_with_and_without_the_pairs_route(monkeypatch):
    law = qt.Weibull(0.5, mean=2.0)  # the model rescales it
    args = ("srpt-bounce", law, 0.8, 2.0, 0.5)
    kw = {"n": 10, "max_evals": 90}
    new = R.robustness(*args, **kw)
    monkeypatch.setattr(R, "PAIRS_ROUTE", False)
    old = R.robustness(*args, **kw)
    assert new.ratio == old.ratio and new.evaluations == old.evaluations
    assert np.array_equal(new.factors, old.factors)
    assert [h[2] for h in new.history] == [float(h[2]) for h in old.history]


def test_routing_reads_only_the_size_law_for_a_blind_policy():
    size = qt.Empirical([1.0, 2.0, 5.0], weights=[3, 2, 1])
    lams = np.array([0.3, 0.6]) / size.mean
    plain = routing.means(qt.MG1(0.5 / size.mean, size), qt.Gittins(), lams)
    with_bit = routing.means(qt.MG1(0.1 / size.mean, size, qt.OneBit(2.0)), qt.Gittins(), lams)
    assert np.array_equal(plain[0], with_bit[0]) and np.array_equal(plain[1], with_bit[1])
    # Gittins on a discrete law: the generic evaluator, exact; it beats FCFS and FB here
    assert plain[2] and "generic" in plain[3]
    m = qt.MG1(0.6 / size.mean, size)
    assert plain[0][1] <= min(m.mean_response_time("fcfs"), m.mean_response_time("fb"))
    # Gittins on Exp(1) is FCFS: E[T] = 1 / (1 - rho)
    exp = qt.Exponential(1.0)
    t, err, exact, how = routing.means(qt.MG1(0.5, exp, qt.OneBit(1.0)), qt.Gittins(), np.array([0.5, 0.9]))
    assert exact and "FCFS" in how
    assert t == pytest.approx(1 / (1 - np.array([0.5, 0.9])), rel=1e-14)
