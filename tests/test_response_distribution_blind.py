"""Distributions of blind SOAP policies on continuous size laws
(qtheory/engine/response_distribution_blind.py): forced through the route where the policy
reduces to FCFS or LAS (closed forms: Pollaczek-Khinchine and the LAS transform), means against
the mean engine, a proper law, and the simulator's percentiles for Gittins on laws where its
rank is not monotone (log-normal, bounded Pareto) and for a non-monotone user rank."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from stats_policy import Estimate, assert_consistent

import qtheory as qt
from qtheory.engine import response_distribution_blind as rdb
from qtheory.policies.registry import get_policy

GITTINS = get_policy("gittins")
BLIND_FCFS = qt.Rank(lambda d, a: 0.0 * a, descriptor="none", name="constant rank")
BLIND_LAS = qt.Rank(lambda d, a: a, descriptor="none", name="age rank")
T = np.array([0.1, 0.3, 1.0, 3.0, 10.0, 30.0])
#: bounded Pareto(1.5, 1, 100) at load 0.8: Gittins' rank falls again near the top
BPARETO = qt.BoundedPareto(1.5, 1.0, 100.0)
BPARETO_MODEL = qt.MG1(0.8 / BPARETO.mean, BPARETO)


@functools.cache
def _bpareto_gittins(x=None):
    """Gittins' law of T on :data:`BPARETO_MODEL` (unconditional or of the class x), built once
    per module: the simulator's check and the moments' check read the same object."""
    return BPARETO_MODEL.response_time_distribution("gittins", x=x)


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.LogNormal(1.0), qt.Weibull(0.5, 1.0)])
def test_constant_rank_is_fcfs(size):
    q = qt.MG1(0.8 / size.mean, size)
    ref = q.response_time_distribution("fcfs")
    d = rdb.build(q, BLIND_FCFS, None, False)
    # P-K has no class mixture: this checks the mixture over the classes (measured 2e-11 to 2e-8)
    assert np.max(np.abs(d.cdf(T * size.mean) - ref.cdf(T * size.mean))) < 1e-7
    assert d.mean() == pytest.approx(ref.mean(), rel=1e-12)
    assert d.var() == pytest.approx(ref.var(), rel=1e-10)
    c = rdb.build(q, BLIND_FCFS, 1.3, False)
    rc = q.response_time_distribution("fcfs", x=1.3)
    assert np.max(np.abs(c.cdf(1.3 + T) - rc.cdf(1.3 + T))) < 1e-8
    w = rdb.build(q, BLIND_FCFS, None, True)
    rw = q.waiting_time_distribution("fcfs")
    assert w.cdf(0.0) == pytest.approx(rw.cdf(0.0), rel=1e-12)
    assert np.max(np.abs(w.cdf(T) - rw.cdf(T))) < 1e-7


@pytest.mark.parametrize("size", [qt.LogNormal(1.0), qt.Weibull(0.5, 1.0)])
@pytest.mark.parametrize("x", [0.4, 2.5])
def test_age_rank_is_las(size, x):
    q = qt.MG1(0.8 / size.mean, size)
    d = rdb.build(q, BLIND_LAS, x, False)
    ref = q.response_time_distribution("las", x=x)
    assert np.max(np.abs(d.cdf(x + T) - ref.cdf(x + T))) < 1e-9
    assert d.atoms[0][1] == pytest.approx(ref.atoms[0][1], rel=1e-12)
    assert d.mean() == pytest.approx(ref.mean(), rel=1e-12)
    assert d.var() == pytest.approx(ref.var(), rel=1e-10)


@pytest.mark.parametrize("size, ref", [(qt.Erlang(3, 1.0), "fcfs"), (qt.Uniform(0.5, 1.5), "fcfs"),
                                       (qt.Weibull(0.5, 1.0), "las")])
def test_gittins_forced_where_it_reduces(size, ref):
    """Gittins on an increasing-hazard law is FCFS and on a decreasing-hazard law from 0 is
    LAS; the blind route computes its own index and does not know that."""
    q = qt.MG1(0.8 / size.mean, size)
    d = rdb.build(q, GITTINS, 1.2, False)
    r = q.response_time_distribution(ref, x=1.2)
    assert np.max(np.abs(d.cdf(1.2 + T) - r.cdf(1.2 + T))) < 1e-8
    assert d.mean() == pytest.approx(r.mean(), rel=1e-9)


@pytest.mark.parametrize("size", [qt.LogNormal(1.0), qt.BoundedPareto(1.1, 1.0, 1000.0)])
def test_gittins_means_and_a_proper_law(size):
    q = qt.MG1(0.8 / size.mean, size)
    d = q.response_time_distribution("gittins")
    assert d.mean() == pytest.approx(float(q.mean_response_time("gittins")), rel=1e-10)
    c = q.response_time_distribution("gittins", x=1.7)
    assert c.mean() == pytest.approx(float(q.response_time("gittins", 1.7)), rel=1e-10)
    assert c.var() > 0 and d.var() > 0
    grid = np.geomspace(0.05, 2000.0, 6) * size.mean  # a time per decade
    F = d.cdf(grid)
    assert np.all(np.diff(F) > -1e-9) and F[0] >= -1e-9 and F[-1] <= 1 + 1e-9 and F[-1] > 0.999
    # the class law starts with its atom P(T = x) = P(no old work) P(no new job overtakes)
    assert 0 < c.atoms[0][1] < 1 and c.cdf(1.7) == pytest.approx(c.atoms[0][1], rel=1e-12)


def test_continuous_laws_the_route_does_not_cover_say_so():
    import scipy.stats

    q = qt.MG1(0.5, qt.from_scipy(scipy.stats.lognorm(1.0)))
    with pytest.raises(NotImplementedError, match="discrete laws"):
        q.response_time_distribution("gittins")


def _against_simulator(q, pol, seed, label, d=None):
    d = q.response_time_distribution(pol) if d is None else d
    # p75 and above: the simulator's histogram bins (2^-10 relative) are below a tenth of the
    # interval there (at p50 the interval is as narrow as about 4 bins)
    r = qt.simulate(q, pol, jobs=400_000, seed=seed, replications=16, percentiles=(75, 90, 99))
    for p in (75, 90, 99):
        exact = float(d.ppf(p / 100))
        assert r.percentile_resolution[p] < 0.1 * r.percentile_ci[p] / exact
        assert_consistent(exact, Estimate(r.percentiles[p], r.percentile_ci[p], r.replications),
                          f"{label} p{p}")


@pytest.mark.parametrize("size", [qt.LogNormal(1.0), BPARETO])
def test_gittins_percentiles_against_the_simulator(size):
    if size is BPARETO:
        _against_simulator(BPARETO_MODEL, "gittins", 41, f"Gittins {size!r}", _bpareto_gittins())
    else:
        _against_simulator(qt.MG1(0.8 / size.mean, size), "gittins", 41, f"Gittins {size!r}")


def test_a_non_monotone_user_rank_against_the_simulator():
    """A blind rank that falls to its minimum at age 1 and rises after it."""
    rank = qt.Rank(lambda d, a: (a - 1.0) ** 2, descriptor="none", name="valley",
                   breakpoints=lambda d: [1.0])
    _against_simulator(qt.MG1(0.8, qt.Exponential(1.0)), rank, 43, "valley rank")


@pytest.mark.parametrize("x", [None, 50.0])
def test_transform_agrees_with_the_closed_form_moments(x):
    """The transform's Taylor coefficients at 0 (a polynomial through 1 and six real values near
    0) against the moments computed from the pieces in closed form: a check of the transform's
    every term, the later old intervals' included (bounded Pareto: the Gittins rank falls again
    near the top, so {r <= R} has a second component)."""
    from numpy.polynomial import polynomial as P

    d = _bpareto_gittins(x)
    tr = d._t
    assert tr._Xi.shape[0] > 0 or x is not None
    h = 5e-5
    s = h * np.arange(7)
    L = np.concatenate([[1.0], tr.lst(s[1:].astype(complex)).real])
    c = P.polyfit(s, L, 6)
    m1, m2 = tr.moments()
    assert -c[1] == pytest.approx(m1, rel=1e-7)
    assert 2 * c[2] == pytest.approx(m2, rel=1e-5)
