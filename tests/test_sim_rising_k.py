"""The simulator on ``k > 1`` servers for ranks that rise with age (:mod:`qtheory.sim.general_kernel`).

* exact checks, job by job: the general kernel against the independent pure-Python fluid
  simulation ``reference()`` of ``tests/test_sim.py`` (water-filling of rising tie classes) on
  random and on lattice traces (exact ties); against :func:`group_kernel` on one server and
  against :func:`soap_kernel` for non-rising ranks on ``k`` servers;
* statistical checks: with exponential sizes every blind (non-anticipating) policy that keeps
  ``min(n, k)`` servers busy, each job on at most one server, has the number-in-system process
  of the M/M/k, so LAS-k and Gittins-k have the Erlang-C mean response time (the kernel's
  water-filling never gives a job more than one server, so this holds for it).
"""

from __future__ import annotations

import math
import os
import types

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from stats_policy import assert_above, assert_consistent, examples, halfwidth
from test_sim import Piecewise, lattice_tables, ranks_for, reference, trace

import qtheory as qt
import qtheory.sim as sim
from qtheory.sim import TabulatedRank, simulate, simulate_trace
from qtheory.sim._policy import compile_policy
from qtheory.sim._runner import Setup

FULL = os.environ.get("QTHEORY_FULL", "") not in ("", "0")
SCALE = 10 if FULL else 1
#: replications of every statistical simulation (tests/stats_policy.py)
REPS = 16

#: a Gittins-like table: falls, rises, jumps down at 2.5, then rises again (tail slope 0.5)
GITTINS_LIKE = ([0.0, 1.0, 2.5, 2.5, 3.0], [2.0, 0.5, 1.5, 0.2, 0.45])
#: the CoinFlip(2, 14) Gittins table (a jump up at the atom 2, then falling)
COINFLIP = ([0.0, 2.0, 2.0, 14.0], [4.0, 0.0, 12.0, 0.0])


def forced(policy, t, x, y=None, servers=1, speed=1.0, kind="general"):
    """``simulate_trace`` with the kernel forced to ``kind`` (as its ``kernel=`` argument)."""
    orig = sim.compile_policy

    def patched(pol, k, model=None):
        plan = orig(pol, k, model)
        plan.kind = kind
        return plan

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sim, "compile_policy", patched)
        return simulate_trace(policy, t, x, y, servers=servers, speed=speed)


def model(lam, size, prediction=None):
    """A k-server model for :func:`simulate` (``qt.MG1`` refuses loads >= 1)."""
    return types.SimpleNamespace(arrival_rate=lam, size=size, prediction=prediction)


def erlang_c_mean(k: int, lam: float, mu: float) -> float:
    """E[T] of the M/M/k (Erlang C), written out here independently of the library."""
    a = lam / mu
    top = a**k / math.factorial(k) * k / (k - a)
    pq = top / (sum(a**i / math.factorial(i) for i in range(k)) + top)
    return pq / (k * mu - lam) + 1 / mu


def test_erlang_c_helper_matches_published_table():
    # ../shared/reference/soap_multiserver.md section 5.6
    assert erlang_c_mean(2, 1.6, 1.0) == pytest.approx(2.777778, abs=1e-6)
    assert erlang_c_mean(4, 3.2, 1.0) == pytest.approx(1.745541, abs=1e-6)
    assert erlang_c_mean(10, 9.0, 1.0) == pytest.approx(1.668732, abs=1e-6)


# ---- plan selection ------------------------------------------------------------------------------
def test_plan_kinds():
    assert compile_policy(qt.LAS(), 1).kind == "group"
    assert compile_policy(qt.LAS(), 4).kind == "general"
    assert compile_policy(qt.SRPTBounce(), 2).kind == "general"
    assert compile_policy(qt.SRPT(), 2).kind == "soap"
    assert compile_policy(TabulatedRank(GITTINS_LIKE), 3).kind == "general"
    assert compile_policy(TabulatedRank(([0.0, 1.0], [1.0, 0.0])), 3).kind == "soap"
    # Gittins: discrete laws give tables that never rise continuously; a DHR law's rank rises
    q = qt.MG1(0.05, qt.Empirical([2.0, 14.0]))
    assert compile_policy(qt.Gittins(), 2, q).kind == "soap"
    q = qt.MG1(0.5, qt.HyperExponential([0.9, 0.1], [0.5, 5.5]))
    assert compile_policy(qt.Gittins(), 2, q).kind == "general"


