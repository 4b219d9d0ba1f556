"""ConditionalGittins on the law itself for more prediction laws (issue 15): the level sets in
the prediction as unions of intervals (:mod:`qtheory.engine._conditional_structure`).

References, each written separately from the code under test:

* the level functions of Weibull(2) sizes with exponential predictions by nested scipy
  quadrature (``tests/conditional_gittins_ihr_reference.py``: the conditional laws are
  log-concave, the rank is the mean residual life); the numbers below are its printed output;
* the union-of-intervals rules against the measure of the level sets of known functions;
* E[T] of Weibull(2) sizes with exponential predictions: the same reference's own outer
  integral (by parts, over the predictions), below SPRPT, PSPJF and SPJF, and the simulator
  (slow: ``QTHEORY_FULL=1``).
"""

from __future__ import annotations

import functools
import math
import os
import types

import numpy as np
import pytest
from stats_policy import assert_consistent

import qtheory as qt
from qtheory.engine import _conditional_structure as st
from qtheory.engine import soap_conditional as sc
from qtheory.engine.soap_exact import _TN, PiecewiseCheb

FULL = os.environ.get("QTHEORY_FULL") == "1"
WEIBULL = qt.Weibull(2.0)
WFACTOR = qt.ExponentialPrediction().joint(WEIBULL).factor
EXP = qt.Exponential(1.0)
EFACTOR = qt.ExponentialPrediction().joint(EXP).factor

#: (l, N(l), S2(l)) from ``python tests/conditional_gittins_ihr_reference.py 0.35456057
#: 0.74643272 1.57141501`` (l = 0.355 < 2/pi: old work only, from every prediction)
IHR_LEVELS = [
    (0.35456057, 0.0, 0.050291351763881775),
    (0.74643272, 0.08966352643061648, 0.7497230357909774),
    (1.57141501, 0.9617885391079536, 1.262938986619888),
]


@pytest.fixture(scope="module")
def weibull_levels():
    return sc.LevelCalc(WEIBULL, WFACTOR)


def test_weibull_takes_the_general_structure(weibull_levels):
    """On Weibull(2) / exponential predictions the minimal rank (the inverse hazard at the
    truncation end: the hazard rises all along) falls with y: the level sets are built as
    unions of intervals (it raised 'r(y, 0) is not increasing in y' and took the discretised
    route); on Exp/Exp both increase and the monotone rules stay."""
    assert weibull_levels.general
    assert not sc.LevelCalc(EXP, EFACTOR).general
    q = qt.MG1(0.8, WEIBULL, prediction=qt.ExponentialPrediction())
    assert sc.supported(q, qt.ConditionalGittins())


def test_weibull_levels_match_an_independent_quadrature(weibull_levels):
    """N(l) and S2(l) on the laws at the rules' nodes against nested scipy quadrature, to 1e-12
    relative (measured 7e-15), below 2/pi (every prediction has old work, none new work: the
    monotone rules gave 0 there) and above it."""
    L = np.array([p[0] for p in IHR_LEVELS])
    N, S2 = sc.level_values(weibull_levels, L, exact=True)
    for (ell, n_ref, s_ref), n, s in zip(IHR_LEVELS, N, S2):
        assert abs(n - n_ref) <= 1e-12 * max(n_ref, 1e-3), (ell, n, n_ref)
        assert abs(s / s_ref - 1) < 1e-12, (ell, s, s_ref)


def test_general_rules_reproduce_the_monotone_rules():
    """On Exp/Exp (r(y, 0) and m(y) increasing) the union-of-intervals rules are the monotone
    rules: the same level functions to 1e-11 relative (measured 1.7e-12), levels from below the
    hazard's peak to above every rank."""
    lc = sc.LevelCalc(EXP, EFACTOR)
    L = np.array([1e-3, 0.5, 0.97, 1.1, 3.0])
    N1, S1 = sc.level_values(lc, L, exact=True)
    lc.general = True
    N2, S2 = sc.level_values(lc, L, exact=True)
    assert np.all(np.abs(N2 / N1 - 1) < 1e-11), N2 / N1 - 1
    assert np.all(np.abs(S2 / S1 - 1) < 1e-11), S2 / S1 - 1


def _fake_levels(f0, fm, ulo=-3.0, uhi=3.0, panels=24):
    """A stand-in for ``LevelCalc`` with log r(y, 0) = f0(u) and log m(y) = fm(u)."""
    e = np.linspace(ulo, uhi, panels + 1)
    un = e[:-1, None] + (e[1:] - e[:-1])[:, None] * (_TN[None, :] + 1) / 2
    nan = np.full(panels, np.nan)
    return types.SimpleNamespace(lr0=PiecewiseCheb(e, nan, f0(un)), lm=PiecewiseCheb(e, nan, fm(un)),
                                 uylo=ulo, uyhi=uhi, n_head=12, order=8, n_tip=8,
                                 head_ratio=1.3, tip_ratio=0.6)


