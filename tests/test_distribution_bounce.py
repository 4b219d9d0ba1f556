"""Response- and waiting-time distributions of SRPT-Bounce on continuous sizes with a
multiplicative prediction law: qtheory/engine/response_distribution_bounce.py.

Truth: (a) the same code with SPRPT's rank (y - a) against SPRPT's own transform
(response_distribution_prediction); (b) means against the mean engine on the law itself
(soap_factor, another method: level interpolants and outer sums), a class's mean and second
moment against a reference written here from the definitions (the pieces' moments for fixed
z in closed form, scipy's quad over z, the worst future rank integrated over the age, moments of the old-job delay by
power-series arithmetic), and the closed-form moments against a Cauchy integral of the
transform; (c) the cdf is a cdf; (d) percentiles against qt.simulate (slow, statistical).
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import pytest
from scipy import integrate
from scipy.special import gammainc
from stats_policy import halfwidth

import qtheory as qt
from qtheory.engine import response_distribution_bounce as rb
from qtheory.engine import response_distribution_prediction as rdp
from qtheory.engine import soap_factor as sf
from qtheory.engine.distribution import ResponseTimeDistribution
from qtheory.engine.response_distribution import response_time_distribution as rtd
from qtheory.engine.response_distribution import waiting_time_distribution as wtd
from qtheory.policies import get_policy

S_POINTS = np.array([0.3, 1.0 + 2.0j, 5.0 - 7.0j, 20.0 + 40.0j, 2.0 + 150.0j])
BOUNCE = get_policy("srpt-bounce")
CLASSES = [(0.5, 1.2), (1.5, 1.0), (3.0, 1.0)]  # x <= y, y < x <= 2y, x > 2y


#: one size law and prediction law for the module: the joint rule and the load-free tables are
#: cached on them (shared by the tests and the loads)
SIZE = qt.Exponential(1.0)
EXP_PRED = qt.ExponentialPrediction()
FULL = os.environ.get("QTHEORY_FULL", "") not in ("", "0")


def _model(load=0.8, pred=None):
    return qt.MG1(load, SIZE, pred or EXP_PRED)


@functools.cache
def _law_08(x=None, y=None):
    """The law of T at load 0.8 (unconditional or the class (x, y)), built once per module: the
    cdf test and the simulator's exp-exp-0.8 case read the same object."""
    return rtd(_model(0.8), "srpt-bounce", x=x, y=y)


# ---- (a) SPRPT's rank through the same code ----------------------------------------------------
@pytest.mark.parametrize("xy,waiting", [(None, False), ((0.4, 1.1), False), ((1.3, 0.7), True)])
def test_sprpt_rank_reproduces_sprpt(xy, waiting):
    """With bounce=False the module's transform, moments and atom are SPRPT's (its own module,
    response_distribution_prediction) to 1e-12, and the inverted cdf to 1e-8 (at two times:
    every further time inverts the same transforms, equal to 1e-12 at points up to |s| = 150)."""
    q = _model()
    x, y = xy if xy else (None, None)
    rule = rdp.joint_rule(q, conditional=xy is not None)
    a = rb.BounceTransform(q, rule, x, y, waiting=waiting, bounce=False)
    b = rdp.PredictionTransform(q, get_policy("sprpt"), rule, x, y, waiting=waiting)
    assert np.max(np.abs(a.lst(S_POINTS) - b.lst(S_POINTS))) <= 1e-12
    for u, v in zip(a.moments(), b.moments(), strict=True):
        assert u == pytest.approx(v, rel=1e-12)
    if xy or waiting:
        assert a.atom() == pytest.approx(b.atom(), rel=1e-12, abs=1e-15)
    shift = float(x) if a.shifted else 0.0
    da = ResponseTimeDistribution(a, "a", a.atom() if xy or waiting else 0.0, shift=shift)
    db = ResponseTimeDistribution(b, "b", b.atom() if xy or waiting else 0.0, shift=shift)
    t = np.array([0.5, 25.0]) + shift  # the body and the tail (the transforms agree above)
    assert np.max(np.abs(da.cdf(t) - db.cdf(t))) <= 1e-8


