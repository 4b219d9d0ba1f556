"""User prediction ranks that never decrease with age (``qt.Rank(fn, monotone="increasing")``)
on continuous multiplicative prediction laws, on the law itself
(:mod:`qtheory.engine.soap_prediction_rank_rising`, issue 15).

References:

* ranks that order jobs as a built-in policy: the age ``a`` as FB (LAS) and ``y**2`` as PSPJF,
  whose closed forms (``closed_form_mean``, ``mean_slowdown``) are quadratures of other
  formulas (FB's truncated loads, PSPJF's threshold functions);
* ``y + a/2``: ``tests/prediction_rank_rising_reference.py``, a nested quadrature of the
  theorem for that rank on Exp sizes with exponential predictions (its level functions with the
  inner integral in closed form; nothing of the library);
* ranks falling with the prediction: ``a - beta y`` by the same reference (its z rule graded
  where the level crosses 0), its level functions on bounded and uniform laws too, and ``-y``
  (the longest prediction first) in closed form with Bessel functions;
* the simulator (``tests/stats_policy.py``).
"""

from __future__ import annotations

import math
import os

import numpy as np
import prediction_rank_rising_reference as R
import pytest
from stats_policy import assert_consistent

import qtheory as qt
from qtheory.engine import generic, soap_prediction_rank, soap_prediction_rank_rising

FULL = os.environ.get("QTHEORY_FULL") == "1"
LOADS = np.array([0.5, 0.8, 0.95, 0.99])
#: the closed forms' own accuracy (relative)
CLOSED_FORM_ACCURACY = 2e-12


def _model(size, pred, load: float = 0.8) -> qt.MG1:
    return qt.MG1(load / size.mean, size, prediction=pred)


def _rank(fn, name):
    return qt.Rank(fn, descriptor="prediction", monotone="increasing", name=name)


HALF = _rank(lambda y, a: y + a / 2, "y + a/2")
AGE = _rank(lambda y, a: a + 0.0 * y, "a")
SQUARE = _rank(lambda y, a: y * y + 0.0 * a, "y^2")
FALL = _rank(lambda y, a: a - y, "a - y")


def test_route_takes_rising_ranks_only():
    """The route takes ranks declared rising that are monotone in the prediction (either way)
    and have no region of one rank; others go to the discretised route (monotone in y in
    neither direction, r(0, 0) = -inf, ties on a region: FCFS's constant, a rank that stops
    rising; falling in y where y -> r(y, y/k) is not monotone at a kink k of the factor)."""
    q = _model(qt.Exponential(1.0), qt.ExponentialPrediction())
    sup = soap_prediction_rank_rising.supported
    assert sup(q, HALF) and sup(q, AGE) and sup(q, SQUARE)
    assert sup(q, _rank(lambda y, a: y * (1.0 + a), "y(1 + a)"))
    assert not sup(q, qt.Rank(lambda y, a: y + a / 2))  # not declared
    # falling in the prediction: this route too; monotone in neither direction: not
    assert sup(q, FALL) and soap_prediction_rank_rising.shape_direction(FALL.fn) == -1
    assert soap_prediction_rank_rising.shape_direction(HALF.fn) == 1
    assert not sup(q, _rank(lambda y, a: a + (y - 1.0) ** 2, "a + (y - 1)^2"))
    # a - sqrt(y): y -> r(y, y/k) falls, then rises: declined where the factor has kinks
    root = _rank(lambda y, a: a - np.sqrt(y), "a - sqrt(y)")
    assert sup(q, root)
    uniform = _model(qt.Exponential(1.0), qt.UniformPrediction(0.5))
    assert not sup(uniform, root) and sup(uniform, FALL)
    assert not sup(q, _rank(lambda y, a: np.log(y) + a, "log y + a"))
    assert not sup(q, _rank(lambda y, a: 0.0 * (y + a), "0"))
    assert not sup(q, _rank(lambda y, a: np.minimum(a, 1.0) + 0.0 * y, "min(a, 1)"))
    assert not soap_prediction_rank.supported(q, HALF)
    assert not sup(q, qt.Rank(lambda y, a: y - a, monotone="decreasing"))
    assert not sup(qt.MG1(0.8, qt.Exponential(1.0)), HALF)  # no predictions
    # breakpoints of the size law, kinks of the factor: this route too
    assert sup(_model(qt.BoundedPareto(1.5, 1.0, 100.0), qt.ExponentialPrediction()), HALF)
    assert sup(uniform, HALF)
    assert sup(_model(qt.Exponential(1.0), qt.BoundedMultiplicative(0.5, 2.0)), HALF)


