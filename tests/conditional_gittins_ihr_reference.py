r"""An independent quadrature reference for the level functions of ConditionalGittins on
Weibull(2) sizes (mean 1) with exponential predictions (:math:`Y = XZ`, :math:`Z \sim
\mathrm{Exp}(1)`): ``scipy.integrate.quad`` and ``scipy.optimize.brentq``; nothing here imports
the library.

Given :math:`Y = y` the joint density :math:`k(x, y) = f(x) e^{-y/x}/x \propto
e^{-\pi x^2/4 - y/x}` is log-concave in :math:`x` (the second derivative of its log is
:math:`-\pi/2 - 2y/x^3 < 0`), so the hazard of :math:`X \mid y` rises all along and the
Gittins rank is the mean residual life :math:`r(y, a) = \int_a^\infty S_y / S_y(a)`, falling
in the age (``docs/gittins.md``). Hence :math:`\{a : r(y, a) \le \ell\} = [B_y(\ell), \infty)`
with :math:`r(y, B) = \ell` (:math:`B = 0` where :math:`r(y, 0) \le \ell`), and with
:math:`y_0(\ell)` where :math:`r(y_0, 0) = \ell` (:math:`r(y, 0)` rises from :math:`2/\pi` at
:math:`y \to 0`; checked on a grid below):

.. math::
    N(\ell) = E[X (1 - e^{-y_0/X})], \qquad
    S_2(\ell) = E[X^2 (1 - e^{-y_0/X})]
              + \int_{y_0}^\infty \int_{B_y}^\infty (x - B_y)^2 k(x, y)\,dx\,dy

(:math:`y_0 = 0` for :math:`\ell \le 2/\pi`: every prediction then has old work only).

With a uniform factor on :math:`[z_{lo}, z_{hi}]` (``qt.UniformPrediction``,
``qt.BoundedMultiplicative``) the same holds on the support :math:`[y/z_{hi}, y/z_{lo}]` of
:math:`X \mid y` (the density :math:`\propto e^{-\pi x^2/4}` there is log-concave, its hazard
climbs to infinity at the top end), with :math:`F_Z` the uniform law's cdf in place of
:math:`1 - e^{-z}`.

Other sizes and factor laws (``size NAME``: ``weibull2`` (default), ``weibull1.5``, ``erlang2``,
``exp``, all of mean 1; ``loguniform ZLO ZHI``: the factor log-uniform on the support, density
:math:`1/(z \log(z_{hi}/z_{lo}))`): the argument needs :math:`X \mid y` log-concave, its
density :math:`\propto f(x) f_Z(y/x)/x`, i.e. :math:`f(x)/x` on the support for a uniform
factor (Weibull(2): :math:`e^{-\pi x^2/4}`; Erlang(2): :math:`e^{-2x}`) and :math:`f(x)` for a
log-uniform one (Weibull(k >= 1), Erlang, exponential); :func:`check_log_concave` checks it on a
grid of predictions (second differences of :math:`\log k` in :math:`x`).

Run ``python tests/conditional_gittins_ihr_reference.py [size NAME] [uniform|loguniform ZLO ZHI]
L1 L2 ...`` (a few seconds a level), or ``... [split U0 U1 N] mean WORKERS LOAD1 LOAD2 ...`` for
E[T] (``split``: the outer panels between u0 and u1 = log v replaced by n equal ones).
"""

from __future__ import annotations

import math
import sys

import numpy as np
from scipy import integrate, optimize

THETA = 2.0 / math.sqrt(math.pi)  # Weibull(2) scale of mean 1
#: the factor: None (exponential) or the support (z_lo, z_hi) of a bounded factor
UNIFORM = None
#: the bounded factor's law: "uniform" or "loguniform"
LAW = "uniform"
#: the size law (mean 1): "weibull2", "weibull1.5", "erlang2" or "exp"
SIZE = "weibull2"
#: sizes above which the size's tail is below 1e-49 (relative): the top of the predictions is
#: this times z_hi (bounded factors)
XTOP = {"weibull2": 12.0, "weibull1.5": 26.0, "erlang2": 58.0, "exp": 113.0}


