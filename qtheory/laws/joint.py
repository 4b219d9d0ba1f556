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
    bulk_range,
    endpoint_refinement,
    head_node,
    log_edges,
    log_rule,
    log_spread,
    panels,
    size_range,
    size_rule,
)

_CHUNK = 256
#: quantiles of a smooth error factor Z whose images x z_q (and x (z_q - 1)) are grid edges
_Z_QUANTILES = (1e-4, 0.005, 0.03, 0.1, 0.2, 0.35, 0.45, 0.55, 0.65, 0.8, 0.9, 0.97, 0.995, 0.9999)
#: panel width of the prediction grids, as a fraction of the laws' log interquartile spread
WIDTH_DIV = 1.0


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
        grid = np.unique(np.concatenate([[0.0], head, geo, pts, pos]))
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
            v, wdv = _with_head(*log_rule(lo, hi, width, bps), lo, extra)
            self.v_kinks = np.unique(np.concatenate([s.breakpoints, extra]))
            self.top = float(s.support[1])
            pdf = s.pdf(v)
            wp, wx = wdv * pdf, wdv * pdf * v
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
        v = np.asarray(v, float)
        return np.where(v > 0, v * v * self.size.sf(v), 0.0)

    def G(self, v):
        return self.size.sf(v)

    def _make_inverse_terms(self):
        v = self.v
        with np.errstate(divide="ignore", invalid="ignore"):
            w_inv = np.where(self.w_prob > 0, self.w_prob / v, 0.0)
        return w_inv, inv_tail(self.size)(v), 0.0


