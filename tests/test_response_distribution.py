"""Response-time distributions (issue 16, closed-form size-based policies): each test checks the
transform-and-inversion route against an independent method.

Derivation: docs/response_time_distribution.md.
"""

from __future__ import annotations

import math
import os

import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, special
from stats_policy import halfwidth

import qtheory as qt
from qtheory.engine import laplace_inversion as li
from qtheory.engine.response_distribution import (
    _rule,
    busy_eta,
    response_time_distribution,
    waiting_time_distribution,
)

FULL = os.environ.get("QTHEORY_FULL") == "1"
LOADS = (0.5, 0.8, 0.95)


# ---- exact laws -------------------------------------------------------------------------------
@pytest.mark.parametrize("rho", LOADS)
def test_mm1_fcfs_is_exponential(rho):
    """M/M/1 FCFS: T ~ Exp(mu - lambda); cdf to 1e-8 absolute, percentiles to 1e-7 relative."""
    q = qt.MG1(rho, qt.Exponential(1.0))
    d = response_time_distribution(q, "fcfs")
    g = 1.0 - rho
    t = np.array([0.05, 0.5, 1.0, 3.0, 10.0, 30.0]) / g
    assert np.max(np.abs(d.cdf(t) - (1 - np.exp(-g * t)))) < 1e-8
    qs = np.array([0.5, 0.9, 0.99, 0.999])
    assert np.max(np.abs(d.ppf(qs) / (-np.log1p(-qs) / g) - 1)) < 1e-7
    assert abs(d.mean() - 1 / g) < 1e-12 and abs(d.var() - 1 / g ** 2) < 1e-9 / g ** 2
    # the waiting time: P(W > t) = rho e^{-(mu - lambda) t}, an atom 1 - rho at 0
    w = waiting_time_distribution(q, "fcfs")
    assert abs(w.atom0 - (1 - rho)) < 1e-14
    assert np.max(np.abs(w.sf(t) - rho * np.exp(-g * t))) < 1e-8


def _erlang_md1_cdf(rho: float, t: float) -> float:
    """Erlang's formula for the M/D/1 (D = 1) FCFS waiting time, P(W <= t) =
    (1 - rho) sum_{k=0}^{floor t} (rho (k - t))^k / k! e^{-rho (k - t)}, in 60-digit arithmetic
    (the alternating sum cancels)."""
    with mp.workdps(60):
        lam, tt = mp.mpf(rho), mp.mpf(t)
        s = mp.fsum((lam * (k - tt)) ** k / mp.factorial(k) * mp.exp(-lam * (k - tt))
                    for k in range(int(math.floor(t)) + 1))
        return float((1 - lam) * s)


@pytest.mark.parametrize("rho", LOADS)
def test_md1_waiting_time_erlang(rho):
    """M/D/1 FCFS waiting time against Erlang's formula: cdf to 1e-8 absolute (away from the
    kinks at integers), percentiles to 1e-7 relative (by root-finding on Erlang's formula)."""
    q = qt.MG1(rho, qt.Deterministic(1.0))
    w = waiting_time_distribution(q, "fcfs")
    ts = [0.5, 1.5, 2.7, 5.3, 10.5] + ([20.5, 40.5] if rho > 0.9 else [])
    got = w.cdf(np.array(ts))
    ref = np.array([_erlang_md1_cdf(rho, t) for t in ts])
    assert np.max(np.abs(got - ref)) < 1e-8, (got, ref)
    for qq in (0.9, 0.99):
        t = float(w.ppf(qq))
        ref_t = float(mp.findroot(lambda v, qq=qq: _erlang_md1_cdf(rho, float(v)) - qq, t))
        assert abs(t / ref_t - 1) < 1e-7


