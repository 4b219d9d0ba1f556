"""Tests of the job-size laws in :mod:`qtheory.laws.sizes`.

References are independent of the code under test: partial and tail moments of the continuous
laws are compared with ``mpmath.quad`` of ``t^k f(t)`` at 30 digits (``f`` re-derived here from
the textbook density), and the discrete laws with direct numpy sums over the raw samples.
"""

from __future__ import annotations

import math
from functools import cache

import mpmath as mp
import numpy as np
import pytest
import stats_policy
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from qtheory.laws.sizes import (
    BoundedPareto,
    Deterministic,
    Empirical,
    Erlang,
    Exponential,
    HyperExponential,
    LogNormal,
    Mixture,
    Pareto,
    ScipySize,
    SizeLaw,
    Uniform,
    Weibull,
    from_scipy,
)

DPS = 30
KS = (0, 1, 2, 3)


# -- independent reference densities (mpmath) ---------------------------------------------------
def _exp_pdf(m):
    m = mp.mpf(m)
    return lambda t: mp.exp(-t / m) / m


def _uniform_pdf(a, b):
    return lambda t: 1 / (mp.mpf(b) - mp.mpf(a))


def _erlang_pdf(n, m):
    s = mp.mpf(m) / n
    return lambda t: t ** (n - 1) * mp.exp(-t / s) / (s**n * mp.factorial(n - 1))


def _hyperexp_pdf(ps, ms):
    ps, ms = [mp.mpf(p) for p in ps], [mp.mpf(m) for m in ms]
    return lambda t: mp.fsum(p / m * mp.exp(-t / m) for p, m in zip(ps, ms, strict=True))


def _lognormal_pdf(sigma, mean):
    s = mp.mpf(sigma)
    mu = mp.log(mean) - s**2 / 2
    return lambda t: mp.exp(-((mp.log(t) - mu) ** 2) / (2 * s**2)) / (t * s * mp.sqrt(2 * mp.pi))


def _weibull_pdf(c, mean):
    c = mp.mpf(c)
    lam = mp.mpf(mean) / mp.gamma(1 + 1 / c)
    return lambda t: c / lam * (t / lam) ** (c - 1) * mp.exp(-((t / lam) ** c))


def _pareto_pdf(alpha, xm):
    a, xm = mp.mpf(alpha), mp.mpf(xm)
    return lambda t: a * xm**a / t ** (a + 1)


def _bpareto_pdf(alpha, lo, hi):
    a, lo, hi = mp.mpf(alpha), mp.mpf(lo), mp.mpf(hi)
    norm = 1 - (lo / hi) ** a
    return lambda t: a * lo**a / t ** (a + 1) / norm


def _gamma_pdf(shape, scale):
    k, th = mp.mpf(shape), mp.mpf(scale)
    return lambda t: t ** (k - 1) * mp.exp(-t / th) / (th**k * mp.gamma(k))


# id -> (law, reference pdf, extra far-tail x values)
CONTINUOUS = {
    "exp": (Exponential(2.0), _exp_pdf(2.0), [60.0, 500.0]),
    "uniform0": (Uniform(0.0, 4.0), _uniform_pdf(0, 4), [4.0 - 1e-9]),
    "uniform": (Uniform(1.0, 3.0), _uniform_pdf(1, 3), [3.0 - 1e-10]),
    "erlang1": (Erlang(1, 1.5), _erlang_pdf(1, 1.5), [200.0]),
    "erlang3": (Erlang(3, 2.0), _erlang_pdf(3, 2.0), [300.0]),
    "hyperexp": (HyperExponential([0.9, 0.1], [0.5, 5.5]), _hyperexp_pdf([0.9, 0.1], [0.5, 5.5]),
                 [500.0]),
    "lognormal1": (LogNormal(1.0, 1.0), _lognormal_pdf(1.0, 1.0), [1e5, 1e12]),
    "lognormal2": (LogNormal(2.0, 3.0), _lognormal_pdf(2.0, 3.0), [1e8]),
    "weibull0.3": (Weibull(0.3, 1.0), _weibull_pdf(0.3, 1.0), [1e5, 1e8]),
    "weibull0.5": (Weibull(0.5, 1.0), _weibull_pdf(0.5, 1.0), [1e5]),
    "weibull2": (Weibull(2.0, 1.0), _weibull_pdf(2.0, 1.0), [20.0]),
    "pareto2.5": (Pareto(2.5, 1.0), _pareto_pdf(2.5, 1.0), [1e10]),
    "pareto1.5": (Pareto(1.5, 2.0), _pareto_pdf(1.5, 2.0), [1e8]),
    "pareto0.8": (Pareto(0.8, 1.0), _pareto_pdf(0.8, 1.0), [1e6]),
    "pareto2": (Pareto(2.0, 1.0), _pareto_pdf(2.0, 1.0), [1e6]),
    "bpareto1.1": (BoundedPareto(1.1, 1.0, 1000.0), _bpareto_pdf(1.1, 1, 1000),
                   [1000.0 * (1 - 1e-9)]),
    "bpareto_k2": (BoundedPareto(2.0, 0.5, 50.0), _bpareto_pdf(2, 0.5, 50), [50.0 * (1 - 1e-8)]),
    "bpareto_k1": (BoundedPareto(1.0, 1.0, 100.0), _bpareto_pdf(1, 1, 100), [99.9]),
    "scipy_gamma": (from_scipy(stats.gamma(2.5, scale=0.8)), _gamma_pdf(2.5, 0.8), [60.0]),
}