def _roots(g, ll: float) -> list:
    from scipy import optimize

    us = np.linspace(-3, 3, 4001)
    v = g(us) - ll
    return [optimize.brentq(lambda u: g(u) - ll, us[i], us[i + 1], xtol=1e-15)
            for i in np.nonzero(np.sign(v[1:]) != np.sign(v[:-1]))[0]]


def _set_measures(ll: float) -> tuple[float, float]:
    """The measures (in y) of {sin(2u) <= ll} and {sin(2u) - 1 - u/4 < ll < sin(2u)}."""
    def r0(u):
        return np.sin(2 * u)

    def m(u):
        return np.sin(2 * u) - 1 - u / 4

    from scipy import integrate

    b = [-3.0] + sorted(_roots(r0, ll) + _roots(m, ll)) + [3.0]
    head = old = tip = 0.0
    for lo, hi in zip(b[:-1], b[1:]):
        u = 0.5 * (lo + hi)
        d = math.exp(hi) - math.exp(lo)
        if r0(u) <= ll:
            head += d
        elif m(u) < ll:
            old += d
            tip += integrate.quad(lambda v: math.sqrt(max(ll - m(v), 0.0)) * math.exp(v), lo, hi,
                                  epsabs=0, epsrel=1e-13, limit=200)[0]
    return head, old, tip


def test_union_of_intervals_measures_the_level_sets():
    """With log r(y, 0) = sin(2u) and log m = sin(2u) - 1 - u/4 on u = log y in [-3, 3] (three
    intervals of each set at level 1/2), the head weights integrate dy over {r(y, 0) <= l},
    the old ones over {m(y) < l < r(y, 0)} (their measures from the crossings by
    brentq), and sqrt(l - m) dy over the old set (scipy quadrature), to 1e-10 relative; the
    old nodes lie in the old set, the head nodes in the head set."""
    lc = _fake_levels(lambda u: np.sin(2 * u), lambda u: np.sin(2 * u) - 1 - u / 4)
    for ell in (0.5, 0.9, 1.5, 2.9):
        ll = math.log(ell)
        uA, wA, uB, wB = st.general_level_nodes(lc, np.array([ell]))
        head, old, tip = _set_measures(ll)
        # an integrand vanishing like a square root where m crosses the level (as the old
        # intervals' at the hazard's peak): smooth in the tip rules' variable s
        got = float(np.sum(wB * np.sqrt(np.maximum(ll - (np.sin(2 * uB) - 1 - uB / 4), 0.0))))
        assert abs(got - tip) <= 1e-10 * max(tip, 1.0), (ell, got, tip)
        assert abs(wA.sum() - head) <= 1e-10 * max(head, 1.0), (ell, wA.sum(), head)
        assert abs(wB.sum() - old) <= 1e-10 * max(old, 1.0), (ell, wB.sum(), old)
        sa = wA > 0
        assert np.all(np.sin(2 * uA[sa]) <= ll + 1e-12)
        sb = wB > 0
        assert np.all((np.sin(2 * uB[sb]) >= ll - 1e-12) & (np.sin(2 * uB[sb]) - 1 - uB[sb] / 4 <= ll + 1e-12))


def test_critical_levels_are_the_extremes():
    """The critical levels (panel edges of the level interpolants) are the end values and the
    interior extremes of r(y, 0) and m(y): for log r0 = sin(2u) on [-3, 3], e^{+-1} and the
    end values, to 1e-12."""
    lc = _fake_levels(lambda u: np.sin(2 * u), lambda u: np.full(u.shape, -5.0))
    got = np.log(st.critical_levels(lc))
    want = np.unique([-5.0, 1.0, -1.0, math.sin(-6.0), math.sin(6.0)])
    assert got.size == want.size and np.max(np.abs(got - want)) < 1e-12, got


# ---- bounded factors: X | y on [y / z_hi, y / z_lo] ---------------------------------------------
#: (l, N(l), S2(l)) from ``python tests/conditional_gittins_ihr_reference.py uniform ZLO ZHI
#: 0.05 0.35456057 0.74643272 1.57141501`` (Weibull(2) sizes)
BOUNDED_LEVELS = {
    (0.5, 2.0): [(0.05, 4.1880029320654905e-05, 0.00017344794487315912),
                 (0.35456057, 0.014816205894496729, 0.13076203274798265),
                 (0.74643272, 0.13779654344783543, 0.5707189780814901),
                 (1.57141501, 0.8339985351505427, 1.184573483174921)],
    (0.5, 1.5): [(0.05, 4.906330486863317e-05, 0.0002582219249829822),
                 (0.35456057, 0.017085271456851323, 0.15111130576850323),
                 (0.74643272, 0.1477138671574922, 0.5410846980581447),
                 (1.57141501, 0.8132901816861414, 1.1734941960852578)],
}


