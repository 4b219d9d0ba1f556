"""Non-preemptive priority classes on k servers (qtheory.models.priority_np_k) and its use for
SPJF-k in MGk (nonpreemptive_priority_approximation, mean_response_time).

References, each computed here independently of the chain: Cobham's M/G/1 formula (one
server); the M/M/k non-preemptive priority queue with one service rate (with every server busy
the completions form a Poisson stream of rate k*mu, so the waiting jobs see a single server of
rate k*mu: E[W_i] = C(k, a)/(k mu) / ((1 - sigma_{i-1})(1 - sigma_i)), C the Erlang-C
probability); a truncated exact CTMC of two exponential classes of different rates (built below
from the rules of the policy, not from the chain); the M/M/1 busy period's moments; the
simulator. Deterministic checks use 1e-9 relative (QBDs solved to machine precision); the
simulator checks follow tests/stats_policy.py."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse import linalg as splinalg
from stats_policy import assert_consistent, halfwidth

import qtheory as qt
from qtheory.laws.phase_type import PhaseType
from qtheory.models._erlang import erlang_c
from qtheory.models.priority_np_k import BAND, band, feasible, fits_match, priority_np_k, waiting_periods

REL = 1e-9
REPS = 16


def _cobham(lams, mom) -> np.ndarray:
    lams, mom = np.asarray(lams, float), np.asarray(mom, float)
    w0 = lams @ mom[:, 1] / 2
    sig = np.concatenate([[0.0], np.cumsum(lams * mom[:, 0])])
    return w0 / ((1 - sig[:-1]) * (1 - sig[1:])) + mom[:, 0]


def _exp(mu: float) -> tuple[float, float, float]:
    return 1 / mu, 2 / mu**2, 6 / mu**3


@pytest.mark.parametrize("lams, mom", [
    ([0.3, 0.5], [(1.0, 3.0, 20.0), (0.5, 0.4, 0.4)]),                      # C^2 = 2 and 0.6
    ([0.2, 0.3, 0.1], [(1.0, 2.0, 6.0), (0.8, 2.0, 10.0), (2.0, 10.0, 80.0)]),
    ([0.4, 0.4], [(0.3, 0.12, 0.06), (1.0, 1.4, 2.3)]),                      # C^2 = 1/3 and 0.4
])
def test_one_server_is_cobham(lams, mom):
    got = priority_np_k(1, lams, mom)["class_means"]
    np.testing.assert_allclose(got, _cobham(lams, mom), rtol=REL)


@pytest.mark.parametrize("k, lams", [(2, [0.5, 0.6, 0.4]), (3, [0.8, 0.9, 0.7]), (4, [1.0, 0.5, 1.5, 0.4])])
def test_one_exponential_rate_is_the_mmk_nonpreemptive_queue(k, lams):
    lams = np.asarray(lams)
    got = priority_np_k(k, lams, [_exp(1.0)] * lams.size)["class_means"]
    sig = np.concatenate([[0.0], np.cumsum(lams) / k])
    want = erlang_c(k, lams.sum()) / k / ((1 - sig[:-1]) * (1 - sig[1:])) + 1.0
    np.testing.assert_allclose(got, want, rtol=REL)


def _ctmc_two_classes(k: int, lh: float, mh: float, ll: float, ml: float, nh: int, nl: int):
    """Exact CTMC of two exponential classes under non-preemptive priority on k servers, the
    numbers of jobs truncated at (nh, nl): states (high jobs, low jobs, low jobs in service).
    Returns (E[T_H], E[T_L], probability at the truncation)."""
    states = []
    for a in range(nh + 1):
        for b in range(nl + 1):
            for u in range(min(b, k) + 1):
                if b > u and min(a, k - u) + u < k:
                    continue                     # a low job waits only when every server is busy
                states.append((a, b, u))
    idx = {s: i for i, s in enumerate(states)}
    rows, cols, vals = [], [], []
    for st in states:
        a, b, u = st
        h = min(a, k - u)
        moves = []
        if a < nh:
            moves.append(((a + 1, b, u), lh))
        if b < nl:
            moves.append(((a, b + 1, u + (h + u < k)), ll))
        if h:       # a high job leaves: its server takes a waiting high job, else a waiting low one
            moves.append(((a - 1, b, u + (a - 1 < k - u and b > u)), h * mh))
        if u:       # a low job leaves: same rule
            moves.append(((a, b - 1, u - 1 + (a <= h and b > u)), u * ml))
        for st2, r in moves:
            rows.append(idx[st])
            cols.append(idx[st2])
            vals.append(r)
    n = len(states)
    Q = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
    Qt = (Q - sparse.diags(np.asarray(Q.sum(1)).ravel())).T.tocsr()
    # the balance equations with the empty state's replaced by p(empty) = 1, then normalised (a
    # full normalisation row would fill in the sparse factorisation)
    unit = sparse.csr_matrix(([1.0], ([0], [0])), shape=(1, n))
    A = sparse.vstack([unit, Qt[1:]]).tocsc()
    rhs = np.zeros(n)
    rhs[0] = 1.0
    p = splinalg.spsolve(A, rhs)
    p = p / p.sum()
    S = np.array(states)
    return p @ S[:, 0] / lh, p @ S[:, 1] / ll, p[(S[:, 0] == nh) | (S[:, 1] == nl)].sum()


def test_ctmc_reference_is_the_mmk_formula():
    # the reference chain itself, on one rate, against the closed form
    th, tl, tail = _ctmc_two_classes(2, 0.7, 1.0, 0.5, 1.0, 60, 80)
    assert tail < 1e-10
    sig = np.array([0.0, 0.35, 0.6])
    want = erlang_c(2, 1.2) / 2 / ((1 - sig[:-1]) * (1 - sig[1:])) + 1.0
    np.testing.assert_allclose([th, tl], want, rtol=1e-8)


@pytest.mark.parametrize("k, lh, mh, ll, ml, nh, nl", [
    (2, 0.6, 1.0, 0.4, 0.5, 40, 70), (3, 1.0, 1.0, 0.5, 0.4, 40, 70), (2, 0.3, 1.0, 0.3, 0.25, 25, 120),
    (3, 0.3, 0.25, 0.6, 1.0, 110, 80),
])
def test_two_exponential_classes_against_the_exact_ctmc(k, lh, mh, ll, ml, nh, nl):
    # different rates: the chain is not exact (its high-waiting periods are three-moment PH laws);
    # measured within 1.3e-3 of the exact chain on these cases (loads 0.6-0.75)
    th, tl, tail = _ctmc_two_classes(k, lh, mh, ll, ml, nh, nl)
    assert tail < 1e-7
    got = priority_np_k(k, [lh, ll], [_exp(mh), _exp(ml)])["class_means"]
    np.testing.assert_allclose(got, [th, tl], rtol=2e-3)


def test_waiting_period_is_the_mm1_busy_period():
    # one server, no low job in service: the high-waiting period started by an arrival finding a
    # high job in service ends when none waits, the M/M/1 busy period (Kleinrock Vol. 1, 5.10)
    lam, mu = 0.6, 1.0
    ph = PhaseType(np.array([1.0]), np.array([[-mu]]))
    wp = waiting_periods(1, lam, ph, ph)
    x = wp["full"].index(((0,), (1,)))
    r = lam / mu
    want = [1 / (mu * (1 - r)), 2 / (mu**2 * (1 - r) ** 3), 6 * (1 + r) / (mu**3 * (1 - r) ** 5)]
    np.testing.assert_allclose(wp["moments"][x], want, rtol=REL)
    np.testing.assert_allclose(wp["exits"].sum(1), 1.0, rtol=1e-12)
    # the mean number waiting over a period: 1 waiting at its start, its M/M/1 busy-period area
    # E[int N] = E[B]/(1 - rho) counted from one job (Kleinrock: E[area] = 1/(mu (1 - rho)^2))
    assert wp["area"][x] == pytest.approx(1 / (mu * (1 - r) ** 2), rel=REL)


def test_errors_and_bands():
    with pytest.raises(ValueError, match="servers"):
        priority_np_k(0, [1.0], [_exp(1.0)])
    with pytest.raises(ValueError, match="load"):
        priority_np_k(2, [1.0, 1.5], [_exp(1.0)] * 2)
    with pytest.raises(ValueError, match="size_moments"):
        priority_np_k(2, [0.5], [(1.0, -1.0, 1.0)])
    assert band(0.8) == 0.03 and np.isnan(band(0.99)) and BAND[-1][0] == 1.0
    assert feasible(3, 8) and feasible(4, 2) and not feasible(4, 3) and not feasible(5, 2)
    two = [(1.0, 3.0, 20.0), (1.0, 1.6, 3.0)]                    # C^2 = 2 (H2: three moments), 0.6 (two)
    assert fits_match(4, [0.5, 0.5], two) and not fits_match(4, [0.5, 0.5], two, moments=3)
    assert fits_match(4, [0.5, 0.5], [(1.0, 3.0, 20.0), (1.0, 4.0, 40.0)], moments=3)
    assert not fits_match(4, [0.5, 0.5], [(1.0, 3.0, 20.0), (1.0, 1.3, 2.0)])    # C^2 = 0.3: Erlang-2
    # a class of rate 0 is skipped
    r = priority_np_k(2, [0.5, 0.0, 0.6], [_exp(1.0)] * 3)
    assert np.isnan(r["class_means"][1])
    np.testing.assert_allclose(r["class_means"][[0, 2]], priority_np_k(2, [0.5, 0.6], [_exp(1.0)] * 2)["class_means"],
                               rtol=REL)


def test_routing_and_labels():
    pr = qt.datasets.azure_llm_2023("code").pairs("five_class")
    mean = pr.size_law().mean
    v = qt.MGk(2, 1.6 / mean, None, pr).mean_response_time("spjf")
    assert v.kind == "approx" and "non-preemptive priority classes" in v.method and v.error == band(0.8)
    assert v.lower <= float(v) <= v.upper
    # five servers, or a load above the measured ones: the Bondi-Buzen scaling
    assert "Bondi-Buzen" in qt.MGk(5, 4.0 / mean, None, pr).mean_response_time("spjf").method
    assert "Bondi-Buzen" in qt.MGk(2, 1.98 / mean, None, pr).mean_response_time("spjf").method
    # classes with C^2 < 1 (here < 1/2: an Erlang-2 within the state budget, band not measured):
    # the route stays on the scaling, as good or better there
    tight = qt.EmpiricalPairs(np.array([1.0, 1.1, 5.0, 6.0]), np.array([1.0, 1.0, 2.0, 2.0]),
                              np.array([0.25, 0.25, 0.25, 0.25]))
    mt = qt.MGk(2, 1.6 / 3.275, None, tight)
    assert "Bondi-Buzen" in mt.mean_response_time("spjf").method
    assert np.isnan(mt.nonpreemptive_priority_approximation("spjf").error)
    # one bit of advice on exponential sizes: classes with 1/2 <= C^2 < 1 (two-moment Coxian fits), where
    # the scaling was measured as good or better (docs/multiserver.md, section 5)
    onebit = qt.MGk(2, 1.6, qt.Exponential(1.0), qt.OneBit(float(np.log(2.0)), 0.1, 0.1))
    assert "Bondi-Buzen" in onebit.mean_response_time("spjf").method
    assert np.isfinite(onebit.nonpreemptive_priority_approximation("spjf").error)
    # a continuous prediction has no classes of its own
    m = qt.MGk(2, 1.6, qt.Exponential(1.0), qt.LogNormalPrediction(sigma=0.5))
    with pytest.raises(NotImplementedError, match="few values"):
        m.nonpreemptive_priority_approximation("spjf")
    with pytest.raises(NotImplementedError, match="SPJF"):
        qt.MGk(2, 1.6 / mean, None, pr).nonpreemptive_priority_approximation("pspjf")


class _Labels(qt.PredictionLaw):
    """A class label drawn independently of the size (probabilities ``p``)."""

    scales_with_size = False

    def __init__(self, p):
        self.p = np.asarray(p, float)

    def sample(self, x, rng):
        return rng.choice(self.p.size, size=np.shape(x), p=self.p).astype(float)


def test_simulator_exact_case():
    # exponential sizes, labels independent of them: SPJF-2 is the M/M/2 non-preemptive priority
    # queue with one rate, where the chain reproduces the closed form
    p = np.array([0.3, 0.5, 0.2])
    lam = 1.6
    want = priority_np_k(2, lam * p, [_exp(1.0)] * 3)["mean_response_time"]
    m = qt.MGk(2, lam, qt.Exponential(1.0), _Labels(p))
    r = qt.simulate(m, "spjf", jobs=1_600_000, seed=14, replications=REPS, progress=False)
    assert_consistent(want, r, "SPJF-2 on three size-independent classes")


def test_simulator_within_band():
    # the Azure code trace's five classes at k = 3, load 0.8: within the measured band
    pr = qt.datasets.azure_llm_2023("code").pairs("five_class")
    m = qt.MGk(3, 2.4 / pr.size_law().mean, None, pr)
    v = m.mean_response_time("spjf")
    assert "non-preemptive" in v.method
    r = qt.simulate(m, "spjf", jobs=3_200_000, seed=15, replications=REPS, progress=False)
    hw = halfwidth(r.ci, r.replications)
    assert abs(float(v) - r.mean) <= v.error * r.mean + hw, (float(v), r.mean, hw, v.error)


def test_server_speed_is_a_time_scale():
    # speed s: the same queue with the clock run s times faster (sizes / s, rates unchanged)
    lams, mom = [0.4, 0.7, 0.3], np.array([(1.0, 3.0, 20.0), (0.8, 1.0, 2.0), (2.0, 10.0, 80.0)])
    s = 2.5
    fast = priority_np_k(3, lams, mom, server_speed=s)["class_means"]
    scaled = priority_np_k(3, lams, mom / np.array([s, s**2, s**3]))["class_means"]
    np.testing.assert_allclose(fast, scaled, rtol=REL)
