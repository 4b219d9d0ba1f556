"""Size ranks that order jobs like SRPT or PSJF, written as an increasing function of their rank
(:math:`(d - a)^2`, :math:`e^{d - a} - 1`, :math:`d^2`), on the law itself
(:mod:`qtheory.engine.soap_size`): the SOAP theorem gives the same mean and :math:`E[T \\mid x]`
as the policy they order like, so SRPT's and PSJF's closed forms are the reference
(``q.mean_response_time("srpt")``, ``q.response_time("srpt", x)``, an independent route).

The case this file was written for: :math:`(d - a)^2` on Pareto(2.5) sizes asks for levels up to
1.3e23 (sizes up to the rule's end 3.6e11, squared); the level variable's scale was
:math:`10^{-13}` of the largest level, 1.3e10, so every level a typical job meets lay in one panel
of the interpolants accepted unresolved (narrower than 1e-7 in the level variable), the critical
level 1 was not a panel end, and :math:`E[T \\mid x = 1.5]` at load 0.8 was 2.1487 instead of
2.6766 (19.7 % low), the mean 0.7 % high.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import soap_size

PARETO = qt.Pareto(2.5, 1.0)
BPARETO = qt.BoundedPareto(1.5, 1.0, 100.0)
UNIFORM = qt.Uniform(1.0, 3.0)
EXP = qt.Exponential(1.0)
WEIBULL = qt.Weibull(0.5)


def square(d, a):
    return (np.asarray(d, float) - np.asarray(a, float)) ** 2


def expm1(d, a):
    return np.expm1(np.asarray(d, float) - np.asarray(a, float))


def size_squared(d, a):
    return np.asarray(d, float) ** 2 + 0.0 * np.asarray(a, float)


#: one rank object, so that the evaluator built for it on Pareto(2.5) is shared by the tests
SQUARE = qt.Rank(square, descriptor="size", name="square")

#: (law, rank function, the policy it orders jobs like); each case about 0.05-0.8 s cold on one
#: core (measured on a loaded machine); (d - a)^3 (8-9 s cold on Exp(1) and Uniform(1, 3), the
#: same 1e-13 accuracy) and Weibull(0.5) with (d - a)^2 (2 s) are left out for time
CASES = [
    (PARETO, square, "srpt"),
    (BPARETO, square, "srpt"),
    (EXP, square, "srpt"),
    (UNIFORM, expm1, "srpt"),
    (PARETO, size_squared, "psjf"),
    (BPARETO, size_squared, "psjf"),
    (WEIBULL, size_squared, "psjf"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[1].__name__}-{c[0]!r}")
def test_equals_the_policy_it_orders_like(case):
    """Mean at loads 0.5 and 0.8 and :math:`E[T \\mid x]` at the 10 %, 50 %, 90 % and 99 %
    quantiles (and x = 1.5 on Pareto) within 1e-9 of the closed forms, relative, each mean's
    error estimate above its true error (measured after the fix: 1e-13 at worst, E[T | x] 2e-15;
    before, on Pareto(2.5): mean 4 % low at load 0.5 and 0.7 % high at 0.8, E[T | x] up to
    25 % off). The engine is called directly, once for both loads (the public methods evaluate
    in units of the mean size, with the rank rescaled: a new rank object, built afresh at each
    call, 0.1-0.8 s each here)."""
    size, fn, ref = case
    rank = SQUARE if fn is square else qt.Rank(fn, descriptor="size", name=fn.__name__)
    xs = np.array([float(size.ppf(p)) for p in (0.1, 0.5, 0.9, 0.99)] + ([1.5] if size is PARETO else []))
    rhos = np.array([0.5, 0.8])
    models = [qt.MG1(rho / size.mean, size) for rho in rhos]
    assert soap_size.supported(models[0], rank)
    res = soap_size.evaluate(models[0], rank, rhos / size.mean)
    for q, m, e in zip(models, res.mean, res.error):
        want = float(q.mean_response_time(ref))
        err = abs(float(m) - want)
        assert err <= 1e-9 * want, (q, float(m), want)
        assert e >= err, (q, e, err)
        got = soap_size.conditional(q, rank, xs)
        exp = np.asarray(q.response_time(ref, xs), float)
        assert np.max(np.abs(got / exp - 1)) <= 1e-9, (q, got, exp)


def test_public_route():
    """``q.response_time`` gives SRPT's value for :math:`(d - a)^2` on Pareto(2.5) (load 0.8,
    x = 1.5: 2.6766, before 2.1487)."""
    q = qt.MG1(0.8 / PARETO.mean, PARETO)
    rank = qt.Rank(square, descriptor="size", name="square")
    assert float(q.response_time(rank, 1.5)) == pytest.approx(float(q.response_time("srpt", 1.5)), rel=1e-9)


def test_level_scale_follows_the_typical_levels():
    """The level variable's scale is below the least waiting level of the law's bulk (here the
    least size's rank 1, which must be a panel end of the interpolants, not inside a panel
    accepted unresolved), and the interpolants equal the level functions' own size rule there:
    :math:`N_{(d-a)^2}(\\ell) = N_{SRPT}(\\sqrt{\\ell})` (both by the x' rule, and the
    interpolant at levels 0.25..9 within 1e-10 of it; before, 0.26 off at level 1.01)."""
    q = qt.MG1(0.8 / PARETO.mean, PARETO)
    ev = soap_size._soap(q, SQUARE)
    least = 1.0    # the least size's fresh rank
    assert ev.s <= 2e-3 * least    # 1e-3 of the least rank at the rule's nodes in the bulk (1.3e10 before)
    edges = ev.s * np.sinh(ev.interp.edges)
    assert np.min(np.abs(edges / least - 1.0)) <= 1e-12
    lev = least * np.array([0.25, 0.99, 1.01, 1.5, 2.25, 4.0, 9.0])
    direct = ev.level_functions(lev)
    srpt = soap_size._soap(q, qt.SRPT()).level_functions(np.sqrt(lev))
    assert np.max(np.abs(direct - srpt)) <= 1e-12
    assert np.max(np.abs(ev.levels(lev) - direct)) <= 1e-10


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("QTHEORY_FULL") != "1", reason="about 4 s: QTHEORY_FULL=1 only")
def test_class_distribution_equals_srpt():
    """The response-time distribution of the class x = 1.5 (it uses this route's interpolants,
    :mod:`qtheory.engine.response_distribution_size`) under :math:`(d - a)^2` on Pareto(2.5) at
    load 0.8 equals SRPT's closed-form class distribution: cdf within 1e-9 (measured 1.5e-11;
    before the fix 7.4e-4), mean within 1e-12 relative (before, 6.5e-4)."""
    q = qt.MG1(0.8 / PARETO.mean, PARETO)
    rank = qt.Rank(square, descriptor="size", name="square")
    d = q.response_time_distribution(rank, x=1.5)
    ref = q.response_time_distribution("srpt", x=1.5)
    t = 1.5 + np.array([0.2, 1.0, 3.0, 10.0])
    assert np.max(np.abs(d.cdf(t) - ref.cdf(t))) <= 1e-9
    assert d.mean() == pytest.approx(ref.mean(), rel=1e-12)
