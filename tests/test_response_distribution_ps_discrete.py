"""M/G/1-PS with discrete sizes (qtheory/engine/response_distribution_ps_discrete.py): the delay
equation against an independent mpmath evaluation (M/D/1: an ODE solved by mpmath's Taylor
method, the equilibrium integral by mpmath quadrature), a fixed-step solver of the delay equation
written here (two sizes), the mean x/(1-rho), the atoms (what is left after them has no
atoms: its transform decays along the imaginary axis), and the simulator's percentiles."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from stats_policy import Estimate, assert_consistent

import qtheory as qt
from qtheory.engine.response_distribution_ps_discrete import deterministic_atoms, discrete_ps_transform


def _mp_md1_class(lam: float, D: float, x: float, s, dps: int = 25):
    r"""E[e^{-s(T(x) - x)}] in M/D/1-PS for x <= D, written from the branching argument alone: with
    Gamma(h) = s h + G(h), G' = lam (1 - e^{-Gamma}) on [0, x] (every job alive at a horizon
    h <= D is still there), and the equilibrium residual uniform on [0, D]."""
    with mp.workdps(dps):
        s, lam, D, x = mp.mpc(s), mp.mpf(lam), mp.mpf(D), mp.mpf(x)
        G = mp.odefun(lambda h, g: lam * (1 - mp.exp(-s * h - g)), 0, mp.mpc(0))
        Gx = G(x)
        inner = mp.quad(lambda r: mp.exp(-(s * r + Gx - G(x - r))), [0, x])
        ze = (inner + (D - x) * mp.exp(-(s * x + Gx))) / D
        rho = lam * D
        return mp.exp(-Gx) * (1 - rho) / (1 - rho * ze)


@pytest.mark.parametrize("rho, x", [(0.5, 1.0), (0.95, 1.0), (0.8, 0.3)])
def test_deterministic_transform_against_mpmath(rho, x):
    tr = discrete_ps_transform(rho, [1.0], [1.0], x)
    for s in (0.7, 0.4 + 2.5j, 3.0 - 9.0j):
        ref = complex(_mp_md1_class(rho, 1.0, x, s))
        assert abs(tr.lst(np.array([s]))[0] - ref) < 1e-10, (s, ref)


@pytest.mark.parametrize("rho, x", [(0.5, 1.0), (0.9, 1.0), (0.8, 0.4)])
def test_deterministic_moments_against_mpmath_derivatives(rho, x):
    tr = discrete_ps_transform(rho, [1.0], [1.0], x)
    m1, m2 = tr.moments()
    assert m1 == pytest.approx(x / (1 - rho) - x, rel=1e-12)
    with mp.workdps(40):  # central differences of step 1e-8 on a 50-digit transform
        d2 = mp.diff(lambda s: mp.re(_mp_md1_class(rho, 1.0, x, s, dps=50)), 0, 2, h=mp.mpf("1e-8"))
    assert m2 == pytest.approx(float(d2), rel=1e-9)


def _rk4_delay(lam, sizes, probs, x, s, n=4000):
    r"""E[e^{-s(T(x)-x)}] by classical RK4 on a uniform grid of n steps over [0, x] (the sizes
    and x on the grid), the delayed values read off the grid: the delay equation and the
    equilibrium integral written directly, without the module's Q function."""
    sizes, probs = np.asarray(sizes, float), np.asarray(probs, float)
    dh = x / n
    k_of = np.rint(sizes / dh).astype(int)
    assert np.allclose(k_of * dh, sizes)
    G = np.zeros(2 * n + 1, complex)  # G on the half-step grid

    def f(i2, g):  # G' at the half-step index i2 (h = i2 dh / 2), the delayed values on the grid
        h = i2 * dh / 2
        acc = 0j
        for xk, kk, pk in zip(sizes, k_of, probs, strict=True):
            acc += pk * (np.exp(-s * h - g) if xk >= h else np.exp(-(s * xk + g - G[i2 - 2 * kk])))
        return lam * (1 - acc)

    for i in range(n):
        a = 2 * i
        g0 = G[a]
        k1 = f(a, g0)
        k2 = f(a + 1, g0 + dh / 2 * k1)
        k3 = f(a + 1, g0 + dh / 2 * k2)
        k4 = f(a + 2, g0 + dh * k3)
        G[a + 2] = g0 + dh / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        G[a + 1] = (G[a] + G[a + 2]) / 2 + dh / 8 * (k1 - f(a + 2, G[a + 2]))  # cubic Hermite
    # zeta_e = E[e^{-(Gamma(x) - Gamma(x - min(R, x)))}] with R of density P(X > r)/E[X]: the
    # integral over r split by size (P(X > r) = sum_j p_j 1{r < x_j}), each part by Simpson
    Gx = G[-1]
    inner = 0j
    for xk, pk in zip(sizes, probs, strict=True):
        m = 2 * n if xk >= x else 2 * int(np.rint(xk / dh))
        r = np.arange(m + 1) * dh / 2
        vals = np.exp(-(s * r + Gx - G[2 * n - np.arange(m + 1)]))
        w = np.ones(m + 1)
        w[1:-1:2], w[2:-1:2] = 4, 2
        inner += pk * np.sum(w * vals) * dh / 6
    mean = float(sizes @ probs)
    ze = (inner + float(probs @ np.maximum(sizes - x, 0)) * np.exp(-(s * x + Gx))) / mean
    rho = lam * mean
    return np.exp(-Gx) * (1 - rho) / (1 - rho * ze)


