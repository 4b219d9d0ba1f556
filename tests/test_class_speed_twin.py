"""The percentile solver's cheap steps on a class law's cheap twin (issue 16, session 42).

A class law of PSJF, SRPT or SJF split at its kinks (``qtheory.engine._class_kinks``) takes the
solver's first steps, on the cheap Euler rule, on the same class law built on the coarser size
rule (``response_distribution.CHEAP_TWIN``, ``TWIN_WIDTH``; ``ResponseTimeDistribution(cheap=)``):
the full rule's step on the law itself then certifies the quantile, so the cdf is the law's bit
for bit and the quantile is the root of the law's own sf
(``docs/response_time_distribution.md``, section 7.11). The compiled set-up
(``SETUP_COMPILED``: ``_own_moments``, ``_extrapolation``) gives numpy's bits.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from scipy.optimize import brentq

import qtheory as qt
from qtheory.engine import distribution as dist
from qtheory.engine import laplace_inversion as li
from qtheory.engine import response_distribution as rd


@contextlib.contextmanager
def _twin(on: bool):
    old = rd.CHEAP_TWIN
    rd.CHEAP_TWIN = on
    try:
        yield
    finally:
        rd.CHEAP_TWIN = old


def _counted(d, level):
    """The quantile and the Euler rules on which the law's own split was evaluated, and its
    twin's (``_split_parts``: where the transform is evaluated)."""
    calls, twin_calls = [], []
    orig = dist.ResponseTimeDistribution._split_parts

    def counted(self, t, euler, deriv):
        (calls if self is d else twin_calls).append(tuple(euler))
        return orig(self, t, euler, deriv)

    dist.ResponseTimeDistribution._split_parts = counted
    try:
        v = d.ppf(level)
    finally:
        dist.ResponseTimeDistribution._split_parts = orig
    return v, calls, twin_calls


def _sf_noise(d, t: float) -> tuple[float, float]:
    """The round-off of the inverted sf next to ``t`` (the largest residual of a line through 9
    values within 4e-9 relative) and f(t) t (as in ``test_distribution_percentile_speed``)."""
    ts = t * (1.0 + np.linspace(-4e-9, 4e-9, 9))
    vals = np.array([float(d.sf(u)) for u in ts])
    fit = np.polyval(np.polyfit(ts - t, vals, 1), ts - t)
    return float(np.max(np.abs(vals - fit))), float(d.pdf(t)) * t


@pytest.mark.parametrize("policy,size,x", [("srpt", "exp", 1.0), ("psjf", "exp", 1.0),
                                           ("sjf", "uniform", 1.0)])
def test_cheap_steps_on_the_twin(policy, size, x):
    """p99 at load 0.8 (the bench's rows): every evaluation on the cheap rule is the twin's (the
    law's own transform only on the full rule, once), and the quantile is Brent's root of the
    law's own sf to 1e-9 plus three times the sf's round-off over f t."""
    law = {"exp": qt.Exponential(1.0), "uniform": qt.Uniform(0.0, 2.0)}[size]
    d = rd.response_time_distribution(qt.MG1(0.8 / law.mean, law), policy, x=x)
    v, calls, twin_calls = _counted(d, 0.99)
    assert calls == [tuple(d.euler)], calls
    assert len(twin_calls) >= 1 and set(twin_calls) == {tuple(li.EULER_CHEAP)}, twin_calls
    ref = brentq(lambda u: d.sf(u) - 0.01, 0.8 * v, 1.25 * v, xtol=1e-13 * v, rtol=1e-14)
    noise, ft = _sf_noise(d, ref)
    assert abs(v / ref - 1) < 1e-9 + 3.0 * noise / ft, (v, ref, noise / ft)