EMP_RNG = np.random.default_rng(7)
EMP_RAW = np.round(EMP_RNG.lognormal(0.0, 1.0, 300), 2) + 0.01  # many duplicates
EMP_W = EMP_RNG.uniform(0.0, 2.0, EMP_RAW.size)

DISCRETE = {
    "det": (Deterministic(3.0), np.array([3.0]), np.array([1.0])),
    "coin": (Empirical([2, 14]), np.array([2.0, 14.0]), np.array([1.0, 1.0])),
    "emp_dupes": (Empirical(EMP_RAW), EMP_RAW, np.ones_like(EMP_RAW)),
    "emp_weighted": (Empirical(EMP_RAW, EMP_W), EMP_RAW, EMP_W),
}

MIXED = {
    "mix_atom": Mixture([Exponential(1.0), Deterministic(5.0)], [0.7, 0.3]),
    "mix_cont": Mixture([LogNormal(0.5, 1.0), Weibull(0.5, 4.0)], [0.4, 0.6]),
}

ALL_LAWS = (
    {k: v[0] for k, v in CONTINUOUS.items()}
    | {k: v[0] for k, v in DISCRETE.items()}
    | MIXED
)
LAW_IDS = list(ALL_LAWS)


def _law(name: str) -> SizeLaw:
    return ALL_LAWS[name]


def _rel(a, b):
    a, b = float(a), float(b)
    if a == b:
        return 0.0
    return abs(a - b) / abs(b)


def _probe_points(law: SizeLaw) -> np.ndarray:
    u = np.array([1e-6, 0.1, 0.5, 0.9, 1 - 1e-6])
    return np.unique(np.concatenate([[-1.0, 0.0], law.ppf(u), law.breakpoints, [np.inf]]))


# -- identities ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", LAW_IDS)
@pytest.mark.parametrize("k", KS)
def test_partial_plus_tail_is_moment(name, k):
    law = _law(name)
    x = _probe_points(law)
    m = law.moment(k)
    part = law.partial_moment(k, x)
    tail = law.tail_moment(k, x)
    assert part.shape == x.shape and tail.shape == x.shape
    assert np.all(np.isfinite(part[np.isfinite(x)]))
    if not math.isfinite(m):
        assert np.all(np.isinf(tail))
        return
    np.testing.assert_allclose(part + tail, m, rtol=1e-12, atol=0)
    # below the support: nothing yet; at +inf: everything
    assert law.partial_moment(k, -1.0) == 0.0
    assert _rel(law.tail_moment(k, -1.0), m) <= 1e-13
    assert _rel(law.partial_moment(k, np.inf), m) <= 1e-13
    assert law.tail_moment(k, np.inf) == 0.0
    # partial moments are non-decreasing, tails non-increasing
    assert np.all(np.diff(part) >= -1e-15 * m)
    assert np.all(np.diff(tail) <= 1e-15 * m)


@pytest.mark.parametrize("name", LAW_IDS)
def test_vectorised_shapes(name):
    law = _law(name)
    x = np.linspace(0.0, 5.0, 12).reshape(3, 4)
    for k in (0, 1, 2):
        assert np.shape(law.partial_moment(k, x)) == (3, 4)
        assert np.shape(law.tail_moment(k, x)) == (3, 4)
        assert np.ndim(law.partial_moment(k, 1.5)) == 0
    assert np.shape(law.cdf(x)) == (3, 4)
    assert np.shape(law.pdf(x)) == (3, 4)
    assert np.shape(law.ppf(np.full((2, 2), 0.3))) == (2, 2)


@pytest.mark.parametrize("name", LAW_IDS)
def test_mean_min(name):
    law = _law(name)
    c = np.array([0.5, 2.0, 7.0])
    got = law.mean_min(1, c)
    # E[min(X, c)] = E[X] - E[(X - c)^+] = E[X] - (E[X 1{X>c}] - c P(X > c))
    if math.isfinite(law.mean):
        want = law.mean - (law.tail_moment(1, c) - c * law.sf(c))
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.all(got <= c + 1e-12)


# -- against mpmath quadrature ------------------------------------------------------------------
def _quad_scaled(g, a, b, *, smooth_zero=True):
    """``mp.quad(g, [a, b])`` with ``g`` first scaled to order one on the segment.

    mpmath's tanh-sinh stops on an *absolute* error of about 10**-dps, so a segment whose
    integrand is ~1e-100 would otherwise come back with only a few correct digits. A segment
    starting at 0 is integrated in ``t = b w^8``, which smooths an integrable ``t^-beta``
    singularity there (Weibull with shape < 1) that 30-digit tanh-sinh nodes cannot resolve,
    and a segment spanning orders of magnitude is integrated in ``log t``.
    """
    if smooth_zero and a == 0 and mp.isfinite(b):
        def h(w):
            return g(b * w**8) * 8 * b * w**7

        return _quad_scaled(h, mp.mpf(0), mp.mpf(1), smooth_zero=False)
    if smooth_zero and a > 0 and mp.isfinite(b) and b > 4 * a:
        # a segment spanning orders of magnitude: integrate in log t
        def e(y):
            t = mp.exp(y)
            return g(t) * t

        return _quad_scaled(e, mp.log(a), mp.log(b), smooth_zero=False)
    probes = [a + (b - a) * f for f in (mp.mpf("1e-3"), mp.mpf("0.5"), 1 - mp.mpf("1e-3"))]
    if mp.isinf(b):
        probes = [a + 1, 2 * a + 1]
    vals = [abs(g(t)) for t in probes]
    scale = max([v for v in vals if mp.isfinite(v) and v > 0], default=mp.mpf(1))
    return scale * mp.quad(lambda t: g(t) / scale, [a, b])


