r"""The SOAP theorem evaluated on a continuous size law itself, for blind rank functions.

For a blind SOAP policy (the rank :math:`r(a)` depends on the age only: Gittins, FB/LAS, FCFS, a
:class:`~qtheory.policies.Rank` with ``descriptor="none"``) and a continuous size law, every SOAP
quantity is computed on the law, not on a discretisation (``docs/soap_predictions.md``,
sections 3-5):

.. math::
    E[T] = E\left[\frac{\lambda \sum_i E[(X^{old}_i[R(X)])^2]}
                       {2(1-\rho^{old}_0[R(X)])(1-\rho^{new}[R(X)])}
           + \int_0^X \frac{da}{1-\rho^{new}[\sup_{[a,X)} r]}\right],
    \qquad R(x) = \sup_{[0,x)} r,

with :math:`\rho^{new}[\ell] = \lambda E[\min(X, c^{new}(\ell))]`,
:math:`c^{new}(\ell) = \inf\{a : r(a) \ge \ell\}` and the old intervals the components of
:math:`\{a : r(a) \le \ell\}`. The steps:

1. The rank is represented on the age axis (in :math:`u = \log a`, or in the square root of
   the distance to a support end of the law) by an adaptive piecewise Chebyshev interpolant (17
   Chebyshev-Lobatto points a panel, panels halved until the last coefficients fall below
   :math:`10^{-12}` of the panel's scale). For Gittins the rank at each node is the index
   computed by direct minimisation on the law (:func:`gittins_rank`).
2. The monotone pieces of the rank are located (extrema of the interpolant), the running
   maximum :math:`R` is split into record stretches and plateaus, and every age where the rank
   crosses a *critical level* (the rank at a piece end) is located by bisection: between these
   ages every function of the SOAP theorem is smooth.
3. :math:`\rho^{new}`, :math:`\rho^{old}_0` and :math:`\sum_i E[(X^{old}_i)^2]` come from the
   law's exact partial moments at the located crossings; the outer expectation over :math:`X`
   is composite Gauss-Legendre in :math:`\log x` with those ages as panel edges; the residence
   integral is assembled from plateaus (a constant worst future rank) and the integral of
   :math:`1/(1-\rho^{new}[r(a)])` along the decreasing pieces, integrated by Chebyshev
   antiderivatives.
4. Everything is computed at two quadrature resolutions; the finer value is returned and the
   difference (plus ten times the interpolant's largest kept tail coefficient, relative) is the
   error estimate.

Panels next to those ages are mapped by the square root of the distance to them: a crossing
position moves like a square root of the level near a flat extremum of the rank (the Gittins
rank of a bounded Pareto law is flat to the right of its maximum), and the rank itself has a
square-root singularity just below the lower end of a support that starts above 0.

Measured (``tests/test_soap_exact.py``): Gittins on LogNormal(1) and Pareto(2.5) against an
independent mpmath evaluation to 1.2e-15 relative, on laws where it reduces to FB or FCFS to
1.4e-12; FB and FCFS to about 1e-14. The Gittins rank next to a finite top (Uniform,
BoundedPareto, a law truncated by a perfect bit) against a 40-digit maximisation to 8e-16 at
:math:`t - a = 10^{-2} t \dots 10^{-10} t` (``tests/test_gittins_top.py``; 0.9-5.1e-6 at
:math:`10^{-10} t` with the excess subtracted).

Not covered (they take :func:`qtheory.engine.generic.evaluate_discretised`): ranks with a descriptor
(size or prediction), laws with atoms, ``qt.from_scipy`` laws (their partial moments are
numerical integrals, too slow for the thousands of evaluations the index needs), and ranks
the interpolant cannot follow within 3000 panels or that are not finite (a non-preemptive
rank), and Gittins ranks the interpolant does not resolve to :data:`MAX_RANK_ERROR` (on a
bimodal mixture such as ``Mixture([LogNormal(0.3, 1), LogNormal(0.3, 20)], [0.8, 0.2])`` the
index's minimiser jumps between the modes, and the grid of stopping ages finds the far one at
some ages and misses it at others). A jump of the rank is followed only down to the
interpolant's finest panel (1e-7 in log age); declare it with ``breakpoints``.

Derivation: ``docs/soap_predictions.md`` (the theorem), ``docs/gittins.md`` (the index).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..laws._quadrature import _gl, endpoint_refinement, size_range

#: rank values within this relative distance of a flat piece's value are that value (a tie)
TIE_REL = 1e-12
#: Chebyshev-Lobatto points per panel of the rank interpolant and of the residence integrals
NCHEB = 17
_EPS = np.finfo(float).eps
_TN = -np.cos(np.pi * np.arange(NCHEB) / (NCHEB - 1))  # ascending in [-1, 1]


def _cheb_T(t: np.ndarray, n: int) -> np.ndarray:
    """Chebyshev polynomials T_0..T_{n-1} at ``t`` (shape ``t.shape + (n,)``; built degree-major,
    so that each step of the recurrence runs on contiguous memory, and returned as a view)."""
    t = np.asarray(t, float)
    out = np.empty((n,) + t.shape)
    out[0] = 1.0
    if n > 1:
        out[1] = t
    for k in range(2, n):  # T_k = 2 t T_{k-1} - T_{k-2} (the factor 2 is exact either side)
        row = out[k, ...]  # a view even for a scalar t
        np.multiply(t, out[k - 1], out=row)
        row *= 2.0
        row -= out[k - 2]
    return np.moveaxis(out, 0, -1)


_VINV = np.linalg.inv(_cheb_T(_TN, NCHEB))  # nodal values -> Chebyshev coefficients


def _int_T(tau: np.ndarray, n: int) -> np.ndarray:
    r""":math:`\int_{-1}^{\tau} T_k(s)\,ds` for k = 0..n-1."""
    tau = np.asarray(tau, float)
    T = np.moveaxis(_cheb_T(tau, n + 1), -1, 0)  # degree-major again (contiguous rows)
    out = np.empty((n,) + tau.shape)
    out[0] = tau + 1.0
    if n > 1:
        out[1] = (tau * tau - 1.0) / 2.0
    for k in range(2, n):
        c = ((-1.0) ** (k + 1) / (k + 1) - (-1.0) ** (k - 1) / (k - 1)) / 2.0
        out[k] = (T[k + 1] / (k + 1) - T[k - 1] / (k - 1)) / 2.0 - c
    return np.moveaxis(out, 0, -1)


def cumulative_weights(tau: np.ndarray) -> np.ndarray:
    r"""Weights ``w`` with :math:`\int_{-1}^{\tau} p(s)\,ds = \sum_j w_j p(t_j)` for the
    polynomial ``p`` interpolating at the Chebyshev-Lobatto points ``t_j``."""
    return _int_T(tau, NCHEB) @ _VINV


_FULLW = cumulative_weights(np.array(1.0))


def _tau(u, u0, u1, anchor):
    r"""Local coordinate in [-1, 1] of ``u = log a`` on panels ``[u0, u1]``: linear in ``u``, or
    (where ``anchor`` is a number) linear in :math:`\sqrt{|a - anchor|}`, which makes a
    function with a square-root singularity at the anchor smooth."""
    lin = (2.0 * u - u0 - u1) / (u1 - u0)
    sq = ~np.isnan(anchor)
    if not np.any(sq):
        return np.clip(lin, -1.0, 1.0)
    anc = np.where(sq, anchor, 0.0)
    with np.errstate(invalid="ignore"):
        v = np.sqrt(np.abs(np.exp(u) - anc))
        v0 = np.sqrt(np.abs(np.exp(u0) - anc))
        v1 = np.sqrt(np.abs(np.exp(u1) - anc))
        t = (2.0 * v - v0 - v1) / (v1 - v0)
    return np.clip(np.where(sq, t, lin), -1.0, 1.0)


def _age(tau, u0, u1, anchor):
    """Ages at local coordinates ``tau`` (inverse of :func:`_tau`) and da/dtau there."""
    lin_u = u0 + (u1 - u0) * (tau + 1.0) / 2.0
    a_lin = np.exp(lin_u)
    jac_lin = a_lin * (u1 - u0) / 2.0
    sq = ~np.isnan(anchor)
    if not np.any(sq):
        return a_lin, jac_lin
    anc = np.where(sq, anchor, 0.0)
    left = np.exp(u1) <= anc * (1 + 1e-15)  # the panel lies below its anchor
    v0 = np.sqrt(np.abs(np.exp(u0) - anc))
    v1 = np.sqrt(np.abs(np.exp(u1) - anc))
    v = v0 + (v1 - v0) * (tau + 1.0) / 2.0
    a_sq = np.where(left, anc - v * v, anc + v * v)
    jac_sq = np.abs(2.0 * v * (v1 - v0) / 2.0)
    return np.where(sq, a_sq, a_lin), np.where(sq, jac_sq, jac_lin)


class PiecewiseCheb:
    """A function of ``u = log a`` given by Chebyshev interpolants on consecutive panels
    ``[edges[j], edges[j+1]]`` (mapped as in :func:`_tau`)."""

    def __init__(self, edges: np.ndarray, anchor: np.ndarray, values: np.ndarray):
        self.edges = np.asarray(edges, float)
        self.anchor = np.asarray(anchor, float)
        self.values = values
        self.coef = values @ _VINV.T

    def panel(self, u: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.edges, u, side="right") - 1, 0, self.edges.size - 2)

    def __call__(self, u) -> np.ndarray:
        u = np.asarray(u, float)
        j = self.panel(u)
        tau = _tau(u, self.edges[j], self.edges[j + 1], self.anchor[j])
        return np.sum(self.coef[j] * _cheb_T(tau, NCHEB), axis=-1)


def adaptive_cheb(fn: Callable[[np.ndarray], np.ndarray], edges: np.ndarray, anchor: np.ndarray,
                  tol: float = 1e-13, min_width: float = 1e-7,
                  max_panels: int = 3000) -> tuple[PiecewiseCheb, float]:
    """Piecewise Chebyshev interpolant of ``fn`` (vectorised in the age ``a``) on the panels
    ``edges`` (in ``u = log a``; ``anchor`` per panel, see :func:`_tau`), each panel halved
    until its last three coefficients are below ``tol`` times the function's scale.

    Returns the interpolant and the largest tail coefficient kept (relative to the scale): an
    estimate of the interpolation error."""
    lo = np.asarray(edges[:-1], float)
    hi = np.asarray(edges[1:], float)
    anc = np.asarray(anchor, float)
    done_lo, done_hi, done_v, done_a = [], [], [], []
    worst = 0.0
    while lo.size:
        a, _ = _age(_TN[None, :], lo[:, None], hi[:, None], anc[:, None])
        v = np.asarray(fn(a.ravel()), float).reshape(a.shape)
        if not np.all(np.isfinite(v)):
            raise FloatingPointError("the rank is not finite on the law's support")
        # relative to the panel's own scale: a rank may span many orders of magnitude
        scale = np.max(np.abs(v), axis=1)
        c = v @ _VINV.T
        tail = np.max(np.abs(c[:, -3:]), axis=1) / np.maximum(scale, 1e-300)
        ok = (tail <= tol) | ((hi - lo) < min_width)
        if ok.any():
            worst = max(worst, float(np.max(tail[ok])))
        done_lo.append(lo[ok])
        done_hi.append(hi[ok])
        done_v.append(v[ok])
        done_a.append(anc[ok])
        if sum(x.size for x in done_lo) + 2 * int((~ok).sum()) > max_panels:
            raise FloatingPointError("the rank interpolant needs too many panels")
        bad = ~ok
        am, _ = _age(np.zeros(int(bad.sum())), lo[bad], hi[bad], anc[bad])
        mid = np.log(am)
        lo, hi = np.concatenate([lo[bad], mid]), np.concatenate([mid, hi[bad]])
        anc = np.concatenate([anc[bad], anc[bad]])
    lo = np.concatenate(done_lo)
    order = np.argsort(lo)
    edges = np.concatenate([lo[order], [np.concatenate(done_hi)[order][-1]]])
    return PiecewiseCheb(edges, np.concatenate(done_a)[order], np.concatenate(done_v)[order]), worst


def adaptive_cheb_pair(values: Callable, lo: np.ndarray, hi: np.ndarray, tol: float,
                       min_width: float, max_panels: int, what: str = "the level functions"):
    """Two functions interpolated on shared panels ``[lo, hi]`` (Chebyshev-Lobatto points of
    :data:`NCHEB`), each panel halved at its middle until the last three coefficients of both
    are below ``tol`` times their scale or the panel is narrower than ``min_width``.

    ``values(lo, hi)`` returns the two functions' values at every panel's points (shape
    ``(panels, NCHEB)`` each) and a floor of each one's scale per panel (0: the panel's own
    largest value). Returns the sorted panel edges, the two value tables in that order and the
    largest tail kept (relative): an estimate of the interpolation error."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    dl, dh, d1, d2 = [], [], [], []
    worst = 0.0
    while lo.size:
        v1, v2, f1, f2 = values(lo, hi)
        tails = []
        for v, floor in ((v1, f1), (v2, f2)):
            c = v @ _VINV.T
            scale = np.maximum(np.maximum(np.max(np.abs(v), axis=1), floor), 1e-300)
            tails.append(np.max(np.abs(c[:, -3:]), axis=1) / scale)
        tail = np.maximum(tails[0], tails[1])
        ok = (tail <= tol) | ((hi - lo) < min_width)
        if ok.any():
            worst = max(worst, float(tail[ok].max()))
        dl.append(lo[ok])
        dh.append(hi[ok])
        d1.append(v1[ok])
        d2.append(v2[ok])
        if sum(x.size for x in dl) > max_panels:
            raise FloatingPointError(f"{what} need too many panels")
        bad = ~ok
        mid = (lo[bad] + hi[bad]) / 2
        lo, hi = np.concatenate([lo[bad], mid]), np.concatenate([mid, hi[bad]])
    lo = np.concatenate(dl)
    order = np.argsort(lo)
    edges = np.concatenate([lo[order], [np.concatenate(dh)[order][-1]]])
    return edges, np.concatenate(d1)[order], np.concatenate(d2)[order], worst


