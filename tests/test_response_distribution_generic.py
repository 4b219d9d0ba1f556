"""Response- and waiting-time distributions of the generic SOAP policies (SRPT-Bounce, Gittins,
ConditionalGittins, qt.Rank) on discrete laws: qtheory/engine/response_distribution_generic.py.

Truth: (a) a qt.Rank with a closed-form policy's rank, and SRPT-Bounce with exact predictions,
against that policy's own transform; (b) Gittins where it schedules as FCFS or SRPT;
(c) means against the generic evaluator and E[T^2] against a Cauchy integral of the transform;
an independent brute-force transform of SRPT-Bounce (dense Gauss-Legendre panels over the age,
Newton for Kendall's equation, the pieces written out by hand); (d) percentiles against qt.simulate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from stats_policy import halfwidth

import qtheory as qt
from qtheory.engine import generic
from qtheory.engine import laplace_inversion as li
from qtheory.engine.response_distribution import response_time_distribution as rtd
from qtheory.engine.response_distribution import waiting_time_distribution as wtd
from qtheory.policies.base import nonpreemptive_rank

#: the 39-term Euler sum of continuous laws (see test_percentiles_against_simulation)
EULER_SMOOTH = (li.EULER_A, li.EULER_N, li.EULER_M)
S_POINTS = np.array([0.3, 1.0 + 2.0j, 5.0 - 7.0j, 40.0 + 100.0j, 2.0 + 600.0j])
SIZE = qt.Empirical([0.5, 1.0, 2.0, 3.5], [0.3, 0.4, 0.2, 0.1])
PX = np.array([0.5, 1.0, 2.0, 3.0, 1.5, 0.7])
PY = np.array([0.8, 0.6, 2.5, 1.2, 1.5, 0.2])
PW = np.array([0.2, 0.2, 0.15, 0.15, 0.2, 0.1])


def _size_model(load=0.8):
    return qt.MG1(load / SIZE.mean, SIZE)


def _pairs_model(load=0.8):
    return qt.MG1(load / float(PX @ PW), prediction=qt.EmpiricalPairs(PX, PY, PW))


def _same(a, b, t, lst_tol=1e-12, cdf_tol=1e-9):
    assert np.max(np.abs(a.laplace(S_POINTS) - b.laplace(S_POINTS))) <= lst_tol
    assert abs(a.atom0 - b.atom0) <= 1e-12 and a.shift == b.shift
    assert np.max(np.abs(a.cdf(t) - b.cdf(t))) <= cdf_tol
    assert abs(a.mean() - b.mean()) <= 1e-12 * a.mean()
    assert abs(a.moment(2) - b.moment(2)) <= 1e-11 * a.moment(2)


# ---- (a) ranks equal to closed-form policies --------------------------------------------------------
SIZE_RANKS = {
    "srpt": ("size", lambda d, a: d - a),
    "psjf": ("size", lambda d, a: d + 0.0 * a),
    "sjf": ("size", nonpreemptive_rank),
    "las": ("none", lambda d, a: a + 0.0 * d),
    "fcfs": ("none", lambda d, a: 0.0 * a),
}


@pytest.mark.parametrize("name", sorted(SIZE_RANKS))
@pytest.mark.parametrize("x", [None, 1.0, 3.5])
def test_rank_equals_size_policy(name, x):
    """A qt.Rank with SRPT's, PSJF's, SJF's, LAS's or FCFS's rank on 4 atoms at load 0.8: the
    transform (5 points up to |s| = 600), atom, cdf (t = shift + 0.3 ... 25), mean and E[T^2]
    equal the closed-form policy's (response and waiting time)."""
    q = _size_model()
    desc, fn = SIZE_RANKS[name]
    mine = qt.Rank(fn, descriptor=desc, name="mine-" + name)
    t = (x or 0.0) + np.array([0.3, 1.1, 2.9, 7.0, 25.0])
    _same(rtd(q, name, x=x), rtd(q, mine, x=x), t)
    if name != "las":
        _same(wtd(q, name, x=x), wtd(q, mine, x=x), np.array([0.3, 1.1, 2.9, 7.0, 25.0]))


