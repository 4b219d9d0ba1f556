r"""The unconditional response-time law of SPJF, PSPJF, SPRPT and TRAIL on a prediction factor whose
density jumps (uniform and bounded-multiplicative errors): the classes mixed over the size
:math:`x` outside and the factor :math:`z = y/x` inside.

The unconditional transform of :mod:`qtheory.engine.response_distribution_prediction` sums the
classes over prediction nodes :math:`y_j` and, for each, over the sizes of the row
:math:`f_X(x) f_Z(y_j/x)/x`. Every class carries the size's own :math:`e^{-sx}`. Where
:math:`f_Z` jumps at :math:`k` (the ends of a uniform factor's support) the row ends at
:math:`x = y/k` with a jump, and the row sum :math:`\int f_X(x) f_Z(y/x) e^{-sx}\,dx/x` has
terms :math:`e^{-sy/k}` that oscillate in :math:`y` at the inversion's :math:`|s|`, which the
prediction panels cannot follow: on Exp(1) sizes with ``UniformPrediction(0.5)`` the rows'
:math:`E[e^{-sX}]` is :math:`3\cdot10^{-8}` off at :math:`|s| \approx 200` and
:math:`1.3\cdot10^{-4}` at :math:`20 + 800i` (exponential predictions:
:math:`8\cdot10^{-15}` and :math:`2\cdot10^{-6}`), and the unconditional cdf of PSPJF (load
0.8) was :math:`2\cdot10^{-4}` off at :math:`t = 0.1`, SPJF's :math:`5\cdot10^{-5}`.

Here the order is swapped. Every class transform is :math:`e^{-sx}\,\Phi(s; x, y)` with

.. math::
    \Phi = \tilde V_y(\eta_{<y}(s))\times\begin{cases}
        1 & \text{SPJF},\\
        e^{-x(\eta_{<y}(s) - s)} & \text{PSPJF},\\
        \exp\big(-\int_{(y - x)^+}^{y}(\eta_{<v}(s) - s)\,dv\big) & \text{SPRPT}
    \end{cases}

(``docs/response_time_distribution.md``, section 5), smooth in :math:`x` and :math:`y`, so

.. math::
    E[e^{-sT}] = \int_0^\infty f_X(x)\,e^{-sx}\,G(s; x)\,dx,\qquad
    G(s; x) = \int f_Z(z)\,\Phi(s; x, xz)\,dz,

with :math:`G` on a coarse product rule in :math:`(\log x, \log z)` (the factor's kinks and
:math:`z = 1`, where SPRPT's residence starts to be cut, are panel edges; :math:`f_Z` is
smooth inside), interpolated (Lagrange on each coarse panel) to the class size rule's nodes,
where :math:`e^{-sx}` is summed. :math:`\tilde V_y` and :math:`\eta_{<y}` come from the
threshold grid as in the prediction-node route. As the rising prediction ranks' unconditional
rule (:mod:`qtheory.engine.response_distribution_prediction_rank_rising`).

Measured (Exp(1) sizes, ``UniformPrediction(0.5)``, load 0.8; the independent reference
``tests/prediction_uniform_unconditional_reference.py``: closed forms in :math:`E_1`, Kendall's
equation by Newton at every prediction, its own Euler inversion): the transform within
2.6e-13 / 6.7e-13 (PSPJF) and 2.8e-14 / 3.4e-14 (SPJF; 5.9e-13 / 5.9e-11 with the joint size
rule 0.5 wide of stop 38) at :math:`13 + 56.5i` / :math:`26 + 226i`, where the prediction-node
mixing was 2.6e-7 / 5.7e-6 and 8.5e-8 / 1.3e-6 off; PSPJF's cdf within 3.1e-11 / 4.2e-11 /
8.9e-11 / 1.3e-10 at :math:`t = 0.1, 0.3, 0.5, 1` (was 2.0e-4, 7.1e-5, 1.7e-4, 6.2e-5; with
the threshold panels cut in 2 instead of :data:`T_PARTS` = 4, 1.09e-9 at :math:`t = 0.5`, its
transform 1.3e-11 off at :math:`|s| = 378`: stop 38's 6.9e-11 there was that error offset by
the joint rule's; coarse panels :data:`OUTER_WIDTH` 0.5 left 1.1e-8); means within 3e-13 of the
mean engine's. A mixture of the class laws over a Gauss-Legendre rule in :math:`(x, z)` agrees
with SPRPT's new cdf at :math:`t = 0.1` to 1.4e-9 (the old one was 1.7e-4 off), and with
TRAIL(0.8)'s (:class:`OuterTrailTransform`) to 2.2e-9 (the old one 1.6e-4 off). Cost: a cdf
at five points 1.3 / 1.7 / 5.3 s (PSPJF / SPJF / SPRPT, loaded machine; 0.9 / 1.1 / 3.2 s with
the threshold panels in 2).

Where the size density jumps at a lower end :math:`c > 0` on a bounded support (uniform,
bounded Pareto sizes; :func:`_jump_covered`) the rows :math:`X1\{Y < v\}` carry :math:`e^{-uc}F_Z(v/c)` (and the size's
other ends the same): :math:`\eta_{<y}` and :math:`\tilde V_y` kink at :math:`y_k = bk` (the
size's ends :math:`b` times the factor's kinks :math:`k`, threshold grid edges already), so each
coarse size's factor rule is cut at :math:`z = y_k/x` (SPRPT: also :math:`1 + y_k/x`, TRAIL
:math:`y_k/((1 - c)x)`), the coarse size panels are :data:`OUTER_WIDTH_JUMP` wide, SPRPT's and
TRAIL's old piece has its head :math:`(0, lo)` graded towards 0, and the split of the atoms'
density part (:class:`OuterDensityAtoms`) sums the rest :math:`G - \bar a` with
:math:`e^{-s(x - c)}` on the fine size rule graded at :math:`c`. Measured on Uniform(0.5, 1.5)
sizes, ``UniformPrediction(0.5)``, load 0.8, against ``tests/prediction_uniform_size_reference.py``
(PSPJF, SPJF: closed forms in :math:`E_1`, Newton at every prediction node, its own split and
Euler sums) and ``tests/sprpt_unconditional_reference.py`` (SPRPT): the rest's transform at the
Euler nodes of :math:`t = 1, 2, 4` within 6.3e-13 (PSPJF) and 2e-14 (SPJF) (the prediction-node
route: 3.7e-7, 3.1e-6); the cdf on the same nodes within 2.2e-10 / 3.8e-10 / 2.9e-11 (PSPJF) and
5.9e-12 / 1.9e-11 / 9.3e-12 (SPJF) at :math:`t = 1, 2, 4` (was 1.9e-6 / 1.7e-7 / 1.9e-8 and
4.3e-6 / 3.6e-7 / 1.3e-8), within 4e-12 at :math:`t = 0.55, 0.6, 0.75` (PSPJF was 3e-8 to 8e-8
there); SPRPT's transform times :math:`e^{sc}` within 3.1e-12 at the nodes of :math:`t = 2`
(6.8e-5 on the prediction nodes; 3.5e-8 with the plain piece head). The Euler rule itself
(26, 24, 14) is further off: the law kinks at the sums of the size's ends (:math:`t = 1, 1.5, 2,
\ldots`), and the reference's own Euler sums with (48, 24), (96, 48), (192, 96) terms put
PSPJF's cdf 1.7e-7, -1.8e-6, -5.8e-6 off at :math:`t = 1, 2, 4` (the last two rules within 2.7e-9,
2.7e-8, 4.6e-10 of each other).
"""