@functools.cache
def bounded_levels(pred):
    """The level machinery of Weibull(2) sizes with the bounded factor of ``pred`` (built once)."""
    return sc.LevelCalc(WEIBULL, pred.joint(WEIBULL).factor)


#: the factor uniform on [0.5, 1.5] (one object: :func:`bounded_levels` caches by identity)
UNIFORM_05 = qt.UniformPrediction(0.5)


@pytest.mark.parametrize("pred", [qt.BoundedMultiplicative(0.5, 2.0), UNIFORM_05], ids=repr)
def test_bounded_factor_levels_match_an_independent_quadrature(pred):
    """Weibull(2) sizes with a uniform factor (X | y log-concave on [y / z_hi, y / z_lo], its
    hazard climbing to infinity at the top end): N(l) within 1e-12 and S2(l) within 1e-10
    relative of nested scipy quadrature (measured 1.5e-14 and 3.6e-12; with the old
    intervals' pieces of 3 units of log y, as on unbounded factors, S2 was 2.9e-9 off). The
    old intervals' integrand has a kink in y where B_y(l) passes the support's start (the rank
    there crosses l): rules blind to it converged to S2 7e-4 off at l = 0.355."""
    fac = pred.joint(WEIBULL).factor
    assert sc.supported(qt.MG1(0.5, WEIBULL, prediction=pred), qt.ConditionalGittins())
    lc = bounded_levels(pred)
    assert lc.general and lc.lrs is not None
    ref = BOUNDED_LEVELS[(fac.a, fac.b)]
    N, S2 = sc.level_values(lc, np.array([p[0] for p in ref]), exact=True)
    for (ell, n_ref, s_ref), n, s in zip(ref, N, S2):
        assert abs(n / n_ref - 1) < 1e-12, (ell, n, n_ref)
        assert abs(s / s_ref - 1) < 1e-10, (ell, s, s_ref)


def test_bounded_factor_tables_follow_the_laws():
    """Weibull(2) sizes with a factor uniform on [0.5, 1.5]: the tables agree with the
    conditional laws built at the y-rules' nodes within TABLE_TOL (measured 1.2e-10 at seven
    levels in [0.05, 1.3]), so the route does not rebuild the level functions on the laws.
    The old intervals' tables are split where B_y(l) passes the support's start (q_s: without,
    S2 was 9.7e-4 off at l = 0.1, 1e-4 at 0.2), their y-panels halved towards u_s on either
    side (without: 6.4e-6 at l = 0.2)."""
    pred = qt.UniformPrediction(0.5)
    lc = bounded_levels(pred)
    L = np.array([0.1, 0.2])
    Nx, Sx = sc.level_values(lc, L, exact=True, compiled=True)
    Nt, St = sc.level_values(lc, L)
    m2 = float(WEIBULL.tail_moment(2, np.array(0.0)))
    assert lc.tables().split
    assert np.all(np.abs(St - Sx) <= sc.TABLE_TOL * np.maximum(Sx, 1e-3 * m2)), (St - Sx) / Sx
    assert np.all(np.abs(Nt - Nx) <= sc.TABLE_TOL * np.maximum(Nx, 1e-3)), Nt - Nx


def test_exact_level_values_in_chunks(monkeypatch):
    """The level functions on the laws at the nodes (the route's fallback) are computed a chunk
    of levels at a time (all at once they were killed at 20 GB): the same values as in one call,
    and the parts of S2 (``last_parts``) in the levels' order."""
    lc = bounded_levels(qt.UniformPrediction(0.5))
    L = np.array([0.05, 0.2, 0.5, 1.0, 1.5])
    monkeypatch.setattr(sc, "EXACT_CHUNK", 100)
    N1, S1 = sc.level_values(lc, L, exact=True, compiled=True)
    p1 = lc.last_parts
    monkeypatch.setattr(sc, "EXACT_CHUNK", 2)
    N2, S2 = sc.level_values(lc, L, exact=True, compiled=True)
    assert np.allclose(N2, N1, rtol=1e-14, atol=0) and np.allclose(S2, S1, rtol=1e-14, atol=0)
    for a, b in zip(lc.last_parts, p1):
        assert np.allclose(a, b, rtol=1e-14, atol=1e-300)