# ---- exact: against the fluid reference ------------------------------------------------------------
@pytest.mark.parametrize("servers,speed", [(2, 1.0), (3, 1 / 3)])
@pytest.mark.parametrize("policy", ["las", "srpt-bounce"])
def test_rising_closed_forms_match_reference(policy, servers, speed):
    t, x, y = trace(load=0.9 * servers * speed, seed=sum(map(ord, policy)) + servers)
    got = simulate_trace(policy, t, x, y, servers=servers, speed=speed)
    want = reference(t, x, ranks_for(policy, x, y), servers=servers, speed=speed)
    assert np.mean(got > x / speed * (1 + 1e-6)) > 0.2  # jobs do wait
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("servers", [2, 3])
@pytest.mark.parametrize("table", [GITTINS_LIKE, COINFLIP], ids=["gittins-like", "coinflip"])
def test_rising_tables_match_reference(table, servers):
    atoms = [0.5, 2.0, 3.0] if table is GITTINS_LIKE else [2.0, 14.0]
    t, x, _ = trace(load=0.85 * servers, seed=4 + servers, size=lambda n, rng: rng.choice(atoms, n))
    a, v = (np.asarray(u, float) for u in table)
    tail = 0.0 if a[-1] == a[-2] else (v[-1] - v[-2]) / (a[-1] - a[-2])
    got = simulate_trace(TabulatedRank(table), t, x, servers=servers)
    want = reference(t, x, [Piecewise(a, v, tail=tail) for _ in x], servers=servers)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("servers", [2, 3])
def test_water_filling_with_capped_members_matches_reference(servers):
    # weighted LAS, rank a / x: tied jobs rise at slopes 1/x; a big job in a class of small
    # ones would need more than one server and gets exactly one (its rank falls behind)
    wlas = qt.Rank(lambda d, a: a / d, descriptor="size", name="wLAS")
    t, x, _ = trace(load=0.9 * servers, seed=8 + servers,
                    size=lambda n, rng: rng.choice([0.1, 1.0, 10.0], n, p=[0.45, 0.45, 0.1]))
    got = simulate_trace(wlas, t, x, servers=servers)
    want = reference(t, x, [Piecewise([0], [0], tail=1 / v) for v in x], servers=servers)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    # without the caps (shares proportional to 1/slope) the answer differs
    assert np.max(np.abs(got - simulate_trace("las", t, x, servers=servers))) > 1e-3


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0.5, 1.0, 2.0, 3.0]),
                          st.sampled_from([0.0, 0.5, 1.0, 2.0])), min_size=1, max_size=40),
       st.sampled_from(["las", "srpt-bounce"]), st.sampled_from([2, 3]))
def test_lattice_ties_match_reference(jobs, policy, servers):
    gaps, x, y = (np.array(v, float) for v in zip(*jobs, strict=True))
    t = np.cumsum(gaps)
    got = simulate_trace(policy, t, x, y, servers=servers)
    want = reference(t, x, ranks_for(policy, x, y), servers=servers)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


#: LAS up to age 0.5, then flat at rank 0.5 (a plateau: exact ties, as in Gittins tables)
PLATEAU = (np.array([0.0, 0.5, 0.5]), np.array([0.0, 0.5, 0.5]))


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0.5, 1.0, 2.0, 3.0])),
                min_size=1, max_size=30), lattice_tables(), st.sampled_from([2, 3]))