from __future__ import annotations

import copy
import math

import numba
import numpy as np
from scipy.sparse import csr_matrix

from ..laws._quadrature import log_edges, panels
from .response_distribution import _rule
from .response_distribution_prediction import PredictionTransform, _jumps_at_lower_end
from .response_distribution_prediction_rank import AgeRule, PredictionRankTransform, _residence_kernel, at_age_nodes
from .response_distribution_trail import TrailTransform, _kink_edges
from .soap_prediction_rank import first_age
from .soap_prediction_rank_rising import lagrange_matrix

#: coarse size panels (in log x) and factor panels (in log z) of the outer rule, Gauss-Legendre order
OUTER_WIDTH = 0.25
Z_WIDTH = 0.5
OUTER_ORDER = 10
#: the size rule of e^{-sx} (log x panels this wide inside the bulk)
FINE_WIDTH = 0.0625
#: the threshold grid's panels cut in this many parts: Kendall's root and V_y oscillate in y
#: like e^{-sy/k} and the grid's interpolant must follow them at the classes' predictions
#: (PSPJF on Exp(1) sizes, uniform(0.5) errors, load 0.8, on the reference's Euler nodes of
#: t = 0.5: transform 1.3e-11 off the independent reference at |s| = 378 with 2 parts, 1.3e-12
#: with 4; the cdf at t = 0.5 1.09e-9 / 8.9e-11 off; the 0.5-wide joint size rule of stop 38
#: had offset the first to 6.9e-11; cost 1.4-1.7x)
T_PARTS = 4
#: a falling prediction rank: the factors (equally spaced in log z) where the sign of
#: r(xz, x) - phi(y_lo) is sampled, and the bisection steps of its changes
ZERO_SAMPLES = 257
ZERO_BISECT = 60
#: on a size law whose density jumps at its lower end c > 0 on a bounded support (uniform, bounded
#: Pareto sizes; :func:`_jump_covered`) too:
#: the factor rule of each coarse size cut where xz meets a kink of the thresholds' functions
#: (the size's ends times the factor's kinks) and the split's rest summed on the fine size rule
#: (:class:`OuterDensityAtoms`); False: the prediction-node mixing there (PSPJF's and SPJF's
#: transforms 1.7e-4 and 8e-5 off at the Euler nodes, Uniform(0.5, 1.5) sizes, uniform(0.5) errors)
LOWER_JUMP = True
#: ... with coarse size panels this wide: G(s; x) oscillates in x at the inversion's |s| (PSPJF's
#: rest 8.8e-11 off at 1/3 + 25i with 0.25, the cdf at t = 2 1.7e-8; 6.3e-13 with 0.125)
OUTER_WIDTH_JUMP = 0.125
#: the split's rest inverted on the finer Euler rule where the default one's truncation
#: estimate is large: the law kinks at sums of the size range's ends, where the Euler sum
#: converges like n^-2 (figures in ``docs/response_time_distribution.md``, section 13)
REST_REFINED = True
#: the (prediction, age) pairs per axis where a falling rank is checked to be autonomous, and
#: the relative tolerance (rank units)
AUTONOMY_SAMPLES = 24
AUTONOMY_TOL = 1e-11


