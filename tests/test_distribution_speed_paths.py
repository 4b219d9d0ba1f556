"""The fast paths of the response-time distributions (issue 16, speed): each is checked against
an independent evaluation of the same quantity.

* Kendall's equation on the sets {X < t} of a continuous size rule through Taylor moments of the
  panel prefix (``busy_eta_parts``) against the direct per-node Newton (``busy_eta``) and against
  the equation's residual evaluated in extended precision;
* SRPT's residence integral through the panel structure (``_integrate``) against the dense
  integration matrix;
* the percentile solver's early stop against exact quantiles (M/M/1);
* the joint rule and load-free tables shared by the models of a load sweep (prediction
  policies) against a cold build.

Derivation: docs/response_time_distribution.md (sections 3 and 7).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

import qtheory as qt
from qtheory.engine import laplace_inversion as li
from qtheory.engine import response_distribution as rd

SIZES = {
    "exp": qt.Exponential(1.0),
    "weibull0.5": qt.Weibull(shape=0.5, mean=1.0),
    "lognormal1.5": qt.LogNormal(1.5),
    "bpareto": qt.BoundedPareto(1.1, 0.01, 1e6),
}


def _kendall_residual(s, lam, X, W, U) -> float:
    r"""max over (s, t) of :math:`|u - s - \lambda\sum_k W_k(1 - e^{-uX_k})| / |u|` in extended
    precision (``np.clongdouble``)."""
    rows = slice(None, None, 5)  # every fifth threshold (the extended-precision sums are slow)
    XL, WL = X[rows].astype(np.longdouble), W[rows].astype(np.longdouble)
    worst = 0.0
    for i in range(0, s.size, 4):
        u = U[i, rows].astype(np.clongdouble)[:, None]
        psi = np.sum(WL * (1 - np.exp(-u * XL)), axis=1)
        r = np.abs(u[:, 0] - np.clongdouble(s[i]) - np.longdouble(lam) * psi) / np.abs(u[:, 0])
        worst = max(worst, float(np.max(r)))
    return worst


@pytest.mark.parametrize("name,lam", [("exp", 0.5), ("exp", 0.95), ("weibull0.5", 0.95),
                                      ("lognormal1.5", 0.5), ("bpareto", 0.95)])
def test_prefix_kernel_solves_kendall(name, lam):
    """busy_eta_parts: the roots agree with the direct Newton to 5e-14 relative and solve
    Kendall's equation to a residual of 2e-14 (extended precision), at every other Euler node of
    t = 0.5, 26 and 200 (|Im s| up to 240), every threshold of the unconditional law's rule."""
    size = SIZES[name]
    lam = lam / size.mean
    r = rd._rule(size, rd.WIDTH)
    X, W = r.below(r.x)
    parts = r.below_parts(r.x)
    alpha, _ = li.euler_nodes()
    for t in (0.5, 26.0, 200.0):
        s = alpha[::2] / t
        ref = rd.busy_eta(s, lam, X, W)
        got = rd.busy_eta_parts(s, lam, r, parts)
        assert np.max(np.abs(got / ref - 1)) < 5e-14, (name, t)
        assert _kendall_residual(s, lam, X, W, got) < 2e-14, (name, t)


@pytest.mark.parametrize("name,lam", [("exp", 0.95), ("weibull0.5", 0.5), ("bpareto", 0.95)])
def test_rows_kernel_with_raw_moments(name, lam):
    """busy_eta_parts with the rows' raw moments (``parts_moments``: the rows with
    |u| max x <= SMALL_R through their raw-moment series, the others' prefix moments started
    from the raw ones, binomially): the roots agree with the direct Newton to 5e-14 relative and
    solve Kendall's equation to 2e-14 (extended precision), at every third Euler node of
    t = 0.05, 0.5 and 26 (|s| from 0.5 to 2400), every seventh threshold of the rule (the
    kernel solves them all)."""
    size = SIZES[name]
    lam = lam / size.mean
    r = rd._rule(size, rd.WIDTH)
    X, W = r.below(r.x)
    X, W = X[::7], W[::7]
    parts = r.below_parts(r.x)
    mom = rd.parts_moments(r, parts)
    alpha, _ = li.euler_nodes()
    for t in (0.05, 0.5, 26.0):
        s = alpha[::3] / t
        ref = rd.busy_eta(s, lam, X, W)
        got = rd.busy_eta_parts(s, lam, r, parts, at=r.x, moments=mom)[:, ::7]
        assert np.max(np.abs(got / ref - 1)) < 5e-14, (name, t)
        assert _kendall_residual(s, lam, X, W, got) < 2e-14, (name, t)


def test_prefix_kernel_recentres():
    """A small radius forces a recentring at almost every threshold (the moments recomputed
    about the Newton iterate): the roots are unchanged (5e-14)."""
    r = rd._rule(SIZES["weibull0.5"], rd.WIDTH)
    X, W = r.below(r.x)
    Xe, We, npre = r.below_parts(r.x)
    s = li.euler_nodes()[0] / 5.0
    ref = rd.busy_eta(s, 0.9, X, W)
    for J, R in ((8, 0.05), (20, 1.0), (40, 4.0)):
        out = np.empty((s.size, npre.size), complex)
        stats = np.zeros(3, np.int64)
        rd._eta_prefix_kernel(s, 0.9, r.px, r.pw, npre, Xe, We, J, R, out, stats,
                              *rd._extrapolation(r.x))
        assert np.max(np.abs(out / ref - 1)) < 5e-14, (J, R)
        if R == 0.05:
            assert stats[0] > s.size * 10  # it did recentre (about twice per s otherwise)