@pytest.mark.parametrize("size", [qt.Uniform(1.0, 3.0), qt.Pareto(3.5, 1.0)], ids=["uniform", "pareto"])
def test_sprpt_rank_mean_on_sizes_with_a_lower_end(size):
    """SPRPT's rank through the module on sizes whose density jumps at their lower end b = 1:
    the unconditional mean equals the mean engine's closed form for SPRPT to 1e-10. SPRPT's
    residence kinks at x = y, which meets b at y = b: the classes are SPRPT's own (prediction
    panels with an edge there); with the plain joint rule's it was 8.9e-9 (Uniform(1, 3)) and
    2.7e-8 (Pareto(3.5)) off, 1.35e-8 on Pareto(2.5)."""
    q = qt.MG1(0.8 / size.mean, size, EXP_PRED)
    a = rb.BounceTransform(q, rdp.joint_rule(q, conditional=False), bounce=False)
    assert a.moments()[0] == pytest.approx(float(q.mean_response_time("sprpt")), rel=1e-10)


def _density_rows(rule, p, c, z0):
    """E[f_Z(z0 + c/X)/X; X > p] on the joint rule's full rows (FactorJointRule._split, cut at
    p and where z0 + c/x crosses a kink of Z), one row per point: the rows the module once
    summed."""
    with np.errstate(divide="ignore", invalid="ignore"):
        cuts = [p[:, None]] + [(c / (k - z0))[:, None] for k in rule.kinks if k != z0]
        X, W = rule._split(np.concatenate(cuts, axis=1))
        h = np.where(X > p[:, None], rule.f.pdf(z0 + c[:, None] / X) / X, 0.0)
    return np.sum(W * h, axis=1)


@pytest.mark.parametrize("size,pred", [(qt.Weibull(shape=0.5, mean=1.0), qt.LogNormalPrediction(0.5)),
                                       (qt.Uniform(1.0, 3.0), qt.UniformPrediction(0.5)),
                                       (qt.Uniform(1.0, 3.0), qt.ExponentialPrediction())],
                         ids=["weibull-lognormal", "uniform-uniform", "uniform-exp"])
def test_piece_densities_equal_the_full_rows(size, pred, monkeypatch):
    """The old piece's density E[f_Z(1 + (v - p)/X)/X; X > p] and the capped new jobs'
    E[f_Z((p - v)/X)/X; X > p] (only the size rule's panels above p, all points of all levels
    at once; the factor's density compiled, and the flat route of the other factor laws) equal
    the same integrals on the joint rule's full rows to 1e-14 of their largest value, at points
    on both sides of the size law's ends and of v."""
    q = qt.MG1(0.5 / size.mean, size, pred)
    rule = rdp.joint_rule(q, conditional=False)
    for generic in (False, True):
        if generic:
            monkeypatch.setattr(rb, "_factor_kind", lambda f: (-1, np.zeros(1)))
        for v in (1e-3, 0.5, 1.0, 1.7, 40.0):
            p = np.concatenate([np.geomspace(1e-4, 3 * v, 60), [v, 2 * v, 0.5, 1.0, 3.0]])
            for got, ref in ((rb._rem_density(rule, v, p), _density_rows(rule, p, v - p, 1.0)),
                             (rb._capped_density(rule, v, p), _density_rows(rule, p, p - v, 0.0))):
                assert np.max(np.abs(got - ref)) <= 1e-14 * np.max(np.abs(ref)), (generic, v)


# ---- (b) means and second moments --------------------------------------------------------------
@pytest.mark.parametrize("pred,loads", [(qt.ExponentialPrediction(), (0.5, 0.95)),
                                        (qt.LogNormalPrediction(0.5), (0.95,)),
                                        (qt.UniformPrediction(0.5), (0.95,))],
                         ids=["exp", "lognormal", "uniform"])