def test_age_rank_is_fb():
    """The rank ``a`` is FB: its mean at loads 0.5-0.99 on LogNormal(1) sizes with log-normal
    predictions within 1e-9 of FB's closed form (measured 6e-14), the estimate above the
    difference and below 1e-8; its slowdown within 1e-9 (measured 2e-15)."""
    size = qt.LogNormal(1.0)
    q = _model(size, qt.LogNormalPrediction(0.5))
    lams = LOADS / size.mean
    r = generic.evaluate(q, AGE, lams)
    assert "monotone='increasing'" in r.method and not r.exact, r.method
    ref = np.asarray(qt.LAS().closed_form_mean(q, lams), float)
    diff = np.abs(r.mean - ref)
    assert np.all(diff <= 1e-9 * ref), diff / ref
    assert np.all(diff <= r.error + CLOSED_FORM_ACCURACY * ref), (diff / ref, r.error / ref)
    assert np.all(r.error <= 1e-8 * ref), r.error / ref
    sd, ref_sd = generic.mean_slowdown(q, AGE), float(q.mean_slowdown(qt.LAS()))
    assert abs(sd - ref_sd) <= 1e-9 * ref_sd, (sd, ref_sd)


def test_age_rank_is_fb_on_bounded_sizes():
    """The rank ``a`` on BoundedPareto(1.5, 1, 100) sizes (a density that jumps to 0 at both
    ends) with uniform predictions (a factor that jumps at 0.5 and 1.5): FB's closed form at
    loads 0.5-0.99 within 1e-9 (measured 1.5e-15; 2e-4 to 3e-3 before the tables' end nodes
    were read inside their panels), within the estimate, the estimate below 1e-8."""
    size = qt.BoundedPareto(1.5, 1.0, 100.0)
    q = _model(size, qt.UniformPrediction(0.5))
    lams = LOADS / size.mean
    r = generic.evaluate(q, AGE, lams)
    assert "monotone='increasing'" in r.method, r.method
    ref = np.asarray(qt.LAS().closed_form_mean(q, lams), float)
    diff = np.abs(r.mean - ref)
    assert np.all(diff <= 1e-9 * ref), diff / ref
    assert np.all(diff <= r.error + CLOSED_FORM_ACCURACY * ref), (diff / ref, r.error / ref)
    assert np.all(r.error <= 1e-8 * ref), r.error / ref


#: the bounded and uniform laws of the reference: name -> (size law, prediction law)
LAWS = {
    "bpareto-exp": (qt.BoundedPareto(1.5, 1.0, 100.0), qt.ExponentialPrediction()),
    "exp-uniform": (qt.Exponential(1.0), qt.UniformPrediction(0.5)),
    "bpareto-uniform": (qt.BoundedPareto(1.5, 1.0, 100.0), qt.UniformPrediction(0.5)),
}


@pytest.mark.parametrize("name", list(LAWS))
def test_conditional_bounded_laws_against_reference(name):
    """E[T | x, y] of ``y + a/2`` on BoundedPareto sizes and uniform predictions at three points
    (levels across the size law's ends and the factor's) against the reference's level
    functions (its x integral cut at the ends; the inner integral in closed form) to 1e-12
    (measured 1.6e-15)."""
    size, pred = LAWS[name]
    q = _model(size, pred)
    X, Y = np.array([1.3, 4.0, 60.0]), np.array([1.2, 3.0, 45.0])
    got = soap_prediction_rank_rising.conditional(q, HALF, X, Y)
    N, S = R.law_level_functions(R.LAWS[name][0], Y + X / 2.0, 8)
    lam = q.arrival_rate
    d = 1.0 - lam * N
    ref = X / d + lam * S / (2.0 * d * d)
    assert np.allclose(got, ref, rtol=1e-12, atol=0), (got - ref) / ref


