"""Response-time distributions of a user prediction rank that never decreases with age
(``qt.Rank(fn, descriptor="prediction", monotone="increasing")``) on continuous sizes with a
multiplicative prediction law: qtheory/engine/response_distribution_prediction_rank_rising.py
(issue 16).

Truth: (a) the formula (FB's transform at the level R = r(y, x^-), piece min(X, c_Y(R)))
against the generic SOAP transform of a discrete law (qt.EmpiricalPairs, exact, written from
SOAP's decomposition without this route's code), fed the discrete law's pieces in closed form;
(b) the piece rule's transform against nested scipy quadrature of its two parts written from
the definitions; (c) ranks ordering jobs as PSPJF (``y``) and FB (``a``) against those
policies' own transforms (the prediction route and the size route: other code); (d) class and
unconditional means against the mean engine (soap_prediction_rank_rising: level interpolants,
no transform); (e) slow: the class transform against an mpmath reference at the Euler nodes,
the unconditional cdf and mean.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import integrate

import qtheory as qt
from qtheory.engine import laplace_inversion as li
from qtheory.engine import response_distribution_prediction_rank_rising as rr
from qtheory.engine import soap_prediction_rank_rising as sr
from qtheory.engine.response_distribution import response_time_distribution as rtd
from qtheory.engine.response_distribution import waiting_time_distribution as wtd
from qtheory.engine.response_distribution_generic import GenericTransform

S_POINTS = np.array([0.3, 1.0 + 2.0j, 5.0 - 7.0j, 20.0 + 40.0j])


def _rank(fn, name):
    return qt.Rank(fn, descriptor="prediction", monotone="increasing", name=name)


PLUS = _rank(lambda y, a: y + a, "y + a")
TIMES = _rank(lambda y, a: y * (1.0 + a), "y (1 + a)")
STATIC = _rank(lambda y, a: y + 0.0 * a, "y")
AGE = _rank(lambda y, a: a + 0.0 * y, "a")
#: the cut-off c_y(R) of each rank in closed form
CUT = {"y + a": lambda y, R: np.maximum(R - y, 0.0),
       "y (1 + a)": lambda y, R: np.maximum(R / y - 1.0, 0.0)}


@functools.cache
def _model(size: str = "exp", pred: str = "exp") -> qt.MG1:
    s = qt.Exponential(1.0) if size == "exp" else qt.Weibull(0.5, 1.0)
    p = qt.ExponentialPrediction() if pred == "exp" else qt.LogNormalPrediction(0.5)
    return qt.MG1(0.8 / s.mean, s, p)


# ---- (a) the formula against the discrete generic route ----------------------------------------------
@pytest.mark.parametrize("rank", [PLUS, TIMES], ids=["plus", "times"])
def test_formula_is_the_discrete_generic_transform(rank):
    """On 200 pairs (Exp sizes, exponential predictions) a class's transform of T - x, its
    moments and P(T = x) from this module's formula, fed the discrete law's pieces
    min(x_k, c_{y_k}(R)), equal the generic SOAP transform of the discrete law within 1e-13
    (measured 3e-16 on 300 pairs)."""
    rng = np.random.default_rng(5)
    n = 200
    xs = rng.exponential(1.0, n)
    ys = xs * rng.exponential(1.0, n)
    lam = 0.8 / xs.mean()
    q = qt.MG1(lam, prediction=qt.EmpiricalPairs(xs, ys, np.full(n, 1.0 / n)))
    for k in (3, 17):
        x, y = float(xs[k]), float(ys[k])
        ref = GenericTransform(q, rank, x=x, y=y)
        assert ref.shifted
        P = np.minimum(xs, CUT[rank.name](ys, float(rank.fn(y, x))))
        keep = P > 0
        tr = rr.RisingRankTransform(_model(), rank, x=1.0, y=1.0)  # a class, then the discrete rows
        tr.lam = lam
        tr.Xo = np.array([x])
        tr.set_pieces(P[keep][None, :], np.full((1, int(keep.sum())), 1.0 / n))
        assert np.max(np.abs(tr.lst(S_POINTS) - ref.lst(S_POINTS))) < 1e-13
        assert abs(tr.atom() - ref.atom()) < 1e-13
        m, m_ref = np.array(tr.moments()), np.array(ref.moments())
        assert np.all(np.abs(m - m_ref) <= 1e-12 * np.abs(m_ref))


# ---- (b) the piece rule against nested quadrature ----------------------------------------------------
def _psi_reference(R: float, u: complex) -> complex:
    r"""E[1 - e^{-uP}] for y + a on Exp sizes with exponential predictions, P = min(X, R - Y)
    on Y < R: whole jobs with density e^{-x}(1 - e^{-(R - x)/x}) on (0, R), and cut jobs
    P = R - y with weight g(y) = int_{R - y}^inf e^{-x - y/x}/x dx (scipy.integrate.quad)."""
    def whole(x):
        return (1.0 - np.exp(-u * x)) * math.exp(-x) * -math.expm1(-(R - x) / x)

    def g(y):
        return integrate.quad(lambda x: math.exp(-x - y / x) / x, R - y, np.inf,
                              epsabs=1e-16, epsrel=1e-13, limit=200)[0]

    def cut(y):
        return (1.0 - np.exp(-u * (R - y))) * g(y)

    out = 0j
    for f in (whole, cut):
        for part in (np.real, np.imag):
            v = integrate.quad(lambda t, f=f, part=part: float(part(f(t))), 0.0, R,
                               epsabs=1e-15, epsrel=1e-13, limit=400)[0]
            out += v if part is np.real else 1j * v
    return out


def test_piece_transform_against_quadrature():
    """y + a on Exp/Exp at the level R = 1.5: E[1 - e^{-uP}] from the piece rule within 1e-13
    of nested scipy quadrature at u = 0.7, 3 + 4i, 20 + 40i, and 1e-12 at 60 + 300i (there the
    scipy reference itself is 2e-13 off: mpmath at 20 digits, 380 s, is 4e-16 from the piece
    rule); N(R), S(R) within 1e-12 of the mean engine's level functions."""
    q = _model()
    rule = rr.piece_rule(q, PLUS)
    R = 1.5
    X, W = rule.row(R)
    for u, tol in ((0.7, 1e-13), (3.0 + 4.0j, 1e-13), (20.0 + 40.0j, 1e-13), (60.0 + 300.0j, 1e-12)):
        mine = np.sum(W * (1.0 - np.exp(-u * X)))
        assert abs(mine - _psi_reference(R, u)) < tol
    N, S = sr.levels(q, PLUS).values(np.array([R]))
    assert abs(W @ X - N[0]) < 1e-12 * N[0]
    assert abs(W @ X ** 2 - S[0]) < 1e-12 * S[0]


