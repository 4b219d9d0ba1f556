r"""Response-time and waiting-time distributions of a size-descriptor SOAP rank (a
:class:`~qtheory.policies.Rank` with ``descriptor="size"``: a rank :math:`r(x, a)` known from the
job's size, piecewise monotone in age between its ``breakpoints``) on a continuous size law.

SOAP's decomposition (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018, Section 5;
``docs/response_time_distribution.md`` sections 1 and 6) for a job of size :math:`x` with worst
future rank :math:`W_x(a) = \sup_{a \le b < x} r(x, b)` and :math:`L = W_x(0)`:

.. math::
    E[e^{-sT}\mid x] = \tilde V_L\big(\eta_L(s)\big)\,
        \exp\Big(-\int_0^x \eta_{W_x(a)}(s)\,da\Big),\qquad
    \eta_v(s) = s + \lambda E\big[1 - e^{-\eta_v(s) X^{new}[v]}\big],

.. math::
    \tilde V_L(u) = \frac{(1 - \rho_0 - \sum_{i\ge1}\rho_i)\,u
        + \lambda\sum_{i\ge1} E[1 - e^{-uX^{old}_i[L]}]}{u - \lambda E[1 - e^{-uX^{old}_0[L]}]}.

For a size rank every job's path is deterministic given its size :math:`x'`: the new-job work is
:math:`X^{new}[v] = \min(x', c_{x'}(v))` with :math:`c_{x'}(v) = \inf\{a : r(x', a) \ge v\}`, and
the old pieces :math:`X^{old}_i[L]` are the lengths of the components :math:`[b_i, c_i)` of
:math:`\{a < x' : r(x', a) \le L\}` (component 0 the one that holds age 0). Every transform
:math:`E[1 - e^{-uX^{new}[v]}]`, :math:`E[1 - e^{-uX^{old}_i[L]}]` is an integral over the size
:math:`x'` of an exponential of a deterministic function of :math:`x'`, whose form changes at the
sizes where one of the rank's *critical functions* (its value at age 0, at either side of every
piece end, at every breakpoint) equals the level: those sizes are located as in
:mod:`qtheory.engine.soap_size` (its rank structure, crossings and critical functions are reused)
and made panel ends of a composite Gauss-Legendre rule in :math:`\log x'` (cosine-mapped next to a
located size). Writing :math:`u - \lambda\psi_0(u) = s + \lambda(\psi^{new}(u) - \psi_0(u))` at
:math:`u = \eta_L(s)` (Kendall's equation) leaves only the sizes where the two pieces differ in the
denominator, so that PSJF's and SRPT's delays (where they agree) have no cancellation.

The residence is a sum over the plateaus of :math:`W_x` (constant level: length times
:math:`\eta_v(s) - s`) and its falling stretches, where :math:`W_x(a) = r(x, a)`: Gauss-Legendre
rules in age, cut where the rank crosses the level panels of :mod:`qtheory.engine.soap_size`'s
level interpolants. For one job class Kendall's equation is solved at every level the class
needs. For the unconditional law (classes on the outer rule of
:class:`~qtheory.engine.soap_size.SizeSOAP`), the falling stretches take :math:`\eta_v(s)` from a
grid of levels (Chebyshev-Lobatto points on panels :data:`GRID_WIDTH` wide in
:math:`\operatorname{asinh}(v / v_0)`, the critical levels among their ends) through fixed
Lagrange weights: :math:`\int \eta_{r(x, a)}(s)\,da = \sum_k M_{xk}\,\eta_{v_k}(s)`.

Means and second moments come from the same pieces in closed form (busy-period cumulants, as
:mod:`qtheory.engine.response_distribution_blind`), not from the inversion.

Measured (``tests/test_distribution_size_ranks.py``, Exp(1) sizes at load 0.8): PSJF's and SRPT's
ranks written as a ``qt.Rank`` against their closed-form distributions, classes x = 0.3, 1, 4:
the transform at the Euler nodes within 4e-16 (PSJF) and 1e-16 (SRPT), the cdf within 4e-10 and
1.6e-9; unconditional: cdf within 2.7e-9 (PSJF) and 4.4e-9 (SRPT), p99 1e-9 relative; means and
second moments 1e-15 relative; user ranks' means within 2e-14 of
:mod:`qtheory.engine.soap_size`'s; a tie on a flat level shared by many sizes
(:math:`\max(1, x - a)`) equal to its closed-form transform to the last digit. Cost (CPU, one
core of a loaded machine): p99 of the unconditional law 2.8 s (PSJF's rank), 3.0 s (a falling
then rising rank), 11 s (SRPT's rank: 2900 levels, most on the falling stretches' grid); one class
0.1-0.2 s, 3.5 s for SRPT's rank (about 1100 levels along its falling stretch).

A class (or its waiting time) whose transform is that of PSJF's, SRPT's or SJF's class takes
that class's split at its kinks :math:`x, 2x, 3x` (:func:`kink_split`,
:mod:`qtheory.engine._class_kinks`): PSJF's rank, class 0.3, within 5e-11 of the closed form
there (inverted whole: 6e-5 off); other classes are inverted whole (next to their kinks the cdf
can be 1e-4 off: the kinks of a general rank's class lie where its level laws' densities jump).

Not covered (:func:`supported` is false, or :class:`Unsupported` is raised; the caller keeps the
discretised approximation): laws with atoms, ``qt.from_scipy`` laws, an infinite second moment,
ranks whose structure :mod:`qtheory.engine.soap_size` cannot follow, and one job class whose
new-job work has an atom on a plateau (a rank constant in the size over a range of sizes, e.g. FB
written as a size rank: the class's law then has atoms at :math:`x + n c` that the inversion would
smear).
"""