#: levels R = y + x/2 at which E[T | x, y] is compared on uniform predictions: a sweep over
#: five decades and the kinks of the level functions' integrands (the smallest prediction 0.5
#: of BoundedPareto(1.5, 1, 100) with factors on [0.5, 1.5], where c_y(R) = 2 (R - y) meets
#: the size law's ends 1 and 100 and the factor's ends, and the largest prediction 150), each
#: also just above
KINK_LEVELS = np.concatenate([np.geomspace(0.02, 300.0, 12), [0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0,
                                                              50.0, 100.0, 150.0]])
KINK_LEVELS = np.concatenate([KINK_LEVELS, KINK_LEVELS[12:] * (1 + 1e-9)])


@pytest.mark.parametrize("name", ["exp-uniform", "bpareto-uniform"])
def test_conditional_uniform_predictions_across_the_kinks(name):
    """E[T | x, y] of ``y + a/2`` on uniform predictions (factor on [0.5, 1.5]) at 32 levels
    R = y + x/2 from 0.02 to 300, at and just above the kinks of the level functions'
    integrands, against the reference's level functions (Gauss-Legendre cut at the kinks, the
    inner integral in closed form; its own change with twice the panels 1.8e-15) to 1e-11
    (measured 8.6e-13 on Exp sizes, at R = 133 where N(R) is within 1e-55 of 1, and 2.0e-14
    on BoundedPareto sizes)."""
    size, pred = LAWS[name]
    q = _model(size, pred)
    X, Y = KINK_LEVELS, KINK_LEVELS / 2.0
    got = soap_prediction_rank_rising.conditional(q, HALF, X, Y)
    N, S = R.law_level_functions(R.LAWS[name][0], Y + X / 2.0, 8)
    lam = q.arrival_rate
    d = 1.0 - lam * N
    ref = X / d + lam * S / (2.0 * d * d)
    assert np.allclose(got, ref, rtol=1e-11, atol=0), np.max(np.abs(got - ref) / ref)


def _conditional_reference(lam, x, y):
    """E[T | x, y] of ``y + a/2`` on Exp/Exp from the reference's level functions."""
    N, S = R.level_functions(np.asarray(y + x / 2.0, float), 40)
    d = 1.0 - lam * N
    return x / d + lam * S / (2.0 * d * d)


def test_conditional_against_reference():
    """E[T | x, y] of ``y + a/2`` (FB's formula at the level y + x/2) on Exp sizes with
    exponential predictions at three points against the reference's level functions (the
    inner integral in closed form) to 1e-11 (measured 4e-15), and the generic route's
    response_time the same."""
    q = _model(qt.Exponential(1.0), qt.ExponentialPrediction())
    X, Y = np.array([0.3, 1.0, 4.0]), np.array([1.2, 0.25, 2.5])
    got = soap_prediction_rank_rising.conditional(q, HALF, X, Y)
    ref = _conditional_reference(q.arrival_rate, X, Y)
    assert np.allclose(got, ref, rtol=1e-11, atol=0), (got - ref) / ref
    assert np.allclose(generic.response_time(q, HALF, X, Y), got, rtol=1e-12, atol=0)


@pytest.mark.skipif(not FULL, reason="QTHEORY_FULL=1: further laws (about 10 s)")
@pytest.mark.parametrize("size, pred", [
    (qt.LogNormal(1.0), qt.LogNormalPrediction(0.5)), (qt.Weibull(2.0), qt.ExponentialPrediction())],
    ids=["lognormal", "weibull2-exp"])
