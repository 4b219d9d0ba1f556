r"""Response-time and waiting-time distributions of the closed-form SOAP policies on the M/G/1.

Every built-in size-based SOAP policy (FCFS, LAS, SJF, PSJF, SRPT) gets the Laplace-Stieltjes
transform (LST) of its response time :math:`T` and of its waiting time :math:`W` (until the job
first reaches its worst future rank, for these policies the start of its service), conditional
on the job's size :math:`x` and unconditional (the prediction-based SPJF, PSPJF and SPRPT:
:mod:`qtheory.engine.response_distribution_prediction`, dispatched from here), from SOAP's
decomposition (Scully,
Harchol-Balter and Scheller-Wolf, POMACS 2018, Section 5; Kleinrock, *Queueing Systems* Vol. II,
1976, ch. 3; Schrage and Miller, Oper. Res. 14, 1966; Schrage, Oper. Res. 15, 1967):

.. math::
    E[e^{-sT} \mid x] = \tilde V_x\big(\eta_{r}(s)\big)\,
        \exp\Big(-\int_0^x \eta_{r(a)}(s)\,da\Big),\qquad
    \eta_r(s) = s + \lambda E\big[1 - e^{-\eta_r(s) X^{new}[r]}\big],

where :math:`r = r^{worst}(0)`, :math:`r(a)` the worst future rank at age :math:`a`,
:math:`\eta_r` is Kendall's functional equation of the busy period of new jobs (sizes
:math:`X^{new}[r]`) written for :math:`\eta = s + \lambda - \lambda\tilde B(s)`, and
:math:`\tilde V` is the LST of the old-job delay, an M/G/1 with arrival pieces
:math:`X^{old}_0` and one sparse piece :math:`X^{old}_1` per job (derived by rate conservation):

.. math::
    \tilde V(u) = \frac{(1 - \rho_0 - \rho_1)\,u + \lambda E[1 - e^{-u X^{old}_1}]}
                       {u - \lambda E[1 - e^{-u X^{old}_0}]}.

The transforms are inverted numerically (:mod:`qtheory.engine.laplace_inversion`, Abate-Whitt's Euler
method, absolute error about 1e-10 on the cdf); means and variances come from closed forms of the
same decomposition (cumulants of busy periods), not from the inversion.

Derivation: ``docs/response_time_distribution.md``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np

from ..laws._quadrature import ORDER, _bulk, _gl, endpoint_refinement, panels
from ..policies import Policy, get_policy
from . import _class_kinks, busy_atoms
from . import laplace_inversion as li
from . import power_series as ps
from . import response_distribution_generic as rdg
from ._psi_kernel import NO_SERIES, psi_kernel
from .distribution import ResponseTimeDistribution
from .response_distribution_generic import _psi_sum

#: panel width in log x of the size rule used for transforms (10 Gauss-Legendre nodes each):
#: FCFS and single classes use the fine width (cdf to about 1e-10 on Exp(1)); the unconditional
#: laws of the policies with a threshold per class (cost: classes x nodes) the coarse one (about
#: 3e-7, measured: docs/response_time_distribution.md)
WIDTH_FINE = 0.125
WIDTH = 0.25
#: mass left out below and above the size rule (each put on one node)
CUT = 1e-15
#: the rank shapes (``Policy.form``) of the size-based policies covered: FCFS, LAS, SJF, PSJF, SRPT
_SIZE_FORMS = ("constant", "age", "nonpreemptive", "static", "remaining")
#: Kendall's equation on the sets {X < t} of a continuous rule (:func:`busy_eta_parts`): the
#: full panels below t through J + 1 Taylor moments, recentred beyond |u - c| max(x) = R; False:
#: one exponential per node (:func:`busy_eta`, the reference route kept for the benchmark)
PREFIX_KERNEL = True
TAYLOR_J = 20
TAYLOR_R = 1.0
#: SRPT's residence (:meth:`_SizeTransform.class_factors`): the threshold rows whose Newton
#: iterate has :math:`|u|\xi_j \le` :data:`SMALL_R` through their raw moments
#: (:func:`busy_eta_parts` with ``moments``; no exponential per node); False: every row through
#: its prefix moments and own nodes (the reference route)
SMALL_ROWS = True
#: ... and the other rows whose iterate has :math:`|u|r_j` within the reach of TAYLOR_J terms
#: (:math:`r_j` the half-width of the row's own nodes) take their own nodes from their Taylor
#: moments about the nodes' centre (:func:`parts_moments`: one exponential a row instead of one
#: a node); False: one exponential per own node (the reference route)
OWN_TAYLOR = True
#: ... after at most this many terms (their reach: :math:`|u|r_j \le 2.9` below SMALL_TOL)
OWN_TERMS = 30
#: the class rows :math:`\{X < x_i\}` of the unconditional laws on a continuous rule
#: (:meth:`_SizeTransform._eta_lt`) the same way as SRPT's threshold rows (the rows kernel with
#: their raw moments, :func:`parts_moments`, cached on the rule: load-free); False: the prefix
#: kernel (the reference route; a single class, one row, keeps it): LAS, SJF, PSJF, SRPT
#: unconditional p99 at load 0.8 1.4-1.8 times faster, the cdf within 2e-11 of the reference
#: route's
LT_ROWS = True
#: unconditional laws on continuous sizes: the atoms' density part f(t) a(t) is added directly
#: and the rest inverted from the least size on (:class:`DensityAtoms`); False: the whole law
#: is inverted (the reference route, rings next to jumps of the size density)
SPLIT_ATOMS = True
#: FCFS's split: the size transform shifted by the least size c, e^{sc} E[e^{-sX}], is evaluated
#: on a rule whose panel edges accumulate at c: (ratio, top, depth), from 4c down to 1e-7 c; the
#: inversion at t - c samples it at :math:`|s|` up to about 120 / (t - c), and the damping
#: e^{-Re(s)(x - c)} keeps only x - c < 3 (t - c), so a panel there must be about (t - c) / 8
GRADE = (1.2, 4.0, 1e-7)
#: the same for the unconditional laws of LAS, PSJF and SRPT on a size law whose density jumps
#: at its lower end c > 0 (their whole rule: classes and thresholds; ratio, from 2c down to
#: 1e-6 c): next to c the cdf within about 1e-8 instead of 2e-5, at 2-3 times the cost there
#: (docs/response_time_distribution.md, section 13); not SJF, whose old piece sums over every
#: node per class (cost quadratic in the nodes: six cdf values next to c took 5 s); None: not
#: graded
GRADE_SOAP = (1.3, 2.0, 1e-6)
#: ... used for t < GRADE_NEAR c only (a second transform, built on first use): further from c the
#: two rules agree to 3e-8 (measured at 8c: LAS, PSJF, SRPT on Pareto(2.5), Uniform(1, 3),
#: bounded Pareto(1.1, 1, 1e6); 2e-7 at 5c)
GRADE_NEAR = 8.0
#: PSJF's, SRPT's and SJF's class laws (response and waiting time) on continuous sizes: the
#: terms of their kinks at multiples of x inverted apart (:mod:`qtheory.engine._class_kinks`)
CLASS_KINKS = True
#: ... whose percentile solver takes its first steps on the cheaper Euler rule
#: (:data:`~qtheory.engine.distribution.CHEAP_START`) on the same class law built on the size rule
#: of panel width TWIN_WIDTH, its threshold rows' series cut at TWIN_TOL of a row's mass
#: (``ResponseTimeDistribution(cheap=...)``, built on first use): those steps only start the full
#: rule's, which certify the percentile on the law itself (the cdf is the law's bit for bit). SRPT's
#: class x = 1 on Exp(1): threshold rows 871 -> 371. Over SJF, PSJF and SRPT classes x = 0.2, 1,
#: 1.9, 3 on Exp(1), Weibull(0.5), Uniform(0, 2) at load 0.8, p50-p99.9, a cheap step from 0.01
#: off landed within 1.7e-6 in log t of the same step on the law itself (the full rule certifies
#: a step from 1e-4 off; a width of 0.5 landed 4.3e-5 off; docs/response_time_distribution.md,
#: section 7.11). False: the cheap steps on the law itself (the reference path)
CHEAP_TWIN = True
TWIN_WIDTH = 0.35
TWIN_TOL = 1e-12
#: Euler terms for discrete size laws (kinks): n and m
EULER_N_KINKS = 1600
EULER_M_KINKS = 40


# ---- the size law as nodes -------------------------------------------------------------------
@lru_cache(maxsize=4)
def _spectral(order: int = ORDER) -> np.ndarray:
    r"""``S[j, k] = \int_0^{\xi_j} \ell_k(\xi) d\xi`` for the Gauss-Legendre nodes :math:`\xi_j` of
    [0, 1] and their Lagrange basis :math:`\ell_k`: cumulative integrals inside a panel."""
    xi, _ = _gl(order)
    V = np.polynomial.legendre.legvander(2 * xi - 1, order - 1)  # V[i, p] = P_p(y_i)
    Vinv = np.linalg.inv(V)
    ints = np.empty((order, order))
    for p in range(order):
        c = np.zeros(order)
        c[p] = 1.0
        anti = np.polynomial.legendre.legint(c, lbnd=-1)  # int_{-1}^{y} P_p
        ints[:, p] = np.polynomial.legendre.legval(2 * xi - 1, anti) / 2.0  # d xi = dy / 2
    return ints @ Vinv


class _Rule:
    r"""The size law as weighted nodes for transforms and the sets :math:`\{X < t\}`.

    Discrete laws: the atoms (exact). Continuous laws: Gauss-Legendre panels of width
    :data:`WIDTH` in :math:`\log x` between the :data:`CUT` and :math:`1-`:data:`CUT` quantiles
    (breakpoints are edges), plus one node for the mass below and one for the mass above, each
    at its conditional mean. A set :math:`\{X < t\}` is the full panels below ``t`` plus a
    Gauss-Legendre panel on :math:`[e_p, t]` (so partial integrals are exact to the rule's
    order, not step sums)."""

    def __init__(self, size, width: float = WIDTH, grade: tuple[float, float, float] | None = None):
        self.size = size
        if size.is_discrete:
            self.discrete = True
            self.x = np.asarray(size.atom_values, float)
            self.w = np.asarray(size.atom_probs, float)
            return
        if size.atom_values.size:
            raise NotImplementedError(
                f"response-time distributions on a mixed size law ({size!r}: atoms and a "
                "continuous part) are not implemented; use a discrete or a continuous law")
        self.discrete = False
        slo, shi = size.support
        lo = float(size.ppf(CUT)) if slo <= 0 else float(slo)
        lo = max(lo, float(slo))
        hi = float(size.ppf(1 - CUT)) if not math.isfinite(shi) else float(shi)
        if not (0 < lo < hi and math.isfinite(hi)):
            raise ValueError(f"cannot build a quadrature rule for {size!r} (quantile range {lo}, {hi})")
        self.lo, self.hi = lo, hi
        self.edges = _edges(size, lo, hi, width)
        if grade is not None and lo == slo:
            # edges at lo + d accumulating geometrically at the lower end of the support:
            # grade = (ratio, top, depth), d from top lo down to depth lo
            q, top, depth = grade
            d = top * lo / q ** np.arange(0, math.ceil(math.log(top / depth) / math.log(q)) + 1)
            d = d[d > depth * lo]
            self.edges = np.unique(np.concatenate([self.edges, np.log(lo + d)]))
        u, wu = panels(self.edges)
        x = np.exp(u)
        self.px, self.pw = x, wu * x * size.pdf(x)  # panel nodes, in panel order
        self.npan = self.edges.size - 1
        # the mass outside [lo, hi] on one node each (at its conditional mean)
        f_lo = float(size.cdf(lo)) if slo < lo else 0.0
        f_hi = float(size.sf(hi)) if hi < shi else 0.0
        hx = float(size.partial_moment(1, lo)) / f_lo if f_lo > 0 else 0.5 * lo
        tx = float(size.tail_moment(1, hi)) / f_hi if f_hi > 0 else hi
        self.head = (min(hx, lo), f_lo)
        self.tail = (max(tx, hi), f_hi)
        self.x = np.concatenate([[self.head[0]], x, [self.tail[0]]])
        self.w = np.concatenate([[f_lo], self.pw, [f_hi]])

    # -- the set {X < t} (strict) or {X <= t} ----------------------------------------------------
    def below(self, t, strict: bool = True) -> tuple[np.ndarray, np.ndarray]:
        r"""Nodes and weights ``(X, W)``, each of shape ``(len(t), K)``, with
        :math:`E[g(X); X < t_j] \approx \sum_k W_{jk} g(X_{jk})` (``strict=False``: ``X <= t``,
        which differs only at atoms)."""
        t = np.atleast_1d(np.asarray(t, float))
        if self.discrete:
            m = (self.x[None, :] < t[:, None]) if strict else (self.x[None, :] <= t[:, None])
            X = np.broadcast_to(self.x, (t.size, self.x.size))
            return X, np.where(m, self.w[None, :], 0.0)
        Xe, We, npre = self.below_parts(t)
        full = np.arange(self.px.size)[None, :] < npre[:, None]
        Wp = np.where(full, self.pw[None, :], 0.0)
        # the nodes with weight first (head, partial panel, full panels), so that the kernels
        # stop at each row's last weighted node
        X = np.concatenate([Xe[:, :-1], np.broadcast_to(self.px, (t.size, self.px.size)), Xe[:, -1:]], axis=1)
        W = np.concatenate([We[:, :-1], Wp, We[:, -1:]], axis=1)
        return X, W

    def below_parts(self, t) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""The sets :math:`\{X < t_j\}` of a continuous law as a prefix of the panel nodes
        (``px[:npre[j]]`` with weights ``pw``, the full panels below :math:`t_j`) and per-row
        nodes ``(Xe, We)`` of shape ``(len(t), ORDER + 2)``: the head node, the partial panel
        :math:`[e_p, t_j]` and the tail node (:meth:`below` assembles them)."""
        t = np.atleast_1d(np.asarray(t, float))
        s = self.size
        ut = np.log(np.clip(t, self.lo, self.hi))
        p = np.clip(np.searchsorted(self.edges, ut, side="right") - 1, 0, self.npan - 1)
        # the partial panel [e_p, min(t, hi)]
        pe = np.stack([self.edges[p], ut], axis=-1)
        u2, wu2 = panels(pe)
        x2 = np.exp(u2)
        w2 = wu2 * x2 * s.pdf(x2)
        inside = t > self.lo
        npre = np.where(inside, p * ORDER, 0).astype(np.int64)
        w2 = np.where(inside[:, None], w2, 0.0)
        # head: all of it when t > lo, else the mass below t at t / 2
        hw = np.where(t > self.lo, self.head[1], s.cdf(np.minimum(t, self.lo)) if self.head[1] > 0 else 0.0)
        hx = np.where(t > self.lo, self.head[0], 0.5 * t)
        tw = np.where(t > self.tail[0], self.tail[1], 0.0)
        Xe = np.concatenate([hx[:, None], x2, np.full((t.size, 1), self.tail[0])], axis=1)
        We = np.concatenate([hw[:, None], w2, tw[:, None]], axis=1)
        return Xe, We, npre


def _edges(size, lo: float, hi: float, width: float) -> np.ndarray:
    r"""Panel edges in :math:`\log x`: ``width`` inside the bulk (quantiles 1e-4 and 1 - 1e-4),
    at most ``2 width`` above it (the transforms oscillate there like :math:`e^{-i\omega x}`),
    and doubling up to 3 below it (where :math:`|s| x` is small and the mass negligible)."""
    b = _bulk(size, lo, hi) or (lo, hi)
    ulo, uhi = math.log(lo), math.log(hi)
    b0, b1 = min(max(math.log(b[0]), ulo), uhi), max(min(math.log(b[1]), uhi), ulo)
    n = max(1, math.ceil((b1 - b0) / width))
    e = list(np.linspace(b0, b1, n + 1))
    u, h = b0, width
    while u > ulo:
        h = min(2 * h, 3.0)
        u = max(u - h, ulo)
        e.append(u)
    n = max(0, math.ceil((uhi - b1) / (2 * width)))
    e += list(np.linspace(b1, uhi, n + 1))
    bps = [math.log(v) for v in endpoint_refinement(size) if lo < v < hi]
    e = np.unique(np.concatenate([e, bps]))
    keep = np.concatenate([[True], np.diff(e) > 1e-9])
    e = e[keep]
    e[-1] = uhi  # the upper end itself (not a breakpoint within 1e-9 below it: mass lost)
    return e


def _grade(size, kind: str) -> tuple[float, float, float] | None:
    """The grading ratio of the size rule of an unconditional law (:data:`GRADE_SOAP`): laws
    whose density jumps at a lower end > 0; LAS, PSJF and SRPT (FCFS's split grades only the
    size transform, :class:`DensityAtoms`)."""
    if kind in ("constant", "nonpreemptive") or not SPLIT_ATOMS or size.is_discrete or GRADE_SOAP is None:
        return None
    c = float(size.support[0])
    return GRADE_SOAP if c > 0 and float(size.pdf(c * (1 + 1e-12))) > 0 else None


def _unconditional_width(size, kind: str, grade: tuple[float, float, float] | None = None) -> float:
    r"""The panel width of the size rule of an unconditional law: :data:`WIDTH_FINE` for FCFS
    and for LAS's ungraded rule on a law whose density jumps at its lower end :math:`c`
    (:func:`_grade`), :data:`WIDTH` otherwise. LAS's split subtracts its class atoms at
    :math:`(k+1)x` (:class:`DensityAtoms`), but the rest of a class still jumps in density at
    :math:`(k+1)x + c` (a smaller job arrives during a Borel busy period), so the rest's
    transform oscillates in :math:`x` like :math:`e^{-s(k+1)x}`: on the rule of :data:`WIDTH`
    LAS's cdf at :math:`t \in [8c, 20c]` (where the rule graded at :math:`c` is no longer used)
    was 5.5e-8 (Pareto(2.5), at 9c), 2.9e-9 (Uniform(1, 3)), 1.2e-8 (bounded Pareto(1.1, 1,
    1e6)) off the blind route's split of the age rank at load 0.8; with :data:`WIDTH_FINE`
    6.1e-10, 1.7e-11 and 3e-12, at about twice the cost there."""
    if kind == "constant" or (kind == "age" and grade is None and _grade(size, kind) is not None):
        return WIDTH_FINE
    return WIDTH


