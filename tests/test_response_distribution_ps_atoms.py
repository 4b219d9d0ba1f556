"""M/G/1-PS with several discrete sizes: the atoms of T(x) at (k+1)x + (sizes of descendants that
leave first) (qtheory/engine/response_distribution_ps_atoms.py) and the distribution built on them
(response_distribution_ps_discrete.discrete_ps_distribution). Independent checks: masses counted
by hand from the branching picture; the total atomic mass from a fixed-step RK4 solver of the
s = 0 equation written here; the transform (the delay equation, another module) minus the atoms
decays along the imaginary axis; E[T(x)] = x/(1-rho) and Var T(x) from the renewal form of the
M/G/1-PS variance (checked here on M/M/1 and Erlang against the other routes); the simulator."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from stats_policy import Estimate, assert_consistent

import qtheory as qt
from qtheory.engine.response_distribution_ps_atoms import discrete_ps_atoms
from qtheory.engine.response_distribution_ps_discrete import deterministic_atoms, discrete_ps_transform

FULL = os.environ.get("QTHEORY_FULL") == "1"


def test_masses_counted_by_hand():
    """Sizes {1, 3} (1/2 each), lambda = 0.4, x = 3 (q = 0: nobody present outlives the job).
    T = 4: exactly one arrival during the job, of size 1, born before 2, with no arrival during
    its life: (1 - rho) e^{-3 lam} (2 lam p) e^{-lam}. T = 5: two such children, or one child with
    one grandchild of size 1 that leaves by 3 (birth v, grandchild at v + u, u <= min(1, 2 - v):
    measure 1.5): (1 - rho) e^{-5 lam} (lam p)^2 (2^2/2 + 1.5)."""
    lam, p, rho = 0.4, 0.5, 0.8
    a = dict(discrete_ps_atoms(lam, [1.0, 3.0], [p, 1 - p], 3.0))
    assert a[3.0] == pytest.approx((1 - rho) * math.exp(-3 * lam), rel=1e-14)
    assert a[4.0] == pytest.approx((1 - rho) * 2 * lam * p * math.exp(-4 * lam), rel=1e-13)
    assert a[5.0] == pytest.approx((1 - rho) * math.exp(-5 * lam) * (lam * p) ** 2 * 3.5, rel=1e-13)
    # the least size: no arrival can leave first; k others present with residuals >= x
    q = (0.5 * 2.0) / 2.0
    small = discrete_ps_atoms(lam, [1.0, 3.0], [p, 1 - p], 1.0)
    ref = [((k + 1) * 1.0, (1 - rho) * (rho * q) ** k * math.exp(-lam * (k + 1))) for k in range(len(small))]
    np.testing.assert_allclose(np.array(small), np.array(ref), rtol=1e-13)
    # one size D and x <= D: M/D/1's atoms
    np.testing.assert_allclose(np.array(discrete_ps_atoms(0.8, [1.0], [1.0], 0.3, tail=1e-14)),
                               np.array(deterministic_atoms(0.8, 1.0, 0.3, tail=1e-14)), rtol=1e-13)


def _total_atomic_mass(lam, sizes, probs, x, n):
    r"""P(T(x) is at an atom) = (1-rho) psi / (1 - rho q psi) with psi = e^{-lam x} e^{lam M(x)},
    M' = sum_j p_j 1{x_j <= h} e^{-lam x_j} exp(lam (M(h) - M(h - x_j))), M(0) = 0 (the
    probability that a job's subtree is done by h), by RK4 on a grid holding the sizes, the
    delayed values read off the half-step grid (linear interpolation at mid-steps)."""
    sizes, probs = np.asarray(sizes, float), np.asarray(probs, float)
    dh = x / n
    assert np.allclose(np.rint(sizes / dh) * dh, sizes, rtol=1e-12)   # the sizes on the grid
    M = np.zeros(2 * n + 1)

    def f(i2, m, on):
        acc = 0.0
        for xj, pj, o in zip(sizes, probs, on, strict=True):
            if o:
                d = i2 - int(round(2 * xj / dh))
                acc += pj * math.exp(-lam * xj + lam * (m - M[d]))
        return acc

    for i in range(n):
        a = 2 * i
        on = sizes <= a * dh / 2 + 1e-12          # constant on the step
        m0 = M[a]
        k1 = f(a, m0, on)
        M[a + 1] = m0 + dh / 2 * k1                # a first value for the half step's delay
        k2 = f(a + 1, m0 + dh / 2 * k1, on)
        k3 = f(a + 1, m0 + dh / 2 * k2, on)
        M[a + 2] = m0 + dh * k3
        k4 = f(a + 2, m0 + dh * k3, on)
        M[a + 2] = m0 + dh / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        M[a + 1] = (M[a] + M[a + 2]) / 2 + dh / 8 * (k1 - k4)
    psi = math.exp(-lam * x + lam * M[-1])
    rho = lam * float(sizes @ probs)
    q = float(probs @ np.maximum(sizes - x, 0)) / float(sizes @ probs)
    return (1 - rho) * psi / (1 - rho * q * psi)


@pytest.mark.parametrize("sizes, probs, x, n", [([1.0, 3.0], [0.5, 0.5], 3.0, 2100),
                                                ([0.5, 1.25, 2.0], [0.3, 0.4, 0.3], 2.0, 2800),
                                                ([0.5, 1.25, 2.0], [0.3, 0.4, 0.3], 1.75, 2800)])
def test_total_atomic_mass_against_the_s0_equation(sizes, probs, x, n):
    """Measured: 9e-14 relative (x = 3 on {1, 3}, load 0.85)."""
    lam = 0.85 / float(np.dot(sizes, probs))
    atoms = discrete_ps_atoms(lam, sizes, probs, x)
    ref = _total_atomic_mass(lam, sizes, probs, x, n)
    assert sum(m for _, m in atoms) == pytest.approx(ref, rel=1e-9)


def test_transform_less_the_atoms_decays():
    """Riemann-Lebesgue: with every atom subtracted the transform of T(x) - x (the delay equation
    of response_distribution_ps_discrete, not the atoms' recursion) decays like 1/omega along
    s = 0.05 + i omega (sizes 0.5/1.25/2, x = 1.2, load 0.8, 117 atoms: measured omega |rest| =
    0.091, 0.110, 0.130 at omega = 100, 300, 1200; on sizes {1, 3}, x = 1, 2, 3, 5: 0.02-0.11 for
    omega = 150-2400); an atom left out or a wrong mass d leaves d undamped (d omega)."""
    sizes, probs, x = [0.5, 1.25, 2.0], [0.3, 0.4, 0.3], 1.2
    lam = 0.8 / float(np.dot(sizes, probs))
    d = qt.MG1(lam, qt.Empirical(sizes, weights=probs)).response_time_distribution("ps", x=x)
    assert len(d.atoms) >= 5
    w = np.array([100.0, 200.0])
    s = 0.05 + 1j * w
    rest = d._t.lst(s) - d.atom0 - d._atoms_at(s)
    assert np.all(np.abs(rest) * w < 0.5), np.abs(rest) * w


def _renewal_variance(lam, rho, sf, x, n):
    r"""Var T(x) = 2/(1-rho)^2 int_0^x (x - t) (1 - (1 - rho) u(t)) dt, u = 1 + lam (F-bar * u),
    by the trapezoidal rule on n steps (F-bar at a jump: the mean of its limits)."""
    h = x / n
    t = np.arange(n + 1) * h
    S = sf(t)
    u = np.empty(n + 1)
    u[0] = 1.0
    for i in range(1, n + 1):
        conv = np.dot(S[1:i], u[i - 1:0:-1]) + 0.5 * S[i] * u[0]
        u[i] = (1 + lam * h * conv) / (1 - lam * h * 0.5 * S[0])
    wts = np.full(n + 1, h)
    wts[0] = wts[-1] = h / 2
    return 2 / (1 - rho) ** 2 * np.sum(wts * (x - t) * (1 - (1 - rho) * u))


def _variance_reference(lam, rho, sf, x, n=600):
    return (4 * _renewal_variance(lam, rho, sf, x, 2 * n) - _renewal_variance(lam, rho, sf, x, n)) / 3


def test_the_variance_formula_on_other_routes():
    """The renewal form of Var T(x) reproduces Coffman-Muntz-Trotter's M/M/1 variance and the
    M/PH/1-PS ODE on Erlang(3) (both checked elsewhere against mpmath and the simulator)."""
    for law in (qt.Exponential(1.0), qt.Erlang(3, 1.0)):
        q = qt.MG1(0.7, law)
        for x in (0.4, 2.5):
            ref = _variance_reference(0.7, 0.7, lambda t, law=law: np.asarray(law.sf(t), float), x, n=2000)
            assert q.response_time_distribution("ps", x=x).var() == pytest.approx(ref, rel=1e-7)


def _step_sf(sizes, probs):
    sizes, probs = np.asarray(sizes, float), np.asarray(probs, float)

    def sf(t):
        above = (probs[None, :] * (sizes[None, :] > t[:, None])).sum(1)
        at = (probs[None, :] * np.isclose(sizes[None, :], t[:, None], rtol=0, atol=1e-12)).sum(1)
        return above + at / 2
    return sf


@pytest.mark.parametrize("sizes, probs", [([1.0, 3.0], [0.5, 0.5]), ([0.5, 1.25, 2.0], [0.3, 0.4, 0.3])])
def test_mean_and_variance(sizes, probs):
    m = float(np.dot(sizes, probs))
    rho = 0.8
    lam = rho / m
    second = 0.0
    for x, p in zip(sizes, probs, strict=True):
        tr = discrete_ps_transform(lam, sizes, probs, x)
        m1, m2 = tr.moments()                        # of T(x) - x
        assert m1 + x == pytest.approx(x / (1 - rho), rel=1e-11)
        var = _variance_reference(lam, rho, _step_sf(sizes, probs), x)
        assert m2 - m1 ** 2 == pytest.approx(var, rel=1e-10)
        second += p * (var + (x / (1 - rho)) ** 2)
    d = qt.MG1(lam, qt.Empirical(sizes, weights=probs)).response_time_distribution("ps")
    assert d.mean() == pytest.approx(m / (1 - rho), rel=1e-11)
    assert d.moment(2) == pytest.approx(second, rel=1e-10)


def test_distribution_object():
    """The cdf jumps by each atom's mass (x = 3 on {1, 3}: at 3, 4, 5), is 0 below x, monotone."""
    q = qt.MG1(0.4, qt.Empirical([1.0, 3.0]))
    d = q.response_time_distribution("ps", x=3.0)
    t = np.array([a for a, _ in d.atoms[:3]])
    assert np.allclose(t, [3.0, 4.0, 5.0])
    # one call: 3, 4 - 1e-9, 4, 5 - 1e-9, 5, 60 (each point costs a delay-equation solve)
    c = d.cdf(np.array([3.0, 4.0 - 1e-9, 4.0, 5.0 - 1e-9, 5.0, 60.0]))
    np.testing.assert_allclose(c[2:5:2] - c[1:4:2], [m for _, m in d.atoms[1:3]], rtol=0, atol=1e-8)
    assert float(d.cdf(3.0 * (1 - 1e-9))) == 0.0
    assert np.all(np.diff(c) > 0) and 0 < c[0] < c[-1] < 1


@pytest.mark.slow
def test_percentiles_against_the_simulator():
    q = qt.MG1(0.4, qt.Empirical([1.0, 3.0]))
    d = q.response_time_distribution("ps")
    jobs, reps = (400_000, 16) if FULL else (60_000, 8)
    r = qt.simulate(q, "ps", jobs=jobs, seed=41, replications=reps, percentiles=(50, 90, 99))
    for p in (50, 90, 99):
        exact = float(d.ppf(p / 100))
        assert r.percentile_resolution[p] < 0.1 * r.percentile_ci[p] / exact
        assert_consistent(exact, Estimate(r.percentiles[p], r.percentile_ci[p], r.replications),
                          f"M/G/1-PS sizes {{1, 3}} p{p}")
