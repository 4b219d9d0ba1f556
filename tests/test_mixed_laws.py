"""Mixed size laws (a continuous part and atoms, ``qt.Mixture`` with a ``Deterministic`` or
``Empirical`` part), and rank tables whose slope is numerically flat.

Mixed laws were wrong in every route but FCFS and PS: the size rule and the prediction grids
used the density only (the atoms were lost), so at load 0.8 on ``Mixture([Exponential(1),
Deterministic(2)], [0.6, 0.4])`` LAS gave 2.18 against 6.53 (simulation 6.59 +- 0.13), SJF 1.43
against 3.04, and the generic evaluator's quantile cells put the atom's mass into one cell (FCFS
36.7 against 5.4).  Each route is compared here with an independent value: the reference of
``tests/reference_soap.py`` (exact quadrature over the joint law, atoms summed), the closed
forms, or a limit of purely discrete laws.

The simulator followed rising table segments in rank space to a relative 1e-12: on a slope of
6e-12 (the Gittins rank of HyperExponential([0.9, 0.1], [1, 21]) approaching 1/h = 21) members of
a tie class completed up to 3.5 time units early, and a blind table beat the optimal LAS (11.47
against 11.97).  Every work-conserving single-server schedule empties the system at the same
instant: the last departure is the invariant checked.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import reference_soap as ref
from test_invariants import Mismatches, compare_with_reference

import qtheory as qt
from qtheory import generic
from qtheory.engine.gittins import size_tails
from qtheory.laws._quadrature import log_spread, size_rule
from qtheory.sim import TabulatedRank, simulate_trace
from qtheory.sim._gittins import continuous_table
from qtheory.sim._policy import settle_slopes

MIXED = [
    qt.Mixture([qt.Exponential(1.0), qt.Deterministic(2.0)], [0.6, 0.4]),
    qt.Mixture([qt.Exponential(1.0), qt.Empirical([1.0, 4.0], weights=[2, 1])], [0.5, 0.5]),
    qt.Mixture([qt.Uniform(0.5, 3.0), qt.Deterministic(1.0)], [0.2, 0.8]),
    qt.Mixture([qt.LogNormal(1.0, 2.0), qt.Deterministic(0.5)], [0.7, 0.3]),
]
IDS = ["exp+det", "exp+empirical", "uniform+det(80%)", "lognormal+det"]
PREDICTIONS = [None, qt.ExponentialPrediction(), qt.UniformPrediction(0.5), qt.LogNormalPrediction(1.0),
               qt.BoundedMultiplicative(0.5, 2.0), qt.BoundedMultiplicative(0.5, 0.5),
               qt.BoundedMultiplicative(2.0, 2.0), qt.OneBit(1.0, 0.1, 0.2), qt.OneBit(2.0, 0.0, 0.3),
               qt.BoundedMultiplicative(0.5, 2.0, factors=([0.0, 1.5, np.inf], [0.5, 2.0]))]


FULL = os.environ.get("QTHEORY_FULL") == "1"
#: every joint-law class at least once in CI (x-outer and z-outer factors, fixed factors, one
#: bit, maps); the whole matrix under QTHEORY_FULL=1
QUICK = {(0, 0), (0, 1), (0, 2), (0, 5), (0, 7), (0, 9), (1, 0), (1, 4), (1, 6), (1, 8),
         (2, 0), (2, 3), (2, 5), (2, 7), (3, 0), (3, 6), (3, 8)}
MATRIX = [pytest.param(size, pred, id=f"{IDS[i]}-{pred!r}")
          for i, size in enumerate(MIXED) for j, pred in enumerate(PREDICTIONS) if FULL or (i, j) in QUICK]


@pytest.mark.parametrize("size, pred", MATRIX)
def test_mixed_laws_match_the_reference(size, pred):
    """Means, mean slowdowns and conditional means of every policy at load 0.8 (relative 1e-8)."""
    compare_with_reference(size, pred, 0.8).assert_none("engine and reference disagree on a mixed law")


def test_dominant_atom_builds_small_rules():
    """An atom holding 80% of the mass made the log spread 1e-6 (quartiles equal): ~4e7 panels."""
    size = MIXED[2]
    assert log_spread(size.ppf) > 0.1
    assert size_rule(size)[0].size < 5000


@pytest.mark.parametrize("size", MIXED[:2], ids=IDS[:2])
def test_generic_evaluator_on_mixed_laws(size):
    """The generic evaluator (quantile cells of the continuous part, the atoms as they are)
    against the closed forms, to 0.5% (its FCFS was 36.7 against 5.4). Its own error estimate
    is not the bound here: on continuous laws it under-reports for PSJF (issue 15: Exponential(1)
    at 0.8 is off by 0.0173 against an estimate of 0.0072; here 0.0063 against 0.0027)."""
    q = qt.MG1(0.8 / size.mean, size)
    bad = []
    for name in ("FCFS", "LAS", "SJF", "PSJF", "SRPT"):
        r = generic.evaluate(q, getattr(qt, name)(), [q.arrival_rate])
        exact = q.mean_response_time(name.lower())
        if not abs(r.mean[0] - exact) <= 5e-3 * exact:
            bad.append(f"{name}: generic {r.mean[0]!r} +- {r.error[0]!r}, closed form {exact!r}")
    assert not bad, "\n".join(bad)


def test_gittins_on_a_mixed_law_is_the_limit_of_discrete_laws():
    """Gittins on Exp(0.3)/Det(1)/Exp(5) at load 0.8: the discretisations with n quantile cells
    of the continuous parts (exact discrete Gittins) converge to first order (5.6853, 5.7334,
    5.7575, 5.7699 for n = 400, 800, 1600, 3200), so 2 v(800) - v(400) = 5.7814 estimates the
    limit; the library's 5.7861 is within 0.2% of it, and below LAS (5.920)."""
    size = qt.Mixture([qt.Exponential(0.3), qt.Deterministic(1.0), qt.Exponential(5.0)], [0.5, 0.3, 0.2])
    lam = 0.8 / size.mean
    g = qt.MG1(lam, size).mean_response_time(qt.Gittins())
    v = []
    for n in (400, 800):
        x, p = generic._size_atoms(size, n)
        v.append(qt.MG1(lam, qt.Empirical(x, weights=p)).mean_response_time(qt.Gittins()))
    limit = 2 * v[1] - v[0]
    assert abs(g - limit) <= 2e-3 * limit, (g, v, limit)
    assert g < qt.MG1(lam, size).mean_response_time("las")