def applies(rule, x, waiting: bool) -> bool:
    """The unconditional response time on a continuous size law with a factor with kinks (on a
    size law whose density jumps at a lower end :math:`c > 0` only where :func:`_jump_covered`)."""
    return (x is None and not waiting and not rule.discrete and bool(rule.kinks.size)
            and (not _jumps_at_lower_end(rule.r.size) or _jump_covered(rule.r.size)))


def _jump_covered(size) -> bool:
    r"""A size law whose density jumps at its lower end :math:`c > 0`, on a bounded support
    (uniform, bounded Pareto sizes), with :data:`LOWER_JUMP`: the outer rule covers it. Not on an
    unbounded one (Pareto): measured there only against the prediction-node route (PSPJF's mean
    2.2e-9 relative off the mean engine's on Pareto(2.5), uniform(0.5) errors, load 0.8, the
    prediction-node route's 3e-15; cost 2.7x)."""
    return LOWER_JUMP and _jumps_at_lower_end(size) and math.isfinite(float(size.support[1]))


def _y_kinks(rule) -> np.ndarray:
    r"""The predictions :math:`y_k = bk` where the thresholds' functions kink: :math:`b > 0` an
    end or breakpoint of the size law, :math:`k` a kink of the factor's law."""
    size = rule.r.size
    b = np.concatenate([np.asarray(size.breakpoints, float), np.asarray(size.support, float)])
    b = np.unique(b[np.isfinite(b) & (b > 0)])
    return np.unique(np.array([bi * k for bi in b for k in rule.kinks], float))


def _merge_breaks(a, b):
    """Two per-size lists of factor breaks (``None``: none) as one."""
    if a is None:
        return b
    if b is None:
        return a
    return [np.concatenate([u, v]) for u, v in zip(a, b, strict=True)]


