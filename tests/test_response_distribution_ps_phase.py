"""The M/PH/1-PS sojourn-time law (qtheory/engine/response_distribution_ps_phase.py: time change
and branching, an ODE in the tagged job's attained service). Independent checks: exponential sizes
forced through the phase-type route against the Coffman-Muntz-Trotter transform (itself checked
against mpmath in test_response_distribution_ps.py) and against 40-digit mpmath derivatives of a
transcription of it (moments 1-4); phase-type laws that are exponential in disguise (two equal
phases, a mixture of two equal exponentials); the exact means x/(1-rho) and E[X]/(1-rho); the atom;
the simulator's percentiles on Erlang and hyperexponential sizes."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from stats_policy import Estimate, assert_consistent

import qtheory as qt
from qtheory.engine import laplace_inversion as li
from qtheory.engine.response_distribution_ps import _PSTransform
from qtheory.engine.response_distribution_ps_phase import ph_ps_transform

EXP1 = ([1.0], [[-1.0]])


def _mp_class_lst(s, x, rho):
    """Coffman-Muntz-Trotter's transform of T(x) - x (mu = 1), written out in mpmath."""
    b = 1 + rho + s
    r = (b - mp.sqrt(b * b - 4 * rho)) / (2 * rho)
    num = (1 - rho) * (1 - rho * r**2) * mp.exp(-(rho * (1 - r)) * x)
    den = (1 - rho * r) ** 2 - rho * (1 - r) ** 2 * mp.exp(-((1 - rho * r**2) / r) * x)
    return num / den


def _nodes():
    # complex points the inversion uses, at a short and a long time
    return np.concatenate([li.euler_nodes()[0] / 0.2, li.euler_nodes()[0] / 8.0, [0.7, 3.0]])


@pytest.mark.parametrize("rho", [0.5, 0.95])
@pytest.mark.parametrize("x", [0.3, 4.0])
def test_exponential_class_against_the_closed_form_and_mpmath(rho, x):
    tr = ph_ps_transform(rho, *EXP1, x)
    s = _nodes()
    np.testing.assert_allclose(tr.lst(s), _PSTransform(rho, 1.0, x).lst(s), rtol=0, atol=1e-13)
    mp.mp.dps = 40
    for n in (1, 2, 3, 4):
        ref = (-1) ** n * mp.diff(lambda v: _mp_class_lst(v, mp.mpf(x), mp.mpf(rho)), 0, n)
        assert tr.moment(n) == pytest.approx(float(ref), rel=1e-10), n


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_exponential_unconditional_against_the_closed_form(rho):
    tr = ph_ps_transform(rho, *EXP1, None)
    ref = _PSTransform(rho, 1.0, None)
    s = _nodes()
    np.testing.assert_allclose(tr.lst(s), ref.lst(s), rtol=0, atol=1e-13)
    m1, m2 = ref.moments()
    assert tr.moment(1) == pytest.approx(m1, rel=1e-12)
    assert tr.moment(2) == pytest.approx(m2, rel=1e-11)


@pytest.mark.parametrize("x", [0.5, 3.0, None])
def test_exponential_in_disguise(x):
    # two phases with the same rate, and a mixture of two equal exponentials, are Exp(mean 2)
    q = qt.MG1(0.35, qt.Exponential(2.0))
    ref = q.response_time_distribution("ps", x=x)
    s = _nodes() / 2
    for law in (qt.HyperExponential([0.3, 0.7], [2.0, 2.0]),
                qt.Mixture([qt.Exponential(2.0), qt.Erlang(1, 2.0)], [0.4, 0.6])):
        d = qt.MG1(0.35, law).response_time_distribution("ps", x=x)
        np.testing.assert_allclose(d.laplace(s), ref.laplace(s), rtol=0, atol=1e-13)
        assert d.var() == pytest.approx(ref.var(), rel=1e-10)


@pytest.mark.parametrize("law", [qt.Erlang(3, 1.0), qt.HyperExponential([0.9, 0.1], [0.5, 5.5]),
                                 qt.Mixture([qt.Erlang(2, 0.5), qt.Exponential(3.0)], [0.8, 0.2])])
def test_means_atom_and_a_proper_law(law):
    rho = 0.7
    q = qt.MG1(rho / law.mean, law)
    d = q.response_time_distribution("ps")
    assert d.mean() == pytest.approx(law.mean / (1 - rho), rel=1e-11)     # E[X] / (1 - rho)
    for x in (0.4, 2.5):
        dc = q.response_time_distribution("ps", x=x)
        assert dc.mean() == pytest.approx(x / (1 - rho), rel=1e-11)      # x / (1 - rho)
        atom = (1 - rho) * math.exp(-q.arrival_rate * x)                  # empty, no arrival
        assert float(dc.cdf(x)) == pytest.approx(atom, abs=1e-9)
        assert float(dc.cdf(x * (1 - 1e-9))) == 0.0
    t = np.array([0.1, 1.0, 3.0, 10.0, 40.0])
    c = d.cdf(t)
    assert np.all(np.diff(c) > 0) and 0 < c[0] and c[-1] < 1


def test_variance_exceeds_the_deterministic_floor():
    # Var[T(x)] grows with the variability of the others' sizes at the same load and mean
    x, rho = 2.0, 0.8
    v = [qt.MG1(rho, law).response_time_distribution("ps", x=x).var()
         for law in (qt.Erlang(4, 1.0), qt.Exponential(1.0), qt.HyperExponential([0.9, 0.1], [0.5, 5.5]))]
    assert v[0] < v[1] < v[2]


def test_other_laws_say_what_is_missing():
    with pytest.raises(NotImplementedError, match="phase-type"):
        mixed = qt.Mixture([qt.Deterministic(1.0), qt.Weibull(0.5)], [0.5, 0.5])
        qt.MG1(0.5, mixed).response_time_distribution("ps", x=1.0)


@pytest.mark.parametrize("law", [qt.Erlang(3, 1.0), qt.HyperExponential([0.9, 0.1], [0.5, 5.5])])
def test_percentiles_against_the_simulator(law):
    q = qt.MG1(0.8, law)
    d = q.response_time_distribution("ps")
    r = qt.simulate(q, "ps", jobs=400_000, seed=33, replications=16, percentiles=(50, 90, 99))
    for p in (50, 90, 99):
        exact = float(d.ppf(p / 100))
        assert r.percentile_resolution[p] < 0.1 * r.percentile_ci[p] / exact
        assert_consistent(exact, Estimate(r.percentiles[p], r.percentile_ci[p], r.replications),
                          f"M/PH/1-PS {law!r} p{p}")
