"""Tests of the increasing-speed-queue lower bound on M/G/k mean response times
(qtheory.models.multiserver_bounds._isq_lower, in MGk.lower_bound; docs/multiserver.md section 3).

Independent references: the exact CTMC of the increasing speed queue with exponential sizes
(its mean work, against the closed form of the phase ODEs), the closed form against the power
series (two solutions of the same ODEs), the exact M/G/1 SRPT value at k = 1, the exact M/M/k,
M/PH/k and M/D/k FCFS values, and the simulator (a lower bound must not be above any policy).
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from scipy.sparse import csc_matrix, lil_matrix
from scipy.sparse.linalg import spsolve
from stats_policy import assert_above

import qtheory as qt
from qtheory.models.multiserver import MGk
from qtheory.models.multiserver_bounds import (
    _ISQ_DEGREE,
    _isq_closed,
    _isq_lower,
    _isq_series,
    _mixed_lower,
    _overflow_lower,
)

REPS = 16


def _ctmc_omega(lam: float, theta: float, k: int, K: int, nmax: int = 400) -> float:
    """Mean work / lam of the increasing speed queue (s = 1) with Exp(theta) sizes, from its
    Markov chain on (jobs present, phase): with exponential sizes the work is theta times the
    number of jobs, and the phase (arrivals since the busy period began, capped at K) only
    grows until the queue empties. Phases j < K serve at rate j, phase K at rate k."""
    def idx(n, m):
        return 1 + (n - 1) * K + (m - 1)
    size = 1 + nmax * K
    Q = lil_matrix((size, size))
    Q[0, idx(1, 1)] = lam
    for n in range(1, nmax + 1):
        for m in range(1, K + 1):
            i = idx(n, m)
            if n < nmax:
                Q[i, idx(n + 1, min(m + 1, K))] += lam
            Q[i, idx(n - 1, m) if n > 1 else 0] += (m if m < K else k) / theta
    Q = csc_matrix(Q)
    out = np.asarray(Q.sum(axis=1)).ravel()
    A = (Q - csc_matrix((out, (range(size), range(size))), shape=(size, size))).T.tolil()
    A[0, :] = 1.0
    b = np.zeros(size)
    b[0] = 1.0
    p = spsolve(csc_matrix(A), b)
    n = np.concatenate([[0], np.repeat(np.arange(1, nmax + 1), K)])
    return theta * float(p @ n) / lam


@pytest.mark.parametrize("k, K, lam, theta", [(2, 2, 1.0, 0.5), (4, 4, 2.0, 0.8), (4, 3, 2.0, 0.8),
                                              (8, 8, 3.0, 1.5), (3, 3, 12.0, 0.2)])
def test_isq_closed_form_against_the_exact_chain(k, K, lam, theta):
    # r = s = 1: x = lam; E[v^n] = n! theta^n, E[exp(-a v)] = 1/(1 + a theta)
    mu = np.array([[math.factorial(n) * theta**n for n in range(_ISQ_DEGREE + 1)]])
    phi = np.array([[1.0 / (1.0 + lam / i * theta) for i in range(1, K)] or [0.0]])
    got = _isq_closed(np.array([lam]), k, K, mu[:, 1], mu[:, 2], phi)[0]
    want = _ctmc_omega(lam, theta, k, K)
    assert abs(got / want - 1) < 1e-9, (got, want)


def _closed_mp(x, k, K, v, p, dps=60):
    """The closed form of the phase ODEs (docs/multiserver.md section 3) in 60-digit arithmetic:
    G_j(u) = p2 u^2 + p1 u + p0 + sum_i c_i exp(-x u / i), for the discrete law (v, p)."""
    with mp.workdps(dps):
        x = mp.mpf(x)
        v = [mp.mpf(a) for a in v]
        p = [mp.mpf(a) for a in p]
        m1 = sum(a * b for a, b in zip(p, v, strict=True))
        m2 = sum(a * b * b for a, b in zip(p, v, strict=True))
        phi = {i: sum(b * mp.e ** (-x / i * a) for a, b in zip(v, p, strict=True)) for i in range(1, K)}
        rho = x * m1 / k
        poly = {"g": [0, x * m2 / (2 * k * k * (1 - rho) ** 2), 1 / (2 * k * (1 - rho))],
                "h": [0, 1 / (k * (1 - rho)), 0]}
        ex = {"g": {}, "h": {}}
        for j in range(K - 1, 0, -1):
            for key in ("g", "h"):
                p0, p1, p2 = poly[key]
                q2 = x * p2
                q1 = x * (p1 + 2 * p2 * m1) + (1 if key == "g" else 0)
                q0 = x * (p0 + p1 * m1 + p2 * m2) + (1 if key == "h" else 0)
                n2 = q2 / x
                n1 = (q1 - 2 * j * n2) / x
                n0 = (q0 - j * n1) / x
                c = {i: ex[key][i] * phi[i] / (1 - mp.mpf(j) / i) for i in ex[key]}
                c[j] = -(n0 + sum(c.values()))
                poly[key], ex[key] = [n0, n1, n2], c
        e = {key: poly[key][0] + poly[key][1] * m1 + poly[key][2] * m2
             + sum(ex[key][i] * phi[i] for i in ex[key]) for key in ("g", "h")}
        return float(e["g"] / (1 + x * e["h"]))


def test_isq_series_and_closed_form_against_60_digit_arithmetic():
    # sizes v in (0, 1] (the series' domain); the series serves x <= 10, the closed form above
    v = np.array([0.05, 0.2, 0.5, 1.0])
    p = np.array([0.4, 0.3, 0.2, 0.1])
    mu = np.array([[float(p @ v**n) for n in range(_ISQ_DEGREE + 1)]])
    for k, K in ((2, 2), (4, 4), (8, 8), (20, 16)):
        for x in (0.05, 0.3, 1.0, 4.0, 9.0, 10.0, 12.0, 30.0):
            if x * mu[0, 1] / k >= 0.98:
                continue
            want = _closed_mp(x, k, K, v, p)
            if x <= 10.0:
                got = _isq_series(np.array([x]), k, K, mu)[0]
            else:
                phi = np.array([[float(p @ np.exp(-x / i * v)) for i in range(1, K)] or [0.0]])
                got = _isq_closed(np.array([x]), k, K, mu[:, 1], mu[:, 2], phi)[0]
            assert abs(got / want - 1) < 1e-10, (k, K, x, got, want)


def test_isq_between_pooled_and_single_speed_queues():
    # the ISQ is faster than the M/G/1 at speed s and slower than the one at speed k s
    v = np.array([0.1, 0.4, 1.0])
    p = np.array([0.5, 0.3, 0.2])
    mu = np.array([[float(p @ v**n) for n in range(_ISQ_DEGREE + 1)]])
    for k in (2, 4, 8):
        for x in (0.5, 2.0, 6.0):
            rho1 = x * mu[0, 1]
            om = _isq_series(np.array([x]), k, k, mu)[0]
            pooled = mu[0, 2] / (2 * k * (1 - rho1 / k))
            assert om > pooled
            if rho1 < 1:
                assert om < mu[0, 2] / (2 * (1 - rho1))


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Weibull(0.5), qt.Empirical([1, 2, 5, 10]),
                                  qt.Deterministic(1.0)])
@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_k1_is_the_optimal_m_g_1_value(size, rho):
    # one server: the bound is the SRPT mean (optimal), exactly, and the ISQ part never above it
    lam = rho / size.mean
    m = MGk(1, lam, size)
    srpt = qt.MG1(lam, size).mean_response_time("srpt")
    assert m.lower_bound() == pytest.approx(float(srpt), rel=1e-12)
    assert _isq_lower(size, lam, 1, 1.0) <= float(srpt)


@pytest.mark.parametrize("k", [2, 4, 8])
@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.HyperExponential([0.9, 0.1], [0.5, 5.5]),
                                  qt.Deterministic(1.0)])
def test_below_the_exact_fcfs_values(size, k, rho):
    # Erlang C (exponential), M/PH/k (hyperexponential), Crommelin's M/D/k: exact FCFS means
    m = MGk(k, rho * k / size.mean, size)
    exact = m.mean_response_time("fcfs")
    assert exact.kind == "exact"
    assert m.lower_bound() <= float(exact)
    if isinstance(size, qt.Exponential):     # M/G/k-PS is insensitive: the same Erlang C value
        assert m.lower_bound() <= m.bounds("ps").value


def test_never_below_the_earlier_bounds_and_tighter_on_the_conv_trace():
    conv = qt.datasets.azure_llm_2023("conv").pairs().size_law()
    for size, ks in ((qt.Exponential(1.0), (2, 8)), (qt.Weibull(0.5), (2,)), (conv, (2, 8))):
        for k in ks:
            for rho in (0.5, 0.95):
                lam = rho * k / size.mean
                m = MGk(k, lam, size)
                old = max(m.pooled_mean_response_time("srpt"), _mixed_lower(size, lam, k, 1.0))
                assert m.lower_bound() >= old
    # conv trace, 4 servers, load 0.8: the earlier bound was 224.62 (E[S] = 211.13)
    m = MGk(4, 0.8 * 4 / conv.mean, conv)
    assert m.lower_bound() > 240.0
    # discrete law where the ISQ gains most: 4.906 (mixed) -> 5.336
    m = MGk(4, 0.8 * 4 / 4.5, qt.Empirical([1, 2, 5, 10]))
    assert m.lower_bound() > 5.3


def test_coarser_grids_give_smaller_valid_bounds(monkeypatch):
    # thinning the grid (atoms of a large discrete law; points evaluated by the closed form)
    # holds each term from the last point evaluated: the bound may only fall
    import qtheory.models.multiserver_bounds as mb
    conv = qt.datasets.azure_llm_2023("conv").pairs().size_law()
    lam = 0.95 * 4 / conv.mean
    full = _isq_lower(conv, lam, 4, 1.0)
    for name, value in (("_ISQ_MAX_GRID", 60), ("_ISQ_MAX_CLOSED", 5)):
        with monkeypatch.context() as mp_:
            mp_.setattr(mb, name, value)
            fresh = qt.datasets.azure_llm_2023("conv").pairs().size_law()
            coarse = _isq_lower(fresh, lam, 4, 1.0)
        assert conv.mean < coarse < full, (name, coarse, full)


@pytest.mark.parametrize("k, rho", [(1, 0.5), (2, 0.8), (8, 0.5), (8, 0.95), (64, 0.99)])
def test_overflow_bound_against_mpmath(k, rho):
    # E[S]/s + E[(N - k)^+]/lam, N ~ Poisson(lam E[S]/s): the tail summed in 40 digits
    size, s = qt.Weibull(0.5), 2.0
    lam = rho * k * s / size.mean
    a = lam * size.mean / s
    with mp.workdps(40):
        tail = mp.nsum(lambda n: (n - k) * mp.e ** (-a) * mp.mpf(a) ** n / mp.factorial(n), [k + 1, mp.inf])
        want = size.mean / s + tail / lam
    assert _overflow_lower(size, lam, k, s) == pytest.approx(float(want), rel=1e-12)


def test_overflow_bound_is_tight_at_low_load_and_below_srpt():
    # 8 servers, Exp(1), load 0.5: E[T] >= 1.0084067 (the earlier bounds gave 1); simulated
    # SRPT-k is 1.0089 +- 0.0004 (16 million jobs)
    m = MGk(8, 4.0, qt.Exponential(1.0))
    assert m.lower_bound() == pytest.approx(1.0084067468, rel=1e-9)
    r = qt.simulate(m, "srpt", jobs=2_000_000, seed=(8, 5, 18), replications=REPS, workers=1, progress=False)
    assert_above(m.lower_bound(), r, "overflow bound, M/M/8 at 0.5, SRPT-k")
    # load 0.8: 1.0668 (simulated SRPT-k 1.118)
    assert MGk(8, 6.4, qt.Exponential(1.0)).lower_bound() > 1.066


def test_more_servers_than_phases_and_speed_scaling():
    size = qt.Exponential(1.0)
    # k > 16: the phases from 16 on run at speed k s (a faster queue): finite, above E[S]/s
    lb = _isq_lower(size, 0.99 * 32, 32, 1.0)
    assert 1.0 < lb < math.inf
    # speed s: times scale by 1/s (sizes S/s at speed 1)
    a = _isq_lower(size, 3.2, 4, 2.0)
    b = _isq_lower(qt.Exponential(0.5), 3.2, 4, 1.0)
    assert a == pytest.approx(b, rel=1e-6)


@pytest.mark.parametrize("name, k, rho", [("exp", 2, 0.8), ("discrete", 4, 0.8), ("conv", 4, 0.8)])
def test_below_the_simulated_best_policies(name, k, rho):
    # the bound holds for every policy: check it against the best simulated ones (SRPT-k, and
    # SPRPT-k / PSJF-k), the tightest comparison
    if name == "conv":
        pairs = qt.datasets.azure_llm_2023("conv").pairs()
        size, pred = pairs.size_law(), pairs
    else:
        size = qt.Exponential(1.0) if name == "exp" else qt.Empirical([1, 2, 5, 10])
        pred = qt.LogNormalPrediction(sigma=0.5)
    m = MGk(k, rho * k / size.mean, size, pred)
    lb = m.lower_bound()
    for pol in ("srpt", "psjf", "sprpt"):
        r = qt.simulate(m, pol, jobs=100_000, seed=(k, 18, len(pol)), replications=REPS, workers=1,
                        progress=False)
        assert_above(lb, r, f"ISQ lower bound, {name} k={k} load {rho}, {pol}")
