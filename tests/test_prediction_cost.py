"""SkipPredict, DelayPredict and their baselines with prediction costs (Shahout & Mitzenmacher,
NeurIPS 2024): closed forms against the generic SOAP evaluator on the paper's ranks (1e-9 on
discrete laws, the generic route's accuracy on continuous ones), against independent closed forms
(SPRPT, the external-cost SkipPredict reference table), and against the simulator under the
statistical policy of ``tests/stats_policy.py``; the paper's printed server-model lemma is shown
to be off; break-even costs and instability loads.

The simulations run at 400,000 jobs (16 replications) by default and ten times that with
QTHEORY_FULL=1.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from stats_policy import assert_consistent, halfwidth, rng

import qtheory as qt
from qtheory import generic

FULL = os.environ.get("QTHEORY_FULL") == "1"
SCALE = 10 if FULL else 1


def _discrete(seed=3, n=14):
    """A small joint law with tied predictions and an atom at the DelayPredict limit 1.0."""
    g = rng(seed)
    x = g.choice([0.3, 0.7, 1.0, 1.5, 2.5, 4.0], n)
    y = np.round(x * g.exponential(1.0, n), 1)
    w = g.random(n) + 0.1
    pairs = qt.EmpiricalPairs(x, y, w)
    return qt.MG1(0.6 / pairs.size_law().mean, prediction=pairs)


def _cheap(x):
    return np.clip(np.asarray(x, float) / 5.0, 0.0, 1.0)


def _policies(cost_model, c1=0.05, c2=0.3):
    return [qt.SkipPredict(1.0, c1, c2, cost_model, cheap=_cheap),
            qt.OneBitCost(1.0, c1, cost_model, cheap=_cheap),
            qt.SPRPTCost(c2, cost_model),
            qt.DelayPredict(0.8, c2, cost_model),
            qt.DelayPredict(1.0, c2, cost_model)]


LOADS = [0.3, 0.6, 0.75]


# ---- closed forms against the generic SOAP evaluator ---------------------------------------------
@pytest.mark.parametrize("cost_model", ["server", "external"])
def test_closed_forms_equal_generic_on_discrete_laws(cost_model):
    """Every policy's closed form equals the generic evaluator on the paper's rank over the
    augmented jobs, to 1e-9 (exact sums on both sides; measured 2.5e-12 at most)."""
    q = _discrete()
    for pol in _policies(cost_model):
        closed = qt.total_cost(q, pol, LOADS).mean
        gen, err = qt.generic_mean_with_costs(q, pol, LOADS)
        assert np.all(err == 0)
        np.testing.assert_allclose(closed, gen, rtol=1e-9, err_msg=pol.name)
        # through the MG1 facade (the policy's closed-form hook)
        assert q.mean_response_time(pol) == pytest.approx(
            float(qt.total_cost(q, pol).mean), rel=1e-13)


def test_conditional_response_times_equal_generic():
    """E[T | x, y] of each class against the generic evaluator at the augmented atoms."""
    q = _discrete(seed=5)
    x, y = q.prediction.x, q.prediction.y
    for pol in (qt.SkipPredict(1.0, 0.05, 0.3, cheap=_cheap), qt.DelayPredict(1.0, 0.3)):
        aug, rank = pol.augmented(q)
        if isinstance(pol, qt.SkipPredict):
            ql = _cheap(x)
            ts = generic.response_time(aug, rank, x + 0.05, np.zeros_like(y))
            tl = generic.response_time(aug, rank, x + 0.35, 1.0 + y)
            want = (1 - ql) * ts + ql * tl
        else:
            want = generic.response_time(aug, rank, x + 0.3 * (x > 1.0), y)
        got = q.response_time(pol, x, y)
        np.testing.assert_allclose(got, want, rtol=1e-9, err_msg=pol.name)


def test_paper_ranks_with_age_keys_equal_constant_class_ranks():
    r"""The paper writes the FCFS classes as <k, -a>; the generic evaluator on that rank gives
    the same mean as the constant class ranks used here (the same schedule)."""
    q = _discrete()
    pol = qt.SkipPredict(1.0, 0.05, 0.3, cheap=_cheap)
    aug, rank = pol.augmented(q)
    band = 2.0 * (float(aug.size.atom_values.max()) + 10.0)
    c1, s = 0.05, 0.35

    def paper(d, a):
        d, a = np.broadcast_arrays(np.asarray(d, float), np.asarray(a, float))
        long_ = np.where(a < s, 3 * band - a, 4 * band + (d - 1) - (a - s))
        return np.where(a < c1, 2 * band - a, np.where(d >= 0.5, long_, band - a))

    lams = np.array(LOADS) / q.size.mean
    ours = generic.evaluate(aug, rank, lams).mean
    theirs = generic.evaluate(aug, qt.Rank(paper, "prediction", lambda d: np.array([c1, s])), lams).mean
    np.testing.assert_allclose(theirs, ours, rtol=1e-12)


@pytest.mark.parametrize("size, pred, pol", [
    (qt.Exponential(1.0), qt.ExponentialPrediction(), qt.SkipPredict(1.0, 0.05, 0.5)),
    (qt.Weibull(0.5, 1.0), qt.UniformPrediction(0.5), qt.DelayPredict(1.0, 0.5)),
], ids=["skip-exp-exp", "delay-weibull-uniform"])
def test_continuous_against_generic(size, pred, pol):
    """On continuous laws the generic route (24 and 48 quantile cells, Richardson) is accurate to
    about 1e-3: measured 3.7e-4 and 1.0e-3 (SkipPredict), 7.8e-3 and 1.4e-2 (DelayPredict at 24
    cells, converging: 2.3e-4 and 5.0e-4 at 96 cells). The closed forms converge to 1e-7 under
    halving both quadrature widths (:data:`qtheory.llm.prediction_cost.SIZE_WIDTH`, ``V_WIDTH``)."""
    q = qt.MG1(0.5, size, pred)
    closed = qt.total_cost(q, pol, [0.5, 0.7]).mean
    gen, err = qt.generic_mean_with_costs(q, pol, [0.5, 0.7], resolution=12 if not FULL else 24)
    tol = 0.03 if not FULL else 0.02
    np.testing.assert_allclose(gen, closed, rtol=tol)


@pytest.mark.parametrize("size, pred", [
    (size, pred) for size in (qt.Exponential(1.0), qt.Weibull(0.5, 1.0), qt.Uniform(0.5, 1.5))
    for pred in (qt.ExponentialPrediction(), qt.UniformPrediction(0.5), qt.LogNormalPrediction(0.5))
    if not (isinstance(size, qt.Weibull) and isinstance(pred, qt.LogNormalPrediction)) or FULL])
def test_sprpt_special_case_equals_the_sprpt_closed_form(size, pred):
    """SPRPT with free predictions is the library's SPRPT (an independent quadrature: Z-outer
    integrals of the size law's partial moments); measured <= 5.6e-10 relative."""
    q = qt.MG1(0.5, size, pred)
    ours = qt.total_cost(q, qt.SPRPTCost(0.0, "external"), [0.5, 0.9]).mean
    np.testing.assert_allclose(ours, q.sweep("sprpt", [0.5, 0.9]), rtol=1e-8)