def f(x):
    if SIZE == "weibull2":
        return 2.0 * x / THETA ** 2 * math.exp(-((x / THETA) ** 2))
    if SIZE == "weibull1.5":
        th = 1.0 / math.gamma(1.0 + 1.0 / 1.5)
        return 1.5 / th * (x / th) ** 0.5 * math.exp(-((x / th) ** 1.5))
    if SIZE == "erlang2":
        return 4.0 * x * math.exp(-2.0 * x)
    if SIZE == "exp":
        return math.exp(-x)
    raise ValueError(SIZE)


def fz(z):
    if UNIFORM is None:
        return math.exp(-z)
    lo, hi = UNIFORM
    if not lo <= z <= hi:
        return 0.0
    return 1.0 / (z * math.log(hi / lo)) if LAW == "loguniform" else 1.0 / (hi - lo)


def Fz(z):
    if UNIFORM is None:
        return -math.expm1(-z)
    lo, hi = UNIFORM
    if LAW == "loguniform":
        return min(max(math.log(max(z, lo) / lo) / math.log(hi / lo), 0.0), 1.0)
    return min(max((z - lo) / (hi - lo), 0.0), 1.0)


def y_top() -> float:
    """The largest prediction with mass (bounded factors; exponential factors: 200)."""
    return 200.0 if UNIFORM is None else XTOP[SIZE] * UNIFORM[1]


def check_log_concave():
    """log k(x, y) concave in x on the support of X | y, at predictions e^-14 ... y_top
    (second differences on 400 points; raises AssertionError otherwise)."""
    for u in np.linspace(-14.0, math.log(y_top()) - 0.5, 40):
        y = math.exp(u)
        s0, s1 = _support(y)
        s1 = min(s1, 4.0 * XTOP[SIZE])
        xs = np.linspace(s0, s1, 402)[1:-1]
        lk = np.array([math.log(k(x, y)) for x in xs])
        d2 = lk[2:] - 2 * lk[1:-1] + lk[:-2]
        assert np.all(d2 <= 1e-12 * np.abs(lk[1:-1]).max()), (y, d2.max())


def k(x, y):
    return f(x) * fz(y / x) / x if x > 0 else 0.0


def _support(y):
    """X | y lives on [y / z_hi, y / z_lo]."""
    if UNIFORM is None:
        return 0.0, math.inf
    lo, hi = UNIFORM
    return y / hi, (y / lo if lo > 0 else math.inf)


def _q(g, a, b=math.inf, y=None):
    if y is not None:  # inside the support of X | y (uniform factors: its ends are kinks)
        s0, s1 = _support(y)
        a, b = max(a, s0), min(b, s1)
        if not b > a:
            return 0.0
        if UNIFORM is not None and y > 0:
            g0 = g
            g = lambda x: g0(min(max(x, s0), s1))  # noqa: E731  (one-sided limits at the ends)
    pts = [a] + [p for p in (0.25, 0.5, 1.0, 2.0, 4.0) if a < p < b]
    out = 0.0
    for lo, hi in zip(pts, pts[1:] + [b]):
        out += integrate.quad(g, lo, hi, epsabs=0, epsrel=1e-13, limit=400)[0]
    return out


def S(y, t):
    return _q(lambda x: k(x, y), t, y=y)


def mrl(y, a):
    """The rank r(y, a): the mean residual life of X | y at age a."""
    return _q(lambda x: (x - a) * k(x, y), a, y=y) / S(y, a)


def y0(ell):
    """r(y0, 0) = l (0 where l <= 2/pi)."""
    if UNIFORM is None and ell <= 2.0 / math.pi:
        return 0.0
    g = lambda u: mrl(math.exp(u), 0.0) - ell  # noqa: E731
    hi = 0.0
    while g(hi) < 0:
        hi += 2.0
    lo = hi - 2.0
    while g(lo) > 0:
        lo -= 2.0
    return math.exp(optimize.brentq(g, lo, hi, xtol=1e-15, rtol=1e-15))