# --------------------------------------------------------------------------------------------
class FactorJoint(Joint):
    r"""Y = X Z with Z independent of X.

    Continuous sizes: integrals over Z of the size law's exact partial moments,
    e.g. :math:`A(v) = E_Z[M_1(v/Z)]`, with the Z panels split where :math:`v/z` crosses a
    breakpoint of the size law. Atomic sizes: exact sums over the atoms of closed forms in Z,
    e.g. :math:`A(v) = \sum_i p_i x_i F_Z(v/x_i)`.
    """

    #: (psi(0), psi'(0), E[X^2; X > h], E[X; X > h]) for the tail of C beyond the size rule
    _c_tail_coef: tuple | None = None

    def __init__(self, size, factor, v_scales=()):
        super().__init__(size)
        self.factor = factor
        s = size
        self.excess = self.mean * factor.excess()
        zlo, zhi = factor.log_range()
        zs = factor.log_spread()
        # the threshold functions kink where v/x crosses a kink k of the factor's law (A, B, f_Y)
        # and where it crosses k - 1 (C and G hold Y - X = X (Z - 1))
        # (``v_scales``: more multipliers m of the size law's breakpoints b such that a caller's
        # own functions of v kink at v = b m, e.g. for limited preemption)
        zk = tuple(factor.kinks) + tuple(k - 1.0 for k in factor.kinks if k > 1.0) + tuple(v_scales)
        #: X-outer (sums over a size rule of closed forms in Z) unless Z has kinks and the
        #: size law is continuous, where Z-outer (integrals over Z of the size law's partial
        #: moments) keeps the integrand smooth
        self.x_outer = s.is_discrete or (not factor.kinks and zs >= log_spread(s.ppf) / 8)
        if s.is_discrete:
            xa = s.atom_values
            lo, hi = xa[0] * math.exp(zlo), xa[-1] * math.exp(zhi)
            width = min(0.5, zs / WIDTH_DIV)
            if factor.kinks:
                bulk = None
            else:
                # the factor's quantiles (1e-4, 1 - 1e-4) around the atoms: at high load
                # 1/(1 - lam A(v)) turns where the prediction's tail load is ~ 1 - rho, far in
                # the tail (Exp factor at load 0.99: v ~ 4.6 x)
                bz = bulk_range(lambda u: np.exp(factor.log_range_q(u)))
                bulk = (xa[0] * min(bz[0], math.exp(zlo / 4)), xa[-1] * max(bz[1], math.exp(zhi / 4)))
            # a factor with kinks (uniform errors): A, B, C, G and f_Y kink at every x_i k, so
            # every atom's kinks are panel edges whatever the number of atoms (dropped beyond 400
            # atoms, SPRPT on the conv trace's 623 sizes was 9.6e-4 high); the cost grows like
            # the square of the atoms (623: 1.1 s, 2000: 6 s, 4000: 15 s)
            bps = [x * k for x in xa for k in zk] if xa.size <= 400 or factor.kinks else []
            if xa.size <= 400 and not factor.kinks:
                # Y - X = x (Z - 1) sweeps v in [0, x (z_q - 1)] near 0 on the scale of Z's
                # spread: quantiles of Z above 1 split the head panel there (a narrow log-normal
                # factor, sigma = 0.02: the SPRPT slowdown was 5.4e-6 off)
                zq = [math.exp(float(factor.log_range_q(u))) for u in _Z_QUANTILES]
                bps += [x * (z - 1.0) for x in xa for z in zq if z > 1.0]
        else:
            xs = log_spread(s.ppf)
            xlo, xhi = size_range(s)
            lo, hi = xlo * math.exp(zlo), xhi * math.exp(zhi)
            # X-outer sums resolve Z's scale on the size grid; Z-outer integrals do so in z
            width = min(0.5, xs / WIDTH_DIV, zs / WIDTH_DIV if self.x_outer else 0.5)
            bx = bulk_range(s.ppf)
            bz = bulk_range(lambda u: np.exp(factor.log_range_q(u)))
            # X-outer: each size node x_i adds a bump x_i f_Z(v / x_i) of log-width ~ zs to the
            # functions of v, also in the tails where the size rule's panels grow: the v panels
            # stay ``width`` wide over the whole range (with the growth outside the bulk, bumps
            # at x ~ 70 on BoundedPareto(2.26, 1/6, 150), sigma 0.07, were integrated 0.9% off
            # and PSPJF was 2.1e-6 high)
            bulk = None if self.x_outer else (bx[0] * bz[0], bx[1] * bz[1])
            bps = [b * k for b in s.breakpoints for k in zk]
            if not factor.kinks and s.breakpoints.size <= 400:
                # a density jump of X at b is smeared by Z over b [z_lo, z_hi] (A, B, f_Y) and
                # b [z_lo - 1, z_hi - 1] (C, G): quantiles of Z place grid edges there (a narrow
                # log-normal factor on Uniform(2.4, 3.6), sigma = 0.01: PSPJF was 8.8e-4 off)
                zq = [math.exp(float(factor.log_range_q(u))) for u in _Z_QUANTILES]
                bps += [b * z for b in s.breakpoints for z in zq]
                bps += [b * (z - 1.0) for b in s.breakpoints for z in zq if z > 1.0]
            if self.x_outer:
                self._xr = size_rule(s, width=width)
                # the size rule's head node (below xlo, standing for E[1/X; X < xlo]) puts a bump
                # x* f_Z(v/x*) below the v grid that its panels cannot integrate (Weibull(1.001)
                # sizes, log-normal factor: 3x E[1/X]): the slowdown weights leave it out and its
                # mass goes to the smallest node (Joint._with_inverse_head)
                self._p_inv = np.where(self._xr[0] >= xlo, self._xr[1], 0.0)
                h = size_range(s)[1]
                psi0 = float(factor.psi(np.zeros(1))[0])
                dpsi0 = 2.0 * factor.excess() - float(factor.pdf(np.zeros(1))[0])
                t2 = float(s.tail_moment(2, h)) if psi0 != 0.0 else 0.0
                t1 = float(s.tail_moment(1, h)) if dpsi0 != 0.0 else 0.0
                self._c_tail_coef = (psi0, dpsi0, t2, t1)
            else:
                self._zedges = log_edges(math.exp(zlo), math.exp(zhi),
                                         min(0.5, zs / WIDTH_DIV), factor.kinks + (1.0,))
                self._sbps = np.asarray(s.breakpoints, float)
                self._xq = np.asarray([s.ppf(p) for p in (1e-4, 1e-2, 0.1, 0.5, 0.9, 0.99,
                                                          1 - 1e-4)])
        if s.is_discrete:
            self._xr = (s.atom_values, s.atom_probs)
            self._p_inv = s.atom_probs
        self._width = width
        self.h_ratio = math.exp(min(math.log(2.0), width))
        self.v_kinks = np.unique(np.asarray(bps, float))
        if math.isfinite(hi) and factor.kinks:
            self.top = float(hi)
            # a bounded prediction: near its top A(v) -> E[X], and at high load the functions of
            # 1 - lam A(v) vary on the scale of the distance to the top (M/D/1 with uniform
            # errors at load 0.99: 48.49 instead of 50.5 without this refinement)
            bps = list(bps) + list(hi * (1 - 0.5 ** np.arange(2, 40, 1.0)))
        v, wdv = _with_head(*log_rule(lo, hi, width, bps, bulk=bulk), lo, bps)
        self.v, self.w_dv = v, wdv
        cols = [np.empty_like(v) for _ in range(6)]
        for i in range(0, v.size, _CHUNK):
            part = self._at(v[i:i + _CHUNK])
            for c, p in zip(cols, part, strict=False):
                c[i:i + _CHUNK] = p
        A, B, C, G, fY, aY = cols
        self.A_lt_v = self.A_le_v = A
        self.B_v, self.C_v, self.G_v = B, C, G
        self.w_prob = wdv * fY
        self.w_x = wdv * aY

    # -- Z-outer machinery (continuous sizes) --------------------------------------------------
    def _znodes(self, v):
        """Per-v Z nodes (V, N) and weights for E_Z[.], split at size breakpoints."""
        v = np.atleast_1d(np.asarray(v, float))
        base = self._zedges
        bps = self._sbps
        pts = np.concatenate([bps, self._xq])
        if pts.size:
            spl = np.concatenate([np.log(v[:, None] / bps[None, :]),
                                  np.log1p(v[:, None] / pts[None, :])], axis=1)
            spl = np.clip(spl, base[0], base[-1])
            edges = np.sort(np.concatenate([np.broadcast_to(base, (v.size, base.size)), spl],
                                           axis=1), axis=1)
        else:
            edges = np.broadcast_to(base, (v.size, base.size))
        u, wu = panels(edges)
        z = np.exp(u)
        return z, wu * z * self.factor.pdf(z)

    def _at(self, v):
        """A, B, C, G, f_Y, a_Y (=E[X; Y in dv]/dv) at the thresholds v."""
        s, f = self.size, self.factor
        v = np.asarray(v, float)
        if self.x_outer:
            xa, pa = self._xr
            t = v[:, None] / xa[None, :]
            Fz, psi, dG, fz = f.x_outer_terms(t)
            A = (Fz * (pa * xa)).sum(1)
            B = (Fz * (pa * xa * xa)).sum(1)
            C = (psi * (pa * xa * xa)).sum(1) + self._c_tail(v)
            G = (dG * pa).sum(1)
            fY = (fz * (pa / xa)).sum(1)
            aY = (fz * pa).sum(1)
            return A, B, C, G, fY, aY
        z, wz = self._znodes(v)
        V = v[:, None]
        c = V / z
        A = (wz * s.partial_moment(1, c)).sum(1)
        B = (wz * s.partial_moment(2, c)).sum(1)
        T0, T1, T2 = (s.tail_moment(k, c) for k in (0, 1, 2))
        le1 = z <= 1.0
        om = 1.0 - z
        # z <= 1: E[(X(1-z) + v)^2 1{X > v/z}] (only the z <= 1 entries are used below; the
        # others may hold 0 * inf when E[X^2] = inf)
        with np.errstate(invalid="ignore"):
            # at z = 1 (a node of a zero-width panel) the (1 - z) terms vanish even where the
            # tail moments are infinite
            C_le = np.where(om == 0, 0.0, om * om * T2 + 2 * V * om * T1) + V * V * T0
        # z > 1: E[(v - X(z-1))^2 1{v/z < X <= v/(z-1)}]
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(le1, np.inf, V / np.where(le1, 1.0, z - 1.0))
        # E[X^k 1{c < X <= d}]: a difference of tails, or of partial moments where the tail is
        # infinite (E[X^2] = inf: only the bounded window matters here)
        with np.errstate(invalid="ignore"):
            D0, D1, D2 = (np.where(np.isinf(Tk), s.partial_moment(k, d) - s.partial_moment(k, c),
                                   Tk - s.tail_moment(k, d))
                          for k, Tk in ((0, T0), (1, T1), (2, T2)))
        zm = z - 1.0
        with np.errstate(invalid="ignore"):
            C_gt = V * V * D0 - 2 * V * zm * D1 + zm * zm * D2
        C = np.where(wz > 0, wz * np.where(le1, C_le, np.maximum(C_gt, 0.0)), 0.0).sum(1)
        G = (wz * (T0 - np.where(le1, 0.0, s.sf(d)))).sum(1)
        fx = s.pdf(c)
        fY = (wz * fx / z).sum(1)
        aY = (wz * fx * c / z).sum(1)
        if s.atom_values.size:  # a mixed law: Y = x_i Z has the density f_Z(v / x_i) / x_i
            fz = self.factor.pdf(V / s.atom_values[None, :])
            fY = fY + (fz * (s.atom_probs / s.atom_values)).sum(1)
            aY = aY + (fz * s.atom_probs).sum(1)
        return A, B, C, G, fY, aY

    def _c_tail(self, v: np.ndarray) -> np.ndarray | float:
        r"""The part of :math:`C(v) = E[X^2 \psi(v/X)]` beyond the top ``h`` of the size rule.

        The rule holds the mass and the first moment to 1e-17, not the second moment of a heavy
        tail (Pareto(2.5): 2e-6 of C is beyond it). For :math:`X > h \gg v`,
        :math:`\psi(v/X) = \psi(0) + \psi'(0) v/X + O((v/X)^2)` with
        :math:`\psi'(0) = 2E[(1-Z)^+] - f_Z(0)`, so the tail is
        :math:`\psi(0) E[X^2; X>h] + \psi'(0) v E[X; X>h]`."""
        if self._c_tail_coef is None:  # discrete sizes or Z-outer sums
            return 0.0
        psi0, dpsi0, t2, t1 = self._c_tail_coef
        if psi0 > 0.0 and math.isinf(t2):
            # E[X^2] = inf and predictions fall short (P(Z < 1) > 0): the old jobs' second
            # intervals X(1 - Z) + v have an infinite second moment at every threshold
            return np.full(np.shape(v), np.inf)
        out = np.zeros(np.shape(v))
        if psi0 != 0.0:
            out = out + psi0 * t2
        if dpsi0 != 0.0:
            out = out + dpsi0 * t1 * np.asarray(v, float)
        return np.maximum(out, 0.0)

    def _inv_at(self, v):
        """(f_Y-weighted E[X^{-1} | Y = v] density, K(v)) at the thresholds ``v``."""
        s, f = self.size, self.factor
        v = np.asarray(v, float)
        if self.x_outer:
            xa, pa = self._xr
            t = v[:, None] / xa[None, :]
            _, _, dG, fz = f.x_outer_terms(t)
            return (fz * (self._p_inv / (xa * xa))).sum(1), (dG * (pa / xa)).sum(1)
        z, wz = self._znodes(v)
        V = v[:, None]
        c = V / z
        it = inv_tail(s)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(z > 1.0, V / np.where(z > 1.0, z - 1.0, 1.0), np.inf)
            K = (wz * (it(c) - np.where(z > 1.0, it(np.where(z > 1.0, d, 0.0)), 0.0))).sum(1)
        inv = (wz * s.pdf(c) / (z * c)).sum(1)
        if s.atom_values.size:
            xa = s.atom_values
            inv = inv + (self.factor.pdf(V / xa[None, :]) * (s.atom_probs / (xa * xa))).sum(1)
        return inv, K

    def _make_inverse_terms(self):
        v = self.v
        dens = np.empty_like(v)
        K = np.empty_like(v)
        step = _CHUNK if self.x_outer else 32
        for i in range(0, v.size, step):
            dens[i:i + step], K[i:i + step] = self._inv_at(v[i:i + step])
        return self.w_dv * dens, K, float(self.factor.excess())

    def A_lt(self, v):
        return self._eval(v, 0)

    def B(self, v):
        return self._eval(v, 1)

    def C(self, v):
        return self._eval(v, 2)

    def G(self, v):
        return self._eval(v, 3)

    def _eval(self, v, k):
        v = np.asarray(v, float)
        flat = np.atleast_1d(v).ravel()
        out = np.empty(flat.size)
        pos = flat > 0
        out[~pos] = 0.0 if k != 3 else 1.0
        idx = np.flatnonzero(pos)
        for i in range(0, idx.size, _CHUNK):
            j = idx[i:i + _CHUNK]
            out[j] = self._at(flat[j])[k]
        return out.reshape(v.shape)


