"""Moments of the unconditional M/G/1-PS sojourn time on continuous size laws
(qtheory/engine/response_distribution_ps_moments.py: one graded mesh for every class), against
independent routes: Coffman-Muntz-Trotter's M/M/1-PS transform and the M/PH/1-PS ODE (Exp,
Erlang forced through this route), the class moments
of each class on its own grid integrated over the sizes by Gauss-Legendre (Uniform; Pareto under
QTHEORY_FULL), and the rule that E[T^n] is infinite exactly when E[X^n] is."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine.response_distribution_ps import _PSTransform
from qtheory.engine.response_distribution_ps_moments import ps_unconditional_moments
from qtheory.engine.response_distribution_ps_phase import ph_ps_transform
from qtheory.engine.response_distribution_ps_volterra import VolterraPSTransform

FULL = os.environ.get("QTHEORY_FULL") == "1"


def _class_integral_moments(lam, law, n, top, per_decade=6, order=12):
    r"""E[T^j], j <= n: Gauss-Legendre over log x of each class's moments (its own Volterra grid
    on [0, x], VolterraPSTransform(x).raw_moments), from 1e-9 E[X] (below: E[T(x)^j] = O(x^j)) to
    ``top``; beyond ``top``, E[T(x)^j] = A x^j + B x^(j-1) through the last two nodes against
    the tail moments."""
    lo, hi = (float(v) for v in law.support)
    lo = max(lo, 1e-9 * float(law.mean))
    bps = [b for b in np.asarray(law.breakpoints, float) if lo < b < top]
    edges = np.unique(np.concatenate([np.geomspace(lo, top, int(per_decade * math.log10(top / lo)) + 2), bps]))
    g, w = np.polynomial.legendre.leggauss(order)
    tot = np.zeros(n + 1)
    last = None
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        for xi, wi in zip((a + b) / 2 + (b - a) / 2 * g, (b - a) / 2 * w, strict=True):
            mk = VolterraPSTransform(lam, law, float(xi)).raw_moments(n)  # of T(x) - x
            mt = np.array([sum(math.comb(j, i) * xi ** (j - i) * mk[i] for i in range(j + 1)) for j in range(n + 1)])
            tot += wi * float(law.pdf(xi)) * mt
            last = (last[1] if last else None, (xi, mt))
    if top < hi:  # E[T(x)^j] = A x^j + B x^(j-1) through the last two nodes
        (x0, m0), (x1, m1) = last
        for j in range(1, n + 1):
            A = (m1[j] / x1 ** (j - 1) - m0[j] / x0 ** (j - 1)) / (x1 - x0)
            B = m1[j] / x1 ** (j - 1) - A * x1
            tot[j] += A * float(law.tail_moment(j, top)) + B * float(law.tail_moment(j - 1, top))
    return tot


def test_exponential_moments_equal_the_closed_form_transform():
    """Exp(1) at load 0.5 through the Volterra route (the mesh runs geometric past 4 E[X]):
    moments 1-4 against the Taylor coefficients of Coffman-Muntz-Trotter's unconditional
    transform, by the Cauchy integral on the circle |s| = 0.4 (1 - sqrt(rho))^2 inside the
    transform's disc of analyticity (64 points; measured: within 8e-12 relative)."""
    rho, M = 0.5, 64
    R = 0.4 * (1.0 - math.sqrt(rho)) ** 2
    s = R * np.exp(2j * np.pi * np.arange(M) / M)
    c = np.fft.fft(_PSTransform(rho, 1.0, None).lst(s)) / M
    got = VolterraPSTransform(rho, qt.Exponential(1.0), None).uncond_moments(4)
    for k in range(1, 5):
        assert got[k] == pytest.approx((-1) ** k * math.factorial(k) * (c[k] / R ** k).real, rel=1e-10), k


@pytest.mark.skipif(not FULL, reason="0.6 s (the ODE's series): QTHEORY_FULL=1")
def test_erlang_moments_equal_the_phase_type_ode():
    """Erlang(2) through the Volterra route against the M/PH/1-PS ODE's Taylor series: moments 1-4
    at load 0.8 (measured: within 3e-11 relative)."""
    got = VolterraPSTransform(0.8, qt.Erlang(2, 1.0), None).uncond_moments(4)
    ref = ph_ps_transform(0.8, [1.0, 0.0], [[-2.0, 2.0], [0.0, -2.0]], None)
    for k in range(1, 5):
        assert got[k] == pytest.approx(ref.moment(k), rel=1e-10), k


def test_uniform_moments_against_the_class_integral():
    """Uniform(0.5, 1.5) at load 0.5, with its split law (d.moment): moments 2-4 against the
    classes' own moments integrated over x (measured: within 1.7e-11 relative)."""
    lam, law = 0.5, qt.Uniform(0.5, 1.5)
    d = qt.MG1(lam, law).response_time_distribution("ps")
    assert d._split is not None
    ref = _class_integral_moments(lam, law, 4, 1.5, per_decade=3, order=8)
    for k in (2, 3, 4):
        assert d.moment(k) == pytest.approx(ref[k], rel=1e-9), k
    assert d.var() == pytest.approx(ref[2] - 4.0, rel=1e-9)


def test_heavy_tails_infinite_exactly_where_the_size_moment_is():
    """E[T^n] = inf exactly when E[X^n] = inf (T(x) has every moment, E[T(x)^n] ~ x^n/(1-rho)^n):
    Pareto(1.5): Var inf; Pareto(3.5) at load 0.7: E[T^3] finite (>= E[T^2]^(3/2), Jensen),
    E[T^4] inf; never a finite number for an infinite moment, never inf for a finite one."""
    d = qt.MG1(0.2, qt.Pareto(alpha=1.5, xmin=1.0)).response_time_distribution("ps")
    assert math.isfinite(d.mean()) and d.var() == math.inf and d.moment(3) == math.inf
    d = qt.MG1(0.5, qt.Pareto(alpha=3.5, xmin=1.0)).response_time_distribution("ps")
    m2, m3 = d.moment(2), d.moment(3)
    assert math.isfinite(m3) and m3 >= m2 ** 1.5 and d.moment(4) == math.inf
    assert d.var() == pytest.approx(m2 - d.mean() ** 2) and d.var() > 0


@pytest.mark.skipif(not FULL, reason="40-70 s each (a class grid per node): QTHEORY_FULL=1")
@pytest.mark.parametrize("lam,law", [(0.5, qt.Pareto(alpha=2.5, xmin=0.6)), (0.5, qt.Pareto(alpha=3.5, xmin=1.0)),
                                     (0.5, qt.Weibull(0.5, 1.0))], ids=["pareto2.5", "pareto3.5", "weibull0.5"])
def test_heavy_tailed_moments_against_the_class_integral(lam, law):
    """The second (and third where finite) moment against the class integral to the 1 - 1e-12
    quantile (measured: E[T^2] within 9e-8 relative on Pareto(2.5), 7e-9 on Pareto(3.5), 4e-10 on
    Weibull(0.5); E[T^3] within 1e-7 on Pareto(3.5), 9e-9 on Weibull(0.5); the uniform grid of
    before gave E[T^2] 16% high on Pareto(2.5) and 0.13% on Pareto(3.5))."""
    got = ps_unconditional_moments(lam, law, 3)
    ref = _class_integral_moments(lam, law, 3, float(law.ppf(1 - 1e-12)))
    assert got[2] == pytest.approx(ref[2], rel=1e-6)
    if math.isfinite(float(law.moment(3))):
        assert got[3] == pytest.approx(ref[3], rel=1e-5)
    else:
        assert got[3] == math.inf
