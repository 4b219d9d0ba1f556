r"""Response-time distributions of a user's prediction rank that never decreases with age
(``qt.Rank(fn, descriptor="prediction", monotone="increasing")``: :math:`y + a`,
:math:`y (1 + a)`, PSPJF's :math:`y`, ...) and increases strictly with the prediction, on a
continuous size law with a multiplicative prediction law :math:`Y = XZ` (issue 16), for a job
class :math:`(x, y)` or unconditional.

SOAP (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018, Section 5;
``docs/soap_predictions.md``, "Rising prediction ranks"): the rank rises with age, so a job
:math:`(x, y)` has the worst future rank :math:`R = r(y, x^-)` at every age. A job
:math:`(X', Y')`, old or new, is ahead of it until its own rank reaches :math:`R`, at the age
:math:`c_{Y'}(R) = \inf\{a \ge 0 : r(Y', a) \ge R\}`, and never again: every job's one piece is
:math:`P_R = \min(X, c_Y(R))`, and the response time is FB's with that piece
(``docs/response_time_distribution.md``, "Rising prediction ranks"),

.. math::
    E[e^{-sT}\mid x, y] = \tilde V_R(\eta_R(s))\, e^{-x\eta_R(s)},\qquad
    \eta_R(s) = s + \lambda E\big[1 - e^{-\eta_R(s) P_R}\big],

    \tilde V_R(u) = \frac{(1 - \rho_R)\,u}{u - \lambda E[1 - e^{-u P_R}]},\qquad
    \tilde V_R(\eta_R(s)) = (1 - \rho_R)\frac{\eta_R(s)}{s},\qquad \rho_R = \lambda E[P_R],

(the old work: the Pollaczek-Khinchine workload of the pieces, extended by a busy period of new
pieces; at Kendall's root :math:`\lambda E[1 - e^{-\eta P}] = \eta - s`). Its mean is the mean
engine's :math:`x/(1 - \lambda N(R)) + \lambda S(R)/(2(1 - \lambda N(R))^2)`
(:mod:`qtheory.engine.soap_prediction_rank_rising`); the second moment adds the third moment of
the piece (:meth:`RisingRankTransform.class_moments`). :math:`P(T = x \mid x, y) = (1 - \rho_R)
e^{-\lambda x P(Y < \Psi(R))}` (:math:`\Psi(R) = \sup\{y : r(y, 0) < R\}`: the jobs with a
positive piece).

The piece's law at a level :math:`R` (:class:`PieceRule`) has two parts: the whole jobs,
:math:`P = X` where :math:`c_Y(R) \ge X`, i.e. :math:`Y < \Psi_X(R)` with
:math:`\Psi_a(R) = \sup\{y : r(y, a) < R\}`, of density :math:`f_X(x) F_Z(\Psi_x(R)/x)`
(Gauss-Legendre in :math:`\log x`, cut where :math:`\Psi_x(R)` reaches 0, at :math:`x = c_0(R)`);
and the cut jobs, :math:`P = c_Y(R) < X`, on a rule in the prediction below :math:`\Psi(R)`
(Gauss-Legendre in :math:`\log y`, the last panel graded towards :math:`\Psi(R)`, where the
piece tends to 0) with weights :math:`f_Y(y) P(X > c_y(R) \mid y)`, the tail summed on the mean
engine's prediction-table panels in :math:`\log z` below the cut (:func:`tail_mass`). The unconditional
law mixes the classes over a product rule in :math:`(\log x, \log z)`; Kendall's equation is
solved on a grid of levels (Gauss-Legendre panels in :math:`\log(R - r(0, 0))`) and
:math:`\eta_R(s) - s` and the piece's moments are interpolated to the rule's levels (Lagrange
on each panel); the levels holding less than ``LOW_MASS`` of the law are left without jobs
ahead.

Waiting time: SOAP's :math:`\tilde V_R(\eta_R(s))` is the time to first service only for ranks
constant in age (PSPJF's :math:`y`); for the others a new job with a lower rank preempts the
tagged one in service and, as LAS's, its first service is not SOAP's waiting time
(``NotImplementedError``).

Covered: continuous size laws without breakpoints on :math:`(0, \infty)` (Exp, Weibull,
log-normal, gamma) with exponential, log-normal or uniform predictions (the factor's kinks
:math:`z_k`: the whole jobs' rule has an edge at the size :math:`x_k` with
:math:`r(z_k x_k, x_k) = R`, the cut jobs' at :math:`y = z_k x_k`; the piece's transform at
:math:`R = 1.5` within 2e-16 of quadrature split there, class means within 2.2e-15 of the mean
engine's), ranks the mean engine takes that
increase strictly with the prediction at every age on its sample grid. Not covered: size laws
with breakpoints, ranks falling in the prediction, and
ranks constant in the prediction on a region (FB's :math:`a`, :math:`\max(y, a)`: the piece
:math:`c_Y(R)` has an atom there, and the law of :math:`T` atoms at multiples of it that this
inversion does not place; FB's law is ``qt.LAS()``'s).

Measured (``tests/test_distribution_prediction_rank_rising.py``; ``docs/response_time_distribution.md``,
section 6.8; Exp(1) sizes at load 0.8): the formula fed a discrete law's pieces equals the
generic SOAP transform of 300 ``qt.EmpiricalPairs`` to 3e-16; the piece rule's
:math:`E[1 - e^{-uP}]` is within 4e-16 of mpmath at :math:`u = 60 + 300i`; class means within
4e-11 of the mean engine's; the rank :math:`y`'s class transform 1.3e-14 from an mpmath
reference at the Euler nodes of :math:`t = 0.3` (PSPJF's own route 1.5e-10), the rank
:math:`a`'s within 1e-15 of LAS's; the unconditional mean within 2e-13 of the mean engine's, the
rank :math:`y`'s unconditional cdf within 9.4e-9 of PSPJF's at :math:`t = 0.1 \ldots 30` (ours
moves by 1e-11 on rules twice as fine). The rank :math:`y + a`'s unconditional cdf at
:math:`t = 0.1 \ldots 40` is within 1e-11 of a level grid twice as fine (``GRID_WIDTH``: where
pieces are cut, :math:`\eta_R(s)` oscillates in :math:`R`; the grid 2 wide everywhere left it
1.7e-6 off at :math:`t = 1`).
"""

