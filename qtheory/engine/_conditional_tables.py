r"""Per-prediction tables of the level functions' integrands for ConditionalGittins on a
multiplicative prediction law (:mod:`qtheory.engine.soap_conditional`).

The level functions integrate, over the prediction :math:`y`, quantities of the conditional
law :math:`X \mid Y = y` at the level :math:`\ell` (``docs/soap_predictions.md``, sections 3-5):

.. math::
    N(\ell) = \int_0^{y_0} f_Y(y) E[\min(X, C_y(\ell)) \mid y] dy, \qquad
    S_2(\ell) = \int_0^{y_0} f_Y E[\min(X, C_y)^2 \mid y] dy
              + \int_{y_0}^{y_1} f_Y E[((\min(X, C_y) - B_y)^+)^2 \mid y] dy.

The y-rules of :func:`qtheory.engine.soap_conditional.level_values` put their nodes at
level-dependent predictions (the integrand of :math:`N` jumps at :math:`y_0(\ell)`). Instead of
building the conditional law at each of those nodes, the three integrands are tabulated once as
smooth functions of two coordinates and interpolated (tensor Chebyshev, 17 Chebyshev-Lobatto
points a panel each way):

* the head (:math:`\ell \ge r(y, 0)`): :math:`u = \log y` and
  :math:`\omega = \log(\ell / r(y, 0)) / \log(\ell_{top}(y) / r(y, 0)) \in [0, 1]`, the
  level's place between :math:`r(y, 0)` and the top rank :math:`\ell_{top} = 1/h_y(x_{top})`
  (panels halved towards 1: :math:`C_y(\ell)` runs to the truncation end there, like
  :math:`1/(1 - \ell)` on Exp/Exp), the two moments as fractions of :math:`E[X \mid y]` and
  :math:`E[X^2 \mid y]` (fraction 1 from the top rank on, :math:`C_y = \infty`);
* the old intervals (:math:`m(y) < \ell < r(y, 0)`, :math:`m` the minimal rank): :math:`u` and
  :math:`q = \sqrt{(\ell - m)/(r(y, 0) - m)} \in [0, 1]` (the interval :math:`[B, C)` opens like
  :math:`\sqrt{\ell - m}` at the hazard's peak, so the integrand is smooth in :math:`q`), split
  at the top rank (below it :math:`C_y` is finite and runs to the truncation end: panels halved
  towards it; above it the interval is :math:`[B, \infty)`), as a fraction of
  :math:`E[X^2 \mid y]`.

With a bounded factor (``qt.UniformPrediction``, ``qt.BoundedMultiplicative``: :math:`X \mid y`
on :math:`[y/z_{hi}, y/z_{lo}]`) the old intervals' integrand has a kink in :math:`q` where
:math:`B_y(\ell)` passes the support's start (below it the rank falls by 1 a unit of age, no
mass; inside it, as the law's mean residual life), at
:math:`q_s = \sqrt{(r(y, y/z_{hi}) - m)/(r(y, 0) - m)}` (the rank at the support's start by
its interpolant ``lc.lrs``): each table is split there as well (``split_w``: the q-panels
below it). On Weibull(2) sizes with a factor uniform on [0.5, 1.5] the tables without the
split missed the laws by 9.7e-4 (S2 at l = 0.1); with it, and the y-panels halved towards
:math:`u_s` from both sides (``us_levels``: beyond :math:`u_s` the minimal rank, 1/h at the
truncation end, climbs steeply as that end leaves the support's end for the size law's
tail), by at most 1.2e-10 at seven levels in [0.05, 1.3] (2.7e-9 with [0.5, 2] at eleven).
Where the hazard climbs to infinity at the support's end, :math:`F(a_p)` of the old
interval's start is 0 up to rounding, and the roots take the bracket's end just inside
(``_conditional_structure.retry_at_end``).

Next to the supremum of the rank at the support's start (exponential sizes with a factor
log-uniform on [0.5, 2]: :math:`r(y, y/2) \to 1` as :math:`y \to \infty`; Erlang(2) sizes with a
uniform factor: 1/2) the rank is flat at the support's start and the integrand below :math:`q_s`
grows like :math:`1/(1 - \ell)` up to it, a pole just beyond the coordinate's end
(:func:`deep_split`): with the q-panels below :math:`q_s` halved ten times the tables' S2 was
5e-10 / 2.5e-5 / 2.8e-4 / 7.8e-4 / 7.6e-4 (relative) above the closed forms
(``tests/conditional_gittins_truncexp_reference.py``) at :math:`\ell = 1 - 10^{-2}, 10^{-3},
10^{-4}, 10^{-5}, 10^{-6}` (up to 3e-2 of :math:`E[X^2 \mid y] f_Y` at single nodes; the laws at
the same nodes were within 2.3e-13, :math:`N` exact). Halved 40 times the tables are within
4.9e-10 / 2.0e-9 / 1.1e-10 / 3.3e-11 / 7e-13 there (4.9e-11, 1.5e-11, 9e-9 at :math:`1 -
10^{-8}, 10^{-10}, 10^{-12}`; 24 halvings gave 1.8e-5 at :math:`1 - 10^{-10}`), 1.0 s more of
CPU for the tables (0.9 -> 1.9 s). Above the supremum the tables are 3.9e-7 / 8e-8 / 1.5e-8 low
at :math:`\ell = 1 + 10^{-6}, 10^{-3}, 10^{-2}` (rows beyond :math:`u_s`, where the minimal rank
is rounding near 1: y-panels of 0.25 instead of 0.75 give 2.1e-7 and 4.5e-9). Near it E[T] reads
:math:`S_2` only at :math:`r(y, 0) \in (0.99, 1)`, a band of 0.01 in :math:`\log y` holding 48
of the outer rule's nodes, where the errors alternate in sign from node to node: their sum moved
E[T] by 5.3e-11 / 5.9e-11 / 3.1e-11 (relative, loads 0.5 / 0.8 / 0.95; the sum of their absolute
values 1.1e-8 / 1.2e-8 / 6.5e-9), so the route's 3.6e-13 / 2.6e-12 / 6.5e-13 from the
closed-form E[T] was that error offsetting the outer rule's own: now -5.6e-11 / -6.5e-11 /
-3.4e-11 (the tables' S2 at the nodes with :math:`r(y, 0) \in (0.99, 1.01)` within 3.9e-7, their
part of E[T] 5e-12). On Erlang(2) sizes with a uniform factor on [0.5, 2] (supremum 1/2) E[T]
was 8.3e-10 / 8.0e-10 / 3.8e-10 off its closed form, now 3.8e-12 / 1.0e-12 / 2.5e-12, and the
route's three loads cost 4.4-4.8 s of CPU against 10.9-11.5 s (the level interpolants no longer
refine where the tables did not converge; the log-uniform case 6.0-6.1 s against 6.5-6.7 s: two
runs each, alternating, on a loaded machine).

The y-panels (width 1.5) have an edge, with panels halved towards it, where :math:`r(y, 0)`
reaches the top rank, and an edge where the hazard's peak reaches the truncation end of the
conditional law (there the minimal rank, and with it :math:`q`, has a kink), both located by
``soap_conditional.LevelCalc._kink``. Each table entry is
computed on the conditional law of its row (:class:`~qtheory.engine.soap_conditional.CondBatch`:
roots of the rank equations on its exact cumulative integrals, by the compiled kernels of
:mod:`qtheory.engine._conditional_kernels`). Measured against the laws built at the y-rules'
nodes (``tests/test_soap_conditional.py``): on Exp/Exp :math:`N` within 4.5e-13 and
:math:`S_2` within 1.2e-10 (relative, floored at 1e-3 of :math:`E[X]`, :math:`E[X^2]`), on
LogNormal(1) sizes with log-normal(0.5) predictions 6e-16 and 3.2e-12.
"""
from __future__ import annotations