@pytest.mark.parametrize("rho", LOADS)
def test_mm1_busy_period_bessel(rho):
    """Kendall's equation solved by busy_eta on the quadrature nodes of Exp(1): the M/M/1 busy
    period density (1/t) sqrt(mu/lam) e^{-(lam+mu) t} I_1(2 t sqrt(lam mu)), to 1e-8."""
    r = _rule(qt.Exponential(1.0), 0.125)
    X, W = r.x[None, :], r.w[None, :]

    def lst(s):
        shape = s.shape
        eta = busy_eta(s.reshape(-1), rho, X, W)[:, 0]
        return (1.0 - (eta - s.reshape(-1)) / rho).reshape(shape)

    def density(t):
        return np.sqrt(1.0 / rho) * special.ive(1, 2 * t * math.sqrt(rho)) * np.exp(
            -(1 + rho) * t + 2 * t * math.sqrt(rho)) / t

    # the density jumps at 0 (f(0+) = mu), where the Fourier series converges slowly: the
    # density from t = 0.5 on (at t = 0.1 the error is 4e-7), the cdf everywhere
    t = np.array([0.5, 1.0, 2.0, 5.0, 10.0, 30.0])
    assert np.max(np.abs(li.invert(lst, t) - density(t))) < 1e-8
    t = np.array([0.05, 0.1, 0.5, 2.0, 10.0, 30.0])
    got = li.invert(lambda s: lst(s) / s, t)
    ref = np.array([integrate.quad(density, 0, v, epsabs=1e-14, epsrel=1e-13, limit=200)[0] for v in t])
    assert np.max(np.abs(got - ref)) < 1e-8, np.abs(got - ref)


# ---- Kleinrock's priority transforms on a discrete law -----------------------------------------
SIZES = np.array([0.5, 1.0, 3.0])
PROBS = np.array([0.5, 0.3, 0.2])


def _busy(s, lam_h, xs, ps):
    """sigma_H(s) = s + lam_H - lam_H G_H(s), with G_H(s) = X_H*(sigma_H(s)) by plain fixed-point
    iteration (an independent solver: no Newton, no shared code)."""
    if lam_h == 0:
        return s
    g = np.ones_like(s)
    for _ in range(3000):
        sig = s + lam_h - lam_h * g
        g_new = (np.exp(-np.outer(sig, xs)) @ ps) / ps.sum()
        if np.max(np.abs(g_new - g)) < 1e-16:
            break
        g = g_new
    return s + lam_h - lam_h * g


def _kleinrock(s, lam, p, preemptive):
    """Kleinrock (1976, Vol II, ch. 3) / Takagi for class p (size SIZES[p]) of the 3-class law:
    preemptive resume: T* = W0*(sigma) e^{-sigma x_p}, W0* the P-K transform of classes <= p;
    non-preemptive: T* = [(1-rho) sigma + lam_L (1 - X_L*(sigma))] / [s - lam_p + lam_p
    X_p*(sigma)] e^{-s x_p}, sigma = sigma_H(s) over the strictly higher classes."""
    xp = SIZES[p]
    hi = slice(0, p)
    sig = _busy(s, lam * PROBS[hi].sum(), SIZES[hi], PROBS[hi])
    if preemptive:
        le = slice(0, p + 1)
        lam_le = lam * PROBS[le].sum()
        rho_le = lam * PROBS[le] @ SIZES[le]
        xle = (np.exp(-np.outer(sig, SIZES[le])) @ PROBS[le]) / PROBS[le].sum()
        w0 = (1 - rho_le) * sig / (sig - lam_le + lam_le * xle)
        return w0 * np.exp(-sig * xp)
    rho = lam * PROBS @ SIZES
    lam_p = lam * PROBS[p]
    lo = slice(p + 1, None)
    lam_l = lam * PROBS[lo].sum()
    xl = (np.exp(-np.outer(sig, SIZES[lo])) @ PROBS[lo]) / PROBS[lo].sum() if lam_l > 0 else 0 * sig
    num = (1 - rho) * sig + lam_l * (1 - xl)
    return num / (s - lam_p + lam_p * np.exp(-sig * xp)) * np.exp(-s * xp)


