"""The M/M/1-PS sojourn-time law (qtheory/engine/response_distribution_ps.py: Coffman, Muntz and
Trotter's transform, inverted). Independent checks: the closed-form mean and variance against
40-digit derivatives of an mpmath transcription of the transform and against the inverted law's
own moments; the unconditional series against a quadrature of the class transform over the
size; the scale, light-traffic and atom properties; the simulator's percentiles."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from scipy import integrate
from stats_policy import Estimate, assert_consistent

import qtheory as qt
from qtheory.engine.response_distribution_ps import _PSTransform


def _mp_class_lst(s, x, rho):
    """The class transform written out in mpmath (mu = 1), independently of the module."""
    b = 1 + rho + s
    r = (b - mp.sqrt(b * b - 4 * rho)) / (2 * rho)
    num = (1 - rho) * (1 - rho * r**2) * mp.exp(-(rho * (1 - r) + s) * x)
    den = (1 - rho * r) ** 2 - rho * (1 - r) ** 2 * mp.exp(-((1 - rho * r**2) / r) * x)
    return num / den


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
@pytest.mark.parametrize("x", [0.3, 2.0, 10.0])
def test_class_moments_against_mpmath_derivatives(rho, x):
    mp.mp.dps = 40
    r = mp.mpf(rho)
    m1 = -mp.diff(lambda s: _mp_class_lst(s, mp.mpf(x), r), 0)
    m2 = mp.diff(lambda s: _mp_class_lst(s, mp.mpf(x), r), 0, 2)
    d = qt.MG1(rho, qt.Exponential(1.0)).response_time_distribution("ps", x=x)
    assert d.mean() == pytest.approx(float(m1), rel=1e-13)
    assert d.mean() == pytest.approx(x / (1 - rho), rel=1e-13)
    assert d.var() == pytest.approx(float(m2 - m1**2), rel=1e-11)
    # the module's transform equals the transcription (complex s too)
    for s in (0.7, 0.3 + 2.0j, 0.05 + 30.0j):
        ref = complex(_mp_class_lst(mp.mpc(s), mp.mpf(x), r) * mp.exp(mp.mpc(s) * x))  # of T - x
        got = complex(_PSTransform(rho, 1.0, x).lst(np.array([s]))[0])
        assert abs(got - ref) <= 1e-13 * max(1.0, abs(ref))


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_unconditional_series_against_quadrature_over_sizes(rho):
    # reference: mpmath quadrature of the transcribed class transform against e^{-x}
    mp.mp.dps = 25
    tr = _PSTransform(rho, 1.0, None)
    for s in (0.3, 2.0, 0.5 + 3.0j, 1.0 + 12.0j):
        sm = mp.mpc(s)
        ref = complex(mp.quad(lambda x, sm=sm: _mp_class_lst(sm, x, mp.mpf(rho)) * mp.exp(-x),
                              [0, 0.5, 2, 8, 30, mp.inf]))
        assert abs(tr.lst(np.array([s]))[0] - ref) <= 1e-13


def test_inverted_law_has_the_closed_form_moments():
    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = q.response_time_distribution("ps")
    assert d.mean() == pytest.approx(5.0, rel=1e-14)  # E[X] / (1 - rho)
    mean = integrate.quad(lambda t: float(d.sf(t)), 0, np.inf, limit=400)[0]
    assert mean == pytest.approx(d.mean(), rel=1e-6)
    dc = q.response_time_distribution("ps", x=2.0)
    mean_c = 2.0 + integrate.quad(lambda t: float(dc.sf(2.0 + t)), 0, 400, limit=400)[0]
    assert mean_c == pytest.approx(10.0, rel=1e-6)


def test_atom_scale_light_traffic_and_waiting():
    rho, x = 0.8, 2.0
    q = qt.MG1(rho, qt.Exponential(1.0))
    dc = q.response_time_distribution("ps", x=x)
    atom = (1 - rho) * math.exp(-rho * x)  # empty on arrival, nobody arrives before it leaves
    assert float(dc.cdf(x)) == pytest.approx(atom, abs=1e-9)
    assert float(dc.cdf(x * (1 - 1e-9))) == 0.0
    # time scale: Exp(mean 3) at the same load is the Exp(1) law stretched by 3
    q3 = qt.MG1(rho / 3, qt.Exponential(3.0))
    p = [0.5, 0.9, 0.99]
    np.testing.assert_allclose(q3.response_time_distribution("ps").ppf(p),
                               3 * q.response_time_distribution("ps").ppf(p), rtol=1e-9)
    # light traffic: T(x) -> x
    light = qt.MG1(1e-6, qt.Exponential(1.0)).response_time_distribution("ps", x=x)
    assert float(light.cdf(x)) == pytest.approx(1.0, abs=1e-5)
    w = q.waiting_time_distribution("ps")  # PS serves every job from its arrival
    assert w.mean() == 0.0 and np.all(w.ppf([0.5, 0.99]) == 0.0)


def test_other_laws_say_what_is_missing():
    with pytest.raises(NotImplementedError, match="phase-type sizes"):
        qt.MG1(0.5, qt.Mixture([qt.Deterministic(1.0), qt.Weibull(0.5)], [0.5, 0.5])).response_time_distribution("ps")
    with pytest.raises(ValueError, match="predictions"):
        qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction()).response_time_distribution(
            "ps", x=1.0, y=1.0)


def test_percentiles_against_the_simulator():
    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = q.response_time_distribution("ps")
    r = qt.simulate(q, "ps", jobs=400_000, seed=21, replications=16, percentiles=(50, 90, 99))
    for p in (50, 90, 99):
        exact = float(d.ppf(p / 100))
        # the histogram's bin (2^-10 of the value) is far below the interval
        assert r.percentile_resolution[p] < 0.1 * r.percentile_ci[p] / exact
        assert_consistent(exact, Estimate(r.percentiles[p], r.percentile_ci[p], r.replications),
                          f"M/M/1-PS p{p}")


# -- the atoms of a class at (k + 1) x ---------------------------------------------------------
@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Erlang(3, 1.0),
                                  qt.HyperExponential([0.5, 0.5], [0.4, 1.6])], ids=repr)
@pytest.mark.parametrize("x", [0.5, 2.5])
def test_class_atoms_leave_a_decaying_transform(size, x):
    """T(x) equals (k + 1) x with probability (1 - rho) rho^k q^k e^{-lambda (k+1) x} (k jobs
    present, each with an equilibrium residual >= x, no arrival). Checked against the
    transform itself (the closed form for exponential sizes, the phase ODE otherwise): once
    the atoms are subtracted, what is left is the transform of a density, which decays like
    1/omega along s = 1 + i omega (measured: omega |rest| = 0.04-0.35 at omega = 1e2, 1e3, 1e4).
    An atom mass off by d leaves d undamped (d omega here): the bound 1 at omega = 2000 catches
    5e-4 (before the atoms at k >= 1 were added, the atom at 2x alone left 0.012, i.e. 24)."""
    q = qt.MG1(0.8 / size.mean, size)
    d = q.response_time_distribution("ps", x=x)
    assert len(d.atoms) >= 5
    scaled = []
    for w in (500.0, 2000.0):
        s = np.array([1.0 + 1j * w])
        rem = d._t.lst(s) - d.atom0 - d._atoms_at(s)
        scaled.append(abs(complex(rem[0])) * w)
    assert max(scaled) < 1.0, scaled


def test_class_cdf_jumps_at_twice_the_size():
    """M/M/1-PS at load 0.8, x = 1: the cdf jumps by (1 - rho) rho e^{-1} e^{-2 lambda} = 0.01188
    at t = 2 and by (1 - rho) rho^2 e^{-2} e^{-3 lambda} at t = 3 (a tagged-job Monte Carlo of
    2e5 jobs: 0.01198 and 0.00176; the cdf there 0.2546 -> 0.2667, the library 0.2555 -> 0.2677;
    before the fix it was continuous through t = 2, 0.2606 -> 0.2616), and the atoms equal
    M/D/1's where the residual law is uniform."""
    from qtheory.engine.response_distribution_ps import ps_class_atoms
    from qtheory.engine.response_distribution_ps_discrete import deterministic_atoms

    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = q.response_time_distribution("ps", x=1.0)
    jump2 = 0.2 * 0.8 * math.exp(-1.0 - 1.6)
    jump3 = 0.2 * 0.64 * math.exp(-2.0 - 2.4)
    assert float(d.cdf(2.0) - d.cdf(2.0 - 1e-9)) == pytest.approx(jump2, rel=1e-6)
    assert float(d.cdf(3.0) - d.cdf(3.0 - 1e-9)) == pytest.approx(jump3, rel=1e-5)
    for D, x in ((1.0, 0.3), (2.0, 2.0), (1.5, 0.9)):
        lam = 0.7 / D
        a, b = ps_class_atoms(lam, qt.Deterministic(D), x), deterministic_atoms(lam, D, x)
        assert len(a) == len(b)
        np.testing.assert_allclose(np.array(a), np.array(b), rtol=1e-13)


