"""The factor route's compiled pieces (issue 15, speed): the level functions N and S2 of
:mod:`qtheory.engine.soap_factor` against an independent nested adaptive quadrature of their
definitions, and the outer sums of :mod:`qtheory.engine._factor_outer` (all loads at once)
against the node-by-node evaluation of E[T | x, y] on the same tables.

The definitions (``docs/soap_predictions.md``, sections 3-5), for a job of size X and
prediction Y = XZ at rank level l:

* bounce (|y - a|): N(l) = E[min(X, Y + l); Y < l], S2(l) = E[((min(X, Y + l) - (Y - l)^+)^+)^2];
* remaining (y - a): N(l) = E[X; Y < l], S2(l) = E[((X - (Y - l)^+)^+)^2].

Both integrands vanish for z > 1 + l/x, and have kinks at z = l/x and z = 1 - l/x: scipy's
adaptive Gauss-Kronrod over z with those points, inside one over x, is a method independent of
the route's (Gauss-Legendre in log z of closed-form partial moments, Chebyshev in log l).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

import qtheory as qt
from qtheory.engine import soap_factor


def _reference(size, factor, bounce: bool, ell: float) -> tuple[float, float]:
    """(N(ell), S2(ell)) by nested adaptive quadrature (x outer, z inner)."""

    def inner(x, which):
        hi = 1.0 + ell / x
        pts = [p for p in (ell / x, 1.0 - ell / x) if 0.0 < p < hi]

        def g(z):
            y = x * z
            if which == "N":
                if y >= ell:
                    return 0.0
                return min(x, y + ell) if bounce else x
            top = min(x, y + ell) if bounce else x
            return max(top - max(y - ell, 0.0), 0.0) ** 2

        zhi = min(hi, ell / x) if which == "N" else hi
        pts = [p for p in pts if p < zhi]
        v, _ = integrate.quad(lambda z: g(z) * float(factor.pdf(z)), 0.0, zhi, points=pts or None,
                              limit=200, epsabs=0.0, epsrel=1e-12)
        return v

    lo, hi = size.support
    out = []
    for which in ("N", "S2"):
        def outer(x, which=which):
            return inner(x, which) * float(size.pdf(x))

        bps = [b for b in np.asarray(size.breakpoints, float) if lo < b < hi]
        if math.isfinite(hi):
            v, _ = integrate.quad(outer, lo, hi, points=bps or None, limit=200, epsabs=0.0,
                                  epsrel=1e-11)
        else:
            # split at ell and at a few means: the inner result has kinks in x near ell
            cuts = sorted({lo, ell / 2, ell, 2 * ell, float(size.mean), 4 * float(size.mean)})
            v = sum(integrate.quad(outer, a, b, limit=200, epsabs=0.0, epsrel=1e-11)[0]
                    for a, b in zip(cuts[:-1], cuts[1:]) if b > a)
            v += integrate.quad(outer, cuts[-1], np.inf, limit=200, epsabs=0.0, epsrel=1e-11)[0]
        out.append(v)
    return out[0], out[1]


CASES = [
    ("Exp/Exp", lambda: (qt.Exponential(1.0), qt.ExponentialPrediction())),
    ("BoundedPareto/Exp", lambda: (qt.BoundedPareto(1.5, 1.0, 100.0), qt.ExponentialPrediction())),
]


@pytest.mark.parametrize("bounce", [True, False], ids=["bounce", "remaining"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_level_functions_against_nested_quadrature(case, bounce):
    """N and S2 at levels across the range (below, near and above the median size) agree with
    the nested quadrature to 1e-9 relative (measured: 4e-14 at worst on these cases; before
    the z panels were graded near z = 1, the bounce's S2 was 1.3e-7 off at l = 0.05 on Exp/Exp
    and 6e-5 at l = 3e-4; 3e-4 there on LogNormal/LogNormal, whose reference quadrature is too
    slow for the suite). The bounded Pareto law has breakpoints (more
    z edges per level)."""
    size, pred = case[1]()
    pol = qt.SRPTBounce() if bounce else qt.SPRPT()
    q = qt.MG1(0.5 / size.mean, size, prediction=pred)
    t = soap_factor.tables(q, pol, 0.35)
    factor = pred.joint(size).factor
    for ell in (3e-4 * size.mean, 0.05 * size.mean, 0.7 * size.mean, 3.0 * size.mean):
        n_ref, s_ref = _reference(size, factor, bounce, ell)
        n, s2 = float(t.N(ell)), float(t.S2(ell))
        assert n == pytest.approx(n_ref, rel=1e-9, abs=0), (ell, n, n_ref)
        assert s2 == pytest.approx(s_ref, rel=1e-9, abs=0), (ell, s2, s_ref)


@pytest.mark.parametrize("pol", [qt.SRPTBounce(), qt.SPRPT()], ids=lambda p: p.name)
def test_outer_sums_equal_node_by_node(pol):
    """The mean at several loads in one call (the load-independent sums) equals the weighted
    sum of E[T | x, y] evaluated node by node on the same tables at each load, to 1e-12; so
    does the slowdown's sum (weights W / x)."""
    size = qt.LogNormal(1.0)
    q = qt.MG1(0.8 / size.mean, size, prediction=qt.LogNormalPrediction(0.5))
    lams = np.array([0.1, 0.5, 0.8, 0.95, 0.99]) / size.mean
    for width in (0.35, 0.5):
        t = soap_factor.tables(q, pol, width)
        means = t.means(lams)
        slow = t.means(lams, "slowdown")
        for k, lam in enumerate(lams):
            c = t.conditional(lam, t.X, t.Y)
            assert means[k] == pytest.approx(float(np.sum(t.W * c)), rel=1e-12, abs=0)
            assert slow[k] == pytest.approx(float(np.sum(t.W * c / t.X)), rel=1e-12, abs=0)