from __future__ import annotations

import math

import numpy as np

from ..laws._quadrature import log_edges, panels, size_range
from . import soap_prediction_rank_rising as sr
from .laplace_inversion import lst_in_blocks
from .soap_exact import _FULLW as sr_FULLW
from .soap_exact import _TN as sr_TN
from .soap_exact import cumulative_weights

#: Gauss-Legendre order and panel width (in log) of the piece rules
PIECE_ORDER = 10
PIECE_WIDTH = 0.125
#: the piece's prediction rule: panels Y_WIDTH wide in log y (f_Y(y) P(X > c | y) is smooth
#: there), cut where c_y(R) crosses a grid PIECE_WIDTH wide in log c down to C_LOW times
#: c_0(R) (or the largest size; below it e^{-eta c} is linear on the panel for the :math:`|eta|` of the
#: inversion): 2,000 nodes at R = 1.5 for y + a on Exp/Exp (4,900 with panels 0.125 wide and
#: C_LOW = 1e-13, the same E[1 - e^{-uP}] to 4e-16 at u = 60 + 300i)
Y_WIDTH = 0.5
C_LOW = 1e-8
#: bisection steps of Psi_x(R) in log y
BISECT = 100
#: the unconditional rule: product Gauss-Legendre in (log x, log z), panel widths and order;
#: the fine size rule of the factor e^{-sx}; the nodes below OUTER_TINY of the mass are dropped
OUTER_WIDTH = 0.5
Z_WIDTH = 1.0
OUTER_ORDER = 10
FINE_WIDTH = 0.125
OUTER_TINY = 1e-20
#: the level grid: Gauss-Legendre panels in log(R - r(0, 0)) of this order, GRID_WIDTH wide
#: from GRID_FINE_FROM times the median level up, GRID_WIDTH_LOW below. eta_R(s) oscillates in
#: R where pieces are cut (the cut piece's largest value c_0(R) puts e^{-eta c_0(R)} in it, of
#: amplitude e^{-Re(s) c_0(R)}): y + a on Exp/Exp at load 0.8, panels 2 wide left the cdf at
#: t = 1 1.7e-6 off, 1 wide 1.6e-7, 0.5 wide 1e-8 (against 0.125); the rank y (no cut piece)
#: was exact to 1e-15 on panels 2 wide
GRID_WIDTH = 0.25
GRID_WIDTH_LOW = 2.0
GRID_FINE_FROM = 1e-4
GRID_ORDER = 16
#: the levels below the quantile LOW_MASS of the unconditional rule's levels have no job ahead
LOW_MASS = 1e-15
#: transform evaluations per block (bounded memory)
S_BLOCK = 64