from __future__ import annotations

import math

import numpy as np

from ..laws._quadrature import _gl
from ..policies import get_policy
from . import _class_kinks
from . import laplace_inversion as li
from . import response_distribution as rd
from . import soap_size as ss
from .distribution import ResponseTimeDistribution

#: the x' rule of the level transforms: the base panels of :class:`~qtheory.engine.soap_size.SizeSOAP`
#: (at most 0.5 wide in log x') each cut into this many, and the Gauss-Legendre order per panel
X_REFINE = 3
X_ORDER = 14
#: the residence along falling stretches: Gauss-Legendre order per age panel
AGE_ORDER = 16
#: one class's falling stretches: the level panels' ends, refined to this width in asinh(v / v0)
AGE_WIDTH = 0.25
#: ... only where the level is above this fraction of the stretch's top level (below, the
#: stretch holds almost no work of new jobs: the level panels' own ends)
AGE_FLOOR = 1e-6
#: the unconditional law's classes: width in log x and order of the outer rule
CLASS_RULE = (0.25, 12)
#: the level grid of the unconditional law's falling stretches: most width of a panel in
#: asinh(v / v0) (0.25: a panel spans a factor 1.28 in the level, as the closed forms' size
#: rule), Chebyshev-Lobatto points per panel
GRID_WIDTH = 0.25
GRID_NODES = 17
#: transform values per block (memory: block x levels x nodes)
S_BLOCK = 16
#: a class whose transform equals that of PSJF's, SRPT's or SJF's class (on every sixth Euler
#: node of t = x and 3x, to this relative tolerance) takes that class's split at its kinks kx
#: (:func:`kink_split`); measured agreement of PSJF's and SRPT's ranks as a qt.Rank: 6e-15,
#: 7e-12 (SRPT's falling stretch on two different quadratures). The split is an identity
#: whatever the tolerance: a difference below it only stays in the inverted rest
KINK_MATCH = 1e-9
_EPS = np.finfo(float).eps


class Unsupported(NotImplementedError):
    """The rank or law is outside what this module covers (the caller falls back)."""