class OuterPredictionTransform(PredictionTransform):
    r""":class:`~qtheory.engine.response_distribution_prediction.PredictionTransform`'s
    unconditional law with the classes on the outer product rule (the module docstring): one
    class a node :math:`(x_c, x_c z)`, each with one size."""

    def _classes(self, rule):
        rc = rule.rc
        f = rule.f
        # the coarse size panels: every k-th edge of the class size rule (its breakpoints kept)
        ec = np.asarray(rc.edges, float)
        keep = np.zeros(ec.size, bool)
        keep[[0, -1]] = True
        last = ec[0]
        width = OUTER_WIDTH_JUMP if _jump_covered(rc.size) else OUTER_WIDTH
        for i in range(1, ec.size - 1):
            if ec[i] - last >= width - 1e-12:
                keep[i] = True
                last = ec[i]
        ec = ec[keep]
        ux, wux = panels(ec, OUTER_ORDER)
        xc = np.exp(ux)
        wx = wux * xc * np.asarray(rc.size.pdf(xc), float)
        zlo, zhi = f.log_range()
        bps = [k for k in rule.kinks] + self._z_breaks()
        extra = _merge_breaks(self._z_breaks_at(xc, zlo, zhi), self._jump_breaks(rule, xc, zlo, zhi))
        if extra is None:
            ez = log_edges(math.exp(zlo), math.exp(zhi), Z_WIDTH, bps)
            uz, wuz = panels(ez, OUTER_ORDER)
            z = np.exp(uz)
            wz = wuz * z * np.asarray(f.pdf(z), float)
            wz = wz / wz.sum()
            X = np.repeat(xc, z.size)
            Y = (xc[:, None] * z[None, :]).ravel()
            W = (wx[:, None] * wz[None, :]).ravel()
            owner = np.repeat(np.arange(xc.size), z.size)
            inner = np.tile(wz, xc.size)
        else:
            # a factor rule per coarse size, with that size's own edges
            Xs, Ys, Ws, own, inn = [], [], [], [], []
            for i, (x, wxi) in enumerate(zip(xc, wx, strict=True)):
                ez = log_edges(math.exp(zlo), math.exp(zhi), Z_WIDTH, bps + list(extra[i]))
                uz, wuz = panels(ez, OUTER_ORDER)
                z = np.exp(uz)
                wz = wuz * z * np.asarray(f.pdf(z), float)
                wz = wz / wz.sum()
                Xs.append(np.full(z.size, x))
                Ys.append(x * z)
                Ws.append(wxi * wz)
                own.append(np.full(z.size, i))
                inn.append(wz)
            X, Y, W = np.concatenate(Xs), np.concatenate(Ys), np.concatenate(Ws)
            owner, inner = np.concatenate(own), np.concatenate(inn)
        ok = (W > 0) & np.isfinite(W)
        X, Y, W, owner, inner = X[ok], Y[ok], W[ok], owner[ok], inner[ok]
        order = np.argsort(Y, kind="stable")
        X, Y, W, owner, inner = X[order], Y[order], W[order], owner[order], inner[order]
        #: the sum over z at each coarse size: G = phi @ O (O: rows x coarse sizes, the inner weights)
        self._outer_O = csr_matrix((inner, (np.arange(owner.size), owner)), shape=(owner.size, xc.size))
        # the size rule of e^{-sx} (FINE_WIDTH; head and tail nodes included) and the Lagrange
        # matrix from the coarse sizes to it
        fine = _rule(rc.size, FINE_WIDTH)
        xf, wf = np.asarray(fine.x, float), np.asarray(fine.w, float)
        self._outer_L = lagrange_matrix(ec, np.log(xf), OUTER_ORDER)
        self._outer_xf, self._outer_wf = xf, wf
        #: the coarse size panels (a split's own size rule interpolates from them: OuterDensityAtoms)
        self._outer_ec = ec
        return Y, X[:, None], W[:, None]

    _class_sums = False

    def _tedges(self, rule) -> np.ndarray:
        """The threshold grid's panel edges (in log t) before they are cut."""
        return np.asarray(rule.tedges, float)

    def _z_breaks(self) -> list[float]:
        """Factor values where a class's transform kinks in :math:`z`: SPRPT's residence starts
        to be cut at :math:`z = 1` (:math:`x = y`)."""
        return [1.0]

    def _old_piece(self, rule, rows):
        r"""SPRPT's (and TRAIL's) sparse old piece :math:`(X - (Y - v))^+` on a size law whose
        density jumps at its lower end: its head :math:`(0, lo)` graded towards 0 (as the split
        next to :math:`c` grades it, ``piece_grade``): Uniform(0.5, 1.5) sizes, uniform(0.5)
        errors, :math:`E[1 - e^{-uX_1}]` at :math:`u = 8.67 + 75.4i`, :math:`v = 0.75` was 5.1e-3
        off the reference with the plain head (whatever the size rule's width), 3.6e-12 graded."""
        if self.kind == "remaining" and _jump_covered(rule.r.size) and not getattr(rule, "piece_grade", False):
            rule = copy.copy(rule)  # the rule is shared (cached per size law): a graded twin
            rule.piece_grade = True
        return super()._old_piece(rule, rows)

    def _z_breaks_at(self, xc: np.ndarray, zlo: float, zhi: float):
        """Further factor values where the class transform kinks, per coarse size ``xc`` (a
        list of arrays; ``None``: none, every size shares one factor rule)."""
        return None

    def _jump_breaks(self, rule, xc: np.ndarray, zlo: float, zhi: float):
        r"""On a size law whose density jumps at its lower end :math:`c > 0` (the rows
        :math:`X1\{Y < v\}` then have the term :math:`e^{-uc}F_Z(v/c)`, and the size's other ends
        and breakpoints :math:`b` the same): the factor values per coarse size ``xc`` where a
        class's prediction :math:`y = xz` is a kink :math:`y_k = bk` of :math:`\eta_{<y}` and
        :math:`\tilde V_y` (:math:`k` a kink of the factor's law), :math:`z = y_k/x`, and where
        its residence start is one (:meth:`_start_breaks`); ``None`` on other size laws."""
        if not _jump_covered(rule.r.size):
            return None
        yk = _y_kinks(rule)
        if not yk.size:
            return None
        lo, hi = math.exp(zlo), math.exp(zhi)
        out = []
        for x in xc:
            z = np.concatenate([yk / x] + self._start_breaks(yk, x))
            out.append(np.unique(z[(z > lo) & (z < hi)]))
        return out

    def _start_breaks(self, yk: np.ndarray, x: float) -> list[np.ndarray]:
        """The factor values where the residence start :math:`(y - x)^+` (SPRPT) is a kink
        ``yk``: :math:`z = 1 + y_k/x`; none for PSPJF and SPJF."""
        return [1.0 + yk / x] if self.kind == "remaining" else []

    def _tgrid(self, rule):
        r"""The threshold grid with each panel cut in :data:`T_PARTS` (Kendall's root
        :math:`\eta_{<y}(s)` oscillates in :math:`y` where the factor's density jumps)."""
        from ._joint_rule import log_tgrid

        e = self._tedges(rule)
        if T_PARTS > 1:
            e = np.concatenate([np.linspace(e[i], e[i + 1], T_PARTS + 1)[:-1] for i in range(e.size - 1)]
                               + [e[-1:]])
        return log_tgrid(e, math.exp(e[0]))

    def _locate_classes(self):
        """The Lagrange interpolation from the threshold grid to the rows' predictions as a
        sparse matrix (rows x grid nodes): the rows are many (a few thousand), and the gathered
        copy of :meth:`PredictionTransform._at_classes` would be S x rows x order."""
        idx, basis = super()._locate_classes()
        n, L = idx.shape
        return csr_matrix((basis.ravel(), (np.repeat(np.arange(n), L), idx.ravel())),
                          shape=(n, self.grid.t.size))

    def _at_classes(self, a: np.ndarray) -> np.ndarray:
        if not self._interp:
            return a
        B = getattr(self, "_interp_at", None)
        if B is None:
            return self.grid.interp(a, self.ys)
        a = np.asarray(a)
        lead = a.shape[:-1]
        out = np.asarray(B @ a.reshape(-1, a.shape[-1]).T).T
        return out.reshape(lead + (B.shape[0],))

    def _phi(self, s: np.ndarray) -> np.ndarray:
        r""":math:`\Phi(s; x, y)` at the outer rule's rows (rows: ``s``)."""
        S = s[:, None]
        V, eta, et = self._delay(s)
        x = self.Xc[:, 0]
        if self.kind == "nonpreemptive":
            return V
        if self.kind == "static":
            return V * np.exp(-x[None, :] * (eta - S))
        g = et - S
        ry = self._cum_at(g, self._q_y)
        rd = self._cum_at_starts(g)
        return V * np.exp(-(ry - rd))

    def outer_g(self, s: np.ndarray) -> np.ndarray:
        r""":math:`G(s; x) = \int f_Z(z)\Phi(s; x, xz)\,dz` at the coarse sizes (rows: the coarse
        sizes, columns: ``s``)."""
        return np.asarray(self._outer_O.T @ self._phi(s).T)

    def _lst_block(self, s: np.ndarray) -> np.ndarray:
        if self.waiting:
            return super()._lst_block(s)
        S = s[:, None]
        G = self.outer_g(s)  # (coarse sizes, s)
        Gf = np.asarray(self._outer_L @ G).T  # (s, class rule's sizes)
        with np.errstate(under="ignore"):
            E = np.exp(-S * self._outer_xf[None, :])
        return (Gf * E) @ self._outer_wf


