"""SRPT's class law on a size law whose density jumps at its least size c (its residence split in
(e^{-sc}, e^{-sx}): ``qtheory.engine._class_kinks._EdgeResidence``; docs/response_time_distribution.md,
section 14), and the crossing ages of ``soap_size._cut_fall_nodes``.

Reference for SRPT: sizes 1 + Exp(1), whose E[e^{-uX}; X < t] = e^{-u}(1 - e^{-(u+1)(t-1)})/(u + 1)
is written here; Kendall's equation by Newton's method at every cut t; the residence exponent
int_1^x (eta_{<t}(s) - s) dt by Gauss-Legendre on 48 + |Im s|(x - 1) nodes (its parts
e^{-st}(...) oscillate in t: a fixed 32 to 128 nodes moved the brute Bromwich cdf by 1e-5 to
1.6e-6); the cdf by mpmath's de Hoog inversion at 20 digits (between kinks; its value moved by
6e-9 to 2e-8 from 20 to 30 digits at T - x = 1.2 and 1.6)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import qtheory as qt
from qtheory.engine import response_distribution as rd
from qtheory.engine import soap_size as ss


def _eta_cuts(s: complex, lam: float, t: np.ndarray) -> np.ndarray:
    """eta_{<t}(s) at the cuts ``t`` for sizes 1 + Exp(1) (Newton's method)."""
    P = np.where(t > 1, 1 - np.exp(-(t - 1)), 0.0)
    e = np.full(t.shape, complex(s))
    for _ in range(80):
        q = np.exp(-(e + 1) * (t - 1))
        E = np.exp(-e) * (1 - q) / (e + 1)
        dE = -E + np.exp(-e) * (-(1 - q) / (e + 1) ** 2 + (t - 1) * q / (e + 1))
        step = (e - s - lam * (P - E)) / (1 + lam * dE)
        e = e - step
        if np.max(np.abs(step) / np.abs(e)) < 1e-14:
            break
    return e


def _srpt_class(lam: float, x: float):
    """E[e^{-s(T - x)}] of SRPT's class x on sizes 1 + Exp(1): the waiting time's
    ((1 - rho_0 - lam x P(X > x)) eta + lam P(X > x)(1 - e^{-eta x})) / s at eta = eta_{<x}(s),
    times the residence e^{-int_1^x (eta_{<t}(s) - s) dt}."""
    sf = math.exp(-(x - 1))
    rho0 = lam * ((1 - sf) + 1 - sf * x)  # lam E[X; X < x]

    def F(s: complex) -> complex:
        e = _eta_cuts(s, lam, np.array([x]))[0]
        V = ((1 - rho0 - lam * x * sf) * e + lam * sf * (1 - np.exp(-e * x))) / s
        g, w = np.polynomial.legendre.leggauss(48 + int(abs(s.imag) * (x - 1)))
        t = 1 + (x - 1) * (g + 1) / 2
        Q = np.sum(w * (x - 1) / 2 * (_eta_cuts(s, lam, t) - s))
        return complex(V * np.exp(-Q))

    return F


def _dehoog(F, tau: float) -> float:
    mp = pytest.importorskip("mpmath")
    with mp.workdps(20):
        return float(mp.re(mp.invertlaplace(lambda z: F(complex(z)) / complex(z), tau, method="dehoog")))


def _shifted_exp_model(lam: float):
    import scipy.stats as st

    return qt.MG1(lam, qt.from_scipy(st.expon(loc=1.0)))


def test_srpt_class_on_a_least_size_jump():
    """Sizes 1 + Exp(1), load 0.8, class x = 2.5 (kinks at j + 2.5k): T - x = 1.5 (0.5 from the
    kinks at 1 and 2) within 1e-8 of the reference (measured 1.5e-9 at 1.2 and 1.6; the whole
    law's inversion 1.2e-5 at 1.2)."""
    d = rd.response_time_distribution(_shifted_exp_model(0.4), "srpt", x=2.5)
    assert d._split is not None
    ref = _dehoog(_srpt_class(0.4, 2.5), 1.5)
    got = float(d.cdf(2.5 + 1.5))
    assert abs(got - ref) < 1e-8, (got, ref)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("QTHEORY_FULL") != "1", reason="about 6 s: QTHEORY_FULL=1 only")
def test_srpt_class_on_a_least_size_jump_more_times():
    """The same law and class at T - x = 1.2 and 1.6, and the split's density integrates to its
    cdf between the kinks at 1 and 2 (Simpson) to 1e-8 (QTHEORY_FULL=1 only)."""
    d = rd.response_time_distribution(_shifted_exp_model(0.4), "srpt", x=2.5)
    F = _srpt_class(0.4, 2.5)
    for tau in (1.2, 1.6):
        ref = _dehoog(F, tau)
        assert abs(float(d.cdf(2.5 + tau)) - ref) < 1e-8, (tau, ref)
    g = np.linspace(3.6, 4.4, 21)
    f = d.pdf(g)
    simpson = (g[1] - g[0]) / 3 * (f[0] + f[-1] + 4 * f[1:-1:2].sum() + 2 * f[2:-1:2].sum())
    assert abs(simpson - (d.cdf(4.4) - d.cdf(3.6))) < 1e-8