def test_external_skip_predict_reference_table():
    """The derived table of the project notes (section 3.1; exponential cheap and expensive
    predictions on Exp(1) sizes), and the engine behind qt.skip_predict_external."""
    q = qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())
    ref = {0.5: (1.6523, 1.6780, 1.7340), 0.8: (3.1306, 3.1906, 3.3643), 0.9: (5.0920, 5.1699, 5.4270)}
    for j, T in enumerate((0.5, 1.0, 2.0)):
        got = qt.total_cost(q, qt.SkipPredict(T, cost_model="external"), [0.5, 0.8, 0.9]).mean
        np.testing.assert_allclose(got, [ref[r][j] for r in (0.5, 0.8, 0.9)], atol=5.1e-5)
        old = qt.skip_predict_external(q, T, loads=[0.5, 0.8, 0.9]).mean
        np.testing.assert_allclose(old, got, rtol=1e-14)


def test_limits():
    q = qt.MG1(0.7, qt.Uniform(0.5, 1.5), qt.ExponentialPrediction())
    fcfs = q.mean_response_time("fcfs")
    # DelayPredict with L beyond every size is FCFS; with free costs in both models
    for cm in ("server", "external"):
        assert q.mean_response_time(qt.DelayPredict(2.0, 0.5, cm)) == pytest.approx(fcfs, rel=1e-12)
    # nobody predicted long: SkipPredict is FCFS with the cheap phase added to every job
    never = qt.SkipPredict(1.0, 0.1, 0.5, "server", cheap=lambda x: np.zeros_like(x))
    q2 = qt.MG1(0.7, qt.Uniform(0.6, 1.6), qt.ExponentialPrediction())
    assert q.mean_response_time(never) == pytest.approx(q2.mean_response_time("fcfs"), rel=1e-12)
    # everyone long with c1 = 0 is the SPRPT baseline: the paper's SPRPT pays c2, not c1
    q3 = qt.MG1(0.6, qt.Exponential(1.0), qt.ExponentialPrediction())
    every = qt.SkipPredict(0.0, 0.0, 0.2, "server", cheap=lambda x: np.ones_like(x))
    assert q3.mean_response_time(every) == pytest.approx(
        q3.mean_response_time(qt.SPRPTCost(0.2)), rel=1e-12)
    # 1bit with free bits and exact thresholds is the library's PSPJF on qt.OneBit
    q4 = qt.MG1(0.6, qt.Exponential(1.0), qt.PerfectPrediction())
    exact_bit = qt.OneBitCost(1.0, 0.0, "external", cheap=qt.PerfectPrediction())
    q5 = qt.MG1(0.6, qt.Exponential(1.0), qt.OneBit(1.0))
    with pytest.raises(NotImplementedError):  # a perfect prediction law on a continuous size
        q4.mean_response_time(qt.SPRPTCost(0.0))
    q6 = qt.MG1(0.6, qt.Exponential(1.0), qt.ExponentialPrediction())
    assert q6.mean_response_time(exact_bit) == pytest.approx(q5.mean_response_time("pspjf"), rel=1e-9)