def _call(fn, y, a) -> np.ndarray:
    return sr._call(fn, y, a)


def psi_at(fn, age: np.ndarray, level: np.ndarray, lo: float, hi: float) -> np.ndarray:
    r""":math:`\Psi_a(R) = \sup\{y \in [lo, hi] : r(y, a) < R\}` per pair (age, level), for a rank
    non-decreasing in :math:`y`: bisection in :math:`\log y`; ``lo`` where
    :math:`r(lo, a) \ge R`, ``inf`` where :math:`r(hi, a) < R`."""
    age, level = np.broadcast_arrays(np.asarray(age, float), np.asarray(level, float))
    n = age.size
    ulo, uhi = np.full(n, math.log(lo)), np.full(n, math.log(hi))
    below = _call(fn, np.full(n, lo), age) >= level
    above = _call(fn, np.full(n, hi), age) < level
    for _ in range(BISECT):
        mid = 0.5 * (ulo + uhi)
        ok = _call(fn, np.exp(mid), age) < level
        ulo = np.where(ok, mid, ulo)
        uhi = np.where(ok, uhi, mid)
    out = np.exp(0.5 * (ulo + uhi))
    return np.where(below, lo, np.where(above, np.inf, out))


def tail_mass(lv: sr.RisingLevels, y: np.ndarray, c: np.ndarray) -> np.ndarray:
    r""":math:`P(X > c_j, Y \in dy_j)/dy = \int_{z < y_j/c_j} f_Z(z) f_X(y_j/z)\,dz/z`, ``c`` in
    :math:`[0, \infty]`, on the mean engine's panels in :math:`\log z` (those of
    :class:`~qtheory.engine.soap_prediction_rank_rising.PredictionTables`: the factor's, cut
    where :math:`y/z` is an edge of the size law's panels) with the same Chebyshev-Lobatto rule
    and end-node nudge, evaluated on the panels below :math:`\log(y_j/c_j)` only (the last one
    with cumulative weights): the tables' value without the panels above the cut, which the
    tail never reads."""
    y = np.asarray(y, float)
    c = np.asarray(c, float)
    out = np.zeros(y.size)
    zb = lv.zbase
    with np.errstate(divide="ignore"):
        uc = np.minimum(np.log(y / c), zb[-1])  # every job above c: the whole row
    act = np.nonzero(uc > zb[0])[0]  # the others have every job below c
    if not act.size:
        return out
    y, uc = y[act], uc[act]
    edges = sr.row_edges(lv, y)[1]
    npan = edges.shape[1] - 1
    # the panel of the cut in each row and the (row, panel) pairs at or below it
    p = np.clip(np.sum(edges[:, 1:-1] <= uc[:, None], axis=1), 0, npan - 1)
    counts = p + 1
    row = np.repeat(np.arange(y.size), counts)
    pan = np.arange(row.size) - np.repeat(np.cumsum(counts) - counts, counts)
    lo, hi = edges[row, pan], edges[row, pan + 1]
    last = np.nonzero(pan == p[row])[0]
    tau = np.clip((2.0 * uc - lo[last] - hi[last]) / np.maximum(hi[last] - lo[last], 1e-300), -1.0, 1.0)
    u = (lo + hi)[:, None] / 2.0 + (hi - lo)[:, None] / 2.0 * sr_TN[None, :]
    nudge = sr.end_nudge(hi - lo)
    u[:, 0] += nudge
    u[:, -1] -= nudge
    z = np.exp(u)
    with np.errstate(all="ignore"):
        g = (np.asarray(lv.factor.pdf(z), float) * np.asarray(lv.size.pdf(y[row][:, None] / z), float)
             * ((hi - lo) / 2.0)[:, None])
    g = np.where(np.isfinite(g), g, 0.0)
    part = g @ sr_FULLW
    part[last] = np.einsum("ij,ij->i", cumulative_weights(tau), g[last])  # the cut's panel
    out[act] = np.bincount(row, weights=part, minlength=y.size)
    return np.maximum(out, 0.0)


