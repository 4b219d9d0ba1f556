"""LLM serving (qtheory.llm, qtheory.llm.batching): limited preemption (TRAIL), its memory and
preemption cost, SkipPredict, batching models. Every formula is checked against an independent
route: the closed forms of soap.py, the generic SOAP evaluator, published/derived reference
numbers (../shared/reference/llm_queueing.md) and the simulators of qtheory.sim.llm_kernels.

Simulation checks use fixed seeds, 16 independent replications and the statistical-assertion
policy of ``tests/stats_policy.py`` (level 1 - 1e-6 per assertion); QTHEORY_FULL=1 multiplies the
simulated jobs by 10.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from stats_policy import assert_above, assert_below, assert_consistent, estimate, rng

import qtheory as qt
from qtheory import generic

FULL = os.environ.get("QTHEORY_FULL") == "1"
SCALE = 10 if FULL else 1
#: independent replications of every simulation (the policy asks for at least 16)
REPS = 16


def _mm1(load=0.8):
    return qt.MG1(load, qt.Exponential(1.0), qt.ExponentialPrediction())


def _pairs(n=200, seed=1):
    g = rng(seed)          # re-seeded by QTHEORY_TEST_SEED with the simulators (tests/stats_policy.py)
    x = g.exponential(1.0, n)
    return qt.EmpiricalPairs(x, x * g.exponential(1.0, n))


# ---- limited preemption: limits ----------------------------------------------------------------
CONTINUOUS = [
    (qt.Exponential(1.0), qt.ExponentialPrediction()),
    (qt.LogNormal(sigma=1.0, mean=1.0), qt.LogNormalPrediction(0.5)),
    (qt.Weibull(shape=0.5, mean=1.0), qt.UniformPrediction(0.5)),
    (qt.Exponential(1.0), qt.PerfectPrediction()),
    (qt.Uniform(0.5, 1.5), qt.ExponentialPrediction()),
    (qt.BoundedPareto(1.5, 0.1, 100.0), qt.UniformPrediction(0.5)),
    (qt.Empirical([1.0, 2.0, 5.0]), qt.LogNormalPrediction(1.0)),
]


@pytest.mark.parametrize("size,pred", CONTINUOUS, ids=lambda v: type(v).__name__)
def test_limits_continuous(size, pred):
    q = qt.MG1(0.5 / size.mean, size, pred)
    loads = [0.5, 0.9]
    r0 = qt.limited_preemption(q, 0.0, loads=loads)
    r1 = qt.limited_preemption(q, 1.0, loads=loads)
    # two independent quadratures (the SPJF/SPRPT closed forms of soap.py, and the z-rule of
    # qtheory.llm); 1e-8 is the library's accuracy target for continuous laws
    np.testing.assert_allclose(r0.mean, q.sweep("spjf", loads), rtol=1e-8)
    np.testing.assert_allclose(r1.mean, q.sweep("sprpt", loads), rtol=1e-8)
    assert r0.route == "continuous"


def _generic(q, policy):
    """E[T] by the generic SOAP evaluator on the policy's rank function (exact on discrete laws),
    bypassing the ``closed_form_mean`` hook through which ``MG1`` reaches ``limited_preemption``."""
    return float(generic.mean_response_time(q, policy, [q.arrival_rate])[0])


def _trail_by_hand(c):
    """TRAIL's rank written out here (module docstring of qtheory.llm): y - a while a < c y, then
    -inf (the job runs to completion), as a user ``qt.Rank`` (independent of LimitedPreemption)."""
    def rank(d, a):
        d, a = np.asarray(d, float), np.asarray(a, float)
        return np.where((a < c * d) | (a <= 0), d - a, -np.inf)

    return qt.Rank(rank, descriptor="prediction", breakpoints=lambda d: c * np.asarray(d, float),
                   name=f"trail-by-hand({c})")


def test_limits_discrete_exact():
    q = qt.MG1(0.8, prediction=_pairs())
    assert qt.limited_preemption(q, 0.0).mean == pytest.approx(q.mean_response_time("spjf"), rel=1e-12)
    assert qt.limited_preemption(q, 1.0).mean == pytest.approx(q.mean_response_time("sprpt"), rel=1e-12)
    # the policy's rank through the generic SOAP evaluator (exact on discrete laws; MG1 would
    # take the closed-form hook, i.e. limited_preemption itself): measured 1e-16 and 8e-15
    assert _generic(q, qt.LimitedPreemption(0.0)) == pytest.approx(q.mean_response_time("spjf"), rel=1e-10)
    assert _generic(q, qt.LimitedPreemption(1.0)) == pytest.approx(q.mean_response_time("sprpt"), rel=1e-10)


@pytest.mark.parametrize("c, ties", [(0.3, False), (0.8, False), (0.5, True)])
def test_closed_form_equals_generic_on_discrete_laws(c, ties):
    # the closed form (exact sums over the pairs) against the generic SOAP evaluator on TRAIL's
    # rank, both LimitedPreemption's and one written in this test; predictions rounded to one
    # decimal put many jobs on one rank (the strict/non-strict conventions at ties).
    # Measured: 2e-13 relative at most.
    pairs = _pairs(150, seed=3)
    if ties:
        pairs = qt.EmpiricalPairs(pairs.x, np.round(pairs.y, 1) + 0.1)
    q = qt.MG1(0.7, prediction=pairs)
    closed = qt.limited_preemption(q, c).mean
    assert _generic(q, qt.LimitedPreemption(c)) == pytest.approx(closed, rel=1e-9)
    assert _generic(q, _trail_by_hand(c)) == pytest.approx(closed, rel=1e-9)
    # c matters on this law: the value is neither SPRPT's (c = 1) nor SPJF's (c = 0), so a rank
    # that ignored c could not pass (no order between them holds in general: limited preemption
    # can beat SPRPT)
    for other in ("sprpt", "spjf"):
        assert abs(closed / q.mean_response_time(other) - 1) > 1e-4, other


def test_continuous_against_generic():
    # the generic evaluator discretises continuous laws and extrapolates; with exact predictions
    # on M/M/1 its gap to the closed form is 5e-7 (c = 0.5) and 1.2e-6 (c = 0.8) relative,
    # inside a third of its error estimate (the Richardson correction: 1.9e-4, 2.3e-4)
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.PerfectPrediction())
    for c in (0.5, 0.8):
        g = generic.evaluate(q, qt.LimitedPreemption(c), [q.arrival_rate])
        closed = qt.limited_preemption(q, c).mean
        assert abs(g.mean[0] / closed - 1) <= 1e-5
        assert abs(g.mean[0] - closed) <= g.error[0] / 3


def test_conditional_limits():
    q = _mm1()
    x, y = np.array([0.5, 2.0, 1.0]), np.array([1.5, 1.0, 0.2])
    np.testing.assert_allclose(qt.limited_preemption_response_time(q, 1.0, x, y),
                               q.response_time("sprpt", x, y), rtol=1e-9)
    np.testing.assert_allclose(qt.limited_preemption_response_time(q, 0.0, x, y),
                               q.response_time("spjf", x, y), rtol=1e-9)
    qd = qt.MG1(0.8, prediction=_pairs(50, seed=2))
    xs, ys = qd.prediction.x[:5], qd.prediction.y[:5]
    # against the generic route on TRAIL's rank at the atoms (MG1.response_time would take the
    # closed-form hook): measured 6e-12 relative at most
    np.testing.assert_allclose(qt.limited_preemption_response_time(qd, 0.6, xs, ys),
                               generic.response_time(qd, qt.LimitedPreemption(0.6), xs, ys), rtol=1e-9)
    np.testing.assert_allclose(qt.limited_preemption_response_time(qd, 0.6, xs, ys),
                               generic.response_time(qd, _trail_by_hand(0.6), xs, ys), rtol=1e-9)


# ---- limited preemption: the reference table (section 2.3) ---------------------------------------
REF_TABLE = {  # lambda: E[T] at c = 0, 0.25, 0.5, 0.75, 1 (M/M/1, exponential predictions)
    0.5: [1.7948, 1.6936, 1.6726, 1.6630, 1.6583],
    0.7: [2.5726, 2.4137, 2.3886, 2.3755, 2.3688],
    0.8: [3.3758, 3.1820, 3.1597, 3.1453, 3.1375],
    0.9: [5.3610, 5.1311, 5.1223, 5.1073, 5.0985],
}


def test_reference_table():
    q = _mm1()
    lams = sorted(REF_TABLE)
    for j, c in enumerate((0, 0.25, 0.5, 0.75, 1)):
        got = qt.limited_preemption(q, c, loads=lams).mean
        np.testing.assert_allclose(got, [REF_TABLE[lam][j] for lam in lams], atol=5.1e-5)


def test_reference_decomposition_and_memory():
    r = qt.limited_preemption(_mm1(0.8), 0.5)
    assert r.waiting == pytest.approx(1.5867, abs=5e-5)
    assert r.residence == pytest.approx(1.0052, abs=5e-5)
    assert r.tail == pytest.approx(0.5 + 0.5 * np.exp(-2.0), rel=1e-12)
    # reference Monte Carlo (2e7 jobs): 0.458 paused, 0.476 paused age, 0.267 preemptions
    assert r.paused_jobs == pytest.approx(0.458, abs=1.5e-3)
    assert r.paused_age == pytest.approx(0.476, abs=3e-3)
    assert r.preemptions == pytest.approx(0.267, abs=1.5e-3)
    r0 = qt.limited_preemption(_mm1(0.8), 0.0)
    assert r0.paused_jobs == 0 and r0.paused_age == 0 and r0.preemptions == 0


def test_memory_monotone_in_c():
    q = _mm1(0.9)
    res = [qt.limited_preemption(q, c) for c in (0.25, 0.5, 1.0)]
    assert np.all(np.diff([r.paused_age for r in res]) > 0)
    assert np.all(np.diff([r.mean for r in res]) < 0)


# ---- limited preemption vs simulation -------------------------------------------------------------
@pytest.mark.parametrize("load,c", [(0.5, 0.5), (0.8, 0.8)])
def test_limited_preemption_simulation(load, c):
    q = _mm1(load)
    r = qt.limited_preemption(q, c)
    s = qt.simulate_limited_preemption(q, c, jobs=800_000 * SCALE, seed=11, replications=REPS)
    assert_consistent(r.mean, s, "E[T]")
    for name in ("paused_jobs", "paused_age", "preemptions"):
        assert_consistent(getattr(r, name), estimate(s, name), name)


@pytest.mark.parametrize("load", [0.5, 0.8])
def test_limited_preemption_simulation_discrete(load):
    q = qt.MG1(0.5, prediction=_pairs(300, seed=5)).with_load(load)
    r = qt.limited_preemption(q, 0.6)
    s = qt.simulate_limited_preemption(q, 0.6, jobs=800_000 * SCALE, seed=12, replications=REPS)
    assert_consistent(r.mean, s, "E[T]")
    assert_consistent(r.paused_age, estimate(s, "paused_age"), "paused age")


def test_limited_preemption_simulation_kinked_laws():
    # size-law breakpoints split the Z rule (Uniform support ends; discrete atoms)
    for size, pred in ((qt.Uniform(0.5, 1.5), qt.UniformPrediction(0.5)),
                       (qt.Empirical([1.0, 2.0, 5.0]), qt.LogNormalPrediction(1.0))):
        q = qt.MG1(0.85 / size.mean, size, pred)
        r = qt.limited_preemption(q, 0.5)
        assert r.route == "continuous"
        s = qt.simulate_limited_preemption(q, 0.5, jobs=800_000 * SCALE, seed=14, replications=REPS)
        assert_consistent(r.mean, s, f"E[T], {size!r}")
        assert_consistent(r.paused_age, estimate(s, "paused_age"), f"paused age, {size!r}")


def test_infinite_second_moment():
    q = qt.MG1(0.5 / 3, qt.Pareto(1.5, 1.0), qt.PerfectPrediction())
    assert qt.limited_preemption(q, 0.5).mean == np.inf        # non-preemptive tail
    assert qt.limited_preemption(q, 1.0).mean == pytest.approx(q.mean_response_time("srpt"), rel=1e-8)
    qe = qt.MG1(0.5 / 3, qt.Pareto(1.5, 1.0), qt.ExponentialPrediction())
    assert qt.limited_preemption(qe, 1.0).mean == np.inf


def test_mg1_hooks():
    q = _mm1(0.8)
    pol = qt.LimitedPreemption(0.5)
    assert pol.closed_form_mean(q, [0.8])[0] == pytest.approx(3.1597, abs=5e-5)
    assert pol.closed_form_response_time(q, 1.0, 1.0)[0] == pytest.approx(
        qt.limited_preemption_response_time(q, 0.5, 1.0, 1.0)[0])
    assert pol.closed_form_mean(qt.MG1(0.5, qt.Exponential(1.0), qt.OneBit(1.0)), [0.5]) is None


def test_sim_policy_in_the_main_simulator():
    q = _mm1(0.7)
    res = qt.simulate(q, qt.LimitedPreemption(0.5).sim_policy(), jobs=400_000 * SCALE, seed=3,
                      replications=REPS)
    assert_consistent(qt.limited_preemption(q, 0.5).mean, res, "TRAIL rank table")


# ---- preemption cost --------------------------------------------------------------------------------
@pytest.mark.parametrize("load", [0.5, 0.8])
def test_preemption_overhead_against_simulation(load):
    q = _mm1(load)
    o = qt.preemption_overhead(q, 0.5, s0=0.05, s1=0.2)
    s = qt.simulate_limited_preemption(q, 0.5, jobs=800_000 * SCALE, seed=13, setup=(0.05, 0.2),
                                       replications=REPS)
    # preemptions and ages at preemption do not depend on the costs
    assert_consistent(o["preemptions"][0], estimate(s, "preemptions"), "preemptions")
    assert_consistent(o["preempted_age"][0], estimate(s, "preempted_age"), "preempted age")
    assert o["overhead"][0] == pytest.approx(0.05 * o["preemptions"][0] + 0.2 * o["preempted_age"][0])
    # costs can only add work: the cost-free formula is a lower bound on the simulated mean
    assert_above(qt.limited_preemption(q, 0.5).mean, s, "cost-free E[T]")


def test_preemption_overhead_stability():
    o = qt.preemption_overhead(_mm1(0.9), 1.0, s0=0.5, s1=0.0)
    assert o["effective_load"][0] == pytest.approx(0.9 + 0.9 * 0.5 * o["preemptions"][0])
    assert not o["stable"][0]


# ---- SkipPredict (external cost) ---------------------------------------------------------------------
SKIP_REF = {0.5: [1.6523, 1.6780, 1.7340], 0.8: [3.1306, 3.1906, 3.3643], 0.9: [5.0920, 5.1699, 5.4270]}


def test_skip_predict_reference_table():
    q = _mm1()
    for j, T in enumerate((0.5, 1.0, 2.0)):
        r = qt.skip_predict_external(q, T, loads=[0.5, 0.8, 0.9])
        np.testing.assert_allclose(r.mean, [SKIP_REF[lam][j] for lam in (0.5, 0.8, 0.9)], atol=5.1e-5)
    p_short = [1 - qt.skip_predict_external(q, T).p_long for T in (0.5, 1.0, 2.0)]
    np.testing.assert_allclose(p_short, [0.5557, 0.7203, 0.8603], atol=5e-5)


def test_skip_predict_limits_and_cost():
    q = _mm1()
    everyone_long = qt.skip_predict_external(q, 1.0, cheap=lambda x: np.ones_like(x))
    assert everyone_long.mean[0] == pytest.approx(q.mean_response_time("sprpt"), rel=1e-9)
    nobody_long = qt.skip_predict_external(q, 1.0, cheap=lambda x: np.zeros_like(x))
    assert nobody_long.mean[0] == pytest.approx(q.mean_response_time("fcfs"), rel=1e-9)
    r = qt.skip_predict_external(q, 1.0, c1=0.1, c2=2.0)
    assert r.cost[0] == pytest.approx(r.mean[0] + 0.1 + 2.0 * r.p_long, rel=1e-14)
    qd = qt.MG1(0.7, prediction=_pairs(100))
    assert qt.skip_predict_external(qd, 1.0, cheap=lambda x: np.ones_like(x)).mean[0] == \
        pytest.approx(qd.mean_response_time("sprpt"), rel=1e-12)


@pytest.mark.parametrize("load", [0.5, 0.9])
def test_skip_predict_simulation(load):
    q = _mm1(load)
    r = qt.skip_predict_external(q, 1.0)
    s = qt.simulate_skip_predict(q, 1.0, jobs=800_000 * SCALE, seed=21, replications=REPS)
    assert_consistent(r.mean[0], s, "SkipPredict E[T]")


def test_skip_predict_simulation_discrete():
    q = qt.MG1(0.7, prediction=_pairs(300))
    r = qt.skip_predict_external(q, 1.0, cheap=qt.ExponentialPrediction())
    s = qt.simulate_skip_predict(q, 1.0, cheap=qt.ExponentialPrediction(), jobs=800_000 * SCALE,
                                 seed=22, replications=REPS)
    assert_consistent(r.mean[0], s, "SkipPredict E[T], discrete")


# ---- batching ------------------------------------------------------------------------------------
C_IT, A_IT, M_TOK = 20.0, 0.5, 100.0


@pytest.mark.parametrize("lam", [0.01, 0.016])
def test_continuous_batching_insensitivity(lam):
    f = qt.continuous_batching_mean(lam, M_TOK, C_IT, A_IT)
    assert f == pytest.approx(M_TOK * (A_IT + C_IT) / (1 - lam * A_IT * M_TOK))
    exp = qt.simulate_continuous_batching(lam, qt.Exponential(M_TOK), C_IT, A_IT,
                                          jobs=400_000 * SCALE, seed=31, replications=REPS)
    det = qt.simulate_continuous_batching(lam, qt.Deterministic(M_TOK), C_IT, A_IT,
                                          jobs=400_000 * SCALE, seed=32, replications=REPS)
    # insensitivity: two laws with mean 100 both give the formula's mean latency
    assert_consistent(f, exp, "exponential tokens")
    assert_consistent(f, det, "deterministic tokens")


def test_continuous_batching_distribution_and_conditional():
    lam = 0.012
    pi = qt.continuous_batching_distribution(lam, M_TOK, C_IT, A_IT, nmax=2000)
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)
    et = qt.continuous_batching_mean(lam, M_TOK, C_IT, A_IT)
    assert np.arange(pi.size) @ pi == pytest.approx(lam * et, rel=1e-10)  # Little's law
    assert qt.continuous_batching_mean(lam, M_TOK, C_IT, A_IT, d=50.0) == pytest.approx(et / 2)
    assert qt.continuous_batching_mean(0.02, M_TOK, C_IT, A_IT) == np.inf


def test_iteration_level_batching_close_to_fluid():
    # the iteration-level model (arrivals join at the next boundary, whole tokens) lies within
    # a few percent above the fluid formula (a model difference, not noise: measured +0.8%, with
    # a policy half-width of 2.2% at this size, so only the bracket [f, 1.03 f] is asserted)
    lam = 0.01
    s = qt.simulate_continuous_batching(lam, qt.Deterministic(M_TOK), C_IT, A_IT, mode="iterations",
                                        jobs=100_000 * SCALE, seed=33, replications=REPS)
    f = qt.continuous_batching_mean(lam, M_TOK, C_IT, A_IT)
    assert_above(f, s, "fluid formula (lower)")
    assert_below(1.03 * f, s, "fluid formula + 3%")


@pytest.mark.parametrize("lam", [0.004, 0.006])
def test_capped_batching_chain(lam):
    f = qt.capped_batching(lam, M_TOK, C_IT, A_IT, 24)
    s = qt.simulate_continuous_batching(lam, qt.Exponential(M_TOK), C_IT, A_IT, bmax=24,
                                        jobs=400_000 * SCALE, seed=34, replications=REPS)
    assert_consistent(f, s, "capped batching")


def test_capped_batching_reference_and_limits():
    assert qt.capped_batching(0.006, 100, 20, 0.5, 24) == pytest.approx(3019, abs=0.5)
    # a huge cap is the uncapped formula; the stability limit b/(m(c + a b))
    assert qt.capped_batching(0.01, 100, 20, 0.5, 5000) == pytest.approx(
        qt.continuous_batching_mean(0.01, 100, 20, 0.5), rel=1e-9)
    assert qt.capped_batching(24 / (100 * 32) * 1.0001, 100, 20, 0.5, 24) == np.inf


INOUE = {0.3: 4.225, 0.5: 5.902, 0.7: 9.818, 0.8: 14.715, 0.9: 29.408}  # V100 fit, ms
ALPHA, TAU0 = 0.1438, 1.8874


def test_dynamic_batching_reference():
    for rho, ref in INOUE.items():
        lam = rho / ALPHA
        r = qt.dynamic_batching(lam, ALPHA, TAU0)
        assert r.mean == pytest.approx(ref, abs=6e-4)
        phi0, phi1 = qt.dynamic_batching_bounds(lam, ALPHA, TAU0)
        assert min(phi0, phi1) >= r.mean - 1e-9  # upper bounds
        assert min(phi0, phi1) == pytest.approx(ref, abs=2e-3)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_dynamic_batching_simulation(rho):
    lam = rho / ALPHA
    s = qt.simulate_dynamic_batching(lam, ALPHA, TAU0, jobs=800_000 * SCALE, seed=41, replications=REPS)
    assert_consistent(qt.dynamic_batching(lam, ALPHA, TAU0).mean, s, "dynamic batching")


@pytest.mark.parametrize("rate", [0.5, 0.8])
def test_prefill_md1_against_simulation(rate):
    D = 1.0
    f = qt.prefill_md1(rate, D)
    res = qt.simulate(qt.MG1(rate, qt.Deterministic(D)), "fcfs", jobs=400_000 * SCALE, seed=51,
                      replications=REPS)
    assert_consistent(f, res, "prefill M/D/1")
    # pipeline / tensor-parallel variants are M/D/1 on their bottleneck stage
    assert qt.prefill_md1(rate, D, "inter") == pytest.approx(D + (qt.prefill_md1(rate, D / 2) - D / 2))
    assert qt.prefill_md1(rate, D, "intra", K=1.6) == pytest.approx(qt.prefill_md1(rate, D / 1.6))


def test_stability_formulas():
    cap = qt.token_budget_capacity(512, 11.28, 35.47, 128)
    assert 512 / cap == pytest.approx(153.16, abs=1e-9)
    assert cap == pytest.approx(3.343, abs=5e-4)
    assert cap / 200 * 1000 == pytest.approx(16.71, abs=5e-3)  # (v_p, v_d) = (100, 100), per second
    w = qt.kv_lifetime_demand([10, 10, 10], [20, 40, 60])
    np.testing.assert_array_equal(w, [410, 1220, 2430])
    assert qt.kv_stability_rate(16492, [10, 10, 10], [20, 40, 60]) / 3 == pytest.approx(4.0621, abs=5e-5)


@pytest.mark.parametrize("factor", [0.9, 1.2])
def test_token_budget_capacity_against_simulation(factor):
    # Li, Dai, Peng (Theorem 2): below capacity the throughput is the arrival rate, above it the
    # capacity b_max / t_{b_max} (iteration-level simulation with the staircase batch time)
    cap = qt.token_budget_capacity(512, 11.28, 35.47, 128)
    m = 100
    lam = factor * cap / m
    s = qt.simulate_continuous_batching(lam, m, 11.28, 35.47, bmax=512, mode="iterations", b0=128,
                                        jobs=200_000 * SCALE, seed=61)
    assert s.throughput == pytest.approx(min(lam, cap / m), rel=0.01)


# ---- bad input ----------------------------------------------------------------------------------
def test_bad_input():
    q = _mm1()
    for c in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="c must"):
            qt.LimitedPreemption(c)
        with pytest.raises(ValueError, match="c must"):
            qt.limited_preemption(q, c)
    with pytest.raises(ValueError, match="setup"):
        qt.simulate_limited_preemption(q, 0.5, jobs=1000, setup=(-1.0, 0.0))
    with pytest.raises(ValueError, match="s1"):
        qt.preemption_overhead(q, 0.5, s1=-0.1)
    with pytest.raises(ValueError, match="c2"):
        qt.skip_predict_external(q, 1.0, c2=-1)
    with pytest.raises(ValueError, match="bmax"):
        qt.capped_batching(0.001, 100, 20, 0.5, 0)
    with pytest.raises(ValueError, match="bmax"):
        qt.simulate_continuous_batching(0.001, 100, 20, 0.5, bmax=0.5, jobs=1000)
    with pytest.raises(ValueError, match="a must"):
        qt.continuous_batching_mean(0.01, 100, 20, -0.5)
    with pytest.raises(ValueError, match="c must"):
        qt.continuous_batching_mean(0.01, 100, -20, 0.5)
    with pytest.raises(ValueError, match="mode"):
        qt.prefill_md1(0.5, 1.0, mode="bogus")
    with pytest.raises(ValueError, match="prediction"):
        qt.limited_preemption(qt.MG1(0.5, qt.Exponential(1.0)), 0.5)


# ---- CLI -----------------------------------------------------------------------------------
def test_cli_llm(capsys, tmp_path):
    import json

    from qtheory.cli import main

    assert main(["llm", "--load", "0.8", "--c", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["policy"]: r for r in out["rows"]}
    assert set(rows) == {"FCFS", "SPJF", "SPRPT", "TRAIL(c=0.5)"}
    q = qt.datasets.azure_llm_2023("conv").model(0.8)
    assert rows["SPRPT"]["E[T]"] == pytest.approx(q.mean_response_time("sprpt"), rel=1e-12)
    assert rows["FCFS"]["E[T]"] == pytest.approx(q.mean_response_time("fcfs"), rel=1e-12)
    assert rows["TRAIL(c=0.5)"]["paused jobs"] == pytest.approx(
        qt.limited_preemption(q, 0.5).paused_jobs, rel=1e-12)
    assert "Splitwise" in out["citation"]
    assert main(["llm", "--c", "1.5"]) == 2
    assert "--c" in capsys.readouterr().err
    assert main(["llm", "--load", "1.0"]) == 2
    assert main(["llm", "--trace", "code", "--load", "0.9", "--plot", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").stat().st_size > 1000


def test_mg1_and_simulate_take_limited_preemption_directly():
    """MG1 uses the policy's closed form (not the generic route) and simulate its rank table."""
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    pol = qt.LimitedPreemption(0.5)
    assert q.mean_response_time(pol) == pytest.approx(qt.limited_preemption(q, c=0.5).mean, rel=1e-12)
    assert q.response_time(qt.LimitedPreemption(1.0), x=1.0, y=0.7) == pytest.approx(
        q.response_time("sprpt", x=1.0, y=0.7), rel=1e-9)
    v = qt.verify(q, pol, jobs=400_000, seed=5, replications=REPS)
    assert v.formula == pytest.approx(qt.limited_preemption(q, c=0.5).mean, rel=1e-12)
    assert_consistent(v.formula, v.sim, "verify(TRAIL)")


