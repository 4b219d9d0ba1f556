r"""The unconditional M/G/1-PS sojourn-time law on a continuous size law whose density jumps
(Uniform, BoundedPareto, Pareto, mixtures): the class atoms' part added directly, the rest
inverted.

A job of size :math:`x` leaves at :math:`T = (k+1)x` with probability

.. math::
    a_k(x) = (1-\rho)\,r(x)^k e^{-\lambda x},\qquad r(x) = \rho\,q(x)e^{-\lambda x},\quad
    q(x) = E[(X - x)^+]/E[X]

(:func:`qtheory.engine.response_distribution_ps.ps_class_atoms`). Mixed over the size density
:math:`f` they give :math:`T` the density :math:`\sum_k f(t/(k+1))\,a_k(t/(k+1))/(k+1)`, which
jumps wherever :math:`f(t/(k+1))` does: at every :math:`(k+1)b` for a jump point :math:`b` of
:math:`f` (the ends of a uniform law, both ends of a bounded Pareto law: 1, 2, 3, ... and 100,
200, ... on BoundedPareto(1.5, 1, 100)). The Euler inversion of the whole law rings next to them
(:math:`10^{-4}` on the cdf of Uniform sizes). As for the SOAP policies
(``docs/response_time_distribution.md``, section 13), with :math:`c` the least size
(:math:`T \ge X \ge c`),

.. math::
    P(T > t) = \sum_k\int_{(k+1)x > t} f(x)a_k(x)\,dx
      + \mathcal{L}^{-1}\Big[\frac{\bar R - e^{sc}\big(\phi(s) - A(s)\big)}{s}\Big](t - c),\qquad
    A(s) = \int f(x)\,\frac{(1-\rho)e^{-(\lambda + s)x}}{1 - r(x)e^{-sx}}\,dx,

:math:`\bar R = 1 - \int f(x)(1-\rho)e^{-\lambda x}/(1 - r(x))\,dx`. Each class's
:math:`E[e^{-sT(x)}] - \sum_k a_k(x)e^{-s(k+1)x}` decays in :math:`s`, so the inverted part
has a continuous density (kinks remain: a job of size :math:`x + y` arriving and leaving,
convolved with :math:`f`). :math:`\phi - A` is integrated over the classes on the Volterra
grid of :mod:`qtheory.engine.response_distribution_ps_volterra` (the atoms subtracted at each
node, so the grid's own interpolation of them cancels), with the least size on a node of every
grid; the atoms' cdf is a Gauss-Legendre quadrature on panels with edges at :math:`t/j` (where
the number of atoms below :math:`t` changes) and at the law's breakpoints.

**The first-order terms** (kinks of the density of :math:`T`; sessions 36, 39). (a) The jump
after the atom at :math:`(k+1)x` is
:math:`J_k = a_k\big((k+1)\lambda(2 + xf(0^+)) - k(2\bar F(x) - \lambda(\bar F * \bar F)(x))/E[(X-x)^+]\big)`
(:meth:`PSDensityAtoms.jump`; derived in :mod:`qtheory.engine.response_distribution_ps_jumps`;
:math:`(\bar F * \bar F)` by :func:`sf_self_convolution`, one cubic spline per split). Session
36's measured :math:`(2 - \lambda x)\bar F(x)` in place of the bracket is the same for
:math:`x \le c` but sets the coincidence term :math:`J_1(\mathit{hi}) =
(1-\rho)\lambda^2e^{-2\lambda\mathit{hi}}(\bar F*\bar F)(\mathit{hi})` to 0: the rest kept
:math:`-f(\mathit{hi})J_1(\mathit{hi})/2\;e^{-2\mathit{hi}s}/s^2` (-0.0072633 fitted on
Uniform(0.5, 1.5) at load 0.5, -0.0072634 in closed form), 2.2e-7 off the cdf at 3.6.
(b) A job of size :math:`b` (a jump point of :math:`f`, :math:`b < x`) born and leaving makes
the class density jump at :math:`(k+1)x + b` by
:math:`G_k = a_k(k+1)\lambda(x - b)e^{-\lambda b}\,(f(b^+) - f(b^-))`; mixed, a kink at
:math:`(k+1)\mathit{hi} + b` (2 on Uniform(0.5, 1.5): -0.0919 read off the rest, -0.09197 in
closed form). Both are taken apart like :math:`J_k`
(``tests/test_distribution_ps_kinks.py``, ``tests/test_distribution_ps_one_arrival.py``).

**The second-order terms** (jumps of the density's second derivative, session 39). Each
class density's slope jumps too, by :math:`R_k` after the atom, :math:`Q_k` at
:math:`(k+1)x + b` and :math:`P_k` at :math:`(k+1)x + b_1 + b_2`, and the split's
:math:`J_ke^{-\beta u}`, :math:`G_ke^{-\beta u}` leave :math:`R_k + \beta J_k` and
:math:`Q_k + \beta G_k`; mixed over :math:`f` they are terms :math:`e^{-s\tau}/s^3` of the rest at
:math:`(k+1)c`, :math:`(k+1)\mathit{hi}`, :math:`(k+2)c`, :math:`(k+1)\mathit{hi} + c`,
:math:`(k+1)\mathit{hi} + 2c`. On Uniform(0.5, 1.5) at load 0.5 (a least-squares fit of the rest
along :math:`s = 1 + i\omega`, :math:`\omega` = 60-240, to :math:`e^{-s l}/s^p`, :math:`p \le 4`,
at all lags :math:`T` = 0.5, 1, ..., 5.5, residual :math:`10^{-12}`) they were 0.487, -0.389,
-0.343, 0.136, -0.030, -0.068 at :math:`T` = 0.5-3 (after (a)); the Euler sum of these terms
alone, on the default rule, reproduces the cdf's errors then (-1.2e-9, 2.2e-8, 3.4e-8, -4.6e-8, 4.2e-8, -3.3e-8 at
1.4-3.6, measured -1.1e-9, 2.2e-8, 3.4e-8, -4.4e-8, 4.2e-8, -3.0e-8). Taken apart:

* :math:`R_k = h_{k,2} + \beta J_k` (:math:`h_{k,2}` from
  :func:`~qtheory.engine.response_distribution_ps_jumps.class_term_coefficients`) at the two
  sides of every jump point, interpolated linearly between them (:meth:`PSDensityAtoms._slope_table`:
  only the values at the jump points enter the :math:`1/s^3` terms): 0.4868 at :math:`T = c`
  (fitted 0.4871), -0.0672 at :math:`2\mathit{hi}` (fitted -0.0679);
* at :math:`(k+1)x + c` (:math:`c` the least size > 0), from the job born and leaving
  (:math:`\Delta f` and :math:`\Delta f'`), one present leaving with a residual near :math:`c`
  and one born staying for :math:`x - u` near :math:`c` (:math:`\bar F` kinks at :math:`c`: each
  :math:`-(k+1)a_k\lambda\Delta f e^{-\lambda c}`), and the shifted atom's own jump
  :math:`G_kJ_k/a_k`: :math:`Q_k + \beta G_k = (k+1)\lambda e^{-\lambda c}\big(\Delta f\,[a_k(-3 +
  (x-c)(\beta - \lambda)) + (x-c)J_k] + a_k(x-c)\Delta f'\big)`. Checked on the class
  transforms (the fit at lag :math:`c` of the class rest, x = 0.6-1.49, loads 0.5 and 0.8:
  :math:`-(2 - 2\lambda(x - c))` and :math:`-2 + (x - c)J_1/a_1` in units of
  :math:`(k+1)a_k\lambda e^{-\lambda c}`, to 1%) and on the mixture (-0.4549 at :math:`T = 2c`,
  fitted -0.4554; -0.0886 at :math:`3c`, fitted -0.0883);
* at :math:`(k+1)x + 2c` (two jobs of size near :math:`c` born and leaving; the second born
  while the first is present at rate :math:`\lambda(k+2)`):
  :math:`a_k\lambda^2e^{-2\lambda c}\Delta f^2((k+1)^2A_{\mathrm{apart}} + (k+1)(k+2)A_{\mathrm{overlap}})`
  (-0.0347 at :math:`\mathit{hi} + 2c`, fitted -0.0348).

These last two only at the least size (an interior jump point, off the Volterra grid's nodes,
would cut a cell where :math:`Q_k` starts with its :math:`-3a_k`: an error of order the step).
After them every :math:`1/s^3` coefficient at :math:`T \le 3.5` is below :math:`1.1\cdot10^{-3}`,
and what remains are terms in :math:`1/s^4` (0.53, -0.76, -0.39, 0.37 at :math:`T` = 0.5-2).

**What remains, measured** (Uniform(0.5, 1.5); cdf at :math:`t` = 1.4, 2.1, 2.5, 3.05, 3.1,
3.6, 4.1, 4.6, 5.1 on the rule :data:`EULER`, against the same split on (26, 96, 40) at load
0.5, which the rules (26, 64, 32) and (26, 48, 24) meet within :math:`9\cdot10^{-11}` and
:math:`4.2\cdot10^{-10}`, and on (26, 64, 32) at load 0.8; the transform itself equals the
integral of the class transforms to :math:`10^{-13}`): load 0.5 within
:math:`0.01, 0.36, 0.10, 0.04, 0.85, 2.3, 4.7, 1.4, 2.1\cdot10^{-9}` (main: 1.1, 22, 34, 112, 6,
215, 191, 24, :math:`49\cdot10^{-9}`); the :math:`1/s^4` terms alone, inverted on the same rule,
give :math:`-1.0, 1.9, -5.9, -0.8, -1.0\cdot10^{-9}` at 3.1-5.1. Load 0.8: within
:math:`1.8\cdot10^{-9}` (main: :math:`8.3\cdot10^{-8}`). On (26, 48, 24) the split is within
:math:`4.2\cdot10^{-10}` at load 0.5, for 4 times the CPU.
"""

