r"""The SOAP theorem on a continuous multiplicative prediction law, evaluated on the law itself,
for the prediction ranks of PSPJF (:math:`r(y, a) = y`, "static"), SPJF
(:math:`\langle -a, y\rangle`, "nonpreemptive") and TRAIL(c) (:math:`y - a` while
:math:`a < c\,y`, then :math:`-\infty`): the further shapes of
:mod:`qtheory.engine.soap_factor`, with its level interpolants, load-independent outer sums
and error estimate.

The joint law is :math:`Y = XZ` with :math:`Z` independent of the size :math:`X`
(:class:`~qtheory.laws.factor_joint.FactorJoint`). Each of these ranks starts at :math:`y` and
never increases with age, so the tagged job's worst future rank is its current rank,
:math:`r_{\mathrm w} = y`, and a new job with prediction :math:`Y'` is ahead of a rank
:math:`\ell` for its whole size exactly when :math:`Y' < \ell`; on a continuous law
:math:`\rho^{\mathrm{old}}_0[\ell] = \rho^{\mathrm{new}}[\ell] = \lambda N(\ell)` with the same
new work as the remaining rank's,

.. math:: N(\ell) = E[X\,1\{Y < \ell\}] = E_Z\big[E[X;\ X \le \ell/Z]\big]

(``docs/soap_predictions.md``, sections 4 and 7; ``docs/limited_preemption.md``, section 2).
The old jobs' squares :math:`S_2(\ell) = \sum_i E[(X^{\mathrm{old}}_i[\ell])^2]`:

* static: old jobs with :math:`Y' \le \ell` whole, :math:`S_2 = B(\ell) = E[X^2; Y \le \ell]`;
* non-preemptive: besides those, every old job already started runs to completion (its
  later interval starts at age 0+): :math:`S_2 = E[X^2]`;
* TRAIL(c): an old job with :math:`Y' > \ell` is ahead again from age
  :math:`b = \min(Y' - \ell, cY')`: :math:`S_2 = B(\ell) + E[((X - b)^+)^2; Y > \ell]`. For
  fixed :math:`z` that is, with :math:`e_1 = \ell/z` and
  :math:`e_2 = \ell/(z(1-c))` below :math:`z = 1/c`, :math:`\ell/(z-1)` above,

  .. math::
      E[X^2; X \le e_1] + E[(\ell + (1 - z) X)^2;\ e_1 < X \le e_2]
      + (1 - cz)^{+2}\, E[X^2; X > e_2].

So each :math:`z` costs the size law's exact partial (or tail) moments at one or two ends, and
the :math:`z`-integral is composite Gauss-Legendre in :math:`\log z` with the ends' crossings of
the size law's breakpoints (and, for TRAIL, :math:`z = 1/c` and edges graded towards it) as
panel edges. :math:`N` and :math:`S_2` are adaptive piecewise Chebyshev interpolants in
:math:`\log \ell`, started with the levels where they may kink (a size-law breakpoint :math:`b`
times a kink :math:`k` of the factor's density, and for TRAIL :math:`bk(1-c)`,
:math:`b(k-1)`, :math:`b(1-c)/c`) as panel edges. A job of size :math:`x` and prediction
:math:`y` then has

.. math::
    E[T \mid x, y] = \frac{\lambda S_2(y)}{2 (1 - \lambda N(y))^2} + \text{residence},

with the residence :math:`x / (1 - \lambda N(y))` (static), :math:`x` (non-preemptive) and
:math:`G_\lambda(y) - G_\lambda(y - \min(x, cy)) + (x - cy)^+` (TRAIL), with
:math:`G_\lambda(\ell) = \int_0^\ell d\ell'/(1 - \lambda N(\ell'))`. The outer expectation is
the product rule of :class:`~qtheory.engine.soap_factor.FactorSOAP` (for TRAIL with
:math:`z = 1/c`, where :math:`\min(x, cy)` changes form, an edge); where the level functions
kink, the outer integrand kinks along the curves :math:`xz = \ell_k` (and for TRAIL
:math:`(1-c)xz = \ell_k`, :math:`x(z-1) = \ell_k`), so each size node's z panels are cut there
and the size panels where such a curve meets a kink of the factor (without the cuts PSPJF and
SPJF on bounded Pareto sizes with uniform predictions were 3e-9 to 1e-8 off, with them 3e-14).
The sums are load-independent (:func:`qtheory.engine._factor_outer.node_sums`). Two
resolutions give the error estimate (:meth:`FactorShapeSOAP.error_estimate`: their difference,
and the interpolants' tail amplified as the load amplifies an error of :math:`N`).

Measured (``tests/test_soap_factor_shapes.py``; Exp, Weibull(0.5), LogNormal(1) and bounded
Pareto(1.5, 1, 100) sizes; exponential, uniform(0.5) and log-normal(0.5) predictions; loads
0.5 / 0.8 / 0.95 / 0.99): PSPJF, SPJF, TRAIL(0.5) and TRAIL(0.8) against their closed forms
3e-14 at worst below load 0.99 and 1.8e-12 at 0.99, where the closed forms are themselves
that far off (against mpmath, Exp sizes with uniform predictions at 0.99: the closed forms
1.2e-12, the route 2.7e-14); the error estimate (1e-13 to 4e-12, relative) above the error in
every case against mpmath, and above the difference to the closed forms less their 2e-12 in
every case; E[T | x, y] against the closed forms' 1e-14; PSPJF's slowdown against its closed
form 2e-15 (SPJF's and TRAIL's are infinite where :math:`E[1/X]` is). PSPJF on Weibull(2)
sizes with uniform predictions at 0.99: 2.5e-14 off mpmath (its closed form: 1.6e-9). Cost
(CPU, cold: a fresh size law, one load, both resolutions; loaded machine): 0.05-0.19 s on
Exp/Exp and LogNormal/LogNormal, 0.3 s for TRAIL on bounded Pareto sizes with uniform
predictions (the discretised route 0.05-0.56 s in the same run).
"""