def test_kv_memory_stability_rate_against_simulation():
    """Iteration-level batching under a KV memory M (real conv-trace lengths): the mean memory in
    use equals throughput x E[g(s, o)] (the memory-time identity behind kv_stability_rate), the
    load below the rate is carried, and above it the throughput stays below M / E[g] while the
    queue grows."""
    tr = qt.datasets.azure_llm_2023("conv")
    s = np.asarray(tr.context_tokens, float)[:2000]
    o = np.asarray(tr.generated_tokens, float)[:2000]
    M = 1.2 * float((s + o).max())
    eg = float(qt.kv_lifetime_demand(s, o).mean())
    lam_star = qt.kv_stability_rate(M, s, o)
    assert lam_star == pytest.approx(M / eg, rel=1e-12)
    for f in (0.3, 1.3):
        r = qt.simulate_kv_memory(f * lam_star, M, s, o, iterations=100_000, seed=7, replications=4)
        # 3 CI half-widths, plus 2% for the requests straddling the ends of the finite horizon
        tol = 3 * (r.memory_ci + eg * r.throughput_ci) + 0.02 * r.memory
        assert abs(r.memory - r.throughput * eg) <= tol, r
        assert r.throughput <= lam_star * 1.001
        if f < 1:
            assert r.throughput == pytest.approx(f * lam_star, abs=3 * r.throughput_ci + 0.01 * f * lam_star)
            assert r.waiting_at_end < 50
        else:
            assert r.waiting_at_end > 500
    with pytest.raises(ValueError, match="memory"):
        qt.simulate_kv_memory(0.01, 10.0, s, o)


