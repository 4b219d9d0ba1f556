r"""Response-time and waiting-time distributions of the prediction-based SOAP policies (SPJF,
PSPJF, SPRPT) on the M/G/1, conditional on a job's size and prediction :math:`(x, y)` or
unconditional.

SOAP's decomposition (Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018, Section 5) with the
rank :math:`r(y, a)` of each policy (descriptor: the prediction :math:`y`) gives

.. math::
    E[e^{-sT}\mid x, y] = \tilde V_y\big(\eta_{<y}(s)\big)\,
        \exp\Big(-\int_0^x \eta_{<r(a)}(s)\,da\Big),\qquad
    \eta_{<v}(s) = s + \lambda E\big[(1 - e^{-\eta_{<v}(s) X}) 1\{Y < v\}\big],

(Kendall's equation for the busy period of new jobs :math:`X^{new}[v] = X1\{Y < v\}`) and the
old-job delay of the sparse-vacation M/G/1

.. math::
    \tilde V_y(u) = \frac{(1 - \rho_0 - \rho_1)u + \lambda E[1 - e^{-uX^{old}_1}]}
                         {u - \lambda E[1 - e^{-uX^{old}_0}]},\qquad
    X^{old}_0 = X 1\{Y \le y\},

with :math:`X^{old}_1 = X1\{Y > y\}` (SPJF), :math:`0` (PSPJF),
:math:`(X - (Y - y))^+ 1\{Y > y\}` (SPRPT), and the residence :math:`e^{-sx}` (SPJF),
:math:`e^{-x\eta_{<y}(s)}` (PSPJF), :math:`\exp(-s(x-y)^+ - \int_{(y-x)^+}^{y}\eta_{<v}(s)\,dv)`
(SPRPT). The unconditional law mixes the classes over the joint law of :math:`(X, Y)`
(:mod:`qtheory.engine._joint_rule`).

A class of SPRPT on a factor law whose density jumps (uniform, bounded-multiplicative
predictions) integrates its residence over the levels with Kendall's equation solved at each
level node (:meth:`PredictionTransform._class_levels`): :math:`\eta_{<v}(s)` oscillates in
:math:`v` like :math:`e^{-\eta v/k}` there and the threshold grid's interpolant does not follow
it. Measured against ``tests/sprpt_class_uniform_reference.py`` (Exp(1) sizes, uniform(0.5)
predictions, class (0.4, 1.1)): cdf at x + 0.2 5.7e-8 -> 1.5e-10, at x + 0.6 4.3e-7 -> 1.1e-9
(loads 0.5, 0.8, 0.95 alike); further out (x + 1.6, x + 4.6) about 5e-8 and 1.6e-8 remain,
the Euler rule's (26, 24, 14) truncation on this law (the reference's own transform inverted with
it is as far off).

PSPJF's and SPJF's classes there (and the waiting time of a class) take Kendall's row
:math:`X1\{Y < y\}` on the same size rule (:data:`LEVEL_SIZE_WIDTH`): PSPJF's residence
:math:`e^{-x(\eta_{<y}(s) - s)}` multiplies the row's error by :math:`x`, its cdf was 2e-8 to
5e-7 off on a rule 0.25 wide. Measured against the same reference (``policy="pspjf"``,
``"spjf"``; uniform(0.5) and bounded-multiplicative(0.5, 2) predictions, loads 0.5, 0.8, 0.95,
six classes): the transform on the Euler contours of :math:`t - x` = 0.01 to 1.6 within
2.4e-13 (PSPJF), 3.4e-16 (SPJF), the cdf within 4.2e-10 (PSPJF), 3e-11 (SPJF) of the
reference's on the same nodes, the mean within 1.3e-15 of the mean engine's; the Euler rule's
own truncation at the law's kinks (:math:`y/z_h`, :math:`y/z_l`) is up to 2e-6 (PSPJF), 5e-8
(SPJF) at :math:`t - x` = 0.6 and 1.6 (``docs/response_time_distribution.md``, section 5.3).

Derivation: ``docs/response_time_distribution.md`` (section 5).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._fast_exp import cexp_neg_points, cexp_neg_scaled
from ._joint_rule import DiscreteJointRule, FactorJointRule
from ._psi_kernel import _psi_one, _small_sum, _small_terms, psi_kernel
from .laplace_inversion import lst_in_blocks
from .response_distribution import GRADE, GRADE_NEAR, _nnz, _psi_at, _rule, busy_eta, min_pair_moment_finite

#: widths in log x of the size rules (10 Gauss-Legendre nodes per panel) of continuous joint
#: laws: the sizes of the classes (the residence transforms oscillate like e^{-sx}: 0.5 was
#: 3e-3 off on the cdf; 0.25 was 1e-7 to 2.7e-7 off the cdf at t = 1 and 7e-7 to 4e-6
#: (relative) off the p50 of SPJF, PSPJF and SPRPT on Exp/Exp at loads 0.5 and 0.8, against
#: 0.0625; 0.125 is within 1e-10 of 0.0625 there, at 1.07x / 1.65x / 1.36x the CPU of a p99),
#: the threshold sums (Kendall's equation and the old-job pieces: 0.25, within 1.3e-9 of 0.125 on
#: the p50 and p99 of SPJF, PSPJF, SPRPT at loads 0.35 and 0.8, Exp/Exp; 0.5 was 1e-8 from 0.25
#: at load 0.8's p50 but 5.3e-6 off SPJF's p99 at load 0.35 and 4.7e-6 off its p50 at 0.8), the
#: prediction nodes of the unconditional law and the threshold grid of eta_{<t}(s) in log t
#: (smooth: 1.0 is 1e-11 from 0.25 on the cdf, 1e-13 on the means; 2.0 was 1e-8 off with
#: log-normal(0.5) predictions); measured on M/M/1 at 0.8 with exponential predictions
#: (docs/response_time_distribution.md)
WIDTH_CLASS = 0.125
WIDTH_JOINT = 0.25
WIDTH_Y = 1.0
WIDTH_T = 1.0
#: SPRPT's class on a factor law with kinks (uniform, bounded-multiplicative predictions): the
#: residence's integral of eta_{<v}(s) over the levels v by Gauss-Legendre panels (10 nodes)
#: on the threshold grid's panels inside [(y - x)^+, y], each cut in parts at most LEVEL_WIDTH
#: wide in v, with Kendall's equation solved at every node (:meth:`PredictionTransform._class_levels`)
LEVEL_WIDTH = 0.125
#: ... and the rows X1{Y < v} at those levels on a size rule of this width in log x, as Kendall's
#: row at y (and the old work's) of every class of SPJF, PSPJF and SPRPT on such a law and the
#: falling rank route's levels (:meth:`PredictionTransform._kinked_class`), whatever
#: WIDTH_CLASS: 0.25 did not follow e^{-eta x} at the Euler nodes' :math:`|s|` of a class cdf near its
#: atom (SPRPT: 5.7e-8 off at t = x + 0.2 with it, 1.4e-10 with 0.125 and 0.0625; PSPJF, whose
#: residence multiplies the row's error by x: 8.5e-8 -> 3e-12 at (0.4, 1.1))
LEVEL_SIZE_WIDTH = 0.125
#: ... and no levels below the last grid edge e with lam e P(Y < e) below this
LEVEL_CUT = 1e-15
#: unconditional SPJF, PSPJF and SPRPT on a continuous size law whose density jumps at its lower
#: end c > 0: the atoms' density part added directly and the rest inverted from c on
#: (:class:`SPJFDensityAtoms`, :class:`~qtheory.engine._prediction_density_atoms.PredictionDensityAtoms`);
#: False: the whole law is inverted (rings next to c: 8e-4 (SPJF), 2.4e-3 (PSPJF), 1.9e-3
#: (SPRPT) on Pareto(2.5) at load 0.8)
SPLIT_ATOMS = True
#: the rank shapes covered with descriptor "prediction"
PREDICTION_FORMS = ("nonpreemptive", "static", "remaining")
#: SPRPT's residence sums by :func:`_residence_kernel_t` (the points on the inner axis)
RESIDENCE_TRANSPOSED = True
#: :class:`SharedNodes` by :func:`_exp_sum_kernel_split` (real and imaginary parts apart)
EXP_SUM_SPLIT = True
#: SPRPT's residence terms :math:`e^{-sx}e^{\epsilon}`, :math:`\epsilon = R(y - x) - R(y)`
#: (unconditional): :math:`e^{-sx}` from the table of the classes' distinct sizes (the flat
#: nodes' :class:`SharedNodes`, computed once for both) and :math:`e^{\epsilon}` by its Taylor
#: polynomial of order :data:`RESIDENCE_ORDER` where :math:`|\epsilon| \le`
#: :data:`RESIDENCE_EPS` (the remainder below :math:`|\epsilon|^{N+1}e^{|\epsilon|}/(N+1)! =
#: 2.6\cdot10^{-19}` of the term), one complex exponential elsewhere (:func:`_residence_kernel_e`):
#: 48 -> 38 ms an Euler contour of p99 (Exp(1) sizes, exponential predictions, loads 0.3, 0.8,
#: 0.95), the transform within 2.3e-16 relative (the interpolated cumulative integral, 10 terms
#: a node and point, is most of what is left; the polynomial's order 2 to 9 costs about the same)
RESIDENCE_SHARED = True
RESIDENCE_EPS = 0.0625
RESIDENCE_ORDER = 9
#: ... each node's polynomial of the lowest order whose remainder bound at the largest
#: :math:`|\epsilon|` of its points stays below order 9's at :math:`|\epsilon| =` 0.0625
#: (:func:`_residence_kernel_e`; half the nodes have :math:`|\epsilon| \le 10^{-3}`, order 4 on
#: average on Exp(1) sizes with exponential predictions); False: order 9 everywhere
RESIDENCE_ADAPTIVE = True
#: transform values per block (memory: blocks x classes x size nodes complex numbers)
_S_BLOCK = 40
#: joint rules cached per size law, and load-free transform tables cached per rule (up to about
#: 30 MB each: SPRPT on Weibull(0.5) sizes with exponential predictions; PSPJF's add its class
#: rows' series tables, 66 MB there)
_RULES_KEPT = 2
_SETUPS_KEPT = 4
#: load-free row moments kept per setup (:meth:`PredictionTransform._m`)
_MEMO_KEPT = 64


@numba.njit(cache=True, nogil=True, inline="always")
def _cum_at(g, Rc, start, coef, i, k, q):  # pragma: no cover - compiled
    # the cumulative integral at point q (panel k): the panel's start value plus its weights
    acc = Rc[i, k]
    b = start[k]
    for m in range(coef.shape[1]):
        c = coef[q, m]
        if c != 0.0:
            acc += c * g[i, b + m]
    return acc


@numba.njit(cache=True, nogil=True)
def _cum_kernel(g, Rc, p, start, coef, out):  # pragma: no cover - compiled
    for i in range(g.shape[0]):
        for q in range(p.size):
            out[i, q] = _cum_at(g, Rc, start, coef, i, p[q], q)


@numba.njit(cache=True, nogil=True)
def _residence_kernel(g, Rc, p, start, coef, Ry, s, X, W, unshift, out):  # pragma: no cover
    # out[i, j] = sum_k W[j, k] exp(R(y_j - x_jk) - R(y_j) - s x_jk [unshift]), R = int_0 g; the
    # node (j, k) outside, the points s inside (each node's interpolation row coef[q] read once
    # a block, not once a point: 1.5 times faster), each sum still in increasing k
    ny, K = X.shape
    n = g.shape[0]
    acc = np.empty(n, np.complex128)
    for j in range(ny):
        acc[:] = 0.0
        for k in range(K):
            w = W[j, k]
            if w == 0.0:
                continue
            q = j * K + k
            pq = p[q]
            x = X[j, k]
            for i in range(n):
                e = _cum_at(g, Rc, start, coef, i, pq, q) - Ry[i, j]
                if unshift:
                    e -= s[i] * x
                if e.real > -700.0:
                    acc[i] += w * np.exp(e)
        out[:, j] = acc


@numba.njit(cache=True, nogil=True)
def _residence_kernel_t(gT, RcT, p, start, coef, RyT, s, X, W, unshift, out):  # pragma: no cover
    # _residence_kernel with the points s on the inner axis of every table (gT, RcT, RyT: the
    # transposes of g, Rc, Ry, contiguous): per node (j, k) the cumulative integral of every
    # point by contiguous loops over i, then its exponentials; each point's operations are
    # those of _residence_kernel in the same order (the same values)
    ny, K = X.shape
    n = s.size
    cum = np.empty(n, np.complex128)
    acc = np.empty(n, np.complex128)
    L = coef.shape[1]
    for j in range(ny):
        acc[:] = 0.0
        for k in range(K):
            w = W[j, k]
            if w == 0.0:
                continue
            q = j * K + k
            pq = p[q]
            b = start[pq]
            x = X[j, k]
            for i in range(n):
                cum[i] = RcT[pq, i]
            for m in range(L):
                c = coef[q, m]
                if c != 0.0:
                    gm = gT[b + m]
                    for i in range(n):
                        cum[i] += c * gm[i]
            for i in range(n):
                e = cum[i] - RyT[j, i]
                if unshift:
                    e -= s[i] * x
                if e.real > -700.0:
                    acc[i] += w * np.exp(e)
        out[:, j] = acc


@numba.njit(cache=True, nogil=True)
def _residence_kernel_e(gT, RcT, p, start, coef, RyT, s, X, W, idx, Er, Ei, eps, N, out, adaptive):  # pragma: no cover
    # _residence_kernel_t (unshift) with each term e^{eps - s x}, eps = cum - Ry, as
    # E[idx] e^{eps}: E = e^{-s x} from the tables Er, Ei (_exp_tables) and e^{eps} by Horner's
    # scheme of its Taylor polynomial of order N where |eps| <= eps (real and imaginary parts
    # apart, every point at once), else the exponential of eps - s x (as _residence_kernel_t).
    # adaptive: per node the lowest order n <= N whose remainder bound at the largest |eps| of
    # the node's points on the polynomial, a^{n+1} e^a / (n+1)!, stays below order N's at
    # |eps| = eps (the same polynomial where n = N)
    ny, K = X.shape
    n = s.size
    cr = np.empty(n)
    ci = np.empty(n)
    er = np.empty(n)
    ei = np.empty(n)
    hr = np.empty(n)
    hi = np.empty(n)
    ar = np.empty(n)
    ai = np.empty(n)
    far = np.empty(n, np.bool_)
    L = coef.shape[1]
    inv = np.empty(N + 1)
    f = 1.0
    for m in range(N + 1):
        inv[m] = 1.0 / f
        f *= m + 1
    eps2 = eps * eps
    bound = eps ** (N + 1) * math.exp(eps) * inv[N] / (N + 1)
    for j in range(ny):
        ar[:] = 0.0
        ai[:] = 0.0
        for k in range(K):
            w = W[j, k]
            if w == 0.0:
                continue
            q = j * K + k
            pq = p[q]
            b = start[pq]
            x = X[j, k]
            mrow = idx[j, k]
            # the interpolated integral's real and imaginary parts apart: c g = (c Re g, c Im g),
            # what the complex product c g (c promoted to c + 0i) gives but for the sign of a
            # zero part
            for i in range(n):
                cr[i] = RcT[pq, i].real
                ci[i] = RcT[pq, i].imag
            for m in range(L):
                c = coef[q, m]
                if c != 0.0:
                    gm = gT[b + m]
                    for i in range(n):
                        g = gm[i]
                        cr[i] += c * g.real
                        ci[i] += c * g.imag
            nfar = 0
            a2 = 0.0
            for i in range(n):
                ry = RyT[j, i]
                e = complex(cr[i] - ry.real, ci[i] - ry.imag)
                er[i] = e.real
                ei[i] = e.imag
                e2 = e.real * e.real + e.imag * e.imag
                fa = e2 > eps2 or e.real - s[i].real * x <= -700.0
                far[i] = fa
                nfar += fa
                if not fa and e2 > a2:
                    a2 = e2
            Nn = N
            if adaptive:
                a = math.sqrt(a2)
                ea = math.exp(a)
                t = a * ea  # a^{n+1} e^a / (n+1)! for n = 0
                for m in range(N):
                    if t <= bound:
                        Nn = m
                        break
                    t = t * a / (m + 2)
            c0 = inv[Nn]
            for i in range(n):
                hr[i] = c0
                hi[i] = 0.0
            for m in range(Nn - 1, -1, -1):
                cm = inv[m]
                for i in range(n):
                    a = hr[i]
                    hr[i] = a * er[i] - hi[i] * ei[i] + cm
                    hi[i] = a * ei[i] + hi[i] * er[i]
            Ter = Er[mrow]
            Tei = Ei[mrow]
            for i in range(n):
                tr = Ter[i] * hr[i] - Tei[i] * hi[i]
                ti = Ter[i] * hi[i] + Tei[i] * hr[i]
                if far[i]:
                    tr = 0.0
                    ti = 0.0
                ar[i] += w * tr
                ai[i] += w * ti
            if nfar:
                for i in range(n):
                    if far[i]:
                        e = complex(er[i], ei[i]) - s[i] * x
                        if e.real > -700.0:
                            v = w * np.exp(e)
                            ar[i] += v.real
                            ai[i] += v.imag
        for i in range(n):
            out[i, j] = complex(ar[i], ai[i])


@numba.njit(cache=True, nogil=True)
def _exp_tables(s, U, cut, Er, Ei):  # pragma: no cover - compiled
    # Er + i Ei = e^{-s_i U_m} (0 where Re(s_i) U_m > cut): the tables of _exp_sum_kernel_split
    for m in range(U.size):
        u = U[m]
        er = Er[m]
        ei = Ei[m]
        cexp_neg_points(s, u, er, ei)
        for i in range(s.size):
            if s[i].real * u > cut:
                er[i] = 0.0
                ei[i] = 0.0


@numba.njit(cache=True, nogil=True)
def _exp_sum_rows(E2, idx, W, out):  # pragma: no cover - compiled
    # out[i, j] = sum_k W[j, k] (E2[m, i] + i E2[m, n + i]), m = idx[j, k] (E2: the real parts
    # of the n points, then their imaginary parts, one row a distinct node): each row's nonzero
    # weights gathered first, then four nodes a pass over the 2n sums (:func:`_gather_sums`), acc = (((acc + w0 e0) +
    # w1 e1) + w2 e2) + w3 e3: the same terms added in the same order (increasing k) as one
    # node a pass (bit-identical), a quarter of the loads and stores of the sums (12.7 -> 6.2
    # ms the sums of SPJF's p99, Exp(1) sizes, exponential predictions, load 0.8)
    n2 = E2.shape[1]
    n = n2 // 2
    n_t, K = W.shape
    acc = np.empty(n2)
    ws = np.empty(K)
    ms = np.empty(K, np.int64)
    for j in range(n_t):
        c = 0
        for k in range(K):
            w = W[j, k]
            if w != 0.0:
                ws[c] = w
                ms[c] = idx[j, k]
                c += 1
        _gather_sums(E2, ws, ms, c, n2, acc)
        for i in range(n):
            out[i, j] = complex(acc[i], acc[n + i])


@numba.njit(cache=True, nogil=True)
def _exp_sum_tables(Er, Ei, idx, W, out):  # pragma: no cover - compiled
    # the sums of _exp_sum_kernel_split from its tables (the same operations in the same
    # order): Er and Ei side by side in one table first (_exp_sum_rows)
    n = Er.shape[1]
    E2 = np.empty((Er.shape[0], 2 * n))
    for m in range(Er.shape[0]):
        for i in range(n):
            E2[m, i] = Er[m, i]
            E2[m, n + i] = Ei[m, i]
    _exp_sum_rows(E2, idx, W, out)


@numba.njit(cache=True, nogil=True)
def _exp_sum_kernel(s, U, idx, W, cut, out):  # pragma: no cover - compiled
    # out[i, j] = sum_k W[j, k] e^{-s_i U[idx[j, k]]}: one exponential per distinct node and
    # point, E[m, i] (the points contiguous); then per node (j, k) its term added to the sums
    # of every point at once (a contiguous loop over i: 2x faster than the point outside; each
    # sum still in increasing k, the same values)
    n = s.size
    E = np.empty((U.size, n), np.complex128)
    er = np.empty(n)
    ei = np.empty(n)
    for m in range(U.size):
        u = U[m]
        cexp_neg_points(s, u, er, ei)
        for i in range(n):
            si = s[i]
            E[m, i] = 0.0 if si.real * u > cut else complex(er[i], ei[i])  # e^{-s x} below e^{-cut}: 0
    acc = np.empty(n, np.complex128)
    for j in range(W.shape[0]):
        acc[:] = 0.0
        for k in range(W.shape[1]):
            w = W[j, k]
            if w != 0.0:
                e = E[idx[j, k]]
                for i in range(n):
                    acc[i] += w * e[i]
        out[:, j] = acc


@numba.njit(cache=True, nogil=True)
def _exp_sum_kernel_split(s, U, idx, W, cut, out):  # pragma: no cover - compiled
    # _exp_sum_kernel with the real and imaginary parts in separate sums (a real weight times
    # e^{-s u}: the same products as the complex ones; contiguous real loops): the table
    # E2[m] = [Re e^{-s_i U_m} (i < n), Im e^{-s_i U_m} (i < n)], 0 where Re(s_i) U_m > cut,
    # summed by _exp_sum_rows
    n = s.size
    E2 = np.empty((U.size, 2 * n))
    for m in range(U.size):
        u = U[m]
        er = E2[m, :n]
        ei = E2[m, n:]
        cexp_neg_points(s, u, er, ei)
        for i in range(n):
            if s[i].real * u > cut:
                er[i] = 0.0
                ei[i] = 0.0
    _exp_sum_rows(E2, idx, W, out)


@numba.njit(cache=True, nogil=True)
def _class_moment_terms(ew, varw, rm, rv, X, W, shifted, A, B):  # pragma: no cover - compiled
    # A = W m and B = W (v + m^2) where W > 0 (else 0), m = ew_j + rm_jk (- X_jk: shifted),
    # v = varw_j + rv_jk: the elementwise operations of numpy's expressions in the same order
    for j in range(W.shape[0]):
        for k in range(W.shape[1]):
            w = W[j, k]
            if w > 0:
                m = ew[j] + rm[j, k]
                if shifted:
                    m = m - X[j, k]
                v = varw[j] + rv[j, k]
                A[j, k] = m * w
                B[j, k] = (v + m * m) * w
            else:
                A[j, k] = 0.0
                B[j, k] = 0.0


#: Kendall's equation on a threshold grid (:func:`eta_rows`): Newton's method starts from the
#: polynomial in :math:`\log t` through this many previous rows' roots: passes over the nodes
#: per row 1.92 (the secant) -> 1.35 (6) -> 1.07 (12; 8: 1.20, 10: 1.11, 14: 1.06) on Exp(1)
#: sizes with exponential predictions, complex exponentials 1.31M -> 1.04M (SPRPT's rows),
#: 1.36M -> 1.09M (SPJF's, with its old piece); Weibull(0.5) sizes: 1.23 -> 1.04, 2.25M ->
#: 1.90M; LogNormal(1) sizes with log-normal(0.5) predictions: 1.75 -> 1.36 (load 0.8, an
#: Euler contour of p99; the roots the same to rounding, 6e-16 relative); 0 or 2: the secant of
#: :func:`~qtheory.engine.response_distribution.busy_eta` (the same roots to the solver's
#: tolerance)
ETA_EXTRAPOLATE = 12


def _row_extrapolation(t, P: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Lagrange weights ``L`` (shape ``(len(t), P)``) of the polynomial in :math:`\log t`
    through the ``npts[j]`` rows before row ``j`` (``L[j, P - npts[j]:]``), evaluated at
    :math:`\log t_j`; ``npts = 0`` (the secant) where ``t`` is not strictly increasing and
    positive."""
    t = np.asarray(t, float).reshape(-1)
    n = t.size
    P = max(int(P), 1)
    L = np.zeros((n, P))
    npts = np.zeros(n, np.int64)
    if P < 3 or n < 4:
        return L, npts
    with np.errstate(divide="ignore", invalid="ignore"):
        lx = np.log(t)
    if not (np.all(np.isfinite(lx)) and np.all(np.diff(lx) > 0)):
        return L, npts
    # the rows with q = min(P, j) previous points at once (the same products in the same order
    # per row as a loop over j: bit-identical; 20 ms -> 0.3 ms a setup of 280 rows)
    for q in range(3, P + 1):
        js = np.arange(q, n) if q == P else np.arange(q, min(q + 1, n))
        if not js.size:
            continue
        pts = lx[js[:, None] - q + np.arange(q)[None, :]]
        xj = lx[js]
        w = np.ones((js.size, q))
        for a in range(q):
            for b in range(q):
                if a != b:
                    w[:, a] *= (xj - pts[:, b]) / (pts[:, a] - pts[:, b])
        L[js, P - q:] = w
        npts[js] = q
    return L, npts