@cache
def _reference(name: str, k: int):
    """Exact-to-~25-digit partial and tail moments at the probe points of law ``name``."""
    law, pdf, extra = CONTINUOUS[name]
    lo, hi = law.support
    u = np.array([1e-4, 0.05, 0.3, 0.7, 0.95, 1 - 1e-8])
    xs = sorted({float(v) for v in np.concatenate([law.ppf(u), extra]) if lo < v < hi})
    # split points for the quadrature (only guide mpmath; they do not change the integral)
    guide = law.ppf(np.concatenate([1 - 10.0 ** -np.arange(1, 16, 3), [1e-12, 1e-8, 1e-4]]))
    # beyond the far-tail points the mass sits within a few local decay lengths of x
    ladder = [x * (1 + 1e-3 * 8.0**j) for x in extra for j in range(6)]
    guide = [float(g) for g in np.concatenate([guide, ladder])]
    pts = sorted({lo, hi, *xs, *[g for g in guide if lo < g < hi and math.isfinite(g)]})
    with mp.workdps(DPS):
        segs = [_quad_scaled(lambda t: t**k * pdf(t), mp.mpf(a), mp.mpf(b))
                for a, b in zip(pts[:-1], pts[1:], strict=True)]
        out = []
        for x in xs:
            i = pts.index(x)
            out.append((x, mp.fsum(segs[:i]), mp.fsum(segs[i:])))
    return out


@pytest.mark.parametrize("name", list(CONTINUOUS))
@pytest.mark.parametrize("k", KS)
def test_partial_and_tail_vs_mpmath(name, k):
    law = CONTINUOUS[name][0]
    tol = 1e-9 if isinstance(law, ScipySize) else 1e-10
    for x, part, tail in _reference(name, k):
        assert _rel(law.partial_moment(k, x), part) <= tol, (x, "partial")
        if math.isinf(law.moment(k)):
            assert math.isinf(law.tail_moment(k, x))
        else:
            assert _rel(law.tail_moment(k, x), tail) <= tol, (x, "tail")


@pytest.mark.parametrize("name", list(CONTINUOUS))
def test_pdf_vs_reference(name):
    law, pdf, _ = CONTINUOUS[name]
    lo, hi = law.support
    xs = law.ppf(np.array([0.01, 0.3, 0.6, 0.99]))
    for x in xs:
        with mp.workdps(DPS):
            want = pdf(mp.mpf(float(x)))
        assert _rel(law.pdf(x), want) <= 1e-11
    below = lo - 1.0
    assert law.pdf(below) == 0.0
    if math.isfinite(hi):
        assert law.pdf(hi + 1.0) == 0.0


def test_mixture_vs_components():
    law = MIXED["mix_atom"]
    x = np.array([0.3, 4.9, 5.0, 5.1, 40.0])
    for k in KS:
        def f(t, k=k):
            return t**k * mp.exp(-t)

        with mp.workdps(DPS):
            part = [0.7 * mp.quad(f, [0, v]) + 0.3 * 5**k * (v >= 5) for v in x]
            tail = [0.7 * mp.quad(f, [v, v + 1, v + 10, mp.inf]) + 0.3 * 5**k * (v < 5)
                    for v in x]
        for i in range(x.size):
            assert _rel(law.partial_moment(k, x[i]), part[i]) <= 1e-12
            assert _rel(law.tail_moment(k, x[i]), tail[i]) <= 1e-12


# -- discrete laws against direct sums ----------------------------------------------------------
@pytest.mark.parametrize("name", list(DISCRETE))
@pytest.mark.parametrize("k", KS)
def test_discrete_vs_numpy_sums(name, k):
    law, raw, w = DISCRETE[name]
    p = w / w.sum()
    xs = np.concatenate([[-1.0, 0.0], np.quantile(raw, [0.0, 0.2, 0.5, 0.9, 1.0]),
                         raw[:5] + 1e-9, raw[:5] - 1e-9, [1e3]])
    assert law.is_discrete
    assert _rel(law.moment(k), np.sum(p * raw**k)) <= 1e-12
    for x in xs:
        le = np.sum(p * raw**k * (raw <= x))
        gt = np.sum(p * raw**k * (raw > x))
        lt = np.sum(p * raw**k * (raw < x))
        ge = np.sum(p * raw**k * (raw >= x))
        for got, want in [
            (law.partial_moment(k, x), le),
            (law.tail_moment(k, x), gt),
            (law.partial_moment(k, x, strict=True), lt),
            (law.tail_moment(k, x, strict=True), ge),
        ]:
            assert (got == want == 0) or _rel(got, want) <= 1e-12, (x, got, want)
    assert np.all(law.pdf(xs) == 0)


