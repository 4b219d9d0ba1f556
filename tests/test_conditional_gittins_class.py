"""E[T | x, y] and the mean slowdown of ConditionalGittins on a continuous multiplicative
prediction law, on the law itself (issue 15): :mod:`qtheory.engine.soap_conditional_class`.

References, each written separately from the code under test:

* E[T | x, y] at three sizes of the prediction y = 0.3 (one on the rank's falling branch, one
  between the hazard's peak and b0, one beyond b0) and one of y = 1.5 (where r(y, 0) is above
  every rank of the rising branch: b0 = inf), at load 0.8 on Exp/Exp, from
  ``tests/conditional_gittins_class_reference.py`` (scipy: the Gittins rank by direct
  minimisation, the falling-branch age B by a root of the rank itself, the level functions by
  nested adaptive quadrature; its N interpolant within 8e-11 at a check level at y = 0.3, N at
  each node at y = 1.5, where the levels cross l = 1);
* the integral of E[T | x, y] and of E[T | x, y] / x over the joint law on an outer rule of
  this file (Gauss-Legendre panels in log y and, per prediction, in log x between the law's
  structure points), against the route's E[T] (checked against the conditional laws and
  brute-force SOAP in ``tests/test_soap_conditional.py``) and against the slowdown's own rule;
* with no other work (arrival rate 0) E[T | x, y] = x exactly.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import soap_conditional as sc
from qtheory.engine import soap_conditional_class as scc
from qtheory.engine._conditional_kernels import Compiled

FULL = os.environ.get("QTHEORY_FULL") == "1"
SIZE = qt.Exponential(1.0)
Q = qt.MG1(0.8, SIZE, qt.ExponentialPrediction())
CG = qt.ConditionalGittins()

#: (y, x, E[T | x, y]) at arrival rate 0.8 from tests/conditional_gittins_class_reference.py
REF = [
    (0.3, 0.3, 0.5470793481016769),  # falling branch (a_p = 0.42); R = r(y, 0) = 0.76300
    (0.3, 1.0, 1.3407151929423875),  # a_p < x < b0 = 2.23: residence split at B(x)
    (0.3, 3.0, 3.985380467664139),  # beyond b0: R = 1/h(x) = 0.80096
    # r(y, 0) = 1.456 above every rank of the rising branch (b0 = inf); the residence's levels
    # cross l = 1 (``--direct``: N at each node)
    (1.5, 1.0, 3.814295253122992),
]


@pytest.fixture(scope="module")
def tabs():
    return sc._tables(Q)


def test_conditional_matches_an_independent_reference(tabs):
    """E[T | x, y] on the falling branch, between the hazard's peak and b0 (the residence split
    at B(x)), beyond b0, and on the side of the kink u_c where b0 is infinite, against the
    scipy reference: within 1e-8 relative and within the route's own estimate (measured
    2.3e-11, 7.1e-11, 3.8e-13, 6.4e-12 relative; estimates 1.3e-9, 6.9e-10, 4.7e-10,
    1.1e-9)."""
    ys, xs, ref = (np.array(v) for v in zip(*REF))
    v, e = scc.conditional_estimate(Q, CG, xs, ys)
    d = np.abs(v - ref)
    assert np.all(d < 1e-8 * ref), d / ref
    assert np.all(d < e), (d, e)


def _gl(edges, n):
    t, w = np.polynomial.legendre.leggauss(n)
    e = np.asarray(edges, float)
    h = np.diff(e) / 2
    return (e[:-1, None] + h[:, None] * (t + 1)).ravel(), (h[:, None] * w).ravel()


def _x_rule(lc, y, xn=10, xpanels=4):
    """Per prediction ``y``: Gauss-Legendre panels (``xpanels`` of order ``xn``) in log x on
    each of [x_lo, a_p], [a_p, b0], [b0, x_top]: (nodes (n, m), weights with the joint
    density)."""
    cb = sc.CondBatch(lc.size, lc.factor, y, 24, lc.xr)
    ck = Compiled(cb)
    r0 = ck.rank_falling(np.zeros((y.size, 1)))[:, 0]
    b0 = np.minimum(ck.c_new(r0[:, None])[:, 0], cb.xtop)
    t, w = np.polynomial.legendre.leggauss(xn)
    s = np.linspace(0.0, 1.0, xpanels + 1)
    X, W = [], []
    for a, b in ((cb.xlo, cb.ap), (cb.ap, b0), (b0, cb.xtop)):
        la, lb = np.log(a), np.log(np.maximum(b, a))
        e = la[:, None] + (lb - la)[:, None] * s
        h = np.diff(e, axis=1)[:, :, None] / 2
        x = np.exp((e[:, :-1, None] + h * (t + 1)).reshape(y.size, -1))
        X.append(x)
        W.append((h * w).reshape(y.size, -1) * x * cb.k(x, y[:, None]))
    return np.concatenate(X, axis=1), np.concatenate(W, axis=1)


def test_per_prediction_integrals_are_the_routes(tabs):
    """At 14 predictions of the route's outer rule (across [0.05, 20] and next to the kink u_c
    on either side), E[T | x, y] integrated over x on a rule written here equals the route's
    E[T; Y in dy]/dy, and E[T | x, y] / x its slowdown integrand, within 1e-10 relative
    (measured 1.5e-11 and 2.5e-11 at most, 2e-13 next to u_c; the slowdown's part beyond b0
    raised by 1e-6 relative moved them to 5.8e-7)."""
    o = tabs.outer.rule
    o.means([0.8], tabs.N, tabs.S2)
    mean_rows = o.last_rows[0].copy()
    sd_rows = scc._slowdown_rows(o, 0.8, tabs.N, tabs.S2)
    u = np.log(o.ys)
    near = np.argsort(np.abs(u - tabs.lc.uc))[:4]
    # (outside [0.05, 20] one of the two x-rules spans many decades of x: below, the route's is
    # converged only to 2.8e-10 of each prediction's value at y = 0.01, 4.5e-8 at 1e-3 (1e-5 at 1e-16; a
    # rule here four times as fine moved by 3e-10 of that), those predictions weighing little
    # in E[T] (the route's estimate covers them); above, this rule, to 2e-10)
    first, last = np.searchsorted(o.ys, [0.05, 20.0])
    idx = np.unique(np.concatenate([np.linspace(first, last - 1, 10).astype(int), near]))
    y = o.ys[idx]
    X, W = _x_rule(tabs.lc, y)
    v = scc.conditional(Q, CG, X, np.broadcast_to(y[:, None], X.shape))
    dm = np.abs((W * v).sum(1) / mean_rows[idx] - 1)
    ds = np.abs((W * v / X).sum(1) / sd_rows[idx] - 1)
    assert np.all(dm < 1e-10) and np.all(ds < 1e-10), (dm, ds)


@pytest.mark.skipif(not FULL, reason="15-30 s: QTHEORY_FULL=1")
def test_integral_over_the_joint_law_is_the_mean_and_the_slowdown(tabs):
    """E[T | x, y] at the nodes of an outer rule written here (Gauss-Legendre panels of width 1
    in log y, halved eight times towards the kink u_c from either side; :func:`_x_rule` per
    prediction) integrates to the route's E[T] within 1e-9 relative (measured 4e-12; its
    estimate 5.4e-9) and E[T | x, y] / x to the slowdown within 1e-9 and within the slowdown's
    estimate (measured 5e-12; estimate 9.9e-9); the rule's mass is 1 to 1e-12."""
    lc = tabs.lc
    uc, width = lc.uc, 1.0
    left = np.linspace(lc.uylo, uc - width, max(1, int(np.ceil((uc - width - lc.uylo) / width))) + 1)
    right = np.linspace(uc + width, lc.uyhi, max(1, int(np.ceil((lc.uyhi - uc - width) / width))) + 1)
    near = width * 2.0 ** -np.arange(9)
    uy, wy = _gl(np.unique(np.concatenate([left, uc - near, [uc], uc + near, right])), 20)
    y = np.exp(uy)
    wy = wy * y
    X, W = _x_rule(lc, y)
    assert abs(float(W.sum(1) @ wy) - 1.0) < 1e-12
    v = scc.conditional(Q, CG, X, np.broadcast_to(y[:, None], X.shape))
    m, em = sc.evaluate(Q, CG, [0.8])
    mean = float((W * v).sum(1) @ wy)
    assert abs(mean / m[0] - 1) < 1e-9 and abs(mean - m[0]) < em[0], (mean / m[0] - 1, em[0] / m[0])
    sd, esd = scc.slowdown(Q, CG)
    ref = float((W * v / X).sum(1) @ wy)
    assert abs(sd / ref - 1) < 1e-9 and abs(sd - ref) < esd, (sd / ref - 1, esd / sd)
    assert esd < 1e-7 * sd