def test_bounded_factor_old_interval_at_the_support_end():
    """Where the hazard climbs to infinity at the support's end, F(a_p) (the test for an old
    interval) is 0 up to rounding: at this prediction (u = -0.6030350878885619, a node of the
    y-rule at l = 0.2, factor uniform on [0.5, 1.5]) the compiled root came out NaN, the node's
    old work 0 (S2 9e-3 off); it is the root of mrl(y, B) = l, computed by the Python path,
    to 1e-12."""
    fac = qt.UniformPrediction(0.5).joint(WEIBULL).factor
    lc = bounded_levels(qt.UniformPrediction(0.5))
    u = np.array([[-0.6030350878885619]])
    _, _, comp = sc.node_values_compiled(lc, np.array([0.2]), u, u)
    _, _, exact = sc.node_values_exact(lc, np.array([0.2]), u, u)
    assert comp[0, 0] > 0 and abs(comp[0, 0] / exact[0, 0] - 1) < 1e-12, (comp, exact)
    cb = sc.CondBatch(WEIBULL, fac, np.exp(u[0]), lc.panels_n, lc.xr)
    B = cb.b_old(np.array([0.2]), cb.c_new(np.array([0.2])))
    assert cb.xlo[0] < B[0] < cb.ap[0]


def test_bounded_factor_outer_rule_mass():
    """The outer rule's x-nodes carry the law of X | y: per prediction, their mass is f_Y(y)
    (for the factor uniform on [0.5, 1.5], the integral of f(x)/x over [y/1.5, y/0.5] by scipy
    quadrature) to 1e-12. The no-mass panel [0, y/1.5] ends at the support's start, where the
    density's limit from inside is positive: with it, the mass was 9.8e-4 high (E[T] 0.5%)."""
    from scipy import integrate

    from qtheory.engine.soap_exact import _FULLW

    pred = qt.UniformPrediction(0.5)
    lc = bounded_levels(pred)
    u = np.array([-4.0, -1.0, 0.0, 1.0])
    rule = sc.OuterRule(WEIBULL, pred.joint(WEIBULL).factor, lc, ynodes=(u, np.ones(u.size)),
                        nfall=2, nrise=2, xorder=4)
    mass = np.sum(rule.wf_x @ _FULLW, axis=1) + rule.w1.sum(1) + rule.w2.sum(1)
    for y, got in zip(np.exp(u), mass):
        want = integrate.quad(lambda x: float(WEIBULL.pdf(x)) / x, y / 1.5, y / 0.5,
                              epsabs=0, epsrel=1e-13)[0]
        assert abs(got / want - 1) < 1e-12, (y, got, want)


def test_bounded_factor_density_at_the_support_ends():
    """The conditional law's panels end at the support's ends y / z_hi, y / z_lo, where y / x
    rounds to either side of the factor's end: the density there is the one-sided limit from
    inside, never 0 (a 0 at the end node of a panel costs the panel's accuracy)."""
    fac = qt.UniformPrediction(0.5).joint(WEIBULL).factor
    ys = np.exp(np.linspace(-3.0, 1.0, 41))
    cb = sc.CondBatch(WEIBULL, fac, ys)
    assert np.allclose(cb.xlo, ys / 1.5, rtol=1e-14, atol=0)
    first = cb.kn[:, 0, 0]
    assert np.all(first > 0)
    want = np.asarray(WEIBULL.pdf(cb.xn[:, 0, 0])) / cb.xn[:, 0, 0]  # f(x) f_Z / x, f_Z = 1
    assert np.allclose(first, want, rtol=1e-13, atol=0)


def test_exponential_sizes_with_a_uniform_factor_decline():
    """On exponential sizes the hazard of X | y falls, then climbs to infinity at the support's
    top end (not single-peaked): the single-peaked laws decline (FloatingPointError), and the
    bathtub route takes over (test_soap_conditional_bathtub.py)."""
    fac = qt.UniformPrediction(0.5).joint(EXP).factor
    with pytest.raises(FloatingPointError):
        sc.CondBatch(EXP, fac, np.array([0.3, 1.0]))


# ---- E[T]: the independent reference, orderings and the simulator -------------------------------
CASES = {"weibull-exp": qt.ExponentialPrediction()}

def test_outer_rule_ignores_the_critical_levels_below_the_level_floor():
    """Weibull(2) sizes, factor uniform on [0.5, 1.5]: the minimal rank, held at least
    M_FLOOR E[X] (its true value at the truncation end is rounding), has extremes near 1e-12
    that ``critical_levels`` lists (10 of 17); below the level floor l_lo (1e-10 E[X]) the
    level functions are 0, so they are no kinks of N(r(y, a)) and the outer rule's falling
    branch takes no edge at them (on Exp sizes with a log-uniform factor 225 of 227 such
    levels: 1,000 laws x 227 roots, and every row as many panels as the row with the most
    crossings). The levels at or above l_lo all stay."""
    lc = bounded_levels(UNIFORM_05)
    crit = st.critical_levels(lc)
    lo = sc.level_span(lc)[0]
    assert lo == 1e-10 * float(WEIBULL.mean)
    out = sc.outer_critical_levels(lc)
    assert np.count_nonzero(crit < lo) >= 5, crit  # (the noise this is about)
    assert np.array_equal(out, crit[crit >= lo]), (out, crit)
    # the level functions are 0 below l_lo: the route's N and S2 clip there
    N = sc._clip_interp(PiecewiseCheb(np.array([math.log(lo), 0.0]), np.array([np.nan]),
                                      np.ones((1, _TN.size))), lo, 1.0, 1.0)
    assert np.all(N(crit[crit < lo]) == 0.0)