def b_old(y, ell):
    """MRL(B) = l for a prediction with r(y, 0) > l."""
    g = lambda b: mrl(y, b) - ell  # noqa: E731
    lo, top = _support(y)
    cap = min(top * (1 - 1e-12), max(1.5 * lo, 2.5 * XTOP[SIZE]))  # (beyond, the density underflows)
    hi = min(max(1.0, 2.0 * lo), cap)
    while g(hi) > 0 and hi < cap:
        hi = min(2.0 * hi, cap)
    if g(hi) > 0:  # the root lies where X | y has (next to) no mass left: no old work
        if S(y, hi) > 1e-30:
            raise ArithmeticError(f"no root of mrl(y, b) = {ell} below {hi} at y = {y}")
        return math.inf
    return optimize.brentq(g, 0.0, hi, xtol=1e-15, rtol=1e-14)  # (below y / z_hi: r0 - age)


def levels(ell):
    """(N(l), S2(l))."""
    v0 = y0(ell)
    n = _q(lambda x: x * f(x) * Fz(v0 / x), 0.0)
    s2a = _q(lambda x: x * x * f(x) * Fz(v0 / x), 0.0)

    def old(u):
        y = math.exp(u)
        b = b_old(y, ell)
        if b == math.inf:
            return 0.0
        return y * _q(lambda x: (x - b) ** 2 * k(x, y), b, y=y)

    if UNIFORM is not None:  # r(y, 0) = E[X | y] <= y / z_lo: no old work below l z_lo
        v0 = max(v0, 1e-300)
    ulo = math.log(v0) if v0 > 1e-300 else math.log(1e-16)
    # (bounded factors: X | y >= y / z_hi, and beyond y_top the size's tail is below 1e-49)
    top = math.log(y_top())
    edges = _old_edges(ulo, top)
    s2b = sum(integrate.quad(old, a, b, epsabs=0, epsrel=1e-11, limit=200)[0]
              for a, b in zip(edges[:-1], edges[1:]))
    return n, s2a + s2b


def at_prediction(v):
    """(l, N(l), S2(l), A(l)) at the level l = r(v, 0) (so y0(l) = v: r(y, 0) rises in y), with
    A(l) = E[(X - B_Y(l))^+] the expected age spent at ranks at most l (B = 0 where
    r(y, 0) <= l); the old part of A by mrl(y, B) = l: E[(X - B)^+ | y] = l S_y(B)."""
    ell = mrl(v, 0.0)
    n = _q(lambda x: x * f(x) * Fz(v / x), 0.0)
    s2a = _q(lambda x: x * x * f(x) * Fz(v / x), 0.0)

    def old(u):
        y = math.exp(u)
        b = b_old(y, ell)
        if b == math.inf:
            return 0.0, 0.0
        return (y * _q(lambda x: (x - b) ** 2 * k(x, y), b, y=y), y * ell * S(y, b))

    ulo, top = math.log(v), math.log(y_top())
    edges = _old_edges(ulo, top)
    if UNIFORM is not None:  # the kink where B_y(l) passes the support's start (old work)
        edges = sorted(set(edges + [u for u in _start_crossings(ell) if ulo < u < top]))
    s2b = a1 = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        r = integrate.quad_vec(lambda u: np.array(old(u)), a, b, epsabs=0, epsrel=1e-11,
                               norm="max", limit=200)[0]
        s2b, a1 = s2b + r[0], a1 + r[1]
    return ell, n, s2a + s2b, n + a1


def _old_edges(ulo, top):
    """The panels in u = log y of the old work, from the prediction ``ulo`` whose rank is the
    level (below it r(y, 0) <= l: no old work) to ``top`` = log :func:`y_top`; none where
    ``ulo >= top``: those predictions carry a relative mass below 1e-49 (bounded factors: the
    outer rule's top, log 24, lies above log y_top = log 18 on [0.5, 1.5]; an integral from
    ``ulo`` down to ``top`` took predictions below the level's own, where r(y, 0) < l and
    :func:`b_old` has no root)."""
    if not ulo < top:
        return []
    return [ulo] + [u for u in range(-30, 3, 2) if u > ulo] + [top]


def _start_rank(u):
    """The rank at the start of the support of X | y (uniform factors), y = e^u."""
    y = math.exp(u)
    return mrl(y, _support(y)[0])


