r"""The joint law of (size X, prediction Y) in the form the SOAP engine consumes.

For a threshold :math:`v` on the prediction the prediction-based SOAP formulas need
(Mitzenmacher, ITCS 2020; Scully, Harchol-Balter, Scheller-Wolf, SIGMETRICS 2018):

.. math::
    A_<(v) = E[X 1\{Y < v\}],\quad A_\le(v) = E[X 1\{Y \le v\}],\quad
    B(v) = E[X^2 1\{Y \le v\}],\\
    C(v) = E[((X - (Y - v))^+)^2\, 1\{Y > v\}],\quad
    G(v) = P(Y > v) - P(Y - X > v),\quad E[(X - Y)^+].

Every joint law evaluates them on one grid of nodes :math:`v_j` that carries three weight
vectors: ``w_dv`` (for :math:`\int_0^\infty g(v)\,dv`), ``w_prob`` (for :math:`E[g(Y)]`) and
``w_x`` (for :math:`E[X g(Y)]`). The grid and the quantities do not depend on the arrival rate,
so a sweep over loads reuses them. Atoms of Y are nodes with point weights; continuous parts use
composite Gauss-Legendre panels in :math:`\log v`. Discrete joint laws are summed exactly.

Derivation: ``docs/soap_predictions.md`` (section 7, the threshold functions).
"""

from __future__ import annotations

import math

import numpy as np

from ._quadrature import (
    _bulk,
    _underflow_panels,
    endpoint_refinement,
    head_node,
    log_edges,
    log_spread,
    panels,
    size_range,
    tail_node,
)

_CHUNK = 256


def _with_head(v, w, lo, breakpoints=()):
    """Prepend Gauss-Legendre panels on [0, lo] (linear in v), split at the ``breakpoints``
    below ``lo``: integrals over dv of functions that do not vanish below the smallest
    prediction (such as P(Y > v) = 1) need it, and functions of Y - X kink there."""
    if lo <= 0:
        return v, w
    inner = sorted({float(b) for b in breakpoints if 0 < b < lo})
    edges = [0.0]
    for a, b in zip([*inner], [*inner[1:], lo]):
        # above the first breakpoint the functions of v can be powers of v (a bounded Pareto's
        # E[X^-1; X > 10 v] ~ v^-2.1 between 1/30 and 0.3): panels of ratio <= 1.5 there
        n = max(1, math.ceil(math.log(b / a) / math.log(1.5)))
        edges += list(a * (b / a) ** (np.arange(n) / n))
    t, tw = panels(np.array([*edges, lo]))
    return np.concatenate([t, v]), np.concatenate([tw, w])


class InvTail:
    r""":math:`E[X^{-1} 1\{X > c\}]` of a size law, vectorised in ``c`` (for mean slowdowns).

    Discrete laws: exact cumulative sums. Continuous laws: Gauss-Legendre panels in
    :math:`u = \log x` (where :math:`E[X^{-1} g(X)] = \int f(e^u) g(e^u)\,du`) on the size law's
    own panel edges (breakpoints and the refinement at a finite upper support end are edges),
    summed from the top into a table; a threshold inside a panel adds one partial panel. Mass
    below :func:`~qtheory.laws._quadrature.size_range`'s lower end (probability 1e-17) is left out.
    """

    def __init__(self, size):
        self.size = size
        if size.is_discrete:
            xa, pa = size.atom_values, size.atom_probs
            self._xa = xa
            # suffix sums: S[i] = sum_{j >= i} p_j / x_j
            self._suf = np.concatenate([np.cumsum((pa / xa)[::-1])[::-1], [0.0]])
            return
        lo, hi = size_range(size)
        wd = min(0.5, log_spread(size.ppf) / 4)
        u = log_edges(lo, hi, wd, endpoint_refinement(size), bulk=_bulk(size, lo, hi))
        self._u = u
        nodes, w = panels(u)
        part = (w * size.pdf(np.exp(nodes))).reshape(u.size - 1, -1).sum(1)
        self._suf = np.concatenate([np.cumsum(part[::-1])[::-1], [0.0]])
        head = head_node(size, lo)
        #: E[1/X; X < lo] (see :func:`~qtheory.laws._quadrature.head_node`)
        self._head = head[1] / head[0] if head is not None else 0.0
        # the atoms of a mixed law: exact suffix sums added at every threshold
        xa, pa = size.atom_values, size.atom_probs
        self._xa = xa
        self._asuf = np.concatenate([np.cumsum((pa / xa)[::-1])[::-1], [0.0]])

    def __call__(self, c):
        r""":math:`E[X^{-1} 1\{X > c\}]` (``c`` may be an array; ``c <= 0`` gives :math:`E[1/X]`)."""
        c = np.asarray(c, float)
        if self.size.is_discrete:
            return self._suf[np.searchsorted(self._xa, c, side="right")]
        u = self._u
        with np.errstate(divide="ignore"):
            uc = np.log(np.where(c > 0, c, 0.0))
        uc = np.clip(uc, u[0], u[-1])
        j = np.clip(np.searchsorted(u, uc, side="right") - 1, 0, u.size - 2)
        top = u[j + 1]
        nodes, w = panels(np.stack([uc, top], axis=-1))
        head = np.sum(w * self.size.pdf(np.exp(nodes)), axis=-1)
        cont = np.where(uc >= u[-1], 0.0, head + self._suf[j + 1])
        if self._head:
            cont = cont + np.where(c < np.exp(u[0]), self._head, 0.0)
        if self._xa.size:
            cont = cont + self._asuf[np.searchsorted(self._xa, c, side="right")]
        return cont

    def between(self, lo, hi):
        r""":math:`E[X^{-1} 1\{lo < X \le hi\}]` (0 where ``hi <= lo``; ``hi`` may be inf)."""
        lo = np.asarray(lo, float)
        hi = np.asarray(hi, float)
        val = self(lo) - np.where(np.isfinite(hi), self(np.where(np.isfinite(hi), hi, 0.0)), 0.0)
        return np.where(hi > lo, np.maximum(val, 0.0), 0.0)