class OuterDensityAtoms:
    r"""The split of an unconditional law on the outer rule (:class:`OuterPredictionTransform`,
    :class:`OuterTrailTransform`) on a size law whose density jumps at its lower end
    :math:`c > 0`: the atoms' part of ``atoms`` (the split of the prediction-node route,
    :class:`~qtheory.engine._prediction_density_atoms.PredictionDensityAtoms` or
    :class:`~qtheory.engine.response_distribution_prediction.SPJFDensityAtoms`, built on the
    same transform: :math:`\bar a(x) = E[a(x, xZ)]` and :math:`\int_c^t f_X\bar a\,dx`) and the
    rest, shifted by :math:`c`, on the outer rule's fine size rule (graded at :math:`c`):

    .. math::
        \tilde R(s) = \int f_X(x)\,e^{-s(x - c)}\big(G(s; x) - \bar a(x)\big)\,dx,

    :math:`G` the class transforms' factor mean (:meth:`OuterPredictionTransform.outer_g`,
    interpolated from the coarse sizes; :math:`G(s; x) \to \bar a(x)` as
    :math:`\mathrm{Re}\,s \to \infty`), so the rest has no atoms and no jump in its density.
    The prediction-node route sums :math:`e^{-s(x - c)}` over each prediction's sizes, whose row
    ends :math:`y/k` oscillate in :math:`y` at the inversion's :math:`|s|`."""

    def __init__(self, tr: OuterPredictionTransform, atoms):
        from .response_distribution import GRADE

        self.tr, self.atoms = tr, atoms
        size = tr.rule.r.size
        self.size = size
        self.c = float(size.support[0])
        #: the graded fine rule serves next to c too (no second split)
        self.near_below = 0.0
        #: the rest kinks (at 2c, 3c and the size range's sums): its sf takes the finer Euler
        #: rule where the default one's truncation estimate is large (``ResponseTimeDistribution``,
        #: ``_fine_whole``); see :data:`REST_REFINED`
        self.refine_rest = REST_REFINED
        fine = _rule(size, FINE_WIDTH, GRADE)
        xf, wf = np.asarray(fine.x, float), np.asarray(fine.w, float)
        self._xf, self._wf = xf, wf
        self._L = lagrange_matrix(tr._outer_ec, np.log(xf), OUTER_ORDER)
        if hasattr(atoms, "mean_atom"):
            self._abar = np.asarray(atoms.mean_atom(xf), float)
            self.part_total = float(atoms._cum[-1])
        else:  # SPJF: a = 1 - rho for every class
            self._abar = np.full(xf.size, float(atoms.a))
            self.part_total = float(atoms.part_total)
        self.rest_total = float(np.sum(wf * (1.0 - self._abar)))

    def near(self) -> OuterDensityAtoms:
        return self

    def part_cdf(self, t) -> np.ndarray:
        return self.atoms.part_cdf(t)

    def part_pdf(self, t) -> np.ndarray:
        return self.atoms.part_pdf(t)

    def rest_lst(self, s) -> np.ndarray:
        r""":math:`\tilde R(s)` (class docstring) at complex ``s`` (any shape)."""
        from .response_distribution_prediction import _S_BLOCK

        s = np.asarray(s, complex)
        flat = np.ascontiguousarray(s.reshape(-1))
        out = np.empty(flat.size, complex)
        d = self._xf - self.c
        for b in range(0, flat.size, _S_BLOCK):
            sb = flat[b:b + _S_BLOCK]
            Gf = np.asarray(self._L @ self.tr.outer_g(sb)).T
            with np.errstate(under="ignore"):
                E = np.exp(-sb[:, None] * d[None, :])
            out[b:b + _S_BLOCK] = ((Gf - self._abar[None, :]) * E) @ self._wf
        return out.reshape(s.shape)