# ---- (c) the twins: PSPJF and FB ------------------------------------------------------------------------
@pytest.mark.parametrize("pred", ["exp", "ln"])
def test_static_rank_is_pspjf(pred):
    """The rank y orders jobs as PSPJF: a class's T - x and W, transform at four points within
    1e-12 of PSPJF's (measured 1e-16), moments within 1e-12, P(T = x) and P(W = 0) within 1e-14,
    the class cdf within 1e-9 (measured 1.3e-10 at t - x = 0.3; 5e-7 before PSPJF's class rule
    was refined in sessions 36-37; PSPJF's class transform is 1.5e-10 from an mpmath reference at
    the Euler nodes of t = 0.3 where ours is 1.3e-14, test_class_transform_against_mpmath)."""
    q = _model("exp", pred)
    x, y = 1.0, 0.5
    for f in (rtd, wtd):
        a, b = f(q, STATIC, x=x, y=y), f(q, qt.PSPJF(), x=x, y=y)
        assert isinstance(a._t, rr.RisingRankTransform)
        assert np.max(np.abs(a.laplace(S_POINTS) - b.laplace(S_POINTS))) < 1e-12
        assert abs(a.atom0 - b.atom0) < 1e-14
        for k in (1, 2):
            assert abs(a.moment(k) - b.moment(k)) < 1e-12 * b.moment(k)
    a, b = rtd(q, STATIC, x=x, y=y), rtd(q, qt.PSPJF(), x=x, y=y)
    t = x + np.array([0.05, 0.3, 1.0, 3.0, 10.0])
    assert np.max(np.abs(a.cdf(t) - b.cdf(t))) < 1e-9