class PieceRule:
    r"""Nodes and weights of the piece :math:`P_R = \min(X, c_Y(R))` at a level :math:`R`
    (:meth:`row`: :math:`\sum_k W_k h(P_k) \approx E[h(P_R); P_R > 0]`), the module docstring's
    two parts."""

    def __init__(self, model, policy, width: float = PIECE_WIDTH, order: int = PIECE_ORDER):
        self.width, self.order = width, order
        self.lv = lv = sr.levels(model, policy)
        self.fn = policy.fn
        self.size, self.factor = model.size, lv.factor
        size = self.size
        self.xlo, self.xhi = size_range(size)
        self.xbulk = (float(size.ppf(1e-4)), float(size.ppf(1 - 1e-4)))
        zb = (math.exp(self.factor.log_range_q(1e-4)), math.exp(self.factor.log_range_q(1 - 1e-4)))
        self.ybulk = (self.xbulk[0] * zb[0], self.xbulk[1] * zb[1])
        self.ell0 = float(_call(self.fn, np.zeros(1), np.zeros(1))[0])

    def kink_sizes(self, R: float, hi: float) -> list[tuple[float, float]]:
        r"""The pairs :math:`(z_k, x_k)`, :math:`x_k < hi`, with :math:`r(z_k x_k, x_k) = R` at the factor's kinks
        :math:`z_k` (uniform errors: its support's ends): there :math:`\Psi_x(R)/x` crosses
        :math:`z_k`, and the whole jobs' weight :math:`F_Z(\Psi_x(R)/x)` kinks (bisection in
        :math:`\log x`: the rank rises in both arguments)."""
        out = []
        for zk in self.factor.kinks:
            lo_u, hi_u = math.log(self.xlo), math.log(min(hi, self.xhi))
            if not hi_u > lo_u:
                continue
            g = lambda u, zk=zk: float(_call(self.fn, np.array([zk * math.exp(u)]), np.array([math.exp(u)]))[0]) - R  # noqa: E731
            if g(lo_u) >= 0.0 or g(hi_u) < 0.0:
                continue
            for _ in range(BISECT):
                mid = 0.5 * (lo_u + hi_u)
                if g(mid) < 0.0:
                    lo_u = mid
                else:
                    hi_u = mid
            out.append((zk, math.exp(0.5 * (lo_u + hi_u))))
        return out

    def whole(self, R: float) -> tuple[np.ndarray, np.ndarray]:
        r"""The whole jobs: nodes :math:`x` and weights :math:`f_X(x) F_Z(\Psi_x(R)/x)\,dx`
        (panel edges at :meth:`kink_sizes`)."""
        lv = self.lv
        c0 = float(lv.crossing(np.zeros(1), np.array([R]))[0])
        bps = ([c0] if math.isfinite(c0) else []) + [xk for _, xk in self.kink_sizes(R, c0)]
        e = log_edges(self.xlo, self.xhi, self.width, bps, bulk=self.xbulk)
        u, wu = panels(e, self.order)
        x = np.exp(u)
        if math.isfinite(c0):
            keep = x < c0
            x, u, wu = x[keep], u[keep], wu[keep]
        psi = psi_at(self.fn, x, np.full(x.size, R), lv.ylo, lv.yhi)
        with np.errstate(all="ignore"):
            F = np.where(np.isinf(psi), 1.0, np.asarray(self.factor.cdf(psi / x), float))
            w = wu * x * np.asarray(self.size.pdf(x), float) * F
        w = np.where(np.isfinite(w), w, 0.0)
        return x, w

    def cut(self, R: float) -> tuple[np.ndarray, np.ndarray]:
        r"""The cut jobs: nodes :math:`c_y(R)` and weights :math:`f_Y(y) P(X > c_y(R)\mid y)\,dy`
        on the prediction rule below :math:`\Psi(R)`: panels in :math:`\log y` whose edges are
        also the predictions where :math:`c_y(R)` crosses a grid in :math:`\log c` (each panel
        spans a factor :math:`e^w` of the piece at most: the transform's :math:`e^{-\eta c}`
        oscillates on the scale of :math:`c`), down to ``C_LOW`` of :math:`c_0(R)`."""
        lv = self.lv
        fn = self.fn
        psi0 = float(sr.sup_below(lambda y: _call(fn, y, np.zeros(y.size)), np.array([R]),
                                  lv.ylo, lv.yhi)[0])
        if not psi0 > lv.ylo:
            return np.zeros(0), np.zeros(0)
        top = min(psi0, lv.yhi)
        ey = np.exp(log_edges(lv.ylo, top, Y_WIDTH, bulk=self.ybulk))
        c0 = float(lv.crossing(np.zeros(1), np.array([R]))[0])
        chi = min(c0, self.xhi)
        ce = np.exp(np.arange(math.log(chi), math.log(chi * C_LOW), -self.width))
        yc = psi_at(fn, ce, np.full(ce.size, R), lv.ylo, lv.yhi)
        # where y / c_y(R) crosses a kink z_k of the factor, P(X > c_y(R) | y) kinks
        yk = np.array([zk * xk for zk, xk in self.kink_sizes(R, math.inf)])
        yc = np.concatenate([yc, yk])
        yc = yc[np.isfinite(yc) & (yc > ey[0]) & (yc < top)]
        e = np.unique(np.concatenate([ey, yc]))
        u, wu = panels(np.log(e), self.order)
        y, wy = np.exp(u), wu * np.exp(u)
        keep = (wy > 0) & (y < psi0)
        y, wy = y[keep], wy[keep]
        c = lv.crossing(y, np.full(y.size, R))
        live = np.isfinite(c) & (c > 0)
        y, wy, c = y[live], wy[live], c[live]
        if not y.size:
            return np.zeros(0), np.zeros(0)
        return c, wy * tail_mass(lv, y, c)

    def row(self, R: float) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and weights of the piece at the level ``R`` (empty at or below r(0, 0))."""
        if not R > self.ell0:
            return np.zeros(0), np.zeros(0)
        xa, wa = self.whole(R)
        xb, wb = self.cut(R)
        X, W = np.concatenate([xa, xb]), np.concatenate([wa, wb])
        keep = W > 0
        return X[keep], W[keep]

    def rows(self, levels) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``(X, W)`` (shape ``(len(levels), K)``, zero-padded) at the levels."""
        parts = [self.row(float(R)) for R in np.atleast_1d(levels)]
        K = max(1, max(p[0].size for p in parts))
        X, W = np.zeros((len(parts), K)), np.zeros((len(parts), K))
        for i, (x, w) in enumerate(parts):
            X[i, :x.size] = x
            W[i, :w.size] = w
        return X, W