def test_gittins_table_of_a_mixed_law_jumps_at_the_atom():
    """Just before an atom the Gittins rank falls to 0 (the job completes there with positive
    probability); the table holds that left limit and the jump at the atom's age."""
    size = qt.Mixture([qt.Exponential(0.3), qt.Deterministic(1.0), qt.Exponential(5.0)], [0.5, 0.3, 0.2])
    ages, ranks = continuous_table(*size_tails(size), size=size)
    at = np.flatnonzero(ages == 1.0)
    assert at.size == 2, ages[(ages > 0.9) & (ages < 1.1)]
    assert ranks[at[0]] < 1e-9 and ranks[at[1]] > 1.5


def test_settle_slopes():
    a = np.array([0.0, 1.0, 2.0, 30.0, 50.0])
    r = np.array([1.0, 5.0, 20.99, 20.9999999, 21.0 + 1e-10])
    s = settle_slopes(a, r)
    # 20.99 -> 20.9999999 (slope 3.6e-4): kept; then a rise of 1e-7 over 20 age units at
    # rank 21 (slope 5e-9 < 1e-6 * 21 / 50): flat
    assert s.tolist() == [1.0, 5.0, 20.99, 20.9999999, 20.9999999]
    assert settle_slopes(a, a).tolist() == a.tolist()  # LAS-like tables untouched
    rows = settle_slopes(np.vstack([a, a]), np.vstack([r, a]))
    assert rows.tolist() == [s.tolist(), a.tolist()]


@pytest.mark.parametrize("size", [
    qt.HyperExponential([0.9, 0.1], [1.0, 21.0]),
    qt.Mixture([qt.Exponential(0.3), qt.Deterministic(1.0), qt.Exponential(5.0)], [0.5, 0.3, 0.2]),
    qt.LogNormal(1.0),
], ids=["hyperexp", "mixed", "lognormal"])
def test_gittins_tables_conserve_work(size):
    """A Gittins table simulated on a 20,000-job trace at load 0.8 empties the system when FCFS
    does (to 1e-9 relative; without settled slopes the hyperexponential's table ended 2.74 time
    units early) and is no better than LAS where LAS is optimal (a DHR law)."""
    ages, ranks = continuous_table(*size_tails(size), size=size)
    rng = np.random.default_rng(3)
    n = 20_000
    x = size.sample(n, rng)
    t = np.cumsum(rng.exponential(size.mean / 0.8, n))
    T = simulate_trace(TabulatedRank((ages, ranks)), t, x)
    F = simulate_trace("fcfs", t, x)
    end = float(np.max(t + F))
    assert abs(float(np.max(t + T)) - end) <= 1e-9 * end
    assert np.all(T >= x * (1 - 1e-9) - 1e-9 * t)
    if isinstance(size, qt.HyperExponential):
        las = simulate_trace("las", t, x)
        # the table is LAS up to its last age and FCFS among the oldest jobs after: on
        # exponential tails the number in system, hence the mean, is the same
        assert abs(T.mean() - las.mean()) <= 0.02 * las.mean()


