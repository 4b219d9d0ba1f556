r"""The SOAP theorem for a user's prediction rank that never decreases with age, on a continuous
multiplicative prediction law itself (issue 15).

A :class:`~qtheory.Rank` with ``descriptor="prediction"`` and ``monotone="increasing"``:
:math:`r(y, a)` non-decreasing in the age :math:`a` (LAS-like: :math:`y + a`,
:math:`y (1 + a)`, :math:`y + a/2`, :math:`a`, or constant in age as PSPJF's :math:`y`), here
also non-decreasing in the prediction :math:`y`, or non-increasing in it (:math:`a - y`,
below), on a joint law :math:`Y = XZ` with :math:`Z` independent of the size :math:`X`
(:class:`~qtheory.laws.factor_joint.FactorJoint`: exponential, uniform, log-normal predictions).
The derivation is in ``docs/soap_predictions.md`` ("Rising prediction ranks"):

A job :math:`(x, y)` has the worst future rank :math:`R = r(y, x^-)` at every age below
:math:`x` (its rank just before it completes). A job :math:`(X', Y')`, old or new, is served
ahead of it until its own rank reaches :math:`R`, at the age
:math:`c_{Y'}(R) = \inf\{a \ge 0 : r(Y', a) \ge R\}` (old jobs: :math:`> R`; the two differ on
a null set when no region of positive area has one rank), so with

.. math::
    N(\ell) = E\big[\min(X, c_Y(\ell))\big], \qquad S(\ell) = E\big[\min(X, c_Y(\ell))^2\big],

    E[T \mid x, y] = \frac{x}{1 - \lambda N(R)} + \frac{\lambda S(R)}{2 (1 - \lambda N(R))^2},
    \qquad R = r(y, x^-),

FB's formula with the level :math:`R` in place of the size (a rank :math:`a`: FB itself;
a rank :math:`y`: PSPJF).

The level functions are integrals over the prediction, :math:`N(\ell) = \int_0^{\Psi(\ell)}
K_1(y, c_y(\ell))\, dy` with :math:`\Psi(\ell) = \sup\{y : r(y, 0) < \ell\}` and
:math:`K_k(y, c) = \int f_X(x) f_Z(y/x) \min(x, c)^k\, dx / x` (:math:`S` with :math:`k = 2`).
For each node :math:`y` of a fixed rule in :math:`\log y`, :math:`K_k(y, \cdot)` is read from
cumulative Chebyshev weights of one table over :math:`\log z` (:math:`x = y/z`): no quadrature
per level, one root :math:`c_y(\ell)` (regula falsi) per node and level. Where
:math:`y \mapsto K_k(y, c_y(\ell))` kinks inside a panel of that rule (at :math:`\Psi(\ell)`,
where :math:`c_y(\ell)` crosses a breakpoint :math:`b` of the size law or :math:`y/k` for a kink
:math:`k` of the factor's density, and where the rank at the largest size crosses
:math:`\ell`), the panel is replaced by Gauss-Legendre panels cut there, with tables of their
own. :math:`N` and :math:`S` are then interpolated (adaptive piecewise Chebyshev in
:math:`\log(\ell - \ell_0)`, :math:`\ell_0 = r(0, 0)`, power laws below the range) and the mean
is the outer rule of PSPJF's tables (:class:`~qtheory.engine.soap_factor_shapes.FactorShapeSOAP`,
a product rule in :math:`(x, z)`) over :math:`E[T \mid x, y]`; the slowdown weighs it with
:math:`1/x`.

Error estimate: the two outer rules (0.35 and 0.5 wide, orders 16 and 10), ten times their
difference; the prediction rule's own error, ten times the largest change of :math:`N` and
:math:`S` to a finer rule (panels 0.7 wide, order 20; was a coarser one, 1.4 wide and of order
12, which measured its own error, 5e-10 in :math:`N`, and put the estimate at 1e-8 to 3e-7
relative) at the interpolants' panel midpoints, carried through the formula; the interpolants'
tail amplified by the load; plus 1e-10 on size laws with a finite upper end (the corner of the
joint law's support is not graded).

*Ranks falling in the prediction* (:math:`a - y`, :math:`a - y/2`, :math:`a - \sqrt y`; the
direction is read on a sample grid, :func:`shape_direction`). The theorem is the same; the jobs
ahead at level :math:`\ell` are those with :math:`y > \Psi(\ell) = \inf\{y : r(y, 0) < \ell\}`
(:math:`N(\ell) = \int_{\Psi(\ell)}^\infty K_1(y, c_y(\ell))\, dy`), so :math:`\Psi` and
the kinks are the crossings of :math:`-r` and :math:`-\ell`, the grading towards
:math:`\Psi` comes from above, and the crossing of :math:`y/k` is that of
:math:`y \mapsto r(y, y/k)`, whose direction is read per kink (a rank for which it is not
monotone is declined on factors with kinks). The levels now reach below
:math:`\ell_0 = r(0, 0)` (down to :math:`-\infty` for :math:`a - y`), and :math:`N` and
:math:`S` are not analytic at :math:`\ell_0` (where :math:`\Psi` leaves 0; like
:math:`(\ell - \ell_0)^2 \log|\ell - \ell_0|`, through the log-singular density of
:math:`Y` at 0): they are interpolated in :math:`\log|\ell - \ell_0|` on each side
(:class:`FallingInterpolants`), the value at :math:`\ell_0` held within :math:`e^{-32}` of the
level range, and the outer rule's :math:`z` panels are cut and graded at the curve where a
job's level is :math:`\ell_0` (:class:`FallingOuterRule`; :math:`z = 1` for :math:`a - y`).
The slowdown is ``inf`` where :math:`E[1/X] = \infty` and :math:`S(\ell_0) > 0`: a tiny job's
level tends to :math:`\ell_0`, and old work is still ahead of it there.

Size laws with breakpoints (BoundedPareto, Uniform) and factors with kinks (uniform
predictions, :class:`~qtheory.BoundedMultiplicative`) are covered: the tables' panels are cut
where :math:`y/z` is a breakpoint and read the densities a hair inside each panel at its end
nodes (a Lobatto end node at a jump of the density read on its far side had put FB's rank on
BoundedPareto(1.5, 1, 100) sizes 2e-4 to 3e-3 off).

Not covered (the discretised route): ranks not declared ``monotone="increasing"``, ranks
monotone in the prediction in neither direction (:math:`a + (y - 1)^2`), ranks with
:math:`r(0, 0) = -\infty`
(:math:`\log y + a`; :math:`y e^a` orders jobs the same way), ranks constant on a region of
positive area (FCFS's :math:`0`; ties there need the strict and non-strict loads apart), and the
laws :mod:`qtheory.engine.soap_factor` leaves out.
"""