from __future__ import annotations

import math

import numpy as np

from ..laws._quadrature import (
    _underflow_panels,
    head_node,
    log_edges,
    panels,
    size_edges,
    size_range,
    size_rule,
    tail_node,
)
from ._factor_outer import node_sums, shape_level_sums
from .soap_exact import _TN, _VINV, PiecewiseCheb, _age, adaptive_cheb_pair
from .soap_factor import FactorSOAP

#: the shapes of this module (besides :mod:`~qtheory.engine.soap_factor`'s "remaining" and
#: "bounce"); TRAIL(c) is the pair ("trail", c)
SHAPES = ("static", "nonpreemptive", "trail")
#: relative tail of the level interpolants' Chebyshev coefficients accepted on a panel (finer
#: than :data:`qtheory.engine.soap_factor.TOL`: at load 0.99 an error of N moves E[T] about 200
#: times as much, relative; with 1e-13 TRAIL(0.8) on bounded Pareto sizes with uniform
#: predictions was 1.4e-12 off there, with 1e-15 7e-15, for one panel more)
TOL = 1e-15
#: levels whose z-sums are computed together (numpy arrays of up to about 2000 z nodes a level)
LEVEL_BLOCK = 128


def shape_of(policy) -> str | tuple | None:
    """The rank shape of a prediction policy for the factor route: ``policy.formula_form()``
    ("remaining", "bounce", "static", "nonpreemptive"), or what the policy's ``factor_shape()``
    hook says (TRAIL(c): ``("trail", c)``) where :meth:`~qtheory.policies.Policy.declares` it (a
    subclass that redefines the rank does not inherit it), else ``None``."""
    form = policy.formula_form()
    if form in ("remaining", "bounce", "static", "nonpreemptive"):
        return form
    hook = getattr(policy, "factor_shape", None)
    if hook is not None and policy.declares("factor_shape"):
        shape = hook()
        if isinstance(shape, tuple) and len(shape) == 2 and shape[0] == "trail":
            return ("trail", float(shape[1]))
    return None