def _rule(size, width: float = WIDTH, grade: tuple[float, float, float] | None = None) -> _Rule:
    cache = size.__dict__.setdefault("_qt_cache", {})
    key = ("_qt_dist_rule", width, CUT, grade)
    if key not in cache:
        cache[key] = _Rule(size, width, grade)
    return cache[key]


# ---- Kendall's functional equation -----------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _eta_kernel(s, lam, X, W, nnz, out):  # pragma: no cover - compiled
    n_s, n_t = out.shape
    for i in range(n_s):
        si = s[i]
        u = si
        u1 = si
        for j in range(n_t):
            K = nnz[j]
            if j == 0:  # one fixed-point step from s
                psi = 0.0 + 0.0j
                for k in range(K):
                    w = W[j, k]
                    if w != 0.0:
                        psi += w * (1.0 - np.exp(-si * X[j, k]))
                u = si + lam * psi
            elif j >= 2:  # the secant predictor through the last two rows' roots
                u0 = u
                u = 2.0 * u - u1
                u1 = u0
                if u.real < si.real:  # the root has Re u >= Re s
                    u = u0
            else:
                u1 = u
            prev = np.inf
            for _ in range(100):
                psi = 0.0 + 0.0j
                dpsi = 0.0 + 0.0j
                ur = u.real
                for k in range(K):
                    w = W[j, k]
                    if w == 0.0:
                        continue
                    x = X[j, k]
                    if ur * x > 46.0:  # e^{-u x} below 1e-20
                        psi += w
                        continue
                    e = np.exp(-u * x)
                    psi += w * (1.0 - e)
                    dpsi += (w * x) * e
                step = (u - si - lam * psi) / (1.0 - lam * dpsi)
                u = u - step
                err = abs(step) / abs(u)
                # Newton converges quadratically: after a step of relative size 1e-9 the error
                # is about C * 1e-18 (C = |lam psi'' / (2 (1 - lam psi'))| |u|, moderate)
                if err <= 1e-9 or (err <= 1e-7 and err >= prev):
                    break
                prev = err
            out[i, j] = u


@numba.njit(cache=True, nogil=True)
def _one_minus_exp(v):  # pragma: no cover - compiled
    # 1 - e^{-v} for Re v >= 0 without cancellation: with v = a + ib,
    # 1 - e^{-a} cos b = -expm1(-a) + 2 e^{-a} sin^2(b/2), both terms >= 0
    a, b = v.real, v.imag
    ea = np.exp(-a)
    sb = np.sin(0.5 * b)
    return complex(-np.expm1(-a) + 2.0 * ea * sb * sb, ea * np.sin(b))


@numba.njit(cache=True, nogil=True)
def _add_moments(c, px, pw, k0, k1, xs, J, E):  # pragma: no cover - compiled
    # E[0] += sum pw_k (1 - e^{-c px_k}), E[j] += sum pw_k e^{-c px_k} (px_k / xs)^j / j!
    for k in range(k0, k1):
        w = pw[k]
        if w == 0.0:
            continue
        x = px[k]
        E[0] += w * _one_minus_exp(c * x)
        term = w * np.exp(-c * x)
        r = x / xs
        for jj in range(1, J + 1):
            term = term * (r / jj)
            E[jj] += term


@numba.njit(cache=True, nogil=True)
def _taylor_moments(c, px, pw, m, xs, J, E):  # pragma: no cover - compiled
    for jj in range(J + 1):
        E[jj] = 0.0
    _add_moments(c, px, pw, np.int64(0), m, xs, J, E)


@numba.njit(cache=True, nogil=True)
def _recentre(u, c, xs, R, px, pw, m, J, E, stats):  # pragma: no cover - compiled
    # the prefix's moments about u when u is more than R / xs from their centre c
    if xs > 0.0 and abs(u - c) * xs > R:
        _taylor_moments(u, px, pw, m, xs, J, E)
        stats[0] += 1
        stats[1] += m
        return u, True
    return c, False


@numba.njit(cache=True, nogil=True)
def _psi_split(u, c, xs, E, J, Xe, We, j):  # pragma: no cover - compiled
    # psi(u) and psi'(u): the prefix from its Taylor moments about c (_psi_prefix), the row's
    # own nodes directly
    psi, dpsi = _psi_prefix(u, c, xs, E, J)
    ur = u.real
    for k in range(Xe.shape[1]):
        w = We[j, k]
        if w == 0.0:
            continue
        x = Xe[j, k]
        if ur * x > 46.0:  # e^{-u x} below 1e-20
            psi += w
            continue
        e = np.exp(-u * x)
        psi += w * (1.0 - e)
        dpsi += (w * x) * e
    return psi, dpsi


@numba.njit(cache=True, nogil=True)
def _grow(c, px, pw, m, K, xs, J, E):  # pragma: no cover - compiled
    # the prefix px[:m] -> px[:K]: the new nodes' moments about c added, the scale xs raised to
    # the prefix's largest node (E_j rescaled by (xs_old / xs_new)^j); a shrinking prefix (rows
    # not in increasing order) starts again from nothing. Returns (m, xs).
    if K < m:
        m = 0
        xs = 0.0
        for jj in range(J + 1):
            E[jj] = 0.0
    if K > m:
        new_xs = xs
        for k in range(m, K):
            if px[k] > new_xs:
                new_xs = px[k]
        if xs > 0.0 and new_xs > xs:
            f = xs / new_xs
            g = 1.0
            for jj in range(J + 1):
                E[jj] *= g
                g *= f
        xs = new_xs
        _add_moments(c, px, pw, m, K, xs, J, E)
        m = K
    return m, xs


@numba.njit(cache=True, nogil=True)
def _eta_prefix_kernel(s, lam, px, pw, npre, Xe, We, J, R, out, stats, L, npts):  # pragma: no cover
    # Kendall's equation per row j on the nodes px[:npre[j]] (a prefix of one sorted list,
    # growing with j) plus the row's own nodes Xe[j], We[j]. The prefix enters through its
    # Taylor moments about a centre c: psi_pre(u) = E_0 - sum_{j>=1} z^j E_j, z = -(u - c) xs,
    # accumulated as the prefix grows and recomputed about the current iterate when
    # |u - c| xs > R (the truncation after J terms is below R^(J+1)/(J+1)! e^R of their mass).
    # Each row starts from the polynomial through the last npts[j] rows' roots (weights L[j],
    # the last column for the row just before; npts[j] < 3: the secant through the last two)
    n_s, n_t = out.shape
    P = L.shape[1]
    E = np.empty(J + 1, np.complex128)
    for i in range(n_s):
        si = s[i]
        c = si
        m = np.int64(0)  # (a bare 0 compiled _grow and _add_moments again for Literal[int](0))
        xs = 0.0
        for jj in range(J + 1):
            E[jj] = 0.0
        u = si
        for j in range(n_t):
            m, xs = _grow(c, px, pw, m, npre[j], xs, J, E)
            if j == 0:  # one fixed-point step from s
                c, _ = _recentre(u, c, xs, R, px, pw, m, J, E, stats)
                psi, _ = _psi_split(u, c, xs, E, J, Xe, We, j)
                u = si + lam * psi
            elif j >= 2:  # the secant predictor through the last two rows' roots
                r1 = out[i, j - 1]
                r2 = out[i, j - 2]
                u = 2.0 * r1 - r2
                q = npts[j]
                if q >= 3:  # the polynomial through the last q roots, unless it strays from
                    v = 0.0 + 0.0j  # the secant by more than the last step
                    for a in range(P - q, P):
                        v += L[j, a] * out[i, j - P + a]
                    if abs(v - u) <= abs(r1 - r2):
                        u = v
                if u.real < si.real:  # the root has Re u >= Re s
                    u = r1
            prev = np.inf
            for _ in range(100):
                if u.real < si.real:  # keep the iterates where the root is (Re u >= Re s): the
                    u = complex(si.real, u.imag)  # moments about c carry e^{-Re(c) x}
                c, _ = _recentre(u, c, xs, R, px, pw, m, J, E, stats)
                psi, dpsi = _psi_split(u, c, xs, E, J, Xe, We, j)
                stats[2] += 1
                step = (u - si - lam * psi) / (1.0 - lam * dpsi)
                u = u - step
                err = abs(step) / abs(u)
                if err <= 1e-9 or (err <= 1e-7 and err >= prev):
                    break
                prev = err
            out[i, j] = u


@numba.njit(cache=True, nogil=True)
def _row_moments(px, pw, npre, Xe, We, J, N, xi, P, xsp):  # pragma: no cover - compiled
    # the raw moments of every row's nodes (the prefix px[:npre[j]] and Xe[j], We[j]) about 0,
    # N[j, i] = sum w (x / xi_j)^i / i!, xi_j their largest node, and those of the prefix alone,
    # P[j, i] = sum_{k < npre[j]} w (x / xsp_j)^i / i! (i < P.shape[1]), xsp_j its largest node:
    # accumulated as in _grow (centre 0), rescaled to xi_j, plus the row's own nodes
    J2 = P.shape[1] - 1
    E = np.zeros(J2 + 1, np.complex128)
    m = np.int64(0)
    xs = 0.0
    zero = 0.0 + 0.0j
    for j in range(npre.size):
        m, xs = _grow(zero, px, pw, m, npre[j], xs, J2, E)
        xsp[j] = xs
        for i in range(J2 + 1):
            P[j, i] = E[i].real
        top = xs
        for k in range(Xe.shape[1]):
            if We[j, k] != 0.0 and Xe[j, k] > top:
                top = Xe[j, k]
        xi[j] = top
        for i in range(J + 1):
            N[j, i] = 0.0
        if top <= 0.0:
            continue
        f = xs / top
        g = 1.0
        for i in range(1, J + 1):
            g *= f
            N[j, i] = E[i].real * g
        for k in range(Xe.shape[1]):
            w = We[j, k]
            if w == 0.0:
                continue
            term = w
            r = Xe[j, k] / top
            for i in range(1, J + 1):
                term = term * (r / i)
                N[j, i] += term


@numba.njit(cache=True, nogil=True)
def _reach(J, tol):  # pragma: no cover - compiled
    # reach[n] = (tol (n + 1)!)^(1 / (n + 1)): n terms of e^{-z} leave at most tol where |z| <= reach[n]
    out = np.empty(J + 1)
    lf = 0.0
    out[0] = 0.0
    for n in range(1, J + 1):
        lf += math.log(n + 1)
        out[n] = math.exp((math.log(tol) + lf) / (n + 1))
    return out


@numba.njit(cache=True, nogil=True)
def _terms(a2, reach2, J):  # pragma: no cover - compiled
    # the fewest terms n <= J with |z|^2 = a2 <= reach[n]^2 (J where none)
    n = 1
    while n < J and a2 > reach2[n]:
        n += 1
    return n


@numba.njit(cache=True, nogil=True)
def _psi_raw(u, xi, N, j, n):  # pragma: no cover - compiled
    # psi_j(u) = -sum_{i >= 1} z^i N[j, i], psi_j'(u) = xi sum_{i >= 1} i z^{i-1} N[j, i],
    # z = -u xi, after its first n terms (N[j, i] <= mass / i!: with n from _terms, the rest
    # below tol e^{|z|} of the row's mass)
    z = -u * xi
    acc = N[j, n] + 0.0j
    dacc = 0.0 + 0.0j
    for i in range(n - 1, 0, -1):
        dacc = dacc * z + acc
        acc = acc * z + N[j, i]
    return -z * acc, xi * (dacc * z + acc)


@numba.njit(cache=True, nogil=True)
def _binomial_moments(c, P, j, xs, J, reach2, E):  # pragma: no cover - compiled
    # the prefix's moments about c from its raw ones (a = c xs, |a| small):
    # E_i = sum_m (-a)^m C(i + m, m) P_{i + m} (i >= 1), E_0 = -sum_{m >= 1} (-a)^m P_m,
    # the sums after the terms that reach tol (|a|^m / m!)
    a = c * xs
    M = _terms(a.real * a.real + a.imag * a.imag, reach2, reach2.size - 1)
    M = min(M, P.shape[1] - 1 - J)
    q = -a
    for i in range(J + 1):
        acc = 0.0 + 0.0j
        cm = 1.0  # C(i + m, m)
        pw = 1.0 + 0.0j
        for mm in range(0, M + 1):
            if i > 0 or mm > 0:
                acc += pw * (cm * P[j, i + mm])
            pw = pw * q
            cm = cm * (i + mm + 1) / (mm + 1)
        E[i] = -acc if i == 0 else acc


@numba.njit(cache=True, nogil=True)
def _psi_prefix(u, c, xs, E, J):  # pragma: no cover - compiled
    # the prefix's part of _psi_split: psi_pre(u) = E_0 - sum_{j >= 1} z^j E_j and its derivative
    # psi_pre'(u) = xs sum_{j >= 1} j z^{j-1} E_j
    z = -(u - c) * xs
    acc = E[J]
    dacc = 0.0 + 0.0j
    for jj in range(J - 1, 0, -1):
        dacc = dacc * z + acc
        acc = acc * z + E[jj]
    return E[0] - z * acc, xs * (dacc * z + acc)


@numba.njit(cache=True, nogil=True)
def _psi_own(u, oc, orad, ocut, O, j, n, Xe, We):  # pragma: no cover - compiled
    # the row's own nodes in [oc_j - r_j, oc_j + r_j] from their moments about oc_j
    # (_own_moments): sum w (1 - e^{-u x}) = O_0 - e^{-u oc} S, sum w x e^{-u x} =
    # e^{-u oc}(oc S + r T), S = sum_i z^i O_i, T = sum_{i >= 1} i z^{i-1} O_i, z = -u r, after
    # n terms; those below ocut_j (the rule's head node) directly
    r = orad[j]
    c = oc[j]
    lo = ocut[j]
    psi = 0.0 + 0.0j
    dpsi = 0.0 + 0.0j
    for k in range(Xe.shape[1]):
        w = We[j, k]
        x = Xe[j, k]
        if w == 0.0 or x >= lo:
            continue
        e = np.exp(-u * x)
        psi += w * (1.0 - e)
        dpsi += (w * x) * e
    z = -u * r
    acc = O[j, n] + 0.0j
    dacc = 0.0 + 0.0j
    for i in range(n - 1, -1, -1):
        dacc = dacc * z + acc
        acc = acc * z + O[j, i]
    # acc = S; dacc = T (the derivative's Horner lags by one: sum_{i>=1} i z^{i-1} O_i)
    e = np.exp(-u * c)
    return psi + (O[j, 0] - e * acc), dpsi + e * (c * acc + r * dacc)


@numba.njit(cache=True, nogil=True)
def _eta_rows_kernel(s, lam, px, pw, npre, Xe, We, J, R, out, stats, L, npts, N, xi, P, xsp,
                     O, oc, orad, ocut, Rs, Rb, tol, own):  # pragma: no cover - compiled
    # _eta_prefix_kernel with the rows' raw moments (_row_moments): a row whose iterate has
    # |u| xi_j <= Rs takes psi_j from N (_psi_raw: no exponential per node); the others the
    # prefix's Taylor moments about c, started (at the first such row) from the raw moments of
    # the last row whose prefix has |c| xsp_j <= Rb (_binomial_moments) and grown from there,
    # each sum after the terms that reach tol; the magnitudes compared squared; with ``own``,
    # such a row whose |u| orad_j is within the reach of J terms takes its own nodes from their
    # moments O about oc_j (_psi_own) instead of one exponential a node
    n_s, n_t = out.shape
    Pn = L.shape[1]
    E = np.empty(J + 1, np.complex128)
    reach2 = _reach(P.shape[1] - 1, tol) ** 2
    Rs2 = Rs * Rs
    no = min(O.shape[1], reach2.size) - 1
    for i in range(n_s):
        si = s[i]
        c = si
        m = np.int64(0)
        xs = 0.0
        started = False
        for jj in range(J + 1):
            E[jj] = 0.0
        u = si
        for j in range(n_t):
            if j >= 2:  # the predictor of _eta_prefix_kernel
                r1 = out[i, j - 1]
                r2 = out[i, j - 2]
                u = 2.0 * r1 - r2
                q = npts[j]
                if q >= 3:
                    v = 0.0 + 0.0j
                    for a in range(Pn - q, Pn):
                        v += L[j, a] * out[i, j - Pn + a]
                    dv = v - u
                    d12 = r1 - r2
                    if dv.real * dv.real + dv.imag * dv.imag <= d12.real * d12.real + d12.imag * d12.imag:
                        u = v
                if u.real < si.real:
                    u = r1
            prev = np.inf
            for it in range(100):
                if u.real < si.real:
                    u = complex(si.real, u.imag)
                a2 = (u.real * u.real + u.imag * u.imag) * xi[j] * xi[j]
                if a2 <= Rs2:
                    psi, dpsi = _psi_raw(u, xi[j], N, j, _terms(a2, reach2, J))
                else:
                    if not started:  # the prefix's moments about c from the raw ones
                        started = True
                        j0 = j
                        while j0 >= 0 and abs(c) * xsp[j0] > Rb:
                            j0 -= 1
                        if j0 >= 0 and npre[j0] > 0 and npre[j0] <= npre[j]:
                            _binomial_moments(c, P, j0, xsp[j0], J, reach2, E)
                            m = npre[j0]
                            xs = xsp[j0]
                    m, xs = _grow(c, px, pw, m, npre[j], xs, J, E)
                    c, _ = _recentre(u, c, xs, R, px, pw, m, J, E, stats)
                    d = (u - c) * xs
                    n = _terms(d.real * d.real + d.imag * d.imag, reach2, J)
                    ao2 = (u.real * u.real + u.imag * u.imag) * orad[j] * orad[j]
                    if own and ao2 <= reach2[no]:
                        psi, dpsi = _psi_prefix(u, c, xs, E, n)
                        po, dpo = _psi_own(u, oc, orad, ocut, O, j, _terms(ao2, reach2, no), Xe, We)
                        psi += po
                        dpsi += dpo
                    else:
                        psi, dpsi = _psi_split(u, c, xs, E, n, Xe, We, j)
                if j == 0 and it == 0:  # one fixed-point step from s
                    u = si + lam * psi
                    continue
                stats[2] += 1
                step = (u - si - lam * psi) / (1.0 - lam * dpsi)
                u = u - step
                st2 = step.real * step.real + step.imag * step.imag
                u2 = u.real * u.real + u.imag * u.imag
                err = st2 / u2
                if err <= 1e-18 or (err <= 1e-14 and err >= prev):
                    break
                prev = err
            out[i, j] = u