def test_twin_leaves_the_cdf_alone():
    """The twin only starts the solver: the cdf and pdf of SRPT's class x = 1 (Exp(1), load 0.8)
    at six times are the same bits with and without it, after a ppf built the twin."""
    m = qt.MG1(0.8, qt.Exponential(1.0))
    t = 1.0 + np.array([0.05, 0.4, 1.0, 1.7, 2.5, 6.0])
    d1 = rd.response_time_distribution(m, "srpt", x=1.0)
    d1.ppf([0.5, 0.99])
    assert d1._cheap is not None  # the premise: the twin was built and used
    with _twin(False):
        d0 = rd.response_time_distribution(m, "srpt", x=1.0)
    assert d0._cheap_make is None
    assert np.array_equal(d1.cdf(t), d0.cdf(t))
    assert np.array_equal(d1.pdf(t), d0.pdf(t))


def _cheap_step(d, tau0, p):
    vals = d._eval(np.exp(tau0), li.EULER_CHEAP, d2=True)
    g, g1, g2, _, _ = dist._log_derivs(vals, np.exp(tau0), np.log(p))
    return tau0 + dist._halley(g, g1, g2)


@pytest.mark.parametrize("policy,size,x", [("psjf", "weibull", 1.0), ("sjf", "weibull", 0.2),
                                           ("srpt", "exp", 1.0)])
def test_twin_step_next_to_the_law_step(policy, size, x):
    """The twin's cheap Halley step from 0.01 off (in log t) lands within 1e-6 of the law's own
    cheap step (p99, p99.9 at load 0.8; measured 6.3e-8, 2.4e-7, 3.2e-10 with TWIN_WIDTH 0.35;
    0.5 gives 3.8e-6 and 8.4e-6 on the first two): far inside the 1e-4 from which the full
    rule's one step certifies the quantile."""
    law = {"exp": qt.Exponential(1.0), "weibull": qt.Weibull(shape=0.5, mean=1.0)}[size]
    m = qt.MG1(0.8 / law.mean, law)
    with _twin(False):
        d0 = rd.response_time_distribution(m, policy, x=x)
    d1 = rd.response_time_distribution(m, policy, x=x)
    levels = np.array([0.99, 0.999])
    v = d0.ppf(levels)
    tau0 = np.log(v - x) + 0.01
    a, b = _cheap_step(d0, tau0, 1 - levels), _cheap_step(d1, tau0, 1 - levels)
    assert np.max(np.abs(a - b)) < 1e-6, np.abs(a - b)


def test_compiled_set_up_same_bits():
    """``_own_moments`` and ``_extrapolation`` compiled give numpy's bits: SRPT's class rows
    (x = 1, Exp(1); x = 0.2, Weibull(0.5)) and random rows of 3 to 40 nodes."""
    rng = np.random.default_rng(7)
    rows, grids = [], []
    for law, x in ((qt.Exponential(1.0), 1.0), (qt.Weibull(shape=0.5, mean=1.0), 0.2)):
        tr = rd.response_time_distribution(qt.MG1(0.8 / law.mean, law), "srpt", x=x)._t
        parts, _ = tr._joint_grid()
        rows.append(parts[:2])
        grids.append(np.concatenate([tr._grid[0], tr.xs]))
    for k in (3, 8, 12, 13, 17, 40):
        rows.append((rng.random((30, k)), rng.random((30, k)) * (rng.random((30, k)) > 0.2)))
    old = rd.SETUP_COMPILED
    try:
        for Xe, We in rows:
            rd.SETUP_COMPILED = True
            a = rd._own_moments(Xe, We)
            rd.SETUP_COMPILED = False
            b = rd._own_moments(Xe, We)
            assert all(np.array_equal(u, w) for u, w in zip(a, b, strict=True))
        for at in (np.sort(rng.random(200)), np.sort(rng.random(5)), *grids):
            for P in (3, 6, 8):
                rd.SETUP_COMPILED = True
                a = rd._extrapolation(at, P)
                rd.SETUP_COMPILED = False
                b = rd._extrapolation(at, P)
                assert all(np.array_equal(u, w) for u, w in zip(a, b, strict=True))
    finally:
        rd.SETUP_COMPILED = old