PAIR_RANKS = {
    "sprpt": lambda y, a: y - a,
    "pspjf": lambda y, a: y + 0.0 * a,
    "spjf": nonpreemptive_rank,
}


@pytest.mark.parametrize("name", sorted(PAIR_RANKS))
@pytest.mark.parametrize("xy", [None, (1.0, 0.6), (3.0, 1.2), (2.0, 2.5)])
def test_rank_equals_prediction_policy(name, xy):
    """The same with SPRPT's, PSPJF's and SPJF's ranks on 6 (size, prediction) pairs."""
    q = _pairs_model()
    mine = qt.Rank(PAIR_RANKS[name], descriptor="prediction", name="mine-" + name)
    x, y = xy if xy else (None, None)
    t = (x or 0.0) + np.array([0.3, 1.1, 2.9, 7.0, 25.0])
    _same(rtd(q, name, x=x, y=y), rtd(q, mine, x=x, y=y), t)
    _same(wtd(q, name, x=x, y=y), wtd(q, mine, x=x, y=y), np.array([0.3, 1.1, 2.9, 7.0, 25.0]))


def test_bounce_with_exact_predictions_is_srpt():
    """SRPT-Bounce with predictions equal to the sizes schedules as SRPT (rank |x - a| = x - a
    before completion): its distribution on EmpiricalPairs(x, x) equals SRPT's on the size law."""
    q = _size_model()
    xs, ps = np.asarray(SIZE.atom_values), np.asarray(SIZE.atom_probs)
    qb = qt.MG1(q.arrival_rate, prediction=qt.EmpiricalPairs(xs, xs, ps))
    t = np.array([0.3, 1.1, 2.9, 7.0, 25.0])
    _same(rtd(q, "srpt"), rtd(qb, "srpt-bounce"), t)
    _same(rtd(q, "srpt", x=2.0), rtd(qb, "srpt-bounce", x=2.0, y=2.0), 2.0 + t)
    _same(wtd(q, "srpt", x=2.0), wtd(qb, "srpt-bounce", x=2.0, y=2.0), t)


# ---- (b) Gittins where it reduces to a known policy ------------------------------------------------
def test_gittins_nbue_law_is_fcfs():
    """Gittins on Empirical([1, 2, 2.5]) (new better than used: the rank of a started job never
    exceeds a new job's, so no preemption and FCFS ties): its distribution is FCFS's."""
    size = qt.Empirical([1.0, 2.0, 2.5], [0.5, 0.3, 0.2])
    q = qt.MG1(0.85 / size.mean, size)
    t = np.array([0.3, 1.1, 2.9, 7.0, 25.0])
    _same(rtd(q, "fcfs"), rtd(q, "gittins"), t)
    _same(rtd(q, "fcfs", x=2.0), rtd(q, "gittins", x=2.0), 2.0 + t)
    _same(wtd(q, "fcfs"), wtd(q, "gittins"), t)


def test_conditional_gittins_with_exact_predictions_is_srpt():
    """ConditionalGittins when the prediction determines the size: the conditional law is a
    point mass, whose Gittins rank is the remaining size, so the policy is SRPT."""
    q = _size_model()
    xs, ps = np.asarray(SIZE.atom_values), np.asarray(SIZE.atom_probs)
    qc = qt.MG1(q.arrival_rate, prediction=qt.EmpiricalPairs(xs, 10.0 * xs, ps))
    t = np.array([0.3, 1.1, 2.9, 7.0, 25.0])
    _same(rtd(q, "srpt"), rtd(qc, "conditional-gittins"), t)
    _same(rtd(q, "srpt", x=1.0), rtd(qc, "conditional-gittins", x=1.0, y=10.0), 1.0 + t)