# ---- the paper's printed lemma ----------------------------------------------------------------------
def test_paper_printed_server_lemma_misses_the_own_prediction_phases():
    """The printed short-job lemma leaves out the job's own cheap phase (exactly c1 P(S) of the
    mean) and the long-job lemma its own prediction phases; the generic evaluator sides with the
    closed forms here, not with the printed ones."""
    q = _discrete()
    c1, c2 = 0.05, 0.3
    pol = qt.SkipPredict(1.0, c1, c2, cheap=_cheap)
    paper = qt.paper_lemma_server(q, 1.0, c1, c2, LOADS, cheap=_cheap)
    ours = qt.total_cost(q, pol, LOADS).mean
    gen, _ = qt.generic_mean_with_costs(q, pol, LOADS)
    np.testing.assert_allclose(gen, ours, rtol=1e-9)
    p_short = 1 - pol.p_long(q)
    parts = pol._parts(q)
    lams = np.array(LOADS) / q.size.mean
    short = np.array([pol._time(parts, lam)[0] - pol._time(parts, lam)[1] for lam in lams])
    np.testing.assert_allclose(short - paper["mean_short"], c1 * p_short, rtol=1e-12)
    assert np.all(ours - paper["mean"] > 0.1)


# ---- simulation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("pol", [qt.SkipPredict(1.0, 0.2, 0.5), qt.DelayPredict(1.0, 0.5),
                                 qt.OneBitCost(1.0, 0.2)], ids=["skip", "delay", "1bit"])
