r"""The SOAP theorem on a continuous size law itself, for ranks whose descriptor is the job's size.

For a SOAP policy whose rank :math:`r(x, a)` depends on the job's own size :math:`x` and its
age :math:`a` (SRPT :math:`x - a`, PSJF :math:`x`, SJF :math:`\langle -a, x\rangle`, a
:class:`~qtheory.policies.Rank` with ``descriptor="size"``) and a continuous size law without
atoms, every quantity of the SOAP theorem (``docs/soap_predictions.md``, sections 3-5) is
computed on the law, not on a discretisation:

.. math::
    E[T] = \int \left[\frac{\lambda S_2(L(x))}
                       {2(1-\lambda N_0(L(x)))(1-\lambda N(L(x)))}
           + \int_0^x \frac{da}{1-\lambda N(W_x(a))}\right] dF(x),

with the worst future rank :math:`W_x(a) = \sup_{a \le b < x} r(x, b)` (half-open),
:math:`L(x) = W_x(0)`, and the three *level functions* of a rank level :math:`\ell`

.. math::
    N(\ell) = E\big[\min(X, c^{new}_X(\ell))\big], \quad
    N_0(\ell) = E\big[X^{old}_0[\ell]\big], \quad
    S_2(\ell) = E\Big[\sum_i (X^{old}_i[\ell])^2\Big],

where :math:`c^{new}_{x'}(\ell) = \inf\{a \ge 0 : r(x', a) \ge \ell\}` (new jobs are ahead
while strictly below the level) and the old intervals are the components of
:math:`\{a < x' : r(x', a) \le \ell\}` (old jobs are ahead at equal rank), interval 0 the one
holding age 0. The steps:

1. **The rank's structure in (x, a).** For each size :math:`x'` the age axis :math:`[0, x')`
   is cut at the policy's ``age_breakpoints(x')`` into pieces on which the rank is monotone;
   the rank at age 0, its one-sided limits at every piece end and its values at the
   breakpoints decide, for a level, on which piece a job first reaches the level and which
   ages hold rank :math:`\le \ell`; the crossing ages inside a piece are found by the Illinois
   variant of regula falsi (exact after one step for a rank linear in age). The
   non-preemptive shape (rank :math:`x` at age 0, :math:`-\infty` after) is one flat piece
   at :math:`-\infty` behind the point at age 0.
2. **The level functions** are integrals over the size :math:`x'` of an old or new job. Their
   integrands change form where one of the *critical functions* of :math:`x'` (the rank at age
   0, at either side of each piece end, at each breakpoint) equals the level, where one starts
   or stops sitting on the level (a flat level shared by many sizes, such as the floor of
   :math:`\max(1, x - a)`: old jobs tied at the level are ahead, new ones not, so the integrands
   jump there with no sign change), and where a
   breakpoint enters the job's age range: these sizes are located by root finding and made
   panel ends of a composite Gauss-Legendre rule in :math:`\log x'` (16 points a panel; the
   panels next to a located size mapped by :math:`s = (1 - \cos \pi t)/2`, so that a
   square-root behaviour there stays smooth). The rule runs until :math:`E[X^2; X > x'_{max}] \le 10^{-16} E[X^2]`.
3. **Interpolants in the level.** :math:`N, N_0, S_2` are adaptive piecewise Chebyshev
   interpolants (17 points a panel) in :math:`v = \operatorname{asinh}(\ell / s)` (logarithmic
   in :math:`|\ell|` above a small scale :math:`s`, linear through 0, so negative ranks are
   allowed), with panel ends at the *critical levels* where they are not smooth (the critical
   functions at the law's support ends and breakpoints, at their extrema and at their mutual
   crossings), each panel halved until its last three coefficients fall below
   :data:`TOL` of its scale.
4. **The tagged job.** :math:`W_x` is built backwards over the pieces of :math:`r(x, \cdot)`:
   plateaus (constant worst future rank: their length over :math:`1 - \lambda N`) and falling
   stretches where :math:`W_x = r(x, \cdot)`, integrated by Gauss-Legendre panels in the age
   whose ends are the ages where the rank crosses the interpolant's panel ends (so :math:`N`
   is one polynomial on each). The outer integral is Gauss-Legendre in :math:`\log x` with
   the law's breakpoints and the sizes where :math:`L(x)` crosses a critical level, or starts
   or stops sitting on one, as panel ends, graded towards a finite upper end of the support.

Everything that does not depend on the load is computed once (the interpolants, and the level
functions at every node of the tagged-job rules), so a further load costs a few vector
operations; on a falling stretch where the rank is affine in age (SRPT) the residence is
:math:`(G(r_{top}) - G(r_{bottom}))/\beta` with :math:`G(\ell) = \int d\ell'/(1 - \lambda N(\ell'))`
by Gauss-Legendre on the level panels. The error estimate is the difference of two outer
resolutions (order 16 on panels 0.25 wide in :math:`\log x`, order 12 on panels 0.35 wide),
plus ten times the level functions' own error (the interpolants' largest kept tail and the
difference of the :math:`x'` rule at orders 16 and 24 on every sixth panel, relative) over
:math:`1 - \rho`, plus :math:`10^{-13}`, times the value.

Measured (``tests/test_soap_exact_size.py``): SRPT, PSJF, SJF, FB as a size rank and
:math:`2(x - a) + 1` against their closed forms on Exp(1), Weibull(0.5), LogNormal(1) and
bounded Pareto(1.5, 1, 100) sizes at loads 0.5-0.99: 1.2e-12 relative at worst, except 1.9e-11
at load 0.99 on Exp(1), where an mpmath evaluation puts the closed form 1.8e-11 off and this
route 8e-13; five user ranks (falling then rising, rising then falling, :math:`(x - a)^2/x`,
flat pieces with an upward jump, :math:`|a - 1/2| + x` with a breakpoint at a fixed age)
against a separate quadrature of their SOAP formulas, 1e-14;
:math:`E[T \mid x]` 7e-14 and :math:`E[T/X]` 1e-15 against the closed forms. Ranks with a
flat level shared by many sizes (``tests/test_soap_size_ties.py``: :math:`\max(1, x - a)`,
:math:`\max(1, x)`, :math:`\min(x, 2)`, :math:`\min(2, x - a)`, :math:`\min(a, 1)` on Exp(1)
at load 0.8) against closed forms worked by hand: :math:`E[T \mid x]` 2e-14, :math:`E[T]` 1e-14
(before the tie ends were located, 2e-3 to 3e-3 off, and :math:`\min(a, 1)` 0.53 off). Measured once
(not in the tests): SRPT, PSJF and SJF on Uniform(0.5, 1.5), Uniform(0, 2), Erlang(2), a
hyperexponential, Pareto(2.5), Weibull(2) and a log-normal mixture at load 0.9, 2e-13 at worst.
The error estimate was above the true error in every case. Cost on one core of a loaded machine
(CPU): 0.01-0.37 s cold per law and built-in rank, about 1 ms per further load; a user rank
0.02-0.43 s cold, then cached per rank object like the built-in ranks (:func:`_user_key`).

Not covered (they take :func:`qtheory.engine.generic.evaluate_discretised`): laws with atoms,
``qt.from_scipy`` laws, laws with an infinite second moment, ranks whose breakpoints cannot be
evaluated for an array of sizes, and ranks whose structure the rules cannot follow
(:class:`FloatingPointError`: too many interpolant panels, a crossing not found).

Derivation: ``docs/soap_predictions.md`` (sections 3-5, the theorem and its conventions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..laws._quadrature import _gl, log_edges, log_spread, size_range
from .soap_exact import _TN, _VINV, NCHEB, ExactResult, _cheb_T

#: relative tail of the level interpolants' Chebyshev coefficients accepted on a panel
TOL = 1e-13
#: the scale a tail is measured against is at least FLOOR * E[X] (N, N0) or FLOOR * E[X^2] (S2):
#: an absolute error of TOL * FLOOR * E[X] in N moves E[T] by a relative 1e-16 / (1 - rho)^2
FLOOR = 1e-3
#: Gauss-Legendre order of the panels of the x' rule of the level functions, and their widest
#: width in log x' (half the law's interquartile spread in log x' where that is less)
XORDER = 16
XWIDTH = 0.5
#: the order of the x' rule that checks it (on every sixth interpolant panel)
XCHECK = 24
#: the outer rules (width in log x, Gauss-Legendre order): the value, and the one whose
#: difference from it is the error estimate
FINE, COARSE = (0.25, 16), (0.35, 12)
#: levels whose x' rules are built together (memory)
LEVEL_BLOCK = 48
#: Gauss-Legendre order of the antiderivative of 1 / (1 - lam N) on a level panel
GORDER = 32
#: width in v of the level interpolants' initial panels, whose ends also cut the residence
#: integrals
LADDER = 2.0
#: most panels of a level interpolant
MAX_PANELS = 1500
_EPS = np.finfo(float).eps



# ---- quadrature and root finding ------------------------------------------------------------------
def _cos_gl(order: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Gauss-Legendre nodes and weights on [0, 1] mapped by :math:`s = (1 - \cos \pi t)/2`:
    a function with a square-root behaviour at either end, :math:`\sqrt{s} = \sin(\pi t / 2)`,
    becomes smooth in :math:`t`."""
    t, w = _gl(order)
    return (1.0 - np.cos(np.pi * t)) / 2.0, w * (np.pi / 2.0) * np.sin(np.pi * t)


