"""Joint laws of a multiplicative prediction error: :math:`Y = X Z` with :math:`Z` independent of
:math:`X` (:class:`FactorJoint`) or a deterministic factor map (:class:`FactorMapJoint`), with
their threshold functions.

Derivation: ``docs/soap_predictions.md``.
"""

from __future__ import annotations

import math

import numpy as np

from ._quadrature import (
    bulk_range,
    endpoint_refinement,
    log_edges,
    log_rule,
    log_spread,
    panels,
    size_range,
    size_rule,
    tail_node,
)
from .joint import _CHUNK, Joint, _with_head, inv_tail

#: quantiles of a smooth error factor Z whose images x z_q (and x (z_q - 1)) are grid edges
_Z_QUANTILES = (1e-4, 0.005, 0.03, 0.1, 0.2, 0.35, 0.45, 0.55, 0.65, 0.8, 0.9, 0.97, 0.995, 0.9999)


#: panel width of the prediction grids, as a fraction of the laws' log interquartile spread
WIDTH_DIV = 1.0

#: Z-outer integrals: panels graded towards z = 1+ with widths in this ratio (down to
#: ``(z_hi - 1) * ratio ** panels``)
_GRADE_RATIO = 0.15
_GRADE_PANELS = 8


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
    #: Z-outer on a power tail with mass beyond the size rule's cap h: (h, x*, P(X > h)), the
    #: node standing for X > h in the densities of Y (``tail_node``)
    _ztail: tuple | None = None

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
            tail = tail_node(s, xhi)
            if tail is not None:
                # the size rule's node beyond its capped range (Pareto(1.02): 2.5e-6 of E[X]
                # beyond 1e280, at 51e280) spreads over v up to x* z_hi: without it E[X; Y in dv]
                # summed 1e-6 short of E[X] with an exponential factor (2.5e-6 with a uniform
                # one, Z-outer, where the sizes above the cap stand for the node in the
                # densities of Y below)
                hi = max(hi, tail[0] * math.exp(zhi))
                if not self.x_outer:
                    self._ztail = (xhi, tail[0], tail[1])
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
            if self._ztail is not None:  # the node's kinks x* k and the cap's h k
                bps += [self._ztail[0] * k for k in zk] + [self._ztail[1] * k for k in zk]
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
                zedges = log_edges(math.exp(zlo), math.exp(zhi), min(0.5, zs / WIDTH_DIV),
                                   factor.kinks + (1.0,))
                if zlo <= 0.0 < zhi:
                    # z = 1+: the windows v/(z - 1) of C and G make the integrands powers of
                    # z - 1 (Pareto: (z - 1)^alpha; Weibull: a non-analytic factor): edges
                    # graded geometrically towards it (SPRPT with Z ~ U[1, 2] on Pareto(1.05):
                    # 4.3e-8 off an independent quadrature; Weibull(0.5): 5.4e-9)
                    top = min(math.exp(zhi), 2.0) - 1.0
                    grade = np.log1p(top * _GRADE_RATIO ** np.arange(1, _GRADE_PANELS + 1))
                    zedges = np.unique(np.concatenate([zedges, grade]))
                self._zedges = zedges
                self._sbps = np.asarray(s.breakpoints, float)
                if self._ztail is not None:  # the densities stop at the cap h: a z-edge v/h
                    self._sbps = np.append(self._sbps, self._ztail[0])
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
            # v (v T0 + ...) rather than v^2 T0: v^2 overflows on a heavy tail's thresholds
            # (Pareto(1.05): v up to 1e280) where v^2 T0 ~ v^0.95 does not
            C_le = np.where(om == 0, 0.0, om * om * T2 + V * (2 * om * T1)) + V * (V * T0)
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
            C_gt = V * (V * D0 - 2 * zm * D1) + zm * zm * D2
        with np.errstate(invalid="ignore"):  # zero weights against infinite terms: dropped
            C = np.where(wz > 0, wz * np.where(le1, C_le, np.maximum(C_gt, 0.0)), 0.0).sum(1)
        G = (wz * (T0 - np.where(le1, 0.0, s.sf(d)))).sum(1)
        fx, xfx = s.pdf(c), s.power_pdf(1, c)
        if self._ztail is not None:  # sizes above the cap h: the node x* instead
            h, xs, ps = self._ztail
            fx, xfx = np.where(c <= h, fx, 0.0), np.where(c <= h, xfx, 0.0)
        fY = (wz * fx / z).sum(1)
        # c f(c) without the density's underflow on a power tail beyond 1e150 (Pareto(1.05),
        # uniform factor: E[X; Y in dv] summed 1.4e-8 short of E[X], PSPJF 1.8e-8 low)
        aY = (wz * xfx / z).sum(1)
        if self._ztail is not None:
            fz = self.factor.pdf(v / xs)
            fY = fY + fz * (ps / xs)
            aY = aY + fz * ps
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
#: most (threshold, piece) pairs evaluated at once (memory bound of the partial contributions)
_PAIR_CHUNK = 1 << 20