def test_mm1_class_cdf_before_the_second_atom_against_the_series_reference():
    """Before (k + 1) x = 2x the class law has no density jump: the cdf equals the atom-series
    inversion of Coffman-Muntz-Trotter's transform (``tests/ps_mm1_reference.py``, mpmath only)
    within 1e-9 at t = 0.6, 0.7 (measured 4.7e-12 at 0.7; x = 0.5, load 0.8; at 0.9, next to the
    atom at 1, 5.3e-8)."""
    from ps_mm1_reference import mm1_ps_class_cdf

    d = qt.MG1(0.8, qt.Exponential(1.0)).response_time_distribution("ps", x=0.5)
    for t in (0.6, 0.7):
        assert abs(float(d.cdf(t)) - mm1_ps_class_cdf(0.8, 0.5, t)) < 1e-9


def test_mm1_class_cdf_after_the_atoms_against_the_series_reference():
    """After the later atoms at (k + 1) x the class law's density jumps; inverted atom by atom
    (``response_distribution_ps_series``) the cdf is within 1e-9 of the reference at t = 1.6, 4.3
    (x = 0.5, load 0.8; measured 2.3e-11, 2.1e-12; the whole transform inverted at once:
    1.1e-5, 1.35e-5), and the median solves the reference's cdf to 1e-9."""
    from ps_mm1_reference import mm1_ps_class_cdf

    d = qt.MG1(0.8, qt.Exponential(1.0)).response_time_distribution("ps", x=0.5)
    for t in (1.6, 4.3):
        assert abs(float(d.cdf(t)) - mm1_ps_class_cdf(0.8, 0.5, t)) < 1e-9
    assert abs(mm1_ps_class_cdf(0.8, 0.5, float(d.ppf(0.5))) - 0.5) < 1e-9
