"""Issue 16 (percentiles of the size-based class laws): the faster paths of the class-kink split
(``qtheory.engine._class_kinks``) against the reference paths kept behind their flags.

* ``REUSE_SUMS``: SRPT's residence terms take the sums the series already has: the transform of
  the rest and the split terms bit for bit the same;
* ``QUICK_STOP``: Newton's method for the roots :math:`\\eta_0` stops one step earlier (its error
  estimate from quadratic convergence): the roots within a few ulps, and the cdf within the
  change that a 2-ulp perturbation of the reference roots makes (the inversion's round-off floor
  on these laws: ``e^{A/2}`` times the transform's rounding);
* ``TAYLOR_NODES``: the sums over the graded nodes next to the cut from load-free cumulative
  moments (the nodes with |eta| v <= 1/2): the sums within 1e-15 of the sum of the
  terms' moduli, the roots within a few ulps, the cdf as for ``QUICK_STOP`` (both on);
* ``ETA_START``: the roots :math:`\\eta_0` start from the class's :math:`\\eta_{<x}`; and
  ``SMALL_ROWS`` (``qtheory.engine.response_distribution``): SRPT's residence rows through their
  raw moments: the cdf as for ``QUICK_STOP`` (all on);
* ``PAIRED_SUMS``: SRPT's residence extension sums at s and 2s in one pass: those at s bit for
  bit, those at 2s within 1e-15 of the terms' moduli; and ``OWN_TAYLOR``
  (``qtheory.engine.response_distribution``): the residence rows' own nodes from their Taylor
  moments: the roots within 4 ulps; the cdf as for ``QUICK_STOP`` (all on);
* ``CHEAP_PARTS`` (``qtheory.engine.distribution``): the percentile solver's first steps invert
  the split terms on the cheap Euler rule too: the quantile is Brent's root of the reference
  path's sf to 1e-9 (the standard of ``tests/test_distribution_percentile_speed.py``) and the
  cdf is untouched.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from scipy.optimize import brentq

import qtheory as qt
from qtheory.engine import _class_kinks as ck
from qtheory.engine import distribution as dist
from qtheory.engine import laplace_inversion as li
from qtheory.engine import response_distribution as rd

SIZES = {"exp": qt.Exponential(1.0), "weibull0.5": qt.Weibull(shape=0.5, mean=1.0)}


@contextlib.contextmanager
def _flags(on: bool):
    old = (ck.REUSE_SUMS, ck.QUICK_STOP, ck.TAYLOR_NODES, dist.CHEAP_PARTS, ck.ETA_START, rd.SMALL_ROWS,
           ck.PAIRED_SUMS, rd.OWN_TAYLOR)
    ck.REUSE_SUMS = ck.QUICK_STOP = ck.TAYLOR_NODES = dist.CHEAP_PARTS = ck.ETA_START = rd.SMALL_ROWS = on
    ck.PAIRED_SUMS = rd.OWN_TAYLOR = on
    try:
        yield
    finally:
        (ck.REUSE_SUMS, ck.QUICK_STOP, ck.TAYLOR_NODES, dist.CHEAP_PARTS, ck.ETA_START, rd.SMALL_ROWS,
         ck.PAIRED_SUMS, rd.OWN_TAYLOR) = old


def _split(size: str, policy: str, x: float):
    law = SIZES[size]
    d = rd.response_time_distribution(qt.MG1(0.8 / law.mean, law), policy, x=x)
    sp = d._split.near()
    assert type(sp) is ck.ClassKinks  # the premise: the class law is split at its kinks
    return d, sp


def test_reuse_sums_bit_for_bit():
    """SRPT's class x = 1 on Weibull(0.5) sizes: the rest's transform and the split terms with the
    residence's sums reused are those computed again, bit for bit."""
    _, sp = _split("weibull0.5", "srpt", 1.0)
    s = (li.euler_nodes()[0] / 1.7).astype(complex)
    t = np.array([2.6])
    out = []
    for flag in (True, False):
        old = ck.REUSE_SUMS
        ck.REUSE_SUMS = flag
        try:
            sp._cache = {}
            out.append((sp.rest_lst(s), sp._parts(t)))
        finally:
            ck.REUSE_SUMS = old
    assert np.array_equal(out[0][0], out[1][0])
    assert all(np.array_equal(a, b) for a, b in zip(out[0][1], out[1][1], strict=True))


