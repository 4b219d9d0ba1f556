"""E[T | x, y] and the mean slowdown of ConditionalGittins on the bathtub route (the hazard of
X | y falls, then climbs: ``qtheory.engine._conditional_bathtub``), and the route's E[T] on
Weibull(0.5) sizes with a factor uniform on [0.5, 2].

References, each written separately from the code under test:

* the per-job residences of :class:`TaggedBathtub` (the worst future rank of each job, age by
  age) integrated over each prediction's law against the route's by-parts weights of the mean
  and of the slowdown (two derivations of one quantity);
* with no other work E[T | x, y] = x and E[T/X] = 1;
* ``tests/conditional_gittins_bathtub_weibull_reference.py`` (numpy and scipy.special only: the
  law in closed form, the Gittins rank by direct minimisation over the service quota, the
  level sets as roots of that rank, E[T | x, y] job by job; E[T] and E[T/X] as integrals of
  it over the joint law, several CPU minutes, not yet run to the end): ``QTHEORY_FULL=1``.
"""
from __future__ import annotations

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import _conditional_bathtub as cb
from qtheory.engine import soap_conditional as sc
from qtheory.engine import soap_conditional_class as scc

EXP = qt.Exponential(1.0)
EXP_FACTOR = qt.UniformPrediction(0.5).joint(EXP).factor
WEIBULL = qt.Weibull(0.5)
WEIBULL_PRED = qt.BoundedMultiplicative(0.5, 2.0)
CG = qt.ConditionalGittins()


@pytest.fixture(scope="module")
def coarse():
    """The route on exponential sizes with a factor uniform on [0.5, 1.5], on a coarse outer
    rule (0.8 s)."""
    return cb.BathtubSOAP(EXP, EXP_FACTOR, cb.BathtubResolution(ywidth=4.0, ygrade=1, itol=1e-8))


def _sizes(L, i):
    """Sizes of each kind for row i: on the rank's linear fall (x <= a_P), before the support
    beyond a_P, on the rising branch, on the falling branch, beyond the truncation end."""
    lo, c, aP, top = L.xlo[i], L.c[i], L.E[i] - L.peak[i], L.xtop[i]
    return np.array([0.5 * aP, 0.5 * (aP + lo), 0.5 * (lo + c), 0.5 * (c + L.xhi[i]), 1.5 * top])


def test_without_other_work_the_response_time_is_the_size(coarse):
    """At arrival rate 1e-13 E[T | x, y] = x for sizes of every kind (the rank's linear fall
    before the support, its square-root opening at x_lo, the rising and falling branches and
    beyond the truncation end), for predictions with a rising branch, and E[T/X] = 1 to the
    coarse rule's interpolant tolerance, 1e-8 (measured: 1e-13 and 4.4e-10)."""
    ys = np.array([3.0, 10.0])
    L = cb.BathtubLaws(EXP, EXP_FACTOR, ys)
    assert np.all(L.c > 1.1 * L.xlo)
    x = np.concatenate([_sizes(L, 0), _sizes(L, 1)])
    rows = np.repeat([0, 1], 5)
    v = cb.TaggedBathtub(coarse, L, rows, x, cb.COND_RULE).values(1e-13, np.zeros(x.size))
    assert np.allclose(v, x, rtol=1e-10, atol=0), v / x - 1
    s, e = coarse.slowdowns([1e-13])
    assert abs(s[0] - 1.0) < 1e-8


@pytest.mark.parametrize("inv", [False, True], ids=["mean", "slowdown"])
def test_per_job_residences_integrate_to_the_route_weights(coarse, inv):
    r"""At load 0.8, for predictions y = 0.3 (no rising branch) and 3: the residences of
    :class:`TaggedBathtub` (job by job: the rank's integral up to a*(x), then flat at 1/h(x); or
    up to a_P, flat at P to c, then m) integrated against k(x) (the mean) and k(x)/x (the
    slowdown) on Gauss-Legendre panels of their own, against the by-parts weights of
    :meth:`BathtubSOAP._terms` (the rising branch's levels exchanged with the ages before the
    support; for the slowdown the tail :math:`W = \int k/x`): measured within 1e-12."""
    lam = 0.8
    ys = np.array([0.3, 3.0])
    L = cb.BathtubLaws(EXP, EXP_FACTOR, ys)
    assert L.c[0] == L.xlo[0] and L.c[1] > 1.1 * L.xlo[1]
    levels, weights, Nl = coarse._terms(L, coarse.res, inv=inv)[:3]
    want = np.sum(weights / (1 - lam * Nl), axis=1)
    t, w = np.polynomial.legendre.leggauss(16)
    t, w = (t + 1) / 2, w / 2
    xs, wx, rows = [], [], []
    for i in range(ys.size):
        for a, b in ((L.xlo[i], L.c[i]), (L.c[i], L.xtop[i])):
            e = np.linspace(a, b, 5)
            xs.append((e[:-1, None] + np.diff(e)[:, None] * t).ravel())
            wx.append((np.diff(e)[:, None] * w).ravel())
            rows.append(np.full(xs[-1].size, i))
    x, wx, rows = np.concatenate(xs), np.concatenate(wx), np.concatenate(rows)
    res = cb.TaggedBathtub(coarse, L, rows, x, cb.COND_FINE).values(lam, np.zeros(x.size))
    k = L.k(x, ys[rows]) / (x if inv else 1.0)
    got = np.bincount(rows, weights=wx * k * res, minlength=ys.size)
    assert np.allclose(got, want, rtol=1e-10, atol=0), got / want - 1


# ---- Weibull(0.5) sizes, factor uniform on [0.5, 2] (QTHEORY_FULL=1) ------------------------------
#: (y, x, E[T | x, y]) at load 0.8 from ``... cond 0.8 X1,X2,... Y`` (order 16; order 12 within
#: 4e-13 relative). At y = 1: x_lo = 0.5, a_P = 0.4912, c = 0.6499, x_hi = 2 (at x = 1.99 the
#: reference's orders 12 and 16 differ by 6e-9, the route is 7e-10 from order 16: not used)
REF_COND = [
    (1.0, 0.3, 0.4684319714990255),  # the rank's linear fall before the support
    (1.0, 0.495, 0.6768197930051578),  # before the support, beyond a_P
    (1.0, 0.6, 0.7870967617906843),  # the rising branch: flat at 1/h(x) after a*
    (1.0, 0.9, 1.10292679442689),  # the falling branch
    (1.0, 1.5, 1.725945391021542),
    (3.0, 1.6, 3.2324331292986708),
    (3.0, 2.0, 3.6997690486715076),
    (3.0, 4.0, 6.0202698427083705),
]


@pytest.fixture(scope="module")
def weibull():
    return sc._tables(qt.MG1(0.8, WEIBULL, prediction=WEIBULL_PRED))


def test_weibull_conditional_against_the_reference(weibull):
    """E[T | x, y] at y = 1 (x before the support on the rank's linear fall and beyond a_P, on
    the rising and falling branches) and y = 3, through the public route
    (``soap_conditional_class``), against the reference within 1e-9 relative; and the slowdown
    through the public route equals the route's own."""
    q = qt.MG1(0.8, WEIBULL, prediction=WEIBULL_PRED)
    ys, xs, ref = (np.array(v) for v in zip(*REF_COND))
    v, e = scc.conditional_estimate(q, CG, xs, ys)
    assert np.allclose(v, ref, rtol=1e-9, atol=0), v / ref - 1
    assert np.all(e < 1e-9 * v)
    s, es = scc.slowdown(q, CG)
    assert s == weibull.slowdowns([0.8])[0][0]
