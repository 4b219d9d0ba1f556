"""ConditionalGittins on the law itself (:mod:`qtheory.engine.soap_conditional`) at the edges of
its inputs, where the compiled kernels (``error_model="numpy"``: a division by zero gives inf
or NaN, no error) could hand a NaN or a finite-looking wrong value to a user, and the outer
rule's y-error estimate on its refined panels.

Measured (Exp sizes, exponential predictions, load 0.8): E[T | x = 1, y] was NaN from y = 1e5 on
(the joint density e^{-x - y/x}/x underflows on every node: the minimal and top ranks 0/0), and
ConditionalGittins with log-normal prediction errors of sigma = 1e-4, 1e-5, 1e-6 (between
``PERFECT_SPREAD`` and where the route declines) fell to the discretised route, which gave
1.487 +- 0.14, 1.105 +- 0.07 and 0.9996 +- 5.7e-8, below SRPT's 2.3528 (the optimum with the
sizes known). Both are now a ValueError naming the parameter.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import soap_conditional as sc


def _exp_exp(load=0.8):
    return qt.MG1(load, qt.Exponential(1.0), qt.ExponentialPrediction())


def test_underflowing_conditional_law_raises_naming_the_prediction():
    """Where X | Y = y underflows (f_Y(y) = 0 in doubles) the law is refused with a ValueError
    naming y, not carried as 0/0 ranks: E[T | x, y] was NaN at y = 1e5 (Exp/Exp, load 0.8).
    Below, at y = 1e3, the job is behind every other one: E[T | x, y] is at most, and close to,
    the lowest-priority value lambda E[X^2] / (2 (1 - rho)^2) + x / (1 - rho) = 25 (x = 1)."""
    from qtheory.engine.soap_factor import _factor

    q = _exp_exp()

    factor = _factor(q)
    with pytest.raises(ValueError, match=r"y = 100000\b"):
        sc.CondBatch(q.size, factor, np.array([1.0, 1e5]))
    cg = qt.ConditionalGittins()
    for y in (1e5, 1e12, 1e300):
        with pytest.raises(ValueError, match="prediction y = "):
            q.response_time(cg, 1.0, y)
    lowest = 0.8 * 2.0 / (2 * 0.2 ** 2) + 1.0 / 0.2
    v = float(q.response_time(cg, 1.0, 1e3))
    assert math.isfinite(v) and lowest * (1 - 1e-9) < v <= lowest * (1 + 1e-13), v


def test_narrow_prediction_errors_raise_instead_of_the_discretised_route():
    """Log-normal errors of sigma = 1e-5 (above PERFECT_SPREAD, 1e-6): the route on the law
    declines (X | y is a spike; its hazard fails the single-peak check) and the discretised
    route it fell to gave 1.105 +- 0.07 at load 0.8, below SRPT's 2.3528, which no policy
    beats: now a ValueError naming the prediction law's spread. The mean, the conditional mean
    and the slowdown alike."""
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.LogNormalPrediction(1e-5))
    cg = qt.ConditionalGittins()
    with pytest.raises(ValueError, match="narrow"):
        q.mean_response_time(cg)
    with pytest.raises(ValueError, match="narrow"):
        q.response_time(cg, 1.0, 1.0)


def test_refined_y_error_covers_the_rule_and_is_tighter():
    """The outer rule's y-error estimate (:meth:`OuterEstimate._y_error`: on the panels with
    the largest Gauss differences, twice the difference from the Kronrod rule on their halves)
    against the rule's true y-error, measured by the same rule on every panel halved (same
    x-rules, same level functions), on Exp/Exp at loads 0.5 / 0.8 / 0.95: above it, and below
    the embedded Gauss rule's difference at 0.95 (measured: true errors 7.7e-13 / 9.2e-13 /
    4.7e-13, estimates 9.3e-13 / 3.0e-10 / 1.3e-11, Gauss differences 9.3e-13 / 3.0e-10 /
    6.4e-9, relative). Fails with the refinement off (``REFINE_MAX = 0``); the estimate's
    coverage at a coarse rule: ``test_soap_conditional.py::test_outer_estimate_covers_the_outer_error``
    (fails with the halves' difference counted 1e-6 times instead of twice)."""
    q = _exp_exp()
    tabs = sc._tables(q)
    o = tabs.outer
    lams = np.array([0.5, 0.8, 0.95])
    v, e_y, _ = o.means(lams, tabs.N, tabs.S2)
    gauss = np.abs(v - o.rule.last_rows[:, o.gauss_idx] @ o.wy_gauss)
    e = o.edges
    halved = np.sort(np.concatenate([e, 0.5 * (e[:-1] + e[1:])]))
    uh, wh, _ = sc.gauss_kronrod(halved)
    fine = sc.OuterRule(q.size, tabs.lc.factor, tabs.lc, ynodes=(uh, wh * np.exp(uh)), **o._kw)
    vf = fine.means(lams, tabs.N, tabs.S2)
    true = np.abs(v - vf)
    assert np.all(true <= e_y), (true / v, e_y / v)
    assert e_y[2] < 0.8 * gauss[2], (e_y / v, gauss / v)


#: E[T | x, y] of Exp/Exp at load 0.8 as y -> 0 at x = 2 and 3 (x >> y: beyond b0 ~ 2.3 y, the
#: worst rank is 1/h_y(x) -> l = x e^x E1(x)), from ``tests/conditional_gittins_class_reference.py``'s
#: level functions (nested adaptive quadrature) at that l: lambda S2(l) g^2 / 2 + x g,
#: g = 1/(1 - lambda N(l)) (scipy.special.exp1 for l; nothing from the library). (Not x = 1: the
#: reference's N at exactly l = e E1(1), where C_y(l) -> 1 as y -> 0, is 8.7e-10 above the
#: library's, while at l -+ 1e-5 both agree within 1.1e-13)
TINY_Y_REF = {2.0: 2.4884225020912396, 3.0: 3.9175704441942116}


def test_tiny_predictions_on_the_law_itself():
    """Predictions below the tables' range (P(Y < y) < 1e-14, y < 2.1e-16 on Exp/Exp): from
    y = 1e-30 on, 24 panels over log x left the far tail's hazard 0.13 off in log, the route
    declined and the discretised route said E[T | x, y] exists at a discrete law's atoms only;
    below y = 7.4e-51 the size range cut X | y. Now (more panels, the range down to 1e-10 y):
    at y = 1e-30, 1e-100, 1e-300 the value at x = 2, 3 equals the in-range y = 1e-15's within
    2e-11 relative (measured up to 4.2e-12, the laws' rounding at x = 3) and the y -> 0 limit
    from the independent reference within the estimate and 1e-9 relative (measured 2.5e-10,
    2.1e-11; 0.49 and 0.05 of the estimates);
    below 1e-300 a ValueError naming y and saying what to pass."""
    q = _exp_exp()
    cg = qt.ConditionalGittins()
    from qtheory.engine.soap_conditional_class import conditional_estimate

    xs = np.array([2.0, 3.0])
    ref = np.array([TINY_Y_REF[v] for v in xs])
    base = conditional_estimate(q, cg, xs, 1e-15)[0]
    for y in (1e-30, 1e-100, 1e-300):
        v, e = conditional_estimate(q, cg, xs, y)
        assert np.all(np.abs(v / base - 1) < 2e-11), (y, v / base - 1)
        assert np.all(np.abs(v - ref) <= e) and np.all(np.abs(v / ref - 1) < 1e-9), (y, v / ref - 1, e)
    assert float(q.response_time(cg, 2.0, 1e-300)) == pytest.approx(ref[0], rel=1e-9)
    # the law's lower range: the hazard's peak a_p(y) against its y -> 0 form (e^{-x} = 1 at
    # x ~ y): h(t) = e^{-y/t}/t / (2 K0(2 sqrt(y)) - E1(y/t)), maximised by scipy (measured
    # 1.3e-8 .. 4.0e-8 relative; with the size range cut at 7.4e-51, a_p was 7.4e-51)
    from scipy import optimize, special

    from qtheory.engine.soap_conditional_class import FINE_X, TaggedJobs

    for y in (1e-30, 1e-100, 1e-300):
        tot = 2 * special.k0(2 * math.sqrt(y))
        best = optimize.minimize_scalar(
            lambda v, y=y, tot=tot: -math.exp(-1 / v) / v / (tot - special.exp1(1 / v)),
            bounds=(0.2, 5.0), method="bounded", options={"xatol": 1e-12}).x * y
        ap = TaggedJobs(sc._tables(q), np.array([y]), np.array([[1.0]]), FINE_X).o.cb.ap[0]
        assert abs(ap / best - 1) < 1e-6, (y, ap / best - 1)
    with pytest.raises(ValueError, match=r"y = 1e-301 is below 1e-300.*pass y >= 1e-300"):
        q.response_time(cg, 1.0, 1e-301)


def test_huge_prediction_raises_without_numpy_noise():
    """y = 1e12, 1e300 (f_Y(y) = 0 in doubles): the ValueError naming y comes without a numpy
    RuntimeWarning before it ("invalid value encountered in subtract", the reference grid's
    -inf - -inf, fired first)."""
    import warnings

    q = _exp_exp()
    cg = qt.ConditionalGittins()
    for y in (1e12, 1e300):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match=re.escape(f"prediction y = {y:.6g} underflows")):
                q.response_time(cg, 1.0, y)


