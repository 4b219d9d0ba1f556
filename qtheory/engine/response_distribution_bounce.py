r"""Response-time and waiting-time distributions of SRPT-Bounce (rank :math:`r(y, a) = |y - a|`)
on a continuous size law with a multiplicative prediction law :math:`Y = XZ` (:math:`Z`
independent of :math:`X`, with a density: exponential, log-normal, uniform factors).

SOAP's decomposition (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018, Section 5; the
conventions of ``docs/soap_predictions.md``, sections 3-5) with the bounce's pieces:

* worst future rank of a job :math:`(x, y)` at age :math:`a`:
  :math:`r(a) = \sup_{[a, x)}|y - b| = \max(y - a, x - y)`, so :math:`R = r(0) = \max(y, x - y)`;
  the residence runs through the levels :math:`v \in [y - x, y]` (:math:`x \le y`), through
  :math:`[x - y, y]` then :math:`2(x - y)` of age at level :math:`x - y` (:math:`y < x \le 2y`),
  or all :math:`x` at level :math:`x - y` (:math:`x > 2y`);
* new jobs below level :math:`v`: a job with :math:`Y' < v` is ahead until its rank climbs back
  to :math:`v` at age :math:`Y' + v`, so :math:`X^{new}[v] = \min(X, Y + v)\,1\{Y < v\}`;
* old jobs at level :math:`R`: the ages with :math:`|Y' - a| \le R` are
  :math:`[(Y' - R)^+, Y' + R]`: interval 0 gives :math:`X^{old}_0 = \min(X, Y + R)1\{Y \le R\}`
  (:math:`= X^{new}[R]` on a continuous law), a job with :math:`Y' > R` one sparse piece
  :math:`X^{old}_1 = \min\big((X - Y + R)^+, 2R\big)1\{Y > R\}`.

Then

.. math::
    E[e^{-sT}\mid x, y] = \tilde V_R\big(\eta_R(s)\big)\,
        \exp\Big(-\int_0^x \eta_{r(a)}(s)\,da\Big),\qquad
    \eta_v(s) = s + \lambda E\big[1 - e^{-\eta_v(s) X^{new}[v]}\big],

    \tilde V_R(u) = \frac{(1 - \rho_0 - \rho_1)u + \lambda E[1 - e^{-uX^{old}_1}]}
                         {u - \lambda E[1 - e^{-uX^{old}_0}]},

and :math:`E[e^{-sW}\mid x, y] = \tilde V_R(\eta_R(s))` (the waiting time depends on :math:`x`
through :math:`R`). With :math:`Y = XZ` the laws at a level :math:`v` are, with the size rule of
:mod:`qtheory.engine.response_distribution` split where the weights kink:

* :math:`X^{new}[v]`: the value :math:`X` with weight
  :math:`\big(F_Z(v/X) - F_Z((1 - v/X)^+)\big)^+` (the job finishes before its rank climbs back),
  and the values :math:`p = XZ + v \in (v, 2v)` with the density
  :math:`E[f_Z((p - v)/X)/X;\ X > p]`;
* :math:`X^{old}_1`: the density :math:`E[f_Z(1 + (R - p)/X)/X;\ X > p]` on :math:`p \in (0, 2R)`
  (SPRPT's piece, :mod:`qtheory.engine._joint_rule`) and an atom at :math:`2R` of mass
  :math:`E[(F_Z(1 - R/X) - F_Z(R/X))^+]`.

Every piece is at most :math:`2R` (:math:`2v`), so the waiting time has every moment. The
unconditional law mixes the classes over the joint law (prediction panels of the prediction
route cut in :data:`Y_PARTS`, each row of sizes split at :math:`x = y` and :math:`x = 2y`, where
:math:`R` and the residence change form); :math:`\eta_v` and :math:`\tilde V_v` are computed on
the threshold grid of the prediction route cut in :data:`T_PARTS` (extended to the largest
:math:`x - y`) and interpolated (Lagrange in
:math:`\log v`), :math:`\int\eta_v\,dv` is the grid's cumulative integral of the same
interpolant. Where :math:`|s|` times the level, the prediction or the size is small the rules are
coarser (the panels below :data:`FINE_FROM` :math:`E[X]` uncut, the classes' size rule merged
below :data:`X_COARSE` :math:`E[X]`) and the grid's laws carry their nodes below
:data:`LUMP_BELOW` :math:`E[X]` as one Gauss rule (:func:`lump_small`). With ``bounce=False``
the same code evaluates SPRPT's pieces (rank :math:`y - a`:
:math:`X^{new}[v] = X1\{Y < v\}`, :math:`X^{old}_1 = (X - Y + R)^+1\{Y > R\}`, :math:`R = y`),
on SPRPT's classes (prediction panels with edges at the size law's ends), which the tests
compare with :mod:`qtheory.engine.response_distribution_prediction` and with SPRPT's mean in
closed form.

Means and second moments are the closed forms of the same pieces (busy-period cumulants:
:math:`E[T\mid x, y] = E[W\mid R] + \int_0^x da/(1 - \lambda N(r(a)))` and the variance
:math:`\mathrm{Var}[W\mid R] + \int_0^x \lambda N_2(r(a))/(1 - \lambda N(r(a)))^3da`,
:math:`N_k(v) = E[X^{new}[v]^k]`).

Derivation: above, with the conventions of ``docs/soap_predictions.md`` (sections 3-5) and the
decomposition of ``docs/response_time_distribution.md`` (sections 1, 5 and 6).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..laws._quadrature import ORDER, _gl, panels
from . import laplace_inversion as li
from ._joint_rule import FactorJointRule, _tail_extension, drop_tiny, log_tgrid
from .response_distribution import _psi_at, busy_eta
from .response_distribution_trail import _factor_classes

#: the p panels of the new jobs' capped part on (v, 2v): edges at v times these
P_EDGES = (1.0, 1.125, 1.25, 1.5, 1.75, 2.0)
#: the bounce's threshold grid: the prediction route's panels (1.0 wide in log v) halved. Its
#: eta_v and V_v have more structure than SPRPT's (the capped new jobs); measured on Exp(1)
#: sizes at load 0.95, class (0.5, 1.2) against soap_factor's mean: log-normal(0.5)
#: predictions 1.6e-8 with width 1.0, 3e-14 with 0.5; uniform(0.5) 3e-9 and 1e-13
HALVE = True
#: the unconditional law's rules (a class keeps the halved grid and reads its levels exactly).
#: Its transform at the Euler nodes of a small t oscillates in y like e^{-2sy} (the old piece's
#: atom at 2R, the classes' x <= y and x <= 2y) and in the level like e^{-sv}: the prediction
#: panels (1.0 wide in log y) and the halved grid left E[e^{-sT}] 3e-8 off at the node k = 38
#: of t = 0.955 (:math:`|s|` = 127; Exp(1) sizes, exponential predictions, load 0.8) and the cdf there
#: 3.3e-7 off (the p50 1.3e-6 relative), against an independent implementation
#: (``benchmarks/bounce_reference.py``: the factor integrated in closed form, its own level panels
#: and quadrature). Cut in 4 (the prediction panels of the bulk, up to Y_WIDEST times the rule's
#: width; the coarser tail panels carry 1e-4 of the predictions) and the grid in 4 parts, the
#: transform is within 5e-13 of the reference at every node checked and the cdf within 5e-10 of
#: rules twice as fine again; 2 x 4 parts were 4.7e-8 off on that cdf, 4 x 2 parts 5.3e-8, 4 x 3
#: parts 2.5e-9. The p99 / p99.9 there (38.662209993 / 107.23059707, the kernel's sums
#: compensated, ppf to 1e-13): the grid in 16 parts moves them by 2.4e-11 / 2.3e-9, the
#: predictions in 8 parts by 2.7e-10 / 2.1e-10, the classes' size rule halved (width 0.0625) by
#: 2.6e-11 / 1.9e-9 (before the compensated sums their round-off jitter, 2e-8 / 1e-7, hid these)
T_PARTS = 4
Y_PARTS = 4
Y_WIDEST = 1.0001
#: the joint rule's size panels (Kendall's rows and the old piece): 0.5 wide, not the 0.25 of
#: the prediction policies (``response_distribution_prediction.WIDTH_JOINT``): p50 and p99 at
#: loads 0.35 and 0.8 (Exp/Exp) within 1.6e-10 relative of the 0.125 rule (0.25: 3.7e-11) at
#: 0.85x the CPU
JOINT_WIDTH = 0.5
#: where the unconditional law's oscillations are slow, fewer classes and levels (issue 16, the
#: cost of a percentile; Exp(1) sizes, exponential predictions; the shifts are of the
#: quantiles p50 .. p99.9 at loads 0.5, 0.8, 0.95, relative, from the cdf at the old rules'
#: quantiles): the grid's and the prediction panels ending below FINE_FROM E[X] are not cut
#: (there :math:`|s| v \le 0.3` for :math:`|s| \le 300`, the Euler nodes of t >= 0.8 on the
#: finer rule: levels 1090 -> 670, classes 615644 -> 460169, shifts <= 2e-11; 1e-2 moved the
#: p50 and p99.9 at load 0.8 by 1.3e-10 and 3.8e-10) and the classes' size rule has its panels
#: below X_COARSE E[X] merged up to X_WIDTH wide in log x (classes -> 367433, shifts <= 2e-10,
#: the largest at p99.9; 1.0 wide: 1.4e-9, up to 0.1 E[X]: 3.5e-10)
FINE_FROM = 1e-3
X_COARSE = 1e-2
X_WIDTH = 0.5
#: the grid's laws (Kendall's equation and the old piece at every level and s) keep their nodes
#: above LUMP_BELOW E[X] and the LUMP_NODES-node Gauss rule of those below (:func:`lump_small`:
#: nodes with weight 191198 -> 102314 in the new jobs' rows, 168470 -> 81190 in the old
#: piece's; the sums within 1e-15 at |u| <= 2400)
LUMP_BELOW = 1e-3
LUMP_NODES = 8
#: a class whose weight times e^{-Re(s) x} is below this at every s of a block is skipped
SKIP_BOUND = 1e-20
#: transform values per block
_S_BLOCK = 40
#: load-free tables kept per joint rule
_SETUPS_KEPT = 4


# ---- the laws at a level -------------------------------------------------------------------------
def _kink_cols(v: np.ndarray, vals) -> list[np.ndarray]:
    return [np.asarray(c, float)[:, None] if np.ndim(c) else np.full((v.size, 1), c) for c in vals]


@numba.njit(cache=True, nogil=True)
def _row_edges(edges, lc, i, buf, isb):  # pragma: no cover - compiled
    """Row ``i``'s sorted panel edges from ``lc[i, 0]`` up (the size rule's log ``edges`` above
    it, then the row's other cuts each inserted after the edges equal to it) in ``buf``, with
    ``isb`` the base index of each edge (-1: a cut); returns their number."""
    lo = lc[i, 0]
    buf[0] = lo
    isb[0] = -1
    m = 1
    for j in range(np.searchsorted(edges, lo, side="right"), edges.size):
        buf[m] = edges[j]
        isb[m] = j
        m += 1
    for k in range(1, lc.shape[1]):
        x = lc[i, k]
        if x > lo:
            q = m
            while buf[q - 1] > x:
                buf[q] = buf[q - 1]
                isb[q] = isb[q - 1]
                q -= 1
            buf[q] = x
            isb[q] = -1
            m += 1
    return m


@numba.njit(cache=True, nogil=True)
def _above_nodes(edges, lc, t, w):  # pragma: no cover - compiled
    r"""The panels of the size rule (log ``edges``) above each row's ``lc[i, 0]`` with the row's
    other cuts ``lc[i, 1:]`` as extra edges (the panels of :meth:`FactorJointRule._split` above
    the row's first cut, the empty ones left out), flat: Gauss-Legendre nodes ``u``, weights
    ``h w``, row indices, and ``base``: the node's index on the unsplit rule (panel ``j``, node
    ``k``: ``j * order + k``; the same node and weight there) or -1 on a split panel (``t``,
    ``w``: the rule on [0, 1])."""
    n = lc.shape[0]
    order = t.size
    buf = np.empty(edges.size + lc.shape[1], np.float64)
    isb = np.empty(edges.size + lc.shape[1], np.int64)
    tot = 0
    for i in range(n):
        m = _row_edges(edges, lc, i, buf, isb)
        for j in range(m - 1):
            if buf[j + 1] > buf[j]:
                tot += order
    u = np.empty(tot, np.float64)
    wu = np.empty(tot, np.float64)
    row = np.empty(tot, np.int64)
    base = np.empty(tot, np.int64)
    q = 0
    for i in range(n):
        m = _row_edges(edges, lc, i, buf, isb)
        for j in range(m - 1):
            h = buf[j + 1] - buf[j]
            if h > 0:
                whole = isb[j] >= 0 and isb[j + 1] == isb[j] + 1
                for k in range(order):
                    u[q] = buf[j] + h * t[k]
                    wu[q] = h * w[k]
                    row[q] = i
                    base[q] = isb[j] * order + k if whole else -1
                    q += 1
    return u, wu, row, base


@numba.njit(cache=True, nogil=True)
def _split_nodes(edges, lc, t):  # pragma: no cover - compiled
    """The nodes ``u`` of :func:`_above_nodes` on its split panels only, in its order."""
    order = t.size
    buf = np.empty(edges.size + lc.shape[1], np.float64)
    isb = np.empty(edges.size + lc.shape[1], np.int64)
    tot = 0
    for i in range(lc.shape[0]):
        m = _row_edges(edges, lc, i, buf, isb)
        for j in range(m - 1):
            if buf[j + 1] > buf[j] and not (isb[j] >= 0 and isb[j + 1] == isb[j] + 1):
                tot += order
    u = np.empty(tot, np.float64)
    q = 0
    for i in range(lc.shape[0]):
        m = _row_edges(edges, lc, i, buf, isb)
        for j in range(m - 1):
            h = buf[j + 1] - buf[j]
            if h > 0 and not (isb[j] >= 0 and isb[j + 1] == isb[j] + 1):
                for k in range(order):
                    u[q] = buf[j] + h * t[k]
                    q += 1
    return u


@numba.njit(cache=True, nogil=True, inline="always")
def _fz(kind, par, z):  # pragma: no cover - compiled
    """The factor's density at ``z`` (as its law's ``pdf``): exponential (``kind`` 0),
    log-normal (1; ``par``: sigma, its range ends and normalisation), uniform (2; ``par``: a, b,
    1/(b - a)) or log-uniform (3; a, b, 1/log(b/a))."""
    if kind == 0:
        return math.exp(-z) if z >= 0.0 else 0.0
    if kind == 1:
        if z > par[1] and z < par[2]:
            u = math.log(z) / par[0]
            return math.exp(-0.5 * u * u) / (z * par[3])
        return 0.0
    if z >= par[0] and z <= par[1]:
        return par[2] if kind == 2 else 1.0 / (max(z, 1e-300) * par[2])
    return 0.0


@numba.njit(cache=True, nogil=True)
def _above_sum(edges, lc, t, w, X0, F0, Xs, Fs, c, z0, kind, par):  # pragma: no cover - compiled
    r""":math:`\sum_k w_k f_X(x_k) f_Z(z_0 + c_i/x_k)` per row ``i`` over the panels of
    :func:`_above_nodes`: the unsplit rule's nodes ``X0`` and densities ``F0`` on its whole
    panels, ``Xs``, ``Fs`` (those of :func:`_split_nodes`, in its order) on the split ones."""
    order = t.size
    buf = np.empty(edges.size + lc.shape[1], np.float64)
    isb = np.empty(edges.size + lc.shape[1], np.int64)
    out = np.zeros(lc.shape[0])
    q = 0
    for i in range(lc.shape[0]):
        m = _row_edges(edges, lc, i, buf, isb)
        ci = c[i]
        acc = 0.0
        for j in range(m - 1):
            h = buf[j + 1] - buf[j]
            if h > 0:
                if isb[j] >= 0 and isb[j + 1] == isb[j] + 1:
                    b0 = isb[j] * order
                    for k in range(order):
                        x = X0[b0 + k]
                        acc += h * w[k] * F0[b0 + k] * _fz(kind, par, z0 + ci / x)
                else:
                    for k in range(order):
                        acc += h * w[k] * Fs[q] * _fz(kind, par, z0 + ci / Xs[q])
                        q += 1
        out[i] = acc
    return out


def _factor_kind(f) -> tuple[int, np.ndarray]:
    """(:func:`_fz`'s kind, its parameters) of a factor law; (-1, none) for the others (their
    own ``pdf``)."""
    from ..laws import predictions as pl

    if type(f) is pl._ExpFactor:
        return 0, np.zeros(1)
    if type(f) is pl._LogNormalFactor:
        s = float(f.s)
        lo, hi = f.log_range()
        return 1, np.array([s, math.exp(lo), math.exp(hi), s * math.sqrt(2 * math.pi)])
    if type(f) is pl._UniformFactor:
        return (3, np.array([f.a, f.b, f._L])) if f.log else (2, np.array([f.a, f.b, 1.0 / f._L]))
    return -1, np.zeros(1)


def _base_nodes(rule: FactorJointRule):
    """The size rule's log edges (with the tail's extension), its nodes and their densities on
    the unsplit rule, cached on the rule."""
    hit = rule.__dict__.get("_qt_bounce_base")
    if hit is None:
        r = rule.r
        edges = np.concatenate([r.edges, _tail_extension(r)[0]])
        u0, _ = panels(edges)
        X0 = np.exp(u0)
        hit = (edges, X0, r.size.pdf(X0))
        rule._qt_bounce_base = hit
    return hit


#: points per block of :func:`_above_density` (bounds its flat node arrays to a few MB)
_ROWS = 4096


def _above_density(rule: FactorJointRule, p: np.ndarray, c: np.ndarray, z0: float) -> np.ndarray:
    r""":math:`E[f_Z(z_0 + c/X)/X;\ X > p]` at the points ``(p, c)``: the size rule's panels
    above :math:`p`, split where :math:`z_0 + c/x` crosses a kink of :math:`Z`'s law, and its
    head and tail nodes where they lie above :math:`p` (the rows of
    :meth:`FactorJointRule._split` with those cuts, their panels below :math:`p`, which add
    nothing, left out). The sizes' density is evaluated only on the split panels (the others
    read the unsplit rule's), the factor's in a compiled loop (:func:`_fz`: exponential,
    log-normal and uniform factors; other laws: their own ``pdf`` on the flat nodes)."""
    r = rule.r
    _, (tx, tw) = _tail_extension(r)
    edges, X0, F0 = _base_nodes(rule)
    top = math.exp(edges[-1])
    hx, hw = r.head
    gt, gw = _gl(ORDER)
    ks = [k for k in rule.kinks if k != z0]
    out = np.zeros(p.size)
    f = rule.f
    kind, par = _factor_kind(f)
    for a in range(0, p.size, _ROWS):
        pp, cc = p[a:a + _ROWS], np.ascontiguousarray(c[a:a + _ROWS])
        with np.errstate(divide="ignore", invalid="ignore"):
            cuts = np.stack([pp] + [cc / (k - z0) for k in ks], axis=1)
        lc = np.log(np.clip(np.nan_to_num(cuts, nan=r.lo), r.lo, top))
        lc = np.ascontiguousarray(lc)
        if kind >= 0:
            Xs = np.exp(_split_nodes(edges, lc, gt))
            acc = _above_sum(edges, lc, gt, gw, X0, F0, Xs, r.size.pdf(Xs), cc, z0, kind, par)
        else:
            u, wu, row, base = _above_nodes(edges, lc, gt, gw)
            new = base < 0
            X = np.where(new, 0.0, X0[np.maximum(base, 0)])
            G = np.where(new, 0.0, F0[np.maximum(base, 0)])
            X[new] = np.exp(u[new])
            G[new] = r.size.pdf(X[new])
            acc = np.bincount(row, weights=wu * G * f.pdf(z0 + cc[row] / X), minlength=pp.size)
        for xe, we in ((hx, hw), (tx, tw)):
            if we > 0 and xe > 0:
                on = xe > pp
                acc[on] += we * f.pdf(z0 + cc[on] / xe) / xe
        out[a:a + _ROWS] = acc
    return out


def _capped_density(rule: FactorJointRule, v: float, p: np.ndarray) -> np.ndarray:
    r""":math:`E[f_Z((p - v)/X)/X;\ X > p]` at the points ``p`` (the new jobs' capped part)."""
    p = np.asarray(p, float)
    return _above_density(rule, p, p - v, 0.0)


def _rem_density(rule: FactorJointRule, v, p: np.ndarray) -> np.ndarray:
    r""":math:`E[f_Z(1 + (v - p)/X)/X;\ X > p]` at the points ``p`` (SPRPT's old piece; ``v``:
    a level or one per point)."""
    p = np.asarray(p, float)
    return _above_density(rule, p, v - p, 1.0)


def _size_bps(rule: FactorJointRule) -> np.ndarray:
    size = rule.r.size
    b = np.concatenate([np.asarray(size.breakpoints, float), np.asarray(size.support, float)])
    return b[np.isfinite(b) & (b > 0)]


def new_law(rule: FactorJointRule, v, bounce: bool) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights ``(X, W)`` (rows: the levels ``v``) of :math:`X^{new}[v]`
    (sub-probability law: total weight :math:`P(Y < v)`); ``bounce=False``: SPRPT's
    :math:`X1\{Y < v\}`."""
    v = np.atleast_1d(np.asarray(v, float))
    if not bounce:
        return rule.new(v)
    k = rule.kinks
    cuts = _kink_cols(v, [v, 2 * v] + [v / kk for kk in k] + [v / (1.0 - kk) for kk in k if kk < 1.0])
    X, W = rule._split(np.concatenate(cuts, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        F = rule.f.cdf(v[:, None] / X) - rule.f.cdf(np.maximum(1.0 - v[:, None] / X, 0.0))
    WA = W * np.maximum(F, 0.0)
    # the capped part p = XZ + v on (v, 2v)
    bps = _size_bps(rule)
    rows_p, rows_w = [], []
    for vi in v:
        e = [vi * f for f in P_EDGES] + [vi / (1.0 - kk) for kk in k if kk < 1.0] + list(bps)
        e = np.unique([c for c in e if vi <= c <= 2 * vi])
        pp, ww = panels(e)
        rows_p.append(pp)
        rows_w.append(ww)
    # the densities of all levels at once
    vv = np.repeat(v, [r.size for r in rows_p])
    pp = np.concatenate(rows_p)
    dens = _above_density(rule, pp, pp - vv, 0.0)
    ends = np.cumsum([r.size for r in rows_p])
    rows_w = [w * dd for w, dd in zip(rows_w, np.split(dens, ends[:-1]), strict=True)]
    n = max(r.size for r in rows_p)
    P = np.ones((v.size, n))
    WB = np.zeros((v.size, n))
    for i in range(v.size):
        P[i, :rows_p[i].size] = rows_p[i]
        WB[i, :rows_w[i].size] = rows_w[i]
    # the capped part first: the sizes' weights vanish above 2v, so each row ends in zeros,
    # which the kernels skip (busy_eta and _psi_at stop at a row's last weight)
    return np.concatenate([P, X], axis=1), np.concatenate([WB, WA], axis=1)


def old_piece(rule: FactorJointRule, v, bounce: bool) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights of the sparse old piece :math:`X^{old}_1` at the levels ``v``:
    :math:`\min((X - Y + v)^+, 2v)1\{Y > v\}` (bounce) or :math:`(X - Y + v)^+1\{Y > v\}`
    (SPRPT); the zero part is left out (it adds nothing)."""
    v = np.atleast_1d(np.asarray(v, float))
    r = rule.r
    k = rule.kinks
    nodes, wgl = _gl(ORDER)
    bps = _size_bps(rule)
    cap = 2 * v if bounce else np.full(v.size, np.inf)
    cols = [v, cap] + [v / kk for kk in k] + [v - b * (kk - 1.0) for kk in k for b in bps] + list(bps)
    Pd, Wd = rule._split(np.concatenate(_kink_cols(v, cols), axis=1), density=False)
    head = np.minimum(r.lo, cap)
    P = np.concatenate([head[:, None] * nodes[None, :], Pd], axis=1)
    Wp = np.concatenate([head[:, None] * wgl[None, :], np.where(Pd <= cap[:, None], Wd, 0.0)], axis=1)
    G = np.zeros_like(P)
    on = np.nonzero(Wp > 0)
    G[on] = _rem_density(rule, v[on[0]], P[on])
    Wp = Wp * G
    if not bounce:
        return P, Wp
    # the atom at 2v: X(1 - Z) >= v and XZ > v
    cuts = _kink_cols(v, [2 * v] + [v / kk for kk in k] + [v / (1.0 - kk) for kk in k if kk < 1.0])
    X, W = rule._split(np.concatenate(cuts, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        F = rule.f.cdf(np.maximum(1.0 - v[:, None] / X, 0.0)) - rule.f.cdf(v[:, None] / X)
    atom = np.sum(W * np.maximum(F, 0.0), axis=1)
    # the atom first: the density's weights vanish above 2v (rows end in zeros, skipped)
    return np.concatenate([(2 * v)[:, None], P], axis=1), np.concatenate([atom[:, None], Wp], axis=1)


def lump_small(X: np.ndarray, W: np.ndarray, cut: float, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    r"""Rows of nodes and weights ``(X, W)`` (weights :math:`\ge 0`) with, in each row, the
    nodes below ``cut`` replaced by the ``k``-node Gauss rule of their discrete measure
    (:data:`LUMP_NODES`; the Lanczos process with full reorthogonalisation on
    :math:`\mathrm{diag}(X/c)`, Golub and Welsch, Math. Comp. 1969), the nodes with weight
    first in each row (the kernels stop at a row's last weight). The rule keeps
    :math:`\sum_k W_k X_k^m` for :math:`m < 2k`, so :math:`\sum_k W_k(1 - e^{-uX_k})` moves by
    at most :math:`M\,(|u|c)^{2k}/(2k)!` (:math:`M` the lumped weight): with :math:`c = 10^{-3}`
    and :math:`k = 8`, below :math:`10^{-16}M` for :math:`|u| \le 700` (the Euler nodes of
    :math:`t \ge 0.1` at mean size 1)."""
    k = LUMP_NODES if k is None else k
    m = (X < cut) & (W > 0)
    do = m.sum(1) > k
    if cut <= 0 or not np.any(do):
        return X, W
    cols = np.flatnonzero(m[do].any(0))
    md = m[do][:, cols]
    Xs = np.where(md, X[do][:, cols] / cut, 0.0)
    Ws = np.where(md, W[do][:, cols], 0.0)
    mass = Ws.sum(1)
    q = np.sqrt(Ws / mass[:, None])
    Q = [q]
    al, be = [], []
    ok = np.ones(mass.size, bool)
    for j in range(k):
        z = Xs * Q[-1]
        al.append(np.sum(Q[-1] * z, axis=1))
        if j == k - 1:
            break
        for _ in range(2):  # reorthogonalised twice
            for qq in Q:
                z = z - np.sum(z * qq, axis=1)[:, None] * qq
        b = np.sqrt(np.sum(z * z, axis=1))
        ok &= b > 1e-12
        be.append(b)
        Q.append(z / np.where(b > 0, b, 1.0)[:, None])
    J = np.zeros((mass.size, k, k))
    ix = np.arange(k)
    J[:, ix, ix] = np.stack(al, axis=1)
    J[:, ix[:-1], ix[1:]] = J[:, ix[1:], ix[:-1]] = np.stack(be, axis=1)
    theta, vec = np.linalg.eigh(J)
    gx, gw = theta * cut, mass[:, None] * vec[:, 0, :] ** 2
    ok &= np.all((theta > 0) & (theta < 1), axis=1)
    rows = np.flatnonzero(do)[ok]
    keep = W != 0
    keep[rows] &= ~m[rows]
    n = k + int(keep.sum(1).max())
    order = np.argsort(~keep, axis=1, kind="stable")[:, :n - k]
    Xo = np.concatenate([np.ones((X.shape[0], k)), np.take_along_axis(X, order, axis=1)], axis=1)
    Wo = np.concatenate([np.zeros((X.shape[0], k)), np.take_along_axis(np.where(keep, W, 0.0), order, axis=1)], axis=1)
    Xo[rows, :k], Wo[rows, :k] = gx[ok], gw[ok]
    return Xo, Wo


# ---- the classes ------------------------------------------------------------------------------------
#: where the laws at a level v kink, as multiples of an end or breakpoint b > 0 of the size law:
#: the new jobs' capped part p in (v, 2v) and the old piece's atom at 2v meet b at v = b/2 and
#: v = b. They are edges of the threshold grid (interpolated in log v between its edges: N(v)
#: was 1.6e-6 off next to v = 0.5 and 3e-7 at v = 1.02 on Pareto(2.5, 1) sizes) and of the
#: prediction panels (R = y for x <= 2y), with 2b: the unconditional mean on Pareto(2.5) at
#: load 0.8, exponential predictions, against the mean engine's (estimate 3e-10): 2.4e-7 off
#: without them, 1.2e-9 with b/2 and b, 3.3e-10 with 2b as well
LEVEL_KINKS = (0.5, 1.0, 2.0)


def _with_level_kinks(rule: FactorJointRule, e: np.ndarray) -> np.ndarray:
    """The log edges ``e`` with :data:`LEVEL_KINKS` times the size law's ends and breakpoints
    added inside their range."""
    cand = np.log([b * k for b in _size_bps(rule) for k in LEVEL_KINKS]) if _size_bps(rule).size else np.empty(0)
    cand = cand[(cand > e[0] + 1e-9) & (cand < e[-1] - 1e-9)]
    if not cand.size:
        return e
    e = np.unique(np.concatenate([e, cand]))
    return e[np.concatenate([[True], np.diff(e) > 1e-9])]


def classes(rule: FactorJointRule):
    r"""``(y, X, W)``: the prediction nodes of the prediction route with, for each, the sizes
    weighted by :math:`f_X(x) f_Z(y/x)/x\,dx\,dy`, each row split at :math:`x = y`,
    :math:`x = 2y` and where :math:`y/x` crosses a kink of :math:`Z`; the prediction panels
    have edges at :data:`LEVEL_KINKS` times the size law's ends and breakpoints."""
    y, dy = panels(_with_level_kinks(rule, _split_edges(np.asarray(rule.yedges, float), Y_PARTS,
                                                         Y_WIDEST * rule.width, _log_fine_from(rule))))
    y = np.exp(y)
    dy = dy * y
    cuts = np.concatenate([y[:, None], 2 * y[:, None], rule._kink_cuts(y)], axis=1)
    X, W = rule._split(cuts, r=_class_rule(rule))
    W = W * rule.f.pdf(y[:, None] / X) / X * dy[:, None]
    return y, X, drop_tiny(X, W, rule.r.size)


def _log_fine_from(rule: FactorJointRule) -> float:
    """:math:`\\log(` :data:`FINE_FROM` :math:`E[X])`."""
    return math.log(FINE_FROM * float(rule.r.size.moment(1)))


def _class_rule(rule: FactorJointRule):
    """The classes' size rule: the joint rule's (``rule.rc``) with its panels below
    :data:`X_COARSE` :math:`E[X]` merged up to :data:`X_WIDTH` wide (in log x)."""
    import copy

    rc = rule.rc
    if X_WIDTH is None:
        return rc
    hit = rule.__dict__.get("_qt_bounce_rc")
    if hit is not None:
        return hit
    e = np.asarray(rc.edges, float)
    top = math.log(X_COARSE * float(rc.size.moment(1)))
    bps = set(np.log(_size_bps(rule)).tolist()) if _size_bps(rule).size else set()
    keep = np.ones(e.size, bool)
    last = e[0]
    for i in range(1, e.size - 1):
        if e[i] < top and e[i] not in bps and e[i] - last < X_WIDTH - 1e-12:
            keep[i] = False
        else:
            last = e[i]
    r = copy.copy(rc)
    r.__dict__ = {k: v for k, v in rc.__dict__.items() if not k.startswith("_qt")}
    r.edges = e[keep]
    u, wu = panels(r.edges)
    r.px = np.exp(u)
    r.pw = wu * r.px * rc.size.pdf(r.px)
    r.npan = r.edges.size - 1
    r.x = np.concatenate([[rc.head[0]], r.px, [rc.tail[0]]])
    r.w = np.concatenate([[rc.head[1]], r.pw, [rc.tail[1]]])
    rule._qt_bounce_rc = r
    return r


# ---- compiled kernel ---------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _lst_kernel(s, G, V, Rc, starts, L, yp, ycoef, ybasis, jrow, x, w, pd, cd, bd, a, m, rd,
                shifted, waiting, out):  # pragma: no cover - compiled
    r"""For every s: :math:`\sum_q w_q \tilde V(R_q) e^{-e_q}` over the classes ``q`` with
    :math:`e_q = a_q (C(y_q) - C(d_q)) + m_q G(d_q)` (plus :math:`s x_q` unless ``shifted``;
    0 for ``waiting``), :math:`G = \eta - s` and ``V`` given on the grid (rows: the grid's
    levels, columns: the s; ``Rc``: the panel prefix integrals of ``G``, rows: the panels),
    :math:`C` the grid's cumulative integral of ``G`` and :math:`\tilde V(R_q)` interpolated at
    :math:`d_q` where ``rd`` (else at the row's :math:`y`). Per row ``j`` of predictions: panel
    ``yp``, cumulative coefficients ``ycoef`` and Lagrange basis ``ybasis`` at :math:`y_j`; per
    class the same at :math:`d_q` (``pd``, ``cd``, ``bd``). The classes are the outer loop and
    the s the inner one (each class's coefficients read once per block of s). The sums over
    the classes are compensated (Neumaier's summation of the real and imaginary parts): the
    Euler weights amplify the transform's round-off about 1e5-fold, and the plain running sum
    over the 615644 classes of the unconditional law (Exp(1) sizes, exponential predictions,
    load 0.8) left the inverted sf jittering by 4e-10 at p99 and p99.9 (std over times 1e-8
    apart: the p99 moved by 2e-8 relative with the rounding, the p99.9 by 1e-7); compensated,
    4e-12 and 3e-12."""
    ns = s.shape[0]
    ny = yp.shape[0]
    Cy = np.empty((ny, ns), np.complex128)
    Vy = np.empty((ny, ns), np.complex128)
    for j in range(ny):
        b = starts[yp[j]]
        for i in range(ns):
            c = Rc[yp[j], i]
            vv = 0.0 + 0.0j
            for k in range(L):
                c += ycoef[j, k] * G[b + k, i]
                vv += ybasis[j, k] * V[b + k, i]
            Cy[j, i] = c
            Vy[j, i] = vv
    # Neumaier's compensated sums of the real and imaginary parts
    sr = np.zeros(ns)
    si = np.zeros(ns)
    cr = np.zeros(ns)
    ci = np.zeros(ns)
    e = np.empty(ns, np.complex128)
    vq = np.empty(ns, np.complex128)
    g = np.empty(ns, np.complex128)
    vd = np.empty(ns, np.complex128)
    # |w V e^{-e}| <= w e^{-Re(s) x} (|V| <= 1, Re C rises with the level): classes below
    # SKIP_BOUND at every s of the block add nothing
    sre = np.inf
    for i in range(ns):
        sre = min(sre, s[i].real)
    for q in range(x.size):
        if not waiting and not shifted and w[q] * math.exp(-sre * x[q]) < SKIP_BOUND:
            continue
        j = jrow[q]
        b = starts[pd[q]]
        mq, aq = m[q], a[q]
        for i in range(ns):
            e[i] = 0.0
            vq[i] = Vy[j, i]
        # the grid's rows in the inner loop over s (contiguous), the same sums in the same order
        if rd[q] or mq != 0.0:
            for i in range(ns):
                g[i] = 0.0
                vd[i] = 0.0
            for k in range(L):
                bk = bd[q, k]
                for i in range(ns):
                    g[i] += bk * G[b + k, i]
                if rd[q]:
                    for i in range(ns):
                        vd[i] += bk * V[b + k, i]
            for i in range(ns):
                e[i] += mq * g[i]
            if rd[q]:
                for i in range(ns):
                    vq[i] = vd[i]
        if aq != 0.0:
            for i in range(ns):
                g[i] = Rc[pd[q], i]
            for k in range(L):
                ck = cd[q, k]
                for i in range(ns):
                    g[i] += ck * G[b + k, i]
            for i in range(ns):
                e[i] += aq * (Cy[j, i] - g[i])
        wq, xq = w[q], x[q]
        for i in range(ns):
            ee = e[i]
            if waiting:
                ee = 0.0 + 0.0j
            elif not shifted:
                ee += s[i] * xq
            if ee.real < 700.0:
                # e^{-e} as e^{-Re e}(cos Im e - i sin Im e): a fifth of the kernel's time less
                # than numba's complex exp (equal to about 1e-16 relative)
                r = wq * math.exp(-ee.real)
                z = vq[i] * complex(r * math.cos(ee.imag), -r * math.sin(ee.imag))
                xr, xi = z.real, z.imag
                tr = sr[i] + xr
                if abs(sr[i]) >= abs(xr):
                    cr[i] += (sr[i] - tr) + xr
                else:
                    cr[i] += (xr - tr) + sr[i]
                sr[i] = tr
                ti = si[i] + xi
                if abs(si[i]) >= abs(xi):
                    ci[i] += (si[i] - ti) + xi
                else:
                    ci[i] += (xi - ti) + si[i]
                si[i] = ti
    for i in range(ns):
        out[i] = complex(sr[i] + cr[i], si[i] + ci[i])


# ---- the threshold grid's reads at the classes' points (compiled) ---------------------------------
def _cum_vinv() -> np.ndarray:
    r"""The inverse of the Legendre Vandermonde matrix at the Gauss-Legendre nodes of [0, 1]
    (:math:`V_{kp} = P_p(2\tau_k - 1)`): Legendre coefficients to Lagrange ones, as in
    :func:`qtheory.engine._joint_rule._cum_basis`."""
    nodes, _ = _gl(ORDER)
    return np.linalg.inv(np.polynomial.legendre.legvander(2 * nodes - 1, ORDER - 1))


@numba.njit(cache=True, nogil=True)
def _grid_reads(edges, lo, tg, c, nodes, vinv, rden, p, coef, pi, basis):  # pragma: no cover - compiled
    r"""The panel and cumulative coefficients (``p``, ``coef``: ``TGrid.locate`` of
    :func:`qtheory.engine._joint_rule.log_tgrid`, a linear head panel on [0, ``lo``] and
    Gauss-Legendre panels on the log ``edges``) and the panel and Lagrange basis (``pi``,
    ``basis``: ``TGrid._interp``, log panels only, the point clipped into them) of each point
    ``c``. The cumulative coefficients are
    :math:`h\,t_{l}\int_0^{\xi}\ell_l` (log panels; ``lo`` :math:`\int_0^{\xi}\ell_l` on
    the head), with :math:`\int_{-1}^{y}P_0 = y + 1`,
    :math:`\int_{-1}^{y}P_n = (P_{n+1}(y) - P_{n-1}(y))/(2n + 1)` and ``vinv`` the inverse of
    the Legendre Vandermonde matrix at the nodes (the basis of ``_cum_basis``, evaluated by the
    recurrence instead of ``legval``: equal to about 1e-16)."""
    ne = edges.size
    order = nodes.size
    top = math.exp(edges[ne - 1])
    bot = math.exp(edges[0])
    P = np.empty(order + 1)
    ints = np.empty(order)
    for q in range(c.size):
        cq = c[q]
        # TGrid.locate
        for k in range(order):
            coef[q, k] = 0.0
        p[q] = 0
        if cq > 0.0:
            if cq <= lo:
                xi = cq / lo
                scale = lo
                j = -1
            else:
                uc = math.log(min(cq, top))
                j = np.searchsorted(edges, uc, side="right") - 1
                j = min(max(j, 0), ne - 2)
                h = edges[j + 1] - edges[j]
                xi = (uc - edges[j]) / h
                scale = h
            y = 2.0 * min(max(xi, 0.0), 1.0) - 1.0
            P[0] = 1.0
            P[1] = y
            for n in range(1, order):
                P[n + 1] = ((2 * n + 1) * y * P[n] - n * P[n - 1]) / (n + 1)
            ints[0] = (y + 1.0) / 2.0
            for n in range(1, order):
                ints[n] = (P[n + 1] - P[n - 1]) / (2 * n + 1) / 2.0
            for k in range(order):
                acc = 0.0
                for n in range(order):
                    acc += ints[n] * vinv[n, k]
                coef[q, k] = scale * acc
            if j >= 0:
                for k in range(order):
                    coef[q, k] *= tg[(j + 1) * order + k]
                p[q] = j + 1
        # TGrid._interp
        uc = math.log(min(max(cq, bot), top))
        j = np.searchsorted(edges, uc, side="right") - 1
        j = min(max(j, 0), ne - 2)
        xi = (uc - edges[j]) / (edges[j + 1] - edges[j])
        pi[q] = j + 1
        for k in range(order):
            b = 1.0
            for m in range(order):
                if m != k:
                    b *= (xi - nodes[m]) * rden[k, m]
            basis[q, k] = b


def grid_reads(edges: np.ndarray, tg: np.ndarray, c: np.ndarray):
    """``(p, coef, pi, basis)`` of :func:`_grid_reads` at the points ``c`` on the grid
    ``log_tgrid(edges, exp(edges[0]))`` (its nodes ``tg``)."""
    c = np.ascontiguousarray(np.asarray(c, float).reshape(-1))
    nodes, _ = _gl(ORDER)
    p = np.empty(c.size, np.int64)
    pi = np.empty(c.size, np.int64)
    coef = np.empty((c.size, ORDER))
    basis = np.empty((c.size, ORDER))
    with np.errstate(divide="ignore"):
        rden = 1.0 / (nodes[:, None] - nodes[None, :])  # the basis' denominators (diagonal unused)
    _grid_reads(np.ascontiguousarray(edges, dtype=float), math.exp(edges[0]), tg, c, nodes, _cum_vinv(),
                rden, p, coef, pi, basis)
    return p, coef, pi, basis


@numba.njit(cache=True, nogil=True)
def _reads_kernel(F, Rc, starts, L, p, coef, out):  # pragma: no cover - compiled
    r""":math:`out_{fq} = Rc_{f, p_q} + \sum_l coef_{ql} F_{f, starts_{p_q} + l}` (``Rc``
    zero: the interpolant's value), real rows ``F`` on the grid."""
    nt = F.shape[1]
    for q in range(p.size):
        b = starts[p[q]]
        for f in range(F.shape[0]):
            acc = 0.0
            for k in range(L):
                acc += coef[q, k] * F[f, min(b + k, nt - 1)]
            out[f, q] = Rc[f, p[q]] + acc


# ---- the transform ----------------------------------------------------------------------------------
def _split_edges(e: np.ndarray, parts: int, widest: float = math.inf, lowest: float = -math.inf) -> np.ndarray:
    """The edges ``e`` with each panel at most ``widest`` wide and ending above ``lowest`` cut
    in ``parts`` equal parts."""
    if parts <= 1:
        return e
    h = np.diff(e)
    n = np.where((h <= widest) & (e[1:] > lowest), parts, 1)
    f = np.concatenate([np.arange(k) / k for k in n])
    return np.concatenate([np.repeat(e[:-1], n) + np.repeat(h, n) * f, e[-1:]])


def _grid_edges(rule: FactorJointRule, top: float, conditional: bool, halve: bool) -> np.ndarray:
    """The threshold grid's log edges: the prediction route's (each panel halved if ``halve``),
    cut at ``top`` (a class) or extended by panels of the same width up to ``top`` (the
    largest level of the classes)."""
    e = np.asarray(rule.tedges, float)
    if halve:
        e = _split_edges(e, 2) if conditional else _split_edges(e, T_PARTS, lowest=_log_fine_from(rule))
    if halve:  # the bounce's laws kink at levels b/2 and b (LEVEL_KINKS)
        e = _with_level_kinks(rule, e)
    lt = math.log(top) if top > 0 else e[0]
    if conditional:
        e = np.concatenate([e[e < lt - 1e-12], [lt]])
        if e.size < 2:
            e = np.array([lt - 1.0, lt])
        return e
    if lt > e[-1]:
        h = float(np.max(np.diff(e)))
        n = math.ceil((lt - e[-1]) / h)
        e = np.concatenate([e, e[-1] + h * np.arange(1, n + 1)])
    return e


class BounceTransform:
    r"""LST and the first two moments of :math:`T` (or :math:`W`) of SRPT-Bounce (``bounce``;
    SPRPT's pieces with ``bounce=False``) on a continuous joint law :math:`Y = XZ`, for a class
    :math:`(x, y)` or unconditional.

    Parameters
    ----------
    model : qtheory.MG1
    rule : FactorJointRule
        The joint rule of the prediction route
        (:func:`qtheory.engine.response_distribution_prediction.joint_rule`).
    x, y : float or None
        A class (both) or the unconditional law (neither).
    waiting : bool
        The waiting time :math:`W` instead of :math:`T`.
    bounce : bool
        Rank :math:`|y - a|` (SRPT-Bounce) or :math:`y - a` (SPRPT, for the tests).
    """

    def __init__(self, model, rule: FactorJointRule, x=None, y=None, waiting: bool = False,
                 bounce: bool = True):
        self.lam = float(model.arrival_rate)
        self.rule = rule
        self.waiting = bool(waiting)
        self.bounce = bool(bounce)
        self.conditional = x is not None
        self.shifted = self.conditional and not self.waiting
        key = ("bounce_tables", self.bounce, None if x is None else float(x),
               None if y is None else float(y))
        cache = rule.__dict__.setdefault("_qt_setups", {})
        hit = cache.get(key)
        if hit is None:
            hit = self._tables(rule, x, y)
            while len(cache) >= _SETUPS_KEPT:
                del cache[next(iter(cache))]
            cache[key] = hit
        self.__dict__.update(hit)

    def _tables(self, rule, x, y) -> dict:
        """The load-free tables: classes, the grid, the laws at the grid's levels, and each
        class's located points."""
        if x is not None:
            ys = np.array([float(y)])
            X = np.array([[float(x)]])
            W = np.array([[1.0]])
        else:
            # SPRPT's rank: SPRPT's own classes (prediction panels with edges at the size law's
            # ends, where its residence kink x = y meets them: with the plain joint rule's the
            # mean was 1.35e-8 off on Pareto(2.5) sizes)
            ys, X, W = classes(rule) if self.bounce else _factor_classes(rule, 1.0)
        j, k = np.nonzero(W > 0)
        xq, wq = X[j, k], W[j, k]
        yq = ys[j]
        bounce = self.bounce
        if bounce:
            kind = np.where(xq <= yq, 0, np.where(xq <= 2 * yq, 1, 2))
            d = np.abs(xq - yq)
            a = np.where(kind < 2, 1.0, 0.0)
            m = np.where(kind == 1, 2.0 * (xq - yq), np.where(kind == 2, xq, 0.0))
            rd = kind == 2
            top = float(max(ys.max(), d.max()))
        else:
            d = np.maximum(yq - xq, 0.0)
            a = np.ones(xq.size)
            m = np.zeros(xq.size)
            rd = np.zeros(xq.size, bool)
            top = float(ys.max())
        edges = _grid_edges(rule, top, x is not None, bounce and HALVE)
        grid = log_tgrid(edges, math.exp(edges[0]))
        # the grid's panels, cumulative coefficients and Lagrange bases at the predictions and
        # at the classes' d (TGrid.locate and TGrid._interp, compiled)
        yp, ycoef, _, ybasis = grid_reads(edges, grid.t, ys)
        pd, cd, pdi, bd = grid_reads(edges, grid.t, d)
        if x is None:
            cut = LUMP_BELOW * float(rule.r.size.moment(1))
            Xn, Wn = lump_small(*new_law(rule, grid.t, bounce), cut)
            X1, W1 = lump_small(*old_piece(rule, grid.t, bounce), cut)
        else:
            # a class reads the grid only through C(y) - C(d): the panels from d's to y's; the
            # others get empty laws (eta = s, V = 1: they add nothing)
            on = np.zeros(grid.t.size, bool)
            p0, p1 = int(min(pd[0], yp[0])), int(max(pd[0], yp[0]))
            on[grid.starts[p0]:grid.starts[p1] + grid.L] = True
            Xs, Ws = new_law(rule, grid.t[on], bounce)
            Xo, Wo = old_piece(rule, grid.t[on], bounce)
            Xn, Wn = np.ones((grid.t.size, Xs.shape[1])), np.zeros((grid.t.size, Xs.shape[1]))
            X1, W1 = np.ones((grid.t.size, Xo.shape[1])), np.zeros((grid.t.size, Xo.shape[1]))
            Xn[on], Wn[on], X1[on], W1[on] = Xs, Ws, Xo, Wo
        exact = None
        if x is not None:
            # a class: eta and V at its R and d = x - y computed at those levels (V_v oscillates
            # in v like e^{-s v} through the old piece: interpolated at y it was 1e-6 off at
            # s = 2 + 150i), the grid only for the integral over the levels
            lv = np.array([max(float(d[0]), 1e-300), float(max(ys[0], d[0]) if bounce else ys[0])])
            exact = (lv, *new_law(rule, lv, bounce), *old_piece(rule, lv, bounce))
        # the basis and the cumulative of a point must read the same panel: the interpolation
        # clips below the first log panel (d < lo, where G is O(P(Y < lo)) = 1e-14 and m <= 2d)
        low = pd != pdi
        bd[low] = 0.0
        cd_ok = cd
        return dict(grid=grid, Xn=Xn, Wn=Wn, X1=X1, W1=W1, ys=ys, yp=yp.astype(np.int64),
                    ycoef=np.ascontiguousarray(ycoef), ybasis=np.ascontiguousarray(ybasis),
                    jrow=j.astype(np.int64), xq=xq, wq=wq, yq=yq, d=d, pd=pd.astype(np.int64),
                    cd=np.ascontiguousarray(cd_ok), bd=np.ascontiguousarray(bd), a=a, m=m, rd=rd,
                    exact=exact)

    # -- the grid's functions --------------------------------------------------------------------
    def _reads(self, f: np.ndarray, Rc: np.ndarray | None, p: np.ndarray, coef: np.ndarray) -> np.ndarray:
        """A real ``f`` (1-D or rows) read at the points (``p``, ``coef``) by the compiled
        :func:`_reads_kernel` (the sums of :meth:`_cum` and :meth:`_at`, in their order)."""
        F = np.ascontiguousarray(np.atleast_2d(f), dtype=float)
        R = np.zeros((F.shape[0], self.grid.starts.size + 1)) if Rc is None else np.atleast_2d(Rc)
        out = np.empty((F.shape[0], p.size))
        _reads_kernel(F, np.ascontiguousarray(R), self.grid.starts, self.grid.L, p, coef, out)
        return out.reshape(np.shape(f)[:-1] + (p.size,))

    def _cum(self, f: np.ndarray, p: np.ndarray, coef: np.ndarray) -> np.ndarray:
        g = self.grid
        Rc = g.panel_integrals(f)
        if np.isrealobj(f) and f.ndim <= 2:
            return self._reads(f, Rc, p, coef)
        idx = np.minimum(g.starts[p][:, None] + np.arange(g.L)[None, :], g.t.size - 1)
        return Rc[..., p] + np.einsum("...ql,ql->...q", f[..., idx], coef)

    def _at(self, f: np.ndarray, p: np.ndarray, basis: np.ndarray) -> np.ndarray:
        g = self.grid
        if np.isrealobj(f) and f.ndim <= 2:
            return self._reads(f, None, p, basis)
        idx = np.minimum(g.starts[p][:, None] + np.arange(g.L)[None, :], g.t.size - 1)
        return np.einsum("...ql,ql->...q", f[..., idx], basis)

    def _class_values(self, f: np.ndarray, y_basis_f: np.ndarray | None = None):
        """(f at y of each class's row, f at d of each class) (real arrays on the grid)."""
        fy = self._at(f, self.yp, self.ybasis)[self.jrow]
        fd = self._at(f, self.pd, self.bd)
        return fy, fd

    # -- moments -----------------------------------------------------------------------------------
    @staticmethod
    def _m(X, W, k):
        return np.sum(W * X ** k, axis=1)

    def _waiting_grid(self, laws=None):
        r"""Mean and variance of :math:`W` at the grid's levels (``laws``: at those of these
        ``(Xn, Wn, X1, W1)``; busy-period cumulants and the expansion of :math:`\tilde V`), and
        :math:`P(W = 0)`."""
        lam = self.lam
        Xn, Wn, X1, W1 = laws or (self.Xn, self.Wn, self.X1, self.W1)
        o1, o2, o3 = (self._m(Xn, Wn, k) for k in (1, 2, 3))
        p1, p2, p3 = (self._m(X1, W1, k) for k in (1, 2, 3))
        r0 = 1.0 - lam * o1
        a1, a2 = lam * p2 / (2 * r0), lam * p3 / (6 * r0)
        b1, b2 = lam * o2 / (2 * r0), lam * o3 / (6 * r0)
        ev = a1 + b1
        varv = 2 * (a2 + b2 + b1 * (a1 + b1)) - ev * ev
        ew = ev / r0
        varw = varv / r0 ** 2 + ev * lam * o2 / r0 ** 3
        return ew, varw, 1.0 - lam * (o1 + p1)

    def _at_R(self, f: np.ndarray, fe: np.ndarray | None = None) -> np.ndarray:
        """``f`` (on the grid) at each class's R; a class: ``fe`` (at its exact levels d, R)."""
        if self.exact is not None:
            return fe[..., 1:2]
        fy, fd = self._class_values(f)
        return np.where(self.rd, fd, fy)

    def _residence(self, f: np.ndarray, fe: np.ndarray | None = None) -> np.ndarray:
        r""":math:`a_q (F(y_q) - F(d_q)) + m_q f(d_q)`, :math:`F` the cumulative of ``f`` on the
        grid (a class: :math:`f(d)` from ``fe``, its exact levels)."""
        Cy = self._cum(f, self.yp, self.ycoef)[..., self.jrow]
        Cd = self._cum(f, self.pd, self.cd)
        fd = fe[..., 0:1] if self.exact is not None else self._at(f, self.pd, self.bd)
        return self.a * (Cy - Cd) + self.m * fd

    def _exact_laws(self):
        _, Xn, Wn, X1, W1 = self.exact
        return Xn, Wn, X1, W1

    def class_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of each class's :math:`T` (of :math:`W` if ``waiting``)."""
        lam = self.lam
        ex = self.exact is not None
        ew, varw, _ = self._waiting_grid()
        ewe, varwe, _ = self._waiting_grid(self._exact_laws()) if ex else (None, None, None)
        mw, vw = self._at_R(ew, ewe), self._at_R(varw, varwe)
        if self.waiting:
            return mw, vw

        def fs(Xn, Wn):
            n1, n2 = self._m(Xn, Wn, 1), self._m(Xn, Wn, 2)
            return 1.0 / (1.0 - lam * n1), lam * n2 / (1.0 - lam * n1) ** 3

        f1, f2 = fs(self.Xn, self.Wn)
        f1e, f2e = fs(*self._exact_laws()[:2]) if ex else (None, None)
        # the levels <= 0 of the residence (SPRPT's x > y: s (x - y)): no new jobs, rate 1
        length = self.a * (self.yq - self.d) + self.m
        mean = mw + self._residence(f1, f1e) + (self.xq - length)
        var = vw + self._residence(f2, f2e)
        return mean, var

    def moments(self) -> tuple[float, float]:
        """(E, E[.^2]) of the law (of ``T - x`` for a class), mixed over the classes."""
        m, v = self.class_moments()
        if self.shifted:
            m = m - self.xq
        w = self.wq
        return float(np.sum(w * m)), float(np.sum(w * (v + m * m)))

    def atom(self) -> float:
        r""":math:`P(W = 0)` (waiting time) or :math:`P(T = x)` (a class): no old work and, for
        :math:`T`, no new job ahead during the residence,
        :math:`(1 - \rho_0 - \rho_1)\exp(-\lambda\int_0^x P(Y < r(a))\,da)`."""
        ex = self.exact is not None
        _, _, p0 = self._waiting_grid()
        a0 = self._at_R(p0, self._waiting_grid(self._exact_laws())[2] if ex else None)
        if not self.waiting:
            pe = self._exact_laws()[1].sum(1) if ex else None
            a0 = a0 * np.exp(-self.lam * self._residence(self.Wn.sum(1), pe))
        return float(np.sum(self.wq * a0))

    # -- the transform -----------------------------------------------------------------------------
    def lst(self, s) -> np.ndarray:
        return li.lst_in_blocks(self._lst_block, s, _S_BLOCK)

    def grid_values(self, s: np.ndarray, laws=None) -> tuple[np.ndarray, np.ndarray]:
        r"""(:math:`\eta_v(s) - s`, :math:`\tilde V_v(\eta_v(s))`) at the grid's levels
        (``laws``: at those of these ``(Xn, Wn, X1, W1)``, in increasing order)."""
        lam = self.lam
        Xn, Wn, X1, W1 = laws or (self.Xn, self.Wn, self.X1, self.W1)
        et = busy_eta(s, lam, Xn, Wn)
        psi1 = _psi_at(et, X1, W1)
        rho = lam * (self._m(Xn, Wn, 1) + self._m(X1, W1, 1))
        # the denominator u - lam E[1 - e^{-u X^old_0}] at u = eta: X^old_0 = X^new[v] on a
        # continuous law, so it is s itself (Kendall's equation; busy_eta's root to about
        # 1e-17 relative): one sum over the new jobs' nodes fewer per s
        V = ((1.0 - rho)[None, :] * et + lam * psi1) / s[:, None]
        return et - s[:, None], V

    def _lst_block(self, s: np.ndarray) -> np.ndarray:
        if self.exact is not None:  # a class: numpy, with its exact levels
            G, _ = self.grid_values(s)
            Ge, Ve = self.grid_values(s, self._exact_laws())
            if self.waiting:
                return Ve[:, 1]
            e = self._residence(G, Ge)[:, 0]
            if not self.shifted:
                e = e + s * self.xq[0]
            return Ve[:, 1] * np.exp(-e)
        G, V = self.grid_values(s)
        Rc = np.ascontiguousarray(self.grid.panel_integrals(G).T)
        G = np.ascontiguousarray(G.T)
        V = np.ascontiguousarray(V.T)
        out = np.empty(s.size, complex)
        _lst_kernel(s, G, V, Rc, self.grid.starts, self.grid.L, self.yp, self.ycoef, self.ybasis,
                    self.jrow, self.xq, self.wq, self.pd, self.cd, self.bd, self.a, self.m,
                    self.rd, self.shifted, self.waiting, out)
        return out


# ---- entry points -----------------------------------------------------------------------------------
def supported(model, policy) -> bool:
    """SRPT-Bounce (rank shape ``"bounce"``, descriptor ``"prediction"``) on a continuous size
    law without atoms, with a finite second moment, and a multiplicative prediction law with an
    independent factor that has a density (the joint rule of the prediction route)."""
    from ..laws.joint import FactorJoint
    from ..laws.scipy_size import ScipySize

    if policy.formula_form() != "bounce" or policy.descriptor != "prediction" or model.prediction is None:
        return False
    size = model.size
    if size.is_discrete or size.is_mixed or isinstance(size, ScipySize) or np.size(size.atom_values):
        return False
    if model.prediction.is_perfect:
        return False
    if not math.isfinite(float(size.tail_moment(2, np.array(0.0)))):
        return False
    return isinstance(model.prediction.joint(size), FactorJoint)


def build(model, pol, x, y, waiting: bool):
    """The distribution object of SRPT-Bounce on a continuous joint law (dispatched from
    :func:`qtheory.engine.response_distribution_generic.build`)."""
    from . import response_distribution_prediction as rdp
    from .distribution import ResponseTimeDistribution

    rule = rdp.joint_rule(model, conditional=x is not None, width=JOINT_WIDTH)
    tr = BounceTransform(model, rule, x, y, waiting=waiting)
    label = f"{pol.name} on {model!r}" + ("" if x is None else f", x={float(x):g}, y={float(y):g}")
    if waiting:
        return ResponseTimeDistribution(tr, "waiting time, " + label, tr.atom())
    if tr.shifted:
        return ResponseTimeDistribution(tr, label, tr.atom(), shift=float(x))
    return ResponseTimeDistribution(tr, label)


__all__ = ["BounceTransform", "build", "classes", "new_law", "old_piece", "supported"]