def test_cut_fall_nodes_at_the_crossing_ages():
    """SRPT's rank squared, (x - a)^2 (a falling stretch that is not affine in age), on
    Uniform(1, 3): the nodes of ``_cut_fall_nodes`` with the levels L = 0.3, 1, 2 integrate
    max(r(x, a) - L, 0) over the stretch, a quadratic in age on each side of the crossing age
    x - sqrt(L), exactly: (x^3 - L^{3/2})/3 - L(x - sqrt(L)) to 1e-13 (a crossing age moved by
    0.1% leaves about 1e-7)."""
    rank = qt.Rank(lambda d, a: (d - a) ** 2, descriptor="size", name="srpt-squared")
    rk = ss.SizeRank(rank)
    xs = np.array([1.5, 2.5, 2.9])
    _, _, falls, P = rk.tagged(xs)
    sgl, wgl = ss._cos_gl(16)
    levels = np.array([0.3, 1.0, 2.0])
    seen = 0
    for j, a0, a1 in falls:
        rows = np.flatnonzero(a1 > a0)
        top = P.s[rows, j]
        bot = rk.rank(P.x[rows], np.maximum(a1[rows] * (1 - 4 * np.finfo(float).eps), a0[rows]))
        owner, w, lev = ss._cut_fall_nodes(rk, P, rows, j, a0, a1, top, bot, levels, sgl, wgl)
        for r in rows:
            x, sel = xs[r], owner == r
            for L in levels:
                got = float(np.sum(w[sel] * np.maximum(lev[sel] - L, 0.0)))
                sl = math.sqrt(L)
                ref = (x ** 3 - sl ** 3) / 3 - L * (x - sl)
                assert abs(got - ref) < 1e-13 * ref, (x, L, got, ref)
                seen += 1
    assert seen == 9


def _uniform_psjf_class(lam: float, x: float, a: float, b: float):
    """E[e^{-s(T - x)}] of PSJF's class x on Uniform(a, b), in closed form:
    E[e^{-uX}; X < x] = (e^{-ua} - e^{-ux})/((b - a)u), Kendall's equation by Newton's method,
    (1 - rho_x) eta / s e^{-x(eta - s)} (Kleinrock's preemptive priority transform)."""
    P, rho = (x - a) / (b - a), lam * (x * x - a * a) / (2 * (b - a))

    def F(s):
        e = s.copy()
        for _ in range(80):
            E = (np.exp(-e * a) - np.exp(-e * x)) / ((b - a) * e)
            dE = (-a * np.exp(-e * a) + x * np.exp(-e * x)) / ((b - a) * e) - E / e
            step = (e - s - lam * (P - E)) / (1 + lam * dE)
            e = e - step
            if np.max(np.abs(step) / np.abs(e)) < 1e-14:
                break
        return (1 - rho) * e / s * np.exp(-x * (e - s))

    return F


def _bromwich_cdf(F, t, N=50000, A=26.0, m=20):
    """The brute Bromwich trapezoidal sum with N terms, Euler-averaged over the last m (2e-9
    next to a kink at 5e4 terms: tests/test_distribution_class_kinks.py)."""
    from scipy.special import comb

    k = np.arange(N + m + 1)
    s = (A + 2j * math.pi * k) / (2 * t)
    v = (F(s) / s).real * np.where(k % 2 == 0, 1.0, -1.0)
    v[0] *= 0.5
    partial = np.cumsum(v)[N:]
    return math.exp(A / 2) / t * float(partial @ (comb(m, np.arange(m + 1)) / 2.0 ** m))


def test_uniform_psjf_class_split():
    """Uniform(1, 3) (density jumps at both ends), load 0.8, PSJF's class x = 2: the density's
    extension past x continues the uniform's constant past b = 3, so the split applies; T - x =
    3.2 within 1e-8 of the brute Bromwich sum of the closed form (measured <= 1.4e-9 at T - x
    from 1.2 to 7; the whole law's inversion up to 2.7e-4, 2.3e-4 here; the waiting time
    6.9e-6 -> 1.7e-11)."""
    q = qt.MG1(0.4, qt.Uniform(1.0, 3.0))
    d = rd.response_time_distribution(q, "psjf", x=2.0)
    assert d._split is not None
    ref = _bromwich_cdf(_uniform_psjf_class(0.4, 2.0, 1.0, 3.0), 3.2)
    got = float(d.cdf(2.0 + 3.2))
    assert abs(got - ref) < 1e-8, (got, ref)


def test_edge_split_density_derivatives_against_differences():
    """The split terms' density derivatives inverted from s H_k and s^2 H_k (``part_derivs``,
    used by the percentile solver) against central differences of their density (relative steps
    1e-4 and 1e-3), Pareto(2.5, 1) at load 0.8, SRPT class x = 2.5, at T - x = 1.7 and 4.25
    (0.25 past the term starting at 4). Measured: 1.6e-7 and 4.6e-6 apart at most, about the
    differences' own error; a derivative of the wrong order is off by O(1e-2)."""
    d0 = qt.Pareto(2.5, 1.0)
    d = rd.response_time_distribution(qt.MG1(0.8 / d0.mean, d0), "srpt", x=2.5)
    ek = d._split.near()
    t = np.array([1.7, 4.25])
    d1, d2, e0, e1, e2 = ek.part_derivs(t)
    h, h2 = 1e-4, 1e-3
    g = ek.part_pdf(np.concatenate([t * (1 + h), t * (1 - h), t * (1 + h2), t, t * (1 - h2)]))
    gp, gm, gp2, g0, gm2 = g.reshape(5, t.size)
    fd1 = (gp - gm) / (2 * h * t)
    fd2 = (gp2 - 2 * g0 + gm2) / (h2 * t) ** 2
    assert np.all(np.abs(d1 - fd1) < 1e-6), (d1, fd1)
    assert np.all(np.abs(d2 - fd2) < 2e-5), (d2, fd2)
    assert np.all(e1 < 1e-5) and np.all(e2 < 1e-4) and np.all(e0 < 1e-7)