def piece_rule(model, policy) -> PieceRule:
    """The cached :class:`PieceRule` of (law, rank)."""
    cache = model.size.__dict__.setdefault("_qt_cache", {})
    j = model.prediction.joint(model.size)
    key = ("prediction_rank_rising_pieces", id(policy.fn), id(j.factor), repr(vars(j.factor)))
    if key not in cache or cache[key][0] is not policy.fn:
        cache[key] = (policy.fn, PieceRule(model, policy))
    return cache[key][1]


def _moments_from(m1, m2, m3, lam, x):
    r"""Per class: :math:`E[W], E[W^2]` of SOAP's waiting time and :math:`E[T - x],
    E[(T - x)^2]`, from the piece's moments :math:`m_k = E[P^k]` (FB's formulas: :math:`W` is
    a busy period of new pieces started by the Pollaczek-Khinchine workload :math:`V` of the
    pieces, :math:`E[V^2] = 2E[V]^2 + \lambda m_3/(3(1 - \rho))`; the residence a busy period
    started by :math:`x`, variance :math:`\lambda x m_2/(1 - \rho)^3`)."""
    d = 1.0 - lam * m1
    ev = lam * m2 / (2.0 * d)
    ev2 = 2.0 * ev * ev + lam * m3 / (3.0 * d)
    ew = ev / d
    ew2 = ev2 / d ** 2 + ev * lam * m2 / d ** 3
    er = x * lam * m1 / d  # E[residence - x]
    vr = lam * x * m2 / d ** 3
    et = ew + er
    et2 = ew2 + 2.0 * ew * er + vr + er * er
    return ew, ew2, et, et2