def test_gittins_on_continuous_monotone_hazard_law_uses_its_equivalent():
    """Gittins on Exp (FCFS) and Weibull(0.5) (LAS) uses those policies' transforms; a
    continuous law without an equivalent goes through the blind route on the law
    (tests/test_response_distribution_blind.py), and one that route does not cover raises, saying
    what is supported."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    assert rtd(q, "gittins").ppf(0.99) == pytest.approx(5 * math.log(100), rel=1e-9)
    qw = qt.MG1(0.8 / qt.Weibull(0.5).mean, qt.Weibull(0.5))
    assert rtd(qw, "gittins", x=1.0).laplace(0.7) == rtd(qw, "las", x=1.0).laplace(0.7)
    import scipy.stats

    assert "Gittins" in rtd(qt.MG1(0.5, qt.LogNormal(1.0, 1.0)), "gittins", x=1.0).label
    with pytest.raises(NotImplementedError, match="blind ranks"):
        rtd(qt.MG1(0.5, qt.from_scipy(scipy.stats.lognorm(1.0))), "gittins")


# ---- (c) means, second moments, an independent transform -------------------------------------------
GENERIC = ["srpt-bounce", "conditional-gittins",
           qt.Rank(lambda y, a: np.abs(y - a), name="bounce-rank", breakpoints=lambda y: y)]


def _cauchy_moments(d, r=0.01, n=64):
    """E[T] and E[T^2] from the Taylor coefficients of the transform on |s| = r."""
    th = 2 * np.pi * np.arange(n) / n
    s = r * np.exp(1j * th)
    L = d._t.lst(s) * np.exp(-s * d.shift)
    c1 = np.mean(L * np.exp(-1j * th)) / r
    c2 = np.mean(L * np.exp(-2j * th)) / r ** 2
    return -c1.real, 2 * c2.real


@pytest.mark.parametrize("policy", GENERIC, ids=["bounce", "cgittins", "rank"])
def test_means_and_second_moments(policy):
    """Unconditional E[T] equals the generic evaluator's exact mean and each class's
    MG1.response_time (1e-9); E[T] and E[T^2] (unconditional, a class, W) equal a Cauchy
    integral of the transform (1e-9)."""
    q = _pairs_model()
    d = rtd(q, policy)
    ref = generic.evaluate(q, qt.policies.get_policy(policy), [q.arrival_rate])
    assert ref.exact
    assert d.mean() == pytest.approx(float(ref.mean[0]), rel=1e-9)
    for x, y in [(1.0, 0.6), (3.0, 1.2), (2.0, 2.5)]:
        dc = rtd(q, policy, x=x, y=y)
        assert dc.mean() == pytest.approx(q.response_time(policy, x, y), rel=1e-9)
    for dist in (d, rtd(q, policy, x=3.0, y=1.2), wtd(q, policy)):
        m1, m2 = _cauchy_moments(dist)
        assert dist.mean() == pytest.approx(m1, rel=1e-9)
        assert dist.moment(2) == pytest.approx(m2, rel=1e-9)


def test_moments_with_strongly_moving_cutoffs():
    """SRPT-Bounce where the new-job load changes by a third across one gap (the pair (6, 0.1)
    counts min(6, 0.1 + v) while the class (3, 3) falls from rank 3 to 0): the residence moments'
    closed forms (logarithms and inverse powers of the linear 1 - lambda N) against the
    evaluator's mean and a Cauchy integral of the transform."""
    x, y, w = np.array([6.0, 0.5, 3.0]), np.array([0.1, 3.0, 3.0]), np.array([0.4, 0.3, 0.3])
    q = qt.MG1(0.9 / float(x @ w), prediction=qt.EmpiricalPairs(x, y, w))
    # the class (6, 0.1) waits in a busy period at new-job load 0.98: the unconditional
    # transform is analytic only in a small disc around 0 (radius 1e-4: 1e-12 off; 1e-3: 1e-4)
    for d, r in ((rtd(q, "srpt-bounce", x=3.0, y=3.0), 0.01), (rtd(q, "srpt-bounce"), 1e-4)):
        m1, m2 = _cauchy_moments(d, r=r)
        assert d.mean() == pytest.approx(m1, rel=1e-9)
        assert d.moment(2) == pytest.approx(m2, rel=1e-9)
    assert rtd(q, "srpt-bounce", x=3.0, y=3.0).mean() == pytest.approx(
        q.response_time("srpt-bounce", 3.0, 3.0), rel=1e-12)