def _anchored_edges(edges: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Panels on ``edges`` (in ``u = log a``) with every point of ``points`` (in ``u``) an edge,
    and the panels next to such a point mapped by the square root of the distance to it (a
    crossing position near a flat extremum of the rank, or the rank next to a support end,
    moves like a square root): (edges, anchor age per panel, NaN for a plain panel). A panel
    between two points is split in the middle."""
    e = np.asarray(edges, float)
    pts = np.asarray([p for p in points if e[0] <= p <= e[-1]], float)
    e = np.unique(np.concatenate([e, pts]))
    isp = np.isin(e, pts)
    both = isp[:-1] & isp[1:]
    if both.any():
        e = np.unique(np.concatenate([e, (e[:-1][both] + e[1:][both]) / 2]))
        isp = np.isin(e, pts)
    anchor = np.where(isp[:-1], np.exp(e[:-1]), np.where(isp[1:], np.exp(e[1:]), np.nan))
    return e, anchor


# ---- the Gittins index on a continuous law ---------------------------------------------------
#: Gauss-Legendre order of the excess next to a finite top, and the higher order it is checked
#: against on the longest stretch it is used on
TOP_ORDER, TOP_CHECK = 24, 32
_TOP_GL = {n: np.polynomial.legendre.leggauss(n) for n in (TOP_ORDER, TOP_CHECK)}


def _top_rule(size, c: np.ndarray, top: float, order: int = TOP_ORDER) -> np.ndarray:
    r""":math:`V(c) = \int_c^t (x - c) f(x)\,dx` for ages ``c`` below the top :math:`t` by
    ``order``-point Gauss-Legendre on :math:`[c, t]`, with :math:`x - c` formed as
    :math:`h (1 + \tau)`, :math:`h = (t - c)/2`, not from the nodes (which are rounded to the
    ulp of :math:`t`)."""
    tg, wg = _TOP_GL[order]
    h = (top - c) / 2.0
    nodes = (top + c)[..., None] / 2.0 + h[..., None] * tg
    f = np.asarray(size.pdf(nodes), float)
    return np.sum(wg * (1.0 + tg) * f, axis=-1) * h * h


def top_stretch(size) -> float:
    r"""The age :math:`s` from which :func:`excess_function` integrates the excess next to the
    law's finite top :math:`t` (``inf`` for an unbounded law, or where no stretch passes).

    The stretch :math:`[s, t]` starts at :math:`t/2` or at the law's last breakpoint below
    :math:`t` (its density must be smooth on it), whichever is higher, and is halved (towards
    :math:`t`) until the :data:`TOP_ORDER`- and :data:`TOP_CHECK`-point rules for :math:`V(s)`
    agree to :math:`10^{-14}` (relative; their rounding differs by up to 5e-15): a polynomial
    weight times a density analytic around the stretch is then integrated as well on every
    shorter stretch :math:`[c, t]`. Below :math:`s` the subtraction
    :math:`E[X 1\{X > c\}] - c \bar F(c)` loses
    :math:`\log_{10}(E[X \mid X > c] / E[X - c \mid X > c])` digits, under one for
    :math:`c < t/2` and a density that does not fall steeply (Uniform: 3 ulps). Exp(1)
    truncated at :math:`t = 300`: the 24-point rule is 3e-5 off on :math:`[150, 300]`, 1e-10 on
    :math:`[225, 300]`, 6e-15 on :math:`[262.5, 300]`, where it differs from the 32-point
    rule by 1.5e-14 (rounding: :math:`e^{-x}` moves by 280 ulps per ulp of a node), so the
    stretch starts at 281.25 (``tests/test_gittins_top.py``)."""
    top = float(size.support[1])
    if not math.isfinite(top) or not top > 0:
        return math.inf
    cache = getattr(size, "__dict__", {}).setdefault("_qt_cache", {})
    hit = cache.get("top_stretch")
    if hit is not None:
        return hit
    bps = [float(b) for b in np.asarray(size.breakpoints, float) if b < top]
    s = max(0.5 * top, max(bps, default=0.0))
    out = math.inf
    for _ in range(60):
        c = np.array([s])
        v1 = float(_top_rule(size, c, top)[0])
        v2 = float(_top_rule(size, c, top, TOP_CHECK)[0])
        if v1 > 0 and abs(v1 - v2) <= 1e-14 * v1:
            out = s
            break
        s = top - (top - s) / 2.0
    cache["top_stretch"] = out
    return out


def excess_function(size) -> Callable[..., np.ndarray]:
    r"""The excess :math:`V(c) = E[(X - c)^+]` of a continuous law without cancellation, as a
    function of the ages ``c`` and the tail :math:`\bar F(c)` there.

    Formed as :math:`E[X 1\{X > c\}] - c \bar F(c)` its two operands are about
    :math:`t \bar F(c)` next to a finite top :math:`t` and their difference about
    :math:`(t - c) \bar F(c) / 2`: a relative error of about :math:`\epsilon\, t / (t - c)`,
    which the Gittins rank :math:`V(a)/\bar F(a)` carries at every law with a finite top
    (Uniform, BoundedPareto, the class of small jobs of a perfect bit; measured 1.7e-6,
    5.1e-6, 8.6e-7 at :math:`t - a = 10^{-10} t`). On the stretch of :func:`top_stretch` it is
    the integral :math:`\int_c^t (x - c) f(x)\,dx` by Gauss-Legendre instead (above the top: 0),
    where also ``at`` holds (all ages by default). The stretch's start is the function's
    attribute ``start``: :func:`gittins_rank` integrates :math:`V(b)` at the stopping ages
    :math:`b` of the ages :math:`a` in the stretch only (below it :math:`V(a)` itself is the
    subtraction, 3 ulps or so, and so is the difference :math:`V(a) - V(b)`; integrating
    every :math:`V(b)` past the start took 50% more CPU for the rank of BoundedPareto(1.5, 1,
    100) for no gain)."""
    top = float(size.support[1])
    s = top_stretch(size)

    def excess(c: np.ndarray, sf_c: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
        c = np.asarray(c, float)
        v = np.maximum(np.asarray(size.tail_moment(1, c), float) - c * sf_c, 0.0)
        near = c >= s
        if at is not None:
            near &= at
        if np.any(near):
            v = np.array(v, float, copy=True)
            cn = c[near]
            inner = cn < top
            v[near] = np.where(inner, _top_rule(size, np.where(inner, cn, s), top), 0.0)
        return v

    excess.start = s
    return excess


def gittins_rank(size, a, hi: float, grid: int = 96, iters: int = 48,
                 by_segment: bool = False) -> np.ndarray:
    r"""The Gittins rank of a continuous size law at ages ``a`` by direct minimisation,

    .. math:: r(a) = \inf_{b > a} \frac{V(a) - V(b)}{\bar F(a) - \bar F(b)},
              \qquad V(c) = E[(X - c)^+],

    over the two limits :math:`b \downarrow a` (:math:`1/h(a) = \bar F(a)/f(a)`) and
    :math:`b = \infty` (:math:`V(a)/\bar F(a)`, SERPT's rank), and the interior. The stopping
    ages are split at the law's breakpoints :math:`\beta_j > a` (where its density jumps, e.g.
    the threshold of a one-bit class law, :class:`~qtheory.laws._reweighted.StepReweighted`)
    into segments :math:`(a, \beta_1], (\beta_1, \beta_2], \dots, (\beta_m, \mathrm{hi}]`,
    and the infimum is taken on each segment separately: on the first a grid of ``grid``
    stopping ages :math:`b - a` log-spaced from :math:`10^{-5}` of the local scale to its end,
    on the others a grid of :math:`b - \beta_j` log-spaced from :math:`10^{-6}` of the
    breakpoint (with the corner :math:`b = \beta_j` itself) to the segment's end; each is
    refined by golden-section search between the neighbours of the segment's best grid point
    (``iters`` steps shrink the bracket by :math:`0.618^{48} \approx 10^{-10}`: the value at a
    minimum is quadratic in the distance to it). A single grid over all stopping ages found
    only one local minimum: next to a jump of the density the minimum beyond it and the one
    at the age itself are close in value, and where the grid missed the far one the rank came
    out with a spurious jump (Pareto(2.5) and Weibull(0.5) classes of ``OneBit(1, 0.1, 0.2)``:
    0.2% off over an interval of ages). At an interior optimum the first-order condition
    :math:`r(a) = 1/h(b^*)` holds (``docs/gittins.md``, section 1). An interior value replaces
    the limits only where it is lower by more than :math:`10^{-10}` (relative). For a short
    quantum (:math:`\bar F(a) - \bar F(b) < 0.05 \bar F(a)`) both differences are integrated
    (10-point Gauss-Legendre of the density and the tail on each piece of :math:`[a, b]`
    between breakpoints) instead of subtracted, so that no digits cancel. The excess
    :math:`V` itself comes from :func:`excess_function` (integrated next to a finite top,
    where the subtraction :math:`E[X 1\{X > c\}] - c \bar F(c)` cancels).

    With ``by_segment`` the minimum on each segment is returned instead (shape ``(len(a),
    m + 1)``, ``inf`` where a segment is empty; the limit :math:`b \downarrow a` counts on the
    segment holding :math:`a`, :math:`b = \infty` on the last): where the smallest of them
    changes the rank has a kink."""
    a = np.atleast_1d(np.asarray(a, float))
    Fa = np.asarray(size.sf(a), float)
    excess = excess_function(size)
    Va = excess(a, Fa)
    kinks = np.asarray([b for b in np.asarray(size.breakpoints, float) if 0.0 < b < hi], float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):   # Fa / f overflows to inf
        # the limit b -> a+ takes the density just above a (at a breakpoint it jumps)
        f = np.asarray(size.pdf(np.where(np.isin(a, kinks), np.nextafter(a, np.inf), a)), float)
        inv_h = np.where(f > 0, Fa / f, np.inf)
        mrl = np.where(Fa > 0, Va / Fa, np.inf)
    base = np.minimum(inv_h, mrl)
    span = np.maximum(hi - a, 0.0)
    local = np.minimum(np.where(np.isfinite(base), base, span), span)
    s = np.linspace(0.0, 1.0, grid)

    # ---- the segments of stopping ages: one virtual row per (age, segment) with mass
    bounds = np.concatenate([kinks, [hi]])
    sf_b = np.asarray(size.sf(bounds), float)
    row_of, d_lo, d_hi, first_seg = [], [], [], []
    for j in range(bounds.size):
        lower = np.maximum(a, bounds[j - 1]) if j > 0 else a
        upper = np.full(a.shape, bounds[j])
        sf_lo = np.where(lower > a, sf_b[j - 1] if j > 0 else 0.0, Fa)
        has = (upper > lower) & (sf_lo > sf_b[j])  # a segment without mass: ratio inf
        idx = np.flatnonzero(has)
        row_of.append(idx)
        d_lo.append((lower - a)[idx])
        d_hi.append((upper - a)[idx])
        first_seg.append(lower[idx] <= a[idx])
    rows_v = np.concatenate(row_of)
    seg_v = np.concatenate([np.full(r.size, j) for j, r in enumerate(row_of)])
    if rows_v.size == 0 and not by_segment:
        return np.where(Fa > 0, base, np.inf)
    dlo = np.concatenate(d_lo)
    dhi = np.concatenate(d_hi)
    first = np.concatenate(first_seg)
    av, Fv, Vv = a[rows_v], Fa[rows_v], Va[rows_v]
    # the grids: b - a log-spaced on the segment holding a; b - beta log-spaced past a
    # breakpoint beta, from the corner b = beta itself
    dmin = np.maximum(np.minimum(1e-5 * local[rows_v], 1e-5 * dhi), 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        d0 = dmin[:, None] * (np.maximum(dhi, dmin) / dmin)[:, None] ** s[None, :]
        ext = np.maximum(dhi - dlo, 0.0)
        emin = np.maximum(np.minimum(1e-6 * (av + dlo), 1e-6 * ext), 1e-300)
        e = emin[:, None] * (np.maximum(ext, emin) / emin)[:, None] ** s[None, :-1]
    d1 = np.concatenate([dlo[:, None], dlo[:, None] + e], axis=1)
    d = np.where(first[:, None], d0, np.minimum(d1, dhi[:, None]))

    t_gl, w_gl = _gl(10)
    cuts = np.concatenate([[0.0], kinks, [np.inf]])

    def phi(dd, idx=None):
        """The ratio at quanta ``dd`` (rows x grid, or one per row; ``idx``: of those rows)."""
        two = dd.ndim == 2
        A = Vv[:, None] if two else Vv if idx is None else Vv[idx]
        F = Fv[:, None] if two else Fv if idx is None else Fv[idx]
        aa = av[:, None] if two else av if idx is None else av[idx]
        b = aa + dd
        Fb = np.asarray(size.sf(b), float)
        Vb = excess(b, Fb, np.broadcast_to(aa >= excess.start, b.shape))
        num = A - Vb
        den = F - Fb
        # a short quantum: V(a) - V(b) and F(a) - F(b) cancel; integrate sf and pdf over [a, b],
        # piece by piece between the breakpoints (the rule needs a smooth density)
        near = (den < 0.05 * F) & (F > 0)
        if near.any():
            an, bn = np.broadcast_to(aa, dd.shape)[near], b[near]
            num = num.copy()
            den = den.copy()
            sn = np.zeros(an.shape)
            pn = np.zeros(an.shape)
            for c0, c1 in zip(cuts[:-1], cuts[1:]):
                lo_, hi_p = np.maximum(an, c0), np.minimum(bn, c1)
                ln = np.maximum(hi_p - lo_, 0.0)
                if not np.any(ln > 0):
                    continue
                t = lo_[:, None] + ln[:, None] * t_gl[None, :]
                sn += np.sum(np.asarray(size.sf(t), float) * w_gl, axis=1) * ln
                pn += np.sum(np.asarray(size.pdf(t), float) * w_gl, axis=1) * ln
            num[near] = sn
            den[near] = pn
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(den > 0, num / den, np.inf)

    vals = phi(d)
    k = np.argmin(vals, axis=1)
    rows = np.arange(rows_v.size)
    lo = np.where(k > 0, d[rows, np.maximum(k - 1, 0)], np.where(first, dmin * 1e-3, dlo))
    hi_ = d[rows, np.minimum(k + 1, grid - 1)]
    # a minimum at a breakpoint (a corner: the density jumps there): the ratio rises past it
    # (1/h(beta+) >= ratio) or still falls before it (1/h(beta-) <= ratio), so the search
    # would only close in on the corner, which the grid holds exactly
    bk = av + d[rows, k]
    vk = vals[rows, k]
    at_lo = ~first & (k == 0)
    at_hi = (k == grid - 1) & (av + dhi < hi)
    corner = np.zeros(rows.size, bool)
    if at_lo.any() or at_hi.any():
        with np.errstate(invalid="ignore", over="ignore"):
            sk = np.asarray(size.sf(bk), float)
            fr = np.asarray(size.pdf(np.nextafter(bk, np.inf)), float)
            fl = np.asarray(size.pdf(np.nextafter(bk, -np.inf)), float)
            corner = (at_lo & (sk >= vk * fr)) | (at_hi & (sk <= vk * fl))
    basev = base[rows_v]
    # one segment per age (no breakpoint below hi): no other segment competes
    single = np.unique(rows_v).size == rows_v.size
    g = (math.sqrt(5.0) - 1.0) / 2.0
    x1 = hi_ - g * (hi_ - lo)
    x2 = lo + g * (hi_ - lo)
    f1, f2 = phi(x1), phi(x2)
    act = np.arange(rows_v.size)  # the rows still searching
    for _ in range(iters):
        # a row stops once settled: its two inner values agree to rounding (they differ by
        # the curvature times the bracket's width squared: further steps move the minimum by an
        # ulp or so), or they lie well above the best value its age has elsewhere (the limit
        # value or another segment's: a minimum at the grid's first point, where the rank falls towards
        # b = a, or a segment that does not hold the minimum), or its minimum is a corner; the
        # search goes on for the other rows only (each row's steps are its own)
        a1, a2 = f1[act], f2[act]
        cur = np.minimum(np.minimum(a1, a2), vk[act])
        if single:
            other = basev[act]
        else:
            every = np.minimum(np.minimum(f1, f2), vk)
            other = np.minimum(_best_of_others(rows_v, every, a.size)[act], basev[act])
        with np.errstate(invalid="ignore"):
            gap = np.abs(a1 - a2)
            settled = ((gap <= 8 * _EPS * np.minimum(np.abs(a1), np.abs(a2)))
                       | ~(np.isfinite(a1) & np.isfinite(a2)) | corner[act]
                       | (cur - 10 * gap >= other * (1.0 - 1e-10)))
        act = act[~settled]
        if not act.size:
            break
        a1, a2 = f1[act], f2[act]
        left = a1 <= a2
        h = np.where(left, x2[act], hi_[act])
        l_ = np.where(left, lo[act], x1[act])
        nx1 = h - g * (h - l_)
        nx2 = l_ + g * (h - l_)
        y1, y2 = np.where(left, nx1, x2[act]), np.where(left, x1[act], nx2)
        fnew = phi(np.where(left, y1, y2), act)
        hi_[act], lo[act], x1[act], x2[act] = h, l_, y1, y2
        f1[act], f2[act] = np.where(left, fnew, a2), np.where(left, a1, fnew)
    best_v = np.where(corner, vk, np.minimum(np.minimum(f1, f2), vk))
    if by_segment:
        segs = np.full((a.size, bounds.size), np.inf)
        segs[rows_v, seg_v] = best_v
        own = np.searchsorted(bounds, a, side="right").clip(0, bounds.size - 1)
        ar = np.arange(a.size)
        segs[ar, own] = np.minimum(segs[ar, own], inv_h)
        segs[:, -1] = np.minimum(segs[:, -1], mrl)
        return segs
    best = np.full(a.shape, np.inf)
    np.minimum.at(best, rows_v, best_v)
    out = np.where(best < base * (1.0 - 1e-10), best, base)
    return np.where(Fa > 0, out, np.inf)


def hazard_peaks(size, lo: float, hi: float, step: float = 0.02) -> list[float]:
    r"""The ages in :math:`(lo, hi)` where the hazard :math:`h = f / \bar F` has a strict local
    maximum (:math:`1/h` a local minimum) between the law's breakpoints: there the Gittins rank
    switches from an interior stopping age (left of the peak, where the hazard still rises
    after :math:`a`) to the limit :math:`1/h(a)` (right of it, the hazard falling), and its
    second derivative jumps (``docs/gittins.md``, section 1; LogNormal(1): at
    :math:`a \approx 0.375`). A panel edge there keeps the rank's interpolant smooth on both
    sides (without it the panel holding the peak was halved 24 times).

    Found on a grid in :math:`\log a` ``step`` wide (a minimum of :math:`1/h` below both
    neighbours by more than 1e-9, relative: rounding of a flat :math:`1/h`, e.g. an
    exponential law's, is no peak), then golden-section search to :math:`10^{-10}` in
    :math:`\log a` (the rank's second-derivative jump, of size :math:`O(1)`, then sits
    within :math:`10^{-20}` of the edge). Brackets holding a breakpoint are skipped (the
    breakpoint is an edge already)."""
    if not (0.0 < lo < hi and math.isfinite(hi)):
        return []
    u = np.arange(math.log(lo), math.log(hi), step)
    if u.size < 3:
        return []

    def inv_h(v):
        x = np.exp(v)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            f = np.asarray(size.pdf(x), float)
            s = np.asarray(size.sf(x), float)
            return np.where((f > 0) & (s > 0), s / f, np.inf)

    g = inv_h(u)
    inner = g[1:-1]
    lower = np.minimum(g[:-2], g[2:])
    cand = np.flatnonzero(np.isfinite(inner) & (inner < lower * (1.0 - 1e-9))) + 1
    bps = np.log(np.asarray([b for b in np.asarray(size.breakpoints, float) if b > 0], float))
    a, b = u[cand - 1], u[cand + 1]
    if bps.size:
        keep = ~np.any((bps[None, :] >= a[:, None]) & (bps[None, :] <= b[:, None]), axis=1)
        a, b = a[keep], b[keep]
    if not a.size:
        return []
    r = (math.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = b - r * (b - a), a + r * (b - a)
    f1, f2 = inv_h(x1), inv_h(x2)
    while np.max(b - a) > 1e-10:
        left = f1 <= f2  # the minimum lies in [a, x2]
        b = np.where(left, x2, b)
        a = np.where(left, a, x1)
        nx1, nx2 = b - r * (b - a), a + r * (b - a)
        x1, x2 = np.where(left, nx1, x2), np.where(left, x1, nx2)
        fn = inv_h(np.where(left, x1, x2))
        f1, f2 = np.where(left, fn, f2), np.where(left, f1, fn)
    return [float(math.exp(v)) for v in (a + b) / 2.0]


def _best_of_others(rows: np.ndarray, vals: np.ndarray, n: int) -> np.ndarray:
    """For each entry, the smallest of ``vals`` over the other entries of the same row
    (``inf`` where there is none); ``rows`` index ``n`` rows."""
    order = np.lexsort((vals, rows))
    rs, vs = rows[order], vals[order]
    start = np.concatenate([[0], np.flatnonzero(np.diff(rs)) + 1]) if rs.size else np.empty(0, int)
    best1 = np.full(n, np.inf)
    arg1 = np.full(n, -1)
    best1[rs[start]] = vs[start]
    arg1[rs[start]] = order[start]
    nxt = start + 1
    ok = nxt < rs.size
    ok[ok] = rs[nxt[ok]] == rs[start[ok]]
    best2 = np.full(n, np.inf)
    best2[rs[start[ok]]] = vs[nxt[ok]]
    return np.where(np.arange(rows.size) == arg1[rows], best2[rows], best1[rows])


# ---- the rank's shape --------------------------------------------------------------------------
@dataclass
class Shape:
    """Monotone pieces of a continuous rank on ``[0, hi]``: piece ``k`` covers ages
    ``[pa[k], pb[k]]`` (``pa[0] = 0``), rises (``dirn = 1``), falls (-1) or is flat (0), from
    ``ra[k]`` to ``rb[k]``."""

    pa: np.ndarray
    pb: np.ndarray
    ua: np.ndarray
    ub: np.ndarray
    dirn: np.ndarray
    ra: np.ndarray
    rb: np.ndarray


class BlindRank:
    r"""A blind rank on a continuous law: interpolant, monotone pieces, running maximum.

    ``flat_from = (F, v)``: the rank is :math:`v` exactly at every age :math:`a \ge F` (the
    Gittins rank of a law memoryless beyond :math:`F`, e.g. an exponential one-bit class
    law beyond the threshold). The interpolant then covers :math:`[0, F]` only (its last
    value the left limit there) and :math:`[F, \mathrm{hi}]` is a flat piece of value
    :math:`v`, compared exactly with other ranks of the same value (a tie, broken FCFS:
    ``docs/soap_predictions.md``). Where the rank jumps up onto it (:math:`v` above the
    running maximum :math:`M` before :math:`F`) the flat piece is a record reached at
    :math:`F` at once: :math:`R(x) = \sup_{[0, x)} r = v` for :math:`x > F` and
    :math:`c^{new}(\ell) = \inf\{a : r(a) \ge \ell\} = F` for :math:`M < \ell \le v`
    (not :math:`x`, the tagged job's own cut-off on a strictly rising record stretch: new
    jobs of rank exactly :math:`v` do not overtake it)."""

    def __init__(self, size, rank: Callable[[np.ndarray], np.ndarray], extra_breaks=(),
                 tol: float = 1e-12, upto: float = 0.0,
                 flat_from: tuple[float, float] | None = None):
        lo, hi = size_range(size, 1e-17)
        top = size.support[1]
        if math.isfinite(top):
            hi = top
        else:
            hi = max(hi, upto)  # conditional means asked beyond the rule's upper end
        self.size, self.lo, self.hi = size, lo, hi
        #: (age F, value v): the rank is v exactly from age F on (a law memoryless beyond F);
        #: the interpolant covers the ages below F only
        self.flat_from = None
        if flat_from is not None:
            F, v = (float(t) for t in flat_from)
            if not (math.isfinite(v) and F > 0):
                raise ValueError(f"flat_from must be (age > 0, finite value), got "
                                 f"flat_from={flat_from!r}")
            if lo * 1e-15 < F < hi:  # beyond the ages considered it changes nothing
                self.flat_from = (F, v)
                hi = F  # the interpolant's upper end
        # ages below the rule's lower end matter (every job passes through them): the rank's
        # age axis starts 1e-15 of that end below it
        # (the rank at age 0 decides which new jobs overtake: a rule's lower end at the 1e-17
        # quantile moved the rank at age 0 of LogNormal(1) by 1e-4)
        self.alo = lo * 1e-15
        ulo, uhi = math.log(self.alo), math.log(hi)
        bps = [math.log(b) for b in (*np.asarray(size.breakpoints, float), *extra_breaks)
               if self.alo < b < hi]
        e = np.unique(np.concatenate([[ulo, uhi], bps]))
        # panels at most 1 wide to start with
        edges = [e[0]]
        for a, b in zip(e[:-1], e[1:]):
            n = max(1, math.ceil((b - a) / 1.0))
            # the last edge is b itself: a + (b - a) rounds a few ulps off b, and an edge that
            # close to a breakpoint left the panel next to it plain and the anchored one 1e-15
            # wide (the square root at the lower end of BoundedPareto(1.1, 0.2, 2e5) was then
            # interpolated to 1e-6 only: Gittins 1.1e-6 off, exact at low = 1 where log 1 = 0)
            edges += [*(a + (b - a) * np.arange(1, n) / n), b]
        self.kinks = np.asarray([math.log(b) for b in np.asarray(size.breakpoints, float)
                                 if self.alo < b <= self.hi], float)
        edges, anchor = _anchored_edges(np.asarray(edges), self.kinks[self.kinks <= uhi])
        self.interp, self.interp_error = adaptive_cheb(rank, edges, anchor, tol)
        self.scale = float(np.max(np.abs(self.interp.values)))
        self._shape()

    def soap(self, width: float, order: int) -> BlindSOAP:
        """The load-independent tables at one resolution (cached: a sweep over loads reuses
        them)."""
        cache = self.__dict__.setdefault("_soap", {})
        if (width, order) not in cache:
            cache[(width, order)] = BlindSOAP(self, width=width, order=order)
        return cache[(width, order)]

    def r(self, a) -> np.ndarray:
        """The rank at ages ``a`` (the interpolant; ages below the rule's lower end take the
        rank there)."""
        a = np.asarray(a, float)
        if self.flat_from is None:
            return self.interp(np.log(np.clip(a, self.alo, self.hi)))
        F, v = self.flat_from
        return np.where(a >= F, v, self.interp(np.log(np.clip(a, self.alo, F))))

    def _shape(self):
        it = self.interp
        m = 48
        t = np.linspace(-1.0, 1.0, m)
        e0, e1 = it.edges[:-1, None], it.edges[1:, None]
        u = (e0 + (e1 - e0) * (t + 1) / 2).ravel()
        u = np.unique(u)
        v = it(u)
        dv = np.diff(v)
        thr = 1e-12 * np.maximum(np.abs(v[1:]), np.abs(v[:-1]))
        sg = np.where(dv > thr, 1, np.where(dv < -thr, -1, 0))
        ext = []
        last, last_i = 0, 0
        for i, s in enumerate(sg):
            if s == 0:
                continue
            if last != 0 and s != last:
                # an extremum between u[last_i + 1] and u[i]: refine on the interpolant
                ext.append(self._refine(u[max(last_i, 0)], u[i + 1], maximum=(last > 0)))
            last, last_i = s, i
        ub = np.array([*ext, u[-1]])
        ua = np.array([u[0], *ext])
        ra, rb = it(ua), it(ub)
        # merge pieces whose rank varies by less than 1e-10 of the scale (rounding in the rank)
        # or than 100 times the interpolant's tail (its wiggles in the panels next to a kink)
        rel = max(1e-10, 100.0 * self.interp_error)
        loc = np.maximum(np.abs(ra), np.abs(rb))
        keep = np.abs(rb - ra) > rel * loc
        if not keep.any():
            ua, ub, ra, rb = ua[:1], ub[-1:], ra[:1], ra[:1]
        else:
            idx = np.flatnonzero(keep)
            # each small piece joins the following kept one (or the last kept one)
            nua, nub = [], []
            start = ua[0]
            for k in idx:
                nua.append(start)
                nub.append(ub[k])
                start = ub[k]
            nub[-1] = ub[-1]
            ua, ub = np.array(nua), np.array(nub)
            ra, rb = it(ua), it(ub)
        loc = rel * np.maximum(np.abs(ra), np.abs(rb))
        dirn = np.where(rb > ra + loc, 1, np.where(rb < ra - loc, -1, 0))
        flat = dirn == 0
        rb = np.where(flat, ra, rb)
        pa = np.exp(ua)
        pa[0] = 0.0
        pb = np.exp(ub)
        pb[-1] = self.hi
        if self.flat_from is not None:
            ua, ub, pa, pb, dirn, ra, rb = self._flat_tail(ua, ub, pa, pb, dirn, ra, rb)
        self.shape = Shape(pa, pb, ua, ub, dirn, ra, rb)
        # record stretches of the running maximum: (piece, start age, M before, M after); a
        # flat piece above the running maximum (the rank jumps onto it) is a record reached
        # at its start age, where it holds the new maximum at once
        rec = []
        M = ra[0]
        for k in range(ua.size):
            if dirn[k] > 0 and rb[k] > M:
                t = pa[k] if ra[k] >= M else float(self.cross(k, np.array([M]))[0])
                rec.append((k, t, M, rb[k]))
                M = rb[k]
            elif dirn[k] == 0 and k > 0 and ra[k] - M > TIE_REL * max(abs(M), abs(ra[k])):
                rec.append((k, pa[k], M, ra[k]))
                M = ra[k]
        self.records = rec
        self.r0 = ra[0]
        self.rmax = M

    def _flat_tail(self, ua, ub, pa, pb, dirn, ra, rb):
        r"""Appends the flat piece :math:`[F, \mathrm{hi}]` of value :math:`v` (``flat_from``)
        to the pieces below :math:`F`; a last piece below :math:`F` flat at :math:`v` to
        rounding (:data:`TIE_REL`) is the same piece, of value :math:`v` exactly (an
        exponential class law with an uninformative bit: else the step from :math:`v(1 -
        10^{-16})` to :math:`v` at :math:`F` was a record, and new jobs overtook up to age
        :math:`F`)."""
        F, v = self.flat_from
        near = TIE_REL * max(abs(v), 1e-300)
        if dirn[-1] == 0 and abs(ra[-1] - v) <= near:
            ra, rb = ra.copy(), rb.copy()
            ra[-1] = rb[-1] = v
            pb = pb.copy()
            pb[-1] = self.hi
            ub = ub.copy()
            ub[-1] = math.log(self.hi)
            return ua, ub, pa, pb, dirn, ra, rb
        uF = math.log(F)
        return (np.append(ua, uF), np.append(ub[:-1], [uF, math.log(self.hi)]),
                np.append(pa, F), np.append(pb[:-1], [F, self.hi]), np.append(dirn, 0),
                np.append(ra, v), np.append(rb, v))

    def _refine(self, u0, u1, maximum):
        """The extremum of the interpolant on [u0, u1]: a 65-point scan zoomed 9 times."""
        sgn = -1.0 if maximum else 1.0
        a, b = u0, u1
        for _ in range(9):
            t = np.linspace(a, b, 65)
            i = int(np.argmin(sgn * self.interp(t)))
            a, b = t[max(i - 1, 0)], t[min(i + 1, 64)]
        return (a + b) / 2.0

    def cross(self, k: int, level: np.ndarray) -> np.ndarray:
        """Ages on piece ``k`` where the rank equals ``level`` (clipped to the piece): the
        interpolant panel holding the level, then the Illinois variant of regula falsi."""
        sh = self.shape
        level = np.atleast_1d(np.asarray(level, float))
        s = 1.0 if sh.dirn[k] >= 0 else -1.0
        # a level at or beyond the piece's ends is answered by its end: the search runs on the
        # levels strictly inside only (the others bisected to the iteration cap for nothing)
        below, above = s * level <= s * sh.ra[k], s * level >= s * sh.rb[k]
        out = np.where(below, sh.pa[k], sh.pb[k])
        inner = ~(below | above)
        if not inner.any():
            return out
        if not inner.all():
            out[inner] = self.cross(k, level[inner])
            return out
        e = self.interp.edges
        E = np.concatenate([[sh.ua[k]], e[(e > sh.ua[k]) & (e < sh.ub[k])], [sh.ub[k]]])
        V = np.maximum.accumulate(s * self.interp(E))
        i = np.clip(np.searchsorted(V, s * level, side="left") - 1, 0, E.size - 2)
        a, b = E[i], E[i + 1]
        fa, fb = V[i] - s * level, V[i + 1] - s * level
        side = np.zeros(level.shape)
        c = (a + b) / 2.0
        # the rows still searching: a row stops once its bracket is 1e-15 wide or it hit the
        # level exactly (it kept its crossing; iterating on moved it within the bracket)
        act = np.arange(level.size)
        lv = s * level
        for _ in range(40):
            den = fb - fa
            ok = (den > 0) & (fa < 0) & (fb > 0)
            cn = np.where(ok, (a * fb - b * fa) / np.where(ok, den, 1.0), (a + b) / 2.0)
            cn = np.clip(cn, np.minimum(a, b), np.maximum(a, b))
            c[act] = cn
            fc = s * self.interp(cn) - lv[act]
            left = fc < 0
            a, fa_new = np.where(left, cn, a), np.where(left, fc, fa)
            b, fb_new = np.where(left, b, cn), np.where(left, fb, fc)
            # Illinois: halve the stale end's value when the same side moves twice
            fb_new = np.where(left & (side < 0), fb_new / 2, fb_new)
            fa_new = np.where(~left & (side > 0), fa_new / 2, fa_new)
            side = np.where(left, -1.0, 1.0)
            fa, fb = fa_new, fb_new
            go = ~(((b - a) <= 1e-15 * np.maximum(1.0, np.abs(a))) | (fc == 0))
            if not go.any():
                break
            if not go.all():
                act, a, b, fa, fb, side = act[go], a[go], b[go], fa[go], fb[go], side[go]
        out = np.exp(c)
        out = np.where(s * level <= s * sh.ra[k], sh.pa[k], out)
        return np.where(s * level >= s * sh.rb[k], sh.pb[k], out)

    def c_new(self, level: np.ndarray) -> np.ndarray:
        r""":math:`\inf\{a : r(a) \ge \ell\}` (``inf`` above the rank's supremum)."""
        level = np.asarray(level, float)
        out = np.where(level <= self.r0, 0.0, np.inf)
        for k, t, m0, m1 in self.records:
            sel = (level > m0) & (level <= m1)
            if sel.any() and self.shape.dirn[k] == 0:  # a jump onto a flat piece at t
                out[sel] = t
            elif sel.any():
                c = self.cross(k, level[sel])
                c = np.where(level[sel] >= m1, self.shape.pb[k], np.maximum(c, t))
                out[sel] = c
        return out

    def running_max(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`R(x) = \sup_{[0, x)} r` (exact plateau values, the rank on record stretches)
        and the piece whose record stretch holds ``x`` (-1 on a plateau)."""
        x = np.asarray(x, float)
        out = np.full(x.shape, self.r0)
        rec = np.full(x.shape, -1)
        for k, t, m0, m1 in self.records:
            if self.shape.dirn[k] == 0:  # a flat record: its value from its start age on
                out = np.where(x > t, m1, out)
                rec = np.where(x > t, -1, rec)
                continue
            out = np.where(x > self.shape.pb[k], m1, out)
            rec = np.where(x > self.shape.pb[k], -1, rec)
            inside = (x > t) & (x <= self.shape.pb[k])
            out = np.where(inside, np.maximum(self.r(x), m0), out)
            rec = np.where(inside, k, rec)
        return out, rec

    def below_set(self, level: np.ndarray, own=None, at=None):
        """The components ``[b_i, c_i)`` of ``{a : r(a) <= level}`` for each level: arrays
        (n_levels, K + 1) of starts and ends (NaN where unused; ends at the top are ``inf``),
        and the end of the component starting at age 0 (0 where there is none). Where
        ``own == k`` the level is the rank at age ``at`` on the rising piece ``k``, which is
        then the crossing there (exact even where the rank is flat to rounding)."""
        sh = self.shape
        level = np.atleast_1d(np.asarray(level, float))
        n = level.size
        K = sh.ua.size
        B = np.full((n, K + 1), np.nan)
        C = np.full((n, K + 1), np.nan)
        cnt = np.zeros(n, int)
        rows = np.arange(n)
        cur_b = np.full(n, np.nan)
        cur_c = np.full(n, np.nan)
        is_open = np.zeros(n, bool)
        for k in range(K):
            if sh.dirn[k] > 0:
                whole = level >= sh.rb[k]
                empty = level <= sh.ra[k]
                s = np.full(n, sh.pa[k])
                e = np.where(whole, sh.pb[k], self.cross(k, level))
                if own is not None:
                    mine = own == k
                    e = np.where(mine, at, e)
                    whole, empty = whole & ~mine, empty & ~mine
            elif sh.dirn[k] < 0:
                whole = level >= sh.ra[k]
                empty = level < sh.rb[k]
                s = np.where(whole, sh.pa[k], self.cross(k, level))
                e = np.full(n, sh.pb[k])
            else:
                whole = level >= sh.ra[k]
                empty = ~whole
                s = np.full(n, sh.pa[k])
                e = np.full(n, sh.pb[k])
            empty = empty & ~whole
            ext = ~empty & is_open & (s <= sh.pa[k])
            new = ~empty & ~ext
            close = (new | empty) & ~np.isnan(cur_b)
            B[rows[close], cnt[close]] = cur_b[close]
            C[rows[close], cnt[close]] = cur_c[close]
            cnt = cnt + close
            cur_b = np.where(new, s, np.where(empty, np.nan, cur_b))
            cur_c = np.where(~empty, e, np.where(empty, np.nan, cur_c))
            is_open = ~empty & (e >= sh.pb[k])
        fin = ~np.isnan(cur_b)
        B[rows[fin], cnt[fin]] = cur_b[fin]
        C[rows[fin], cnt[fin]] = np.where(cur_c[fin] >= self.hi, np.inf, cur_c[fin])
        first = ~np.isnan(B[:, 0]) & (B[:, 0] <= 0.0)
        c0 = np.where(first, C[:, 0], 0.0)
        return B, C, c0


def _min_mean(size, c):
    """E[min(X, c)] (c may be inf)."""
    c = np.asarray(c, float)
    fin = np.isfinite(c)
    cc = np.where(fin, c, 0.0)
    return np.where(fin, np.asarray(size.mean_min(1, cc), float), size.mean)


def _old_square(size, b, c):
    r""":math:`E[((\min(X, c) - b)^+)^2]` for :math:`0 \le b < c \le \infty`:

    .. math:: m_2(b, c) - 2 b\, m_1(b, c) + b^2 m_0(b, c) + (c - b)^2 \bar F(c),

    :math:`m_k(b, c) = E[X^k 1\{b < X \le c\}]`, from the tail moments, or, where
    :math:`E[X^2] = \infty` and :math:`c < \infty`, :math:`m_2` from the partial moments
    (``docs/soap_predictions.md``: the old jobs' work below the tagged job's worst rank). ``inf``
    where :math:`c = \infty` and :math:`E[X^2] = \infty`; raises FloatingPointError on a NaN."""
    b = np.asarray(b, float)
    c = np.asarray(c, float)
    fin = np.isfinite(c)
    cc = np.where(fin, c, b)
    # the moments of X on (b, c], from the tails (accurate far out)
    t0b, t1b, t2b = (np.asarray(size.tail_moment(k, b), float) for k in (0, 1, 2))
    t0c, t1c, t2c = (np.where(fin, np.asarray(size.tail_moment(k, cc), float), 0.0) for k in (0, 1, 2))
    with np.errstate(invalid="ignore"):
        d2 = t2b - t2c
        # E[X^2] = inf (a tail heavier than x^-2): the tails are both infinite and their
        # difference is NaN; the moment on (b, c] (c finite) from the partial moments instead
        heavy = np.isnan(d2) & fin
        if heavy.any():
            d2 = np.where(heavy, np.asarray(size.partial_moment(2, cc), float)
                          - np.asarray(size.partial_moment(2, b), float), d2)
        inner = d2 - 2 * b * (t1b - t1c) + b * b * (t0b - t0c)
        val = inner + np.where(fin, (cc - b) ** 2 * t0c, 0.0)
    val = np.where(c > b, val, 0.0)
    if np.isnan(val).any():  # never a silent zero (np.maximum would keep NaN, the caller drop it)
        raise FloatingPointError("the old-job second moment is not finite")
    return np.maximum(val, 0.0)


# ---- the evaluator -------------------------------------------------------------------------------
class BlindSOAP:
    r"""Load-independent tables of the SOAP theorem for a blind rank on a continuous law, at one
    quadrature resolution (``width`` in :math:`\log x`, Gauss-Legendre ``order``)."""

    def __init__(self, br: BlindRank, width: float = 0.5, order: int = 12):
        self.br = br
        # critical levels: the rank at every piece end
        levels = np.unique(np.concatenate([br.shape.ra, br.shape.rb]))
        all_edges, all_anchor = self._outer_rule(levels, width, order)
        self.wx = self.wjac * np.asarray(br.size.pdf(self.x), float)
        # ---- residence panels on decreasing pieces (Chebyshev-Lobatto)
        self._res_panels(all_edges, all_anchor)
        self._tables(self.x)

    def _outer_rule(self, levels: np.ndarray, width: float, order: int):
        r"""The outer rule over x: Gauss-Legendre of ``order`` points on panels at most ``width``
        wide in :math:`u = \log x` (or in the square root of the distance to a support end or
        a located age next to it), with an edge at every age where the rank crosses one of
        ``levels``, at the piece ends, the law's breakpoints and its support end's refinement
        points. Sets ``panels`` (e0, e1, anchor), ``x`` and ``wjac`` (the weights per unit
        density); returns every panel's edges and anchors (below the rule's lower end too)."""
        br, sh = self.br, self.br.shape
        lo, hi = br.lo, br.hi
        ualo, ulo, uhi = math.log(br.alo), math.log(lo), math.log(hi)
        cuts = [ualo, ulo, uhi]
        cuts += [u for u in np.concatenate([sh.ua, sh.ub]) if ualo < u < uhi]
        for k in range(sh.ua.size):
            if sh.dirn[k] == 0:
                continue
            lv = levels[(levels > min(sh.ra[k], sh.rb[k])) & (levels < max(sh.ra[k], sh.rb[k]))]
            if lv.size:
                cuts += list(np.log(br.cross(k, lv)))
        cuts += [math.log(b) for b in endpoint_refinement(br.size) if lo < b < hi]
        cuts = np.array(cuts)
        # a crossing within rounding of a breakpoint of the law is the breakpoint (an edge
        # apart from it left a panel 1e-16 wide, whose nodes were NaN)
        for u in br.kinks:
            cuts = np.where(np.abs(cuts - u) <= 1e-12, u, cuts)
        cuts = np.unique(cuts)
        cuts = cuts[(cuts >= ualo) & (cuts <= uhi)]
        # drop cuts closer than 1e-12 (numerical duplicates)
        keep = np.concatenate([[True], np.diff(cuts) > 1e-12])
        cuts = cuts[keep]
        edges = [cuts[0]]
        for a, b in zip(cuts[:-1], cuts[1:]):
            n = max(1, math.ceil((b - a) / width))
            # the last edge is b itself: a + (b - a) rounds a few ulps off b, and an edge that
            # close to a breakpoint left the panel next to it plain and the anchored one 1e-15
            # wide (the square root at the lower end of BoundedPareto(1.1, 0.2, 2e5) was then
            # interpolated to 1e-6 only: Gittins 1.1e-6 off, exact at low = 1 where log 1 = 0)
            edges += [*(a + (b - a) * np.arange(1, n) / n), b]
        all_edges, all_anchor = _anchored_edges(np.asarray(edges),
                                                np.concatenate([br.kinks, cuts[1:-1]]))
        inside = all_edges[:-1] >= ulo - 1e-15
        t, w = _gl(order)
        e0, e1, an = all_edges[:-1][inside], all_edges[1:][inside], all_anchor[inside]
        #: the outer rule's panels (in u = log x) and their anchors (NaN: linear in u)
        self.panels = (e0, e1, an)
        x, jac = _age(2 * t[None, :] - 1, e0[:, None], e1[:, None], an[:, None])
        self.x, self.wjac = x.ravel(), (jac * 2 * w[None, :]).ravel()
        return all_edges, all_anchor

    def _res_panels(self, edges, anchor):
        br, sh = self.br, self.br.shape
        lo_, hi_, an_, piece_of = [], [], [], []
        for k in range(sh.ua.size):
            if sh.dirn[k] >= 0:
                continue
            ua = math.log(br.alo) if k == 0 else sh.ua[k]
            for j in range(edges.size - 1):
                a, b = max(edges[j], ua), min(edges[j + 1], sh.ub[k])
                if b > a:
                    lo_.append(a)
                    hi_.append(b)
                    an_.append(anchor[j])
                    piece_of.append(k)
        self.res_lo = np.array(lo_)
        self.res_hi = np.array(hi_)
        self.res_an = np.array(an_)
        self.res_piece = np.array(piece_of, int)
        if self.res_lo.size:
            a, jac = _age(_TN[None, :], self.res_lo[:, None], self.res_hi[:, None],
                          self.res_an[:, None])
            self.res_jac = jac
            self.res_a0 = float(a[0, 0])
            # the tagged job's level on a falling piece is its rank there, at most the rank at
            # the piece's start: the interpolant's rounding above it (a rank flat to rounding
            # next to age 0) would put the level above a record or above r(0), where the
            # cut-off jumps (from 0 to inf: every new job of the class counted)
            top = sh.ra[self.res_piece][:, None]
            self.res_nn = self._new_work(np.minimum(br.r(a), top))
        else:
            self.res_jac = np.empty((0, NCHEB))
            self.res_nn = np.empty((0, NCHEB))

    def _partial(self, k: int, end: np.ndarray):
        """(panel index, weights over that panel's nodes, first panel of piece k) such that
        int_{piece start}^{end} q = CUM[j] - CUM[first] + w . q[j], q the integrand times
        da/dtau at the nodes."""
        sel = np.flatnonzero(self.res_piece == k)
        first = sel[0]
        ue = np.log(np.maximum(end, self.br.alo))
        j = first + np.clip(np.searchsorted(self.res_hi[sel], ue, side="left"), 0, sel.size - 1)
        tau = _tau(ue, self.res_lo[j], self.res_hi[j], self.res_an[j])
        return j, cumulative_weights(tau), first

    def _new_work(self, level, own_c=None) -> np.ndarray:
        r""":math:`E[\min(X, c(\ell))]` at the levels (the cut-off ``own_c`` where given: the
        tagged job's own record stretch); :class:`~qtheory.engine.soap_classes.ClassSOAP` sums
        it over the classes."""
        br = self.br
        return _min_mean(br.size, br.c_new(level) if own_c is None else own_c)

    def _old_work(self, R, rec, x) -> tuple[np.ndarray, np.ndarray]:
        r"""The old jobs' work below the worst rank ``R``: :math:`E[X^{old}_0]` and
        :math:`\sum_i E[(X^{old}_i)^2]`, the tagged job (size ``x``) on the record stretch
        ``rec``."""
        br = self.br
        B, C, c0 = br.below_set(R, rec, x)
        sq = np.zeros(np.shape(x))
        for i in range(B.shape[-1]):
            ok = ~np.isnan(B[:, i])
            if ok.any():
                sq[ok] += _old_square(br.size, B[ok, i], C[ok, i])
        return _min_mean(br.size, c0), sq

    def _tables(self, x):
        br, sh = self.br, self.br.shape
        K = sh.ua.size
        # ---- waiting term at the worst rank R(x)
        R, rec = br.running_max(x)
        cn = np.where(rec >= 0, x, br.c_new(R))
        self.nn_w = self._new_work(R, cn)
        self.n0_w, self.s2 = self._old_work(R, rec, x)
        # ---- residence: walk back from x through the pieces
        S = np.full(x.shape, -np.inf)
        plat_len, plat_nn = [], []
        self.dec_terms = []
        for k in range(K - 1, -1, -1):
            act = x > sh.pa[k]
            end = np.minimum(x, sh.pb[k])
            r_end = np.where((x < sh.pb[k]) & (sh.dirn[k] != 0), br.r(end), sh.rb[k])
            length = np.where(act, end - sh.pa[k], 0.0)
            if sh.dirn[k] >= 0:
                lev = np.maximum(S, r_end)
                plat_len.append(length)
                c = br.c_new(lev)
                # the level of x's own record stretch: its crossing is x
                c = np.where((rec == k) & (x <= sh.pb[k]) & (lev <= r_end), x, c)
                plat_nn.append(self._new_work(lev, c))
                S = np.where(act, lev, S)
                continue
            follow = act & (r_end >= S)
            flat_all = act & ~follow & (sh.ra[k] <= S)
            part = act & ~follow & ~flat_all
            t = np.where(part, br.cross(k, np.where(part, S, sh.ra[k])), sh.pa[k])
            upto = np.where(follow, end, np.where(part, t, sh.pa[k]))
            plat = np.where(part, end - t, np.where(flat_all, length, 0.0))
            plat_len.append(plat)
            plat_nn.append(self._new_work(np.where(np.isfinite(S), S, sh.ra[k])))
            j, wts, first = self._partial(k, upto)
            used = act & (upto > sh.pa[k])
            self.dec_terms.append((used, j, wts, first))
            S = np.where(act, np.maximum(S, sh.ra[k]), S)
        self.plat_len = np.array(plat_len)
        self.plat_nn = np.array(plat_nn)

    def means(self, lams) -> np.ndarray:
        """Mean response time at each arrival rate."""
        lams = np.atleast_1d(np.asarray(lams, float))
        return np.array([float(np.sum(self.wx * self.conditional(lam))) for lam in lams])

    def conditional(self, lam: float) -> np.ndarray:
        """E[T | x] at the rule's nodes."""
        wait = lam * self.s2 / (2 * (1 - lam * self.n0_w) * (1 - lam * self.nn_w))
        wait = np.where(self.s2 > 0, wait, 0.0)
        res = np.sum(self.plat_len / (1 - lam * self.plat_nn), axis=0)
        if self.res_jac.size:
            g = 1 / (1 - lam * self.res_nn)
            q = self.res_jac * g
            full = q @ _FULLW
            cum = np.concatenate([[0.0], np.cumsum(full)])
            for used, j, wts, first in self.dec_terms:
                val = cum[j] - cum[first] + np.sum(wts * q[j], axis=-1)
                res = res + np.where(used, val, 0.0)
            if self.br.shape.dirn[0] < 0:  # [0, alo) of a decreasing first piece
                res = res + np.where(self.dec_terms[-1][0], self.res_a0 * g[0, 0], 0.0)
        return wait + res


@dataclass
class ExactResult:
    """Mean response times with an error estimate (from two quadrature resolutions)."""

    mean: np.ndarray
    error: np.ndarray
    exact: bool = False


def blind_rank_function(model, policy, upto: float = 0.0) -> Callable[[np.ndarray], np.ndarray]:
    r"""The rank of a blind policy as a function of the age on ``model``'s size law.

    For Gittins on a law with a finite top :math:`t` the rank is taken at the age itself below
    :math:`t` (:func:`gittins_rank`, its excess without cancellation there:
    :func:`excess_function`) and is its left limit 0 at and above :math:`t` (the rank is at
    most the mean residual size, at most :math:`t - a`). The interpolant's last node is the top
    itself: the index at an age capped at :math:`t (1 - 10^{-12})` put a spurious jump there
    (5e-12 at a top of 10) and, with the excess subtracted, a value 1e-4 off (relative)."""
    size = model.size
    if policy.law_rank == "gittins":
        hi = 2.0 * max(size_range(size, 1e-17)[1], upto)  # stopping ages beyond the last age
        top = float(size.support[1])
        if not math.isfinite(top):
            return lambda a: gittins_rank(size, a, hi)

        def rank(a):
            a = np.atleast_1d(np.asarray(a, float))
            out = np.zeros(a.shape)
            below = a < top
            if np.any(below):
                out[below] = gittins_rank(size, a[below], top)
            return out

        return rank
    return lambda a: np.asarray(policy.rank(np.zeros(np.shape(a)), a), float)


def supported(model, policy) -> bool:
    """Whether :func:`evaluate_blind` applies: a blind SOAP policy on a continuous size law
    (no atoms) whose rank is continuous in the age."""
    from ..laws.scipy_size import ScipySize

    size = model.size
    if policy.descriptor != "none" or not policy.soap or size.is_discrete or size.is_mixed:
        return False
    if isinstance(size, ScipySize):  # partial moments by nested quad: far too slow here
        return False
    if getattr(policy, "preemptive", True) is False and policy.formula_form() != "constant":  # FCFS only
        return False
    return True


def evaluate_blind(model, policy, lams) -> ExactResult:
    """Mean response time of a blind policy on a continuous law (see the module docstring),
    with an error estimate: the difference between two quadrature resolutions (Gauss-Legendre
    order 10 on panels 0.5 wide in log x, order 16 on panels 0.25 wide), plus the rank
    interpolant's tail coefficient (relative) and 1e-13, times the value."""
    br = _blind_rank(model, policy)
    fine = br.soap(0.25, 16).means(lams)
    coarse = br.soap(0.5, 10).means(lams)
    with np.errstate(invalid="ignore"):  # inf - inf where E[T] = inf (FCFS on E[X^2] = inf)
        err = np.abs(fine - coarse) + (1e-13 + 10 * br.interp_error) * np.abs(fine)
    err = np.where(np.isinf(fine) & (fine == coarse), 0.0, err)
    return ExactResult(fine, err, False)


#: a Gittins rank whose interpolant keeps a relative tail coefficient above this (the index's
#: minimiser jumping between modes of a multimodal law, found at some ages and missed at
#: others) is left to the discretised route
MAX_RANK_ERROR = 1e-5


def _blind_rank(model, policy, upto: float = 0.0) -> BlindRank:
    cache = model.size.__dict__.setdefault("_qt_cache", {})
    key = ("blind_rank", policy, upto)
    try:
        hit = cache.get(key)
    except TypeError:  # an unhashable policy
        hit, key = None, None
    if isinstance(hit, FloatingPointError):
        raise hit
    if hit is not None:
        return hit
    try:
        bp = tuple(float(b) for b in np.asarray(policy.age_breakpoints(0.0), float).ravel())
    except Exception:  # noqa: BLE001 - a user rank without breakpoints for d = 0
        bp = ()
    # the library's policies live in the modules of qtheory.policies (a user's qt.Rank may change)
    builtin = type(policy).__module__.startswith("qtheory.policies.") and type(policy).__name__ != "Rank"
    if policy.law_rank == "gittins":  # the rank's kinks at the hazard's peaks
        lo, hi = size_range(model.size, 1e-17)
        top = model.size.support[1]
        bp = (*bp, *hazard_peaks(model.size, lo, top if math.isfinite(top) else hi))
    try:
        br = BlindRank(model.size, blind_rank_function(model, policy, upto), extra_breaks=bp,
                       upto=upto)
        if policy.law_rank == "gittins" and br.interp_error > MAX_RANK_ERROR:
            raise FloatingPointError(
                f"the Gittins rank is not resolved (interpolant tail {br.interp_error:.1e})")
    except FloatingPointError as e:
        if key is not None and builtin:
            cache[key] = e
        raise
    if key is not None and builtin:
        cache[key] = br  # built-in ranks only: a user rank function may change
    return br


def conditional_blind(model, policy, x) -> np.ndarray:
    """E[T | X = x] of a blind policy on a continuous law at sizes ``x``."""
    x = np.atleast_1d(np.asarray(x, float))
    hi = size_range(model.size, 1e-17)[1]
    br = _blind_rank(model, policy, 0.0 if x.max() <= hi else 1.01 * float(x.max()))
    ref = copy.copy(br.soap(0.25, 16))
    ref._tables(x)
    return ref.conditional(model.arrival_rate)


def slowdown_blind(model, policy) -> tuple[float, float]:
    r""":math:`E[T/X]` of a blind policy on a continuous law, and its error estimate (two
    resolutions). The mass below the rule's lower end (probability :math:`10^{-17}`) enters
    through one node (:func:`~qtheory._quadrature.head_node`). Infinite where
    :math:`E[1/X] = \infty` and a job of size near 0 still waits (:math:`E[T \mid 0^+] > 0`)."""
    from ..laws._quadrature import head_node

    br = _blind_rank(model, policy)
    lam = model.arrival_rate
    vals = []
    if model.size.zero_exponent <= 1.0:
        ev = copy.copy(br.soap(0.25, 16))
        ev._tables(np.array([br.lo]))
        if float(ev.conditional(lam)[0]) > 1e-9 * model.size.mean:
            return math.inf, 0.0
    for width, order in ((0.25, 16), (0.5, 10)):
        ev = br.soap(width, order)
        v = float(np.sum(ev.wx * ev.conditional(lam) / ev.x))
        head = head_node(model.size, br.lo)
        if head is not None:
            ev = copy.copy(ev)
            ev._tables(np.array([head[0]]))
            v += head[1] * float(ev.conditional(lam)[0]) / head[0]
        vals.append(v)
    return vals[0], abs(vals[0] - vals[1]) + (1e-13 + 10 * br.interp_error) * abs(vals[0])