@pytest.mark.parametrize("rho", LOADS)
@pytest.mark.parametrize("policy", ["psjf", "sjf"])
def test_priority_classes_kleinrock(policy, rho):
    """PSJF / SJF on a 3-atom law: the transform of every class and of the mixture equals
    Kleinrock's preemptive / non-preemptive priority transforms (1e-12 on a set of complex s)."""
    lam = rho / float(PROBS @ SIZES)
    q = qt.MG1(lam, qt.Empirical(SIZES, weights=PROBS))
    s = np.concatenate([np.linspace(0.01, 5, 7), 0.3 + 1j * np.linspace(-20, 20, 9)])
    pre = policy == "psjf"
    mix = 0
    for p, x in enumerate(SIZES):
        ref = _kleinrock(s, lam, p, pre)
        got = response_time_distribution(q, policy, x=x).laplace(s)
        assert np.max(np.abs(got - ref)) < 1e-12
        mix = mix + PROBS[p] * ref
    d = response_time_distribution(q, policy)
    assert np.max(np.abs(d.laplace(s) - mix)) < 1e-12
    # (the inversion is not compared here: on a lattice of sizes the law of T has atoms at
    # sums of the sizes, where the Fourier series converges like 1/n; see the docs page)


def test_inversion_against_mpmath():
    """The Euler inversion of our own transforms against mpmath's de Hoog inversion of the same
    transforms (an independent algorithm), PSJF and SRPT classes on the M/M/1 at 0.8: 1e-8,
    also between the kinks of the class law at multiples of x (split off:
    ``qtheory.engine._class_kinks``; the whole law's inversion was 1.3e-4 off at 1.5, 1.4e-6 at
    3.2). De Hoog's own error grows next to the kinks (4e-8 at 1.9 against a 2e5-term Bromwich
    sum): the times stay 0.3 away from them."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    for policy in ("psjf", "srpt"):
        d = response_time_distribution(q, policy, x=1.0)

        def F(sv, d=d):
            return complex(d._t.lst(np.array([complex(sv)]))[0]) / complex(sv)

        for t in (0.7, 1.5, 2.5, 3.2):
            with mp.workdps(20):
                ref = float(mp.re(mp.invertlaplace(F, t, method="dehoog")))
            # d.cdf(1 + t) = P(T - x <= t): the transform is that of T - x
            assert abs(d.cdf(1.0 + t) - ref) < 1e-8, (policy, t, d.cdf(1.0 + t), ref)


# ---- moments: the closed forms against the mean engine and the transform -----------------------
POLICIES = ["fcfs", "las", "sjf", "psjf", "srpt"]


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Weibull(0.5, mean=1.0),
                                  qt.Empirical(SIZES, weights=PROBS)], ids=["exp", "weibull", "discrete"])
@pytest.mark.parametrize("policy", POLICIES)
def test_means_equal_the_engine(policy, size):
    """E[T] of the distribution (its own closed form, from the decomposition's busy periods)
    equals qt.MG1's mean and conditional means to 1e-9 relative, at loads 0.5 / 0.8 / 0.95."""
    for rho in LOADS:
        q = qt.MG1(rho / size.mean, size)
        d = response_time_distribution(q, policy)
        ref = q.mean_response_time(policy)
        assert abs(d.mean() / ref - 1) < 1e-9, (d.mean(), ref)
        for x in (0.3, 1.0, 3.0):
            dx = response_time_distribution(q, policy, x=x)
            assert abs(dx.mean() / q.response_time(policy, x) - 1) < 1e-9


@pytest.mark.parametrize("rho", LOADS)
def test_second_moments_closed_forms(rho):
    """Second moments: FCFS by Takacs (E[W^2] = 2 E[W]^2 + lam E[X^3] / (3 (1 - rho))) on
    Weibull(0.5) and deterministic sizes; PSJF and SJF on the 3-atom law from the Taylor
    coefficient of Kleinrock's transforms (a Cauchy integral)."""
    for size in (qt.Weibull(0.5, mean=1.0), qt.Deterministic(1.0)):
        lam = rho / size.mean
        q = qt.MG1(lam, size)
        ew = lam * size.moment(2) / (2 * (1 - rho))
        ew2 = 2 * ew ** 2 + lam * size.moment(3) / (3 * (1 - rho))
        et2 = ew2 + 2 * ew * size.mean + size.moment(2)
        d = response_time_distribution(q, "fcfs")
        assert abs(d.moment(2) / et2 - 1) < 1e-9
    lam = rho / float(PROBS @ SIZES)
    q = qt.MG1(lam, qt.Empirical(SIZES, weights=PROBS))
    for policy, pre in (("psjf", True), ("sjf", False)):
        for p, x in enumerate(SIZES):
            # E[T^2] = 2 [s^2] T*(s): Cauchy's integral on |s| = r (64 points; the transform is
            # analytic around 0, round-off ~ 1e-16 / r^2)
            r = 0.01
            z = r * np.exp(2j * np.pi * np.arange(64) / 64)
            m2 = float((2 * np.mean(_kleinrock(z, lam, p, pre) * z ** -2)).real)
            got = response_time_distribution(q, policy, x=x).moment(2)
            assert abs(got / m2 - 1) < 1e-9, (policy, x, got, m2)


@pytest.mark.parametrize("policy", ["psjf", "las"])
def test_transform_matches_moments(policy):
    """The inverted law and the closed-form mean agree: x + int_0^inf P(T - x > t) dt = E[T | x]
    to 1e-6 (Gauss-Legendre on the inverted survival function, panels split at the kinks of the
    law at multiples of x = 1, M/M/1 at load 0.8). SRPT is left out for time (its class law
    costs about 1 s per 39 transform values)."""
    from qtheory._quadrature import panels

    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = response_time_distribution(q, policy, x=1.0)
    t, w = panels(np.unique(np.concatenate([[0.0], np.geomspace(1e-3, 400, 30), np.arange(1.0, 9.0)])))
    mean = 1.0 + float(np.clip(d._sf_pos(t), 0, 1) @ w)
    # the inversion is about 1e-6 off near the kinks (test_inversion_against_mpmath): 5e-6
    assert abs(mean / d.mean() - 1) < 5e-6, (mean, d.mean())


# ---- properties -------------------------------------------------------------------------------
def test_cdf_is_a_cdf_and_srpt_monotone_in_x():
    """The cdf is non-decreasing, in [0, 1], tends to 1 (FCFS, Weibull(0.5) sizes at 0.8), and
    SRPT's conditional laws are stochastically increasing in the size."""
    q = qt.MG1(0.8, qt.Weibull(0.5, mean=1.0))
    d = response_time_distribution(q, "fcfs")
    t = np.geomspace(1e-3, 1e5, 40)
    c = d.cdf(t)
    # non-decreasing up to the inversion's round-off (e^{A/2} eps sum|terms|, about 4e-10)
    assert np.all((c >= 0) & (c <= 1)) and np.all(np.diff(c) >= -1e-9) and c[-1] > 1 - 1e-6
    tt = np.array([1.0, 5.0, 20.0])
    # each SRPT class law costs about 4 s here: a third size with QTHEORY_FULL=1
    xs = (0.2, 0.5, 1.0) if os.environ.get("QTHEORY_FULL") else (0.5, 1.0)
    sfs = [response_time_distribution(q, "srpt", x=x).sf(tt) for x in xs]
    assert all(np.all(a <= b + 1e-10) for a, b in zip(sfs, sfs[1:]))
    assert np.all(np.diff(d.ppf([0.1, 0.5, 0.9, 0.99])) > 0)


def test_heavy_tail_pareto():
    """Pareto(1.5) sizes (E[X^2] = inf): FCFS's mean is infinite, but the law is computed; its
    tail is at least the size's (T >= X) and the percentiles are finite and increasing."""
    size = qt.Pareto(1.5, 1.0)
    q = qt.MG1(0.5 / size.mean, size)
    d = response_time_distribution(q, "fcfs")
    assert d.mean() == math.inf
    p = d.ppf([0.5, 0.9, 0.99])
    assert np.all(np.isfinite(p)) and np.all(np.diff(p) > 0)
    t = np.array([2.0, 10.0, 100.0])
    assert np.all(d.sf(t) >= size.sf(t) - 1e-9)


def test_errors_say_what_is_missing():
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    with pytest.raises(NotImplementedError, match="phase-type sizes"):
        response_time_distribution(qt.MG1(0.8, qt.Mixture([qt.Deterministic(1.0), qt.Weibull(0.5)], [0.5, 0.5])), "ps")
    # the generic policies with a prediction rank have distributions on discrete laws
    # (tests/test_response_distribution_generic.py; blind ranks and SRPT-Bounce also on
    # continuous laws, ConditionalGittins on smooth multiplicative ones:
    # test_distribution_conditional_gittins.py), a user's prediction rank not on continuous laws
    # (a user's rank not monotone in age, undeclared: the grid check finds no direction)
    uniform = qt.MG1(0.8, qt.Exponential(1.0), qt.UniformPrediction(0.5))
    wiggle = qt.Rank(lambda y, a: y - a + 0.1 * np.sin(20 * a), name="mine")
    for model, name in ((uniform, "conditional-gittins"), (q, wiggle)):
        with pytest.raises(NotImplementedError, match="exact on discrete laws"):
            response_time_distribution(model, name)
    for name in ("spjf", "pspjf", "sprpt"):
        with pytest.raises(ValueError, match="pass both x and y"):
            response_time_distribution(q, name, x=1.0)
        with pytest.raises(ValueError, match="pass both x and y"):
            response_time_distribution(q, name, y=1.0)
        with pytest.raises(ValueError, match="y must be"):
            response_time_distribution(q, name, x=1.0, y=-1.0)
        with pytest.raises(ValueError, match="has none"):
            response_time_distribution(qt.MG1(0.8, qt.Exponential(1.0)), name)
    with pytest.raises(NotImplementedError, match="LAS"):
        waiting_time_distribution(q, "las")
    with pytest.raises(ValueError, match="x must be"):
        response_time_distribution(q, "srpt", x=-1.0)
    d = response_time_distribution(q, "fcfs")
    assert "FCFS" in repr(d) and "p99" in repr(d) and "<table>" in d._repr_html_()
    with pytest.raises(ValueError):
        d.ppf(1.5)


# ---- against the simulator ---------------------------------------------------------------------
SIM_CASES = [("psjf", "exp")] + ([("sjf", "weibull"), ("srpt", "exp")] if FULL else [])


@pytest.mark.slow
@pytest.mark.parametrize("policy,size", SIM_CASES)
def test_percentiles_against_simulation(policy, size):
    """p50, p90, p99 against qt.simulate's percentiles (16 replications), each at the policy's
    level (stats_policy.halfwidth); 3 statistical assertions (9 with QTHEORY_FULL=1: the
    unconditional laws of the threshold policies take seconds per percentile)."""
    law = qt.Exponential(1.0) if size == "exp" else qt.Weibull(0.5, mean=1.0)
    q = qt.MG1(0.8, law)
    d = response_time_distribution(q, policy)
    jobs = 4_000_000 if FULL else 800_000
    r = qt.simulate(q, policy, jobs=jobs, replications=16, seed=1616)
    for level in (50, 90, 99):
        exact = float(d.ppf(level / 100))
        hw = halfwidth(r.percentile_ci[level], r.replications)
        # the histogram's bins add up to 1e-3 relative (hist_percentile)
        assert abs(r.percentiles[level] - exact) <= hw + 1e-3 * exact, (level, exact, r.percentiles[level], hw)


@pytest.mark.parametrize("policy", ["fcfs", "sjf", "psjf", "srpt"])
def test_waiting_time_means(policy):
    """E[W | x] of the waiting-time law equals the waiting term of the engine's closed forms
    (qtheory.soap: Phipps, PSJF, Schrage-Miller) to 1e-12, on Exp(1) and the 3-atom law; its
    atom at 0 is 1 - rho_0 - rho_1 and its cdf starts there."""
    from qtheory import soap

    for size in (qt.Exponential(1.0), qt.Empirical(SIZES, weights=PROBS)):
        lam = 0.8 / size.mean
        q = qt.MG1(lam, size)
        for x in (0.5, 1.0, 3.0):
            w = waiting_time_distribution(q, policy, x=x)
            if policy == "fcfs":
                ref = q.mean_response_time("fcfs") - size.mean
            elif policy == "srpt":
                ref = float(soap.srpt_waiting(size, lam, [x])[0, 0])
            else:
                rho_lt = lam * float(size.partial_moment(1, x, strict=True))
                ref = float(q.response_time(policy, x)) - (x if policy == "sjf" else x / (1 - rho_lt))
            assert abs(w.mean() / ref - 1) < 1e-12, (policy, x, w.mean(), ref)
            assert abs(w.cdf(0.0) - w.atom0) < 1e-15 and 0 < w.atom0 < 1