# ---- names, reprs, results, k servers (issue 17, part 3) --------------------------------------------
def test_trail_names_and_repr():
    from qtheory.policies import get_policy

    assert get_policy("trail") == qt.TRAIL(0.8)
    for name, c in (("trail-0.5", 0.5), ("TRAIL(c=0.25)", 0.25), ("trail_1", 1.0), ("Trail-0", 0.0)):
        assert get_policy(name) == qt.LimitedPreemption(c)
    pol = qt.TRAIL(0.5)
    assert repr(pol) == pol.name == "TRAIL(c=0.5)"
    assert get_policy(repr(pol)) == pol                        # the repr is a name
    q = _mm1(0.8)
    assert q.compare(["sprpt", "trail-0.5"])["policy"] == ["SPRPT", "TRAIL(c=0.5)"]
    assert q.mean_response_time("trail-0.5") == pytest.approx(3.1597, abs=5e-5)
    for bad in ("trail-1.5", "trail-x"):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            get_policy(bad)


def test_limited_preemption_result_one_load_is_a_number():
    q = _mm1(0.8)
    r = qt.limited_preemption(q, 0.5)
    assert isinstance(r.mean, float) and isinstance(r.paused_jobs, float) and float(r) == r.mean
    assert isinstance(qt.limited_preemption(q, 0.5, 0.7).mean, float)
    rs = qt.limited_preemption(q, 0.5, [0.7, 0.8])
    assert rs.mean.shape == (2,) and rs.mean[1] == pytest.approx(r.mean, rel=1e-12)
    assert "<table>" in rs._repr_html_() and "paused jobs" in str(rs.table())
    with pytest.raises(TypeError, match="one load"):
        float(rs)