def _cut_fall_nodes(rk, P, rows: np.ndarray, j: int, a0: np.ndarray, a1: np.ndarray, top: np.ndarray,
                    bot: np.ndarray, levels: np.ndarray, sgl: np.ndarray, wgl: np.ndarray):
    """Nodes in age on the falling stretch ``j`` ``[a0, a1]`` of the tagged jobs ``rows`` of ``P``
    (rank from ``top`` down to ``bot``), the stretch cut at the ages where the rank crosses a
    level of ``levels`` strictly between ``bot`` and ``top`` (``rk.cross``), each piece mapped by
    the rule ``(sgl, wgl)``: the row of each node, its weight and its level :math:`r(x, a)`."""
    inside = (levels[None, :] < top[:, None]) & (levels[None, :] > bot[:, None])
    ri, li = np.nonzero(inside)
    cuts = np.full((rows.size, max(1, int(inside.sum(axis=1).max()))), np.nan)
    if ri.size:
        ages = rk.cross(P, rows[ri], j, levels[li])
        cnt = np.bincount(ri, minlength=rows.size)
        pos = np.arange(ri.size) - np.concatenate([[0], np.cumsum(cnt)])[ri]
        cuts[ri, pos] = ages
    cuts = np.where(np.isnan(cuts), a0[rows, None], cuts)
    cuts = np.clip(cuts, a0[rows, None], a1[rows, None])
    edges = np.sort(np.concatenate([a0[rows, None], cuts, a1[rows, None]], axis=1), axis=1)
    h = np.diff(edges, axis=1)
    a = (edges[:, :-1, None] + h[..., None] * sgl).reshape(rows.size, -1)
    w = (h[..., None] * wgl).reshape(rows.size, -1)
    keep = w > 0
    r_i = np.nonzero(keep)[0]
    return rows[r_i], w[keep], rk.rank(P.x[rows[r_i]], a[keep])


def _solve(g, lo: np.ndarray, hi: np.ndarray, glo: np.ndarray, ghi: np.ndarray,
           scale: np.ndarray, iters: int = 400) -> np.ndarray:
    r"""Zeros of functions ``g(idx, a)`` (the elements ``idx`` at points ``a``) bracketed by
    ``[lo, hi]`` with ``g(lo) = glo < 0 <= ghi = g(hi)``: the Illinois variant of regula falsi
    (bisection where a bracket value is not finite, and wherever three steps in a row have not
    halved the bracket), until ``|g| <= scale`` or the bracket is a few ulps wide. (The
    safeguard: a function flat just below zero on one side of its root, such as
    :math:`\max(1, x') - \ell` at a level :math:`\ell = 1 + 10^{-12}`, kept regula falsi
    creeping from the flat side; after 100 steps the root was 1.4e-4 off.)"""
    a, b = np.array(lo, float), np.array(hi, float)
    fa, fb = np.array(glo, float), np.array(ghi, float)
    side = np.zeros(a.shape)
    c = 0.5 * (a + b)
    act = np.ones(a.shape, bool)
    wref = b - a
    stall = np.zeros(a.shape, int)
    for _ in range(iters):
        idx = np.flatnonzero(act)
        if idx.size == 0:
            break
        A, B, FA, FB = a[idx], b[idx], fa[idx], fb[idx]
        halved = (B - A) <= 0.5 * wref[idx]
        wref[idx] = np.where(halved, B - A, wref[idx])
        stall[idx] = np.where(halved, 0, stall[idx] + 1)
        fin = np.isfinite(FA) & np.isfinite(FB) & (FB > FA) & (stall[idx] <= 3)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            C = np.where(fin, (A * FB - B * FA) / np.where(fin, FB - FA, 1.0), 0.5 * (A + B))
        C = np.where((C > A) & (C < B), C, 0.5 * (A + B))
        FC = np.asarray(g(idx, C), float)
        c[idx] = C
        done = (np.abs(FC) <= scale[idx]) | ((B - A) <= 4 * _EPS * np.maximum(np.abs(A), np.abs(B)))
        left = FC < 0
        S = side[idx]
        nfa = np.where(left, FC, FA)
        nfb = np.where(left, FB, FC)
        nfb = np.where(left & (S < 0), nfb / 2, nfb)  # Illinois: halve the stale end
        nfa = np.where(~left & (S > 0), nfa / 2, nfa)
        a[idx], b[idx] = np.where(left, C, A), np.where(left, B, C)
        fa[idx], fb[idx] = nfa, nfb
        side[idx] = np.where(left, -1.0, 1.0)
        act[idx[done]] = False
    return c


def _grid_roots(grid: np.ndarray, D: np.ndarray, g, tie=None) -> tuple[np.ndarray, np.ndarray]:
    """Where the columns of ``D`` (values on ``grid``, shape ``(grid.size, q)``) change sign
    between grid points: the roots, solved with ``g(cols, x)`` (the columns' values at ``x``),
    and their column index; with ``tie``, also where a column starts or stops being tied,
    :math:`|D| \\le` ``tie`` (:func:`_tie_ends`)."""
    with np.errstate(invalid="ignore"):
        neg = D < 0
    fin = np.isfinite(D)
    ch = (neg[:-1] != neg[1:]) & fin[:-1] & fin[1:]
    i, k = np.nonzero(ch)
    if i.size == 0 and tie is None:
        return np.empty(0), np.empty(0, int)
    sgn = np.where(D[i, k] < 0, 1.0, -1.0)
    lo, hi = sgn * D[i, k], sgn * D[i + 1, k]
    scale = np.full(i.size, 1e-300)  # to a few ulps of the size

    def fn(idx, x):
        return sgn[idx] * g(k[idx], x)

    roots = _solve(fn, grid[i], grid[i + 1], lo, hi, scale)
    if tie is None:
        return roots, k
    t_roots, t_k = _tie_ends(grid, D, tie, g)
    return np.concatenate([roots, t_roots]), np.concatenate([k, t_k])


def _tie_ends(grid: np.ndarray, D: np.ndarray, tie: np.ndarray, g) -> tuple[np.ndarray, np.ndarray]:
    r"""Where the columns of ``D`` (values on ``grid``) start or stop being *tied*,
    :math:`|D| \le` ``tie`` (one tolerance a column): the ends of a stretch of sizes on which a
    critical function equals a level (or another critical function), a shared flat level. There
    a level function's integrand jumps or kinks (old jobs at the level are ahead, new ones not)
    although no sign changes, so these sizes are panel ends like the crossings. Bisection of the
    bracketing grid interval on the tie itself (``g(cols, x)``: the columns' values at ``x``),
    to a few ulps of the size; returns the sizes and their column index."""
    tie = np.asarray(tie, float)
    fin = np.isfinite(D)
    with np.errstate(invalid="ignore"):
        T = fin & (np.abs(D) <= tie[None, :])
    ch = (T[:-1] != T[1:]) & fin[:-1] & fin[1:]
    i, k = np.nonzero(ch)
    if i.size == 0:
        return np.empty(0), np.empty(0, int)
    a, b = grid[i].astype(float), grid[i + 1].astype(float)
    ta = T[i, k]
    for _ in range(80):
        m = 0.5 * (a + b)
        dm = np.asarray(g(k, m), float)
        with np.errstate(invalid="ignore"):
            tm = np.isfinite(dm) & (np.abs(dm) <= tie[k])
        same = tm == ta
        a, b = np.where(same, m, a), np.where(same, b, m)
        if np.all((b - a) <= 4 * _EPS * np.maximum(np.abs(a), np.abs(b))):
            break
    return 0.5 * (a + b), k


