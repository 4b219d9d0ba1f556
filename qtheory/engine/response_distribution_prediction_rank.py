r"""Response-time and waiting-time distributions of a user's prediction rank that never increases
with age (``qt.Rank(fn, descriptor="prediction", monotone="decreasing")``: :math:`y - a/2`,
:math:`y e^{-a}`, SPRPT's :math:`2(y - a)`, PSPJF's :math:`y^2`, ...) on a continuous size law
with a multiplicative prediction law :math:`Y = XZ` (issue 16), conditional on a job's size and
prediction :math:`(x, y)` or unconditional.

The rank is read on the prediction scale, :math:`s(y, a) = \varphi^{-1}(r(y, a))` with
:math:`\varphi(y) = r(y, 0)` (:mod:`qtheory.engine.soap_prediction_rank`; :math:`s(y, 0) = y`,
non-increasing in :math:`a`), and :math:`b_y(m)` is the first age where :math:`s(y, a) \le m`.
SOAP's decomposition (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018, Section 5) has
SPRPT's pieces with its root :math:`Y - m` replaced by :math:`b_Y(m)`
(``docs/response_time_distribution.md``, section 5; ``docs/soap_predictions.md``, "User
prediction ranks"): the tagged job's worst future rank is its current rank, a new job with
:math:`Y' < s(y, a)` is served whole, and an old job with :math:`Y' > y` is ahead from its
age :math:`b_{Y'}(y)` on, so that

.. math::
    E[e^{-sT}\mid x, y] = \tilde V_y\big(\eta_{<y}(s)\big)\,
        \exp\Big(-s x - \int_0^x \big(\eta_{<s(y, a)}(s) - s\big)\,da\Big),\qquad
    \eta_{<v}(s) = s + \lambda E\big[(1 - e^{-\eta_{<v}(s) X}); Y < v\big],

    \tilde V_y(u) = \frac{(1 - \rho_0 - \rho_1)u + \lambda E[1 - e^{-uX^{old}_1}]}
                         {u - \lambda E[1 - e^{-uX^{old}_0}]},\qquad
    X^{old}_0 = X1\{Y \le y\},\quad X^{old}_1 = (X - b_Y(y))^+ 1\{Y > y\},

and :math:`E[e^{-sW}\mid y] = \tilde V_y(\eta_{<y}(s))` (the rank only falls: the waiting time
is the time to first service). SPRPT is :math:`s = (y - a)^+`, :math:`b_Y(y) = Y - y`.

What is SPRPT's (:class:`~qtheory.engine.response_distribution_prediction.PredictionTransform`,
rank shape "remaining", whose methods this class inherits): the joint rule, Kendall's equation
on the threshold grid (:func:`~qtheory.engine.response_distribution_prediction.eta_rows`), the
old-job delay interpolated at the prediction nodes, the busy-period cumulants of the moments.
What is new:

* the sparse piece :math:`P = X^{old}_1` at a threshold :math:`v` (:func:`old_piece`) on SPRPT's
  rule in :math:`p`, with the density
  :math:`g_v(p) = \int_v^\infty f_X(p + b_y(v))\, f_Z\big(y/(p + b_y(v))\big)/(p + b_y(v))\,dy`
  (:math:`x = p + b_y(v)`, :math:`dx = dp` at fixed :math:`y`; SPRPT's
  :math:`E[f_Z(1 + (v - p)/X)/X; X > p]`), Gauss-Legendre in :math:`\log y` on the prediction
  panels above :math:`v`, one root :math:`b_y(v)` per prediction node and threshold;
* the residence :math:`\int_0^x (\eta_{<s(y, a)}(s) - s)\,da` by an age rule per prediction
  node (:class:`AgeRule`): Gauss-Legendre panels on :math:`[0, x_{max}]` with edges where
  :math:`s(y, a)` crosses the threshold grid's panel edges (there the interpolant of
  :math:`\eta_{<v}` in :math:`\log v` kinks; geometric towards level 0) and at the age where
  the rank reaches level 0, each class's size reading the panels' cumulative weights; the
  grid's interpolant (Lagrange in :math:`\log v`) gives :math:`\eta_{<v}` at the ages'
  levels, 0 (level 0: :math:`\eta = s`) at and below the grid's first threshold (its mass
  :math:`P(Y <` ``Y_CUT`` quantile) is 1e-14);
* the classes: the prediction route's panels, each row of sizes split where the rank reaches
  level 0 (the residence kinks there) and at :math:`x = y` (SPRPT's rows).

The residence's mean and variance are the same age integrals of :math:`1/(1 - \lambda N(v))` and
:math:`\lambda N_2(v)/(1 - \lambda N(v))^3` (:math:`N_k(v) = E[X^k; Y < v]`).

Covered: the laws where :mod:`qtheory.engine.soap_prediction_rank` is exact on a size law
without breakpoints or positive support ends (Exp, Weibull, log-normal, gamma sizes), with
exponential, log-normal, uniform or bounded-multiplicative predictions. When the factor's
density jumps (uniform and :class:`~qtheory.BoundedMultiplicative` predictions), two things
change: the piece's density :math:`g_v(p)` jumps in :math:`y` where
:math:`y/(p + b_y(v))` is a kink :math:`k` of :math:`f_Z`, at predictions that depend on
:math:`p`; those are found per :math:`p` node (sign changes, bisection) and their panels cut
there (:func:`_jump_corrections`). Where :math:`\Phi_k(y) = y/k - b_y(v)` is nearly flat in
:math:`y` (:math:`y/(1 + a)`: :math:`b_y(v) = y/v - 1`, flat at :math:`v = k`), a whole
prediction panel is crossed while :math:`p` runs over a short interval, and :math:`g_v(p)`
changes there in a boundary layer that the size rule's panels in :math:`p` do not follow: the
rule in :math:`p` is cut at :math:`\Phi_k`'s values on those panels' edges
(:func:`_flat_cuts`; a class's :math:`E[W]` at :math:`y = 1.501` was 7.4e-5 off without them,
1.3e-14 with). And for a class, :math:`\eta_{<v}(s)` oscillates in
:math:`v` like :math:`e^{-sv/k}`, which the grid's interpolant does not follow at high
frequencies, so Kendall's equation is solved at the age nodes' levels themselves. Where
:math:`\Phi_k` has an interior extremum :math:`(y^*, p^*)` in :math:`y` (:math:`y/(1 + a)^2`:
:math:`b_y(v) = \sqrt{y/v} - 1`, a minimum at :math:`y^* = k^2/(4v)` for :math:`v < k/2`;
:math:`y e^{-a}`), two jumps merge there and :math:`g_v(p)` has a square-root edge at
:math:`p^*`: :math:`y^*` is made a prediction panel edge (each panel then holds one crossing)
and the rule in :math:`p` is graded at :math:`p^*` (:func:`_extrema`; a class's :math:`E[W]`
of :math:`y/(1 + a)^2` on uniform(0.5) at :math:`y = 0.2, 0.5, 0.7` was 2.8e-6, 1.6e-6,
2.8e-7 off a scipy quadrature of SOAP's formula, 1.3e-11, 2.7e-12, 2.1e-12 with them). Not
done (``NotImplementedError``): Pareto or uniform sizes (the density jumps where
:math:`p + b_y(v)` crosses a breakpoint), and on factors with kinks the unconditional law of
the ranks whose :math:`y/k - b_y(v)` is not monotone in :math:`y` (:func:`_jumps_monotone`:
not checked; their class laws are covered); SPRPT's family :math:`c(y - a)`,
:math:`e^{y - a}`, :math:`y - a/2`, PSPJF's :math:`y^2` and :math:`y/(1 + a)` (flat at a
threshold, :func:`flat_thresholds`) are covered.

The unconditional response time on a factor with kinks takes the outer rule of
:class:`~qtheory.engine.response_distribution_prediction_outer.OuterRankTransform` (the classes
mixed over :math:`(x, z)` with :math:`e^{-sx}` outside): summed over prediction nodes, as here,
the rows' :math:`e^{-sx}` ends with a jump at :math:`x = y/k` and the mixing was 1.7e-4 off at
:math:`t = 0.1` (:math:`2(y - a)` against SPRPT's law).

Measured (``tests/test_distribution_prediction_rank.py``; ``docs/response_time_distribution.md``,
section 6.7): ranks ordering jobs as SPRPT or PSPJF reproduce those policies' transforms to
2e-15 (unconditional) and 5e-13 (classes), their unconditional cdf to 1e-9; :math:`y - a/2`'s
class moments match a reference from the definitions to 1e-13, its mean the mean engine to
2.5e-12. Uniform(0.5) predictions on Exp sizes at load 0.8: the piece of SPRPT's rank within
2e-13 of SPRPT's (moments) and 1.8e-15 (transform at 20 + 40i); PSPJF's rank's class
transform 1e-16 from PSPJF's, the unconditional cdf of SPRPT's rank 7e-10 from SPRPT's
(bounded-multiplicative(0.5, 2): classes 9.4e-12 (PSPJF), 6.9e-8 (SPRPT, whose own residence
interpolates :math:`\eta_{<v}` on its grid: 3.2e-6 off at s = 2 + 150i against a quadrature of
Kendall's roots in the level, this route 2e-10)); :math:`y - a/2`'s mean 9.2e-12 from the mean
engine's. :math:`y/(1 + a)` (``tests/test_falling_rank_flat.py``): a class's :math:`E[W]` at
:math:`y = 1.501, 0.501, 1.51` within 1.3e-14, 4.2e-15, 1.5e-14 of a scipy quadrature of SOAP's
formula (bounded-multiplicative(0.5, 2) at 2.001, 0.501, 2.01: 1.8e-14, 2.7e-15, 6.8e-15), the
unconditional mean 1.1e-12 (1.2e-12) from the mean engine's, the cdf at t = 0.5 1.5e-9 from the
class laws mixed over (x, z); at t = 1.5 3.9e-9 from the class laws mixed with the rule in z
cut at the flat thresholds (4 panels in x; 2.8e-8 from the same cut at the x where the inner
integral kinks: the mixtures' own spread in x; docs section 6.7), a class's transform next
to :math:`v^*` within 3.4e-15 of an independent reference.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..laws._quadrature import ORDER, _gl, panels
from ._joint_rule import FactorJointRule, _cum_basis, drop_tiny, log_tgrid
from .response_distribution_prediction import PredictionTransform, _fine_rows
from .soap_prediction_rank import FreshInverse, _illinois, first_age

#: Gauss-Legendre order of the age panels and of the prediction panels of the piece density
#: (the size rule's ORDER: the classes' cumulative weights are ``_joint_rule._cum_basis``'s)
AGE_ORDER = ORDER
#: each age panel is cut in this many equal parts
AGE_SPLIT = 2
#: the prediction panels of the piece density above a threshold t: edges t (1 + 2^-k),
#: k = PIECE_GRADE..0, then the route's prediction panels above 2t
PIECE_GRADE = 40
#: geometric age edges x_max 2^-k, k = 1..AGE_GEO
AGE_GEO = 4
#: bisection steps of the predictions where the piece's density jumps, on a factor law with
#: kinks (:func:`_jump_corrections`)
PIECE_BISECT = 60
#: the thresholds and predictions per threshold where :func:`_jumps_monotone` samples
#: y/k - b_y(v)
MONO_LEVELS = 24
MONO_SAMPLES = 96
#: the thresholds where :func:`flat_thresholds` samples the direction of y/k - b_y(v), and the
#: bisections of its changes
FLAT_LEVELS = 129
FLAT_BISECT = 50
#: :func:`_flat_cuts`: a prediction panel over which y/k - b_y(v) changes by less than this
#: times its width has its ends' values as edges of the piece's rule in p
FLAT_SLOPE = 0.125
#: :func:`_extrema`: the predictions per threshold where y/k - b_y(v) is sampled for interior
#: extrema, and the golden-section steps of each
EXT_SAMPLES = 96
EXT_GOLDEN = 90
#: the piece's rule in p at an extremum's value p*: cuts p* (1 +- EXT_RATIO^-j), j = 1..EXT_GRADE
#: (the density has a square-root edge there)
EXT_GRADE = 14
EXT_RATIO = 4.0


# ---- the sparse old piece ---------------------------------------------------------------------------
def reach_ages(fn, y, target, cap: float) -> np.ndarray:
    r""":math:`b_y(m)`: the age where the non-increasing rank ``fn(y, .)`` reaches ``target``
    (0 where it starts at or below it; ``inf`` where it is still above it at age ``cap``):
    doubling from ``y``, then regula falsi (Illinois, safeguarded by bisection; a bracket of a
    few ulps) on the pairs still open, as
    :func:`~qtheory.engine.soap_prediction_rank.first_age` but without its full-array
    bisection (140000 pairs: 0.1 s instead of 3.7 s)."""
    y, target = np.broadcast_arrays(np.asarray(y, float), np.asarray(target, float))
    shape = y.shape
    y, target = y.ravel(), target.ravel()
    out = np.zeros(y.size)
    with np.errstate(all="ignore"):
        f0 = np.asarray(fn(y, np.zeros(y.size)), float) - target
    act = np.nonzero(f0 > 0)[0]
    lo = np.zeros(act.size)
    hi = np.minimum(np.maximum(y[act], 1e-300), cap)
    with np.errstate(all="ignore"):
        fhi = np.asarray(fn(y[act], hi), float) - target[act]
    flo = f0[act]
    open_ = fhi > 0
    while np.any(open_ & (hi < cap)):
        grow = open_ & (hi < cap)
        lo = np.where(grow, hi, lo)
        flo = np.where(grow, fhi, flo)
        hi = np.where(grow, np.minimum(2.0 * hi, cap), hi)
        with np.errstate(all="ignore"):
            fhi = np.where(grow, np.asarray(fn(y[act], hi), float) - target[act], fhi)
        open_ = fhi > 0
    never = fhi > 0
    out[act[never]] = np.inf
    sel = ~never
    ia = act[sel]
    if ia.size:
        yi = y[ia]

        # increasing in the age: target - fn(y, a)
        def f(x, idx):
            with np.errstate(all="ignore"):
                return -np.asarray(fn(yi[idx], x), float)

        out[ia] = _illinois(f, -target[ia], lo[sel], hi[sel], -flo[sel], -fhi[sel], close=True)
    return out.reshape(shape)


@numba.njit(cache=True)
def _pairs(p, y, wy, b, zlo, zhi, xtop):  # pragma: no cover - compiled
    r"""The pairs (p node, prediction node) with :math:`z = y/(p + b_y)` in ``[zlo, zhi]`` and
    :math:`x = p + b_y \le` ``xtop`` (``p`` increasing): p index, x, z and the prediction weight."""
    n = 0
    lo = np.empty(y.size, np.int64)
    hi = np.empty(y.size, np.int64)
    for k in range(y.size):
        lo[k] = np.searchsorted(p, y[k] / zhi - b[k], side="left")
        hi[k] = np.searchsorted(p, min(y[k] / zlo, xtop) - b[k], side="right")
        if hi[k] > lo[k]:
            n += hi[k] - lo[k]
    pi = np.empty(n, np.int64)
    xs = np.empty(n)
    zs = np.empty(n)
    ws = np.empty(n)
    m = 0
    for k in range(y.size):
        for j in range(lo[k], hi[k]):
            x = p[j] + b[k]
            pi[m] = j
            xs[m] = x
            zs[m] = y[k] / x
            ws[m] = wy[k]
            m += 1
    return pi, xs, zs, ws


def old_piece(rule: FactorJointRule, fn, psi: FreshInverse, v) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights of :math:`P = (X - b_Y(v))^+ 1\{Y > v\}` per threshold ``v`` (rows):
    :math:`\sum_k W_{jk} h(P_{jk}) \approx E[h(P); Y > v_j, P > 0]`, on the nodes in :math:`p`
    of :meth:`~qtheory.engine._joint_rule.FactorJointRule.gt_rem` with the density
    :math:`g_v(p)` of the module docstring."""
    v = np.atleast_1d(np.asarray(v, float))
    r, f = rule.r, rule.f
    ye = rule.yedges
    # the factor's range: outside it f_Z is below 1e-16 of its mode (the pairs (p, y) with
    # y / x outside it are skipped)
    zlo = math.exp(float(f.log_range_q(1e-18)) - 1.0)
    zhi = math.exp(float(f.log_range_q(1.0 - 1e-16)) + 1.0)
    xtop = 2.0 * FactorJointRule.top(r)
    target = psi.fresh(np.maximum(v, psi.y[0]))
    # per threshold t: prediction panels graded towards t, edges t (1 + 2^-k): near y = t the
    # density varies in y where b_y(t) varies by p, and only p + b >= t / zhi counts, so the
    # edges where b < t / (16 zhi) are dropped; then the route's prediction panels above 2t
    ok = (v > 0) & (np.log(np.maximum(v, 1e-300)) < ye[-1])
    k = np.arange(PIECE_GRADE, -1, -1.0)
    near = v[:, None] * (1.0 + 2.0 ** -k[None, :])
    bn = reach_ages(fn, near, np.broadcast_to(target[:, None], near.shape), xtop)
    # interior extrema of y/k - b_y(v) (:func:`_extrema`): prediction panel edges at y*, and
    # the rule in p graded at p* (not sought for the ranks :func:`_jumps_monotone` passes: their
    # pieces as before, bit for bit, at the cost of before)
    ext = [None] * v.size
    if rule.kinks.size and not _jumps_monotone(rule, fn, psi):
        ext = _extrema(rule, fn, target, v, xtop, ok)
    ny = 0
    rows, yedges = [], []
    for i, t in enumerate(v.tolist()):
        if not ok[i]:
            rows.append((np.zeros(0), np.zeros(0)))
            yedges.append(None)
            continue
        lt2 = math.log(2.0 * t)
        ne = near[i][(bn[i] >= t / (16.0 * zhi)) | (k == 0)]
        le = np.concatenate([[lt2], ye[ye > lt2 + 1e-12]])
        if ext[i] is not None:
            ys_ = ext[i][0]
            ne = np.unique(np.concatenate([ne, ys_[(ys_ > t) & (ys_ < 2.0 * t)]]))
            le = np.unique(np.concatenate([le, np.log(ys_[(ys_ > 2.0 * t) & (np.log(ys_) < le[-1])])]))
        y0, w0 = panels(np.concatenate([[t], ne]), AGE_ORDER)
        u, wu = panels(le, AGE_ORDER)
        rows.append((np.concatenate([y0, np.exp(u)]), np.concatenate([w0, wu * np.exp(u)])))
        yedges.append((np.concatenate([[t], ne]), np.exp(le)))
        ny = max(ny, rows[-1][0].size)
    Y = np.ones((v.size, max(ny, 1)))
    WY = np.zeros(Y.shape)
    for i, (y, w) in enumerate(rows):
        Y[i, :y.size] = y
        WY[i, :y.size] = w
    # the p rule: split at v and v / k for the kinks k of Z's law and, where y/k - b_y(v) is
    # nearly flat in y, at its values on the prediction panels' edges (:func:`_flat_cuts`)
    edge_b = _edge_ages(fn, target, yedges, xtop) if rule.kinks.size else None
    cuts = [v[:, None], rule._kink_cuts(v)]
    if edge_b is not None:
        extra = _flat_cuts(rule, yedges, edge_b, v.size)
        if extra is not None:
            cuts.append(extra)
    graded = _extremum_cuts(ext, v.size)
    if graded is not None:
        cuts.append(graded)
    nodes, wgl = _gl(ORDER)
    P, Wd = rule._split(np.concatenate(cuts, axis=1), density=False)
    P = np.concatenate([np.broadcast_to(r.lo * nodes, (v.size, ORDER)), P], axis=1)
    Wd = np.concatenate([np.broadcast_to(r.lo * wgl, (v.size, ORDER)), Wd], axis=1)
    # b_y(t): one root per prediction node and threshold, all at once
    B = reach_ages(fn, Y, np.broadcast_to(target[:, None], Y.shape), xtop)
    G = np.zeros_like(P)
    for i in range(v.size):
        live = (WY[i] > 0) & np.isfinite(B[i])
        if not live.any():
            continue
        pi, xs, zs, ws = _pairs(P[i], Y[i, live], WY[i, live], B[i, live], zlo, zhi, xtop)
        with np.errstate(all="ignore"):
            h = np.asarray(r.size.pdf(xs), float) * np.asarray(f.pdf(zs), float) / xs
        G[i] = np.bincount(pi, weights=np.where(np.isfinite(h), h, 0.0) * ws, minlength=P.shape[1])
    if rule.kinks.size:
        G += _jump_corrections(rule, fn, target, P, yedges, Y, WY, B, xtop, edge_b)
    return P, Wd * G


