"""Tests of the Monte Carlo verifier :mod:`qtheory.sim`.

Two kinds of checks:

* *exact* ones: the numba kernels against an independent pure-Python fluid simulation of the
  same trace (written here from the SOAP definitions, O(n) per event, with tie-sharing of rising
  ranks), so every policy form, the tie rules and the k-server logic are checked job by job;
* *statistical* ones: simulated means against closed forms (Pollaczek-Khinchine, PS, LAS on
  M/M/1, the M/M/1 SRPT table value 2.3527733, Mitzenmacher's exponential-prediction model, the
  CoinFlip(2, 14) SERPT and Gittins closed forms, Erlang C for M/M/2), under the policy of
  ``tests/stats_policy.py`` (level 1e-6 per assertion, 16 replications).  The jobs are chosen so
  that a formula 5% off fails (policy half-width <= ~3.5% of the value); the ``slow`` ones run
  small by default and ``QTHEORY_FULL=1`` scales them up.
"""

from __future__ import annotations

import math
import os
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from stats_policy import ALPHA, assert_consistent, estimate, examples, halfwidth, record

import qtheory as qt
from qtheory.sim import (
    SimResult,
    TabulatedRank,
    VerifyResult,
    simulate,
    simulate_trace,
    verify,
    verify_all,
)

FULL = os.environ.get("QTHEORY_FULL", "") not in ("", "0")
SCALE = 10 if FULL else 1
#: replications of every statistical simulation (the policy's minimum)
REPS = 16


@pytest.fixture(scope="module", autouse=True)
def compiled():
    """Compile (or load from the numba cache) every kernel once for the module."""
    q = qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())
    for p in ("fcfs", "las", "ps", TabulatedRank(([0.0, 1.0], [1.0, 0.0])),
              qt.Rank(lambda d, a: d - a, descriptor="size")):
        simulate(q, p, jobs=2000, seed=0, replications=2)


# ---- an independent reference: fluid simulation of a trace -------------------------------------
class Piecewise:
    """A per-job piecewise-linear rank r(a) from points (ages, values) and a tail slope."""

    def __init__(self, ages, values, tail=0.0, at_zero=None):
        self.a = [float(v) for v in ages]
        self.v = [float(v) for v in values]
        self.tail = float(tail)
        self.at_zero = at_zero  # rank of an unstarted job, if different from the right limit

    def _idx(self, a):
        i = 0
        while i + 1 < len(self.a) and self.a[i + 1] <= a:
            i += 1
        return i

    def rank(self, a, started=True):
        if not started and self.at_zero is not None:
            return self.at_zero
        i = self._idx(a)
        return self.v[i] + self.slope(a) * (a - self.a[i])

    def slope(self, a):
        i = self._idx(a)
        if i + 1 < len(self.a):
            return (self.v[i + 1] - self.v[i]) / (self.a[i + 1] - self.a[i])
        return self.tail

    def next_break(self, a):
        for b in self.a:
            if b > a:
                return b
        return math.inf


def reference(arrivals, sizes, ranks, servers=1, speed=1.0, ps=False):
    """Response times by direct fluid simulation (scan of all present jobs at every event).

    ``ranks[i]`` is a :class:`Piecewise`.  The present jobs are walked in (rank, index) order,
    ranks equal up to a relative 1e-9 forming a tie class.  In a class, the jobs whose rank does
    not rise (and unstarted ones whose rank jumps at age 0+) come first, by index, each taking a
    server while any is left; then the rising ones: each a full server if enough are left, else
    they share the ``m`` remaining servers so that their ranks stay equal (water-filling: rate
    ``min(speed, c / slope_i)`` with the rates summing to ``m * speed``; on one server, rates
    proportional to 1/slope).  Events: arrivals, completions, breakpoints of served jobs, and
    the meeting of any two jobs whose ranks move at different speeds.  ``ps``: processor sharing.
    """
    n = len(arrivals)
    age = [0.0] * n
    started = [False] * n
    out = [math.nan] * n
    present = []
    t = 0.0
    p = 0
    eps = 1e-9

    def rising(i):
        if not started[i] and ranks[i].at_zero is not None:
            return False
        return ranks[i].slope(age[i]) > 0

    while p < n or present:
        rates = {}
        vel = {}  # d(rank)/dt
        rk = {}
        if present and ps:
            share = speed * min(1.0, servers / len(present))
            rates = {i: share for i in present}
        elif present:
            rk = {i: ranks[i].rank(age[i], started[i]) for i in present}
            order = sorted(present, key=lambda i: (rk[i], i))
            m = servers
            pos = 0
            while pos < len(order):
                r0 = rk[order[pos]]
                cls = [i for i in order[pos:] if rk[i] <= r0 + eps * (1 + abs(r0))]
                pos += len(cls)
                flat = sorted(i for i in cls if not rising(i))
                up = sorted(i for i in cls if rising(i))
                for i in flat:
                    rates[i] = speed if m > 0 else 0.0
                    m = max(m - 1, 0)
                slope = {i: ranks[i].slope(age[i]) for i in up}
                if len(up) <= m:
                    for i in up:
                        rates[i] = speed
                    m -= len(up)
                elif m == 0:
                    for i in up:
                        rates[i] = 0.0
                else:  # water-filling: cap every member that would need more than a server
                    capped = set()
                    while True:
                        rest = [i for i in up if i not in capped]
                        c = (m - len(capped)) * speed / sum(1 / slope[i] for i in rest)
                        over = [i for i in rest if c / slope[i] > speed * (1 + 1e-12)]
                        if not over:
                            break
                        capped.update(over)
                    for i in up:
                        rates[i] = speed if i in capped else c / slope[i]
                    m = 0
            for i in present:  # an unstarted job whose rank jumps at age 0+ keeps its rank
                frozen = not started[i] and ranks[i].at_zero is not None
                vel[i] = 0.0 if frozen else rates[i] * ranks[i].slope(age[i])
        fresh = [i for i in rates if not ps and rates[i] > 0 and not started[i]
                 and ranks[i].at_zero is not None]
        if fresh:  # rank jumps once a job receives any service: an event at once
            for i in fresh:
                started[i] = True
            continue
        dt = arrivals[p] - t if p < n else math.inf
        for i, rate in rates.items():
            if rate <= 0:
                continue
            dt = min(dt, (sizes[i] - age[i]) / rate)
            if not ps:
                dt = min(dt, (ranks[i].next_break(age[i]) - age[i]) / rate)
        for i in vel:  # any two ranks that meet
            for j in vel:
                gap = rk[j] - rk[i]
                if gap > eps * (1 + abs(rk[i])) and vel[i] > vel[j]:
                    dt = min(dt, gap / (vel[i] - vel[j]))
        dt = max(dt, 0.0)
        t += dt
        for i, rate in rates.items():
            if rate <= 0:
                continue
            nb = ranks[i].next_break(age[i]) if not ps else math.inf
            age[i] += rate * dt
            if math.isfinite(nb) and abs(age[i] - nb) <= 1e-12 * max(1.0, nb):
                age[i] = nb  # group members reach a breakpoint together
            started[i] = started[i] or dt > 0
            if age[i] >= sizes[i] * (1 - 1e-12):
                out[i] = t - arrivals[i]
                present.remove(i)
        while p < n and arrivals[p] <= t + 1e-15:
            present.append(p)
            p += 1
    return np.array(out)