def test_empirical_merges_and_sorts():
    law = Empirical([5.0, 1.0, 5.0, 2.0])
    np.testing.assert_array_equal(law.atom_values, [1.0, 2.0, 5.0])
    np.testing.assert_allclose(law.atom_probs, [0.25, 0.25, 0.5], rtol=1e-15)
    assert law.support == (1.0, 5.0)
    w = Empirical([1.0, 2.0, 3.0], weights=[1.0, 0.0, 3.0])
    np.testing.assert_array_equal(w.atom_values, [1.0, 3.0])


def test_empirical_suffix_tail_is_relatively_accurate():
    # a tiny far atom: the tail must be its own mass, not moment - partial
    law = Empirical([1.0, 1e3], weights=[1.0, 1e-15])
    assert _rel(law.tail_moment(0, 10.0), 1e-15 / (1 + 1e-15)) <= 1e-14
    assert _rel(law.tail_moment(2, 10.0), 1e-9 / (1 + 1e-15)) <= 1e-14


# -- far tails ----------------------------------------------------------------------------------
def test_exponential_far_tail():
    law = Exponential(1.0)
    with mp.workdps(DPS):
        for x in (500.0, 700.0):
            want = mp.exp(-x) * (x**2 + 2 * x + 2)
            assert _rel(law.tail_moment(2, x), want) <= 1e-12
            assert _rel(law.sf(x), mp.exp(-x)) <= 1e-12


def test_lognormal_far_tail():
    law = LogNormal(1.0, 1.0)
    mu = -0.5
    with mp.workdps(DPS):
        for x in (1e6, 1e12, 1e15):
            for k in KS:
                z = (mp.log(x) - mu - k) / 1
                want = mp.exp(k * mu + k * k / mp.mpf(2)) * mp.ncdf(-z)
                assert _rel(law.tail_moment(k, x), want) <= 1e-11
        # and the deep left: the partial moment is tiny but relatively exact
        for x in (1e-6, 1e-12):
            want = mp.ncdf((mp.log(x) - mu) / 1)
            assert _rel(law.cdf(x), want) <= 1e-11


def test_weibull_far_tail():
    for c, x in ((0.3, 1e9), (0.5, 1e6), (2.0, 30.0)):
        law = Weibull(c, 1.0)
        with mp.workdps(DPS):
            c_ = mp.mpf(c)
            lam = 1 / mp.gamma(1 + 1 / c_)
            z = (mp.mpf(x) / lam) ** c_
            for k in KS:
                want = lam**k * mp.gammainc(1 + k / c_, z, mp.inf)
                assert _rel(law.tail_moment(k, x), want) <= 1e-10, (c, k)


def test_bounded_ends_relative_accuracy():
    law = BoundedPareto(1.5, 1.0, 10.0)
    a, lo, hi = mp.mpf(1.5), mp.mpf(1), mp.mpf(10)
    with mp.workdps(DPS):
        norm = 1 - (lo / hi) ** a
        for k in (0, 1, 2):
            x_hi = 10.0 * (1 - 1e-12)
            x_lo = 1.0 * (1 + 1e-12)
            d = a - k
            tail = a * lo**a / norm * (mp.mpf(x_hi) ** (-d) - hi ** (-d)) / d
            part = a * lo**a / norm * (lo ** (-d) - mp.mpf(x_lo) ** (-d)) / d
            assert _rel(law.tail_moment(k, x_hi), tail) <= 1e-9
            assert _rel(law.partial_moment(k, x_lo), part) <= 1e-9
    u = Uniform(2.0, 3.0)
    x = 3.0 - 2.0**-40
    with mp.workdps(DPS):
        assert _rel(u.tail_moment(2, x), (27 - mp.mpf(x) ** 3) / 3) <= 1e-14
        assert _rel(u.partial_moment(2, 2.0 + 2.0**-40), (mp.mpf(2.0 + 2.0**-40) ** 3 - 8) / 3) \
            <= 1e-14


# -- quantiles and sampling ---------------------------------------------------------------------
@pytest.mark.parametrize("name", LAW_IDS)
def test_cdf_of_ppf(name):
    law = _law(name)
    u = np.array([1e-9, 1e-4, 0.02, 0.3, 0.5, 0.77, 0.99, 1 - 1e-7])
    x = law.ppf(u)
    assert np.all(np.diff(x) >= 0)
    lo, hi = law.support
    assert np.all((x >= lo) & (x <= hi))
    if law.atom_values.size:
        assert np.all(law.cdf(x) >= u * (1 - 1e-12))
        assert np.all(law.cdf(x, strict=True) <= u * (1 + 1e-12))
        return
    # x itself is only known to a relative eps: allow for the conditioning f(x) * x * eps
    slack = 4 * np.finfo(float).eps * law.pdf(x) * x
    small = u <= 0.5
    assert np.all(np.abs(law.cdf(x[small]) - u[small]) <= 1e-12 * u[small] + slack[small])
    assert np.all(np.abs(law.sf(x[~small]) - (1 - u[~small]))
                  <= 1e-10 * (1 - u[~small]) + slack[~small])
    assert law.ppf(0.0) == lo