# --------------------------------------------------------------------------------------------
class FactorMapJoint(Joint):
    r"""Deterministic predictions :math:`Y = \phi_k X` for :math:`X \in [e_k, e_{k+1})`:
    every quantity is a finite sum of partial moments of the size law's continuous part, plus
    exact sums over its atoms (a mixed law; the atoms' factors as the sampler assigns them)."""

    def __init__(self, size, edges, factors):
        super().__init__(size)
        s = size
        self.e = np.asarray(edges, float)
        self.phi = np.asarray(factors, float)
        wc, cont = s.continuous_part()
        #: the continuous part (weight, law): (e_k, e_{k+1}] and [e_k, e_{k+1}) agree on it
        self._wc, self._cont = wc, cont
        xa, pa = s.atom_values, s.atom_probs
        piece = np.clip(np.searchsorted(self.e, xa, side="right") - 1, 0, self.phi.size - 1)
        #: atoms of a mixed law: sizes, probabilities, predictions
        self._xa, self._pa, self._ya = xa, pa, xa * self.phi[piece]
        xlo, xhi = size_range(s)
        lo, hi = xlo * self.phi.min(), xhi * self.phi.max()
        width = min(0.5, log_spread(s.ppf) / 4)
        bps = list(s.breakpoints)
        sbps = np.asarray(s.breakpoints, float)
        for k in range(self.phi.size):
            # the piece's ends and the size law's breakpoints inside it, mapped by Y = phi X
            # (kinks of A, B, f_Y) and by Y - X = (phi - 1) X (kinks of C and G)
            inner = sbps[(sbps > self.e[k]) & (sbps < self.e[k + 1])]
            for edge in (self.e[k], self.e[k + 1], *inner):
                if math.isfinite(edge) and edge > 0:
                    bps.append(edge * self.phi[k])
                    if self.phi[k] > 1:
                        bps.append(edge * (self.phi[k] - 1))
        da = self._ya - xa
        bps += list(self._ya) + list(da[da > 0])
        self.v_kinks = np.unique(np.asarray(bps, float))
        if math.isfinite(s.support[1]):
            self.top = float(s.support[1] * self.phi.max())
        v, wdv = _with_head(*log_rule(lo, hi, width, bps), lo, bps)
        fY = np.zeros_like(v)
        aY = np.zeros_like(v)
        for k in range(self.phi.size):
            xk = v / self.phi[k]
            inside = (xk > self.e[k]) & (xk <= self.e[k + 1])
            dens = np.where(inside, s.pdf(xk) / self.phi[k], 0.0)
            fY += dens
            aY += dens * xk
        wp, wx = wdv * fY, wdv * aY
        self._n_cont = v.size
        if xa.size:  # the atoms of Y are point nodes (no dv weight)
            self.y_atoms = np.unique(self._ya)
            v, wdv = np.concatenate([v, self._ya]), np.concatenate([wdv, 0 * xa])
            wp, wx = np.concatenate([wp, pa]), np.concatenate([wx, pa * xa])
        self._fill(v, wdv, wp, wx)
        self.excess = float(np.sum((1 - self.phi).clip(0) * self._between(1, self.e[:-1], self.e[1:]))
                            + np.sum(pa * np.maximum(xa - self._ya, 0.0)))

    def _between(self, k, lo, hi):
        """E[X^k 1{lo < X <= hi}] over the continuous part (0 where hi <= lo)."""
        lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
        if self._cont is None:
            return np.zeros(lo.shape)
        s = self._cont
        ok = hi > lo
        val = s.partial_moment(k, np.where(ok, hi, 0.0)) - s.partial_moment(k, np.where(ok, lo, 0.0))
        return self._wc * np.where(ok, val, 0.0)

    def _grid(self, v):
        v = np.atleast_1d(np.asarray(v, float))[:, None]
        return v, self.e[None, :-1], self.e[None, 1:], self.phi[None, :]

    def _atom_sum(self, v, terms):
        """``sum_i p_i terms(x_i, y_i, v)`` at every threshold (0 without atoms)."""
        v = np.asarray(v, float)
        if not self._xa.size:
            return np.zeros(np.shape(v))
        V = np.atleast_1d(v)[:, None]
        t = terms(self._xa[None, :], self._ya[None, :], V)
        return (self._pa[None, :] * t).sum(1).reshape(np.shape(v))

    def A_lt(self, v):
        V, lo, hi, ph = self._grid(v)
        cont = self._between(1, lo, np.minimum(hi, V / ph)).sum(1).reshape(np.shape(v))
        return cont + self._atom_sum(v, lambda x, y, V: x * (y < V))

    def A_le(self, v):
        V, lo, hi, ph = self._grid(v)
        cont = self._between(1, lo, np.minimum(hi, V / ph)).sum(1).reshape(np.shape(v))
        return cont + self._atom_sum(v, lambda x, y, V: x * (y <= V))

    def B(self, v):
        V, lo, hi, ph = self._grid(v)
        cont = self._between(2, lo, np.minimum(hi, V / ph)).sum(1).reshape(np.shape(v))
        return cont + self._atom_sum(v, lambda x, y, V: x * x * (y <= V))

    def C(self, v):
        V, lo, hi, ph = self._grid(v)
        a = np.maximum(lo, V / ph)
        le1 = ph <= 1
        with np.errstate(divide="ignore"):
            top = np.where(le1, hi, np.minimum(hi, V / np.where(le1, 1.0, ph - 1.0)))
        m0, m1, m2 = (self._between(k, a, top) for k in (0, 1, 2))
        om = 1 - ph
        val = np.maximum(om * om * m2 + 2 * V * om * m1 + V * V * m0, 0.0).sum(1).reshape(np.shape(v))
        return val + self._atom_sum(v, lambda x, y, V: np.where(y > V, np.maximum(x - y + V, 0.0) ** 2, 0.0))

    def G(self, v):
        V, lo, hi, ph = self._grid(v)
        p1 = self._between(0, np.maximum(lo, V / ph), hi)
        with np.errstate(divide="ignore"):
            d = np.where(ph > 1, V / np.where(ph > 1, ph - 1.0, 1.0), np.inf)
        p2 = self._between(0, np.maximum(lo, d), hi)
        cont = (p1 - p2).sum(1).reshape(np.shape(v))
        return cont + self._atom_sum(v, lambda x, y, V: (y > V) * 1.0 - (y - x > V))

    def _make_inverse_terms(self):
        s = self.size
        v = self.v
        dens = np.zeros_like(v)
        for k in range(self.phi.size):
            xk = v / self.phi[k]
            inside = (xk > self.e[k]) & (xk <= self.e[k + 1])
            dens += np.where(inside, s.pdf(xk) / (self.phi[k] * xk), 0.0)
        w_inv = self.w_dv * dens
        w_inv[self._n_cont:] = self._pa / self._xa
        K = self._atom_sum(v, lambda x, y, V: ((y > V) * 1.0 - (y - x > V)) / x)
        exc = float(np.sum(self._pa * np.maximum(1.0 - self._ya / self._xa, 0.0)))
        if self._cont is not None:
            it = inv_tail(self._cont)
            V, lo, hi, ph = self._grid(v)
            k1 = it.between(np.maximum(lo, V / ph), hi)
            with np.errstate(divide="ignore"):
                d = np.where(ph > 1, V / np.where(ph > 1, ph - 1.0, 1.0), np.inf)
            k2 = it.between(np.maximum(lo, d), hi)
            K = K + self._wc * (k1 - k2).sum(1)
            probs = self._between(0, self.e[:-1], self.e[1:])
            exc += float(np.sum((1 - self.phi).clip(0) * probs))
        return w_inv, K, exc