#: Kendall's equation on the threshold grid: the nodes with :math:`|u|x <` ``SMALL_THETA`` of
#: each row summed by the Taylor series of :math:`1 - e^{-ux}` to order ``SMALL_ORDER`` from the
#: row's cumulative moments (:func:`small_tables`; load-free) instead of one complex exponential
#: each: the omitted terms are below :math:`\theta^{N}/(N+1)! = 4.3\cdot10^{-20}` of the
#: block's :math:`|u|\sum W x` (:func:`eta_rows`). Exponentials on an Euler contour of p99 at
#: load 0.8 with exponential predictions: 5.17M -> 1.36M (Exp(1) sizes), 14.2M -> 2.14M
#: (Weibull(0.5)) (theta 0.1, order 12: 1.83M, 2.84M; 1.0, 22: 1.16M, 1.84M, tables 1.4 times
#: larger): Gauss-Legendre rules in :math:`\log x` reach far below the mean. 0: none
SMALL_THETA = 0.5
SMALL_ORDER = 16


def small_tables(X: np.ndarray, W: np.ndarray, order: int = SMALL_ORDER) -> np.ndarray | None:
    r"""Cumulative moments :math:`C_{jmn} = \sum_{k < m} W_{jk} X_{jk}^n / n!`, shape
    ``(rows, K + 1, order)`` (:math:`n = 1..` ``order`` on the last axis), of rows whose nodes
    increase (``None`` otherwise: then no node is summed by the series). Load-free."""
    X = np.asarray(X, float)
    W = np.asarray(W, float)
    nnz = _nnz(W)
    # a row's nodes up to its last weight decrease somewhere: no table (every row at once)
    if X.shape[1] > 1 and np.any((np.diff(X, axis=1) < 0) & (np.arange(X.shape[1] - 1)[None, :] < (nnz - 1)[:, None])):
        return None
    C = np.zeros((X.shape[0], X.shape[1] + 1, order))
    _small_terms(X, W, C)
    return C


#: Kendall's rows that share their nodes (a continuous joint law: the size rule's nodes, the
#: weights :math:`W_{jk} = w_k P(Y < t_j \mid x_k)`): per point :math:`s` the exponentials
#: :math:`E_k = e^{-s x_k}` once, and the rows whose root :math:`\eta = s + \delta` lies close
#: to :math:`s` (the small thresholds) solved on the Taylor model
#: :math:`\sum_k W_{jk}E_k e^{-\delta x_k} = \sum_{n \le N}(-\delta)^n S_{jn}`,
#: :math:`S_{jn} = \sum_k W_{jk}x_k^n E_k/n!`, with no exponential of their own, while the
#: remainder bound :math:`|\delta|^{N+1}\sum_k W_{jk}x_k^{N+1}|E_k|/(N+1)!` stays below
#: :math:`2^{-57}` of the root (:func:`eta_rows`); this order :math:`N` (0: off). SPJF's rows
#: (with its old piece) on an Euler contour of p99: complex exponentials 1.07M -> 0.36M
#: (Exp(1) sizes, exponential predictions, load 0.8; 1.29M -> 0.32M at load 0.3), 1.90M ->
#: 0.45M (Weibull(0.5) sizes); N = 6, 12: about the same time (fewer rows on the model, or
#: more terms a row); the roots equal the passes' to 5e-16 relative
SHARED_ORDER = 8
#: rows whose Taylor moments are summed per reading of the table (:func:`_shared_moments`)
_SHARED_BLOCK = 4


@numba.njit(cache=True, nogil=True)
def _shared_table(si, X0, ms, K, N, T):  # pragma: no cover - compiled
    # T[k - ms] for the nodes k in [ms, K): [1, Re, Im of E x^n / n! (n = 0..N),
    # (|Re E| + |Im E|) x^{N+1} / (N+1)!] with E = e^{-s x}; the exponential terms 0 where
    # Re(s) x > 46 (|E| below 1e-20, as in the passes); returns the exponentials taken
    sr = si.real
    nexp = 0
    Er = np.empty(K)
    Ei = np.empty(K)
    cexp_neg_scaled(si, X0, ms, K, Er, Ei)
    for k in range(ms, K):
        x = X0[k]
        r = k - ms
        T[r, 0] = 1.0
        if sr * x > 46.0:
            for m in range(1, 2 * N + 4):
                T[r, m] = 0.0
            continue
        e = complex(Er[k], Ei[k])
        nexp += 1
        c = 1.0
        for m in range(N + 1):
            T[r, 1 + 2 * m] = c * e.real
            T[r, 2 + 2 * m] = c * e.imag
            c = c * x / (m + 1)
        T[r, 2 * N + 3] = c * (abs(e.real) + abs(e.imag))
    return nexp


@numba.njit(cache=True, nogil=True)
def _shared_moments(W, j0, nb, ms, T, nk, acc):  # pragma: no cover - compiled
    # acc[b] = sum_k W[j0 + b, ms + k] T[k] over the first nk nodes for the rows
    # j0..j0+nb-1: a block of rows per reading of the table (T's columns: _shared_table)
    acc[:] = 0.0
    for k in range(nk):
        for b in range(nb):
            wk = W[j0 + b, ms + k]
            for m in range(acc.shape[1]):
                acc[b, m] += wk * T[k, m]