# ---- the rank's structure -------------------------------------------------------------------------
@dataclass
class Pieces:
    """The age axis ``[0, x)`` of jobs of sizes ``x`` cut at the rank's breakpoints: piece ``j``
    covers ``[E[:, j], E[:, j+1])``; ``r0`` the rank at age 0, ``s``/``t`` the rank just after
    a piece's start and just before its end, ``pv`` the rank at a piece's start (``pv[:, 0]``
    unused), ``dirn`` 1 rising, -1 falling, 0 flat, ``live`` the pieces of positive length;
    ``a_s``/``a_e`` the ages where ``s``/``t`` were taken."""

    x: np.ndarray
    E: np.ndarray
    r0: np.ndarray
    s: np.ndarray
    t: np.ndarray
    pv: np.ndarray
    dirn: np.ndarray
    live: np.ndarray
    a_s: np.ndarray
    a_e: np.ndarray


def _breakpoint_fn(policy):
    """``x -> (x.size, k)`` array of the policy's age breakpoints for descriptors ``x`` (the
    policy's ``age_breakpoints`` called on the whole array, its shape interpreted against one
    call with a single descriptor); :class:`FloatingPointError` where it cannot be read."""
    try:
        b1 = np.atleast_1d(np.asarray(policy.age_breakpoints(1.0), float))
        b2 = np.atleast_1d(np.asarray(policy.age_breakpoints(2.0), float))
    except Exception as e:  # noqa: BLE001 - a user breakpoint function that needs other input
        raise FloatingPointError(f"the rank's breakpoints cannot be evaluated ({e})") from None
    k = b1.size
    if b2.size != k:
        raise FloatingPointError("the number of the rank's breakpoints depends on the size")
    if k == 0:
        return lambda x: np.empty((np.size(x), 0)), 0

    def fn(x):
        x = np.atleast_1d(np.asarray(x, float))
        n = x.size
        try:
            out = np.asarray(policy.age_breakpoints(x), float)
        except Exception:  # noqa: BLE001 - a breakpoint function of one descriptor only
            out = np.empty(0)
        if out.shape == (n, k):
            return out
        if k == 1 and out.shape in ((n,), (1, n)):
            return out.reshape(n, 1)
        if out.shape == (k, n):
            return out.T
        if out.size == k and n != k:  # the same ages for every size
            return np.broadcast_to(out.reshape(1, k), (n, k))
        return np.array([np.atleast_1d(np.asarray(policy.age_breakpoints(float(v)), float))
                         for v in x]).reshape(n, k)

    return fn, k