@numba.njit(cache=True, nogil=True)
def _cum_exps(c, x, ec, om):  # pragma: no cover - compiled
    # e^{-c x_k} and 1 - e^{-c x_k} (no cancellation) at every node, for the moments about c
    cr = c.real
    for k in range(x.size):
        if cr * x[k] > 700.0:
            ec[k] = 0.0
            om[k] = 1.0
        else:
            ec[k] = np.exp(-c * x[k])
            om[k] = _one_minus_exp(c * x[k])


@numba.njit(cache=True, nogil=True)
def _cum_moments(x, w, xs, J, E, ec, om):  # pragma: no cover - compiled
    # E from scratch: E_0 = sum w_k (1 - e^{-c x_k}), E_j = sum w_k e^{-c x_k} (x_k / xs)^j / j!
    for jj in range(J + 1):
        E[jj] = 0.0
    for k in range(x.size):
        wk = w[k]
        if wk == 0.0:
            continue
        E[0] += wk * om[k]
        term = wk * ec[k]
        r = x[k] / xs
        for jj in range(1, J + 1):
            term = term * (r / jj)
            E[jj] += term


@numba.njit(cache=True, nogil=True)
def _cum_grow(x, ptr, idx, dw, j, xs, J, E, ec, om):  # pragma: no cover - compiled
    # row j's weights: the previous row's plus its increments dw[ptr[j]:ptr[j + 1]] at the nodes
    # idx[...]: their moments added (the scale raised to the largest node with weight, E_j
    # rescaled); returns the scale
    new_xs = xs
    for q in range(ptr[j], ptr[j + 1]):
        if x[idx[q]] > new_xs:
            new_xs = x[idx[q]]
    if xs > 0.0 and new_xs > xs:
        f = xs / new_xs
        g = 1.0
        for jj in range(J + 1):
            E[jj] *= g
            g *= f
    xs = new_xs
    for q in range(ptr[j], ptr[j + 1]):
        k = idx[q]
        d = dw[q]
        E[0] += d * om[k]
        term = d * ec[k]
        r = x[k] / xs if xs > 0.0 else 0.0  # nodes at 0 only: no moments of order >= 1
        for jj in range(1, J + 1):
            term = term * (r / jj)
            E[jj] += term
    return xs


@numba.njit(cache=True, nogil=True)
def _psi_direct(u, x, W, j):  # pragma: no cover - compiled
    psi = 0.0 + 0.0j
    dpsi = 0.0 + 0.0j
    ur = u.real
    for k in range(x.size):
        w = W[j, k]
        if w == 0.0:
            continue
        xk = x[k]
        if ur * xk > 46.0:  # e^{-u x} below 1e-20
            psi += w
            continue
        e = np.exp(-u * xk)
        psi += w * (1.0 - e)
        dpsi += (w * xk) * e
    return psi, dpsi


@numba.njit(cache=True, nogil=True)
def _cum_psi(u, c, xs, R, x, W, j, J, E, ec, om, state, d):  # pragma: no cover - compiled
    # psi_j(u), psi_j'(u) from the moments about c, recentred when |u - c| xs > R (each
    # recentring costs a pass of exponentials over the nodes) at 0.9 R / xs from u in the
    # direction d the points move (d = 0: at u; the points to come stay within R / xs of the
    # centre about twice as long); state = [recentrings, direct]: once the recentrings
    # outnumber a third of the rows (after 8), the rest of this s sums directly
    if state[1] == 0 and xs > 0.0 and abs(u - c) * xs > R:
        state[0] += 1
        if state[0] > 8 + (j + 1) // 3:
            state[1] = 1
        else:
            c = u
            ad = abs(d)
            if ad > 0.0:
                ahead = u + (0.9 * R / xs / ad) * d
                if ahead.real >= 0.5 * u.real:  # the moments carry e^{-Re(c) x}: keep Re c > 0
                    c = ahead
            _cum_exps(c, x, ec, om)
            _cum_moments(x, W[j], xs, J, E, ec, om)
    if state[1] == 1:
        psi, dpsi = _psi_direct(u, x, W, j)
        return psi, dpsi, c
    psi, dpsi = _psi_prefix(u, c, xs, E, J)
    return psi, dpsi, c


@numba.njit(cache=True, nogil=True)
def _eta_cum_kernel(s, lam, x, W, ptr, idx, dw, J, R, out, stats):  # pragma: no cover - compiled
    # Kendall's equation per row j whose weights W[j] grow with j (W[j] >= W[j - 1] on one node
    # list x): psi_j through the nodes' Taylor moments about a centre c (increments added row by
    # row, recentred about the Newton iterate when |u - c| xs > R), else as _eta_kernel
    n_s = s.size
    n_t, K = W.shape
    E = np.empty(J + 1, np.complex128)
    ec = np.empty(K, np.complex128)
    om = np.empty(K, np.complex128)
    state = np.zeros(2, np.int64)
    for i in range(n_s):
        si = s[i]
        c = si
        xs = 0.0
        for jj in range(J + 1):
            E[jj] = 0.0
        _cum_exps(c, x, ec, om)
        state[0] = 0
        state[1] = 0
        u = si
        u1 = si
        for j in range(n_t):
            if state[1] == 0:
                xs = _cum_grow(x, ptr, idx, dw, j, xs, J, E, ec, om)
            if j == 0:  # one fixed-point step from s
                psi, _, c = _cum_psi(u, c, xs, R, x, W, j, J, E, ec, om, state, 0.0j)
                u = si + lam * psi
            elif j >= 2:  # the secant predictor through the last two rows' roots
                u0 = u
                u = 2.0 * u - u1
                u1 = u0
                if u.real < si.real:  # the root has Re u >= Re s
                    u = u0
            else:
                u1 = u
            prev = np.inf
            for _ in range(100):
                if u.real < si.real:  # the root has Re u >= Re s
                    u = complex(si.real, u.imag)
                psi, dpsi, c = _cum_psi(u, c, xs, R, x, W, j, J, E, ec, om, state, 0.0j)
                step = (u - si - lam * psi) / (1.0 - lam * dpsi)
                u = u - step
                err = abs(step) / abs(u)
                if err <= 1e-9 or (err <= 1e-7 and err >= prev):
                    break
                prev = err
            out[i, j] = u
        stats[0] += state[0]
        stats[1] += state[1]


@numba.njit(cache=True, nogil=True)
def _psi_cum_kernel(U, x, W, ptr, idx, dw, J, R, out, stats):  # pragma: no cover - compiled
    # psi_j(U[i, j]) for rows whose weights grow with j, through the moments (as _eta_cum_kernel)
    n_s, n_t = U.shape
    K = x.size
    E = np.empty(J + 1, np.complex128)
    ec = np.empty(K, np.complex128)
    om = np.empty(K, np.complex128)
    state = np.zeros(2, np.int64)
    for i in range(n_s):
        c = U[i, 0]
        xs = 0.0
        for jj in range(J + 1):
            E[jj] = 0.0
        _cum_exps(c, x, ec, om)
        state[0] = 0
        state[1] = 0
        for j in range(n_t):
            if state[1] == 0:
                xs = _cum_grow(x, ptr, idx, dw, j, xs, J, E, ec, om)
            d = U[i, j] - U[i, j - 1] if j > 0 else 0.0j
            psi, _, c = _cum_psi(U[i, j], c, xs, R, x, W, j, J, E, ec, om, state, d)
            out[i, j] = psi
        stats[0] += state[0]
        stats[1] += state[1]


@numba.njit(cache=True, nogil=True)
def _psi_compensated(s, X, W, out):  # pragma: no cover - compiled
    # psi(s_i) = sum_k W_k (1 - e^{-s_i X_k}) with Neumaier's compensated sum of the real and the
    # imaginary parts: the Euler sum amplifies the transform's round-off by e^{A/2}, and a
    # running sum over ~1000 nodes carries about sqrt(1000) eps of it (FCFS's tail to ~1e-11)
    for i in range(s.size):
        si = s[i]
        sr = 0.0
        cr = 0.0
        sim = 0.0
        cim = 0.0
        for k in range(X.size):
            w = W[k]
            if w == 0.0:
                continue
            v = w * (1.0 - np.exp(-si * X[k]))
            y = v.real
            t = sr + y
            cr += (sr - t) + y if abs(sr) >= abs(y) else (y - t) + sr
            sr = t
            y = v.imag
            t = sim + y
            cim += (sim - t) + y if abs(sim) >= abs(y) else (y - t) + sim
            sim = t
        out[i] = complex(sr + cr, sim + cim)


def _mix(L: np.ndarray, w: np.ndarray) -> np.ndarray:
    r"""``L @ w`` (the classes' transforms mixed, :math:`\sum_i w_i L_{ki}`) by ``einsum``, not
    BLAS: a complex matrix times a real vector goes to a multithreaded BLAS kernel whose threads
    cost more CPU than the product (SRPT's class at load 0.8: 0.17 s of CPU against 0.11 s with
    one thread), and its sum's rounding would depend on the thread count."""
    return np.einsum("ij,j->i", L, w)


def _nnz(W: np.ndarray) -> np.ndarray:
    """Per row: one past the last non-zero weight."""
    nz = W != 0
    last = W.shape[1] - np.argmax(nz[:, ::-1], axis=1)
    return np.where(nz.any(axis=1), last, 0).astype(np.int64)


#: rows of :func:`busy_eta` and :func:`_psi_at` on one node list whose weights grow row by row
#: (nested sets :math:`\{X < t_j\}`, joint laws' :math:`P(X = x_k, Y < y_j)`) go through the
#: nodes' Taylor moments (:func:`_cum_rows`) from this many rows on; 0: never
CUM_ROWS = 4
#: ... where their increases hold at most this fraction of the nodes a row on average
CUM_DENSE = 0.125


def _cum_rows(X: np.ndarray, W: np.ndarray):
    r"""Rows ``(X, W)`` (shape ``(T, K)``) that share their nodes and whose weights grow with the
    row (:math:`W_{jk} \ge W_{j-1,k} \ge 0`) at few nodes a row (nested sets
    :math:`\{X < t_j\}`, or one set repeated), as ``(x, ptr, idx, dw)``: the node list and
    each row's increase :math:`W_j - W_{j-1}` (``dw[ptr[j]:ptr[j + 1]]`` at the nodes
    ``idx[...]``); else ``None``. Such rows are summed through the nodes' Taylor moments about a
    centre :math:`c`, :math:`\sum_k W_{jk}(1 - e^{-u x_k}) = E_0 - \sum_{m \ge 1} z^m E_m`,
    :math:`E_m = \sum_k W_{jk} e^{-c x_k}(x_k/\xi)^m/m!`, :math:`z = -(u - c)\xi` (as
    :func:`busy_eta_parts`), each row adding the moments of its increase and the centre moving
    to the current point when :math:`|u - c|\xi >` :data:`TAYLOR_R` (:math:`\xi` the largest
    node with weight): a pass of exponentials per recentring instead of one per node and
    evaluation. Where the recentrings outnumber a third of the rows (:math:`\xi` huge) the
    kernel sums directly for the rest of that :math:`s`. Rows whose increases are dense (more
    than :data:`CUM_DENSE` of the nodes a row on average) are left to the direct sums: their
    moments cost as much as the exponentials they save."""
    if CUM_ROWS <= 0 or not PREFIX_KERNEL or X.ndim != 2 or X.shape[0] < CUM_ROWS or X.shape != W.shape:
        return None
    x0 = X[0]
    if not np.array_equal(X, np.broadcast_to(x0, X.shape)):
        return None
    dW = np.diff(W, axis=0, prepend=0.0)
    if not (np.all(dW >= 0) and np.all(np.isfinite(x0)) and np.all(x0 >= 0)):
        return None
    rows, idx = np.nonzero(dW)
    T, K = W.shape
    if idx.size > max(K, CUM_DENSE * T * K):
        return None
    ptr = np.searchsorted(rows, np.arange(T + 1)).astype(np.int64)
    return (np.ascontiguousarray(x0, float), ptr, idx.astype(np.int64),
            np.ascontiguousarray(dW[rows, idx], float))


def busy_eta(s: np.ndarray, lam: float, X: np.ndarray, W: np.ndarray) -> np.ndarray:
    r""":math:`\eta(s)` with :math:`\eta = s + \lambda\psi(\eta)`,
    :math:`\psi(u) = E[1 - e^{-u X^{new}}]` for each of the ``T`` new-job laws ``(X, W)`` (rows,
    shape ``(T, K)``): Kendall's equation :math:`\tilde B(s) = \tilde X(s + \lambda - \lambda
    \tilde B(s))` for :math:`\eta = s + \lambda(1 - \tilde B(s))`. Newton's method (the map is a
    contraction, :math:`|\lambda\psi'| \le \rho^{new} < 1` on :math:`\operatorname{Re} u \ge 0`),
    started from the previous row's root (rows in increasing threshold order). Returns shape
    ``(len(s), T)``; compiled (numba)."""
    s = np.ascontiguousarray(np.asarray(s, complex).reshape(-1))
    X = np.ascontiguousarray(X, float)
    W = np.ascontiguousarray(W, float)
    out = np.empty((s.size, X.shape[0]), complex)
    cum = _cum_rows(X, W)
    if cum is not None:  # growing weights: through the nodes' Taylor moments
        _eta_cum_kernel(s, float(lam), cum[0], W, *cum[1:], TAYLOR_J, TAYLOR_R, out, np.zeros(2, np.int64))
    else:
        _eta_kernel(s, float(lam), X, W, _nnz(W), out)
    if not np.all(np.isfinite(out)):
        raise ArithmeticError("busy-period transform: Newton's method did not converge")
    return out


#: the rows of :func:`busy_eta_parts` with their thresholds given start Newton's method from the
#: polynomial (in log t) through this many previous rows' roots (within the rule's smooth
#: stretches it is within 1e-9 of the root for about 80% of the rows, where the secant through
#: two is for 30%: one Newton step instead of two); 2: the secant only
EXTRAPOLATE = 6


@numba.njit(cache=True, nogil=True)
def _extrapolation_kernel(lx, P, L, npts):  # pragma: no cover - compiled
    # _extrapolation's Lagrange weights row by row (the same products in the same order)
    n = lx.size
    w = np.empty(P)
    for q in range(3, P + 1):
        first = q
        last = n if q == P else min(q + 1, n)
        for row in range(first, last):
            x = lx[row]
            base = row - q
            for a in range(q):
                w[a] = 1.0
            for a in range(q):
                pa = lx[base + a]
                for b in range(q):
                    if a != b:
                        pb = lx[base + b]
                        w[a] *= (x - pb) / (pa - pb)
            for a in range(q):
                L[row, P - q + a] = w[a]
            npts[row] = q


def _extrapolation(at, P: int = EXTRAPOLATE) -> tuple[np.ndarray, np.ndarray]:
    r"""Lagrange weights ``L`` (shape ``(len(at), P)``) of the polynomial in :math:`\log t`
    through the ``npts[j]`` rows before row ``j`` (``L[j, P - npts[j]:]``, the last column for row
    ``j - 1``), evaluated at :math:`\log t_j`; ``npts = 0`` where ``at`` is not strictly
    increasing (the kernel's secant predictor)."""
    n = np.size(at)
    L = np.zeros((n, max(P, 1)))
    npts = np.zeros(n, np.int64)
    lx = np.log(np.asarray(at, float).reshape(-1)) if n else np.empty(0)
    if P < 3 or n < 4 or not (np.all(np.isfinite(lx)) and np.all(np.diff(lx) > 0)):
        return L, npts
    if SETUP_COMPILED:  # the same products in the same order, compiled
        _extrapolation_kernel(np.ascontiguousarray(lx), P, L, npts)
        return L, npts
    for q in range(3, P + 1):
        rows = np.arange(q, n) if q == P else np.array([q])
        rows = rows[rows < n]
        if not rows.size:
            continue
        pts = lx[rows[:, None] - q + np.arange(q)[None, :]]  # (rows, q)
        x = lx[rows]
        w = np.ones(pts.shape)
        for a in range(q):
            for b in range(q):
                if a != b:
                    w[:, a] *= (x - pts[:, b]) / (pts[:, a] - pts[:, b])
        L[rows[:, None], P - q + np.arange(q)[None, :]] = w
        npts[rows] = q
    return L, npts