# ---- the x' rules of a block of levels --------------------------------------------------------
def _xrule(ev: ss.SizeSOAP, base: np.ndarray, lev: np.ndarray, order: int):
    r"""Per level ``lev[b]``: nodes ``x`` and weights ``w`` (density included) of a composite
    Gauss-Legendre rule in :math:`\log x'` on the panels ``base`` plus the sizes where a critical
    function of the rank equals the level (cosine-mapped next to those); returned flat with the
    row index of each node (the construction of
    :meth:`qtheory.engine.soap_size.SizeSOAP.level_functions`, at this module's panels)."""
    B = lev.size
    xg, G = ev.xg, ev.Gg
    with np.errstate(invalid="ignore"):
        D = G[None, :, :] - lev[:, None, None]
        neg = D < 0
    fin = np.isfinite(D)
    ch = (neg[:, :-1] != neg[:, 1:]) & fin[:, :-1] & fin[:, 1:]
    b, i, k = np.nonzero(ch)
    roots = np.empty(0)
    if b.size:
        sgn = np.where(D[b, i, k] < 0, 1.0, -1.0)
        lb = lev[b]

        def g(idx, x):
            return sgn[idx] * (ev.crit(x)[np.arange(x.size), k[idx]] - lb[idx])

        roots = ss._solve(g, xg[i], xg[i + 1], sgn * D[b, i, k], sgn * D[b, i + 1, k],
                          4 * _EPS * np.abs(lb) + 1e-300)
    # where a critical function equals the level on a range of sizes (a flat piece whose value
    # many sizes share: ties between old and new jobs) and leaves it: the end of that range, by
    # bisection (the pieces' lengths jump there)
    zero = D == 0
    zc = (zero[:, :-1] != zero[:, 1:]) & fin[:, :-1] & fin[:, 1:]
    zb, zi, zk = np.nonzero(zc)
    if zb.size:
        lo_, hi_ = xg[zi].copy(), xg[zi + 1].copy()
        left0 = zero[zb, zi, zk]
        for _ in range(64):
            mid = 0.5 * (lo_ + hi_)
            at = ev.crit(mid)[np.arange(mid.size), zk] == lev[zb]
            lo_ = np.where(at == left0, mid, lo_)
            hi_ = np.where(at == left0, hi_, mid)
        b = np.concatenate([b, zb])
        roots = np.concatenate([roots, 0.5 * (lo_ + hi_)])
    if b.size:
        o = np.lexsort((roots, b))
        b, roots = b[o], roots[o]
        cnt = np.bincount(b, minlength=B)
        R = int(cnt.max())
        pos = np.arange(b.size) - np.concatenate([[0], np.cumsum(cnt)])[b]
        extra = np.full((B, R), base[0])
        extra[b, pos] = np.log(np.clip(roots, math.exp(base[0]), math.exp(base[-1])))
        alle = np.concatenate([np.broadcast_to(base, (B, base.size)), extra], axis=1)
        isroot = np.concatenate([np.zeros((B, base.size), bool), np.ones((B, R), bool)], axis=1)
        o = np.argsort(alle, axis=1, kind="stable")
        edges = np.take_along_axis(alle, o, axis=1)
        isroot = np.take_along_axis(isroot, o, axis=1)
    else:
        edges = np.broadcast_to(base, (B, base.size))
        isroot = np.zeros(edges.shape, bool)
    near = (isroot[:, :-1] | isroot[:, 1:])[..., None]
    sgl, wgl = ss._cos_gl(order)
    tgl, vgl = _gl(order)
    e0, h = edges[:, :-1], np.diff(edges, axis=1)
    u = (e0[..., None] + h[..., None] * np.where(near, sgl, tgl)).reshape(B, -1)
    w = (h[..., None] * np.where(near, wgl, vgl)).reshape(B, -1)
    x = np.exp(u)
    with np.errstate(under="ignore"):
        wf = w * x * np.asarray(ev.size.pdf(x), float)
    keep = wf > 0
    row = np.nonzero(keep)[0]
    return row, x[keep], wf[keep]


def _pack(row: np.ndarray, vals: np.ndarray, w: np.ndarray, nrows: int):
    """Rows of (value, weight) pairs (``vals > 0`` only) as padded arrays ``(nrows, K)``, each
    row's entries first (the kernels stop at a row's last non-zero weight)."""
    keep = (vals > 0) & (w > 0)
    row, vals, w = row[keep], vals[keep], w[keep]
    cnt = np.bincount(row, minlength=nrows)
    K = max(1, int(cnt.max()) if cnt.size else 1)
    pos = np.arange(row.size) - np.concatenate([[0], np.cumsum(cnt)])[row]
    X = np.zeros((nrows, K))
    W = np.zeros((nrows, K))
    X[row, pos] = vals
    W[row, pos] = w
    return X, W


def _moments(X: np.ndarray, W: np.ndarray, k: int) -> np.ndarray:
    return np.sum(W * X ** k, axis=1)