def test_general_level_interpolants_stop_at_narrow(means):
    """On the general structures the level interpolants are refined down to panels of NARROW
    (1e-6 in log l; the tails of narrower panels, next to a critical level, do not converge
    and are left out of the interpolation error): Weibull(2) / exponential predictions 46
    panels (down to 1e-9: 52, with E[T] and its estimate unchanged to the last digit; on
    Erlang(2) sizes with a uniform factor 727 panels against 303, 5.6 times the CPU)."""
    cs = sc._tables(qt.MG1(0.8, WEIBULL, prediction=qt.ExponentialPrediction()))
    assert cs.lc.general
    w = np.diff(cs.Ni.edges)
    assert w.min() >= st.NARROW / 2, w.min()
    assert np.count_nonzero(w < st.NARROW) >= 1  # (the critical levels are closed in on)


#: E[T] of ConditionalGittins on Weibull(2) sizes with exponential predictions at loads 0.5 /
#: 0.8 / 0.95, from ``python tests/conditional_gittins_ihr_reference.py mean 0.5 0.8 0.95``
#: (its own level functions by nested quadrature, E[T] by parts as one integral over
#: predictions; its embedded Gauss rule's difference below 1.5e-12 relative; 6 min of CPU)
IHR_MEANS = [1.5625339171193156, 3.020334148482422, 9.213196716901928]


@pytest.fixture(scope="module")
def means():
    out = {}
    for name, pred in CASES.items():
        q = qt.MG1(0.8, WEIBULL, prediction=pred)
        out[name] = sc.evaluate(q, qt.ConditionalGittins(), [0.5, 0.8, 0.95])
    return out


def test_weibull_tables_follow_the_laws(weibull_levels):
    """On Weibull(2) / exponential predictions the tables agree with the conditional laws built
    at the y-rules' nodes within the route's tolerance (TABLE_TOL, 1e-8; measured 1.7e-11
    at these levels, where the old intervals reach down to B_y(l) ~ y), so the route does not
    rebuild the level functions on the laws (80 s of CPU): the old intervals' coordinate q is
    graded towards 1 (the default panels missed by 6.8e-7 at l = 0.5)."""
    L = np.array([0.42489, 0.5, 0.6, 0.65184])
    Nx, Sx = sc.level_values(weibull_levels, L, exact=True, compiled=True)
    Nt, St = sc.level_values(weibull_levels, L)
    m2 = float(WEIBULL.tail_moment(2, np.array(0.0)))
    assert np.all(np.abs(St - Sx) <= sc.TABLE_TOL * np.maximum(Sx, 1e-3 * m2)), (St - Sx) / Sx
    assert np.all(np.abs(Nt - Nx) <= sc.TABLE_TOL * np.maximum(Nx, 1e-3)), Nt - Nx


def test_falling_edges_at_the_kinks(weibull_levels):
    """The outer rule's falling branch has an edge at each age where the rank crosses a
    critical level (N(l) ~ delta / log(1/delta) above 2/pi on Weibull(2) / exponential
    predictions): the rank at those edges is the level, to 1e-12 relative."""
    lc = weibull_levels
    cb = sc.CondBatch(WEIBULL, WFACTOR, np.exp(np.array([-6.0, -2.0, 0.0, 1.5])), 40, lc.xr)
    ck = sc.Compiled(cb)
    crit = st.critical_levels(lc)
    assert np.any(np.abs(crit / (2 / math.pi) - 1) < 1e-9), crit
    fe = st.falling_edges(ck, crit, 4)
    r = ck.rank_falling(np.exp(fe[:, 1:-1]))
    hit = np.abs(r[..., None] / crit[None, None, :] - 1).min(axis=2) < 1e-12
    assert np.all(hit.sum(axis=1) >= 1), r  # every row: 2/pi is inside (m(y), r(y, 0))
    assert np.all(np.diff(fe, axis=1) > 0)


def test_mean_against_the_independent_reference(means):
    """E[T] on Weibull(2) / exponential predictions at loads 0.5 / 0.8 / 0.95 against the
    independent reference (its own level functions and outer integral, by parts): the true
    error below the route's estimate, and the estimate below 1e-8 relative (measured: errors
    1.3e-10 / 5.8e-11 / 1.0e-11, estimates 2.7e-9 / 2.3e-9 / 3.4e-9). The outer rule's x-rules without an edge
    where the rank crosses 2/pi were 2e-6 off, its estimate 7e-6."""
    m, e = means["weibull-exp"]
    cs = sc._tables(qt.MG1(0.8, WEIBULL, prediction=qt.ExponentialPrediction()))
    assert not cs.exact_levels and cs.table_error <= sc.TABLE_TOL, cs.table_error
    for v, ev, ref in zip(m, e, IHR_MEANS):
        assert abs(v - ref) <= ev, (v, ref, ev)
        assert ev <= 1e-8 * ref, ev / ref