def test_means_equal_the_mean_engine(pred, loads):
    """E[T] (unconditional and three classes, one per form of the residence) equals the mean
    engine's (soap_factor: exact to its estimate, about 1e-10) to 1e-9."""
    for load in loads:
        q = _model(load, pred)
        d = q.response_time_distribution("srpt-bounce")
        ref, err = sf.evaluate(q, BOUNCE, [q.arrival_rate])
        assert d.mean() == pytest.approx(float(ref[0]), rel=1e-9)
        for x, y in CLASSES:
            dc = q.response_time_distribution("srpt-bounce", x=x, y=y)
            ce = float(np.ravel(sf.conditional(q, BOUNCE, np.array([x]), np.array([y])))[0])
            assert dc.mean() == pytest.approx(ce, rel=1e-9)


@pytest.mark.parametrize("size", [qt.Uniform(1.0, 3.0), qt.Pareto(2.5, 1.0)], ids=["uniform", "pareto"])
def test_means_on_sizes_with_a_lower_end(size):
    """Sizes whose density jumps at b = 1: the laws at a level v kink at v = b/2 and b
    (rb.LEVEL_KINKS, edges of the threshold grid and of the prediction panels). Measured at load
    0.8 against the mean engine: Uniform(1, 3) 3.9e-6 -> 4.8e-10, Pareto(2.5) 2.4e-7 -> 3.3e-10;
    the class (1.5, 1.0) on Pareto(2.5), whose residence runs through the levels [0.5, 1],
    7.4e-10 -> 2e-14. Pareto (about 5 s of CPU) with QTHEORY_FULL=1 only."""
    if isinstance(size, qt.Pareto) and not FULL:
        pytest.skip("about 5 s of CPU: QTHEORY_FULL=1")
    q = qt.MG1(0.8 / size.mean, size, qt.ExponentialPrediction())
    ref, _ = sf.evaluate(q, BOUNCE, [q.arrival_rate])
    assert q.response_time_distribution("srpt-bounce").mean() == pytest.approx(float(ref[0]), rel=1e-9)
    x, y = 1.5, 1.0
    ce = float(np.ravel(sf.conditional(q, BOUNCE, np.array([x]), np.array([y])))[0])
    assert q.response_time_distribution("srpt-bounce", x=x, y=y).mean() == pytest.approx(ce, rel=1e-12)


def _gl(a, b, n=40):
    t, w = np.polynomial.legendre.leggauss(n)
    return a + (b - a) * (t + 1) / 2, w * (b - a) / 2


def _pm(k, a, b):
    """E[X^k; a < X <= b] of Exp(1) (regularised incomplete gamma)."""
    if not b > a:
        return 0.0
    return math.gamma(k + 1) * (gammainc(k + 1, b) - gammainc(k + 1, a))


def _lin(c, d, k, a, b):
    """E[(cX + d)^k; a < X <= b] of Exp(1)."""
    return sum(math.comb(k, j) * c ** j * d ** (k - j) * _pm(j, a, b) for j in range(k + 1))


def _over_z(fn):
    """E[fn(Z)] for Z ~ Exp(1) (scipy's quad, breakpoints at z = 1/2 and 1)."""
    return sum(integrate.quad(lambda z: fn(z) * math.exp(-z), a, b, epsabs=1e-15, epsrel=1e-13,
                              limit=200)[0] for a, b in [(0, 0.5), (0.5, 1.0), (1.0, 60.0)])


def _new_moment(v, k):
    """E[min(X, XZ + v)^k; XZ < v] for fixed z: the value X up to v/(1 - z), then zX + v up to
    v/z."""
    def f(z):
        b = v / z if z > 0 else math.inf
        c = v / (1 - z) if z < 1 else math.inf
        return _pm(k, 0.0, min(b, c)) + _lin(z, v, k, c, b)
    return _over_z(f)


def _old_moment(r, k):
    """E[min((X - XZ + r)^+, 2r)^k; XZ > r] for fixed z: below z = 1 the value X(1 - z) + r
    up to X = r/(1 - z), then 2r; above, r - X(z - 1) up to X = r/(z - 1)."""
    def f(z):
        a = r / z if z > 0 else math.inf
        if z < 1:
            c = r / (1 - z)
            return _lin(1 - z, r, k, a, c) + (2 * r) ** k * _pm(0, max(a, c), math.inf)
        c = r / (z - 1) if z > 1 else math.inf
        return _lin(1 - z, r, k, a, c)
    return _over_z(f)