def _start_crossings(ell):
    """The u = log y where the rank at the support's start equals ``ell`` (uniform factors):
    bracketed on a grid of 0.25 in u, then brentq."""
    grid = np.arange(U_LOW[SIZE], math.log(y_top()), 0.25)
    g = [_start_rank(u) - ell for u in grid]
    return [optimize.brentq(lambda u: _start_rank(u) - ell, a, b, xtol=1e-14)
            for a, b, ga, gb in zip(grid[:-1], grid[1:], g[:-1], g[1:]) if ga * gb < 0]


def critical_predictions():
    """Uniform factors: the predictions v (log) where r(v, 0) equals the largest rank at the
    support's start (a kink of the level functions, hence of the outer integrand), found by
    bounded scalar minimisation and brentq."""
    r = optimize.minimize_scalar(lambda u: -_start_rank(u), bounds=(-3.0, 3.0), method="bounded",
                                 options={"xatol": 1e-10})
    top = -r.fun
    return [math.log(y0(top))]


#: the top of the outer integral over predictions (log y): above 200 their mass is below 1e-20
U_TOP = math.log(200.0)
#: its panels in u = log v: wide where the integrand is e^u times a constant to 1e-9
U_EDGES = [-30.0, -22.0, -16.0, -12.0, -9.0, -7.0, -5.5, -4.5] + [x / 2 for x in range(-8, 10)] + [U_TOP]


def _gk15():
    """The 15-point Gauss-Kronrod rule on [-1, 1] and its embedded 7-point Gauss rule, from
    numpy's Gauss-Legendre nodes (the Gauss part) and the Kronrod extension solved for
    exactness to degree 22 (checked: both integrate x^k to rounding)."""
    xg, wg = np.polynomial.legendre.leggauss(7)
    # Kronrod nodes: the zeros of the Stieltjes polynomial; here by least squares on moments
    # at the tabulated QUADPACK nodes (positive half)
    xk = np.array([0.991455371120812639206854697526329, 0.864864423359769072789712788640926,
                   0.586087235467691130294144845693013, 0.207784955007898467600689403773245])
    x = np.sort(np.concatenate([xg, xk, -xk]))
    V = np.vander(x, 23, increasing=True).T
    mom = np.array([(1 - (-1) ** (k + 1)) / (k + 1) for k in range(23)])
    w = np.linalg.lstsq(V, mom, rcond=None)[0]
    wgf = np.zeros(15)
    for xi, wi in zip(xg, wg):
        wgf[np.argmin(np.abs(x - xi))] = wi
    return x, w, wgf


#: the outer panels for uniform factors (predictions below e^-15 carry E[T] below 1e-13; above 24
#: none), with an edge at :func:`critical_predictions` added by :func:`mean`
U_EDGES_UNIFORM = [-15.0, -12.0, -9.0, -7.0, -5.5, -4.5] + [x / 2 for x in range(-8, 7)] + [math.log(24.0)]
#: the lowest prediction (log) of the outer rule on bounded factors: where the size's density is
#: positive at 0 (Exp) the predictions below e^-15 carry 1e-7 of E[T] (Weibull(2): y^2 of it)
U_LOW = {"weibull2": -15.0, "weibull1.5": -22.0, "erlang2": -22.0, "exp": -30.0}


def u_edges_bounded():
    """:data:`U_EDGES_UNIFORM` extended to :data:`U_LOW` and :func:`y_top` for the size law."""
    top = math.log(y_top())
    lo = [u for u in (-30.0, -26.0, -22.0, -18.0) if u >= U_LOW[SIZE]]
    mid = [x / 2 for x in range(-8, int(2 * top) + 1) if x / 2 < top - 0.25]
    return lo + [-15.0, -12.0, -9.0, -7.0, -5.5, -4.5] + mid + [top]