def _extrapolation_cached(rule: _Rule, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":func:`_extrapolation` of the thresholds ``at``, cached on the size rule where they are
    its own nodes (the unconditional laws' classes: load-free, so a sweep over loads builds
    them once; not to be written to)."""
    at = np.asarray(at, float)
    if at.shape != rule.x.shape or not np.array_equal(at, rule.x):
        return _extrapolation(at)
    hit = rule.__dict__.get("_ex_nodes")
    if hit is None:
        hit = rule._ex_nodes = _extrapolation(at)  # (writable: numba compiles read-only arrays apart)
    return hit


def busy_eta_parts(s: np.ndarray, lam: float, rule: _Rule, parts, at=None, extrapolation=None,
                   moments=None, tol: float | None = None) -> np.ndarray:
    r""":func:`busy_eta` on the sets :math:`\{X < t_j\}` of a continuous size rule given as
    ``parts = rule.below_parts(t)`` (plus extra per-row nodes appended to ``Xe, We``), for
    increasing :math:`t_j`. The full panels below :math:`t_j` are a prefix of the rule's panel
    nodes: they enter through their Taylor moments about a centre :math:`c`,

    .. math::
        \sum_{k < m} w_k (1 - e^{-u x_k}) = \sum_{k<m} w_k - \sum_{j=0}^{J} z^j E_j,\quad
        E_j = \sum_{k<m} w_k e^{-c x_k} \frac{(x_k/\xi)^j}{j!},\quad z = -(u - c)\xi,

    (:math:`\xi` the largest :math:`x_k`), accumulated once as the prefix grows and recomputed
    about the current Newton iterate when :math:`|u - c|\xi >` :data:`TAYLOR_R`; the truncation
    is below :math:`R^{J+1}e^R/(J+1)!` (:math:`5\cdot10^{-20}`) of the prefix's mass. Each Newton
    step then costs :math:`J` products plus the row's own ``ORDER + 2`` exponentials instead of
    one exponential per node below :math:`t_j` (``docs/response_time_distribution.md``).
    ``at``: the thresholds :math:`t_j` (optional; or ``extrapolation``, their
    :func:`_extrapolation`): Newton's method starts from the polynomial through the previous
    rows' roots (fewer steps; the roots are the same to the solver's tolerance). ``moments``: the
    rows' raw moments (:func:`parts_moments`): a row whose iterate has :math:`|u|\xi_j \le`
    :data:`SMALL_R` (:math:`\xi_j` its largest node) takes
    :math:`\psi_j(u) = -\sum_{i\ge1}(-u\xi_j)^iN_{ji}`, :math:`N_{ji} = \sum_k w_k(x_k/\xi_j)^i/i!`,
    truncated where the next term's bound :math:`(|u|\xi_j)^{n+1}/(n+1)!` is below
    :data:`SMALL_TOL` (no exponential per node: the thresholds far below :math:`1/|s|`, most
    of SRPT's residence grid). ``tol``: that truncation instead of :data:`SMALL_TOL` (a class
    law's cheap twin: :data:`TWIN_TOL`)."""
    Xe, We, npre = parts
    if extrapolation is None and at is not None:
        extrapolation = _extrapolation(at)
    if extrapolation is None or np.shape(extrapolation[0])[0] != npre.size \
            or np.shape(extrapolation[1]) != (npre.size,):  # the secant predictor only
        extrapolation = (np.zeros((npre.size, 1)), np.zeros(npre.size, np.int64))
    s = np.ascontiguousarray(np.asarray(s, complex).reshape(-1))
    out = np.empty((s.size, npre.size), complex)
    stats = np.zeros(3, np.int64)
    args = (s, float(lam), np.ascontiguousarray(rule.px, float), np.ascontiguousarray(rule.pw, float),
            np.ascontiguousarray(npre, np.int64), np.ascontiguousarray(Xe, float),
            np.ascontiguousarray(We, float), TAYLOR_J, TAYLOR_R, out, stats, *extrapolation)
    if moments is None:
        _eta_prefix_kernel(*args)
    else:
        _eta_rows_kernel(*args, *moments, SMALL_R, BINOMIAL_R, SMALL_TOL if tol is None else tol, OWN_TAYLOR)
    if not np.all(np.isfinite(out)):
        raise ArithmeticError("busy-period transform: Newton's method did not converge")
    return out


#: :func:`busy_eta_parts` with ``moments``: the rows whose iterate has :math:`|u|\xi_j \le`
#: SMALL_R take their raw-moment series, truncated below SMALL_TOL of the row's mass (the bound
#: of the prefix's Taylor moments, :math:`R^{J+1}/(J+1)!` with :data:`TAYLOR_R`, :data:`TAYLOR_J`)
SMALL_R = 1.0
SMALL_TOL = 2e-20
#: ... and the other rows' prefix moments about :math:`c` start from the raw moments of the last
#: row whose prefix has :math:`|c|\max x \le` BINOMIAL_R (:math:`E_i = \sum_m (-a)^m\binom{i+m}{m}
#: P_{i+m}`, :math:`a = c\max x`, BINOMIAL_TERMS terms at most: no exponential per node
#: below it)
BINOMIAL_R = 0.5
BINOMIAL_TERMS = 20


def parts_moments(rule: _Rule, parts) -> tuple[np.ndarray, ...]:
    r"""The raw moments of the rows of ``parts`` (:meth:`_Rule.below_parts`, plus extra per-row
    nodes) for :func:`busy_eta_parts`: :math:`N_{ji} = \sum_k w_k(x_k/\xi_j)^i/i!`,
    :math:`i \le` :data:`TAYLOR_J`, over row :math:`j`'s nodes (its prefix of the rule's panel
    nodes and its own), :math:`\xi_j` their largest node, and :math:`P_{ji}` the same of its
    prefix alone (:math:`i \le` :data:`TAYLOR_J` + :data:`BINOMIAL_TERMS`, scaled by the
    prefix's largest node); load-free and :math:`s`-free."""
    Xe, We, npre = parts
    N = np.empty((npre.size, TAYLOR_J + 1))
    xi = np.empty(npre.size)
    P = np.empty((npre.size, TAYLOR_J + BINOMIAL_TERMS + 1))
    xsp = np.empty(npre.size)
    _row_moments(np.ascontiguousarray(rule.px, float), np.ascontiguousarray(rule.pw, float),
                 np.ascontiguousarray(npre, np.int64), np.ascontiguousarray(Xe, float),
                 np.ascontiguousarray(We, float), TAYLOR_J, N, xi, P, xsp)
    return (N, xi, P, xsp) + _own_moments(Xe, We)


@numba.njit(cache=True, nogil=True)
def _row_sum(a, n):  # pragma: no cover - compiled
    # a[:n].sum() in numpy's order (its pairwise sum below 128 terms: eight running sums,
    # added pairwise, then the remainder in turn), so that the compiled moments are numpy's bits
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]
    i = 8
    while i < n - n % 8:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[i]
        i += 1
    return res


@numba.njit(cache=True, nogil=True)
def _own_moments_kernel(Xe, We, O, c, r, cut):  # pragma: no cover - compiled
    # _own_moments row by row (the same operations in the same order)
    n_rows, K = Xe.shape
    term = np.empty(K)
    d = np.empty(K)
    on = np.empty(K, np.bool_)
    for j in range(n_rows):
        hi = -np.inf
        for k in range(K):
            if We[j, k] != 0.0 and Xe[j, k] > hi:
                hi = Xe[j, k]
        cj = 0.5 * hi
        cut[j] = cj
        lo = np.inf
        for k in range(K):
            on[k] = We[j, k] != 0.0 and Xe[j, k] >= cj
            if on[k] and Xe[j, k] < lo:
                lo = Xe[j, k]
        if np.isfinite(lo):
            cc = 0.5 * (lo + hi)
            rr = 0.5 * (hi - lo)
        else:
            cc = 0.0
            rr = 1.0
        if not rr > 0.0:
            rr = 1.0
        c[j] = cc
        r[j] = rr
        for k in range(K):
            d[k] = (Xe[j, k] - cc) / rr if on[k] else 0.0
            term[k] = We[j, k] if on[k] else 0.0
        O[j, 0] = _row_sum(term, K)
        for i in range(1, O.shape[1]):
            for k in range(K):
                term[k] = term[k] * d[k] / i
            O[j, i] = _row_sum(term, K)


#: a class law's set-up, :func:`_own_moments` and :func:`_extrapolation`, by compiled loops
#: (:func:`_own_moments_kernel`, :func:`_extrapolation_kernel`: the same operations in the same
#: order, the same bits; SRPT's class x = 1: 1.1 -> 0.4 ms and 0.48 -> 0.06 ms); False: numpy's
#: array operations (the reference path)
SETUP_COMPILED = True


def _own_moments(Xe: np.ndarray, We: np.ndarray) -> tuple[np.ndarray, ...]:
    r"""The moments of each row's own nodes in :math:`[x_{\max}/2, x_{\max}]` (its partial
    panel; not the rule's head node) about their centre :math:`c_j` (the middle of their least
    and largest node), :math:`O_{ji} = \sum_k w_{jk}((x_{jk} - c_j)/r_j)^i/i!`,
    :math:`i \le` :data:`TAYLOR_J`, :math:`r_j` their half-width (1 where the row has none), for
    :math:`\sum_k w_k(1 - e^{-ux_k}) = O_0 - e^{-uc_j}\sum_i(-ur_j)^iO_{ji}`
    (:data:`OWN_TAYLOR`; the nodes below :math:`x_{\max}/2` are summed directly); returns
    ``(O, c, r, x_max / 2)``."""
    Xe = np.asarray(Xe, float)
    We = np.asarray(We, float)
    if SETUP_COMPILED and Xe.shape[1] <= 128:
        n = Xe.shape[0]
        O = np.empty((n, OWN_TERMS + 1))
        c, r, cut = np.empty(n), np.empty(n), np.empty(n)
        _own_moments_kernel(np.ascontiguousarray(Xe), np.ascontiguousarray(We), O, c, r, cut)
        return O, c, r, cut
    on = We != 0.0
    hi = np.where(on, Xe, -np.inf).max(axis=1, initial=-np.inf)
    cut = 0.5 * hi
    on &= Xe >= cut[:, None]
    lo = np.where(on, Xe, np.inf).min(axis=1, initial=np.inf)
    has = np.isfinite(lo)
    lo, hi = np.where(has, lo, 0.0), np.where(has, hi, 0.0)  # a row without own nodes: no inf - inf
    c = np.where(has, 0.5 * (lo + hi), 0.0)
    r = np.where(has, 0.5 * (hi - lo), 1.0)
    r = np.where(r > 0.0, r, 1.0)
    d = np.where(on, (Xe - c[:, None]) / r[:, None], 0.0)
    O = np.empty((Xe.shape[0], OWN_TERMS + 1))
    term = np.where(on, We, 0.0)
    O[:, 0] = term.sum(axis=1)
    for i in range(1, OWN_TERMS + 1):
        term = term * d / i
        O[:, i] = term.sum(axis=1)
    return O, np.ascontiguousarray(c), np.ascontiguousarray(r), np.ascontiguousarray(cut)


def _psi_at(U, X, W):
    r""":math:`\psi_j(U_{ij}) = \sum_k W_{jk}(1 - e^{-U_{ij} X_{jk}})` (compiled)."""
    U = np.ascontiguousarray(np.asarray(U, complex))
    out = np.empty(U.shape, complex)
    W = np.ascontiguousarray(W, float)
    X = np.ascontiguousarray(X, float)
    # (the moments carry e^{-c x} with c a point of U: only where Re U > 0, as Kendall's roots)
    cum = _cum_rows(X, W) if U.ndim == 2 and U.shape[1] == X.shape[0] and np.all(U.real > 0) else None
    if cum is not None:  # growing weights: through the nodes' Taylor moments
        _psi_cum_kernel(U, cum[0], W, *cum[1:], TAYLOR_J, TAYLOR_R, out, np.zeros(2, np.int64))
    else:
        psi_kernel(U, X, W, _nnz(W), NO_SERIES, 0.0, out)
    return out


#: :func:`_psi_all` (SJF's old piece: the whole rule at every class's root) through the
#: rule's nodes in blocks of scale (:func:`_psi_blocks_kernel`); False: the moments of the
#: whole rule about one centre (:func:`_psi_cum_kernel`, the reference route)
PSI_BLOCKS = True


@numba.njit(cache=True, nogil=True)
def _block_moments(c, x, w, a, b, xs, J, E):  # pragma: no cover - compiled
    # the moments of the nodes x[a:b] about c: E_0 = sum w (1 - e^{-c x}),
    # E_j = sum w e^{-c x} (x / xs)^j / j! (e^{-c x} below e^{-700}: the node's whole weight)
    for jj in range(J + 1):
        E[jj] = 0.0
    cr = c.real
    for k in range(a, b):
        wk = w[k]
        if wk == 0.0:
            continue
        xk = x[k]
        if cr * xk > 700.0:
            E[0] += wk
            continue
        E[0] += wk * _one_minus_exp(c * xk)
        term = wk * np.exp(-c * xk)
        r = xk / xs
        for jj in range(1, J + 1):
            term = term * (r / jj)
            E[jj] += term


@numba.njit(cache=True, nogil=True)
def _psi_blocks_kernel(U, x, w, bnd, J, R, rJ, out, stats):  # pragma: no cover - compiled
    # psi(U[i, j]) = sum_k w_k (1 - e^{-U_ij x_k}) over every node (x increasing), the nodes in
    # blocks x[bnd[b]:bnd[b + 1]], each through its own Taylor moments about its own centre c_b
    # with its own scale xs_b (its largest node): recentred when |u - c_b| xs_b > R, so a block
    # of small nodes is recentred rarely and the few large nodes often (cost n_b per
    # recentring); the series truncated after the first n terms with |z| <= rJ[n] (its
    # remainder below that of J terms at |z| = R); a block whose every e^{-u x} is below 1e-20
    # adds its mass; a block recentred on more than a third of the rows (after 8) sums
    # directly for the rest of that row of U
    n_s, n_t = U.shape
    B = bnd.size - 1
    E = np.zeros((B, J + 1), np.complex128)
    C = np.empty(B, np.complex128)
    mass = np.zeros(B)
    xs = np.empty(B)
    xlo = np.empty(B)
    rec = np.zeros(B, np.int64)
    direct = np.zeros(B, np.bool_)
    for b in range(B):
        m = 0.0
        for k in range(bnd[b], bnd[b + 1]):
            m += w[k]
        mass[b] = m
        xs[b] = x[bnd[b + 1] - 1]
        xlo[b] = x[bnd[b]]
    for i in range(n_s):
        for b in range(B):
            C[b] = U[i, 0]
            rec[b] = 0
            direct[b] = xs[b] <= 0.0
            if not direct[b]:
                _block_moments(C[b], x, w, bnd[b], bnd[b + 1], xs[b], J, E[b])
        for j in range(n_t):
            u = U[i, j]
            ur = u.real
            psi = 0.0 + 0.0j
            for b in range(B):
                if ur * xlo[b] > 46.0:  # every node's e^{-u x} below 1e-20
                    psi += mass[b]
                    continue
                if direct[b]:
                    psi += _psi_sum(u, x, w, bnd[b], bnd[b + 1])
                    continue
                z = -(u - C[b]) * xs[b]
                if abs(z) > R:
                    rec[b] += 1
                    if rec[b] > 8 + (j + 1) // 3:
                        direct[b] = True
                        psi += _psi_sum(u, x, w, bnd[b], bnd[b + 1])
                        continue
                    # the new centre 0.9 R / xs ahead of u in the direction the points move
                    # (as _cum_psi), where its real part stays above half of u's
                    c = u
                    if j > 0:
                        d = u - U[i, j - 1]
                        ad = abs(d)
                        if ad > 0.0:
                            ahead = u + (0.9 * R / xs[b] / ad) * d
                            if ahead.real >= 0.5 * ur:
                                c = ahead
                    C[b] = c
                    _block_moments(c, x, w, bnd[b], bnd[b + 1], xs[b], J, E[b])
                    z = -(u - c) * xs[b]
                az = abs(z)
                n = J
                while n > 1 and az <= rJ[n - 1]:
                    n -= 1
                acc = E[b, n]
                for jj in range(n - 1, 0, -1):
                    acc = acc * z + E[b, jj]
                psi += E[b, 0] - z * acc
            out[i, j] = psi
        for b in range(B):
            stats[0] += rec[b]
            stats[1] += direct[b]


@lru_cache(maxsize=8)
def _taylor_radii(J: int, R: float) -> np.ndarray:
    r"""``rJ[n]``: the largest :math:`|z|` at which the remainder bound of the Taylor sum after
    ``n`` terms, :math:`|z|^{n+1}e^{|z|}/(n+1)!`, is at most its bound after ``J`` terms at
    :math:`|z| = R` (``rJ[J] = R``), by bisection."""
    bound = R ** (J + 1) * math.exp(R) / math.factorial(J + 1)
    out = np.zeros(J + 1)
    for n in range(1, J + 1):
        lo, hi = 0.0, R
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if mid ** (n + 1) * math.exp(mid) / math.factorial(n + 1) <= bound:
                lo = mid
            else:
                hi = mid
        out[n] = lo
    out[J] = R
    out.setflags(write=False)
    return out