@pytest.mark.parametrize("name", LAW_IDS)
def test_sample_mean(name):
    law = _law(name)
    rng = stats_policy.rng(20240611)
    n = 240_000  # the half-width below is then that of 5 standard errors at 200,000 for light tails
    xs = law.sample(n, rng)
    assert xs.shape == (n,)
    lo, hi = law.support
    assert np.all((xs >= lo) & (xs <= hi))
    # the mean of X 1{X <= t}, t the 1 - 1e-4 quantile: a bounded variable, so Bernstein's inequality
    # gives the policy's half-width whatever the tail (the sample mean of a heavy tail is far from
    # normal: LogNormal(2) or Pareto(2.5) would pass 5 standard errors by chance once in 2,000-3,000 runs)
    t = float(law.ppf(1 - 1e-4))
    m1, m2 = float(law.partial_moment(1, t)), float(law.partial_moment(2, t))
    got = float(np.mean(np.where(xs <= t, xs, 0.0)))
    hw = stats_policy.bernstein_halfwidth(max(m2 - m1 * m1, 0.0), max(t - m1, m1), n)
    assert abs(got - m1) <= hw + 1e-12 * m1, (got, m1, hw)
    # fraction below the quartiles and the median (binomial: normal to good accuracy)
    for q in (0.25, 0.5, 0.75):
        xq = law.ppf(q)
        frac = np.mean(xs <= xq)
        hw = stats_policy.normal_halfwidth(math.sqrt(q * (1 - q) / n))
        assert law.cdf(xq, strict=True) - hw <= frac <= law.cdf(xq) + hw, (q, frac, hw)


def test_sample_reproducible():
    law = HyperExponential([0.3, 0.7], [1.0, 2.0])
    a = law.sample(10, np.random.default_rng(1))
    b = law.sample(10, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)


# -- atoms ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "law, atom",
    [(Deterministic(3.0), 3.0), (Empirical([2, 14]), 2.0), (Empirical([2, 14]), 14.0),
     (MIXED["mix_atom"], 5.0)],
    ids=["det", "coin2", "coin14", "mixture"],
)
def test_strict_vs_nonstrict_at_atoms(law, atom):
    assert law.cdf(atom, strict=True) < law.cdf(atom)
    assert law.sf(atom, strict=True) > law.sf(atom)
    jump = law.cdf(atom) - law.cdf(atom, strict=True)
    p = law.atom_probs[law.atom_values == atom][0]
    assert abs(jump - p) <= 1e-15
    off = atom + 0.5
    assert law.cdf(off, strict=True) == law.cdf(off)
    for k in (1, 2):
        d = law.partial_moment(k, atom) - law.partial_moment(k, atom, strict=True)
        assert _rel(d, p * atom**k) <= 1e-12


def test_coin_flip():
    law = Empirical([2, 14])
    assert law.mean == 8.0 and law.moment(2) == 100.0
    assert law.cdf(2.0) == 0.5 and law.cdf(2.0, strict=True) == 0.0
    assert law.sf(13.9) == 0.5 and law.sf(14.0) == 0.0
    np.testing.assert_array_equal(law.ppf([0.1, 0.5, 0.51, 1.0]), [2.0, 2.0, 14.0, 14.0])


def test_continuous_laws_have_no_atoms():
    for name, (law, _, _) in CONTINUOUS.items():
        assert law.atom_values.size == 0 and not law.is_discrete, name
    assert not MIXED["mix_atom"].is_discrete


# -- infinite moments ---------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5, 2.0])
def test_pareto_infinite_moments(alpha):
    law = Pareto(alpha, 1.0)
    assert math.isinf(law.moment(2))
    assert np.all(np.isinf(law.tail_moment(2, [0.5, 3.0, 1e6])))
    assert np.all(np.isfinite(law.partial_moment(2, [0.5, 3.0, 1e6])))
    if alpha <= 1:
        assert math.isinf(law.mean)
        assert math.isinf(law.tail_moment(1, 10.0))
    else:
        assert law.mean == pytest.approx(alpha / (alpha - 1), rel=1e-15)
    # the log case alpha == k of the partial moment
    if alpha in (1.0, 2.0):
        k = int(alpha)
        assert _rel(law.partial_moment(k, math.e**3), alpha * 3) <= 1e-14


def test_bounded_pareto_log_cases_are_exact():
    law = BoundedPareto(1.0, 1.0, 100.0)
    assert _rel(law.mean, math.log(100.0) / 0.99) <= 1e-14
    law2 = BoundedPareto(2.0, 1.0, 10.0)
    assert _rel(law2.moment(2), 2 * math.log(10.0) / 0.99) <= 1e-14
    # and continuity in alpha across the log case
    near = BoundedPareto(2.0 + 1e-9, 1.0, 10.0)
    assert _rel(near.moment(2), law2.moment(2)) <= 1e-8