@pytest.mark.parametrize("size", [qt.Exponential(1.0), qt.Weibull(shape=0.5, mean=1.0),
                                  qt.Uniform(0.5, 1.5), qt.Empirical([1.0, 2.0, 5.0, 2.0, 1.0])])
@pytest.mark.parametrize("x", [None, 1.5])
def test_srpt_residence_integral(size, x):
    """SRPT's :math:`\\int_0^{x_i} g` through the grid's structure equals the dense matrix
    product ``g @ M.T`` (1e-14 relative)."""
    q = qt.MG1(0.7 / size.mean, size)
    tr = rd.response_time_distribution(q, "srpt", x=x)._t
    t, M = tr._grid
    rng = np.random.default_rng(3)
    g = rng.standard_normal((4, t.size)) + 1j * rng.standard_normal((4, t.size))
    a = g @ M.T
    assert np.max(np.abs(tr._integrate(g) - a)) <= 1e-14 * np.max(np.abs(a))


@pytest.mark.parametrize("policy,name", [("psjf", "exp"), ("srpt", "exp")])
def test_prefix_kernel_distribution_unchanged(policy, name):
    """The unconditional law with the prefix kernel equals the direct route's to the inversion's
    round-off (sf within 2e-10 at p50..p99.9 and at fixed times), load 0.8."""
    q = qt.MG1(0.8 / SIZES[name].mean, SIZES[name])
    d = rd.response_time_distribution(q, policy)
    t = np.concatenate([d.ppf([0.5, 0.9, 0.99, 0.999]), [0.3, 3.0, 30.0]])
    fast = d.sf(t)
    try:
        rd.PREFIX_KERNEL = False
        slow = d.sf(t)
    finally:
        rd.PREFIX_KERNEL = True
    assert np.max(np.abs(fast - slow)) < 2e-10


@pytest.mark.parametrize("policy", ["fcfs", "psjf", "srpt"])
def test_ppf_early_stop(policy):
    r"""The solver's early stop (three shrinking steps predicting an error below rtol / 10) moves
    the percentiles by less than the inversion's accuracy: p50..p99.9 against the root of
    ``sf(t) = 1 - q`` found by Brent's method on the same ``sf`` (xtol 1e-13 relative), 1e-8
    relative (Exp sizes, load 0.8); FCFS's also against the exact
    :math:`-\log(1 - q)/(\mu - \lambda)` (1e-8)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = rd.response_time_distribution(q, policy)
    lv = np.array([0.5, 0.9, 0.99, 0.999])
    fast = d.ppf(lv)
    for level, t in zip(lv, fast, strict=True):
        ref = brentq(lambda u, level=level: d.sf(u) - (1 - level), 0.8 * t, 1.25 * t, xtol=1e-13 * t,
                     rtol=1e-14)
        assert abs(t / ref - 1) < 1e-8, (policy, level)
    if policy == "fcfs":
        assert np.max(np.abs(fast / (-np.log1p(-lv) / 0.2) - 1)) < 1e-8


def _smooth(d):
    """``d`` inverted with the 39-term Euler sum (its nodes are 117 complex points at the three
    times, against 4923 with the 1641 terms of discrete laws: the tables are the same)."""
    d.euler = (li.EULER_A, li.EULER_N, li.EULER_M)
    return d


def test_sweep_shares_prediction_tables():
    """Two loads of one model share the joint rule and the load-free tables; the law at the
    second load equals that of a cold build (fresh laws: nothing cached) exactly, for T and W
    of SPRPT and TRAIL(0.8), unconditional and for a class, on a finite joint law (40 pairs) and
    for a class of Exp sizes with exponential predictions."""
    from qtheory.engine import response_distribution_prediction as rdp

    rng = np.random.default_rng(7)
    xs = rng.exponential(1.0, 40)
    ys = xs * rng.exponential(1.0, 40)

    def pairs():
        return qt.EmpiricalPairs(xs, ys)

    def exp_laws():
        return qt.Exponential(1.0), qt.ExponentialPrediction()

    def model(rate, laws):
        p = laws()
        if isinstance(p, tuple):
            return qt.MG1(rate, p[0], p[1])
        return qt.MG1(rate, prediction=p)

    t = np.array([0.5, 2.0, 9.0])
    cases = [(pairs, "sprpt", None, None), (pairs, qt.TRAIL(0.8), None, None),
             (pairs, "sprpt", float(xs[3]), float(ys[3])), (exp_laws, "sprpt", 1.0, 0.7)]
    for laws, pol, x, y in cases:
        a = model(0.4, laws)
        b = qt.MG1(0.7, a.size, a.prediction)  # the same laws at another load
        assert rdp.joint_rule(a, x is not None) is rdp.joint_rule(b, x is not None)
        for fn in (rd.response_time_distribution, rd.waiting_time_distribution):
            _smooth(fn(a, pol, x=x, y=y)).sf(t)  # warms the caches at another load
            warm = _smooth(fn(b, pol, x=x, y=y)).sf(t)
            cold = _smooth(fn(model(0.7, laws), pol, x=x, y=y)).sf(t)
            assert np.array_equal(warm, cold), (pol, x, fn.__name__)