def _psi_partition(x: np.ndarray, rows: int, path: float, J: int, R: float) -> np.ndarray:
    r"""The blocks of :func:`_psi_blocks_kernel`: cut points (indices into the increasing
    nodes ``x``) chosen among the octaves below the largest node by dynamic programming on a
    cost model per row of ``U``: a block of ``n`` nodes with scale :math:`\xi` costs ``rows``
    Horner sums (their length from :func:`_taylor_radii` at :math:`|z| \le \min(R, P\xi)`) and
    :math:`(1 + P\xi/R)` recentrings of ``n`` exponentials and ``J`` products each
    (:math:`P` = ``path``, the length of the row's path in the complex plane), or ``rows n``
    exponentials where that is less (the kernel's direct sums)."""
    K = x.size
    top = float(x[-1])
    if not (top > 0 and math.isfinite(top)):
        return np.array([0, K], np.int64)
    levels = top * 2.0 ** -np.arange(1, 64)
    cuts = np.unique(np.concatenate([[0, K], np.searchsorted(x, levels, side="right")]))
    cuts = cuts[(cuts >= 0) & (cuts <= K)]
    M = cuts.size
    rJ = _taylor_radii(J, R)
    xi = x[np.maximum(cuts[1:] - 1, 0)]  # the scale of a block ending before cut b
    # cost of the block [cuts[a], cuts[b]) for a < b
    n = (cuts[None, :] - cuts[:, None]).astype(float)  # (a, b)
    scale = np.broadcast_to(np.concatenate([[0.0], xi])[None, :], (M, M))
    zmax = np.minimum(R, path * scale)
    nterms = np.searchsorted(rJ[1:], zmax, side="left") + 1
    horner = rows * (nterms + 3.0)
    exp_cost = 25.0
    moments = (1.0 + path * scale / R) * n * (J + exp_cost)
    cost = np.minimum(horner + moments, rows * n * exp_cost)
    cost = np.where(n > 0, cost, np.inf)
    best = np.full(M, np.inf)
    best[0] = 0.0
    arg = np.zeros(M, np.int64)
    for b in range(1, M):
        c = best[:b] + cost[:b, b]
        a = int(np.argmin(c))
        best[b], arg[b] = c[a], a
    out = [M - 1]
    while out[-1] > 0:
        out.append(int(arg[out[-1]]))
    return cuts[np.array(out[::-1])].astype(np.int64)


def _psi_all(U: np.ndarray, rule: _Rule) -> np.ndarray:
    r""":math:`\psi(U_{ij}) = \sum_k w_k(1 - e^{-U_{ij} x_k})` on the whole size rule at every
    point of ``U`` (shape ``(n, T)``; SJF's old piece :math:`X 1\{X > x\}` of each class
    :math:`j`; the same sums as :func:`_psi_at` on ``T`` copies of the rule).

    For each row of ``U`` (one :math:`s`, the classes in increasing order: a path in the
    complex plane) the nodes are summed in blocks of scale, each through its Taylor moments
    about its own centre :math:`c_b`,
    :math:`\sum_{k \in b} w_k(1 - e^{-u x_k}) = E_0 - \sum_{m \ge 1} z^m E_m`,
    :math:`z = -(u - c_b)\xi_b` (:func:`busy_eta_parts`), recentred where
    :math:`|u - c_b|\xi_b >` :data:`TAYLOR_R`: the one-centre sum (:func:`_psi_cum_kernel`)
    recentres all nodes as often as the largest one needs (on Weibull(0.5), largest node
    about 630, it fell back to direct sums: one exponential per node and class), the blocks
    only the few large nodes (:func:`_psi_blocks_kernel`, :func:`_psi_partition`). The
    truncation is the same (:func:`_taylor_radii`)."""
    U = np.ascontiguousarray(np.asarray(U, complex))
    out = np.empty(U.shape, complex)
    if PSI_BLOCKS and PREFIX_KERNEL and U.ndim == 2 and U.shape[1] >= CUM_ROWS > 0 \
            and np.all(U.real > 0):
        cache = rule.__dict__.setdefault("_psi_all_nodes", {})
        if "x" not in cache:
            order = np.argsort(rule.x, kind="stable")
            cache["x"] = np.ascontiguousarray(rule.x[order], float)
            cache["w"] = np.ascontiguousarray(rule.w[order], float)
        x, w = cache["x"], cache["w"]
        if x.size and np.all(np.isfinite(x)) and x[0] >= 0:
            path = float(np.mean(np.sum(np.abs(np.diff(U, axis=1)), axis=1)))
            # the partition depends on the path's length through its octave only
            key = (U.shape[1], int(math.floor(math.log2(path))) if path > 0 else -99, TAYLOR_J, TAYLOR_R)
            if key not in cache:
                cache[key] = _psi_partition(x, U.shape[1], 2.0 ** (key[1] + 1) if path > 0 else 0.0,
                                            TAYLOR_J, TAYLOR_R)
            _psi_blocks_kernel(U, x, w, cache[key], TAYLOR_J, TAYLOR_R, _taylor_radii(TAYLOR_J, TAYLOR_R),
                               out, np.zeros(2, np.int64))
            return out
    cache = rule.__dict__.setdefault("_psi_all_rows", {})
    T = U.shape[1]
    key = (T, CUM_ROWS, CUM_DENSE, PREFIX_KERNEL)  # (the switches _cum_rows reads)
    if key not in cache:
        X = np.ascontiguousarray(np.broadcast_to(rule.x, (T, rule.x.size)), float)
        W = np.ascontiguousarray(np.broadcast_to(rule.w, (T, rule.w.size)), float)
        cache[key] = (X, W, _cum_rows(X, W), _nnz(W))
    X, W, cum, nnz = cache[key]
    if cum is not None and np.all(U.real > 0):  # as _psi_at
        _psi_cum_kernel(U, cum[0], W, *cum[1:], TAYLOR_J, TAYLOR_R, out, np.zeros(2, np.int64))
    else:
        psi_kernel(U, X, W, nnz, NO_SERIES, 0.0, out)
    return out


# ---- the transforms of one policy ------------------------------------------------------------
def min_pair_moment_finite(size, k: int) -> bool:
    r"""Whether :math:`E[\min(X_1, X_2)^k] = \int_0^\infty k t^{k-1} \bar F(t)^2\,dt` is finite
    (:math:`X_1, X_2` independent copies of the size).

    It is where :math:`E[X^k]` is; else, on a tail :math:`\bar F(t) \sim C t^{-\alpha}`,
    where :math:`k < 2\alpha`. The index :math:`\alpha` is the Pareto parameter, or else read
    off the survival function far in the tail,
    :math:`\alpha \approx \ln(\bar F(t_1)/\bar F(t_2)) / \ln(t_2/t_1)` at the
    :math:`1 - 10^{-10}` and :math:`1 - 10^{-14}` quantiles; ``NotImplementedError`` where that
    estimate is within 0.05 of :math:`k/2` (the answer would be a guess). Used for the waiting
    part of SOAP's second moment: :math:`E[W^2 \mid x]` grows like
    :math:`E[\min(X, x)^3]` (docs/response_time_distribution.md)."""
    if math.isfinite(float(size.moment(k))):
        return True
    alpha = getattr(size, "_alpha", None) if type(size).__name__ in ("Pareto",) else None
    if alpha is None:
        t1, t2 = (float(size.ppf(1.0 - q)) for q in (1e-10, 1e-14))
        s1, s2 = float(size.sf(t1)), float(size.sf(t2))
        if not (0 < t1 < t2 < math.inf and s1 > 0 and s2 > 0):
            raise NotImplementedError(
                f"E[min(X1, X2)^{k}] on {size!r}: E[X^{k}] is infinite and the tail index could "
                "not be read off the survival function; not implemented")
        alpha = math.log(s1 / s2) / math.log(t2 / t1)
        if abs(k - 2 * alpha) < 0.05:
            raise NotImplementedError(
                f"E[min(X1, X2)^{k}] on {size!r}: the tail index {alpha:.3g} is too close to "
                f"{k / 2} to decide whether it is finite; not implemented")
    return k < 2 * float(alpha)


def soap_moment_infinite(size, kind: str, n: int, waiting: bool) -> bool:
    r"""Whether :math:`E[T^n]` (``waiting``: :math:`E[W^n]`) of the unconditional law of a
    size-based SOAP policy is infinite on ``size``, where the size rule's truncation would give
    a finite class sum.

    * the response time: :math:`T \ge X`, so :math:`E[X^n] = \infty` makes it infinite;
    * LAS, PSJF, SRPT (``age``, ``static``, ``remaining``): the old work a job of size
      :math:`x` meets has :math:`E[V^n \mid x]` of the order of :math:`E[\min(X, x)^{n+1}]`
      (P-K's :math:`\lambda E[\min(X,x)^{n+1}]/((n+1)(1-\rho_x))` and lower products), and
      :math:`\int E[\min(X, x)^{n+1}]\,dF(x) = E[\min(X_1, X_2)^{n+1}]`: infinite exactly
      where that is (:func:`min_pair_moment_finite`); the response time contains that wait
      (PSJF, SRPT) or the same busy-period moments (LAS);
    * FCFS and SJF: their class sums carry :math:`E[X^{n+1}]` and
      :math:`E[X^{n+1}; X > x]` exactly (already ``inf``).
    """
    if size.is_discrete:
        return False
    if not waiting and not math.isfinite(float(size.moment(n))):
        return True
    if kind in ("age", "static", "remaining"):
        return not min_pair_moment_finite(size, n + 1)
    return False