def trace(n=150, load=0.9, seed=0, size=None):
    rng = np.random.default_rng(seed)
    x = rng.exponential(1.0, n) if size is None else size(n, rng)
    t = np.cumsum(rng.exponential(x.mean() / load, n))
    y = x * rng.exponential(1.0, n)
    return t, x, y


def ranks_for(policy, x, y):
    d = {"size": x, "prediction": y}.get(qt.get_policy(policy).descriptor, np.zeros_like(x))
    name = qt.get_policy(policy).name
    if name == "FCFS":
        return [Piecewise([0], [0]) for _ in d]
    if name == "LAS":
        return [Piecewise([0], [0], tail=1.0) for _ in d]
    if name in ("PSJF", "PSPJF"):
        return [Piecewise([0], [v]) for v in d]
    if name in ("SRPT", "SPRPT"):
        return [Piecewise([0], [v], tail=-1.0) for v in d]
    if name in ("SJF", "SPJF"):
        return [Piecewise([0], [-1e300], at_zero=v) for v in d]
    if name == "SRPT-Bounce":
        return [Piecewise([0, v], [v, 0], tail=1.0) for v in d]
    raise KeyError(name)


@pytest.mark.parametrize("policy", ["fcfs", "sjf", "psjf", "srpt", "spjf", "pspjf", "sprpt",
                                    "las", "srpt-bounce"])
def test_kernels_match_reference_trace(policy):
    t, x, y = trace(seed=sum(map(ord, policy)))
    got = simulate_trace(policy, t, x, y)
    want = reference(t, x, ranks_for(policy, x, y))
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("policy", ["fcfs", "sjf", "psjf", "srpt", "sprpt", "pspjf"])
def test_kernels_agree(policy):
    # the one-server kernels, the k-server kernel on one server and the group kernel
    # (srpt1_kernel for the SRPT family, soap1_kernel for the others)
    t, x, y = trace(n=2000, seed=5)
    a = simulate_trace(policy, t, x, y, kernel="soap")
    for kernel in ("soap1", "soapk", "group"):
        np.testing.assert_allclose(a, simulate_trace(policy, t, x, y, kernel=kernel),
                                   rtol=1e-10, atol=1e-10)


def burst_trace(n, burst, seed):
    """Bursts of ``burst`` near-simultaneous arrivals, each followed by a gap long enough to
    drain most of the queue: the waiting set passes ``WS_SORTED_MAX`` and falls back below
    ``WS_SORTED_MIN`` again and again."""
    rng = np.random.default_rng(seed)
    x = rng.exponential(1.0, n)
    gaps = rng.exponential(0.01, n)
    gaps[::burst] = 0.9 * burst * rng.uniform(0.5, 1.5, gaps[::burst].size)
    return np.cumsum(gaps), x, x * rng.exponential(1.0, n)


def most_present(t, T):
    """The most jobs in the system at an arrival instant."""
    dep = np.sort(t + T)
    return int(np.max(np.arange(1, t.size + 1) - np.searchsorted(dep, t, side="right")))


@pytest.mark.parametrize("policy", ["sjf", "psjf", "srpt", "spjf", "sprpt"])
def test_large_waiting_sets_match_reference(policy):
    # the soap kernels keep a short waiting set as a sorted array and a long one as a heap
    from qtheory.sim.kernels import WS_SORTED_MAX

    t, x, y = burst_trace(240, 80, seed=sum(map(ord, policy)))
    got = simulate_trace(policy, t, x, y)
    assert most_present(t, got) > WS_SORTED_MAX + 20
    want = reference(t, x, ranks_for(policy, x, y))
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    t, x, y = burst_trace(160, 80, seed=1)
    got = simulate_trace(policy, t, x, y, servers=2, speed=0.5)
    want = reference(t, x, ranks_for(policy, x, y), servers=2, speed=0.5)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("policy", ["sjf", "psjf", "srpt", "sprpt"])