def _pairs(lo: np.ndarray, hi: np.ndarray, chunk: int = _PAIR_CHUNK):
    """Yield ``(i, k)``: every index ``i`` in ``[lo[k], hi[k])`` with its piece ``k``, in chunks of
    whole pieces of about ``chunk`` pairs (a piece longer than ``chunk`` is one chunk)."""
    cnt = np.maximum(np.asarray(hi) - np.asarray(lo), 0)
    ends = np.cumsum(cnt)
    k0 = 0
    while k0 < cnt.size:
        base = ends[k0] - cnt[k0]
        k1 = max(int(np.searchsorted(ends, base + chunk, side="right")), k0 + 1)
        c = cnt[k0:k1]
        tot = int(c.sum())
        if tot:
            k = np.repeat(np.arange(k0, k1), c)
            start = np.repeat(np.cumsum(c) - c, c)
            yield np.arange(tot) - start + np.repeat(lo[k0:k1], c), k
        k0 = k1


def _cover_sums(n: int, lo: np.ndarray, hi: np.ndarray, vals: np.ndarray) -> np.ndarray:
    r"""``out[i] = sum of vals[k] over the ranges with lo[k] <= i < hi[k]`` (rows of ``vals``).

    A segment tree: each range adds its row to the :math:`O(\log n)` nodes that cover it, and
    each index sums the nodes above it, so only the rows of the ranges holding ``i`` enter its
    sum (a difference of prefix sums would cancel in the tails)."""
    size = 1 << max(0, (n - 1).bit_length())
    tree = np.zeros((2 * size,) + vals.shape[1:])
    keep = hi > lo
    lo, hi, vals = lo[keep] + size, hi[keep] + size, vals[keep]
    while lo.size:
        odd = (lo & 1) == 1
        np.add.at(tree, lo[odd], vals[odd])
        lo = lo + odd
        odd = (hi & 1) == 1
        hi = hi - odd
        np.add.at(tree, hi[odd], vals[odd])
        lo, hi = lo >> 1, hi >> 1
        keep = hi > lo
        lo, hi, vals = lo[keep], hi[keep], vals[keep]
    width = 1
    while width < size:  # push the sums down, level by level
        tree[2 * width:4 * width] += np.repeat(tree[width:2 * width], 2, axis=0)
        width *= 2
    return tree[size:size + n]