@pytest.mark.parametrize("size", ["exp", "weibull"])
def test_age_rank_transform_is_las(size):
    """The rank a is FB: a class's transform of T - x at four points and 60 + 300i within 1e-14
    of LAS's (the size route), its mean and second moment within 1e-12 (the third moment of the
    piece enters). Its distribution is declined (the piece min(X, R) has an atom at R, the law
    atoms at multiples of x that the inversion does not place: qt.LAS())."""
    q = _model(size, "ln")
    tr = rr.RisingRankTransform(q, AGE, x=1.0, y=0.5)
    b = rtd(q, qt.LAS(), x=1.0)
    s = np.append(S_POINTS, 60.0 + 300.0j)
    assert np.max(np.abs(tr.lst(s) - b._t.lst(s))) < 1e-14
    m, mb = np.array(tr.moments()), np.array(b._t.moments())
    assert np.all(np.abs(m - mb) <= 1e-12 * mb)
    assert not rr.supported(q, AGE)


# ---- (d) means against the mean engine --------------------------------------------------------------------
@pytest.mark.parametrize("rank,size,pred", [(PLUS, "exp", "exp"), (TIMES, "weibull", "ln")],
                         ids=["plus-exp", "times-weibull-ln"])
def test_class_means_are_the_mean_engines(rank, size, pred):
    """E[T | x, y] of two classes within 1e-9 relative of the mean engine's conditional mean
    (measured 1e-16 to 4e-11; the mean engine's own estimate is 1e-8 to 3e-7)."""
    q = _model(size, pred)
    for x, y in [(1.0, 0.5), (0.3, 2.0)]:
        d = rtd(q, rank, x=x, y=y)
        ref = float(sr.conditional(q, rank, np.array(x), np.array(y)))
        assert abs(d.mean() - ref) < 1e-9 * ref
        assert d.moment(2) > d.mean() ** 2


def test_uniform_errors_piece_and_class_means():
    """Uniform(0.5) errors (the factor's density jumps at 0.5 and 1.5): y + a on Exp sizes, the
    piece's E[1 - e^{-uP}] at R = 1.5 within 1e-13 of nested scipy quadrature split at the kinks
    R/(1 + k) and R k/(1 + k) (measured 2e-16; without the kink edges of the piece rule 5.3e-6
    at u = 0.7), and class means within 1e-9 of the mean engine's (measured 1e-15)."""
    from scipy import special

    q = qt.MG1(0.8, qt.Exponential(1.0), qt.UniformPrediction(0.5))
    a, b, R = 0.5, 1.5, 1.5

    def ref(u):
        def FZ(z):
            return min(max((z - a) / (b - a), 0.0), 1.0)

        def g(y):
            lo, hi = max(R - y, y / b), y / a
            return (special.exp1(lo) - special.exp1(hi)) / (b - a) if hi > lo else 0.0

        out = 0j
        for f, pts in ((lambda x: (1 - np.exp(-u * x)) * math.exp(-x) * FZ((R - x) / x), [R / (1 + a), R / (1 + b)]),
                       (lambda y: (1 - np.exp(-u * (R - y))) * g(y), [R * a / (1 + a), R * b / (1 + b)])):
            for part in (np.real, np.imag):
                v = integrate.quad(lambda t, f=f, part=part: float(part(f(t))), 0.0, R, points=pts,
                                   epsabs=1e-15, epsrel=1e-13, limit=400)[0]
                out += v if part is np.real else 1j * v
        return out

    X, W = rr.piece_rule(q, PLUS).row(R)
    for u in (0.7, 20.0 + 40.0j):
        assert abs(np.sum(W * (1.0 - np.exp(-u * X))) - ref(u)) < 1e-13
    for x, y in [(1.0, 0.5), (2.0, 2.5)]:
        m = float(sr.conditional(q, PLUS, np.array(x), np.array(y)))
        assert abs(rtd(q, PLUS, x=x, y=y).mean() - m) < 1e-9 * m


def test_declined_with_a_message():
    """The rank a, and the waiting time of a rank that rises with age raise NotImplementedError
    naming what is covered."""
    with pytest.raises(NotImplementedError, match="monotone='increasing'"):
        rtd(_model(), AGE, x=1.0, y=1.0)
    with pytest.raises(NotImplementedError, match="waiting time of a rank rising"):
        wtd(_model(), PLUS, x=1.0, y=1.0)


