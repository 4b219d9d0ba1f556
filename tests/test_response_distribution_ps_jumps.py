"""The M/G/1-PS class law after its atoms (issue 16): the density jumps J_k and the next orders
(qtheory/engine/response_distribution_ps_jumps.py, the Volterra route), and the phase-type route
term by term (PHPSClassSeries of qtheory/engine/response_distribution_ps_series.py).

Independent checks: Coffman-Muntz-Trotter's M/M/1 terms B Q^k expanded in 1/s by mpmath (the
jumps and the next orders, term by term); a finite difference of the mpmath reference cdf
(tests/ps_mm1_reference.py) on both sides of an atom; the class cdf against that reference for
exponential sizes through the Volterra and the phase-type routes; Erlang(2) and H2 sizes against
tests/ps_ph_reference.py (mpmath roots of kappa(z) = s, de Hoog term by term), whose transform
is checked against the engine's M/PH/1-PS branching ODE (a separate derivation)."""

from __future__ import annotations

import os

import mpmath as mp
import numpy as np
import pytest
from ps_mm1_reference import mm1_ps_class_cdf
from ps_ph_reference import erlang2_ps_class_cdf, h2_ps_class_cdf

import qtheory as qt
from qtheory.engine.distribution import ResponseTimeDistribution
from qtheory.engine.response_distribution_ps import ps_class_atoms
from qtheory.engine.response_distribution_ps_jumps import class_term_coefficients, ps_class_density_jumps
from qtheory.engine.response_distribution_ps_phase import ph_ps_transform
from qtheory.engine.response_distribution_ps_series import PHPSClassSeries
from qtheory.engine.response_distribution_ps_volterra import volterra_ps_distribution

FULL = os.environ.get("QTHEORY_FULL") == "1"


def _cmt_terms(rho: float, x: float, K: int, order: int) -> np.ndarray:
    """The Taylor coefficients in w = 1/s of Coffman-Muntz-Trotter's B Q^k (mean size 1), by
    mpmath at 40 digits (r written in w, analytic at w = 0)."""
    with mp.workdps(40):
        def bqk(w, k):
            b = (1 + rho) * w + 1
            r = 2 * w / (b + mp.sqrt(b * b - 4 * rho * w * w))
            B = (1 - rho) * (1 - rho * r ** 2) * mp.exp(-rho * (1 - r) * x) / (1 - rho * r) ** 2
            Q = rho * (1 - r) ** 2 * mp.exp(-(1 + rho - 2 * rho * r) * x) / (1 - rho * r) ** 2
            return B * Q ** k
        return np.array([[float(c) for c in mp.taylor(lambda w, k=k: bqk(w, k), 0, order)] for k in range(K)])


@pytest.mark.parametrize("rho, x", [(0.8, 0.5), (0.5, 2.0)])
def test_jumps_and_next_orders_equal_the_mm1_terms(rho, x):
    """J_k (the closed form, from the branching picture) and h_{k,n}, n <= 4 (from the expansions of
    A and C) equal the coefficients of 1/s^n of B Q^k: the jumps of the density after the atoms,
    of its derivative, and so on (the factor 2 - lambda x of the later atoms is the convolution
    term lambda (Fbar * Fbar)(x) / E[(X - x)^+] = lambda x on exponential sizes)."""
    K = 4
    ref = _cmt_terms(rho, x, K, 4)
    J = ps_class_density_jumps(rho, qt.Exponential(1.0), x, K)
    assert np.max(np.abs(J - ref[:, 1]) / np.abs(ref[:, 1])) < 1e-9
    h = class_term_coefficients(rho, qt.Exponential(1.0), x, K, 4)
    for n, tol in ((0, 1e-12), (1, 1e-9), (2, 1e-8), (3, 1e-6), (4, 1e-3)):
        assert np.max(np.abs(h[:, n] - ref[:, n])) < tol * np.max(np.abs(ref[:, n])), n


def test_jump_against_a_finite_difference_of_the_reference_cdf():
    """The density of the mpmath reference on both sides of the atom at 2x (one-sided differences
    at the steps d, 2d, Richardson): its jump is J_1, and the cdf jumps by a_1."""
    rho, x, d = 0.8, 0.5, 1e-3
    t0 = 2 * x
    F = {k: mm1_ps_class_cdf(rho, x, t0 + k * d) for k in (-3, -2, -1, 1, 2, 3)}

    def side(sign):
        # f(t0 +- 0) from the cdf at t0 +- d, 2d, 3d: the derivative at t0 of the quadratic through
        # them, extended to t0 (an O(d^3) one-sided rule)
        f1, f2, f3 = (F[sign * k] for k in (1, 2, 3))
        return sign * (-5 * f1 + 8 * f2 - 3 * f3) / (2 * d)

    J = ps_class_density_jumps(rho, qt.Exponential(1.0), x, 2)[1]
    assert side(1) - side(-1) == pytest.approx(J, rel=1e-5)
    a1 = ps_class_atoms(rho, qt.Exponential(1.0), x)[1][1]
    atom = (3 * F[1] - 3 * F[2] + F[3]) - (3 * F[-1] - 3 * F[-2] + F[-3])  # cdf at t0 +- 0
    assert atom == pytest.approx(a1, rel=1e-4)


def _ph_exp(rho, x):
    atoms = ps_class_atoms(rho, qt.Exponential(1.0), x)
    split = PHPSClassSeries(rho, [1.0], [[-1.0]], x, atoms)
    return ResponseTimeDistribution(ph_ps_transform(rho, [1.0], [[-1.0]], x), "ph", atom0=atoms[0][1],
                                    shift=x, atoms=atoms[1:], split=split)