def test_load_beyond_the_level_error_raises():
    """Where lambda (max N + its error) >= 1 (Exp/Exp: loads above 1 - 3.3e-10) the mean, the
    conditional mean and the slowdown raise a ValueError naming the load; the discretised
    route, taken before, gave 6.35e10 +- 19% at load 1 - 1e-12, above SPRPT's 6.09e10
    (ConditionalGittins never exceeds SPRPT). Below, at 1 - 1e-9, the route answers with its
    estimate covering the distance to SPRPT's mean from below (measured 7.83951e7 +- 3.7e7,
    SPRPT 7.83981e7)."""
    cg = qt.ConditionalGittins()
    q = qt.MG1(1 - 1e-12, qt.Exponential(1.0), qt.ExponentialPrediction())
    for f in (lambda: q.mean_response_time(cg), lambda: q.response_time(cg, 1.0, 1.0),
              lambda: q.mean_slowdown(cg)):
        with pytest.raises(ValueError, match=r"load 0\.999999999999 is not available.*below 0\.99999999"):
            f()
    ok = qt.MG1(1 - 1e-9, qt.Exponential(1.0), qt.ExponentialPrediction())
    v, e = sc.evaluate(ok, cg, [ok.arrival_rate])
    sprpt = float(ok.mean_response_time(qt.SPRPT()))
    assert v[0] <= sprpt and sprpt - v[0] <= e[0], (v, e, sprpt)


def test_a_declined_prediction_is_named(monkeypatch):
    """Where the law at a prediction declines (here forced: the far predictions' laws on 24
    panels, which declined from y = 1e-30 on before they grew with the range), the error names
    y and the reason, instead of the discretised route's "available at the atoms of a discrete
    law only; use an Empirical size law" (issue 15), which pointed at the size law."""
    from qtheory.engine import soap_conditional_class as scc

    monkeypatch.setattr(scc, "FAR_PANELS", 0.0)
    q = _exp_exp()
    with pytest.raises(ValueError, match=r"prediction y = 1e-30 is not available.*single-peaked"):
        q.response_time(qt.ConditionalGittins(), 1.0, 1e-30)
