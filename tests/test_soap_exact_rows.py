"""Row independence of the searches behind the generic SOAP route (issue 15, speed): the
Gittins index by golden-section search (:func:`qtheory.engine.soap_exact.gittins_rank`), the
crossings of a blind rank (:meth:`qtheory.engine.soap_exact.BlindRank.cross`), the rank tables
of SRPT-Bounce and TRAIL built from one breakpoint call for every class
(:func:`qtheory.engine.rank_tables.linear_tables`) and the factor route's error factor taken
without the joint law (:func:`qtheory.engine.soap_factor._factor`).

Each search stops row by row (a settled row no longer steps while another one does), so a
value does not depend on what else is computed in the same call: the checks compare one call
on many ages or levels with one call per age or level, bit for bit, and the crossings with an
independent bisection on the interpolant.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import generic, rank_tables, soap_exact, soap_factor
from qtheory.engine.soap_exact import blind_rank_function


@pytest.mark.parametrize("size", [qt.LogNormal(1.0), qt.Pareto(2.5), qt.BoundedPareto(1.5, 1.0, 100.0)],
                         ids=repr)
def test_gittins_rank_of_one_age_is_its_value_in_a_batch(size):
    """The Gittins rank at an age is the same alone and among 40 others (before, a settled row
    kept stepping while another row's two inner values differed by more than rounding, so its
    value depended on its neighbours; measured on LogNormal(1): 3e-15 relative)."""
    q = qt.MG1(0.5 / size.mean, size)
    rank = blind_rank_function(q, qt.Gittins())
    lo = size.support[0]
    a = lo + np.geomspace(0.01, 30.0, 41) * size.mean
    batch = rank(a)
    alone = np.array([rank(np.array([v]))[0] for v in a[::4]])
    np.testing.assert_array_equal(alone, batch[::4])
    # the index is an infimum over stopping ages that includes the two limits b -> a+
    # (1/h(a)) and b = inf (the mean residual life), computed here from the law directly
    sf, pdf = size.sf(a), size.pdf(a)
    mrl = (size.tail_moment(1, a) - a * sf) / sf
    assert np.all(batch <= np.minimum(sf / pdf, mrl) * (1 + 1e-12))
    assert np.all(batch > 0)


def test_cross_matches_bisection_and_ignores_out_of_range_levels():
    """The ages where the Gittins rank of LogNormal(1) (falling, then rising) crosses given
    levels: equal to a plain bisection on the interpolant (to 1e-13 relative in the age), the
    same whether asked alone or among levels outside the piece (answered by the piece's ends)."""
    s = qt.LogNormal(1.0)
    br = soap_exact._blind_rank(qt.MG1(0.5, s), qt.Gittins())
    sh = br.shape
    for k in range(sh.ua.size):
        if sh.dirn[k] == 0:
            continue
        lo_r, hi_r = sorted((sh.ra[k], sh.rb[k]))
        inner = lo_r + (hi_r - lo_r) * np.array([1e-9, 0.013, 0.3, 0.77, 1 - 1e-9])
        outside = np.array([lo_r - 1.0, hi_r + 1.0, sh.ra[k], sh.rb[k]])
        mixed = br.cross(k, np.concatenate([outside, inner]))
        alone = np.concatenate([br.cross(k, np.array([v])) for v in inner])
        np.testing.assert_array_equal(mixed[4:], alone)
        ends = {sh.ra[k]: sh.pa[k], sh.rb[k]: sh.pb[k]}
        below = sh.pa[k] if sh.dirn[k] > 0 else sh.pb[k]
        above = sh.pb[k] if sh.dirn[k] > 0 else sh.pa[k]
        assert mixed[0] == below and mixed[1] == above
        assert mixed[2] == ends[sh.ra[k]] and mixed[3] == ends[sh.rb[k]]
        # an independent bisection on the interpolant, in log age
        sgn = 1.0 if sh.dirn[k] > 0 else -1.0
        for lv, got in zip(inner[1:-1], alone[1:-1]):  # (next to an extremum: ill-posed)
            a, b = sh.ua[k], sh.ub[k]
            for _ in range(64):
                m = (a + b) / 2
                if sgn * br.interp(np.array([m]))[0] < sgn * lv:
                    a = m
                else:
                    b = m
            assert got == pytest.approx(np.exp((a + b) / 2), rel=1e-13, abs=1e-300)


@pytest.mark.parametrize("policy", [qt.SRPTBounce(), qt.TRAIL(0.4)], ids=lambda p: p.name)
def test_linear_tables_one_breakpoint_call_equals_per_class(policy):
    """The tables of SRPT-Bounce and TRAIL from one breakpoint call for every class equal the
    per-class calls bit for bit (on 200 pairs with tied and distinct predictions), and the
    per-class route is what a subclass that overrides ``age_breakpoints`` gets."""
    rng = np.random.default_rng(3)
    x = rng.exponential(1.0, 200)
    y = np.round(x * rng.exponential(1.0, 200), 1) + 0.05
    dj, _ = generic.discretise(qt.MG1(0.5, prediction=qt.EmpiricalPairs(x, y)), "prediction", 48)
    xs = np.concatenate(dj.x)
    xo = np.concatenate([[0], np.cumsum([a.size for a in dj.x])]).astype(np.int64)
    d = np.asarray(dj.d, float)
    fast = rank_tables.linear_tables(policy, d, xs, xo)

    class PerClass(type(policy)):
        def age_breakpoints(self, dv):
            return type(policy).age_breakpoints(self, dv)

    slow_policy = copy.copy(policy)
    slow_policy.__class__ = PerClass
    assert type(slow_policy).age_breakpoints not in rank_tables._ELEMENTWISE_BREAKPOINTS
    slow = rank_tables.linear_tables(slow_policy, d, xs, xo)
    for f, s in zip(fast, slow):
        np.testing.assert_array_equal(f, s)
    assert fast[0].size > xs.size + d.size  # the breakpoints are in the grid


def test_factor_without_the_joint_law():
    """The factor route reads the prediction law's own factor where it builds FactorJoint(size,
    factor) (exponential errors), the joint law's factor where the law builds its joint law
    itself (uniform errors), and nothing for a law that is not multiplicative."""
    size = qt.Exponential(1.0)
    for pred in (qt.ExponentialPrediction(), qt.UniformPrediction(0.5)):
        q = qt.MG1(0.5, size, pred)
        got = soap_factor._factor(q)
        assert got is pred.joint(size).factor
    x = np.array([1.0, 2.0])
    assert soap_factor._factor(qt.MG1(0.3, prediction=qt.EmpiricalPairs(x, x))) is None