# a rank rising into a plateau at the rank of a waiting, earlier job (it must yield to it)
@example([(0, 0.5), (0, 2.0), (0, 1.0), (1, 1.0)], PLATEAU, 2)
@example([(1, 3.0), (1, 1.5), (0.5, 1.0)], (np.array([0.0, 0.5, 0.5]), np.array([1.0, 1.5, 1.5])), 1)
def test_lattice_tables_match_reference(jobs, table, servers):
    gaps, x = (np.array(v, float) for v in zip(*jobs, strict=True))
    t = np.cumsum(gaps)
    a, v = table
    tail = 0.0 if a.size < 2 or a[-1] == a[-2] else (v[-1] - v[-2]) / (a[-1] - a[-2])
    at_zero = v[0] if v[np.flatnonzero(a == 0)[-1]] != v[0] else None
    got = forced(TabulatedRank(table), t, x, servers=servers)
    want = reference(t, x, [Piecewise(a, v, tail=tail, at_zero=at_zero) for _ in x],
                     servers=servers)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_rank_rising_into_a_plateau_tie_goes_to_the_earlier_arrival():
    """A rank that rises into equality with a waiting job's rank: the earlier arrival wins.

    Two servers, rank ``a`` up to age 0.5 then flat at 0.5; jobs 0-2 arrive at 0 (sizes 0.5, 2,
    1) and job 3 at 1 (size 1).  By hand: the three tie at a rising rank and share the two
    servers (rate 2/3 each) until t = 0.75, when all reach age 0.5: job 0 completes (T = 0.75),
    jobs 1 and 2 sit at 0.5 and run at rate 1 (age 0.75 at t = 1).  At t = 1 job 3 (rank 0)
    takes a server; jobs 1 and 2 tie at 0.5 and job 1 (earlier) keeps the other.  At t = 1.5
    job 3 reaches rank 0.5 and ties with job 2, which arrived earlier: job 2 takes the server
    and completes at 1.75 (T = 1.75), job 1 at 2.25 (T = 2.25), job 3 runs 1.75 -> 2.25
    (T = 1.25).  The kernel used to keep job 3 on its server: [0.75, 2.25, 2.25, 1.0].
    """
    t, x = np.array([0.0, 0.0, 0.0, 1.0]), np.array([0.5, 2.0, 1.0, 1.0])
    got = simulate_trace(TabulatedRank(PLATEAU), t, x, servers=2)
    np.testing.assert_allclose(got, [0.75, 2.25, 1.75, 1.25], rtol=1e-12)
    # one server, rank 1 + a up to age 0.5, then flat at 1.5.  By hand: job 0 (t = 1, x = 3)
    # reaches 1.5 at t = 1.5 and runs on (age 1 at t = 2); job 1 (t = 2, x = 1.5) preempts at
    # rank 1 and reaches 1.5 at t = 2.5, tying with job 0 (earlier), while job 2 (t = 2.5,
    # x = 1) arrives at rank 1 and runs to 1.5 at t = 3.  Then jobs 0, 1, 2 (all at 1.5) run
    # in arrival order: job 0 3 -> 5, job 1 5 -> 6, job 2 6 -> 6.5, so T = 4 for each.
    step = TabulatedRank(([0.0, 0.5, 0.5], [1.0, 1.5, 1.5]))
    t, x = [1.0, 2.0, 2.5], [3.0, 1.5, 1.0]
    for kind in ("group", "general"):
        got = forced(step, t, x, kind=kind)
        np.testing.assert_allclose(got, [4.0, 4.0, 4.0], rtol=1e-12, err_msg=kind)


@pytest.mark.parametrize("r", [0.5, -0.5, 0.0, 3e6])
def test_shortcut_tie_test_agrees_with_the_tie_classes(r):
    # the general kernel skips the re-sort after a breakpoint only while the job's new rank r is
    # not tied with the first job not fully served; "tied" must mean what it means in the tie
    # classes of _order (relative tolerance TIE), which decide the order once it re-sorts
    from qtheory.sim import kernels as K
    from qtheory.sim.general_kernel import C_RK, _order, _stays_ahead

    for gap in (0.0, 1e-15, 1e-13, 5e-13, 3e-12, 1e-9, 0.1):  # relative to |r| (0: absolute)
        rb = r + gap * (abs(r) if r != 0.0 else 1.0)
        F = np.zeros((2, K.NFC))
        I = np.zeros((2, K.NIC), np.int64)
        F[:, C_RK] = r, rb
        I[:, K.C_JID] = 0, 1
        ORD = np.array([0, 1], np.int64)
        ahead = _stays_ahead(r, F, ORD, 1, 2)
        CL = np.zeros(2, np.int64)
        _order(ORD, 2, F, I, CL)  # (snaps the ranks of a tie class together)
        tied = CL[1] == 0
        assert ahead == (not tied), (r, gap)
        if gap == 0.0 or (gap <= 5e-13 and r != 0.0):  # both routes call these a tie...
            assert tied, (r, gap)
        else:  # ...and these not
            assert not tied, (r, gap)