def test_exponential_class_cdf_through_the_phase_type_route():
    """Load 0.8, x = 0.5, exponential sizes forced through the phase-type route (B, Q from the
    roots of kappa(z) = s): measured within 2e-10 (the whole class transform inverted: 1.1e-5 and
    2.2e-5 off at t = 1.6, 2.9; the Volterra route's check is
    tests/test_response_distribution_ps_volterra.py)."""
    t = np.array([1.6, 2.9])
    ref = np.array([mm1_ps_class_cdf(0.8, 0.5, v) for v in t])
    assert np.max(np.abs(_ph_exp(0.8, 0.5).cdf(t) - ref)) < 1e-9


def test_phase_type_closed_form_equals_the_branching_ode():
    """(1 - rho) / (A + e^{-sx} C) from the roots equals the M/PH/1-PS ODE (DOP853 at 1e-12) on
    H2 and Erlang(3) sizes."""
    s = np.array([0.5, 1 + 3j, 20 + 300j])
    for alpha, S in (([0.9, 0.1], [[-2.0, 0.0], [0.0, -1 / 5.5]]),
                     ([1.0, 0.0, 0.0], [[-3.0, 3.0, 0.0], [0.0, -3.0, 3.0], [0.0, 0.0, -3.0]])):
        sp = PHPSClassSeries(0.7, alpha, S, 1.2, [(1.2, 0.1)])
        B, Q = sp._BQ(s)
        got = B / (1.0 - Q * np.exp(-s * 1.2))
        ref = ph_ps_transform(0.7, alpha, S, 1.2).lst(s)
        assert np.max(np.abs(got - ref)) < 1e-11


def test_erlang2_phase_type_class_cdf_against_the_reference():
    """Erlang(2), load 0.8, x = 0.5: before 2x (t = 0.95, next to the atom at 1: 9.2e-7 off before)
    and after it (t = 1.1: 2e-5 off before); measured within 5e-11."""
    d = qt.MG1(0.8, qt.Erlang(2, 1.0)).response_time_distribution("ps", x=0.5)
    for t in (0.95, 1.1):
        assert abs(float(d.cdf(t)) - erlang2_ps_class_cdf(0.8, 0.5, t)) < 1e-9


def test_erlang2_volterra_route_equals_the_phase_type_route():
    """Erlang(2) through the Volterra route (its jumps and next orders from f(0+) = 0, f'(0+) = 4,
    ...) against the phase-type route (checked against the mpmath reference above), load 0.8,
    x = 0.5, after the atom at 1: measured within 5e-10 (the whole class transform inverted:
    up to 2e-5)."""
    law = qt.Erlang(2, 1.0)
    ref = qt.MG1(0.8, law).response_time_distribution("ps", x=0.5)
    d = volterra_ps_distribution(0.8, law, 0.5, "v")
    t = np.array([1.1, 1.6])
    assert np.max(np.abs(d.cdf(t) - ref.cdf(t))) < 2e-9


@pytest.mark.skipif(not FULL, reason="about 10 s: QTHEORY_FULL=1")
def test_erlang2_volterra_route_everywhere():
    """The same at loads 0.5 / 0.8 / 0.95, x = 0.5, 1, before 2x and after several atoms:
    measured within 5.6e-9 (at 5.1x; the expansion stops at 1/s^4)."""
    law = qt.Erlang(2, 1.0)
    for rho in (0.5, 0.8, 0.95):
        for x in (0.5, 1.0):
            ref = qt.MG1(rho, law).response_time_distribution("ps", x=x)
            d = volterra_ps_distribution(rho, law, x, "v")
            t = np.array([1.3, 1.9, 2.2, 3.2, 5.1, 5.8]) * x
            assert np.max(np.abs(d.cdf(t) - ref.cdf(t))) < 1e-8


@pytest.mark.skipif(not FULL, reason="about 40 s (mpmath references): QTHEORY_FULL=1")
@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
@pytest.mark.parametrize("x", [0.5, 1.0])
def test_class_cdfs_against_the_references_everywhere(rho, x):
    """Exponential sizes through both routes (measured within 1.1e-9 and 2e-10), Erlang(2) through
    the phase-type route (5e-11), before 2x and after several atoms."""
    ts = np.array([1.3, 1.9, 2.2, 3.2, 5.1]) * x
    refs = np.array([mm1_ps_class_cdf(rho, x, t) for t in ts])
    vol = volterra_ps_distribution(rho, qt.Exponential(1.0), x, "v")
    assert np.max(np.abs(vol.cdf(ts) - refs)) < 1.5e-9
    assert np.max(np.abs(_ph_exp(rho, x).cdf(ts) - refs)) < 1e-9
    erl = qt.MG1(rho, qt.Erlang(2, 1.0)).response_time_distribution("ps", x=x)
    erefs = np.array([erlang2_ps_class_cdf(rho, x, t) for t in ts])
    assert np.max(np.abs(erl.cdf(ts) - erefs)) < 1e-9


@pytest.mark.skipif(not FULL, reason="about 10 s (mpmath references): QTHEORY_FULL=1")
def test_h2_class_cdf_against_the_reference():
    """H2 (probabilities 0.9/0.1, means 0.5/5.5) at load 0.8: measured within 8e-10 (was 8e-5)."""
    law = qt.HyperExponential([0.9, 0.1], [0.5, 5.5])
    lam = 0.8 / law.mean
    for x in (0.5, 2.0):
        d = qt.MG1(lam, law).response_time_distribution("ps", x=x)
        for t in (1.9 * x, 2.2 * x, 3.2 * x):
            assert abs(float(d.cdf(t)) - h2_ps_class_cdf(lam, 0.9, 2.0, 1 / 5.5, x, t)) < 1e-9