# ---- (e) slow ---------------------------------------------------------------------------------------------
def test_class_transform_against_mpmath():
    """The rank y (PSPJF) on Exp/Exp, class (1, 0.5): the transform of T - x at Euler nodes of
    t = 0.3 within 1e-13 of an mpmath reference (Kendall's equation by Newton's method on
    mp.quad of e^{-x}(1 - e^{-y/x}), 30 digits; measured 1.3e-14)."""
    import mpmath as mp

    mp.mp.dps = 30
    lam, Y, x = mp.mpf(0.8), mp.mpf(0.5), 1.0
    dens = lambda t: mp.exp(-t) * (1 - mp.exp(-Y / t))  # noqa: E731

    def ref(s):
        s = mp.mpc(s)
        eta = s
        pts = sorted({mp.mpf(k) / (abs(s) / 20 + 1) for k in range(1, 400)} | {mp.mpf(0)})
        pts = [p for p in pts if p < 60] + [mp.inf]
        for _ in range(30):
            g = eta - s - lam * mp.quad(lambda t, e=eta: (1 - mp.exp(-e * t)) * dens(t), pts)
            d = 1 - lam * mp.quad(lambda t, e=eta: t * mp.exp(-e * t) * dens(t), pts)
            step = g / d
            eta -= step
            if abs(step) < mp.mpf(10) ** -25:
                break
        m1 = mp.quad(lambda t: t * dens(t), [0, 1, 5, mp.inf])
        return complex((1 - lam * m1) * eta / s * mp.exp(-x * (eta - s)))

    tr = rr.RisingRankTransform(_model(), STATIC, x=x, y=0.5)
    al, _ = li.euler_nodes()
    s = al[[0, 10, 25, 37]] / 0.3
    mine = tr.lst(s)
    for k in range(s.size):
        assert abs(mine[k] - ref(complex(s[k]))) < 1e-13


@pytest.mark.parametrize("rank", [PLUS, STATIC], ids=["plus", "static"])
def test_unconditional_mean_and_cdf(rank):
    """Unconditional on Exp/Exp: the mean within 1e-9 relative of the mean engine's (measured
    2e-13), E[T^2] > E[T]^2; the rank y's cdf within 2e-8 of PSPJF's (measured 9.4e-9 at
    t = 2, 3.2e-9 at t = 1; ours moves by 1e-11 on rules twice as fine)."""
    q = _model()
    d = rtd(q, rank)
    ref = q.mean_response_time(rank)
    assert abs(d.mean() - float(ref)) < 1e-9 * float(ref)
    assert d.moment(2) > d.mean() ** 2
    if rank is STATIC:
        t = np.array([0.1, 0.5, 2.0, 8.0, 30.0])
        assert np.max(np.abs(d.cdf(t) - rtd(q, qt.PSPJF()).cdf(t))) < 2e-8


def test_level_grid_follows_the_cut_pieces_oscillation():
    """eta_R(s) oscillates in the level R where pieces are cut (y + a: the cut piece's top
    c_0(R) = R puts e^{-eta R} in it): on a panel of the default grid's fine width at R = 0.3,
    the 16-point interpolant of eta_R(s) - s matches direct solves at four off-node levels
    within 1e-9 at the largest |s| of t = 1's Euler contour (measured 1.3e-11; the old panels
    2 wide 6.5e-5, 0.5 wide 6.9e-7: the unconditional cdf at t = 1 was 1.7e-6 off)."""
    from qtheory.engine.response_distribution import busy_eta
    from qtheory.engine.soap_prediction_rank_rising import _lagrange
    from qtheory.laws._quadrature import panels

    q = _model()
    rule = rr.piece_rule(q, PLUS)
    al, _ = li.euler_nodes()
    s = al[-6:] / 1.0
    a = math.log(0.3)
    b = a + rr.GRID_WIDTH
    u, _ = panels(np.array([a, b]), rr.GRID_ORDER)
    X, W = rule.rows(np.exp(u))
    eta = busy_eta(s, q.arrival_rate, X, W) - s[:, None]
    tm = np.array([-0.9, -0.3, 0.3, 0.9])
    X, W = rule.rows(np.exp((a + b) / 2 + (b - a) / 2 * tm))
    direct = busy_eta(s, q.arrival_rate, X, W) - s[:, None]
    assert np.abs(eta @ _lagrange(tm, rr.GRID_ORDER).T - direct).max() < 1e-9