class _SizeTransform:
    r"""LST and the first two moments of :math:`T` (or :math:`W`) for a size-based policy, at
    job sizes ``xs`` with weights ``ws`` (the unconditional law: the size rule; one class:
    ``xs = [x], ws = [1]``)."""

    def __init__(self, model, policy: Policy, xs, ws, waiting: bool = False, unconditional: bool = False,
                 grade: tuple[float, float, float] | None = None, width: float | None = None):
        self.lam = float(model.arrival_rate)
        self.size = model.size
        self.policy = policy
        self._model = model
        self.kind = policy.formula_form()  # the rank shape: one of _SIZE_FORMS
        #: the truncation of SRPT's threshold rows' series (:func:`busy_eta_parts`; ``None``:
        #: :data:`SMALL_TOL`; a class's cheap twin: :data:`TWIN_TOL`)
        self.tol = None if width is None else TWIN_TOL
        if width is None:  # the size rule's panel width (a class's cheap twin: WIDTH, _build_size)
            width = _unconditional_width(model.size, self.kind, grade) if unconditional else WIDTH_FINE
        self.rule = _rule(model.size, width, grade)
        self.unconditional = unconditional
        #: one class, response time: the transform of T - x (no jump of the law inside (0, inf))
        self.shifted = (not waiting) and not unconditional and np.size(xs) == 1
        self.xs = np.asarray(xs, float)
        self.ws = np.asarray(ws, float)
        self.waiting = waiting
        if waiting and self.kind == "age":
            raise NotImplementedError(
                "LAS: the time until first service is not SOAP's waiting time (a new job has "
                "the least rank and starts at once unless jobs of age 0 wait); not implemented")
        r = self.rule
        #: the sets {X < x} of a continuous rule as prefix + own nodes (busy_eta_parts)
        self._parts_lt = None
        #: the dense rows of the sets {X < x}, {X <= x} (:attr:`Xlt` ...), built on first use
        self._dense = None
        #: per class: P(X < x), E[X; X < x], P(X <= x), E[X; X <= x] on the rule
        self._sums = None
        if self.kind != "constant":  # FCFS needs no sets {X < x} (its transform is P-K's)
            if r.discrete:
                self._dense_rows()
            else:
                Xe, We, npre = r.below_parts(self.xs)
                # the row sums of the sets {X < x} from their prefix form (cumulative sums)
                cw = np.concatenate([[0.0], np.cumsum(r.pw)])
                cxw = np.concatenate([[0.0], np.cumsum(r.px * r.pw)])
                p_lt = cw[npre] + We.sum(1)
                m_lt = cxw[npre] + (Xe * We).sum(1)
                self._sums = (p_lt, m_lt, p_lt, m_lt)
                if self.kind == "age":  # min(X, x): the mass P(X >= x) at x
                    Xe = np.concatenate([Xe, self.xs[:, None]], axis=1)
                    We = np.concatenate([We, np.maximum(1.0 - p_lt, 0.0)[:, None]], axis=1)
                self._parts_lt = (Xe, We, npre)
        if self.kind == "remaining" and not waiting:
            self._grid = self._srpt_grid()
            t = self._grid[0]
            #: the thresholds that are classes (the unconditional law: all of them) take the
            #: classes' busy-period transforms instead of solving Kendall's equation again
            k = np.minimum(np.searchsorted(self.xs, t), self.xs.size - 1)
            self._grid_in_classes = k if np.all(self.xs[k] == t) else None
            if self._grid_in_classes is None:
                self._grid_parts = None if r.discrete else r.below_parts(t)

    def _dense_rows(self) -> tuple:
        r"""``(Xlt, Wlt, Xle, Wle)``: the sets :math:`\{X < x_i\}` and :math:`\{X \le x_i\}` as
        dense rows (:meth:`_Rule.below`; the direct kernels' input), built on first use."""
        if self._dense is None:
            r = self.rule
            Xlt, Wlt = r.below(self.xs, strict=True)
            # X <= x differs from X < x at atoms only
            Xle, Wle = r.below(self.xs, strict=False) if r.discrete else (Xlt, Wlt)
            self._dense = (Xlt, Wlt, Xle, Wle)
            if self._sums is None:
                self._sums = (Wlt.sum(1), np.sum(Xlt * Wlt, axis=1), Wle.sum(1), np.sum(Xle * Wle, axis=1))
        return self._dense

    Xlt = property(lambda self: self._dense_rows()[0])
    Wlt = property(lambda self: self._dense_rows()[1])
    Xle = property(lambda self: self._dense_rows()[2])
    Wle = property(lambda self: self._dense_rows()[3])

    # -- SRPT's residence: thresholds t in (0, x) ------------------------------------------------
    def _srpt_grid(self):
        r"""Threshold nodes ``t`` and a linear map ``Q = M @ g(t)`` with
        :math:`Q_i = \int_0^{x_i} g(t)\,dt` for a smooth (continuous laws) or piecewise constant
        (discrete laws: ``g`` left-continuous, thresholds at the atoms) function ``g``."""
        xs = self.xs
        r = self.rule
        if r.discrete:
            a = r.x
            t = np.unique(np.concatenate([a, xs]))
            # on (t_{k-1}, t_k] the strict set below t is the set below t_k (no atom inside)
            lens = np.diff(np.concatenate([[0.0], t]))
            M = (t[None, :] <= xs[:, None]) * lens[None, :]
            return t, M
        if self.unconditional:
            return self._srpt_grid_nodes()
        # continuous: panels from lo to each x; one grid with every x an edge
        top = float(xs.max())
        lo = r.lo
        edges = list(r.edges[r.edges < math.log(top)])
        edges += [math.log(v) for v in xs if v > lo]
        e = np.unique(np.clip(np.asarray(edges + [math.log(lo)]), math.log(lo), None))
        if e.size < 2:
            e = np.array([math.log(lo), math.log(max(top, lo * (1 + 1e-9)))])
        u, wu = panels(e)
        tp = np.exp(u)
        npan = e.size - 1
        # Q(x) = min(x, lo) g(lo / 2) + full panels up to the edge x: below lo the strict load is
        # the mass below lo (none where lo is the least size: g = 1 there exactly; g at the
        # first panel node instead, lo (1 + 1e-6) on a graded rule, put the whole load of
        # [lo, t_0) on [0, lo): 6e-7 too much in E[T | x] on Pareto(2.5) at load 0.8)
        t = np.concatenate([[0.5 * lo], tp])
        full = (e[1:][None, :] <= np.log(np.maximum(xs, lo))[:, None] + 1e-15)
        M = np.concatenate([np.minimum(xs, lo)[:, None],
                            np.repeat(full, ORDER, axis=1) * (wu * tp)[None, :]], axis=1)
        # x below lo: nothing else
        M[xs <= lo, 1:] = 0.0
        self._npan = npan
        return t, M

    def _srpt_grid_nodes(self):
        r"""The grid for the classes at the rule's own nodes (head, panel nodes, tail): the
        thresholds are the panel nodes (and the tail node); inside a panel the cumulative
        integral uses the spectral integration matrix of its Gauss-Legendre nodes. It depends on
        the rule only: built once per rule (read-only; a sweep over loads reuses it)."""
        r = self.rule
        if "_srpt_grid_nodes" in r.__dict__:
            return r._srpt_grid_nodes
        S = _spectral()
        _, wgl = _gl(ORDER)
        h = np.diff(r.edges)
        n = r.px.size
        # thresholds: the head node (below lo), the panel nodes, the tail node
        t = np.concatenate([[r.head[0]], r.px, [r.tail[0]]])
        M = np.zeros((r.x.size, t.size))
        dt = r.px  # dt = t du
        # below lo: the value at the head node times the length (the strict load below lo is
        # the head's mass, none where lo is the least size; the first panel node instead put
        # the load of [lo, t_0) on [0, lo): 6e-7 too much in E[T] on Pareto(2.5) at load 0.8)
        M[0, 0] = r.head[0]
        M[1:, 0] = r.lo
        full = np.zeros(n)
        for p in range(r.npan):
            sl = slice(p * ORDER, (p + 1) * ORDER)
            sl1 = slice(1 + p * ORDER, 1 + (p + 1) * ORDER)
            M[sl1, 1:n + 1] += full[None, :]
            M[sl1, sl1] += h[p] * S * dt[sl][None, :]
            full[sl] = h[p] * wgl * dt[sl]
        # the tail node: every panel, then (x_tail - hi) at the threshold x_tail
        M[-1, 1:n + 1] = full
        M[-1, n + 1] = r.tail[0] - r.hi
        t.setflags(write=False)
        M.setflags(write=False)
        r._srpt_grid_nodes = (t, M)
        return t, M

    # -- moments ---------------------------------------------------------------------------------
    def _pieces(self):
        r"""Per class: :math:`\rho_0`, :math:`E[(X^{old}_0)^k]`, :math:`\rho_1`,
        :math:`E[(X^{old}_1)^k]` (k = 2, 3), :math:`\rho^{new}`, :math:`E[(X^{new})^2]`."""
        s, x = self.size, self.xs
        pm = s.partial_moment
        k = self.kind
        if k == "constant":
            z = np.zeros_like(x)
            m = [np.full_like(x, s.moment(j)) for j in (1, 2, 3)]
            return m, [z, z, z], z, z
        if k == "age":
            m = [s.mean_min(j, x) for j in (1, 2, 3)]
            z = np.zeros_like(x)
            return m, [z, z, z], m[0], m[1]
        old0 = [pm(j, x) for j in (1, 2, 3)]
        new1, new2 = pm(1, x, strict=True), pm(2, x, strict=True)
        if k == "static":
            z = np.zeros_like(x)
            return old0, [z, z, z], new1, new2
        if k == "nonpreemptive":
            old1 = [s.tail_moment(j, x) for j in (1, 2, 3)]
            return old0, old1, new1, new2
        # SRPT: the sparse piece x 1{X > x}
        sf = s.sf(x)
        return old0, [x * sf, x * x * sf, x ** 3 * sf], new1, new2

    def _class_moments(self):
        """Mean and variance of W (or T) for every class."""
        lam, x = self.lam, self.xs
        (o1, o2, o3), (p1, p2, p3), n1, n2 = self._pieces()
        with np.errstate(divide="ignore", invalid="ignore"):
            r0 = 1.0 - lam * o1
            a1, a2 = lam * p2 / (2 * r0), lam * p3 / (6 * r0)
            b1, b2 = lam * o2 / (2 * r0), lam * o3 / (6 * r0)
            ev = a1 + b1
            ev2 = 2 * (a2 + b2 + b1 * (a1 + b1))
            varv = ev2 - ev * ev
            rn = 1.0 - lam * n1
            ew = ev / rn
            varw = varv / rn ** 2 + ev * lam * n2 / rn ** 3
        if self.waiting:
            return ew, varw
        k = self.kind
        if k in ("constant", "nonpreemptive"):
            r1, r2 = x, np.zeros_like(x)
        elif k in ("age", "static"):
            r1, r2 = x / rn, x * lam * n2 / rn ** 3
        else:  # SRPT: integrals over t in (0, x) of the strict loads
            t, M = self._grid
            s = self.size
            rt = 1.0 - lam * s.partial_moment(1, t, strict=True)
            r1 = M @ (1.0 / rt)
            r2 = M @ (lam * s.partial_moment(2, t, strict=True) / rt ** 3)
        return ew + r1 - (x if self.shifted else 0.0), varw + r2

    def moments(self) -> tuple[float, float]:
        """(E, E[.^2]) averaged over the classes (inf where infinite)."""
        m, v = self._class_moments()
        w = self.ws
        tail = self._tail_classes()
        if tail is not None:  # the tail node replaced by the classes of the power tail
            xt, wt, mt, vt = tail
            m, v, w = np.concatenate([m[:-1], mt]), np.concatenate([v[:-1], vt]), np.concatenate([w[:-1], wt])
        with np.errstate(invalid="ignore"):
            mean = float(np.sum(np.where(w > 0, m * w, 0.0)))
            second = float(np.sum(np.where(w > 0, (v + m * m) * w, 0.0)))
        if self.unconditional:  # the rule's truncated tail makes a divergent class sum finite
            if soap_moment_infinite(self.size, self.kind, 1, self.waiting):
                return math.inf, math.inf
            if soap_moment_infinite(self.size, self.kind, 2, self.waiting):
                second = math.inf
        return mean, second

    def _tail_classes(self):
        r"""The unconditional law on a power tail (some :math:`E[X^k]`, k <= 5, infinite): the
        classes above the rule's top hi (the 1 - 1e-15 quantile) on Gauss-Legendre panels of
        width 4 in log x up to :math:`hi\,e^{60}` plus one node at the conditional mean beyond,
        ``(x, w, mean, var)``, for the moments (the rule's one tail node gets :math:`E[X]` right,
        not :math:`E[X^2]`: SRPT's :math:`E[T^2]` on Pareto(2.5) was 3.6e-4 low); else None."""
        r = self.rule
        if not self.unconditional or r.discrete or not r.tail[1] > 0 or \
                all(math.isfinite(float(self.size.moment(k))) for k in range(1, 6)):
            return None
        hit = self.__dict__.get("_tail_cls")
        if hit is None:
            e = math.log(r.hi) + np.linspace(0.0, 60.0, 16)
            u, wu = panels(e)
            x = np.exp(u)
            top = math.exp(e[-1])
            wl = float(self.size.sf(top))
            xl = float(self.size.tail_moment(1, top)) / wl if wl > 0 else top
            xs = np.concatenate([x, [max(xl, top)]])
            ws = np.concatenate([wu * x * self.size.pdf(x), [wl]])
            tr = _SizeTransform(self._model, self.policy, xs, ws, waiting=self.waiting)
            m, v = tr._class_moments()
            hit = self._tail_cls = (xs, ws, m, v)
        return hit

    def _piece_moments(self, n: int):
        r"""Per class, :math:`E[(X^{old}_0)^k]`, :math:`E[(X^{old}_1)^k]` (k = 1..n + 1) and
        :math:`E[(X^{new})^k]` (k = 1..n), shape ``(len(xs), K)``: exact partial moments of the
        size law."""
        s, x = self.size, self.xs
        pm = s.partial_moment
        k = self.kind
        ks = range(1, n + 2)

        def stack(f, kk=ks):
            return np.stack([np.broadcast_to(np.asarray(f(j), float), x.shape) for j in kk], axis=-1)

        zero = np.zeros(x.shape + (n + 1,))
        if k == "constant":
            return stack(s.moment), zero, np.zeros(x.shape + (n,))
        if k == "age":
            mm = stack(lambda j: s.mean_min(j, x))
            return mm, zero, mm[..., :n]
        old0 = stack(lambda j: pm(j, x))
        new = stack(lambda j: pm(j, x, strict=True), range(1, n + 1))
        if k == "static":
            return old0, zero, new
        if k == "nonpreemptive":
            return old0, stack(lambda j: s.tail_moment(j, x)), new
        sf = s.sf(x)
        return old0, stack(lambda j: x ** j * sf), new

    def class_series(self, n: int) -> np.ndarray:
        r"""The transform of every class (of :math:`T - x` when ``shifted``) as a power series in
        :math:`s` to order ``n`` (shape ``(len(xs), n + 1)``):
        :math:`\tilde V(\eta(s))\,e^{-R(s)}` with
        :math:`\tilde V(u) = \frac{1 - \rho_0 - \rho_1 + \lambda\psi_1(u)/u}{1 - \lambda\psi_0(u)/u}`,
        :math:`\eta` Kendall's series of the new jobs and :math:`R` the residence exponent
        (:math:`sx`; LAS, PSJF: :math:`x\eta(s)`; SRPT: :math:`\int_0^x \eta_{<t}(s)\,dt`)."""
        lam, x, k = self.lam, self.xs, self.kind
        o, p, m_new = self._piece_moments(n)
        with np.errstate(invalid="ignore"):
            num = lam * ps.psi_over_u(p)
            num[..., 0] += 1.0 - lam * (o[..., 0] + p[..., 0])
            den = -lam * ps.psi_over_u(o)
            den[..., 0] += 1.0
            V = ps.mul(num, ps.recip(den))
            eta = ps.kendall(lam, m_new)
            W = ps.compose(V, eta)
        if self.waiting:
            return W
        sx = np.zeros(x.shape + (n + 1,))
        if n >= 1:
            sx[..., 1] = x
        if k in ("constant", "nonpreemptive"):
            R = sx
        elif k in ("age", "static"):
            R = x[:, None] * eta
        else:
            t, M = self._grid
            mt = np.stack([self.size.partial_moment(j, t, strict=True) for j in range(1, n + 1)], axis=-1)
            R = M @ ps.kendall(lam, mt)
        if self.shifted:
            R = R - sx
        with np.errstate(invalid="ignore"):
            return ps.mul(W, ps.exp(-R))

    def raw_moments(self, n: int) -> np.ndarray:
        r""":math:`E[T'^k]`, k = 0..n, of the law (``T' = T - x`` for a class), mixed over the
        classes: :math:`(-1)^k k!` times the series coefficients (:meth:`class_series`); ``inf``
        from the first order whose size moments diverge (FCFS: :math:`E[X^{k+1}]`; SJF:
        :math:`E[X^{k+1}; X > x]`), and of an unconditional law from the first order that
        :func:`soap_moment_infinite` proves infinite. An order of LAS, PSJF or SRPT's
        unconditional law below that one on a continuous size law with
        :math:`E[X^{n+1}] = \infty` raises ``NotImplementedError`` (finite, but the size rule's
        truncation would misstate it)."""
        n = n_out = int(n)
        s = self.size
        if self.unconditional:  # the orders that provably diverge (soap_moment_infinite)
            for j in range(1, n + 1):
                if soap_moment_infinite(s, self.kind, j, self.waiting):
                    n = j - 1  # from here on inf (out keeps the caller's length)
                    break
        kmax = n
        if self.kind in ("constant", "nonpreemptive") or self.unconditional:
            for j in range(1, n + 1):
                if not math.isfinite(float(s.moment(j + 1))):
                    kmax = j - 1
                    break
        if kmax < n and self.unconditional and self.kind not in ("constant", "nonpreemptive") \
                and not s.is_discrete:
            raise NotImplementedError(
                f"moment({n}) of {self.policy.name}'s unconditional law on {s!r}: E[X^{kmax + 2}] "
                "is infinite, and whether this moment is finite depends on the tail; not implemented")
        c = self.class_series(max(kmax, 0))
        m = ps.moments_of(c)
        with np.errstate(invalid="ignore"):
            mix = np.where(self.ws[:, None] > 0, m * self.ws[:, None], 0.0).sum(0)
        out = np.full(n_out + 1, math.inf)
        out[: kmax + 1] = mix
        return out

    # -- the transform ---------------------------------------------------------------------------
    def lst(self, s) -> np.ndarray:
        r""":math:`\sum_i w_i E[e^{-sT} \mid x_i]` for a complex array ``s`` (any shape)."""
        s = np.asarray(s, complex)
        flat = s.reshape(-1)
        if self.kind == "constant" and self.unconditional and not self.waiting:
            # FCFS: T = W + X with W, X independent: P-K times the size's transform,
            # \sum_i w_i e^{-s x_i} = \sum_i w_i - \psi(s) on the same rule (no class loop)
            S = flat[:, None]
            r = self.rule
            psi = np.empty(flat.size, complex)
            _psi_compensated(np.ascontiguousarray(flat), np.ascontiguousarray(r.x, float),
                             np.ascontiguousarray(r.w, float), psi)
            psi = psi[:, None]
            rho = self.lam * float(r.x @ r.w)
            with np.errstate(invalid="ignore", divide="ignore"):
                v = np.where(S == 0, 1.0, (1 - rho) * S / (S - self.lam * psi))
            return (v * (float(self.ws.sum()) - psi))[:, 0].reshape(s.shape)
        return _mix(self.lst_classes(flat), self.ws).reshape(s.shape)

    def _class_constants(self) -> dict:
        """The per-class loads and masses of :meth:`lst_classes` (computed once)."""
        c = self.__dict__.get("_consts")
        if c is None:
            lam, x = self.lam, self.xs
            c = {}
            p_lt, m_lt, p_le, m_le = self._sums
            if self.kind == "age":  # min(X, x): the set below x plus the mass P(X >= x) at x
                c["rho_age"] = lam * (m_lt + x * np.maximum(1.0 - p_lt, 0.0))
            else:
                c["rho0"] = lam * m_le
                c["p_le"] = p_le
                c["atom"] = p_le - p_lt
            self._consts = c
        return c

    def _joint_grid(self):
        r"""SRPT, one class :math:`x` above every threshold of its grid, on a continuous rule: the
        prefix form of the sets :math:`\{X < t_j\}` and :math:`\{X < x\}` together (and the
        extrapolation weights), so that one call of Kendall's kernel solves both; else ``None``."""
        if "_joint" not in self.__dict__:
            self._joint = None
            if (self.xs.size == 1 and self._grid_in_classes is None and PREFIX_KERNEL
                    and self.__dict__.get("_grid_parts") is not None and self._parts_lt is not None):
                t = self._grid[0]
                if float(self.xs[0]) > float(t[-1]):
                    (Xg, Wg, ng), (Xc, Wc, nc) = self._grid_parts, self._parts_lt
                    parts = (np.concatenate([Xg, Xc]), np.concatenate([Wg, Wc]), np.concatenate([ng, nc]))
                    self._joint = (parts, _extrapolation(np.concatenate([t, self.xs])))
        return self._joint

    def _age_rows(self) -> tuple[np.ndarray, np.ndarray]:
        r"""LAS: the rows of :math:`\min(X, x)`, the set below x plus P(X >= x) at x (dense)."""
        X = np.concatenate([self.Xlt, self.xs[:, None]], axis=1)
        W = np.concatenate([self.Wlt, (1.0 - self.Wlt.sum(1))[:, None]], axis=1)
        W[:, -1] = np.maximum(W[:, -1], 0.0)
        return X, W

    def _eta_lt(self, s: np.ndarray) -> np.ndarray:
        r"""Kendall's equation of every class's new jobs (:math:`X < x`; LAS
        :math:`\min(X, x)`; on a continuous rule from their prefix form,
        :func:`busy_eta_parts`, else the dense rows)."""
        if self._parts_lt is not None and PREFIX_KERNEL:
            if self.__dict__.get("_ex_lt") is None:
                self._ex_lt = _extrapolation_cached(self.rule, self.xs)
            return busy_eta_parts(s, self.lam, self.rule, self._parts_lt, extrapolation=self._ex_lt,
                                  moments=self._lt_moments() if LT_ROWS and self.unconditional else None)
        X, W = self._age_rows() if self.kind == "age" else (self.Xlt, self.Wlt)
        return busy_eta(s, self.lam, X, W)

    def _lt_moments(self):
        r"""The raw moments of the class rows :math:`\{X < x_i\}` (:func:`parts_moments`,
        :data:`LT_ROWS`): load-free, so those of an unconditional law (its classes the rule's
        own nodes) are cached on the rule, per rank shape (LAS's rows carry the mass
        :math:`P(X \ge x)` at :math:`x`): a sweep over loads and the other policies on the
        same law build them once (not to be written to)."""
        r = self.rule
        if not (self.xs.shape == r.x.shape and np.array_equal(self.xs, r.x)):
            return self._moments("_lt_mom", self._parts_lt)
        key = "_lt_mom_age" if self.kind == "age" else "_lt_mom"
        hit = r.__dict__.get(key)
        if hit is None:
            hit = r.__dict__[key] = parts_moments(r, self._parts_lt)
        return hit

    def lst_classes(self, s: np.ndarray, offset: float = 0.0) -> np.ndarray:
        r"""Shape ``(len(s), len(xs))``: the transform of every class, times
        :math:`e^{s c}` for ``offset`` :math:`c \le \min x_i` (the transform of :math:`T - c`;
        every class's exponent carries :math:`-s x_i`, so no factor overflows)."""
        lam, x, k = self.lam, self.xs, self.kind
        S = s[:, None]
        # min(c, x_i): a class below c (the rule's head node, weight 0 where c is the least size)
        Sc = S * np.minimum(offset, x)[None, :] if offset else 0.0
        r = self.rule
        if k == "constant":
            psi = _psi_at(np.broadcast_to(S, (s.size, 1)), r.x[None, :], r.w[None, :])
            rho = lam * float(r.x @ r.w)
            v = (1 - rho) * S / (S - lam * psi)
            v = np.where(S == 0, 1.0, v)
            if self.waiting or self.shifted:
                return np.broadcast_to(v, (s.size, x.size))
            return v * np.exp(Sc - S * x[None, :])
        if k == "age":
            c = self._class_constants()
            # min(X, x): the set below x plus the mass P(X >= x) at x
            eta = self._eta_lt(s)
            # V = P-K with min(X, x) at u = eta: (1 - rho) eta / (eta - lam psi(eta)) = (1 - rho) eta / s
            v = (1 - c["rho_age"])[None, :] * eta / S
            return v * np.exp(Sc - x[None, :] * (eta - S if self.shifted else eta))
        _, v, expo = self.class_factors(s)
        if expo is None:
            return v if self.shifted or self.waiting else v * np.exp(Sc - S * x[None, :])
        return v * np.exp(Sc - expo)

    def class_factors(self, s: np.ndarray):
        r"""SJF, PSJF and SRPT: ``(eta, v, expo)`` of shape ``(len(s), len(xs))`` with the class
        transform :math:`v\,e^{-\mathrm{expo}}` (``expo`` ``None``: :math:`v` alone for the waiting
        time, :math:`v e^{-sx}` for SJF): :math:`\eta = \eta_{<x}(s)` of the new jobs,
        :math:`v = \tilde V(\eta)` the waiting time's transform and the residence exponent
        :math:`x\eta` (PSJF) or :math:`\int_0^x \eta_{<t}\,dt` (SRPT), less :math:`sx` for a
        shifted class (the transform of :math:`T - x`)."""
        lam, x, k = self.lam, self.xs, self.kind
        S = s[:, None]
        r = self.rule
        c = self._class_constants()
        et = None
        if k == "remaining" and not self.waiting and self._joint_grid() is not None:
            # one class above every threshold: its row is the grid's last (one kernel call)
            parts, ex = self._joint_grid()
            both = busy_eta_parts(s, lam, r, parts, extrapolation=ex, moments=self._moments("_joint_mom", parts),
                                  tol=self.tol)
            eta, et = both[:, -1:], both[:, :-1]
        else:
            eta = self._eta_lt(s)  # new jobs: X < x
        # psi_<=(eta) = psi_<(eta) + the atom at x (discrete laws) = (eta - s)/lam + atom
        psi_le = (eta - S) / lam
        if r.discrete:
            psi_le = psi_le + c["atom"][None, :] * (1 - np.exp(-eta * x[None, :]))
        rho0, p_le = c["rho0"], c["p_le"]
        if k == "static":
            num = (1 - rho0)[None, :] * eta
        elif k == "nonpreemptive":
            # X_1 = X 1{X > x}: psi_1 = psi_all - psi_<=
            psi_all = _psi_all(eta, r)
            rho = lam * float(r.x @ r.w)
            num = (1 - rho) * eta + lam * (psi_all - psi_le)
        else:  # SRPT: X_1 = x 1{X > x}
            sf = np.maximum(1.0 - p_le, 0.0)
            rho1 = lam * x * sf
            num = (1 - rho0 - rho1)[None, :] * eta + lam * sf[None, :] * (1 - np.exp(-eta * x[None, :]))
        v = num / (eta - lam * psi_le)
        if self.waiting or k == "nonpreemptive":
            return eta, v, None
        if k == "static":
            return eta, v, x[None, :] * (eta - S if self.shifted else eta)
        t, M = self._grid
        if et is not None:
            pass
        elif self._grid_in_classes is not None:
            et = eta[:, self._grid_in_classes]
        elif self._grid_parts is not None and PREFIX_KERNEL:
            if self.__dict__.get("_ex_grid") is None:
                self._ex_grid = _extrapolation(t)
            et = busy_eta_parts(s, lam, r, self._grid_parts, extrapolation=self._ex_grid,
                                moments=self._moments("_grid_mom", self._grid_parts), tol=self.tol)
        else:
            if self.__dict__.get("_grid_rows") is None:  # dense rows, built on first use
                self._grid_rows = r.below(t, strict=True)
            et = busy_eta(s, lam, *self._grid_rows)
        Q = self._integrate(et - S if self.shifted else et)  # M @ 1 = x: the shift is exact
        return eta, v, Q

    def _moments(self, name: str, parts):
        r"""The raw moments of SRPT's threshold rows ``parts`` (:func:`parts_moments`, cached
        as ``name``) where :data:`SMALL_ROWS`, else ``None``."""
        if not SMALL_ROWS:
            return None
        if self.__dict__.get(name) is None:
            self.__dict__[name] = parts_moments(self.rule, parts)
        return self.__dict__[name]

    def _integrate(self, g: np.ndarray) -> np.ndarray:
        r"""``g @ M.T`` (:math:`Q_i = \int_0^{x_i} g`, ``g`` of shape ``(n, len(t))``) through the
        structure of ``M`` where it has one: the unconditional law's grid (cumulative panel sums
        plus the spectral integration matrix inside each panel, :meth:`_srpt_grid_nodes`) and
        discrete laws (a cumulative sum of the steps); O(classes x ORDER) instead of a dense
        product."""
        t, M = self._grid
        r = self.rule
        if r.discrete:
            lens = np.diff(np.concatenate([[0.0], t]))
            pos = np.searchsorted(t, self.xs, side="right") - 1
            C = np.cumsum(g * lens[None, :], axis=1)
            return np.where(pos[None, :] >= 0, C[:, np.maximum(pos, 0)], 0.0)
        if not self.unconditional:
            return np.einsum("ij,kj->ik", g, M)  # (not BLAS: _mix)
        n = r.px.size
        npan = r.npan
        h = np.diff(r.edges)
        _, wgl = _gl(ORDER)
        G = (g[:, 1:n + 1] * r.px[None, :]).reshape(g.shape[0], npan, ORDER)  # dt = t du
        inner = np.einsum("ipj,kj->ipk", G, _spectral()) * h[None, :, None]  # (not BLAS: _mix)
        panel = np.einsum("ipj,j->ip", G, wgl) * h[None, :]
        before = np.cumsum(panel, axis=1) - panel
        Q = np.empty((g.shape[0], n + 2), g.dtype)
        Q[:, 0] = r.head[0] * g[:, 0]
        Q[:, 1:n + 1] = (before[:, :, None] + inner).reshape(g.shape[0], n) + r.lo * g[:, :1]
        Q[:, n + 1] = panel.sum(1) + r.lo * g[:, 0] + (r.tail[0] - r.hi) * g[:, n + 1]
        return Q