from __future__ import annotations

import math

import numpy as np

from ..laws._quadrature import log_edges, panels, size_range
from .soap_exact import _FULLW, _TN, NCHEB, PiecewiseCheb, _age, adaptive_cheb_pair, cumulative_weights
from .soap_prediction_rank import _illinois

#: tail tolerance of the level interpolants (relative to a panel's scale or the floor)
TOL = 1e-13
#: floors of the level interpolants' scale: this times E[X] (N) and E[X^2] (S): N enters the mean
#: through 1 - lam N, an absolute error; S at small levels weighs little even in a slowdown
FLOOR = 1e-6
#: levels whose prediction tables are built at once (bounded memory)
BLOCK = 1024
#: levels evaluated at once (bounded memory)
LEVELS = 256
#: the prediction rule of the level functions (check, fine): panel widths in log y, orders; the
#: finer check rule, at the interpolants' panel midpoints, measures the fine rule's error (a
#: coarser one, 1.4 wide and of order 12, measured its own: 5e-10 in N for y + a/2 and a - y on
#: Exp/Exp, where the fine rule is within 5e-14 of both the check and a rule 0.5 wide of order 24)
YWIDTH = {False: 0.7, True: 1.0}
YORDER = {False: 20, True: 16}
#: the grading of a kinked panel towards Psi(l): edges at Psi - (Psi - y_0) 2^-j
GRADE = 2.0 ** -np.arange(1, 21)
#: the panels below Psi's that are graded too
NEIGHBOURS = 1
#: bisection steps of the kinks in y (in log y)
KINK_STEPS = 80


def _call(fn, y, a) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.broadcast_to(np.asarray(fn(y, a), float), np.broadcast(y, a).shape)


def sup_below(g, level, lo: float, hi: float, steps: int = KINK_STEPS) -> np.ndarray:
    r""":math:`\sup\{y \in [lo, hi] : g(y) < \ell\}` for a non-decreasing ``g`` at each level
    (bisection in :math:`\log y`): ``lo`` where :math:`g(lo) \ge \ell`, ``inf`` where
    :math:`g(hi) < \ell`."""
    level = np.asarray(level, float)
    n = level.size
    ulo, uhi = np.full(n, math.log(lo)), np.full(n, math.log(hi))
    below_lo = g(np.full(n, lo)) >= level
    above_hi = g(np.full(n, hi)) < level
    for _ in range(steps):
        mid = 0.5 * (ulo + uhi)
        ok = g(np.exp(mid)) < level
        ulo = np.where(ok, mid, ulo)
        uhi = np.where(ok, uhi, mid)
    out = np.exp(ulo)
    return np.where(below_lo, lo, np.where(above_hi, np.inf, out))