def _series_ratio(num, den, n):
    """Taylor coefficients (order < n) of num / den."""
    out = np.zeros(n)
    for i in range(n):
        out[i] = (num[i] if i < len(num) else 0.0) - sum(out[j] * den[i - j] for j in range(i) if i - j < len(den))
        out[i] /= den[0]
    return out


def _class_reference(lam, x, y):
    """E[T | x, y] and E[T^2 | x, y] of SRPT-Bounce on Exp(1) sizes with exponential
    predictions, from the definitions (docs/soap_predictions.md, sections 3-5)."""
    R = max(abs(y), abs(y - x))  # sup of |y - a| on [0, x): at an end (convex in a)
    o = [_new_moment(R, k) for k in (1, 2, 3)]  # X^old_0 = X^new[R] on a continuous law
    p = [_old_moment(R, k) for k in (1, 2, 3)]
    rn = 1 - lam * o[0]  # X^new[R] = X^old_0[R]
    # V(u) = [(1 - rho0 - rho1) u + lam psi1(u)] / [u - lam psi0(u)] as series in u (psi = sum
    # (-1)^(k+1) m_k u^k / k!), both divided by u
    num = [1 - lam * o[0] - lam * p[0] + lam * p[0], -lam * p[1] / 2, lam * p[2] / 6]
    den = [1 - lam * o[0], lam * o[1] / 2, -lam * o[2] / 6]
    c = _series_ratio(num, den, 3)
    ev, ev2 = -c[1], 2 * c[2]
    varv = ev2 - ev * ev
    ew = ev / rn
    varw = varv / rn ** 2 + ev * lam * o[1] / rn ** 3
    # the residence: the worst future rank max(y - a, x - y) over the age, two GL panels
    mean_r = var_r = 0.0
    for a0, a1 in [(0.0, min(x, max(2 * y - x, 0.0))), (min(x, max(2 * y - x, 0.0)), x)]:
        if a1 <= a0:
            continue
        a, w = _gl(a0, a1, 24)
        for ai, wi in zip(a, w, strict=True):
            v = max(y - ai, x - y)
            n1, n2 = _new_moment(v, 1), _new_moment(v, 2)
            mean_r += wi / (1 - lam * n1)
            var_r += wi * lam * n2 / (1 - lam * n1) ** 3
    m = ew + mean_r
    return m, varw + var_r + m * m


@pytest.mark.parametrize("xy", [(1.5, 1.0), (3.0, 1.0)])
def test_class_moments_against_definitions(xy):
    """A class's E[T] and E[T^2] (y < x <= 2y and x > 2y) equal the reference from the
    definitions (the pieces' moments for fixed z in closed form, scipy's quad over z) to 1e-8."""
    q = _model(0.8)
    x, y = xy
    d = q.response_time_distribution("srpt-bounce", x=x, y=y)
    m, m2 = _class_reference(q.arrival_rate, x, y)
    assert d.mean() == pytest.approx(m, rel=1e-8)
    assert d.moment(2) == pytest.approx(m2, rel=1e-8)


def _cauchy_moments(d, r=0.003, n=64):
    th = 2 * np.pi * np.arange(n) / n
    s = r * np.exp(1j * th)
    L = d._t.lst(s) * np.exp(-s * d.shift)
    return -(np.mean(L * np.exp(-1j * th)) / r).real, 2 * (np.mean(L * np.exp(-2j * th)) / r ** 2).real


def test_moments_equal_the_transforms():
    """The closed-form E[T], E[T^2] (unconditional, a class) and E[W], E[W^2] equal the
    transform's own (Cauchy integral on |s| = 0.003) to 1e-8."""
    q = _model(0.8, qt.LogNormalPrediction(0.5))
    for dist in (rtd(q, "srpt-bounce"), rtd(q, "srpt-bounce", x=1.5, y=1.0), wtd(q, "srpt-bounce"),
                 wtd(q, "srpt-bounce", x=3.0, y=1.0)):
        m1, m2 = _cauchy_moments(dist)
        assert dist.mean() == pytest.approx(m1, rel=1e-8)
        assert dist.moment(2) == pytest.approx(m2, rel=1e-8)


