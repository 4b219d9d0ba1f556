"""The generic SOAP route on discrete laws (issue 15): the level sweep
(:mod:`qtheory.engine.soap_sweep`, n log n) and the class-at-once rank tables
(:mod:`qtheory.engine.rank_tables`, the exact Gittins envelope).

References: the per-threshold scan of :mod:`qtheory.engine._soap_discrete` on the same tables
(an independent implementation of the same finite sums), the direct Gittins minimisation over
the atoms (:func:`qtheory.engine.gittins.rank_at`), SRPT's and Gittins' own routes where
ConditionalGittins reduces to them, and the chord tables refined towards the envelope.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import generic, rank_tables
from qtheory.engine.gittins import rank_at


def _pairs(n, seed, round_to=None, repeat=False):
    rng = np.random.default_rng(seed)
    x = rng.exponential(1.0, n)
    y = x * rng.exponential(1.0, n)
    if repeat:  # repeated sizes (several atoms per class and ties across classes)
        x[: n // 3] = x[n // 3: 2 * (n // 3)]
    if round_to is not None:
        y = np.round(y, round_to)
    return x, y


PAIRS = [(5, 1, 1, False), (40, 2, 1, True), (150, 3, 1, True), (60, 4, None, False)]
PRED_POLICIES = [qt.ConditionalGittins(), qt.SRPTBounce(), qt.SPRPT(), qt.PSPJF(), qt.SPJF()]
BLIND_SIZE_POLICIES = [qt.Gittins(), qt.SRPT(), qt.LAS(), qt.FCFS(), qt.PSJF(), qt.SJF()]


def _both(model, policy, legacy):
    dj, exact = generic.discretise(model, policy.descriptor, 48)
    assert exact
    lams = np.array([0.3, 0.7, 0.95]) / model.size.mean
    a = generic._evaluate_discrete(policy, dj, lams, snap=True, engine="scan", legacy_tables=legacy)
    b = generic._evaluate_discrete(policy, dj, lams, snap=True, engine="sweep", legacy_tables=legacy)
    return a, b


@pytest.mark.parametrize("case", PAIRS, ids=str)
def test_sweep_equals_scan_on_the_same_tables(case):
    """The level sweep gives the per-threshold scan's E[T] (three loads) and every atom's
    E[T | x, y], to 1e-12 relative (measured: 3e-13 at worst), on the same rank tables, for
    prediction, size and blind ranks (non-monotone, jumps, ties across classes)."""
    x, y, = _pairs(*case)
    pairs = qt.MG1(0.8 / x.mean(), prediction=qt.EmpiricalPairs(x, y))
    sizes = qt.MG1(0.8 / x.mean(), qt.Empirical(x))
    for model, policies in ((pairs, PRED_POLICIES), (sizes, BLIND_SIZE_POLICIES)):
        for pol in policies:
            for legacy in (True, False):
                a, b = _both(model, pol, legacy)
                np.testing.assert_allclose(b[0], a[0], rtol=1e-12, atol=0, err_msg=pol.name)
                np.testing.assert_allclose(b[1], a[1], rtol=1e-12, atol=0, err_msg=pol.name)


def test_sweep_equals_scan_on_a_discretised_continuous_law():
    """Also on chord tables of a discretised continuous law (the conditional Gittins rank of
    Exp sizes with exponential predictions, no tie snapping): E[T] to 1e-9 (measured 1.0e-10),
    E[T | x, y] to 1e-6 (measured 6.4e-8). Chord ends a few ulps apart make gaps of width
    ~1e-16 in the level table; the scan takes N_new's slope on a gap from its values at the
    gap's thirds, which round onto the gap's ends there, while the sweep carries the slope of
    each class exactly; on a nearly flat chord (a long age range over such a gap) the two
    residence integrals then differ.)"""
    q = qt.MG1(0.8, qt.Exponential(1.0), prediction=qt.ExponentialPrediction())
    pol = qt.ConditionalGittins()
    dj, _ = generic.discretise(q, "prediction", 8)
    tails_of = generic._continuous_gittins(q, pol)
    lams = np.array([0.5, 0.8])
    a = generic._evaluate_discrete(pol, dj, lams, tails_of, engine="scan")
    b = generic._evaluate_discrete(pol, dj, lams, tails_of, engine="sweep")
    np.testing.assert_allclose(b[0], a[0], rtol=1e-9, atol=0)
    np.testing.assert_allclose(b[1], a[1], rtol=1e-6, atol=0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_gittins_envelope_is_the_rank(seed):
    """The exact Gittins table (lower envelope of the stopping lines) equals the direct
    minimisation over the atoms at random ages and at its own corners, to 1e-11 relative
    (measured 3.7e-12: both sides round differences of tail sums), and
    falls to 0 just before each atom."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.lognormal(0.0, 1.0, 12))
    p = rng.random(12)
    g, P, S, E, go = rank_tables.gittins_tables(x, p, np.array([0, x.size]))
    assert go[-1] == g.size and g[0] == 0.0 and g[-1] == x[-1]
    assert np.all(np.diff(g) > 0) and np.isin(x, g).all()
    # the table's rank at ages inside the segments: linear from S to E
    m = rng.integers(0, g.size - 1, 400)
    t = rng.random(400)
    a = g[m] + t * (g[m + 1] - g[m])
    table = S[m] + t * (E[m] - S[m])
    # near an atom the rank goes to 0 and the direct ratio cancels: absolute 1e-14 of the scale
    np.testing.assert_allclose(table, rank_at(x, p, a), rtol=1e-11, atol=1e-14 * x[-1])
    fin = np.isfinite(P)
    np.testing.assert_allclose(P[fin], rank_at(x, p, g[fin]), rtol=1e-11, atol=0)
    np.testing.assert_allclose(S[:-1], P[:-1], rtol=1e-15, atol=0)  # right-continuous
    before_atom = np.isin(g[1:], x)
    assert np.all(E[:-1][before_atom] == 0.0)


