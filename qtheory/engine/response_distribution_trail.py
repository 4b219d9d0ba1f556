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
from ._joint_rule import FactorJointRule, drop_tiny, log_tgrid
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
#: p nodes per block of the density g_v(p) (memory: block x size nodes)
_P_BLOCK = 128


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
    :math:`f_Z` in :math:`x` and the factor's panels mapped by :math:`x = p/(1 - cz)`."""
    r = rule.r
    f = rule.f
    kinks = rule.kinks
    nodes, wgl = _gl(ORDER)
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
    # the factor's panels mapped to sizes (second term only: c z < 1)
    ze = _z_edges(f) if not one else np.empty(0)
    ze = ze[c * ze < 1.0]
    G = np.empty_like(P)
    X0 = W0 = None
    for i in range(v.size):
        vi, ki = v[i], kap[i]
        for a in range(0, P.shape[1], _P_BLOCK):
            p = P[i, a:a + _P_BLOCK][:, None]
            cuts = [p, p + ki] if not one else [p]
            for k in kinks:
                with np.errstate(divide="ignore", invalid="ignore"):
                    if k != 1.0:  # first term: 1 + (v - p)/x = k
                        cuts.append((vi - p) / (k - 1.0))
                    if not one and c * k < 1.0:  # second term: (1 - p/x)/c = k
                        cuts.append(p / (1.0 - c * k))
            if ze.size:
                cuts.append(p / (1.0 - c * ze[None, :]))
            cut = np.concatenate([np.broadcast_to(q, (p.shape[0], q.shape[1])) for q in cuts], axis=1)
            cut = np.where(np.isfinite(cut) & (cut > 0), cut, np.nan)
            if np.any((cut > r.lo) & (cut < rule.top(r))):
                X, W = rule._split(cut)
            else:  # no cut inside the size rule (p below its lower end: the graded head)
                if X0 is None:
                    X0, W0 = rule._split(np.full((1, 1), np.nan))
                X, W = np.broadcast_to(X0, (p.shape[0], X0.shape[1])), W0
            pb = np.ascontiguousarray(p[:, 0])
            Xc = np.ascontiguousarray(X)
            z = _piece_z(Xc, pb, vi, ki, c, one)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                fz = np.asarray(f.pdf(z), float)
            T = _piece_terms(Xc, np.ascontiguousarray(np.broadcast_to(W, X.shape)), pb, ki, fz,
                             0.0 if one else 1.0 / c)
            G[i, a:a + _P_BLOCK] = np.sum(T, axis=1)
    return P, Wd * G


@njit(cache=True)
def _piece_z(X: np.ndarray, p: np.ndarray, v: float, kap: float, c: float, one: bool) -> np.ndarray:
    r"""The factor's value at the size nodes ``X`` (rows: the pieces ``p``) of
    :math:`g_v(p)` (:func:`_factor_piece`): :math:`z = 1 + (v - p)/x` on the first term
    (:math:`x \le p + \kappa`), :math:`z = (1 - p/x)/c` on the second (0 where ``one``)."""
    n, m = X.shape
    z = np.empty((n, m))
    for i in range(n):
        pi = p[i]
        up = pi + kap
        for k in range(m):
            x = X[i, k]
            if x <= up:
                z[i, k] = 1.0 + (v - pi) / x
            elif one:
                z[i, k] = 0.0
            else:
                z[i, k] = (1.0 - pi / x) / c
    return z


@njit(cache=True)
def _piece_terms(X: np.ndarray, W: np.ndarray, p: np.ndarray, kap: float, fz: np.ndarray,
                 inv_c: float) -> np.ndarray:
    r"""The terms :math:`W f_Z(z)\,|dz/dp|` of :math:`g_v(p)` at the nodes ``X`` above ``p``
    (0 below; a NaN term 0 and an infinite one the largest float, as ``np.nan_to_num``):
    the Jacobian is :math:`1/x` on the first term and :math:`1/(cx)` on the second."""
    n, m = X.shape
    big = np.finfo(np.float64).max
    T = np.empty((n, m))
    for i in range(n):
        pi = p[i]
        up = pi + kap
        for k in range(m):
            x = X[i, k]
            if x > pi:
                jac = (1.0 if x <= up else inv_c) / x
                h = fz[i, k] * jac
                if h != h:
                    h = 0.0
                elif h == np.inf:
                    h = big
                elif h == -np.inf:
                    h = -big
            else:
                h = 0.0
            T[i, k] = W[i, k] * h
    return T


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


__all__ = ["TrailTransform", "old_piece"]
