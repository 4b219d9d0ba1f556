"""M/G/1-PS on continuous size laws (qtheory/engine/response_distribution_ps_volterra.py: the
linear Volterra equation for u = e^Gamma). Independent checks: Coffman-Muntz-Trotter's M/M/1-PS
transform (closed form), the M/PH/1-PS ODE on Erlang(2), and on Uniform(0.5, 1.5) sizes an mpmath
de Hoog inversion in x of the double transform kappa(z) / (z^2 (kappa(z) - s)) with the closed-form
size transform (no grid, no partial moments); the second moment against the same inversion of
1 / (z^2 kappa(z))."""

from __future__ import annotations

import os

import mpmath as mp
import numpy as np
import pytest

import qtheory as qt
from qtheory.engine.distribution import ResponseTimeDistribution
from qtheory.engine.response_distribution_ps import _PSTransform
from qtheory.engine.response_distribution_ps_phase import ph_ps_transform
from qtheory.engine.response_distribution_ps_volterra import VolterraPSTransform, volterra_ps_distribution

FULL = os.environ.get("QTHEORY_FULL") == "1"


def test_exponential_transforms_equal_the_closed_form():
    s = np.array([0.5, 1 + 3j, 5 + 40j])
    got = VolterraPSTransform(0.8, qt.Exponential(1.0), 0.4).lst(s)
    assert np.max(np.abs(got - _PSTransform(0.8, 1.0, 0.4).lst(s))) < 1e-9


@pytest.mark.skipif(not FULL, reason="2-4 s: QTHEORY_FULL=1")
def test_exponential_unconditional_cdf_equals_the_closed_form():
    # the transforms on one Euler row are off by up to 1e-6 at the top nodes, smoothly in s (one
    # grid per row): the inverted law is not
    ref = qt.MG1(0.8, qt.Exponential(1.0)).response_time_distribution("ps")
    d = volterra_ps_distribution(0.8, qt.Exponential(1.0), None, "v")
    t = np.array([2.0, 20.0])
    assert np.max(np.abs(d.cdf(t) - ref.cdf(t))) < 1e-8


def test_exponential_class_cdf_equals_the_closed_form(monkeypatch):
    """The Volterra class law inverted as a whole equals the closed form inverted the same way
    (the M/M/1 route's atom-by-atom inversion and the Volterra route's jumps switched off: both
    ring alike next to the atoms)."""
    from qtheory.engine import response_distribution_ps as ps
    from qtheory.engine import response_distribution_ps_volterra as vps

    monkeypatch.setattr(ps, "CLASS_SERIES", False)
    monkeypatch.setattr(vps, "CLASS_JUMPS", False)
    q = qt.MG1(0.8, qt.Exponential(1.0))
    ref = q.response_time_distribution("ps", x=0.5)
    d = volterra_ps_distribution(0.8, qt.Exponential(1.0), 0.5, "v")
    t = np.array([3.0])
    assert np.max(np.abs(d.cdf(t) - ref.cdf(t))) < 1e-8


def test_exponential_class_cdf_against_the_series_reference():
    """Was a strict xfail (session 37): the class law inverted as a whole rang next to the atoms at
    (k + 1) x, where the density jumps (1.1e-5, 2.2e-5 off at t = 1.6, 2.9, x = 0.5, load 0.8).
    With the jumps, kinks and next orders taken apart
    (qtheory/engine/response_distribution_ps_jumps.py): measured within 3e-10."""
    from ps_mm1_reference import mm1_ps_class_cdf

    d = volterra_ps_distribution(0.8, qt.Exponential(1.0), 0.5, "v")
    for t in (1.6, 2.9):
        assert abs(float(d.cdf(t)) - mm1_ps_class_cdf(0.8, 0.5, t)) < 1e-9


def test_erlang_class_transform_equals_the_phase_type_ode():
    lam, x = 0.8, 1.5
    law = qt.Erlang(2, 1.0)
    s = np.array([0.3, 2 + 5j, 4 + 30j])
    got = VolterraPSTransform(lam, law, x).lst(s)
    ref = ph_ps_transform(lam, [1.0, 0.0], [[-2.0, 2.0], [0.0, -2.0]], x).lst(s)
    assert np.max(np.abs(got - ref)) < 1e-9


def _uniform_kappa(lam, a, b):
    def kappa(z):
        beta = (mp.exp(-a * z) - mp.exp(-b * z)) / (z * (b - a))
        return z - lam * (1 - beta)
    return kappa