def inv_tail(size) -> InvTail:
    """The :class:`InvTail` of a size law, cached on the law."""
    cache = size.__dict__.setdefault("_qt_cache", {})
    if "inv_tail" not in cache:
        cache["inv_tail"] = InvTail(size)
    return cache["inv_tail"]


class Joint:
    r"""Base class: node grid plus the threshold functions at the nodes.

    For mean slowdowns a joint law also provides (:meth:`inverse_terms`, on the same nodes)
    ``w_inv`` (weights for :math:`E[X^{-1} g(Y)]`), ``K_v`` with
    :math:`K(v) = E[X^{-1}(1\{Y > v\} - 1\{Y - X > v\})]` (the slowdown analogue of ``G``) and
    :math:`E[(1 - Y/X)^+]`.
    """

    v: np.ndarray
    w_dv: np.ndarray
    w_prob: np.ndarray
    w_x: np.ndarray
    A_lt_v: np.ndarray
    A_le_v: np.ndarray
    B_v: np.ndarray
    C_v: np.ndarray
    G_v: np.ndarray
    excess: float
    #: values of Y where A_< jumps (atoms of Y)
    y_atoms: np.ndarray = np.empty(0)
    #: thresholds v where A_<(v) has a kink (support ends of X times kinks of the error factor)
    v_kinks: np.ndarray = np.empty(0)
    #: the top of the support of Y where it is bounded and A_< continuous up to it (else inf)
    top: float = math.inf
    #: ratio of the geometric grid of :meth:`H_many` (at most the scale on which A_< varies:
    #: a narrow error factor on atomic sizes makes A_< rise within 10% of each atom)
    h_ratio: float = 2.0

    def __init__(self, size):
        self.size = size
        self.mean = float(size.mean)
        self.m2 = float(size.moment(2))

    # functions at arbitrary thresholds, vectorised
    def A_lt(self, v):
        raise NotImplementedError

    def A_le(self, v):
        return self.A_lt(v)

    def B(self, v):
        raise NotImplementedError

    def C(self, v):
        raise NotImplementedError

    def _fill(self, v, w_dv, w_prob, w_x, with_g=True):
        self.v, self.w_dv, self.w_prob, self.w_x = v, w_dv, w_prob, w_x
        self.A_lt_v = self.A_lt(v)
        self.A_le_v = self.A_le(v)
        self.B_v = self.B(v)
        self.C_v = self.C(v)
        if with_g:
            self.G_v = self.G(v)

    def G(self, v):
        raise NotImplementedError

    def inverse_terms(self) -> tuple[np.ndarray, np.ndarray, float]:
        """``(w_inv, K_v, E[(1 - Y/X)^+])`` on the node grid (cached)."""
        if not hasattr(self, "_inv_terms"):
            w_inv, K, exc = self._make_inverse_terms()
            self._inv_terms = (self._with_inverse_head(w_inv), K, exc)
        return self._inv_terms

    def _with_inverse_head(self, w_inv: np.ndarray) -> np.ndarray:
        r"""``w_inv`` with the mass of :math:`E[X^{-1}]` that the node grid misses near
        :math:`y = 0` put on the smallest node.

        When the size density is positive at 0 (or singular, :math:`f(x) \sim x^{p-1}` with
        :math:`1 < p < 2`), :math:`E[X^{-1} 1\{Y \in dv\}]` behaves like :math:`v^{p-2}\,dv`:
        panels linear in :math:`v` on :math:`[0, lo]` miss most of it when :math:`p` is near 1
        (Weibull(1.018) sizes with a bounded multiplicative factor: 45% of :math:`E[1/X]`).
        The total is known exactly, :math:`\sum_i w_i = E[1/X]` (:class:`InvTail` at 0, its
        own head node included), and the terms it multiplies are continuous at :math:`v = 0`
        (:math:`d(v) \to 1`, :math:`B(v) \to 0`), so the missing mass goes to the node nearest
        0 with an error :math:`O(v_{\min})`."""
        s = self.size
        if s.is_discrete or s.support[0] > 0 or not w_inv.size:
            return w_inv
        total = float(inv_tail(s)(0.0))
        missing = total - float(np.sum(w_inv))
        if not (math.isfinite(total) and missing > 0):
            return w_inv
        w_inv = np.array(w_inv, float)
        w_inv[int(np.argmin(self.v))] += missing
        return w_inv

    def _make_inverse_terms(self):
        raise NotImplementedError(f"{type(self).__name__} has no slowdown terms")

    def _level_points(self, lam: float, top: float) -> np.ndarray:
        r"""Thresholds below ``top`` where :math:`u(v) = 1 - \lambda A_<(v)` crosses the levels
        :math:`U_k = 0.8^k` (interpolated on the node grid), so that the integrand
        :math:`1/u` of :meth:`H_many` changes by at most 25% on a panel. Without them a law
        whose load piles up on a short stretch (Weibull(2.95) at load 0.84: :math:`1/u` from
        1.2 to 6 within a factor 2 of :math:`v`) left SRPT's :math:`E[T \mid x]` 1.2e-8 off."""
        if not (lam > 0) or self.v.size < 2:
            return np.empty(0)
        order = np.argsort(self.v, kind="stable")
        v, a = self.v[order], np.maximum.accumulate(self.A_lt_v[order])
        u_min = 1.0 - lam * float(a[-1])
        if not (0.0 < u_min < 0.8):
            return np.empty(0)
        k = np.arange(1.0, math.floor(math.log(u_min) / math.log(0.8)) + 1.0)
        levels = (1.0 - 0.8 ** k) / lam  # values of A_< at the crossings, increasing
        pts = np.interp(levels, a, v)
        return pts[(pts > 0) & (pts < top)]

    def H(self, lo: float, hi: float, lam: float) -> float:
        r""":math:`\int_{lo}^{hi} dv / (1 - \lambda A_<(v))` (one interval; see :meth:`H_many`)."""
        return float(self.H_many(np.array([lo]), np.array([hi]), lam)[0])

    def H_many(self, lo, hi, lam: float) -> np.ndarray:
        r""":meth:`H` for arrays of intervals at once: the cumulative integral
        :math:`R(v) = \int_0^v dt/(1-\lambda A_<(t))` at every end point, from Gauss-Legendre
        panels between consecutive points of {end points, atoms of Y, kinks of :math:`A_<`,
        a geometric grid of ratio :attr:`h_ratio`} (so every panel is smooth and spans at most
        that factor), and
        :math:`H = R(hi) - R(lo)` (0 where ``hi <= lo``; ends below 0 count from 0)."""
        lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
        a = np.maximum(lo, 0.0)
        b = np.maximum(hi, 0.0)
        ends = np.concatenate([a.ravel(), b.ravel()])
        pos = ends[ends > 0]
        if pos.size == 0:
            return np.zeros(lo.shape)
        top = float(pos.max())
        low = float(pos.min())
        pts = np.concatenate([self.y_atoms, self.v_kinks])
        if math.isfinite(self.top):
            # 1/(1 - lam A_<) continues analytically to a pole just above a bounded support's
            # top at high load: panels shrink geometrically towards the top
            pts = np.concatenate([pts, self.top * (1 - 0.5 ** np.arange(1, 50, 1.0))])
        pts = pts[(pts > 0) & (pts < top)]
        # the geometric grid reaches down to where A_< starts to rise (its smallest grid node
        # with A_< > 0), below which the integrand is 1
        rising = self.v[(self.v > 0) & (self.A_lt_v > 0)]
        if rising.size:
            low = min(low, float(rising.min()))
        r = self.h_ratio
        n = max(1, math.ceil(math.log(top / low) / math.log(r)) + 1) if low < top else 1
        geo = top * r ** -np.arange(n + 1.0)
        head = low * np.geomspace(1e-14, 1.0, 40)  # down towards 0, where A_< -> 0
        grid = np.unique(np.concatenate([[0.0], head, geo, pts, pos, self._level_points(lam, top)]))
        nodes, w = panels(grid[None, :], 10)
        vals = w[0] / (1.0 - lam * self.A_lt(nodes[0]))
        cum = np.concatenate([[0.0], np.cumsum(vals.reshape(grid.size - 1, -1).sum(1))])
        R = cum[np.searchsorted(grid, ends)]
        Ra, Rb = R[:a.size].reshape(a.shape), R[a.size:].reshape(b.shape)
        return np.where(b > a, Rb - Ra, 0.0)