class LevelLaws:
    r"""The new-job and old-job laws of a size rank at the levels ``lev`` (increasing, distinct)
    on their x' rules: the rows of Kendall's equation (:math:`X^{new}[v]`), the sizes where
    :math:`X^{old}_0[v] \ne X^{new}[v]` (both values), the other old pieces, and their moments."""

    def __init__(self, ev: ss.SizeSOAP, lev: np.ndarray):
        self.lev = lev
        T = lev.size
        base = ss._refined(ev.ubase, X_REFINE)
        rows, qs, l0s, others, ws, xs = [], [], [], [], [], []
        for a in range(0, T, ss.LEVEL_BLOCK):
            blk = lev[a:a + ss.LEVEL_BLOCK]
            row, x, w = _xrule(ev, base, blk, X_ORDER)
            qn, l0, oth = ev.rk.level_intervals(x, blk[row])
            rows.append(row + a)
            qs.append(qn)
            l0s.append(l0)
            others.append(oth)
            ws.append(w)
            xs.append(x)
        row = np.concatenate(rows)
        q, l0, oth, w = np.concatenate(qs), np.concatenate(l0s), np.concatenate(others), np.concatenate(ws)
        self.Xn, self.Wn = _pack(row, q, w, T)
        part = (q > 0) & (q < np.concatenate(xs))
        #: the partial cut-offs (0 < c_{x'}(v) < x'): row, value, weight
        self._partial = (row[part], q[part], w[part])
        diff = q != l0
        self.Xdq, self.Wd = self._pair(row[diff], q[diff], l0[diff], w[diff], T)
        k = oth.shape[1]
        self.Xo, self.Wo = _pack(np.repeat(row, k), oth.ravel(), np.repeat(w, k), T)
        self.n1, self.n2 = _moments(self.Xn, self.Wn, 1), _moments(self.Xn, self.Wn, 2)
        #: P(X^new > 0): the probability that an arrival runs at all
        self.pnew = np.sum(self.Wn, axis=1)
        X0, W0 = _pack(row, l0, w, T)
        self.o = [_moments(X0, W0, j) for j in (1, 2, 3)]
        self.p = [_moments(self.Xo, self.Wo, j) for j in (1, 2, 3)]

    def _pair(self, row, q, l0, w, T):
        """The sizes where the new-job work and old piece 0 differ: (q rows, l0 rows, weights)."""
        cnt = np.bincount(row, minlength=T)
        K = max(1, int(cnt.max()) if cnt.size else 1)
        pos = np.arange(row.size) - np.concatenate([[0], np.cumsum(cnt)])[row]
        Q = np.zeros((T, K))
        L0 = np.zeros((T, K))
        W = np.zeros((T, K))
        Q[row, pos], L0[row, pos], W[row, pos] = q, l0, w
        self.Xdl = L0
        return Q, W

    def atoms_on(self, rows: np.ndarray) -> bool:
        r"""Whether :math:`X^{new}` has an atom at a partial cut-off (:math:`0 < c_{x'} < x'` equal,
        to 1e-10 relative, at three or more nodes of positive weight) at the levels ``rows``."""
        prow, pq, pw = self._partial
        for r in np.unique(rows):
            sel = prow == r
            if np.count_nonzero(sel) < 3:
                continue
            q, w = pq[sel], pw[sel]
            o = np.argsort(q)
            q, w = q[o], w[o]
            same = np.diff(q) <= 1e-10 * q[1:]
            run = np.concatenate([[False], same]) | np.concatenate([same, [False]])
            if np.count_nonzero(run) >= 3 and float(np.sum(w[run])) > 1e-12:
                return True
        return False


def _fall_nodes(ev: ss.SizeSOAP, P, falls, cut_levels: np.ndarray, order: int):
    r"""Gauss-Legendre nodes in age (cosine-mapped) on the falling stretches ``falls`` of the
    tagged jobs ``P``, cut where the rank crosses a level of ``cut_levels``: the class of each
    node, its weight and its level :math:`r(x, a)` (the construction of
    :meth:`qtheory.engine.soap_size.SizeSOAP.tables`, without its affine shortcut)."""
    rk = ev.rk
    sgl, wgl = ss._cos_gl(order)
    owners, ws, levs = [], [], []
    for j, a0, a1 in falls:
        rows = np.flatnonzero(a1 > a0)
        if rows.size == 0:
            continue
        top = P.s[rows, j]
        bot = rk.rank(P.x[rows], np.maximum(a1[rows] * (1 - 4 * _EPS), a0[rows]))
        o, w, lev = ss._cut_fall_nodes(rk, P, rows, j, a0, a1, top, bot, cut_levels, sgl, wgl)
        owners.append(o)
        ws.append(w)
        levs.append(lev)
    if not owners:
        return np.zeros(0, int), np.zeros(0), np.zeros(0)
    return np.concatenate(owners), np.concatenate(ws), np.concatenate(levs)


