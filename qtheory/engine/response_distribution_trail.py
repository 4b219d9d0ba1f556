r"""Response-time and waiting-time distributions of SPRPT with limited preemption (TRAIL(c)) on
the M/G/1, conditional on a job's size and prediction :math:`(x, y)` or unconditional.

TRAIL's rank (Shahout et al., ICLR 2025) is :math:`r(y, a) = y - a` while the age
:math:`a < c\,y`, then :math:`-\infty` (the job runs to completion); ``c = 0`` is SPJF and
``c = 1`` SPRPT. SOAP's decomposition (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018,
Section 5) with this rank gives the pieces (``docs/response_time_distribution.md``, section 5.4):

* new jobs, while the tagged job's worst future rank is :math:`v = y - a` (:math:`a < \min(x, cy)`):
  :math:`X^{new}[v] = X 1\{Y < v\}` (a new job's rank only falls, so once ahead it stays ahead);
  none after age :math:`cy`;
* old jobs: :math:`X^{old}_0 = X 1\{Y \le y\}` (ahead from age 0) and the sparse piece
  :math:`X^{old}_1 = (X - b_c(Y; y))^+ 1\{Y > y\}`, :math:`b_c(Y; y) = \min(Y - y, cY)`: an old job
  with a larger prediction is ahead once its rank reaches :math:`y` or it becomes non-preemptible;

so that, with Kendall's equation :math:`\eta_{<v}(s) = s + \lambda E[(1 - e^{-\eta_{<v}(s)X});
Y < v]` and the old-job delay :math:`\tilde V_y` of the sparse-vacation M/G/1,

.. math::
    E[e^{-sT}\mid x, y] = \tilde V_y\big(\eta_{<y}(s)\big)\,
        \exp\Big(-s\,(x - cy)^+ - \int_{y - \min(x, cy)}^{y} \eta_{<v}(s)\,dv\Big),\qquad
    \tilde V_y(u) = \frac{(1 - \rho_0 - \rho_1)u + \lambda E[1 - e^{-uX^{old}_1}]}
                         {u - \lambda E[1 - e^{-uX^{old}_0}]},

and :math:`E[e^{-sW}\mid y] = \tilde V_y(\eta_{<y}(s))` (the rank falls with age, so the waiting
time is the time until first service: the time to first token in LLM serving). The means are
the closed form of :func:`qtheory.llm.limited_preemption` (``docs/limited_preemption.md``).

For continuous sizes with a multiplicative factor :math:`Y = XZ`, the sparse piece
:math:`P = X^{old}_1` on :math:`Y > v` has, with :math:`\kappa = v\,c/(1 - c)`, the density
(in :math:`p > 0`)

.. math::
    g_v(p) = E\Big[\frac{f_Z(1 + (v - p)/X)}{X};\ p < X \le p + \kappa\Big]
           + E\Big[\frac{f_Z((1 - p/X)/c)}{c\,X};\ X > p + \kappa\Big]:

the first term is the old jobs that reach rank :math:`v` while preemptible
(:math:`Y \le v/(1-c)`, :math:`P = X - Y + v`), the second those that become non-preemptible
first (:math:`P = X(1 - cZ)`). ``c = 0`` is SPJF's piece :math:`X 1\{Y > v\}`, ``c = 1`` SPRPT's.

Derivation: ``docs/response_time_distribution.md`` (section 5.4).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..laws._quadrature import ORDER, _gl, log_edges, panels
from ..laws.predictions import _ExpFactor
from ._fast_exp import exp_into
from ._joint_rule import FactorJointRule, _tail_extension, drop_tiny, log_tgrid
from .response_distribution import busy_eta
from .response_distribution_prediction import PredictionTransform

#: width in log z of the panels of the factor's law mapped onto the sizes of the second term of
#: g_v(p) (X = p / (1 - c z)): they resolve f_Z where X - p is small against p (small c).
#: Measured on E[1 - e^{-uP}; Y > v] against nested quadrature (Exp(1) sizes, log-normal(0.5)
#: predictions): without them 3e-6 off at c = 0.05, 2e-9 at 0.15, 1e-10 at 0.3; with 0.5 (or
#: 0.25, twice the cost) about 1e-13 at every c; 1.0 gave 5e-12 at c = 0.05
WIDTH_Z = 0.5
#: the sparse piece's panels on [0, lo] on a size law with a lower end lo > 0, on the rules of
#: the laws inverted next to their atom or to lo (class laws, and the unconditional law's split
#: next to lo): (ratio, depth), geometric edges from lo down to depth * lo. The piece's density
#: is smooth there, but its transform E[e^{-uP}] is sampled at :math:`|u|` up to about 120 / t' (t' the
#: distance to the atom): two linear panels were 2e-3 off at u = 20 + 180i (Pareto(2.5) sizes,
#: exponential predictions, v = 0.5), which put SPRPT's class cdf 1e-5 off next to its atom;
#: ratio 1.5: 3e-5 / :math:`|u|`, 1.3: 1e-7 / :math:`|u|`, 1.2: 1e-9 / :math:`|u|` (1160 nodes instead of 400), checked
#: against an mpmath quadrature of the closed inner integral over Y given X at the Euler nodes of
#: t' = 0.1 and 0.01
PIECE_GRADE = (1.2, 1e-5)
#: size nodes per pass of :func:`_first_terms` (memory: a few arrays of this length)
_NODES_BLOCK = 500_000
#: the first term on exponential predictions by :func:`_first_terms_exp` (False: the general rule)
FIRST_EXP = True
#: ... on the size rule's panels cut to at most this width in log x
FIRST_EXP_WIDTH = 0.25
#: ... leaving out the rule's nodes where z > _Z_SKIP (e^{-50}: below 1e-21 of the row's sum)
_Z_SKIP = 50.0
#: entries of the rows' cut arrays per pass of :func:`_first_terms`
_CUTS_BLOCK = 1_000_000


# ---- the sparse piece of an old job ---------------------------------------------------------
def old_piece(rule, v, c: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights of the sparse old piece :math:`P = (X - \min(Y - v, cY))^+` on
    :math:`Y > v`, one row per threshold ``v``: :math:`\sum_k W_{jk} g(P_{jk}) \approx
    E[g(P); Y > v_j, P > 0]` (pieces :math:`P = 0` carry no work and are left out).

    Parameters
    ----------
    rule : DiscreteJointRule or FactorJointRule
        The joint law of :math:`(X, Y)` (:func:`qtheory.engine.response_distribution_prediction.joint_rule`).
    v : array_like
        Thresholds (predictions) :math:`v \ge 0`.
    c : float
        TRAIL's preemptible fraction, ``0 <= c <= 1``.
    """
    v = np.atleast_1d(np.asarray(v, float))
    if rule.discrete:
        b = np.minimum(rule.y[None, :] - v[:, None], c * rule.y[None, :])
        P = np.maximum(rule.x[None, :] - b, 0.0)
        W = np.where((rule.y[None, :] > v[:, None]) & (P > 0), rule.w[None, :], 0.0)
        return np.ascontiguousarray(P), W
    if c == 0.0:
        return rule.gt_x(v)  # never preemptible: the whole job, SPJF's piece
    return _factor_piece(rule, v, c)


def _z_edges(factor) -> np.ndarray:
    """Panel edges (in z) of the factor's law: log panels of :data:`WIDTH_Z` inside its
    1e-6 and 1 - 1e-6 quantiles, growing outside, its kinks as edges."""
    zlo, zhi = factor.log_range()
    bulk = (math.exp(factor.log_range_q(1e-6)), math.exp(factor.log_range_q(1 - 1e-6)))
    kinks = [k for k in factor.kinks if k > 0]
    return np.exp(log_edges(math.exp(zlo), math.exp(zhi), WIDTH_Z, kinks, bulk=bulk))


def _graded_head(rule: FactorJointRule) -> np.ndarray:
    """Panel edges inside (0, lo) graded geometrically towards 0 (:data:`PIECE_GRADE`) where
    ``rule.piece_grade`` is set and the size law has a lower end lo > 0; empty otherwise."""
    r = rule.r
    if PIECE_GRADE is None or not getattr(rule, "piece_grade", False) or not float(r.size.support[0]) > 0:
        return np.empty(0)
    ratio, depth = PIECE_GRADE
    k = np.arange(1, int(math.ceil(math.log(1.0 / depth) / math.log(ratio))) + 1)
    return r.lo * ratio ** -k.astype(float)


