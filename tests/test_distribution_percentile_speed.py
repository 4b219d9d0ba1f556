"""Issue 16 (percentiles under 50 ms): the faster routes against the routes they replace.

* ``busy_eta`` / ``_psi_at`` on rows with growing weights (nested sets, one set repeated) through
  the nodes' Taylor moments (``_cum_rows``) against a plain numpy sum and the direct Newton;
* the prefix kernel's polynomial predictor (``_extrapolation``): exact on polynomials, the same
  roots as the secant predictor, fewer Newton steps;
* the percentile solver's Newton steps (densities checked against the secant): fewer transform
  evaluations, the same root as Brent's method on the same ``sf``; its first steps on the cheap
  Euler rule and the Halley step certified by the full rule's own error estimates: one full
  evaluation on smooth laws, the secant still on kinked ones; the density's derivative and the
  Euler sums' error estimate;
* SRPT's class row solved with its threshold grid, and the per-class loads from the prefix form,
  against the separate solve and the dense rows.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from scipy.optimize import brentq

import qtheory as qt
from qtheory.engine import distribution as dist
from qtheory.engine import laplace_inversion as li
from qtheory.engine import response_distribution as rd

SIZES = {
    "exp": qt.Exponential(1.0),
    "weibull0.5": qt.Weibull(shape=0.5, mean=1.0),
    "pareto2.5": qt.Pareto(alpha=2.5, xmin=0.6),
}


def _psi_numpy(U, X, W):
    r""":math:`\sum_k W_{jk}(1 - e^{-U_{ij}X_{jk}})` summed by numpy (the reference)."""
    return np.sum(W[None, :, :] * (1.0 - np.exp(-U[:, :, None] * X[None, :, :])), axis=2)


def _path(s, n, lam):
    """Points moving from s along a smooth curve (like Kendall's roots over the thresholds)."""
    v = np.linspace(0.0, 1.0, n)
    return s[:, None] + lam * v[None, :] * (1.0 - np.exp(-s[:, None] * (0.3 + v[None, :])))


@pytest.mark.parametrize("name", list(SIZES))
def test_cum_rows_psi_matches_numpy(name):
    """``_psi_at`` on one set repeated (SJF's all-jobs sum) and on nested sets (each row the
    previous one plus nodes) equals numpy's direct sum to 1e-14 (|psi| <= 1), at the Euler nodes
    of t = 0.3, 5 and 60 along a moving path; the moments route is taken (``_cum_rows``)."""
    r = rd._rule(SIZES[name], rd.WIDTH)
    x, w = r.x, r.w
    n = 120
    X = np.broadcast_to(x, (n, x.size))
    same = np.broadcast_to(w, (n, w.size))
    cut = np.quantile(x, np.linspace(0.05, 1.0, n))
    nested = np.where(x[None, :] <= cut[:, None], w[None, :], 0.0)
    alpha, _ = li.euler_nodes()
    for W in (same, nested):
        assert rd._cum_rows(np.ascontiguousarray(X), np.ascontiguousarray(W)) is not None
        for t in (0.3, 5.0, 60.0):
            U = _path(alpha[::3] / t, n, 0.9)
            got = rd._psi_at(U, X, W)
            ref = _psi_numpy(U, np.asarray(X), np.asarray(W))
            assert np.max(np.abs(got - ref)) < 1e-14, (name, t)


def test_cum_rows_heavy_tail_falls_back():
    """Nodes up to 1e8 (a radius of 1e-8 around each centre): the kernel gives up the moments
    after its recentring budget and sums directly; the values still equal numpy's sum."""
    x = np.geomspace(1e-3, 1e8, 300)
    w = np.full(x.size, 1.0 / x.size)
    n = 60
    X = np.broadcast_to(x, (n, x.size))
    W = np.broadcast_to(w, (n, x.size))
    s = li.euler_nodes()[0][::4] / 2.0
    U = _path(s, n, 0.8)
    got = rd._psi_at(U, X, W)
    stats = np.zeros(2, np.int64)
    out = np.empty(U.shape, complex)
    cum = rd._cum_rows(np.ascontiguousarray(X), np.ascontiguousarray(W))
    rd._psi_cum_kernel(U, cum[0], np.ascontiguousarray(W), *cum[1:], rd.TAYLOR_J, rd.TAYLOR_R, out, stats)
    assert stats[1] == s.size  # every s switched to the direct sums
    assert np.max(np.abs(got - _psi_numpy(U, X, W))) < 1e-14


@pytest.mark.parametrize("name,lam", [("exp", 0.8), ("weibull0.5", 0.95), ("pareto2.5", 0.5)])
def test_cum_rows_eta_matches_direct_newton(name, lam):
    """``busy_eta`` on nested sets {X <= c_j} of the size rule's nodes (one node list, the rows
    the prediction policies and SJF pass) through the moments equals the direct per-node Newton
    (``_eta_kernel``) to 5e-14 relative, at t = 0.5, 26 and 200."""
    size = SIZES[name]
    lam = lam / size.mean
    r = rd._rule(size, rd.WIDTH)
    x, w = r.x, r.w
    cut = np.quantile(x, np.linspace(0.02, 1.0, 150))
    X = np.ascontiguousarray(np.broadcast_to(x, (cut.size, x.size)))
    W = np.ascontiguousarray(np.where(x[None, :] <= cut[:, None], w[None, :], 0.0))
    assert rd._cum_rows(X, W) is not None
    alpha, _ = li.euler_nodes()
    for t in (0.5, 26.0, 200.0):
        s = np.ascontiguousarray(alpha[::2] / t)
        got = rd.busy_eta(s, lam, X, W)
        ref = np.empty_like(got)
        rd._eta_kernel(s, lam, X, W, rd._nnz(W), ref)
        assert np.max(np.abs(got / ref - 1)) < 5e-14, (name, t)


def test_cum_rows_detection():
    """The moments route only for rows on one node list whose weights never decrease, and
    with few new nodes a row; anything else is left to the direct kernels."""
    x = np.linspace(0.1, 5.0, 40)
    X = np.tile(x, (10, 1))
    nested = np.where(x[None, :] <= np.linspace(0.5, 5.0, 10)[:, None], 0.025, 0.0)
    assert rd._cum_rows(X, nested) is not None
    assert rd._cum_rows(X, np.tile(nested[-1], (10, 1))) is not None  # one set repeated
    shrinking = np.tile(nested[-1], (10, 1))
    shrinking[-1, 5] *= 0.5  # one node's weight drops in the last row
    assert rd._cum_rows(X, shrinking) is None
    other = X.copy()
    other[3, 5] += 1e-3
    assert rd._cum_rows(other, nested) is None
    rng = np.random.default_rng(3)
    dense = np.cumsum(rng.random((10, 40)), axis=0)  # every node grows in every row
    assert rd._cum_rows(X, dense) is None


def test_extrapolation_weights_exact_on_polynomials():
    """The predictor's weights reproduce any polynomial of degree < npts[j] in log t at row j
    from the rows before it (1e-9 relative on a quintic over the rule's thresholds)."""
    t = rd._rule(SIZES["exp"], rd.WIDTH).x[1:-1]
    L, npts = rd._extrapolation(t)
    lx = np.log(t)
    P = L.shape[1]
    for deg in (2, 5):
        f = np.polyval(np.arange(1.0, deg + 2.0), lx / 10.0)
        for j in range(3, t.size):
            q = npts[j]
            if q <= deg:
                continue
            pred = L[j, P - q:] @ f[j - q:j]
            assert abs(pred - f[j]) <= 1e-9 * (1 + abs(f[j])), (deg, j)
    assert np.all(npts[6:] == 6) and npts[3] == 3
    L2, n2 = rd._extrapolation(t[::-1])  # not increasing: the secant predictor only
    assert not np.any(n2)


@pytest.mark.parametrize("name", ["exp", "weibull0.5"])
def test_extrapolation_same_roots_fewer_steps(name):
    """Kendall's roots on the unconditional rule's thresholds: the polynomial predictor gives the
    roots of the secant predictor to 5e-14 relative in at most 3/4 of its Newton steps."""
    size = SIZES[name]
    r = rd._rule(size, rd.WIDTH)
    Xe, We, npre = r.below_parts(r.x)
    s = li.euler_nodes()[0] / 20.0
    runs = {}
    for ex in (rd._extrapolation(r.x), (np.zeros((npre.size, 1)), np.zeros(npre.size, np.int64))):
        out = np.empty((s.size, npre.size), complex)
        stats = np.zeros(3, np.int64)
        rd._eta_prefix_kernel(s, 0.8 / size.mean, r.px, r.pw, npre, Xe, We, rd.TAYLOR_J, rd.TAYLOR_R,
                              out, stats, *ex)
        runs[ex[0].shape[1]] = (out, stats[2])
    (fast, n_fast), (slow, n_slow) = runs[rd.EXTRAPOLATE], runs[1]
    assert np.max(np.abs(fast / slow - 1)) < 5e-14
    assert n_fast <= 0.75 * n_slow, (n_fast, n_slow)


def _count_evaluations(d, level):
    """The quantile and the transform evaluations of the solver: (full rule, cheap rule)."""
    calls = []
    orig = d._eval

    def counted(t, euler, d2=False):
        calls.append(tuple(euler))
        return orig(t, euler, d2)

    d._eval = counted
    try:
        v = d.ppf(level)
    finally:
        del d._eval
    full = sum(1 for e in calls if e == tuple(d.euler))
    return v, full, len(calls) - full


@pytest.mark.parametrize("policy,x,most", [("las", None, 3), ("psjf", None, 3), ("las", 1.0, 3),
                                           ("sjf", 1.0, 2), ("srpt", None, 3), ("sjf", None, 3)])
def test_ppf_newton_steps(policy, x, most):
    """The solver takes Newton's steps once the inverted densities agree with the secant: p99 of
    M/M/1 at load 0.8 in at most ``most`` transform evaluations (the secant-only solver took 4,
    SJF's class 3; the cheap first steps off), within 1e-8 of Brent's root of the same sf
    (xtol 1e-13 relative)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = rd.response_time_distribution(q, policy, x=x)
    with _cheap_start(False):
        v, n, n_cheap = _count_evaluations(d, 0.99)
    ref = brentq(lambda u: d.sf(u) - 0.01, 0.8 * v, 1.25 * v, xtol=1e-13 * v, rtol=1e-14)
    assert abs(v / ref - 1) < 1e-8
    assert n <= most and n_cheap == 0, n


@contextlib.contextmanager
def _cheap_start(on: bool):
    old = dist.CHEAP_START
    dist.CHEAP_START = on
    try:
        yield
    finally:
        dist.CHEAP_START = old


@pytest.mark.parametrize("policy,x,size", [("las", None, "exp"), ("sjf", None, "exp"), ("psjf", None, "exp"),
                                           ("srpt", None, "exp"), ("srpt", None, "weibull0.5"),
                                           ("psjf", None, "pareto2.5"), ("srpt", 3.0, "exp"),
                                           # classes next to their kinks x, 2x, 3x, split off
                                           # (qtheory.engine._class_kinks): the rest is smooth
                                           ("srpt", 1.0, "exp"), ("psjf", 1.0, "exp"), ("psjf", 0.3, "exp")])
def test_ppf_cheap_start_one_full_evaluation(policy, x, size):
    """The cheap rule's Halley steps bring the smooth laws' p99 (load 0.8; unconditional laws and
    SRPT's class x = 3, far from its kinks) close enough for one evaluation on the full rule,
    whose own error estimates certify its last Halley step: one full evaluation (the Newton
    solver took 2-3), at most two cheap ones (23 terms each against 39), and the quantile is
    Brent's root of the same sf to 1e-9 (xtol 1e-13 relative)."""
    size_law = SIZES[size]
    q = qt.MG1(0.8 / size_law.mean, size_law)
    d = rd.response_time_distribution(q, policy, x=x)
    v, n, n_cheap = _count_evaluations(d, 0.99)
    ref = brentq(lambda u: d.sf(u) - 0.01, 0.8 * v, 1.25 * v, xtol=1e-13 * v, rtol=1e-14)
    noise, ft = _sf_noise(d, ref)
    assert noise < 1e-9, noise  # the sf's round-off, far inside the 1e-8 the cdf is held to
    assert abs(v / ref - 1) < 1e-9 + 3.0 * noise / ft, (v, ref, noise / ft)
    assert n == 1 and 1 <= n_cheap <= 2, (n, n_cheap)


def _sf_noise(d, t: float) -> tuple[float, float]:
    r"""The round-off of the inverted sf next to ``t`` (the largest residual of a line through 9
    values within 4e-9 relative of ``t``, where the true sf is linear to 1e-17) and
    :math:`f(t)\,t`: a root of sf = p is defined only to about noise / (f t) relative, whichever
    solver finds it. On the machines measured the noise is 8e-12 to 1.7e-10 (PSJF's class
    x = 0.3 next to its kink at 2x), so the two roots may differ by up to about 1.5e-9 there;
    the Euler sum multiplies the transform's last bits by about e^{A/2} (its weights), so the
    noise follows the machine's rounding of Kendall's roots."""
    ts = t * (1.0 + np.linspace(-4e-9, 4e-9, 9))
    vals = np.array([float(d.sf(u)) for u in ts])
    fit = np.polyval(np.polyfit(ts - t, vals, 1), ts - t)
    return float(np.max(np.abs(vals - fit))), float(d.pdf(t)) * t


@pytest.mark.parametrize("policy,x,level", [("sjf", 1.5, 0.99), ("sjf", 1.2, 0.9)])
def test_ppf_cheap_start_kinked_class(policy, x, level):
    """A class law with kinks inside the Euler sums' reach (SJF's classes on Uniform(1, 3)
    sizes, whose kinks at c + kx are not split off: the full rule's f differs from its n - 1
    term sum by much more than on smooth laws): the single-evaluation stop is refused and the
    secant/Newton steps go on (the cheap rule's unsettled density leaves the start as it was:
    the full rule's steps are those without the cheap start, the same number and the same
    quantile bit for bit); the quantile is Brent's root of the same sf to 1e-8."""
    q = qt.MG1(0.4, qt.Uniform(1.0, 3.0))
    d = rd.response_time_distribution(q, policy, x=x)
    assert d._split is None  # the premise: this class law is inverted whole
    v, n, _ = _count_evaluations(d, level)
    ref = brentq(lambda u: d.sf(u) - (1 - level), 0.9 * v, 1.1 * v, xtol=1e-13 * v, rtol=1e-14)
    assert abs(v / ref - 1) < 1e-8, (v, ref)
    with _cheap_start(False):
        v0, n0, _ = _count_evaluations(d, level)
    assert n == n0 and v == v0, (n, n0, v, v0)


@pytest.mark.parametrize("policy,x,level", [("srpt", 1.5, 0.99), ("psjf", 1.5, 0.9), ("psjf", 1.2, 0.99)])
def test_ppf_split_kinked_class(policy, x, level):
    """SRPT's and PSJF's classes on Uniform(1, 3) sizes, whose kinks at c + kx are split off
    (``qtheory.engine._class_kinks``, the solver given the split terms' exact density
    derivatives): the quantile is Brent's root of the same sf to 1e-8, with and without the
    cheap start (measured 5e-12 to 1.3e-10)."""
    q = qt.MG1(0.4, qt.Uniform(1.0, 3.0))
    d = rd.response_time_distribution(q, policy, x=x)
    assert d._split is not None
    v, _, _ = _count_evaluations(d, level)
    ref = brentq(lambda u: d.sf(u) - (1 - level), 0.9 * v, 1.1 * v, xtol=1e-13 * v, rtol=1e-14)
    assert abs(v / ref - 1) < 1e-8, (v, ref)
    with _cheap_start(False):
        v0, _, _ = _count_evaluations(d, level)
    assert abs(v0 / ref - 1) < 1e-8, (v0, ref)


def test_eval_density_derivative():
    """``_eval``'s f' (the inversion of s(T~(s) - P(T = 0))): M/M/1 FCFS's response time
    (Exp(mu - lambda): f' = -(mu - lambda)^2 e^{-(mu - lambda)t}) to 1e-8 relative and within
    its own error estimate (f to 1e-9); LAS's
    unconditional law (split: the atoms' density part differentiated directly) against a central
    difference of its density (``pdf``, step 2e-4 relative) within f''s estimated error (and
    1e-6, the difference's), with the estimated errors of f and f' below 1e-6 and 1e-4 of them
    (smooth)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = rd.response_time_distribution(q, "fcfs")
    t = np.array([0.5, 3.0, 20.0])
    _, f, df, ef, edf = d._eval(t, d.euler)
    r = 0.2
    np.testing.assert_allclose(f, r * np.exp(-r * t), rtol=1e-9)
    err = np.abs(df + r * r * np.exp(-r * t))
    assert np.all(err <= 1e-8 * r * r * np.exp(-r * t)) and np.all(err <= edf)
    d = rd.response_time_distribution(q, "las")
    t = np.array([2.0, 15.0, 60.0])
    _, f, df, ef, edf = d._eval(t, d.euler)
    h = 2e-4
    fd = (d.pdf(t * (1 + h)) - d.pdf(t * (1 - h))) / (2 * h * t)
    # the difference: 1e-6 of it, and the density's round-off (about 1e-12) over 2 h t
    assert np.all(np.abs(df - fd) <= edf + 1e-6 * np.abs(fd) + 1e-12 / (h * t))
    assert np.all(ef <= 1e-6 * f) and np.all(edf <= 1e-4 * np.abs(df))


def test_euler_error_weights():
    """``euler_nodes_err``: the difference of the Euler sums with n and n - 1 terms bounds the
    actual error of a smooth density (a two-exponential mixture, exact f known) where truncation
    dominates (n, m = 12, 8 and 10, 6: errors 1e-5 to 1e-2), stays within the discretisation and
    round-off floor (5e-11) on the default rule, and is large next to a kink (the uniform(1, 2)
    density at t = 1.98 and 1.5: above 1e-2 of f)."""
    alpha, omega, delta = li.euler_nodes_err()
    a0, w0 = li.euler_nodes()
    np.testing.assert_array_equal(alpha, a0)
    np.testing.assert_array_equal(omega, w0)
    t = np.array([0.1, 1.0, 5.0, 20.0])
    exact = 0.5 * np.exp(-t) + np.exp(-2 * t)
    for rule, floor in (((li.EULER_A, 12, 8), 0.0), ((li.EULER_A, 10, 6), 0.0), ((), 5e-11)):
        alpha, omega, delta = li.euler_nodes_err(*rule)
        s = alpha[None, :] / t[:, None]
        vals = (0.5 / (1 + s) + 1 / (2 + s)).real
        err = np.abs(vals @ omega / t - exact)
        assert np.all(err <= np.abs(vals @ delta) / t + floor), rule
    alpha, omega, delta = li.euler_nodes_err()
    t = np.array([1.98, 1.5])
    s = alpha[None, :] / t[:, None]
    unif = ((np.exp(-s) - np.exp(-2 * s)) / s).real
    assert np.all(np.abs(unif @ delta) / t > 1e-2)


def test_ppf_kinked_law_still_converges():
    """On a discrete size law (kinks: the densities disagree with the secant, the solver keeps
    the secant) the percentiles still equal Brent's roots of the same sf to 1e-8 (PSJF, three
    sizes, load 0.8; p50, p90, p99)."""
    size = qt.Empirical([0.5, 1.0, 3.0], weights=[0.5, 0.3, 0.2])
    q = qt.MG1(0.8 / size.mean, size)
    d = rd.response_time_distribution(q, "psjf")
    for level in (0.5, 0.9, 0.99):
        v = float(d.ppf(level))
        if any(abs(v - a) < 1e-12 for a, _ in d.atoms):
            continue
        ref = brentq(lambda u, level=level: d.sf(u) - (1 - level), 0.9 * v, 1.1 * v, xtol=1e-13 * v,
                     rtol=1e-14)
        assert abs(v / ref - 1) < 1e-8, level


@pytest.mark.parametrize("name,x", [("exp", 1.0), ("weibull0.5", 0.3), ("pareto2.5", 2.0)])
def test_srpt_class_row_with_grid(name, x):
    """SRPT, one class: its busy-period row solved in the grid's kernel call gives the transform
    of the separate solve to 1e-13 (relative to |value| + 1e-3), at t = 0.7 and 12."""
    size = SIZES[name]
    q = qt.MG1(0.8 / size.mean, size)
    tr = rd.response_time_distribution(q, "srpt", x=x)._t
    assert tr._joint_grid() is not None
    alpha, _ = li.euler_nodes()
    for t in (0.7, 12.0):
        s = alpha / t
        joint = tr.lst_classes(s)
        tr._joint = None
        sep = tr.lst_classes(s)
        del tr._joint
        assert np.max(np.abs(joint - sep) / (np.abs(sep) + 1e-3)) < 1e-13, t


@pytest.mark.parametrize("policy", ["las", "sjf", "psjf", "srpt"])
def test_class_loads_from_prefix_sums(policy):
    """The per-class masses and loads from the prefix form's cumulative sums equal the dense
    rows' sums (1e-14), Weibull(0.5) unconditional rule at load 0.9."""
    size = SIZES["weibull0.5"]
    tr = rd.response_time_distribution(qt.MG1(0.9, size), policy)._t
    fast = tr._sums
    Xlt, Wlt, Xle, Wle = tr._dense_rows()
    dense = (Wlt.sum(1), np.sum(Xlt * Wlt, axis=1), Wle.sum(1), np.sum(Xle * Wle, axis=1))
    for a, b in zip(fast, dense, strict=True):
        assert np.max(np.abs(a - b)) < 1e-14



def test_cum_rows_nodes_at_zero():
    """Rows whose first weights sit at x = 0 only (no scale yet): the moments route stays finite
    and equals numpy's sum (1e-15)."""
    x = np.array([0.0, 0.0, 1.0, 2.0])
    X = np.tile(x, (6, 1))
    W = np.array([[0.5, 0.5, 0.0, 0.0]] * 3 + [[0.5, 0.5, 0.2, 0.1]] * 3)
    U = np.tile(0.4 + 1j * np.linspace(0.0, 2.0, 6), (3, 1))
    assert rd._cum_rows(X, W) is not None
    assert np.max(np.abs(rd._psi_at(U, X, W) - _psi_numpy(U, X, W))) < 1e-15


# ---- load sweeps: the quantile continued from load to load (MG1.sweep_percentiles) ----------------
def test_continuation_polynomial():
    """``_continuation``: the polynomial through the last four points is exact on cubics in
    u (1e-12), its error estimate is the distance to the polynomial through three (exact on
    quadratics: 0 there), a repeated u returns its own value, and no history gives (nan, inf)."""
    from qtheory.models.mg1 import _continuation

    us = [0.1, 0.3, 0.45, 0.7, 0.9]
    cubic = [(u, 1.0 - 2.0 * u + 0.5 * u ** 2 + 3.0 * u ** 3) for u in us]
    g, err = _continuation(cubic, 1.2)
    assert abs(g - (1.0 - 2.4 + 0.72 + 3.0 * 1.728)) < 1e-12
    three = [cubic[-3], cubic[-2], cubic[-1]]
    d = sum(v * np.prod([(1.2 - ub) / (ua - ub) for ub, _ in three if ub != ua]) for ua, v in three)
    assert abs(err - abs(g - d)) < 1e-12 and err > 1e-3
    quad = [(u, 2.0 + u - u * u) for u in us]
    g, err = _continuation(quad, 1.1)
    assert abs(g - (2.0 + 1.1 - 1.21)) < 1e-12 and err < 1e-12
    assert _continuation(quad, 0.7) == (quad[3][1], 0.0)
    g, err = _continuation([], 0.5)
    assert np.isnan(g) and err == np.inf


def _count_all(d, fn):
    """Run fn() counting ``d``'s transform evaluations: (result, full-rule calls, cheap calls)."""
    calls = []
    orig = d._eval

    def counted(t, euler, d2=False):
        calls.append(tuple(euler))
        return orig(t, euler, d2)

    d._eval = counted
    try:
        v = fn()
    finally:
        del d._eval
    full = sum(1 for e in calls if e == tuple(d.euler))
    return v, full, len(calls) - full


@pytest.mark.parametrize("policy", ["fcfs", "las"])
def test_ppf_direct_start_one_evaluation(policy):
    """A start within 2e-5 (relative) of the p99 with ``start_err`` below ``DIRECT_ERR``: one
    evaluation on the full rule, no cheap one (g''' from the inverted f'' certifies Halley's
    step), the quantile within 1e-9 of the same law's ppf without a start (M/M/1 at load 0.8;
    FCFS: also of the exact log(100)/(mu - lambda); LAS: the split law, f'' of the atoms' part by
    differences)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = rd.response_time_distribution(q, policy)
    ref = float(d.ppf(0.99))
    v, n, n_cheap = _count_all(d, lambda: float(d.ppf(0.99, start=ref * (1 + 2e-5), start_err=1e-5)))
    assert (n, n_cheap) == (1, 0), (n, n_cheap)
    assert abs(v / ref - 1) < 1e-9
    if policy == "fcfs":
        assert abs(v / (math.log(100.0) / 0.2) - 1) < 1e-9
    # a start with a large estimated error: the cheap steps from it, the same quantile
    v2, _, n_cheap2 = _count_all(d, lambda: float(d.ppf(0.99, start=ref * 1.01, start_err=1e-2)))
    assert n_cheap2 >= 1 and abs(v2 / ref - 1) < 1e-9


def test_eval_second_derivative_fcfs():
    r"""``_eval(d2=True)``'s f'' (the inversion of s^2(T~(s) - P(T = 0))) on M/M/1 FCFS's response
    time, Exp(0.2): f'' = 0.2^3 e^{-0.2 t} to 1e-5 relative (measured 4e-6 at t = 0.7: the
    terms s f(0+) + f'(0+) the Euler sum does not quite cancel; the certificate's K needs the
    third derivative within a factor only); the first five values are those of ``_eval``
    without it."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = rd.response_time_distribution(q, "fcfs")
    t = np.array([0.7, 4.0, 23.0])
    vals = d._eval(t, d.euler, d2=True)
    for a, b in zip(vals[:5], d._eval(t, d.euler), strict=True):
        np.testing.assert_array_equal(a, b)
    exact = 0.2 ** 3 * np.exp(-0.2 * t)
    assert np.all(np.abs(vals[5] - exact) <= 1e-5 * exact), vals[5] / exact - 1


@pytest.mark.parametrize("policy", ["las", "psjf"])
def test_third_log_derivative(policy):
    r"""The solver's third derivative of g (``_third``, from the inverted f'' and, on these split
    laws, the atoms' part by second differences) at the p99 (load 0.8, Exp(1)) equals the
    central difference of g'' (``_log_derivs`` at log t +- 1e-3) to 1e-2 relative (measured 3e-4
    and 9e-4)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    d = rd.response_time_distribution(q, policy)
    tau = math.log(float(d.ppf(0.99)) - d.shift)
    lp = np.log([0.01])

    def derivs(x, d2=False):
        t = np.exp(np.array([x]))
        vals = d._eval(t, d.euler, d2=d2)
        return vals, t, dist._log_derivs(vals, t, lp)

    vals, t, (_, g1, g2, rel1, g2_err) = derivs(tau, True)
    g3, _ = dist._third(vals, t, g1, g2, rel1, g2_err)
    h = 1e-3
    fd = (derivs(tau + h)[2][2] - derivs(tau - h)[2][2]) / (2 * h)
    assert abs(g3[0] / fd[0] - 1) < 1e-2, (g3, fd)


def test_sweep_continuation_exact_and_one_evaluation():
    """``sweep_percentiles`` on M/M/1 FCFS (loads given in decreasing order: solved in increasing
    order): the response time's p50, p99 equal the exact log(1/(1 - q)) / (1 - rho) to 1e-9, and
    the waiting time's (P(W > t) = rho e^{-(1 - rho) t}: 0 where q <= 1 - rho, the atom) to
    5e-9 (a single ppf: 1.5e-9 at p99 and load 0.17);
    after the first four loads every quantile of the response time takes one transform evaluation
    on the full rule and none on the cheap one (from scratch: a cheap one each)."""
    from qtheory.engine import distribution as dist_mod

    q = qt.MG1(0.5, qt.Exponential(1.0))
    loads = np.linspace(0.9, 0.1, 12)
    levels = np.array([0.5, 0.99])
    calls = []
    orig = dist_mod.ResponseTimeDistribution._eval

    def counted(self, t, euler, d2=False):
        calls.append((float(self.mean()), t.size, tuple(euler) == tuple(self.euler)))
        return orig(self, t, euler, d2)

    dist_mod.ResponseTimeDistribution._eval = counted
    try:
        s = q.sweep_percentiles("fcfs", loads, q=levels)
    finally:
        dist_mod.ResponseTimeDistribution._eval = orig
    exact = np.log(1.0 / (1.0 - levels))[None, :] / (1.0 - loads[:, None])
    np.testing.assert_allclose(np.asarray(s), exact, rtol=1e-9)
    late = [c for c in calls if c[0] > 1.0 / (1.0 - np.sort(loads)[3]) + 1e-9]  # E[T] = 1/(1 - rho)
    assert late and all(full for _, _, full in late), late
    assert sum(n for _, n, _ in late) == levels.size * 8  # one evaluation per quantile
    w = np.asarray(q.sweep_percentiles("fcfs", loads, q=[0.3, 0.6, 0.99], waiting=True))
    lv = np.array([0.3, 0.6, 0.99])[None, :]
    r = loads[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        wex = np.where(lv <= 1 - r, 0.0, np.log(r / (1 - lv)) / (1 - r))
    assert np.all((w == 0) == (wex == 0))
    # (the waiting time's p99 at low loads: the single ppf's own distance to the exact, 1.5e-9)
    np.testing.assert_allclose(w[wex > 0], wex[wex > 0], rtol=5e-9)


def test_cubic_step_on_exponential_tail():
    r"""The cubic Taylor model's root (:func:`dist._cubic`) on :math:`\bar F(t) = e^{-t}`,
    :math:`g(\tau) = -e^\tau - \log p` (:math:`g' = g'' = g''' = -e^\tau`), from 0.2 and 0.1
    above the exact root :math:`\log(-\log p)`: error of order 4 (halving the distance divides
    it by about 16, Halley's by about 8), a fifth of Halley's or less at 0.2, and its error
    estimate (:func:`dist._cubic_err`, with an exact :math:`g'''`) above its true error."""
    p = np.array([0.01, 0.1, 0.5])
    root = np.log(-np.log(p))
    errs = []
    for off in (0.2, 0.1):
        tau = root + off
        e = np.exp(tau)
        g, g1 = -e - np.log(p), -e
        d_h = dist._halley(g, g1, g1)
        d_c = dist._cubic(g, g1, g1, g1, d_h)
        err_h, err_c = np.abs(tau + d_h - root), np.abs(tau + d_c - root)
        assert np.all(dist._cubic_err(d_c, d_h, g1, np.zeros(3)) >= err_c)
        errs.append((err_h, err_c))
    (h2, c2), (h1, c1) = errs
    assert np.all(c2 < 0.2 * h2), (c2, h2)
    assert np.all(c2 / c1 > 12.0) and np.all(h2 / h1 < 10.0), (c2 / c1, h2 / h1)


def test_ppf_cubic_jump_saves_a_cheap_evaluation():
    """SJF's unconditional p99 on Exp(1) at load 0.8 (gamma start 0.17 off in log t): the first
    cheap evaluation's cubic step goes straight to the full rule (one cheap and one full
    evaluation, against two cheap ones and one full with CHEAP_CUBIC off); both quantiles are
    Brent's root of the same sf within 1e-9 plus the sf's round-off (:func:`_sf_noise`)."""
    q = qt.MG1(0.8, qt.Exponential(1.0))
    got = {}
    old = dist.CHEAP_CUBIC
    try:
        for on in (True, False):
            dist.CHEAP_CUBIC = on
            got[on] = _count_evaluations(rd.response_time_distribution(q, "sjf"), 0.99)
    finally:
        dist.CHEAP_CUBIC = old
    assert got[True][1:] == (1, 1) and got[False][1:] == (1, 2), got
    d = rd.response_time_distribution(q, "sjf")
    v = got[True][0]
    ref = brentq(lambda u: d.sf(u) - 0.01, 0.8 * v, 1.25 * v, xtol=1e-13 * v, rtol=1e-14)
    noise, ft = _sf_noise(d, ref)
    for on in (True, False):
        assert abs(got[on][0] / ref - 1) < 1e-9 + 3.0 * noise / ft, (on, got[on][0], ref, noise / ft)
