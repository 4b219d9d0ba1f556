"""PSJF's and SRPT's class laws next to their kinks at multiples of x
(``qtheory.engine._class_kinks``; docs/response_time_distribution.md, section 14).

Reference: the PSJF class transform on the M/M/1 written here in closed form
(:math:`E[e^{-uX}; X < x] = (1 - e^{-(u+1)x})/(u + 1)`, Kendall's equation by Newton's method),
inverted by the Bromwich trapezoidal sum with 5e4 terms, Euler-averaged over the last 20 (the
same contour, none of the library's code): next to a kink its error falls like the number of
terms squared, 2e-9 at 5e4 terms (measured against 2e5 terms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import comb

import qtheory as qt
from qtheory.engine import response_distribution as rd


def _eta(s, lam, x):
    P = 1.0 - math.exp(-x)
    e = s.copy()
    for _ in range(60):
        q = np.exp(-(e + 1) * x)
        E = (1 - q) / (e + 1)
        dE = -(1 - q) / (e + 1) ** 2 + x * q / (e + 1)
        step = (e - s - lam * (P - E)) / (1 + lam * dE)
        e = e - step
        if np.max(np.abs(step) / np.abs(e)) < 1e-15:
            break
    return e


def _psjf_class(s, lam, x):
    """E[e^{-s(T - x)}] of PSJF's class x on the M/M/1 with E[X] = 1 (Kleinrock's preemptive
    priority transform: (1 - rho_x) eta / s e^{-x (eta - s)})."""
    rho_x = lam * (1 - math.exp(-x) * (1 + x))
    e = _eta(s, lam, x)
    return (1 - rho_x) * e / s * np.exp(-x * (e - s))


def _mm1_waiting(policy, lam, x):
    """E[e^{-sW}] of class x on the M/M/1 with E[X] = 1, written here in closed form: PSJF
    (1 - rho_x) eta / s, SRPT ((1 - rho_x - lam x e^{-x}) eta + lam e^{-x}(1 - e^{-eta x})) / s,
    SJF ((1 - lam) eta + lam (e^{-x} - e^{-(eta + 1) x}/(eta + 1))) / s (Kleinrock's
    non-preemptive priority transform; SJF's T - x is its W)."""
    rho_x = lam * (1 - math.exp(-x) * (1 + x))
    sf = math.exp(-x)

    def F(s):
        e = _eta(s, lam, x)
        if policy == "psjf":
            return (1 - rho_x) * e / s
        if policy == "srpt":
            return ((1 - rho_x - lam * x * sf) * e + lam * sf * (1 - np.exp(-e * x))) / s
        return ((1 - lam) * e + lam * (sf - np.exp(-(e + 1) * x) / (e + 1))) / s

    return F


def _bromwich_cdf(F, t, N=50000, A=26.0, m=20):
    k = np.arange(N + m + 1)
    s = (A + 2j * math.pi * k) / (2 * t)
    v = (F(s) / s).real * np.where(k % 2 == 0, 1.0, -1.0)
    v[0] *= 0.5
    partial = np.cumsum(v)[N:]
    return math.exp(A / 2) / t * float(partial @ (comb(m, np.arange(m + 1)) / 2.0 ** m))


@pytest.mark.parametrize("lam,x", [(0.8, 1.0), (0.8, 0.3), (0.95, 1.0)])
def test_psjf_class_next_to_kinks(lam, x):
    """P(T - x <= t) at t/x from 0.9 to 7 (both sides of the kinks at x, 2x, 3x): within 1e-8
    of the reference (the whole law's inversion: up to 1.3e-4)."""
    q = qt.MG1(lam, qt.Exponential(1.0))
    d = rd.response_time_distribution(q, "psjf", x=x)
    taus = x * np.array([0.9, 1.2, 1.5, 1.9, 2.5, 3.2, 5.0, 7.0])
    got = d.cdf(x + taus)
    for tau, g in zip(taus, got, strict=True):
        ref = _bromwich_cdf(lambda s: _psjf_class(s, lam, x), tau)
        assert abs(g - ref) < 1e-8, (lam, x, tau, g, ref)


@pytest.mark.parametrize("policy,waiting", [("psjf", True), ("srpt", True), ("sjf", False)])
def test_waiting_and_sjf_next_to_kinks(policy, waiting):
    """The waiting-time laws of PSJF's and SRPT's class x = 1 and SJF's response time (its
    T - x is its W) on the M/M/1 at 0.8, next to the kinks at x, 2x, 3x: within 1e-8 of the brute
    Bromwich sum of the closed form (measured 3e-11 to 1.4e-9; the whole law's inversion: SRPT
    2.8e-4, PSJF and SJF 2.2e-6)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    make = rd.waiting_time_distribution if waiting else rd.response_time_distribution
    d = make(q, policy, x=1.0)
    assert d._split is not None
    taus = np.array([1.2, 1.9, 2.5])
    got = d.cdf(taus + (0.0 if waiting else 1.0))
    for tau, g in zip(taus, got, strict=True):
        ref = _bromwich_cdf(_mm1_waiting(policy, 0.8, 1.0), tau)  # W's atom at 0 included
        assert abs(g - ref) < 1e-8, (policy, waiting, tau, g, ref)


def _shifted_exp(policy, waiting, lam, x):
    """E[e^{-s(T - x)}] (or E[e^{-sW}]) of class x on sizes 1 + Exp(1) (density jump at the
    least size 1), in closed form: E[e^{-uX}; X < x] = e^{-u}(1 - e^{-(u+1)(x-1)})/(u + 1),
    Kendall's equation by Newton's method, then PSJF's and SJF's transforms as above."""
    P = 1 - math.exp(-(x - 1))
    m1 = P + 1 - math.exp(-(x - 1)) * x  # E[X; X <= x]
    sf = 1 - P

    def eta(s):
        e = s.copy()
        for _ in range(80):
            q = np.exp(-(e + 1) * (x - 1))
            E = np.exp(-e) * (1 - q) / (e + 1)
            dE = -E + np.exp(-e) * (-(1 - q) / (e + 1) ** 2 + (x - 1) * q / (e + 1))
            step = (e - s - lam * (P - E)) / (1 + lam * dE)
            e = e - step
            if np.max(np.abs(step) / np.abs(e)) < 1e-15:
                break
        return e

    def F(s):
        e = eta(s)
        if policy == "psjf":
            v = (1 - lam * m1) * e / s
            return v if waiting else v * np.exp(-x * (e - s))
        return ((1 - 2 * lam) * e + lam * (sf - np.exp(-e * x) * sf / (e + 1))) / s

    return F


@pytest.mark.parametrize("policy,waiting", [("psjf", False), ("sjf", False), ("psjf", True)])
def test_least_size_jump_next_to_kinks(policy, waiting):
    """Sizes 1 + Exp(1) (``qt.from_scipy``: the density jumps at c = 1), class x = 2, load 0.8:
    the law kinks at every j + 2k; within 1e-8 of the brute Bromwich sum of the closed form at
    T - x (or W) = 1.5, 2.5, 3.2 (measured up to 1.8e-9; the whole law's inversion: PSJF 3.8e-4,
    SJF 5.3e-6, PSJF's waiting time 4.5e-6)."""
    import scipy.stats as st

    q = qt.MG1(0.4, qt.from_scipy(st.expon(loc=1.0)))
    make = rd.waiting_time_distribution if waiting else rd.response_time_distribution
    d = make(q, policy, x=2.0)
    assert d._split is not None
    taus = np.array([1.5, 2.5, 3.2])
    got = d.cdf(taus + (0.0 if waiting else 2.0))
    for tau, g in zip(taus, got, strict=True):
        ref = _bromwich_cdf(_shifted_exp(policy, waiting, 0.4, 2.0), tau)
        assert abs(g - ref) < 1e-8, (policy, waiting, tau, g, ref)


@pytest.mark.parametrize("policy", ["psjf", "srpt"])
def test_weibull_class_against_de_hoog(policy):
    """Weibull(0.5) sizes, x = 1, load 0.8: the split against mpmath's de Hoog inversion of the
    same transform at T - x = 1.2, 1.5, 2.5 (between the kinks, where de Hoog is accurate):
    1e-8 (the whole law's inversion: 3.4e-5, 6.5e-5, 7.7e-6)."""
    mp = pytest.importorskip("mpmath")
    size = qt.Weibull(0.5, mean=1.0)
    q = qt.MG1(0.8, size)
    d = rd.response_time_distribution(q, policy, x=1.0)
    assert d._split is not None

    def F(sv):
        return complex(d._t.lst(np.array([complex(sv)]))[0]) / complex(sv)

    for tau in (1.2, 1.5, 2.5):
        with mp.workdps(20):
            ref = float(mp.re(mp.invertlaplace(F, tau, method="dehoog")))
        assert abs(d.cdf(1.0 + tau) - ref) < 1e-8, (policy, tau, d.cdf(1.0 + tau), ref)


def test_density_and_coverage():
    """The split law's density integrates to its cdf between two kinks (Simpson on
    [x + 1.1x, x + 1.9x]) to 1e-8; on laws whose density jumps at a least size c > 0 (their
    kinks at jc + kx) PSJF's and SRPT's classes are split in (e^{-sc}, e^{-sx}) (SRPT's
    residence: tests/test_distribution_class_kinks_2.py)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    for policy in ("psjf", "srpt"):
        d = rd.response_time_distribution(q, policy, x=1.0)
        g = np.linspace(2.1, 2.9, 41)
        f = d.pdf(g)
        simpson = (g[1] - g[0]) / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
        assert abs(simpson - (d.cdf(2.9) - d.cdf(2.1))) < 1e-8, policy
    qp = qt.MG1(0.8 / qt.Pareto(2.5, 1.0).mean, qt.Pareto(2.5, 1.0))
    assert rd.response_time_distribution(qp, "psjf", x=2.0)._split is not None
    assert rd.response_time_distribution(qp, "srpt", x=2.0)._split is not None


def test_percentiles_and_cdf_consistent():
    """ppf inverts cdf across the kinks (levels whose quantiles lie near x, 2x and 3x beyond
    the job's own size) and the cdf is monotone there."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    for policy in ("psjf", "srpt"):
        d = rd.response_time_distribution(q, policy, x=1.0)
        t = 1.0 + np.linspace(0.05, 4.0, 25)
        c = d.cdf(t)
        assert np.all(np.diff(c) > 0), policy
        levels = np.array([0.85, 0.9, 0.97, 0.99])
        p = d.ppf(levels)
        assert np.max(np.abs(d.cdf(p) - levels)) < 1e-9, (policy, p)


def test_psjf_class_percentiles():
    """p90 / p99 / p99.9 of PSJF's class x = 1 (M/M/1 at 0.8) against the reference cdf: the
    reference at each percentile within 1e-8 of its level (the whole law's inversion: 8.3e-5,
    1.1e-5, 7e-7: p90 was 2.7e-4 too large, 2.11875 instead of 2.11817)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = rd.response_time_distribution(q, "psjf", x=1.0)
    levels = (0.9, 0.99, 0.999)
    for p, lev in zip(d.ppf(levels), levels, strict=True):
        ref = _bromwich_cdf(lambda s: _psjf_class(s, 0.8, 1.0), p - 1.0)
        assert abs(ref - lev) < 1e-8, (lev, p, ref)
