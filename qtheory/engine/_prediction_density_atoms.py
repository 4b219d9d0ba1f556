r"""The split of the unconditional response-time law of PSPJF and SPRPT on a continuous size law
whose density jumps at its lower end :math:`c > 0` (Pareto, uniform sizes): the atoms' density
part added directly and the rest inverted from :math:`c` on, as
:class:`qtheory.engine.response_distribution.DensityAtoms` does for the size-based policies and
:class:`qtheory.engine.response_distribution_prediction.SPJFDensityAtoms` for SPJF.

A class :math:`(x, y)` neither waits nor is interrupted with probability

.. math::
    a(x, y) = \lim_{s\to\infty} e^{sx}E[e^{-sT}\mid x, y]
            = p_0(y)\,e^{-\lambda I(x, y)},\qquad p_0(y) = 1 - \rho_0(y) - \rho_1(y),

(no old work ahead, :math:`\tilde V_y(\infty) = p_0(y)`; no new arrival that runs first during
the residence, :math:`\eta_{<v}(s) - s \to \lambda P(Y < v)`) with

* PSPJF: :math:`I = x\,P(Y < y)` (every arrival with a smaller prediction preempts),
* SPRPT: :math:`I = \int_{(y - x)^+}^{y} P(Y < v)\,dv` (at age :math:`a` an arrival with
  :math:`Y < y - a` preempts; none once the remaining prediction is negative),
* TRAIL(:math:`\gamma`) (SPRPT whose jobs become non-preemptible at age :math:`\gamma y`):
  :math:`I = \int_{y - \min(x, \gamma y)}^{y} P(Y < v)\,dv` (its residence
  :math:`e^{-sx}\exp(-\int_{y - \min(x, \gamma y)}^{y}(\eta_{<v}(s) - s)\,dv)` has SPRPT's form
  with another lower end; ``docs/response_time_distribution.md``, section 5.4); :math:`\gamma = 1`
  is SPRPT, :math:`\gamma = 0` SPJF (:math:`I = 0`).

Mixed over the joint law the atoms are the density :math:`f_X(t)\bar a(t)` of :math:`T`,
:math:`\bar a(x) = E[a(x, xZ)]` (:math:`Y = XZ`), which jumps with :math:`f_X` at :math:`c`; so

.. math::
    P(T > t) = \int_t^\infty f_X\bar a\,dx + \mathcal{L}^{-1}\Big[\frac{\bar R - \tilde R(s)}{s}
        \Big](t - c),\qquad
    \tilde R(s) = \sum_{j,i} W_{ji}\,e^{-s(x_{ji} - c)}\big(e^{s x_{ji}}
        E[e^{-sT}\mid x_{ji}, y_j] - a(x_{ji}, y_j)\big),

:math:`\bar R = \sum W(1 - a)` on the joint rule. The inverted part has no jump in its density
(each class's bracket decays like :math:`1/s`). Next to :math:`c` (:math:`t <`
``GRADE_NEAR`` :math:`c`) the same split on a joint rule whose class sizes are graded at
:math:`c` and whose sparse old piece (SPRPT) is graded at 0
(``docs/response_time_distribution.md``, section 13).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..laws._quadrature import log_edges, panels
from ._joint_rule import _lagrange
from .response_distribution import GRADE_NEAR
from .response_distribution_prediction import _S_BLOCK, PredictionTransform, _cum_at, _cum_kernel, psi_rows

#: width in log z of the panels of the prediction factor's law in the mixed atom mass
#: E[a(x, xZ)] (smooth in log z: 1.0 is 4e-11 from 0.5, at 0.6 times the cost)
WIDTH_Z = 1.0
#: below this Re(s) c the classes' transform is the whole law's (the kernels of
#: :class:`~qtheory.engine.response_distribution_prediction.PredictionTransform`) times e^{sc}:
#: SPRPT sums the terms e^{-s x} directly (no overflow or underflow where they matter below
#: e^{30}); PSPJF's is a difference sum W - psi, whose rounding e^{sc} multiplies (e^3: 2e-15; at
#: Re(s) c = 26 it was 4e-2 off). Above them (next to c) the terms are summed with e^{-s(x - c)}
_UNSHIFTED = {"static": 3.0, "remaining": 30.0}
#: terms of the classes' transform with e^{-Re s (x - c)} below e^{_CUT} are left out (each is
#: at most its class weight: 1e-20 of the mass)
_CUT = -46.0


@numba.njit(cache=True, nogil=True)
def _rest_kernel(static, E, g, Rc, p, start, coef, Ry, s, X, W, V, c, out):  # pragma: no cover
    # out[i] = sum_jk W V_ij e^{-s(x - c) + e_ijk}: PSPJF (``static``) e = -x E_ij,
    # E = eta_{<y}(s) - s; SPRPT and TRAIL e = R(d_jk) - R(y_j), R = int_0 g (the arrays of the
    # other shape are not read)
    ny, K = X.shape
    for i in range(s.size):
        si = s[i]
        acc = 0.0 + 0.0j
        for j in range(ny):
            vij = V[i, j]
            for k in range(K):
                w = W[j, k]
                if w == 0.0:
                    continue
                x = X[j, k]
                e0 = -si * max(x - c, 0.0)
                if e0.real < _CUT:
                    continue
                if static:
                    e0 = e0 - x * E[i, j]
                else:
                    q = j * K + k
                    e0 = e0 + _cum_at(g, Rc, start, coef, i, p[q], q) - Ry[i, j]
                acc += w * vij * np.exp(e0)
        out[i] = acc


def _z_edges(factor, kinks) -> np.ndarray:
    r"""Panel edges in :math:`\log z` of the prediction factor's law: width :data:`WIDTH_Z`
    inside its 1e-6 and 1 - 1e-6 quantiles, growing outside
    (:func:`qtheory.laws._quadrature.log_edges`), the factor's kinks and ``kinks`` as edges."""
    zlo, zhi = factor.log_range()
    bulk = (math.exp(factor.log_range_q(1e-6)), math.exp(factor.log_range_q(1 - 1e-6)))
    pts = [k for k in list(factor.kinks) + list(kinks) if math.exp(zlo) < k < math.exp(zhi)]
    return log_edges(math.exp(zlo), math.exp(zhi), WIDTH_Z, pts, bulk=bulk)