# ---- (c) a cdf --------------------------------------------------------------------------------------
def test_cdf_is_a_cdf():
    """The unconditional and class cdfs of T are monotone, in [0, 1] and reach 1; the
    class's atom P(T = x) is the jump at x; percentiles invert the cdf."""
    t = np.geomspace(0.05, 2000, 5)  # a time per 1.5 decades (each costs 0.4 s of CPU)
    for d in (_law_08(), _law_08(1.5, 1.0)):
        c = d.cdf(t)
        assert np.all(np.diff(c) >= -1e-9) and np.all(c >= -1e-9) and np.all(c <= 1 + 1e-9)
        assert c[-1] == pytest.approx(1.0, abs=1e-8)
        p = d.ppf(0.9)
        assert d.cdf(p) == pytest.approx(0.9, abs=1e-8)
    dc = _law_08(1.5, 1.0)
    assert dc.cdf(1.5) == pytest.approx(dc.atom0, abs=1e-12) and dc.cdf(1.5 * (1 - 1e-9)) == 0.0
    assert 0 < dc.atom0 < 1
    # P(T = x) is the transform of T - x at s -> infinity (its rest falls like 1/s)
    assert dc.atom0 == pytest.approx(float(dc._t.lst(np.array([1e6]))[0].real), rel=1e-4)
    assert "SRPT-Bounce" in dc.label and "y=1" in dc.label


#: E[e^{-sT}] at the Euler nodes k of t = 0.9550988 (s = alpha_k / t, the default rule; the p50),
#: Exp(1) sizes, exponential predictions, load 0.8: ``benchmarks/bounce_reference.py`` (an
#: independent implementation: the factor integrated in closed form, Kendall's equation by Newton
#: at each level of its own 20-point panels, its own outer rule in (x, y)), whose panels halved
#: move these by < 1e-16
REF_T = 0.9550988
REF_LST = {10: 1.16798257890413908e-02 - 2.48742993434055391e-02j,
           20: 3.38744135787258371e-03 - 1.43964456825163584e-02j,
           30: 1.55204572975260551e-03 - 9.88783318045638286e-03j,
           38: 9.76491539549811309e-04 - 7.87813648633539469e-03j}


def test_transform_at_large_s_against_an_independent_reference():
    """The unconditional transform at the Euler nodes of a small t (|s| up to 127), where it
    oscillates in the prediction y and the level: the classes' prediction panels 1.0 wide in log
    y and the grid halved left it 9e-9 (k = 30) and 3e-8 (k = 38) off, the cdf at t 3.3e-7;
    now 5e-13 (asserted 5e-12)."""
    from qtheory.engine import laplace_inversion as li

    alpha, _ = li.euler_nodes()
    k = np.array(sorted(REF_LST))
    got = _law_08()._t.lst(alpha[k] / REF_T)
    assert np.max(np.abs(got - np.array([REF_LST[i] for i in k]))) < 5e-12


#: the same at the Euler nodes of t = 38.662209993 (the p99; |s| <= 3.1), from
#: ``bounce_reference.py --t 38.662209993 --nodes 0,10,20,30,38 --scale 0.5``: its default panels
#: (5 / max|s| wide, 1.6 here) were up to 5.5e-9 off at k = 38 (its scale 0.5 against 1.0);
#: halved, it agrees with the engine to 8.7e-13
REF_T99 = 38.662209993
REF_LST99 = {0: 6.27080834827598577e-01 + 0.0j,
             10: 4.30366820803630479e-01 - 2.52561711468866246e-01j,
             20: 2.67735064972100534e-01 - 2.69480833140076259e-01j,
             30: 1.77182211883113616e-01 - 2.44938158776928483e-01j,
             38: 1.32585826494398706e-01 - 2.21799549684055686e-01j}


def test_transform_at_small_s_against_an_independent_reference():
    """At the Euler nodes of the p99 (|s| <= 3.1) the unconditional transform against the
    independent reference on its halved panels: within 8.7e-13 (asserted 5e-12)."""
    from qtheory.engine import laplace_inversion as li

    alpha, _ = li.euler_nodes()
    k = np.array(sorted(REF_LST99))
    got = _law_08()._t.lst(alpha[k] / REF_T99)
    assert np.max(np.abs(got - np.array([REF_LST99[i] for i in k]))) < 5e-12


