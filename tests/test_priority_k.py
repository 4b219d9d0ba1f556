"""Preemptive priority classes on k servers by the chain with busy-period transitions
(qtheory.models.priority_k) and its use for PSPJF-k in MGk (priority_classes, priority_approximation,
mean_response_time).

Deterministic checks (formula against formula) hold to 1e-9 relative: the chains are solved to
machine precision (logarithmic reduction to 1e-14, a direct sparse solve). The two simulator
checks follow tests/stats_policy.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stats_policy import assert_consistent, halfwidth

import qtheory as qt
from qtheory.laws.phase_type import fit_moments
from qtheory.models._erlang import mmk_priority
from qtheory.models.mphk import _configs, mphk_fcfs
from qtheory.models.mphk_priority import busy_period_moments, fit_two_phase
from qtheory.models.multiserver import _pooled_priority
from qtheory.models.multiserver_bounds import _band
from qtheory.models.priority_k import busy_period_transitions, feasible, priority_k

REL = 1e-9
REPS = 16


def _three_class_pairs() -> qt.EmpiricalPairs:
    # three prediction classes whose size laws have C^2 >= 1/2 (the two-phase fits match two moments)
    x = np.array([0.2, 1.0, 3.0, 0.5, 2.0, 6.0, 1.0, 4.0, 12.0])
    y = np.repeat([1.0, 2.0, 3.0], 3)
    w = np.array([0.2, 0.1, 0.05, 0.15, 0.1, 0.05, 0.15, 0.1, 0.1])
    return qt.EmpiricalPairs(x, y, w / w.sum())


@pytest.mark.parametrize("load", [0.5, 0.9])
def test_one_server_is_the_mg1_priority_queue(load):
    pairs = _three_class_pairs()
    mean = float(np.sum(pairs.w * pairs.x))
    lam = load / mean
    ys, p, mom = qt.MGk(1, lam, None, pairs).priority_classes()
    assert np.all(mom[:, 1] / mom[:, 0] ** 2 - 1 >= 0.5)
    got = priority_k(1, lam * p, mom)
    # the SOAP engine's exact PSPJF on the same law (M/G/1 preemptive priority: Kleinrock)
    want = float(qt.MG1(lam, prediction=pairs).mean_response_time("pspjf"))
    assert got["mean_response_time"] == pytest.approx(want, rel=REL)
    assert got["two_moments"]
    assert _pooled_priority(lam * p, mom, 1.0) == pytest.approx(want, rel=REL)


@pytest.mark.parametrize("k", [2, 4])
def test_one_class_is_mphk_fcfs(k):
    m = (1.0, 5.0, 60.0)
    v = priority_k(k, [0.8 * k], [m])["mean_response_time"]
    assert v == pytest.approx(mphk_fcfs(k, 0.8 * k, fit_moments(*m))["mean_response_time"], rel=REL)


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("split", [(1, 2), (3, 1, 2, 1)])
def test_one_exponential_rate_is_mmk_priority(k, split):
    # E[N_i] = E[N^{M/M/k}](Lambda_i) - E[N^{M/M/k}](Lambda_{i-1}): exact, by the one-rate M/M/k
    lams = 0.9 * k * np.asarray(split, float) / sum(split)
    got = priority_k(k, lams, [(1.0, 2.0, 6.0)] * len(split))["class_means"]
    np.testing.assert_allclose(got, mmk_priority(k, lams, 1.0), rtol=REL)


def test_busy_periods_by_start():
    k, lam = 3, 2.1
    ph = fit_two_phase(1.0, 5.0, 60.0)
    starts, mom, exits, cfg, cfg1 = busy_period_transitions(k, lam, ph)
    np.testing.assert_allclose(exits.sum(1), 1.0, rtol=1e-12)
    assert len(cfg) == k + 1 and len(cfg1) == k and starts == list(range(k + 1))
    # averaged over the phases at the arrival that starts a busy period (the stationary level
    # k-1 of the M/PH/k chain, the arriving job's phase from alpha) the moments are those of
    # qtheory.models.mphk_priority.busy_period_moments (computed from the aggregated start vector)
    lev = mphk_fcfs(k, lam, ph, levels=True)["levels"][k - 1]
    beta = np.zeros(len(cfg))
    for pr, c in zip(lev, _configs(k - 1, ph.phases), strict=True):
        for j in range(ph.phases):
            d = list(c)
            d[j] += 1
            beta[cfg.index(tuple(d))] += pr * ph.alpha[j]
    beta /= beta.sum()
    np.testing.assert_allclose(beta @ mom, busy_period_moments(k, lam, ph), rtol=1e-9)
    # exponential sizes: one start, the M/M/1 busy period at rate k mu
    starts, mom, exits, _, _ = busy_period_transitions(4, 3.0, fit_moments(1.0, 2.0, 6.0))
    mu, r = 4.0, 3.0 / 4.0
    want = (1 / (mu - 3.0), 2 / (mu**2 * (1 - r) ** 3), 6 * (1 + r) / (mu**3 * (1 - r) ** 5))
    np.testing.assert_allclose(mom[starts[0]], want, rtol=REL)


def test_feasible_and_errors():
    assert feasible(5, 8) and not feasible(6, 8) and feasible(16, 1)
    with pytest.raises(ValueError, match="servers"):
        priority_k(0, [1.0], [(1.0, 2.0, 6.0)])
    with pytest.raises(ValueError, match="load"):
        priority_k(2, [1.0, 1.5], [(1.0, 2.0, 6.0)] * 2)
    with pytest.raises(ValueError, match="arrival_rates"):
        priority_k(2, [1.0], [(1.0, 2.0, 6.0)] * 2)
    with pytest.raises(ValueError, match="max_phases"):
        priority_k(8, [1.0, 1.0], [(1.0, 5.0, 60.0)] * 2)


@pytest.mark.parametrize("size, pred", [(qt.Exponential(1.0), qt.ExponentialPrediction()),
                                        (qt.Weibull(0.5), qt.LogNormalPrediction(sigma=0.5))])
def test_quantile_buckets_of_a_multiplicative_prediction(size, pred):
    m = qt.MGk(2, 1.0 / size.mean, size, pred)
    assert m.priority_classes() is None                 # no classes of its own
    ys, p, mom = m.priority_classes(8)
    assert ys.size == 8 and np.all(np.diff(ys) > 0) and math.isinf(ys[-1])
    np.testing.assert_allclose(p, 1 / 8, rtol=1e-9)
    for n in (1, 2, 3):
        assert float(p @ mom[:, n - 1]) == pytest.approx(size.moment(n), rel=1e-8)
    # class 1 is the smallest predictions: its mean size is the smallest
    assert np.all(np.diff(mom[:, 0]) > 0)


def test_buckets_of_many_distinct_predictions():
    pr = qt.datasets.azure_llm_2023("code").pairs("perfect")
    size = pr.size_law()
    m = qt.MGk(2, 1.0 / size.mean, size, pr)
    assert m.priority_classes() is None
    ys, p, mom = m.priority_classes(8)
    assert 2 <= ys.size <= 8 and np.all(np.diff(ys) > 0)
    assert p.sum() == pytest.approx(1.0, rel=1e-12)
    for n in (1, 2, 3):
        assert float(p @ mom[:, n - 1]) == pytest.approx(size.moment(n), rel=1e-10)
    # perfect predictions: the classes are size intervals, so class means increase
    assert np.all(np.diff(mom[:, 0]) > 0)


def test_routing_and_labels():
    size = qt.Exponential(1.0)
    m = qt.MGk(2, 1.6, size, qt.ExponentialPrediction())
    v = m.mean_response_time("pspjf")
    assert v.kind == "approx" and "busy-period transitions" in v.method and "quantile buckets" in v.method
    assert v.error == _band("rdr_buckets", 0.8) and v.lower <= float(v) <= v.upper
    assert float(v) == float(m.priority_approximation("pspjf", 8))
    # the prediction's own classes: no pooled ratio
    pr = qt.datasets.azure_llm_2023("code").pairs("five_class")
    mc = qt.MGk(2, 1.6 / pr.size_law().mean, None, pr)
    vc = mc.mean_response_time("pspjf")
    assert "busy-period transitions" in vc.method and "buckets" not in vc.method
    assert vc.error == _band("rdr_priority", 0.8)
    # more servers than the chain allows: the Bondi-Buzen scaling as before
    m8 = qt.MGk(8, 6.4, size, qt.ExponentialPrediction())
    assert "Bondi-Buzen" in m8.mean_response_time("pspjf").method
    # above the measured loads, and classes too regular for two phases: the scaling as before
    assert "Bondi-Buzen" in qt.MGk(2, 1.94, size, qt.ExponentialPrediction()).mean_response_time("pspjf").method
    cv = qt.datasets.azure_llm_2023("conv").pairs("five_class")
    m4 = qt.MGk(4, 3.2 / cv.size_law().mean, None, cv)
    assert "Erlang-2" in m4.priority_approximation("pspjf").method
    assert "Bondi-Buzen" in m4.mean_response_time("pspjf").method
    # other policies are not routed
    assert "busy-period" not in m.mean_response_time("sprpt").method
    with pytest.raises(NotImplementedError):
        m.priority_approximation("spjf")


class _Labels(qt.PredictionLaw):
    """A class label drawn independently of the size (probabilities ``p``)."""

    scales_with_size = False

    def __init__(self, p):
        self.p = np.asarray(p, float)

    def sample(self, x, rng):
        return rng.choice(self.p.size, size=np.shape(x), p=self.p).astype(float)


def test_simulator_exact_case():
    # exponential sizes, labels independent of them: PSPJF-2 is the two-server preemptive
    # priority queue with one rate, where the chain is exact (mmk_priority); the simulated mean
    # must agree at the policy's level
    p = np.array([0.3, 0.5, 0.2])
    lam = 1.6
    want = priority_k(2, lam * p, [(1.0, 2.0, 6.0)] * 3)["mean_response_time"]
    m = qt.MGk(2, lam, qt.Exponential(1.0), _Labels(p))
    r = qt.simulate(m, "pspjf", jobs=1_600_000, seed=4, replications=REPS, progress=False)
    assert_consistent(want, r, "PSPJF-2 on three size-independent classes")


def test_simulator_within_band():
    # the Azure code trace's five classes at k = 2, load 0.8: within the measured band
    pr = qt.datasets.azure_llm_2023("code").pairs("five_class")
    m = qt.MGk(2, 1.6 / pr.size_law().mean, None, pr)
    v = m.mean_response_time("pspjf")
    r = qt.simulate(m, "pspjf", jobs=3_200_000, seed=5, replications=REPS, progress=False)
    hw = halfwidth(r.ci, r.replications)
    assert abs(float(v) - r.mean) <= v.error * r.mean + hw, (float(v), r.mean, hw, v.error)


def test_simulator_bucketed_within_band():
    # Weibull(0.5) sizes, log-normal predictions, k = 2 at load 0.8: 8 buckets and the pooled ratio
    # (the buckets alone are 20% above the continuous PSPJF-2 here) within the measured band
    m = qt.MGk(2, 1.6, qt.Weibull(0.5), qt.LogNormalPrediction(sigma=0.5))
    v = m.mean_response_time("pspjf")
    assert "quantile buckets" in v.method
    r = qt.simulate(m, "pspjf", jobs=1_600_000, seed=6, replications=REPS, progress=False)
    hw = halfwidth(r.ci, r.replications)
    assert abs(float(v) - r.mean) <= v.error * r.mean + hw, (float(v), r.mean, hw, v.error)