@pytest.mark.parametrize("name", list(CASES))
def test_mean_below_the_prediction_policies(name, means):
    """ConditionalGittins is optimal among the policies that see the prediction and the age: its
    E[T] is below SPRPT, PSPJF and SPJF (closed forms) at loads 0.5 / 0.8 / 0.95, by more
    than the estimate."""
    m, e = means[name]
    for lam, v, ev in zip((0.5, 0.8, 0.95), m, e):
        q = qt.MG1(lam, WEIBULL, prediction=CASES[name])
        for pol in ("sprpt", "pspjf", "spjf"):
            assert v + ev < float(q.mean_response_time(pol)), (lam, pol, v)


#: E[T] of ConditionalGittins on Weibull(2) sizes with factors uniform on [0.5, 2] and
#: [0.5, 1.5] at loads 0.5 / 0.8 / 0.95, from ``python tests/conditional_gittins_ihr_reference.py
#: uniform 0.5 2 mean 1 0.5 0.8 0.95`` (and ``uniform 0.5 1.5 split 0 0.5 4 mean ...``: its outer
#: panel [0, 0.5] in log v, with a kink inside, quartered; on the default rule 1.478806176267456 /
#: 2.658663007024454 / 7.425841406908532, 5.8e-10 / 9.5e-10 / 2.6e-10 above, within that rule's
#: estimate 6.4e-10 / 1.3e-9 / 6.2e-8); the embedded Gauss rule's difference, relative:
#: BOUNDED_REF_ERR; about 5 min of CPU each
BOUNDED_MEANS = {(0.5, 2.0): [1.4888261149308535, 2.694913101362118, 7.548249661308926],
                 (0.5, 1.5): [1.4788061754170854, 2.6586630044952666, 7.425841404968537]}
BOUNDED_REF_ERR = {(0.5, 2.0): [5.7e-10, 4.1e-10, 2.2e-8], (0.5, 1.5): [6.3e-11, 3.3e-10, 6.2e-8]}


def test_reference_nodes_above_the_top_prediction(monkeypatch):
    """The reference's outer rule on [0.5, 1.5] runs to log 24, above the predictions' top
    y_top = 18 (X | y >= 12 there): at its nodes in (18, 24) the old work is empty (it integrated
    from log v down to log 18, over predictions whose rank r(y, 0) is below the level, and
    ``b_old``'s brentq had no sign change: the reference crashed), the weight v f_Y(v) below
    1e-49, and the node's level is still r(v, 0) >= v / 1.5."""
    import conditional_gittins_ihr_reference as ref

    monkeypatch.setattr(ref, "UNIFORM", (0.5, 1.5))
    monkeypatch.setattr(ref, "LAW", "uniform")
    u = 2.8965218088669227  # the node of the crash: v = 18.11
    assert u > math.log(ref.y_top())
    w, ell, n, s = ref._node(u)
    assert 0.0 < w < 1e-49 and ell > math.exp(u) / 1.5 and 0.0 < n <= 1.0, (w, ell, n)
    assert math.isfinite(s)


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="the route on two bounded factors, 3.8 s and 2.8 s: QTHEORY_FULL=1")
@pytest.mark.parametrize("pred", [qt.BoundedMultiplicative(0.5, 2.0), qt.UniformPrediction(0.5)], ids=repr)
def test_bounded_factor_mean_against_the_independent_reference(pred):
    """E[T] on Weibull(2) sizes with a uniform factor against the independent reference: the
    error within the route's estimate plus the reference's own (measured: 5.9e-10 / 8.7e-10 /
    4.7e-10 with estimates 8.2e-10 / 6.7e-10 / 2.9e-9 on [0.5, 2], where the route with every
    rule finer moves by 4.7e-14 / 3.8e-13 / 6.8e-13 and the reference's Gauss difference is
    5.7e-10 / 4.1e-10 / 2.2e-8: the gap is the reference's; 7.4e-11 / 4.3e-11 / 7.5e-12 with
    2.8e-10 / 7.3e-10 / 3.2e-9 on [0.5, 1.5], against the reference with its kinked panel
    quartered (on its default rule 5.0e-10 / 9.1e-10 / 2.5e-10: the reference's error; before the
    no-mass panel was emptied, 0.4-0.9% off)), the estimate below 1e-8 relative (before the
    outer rule's refined y-error, ``OuterEstimate._y_error``: 8.2e-10 / 1.7e-8 / 7.2e-8 and
    2.8e-10 / 1.3e-8 / 1.3e-6, the embedded Gauss rule's difference in two panels at the top
    predictions), the tables not rebuilt on the laws, and below SPRPT, PSPJF and SPJF."""
    fac = pred.joint(WEIBULL).factor
    q = qt.MG1(0.8, WEIBULL, prediction=pred)
    m, e = sc.evaluate(q, qt.ConditionalGittins(), [0.5, 0.8, 0.95])
    cs = sc._tables(q)
    assert not cs.exact_levels and cs.table_error <= sc.TABLE_TOL, cs.table_error
    key = (fac.a, fac.b)
    for lam, v, ev, ref, rerr in zip((0.5, 0.8, 0.95), m, e, BOUNDED_MEANS[key], BOUNDED_REF_ERR[key]):
        assert abs(v - ref) <= ev + rerr * ref, (v, ref, ev)
        assert ev <= 1e-8 * ref, ev / ref
        ql = qt.MG1(lam, WEIBULL, prediction=pred)
        for pol in ("sprpt", "pspjf", "spjf"):
            assert v + ev < float(ql.mean_response_time(pol)), (lam, pol, v)


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="16 x 160,000 simulated jobs: QTHEORY_FULL=1")
@pytest.mark.parametrize("name", list(CASES))
def test_mean_against_the_simulator(name, means):
    """E[T] at load 0.8 within the simulator's interval at the policy's level (16 replications;
    the simulator's ConditionalGittins uses a 160-point grid of predictions: an approximation
    far below the interval)."""
    q = qt.MG1(0.8, WEIBULL, prediction=CASES[name])
    r = qt.simulate(q, qt.ConditionalGittins(), jobs=160_000, replications=16,
                    seed=2026)
    assert_consistent(float(means[name][0][1]), r, name)