def row_edges(lv: RisingLevels, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Per prediction ``y``: the size law's panel edges mapped to :math:`\log z = \log(y/x)`
    (inside the factor's range, else its lower end) and the sorted panel edges in
    :math:`\log z`, the factor's base edges merged with them."""
    zb = lv.zbase
    if not lv.xedges.size:
        return np.zeros((y.size, 0)), np.broadcast_to(zb, (y.size, zb.size))
    lex = np.log(y[:, None] / lv.xedges[None, :])
    lex = np.where((lex > zb[0]) & (lex < zb[-1]), lex, zb[0])
    return lex, np.sort(np.concatenate([np.broadcast_to(zb, (y.size, zb.size)), lex], axis=1), axis=1)


def end_nudge(width: np.ndarray) -> np.ndarray:
    """How far inside a panel of ``width`` its Chebyshev-Lobatto end nodes are read (an end can
    be a jump of the size law or of the factor)."""
    return np.minimum(np.maximum(1e-12 * width, 1e-14), 0.25 * width)


class PredictionTables:
    r"""For each prediction :math:`y` of an array, the density of :math:`Y` and the size's
    conditional law as nodal values on Chebyshev-Lobatto panels in :math:`\log z`
    (:math:`x = y / z`; the factor's panels, cut where :math:`y/z` is an edge of the size law's
    panels, its breakpoints among them): :meth:`K` reads :math:`K_k(y, c)` from their cumulative weights."""

    def __init__(self, lv: RisingLevels, y: np.ndarray):
        y = np.asarray(y, float)
        self.y = y
        zb = lv.zbase
        self.zb = zb
        lex, edges = row_edges(lv, y)
        self.lex = lex
        self.edges = np.ascontiguousarray(edges)
        lo, hi = edges[:, :-1, None], edges[:, 1:, None]
        u = (lo + hi) / 2.0 + (hi - lo) / 2.0 * _TN[None, None, :]
        z = np.exp(u)
        x = y[:, None, None] / z
        # the densities at the panel's end nodes are read a hair inside the panel: an end can
        # be a jump of the size law (y/z a breakpoint: BoundedPareto's ends) or of the factor,
        # and a Lobatto end node on its far side weighs about (panel width)/NCHEB^2 wrongly
        # (BoundedPareto(1.5, 1, 100) with exponential predictions: f_Y 2e-3 off, N 6e-4)
        nudge = end_nudge(hi - lo)
        ue = u.copy()
        ue[..., 0:1] += nudge
        ue[..., -1:] -= nudge
        ze = np.exp(ue)
        xe = y[:, None, None] / ze
        with np.errstate(all="ignore"):
            g = (np.asarray(lv.factor.pdf(ze), float) * np.asarray(lv.size.pdf(xe), float)
                 * (hi - lo) / 2.0)  # f_Z(z) f_X(y/z)/z dz, dz = z du (hi - lo)/2 dtau
        g = np.where(np.isfinite(g), g, 0.0)
        V = np.stack([g, g * x, g * x * x])  # (3, rows, panels, NCHEB)
        F = V @ _FULLW  # (3, rows, panels)
        self.npan = V.shape[2]
        self.Vflat = V.reshape(3, -1, NCHEB)
        self.below = np.cumsum(F, axis=2) - F  # panels below (smaller z: larger x)
        self.above = np.cumsum(F[:, :, ::-1], axis=2)[:, :, ::-1] - F
        self.total = F.sum(axis=2)  # (3, rows): f_Y(y), f_Y(y) E[X | y], f_Y(y) E[X^2 | y]

    def K(self, idx: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`(K_1, K_2)(y_{idx}, c)`: :math:`E[\min(X, c)^k; Y \in dy] / dy`, ``c`` in
        :math:`[0, \infty]`. With :math:`z_c = y / c`: the jobs below :math:`c` are those with
        :math:`z > z_c` (their moments), the others count :math:`c^k` times their mass."""
        idx = np.asarray(idx, np.intp)
        c = np.asarray(c, float)
        out1, out2 = np.zeros(c.size), np.zeros(c.size)
        y = self.y[idx]
        with np.errstate(divide="ignore"):
            uc = np.log(y / c)  # -inf at c = inf
        zb = self.zb
        low = uc <= zb[0]  # every job below c
        high = uc >= zb[-1]  # every job above c
        out1[low] = self.total[1, idx[low]]
        out2[low] = self.total[2, idx[low]]
        t0 = self.total[0, idx[high]]
        out1[high] = c[high] * t0
        out2[high] = c[high] ** 2 * t0
        mid = ~(low | high)
        if mid.any():
            i, u, cm = idx[mid], uc[mid], c[mid]
            # the panel in the row's merged edges: the shared ones and the row's extras below u
            p = np.searchsorted(zb, u, side="right") - 1 + np.sum(self.lex[i] <= u[:, None], axis=1)
            p = np.clip(p, 0, self.edges.shape[1] - 2)
            a, b = self.edges[i, p], self.edges[i, p + 1]
            tau = np.clip((2.0 * u - a - b) / np.maximum(b - a, 1e-300), -1.0, 1.0)
            cw = cumulative_weights(tau)  # int_{-1}^{tau}: the part of panel p below z_c
            flat = i * self.npan + p
            V = self.Vflat
            lower0 = self.below[0].ravel()[flat] + np.einsum("ij,ij->i", cw, V[0][flat])
            cu = _FULLW - cw
            upper = [self.above[k].ravel()[flat] + np.einsum("ij,ij->i", cu, V[k][flat])
                     for k in (1, 2)]
            out1[mid] = upper[0] + cm * lower0
            out2[mid] = upper[1] + cm * cm * lower0
        return out1, out2


class RisingLevels:
    r""":math:`N(\ell)` and :math:`S(\ell)` of one rank on one (size, factor) law at one
    resolution of the prediction rule (module docstring)."""

    def __init__(self, size, factor, fn, st, width: float, order: int, sign: int = 1):
        self.size, self.factor, self.fn = size, factor, fn
        # the rank's direction in the prediction: +1 non-decreasing, -1 non-increasing (the
        # crossings in y are then those of -r and -l)
        self.sign = 1 if sign >= 0 else -1
        self.zbase = np.asarray(st.zbase, float)
        self.bps = [float(b) for b in st.bps]
        # the size law's panel edges (its breakpoints among them): the tables' z panels are cut
        # where y/z crosses them, so that they follow the size law's density at every y
        self.xedges = np.asarray(st.xedges, float)
        self.zk = [math.exp(k) for k in st.zkinks]
        # the direction of y -> r(y, y/k) for each kink k (the crossing c_y(l) = y/k)
        self.zsign = [kink_direction(fn, k) if self.sign < 0 else 1 for k in self.zk]
        self.order = order
        self.korder = 10  # the Gauss-Legendre order of the cut panels
        xlo, xhi = size_range(size)
        zlo, zhi = math.exp(st.zlo), math.exp(st.zhi)
        self.atop = xhi
        self.ylo, self.yhi = max(xlo * zlo, 1e-300), xhi * zhi
        xb = (float(size.ppf(1e-4)), float(size.ppf(1 - 1e-4)))
        zb = (math.exp(factor.log_range_q(1e-4)), math.exp(factor.log_range_q(1 - 1e-4)))
        ykinks = [b * k for b in self.bps for k in self.zk]
        self.ey = log_edges(self.ylo, self.yhi, width, ykinks, bulk=(xb[0] * zb[0], xb[1] * zb[1]))
        u, w = panels(self.ey, order)
        self.Yn = np.exp(u)
        self.wy = w * self.Yn
        self.pan = np.repeat(np.arange(self.ey.size - 1), order)
        self.tab = PredictionTables(self, self.Yn)
        # nodes that hold no mass, first or second moment worth a double (far in the tails)
        # stay as the support of the kinked panels' interpolation only
        t = self.tab.total * self.wy[None, :]
        self.live = (t[1] > 1e-19 * float(size.mean)) | (t[2] > 1e-19 * float(size.moment(2)))

    # ---- roots --------------------------------------------------------------------------------
    def crossing(self, y: np.ndarray, level: np.ndarray, lo=None, hi=None) -> np.ndarray:
        r""":math:`c_y(\ell) = \inf\{a \ge 0 : r(y, a) \ge \ell\}` (``inf`` where the rank stays
        below the level up to the largest size): regula falsi with the Illinois modification in
        the brackets ``[lo, hi]`` (default :math:`[0, x_{max}]`)."""
        fn = self.fn
        lo = np.zeros(y.size) if lo is None else np.asarray(lo, float)
        hi = np.full(y.size, self.atop) if hi is None else np.asarray(hi, float)
        out = np.zeros(y.size)
        r0 = _call(fn, y, lo)
        live = r0 < level
        rt = _call(fn, y, hi)
        out[live & (rt < level)] = np.inf
        act = np.nonzero(live & (rt >= level))[0]
        if act.size:
            yy, lv = y[act], level[act]
            out[act] = _illinois(lambda a, idx: _call(fn, yy[idx], a), lv, lo[act], hi[act],
                                 r0[act] - lv, rt[act] - lv)
        return out

    def _node_brackets(self, level: np.ndarray) -> np.ndarray:
        """For each fixed node and level, the index g of the first age of :attr:`agrid` where
        the rank reaches the level (0: at age 0 already; the grid's size: never)."""
        if not hasattr(self, "rtab"):
            self.agrid = np.concatenate([[0.0], np.geomspace(1e-16 * self.atop, self.atop, 96)])
            self.rtab = _call(self.fn, self.Yn[:, None], self.agrid[None, :])
            if np.any(np.diff(self.rtab, axis=1) < 0):
                raise FloatingPointError("the rank falls with the age")
        return np.stack([np.searchsorted(r, level, side="left") for r in self.rtab], axis=1)

    def kinks(self, level: np.ndarray) -> np.ndarray:
        r"""The predictions where :math:`y \mapsto K(y, c_y(\ell))` kinks, per level (columns;
        ``nan`` outside the rule): :math:`\Psi(\ell)`, the crossings of the size law's
        breakpoints and of the largest size, and of :math:`y/k` for the factor's kinks."""
        fn, lo, hi, s = self.fn, self.ylo, self.yhi, self.sign
        cols = [sup_below(lambda y: s * _call(fn, y, np.zeros(y.size)), s * level, lo, hi)]
        for b in self.bps + [self.atop]:
            cols.append(sup_below(lambda y, b=b: s * _call(fn, y, np.full(y.size, b)), s * level,
                                  lo, hi))
        for k, sk in zip(self.zk, self.zsign):
            if sk == 0:  # r(y, y/k) is constant in y: c_y(l) = y/k on no interval
                continue
            cols.append(sup_below(lambda y, k=k, sk=sk: sk * _call(fn, y, y / k), sk * level, lo, hi))
        out = np.stack(cols, axis=1)
        return np.where((out > lo) & (out < hi), out, np.nan)

    # ---- the level functions ------------------------------------------------------------------
    def values(self, level) -> tuple[np.ndarray, np.ndarray]:
        """(N, S) at the levels."""
        level = np.asarray(level, float).ravel()
        if level.size > LEVELS:
            parts = [self.values(level[i:i + LEVELS]) for i in range(0, level.size, LEVELS)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        L = level.size
        ey, o = self.ey, self.order
        kk = self.kinks(level)  # (L, m)
        kp = np.where(np.isnan(kk), -1, np.searchsorted(ey, np.log(np.where(np.isnan(kk), 1.0, kk)),
                                                         side="right") - 1)
        kinked = np.zeros((L, ey.size - 1), bool)
        rows_i = np.repeat(np.arange(L), kk.shape[1])
        good = kp.ravel() >= 0
        kinked[rows_i[good], np.clip(kp.ravel()[good], 0, ey.size - 2)] = True
        # the panels below Psi's (above it for a rank falling in y) too: the non-analytic
        # corner reaches into them
        p0 = kp[:, 0]
        for back in range(1, NEIGHBOURS + 1):
            q = p0 - self.sign * back
            ok = (p0 >= 0) & (q >= 0) & (q <= ey.size - 2)
            kinked[np.nonzero(ok)[0], q[ok]] = True
        N, S = np.zeros(L), np.zeros(L)
        # the fixed nodes of panels without a kink: brackets from the rank's table
        g = self._node_brackets(level)  # (L, J)
        G = self.agrid.size
        use = ~kinked[:, self.pan] & (g > 0) & self.live[None, :]
        li, jj = np.nonzero(use)
        gij = g[li, jj]
        c = np.full(li.size, np.inf)
        fin = gij < G
        c[fin] = self.crossing(self.Yn[jj[fin]], level[li[fin]], self.agrid[gij[fin] - 1],
                               self.agrid[gij[fin]])
        k1, k2 = self.tab.K(jj, c)
        w = self.wy[jj]
        N += np.bincount(li, weights=w * k1, minlength=L)
        S += np.bincount(li, weights=w * k2, minlength=L)
        # the kinked panels: Gauss-Legendre panels cut at the kinks
        pl, pq = np.nonzero(kinked)
        if pl.size:
            inner = np.log(np.where(np.isnan(kk[pl]), np.exp(ey[pq])[:, None], kk[pl]))
            inner = np.clip(inner, ey[pq][:, None], ey[pq + 1][:, None])
            # graded towards Psi from below: there c -> 0 and K(y, c) = c f_Y(y) less a part
            # that vanishes like the conditional law of X near 0 (exp(-y/c) for exponential
            # predictions): smooth, but not analytic at Psi
            # (from above for a rank falling in y: there the jobs ahead have y > Psi)
            psi = np.where(np.isnan(kk[pl, 0]), np.nan, np.log(np.clip(kk[pl, 0], 1e-300, None)))
            with np.errstate(invalid="ignore"):
                if self.sign > 0:
                    base = np.exp(ey[pq])
                    grade = np.log(np.clip(np.exp(psi)[:, None] - (np.exp(psi) - base)[:, None]
                                           * GRADE[None, :], base[:, None], None))
                    grade = np.where(np.isnan(grade) | (grade >= psi[:, None]), ey[pq][:, None],
                                     grade)
                else:
                    top = np.exp(ey[pq + 1])
                    grade = np.log(np.clip(np.exp(psi)[:, None] + (top - np.exp(psi))[:, None]
                                           * GRADE[None, :], None, top[:, None]))
                    grade = np.where(np.isnan(grade) | (grade <= psi[:, None]), ey[pq][:, None],
                                     grade)
            grade = np.clip(grade, ey[pq][:, None], ey[pq + 1][:, None])
            e = np.sort(np.concatenate([ey[pq][:, None], inner, grade, ey[pq + 1][:, None]], axis=1),
                        axis=1)
            u, wu = panels(e, self.korder)
            y = np.exp(u)
            wy = wu * y
            owner = np.broadcast_to(pl[:, None], y.shape)
            panel = np.broadcast_to(pq[:, None], y.shape)
            keep = wy > 0
            u, y, wy, owner, panel = u[keep], y[keep], wy[keep], owner[keep], panel[keep]
            c = self.crossing(y, level[owner])
            pos = np.nonzero(c > 0)[0]
            if self.zk:
                # K(., c) kinks in y where y/c is a kink of the factor: tables of their own
                for s in range(0, pos.size, BLOCK):
                    sel = pos[s:s + BLOCK]
                    tab = PredictionTables(self, y[sel])
                    k1, k2 = tab.K(np.arange(sel.size), c[sel])
                    N += np.bincount(owner[sel], weights=wy[sel] * k1, minlength=L)
                    S += np.bincount(owner[sel], weights=wy[sel] * k2, minlength=L)
            else:
                # K(., c) is smooth in log y on the panel: interpolated (Lagrange, through the
                # panel's Gauss-Legendre nodes, at which the tables are)
                q = panel[pos]
                t = (2.0 * u[pos] - ey[q] - ey[q + 1]) / (ey[q + 1] - ey[q])
                B = _lagrange(t, o)
                nodes = q[:, None] * o + np.arange(o)[None, :]
                k1, k2 = self.tab.K(nodes.ravel(), np.repeat(c[pos], o))
                k1 = np.sum(B * k1.reshape(-1, o), axis=1)
                k2 = np.sum(B * k2.reshape(-1, o), axis=1)
                N += np.bincount(owner[pos], weights=wy[pos] * k1, minlength=L)
                S += np.bincount(owner[pos], weights=wy[pos] * k2, minlength=L)
        return N, S


def _lagrange(t: np.ndarray, n: int) -> np.ndarray:
    """The Lagrange basis of the ``n`` Gauss-Legendre nodes of [-1, 1] at ``t`` (barycentric
    form; shape ``t.shape + (n,)``)."""
    tn, _ = np.polynomial.legendre.leggauss(n)
    bw = 1.0 / np.array([np.prod(tn[j] - np.delete(tn, j)) for j in range(n)])
    d = t[:, None] - tn[None, :]
    exact = d == 0
    d = np.where(exact, 1.0, d)
    q = bw[None, :] / d
    B = q / q.sum(axis=1, keepdims=True)
    hit = exact.any(axis=1)
    B[hit] = exact[hit].astype(float)
    return B


def lagrange_matrix(edges: np.ndarray, u: np.ndarray, order: int):
    """The sparse matrix (``len(u)`` x panels * ``order``) of Lagrange interpolation from the
    Gauss-Legendre nodes of the panels ``edges`` (of :func:`qtheory.laws._quadrature.panels`)
    to the points ``u`` (clamped to the end panels)."""
    from scipy.sparse import csr_matrix

    p = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, edges.size - 2)
    t = np.clip((2.0 * u - edges[p] - edges[p + 1]) / (edges[p + 1] - edges[p]), -1.0, 1.0)
    L = _lagrange(t, order)
    cols = p[:, None] * order + np.arange(order)[None, :]
    return csr_matrix((L.ravel(), (np.repeat(np.arange(u.size), order), cols.ravel())),
                      shape=(u.size, (edges.size - 1) * order))


class RisingInterpolants:
    r"""Piecewise Chebyshev interpolants of :math:`N` and :math:`S` in
    :math:`u = \log(\ell - \ell_0)` on ``[ulo, uhi]``, power laws below ``ulo`` (0 at and below
    :math:`\ell_0`), the top value above ``uhi``."""

    def __init__(self, lv: RisingLevels, ell0: float, ulo: float, uhi: float, mean: float,
                 m2: float, side: int = 1):
        self.lv, self.ell0, self.ulo, self.uhi, self.side = lv, ell0, ulo, uhi, side
        floors = (FLOOR * mean, FLOOR * m2)

        def values(lo, hi):
            u = (lo[:, None] + hi[:, None]) / 2.0 + (hi - lo)[:, None] / 2.0 * _TN[None, :]
            Nv, Sv = lv.values(ell0 + side * np.exp(u.ravel()))
            if not (np.all(np.isfinite(Nv)) and np.all(np.isfinite(Sv))):
                raise FloatingPointError("the level functions are not finite")
            return (Nv.reshape(u.shape), Sv.reshape(u.shape),
                    np.full(lo.size, floors[0]), np.full(lo.size, floors[1]))

        n = max(2, math.ceil((uhi - ulo) / 2.0))
        grid = np.linspace(ulo, uhi, n + 1)
        edges, Nt, St, worst = adaptive_cheb_pair(values, grid[:-1], grid[1:], TOL, 1e-6, 4000,
                                                  "the rising rank's level functions")
        anc = np.full(edges.size - 1, np.nan)
        self.Ni, self.Si = PiecewiseCheb(edges, anc, Nt), PiecewiseCheb(edges, anc, St)
        self.interp_error = worst
        _, self.jac = _age(_TN[None, :], edges[:-1, None], edges[1:, None], anc[:, None])
        # the power laws below ulo: log-slopes over the first unit (where N and S vanish at
        # l0: a rank rising in y); where they do not (a rank falling in y, either side of l0)
        # the value at ulo, within e^ulo of l0
        self.low = []
        for it in (self.Ni, self.Si):
            v0, v1 = float(it(np.array(ulo))), float(it(np.array(ulo + 1.0)))
            p = math.log(v1 / v0) if v0 > 0 and v1 > v0 else 1.0
            self.low.append((v0, p if lv.sign > 0 else 0.0))

    def __call__(self, level) -> tuple[np.ndarray, np.ndarray]:
        r"""(N, S) at the levels on this side of :math:`\ell_0` (0 on the other side)."""
        level = np.asarray(level, float)
        d = self.side * (level - self.ell0)
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.log(np.where(d > 0, d, np.nan))
        uc = np.clip(np.where(np.isnan(u), self.ulo, u), self.ulo, self.uhi)
        out = []
        for it, (v0, p) in zip((self.Ni, self.Si), self.low):
            v = it(uc)
            with np.errstate(over="ignore", invalid="ignore"):
                below = v0 * np.exp(p * (np.where(np.isnan(u), self.ulo, u) - self.ulo))
            v = np.where(u < self.ulo, below, v)
            out.append(np.where(d > 0, v, 0.0))
        return out[0], out[1]


class FallingInterpolants:
    r""":math:`N` and :math:`S` of a rank falling in the prediction: a
    :class:`RisingInterpolants` on each side of :math:`\ell_0 = r(0, 0)` (in
    :math:`\log |\ell - \ell_0|`; the levels reach below :math:`\ell_0` and the functions are
    not analytic there, :math:`\ell^2 \log|\ell|` terms) and their value at :math:`\ell_0`."""

    def __init__(self, lv: RisingLevels, ell0: float, d: np.ndarray, mean: float, m2: float):
        self.lv, self.ell0 = lv, ell0
        self.sides = []
        for side in (1, -1):
            e = side * d
            e = e[e > 0]
            if not e.size:
                continue
            uhi = math.log(float(e.max())) + 1e-9
            # within e^ulo of l0 the value at ulo: 1e-14 of the level scale below the top
            ulo = max(math.log(float(e.min())), uhi - 32.0)
            if side < 0:
                # beyond the level where N holds 1e-17 of E[X] the far value is kept
                u = ulo + 1.5 * np.arange(1, 31)
                u = u[u < uhi]
                if u.size:
                    Nu, _ = lv.values(ell0 - np.exp(u))
                    small = np.nonzero(Nu < 1e-17 * mean)[0]
                    if small.size:
                        uhi = min(uhi, float(u[small[0]]))
            self.sides.append(RisingInterpolants(lv, ell0, ulo, uhi, mean, m2, side))
        N0, S0 = lv.values(np.array([ell0]))
        self.at0 = (float(N0[0]), float(S0[0]))
        self.interp_error = max(it.interp_error for it in self.sides)

    def midpoints(self) -> np.ndarray:
        """The levels at the middle of every interpolation panel (both sides)."""
        out = []
        for it in self.sides:
            e = it.Ni.edges
            out.append(self.ell0 + it.side * np.exp((e[:-1] + e[1:]) / 2.0))
        return np.concatenate(out)

    def __call__(self, level) -> tuple[np.ndarray, np.ndarray]:
        level = np.asarray(level, float)
        N = np.where(level == self.ell0, self.at0[0], 0.0)
        S = np.where(level == self.ell0, self.at0[1], 0.0)
        for it in self.sides:
            n, s = it(level)
            N, S = N + n, S + s
        return N, S


#: the grading of the outer rule's z panels towards the curve r(x z, x^-) = l0 (a rank falling
#: in y): edges log z* +- GRADE_WIDTH 2^-j
OUTER_GRADE = 2.0 ** -np.arange(1, 13)
GRADE_WIDTH = 0.5


class FallingOuterRule:
    r"""PSPJF's outer rule (a product rule in :math:`(\log x, \log z)`,
    :class:`~.soap_factor.FactorSOAP`) with, at each size node :math:`x`, the :math:`z` panels
    cut and graded (:data:`OUTER_GRADE`) at the :math:`z^*(x)` where the job's rank before it
    completes is :math:`\ell_0`, :math:`r(x z^*, x^-) = \ell_0`: for a rank falling in the
    prediction the level functions are not analytic at :math:`\ell_0`, which the levels cross
    inside the law's support (:math:`a - y`: on the line :math:`z = 1`)."""

    def __init__(self, st, fn, ell0: float, x_width: float, order: int):
        from ..laws._quadrature import size_rule

        size, factor = st.size, st.factor
        zlo, zhi = st.zlo, st.zhi
        bulk = (math.exp(factor.log_range_q(1e-4)), math.exp(factor.log_range_q(1 - 1e-4)))
        base = log_edges(math.exp(zlo), math.exp(zhi), 0.5,
                         [0.5, 1.0, *[math.exp(k) for k in st.zkinks]], bulk=bulk)
        xr, wr = size_rule(size, width=x_width)
        xr, wr = np.asarray(xr, float), np.asarray(wr, float)
        ylo, yhi = max(math.exp(zlo) * float(xr.min()), 1e-300), math.exp(zhi) * float(xr.max())
        xm = np.nextafter(xr, 0.0)
        ystar = sup_below(lambda y: -_call(fn, y, xm), np.full(xr.size, -ell0), ylo, yhi)
        with np.errstate(divide="ignore", invalid="ignore"):
            lz = np.log(ystar / xr)
        ok = np.isfinite(lz) & (lz > zlo) & (lz < zhi)
        lz = np.where(ok, lz, zlo)
        cuts = np.concatenate([lz[:, None], lz[:, None] - GRADE_WIDTH * OUTER_GRADE[None, :],
                               lz[:, None] + GRADE_WIDTH * OUTER_GRADE[None, :]], axis=1)
        cuts = np.where(ok[:, None] & (cuts > zlo) & (cuts < zhi), cuts, zlo)
        edges = np.sort(np.concatenate([np.broadcast_to(base, (xr.size, base.size)), cuts],
                                       axis=1), axis=1)
        u, wu = panels(edges, order)
        z = np.exp(u)
        with np.errstate(all="ignore"):
            W = wr[:, None] * wu * z * np.asarray(factor.pdf(z), float)
        W = np.where(np.isfinite(W), W, 0.0)
        X = np.broadcast_to(xr[:, None], z.shape)
        keep = (W > 0) & (W > 1e-22 * W.sum())
        self.X, self.Y, self.W = X[keep], (X * z)[keep], W[keep]


class RisingRankSOAP:
    """The level functions of one rank on one law (fine prediction rule), their interpolants,
    and the two outer rules of PSPJF's tables (0.35 and 0.5 wide)."""

    def __init__(self, model, fn, lv: RisingLevels):

        size = model.size
        self.size, self.fn = size, fn
        factor = model.prediction.joint(size).factor
        self.levels = lv
        self.ell0 = float(_call(fn, np.zeros(1), np.zeros(1))[0])
        grids = [outer_rule(model, w) for w in (0.35, 0.5)]
        if lv.sign > 0:
            self.outer = grids
        else:
            # the levels cross l0 inside the support: the outer rule cut and graded there
            self.outer = [FallingOuterRule(st, fn, self.ell0, w, o)
                          for st, w, o in zip(grids, (0.35, 0.5), (16, 10))]
        Rs = [_call(fn, st.Y, np.nextafter(st.X, 0.0)) for st in self.outer]
        if not all(np.all(np.isfinite(R)) for R in Rs):
            raise FloatingPointError("the rank is not finite on the law's support")
        d = np.concatenate(Rs) - self.ell0
        mean, m2 = float(size.mean), float(size.moment(2))
        if lv.sign > 0:
            top = float(d.max())
            if not top > 0:
                raise FloatingPointError("the rank does not rise above r(0, 0) on the law's support")
            uhi = math.log(top) + 1e-9
            ulo = max(math.log(float(d[d > 0].min())), uhi - 45.0)
            # below the level where N holds 1e-17 of E[X] nothing is interpolated (power laws)
            u = uhi - 1.5 * np.arange(1, 31)
            u = u[u > ulo]
            if u.size:
                Nu, _ = self.levels.values(self.ell0 + np.exp(u))
                small = np.nonzero(Nu < 1e-17 * mean)[0]
                if small.size:
                    ulo = max(ulo, float(u[small[0]]))
            self.interp = RisingInterpolants(self.levels, self.ell0, ulo, uhi, mean, m2)
            e = self.interp.Ni.edges
            mid = self.ell0 + np.exp((e[:-1] + e[1:]) / 2.0)
        else:
            if not np.any(d != 0):
                raise FloatingPointError("the rank is r(0, 0) on the whole support")
            self.interp = FallingInterpolants(self.levels, self.ell0, d, mean, m2)
            mid = self.interp.midpoints()
        self.NS = [self.interp(R) for R in Rs]
        # the prediction rule's own error: a finer rule at the interpolants' panel midpoints
        check = RisingLevels(size, factor, fn, grids[0], YWIDTH[False], YORDER[False], lv.sign)
        Nf, Sf = self.levels.values(mid)
        Nc, Sc = check.values(mid)
        self.dN = float(np.max(np.abs(Nf - Nc)))
        self.dS = float(np.max(np.abs(Sf - Sc)))

    def means(self, lams, weights: str = "mean", which: int = 0) -> np.ndarray:
        lams = np.atleast_1d(np.asarray(lams, float))
        st = self.outer[which]
        NR, SR = self.NS[which]
        W = st.W if weights == "mean" else st.W / st.X
        out = np.empty(lams.size)
        for i, lam in enumerate(lams):
            d = 1.0 - lam * NR
            out[i] = float(np.sum(W * (st.X / d + lam * SR / (2.0 * d * d))))
        return out

    def level_sensitivity(self, lams, weights: str = "mean") -> np.ndarray:
        r"""A bound on the change of the mean when :math:`N` and :math:`S` move by at most
        :attr:`dN` and :attr:`dS`: :math:`\sum W (\lambda x\, dN / d^2 + \lambda dS / (2 d^2)
        + \lambda^2 S\, dN / d^3)`, :math:`d = 1 - \lambda N`."""
        lams = np.atleast_1d(np.asarray(lams, float))
        st = self.outer[0]
        NR, SR = self.NS[0]
        W = st.W if weights == "mean" else st.W / st.X
        out = np.empty(lams.size)
        for i, lam in enumerate(lams):
            d = 1.0 - lam * NR
            out[i] = float(np.sum(W * (lam * st.X * self.dN / d ** 2 + lam * self.dS / (2 * d * d)
                                       + lam * lam * SR * self.dN / d ** 3)))
        return out

    def estimate(self, lams, weights: str = "mean") -> tuple[np.ndarray, np.ndarray]:
        r"""The value and its error estimate: ten times the difference of the two outer rules,
        ten times :meth:`level_sensitivity` (the largest difference of a finer prediction rule
        at the interpolants' panel midpoints), ten times the interpolants' tail amplified as
        the load amplifies an error of :math:`N`, :math:`(1 + 2\rho/(1 - \rho))`, plus
        :math:`10^{-13}` relative and, on a size law with a finite upper end, :math:`10^{-10}`
        (the corner of the joint law's support is not graded)."""
        a, b = self.means(lams, weights, 0), self.means(lams, weights, 1)
        rho = np.minimum(np.atleast_1d(np.asarray(lams, float)) * float(self.size.mean),
                         1.0 - 1e-15)
        amp = 1.0 + 2.0 * rho / (1.0 - rho)
        floor = 1e-10 if math.isfinite(float(self.size.support[1])) else 1e-13
        err = (10.0 * np.abs(a - b) + 10.0 * self.level_sensitivity(lams, weights)
               + (floor + 10.0 * self.interp.interp_error * amp) * np.abs(a))
        return a, err


#: the sample grid of :func:`supported`'s shape checks (predictions and ages over 12 decades)
_GRID_Y = np.concatenate([[0.0], np.geomspace(1e-6, 1e6, 37)])
_GRID_A = np.concatenate([[0.0], np.geomspace(1e-6, 1e6, 37)])


def _direction(r: np.ndarray, axis: int) -> int | None:
    """+1 where the sampled values never fall along ``axis``, -1 where they never rise (and do
    fall), ``None`` where they do both (a relative tolerance of 1e-12)."""
    with np.errstate(all="ignore"):
        d = np.diff(r, axis=axis)
        a, b = np.take(r, np.arange(1, r.shape[axis]), axis), np.take(r, np.arange(r.shape[axis] - 1), axis)
        tol = 1e-12 * np.maximum(np.abs(a), np.abs(b))
        fin = np.isfinite(d)
    falls, rises = np.any(fin & (d < -tol)), np.any(fin & (d > tol))
    if falls and rises:
        return None
    return -1 if falls else 1


def shape_direction(fn) -> int:
    r"""The rank's direction in the prediction on the sample grid: +1 where it never falls
    with the prediction, -1 where it never rises (and falls somewhere: :math:`a - y`), 0 where
    this route does not take it: not finite at :math:`(0, 0)`, monotone in neither direction,
    or constant on a cell of the grid (a region of positive area with one rank: ties that this
    route does not split into strict and non-strict loads)."""
    y, a = np.meshgrid(_GRID_Y, _GRID_A, indexing="ij")
    try:
        r = _call(fn, y, a)
    except (ValueError, TypeError, FloatingPointError):
        return 0
    if not math.isfinite(float(r[0, 0])):
        return 0
    sign = _direction(r, 0)
    if sign is None:
        return 0
    flat_y = np.diff(r, axis=0) == 0
    flat_a = np.diff(r, axis=1) == 0
    cell = flat_y[:, :-1] & flat_y[:, 1:] & flat_a[:-1, :] & flat_a[1:, :]
    return 0 if bool(cell.any()) else sign


def shape_ok(fn) -> bool:
    """The rank passes :func:`shape_direction` (either direction in the prediction)."""
    return shape_direction(fn) != 0


def kink_direction(fn, k: float) -> int | None:
    r"""The direction of :math:`y \mapsto r(y, y/k)` on the sample grid (the prediction where
    a job's cut-off :math:`c_y(\ell)` crosses :math:`y/k`, a kink :math:`k` of the factor's
    density, is its crossing of the level): +1, -1, 0 where it is constant (:math:`a - y` at
    :math:`k = 1`: the cut-off meets :math:`y/k` at no level but :math:`r(0, 0)`), ``None``
    where it is monotone in neither direction (the route declines the rank)."""
    y = _GRID_Y[1:]
    r = _call(fn, y, y / k)
    if not np.all(np.isfinite(r)):
        return None
    if np.all(r == r[0]):
        return 0
    return _direction(r, 0)


def supported(model, policy) -> bool:
    """A :class:`~qtheory.Rank` on predictions declared ``monotone="increasing"`` that passes
    :func:`shape_ok`, on a law the factor route takes (size laws with breakpoints and factors
    with kinks included: BoundedPareto sizes, uniform and bounded predictions)."""
    from ..policies import PSPJF
    from ..policies.rank import Rank
    from . import soap_factor

    if not isinstance(policy, Rank) or policy.descriptor != "prediction":
        return False
    if getattr(policy, "monotone", None) != "increasing":
        return False
    if not soap_factor.supported(model, PSPJF()):
        return False
    # size laws with breakpoints (BoundedPareto) and factors with kinks (uniform predictions,
    # BoundedMultiplicative) are covered: the tables' z panels are cut where y/z is a
    # breakpoint, their end nodes read inside the panel, and the prediction rule is cut where
    # c_y(l) crosses a breakpoint or y/k for a kink k (:meth:`RisingLevels.kinks`)
    sign = shape_direction(policy.fn)
    if sign == 0:
        return False
    if sign < 0:
        # a rank falling in y: y -> r(y, y/k) must be monotone at each kink k of the factor
        # (the crossing c_y(l) = y/k found by bisection)
        factor = soap_factor._factor(model)  # without building the joint law's tables
        if any(kink_direction(policy.fn, float(k)) is None for k in factor.kinks if k > 0):
            return False
    return True


def outer_rule(model, width: float):
    """PSPJF's outer rule (a product rule in (x, z), :class:`~.soap_factor.FactorSOAP`) and
    its grids (``zbase``, ``xedges``, the breakpoints and kinks) at the outer width ``width``
    (0.35 fine, 0.5 coarse), without PSPJF's level interpolants (cached on the size law)."""
    from .soap_factor_shapes import FactorShapeSOAP

    j = model.prediction.joint(model.size)
    cache = model.size.__dict__.setdefault("_qt_cache", {})
    key = ("prediction_rank_rising_outer", id(j.factor), type(j.factor).__name__,
           repr(vars(j.factor)), width)
    if key not in cache:
        cache[key] = FactorShapeSOAP(model.size, j.factor, "static", 0.5, 16,
                                     16 if width < 0.5 else 10, x_width=width,
                                     levels=(None, None, 0.0, None, None))
    return cache[key]


def tables(model, policy) -> RisingRankSOAP:
    """The cached tables of (law, rank)."""

    st = outer_rule(model, 0.35)
    key = ("prediction_rank_rising", id(policy.fn), id(st))
    cache = model.size.__dict__.setdefault("_qt_cache", {})
    if key not in cache or cache[key][0] is not policy.fn:
        cache[key] = (policy.fn, RisingRankSOAP(model, policy.fn, levels(model, policy)))
    return cache[key][1]


def evaluate(model, policy, lams):
    """(E[T] at each arrival rate, error estimate)."""
    return tables(model, policy).estimate(lams)


def levels(model, policy) -> RisingLevels:
    """The cached level functions of (law, rank) at the fine prediction rule (no
    interpolants: :func:`conditional` evaluates them at its points' levels)."""

    st = outer_rule(model, 0.35)
    key = ("prediction_rank_rising_levels", id(policy.fn), id(st))
    cache = model.size.__dict__.setdefault("_qt_cache", {})
    if key not in cache or cache[key][0] is not policy.fn:
        factor = model.prediction.joint(model.size).factor
        cache[key] = (policy.fn, RisingLevels(model.size, factor, policy.fn, st, YWIDTH[True],
                                              YORDER[True], shape_direction(policy.fn)))
    return cache[key][1]


def conditional(model, policy, x, y):
    r""":math:`E[T \mid x, y]` at the model's arrival rate: FB's formula at the level
    :math:`R = r(y, x^-)` with :math:`N(R)` and :math:`S(R)` computed there directly."""
    lam = model.arrival_rate
    x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
    fn = policy.fn
    R = _call(fn, y.ravel(), np.nextafter(x.ravel(), 0.0))
    lv = levels(model, policy)
    N, S = lv.values(R)
    if lv.sign > 0:  # no job is ahead at or below r(0, 0), its infimum
        ell0 = float(_call(fn, np.zeros(1), np.zeros(1))[0])
        N = np.where(R > ell0, N, 0.0)
        S = np.where(R > ell0, S, 0.0)
    d = 1.0 - lam * N
    return (x.ravel() / d + lam * S / (2.0 * d * d)).reshape(x.shape)


def slowdown(model, policy) -> tuple[float, float]:
    r""":math:`E[T/X]` and its error estimate (as :func:`evaluate`); ``inf`` for a rank falling
    in the prediction where :math:`E[1/X] = \infty` and :math:`S(r(0, 0)) > 0`: a tiny job's
    level :math:`R = r(xz, x^-)` tends to :math:`r(0, 0)`, where (unlike a rank rising in
    :math:`y`, whose :math:`S` vanishes there) the old jobs ahead still hold
    :math:`\lambda S / 2 > 0` of work, so :math:`E[T \mid x, y]/x \sim 1/x`."""
    from .slowdown import inverse_mean_infinite

    lv = levels(model, policy)
    if lv.sign < 0 and inverse_mean_infinite(model.size):
        ell0 = float(_call(policy.fn, np.zeros(1), np.zeros(1))[0])
        if float(lv.values(np.array([ell0]))[1][0]) > 0:
            return math.inf, 0.0
    a, err = tables(model, policy).estimate([model.arrival_rate], "slowdown")
    return float(a[0]), float(err[0])