class FactorMapJoint(Joint):
    r"""Deterministic predictions :math:`Y = \phi_k X` for :math:`X \in [e_k, e_{k+1})`:
    every quantity is a finite sum of partial moments of the size law's continuous part, plus
    exact sums over its atoms (a mixed law; the atoms' factors as the sampler assigns them).

    With :math:`M_j(a, b) = E[X^j 1\{a < X \le b\}]` over the continuous part,

    .. math::
        A(v) = \sum_k M_1(e_k, \min(e_{k+1}, v/\phi_k)), \qquad
        B(v) = \sum_k M_2(e_k, \min(e_{k+1}, v/\phi_k)),

    .. math::
        C(v) = \sum_k E[(v - (\phi_k - 1) X)^2; X \in W_k(v)], \qquad
        G(v) = \sum_k P(X \in W_k(v)),

    with the window :math:`W_k(v) = (\max(e_k, v/\phi_k), t_k(v)]`, :math:`t_k = e_{k+1}` for
    :math:`\phi_k \le 1` and :math:`\min(e_{k+1}, v/(\phi_k - 1))` above (``docs/soap_predictions.md``).
    A piece enters a sum at threshold :math:`v` fully (a constant, or a quadratic in :math:`v`
    for :math:`C`), not at all, or partially on at most two intervals of :math:`v`: the full
    terms are prefix sums (segment-tree sums for the windows of :math:`C, G`) over the pieces
    sorted by their thresholds, and only the partial (threshold, piece) pairs are evaluated, so
    a monotone map :math:`x \mapsto \phi(x) x` costs :math:`O((n_v + n) \log n)`, not
    :math:`O(n_v n)` (a 2048-piece map on Exp(1): 0.3 s instead of 6 minutes). Every piece's ends, mapped by
    :math:`\phi_k` and :math:`\phi_k - 1`, stay breakpoints of the threshold rule, also for the
    fine discretisation of a callable map (without them its SPRPT mean moved by 2%). A map far
    from monotone evaluates at most the grid's pairs, in chunks of ``_PAIR_CHUNK``.
    """

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
        self._setup_pieces()
        xlo, xhi = size_range(s)
        lo, hi = xlo * self.phi.min(), xhi * self.phi.max()
        width = min(0.5, log_spread(s.ppf) / 4)
        bps = list(s.breakpoints) + self._piece_kinks() + self._top_refinement()
        da = self._ya - xa
        bps += list(self._ya) + list(da[da > 0])
        self.v_kinks = np.unique(np.asarray(bps, float))
        if math.isfinite(s.support[1]):
            self.top = float(s.support[1] * self.phi.max())
        v, wdv = _with_head(*log_rule(lo, hi, width, bps), lo, bps)
        fY, aY = self._densities(v, (0, 1))
        wp, wx = wdv * fY, wdv * aY
        self._n_cont = v.size
        if xa.size:  # the atoms of Y are point nodes (no dv weight)
            self.y_atoms = np.unique(self._ya)
            v, wdv = np.concatenate([v, self._ya]), np.concatenate([wdv, 0 * xa])
            wp, wx = np.concatenate([wp, pa]), np.concatenate([wx, pa * xa])
        self._fill(v, wdv, wp, wx)
        self.excess = float(np.sum((1 - self.phi).clip(0) * self._D[1])
                            + np.sum(pa * np.maximum(xa - self._ya, 0.0)))

    def _setup_pieces(self):
        """Per piece: the full moments and the thresholds where its terms change form."""
        e0, e1, ph = self.e[:-1], self.e[1:], self.phi
        #: M_j(e_k, e_{k+1}), j = 0, 1, 2
        self._D = [self._between(j, e0, e1) for j in (0, 1, 2)]
        with np.errstate(invalid="ignore"):
            #: A, B: 0 for v <= L_k, partial on (L_k, U_k), full beyond
            self._L, self._U = ph * e0, ph * e1
            le1 = ph <= 1
            pm = np.where(le1, 1.0, ph - 1.0)
            # C, G: full window on [s_k, t_k] (all v <= phi e_k when phi <= 1), partial on
            # [lo_k, s_k] and [t_k, U_k], empty elsewhere
            self._le1 = le1
            self._wlo = np.where(le1, -np.inf, pm * e0)
            self._ws = np.where(le1, -np.inf, np.where(np.isinf(e1), np.inf, pm * e1))
            self._wt = ph * e0
        self._full_w = self._ws < self._wt
        om = 1.0 - ph
        with np.errstate(invalid="ignore"):
            # the full window's C as c0 + v (c1 + v c2) (phi = 1: no (1 - phi) terms)
            c0 = np.where(om == 0, 0.0, om * om * self._D[2])
        self._cwin = np.stack([c0, 2 * om * self._D[1], self._D[0]], axis=1)

    def _piece_kinks(self) -> list:
        """Breakpoints of the threshold rule from the pieces: their ends and the size law's
        breakpoints inside them."""
        e0, e1, ph = self.e[:-1], self.e[1:], self.phi
        sb = np.asarray(self.size.breakpoints, float)
        # the size law's breakpoints inside a piece, mapped by the piece's factor
        k = np.searchsorted(self.e, sb, side="right") - 1
        ok = (k >= 0) & (k < ph.size)
        ok[ok] &= (sb[ok] > self.e[k[ok]]) & (sb[ok] < self.e[k[ok] + 1])
        pts = [(e0, ph), (e1, ph), (sb[ok], ph[k[ok]])]
        out = []
        for x, f in pts:
            good = np.isfinite(x) & (x > 0)
            x, f = x[good], f[good]
            # Y = phi X (kinks of A, B, f_Y) and Y - X = (phi - 1) X (kinks of C and G)
            out += list(x * f) + list(x[f > 1] * (f[f > 1] - 1))
        return out

    def _top_refinement(self) -> list:
        r"""The size rule's points accumulating at a finite top (:func:`endpoint_refinement`:
        at high load :math:`1/(1 - \lambda A(v))` varies on the scale of the distance to the
        top), mapped by their pieces' factors: without them SPJF's mean on Uniform(0, 1) sizes
        with :math:`Y = 2X` at load 0.93 was 7.2e-6 below SJF's, which it equals."""
        pts = endpoint_refinement(self.size)
        pts = pts[np.isfinite(pts) & (pts > 0)]
        if not pts.size:
            return []
        k = np.clip(np.searchsorted(self.e, pts, side="right") - 1, 0, self.phi.size - 1)
        return list(pts * self.phi[k])

    def _between(self, k, lo, hi):
        """E[X^k 1{lo < X <= hi}] over the continuous part (0 where hi <= lo)."""
        lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
        if self._cont is None:
            return np.zeros(lo.shape)
        s = self._cont
        ok = hi > lo
        val = s.partial_moment(k, np.where(ok, hi, 0.0)) - s.partial_moment(k, np.where(ok, lo, 0.0))
        return self._wc * np.where(ok, val, 0.0)

    # -- sums over the pieces at sorted thresholds ---------------------------------------------
    def _sorted(self, v, fn):
        """``fn(sorted thresholds)`` (a tuple of arrays) back in the order and shape of ``v``."""
        v = np.asarray(v, float)
        flat = np.atleast_1d(v).ravel()
        order = np.argsort(flat, kind="stable")
        res = fn(flat[order])
        outs = []
        for r in res:
            o = np.empty(flat.size)
            o[order] = r
            outs.append(o.reshape(np.shape(v)))
        return outs

    def _ab_sorted(self, vs, ks):
        """A (continuous part) for j = 1, B for j = 2: the sums of M_j(e_k, min(e_{k+1},
        v/phi_k)) at the sorted thresholds ``vs``, one array per j in ``ks``."""
        n = vs.size
        lo = np.searchsorted(vs, self._L, side="left")
        hi = np.searchsorted(vs, self._U, side="right")
        # full beyond hi[k]: prefix sums over the pieces sorted by hi
        order = np.argsort(hi, kind="stable")
        nfull = np.searchsorted(hi[order], np.arange(n), side="right")
        finite = np.isfinite(self._U)[order]
        outs = []
        for j in ks:
            full = np.where(finite, self._D[j][order], 0.0)
            outs.append(np.concatenate([[0.0], np.cumsum(full)])[nfull])
        e0, e1, ph = self.e[:-1], self.e[1:], self.phi
        for i, k in _pairs(lo, hi):
            a, b = e0[k], np.minimum(e1[k], vs[i] / ph[k])
            for o, j in zip(outs, ks, strict=True):
                o += np.bincount(i, self._between(j, a, b), minlength=n)
        return outs

    def _window_ranges(self, vs):
        """Index ranges of the sorted thresholds: (full window, partial 1, partial 2)."""
        idx = lambda x, side: np.searchsorted(vs, x, side=side)  # noqa: E731
        full = self._full_w
        lo, top = idx(self._wlo, "left"), idx(self._U, "right")
        s_r, t_l = idx(self._ws, "right"), idx(self._wt, "left")
        f_rng = (np.where(full, s_r, 0), np.where(full, t_l, 0))
        p1 = (lo, np.where(full, s_r, top))
        p2 = (np.where(full, t_l, 0), np.where(full, top, 0))
        return f_rng, p1, p2

    def _window_pairs(self, vs, p1, p2):
        """Yield (i, k, window lower end, window upper end) for the partial pairs."""
        e0, e1, ph = self.e[:-1], self.e[1:], self.phi
        for lo, hi in (p1, p2):
            for i, k in _pairs(lo, hi):
                v, f = vs[i], ph[k]
                a = np.maximum(e0[k], v / f)
                with np.errstate(divide="ignore"):
                    b = np.where(self._le1[k], e1[k],
                                 np.minimum(e1[k], v / np.where(self._le1[k], 1.0, f - 1.0)))
                yield i, k, a, b

    def _cg_sorted(self, vs):
        """(C, G) of the continuous part at the sorted thresholds ``vs``."""
        n = vs.size
        f_rng, p1, p2 = self._window_ranges(vs)
        c0, c1, c2 = _cover_sums(n, *f_rng, self._cwin).T
        with np.errstate(invalid="ignore"):
            C = c0 + vs * (c1 + vs * c2)
        G = c2.copy()
        ph = self.phi
        for i, k, a, b in self._window_pairs(vs, p1, p2):
            m0, m1, m2 = (self._between(j, a, b) for j in (0, 1, 2))
            om, v = 1.0 - ph[k], vs[i]
            with np.errstate(invalid="ignore"):
                val = np.where(om == 0, 0.0, om * om * m2) + v * (2 * om * m1 + v * m0)
            C += np.bincount(i, np.maximum(val, 0.0), minlength=n)
            G += np.bincount(i, m0, minlength=n)
        return np.maximum(C, 0.0), G

    def _densities(self, v, powers):
        r""":math:`\sum_k f(v/\phi_k) (v/\phi_k)^p / \phi_k` over the pieces holding
        :math:`v/\phi_k`, one array per power p in ``powers`` (thresholds in any order)."""
        def fn(vs):
            n = vs.size
            lo = np.maximum(np.searchsorted(vs, self._L, side="left") - 1, 0)
            hi = np.minimum(np.searchsorted(vs, self._U, side="right") + 1, n)
            outs = [np.zeros(n) for _ in powers]
            for i, k in _pairs(lo, hi):
                xk = vs[i] / self.phi[k]
                inside = (xk > self.e[k]) & (xk <= self.e[k + 1])
                i, k, xk = i[inside], k[inside], xk[inside]
                dens = self.size.pdf(xk) / self.phi[k]
                for o, p in zip(outs, powers, strict=True):
                    o += np.bincount(i, dens * xk ** p, minlength=n)
            return outs
        return self._sorted(v, fn)

    def _atom_sum(self, v, terms):
        """``sum_i p_i terms(x_i, y_i, v)`` at every threshold (0 without atoms)."""
        v = np.asarray(v, float)
        if not self._xa.size:
            return np.zeros(np.shape(v))
        V = np.atleast_1d(v)[:, None]
        t = terms(self._xa[None, :], self._ya[None, :], V)
        return (self._pa[None, :] * t).sum(1).reshape(np.shape(v))

    def A_lt(self, v):
        cont = self._sorted(v, lambda vs: self._ab_sorted(vs, (1,)))[0]
        return cont + self._atom_sum(v, lambda x, y, V: x * (y < V))

    def A_le(self, v):
        cont = self._sorted(v, lambda vs: self._ab_sorted(vs, (1,)))[0]
        return cont + self._atom_sum(v, lambda x, y, V: x * (y <= V))

    def B(self, v):
        cont = self._sorted(v, lambda vs: self._ab_sorted(vs, (2,)))[0]
        return cont + self._atom_sum(v, lambda x, y, V: x * x * (y <= V))

    def C(self, v):
        val = self._sorted(v, self._cg_sorted)[0]
        return val + self._atom_sum(v, lambda x, y, V: np.where(y > V, np.maximum(x - y + V, 0.0) ** 2, 0.0))

    def G(self, v):
        cont = self._sorted(v, self._cg_sorted)[1]
        return cont + self._atom_sum(v, lambda x, y, V: (y > V) * 1.0 - (y - x > V))

    def _fill(self, v, w_dv, w_prob, w_x, with_g=True):
        # one pass over the pieces for A and B, one for C and G (the base class calls each)
        self.v, self.w_dv, self.w_prob, self.w_x = v, w_dv, w_prob, w_x
        A, B = self._sorted(v, lambda vs: self._ab_sorted(vs, (1, 2)))
        C, G = self._sorted(v, self._cg_sorted)
        at = self._atom_sum
        self.A_lt_v = A + at(v, lambda x, y, V: x * (y < V))
        self.A_le_v = A + at(v, lambda x, y, V: x * (y <= V))
        self.B_v = B + at(v, lambda x, y, V: x * x * (y <= V))
        self.C_v = C + at(v, lambda x, y, V: np.where(y > V, np.maximum(x - y + V, 0.0) ** 2, 0.0))
        self.G_v = G + at(v, lambda x, y, V: (y > V) * 1.0 - (y - x > V))

    def _make_inverse_terms(self):
        v = self.v
        w_inv = self.w_dv * self._densities(v, (-1,))[0]
        w_inv[self._n_cont:] = self._pa / self._xa
        exc = float(np.sum(self._pa * np.maximum(1.0 - self._ya / self._xa, 0.0)))
        if self._cont is not None:
            exc += float(np.sum((1 - self.phi).clip(0) * self._D[0]))
        return w_inv, self._K(v), exc

    def _K(self, v):
        r""":math:`K(v) = E[X^{-1}(1\{Y > v\} - 1\{Y - X > v\})]`: the atoms' sum plus
        :math:`\sum_k E[X^{-1}; X \in W_k(v)]` (full windows and partial pairs as for G)."""
        K = self._atom_sum(v, lambda x, y, V: ((y > V) * 1.0 - (y - x > V)) / x)
        if self._cont is None:
            return K
        it = inv_tail(self._cont)
        dinv = self._wc * it.between(self.e[:-1], self.e[1:])

        def fn(vs):
            f_rng, p1, p2 = self._window_ranges(vs)
            out = _cover_sums(vs.size, *f_rng, dinv[:, None])[:, 0]
            for i, _, a, b in self._window_pairs(vs, p1, p2):
                out += np.bincount(i, self._wc * it.between(a, b), minlength=vs.size)
            return (out,)
        return K + self._sorted(v, fn)[0]