def _row_ends(yedges) -> tuple[list, list]:
    """The rows of :func:`old_piece` that have prediction panels, and each one's panel edges
    (the graded ones, then the route's)."""
    rows = [i for i, ed in enumerate(yedges) if ed is not None]
    return rows, [np.concatenate([yedges[i][0], yedges[i][1][1:]]) for i in rows]


def _edge_ages(fn, target, yedges, xtop) -> list:
    r""":math:`b_y(v)` at every row's prediction panel edges (all rows at once; ``None`` for a
    row without panels)."""
    rows, ends = _row_ends(yedges)
    out = [None] * len(yedges)
    if not rows:
        return out
    be_all = reach_ages(fn, np.concatenate(ends),
                        np.concatenate([np.full(e.size, target[i]) for i, e in zip(rows, ends, strict=True)]),
                        xtop)
    splits = np.cumsum([e.size for e in ends])[:-1]
    for i, be in zip(rows, np.split(be_all, splits), strict=True):
        out[i] = be
    return out


def _flat_cuts(rule: FactorJointRule, yedges, edge_b, n: int) -> np.ndarray | None:
    r"""Extra edges of :func:`old_piece`'s rule in :math:`p` (shape ``(n, m)``, NaN padded;
    ``None`` where no row needs any): where :math:`\Phi_k(y) = y/k - b_y(v)` is nearly flat in
    :math:`y` (:math:`|\Delta\Phi_k| <` :data:`FLAT_SLOPE` :math:`\Delta y` across a
    prediction panel, yet not flat to rounding), its values at the panel's edges.

    The piece's density :math:`g_v(p) = \int_v^\infty h(y, p)\,dy` takes the jump of
    :math:`f_Z` at :math:`z = k` where :math:`\Phi_k(y) = p`: with :math:`\Phi_k` of slope
    :math:`c` in :math:`y`, the prediction panel :math:`[y_a, y_b]` is crossed while :math:`p`
    runs over :math:`[\Phi_k(y_a), \Phi_k(y_b)]`, so :math:`g_v` changes there on the scale
    :math:`c\,(y_b - y_a)` in :math:`p`: a boundary layer that a Gauss-Legendre panel of the
    size rule cannot follow when :math:`c` is small. :math:`y/(1 + a)` on uniform(0.5)
    predictions (:math:`b_y(v) = y/v - 1`, :math:`c = 1/k - 1/v`, flat at :math:`v = k`): a
    class's :math:`E[W]` at :math:`y = 1.501` was 7.4e-5 off (relative) without these edges,
    at 1.51 2.6e-7, at 1.45 4.3e-12 (1.3e-14, 1.5e-14, 5.2e-15 with them). Cut at the images of
    the prediction panels, :math:`g_v` on each panel in
    :math:`p` is the integral of :math:`h` over a part of one prediction panel (smooth). SPRPT's
    ranks (:math:`|c| \ge 1/3`) and :math:`y - a/2` (:math:`c = 0` at :math:`k = 1/2`, to
    rounding: its density jumps at :math:`p = v/k`, already an edge) get none."""
    top = FactorJointRule.top(rule.r)
    rows, ends = _row_ends(yedges)
    out = [np.zeros(0)] * n
    for i, e in zip(rows, ends, strict=True):
        be = edge_b[i]
        got = []
        for k in rule.kinks:
            with np.errstate(invalid="ignore"):
                phi = e / k - be
                scale = e / k + np.abs(be)
                fin = np.isfinite(phi[:-1]) & np.isfinite(phi[1:])
                d = np.abs(np.diff(phi))
                band = 1e-9 * np.maximum(scale[:-1], scale[1:])
                near_flat = fin & (d < FLAT_SLOPE * np.diff(e)) & (d > band)
            j = np.flatnonzero(near_flat)
            if j.size:
                got.append(np.concatenate([phi[j], phi[j + 1]]))
        if got:
            c = np.unique(np.concatenate(got))
            out[i] = c[(c > rule.r.lo) & (c < top)]
    m = max(c.size for c in out)
    if not m:
        return None
    cuts = np.full((n, m), np.nan)
    for i, c in enumerate(out):
        cuts[i, :c.size] = c
    return cuts


