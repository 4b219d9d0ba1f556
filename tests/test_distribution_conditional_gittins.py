"""Response- and waiting-time distributions of ConditionalGittins on continuous sizes with a
multiplicative prediction law: qtheory/engine/response_distribution_conditional.py.

Truth: (a) the closed-form mean against the mean engine on the law itself (soap_conditional:
level interpolants and its own outer sums, estimate 1.6e-8), the level laws' first two moments
against the mean engine's level functions N and S2; (b) the closed-form moments against a
Cauchy integral of the transform (the transform and the moments are computed separately from
the same pieces); (c) the cdf is a cdf and does not depend on the inversion's nodes (at t = 1;
at t = 0.1 and 0.3 and under finer rules of the laws with QTHEORY_FULL=1; the Filon weights
themselves in tests/test_conditional_filon.py); (d) percentiles against qt.simulate (slow,
statistical); (e) a class (x, y): its mean against an independent scipy reference and the mean
engine, its moments and atom against its transform, its Euler inversion against mpmath's de Hoog inversion.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import pytest
from stats_policy import halfwidth

import qtheory as qt
from qtheory.engine import laplace_inversion as li
from qtheory.engine import response_distribution_conditional as rc
from qtheory.engine import response_distribution_conditional_class as rcc
from qtheory.engine import soap_conditional as sc
from qtheory.engine import soap_conditional_class as scc

SIZE = qt.Exponential(1.0)
PRED = qt.ExponentialPrediction()
POLICY = qt.ConditionalGittins()
FULL = os.environ.get("QTHEORY_FULL", "") not in ("", "0")


def _model(load=0.8):
    return qt.MG1(load, SIZE, PRED)


@functools.cache
def _law(waiting: bool = False):
    """The law of T (or W) at load 0.8, built once per module (the level tables are cached on
    the size law and shared)."""
    q = _model(0.8)
    return q.waiting_time_distribution(POLICY) if waiting else q.response_time_distribution(POLICY)


# ---- (a) against the mean engine -------------------------------------------------------------------
def test_mean_equals_the_mean_engine():
    """E[T] of the distribution (closed form from the level laws) equals soap_conditional's
    E[T] within its error estimate (1.6e-8 relative at load 0.8; measured 1.1e-9 apart), and
    the level laws' N and S2 equal the mean engine's interpolants."""
    d = _law()
    v, est = sc.evaluate(_model(0.8), POLICY, [0.8])
    assert abs(d.mean() - v[0]) <= est[0] + 1e-12 * v[0], (d.mean(), v[0], est[0])
    tr = d._t
    lm = tr.level_moments()
    tabs = sc._tables(_model(0.8))
    L = tr.grid.t
    N, S2 = tabs.N(L), tabs.S2(L)
    # relative, floored at 1e-3 of E[X] and E[X^2] (the mean engine's own tolerance floors)
    # (measured 3.0e-9 and 6.6e-9; the mean engine's interpolants' tolerance is 1e-10 relative)
    assert np.max(np.abs(lm["N"] - N) / np.maximum(N, 1e-3)) < 1e-7
    assert np.max(np.abs(lm["S2"] - S2) / np.maximum(S2, 2e-3)) < 1e-7
    assert tr.total_mass() == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("load", [0.5, 0.95])
def test_mean_at_other_loads_equals_the_mean_engine(load):
    """E[T] of the distribution at loads 0.5 and 0.95 (the load-free tables of the law at 0.8)
    against the mean engine's: within 1e-9 (measured 1.9e-11 and 5.4e-10; the mean engine on
    finer rules moves by 1.1e-11 and 7.5e-11). The level grid's 1/(1 - lam N(l)) turns fast
    where 1 - lam N is small: on the grid's panels split only in two it was 1.7e-7 (relative)
    off between the nodes on [3, 4.8] and E[T] 2.4e-8 off at 0.95 (3.5e-7 with the outer
    y-panels split in two); the panels are split further where log(E[X] - N + delta) changes
    (rc.GRID_W)."""
    _law()
    m = _model(load)
    e1 = rc.ConditionalTransform(m).moments()[0]
    v, _ = sc.evaluate(m, POLICY, [load])
    assert abs(e1 - v[0]) < 1e-9, (e1, v[0])


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="tables on the outer y-panels split in two: 10 s (QTHEORY_FULL=1)")
def test_mean_on_split_outer_y_panels(monkeypatch):
    """E[T] at load 0.95 with the outer rule's y-panels unsplit (rc.Y_SPLIT = 1; the default
    splits them in two) against the mean engine's: within 2e-9 (measured 5.4e-10, 8.8e-10 with
    the default; Y_SPLIT 1 and 2 were 3.5e-7 apart before the grid's panels were split where
    1 - lam N is small, rc.GRID_W, though both y-rules sum the mean engine's own E[T] to
    4e-12)."""
    monkeypatch.setattr(rc, "Y_SPLIT", 1)
    m = qt.MG1(0.95, qt.Exponential(1.0), PRED)
    e1 = rc.ConditionalTransform(m).moments()[0]
    v, _ = sc.evaluate(m, POLICY, [0.95])
    assert abs(e1 - v[0]) < 2e-9, (e1, v[0])


def test_busy_period_factor_interpolates_at_high_load():
    """Between the level grid's nodes where N(l) approaches E[X] (l in [1.9, 7.7]), the
    interpolated 1/(1 - lam N(l)) at load 0.95 against the laws built at those levels
    themselves (:func:`level_laws`, the same rules), at 41 levels: within 1e-8 relative
    (measured 3.8e-9; 1.4e-7 on the grid's panels split only in two, rc.GRID_W = 0)."""
    from qtheory.engine.response_distribution_conditional_class import wait_moments

    tr = _law()._t
    lam = 0.95
    e = np.log(tr.grid.t)
    lv = np.exp(np.linspace(math.log(1.9), math.log(7.7), 41) + 0.0123)
    Xn, Wn, X1, W1 = rc.level_laws(sc._tables(_model(0.8)).lc, lv)
    direct = 1.0 / (1.0 - lam * wait_moments(lam, Xn, Wn, X1, W1)["N"])
    g = 1.0 / (1.0 - lam * tr.level_moments()["N"])
    p, basis = tr.grid._interp(lv)
    idx = np.minimum(tr.grid.starts[p][:, None] + np.arange(tr.grid.L)[None, :], e.size - 1)
    err = np.abs(np.sum(basis * g[idx], axis=1) / direct - 1.0)
    assert err.max() < 1e-8, err.max()


# ---- (b) moments against the transform ---------------------------------------------------------------
def _cauchy_moments(d, r=0.001, n=24):
    th = 2 * np.pi * np.arange(n) / n
    s = r * np.exp(1j * th)
    L = d._t.lst(s)
    return -(np.mean(L * np.exp(-1j * th)) / r).real, 2 * (np.mean(L * np.exp(-2j * th)) / r ** 2).real


@pytest.mark.parametrize("waiting", [False, True])
def test_moments_equal_the_transforms(waiting):
    """The closed-form E[T], E[T^2] (and E[W], E[W^2]) equal the transform's own (Cauchy
    integral on |s| = 0.001, 24 points; the trapezoid rule's error there is (0.001 / R)^24) to 1e-8; the
    waiting time's atom P(W = 0) is the transform at s -> infinity."""
    d = _law(waiting)
    m1, m2 = _cauchy_moments(d)
    assert d.mean() == pytest.approx(m1, rel=1e-8)
    assert d.moment(2) == pytest.approx(m2, rel=1e-8)
    if waiting:
        assert 0 < d.atom0 < 1
        assert d.atom0 == pytest.approx(float(d._t.lst(np.array([1e7]))[0].real), rel=1e-4)


# ---- (c) a cdf -------------------------------------------------------------------------------------
@functools.cache
def _cdf_at(t: float) -> float:
    return float(_law().cdf(np.array([t]))[0])


def _cdf_by(t, A, n, m) -> np.ndarray:
    """The cdf of T at ``t`` by the Euler rule (A, n, m) on the law's transform."""
    d = _law()
    return 1.0 - li.invert(lambda s: (1.0 - d._t.lst(s)) / s, np.atleast_1d(np.asarray(t, float)), A, n, m)


@functools.cache
def _cheap_at(t: float) -> float:
    """The cdf at ``t`` by the cheap Euler rule (23 transform values instead of 39; within 1e-6
    here)."""
    return float(_cdf_by(t, *li.EULER_CHEAP)[0])


def test_cdf_is_a_cdf():
    """The cdf of T at t = 1 lies in (0, 1) (the value test_cdf_does_not_depend_on_the_inversion
    checks). That it increases and reaches 1 is under QTHEORY_FULL=1 (the outer rule's total
    weight, which the limit shows, is 1 within 1e-10 in test_mean_equals_the_mean_engine)."""
    assert 0.4 < _cdf_at(1.0) < 0.6


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="three cdf values: 34 s of CPU with the tables (QTHEORY_FULL=1)")
def test_cdf_increases_to_one():
    """The cdf of T at t = 0.3, 1 and 5000 increases and reaches 1 within 1e-8."""
    c = _law().cdf(np.array([0.3, 5000.0]))
    assert c[0] < _cdf_at(1.0) - 0.1 < c[1] and c[1] == pytest.approx(1.0, abs=1e-8)