# -- validation -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, param",
    [
        (lambda: Exponential(-1.0), "mean"),
        (lambda: Deterministic(0.0), "value"),
        (lambda: Deterministic(math.nan), "value"),
        (lambda: Uniform(3.0, 2.0), "high"),
        (lambda: Uniform(2.0, 2.0), "high"),
        (lambda: Uniform(-1.0, 2.0), "low"),
        (lambda: Erlang(0, 1.0), "k"),
        (lambda: Erlang(2.5, 1.0), "k"),
        (lambda: Erlang(2, -1.0), "mean"),
        (lambda: HyperExponential([0.5, 0.6], [1.0, 2.0]), "probs"),
        (lambda: HyperExponential([0.5, 0.5], [1.0, -2.0]), "means"),
        (lambda: HyperExponential([0.5, 0.5], [1.0]), "means"),
        (lambda: LogNormal(0.0, 1.0), "sigma"),
        (lambda: LogNormal(-1.0, 1.0), "sigma"),
        (lambda: LogNormal(1.0, -1.0), "mean"),
        (lambda: Weibull(0.0, 1.0), "shape"),
        (lambda: Weibull(0.5, 0.0), "mean"),
        (lambda: Pareto(0.0, 1.0), "alpha"),
        (lambda: Pareto(1.5, -1.0), "xmin"),
        (lambda: BoundedPareto(1.5, 2.0, 1.0), "high"),
        (lambda: BoundedPareto(1.5, 0.0, 1.0), "low"),
        (lambda: BoundedPareto(-1.0, 1.0, 2.0), "alpha"),
        (lambda: Empirical([1.0, -2.0]), "samples"),
        (lambda: Empirical([0.0, 2.0]), "samples"),
        (lambda: Empirical([1.0, math.inf]), "samples"),
        (lambda: Empirical([]), "samples"),
        (lambda: Empirical([1.0, 2.0], weights=[1.0, -1.0]), "weights"),
        (lambda: Empirical([1.0, 2.0], weights=[1.0]), "weights"),
        (lambda: Mixture([Exponential(1.0)], [0.5, 0.5]), "probs"),
        (lambda: Mixture([], []), "laws"),
        (lambda: Mixture([1.0], [1.0]), "laws"),
        (lambda: from_scipy(stats.norm()), "frozen"),
        (lambda: from_scipy(stats.poisson(2.0)), "frozen"),
    ],
)
def test_bad_input_names_parameter(make, param):
    with pytest.raises(ValueError, match=param):
        make()


# -- repr -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "law, text",
    [
        (Weibull(0.5, 1), "Weibull(shape=0.5, mean=1.0)"),
        (Exponential(2), "Exponential(mean=2.0)"),
        (Erlang(3, 2), "Erlang(k=3, mean=2.0)"),
        (Deterministic(3), "Deterministic(value=3.0)"),
        (Uniform(0, 4), "Uniform(low=0.0, high=4.0)"),
        (LogNormal(1, 2), "LogNormal(sigma=1.0, mean=2.0)"),
        (Pareto(1.5, 2), "Pareto(alpha=1.5, xmin=2.0)"),
        (BoundedPareto(1.1, 1, 1000), "BoundedPareto(alpha=1.1, low=1.0, high=1000.0)"),
        (HyperExponential([0.5, 0.5], [1, 3]),
         "HyperExponential(probs=[0.5, 0.5], means=[1.0, 3.0])"),
        (Empirical([14, 2]), "Empirical(samples=[2.0, 14.0])"),
        (Empirical([2, 14], [1, 3]), "Empirical(samples=[2.0, 14.0], weights=[0.25, 0.75])"),
        (from_scipy(stats.gamma(2.5, scale=0.8)), "ScipySize(frozen=stats.gamma(2.5, scale=0.8))"),
        (Mixture([Exponential(1), Deterministic(5)], [0.7, 0.3]),
         "Mixture(laws=[Exponential(mean=1.0), Deterministic(value=5.0)], probs=[0.7, 0.3])"),
    ],
)
def test_repr(law, text):
    assert repr(law) == text


@pytest.mark.parametrize("name", LAW_IDS)
def test_repr_round_trips(name):
    import qtheory.laws.sizes as sizes

    law = _law(name)
    text = repr(law)
    if "<" in text:  # large Empirical laws are summarised
        assert "atoms" in text
        return
    clone = eval(text, {**vars(sizes), "stats": stats})  # noqa: S307 - our own repr
    assert type(clone) is type(law)
    x = _probe_points(law)
    np.testing.assert_allclose(clone.partial_moment(1, x), law.partial_moment(1, x), rtol=1e-15)


# -- properties -----------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    sigma=st.floats(0.05, 3.0),
    shape=st.floats(0.2, 5.0),
    mean=st.floats(0.01, 100.0),
    u=st.floats(1e-6, 1 - 1e-6),
)
def test_closed_forms_are_consistent(sigma, shape, mean, u):
    for law in (LogNormal(sigma, mean), Weibull(shape, mean), Erlang(1 + int(shape), mean)):
        assert _rel(law.mean, mean) <= 1e-12
        x = float(law.ppf(u))
        assert abs(law.cdf(x) - u) <= 1e-9 * max(u, 1e-3)
        for k in (0, 1, 2):
            s = law.partial_moment(k, x) + law.tail_moment(k, x)
            assert _rel(s, law.moment(k)) <= 1e-12


# -- the scipy adapter ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "frozen, closed",
    [
        (stats.pareto(1.5, scale=2.0), Pareto(1.5, 2.0)),
        (stats.lognorm(1.0, scale=math.exp(-0.5)), LogNormal(1.0, 1.0)),
    ],
    ids=["pareto", "lognormal"],
)
def test_scipy_adapter_matches_closed_forms(frozen, closed):
    law = from_scipy(frozen)
    assert isinstance(law, ScipySize)
    x = np.array([0.5, 3.0, 1e4])
    for k in (0, 1, 2):
        m = closed.moment(k)
        if math.isinf(m):
            assert math.isinf(law.moment(k))  # scipy's own moment(2) of this Pareto is -3
            assert np.all(np.isinf(law.tail_moment(k, x)))
        else:
            assert _rel(law.moment(k), m) <= 1e-9
            np.testing.assert_allclose(law.tail_moment(k, x), closed.tail_moment(k, x),
                                       rtol=1e-9, atol=0)
        np.testing.assert_allclose(law.partial_moment(k, x), closed.partial_moment(k, x),
                                   rtol=1e-9, atol=0)
    np.testing.assert_allclose(law.pdf(x), closed.pdf(x), rtol=1e-12)
    assert law.support[0] >= 0