def _extrema(rule: FactorJointRule, fn, target, v, xtop, ok) -> list:
    r"""Per threshold :math:`v` (``None`` where none): the interior extrema
    :math:`(y^*, p^*)` of :math:`\Phi_k(y) = y/k - b_y(v)` over :math:`y > v` for the kinks
    :math:`k` of :math:`f_Z` (:math:`y/(1 + a)^2`: :math:`b_y(v) = \sqrt{y/v} - 1`, a minimum
    at :math:`y^* = k^2/(4v)` where :math:`v < k/2`, :math:`p^* = 1 - k/(4v)`): sign changes of
    :math:`\Phi_k`'s differences on :data:`EXT_SAMPLES` predictions (geometric from
    :math:`v` to the rule's top; differences within 1e-9 of the terms count as flat, as in
    :func:`_jumps_monotone`), each refined by :data:`EXT_GOLDEN` golden-section steps.

    There the two predictions where :math:`\Phi_k = p` (the jumps of :math:`g_v(p)`'s
    integrand in :math:`y`) merge, and :math:`g_v(p)` has a square-root edge at :math:`p^*`:
    :func:`old_piece` makes :math:`y^*` a prediction panel edge (each panel then holds one
    crossing, which :func:`_jump_corrections` brackets) and grades its rule in :math:`p` at
    :math:`p^*` (:func:`_extremum_cuts`)."""
    out = [None] * v.size
    top = math.exp(rule.yedges[-1])
    live = np.flatnonzero(ok & (v < top))
    if not live.size:
        return out
    vv = v[live]
    y = vv[:, None] * np.geomspace(1.0, top / vv, EXT_SAMPLES).T
    b = reach_ages(fn, y, np.broadcast_to(target[live][:, None], y.shape), xtop)
    cand_row, cand_k, cand_a, cand_b, cand_sg = [], [], [], [], []
    for k in rule.kinks:
        with np.errstate(invalid="ignore"):
            phi = y / k - b
            scale = np.abs(y / k) + np.abs(b)
            d = np.diff(phi, axis=1)
            tol = 1e-9 * np.maximum(scale[:, 1:], scale[:, :-1])
            sg = np.where(np.isfinite(d), np.where(d > tol, 1, np.where(d < -tol, -1, 0)), 0)
        # an extremum between samples j - 1 and j + 1: the differences change sign at j
        i, j = np.nonzero((sg[:, :-1] * sg[:, 1:]) < 0)
        cand_row.append(i)
        cand_k.append(np.full(i.size, k))
        cand_a.append(y[i, j])
        cand_b.append(y[i, j + 2])
        cand_sg.append(sg[i, j])
    row, kk, a, bb, sgn = (np.concatenate(c) for c in (cand_row, cand_k, cand_a, cand_b, cand_sg))
    if not row.size:
        return out
    tg = target[live][row]

    def g(yv):
        # minimise sgn' * phi: a minimum (differences falling then rising) as is, a maximum negated
        bv = reach_ages(fn, yv, tg, xtop)
        return -sgn * (yv / kk - bv)

    gr = (math.sqrt(5.0) - 1.0) / 2.0
    c = bb - gr * (bb - a)
    dd = a + gr * (bb - a)
    fc, fd = g(c), g(dd)
    for _ in range(EXT_GOLDEN):
        left = fc < fd
        bb = np.where(left, dd, bb)
        a = np.where(left, a, c)
        c, dd = np.where(left, bb - gr * (bb - a), dd), np.where(left, c, a + gr * (bb - a))
        fnew = g(np.where(left, c, dd))
        fc, fd = np.where(left, fnew, fd), np.where(left, fc, fnew)
    ys = 0.5 * (a + bb)
    ps = ys / kk - reach_ages(fn, ys, tg, xtop)
    for r_ in np.unique(row):
        m = row == r_
        out[live[r_]] = (ys[m], ps[m])
    return out


