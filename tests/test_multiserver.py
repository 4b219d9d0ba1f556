"""Tests of qtheory.models.multiserver (M/G/k): Erlang C, exact cases, bounds against simulation."""

from __future__ import annotations

import math
import os

import mpmath as mp
import numpy as np
import pytest
from scipy import stats
from stats_policy import Estimate, assert_above, assert_below, assert_consistent, rng

import qtheory as qt
from qtheory import soap
from qtheory.laws._quadrature import size_rule
from qtheory.models.multiserver import MGk, _joint_bound, _las_bound, _mixed_lower
from qtheory.sim import simulate_trace

FULL = os.environ.get("QTHEORY_FULL") == "1"
#: independent replications of every simulation (the policy of tests/stats_policy.py: >= 16)
REPS = 16


# ---- Erlang C ---------------------------------------------------------------------------------
# ../shared/reference/soap_multiserver.md §5.6 (mu = 1): (k, lambda, P_Q, E[T]), printed to 6 decimals
ERLANG_TABLE = [
    (2, 1.0, 0.333333, 1.333333),
    (2, 1.6, 0.711111, 2.777778),
    (3, 2.0, 0.444444, 1.444444),
    (4, 3.2, 0.596432, 1.745541),
    (10, 6.0, 0.101299, 1.025325),
    (10, 9.0, 0.668732, 1.668732),
]


def _erlang_c_mp(k, a):
    """Erlang C from its factorial definition in 40-digit arithmetic (independent route)."""
    with mp.workdps(40):
        a = mp.mpf(a)
        top = a**k / mp.factorial(k) * k / (k - a)
        return top / (mp.fsum(a**i / mp.factorial(i) for i in range(k)) + top)


def _mmk_mean_mp(k, lam, mu=1.0):
    """M/M/k FCFS E[T] = C(k, a)/(k mu - lam) + 1/mu from the factorial Erlang C (independent of
    qtheory.models._erlang), as a float."""
    with mp.workdps(40):
        c = _erlang_c_mp(k, mp.mpf(lam) / mp.mpf(mu))
        return float(c / (k * mp.mpf(mu) - lam) + 1 / mp.mpf(mu))


@pytest.mark.parametrize("k, lam, pq, et", ERLANG_TABLE)
def test_erlang_c_reference_table(k, lam, pq, et):
    res = qt.mmk_fcfs(k, lam, 1.0)
    # the table's printed precision
    assert abs(res["p_wait"] - pq) < 5.1e-7
    assert abs(res["mean_response_time"] - et) < 5.1e-7
    # the same numbers from the factorial formula at 40 digits, to 1e-12
    c = _erlang_c_mp(k, lam)
    assert abs(res["p_wait"] - float(c)) < 1e-12
    assert abs(res["mean_response_time"] - float(c / (k - lam) + 1)) < 1e-12
    m = MGk(servers=k, arrival_rate=lam, size=qt.Exponential(mean=1.0))
    assert abs(m.mean_response_time("fcfs") - _mmk_mean_mp(k, lam)) < 1e-12


def test_erlang_c_rational_values_to_1e12():
    # M/M/2 at rho = 1/2 and 4/5, M/M/3 at a = 2: P_Q = 1/3, 32/45, 4/9; E[T] = 4/3, 25/9, 13/9
    assert abs(qt.erlang_c(2, 1.0) - 1 / 3) < 1e-14
    assert abs(qt.erlang_c(2, 1.6) - 32 / 45) < 1e-14
    assert abs(qt.erlang_c(3, 2.0) - 4 / 9) < 1e-14
    assert abs(qt.mmk_fcfs(2, 1.6, 1.0)["mean_response_time"] - 25 / 9) < 1e-14
    assert abs(qt.mmk_fcfs(3, 2.0, 1.0)["mean_response_time"] - 13 / 9) < 1e-14


@pytest.mark.parametrize("rho", [0.1, 0.5, 0.8, 0.95, 0.999])
@pytest.mark.parametrize("mu", [0.5, 1.0, 3.0])
def test_mm2_closed_form(rho, mu):
    res = qt.mmk_fcfs(2, 2 * rho * mu, mu)
    assert abs(res["p_wait"] - 2 * rho**2 / (1 + rho)) < 1e-12
    assert abs(res["mean_response_time"] - 1 / (mu * (1 - rho**2))) < 1e-12 / (1 - rho)
    assert abs(res["mean_queue_length"] - res["p_wait"] * rho / (1 - rho)) < 1e-9
    assert abs(res["mean_number_in_system"] - 2 * rho * mu * res["mean_response_time"]) < 1e-9


def test_erlang_large_k_and_m_m_1():
    # k = 1: C = rho; large k: no overflow, agrees with 40-digit arithmetic
    assert abs(qt.erlang_c(1, 0.7) - 0.7) < 1e-15
    assert abs(qt.erlang_c(200, 190.0) - float(_erlang_c_mp(200, 190))) < 1e-12
    assert abs(qt.erlang_b(2, 1.0) - 0.2) < 1e-15


