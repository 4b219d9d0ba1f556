r"""Response-time and waiting-time distributions of a blind SOAP policy (Gittins, a blind
:class:`~qtheory.policies.Rank`, any rank of the age alone) on a continuous size law.

SOAP's decomposition (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018, Section 5;
``docs/response_time_distribution.md`` sections 1 and 12) for a job of size :math:`x` with worst
future rank :math:`r_x(a) = \sup_{[a, x)} r` and :math:`R = r_x(0)`:

.. math::
    E[e^{-sT}\mid x] = \tilde V_R\big(\eta_R(s)\big)\,
        \exp\Big(-\int_0^x \eta_{r_x(a)}(s)\,da\Big),\qquad
    \eta_v(s) = s + \lambda E\big[1 - e^{-\eta_v(s)\min(X, c(v))}\big],

with the new jobs' cut-off :math:`c(v) = \inf\{a : r(a) \ge v\}` and the old-job delay
:math:`\tilde V_R(u) = \big((1 - \rho_0 - \sum_{i\ge1}\rho_i)u + \lambda\sum_{i\ge1}
E[1 - e^{-uX^{old}_i}]\big) / \big(u - \lambda E[1 - e^{-uX^{old}_0}]\big)` over the components
:math:`[b_i, c_i)` of :math:`\{a : r(a) \le R\}` (:math:`X^{old}_i = (\min(X, c_i) - b_i)^+`,
component 0 the one from age 0).

The rank is the interpolant of :mod:`qtheory.engine.soap_exact` (its monotone pieces, record
stretches, crossings and components). For each job size the worst future rank is, from the end
backwards, a sequence of plateaus (a constant level over an age interval: the rising pieces, and
the falling ones below a later maximum) and of stretches where it follows a falling piece of the
rank; the latter are integrated by Gauss-Legendre rules in :math:`\log a`, split where the rank
crosses a level at which :math:`c(v)` jumps. Kendall's equation is solved for every cut-off on the
size law's Gauss-Legendre rule (:func:`qtheory.engine.response_distribution.busy_eta`), and the
old pieces' transforms on the same rule restricted to :math:`(b_i, c_i)`. The unconditional law
mixes the classes over that rule. Means and variances come from the same pieces in closed form
(busy-period cumulants), not from the inversion.

On a law whose density is positive at its least size :math:`c > 0` (Pareto, uniform sizes) the
unconditional law is split into its atoms' density part, added directly, and the rest, inverted
from :math:`c` on (:class:`BlindAtoms`; ``docs/response_time_distribution.md``, section 13): a
constant rank against FCFS 1e-11 next to the jumps (the whole law inverted: 8e-4), the age rank
against LAS 1.4e-8 (1.3e-3).
"""

from __future__ import annotations

import math

import numpy as np

from ..laws._quadrature import head_node, panels, size_range
from . import busy_atoms, soap_exact
from . import response_distribution as rd
from .distribution import ResponseTimeDistribution

#: Gauss-Legendre nodes per panel (in log age) of a stretch that follows a falling rank
STRETCH_NODES = 16
#: panel width in log x of the size rule on which Kendall's equation and the old pieces'
#: transforms are evaluated (:data:`qtheory.engine.response_distribution.WIDTH_FINE`)
RULE_WIDTH = rd.WIDTH_FINE
#: the unconditional law's classes: panel width in log x and Gauss-Legendre order of the outer
#: rule of :class:`qtheory.engine.soap_exact.BlindSOAP`
CLASS_WIDTH = 0.25
CLASS_ORDER = 16