# ---- exact: against the other kernels ------------------------------------------------------------
@pytest.mark.parametrize("policy", ["las", "srpt-bounce", "gittins-like", "wlas", "srpt", "sjf"])
def test_one_server_equals_group_kernel(policy):
    t, x, y = trace(n=2000, seed=21, size=lambda n, rng: rng.choice([0.5, 1.0, 2.0, 3.0], n)
                    * rng.exponential(1.0, n))
    pol = {"gittins-like": TabulatedRank(GITTINS_LIKE),
           "wlas": qt.Rank(lambda d, a: a / d, descriptor="size", name="wLAS")}.get(policy, policy)
    want = forced(pol, t, x, y, kind="group")
    got = forced(pol, t, x, y, kind="general")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("servers,speed", [(2, 1.0), (3, 0.5)])
@pytest.mark.parametrize("policy", ["fcfs", "sjf", "psjf", "srpt", "sprpt", "spjf", "coinflip"])
def test_non_rising_ranks_equal_soap_kernel(policy, servers, speed):
    # the CoinFlip Gittins table jumps up but never rises continuously: a non-rising rank
    pol = TabulatedRank(COINFLIP) if policy == "coinflip" else policy
    size = (lambda n, rng: rng.choice([2.0, 14.0], n)) if policy == "coinflip" else None
    t, x, y = trace(n=2000, load=0.9 * servers * speed, seed=31, size=size)
    want = forced(pol, t, x, y, servers=servers, speed=speed, kind="soap")
    got = forced(pol, t, x, y, servers=servers, speed=speed, kind="general")
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_switch_to_general_mid_run():
    """A per-job table (user rank) that rises only for rare big jobs: the run starts on the
    soap kernel and switches to the general kernel at the first chunk with a rising table."""
    big = 10.0
    rank = qt.Rank(lambda d, a: np.where(d > big, a, d - a), descriptor="size", name="mixed")
    q = model(1.6, qt.Exponential(1.0))
    plan = compile_policy(rank, 2)
    assert plan.kind == "soap" and plan.check_rising
    chunk = Setup(1.6, None, None, plan, 2, 1.0, np.zeros(0), np.zeros(0), False).chunk_size()
    # the first seed whose run has no big job in the first chunk and one later (about one seed
    # in three: 60 seeds all fail with probability < 1e-10, under any master seed)
    for seed in range(2, 62):
        kw = dict(jobs=40_000, seed=seed, replications=1, servers=2, keep_jobs=True, warmup=0.0)
        default = simulate(q, rank, **kw)
        if np.all(default.sizes[:chunk] <= big) and np.any(default.sizes[chunk:] > big):
            break
    else:
        raise AssertionError("no seed with a big job only after the first chunk")

    orig = sim.compile_policy

    def general(pol, k, model=None):
        plan = orig(pol, k, model)
        plan.kind = "general"
        return plan

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sim, "compile_policy", general)
        ref = simulate(q, rank, **kw)
    np.testing.assert_allclose(default.response_times, ref.response_times, rtol=1e-9)


# ---- statistical: M/M/k --------------------------------------------------------------------------
@pytest.mark.parametrize("policy,servers,lam", [("las", 2, 1.6), ("las", 4, 3.2),
                                                ("gittins", 2, 1.6)])