def test_lumped_small_nodes_keep_the_laws_transforms():
    """rb.lump_small (the nodes below c = 1e-3 of each row replaced by the 8-node Gauss rule of
    their measure) against the rows it replaces, summed directly: the new jobs' law and the old
    piece at levels from 1e-6 to 30 (Exp(1) sizes, exponential predictions), E[1 - e^{-uX}] at
    |u| up to 2400 within 1e-15 + 1e-14 |psi| (measured 4e-16; the Taylor bound
    M (|u| c)^16 / 16! is 2e-10 M at |u| = 2400) and the moments m = 0..3 to 1e-13 relative;
    the rows keep at most 8 nodes below c (more than 16 before) and get shorter."""
    q = _model()
    rule = rdp.joint_rule(q, conditional=False)
    v = np.geomspace(1e-6, 30.0, 12)
    u = np.array([0.3, 1.0 + 2.0j, 30.0 + 100.0j, 300.0 + 600.0j, 13.0 + 2400.0j])
    for X, W in (rb.new_law(rule, v, True), rb.old_piece(rule, v, True)):
        XL, WL = rb.lump_small(X, W, 1e-3)
        for k in range(4):
            assert np.allclose(np.sum(WL * XL ** k, 1), np.sum(W * X ** k, 1), rtol=1e-13, atol=0.0)
        for uu in u:
            a = np.sum(W * -np.expm1(-uu * X), 1)
            b = np.sum(WL * -np.expm1(-uu * XL), 1)
            assert np.all(np.abs(a - b) <= 1e-15 + 1e-14 * np.abs(a))
        small = lambda X, W: np.sum((X < 1e-3) & (W != 0), 1)  # noqa: E731
        assert np.all((small(XL, WL) <= 8) & (small(X, W) > 16))
        assert XL.shape[1] < X.shape[1]


def test_grid_reads_equal_the_grid_locate_and_interp():
    """The compiled panels, cumulative coefficients and Lagrange bases (rb.grid_reads) equal the
    threshold grid's own TGrid.locate and TGrid._interp (numpy, legval), at points in the linear
    head panel, on the log panels, on edges and beyond both ends of a grid of the module's form:
    the same panels, the bases to 1e-12, and the cumulative integral of g(t) = t^{1/2} on the
    grid to 1e-13 relative (the coefficients near a panel's start are differences of O(1)
    terms in either method)."""
    from qtheory.engine._joint_rule import log_tgrid

    edges = np.concatenate([np.arange(-30.0, 2.0, 1.0), np.linspace(2.0, 4.0, 9)])
    grid = log_tgrid(edges, math.exp(edges[0]))
    c = np.concatenate([[0.0, 1e-14, 5e-14, math.exp(-30.0), math.exp(-6.0), 1.0, 54.0, 1e3],
                        np.geomspace(1e-13, 60.0, 400)])
    p, coef, pi, basis = rb.grid_reads(edges, grid.t, c)
    p0, coef0 = grid.locate(c)
    pi0, basis0 = grid._interp(c)
    assert np.array_equal(p, p0) and np.array_equal(pi, pi0)
    g = np.sqrt(grid.t)
    Rc = grid.panel_integrals(g)
    idx = np.minimum(grid.starts[p][:, None] + np.arange(grid.L), grid.t.size - 1)
    cum, cum0 = Rc[p] + np.sum(g[idx] * coef, axis=1), Rc[p] + np.sum(g[idx] * coef0, axis=1)
    assert np.all(np.abs(cum - cum0) <= 1e-13 * np.abs(cum0))
    assert np.max(np.abs(basis - basis0)) <= 1e-12