class PredictionDensityAtoms:
    r"""The split of unconditional PSPJF (rank shape "static"), SPRPT or TRAIL ("remaining")
    on a continuous size law with a multiplicative prediction factor whose density jumps at its
    lower end :math:`c > 0` (module docstring). ``part_cdf``, ``part_pdf``, ``rest_lst``,
    ``part_total``, ``rest_total``, ``c``, ``near_below`` and ``near()`` as
    :class:`qtheory.engine.response_distribution.DensityAtoms`.

    Parameters
    ----------
    tr : PredictionTransform
        The unconditional transform (its joint rule a ``FactorJointRule``); a
        :class:`~qtheory.engine.response_distribution_trail.TrailTransform` for TRAIL (its
        preemptible fraction ``tr.c``: the residence starts at :math:`y - \min(x, \gamma y)`).
    near : callable or None
        Builds the same split on a rule graded at :math:`c` (used for ``t < near_below``).
    part : PredictionDensityAtoms or None
        The split whose atoms' part (``part_cdf``, ``part_pdf``) this one shares (a split on
        a graded rule shares that of the split on the plain rule).
    """

    def __init__(self, tr: PredictionTransform, near=None, part: PredictionDensityAtoms | None = None):
        if tr.kind not in ("static", "remaining") or tr.conditional or tr.waiting or not tr._interp:
            raise ValueError("PredictionDensityAtoms: the unconditional PSPJF or SPRPT law on a "
                             f"continuous joint rule (got rank shape {tr.kind!r})")
        self.tr = tr
        #: the preemptible fraction gamma of the prediction (TRAIL's c; SPRPT: 1)
        self.gamma = float(getattr(tr, "c", 1.0)) if tr.kind == "remaining" else 1.0
        rule = tr.rule
        self.size = rule.r.size
        self.c = float(self.size.support[0])
        self._near, self._near_split = near, None
        self.near_below = GRADE_NEAR * self.c if near else 0.0
        lam = tr.lam
        g = tr.grid
        #: P(Y < v) and p_0(v) = 1 - rho_0(v) - rho_1(v) on the threshold grid
        self._pl = tr.Wt.sum(1)
        self._p0 = 1.0 - lam * (tr._m(tr.Xo, tr.Wo, 1) + tr._m(tr.X1, tr.W1, 1))
        #: a(x, y) of every class of the rule: the limit of the transform the rest subtracts
        p0 = g.interp(self._p0, tr.ys)
        if tr.kind == "static":
            expo = tr.Xc * g.interp(self._pl, tr.ys)[:, None]
        else:
            Cy = tr._cum_at(self._pl, tr._q_y)
            Cd = tr._cum_at(self._pl, tr._q_d).reshape(tr.Xc.shape)
            expo = Cy[:, None] - Cd
        A = p0[:, None] * np.exp(-lam * expo)
        W = tr.Wc
        self.part_total = float(np.sum(W * A))
        #: the classes' atoms as distinct sizes x - c and masses (rows share most sizes: the
        #: atoms' transform is a short sum)
        m = W > 0
        self._ax, inv = np.unique(np.maximum(tr.Xc[m] - self.c, 0.0), return_inverse=True)
        self._am = np.bincount(inv, weights=(W * A)[m], minlength=self._ax.size)
        self.rest_total = float(W.sum()) - self.part_total
        #: the atoms' part: the mixed atom mass a-bar(x) = E[a(x, xZ)] on the factor's rule
        #: (SPRPT: z = 1 an edge, where a(x, xz) kinks) and the cumulative sums of w a-bar on
        #: the panels of the size rule (a-bar and f_X are smooth on them); a split on a graded
        #: rule (``near``) shares those of ``part`` (the same thresholds, so the same a(x, y))
        if part is not None:
            self._ze, self._yk, self._r, self._cum = part._ze, part._yk, part._r, part._cum
            self._la, self._la_ok = part._la, part._la_ok
        else:
            gam = self.gamma
            self._ze = _z_edges(rule.f, [1.0 / gam] if tr.kind == "remaining" and gam > 0 else [])
            #: where a(x, xz) kinks in y (and SPRPT, TRAIL: in the residence's start d): a kink k
            #: of the factor's law times an end or breakpoint b > 0 of the size law (the
            #: thresholds' functions P(Y < v), p_0(v) kink at v = bk): edges at z = bk / x (and
            #: d = bk: z = 1 + bk / x where the job ends preemptible, z > 1 / gamma, and
            #: z = bk / ((1 - gamma) x) where it becomes non-preemptible first) per size
            bps = np.concatenate([np.asarray(self.size.breakpoints, float), np.asarray(self.size.support, float)])
            bps = np.unique(bps[np.isfinite(bps) & (bps > 0)])
            self._yk = np.array([b * k for b in bps for k in rule.kinks], float)
            self._r = rule.r
            A = self.mean_atom(self._r.px)
            self._cum = np.concatenate([[0.0], np.cumsum(self._r.pw * A)])
            #: log a-bar at the panel nodes, interpolated inside the panels (:meth:`_abar`);
            #: panels where a-bar underflows (huge sizes at high load) are not interpolated
            A = A.reshape(self._r.npan, -1)
            self._la = np.log(np.maximum(A, 1e-300))
            self._la_ok = np.all(A > 1e-250, axis=1)

    def near(self) -> PredictionDensityAtoms:
        """The split on the graded rule (for ``t < near_below``)."""
        if self._near_split is None:
            self._near_split = self._near()
        return self._near_split

    def atom_mass(self, x, y) -> np.ndarray:
        r""":math:`a(x, y)` (module docstring) at arrays ``x``, ``y`` of one shape, with
        :math:`p_0` and :math:`P(Y < v)` interpolated on the threshold grid."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        tr, g = self.tr, self.tr.grid
        top = float(g.t[-1])
        yc = np.minimum(y.reshape(-1), top)
        if tr.kind == "static":
            p0, pl = g.interp(np.stack([self._p0, self._pl]), yc)
            expo = x.reshape(-1) * pl
        else:
            p0 = g.interp(self._p0, yc)
            yf = y.reshape(-1)
            d = np.minimum(np.maximum(yf - np.minimum(x.reshape(-1), self.gamma * yf), 0.0), top)
            C = g.cum(self._pl, np.concatenate([yc, d]))
            expo = C[:yc.size] - C[yc.size:]
        return (p0 * np.exp(-tr.lam * expo)).reshape(x.shape)

    def mean_atom(self, x) -> np.ndarray:
        r""":math:`\bar a(x) = E[a(x, xZ)]` at the sizes ``x``: Gauss-Legendre panels in
        :math:`\log z` (:func:`_z_edges`), split per size where :math:`a(x, xz)` kinks."""
        x = np.asarray(x, float)
        flat = x.reshape(-1)
        out = np.empty(flat.size)
        ze = self._ze
        step = max(1, 20000 // (ze.size * 10))
        for b in range(0, flat.size, step):
            xb = flat[b:b + step, None]
            e = np.broadcast_to(ze, (xb.shape[0], ze.size))
            if self._yk.size:
                cut = self._yk[None, :] / xb
                if self.tr.kind == "remaining":
                    more = [cut, 1.0 + cut]
                    if self.gamma < 1.0:
                        more.append(cut / (1.0 - self.gamma))
                    cut = np.concatenate(more, axis=1)
                e = np.sort(np.concatenate([e, np.log(np.clip(cut, math.exp(ze[0]), math.exp(ze[-1])))], axis=1),
                            axis=1)
            u, wu = panels(e)
            z = np.exp(u)
            wz = wu * z * np.asarray(self.tr.rule.f.pdf(z), float)
            out[b:b + step] = np.sum(self.atom_mass(np.broadcast_to(xb, z.shape), xb * z) * wz, axis=1)
        return out.reshape(x.shape)

    def _abar(self, x) -> np.ndarray:
        r""":math:`\bar a(x)` interpolated in :math:`\log x` on the size rule's panels (Lagrange on
        the panel's nodes, of :math:`\log\bar a`: at most 2.4e-10 relative from
        :meth:`mean_atom` on Pareto(2.5), Pareto(1.5) and Uniform(1, 3) sizes at load 0.8, the
        largest far in the tail where :math:`\bar a` falls like :math:`e^{-\lambda x}`);
        :meth:`mean_atom` outside the rule's range."""
        x = np.asarray(x, float)
        flat = x.reshape(-1)
        r = self._r
        e = r.edges
        with np.errstate(divide="ignore"):
            ux = np.log(flat)
        p = np.clip(np.searchsorted(e, ux, side="right") - 1, 0, r.npan - 1)
        inside = (ux >= e[0]) & (ux <= e[-1]) & self._la_ok[p]
        out = np.empty(flat.size)
        if np.any(inside):
            u, p = ux[inside], p[inside]
            B = _lagrange((u - e[p]) / (e[p + 1] - e[p]))
            out[inside] = np.exp(np.einsum("ql,ql->q", self._la[p], B))
        if not np.all(inside):
            out[~inside] = self.mean_atom(flat[~inside])
        return out.reshape(x.shape)

    def part_cdf(self, t) -> np.ndarray:
        r""":math:`\int_c^t f_X\bar a\,dx` on the size rule (full panels below ``t`` and a
        Gauss-Legendre panel up to it)."""
        t = np.atleast_1d(np.asarray(t, float))
        Xe, We, npre = self._r.below_parts(t)
        return self._cum[npre] + np.sum(We * self._abar(Xe), axis=1)

    def part_pdf(self, t) -> np.ndarray:
        r"""The atoms' density :math:`f_X(t)\bar a(t)`."""
        t = np.asarray(t, float)
        u = np.maximum(t, self.c)
        return np.where(t > self.c, np.asarray(self.size.pdf(u), float) * self._abar(u), 0.0)

    def rest_lst(self, s) -> np.ndarray:
        r""":math:`\tilde R(s)` (module docstring) at complex ``s`` (any shape)."""
        s = np.asarray(s, complex)
        flat = np.ascontiguousarray(s.reshape(-1))
        tr = self.tr
        out = np.empty(flat.size, complex)
        Xc, Wc = np.ascontiguousarray(tr.Xc, float), np.ascontiguousarray(tr.Wc, float)
        for b in range(0, flat.size, _S_BLOCK):
            sb = flat[b:b + _S_BLOCK]
            V, eta, et = tr._delay(sb)
            V = np.ascontiguousarray(V)
            res = np.empty(sb.size, complex)
            if float(np.max(sb.real)) * self.c < _UNSHIFTED[tr.kind]:
                # far from c (small Re s): the classes' transform as the whole law's, times e^{sc}
                if tr.kind == "static":
                    cl = tr.Wc.sum(1)[None, :] - psi_rows(eta, Xc, Wc, getattr(tr, "_xc_small", None))
                else:
                    cl = tr._sprpt_residence(sb, et)
                res = np.exp(sb * self.c) * np.sum(V * cl, axis=1)
            elif tr.kind == "static":
                E = np.ascontiguousarray(eta - sb[:, None])
                none_c = np.zeros((1, 1), complex)
                none_i = np.zeros(1, np.int64)
                _rest_kernel(True, E, none_c, none_c, none_i, none_i, np.zeros((1, 1)), none_c, sb, Xc, Wc, V,
                             self.c, res)
            else:
                g = tr.grid
                ge = np.ascontiguousarray(et - sb[:, None])
                Rc = np.ascontiguousarray(g.panel_integrals(ge))
                Ry = np.empty((sb.size, tr.ys.size), complex)
                p, coef = tr._q_y
                _cum_kernel(ge, Rc, p, g.starts, coef, Ry)
                p, coef = tr._q_d
                _rest_kernel(False, ge, ge, Rc, p, g.starts, coef, Ry, sb, Xc, Wc, V, self.c, res)
            res -= np.exp(-sb[:, None] * self._ax[None, :]) @ self._am
            out[b:b + _S_BLOCK] = res
        return out.reshape(s.shape)


__all__ = ["PredictionDensityAtoms"]