from __future__ import annotations

import math

import numpy as np

from ..laws._quadrature import panels

#: the atoms' orders are summed while :math:`\rho^k` is above this
ATOM_TAIL = 1e-17
#: Gauss-Legendre order and the widest ratio (hi / lo) of a panel of the atoms' quadrature
ORDER = 20
RATIO = 1.25
#: the Euler rule of the split law (A, n, m): the rest's density keeps kinks of its derivative
#: at (k + 1) b, where the default rule (26, 24, 14) is up to 1e-7 off the cdf (Uniform(0, 2) at
#: load 0.8, t = 3.9 against 140 terms) and this one 4e-8, for 1.4 times the nodes
EULER = (26.0, 32, 20)
#: the later atoms' term of J_k with the derived bracket 2 Fbar(x) - lambda (Fbar * Fbar)(x)
#: (False: session 36's measured (2 - lambda x) Fbar(x), equal for x <= c)
EXACT_BRACKET = True
#: the slope jumps after the atoms (second order: R_k = h_{k,2} + beta J_k at the jump points of
#: f) taken apart too (False: not; the rest keeps e^{-s (k+1) b} / s^3 terms, -0.068 at 2 hi = 3
#: on Uniform(0.5, 1.5) at load 0.5)
SECOND_ORDER = True
#: the nodes of the spline of (Fbar * Fbar) (:meth:`PSDensityAtoms.g2`)
G2_NODES = 4097
#: relative step of the central differences of the atoms' density (its derivatives)
H1, H2 = 1e-4, 1e-3


