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