def test_weibull_slowdown_head_of_the_size_rule():
    """E[1/X] of Weibull(1.05) holds 15% of its mass below F = 1e-17: FCFS's slowdown was
    17.177 against 20.148; now to 1e-8 of 1 + lam E[X^2] E[1/X] / (2 (1 - rho))."""
    size = qt.Weibull(1.05, 1.0)
    q = qt.MG1(0.5, size)
    inv = math.gamma(1 - 1 / 1.05) / size.scale
    want = 1 + 0.5 * size.moment(2) / (2 * 0.5) * inv
    bad = Mismatches()
    bad.check("Weibull(1.05) FCFS slowdown", q.mean_slowdown("fcfs"), want)
    m = ref.RefModel(size)
    bad.check("Weibull(1.05) SJF slowdown", q.mean_slowdown("sjf"), m.mean_slowdown("sjf", 0.5))
    bad.assert_none("slowdowns of a law with E[1/X] nearly infinite")


MAPS = [([0.0, 1.5, np.inf], [0.5, 2.0]), ([0.0, 1.0, 2.0, np.inf], [2.0, 0.7, 1.3])]


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.LogNormal(1.0), qt.Uniform(0.5, 3.0),
                                  qt.Empirical([0.5, 1.5, 3.0]),
                                  qt.Mixture([qt.Exponential(1.0), qt.Deterministic(1.5)], [0.7, 0.3])],
                         ids=repr)
@pytest.mark.parametrize("factors", MAPS, ids=["two-pieces", "three-pieces"])
def test_factor_maps_match_the_reference(size, factors):
    """Y = v_k x on [e_k, e_{k+1}); the atom at 1.5 sits on an edge of the first map and takes the
    factor of the piece it starts (as the sampler assigns it)."""
    pred = qt.BoundedMultiplicative(0.5, 2.0, factors=factors)
    compare_with_reference(size, pred, 0.85).assert_none("engine and reference disagree on a factor map")


CONTINUOUS_MIXTURES = [
    qt.Mixture([qt.Exponential(1.0), qt.Uniform(1.0, 2.0)], [0.5, 0.5]),
    qt.Mixture([qt.Exponential(1.0), qt.Uniform(1.999, 2.001)], [0.6, 0.4]),
    qt.Mixture([qt.Uniform(0.2, 1.0), qt.Uniform(2.0, 3.0)], [0.7, 0.3]),
]


@pytest.mark.parametrize("size", CONTINUOUS_MIXTURES, ids=["exp+uniform", "exp+narrow-uniform", "gap"])
@pytest.mark.parametrize("pred", [None, qt.UniformPrediction(0.5), qt.OneBit(1.5, 0.1, 0.2)], ids=repr)
def test_continuous_mixtures_match_the_reference(size, pred):
    """A mixture's density jumps at its components' support ends: they are breakpoints of the
    mixture (they were not: LAS on Exp(1)/Uniform(1, 2) at load 0.8 was 8.1009 against 8.0035, and
    the narrow Uniform(1.999, 2.001) component was lost from the size rule, LAS 3.51 against
    11.10)."""
    compare_with_reference(size, pred, 0.8).assert_none("engine and reference disagree on a mixture")


@pytest.mark.parametrize("size", [qt.Uniform(1.0, 3.0), MIXED[0], CONTINUOUS_MIXTURES[1]],
                         ids=["uniform", "exp+det", "exp+narrow-uniform"])
@pytest.mark.parametrize("c", [0.3, 0.7])
def test_limited_preemption_mean_is_the_integral_of_its_conditional(size, c):
    """TRAIL with perfect predictions: the window (v, v/(1-c)] kinks at v = b(1-c) for every
    breakpoint b of the size law; without those grid points the mean was 0.29% low on the
    mixtures (3.70529 against 3.71609) and 7e-5 on Uniform(1, 3) at c = 0.3. The integral of
    ``limited_preemption_response_time(x, x)`` by the reference's adaptive quadrature (atoms
    summed) agrees to 1e-10."""
    q = qt.MG1(0.8 / size.mean, size, qt.PerfectPrediction())
    mean = float(qt.limited_preemption(q, c=c).mean)  # one load: a number

    def t(x):
        return float(qt.limited_preemption_response_time(q, c, np.array([x]), np.array([x]))[0])

    knots = [b * f for b in size.breakpoints for f in (1.0, 1 - c, 1 / (1 - c))]
    integral = ref.RefSize(size).expect(t, knots=knots)
    assert abs(mean - integral) <= 1e-10 * integral, (mean, integral)