# ---- log-uniform factors; the outer rule's edges at the critical crossings ----------------------
def test_outer_edges_at_the_critical_crossings():
    """An edge at each critical crossing (:func:`sc.critical_crossings`), the panels on either
    side halved ``both_grade`` times towards it (the per-y integrand has a kink there, of power
    about 1/3 on exponential sizes with a log-uniform factor); the ``kink`` rule unchanged."""
    base = sc.outer_edges(-10.0, 4.0, 1.0, 1.5, 3)
    assert np.array_equal(base, sc.outer_edges(-10.0, 4.0, 1.0, 1.5, 3, both=(), both_grade=8))
    e = sc.outer_edges(-10.0, 4.0, 1.0, 1.5, 3, both=(-0.0788,), both_grade=8)
    assert np.all(np.diff(e) > 0) and e[0] == -10.0 and e[-1] == 4.0
    assert set(base.tolist()) <= set(e.tolist())
    i = int(np.nonzero(e == -0.0788)[0][0])
    lo, hi = base[base < -0.0788].max(), base[base > -0.0788].min()
    assert math.isclose(e[i] - e[i - 1], (-0.0788 - lo) / 256, rel_tol=1e-9)
    assert math.isclose(e[i + 1] - e[i], (hi + 0.0788) / 256, rel_tol=1e-9)
    assert np.count_nonzero((e > lo) & (e < hi)) == 17


LOGU = qt.BoundedMultiplicative(0.5, 2.0, law="loguniform")
#: (l, N(l), S2(l)) on Exp(1) sizes with LOGU, from ``python
#: tests/conditional_gittins_truncexp_reference.py levels 0.5 2 0.3 0.9 2.5`` (closed forms of
#: the truncated exponential; ``python tests/conditional_gittins_ihr_reference.py size exp
#: loguniform 0.5 2 0.3 0.9 2.5``, nested quadrature, agrees to 1.3e-15 / 1.0e-13)
LOGU_LEVELS = [(0.3, 0.03350239393909385, 0.046463449692627674),
               (0.9, 0.22438172611878165, 0.559298082426327),
               (2.5, 0.7804320180486852, 1.661543994656167)]


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="the level machinery on a log-uniform factor, 1.6 s: QTHEORY_FULL=1")
def test_loguniform_levels_against_the_closed_forms():
    """Exponential sizes with a factor log-uniform on [0.5, 2] (X | y an exponential truncated to
    [y/2, 2y]: its hazard rises, the rank is the mean residual life): N(l) and S2(l) within
    1e-12 relative of the closed forms (measured 2.3e-15 / 1.2e-15), and the outer rule's
    critical crossing where r(y, 0) = E[X | y] reaches the supremum 1 of the rank at the
    support's start (measured 8e-7 off in log y: the route's rank at the start of the largest
    predictions, which carry e^-44 of the mass, is 6.8e-7 below 1)."""
    import conditional_gittins_truncexp_reference as ref

    q = qt.MG1(0.5, EXP, prediction=LOGU)
    assert sc.supported(q, qt.ConditionalGittins())
    lc = sc.LevelCalc(EXP, LOGU.joint(EXP).factor)
    assert lc.general and lc.lrs is not None
    N, S2 = sc.level_values(lc, np.array([p[0] for p in LOGU_LEVELS]), exact=True)
    for (ell, n_ref, s_ref), n, s in zip(LOGU_LEVELS, N, S2):
        assert abs(n / n_ref - 1) < 1e-12, (ell, n, n_ref)
        assert abs(s / s_ref - 1) < 1e-12, (ell, s, s_ref)
    c = sc.critical_crossings(lc)
    assert c.size == 1 and abs(c[0] - math.log(ref.y0(1 - 1e-15))) < 1e-5, c