class OuterTrailTransform(OuterPredictionTransform, TrailTransform):
    r"""TRAIL(c)'s unconditional law on the outer rule: its class transform is
    :math:`e^{-sx}\,\tilde V_y(\eta_{<y})\exp(-\int_{y - \min(x, cy)}^{y}(\eta_{<v} - s)\,dv)`
    (the non-preemptible remainder's :math:`e^{-s(x - cy)^+}` and the preemptible phase's
    :math:`s\min(x, cy)` make up :math:`e^{-sx}`), SPRPT's form with TRAIL's residence start
    and old piece (:class:`~qtheory.engine.response_distribution_trail.TrailTransform`); the
    factor rule has an edge at :math:`z = 1/c` (:math:`x = cy`), the threshold grid TRAIL's
    kink edges."""

    def _tedges(self, rule) -> np.ndarray:
        return np.asarray(_kink_edges(rule, self.c, rule.tedges), float)

    def _z_breaks(self) -> list[float]:
        return [1.0] + ([1.0 / self.c] if 0.0 < self.c < 1.0 else [])

    def _start_breaks(self, yk: np.ndarray, x: float) -> list[np.ndarray]:
        r"""TRAIL's residence start :math:`y - \min(x, cy)` at a kink ``yk``: :math:`z = 1 + y_k/x`
        (preemptible to the end) and :math:`z = y_k/((1 - c)x)`."""
        return [1.0 + yk / x] + ([yk / ((1.0 - self.c) * x)] if self.c < 1.0 else [])