# ---- entry points ----------------------------------------------------------------------------
_GENERIC_MSG = ("{name}: the response-time distribution of this policy is not implemented: it is "
                "neither one of the closed-form policies (FCFS, LAS, SJF, PSJF, SRPT, SPJF, PSPJF, "
                "SPRPT, TRAIL) nor a SOAP rank of the generic route "
                "(qtheory.engine.response_distribution_generic)")


def _check(model, policy, x):
    pol = get_policy(policy)
    form = pol.formula_form()
    if x is not None:
        x = np.asarray(x, float)
        if x.ndim != 0 or not (math.isfinite(float(x)) and float(x) > 0):
            raise ValueError(f"x must be one finite size > 0, got x={x!r}")
    if form == "sharing":  # not SOAP: M/M/1-PS in closed form (response_distribution_ps)
        return pol
    if pol.descriptor == "prediction" and (form in ("nonpreemptive", "static", "remaining")
                                           or pol.declares("response_transform")):
        return pol
    if rdg.is_generic(pol):  # SRPT-Bounce, Gittins, user ranks: response_distribution_generic
        return pol
    if pol.descriptor == "prediction" or form not in _SIZE_FORMS:
        raise NotImplementedError(_GENERIC_MSG.format(name=pol.name))
    return pol


def _euler(discrete: bool) -> tuple[float, int, int]:
    # discrete sizes: the law has kinks (and jumps) at sums of the atoms, where the Euler sum of
    # the Fourier series converges like n^-2 only: 1600 terms reach 1e-9 at distance 0.5 from
    # a kink (docs/response_time_distribution.md, accuracy); the transforms are cheap there
    return (li.EULER_A, EULER_N_KINKS, EULER_M_KINKS) if discrete else (li.EULER_A, li.EULER_N, li.EULER_M)


def _build_prediction(model, pol, x, y, waiting: bool) -> ResponseTimeDistribution:
    r"""SPJF, PSPJF, SPRPT (:mod:`qtheory.engine.response_distribution_prediction`): a class
    needs both ``x`` and ``y``; perfect predictions on a continuous size law use the size-based
    transform of the same rank shape (exact: :math:`Y = X`)."""
    from . import response_distribution_prediction as rdp

    if (x is None) != (y is None):
        raise ValueError(f"{pol.name}: pass both x and y (a job class: size and prediction) or "
                         f"neither (the unconditional law), got x={x!r}, y={y!r}")
    if y is not None:
        yv = np.asarray(y, float)
        if yv.ndim != 0 or not (math.isfinite(float(yv)) and float(yv) >= 0):
            raise ValueError(f"y must be one finite prediction >= 0, got y={y!r}")
        y = float(yv)
    rule = rdp.joint_rule(model, conditional=x is not None)
    own = pol.declares("response_transform")  # the policy's own transform (TRAIL)
    if rule is None and own:
        raise NotImplementedError(f"{pol.name}: perfect predictions on a continuous size law are "
                                  "not covered (use qt.EmpiricalPairs or a prediction law)")
    if rule is None:  # perfect predictions, continuous sizes: the size-based policy
        if y is not None and y != float(x):
            raise NotImplementedError(f"{pol.name} with perfect predictions: a class needs y == x "
                                      f"(got x={x!r}, y={y!r})")
        return _build_size(model, pol, x, waiting)
    if own:
        tr = pol.response_transform(model, rule, x, y, waiting=waiting)
    else:
        from . import response_distribution_prediction_outer as rdo

        # a factor with kinks, unconditional: the classes mixed over x outside (the rows' e^{-sx}
        # oscillate in y: 2e-4 off in PSPJF's cdf with uniform errors)
        cls = rdo.OuterPredictionTransform if rdo.applies(rule, x, waiting) else rdp.PredictionTransform
        tr = cls(model, pol, rule, x, y, waiting=waiting)
    euler = _euler(rule.discrete)
    label = f"{pol.name} on {model!r}" + ("" if x is None else f", x={float(x):g}, y={y:g}")
    if waiting:
        return ResponseTimeDistribution(tr, "waiting time, " + label, tr.atom(), euler=euler)
    if tr.shifted:
        return ResponseTimeDistribution(tr, label, tr.atom(), shift=float(x), euler=euler,
                                        atoms=tr.atom_list() if rule.discrete else None)
    if rule.discrete:  # each class (x, y)'s atoms, times its probability; T >= X
        X = tr.Xc[tr.Wc > 0]
        return ResponseTimeDistribution(tr, label, euler=euler, atoms=tr.atom_list(),
                                        lower=float(X.min()))
    split = rdp.density_split(model, pol, tr)  # own transforms: TRAIL's only
    # a split whose rest kinks (sizes with a lower end c: at c + the size range's sums) asks for
    # the finer Euler rule where the default one's truncation estimate is large
    refine = True if getattr(split, "refine_rest", False) else None
    # a split may name its distribution class (the outer rule's: with cdf_error)
    cls = getattr(split, "distribution", ResponseTimeDistribution)
    return cls(tr, label, euler=euler, split=split, refine=refine)


def _build(model, policy, x, y, waiting: bool) -> ResponseTimeDistribution:
    pol = _check(model, policy, x)
    if pol.formula_form() == "sharing":
        from .response_distribution_ps import ps_distribution

        if y is not None:
            raise ValueError(f"{pol.name} does not use predictions: pass x only (got y={y!r})")
        return ps_distribution(model, x, waiting)
    if rdg.is_generic(pol):
        eq = model._exact_equivalent(pol) if not model.size.is_discrete else pol
        if eq is pol:
            return rdg.build(model, pol, x, y, waiting)
        if pol.descriptor == "prediction" and eq.descriptor != "prediction":
            y = None  # perfect predictions (y = x): the size twin's class x
        pol = eq  # Gittins on a monotone-hazard law schedules as FB or FCFS: their transforms
    if pol.descriptor == "prediction":
        return _build_prediction(model, pol, x, y, waiting)
    if y is not None:
        raise ValueError(f"{pol.name} does not use predictions: pass x only (got y={y!r})")
    return _build_size(model, pol, x, waiting)


def _build_size(model, pol, x, waiting: bool, width: float | None = None) -> ResponseTimeDistribution:
    size = model.size
    if x is None and size.is_discrete and np.size(size.atom_values) == 1:
        # one size d: the unconditional law is the class x = d's, inverted as d + (T - d) with
        # its atom P(T = d) exact (ppf at and below that mass is d, not a point near the jump)
        d = float(np.asarray(size.atom_values, float)[0])
        tr = _SizeTransform(model, pol, np.array([d]), np.array([1.0]), waiting=waiting)
        label = f"{pol.name} on {model!r}"
        if waiting:
            return ResponseTimeDistribution(tr, "waiting time, " + label, _waiting_atom(tr),
                                            euler=_euler(True))
        return ResponseTimeDistribution(tr, label, _class_atom(tr), shift=d, euler=_euler(True),
                                        atoms=_above(_unconditional_atoms(tr), d))
    if x is None:
        r = _rule(model.size, _unconditional_width(model.size, pol.formula_form()))
        xs, ws = r.x, r.w
        label = f"{pol.name} on {model!r}"
    else:
        xs, ws = np.array([float(x)]), np.array([1.0])
        label = f"{pol.name} on {model!r}, x={float(x):g}"
    tr = _SizeTransform(model, pol, xs, ws, waiting=waiting, unconditional=x is None, width=width)
    euler = _euler(model.size.is_discrete)
    # one class of PSJF, SRPT or SJF on a continuous law: the terms of its kinks at kx apart
    kinks = CLASS_KINKS and x is not None and not model.size.is_discrete and _class_kinks.applies(tr)
    # ... and the percentile solver's cheap steps on the same class law on the coarser size rule
    # (CHEAP_TWIN)
    twin = None
    if kinks and CHEAP_TWIN and width is None:
        def twin():
            return _build_size(model, pol, x, waiting, width=TWIN_WIDTH)
    if waiting:
        atom = _waiting_atom(tr)
        return ResponseTimeDistribution(tr, "waiting time, " + label, atom, euler=euler,
                                        split=_class_kinks.class_split(tr, atom) if kinks else None,
                                        cheap=twin)
    if tr.shifted:
        if model.size.is_discrete:
            atoms = _above(_unconditional_atoms(tr), float(x))
        else:
            atoms = _las_class_atoms(model, pol, float(x), _class_atom(tr))
        split = _class_kinks.class_split(tr, _class_atom(tr)) if kinks else None
        return ResponseTimeDistribution(tr, label, _class_atom(tr), shift=float(x), euler=euler,
                                        atoms=atoms, split=split, cheap=twin)
    if model.size.is_discrete:  # T >= X >= the least size
        return ResponseTimeDistribution(tr, label, euler=euler, atoms=_unconditional_atoms(tr),
                                        lower=float(np.min(tr.xs)))
    if x is None and SPLIT_ATOMS:  # the atoms' density part directly (DensityAtoms)
        grade = _grade(model.size, tr.kind)
        near = None
        if grade is not None:  # next to the least size: the same law on a graded rule
            def near():
                rg = _rule(model.size, WIDTH, grade)
                return DensityAtoms(_SizeTransform(model, pol, rg.x, rg.w, unconditional=True, grade=grade))
        return ResponseTimeDistribution(tr, label, euler=euler, split=DensityAtoms(tr, near))
    return ResponseTimeDistribution(tr, label, euler=euler)


def _borel(q, k):
    r""":math:`q^k (k+1)^{k-1}/k!`: LAS's atom at :math:`(k+1)x` relative to the one at
    :math:`x`, with :math:`q = \lambda x \bar F(x) e^{-\lambda x}` (:func:`_las_class_atoms`);
    ``k`` an integer or an integer array broadcasting against ``q``."""
    if np.ndim(k) == 0:
        return np.asarray(q, float) ** k * float(k + 1) ** (k - 1) / math.factorial(int(k))
    k = np.asarray(k, int)
    table = _borel_coefficients(int(k.max()) if k.size else 0)
    coef = table[k.reshape(-1)].reshape(k.shape)
    return np.asarray(q, float) ** k * coef


@lru_cache(maxsize=4)
def _borel_coefficients(kmax: int) -> np.ndarray:
    r""":math:`(k+1)^{k-1}/k!` for k = 0..``kmax`` (read-only; :func:`_borel`'s arithmetic)."""
    out = np.array([float(v + 1) ** (v - 1) / math.factorial(v) for v in range(max(kmax, 0) + 1)])
    out.setflags(write=False)
    return out


def _las_class_atoms(model, pol, x: float, atom0: float) -> list[tuple[float, float]] | None:
    r"""LAS on a continuous size law: the atoms of :math:`T(x)` at :math:`nx`, :math:`n \ge 2`.
    Every arrival during the job's residence runs up to age :math:`x`, so a job of size
    :math:`\ge x` adds exactly :math:`x`; with no smaller arrival the residence is a busy
    period of such jobs started by :math:`x` (Borel):

    .. math::
        P(T(x) = nx) = (1-\rho_x)\,e^{-\lambda n x}\,
            \frac{(\lambda \bar F(x)\, n x)^{n-1}}{n!},\qquad
        \rho_x = \lambda E[\min(X, x)]

    (:func:`qtheory.engine.busy_atoms.extension_law` with the smaller jobs' rate as ``kill``;
    ``docs/response_time_distribution.md`` section 2). ``None`` for the other policies, whose
    new jobs either run to completion or not at all."""
    if pol.formula_form() != "age":
        return None
    p = float(model.size.sf(x))
    if not p > 0:
        return None
    lam = float(model.arrival_rate)
    law = busy_atoms.extension_law(lam, x, [x], [p], kill=lam * (1.0 - p))
    g0 = law[0.0]
    return [(x + v, m) for v, m in busy_atoms.to_atoms([law], [0.0], [atom0 / g0]) if v > 0]


def _above(atoms, c: float) -> list[tuple[float, float]]:
    """The atoms above ``c`` (the one at ``c`` is the law's ``atom0``)."""
    return [(a, m) for a, m in atoms if a > c]


def _class_atom(tr: _SizeTransform) -> float:
    r""":math:`P(T = x)` of one class (:func:`_class_atoms`)."""
    return float(_class_atoms(tr)[0])


def _class_atoms(tr: _SizeTransform) -> np.ndarray:
    r""":math:`P(T = x_i \mid x_i)` for every class :math:`x_i` of ``tr`` (:func:`atom_mass`)."""
    return atom_mass(tr.size, tr.lam, tr.kind, tr.xs)


def atom_mass(size, lam: float, kind: str, x) -> np.ndarray:
    r""":math:`a(x) = P(T = x \mid x)`, the probability that a job of size :math:`x` neither
    waits nor is interrupted: no old work and no new arrival that would run first,

    .. math::
        a(x) = (1 - \rho_0(x) - \rho_1(x))\,
            e^{-\lambda \int_0^x P(X^{new}[r(a)] > 0)\,da}

    (FCFS, SJF: :math:`1 - \rho`; LAS: :math:`(1 - \lambda E[\min(X, x)])e^{-\lambda x}`;
    PSJF: :math:`(1 - \lambda E[X; X \le x])e^{-\lambda x P(X < x)}`; SRPT:
    :math:`(1 - \lambda E[X; X \le x] - \lambda x P(X > x))e^{-\lambda(x P(X < x) - E[X; X < x])}`).
    It is :math:`\lim_{s\to\infty} e^{s x} E[e^{-sT} \mid x]` of the class transform
    (``docs/response_time_distribution.md``, atoms; rank shape ``kind`` as ``Policy.form``)."""
    x = np.asarray(x, float)
    if kind in ("constant", "nonpreemptive"):
        return np.full(x.shape, 1.0 - lam * float(size.mean))
    if kind == "age":
        return (1.0 - lam * size.mean_min(1, x)) * np.exp(-lam * x)
    p0 = 1.0 - lam * size.partial_moment(1, x)
    if kind == "static":
        return p0 * np.exp(-lam * x * size.cdf(x, strict=True))
    # SRPT: the sparse piece x 1{X > x}; int_0^x P(X < t) dt = x P(X < x) - E[X; X < x]
    p0 = p0 - lam * x * size.sf(x)
    integral = x * size.cdf(x, strict=True) - size.partial_moment(1, x, strict=True)
    return p0 * np.exp(-lam * integral)