def test_cdf_does_not_depend_on_the_inversion():
    """The cdf at t = 1 by the default Euler rule and by the cheap one (23 terms; within 1e-6
    on smooth laws): the classes' factor e^{-sx} must be integrated over x at the rules' nodes
    (|Im s| up to 38 pi / t), which the Filon weights do
    (:mod:`qtheory.engine.response_distribution_conditional_filon`). Summed by the outer rule's
    nodes the law was a staircase of the classes' atoms P(T = x): the two differed by 1.4e-5
    (6.7e-4 on the mean engine's 4 panels; with log-normal predictions the p50 was 0.6% high
    against two simulations, docs/response_time_distribution.md, section 15); measured
    5.1e-7 with the Filon weights (the cheap rule's own error)."""
    assert abs(_cdf_at(1.0) - _cheap_at(1.0)) < 1e-6, (_cdf_at(1.0), _cheap_at(1.0))


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="two inversions at small t: 44 s of CPU (QTHEORY_FULL=1)")
def test_small_t_cdf_does_not_depend_on_the_inversion():
    """At t = 0.1 and 0.3 the default Euler rule (26, 24, 14) and (30, 30, 20), which reads the
    transform up to |Im s| = 50 pi / t: within 5e-8 (measured 6.0e-10 and 5.4e-9;
    without the Filon weights 1.25e-4 and 3.1e-5)."""
    t = np.array([0.1, 0.3])
    a = _law().cdf(t)
    b = _cdf_by(t, 30.0, 30, 20)
    assert np.max(np.abs(a - b)) < 5e-8, a - b


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="a second set of tables on finer rules: 20 s (QTHEORY_FULL=1)")
def test_cdf_against_finer_rules(monkeypatch):
    """The cdf of T at t = 0.3, 2, 8 on the default rules (16 x-panels per prediction, the
    atoms on 8 sub-panels) against 32 panels with the atoms on 16 sub-panels: within 3e-8
    (measured 1.4e-8; the first version's 8 panels and 1 sub-panel were 1.0e-6 off at t = 2)."""
    t = np.array([0.3, 2.0, 8.0])
    c = _law().cdf(t)
    monkeypatch.setattr(rc, "X_PANELS", 32)
    monkeypatch.setattr(rc, "ATOM_SPLIT", 16)
    fine = qt.MG1(0.8, qt.Exponential(1.0), PRED).response_time_distribution(POLICY).cdf(t)
    assert np.max(np.abs(c - fine)) < 3e-8, c - fine


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="tables on a grid of 1050 levels and two cdf values: 80 s "
                                     "(QTHEORY_FULL=1)")