class OuterRankTransform(OuterPredictionTransform, PredictionRankTransform):
    r"""A prediction rank that never increases with age
    (:class:`~qtheory.engine.response_distribution_prediction_rank.PredictionRankTransform`)
    on the outer rule: its class transform is

    .. math::
        e^{-sx}\,\tilde V_y(\eta_{<y}(s))\,e^{-R(s; x, y)},\qquad
        R(s; x, y) = \int_0^x \big(\eta_{<s(y, a)}(s) - s\big)\,da,

    one class a node :math:`(x_c, x_c z)` of the outer rule. The factor rule of a coarse size
    :math:`x` has an edge where the rank reaches level 0 at age :math:`x` (the residence's
    integrand vanishes from there on: :math:`r(xz, x) = \varphi(y_{lo})`, sign changes on
    :data:`ZERO_SAMPLES` factors refined by bisection). The residence, by the rank's shape:

    * constant in age (PSPJF's :math:`y^2`): :math:`R = x(\eta_{<y}(s) - s)`;
    * autonomous, every job's level following one path shifted in age,
      :math:`s(y, a) = s(y_{top}, a + A(y))` with :math:`A(y)` the age where the top
      prediction's rank falls to :math:`\varphi(y)` (SPRPT's family :math:`c(y - a)`,
      :math:`e^{y - a}`, :math:`y - a/2`, :math:`y e^{-a}`: checked on
      :data:`AUTONOMY_SAMPLES` pairs to 1e-11): :math:`R = Q(A(y) + x) - Q(A(y))` with
      :math:`Q(\alpha) = \int_0^\alpha (\eta_{<s(y_{top}, a)}(s) - s)\,da` on one age rule
      (:class:`~qtheory.engine.response_distribution_prediction_rank.AgeRule`) of the top
      prediction, read at the classes' two ends;
    * otherwise an age rule per class (correct, and slower: 2(y - a)'s cdf at four points 51 s
      against 8.6 s on the top path, loaded machine)."""

    def _z_breaks_at(self, xc: np.ndarray, zlo: float, zhi: float):
        fn, floor = self.fn, self.psi.floor
        u = np.linspace(zlo, zhi, ZERO_SAMPLES)
        X = xc[:, None]
        with np.errstate(all="ignore"):
            F = np.asarray(fn(X * np.exp(u)[None, :], X + 0.0 * u[None, :]), float) > floor
        i, j = np.nonzero(F[:, 1:] != F[:, :-1])
        lo, hi = u[j], u[j + 1]
        flo = F[i, j]
        x = xc[i]
        for _ in range(ZERO_BISECT):
            mid = 0.5 * (lo + hi)
            with np.errstate(all="ignore"):
                fm = np.asarray(fn(x * np.exp(mid), x), float) > floor
            same = fm == flo
            lo = np.where(same, mid, lo)
            hi = np.where(same, hi, mid)
        zk = np.exp(0.5 * (lo + hi))
        return [zk[i == k] for k in range(xc.size)]

    def _build_tables(self, rule, x, y, waiting: bool) -> None:
        PredictionTransform._build_tables(self, rule, x, y, waiting)
        self._fn_ref = self.fn
        self._psi_ref = self.psi
        self._own_levels = None
        self._rank_flat = None
        self._ones = np.ones((self.ys.size, 1))
        self._shape = self._rank_shape()
        self.ages = None
        self._top = None
        if self._shape == "autonomous":
            X = self.Xc[:, 0]
            ends = np.concatenate([self._A, self._A + X])
            self._top = AgeRule(self.fn, self.psi, self.grid, np.array([self._ytop]), ends[None, :],
                                np.ones((1, ends.size)))
        elif self._shape == "general":
            self.ages = AgeRule(self.fn, self.psi, self.grid, self.ys, self.Xc, self.Wc)

    def _rank_shape(self) -> str:
        """``"constant"``, ``"autonomous"`` (sets the top prediction and the classes' start
        ages :math:`A(y)`) or ``"general"``."""
        fn, ys = self.fn, self.ys
        ysam = np.geomspace(ys[0], ys[-1], AUTONOMY_SAMPLES)
        frac = np.linspace(0.0, 2.0, AUTONOMY_SAMPLES)
        Yg = ysam[:, None] * np.ones(frac.size)[None, :]
        Ag = ysam[:, None] * frac[None, :]
        with np.errstate(all="ignore"):
            r = np.asarray(fn(Yg, Ag), float)
            r0 = np.asarray(fn(Yg, 0.0 * Ag), float)
        scale = np.maximum(np.abs(r0), 1e-300)
        if np.all(np.abs(r - r0) <= 1e-13 * scale):
            return "constant"
        ytop = float(ys[-1])
        top0 = float(np.asarray(fn(np.array([ytop]), np.zeros(1)), float)[0])
        # the samples first: every class's start age only for an autonomous rank
        As = first_age(fn, np.full(ysam.size, ytop), np.asarray(fn(ysam, np.zeros(ysam.size)), float))
        if not np.all(np.isfinite(As)):
            return "general"
        with np.errstate(all="ignore"):
            rt = np.asarray(fn(np.full(Yg.shape, ytop), Ag + As[:, None]), float)
        live = (r > self.psi.floor) & np.isfinite(r)
        # rounding of the top's path at its own scale (2(y - a) at y << y_top: 2(y_top - a - A))
        tol = AUTONOMY_TOL * np.maximum(np.abs(r), np.abs(r0)) + 64.0 * np.finfo(float).eps * (
            abs(top0) + np.abs(rt))
        if not np.all((np.abs(rt - r) <= tol)[live]):
            return "general"
        with np.errstate(all="ignore"):
            fresh = np.asarray(fn(ys, np.zeros(ys.size)), float)
        A = first_age(fn, np.full(ys.size, ytop), np.minimum(fresh, top0))
        if not np.all(np.isfinite(A)):
            return "general"
        self._ytop, self._A = ytop, A
        return "autonomous"

    def _class_integrals(self, g: np.ndarray, zero_value: float) -> np.ndarray:
        r""":math:`\int_0^{x} g(s(y, a))\,da` per class for grid values ``g`` (real, 1-D)."""
        X = self.Xc[:, 0]
        if self._shape == "constant":
            return X * self._at_classes(g)
        if self._shape == "autonomous":
            tp = self._top
            c = tp.cum(tp.at_nodes(g, zero_value))
            n = X.size
            return c[n:] - c[:n]
        ag = self.ages
        return ag.cum(ag.at_nodes(g, zero_value))

    def _residence_moments(self, rn, n2):
        f1, f2 = self._residence_integrands()
        return (self._class_integrals(f1, 1.0)[:, None], self._class_integrals(f2, 0.0)[:, None])

    def atom(self) -> float:
        lam, (o1, _, _), (p1, _, _), _, _ = self._pieces()
        return float(np.sum((1.0 - lam * (o1 + p1)) * self.Wc.sum(1)))

    def _start_breaks(self, yk: np.ndarray, x: float) -> list[np.ndarray]:
        """None: the residence's levels are the rank's (not measured on such a size law)."""
        return []

    def _lst_block(self, s: np.ndarray) -> np.ndarray:
        if self.waiting:
            return PredictionRankTransform._lst_block(self, s)
        return OuterPredictionTransform._lst_block(self, s)

    def _phi(self, s: np.ndarray) -> np.ndarray:
        S = s[:, None]
        V, eta, et = self._delay(s)
        if self._shape == "constant":
            with np.errstate(under="ignore"):
                phi = V * np.exp(-self.Xc[:, 0][None, :] * (eta - S))
        else:
            g = np.ascontiguousarray(et - S)
            if self._shape == "autonomous":
                tp = self._top
                ends = np.empty((s.size, tp.cpan.size), complex)
                _age_cum_kernel(g, tp.gstart, tp.gbasis, tp.full, tp.cpan, tp.ccoef, ends)
                n = self.ys.size
                with np.errstate(under="ignore"):
                    phi = V * np.exp(-(ends[:, n:] - ends[:, :n]))
            else:
                ag = self.ages
                res = np.empty((s.size, self.ys.size), complex)
                R0 = np.empty((s.size, self.ys.size), complex)
                _residence_kernel(g, ag.gstart, ag.gbasis, ag.full, ag.pan_ptr, ag.cpan, ag.ccoef,
                                  np.ascontiguousarray(self.Xc, float), self._ones,
                                  np.ascontiguousarray(s), False, ag.zpan, ag.zcoef, res, R0)
                phi = V * res
        return phi