@numba.njit(cache=True, nogil=True)
def _shared_psi(acc, N, d):  # pragma: no cover - compiled
    # the block's psi(s + d) = sum w - sum_n (-d)^n S_n and its d-derivative
    # sum_{n >= 1} n (-d)^{n-1} S_n (Horner's scheme), S_n = acc[1 + 2n] + i acc[2 + 2n]
    v = -d
    p = complex(acc[1 + 2 * N], acc[2 + 2 * N])
    dp = N * p
    for n in range(N - 1, -1, -1):
        sn = complex(acc[1 + 2 * n], acc[2 + 2 * n])
        p = sn + v * p
        if n >= 1:
            dp = n * sn + v * dp
    return acc[0] - p, dp


@numba.njit(cache=True, nogil=True)
def _shared_solve(si, u0, lam, j, ms, acc, acc1, one, C, C1, N):  # pragma: no cover - compiled
    # Newton's method on the row's Taylor model (the nodes below ms by the series at u): the
    # root u and psi1 at it, and whether the remainder bounds hold (else the row is solved by
    # the passes over the nodes)
    d = u0 - si
    fp = 1.0 + 0.0j
    done = False
    for _ in range(60):
        u = si + d
        ps, dps = _small_sum(C, j, ms, u) if ms > 0 else (0.0 + 0.0j, 0.0 + 0.0j)
        pm, dpm = _shared_psi(acc, N, d)
        fp = 1.0 - lam * (dps + dpm)
        step = (d - lam * (ps + pm)) / fp
        d = d - step
        if done:
            break
        if abs(step) <= 1e-9 * abs(si + d):
            done = True  # one more step: the error below about 1e-18 (quadratic convergence)
    u = si + d
    # the root has Re u >= Re s: the Lagrange remainder of e^{-z}, Re z >= 0, below
    # |z|^{N+1} / (N+1)!; the series block's nodes stay below theta (1 + 0.1) |u|
    if not done or d.real < 0.0 or abs(d) > 0.1 * abs(si):
        return u, 0.0 + 0.0j, False
    a = abs(d) ** (N + 1)
    if lam * a * acc[2 * N + 3] > 2.0 ** -57 * abs(u) * abs(fp):
        return u, 0.0 + 0.0j, False
    p1 = 0.0 + 0.0j
    if one:
        # W1 = w - W on the nodes (w the size rule's weights: accF, shared by the rows), so
        # its block is the whole law's less the row's, without a cancellation where W1 holds
        # most of the row (the small thresholds)
        pm = _shared_psi(acc, N, d)[0]
        p1 = (_small_sum(C1, j, ms, u)[0] if ms > 0 else 0.0 + 0.0j) + _shared_psi(acc1, N, d)[0] - pm
        if a * (acc1[2 * N + 3] - acc[2 * N + 3]) > 2.0 ** -57 * abs(p1) or abs(pm) > abs(p1):
            return u, p1, False
    return u, p1, True


@numba.njit(cache=True, nogil=True)
def _eta_rows_kernel(s, lam, X, W, nnz, L, npts, W1, psi1, C, C1, theta, out, stats, N):  # pragma: no cover
    # Kendall's equation row by row (increasing thresholds), Newton's method started from the
    # polynomial through the previous rows' roots (L, npts), else from the secant; the
    # iteration and its stopping rule are those of response_distribution._eta_kernel. With
    # W1 (rows of weights on the same nodes; shape (0, 0): none): psi1 = sum W1 (1 - e^{-u x})
    # at the root u, from the last pass's sums at the iterate before it, u0 = u + step:
    # e^{-u x} = e^{-u0 x} e^{step x} to second order in step x (below 1e-5: the error is
    # below 2e-16 of the term; else one more pass at u). C (C1): cumulative moments of W (W1)
    # (small_tables; shape (0, 0, 0): none): the nodes x < theta / |u| by the series
    # (_small_sum), the others one exponential each (counted in stats[2] where it exists).
    # N > 0: the rows share their nodes (X[0]); per point s the table of e^{-s x} once
    # (_shared_table) and the first rows solved on their Taylor models (_shared_solve) until
    # one's remainder bound fails (SHARED_ORDER)
    n_s, n_t = out.shape
    P = L.shape[1]
    one = W1.shape[0] > 0
    small = C.shape[0] > 0
    cnt = stats.size > 2
    Kx = X.shape[1]
    T = np.empty((Kx if N > 0 else 0, 2 * N + 4))
    blk = np.empty((_SHARED_BLOCK, 2 * N + 4))
    # the size rule's weights w = W + W1 (SPJF's old piece X 1{Y > t}: the same on every row
    # to rounding) and their moments per point
    wF = np.empty((1, Kx))
    blkF = np.zeros((1, 2 * N + 4))
    # e^{-u x} of a pass's nodes, computed together before its sums (_fast_exp: vectorised)
    Er = np.empty(Kx)
    Ei = np.empty(Kx)
    if one and N > 0:
        for k in range(Kx):
            wF[0, k] = W[0, k] + W1[0, k]
    for i in range(n_s):
        si = s[i]
        u = si
        near = N > 0 and si.real > 0.0
        ms0 = 0
        j0 = -_SHARED_BLOCK  # the rows whose moments blk holds: j0 .. j0 + _SHARED_BLOCK - 1
        if near:
            ms0 = np.searchsorted(X[0], theta / abs(si)) if small else 0
            ne = _shared_table(si, X[0], ms0, Kx, N, T)
            if cnt:
                stats[2] += ne
            if one:
                _shared_moments(wF, np.int64(0), np.int64(1), ms0, T, Kx - ms0, blkF)
        for j in range(n_t):
            K = nnz[j]
            q = npts[j]
            if near:
                if j == 0:
                    u0 = si
                elif q > 0:
                    u0 = 0.0 + 0.0j
                    for m in range(q):
                        u0 += L[j, P - q + m] * out[i, j - q + m]
                else:
                    u0 = out[i, j - 1]
                if j >= j0 + _SHARED_BLOCK:
                    j0 = j
                    _shared_moments(W, j0, min(_SHARED_BLOCK, n_t - j0), ms0, T, Kx - ms0, blk)
                u, p1, ok = _shared_solve(si, u0, lam, j, ms0, blk[j - j0], blkF[0], one, C, C1, N)
                stats[0] += 1
                if ok:
                    out[i, j] = u
                    if one:
                        psi1[i, j] = p1
                    continue
                near = False  # the next rows' roots are further from s
            if j == 0:  # one fixed-point step from s
                psi = 0.0 + 0.0j
                cexp_neg_scaled(si, X[j], np.int64(0), K, Er, Ei)
                for k in range(K):
                    w = W[j, k]
                    if w != 0.0:
                        psi += w * (1.0 - complex(Er[k], Ei[k]))
                u = si + lam * psi
                stats[0] += 1
                if cnt:
                    stats[2] += K
            elif q > 0:
                u = 0.0 + 0.0j
                for m in range(q):
                    u += L[j, P - q + m] * out[i, j - q + m]
                if u.real < si.real:  # the root has Re u >= Re s
                    u = out[i, j - 1]
            elif j >= 2:  # the secant through the last two rows' roots
                u = 2.0 * out[i, j - 1] - out[i, j - 2]
                if u.real < si.real:
                    u = out[i, j - 1]
            else:
                u = out[i, 0]
            prev = np.inf
            m1 = 0.0
            a0 = 0.0 + 0.0j
            a1 = 0.0 + 0.0j
            a2 = 0.0 + 0.0j
            xmax = 0.0
            step = 0.0 + 0.0j
            ms = 0
            for _ in range(100):
                # the nodes below theta / |u| by the series (Re u > 0 at every iterate: the
                # start has Re u >= Re s > 0 and so has Newton's step on this concave map)
                ms = np.searchsorted(X[j, :K], theta / abs(u)) if small and u.real > 0.0 else 0
                psi, dpsi = _small_sum(C, j, ms, u) if ms > 0 else (0.0 + 0.0j, 0.0 + 0.0j)
                if one:
                    m1 = 0.0
                    a0 = 0.0 + 0.0j
                    a1 = 0.0 + 0.0j
                    a2 = 0.0 + 0.0j
                    xmax = 0.0
                ur = u.real
                cexp_neg_scaled(u, X[j], ms, K, Er, Ei)
                for k in range(ms, K):
                    w = W[j, k]
                    w1 = W1[j, k] if one else 0.0
                    if w == 0.0 and w1 == 0.0:
                        continue
                    x = X[j, k]
                    if one and w1 != 0.0:
                        m1 += w1
                        if x > xmax:
                            xmax = x
                    if ur * x > 46.0:  # e^{-u x} below 1e-20
                        psi += w
                        continue
                    e = complex(Er[k], Ei[k])
                    if cnt:
                        stats[2] += 1
                    psi += w * (1.0 - e)
                    dpsi += (w * x) * e
                    if one and w1 != 0.0:
                        a0 += w1 * e
                        a1 += (w1 * x) * e
                        a2 += (w1 * x * x) * e
                stats[0] += 1
                step = (u - si - lam * psi) / (1.0 - lam * dpsi)
                u = u - step
                err = abs(step) / abs(u)
                if err <= 1e-9 or (err <= 1e-7 and err >= prev):
                    break
                prev = err
            out[i, j] = u
            if one:
                if abs(step) * xmax <= 1e-5:
                    # the block below the last pass's cut at the root itself (|u| x stays below
                    # theta (1 + 1e-7): the same bound)
                    ps = _small_sum(C1, j, ms, u)[0] if ms > 0 else 0.0 + 0.0j
                    psi1[i, j] = ps + m1 - (a0 + step * a1 + 0.5 * step * step * a2)
                else:  # one more pass at the root (C1 has rows where C has)
                    acc, nexp = _psi_one_v(u, X, W1, j, K, C1, theta, Er, Ei)
                    if cnt:
                        stats[2] += nexp
                    psi1[i, j] = acc
                    stats[0] += 1
        stats[1] += n_t


def eta_rows(s: np.ndarray, lam: float, X: np.ndarray, W: np.ndarray, t=None, extrapolation=None,
             stats=None, W1=None, small=None):
    r""":math:`\eta_{<t_j}(s)`, the root of Kendall's equation
    :math:`\eta = s + \lambda\sum_k W_{jk}(1 - e^{-\eta X_{jk}})` for each row ``j`` of
    ``(X, W)`` (the new-job laws at increasing thresholds ``t``), shape ``(len(s), len(t))``: as
    :func:`~qtheory.engine.response_distribution.busy_eta` (Newton's method, compiled), each row
    started from the polynomial in :math:`\log t` through the previous rows' roots
    (:data:`ETA_EXTRAPOLATE`; :math:`\eta_{<t}(s)` is smooth in :math:`\log t` between the
    grid's kinks): within Newton's tolerance of the root for most rows, so that one pass over
    the nodes certifies it (1.36 passes a row where the secant took 1.92). The roots are the
    same to the solver's tolerance (a last step below 1e-9 relative: about 1e-18).
    ``extrapolation``: ``_row_extrapolation(t, ETA_EXTRAPOLATE)`` computed once (load-free);
    ``stats``: an int64 array of 2 to which the passes over the nodes and the rows solved are
    added. ``W1``: weights of a second law on
    the same nodes (SPJF's old piece :math:`X1\{Y > t\}`): then returns ``(eta, psi1)`` with
    :math:`\psi_1 = \sum_k W1_{jk}(1 - e^{-\eta X_{jk}})` from the last Newton pass's sums
    (corrected to second order in the last step, below 2e-16 of each term; the same sums as
    :func:`~qtheory.engine.response_distribution._psi_at` to rounding), one pass over the
    nodes less per row and ``s``.

    The nodes with :math:`|u|x <\theta` (:data:`SMALL_THETA`) at an iterate :math:`u` are summed
    by the Taylor series (rows of increasing nodes; :math:`\operatorname{Re}u > 0`)

    .. math::
        \sum_{k < m} W_{jk}(1 - e^{-uX_{jk}}) = -\sum_{n=1}^{N}(-u)^n C_{jmn} + r,\qquad
        |r| \le \frac{\theta^N}{(N+1)!}\,|u|\sum_{k<m}W_{jk}X_{jk},

    (:math:`|e^{-z} - \sum_{n \le N}(-z)^n/n!| \le |z|^{N+1}/(N+1)!` for
    :math:`\operatorname{Re}z \ge 0`; :math:`\theta = 0.5`, :math:`N =` :data:`SMALL_ORDER`
    :math:`= 16`: :math:`4.3\cdot10^{-20}`, far below the sums' rounding) from the cumulative moments :math:`C` of
    :func:`small_tables` (``small``: ``(C, C1)``, ``C1`` those of ``W1`` or ``None``; load-free,
    computed here when not given), and :math:`\sum W x e^{-ux}` by the derived series; the
    others by one complex exponential each (``stats`` of size 3: their count in ``stats[2]``).

    Rows that share their nodes (``X`` the same on every row: a continuous joint law) take, per
    point :math:`s`, the table :math:`E_k = e^{-sx_k}` once; the first rows (small thresholds,
    whose roots :math:`\eta = s + \delta` lie close to :math:`s`) are solved by Newton's
    method on the Taylor model

    .. math::
        \sum_k W_{jk}E_k e^{-\delta x_k} = \sum_{n=0}^{N}(-\delta)^n S_{jn} + r,\qquad
        S_{jn} = \sum_k W_{jk}\frac{x_k^n}{n!}E_k,\qquad
        |r| \le |\delta|^{N+1}\sum_k W_{jk}\frac{x_k^{N+1}}{(N+1)!}|E_k|

    (:math:`\operatorname{Re}\delta \ge 0` at the root; :math:`N =` :data:`SHARED_ORDER`),
    kept while :math:`\lambda|r|` stays below :math:`2^{-57}|\eta|\,|1 - \lambda\psi'|`
    (the root's error; the old piece's :math:`|r_1|` below :math:`2^{-57}|\psi_1|`, its
    weights ``W1 = w - W``, :math:`w` the size rule's, checked), the other rows by the passes
    above: no exponential of their own for those rows, the same roots to rounding."""
    s = np.ascontiguousarray(np.asarray(s, complex).reshape(-1))
    X = np.ascontiguousarray(X, float)
    W = np.ascontiguousarray(W, float)
    out = np.empty((s.size, X.shape[0]), complex)
    if extrapolation is None:
        extrapolation = _row_extrapolation(t, ETA_EXTRAPOLATE) if t is not None else \
            (np.zeros((X.shape[0], 1)), np.zeros(X.shape[0], np.int64))
    L, npts = extrapolation
    if L.shape[0] != X.shape[0] or npts.shape != (X.shape[0],):
        raise ValueError(f"extrapolation: {L.shape[0]} rows for {X.shape[0]} thresholds")
    st = np.zeros(2, np.int64) if stats is None else stats
    if W1 is None:
        W1a, psi1, nnz = np.zeros((0, 0)), np.zeros((0, 0), complex), _nnz(W)
    else:
        W1a = np.ascontiguousarray(W1, float)
        if W1a.shape != W.shape:
            raise ValueError(f"W1 has shape {W1a.shape}, W {W.shape}: the same nodes are needed")
        psi1 = np.empty(out.shape, complex)
        nnz = np.maximum(_nnz(W), _nnz(W1a))
    if small is None:
        small = eta_small_tables(X, W, W1)
    none = np.zeros((0, 0, 0))
    C, C1 = small
    C = none if C is None else C
    if W1 is not None and C1 is None:
        C = none  # (rows whose nodes increase have both tables)
    C1 = none if C1 is None or not C.size else C1
    if C.size and ((W1 is not None and C1.shape != C.shape) or C.shape[:2] != (X.shape[0], X.shape[1] + 1)):
        raise ValueError(f"small: tables of shape {C.shape}, {C1.shape} for rows {X.shape}")
    # the rows' shared nodes (SHARED_ORDER): one node vector, increasing where the series is used
    N = int(SHARED_ORDER) if X.shape[0] > 1 and np.all(X == X[:1]) else 0
    if N and W1 is not None:  # the model's old piece needs W + W1 the same on every row
        S = W + W1a
        N = N if np.all(np.abs(S - S[:1]) <= 1e-15 * np.abs(S[:1])) else 0
    _eta_rows_kernel(s, float(lam), X, W, nnz, np.ascontiguousarray(L, float),
                     np.ascontiguousarray(npts, np.int64), W1a, psi1, C, C1, float(SMALL_THETA), out, st, N)
    if not np.all(np.isfinite(out)):
        raise ArithmeticError("busy-period transform: Newton's method did not converge")
    return out if W1 is None else (out, psi1)