def test_cdf_against_a_finer_grid_and_outer_rule(monkeypatch):
    """The cdf of T at t = 1 and 2 on the defaults (the level grid's panels split in two, 24
    outer panels on [a_p, b0] and [b0, x_top]) against the grid's panels split in four and outer
    panels (24, 32, 10): within 1e-7 (measured 3.7e-8 and 7e-10; the former rules, unsplit
    grid and 16 panels, were 5.9e-7 off at t = 2)."""
    t = np.array([1.0, 2.0])
    c = np.array([_cdf_at(1.0), float(_law().cdf(t[1:])[0])])
    monkeypatch.setattr(rc, "GRID_SPLIT", 4)
    monkeypatch.setattr(rc, "OUTER_X", dict(nfall=24, nrise=32, xorder=10))
    fine = qt.MG1(0.8, qt.Exponential(1.0), PRED).response_time_distribution(POLICY).cdf(t)
    assert np.max(np.abs(c - fine)) < 1e-7, c - fine


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="tables on a grid of 1300 levels and two cdf values at load 0.95: "
                                     "60 s (QTHEORY_FULL=1)")
def test_cdf_at_high_load_against_a_finer_grid(monkeypatch):
    """The cdf of T at t = 1, load 0.95, on the default level grid against its panels split in
    two (1320 levels): within
    2e-8 (measured 6.8e-9; the panels on l in [0.03, 0.46] split in eight: 1.1e-9; before the
    panels were split where log(N + 1e-4 E[X]) changes, rc.GRID_WN, 5.2e-8)."""
    t = np.array([1.0])
    c = qt.MG1(0.95, SIZE, PRED).response_time_distribution(POLICY).cdf(t)
    edges = rc.grid_edges
    monkeypatch.setattr(rc, "grid_edges", lambda tabs: np.sort(np.concatenate(
        [edges(tabs), (edges(tabs)[:-1] + edges(tabs)[1:]) / 2])))
    fine = rc.ConditionalTransform(qt.MG1(0.95, qt.Exponential(1.0), PRED))
    f = 1.0 - li.invert(lambda s: (1.0 - fine.lst(s)) / s, t, li.EULER_A, li.EULER_N, li.EULER_M)
    assert np.max(np.abs(c - f)) < 2e-8, c - f