def test_without_other_work_the_response_time_is_the_size(tabs):
    """At arrival rate 0 the waiting time vanishes and every residence runs at speed 1:
    E[T | x, y] = x on the falling branch, across the split at B(x) and beyond b0, and beyond
    the law's panels (1/h by quadrature); the slowdown's rule gives the mass, 1."""
    ys = np.array([0.3, 1.5, 1e-6])
    cb = sc.CondBatch(SIZE, tabs.lc.factor, ys)
    frac = np.array([0.0, 0.2, 0.7, 1.0, 1.3, 2.5, 6.0])
    X = cb.ap[:, None] * frac[None, :]
    X = np.concatenate([X, 1.5 * cb.xtop[:, None]], axis=1)
    tj = scc.TaggedJobs(tabs, ys, X, scc.FINE_X)
    assert tj.mid.any() and tj.fall.any() and (~tj.mid & ~tj.fall).any()
    v = tj.values(0.0, tabs.N, tabs.S2)
    assert np.all(np.abs(v - X) <= 1e-12 * np.maximum(X, 1e-300)), v / X - 1
    o = tabs.outer.rule
    rows = scc._slowdown_rows(o, 0.0, tabs.N, tabs.S2)
    assert abs(float(rows @ o.wy) - o.total) < 1e-12