@pytest.mark.parametrize("pol, policy", [(AGE, qt.LAS()), (SQUARE, qt.PSPJF())], ids=["a", "y^2"])
def test_equivalent_ranks_full(pol, policy, size, pred):
    """``a`` (FB) and ``y**2`` (PSPJF) on further laws: the closed forms to 1e-9 (measured
    6e-14), within the estimate; the slowdowns to 1e-9 (measured 2e-15)."""
    q = _model(size, pred)
    lams = LOADS / size.mean
    r = generic.evaluate(q, pol, lams)
    ref = np.asarray(policy.closed_form_mean(q, lams), float)
    diff = np.abs(r.mean - ref)
    assert np.all(diff <= 1e-9 * ref), diff / ref
    assert np.all(diff <= r.error + CLOSED_FORM_ACCURACY * ref), (diff / ref, r.error / ref)
    value, err = soap_prediction_rank_rising.slowdown(q, pol)
    ref_sd = float(q.mean_slowdown(policy))
    assert value == generic.mean_slowdown(q, pol)
    assert abs(value - ref_sd) <= min(err + CLOSED_FORM_ACCURACY * ref_sd, 1e-9 * ref_sd)


#: ``python tests/prediction_rank_rising_reference.py`` (Exp sizes, exponential predictions;
#: its two resolutions differ by 6.5e-16 at most)
REFERENCE = {0.5: 1.7188151533022449, 0.8: 3.4517631859415214, 0.95: 9.86050153354742}


@pytest.mark.skipif(not FULL, reason="QTHEORY_FULL=1: y + a/2 on Exp/Exp (about 10 s)")
def test_new_rank_against_reference():
    """``y + a/2`` against the independent nested quadrature at loads 0.5, 0.8, 0.95 to 1e-8
    (measured 3.3e-14 at worst), with the error estimate above the true error less the
    reference's own accuracy (1e-14)."""
    q = _model(qt.Exponential(1.0), qt.ExponentialPrediction())
    loads = np.array([0.5, 0.8, 0.95])
    ref = np.array([REFERENCE[float(v)] for v in loads])
    r = generic.evaluate(q, HALF, loads)
    assert "monotone='increasing'" in r.method, r.method
    diff = np.abs(r.mean - ref)
    assert np.all(diff <= 1e-8 * ref), diff / ref
    assert np.all(diff <= r.error + 1e-14 * ref), (diff / ref, r.error / ref)
    assert math.isfinite(generic.mean_slowdown(q, HALF))


#: ``python tests/prediction_rank_rising_reference.py laws`` (``y + a/2``; its two resolutions
#: differ by 5.6e-16 at most)
REFERENCE_LAWS = {
    ("bpareto-exp", 0.5): 4.407565534173185,
    ("bpareto-exp", 0.8): 7.903390903907018,
}