def test_level_functions_interpolate_at_large_s():
    """The transform interpolates eta_l(s) - s (Lagrange in log l) from the level grid; at the
    Euler rule's large |s| it varies fast in l (the new jobs' cut C_y(l) moves with l and
    e^{-s C} turns). Between the grid's nodes, at the two largest |Im s| of the rule
    (30, 30, 20) at t = 1, the interpolant against the laws built at those levels themselves
    (:func:`level_laws`, the same rules), at 31 levels: within 1e-4 (measured 4.6e-5 on the grid's
    panels split in two; 1.6e-4 on the mean engine's panels, whose cdf was 5.5e-7 off at t = 2)."""
    from qtheory.engine.response_distribution import busy_eta

    tr = _law()._t
    g = tr.grid.t
    lv = np.sqrt(g[10:-1:17] * g[11::17])
    s = li.euler_nodes(30.0, 30, 20)[0][-2:] / 1.0
    Xn, Wn, _, _ = rc.level_laws(sc._tables(_model(0.8)).lc, lv)
    direct = busy_eta(s, tr.lam, *rc._compact(Xn, Wn)) - s[:, None]
    G, _ = tr.grid_values(s)
    p, basis = tr.grid._interp(lv)
    idx = np.minimum(tr.grid.starts[p][:, None] + np.arange(tr.grid.L)[None, :], g.size - 1)
    err = np.abs(np.einsum("slk,lk->sl", G[:, idx], basis) - direct)
    assert err.max() < 1e-4, err.max()


def test_level_functions_interpolate_at_low_levels():
    """Where N(l) is small (l in [0.1, 0.45] on Exp/Exp, N from 1e-3 to 0.05) the new jobs' cut
    C_y(l) is of the order of l, and at the Euler rule's large |s| the factor e^{-s C} turns
    fast in l: the grid's panels are split where log(N + 1e-4 E[X]) changes (rc.GRID_WN). At
    the largest |Im s| of the default rule at t = 0.3 and 1, load 0.95, the interpolated
    eta_l(s) - s against the laws built at 14 levels between the nodes themselves
    (:func:`level_laws`, the same rules): within 2e-6 (measured 5.3e-7; 4.2e-5 with rc.GRID_WN = 0,
    where the cdf at t = 1 was 6e-8 off)."""
    from qtheory.engine.response_distribution import busy_eta

    tr = _law()._t
    lam = 0.95
    e = np.log(tr.grid.t)
    lv = np.exp(np.linspace(math.log(0.1), math.log(0.45), 14) + 0.0123)
    s = li.euler_nodes()[0][-1] / np.array([0.3, 1.0])
    Xn, Wn, _, _ = rc.level_laws(sc._tables(_model(0.8)).lc, lv)
    direct = busy_eta(s, lam, *rc._compact(Xn, Wn)) - s[:, None]
    G = busy_eta(s, lam, tr.Xn, tr.Wn) - s[:, None]
    p, basis = tr.grid._interp(lv)
    idx = np.minimum(tr.grid.starts[p][:, None] + np.arange(tr.grid.L)[None, :], e.size - 1)
    err = np.abs(np.einsum("slk,lk->sl", G[:, idx], basis) - direct)
    assert err.max() < 2e-6, err.max(axis=1)