@pytest.mark.parametrize("size", [
    qt.Mixture([qt.Exponential(1.190275634547549), qt.Deterministic(7.0)],
               [0.652107865204884, 0.34789213479511605]),
    qt.Empirical([1.0, 3.0, 7.0], weights=[1, 2, 3]),
])
@pytest.mark.parametrize("policy", ["sjf", "psjf", "srpt", "las"])
def test_a_size_next_to_an_atom_stays_on_its_side(size, policy):
    """MG1 evaluates in the unit E[X] = 1: the scaled size x / E[X] of a size one ulp below
    the atom 7 rounded onto the scaled atom, so SJF gave E[T | x] = 21.26 (the value at the
    atom, where the job waits for the other size-7 jobs) instead of the limit from below, 10.58.
    The limits from either side are the values at sizes a relative 1e-9 away (continuity of
    E[T | x] off the atoms), and the value at the atom is the evaluation in the law's own unit."""
    q = qt.MG1(0.8 / size.mean, size)
    own = qt.MG1(0.8 / size.mean, size)
    own.__dict__["_unit_cache"] = ((own.arrival_rate, id(size), None), own, 1.0)  # no rescaling
    for a in size.atom_values:
        below, above = np.nextafter(a, 0.0), np.nextafter(a, np.inf)
        got = q.response_time(policy, [below, a, above])
        ref_vals = [q.response_time(policy, a * (1 - 1e-9)), own.response_time(policy, a),
                    q.response_time(policy, a * (1 + 1e-9))]
        assert got == pytest.approx(ref_vals, rel=1e-7), (a, got, ref_vals)


def test_gittins_on_a_mixed_law_is_stable_under_rounding(monkeypatch):
    """The law of test_gittins_on_a_mixed_law_is_the_limit_of_discrete_laws with the exponential
    components' partial and tail moments multiplied by 1 + 1e-13 N(0, 1) (seeded): the value
    moved by 2.3e-7 at most over six seeds. It gave 5.7058, 5.7533 and 5.7869 for three seeds
    against 5.7863 when the ranks were ratios of differences of the tails (rounding amplified up
    to 1e6) and the flat exponential tail of the rank was ordered by rounding noise (now: by
    age, see ``qtheory.engine.gittins.law_rank``); without the age order (accurate ranks only)
    still by up to 0.8%. The value (5.77630) is also within its own error estimate (0.047) of
    the limit of the discrete laws: 5.7815, between 2 v(800) - v(400) = 5.7814 and
    2 v(3200) - v(1600) = 5.7823 (exact discrete Gittins on n quantile cells)."""
    from qtheory.laws import sizes

    rng = np.random.default_rng(1)
    part, tail = sizes.Exponential._partial, sizes.Exponential._tail

    def noisy(fn):
        return lambda self, k, x: fn(self, k, x) * (1 + 1e-13 * rng.standard_normal(np.shape(x)))

    size = qt.Mixture([qt.Exponential(0.3), qt.Deterministic(1.0), qt.Exponential(5.0)], [0.5, 0.3, 0.2])
    lam = 0.8 / size.mean
    res = generic.evaluate(qt.MG1(0.8, size.rescaled(1 / size.mean)), qt.Gittins(), [0.8])
    clean = float(qt.MG1(lam, size).mean_response_time(qt.Gittins()))
    assert clean == pytest.approx(float(res.mean[0]) * size.mean, rel=1e-12)
    assert abs(clean - 5.7815) <= float(res.error[0]) * size.mean, (clean, res.error)
    monkeypatch.setattr(sizes.Exponential, "_partial", noisy(part))
    monkeypatch.setattr(sizes.Exponential, "_tail", noisy(tail))
    size2 = qt.Mixture([qt.Exponential(0.3), qt.Deterministic(1.0), qt.Exponential(5.0)], [0.5, 0.3, 0.2])
    assert float(qt.MG1(lam, size2).mean_response_time(qt.Gittins())) == pytest.approx(clean, rel=1e-5)