def _factor_piece(rule: FactorJointRule, v: np.ndarray, c: float) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`g_v(p)` (module docstring) on a rule in :math:`p`: linear panels on
    :math:`[0, lo]` (graded towards 0 where ``rule.piece_grade`` is set, :data:`PIECE_GRADE`)
    and the size rule's log panels, split where the density kinks (:math:`p = v`,
    :math:`v/k` and :math:`v(1 - ck)/((1-c)k)` for the factor's kinks :math:`k`, and
    :math:`b - \kappa`, :math:`v - b(k-1)`, :math:`b(1 - ck)` for the size law's breakpoints and
    support ends :math:`b`, where a cut in :math:`x` meets them); for each :math:`p` the sizes
    are the size rule split at :math:`p`, :math:`p + \kappa`, the kinks of
    :math:`f_Z` in :math:`x` and the factor's panels mapped by :math:`x = p/(1 - cz)`
    (:func:`_piece_density`)."""
    r = rule.r
    kinks = rule.kinks
    one = c >= 1.0
    kap = np.full(v.size, np.inf) if one else v * c / (1.0 - c)
    # the p rule
    pc = [v[:, None]]
    if kinks.size:
        pc.append(v[:, None] / kinks[None, :])
        if not one:
            ck = c * kinks
            with np.errstate(divide="ignore", invalid="ignore"):
                pk = v[:, None] * (1.0 - ck[None, :]) / ((1.0 - c) * kinks[None, :])
            pc.append(np.where(ck[None, :] < 1.0, pk, np.nan))
    # the size density's breakpoints and the ends of its support (a jump of f_X)
    bps = np.concatenate([np.asarray(r.size.breakpoints, float), np.asarray(r.size.support, float)])
    bps = np.unique(bps[np.isfinite(bps) & (bps > 0)])
    if bps.size:
        # a cut in x crossing a breakpoint b of the size law: the upper end p + kappa of the
        # first term, its kink cuts (v - p)/(k - 1) = b and the second term's p/(1 - ck) = b
        if not one:
            pc.append(bps[None, :] - kap[:, None])
        for k in kinks:
            if k != 1.0:
                pc.append(v[:, None] - bps[None, :] * (k - 1.0))
            if not one and c * k < 1.0:
                pc.append(np.broadcast_to(bps[None, :] * (1.0 - c * k), (v.size, bps.size)))
    pcuts = np.concatenate(pc, axis=1)
    pcuts = np.where(pcuts > 0, pcuts, np.nan)
    P, Wd = rule._split(pcuts, density=False)
    # [0, lo]: linear panels split at the cuts inside it (a size law whose support starts at
    # lo > 0 puts kinks there: Uniform(0.5, 1.5) sizes were 8e-5 off on E[P^2] with one panel)
    inner = np.where((pcuts > 0) & (pcuts < r.lo), pcuts, r.lo)
    graded = _graded_head(rule)
    he = np.sort(np.concatenate([np.zeros((v.size, 1)), inner, np.broadcast_to(graded, (v.size, graded.size)),
                                 np.full((v.size, 1), r.lo)], axis=1), axis=1)
    hp, hw = panels(he)
    P = np.concatenate([hp, P], axis=1)
    Wd = np.concatenate([hw, Wd], axis=1)
    return P, Wd * _piece_density(rule, v, kap, c, P)


def _piece_density(rule: FactorJointRule, v: np.ndarray, kap: np.ndarray, c: float,
                   P: np.ndarray) -> np.ndarray:
    r""":math:`g_{v_i}(P_{ij})` (module docstring), each term on its own rule in :math:`x`.

    * First term, :math:`p < x \le p + \kappa` (all :math:`x > p` where ``c = 1``): the size
      rule split at :math:`p`, :math:`p + \kappa`, the kinks :math:`x = (v - p)/(k - 1)` of
      :math:`f_Z(1 + (v - p)/x)` and the factor's panels (:func:`_z_edges`, ``c < 1``) mapped
      by the same map :math:`x = (v - p)/(z - 1)`, row by row (:func:`_first_terms`).
    * Second term, :math:`x > p + \kappa`: the size rule split at :math:`p`, the kinks
      :math:`x = p/(1 - ck)` of :math:`f_Z((1 - p/x)/c)` and the factor's panels mapped by
      :math:`x = p/(1 - cz)`; these cuts do not depend on :math:`v`, so the rule's panel sums
      above :math:`p` are computed once per distinct :math:`p` (the size rule's nodes are
      shared by most rows), and a row adds the sums of the panels above :math:`p + \kappa` to
      the part of the panel holding it (:func:`_second_terms`).

    The former rule split both terms at every cut, the second term's :math:`p/(1 - cz)`
    (which crowd next to :math:`p`) inside the first term too, and evaluated every row in
    full: 2.8-3.1 s against 0.78-0.89 s now (CPU, the same run; the 280 x 630 pieces of TRAIL(0.8)'s unconditional
    law, Exp(1) sizes, exponential predictions). Accuracy: the two terms against adaptive
    quadrature of their integrals within 2e-15 relative (9e-14 at p = 90, 6e-8 at p = 300
    where :math:`g_v` is 1e-12 of its value at p = 0.01; Weibull(0.5) sizes, log-normal(2)
    predictions, c = 0.95, where the first term without cuts of its own was 1.6e-7 off at
    v = 1e-3, p = 0.3); the weights :math:`g_v(p)\,dp` within 1e-15 of their row's sum of the
    former rule's (c = 0.05, 0.5, 0.8, 1; Exp(1), Weibull(0.5), Pareto(2.5) and
    Uniform(0.5, 1.5) sizes), but for the rows where the former was not converged
    (log-normal(0.5) sizes and predictions, v = 196: 2e-10 of the row sum off the rule with
    the factor's panels four times finer in both terms, the new rule 6e-17). The
    size rule's head and tail nodes count in the term of their :math:`x`."""
    r = rule.r
    f = rule.f
    one = c >= 1.0
    nodes, wgl = _gl(ORDER)
    ext, (tx, tw) = _tail_extension(r)
    edges = np.concatenate([r.edges, ext])
    ub, wub = panels(edges)
    xb = np.exp(ub)
    wb = (wub * xb * r.size.pdf(xb)).reshape(-1, ORDER)
    xb = xb.reshape(-1, ORDER)
    llo, lhi = edges[0], edges[-1]
    xlo, xhi = math.exp(llo), math.exp(lhi)
    n, m = P.shape
    vr = np.repeat(v, m)
    kr = np.repeat(kap, m)
    pf = np.ascontiguousarray(P.reshape(-1))

    def clog(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(np.clip(np.where(np.isnan(x), xlo, x), xlo, xhi))

    lp = clog(pf)
    lk = np.full(pf.size, lhi) if one else clog(pf + kr)
    base = (edges, xb, wb, nodes, wgl)
    if FIRST_EXP and not one and isinstance(f, _ExpFactor) and not rule.kinks.size:
        G = _first_terms_exp(base, pf, vr, lp, lk, r.size)
    else:
        G = _first_terms(rule, base, pf, vr, lp, lk, one)
    if not one:
        G += _second_terms(rule, base, pf, kr, lp, lk, c)
    # the head and tail nodes, in the term of their x
    hx, hw = r.head
    for xe, we in ((hx, hw), (tx, tw)):
        if we != 0.0:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                first = xe <= pf + kr
                z = np.where(first, 1.0 + (vr - pf) / xe, (1.0 - pf / xe) / c if not one else 0.0)
                h = np.nan_to_num(np.asarray(f.pdf(z), float) * np.where(first, 1.0, 1.0 / c if not one else 0.0) / xe)
            G += np.where(xe > pf, we * h, 0.0)
    return G.reshape(n, m)


def _nodes(base, cuts: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray, size, counts=None):
    r"""The size rule's panels split at the sorted rows ``cuts`` (in :math:`\log x`) between
    ``lo_b`` and ``hi_b`` (row by row): nodes, weights (:math:`f_X` included) and row offsets,
    and each panel's node offset and upper edge. An uncut panel keeps the rule's nodes and
    weights (as :meth:`~qtheory.engine._joint_rule.FactorJointRule._split`). ``counts``: the
    offsets ``(start, poff, coff)`` of :func:`_walk_count` when known."""
    edges, xb, wb, t, w = base
    cuts = np.ascontiguousarray(cuts, float)
    lo_b = np.ascontiguousarray(lo_b, float)
    hi_b = np.ascontiguousarray(hi_b, float)
    start, poff, coff = _walk_count(edges, cuts, lo_b, hi_b, t.size) if counts is None else counts
    X, W, U, cidx, pend, pnode = _walk_fill(edges, xb, wb, cuts, lo_b, hi_b, t, w, start, poff, coff)
    if U.size:
        xc = np.exp(U)
        X[cidx] = xc
        W[cidx] = W[cidx] * xc * size.pdf(xc)
    return X, W, start, poff, pend, pnode


def _first_terms(rule, base, p, v, lp, lk, one: bool) -> np.ndarray:
    r"""The first term of :math:`g_v(p)` on :math:`(p, p + \kappa]` per row (:func:`_piece_density`).

    The rows' cuts are built :data:`_CUTS_BLOCK` at a time, their nodes counted by one compiled
    walk and filled and summed in passes of at most :data:`_NODES_BLOCK` nodes (the former passes
    of a fixed number of rows held 74 thousand nodes on average, 408 of them for TRAIL(0.8)'s
    unconditional law on Exp(1) sizes). Where :math:`v > p` a row starts at
    :math:`x = (v - p)/(z_{hi} - 1)` if that lies above :math:`p` (the cut of the factor's
    last panel edge :math:`z_{hi}`, the upper end of its range): below it
    :math:`z = 1 + (v - p)/x > z_{hi}` carries no mass (:math:`f_Z < 10^{-20}` for exponential
    predictions; a third of the nodes on Exp(1) sizes, half on Weibull(0.5))."""
    f = rule.f
    ze = _z_edges(f) if not one else np.empty(0)
    out = np.empty(p.size)
    edges, o = base[0], base[3].size
    size = rule.r.size
    step = max(1, _CUTS_BLOCK // (len(rule.kinks) + ze.size + 2))
    for a in range(0, p.size, step):
        s = slice(a, a + step)
        pa, va = p[s, None], v[s, None]
        cuts = [lp[s, None], lk[s, None]]
        lo = lp[s]
        with np.errstate(divide="ignore", invalid="ignore"):
            for k in rule.kinks:
                if k != 1.0:
                    cuts.append(np.log((va - pa) / (k - 1.0)))
            if ze.size:
                zc = np.log((va - pa) / (ze[None, :] - 1.0))
                cuts.append(zc)
                if ze[-1] > 1.0:  # (v > p; NaN where v < p)
                    top = zc[:, -1]
                    lo = np.where(top > lo, top, lo)  # the same float as the cut: no panel straddles it
        cut = np.concatenate([np.broadcast_to(q, (pa.shape[0], q.shape[1])) for q in cuts], axis=1)
        cut = np.ascontiguousarray(np.sort(np.where(np.isfinite(cut), cut, -np.inf), axis=1))
        lo = np.ascontiguousarray(lo)
        hi = np.ascontiguousarray(lk[s])
        start, poff, coff = _walk_count(edges, cut, lo, hi, o)
        n = cut.shape[0]
        r0 = 0
        while r0 < n:
            r1 = int(np.searchsorted(start, start[r0] + _NODES_BLOCK, side="right")) - 1
            r1 = min(n, max(r1, r0 + 1))
            sub = slice(r0, r1)
            st, po, co = start[r0:r1 + 1] - start[r0], poff[r0:r1 + 1] - poff[r0], coff[r0:r1 + 1] - coff[r0]
            X, W, U, cidx, _, _ = _walk_fill(edges, base[1], base[2], cut[sub], lo[sub], hi[sub], base[3], base[4],
                                             st, po, co)
            xc = np.exp(U)
            z = _first_z_scatter(X, W, cidx, xc, np.asarray(size.pdf(xc), float),
                                 np.ascontiguousarray(pa[sub, 0]), np.ascontiguousarray(va[sub, 0]), st)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                fz = np.asarray(f.pdf(z), float)
            out[a + r0:a + r1] = _row_sums(X, W, fz, 1.0, st)
            r0 = r1
    return out


def _first_terms_exp(base, p, v, lp, lk, size) -> np.ndarray:
    r""":func:`_first_terms` for exponential predictions (:math:`f_Z(z) = e^{-z}`, no kinks), on
    the size rule cut at :math:`p` and :math:`p + \kappa` only: its panels inside
    :math:`(p, p + \kappa]` keep their nodes, the two holding :math:`p` and :math:`p + \kappa`
    get Gauss-Legendre rules of their parts inside it, and each row is one compiled sum of
    :math:`w\,e^{-z}/x` (:func:`_exp_first_rows`; no walk and no pdf call of the factor).
    :math:`e^{-z}` is smooth in :math:`\log x` across the factor's panels, whose images
    :math:`x = (v - p)/(z - 1)` the general rule also cuts at (they resolve a log-normal
    factor)."""
    e0, _, _, t, w = base
    o = t.size
    # the size rule with its panels wider than FIRST_EXP_WIDTH (its tails) cut in equal parts
    k = np.maximum(np.ceil(np.diff(e0) / FIRST_EXP_WIDTH).astype(np.int64), 1)
    edges = np.concatenate([e0[:1]] + [np.append(e0[i] + (e0[i + 1] - e0[i]) * np.arange(1, k[i]) / k[i], e0[i + 1])
                                       for i in range(e0.size - 1)])
    npan = edges.size - 1
    ub, wub = panels(edges)
    xbf = np.exp(ub)
    wbf = np.ascontiguousarray(wub * xbf * size.pdf(xbf))
    out = np.empty(p.size)
    step = max(1, _NODES_BLOCK // (2 * o))
    for a in range(0, p.size, step):
        s = slice(a, a + step)
        lo, hi = lp[s], lk[s]
        j0 = np.clip(np.searchsorted(edges, lo, side="right") - 1, 0, npan - 1)
        j1 = np.clip(np.searchsorted(edges, hi, side="left") - 1, 0, npan - 1)
        two = j1 > j0
        # the part of the panel holding p, and (where they differ) of the one holding p + kappa
        pe = np.stack([lo, np.where(two, edges[np.minimum(j0 + 1, npan)], hi),
                       np.where(two, edges[j1], hi), hi], axis=1)
        u, wu = panels(pe[:, [0, 1]])
        u2, wu2 = panels(pe[:, [2, 3]])
        U = np.concatenate([u, u2], axis=1)
        Wp = np.concatenate([wu, wu2], axis=1)
        Xp = np.exp(U)
        Wp = Wp * Xp * size.pdf(Xp)
        k0 = np.where(two, (j0 + 1) * o, 0).astype(np.int64)
        k1 = np.where(two, j1 * o, 0).astype(np.int64)
        out[s] = _exp_first_rows(np.ascontiguousarray(Xp), np.ascontiguousarray(Wp), xbf, wbf, k0, k1,
                                 np.ascontiguousarray(p[s]), np.ascontiguousarray(v[s]), o)
    return out


@njit(cache=True, error_model="numpy")
def _exp_first_rows(Xp, Wp, xb, wb, k0, k1, p, v, o):  # pragma: no cover - compiled
    r"""Per row :math:`\sum w\,e^{-z}/x`, :math:`z = 1 + (v - p)/x` (:func:`_term`; :math:`e^{-z}`
    taken as 0 where :math:`z < 0` or NaN), over the first partial panel (``Xp[:, :o]``), the rule's
    nodes ``k0 <= k < k1`` and the second partial panel, in that order (increasing :math:`x`).
    The arguments :math:`-z` of a row's part are written out first and exponentiated in one
    vectorised pass (:func:`~qtheory.engine._fast_exp.exp_into`, within a unit of the C library's
    ``exp``; ``docs/response_time_distribution.md``, section 7.12), then summed in the same order."""
    n = p.size
    out = np.empty(n)
    m = 2 * o
    yp = np.empty(m)
    ep = np.empty(m)
    y = np.empty(xb.size)
    e = np.empty(xb.size)
    for i in range(n):
        d = v[i] - p[i]
        for l in range(m):
            yp[l] = -(1.0 + d / Xp[i, l])
        exp_into(yp, ep, np.int64(0), m)
        acc = 0.0
        for l in range(o):
            acc += _term(Wp[i, l], ep[l] if yp[l] <= 0.0 else 0.0, Xp[i, l], 1.0)
        # the rule's nodes where z > Z_SKIP carry less than e^{-Z_SKIP} of the density: from the
        # first x >= d / (Z_SKIP - 1) on (x increases with k)
        ka = k0[i]
        kb = k1[i]
        if d > 0.0 and ka < kb:
            xs = d / (_Z_SKIP - 1.0)
            lo = ka
            hi = kb
            while lo < hi:
                mid = (lo + hi) // 2
                if xb[mid] < xs:
                    lo = mid + 1
                else:
                    hi = mid
            ka = lo
        if ka < kb:
            for k in range(ka, kb):
                y[k] = -(1.0 + d / xb[k])
            exp_into(y, e, ka, kb)
            for k in range(ka, kb):
                acc += _term(wb[k], e[k] if y[k] <= 0.0 else 0.0, xb[k], 1.0)
        for l in range(o, m):
            acc += _term(Wp[i, l], ep[l] if yp[l] <= 0.0 else 0.0, Xp[i, l], 1.0)
        out[i] = acc
    return out


def _second_terms(rule, base, p, kap, lp, lk, c: float) -> np.ndarray:
    r"""The second term of :math:`g_v(p)` on :math:`x > p + \kappa` per row: the rule of the
    distinct :math:`p` (:func:`_piece_density`), its panel sums above the panel holding
    :math:`p + \kappa` and that panel's part above it."""
    f = rule.f
    t, w = base[3], base[4]
    ze = _z_edges(f)
    zc = np.concatenate([ze[c * ze < 1.0], [k for k in rule.kinks if c * k < 1.0]])
    pu, inv = np.unique(p, return_inverse=True)
    lpu = np.empty(pu.size)
    lpu[inv] = lp
    xlo, xhi = math.exp(base[0][0]), math.exp(base[0][-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        cut = np.log(np.clip(pu[:, None] / (1.0 - c * zc[None, :]), xlo, xhi))
    cut = np.sort(np.concatenate([lpu[:, None], cut], axis=1), axis=1)
    hi = np.full(pu.size, base[0][-1])
    # per row: the upper edge of the panel holding p + kappa and the sums of the panels above
    b = lk.copy()
    rest = np.zeros(p.size)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(pu.size + 1))
    step = max(1, _NODES_BLOCK // ((base[0].size + zc.size + 1) * ORDER))
    for k0 in range(0, pu.size, step):
        k1 = min(pu.size, k0 + step)
        X, W, start, poff, pend, pnode = _nodes(base, cut[k0:k1], lpu[k0:k1], hi[k0:k1], rule.r.size)
        owner = np.repeat(pu[k0:k1], np.diff(start))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            fz = np.asarray(f.pdf((1.0 - owner / X) / c), float)
        above = _panel_suffix(X, W, fz, 1.0 / c, pnode, poff)
        rows = order[bounds[k0]:bounds[k1]]
        if not pend.size:  # every piece of the block above the size rule
            continue
        k = _panel_at(pend, poff, (inv[rows] - k0).astype(np.int64), lk[rows])
        b[rows] = np.where(k >= 0, pend[np.maximum(k, 0)], lk[rows])
        rest[rows] = np.where(k >= 0, above[np.maximum(k, 0)], 0.0)
    # the part above p + kappa of the panel holding it
    rows = max(1, _NODES_BLOCK // ORDER)
    for r0 in range(0, p.size, rows):
        s = slice(r0, r0 + rows)
        a = lk[s]
        h = (b[s] - a)[:, None]
        x = np.exp(a[:, None] + h * t[None, :])
        ww = h * w[None, :] * x * rule.r.size.pdf(x)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g = np.asarray(f.pdf((1.0 - p[s, None] / x) / c), float) / (c * x)
        rest[s] += np.sum(ww * np.nan_to_num(g), axis=1)
    return rest


@njit(cache=True)
def _walk(E, cuts, lo_b, hi_b, emit, xb, wb, t, w, X, W, U, cidx, q, pend, pnode, k, cq):  # pragma: no cover
    """One row: the sorted rule edges ``E`` merged with the row's sorted ``cuts``; each panel
    of positive width inside ``[lo_b, hi_b]`` counted or emitted (``emit``) from node ``q``,
    panel ``k`` and new node ``cq`` on: the rule's own panel ``j`` (``_panel_match``'s test)
    its nodes and weights, another ``h w`` in ``W`` and its Gauss-Legendre nodes in ``U``
    (``log x``; ``cidx``: their places in ``X``). Returns the next ``(q, k, cq)``."""
    nE = E.size
    nc = cuts.size
    o = t.size
    ia = 0
    ic = 0
    a = 0.0
    started = False
    j = 0
    while ia < nE or ic < nc:
        if ic >= nc or (ia < nE and E[ia] <= cuts[ic]):
            b = E[ia]
            ia += 1
        else:
            b = cuts[ic]
            ic += 1
        if not started:
            a = b
            started = True
            continue
        if b > a and a >= lo_b and b <= hi_b:
            while j < nE - 2 and E[j] < a:
                j += 1
            base = E[j] == a and E[j + 1] == b
            if emit:
                pnode[k] = q
                pend[k] = b
                h = b - a
                for l in range(o):
                    if base:
                        X[q + l] = xb[j, l]
                        W[q + l] = wb[j, l]
                    else:
                        U[cq + l] = a + h * t[l]
                        cidx[cq + l] = q + l
                        W[q + l] = h * w[l]
                        X[q + l] = 0.0
            if not base:
                cq += o
            q += o
            k += 1
        a = b
    return q, k, cq


@njit(cache=True)
def _walk_count(E, cuts, lo_b, hi_b, o):  # pragma: no cover - compiled
    """Node and panel offsets of the rows of :func:`_walk_fill`."""
    n = cuts.shape[0]
    start = np.zeros(n + 1, np.int64)
    poff = np.zeros(n + 1, np.int64)
    coff = np.zeros(n + 1, np.int64)
    d2 = np.empty((1, 1))
    d1 = np.empty(0)
    di = np.empty(0, np.int64)
    t = np.empty(o)
    # (typed constants: bare ones compile _walk again for Literal[bool] and Literal[int])
    count_only = np.bool_(False)
    zero = np.int64(0)
    for i in range(n):
        q, k, cq = _walk(E, cuts[i], lo_b[i], hi_b[i], count_only, d2, d2, t, t, d1, d1, d1, di, zero, d1,
                         di, zero, zero)
        start[i + 1] = start[i] + q
        poff[i + 1] = poff[i] + k
        coff[i + 1] = coff[i] + cq
    return start, poff, coff


@njit(cache=True)
def _walk_fill(E, xb, wb, cuts, lo_b, hi_b, t, w, start, poff, coff):  # pragma: no cover - compiled
    """The nodes of every row (:func:`_walk`), the new nodes' ``log x`` and places, and each
    panel's upper edge and first node."""
    n = cuts.shape[0]
    N = start[n]
    X = np.empty(N)
    W = np.empty(N)
    U = np.empty(coff[n])
    cidx = np.empty(coff[n], np.int64)
    pend = np.empty(poff[n])
    pnode = np.empty(poff[n] + 1, np.int64)
    pnode[poff[n]] = N
    emit = np.bool_(True)
    for i in range(n):
        _walk(E, cuts[i], lo_b[i], hi_b[i], emit, xb, wb, t, w, X, W, U, cidx, start[i], pend, pnode, poff[i],
              coff[i])
    return X, W, U, cidx, pend, pnode


@njit(cache=True, error_model="numpy")
def _first_z(X, p, v, start):  # pragma: no cover - compiled
    r""":math:`z = 1 + (v - p)/x` at the nodes of each row."""
    z = np.empty(X.size)
    for i in range(p.size):
        d = v[i] - p[i]
        for q in range(start[i], start[i + 1]):
            z[q] = 1.0 + d / X[q]
    return z


@njit(cache=True, error_model="numpy")
def _first_z_scatter(X, W, cidx, xc, fx, p, v, start):  # pragma: no cover - compiled
    """The new nodes of :func:`_walk_fill` put in place (``x`` and ``w x f_X(x)``, as
    :func:`_nodes`), then :func:`_first_z`."""
    for i in range(cidx.size):
        q = cidx[i]
        X[q] = xc[i]
        W[q] = W[q] * xc[i] * fx[i]
    return _first_z(X, p, v, start)


@njit(cache=True, error_model="numpy")
def _term(W, fz, x, s):  # pragma: no cover - compiled
    """``W f_Z(z) s / x``, a NaN term 0 and an infinite one the largest float (``np.nan_to_num``)."""
    h = fz * (s / x)
    if h != h:
        h = 0.0
    elif h == np.inf:
        h = np.finfo(np.float64).max
    elif h == -np.inf:
        h = -np.finfo(np.float64).max
    return W * h


@njit(cache=True, error_model="numpy")
def _row_sums(X, W, fz, s, start):  # pragma: no cover - compiled
    r""":math:`\sum W f_Z(z)\,s/x` over the nodes of each row (:func:`_term`)."""
    n = start.size - 1
    out = np.zeros(n)
    for i in range(n):
        acc = 0.0
        for q in range(start[i], start[i + 1]):
            acc += _term(W[q], fz[q], X[q], s)
        out[i] = acc
    return out


@njit(cache=True, error_model="numpy")
def _panel_suffix(X, W, fz, s, pnode, poff):  # pragma: no cover - compiled
    r"""Per panel, the sum of the terms (:func:`_term`) of the panels above it in its row."""
    npan = pnode.size - 1
    S = np.zeros(npan)
    for k in range(npan):
        acc = 0.0
        for q in range(pnode[k], pnode[k + 1]):
            acc += _term(W[q], fz[q], X[q], s)
        S[k] = acc
    out = np.zeros(npan)
    for i in range(poff.size - 1):
        acc = 0.0
        for k in range(poff[i + 1] - 1, poff[i] - 1, -1):
            out[k] = acc
            acc += S[k]
    return out


@njit(cache=True)
def _panel_at(pend, poff, row, x):  # pragma: no cover - compiled
    """For each query ``x[i]`` on row ``row[i]``: the first panel of the row whose upper edge
    lies above ``x[i]`` (-1 if none)."""
    out = np.full(x.size, -1, np.int64)
    for i in range(x.size):
        r = row[i]
        lo = poff[r]
        hi = poff[r + 1]
        while lo < hi:
            mid = (lo + hi) // 2
            if pend[mid] > x[i]:
                hi = mid
            else:
                lo = mid + 1
        if lo < poff[r + 1]:
            out[i] = lo
    return out


def _merge(X: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows ``(X, W)`` with equal nodes merged (weights summed) and zero weights dropped,
    padded with zero weights: the same sums, fewer terms."""
    rows = []
    for j in range(X.shape[0]):
        m = W[j] != 0
        u, inv = np.unique(X[j, m], return_inverse=True)
        rows.append((u, np.bincount(inv, weights=W[j, m], minlength=u.size)))
    K = max(1, max(u.size for u, _ in rows))
    Xm = np.ones((X.shape[0], K))
    Wm = np.zeros((X.shape[0], K))
    for j, (u, w) in enumerate(rows):
        Xm[j, :u.size] = u
        Wm[j, :u.size] = w
    return Xm, Wm


# ---- the classes of a continuous joint law --------------------------------------------------------
def _factor_classes(rule: FactorJointRule, c: float):
    r"""``(y, X, W)`` as :meth:`FactorJointRule.classes`, each row split at :math:`x = cy`
    (where TRAIL's residence kinks: the preemptible phase ends) besides :math:`x = y`."""
    y, dy = panels(_kink_edges(rule, c, rule.yedges))
    y = np.exp(y)
    dy = dy * y
    cy = c * y if 0 < c < 1 else np.full(y.size, np.nan)
    # x = y as well: SPRPT's and SPJF's classes are split there, so that c = 0 and c = 1 use the
    # same rows as theirs (a 1e-7 difference at |s| = 20 otherwise: the class rule's resolution)
    cuts = np.concatenate([cy[:, None], y[:, None], rule._kink_cuts(y)], axis=1)
    X, W = rule._split(cuts, r=rule.rc)
    W = W * rule.f.pdf(y[:, None] / X) / X * dy[:, None]
    return y, X, drop_tiny(X, W, rule.r.size)


def _kink_edges(rule: FactorJointRule, c: float, e: np.ndarray) -> np.ndarray:
    r"""The panel edges ``e`` (in :math:`\log v`) of a prediction or threshold grid with TRAIL's
    kinks added: where a breakpoint :math:`b` of the size density (or an end of its support)
    meets the windows of the pieces, :math:`v = bk`, :math:`bk(1-c)`, :math:`b(k-1)`
    (:math:`k > 1`) for the factor's kinks :math:`k`, and :math:`v = b(1-c)/c` (the old piece
    switches from :math:`X - Y + v` to :math:`X(1 - cZ)` at :math:`Z = 1/c`), and for the
    classes :math:`y = bk/(1-c)` (the residence's lower end :math:`y(1-c)` meets a kink of
    :math:`A_<`) and :math:`y = b/c` (the split :math:`x = cy` meets :math:`b`); the pieces are
    interpolated in :math:`\log v` between the edges and the classes summed panel-wise
    (Uniform(0.5, 1.5) sizes, uniform(0.5) predictions, c = 0.3: :math:`E[W]` 9e-7 off
    without them)."""
    size = rule.r.size
    bps = np.concatenate([np.asarray(size.breakpoints, float), np.asarray(size.support, float)])
    bps = np.unique(bps[np.isfinite(bps) & (bps > 0)])
    if not bps.size:
        return e
    ks = list(rule.kinks)
    scales = ks + [k * (1.0 - c) for k in ks] + [k - 1.0 for k in ks if k > 1.0]
    if 0.0 < c < 1.0:
        scales.append((1.0 - c) / c)
    if c < 1.0:  # the residence's lower end y(1 - c) crossing a kink bk of A_<
        scales += [k / (1.0 - c) for k in ks]
    if c > 0.0:  # the classes' split x = cy crossing b
        scales.append(1.0 / c)
    cand = np.array([b * k for b in bps for k in scales if k > 0], float)
    lo, hi = math.exp(e[0]), math.exp(e[-1])
    cand = cand[(cand > lo * (1 + 1e-9)) & (cand < hi * (1 - 1e-9))]
    if not cand.size:
        return e
    e = np.unique(np.concatenate([e, np.log(cand)]))
    return e[np.concatenate([[True], np.diff(e) > 1e-9])]


def _factor_tgrid(rule: FactorJointRule, c: float):
    """The threshold grid of the unconditional law, with :func:`_kink_edges`."""
    e = _kink_edges(rule, c, rule.tedges)
    return log_tgrid(e, math.exp(e[0]))


# ---- the kink of the unconditional law at 2c ----------------------------------------------------
#: relative steps of the one-sided differences of :func:`kink_jumps`: ``f_X'(c^+)``, the means
#: over Z in x (``j-bar'(c^+)``, ``j-bar''(c^+)``) and the one arrival's terms in its size u
_H_PDF = 1e-4
_H_JBAR = 1e-3
_H_U = 1e-3


def _z_rule(split, x: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights (:math:`f_Z` included) of the mean over :math:`Z` of the class jumps at
    the size ``x``: the factor's panels in :math:`\log z`, split at :math:`z = 1/\gamma` (the
    residence's start switches form), where :math:`p_0(y)` kinks (:math:`\gamma y/(1 - \gamma) = b`)
    and where :math:`a(x, xz)` and the inner integrand kink (:math:`y = k b`, :math:`1 + kb/x`,
    :math:`kb/((1 - \gamma)x)`)."""
    f = split.tr.rule.f
    gam = split.gamma
    ks = np.asarray([k for k in split.tr.rule.kinks if k > 0], float)
    bps = np.concatenate([np.asarray(split.size.breakpoints, float), np.asarray(split.size.support, float)])
    bps = bps[np.isfinite(bps) & (bps > 0)]
    zc = [1.0 / gam] + list(ks)
    if gam < 1.0:
        zc += list(bps * (1.0 - gam) / (gam * x))
    if split._yk.size:
        yk = split._yk / x
        zc += list(yk) + list(1.0 + yk) + (list(yk / (1.0 - gam)) if gam < 1.0 else [])
    ze = np.asarray(split._ze, float)
    zc = np.asarray(zc, float)
    zc = zc[(zc > math.exp(ze[0])) & (zc < math.exp(ze[-1]))]
    u, wu = panels(np.unique(np.concatenate([ze, np.log(zc)])))
    z = np.exp(u)
    return z, wu * z * np.asarray(f.pdf(z), float)


def _class_jumps(split, x: float, n: int) -> np.ndarray:
    r"""(:math:`\bar j(x)`, :math:`\bar j_1(x)`, :math:`\bar j_2(x)`), the first ``n``: the means
    over :math:`Z` (:func:`_z_rule`) of the jumps of the class density of :math:`T - x` at
    :math:`w = c`, of its slope and of its second derivative. The class law's terms of one
    arrival (``docs/response_time_distribution.md``, section 13) are
    :math:`a/p_0\int_c^w[\psi(u)F_0(w - u) - \varphi(u)K(w - u) + \varphi(u)M(w - u)]\,du` with
    :math:`a` the class atom, :math:`g_v = \lambda P(Y < v)`, :math:`g = g_y`,
    :math:`d = y - \min(x, \gamma y)`, the one arrival of size :math:`u`

    .. math::
        \psi(u) = \lambda f_X(u)\int_d^y F_Z(v/u)\,e^{-g_v u}\,dv,\qquad
        \varphi(u) = \lambda f_X(u)\,F_Z(y/u)\,e^{-gu},

    and :math:`F_0(0) = p_0`, :math:`F_0' = p_0 g + h_1(0)`, :math:`F_0'' = h_1'(0)`,
    :math:`K(0) = M(0) = M'(0) = 0`, :math:`K' = p_0`, :math:`K'' = M'' = h_1(0)` at 0
    (:math:`h_1(p) = \lambda P(X_1 > p)`, the sparse old piece), so

    .. math::
        j = a\psi,\qquad j_1 = a\,[\psi' + g\psi - \varphi] + \frac{a}{p_0}\psi h_1(0),\qquad
        j_2 = a\,[\psi'' + g\psi' - \varphi'] + \frac{a}{p_0}\big[h_1(0)\psi' + h_1'(0)\psi
            + \Delta e^{-gc}\big]

    at :math:`u = c^+`, :math:`\Delta = \lambda f_X(c)f_Z(y/c)/c` the jump of :math:`h_1''` at
    :math:`c` (an old piece :math:`X_1 = X - Y + y` needs :math:`X > p`) and
    :math:`h_1'(0) = -\lambda E[f_Z(1 + y/X)/X;\,X \le \kappa] - \lambda E[f_Z(1/\gamma)/(\gamma X);
    X > \kappa]`, :math:`\kappa = \gamma y/(1 - \gamma)` (the piece's density at 0, module
    docstring). :math:`\psi'` in closed form, :math:`\psi''` and :math:`\varphi'` by one-sided
    differences (relative step :data:`_H_U`)."""
    tr = split.tr
    rule = tr.rule
    f = rule.f
    c, gam, lam = split.c, split.gamma, tr.lam
    fc = _pdf_right(split.size, c)
    ks = np.asarray([k for k in rule.kinks if k > 0], float)
    z, wz = _z_rule(split, x)
    y = x * z
    if tr.kind == "static":
        return _static_jumps(split, x, y, wz, n)
    d = y - np.minimum(x, gam * y)
    # v in [d, y], cut at the kinks of F_Z(v / c) and P(Y < v)
    vk = np.concatenate([c * ks, split._yk])
    cuts = np.clip(np.broadcast_to(vk, (z.size, vk.size)), d[:, None], y[:, None])
    v, wv = panels(np.sort(np.concatenate([d[:, None], cuts, y[:, None]], axis=1), axis=1))
    top = float(tr.grid.t[-1])
    g = tr.grid
    gv = lam * g.interp(split._pl, np.minimum(v.reshape(-1), top)).reshape(v.shape)

    def inner(u):
        return np.sum(wv * np.asarray(f.cdf(v / u), float) * np.exp(-gv * u), axis=1)

    a = split.atom_mass(np.full(z.size, x), y)
    i0 = inner(c)
    out = [float(lam * fc * np.sum(wz * a * i0))]
    if n == 1:
        return np.array(out)
    Fz = np.asarray(f.cdf(v / c), float)
    e = np.exp(-gv * c)
    dfc = _pdf_slope(split.size, c, fc)
    dinner = np.sum(wv * (-np.asarray(f.pdf(v / c), float) * v / c ** 2 - gv * Fz) * e, axis=1)
    psi = lam * fc * i0
    dpsi = lam * (dfc * i0 + fc * dinner)
    yc = np.minimum(y, top)
    gy = lam * g.interp(split._pl, yc)
    p0 = g.interp(split._p0, yc)
    h10 = lam * g.interp(tr.W1.sum(1), yc)

    def phi_at(u):
        return lam * _pdf_right(split.size, u) * np.asarray(f.cdf(y / u), float) * np.exp(-gy * u)

    phi = phi_at(c)
    out.append(float(np.sum(wz * (a * (dpsi + gy * psi - phi) + a / p0 * psi * h10))))
    if n == 2:
        return np.array(out)
    h = _H_U * c

    def psi_at(u):
        return lam * _pdf_right(split.size, u) * inner(u)

    p1, p2, p3 = psi_at(c + h), psi_at(c + 2 * h), psi_at(c + 3 * h)
    d2psi = (2.0 * psi - 5.0 * p1 + 4.0 * p2 - p3) / h ** 2
    dphi = (-3.0 * phi + 4.0 * phi_at(c + h) - phi_at(c + 2 * h)) / (2.0 * h)
    # h_1'(0): the sparse piece's density at 0 on the size rule (r.x, r.w)
    r = rule.r
    X = r.x[None, :]
    kap = gam * y[:, None] / (1.0 - gam) if gam < 1.0 else np.full((y.size, 1), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        dens = np.where(X <= kap, np.asarray(f.pdf(1.0 + y[:, None] / X), float) / X,
                        float(f.pdf(1.0 / gam)) / (gam * X))
    dh10 = -lam * dens @ r.w
    delta = lam * fc * np.asarray(f.pdf(y / c), float) / c
    j2 = a * (d2psi + gy * dpsi - dphi) + a / p0 * (h10 * dpsi + dh10 * psi + delta * np.exp(-gy * c))
    out.append(float(np.sum(wz * j2)))
    return np.array(out)


def _static_jumps(split, x: float, y: np.ndarray, wz: np.ndarray, n: int) -> np.ndarray:
    r""":func:`_class_jumps` of PSPJF (rank shape "static": the residence at the level :math:`y`
    throughout, no sparse old piece): the one-arrival terms are
    :math:`a\int_c^w\varphi(u)\,[x(1 + g(w - u)) - (w - u)]\,du`, so :math:`j = a x\varphi(c)`,
    :math:`j_1 = a\,[x\varphi'(c^+) + (gx - 1)\varphi(c)]` and
    :math:`j_2 = a\,[x\varphi''(c^+) + (gx - 1)\varphi'(c^+)]`,
    :math:`\varphi'(u) = \lambda\,[f_X'(u)F_Z(y/u) - f_X(u)f_Z(y/u)\,y/u^2 - g f_X(u)F_Z(y/u)]\,e^{-gu}`
    (:math:`\varphi''` by a one-sided difference)."""
    tr = split.tr
    f = tr.rule.f
    c, lam = split.c, tr.lam
    fc = _pdf_right(split.size, c)
    top = float(tr.grid.t[-1])
    gy = lam * tr.grid.interp(split._pl, np.minimum(y, top))
    a = split.atom_mass(np.full(y.size, x), y)

    def phi_at(u):
        return lam * _pdf_right(split.size, u) * np.asarray(f.cdf(y / u), float) * np.exp(-gy * u)

    phi = phi_at(c)
    out = [float(np.sum(wz * a * x * phi))]
    if n == 1:
        return np.array(out)
    Fz = np.asarray(f.cdf(y / c), float)
    dfc = _pdf_slope(split.size, c, fc)
    dphi = lam * (dfc * Fz - fc * np.asarray(f.pdf(y / c), float) * y / c ** 2 - gy * fc * Fz) * np.exp(-gy * c)
    out.append(float(np.sum(wz * a * (x * dphi + (gy * x - 1.0) * phi))))
    if n == 2:
        return np.array(out)
    h = _H_U * c
    d2phi = (2.0 * phi - 5.0 * phi_at(c + h) + 4.0 * phi_at(c + 2 * h) - phi_at(c + 3 * h)) / h ** 2
    out.append(float(np.sum(wz * a * (x * d2phi + (gy * x - 1.0) * dphi))))
    return np.array(out)


def _pdf_slope(size, c: float, fc: float) -> float:
    """The size density's slope at ``c`` from the right (a one-sided second-order difference,
    relative step :data:`_H_PDF`; ``fc`` its value there)."""
    return (-3.0 * fc + 4.0 * _pdf_right(size, c * (1.0 + _H_PDF))
            - _pdf_right(size, c * (1.0 + 2.0 * _H_PDF))) / (2.0 * _H_PDF * c)


def _pdf_right(size, x: float) -> float:
    """The size density at ``x`` from the right (at the least size: its value above the jump)."""
    fx = float(size.pdf(x))
    return fx if fx > 0.0 else float(size.pdf(x * (1.0 + 1e-12)))


def kink_jumps(split, order: int = 3) -> np.ndarray:
    r"""(:math:`J_1, J_2, J_3`), the first ``order``: the jumps at :math:`t = 2c` of the slope,
    the second and the third derivative of the density of the inverted rest of the split
    (:class:`~qtheory.engine._prediction_density_atoms.PredictionDensityAtoms`) of TRAIL, SPRPT
    or PSPJF, :math:`c` the least size, where the size density jumps from 0 to :math:`f_X(c^+)`.

    A class :math:`(x, y)` reaches :math:`T = x + w`, :math:`w` just above :math:`c`, with one
    job of size about :math:`c` and nothing else: no old work (:math:`p_0(y)`), and one arrival
    with :math:`Y' < v` at a level :math:`v` of the residence, whose own busy period has no
    arrival that preempts it; so the class density of :math:`T - x` jumps at :math:`w = c` by
    :math:`j(x, y)`, its slope by :math:`j_1` and its second derivative by :math:`j_2`
    (:func:`_class_jumps`), and near :math:`t = 2c^+` the mixture over sizes (whose density jumps
    at :math:`c`), with :math:`\epsilon = t - 2c`,

    .. math::
        \int_c^{t - c} f_X(x)\,\Big[\bar j(x) + \bar j_1(x)(t - c - x)
            + \bar j_2(x)\frac{(t - c - x)^2}{2}\Big]dx
        = J_1\epsilon + J_2\frac{\epsilon^2}{2} + J_3\frac{\epsilon^3}{6} + O(\epsilon^4),

    :math:`J_1 = f_X\bar j`, :math:`J_2 = (f_X\bar j)' + f_X\bar j_1`,
    :math:`J_3 = (f_X\bar j)'' + (f_X\bar j_1)' + f_X\bar j_2` at :math:`c^+`
    (``docs/response_time_distribution.md``, section 13); the derivatives in :math:`x` by
    one-sided differences (step :data:`_H_JBAR` c)."""
    c = split.c
    h = _H_JBAR * c
    # f_X j-bar_i at x = c + k h: i < order, k <= order - i (the points each difference needs)
    P = {}
    for k in range(order + 1 if order > 1 else 1):
        xv = c + k * h
        need = order if k == 0 else (order - 1 if k < order else 1)
        P[k] = _pdf_right(split.size, xv) * _class_jumps(split, xv, need)
    J = [P[0][0]]
    if order >= 2:
        d1 = (-3.0 * P[0][0] + 4.0 * P[1][0] - P[2][0]) / (2.0 * h)
        J.append(d1 + P[0][1])
    if order >= 3:
        d2 = (2.0 * P[0][0] - 5.0 * P[1][0] + 4.0 * P[2][0] - P[3][0]) / h ** 2
        d1b = (-3.0 * P[0][1] + 4.0 * P[1][1] - P[2][1]) / (2.0 * h)
        J.append(d2 + d1b + P[0][2])
    return np.array(J)


def two_arrival_jump(split) -> float:
    r"""The jump :math:`J_{3c}` of the second derivative of the density of the inverted rest at
    :math:`t = 3c`: two arrivals of size about :math:`c` make the class density of :math:`T - x`
    kink at :math:`w = 2c` (the transform's term :math:`a\,C_2\,e^{-2sc}/s^2`, from the
    residence's :math:`\exp(\Psi - \int_d^y\Phi_v'\Phi_v\,dv)`: one arrival after the other,
    :math:`\Psi^2/2 \approx \psi(c)^2e^{-2sc}/(2s^2)`, or one during the other's busy period,
    :math:`-\Phi_v'\Phi_v \approx c\,\varphi_v(c)^2e^{-2sc}/s^2`), so

    .. math::
        C_2 = \frac{\psi(c)^2}{2} + c\int_d^y\varphi_v(c)^2\,dv,\qquad
        \varphi_v(u) = \lambda f_X(u)F_Z(v/u)\,e^{-g_v u}

    (PSPJF: :math:`C_2 = \varphi(c)^2(x^2/2 + xc)`), and the mixture over sizes gives
    :math:`J_{3c} = f_X(c^+)\,E[a(c, cZ)\,C_2(c, cZ)]` (``docs/response_time_distribution.md``,
    section 13). The old-job delay and every other term of two arrivals carry higher powers of
    :math:`1/s` (smoother terms)."""
    tr = split.tr
    rule = tr.rule
    f = rule.f
    c, gam, lam = split.c, split.gamma, tr.lam
    fc = _pdf_right(split.size, c)
    z, wz = _z_rule(split, c)
    y = c * z
    top = float(tr.grid.t[-1])
    a = split.atom_mass(np.full(z.size, c), y)
    if tr.kind == "static":
        gy = lam * tr.grid.interp(split._pl, np.minimum(y, top))
        phi = lam * fc * np.asarray(f.cdf(y / c), float) * np.exp(-gy * c)
        return float(fc * np.sum(wz * a * phi ** 2 * 1.5 * c * c))
    ks = np.asarray([k for k in rule.kinks if k > 0], float)
    d = y - np.minimum(c, gam * y)
    vk = np.concatenate([c * ks, split._yk])
    cuts = np.clip(np.broadcast_to(vk, (z.size, vk.size)), d[:, None], y[:, None])
    v, wv = panels(np.sort(np.concatenate([d[:, None], cuts, y[:, None]], axis=1), axis=1))
    gv = lam * tr.grid.interp(split._pl, np.minimum(v.reshape(-1), top)).reshape(v.shape)
    phiv = lam * fc * np.asarray(f.cdf(v / c), float) * np.exp(-gv * c)
    psi = np.sum(wv * phiv, axis=1)
    C2 = psi ** 2 / 2.0 + c * np.sum(wv * phiv ** 2, axis=1)
    return float(fc * np.sum(wz * a * C2))


def kink_slope_jump(split) -> float:
    r"""The jump :math:`J = f'_R(2c^+) - f'_R(2c^-)` of the slope of the density of the inverted
    rest of TRAIL's split at :math:`t = 2c` (:func:`kink_jumps`):
    :math:`J = f_X(c^+)\,E[j(c, cZ)]`,

    .. math::
        j(x, y) = a(x, y)\,\lambda f_X(c^+)\int_{y - \min(x, \gamma y)}^{y}
            F_Z(v/c)\,e^{-\lambda c\,P(Y < v)}\,dv

    (:math:`a` the class atom, :math:`F_Z(v/c) = P(Y' < v \mid X' = c)`)."""
    return _pdf_right(split.size, split.c) * _class_jumps(split, split.c, 1)[0]


class KinkSplit:
    r"""A split (:class:`~qtheory.engine._prediction_density_atoms.PredictionDensityAtoms`) with
    the kink of its rest's density at :math:`t = 2c` moved into the part added directly: with
    :math:`v = t - 2c` and :math:`\beta = 1/c`, the density

    .. math::
        \varphi(t) = e^{-\beta v}\sum_{k=1}^{3} K_k\,\frac{v_+^k}{k!},\qquad
        K_k = \sum_{n=1}^{k}\binom{k}{n}\beta^{k-n}J_n

    (:func:`kink_jumps`: :math:`J_n` the jump of the rest density's n-th derivative at :math:`2c`;
    :math:`K_k` makes :math:`\varphi^{(n)}(2c^+) = J_n`) is added to the atoms' part (cdf
    :math:`\sum_k K_k P(k + 1, \beta v)/\beta^{k+1}`, :math:`P` the regularized lower incomplete
    gamma function) and its transform :math:`e^{-sc}\sum_k K_k/(s + \beta)^{k+1}` (shifted by
    :math:`c`, as the rest's) subtracted from the rest's. The rest's density is then :math:`C^3`
    at :math:`2c`. The Euler inversion at :math:`t - c` rings next to a kink and after it (default
    rule: a unit slope jump at :math:`2c` puts the cdf :math:`2.8\cdot10^{-7}` off at
    :math:`t = 1.9c` and up to :math:`2.2\cdot10^{-5}` on :math:`(2c, 3c)`; a unit jump of the
    second derivative up to :math:`3.7\cdot10^{-7}` after, of the third :math:`6.7\cdot10^{-9}`, of
    the fourth :math:`1.4\cdot10^{-10}`). Every other attribute is the wrapped split's."""

    #: how many derivatives' jumps at 2c are split off (1: the slope's alone, as in session 41)
    ORDER = 3
    #: split off the jump of the second derivative at 3c as well
    THREE = True

    def __init__(self, split):
        self._sp = split
        J = kink_jumps(split, self.ORDER)
        self._beta = b = 1.0 / split.c
        #: J_1: the slope jump (kept under its former name)
        self.kink_jump = float(J[0])
        #: the jumps J_n and the coefficients K_k of the split-off density
        self.kink_jumps = J
        self.kink_coefs = np.array([sum(math.comb(k, n) * b ** (k - n) * J[n - 1] for n in range(1, k + 1))
                                    for k in range(1, J.size + 1)])
        #: the jump of the second derivative at 3c (two arrivals), split off as
        #: J_3c (t - 3c)_+^2/2 e^{-beta (t - 3c)}
        self.jump3 = two_arrival_jump(split) if self.THREE else 0.0
        m = float(np.sum(self.kink_coefs / b ** np.arange(2, J.size + 2))) + self.jump3 / b ** 3
        self.part_total = split.part_total + m
        self.rest_total = split.rest_total - m

    def __getattr__(self, name):
        return getattr(self._sp, name)

    def _v(self, t) -> np.ndarray:
        return np.maximum(np.asarray(t, float) - 2.0 * self._sp.c, 0.0)

    def part_cdf(self, t, **kw) -> np.ndarray:
        bv = self._beta * self._v(t)
        ebv = np.exp(-bv)
        # P(k + 1, bv) = 1 - e^{-bv} sum_{i <= k} (bv)^i / i!, from P(1, bv) = -expm1(-bv) on
        p = -np.expm1(-bv)
        term = np.ones_like(bv)
        phi = np.zeros_like(bv)
        for k, K in enumerate(self.kink_coefs, start=1):
            term = term * bv / k
            p = p - term * ebv
            phi = phi + K / self._beta ** (k + 1) * p
        if self.jump3:
            b3 = self._beta * np.maximum(np.asarray(t, float) - 3.0 * self._sp.c, 0.0)
            phi = phi + self.jump3 / self._beta ** 3 * -(np.expm1(-b3) + np.exp(-b3) * (b3 + b3 * b3 / 2.0))
        return self._sp.part_cdf(t, **kw) + phi

    def part_pdf(self, t, **kw) -> np.ndarray:
        v = self._v(t)
        poly = np.zeros_like(v)
        term = np.ones_like(v)
        for k, K in enumerate(self.kink_coefs, start=1):
            term = term * v / k
            poly = poly + K * term
        out = self._sp.part_pdf(t, **kw) + poly * np.exp(-self._beta * v)
        if self.jump3:
            v3 = np.maximum(np.asarray(t, float) - 3.0 * self._sp.c, 0.0)
            out = out + self.jump3 * v3 * v3 / 2.0 * np.exp(-self._beta * v3)
        return out

    def rest_lst(self, s) -> np.ndarray:
        s = np.asarray(s, complex)
        sb = s + self._beta
        acc = np.zeros(s.shape, complex)
        for K in self.kink_coefs[::-1]:
            acc = (acc + K) / sb
        out = self._sp.rest_lst(s) - np.exp(-s * self._sp.c) * acc / sb
        if self.jump3:
            out = out - self.jump3 * np.exp(-2.0 * s * self._sp.c) / sb ** 3
        return out


def near_split(split):
    """The split used next to the least size (``near()`` of the split of TRAIL, SPRPT and PSPJF):
    the rank shape "remaining" with a preemptible fraction ``0 < gamma <= 1`` (TRAIL(c), ``c > 0``;
    SPRPT and TRAIL(1), ``gamma = 1``) and PSPJF's "static" with the kink at :math:`2c` split off
    (:class:`KinkSplit`); TRAIL(0) stays SPJF's split (no kink term: :math:`J = 0`)."""
    if (split.tr.kind == "remaining" and split.gamma > 0.0) or split.tr.kind == "static":
        return KinkSplit(split)
    return split


# ---- the transform ----------------------------------------------------------------------------------
class TrailTransform(PredictionTransform):
    r"""LST and the first two moments of :math:`T` (or :math:`W`) of TRAIL(c).

    SPRPT's transform (:class:`~qtheory.engine.response_distribution_prediction.PredictionTransform`,
    rank shape "remaining") with TRAIL's two changes: the residence integral runs over
    :math:`v \in (y - \min(x, cy), y)` and is followed by the non-preemptible remainder
    :math:`(x - cy)^+` served at once, and the sparse old piece is
    :math:`(X - \min(Y - y, cY))^+ 1\{Y > y\}` (:func:`old_piece`).

    Parameters
    ----------
    model : qtheory.MG1
    c : float
        Preemptible fraction of the prediction, ``0 <= c <= 1``.
    rule : DiscreteJointRule or FactorJointRule
    x, y : float or None
        A class (both given) or the unconditional law (both ``None``).
    waiting : bool
        The waiting time :math:`W` (time until first service) instead of :math:`T`.
    """

    def __init__(self, model, c: float, rule, x=None, y=None, waiting: bool = False):
        self.c = float(c)
        if not 0.0 <= self.c <= 1.0:
            raise ValueError(f"c must lie in [0, 1], got c={c!r}")
        self.lam = float(model.arrival_rate)
        self.kind = "remaining"
        self._setup(rule, x, y, waiting)

    def _build_tables(self, rule, x, y, waiting: bool) -> None:
        super()._build_tables(rule, x, y, waiting)
        #: a finite joint law: the classes' thresholds are grid thresholds (eta_{<y} computed
        #: once), and each row's equal sizes merged (a trace repeats sizes across predictions)
        self._rows_in_grid = None
        if rule.discrete:
            if hasattr(self, "grid"):
                k = np.minimum(np.searchsorted(self.grid.t, self.ys), self.grid.t.size - 1)
                if np.all(self.grid.t[k] == self.ys):
                    self._rows_in_grid = k
                self.Xt, self.Wt = _merge(self.Xt, self.Wt)
            self.Xn, self.Wn = _merge(self.Xn, self.Wn)
            self.Xo, self.Wo = _merge(self.Xo, self.Wo)
            self.X1, self.W1 = _merge(self.X1, self.W1)

    def _setup_key(self) -> tuple:
        return (self.c,)

    def _classes(self, rule):
        return rule.classes() if rule.discrete else _factor_classes(rule, self.c)

    def _tgrid(self, rule):
        return _factor_tgrid(rule, self.c) if self._interp else super()._tgrid(rule)

    def _residence_start(self) -> np.ndarray:
        r"""Where the residence integral starts: :math:`y - \min(x, cy)`."""
        return self.ys[:, None] - np.minimum(self.Xc, self.c * self.ys[:, None])

    def _old_piece(self, rule, rows):
        return old_piece(rule, rows, self.c)

    def _lst_block(self, s: np.ndarray) -> np.ndarray:
        lam = self.lam
        et = None
        if not self.waiting or self._interp:
            et = self._eta_grid(s)
        if self._interp:
            eta_r = et
        elif et is not None and self._rows_in_grid is not None:
            eta_r = et[:, self._rows_in_grid]
        else:
            eta_r = busy_eta(s, lam, self.Xn, self.Wn)
        rho0 = lam * self._m(self.Xo, self.Wo, 1)
        rho1 = lam * self._m(self.X1, self.W1, 1)
        num = (1.0 - rho0 - rho1)[None, :] * eta_r + lam * self._old_psi(eta_r)
        V = self._at_classes(num / self._kendall_den(s, eta_r))
        if self.waiting:
            return V @ self.Wc.sum(1)
        return np.sum(V * self._sprpt_residence(s, et), axis=1)

    def moments(self) -> tuple[float, float]:
        r"""(E, E[.^2]) of the law (of ``T - x`` for a class), mixed over the classes; ``inf``
        where the old piece's second moment :math:`C_c(y)` is infinite: continuous sizes with
        :math:`E[X^2] = \infty` and ``c < 1`` (the piece is at least :math:`X(1 - cZ)` on an
        unbounded range of :math:`X`) or :math:`P(Z < 1) > 0` (the piece :math:`X - Y + y`), as
        in the closed form; the size rule's truncation would make them finite."""
        rule = self.rule
        if not rule.discrete and math.isinf(rule.r.size.moment(2)) and (
                self.c < 1.0 or rule.f.excess() > 0.0):
            return math.inf, math.inf
        return super().moments()

    def _residence_moments(self, rn, n2):
        r"""Mean :math:`\int_d^y dv/(1 - \lambda A_<(v)) + (x - cy)^+` and variance
        :math:`\int_d^y \lambda E[X^2; Y < v]/(1 - \lambda A_<(v))^3 dv` per class,
        :math:`d = y - \min(x, cy)`."""
        f1, f2 = self._residence_integrands()
        d = np.maximum(self._d, 0.0)
        out = []
        for f in (f1, f2):
            Ry = self._cum_at(f, self._q_y)[:, None]
            Rd = self._cum_at(f, self._q_d).reshape(d.shape)
            out.append(Ry - Rd)
        return out[0] + np.maximum(self.Xc - self.c * self.ys[:, None], 0.0), out[1]

    def atom(self) -> float:
        r""":math:`P(W = 0) = 1 - \rho_0 - \rho_1` (waiting time) or :math:`P(T = x)` (a class):
        no old work and no new job ahead during the preemptible phase,
        :math:`\exp(-\lambda\int_{y - \min(x, cy)}^{y} P(Y < v)\,dv)`."""
        lam, (o1, _, _), (p1, _, _), _, _ = self._pieces()
        p0 = 1.0 - lam * (o1 + p1)
        if self.waiting:
            return float(np.sum(p0 * self.Wc.sum(1)))
        y, d = float(self.ys[0]), max(float(self._d[0, 0]), 0.0)
        pl = self.Wt.sum(1)
        integral = float(self.grid.cum(pl, [y])[0] - self.grid.cum(pl, [d])[0])
        return float(p0[0] * math.exp(-lam * integral))


__all__ = ["KinkSplit", "TrailTransform", "kink_jumps", "kink_slope_jump", "near_split", "old_piece",
           "two_arrival_jump"]