def _between(rule, size, b: float, c: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Values and weights of :math:`(\min(X, c) - b)^+` on :math:`X > b` (``b > 0``): the rule's
    panels restricted to :math:`(b, \min(c, hi))`, the rule's outer masses, and the mass
    :math:`P(X \ge c)` at :math:`c - b`."""
    xs, ws = [], []
    top = min(c, rule.hi)
    if top > b:
        ub = math.log(max(b, rule.lo))
        uc = math.log(top)
        if uc > ub:
            inner = rule.edges[(rule.edges > ub) & (rule.edges < uc)]
            u, wu = panels(np.concatenate([[ub], inner, [uc]]))
            x = np.exp(u)
            xs.append(x - b)
            ws.append(wu * x * size.pdf(x))
    hx, hw = rule.head
    if hw > 0 and b < hx < c:
        xs.append(np.array([hx - b]))
        ws.append(np.array([hw]))
    tx, tw = rule.tail
    if tw > 0 and c > rule.hi:
        xs.append(np.array([min(tx, c) - b]))
        ws.append(np.array([tw if tx < c else float(size.sf(rule.hi)) - float(size.sf(c))]))
    if math.isfinite(c):
        xs.append(np.array([c - b]))
        ws.append(np.array([float(size.sf(c))]))
    if not xs:
        return np.zeros(1), np.zeros(1)
    return np.concatenate(xs), np.maximum(np.concatenate(ws), 0.0)


def _min_law(rule, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Rows of values and weights of :math:`\min(X, c_j)`: the rule below :math:`c_j` plus the mass
    :math:`P(X \ge c_j)` at :math:`c_j` (``c_j = inf``: the whole law, its tail node included)."""
    c = np.asarray(c, float)
    fin = np.isfinite(c)
    X, W = rule.below(c, strict=True)
    atom = np.where(fin, np.asarray(rule.size.sf(np.where(fin, c, 0.0)), float), 0.0)
    X = np.concatenate([X, np.where(fin, c, 0.0)[:, None]], axis=1)
    W = np.concatenate([W, atom[:, None]], axis=1)
    return X, W


def _piece_moments(size, b: float, c: float) -> np.ndarray:
    r""":math:`E[((\min(X, c) - b)^+)^k]`, k = 1, 2, 3, from the law's exact partial moments
    (:math:`b = 0`: :math:`E[\min(X, c)^k]`; :math:`c = \infty`: no mass at :math:`c`)."""
    if b <= 0.0:
        if not math.isfinite(c):
            return np.array([float(size.moment(k)) for k in (1, 2, 3)])
        return np.array([float(size.mean_min(k, c)) for k in (1, 2, 3)])
    if not c > b:
        return np.zeros(3)
    fin = math.isfinite(c)
    tb = [float(size.tail_moment(j, b)) for j in range(4)]
    tc = [float(size.tail_moment(j, c)) if fin else 0.0 for j in range(4)]
    sfc = float(size.sf(c)) if fin else 0.0
    out = []
    for k in (1, 2, 3):
        v = sum(math.comb(k, j) * (-b) ** (k - j) * (tb[j] - tc[j]) for j in range(k + 1))
        out.append(max(v + (sfc * (c - b) ** k if fin else 0.0), 0.0))
    return np.array(out)


def _per_class(cls: np.ndarray, n: int):
    """The sparse 0/1 matrix ``(n, len(cls))`` that sums per-entry values into their classes."""
    from scipy.sparse import csr_matrix

    return csr_matrix((np.ones(cls.size), (cls, np.arange(cls.size))), shape=(n, cls.size))


def _pad(rows: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    k = max(1, max(r[0].size for r in rows))
    X = np.zeros((len(rows), k))
    W = np.zeros((len(rows), k))
    for i, (x, w) in enumerate(rows):
        X[i, : x.size], W[i, : w.size] = x, w
    return X, W


class BlindTransform:
    r"""LST, atom and first two moments of :math:`T` (or :math:`W`) of a blind SOAP policy on a
    continuous size law, for one job size ``x`` (the law of :math:`T - x`) or unconditionally."""

    def __init__(self, model, policy, x: float | None = None, waiting: bool = False,
                 classes: tuple[np.ndarray, np.ndarray] | None = None,
                 grade: tuple[float, float, float] | None = None):
        # classes: the unconditional law's classes (sizes, weights) instead of the outer rule's;
        # grade: the size rule of Kendall's equation and the old pieces graded at the least size
        # (:class:`BlindAtoms`)
        size = model.size
        self.lam = lam = float(model.arrival_rate)
        self.waiting = waiting
        hi = size_range(size, 1e-17)[1]
        upto = 0.0 if x is None or float(x) <= hi else 1.01 * float(x)
        br = soap_exact._blind_rank(model, policy, upto)
        self.br = br
        rule = rd._rule(size, RULE_WIDTH, grade)
        self.rule = rule
        ev = br.soap(CLASS_WIDTH, CLASS_ORDER)
        if classes is not None:
            xs, ws = (np.asarray(a, float) for a in classes)
        elif x is None:
            # the classes: the mean evaluator's outer rule, whose panels end where the worst
            # future rank changes form (E[T | x] has kinks there), and the mass below it
            xs, ws = np.asarray(ev.x, float), np.asarray(ev.wx, float)
            head = head_node(size, br.lo)
            if head is not None:
                xs, ws = np.concatenate([[head[0]], xs]), np.concatenate([[head[1]], ws])
        else:
            xs, ws = np.array([float(x)]), np.ones(1)
        self.xs, self.ws = xs, ws
        self.conditional = x is not None
        self.shifted = self.conditional and not waiting
        # the tagged job's level at arrival and the old pieces at each distinct level
        R = br.running_max(xs)[0]
        self._Rv, self._R_of = np.unique(R, return_inverse=True)
        B, C, c0 = br.below_set(self._Rv)
        old0, oldi, self._old_owner = [], [], []
        mom0, momi = [], []
        for j in range(self._Rv.size):
            old0.append(tuple(a[0] for a in _min_law(rule, np.array([c0[j]]))))
            mom0.append(_piece_moments(size, 0.0, float(c0[j])) if c0[j] > 0 else np.zeros(3))
            for b, c in zip(B[j], C[j], strict=True):
                if np.isnan(b) or b <= 0.0:
                    continue
                oldi.append(_between(rule, size, float(b), float(c)))
                momi.append(_piece_moments(size, float(b), float(c)))
                self._old_owner.append(j)
        self._old_owner = np.asarray(self._old_owner, int)
        #: sums the later intervals' terms into their level
        self._old_sum = _per_class(self._old_owner, self._Rv.size)
        self._X0, self._W0 = _pad(old0)
        self._Xi, self._Wi = _pad(oldi) if oldi else (np.zeros((0, 1)), np.zeros((0, 1)))
        #: exact moments 1-3 of the old pieces: interval 0 per level, and the later intervals
        #: summed per level
        self._mom0 = np.array(mom0).T
        self._momi = (self._old_sum @ np.reshape(momi, (-1, 3))).T
        rho0, rhoi = lam * self._mom0[0], lam * self._momi[0]
        self._rho0, self._rhoi = rho0, rhoi
        if np.any(rho0 + rhoi >= 1.0):
            raise ValueError("the old work's load is >= 1 at some level: the load must be < 1")
        # residence: plateaus (class, level, age length) and stretches along falling pieces
        cls, lev, ln = self._residence(xs, ev)
        self._res_cls, self._res_len = cls, ln
        #: per-class sums of the plateau and stretch terms (built once: the transform's hot path)
        self._res_sum = _per_class(cls, xs.size)
        self._st_sum = _per_class(self._st_cls, xs.size)
        if ev.res_lo.size:
            a, jac = soap_exact._age(soap_exact._TN[None, :], ev.res_lo[:, None], ev.res_hi[:, None],
                                     ev.res_an[:, None])
            self._res_jac = jac
            node_lev = br.r(a).ravel()
        else:
            self._res_jac = np.zeros((0, soap_exact.NCHEB))
            node_lev = np.zeros(0)
        levels = np.concatenate([self._Rv, lev, node_lev])
        cuts = br.c_new(levels)
        self._cuts, inv = np.unique(cuts, return_inverse=True)
        nR, nl = self._Rv.size, lev.size
        self._thr_R = inv[:nR]
        # where interval 0 of the old jobs ends at the new jobs' cut-off (c_0 = c(R): the rank
        # crosses R upwards there), X^old_0 = X^new[R] and Kendall's equation gives
        # lam psi_0(eta_R) = eta_R - s: no sum needed (a class on its own record stretch)
        self._same0 = np.isclose(c0, self._cuts[self._thr_R], rtol=1e-13, atol=0.0)
        self._X0, self._W0 = self._X0[~self._same0], self._W0[~self._same0]
        self._thr_res = inv[nR : nR + nl]
        self._thr_node = inv[nR + nl :]
        self._Xn, self._Wn = _min_law(rule, self._cuts)
        # the same rows as a prefix of the rule's panel nodes plus each row's own nodes and the
        # mass P(X >= c) at c (Kendall's equation by the prefix's Taylor moments,
        # :func:`qtheory.engine.response_distribution.busy_eta_parts`)
        fin = np.isfinite(self._cuts)
        Xe, We, npre = rule.below_parts(self._cuts)
        self._parts = (np.concatenate([Xe, np.where(fin, self._cuts, 0.0)[:, None]], axis=1),
                       np.concatenate([We, self._Wn[:, -1:]], axis=1), npre)
        nm = np.array([_piece_moments(size, 0.0, float(c)) if c > 0 else np.zeros(3)
                       for c in self._cuts])
        self._n1, self._n2 = nm[:, 0], nm[:, 1]
        if np.any(lam * self._n1 >= 1.0):
            raise ValueError("the new work's load is >= 1 at some level: the load must be < 1")

    # -- the worst future rank of every class, as plateaus and falling stretches --------------
    def _residence(self, xs: np.ndarray, ev):
        r"""Plateaus ``(class, level, length)`` and the stretches that follow a falling piece of
        the rank: per stretch the class, and the weights of
        :math:`\int_{\text{piece start}}^{end} q = CUM[j] - CUM[first] + w \cdot q_j` on the
        Chebyshev-Lobatto panels of :class:`~qtheory.engine.soap_exact.BlindSOAP` (split where
        the rank crosses the level of a piece end, so that the cut-off is smooth on each)."""
        br = self.br
        sh = br.shape
        n = xs.size
        M = np.full(n, -np.inf)
        cls, lev, ln = [], [], []
        st_cls, st_j, st_w, st_first = [], [], [], []
        for k in range(sh.ua.size - 1, -1, -1):
            sel = np.flatnonzero(xs > sh.pa[k])
            if sel.size == 0:
                continue
            top = np.minimum(sh.pb[k], xs[sel])
            rtop = np.where(top >= sh.pb[k], sh.rb[k], br.r(top))
            Ms = M[sel]
            if sh.dirn[k] >= 0:
                lvl = np.maximum(Ms, rtop if sh.dirn[k] > 0 else sh.ra[k])
                cls.append(sel)
                lev.append(lvl)
                ln.append(top - sh.pa[k])
                M[sel] = lvl
                continue
            # falling: the rank itself where it exceeds the later maximum, a plateau after
            whole = Ms >= sh.ra[k]
            part = ~whole & (Ms > rtop)
            a_star = np.full(sel.size, sh.pa[k])
            if part.any():
                a_star[part] = br.cross(k, Ms[part])
            plat = whole | part
            if plat.any():
                cls.append(sel[plat])
                lev.append(Ms[plat])
                ln.append((top - np.where(whole, sh.pa[k], a_star))[plat])
            follow = np.flatnonzero(~whole)
            upto = np.where(part, a_star, top)[follow]
            used = upto > sh.pa[k]
            if used.any():
                j, w, first = ev._partial(k, upto[used])
                st_cls.append(sel[follow[used]])
                st_j.append(np.broadcast_to(j, (int(used.sum()),)))
                st_w.append(np.broadcast_to(w, (int(used.sum()), w.shape[-1])))
                st_first.append(np.full(int(used.sum()), first))
                if k == 0:  # the ages [0, alo) below the first node, at its value
                    cls.append(sel[follow[used]])
                    lev.append(np.full(int(used.sum()), float(br.r(ev.res_a0))))
                    ln.append(np.full(int(used.sum()), ev.res_a0))
            M[sel] = np.where(whole, Ms, sh.ra[k])
        def cat(a, dt):
            return (np.concatenate(a) if a else np.zeros(0, dt))
        self._st_cls = cat(st_cls, int)
        self._st_j = cat(st_j, int)
        self._st_w = np.concatenate(st_w) if st_w else np.zeros((0, soap_exact.NCHEB))
        self._st_first = cat(st_first, int)
        return cat(cls, int), cat(lev, float), cat(ln, float)

    def _stretch_sum(self, values: np.ndarray) -> np.ndarray:
        r"""For node values ``(rows, nodes)`` of an integrand along the falling pieces (in age):
        the stretch integrals summed per class, shape ``(rows, classes)``."""
        P = self._res_jac.shape[0]
        rows = values.shape[0]
        na = self.xs.size
        if P == 0 or self._st_cls.size == 0:
            return np.zeros((rows, na), values.dtype)
        q = values.reshape(rows, P, soap_exact.NCHEB) * self._res_jac[None]
        full = q @ soap_exact._FULLW
        cum = np.concatenate([np.zeros((rows, 1), full.dtype), np.cumsum(full, axis=-1)], axis=-1)
        val = cum[:, self._st_j] - cum[:, self._st_first] + \
            np.einsum("rmk,mk->rm", q[:, self._st_j, :], self._st_w)
        return (self._st_sum @ val.T).T

    # -- moments -----------------------------------------------------------------------------
    def _class_moments(self):
        lam = self.lam
        o1, o2, o3 = self._mom0
        p = self._momi
        r0 = 1.0 - lam * o1
        a1, a2 = lam * p[1] / (2 * r0), lam * p[2] / (6 * r0)
        b1, b2 = lam * o2 / (2 * r0), lam * o3 / (6 * r0)
        ev = a1 + b1
        varv = 2 * (a2 + b2 + b1 * (a1 + b1)) - ev * ev
        n1, n2 = self._n1[self._thr_R], self._n2[self._thr_R]
        rn = 1.0 - lam * n1
        ew, varw = ev / rn, varv / rn ** 2 + ev * lam * n2 / rn ** 3
        atom_w = 1.0 - self._rho0 - self._rhoi
        ew, varw, atom_w = ew[self._R_of], varw[self._R_of], atom_w[self._R_of]
        if self.waiting:
            return ew, varw, atom_w
        m1 = self._n1[self._thr_res]
        m2 = self._n2[self._thr_res]
        rr = 1.0 - lam * m1
        r1, r2, busy = (self._res_sum @ np.stack(
            [self._res_len / rr, self._res_len * lam * m2 / rr ** 3,
             self._res_len * (self._cuts[self._thr_res] > 0)]).T).T
        g1 = 1.0 - lam * self._n1[self._thr_node]
        st = self._stretch_sum(np.stack([1.0 / g1, lam * self._n2[self._thr_node] / g1 ** 3,
                                         (self._cuts[self._thr_node] > 0).astype(float)]))
        r1, r2, busy = r1 + st[0], r2 + st[1], busy + st[2]
        mean = ew + r1 - (self.xs if self.shifted else 0.0)
        return mean, varw + r2, atom_w * np.exp(-lam * busy)

    def moments(self) -> tuple[float, float]:
        m, v, _ = self._class_moments()
        w = self.ws
        mean, second = float(np.sum(w * m)), float(np.sum(w * (v + m * m)))
        size = self.rule.size
        if not self.conditional and not self.waiting:  # T >= X (the class rule is truncated)
            if not math.isfinite(float(size.moment(1))):
                return math.inf, math.inf
            if not math.isfinite(float(size.moment(2))):
                second = math.inf
        return mean, second

    def atom(self) -> float:
        return float(np.sum(self.ws * self._class_moments()[2]))

    def class_atoms(self, size, tail: float = 1e-17) -> list[tuple[float, float]]:
        r"""The atoms of :math:`T - x` above 0 of a class (``[]`` for the unconditional law and
        for waiting times, whose only atom is at 0).

        On a plateau of length :math:`L` at a level whose new-job cut-off is :math:`c`
        (:math:`0 < c < \infty`), every arrival runs and a job of size :math:`\ge c` adds exactly
        :math:`c`: with no other arrival, the plateau's busy period is :math:`L + nc` after
        :math:`n` such jobs, with probability (Takacs' hitting-time theorem for the M/D/1 busy
        period started by :math:`L`, times no arrival of a smaller job)

        .. math::
            \frac{L}{L + nc}\,e^{-\lambda (L + nc)}\,\frac{(\lambda \bar F(c) (L + nc))^n}{n!}.

        Plateaus with the same cut-off add their lengths (busy periods are additive in the work
        that starts them); the atoms of :math:`T - x` are :math:`P(V = 0)` times the product over
        the cut-offs, times :math:`e^{-\lambda \ell}` for the stretches' length :math:`\ell` with
        a positive cut-off, at :math:`\sum_g n_g c_g`. A stretch (a falling level) adds no atom:
        its cut-off moves, so an arrival there adds an amount that depends on its epoch. LAS
        (Gittins on a decreasing-hazard law) is one plateau, :math:`L = c = x`."""
        if not self.shifted:
            return []
        cuts = self._cuts[self._thr_res]
        L = self._res_len
        keep = np.isfinite(cuts) & (cuts > 0) & (L > 0)
        if not keep.any():
            return []
        cg, inv = np.unique(cuts[keep], return_inverse=True)
        Lg = np.bincount(inv, weights=L[keep])
        lam = self.lam
        law = {0.0: 1.0}
        for c, ell in zip(cg.tolist(), Lg.tolist(), strict=True):
            p = float(size.sf(c))
            if p > 0:
                g = busy_atoms.extension_law(lam, ell, [c], [p], kill=lam * (1.0 - p))
                g0 = g[0.0]
                law = busy_atoms.convolve(law, {v: m / g0 for v, m in g.items()})
        base = self.atom()  # P(V = 0) and no arrival that runs: the mass at v = 0
        return [(v, m) for v, m in busy_atoms.to_atoms([law], [0.0], [base]) if v > 0]

    # -- the transform -----------------------------------------------------------------------
    def lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        flat = s.reshape(-1)
        out = np.empty(flat.size, complex)
        for a in range(0, flat.size, 64):
            out[a : a + 64] = self._lst(np.ascontiguousarray(flat[a : a + 64]))
        return out.reshape(s.shape)

    def _lst(self, s: np.ndarray) -> np.ndarray:
        V, Q = self._terms(s)
        if self.waiting:
            return rd._mix(V, self.ws)
        if not self.shifted:
            Q = Q + s[:, None] * self.xs[None, :]
        with np.errstate(under="ignore"):
            return rd._mix(V * np.exp(-Q), self.ws)

    def class_lst(self, s: np.ndarray) -> np.ndarray:
        r"""Every class's transform of :math:`T - x`, :math:`\tilde V e^{-Q}`, at ``s`` (1-d):
        shape ``(s, classes)`` (response times)."""
        V, Q = self._terms(np.ascontiguousarray(s, complex))
        with np.errstate(under="ignore"):
            return V * np.exp(-Q)

    def _terms(self, s: np.ndarray):
        r"""Per class the old-work factor :math:`\tilde V_R(\eta_R(s))` and the residence's
        exponent :math:`Q` of :math:`T - x` (``(s, classes)``; ``Q`` None for waiting times)."""
        lam = self.lam
        S = s[:, None]
        if rd.PREFIX_KERNEL:
            eta = rd.busy_eta_parts(s, lam, self.rule, self._parts)  # (ns, thresholds)
        else:
            eta = rd.busy_eta(s, lam, self._Xn, self._Wn)
        u = eta[:, self._thr_R]
        lpsi0 = u - S  # lam psi_0(eta_R) where X^old_0 = X^new[R]
        if self._X0.shape[0]:
            lpsi0[:, ~self._same0] = lam * rd._psi_at(u[:, ~self._same0], self._X0, self._W0)
        num = (1.0 - self._rho0 - self._rhoi)[None, :] * u
        if self._Xi.shape[0]:
            psii = rd._psi_at(u[:, self._old_owner], self._Xi, self._Wi)
            num = num + lam * (self._old_sum @ psii.T).T
        V = np.where(S == 0, 1.0, num / (u - lpsi0))[:, self._R_of]
        if self.waiting:
            return V, None
        part = (eta[:, self._thr_res] - S) * self._res_len[None, :]
        Q = self._stretch_sum(eta[:, self._thr_node] - S)
        Q += (self._res_sum @ part.T).T
        return V, Q


#: split the unconditional law next to a jump of the size density at its least size c > 0 into
#: the atoms' density part, added directly, and the rest, inverted from c on
#: (:class:`BlindAtoms`); False: the whole law inverted
SPLIT_ATOMS = True
#: the atoms' terms at (k + 1) x with e^{-Re(s)((k + 1)x - c)} below e^{_CUT_EXP} are left out of
#: the rest's transform (each at most its mass: 1e-20 of it)
_CUT_EXP = -46.0


def _jumps_at_least_size(size) -> bool:
    """A continuous size law whose density is positive at its least size ``c > 0``."""
    c = float(size.support[0])
    return (not size.is_discrete) and c > 0 and float(size.pdf(c * (1 + 1e-12))) > 0


class BlindAtoms:
    r"""The split of a blind SOAP policy's unconditional law on a continuous size law whose
    density jumps at its least size :math:`c > 0`, for
    :class:`~qtheory.engine.distribution.ResponseTimeDistribution` (as
    :class:`qtheory.engine.response_distribution.DensityAtoms` for the size-based policies).

    A class :math:`x` runs from its first service to completion with nothing relevant arriving,
    with no old work ahead, with probability :math:`a(x) = P(V = 0)\,e^{-\lambda B(x)}`
    (:math:`B(x)` the residence's length at levels whose new-job cut-off is positive); where its
    residence has plateaus of total length :math:`L(x)` whose cut-off is :math:`x` itself (the
    rank at age :math:`x` exceeds every earlier one: LAS, Gittins on a decreasing hazard), each
    arrival of size :math:`\ge x` there adds exactly :math:`x`, and Takacs' theorem gives the
    atoms at :math:`(k+1)x`,

    .. math::
        a_k(x) = a(x)\,\frac{L}{L + kx}\,e^{-\lambda kx}\,
            \frac{\big(\lambda \bar F(x)(L + kx)\big)^k}{k!}

    (:meth:`BlindTransform.class_atoms`). Mixed over the size density :math:`f` they are the
    density :math:`\sum_k f(t/(k+1))a_k(t/(k+1))/(k+1)` of :math:`T`, which jumps where
    :math:`f` does; with :math:`A(s) = \sum_k\int f a_k e^{-s(k+1)x}dx`,

    .. math::
        P(T > t) = \sum_k\int_{(k+1)x > t} f a_k\,dx
          + \mathcal{L}^{-1}\Big[\frac{\bar R - e^{sc}(\phi(s) - A(s))}{s}\Big](t - c).

    The classes are the outer rule's panels of :class:`~qtheory.engine.soap_exact.BlindSOAP`
    (edges where the worst future rank changes form), for :math:`t <` ``GRADE_NEAR`` :math:`c`
    split at :math:`c + d`, :math:`d` geometric (:data:`~qtheory.engine.response_distribution.GRADE_SOAP`),
    with Kendall's equation and the old pieces on a size rule graded the same way. Atoms of a
    class at other positions (plateaus whose cut-off is not the class's size) stay in the
    inverted part (``docs/response_time_distribution.md``, section 13)."""

    def __init__(self, model, policy, graded: bool = False, tr: BlindTransform | None = None):
        size = model.size
        self.model, self.policy = model, policy
        self.c = c = float(size.support[0])
        self.lam = float(model.arrival_rate)
        br = soap_exact._blind_rank(model, policy, 0.0)
        e0, e1, an = br.soap(CLASS_WIDTH, CLASS_ORDER).panels
        self.grade = rd.GRADE_SOAP if graded else None
        if graded:
            ratio, top, least = self.grade
            d = [top * c]
            while d[-1] > least * c:
                d.append(d[-1] / ratio)
            cut = np.log(c + np.asarray(d))
            lo, hi, anc = [], [], []
            for a, b, n in zip(e0, e1, an, strict=True):
                inner = cut[(cut > a) & (cut < b)]
                ed = np.concatenate([[a], np.sort(inner), [b]])
                lo += list(ed[:-1])
                hi += list(ed[1:])
                anc += [n] * (ed.size - 1)
            e0, e1, an = np.array(lo), np.array(hi), np.array(anc)
        self.e0, self.e1, self.an = e0, e1, an
        x, w = self._nodes(e0, e1, an)
        w = w * np.asarray(size.pdf(x), float)
        self.xs, self.ws = x.ravel(), w.ravel()
        if tr is not None and not graded and np.array_equal(tr.xs, self.xs):
            self.tr = tr  # the whole law's transform has these classes: reused
        else:
            self.tr = BlindTransform(model, policy, classes=(self.xs, self.ws), grade=self.grade)
        self.near_below = 0.0 if graded else rd.GRADE_NEAR * c
        self._near_split = None
        masses = self._masses(self.tr)
        self.K = len(masses) - 1
        self._m = masses
        pw = [(self.ws * m).reshape(x.shape).sum(axis=1) for m in masses]
        self._cum = [np.concatenate([[0.0], np.cumsum(p)]) for p in pw]
        self.part_total = float(sum(c_[-1] for c_ in self._cum))
        self.rest_total = float(self.ws.sum()) - self.part_total

    @staticmethod
    def _nodes(e0, e1, an, order: int = CLASS_ORDER):
        r"""Gauss-Legendre nodes and weights of :math:`E[g(X)]` on panels ``[e0, e1]`` in
        :math:`u = \log x` (linear in :math:`\sqrt{|x - \text{anchor}|}` where anchored)."""
        from ..laws._quadrature import _gl

        t, w = _gl(order)
        x, jac = soap_exact._age(2 * t[None, :] - 1, np.asarray(e0)[:, None], np.asarray(e1)[:, None],
                                 np.asarray(an)[:, None])
        return x, jac * 2 * w[None, :]

    def near(self) -> BlindAtoms:
        """The split on classes and a size rule graded at c (for ``t < near_below``)."""
        if self._near_split is None:
            self._near_split = BlindAtoms(self.model, self.policy, graded=True)
        return self._near_split

    def _masses(self, tr: BlindTransform, K: int | None = None) -> list[np.ndarray]:
        r""":math:`a_k` at ``tr``'s classes, k = 0..K (K: until every term is below
        :math:`10^{-15}` when None)."""
        x = tr.xs
        a = tr._class_moments()[2]
        cuts = tr._cuts[tr._thr_res]
        own = np.isclose(cuts, x[tr._res_cls], rtol=1e-9, atol=0.0) & (tr._res_len > 0)
        L = np.bincount(tr._res_cls[own], weights=tr._res_len[own], minlength=x.size)
        lam = self.lam
        p = np.asarray(tr.rule.size.sf(x), float)
        out = [a]
        k = 0
        with np.errstate(divide="ignore", invalid="ignore"):
            while k < (30 if K is None else K):
                k += 1
                lk = L + k * x
                m = np.where(L > 0, a * (L / lk) * np.exp(-lam * k * x + k * np.log(np.maximum(lam * p * lk, 1e-300))
                                                         - math.lgamma(k + 1)), 0.0)
                if K is None and not np.max(m, initial=0.0) > 1e-15:
                    break
                out.append(m)
        return out

    def _at(self, x: np.ndarray) -> list[np.ndarray]:
        r""":math:`a_k` at sizes ``x`` (1-d, inside the panels), k = 0..K: the barycentric
        interpolant through the panel's Gauss-Legendre nodes in its local coordinate (the masses
        are smooth on a panel: its ends are where the worst future rank changes form)."""
        from ..laws._quadrature import _gl

        u = np.log(np.asarray(x, float))
        j = np.clip(np.searchsorted(self.e0, u, side="right") - 1, 0, self.e0.size - 1)
        tau = soap_exact._tau(u, self.e0[j], self.e1[j], self.an[j])
        nodes = 2 * _gl(CLASS_ORDER)[0] - 1
        bw = 1.0 / np.prod(nodes[:, None] - nodes[None, :] + np.eye(nodes.size), axis=1)
        d = tau[:, None] - nodes[None, :]
        hit = d == 0.0
        d = np.where(hit, 1.0, d)
        L = bw[None, :] / d
        exact = hit.any(axis=1)
        L[exact] = hit[exact].astype(float)
        L /= L.sum(axis=1, keepdims=True)
        n = CLASS_ORDER
        return [np.einsum("ij,ij->i", L, m.reshape(-1, n)[j]) for m in self._m]

    def part_cdf(self, t) -> np.ndarray:
        r""":math:`\sum_k\int_{(k+1)x \le t} f a_k` (full panels below :math:`t/(k+1)` and a
        Gauss-Legendre panel up to it, on which :math:`a_k` is evaluated)."""
        t = np.atleast_1d(np.asarray(t, float))
        out = np.zeros(t.shape)
        ks = range(self.K + 1)
        u = np.log(np.maximum(np.concatenate([t / (k + 1) for k in ks]), 1e-300))
        j = np.searchsorted(self.e1, u, side="right")  # full panels below
        part = (j < self.e0.size) & (u > self.e0[np.minimum(j, self.e0.size - 1)])
        idx = np.flatnonzero(part)
        if idx.size:
            jj = j[idx]
            x, w = self._nodes(self.e0[jj], u[idx], self.an[jj])
            w = w * np.asarray(self.model.size.pdf(x), float)
            m = self._at(x.ravel())
        for k in ks:
            sl = slice(k * t.size, (k + 1) * t.size)
            out += self._cum[k][j[sl]]
            if idx.size:
                sel = (idx >= sl.start) & (idx < sl.stop)
                vals = np.sum((w * m[k].reshape(x.shape))[sel], axis=1)
                np.add.at(out, idx[sel] - sl.start, vals)
        return out

    def part_pdf(self, t) -> np.ndarray:
        r"""The atoms' density :math:`\sum_k f(t/(k+1))a_k(t/(k+1))/(k+1)`."""
        t = np.asarray(t, float)
        flat = t.reshape(-1)
        u = np.concatenate([flat / (k + 1) for k in range(self.K + 1)])
        inside = (u > self.c) & (u < np.exp(self.e1[-1]))
        out = np.zeros(flat.size)
        if not inside.any():
            return out.reshape(t.shape)
        m = self._at(u[inside])
        f = np.asarray(self.model.size.pdf(u[inside]), float)
        pos = np.flatnonzero(inside)
        for k in range(self.K + 1):
            sel = (pos >= k * flat.size) & (pos < (k + 1) * flat.size)
            np.add.at(out, pos[sel] - k * flat.size, f[sel] * m[k][sel] / (k + 1))
        return out.reshape(t.shape)

    def rest_lst(self, s) -> np.ndarray:
        r""":math:`e^{sc}(\phi(s) - A(s))` at complex ``s`` (any shape), on the classes."""
        s = np.asarray(s, complex)
        flat = np.ascontiguousarray(s.reshape(-1))
        out = np.empty(flat.size, complex)
        x, c = self.xs, self.c
        for a in range(0, flat.size, 64):
            S = flat[a : a + 64]
            G = self.tr.class_lst(S)
            with np.errstate(under="ignore"):
                E = np.exp(-S[:, None] * np.maximum(x - c, 0.0)[None, :])
                E1 = np.exp(-S[:, None] * x[None, :]) if self.K else None
                L = (G - self._m[0][None, :]) * E
                low = float(np.min(S.real))
                for k in range(1, self.K + 1):
                    if low * k * c > -_CUT_EXP:  # every e^{-s((k+1)x - c)} below e^{_CUT_EXP} from here
                        break
                    E = E * E1
                    L = L - self._m[k][None, :] * E
            out[a : a + 64] = rd._mix(L, self.ws)
        return out.reshape(s.shape)


def supported(model, policy) -> bool:
    """Blind SOAP policies on a continuous size law that the law-itself evaluator covers."""
    return soap_exact.supported(model, policy)


def build(model, pol, x, waiting: bool) -> ResponseTimeDistribution:
    """The distribution object of a blind SOAP policy on a continuous size law."""
    tr = BlindTransform(model, pol, x, waiting)
    label = f"{pol.name} on {model!r}" + ("" if x is None else f", x={float(x):g}")
    if waiting:
        return ResponseTimeDistribution(tr, "waiting time, " + label, tr.atom())
    if tr.shifted:
        xv = float(x)
        atoms = [(xv + pos, m) for pos, m in tr.class_atoms(model.size)]
        return ResponseTimeDistribution(tr, label, tr.atom(), shift=xv, atoms=atoms)
    if SPLIT_ATOMS and x is None and _jumps_at_least_size(model.size):
        return ResponseTimeDistribution(tr, label, split=BlindAtoms(model, pol, tr=tr))
    # every response time is at least the least size
    return ResponseTimeDistribution(tr, label, lower=float(model.size.support[0]))


__all__ = ["BlindAtoms", "BlindTransform", "build", "supported"]