def test_blind_policies_on_mmk_match_erlang_c(policy, servers, lam):
    q = model(lam, qt.Exponential(1.0))
    want = erlang_c_mean(servers, lam, 1.0)
    # 4M jobs: policy half-width <= ~3.5% of the value (a 5% error fails)
    r = simulate(q, policy, jobs=4_000_000, seed=40 + servers, servers=servers, replications=REPS)
    assert_consistent(want, r, f"{policy}-{servers}, M/M/{servers} at lambda {lam}")


def test_las_speed_one_over_k_matches_erlang_c():
    # four servers of speed 1/4 at load 0.8: M/M/4 with mu = 1/4
    q = qt.MG1(0.8, qt.Exponential(1.0))
    r = simulate(q, qt.LAS(), jobs=4_000_000, seed=44, servers=4, speed="1/k", replications=REPS)
    want = erlang_c_mean(4, 0.8, 0.25)
    assert_consistent(want, r, "LAS-4, speed 1/4")


@pytest.mark.parametrize("servers", [2, 4])
def test_gittins_k_on_a_dhr_law_is_fb_k(servers):
    # the Gittins rank of a DHR law increases with age, so Gittins-k serves the least attained
    # service first: FB-k (Aalto, Ayesta and Righter 2009), job by job on the same arrivals.
    # The tabulated (continuous-law) Gittins rank is interpolated on an age grid and is not
    # exactly monotone at ages below ~1e-11, hence agreement to 1e-6 rather than rounding.
    q = model(0.9 * servers, qt.HyperExponential([0.9, 0.1], [0.5, 5.5]))
    assert compile_policy(qt.Gittins(), servers, q).kind == "general"
    kw = dict(jobs=20_000, seed=3, servers=servers, replications=2, keep_jobs=True)
    g = simulate(q, qt.Gittins(), **kw)
    fb = simulate(q, qt.LAS(), **kw)
    np.testing.assert_allclose(g.response_times, fb.response_times, rtol=1e-6)
    assert np.mean(fb.response_times > fb.sizes * (1 + 1e-6)) > 0.1  # jobs do share servers


def test_las_k_differs_from_fcfs_k_for_variable_sizes():
    # a check that can fail: LAS-2 beats FCFS-2 for hyperexponential sizes (DHR)
    q = model(1.6, qt.HyperExponential([0.9, 0.1], [0.5, 5.5]))
    # (E[T] about 2.3 and 7: with 1M jobs the gap is beyond twice the sum of the policy
    # half-widths, ~0.3 and ~1.4, so a correct kernel fails this at most at the policy's level)
    las = simulate(q, "las", jobs=1_000_000, seed=45, servers=2, replications=REPS)
    fcfs = simulate(q, "fcfs", jobs=1_000_000, seed=45, servers=2, replications=REPS)
    assert las.mean + halfwidth(las.ci, REPS) < fcfs.mean - halfwidth(fcfs.ci, REPS)


def test_srpt_bounce_on_two_servers_runs():
    q = model(1.6, qt.Exponential(1.0), qt.ExponentialPrediction())
    r = simulate(q, qt.SRPTBounce(), jobs=240_000, seed=46, servers=2, replications=REPS)
    # any policy on two unit servers: E[T] >= E[X]; SRPT-Bounce is not blind, it should beat
    # the blind M/M/2 value (2.78) clearly at load 0.8 (E[T] ~1.95, policy half-width ~0.15)
    assert_above(1.0, r, "SRPT-Bounce-2: E[T] >= E[X]")
    assert r.mean + halfwidth(r.ci, REPS) < erlang_c_mean(2, 1.6, 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("policy,servers,lam", [("las", 3, 2.7), ("gittins", 4, 3.2),
                                                ("las", 2, 1.9)])
def test_blind_policies_on_mmk_slow(policy, servers, lam):
    q = model(lam, qt.Exponential(1.0))
    want = erlang_c_mean(servers, lam, 1.0)
    r = simulate(q, policy, jobs=300_000 * SCALE**2, seed=50 + servers, servers=servers, replications=REPS)
    assert_consistent(want, r, f"{policy}-{servers}, M/M/{servers} at lambda {lam}")