def test_lst_kernel_sums_are_compensated():
    """The kernel's sum over the classes is compensated (Neumaier): one class of weight 1 and
    1000 of weight 1e-16 sum to 1 + 1e-13 to 1e-15 (a plain running sum returns 1.0: each 1e-16
    is lost). On the unconditional law (615644 classes) the plain sum's round-off, amplified by
    the Euler weights, left the sf at p99 and p99.9 jittering by 4e-10 (std over t 1e-8 apart;
    the p99 moved by 2e-8 relative, the p99.9 by 1e-7); compensated: 4e-12."""
    ns, L, nq = 2, 10, 1001
    s = np.array([1.0 + 0.0j, 0.5 + 3.0j])
    G = np.zeros((L, ns), complex)
    V = np.ones((L, ns), complex)
    Rc = np.zeros((2, ns), complex)
    basis = np.zeros((1, L))
    basis[0, 0] = 1.0
    w = np.concatenate([[1.0], np.full(nq - 1, 1e-16)])
    zi, zf = np.zeros(nq, np.int64), np.zeros(nq)
    out = np.empty(ns, complex)
    rb._lst_kernel(s, G, V, Rc, np.array([0]), L, np.array([0]), np.zeros((1, L)), basis, zi,
                   np.ones(nq), w, zi, np.zeros((nq, L)), np.zeros((nq, L)), zf, zf,
                   np.zeros(nq, bool), False, True, out)
    assert np.max(np.abs(out - (1.0 + 1e-13))) <= 1e-15


# ---- (d) against the simulator ---------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("case", ["exp-exp-0.8", "weibull-lognormal-0.5"])
def test_percentiles_against_simulation(case):
    """p50, p90, p99 of the unconditional law against qt.simulate's percentiles (16
    replications), each at the policy's level; 3 statistical assertions per case."""
    if case == "exp-exp-0.8":
        q, d = _model(0.8), _law_08()
    else:
        q = qt.MG1(0.5, qt.Weibull(shape=0.5, mean=1.0), qt.LogNormalPrediction(0.5))
        d = rtd(q, "srpt-bounce")
    exact = d.ppf([0.5, 0.9, 0.99], rtol=1e-7)
    r = qt.simulate(q, "srpt-bounce", jobs=400_000 if FULL else 150_000, replications=16, seed=2025,
                    percentiles=(50, 90, 99))
    for level, e in zip((50, 90, 99), exact, strict=True):
        hw = halfwidth(r.percentile_ci[level], r.replications)
        # the histogram's bins add up to 1e-3 relative (hist_percentile)
        assert abs(r.percentiles[level] - e) <= hw + 1e-3 * e, (level, e, r.percentiles[level], hw)


# ---- the other generic policies on continuous laws: an approximation ---------------------------------
def test_discretised_approximation_against_closed_form():
    """A generic policy that has no exact route on a continuous law (here PSJF's rank as a
    qt.Rank with descriptor "size") gets the distribution of the evaluator's discretisation,
    labelled an approximation; its true error (against PSJF's closed-form distribution) at p50,
    p90, p99 and on the cdf is inside its error estimate (measured: 3e-4, 0.019, 0.41 against
    estimates 0.045, 0.038, 0.80). Size ranks now take the exact transform by default
    (tests/test_distribution_size_ranks.py): the approximation is called directly."""
    from qtheory.engine import response_distribution_generic as rdg

    q = qt.MG1(0.8, qt.Exponential(1.0))
    pol = qt.Rank(lambda d, a: d + 0.0 * a, descriptor="size")
    d = rdg.build_discretised(q, pol, waiting=False)
    ref = rtd(q, "psjf")
    assert d.label.startswith("approximation:")
    lv = [0.5, 0.9, 0.99]
    assert np.all(np.abs(d.ppf(lv) - ref.ppf(lv)) <= d.ppf_error(lv))
    t = np.array([0.5, 2.0, 10.0])
    assert np.all(np.abs(d.cdf(t) - ref.cdf(t)) <= d.cdf_error(t) + 1e-9)


def test_prediction_ranks_on_continuous_laws_say_where_the_approximation_is():
    """A prediction rank without an exact route (here one not monotone in age, undeclared) on a
    continuous law raises: its discretised approximation takes about a minute, so it is given
    only on request, and the message names the call."""
    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    rank = qt.Rank(lambda y, a: y - a + 0.1 * np.sin(20 * a), descriptor="prediction", name="wiggle")
    with pytest.raises(NotImplementedError, match="build_discretised"):
        q.response_time_distribution(rank)