def _extremum_cuts(ext, n: int) -> np.ndarray | None:
    r"""Edges of :func:`old_piece`'s rule in :math:`p` at the extrema's values :math:`p^* > 0`
    (:func:`_extrema`), graded towards them, :math:`p^*(1 \pm 4^{-j})`, :math:`j = 1..`
    :data:`EXT_GRADE`: :math:`g_v(p)` has a term :math:`\propto\sqrt{|p - p^*|}` on one side
    (the interval between the two crossings), which a Gauss-Legendre panel ending at
    :math:`p^*` integrates to :math:`O(h^{3/2})` of its width :math:`h` only. ``None`` where
    no row has one."""
    j = EXT_RATIO ** -np.arange(1.0, EXT_GRADE + 1.0)
    rows = []
    for e in ext:
        if e is None:
            rows.append(np.zeros(0))
            continue
        p = e[1][e[1] > 0]
        rows.append(np.concatenate([p, (p[:, None] * (1.0 + j[None, :])).ravel(),
                                    (p[:, None] * (1.0 - j[None, :])).ravel()]))
    m = max(r.size for r in rows)
    if not m:
        return None
    cuts = np.full((n, m), np.nan)
    for i, r in enumerate(rows):
        cuts[i, :r.size] = r
    return cuts


def _jump_corrections(rule: FactorJointRule, fn, target, P, yedges, Y, WY, B, xtop,
                      edge_b=None) -> np.ndarray:
    r"""On a factor law with kinks (uniform, bounded-multiplicative predictions): the
    corrections of :func:`old_piece`'s densities :math:`g_v(p)` at its nodes, where the
    integrand in :math:`y` jumps (or kinks) inside a prediction panel, at the :math:`y` with
    :math:`\Phi_k(y) = y/k - b_y(v) = p` for a kink :math:`k` of :math:`f_Z`
    (:math:`y/(p + b_y(v)) = k`): those are found by sign changes of :math:`\Phi_k - p` on the
    panel's edges and nodes (a pair of crossings between two of them is missed) and bisection
    (:data:`PIECE_BISECT` steps on :math:`r(y, y/k - p) \le r(v, 0)`, which is
    :math:`b_y(v) \le y/k - p` for a rank that never increases with age), and the panel's sum for that
    :math:`p` is replaced by Gauss-Legendre on the panel cut there (linear or in :math:`\log y`
    as the panel; a root :math:`b_y(v)` per new node)."""
    r, f = rule.r, rule.f
    O = AGE_ORDER
    dG = np.zeros(P.shape)
    # the crossings: (row, p index, panel, log panel?, panel ends, bracket)
    cr_row, cr_p, cr_q, cr_log, cr_e0, cr_e1, cr_lo, cr_hi, cr_k = ([] for _ in range(9))
    rows, ends = _row_ends(yedges)
    if not rows:
        return dG
    # b_y(v) at every row's panel edges (:func:`_edge_ages`)
    if edge_b is None:
        edge_b = _edge_ages(fn, target, yedges, xtop)
    for i, e in zip(rows, ends, strict=True):
        be = edge_b[i]
        lin = yedges[i][0]
        porder = np.argsort(P[i], kind="stable")
        ps = P[i][porder]
        npan = e.size - 1
        is_log = np.arange(npan) >= lin.size - 1
        yn = Y[i, :npan * O].reshape(npan, O)
        bn = B[i, :npan * O].reshape(npan, O)
        # per panel: its first edge, its nodes; then the last edge
        ym = np.concatenate([np.concatenate([e[:-1, None], yn], axis=1).ravel(), e[-1:]])
        bm = np.concatenate([np.concatenate([be[:-1, None], bn], axis=1).ravel(), be[-1:]])
        for k in rule.kinks:
            with np.errstate(invalid="ignore"):
                phi = np.where(np.isfinite(bm), ym / k - bm, -np.inf)
            # phi > p changes between samples j and j + 1 for the p in [min, max) of the two
            # (the p nodes sorted: a range of them per pair of samples)
            lo_j = np.minimum(phi[:-1], phi[1:])
            hi_j = np.maximum(phi[:-1], phi[1:])
            a = np.searchsorted(ps, lo_j, side="left")
            n = np.searchsorted(ps, hi_j, side="left") - a
            if not n.sum():
                continue
            jm = np.repeat(np.arange(lo_j.size), n)
            jp = porder[np.repeat(a - np.cumsum(n) + n, n) + np.arange(n.sum())]
            q = jm // (O + 1)
            cr_row.append(np.full(jp.size, i))
            cr_p.append(jp)
            cr_q.append(q)
            cr_log.append(is_log[q])
            cr_e0.append(e[q])
            cr_e1.append(e[q + 1])
            cr_lo.append(ym[jm])
            cr_hi.append(ym[jm + 1])
            cr_k.append(np.full(jp.size, k))
    if not cr_row:
        return dG
    row, pj, q, islog, e0, e1, lo, hi, kk = (np.concatenate(c) for c in
                                            (cr_row, cr_p, cr_q, cr_log, cr_e0, cr_e1, cr_lo, cr_hi, cr_k))
    p = P[row, pj]
    tg = target[row]

    def above(y):
        # y/k - b_y(v) > p, i.e. the rank at age y/k - p is already at or below the level's
        # (b_y(v) <= a exactly when r(y, a) <= r(v, 0) for a rank that never increases with
        # age): one evaluation of the rank, no root b_y(v)
        a = y / kk - p
        with np.errstate(all="ignore"):
            r = np.asarray(fn(y, np.maximum(a, 0.0)), float)
        return (a > 0) & (r <= tg)

    side = above(lo)
    for _ in range(PIECE_BISECT):
        mid = 0.5 * (lo + hi)
        same = above(mid) == side
        lo, hi = np.where(same, mid, lo), np.where(same, hi, mid)
    root = 0.5 * (lo + hi)
    # one group per (row, p, panel): the panel cut at all its crossings
    key = (row * P.shape[1] + pj) * (Y.shape[1] // O + 1) + q
    order = np.lexsort((root, key))
    key, root = key[order], root[order]
    row, pj, q, islog, e0, e1, p = (a[order] for a in (row, pj, q, islog, e0, e1, p))
    first = np.concatenate([[True], key[1:] != key[:-1]])
    gid = np.cumsum(first) - 1
    g0 = np.flatnonzero(first)
    ng = g0.size
    # the sub-panels: consecutive points of each group's sorted [panel start, crossings, end]
    pts = np.concatenate([e0[g0], root, e1[g0]])
    grp = np.concatenate([np.arange(ng), gid, np.arange(ng)])
    o = np.lexsort((pts, grp))
    pts, grp = pts[o], grp[o]
    same = grp[:-1] == grp[1:]
    sa, sb, sg = pts[:-1][same], pts[1:][same], grp[:-1][same]
    lg = islog[g0][sg]
    Eu = np.stack([np.where(lg, np.log(sa), sa), np.where(lg, np.log(sb), sb)], axis=1)
    u, wu = panels(Eu, O)
    yy = np.where(lg[:, None], np.exp(u), u)
    wy = np.where(lg[:, None], wu * np.exp(u), wu)
    gr, gp = row[g0], p[g0]
    bb = reach_ages(fn, yy, np.broadcast_to(target[gr[sg]][:, None], yy.shape), xtop)

    def dens(y, b, pp):
        x = pp + b
        with np.errstate(all="ignore"):
            h = np.asarray(r.size.pdf(x), float) * np.asarray(f.pdf(y / x), float) / x
        return np.where(np.isfinite(h) & (x <= xtop), h, 0.0)

    new = np.bincount(sg, weights=np.sum(wy * dens(yy, bb, gp[sg][:, None]), axis=1), minlength=ng)
    qi = q[g0][:, None] * O + np.arange(O)[None, :]
    yo, wo, bo = Y[gr[:, None], qi], WY[gr[:, None], qi], B[gr[:, None], qi]
    old = np.sum(wo * dens(yo, bo, gp[:, None]), axis=1)
    np.add.at(dG, (gr, pj[g0]), new - old)
    return dG


# ---- the age rules of the residence -------------------------------------------------------------------
class AgeRule:
    r"""Per prediction node :math:`y_j`, Gauss-Legendre panels (:data:`AGE_ORDER` nodes) on
    :math:`[0, x_{max,j}]`, the levels :math:`s(y_j, a)` at their nodes located on the threshold
    grid, and for each class size :math:`x_{jk}` the panel holding it with the coefficients of
    the partial integral from the panel's start, so that

    .. math::
        \int_0^{x_{jk}} g(s(y_j, a))\,da \approx \sum_{q < q_{jk}} \sum_l w_{ql} g_{ql}
            + \sum_l c_{jk,l}\, g_{q_{jk} l}.

    Edges: 0, :math:`x_{max}`, :math:`x_{max}2^{-k}` (:data:`AGE_GEO`), the age where the rank
    reaches level 0 and those where :math:`s(y_j, a)` crosses the grid's panel edges (a
    bisection of 60 steps: they grade the rule, they need not be exact), each panel cut in
    :data:`AGE_SPLIT`."""

    def __init__(self, fn, psi: FreshInverse, grid, ys: np.ndarray, Xc: np.ndarray, Wc: np.ndarray):
        from .soap_prediction_rank import crossing_ages

        O = AGE_ORDER
        live = Wc != 0
        xmax = np.where(live, Xc, 0.0).max(axis=1)
        tn, tw = _gl(O)
        ge = grid_edges(grid)
        zero = first_age(fn, ys, np.full(ys.size, psi.floor))
        n_rows = ys.size
        # the ages where s(y_j, .) crosses the grid's panel edges (all rows at once; an edge
        # at or above y_j is crossed at age 0)
        target = psi.fresh(np.maximum(ge, psi.y[0]))
        CR = crossing_ages(fn, ys[:, None], xmax[:, None], target[None, :], 60)
        ages, aw, apan_ptr = [], [], np.zeros(n_rows + 1, np.int64)
        cpan = np.zeros(Xc.shape, np.int64)
        XI = np.zeros(Xc.shape)
        HQ = np.zeros(Xc.shape)
        Z0 = np.full(n_rows, -1, np.int64)
        XI0 = np.zeros(n_rows)
        H0 = np.zeros(n_rows)
        npan_total = 0
        for j in range(n_rows):
            A = float(xmax[j])
            if not A > 0:
                apan_ptr[j + 1] = npan_total
                continue
            e = np.concatenate([[0.0, A], A * 0.5 ** np.arange(1, AGE_GEO + 1), CR[j],
                                [min(float(zero[j]), A)]])
            e = np.unique(e[(e >= 0) & (e <= A)])
            e = e[np.concatenate([[True], np.diff(e) > 1e-13 * A])]
            e[-1] = A
            if AGE_SPLIT > 1:
                frac = np.arange(1, AGE_SPLIT) / AGE_SPLIT
                mids = (e[:-1, None] + np.diff(e)[:, None] * frac[None, :]).ravel()
                e = np.sort(np.concatenate([e, mids]))
            h = np.diff(e)
            ages.append((e[:-1, None] + h[:, None] * tn[None, :]).ravel())
            aw.append((h[:, None] * tw[None, :]).ravel())
            # the classes of the row: the panel holding each size
            x = Xc[j]
            q = np.clip(np.searchsorted(e, x, side="right") - 1, 0, h.size - 1)
            XI[j] = np.clip((x - e[q]) / h[q], 0.0, 1.0)
            HQ[j] = h[q]
            cpan[j] = npan_total + q
            z = float(zero[j])
            if z < A:  # the age where the rank reaches level 0: R is constant beyond it
                q0 = min(int(np.searchsorted(e, z, side="right")) - 1, h.size - 1)
                Z0[j] = npan_total + q0
                XI0[j] = min(max((z - e[q0]) / h[q0], 0.0), 1.0)
                H0[j] = h[q0]
            npan_total += h.size
            apan_ptr[j + 1] = npan_total
        ccoef = HQ.reshape(-1)[:, None] * _cum_basis(XI.reshape(-1))
        #: per row, the panel and coefficients of the age where the rank reaches level 0 (-1:
        #: not below x_max), and the classes at or beyond it (their R is R there: "flat")
        self.zpan = Z0
        self.zcoef = np.ascontiguousarray(H0[:, None] * _cum_basis(XI0))
        self.flat = (Xc >= np.where(Z0 >= 0, zero, np.inf)[:, None]) & live
        self.age = np.concatenate(ages) if ages else np.zeros(0)
        self.full = np.concatenate(aw) if aw else np.zeros(0)
        self.pan_ptr = apan_ptr
        self.cpan = np.ascontiguousarray(cpan.reshape(-1))
        self.ccoef = np.ascontiguousarray(ccoef)
        # the levels of the age nodes on the grid
        row_of = np.repeat(np.arange(n_rows), np.diff(apan_ptr) * O)
        with np.errstate(all="ignore"):
            rk = np.asarray(fn(ys[row_of], self.age), float)
        lev = psi(rk)
        self.levels = lev
        zero_lev = lev <= grid.t[0] if grid.t[0] > 0 else lev <= 0
        # the head panel [0, lo] of the grid holds t[0] .. t[L - 1] < lo: below lo, level 0
        lo = float(ge[0]) if ge.size else 0.0
        zero_lev = zero_lev | (lev <= lo)
        p, basis = grid._interp(np.maximum(lev, lo))
        basis = np.where(zero_lev[:, None], 0.0, basis)
        self.gstart = np.ascontiguousarray(grid.starts[p], np.int64)
        self.gbasis = np.ascontiguousarray(basis, float)
        self.zero = zero_lev
        self.L = grid.L
        self.nt = grid.t.size

    def at_nodes(self, f: np.ndarray, zero_value=0.0) -> np.ndarray:
        """Grid values ``f`` (last axis) at the age nodes' levels (``zero_value`` at level 0)."""
        idx = np.minimum(self.gstart[:, None] + np.arange(self.L)[None, :], self.nt - 1)
        out = np.einsum("...ql,ql->...q", f[..., idx], self.gbasis)
        return np.where(self.zero, zero_value, out)

    def cum(self, g: np.ndarray) -> np.ndarray:
        r""":math:`\int_0^{x_{jk}} g\,da` at every class (flattened ``(rows * sizes,)``) from the
        values ``g`` at the age nodes (real, 1-D)."""
        O = AGE_ORDER
        per = (g * self.full).reshape(-1, O).sum(1)
        pc = np.zeros(per.size)
        for j in range(self.pan_ptr.size - 1):
            a, b = self.pan_ptr[j], self.pan_ptr[j + 1]
            if b > a:
                pc[a:b] = np.concatenate([[0.0], np.cumsum(per[a:b])[:-1]])
        if not per.size:
            return np.zeros(self.cpan.size)
        gq = g.reshape(-1, O)[self.cpan]
        return pc[self.cpan] + np.sum(self.ccoef * gq, axis=1)


def grid_edges(grid) -> np.ndarray:
    """The panel edges (values of the threshold) of a log grid: the first node's panel start
    and every panel's end, from the interpolation's panels (the nodes of panel ``k`` lie
    between two consecutive edges)."""
    L = grid.L
    t = grid.t
    npan = t.size // L
    lo_nodes = t[L::L] if npan > 1 else t[:0]
    hi_nodes = t[2 * L - 1::L] if npan > 1 else t[:0]
    # Gauss-Legendre nodes of [0, 1] at xi_0 and xi_{L-1}: recover the panel's log edges
    nodes, _ = _gl(L)
    a, b = np.log(lo_nodes), np.log(hi_nodes)
    h = (b - a) / (nodes[-1] - nodes[0])
    e0 = a - nodes[0] * h
    e1 = e0 + h
    return np.exp(np.unique(np.concatenate([e0, e1]).round(13)))


@numba.njit(cache=True, nogil=True)
def at_age_nodes(et, i, gstart, gbasis, ga):  # pragma: no cover - compiled
    """``ga[m]``: the grid values ``et[i]`` at the age nodes' levels (:class:`AgeRule`'s
    interpolation rows ``gstart``, ``gbasis``)."""
    L = gbasis.shape[1]
    for m in range(gstart.size):
        acc = 0.0 + 0.0j
        b0 = gstart[m]
        for ll in range(L):
            c = gbasis[m, ll]
            if c != 0.0:
                acc += c * et[i, b0 + ll]
        ga[m] = acc


@numba.njit(cache=True, nogil=True)
def _residence_kernel(et, gstart, gbasis, full, pan_ptr, cpan, ccoef, X, W, s, unshift,
                      zpan, zcoef, out, R0):  # pragma: no cover - compiled
    r"""``out[i, j] = sum_k W[j, k] exp(-R_{jk} - s x_{jk} [unshift])`` with
    :math:`R_{jk} = \int_0^{x_{jk}} (\eta_{<s(y_j, a)} - s)\,da` (the age rules of
    :class:`AgeRule`; ``et``: :math:`\eta_{<t} - s` on the grid), and ``R0[i, j]`` the same
    integral up to the age where the rank reaches level 0 (row ``zpan[j] >= 0``)."""
    n_age = gstart.size
    O = ccoef.shape[1]
    n_rows = pan_ptr.size - 1
    K = X.shape[1]
    ga = np.empty(n_age, np.complex128)
    pc = np.empty(max(n_age // O, 1), np.complex128)
    for i in range(et.shape[0]):
        si = s[i]
        at_age_nodes(et, i, gstart, gbasis, ga)
        for j in range(n_rows):
            acc = 0.0 + 0.0j
            for q in range(pan_ptr[j], pan_ptr[j + 1]):
                pc[q] = acc
                for ll in range(O):
                    acc += full[q * O + ll] * ga[q * O + ll]
        for j in range(n_rows):
            q = zpan[j]
            if q >= 0:
                R = pc[q]
                for ll in range(O):
                    R += zcoef[j, ll] * ga[q * O + ll]
                R0[i, j] = R
            else:
                R0[i, j] = 0.0
            tot = 0.0 + 0.0j
            for k in range(K):
                w = W[j, k]
                if w == 0.0:
                    continue
                c = j * K + k
                q = cpan[c]
                R = pc[q]
                for ll in range(O):
                    R += ccoef[c, ll] * ga[q * O + ll]
                e = -R
                if unshift:
                    e -= si * X[j, k]
                if e.real > -700.0:
                    tot += w * np.exp(e)
            out[i, j] = tot


# ---- the transform -------------------------------------------------------------------------------------
class PredictionRankTransform(PredictionTransform):
    r"""LST and the first two moments of :math:`T` (or :math:`W`) of a prediction rank that
    never increases with age, on a continuous joint law :math:`Y = XZ` (the module docstring).

    Parameters
    ----------
    model : qtheory.MG1
    policy : qtheory.Rank
        ``descriptor="prediction"``, ``monotone="decreasing"``.
    rule : FactorJointRule
    psi : FreshInverse
        :math:`\varphi^{-1}` on the joint law's range of predictions (:func:`_inverse`).
    x, y : float or None
        A class (both given) or the unconditional law (both ``None``).
    waiting : bool
        The waiting time :math:`W` (time to first service) instead of :math:`T`.
    """

    #: moments beyond the second are not derived for this rank (no power series of the age rule)
    raw_moments = None

    def __init__(self, model, policy, rule, psi: FreshInverse, x=None, y=None, waiting: bool = False):
        self.lam = float(model.arrival_rate)
        self.kind = "remaining"
        self.fn = policy.fn
        self.psi = psi
        self._setup(rule, x, y, waiting)

    def _setup_key(self) -> tuple:
        return ("prediction_rank", id(self.fn), id(self.psi))

    def _classes(self, rule):
        r"""``(y, X, W)``: the prediction panels of the route, each row of sizes split where
        the rank reaches level 0 (the residence kinks), at :math:`x = y` and at the factor's
        kinks."""
        y, dy = panels(rule.yedges)
        y = np.exp(y)
        dy = dy * y
        zero = first_age(self.fn, y, np.full(y.size, self.psi.floor))
        zero = np.where(np.isfinite(zero), zero, np.nan)
        cuts = np.concatenate([zero[:, None], y[:, None], rule._kink_cuts(y)], axis=1)
        X, W = rule._split(cuts, r=rule.rc)
        W = W * rule.f.pdf(y[:, None] / X) / X * dy[:, None]
        return y, X, drop_tiny(X, W, rule.r.size)

    def _tgrid(self, rule):
        r"""The route's threshold grid; for a class its panels halved (the residence reads
        :math:`\eta_{<v}` at the ages' levels through the grid's interpolant, where a class of
        PSPJF's or SPRPT's own transform solves Kendall's equation at :math:`y` itself or
        integrates the interpolant: PSPJF's rank :math:`y^2` with log-normal(0.5) predictions,
        class (0.4, 1.1): 5e-10 from PSPJF's transform with the route's panels)."""
        g = super()._tgrid(rule)
        if not self.conditional:
            return g
        e = np.log(grid_edges(g))
        e = np.sort(np.concatenate([e, (e[:-1] + e[1:]) / 2.0]))
        return log_tgrid(e, math.exp(e[0]))

    def _residence_start(self) -> np.ndarray:
        return np.zeros_like(self.Xc)

    def _kinked_class(self, rule) -> bool:
        r"""A class on a factor law with kinks: Kendall's rows (at :math:`y` and at the age
        nodes' levels) and the old work's on the size rule of PSPJF's and SPRPT's classes there
        (:func:`~qtheory.engine.response_distribution_prediction._fine_rows`), so that the rank
        :math:`y^2` is PSPJF's class law to rounding."""
        return self.conditional and bool(rule.kinks.size)

    def _flat_nodes(self):
        return None

    def _old_piece(self, rule, rows):
        # cached on the rule (load-free; the laws of T and W at one threshold grid share it)
        rows = np.asarray(rows, float)
        cache = rule.__dict__.setdefault("_qt_rank_pieces", {})
        key = (id(self.fn), id(self.psi), rows.tobytes())
        hit = cache.get(key)
        if hit is None or hit[0] is not self.fn:
            while len(cache) >= 2:
                del cache[next(iter(cache))]
            hit = (self.fn, old_piece(rule, self.fn, self.psi, rows))
            cache[key] = hit
        return hit[1]

    def _build_tables(self, rule, x, y, waiting: bool) -> None:
        super()._build_tables(rule, x, y, waiting)
        self._fn_ref = self.fn  # held by the cache: the key's id stays this function's
        self._psi_ref = self.psi
        self.ages = None if waiting else AgeRule(self.fn, self.psi, self.grid, self.ys, self.Xc, self.Wc)
        #: a class on a factor law with kinks: Kendall's equation solved at the age nodes' levels
        #: themselves (eta_{<v}(s) oscillates in v like e^{-s v / k} there: the grid's
        #: interpolant was 5e-6 off at s = 2 + 150i for PSPJF's rank on uniform predictions)
        self._own_levels = None
        if self.ages is not None and self.conditional and rule.kinks.size:
            ag = self.ages
            nz = np.flatnonzero(~ag.zero)
            order = nz[np.argsort(ag.levels[nz], kind="stable")]
            Xl, Wl = _fine_rows(rule, ag.levels[order])
            gstart = np.zeros(ag.gstart.size, np.int64)
            gbasis = np.zeros(ag.gbasis.shape)
            gstart[order] = np.arange(order.size)
            gbasis[order, 0] = 1.0
            self._own_levels = (np.ascontiguousarray(Xl, float), np.ascontiguousarray(Wl, float),
                                gstart, gbasis)
        #: unconditional: the classes beyond the age where the rank reaches level 0 (about
        #: 30% of the nodes for y - a/2 on Exp/Exp) contribute W e^{-R(b_y(0))} e^{-s x}: the
        #: exponential once per distinct size (SharedNodes), as SPRPT's flat nodes
        self._rank_flat = None
        if self.ages is not None and not self.conditional and self.ages.flat.any():
            from .response_distribution_prediction import SharedNodes

            fl = self.ages.flat
            self._rank_flat = (np.ascontiguousarray(np.where(fl, 0.0, self.Wc)),
                               SharedNodes(self.Xc, np.where(fl, self.Wc, 0.0), cut=700.0))

    # -- moments ------------------------------------------------------------------------------------------
    def _residence_moments(self, rn, n2):
        r"""Mean :math:`\int_0^x da/(1 - \lambda N(s(y, a)))` and variance
        :math:`\int_0^x \lambda N_2/(1 - \lambda N)^3\,da` per class."""
        f1, f2 = self._residence_integrands()
        ag = self.ages
        m1 = ag.cum(ag.at_nodes(f1, 1.0)).reshape(self.Xc.shape)
        m2 = ag.cum(ag.at_nodes(f2, 0.0)).reshape(self.Xc.shape)
        return m1, m2

    def moments(self) -> tuple[float, float]:
        r"""(E, E[.^2]) (of ``T - x`` for a class), mixed over the classes; ``inf`` where the
        piece :math:`X^{old}_1` or the size law has no second (third) moment, as SPRPT's."""
        size = self.rule.r.size
        if math.isinf(size.moment(2)):
            return math.inf, math.inf
        if math.isinf(size.moment(3)):
            return self._moments_finite()[0], math.inf
        return self._moments_finite()

    def atom(self) -> float:
        r""":math:`P(W = 0) = 1 - \rho_0 - \rho_1` or :math:`P(T = x)` for a class:
        :math:`(1 - \rho_0 - \rho_1)\exp(-\lambda\int_0^x P(Y < s(y, a))\,da)`."""
        lam, (o1, _, _), (p1, _, _), _, _ = self._pieces()
        p0 = 1.0 - lam * (o1 + p1)
        if self.waiting:
            return float(np.sum(p0 * self.Wc.sum(1)))
        pl = self.Wt.sum(1)
        ag = self.ages
        integral = float(ag.cum(ag.at_nodes(pl, 0.0))[0])
        return float(p0[0] * math.exp(-lam * integral))

    def class_series(self, n: int):
        raise NotImplementedError("moments beyond the second of a prediction rank's law are not derived")

    # -- the transform -------------------------------------------------------------------------------------
    def _lst_block(self, s: np.ndarray) -> np.ndarray:
        V, _, et = self._delay(s)
        if self.waiting:
            return V @ self.Wc.sum(1)
        ag = self.ages
        gstart, gbasis = ag.gstart, ag.gbasis
        if self._own_levels is not None:
            from .response_distribution import busy_eta

            Xl, Wl, gstart, gbasis = self._own_levels
            et = busy_eta(s, self.lam, Xl, Wl) if Xl.shape[0] else np.zeros((s.size, 1), complex)
        g = np.ascontiguousarray(et - s[:, None])
        out = np.empty((s.size, self.ys.size), complex)
        R0 = np.empty((s.size, self.ys.size), complex)
        W = self.Wc if self._rank_flat is None else self._rank_flat[0]
        _residence_kernel(g, gstart, gbasis, ag.full, ag.pan_ptr, ag.cpan, ag.ccoef,
                          np.ascontiguousarray(self.Xc, float), np.ascontiguousarray(W, float),
                          np.ascontiguousarray(s), not self.shifted, ag.zpan, ag.zcoef, out, R0)
        if self._rank_flat is not None:
            with np.errstate(under="ignore"):
                out += np.exp(-R0) * self._rank_flat[1].exp_sums(s)
        return np.sum(V * out, axis=1)


# ---- entry points ---------------------------------------------------------------------------------------

def continuous_factor_rank(model, policy, monotone: str):
    """The joint law of ``model`` where ``policy`` is a :class:`~qtheory.Rank` on predictions
    declared ``monotone`` (``"decreasing"`` or ``"increasing"`` in age) on a continuous size law
    without atoms, breakpoints or support ends besides 0 and infinity, with noisy multiplicative
    predictions (a :class:`~qtheory.laws.factor_joint.FactorJoint`); else ``None``. The common
    part of the falling and rising routes' ``supported``."""
    from ..laws.joint import FactorJoint
    from ..policies.rank import Rank

    if not isinstance(policy, Rank) or policy.descriptor != "prediction" or model.prediction is None:
        return None
    if getattr(policy, "monotone", None) != monotone:
        return None
    size = model.size
    if size.is_discrete or np.size(size.atom_values) or model.prediction.is_perfect:
        return None
    if np.size(size.breakpoints) or float(size.support[0]) > 0 or math.isfinite(float(size.support[1])):
        return None
    joint = model.prediction.joint(size)
    return joint if isinstance(joint, FactorJoint) else None


def supported(model, policy) -> bool:
    """A :class:`~qtheory.Rank` on predictions declared ``monotone="decreasing"`` whose fresh
    rank increases strictly with the prediction (as :func:`qtheory.engine.soap_prediction_rank.supported`),
    on a continuous size law without breakpoints or support ends besides 0 and infinity, with a
    multiplicative prediction law (exponential, log-normal, uniform, bounded-multiplicative).
    On a factor with kinks, the ranks whose :math:`y/k - b_y(v)` has an interior extremum in
    :math:`y` (:func:`_jumps_monotone` false: :math:`y/(1 + a)^2`, :math:`y e^{-a}`) have their
    class laws only (:func:`_extrema`); :func:`build` declines their unconditional law."""
    if continuous_factor_rank(model, policy, "decreasing") is None:
        return False
    from . import response_distribution_prediction as rdp

    rule = rdp.joint_rule(model, conditional=False)
    psi = _inverse(rule, policy)
    return bool(psi.ok)


def _jumps_monotone(rule: FactorJointRule, fn, psi: FreshInverse) -> bool:
    r"""On a factor law with kinks: whether :math:`\Phi_k(y) = y/k - b_y(v)` is monotone in
    :math:`y > v` (where finite) for every kink :math:`k`, sampled at :data:`MONO_LEVELS`
    thresholds over the joint law's predictions and :data:`MONO_SAMPLES` predictions above
    each. Where it has an interior extremum :math:`p^*` (:math:`y e^{-a}`, :math:`y^2 - a`), the
    piece's density has a square-root edge at :math:`p = p^*` and two jumps in :math:`y` merge
    there: :func:`old_piece` makes :math:`y^*` a prediction panel edge and grades its rule in
    :math:`p` at :math:`p^*` (:func:`_extrema`; without: :math:`y e^{-a}` on uniform(0.5)
    predictions a class mean 2.2e-5 off, 4e-11 with), and :func:`build` declines the
    unconditional law of those ranks (not checked: the old piece on the outer route's grid
    took over 7 GB for :math:`y/(1 + a)^2`). Ranks whose
    :math:`b_y(v)` is linear in :math:`y` (SPRPT's :math:`c(y - a)`, :math:`y - a/2`) or infinite
    (PSPJF's :math:`y^2`) pass. Cached on the rule per rank function."""
    cache = rule.__dict__.setdefault("_qt_rank_monotone", {})
    hit = cache.get(id(fn))
    if hit is not None and hit[0] is fn:
        return hit[1]
    lo, hi = rule.lo_y, math.exp(rule.yedges[-1])
    v = np.geomspace(max(lo, psi.y[0]), hi, MONO_LEVELS)
    y = v[:, None] * np.geomspace(1.0, 2.0 * hi / v, MONO_SAMPLES).T
    target = psi.fresh(np.maximum(v, psi.y[0]))
    b = reach_ages(fn, y, np.broadcast_to(target[:, None], y.shape), 2.0 * FactorJointRule.top(rule.r))
    ok = True
    for k in rule.kinks:
        with np.errstate(invalid="ignore"):
            phi = y / k - b
            scale = np.abs(y / k) + np.abs(b)
        for row, sc in zip(phi, scale, strict=True):
            fin = np.isfinite(row)
            f = row[fin]
            if f.size < 3:
                continue
            d = np.diff(f)
            # a flat phi (y - a/2 at k = 1/2: 2v) is monotone: rounding of its two terms
            tol = 1e-9 * float(np.max(sc[fin]))
            if np.any(d > tol) and np.any(d < -tol):
                ok = False
                break
        if not ok:
            break
    cache[id(fn)] = (fn, ok)
    return ok


def flat_thresholds(rule: FactorJointRule, fn, psi: FreshInverse) -> np.ndarray:
    r"""On a factor law with kinks: the thresholds :math:`v^*` where
    :math:`\Phi_k(y) = y/k - b_y(v)` (monotone in :math:`y`, :func:`_jumps_monotone`) turns
    from rising to falling in :math:`y` for a kink :math:`k` of :math:`f_Z`. At :math:`v^*` it
    is flat (the sizes of the line :math:`z = k` all leave the same remainder), and as a
    function of the threshold the piece's law is not smooth there (its density in :math:`p`
    jumps at :math:`p = v^*/k` at :math:`v = v^*` only). Near it :func:`old_piece` cuts its
    rule in :math:`p` (:func:`_flat_cuts`): :math:`y/(1 + a)` (:math:`b_y(v) = y/v - 1`,
    :math:`v^* = k`) on uniform(0.5) predictions, Exp(1) sizes at load 0.8: a class's
    :math:`E[W]` at :math:`y = 1.501` was 7.4e-5 off without the cuts (these ranks were
    declined), 1.3e-14 with. Signs of :math:`\Phi_k(4v) - \Phi_k(1.0625 v)` on
    :data:`FLAT_LEVELS` thresholds (a difference within 1e-9 of its terms counts as flat:
    :math:`y - a/2` at :math:`k = 1/2` is flat at every :math:`v`), changes refined by
    :data:`FLAT_BISECT` bisections in :math:`\log v`. Empty on factors without kinks; cached on
    the rule per rank function."""
    if not rule.kinks.size:
        return np.zeros(0)
    cache = rule.__dict__.setdefault("_qt_rank_flat", {})
    hit = cache.get(id(fn))
    if hit is not None and hit[0] is fn:
        return hit[1]
    xtop = 2.0 * FactorJointRule.top(rule.r)
    lo, hi = max(rule.lo_y, psi.y[0]), math.exp(rule.yedges[-1])

    def direction(u):
        v = np.exp(u)
        target = psi.fresh(v)
        ya, yb = 1.0625 * v, 4.0 * v
        ba = reach_ages(fn, ya, target, xtop)
        bb = reach_ages(fn, yb, target, xtop)
        out = []
        for k in rule.kinks:
            with np.errstate(invalid="ignore"):
                d = (yb / k - bb) - (ya / k - ba)
                scale = yb / k + np.abs(bb) + np.abs(ba)
            sg = np.where(np.abs(d) <= 1e-9 * scale, 0, np.sign(d))
            out.append(np.where(np.isfinite(d), sg, 0).astype(int))
        return np.array(out)

    u = np.linspace(math.log(lo), math.log(hi), FLAT_LEVELS)
    sg = direction(u)
    roots = []
    for i in range(rule.kinks.size):
        nz = np.flatnonzero(sg[i] != 0)
        for a, b in zip(nz[:-1], nz[1:], strict=True):
            if sg[i, a] == sg[i, b]:
                continue
            ua, ub = u[a], u[b]
            for _ in range(FLAT_BISECT):
                um = 0.5 * (ua + ub)
                dm = direction(np.array([um]))[i, 0]
                if dm == sg[i, a]:
                    ua = um
                elif dm == sg[i, b]:
                    ub = um
                else:
                    break
            roots.append(math.exp(0.5 * (ua + ub)))
    out = np.unique(np.asarray(roots, float))
    cache[id(fn)] = (fn, out)
    return out


def _inverse(rule: FactorJointRule, policy, y=None) -> FreshInverse:
    r""":math:`\varphi^{-1}` on the joint rule's range of predictions from ``1e-14`` times the
    mean size (the mean engine's lower end: below it a fresh rank such as :math:`e^y` does not
    increase in double precision; the levels below it are level 0, a mass of 1e-14) up to the
    rule's top (``2 y`` for a class above it), cached on the rule per rank function."""
    top = math.exp(rule.yedges[-1])
    lo = max(rule.lo_y, 1e-14 * float(rule.r.size.mean))
    if y is not None and 2.0 * float(y) > top:
        return FreshInverse(policy.fn, lo, 2.0 * float(y))
    cache = rule.__dict__.setdefault("_qt_rank_inverse", {})
    hit = cache.get(id(policy.fn))
    if hit is None or hit[0] is not policy.fn:
        hit = (policy.fn, FreshInverse(policy.fn, lo, top))
        cache[id(policy.fn)] = hit
    return hit[1]


def build(model, pol, x, y, waiting: bool):
    """The distribution object (dispatched from
    :func:`qtheory.engine.response_distribution_generic.build`)."""
    from . import response_distribution_prediction as rdp

    # the piece's threshold grid and the inverse on the unconditional rule's range
    urule = rdp.joint_rule(model, conditional=False)
    psi = _inverse(urule, pol, y)
    if x is None and urule.kinks.size and not _jumps_monotone(urule, pol.fn, _inverse(urule, pol)):
        raise NotImplementedError(
            f"{pol.name} on {model!r}: its y/k - b_y(v) has an interior extremum in y (two jumps of the "
            "old piece's density merge there); its class laws (x=..., y=...) are derived, its "
            "unconditional law is not (not checked); an approximation on a discretised law, slow "
            "(about a minute) and with an estimate that is not a bound: "
            "qtheory.engine.response_distribution_generic.build_discretised(model, policy, waiting=False)")
    rule = rdp.joint_rule(model, conditional=x is not None)
    from . import response_distribution_prediction_outer as rdo

    # the unconditional law on a factor with kinks: the classes mixed over (x, z), e^{-sx}
    # outside (response_distribution_prediction_outer: the prediction-node mixing was 1.7e-4 off)
    cls = rdo.OuterRankTransform if rdo.applies(rule, x, waiting) else PredictionRankTransform
    tr = cls(model, pol, rule, psi, x, y, waiting=waiting)
    return distribution_object(tr, model, pol, x, y, waiting)


def distribution_object(tr, model, pol, x, y, waiting: bool, **unconditional):
    """The distribution object of a prediction rank's transform ``tr`` (this route's and the
    rising route's, :mod:`qtheory.engine.response_distribution_prediction_rank_rising`): the
    waiting time or a class's response time with its atom (shifted by ``x``), or the
    unconditional response time (``unconditional``: further arguments of
    :class:`~qtheory.engine.distribution.ResponseTimeDistribution`)."""
    from .distribution import ResponseTimeDistribution
    from .response_distribution import _euler

    euler = _euler(False)
    label = f"{pol.name} on {model!r}" + ("" if x is None else f", x={float(x):g}, y={float(y):g}")
    if waiting:
        return ResponseTimeDistribution(tr, "waiting time, " + label, tr.atom(), euler=euler)
    if tr.shifted:
        return ResponseTimeDistribution(tr, label, tr.atom(), shift=float(x), euler=euler)
    return ResponseTimeDistribution(tr, label, euler=euler, **unconditional)


__all__ = ["AgeRule", "PredictionRankTransform", "build", "old_piece", "supported"]