def sf_self_convolution(size, x, order: int = 8, sub: int = 4) -> np.ndarray:
    r""":math:`(\bar F * \bar F)(x) = \int_0^x \bar F(y)\bar F(x - y)\,dy` at the sizes ``x``:
    Gauss-Legendre (``order`` nodes on ``sub`` equal sub-panels of each panel) on the panels of
    :math:`[0, x]` cut at the least size, the breakpoints and the finite top :math:`p` of the
    size law and at :math:`x - p`, where either factor is smooth (exact on Uniform laws)."""
    x = np.asarray(x, float)
    flat = x.reshape(-1)
    lo, hi = (float(v) for v in size.support)
    pts = [float(b) for b in np.asarray(size.breakpoints, float)] + [lo] + ([hi] if math.isfinite(hi) else [])
    pts = np.unique(np.asarray([p for p in pts if p > 0], float))
    edges = np.concatenate([np.zeros((flat.size, 1)), flat[:, None],
                            np.clip(pts[None, :], 0.0, flat[:, None]),
                            np.clip(flat[:, None] - pts[None, :], 0.0, flat[:, None])], axis=1)
    edges = np.sort(edges, axis=1)
    frac = np.linspace(0.0, 1.0, sub + 1)
    fine = (edges[:, :-1, None] + (edges[:, 1:] - edges[:, :-1])[:, :, None] * frac[None, None, :-1])
    fine = np.concatenate([fine.reshape(flat.size, -1), flat[:, None]], axis=1)
    y, w = panels(fine, order)
    v = np.asarray(size.sf(y), float) * np.asarray(size.sf(np.maximum(flat[:, None] - y, 0.0)), float)
    return np.sum(w * v, axis=1).reshape(x.shape)