def test_gittins_chords_converge_to_the_envelope():
    """The class-by-class chord tables (8 interior ages a segment) were 2.6e-3 off in a
    conditional mean on five atoms; refined to 512 ages they agree with the envelope to 1e-8."""
    x, _ = _pairs(5, 7)
    q = qt.MG1(0.8 / x.mean(), qt.Empirical(x))
    pol = qt.Gittins()
    dj, _ = generic.discretise(q, "none", 48)
    lam = np.array([0.8 / x.mean()])
    exact = generic._evaluate_discrete(pol, dj, lam, snap=True)
    old = generic.REFINE
    try:
        generic.REFINE = 512
        fine = generic._evaluate_discrete(pol, dj, lam, snap=True, legacy_tables=True)
    finally:
        generic.REFINE = old
    np.testing.assert_allclose(fine[1], exact[1], rtol=1e-8, atol=0)


def test_conditional_gittins_reductions_on_pairs():
    """ConditionalGittins on EmpiricalPairs is SRPT with exact predictions (y = x) and Gittins
    of the size law with one prediction value for every job, to 1e-12."""
    x, _ = _pairs(200, 5, repeat=True)
    lam = 0.85 / x.mean()
    emp = qt.Empirical(x)
    perfect = qt.MG1(lam, prediction=qt.EmpiricalPairs(x, x))
    blind = qt.MG1(lam, prediction=qt.EmpiricalPairs(x, np.ones_like(x)))
    srpt = qt.MG1(lam, emp).mean_response_time("srpt")
    gitt = generic.evaluate(qt.MG1(lam, emp), qt.Gittins(), [lam]).mean[0]
    for q, ref in ((perfect, srpt), (blind, gitt)):
        r = generic.evaluate(q, qt.ConditionalGittins(), [lam])
        assert r.exact
        assert r.mean[0] == pytest.approx(ref, rel=1e-12)


def test_ten_thousand_pairs_in_seconds():
    """n log n: ConditionalGittins and SRPT-Bounce on 10,000 pairs take well under 2 s each
    (measured 0.3 s on one core; the scan took 29 s at 1,000 pairs), and agree with 10x fewer
    pairs' trend (a sanity check: the values are finite and near the 1,000-pair ones)."""
    x, y = _pairs(10_000, 11)
    q = qt.MG1(0.8 / x.mean(), prediction=qt.EmpiricalPairs(x, y))
    small = qt.MG1(0.8 / x[:1000].mean(), prediction=qt.EmpiricalPairs(x[:1000], y[:1000]))
    for pol in (qt.ConditionalGittins(), qt.SRPTBounce()):
        generic.evaluate(small, pol, [small.arrival_rate])  # compile
        t = time.perf_counter()
        v = generic.evaluate(q, pol, [q.arrival_rate]).mean[0]
        took = time.perf_counter() - t
        assert took < 4.0, f"{pol.name}: {took:.2f} s on 10,000 pairs"
        v_small = generic.evaluate(small, pol, [small.arrival_rate]).mean[0]
        assert np.isfinite(v) and abs(v / v_small - 1) < 0.2