@pytest.mark.parametrize("name", LAW_IDS)
def test_sample_into_draws_what_sample_draws(name):
    # the simulator fills reused buffers with sample_into; it must consume the random stream
    # exactly as sample does (the same values, and the generator left in the same state)
    law = _law(name)
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    want = law.sample(1000, a)
    out = np.full(1000, np.nan)
    got = law.sample_into(out, b)
    assert got is out
    np.testing.assert_array_equal(got, want)
    assert a.random() == b.random()


# -- the exponent of the cdf at 0 (decides E[1/X] < inf, hence finite slowdowns) ----------------
@pytest.mark.parametrize("name", LAW_IDS)
def test_zero_exponent_is_the_cdf_slope_at_zero(name):
    """The stated exponent p against the log-log slope of the cdf between 1e-30 and 1e-25 of the
    scale (mpmath cdf of the law's own pdf is not needed: F(x) = c x^p (1 + O(x^p)) there)."""
    law = _law(name)
    p = law.zero_exponent
    if law.is_discrete or law.support[0] > 0:
        assert p == math.inf
        return
    x1, x2 = law.mean * 1e-30, law.mean * 1e-25
    f1, f2 = float(law.cdf(x1)), float(law.cdf(x2))
    if f1 == 0.0:  # faster than any power (log-normal)
        assert p == math.inf
        return
    slope = math.log(f2 / f1) / math.log(x2 / x1)
    if p == math.inf:  # the local slope grows without bound (log-normal: log(1/x)/sigma^2)
        assert slope > 10.0
        return
    assert p == pytest.approx(slope, rel=1e-6)


@pytest.mark.parametrize("shape", [0.5, 1.0, 1.001, 1.018, 2.0])
def test_weibull_zero_exponent_decides_inverse_moment(shape):
    """E[1/X] = Gamma(1 - 1/k)/scale is finite exactly for shape k > 1 (1.001: about 1000/scale,
    which the quantile estimate used to call infinite)."""
    from qtheory.engine.slowdown import inverse_mean_infinite

    w = Weibull(shape, 1.0)
    assert w.zero_exponent == shape
    assert inverse_mean_infinite(w) == (shape <= 1.0)
    assert Mixture([w, LogNormal(1.0)], [0.5, 0.5]).zero_exponent == shape


# -- incomplete gamma functions of integer order (exponential, Erlang, hyperexponential) -------
_Z = np.concatenate([[1e-300, 1e-30, 1e-8], np.geomspace(1e-5, 1300.0, 90), [0.5, 1.0, 2.0, 3.0, 12.0]])


@pytest.mark.parametrize("n0, count", [(1, 3), (3, 3), (5, 8)])
def test_integer_order_incomplete_gamma_vs_mpmath(n0, count):
    """``reg_gamma_orders`` (one compiled pass over consecutive orders) against mpmath's
    regularised incomplete gamma at 30 digits, to 4e-15 relative wherever the value is a
    normal double (measured 1.1e-15; scipy.special.gammainc is 1e-13 off on the same grid),
    both ends including 0, infinity and NaN."""
    from qtheory.laws._incgamma import reg_gamma_orders

    with mp.workdps(30):
        for upper in (False, True):
            got = reg_gamma_orders(n0, count, _Z, upper)
            for c in range(count):
                ref = np.array([float(mp.gammainc(n0 + c, z, mp.inf, regularized=True) if upper
                                      else mp.gammainc(n0 + c, 0, z, regularized=True)) for z in _Z])
                ok = ref > 1e-300
                assert np.all(np.abs(got[c][ok] / ref[ok] - 1) < 4e-15), (n0 + c, upper)
                assert np.all(np.abs(got[c][~ok]) < 1e-290)
            ends = reg_gamma_orders(n0, count, np.array([0.0, np.inf, np.nan]), upper)
            assert np.all(ends[:, 0] == (1.0 if upper else 0.0))
            assert np.all(ends[:, 1] == (0.0 if upper else 1.0))
            assert np.all(np.isnan(ends[:, 2]))


def test_integer_order_incomplete_gamma_blocks_equal_point_by_point():
    """``reg_gamma_orders`` takes its points in blocks, grouped by the size of z (each group's
    series side by side, run until its slowest point's term is below 1e-17 of its sum): bit for
    bit the point-by-point code's values on shuffled points from every group (tiny, around
    each order, the subnormal e^{-z} range, beyond 1400, 0, infinity, NaN)."""
    from qtheory.laws._incgamma import _reg_gamma_scalar, reg_gamma_orders

    rng = np.random.default_rng(3)
    z = np.concatenate([np.exp(rng.uniform(-40.0, 8.0, 3000)), rng.uniform(0.0, 45.0, 2000),
                        [0.0, np.inf, np.nan, 666.9, 667.0, 1399.0, 1400.0, 2.0, 3.0, 40.0]])
    z = z[rng.permutation(z.size)]
    for n0, count in ((1, 3), (3, 3), (2, 40)):
        for upper in (False, True):
            # a strided view, as _reg_gamma passes its columns: the kernel's one compiled layout
            one = np.empty((count, z.size + 1))[:, :z.size]
            _reg_gamma_scalar(n0, count, z, upper, one)
            assert np.array_equal(reg_gamma_orders(n0, count, z, upper), one, equal_nan=True)