@pytest.mark.skipif(not FULL, reason="3 s (mpmath): QTHEORY_FULL=1")
def test_uniform_transform_against_the_double_transform():
    mp.mp.dps = 30
    lam, a, b, x = mp.mpf("0.8"), mp.mpf("0.5"), mp.mpf("1.5"), 2.0
    kappa = _uniform_kappa(lam, a, b)
    tr = VolterraPSTransform(0.8, qt.Uniform(0.5, 1.5), x)
    for s in (mp.mpf("0.7"), mp.mpc("0.5", "3")):
        c = mp.re(s) + 2 * lam  # right of the root of kappa(z) = s

        def F(z, ss, c=c):
            return kappa(z + c) / ((z + c) ** 2 * (kappa(z + c) - ss))
        sb = mp.conj(s)  # real and imaginary parts of U(s, x) inverted apart
        ur = mp.invertlaplace(lambda z, s=s, sb=sb, F=F: (F(z, s) + F(z, sb)) / 2, x, method="dehoog")
        ui = 0 if mp.im(s) == 0 else mp.invertlaplace(
            lambda z, s=s, sb=sb, F=F: (F(z, s) - F(z, sb)) / 2j, x, method="dehoog")
        U = mp.exp(c * x) * (ur + 1j * ui)
        ref = complex((1 - lam) * mp.exp(s * x) / (1 - lam + s * U))
        assert abs(tr.lst(np.array([complex(s)]))[0] - ref) < 1e-9


@pytest.mark.skipif(not FULL, reason="1.5 s (mpmath): QTHEORY_FULL=1")
def test_class_moments():
    mp.mp.dps = 30
    lam, x = 0.8, 2.0
    kappa = _uniform_kappa(mp.mpf("0.8"), mp.mpf("0.5"), mp.mpf("1.5"))
    u1 = mp.invertlaplace(lambda z: 1 / (z ** 2 * kappa(z)), x, method="dehoog")
    var = x ** 2 / (1 - lam) ** 2 - 2 * float(u1) / (1 - lam)
    d = qt.MG1(lam, qt.Uniform(0.5, 1.5)).response_time_distribution("ps", x=x)
    assert d.mean() == pytest.approx(x / (1 - lam), rel=1e-13)
    assert d.var() == pytest.approx(var, rel=1e-10)
    # on Exp(1): Coffman-Muntz-Trotter's variance; higher moments: the M/PH/1 ODE's
    tr = VolterraPSTransform(lam, qt.Exponential(1.0), 3.0)
    assert np.allclose(tr.raw_moments(4), _PSTransform(lam, 1.0, 3.0).raw_moments(4), rtol=1e-11)


def test_class_moments_on_exponential_sizes():
    # Coffman-Muntz-Trotter's variance; higher moments: the M/PH/1 ODE's
    tr = VolterraPSTransform(0.8, qt.Exponential(1.0), 3.0)
    assert np.allclose(tr.raw_moments(4), _PSTransform(0.8, 1.0, 3.0).raw_moments(4), rtol=1e-11)


def test_unconditional_moments_on_exponential_sizes():
    tr = VolterraPSTransform(0.8, qt.Exponential(1.0), None)
    m1, m2 = tr.moments()
    e1, e2 = _PSTransform(0.8, 1.0, None).moments()
    assert m1 == pytest.approx(e1, rel=1e-14)
    assert m2 == pytest.approx(e2, rel=1e-9)


def test_dispatch_and_errors():
    d = qt.MG1(0.7, qt.Weibull(0.5, 1.0)).response_time_distribution("ps", x=1.0)
    assert d.mean() == pytest.approx(1.0 / 0.3, rel=1e-13)
    assert d.atoms[0] == (1.0, pytest.approx(0.3 * np.exp(-0.7)))
    with pytest.raises(ValueError, match="x must be"):
        qt.MG1(0.7, qt.Weibull(0.5, 1.0)).response_time_distribution("ps", x=-1.0)
    # a class far beyond the grid's reach says so
    tr = VolterraPSTransform(0.8, qt.LogNormal(1.0, 1.0), 3000.0)
    with pytest.raises(FloatingPointError, match="out of reach"):
        tr.lst(np.array([1.0 + 1j]))