# ---- priority classes ---------------------------------------------------------------------------
def test_mmk_priority_one_server_equals_kleinrock():
    # k = 1: preemptive-resume priority (Kleinrock vol. II), E[S] = 1/mu, E[S^2] = 2/mu^2
    lams, mu = np.array([0.2, 0.3, 0.25]), 1.25
    sig = np.cumsum(lams / mu)
    sig_prev = np.concatenate([[0.0], sig[:-1]])
    m2 = 2 / mu**2
    lam_cum = np.cumsum(lams)
    want = 1 / mu / (1 - sig_prev) + lam_cum * m2 / (2 * (1 - sig_prev) * (1 - sig))
    got = qt.mmk_priority(1, lams, mu)
    assert np.max(np.abs(got / want - 1)) < 1e-12


def test_mmk_priority_against_trace_simulation():
    # k = 2, two classes, exponential sizes, class = prediction under PSPJF (static rank, FCFS ties)
    k, lams, mu = 2, np.array([0.6, 0.8]), 1.0
    want = qt.mmk_priority(k, lams, mu)
    means = []
    for rep in range(REPS):
        g = rng(100 + rep)
        n = 60_000
        arr = np.cumsum(g.exponential(1 / lams.sum(), n))
        cls = (g.random(n) >= lams[0] / lams.sum()).astype(float)
        sizes = g.exponential(1 / mu, n)
        t = simulate_trace("pspjf", arr, sizes, predictions=cls, servers=k)
        keep = slice(n // 10, None)
        means.append([t[keep][cls[keep] == c].mean() for c in (0.0, 1.0)])
    means = np.array(means)
    ci95 = stats.t.ppf(0.975, REPS - 1) * means.std(axis=0, ddof=1) / math.sqrt(REPS)
    for c in (0, 1):
        assert_consistent(want[c], Estimate(float(means[:, c].mean()), float(ci95[c]), REPS), f"class {c}")
    # the class-0 jobs alone are an M/M/2 (lower classes are invisible to them), and all classes
    # together hold the M/M/2 number in system (Little): factorial Erlang C, 40 digits
    assert abs(want[0] - _mmk_mean_mp(k, lams[0], mu)) < 1e-12
    assert abs(np.sum(lams * want) - lams.sum() * _mmk_mean_mp(k, lams.sum(), mu)) < 1e-12


# ---- exact cases and normalization --------------------------------------------------------------
@pytest.mark.parametrize("policy", ["fcfs", "srpt", "psjf", "las", "sjf", "pspjf", "sprpt", "spjf"])
def test_k1_collapses_to_mg1(policy):
    size, pred = qt.Weibull(0.5), qt.LogNormalPrediction(sigma=0.5)
    m = MGk(1, 0.8, size, pred, server_speed=1.0)
    b = m.bounds(policy)
    want = qt.MG1(0.8, size, pred).mean_response_time(policy)
    assert b.exact and b.lower == b.upper == b.value == float(b)
    assert abs(b.value / want - 1) < 1e-12


def test_speed_normalization_is_time_scaling():
    # one server of speed 2 == sizes halved (independent route: a rescaled law of the same family)
    m = MGk(1, 1.5, qt.Exponential(1.0), server_speed=2.0)
    q = qt.MG1(1.5, qt.Exponential(0.5))
    for p in ("srpt", "psjf", "fcfs"):
        assert abs(m.mean_response_time(p) / q.mean_response_time(p) - 1) < 1e-10
    # k servers of speed 1/k with sizes S == k unit-speed servers with sizes k S
    a = MGk(4, 0.8, qt.Weibull(0.5, mean=1.0), server_speed="1/k")
    b = MGk(4, 0.8, qt.Weibull(0.5, mean=4.0), server_speed=1.0)
    assert abs(a.load - 0.8) < 1e-15 and abs(b.load - 0.8) < 1e-15
    for p in ("srpt", "psjf", "las"):
        ba, bb = a.bounds(p), b.bounds(p)
        assert abs(ba.lower / bb.lower - 1) < 1e-9 and abs(ba.upper / bb.upper - 1) < 1e-9


@pytest.mark.parametrize("k", [1, 2, 4])
def test_k1_formulas_of_the_bounds_are_the_exact_mg1_ones(k):
    # at k = 1 the static / monotone bounds reduce to the exact SOAP formulas; at k > 1 they exceed
    size, lam = qt.LogNormal(1.0), 0.85
    j = soap._perfect_joint(size)
    psjf = _joint_bound(j, lam, k, np.minimum(j.v, np.inf), k - 1)
    las = _las_bound(size, lam, k)
    pred = qt.UniformPrediction(0.5)
    jp = pred.joint(size)
    pspjf = _joint_bound(jp, lam, k, jp.v / 0.5, k - 1)
    exact = (soap.psjf_mean(size, lam)[0], soap.las_mean(size, lam)[0], soap.pspjf_mean(jp, lam)[0])
    if k == 1:
        for got, want in zip((psjf, las, pspjf), exact, strict=True):
            assert abs(got / want - 1) < 1e-10
    else:
        assert psjf > exact[0] and las > exact[1] and pspjf > exact[2]
    srpt = _joint_bound(j, lam, 1, j.v, 1)
    assert srpt >= soap.srpt_mean(size, lam)[0]


def test_ps_is_insensitive():
    # M/G/k-PS is a symmetric queue: the Erlang C value for any size law (checked by simulation)
    m = MGk(3, 2.1, qt.Uniform(0.0, 2.0))
    want = _mmk_mean_mp(3, 2.1)
    assert abs(m.mean_response_time("ps") - want) < 1e-12
    r = qt.simulate(m, "ps", jobs=400_000, seed=11, replications=REPS)
    assert_consistent(want, r, "M/G/3-PS")


@pytest.mark.parametrize("policy", ["fcfs", "las", "gittins"])
def test_blind_policies_exact_for_exponential_sizes(policy):
    m = MGk(4, 3.0, qt.Exponential(1.0))
    want = _mmk_mean_mp(4, 3.0)
    assert abs(m.mean_response_time(policy) - want) < 1e-12
    try:
        r = qt.simulate(m, policy, jobs=400_000 if policy != "gittins" else 80_000, seed=3,
                        replications=REPS)
    except NotImplementedError as e:
        pytest.skip(f"simulator: {e}")
    assert_consistent(want, r, f"M/M/4 {policy}")


def test_fcfs_approximation_is_labelled_and_exact_only_for_exponential():
    # M/M/4 at a = 3.2 by the textbook Erlang C sum in 30-digit mpmath (independent of _erlang)
    mp.mp.dps = 30
    a, k = mp.mpf("3.2"), 4
    tail = a**k / mp.factorial(k) * k / (k - a)
    pq = tail / (sum(a**i / mp.factorial(i) for i in range(k)) + tail)
    mmk = float(1 + pq / (k - a))
    m = MGk(4, 3.2, qt.Exponential(1.0))
    assert abs(m.fcfs_approximation() - mmk) < 1e-12
    d = MGk(4, 3.2, qt.Deterministic(1.0))
    exact = d.mean_response_time("fcfs")      # M/D/4: Crommelin's chain, labelled exact
    assert exact.exact and "Crommelin" in exact.method
    approx = d.fcfs_approximation()           # (1 + 0)/2 of the M/M/4 wait, plus 1
    assert abs(approx - (1 + 0.5 * (mmk - 1))) < 1e-12
    b = d.bounds("fcfs")                      # bounded sizes: a true upper bound exists
    assert not b.exact and b.lower <= approx <= b.upper
    r = qt.simulate(d, "fcfs", jobs=200_000, seed=5, replications=REPS)
    assert_above(b.lower, r, "M/D/4 lower bound")
    assert_below(b.upper, r, "M/D/4 upper bound")
    assert_consistent(float(exact), r, "M/D/4 exact (Crommelin)")


# ---- bounds against simulation ------------------------------------------------------------------
def _check_bracket(m, policy, jobs, seed):
    b = m.bounds(policy)
    try:
        r = qt.simulate(m, policy, jobs=jobs, seed=seed, replications=REPS)
    except NotImplementedError as e:
        pytest.skip(f"simulator: {e}")
    assert not b.exact
    # one-sided checks at the policy level: neither bound is contradicted by the simulation (the
    # upper bounds' values are pinned by the *_upper_bounds_pinned tests, where a shrunken bound
    # shows; a simulation cannot see one that stays above the mean)
    assert_above(b.lower, r, f"{policy} lower bound")
    assert_below(b.upper, r, f"{policy} upper bound")
    assert math.isinf(b.upper) or b.upper > b.lower
    return b, r


SIZES = {"exp": qt.Exponential(1.0), "weibull": qt.Weibull(0.5), "lognormal": qt.LogNormal(1.0)}
PREDS = {"perfect": qt.PerfectPrediction(), "lognormal": qt.LogNormalPrediction(sigma=0.5)}


# The whole grid (72 cases) would make 552 statistical assertions, more than half the suite's
# budget (tests/stats_policy.py). By default a subset that meets every k, load, size law and
# prediction law at least twice (8 cases, 62 assertions); under QTHEORY_FULL=1 (more jobs) every
# (k, load) pair with two of the six (size, prediction) pairs in rotation (24 cases, 184).
_LAWS = [(size, pred) for size in SIZES for pred in PREDS]
_GRID = [(k, load, *_LAWS[(i + j) % 6]) for i, (k, load) in
         enumerate((k, load) for k in (2, 4, 8, 16) for load in (0.5, 0.8, 0.95)) for j in (0, 3)] if FULL else [
    (2, 0.5, "exp", "perfect"), (2, 0.95, "weibull", "lognormal"), (4, 0.8, "lognormal", "perfect"),
    (4, 0.95, "exp", "lognormal"), (8, 0.5, "weibull", "perfect"), (8, 0.8, "lognormal", "lognormal"),
    (16, 0.95, "weibull", "perfect"), (16, 0.8, "exp", "lognormal")]


@pytest.mark.slow
@pytest.mark.parametrize("k, load, size, pred", _GRID)
def test_bounds_bracket_simulation_grid(k, load, size, pred):
    m = MGk(k, load * k / SIZES[size].mean, SIZES[size], PREDS[pred])
    jobs = 400_000 if FULL else 80_000
    pols = ["srpt", "sprpt", "pspjf"] + (["psjf", "las"] if pred == "perfect" else [])
    for i, p in enumerate(pols):
        if size == "exp" and p == "las":
            continue                          # exact there (Erlang C), tested above
        b, _ = _check_bracket(m, p, jobs, seed=1000 * k + 10 * i + int(100 * load))
        if pred == "perfect" or p == "srpt":
            assert math.isfinite(b.upper)     # with exact predictions every bound is finite


@pytest.mark.parametrize("pred", [qt.BoundedMultiplicative(0.5, 2.0), qt.UniformPrediction(0.5),
                                  qt.BoundedMultiplicative(0.7, 1.5, law="loguniform")])
@pytest.mark.parametrize("k, load", [(2, 0.8), (4, 0.95), (16, 0.9)])
def test_new_pspjf_k_bound_against_simulation(pred, k, load):
    size = qt.Weibull(0.5)
    m = MGk(k, load * k, size, pred)
    b, r = _check_bracket(m, "pspjf", 400_000 if FULL else 60_000, seed=k)
    assert math.isfinite(b.upper) and "beta" in b.method
    # the bound is monotone in the error: the exact-prediction bound is smaller
    assert MGk(k, load * k, size, qt.PerfectPrediction()).bounds("pspjf").upper < b.upper


def test_sprpt_k_bounds_where_they_exist():
    # estimates never below sizes (beta = 1): L(y) = y
    m = MGk(4, 3.2, qt.LogNormal(1.0), qt.BoundedMultiplicative(1.0, 2.0))
    b, _ = _check_bracket(m, "sprpt", 60_000, seed=21)
    assert math.isfinite(b.upper)
    # bounded sizes: L = sup S even with unbounded log-normal errors
    u = MGk(4, 3.2, qt.Uniform(0.0, 2.0), qt.LogNormalPrediction(sigma=1.0))
    b, _ = _check_bracket(u, "sprpt", 60_000, seed=22)
    assert math.isfinite(b.upper)
    # SRPT-Bounce with beta >= 1 never reaches its rising phase: the SPRPT-k bound applies
    assert m.bounds("srpt_bounce").upper == m.bounds("sprpt").upper
    # under-estimates and unbounded sizes: lower bound only, said so
    w = MGk(4, 3.2, qt.Weibull(0.5), qt.BoundedMultiplicative(0.5, 2.0))
    b = w.bounds("sprpt")
    assert math.isinf(b.upper) and "lower bound only" in b.method
    assert b.lower == w.bounds("srpt").lower
    assert math.isinf(w.bounds("srpt_bounce").upper) and "lower bound only" in w.bounds("srpt_bounce").method


def test_gittins_on_dhr_law_uses_fb_bound():
    m = MGk(4, 3.2, qt.Weibull(0.5))
    assert m.bounds("gittins").upper == m.bounds("las").upper
    assert math.isinf(MGk(4, 3.2, qt.LogNormal(1.0)).bounds("gittins").upper)
    _check_bracket(m, "gittins", 40_000, seed=9)      # skips until the simulator runs Gittins-k


def test_verify_uses_the_bracket():
    m = MGk(servers=4, arrival_rate=3.2, size=qt.Exponential(mean=1.0),
            prediction=qt.LogNormalPrediction(sigma=0.5))
    # mean_response_time("sprpt") is now a labelled approximation: the simulation lies in its
    # measured band, which lies in the proven bracket
    a = m.mean_response_time("sprpt")
    b = m.bounds("sprpt")
    assert a.kind == "approx" and b.lower <= a.interval[0] <= a.interval[1] <= b.upper
    r = qt.simulate(m, "sprpt", jobs=60_000, seed=1, replications=REPS)
    assert_above(a.interval[0], r, "SPRPT-4 approximation band: lower side")
    assert_below(a.interval[1], r, "SPRPT-4 approximation band: upper side")
    v = qt.verify(m, "sprpt", jobs=60_000, seed=1, replications=REPS)   # approximations: the bracket
    assert math.isnan(v.formula) and (v.lower, v.upper) == (b.lower, b.upper)
    assert_above(v.lower, v.sim, "verify: lower")
    assert_below(v.upper, v.sim, "verify: upper")
    v = qt.verify(m, "fcfs", jobs=400_000, seed=2, replications=REPS)       # exact: Erlang C
    assert abs(v.formula - _mmk_mean_mp(4, 3.2)) < 1e-12
    assert_consistent(v.formula, v.sim, "verify: Erlang C")


# ---- heavy traffic, consistency ------------------------------------------------------------------
def test_srpt_k_heavy_traffic_ratio_tends_to_one():
    loads = [0.9, 0.99, 0.999, 0.9999]
    ratios = []
    for rho in loads:
        b = MGk(4, 4 * rho, qt.Exponential(1.0)).bounds("srpt")
        ratios.append(b.upper / b.lower)
    # measured: 4.22, 2.71, 1.42, 1.076
    assert all(a > b for a, b in zip(ratios, ratios[1:], strict=False))
    assert ratios[-1] < 1.1
    # the gap stays O(log 1/(1-rho)) while the pooled SRPT-1 grows like 1/((1-rho) log(1/(1-rho)))
    m = MGk(4, 4 * 0.9999, qt.Exponential(1.0))
    assert m.bounds("srpt").upper - m.bounds("srpt").lower <= 2 * (math.log(1e4) + 1)


@pytest.mark.parametrize("size", list(SIZES.values()))
def test_per_size_bound_averages_to_the_mean_bound_and_beats_the_simplified_one(size):
    m = MGk(4, 3.6 * size.mean, size)
    x, w = size_rule(size)
    for p in ("srpt", "psjf") + (() if isinstance(size, qt.Exponential) else ("las",)):
        assert abs(m.upper_bound_conditional(p, x) @ w / m.bounds(p).upper - 1) < 1e-9
    assert m.bounds("srpt").upper <= m.srpt_simplified_upper()
    # per-size bound is increasing in x and at least the job's own service time
    ub = m.upper_bound_conditional("srpt", x)
    assert np.all(np.diff(ub) > 0) and np.all(ub >= x)


# ---- the upper bounds pinned: recomputed here from their formulas on discrete laws ---------------
# The bounds sit 2-4x above simulated means, so a simulation cannot see a bound shrink (a wrong
# (k-1) E[S] for (k-1) sup S, L(y) = y for y/beta); these sums, written from the docstrings of
# MGk.bounds / qtheory.models.multiserver (speed-1/k normalization: sizes S, arrival rate lam c, times
# multiplied by c = 1/(k s)), pin every finite upper bound to rounding.
_X = np.array([0.25, 0.5, 1.0, 2.0, 6.0])
_P = np.array([0.3, 0.25, 0.2, 0.15, 0.1])


def _tagged_sum(x, y, w, lam, k, L, c_L, residence_in_denominator=True):
    """sum_i w_i [(lam B(y_i)/(2(1 - lam A_le(y_i))) + c_L L_i)/(1 - lam A_lt(y_i)) + k x_i/(1 - lam A_lt(y_i))]
    with A_le(y) = E[X; Y <= y], A_lt(y) = E[X; Y < y], B(y) = E[X^2; Y <= y], by explicit sums
    (the last term k x_i without the denominator when ``residence_in_denominator`` is False)."""
    total = 0.0
    for i in range(len(x)):
        a_le = sum(w[j] * x[j] for j in range(len(x)) if y[j] <= y[i])
        a_lt = sum(w[j] * x[j] for j in range(len(x)) if y[j] < y[i])
        b = sum(w[j] * x[j] ** 2 for j in range(len(x)) if y[j] <= y[i])
        own = k * x[i] / (1 - lam * a_lt) if residence_in_denominator else k * x[i]
        total += w[i] * ((lam * b / (2 * (1 - lam * a_le)) + c_L * L[i]) / (1 - lam * a_lt) + own)
    return total


@pytest.mark.parametrize("k, load, speed", [(2, 0.8, 1.0), (4, 0.9, 0.5), (3, 0.6, "1/k")])
def test_size_based_upper_bounds_pinned(k, load, speed):
    law = qt.Empirical(_X, weights=_P)
    s = 1.0 / k if speed == "1/k" else speed
    lam = load * k * s / law.mean
    m = MGk(k, lam, law, server_speed=speed)
    c = 1.0 / (k * s)
    lc = lam * c                                      # the arrival rate of the time-scaled system
    x, w, smax = _X, _P, float(_X.max())
    m1, m2 = float(w @ x), float(w @ x**2)
    want = {
        # FCFS-k: lam E[S^2]/(2(1 - rho)) + (k - 1) sup S + k E[S]
        "fcfs": c * (lc * m2 / (2 * (1 - load)) + (k - 1) * smax + k * m1),
        # SRPT-k: L(x) = x, c_L = k;  PSJF-k: L(x) = x, c_L = k - 1;  SJF-k: L = sup S, c_L = k,
        # own service k x outside the denominator
        "srpt": c * _tagged_sum(x, x, w, lc, k, x, k),
        "psjf": c * _tagged_sum(x, x, w, lc, k, x, k - 1),
        "sjf": c * _tagged_sum(x, x, w, lc, k, np.full(x.size, smax), k, residence_in_denominator=False),
    }
    # FB-k: E[(lam E[min(S, x)^2]/(2(1 - rb_x)) + (2k - 1) x)/(1 - rb_x)], rb_x = lam E[min(S, x)]
    fb = 0.0
    for xi, wi in zip(x, w, strict=True):
        rb = lc * float(w @ np.minimum(x, xi))
        fb += wi * (lc * float(w @ np.minimum(x, xi) ** 2) / (2 * (1 - rb)) + (2 * k - 1) * xi) / (1 - rb)
    want["las"] = c * fb
    for pol, v in want.items():
        b = m.bounds(pol)
        assert not b.exact and b.lower < b.upper, pol
        assert b.upper == pytest.approx(v, rel=1e-12), pol
    # the per-size forms at the atoms
    le = np.array([float(w @ (x * (x <= xi))) for xi in x])
    lt = np.array([float(w @ (x * (x < xi))) for xi in x])
    b2 = np.array([float(w @ (x**2 * (x <= xi))) for xi in x])
    for pol, c_L in (("srpt", k), ("psjf", k - 1)):
        ref = c * (lc * b2 / (2 * (1 - lc * le)) + c_L * x + k * x) / (1 - lc * lt)
        np.testing.assert_allclose(m.upper_bound_conditional(pol, x), ref, rtol=1e-12)


def test_fcfs_k_bound_pinned_on_a_continuous_law():
    # Uniform(0, 2): E[S] = 1, E[S^2] = 4/3, sup S = 2 (sup S != E[S], unlike Deterministic)
    for k, load in ((2, 0.7), (8, 0.95)):
        m = MGk(k, load * k, qt.Uniform(0.0, 2.0))     # unit-speed servers: c = 1/k, lam c = load
        want = (load * (4 / 3) / (2 * (1 - load)) + (k - 1) * 2.0 + k * 1.0) / k
        b = m.bounds("fcfs")
        assert b.lower < b.upper == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("k, load", [(2, 0.8), (4, 0.95)])
def test_prediction_upper_bounds_pinned(k, load):
    gen = np.random.default_rng(12)
    xs = np.repeat(_X, 3)
    ws = np.repeat(_P, 3) / 3
    # PSPJF-k under estimates in [beta x, alpha x] (beta = 0.5 attained): L(y) = min(y/beta, sup S)
    f = np.concatenate([[0.5], gen.uniform(0.5, 2.0, xs.size - 2), [2.0]])
    pairs = qt.EmpiricalPairs(xs, xs * f, ws)
    lam = load * k / float(ws @ xs)
    m = MGk(k, lam, prediction=pairs)
    c, smax = 1.0 / k, float(xs.max())
    lc = lam * c
    y = xs * f
    beta = float(np.min(y / xs))
    assert beta == 0.5
    b = m.bounds("pspjf")
    want = c * _tagged_sum(xs, y, ws, lc, k, np.minimum(y / beta, smax), k - 1)
    assert b.lower < b.upper and "beta" in b.method
    assert b.upper == pytest.approx(want, rel=1e-12)
    # SPRPT-k, bounded sizes: L = sup S, c_L = k
    want = c * _tagged_sum(xs, y, ws, lc, k, np.full(xs.size, smax), k)
    assert m.bounds("sprpt").upper == pytest.approx(want, rel=1e-12)
    # per pair: (lam B(y)/(2(1 - lam A_le(y))) + (k - 1) min(y/beta, sup S) + k x)/(1 - lam A_lt(y))
    got = m.upper_bound_conditional("pspjf", xs, y)
    le = np.array([float(ws @ (xs * (y <= v))) for v in y])
    lt = np.array([float(ws @ (xs * (y < v))) for v in y])
    b2 = np.array([float(ws @ (xs**2 * (y <= v))) for v in y])
    ref = c * (lc * b2 / (2 * (1 - lc * le)) + (k - 1) * np.minimum(y / beta, smax) + k * xs) / (1 - lc * lt)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    # estimates never below sizes (beta = 1): SPRPT-k and SRPT-Bounce-k with L(y) = min(y, sup S)
    over = qt.EmpiricalPairs(xs, xs * np.maximum(f, 1.0), ws)
    mo = MGk(k, lam, prediction=over)
    yo = xs * np.maximum(f, 1.0)
    want = c * _tagged_sum(xs, yo, ws, lc, k, np.minimum(yo, smax), k)
    assert mo.bounds("sprpt").upper == pytest.approx(want, rel=1e-12)
    assert mo.bounds("srpt_bounce").upper == pytest.approx(want, rel=1e-12)


# ---- lower bounds ---------------------------------------------------------------------------------
@pytest.mark.parametrize("k, rho", [(1, 0.5), (2, 0.8), (4, 0.95), (16, 0.99)])
def test_mixed_lower_bound_against_mpmath_for_exponential_sizes(k, rho):
    # E[S]/s + (1/2s) int_0^inf M2(r)/r^2 (1/(k(1-rho_r)) - 1)^+ dr with Exp(1) closed forms
    lam, s = rho * k * 2.0, 2.0                       # speed-2 servers, mean size 1
    with mp.workdps(30):
        def g(r):
            m1 = 1 - mp.e**(-r) * (1 + r)
            m2 = 2 - mp.e**(-r) * (r * r + 2 * r + 2)
            f = 1 / (k * (1 - lam * m1 / (k * s))) - 1
            return m2 / r**2 * f if f > 0 else mp.mpf(0)
        # the integrand vanishes below r* where rho_r = 1 - 1/k
        r0 = mp.mpf(0) if k == 1 else mp.findroot(
            lambda r: lam * (1 - mp.e**(-r) * (1 + r)) / (k * s) - (1 - mp.mpf(1) / k), 2)
        want = 1 / s + mp.quad(g, [r0, r0 + 1, r0 + 10, mp.inf]) / (2 * s)
    got = _mixed_lower(qt.Exponential(1.0), lam, k, s)
    assert abs(got / float(want) - 1) < 1e-8, (got, want)


def test_mixed_lower_bound_deterministic_closed_form_and_validity():
    # D sizes: E[T] >= 1 + (1/(k(1-rho)) - 1)^+ / 2
    for k, rho in ((2, 0.8), (4, 0.95), (3, 0.5)):
        m = MGk(k, rho * k, qt.Deterministic(1.0))
        want = 1 + max(1 / (k * (1 - rho)) - 1, 0) / 2
        assert abs(_mixed_lower(m.size, m.arrival_rate, k, 1.0) - want) < 1e-12
    # valid at k = 1: never above the optimal (SRPT) M/G/1 value
    for size in (qt.Exponential(1.0), qt.Weibull(0.5), qt.LogNormal(1.0), qt.Empirical([1, 2, 5, 10])):
        for rho in (0.5, 0.95):
            lam = rho / size.mean
            assert _mixed_lower(size, lam, 1, 1.0) <= qt.MG1(lam, size).mean_response_time("srpt") * (1 + 1e-9)
    # tighter than both naive bounds at moderate load: M/M/4 at rho = 0.95 (1.7721 vs 1.3853 and 1)
    m = MGk(4, 3.8, qt.Exponential(1.0))
    assert m.lower_bound() > 1.25 * max(1.0, m.pooled_mean_response_time("srpt"))


# ---- bad input and representation -------------------------------------------------------------------
@pytest.mark.parametrize("servers", [0, -2, 2.5, 4.0, True, "4"])
def test_bad_servers(servers):
    with pytest.raises(ValueError, match="servers"):
        MGk(servers, 1.0, qt.Exponential(1.0))


def test_bad_load_names_the_per_server_normalization():
    with pytest.raises(ValueError, match="per server"):
        MGk(4, 4.0, qt.Exponential(1.0))
    with pytest.raises(ValueError, match="per server"):
        MGk(4, 2.0, qt.Exponential(1.0), server_speed=0.5)
    MGk(4, 3.99, qt.Exponential(1.0))
    with pytest.raises(ValueError, match="server_speed"):
        MGk(4, 1.0, qt.Exponential(1.0), server_speed=0.0)
    with pytest.raises(ValueError, match="offered_load"):
        qt.erlang_c(2, 2.0)


def test_bad_policy_and_missing_prediction():
    m = MGk(2, 1.0, qt.Exponential(1.0))
    with pytest.raises(ValueError, match="unknown policy"):
        m.bounds("nonsense")
    with pytest.raises(ValueError, match="SPRPT"):
        m.bounds("sprpt")
    v = m.mean_response_time("srpt")          # labelled approximation inside the proven bounds
    assert v.kind == "approx" and not v.exact and 0 < v.error < 1
    assert m.bounds("srpt").lower <= float(v) <= m.bounds("srpt").upper
    with pytest.raises(ValueError, match="exponential"):
        MGk(2, 1.0, qt.Weibull(0.5)).mmk()


def test_bounds_repr_and_contains():
    b = MGk(4, 3.2, qt.Exponential(1.0), qt.LogNormalPrediction(0.5)).bounds("srpt")
    s = repr(b)
    assert s.startswith("Bounds(lower=") and "upper=" in s and "SRPT-k" in s
    assert b.contains(b.lower) and not b.contains(b.upper * 2) and "<table>" in b._repr_html_()
    e = MGk(4, 3.2, qt.Exponential(1.0)).bounds("fcfs")
    assert repr(e).startswith("Bounds(exact=1.74554")
    t = MGk(4, 3.2, qt.Exponential(1.0), qt.LogNormalPrediction(0.5)).compare()
    assert t["policy"][0] == "FCFS" and len(t) == 7
    assert t["label"][0] == "exact" and t["label"][2].startswith("approx +-")


# ---- SRPT-k / PSJF-k interpolation (issue 18) ------------------------------------------------------
@pytest.mark.parametrize("policy", ["srpt", "psjf"])
def test_srpt_k_interpolation_is_the_mg1_value_at_one_server(policy):
    """k = 1: the FCFS wait ratio is 1, so the interpolation is the M/G/1 formula itself."""
    size = qt.Weibull(0.5)
    m = MGk(1, 0.8, size)
    want = qt.MG1(0.8, size).mean_response_time(policy)
    assert abs(float(m.srpt_approximation(policy)) / want - 1) < 1e-12


@pytest.mark.parametrize("k, rho", [(2, 0.5), (4, 0.8), (8, 0.95)])
def test_srpt_k_interpolation_exponential_closed_form(k, rho):
    r"""Exponential sizes: :math:`R = C(k, k\rho)/\rho` (the Erlang C ratio, 40-digit factorial
    route) and the pooled SRPT-1 value by the Schrage-Miller integrals (scipy quad), so
    :math:`E[T] = 1 + (E[T_1] - 1/k)R^{2^{-1/4}}` is rebuilt independently of qtheory."""
    lam = rho * k
    m = MGk(k, lam, qt.Exponential(1.0))
    v = m.srpt_approximation("srpt")
    ratio = float(_erlang_c_mp(k, lam)) / rho
    from scipy import integrate

    lp = lam / k                                # pooled: sizes S at rate lam/k, times / k

    def rho_x(x):
        return lp * (1 - math.exp(-x) * (1 + x))

    def t1(x):
        m2 = 2 - math.exp(-x) * (x * x + 2 * x + 2)
        wait = lp * (m2 + x * x * math.exp(-x)) / (2 * (1 - rho_x(x)) ** 2)
        return wait + integrate.quad(lambda t: 1 / (1 - rho_x(t)), 0, x, epsabs=0, epsrel=1e-12)[0]

    pooled = sum(integrate.quad(lambda x: t1(x) * math.exp(-x), a, b, epsabs=0, epsrel=1e-11, limit=200)[0]
                 for a, b in ((0, 1), (1, 5), (5, 20), (20, 60))) / k
    want = 1 + (float(pooled) - 1 / k) * ratio ** (2 ** -0.25)      # C^2 = 1: e = 2^(-1/4)
    assert abs(float(v) / want - 1) < 1e-7
    assert v.kind == "approx" and "R^e" in v.method
    # the default route for SRPT and PSJF; the prediction policies keep the scaling
    assert m.mean_response_time("srpt").method == v.method


def test_srpt_k_interpolation_within_its_band_on_the_code_trace():
    """The Azure code trace, k = 4, load 0.8: the simulated SRPT-4 mean lies in the printed
    band (the scaling it replaces is 5.4% low here, outside that band; the interpolation 2.9%)."""
    pairs = qt.datasets.azure_llm_2023("code").pairs()
    size = pairs.size_law()
    m = MGk(4, 0.8 * 4 / size.mean, size, pairs)
    v = m.mean_response_time("srpt")
    assert v.kind == "approx" and 0 < v.error <= 0.035
    r = qt.simulate(m, "srpt", jobs=8_000_000, seed=18, replications=REPS)
    lo, hi = v.interval
    assert_above(lo, r, "SRPT-4 interpolation band, lower side")
    assert_below(hi, r, "SRPT-4 interpolation band, upper side")


def test_k1_pooled_value_is_computed_once(monkeypatch):
    """k = 1: the M/G/1 value found by the exactness check is the one returned (not recomputed)."""
    calls = []
    orig = qt.MG1.mean_response_time

    def counted(self, policy, method=None):
        calls.append(policy)
        return orig(self, policy, method)

    monkeypatch.setattr(qt.MG1, "mean_response_time", counted)
    m = MGk(1, 0.7, qt.Weibull(0.5), qt.LogNormalPrediction(sigma=0.5))
    v = m.mean_response_time("sprpt")
    m.bounds("sprpt")
    assert float(m.mean_response_time("sprpt")) == float(v)
    assert len(calls) == 1
