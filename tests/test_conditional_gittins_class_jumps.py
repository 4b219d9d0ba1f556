"""The density jumps of a ConditionalGittins class law (x, y) and their split
(qtheory/engine/response_distribution_conditional_class.py, "Kinks of the class law"; issue 16).

Truth: (a) the jumps of the new jobs' size density at the two ends of the atoms' family,
c* = C_{y0}(l) and C_{ylo}(l), against ``tests/conditional_gittins_jump_reference.py`` (scipy:
the rank by direct minimisation, C_y by Brent's method, the tail by quad; nothing from the
library); (b) the split law is the same law: away from its kinks (where the whole law's
inversion converges) its cdf equals the whole law's; (c) at full size, the cdf at load 0.95
next to the jumps against mpmath's de Hoog inversion of the same transform, and ``cdf_error``
covering the error of both the split and the former whole-law cdf.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import response_distribution_conditional_class as rcc
from qtheory.engine import soap_conditional as sc

POLICY = qt.ConditionalGittins()
#: the class (1.0, 0.3)'s flat level 1/h_y(x) and, from tests/conditional_gittins_jump_reference.py
#: (``python tests/conditional_gittins_jump_reference.py 0.6582966396502975``): c*, the jump
#: there, C_{ylo} (y -> 0) and the jump there
LEVEL = 0.6582966396502975
REF = (1.1473596907604928, 0.10912477083202433, 1.388516457976994, -0.11826210264948872)


@functools.cache
def _model(load):
    return qt.MG1(load, qt.Exponential(1.0), qt.ExponentialPrediction())


def test_cut_jumps_against_the_reference():
    """c* and C_{ylo} within 1e-10, the jumps there within 1e-6 relative of the independent
    reference (measured 2.5e-12, 1.3e-9 relative, 3e-12 and 4.5e-7 relative: the one-sided
    difference in y at the lower end)."""
    c, d = rcc.cut_jumps(sc._tables(_model(0.95)).lc, [LEVEL])
    assert abs(c[0, 0] - REF[0]) < 1e-10 and abs(c[0, 1] - REF[2]) < 1e-10, c
    assert abs(d[0, 0] / REF[1] - 1) < 1e-6 and abs(d[0, 1] / REF[3] - 1) < 1e-6, d


@functools.cache
def _cheap(load):
    """Class (1.0, 0.3) on coarser laws (the bookkeeping checks: the same transform both ways)."""
    return rcc.ClassTransform(_model(load), 1.0, 0.3, fine={}, coarse={"x_panels": 4})


def test_split_law_is_the_whole_law_away_from_the_kinks():
    """At T - x = 4, past every jump and kink (the whole law's Euler rules agree to 2e-8 there),
    the split law's cdf equals the whole law's on the same transform within 2e-8 (measured
    7e-10; at 0.5, below them, 3e-12), and its mean; the split's part holds the jumps' mass
    sum K_k / beta, two jumps a level (the flat part's and each node of the falling branch)."""
    tr = _cheap(0.95)
    d = rcc.class_distribution(tr, "split")
    whole = rcc.ClassDistribution(tr, "whole", tr.atom(), shift=1.0)
    sp = d._split
    assert sp is not None and sp.cs.size == 2 * (tr.ranks.size + 1)
    assert sp.part_total == pytest.approx(np.sum(sp.Ks) / rcc.JUMP_BETA, rel=1e-14)
    t = np.array([5.0])
    assert np.all(np.abs(d.cdf(t) - whole.cdf(t)) < 2e-8), d.cdf(t) - whole.cdf(t)
    assert d.mean() == whole.mean()


def _dehoog_cdf(d, tau, degree=40):
    """P(T - x <= tau) by mpmath's de Hoog inversion (degree 40, the abscissa of 27 digits; the
    transform in double precision) of the split law's rest, plus its part in closed form."""
    import mpmath as mp

    sp = d._split
    with mp.workdps(30):
        rule = mp.mp._de_hoog
        rule.calc_laplace_parameter(mp.mpf(tau), degree=degree, alpha=mp.mpf(10) ** -27)
        p = np.array([complex(v) for v in rule.p])
        G = (sp.rest_total - sp.rest_lst(p)) / p
        sf = float(rule.calc_time_domain_solution([mp.mpc(complex(g)) for g in G], mp.mpf(tau)))
    return 1.0 - sf - float(sp.part_total - sp.part_cdf([tau])[0])


@pytest.mark.slow
def test_cdf_next_to_the_jumps_against_de_hoog():
    """Class (1.0, 0.3) at load 0.95 (jumps at c* = 1.1474 and C_{ylo} = 1.3885, the p90 at
    T - x = 1.362) on the default rules, against mpmath's de Hoog inversion of the split
    transform: the split cdf within 3e-6 at T - x = 1.2 and 1.362 (measured -3.0e-8 and
    3.9e-7 since the residence's laws take 64 x-panels, 5.7e-7 and 1.4e-6 on 32; the
    reference's degrees 27 and 40 differ by up to 1.1e-6 there), the whole law's former cdf
    -1.1e-5 and 8.9e-6 off, and ``cdf_error`` covers both (measured 8.9e-7 and 2.9e-6 for the
    split, 4.6e-5 and 4.8e-5 for the whole law)."""
    tr = rcc.ClassTransform(_model(0.95), 1.0, 0.3)
    d = rcc.class_distribution(tr, "split")
    whole = rcc.ClassDistribution(tr, "whole", tr.atom(), shift=1.0)
    tau = np.array([1.2, 1.362])
    ref = np.array([_dehoog_cdf(d, v) for v in tau])
    err, err_w = np.abs(d.cdf(1.0 + tau) - ref), np.abs(whole.cdf(1.0 + tau) - ref)
    assert np.all(err < 3e-6), err
    assert np.all(err_w > 5e-6), err_w
    assert np.all(err <= d.cdf_error(1.0 + tau)), (err, d.cdf_error(1.0 + tau))
    assert np.all(err_w <= whole.cdf_error(1.0 + tau)), (err_w, whole.cdf_error(1.0 + tau))