def test_server_model_against_simulation(pol):
    """The library's SOAP simulator on the augmented jobs (prediction phases as work, the rank
    as per-job tables). At 400,000 jobs the policy half-width is about 0.13 at load 0.5, below
    half the printed lemma's error for SkipPredict (0.56), which is rejected too."""
    q = qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())
    s = qt.simulate_prediction_cost(q, pol, jobs=400_000 * SCALE, seed=31, replications=16)
    assert_consistent(float(qt.total_cost(q, pol).mean), s, pol.name)
    if isinstance(pol, qt.SkipPredict) and type(pol) is qt.SkipPredict:
        printed = float(qt.paper_lemma_server(q, 1.0, 0.2, 0.5)["mean"][0])
        assert abs(s.mean - printed) > halfwidth(s.ci, s.replications), "the printed lemma"


# ---- stability, break-even costs ---------------------------------------------------------------------
def test_instability_loads():
    q = qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())
    c1, c2 = 0.05, 0.5
    skip = qt.SkipPredict(1.0, c1, c2)
    p_long = 2 * math.sqrt(1.0) * float(__import__("scipy").special.kv(1, 2.0))  # 2 sqrt(T) K1(2 sqrt T)
    assert skip.p_long(q) == pytest.approx(p_long, rel=1e-9)
    want = {skip: 1 / (1 + c1 + c2 * p_long), qt.SPRPTCost(c2): 1 / (1 + c2),
            qt.OneBitCost(1.0, c1): 1 / (1 + c1), qt.DelayPredict(1.0, c2): 1 / (1 + c2 * math.exp(-1))}
    for pol, rho in want.items():
        assert qt.instability_load(q, pol) == pytest.approx(rho, rel=1e-9)
        assert math.isfinite(float(qt.total_cost(q, pol, rho * 0.999)))
        assert float(qt.total_cost(q, pol, min(rho * 1.001, 0.999))) == math.inf
        assert qt.instability_load(q, type(pol)(**_kw(pol, "external"))) == 1.0
    assert qt.instability_load(q, "fcfs") == 1.0


def _kw(pol, cost_model):
    if isinstance(pol, qt.SPRPTCost):
        return {"expensive_cost": pol.expensive_cost, "cost_model": cost_model}
    if isinstance(pol, qt.OneBitCost):
        return {"threshold": pol.threshold, "cheap_cost": pol.cheap_cost, "cost_model": cost_model}
    if isinstance(pol, qt.DelayPredict):
        return {"limit": pol.limit, "expensive_cost": pol.expensive_cost, "cost_model": cost_model}
    return {"threshold": pol.threshold, "cheap_cost": pol.cheap_cost,
            "expensive_cost": pol.expensive_cost, "cost_model": cost_model}


@pytest.mark.parametrize("cost_model, c1", [("server", 0.01), ("external", 0.5)])
def test_break_even_costs(cost_model, c1):
    """At each break-even c2, SkipPredict's cost equals the baseline's; slightly below (above for
    SPRPT) SkipPredict is cheaper."""
    q = qt.MG1(0.5, qt.Exponential(1.0), qt.UniformPrediction(0.5))
    loads = [0.7, 0.9]
    be = qt.break_even_cost(q, 1.0, c1, loads, cost_model)
    for i, rho in enumerate(loads):
        def cost(pol, rho=rho):
            return float(qt.total_cost(q, pol, rho))

        def skip(c2):
            return cost(qt.SkipPredict(1.0, c1, c2, cost_model))

        for c2, base in ((be.below_fcfs[i], cost(qt.FCFS())),
                         (be.below_onebit[i], cost(qt.OneBitCost(1.0, c1, cost_model)))):
            assert c2 > 0
            assert skip(c2) == pytest.approx(base, rel=1e-7)
            assert skip(0.99 * c2) < base < skip(1.01 * c2)
        c2 = be.above_sprpt[i]
        assert c2 > 0
        assert skip(c2) == pytest.approx(cost(qt.SPRPTCost(c2, cost_model)), rel=1e-7)
        assert skip(1.01 * c2) < cost(qt.SPRPTCost(1.01 * c2, cost_model))
    # inside the window SkipPredict beats all three (server: the whole window; external at load
    # 0.7 it is empty: 0.814 > 0.805, SkipPredict never beats both FCFS and SPRPT there)
    lo, hi = be.window[-1]
    assert lo < hi
    c2 = (lo + hi) / 2
    base = [float(qt.total_cost(q, p, 0.9)) for p in
            (qt.FCFS(), qt.OneBitCost(1.0, c1, cost_model), qt.SPRPTCost(c2, cost_model))]
    assert float(qt.total_cost(q, qt.SkipPredict(1.0, c1, c2, cost_model), 0.9)) < min(base)
    assert (be.window[0, 0] < be.window[0, 1]) == (cost_model == "server")
    assert "SkipPredict can win" in str(be.table()) and "<table>" in be._repr_html_()