# --------------------------------------------------------------------------------------------
class OneBitJoint(Joint):
    """One bit (Y in {0, 1}) for a continuous size law."""

    def __init__(self, size, bit):
        super().__init__(size)
        s = size
        T = bit.threshold
        self.q_small, self.q_large = bit.p_small_as_large, 1.0 - bit.p_large_as_small
        self.T = T
        m1T, m1 = float(s.partial_moment(1, T)), self.mean
        p_large = self.q_small * float(s.cdf(T)) + self.q_large * float(s.sf(T))
        e1 = self.q_small * m1T + self.q_large * (m1 - m1T)  # E[X; Y=1]
        self.y_atoms = np.array([0.0, 1.0])
        # E[q(X) min(X, 1)]: the integral of G over (0, 1), where A_< is constant
        g_int = self.q_small * self._mm(0, T) + self.q_large * self._mm(T, np.inf)
        v = np.array([0.0, 1.0, 0.5])
        self._fill(v, np.array([0.0, 0.0, 1.0]), np.array([1 - p_large, p_large, 0.0]),
                   np.array([m1 - e1, e1, 0.0]), with_g=False)
        self.G_v = np.array([0.0, 0.0, g_int])
        self.excess = self._excess()

    def _mm(self, lo, hi):
        """E[min(X, 1) 1{lo < X <= hi}]."""
        s = self.size
        c = min(1.0, hi)
        part = 0.0
        if c > lo:
            part += float(s.partial_moment(1, c) - s.partial_moment(1, lo))
        a = max(lo, 1.0)
        if hi > a:
            part += float(s.cdf(hi) - s.cdf(a)) if math.isfinite(hi) else float(s.sf(a))
        return part

    def _excess(self):
        # E[(X - Y)^+] = E[X (1 - q)] + E[(X - 1)^+ q]
        s = self.size
        T = self.T
        m1T = float(s.partial_moment(1, T))
        e0 = (1 - self.q_small) * m1T + (1 - self.q_large) * (self.mean - m1T)
        return e0 + self.q_small * self._tail_between(1.0, 0.0, T, 1) \
            + self.q_large * self._tail_between(1.0, T, np.inf, 1)

    def _tail_between(self, s_, lo, hi, power):
        """E[((X - s_)^+)^power 1{lo < X <= hi}] for power 1 or 2."""
        s = self.size
        a = max(lo, s_)
        if not hi > a:
            return 0.0

        def tm(k, x):
            return float(s.tail_moment(k, x)) if math.isfinite(x) else 0.0

        t = [tm(k, a) - tm(k, hi) for k in range(3)]
        if power == 1:
            return t[1] - s_ * t[0]
        return max(t[2] - 2 * s_ * t[1] + s_ * s_ * t[0], 0.0)

    def _make_inverse_terms(self):
        s, T = self.size, self.T
        it = inv_tail(s)
        qs, ql = self.q_small, self.q_large
        inv_s, inv_l = float(it.between(0.0, T)), float(it(T))  # E[1/X; X <= T], E[1/X; X > T]
        w_inv = np.array([(1 - qs) * inv_s + (1 - ql) * inv_l, qs * inv_s + ql * inv_l, 0.0])

        def min_inv(lo, hi):  # E[min(1, 1/X) 1{lo < X <= hi}]
            c = min(1.0, hi)
            out = float(s.cdf(c) - s.cdf(lo)) if c > lo else 0.0
            return out + float(it.between(max(lo, 1.0), hi))

        def excess_inv(lo, hi):  # E[(1 - 1/X)^+ 1{lo < X <= hi}]
            a = max(lo, 1.0)
            if not hi > a:
                return 0.0
            p = (float(s.cdf(hi)) if math.isfinite(hi) else 1.0) - float(s.cdf(a))
            return p - float(it.between(a, hi))

        # A_< is constant on (0, 1): only the integral of K over (0, 1) matters,
        # int_0^1 K = E[X^{-1} min(X, Y)] = E[min(1, 1/X); Y = 1]
        k_int = qs * min_inv(0.0, T) + ql * min_inv(T, np.inf)
        exc = (1 - qs) * float(s.cdf(T)) + (1 - ql) * float(s.sf(T)) \
            + qs * excess_inv(0.0, T) + ql * excess_inv(T, np.inf)
        return w_inv, np.array([0.0, 0.0, k_int]), exc

    def _piece(self, v, k, strict):
        """E[X^k 1{Y < v}] (strict) or E[X^k 1{Y <= v}]."""
        s = self.size
        T = self.T
        mk = float(s.moment(k))
        mkT = float(s.partial_moment(k, T))
        # Y = 0; a zero error rate adds nothing even when the tail moment is infinite
        small = (1 - self.q_small) * mkT
        if self.q_large < 1:
            small += (1 - self.q_large) * float(s.tail_moment(k, T))
        v = np.asarray(v, float)
        in0 = v > 0 if strict else v >= 0
        in1 = v > 1 if strict else v >= 1
        return np.where(in1, mk, np.where(in0, small, 0.0))

    def A_lt(self, v):
        return self._piece(v, 1, True)

    def A_le(self, v):
        return self._piece(v, 1, False)

    def B(self, v):
        return self._piece(v, 2, False)

    def C(self, v):
        v = np.atleast_1d(np.asarray(v, float))
        out = np.zeros(v.shape)
        for i, vv in enumerate(v.ravel()):
            tot = 0.0
            if vv < 1:  # jobs with Y = 1 > v: second interval starts at age 1 - v
                sh = 1.0 - vv
                tot += self.q_small * self._tail_between(sh, 0.0, self.T, 2)
                tot += self.q_large * self._tail_between(sh, self.T, np.inf, 2)
            if vv < 0:
                sh = -vv
                tot += (1 - self.q_small) * self._tail_between(sh, 0.0, self.T, 2)
                tot += (1 - self.q_large) * self._tail_between(sh, self.T, np.inf, 2)
            out.flat[i] = tot
        return out