def test_estimate_not_swamped_by_levels_where_the_functions_vanish():
    """Uniform(0.5, 1.5) sizes with log-normal predictions: N and S2 are 0 or astronomically
    small at the smallest levels, where a tail test relative to the panel's own values only
    sees rounding. With the floor (``soap_factor.FLOOR``) SPRPT through the route is within
    its estimate of the closed form and the estimate is 2.8e-12 relative (it was 5e-2, from
    panels accepted at the minimum width, and the route took 36 s)."""
    size = qt.Uniform(0.5, 1.5)
    q = qt.MG1(0.9 / size.mean, size, prediction=qt.LogNormalPrediction(1.0))
    v, err = soap_factor.evaluate(q, qt.SPRPT(), [q.arrival_rate])
    ref = q.mean_response_time("sprpt")
    assert abs(v[0] - ref) <= err[0], (v[0], ref, err[0])
    assert err[0] <= 1e-10 * v[0], err[0] / v[0]


def test_compiled_node_helpers_equal_their_numpy_forms():
    """The compiled helpers of the level and outer sums against the numpy forms they replace,
    on random inputs: the level rule's nodes without the zero-width panels
    (``_factor_outer.panel_nodes``) and the interval ends' groups (``split_ends``) bit for
    bit; the panel integrals' terms from the basis sums (``_basis_integrals``, the sums over
    the nodes taken before the divisions) within 1e-15 of the terms added node by node
    (``_add_integral``), relative to the sum of the coefficients' sizes."""
    from qtheory.engine import _factor_outer as fo
    from qtheory.laws._quadrature import _gl, panels

    rng = np.random.default_rng(7)
    # rows of sorted edges with repeated values (zero-width panels), as level_terms builds them
    edges = np.sort(np.round(rng.uniform(-5.0, 3.0, (40, 25)), 1), axis=1)
    edges[:, :4] = edges[:, :1]
    lev, u, wu = fo.panel_nodes(edges, *_gl(16))
    uu, ww = panels(edges, 16)
    keep = ww > 0
    assert np.array_equal(lev, np.nonzero(keep)[0])
    assert np.array_equal(u, uu[keep]) and np.array_equal(wu, ww[keep])

    n = 5000
    e1 = np.exp(rng.uniform(-4.0, 4.0, n))
    e2 = np.where(rng.uniform(size=n) < 0.3, np.inf, np.exp(rng.uniform(-4.0, 4.0, n)))
    reg = rng.integers(0, 3, n).astype(np.int8)
    med = 1.0
    hi, fin = e1 >= med, np.isfinite(e2)
    for bounce in (True, False):
        got = fo.split_ends(e1, e2, reg, med, bounce)
        want = (e1[hi], e1[~hi], e2[hi & fin], e2[~hi & fin],
                e2[~hi & fin & (reg < 2) & (e2 >= med)] if bounce else np.zeros(0))
        for g, w in zip(got, want):
            assert np.array_equal(g, w)

    P, ncoef = 6, 17
    j = rng.integers(0, P, n)
    tau = rng.uniform(-1.0, 1.0, n)
    s = rng.normal(size=n)
    B0, C0, T, cint = fo._sums_init(np.linspace(0.0, 1.0, P + 1), np.zeros((P, ncoef)))
    A, C1 = np.zeros((P, ncoef + 1)), np.zeros(P)
    for i in range(n):
        fo._cheb(tau[i], T)
        fo._add_integral(B0, C0, j[i], tau[i], T, s[i], cint)
        fo._add_basis(A, C1, j[i], T, s[i])
    B1 = fo._basis_integrals(A, C1, cint)
    assert np.array_equal(C0, C1)
    scale = np.array([np.sum(np.abs(s[j == p])) for p in range(P)])[:, None]
    assert np.max(np.abs(B1 - B0) / scale) < 1e-15, np.max(np.abs(B1 - B0) / scale)