class PSDensityAtoms:
    r"""The split of the unconditional M/G/1-PS law on a continuous ``size`` law (module
    docstring) for :class:`~qtheory.engine.distribution.ResponseTimeDistribution`: the atoms'
    part (``part_cdf``, ``part_pdf``, ``part_derivs``, ``part_total``) and the rest's shifted
    transform ``rest_lst`` with its mass ``rest_total``, inverted from ``c`` on."""

    def __init__(self, lam: float, size, kinks: bool = True):
        from .response_distribution_ps_volterra import VolterraPSTransform

        self.lam = float(lam)
        self.size = size
        self.m = float(size.mean)
        self.rho = self.lam * self.m
        self.tr = VolterraPSTransform(self.lam, size, None, rest=True)
        self.c = float(self.tr.lower)
        lo, hi = (float(v) for v in size.support)
        self.hi = hi if math.isfinite(hi) else float(self.tr._tail_end)
        bps = np.asarray(size.breakpoints, float)
        #: the jump points of the size density (and its other breakpoints) inside the support
        self.bps = np.unique(bps[(bps > self.c) & (bps < self.hi)])
        #: the orders k of the atoms taken (rho^K below ATOM_TAIL)
        self.K = int(math.ceil(math.log(ATOM_TAIL) / math.log(self.rho))) if self.rho > 0 else 0
        #: the size density at 0+ (0 above a least size > 0)
        self.f0 = 0.0 if self.c > 0 else float(size.pdf(1e-12 * self.hi))
        #: the density jumps after the atoms are taken apart with the decay beta (0: not)
        self.beta = 1.0 / self.m if kinks and math.isfinite(self.f0) else 0.0
        self.tr.beta, self.tr.f0 = self.beta, self.f0
        self._g2_table: tuple | None = None
        self.tr.g2 = self.g2
        #: the jump points b > 0 of the size density (c included) and
        #: lambda (f(b+) - f(b-)) e^{-lambda b}: a job of size b arriving and leaving during a
        #: class's stay makes its density jump at (k + 1) x + b (taken apart like J_k)
        self.yb, self.ya = self._y_jumps() if self.beta else (np.zeros(0), np.zeros(0))
        self.tr.yb, self.tr.ya = self.yb, self.ya
        #: lambda (f'(b+) - f'(b-)) e^{-lambda b} at the same points, and the ordered pairs
        #: (b_1, b_2) of them with lambda^2 Delta f(b_1) Delta f(b_2) e^{-lambda (b_1 + b_2)}
        #: (the slopes' jumps at (k + 1) x + b and (k + 1) x + b_1 + b_2, second order)
        # (at the least size only: an interior jump point b, off the Volterra grid's nodes, would
        # cut a cell where the term -3 a_k ... starts, an error of order delta)
        nb = int(SECOND_ORDER and self.beta and self.c > 0 and self.yb.size and self.yb[0] == self.c)
        self.yd = self._y_slope_jumps()[:nb]
        self.pb1 = np.repeat(self.yb[:nb], nb)
        self.pb2 = np.tile(self.yb[:nb], nb)
        self.pa = np.outer(self.ya[:nb], self.ya[:nb]).reshape(-1)
        self.tr.yd, self.tr.pb1, self.tr.pb2, self.tr.pa = self.yd, self.pb1, self.pb2, self.pa
        #: the slope jumps after the atoms (second order), interpolated between the jump points
        #: of f: edges e_i, the values R_k(e_i^+) (``rl[i]``) and R_k(e_{i+1}^-) (``rr[i]``)
        self.s_edges, self.rl, self.rr = self._slope_table() if self.beta and SECOND_ORDER else (
            np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0)))
        self.tr.s_edges, self.tr.rl, self.tr.rr = self.s_edges, self.rl, self.rr
        tot = self._parts(None)
        self.part_total = float(tot[0] + tot[1])
        self.rest_total = 1.0 - self.part_total

    def g2(self, x) -> np.ndarray:
        r""":math:`(\bar F * \bar F)(x)` (:func:`sf_self_convolution`) by a cubic spline through
        :data:`G2_NODES` exact values on :math:`[0, x_{\max}]` (extended when a larger
        :math:`x` comes), shared by the Volterra grids and the direct part (one function for
        both: the grids of every :math:`t` would otherwise each need their own quadratures)."""
        from scipy.interpolate import CubicSpline

        x = np.asarray(x, float)
        top = float(np.max(x, initial=0.0))
        if self._g2_table is None or top > self._g2_table[0]:
            end = max(top, 1.5 * (self._g2_table[0] if self._g2_table else self.hi), 1e-300)
            xs = np.linspace(0.0, end, G2_NODES)
            self._g2_table = (end, CubicSpline(xs, sf_self_convolution(self.size, xs)))
        return self._g2_table[1](x)

    def _slope_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""The residual slope jumps :math:`R_k(x) = h_{k,2}(x) + \beta J_k(x)` of the class
        densities just after their atoms (:math:`h_{k,2}` the coefficient of :math:`s^{-2}` in the
        class transform's term :math:`e^{-ksx}H_k`,
        :func:`~qtheory.engine.response_distribution_ps_jumps.class_term_coefficients`; the split
        subtracts :math:`J_k e^{-\beta u}`, of slope :math:`-\beta J_k`) at the two sides of
        each jump point :math:`b > 0` of :math:`f` (relative distance :math:`10^{-9}`): edges
        :math:`e_i`, ``rl[i, k]`` :math:`= R_k(e_i^+)`, ``rr[i, k]`` :math:`= R_k(e_{i+1}^-)`.
        Empty where the expansion has no second order
        (:func:`~qtheory.engine.response_distribution_ps_jumps.valid_order` below 2)."""
        from .response_distribution_ps_jumps import class_term_coefficients, valid_order

        edges = np.unique(np.concatenate([[self.c, self.hi], self.bps]))
        if valid_order(self.size) < 2 or edges.size < 2 or not math.isfinite(self.hi):
            return np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0))
        K = self.K + 1

        def R(x: float) -> np.ndarray:
            if not x > 0:
                return np.zeros(K)
            h = class_term_coefficients(self.lam, self.size, x, K, 2)
            return h[:, 2] + self.beta * np.array([float(self.jump(x, k)) for k in range(K)])

        eps = 1e-9
        rl = np.array([R(e * (1 + eps)) for e in edges[:-1]])
        rr = np.array([R(e * (1 - eps)) for e in edges[1:]])
        # the orders k that matter (the rest below 1e-17 of the largest)
        big = np.max(np.abs(np.concatenate([rl, rr])), axis=0)
        keep = np.nonzero(big > 1e-17 * max(float(big.max(initial=0.0)), 1e-300))[0]
        kmax = int(keep[-1]) + 1 if keep.size else 0
        return edges, np.ascontiguousarray(rl[:, :kmax]), np.ascontiguousarray(rr[:, :kmax])

    def _slope(self, x: np.ndarray) -> np.ndarray:
        r""":math:`S_k(x)`, shape ``(x.size, kmax)``: :math:`R_k` interpolated linearly in
        :math:`x` between the jump points (:meth:`_slope_table`; 0 outside them)."""
        x = np.asarray(x, float).reshape(-1)
        e = self.s_edges
        kmax = self.rl.shape[1] if self.rl.ndim == 2 else 0
        out = np.zeros((x.size, kmax))
        if e.size < 2 or kmax == 0:
            return out
        i = np.clip(np.searchsorted(e, x, side="right") - 1, 0, e.size - 2)
        th = (x - e[i]) / (e[i + 1] - e[i])
        inside = (x >= e[0]) & (x <= e[-1])
        out[:] = (1.0 - th)[:, None] * self.rl[i] + th[:, None] * self.rr[i]
        out[~inside] = 0.0
        return out

    def _y_slope_jumps(self) -> np.ndarray:
        r""":math:`\lambda\,(f'(b^+) - f'(b^-))e^{-\lambda b}` at the points :math:`b` of
        ``yb`` (one-sided differences at relative distances :math:`10^{-7}`, :math:`2\cdot10^{-7}`)."""
        b = self.yb
        if b.size == 0:
            return np.zeros(0)
        h = 1e-7 * b
        pdf = self.size.pdf
        right = (np.asarray(pdf(b + 2 * h), float) - np.asarray(pdf(b + h), float)) / h
        left = np.where(b > self.c, (np.asarray(pdf(np.maximum(b - h, 0.0)), float)
                                     - np.asarray(pdf(np.maximum(b - 2 * h, 0.0)), float)) / h, 0.0)
        return self.lam * (right - left) * np.exp(-self.lam * b)

    def _second_terms(self, x: np.ndarray, r: np.ndarray, e: np.ndarray, ja: np.ndarray,
                      jb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        r"""The slope jumps of the class densities away from their atoms, ``[(C, L)]`` with
        ``C[i, k]`` the jump of the slope of the class :math:`x_i` at the lag ``L[i, k]``, less
        the slope :math:`-\beta G` of the jump's part taken apart there (module docstring):

        * at :math:`(k+1)x + b` (a job of size near :math:`b` born and leaving; one present
          leaving with a residual near :math:`b`; one born staying for :math:`x - u` near
          :math:`b`; and the jump :math:`G_k = (k+1)a_k\lambda(x-b)e^{-\lambda b}\Delta f(b)`
          followed by the class's own jump :math:`J_k`),
          :math:`(k+1)\lambda e^{-\lambda b}\big(\Delta f(b)\big[a_k\big(-3 + (x-b)(\beta -
          \lambda)\big) + (x - b)J_k\big] + a_k(x-b)\Delta f'(b)\big)`;
        * at :math:`(k+1)x + b_1 + b_2` (two jobs of sizes near :math:`b_1`, :math:`b_2` born
          and leaving), :math:`a_k\lambda^2e^{-\lambda(b_1+b_2)}\Delta f(b_1)\Delta f(b_2)
          \big((k+1)^2A_{\mathrm{apart}} + (k+1)(k+2)A_{\mathrm{overlap}}\big)`, the areas of
          the birth epochs :math:`0 < u_1 < x - b_1`, :math:`u_1 < u_2 < x - b_2` with the second
          born after, or before, the first one leaves."""
        if self.yd.size == 0 and self.pa.size == 0:
            return []
        ks = np.arange(self.K + 1, dtype=float)
        with np.errstate(under="ignore"):
            rk = r[:, None] ** ks[None, :]
            rk1 = np.where(ks[None, :] > 0, r[:, None] ** np.maximum(ks[None, :] - 1.0, 0.0), 0.0)
        ak = e[:, None] * rk
        J = e[:, None] * ((ks[None, :] + 1.0) * ja[:, None] * rk - ks[None, :] * jb[:, None] * rk1)
        k1 = ks[None, :] + 1.0
        out = []
        for ib, b in enumerate(self.yb[:self.yd.size]):
            xb = np.maximum(x - b, 0.0)[:, None]
            C = k1 * (self.ya[ib] * (ak * (-3.0 + xb * (self.beta - self.lam)) + xb * J)
                      + self.yd[ib] * ak * xb)
            C = np.where(xb > 0, C, 0.0)
            out.append((C, k1 * x[:, None] + b))
        for b1, b2, pa in zip(self.pb1, self.pb2, self.pa, strict=True):
            M, L = x - b2, x - b1
            ar = np.where((M > 0) & (L > 0), 0.5 * (M * M - np.maximum(M - L, 0.0) ** 2), 0.0)
            an = 0.5 * np.maximum(x - b1 - b2, 0.0) ** 2
            C = pa * ak * (k1 * k1 * an[:, None] + k1 * (k1 + 1.0) * (ar - an)[:, None])
            out.append((C, k1 * x[:, None] + b1 + b2))
        return out

    def _y_jumps(self) -> tuple[np.ndarray, np.ndarray]:
        r"""The jump points :math:`b > 0` of the size density (the least size :math:`c > 0` and the
        breakpoints inside the support) with :math:`\lambda\,(f(b^+) - f(b^-))e^{-\lambda b}`
        (one-sided densities at a relative distance :math:`10^{-9}`; kinks give 0)."""
        pts = np.concatenate([[self.c] if self.c > 0 else [], self.bps])
        if pts.size == 0:
            return np.zeros(0), np.zeros(0)
        h = 1e-9 * pts
        df = np.asarray(self.size.pdf(pts + h), float) - np.where(
            pts > self.c, np.asarray(self.size.pdf(np.maximum(pts - h, 0.0)), float), 0.0)
        keep = np.abs(df) > 1e-12 * np.max(np.abs(df), initial=1.0)
        return pts[keep].copy(), (self.lam * df * np.exp(-self.lam * pts))[keep].copy()

    # -- the class atoms ---------------------------------------------------------------------
    def _r(self, x: np.ndarray) -> np.ndarray:
        r""":math:`r(x) = \rho q(x) e^{-\lambda x}`, :math:`\rho q(x) = \lambda E[(X - x)^+]`."""
        x = np.asarray(x, float)
        ex = np.maximum(0.0, np.asarray(self.size.tail_moment(1, x), float)
                        - x * np.asarray(self.size.sf(x), float))
        return self.lam * ex * np.exp(-self.lam * x)

    def _rule(self, hi: float, t: float | None) -> tuple[np.ndarray, np.ndarray]:
        """Gauss-Legendre nodes and weights on [c, hi], panel edges at the breakpoints and at
        t / j (where the number of atoms below t changes)."""
        lo = self.c
        edges = [lo, hi, *self.bps[(self.bps > lo) & (self.bps < hi)]]
        if t is not None:
            tj = t / np.arange(1, self.K + 1)
            edges += list(tj[(tj > lo) & (tj < hi)])
            for b in np.concatenate([self.yb, self.pb1 + self.pb2]):  # where (k + 1) x + b crosses t
                tj = (t - b) / np.arange(1, self.K + 1)
                edges += list(tj[(tj > lo) & (tj < hi)])
        edges = np.unique(np.asarray(edges, float))
        # geometric sub-panels of ratio at most RATIO (8 equal ones on a panel from 0: 1 - r(x)
        # has zeros next to the real axis)
        fine = [edges[0]]
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            if a > 0:
                n = max(1, math.ceil(math.log(b / a) / math.log(RATIO)))
                fine += list(np.geomspace(a, b, n + 1)[1:])
            else:
                fine += list(np.linspace(a, b, 9)[1:])
        return panels(np.asarray(fine), ORDER)

    def _jab(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`j_a = \lambda(2 + x f(0^+))` and
        :math:`j_b = \lambda\bar F(x)e^{-\lambda x}(2 - \lambda x)`, with which the class
        density's jump just after its atom at :math:`(k+1)x` is
        :math:`J_k = (1-\rho)e^{-\lambda x}\big((k+1)j_a r^k - k j_b r^{k-1}\big)`
        (:meth:`jump`)."""
        x = np.asarray(x, float)
        ja = self.lam * (2.0 + x * self.f0)
        if EXACT_BRACKET:
            br = 2.0 * np.asarray(self.size.sf(x), float) - self.lam * self.g2(x)
        else:
            br = np.asarray(self.size.sf(x), float) * (2.0 - self.lam * x)
        jb = self.lam * np.exp(-self.lam * x) * br
        return ja, jb

    def jump(self, x, k: int) -> np.ndarray:
        r"""The jump :math:`J_k(x)` of the density of :math:`T(x)` just after its atom at
        :math:`(k+1)x` (:meth:`_jab`)."""
        x = np.asarray(x, float)
        ja, jb = self._jab(x)
        r = self._r(x)
        e = (1.0 - self.rho) * np.exp(-self.lam * x)
        return e * ((k + 1) * ja * r ** k - (k * jb * r ** (k - 1) if k else 0.0))

    def _parts(self, t: float | None) -> tuple[float, float, float]:
        r"""At ``t``: the atoms' cdf :math:`\sum_k\int_{(k+1)x \le t} f a_k`, the cdf and the
        density of the jumps' part,
        :math:`\sum_k\int_{(k+1)x \le t} f(x)J_k(x)(1 - e^{-\beta(t - (k+1)x)})/\beta\,dx` and
        :math:`\sum_k\int_{(k+1)x \le t} f(x)J_k(x)e^{-\beta(t - (k+1)x)}\,dx`
        (:math:`J_k` the jump of the class density just after its atom at :math:`(k+1)x`,
        :meth:`jump`), plus the same with the jumps
        :math:`a_k(k+1)\lambda(x - b)e^{-\lambda b}\Delta f(b)` at :math:`(k+1)x + b`, :math:`b < x`
        (module docstring); ``t=None``: the totals (all orders, :math:`t = \infty`)."""
        hi = self.hi if t is None else min(t, self.hi)
        if not hi > self.c:
            return 0.0, 0.0, 0.0
        x, w = self._rule(hi, t)
        f = np.asarray(self.size.pdf(x), float)
        r = self._r(x)
        e = (1.0 - self.rho) * np.exp(-self.lam * x)
        ja, jb = self._jab(x)
        # sum_b lambda Delta f(b) e^{-lambda b} (x - b)^+ for the jumps at (k + 1) x + b
        yx = np.maximum(x[:, None] - self.yb[None, :], 0.0) * self.ya[None, :]
        S = self._slope(x) if self.beta else np.zeros((x.size, 0))
        if t is None:
            atoms = float(np.sum(w * f * e / (1.0 - r)))
            if not self.beta:
                return atoms, 0.0, 0.0
            second = float(np.sum(w * f * S.sum(1))) / self.beta ** 2
            for C, _ in self._second_terms(x, r, e, ja, jb):
                second += float(np.sum(w * f * C.sum(1))) / self.beta ** 2
            return atoms, float(np.sum(w * f * e * (ja - jb + yx.sum(1)) / (1.0 - r) ** 2)) / self.beta + second, 0.0
        ks = np.arange(self.K + 1, dtype=float)
        kx = np.floor(t / x)  # the orders k < kx have (k + 1) x <= t
        on = ks[None, :] < kx[:, None]
        with np.errstate(under="ignore"):
            rk = np.where(on, r[:, None] ** ks[None, :], 0.0)
            rk1 = np.where(on & (ks[None, :] > 0), r[:, None] ** np.maximum(ks[None, :] - 1.0, 0.0), 0.0)
        atoms = float(np.sum(w * f * e * rk.sum(1)))
        if not self.beta:
            return atoms, 0.0, 0.0
        J = e[:, None] * ((ks[None, :] + 1.0) * ja[:, None] * rk - ks[None, :] * jb[:, None] * rk1)
        with np.errstate(under="ignore"):
            dec = np.where(on, np.exp(-self.beta * np.maximum(t - (ks[None, :] + 1.0) * x[:, None], 0.0)), 0.0)
        pdf = float(np.sum(w * f * (J * dec).sum(1)))
        cdf = float(np.sum(w * f * (J * np.where(on, 1.0 - dec, 0.0)).sum(1))) / self.beta
        for ib, b in enumerate(self.yb):  # the jumps (k + 1) a_k yx at (k + 1) x + b
            tk = t - b - (ks[None, :] + 1.0) * x[:, None]
            onb = (tk >= 0.0) & (x[:, None] > b)
            if not np.any(onb):
                continue
            with np.errstate(under="ignore"):
                rb = np.where(onb, r[:, None] ** ks[None, :], 0.0)
                decb = np.where(onb, np.exp(-self.beta * np.maximum(tk, 0.0)), 0.0)
            Jb = (e * yx[:, ib])[:, None] * (ks[None, :] + 1.0) * rb
            pdf += float(np.sum(w * f * (Jb * decb).sum(1)))
            cdf += float(np.sum(w * f * (Jb * np.where(onb, 1.0 - decb, 0.0)).sum(1))) / self.beta
        terms = list(self._second_terms(x, r, e, ja, jb))
        if S.shape[1]:  # the slope jumps: S_k(x) u e^{-beta u}, u = t - (k + 1) x
            ks2 = np.arange(S.shape[1], dtype=float)
            terms.insert(0, (S, (ks2[None, :] + 1.0) * x[:, None]))
        for C, L in terms:
            dp, dc = self._slope_parts(w * f, C, t - L)
            pdf += dp
            cdf += dc
        return atoms, cdf, pdf

    def _slope_parts(self, wf, C, u):
        r"""The density and cdf of slope jumps :math:`C u e^{-\beta u}` (:math:`u > 0`), summed
        with the weights ``wf``: :math:`\sum wf\,C u e^{-\beta u}` and
        :math:`\sum wf\,C (1 - e^{-\beta u}(1 + \beta u))/\beta^2`."""
        on2 = u > 0.0
        uu = np.where(on2, u, 0.0)
        with np.errstate(under="ignore"):
            eb = np.exp(-self.beta * uu)
        pdf = float(np.sum(wf * np.where(on2, C * uu * eb, 0.0).sum(1)))
        cdf = float(np.sum(wf * np.where(on2, C * (1.0 - eb * (1.0 + self.beta * uu)), 0.0).sum(1))) \
            / self.beta ** 2
        return pdf, cdf

    def part_cdf(self, t, euler=None) -> np.ndarray:
        r"""The atoms' cdf plus the jumps' part's (``euler``: not used)."""
        t = np.atleast_1d(np.asarray(t, float))
        out = [sum(self._parts(float(v))[:2]) if v > self.c else 0.0 for v in t.reshape(-1)]
        return np.array(out).reshape(t.shape)

    def part_pdf(self, t, euler=None) -> np.ndarray:
        r"""The atoms' density :math:`\sum_k f(t/(k+1))a_k(t/(k+1))/(k+1)` plus the jumps'
        part's."""
        t = np.asarray(t, float)
        ks = np.arange(self.K + 1, dtype=float)
        u = t.reshape(-1)[None, :] / (ks[:, None] + 1.0)
        f = np.asarray(self.size.pdf(u), float)
        r = self._r(u)
        with np.errstate(under="ignore"):
            terms = (1.0 - self.rho) * np.exp(-self.lam * u) * r ** ks[:, None] * f / (ks[:, None] + 1.0)
        terms = np.where(u > self.c, terms, 0.0)
        out = terms.sum(0)
        if self.beta:
            out = out + np.array([self._parts(float(v))[2] if v > self.c else 0.0 for v in t.reshape(-1)])
        return out.reshape(t.shape)

    def _jump_near(self, t: np.ndarray, h: float) -> np.ndarray:
        """Whether ``t (1 +- h)`` straddles a jump :math:`(k+1)b` of the atoms' density."""
        pts = np.concatenate([[self.c] if self.c > 0 else [], self.bps, [self.hi]])
        ks = np.arange(1, self.K + 2, dtype=float)
        kb = (pts[:, None] * ks[None, :]).reshape(-1)
        return np.any((t[:, None] * (1 - h) <= kb) & (kb <= t[:, None] * (1 + h)), axis=1)

    def part_derivs(self, t, euler=None) -> tuple[np.ndarray, ...]:
        r"""The first two derivatives of :meth:`part_pdf` by central differences (relative steps
        :data:`H1`, :data:`H2`), with the density's error (0: direct) and the derivatives'
        (relative 1e-6, ``inf`` where a step straddles a jump :math:`(k+1)b`)."""
        t = np.atleast_1d(np.asarray(t, float))
        p0 = self.part_pdf(t)
        d1 = (self.part_pdf(t * (1 + H1)) - self.part_pdf(t * (1 - H1))) / (2 * H1 * t)
        d2 = (self.part_pdf(t * (1 + H2)) - 2.0 * p0 + self.part_pdf(t * (1 - H2))) / (H2 * t) ** 2
        e1 = np.where(self._jump_near(t, H1), np.inf, 1e-6 * np.abs(d1))
        e2 = np.where(self._jump_near(t, H2), np.inf, 1e-6 * np.abs(d2) + 1e-8 * np.abs(p0) / (t * t))
        return d1, d2, np.zeros(t.shape), e1, e2

    def part_lst(self, s) -> np.ndarray:
        r"""The transform of the direct part, :math:`A(s) + B(s)/(s + \beta)`, by the
        Gauss-Legendre rule of :meth:`_parts` (moderate ``|s|``: for checks)."""
        s = np.asarray(s, complex)
        edges = np.unique(np.concatenate([np.linspace(self.c, self.hi, 257), self.bps]))
        x, w = panels(edges, ORDER)
        f = np.asarray(self.size.pdf(x), float)
        r = self._r(x)
        ja, jb = self._jab(x)
        sx = s.reshape(-1)[:, None] * x[None, :]
        z = r * np.exp(-sx)
        a = (1.0 - self.rho) * np.exp(-self.lam * x - sx) / (1.0 - z)
        if self.beta:
            jy = sum(self.ya[i] * np.maximum(x - b, 0.0) * np.exp(-s.reshape(-1)[:, None] * b)
                     for i, b in enumerate(self.yb))
            a = a * (1.0 + (ja - jb * np.exp(-sx) + jy)
                     / ((1.0 - z) * (s.reshape(-1)[:, None] + self.beta)))
        if self.beta and self.rl.size:
            S = self._slope(x)
            e2 = np.exp(-s.reshape(-1)[:, None, None] * (np.arange(S.shape[1]) + 1.0)[None, None, :]
                        * x[None, :, None])
            a = a + (e2 * S[None, :, :]).sum(2) / (s.reshape(-1)[:, None] + self.beta) ** 2
        if self.beta:
            e0 = (1.0 - self.rho) * np.exp(-self.lam * x)
            for C, L in self._second_terms(x, r, e0, ja, jb):
                a = a + (np.exp(-s.reshape(-1)[:, None, None] * L[None, :, :]) * C[None, :, :]).sum(2) \
                    / (s.reshape(-1)[:, None] + self.beta) ** 2
        return (a @ (w * f)).reshape(s.shape)

    def rest_lst(self, s) -> np.ndarray:
        r""":math:`e^{sc}\big(\phi(s) - A(s)\big)` at complex ``s`` (any shape, ``Re s > 0``)."""
        return self.tr.lst(s)


__all__ = ["PSDensityAtoms"]