#: :meth:`DensityAtoms.rest_lst`: the classes' atoms subtracted by a compiled sum over the
#: orders each class needs (:func:`_atoms_lst_kernel`); False: one matrix of exponentials per
#: order (the reference route)
ATOMS_KERNEL = True


def _atoms_table(ak: list, ws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``(C, kmax)`` for :func:`_atoms_lst_kernel`: ``C[j, k]`` the atom :math:`a_k(x_j)` of
    class ``j`` at :math:`(k+1)x_j` and ``kmax[j]`` the last order whose weighted term
    :math:`w_j a_k(x_j)` can reach :math:`10^{-22}` (:math:`|e^{-s(\cdot)}| \le 1` on
    :math:`\operatorname{Re}s \ge 0`: the orders after it sum to less than about that)."""
    C = np.ascontiguousarray(np.stack(ak, axis=1), float)
    big = np.abs(C * ws[:, None]) > 1e-22
    kmax = np.where(big.any(axis=1), C.shape[1] - 1 - np.argmax(big[:, ::-1], axis=1), -1)
    return C, kmax.astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _atoms_lst_kernel(s, xs, c, C, kmax, L):  # pragma: no cover - compiled
    # L_ij -= sum_{k <= kmax_j} C[j, k] e^{-s_i((k + 1) x_j - c)}, in place: each class less its
    # atoms (the caller then weights the classes: numpy's product, whose blocked sums keep the
    # round-off of the rest as low as before); the atoms' sum
    # e^{-s(x - c)} (C[j, 0] + e1 (C[j, 1] + e1 (...))), e1 = e^{-s x} = e^{-s(x - c)} e^{-s c}
    for i in range(s.size):
        si = s[i]
        esc = np.exp(-si * c)
        for j in range(xs.size):
            kj = kmax[j]
            if kj < 0:
                continue
            d = xs[j] - c
            if d < 0.0:
                d = 0.0
            e = np.exp(-si * d)
            if kj == 0:
                L[i, j] -= C[j, 0] * e
                continue
            e1 = e * esc
            h = C[j, kj] + 0.0j
            for k in range(kj - 1, -1, -1):
                h = h * e1 + C[j, k]
            L[i, j] -= h * e


class DensityAtoms:
    r"""The split of an unconditional law on a continuous size law into the atoms' part and the
    rest, for :class:`~qtheory.engine.distribution.ResponseTimeDistribution`.

    Each class :math:`x` has an atom :math:`a(x)` at :math:`T = x` (:func:`atom_mass`); mixed
    over the size density :math:`f` they give the density :math:`f(t)a(t)` of :math:`T`, which
    jumps wherever :math:`f` does (the lower end of a Pareto or uniform law, breakpoints). With
    :math:`c` the lower end of the size support (:math:`T \ge X \ge c`),

    .. math::
        P(T > t) = \underbrace{\int_{x > t} f(x)a(x)\,dx}_{\text{direct}}
          + \mathcal{L}^{-1}\Big[\frac{\bar R - e^{sc}\big(\phi(s) - A(s)\big)}{s}\Big](t - c),
        \qquad A(s) = \int f(x)a(x)e^{-sx}\,dx,

    :math:`\bar R = 1 - \int f a`. The inverted part has no jump in its density (the term
    :math:`e^{sx}\phi_x(s) - a(x)` of each class decays in :math:`s`), and the shift by
    :math:`c` puts its first kink (at :math:`t = c`) at the origin, where the Euler inversion
    does not ring. Both parts use the same size rule; the atoms' cdf is its Gauss-Legendre
    quadrature with :math:`t` a panel edge. Next to :math:`c` the inversion samples the
    transform at :math:`|s|` up to about :math:`120/(t - c)`: FCFS sums its shifted size
    transform on a rule graded at :math:`c` (:data:`GRADE`); LAS, PSJF and SRPT take ``near``,
    the same split on a graded rule (:data:`GRADE_SOAP`), for :math:`t <` :data:`GRADE_NEAR`
    :math:`c` (``docs/response_time_distribution.md``, section 13).
    """

    def __init__(self, tr: _SizeTransform, near=None):
        self.tr = tr
        #: below ``near_below`` (:data:`GRADE_NEAR` times c) the values come from ``near()``, the
        #: same split on a rule graded at c (built on first use); 0: this split everywhere
        self._near, self._near_split = near, None
        self.near_below = GRADE_NEAR * float(max(tr.rule.size.support[0], 0.0)) if near else 0.0
        r = tr.rule
        self.rule = r
        self.c = float(max(r.size.support[0], 0.0))
        self.lam = tr.lam
        self.kind = tr.kind
        #: a(x) at every class (the rule's nodes) and at the panel nodes
        if tr.kind == "constant":  # the class transform's limit on the rule itself
            self.a = np.full(tr.xs.shape, 1.0 - tr.lam * float(r.x @ r.w))
        else:
            self.a = self.mass(tr.xs)
        #: LAS: the atoms at (k + 1) x too, k = 1..K (:meth:`mass_k`); other policies: K = 0
        self.K = 0
        # a(x) and LAS's q(x) at the panel nodes and the classes once, every order from them
        # (mass_k's arithmetic)
        m_px = self.mass(r.px)
        if tr.kind == "age":
            q_all = self._las_ratio(np.concatenate([r.px, tr.xs]))
            q_px, q_xs = q_all[:r.px.size], q_all[r.px.size:]
            qmax = float(np.max(q_all))
            while self.K < 30 and _borel(qmax, self.K + 1) > 1e-15:
                self.K += 1
        self._cum = [np.concatenate([[0.0], np.cumsum(r.pw * (m_px if k == 0 else m_px * _borel(q_px, k)))])
                     for k in range(self.K + 1)]
        self._ak = [self.a] + [self.a * _borel(q_xs, k) for k in range(1, self.K + 1)]
        self.part_total = float(sum(tr.ws @ ak for ak in self._ak))
        #: the weighted orders per class for :func:`_atoms_lst_kernel` (built on first use)
        self._atoms_table = None
        self.rest_total = float(tr.ws.sum()) - self.part_total

    def near(self) -> DensityAtoms:
        """The split on the graded rule (for ``t < near_below``)."""
        if self._near_split is None:
            self._near_split = self._near()
        return self._near_split

    def mass(self, x) -> np.ndarray:
        """:func:`atom_mass` at ``x`` (FCFS: the rule's own :math:`1 - \\rho`)."""
        if self.kind == "constant":
            return np.full(np.shape(x), self.a[0])
        return atom_mass(self.rule.size, self.lam, self.kind, x)

    def _las_ratio(self, x) -> np.ndarray:
        r"""LAS: :math:`q(x) = \lambda x P(X \ge x)e^{-\lambda x}`; the class's atom at
        :math:`(k+1)x` is :math:`a(x)q(x)^k(k+1)^{k-1}/k!` (Borel: the residence is a busy
        period started by :math:`x` in which every arrival is a job of size :math:`\ge x` that
        adds exactly :math:`x`; see :func:`_las_class_atoms`)."""
        x = np.asarray(x, float)
        size = self.rule.size
        return self.lam * x * (1.0 - size.cdf(x, strict=True)) * np.exp(-self.lam * x)

    def mass_k(self, x, k: int) -> np.ndarray:
        r"""The class atoms at :math:`(k+1)x`: :math:`a(x)` (k = 0), LAS
        :math:`a(x)q(x)^k(k+1)^{k-1}/k!`."""
        m = self.mass(x)
        if k == 0:
            return m
        return m * _borel(self._las_ratio(x), k)

    def part_cdf(self, t) -> np.ndarray:
        r""":math:`\sum_k \int_{(k+1)x \le t} f(x)a_k(x)\,dx` on the size rule (full panels below
        ``t / (k + 1)`` and a Gauss-Legendre panel up to it)."""
        t = np.atleast_1d(np.asarray(t, float))
        if self.kind == "constant":  # FCFS: a constant times the size law's own cdf
            return self.a[0] * np.asarray(self.rule.size.cdf(t), float)
        # every order's set {X <= t / (k + 1)} in one call, a(x) and q(x) at its nodes once
        Xe, We, npre = self.rule.below_parts(np.concatenate([t / (k + 1) for k in range(self.K + 1)]))
        m = self.mass(Xe)
        q = self._las_ratio(Xe) if self.K else None
        out = np.zeros(t.shape)
        for k in range(self.K + 1):
            sl = slice(k * t.size, (k + 1) * t.size)
            mk = m[sl] if k == 0 else m[sl] * _borel(q[sl], k)
            out += self._cum[k][npre[sl]] + np.sum(We[sl] * mk, axis=1)
        return out

    def part_pdf(self, t) -> np.ndarray:
        r"""The atoms' density :math:`\sum_k f(t/(k+1))a_k(t/(k+1))/(k+1)`."""
        t = np.asarray(t, float)
        # every order's point t / (k + 1) in one call of the size law's functions
        ks = np.arange(self.K + 1)
        u = t.reshape(-1)[None, :] / (ks[:, None] + 1.0)
        m = self.mass(u)
        if self.K:
            m = m * np.where(ks[:, None] > 0, _borel(self._las_ratio(u), ks[:, None]), 1.0)
        terms = np.where(u > self.c, self.rule.size.pdf(u) * m / (ks[:, None] + 1.0), 0.0)
        return terms.sum(0).reshape(t.shape)

    def rest_lst(self, s) -> np.ndarray:
        r""":math:`e^{sc}\big(\phi(s) - A(s)\big)` at complex ``s`` (any shape), on the rule."""
        s = np.asarray(s, complex)
        flat = np.ascontiguousarray(s.reshape(-1))
        tr, c = self.tr, self.c
        if tr.kind == "constant":
            # FCFS: phi = V(s) X(s) with V = (1 - rho) s / (s - lam psi): phi - A =
            # (1 - rho) lam psi / (s - lam psi) X(s), and e^{sc} X(s) on x - c directly
            r = tr.rule
            psi = np.empty(flat.size, complex)
            _psi_compensated(flat, np.ascontiguousarray(r.x, float), np.ascontiguousarray(r.w, float), psi)
            if c > 0:
                if GRADE is not None:
                    r = _rule(r.size, WIDTH_FINE, GRADE)
                psc = np.empty(flat.size, complex)
                _psi_compensated(flat, np.ascontiguousarray(r.x - c, float), np.ascontiguousarray(r.w, float), psc)
            else:
                psc = psi
            xc = float(r.w.sum()) - psc
            out = self.a[0] * tr.lam * psi / (flat - tr.lam * psi) * xc
            return out.reshape(s.shape)
        L = tr.lst_classes(flat, offset=c)
        if not ATOMS_KERNEL:  # the reference route: one matrix of exponentials per order
            # e^{-s((k+1) x - c)} = e^{-s(x - c)} (e^{-s x})^k (x >= c where the weight is > 0)
            E = np.exp(-flat[:, None] * np.maximum(tr.xs - c, 0.0)[None, :])
            E1 = np.exp(-flat[:, None] * tr.xs[None, :]) if self.K else None
            for k, ak in enumerate(self._ak):
                if k:
                    E = E * E1
                L = L - ak[None, :] * E
            return _mix(L, tr.ws).reshape(s.shape)
        if self._atoms_table is None:
            self._atoms_table = _atoms_table(self._ak, tr.ws)
        L = np.ascontiguousarray(L, complex)  # (a new array: lst_classes's own result)
        _atoms_lst_kernel(np.ascontiguousarray(flat), np.ascontiguousarray(tr.xs, float), float(c),
                          *self._atoms_table, L)
        return _mix(L, tr.ws).reshape(s.shape)


def _unconditional_atoms(tr: _SizeTransform) -> list[tuple[float, float]]:
    r"""The atoms of the law mixed over ``tr``'s classes on a discrete size law: class
    :math:`x_i` (probability :math:`w_i`) contributes :math:`w_i P(V = 0 \mid x_i)` times the
    atomic law of its residence, :math:`x_i` plus the busy periods of the new jobs that run first
    (none under FCFS and SJF: the one atom :math:`P(T = x_i \mid x_i)`; LAS, PSJF, SRPT: Takács'
    formula, :mod:`qtheory.engine.busy_atoms`; docs/response_time_distribution.md, section 10)."""
    from . import busy_atoms as ba

    size, lam, k = tr.size, tr.lam, tr.kind
    d = np.asarray(size.atom_values, float)
    p = np.asarray(size.atom_probs, float)
    (o1, _, _), (p1, _, _), _, _ = tr._pieces()
    p0 = np.broadcast_to(1.0 - lam * (o1 + p1), tr.xs.shape)
    allp = []
    for x in tr.xs.tolist():
        if k in ("constant", "nonpreemptive"):
            pieces = []
        elif k == "age":  # all new jobs, served up to x: min(X, x)
            pieces = [(x, np.append(d[d < x], x), np.append(p[d < x], p[d >= x].sum()))]
        elif k == "static":
            pieces = [(x, d[d < x], p[d < x])]
        else:  # SRPT: remaining t in (u0, u1]: the jobs with X <= u0 run first
            pieces = ba.pieces_on(0.0, x, d, lambda u: (d[d <= u], p[d <= u]))
        allp.append(pieces)
    full = sum(ba.cost(pc) for pc in allp) <= ba.BUDGET
    laws = [ba.residence_law(lam, pc, full) for pc in allp]
    return ba.to_atoms(laws, tr.xs.tolist(), (tr.ws * p0).tolist())


def _waiting_atom(tr: _SizeTransform) -> float:
    r""":math:`P(W = 0) = \sum_i w_i (1 - \rho_0 - \rho_1)` (the old-job delay is 0 with
    probability :math:`\tilde V(\infty)`; the new-job busy period then has no start)."""
    (o1, _, _), (p1, _, _), _, _ = tr._pieces()
    return float(np.sum(tr.ws * (1.0 - tr.lam * (o1 + p1))))


def response_time_distribution(model, policy, x=None, y=None) -> ResponseTimeDistribution:
    r"""The law of the response time :math:`T` of ``policy`` on the M/G/1 ``model``
    (unconditional, or of a job of size ``x``).

    Parameters
    ----------
    model : qtheory.MG1
    policy : Policy or str
        FCFS, LAS, SJF, PSJF, SRPT (rank shapes constant, age, nonpreemptive, static, remaining
        with descriptor none or size) and SPJF, PSPJF, SPRPT (the last three with descriptor
        prediction: :mod:`qtheory.engine.response_distribution_prediction`), a prediction
        policy declaring its own ``response_transform`` (TRAIL:
        :mod:`qtheory.engine.response_distribution_trail`), and PS on exponential sizes
        (M/M/1-PS, :mod:`qtheory.engine.response_distribution_ps`); the generic SOAP policies
        (SRPT-Bounce, Gittins, ConditionalGittins, a ``qt.Rank``) on discrete laws and finite
        joint laws (:mod:`qtheory.engine.response_distribution_generic`; Gittins on a
        monotone-hazard continuous law through its FB/FCFS equivalent), and blind ones (Gittins,
        a blind ``qt.Rank``) on continuous laws
        (:mod:`qtheory.engine.response_distribution_blind`). PS on other laws and the
        other generic policies on continuous laws raise ``NotImplementedError`` saying what is
        missing.
    x : float, optional
        The job's size (a class).
    y : float, optional
        The job's prediction: prediction-based policies take both ``x`` and ``y`` (a class) or
        neither (the unconditional law); one alone raises ``ValueError``.

    Returns
    -------
    ResponseTimeDistribution

    Notes
    -----
    :math:`E[e^{-sT}\mid x] = \tilde V_x(\eta_{r}(s))\exp(-\int_0^x \eta_{r(a)}(s)\,da)` with the
    pieces of each policy in ``docs/response_time_distribution.md``.

    Examples
    --------
    >>> import qtheory as qt
    >>> from qtheory.engine.response_distribution import response_time_distribution
    >>> d = response_time_distribution(qt.MG1(0.8, qt.Exponential(1.0)), "fcfs")
    >>> round(float(d.ppf(0.99)), 6)   # T ~ Exp(0.2): 5 log(100)
    23.025851
    """
    return _build(model, policy, x, y, waiting=False)


def waiting_time_distribution(model, policy, x=None, y=None) -> ResponseTimeDistribution:
    r"""The law of the waiting time :math:`W` (until the job first reaches its worst future rank:
    for FCFS, SJF, PSJF and SRPT the start of its service) of ``policy`` on ``model``; it has an
    atom :math:`P(W = 0) = 1 - \rho_0 - \rho_1` at 0 (``ResponseTimeDistribution.atom0``).
    LAS raises ``NotImplementedError`` (its first service is not SOAP's waiting time).

    :math:`E[e^{-sW}\mid x] = \tilde V_x(\eta_r(s))`; see :func:`response_time_distribution`."""
    return _build(model, policy, x, y, waiting=True)


__all__ = ["ResponseTimeDistribution", "response_time_distribution", "waiting_time_distribution",
           "busy_eta"]