class SizeRank:
    """The rank of a size-descriptor policy as a function of (size, age), cut into monotone
    pieces in age."""

    def __init__(self, policy):
        self.policy = policy
        self.bp, self.k = _breakpoint_fn(policy)
        self.m = self.k + 1

    def rank(self, x, a) -> np.ndarray:
        x, a = np.broadcast_arrays(np.asarray(x, float), np.asarray(a, float))
        with np.errstate(all="ignore"):
            r = np.asarray(self.policy.rank(x, a), float)
        r = np.broadcast_to(r, x.shape)
        if np.isnan(r).any():
            raise ValueError(f"the rank function of policy {self.policy.name} returned NaN")
        return r

    def raw_breakpoints(self, x: np.ndarray) -> np.ndarray:
        return self.bp(x)

    def pieces(self, x: np.ndarray) -> Pieces:
        x = np.asarray(x, float).ravel()
        n, m = x.size, self.m
        bp = np.sort(np.clip(self.bp(x), 0.0, x[:, None]), axis=1) if self.k else np.empty((n, 0))
        E = np.concatenate([np.zeros((n, 1)), bp, x[:, None]], axis=1)
        h = np.diff(E, axis=1)
        live = h > 0
        lo, hi = E[:, :-1], E[:, 1:]
        a_s = np.where(lo > 0, lo * (1 + 4 * _EPS), 1e-300)
        a_e = hi * (1 - 4 * _EPS)
        mid = lo + h / 2
        a_s = np.where(a_s < mid, a_s, mid)
        a_e = np.where(a_e > mid, a_e, mid)
        X = np.broadcast_to(x[:, None], (n, m))
        r0 = self.rank(x, np.zeros(n))
        s = self.rank(X, a_s)
        t = self.rank(X, a_e)
        pv = np.full((n, m), -np.inf)
        if m > 1:
            pv[:, 1:] = self.rank(X[:, 1:], E[:, 1:-1])
        with np.errstate(invalid="ignore"):
            tol = 8 * _EPS * np.maximum(np.abs(np.where(np.isfinite(s), s, 0)),
                                         np.abs(np.where(np.isfinite(t), t, 0)))
            dirn = np.where(t > s + tol, 1, np.where(t < s - tol, -1, 0))
        t = np.where(dirn == 0, s, t)  # a flat piece: one value
        return Pieces(x, E, r0, s, t, pv, dirn, live, a_s, a_e)

    def critical(self, x: np.ndarray) -> np.ndarray:
        """The critical functions of the sizes ``x`` (shape ``(x.size, 3m)``): the rank at age
        0, at either side of every live piece and at the interior breakpoints (NaN where a
        piece is empty)."""
        P = self.pieces(x)
        s = np.where(P.live, P.s, np.nan)
        t = np.where(P.live, P.t, np.nan)
        cols = [P.r0[:, None], s, t]
        if self.m > 1:
            inner = (P.E[:, 1:-1] > 0) & (P.E[:, 1:-1] < P.x[:, None])
            cols.append(np.where(inner, P.pv[:, 1:], np.nan))
        return np.concatenate(cols, axis=1)

    def check_monotone(self, x: np.ndarray) -> None:
        """:class:`FloatingPointError` where the rank leaves the range of a piece's ends at the
        piece's quarter points (a piece that is not monotone: breakpoints missing)."""
        P = self.pieces(x)
        lo, hi = np.minimum(P.s, P.t), np.maximum(P.s, P.t)
        for f in (0.25, 0.5, 0.75):
            a = P.E[:, :-1] + f * (P.E[:, 1:] - P.E[:, :-1])
            v = self.rank(np.broadcast_to(P.x[:, None], a.shape), a)
            with np.errstate(invalid="ignore"):
                tol = 1e-9 * np.maximum(np.abs(np.where(np.isfinite(v), v, 0)), 1e-300)
                bad = P.live & np.isfinite(v) & ((v < lo - tol) | (v > hi + tol))
            if bad.any():
                raise FloatingPointError("the rank is not monotone in age between its breakpoints")

    def cross(self, P: Pieces, rows: np.ndarray, j: int, level: np.ndarray) -> np.ndarray:
        """The age on piece ``j`` of the rows ``rows`` where the rank equals ``level`` (strictly
        between the piece's one-sided end values)."""
        s, t = P.s[rows, j], P.t[rows, j]
        sgn = np.where(t > s, 1.0, -1.0)
        x = P.x[rows]
        with np.errstate(invalid="ignore"):
            fin = [np.where(np.isfinite(v), np.abs(v), 0.0) for v in (s, t, level)]
        scale = 4 * _EPS * np.maximum(np.maximum(fin[0], fin[1]), fin[2]) + 1e-300

        def g(idx, a):
            return sgn[idx] * (self.rank(x[idx], a) - level[idx])

        with np.errstate(invalid="ignore"):
            return _solve(g, P.a_s[rows, j], P.a_e[rows, j], sgn * (s - level), sgn * (t - level),
                          scale)

    # ---- old and new work of jobs of sizes x at a level ------------------------------------------
    def level_intervals(self, x: np.ndarray, lev: np.ndarray):
        r"""For jobs of sizes ``x`` at rank levels ``lev`` (elementwise): the new work
        :math:`\min(x, c^{new}(\ell))` (it stops at the first age with rank :math:`\ge \ell`),
        the length of the old interval that holds age 0 (0 if none) and the lengths of the other
        components of :math:`\{a < x : r(x, a) \le \ell\}` (shape ``(n, m + 1)``, zeros where
        there are fewer; ``docs/soap_predictions.md``, section 4)."""
        P = self.pieces(x)
        lev = np.asarray(lev, float).ravel()
        n, m = P.x.size, self.m
        cross = np.full((n, m), np.nan)
        for j in range(m):
            lo = np.minimum(P.s[:, j], P.t[:, j])
            hi = np.maximum(P.s[:, j], P.t[:, j])
            need = P.live[:, j] & (P.dirn[:, j] != 0) & (lev > lo) & (lev < hi)
            if need.any():
                rows = np.flatnonzero(need)
                cross[rows, j] = self.cross(P, rows, j, lev[rows])
            # a level equal to a strictly monotone piece's one-sided limit: the crossing is at
            # that end (rank <= level only there)
            d = P.dirn[:, j]
            cross[:, j] = np.where(P.live[:, j] & (d > 0) & (lev == P.s[:, j]), P.E[:, j], cross[:, j])
            cross[:, j] = np.where(P.live[:, j] & (d < 0) & (lev == P.t[:, j]), P.E[:, j + 1], cross[:, j])
        E = P.E
        # new work: stops at the first age with rank >= level
        found = P.r0 >= lev
        c = np.where(found, 0.0, np.inf)
        for j in range(m):
            lv = P.live[:, j]
            st = P.s[:, j] if j == 0 else np.maximum(P.s[:, j], P.pv[:, j])
            hit = ~found & lv & (st >= lev)
            c = np.where(hit, E[:, j], c)
            found |= hit
            hit = ~found & lv & (P.t[:, j] >= lev)
            c = np.where(hit, np.where(np.isnan(cross[:, j]), E[:, j + 1], cross[:, j]), c)
            found |= hit
        qn = np.minimum(P.x, c)
        # old intervals: the components of {a < x : r(x, a) <= level}
        open0 = P.r0 <= lev
        cur_b = np.where(open0, 0.0, np.nan)
        cur_e = cur_b.copy()
        is0 = open0.copy()
        l0 = np.zeros(n)
        other = np.zeros((n, m + 1))
        for j in range(m):
            lv = P.live[:, j]
            d = P.dirn[:, j]
            s, t = P.s[:, j], P.t[:, j]
            cj = cross[:, j]
            has_c = ~np.isnan(cj)
            # rising: [E_j, cross) or whole; falling: [cross, E_j+1) or whole; flat: whole
            has = lv & np.where(d > 0, s <= lev, np.where(d < 0, t <= lev, s <= lev))
            ib = np.where((d < 0) & has_c, cj, E[:, j])
            ie = np.where((d > 0) & has_c, cj, E[:, j + 1])
            joins = has & ~np.isnan(cur_e) & (cur_e == E[:, j]) & (ib == E[:, j])
            if j > 0:
                joins &= P.pv[:, j] <= lev
            close = ~joins & ~np.isnan(cur_b) & (has | lv)
            ln = np.where(close, cur_e - cur_b, 0.0)
            l0 += np.where(close & is0, ln, 0.0)
            other[:, j] = np.where(close & ~is0, ln, 0.0)
            is0 &= ~close
            cur_b = np.where(close, np.nan, cur_b)
            cur_e = np.where(close, np.nan, cur_e)
            start = has & ~joins
            cur_b = np.where(start, ib, cur_b)
            cur_e = np.where(has, ie, cur_e)
        ln = np.where(np.isnan(cur_b), 0.0, cur_e - cur_b)
        l0 += np.where(is0, ln, 0.0)
        other[:, m] = np.where(is0, 0.0, ln)
        return qn, l0, other

    def level_terms(self, x: np.ndarray, lev: np.ndarray):
        r"""For jobs of sizes ``x`` and rank levels ``lev`` (elementwise):
        :math:`\min(x, c^{new}(\ell))`, the old work of the interval at age 0, and the sum of
        the squares of all old intervals (``docs/soap_predictions.md``, section 4;
        :meth:`level_intervals`)."""
        qn, q0, other = self.level_intervals(x, lev)
        return qn, q0, q0 * q0 + np.sum(other * other, axis=1)

    # ---- the tagged job ---------------------------------------------------------------------------
    def tagged(self, x: np.ndarray):
        r"""The worst future rank of tagged jobs of sizes ``x``: :math:`L = W_x(0)`, the
        plateaus (length, level) where :math:`W_x` is constant, and the falling stretches
        (piece, start age, end age) where :math:`W_x(a) = r(x, a)` (``docs/soap_predictions.md``,
        section 3)."""
        P = self.pieces(x)
        n = P.x.size
        M = np.full(n, -np.inf)
        plats, falls = [], []
        for j in range(self.m - 1, -1, -1):
            lv = P.live[:, j]
            h = P.E[:, j + 1] - P.E[:, j]
            s, t = P.s[:, j], P.t[:, j]
            up = lv & (P.dirn[:, j] >= 0)
            down = lv & (P.dirn[:, j] < 0)
            follow = down & (t >= M)
            flat_all = down & ~follow & (s <= M)
            part = down & ~follow & ~flat_all
            astar = P.E[:, j].copy()
            if part.any():
                rows = np.flatnonzero(part)
                astar[rows] = self.cross(P, rows, j, M[rows])
            plat_len = np.where(up | flat_all, h, np.where(part, P.E[:, j + 1] - astar, 0.0))
            plat_lev = np.where(up, np.maximum(M, t), M)
            plats.append((plat_len, plat_lev))
            fall_end = np.where(follow, P.E[:, j + 1], np.where(part, astar, P.E[:, j]))
            falls.append((j, P.E[:, j].copy(), fall_end))
            M = np.where(up, np.maximum(M, t), np.where(down, np.maximum(M, s), M))
            if j > 0:
                M = np.where(P.E[:, j] < P.x, np.maximum(M, P.pv[:, j]), M)
        L = np.maximum(M, P.r0)
        return L, plats, falls, P


# ---- the level functions and the evaluator ----------------------------------------------------------
def _refined(edges: np.ndarray, k: int) -> np.ndarray:
    """``edges`` with every interval cut into ``k`` equal parts."""
    h = np.diff(edges)
    inner = edges[:-1, None] + h[:, None] * (np.arange(k) / k)[None, :]
    return np.concatenate([inner.ravel(), edges[-1:]])


class LevelInterp:
    r"""Piecewise Chebyshev interpolants of the level functions :math:`(N, N_0, S_2)` in
    :math:`v = \operatorname{asinh}(\ell / s)` on the panels ``edges`` (in ``v``)."""

    def __init__(self, s: float, edges: np.ndarray, values: np.ndarray):
        self.s = s
        self.edges = edges
        self.values = values  # (3, panels, NCHEB)
        self.coef = values @ _VINV.T

    def __call__(self, lev: np.ndarray, which=(0, 1, 2)) -> np.ndarray:
        """The functions ``which`` (0: N, 1: N0, 2: S2) at the levels ``lev``."""
        v = np.arcsinh(np.asarray(lev, float) / self.s)
        j = np.clip(np.searchsorted(self.edges, v, side="right") - 1, 0, self.edges.size - 2)
        e0, e1 = self.edges[j], self.edges[j + 1]
        tau = np.clip((2 * v - e0 - e1) / (e1 - e0), -1.0, 1.0)
        T = _cheb_T(tau, NCHEB)
        return np.array([np.einsum("pn,pn->p", self.coef[k][j], T) for k in which])

    def g_weights(self, lev: np.ndarray):
        r"""Load-independent pieces of :math:`G_\lambda(\ell) = \int_{\ell_0}^{\ell}
        d\ell' / (1 - \lambda N(\ell'))` (:math:`\ell_0` the first panel's start) at the levels
        ``lev``: the panel, Gauss-Legendre weights (:data:`GORDER` points, times
        :math:`d\ell/dv`) and :math:`N` at the nodes of the part of the panel below the level,
        and the part of ``lev`` outside the panels (where :math:`N` is taken constant, at the
        end). The integrand is integrated, not interpolated: at a load near 1,
        :math:`1/(1 - \lambda N)` varies far more on a panel than :math:`N` does."""
        lev = np.asarray(lev, float)
        e = self.edges
        v = np.clip(np.arcsinh(lev / self.s), e[0], e[-1])
        j = np.clip(np.searchsorted(e, v, side="right") - 1, 0, e.size - 2)
        W, NN = self._gl_part(e[j], v)
        nend = np.where(v <= e[0], self.values[0][0, 0], self.values[0][-1, -1])
        return j, W, NN, lev - self.s * np.sinh(v), nend

    def _gl_part(self, v0: np.ndarray, v1: np.ndarray):
        """Gauss-Legendre weights (times dl/dv) and N at the nodes on [v0, v1]."""
        t, w = _gl(GORDER)
        h = (v1 - v0)[:, None]
        vv = v0[:, None] + h * t
        W = h * w * self.s * np.cosh(vv)
        NN = self(self.s * np.sinh(vv).ravel(), (0,))[0].reshape(vv.shape)
        return W, NN

    def G(self, lam: float, gw) -> np.ndarray:
        r""":math:`G_\lambda` at the levels whose :meth:`g_weights` are ``gw``."""
        if not hasattr(self, "_full"):
            self._full = self._gl_part(self.edges[:-1], self.edges[1:])
        Wf, Nf = self._full
        cum = np.concatenate([[0.0], np.cumsum(np.sum(Wf / (1 - lam * Nf), axis=1))])
        j, W, NN, ext, nend = gw
        return cum[j] + np.sum(W / (1 - lam * NN), axis=1) + ext / (1 - lam * nend)