@pytest.mark.skipif(not FULL, reason="QTHEORY_FULL=1: y + a/2 on bounded laws (about 10 s)")
@pytest.mark.parametrize("key", list(REFERENCE_LAWS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_new_rank_bounded_laws_against_reference(key):
    """``y + a/2`` on BoundedPareto sizes / uniform predictions against the independent
    quadrature to 1e-9 (measured 2.4e-14), within the estimate (less the reference's own 1e-14)."""
    name, load = key
    size, pred = LAWS[name]
    q = _model(size, pred)
    r = generic.evaluate(q, HALF, [load / size.mean])
    assert "monotone='increasing'" in r.method, r.method
    ref = REFERENCE_LAWS[key]
    diff = abs(float(r.mean[0]) - ref)
    assert diff <= 1e-9 * ref, diff / ref
    assert diff <= float(r.error[0]) + 1e-14 * ref, (diff / ref, float(r.error[0]) / ref)


def test_falling_rank_conditional_against_reference():
    """E[T | x, y] of ``a - y`` (rising with age, falling with the prediction: the jobs ahead
    are those whose prediction exceeds -R, up to the age R + y') on Exp sizes with exponential
    predictions at points whose level R = x - y lies below, near and above r(0, 0) = 0, against
    the reference's level functions (the inner integral in closed form) to 1e-12 (measured
    4e-16), and the generic route's response_time the same."""
    q = _model(qt.Exponential(1.0), qt.ExponentialPrediction())
    X = np.array([0.3, 1.0, 1.0, 4.0, 0.05, 2.0])
    Y = np.array([2.5, 1.0 + 1e-9, 1.0 - 1e-9, 0.5, 30.0, 2.0 ** -20])
    got = soap_prediction_rank_rising.conditional(q, FALL, X, Y)
    N, S = R.falling_level_functions(X - Y, 8)
    lam = q.arrival_rate
    d = 1.0 - lam * N
    ref = X / d + lam * S / (2.0 * d * d)
    assert np.allclose(got, ref, rtol=1e-12, atol=0), (got - ref) / ref
    assert np.allclose(generic.response_time(q, FALL, X, Y), got, rtol=1e-12, atol=0)
    # a tiny job's level x - y tends to 0, where S(0) = E[min(X, Y)^2] > 0 of old work is
    # ahead of it: E[T | x, y] / x ~ 1/x, and E[1/X] = inf on Exp sizes
    assert generic.mean_slowdown(q, FALL) == math.inf


@pytest.mark.parametrize("name", list(LAWS))
def test_falling_rank_conditional_bounded_laws_against_reference(name):
    """E[T | x, y] of ``a - y`` on uniform predictions (the factor's kinks: the crossings of
    y -> r(y, y/k), falling at k = 1.5, rising at k = 0.5) and BoundedPareto sizes (breakpoints)
    at points whose levels lie on both sides of 0 and across the laws' ends, against the
    reference's level functions (its x integral cut at the ends and where the cut-offs meet the
    factor's ends) to 1e-12 (measured 2e-15)."""
    size, pred = LAWS[name]
    q = _model(size, pred)
    X = np.array([1.3, 4.0, 60.0, 2.0, 90.0, 1.1])
    Y = np.array([1.2, 5.0, 45.0, 2.9, 50.0, 0.6])
    got = soap_prediction_rank_rising.conditional(q, FALL, X, Y)
    N, S = R.law_falling_level_functions(R.LAWS[name][0], X - Y, 8)
    lam = q.arrival_rate
    d = 1.0 - lam * N
    ref = X / d + lam * S / (2.0 * d * d)
    assert np.allclose(got, ref, rtol=1e-12, atol=0), (got - ref) / ref


#: ``python tests/prediction_rank_rising_reference.py falling BETA`` (``a - BETA y`` on Exp/Exp; its z
#: rule graded towards z = 1/BETA, where the level crosses 0; ``... falling 0.5 0.8``: BETA 0.5 at
#: load 0.8): (BETA, load) -> E[T]; its two resolutions differ by 6.5e-14 at most (a third, finer
#: one equals the stored value at (1, 0.8))
REFERENCE_FALLING = {
    (1.0, 0.5): 2.3023431832345422,
    (1.0, 0.8): 6.385950029293092,
    (0.5, 0.8): 5.981041013786122,
}


@pytest.mark.skipif(not FULL, reason="QTHEORY_FULL=1: ranks falling in y on Exp/Exp (about 3 s each)")
@pytest.mark.parametrize("beta", sorted({k[0] for k in REFERENCE_FALLING}))
def test_falling_rank_against_reference(beta):
    """``a - y`` (loads 0.5 and 0.8) and ``a - y/2`` (0.8; its level crosses r(0, 0) on z = 2,
    not an edge of the factor's base rule: without the cut there 6.9e-7 off) against the
    independent quadrature to 1e-9 (measured 2.7e-13 at worst; ``a - y`` took the discretised
    route before, 1.0e-3 off at 0.8), within the estimate (less the reference's own 1e-13), the
    estimate below 1e-8 (measured 1e-11)."""
    q = _model(qt.Exponential(1.0), qt.ExponentialPrediction())
    rank = FALL if beta == 1.0 else _rank(lambda y, a: a - beta * y, f"a - {beta} y")
    loads = np.array(sorted(k[1] for k in REFERENCE_FALLING if k[0] == beta))
    ref = np.array([REFERENCE_FALLING[(beta, float(v))] for v in loads])
    r = generic.evaluate(q, rank, loads)
    assert "monotone='increasing'" in r.method, r.method
    diff = np.abs(r.mean - ref)
    assert np.all(diff <= 1e-9 * ref), diff / ref
    assert np.all(diff <= r.error + 1e-13 * ref), (diff / ref, r.error / ref)
    assert np.all(r.error <= 1e-8 * ref), r.error / ref


def _longest_prediction_first(lam: float) -> float:
    r"""E[T] of the rank ``-y`` (preemptive, the longest prediction first) on Exp sizes with
    exponential predictions, in closed form up to one quadrature: the jobs ahead of (x, y) are
    those with Y' > y, whole, so E[T | x, y] = x / (1 - lam A) + lam B / (2 (1 - lam A)^2) with
    A(y) = E[X; Y > y] = \int x e^{-x - y/x} dx = 2 y K_2(2 \sqrt y), B(y) = 2 y^{3/2} K_3(2 \sqrt y),
    f_Y(y) = 2 K_0(2 \sqrt y) and f_Y(y) E[X | y] = 2 \sqrt y K_1(2 \sqrt y) (Bessel K; scipy),
    integrated over u = 2 \sqrt y."""
    from scipy import integrate, special

    def f(u):
        y = u * u / 4.0
        A, B = 2.0 * y * special.kv(2, u), 2.0 * y ** 1.5 * special.kv(3, u)
        d = 1.0 - lam * A
        return (2.0 * math.sqrt(y) * special.kv(1, u) / d
                + 2.0 * special.kv(0, u) * lam * B / (2.0 * d * d)) * u / 2.0

    pts = [0.0, 1e-6, 1e-3, 0.1, 1.0, 3.0, 10.0, 30.0, 100.0]
    return sum(integrate.quad(f, a, b, epsabs=0, epsrel=2e-14, limit=400)[0]
               for a, b in zip(pts[:-1], pts[1:]))


@pytest.mark.skipif(not FULL, reason="QTHEORY_FULL=1: -y on Exp/Exp (about 2 s)")
def test_longest_prediction_first_closed_form():
    """The rank ``-y`` (constant in age, falling with the prediction) against its Bessel closed
    form at loads 0.5 and 0.8 to 1e-12 (measured 2.4e-15), within the estimate (3.7e-12,
    1.1e-11 relative)."""
    q = _model(qt.Exponential(1.0), qt.ExponentialPrediction())
    rank = _rank(lambda y, a: -y + 0.0 * a, "-y")
    r = generic.evaluate(q, rank, [0.5, 0.8])
    assert "monotone='increasing'" in r.method, r.method
    ref = np.array([_longest_prediction_first(v) for v in (0.5, 0.8)])
    diff = np.abs(r.mean - ref)
    assert np.all(diff <= 1e-12 * ref), diff / ref
    assert np.all(diff <= r.error + 1e-14 * ref), (diff / ref, r.error / ref)


@pytest.mark.slow
@pytest.mark.skipif(not FULL, reason="QTHEORY_FULL=1: the simulator calls the user's rank per chunk")
def test_new_rank_against_simulation():
    """``y + a/2`` on Exp sizes with exponential predictions at load 0.8: the simulator's mean
    within its interval."""
    q = _model(qt.Exponential(1.0), qt.ExponentialPrediction())
    r = generic.evaluate(q, HALF, [0.8])
    sim = qt.simulate(q, HALF, jobs=2_000_000, seed=16, replications=16)
    assert_consistent(float(r.mean[0]), sim, "y + a/2, Exp/Exp at 0.8")