# --------------------------------------------------------------------------------------------
class EmpiricalJoint(Joint):
    """A discrete joint law of (X, Y): all sums exact (O(n log n))."""

    def __init__(self, x, y, w):
        from .sizes import Empirical

        x = np.asarray(x, float)
        y = np.asarray(y, float)
        w = np.asarray(w, float)
        super().__init__(Empirical(x, weights=w))
        self.x, self.y, self.w = x, y, w
        oy = np.argsort(y, kind="stable")
        self._ys = y[oy]
        self._c1 = np.concatenate([[0.0], np.cumsum((w * x)[oy])])
        self._c2 = np.concatenate([[0.0], np.cumsum((w * x * x)[oy])])
        self._c0 = np.concatenate([[0.0], np.cumsum(w[oy])])
        # for C(v) = sum_{d < v} w (v-d)^2 - sum_{y <= v} w (v-d)^2, d = y - x
        d = y - x
        od = np.argsort(d, kind="stable")
        self._ds = d[od]
        self._d0 = np.concatenate([[0.0], np.cumsum(w[od])])
        self._d1 = np.concatenate([[0.0], np.cumsum((w * d)[od])])
        self._d2 = np.concatenate([[0.0], np.cumsum((w * d * d)[od])])
        self._yd0 = self._c0
        self._yd1 = np.concatenate([[0.0], np.cumsum((w * d)[oy])])
        self._yd2 = np.concatenate([[0.0], np.cumsum((w * d * d)[oy])])
        self.excess = float(np.sum(w * np.maximum(x - y, 0.0)))
        ya, inv = np.unique(y, return_inverse=True)
        self.y_atoms = ya
        wp = np.bincount(inv, weights=w, minlength=ya.size)
        wx = np.bincount(inv, weights=w * x, minlength=ya.size)
        cuts = np.unique(np.concatenate([[0.0], ya, d[d > 0]]))
        mids = 0.5 * (cuts[:-1] + cuts[1:])
        lens = np.diff(cuts)
        z1, z2 = np.zeros(ya.size), np.zeros(mids.size)
        v = np.concatenate([ya, mids])
        self._fill(v, np.concatenate([z1, lens]), np.concatenate([wp, z2]),
                   np.concatenate([wx, z2]))

    def _make_inverse_terms(self):
        x, y, w = self.x, self.y, self.w
        ya, inv = np.unique(y, return_inverse=True)
        w_atoms = np.bincount(inv, weights=w / x, minlength=ya.size)
        w_inv = np.concatenate([w_atoms, np.zeros(self.v.size - ya.size)])
        # K(v) = sum w/x (1{y > v} - 1{y - x > v}) at every node (piecewise constant between
        # the cuts, so the sums at the interval midpoints are exact)
        oy = np.argsort(y, kind="stable")
        cy = np.concatenate([np.cumsum((w / x)[oy][::-1])[::-1], [0.0]])
        d = y - x
        od = np.argsort(d, kind="stable")
        cd = np.concatenate([np.cumsum((w / x)[od][::-1])[::-1], [0.0]])
        v = self.v
        K = cy[np.searchsorted(y[oy], v, side="right")] - cd[np.searchsorted(d[od], v, side="right")]
        exc = float(np.sum(w * np.maximum(1.0 - y / x, 0.0)))
        return w_inv, np.maximum(K, 0.0), exc

    def _cum(self, c, v, strict):
        idx = np.searchsorted(self._ys, v, side="left" if strict else "right")
        return c[idx]

    def A_lt(self, v):
        return self._cum(self._c1, np.asarray(v, float), True)

    def A_le(self, v):
        return self._cum(self._c1, np.asarray(v, float), False)

    def B(self, v):
        return self._cum(self._c2, np.asarray(v, float), False)

    def C(self, v):
        v = np.asarray(v, float)
        i = np.searchsorted(self._ds, v, side="left")  # d < v
        first = v * v * self._d0[i] - 2 * v * self._d1[i] + self._d2[i]
        j = np.searchsorted(self._ys, v, side="right")  # y <= v
        second = v * v * self._yd0[j] - 2 * v * self._yd1[j] + self._yd2[j]
        return np.maximum(first - second, 0.0)

    def G(self, v):
        v = np.asarray(v, float)
        p_y = 1.0 - self._c0[np.searchsorted(self._ys, v, side="right")]
        p_d = 1.0 - self._d0[np.searchsorted(self._ds, v, side="right")]
        return p_y - p_d