# ---- results, errors ------------------------------------------------------------------------------------
def test_results_and_tables():
    q = qt.MG1(0.7, qt.Exponential(1.0), qt.ExponentialPrediction())
    pol = qt.SkipPredict(1.0, 0.5, 2.0, "external")
    r = qt.total_cost(q, pol)
    assert isinstance(r.mean, float) and float(r) == r.cost == pytest.approx(r.mean + 0.5 + 2 * r.p_long)
    rs = qt.total_cost(q, pol, [0.5, 0.7])
    assert rs.mean.shape == (2,) and "<table>" in rs._repr_html_()
    with pytest.raises(TypeError, match="one load"):
        float(rs)
    t = qt.compare_prediction_costs(q, 1.0, 0.5, 2.0, limit=1.0, cost_model="external", loads=[0.9])
    assert [r[0] for r in t.rows] == ["FCFS", "1bit(T=1, c1=0.5, external)", "SPRPT(c2=2, external)",
                                      "DelayPredict(L=1, c2=2, external)",
                                      "SkipPredict(T=1, c1=0.5, c2=2, external)"]
    assert [r[-1] for r in t.rows] == ["", "", "", "", "*"]
    assert repr(pol) == pol.name


def test_bad_input():
    q = qt.MG1(0.7, qt.Exponential(1.0), qt.ExponentialPrediction())
    with pytest.raises(ValueError, match="cost_model"):
        qt.SkipPredict(1.0, cost_model="gpu")
    with pytest.raises(ValueError, match="cheap_cost"):
        qt.SkipPredict(1.0, -0.1)
    with pytest.raises(ValueError, match="limit"):
        qt.DelayPredict(0.0)
    with pytest.raises(TypeError, match="cheap"):
        qt.SkipPredict(1.0, cheap=3.0)
    with pytest.raises(NotImplementedError, match="augmented"):
        qt.SkipPredict(1.0).rank(0.0, 0.0)
    with pytest.raises(NotImplementedError, match="simulate_prediction_cost"):
        qt.simulate(q, qt.SkipPredict(1.0, 0.01, 0.05), jobs=1000)
    with pytest.raises(TypeError, match="servers"):
        qt.total_cost(qt.MGk(2, 1.0, qt.Exponential(1.0), qt.ExponentialPrediction()),
                      qt.SkipPredict(1.0))
    with pytest.raises(TypeError, match="policy must be"):
        qt.total_cost(q, "sprpt")
    with pytest.raises(ValueError, match="unstable"):
        qt.simulate_prediction_cost(q, qt.SPRPTCost(0.5), jobs=10_000)
    with pytest.raises(NotImplementedError, match="OneBitJoint|joint"):
        qt.total_cost(qt.MG1(0.5, qt.Exponential(1.0), qt.OneBit(1.0)),
                      qt.SkipPredict(1.0, cheap=lambda x: np.ones_like(x)))