def test_the_far_inverse_hazard_matches_the_panels():
    """1/h_y by quadrature (ages beyond the law's panels) against the panels' value well inside
    them, to 1e-9 (measured 1.2e-10)."""
    f = qt.ExponentialPrediction().joint(SIZE).factor
    ys = np.array([0.3, 2.0])
    cb = sc.CondBatch(SIZE, f, ys, 24)
    x = np.stack([cb.ap * 2, cb.xtop / 4], axis=1)
    panels = Compiled(cb).inv_h(x)
    far = scc._inv_h_far(cb, x.ravel(), np.repeat(np.arange(2), 2)).reshape(x.shape)
    assert np.all(np.abs(far / panels - 1) < 1e-9), far / panels - 1


def test_generic_route_and_bad_input(tabs):
    """``MG1.response_time`` and ``MG1.mean_slowdown`` take this route (the discretised route
    raised NotImplementedError off the atoms, and its slowdown was 7e-4 off); bad input names
    the parameter."""
    v = scc.conditional(Q, CG, [1.0, 2.0], 1.5)
    assert np.array_equal(np.asarray(Q.response_time(CG, [1.0, 2.0], 1.5), float), v)
    assert float(Q.mean_slowdown(CG)) == scc.slowdown(Q, CG)[0]
    with pytest.raises(ValueError, match="prediction y"):
        Q.response_time(CG, 1.0)
    with pytest.raises(ValueError, match="y must be"):
        scc.conditional(Q, CG, 1.0, 0.0)
    with pytest.raises(ValueError, match="x must be"):
        scc.conditional(Q, CG, -1.0, 1.0)


@pytest.mark.skipif(not FULL, reason="2-3 s: QTHEORY_FULL=1")
def test_sharp_predictions_approach_srpt():
    """Log-normal errors of spread sigma on Exp(1) sizes at load 0.5: as sigma falls the
    conditional law X | y narrows to the point y, whose Gittins rank is the remaining size, so
    E[T | x, y = x] and the slowdown approach SRPT's (with perfect predictions the route is
    SRPT's own). Halving sigma from 0.2 to 0.1 more than halves each distance (measured
    factors 2.2 to 3.7; at 0.1 the distances are 0.5% to 0.9% of SRPT's values)."""
    size = qt.Exponential(1.0)
    xs = np.array([0.5, 1.0, 1.5])
    srpt = qt.MG1(0.5, size, qt.PerfectPrediction())
    ref = np.append(np.asarray(srpt.response_time("srpt", xs), float), float(srpt.mean_slowdown("srpt")))
    dist = []
    for sigma in (0.2, 0.1):
        q = qt.MG1(0.5, size, qt.LogNormalPrediction(sigma))
        v = np.append(scc.conditional(q, CG, xs, xs), scc.slowdown(q, CG)[0])
        dist.append(np.abs(v - ref))
    assert np.all(dist[1] < 0.5 * dist[0]) and np.all(dist[1] < 0.01 * ref), dist