@numba.njit(cache=True, nogil=True)
def _age_cum_kernel(et, gstart, gbasis, full, cpan, ccoef, out):  # pragma: no cover - compiled
    r"""``out[i, c]`` :math:`= \int_0^{x_c} g\,da` on one age rule (one prediction, its
    classes' ends ``x_c``), with ``g`` the grid values ``et[i]`` at the age nodes' levels
    (:class:`~qtheory.engine.response_distribution_prediction_rank.AgeRule`)."""
    n_age = gstart.size
    O = ccoef.shape[1]
    npan = n_age // O
    ga = np.empty(n_age, np.complex128)
    pc = np.empty(max(npan, 1), np.complex128)
    for i in range(et.shape[0]):
        at_age_nodes(et, i, gstart, gbasis, ga)
        acc = 0.0 + 0.0j
        for q in range(npan):
            pc[q] = acc
            for ll in range(O):
                acc += full[q * O + ll] * ga[q * O + ll]
        for c in range(cpan.size):
            q = cpan[c]
            R = pc[q]
            for ll in range(O):
                R += ccoef[c, ll] * ga[q * O + ll]
            out[i, c] = R


__all__ = ["OuterDensityAtoms", "OuterPredictionTransform", "OuterRankTransform", "OuterTrailTransform", "applies"]