def _refine_levels(ev: ss.SizeSOAP, levels: np.ndarray, width: float, floor: float = 0.0) -> np.ndarray:
    """``levels`` with points added so that consecutive ones are at most ``width`` apart in
    :math:`\\operatorname{asinh}(v / v_0)` where the level's size is above ``floor``."""
    v = np.unique(np.arcsinh(levels / ev.s))
    lev = np.abs(ev.s * np.sinh(v))
    big = np.maximum(lev[:-1], lev[1:]) > floor
    n = np.where(big, np.maximum(1, np.ceil(np.diff(v) / width)), 1).astype(int)
    out = [v[:1]] + [np.linspace(a, b, k + 1)[1:] for a, b, k in zip(v[:-1], v[1:], n, strict=True)]
    return ev.s * np.sinh(np.concatenate(out))


def _lobatto_weights(v: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Lagrange weights (rows) of the Chebyshev-Lobatto ``nodes`` of one panel at the points
    ``v`` (barycentric formula; exact at a node)."""
    n = nodes.size
    bw = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    bw[0] *= 0.5
    bw[-1] *= 0.5
    d = v[:, None] - nodes[None, :]
    hit = d == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = bw[None, :] / d
        out = q / np.sum(q, axis=1, keepdims=True)
    rows = hit.any(axis=1)
    out[rows] = hit[rows].astype(float)
    return out


class LevelGrid:
    r"""Levels on panels in :math:`\operatorname{asinh}(v / v_0)` (:data:`GRID_WIDTH` wide at most,
    the level interpolants' panel ends of :class:`~qtheory.engine.soap_size.SizeSOAP`, critical
    levels included, among the ends) with :data:`GRID_NODES` Chebyshev-Lobatto points each (nudged
    into the panel at its ends: one-sided limits at a critical level)."""

    def __init__(self, ev: ss.SizeSOAP, vlo: float, vhi: float):
        s0 = ev.s
        e = ev.interp.edges
        e = np.unique(np.concatenate([e[(e > vlo) & (e < vhi)], [vlo, vhi]]))
        n = np.maximum(1, np.ceil(np.diff(e) / GRID_WIDTH)).astype(int)
        edges = [e[0]]
        for a, b, k in zip(e[:-1], e[1:], n, strict=True):
            edges += list(np.linspace(a, b, k + 1)[1:])
        self.edges = np.array(edges)
        self.s0 = s0
        t = -np.cos(np.pi * np.arange(GRID_NODES) / (GRID_NODES - 1))
        lo, hi = self.edges[:-1, None], self.edges[1:, None]
        self.v = (lo + (hi - lo) * (t + 1) / 2)  # (panels, nodes)
        inward = np.zeros(GRID_NODES)
        inward[0], inward[-1] = 1.0, -1.0
        lev = s0 * np.sinh(self.v)
        step = np.maximum(4 * _EPS * np.abs(lev), 1e-300)
        self.lev = (lev + inward * step).ravel()
        #: the levels at which the stretches are cut (the panel ends)
        self.cuts = s0 * np.sinh(self.edges)

    def matrix(self, owner: np.ndarray, w: np.ndarray, lev: np.ndarray, ncls: int):
        r"""The sparse matrix :math:`M` (classes x grid levels) with
        :math:`\sum_{\text{nodes of } x} w\,g(v) \approx \sum_k M_{xk}\,g(v_k)`."""
        from scipy.sparse import csr_matrix

        vv = np.arcsinh(lev / self.s0)
        p = np.clip(np.searchsorted(self.edges, vv, side="right") - 1, 0, self.edges.size - 2)
        L = np.empty((vv.size, GRID_NODES))
        for q in np.unique(p):
            sel = p == q
            L[sel] = _lobatto_weights(vv[sel], self.v[q])
        cols = p[:, None] * GRID_NODES + np.arange(GRID_NODES)[None, :]
        vals = w[:, None] * L
        return csr_matrix((vals.ravel(), (np.repeat(owner, GRID_NODES), cols.ravel())),
                          shape=(ncls, self.lev.size))


# ---- the transform ----------------------------------------------------------------------------
class SizeRankTransform:
    r"""LST, atom and first two moments of :math:`T` (or :math:`W`) of a size-descriptor SOAP
    rank on a continuous size law, for one job size ``x`` (the law of :math:`T - x`) or
    unconditionally (module docstring)."""

    def __init__(self, model, policy, x: float | None = None, waiting: bool = False):
        try:
            ev = ss._soap(model, policy)
        except FloatingPointError as e:
            raise Unsupported(f"{policy.name}: the rank's structure cannot be followed ({e})") from None
        self.ev = ev
        self.lam = lam = float(model.arrival_rate)
        self.waiting = waiting
        self.conditional = x is not None
        self.shifted = self.conditional and not waiting
        if x is None:
            xs, ws = ev._outer_nodes(*CLASS_RULE)
        else:
            xs, ws = np.array([float(x)]), np.ones(1)
        self.xs, self.ws = xs, ws
        L, plats, falls, P = ev.rk.tagged(xs)
        n = xs.size
        # levels: L(x), the plateaus, and (one class) the nodes of the falling stretches
        pl_cls, pl_lev, pl_len = [], [], []
        for ln, lv in plats:
            use = ln > 0
            pl_cls.append(np.flatnonzero(use))
            pl_lev.append(lv[use])
            pl_len.append(ln[use])
        pl_cls, pl_lev, pl_len = (np.concatenate(a) for a in (pl_cls, pl_lev, pl_len))
        ladder = ev.s * np.sinh(ev.interp.edges)
        self.grid = None
        if waiting:
            fo, fw, fl = np.zeros(0, int), np.zeros(0), np.zeros(0)
        elif self.conditional:
            tops = [P.s[a1 > a0, j] for j, a0, a1 in falls]
            top = max([float(np.max(np.abs(v[np.isfinite(v)]), initial=0.0)) for v in tops], default=0.0)
            fo, fw, fl = _fall_nodes(ev, P, falls, _refine_levels(ev, ladder, AGE_WIDTH, AGE_FLOOR * top),
                                     AGE_ORDER)
        else:
            # the stretches' level range, then their nodes cut at the grid's panel ends
            tops = [P.s[a1 > a0, j] for j, a0, a1 in falls]
            tops = np.concatenate(tops) if tops else np.zeros(0)
            fo = np.zeros(0, int)
            if tops.size:
                _, _, lv0 = _fall_nodes(ev, P, falls, ladder, 2)
                allv = np.concatenate([tops, lv0])
                allv = allv[np.isfinite(allv)]
                v = np.arcsinh(allv / ev.s)
                self.grid = LevelGrid(ev, float(v.min()) - 1e-9, float(v.max()) + 1e-9)
                fo, fw, fl = _fall_nodes(ev, P, falls, self.grid.cuts, AGE_ORDER)
        # the distinct levels
        parts = [L, pl_lev]
        if self.conditional and not waiting:
            parts.append(fl)
        if self.grid is not None:
            parts.append(self.grid.lev)
        allv = np.concatenate(parts)
        if not np.all(np.isfinite(allv)):
            raise Unsupported(f"{policy.name}: an infinite worst future rank")
        if self.conditional and not waiting and pl_lev.size:
            # the plateaus' levels first (few): a class with an atom there is not covered, found
            # before the laws of every level of its falling stretches are built
            pre = LevelLaws(ev, np.unique(pl_lev))
            if pre.atoms_on(np.arange(pre.lev.size)):
                raise Unsupported(f"{policy.name}: the new jobs' work has an atom on the class's plateau "
                                  "(the class's law has atoms the inversion does not handle)")
        uv, inv = np.unique(allv, return_inverse=True)
        sizes = np.cumsum([0] + [p.size for p in parts])
        self.levels = LevelLaws(ev, uv)
        self._iL = inv[sizes[0]:sizes[1]]
        self._ipl = inv[sizes[1]:sizes[2]]
        self._pl_cls, self._pl_len = pl_cls, pl_len
        k = 3
        if self.conditional and not waiting:
            self._ifl = inv[sizes[k - 1]:sizes[k]]
            self._fl_cls, self._fl_w = fo, fw
            k += 1
        else:
            self._ifl = np.zeros(0, int)
            self._fl_cls, self._fl_w = np.zeros(0, int), np.zeros(0)
        self._M = None
        if self.grid is not None:
            self._igrid = inv[sizes[k - 1]:sizes[k]]
            self._M = self.grid.matrix(fo, fw, fl, n)
        lv = self.levels
        # the old-job delay's loads at the distinct waiting levels
        self._rho_old = lam * (lv.o[0] + lv.p[0])
        if np.any(self._rho_old[self._iL] >= 1.0) or np.any(lam * lv.n1 >= 1.0):
            raise ValueError("the load must be < 1")
        uL, self._L_of = np.unique(self._iL, return_inverse=True)
        self._uL = uL

    # -- moments -----------------------------------------------------------------------------
    def _per_class(self, cls, vals):
        return np.bincount(cls, vals, minlength=self.xs.size).astype(float)

    def _class_moments(self):
        lam, lv = self.lam, self.levels
        iL = self._uL
        o1, o2, o3 = (m[iL] for m in lv.o)
        p1, p2, p3 = (m[iL] for m in lv.p)
        r0 = 1.0 - lam * o1
        a1, a2 = lam * p2 / (2 * r0), lam * p3 / (6 * r0)
        b1, b2 = lam * o2 / (2 * r0), lam * o3 / (6 * r0)
        ev = a1 + b1
        varv = 2 * (a2 + b2 + b1 * (a1 + b1)) - ev * ev
        rn = 1.0 - lam * lv.n1[iL]
        ew, varw = ev / rn, varv / rn ** 2 + ev * lam * lv.n2[iL] / rn ** 3
        atom_w = 1.0 - self._rho_old[iL]
        ew, varw, atom_w = ew[self._L_of], varw[self._L_of], atom_w[self._L_of]
        if self.waiting:
            return ew, varw, atom_w
        g = 1.0 - lam * lv.n1
        f1, f2, f3 = 1.0 / g, lam * lv.n2 / g ** 3, lv.pnew
        c, ln = self._pl_cls, self._pl_len
        ip = self._ipl
        r1 = self._per_class(c, ln * f1[ip])
        r2 = self._per_class(c, ln * f2[ip])
        busy = self._per_class(c, ln * f3[ip])
        if self._ifl.size:
            c, w, i = self._fl_cls, self._fl_w, self._ifl
            r1 += self._per_class(c, w * f1[i])
            r2 += self._per_class(c, w * f2[i])
            busy += self._per_class(c, w * f3[i])
        if self._M is not None:
            ig = self._igrid
            r1 += self._M @ f1[ig]
            r2 += self._M @ f2[ig]
            busy += self._M @ f3[ig]
        mean = ew + r1 - (self.xs if self.shifted else 0.0)
        return mean, varw + r2, atom_w * np.exp(-lam * busy)

    def moments(self) -> tuple[float, float]:
        """(E, E[.^2]) of the law (of ``T - x`` for a class), mixed over the classes."""
        m, v, _ = self._class_moments()
        w = self.ws
        return float(np.sum(w * m)), float(np.sum(w * (v + m * m)))

    def atom(self) -> float:
        r""":math:`P(W = 0)` (waiting time) or :math:`P(T = x)` (a class):
        :math:`(1 - \rho_0 - \sum_i\rho_i)\exp(-\lambda\int_0^x P(X^{new}[W_x(a)] > 0)\,da)`."""
        return float(np.sum(self.ws * self._class_moments()[2]))

    # -- the transform -----------------------------------------------------------------------
    def lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        flat = s.reshape(-1)
        out = np.empty(flat.size, complex)
        for a in range(0, flat.size, S_BLOCK):
            out[a:a + S_BLOCK] = self._lst(np.ascontiguousarray(flat[a:a + S_BLOCK]))
        return out.reshape(s.shape)

    def _lst(self, s: np.ndarray) -> np.ndarray:
        lam, lv = self.lam, self.levels
        S = s[:, None]
        eta = rd.busy_eta(s, lam, lv.Xn, lv.Wn)  # (ns, levels)
        iL = self._uL
        u = eta[:, iL]
        # u - lam psi_0(u) = s + lam (psi_new(u) - psi_0(u)) (Kendall's equation at u = eta_L)
        dq = rd._psi_at(u, lv.Xdq[iL], lv.Wd[iL])
        dl = rd._psi_at(u, lv.Xdl[iL], lv.Wd[iL])
        den = S + lam * (dq - dl)
        num = (1.0 - self._rho_old[iL])[None, :] * u + lam * rd._psi_at(u, lv.Xo[iL], lv.Wo[iL])
        with np.errstate(invalid="ignore", divide="ignore"):
            V = np.where(S == 0, 1.0, num / den)[:, self._L_of]
        if self.waiting:
            return V @ self.ws
        g = eta - S
        Q = np.zeros((s.size, self.xs.size), complex)
        c, ln, ip = self._pl_cls, self._pl_len, self._ipl
        for i in range(s.size):
            Q[i] = np.bincount(c, (g[i, ip] * ln).real, minlength=self.xs.size) + \
                1j * np.bincount(c, (g[i, ip] * ln).imag, minlength=self.xs.size)
            if self._ifl.size:
                gi = g[i, self._ifl] * self._fl_w
                Q[i] += np.bincount(self._fl_cls, gi.real, minlength=self.xs.size) + \
                    1j * np.bincount(self._fl_cls, gi.imag, minlength=self.xs.size)
        if self._M is not None:
            Q += (self._M @ g[:, self._igrid].T).T
        if not self.shifted:
            Q = Q + S * self.xs[None, :]
        with np.errstate(under="ignore"):
            return (V * np.exp(-Q)) @ self.ws


# ---- entry points -------------------------------------------------------------------------------
def supported(model, policy) -> bool:
    """A size-descriptor SOAP rank on a continuous size law without atoms with a finite second
    moment (not ``qt.from_scipy``): :func:`qtheory.engine.soap_size.supported`."""
    return ss.supported(model, policy)


def kink_split(model, tr: SizeRankTransform, atom0: float):
    r"""The split at the kinks :math:`x, 2x, \dots` of a class law (:mod:`qtheory.engine._class_kinks`)
    where the rank's class is one of PSJF's, SRPT's or SJF's: its transform (of :math:`T - x`,
    or of :math:`W`) equals that class's closed form on every sixth Euler node of :math:`t = x`
    and :math:`3x` to :data:`KINK_MATCH` relative. The kink terms :math:`H_k` come from the closed
    form, the rest is this transform less them,

    .. math::
        P(T - x \le \tau) = a + \sum_{1 \le k < K} G_k(\tau - kx) + \mathcal{L}^{-1}\Big[
            \frac{\phi(s) - a - \sum_k e^{-ksx}H_k(s)}{s}\Big](\tau),\qquad a = P(T = x),

    an identity for any :math:`\phi`: what this transform and the closed form's differ by (below
    the tolerance) only stays in the inverted rest. ``None`` for any other class (inverted
    whole: next to a kink the cdf can be 1e-4 off)."""
    if not (rd.CLASS_KINKS and tr.conditional):
        return None
    x = float(tr.xs[0])
    alpha = li.euler_nodes()[0][::6]  # every sixth node: the check decides use, not accuracy
    s = np.concatenate([alpha / x, alpha / (3 * x)])
    own = None
    for name in ("psjf", "srpt", "sjf"):
        ref = rd._SizeTransform(model, get_policy(name), np.array([x]), np.array([1.0]), waiting=tr.waiting)
        if not _class_kinks.applies(ref):
            continue
        if own is None:
            own = tr.lst(s)
        want = ref.lst(s)
        if np.max(np.abs(own - want)) <= KINK_MATCH * np.max(np.abs(want)):
            return _class_kinks.class_split(ref, atom0, lst=tr.lst)
    return None


def build(model, pol, x, waiting: bool) -> ResponseTimeDistribution:
    """The distribution object (:class:`Unsupported` where the rank or law is not covered)."""
    tr = SizeRankTransform(model, pol, x, waiting)
    label = f"{pol.name} on {model!r}" + ("" if x is None else f", x={float(x):g}")
    if waiting:
        atom = tr.atom()
        return ResponseTimeDistribution(tr, "waiting time, " + label, atom, split=kink_split(model, tr, atom))
    if tr.shifted:
        atom = tr.atom()
        return ResponseTimeDistribution(tr, label, atom, shift=float(x), split=kink_split(model, tr, atom))
    return ResponseTimeDistribution(tr, label, lower=float(model.size.support[0]))


__all__ = ["LevelLaws", "SizeRankTransform", "Unsupported", "build", "supported"]