# --------------------------------------------------------------------------------------------
class PerfectJoint(Joint):
    """Y = X.  ``v_scales``: multipliers m of the size law's breakpoints b such that a caller's
    own functions of the threshold kink at v = b m (continuous laws; e.g. limited preemption's
    window (v, v/(1-c)] at v = b(1-c))."""

    def __init__(self, size, v_scales=()):
        super().__init__(size)
        s = size
        if s.is_discrete:
            xa, pa = s.atom_values, s.atom_probs
            edges = np.concatenate([[0.0], xa])
            mids = 0.5 * (edges[:-1] + edges[1:])
            lens = np.diff(edges)
            v = np.concatenate([xa, mids])
            z = np.zeros(xa.size)
            self.y_atoms = xa
            self._fill(v, np.concatenate([z, lens]), np.concatenate([pa, z]),
                       np.concatenate([pa * xa, z]))
        else:
            lo, hi = size_range(s)
            width = min(0.5, log_spread(s.ppf) / 4)
            extra = [b * m for b in s.breakpoints for m in v_scales]
            bps = np.concatenate([endpoint_refinement(s), extra])
            edges = log_edges(lo, hi, width, bps)
            u, wu = panels(edges)
            x = np.exp(u)
            # the same nodes and dv weights as log_rule; panels where the density underflows
            # (heavy power tails) take their probability weights from the exact panel mass and
            # mean (_underflow_panels), as in size_rule
            fx = s.pdf(x)
            px = _underflow_panels(s, edges, wu * x * fx, fx)
            v, wdv = _with_head(x, wu * x, lo, extra)
            self.v_kinks = np.unique(np.concatenate([s.breakpoints, extra]))
            self.top = float(s.support[1])
            pdf = s.pdf(v[:v.size - x.size])
            wp = np.concatenate([wdv[:v.size - x.size] * pdf, px])
            wx = wp * v
            tail = tail_node(s, hi)
            if tail is not None:
                # the mass beyond a capped range (Pareto(1.02): 2.5e-6 of E[X] beyond 1e280) as
                # one node: probability P(X > hi) and mean E[X; X > hi] exactly, and dv weight
                # such that G dv there integrates to int_hi^inf P(X > t) dt = E[(X - hi)^+]
                xs, ps = tail
                g = float(s.sf(xs))
                if g > 0:
                    v, wdv = np.concatenate([v, [xs]]), np.concatenate([wdv, [ps * (xs - hi) / g]])
                    wp, wx = np.concatenate([wp, [ps]]), np.concatenate([wx, [ps * xs]])
            xa, pa = s.atom_values, s.atom_probs
            if xa.size:  # a mixed law: its atoms are atoms of Y (point nodes, no dv weight)
                self.y_atoms = xa
                v, wdv = np.concatenate([v, xa]), np.concatenate([wdv, 0 * xa])
                wp, wx = np.concatenate([wp, pa]), np.concatenate([wx, pa * xa])
            self._fill(v, wdv, wp, wx)
        self.excess = 0.0

    def A_lt(self, v):
        return self.size.partial_moment(1, v, strict=True)

    def A_le(self, v):
        return self.size.partial_moment(1, v)

    def B(self, v):
        return self.size.partial_moment(2, v)

    def C(self, v):
        return self.size.power_sf(2, np.asarray(v, float))

    def G(self, v):
        return self.size.sf(v)

    def _make_inverse_terms(self):
        v = self.v
        with np.errstate(divide="ignore", invalid="ignore"):
            w_inv = np.where(self.w_prob > 0, self.w_prob / v, 0.0)
        return w_inv, inv_tail(self.size)(v), 0.0


# the concrete joint laws live in their own modules and are re-exported here (imported last:
# they build on Joint above)
from .discrete_joint import EmpiricalJoint, OneBitJoint  # noqa: E402
from .factor_joint import FactorJoint, FactorMapJoint  # noqa: E402

__all__ = ["Joint", "PerfectJoint", "FactorJoint", "FactorMapJoint", "OneBitJoint", "EmpiricalJoint",
           "InvTail", "inv_tail"]