def test_large_waiting_sets_kernels_agree(policy):
    # many switches between the sorted array and the heap, against the group kernel (a heap)
    from qtheory.sim.kernels import WS_SORTED_MAX

    t, x, y = burst_trace(20_000, 100, seed=7)
    a = simulate_trace(policy, t, x, y, kernel="soap")
    assert most_present(t, a) > 2 * WS_SORTED_MAX
    for kernel in ("soap1", "soapk", "group"):
        np.testing.assert_allclose(a, simulate_trace(policy, t, x, y, kernel=kernel),
                                   rtol=1e-10, atol=1e-10)


def test_bins_by_lookup_match_searchsorted():
    # tally reads a value's bin from its histogram cell (bin_lookup); check it against
    # searchsorted on edges at and next to cell boundaries, tiny, huge, zero, negative, inf
    from qtheory.sim import kernels as K

    rng = np.random.default_rng(3)
    edges = np.sort(np.concatenate([[1.0, 2.0, 0.3, 1e-30, 1e30, 2.0 ** -70],
                                    rng.lognormal(0, 3, 20)]))
    x = np.concatenate([10.0 ** rng.uniform(-40, 40, 20000), edges,
                        np.nextafter(edges, np.inf), np.nextafter(edges, -np.inf),
                        K.hist_edges()[::997], [1e-300, 1e300, np.inf]])
    y = np.concatenate([x[3:], [0.0, -1.0, 5e-324]])  # predictions may be 0
    n = x.size
    for has_y in (False, True):
        bnx = np.zeros((edges.size + 1, 4))
        bny = np.zeros((edges.size + 1, 4))
        K.tally(np.ones(n), x, y, np.arange(n), n, 0, has_y, np.zeros(5),
                np.zeros(K.HBINS, np.int64), edges, edges, K.bin_lookup(edges),
                K.bin_lookup(edges), bnx, bny, np.zeros(0))
        for got, v, used in ((bnx, x, True), (bny, y, has_y)):
            want = np.bincount(np.searchsorted(edges, v, side="right"), minlength=edges.size + 1)
            np.testing.assert_array_equal(got[:, 0], want if used else 0)


@pytest.mark.parametrize("servers,speed", [(2, 1.0), (3, 1 / 3)])
@pytest.mark.parametrize("policy", ["fcfs", "sjf", "psjf", "srpt"])
def test_multiserver_matches_reference(policy, servers, speed):
    t, x, y = trace(load=0.9 * servers * speed, seed=11)
    got = simulate_trace(policy, t, x, y, servers=servers, speed=speed)
    want = reference(t, x, ranks_for(policy, x, y), servers=servers, speed=speed)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("servers", [1, 2])
def test_ps_matches_reference(servers):
    t, x, y = trace(load=0.9 * servers, seed=3)
    got = simulate_trace("ps", t, x, servers=servers)
    want = reference(t, x, None, servers=servers, ps=True)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


def test_user_ranks_match_reference():
    t, x, y = trace(seed=8)
    # weighted LAS: rank a/x rises at different slopes; tied jobs share in proportion to x
    wlas = qt.Rank(lambda d, a: a / d, descriptor="size", name="wLAS")
    got = simulate_trace(wlas, t, x)
    want = reference(t, x, [Piecewise([0], [0], tail=1 / v) for v in x])
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    # a user SRPT is tabulated per job but exact: identical to the built-in
    np.testing.assert_allclose(simulate_trace(qt.Rank(lambda d, a: d - a, descriptor="size"),
                                              t, x), simulate_trace("srpt", t, x), rtol=1e-10)
    # the same rank as LAS through the table path
    np.testing.assert_allclose(simulate_trace(qt.Rank(lambda d, a: a + 0 * d, descriptor="none"),
                                              t, x), simulate_trace("las", t, x), rtol=1e-9)


def test_curved_user_ranks_use_one_age_grid_for_all_jobs():
    # a rank that rises with age in a curve orders jobs exactly as LAS; tabulated on a grid at
    # fractions of each job's size it did not (36% of the jobs differed: the chords told the
    # policy something of the sizes)
    rng = np.random.default_rng(4)
    x = qt.Weibull(0.5, 1.0).sample(20_000, rng)
    t = np.cumsum(rng.exponential(1 / 0.8, x.size))
    las = simulate_trace("las", t, x)
    for fn in (lambda d, a: np.sqrt(a) + 1.0, lambda d, a: np.log1p(a)):
        got = simulate_trace(qt.Rank(fn, descriptor="none"), t, x)
        np.testing.assert_allclose(got, las, rtol=1e-8)


def test_tables_with_jumps_and_rising_pieces_match_reference():
    t, x, y = trace(seed=4, size=lambda n, rng: rng.choice([0.5, 2.0, 3.0], n))
    # down, a kink, rising, then a jump down at age 2.5 (flat afterwards: the last two points
    # share an age, so the extrapolation slope is 0)
    pts = ([0.0, 1.0, 2.5, 2.5], [2.0, 0.5, 1.5, 0.2])
    pol = TabulatedRank(pts, descriptor="none")
    got = simulate_trace(pol, t, x)
    want = reference(t, x, [Piecewise(pts[0], pts[1], tail=0.0) for _ in x])
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    # the CoinFlip Gittins table (a jump up at the atom 2) on one and on two servers
    g = TabulatedRank(([0.0, 2.0, 2.0, 14.0], [4.0, 0.0, 12.0, 0.0]))
    t, x, y = trace(seed=9, load=0.7, size=lambda n, rng: rng.choice([2.0, 14.0], n))
    ref = [Piecewise([0.0, 2.0, 2.0, 14.0], [4.0, 0.0, 12.0, 0.0], tail=-1.0) for _ in x]
    np.testing.assert_allclose(simulate_trace(g, t, x), reference(t, x, ref), rtol=1e-7)
    np.testing.assert_allclose(simulate_trace(g, t, x, servers=2, speed=0.5),
                               reference(t, x, ref, servers=2, speed=0.5), rtol=1e-7)


