r"""An independent, slow reference for the single-server SOAP response times (tests only).

Written from the SOAP mean-response-time theorem (Scully, Harchol-Balter, Scheller-Wolf, POMACS
2018) reduced to the built-in policies, without any of the engine's threshold functions or
quadrature helpers: the densities of the size laws and the conditional laws of the prediction
are written here from each law's parameters, and every expectation is an adaptive quadrature
over the joint law of (X, Y) to 1e-12 relative, split at every kink, support end and atom, or an
exact sum over atoms. The quadrature is written here too (:func:`_vquad_many`, :func:`vquad_pieces`):
Gauss-Kronrod (10, 21) with QUADPACK's error estimate, the integrands evaluated on numpy arrays;
the inner expectations of all the thresholds an outer integral needs (A, B, C, G, the density
of Y, the partial moments) are computed at once, each to its own tolerance, which makes the
reference about 3-10x faster than with ``scipy.integrate.quad`` and Python callbacks (the values
agree with that version to 3e-13 relative on the cases of the tests). Conventions: a new
job counts while its rank is strictly below the tagged job's worst future rank, an old job
while it is at most that rank, so that with

.. math::
    A_<(v) = E[X 1\{Y<v\}],\ A_\le(v) = E[X 1\{Y\le v\}],\ B(v) = E[X^2 1\{Y\le v\}],\
    C(v) = E[((X-(Y-v))^+)^2 1\{Y>v\}],\ d(y) = (1-\lambda A_\le(y))(1-\lambda A_<(y)),

the conditional means are

* SPJF  :math:`x + \lambda E[X^2]/(2 d(y))`,
* PSPJF :math:`\lambda B(y)/(2 d(y)) + x/(1-\lambda A_<(y))`,
* SPRPT :math:`\lambda(B(y)+C(y))/(2 d(y)) + \int_0^{\min(x,y)} dt/(1-\lambda A_<(y-t)) + (x-y)^+`,

and the size-based policies are the same formulas with Y = X (SJF, PSJF, SRPT), plus FCFS
(Pollaczek-Khinchine), PS (:math:`x/(1-\rho)`) and LAS (:math:`x/(1-\bar\rho_x) + \lambda
E[\min(X,x)^2]/(2(1-\bar\rho_x)^2)`, :math:`\bar\rho_x = \lambda E[\min(X,x)]`).

Means integrate the conditional mean over the joint law: the terms in the prediction y are
integrated against the marginal of Y (its density :math:`f_Y(y) = E[f_{Y|X}(y|X)]` or its
atoms); the SPRPT residence term by Fubini, :math:`E[\int_{(Y-X)^+}^{Y} dv/(1-\lambda A_<(v))] =
\int_0^\infty P(v < Y \le X + v)/(1-\lambda A_<(v))\,dv`. Slowdowns weight the same integrals
by :math:`1/x`. Infinite moments give ``inf``, decided from the parameters (a Pareto tail index,
:math:`E[1/X] = \infty` for a density positive or singular at 0), never from a large number: a
slowdown is infinite when :math:`E[1/X] = \infty` and the waiting time of a job of size
:math:`x \to 0` does not vanish (FCFS, SJF, SPJF; SPRPT when :math:`C(0) > 0`; PSPJF and SPRPT
with one-bit labels, :math:`B(0) > 0`); a waiting term is infinite when :math:`E[X^2] = \infty`
and :math:`P(Y \le v \mid x)` (for B) or :math:`C`'s integrand over :math:`x^2` (for C) has a
positive limit as :math:`x \to \infty`.

Usage::

    m = RefModel(qt.LogNormal(1.0), qt.LogNormalPrediction(2.0))
    m.mean_response_time("sprpt", lam), m.mean_slowdown("pspjf", lam)
    m.response_time("sprpt", lam, x, y), m.light_traffic("sprpt")  # d E[T] / d lam at 0

Size laws: Exponential, Deterministic, Uniform, Erlang, HyperExponential, LogNormal, Weibull,
Pareto, BoundedPareto, Empirical and Mixtures of them; predictions: Perfect, Exponential,
Uniform, LogNormal, BoundedMultiplicative (uniform or log-uniform factor, or a fixed factor),
OneBit, EmpiricalPairs. The functions of the threshold are cached per model, so further loads
and policies are cheap. Checked against mpmath: ``mp_reference`` (M/M/1 SJF, PSJF, SRPT and
exponential predictions: 1e-16; Weibull SPJF: 2e-10) and direct mpmath integrals of Pareto SRPT
and of a Weibull SRPT slowdown (1e-13).
"""

from __future__ import annotations

import bisect
import functools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from scipy import integrate, special

INF = math.inf
#: relative tolerance of every quadrature
EPSREL = 1e-12
#: subinterval limit of every quadrature
LIMIT = 400
#: the largest ratio of two consecutive positive knots of a quadrature
_RATIO = 100.0
#: the worst error estimate relative to the value met so far (see :func:`worst_quad_error`)
_WORST = [0.0]

#: knots of an exponential component, in units of its mean
_EXP_HINTS = (1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 0.6, 1, 1.5, 2.5, 4, 6, 9, 13, 20, 30, 40)

SIZE_POLICIES = ("fcfs", "ps", "las", "sjf", "psjf", "srpt")
PREDICTION_POLICIES = ("spjf", "pspjf", "sprpt")
POLICIES = SIZE_POLICIES + PREDICTION_POLICIES


def worst_quad_error() -> float:
    """The largest ``error estimate / |value|`` reported by a quadrature of this module so far."""
    return _WORST[0]


def _quad(f: Callable[[float], float], a: float, b: float, points: Sequence[float] = (),
          epsabs: float = 0.0) -> tuple[float, float]:
    """``scipy.integrate.quad`` with this module's tolerances: (value, error estimate)."""
    if not b > a:
        return 0.0, 0.0
    kw = {"points": list(points), "limit": LIMIT + 2 * len(points)} if points else {"limit": LIMIT}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        val, err = integrate.quad(f, a, b, epsabs=epsabs, epsrel=EPSREL, **kw)
    return val, err


def quad(f: Callable[[float], float], a: float, b: float, points: Sequence[float] = (),
         epsabs: float = 0.0) -> float:
    r""":math:`\int_a^b f` (``b`` may be ``inf``), with the interior ``points`` as the first
    subdivision (finite ``b`` only); 0 for an empty interval. When the error estimate of the
    single adaptive run exceeds 1e-9 relative (an end singularity next to many points can
    defeat its extrapolation), the pieces between the points are integrated one by one."""
    val, err = _quad(f, a, b, points, epsabs)
    if points and err > max(epsabs, 1e-9 * abs(val)):
        pts = [a, *points, b]
        parts = [_quad(f, lo, hi, (), EPSREL * abs(val) / len(pts)) for lo, hi in zip(pts[:-1], pts[1:])]
        val, err = math.fsum(v for v, _ in parts), math.fsum(e for _, e in parts)
    if abs(val) > epsabs:
        _WORST[0] = max(_WORST[0], err / abs(val))
    return val


def quad_pieces(f: Callable[[float], float], lo: float, hi: float, knots: Iterable[float]) -> float:
    r""":math:`\int_{lo}^{hi} f`, split at the ``knots`` inside: one adaptive quadrature over the
    finite knots (a relative tolerance on the whole), then the tail beyond the last knot when
    ``hi`` is infinite (to the same absolute accuracy)."""
    pts = sorted({k for k in knots if lo < k < hi and math.isfinite(k)})
    fine = []  # no two positive knots more than a factor _RATIO apart (integrands like x^-1.5)
    for a, b in zip([lo] + pts, pts + [hi]):
        t = a * _RATIO
        while a > 0 and t < b and math.isfinite(b):
            fine.append(t)
            t *= _RATIO
    pts = sorted(set(pts) | set(fine))
    if math.isinf(hi):
        if not pts:
            return _tail(f, lo, 0.0) if lo > 0 else quad(f, lo, hi)
        body = quad(f, lo, pts[-1], pts[:-1])
        return body + _tail(f, pts[-1], EPSREL * abs(body))
    return quad(f, lo, hi, pts)


def _tail(f: Callable[[float], float], k: float, epsabs: float) -> float:
    r""":math:`\int_k^\infty f(x)\,dx = \int_0^\infty f(k e^u)\, k e^u\,du` (``k > 0``): a power
    tail :math:`x^{-p}` becomes :math:`e^{-(p-1)u}`, which the infinite-range rule integrates
    well (it fails on slowly decaying powers in the variable x)."""
    top = math.log(1e150 / k)

    def g0(u: float) -> float:
        x = k * math.exp(u)
        return f(x) * x

    def g(u: float) -> float:
        return 0.0 if u > top else g0(u)

    # beyond 1e150 a power tail is completed analytically: g(u) = g(top) e^{-beta (u - top)}
    # with beta from g at top - 1 and top (Pareto(1.05)'s first moment keeps 3e-8 of its value
    # there: x f(x) x = x^-0.05)
    g1, g2 = g0(top - 1.0), g0(top)
    rest = 0.0
    if g1 > 0.0 and 0.0 < g2 < g1:
        rest = g2 / math.log(g1 / g2)
    return quad(g, 0.0, INF, epsabs=epsabs) + rest


# ---- vectorised adaptive Gauss-Kronrod (inner expectations) ----------------------------------
#: the 21-point Kronrod extension of the 10-point Gauss-Legendre rule (the rule of QUADPACK's
#: qk21, Piessens et al. 1983), non-negative nodes: computed with mpmath (60 digits) from the
#: Stieltjes polynomial E_11 (orthogonal to x^k P_10(x), k <= 10) and the moment equations
_K21_POS = ((0.0, 0.1494455540029169056649), (0.1488743389816312108848, 0.1477391049013384913748),
            (0.2943928627014601981311, 0.1427759385770600807971),
            (0.4333953941292471907993, 0.1347092173114733259281),
            (0.562757134668604683339, 0.123491976262065851078),
            (0.6794095682990244062343, 0.1093871588022976418992),
            (0.7808177265864168970637, 0.09312545458369760553507),
            (0.8650633666889845107321, 0.07503967481091995276704),
            (0.9301574913557082260012, 0.05475589657435199603138),
            (0.973906528517171720078, 0.03255816230796472747882),
            (0.9956571630258080807355, 0.01169463886737187427806))
_KX = np.array([-x for x, _ in _K21_POS[:0:-1]] + [x for x, _ in _K21_POS])
_KW = np.array([w for _, w in _K21_POS[:0:-1]] + [w for _, w in _K21_POS])
_GW = np.zeros(21)
_GW[1::2] = np.polynomial.legendre.leggauss(10)[1]  # the Gauss nodes are every other one
_EPS = np.finfo(float).eps