def _mp_mixed_rank(a: float, m1: float, c: float, m2: float) -> float:
    """The Gittins rank of 0.5 Exp(mean m1) + 0.3 Det(c) + 0.2 Exp(mean m2) at age ``a``, at 40
    digits from the closed forms. The continuous part is hyperexponential (its inverse hazard
    rises), so the ratio int_a^b F / P(a < X <= b) rises with b except where it drops at the
    atom: the infimum is the limit b -> a+ (the inverse hazard) or the stop at the atom c
    (Gittins 1989; docs/gittins.md)."""
    import mpmath as mp

    with mp.workdps(40):
        m1, c, m2, a = mp.mpf(m1), mp.mpf(c), mp.mpf(m2), mp.mpf(a)

        def sf_cont(t):
            return mp.mpf(0.5) * mp.exp(-t / m1) + mp.mpf(0.2) * mp.exp(-t / m2)

        sf = sf_cont(a) + (mp.mpf(0.3) if a < c else 0)
        pdf = mp.mpf(0.5) / m1 * mp.exp(-a / m1) + mp.mpf(0.2) / m2 * mp.exp(-a / m2)
        r = sf / pdf
        if a < c:
            num = (mp.mpf(0.5) * m1 * (mp.exp(-a / m1) - mp.exp(-c / m1))
                   + mp.mpf(0.2) * m2 * (mp.exp(-a / m2) - mp.exp(-c / m2)) + mp.mpf(0.3) * (c - a))
            den = sf_cont(a) - sf_cont(c) + mp.mpf(0.3)
            r = min(r, num / den)
        return float(r)


def test_gittins_rank_of_a_mixed_law_against_mpmath():
    """The engine's rank of the mixed law (without the tie ramp) against a 40-digit evaluation
    from the closed forms, to 1e-13 relative at ages from 0 to 60, across the atom and deep in the
    exponential tail (where every stopping age ties, the rank formed from differences of the
    tails was 5e-11 low, and with the atoms' mass added to a 1e-14 cell before the atoms' lower
    part was taken off, 1.6% low at age 100); with the ramp, the tail ages are ordered
    by age and the rank is within 1e-6 relative of the exact one."""
    from qtheory.engine import gittins

    size = qt.Mixture([qt.Exponential(0.3), qt.Deterministic(1.0), qt.Exponential(5.0)], [0.5, 0.3, 0.2])
    unit = size.rescaled(1 / size.mean)
    ages = np.array([0.0, 1e-9, 1e-4, 0.05, 0.2, 0.4, 0.6, 0.68, 0.6896, 0.69, 0.7, 1.0, 2.0, 3.0,
                     5.0, 7.0, 10.0, 20.0, 40.0, 60.0])
    # the parameters of the unit-mean law as stored (c - a near the atom is exact in them)
    m1, c, m2 = (float(law._params().get("mean", law._params().get("value"))) for law in unit._laws)
    want = np.array([_mp_mixed_rank(a, m1, c, m2) for a in ages])
    b = size_tails(unit)[0]
    with_ramp = gittins.law_rank(unit, b, ages, gittins.TIE_RAMP)
    got = gittins.law_rank(unit, b, ages)
    assert np.allclose(got, want, rtol=1e-13, atol=0), np.abs(got / want - 1)
    assert np.allclose(with_ramp, want, rtol=1.0001e-6, atol=0)
    tail = ages >= 10.0
    assert np.all(np.diff(with_ramp[tail]) > 0), with_ramp[tail] - with_ramp[tail][0]


def test_a_callable_factor_map_joins_equal_pieces():
    """A callable map is sampled on 2048 log-spaced pieces; runs of equal factors are one piece
    (a constant callable took 100 s to build its joint law as 2048 pieces), with the same law:
    a step map given as a callable against the same map given as (edges, values), on the edge
    the callable's grid places (its pieces' ends)."""
    size = qt.Exponential(1.0)
    const = qt.BoundedMultiplicative(0.5, 2.0, factors=lambda x: 0.5 + 0 * x).joint(size)
    assert const.phi.tolist() == [0.5]
    step = qt.BoundedMultiplicative(0.5, 2.0, factors=lambda x: np.where(x < 1.0, 0.5, 2.0))
    j = step.joint(size)
    assert j.phi.tolist() == [0.5, 2.0]
    pairs = qt.BoundedMultiplicative(0.5, 2.0, factors=([0.0, float(j.e[1]), np.inf], [0.5, 2.0]))
    for pol in ("sprpt", "pspjf", "spjf"):
        a = qt.MG1(0.8, size, step).mean_response_time(pol)
        b = qt.MG1(0.8, size, pairs).mean_response_time(pol)
        assert abs(a - b) <= 1e-13 * b, (pol, a, b)