@dataclass
class _Outer:
    """Load-independent tables of one outer rule: nodes ``x`` and weights ``wx`` (density
    included), the level functions at the waiting level ``L(x)``, the plateaus and the residence
    nodes (``owner``: the outer node each belongs to)."""

    x: np.ndarray
    wx: np.ndarray
    NL: np.ndarray
    N0L: np.ndarray
    S2L: np.ndarray
    plat_len: np.ndarray
    plat_N: np.ndarray
    owner: np.ndarray
    res_w: np.ndarray
    res_N: np.ndarray
    #: falling stretches affine in age (slope -beta): (owner, 1/beta, G weights at the top and
    #: at the bottom level) and the interpolants
    aff: tuple | None = None
    interp: LevelInterp | None = None

    def conditional(self, lam: float) -> np.ndarray:
        """E[T | x] at the nodes."""
        with np.errstate(invalid="ignore", divide="ignore"):
            wait = lam * self.S2L / (2 * (1 - lam * self.N0L) * (1 - lam * self.NL))
        wait = np.where(self.S2L > 0, wait, 0.0)
        res = np.sum(self.plat_len / (1 - lam * self.plat_N), axis=0)
        res = res + np.bincount(self.owner, self.res_w / (1 - lam * self.res_N),
                                minlength=self.x.size)
        if self.aff is not None:
            own, ib, gtop, gbot = self.aff
            d = (self.interp.G(lam, gtop) - self.interp.G(lam, gbot)) * ib
            res = res + np.bincount(own, d, minlength=self.x.size)
        return wait + res