# ---- statistical checks ---------------------------------------------------------------------------
MM1 = qt.MG1(0.8, qt.Exponential(1.0))
EXPPRED = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Deterministic(1.0),
                                  qt.Uniform(0.5, 1.5), qt.Erlang(3, 1.0)],
                         ids=["M/M/1", "M/D/1", "M/U/1", "M/E3/1"])
def test_fcfs_pollaczek_khinchine(size):
    q = qt.MG1(0.7 / size.mean, size)
    pk = size.mean + q.arrival_rate * size.moment(2) / (2 * (1 - q.load))
    v = verify(q, "fcfs", jobs=3_000_000, seed=1, rtol=0.01, replications=REPS)
    assert v.formula == pytest.approx(pk, rel=1e-12)
    assert_consistent(pk, v.sim, f"FCFS {size}: Pollaczek-Khinchine")


def test_ps_mean_is_insensitive():
    q = qt.MG1(0.7 / 1.5, qt.Uniform(0.5, 2.5))
    r = simulate(q, "ps", jobs=800_000, seed=2, replications=REPS)
    assert_consistent(1.5 / 0.3, r, "PS mean")
    # E[T | x] = x / (1 - rho): the slowdown is flat
    assert_consistent(1 / 0.3, estimate(r, "slowdown"), "PS slowdown")


def test_las_mm1():
    r = simulate(MM1, "las", jobs=5_000_000, seed=3, replications=REPS)
    assert_consistent(5.0, r, "LAS, M/M/1 at 0.8")


def test_srpt_mm1_table_value():
    r = simulate(MM1, "srpt", jobs=3_000_000, seed=4, replications=REPS)
    assert_consistent(2.3527733, r, "SRPT, M/M/1 at 0.8")


@pytest.mark.parametrize("policy,value", [("spjf", 3.3757864), ("pspjf", 3.1944751),
                                          ("sprpt", 3.1375229)])
def test_exponential_predictions(policy, value):
    assert EXPPRED.mean_response_time(policy) == pytest.approx(value, rel=1e-6)
    v = verify(EXPPRED, policy, jobs=4_000_000, seed=5, rtol=0.01, replications=REPS)
    assert_consistent(value, v.sim, f"{policy}, exponential predictions")


SERPT = qt.Rank(lambda d, a: np.where(a < 2, 8 - a, 14 - a), descriptor="none",
                breakpoints=lambda d: [2.0], name="SERPT")
GITTINS_TABLE = TabulatedRank(([0.0, 2.0, 2.0, 14.0], [4.0, 0.0, 12.0, 0.0]),
                              name="Gittins (table)")


@pytest.mark.parametrize("policy,lam,value", [
    (SERPT, 0.05, 11 + 4 / 27),  # 18 lam/(1-2 lam) + 2 ... averaged: 11.148148
    (GITTINS_TABLE, 0.05, 11 + 1 / 27),  # 11.037037
])
def test_coinflip_serpt_and_gittins(policy, lam, value):
    q = qt.MG1(lam, qt.Empirical([2.0, 14.0]))
    v = verify(q, policy, jobs=400_000, seed=6, formula=value, rtol=0.01, replications=REPS)
    assert_consistent(value, v.sim, f"CoinFlip {policy.name}")
    # E[T | x = 2] from the closed forms of the reference note (section 1.6)
    e2 = 18 * lam / (1 - 2 * lam) + 2 if policy is SERPT else 6 * lam / (1 - 2 * lam) + 2
    r = v.sim
    i2 = int(np.flatnonzero(r.by_size.mean_value == 2.0)[0])
    assert abs(r.by_size.mean_response[i2] - e2) <= halfwidth(r.by_size.ci[i2], r.replications), (
        r.by_size.mean_response[i2], r.by_size.ci[i2], e2)


def test_mm2_fcfs_unit_speed_erlang_c():
    model = types.SimpleNamespace(arrival_rate=1.6, size=qt.Exponential(1.0), prediction=None)
    r = simulate(model, "fcfs", jobs=4_000_000, seed=7, servers=2, replications=REPS)
    want = 1 / (1 - 0.8**2)  # 2.777778
    assert_consistent(want, r, "FCFS, M/M/2")
    # PS on two unit servers with exponential sizes: the same M/M/2 number in system
    r2 = simulate(model, "ps", jobs=4_000_000, seed=7, servers=2, replications=REPS)
    assert_consistent(want, r2, "PS, M/M/2")


def test_speed_one_over_k():
    # two servers of speed 1/2 at load 0.8: M/M/2 with mu = 1/2 -> E[T] = 2 / (1 - 0.64)
    r = simulate(MM1, "fcfs", jobs=5_000_000, seed=8, servers=2, speed="1/k", replications=REPS)
    assert_consistent(2 / 0.36, r, "FCFS, two servers of speed 1/2")