@numba.njit(cache=True, nogil=True)
def _psi_one_v(u, X, W, j, K, C, theta, er, ei):  # pragma: no cover - compiled
    # _psi_kernel._psi_one (the same terms in the same order) with the row's exponentials
    # e^{-u x}, k in [ms, K), taken together first (_fast_exp, vectorised; er, ei: scratch of
    # the row's length)
    ur = u.real
    ms = np.searchsorted(X[j, :K], theta / abs(u)) if C.shape[0] > 0 and ur > 0.0 else 0
    psi = _small_sum(C, j, ms, u)[0] if ms > 0 else 0.0 + 0.0j
    cexp_neg_scaled(u, X[j], ms, K, er, ei)
    n = 0
    for k in range(ms, K):
        w = W[j, k]
        if w == 0.0:
            continue
        x = X[j, k]
        if ur * x > 46.0:  # e^{-u x} below 1e-20
            psi += w
        else:
            psi += w * (1.0 - complex(er[k], ei[k]))
            n += 1
    return psi, n


@numba.njit(cache=True, nogil=True)
def _psi_kernel_v(U, X, W, nnz, C, theta, skip, out):  # pragma: no cover - compiled
    # out[i, j] = psi_j(U_ij) by _psi_one_v at the entries not skipped (skip of shape (0, 0):
    # every entry)
    n_s, n_t = U.shape
    er = np.empty(X.shape[1])
    ei = np.empty(X.shape[1])
    some = skip.shape[0] > 0
    for i in range(n_s):
        for j in range(n_t):
            if not (some and skip[i, j]):
                out[i, j] = _psi_one_v(U[i, j], X, W, j, nnz[j], C, theta, er, ei)[0]


#: :func:`psi_rows`' callers in this module (the old pieces' and the classes' sums at
#: Kendall's roots) take the exponentials by :mod:`~qtheory.engine._fast_exp` (vectorised; the
#: same terms in the same order, each exponential within 1.5 units of 2^-52 of its modulus);
#: False: the C library's, as :func:`~qtheory.engine._psi_kernel.psi_kernel`
PSI_FAST = True
_NO_SKIP = np.zeros((0, 0), np.bool_)


def psi_rows(U: np.ndarray, X: np.ndarray, W: np.ndarray, C=None, fast: bool = False) -> np.ndarray:
    r""":math:`\psi_j(U_{ij}) = \sum_k W_{jk}(1 - e^{-U_{ij} X_{jk}})`, shape ``U.shape``
    (columns: the rows of ``(X, W)``): with ``C`` (:func:`small_tables` of ``(X, W)``,
    load-free) the nodes with :math:`|u|x <` :data:`SMALL_THETA` by the Taylor series of
    :func:`eta_rows` (the omitted terms below :math:`\theta^N/(N+1)! = 4.3\cdot10^{-20}` of
    :math:`|u|\sum W x`), the others one complex exponential each; without ``C`` (rows whose
    nodes do not increase, or ``Re U <= 0``)
    :func:`~qtheory.engine.response_distribution._psi_at`. SPRPT's and TRAIL's old piece at
    Kendall's roots: 80 -> 20 ms an Euler contour of p99 (Exp(1) sizes, exponential
    predictions, load 0.8). ``fast``: the exponentials of the series' rows by
    :func:`_psi_kernel_v` (:mod:`~qtheory.engine._fast_exp`)."""
    U = np.ascontiguousarray(np.asarray(U, complex))
    if C is None or U.ndim != 2 or U.shape[1] != X.shape[0] or not np.all(U.real > 0):
        return _psi_at(U, X, W)
    X = np.ascontiguousarray(X, float)
    W = np.ascontiguousarray(W, float)
    out = np.empty(U.shape, complex)
    if fast:
        _psi_kernel_v(U, X, W, _nnz(W), C, float(SMALL_THETA), _NO_SKIP, out)
    else:
        psi_kernel(U, X, W, _nnz(W), C, float(SMALL_THETA), out)
    return out


#: PSPJF's residence sums :math:`\sum_k W_{jk}e^{-\eta_j X_{jk}}` over the classes' sizes
#: (unconditional, :math:`\eta_j = \eta_{<y_j}(s)`) by :class:`ClassTaylor`: per point :math:`s`
#: one exponential per distinct size, and the classes whose root lies close to :math:`s` (the
#: small predictions) on the Taylor model of this order in :math:`\eta_j - s` (0: off)
CLASS_ORDER = 8
#: :class:`ClassTaylor`'s model of each row to the lowest order whose remainder bound holds
#: (:func:`_class_taylor_kernel_a`; False: every row to :data:`CLASS_ORDER`): the orders needed
#: are 1 to 3 on two thirds of the rows (Exp(1) sizes, exponential predictions, p99's contour
#: at load 0.8), 12.8 columns a row summed instead of 19; PSPJF's class sums 46-59 -> 44-55 ms
#: a 39-point block, SPRPT's old piece 27-37 -> 26-34 ms (loads 0.35 / 0.8 / 0.95), the sums
#: equal to 1.2e-16 relative (the table's bound columns, one an order, cost what is saved on
#: the rows; the gathers of the table's rows are most of the rest)
CLASS_ADAPTIVE = True


@numba.njit(cache=True, nogil=True)
def _class_taylor_kernel(s, eta, U, idx, X, W, nnz, Wcum, C, theta, N, res, out, ok):  # pragma: no cover
    # out[i, j] = psi_j(eta_ij) = sum_k W_jk (1 - e^{-eta_ij X_jk}) (res: sum_k W_jk
    # e^{-eta_ij X_jk}, the nodes below ms as their weight less the series). Per point s_i: T[m] =
    # [Re, Im of E x^n / n! (n = 0..N), (|Re E| + |Im E|) x^{N+1} / (N+1)!] with E = e^{-s u_m}
    # (0 where Re(s) u_m > 46, as the exponential passes) for the distinct sizes u_m >= theta /
    # max_j |eta_ij|; then per row j (in order) at u = eta_ij: the nodes below ms (the first
    # with x >= theta / |u|, as _psi_one) by the series (_small_sum), the others as their
    # weight less the model sum_n (-d)^n S_n at d = u - s_i, S_n = sum_k W_jk T[idx_jk], kept
    # (ok) while its remainder |d|^{N+1} S_{N+1} stays below 2^-57 of the model; from the first
    # row that fails on, none (ok False: the caller sums those by exponentials)
    n_s, n_c = eta.shape
    M = 2 * N + 3
    T = np.zeros((U.size, M))
    acc = np.empty(M)
    Er = np.empty(U.size)
    Ei = np.empty(U.size)
    for i in range(n_s):
        for j in range(n_c):
            ok[i, j] = False
        si = s[i]
        sr = si.real
        if not sr > 0.0:
            continue
        amax = 0.0
        for j in range(n_c):
            a = abs(eta[i, j])
            if a > amax:
                amax = a
        m0 = np.searchsorted(U, theta / amax) if amax > 0.0 else 0
        cexp_neg_scaled(si, U, m0, U.size, Er, Ei)
        for m in range(m0, U.size):
            x = U[m]
            if sr * x > 46.0:
                for r in range(M):
                    T[m, r] = 0.0
                continue
            e = complex(Er[m], Ei[m])
            c = 1.0
            for n in range(N + 1):
                T[m, 2 * n] = c * e.real
                T[m, 2 * n + 1] = c * e.imag
                c = c * x / (n + 1)
            T[m, M - 1] = c * (abs(e.real) + abs(e.imag))
        umax = U[U.size - 1] if U.size else 0.0
        for j in range(n_c):
            u = eta[i, j]
            d = u - si
            if not u.real > 0.0:
                break
            # Re d >= 0 at the root; rounding leaves it a few units below 0 on the first rows
            # (d = eta - s tiny): then |e^{-z} - sum_{n<=N}(-z)^n/n!| <= |z|^{N+1}/(N+1)!
            # e^{-Re z} with e^{-Re z} <= fac
            fac = 1.0
            if d.real < 0.0:
                fac = math.exp(-d.real * umax)
                if fac > 2.0:
                    break
            K = nnz[j]
            ms = np.searchsorted(X[j, :K], theta / abs(u))
            acc[:] = 0.0
            for k in range(ms, K):
                w = W[j, k]
                if w != 0.0:
                    row = T[idx[j, k]]
                    for r in range(M):
                        acc[r] += w * row[r]
            v = -d
            p = complex(acc[2 * N], acc[2 * N + 1])
            for n in range(N - 1, -1, -1):
                p = complex(acc[2 * n], acc[2 * n + 1]) + v * p
            if fac * abs(d) ** (N + 1) * acc[M - 1] > 2.0 ** -57 * abs(p):
                break
            ps = _small_sum(C, j, ms, u)[0] if ms > 0 else 0.0 + 0.0j
            out[i, j] = (Wcum[j, ms] - ps) + p if res else ps + ((Wcum[j, K] - Wcum[j, ms]) - p)
            ok[i, j] = True


@numba.njit(cache=True, nogil=True)
def _nonzero_nodes(W, idx, j, ms, K, ws, mk):  # pragma: no cover - compiled
    # the nonzero weights W[j, k] of the nodes k in [ms, K) and their table rows idx[j, k], in
    # order, into ws and mk; returns their number
    c = 0
    for k in range(ms, K):
        w = W[j, k]
        if w != 0.0:
            ws[c] = w
            mk[c] = idx[j, k]
            c += 1
    return c


@numba.njit(cache=True, nogil=True)
def _gather_sums(T, ws, mk, c, L, acc):  # pragma: no cover - compiled
    # acc[r] = sum_q ws[q] T[mk[q], r] (r < L, q < c), four nodes a pass: acc = (((acc + w0 t0)
    # + w1 t1) + w2 t2) + w3 t3, the same terms added in the same order as one a pass
    # (bit-identical; a row's 3 to 27 sums loaded and stored once per four nodes: PSPJF's class
    # sums 33 -> 22 ms a p99, Exp(1) sizes, exponential predictions, load 0.8; eight a pass: 23)
    for r in range(L):
        acc[r] = 0.0
    q = 0
    while q + 4 <= c:
        w0 = ws[q]
        w1 = ws[q + 1]
        w2 = ws[q + 2]
        w3 = ws[q + 3]
        m0 = mk[q]
        m1 = mk[q + 1]
        m2 = mk[q + 2]
        m3 = mk[q + 3]
        for r in range(L):
            acc[r] = (((acc[r] + w0 * T[m0, r]) + w1 * T[m1, r]) + w2 * T[m2, r]) + w3 * T[m3, r]
        q += 4
    while q < c:
        w0 = ws[q]
        m0 = mk[q]
        for r in range(L):
            acc[r] += w0 * T[m0, r]
        q += 1


@numba.njit(cache=True, nogil=True)
def _class_taylor_kernel_a(s, eta, U, idx, X, W, nnz, Wcum, C, theta, N, res, out, ok, cols):  # pragma: no cover
    # _class_taylor_kernel with each row's model of the lowest order n <= N whose remainder
    # bound with |E| <= 1, |d|^{n+1} 2 sum_k W_jk x^{n+1}/(n+1)! (the load-free moments C),
    # stays below half the tolerance 2^-57 |p| of the row before (the rows' sums vary little);
    # then its exact bound |d|^{n+1} S_{n+1} checked as there (else the row again at order N).
    # T[m] = [Re, Im of E x^n / n!, (|Re E| + |Im E|) x^{n+1} / (n+1)!] for n = 0..N (three
    # columns an order: a row of order n sums the first 3 (n + 1)); at order N the same sums as
    # _class_taylor_kernel. cols[0] += the columns summed (a count of the work)
    n_s, n_c = eta.shape
    M = 3 * (N + 1)
    T = np.zeros((U.size, M))
    acc = np.empty(M)
    Er = np.empty(U.size)
    Ei = np.empty(U.size)
    ws = np.empty(W.shape[1])
    mk = np.empty(W.shape[1], np.int64)
    tiny = 2.0 ** -57
    have_c = C.shape[0] > 0 and C.shape[2] > N
    for i in range(n_s):
        for j in range(n_c):
            ok[i, j] = False
        si = s[i]
        sr = si.real
        if not sr > 0.0:
            continue
        amax = 0.0
        for j in range(n_c):
            a = abs(eta[i, j])
            if a > amax:
                amax = a
        m0 = np.searchsorted(U, theta / amax) if amax > 0.0 else 0
        cexp_neg_scaled(si, U, m0, U.size, Er, Ei)
        for m in range(m0, U.size):
            x = U[m]
            if sr * x > 46.0:
                for r in range(M):
                    T[m, r] = 0.0
                continue
            e = complex(Er[m], Ei[m])
            ae = abs(e.real) + abs(e.imag)
            c = 1.0
            for n in range(N + 1):
                T[m, 3 * n] = c * e.real
                T[m, 3 * n + 1] = c * e.imag
                c = c * x / (n + 1)
                T[m, 3 * n + 2] = c * ae
        umax = U[U.size - 1] if U.size else 0.0
        pprev = 0.0
        for j in range(n_c):
            u = eta[i, j]
            d = u - si
            if not u.real > 0.0:
                break
            fac = 1.0
            if d.real < 0.0:
                fac = math.exp(-d.real * umax)
                if fac > 2.0:
                    break
            K = nnz[j]
            ms = np.searchsorted(X[j, :K], theta / abs(u))
            ad = abs(d)
            nj = N
            if pprev > 0.0 and have_c:
                a = ad
                for n in range(1, N):
                    a = a * ad
                    # C[j, m, n] holds sum_{k < m} W x^{n+1} / (n+1)!
                    if fac * a * 2.0 * (C[j, K, n] - C[j, ms, n]) <= 0.5 * tiny * pprev:
                        nj = n
                        break
            good = False
            p = 0.0 + 0.0j
            c = _nonzero_nodes(W, idx, j, ms, K, ws, mk)
            while True:
                L = 3 * (nj + 1)
                _gather_sums(T, ws, mk, c, L, acc)
                cols[0] += L
                v = -d
                p = complex(acc[3 * nj], acc[3 * nj + 1])
                for n in range(nj - 1, -1, -1):
                    p = complex(acc[3 * n], acc[3 * n + 1]) + v * p
                if fac * ad ** (nj + 1) * acc[3 * nj + 2] <= tiny * abs(p):
                    good = True
                    break
                if nj == N:
                    break
                nj = N
            if not good:
                break
            pprev = abs(p)
            ps = _small_sum(C, j, ms, u)[0] if ms > 0 else 0.0 + 0.0j
            out[i, j] = (Wcum[j, ms] - ps) + p if res else ps + ((Wcum[j, K] - Wcum[j, ms]) - p)
            ok[i, j] = True