class SizeSOAP:
    """The SOAP theorem for a size-descriptor rank on a continuous law (module docstring)."""

    def __init__(self, size, policy):
        self.size = size
        self.rk = SizeRank(policy)
        lo, hi = size_range(size, 1e-17)
        self.lo, self.hi = lo, hi
        self.m2 = float(size.tail_moment(2, np.array(0.0)))
        hi2 = hi
        if not math.isfinite(size.support[1]):
            while float(size.tail_moment(2, np.array(hi2))) > 1e-16 * self.m2 and hi2 < 1e280:
                hi2 *= 2.0
        self.hi2 = hi2
        self.bps = [float(b) for b in np.asarray(size.breakpoints, float) if lo < b < hi2]
        self.bulk = (float(size.ppf(1e-4)), float(size.ppf(1 - 1e-4)))
        self.width = min(XWIDTH, log_spread(size.ppf) / 2)
        base = log_edges(lo, hi2, self.width, self.bps, bulk=self.bulk)
        xg = np.exp(_refined(base, 4))
        rk = self.rk
        rk.check_monotone(xg)
        # sizes where a breakpoint enters the age range [0, x)
        H = np.empty(0)
        if rk.k:
            ar = np.arange

            def hb(cols, x):
                return rk.raw_breakpoints(x)[ar(x.size), cols] - x

            H, _ = _grid_roots(xg, rk.raw_breakpoints(xg) - xg[:, None], hb)
            H = H[(H > lo) & (H < hi2)]
        self.H = H
        self.ubase = np.unique(np.concatenate([base, np.log(H)]))
        # the grid of the root searches, with points just either side of each size where a
        # piece appears (the new piece's critical functions are undefined before it)
        xg = np.unique(np.concatenate([np.exp(_refined(self.ubase, 4)), H * (1 - 1e-12),
                                       H * (1 + 1e-12)]))
        G = rk.critical(xg)
        keep = []
        for c in range(G.shape[1]):
            col = G[:, c]
            if not np.isfinite(col).any():
                continue
            if any(np.array_equal(col, G[:, d], equal_nan=True) for d in keep):
                continue
            keep.append(c)
        self.gcols = np.array(keep, int)
        self.xg, self.Gg = xg, G[:, self.gcols]
        self.K = self._critical_levels()
        self.Xcrit = self._critical_sizes()
        self._cache: dict = {}

    def crit(self, x: np.ndarray) -> np.ndarray:
        return self.rk.critical(x)[:, self.gcols]

    def _critical_levels(self) -> np.ndarray:
        """Levels where the level functions may not be smooth (module docstring, step 3)."""
        xg, G = self.xg, self.Gg
        ends = [self.lo, self.hi2, *self.bps]
        pts = [np.asarray(ends, float)]
        if self.H.size:
            pts += [self.H * (1 - 1e-12), self.H * (1 + 1e-12)]
        vals = [self.crit(np.concatenate(pts)).ravel()]
        # extrema of each critical function on the grid, refined by golden-section search
        for c in range(G.shape[1]):
            v = G[:, c]
            dv = np.diff(v)
            with np.errstate(invalid="ignore"):
                turn = np.flatnonzero((dv[:-1] * dv[1:] < 0) & np.isfinite(dv[:-1]) & np.isfinite(dv[1:]))
            if turn.size == 0:
                continue
            a, b = xg[turn], xg[turn + 2]
            sgn = np.where(dv[turn] > 0, -1.0, 1.0)  # minimise sgn * G: a maximum for rising-then-falling
            gr = (math.sqrt(5) - 1) / 2
            for _ in range(80):
                x1, x2 = b - gr * (b - a), a + gr * (b - a)
                f1 = sgn * self.crit(x1)[:, c]
                f2 = sgn * self.crit(x2)[:, c]
                left = f1 <= f2
                a, b = np.where(left, a, x1), np.where(left, x2, b)
            vals.append(self.crit((a + b) / 2)[:, c])
        # mutual crossings of the critical functions
        q = G.shape[1]
        if q > 1:
            P, Q = np.triu_indices(q, 1)
            ar = np.arange

            def diff(cols, x):
                C = self.crit(x)
                return C[ar(x.size), P[cols]] - C[ar(x.size), Q[cols]]

            roots, cols = _grid_roots(xg, G[:, P] - G[:, Q], diff)
            if roots.size:
                vals.append(self.crit(roots)[np.arange(roots.size), P[cols]])
        K, cnt = np.unique(np.concatenate(vals), return_counts=True)
        fin = np.isfinite(K)
        K, cnt = K[fin], cnt[fin]
        if K.size > 1:
            # one level for values equal up to rounding: each cluster of values closer than
            # 1e-12 is represented by its most frequent value. (Not its lowest: the values just
            # before a piece appears, taken at H (1 - 1e-12), sit 1e-12 below the level the
            # piece holds, and with min(a, 1) the cluster {1 - 1e-12, 1 - 9e-16, 1} kept
            # 1 - 1e-12, so level 1 itself went to the interpolant's left limit: N0(1) 0.632
            # instead of 1, E[T] 2.34 instead of 5.)
            new = np.concatenate([[True], np.diff(K) > 1e-12 * np.maximum(np.abs(K[1:]), np.abs(K[:-1]))])
            cid = np.cumsum(new) - 1
            best = np.lexsort((-cnt, cid))  # by cluster, most frequent first
            first = np.concatenate([[True], cid[best][1:] != cid[best][:-1]])
            K = np.sort(K[best[first]])
        return K

    def _critical_sizes(self) -> np.ndarray:
        """Tagged sizes where the waiting level L(x) crosses a critical level."""
        xg = self.xg[(self.xg >= self.lo) & (self.xg <= self.hi)]
        Lg = self.rk.tagged(xg)[0]
        K = self.K
        if K.size == 0 or xg.size < 2:
            return self.H

        def fn(cols, x):
            return self.rk.tagged(x)[0] - K[cols]

        # (with the sizes where L(x) starts or stops sitting on a critical level: on
        # max(1, x - a), L = 1 for x <= 1, and E[T | x] jumps at x = 1)
        roots, _ = _grid_roots(xg, Lg[:, None] - K[None, :], fn, tie=4 * _EPS * np.abs(K))
        return np.unique(np.concatenate([roots, self.H]))

    # ---- the level functions ---------------------------------------------------------------------
    def level_functions(self, lev: np.ndarray, order: int = XORDER) -> np.ndarray:
        """(N, N0, S2) at the levels ``lev`` by the x' rule (module docstring, step 2)."""
        lev = np.asarray(lev, float).ravel()
        out = np.empty((3, lev.size))
        for i in range(0, lev.size, LEVEL_BLOCK):
            out[:, i:i + LEVEL_BLOCK] = self._level_block(lev[i:i + LEVEL_BLOCK], order)
        return out

    def _level_block(self, lev: np.ndarray, order: int) -> np.ndarray:
        B = lev.size
        xg, G = self.xg, self.Gg
        with np.errstate(invalid="ignore"):
            D = G[None, :, :] - lev[:, None, None]
            neg = D < 0
        fin = np.isfinite(D)
        ch = (neg[:, :-1] != neg[:, 1:]) & fin[:, :-1] & fin[:, 1:]
        b, i, k = np.nonzero(ch)
        ub = self.ubase
        q = G.shape[1]
        # the sizes where a critical function starts or stops sitting on the level (within the
        # 4 ulps below): a shared flat level, where the integrands jump with no sign change
        # (max(1, x' - a) at level 1: old work of size <= 1 ahead, the rest not; N0(1) was
        # 0.2583 instead of 0.1606 without)
        Dt = D.transpose(1, 0, 2).reshape(xg.size, B * q)

        def gt(cols, x):
            return self.crit(x)[np.arange(x.size), cols % q] - lev[cols // q]

        troots, tcols = _tie_ends(xg, Dt, np.repeat(4 * _EPS * np.abs(lev), q), gt)
        if b.size or troots.size:
            sgn = np.where(D[b, i, k] < 0, 1.0, -1.0)
            lb = lev[b]

            def g(idx, x):
                return sgn[idx] * (self.crit(x)[np.arange(x.size), k[idx]] - lb[idx])

            # to a few ulps of the level (where the structure flips only by rounding)
            roots = _solve(g, xg[i], xg[i + 1], sgn * D[b, i, k], sgn * D[b, i + 1, k],
                           4 * _EPS * np.abs(lb) + 1e-300)
            roots = np.concatenate([roots, troots])
            b = np.concatenate([b, tcols // q])
            order_b = np.lexsort((roots, b))
            b, roots = b[order_b], roots[order_b]
            cnt = np.bincount(b, minlength=B)
            R = int(cnt.max())
            pos = np.arange(b.size) - np.concatenate([[0], np.cumsum(cnt)])[b]
            extra = np.full((B, R), ub[0])
            extra[b, pos] = np.log(np.clip(roots, math.exp(ub[0]), math.exp(ub[-1])))
            alle = np.concatenate([np.broadcast_to(ub, (B, ub.size)), extra], axis=1)
            isroot = np.concatenate([np.zeros((B, ub.size), bool), np.ones((B, R), bool)], axis=1)
            o = np.argsort(alle, axis=1, kind="stable")
            edges = np.take_along_axis(alle, o, axis=1)
            isroot = np.take_along_axis(isroot, o, axis=1)
        else:
            edges = np.broadcast_to(ub, (B, ub.size))
            isroot = np.zeros(edges.shape, bool)
        # panels next to a located root: the cosine map (a square-root behaviour there stays
        # smooth); elsewhere plain Gauss-Legendre
        near = (isroot[:, :-1] | isroot[:, 1:])[..., None]
        sgl, wgl = _cos_gl(order)
        tgl, vgl = _gl(order)
        e0, h = edges[:, :-1], np.diff(edges, axis=1)
        u = (e0[..., None] + h[..., None] * np.where(near, sgl, tgl)).reshape(B, -1)
        w = (h[..., None] * np.where(near, wgl, vgl)).reshape(B, -1)
        x = np.exp(u)
        with np.errstate(under="ignore"):
            wf = w * x * np.asarray(self.size.pdf(x), float)
        keep = wf > 0
        row = np.nonzero(keep)[0]
        qn, q0, s2 = self.rk.level_terms(x[keep], lev[row])
        wk = wf[keep]
        out = np.zeros((3, B))
        starts = np.flatnonzero(np.concatenate([[True], row[1:] != row[:-1]]))
        if starts.size:
            out[:, row[starts]] = np.add.reduceat(np.array([qn, q0, s2]) * wk, starts, axis=1)
        return out

    # ---- the interpolants ----------------------------------------------------------------------
    def _nudged(self, v: np.ndarray, inward: np.ndarray) -> np.ndarray:
        """Levels at ``v``; at panel ends (``inward`` = +1 at a start, -1 at an end) moved by a
        few ulps into the panel, so that a tie of ranks at a critical level takes the panel's
        one-sided limit."""
        lev = self.s * np.sinh(v)
        step = np.maximum(4 * _EPS * np.abs(lev), 1e-300)
        return lev + inward * step

    def _build(self, vlo: float, vhi: float, order: int = XORDER):
        kv = np.arcsinh(self.K / self.s)
        # a critical level just outside the range (by rounding) becomes its end
        vlo = float(np.min(kv[np.abs(kv - vlo) <= 1e-6], initial=vlo))
        vhi = float(np.max(kv[np.abs(kv - vhi) <= 1e-6], initial=vhi))
        n = max(1, math.ceil((vhi - vlo) / LADDER))
        e = np.linspace(vlo, vhi, n + 1)
        kv = kv[(kv > vlo + 1e-6) & (kv < vhi - 1e-6)]
        if kv.size:  # the critical levels as edges, each replacing the regular edges near it
            d = np.min(np.abs(e[1:-1, None] - kv[None, :]), axis=1)
            e = np.unique(np.concatenate([e[[0]], e[1:-1][d > 0.1 * LADDER], kv, e[[-1]]]))
        self.ladder_v = e
        lo, hi = e[:-1], e[1:]
        inward = np.zeros(NCHEB)
        inward[0], inward[-1] = 1.0, -1.0
        dl, dh, dv = [], [], []
        worst = 0.0
        parent = np.full(lo.size, np.inf)
        floors = np.array([self.size.mean, self.size.mean, self.m2])[:, None] * FLOOR
        while lo.size:
            v = lo[:, None] + (hi - lo)[:, None] * (_TN + 1) / 2
            lev = self._nudged(v, np.broadcast_to(inward, v.shape))
            vals = self.level_functions(lev.ravel(), order).reshape(3, *v.shape)
            if not np.all(np.isfinite(vals)):
                raise FloatingPointError("the level functions are not finite")
            c = vals @ _VINV.T
            scale = np.maximum(np.max(np.abs(vals), axis=2), floors)
            tail = np.max(np.max(np.abs(c[:, :, -3:]), axis=2) / scale, axis=0)
            # accepted: resolved, or too narrow, or at the rounding noise of the levels (a small
            # tail that halving the panel no longer reduces; it is counted in the error)
            ok = (tail <= TOL) | ((hi - lo) < 1e-7) | ((tail < 1e-10) & (tail > 0.6 * parent))
            if ok.any():
                worst = max(worst, float(tail[ok].max()))
            dl.append(lo[ok])
            dh.append(hi[ok])
            dv.append(vals[:, ok])
            if sum(a.size for a in dl) + 2 * int((~ok).sum()) > MAX_PANELS:
                raise FloatingPointError("the level functions need too many panels")
            bad = ~ok
            mid = (lo[bad] + hi[bad]) / 2
            lo, hi = np.concatenate([lo[bad], mid]), np.concatenate([mid, hi[bad]])
            parent = np.concatenate([tail[bad], tail[bad]])
        lo = np.concatenate(dl)
        o = np.argsort(lo)
        edges = np.concatenate([lo[o], [np.concatenate(dh)[o][-1]]])
        self.interp = LevelInterp(self.s, edges, np.concatenate(dv, axis=1)[:, o])
        self.interp_error = worst
        # the x' rule's own error: the level functions at a higher order on every sixth panel
        sel = np.arange(0, edges.size - 1, 6)
        v = edges[sel, None] + (edges[sel + 1] - edges[sel])[:, None] * (_TN + 1) / 2
        lev = self._nudged(v, np.broadcast_to(inward, v.shape))
        low = self.level_functions(lev.ravel(), XCHECK).reshape(3, *v.shape)
        hiv = self.interp.values[:, sel]
        scale = np.maximum(np.max(np.abs(hiv), axis=2), floors)
        self.x_error = float(np.max(np.abs(low - hiv) / scale[..., None]))

    def levels(self, lev: np.ndarray, which=(0, 1, 2)) -> np.ndarray:
        """(N, N0, S2) (the rows ``which``) at the levels ``lev``: the interpolants inside their
        range, away from the critical levels (where ranks may tie); the x' rule elsewhere."""
        lev = np.asarray(lev, float)
        out = np.empty((len(which), lev.size))
        v = np.arcsinh(lev / self.s)
        e = self.interp.edges
        inside = np.isfinite(lev) & (v >= e[0]) & (v <= e[-1])
        K = self.K
        if K.size:
            j = np.clip(np.searchsorted(K, lev), 1, K.size - 1) if K.size > 1 else np.zeros(lev.size, int)
            k1, k0 = K[j], K[np.maximum(j - 1, 0)]
            with np.errstate(invalid="ignore"):
                near = (np.abs(lev - k1) <= 1e-12 * np.abs(k1)) | (np.abs(lev - k0) <= 1e-12 * np.abs(k0))
            inside &= ~near
        if inside.any():
            out[:, inside] = self.interp(lev[inside], which)
        rest = ~inside
        if rest.any():
            u, inv = np.unique(lev[rest], return_inverse=True)
            out[:, rest] = self.level_functions(u)[list(which)][:, inv]
        return out

    # ---- the outer rules -----------------------------------------------------------------------
    def _outer_nodes(self, width: float, order: int):
        r"""The outer rule: Gauss-Legendre in log x on panels ``width`` wide in the bulk, with
        the law's breakpoints and the critical sizes as edges (cosine-mapped panels next to
        the critical sizes), graded geometrically towards a finite upper end of the support:
        there :math:`1 - \lambda N(L(x))` is smallest, and at a load near 1 the integrand has
        a pole just beyond the end (PSJF on Uniform(0.5, 1.5) at load 0.9: 2e-10 off without)."""
        crit = [float(c) for c in self.Xcrit if self.lo < c < self.hi]
        edges = log_edges(self.lo, self.hi, width, [*self.bps, *crit], bulk=self.bulk)
        if math.isfinite(self.size.support[1]):
            top = math.log(self.hi)
            grade = top - width * 0.5 ** np.arange(1, 31)
            edges = np.unique(np.concatenate([edges, grade[grade > edges[0]]]))
        ucrit = np.log(crit) if crit else np.empty(0)
        isc = np.isin(edges, ucrit)
        near = (isc[:-1] | isc[1:])[:, None]
        sgl, wgl = _cos_gl(order)
        tgl, vgl = _gl(order)
        sgl, wgl = np.where(near, sgl, tgl), np.where(near, wgl, vgl)
        h = np.diff(edges)
        u = (edges[:-1, None] + h[:, None] * sgl).ravel()
        x = np.exp(u)
        with np.errstate(under="ignore"):
            wx = (h[:, None] * wgl).ravel() * x * np.asarray(self.size.pdf(x), float)
        keep = wx > 0
        return x[keep], wx[keep]

    def _stretches(self, x: np.ndarray):
        """The tagged structure at ``x`` and the levels at the ends of its falling stretches."""
        L, plats, falls, P = self.rk.tagged(x)
        ends = []
        for j, a0, a1 in falls:
            use = a1 > a0
            rows = np.flatnonzero(use)
            if rows.size:
                top = P.s[rows, j]
                bot = self.rk.rank(P.x[rows], np.maximum(a1[rows] * (1 - 4 * _EPS), a0[rows]))
                ends += [top, bot]
        return L, plats, falls, P, ends

    @staticmethod
    def _scale(top: float, bulk: np.ndarray) -> float:
        r"""The scale :math:`s` of the level variable :math:`v = \operatorname{asinh}(\ell / s)`:
        :math:`10^{-13}` of the largest level asked for, and at most :math:`10^{-3}` of the least
        positive waiting level :math:`|L(x)|` of the sizes in the law's bulk (between its
        :math:`10^{-4}` and :math:`1 - 10^{-4}` quantiles), but not below :math:`10^{-100}` of the
        largest level. Below :math:`s` the map is linear, and panels narrower than
        :math:`10^{-7}` in :math:`v` are accepted unresolved; a scale tied to the largest level
        alone put every level a typical job meets into one such panel where the levels span
        more than 20 decades: :math:`(x - a)^2` on Pareto(2.5) sizes asks for levels up to
        1.3e23 from sizes near the rule's upper end 3.6e11, :math:`s` was 1.3e10, the critical
        level 1 (the least size's fresh rank) fell inside the first panel, the interpolants were
        4e-2 off there and :math:`E[T \mid x = 1.5]` 19.7 % low at load 0.8 (:math:`x^2`, PSJF's
        order, on the same law: the mean 8 % low at load 0.5, :math:`E[T \mid x]` up to 33 % off;
        ``tests/test_soap_size_square_rank.py``)."""
        s = 1e-13 * top
        with np.errstate(invalid="ignore"):
            b = np.abs(bulk[np.isfinite(bulk)])
        b = b[b > 0]
        if b.size:
            s = min(s, 1e-3 * float(b.min()))
        return max(s, 1e-100 * top)

    def prepare(self, xs: list[np.ndarray]) -> None:
        """Build the level interpolants over every level the tagged jobs at ``xs`` ask for."""
        levs, bulk = [], []
        self._tag = []
        for x in xs:
            L, plats, falls, P, ends = self._stretches(x)
            self._tag.append((L, plats, falls, P))
            levs += [L] + [lv[ln > 0] for ln, lv in plats] + ends
            bulk.append(L[(x >= self.bulk[0]) & (x <= self.bulk[1])])
        lev = np.concatenate(levs)
        lev = lev[np.isfinite(lev)]
        top = float(np.max(np.abs(lev))) if lev.size else 0.0
        if top == 0.0:
            top = float(self.size.mean)
        self.s = self._scale(top, np.concatenate(bulk))
        vlo = float(np.arcsinh(lev.min() / self.s)) if lev.size else -1.0
        vhi = float(np.arcsinh(lev.max() / self.s)) if lev.size else 1.0
        if vhi - vlo < 1e-9:
            vlo, vhi = vlo - 0.5, vhi + 0.5
        self._build(vlo, vhi)

    def tables(self, x: np.ndarray, wx: np.ndarray, order: int, tag=None) -> _Outer:
        """The load-independent tables of the outer rule (x, wx), residence order ``order``."""
        rk = self.rk
        L, plats, falls, P = tag if tag is not None else rk.tagged(x)
        NL, N0L, S2L = self.levels(L)
        plat_len = np.array([p[0] for p in plats])
        plat_lev = np.array([p[1] for p in plats])
        plat_N = np.zeros_like(plat_len)
        use = plat_len > 0
        if use.any():
            plat_N[use] = self.levels(plat_lev[use], (0,))[0]
        ladder = self.s * np.sinh(self.interp.edges)  # N is one polynomial between these
        sgl, wgl = _cos_gl(order)
        owners, ws, levs = [], [], []
        aff = [[], [], [], []]
        for j, a0, a1 in falls:
            rows = np.flatnonzero(a1 > a0)
            if rows.size == 0:
                continue
            top = P.s[rows, j]
            bot = rk.rank(P.x[rows], np.maximum(a1[rows] * (1 - 4 * _EPS), a0[rows]))
            # a stretch on which the rank is affine in age (SRPT): the residence is
            # (G(top) - G(bottom)) / slope, from the antiderivative of the interpolant
            xr, A0, A1 = P.x[rows], a0[rows], a1[rows]
            r1 = rk.rank(xr, A0 + (A1 - A0) / 3)
            r2 = rk.rank(xr, A0 + 2 * (A1 - A0) / 3)
            beta = (r1 - r2) * 3 / (A1 - A0)
            with np.errstate(invalid="ignore", over="ignore"):
                tol = 1e-13 * np.maximum(np.abs(top), np.abs(bot))
                # (not where the stretch is short against the level's size: G(top) - G(bot)
                # cancels there; 2(x - a) + 1 at x = 1e-12 was 1e-3 off relative, and the
                # slowdown on Weibull(0.5) 8e-9, over its estimate)
                lin = (np.abs(top - beta * (A1 - A0) / 3 - r1) <= tol) & \
                    (np.abs(bot + beta * (A1 - A0) / 3 - r2) <= tol) & (beta > 0) & \
                    np.isfinite(top) & np.isfinite(bot) & \
                    (top - bot > 1e-2 * np.maximum(np.abs(top), np.abs(bot)))
            if lin.any():
                aff[0].append(rows[lin])
                aff[1].append(1 / beta[lin])
                aff[2].append(top[lin])
                aff[3].append(bot[lin])
                rows, top, bot = rows[~lin], top[~lin], bot[~lin]
                if rows.size == 0:
                    continue
            o, w, lev = _cut_fall_nodes(rk, P, rows, j, a0, a1, top, bot, ladder, sgl, wgl)
            owners.append(o)
            ws.append(w)
            levs.append(lev)
        if owners:
            owner = np.concatenate(owners)
            res_w = np.concatenate(ws)
            res_N = self.levels(np.concatenate(levs), (0,))[0]
        else:
            owner, res_w, res_N = np.zeros(0, int), np.zeros(0), np.zeros(0)
        out = _Outer(x, wx, NL, N0L, S2L, plat_len, plat_N, owner, res_w, res_N)
        if aff[0]:
            it = self.interp
            out.aff = (np.concatenate(aff[0]), np.concatenate(aff[1]),
                       it.g_weights(np.concatenate(aff[2])), it.g_weights(np.concatenate(aff[3])))
            out.interp = it
        return out

    def rules(self):
        """The fine and coarse outer tables (cached)."""
        if "rules" not in self._cache:
            res = [FINE, COARSE]
            nodes = [self._outer_nodes(w, o) for w, o in res]
            self.prepare([x for x, _ in nodes])
            self._cache["rules"] = [self.tables(x, wx, o, tag)
                                    for (x, wx), (_, o), tag in zip(nodes, res, self._tag)]
        return self._cache["rules"]

    def conditional(self, x: np.ndarray, lam: float) -> np.ndarray:
        """E[T | X = x] at sizes ``x``."""
        self.rules()
        x = np.atleast_1d(np.asarray(x, float))
        return self.tables(x, np.ones_like(x), 16).conditional(lam)


# ---- the interface of the generic evaluator ------------------------------------------------------------
def supported(model, policy) -> bool:
    """Whether :func:`evaluate` applies: a SOAP policy with the size as descriptor (not a
    Gittins rank) on a continuous size law without atoms with a finite second moment, not
    ``qt.from_scipy``."""
    from ..laws.scipy_size import ScipySize

    size = model.size
    if policy.descriptor != "size" or not policy.soap or policy.law_rank is not None:
        return False
    if size.is_discrete or size.is_mixed or isinstance(size, ScipySize):
        return False
    return math.isfinite(float(size.tail_moment(2, np.array(0.0))))


#: most user ranks whose evaluators one size law keeps (the oldest is dropped)
USER_RANK_CACHE = 8


def _user_key(policy):
    """The cache key of a user rank (:class:`qtheory.Rank`): the rank object, its function and
    its breakpoint function, by identity (a rank object is taken as fixed once evaluated: a
    changed function is a new ``qt.Rank``; a function reassigned on the object is a new key);
    ``None`` for other policies (a user :class:`~qtheory.policies.base.Policy` subclass may
    compute its rank from state of its own)."""
    from ..policies.rank import Rank

    if type(policy) is not Rank:
        return None
    return ("size_soap_user", id(policy), id(policy.fn), id(policy._bp))


def _soap(model, policy) -> SizeSOAP:
    """The evaluator, cached on the size law per built-in policy and per user rank object
    (:func:`_user_key`): the level functions and outer tables do not depend on the load, so a
    sweep or a second load costs the outer sums only."""
    cache = model.size.__dict__.setdefault("_qt_cache", {})
    builtin = type(policy).__dict__.get("_builtin", False)
    user = None if builtin else _user_key(policy)
    key = ("size_soap", policy) if builtin else user
    if key is not None and key in cache:
        hit = cache[key]
        if user is not None:
            hit = hit[-1]    # (the rank, its functions: kept alive so that their ids stay theirs; the value)
        if isinstance(hit, FloatingPointError):
            raise hit
        return hit
    try:
        ev = SizeSOAP(model.size, policy)
        ev.rules()
    except FloatingPointError as e:
        ev = e
    if user is not None:
        users = [k for k in cache if isinstance(k, tuple) and k and k[0] == "size_soap_user"]
        for k in users[:max(len(users) - USER_RANK_CACHE + 1, 0)]:
            del cache[k]
        cache[key] = (policy, policy.fn, policy._bp, ev)
    elif key is not None:
        cache[key] = ev
    if isinstance(ev, FloatingPointError):
        raise ev
    return ev


def evaluate(model, policy, lams) -> ExactResult:
    r"""Mean response time of a size-descriptor rank on a continuous law at each arrival rate,
    with an error estimate: the difference of the two outer resolutions, plus the level
    functions' error (the interpolants' largest kept tail and the x' rule's order-10 check,
    relative, times ten, through :math:`1/(1-\rho)`) and :math:`10^{-13}`, times the value."""
    lams = np.atleast_1d(np.asarray(lams, float))
    ev = _soap(model, policy)
    fine, coarse = ev.rules()
    a = np.array([float(np.sum(fine.wx * fine.conditional(lam))) for lam in lams])
    b = np.array([float(np.sum(coarse.wx * coarse.conditional(lam))) for lam in lams])
    rho = lams * float(model.size.mean)
    lev_err = 10 * (ev.interp_error + ev.x_error) / np.maximum(1 - rho, 1e-300)
    err = np.abs(a - b) + (1e-13 + lev_err) * np.abs(a)
    return ExactResult(a, err, False)


def conditional(model, policy, x) -> np.ndarray:
    """E[T | X = x] at the model's arrival rate."""
    return _soap(model, policy).conditional(x, model.arrival_rate)


def slowdown(model, policy) -> tuple[float, float]:
    r""":math:`E[T/X]` at the model's arrival rate and its error estimate (the two outer rules,
    as :func:`evaluate`). The mass below the rule's lower end (probability :math:`10^{-17}`)
    enters through one node (:func:`~qtheory.laws._quadrature.head_node`); infinite where
    :math:`E[1/X] = \infty` and a job of size near 0 still waits."""
    from ..laws._quadrature import head_node

    ev = _soap(model, policy)
    lam = model.arrival_rate
    if model.size.zero_exponent <= 1.0:
        if float(ev.conditional(np.array([ev.lo]), lam)[0]) > 1e-9 * float(model.size.mean):
            return math.inf, 0.0
    vals = []
    head = head_node(model.size, ev.lo)
    for tab in ev.rules():
        v = float(np.sum(tab.wx * tab.conditional(lam) / tab.x))
        if head is not None:
            v += head[1] * float(ev.conditional(np.array([head[0]]), lam)[0]) / head[0]
        vals.append(v)
    rho = lam * float(model.size.mean)
    lev_err = 10 * (ev.interp_error + ev.x_error) / max(1 - rho, 1e-300)
    return vals[0], abs(vals[0] - vals[1]) + (1e-13 + lev_err) * abs(vals[0])