class RisingRankTransform:
    r"""LST and the first two moments of :math:`T` (or SOAP's waiting time) of a prediction rank
    that never decreases with age, for a class :math:`(x, y)` (:math:`T - x`, ``shifted``) or
    unconditional (the module docstring).

    Parameters
    ----------
    model : qtheory.MG1
    policy : qtheory.Rank
        ``descriptor="prediction"``, ``monotone="increasing"``.
    x, y : float or None
        A class (both given) or the unconditional law (both ``None``).
    waiting : bool
        SOAP's waiting time :math:`\tilde V_R(\eta_R(s))` instead of :math:`T`.
    """

    #: moments beyond the second are not derived
    raw_moments = None

    def __init__(self, model, policy, x=None, y=None, waiting: bool = False):
        self.lam = float(model.arrival_rate)
        self.fn = policy.fn
        self.waiting = waiting
        self.rule = rule = piece_rule(model, policy)
        self.conditional = x is not None
        self.shifted = self.conditional and not waiting
        ell0 = rule.ell0
        if self.conditional:
            Xo, Wo = np.array([float(x)]), np.array([1.0])
            Ro = _call(self.fn, np.array([float(y)]), np.nextafter(Xo, 0.0))
            grid = Ro[Ro > ell0]
            self.B = np.ones((1, 1)) if grid.size else np.zeros((1, 0))
        else:
            Xo, Wo, Ro = self._outer(model)
            grid, self.B = self._grid(Ro, Wo, ell0, cut=not constant_in_age(self.fn))
        self.Xo, self.Wo, self.Ro = Xo, Wo, Ro
        self.grid = grid
        self.set_pieces(*(rule.rows(grid) if grid.size else (np.zeros((0, 1)), np.zeros((0, 1)))))

    def set_pieces(self, Xg: np.ndarray, Wg: np.ndarray) -> None:
        r"""The piece's rows ``(X, W)`` at the grid's levels (shape ``(G, K)``): its moments
        :math:`E[P^k; P > 0]`, :math:`k \le 3`, interpolated to the outer levels."""
        self.Xg, self.Wg = np.asarray(Xg, float), np.asarray(Wg, float)
        self.mg = np.array([np.sum(self.Wg * self.Xg ** k, axis=1) for k in range(4)])  # (4, G)
        mo = self.B @ self.mg.T if self.mg.shape[1] else np.zeros((self.Xo.size, 4))
        self.mo = np.asarray(mo).T  # (4, n_outer): mass, m1, m2, m3 at the outer levels
        if np.any(self.lam * self.mo[1] >= 1.0):
            raise ValueError("the load of the pieces ahead reaches 1")

    # -- rules ---------------------------------------------------------------------------------------
    def _outer(self, model):
        r"""A product Gauss-Legendre rule in :math:`(\log x, \log z)` of the joint law (coarse
        in :math:`x`): nodes :math:`x`, weights, levels :math:`R = r(xz, x^-)`, and the owner
        (coarse size node) of each; plus the fine size rule (each coarse panel cut in panels
        ``FINE_WIDTH`` wide at most) with the Lagrange matrix from the coarse nodes: the
        transform mixes :math:`e^{-sx}` on the fine rule (it oscillates with :math:`x`) times
        the smooth inner sum over :math:`z` at the coarse nodes, interpolated."""
        from .soap_prediction_rank_rising import lagrange_matrix

        rule = self.rule
        size, factor = rule.size, rule.factor
        ec = log_edges(rule.xlo, rule.xhi, OUTER_WIDTH, bulk=rule.xbulk)
        ux, wux = panels(ec, OUTER_ORDER)
        x = np.exp(ux)
        wx = wux * x * np.asarray(size.pdf(x), float)
        zlo, zhi = factor.log_range()
        zb = (math.exp(factor.log_range_q(1e-4)), math.exp(factor.log_range_q(1 - 1e-4)))
        uz, wuz = panels(log_edges(math.exp(zlo), math.exp(zhi), Z_WIDTH, bulk=zb), OUTER_ORDER)
        z = np.exp(uz)
        wz = wuz * z * np.asarray(factor.pdf(z), float)
        wz = wz / wz.sum()
        W = (wx[:, None] * wz[None, :]).ravel()
        owner = np.repeat(np.arange(x.size), z.size)
        X = np.broadcast_to(x[:, None], (x.size, z.size)).ravel()
        Y = (x[:, None] * z[None, :]).ravel()
        keep = np.isfinite(W) & (W > OUTER_TINY * np.nansum(W))
        X, Y, W, owner = X[keep], Y[keep], W[keep], owner[keep]
        R = _call(self.fn, Y, np.nextafter(X, 0.0))
        if not np.all(np.isfinite(R)):
            raise FloatingPointError("the rank is not finite on the law's support")
        tot = W.sum()
        # the inner weights (f_Z dz per coarse node) and the fine size rule
        self.inner = W / wx[owner]
        self.owner, self.nx = owner, x.size
        self.xc, self.wxc = x, wx / tot
        parts = np.maximum(1, np.ceil(np.diff(ec) / FINE_WIDTH - 1e-9)).astype(int)
        fe = np.concatenate([np.linspace(ec[i], ec[i + 1], parts[i] + 1)[:-1] for i in range(ec.size - 1)]
                            + [ec[-1:]])
        uf, wuf = panels(fe, OUTER_ORDER)
        xf = np.exp(uf)
        self.xf = xf
        self.wf = wuf * xf * np.asarray(size.pdf(xf), float) / tot
        self.Lf = lagrange_matrix(ec, uf, OUTER_ORDER)
        return X, W / tot, R

    @staticmethod
    def _grid(R, W, ell0, cut: bool = True):
        r"""The level grid (Gauss-Legendre panels in :math:`\log(R - \ell_0)` from the
        ``LOW_MASS`` quantile of the levels to their top, graded as ``GRID_WIDTH`` says where
        pieces are ``cut``; ``GRID_WIDTH_LOW`` wide everywhere for a rank constant in age) and
        the Lagrange interpolation matrix from it to the levels ``R`` (rows of zeros below the
        grid)."""
        from .soap_prediction_rank_rising import _lagrange

        d = R - ell0
        order = np.argsort(R, kind="stable")
        cw = np.cumsum(W[order])
        pos = d[order]
        lo_i = int(np.searchsorted(cw, LOW_MASS, side="right"))
        lo_i = min(lo_i, pos.size - 1)
        while lo_i < pos.size - 1 and not pos[lo_i] > 0:
            lo_i += 1
        if not pos[-1] > 0:
            return np.zeros(0), np.zeros((R.size, 0))
        ulo, uhi = math.log(pos[lo_i]), math.log(pos[-1]) + 1e-12
        med = pos[min(int(np.searchsorted(cw, 0.5 * cw[-1])), pos.size - 1)]
        u0 = min(max(ulo, math.log(GRID_FINE_FROM * med)) if med > 0 and cut else uhi, uhi)
        e = _graded(ulo, u0, uhi)
        n = e.size - 1
        u, _ = panels(e, GRID_ORDER)
        grid = ell0 + np.exp(u)
        from scipy.sparse import csr_matrix

        with np.errstate(divide="ignore", invalid="ignore"):
            ud = np.log(np.where(d > 0, d, np.nan))
        inside = np.isfinite(ud) & (ud >= ulo)
        rows = np.nonzero(inside)[0]
        p = np.clip(np.searchsorted(e, ud[rows], side="right") - 1, 0, n - 1)
        t = np.clip((2.0 * ud[rows] - e[p] - e[p + 1]) / (e[p + 1] - e[p]), -1.0, 1.0)
        L = _lagrange(t, GRID_ORDER)
        cols = p[:, None] * GRID_ORDER + np.arange(GRID_ORDER)[None, :]
        B = csr_matrix((L.ravel(), (np.repeat(rows, GRID_ORDER), cols.ravel())),
                       shape=(R.size, grid.size))
        return grid, B

    # -- moments -----------------------------------------------------------------------------------
    def class_moments(self):
        """Per outer node: (E[W], E[W^2], E[T - x], E[(T - x)^2])."""
        return _moments_from(self.mo[1], self.mo[2], self.mo[3], self.lam, self.Xo)

    def moments(self) -> tuple[float, float]:
        """(E, E[.^2]) of T - x (a class), of T (unconditional) or of the waiting time."""
        ew, ew2, et, et2 = self.class_moments()
        W = self.Wo
        if self.waiting:
            return float(W @ ew), float(W @ ew2)
        if self.shifted:
            return float(et[0]), float(et2[0])
        x = self.Xo
        return float(W @ (x + et)), float(W @ (x * x + 2.0 * x * et + et2))

    def atom(self) -> float:
        r""":math:`P(T = x)` for a class, :math:`(1 - \rho_R) e^{-\lambda x P(P_R > 0)}`; the
        waiting time's :math:`P(W = 0) = E[1 - \rho_R]`."""
        rho = self.lam * self.mo[1]
        if self.waiting:
            return float(self.Wo @ (1.0 - rho))
        if not self.shifted:
            return 0.0
        return float((1.0 - rho[0]) * math.exp(-self.lam * self.Xo[0] * self.mo[0, 0]))

    # -- the transform -----------------------------------------------------------------------------
    def eta(self, s) -> np.ndarray:
        r""":math:`\eta_R(s)` at the outer nodes' levels (shape ``(len(s), n_outer)``)."""
        from .response_distribution import busy_eta

        s = np.asarray(s, complex).reshape(-1)
        if not self.Xg.shape[0]:
            return np.broadcast_to(s[:, None], (s.size, self.Xo.size)).copy()
        eg = busy_eta(s, self.lam, self.Xg, self.Wg) - s[:, None]  # (S, G)
        return s[:, None] + np.asarray(self.B @ eg.T).T

    def lst(self, s) -> np.ndarray:
        return lst_in_blocks(self._lst_block, s, S_BLOCK)

    def _lst_block(self, s: np.ndarray) -> np.ndarray:
        zero = s == 0
        ss = np.where(zero, 1.0, s)
        eta = self.eta(ss)
        d = 1.0 - self.lam * self.mo[1][None, :]
        with np.errstate(under="ignore", over="ignore"):
            V = d * eta / ss[:, None]
            if self.waiting:
                val = V @ self.Wo
            elif self.shifted:
                val = (V * np.exp(-self.Xo[None, :] * (eta - ss[:, None]))) @ self.Wo
            else:
                # the inner sums over z at the coarse size nodes, interpolated to the fine ones
                g = V * np.exp(-self.Xo[None, :] * (eta - ss[:, None])) * self.inner[None, :]
                G = np.zeros((ss.size, self.nx), complex)
                for k in range(ss.size):
                    G[k] = np.bincount(self.owner, weights=g[k].real, minlength=self.nx) \
                        + 1j * np.bincount(self.owner, weights=g[k].imag, minlength=self.nx)
                Gf = np.asarray(self.Lf @ G.T).T
                val = (Gf * np.exp(-ss[:, None] * self.xf[None, :])) @ self.wf
        return np.where(zero, 1.0, val)