@numba.njit(cache=True, nogil=True)
def _psi_kernel_where(U, X, W, nnz, C, theta, skip, out):  # pragma: no cover - compiled
    # psi_kernel (_psi_one) at the entries not skipped
    n_s, n_t = U.shape
    for i in range(n_s):
        for j in range(n_t):
            if not skip[i, j]:
                out[i, j] = _psi_one(U[i, j], X, W, j, nnz[j], C, theta)[0]


class ClassTaylor:
    r"""The sums :math:`\psi_j(\eta_j) = \sum_k W_{jk}(1 - e^{-\eta_j X_{jk}})` (and
    :math:`r_j = \sum_k W_{jk}e^{-\eta_j X_{jk}}`) of rows that share most of their nodes, at
    roots :math:`\eta_j = s + \delta_j` that grow along the rows: PSPJF's residence over the
    classes' sizes at :math:`\eta_{<y_j}(s)` (unconditional) and SPRPT's old piece
    :math:`X^{old}_1` on the threshold grid. Per point :math:`s` the exponentials
    :math:`E_m = e^{-su_m}` of the distinct nodes :math:`u_m` once (:class:`SharedNodes`); per row,
    the nodes with :math:`|\eta_j|x < \theta` by the series of :func:`psi_rows`
    (:data:`SMALL_THETA`), the others, while :math:`\delta_j` is small (the small predictions or
    thresholds: :math:`\delta_j \approx \lambda\eta\,E[X1\{Y < y_j\}]`), on the Taylor model

    .. math::
        \sum_k W_{jk}e^{-\eta_j X_{jk}} = \sum_{n=0}^{N}(-\delta_j)^n S_{jn} + \epsilon,\qquad
        S_{jn} = \sum_k W_{jk}\frac{X_{jk}^n}{n!}E_{m(j,k)},\qquad
        |\epsilon| \le |\delta_j|^{N+1}\sum_k W_{jk}\frac{X_{jk}^{N+1}}{(N+1)!}|E_{m(j,k)}|

    (:math:`\operatorname{Re}\delta_j \ge 0`: :math:`|e^{-z} - \sum_{n\le N}(-z)^n/n!| \le
    |z|^{N+1}/(N+1)!`; :math:`N =` :data:`CLASS_ORDER`), kept while the bound stays below
    :math:`2^{-57}` of the model's sum; from the first row where it fails on,
    :func:`psi_rows` (one exponential a node), as before. As Kendall's rows' shared Taylor model
    (:func:`eta_rows`); the same sums to rounding (the transform within 8e-16 relative,
    Exp(1) sizes, exponential predictions). An Euler contour of p99 (Exp(1) sizes,
    exponential predictions, loads 0.3 / 0.8 / 0.95): PSPJF's class sums 92 / 69 / 53 ms ->
    68 / 59 / 39 ms, SPRPT's old piece 28 / 21 / 16 ms -> 21 / 16 / 12 ms."""

    def __init__(self, X: np.ndarray, W: np.ndarray, C=None, order: int = CLASS_ORDER, unique=None):
        self.nodes = SharedNodes(X, W, unique=unique)
        self.X = np.ascontiguousarray(X, float)
        self.W = self.nodes.W
        self.nnz = np.ascontiguousarray(_nnz(self.W), np.int64)
        self.C = C
        self.order = int(order)
        self.wsum = self.W.sum(1)
        #: the rows' cumulative weights (the nodes below the series' cut)
        self.Wcum = np.zeros((self.W.shape[0], self.W.shape[1] + 1))
        np.cumsum(self.W, axis=1, out=self.Wcum[:, 1:])

    def psi(self, s: np.ndarray, eta: np.ndarray) -> np.ndarray:
        r""":math:`\psi_j(\eta_j) = \sum_k W_{jk}(1 - e^{-\eta_j X_{jk}})` at the points ``s``
        and the roots ``eta`` (shape ``(len(s), rows)``): the nodes below :math:`\theta/|\eta_j|`
        by the series (:func:`psi_rows`), the others on the model or by exponentials."""
        return self._sums(s, eta, False)

    def residence(self, s: np.ndarray, eta: np.ndarray) -> np.ndarray:
        r""":math:`r_j = \sum_k W_{jk}e^{-\eta_j X_{jk}}` (the rows on the model summed as such;
        the others :math:`\sum_k W_{jk} - \psi_j(\eta_j)`, as :func:`psi_rows`'s callers)."""
        return self._sums(s, eta, True)

    def _sums(self, s: np.ndarray, eta: np.ndarray, res: bool) -> np.ndarray:
        s = np.ascontiguousarray(np.asarray(s, complex).reshape(-1))
        eta = np.ascontiguousarray(eta, complex)
        out = np.empty(eta.shape, complex)
        ok = np.zeros(eta.shape, bool)
        if self.order > 0 and self.C is not None and CLASS_ADAPTIVE:
            _class_taylor_kernel_a(s, eta, self.nodes.U, self.nodes.idx, self.X, self.W, self.nnz, self.Wcum,
                                   self.C, float(SMALL_THETA), self.order, bool(res), out, ok, np.zeros(1, np.int64))
        elif self.order > 0 and self.C is not None:
            _class_taylor_kernel(s, eta, self.nodes.U, self.nodes.idx, self.X, self.W, self.nnz, self.Wcum,
                                 self.C, float(SMALL_THETA), self.order, bool(res), out, ok)
        if ok.all():
            return out
        if self.C is None or not np.all(eta.real > 0):
            psi = psi_rows(eta, self.X, self.W, self.C, fast=PSI_FAST)
        else:
            psi = np.zeros(eta.shape, complex)  # (0 where on the model: no stray values)
            if PSI_FAST:
                _psi_kernel_v(eta, self.X, self.W, self.nnz, self.C, float(SMALL_THETA), ok, psi)
            else:
                _psi_kernel_where(eta, self.X, self.W, self.nnz, self.C, float(SMALL_THETA), ok, psi)
        return np.where(ok, out, self.wsum[None, :] - psi if res else psi)


def eta_small_tables(X: np.ndarray, W: np.ndarray, W1=None) -> tuple:
    """``(C, C1)`` for :func:`eta_rows`'s ``small``: :func:`small_tables` of ``W`` and of ``W1``
    (``None`` where the rows' nodes do not increase or ``W1`` is ``None``)."""
    C = small_tables(X, W)
    if C is None:
        return None, None
    return C, (None if W1 is None else small_tables(X, W1))