#: the loads of the closed-form references below
REFERENCE_LOADS = (0.5, 0.8, 0.95)


def _means_against_reference(q, refs, slack: float):
    """ConditionalGittins' E[T] on ``q``'s laws at :data:`REFERENCE_LOADS`: each within its
    estimate plus ``slack`` (relative) of ``refs``, every estimate below 1e-7 relative; the
    means and estimates."""
    m, e = sc.evaluate(q, qt.ConditionalGittins(), list(REFERENCE_LOADS))
    for lam, v, ev, ref in zip(REFERENCE_LOADS, m, e, refs):
        assert abs(v - ref) <= ev + slack * ref, (lam, v, ref, ev)
        assert ev <= 1e-7 * ref, ev / ref
    return m, e


#: E[T] on Exp(1) sizes with LOGU at loads 0.5 / 0.8 / 0.95 from ``python
#: tests/conditional_gittins_truncexp_reference.py 0.5 2 0.5 0.8 0.95`` (closed forms, the
#: outer rule's orders 8 / 12 / 20 within 3.1e-12 of each other)
LOGU_MEANS = [1.4877400800193086, 2.5718979769541748, 6.3921605863152795]


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="the route on a log-uniform factor, 4.7 s: QTHEORY_FULL=1")
def test_loguniform_mean_against_the_closed_form_reference():
    """E[T] on exponential sizes with a factor log-uniform on [0.5, 2] against the closed-form
    reference: within the estimate plus 1e-11 (measured 5.6e-11 / 6.5e-11 / 3.4e-11 relative
    below it, estimates 1.2e-9 / 1.8e-9 / 5.6e-9; 1.1e-12 / 3.3e-12 / 1.0e-12 before the tables'
    q-panels were halved 40 times towards q_s, an error of the tables offsetting the outer
    rule's). Without the outer edge at the critical crossing the
    route was 1.9e-5 / 2.1e-5 / 1.1e-5 off (estimates 3.8e-5 / 4.3e-5 / 2.3e-5); below SPRPT,
    PSPJF and SPJF."""
    q = qt.MG1(0.8, EXP, prediction=LOGU)
    m, e = _means_against_reference(q, LOGU_MEANS, 1e-11)
    cs = sc._tables(q)
    assert isinstance(cs, sc.ConditionalSOAP) and not cs.exact_levels
    for lam, v, ev in zip(REFERENCE_LOADS, m, e):
        ql = qt.MG1(lam, EXP, prediction=LOGU)
        for pol in ("sprpt", "pspjf", "spjf"):
            assert v + ev < float(ql.mean_response_time(pol)), (lam, pol, v)


#: E[T] on Erlang(2) sizes with a factor uniform on [0.5, 2] (X | y an exponential of rate 2
#: truncated to [y/2, 2y]) at loads 0.5 / 0.8 / 0.95, from ``python
#: tests/conditional_gittins_truncexp_reference.py erlang2-uniform 0.5 2 0.5 0.8 0.95`` (orders 8
#: and 12 within 2.7e-11 relative)
ERLANG_MEANS = [1.4851526235744898, 2.6015317151969, 6.698144433250826]


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="the route on Erlang(2) / uniform factor, 3.9 s: QTHEORY_FULL=1")
def test_erlang_uniform_mean_against_the_closed_form_reference():
    """E[T] on Erlang(2) sizes with a factor uniform on [0.5, 2] against the closed-form
    reference: within the estimate plus 1e-10 (measured 3.8e-12 / 9.8e-13 / 2.5e-12 relative,
    estimates 6.0e-10 / 1.4e-9 / 1.4e-8; 8.3e-10 / 8.0e-10 / 3.8e-10 before the tables' 40
    halvings towards q_s). Without the outer edge at the critical crossing it
    gave 2.60178238 at load 0.8 (9.6e-5 off, its estimate 4e-4)."""
    size = qt.Erlang(2)
    q = qt.MG1(0.8, size, prediction=qt.BoundedMultiplicative(0.5, 2.0))
    _means_against_reference(q, ERLANG_MEANS, 1e-10)