def mean(lams, workers: int = 1, split=None):
    r"""E[T] of ConditionalGittins at each arrival rate in ``lams`` (exponential predictions).
    The rank falls in the age, so the worst future rank at age a is r(y, a): with
    :math:`g(\ell) = 1/(1 - \lambda N(\ell))`, SOAP gives
    :math:`E[T] = E[\lambda S_2(r(Y, 0)) g(r(Y, 0))^2 / 2] + \int g\,dA`, and by parts, with
    :math:`\ell = r(v, 0)` (so :math:`dN = r(v, 0) f_Y(v) dv`),

    .. math::
        E[T] = \frac{1}{1 - \rho} + \lambda \int_0^\infty f_Y(v)
               \frac{S_2(r(v, 0))/2 - r(v, 0) A(r(v, 0))}{(1 - \lambda N(r(v, 0)))^2} dv,

    integrated in u = log v by 15-point Gauss-Kronrod panels (:data:`U_EDGES`; below e^-30
    the integrand is below 1e-13 of the value, above 200 the predictions' mass below 1e-20),
    the level functions at each node by nested quadrature (``workers`` processes). Uniform
    factors (``UNIFORM``): the rank falls in the age as well (by 1 a unit of age below the
    support's start, as the mean residual life inside it), so the same formula holds; the panels
    are :data:`U_EDGES_UNIFORM` with an edge at :func:`critical_predictions`. Returns
    (E[T] per load, the embedded 7-point Gauss rule's difference). ``split`` = (u0, u1, n):
    the panels between the edges u0 and u1 replaced by n equal ones (where the outer integrand
    has a kink inside a panel: Weibull(2) with the factor on [0.5, 1.5], [0, 0.5] quartered
    moves E[T] by -5.8e-10 at load 0.5, the Gauss difference 6.4e-10 -> 6.3e-11)."""
    lams = np.asarray(lams, float)
    x, wk, wg = _gk15()
    if UNIFORM is None:
        e = np.asarray(U_EDGES)
    else:
        e = np.unique(np.concatenate([U_EDGES_UNIFORM if SIZE == "weibull2" and LAW == "uniform"
                                      else u_edges_bounded(), critical_predictions()]))
    if split is not None:
        u0, u1, n = split
        e = np.unique(np.concatenate([e[(e < u0) | (e > u1)], np.linspace(u0, u1, int(n) + 1)]))
    h = np.diff(e)[:, None] / 2
    u = (e[:-1, None] + h * (x[None, :] + 1)).ravel()
    if workers > 1:
        import multiprocessing

        with multiprocessing.Pool(workers) as pool:
            vals = pool.map(_node, u.tolist())
    else:
        vals = [_node(v) for v in u.tolist()]
    V = np.array(vals)  # (nodes, 4): v f_Y(v), l, N, S2 - 2 l A
    F = V[:, 0:1] * (V[:, 3:4] / 2) / (1 - lams[None, :] * V[:, 2:3]) ** 2
    K = ((h * wk[None, :]).ravel()[:, None] * F).sum(0)
    G = ((h * wg[None, :]).ravel()[:, None] * F).sum(0)
    return 1 / (1 - lams) + lams * K, lams * np.abs(K - G)


def _node(u):
    v = math.exp(u)
    mass = _q(lambda x: k(x, v), 0.0, y=v)
    if mass == 0.0:  # (uniform factors: beyond the size law's range)
        return 0.0, 0.0, 0.0, 0.0
    ell, n, s2, a = at_prediction(v)
    return v * _q(lambda x: k(x, v), 0.0, y=v), ell, n, s2 - 2 * ell * a


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] == "size":
        SIZE = args[1]
        args = args[2:]
    if args and args[0] in ("uniform", "loguniform"):
        LAW = args[0]
        UNIFORM = (float(args[1]), float(args[2]))
        args = args[3:]
        check_log_concave()
    split = None
    if args and args[0] == "split":
        split = (float(args[1]), float(args[2]), int(args[3]))
        args = args[4:]
    if args and args[0] == "mean":
        m, err = mean([float(v) for v in args[2:]], workers=int(args[1]), split=split)
        print("E[T]", [repr(float(v)) for v in m], "|K15 - G7| relative", (err / m).tolist())
        sys.exit(0)
    r = [mrl(math.exp(u), 0.0) for u in range(-30 if UNIFORM is None else int(U_LOW[SIZE]), 3)]
    assert all(b > a for a, b in zip(r, r[1:])), "r(y, 0) not increasing"
    for v in args:
        print(v, levels(float(v)))