def _graded(ulo: float, u0: float, uhi: float) -> np.ndarray:
    """Panel edges in ``log(R - r(0, 0))``: ``GRID_WIDTH_LOW`` wide on ``[ulo, u0]``,
    ``GRID_WIDTH`` wide on ``[u0, uhi]``."""
    if not u0 < uhi:
        return np.linspace(ulo, uhi, max(1, math.ceil((uhi - ulo) / GRID_WIDTH_LOW)) + 1)
    parts = []
    if u0 > ulo:
        n1 = max(1, math.ceil((u0 - ulo) / GRID_WIDTH_LOW))
        parts.append(np.linspace(ulo, u0, n1 + 1)[:-1])
    n2 = max(1, math.ceil((uhi - u0) / GRID_WIDTH))
    parts.append(np.linspace(u0, uhi, n2 + 1))
    return np.concatenate(parts)


# ---- entry points ---------------------------------------------------------------------------------------
#: the sample grid of the strict rise in the prediction (as the mean engine's)
_GRID_Y = sr._GRID_Y
_GRID_A = sr._GRID_A


def rises_strictly_in_y(fn) -> bool:
    """Whether the rank increases strictly with the prediction at every age of the sample grid
    (no region of positive area where ``c_y(R)`` is constant in ``y``: no atom in the piece)."""
    y, a = np.meshgrid(_GRID_Y, _GRID_A, indexing="ij")
    try:
        r = _call(fn, y, a)
    except (ValueError, TypeError, FloatingPointError):
        return False
    with np.errstate(invalid="ignore"):
        return bool(np.all(np.diff(r, axis=0) > 0))