def _kendall(s, lam, law):
    u = complex(s)
    for _ in range(200):
        psi = sum(w * (1 - np.exp(-u * x)) for x, w in law)
        dpsi = sum(w * x * np.exp(-u * x) for x, w in law)
        step = (u - s - lam * psi) / (1 - lam * dpsi)
        u -= step
        if abs(step) < 1e-15 * abs(u):
            break
    return u


def _kendall_levels(s, lam, v):
    """The new-job busy-period root at many levels v at once (Newton, vectorised)."""
    u = np.full(v.shape, complex(s))
    X = np.minimum(PX[None, :], PY[None, :] + v[:, None])
    Wm = np.where(PY[None, :] < v[:, None], PW[None, :], 0.0)
    for _ in range(100):
        e = np.exp(-u[:, None] * X)
        step = (u - s - lam * (Wm * (1 - e)).sum(1)) / (1 - lam * (Wm * X * e).sum(1))
        u = u - step
        if np.max(np.abs(step) / np.abs(u)) < 1e-15:
            break
    return u


def _bounce_reference(s, lam, x, y):
    """E[e^{-s(T - x)} | x, y] of SRPT-Bounce (rank |y - a|) from the SOAP pieces written out
    by hand: worst future rank max(|y - a|, |y - x|); a new job (x', y') counts while the
    tagged job's worst rank is v if y' < v, for min(x', y' + v); an old job is ahead on
    [y' - r, y' + r] (interval 0 if y' <= r, else a sparse piece); the residence integral over
    the age by 16-point Gauss-Legendre panels of at most one radian of |s| between the age's
    breakpoints (the integrand oscillates like e^{-s c})."""
    r0 = max(y, abs(y - x))
    old0, old1 = [], []
    for xx, yy, w in zip(PX, PY, PW, strict=True):
        if yy - r0 <= 0:
            old0.append((min(xx, yy + r0), w))
        elif xx > yy - r0:
            old1.append((min(xx, yy + r0) - (yy - r0), w))
    new = [(min(xx, yy + r0), w) for xx, yy, w in zip(PX, PY, PW, strict=True) if yy < r0]

    def psi(u, law):
        return sum(w * (1 - np.exp(-u * xx)) for xx, w in law)

    e0 = _kendall(s, lam, new)
    rho = lam * sum(w * xx for xx, w in old0 + old1)
    V = ((1 - rho) * e0 + lam * psi(e0, old1)) / (e0 - lam * psi(e0, old0))
    xg, wg = np.polynomial.legendre.leggauss(16)
    xg, wg = (xg + 1) / 2, wg / 2
    pts = sorted({0.0, x, *(p for p in {y, *(y - PY), *(y - PX + PY), *(y + PY)} if 0 < p < x)})
    integral = 0.0
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        e = np.linspace(a, b, max(1, math.ceil((b - a) * (abs(s) + 2))) + 1)
        ages = (e[:-1, None] + np.diff(e)[:, None] * xg[None, :]).ravel()
        wts = (np.diff(e)[:, None] * wg[None, :]).ravel()
        integral += np.sum(wts * (_kendall_levels(s, lam, np.maximum(np.abs(y - ages), abs(y - x)))
                                  - s))
    return V * np.exp(-integral)


