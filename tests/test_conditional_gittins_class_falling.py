"""The falling branch of a ConditionalGittins class law (x, y): the laws X^new[l] at the
residence's levels r(y, a) (qtheory/engine/response_distribution_conditional_class.py,
``COARSE``; issue 16).

A class on the falling branch (x <= a_p(y)) holds its whole residence on these laws, which are
quadratures: their transforms at the Euler rule's large |s| were the error of its cdf (class
(0.5, 1.0) at load 0.5: 2.4e-6 off at T - x = 1 against mpmath's de Hoog inversion on 32
x-panels, 2e-10 on 64). Truth: (a) the laws' transform at the default Euler rule's largest
|Im s| against the same law on a far finer rule (256 x-panels, atoms on 32 sub-panels; the
quadrature converges to the continuous law's transform); (b) at full size, the cdf of the
class against mpmath's de Hoog inversion of the transform on the finer rule.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from test_conditional_gittins_class_jumps import _dehoog_cdf

import qtheory as qt
from qtheory.engine import response_distribution_conditional as rc
from qtheory.engine import response_distribution_conditional_class as rcc
from qtheory.engine import soap_conditional as sc

#: a level the residence of the class (0.5, 1.0) crosses (its ranks run from 0.876 to 1.228)
LEVEL = 1.0


@functools.cache
def _model(load):
    return qt.MG1(load, qt.Exponential(1.0), qt.ExponentialPrediction())


def _new_law_lst(res, s):
    Xn, Wn, _, _ = rc.level_laws(sc._tables(_model(0.5)).lc, np.array([LEVEL]), res)
    return np.exp(-np.multiply.outer(s, Xn[0])) @ Wn[0]


def test_residence_laws_transform_at_the_euler_nodes():
    """E[exp(-s X^new[1.0])] on the residence's rule ``COARSE`` within 1e-7 of 256 x-panels
    (atoms on 32 sub-panels) at |Im s| = 120 and 240, the default Euler rule's largest nodes at
    T - x = 1 and 0.5 (measured 1.5e-11 and 1.4e-8; the former 32 panels 9.9e-8 and 6.9e-6)."""
    s = 13.0 + 1j * np.array([120.0, 240.0])
    ref = _new_law_lst(rc.Resolution(x_panels=256, atom_split=32), s)
    got = _new_law_lst(rc.Resolution(**rcc.COARSE), s)
    assert np.all(np.abs(got - ref) < 1e-7), np.abs(got - ref)


@pytest.mark.slow
def test_falling_class_cdf_against_de_hoog():
    """Class (0.5, 1.0) at load 0.5 (on the falling branch: its whole residence on the
    ``COARSE`` laws) at T - x = 1: the default cdf within 2e-8 of mpmath's de Hoog inversion of
    its transform with the residence's laws on 128 x-panels, atoms on 32 sub-panels (measured
    -2e-10; on the former 32 panels -2.4e-6), and ``cdf_error`` covers it."""
    x, tau = 0.5, 1.0
    q = _model(0.5)
    d = rcc.class_distribution(rcc.ClassTransform(q, x, 1.0), "default")
    ref = _dehoog_cdf(rcc.class_distribution(
        rcc.ClassTransform(q, x, 1.0, coarse={"x_panels": 128, "atom_split": 32}), "finer"), tau)
    err = abs(float(d.cdf(np.array([x + tau]))[0]) - ref)
    assert err < 2e-8, err
    assert err <= float(d.cdf_error(np.array([x + tau]))[0]), (err, d.cdf_error(np.array([x + tau])))