def test_quick_stop_roots():
    """The roots eta_0 of Kendall's equation (PSJF's class x = 1 on Exp(1), the Euler nodes of
    u = 0.3 .. 8 on both rules) with the early stop: within 4 ulps of the reference's."""
    _, sp = _split("exp", "psjf", 1.0)
    s = np.concatenate([li.euler_nodes(*rule)[0][None, :] / u
                        for rule in ((li.EULER_A, li.EULER_N, li.EULER_M), li.EULER_CHEAP)
                        for u in np.geomspace(0.3, 8.0, 7)[:, None]], axis=1).reshape(-1).astype(complex)
    roots = []
    for flag in (True, False):
        old = ck.QUICK_STOP
        ck.QUICK_STOP = flag
        try:
            roots.append(ck._eta0(sp.lam, sp.p_lt, *sp._nodes[5:], s))
        finally:
            ck.QUICK_STOP = old
    rel = np.abs(roots[0] / roots[1] - 1)
    assert np.max(rel) <= 4 * np.finfo(float).eps, np.max(rel)
    assert np.all(np.isfinite(roots[0]))


@pytest.mark.parametrize("size,policy,x", [("exp", "srpt", 1.0),
                                           pytest.param("weibull0.5", "sjf", 3.0, marks=pytest.mark.slow)])
def test_quick_stop_cdf_within_round_off(size, policy, x, monkeypatch):
    """The class cdf on 6 points of (x, 9x) with every flag on against the reference path,
    within 4 times the change that perturbing the reference's roots eta_0 by 2 ulps makes (one
    fixed pattern; measured 3e-12 to 7e-11 on these laws: the inversion amplifies the
    transform's rounding by e^{A/2}) plus 1e-12, and 1e-10 absolute (the inversion's accuracy)."""
    t = x + x * np.linspace(0.3, 8.0, 6)

    def cdf(on: bool):
        with _flags(on):
            return rd.response_time_distribution(qt.MG1(0.8 / SIZES[size].mean, SIZES[size]), policy,
                                                 x=x).cdf(t)

    new, ref = cdf(True), cdf(False)
    orig = ck._eta0
    rng = np.random.default_rng(0)

    def perturbed(*a, **k):
        out = orig(*a, **k)
        return out * (1 + 2.0 ** -52 * (rng.integers(-2, 3, out.size) + 1j * rng.integers(-2, 3, out.size)))

    monkeypatch.setattr(ck, "_eta0", perturbed)
    floor = np.max(np.abs(cdf(False) - ref))
    diff = np.max(np.abs(new - ref))
    assert diff <= 4 * floor + 1e-12 and diff <= 1e-10, (diff, floor)


@pytest.mark.parametrize("size,policy,x,level", [("exp", "psjf", 1.0, 0.99),
                                                 pytest.param("weibull0.5", "srpt", 1.0, 0.9,
                                                              marks=pytest.mark.slow)])
def test_cheap_parts_quantile(size, policy, x, level):
    """The quantile with the split terms on the cheap rule in the first steps is Brent's root of
    the reference path's sf to 1e-9 (xtol 1e-13 relative), and the cdf is the reference's bit
    for bit (CHEAP_PARTS only touches the solver's start)."""
    law = SIZES[size]
    q = qt.MG1(0.8 / law.mean, law)
    v = rd.response_time_distribution(q, policy, x=x).ppf(level)
    old = dist.CHEAP_PARTS
    dist.CHEAP_PARTS = False
    try:
        d = rd.response_time_distribution(q, policy, x=x)
        sf_ref = d.sf(np.array([v, 1.01 * v]))
    finally:
        dist.CHEAP_PARTS = old
    ref = brentq(lambda u: d.sf(u) - (1 - level), (1 - 1e-7) * v, (1 + 1e-7) * v, xtol=1e-13 * v, rtol=1e-14)
    assert abs(v / ref - 1) < 1e-9, (v, ref)
    assert np.array_equal(rd.response_time_distribution(q, policy, x=x).sf(np.array([v, 1.01 * v])), sf_ref)


def test_taylor_node_sums_and_roots():
    """SJF's class x = 1 on Exp(1) (its three node lists: below the cut, the extension, the old
    job's tail), at the Euler nodes of u = 0.3 .. 8: the sums through the cumulative moments
    against every node summed directly, within 1e-15 of the sum of the terms' moduli (a
    numpy sum), and the roots eta_0 within 4 ulps of the direct kernel's."""
    _, sp = _split("exp", "sjf", 1.0)
    s = np.concatenate([li.euler_nodes()[0][None, :] / u for u in np.geomspace(0.3, 8.0, 7)[:, None]],
                       axis=1).reshape(-1).astype(complex)
    with _flags(False):
        eta_ref = ck._eta0(sp.lam, sp.p_lt, *sp._nodes[5:], s)
    with _flags(True):
        eta = ck._eta0_nodes(sp.lam, sp.x, sp._nodes, s)
    assert np.max(np.abs(eta / eta_ref - 1)) <= 4 * np.finfo(float).eps
    for X, W in ((sp._Xb, sp._Wb), (sp._Xa, sp._Wa), (sp._Xt, sp._Wt)):
        shift = 0.0 if X is sp._Xb else sp.x
        with _flags(True):
            got = ck._sums_fast(eta_ref, X, W, shift, 4)
        ref = ck._sums(eta_ref, X, W, shift, 4)
        mod = np.abs(W[None, :, None] * np.exp(-eta_ref.real[:, None, None] * (X - shift)[None, :, None])
                     * X[None, :, None] ** np.arange(4)[None, None, :]).sum(axis=1)
        assert np.all(np.abs(got - ref) <= 1e-15 * mod), np.max(np.abs(got - ref) / mod)