def test_two_sizes_delay_equation_against_a_fixed_step_solver():
    sizes, probs, lam = [0.5, 2.0], [0.6, 0.4], 0.8 / 1.1
    for x, s in ((2.0, 0.5 + 1.0j), (1.25, 1.5 - 2.0j)):
        tr = discrete_ps_transform(lam, sizes, probs, x)
        ref = _rk4_delay(lam, sizes, probs, x, s)
        assert abs(tr.lst(np.array([s]))[0] - ref) < 1e-9, (x, s)


@pytest.mark.parametrize("x", [0.3, 1.25, 2.0])
def test_two_sizes_mean_is_x_over_one_minus_rho(x):
    sizes, probs = [0.5, 2.0], [0.6, 0.4]
    lam = 0.8 / 1.1
    tr = discrete_ps_transform(lam, sizes, probs, x)
    assert tr.moment(1) == pytest.approx(x / 0.2 - x, rel=1e-9)
    unc = discrete_ps_transform(lam, sizes, probs, None)
    assert unc.moment(1) == pytest.approx(1.1 / 0.2, rel=1e-9)


@pytest.mark.parametrize("rho, x", [(0.8, 0.3), (0.5, 0.7), (0.9, 1.0)])
def test_atoms_leave_a_law_without_atoms(rho, x):
    """Riemann-Lebesgue: the transform minus the atoms' exponentials tends to 0 along the
    imaginary axis (an atom left out, or a wrong mass, leaves a term that does not decay)."""
    atoms = deterministic_atoms(rho, 1.0, x)
    assert atoms[0] == (x, pytest.approx((1 - rho) * math.exp(-rho * x), rel=1e-15))
    tr = discrete_ps_transform(rho, [1.0], [1.0], x)
    w = np.array([150.0, 600.0])
    s = 0.05 + 1j * w
    rest = tr.lst(s) - sum(m * np.exp(-s * (a - x)) for a, m in atoms)
    # the rest behaves like c / w: at least three times smaller at 4x the frequency
    assert np.all(np.abs(rest) < 0.5 / w ** 0.5)
    assert abs(rest[1]) < abs(rest[0]) / 1.5 or abs(rest[1]) < 1e-4


def test_distribution_object_and_its_atoms():
    q = qt.MG1(0.8, qt.Deterministic(1.0))
    d = q.response_time_distribution("ps")
    dc = q.response_time_distribution("ps", x=1.0)
    t = np.array([1.2, 3.0, 10.0, 40.0])
    assert np.allclose(d.cdf(t), dc.cdf(t), atol=0, rtol=0)
    assert d.mean() == pytest.approx(5.0, rel=1e-12)
    assert d.cdf(0.999) == 0.0
    assert d.cdf(1.0) == pytest.approx(0.2 * math.exp(-0.8), rel=1e-12)
    c = q.response_time_distribution("ps", x=0.25)
    a = deterministic_atoms(0.8, 1.0, 0.25)
    jump = c.cdf(0.5 + 1e-9) - c.cdf(0.5 - 1e-9)
    assert jump == pytest.approx(a[1][1], abs=1e-7)
    assert np.all(np.diff(c.cdf(np.linspace(0.25, 30, 60))) >= -1e-10)


def test_what_is_not_covered_says_so():
    # sizes spread over three decades: more than MAX_CELLS sums of sizes below x
    with pytest.raises(NotImplementedError, match="grid cells"):
        # eight incommensurate sizes near 0.2: over a thousand sums below 1.2
        sizes = [0.2 + 0.0071 * k + 1e-4 * k * k for k in range(8)] + [1.2]
        qt.MG1(0.5, qt.Empirical(sizes)).response_time_distribution("ps", x=1.2)
    with pytest.raises(NotImplementedError, match="more than 6 times"):
        qt.MG1(0.5, qt.Empirical([0.001, 1.0])).response_time_distribution("ps", x=1.0)


def test_a_job_larger_than_d():
    """x = 2.5 > D = 1 (was NotImplementedError): the atoms at 2.5 + j (j jobs of size D arrive
    and leave during the stay) come from the recursion of response_distribution_ps_atoms; the
    first two by hand: (1 - rho) e^{-lam x} and (1 - rho) e^{-lam x} lam (x - D) e^{-lam D}."""
    lam, x = 0.8, 2.5
    d = qt.MG1(lam, qt.Deterministic(1.0)).response_time_distribution("ps", x=x)
    assert d.mean() == pytest.approx(x / 0.2, rel=1e-11)
    a = d.atoms
    assert a[0] == (x, pytest.approx(0.2 * math.exp(-lam * x), rel=1e-14))
    assert a[1] == (pytest.approx(x + 1), pytest.approx(0.2 * math.exp(-lam * (x + 1)) * lam * (x - 1), rel=1e-13))


def test_percentiles_against_the_simulator():
    q = qt.MG1(0.8, qt.Deterministic(1.0))
    d = q.response_time_distribution("ps")
    r = qt.simulate(q, "ps", jobs=400_000, seed=35, replications=16, percentiles=(50, 90, 99))
    for p in (50, 90, 99):
        exact = float(d.ppf(p / 100))
        assert r.percentile_resolution[p] < 0.1 * r.percentile_ci[p] / exact
        assert_consistent(exact, Estimate(r.percentiles[p], r.percentile_ci[p], r.replications),
                          f"M/D/1-PS p{p}")