@pytest.mark.parametrize("law", [Exponential(1.7), Erlang(3, 2.0), Erlang(40, 1.0),
                                 HyperExponential([0.3, 0.7], [0.5, 4.0]), LogNormal(1.0, 2.0)],
                         ids=repr)
def test_moments_upto_equals_the_moments_one_by_one(law):
    """``moments_upto`` (one pass for the gamma-type laws) equals ``partial_moment`` /
    ``tail_moment`` order by order, to 2e-15 relative of the full moment, at arrays of any shape."""
    x = np.array([[0.0, 1e-12, 0.3], [2.0, 9.0, np.inf]])
    for tail in (False, True):
        got = law.moments_upto(2, x, tail)
        assert got.shape == (3, *x.shape)
        for k in range(3):
            one = (law.tail_moment if tail else law.partial_moment)(k, x)
            assert np.all(np.abs(got[k] - one) <= 2e-15 * law.moment(k)), (k, tail)


# ==== the size rule on heavy power tails =======================================================
def _pareto_partial_mp(alpha: float, low: float, high: float | None, k: int, c: float):
    r""":math:`E[X^k 1\{X \le c\}]` of a (bounded) Pareto law written here from its density
    :math:`\alpha a^\alpha t^{-\alpha-1}/D` (``high`` None: untruncated), in mpmath."""
    a, lo = mp.mpf(alpha), mp.mpf(low)
    d = 1 - (lo / mp.mpf(high)) ** a if high is not None else mp.mpf(1)
    return a * lo**a / d * (mp.mpf(c) ** (k - a) - lo ** (k - a)) / (k - a)


HEAVY_TAILS = {
    "pareto_1.02": (1.02, 1.0, None),
    "pareto_1.05": (1.05, 1.0, None),
    "pareto_1.1": (1.1, 1.0, None),
    "bpareto_1.05_1e200": (1.05, 1.0, 1e200),
    "bpareto_1.02_1e250": (1.02, 2.0, 2e250),
}


@pytest.mark.parametrize("width", [None, 0.05])
@pytest.mark.parametrize("name", HEAVY_TAILS)
def test_size_rule_moments_on_heavy_power_tails(name, width):
    """The size rule's mass, mean and partial second moments (at panel edges) against the
    closed forms: Pareto(1.05)'s density underflows past 1e158 where 1.3e-8 of the mean lies
    (the rule lost it), Pareto(1.02) keeps 2.3e-6 of its mean beyond the range's cap 1e280."""
    from qtheory.laws._quadrature import size_edges, size_rule

    with mp.workdps(DPS):
        alpha, low, high = HEAVY_TAILS[name]
        law = Pareto(alpha, low) if high is None else BoundedPareto(alpha, low, high)
        x, w = size_rule(law, width=width)
        mean = float(_pareto_partial_mp(alpha, low, high, 1, high if high is not None else mp.inf))
        assert abs(w.sum() - 1.0) <= 1e-13
        assert abs((w * x).sum() / mean - 1.0) <= 1e-13
        edges = np.exp(size_edges(law, width))
        for c in (10.0, 1e6, 1e50, 1e100, 1e150, 1e200):
            cc = edges[np.argmin(np.abs(np.log(edges) - math.log(c)))]
            sel = x <= cc
            got = ((w[sel] * x[sel]) * x[sel]).sum()
            want = float(_pareto_partial_mp(alpha, low, high, 2, cc))
            assert abs(got / want - 1.0) <= 1e-13, (c, cc, got / want - 1.0)


def test_size_rule_of_ordinary_laws_has_no_tail_node():
    """Laws whose density stays representable over the range get the plain panels: node
    counts ``ORDER`` times the panels (plus the head node), no extra tail node."""
    from qtheory.laws._quadrature import ORDER, head_node, size_edges, size_range, size_rule

    for law in (Exponential(1.0), LogNormal(1.0, 1.5), Weibull(0.5, 1.0), Uniform(0.5, 2.0),
                BoundedPareto(1.5, 1.0, 1e4), Pareto(2.5, 1.0)):
        x, _ = size_rule(law)
        head = head_node(law, size_range(law)[0]) is not None
        assert x.size == ORDER * (size_edges(law).size - 1) + head, law


@pytest.mark.parametrize(("law", "mean"), [
    (Mixture([Pareto(1.05, 1.0), Deterministic(3.0)], [0.7, 0.3]), 0.7 * 1.05 / 0.05 + 0.3 * 3.0),
    (Mixture([Pareto(1.02, 1.0), Pareto(1.3, 2.0)], [0.5, 0.5]), 0.5 * 1.02 / 0.02 + 0.5 * 2.6 / 0.3),
])
def test_size_rule_mean_on_heavy_mixtures(law, mean):
    """Mixtures with a nearly infinite-mean Pareto part: the rule keeps the mass and the mean
    (the atoms are nodes of their own, not counted again in the rebuilt tail panels); they
    were 1.2e-8 and 5.4e-4 low."""
    from qtheory.laws._quadrature import size_rule

    x, w = size_rule(law)
    assert abs(w.sum() - 1.0) <= 1e-13
    assert abs((w * x).sum() / mean - 1.0) <= 1e-13