# ---- API behaviour --------------------------------------------------------------------------------
def test_reproducible_with_seed():
    a = simulate(EXPPRED, "sprpt", jobs=50_000, seed=123)
    b = simulate(EXPPRED, "sprpt", jobs=50_000, seed=123, workers=1)
    c = simulate(EXPPRED, "sprpt", jobs=50_000, seed=124)
    assert a.mean == b.mean and a.ci == b.ci
    assert np.array_equal(a.replication_means, b.replication_means)
    assert a.mean != c.mean
    d = simulate(EXPPRED, "sprpt", jobs=50_000, seed=a.seed)
    assert d.mean == a.mean


def test_ci_shrinks_like_inverse_sqrt_jobs():
    small = simulate(MM1, "srpt", jobs=100_000, seed=9, replications=16)
    large = simulate(MM1, "srpt", jobs=6_400_000, seed=10, replications=16)
    ratio = small.ci / large.ci
    # ratio**2 / 64 is a ratio of two sample variances of 16 normal replication means: F(15, 15)
    # (level ALPHA, counted as one statistical assertion): 8 expected, within [1.9, 34.5]; a ci
    # that does not shrink (ratio 1) or shrinks like 1 / jobs (ratio 64) fails
    record()
    f_lo, f_hi = stats.f.ppf([ALPHA / 2, 1 - ALPHA / 2], 15, 15)
    assert 8 * math.sqrt(f_lo) < ratio < 8 * math.sqrt(f_hi), (ratio, 8 * math.sqrt(f_lo), 8 * math.sqrt(f_hi))


def test_wrong_formula_fails():
    # Both runs are one simulation (same seed).  Once it is consistent with SPRPT's 3.1375
    # (policy half-width ~0.1 with 4M jobs), the verdicts follow: the wrong formula is >= 0.14
    # away, beyond max(ci, 1% of it); the right one within max(ci, 5% of it) = 0.157.
    wrong = EXPPRED.mean_response_time("spjf")  # 3.3758 against SPRPT's 3.1375
    v = verify(EXPPRED, "sprpt", jobs=4_000_000, seed=11, formula=wrong, rtol=0.01, replications=REPS)
    assert isinstance(v, VerifyResult)
    assert_consistent(EXPPRED.mean_response_time("sprpt"), v.sim, "SPRPT, exponential predictions")
    assert not v.passed
    assert repr(v).endswith("FAILED")
    assert "FAILED" in v._repr_html_()
    ok = verify(EXPPRED, "sprpt", jobs=4_000_000, seed=11, rtol=0.05, replications=REPS)
    assert repr(ok).endswith("PASSED") and bool(ok)


def test_result_fields():
    r = simulate(EXPPRED, "sprpt", jobs=60_000, seed=12, keep_jobs=True, bins=5)
    assert isinstance(r, SimResult)
    assert r.jobs == 60_000 and r.jobs_recorded == 8 * (7500 - 750)
    assert set(r.percentiles) == {50, 90, 99}
    assert r.percentiles[50] < r.percentiles[90] < r.percentiles[99]
    assert r.response_times.size == r.jobs_recorded
    assert np.mean(r.response_times) == pytest.approx(r.mean, rel=1e-12)
    assert np.median(r.response_times) == pytest.approx(r.percentiles[50], rel=2e-3)
    assert np.mean(r.response_times / r.sizes) == pytest.approx(r.slowdown, rel=1e-12)
    assert r.by_size.count.sum() == r.jobs_recorded == r.by_prediction.count.sum()
    assert r.by_size.count.size == 5
    # the bins hold what they say
    k = 2
    inb = (r.sizes >= r.by_size.lo[k]) & (r.sizes < r.by_size.hi[k])
    assert r.by_size.mean_response[k] == pytest.approx(r.response_times[inb].mean(), rel=1e-9)
    assert "E[T]" in repr(r) and "<table>" in r._repr_html_()
    assert "E[T | bin]" in str(r.by_size.table())


def test_verify_all_table():
    """The table's shape and its policy list. The verdicts are 95% verdicts of small runs, so
    they are not asserted here: tests/test_mutants.py requires every exact formula to agree with
    verify_all's simulations at the suite's statistical level."""
    tab = verify_all(EXPPRED, jobs=40_000, seed=13, rtol=0.05)
    names = tab["policy"]
    assert {"FCFS", "PS", "LAS", "SRPT", "SPRPT", "SPJF", "PSPJF"} <= set(names)
    assert all(r in ("PASSED", "FAILED") or r.startswith("skipped") for r in tab["result"])
    assert len(tab.results) >= 9
    # no prediction law: prediction policies are left out
    names2 = verify_all(MM1, jobs=20_000, seed=13, rtol=0.05)["policy"]
    assert "SPRPT" not in names2 and "SRPT" in names2


def test_errors():
    with pytest.raises(ValueError, match="predictions"):
        simulate(MM1, "sprpt", jobs=1000)
    with pytest.raises(ValueError, match="unstable"):
        simulate(types.SimpleNamespace(arrival_rate=2.0, size=qt.Exponential(1.0),
                                       prediction=None), "fcfs", jobs=1000)
    with pytest.raises(ValueError, match="servers"):
        simulate(MM1, "las", jobs=1000, servers=0)
    with pytest.raises(ValueError, match="speed"):
        simulate(MM1, "fcfs", jobs=1000, speed="fast")