def test_trace_on_k_servers():
    tr = qt.datasets.azure_llm_2023("conv")
    m = tr.model(0.8, servers=4)
    assert isinstance(m, qt.MGk) and m.servers == 4 and m.load == pytest.approx(0.8, rel=1e-12)
    assert isinstance(tr.model(0.8), qt.MG1)
    with pytest.raises(TypeError, match="4 servers"):
        qt.limited_preemption(m, 0.5)
    with pytest.raises(ValueError, match="servers"):
        tr.model(0.8, servers=0)


def test_trail_plot_styles():
    from qtheory import plotting

    s5, s8 = plotting.policy_style("TRAIL(c=0.5)"), plotting.policy_style("TRAIL(c=0.8)")
    assert s5["marker"] != s8["marker"] and s5["color"] != s8["color"]
    assert s5["linestyle"] != "-" and s5 == plotting.policy_style("trail(c=0.5)")
    assert {s5["marker"], s8["marker"]}.isdisjoint({plotting.policy_style(n)["marker"] for n in ("SPJF", "SPRPT")})


def test_cli_llm_policies_and_plot_files(capsys, tmp_path):
    import json

    from qtheory.cli import main

    assert main(["llm", "--load", "0.8", "--policies", "fcfs,trail,trail-0.25", "--json"]) == 0
    rows = {r["policy"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert set(rows) == {"FCFS", "TRAIL(c=0.8)", "TRAIL(c=0.25)"}
    q = qt.datasets.azure_llm_2023("conv").model(0.8)
    assert rows["TRAIL(c=0.25)"]["E[T]"] == pytest.approx(q.mean_response_time("trail-0.25"), rel=1e-12)
    assert main(["llm", "--policies", "nosuch"]) == 2
    assert "unknown policy" in capsys.readouterr().err
    # the extension picks the format: f.png only; without one, both
    assert main(["llm", "--load", "0.9", "--plot", str(tmp_path / "f.png")]) == 0
    assert (tmp_path / "f.png").exists() and not (tmp_path / "f.pdf").exists()
    assert main(["llm", "--load", "0.9", "--plot", str(tmp_path / "g")]) == 0
    assert (tmp_path / "g.pdf").exists() and (tmp_path / "g.png").exists()
    from qtheory import llm_cli

    assert "extension of FILE picks the format" in " ".join(
        llm_cli.COMMAND.description.split() + [a.help for a in _llm_parser()._actions if a.help])


def _llm_parser():
    import argparse

    from qtheory import llm_cli

    p = argparse.ArgumentParser()
    llm_cli._add_arguments(p, False)
    return p