import numpy as np

from .soap_exact import _TN, _VINV, NCHEB, _cheb_T


def _panel_nodes(edges: np.ndarray) -> np.ndarray:
    """Chebyshev-Lobatto points on each panel (panels, NCHEB)."""
    lo, hi = edges[:-1, None], edges[1:, None]
    return lo + (hi - lo) * (_TN[None, :] + 1.0) / 2.0


def _shared_nodes(panels: int) -> tuple[np.ndarray, np.ndarray]:
    """The Chebyshev-Lobatto points of ``panels`` adjacent panels (:func:`_panel_nodes`,
    raveled) without the repeated ones: each panel's last point is the next panel's first (the
    panel edge). Returns ``keep`` (the points computed: all but the panels' last points before
    the last panel, whose twin at the edge is the next panel's first point, the edge itself)
    and ``full`` (for each raveled point, its index in ``keep``)."""
    i = np.arange(panels * NCHEB)
    twin = (i % NCHEB == NCHEB - 1) & (i < (panels - 1) * NCHEB)
    keep = i[~twin]
    full = np.cumsum(~twin) - 1
    full[twin] += 1  # (the next panel's first point)
    return keep, full


def _locate(edges: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Panel index and local coordinate in [-1, 1] of ``x`` (clipped to the panels' range)."""
    j = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
    lo, hi = edges[j], edges[j + 1]
    return j, np.clip((2.0 * x - lo - hi) / (hi - lo), -1.0, 1.0)


class Cheb1:
    """A piecewise Chebyshev interpolant on ``edges`` from values at the panels' points."""

    def __init__(self, edges: np.ndarray, values: np.ndarray):
        self.edges = np.asarray(edges, float)
        self.coef = np.asarray(values, float) @ _VINV.T

    def __call__(self, x) -> np.ndarray:
        return self.many(x)[0]

    def many(self, x, *others: Cheb1) -> list[np.ndarray]:
        """This interpolant and ``others`` (on the same edges) at ``x``, the panels located
        and the Chebyshev polynomials evaluated once (each value as :meth:`__call__` alone)."""
        x = np.asarray(x, float)
        j, t = _locate(self.edges, x.ravel())
        T = _cheb_T(t, NCHEB)
        return [np.einsum("qa,qa->q", T, f.coef[j]).reshape(x.shape) for f in (self,) + others]


class Cheb2:
    """A tensor piecewise Chebyshev interpolant on panels ``ue`` x ``we`` from values at the
    panels' points (shape (len(ue) - 1, NCHEB, len(we) - 1, NCHEB))."""

    def __init__(self, ue: np.ndarray, we: np.ndarray, values: np.ndarray):
        self.ue, self.we = np.asarray(ue, float), np.asarray(we, float)
        c = np.einsum("ia,pajb->pijb", _VINV, values)
        self.coef = np.ascontiguousarray(np.einsum("pijb,kb->pjik", c, _VINV))  # (pu, pw, i, k)
        self.coef_t = np.ascontiguousarray(self.coef.transpose(0, 1, 3, 2))  # (pu, pw, k, i)
        self.values = values

    def __call__(self, u, w) -> np.ndarray:
        from ._conditional_kernels import tensor_cheb

        u, w = np.broadcast_arrays(np.asarray(u, float), np.asarray(w, float))
        return tensor_cheb(self.ue, self.we, self.coef_t, np.ascontiguousarray(u.ravel()),
                           np.ascontiguousarray(w.ravel())).reshape(u.shape)

    def tail(self) -> float:
        """The largest of the last three coefficients either way, relative to the largest
        value (an estimate of the interpolation error)."""
        scale = max(float(np.max(np.abs(self.values))), 1e-300)
        c = self.coef
        return float(max(np.max(np.abs(c[:, :, -3:, :])), np.max(np.abs(c[:, :, :, -3:])))) / scale


def _graded(a: float, b: float, width: float, toward: str = "", levels: int = 10) -> np.ndarray:
    """Panel edges on [a, b] of at most ``width``, the panel at the ``toward`` end ("a" or
    "b") halved ``levels`` times (a feature sits at that end)."""
    if not b > a:
        return np.array([a, b])
    n = max(1, int(np.ceil((b - a) / width)))
    e = list(np.linspace(a, b, n + 1))
    if toward == "b":
        h = e[-1] - e[-2]
        e = e[:-1] + [b - h * 2.0 ** -k for k in range(1, levels + 1)] + [b]
    elif toward == "a":
        h = e[1] - e[0]
        e = [a] + [a + h * 2.0 ** -k for k in range(levels, 0, -1)] + e[1:]
    return np.unique(np.array(e))


def _split_fraction(qs, lo, hi):
    """The place of ``qs`` in [lo, hi] as a fraction in [0, 1] (0 where the range is empty)."""
    qs, lo, hi = np.broadcast_arrays(np.asarray(qs, float), np.asarray(lo, float), np.asarray(hi, float))
    span = hi - lo
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(span > 0, (qs - lo) / np.where(span > 0, span, 1.0), 0.0)
    return np.clip(f, 0.0, 1.0)


#: the head's fraction coordinate (the level between r(y, 0) and the top rank), panels halved
#: towards the top rank, where C_y(l) runs to the truncation end
HEAD_W = np.concatenate([[0.0, 0.25], 1.0 - 2.0 ** -np.arange(1, 7), [1.0]])
#: the old intervals below the top rank: panels halved towards it (and towards r(y, 0))
OLD1_W = np.concatenate([[0.0, 0.25], 1.0 - 2.0 ** -np.arange(1, 6), [1.0]])
#: the old intervals [B, inf) above the top rank
OLD2_W = np.concatenate([[0.0], 2.0 ** -np.arange(4, 0, -1), [0.75, 1.0]])


#: the q-panels of the old intervals' tables below q_s (bounded factors, ``split_w``) are halved
#: towards q_s down to this many halvings (:func:`deep_split`)
SPLIT_DEPTH = 40


def deep_split(w: np.ndarray, depth: int = SPLIT_DEPTH) -> np.ndarray:
    r"""The panel edges ``w`` on [0, 1] with the last panel halved towards 1 until the finest
    is :math:`2^{-depth}` wide (the edges :math:`1 - 2^{-k}`).

    Below :math:`q_s` the old interval's start :math:`B_y(\ell)` is inside
    :math:`X \mid y`'s support, and where the rank at the support's start
    :math:`\ell_s = r(y, y/z_{hi})` nears its supremum the rank is flat there: on exponential
    sizes with a factor log-uniform on [0.5, 2] (:math:`X \mid y` an exponential truncated to
    :math:`[a, b] = [y/2, 2y]`) the rank is the mean residual life :math:`1 - d/(e^d - 1)`,
    :math:`d = b - t`, so :math:`B = b - d(\ell)` moves like :math:`\log(1/(1 - \ell))` and
    the integrand (a fraction of :math:`E[X^2 \mid y] f_Y`) like :math:`1/(1 - \ell)`, from
    1e-6 to 1e-4 at :math:`\ell_s - \ell = 10^{-3}` to about 0.05 at :math:`\ell_s`, a pole
    at a distance :math:`1 - \ell_s` (1e-2 at y = 4.3, 1e-14 at y = 24) beyond the table's end
    :math:`q_s`.
    Panels halved ten times towards :math:`q_s` (``SPLIT_W``) missed the laws by up to 3e-2 of
    :math:`E[X^2 \mid y] f_Y` per node and :math:`S_2` by 2.5e-5 / 2.8e-4 / 7.8e-4 / 7.6e-4
    (relative) at :math:`\ell = 1 - 10^{-3}, 10^{-4}, 10^{-5}, 10^{-6}` (:math:`N` exact: the
    head knows no split); Chebyshev panels halved towards a pole at a distance below their
    width resolve it (each panel is as wide as its distance from the end): 24 halvings gave
    2e-9 / 1.1e-10 / 3.3e-11 / 7e-13 there but 1.8e-5 at :math:`1 - 10^{-10}`, 40 halvings
    4.9e-11 / 1.5e-11 / 9e-9 at :math:`1 - 10^{-8}, 10^{-10}, 10^{-12}` (against the closed
    forms of ``tests/conditional_gittins_truncexp_reference.py``)."""
    w = np.asarray(w, float)
    k0 = int(np.ceil(-np.log2(max(1.0 - w[-2], 2.0 ** -depth)))) + 1
    extra = 1.0 - 2.0 ** -np.arange(k0, depth + 1)
    return np.unique(np.concatenate([w[:-1], extra[extra > w[-2]], [1.0]]))


class LevelTables:
    r"""The three integrands of the level functions tabulated on a fixed set of predictions
    (module docstring): built once per (size law, factor law) from 609 conditional laws on
    Exp/Exp (y-panels of width 1.5, four halvings towards the edge u_c on either side: six
    gave the same errors, with u_c located to 1e-12; the two edges from ``lc``), the roots by
    :mod:`qtheory.engine._conditional_kernels`."""

    def __init__(self, lc, ywidth: float = 1.5, levels: int = 4, old2_w: np.ndarray = OLD2_W,
                 split_w: np.ndarray | None = None, us_levels: int = 0):
        from . import _conditional_kernels as K
        from . import _conditional_structure as _structure
        from .soap_conditional import CondBatch

        self.lc = lc
        bounded = _structure.bounded_factor(lc.factor)
        if split_w is not None:  # (panels halved towards q_s: ``deep_split``)
            split_w = deep_split(split_w)
        ulo, uhi = lc.uylo, lc.uyhi

        def laws(u):
            return CondBatch(lc.size, lc.factor, np.exp(np.asarray(u, float)), lc.panels_n, lc.xr)

        # u_c: r(y, 0) reaches the top rank (beyond it C_y = inf at every level >= r(y, 0));
        # u_s: the hazard's peak reaches the truncation end (the minimal rank has a kink
        # there): both located by ``lc`` (``LevelCalc._kink``)
        uc, us = lc.uc, lc.us
        uc = uhi if uc is None else uc
        self.uc, self.us = uc, us
        # ---- rows of the old intervals (the whole range) and the moments E[X^j | y] f_Y ----
        pieces = [_graded(ulo, uc, ywidth, "b", levels)]
        if uc < uhi:
            ue_end = uhi if us is None or us <= uc else us
            pieces.append(_graded(uc, ue_end, ywidth, "a", levels))
            if us_levels and ue_end == us:  # (and towards u_s from below)
                pieces.append(_graded(pieces[-1][-2], us, ywidth, "b", us_levels))
            if us is not None and uc < us < uhi:
                pieces.append(_graded(us, uhi, ywidth, "a" if us_levels else "", us_levels))
        ue = np.unique(np.concatenate(pieces))
        ue = ue[np.concatenate([[True], np.diff(ue) > 1e-12])]
        # the laws at the panels' points, each shared panel edge once (``ykeep``; ``yfull``:
        # the law of each point of the raveled panels)
        npan = ue.size - 1
        ykeep, yfull = _shared_nodes(npan)
        uy = _panel_nodes(ue).ravel()[ykeep]
        cb = laws(uy)
        A = K.law_arrays(cb)
        n = cb.y.size
        r0 = np.exp(lc.lr0(uy))
        m, top = cb.m, cb.top_rank
        I0, M20 = cb.T[1][:, 0], cb.T[2][:, 0]
        self.ue = ue
        self.lI0 = Cheb1(ue, np.log(I0)[yfull].reshape(npan, NCHEB))
        self.lM20 = Cheb1(ue, np.log(M20)[yfull].reshape(npan, NCHEB))
        self.lm = Cheb1(ue, np.log(m)[yfull].reshape(npan, NCHEB))
        self.ltop = Cheb1(ue, np.log(top)[yfull].reshape(npan, NCHEB))
        args = (A["E"], A["MW"], A["LH"], A["TT"], A["LK"])
        croot = (cb.ap, cb.xtop, m, top, A["XS"], A["GS"], A["ipk"], A["ilast"])
        qtop = np.where(top >= r0, 1.0, np.sqrt(np.clip((top - m) / np.maximum(r0 - m, 1e-300), 0.0, 1.0)))

        def old_values(trows, lv):
            rows = np.repeat(trows, lv.shape[1])
            lf = lv.ravel()
            C = K.c_new_rows(rows, lf, *args, *croot)
            B = K.b_old_rows(rows, lf, C, *args, cb.ap, cb.xlo, cb.fY)
            if bounded:  # the sign of F at the support's end is rounding (retry_at_end)
                B = _structure.retry_at_end(B, rows, lf, C, m, cb.ap, lambda rr, ll, cc, ap: K.b_old_rows(
                    rr, ll, cc, *args, ap, cb.xlo, cb.fY))
            ok = np.isfinite(B) & (lf > m[rows])
            v = K.square_rows(rows, np.where(ok, B, 0.0), C, A["E"], A["MW"], A["LH"], A["TT"])
            return (np.where(ok, v, 0.0) / M20[rows]).reshape(lv.shape)

        # a bounded factor: q_s, where B_y(l) passes the start of X | y's support (the rank
        # there, r(y, y / z_hi), by its interpolant ``lc.lrs``): the integrand has a kink in q
        # there, and each table is split at it (None: no split)
        qs = None
        if split_w is not None:
            qs = self._q_start(uy, m, r0)

        def sub_table(lo_u, hi_u, wedges, q_of_s, sigma=None):
            """A table of the old intervals on the panels of ue inside [lo_u, hi_u]; with
            ``sigma`` (per row, in [0, 1]) two tables, on s in [0, sigma] and [sigma, 1]."""
            keep = (ue[:-1] >= lo_u - 1e-12) & (ue[1:] <= hi_u + 1e-12)
            if not keep.any():
                return None
            j = np.nonzero(keep)[0]
            e = np.concatenate([ue[j], [ue[j[-1] + 1]]])
            # the laws of the table's rows, each once (``inv``: the law of each row)
            rows, inv = np.unique(yfull[(j[:, None] * NCHEB + np.arange(NCHEB)[None, :]).ravel()],
                                  return_inverse=True)

            def one(wedges, s_of):
                wkeep, wfull = _shared_nodes(wedges.size - 1)
                sn = s_of(rows, _panel_nodes(wedges).ravel()[wkeep][None, :])
                q = q_of_s(qtop[rows][:, None], sn)
                lv = m[rows][:, None] + q ** 2 * (r0 - m)[rows][:, None]
                vals = old_values(rows, lv)[inv][:, wfull]
                return Cheb2(e, wedges, vals.reshape(j.size, NCHEB, wedges.size - 1, NCHEB))

            if sigma is None:
                return one(wedges, lambda rows, s: s)
            return (one(split_w, lambda rows, s: sigma(rows)[:, None] * s),
                    one(wedges, lambda rows, s: sigma(rows)[:, None] + (1.0 - sigma(rows)[:, None]) * s))

        sig1 = sig2 = None
        if qs is not None:
            def sig1(rows):
                return _split_fraction(qs[rows], 0.0, qtop[rows])

            def sig2(rows):
                return _split_fraction(qs[rows], qtop[rows], 1.0)
        # below the top rank (up to u_s: beyond, the minimal rank is the top rank), and the
        # intervals [B, inf) above it (from u_c)
        self.O1 = sub_table(ulo, uhi if us is None else us, OLD1_W, lambda qt, s: qt * s, sig1)
        self.O2 = sub_table(uc, uhi, old2_w, lambda qt, s: qt + (1.0 - qt) * s, sig2)
        # ---- the head: rows up to u_c ----
        self.head = uc > ulo
        if self.head:
            he = ue[ue <= uc + 1e-12]
            hp = he.size - 1
            # the laws of the first rows of the old table's rows, each once
            hrows, inv = np.unique(yfull[:hp * NCHEB], return_inverse=True)
            wkeep, wfull = _shared_nodes(HEAD_W.size - 1)
            w = _panel_nodes(HEAD_W).ravel()[wkeep]
            lv = np.exp(np.log(r0[hrows])[:, None] * (1 - w[None, :]) + np.log(top[hrows])[:, None] * w[None, :])
            rows = np.repeat(hrows, w.size)
            C = K.c_new_rows(rows, lv.ravel(), *args, *croot)
            e1, e2 = K.min_moments_rows(rows, C, A["E"], A["MW"], A["LH"], A["TT"])
            sh = (hp, NCHEB, HEAD_W.size - 1, NCHEB)
            self.H1 = Cheb2(he, HEAD_W, (e1 / I0[rows]).reshape(hrows.size, w.size)[inv][:, wfull].reshape(sh))
            self.H2 = Cheb2(he, HEAD_W, (e2 / M20[rows]).reshape(hrows.size, w.size)[inv][:, wfull].reshape(sh))
        self.split = qs is not None
        self.rows = n

    def _q_start(self, u: np.ndarray, m: np.ndarray, r0: np.ndarray) -> np.ndarray:
        r"""The old intervals' coordinate at the rank of the support's start,
        :math:`q_s = \sqrt{(r(y, y/z_{hi}) - m)/(r(y, 0) - m)}` (clipped to [0, 1])."""
        rs = np.exp(self.lc.lrs(u))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sqrt(np.clip((rs - m) / np.maximum(r0 - m, 1e-300), 0.0, 1.0))

    def node_values(self, L: np.ndarray, uA: np.ndarray, uB: np.ndarray):
        """The integrands at the nodes of ``soap_conditional.level_nodes`` (as
        ``soap_conditional.node_values_exact``), from the tables."""
        lc = self.lc
        L = np.asarray(L, float)
        lA = np.broadcast_to(L[:, None], uA.shape)
        # (the interpolants on the rows' panels ``ue`` at the same points together)
        lI0, lM20, ltop = self.lI0.many(uA, self.lM20, self.ltop)
        I0, M20 = np.exp(lI0), np.exp(lM20)
        phi, s2a = I0.copy(), M20.copy()
        if self.head:
            lr0 = lc.lr0(uA)
            with np.errstate(divide="ignore", invalid="ignore"):
                om = (np.log(lA) - lr0) / (ltop - lr0)
            inside = (uA < self.uc) & (om < 1.0) & np.isfinite(om)
            if inside.any():
                u, o = uA[inside], np.clip(om[inside], 0.0, 1.0)
                phi[inside] *= self.H1(u, o)
                s2a[inside] *= self.H2(u, o)
        lB = np.broadcast_to(L[:, None], uB.shape)
        lm, ltop, lM20 = self.lm.many(uB, self.ltop, self.lM20)
        m, r0, top = np.exp(lm), np.exp(lc.lr0(uB)), np.exp(ltop)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.sqrt(np.clip((lB - m) / (r0 - m), 0.0, 1.0))
            qtop = np.where(top >= r0, 1.0, np.sqrt(np.clip((top - m) / np.maximum(r0 - m, 1e-300), 0.0, 1.0)))
        below = (q <= qtop) | (qtop >= 1.0 - 1e-12)
        s1 = np.where(qtop > 0, np.clip(q / np.where(qtop > 0, qtop, 1.0), 0.0, 1.0), 0.0)
        s2 = np.clip((q - qtop) / np.maximum(1.0 - qtop, 1e-300), 0.0, 1.0)
        v = np.zeros(uB.shape)
        if self.split:
            qs = self._q_start(uB, m, r0)
            for T, s, lo, hi, sel in ((self.O1, s1, 0.0, qtop, below),
                                      (self.O2, s2, qtop, 1.0, ~below)):
                if T is None:
                    continue
                sg = _split_fraction(qs, lo, hi)
                lower = s <= sg
                s_lo = np.clip(s / np.where(sg > 0, sg, 1.0), 0.0, 1.0)
                s_hi = np.clip((s - sg) / np.maximum(1.0 - sg, 1e-300), 0.0, 1.0)
                v = np.where(sel, np.where(lower, T[0](uB, s_lo), T[1](uB, s_hi)), v)
        else:
            if self.O1 is not None:
                v = np.where(below, self.O1(uB, s1), v)
            if self.O2 is not None:
                v = np.where(below, v, self.O2(uB, s2))
        s2b = np.where(q > 0, v, 0.0) * np.exp(lM20)
        return phi, s2a, s2b