def test_gittins_tables_are_exact_for_discrete_laws():
    from qtheory.engine.gittins import rank_at
    from qtheory.sim._gittins import discrete_table
    from qtheory.sim._policy import table_value

    ages, ranks = discrete_table([2.0, 14.0], [0.5, 0.5])
    np.testing.assert_allclose(ages, [0, 2, 2, 14])
    np.testing.assert_allclose(ranks, [4, 0, 12, 0], atol=1e-12)
    rng = np.random.default_rng(0)
    x = np.sort(rng.choice(np.arange(1, 40), 9, replace=False)).astype(float)
    p = rng.random(9)
    p /= p.sum()
    ages, ranks = discrete_table(x, p)
    grid = np.linspace(0, x[-1], 3001)[:-1]
    got = [table_value(ages, ranks, a) for a in grid]
    np.testing.assert_allclose(got, rank_at(x, p, grid), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_gittins_policies():
    q = qt.MG1(0.05, qt.Empirical([2.0, 14.0]))
    r = simulate(q, "gittins", jobs=200_000 * SCALE, seed=14, replications=REPS)
    assert_consistent(11 + 1 / 27, r, "Gittins, CoinFlip(2, 14)")
    # given one bit of advice (continuous sizes: two tabulated conditional laws); at load 0.5,
    # where 400k jobs give a policy half-width of ~2.7% (at 0.8 it is ~9% even with 800k);
    # 200k in CI (~3.8%), 2M with QTHEORY_FULL=1
    q = qt.MG1(0.5, qt.Exponential(1.0), qt.OneBit(1.0, 0.1, 0.1))
    v = verify(q, "conditionalgittins", jobs=200_000 * SCALE, seed=15, rtol=0.02, replications=REPS)
    assert_consistent(v.formula, v.sim, "ConditionalGittins, one bit of advice")
    # a deterministic factor map on a continuous size law: no conditional tables
    fmap = qt.MG1(0.5, qt.Exponential(1.0), qt.BoundedMultiplicative(0.5, 2.0, factors=lambda x: 0.5 + 0 * x))
    with pytest.raises(NotImplementedError, match="ConditionalGittins"):
        simulate(fmap, "conditionalgittins", jobs=1000)
    with pytest.raises(NotImplementedError, match="model"):
        simulate_trace("gittins", [0.0, 1.0], [1.0, 1.0])


# ---- bigger statistical checks (QTHEORY_FULL=1 for full size) -------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("policy", ["fcfs", "ps", "las", "sjf", "psjf", "srpt", "spjf", "pspjf",
                                    "sprpt", "srpt-bounce"])
def test_verify_exponential_predictions_slow(policy):
    v = verify(EXPPRED, policy, jobs=300_000 * SCALE**2, seed=21, rtol=0.005, replications=REPS)
    assert_consistent(v.formula, v.sim, f"{policy}, exponential predictions")


@pytest.mark.slow
@pytest.mark.parametrize("lam", [0.05, 0.1])
def test_coinflip_slow(lam):
    q = qt.MG1(lam, qt.Empirical([2.0, 14.0]))
    serpt = 0.5 * (18 * lam / (1 - 2 * lam) + 2) + 0.5 * (
        50 * lam / ((1 - 8 * lam) * (1 - 2 * lam)) + 6 / (1 - 2 * lam) + 8)
    gitt = 0.5 * (6 * lam / (1 - 2 * lam) + 2) + 0.5 * (
        50 * lam / ((1 - 8 * lam) * (1 - 2 * lam)) + 10 / (1 - 2 * lam) + 4)
    for pol, val in ((SERPT, serpt), (GITTINS_TABLE, gitt)):
        jobs = (200_000 if lam == 0.05 else 2_000_000) * SCALE * SCALE  # load 0.4 / 0.8
        v = verify(q, pol, jobs=jobs, seed=22, formula=val, rtol=0.02, replications=REPS)
        assert_consistent(val, v.sim, f"CoinFlip {pol.name}, lambda {lam}")


# ---- exact ties: lattice arrival times and sizes ---------------------------------------------------
@settings(max_examples=examples(40), deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0.5, 1.0, 2.0, 3.0]),
                          st.sampled_from([0.0, 0.5, 1.0, 2.0])), min_size=1, max_size=40),
       st.sampled_from(["fcfs", "sjf", "psjf", "srpt", "sprpt", "las", "srpt-bounce", "ps"]),
       st.sampled_from([1, 2]))
def test_ties_match_reference(jobs, policy, servers):
    gaps, x, y = (np.array(v, float) for v in zip(*jobs))
    t = np.cumsum(gaps)
    got = simulate_trace(policy, t, x, y, servers=servers)
    ps = policy == "ps"
    want = reference(t, x, None if ps else ranks_for(policy, x, y), servers=servers, ps=ps)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7)


@st.composite
def lattice_tables(draw):
    """Small rank tables on a lattice: rising and falling pieces, jumps (repeated ages)."""
    n = draw(st.integers(1, 5))
    steps = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=n - 1, max_size=n - 1))
    ages = np.concatenate([[0.0], np.cumsum(steps)])
    vals = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]), min_size=n,
                                  max_size=n)))
    return ages, vals


@settings(max_examples=examples(40), deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([0.5, 1.0, 2.0, 3.0])),
                min_size=1, max_size=30), lattice_tables(), st.sampled_from([1, 2]))
def test_random_tables_match_reference(jobs, table, servers):
    gaps, x = (np.array(v, float) for v in zip(*jobs))
    t = np.cumsum(gaps)
    a, v = table
    tail = 0.0 if a.size < 2 or a[-1] == a[-2] else (v[-1] - v[-2]) / (a[-1] - a[-2])
    at_zero = v[0] if v[np.flatnonzero(a == 0)[-1]] != v[0] else None
    got = simulate_trace(TabulatedRank(table), t, x, servers=servers)
    want = reference(t, x, [Piecewise(a, v, tail=tail, at_zero=at_zero) for _ in x],
                     servers=servers)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7)