def _size_rule_cut(size, width: float, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~qtheory.laws._quadrature.size_rule` of a continuous law with the points ``cuts``
    as further panel edges (its head and tail nodes and its rebuilt underflowing panels kept)."""
    lo, hi = size_range(size)
    cuts = np.asarray(cuts, float)
    cuts = cuts[(cuts > lo) & (cuts < hi)]
    if not cuts.size:
        return size_rule(size, width=width)
    edges = np.unique(np.concatenate([size_edges(size, width, (lo, hi)), np.log(cuts)]))
    u, wu = panels(edges)
    x = np.exp(u)
    f = size.pdf(x)
    w = _underflow_panels(size, edges, wu * x * f, f)
    head, tail = head_node(size, lo), tail_node(size, hi)
    if head is not None:
        x, w = np.concatenate([[head[0]], x]), np.concatenate([[head[1]], w])
    if tail is not None:
        x, w = np.concatenate([x, [tail[0]]]), np.concatenate([w, [tail[1]]])
    return x, w


class _KinkedFactor:
    """The factor law with further points among its ``kinks`` (TRAIL's :math:`z = 1/c`), so
    that :class:`FactorSOAP` makes them panel edges of the level and outer rules."""

    def __init__(self, factor, extra):
        self.base = factor
        self.kinks = tuple(factor.kinks) + tuple(extra)

    def pdf(self, z):
        return self.base.pdf(z)

    def cdf(self, z):
        return self.base.cdf(z)

    def log_range(self):
        return self.base.log_range()

    def log_range_q(self, u):
        return self.base.log_range_q(u)


class FactorShapeSOAP(FactorSOAP):
    """Load-independent tables for one (size law, factor law, shape) of :data:`SHAPES`."""

    def __init__(self, size, factor, shape, width: float = 0.5, order: int = 16,
                 outer_order: int = 16, x_width: float = 0.5, levels=None):
        if isinstance(shape, tuple):
            kind, c = shape[0], float(shape[1])
        else:
            kind, c = shape, math.nan
        if kind not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES} (TRAIL as ('trail', c)), got {shape!r}")
        if kind == "trail" and not 0.0 <= c <= 1.0:
            raise ValueError(f"TRAIL's preemptible fraction c must lie in [0, 1], got c={c!r}")
        self.kind, self.c = kind, c
        self.base_kinks = [float(k) for k in factor.kinks if k > 0]
        extra = (1.0 / c,) if kind == "trail" and 0.0 < c < 1.0 else ()
        super().__init__(size, _KinkedFactor(factor, extra) if extra else factor, False, width,
                         order, outer_order, x_width, levels)
        curves = self.outer_curves()
        if curves[0].size + curves[1].size + curves[2].size:
            self._kinked_outer_rule(curves, width, outer_order, x_width)

    # ---- the outer rule along the level functions' kinks --------------------------------------
    def outer_curves(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""The curves in the (x, z) plane along which the outer integrand kinks, as levels
        (:meth:`level_kinks`): where :math:`y = xz` is one (N, S2, G at y), and for TRAIL where
        :math:`(1 - c) y` is one below :math:`z = 1/c` and :math:`x (z - 1)` above it (G at
        :math:`y - \min(x, cy)`)."""
        lk = self.level_kinks()
        none = np.zeros(0)
        if self.kind != "trail" or self.c == 0.0:
            return lk, none, none
        return lk, (lk if self.c < 1.0 else none), lk

    def _kinked_outer_rule(self, curves, width, outer_order, x_width):
        """The outer rule with, at each size node x, the z panels cut where the node's line
        crosses a kink curve of :meth:`outer_curves` (z = l/x, l/((1 - c) x), 1 + l/x)."""
        factor, size = self.factor, self.size
        zlo, zhi = self.zlo, self.zhi
        bulk = (math.exp(factor.log_range_q(1e-4)), math.exp(factor.log_range_q(1 - 1e-4)))
        fixed = [0.5, 1.0, *[math.exp(k) for k in self.zkinks]]
        if math.isfinite(float(size.support[1])) and zhi < math.log(1e3) and self.base_kinks:
            # a size law and a factor that both end: the load near the largest prediction
            # varies on the scale of the distance to the corner (x, z) = (x_max, z_max), as
            # the size rule's panels accumulate at x_max (endpoint_refinement), so do these
            zmax = math.exp(zhi)
            fixed += list(zmax * (1.0 - 0.5 ** np.arange(2, 40, 1.0) * (1.0 - math.exp(zlo) / zmax)))
        base = log_edges(math.exp(zlo), math.exp(zhi), width, fixed, bulk=bulk)
        on_y, on_res, above = curves
        # size nodes: the rule's panels cut where a curve meets a z edge of the factor's kinks
        # (and TRAIL's z = 1/c): there the z-integral of the node's line is not smooth in x
        zk = np.exp(np.asarray(self.zkinks, float))
        xcut = [(on_y[:, None] / zk[None, :]).ravel()]
        if on_res.size:
            xcut.append((on_res[:, None] / ((1.0 - self.c) * zk[None, :])).ravel())
        if above.size and np.any(zk > 1.0):
            xcut.append((above[:, None] / (zk[zk > 1.0][None, :] - 1.0)).ravel())
        xr, wr = _size_rule_cut(size, x_width, np.concatenate(xcut))
        cuts = [on_y[None, :] / xr[:, None]]
        if on_res.size:
            cuts.append(on_res[None, :] / ((1.0 - self.c) * xr[:, None]))
        if above.size:
            cuts.append(1.0 + above[None, :] / xr[:, None])
        with np.errstate(divide="ignore"):
            lc = np.log(np.concatenate(cuts, axis=1))
        lc = np.where((lc > zlo) & (lc < zhi), lc, zlo)
        edges = np.sort(np.concatenate([np.broadcast_to(base, (xr.size, base.size)), lc], axis=1),
                        axis=1)
        u, wu = panels(edges, outer_order)
        z = np.exp(u)
        W = wr[:, None] * wu * z * np.asarray(factor.pdf(z), float)
        X = np.broadcast_to(xr[:, None], z.shape)
        keep = (W > 0) & (W > 1e-22 * W.sum())
        self.X, self.Y, self.W = X[keep], (X * z)[keep], W[keep]

    # ---- the level functions ------------------------------------------------------------------
    def level_kinks(self) -> np.ndarray:
        """Levels where N or S2 may kink (their derivatives jump): a breakpoint b of the size law
        times a kink k of the factor's density, and for TRAIL b k (1 - c), b (k - 1) (k > 1) and
        b (1 - c) / c (where the upper end of the TRAIL window crosses b at z = 1/c)."""
        out = []
        for b in self.bps:
            out += [b * k for k in self.base_kinks]
            if self.kind == "trail" and self.c < 1.0:
                out += [b * k * (1.0 - self.c) for k in self.base_kinks]
                out += [b * (k - 1.0) for k in self.base_kinks if k > 1.0]
                if self.c > 0.0:
                    out.append(b * (1.0 - self.c) / self.c)
        out = np.asarray(out, float)
        return np.unique(out[(out > self.llo) & (out < self.lhi)])

    def level_terms(self, ell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N(ell), S2(ell)) by Gauss-Legendre over log z of the exact inner moments (module
        docstring). The z panels of a level: the shared grid (:attr:`zbase`, with TRAIL's
        z = 1/c), the crossings of the interval ends with the size law's breakpoints, and for
        TRAIL edges z = 1 + ell/xi above 1/c (xi: the size law's panel edges), where the end
        ell/(z - 1) sweeps the size law fastest."""
        ell = np.asarray(ell, float).ravel()
        m = ell.size
        if m > LEVEL_BLOCK:  # bounded memory
            parts = [self.level_terms(ell[i:i + LEVEL_BLOCK]) for i in range(0, m, LEVEL_BLOCK)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        trail, c = self.kind == "trail", self.c
        extra = []
        for b in self.bps:
            r = ell / b
            extra.append(r)
            if trail:
                if c < 1.0:
                    extra.append(r / (1.0 - c))
                extra.append(1.0 + r)
        if trail and c > 0.0:
            d = ell[:, None] / self.xedges[None, :]
            extra += list(np.where((d < 2.0) & (1.0 + d > 1.0 / c), 1.0 + d, 0.0).T)
        if extra:
            ex = np.stack(extra, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                lex = np.log(np.where(ex > 0, ex, np.nan))
            lex = np.where(np.isfinite(lex) & (lex > self.zlo) & (lex < self.zhi), lex, self.zlo)
            edges = np.sort(np.concatenate([np.broadcast_to(self.zbase, (m, self.zbase.size)),
                                            lex], axis=1), axis=1)
        else:
            edges = np.broadcast_to(self.zbase, (m, self.zbase.size))
        u, wu = panels(edges, self.order)
        keep = wu > 0
        lev = np.ascontiguousarray(np.nonzero(keep)[0])  # C layout: one compile of shape_level_sums
        z = np.exp(u[keep])
        w = wu[keep] * z * np.asarray(self.factor.pdf(z), float)
        # the factor's mass below its range (up to 1e-18) as one node per level at the range's
        # lower end: there every job is ahead of a small level, which holds O(l) itself
        # (without it B(1e-14) was 6e-5 low on Weibull(0.5) sizes: a slowdown 5e-12 off)
        head = float(self.factor.cdf(math.exp(self.zlo)))
        if head > 0:
            lev = np.concatenate([lev, np.arange(m)])
            z = np.concatenate([z, np.full(m, math.exp(self.zlo))])
            w = np.concatenate([w, np.full(m, head)])
        L = ell[lev]
        e1 = L / z
        kind = SHAPES.index(self.kind)
        if kind == 2:
            below = c * z < 1.0
            with np.errstate(divide="ignore"):
                e2 = np.where(below, L / (z * (1.0 - c)), L / (z - 1.0))
            e2 = np.where(e2 > 0, e2, np.inf)
        else:
            e2 = np.full(0, np.inf)
        T1, P1, T2, P2 = self._end_moments(e1, e2)
        return shape_level_sums(m, ell, lev, z, w, e1, e2 if kind == 2 else e1, self.mom.med,
                                np.asarray(self.mom.full, float), T1, P1, T2, P2, kind,
                                c if kind == 2 else 0.0)

    def _end_moments(self, e1: np.ndarray, e2: np.ndarray):
        """The size law's moments k = 0, 1, 2 at the interval ends, compressed in node order as
        :func:`~._factor_outer.shape_level_sums` reads them: tail moments at ends at or above
        the median, partial moments below (nothing cancels far out); infinite ends none."""
        size, med = self.size, self.mom.med

        def mom(x, tail):
            return np.ascontiguousarray(np.asarray(size.moments_upto(2, x, tail), float)
                                        .reshape(3, -1))

        hi1 = e1 >= med
        fin2 = np.isfinite(e2)
        hi2 = fin2 & (e2 >= med)
        return (mom(e1[hi1], True), mom(e1[~hi1], False), mom(e2[hi2], True),
                mom(e2[fin2 & ~hi2], False))

    def _build(self):
        """Adaptive piecewise Chebyshev interpolants of N and S2 in u = log ell, started on a
        grid one unit wide with :meth:`level_kinks` as further edges."""
        ulo, uhi = math.log(self.llo), math.log(self.lhi)
        n = max(2, math.ceil(uhi - ulo))
        grid = np.linspace(ulo, uhi, n + 1)
        kinks = np.log(self.level_kinks())
        if kinks.size:
            # grid points within 1e-3 of a kink are dropped (no needlessly thin panels)
            near = np.min(np.abs(grid[1:-1, None] - kinks[None, :]), axis=1) < 1e-3
            grid = np.unique(np.concatenate([grid[[0]], grid[1:-1][~near], grid[[-1]], kinks]))
        lo, hi = grid[:-1], grid[1:]
        edges, Nt, St, worst = adaptive_cheb_pair(self._panel_values, lo, hi, TOL, 1e-6, 4000)
        anc = np.full(edges.size - 1, np.nan)
        self.Ni = PiecewiseCheb(edges, anc, Nt)
        self.Si = PiecewiseCheb(edges, anc, St)
        self.interp_error = worst
        _, jac = _age(_TN[None, :], edges[:-1, None], edges[1:, None], anc[:, None])
        self.jac = jac
        self.N_lo = float(self.Ni(np.array(ulo)))

    def S2(self, ell):
        r"""S2 at the levels ``ell``. Below the smallest level :math:`\ell_{lo}` the non-preemptive
        and TRAIL shapes read its value (S2 tends to a positive limit: the jobs in service, the
        old jobs past their predictions), the static shape's :math:`B(\ell)`, which vanishes
        at 0, the power law :meth:`low_scale` (a slowdown weighs these levels with 1/x)."""
        ell = np.asarray(ell, float)
        val = self.Si(np.log(np.clip(ell, self.llo, self.lhi)))
        if self.kind != "static":
            return val
        return np.where(ell <= 0, 0.0, val * self.low_scale(ell))

    def low_scale(self, ell) -> np.ndarray:
        r"""The static shape's :math:`B(\ell) / B(\ell_{lo})` below :math:`\ell_{lo}`: the power
        law :math:`(\ell / \ell_{lo})^p` with the interpolant's log-slope :math:`p` over
        :math:`[\ell_{lo}, e\,\ell_{lo}]` (1 at and above :math:`\ell_{lo}`). With the library's
        factor laws :math:`B(\ell) = E[X^2 F_Z(\ell / X)]` is :math:`\ell f_Z(0) E[X]`
        to first order (exponential factor, p = 1) or vanishes faster."""
        ell = np.asarray(ell, float)
        if not hasattr(self, "_low_p"):
            u = math.log(self.llo)
            s0, s1 = float(self.Si(np.array(u))), float(self.Si(np.array(u + 1.0)))
            self._low_p = math.log(s1 / s0) if s0 > 0 and s1 > s0 else 1.0
        return (np.clip(ell, 0.0, self.llo) / self.llo) ** self._low_p

    def error_estimate(self, a: np.ndarray, b: np.ndarray, lams) -> np.ndarray:
        r"""The error estimate of the values ``a`` (this resolution) given ``b`` (the coarser
        one) at the arrival rates ``lams``: :math:`10 |a - b| + 10^{-13} |a|` plus ten times the
        interpolants' tail (:attr:`interp_error`) amplified as the load amplifies an error of
        :math:`N`, :math:`(1 + 2\rho / (1 - \rho))|a|` with :math:`\rho = \lambda E[X]`
        (the waiting time's :math:`(1 - \lambda N)^{-2}`)."""
        a, b = np.asarray(a, float), np.asarray(b, float)
        rho = np.minimum(np.asarray(lams, float) * float(self.size.mean), 1.0 - 1e-15)
        amp = 1.0 + 2.0 * rho / (1.0 - rho)
        return 10 * np.abs(a - b) + (1e-13 + 10 * max(self.interp_error, 0.0) * amp) * np.abs(a)

    # ---- the outer expectation ------------------------------------------------------------------
    def _terms(self, X, Y, W):
        """The shape's node coefficients for :func:`~._factor_outer.node_sums`: (waiting
        weights, G coefficients at y, fraction coefficients at y, second G levels d, their
        coefficients) and the constant part of the residence."""
        zero = np.zeros(X.size)
        if self.kind == "static":
            return W * self.low_scale(Y), zero, W * X, zero, zero, 0.0
        if self.kind == "nonpreemptive":
            return W, zero, zero, zero, zero, float(np.sum(W * X))
        c = self.c
        const = float(np.sum(W * np.maximum(X - c * Y, 0.0)))
        if c == 0.0:
            return W, zero, zero, zero, zero, const
        return W, W, zero, Y - np.minimum(X, c * Y), -W, const

    def _sums(self, weights: str):
        """The outer rule's load-independent sums for the node weights ``W`` (``"mean"``) or
        ``W / X`` (``"slowdown"``), computed once."""
        if weights not in self._outer:
            W = self.W if weights == "mean" else self.W / self.X
            wy, gy, fy, D, gd, k = self._terms(self.X, self.Y, W)
            it, st = self.Ni, self.Si
            B, C, s_in, s_low, const, nr, ws, nd, cd = node_sums(
                it.edges, it.coef, st.coef, self.Y, wy, gy, fy, D, gd, self.llo, self.lhi)
            self._outer[weights] = (B @ _VINV, C, s_in, s_low, const + k, nr, ws, nd, cd)
        return self._outer[weights]

    def conditional(self, lam: float, X=None, Y=None) -> np.ndarray:
        """E[T | x, y] at the outer rule's nodes (or at given arrays X, Y)."""
        if X is None:
            X, Y = self.X, self.Y
        X, Y = np.asarray(X, float), np.asarray(Y, float)
        NR, SR = self.N(Y), self.S2(Y)
        wait = np.where(SR > 0, lam * SR / (2 * (1 - lam * NR) ** 2), 0.0)
        if self.kind == "static":
            return wait + X / (1 - lam * NR)
        if self.kind == "nonpreemptive":
            return wait + X
        c = self.c
        G = self.G(lam)
        return wait + G(Y) - G(Y - np.minimum(X, c * Y)) + np.maximum(X - c * Y, 0.0)