def _unique_inverse(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(X, return_inverse=True)`` (the inverse shaped as ``X``, int64) by a sort of
    the values and a binary search, without ``unique``'s argsort: the same arrays (finite ``X``;
    45 -> 15 ms on SPJF's 303000 class nodes)."""
    flat = np.asarray(X, float).reshape(-1)
    if not np.all(np.isfinite(flat)):
        U, inv = np.unique(flat, return_inverse=True)
        return U, np.ascontiguousarray(inv.reshape(X.shape), np.int64)
    srt = np.sort(flat)
    keep = np.empty(srt.size, bool)
    keep[:1] = True
    np.not_equal(srt[1:], srt[:-1], out=keep[1:])
    U = srt[keep]
    idx = np.searchsorted(U, flat).astype(np.int64, copy=False)
    return U, np.ascontiguousarray(idx.reshape(X.shape))


class SharedNodes:
    r"""The rows ``(X, W)`` of a table over their distinct nodes: the classes' sizes of a
    continuous joint law are the size rule's nodes plus a few per row (the panels split at
    :math:`x = y` and at the kinks), about 5400 distinct among 118000 (Exp(1) sizes,
    exponential predictions), so that

    .. math::
        \sum_k W_{jk} e^{-s X_{jk}} = \sum_k W_{jk} E_{m(j, k)},\qquad E_m = e^{-s u_m},

    takes one exponential per distinct node :math:`u_m` and per :math:`s` (the same terms,
    summed in the same order; :math:`e^{-sx}` below :math:`e^{-\mathrm{cut}}` set to 0: ``cut``
    46, :math:`10^{-20}`, as in :func:`~qtheory.engine.response_distribution._psi_at`)."""

    def __init__(self, X: np.ndarray, W: np.ndarray, cut: float = 46.0, unique=None):
        X = np.asarray(X, float)
        self.cut = float(cut)
        self.W = np.ascontiguousarray(W, float)
        #: ``unique``: :func:`_unique_inverse` of ``X`` where the caller has it (SPRPT's old
        #: piece: :meth:`~qtheory.engine._joint_rule.FactorJointRule.unique_of`)
        self.U, self.idx = _unique_inverse(X) if unique is None else unique

    def exp_sums(self, s: np.ndarray) -> np.ndarray:
        r""":math:`\sum_k W_{jk} e^{-s_i X_{jk}}`, shape ``(len(s), rows)`` (compiled)."""
        s = np.ascontiguousarray(np.asarray(s, complex).reshape(-1))
        out = np.empty((s.size, self.W.shape[0]), complex)
        (_exp_sum_kernel_split if EXP_SUM_SPLIT else _exp_sum_kernel)(s, self.U, self.idx, self.W, self.cut, out)
        return out


def joint_rule(model, conditional: bool, width: float | None = None):
    r"""The joint law of :math:`(X, Y)` of ``model`` as a rule (:mod:`qtheory.engine._joint_rule`):
    exact pairs for finite joint laws (empirical pairs, discrete sizes with discrete or perfect
    predictions), the 2-D rule for continuous sizes with a multiplicative factor; ``None`` for
    perfect predictions on a continuous size law (the size-based transform is then exact).

    The rule depends on the laws only, not on the arrival rate: it is cached on the size law
    (per prediction law), with the load-free tables of the transforms built on it
    (:meth:`PredictionTransform._setup`), so that the models of a load sweep share them.
    ``width``: the unconditional rule's size panels (default :data:`WIDTH_JOINT`)."""
    pred = model.prediction
    if pred is None:
        raise ValueError("this policy uses predictions but the model has none; pass prediction=... "
                         "(e.g. qt.ExponentialPrediction())")
    cache = model.size.__dict__.setdefault("_qt_cache", {})
    width = WIDTH_JOINT if width is None else float(width)
    key = ("_qt_joint_rule", bool(conditional), id(pred), width)
    hit = cache.get(key)
    if hit is not None and hit[0] is pred:
        return hit[1]
    rule = _joint_rule(model, conditional, width)
    # at most a few prediction laws per size law (the tables are large)
    old = [k for k in cache if isinstance(k, tuple) and k and k[0] == "_qt_joint_rule"]
    for k in old[: max(0, len(old) - _RULES_KEPT + 1)]:
        del cache[k]
    cache[key] = (pred, rule)
    return rule


def _joint_rule(model, conditional: bool, width: float):
    from ..laws.joint import EmpiricalJoint, FactorJoint

    pred = model.prediction
    size = model.size
    joint = pred.joint(size)
    if pred.is_perfect:
        if size.is_discrete:
            x, p = np.asarray(size.atom_values, float), np.asarray(size.atom_probs, float)
            return DiscreteJointRule(x, x, p)
        return None
    if isinstance(joint, EmpiricalJoint):
        return DiscreteJointRule(joint.x, joint.y, joint.w)
    if isinstance(joint, FactorJoint) and not size.is_discrete and not size.atom_values.size:
        if conditional:
            rule = FactorJointRule(_rule(size, WIDTH_CLASS), joint.factor, WIDTH_Y, WIDTH_T)
            # a class law is inverted next to its atom: the sparse piece (SPRPT, TRAIL) graded
            # towards 0 on a size law with a lower end > 0 (response_distribution_trail.PIECE_GRADE)
            rule.piece_grade = True
            return rule
        return FactorJointRule(_rule(size, width), joint.factor, WIDTH_Y, WIDTH_T,
                               class_rule=_rule(size, WIDTH_CLASS))
    raise NotImplementedError(
        f"prediction-based response-time distributions on the joint law {type(joint).__name__} "
        f"(sizes {size!r}, predictions {pred!r}) are not implemented: they cover finite joint laws "
        "(qt.EmpiricalPairs, discrete sizes with one-bit or bounded deterministic predictions, "
        "perfect predictions) and continuous sizes with a multiplicative factor with a density "
        "(Exponential, LogNormal, Uniform predictions); discrete sizes with a continuous factor, "
        "one-bit advice on continuous sizes and deterministic factor maps are not")


def _fine_rows(rule: FactorJointRule, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`X1\{Y < v\}` (``rule.new``) on the size rule of :data:`LEVEL_SIZE_WIDTH`, cut at
    :math:`v/k` for the factor's kinks :math:`k`."""
    v = np.atleast_1d(np.asarray(v, float))
    X, W = rule._split(rule._kink_cuts(v), r=_rule(rule.r.size, LEVEL_SIZE_WIDTH))
    return X, W * rule.f.cdf(v[:, None] / X)


class PredictionTransform:
    r"""LST and the first two moments of :math:`T` (or :math:`W`) of SPJF / PSPJF / SPRPT.

    Parameters
    ----------
    model : qtheory.MG1
    policy : Policy
        Rank shape (``formula_form()``) nonpreemptive, static or remaining, descriptor
        ``"prediction"``.
    rule : DiscreteJointRule or FactorJointRule
    x, y : float or None
        A class (both given) or the unconditional law (both ``None``).
    waiting : bool
        The waiting time :math:`W` instead of :math:`T`.
    """

    def __init__(self, model, policy, rule, x=None, y=None, waiting: bool = False):
        self.lam = float(model.arrival_rate)
        self.kind = policy.formula_form()
        self._setup(rule, x, y, waiting)

    # -- what a subclass with other pieces (TRAIL) replaces ---------------------------------------
    def _classes(self, rule):
        r"""``(y, X, W)`` of the unconditional law's classes. SPRPT on a continuous joint law:
        the prediction panels have edges where a residence kink :math:`x = y` meets an end or
        breakpoint :math:`b > 0` of the size law (:math:`y = b`, TRAIL(1)'s classes; without
        them the atoms' mass :math:`\sum W a` was 2.7e-8 off on Pareto(2.5) sizes)."""
        if self.kind == "remaining" and not rule.discrete:
            from .response_distribution_trail import _factor_classes

            return _factor_classes(rule, 1.0)
        return rule.classes()

    def _tgrid(self, rule):
        """The thresholds where Kendall's equation is solved."""
        return rule.tgrid(top=float(self.ys.max()) if self.conditional else None)

    def _residence_start(self) -> np.ndarray:
        """Per class, the rank where the residence integral starts (before clipping at 0)."""
        return self.ys[:, None] - self.Xc

    def _old_piece(self, rule, rows):
        """The sparse old piece :math:`X^{old}_1` at the thresholds ``rows``."""
        if self.kind == "nonpreemptive":
            return rule.gt_x(rows)
        if self.kind == "remaining":
            return rule.gt_rem(rows)
        return np.ones((rows.size, 1)), np.zeros((rows.size, 1))

    def _setup_key(self) -> tuple:
        """What, besides the rank shape, class and ``waiting``, the load-free tables depend on
        (a subclass's parameters)."""
        return ()

    #: the unconditional law sums the residence over each class's sizes at Kendall's roots
    #: (False: :class:`~qtheory.engine.response_distribution_prediction_outer.OuterPredictionTransform`)
    _class_sums = True

    def _setup(self, rule, x, y, waiting: bool) -> None:
        r"""The load-free tables (classes, thresholds, the pieces' nodes and weights), cached on
        ``rule`` (they depend on the joint law only; a load sweep reuses them). Never modified in
        place after this."""
        key = (type(self).__name__, self.kind, self._setup_key(), x if x is None else float(x),
               y if y is None else float(y), bool(waiting))
        cache = rule.__dict__.setdefault("_qt_setups", {})
        hit = cache.get(key)
        if hit is None:
            before = set(self.__dict__)
            self._build_tables(rule, x, y, waiting)
            hit = {k: v for k, v in self.__dict__.items() if k not in before}
            while len(cache) >= _SETUPS_KEPT:
                del cache[next(iter(cache))]
            cache[key] = hit
        self.__dict__.update(hit)

    def _build_tables(self, rule, x, y, waiting: bool) -> None:
        #: load-free moments of the tables (:meth:`_m`, :meth:`_pieces`), filled on first use
        self._moment_memo = {}
        self.rule = rule
        self.waiting = waiting
        self.conditional = x is not None
        if self.conditional:
            self.ys = np.array([float(y)])
            self.Xc = np.array([[float(x)]])
            self.Wc = np.array([[1.0]])
        else:
            self.ys, self.Xc, self.Wc = self._classes(rule)
        #: a class's response time is inverted as T - x (its law jumps at x)
        self.shifted = self.conditional and not waiting
        #: continuous joint law, unconditional: the pieces (Kendall's equation, the old-job
        #: delay) are computed on the threshold grid and interpolated at the prediction nodes
        #: (they are smooth in log y; eta_{<y}(s) does not oscillate in y)
        self._interp = not self.conditional and not rule.discrete
        self._d = self._residence_start()
        if (self.kind == "remaining" and not waiting) or self._interp:
            self.grid = self._tgrid(rule)
            self.Xt, self.Wt = rule.new(self.grid.t, strict=True)
            self._q_y = self.grid.locate(self.ys)
            #: the residence starts located on the grid: SPRPT's (and its kin's) residence
            #: integrals only (SPJF and PSPJF have none: 40 ms of their set-up, Exp(1) sizes)
            self._q_d = self.grid.locate(np.maximum(self._d, 0.0)) if self.kind == "remaining" else None
            #: ... and those of them above 0 (about 20% of the nodes on Exp(1) sizes with
            #: exponential predictions; R(0) = 0 at the others): (flat indices, located)
            self._q_d_pos = None
            if self._q_d is not None:
                pos = np.flatnonzero(self._d.reshape(-1) > 0.0)
                self._q_d_pos = (pos, (self._q_d[0][pos], np.ascontiguousarray(self._q_d[1][pos])))
            #: Kendall's equation on the grid: Newton started from the previous rows' roots
            #: (a continuous joint law; a finite one's nested rows go through busy_eta's moments)
            self._eta_ext = None if rule.discrete else _row_extrapolation(self.grid.t, ETA_EXTRAPOLATE)
        #: the thresholds where the pieces are computed
        rows = self.grid.t if self._interp else self.ys
        if self._interp:
            self.Xn, self.Wn = self.Xt, self.Wt
        elif self._kinked_class(rule):
            #: a class on a factor law with kinks: Kendall's row at y (and the old work's,
            #: X 1{Y <= y}, the same row: continuous) on the size rule of LEVEL_SIZE_WIDTH, as
            #: SPRPT's levels' and the falling rank route's (PSPJF's residence
            #: e^{-x eta_{<y}(s)}: its cdf at x + 0.2 8.5e-8 off on a 0.25 rule, 1.5e-10 on 0.125)
            self.Xn, self.Wn = _fine_rows(rule, rows)
        else:
            self.Xn, self.Wn = rule.new(rows, strict=True)
        self.Xo, self.Wo = (self.Xn, self.Wn) if not rule.discrete and (self._interp or self._kinked_class(rule)) \
            else rule.new(rows, strict=False)
        self.X1, self.W1 = self._old_piece(rule, rows)
        #: SPJF's residence e^{-sx} summed over the classes' distinct sizes (unconditional)
        #: SPJF's old piece X 1{Y > t} on the grid's nodes (continuous joint law,
        #: unconditional): its sums at Kendall's roots come out of Newton's last pass (eta_rows)
        self._w1_fused = None
        if self.kind == "nonpreemptive" and self._interp and getattr(self, "_eta_ext", None) is not None \
                and self.X1.shape == self.Xt.shape and np.array_equal(self.X1, self.Xt):
            self._w1_fused = np.ascontiguousarray(self.W1, float)
        #: the cumulative moments of Kendall's rows (and SPJF's old piece) for the nodes summed
        #: by the series (eta_rows; continuous joint law, on the threshold grid)
        self._eta_small = eta_small_tables(self.Xt, self.Wt, self._w1_fused) \
            if getattr(self, "_eta_ext", None) is not None else (None, None)
        #: the cumulative moments of the old piece's rows (SPRPT, TRAIL: its sums at Kendall's
        #: roots by the series where they are small; psi_rows)
        self._x1_small = small_tables(self.X1, self.W1) if self._interp and self.kind != "static" \
            and self._w1_fused is None else None
        self._shared = SharedNodes(self.Xc, self.Wc) if self.kind == "nonpreemptive" and \
            not self.conditional and not waiting else None
        #: PSPJF's residence sums over the classes' sizes at Kendall's roots (unconditional):
        #: the cumulative moments of the class rows, for the nodes summed by the series
        #: (psi_rows; 70 -> 30 ms an Euler contour of p99, Exp(1) sizes, exponential
        #: predictions, load 0.8; the table is 21 MB there, 66 MB on Weibull(0.5) sizes)
        self._xc_small = small_tables(self.Xc, self.Wc) if self.kind == "static" and \
            not self.conditional and not waiting and self._class_sums else None
        #: ... and by ClassTaylor: the classes of small predictions on the Taylor model at the
        #: sizes' shared exponentials
        self._class_taylor = ClassTaylor(self.Xc, self.Wc, self._xc_small) \
            if self._xc_small is not None and CLASS_ORDER > 0 else None
        #: ... and SPRPT's old piece at Kendall's roots on the grid (its rows share their
        #: remaining sizes: 5180 distinct among 103000 on Exp(1) sizes, exponential predictions)
        self._x1_taylor = ClassTaylor(self.X1, self.W1, self._x1_small, unique=self._unique_of(rule, self.X1)) \
            if self._x1_small is not None and self.kind == "remaining" and CLASS_ORDER > 0 else None
        self._flat = self._flat_nodes() if self.kind == "remaining" and not waiting and \
            not self.conditional else None
        #: the prediction nodes located on the threshold grid once (load-free: _at_classes)
        self._interp_at = self._locate_classes() if self._interp and \
            getattr(self.grid, "_interp", None) is not None else None
        #: SPRPT's class on a factor law with kinks: the residence's own level rule
        #: (TRAIL, a subclass, keeps the grid's interpolant: not measured there)
        self._own_levels = self._class_levels(rule) if self.kind == "remaining" and \
            self._fine_class(rule, waiting) else None

    def _kinked_class(self, rule) -> bool:
        r"""A class (``T`` or ``W``) of SPJF, PSPJF or SPRPT on a factor law with kinks
        (uniform, bounded-multiplicative predictions): Kendall's row :math:`X1\{Y < y\}` and
        the old work's on :data:`LEVEL_SIZE_WIDTH`'s size rule (:func:`_fine_rows`), whatever
        the class rule's width (:data:`WIDTH_CLASS`). The falling rank route
        (:class:`~qtheory.engine.response_distribution_prediction_rank.PredictionRankTransform`)
        overrides this with the same rule (its rank :math:`y^2` is PSPJF's class law); TRAIL, a
        subclass, keeps the class rule (not measured there)."""
        return type(self) is PredictionTransform and self.conditional and not rule.discrete and \
            bool(rule.kinks.size)

    def _fine_class(self, rule, waiting: bool) -> bool:
        """A class of SPRPT (``T``) on a factor law with kinks (uniform, bounded-multiplicative
        predictions): the residence on its own levels, Kendall's equation solved at each
        (:meth:`_class_levels`; its rows, as :meth:`_kinked_class`'s, on
        :data:`LEVEL_SIZE_WIDTH`'s size rule; the falling rank route has its own age levels)."""
        return type(self) is PredictionTransform and self._kinked_class(rule) and not waiting and \
            self.kind == "remaining"

    def _class_levels(self, rule):
        r"""The levels :math:`v_l` and weights :math:`w_l` with
        :math:`\int_d^y g(v)\,dv \approx \sum_l w_l g(v_l)` (:math:`d = (y - x)^+`, a class)
        and the rows of :math:`X1\{Y < v_l\}` (``rule.new``), so that the residence
        :math:`\int_d^y (\eta_{<v}(s) - s)\,dv` solves Kendall's equation at every node.

        On a factor law whose density jumps at :math:`k` (uniform predictions),
        :math:`\eta_{<v}(s)` oscillates in :math:`v` like :math:`e^{-\eta v/k}`, which the threshold
        grid's interpolant in :math:`\log v` does not follow at high :math:`|s|` (3.2e-6 off at
        :math:`s = 2 + 150i`, Exp(1) sizes, uniform(0.5) predictions, load 0.8; the class cdf
        4.3e-7 off at t = 1 for (x, y) = (0.4, 1.1); ``docs/response_time_distribution.md``,
        section 5). Panels: the grid's panels (edges at its panel edges) inside
        :math:`[\max(d, lo), y]`, each cut in equal parts at most :data:`LEVEL_WIDTH` wide,
        10 Gauss-Legendre nodes each; below :math:`lo`, the last panel edge with
        :math:`\lambda\,lo\,P(Y < lo) \le` :data:`LEVEL_CUT` (then
        :math:`|\int_0^{lo}(\eta_{<v} - s)\,dv| \le \lambda\int_0^{lo} P(Y < v)\,dv` is below it),
        :math:`\eta_{<v} = s`. The rows :math:`X1\{Y < v_l\}` on the size rule of
        :data:`LEVEL_SIZE_WIDTH` (cut at :math:`v_l/k`). As the rank route's age rule
        (:class:`~qtheory.engine.response_distribution_prediction_rank.AgeRule`)."""
        from ..laws._quadrature import _gl
        from .response_distribution_prediction_rank import grid_edges

        y = float(self.ys[0])
        ge = grid_edges(self.grid)
        # below the last edge e with lam e P(Y < e) <= LEVEL_CUT, |int_0^e (eta_{<v} - s) dv| <=
        # lam int_0^e P(Y < v) dv is negligible: eta = s there (x >= y: 270 -> 210 levels)
        small = ge[self.lam * ge * rule.cdf_y(ge) <= LEVEL_CUT]
        lo = float(small[-1]) if small.size else float(ge[0])
        a = max(float(self._d[0, 0]), lo)
        if not y > a:
            z = np.zeros((0, 1))
            return np.zeros(0), np.zeros(0), z, z
        e = np.unique(np.concatenate([[a, y], ge[(ge > a) & (ge < y)]]))
        parts = np.maximum(1, np.ceil(np.diff(e) / LEVEL_WIDTH - 1e-9)).astype(int)
        e = np.concatenate([np.linspace(e0, e1, k + 1)[:-1] for e0, e1, k in
                            zip(e[:-1], e[1:], parts, strict=True)] + [e[-1:]])
        tn, tw = _gl(10)
        h = np.diff(e)
        v = (e[:-1, None] + h[:, None] * tn[None, :]).ravel()
        w = (h[:, None] * tw[None, :]).ravel()
        Xl, Wl = _fine_rows(rule, v)
        return v, w, np.ascontiguousarray(Xl, float), np.ascontiguousarray(Wl, float)

    @staticmethod
    def _unique_of(rule, X):
        """:func:`_unique_inverse` of ``X`` where ``rule`` found it (the distinct pieces of its
        last ``gt_rem``: a sort of 176000 values less, Exp(1) sizes), else ``None``."""
        fn = getattr(rule, "unique_of", None)
        return None if fn is None else fn(X)

    def _flat_nodes(self):
        r"""The residence's nodes where its start :math:`d = (y - x)^+` (SPRPT; TRAIL:
        :math:`y - \min(x, cy)`) has reached its floor :math:`d_j` (:math:`x \ge y`, resp.
        :math:`x \ge cy`: about 80% of the nodes on Exp(1) sizes with exponential
        predictions), whose terms are :math:`W e^{R(d_j) - R(y_j)}e^{-sx}`: the factor once per
        class and :math:`e^{-sx}` once per distinct size (:class:`SharedNodes`). Returns (the
        other nodes' weights, ``grid.locate(d_j)``, the flat nodes' :class:`SharedNodes`)."""
        d0 = np.maximum(self._d, 0.0)
        floor = d0.min(axis=1)
        flat = (d0 == floor[:, None]) & (self.Wc != 0)
        Wr = np.ascontiguousarray(np.where(flat, 0.0, self.Wc))
        return Wr, self.grid.locate(floor), SharedNodes(self.Xc, np.where(flat, self.Wc, 0.0), cut=700.0)

    def _cum_at(self, f: np.ndarray, located) -> np.ndarray:
        r""":math:`\int_0^c f` on the threshold grid (``f``: last axis over its nodes) at the points
        ``located`` by ``grid.locate`` (the classes' :math:`y` and residence starts, located
        once): :meth:`TGrid.cum` without locating again."""
        g = self.grid
        p, coef = located
        Rc = g.panel_integrals(f)
        if f.ndim <= 2 and f.shape[-1] == g.t.size and np.all(g.starts[p] + g.L <= g.t.size):
            # compiled (the residence moments' starts: 1e5 points, an einsum over a gathered
            # copy cost 36 ms a load)
            f2 = np.ascontiguousarray(f.reshape(-1, f.shape[-1]))
            Rc2 = np.ascontiguousarray(Rc.reshape(-1, Rc.shape[-1]))
            out = np.empty((f2.shape[0], p.size), f2.dtype)
            _cum_kernel(f2, Rc2, np.ascontiguousarray(p, np.int64), np.ascontiguousarray(g.starts, np.int64),
                        np.ascontiguousarray(coef, float), out)
            return out.reshape(f.shape[:-1] + (p.size,))
        idx = np.minimum(g.starts[p][:, None] + np.arange(g.L)[None, :], g.t.size - 1)
        return Rc[..., p] + np.einsum("...ql,ql->...q", f[..., idx], coef)

    def _cum_at_starts(self, f: np.ndarray) -> np.ndarray:
        r""":math:`\int_0^{d} f` at the residence starts :math:`d = (y - x)^+` of every class
        node (flat, shape ``f.shape[:-1] + (Xc.size,)``): computed at the starts above 0 only,
        0 at the others (where :meth:`_cum_at` adds no term either: the same values)."""
        hit = getattr(self, "_q_d_pos", None)
        if hit is None:
            return self._cum_at(f, self._q_d)
        pos, located = hit
        part = self._cum_at(f, located)
        out = np.zeros(part.shape[:-1] + (self._d.size,), part.dtype)
        out[..., pos] = part
        return out

    def _at_classes(self, a: np.ndarray) -> np.ndarray:
        """Values on the rows (last axis) at the prediction nodes: :meth:`TGrid.interp
        <qtheory.engine._joint_rule.TGrid.interp>` with the nodes' panels and Lagrange weights
        found once per setup (load-free; the same sums)."""
        if not self._interp:
            return a
        at = getattr(self, "_interp_at", None)
        if at is None:
            return self.grid.interp(a, self.ys)
        idx, basis = at
        return np.einsum("...ql,ql->...q", a[..., idx], basis)

    def _locate_classes(self):
        """The panels' node indices and Lagrange weights of the prediction nodes on the
        threshold grid (:meth:`_at_classes`)."""
        g = self.grid
        p, basis = g._interp(np.asarray(self.ys, float).reshape(-1))
        idx = np.minimum(g.starts[p][:, None] + np.arange(g.L)[None, :], g.t.size - 1)
        return idx, basis

    # -- pieces and moments ----------------------------------------------------------------------
    def _m(self, X, W, k):
        r""":math:`\sum_k W_{jk} X_{jk}^k` per row; load-free: kept (read-only) in the setup's
        memo, which the models of a load sweep share (:meth:`_setup`), for the tables of the
        setup (at most :data:`_MEMO_KEPT` entries)."""
        memo = self.__dict__.get("_moment_memo")
        if memo is None:
            return np.sum(W * X ** k, axis=1)
        key = (id(X), id(W), int(k))
        hit = memo.get(key)
        if hit is not None and hit[0] is X and hit[1] is W:
            return hit[2]
        v = np.sum(W * X ** k, axis=1)
        v.setflags(write=False)
        if len(memo) >= _MEMO_KEPT:
            memo.clear()
        memo[key] = (X, W, v)
        return v

    def _pieces(self):
        """The moments of the pieces at the prediction nodes (load-free: computed once per
        setup)."""
        memo = self.__dict__.get("_moment_memo")
        hit = None if memo is None else memo.get("pieces")
        if hit is None:
            c = self._at_classes
            o = [c(self._m(self.Xo, self.Wo, k)) for k in (1, 2, 3)]
            p = [c(self._m(self.X1, self.W1, k)) for k in (1, 2, 3)]
            n1, n2 = c(self._m(self.Xn, self.Wn, 1)), c(self._m(self.Xn, self.Wn, 2))
            hit = (o, p, n1, n2)
            for a in o + p + [n1, n2]:
                a.setflags(write=False)
            if memo is not None:
                memo["pieces"] = hit
        o, p, n1, n2 = hit
        return self.lam, list(o), list(p), n1, n2

    def _class_moments(self):
        r"""Mean and variance of :math:`W` per prediction node and of the residence per class:
        busy-period cumulants :math:`\eta'(0) = 1/(1-\rho)`,
        :math:`-\eta''(0) = \lambda E[X^2]/(1-\rho)^3` and the expansion of :math:`\tilde V`."""
        lam, (o1, o2, o3), (p1, p2, p3), n1, n2 = self._pieces()
        with np.errstate(divide="ignore", invalid="ignore"):
            r0 = 1.0 - lam * o1
            a1, a2 = lam * p2 / (2 * r0), lam * p3 / (6 * r0)
            b1, b2 = lam * o2 / (2 * r0), lam * o3 / (6 * r0)
            ev = a1 + b1
            varv = 2 * (a2 + b2 + b1 * (a1 + b1)) - ev * ev
            rn = 1.0 - lam * n1
            ew = ev / rn
            varw = varv / rn ** 2 + ev * lam * n2 / rn ** 3
        return ew, varw, rn, n2

    def _residence_integrands(self) -> tuple[np.ndarray, np.ndarray]:
        r"""On the threshold grid: :math:`1/(1 - \lambda A(v))` and
        :math:`\lambda B(v)/(1 - \lambda A(v))^3` (:math:`A, B` the first two moments of the
        new work below the level), the integrands of the residence's mean and variance."""
        lam = self.lam
        A = self._m(self.Xt, self.Wt, 1)
        B = self._m(self.Xt, self.Wt, 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            return 1.0 / (1.0 - lam * A), lam * B / (1.0 - lam * A) ** 3

    def _residence_moments(self, rn, n2):
        """Mean and variance of the residence per class (rows: prediction nodes)."""
        X, lam = self.Xc, self.lam
        if self.kind == "nonpreemptive":
            return X, np.zeros_like(X)
        if self.kind == "static":
            with np.errstate(divide="ignore", invalid="ignore"):
                return X / rn[:, None], X * (lam * n2 / rn ** 3)[:, None]
        f1, f2 = self._residence_integrands()
        ys = self.ys[:, None]
        d = np.maximum(ys - X, 0.0)
        out = []
        for f in (f1, f2):
            Ry = self._cum_at(f, self._q_y)[:, None]
            Rd = self._cum_at_starts(f).reshape(d.shape)
            out.append(Ry - Rd)
        return out[0] + np.maximum(X - ys, 0.0), out[1]

    def moments(self) -> tuple[float, float]:
        r"""(E, E[.^2]) of the law (of ``T - x`` for a class), mixed over the classes; ``inf``
        where the sparse old piece has an infinite second moment, as in the closed forms: a
        continuous size law with :math:`E[X^2] = \infty` under SPJF (the piece
        :math:`X1\{Y > y\}`) and under SPRPT when :math:`P(Z < 1) > 0` (the piece
        :math:`X - Y + y`); the size rule's truncation would make them finite."""
        rule = self.rule
        sparse = self.kind == "nonpreemptive" or (self.kind == "remaining" and not rule.discrete
                                                  and rule.f.excess() > 0.0)
        if not rule.discrete:
            size = rule.r.size
            if sparse and math.isinf(size.moment(2)):
                return math.inf, math.inf
            # the second moment, by the same bounds as the size-based policies'
            # (response_distribution.soap_moment_infinite): the sparse piece's third moment
            # E[X^3 1{Y > y}] (a class too); unconditional: T >= X, and the old work
            # X 1{Y <= y} of the others holds
            # E[X_1^3; X_1 <= X_2, Z_1 <= Z_2] = P(Z_1 <= Z_2) E[min(X_1, X_2)^3] / 2
            inf2 = (sparse and math.isinf(size.moment(3))) or (not self.conditional and (
                (not self.waiting and math.isinf(size.moment(2)))
                or (not sparse and not min_pair_moment_finite(size, 3))))
            if inf2:
                return self._moments_finite()[0], math.inf
        return self._moments_finite()

    def _moments_finite(self) -> tuple[float, float]:
        """(E, E[.^2]) as the class sums."""
        ew, varw, rn, n2 = self._class_moments()
        if self.waiting:
            w = self.Wc.sum(1)
            with np.errstate(invalid="ignore"):
                m = float(np.sum(np.where(w > 0, ew * w, 0.0)))
                s2 = float(np.sum(np.where(w > 0, (varw + ew * ew) * w, 0.0)))
            return m, s2
        rm, rv = self._residence_moments(rn, n2)
        W = self.Wc
        shape = W.shape
        A, B = np.empty(shape), np.empty(shape)
        # the class terms m W and (v + m^2) W in one compiled pass (a sweep's load: 11 -> 3 ms
        # on SPJF's 300000 class nodes), summed by numpy as before (the same values)
        _class_moment_terms(np.ascontiguousarray(np.broadcast_to(np.asarray(ew, float), shape[:1])),
                            np.ascontiguousarray(np.broadcast_to(np.asarray(varw, float), shape[:1])),
                            np.ascontiguousarray(np.broadcast_to(rm, shape), float),
                            np.ascontiguousarray(np.broadcast_to(rv, shape), float),
                            np.ascontiguousarray(np.broadcast_to(self.Xc, shape), float),
                            np.ascontiguousarray(W, float), bool(self.shifted), A, B)
        return float(np.sum(A)), float(np.sum(B))

    def atom(self) -> float:
        r""":math:`P(W = 0)` (waiting time) or :math:`P(T = x)` (a class): no old work
        (:math:`1 - \rho_0 - \rho_1`) and, for :math:`T`, no arrival of a new job that runs
        first during the residence, :math:`\exp(-\lambda\int_0^x P(Y < r(a))\,da)`."""
        lam, (o1, _, _), (p1, _, _), _, _ = self._pieces()
        p0 = 1.0 - lam * (o1 + p1)
        if self.waiting:
            return float(np.sum(p0 * self.Wc.sum(1)))
        x, y = float(self.Xc[0, 0]), float(self.ys[0])
        if self.kind == "nonpreemptive":
            return float(p0[0])
        if self.kind == "static":
            return float(p0[0] * math.exp(-lam * x * float(self.Wn.sum())))
        pl = self.Wt.sum(1)
        integral = float(self.grid.cum(pl, [y])[0] - self.grid.cum(pl, [max(y - x, 0.0)])[0])
        return float(p0[0] * math.exp(-lam * integral))

    def class_series(self, n: int) -> np.ndarray:
        r"""The transform of every class (rows: prediction nodes, then the sizes ``Xc``; of
        :math:`T - x` for a conditional law) as a power series in :math:`s` to order ``n``, shape
        ``(len(ys), Xc.shape[1], n + 1)``: :math:`\tilde V(\eta_{<y}(s))\,e^{-R(s)}` as in
        :func:`qtheory.engine.response_distribution._SizeTransform.class_series`, with the
        pieces' moments from the joint rule (interpolated at the prediction nodes like the mean's)
        and the residence exponent :math:`R = sx` (SPJF), :math:`x\eta_{<y}(s)` (PSPJF),
        :math:`sx + \int_d^y (\eta_{<v}(s) - s)\,dv` (SPRPT, TRAIL; :math:`d` the start of the
        residence)."""
        from . import power_series as ps

        lam, c = self.lam, self._at_classes

        def mom(X, W, kk):
            return np.stack([c(self._m(X, W, k)) for k in kk], axis=-1)

        o = mom(self.Xo, self.Wo, range(1, n + 2))
        p = mom(self.X1, self.W1, range(1, n + 2))
        m_new = mom(self.Xn, self.Wn, range(1, n + 1))
        with np.errstate(invalid="ignore"):
            num = lam * ps.psi_over_u(p)
            num[..., 0] += 1.0 - lam * (o[..., 0] + p[..., 0])
            den = -lam * ps.psi_over_u(o)
            den[..., 0] += 1.0
            eta = ps.kendall(lam, m_new)
            W = ps.compose(ps.mul(num, ps.recip(den)), eta)[:, None, :]
        if self.waiting:
            return W
        X = self.Xc[..., None]
        sx = np.zeros(self.Xc.shape + (n + 1,))
        if n >= 1:
            sx[..., 1] = self.Xc
        if self.kind == "nonpreemptive":
            R = sx
        elif self.kind == "static":
            R = X * eta[:, None, :]
        else:
            et = ps.kendall(lam, np.stack([self._m(self.Xt, self.Wt, k) for k in range(1, n + 1)], axis=-1))
            et[:, 1] -= 1.0  # eta_{<v}(s) - s
            d = np.maximum(self._d, 0.0)
            Ry = self._cum_at(et.T, self._q_y)  # (n + 1, len(ys))
            Rd = self._cum_at_starts(et.T).reshape((n + 1,) + d.shape)
            R = sx + np.moveaxis(Ry[:, :, None] - Rd, 0, -1)
        if self.shifted:
            R = R - sx
        with np.errstate(invalid="ignore"):
            return ps.mul(W, ps.exp(-R))

    def raw_moments(self, n: int) -> np.ndarray:
        r""":math:`E[T'^k]`, k = 0..n (``T' = T - x`` for a class), mixed over the classes, from
        :meth:`class_series`; ``inf`` where :meth:`moments` finds the second moment infinite
        (then every higher one is). A continuous size law with :math:`E[X^{n+1}] = \infty`
        otherwise raises ``NotImplementedError`` (the rule's truncation would make it finite)."""
        from . import power_series as ps

        n = int(n)
        if not math.isfinite(self.moments()[1]):
            return np.concatenate([[1.0, self.moments()[0]], np.full(n - 1, math.inf)])
        rule = self.rule
        if not rule.discrete and not math.isfinite(float(rule.r.size.moment(n + 1))):
            raise NotImplementedError(
                f"moment({n}) of a prediction policy on {rule.r.size!r}: E[X^{n + 1}] is infinite; "
                "whether this moment is finite depends on the tail; not implemented")
        m = ps.moments_of(self.class_series(n))
        W = self.Wc[..., None]
        with np.errstate(invalid="ignore"):
            return np.where(W > 0, m * W, 0.0).sum((0, 1))

    def atom_list(self) -> list[tuple[float, float]]:
        r"""The atoms of the law on a finite joint law (rule ``discrete``): class :math:`(x, y)`
        contributes its probability times :math:`P(W = 0 \mid y)` times the atomic law of its
        residence, :math:`x` plus the busy periods of the new jobs that run first (PSPJF: work
        :math:`x` with the jobs :math:`Y < y`; SPRPT and TRAIL: the ranks :math:`v` from the
        residence's start to :math:`y`, the jobs :math:`Y < v`; SPJF: none), by Takács' formula
        (:mod:`qtheory.engine.busy_atoms`). Positions of :math:`T` (a class: above ``x`` and
        without the atom at ``x``, which is :meth:`atom`)."""
        from . import busy_atoms as ba

        rule, lam = self.rule, self.lam
        _, (o1, _, _), (p1, _, _), _, _ = self._pieces()
        p0 = 1.0 - lam * (o1 + p1)
        d0 = np.maximum(self._d, 0.0)
        laws, offs, wts = [], [], []
        for j, y in enumerate(self.ys.tolist()):
            for i in range(self.Xc.shape[1]):
                w = float(self.Wc[j, i])
                if w <= 0:
                    continue
                x = float(self.Xc[j, i])
                if self.kind == "nonpreemptive":
                    pieces = []
                elif self.kind == "static":
                    X, W = rule.new(y, strict=True)
                    pieces = [(x, X[0], W[0])]
                else:
                    def set_le(u):
                        X, W = rule.new(u, strict=False)
                        return X[0], W[0]
                    pieces = ba.pieces_on(float(d0[j, i]), y, rule.ya, set_le)
                laws.append(pieces)
                offs.append(x)
                wts.append(w * float(p0[j]))
        full = sum(ba.cost(pc) for pc in laws) <= ba.BUDGET
        laws = [ba.residence_law(lam, pc, full) for pc in laws]
        atoms = ba.to_atoms(laws, offs, wts)
        if self.conditional:
            x = float(self.Xc[0, 0])
            atoms = [(a, m) for a, m in atoms if a > x]
        return atoms

    # -- the transform ---------------------------------------------------------------------------
    def lst(self, s) -> np.ndarray:
        return lst_in_blocks(self._lst_block, s, _S_BLOCK)

    def old_delay(self, s: np.ndarray) -> np.ndarray:
        r""":math:`\tilde V_{y_j}(\eta_{<y_j}(s))` at the prediction nodes (rows: ``s``)."""
        return self._delay(s)[0]

    def _delay(self, s: np.ndarray):
        """(the old-job delay's transform, eta at the classes, eta on the threshold grid)."""
        lam = self.lam
        et = psi1 = None
        if getattr(self, "_w1_fused", None) is not None:
            et, psi1 = eta_rows(s, lam, self.Xt, self.Wt, extrapolation=self._eta_ext, W1=self._w1_fused,
                                small=self._eta_small)
        elif ((self.kind == "remaining" and not self.waiting) or self._interp) and \
                getattr(self, "_own_levels", None) is None:
            et = self._eta_grid(s)
        eta_r = et if self._interp else busy_eta(s, lam, self.Xn, self.Wn)
        rho0 = lam * self._m(self.Xo, self.Wo, 1)
        rho1 = lam * self._m(self.X1, self.W1, 1)
        num = (1.0 - rho0 - rho1)[None, :] * eta_r
        if self.kind != "static":
            num = num + lam * (psi1 if psi1 is not None else self._old_psi(eta_r, s if self._interp else None))
        return self._at_classes(num / self._kendall_den(s, eta_r)), self._at_classes(eta_r), et

    def _old_psi(self, eta_r: np.ndarray, s=None) -> np.ndarray:
        r""":math:`\sum_k W1_{jk}(1 - e^{-\eta_j X1_{jk}})`, the old piece's sums at the rows'
        roots (:func:`psi_rows`; the series tables of the rows where built)."""
        ct = getattr(self, "_x1_taylor", None)
        if s is not None and ct is not None:
            return ct.psi(s, eta_r)
        return psi_rows(eta_r, self.X1, self.W1, getattr(self, "_x1_small", None), fast=PSI_FAST)

    def _eta_grid(self, s: np.ndarray) -> np.ndarray:
        r""":math:`\eta_{<t}(s)` on the threshold grid (rows ``Xt, Wt``): :func:`eta_rows` on a
        continuous joint law, :func:`~qtheory.engine.response_distribution.busy_eta` on a
        finite one."""
        ext = getattr(self, "_eta_ext", None)
        if ext is None:
            return busy_eta(s, self.lam, self.Xt, self.Wt)
        return eta_rows(s, self.lam, self.Xt, self.Wt, extrapolation=ext, small=self._eta_small)

    def _kendall_den(self, s: np.ndarray, eta_r: np.ndarray) -> np.ndarray:
        r"""The denominator :math:`u - \lambda E[1 - e^{-uX^{old}_0}]` of :math:`\tilde V` at
        :math:`u = \eta_{<t}(s)` on the rows: :math:`s` itself where the old piece
        :math:`X^{old}_0 = X1\{Y \le t\}` is Kendall's :math:`X^{new}[t] = X1\{Y < t\}` on the
        same nodes (a continuous joint law, unconditional: the same table), by Kendall's
        equation :math:`\eta = s + \lambda E[1 - e^{-\eta X^{new}}]` (to Newton's tolerance,
        about 1e-18 relative); one sum over the nodes less per row and ``s``. The sum
        otherwise."""
        if self._interp and self.Xo is self.Xt and self.Wo is self.Wt:
            return np.broadcast_to(np.asarray(s, complex).reshape(-1)[:, None], eta_r.shape)
        return eta_r - self.lam * _psi_at(eta_r, self.Xo, self.Wo)

    def _lst_block(self, s: np.ndarray) -> np.ndarray:
        S = s[:, None]
        V, eta, et = self._delay(s)
        wsum = self.Wc.sum(1)
        if self.waiting:
            return V @ wsum
        Xc, Wc = self.Xc, self.Wc
        if self.kind == "nonpreemptive":
            if self.shifted:
                return V[:, 0]
            if self._shared is not None:
                res = self._shared.exp_sums(s)
            else:
                U = np.broadcast_to(S, (s.size, Xc.shape[0]))
                res = wsum[None, :] - _psi_at(U, Xc, Wc)
        elif self.kind == "static":
            U = eta - S if self.shifted else eta
            ct = getattr(self, "_class_taylor", None)
            res = ct.residence(s, U) if ct is not None else \
                wsum[None, :] - psi_rows(U, Xc, Wc, getattr(self, "_xc_small", None), fast=PSI_FAST)
        else:
            res = self._sprpt_residence(s, et)
        return np.sum(V * res, axis=1)

    def _sprpt_residence(self, s: np.ndarray, et: np.ndarray) -> np.ndarray:
        r""":math:`\sum_i W_{ji} \exp(-s x_i - \int_{(y_j - x_i)^+}^{y_j} (\eta_{<v}(s) - s)\,dv)`
        per prediction node (``shifted``: without :math:`e^{-s x}`); a class with its own level
        rule (:meth:`_class_levels`): Kendall's equation at its nodes, ``et`` unused."""
        if getattr(self, "_own_levels", None) is not None:
            _, w, Xl, Wl = self._own_levels
            R = (busy_eta(s, self.lam, Xl, Wl) - s[:, None]) @ w if w.size else np.zeros(s.size, complex)
            if not self.shifted:
                R = R + s * float(self.Xc[0, 0])
            return self.Wc[0, 0] * np.exp(-R)[:, None]
        g = self.grid
        et = et - s[:, None]
        Rc = g.panel_integrals(et)
        Ry = np.empty((s.size, self.ys.size), complex)
        p, coef = self._q_y
        _cum_kernel(et, Rc, p, g.starts, coef, Ry)
        p, coef = self._q_d
        out = np.empty((s.size, self.ys.size), complex)
        W = self.Wc if self._flat is None else self._flat[0]
        if RESIDENCE_SHARED and self._flat is not None and not self.shifted and RESIDENCE_TRANSPOSED:
            # e^{-sx} once per distinct size for the residence's terms and the flat nodes' sums
            fl = self._flat[2]
            Er = np.empty((fl.U.size, s.size))
            Ei = np.empty((fl.U.size, s.size))
            _exp_tables(s, fl.U, fl.cut, Er, Ei)
            _residence_kernel_e(np.ascontiguousarray(et.T), np.ascontiguousarray(Rc.T), p, g.starts, coef,
                                np.ascontiguousarray(Ry.T), s, self.Xc, W, fl.idx, Er, Ei,
                                float(RESIDENCE_EPS), int(RESIDENCE_ORDER), out, bool(RESIDENCE_ADAPTIVE))
            Rf = np.empty((s.size, self.ys.size), complex)
            p, coef = self._flat[1]
            _cum_kernel(et, Rc, p, g.starts, coef, Rf)
            E = np.empty((s.size, self.ys.size), complex)
            _exp_sum_tables(Er, Ei, fl.idx, fl.W, E)
            out += np.exp(Rf - Ry) * E
            return out
        if RESIDENCE_TRANSPOSED:
            _residence_kernel_t(np.ascontiguousarray(et.T), np.ascontiguousarray(Rc.T), p, g.starts, coef,
                                np.ascontiguousarray(Ry.T), s, self.Xc, W, not self.shifted, out)
        else:
            _residence_kernel(et, Rc, p, g.starts, coef, Ry, s, self.Xc, W, not self.shifted, out)
        if self._flat is not None:  # the nodes at the floor of the residence's start
            Rf = np.empty((s.size, self.ys.size), complex)
            p, coef = self._flat[1]
            _cum_kernel(et, Rc, p, g.starts, coef, Rf)
            out += np.exp(Rf - Ry) * self._flat[2].exp_sums(s)
        return out


def _jumps_at_lower_end(size) -> bool:
    """A continuous size law whose density is > 0 at its lower end c > 0."""
    c = float(size.support[0])
    return (not size.is_discrete and not np.size(size.atom_values) and c > 0
            and float(size.pdf(c * (1 + 1e-12))) > 0)


class SPJFDensityAtoms:
    r"""The split of unconditional SPJF on a continuous size law whose density jumps at its
    lower end :math:`c > 0` (:class:`qtheory.engine.response_distribution.DensityAtoms` for the
    prediction route). A class :math:`(x, y)` neither waits nor is interrupted with probability
    :math:`a = \tilde V_y(\infty) = 1 - \rho` (no old work ahead; SPJF does not preempt),
    the limit of :math:`e^{sx}E[e^{-sT}\mid x, y]`; mixed over the joint law the atoms are the
    density :math:`a f(t)`, and

    .. math::
        P(T > t) = a\,\bar F_X(t) + \mathcal{L}^{-1}\Big[\frac{\bar R - \sum_j
            (\tilde V_{y_j}(s) - a)\sum_i W_{ji} e^{-s(x_{ji} - c)}}{s}\Big](t - c),
        \qquad \bar R = \textstyle\sum W - a,

    with :math:`a` the classes' mean of :math:`1 - \rho_0 - \rho_1` on the rule. Next to
    :math:`c` (:math:`t <` ``GRADE_NEAR`` :math:`c`) the same split on a joint rule whose class
    sizes are graded at :math:`c` (``GRADE``), built on first use
    (``docs/response_time_distribution.md``, section 13)."""

    def __init__(self, tr: PredictionTransform, near=None):
        self.tr = tr
        self.size = tr.rule.r.size
        self.c = float(self.size.support[0])
        self._near, self._near_split = near, None
        self.near_below = GRADE_NEAR * self.c if near else 0.0
        lam, (o1, _, _), (p1, _, _), _, _ = tr._pieces()
        w = tr.Wc.sum(1)
        self.a = float(np.sum((1.0 - lam * (o1 + p1)) * w) / w.sum())
        self.part_total = self.a * float(w.sum())
        self.rest_total = float(w.sum()) - self.part_total
        #: the classes' sizes above c, e^{-s(x - c)} once per distinct value
        self._shared = SharedNodes(np.maximum(tr.Xc - self.c, 0.0), tr.Wc)

    def near(self) -> SPJFDensityAtoms:
        """The split on the graded rule (for ``t < near_below``)."""
        if self._near_split is None:
            self._near_split = self._near()
        return self._near_split

    def part_cdf(self, t) -> np.ndarray:
        r""":math:`a\,\sum W\,F_X(t)`."""
        return self.part_total * np.asarray(self.size.cdf(np.atleast_1d(np.asarray(t, float))), float)

    def part_pdf(self, t) -> np.ndarray:
        r""":math:`a\,\sum W\,f_X(t)`."""
        return self.part_total * np.asarray(self.size.pdf(np.asarray(t, float)), float)

    def rest_lst(self, s) -> np.ndarray:
        r""":math:`\sum_j (\tilde V_{y_j}(s) - a)\sum_i W_{ji}e^{-s(x_{ji} - c)}` at complex ``s``."""
        s = np.asarray(s, complex)
        flat = s.reshape(-1)
        tr = self.tr
        out = np.empty(flat.size, complex)
        for b in range(0, flat.size, _S_BLOCK):
            sb = flat[b:b + _S_BLOCK]
            E = self._shared.exp_sums(sb)
            out[b:b + _S_BLOCK] = np.sum((tr.old_delay(sb) - self.a) * E, axis=1)
        return out.reshape(s.shape)


def density_split(model, policy, tr: PredictionTransform):
    """The split of an unconditional law on a continuous size law (with a multiplicative
    factor) whose density jumps at its lower end: :class:`SPJFDensityAtoms` (SPJF),
    :class:`qtheory.engine._prediction_density_atoms.PredictionDensityAtoms` (PSPJF, SPRPT and
    TRAIL, whose transform ``tr`` is the policy's own
    :class:`~qtheory.engine.response_distribution_trail.TrailTransform`); ``None`` otherwise
    (the whole law is inverted)."""
    from ..laws.joint import FactorJoint
    from .response_distribution_trail import TrailTransform, near_split

    rule = tr.rule
    own = policy.declares("response_transform")
    if own and not isinstance(tr, TrailTransform):
        return None  # a policy's own transform: split only where its atoms are known (TRAIL)
    if (not SPLIT_ATOMS or tr.conditional or tr.waiting or rule.discrete
            or not _jumps_at_lower_end(rule.r.size)):
        return None
    size = rule.r.size
    joint = model.prediction.joint(size)
    if not isinstance(joint, FactorJoint):
        return None

    def graded_rule():
        # class sizes graded at c (GRADE): PSPJF and SPRPT at most 1.4e-10 from the first-order
        # reference on Pareto(2.5) and Uniform(1, 3) for t <= 1.7 c (GRADE_SOAP: 4e-9, at 0.8
        # times the cost)
        graded = FactorJointRule(_rule(size, WIDTH_JOINT), joint.factor, WIDTH_Y, WIDTH_T,
                                 class_rule=_rule(size, WIDTH_CLASS, GRADE))
        # next to c the transform is sampled at |s| up to about 120 / (t - c): SPRPT's sparse
        # old piece graded towards 0 as on the class rule (response_distribution_trail.PIECE_GRADE)
        graded.piece_grade = True
        return graded

    from ._prediction_density_atoms import PredictionDensityAtoms
    from .response_distribution_prediction_outer import OuterDensityAtoms, OuterPredictionTransform

    if isinstance(tr, OuterPredictionTransform):  # the outer rule's rest, these splits' atoms
        return OuterDensityAtoms(tr, SPJFDensityAtoms(tr) if tr.kind == "nonpreemptive" else PredictionDensityAtoms(tr))
    if tr.kind == "nonpreemptive" and not own:
        return SPJFDensityAtoms(tr, lambda: SPJFDensityAtoms(PredictionTransform(model, policy, graded_rule())))

    def transform(rule):
        return policy.response_transform(model, rule) if own else PredictionTransform(model, policy, rule)

    def near(split):  # TRAIL, SPRPT: the kink at 2c split off (response_distribution_trail.near_split)
        return near_split(PredictionDensityAtoms(transform(graded_rule()), part=split))

    split = PredictionDensityAtoms(tr, lambda: near(split))
    return split


__all__ = ["PredictionTransform", "joint_rule", "psi_rows", "PREDICTION_FORMS", "SPJFDensityAtoms", "density_split"]