def test_verify_against_bounds_when_no_exact_value():
    """A model without an exact value but with bounds (MGk) is judged by the bracket."""
    from dataclasses import dataclass

    @dataclass
    class Bracket:
        lower: float
        upper: float
        exact: float | None = None
        method: str = "test bracket"

    class Model:
        arrival_rate = 0.5
        size = qt.Exponential(mean=1.0)
        prediction = None

        def __init__(self, lo, hi, exact=None):
            self.b = Bracket(lo, hi, exact)

        def mean_response_time(self, policy):
            raise NotImplementedError("no exact value")

        def bounds(self, policy):
            return self.b

    # M/M/1 FCFS at load 0.5: E[T] = 2.  The four runs are one simulation (same seed): once it
    # is consistent with 2 (policy half-width ~0.05 here), estimate +- ci lies inside (1.5, 2.5)
    # and the three verdicts follow
    ok = qt.verify(Model(1.5, 2.5), "fcfs", jobs=1_000_000, seed=3, replications=REPS)
    assert_consistent(2.0, ok.sim, "FCFS, M/M/1 at 0.5")
    assert ok.passed and ok.lower == 1.5 and "bounds [1.5, 2.5]" in repr(ok)
    assert not qt.verify(Model(0.5, 1.5), "fcfs", jobs=1_000_000, seed=3, replications=REPS).passed
    assert not qt.verify(Model(2.5, 3.0), "fcfs", jobs=1_000_000, seed=3, replications=REPS).passed
    exact = qt.verify(Model(0.0, 9.0, exact=2.0), "fcfs", jobs=1_000_000, seed=3, replications=REPS)
    assert exact.formula == 2.0 and exact.lower is None


# ---- ranks that jump up into a tie: the earlier arrival wins ----------------------------------
#: rank 1 up to age 1, then 2 (a jump up, never rising continuously: the soap kernels run it)
JUMP_UP = ([0.0, 1.0, 1.0], [1.0, 1.0, 2.0])


def test_jump_up_into_a_tie_goes_to_the_earlier_arrival_one_server():
    # By hand: job 0 (t=0, x=2) is served at rank 1; job 1 (t=0.5, x=2) ties at rank 1 and waits
    # (later arrival).  At t=1 job 0 jumps to rank 2 and job 1 (rank 1) takes the server; at
    # t=2 job 1 jumps to rank 2 and ties with job 0, which arrived first: job 0 runs 2 -> 3
    # (T = 3), then job 1 3 -> 4 (T = 3.5).  Keeping job 1 on the server would give [4, 2.5].
    t, x = [0.0, 0.5], [2.0, 2.0]
    for kernel in (None, "soap1", "soapk", "group", "general"):
        got = simulate_trace(TabulatedRank(JUMP_UP), t, x, kernel=kernel)
        np.testing.assert_allclose(got, [3.0, 3.5], rtol=1e-12, err_msg=str(kernel))


def test_jump_up_into_a_tie_goes_to_the_earlier_arrival_two_servers():
    # By hand: jobs 0, 1 (t=0, x=3) take both servers at rank 1; jobs 2, 3 (t=0.5, x=2) wait at
    # rank 1.  At t=1 jobs 0, 1 jump to rank 2 and jobs 2, 3 take the servers; at t=2 they jump
    # to rank 2 too: four jobs tie at rank 2 and jobs 0, 1 (earlier) run 2 -> 4 (T = 4), then
    # jobs 2, 3 run 4 -> 5 (T = 4.5).  Keeping jobs 2, 3 would give [5, 5, 2.5, 2.5].
    t, x = [0.0, 0.0, 0.5, 0.5], [3.0, 3.0, 2.0, 2.0]
    for kernel in (None, "general"):
        got = simulate_trace(TabulatedRank(JUMP_UP), t, x, servers=2, kernel=kernel)
        np.testing.assert_allclose(got, [4.0, 4.0, 4.5, 4.5], rtol=1e-12, err_msg=str(kernel))


# ---- server speed: every kernel honours it --------------------------------------------------------
#: a rank table that falls, rises and jumps (group and general kernels)
RISING_TABLE = ([0.0, 1.0, 2.5, 2.5, 3.0], [2.0, 0.5, 1.5, 0.2, 0.45])
NON_RISING = ("fcfs", "sjf", "spjf", "psjf", "pspjf", "srpt", "sprpt", "jump-table", "user-srpt")
RISING = ("las", "srpt-bounce", "rising-table", "wlas")


def _aged(policy: str, c: float):
    """``policy`` whose rank, as a function of the age, is stretched by ``c`` on the age axis
    (tables get ages ``c * a``); the closed forms and user ranks are used as they are, their
    descriptors (sizes, predictions) being scaled with the trace."""
    if policy in ("jump-table", "rising-table"):
        a, v = JUMP_UP if policy == "jump-table" else RISING_TABLE
        return TabulatedRank((c * np.asarray(a), np.asarray(v)))
    if policy == "user-srpt":
        return qt.Rank(lambda d, a: d - a, descriptor="size", name="user SRPT")
    if policy == "wlas":
        return qt.Rank(lambda d, a: a / d, descriptor="size", name="wLAS")
    return policy