def test_pdf_at_a_repeated_point():
    """The density of a split class law (SRPT, Exp(1), x = 1, load 0.8) is the same at every call
    and is the derivative of the cdf: ``_split_eval`` added the split terms' density into the
    split's cached array, so a second ``pdf(t)`` at the same t gave -0.0175 where the density is
    0.0145."""
    d = rd.response_time_distribution(qt.MG1(0.8, qt.Exponential(1.0)), "srpt", x=1.0)
    t = np.array([2.5, 6.0])
    first, second = d.pdf(t), d.pdf(t)
    assert np.array_equal(first, second)
    # a central difference of the cdf: truncation h^2 f'''/6 < 1e-8, the cdf's round-off
    # (about 1e-10) over 2h: 5e-8
    h = 1e-3
    fd = (d.cdf(t + h) - d.cdf(t - h)) / (2 * h)
    assert np.allclose(first, fd, rtol=1e-5, atol=2e-7)


def test_paired_sums():
    """SRPT's residence extension sums at s and 2s in one pass (``PAIRED_SUMS``; SRPT's class
    x = 1 on Exp(1), the Euler nodes of u = 0.05 .. 20 on the default, fine and cheap rules):
    those at s are ``_sums_fast``'s bit for bit, those at 2s (the exponentials squared past the
    table's reach) within 1e-15 of the sum of the terms' moduli of every node summed directly."""
    _, sp = _split("exp", "srpt", 1.0)
    s = np.concatenate([li.euler_nodes(*rule)[0][None, :] / u
                        for rule in (ck.DEFAULT_EULER, li.EULER_FINE, li.EULER_CHEAP)
                        for u in np.geomspace(0.05, 20.0, 9)[:, None]], axis=1).reshape(-1).astype(complex)
    v, w = np.ascontiguousarray(sp._v), sp._wvd
    got = ck._paired_sums(s, v, w)
    assert np.array_equal(got[:, :2], ck._sums_fast(s, v, w, 0.0, 2))
    ref = ck._sums(2 * s, v, w, 0.0, 2)
    mod = np.abs(w[None, :, None] * np.exp(-2 * s.real[:, None, None] * v[None, :, None])
                 * v[None, :, None] ** np.arange(2)[None, None, :]).sum(axis=1)
    assert np.all(np.abs(got[:, 2:] - ref) <= 1e-15 * mod), np.max(np.abs(got[:, 2:] - ref) / mod)


@pytest.mark.parametrize("size", ["exp", "weibull0.5"])
def test_own_taylor_roots(size):
    """SRPT's residence rows (class x = 1, load 0.8; the Euler nodes of u = 0.3 .. 8): the roots
    with the rows' own nodes from their Taylor moments (``OWN_TAYLOR``) within 4 ulps of those
    with one exponential a node, and the Taylor path taken (rows with |u| r_j <= 2.9 past the
    raw moments' reach |u| xi_j <= 1)."""
    _, sp = _split(size, "srpt", 1.0)
    tr = sp.tr
    parts, ex = tr._joint_grid()
    mom = rd.parts_moments(tr.rule, parts)
    s = np.concatenate([li.euler_nodes()[0][None, :] / u for u in np.geomspace(0.3, 8.0, 7)[:, None]],
                       axis=1).reshape(-1).astype(complex)
    roots = []
    for flag in (True, False):
        old = rd.OWN_TAYLOR
        rd.OWN_TAYLOR = flag
        try:
            roots.append(rd.busy_eta_parts(s, tr.lam, tr.rule, parts, extrapolation=ex, moments=mom))
        finally:
            rd.OWN_TAYLOR = old
    assert np.max(np.abs(roots[0] / roots[1] - 1)) <= 4 * np.finfo(float).eps
    a = np.abs(roots[1])
    taken = (a * mom[1][None, :] > 1) & (a * mom[6][None, :] <= 2.8)
    assert taken.sum() > 0.1 * taken.size, taken.sum()