def _gk21(f: Callable[[np.ndarray], np.ndarray], a: np.ndarray, b: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    r"""Gauss-Kronrod (10, 21) on each interval [a_i, b_i], ``f`` evaluated once on all the nodes;
    the error estimate of QUADPACK: :math:`\min(1, (200|K-G|/I_{asc})^{3/2}) I_{asc}`, at least
    :math:`50\epsilon \int|f|` (:math:`I_{asc} = \int |f - \bar f|` by the Kronrod rule)."""
    h = 0.5 * (b - a)
    c = 0.5 * (b + a)
    x = c[:, None] + h[:, None] * _KX[None, :]
    fx = np.asarray(f(x.ravel()), dtype=float).reshape(x.shape)
    k = fx @ _KW
    g = fx @ _GW
    ah = np.abs(h)
    resabs = (np.abs(fx) @ _KW) * ah
    resasc = (np.abs(fx - 0.5 * k[:, None]) @ _KW) * ah
    err = np.abs((k - g) * h)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = resasc * np.minimum(1.0, (200.0 * err / resasc) ** 1.5)
    err = np.where((resasc != 0) & (err != 0), scaled, err)
    err = np.maximum(err, 50 * _EPS * resabs)
    return k * h, err


def _split(a: np.ndarray, b: np.ndarray, graded: bool | np.ndarray = True) -> np.ndarray:
    """Where to cut each piece [a, b]: the middle, or 1e-4 b for a piece [0, b] (``graded``),
    so that an integrable singularity at 0 (:math:`x^{-0.84}`: Weibull(1.16) slowdowns) costs
    a few cuts per factor 1e4 rather than 13."""
    return np.where(graded & (a == 0), 1e-4 * b, 0.5 * (a + b))


def vquad(f: Callable[[np.ndarray], np.ndarray], edges: Sequence[float], epsabs: float = 0.0,
          graded: bool = True) -> float:
    r""":math:`\int f` over [edges[0], edges[-1]] (finite), ``f`` vectorised: Gauss-Kronrod
    (10, 21) on the pieces between the edges, then bisection of the pieces with the largest
    error estimates until their sum is at most :math:`\max(\epsilon_{abs}, 10^{-12}|I|)`
    (a global adaptive rule, like QUADPACK's qag without extrapolation)."""
    e = np.asarray(edges, dtype=float)
    a, b = e[:-1], e[1:]
    keep = b > a
    a, b = a[keep], b[keep]
    if a.size == 0:
        return 0.0
    val, err = _gk21(f, a, b)
    cap = LIMIT + 2 * a.size  # the subinterval limit of quad with these points
    while True:
        total = float(np.sum(val))
        tol = max(epsabs, EPSREL * abs(total))
        etot = float(np.sum(err))
        if etot <= tol or a.size >= cap:
            break
        # bisect the worst pieces until the rest holds at most half the tolerance; pieces at the
        # resolution of the floats are kept as they are
        order = np.argsort(-err)
        rest = etot - np.cumsum(err[order])
        n = int(np.searchsorted(-rest, -0.5 * tol)) + 1
        pick = order[:n]
        mid = _split(a[pick], b[pick], graded)
        ok = (mid > a[pick]) & (mid < b[pick])
        if not np.any(ok):
            break
        pick, mid = pick[ok], mid[ok]
        na = np.concatenate([a[pick], mid])
        nb = np.concatenate([mid, b[pick]])
        v2, e2 = _gk21(f, na, nb)
        stay = np.ones(a.size, dtype=bool)
        stay[pick] = False
        a, b = np.concatenate([a[stay], na]), np.concatenate([b[stay], nb])
        val, err = np.concatenate([val[stay], v2]), np.concatenate([err[stay], e2])
    total = math.fsum(val.tolist())
    if abs(total) > epsabs:
        _WORST[0] = max(_WORST[0], float(np.sum(err)) / abs(total))
    return total


def _vquad_many(f: Callable[[np.ndarray, np.ndarray], np.ndarray], vs: np.ndarray, lo: np.ndarray,
                hi: np.ndarray, knots: Sequence[Sequence[float]]) -> np.ndarray:
    r""":math:`\int_{lo_i}^{hi_i} f(x, v_i)\,dx` for each i, ``f`` vectorised: for each i the
    pieces of :func:`vquad_pieces` (its knots refined by :func:`_fine_knots`; beyond the last
    knot of an infinite range the tail :math:`\int_0^{u_{top}} f(k e^u) k e^u du`,
    :math:`k e^{u_{top}} = 10^{150}`, completed analytically as in :func:`_tail`), all of them
    in one array: Gauss-Kronrod (10, 21) on every piece, then bisection of the pieces of each
    integral whose error estimates add up to more than :math:`10^{-12}` of its value (those
    above half their share), until every integral meets its tolerance."""
    m = vs.size
    A, B = [], []  # piece ends
    L, K, N = [], [], []  # label and base of the tail map (0: linear) of each run of N pieces
    tails = []
    for i, (a, b) in enumerate(zip(np.asarray(lo, dtype=float).tolist(), np.asarray(hi, dtype=float).tolist())):
        if not b > a:
            continue
        pts = _fine_knots(a, b, knots[i])
        if math.isinf(b):
            if not pts:
                if not a > 0:
                    raise NotImplementedError("an infinite range from 0 without knots")
                pts = [a]
            edges = [a, *pts] if pts[0] > a else pts
            k = pts[-1]
            top = math.log(1e150 / k)
            tail = _log_edges(top)
            A += tail[:-1]
            B += tail[1:]
            L.append(i)
            K.append(k)
            N.append(len(tail) - 1)
            tails.append((i, k, top))
        else:
            edges = [a, *pts, b]
        if edges[0] == 0.0 and len(edges) > 1:
            # the head [0, e1] in t = log(e1/x), down to x = 1e-100 e1, with the same completion
            # of a power law below (an integrable singularity x^-0.98 keeps 1.6% of the head's
            # mass there; nested integrands like x^-2 f_Z(y/x) must not overflow)
            e1 = edges[1]
            top = math.log(e1 / max(1e-100 * e1, 1e-290))
            head = _log_edges(top)
            A += head[:-1]
            B += head[1:]
            L.append(i)
            K.append(-e1)
            N.append(len(head) - 1)
            tails.append((i, -e1, top))
            edges = edges[1:]
        A += edges[:-1]
        B += edges[1:]
        L.append(i)
        K.append(0.0)
        N.append(len(edges) - 1)
    out = np.zeros(m)
    if not A:
        return out
    a, b = np.array(A), np.array(B)
    lab, base = np.repeat(np.array(L, dtype=int), N), np.repeat(np.array(K, dtype=float), N)
    keep = b > a
    a, b, lab, base = a[keep], b[keep], lab[keep], base[keep]

    def g(t: np.ndarray, lab_t: np.ndarray, base_t: np.ndarray) -> np.ndarray:
        # base > 0: x = base e^t (tail); base < 0: x = |base| e^-t (head); 0: x = t
        mapped = base_t != 0
        x = np.array(t, dtype=float)
        bm = base_t[mapped]
        with np.errstate(over="ignore"):
            x[mapped] = np.abs(bm) * np.exp(np.sign(bm) * t[mapped])
        val = f(x, vs[lab_t])
        return np.where(mapped, val * x, val)

    def gk(a, b, lab, base):
        return _gk21(lambda t: g(t, np.repeat(lab, 21), np.repeat(base, 21)), a, b)

    val, err = gk(a, b, lab, base)
    # at most LIMIT + 2 (initial pieces) pieces per integral, the limit of quad with these points
    # (round-off in the integrand can keep the error estimate above 1e-12 of a tiny value)
    cap = LIMIT + 2 * np.bincount(lab, minlength=m)
    for _ in range(200):
        tot = np.bincount(lab, val, m)
        etot = np.bincount(lab, err, m)
        tol = EPSREL * np.abs(tot)
        cnt = np.bincount(lab, minlength=m)
        bad = (etot > tol) & (cnt < cap)
        if not np.any(bad):
            break
        pick = bad[lab] & (err > 0.5 * tol[lab] / np.maximum(cnt[lab], 1))
        mid = _split(a, b, base == 0)
        pick &= (mid > a) & (mid < b)
        if not np.any(pick):
            break
        pa, pb, pm, pl, pk = a[pick], b[pick], mid[pick], lab[pick], base[pick]
        na, nb = np.concatenate([pa, pm]), np.concatenate([pm, pb])
        nl, nk = np.concatenate([pl, pl]), np.concatenate([pk, pk])
        v2, e2 = gk(na, nb, nl, nk)
        stay = ~pick
        a, b = np.concatenate([a[stay], na]), np.concatenate([b[stay], nb])
        lab, base = np.concatenate([lab[stay], nl]), np.concatenate([base[stay], nk])
        val, err = np.concatenate([val[stay], v2]), np.concatenate([err[stay], e2])
    order = np.argsort(lab, kind="stable")
    lab_s, val_s = lab[order], val[order]
    starts = np.searchsorted(lab_s, np.arange(m)).tolist()
    ends = np.searchsorted(lab_s, np.arange(m), side="right").tolist()
    vl = val_s.tolist()
    for i, (s0, s1) in enumerate(zip(starts, ends)):
        if s1 > s0:
            out[i] = math.fsum(vl[s0:s1])
    etot = np.bincount(lab, err, m)
    nz = out != 0
    if np.any(nz):
        _WORST[0] = max(_WORST[0], float(np.max(etot[nz] / np.abs(out[nz]))))
    if tails:
        ti = np.array([i for i, _, _ in tails])
        u = np.array([[top - 1.0, top] for _, _, top in tails])
        kk = np.array([k for _, k, _ in tails])
        x = np.abs(kk)[:, None] * np.exp(np.sign(kk)[:, None] * u)
        gv = f(x.ravel(), np.repeat(vs[ti], 2)).reshape(x.shape) * x
        g1, g2 = gv[:, 0], gv[:, 1]
        ok = (g1 > 0) & (g2 > 0) & (g2 < g1)
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = np.where(ok, g2 / np.log(np.where(ok, g1 / g2, 2.0)), 0.0)
        out[ti] += rest
    return out


@functools.lru_cache(maxsize=4096)
def _log_edges(top: float) -> tuple[float, ...]:
    """Pieces [0, 1/2, 1, 2, 4, ..., top] of a log-scale variable (memoised: the same tops recur
    for every threshold)."""
    edges = [0.0, 0.5]
    t = 1.0
    while t < top:
        edges.append(t)
        t *= 2
    return tuple([e for e in edges if e < top] + [top])


def _fine_knots(lo: float, hi: float, knots: Iterable[float]) -> list[float]:
    """The knots inside (lo, hi), with more so that no two positive consecutive ones are more
    than a factor _RATIO apart (integrands like x^-1.5)."""
    pts = sorted({k for k in knots if lo < k < hi})  # lo < k < hi: k is finite
    fine = []
    for a, b in zip([lo] + pts, pts + [hi]):
        t = a * _RATIO
        while a > 0 and t < b and math.isfinite(b):
            fine.append(t)
            t *= _RATIO
    return sorted(set(pts) | set(fine))


def vquad_pieces(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float,
                 knots: Iterable[float]) -> float:
    r""":func:`quad_pieces` for a vectorised ``f``: the same knots, :func:`vquad` between them
    and :func:`_vtail` beyond the last when ``hi`` is infinite; a range from 0 starts with the
    head [0, first knot] of :func:`_vquad_many` (log scale with a power-law completion)."""
    pts = _fine_knots(lo, hi, knots)
    head = 0.0
    if lo == 0 and pts:
        head = float(_vquad_many(lambda x, v: f(x), np.zeros(1), np.array([0.0]), np.array([pts[0]]),
                                 [()])[0])
        lo, pts = pts[0], pts[1:]
        if not pts and math.isfinite(hi):
            return head + vquad(f, [lo, hi])
    return head + _vquad_pieces_body(f, lo, hi, pts)


def _vquad_pieces_body(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float,
                       pts: list[float]) -> float:
    """The pieces of :func:`vquad_pieces` from ``lo`` (with the refined knots ``pts``)."""
    if math.isinf(hi):
        if not pts:
            if lo > 0:
                return _vtail(f, lo, 0.0)
            # x = t / (1 - t) on [0, 1)
            return vquad(lambda t: f(t / (1 - t)) / (1 - t) ** 2, [0.0, 0.5, 1.0 - 1e-16])
        body = vquad(f, [lo, *pts])
        return body + _vtail(f, pts[-1], EPSREL * abs(body))
    return vquad(f, [lo, *pts, hi])


def _vtail(f: Callable[[np.ndarray], np.ndarray], k: float, epsabs: float) -> float:
    r""":func:`_tail` for a vectorised ``f``: :math:`\int_0^{u_{top}} f(k e^u) k e^u du`,
    :math:`k e^{u_{top}} = 10^{150}`, on pieces [0, 1/2, 1, 2, 4, ...], plus the same analytic
    completion of a power tail beyond."""
    top = math.log(1e150 / k)

    def g(u: np.ndarray) -> np.ndarray:
        x = k * np.exp(u)
        return f(x) * x

    if top <= 0:
        return 0.0
    edges = [0.0, 0.5]
    t = 1.0
    while t < top:
        edges.append(t)
        t *= 2
    edges = [e for e in edges if e < top] + [top]
    g1, g2 = (float(v) for v in g(np.array([top - 1.0, top])))
    rest = g2 / math.log(g1 / g2) if g1 > 0.0 and 0.0 < g2 < g1 else 0.0
    return vquad(g, edges, epsabs, graded=False) + rest


#: 24-point Gauss-Legendre nodes and weights on [-1, 1]
_GL24_T, _GL24_W = np.polynomial.legendre.leggauss(24)
_GL24 = list(zip(_GL24_T.tolist(), _GL24_W.tolist(), strict=True))


def _phi(u: float) -> float:
    """Standard normal cdf, relatively accurate in both tails."""
    return 0.5 * math.erfc(-u / math.sqrt(2.0))


def _vphi(u: np.ndarray) -> np.ndarray:
    """:func:`_phi` on an array."""
    return 0.5 * special.erfc(-u / math.sqrt(2.0))


def _vphi_between(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    """:func:`_phi_between` on arrays."""
    with np.errstate(invalid="ignore"):
        d = np.where(u1 > 0, _vphi(-u1) - _vphi(-u2), _vphi(u2) - _vphi(u1))
    return np.where(u2 <= u1, 0.0, d)


def _phi_between(u1: float, u2: float) -> float:
    """P(u1 < N <= u2) for a standard normal N, without cancellation in the upper tail."""
    if u2 <= u1:
        return 0.0
    if u1 > 0:
        return _phi(-u1) - _phi(-u2)
    return _phi(u2) - _phi(u1)


# ==== size laws ================================================================================
class _Component:
    """One continuous piece of a size law: weight, density, support and knots (scale hints)."""

    def __init__(self, weight: float, pdf: Callable[[float], float], lo: float, hi: float,
                 knots: Sequence[float], vpdf: Callable[[np.ndarray], np.ndarray]):
        self.weight, self.pdf, self.lo, self.hi, self.vpdf = weight, pdf, lo, hi, vpdf
        self.knots = [k for k in knots if lo < k < hi]


class RefSize:
    """A size law rebuilt from its parameters: atoms plus continuous components."""

    def __init__(self, law=None, atoms: Sequence[tuple[float, float]] = ()):
        self.atoms: list[tuple[float, float]] = list(atoms)
        self.comps: list[_Component] = []
        #: moments of order >= tail_index are infinite
        self.tail_index = INF
        #: E[1/X] = inf
        self.inv_inf = False
        self._points: list[float] | None = None
        if law is not None:
            self._add(law, 1.0)
        merged: dict[float, float] = {}
        for v, p in self.atoms:
            merged[v] = merged.get(v, 0.0) + p
        self.atoms = sorted((v, p) for v, p in merged.items() if p > 0)
        self._moments: dict[int, float] = {}

    # -- construction from the parameters ------------------------------------------------------
    def _add(self, law, w: float) -> None:
        if w <= 0:
            return
        name = type(law).__name__
        if name == "Empirical":
            for v, p in zip(law.atom_values, law.atom_probs, strict=True):
                self.atoms.append((float(v), w * float(p)))
            return
        p = law._params()
        if name == "Mixture":
            for sub, q in zip(p["laws"], p["probs"], strict=True):
                self._add(sub, w * float(q))
        elif name == "Deterministic":
            self.atoms.append((float(p["value"]), w))
        elif name == "Exponential":
            self._exponential(w, float(p["mean"]))
        elif name == "HyperExponential":
            for q, m in zip(p["probs"], p["means"], strict=True):
                if q > 0:
                    self._exponential(w * float(q), float(m))
        elif name == "Uniform":
            a, b = float(p["low"]), float(p["high"])
            self.comps.append(_Component(w, lambda x, a=a, b=b: 1.0 / (b - a), a, b, (),
                                         lambda x, a=a, b=b: np.full(np.shape(x), 1.0 / (b - a))))
            self.inv_inf |= a == 0
        elif name == "Erlang":
            k, m = int(p["k"]), float(p["mean"])
            th = m / k
            lg = math.lgamma(k)

            def erlang(x, k=k, th=th, lg=lg):
                if x <= 0:
                    return 1.0 / th if k == 1 else 0.0
                z = x / th
                return math.exp((k - 1) * math.log(z) - z - lg) / th

            def verlang(x, k=k, th=th, lg=lg):
                z = np.maximum(x, 1e-300) / th
                with np.errstate(over="ignore", under="ignore"):
                    d = np.exp((k - 1) * np.log(z) - z - lg) / th
                return np.where(x <= 0, 1.0 / th if k == 1 else 0.0, d)

            spread = 1.0 / math.sqrt(k)
            hints = [m * s for s in (1e-6, 1e-3, 0.05, 0.3, 2, 5, 10, 20, 40)]
            hints += [m * (1 + j * spread) for j in (-3, -1, 0, 1, 3, 6) if 1 + j * spread > 0]
            self.comps.append(_Component(w, erlang, 0.0, INF, hints, verlang))
            self.inv_inf |= k == 1
        elif name == "LogNormal":
            s, m = float(p["sigma"]), float(p["mean"])
            mu = math.log(m) - s * s / 2
            c = 1.0 / (s * math.sqrt(2 * math.pi))

            def lognormal(x, mu=mu, s=s, c=c):
                if x <= 0:
                    return 0.0
                z = (math.log(x) - mu) / s
                return c * math.exp(-0.5 * z * z) / x

            def vlognormal(x, mu=mu, s=s, c=c):
                xp = np.maximum(x, 1e-300)
                z = (np.log(xp) - mu) / s
                with np.errstate(under="ignore"):
                    return np.where(x <= 0, 0.0, c * np.exp(-0.5 * z * z) / xp)

            self.comps.append(_Component(w, lognormal, 0.0, INF,
                                         [math.exp(mu + j * s) for j in range(-9, 10)], vlognormal))
        elif name == "Weibull":
            c, m = float(p["shape"]), float(p["mean"])
            sc = m / math.exp(math.lgamma(1 + 1 / c))

            def weibull(x, c=c, sc=sc):
                if x <= 0:
                    return 1.0 / sc if c == 1 else 0.0
                lt = math.log(x / sc)
                if c * lt > 700:  # t^c overflows: the density is 0
                    return 0.0
                return c / sc * math.exp((c - 1) * lt - math.exp(c * lt))

            def vweibull(x, c=c, sc=sc):
                lt = np.log(np.maximum(x, 1e-300) / sc)
                big = c * lt > 700
                lt = np.where(big, 0.0, lt)
                with np.errstate(under="ignore"):
                    d = np.where(big, 0.0, c / sc * np.exp((c - 1) * lt - np.exp(c * lt)))
                return np.where(x <= 0, 1.0 / sc if c == 1 else 0.0, d)

            hints = [sc * z ** (1 / c) for z in (1e-12, 1e-8, 1e-4, 1e-2, 0.1, 0.5, 1, 2, 5, 10, 20,
                                                 40, 80)]
            self.comps.append(_Component(w, weibull, 0.0, INF, hints, vweibull))
            self.inv_inf |= c <= 1
        elif name == "Pareto":
            a, xm = float(p["alpha"]), float(p["xmin"])
            self.comps.append(_Component(
                w, lambda x, a=a, xm=xm: a / xm * (xm / x) ** (a + 1), xm, INF,
                [xm * s for s in (1.5, 2, 4, 10, 1e2, 1e3, 1e4, 1e6, 1e8)],
                lambda x, a=a, xm=xm: a / xm * (xm / x) ** (a + 1)))
            self.tail_index = min(self.tail_index, a)
        elif name == "BoundedPareto":
            a, lo, hi = float(p["alpha"]), float(p["low"]), float(p["high"])
            D = -math.expm1(a * math.log(lo / hi))
            hints = [lo * s for s in (1.5, 2, 4)]
            t = lo * 10
            while t < hi:
                hints.append(t)
                t *= 10
            self.comps.append(_Component(
                w, lambda x, a=a, lo=lo, D=D: a / (lo * D) * (lo / x) ** (a + 1), lo, hi, hints,
                lambda x, a=a, lo=lo, D=D: a / (lo * D) * (lo / x) ** (a + 1)))
        else:
            raise NotImplementedError(f"no reference density for size law {name}")

    def _exponential(self, w: float, m: float) -> None:
        self.comps.append(_Component(
            w, lambda x, m=m: math.exp(-x / m) / m, 0.0, INF,
            [m * s for s in _EXP_HINTS], lambda x, m=m: np.exp(-x / m) / m))
        self.inv_inf = True

    # -- integration -----------------------------------------------------------------------------
    @property
    def is_discrete(self) -> bool:
        return not self.comps

    @property
    def points(self) -> list[float]:
        """Atoms, support ends and knots: the scale of the law."""
        if self._points is None:
            pts = {v for v, _ in self.atoms}
            for c in self.comps:
                pts |= {c.lo, c.hi} | set(c.knots)
            self._points = sorted(p for p in pts if 0 < p < INF)
        return self._points

    def expect(self, g: Callable[[float], float], knots: Iterable[float] = (),
               lo: float = 0.0, hi: float = INF,
               vg: Callable[[np.ndarray], np.ndarray] | None = None) -> float:
        r""":math:`E[g(X) 1\{lo \le X \le hi\}]` (the continuous part; atoms in [lo, hi]) by
        sums over the atoms and quadratures between the knots of each continuous component:
        :func:`vquad_pieces` when ``vg`` (``g`` on an array of sizes) is given, else
        :func:`quad_pieces`."""
        knots = list(knots)
        terms = [p * g(v) for v, p in self.atoms if lo <= v <= hi]
        for c in self.comps:
            a, b = max(lo, c.lo), min(hi, c.hi)
            if b > a:
                if vg is not None:
                    terms.append(c.weight * vquad_pieces(lambda x, c=c: c.vpdf(x) * vg(x), a, b,
                                                         c.knots + knots))
                else:
                    terms.append(c.weight * quad_pieces(lambda x, c=c: c.pdf(x) * g(x), a, b,
                                                        c.knots + knots))
        return math.fsum(terms)

    def expect_many(self, vg2: Callable[[np.ndarray, np.ndarray], np.ndarray], vs: np.ndarray,
                    knots_of: Callable[[float], Sequence[float]] = lambda v: (),
                    lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
        r""":math:`E[g(X, v_i) 1\{lo_i \le X \le hi_i\}]` for each threshold :math:`v_i` of ``vs``:
        :meth:`expect` for many thresholds at once (``vg2(x, v)`` on matched arrays), the
        quadratures of all of them in one :func:`_vquad_many`, each between its own knots
        (``knots_of(v)`` and the component's) to its own relative tolerance."""
        vs = np.asarray(vs, dtype=float)
        m = vs.size
        lo = np.zeros(m) if lo is None else np.asarray(lo, dtype=float)
        hi = np.full(m, INF) if hi is None else np.asarray(hi, dtype=float)
        out = np.zeros(m)
        if self.atoms:
            xa = np.array([v for v, _ in self.atoms])
            pa = np.array([p for _, p in self.atoms])
            inside = (lo[:, None] <= xa[None, :]) & (xa[None, :] <= hi[:, None])
            xx, vv = np.broadcast_arrays(xa[None, :], vs[:, None])
            with np.errstate(invalid="ignore"):
                g = np.asarray(vg2(xx.ravel(), vv.ravel()), dtype=float).reshape(xx.shape)
            out += np.where(inside, pa[None, :] * np.where(inside, g, 0.0), 0.0).sum(axis=1)
        if not self.comps:
            return out
        knots = [list(knots_of(v)) for v in vs.tolist()]
        for c in self.comps:
            a, b = np.maximum(lo, c.lo), np.minimum(hi, c.hi)
            out += c.weight * _vquad_many(lambda x, v, c=c: c.vpdf(x) * vg2(x, v), vs, a, b,
                                          [c.knots + k for k in knots])
        return out

    def partial_many(self, k: float, cs: np.ndarray, upper: bool, strict: bool = False) -> np.ndarray:
        r""":math:`E[X^k 1\{X \le c\}]` (``strict``: :math:`X < c`), or with ``upper``
        :math:`E[X^k 1\{X > c\}]`, at each c of ``cs``: the atoms summed, and for each
        continuous component one quadrature of :math:`x^k f(x)` over every piece between the
        sorted points c, its knots and its support ends (each piece to 1e-12 of its own value,
        so the sums keep that relative accuracy), then cumulative sums."""
        cs = np.asarray(cs, dtype=float)
        out = np.zeros(cs.size)
        if self.atoms:
            xa = np.array([v for v, _ in self.atoms])
            pa = np.array([p for _, p in self.atoms])
            if upper:
                sel = xa[None, :] > cs[:, None]
            else:
                sel = xa[None, :] < cs[:, None] if strict else xa[None, :] <= cs[:, None]
            out += np.where(sel, pa * xa**k, 0.0).sum(axis=1)
        for c in self.comps:
            inside = sorted({float(v) for v in cs.tolist() if c.lo < v < c.hi})
            bps = sorted({c.lo, *c.knots, *inside} | ({c.hi} if math.isfinite(c.hi) else set()))
            lo, hi = bps[:-1], bps[1:]
            if upper and math.isinf(c.hi):
                lo, hi = [*lo, bps[-1]], [*hi, INF]
            n = len(lo)
            vals = c.weight * _vquad_many(lambda x, v, c=c: c.vpdf(x) * x**k, np.zeros(n), np.array(lo),
                                          np.array(hi), [()] * n)
            pos = np.searchsorted(np.array(bps), cs)  # bps[pos] == c for c inside the support
            if upper:
                rc = np.concatenate([np.cumsum(vals[::-1])[::-1], [0.0]])  # rc[j]: pieces j, j+1, ...
                out += np.where(cs <= c.lo, rc[0], np.where(cs >= c.hi, 0.0, rc[np.minimum(pos, n)]))
            else:
                cum = np.concatenate([[0.0], np.cumsum(vals)])  # cum[j]: pieces below bps[j]
                out += np.where(cs <= c.lo, 0.0, np.where(cs >= c.hi, cum[-1], cum[np.minimum(pos, n)]))
        return out

    def moment(self, k: int) -> float:
        """E[X^k], ``inf`` from the tail index."""
        if k >= self.tail_index:
            return INF
        if k not in self._moments:
            self._moments[k] = self.expect(lambda x: x**k, vg=lambda x: x**k)
        return self._moments[k]

    def inv_moment(self) -> float:
        """E[1/X]."""
        return INF if self.inv_inf else self.expect(lambda x: 1.0 / x, vg=lambda x: 1.0 / x)


# ==== conditional laws of the prediction ======================================================
class _Factor:
    """Law of a multiplicative factor Z (prediction Y = xZ) with a density."""

    #: finite support ends > 0 and scale hints (kinks of the functions of v / x)
    knots: tuple[float, ...] = ()
    lo, hi = 0.0, INF

    def cdf(self, z: float) -> float:
        raise NotImplementedError

    def sf(self, z: float) -> float:
        raise NotImplementedError

    def pdf(self, z: float) -> float:
        raise NotImplementedError

    def between(self, z1: float, z2: float) -> float:
        """P(z1 < Z <= z2)."""
        raise NotImplementedError

    def H(self, b: float) -> float:
        r""":math:`E[(b+1-Z)^2 1\{b < Z < b+1\}]`, by quadrature over :math:`w = b+1-Z`."""
        return quad_pieces(lambda w: w * w * self.pdf(b + 1 - w), 0.0, 1.0,
                           [b + 1 - k for k in self.knots])

    def under(self) -> float:
        r""":math:`E[(1-Z)^+]`."""
        return quad_pieces(lambda z: (1 - z) * self.pdf(z), self.lo, min(1.0, self.hi), self.knots)


class _ExpFactor(_Factor):
    knots = (1.0,)

    def cdf(self, z):
        return -math.expm1(-z) if z > 0 else 0.0

    def sf(self, z):
        return math.exp(-z) if z > 0 else 1.0

    def pdf(self, z):
        return math.exp(-z) if z >= 0 else 0.0

    def between(self, z1, z2):
        z1 = max(z1, 0.0)
        return math.exp(-z1) * -math.expm1(-(z2 - z1)) if z2 > z1 else 0.0

    def H(self, b):
        # int_0^1 w^2 e^{-(b+1-w)} dw = e^{-(b+1)} [e^w (w^2 - 2w + 2)]_0^1 = e^{-b} (1 - 2/e)
        return math.exp(-b) * (1 - 2 / math.e)

    # the same on arrays (z >= 0, b >= 0: the factors v/x and 1 + v/x of a threshold v >= 0)
    def vcdf(self, z):
        return -np.expm1(-z)

    def vpdf(self, z):
        return np.exp(-z)

    def vbetween(self, z1, z2):
        z1 = np.maximum(z1, 0.0)
        return np.exp(-z1) * -np.expm1(-(z2 - z1))

    def vH(self, b):
        with np.errstate(all="ignore"):  # the branch not taken may overflow
            return self._vH(b)

    def _vH(self, b):
        return np.exp(-b) * (1 - 2 / math.e)

    def under(self):
        return 1 / math.e


class _UniformFactor(_Factor):
    def __init__(self, a: float, c: float):
        self.lo, self.hi = a, c
        self.knots = tuple(k for k in (a, c) if k > 0)

    def cdf(self, z):
        return min(max((z - self.lo) / (self.hi - self.lo), 0.0), 1.0)

    def sf(self, z):
        return min(max((self.hi - z) / (self.hi - self.lo), 0.0), 1.0)

    def pdf(self, z):
        return 1.0 / (self.hi - self.lo) if self.lo <= z <= self.hi else 0.0

    def between(self, z1, z2):
        return max(min(z2, self.hi) - max(z1, self.lo), 0.0) / (self.hi - self.lo)

    def H(self, b):
        lo, hi = max(b, self.lo), min(b + 1, self.hi)
        if hi <= lo:
            return 0.0
        return ((b + 1 - lo) ** 3 - (b + 1 - hi) ** 3) / (3 * (self.hi - self.lo))

    def vcdf(self, z):
        return np.clip((z - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def vpdf(self, z):
        return np.where((self.lo <= z) & (z <= self.hi), 1.0 / (self.hi - self.lo), 0.0)

    def vbetween(self, z1, z2):
        return np.maximum(np.minimum(z2, self.hi) - np.maximum(z1, self.lo), 0.0) / (self.hi - self.lo)

    def vH(self, b):
        with np.errstate(all="ignore"):  # the branch not taken may overflow
            return self._vH(b)

    def _vH(self, b):
        lo, hi = np.maximum(b, self.lo), np.minimum(b + 1, self.hi)
        return np.where(hi <= lo, 0.0, ((b + 1 - lo) ** 3 - (b + 1 - hi) ** 3) / (3 * (self.hi - self.lo)))

    def under(self):
        if self.lo >= 1:
            return 0.0
        m = min(1.0, self.hi)
        return ((1 - self.lo) ** 2 - (1 - m) ** 2) / (2 * (self.hi - self.lo))


class _LogUniformFactor(_Factor):
    def __init__(self, a: float, c: float):
        self.lo, self.hi, self.L = a, c, math.log(c / a)
        self.knots = (a, c)

    def cdf(self, z):
        return min(max(math.log(z / self.lo) / self.L, 0.0), 1.0) if z > 0 else 0.0

    def sf(self, z):
        return min(max(math.log(self.hi / z) / self.L, 0.0), 1.0) if z > 0 else 1.0

    def pdf(self, z):
        return 1.0 / (z * self.L) if self.lo <= z <= self.hi else 0.0

    def between(self, z1, z2):
        lo, hi = max(z1, self.lo), min(z2, self.hi)
        return math.log(hi / lo) / self.L if hi > lo else 0.0

    def H(self, b):
        # int_lo^hi (b+1-z)^2 / (z L) dz. The closed form (b+1)^2 log(hi/lo) - 2 (b+1)(hi - lo)
        # + (hi^2 - lo^2)/2 cancels where b + 1 - z << z; with lo <= (b+1)/2 its terms are at most
        # about 10x the result. Otherwise the integrand is analytic on [lo, hi] (a pole at 0, at
        # least 2 half-lengths away): 24-point Gauss-Legendre
        lo, hi = max(b, self.lo), min(b + 1, self.hi)
        if hi <= lo:
            return 0.0
        B = b + 1
        if lo <= 0.5 * B:
            return (B * B * math.log1p((hi - lo) / lo) - 2 * B * (hi - lo) + 0.5 * (hi - lo) * (hi + lo)) / self.L
        h, c = (hi - lo) / 2, (hi + lo) / 2
        return h * math.fsum(w * (b + 1 - (c + h * t)) ** 2 / ((c + h * t) * self.L)
                             for t, w in _GL24)

    def vcdf(self, z):
        with np.errstate(divide="ignore"):
            return np.where(z > 0, np.clip(np.log(z / self.lo) / self.L, 0.0, 1.0), 0.0)

    def vpdf(self, z):
        inside = (self.lo <= z) & (z <= self.hi)
        return np.where(inside, 1.0 / (np.where(inside, z, 1.0) * self.L), 0.0)

    def vbetween(self, z1, z2):
        lo, hi = np.maximum(z1, self.lo), np.minimum(z2, self.hi)
        return np.where(hi > lo, np.log(np.maximum(hi, lo) / lo) / self.L, 0.0)

    def vH(self, b):
        with np.errstate(all="ignore"):  # the branch not taken may overflow
            return self._vH(b)

    def _vH(self, b):
        lo, hi = np.maximum(b, self.lo), np.minimum(b + 1, self.hi)
        B = b + 1
        empty = hi <= lo
        hi = np.where(empty, lo + 1.0, hi)
        closed = (B * B * np.log1p((hi - lo) / lo) - 2 * B * (hi - lo) + 0.5 * (hi - lo) * (hi + lo)) / self.L
        out = np.where(empty, 0.0, closed)
        quad = ~empty & ~(lo <= 0.5 * B)  # Gauss-Legendre on these points only
        if np.any(quad):
            lq, hq, Bq = lo[quad], hi[quad], B[quad]
            h, c = (hq - lq) / 2, (hq + lq) / 2
            t, w = _GL24_T, _GL24_W
            z = c[:, None] + h[:, None] * t[None, :]
            out[quad] = h * ((w[None, :] * (Bq[:, None] - z) ** 2 / (z * self.L)) @ np.ones(t.size))
        return out


class _LogNormalFactor(_Factor):
    def __init__(self, s: float):
        self.s = s
        self.knots = (1.0,)

    def cdf(self, z):
        return _phi(math.log(z) / self.s) if z > 0 else 0.0

    def sf(self, z):
        return _phi(-math.log(z) / self.s) if z > 0 else 1.0

    def pdf(self, z):
        if z <= 0:
            return 0.0
        u = math.log(z) / self.s
        return math.exp(-0.5 * u * u) / (z * self.s * math.sqrt(2 * math.pi))

    def between(self, z1, z2):
        if z2 <= max(z1, 0.0):
            return 0.0
        u1 = math.log(z1) / self.s if z1 > 0 else -INF
        return _phi_between(u1, math.log(z2) / self.s)

    def H(self, b):
        if b > 3:
            # the closed form below cancels (terms ~ b^2 times the result); on [b, b+1] with b > 3
            # the log-density varies by at most (6/s + 1)/3 where it matters (log z < 6s), so
            # 24-point Gauss-Legendre in w = b + 1 - z is exact to rounding
            return 0.5 * math.fsum(wt * ((1 + t) / 2) ** 2 * self.pdf(b + 1 - (1 + t) / 2) for t, wt in _GL24)
        # (b+1)^2 P - 2 (b+1) M_1 + M_2 with M_k = E[Z^k 1{b < Z < b+1}]
        #   = e^{k^2 s^2/2} P(b < Z_k < b+1), log Z_k ~ N(k s^2, s^2)
        s = self.s
        lb = math.log(b) if b > 0 else -INF
        lb1 = math.log(b + 1)
        m = [math.exp(k * k * s * s / 2) * _phi_between((lb - k * s * s) / s, (lb1 - k * s * s) / s)
             for k in range(3)]
        return (b + 1) ** 2 * m[0] - 2 * (b + 1) * m[1] + m[2]

    def under(self):
        # E[(1 - Z) 1{Z < 1}] = Phi(0) - e^{s^2/2} Phi(-s)
        return 0.5 - math.exp(self.s**2 / 2) * _phi(-self.s)

    def vcdf(self, z):
        with np.errstate(divide="ignore"):
            return np.where(z > 0, _vphi(np.log(np.maximum(z, 0.0)) / self.s), 0.0)

    def vpdf(self, z):
        zp = np.where(z > 0, z, 1.0)
        u = np.log(zp) / self.s
        with np.errstate(under="ignore"):
            return np.where(z > 0, np.exp(-0.5 * u * u) / (zp * self.s * math.sqrt(2 * math.pi)), 0.0)

    def vbetween(self, z1, z2):
        with np.errstate(divide="ignore"):
            u1 = np.where(z1 > 0, np.log(np.maximum(z1, 0.0)) / self.s, -INF)
            u2 = np.log(np.maximum(z2, 1e-300)) / self.s
        return np.where(z2 <= np.maximum(z1, 0.0), 0.0, _vphi_between(u1, u2))

    def vH(self, b):
        with np.errstate(all="ignore"):  # the branch not taken may overflow
            return self._vH(b)

    def _vH(self, b):
        # each branch on its own points only (the far one costs 24 densities a point); the far
        # value is exactly 0 where log(b) > 40 s: exp(-u^2/2) < e^-800 underflows to 0 at every
        # node z > b
        t, wt = _GL24_T, _GL24_W
        out = np.zeros(b.shape)
        far = b > 3
        live = far & ~(np.log(np.where(far, b, 1.0)) > 40 * self.s)
        if np.any(live):
            # vpdf's density without its z > 0 masks (z > b > 3)
            z = b[live][:, None] + 1 - (1 + t[None, :]) / 2
            u = np.log(z) / self.s
            dens = np.exp(-0.5 * u * u) / (z * self.s * math.sqrt(2 * math.pi))
            out[live] = 0.5 * (dens @ (wt * ((1 + t) / 2) ** 2))
        near = ~far
        if np.any(near):
            bn = b[near]
            s = self.s
            with np.errstate(divide="ignore"):
                lb = np.where(bn > 0, np.log(np.maximum(bn, 0.0)), -INF)
            lb1 = np.log(bn + 1)
            m = [math.exp(k * k * s * s / 2) * _vphi_between((lb - k * s * s) / s, (lb1 - k * s * s) / s)
                 for k in range(3)]
            out[near] = (bn + 1) ** 2 * m[0] - 2 * (bn + 1) * m[1] + m[2]
        return out


class _Cond:
    """Conditional law of Y given X = x."""

    #: Y | x has a density in y (else atoms only)
    has_density = False
    #: positions of the atoms of Y | x do not depend on x (one-bit labels)
    fixed_atoms: tuple[float, ...] | None = None

    def plt(self, v: float, x: float) -> float:
        """P(Y < v | x)."""
        raise NotImplementedError

    def ple(self, v: float, x: float) -> float:
        """P(Y <= v | x)."""
        raise NotImplementedError

    def between(self, v: float, x: float) -> float:
        """P(v < Y <= x + v | x)."""
        raise NotImplementedError

    def cin(self, v: float, x: float) -> float:
        r""":math:`E[((x - Y + v)^+)^2 1\{Y > v\} \mid x]`."""
        raise NotImplementedError

    def under(self, x: float) -> float:
        r""":math:`E[(x - Y)^+ \mid x]`."""
        raise NotImplementedError

    def atoms(self, x: float) -> list[tuple[float, float]]:
        """Atoms (y, probability) of Y | x."""
        return []

    def dens(self, y: float, x: float) -> float:
        """Density of Y | x at y."""
        return 0.0

    #: the methods plt, ple, between, cin and dens have twins vplt, ... that take an array of
    #: sizes x (for the vectorised inner expectations)
    vectorised = False

    def dens_range(self, y: float) -> tuple[float, float]:
        """Sizes x where ``dens(y, x)`` may be > 0."""
        return 0.0, INF

    def x_knots(self, v: float) -> list[float]:
        """Sizes x where the functions of x at threshold v are not smooth."""
        return []

    def y_knots(self, x: float) -> list[float]:
        """Predictions y where the law of Y | x is not smooth (and scale hints)."""
        return []

    def small_x_atoms(self) -> list[tuple[float, float]]:
        """The law of Y | x as x -> 0 (atoms)."""
        return [(0.0, 1.0)]

    def ple_at_infinity(self, v: float) -> float:
        """lim P(Y <= v | x) as x -> inf."""
        return 0.0

    def cin_at_infinity(self, v: float) -> float:
        """lim cin(v, x) / x^2 as x -> inf."""
        return 0.0


class _MultCond(_Cond):
    """Y = xZ with Z of density."""

    has_density = True

    def __init__(self, f: _Factor):
        self.f = f

    vectorised = True

    def plt(self, v, x):
        return self.f.cdf(v / x) if v > 0 else 0.0

    ple = plt

    def vplt(self, v, x):
        pos = np.asarray(v) > 0
        return np.where(pos, self.f.vcdf(np.where(pos, v, 1.0) / x), 0.0)

    vple = vplt

    def vbetween(self, v, x):
        return self.f.vbetween(v / x, 1 + v / x)

    def vcin(self, v, x):
        return x * x * self.f.vH(v / x)

    def vdens(self, y, x):
        return self.f.vpdf(y / x) / x

    def between(self, v, x):
        return self.f.between(v / x, 1 + v / x)

    def cin(self, v, x):
        return x * x * self.f.H(v / x)

    def under(self, x):
        return x * self.f.under()

    def dens(self, y, x):
        return self.f.pdf(y / x) / x

    def dens_range(self, y):
        return (y / self.f.hi if self.f.hi < INF else 0.0), (y / self.f.lo if self.f.lo > 0 else INF)

    def x_knots(self, v):
        if v <= 0:
            return []
        out = [v] + [v / z for z in self.f.knots]
        out += [v / (z - 1) for z in self.f.knots if z > 1]
        return out

    def y_knots(self, x):
        return [x] + [x * z for z in self.f.knots]

    def cin_at_infinity(self, v):
        return self.f.H(0.0)


class _AtomFactorCond(_Cond):
    """Y = beta x exactly (beta = 1: perfect predictions)."""

    vectorised = True

    def __init__(self, beta: float):
        self.beta = beta

    def vy(self, x: np.ndarray) -> np.ndarray:
        """The prediction of each size."""
        return self.beta * x

    def vplt(self, v, x):
        return (self.vy(x) < v).astype(float)

    def vple(self, v, x):
        return (self.vy(x) <= v).astype(float)

    def vbetween(self, v, x):
        y = self.vy(x)
        return ((v < y) & (y <= x + v)).astype(float)

    def vcin(self, v, x):
        y = self.vy(x)
        return np.where(y > v, np.maximum(x - y + v, 0.0) ** 2, 0.0)

    def plt(self, v, x):
        return 1.0 if self.beta * x < v else 0.0

    def ple(self, v, x):
        return 1.0 if self.beta * x <= v else 0.0

    def between(self, v, x):
        return 1.0 if v < self.beta * x <= x + v else 0.0

    def cin(self, v, x):
        y = self.beta * x
        return max(x - y + v, 0.0) ** 2 if y > v else 0.0

    def under(self, x):
        return max(x - self.beta * x, 0.0)

    def atoms(self, x):
        return [(self.beta * x, 1.0)]

    def x_knots(self, v):
        out = [v / self.beta]
        if self.beta > 1:
            out.append(v / (self.beta - 1))
        return out

    def y_knots(self, x):
        return [self.beta * x]

    def cin_at_infinity(self, v):
        return max(1 - self.beta, 0.0) ** 2


class _MapCond(_AtomFactorCond):
    """Y = v_k x for x in [e_k, e_{k+1}) (a factor map)."""

    def __init__(self, edges: Sequence[float], values: Sequence[float]):
        self.e = [float(v) for v in edges]
        self.vals = [float(v) for v in values]

    def factor(self, x: float) -> float:
        # the last k < len(vals) with e_k <= x (k = 0 below e_0)
        k = min(max(bisect.bisect_right(self.e, x) - 1, 0), len(self.vals) - 1)
        return self.vals[k]

    def vy(self, x):
        k = np.clip(np.searchsorted(self.e, x, side="right") - 1, 0, len(self.vals) - 1)
        return np.asarray(self.vals)[k] * x

    def plt(self, v, x):
        return 1.0 if self.factor(x) * x < v else 0.0

    def ple(self, v, x):
        return 1.0 if self.factor(x) * x <= v else 0.0

    def between(self, v, x):
        return 1.0 if v < self.factor(x) * x <= x + v else 0.0

    def cin(self, v, x):
        y = self.factor(x) * x
        return max(x - y + v, 0.0) ** 2 if y > v else 0.0

    def under(self, x):
        return max(x - self.factor(x) * x, 0.0)

    def atoms(self, x):
        return [(self.factor(x) * x, 1.0)]

    def x_knots(self, v):
        out = [e for e in self.e if 0 < e < INF]
        for b in self.vals:
            out.append(v / b)
            if b > 1:
                out.append(v / (b - 1))
        return out

    def y_knots(self, x):
        return [self.factor(x) * x]

    def cin_at_infinity(self, v):
        return max(1 - self.vals[-1], 0.0) ** 2


class _OneBitCond(_Cond):
    """Y in {0, 1}: P(Y = 1 | x) = 1 - p_ls for x > T, p_sl otherwise."""

    fixed_atoms = (0.0, 1.0)

    def __init__(self, T: float, p_sl: float, p_ls: float):
        self.T, self.p_sl, self.p_ls = T, p_sl, p_ls

    vectorised = True

    def q(self, x: float) -> float:
        return 1.0 - self.p_ls if x > self.T else self.p_sl

    def vatoms(self, x: np.ndarray) -> list[tuple[float, np.ndarray]]:
        q = np.where(x > self.T, 1.0 - self.p_ls, self.p_sl)
        return [(0.0, 1.0 - q), (1.0, q)]

    def _vsum(self, x, keep, term=None):
        out = np.zeros(np.shape(x))
        for y, p in self.vatoms(x):
            sel = keep(y)
            if np.ndim(sel) == 0 and not sel:
                continue
            out = out + np.where(sel, p if term is None else p * term(y), 0.0)
        return out

    def vplt(self, v, x):
        return self._vsum(x, lambda y: y < v)

    def vple(self, v, x):
        return self._vsum(x, lambda y: y <= v)

    def vbetween(self, v, x):
        return self._vsum(x, lambda y: (v < y) & (y <= x + v))

    def vcin(self, v, x):
        return self._vsum(x, lambda y: y > v, lambda y: np.maximum(x - y + v, 0.0) ** 2)

    def atoms(self, x):
        q = self.q(x)
        return [(0.0, 1.0 - q), (1.0, q)]

    def plt(self, v, x):
        return sum(p for y, p in self.atoms(x) if y < v)

    def ple(self, v, x):
        return sum(p for y, p in self.atoms(x) if y <= v)

    def between(self, v, x):
        return sum(p for y, p in self.atoms(x) if v < y <= x + v)

    def cin(self, v, x):
        return sum(p * max(x - y + v, 0.0) ** 2 for y, p in self.atoms(x) if y > v)

    def under(self, x):
        return sum(p * max(x - y, 0.0) for y, p in self.atoms(x))

    def x_knots(self, v):
        return [self.T, 1.0, 1.0 - v]

    def small_x_atoms(self):
        return [(0.0, 1.0 - self.p_sl), (1.0, self.p_sl)]

    def ple_at_infinity(self, v):
        return (self.p_ls if v >= 0 else 0.0) + ((1 - self.p_ls) if v >= 1 else 0.0)

    def cin_at_infinity(self, v):
        return (1 - self.p_ls) if v < 1 else 0.0


class _PairsCond(_Cond):
    """Empirical conditional law of Y given X (from pairs)."""

    vectorised = True

    def __init__(self, table: dict[float, list[tuple[float, float]]]):
        self.table = table

    def _vsum(self, v, x, keep, term=None) -> np.ndarray:
        """Sum over the predictions y of each size x (an atom) of P(y | x) (times ``term``) where
        ``keep(y, v, x)``."""
        x = np.asarray(x, dtype=float)
        v = np.broadcast_to(np.asarray(v, dtype=float), x.shape)
        out = np.zeros(x.shape)
        for xv, ys in self.table.items():
            m = x == xv
            if not np.any(m):
                continue
            vm, xm = v[m], x[m]
            acc = np.zeros(vm.shape)
            for y, p in ys:
                acc = acc + np.where(keep(y, vm, xm), p if term is None else p * term(y, vm, xm), 0.0)
            out[m] = acc
        return out

    def vplt(self, v, x):
        return self._vsum(v, x, lambda y, v, x: y < v)

    def vple(self, v, x):
        return self._vsum(v, x, lambda y, v, x: y <= v)

    def vbetween(self, v, x):
        return self._vsum(v, x, lambda y, v, x: (v < y) & (y <= x + v))

    def vcin(self, v, x):
        return self._vsum(v, x, lambda y, v, x: y > v, lambda y, v, x: np.maximum(x - y + v, 0.0) ** 2)

    def atoms(self, x):
        return self.table[x]

    def plt(self, v, x):
        return math.fsum(p for y, p in self.table[x] if y < v)

    def ple(self, v, x):
        return math.fsum(p for y, p in self.table[x] if y <= v)

    def between(self, v, x):
        return math.fsum(p for y, p in self.table[x] if v < y <= x + v)

    def cin(self, v, x):
        return math.fsum(p * max(x - y + v, 0.0) ** 2 for y, p in self.table[x] if y > v)

    def under(self, x):
        return math.fsum(p * max(x - y, 0.0) for y, p in self.table[x])


def _conditional(pred) -> _Cond:
    name = type(pred).__name__
    if name == "PerfectPrediction":
        return _AtomFactorCond(1.0)
    if name == "ExponentialPrediction":
        return _MultCond(_ExpFactor())
    if name == "UniformPrediction":
        a = float(pred.alpha)
        return _MultCond(_UniformFactor(1 - a, 1 + a))
    if name == "LogNormalPrediction":
        s = float(pred.sigma)
        return _AtomFactorCond(1.0) if s == 0 else _MultCond(_LogNormalFactor(s))
    if name == "BoundedMultiplicative":
        if pred.factors is not None:
            if callable(pred.factors):
                raise NotImplementedError("no reference for callable factor maps")
            return _MapCond(*pred.factors)
        b, a = float(pred.beta), float(pred.alpha)
        if a == b:
            return _AtomFactorCond(b)
        return _MultCond(_UniformFactor(b, a) if pred.law == "uniform" else _LogUniformFactor(b, a))
    if name == "OneBit":
        return _OneBitCond(float(pred.threshold), float(pred.p_small_as_large),
                           float(pred.p_large_as_small))
    raise NotImplementedError(f"no reference for prediction law {name}")


# ==== the model =================================================================================
class RefModel:
    """Reference SOAP formulas for one size law and one prediction law, at any arrival rate.

    Parameters
    ----------
    size : qtheory size law
        Read for its parameters only.
    prediction : qtheory prediction law, optional
        Read for its parameters only; ``EmpiricalPairs`` also gives the sizes.
    """

    def __init__(self, size, prediction=None):
        if prediction is not None and type(prediction).__name__ == "EmpiricalPairs":
            table: dict[float, list[tuple[float, float]]] = {}
            for x, y, w in zip(prediction.x, prediction.y, prediction.w, strict=True):
                table.setdefault(float(x), []).append((float(y), float(w)))
            px = {x: math.fsum(w for _, w in ys) for x, ys in table.items()}
            self.X = RefSize(atoms=list(px.items()))
            self.cond: _Cond | None = _PairsCond(
                {x: [(y, w / px[x]) for y, w in ys if w > 0] for x, ys in table.items()})
        else:
            self.X = RefSize(size)
            self.cond = None if prediction is None else _conditional(prediction)
        self.m1 = self.X.moment(1)
        self.m2 = self.X.moment(2)
        self._cache: dict[tuple, dict[float, float]] = {}
        self.y_atoms = self._y_atoms()
        self._yk: list[float] | None = None

    def _y_atoms(self) -> list[float]:
        c = self.cond
        if c is None:
            return []
        if c.fixed_atoms is not None:
            return list(c.fixed_atoms)
        return sorted({y for v, _ in self.X.atoms for y, _ in c.atoms(v)})

    def _batch(self, key: tuple, vs, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """``fn`` on the points of ``vs`` not cached yet in the table of ``key``."""
        vs = np.atleast_1d(np.asarray(vs, dtype=float))
        cache = self._cache.setdefault(key, {})  # one table of v per key
        vl = vs.tolist()
        got = [cache.get(v) for v in vl]
        if None not in got:
            return np.array(got, dtype=float)
        out = np.empty(vs.size)
        miss: dict[float, list[int]] = {}
        for i, (v, r) in enumerate(zip(vl, got)):
            if r is None:
                miss.setdefault(v, []).append(i)
            else:
                out[i] = r
        mv = list(miss)
        for v, r in zip(mv, np.asarray(fn(np.array(mv)), dtype=float).tolist(), strict=True):
            cache[v] = r
            out[miss[v]] = r
        return out

    # -- functions of the size alone -----------------------------------------------------------
    def pm_many(self, k: int, cs, strict: bool = False) -> np.ndarray:
        r""":math:`E[X^k 1\{X \le c\}]` (``strict``: :math:`X < c`) at each c of ``cs``."""
        strict = strict and bool(self.X.atoms)  # no atom: X < c and X <= c have one law

        return self._batch(("pm", k, strict), cs,
                           lambda c: self.X.partial_many(k, c, upper=False, strict=strict))

    def pm(self, k: int, c: float, strict: bool = False) -> float:
        r""":math:`E[X^k 1\{X \le c\}]` (``strict``: :math:`X < c`)."""
        return float(self.pm_many(k, [c], strict)[0])

    def tm_many(self, k: float, cs) -> np.ndarray:
        r""":math:`E[X^k 1\{X > c\}]` at each c of ``cs``, ``k`` may be -1."""
        if k >= self.X.tail_index:
            return np.full(np.size(cs), INF)
        return self._batch(("tm", k), cs, lambda c: self.X.partial_many(k, c, upper=True))

    def tm(self, k: float, c: float) -> float:
        r""":math:`E[X^k 1\{X > c\}]`, ``k`` may be -1."""
        return float(self.tm_many(k, [c])[0])

    def mmin_many(self, k: int, cs) -> np.ndarray:
        r""":math:`E[\min(X, c)^k]` at each c of ``cs``."""
        cs = np.asarray(cs, dtype=float)
        return self.pm_many(k, cs) + cs**k * self.tm_many(0, cs)

    def mmin(self, k: int, c: float) -> float:
        r""":math:`E[\min(X, c)^k]`."""
        return float(self.mmin_many(k, [c])[0])

    # -- functions of the threshold v (joint law) -------------------------------------------------
    def _exm(self, g: Callable[[float, float], float], vg: Callable[[np.ndarray, np.ndarray], np.ndarray],
             vs: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None) -> np.ndarray:
        r""":math:`E[g(X, v)]` at each v of ``vs`` over the joint law, split at the kinks
        ``x_knots(v)``; ``vg`` is ``g`` on arrays (conditional laws without it: one
        :meth:`RefSize.expect` per v)."""
        c = self.cond
        if c.vectorised:
            return self.X.expect_many(vg, vs, c.x_knots, lo, hi)
        lo = np.zeros(vs.size) if lo is None else lo
        hi = np.full(vs.size, INF) if hi is None else hi
        return np.array([self.X.expect(lambda x, v=v: g(x, v), c.x_knots(v), lo=a, hi=b)
                         for v, a, b in zip(vs.tolist(), lo.tolist(), hi.tolist(), strict=True)])

    def A_many(self, vs, strict: bool = True) -> np.ndarray:
        r""":math:`A_<(v) = E[X 1\{Y < v\}]` at each v of ``vs`` (``strict=False``: :math:`A_\le`)."""
        c = self.cond
        vs = np.atleast_1d(np.asarray(vs, dtype=float))
        out = np.zeros(vs.size)
        if c.has_density:
            strict = True  # Y has no atom: A_<= = A_<
        # v < 0: A_<= = A_< = 0; v = 0: A_< = 0
        sel = vs > 0 if strict else vs >= 0
        if np.any(sel):
            out[sel] = self._batch(("A", strict), vs[sel], lambda w: self._exm(
                (lambda x, v: x * c.plt(v, x)) if strict else (lambda x, v: x * c.ple(v, x)),
                (lambda x, v: x * c.vplt(v, x)) if strict else (lambda x, v: x * c.vple(v, x)), w))
        return out

    def A(self, v: float, strict: bool = True) -> float:
        r""":math:`A_<(v) = E[X 1\{Y < v\}]` (``strict=False``: :math:`A_\le`)."""
        return float(self.A_many([v], strict)[0])

    def _inf_where(self, vs: np.ndarray, limit: Callable[[float], float]) -> np.ndarray:
        """Thresholds where E[X^2] = inf makes the function infinite (``limit(v) > 0``)."""
        if not math.isinf(self.m2):
            return np.zeros(vs.size, dtype=bool)
        return np.array([limit(v) > 0 for v in vs.tolist()], dtype=bool)

    def B_many(self, vs) -> np.ndarray:
        r""":math:`E[X^2 1\{Y \le v\}]` at each v of ``vs``."""
        c = self.cond
        return self._second_order_many("B", vs, c.ple_at_infinity, lambda x, v: x * x * c.ple(v, x),
                                       lambda x, v: x * x * c.vple(v, x))

    def B(self, v: float) -> float:
        r""":math:`E[X^2 1\{Y \le v\}]`."""
        return float(self.B_many([v])[0])

    def C_many(self, vs) -> np.ndarray:
        r""":math:`E[((X - (Y - v))^+)^2 1\{Y > v\}]` at each v of ``vs``."""
        c = self.cond
        return self._second_order_many("C", vs, c.cin_at_infinity, lambda x, v: c.cin(v, x),
                                       lambda x, v: c.vcin(v, x))

    def _second_order_many(self, name: str, vs, limit, g, vg) -> np.ndarray:
        """B or C (``name``) at each v of ``vs``: ``inf`` where :meth:`_inf_where` says so, else
        the batched expectation of ``g`` (scalar) / ``vg`` (vectorised) over x."""
        vs = np.atleast_1d(np.asarray(vs, dtype=float))
        out = np.full(vs.size, INF)
        fin = ~self._inf_where(vs, limit)
        if np.any(fin):
            out[fin] = self._batch((name,), vs[fin], lambda w: self._exm(g, vg, w))
        return out

    def C(self, v: float) -> float:
        r""":math:`E[((X - (Y - v))^+)^2 1\{Y > v\}]`."""
        return float(self.C_many([v])[0])

    def G_many(self, vs, weight: int = 0) -> np.ndarray:
        r""":math:`E[X^{w} 1\{v < Y \le X + v\}]` at each v of ``vs``, ``weight`` w = 0 or -1."""
        c = self.cond
        return self._batch(("G", weight), vs, lambda w: self._exm(
            lambda x, v: x**weight * c.between(v, x), lambda x, v: x**weight * c.vbetween(v, x), w))

    def G(self, v: float, weight: int = 0) -> float:
        r""":math:`E[X^{w} 1\{v < Y \le X + v\}]`, ``weight`` w = 0 or -1."""
        return float(self.G_many([v], weight)[0])

    def fY_many(self, ys, weight: int = 0) -> np.ndarray:
        r"""Density of the measure :math:`E[X^w 1\{Y \in dy\}]/dy` (``weight`` w in {-1, 0, 1})
        at each y of ``ys``."""
        c = self.cond

        def f(w: np.ndarray) -> np.ndarray:
            rng = [c.dens_range(y) for y in w.tolist()]
            return self._exm(lambda x, y: x**weight * c.dens(y, x), lambda x, y: x**weight * c.vdens(y, x),
                             w, np.array([a for a, _ in rng]), np.array([b for _, b in rng]))
        return self._batch(("fY", weight), ys, f)

    def fY(self, y: float, weight: int = 0) -> float:
        r"""Density of the measure :math:`E[X^w 1\{Y \in dy\}]/dy` (``weight`` w in {-1, 0, 1})."""
        return float(self.fY_many([y], weight)[0])

    def _y_knots(self) -> list[float]:
        if self._yk is None:
            pts = set(self.y_atoms)
            for x in self.X.points:
                pts |= set(self.cond.y_knots(x))
            self._yk = sorted(p for p in pts if 0 < p < INF)
        return self._yk

    def _res_knots(self) -> list[float]:
        r"""Knots of the functions of v in the residence integrals: those of the predictions and
        the jumps v = y - x of :math:`P(v < Y \le X + v)` at atoms x of X and y of Y (one-bit
        labels, pairs, factors on discrete sizes), and its kinks v = y - x at the support ends,
        scale knots of X and one-bit thresholds x."""
        xs = {x for x, _ in self.X.atoms} | set(self.X.points) | set(self.cond.x_knots(0.0))
        return sorted(set(self._y_knots()) | {y - x for y in self.y_atoms for x in xs if y - x > 0})

    def EY(self, h: Callable[[np.ndarray], np.ndarray], weight: int = 0) -> float:
        r""":math:`E[X^w h(Y)]` over the joint law (``weight`` w in {-1, 0, 1}); ``h`` takes an
        array of predictions and may be ``inf`` on atoms of positive mass (then the result is
        ``inf``)."""
        c = self.cond
        terms = []

        def h1(y: float) -> float:
            return float(h(np.array([y]))[0])

        if c.has_density:
            terms.append(vquad_pieces(lambda y: self._vtimes(h(y), self.fY_many(y, weight)), 0.0, INF,
                                      self._y_knots()))
        elif c.fixed_atoms is not None:
            for y in c.fixed_atoms:
                w = self.X.expect(lambda x, y=y: x**weight * math.fsum(
                    p for yy, p in c.atoms(x) if yy == y), c.x_knots(y))
                terms.append(self._times(h1, y, w))
        elif isinstance(c, _AtomFactorCond):  # Y = b(x) x, a function of the size
            terms.append(self.X.expect(lambda x: x**weight * self._times(h1, c.atoms(x)[0][0], 1.0),
                                       vg=lambda x: x**weight * self._vtimes(h(c.vy(x)), 1.0)))
        else:
            terms.append(self.X.expect(lambda x: x**weight * math.fsum(
                self._times(h1, y, p) for y, p in c.atoms(x))))
        return math.fsum(terms)

    @staticmethod
    def _times(h: Callable[[float], float], y: float, w: float) -> float:
        return h(y) * w if w > 0 else 0.0

    @staticmethod
    def _vtimes(hy: np.ndarray, w) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.where(np.asarray(w) > 0, hy * w, 0.0)

    # -- policies ----------------------------------------------------------------------------
    def _d(self, lam: float, ys: np.ndarray) -> np.ndarray:
        return (1 - lam * self.A_many(ys, strict=False)) * (1 - lam * self.A_many(ys))

    def _wait_many(self, policy: str, lam: float, ys) -> np.ndarray:
        """Waiting term (first term of the SOAP theorem) of jobs with predictions ``ys``."""
        ys = np.atleast_1d(np.asarray(ys, dtype=float))
        if policy == "spjf":
            return lam * self.m2 / (2 * self._d(lam, ys))
        b = self.B_many(ys) if policy == "pspjf" else self.B_many(ys) + self.C_many(ys)
        with np.errstate(invalid="ignore"):
            return np.where(b > 0, lam * b / (2 * self._d(lam, ys)), 0.0)

    def _wait(self, policy: str, lam: float, y: float) -> float:
        """Waiting term (first term of the SOAP theorem) of a job with prediction y."""
        return float(self._wait_many(policy, lam, [y])[0])

    def _size_wait_many(self, policy: str, lam: float, xs) -> np.ndarray:
        xs = np.atleast_1d(np.asarray(xs, dtype=float))
        le, lt = lam * self.pm_many(1, xs), lam * self.pm_many(1, xs, strict=True)
        if policy == "sjf":
            return lam * self.m2 / (2 * (1 - le) * (1 - lt))
        num = self.pm_many(2, xs)
        if policy == "srpt":
            num = num + xs * xs * self.tm_many(0, xs)
        return lam * num / (2 * (1 - le) * (1 - lt))

    def _sprpt_residence(self, lam: float, x: float, y: float) -> float:
        lo = max(y - x, 0.0)
        knots = [a for a in self.y_atoms + self._y_knots() if lo < a < y]
        return vquad_pieces(lambda v: 1.0 / (1 - lam * self.A_many(v)), lo, y, knots) + max(x - y, 0.0)

    def _srpt_residence(self, lam: float, x: float) -> float:
        return vquad_pieces(lambda t: 1.0 / (1 - lam * self.pm_many(1, t, strict=True)), 0.0, x,
                            self.X.points)

    def _size_response_many(self, policy: str, lam: float, xs) -> np.ndarray:
        r""":math:`E[T \mid X = x]` of LAS, SJF and PSJF at each x of ``xs``."""
        xs = np.atleast_1d(np.asarray(xs, dtype=float))
        if policy == "las":
            rb = lam * self.mmin_many(1, xs)
            return xs / (1 - rb) + lam * self.mmin_many(2, xs) / (2 * (1 - rb) ** 2)
        w = self._size_wait_many(policy, lam, xs)
        if policy == "sjf":
            return xs + w
        return w + xs / (1 - lam * self.pm_many(1, xs, strict=True))

    def response_time(self, policy: str, lam: float, x: float, y: float | None = None) -> float:
        r""":math:`E[T \mid X = x, Y = y]` (``y`` for the prediction policies)."""
        rho = lam * self.m1
        if policy == "fcfs":
            return x + lam * self.m2 / (2 * (1 - rho))
        if policy == "ps":
            return x / (1 - rho)
        if policy in ("las", "sjf", "psjf"):
            return float(self._size_response_many(policy, lam, [x])[0])
        if policy == "srpt":
            return float(self._size_wait_many(policy, lam, [x])[0]) + self._srpt_residence(lam, x)
        w = self._wait(policy, lam, y)
        if policy == "spjf":
            return x + w
        if policy == "pspjf":
            return w + x / (1 - lam * self.A(y))
        return w + self._sprpt_residence(lam, x, y)

    def _sprpt_infinite(self) -> bool:
        """C(v) = inf for every v >= 0 (predictions proportional to sizes that fall short of
        them with positive probability, and E[X^2] = inf); one-bit labels give C(0) = inf
        through the atoms of Y instead."""
        return (math.isinf(self.m2) and self.cond.fixed_atoms is None
                and self.cond.cin_at_infinity(0.0) > 0)

    def _xexpect(self, vg: Callable[[np.ndarray], np.ndarray], knots: Iterable[float]) -> float:
        """E[g(X)] for a function of the size on arrays (atoms: one value each)."""
        return self.X.expect(lambda x: float(vg(np.array([x]))[0]), knots, vg=vg)

    def _srpt_res_integral(self, f: Callable[[np.ndarray], np.ndarray]) -> float:
        X = self.X
        return vquad_pieces(f, 0.0, X.points[-1] if X.is_discrete else INF, X.points)

    def mean_response_time(self, policy: str, lam: float) -> float:
        """E[T]."""
        rho = lam * self.m1
        X = self.X
        if policy in ("fcfs", "sjf", "spjf") and math.isinf(self.m2):
            return INF
        if policy == "fcfs":
            return self.m1 + lam * self.m2 / (2 * (1 - rho))
        if policy == "ps":
            return self.m1 / (1 - rho)
        if policy in ("las", "sjf", "psjf"):
            return self._xexpect(lambda x: self._size_response_many(policy, lam, x), X.points)
        if policy == "srpt":
            wait = self._xexpect(lambda x: self._size_wait_many("srpt", lam, x), X.points)
            res = self._srpt_res_integral(
                lambda t: self.tm_many(0, t) / (1 - lam * self.pm_many(1, t, strict=True)))
            return wait + res
        if policy == "spjf":
            return self.m1 + self.EY(lambda y: self._wait_many("spjf", lam, y))
        if policy == "pspjf":
            return self.EY(lambda y: self._wait_many("pspjf", lam, y)) + self.EY(
                lambda y: 1.0 / (1 - lam * self.A_many(y)), weight=1)
        if policy == "sprpt":
            if self._sprpt_infinite():
                return INF
            wait = self.EY(lambda y: self._wait_many("sprpt", lam, y))
            # E[(X - Y)^+] jumps and kinks where the law of Y | x does (a one-bit threshold)
            under = X.expect(self.cond.under, list(X.points) + self.cond.x_knots(0.0))
            return wait + self._residence(lam, 0) + under
        raise ValueError(policy)

    def _residence(self, lam: float, weight: int) -> float:
        r""":math:`\int_0^\infty E[X^w 1\{v < Y \le X+v\}]/(1-\lambda A_<(v))\,dv`."""
        top = INF if self.cond.has_density or self.X.comps else max(self.y_atoms)
        return vquad_pieces(lambda v: self.G_many(v, weight) / (1 - lam * self.A_many(v)), 0.0, top,
                            self._res_knots())

    def _small_job_wait(self, policy: str, lam: float) -> float:
        """lim of E[waiting | X = x] as x -> 0 (prediction policies)."""
        return math.fsum(p * self._wait(policy, lam, y) for y, p in self.cond.small_x_atoms()
                         if p > 0)

    def mean_slowdown(self, policy: str, lam: float) -> float:
        """E[T/X] (``inf`` where it diverges)."""
        rho = lam * self.m1
        X = self.X
        if policy == "ps":
            return 1.0 / (1 - rho)
        if policy in ("fcfs", "sjf", "spjf") and (X.inv_inf or math.isinf(self.m2)):
            return INF
        if policy == "fcfs":
            return 1.0 + lam * self.m2 / (2 * (1 - rho)) * X.inv_moment()
        if policy in ("las", "sjf", "psjf"):
            return self._xexpect(lambda x: self._size_response_many(policy, lam, x) / x, X.points)
        if policy == "srpt":
            wait = self._xexpect(lambda x: self._size_wait_many("srpt", lam, x) / x, X.points)
            res = self._srpt_res_integral(
                lambda t: self.tm_many(-1, t) / (1 - lam * self.pm_many(1, t, strict=True)))
            return wait + res
        if policy == "sprpt" and self._sprpt_infinite():
            return INF
        if X.inv_inf and self._small_job_wait(policy, lam) > 0:
            return INF
        wait = self.EY(lambda y: self._wait_many(policy, lam, y), weight=-1)
        if policy == "spjf":
            return 1.0 + wait
        if policy == "pspjf":
            return wait + self.EY(lambda y: 1.0 / (1 - lam * self.A_many(y)))
        under = X.expect(lambda x: self.cond.under(x) / x, list(X.points) + self.cond.x_knots(0.0))
        return wait + self._residence(lam, -1) + under

    def light_traffic(self, policy: str) -> float:
        r""":math:`\frac{d}{d\lambda} E[T]` at :math:`\lambda = 0`: the first-order term of
        :math:`E[T] = E[X] + \lambda c_1 + O(\lambda^2)`, from expanding each formula."""
        X = self.X
        if policy in ("fcfs", "sjf", "spjf"):
            return self.m2 / 2
        if policy == "ps":
            return self.m1**2
        if policy == "las":  # x E[min(X, x)] + E[min(X, x)^2]/2
            return self._xexpect(lambda x: x * self.mmin_many(1, x) + self.mmin_many(2, x) / 2, X.points)
        if policy == "psjf":  # M2(x)/2 + x E[X 1{X < x}]
            return self._xexpect(lambda x: self.pm_many(2, x) / 2 + x * self.pm_many(1, x, strict=True),
                                 X.points)
        if policy == "srpt":  # (M2(x) + x^2 P(X > x))/2 + int_0^x E[X 1{X < t}] dt
            wait = self._xexpect(lambda x: (self.pm_many(2, x) + x * x * self.tm_many(0, x)) / 2, X.points)
            res = self._srpt_res_integral(lambda t: self.tm_many(0, t) * self.pm_many(1, t, strict=True))
            return wait + res
        if policy == "pspjf":
            return self.EY(lambda y: self.B_many(y) / 2) + self.EY(self.A_many, weight=1)
        if policy == "sprpt":
            top = INF if self.cond.has_density or X.comps else max(self.y_atoms)
            res = vquad_pieces(lambda v: self.G_many(v) * self.A_many(v), 0.0, top, self._res_knots())
            return self.EY(lambda y: (self.B_many(y) + self.C_many(y)) / 2) + res
        raise ValueError(policy)