def constant_in_age(fn) -> bool:
    """Whether the rank does not change with the age on the sample grid (PSPJF's ``y``)."""
    y, a = np.meshgrid(_GRID_Y, _GRID_A, indexing="ij")
    r = _call(fn, y, a)
    return bool(np.all(r == r[:, :1]))


def supported(model, policy) -> bool:
    """A :class:`~qtheory.Rank` on predictions declared ``monotone="increasing"`` that the mean
    engine takes (:func:`qtheory.engine.soap_prediction_rank_rising.supported`), rising in the
    prediction (strictly, :func:`rises_strictly_in_y`), on a continuous size law without
    breakpoints on :math:`(0, \\infty)` (exponential, log-normal, uniform predictions)."""
    from .response_distribution_prediction_rank import continuous_factor_rank

    joint = continuous_factor_rank(model, policy, "increasing")
    if joint is None:
        return False
    if not sr.supported(model, policy) or sr.shape_direction(policy.fn) <= 0:
        return False
    return rises_strictly_in_y(policy.fn)


def build(model, pol, x, y, waiting: bool):
    """The distribution object (dispatched from
    :func:`qtheory.engine.response_distribution_generic.build`)."""
    from .response_distribution_prediction_rank import distribution_object

    if waiting and not constant_in_age(pol.fn):
        raise NotImplementedError(
            f"{pol.name}: the waiting time of a rank rising with age is not SOAP's (a new job of "
            "lower rank preempts the tagged job after its first service starts, as under LAS); "
            "its response-time distribution is available")
    tr = RisingRankTransform(model, pol, x, y, waiting=waiting)
    return distribution_object(tr, model, pol, x, y, waiting, lower=float(np.min(tr.Xo)))


__all__ = ["PieceRule", "RisingRankTransform", "build", "supported"]