@pytest.mark.parametrize("policy", (*NON_RISING, *RISING, "ps"))
def test_speed_two_is_speed_one_with_halved_sizes(policy):
    # A server of speed 2 serving sizes x is a server of speed 1 serving sizes x/2, at the same
    # instants: ages are halved, so SRPT- and PSJF-like ranks (descriptors halved too) are all
    # halved and tables read at ages a/2 with their ages halved give the same ranks.  Halving is
    # exact in floating point, so the two runs agree job by job.  A kernel that ignored the speed
    # would give the speed-1 response times of sizes x, about twice as long.
    for servers in (1, 2, 3):
        t, x, y = trace(n=200, load=0.9 * 2 * servers, seed=60 + servers)
        if policy == "ps":
            kernels = [None]
        else:
            kernels = [None, "general"] + (["group"] if servers == 1 else [])
            if policy in NON_RISING:
                kernels += ["soapk"] + (["soap1"] if servers == 1 else [])
        for kernel in kernels:
            fast = simulate_trace(_aged(policy, 1.0), t, x, y, servers=servers, speed=2.0,
                                  kernel=kernel)
            slow = simulate_trace(_aged(policy, 0.5), t, x / 2, y / 2, servers=servers,
                                  kernel=kernel)
            np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=0,
                                       err_msg=f"{servers} servers, kernel {kernel}")
        assert np.mean(fast > x / 2 * (1 + 1e-9)) > 0.2  # jobs wait: the order matters


# ---- argument checks ---------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,exc,words", [
    (dict(jobs="1000"), TypeError, "jobs='1000'"),
    (dict(jobs=True), TypeError, "jobs=True"),
    (dict(jobs=1000.5), ValueError, "jobs=1000.5"),
    (dict(jobs=0), ValueError, "jobs=0"),
    (dict(jobs=5), ValueError, "jobs >= 8"),  # 8 replications: the message names the minimum
    (dict(jobs=20, replications=32), ValueError, "jobs >= 32"),
    (dict(replications="4"), TypeError, "replications='4'"),
    (dict(replications=2.5), ValueError, "replications=2.5"),
    (dict(replications=0), ValueError, "replications=0"),
    (dict(servers="2"), TypeError, "servers='2'"),
    (dict(servers=True), TypeError, "servers=True"),
    (dict(servers=1.5), ValueError, "servers=1.5"),
    (dict(bins=0), ValueError, "bins=0"),
    (dict(bins=-1), ValueError, "bins=-1"),
    (dict(bins="10"), TypeError, "bins='10'"),
    (dict(seed=-1), ValueError, "seed=-1"),
    (dict(seed=[1, -2]), ValueError, "seed=[1, -2]"),
    (dict(seed="7"), TypeError, "seed='7'"),
    (dict(seed=1.5), TypeError, "seed=1.5"),
    (dict(seed=True), TypeError, "seed=True"),
    (dict(warmup="0.1"), TypeError, "warmup='0.1'"),
    (dict(warmup=1.0), ValueError, "warmup=1.0"),
    (dict(workers=0), ValueError, "workers=0"),
    (dict(workers="2"), TypeError, "workers='2'"),
    (dict(speed="2"), ValueError, "speed='2'"),
])
def test_simulate_rejects_bad_arguments(kwargs, exc, words):
    import re

    kw = dict(jobs=1000, seed=1)
    kw.update(kwargs)
    with pytest.raises(exc, match=re.escape(words)):
        simulate(MM1, "fcfs", **kw)


def test_simulate_runs_exactly_the_jobs_asked():
    # jobs=10 on 8 replications used to run 16 (2 per replication); now 10: replications 0-1
    # track 2 jobs, the others 1
    import qtheory.sim as sim

    r = simulate(MM1, "fcfs", jobs=10, seed=3)
    assert r.jobs == 10 and r.jobs_recorded == 10 and r.replications == 8
    calls = []
    orig = sim.run_replication

    def spy(setup, n_track, warm, seed_seq, *args, **kwargs):  # (called from worker threads)
        calls.append((seed_seq.spawn_key[-1], n_track, warm))
        return orig(setup, n_track, warm, seed_seq, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sim, "run_replication", spy)
        r = simulate(MM1, "fcfs", jobs=1005, seed=5, keep_jobs=True)
    # 1005 = 5 * 126 + 3 * 125; the warm-up is taken per replication: int(0.1 * 126) = 12,
    # int(0.1 * 125) = 12
    assert sorted(calls) == [(i, 126, 12) for i in range(5)] + [(i, 125, 12) for i in range(5, 8)]
    assert r.jobs == 1005 and r.jobs_recorded == 1005 - 8 * 12 == r.response_times.size


def test_trace_and_verify_reject_strings():
    with pytest.raises(TypeError, match="servers='2'"):
        simulate_trace("fcfs", [0.0, 1.0], [1.0, 1.0], servers="2")
    with pytest.raises(TypeError, match="arrival_times"):
        simulate_trace("fcfs", ["0", "1"], [1.0, 1.0])
    with pytest.raises(TypeError, match="sizes"):
        simulate_trace("fcfs", [0.0, 1.0], ["1", "1"])
    with pytest.raises(TypeError, match="predictions"):
        simulate_trace("sprpt", [0.0, 1.0], [1.0, 1.0], ["1", "1"])
    with pytest.raises(TypeError, match="rtol='0.01'"):
        verify(MM1, "fcfs", jobs=1000, seed=1, rtol="0.01")
    with pytest.raises(ValueError, match="rtol=-0.5"):
        verify(MM1, "fcfs", jobs=1000, seed=1, rtol=-0.5)
    with pytest.raises(TypeError, match="formula='5'"):
        verify(MM1, "fcfs", jobs=1000, seed=1, formula="5")