def test_dispatch_and_errors():
    """A class needs a size x > 0 (a clear error naming it); a bounded factor (not covered by
    this module) is not routed here."""
    q = _model(0.8)
    with pytest.raises(ValueError, match="x must be"):
        q.response_time_distribution(POLICY, x=0.0, y=1.0)
    assert rc.supported(q, POLICY)
    assert not rc.supported(qt.MG1(0.8, qt.Weibull(shape=2.0, mean=1.0), qt.UniformPrediction(0.5)), POLICY)


# ---- (e) a class (x, y) -----------------------------------------------------------------------------
#: (y, x, E[T | x, y]) at load 0.8 from tests/conditional_gittins_class_reference.py (scipy: the
#: rank by direct minimisation, B(x) a root of the rank, the level functions by nested adaptive
#: quadrature; the values of tests/test_conditional_gittins_class.py)
CLASS_REF = [
    (0.3, 0.3, 0.5470793481016769, "falling"),
    (0.3, 1.0, 1.3407151929423875, "split"),
    (0.3, 3.0, 3.985380467664139, "beyond b0"),
    (1.5, 1.0, 3.814295253122992, "falling"),  # b0 = inf
]
#: coarser rules of the class's laws, for the checks that do not read the cdf (moments)
CHEAP = dict(fine={}, coarse={"x_panels": 4})


def test_class_mean_equals_the_references():
    """E[T | x, y] of the class law (closed form of its pieces) on the falling branch, split at
    B(x), beyond b0 and where b0 is infinite, against the independent scipy reference (within
    1e-9 relative; measured 7e-12 to 7.7e-11 on these coarser rules, 4e-12 to 2e-10 on the
    defaults) and against the mean engine's E[T | x, y] (soap_conditional_class, within its
    estimate)."""
    q = _model(0.8)
    ys, xs, ref, kinds = zip(*CLASS_REF, strict=True)
    v, est = scc.conditional_estimate(q, POLICY, np.array(xs), np.array(ys))
    for y, x, r, kind, vm, e in zip(ys, xs, ref, kinds, v, est, strict=True):
        tr = rcc.ClassTransform(q, x, y, **CHEAP)
        assert tr.kind == kind
        m = tr.moments()[0] + x
        assert abs(m - r) < 1e-9 * r, (x, y, m, r)
        assert abs(m - vm) < e + 1e-12 * vm, (x, y, m, vm, e)


@pytest.mark.parametrize("waiting", [False, True])
def test_class_moments_and_atom_equal_the_transform(waiting):
    """The split class (1.0, 0.3): the closed-form E[T], E[T^2] (E[W], E[W^2]) equal the
    transform's own (Cauchy integral on |s| = 0.001) to 1e-8; P(T = x) (P(W = 0)) is the
    transform at s -> infinity, and the cdf jumps by it at x (at 0)."""
    from qtheory.engine.distribution import ResponseTimeDistribution

    x = 1.0
    tr = rcc.ClassTransform(_model(0.8), x, 0.3, waiting=waiting, **CHEAP)
    c = 0.0 if waiting else x
    d = ResponseTimeDistribution(tr, "class", tr.atom(), shift=c)
    m1, m2 = _cauchy_moments(d)  # of T - x (the transform is that of the shifted law)
    assert d.mean() == pytest.approx(m1 + c, rel=1e-8)
    assert d.moment(2) == pytest.approx(m2 + 2 * c * m1 + c * c, rel=1e-8)
    assert 0 < d.atom0 < 1
    assert d.atom0 == pytest.approx(float(d._t.lst(np.array([1e9]))[0].real), rel=1e-6)
    lo, at = d.cdf(np.array([c - 1e-9, c])) if waiting else d.cdf(np.array([x * (1 - 1e-12), x]))
    assert lo == 0.0 and at == pytest.approx(d.atom0, abs=1e-9)