def _class_integral(lam, size, s, edges, order=12):
    """E[e^{-sT}] = int E[e^{-sT(x)}] dF(x) by Gauss-Legendre over the classes, each class
    transform from its own grid on [0, x] (the class route): no unconditional grid, no atoms."""
    x, w = np.polynomial.legendre.leggauss(order)
    tot = np.zeros(s.shape, complex)
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        for xi, wi in zip((a + b) / 2 + (b - a) / 2 * x, (b - a) / 2 * w, strict=True):
            tot += wi * float(size.pdf(xi)) * VolterraPSTransform(lam, size, float(xi)).lst(s) * np.exp(-s * xi)
    return tot


def test_density_jump_split_is_consistent():
    """The split of a law whose size density jumps (response_distribution_ps_density_atoms): the
    inverted rest plus the direct part's transform is the whole law's transform, computed
    independently as the integral of the class transforms; the masses add up to 1."""
    from qtheory.engine.response_distribution_ps_density_atoms import PSDensityAtoms

    lam, size = 0.8, qt.Uniform(0.5, 1.5)
    sp = PSDensityAtoms(lam, size)
    assert sp.part_total + sp.rest_total == pytest.approx(1.0, abs=1e-15)
    assert abs(sp.rest_lst(np.array([1e-9]))[0] - sp.rest_total) < 1e-7  # E[rest] ~ 1e-9 s
    # the direct part: its cdf reaches its mass, its density is the cdf's derivative
    assert float(sp.part_cdf(400.0)[0]) == pytest.approx(sp.part_total, abs=1e-13)
    h = 1e-4
    slope = (sp.part_cdf(2.3 + h) - sp.part_cdf(2.3 - h)) / (2 * h)  # (not at a jump k c)
    assert float(slope[0]) == pytest.approx(float(sp.part_pdf(2.3)), abs=1e-7)
    s = np.array([2.0, 2.0 + 5.0j])
    whole = sp.rest_lst(s) * np.exp(-s * sp.c) + sp.part_lst(s)
    ref = _class_integral(lam, size, s, np.linspace(0.5, 1.5, 4), order=10)
    assert np.max(np.abs(whole - ref)) < 1e-10


def test_unconditional_law_with_density_jumps():
    """Uniform(0.5, 1.5) at load 0.5 (was NotImplementedError): the density of T jumps at
    1, 1.5, 2, 3, ... and the rest's density has kinks there; between them (t = 2.5) the split
    law's cdf equals the same split inverted with 60 Euler terms instead of 53 to 1e-8 (the whole
    law inverted: 1.5e-4 off); the mean in closed form."""
    size = qt.Uniform(0.5, 1.5)
    d = qt.MG1(0.5, size).response_time_distribution("ps")
    assert d._split is not None and d.mean() == pytest.approx(1.0 / 0.5, rel=1e-14)
    t = np.array([2.5])
    fine = ResponseTimeDistribution(d._t, "fine", split=d._split, euler=(26.0, 40, 20))
    assert np.max(np.abs(d.cdf(t) - fine.cdf(t))) < 1e-6


@pytest.mark.skipif(not FULL, reason="25 s each: QTHEORY_FULL=1")
@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_unconditional_law_with_density_jumps_converges(rho):
    """Uniform(0, 2), next to the jumps 2, 4 of the density of T: the split law's Euler rule
    against 60 terms (measured: within 4.3e-8; both within 1.2e-7 of 140 terms; the whole law
    inverted: 2e-4 off; docs section 11.2)."""
    size = qt.Uniform(0.0, 2.0)
    d = qt.MG1(rho, size).response_time_distribution("ps")
    t = np.array([1.9, 2.1, 2.5, 3.9, 4.1])
    fine = ResponseTimeDistribution(d._t, "fine", split=d._split, euler=(26.0, 40, 20))
    assert np.max(np.abs(d.cdf(t) - fine.cdf(t))) < 1e-7


def test_class_density_jump_after_the_atom():
    """The jump J_0(x) = a_0(x) lambda (2 + x f(0+)) of a class density just after its atom at x,
    which the split takes apart (response_distribution_ps_density_atoms), against the class
    transform: s (E[e^{-s(T(x) - x)}] - a_0) -> J_0 like 1/s (Richardson on s = 200, 400)."""
    from qtheory.engine.response_distribution_ps import ps_class_atoms

    lam, size, x = 0.5, qt.Uniform(0.5, 1.5), 1.2
    a0 = ps_class_atoms(lam, size, x)[0][1]
    s = np.array([200.0, 400.0])
    v = s * (VolterraPSTransform(lam, size, x).lst(s).real - a0)
    assert 2 * v[1] - v[0] == pytest.approx(a0 * lam * 2.0, rel=1e-5)