@pytest.mark.parametrize("xy", [(1.0, 0.6), (2.0, 2.5), (0.7, 0.2), (1.5, 1.5)])
def test_bounce_class_transform_against_brute_force(xy):
    """SRPT-Bounce's class transform (new-job cut-offs y' + v that move with the level: Gauss-
    Legendre rules and steepest descent in the complex level) against the brute-force reference
    at s = 0.5, 3i, 0.01 - 0.02i, 2 + 3i, 1 + 30i, 5 - 200i and at 6 of the Euler nodes of the
    inversion at t = 1 and 30 (|s| up to 5e3)."""
    q = _pairs_model()
    x, y = xy
    d = rtd(q, "srpt-bounce", x=x, y=y)
    alpha, _ = li.euler_nodes(*d.euler)
    nodes = np.concatenate([alpha[[3, 400, 1640]] / t for t in (1.0, 30.0)])
    for s in np.concatenate([[0.5, 3j, 0.01 - 0.02j, 2 + 3j, 1 + 30j, 5 - 200j], nodes]):
        assert abs(d._t.lst(np.array([s]))[0] - _bounce_reference(s, q.arrival_rate, x, y)) < 1e-12


# ---- errors ------------------------------------------------------------------------------------------
def test_errors():
    q = _pairs_model()
    with pytest.raises(ValueError, match="pass both x and y"):
        rtd(q, "srpt-bounce", x=1.0)
    with pytest.raises(ValueError, match="not an atom"):
        rtd(q, "srpt-bounce", x=1.0, y=0.7)
    with pytest.raises(ValueError, match="does not use predictions"):
        rtd(_size_model(), "gittins", x=1.0, y=1.0)
    with pytest.raises(ValueError, match="has none"):
        rtd(_size_model(), "srpt-bounce")
    # ConditionalGittins on a continuous law: the unconditional and class laws are covered
    # (test_distribution_conditional_gittins.py); bounded factors are not, for a class either
    with pytest.raises(NotImplementedError, match="exact on discrete laws"):
        rtd(qt.MG1(0.8, qt.Exponential(1.0), qt.UniformPrediction(0.5)), "conditional-gittins",
            x=1.0, y=1.0)
    with pytest.raises(NotImplementedError, match="exact on discrete laws"):
        rtd(qt.MG1(0.8, qt.Exponential(1.0), qt.UniformPrediction(0.5)), "conditional-gittins")
    d = q.response_time_distribution("srpt-bounce", x=1.0, y=0.6)
    assert "SRPT-Bounce" in d.label and "y=0.6" in d.label


# ---- (d) against the simulator ---------------------------------------------------------------------
def _random_pairs(n=30, seed=5):
    rng = np.random.default_rng(seed)
    x = np.round(rng.lognormal(0, 0.8, n), 3)
    y = np.round(x * rng.lognormal(0, 0.6, n), 3)
    return qt.MG1(0.8 / x.mean(), prediction=qt.EmpiricalPairs(x, y))


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["srpt-bounce", "conditional-gittins"])
def test_percentiles_against_simulation(policy):
    """p50, p90, p99 of the unconditional law on 30 log-normal pairs (predictions log-normal(0.6)
    around the sizes), load 0.8, against qt.simulate's percentiles (16 replications), each at
    the policy's level; 3 statistical assertions per policy. SRPT-Bounce's law is inverted with
    the 39-term Euler sum of continuous laws (:data:`EULER_SMOOTH`: 0.1 s instead of 7.7 s of
    CPU), measured against the library's 1641 terms at 0 (p50: an atom), 2.5e-5 (p90) and 4e-10
    (p99) relative, at most 1/40 of the bins' allowance and 1/2000 of the half-width (5% of the
    value at p90); ConditionalGittins keeps the 1641 terms (the 39-term sum is 4.5e-4 off at
    its p50)."""
    q = _random_pairs()
    d = rtd(q, policy)
    if policy == "srpt-bounce":
        d.euler = EULER_SMOOTH
    exact = d.ppf([0.5, 0.9, 0.99], rtol=1e-7)
    r = qt.simulate(q, policy, jobs=400_000, replications=16, seed=2024, percentiles=(50, 90, 99))
    for level, e in zip((50, 90, 99), exact, strict=True):
        hw = halfwidth(r.percentile_ci[level], r.replications)
        # the histogram's bins add up to 1e-3 relative (hist_percentile)
        assert abs(r.percentiles[level] - e) <= hw + 1e-3 * e, (level, e, r.percentiles[level], hw)