def _dehoog_cdf(d, tau, dps=20):
    """P(T - shift <= tau) by mpmath's de Hoog inversion of the class transform (mpmath's
    ``invertlaplace`` steps, with the transform at all of the rule's points in one call; 20
    digits: at 30 the double-precision transform values make it unstable)."""
    import mpmath as mp

    with mp.workdps(dps):
        rule = mp.mp._de_hoog
        rule.calc_laplace_parameter(mp.mpf(tau))
        p = np.array([complex(v) for v in rule.p])
        L = d._t.lst(p)
        fp = [(1 - mp.mpc(complex(v))) / q for v, q in zip(L, rule.p, strict=True)]
        return 1.0 - float(rule.calc_time_domain_solution(fp, mp.mpf(tau)))


@functools.cache
def _class_law(x, y):
    return _model(0.8).response_time_distribution(POLICY, x=x, y=y)


_FULL_ONLY = [pytest.mark.slow, pytest.mark.skipif(not FULL, reason="3 s each (QTHEORY_FULL=1)")]


@pytest.mark.parametrize("tau", [0.7, pytest.param(0.3, marks=_FULL_ONLY), pytest.param(1.5, marks=_FULL_ONLY)])
def test_class_cdf_against_de_hoog(tau):
    """The class (3.0, 0.3) (beyond b0): the Euler inversion of the class law against mpmath's
    de Hoog inversion of the same transform at T - x = tau (measured 4e-11 at 0.7, 1.0e-8 at
    0.3, 2.4e-9 at 1.5). On coarser rules of the laws (32 panels per prediction, atoms on 8
    sub-panels) the two differ by 2.3e-7 at 1.5: the discrete laws' transforms, which the two
    inversions read at different s, and not the inversion, limit the cdf there."""
    d = _class_law(3.0, 0.3)
    assert abs(float(d.cdf(np.array([3.0 + tau]))[0]) - _dehoog_cdf(d, tau)) < 2e-8


@pytest.mark.slow
def test_class_cdf_at_high_load_against_refined_rules():
    """The class (1.0, 0.3) at load 0.95 (the residence's levels on the COARSE rules), the cdf
    at its median T = 1.0266 on the Euler rule (26, 24, 14): the default rules against every
    law refined (the residence's 64 panels, atoms on 16, y-rules 24/6/12; the class's levels
    128, 32, 48/6/24): within 2e-8 (measured 1.03e-8 with the residence's laws on 32 panels,
    session 40; passes on 64, not re-measured; on 16 panels and atoms on 4 sub-panels 4.9e-7)."""
    t = np.array([1.0266 - 1.0])
    q = _model(0.95)

    def cdf(**kw):
        tr = rcc.ClassTransform(q, 1.0, 0.3, **kw)
        return 1.0 - li.invert(lambda s: (1.0 - tr.lst(s)) / s, t, 26.0, 24, 14)

    fine = cdf(coarse=dict(x_panels=64, atom_split=16, y_head=24, y_tip=12),
               fine=dict(x_panels=128, atom_split=32, y_head=48, y_tip=24))
    d = float(cdf()[0] - fine[0])
    assert abs(d) < 2e-8, d


# ---- (d) against the simulator ---------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="16 x 200,000 jobs of ConditionalGittins and three percentiles: "
                                     "minutes of CPU (QTHEORY_FULL=1)")
def test_percentiles_against_simulation():
    """p50, p90, p99 at load 0.8 (Exp sizes, exponential predictions) against qt.simulate's
    percentiles (16 replications), each at the policy's level; 3 statistical assertions."""
    exact = _law().ppf([0.5, 0.9, 0.99], rtol=1e-7)
    r = qt.simulate(_model(0.8), POLICY, jobs=200_000, replications=16, seed=2026,
                    percentiles=(50, 90, 99))
    for level, e in zip((50, 90, 99), exact, strict=True):
        hw = halfwidth(r.percentile_ci[level], r.replications)
        # the histogram's bins add up to 1e-3 relative (hist_percentile)
        assert abs(r.percentiles[level] - e) <= hw + 1e-3 * e, (level, e, r.percentiles[level], hw)
