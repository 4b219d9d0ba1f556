r"""The joint law of (size :math:`X`, prediction :math:`Y`) as weighted nodes for the transforms
of the prediction-based SOAP policies (SPJF, PSPJF, SPRPT).

The response-time transforms (:mod:`qtheory.engine.response_distribution_prediction`) need, at
prediction thresholds :math:`v`, sub-probability laws of sizes and pieces of work:

* :meth:`new`: :math:`E[g(X); Y < v]` (new jobs that preempt; :math:`\le` for old jobs'
  first pieces);
* :meth:`gt_x`: :math:`E[g(X); Y > v]` (SPJF's in-service old job);
* :meth:`gt_rem`: :math:`E[g((X - (Y - v))^+); Y > v]` (SPRPT's old job served again once its
  remaining prediction drops to :math:`v`);
* :meth:`classes`: the joint law itself as prediction nodes :math:`y_j` with, for each, the
  weighted sizes (:math:`\sum_i W_{ji} h(X_{ji}, y_j) \approx E[h(X, Y); Y \approx y_j]`);
* :meth:`tgrid`: a grid of thresholds with a cumulative-integral operator
  :math:`R(c) = \int_0^c g(t)\,dt` for any :math:`c` (SPRPT's residence integral
  :math:`\int_{(y-x)^+}^{y}\eta_{<v}(s)\,dv`).

Two discretisations: :class:`DiscreteJointRule` (a finite joint law: empirical pairs, discrete
sizes with discrete predictions, perfect predictions on discrete sizes) sums exactly;
:class:`FactorJointRule` (continuous sizes, :math:`Y = XZ` with a continuous factor :math:`Z`
independent of :math:`X`) is a 2-D rule built on the 1-D size rule of
:mod:`qtheory.engine.response_distribution`: Gauss-Legendre panels in :math:`\log x` whose
weights carry the factor's exact cdf/density, e.g.
:math:`E[g(X); Y < v] = E[g(X) F_Z(v/X)]`, each row split where :math:`v/x` crosses a kink of
:math:`Z`'s law. The pieces of SPRPT's old jobs have the density (in :math:`p \in (0, X)`,
:math:`z = 1 + (v - p)/x`)

.. math::
    g_v(p) = E\Big[\frac{1}{X} f_Z\Big(1 + \frac{v - p}{X}\Big); X > p\Big],

tabulated on a panel rule in :math:`\log p`.

Derivation: ``docs/response_time_distribution.md`` (section 5).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import njit

from ..laws._quadrature import ORDER, _gl, panels
from ..laws.predictions import _ExpFactor

#: :meth:`FactorJointRule.gt_rem` on a factor law without kinks by suffix sums over the
#: unsplit size rule (:meth:`FactorJointRule._gt_rem_suffix`; the same sums); False: the rule
#: split at every p
GT_REM_SUFFIX = True
#: ... and on exponential predictions (:math:`f_Z(z) = e^{-z}`) the suffix sums by the split
#: :math:`e^{-(v - p)/x} = e^{-v/x}e^{p/x}` (:func:`_exp_suffix_sums`): one exponential per
#: threshold and size node and per distinct :math:`p` and size node instead of one per
#: (threshold, :math:`p`, size node): ``gt_rem`` on unconditional SPRPT's 280 thresholds
#: 0.42-0.44 -> 0.10 s CPU (Exp(1) sizes; Weibull(0.5): 2.7-3.2 -> 0.44-0.48 s, with the panel
#: part once per distinct p); the sums within 9.5e-16 relative of a long-double evaluation
#: (the density's own exponentials and BLAS: 1.4e-15), 2.7e-15 of them; False: the factor's
#: pdf at every node
GT_REM_EXP_SPLIT = True
#: ... the part of :math:`p`'s panel above :math:`p` in :meth:`FactorJointRule._gt_rem_suffix`
#: compiled (:func:`_panel_part_z`, :func:`_panel_part_add`: the density at the terms that count
#: alone, on a flat array); False: numpy over every (threshold, p, node) (the same values).
#: With the blocked suffix sums (:func:`_suffix_dots`): ``gt_rem`` on Exp(1) sizes (280
#: thresholds) 0.10 -> 0.057 s CPU, Weibull(0.5) (440) 0.67 -> 0.245 s, bit for bit
#: (``docs/response_time_distribution.md``, section 7.10)
PANEL_PART_COMPILED = True
#: rows of a 2-D evaluation done at once (memory)
_CHUNK = 64
#: prediction mass left out below and above the prediction nodes of a continuous joint law
Y_CUT = 1e-14
#: class weights below this are set to 0 (skipped by the kernels), measured as the class's
#: share of E[1 + (X/E[X])^2] (:func:`drop_tiny`)
W_TINY = 1e-22


def drop_tiny(X: np.ndarray, W: np.ndarray, size) -> np.ndarray:
    r"""The class weights ``W`` with those of negligible share set to 0:
    :math:`W (1 + (X/E[X])^2) <` :data:`W_TINY`. The weight alone is not the share on a power
    tail: on Pareto(1.5) the classes with :math:`W < 10^{-22}` (sizes up to :math:`10^{36}`)
    held 2.4e-6 of PSPJF's :math:`E[T]`. Light tails (every :math:`E[X^k]`, k <= 5, finite):
    the weight alone (the share's factor kept 30% more nodes on Exponential sizes, for 5e-10
    in the p99)."""
    m = float(size.moment(1))
    heavy = any(not math.isfinite(float(size.moment(k))) for k in range(2, 6))
    scale = (X / m) ** 2 if heavy and math.isfinite(m) and m > 0 else 0.0
    return np.where(W * (1.0 + scale) < W_TINY, 0.0, W)
#: a power tail beyond the size rule's top hi (the 1 - 1e-15 quantile; some E[X^k], k <= 5,
#: infinite): the rows go on over panels of TAIL_WIDTH in log x up to hi e^TAIL_SPAN before the
#: last node. One node at the tail's conditional mean gets E[X] right but not E[X^2]: on
#: Pareto(2.5) it held 2.8e-3 of E[X^2; X > hi] = 5e-3, and SPJF's mean (the piece
#: E[X^2 1{Y > y}]) was 3.3e-4 off
TAIL_SPAN = 60.0
TAIL_WIDTH = 4.0


def _tail_extension(r) -> tuple[np.ndarray, tuple[float, float]]:
    r"""``(edges, (x, w))``: the extra panel edges above the size rule ``r``'s top (in log x) and
    the last node (the mass beyond them at its conditional mean), cached on the rule; no edges
    and ``r.tail`` itself for a light or bounded tail."""
    hit = r.__dict__.get("_qt_tail_ext")
    if hit is None:
        size = r.size
        heavy = r.tail[1] > 0 and any(not math.isfinite(float(size.moment(k))) for k in range(1, 6))
        if not heavy:
            hit = (np.empty(0), r.tail)
        else:
            uh = math.log(r.hi)
            e = uh + np.linspace(0.0, TAIL_SPAN, int(round(TAIL_SPAN / TAIL_WIDTH)) + 1)[1:]
            top = math.exp(e[-1])
            w = float(size.sf(top))
            x = float(size.tail_moment(1, top)) / w if w > 0 else top
            hit = (e, (max(x, top), w))
        r._qt_tail_ext = hit
    return hit


@njit(cache=True)
def _suffix_z(p: np.ndarray, x: np.ndarray, first: np.ndarray, v: float) -> np.ndarray:
    r""":math:`z = 1 + (v - p_i)/x_k` for :math:`k \ge` ``first[i]``, row by row in one flat
    array (:meth:`FactorJointRule._gt_rem_suffix`)."""
    n, m = p.size, x.size
    tot = 0
    for i in range(n):
        tot += m - min(max(first[i], 0), m)
    z = np.empty(tot)
    q = 0
    for i in range(n):
        d = v - p[i]
        for k in range(min(max(first[i], 0), m), m):
            z[q] = 1.0 + d / x[k]
            q += 1
    return z


@njit(cache=True)
def _suffix_h(fz: np.ndarray, x: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``h[i, k] = fz / x[k]`` (``fz`` flat as :func:`_suffix_z`) for ``k >= first[i]``, else 0."""
    n, m = first.size, x.size
    h = np.zeros((n, m))
    q = 0
    for i in range(n):
        for k in range(min(max(first[i], 0), m), m):
            h[i, k] = fz[q] / x[k]
            q += 1
    return h


@njit(cache=True)
def _suffix_h_into(fz: np.ndarray, off: int, x: np.ndarray, first: np.ndarray, h: np.ndarray) -> int:
    """:func:`_suffix_h` into ``h`` (every entry written) from ``fz[off:]``; returns the offset
    after the row."""
    n, m = first.size, x.size
    q = off
    for i in range(n):
        f0 = min(max(first[i], 0), m)
        for k in range(f0):
            h[i, k] = 0.0
        for k in range(f0, m):
            h[i, k] = fz[q] / x[k]
            q += 1
    return q


@njit(cache=True)
def _exp_suffix_sums(P: np.ndarray, first: np.ndarray, v: np.ndarray, x: np.ndarray, w: np.ndarray,
                     U: np.ndarray, inv: np.ndarray, ufirst: np.ndarray, slot: np.ndarray) -> np.ndarray:
    r""":math:`G_{iq} = \sum_{k \ge f_{iq}} w_k e^{-z}/x_k`, :math:`z = 1 + (v_i - P_{iq})/x_k`
    (``first`` :math:`f`), for :math:`f_Z(z) = e^{-z}` as :math:`a_{ik}b_{mk}` with
    :math:`a_{ik} = w_k e^{-1 - v_i/x_k}/x_k` and :math:`b_{mk} = e^{U_m/x_k}` for the distinct
    :math:`p`-values :math:`U_m` (``inv``: :math:`P_{iq} = U_{inv_{iq}}`; ``ufirst`` their
    first nodes): a table row for the values that several rows share (``slot`` >= 0: its row),
    the others (one row's cut nodes) computed where used (the same values). Only
    :math:`x_k > p` count, so :math:`0 < p/x_k < 1` (no overflow) and :math:`z > 0` for
    :math:`v \ge 0`.

    The shared values' sums :math:`\sum_k a_{ik}b_{mk}` (:func:`_suffix_dot`, four partial sums
    from the first node) are taken for every row :math:`i` and table row :math:`m`, in blocks
    of :data:`_ROW_BLOCK` rows :math:`i` per table row (the table row read once per block, not
    once per row: the table is 11 MB on Weibull(0.5) sizes), then gathered: each sum is the same
    as the row-by-row loop's, in the same order (bit-identical)."""
    n, Q = P.shape
    m = x.size
    ns = 0
    for u in range(U.size):
        if slot[u] >= 0:
            ns += 1
    B = np.empty((ns, m))
    bfirst = np.zeros(ns, np.int64)
    for u in range(U.size):
        r = slot[u]
        if r >= 0:
            f0 = min(max(ufirst[u], 0), m)
            bfirst[r] = f0
            for k in range(f0):
                B[r, k] = 0.0
            for k in range(f0, m):
                B[r, k] = math.exp(U[u] / x[k])
    A = np.empty((n, m))
    for i in range(n):
        for k in range(m):
            A[i, k] = w[k] * (math.exp(-1.0 - v[i] / x[k]) / x[k])
    S = np.empty((n, ns))
    for i0 in range(0, n, _ROW_BLOCK):
        i1 = min(n, i0 + _ROW_BLOCK)
        for r in range(ns):
            _suffix_dots(A, B[r], bfirst[r], m, i0, i1, S[:, r])
    own = np.zeros(m)
    G = np.empty((n, Q))
    for i in range(n):
        for q in range(Q):
            u = inv[i, q]
            if slot[u] >= 0:
                G[i, q] = S[i, slot[u]]
                continue
            k0 = min(max(first[i, q], 0), m)
            for k in range(k0, m):
                own[k] = math.exp(U[u] / x[k])
            G[i, q] = _suffix_dot(A[i], own, k0, m)
    return G


#: rows of :func:`_exp_suffix_sums`'s shared sums per reading of a table row
_ROW_BLOCK = 16


@njit(cache=True, inline="always")
def _suffix_dot(a: np.ndarray, b: np.ndarray, k0: int, m: int) -> float:
    r""":math:`\sum_{k0 \le k < m} a_k b_k` by four partial sums (``k - k0`` mod 4, the rest in
    the first), then their sum ``(s0 + s1) + (s2 + s3)``."""
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    k = k0
    while k + 3 < m:
        a0 += a[k] * b[k]
        a1 += a[k + 1] * b[k + 1]
        a2 += a[k + 2] * b[k + 2]
        a3 += a[k + 3] * b[k + 3]
        k += 4
    while k < m:
        a0 += a[k] * b[k]
        k += 1
    return (a0 + a1) + (a2 + a3)


@njit(cache=True, inline="always")
def _suffix_dots(A: np.ndarray, b: np.ndarray, k0: int, m: int, i0: int, i1: int, out: np.ndarray) -> None:
    """``out[i] =`` :func:`_suffix_dot` ``(A[i], b, k0, m)`` for ``i0 <= i < i1``, four rows at
    a time (each ``b[k]`` loaded once for four rows; every row's partial sums as
    :func:`_suffix_dot`'s: the same values, 2.3x faster on Weibull(0.5)'s 300M terms)."""
    i = i0
    while i + 3 < i1:
        x0 = A[i]
        x1 = A[i + 1]
        x2 = A[i + 2]
        x3 = A[i + 3]
        p0 = p1 = p2 = p3 = 0.0
        q0 = q1 = q2 = q3 = 0.0
        r0 = r1 = r2 = r3 = 0.0
        t0 = t1 = t2 = t3 = 0.0
        k = k0
        while k + 3 < m:
            b0 = b[k]
            b1 = b[k + 1]
            b2 = b[k + 2]
            b3 = b[k + 3]
            p0 += x0[k] * b0
            p1 += x0[k + 1] * b1
            p2 += x0[k + 2] * b2
            p3 += x0[k + 3] * b3
            q0 += x1[k] * b0
            q1 += x1[k + 1] * b1
            q2 += x1[k + 2] * b2
            q3 += x1[k + 3] * b3
            r0 += x2[k] * b0
            r1 += x2[k + 1] * b1
            r2 += x2[k + 2] * b2
            r3 += x2[k + 3] * b3
            t0 += x3[k] * b0
            t1 += x3[k + 1] * b1
            t2 += x3[k + 2] * b2
            t3 += x3[k + 3] * b3
            k += 4
        while k < m:
            bk = b[k]
            p0 += x0[k] * bk
            q0 += x1[k] * bk
            r0 += x2[k] * bk
            t0 += x3[k] * bk
            k += 1
        out[i] = (p0 + p1) + (p2 + p3)
        out[i + 1] = (q0 + q1) + (q2 + q3)
        out[i + 2] = (r0 + r1) + (r2 + r3)
        out[i + 3] = (t0 + t1) + (t2 + t3)
        i += 4
    while i < i1:
        out[i] = _suffix_dot(A[i], b, k0, m)
        i += 1


@njit(cache=True)
def _panel_part_z(P: np.ndarray, v: np.ndarray, inv: np.ndarray, sx: np.ndarray, sw: np.ndarray) -> np.ndarray:
    r"""The arguments :math:`z = 1 + (v_i - P_{iq})/x'_l` of :func:`_panel_part_add`'s terms, flat
    in its order: the nodes :math:`x'_l` (``sx[inv[i, q]]``) above :math:`P_{iq}` with a weight
    ``sw`` other than 0."""
    n, Q = P.shape
    o = sx.shape[1]
    tot = 0
    for i in range(n):
        for q in range(Q):
            u = inv[i, q]
            p = P[i, q]
            for l in range(o):
                if sw[u, l] != 0.0 and sx[u, l] > p:
                    tot += 1
    z = np.empty(tot)
    c = 0
    for i in range(n):
        for q in range(Q):
            u = inv[i, q]
            p = P[i, q]
            d = v[i] - p
            for l in range(o):
                if sw[u, l] != 0.0 and sx[u, l] > p:
                    z[c] = 1.0 + d / sx[u, l]
                    c += 1
    return z


@njit(cache=True)
def _panel_part_add(G: np.ndarray, P: np.ndarray, inv: np.ndarray, sx: np.ndarray, sw: np.ndarray,
                    fz: np.ndarray) -> np.ndarray:
    r""":math:`G_{iq} + \sum_l w'_l f_Z(z_l)/x'_l` over the ``o`` nodes of the part of
    :math:`p`'s panel above :math:`p` (``sx``, ``sw`` at ``inv[i, q]``; ``fz`` the factor's
    density at :func:`_panel_part_z`'s arguments, the other terms 0), summed as numpy's
    ``sum`` over a last axis of 8 to 15 entries (pairwise: eight partial sums, their tree,
    then the rest in order): the values of the array expression, bit for bit."""
    n, Q = P.shape
    o = sx.shape[1]
    out = np.empty((n, Q))
    t = np.zeros(o)
    c = 0
    for i in range(n):
        for q in range(Q):
            u = inv[i, q]
            p = P[i, q]
            for l in range(o):
                if sw[u, l] != 0.0 and sx[u, l] > p:
                    t[l] = sw[u, l] * (fz[c] / sx[u, l])
                    c += 1
                else:
                    t[l] = 0.0
            s = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]))
            for l in range(8, o):
                s += t[l]
            out[i, q] = G[i, q] + s
    return out


@njit(cache=True)
def _panel_match(e: np.ndarray, E: np.ndarray, t: np.ndarray, w: np.ndarray):
    """For rows ``e`` of sorted edges holding the sorted ``E``: ``idx[i, k]``, the panel of
    ``E`` equal to the row's panel ``k`` (-1 if cut), and for the cut panels, in row-major order,
    the nodes :math:`a + ht` and weights :math:`hw` (as :func:`panels`)."""
    n, L = e.shape
    m = L - 1
    o = t.size
    idx = np.full((n, m), -1, np.int64)
    nc = 0
    for i in range(n):
        j = 0
        for k in range(m):
            a = e[i, k]
            while j < E.size - 2 and E[j] < a:
                j += 1
            if E[j] == a and E[j + 1] == e[i, k + 1]:
                idx[i, k] = j
            else:
                nc += 1
    uc = np.empty(nc * o)
    hw = np.empty(nc * o)
    q = 0
    for i in range(n):
        for k in range(m):
            if idx[i, k] < 0:
                a = e[i, k]
                h = e[i, k + 1] - a
                for l in range(o):
                    uc[q] = a + h * t[l]
                    hw[q] = h * w[l]
                    q += 1
    return idx, uc, hw


@njit(cache=True)
def _panel_fill(idx: np.ndarray, xb: np.ndarray, wb: np.ndarray, xc: np.ndarray, wc: np.ndarray):
    """The rows' nodes and weights: the rule's panel ``idx`` (``xb``, ``wb``) or the next cut
    panel's (``xc``, ``wc``, in order)."""
    n, m = idx.shape
    o = xb.shape[1]
    X = np.empty((n, m * o))
    W = np.empty((n, m * o))
    q = 0
    for i in range(n):
        for k in range(m):
            j = idx[i, k]
            for l in range(o):
                if j >= 0:
                    X[i, k * o + l] = xb[j, l]
                    W[i, k * o + l] = wb[j, l]
                else:
                    X[i, k * o + l] = xc[q]
                    W[i, k * o + l] = wc[q]
                    q += 1
    return X, W


def _reuse_panels(r, edges: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""``panels(e)`` mapped to sizes, :math:`X = e^u` and :math:`W = w_u X f_X(X)`, for rows
    ``e`` of sorted edges holding every edge of ``edges`` (the size rule's): a panel between
    two consecutive edges of ``edges`` has the nodes and weights of the size rule's own panel
    (the same arithmetic), which are computed once per rule and copied; only the panels cut
    by extra edges are evaluated (the same values, bit for bit, with fewer evaluations)."""
    nodes, wgl = _gl(ORDER)
    hit = r.__dict__.get("_qt_split_base")
    if hit is None or hit[0].shape != edges.shape or not np.array_equal(hit[0], edges):
        ub, wub = panels(edges)
        xb = np.exp(ub)
        wb = wub * xb * r.size.pdf(xb)
        hit = (edges.copy(), xb.reshape(-1, ORDER), wb.reshape(-1, ORDER))
        r._qt_split_base = hit
    E, xb, wb = hit
    e = np.ascontiguousarray(e)
    idx, uc, hw = _panel_match(e, E, nodes, wgl)
    xc = np.exp(uc)
    wc = hw * xc * r.size.pdf(xc)
    return _panel_fill(idx, xb, wb, xc, wc)


# ---- cumulative integrals on a threshold grid -------------------------------------------------
def _cum_basis(xi: np.ndarray) -> np.ndarray:
    r"""``S[q, k] = \int_0^{\xi_q} \ell_k`` for the Lagrange basis :math:`\ell_k` of the
    Gauss-Legendre nodes of [0, 1] and any :math:`\xi_q \in [0, 1]`: the antiderivatives of the
    Legendre polynomials :math:`P_0..P_{ORDER-1}` (from -1) at :math:`2\xi - 1`, halved, times
    the inverse Vandermonde matrix of the nodes (both load-free: :func:`_cum_basis_tables`;
    the antiderivatives by :func:`_legval_cols`, numpy's ``legval`` arithmetic compiled: the
    same values, 118600 points 50 -> 8 ms)."""
    anti, Vinv = _cum_basis_tables(ORDER)
    y = np.ascontiguousarray(2 * np.clip(np.asarray(xi, float), 0.0, 1.0) - 1).reshape(-1)
    return _legval_cols(y, anti) @ Vinv


@njit(cache=True)
def _legval_cols(y: np.ndarray, anti: np.ndarray) -> np.ndarray:
    r"""``out[q, p] = legval(y[q], anti[:, p]) / 2`` (at least 3 coefficients): numpy's Clenshaw
    recursion, :math:`c_0 \leftarrow c_{-i} - c_1\frac{n-1}{n}`,
    :math:`c_1 \leftarrow c_0^{old} + c_1 y\frac{2n-1}{n}`, then :math:`c_0 + c_1 y`, the same
    operations in the same order (no contraction into fused multiply-adds): the same values."""
    L, P = anti.shape
    # the ratios (n - 1)/n and (2n - 1)/n of step i (n = L - i + 2), once
    ra = np.empty(L + 1)
    rb = np.empty(L + 1)
    nd = L
    for i in range(3, L + 1):
        nd = nd - 1
        ra[i] = (nd - 1) / nd
        rb[i] = (2 * nd - 1) / nd
    out = np.empty((y.size, P))
    c0 = np.empty(P)
    c1 = np.empty(P)
    for q in range(y.size):
        x = y[q]
        for p in range(P):
            c0[p] = anti[L - 2, p]
            c1[p] = anti[L - 1, p]
        for i in range(3, L + 1):
            a = ra[i]
            b = rb[i]
            for p in range(P):  # (the polynomials side by side)
                tmp = c0[p]
                c0[p] = anti[L - i, p] - c1[p] * a
                c1[p] = tmp + c1[p] * x * b
        for p in range(P):
            out[q, p] = (c0[p] + c1[p] * x) / 2.0
    return out


@lru_cache(maxsize=4)
def _cum_basis_tables(order: int) -> tuple[np.ndarray, np.ndarray]:
    """(the Legendre coefficients of the antiderivatives from -1 of :math:`P_0..P_{order-1}`, one
    column each; the inverse Vandermonde matrix of the Gauss-Legendre nodes of [0, 1])."""
    nodes, _ = _gl(order)
    V = np.polynomial.legendre.legvander(2 * nodes - 1, order - 1)
    Vinv = np.linalg.inv(V)
    anti = np.zeros((order + 1, order))
    for p in range(order):
        c = np.zeros(order)
        c[p] = 1.0
        anti[:, p] = np.polynomial.legendre.legint(c, lbnd=-1)
    anti.setflags(write=False)
    Vinv.setflags(write=False)
    return anti, Vinv


class TGrid:
    r"""Thresholds :math:`t_k` grouped in panels of ``L`` nodes, with ``full`` weights
    (:math:`\int_{panel} g \approx \sum_k full_k\, g(t_k)`) and, for query points :math:`c`,
    the panel holding :math:`c` and the coefficients of the partial integral from the panel's
    start: :math:`R(c) = \sum_{p' < p}\int_{p'} g + \sum_l coef_l\, g(t_{start_p + l})`."""

    def __init__(self, t, full, L, starts, locate, interp=None):
        self._interp = interp
        self.t = np.asarray(t, float)
        self.full = np.asarray(full, float)
        self.L = int(L)
        self.starts = np.asarray(starts, np.int64)
        self._locate = locate

    def locate(self, c) -> tuple[np.ndarray, np.ndarray]:
        """(panel index, coefficients ``(len(c), L)``) of the points ``c``."""
        return self._locate(np.asarray(c, float).reshape(-1))

    def panel_integrals(self, g: np.ndarray) -> np.ndarray:
        """``Rcum[..., p]``: the integral of ``g`` (last axis over nodes) below panel ``p``."""
        contrib = g * self.full
        per = np.add.reduceat(contrib, self.starts, axis=-1) if self.starts.size else contrib[..., :0]
        z = np.zeros(g.shape[:-1] + (1,), per.dtype)
        return np.concatenate([z, np.cumsum(per, axis=-1)], axis=-1)

    def interp(self, g: np.ndarray, c) -> np.ndarray:
        """``g`` (last axis over the nodes) interpolated at the points ``c`` (Lagrange on the
        nodes of the panel holding each point; log panels in :math:`\\log t`)."""
        p, basis = self._interp(np.asarray(c, float).reshape(-1))
        idx = self.starts[p][:, None] + np.arange(self.L)[None, :]
        idx = np.minimum(idx, self.t.size - 1)
        return np.einsum("...ql,ql->...q", g[..., idx], basis)

    def cum(self, g: np.ndarray, c) -> np.ndarray:
        r""":math:`R(c) = \int_0^c g`, ``g`` of shape ``(..., len(t))``; result ``(..., len(c))``."""
        p, coef = self.locate(c)
        Rc = self.panel_integrals(g)
        idx = self.starts[p][:, None] + np.arange(self.L)[None, :]
        idx = np.minimum(idx, self.t.size - 1)
        return Rc[..., p] + np.einsum("...ql,ql->...q", g[..., idx], coef)


def log_tgrid(edges: np.ndarray, lo: float) -> TGrid:
    """Panels linear on [0, lo] and Gauss-Legendre panels on the ``edges`` (in log t)."""
    nodes, _ = _gl(ORDER)
    e = np.asarray(edges, float)
    u, wu = panels(e)
    t = np.concatenate([lo * nodes, np.exp(u)])
    _, wgl = _gl(ORDER)
    full = np.concatenate([lo * wgl, wu * np.exp(u)])
    npan = e.size  # the head panel plus e.size - 1 log panels
    starts = np.arange(npan) * ORDER
    tn = t.reshape(npan, ORDER)
    h = np.diff(e)

    def locate(c):
        p = np.zeros(c.size, np.int64)
        coef = np.zeros((c.size, ORDER))
        pos = c > 0
        head = pos & (c <= lo)
        if np.any(head):
            coef[head] = lo * _cum_basis(c[head] / lo)
        logs = pos & (c > lo)
        if np.any(logs):
            uc = np.log(np.minimum(c[logs], math.exp(e[-1])))
            j = np.clip(np.searchsorted(e, uc, side="right") - 1, 0, e.size - 2)
            xi = (uc - e[j]) / h[j]
            coef[logs] = h[j][:, None] * _cum_basis(xi) * tn[j + 1]
            p[logs] = j + 1
        return p, coef

    def interp(c):
        uc = np.log(np.clip(c, math.exp(e[0]), math.exp(e[-1])))
        j = np.clip(np.searchsorted(e, uc, side="right") - 1, 0, e.size - 2)
        xi = (uc - e[j]) / h[j]
        return j + 1, _lagrange(xi)

    return TGrid(t, full, ORDER, starts, locate, interp)


def _lagrange(xi: np.ndarray) -> np.ndarray:
    """``B[q, k] = \\ell_k(\\xi_q)``: the Lagrange basis of the Gauss-Legendre nodes of [0, 1]."""
    nodes, _ = _gl(ORDER)
    d = xi[:, None] - nodes[None, :]
    B = np.ones((xi.size, ORDER))
    for k in range(ORDER):
        for m in range(ORDER):
            if m != k:
                B[:, k] *= d[:, m] / (nodes[k] - nodes[m])
    return B


def step_tgrid(edges: np.ndarray) -> TGrid:
    r"""A piecewise-constant integrand: ``g`` constant on :math:`(e_{k-1}, e_k]` (node ``k - 1``,
    the threshold value :math:`e_k`) with :math:`e_{-1} = 0`; the last node stands for
    :math:`(e_{m}, \infty)` (threshold :math:`+\infty`)."""
    e = np.asarray(edges, float)
    E = np.concatenate([[0.0], e])
    t = np.concatenate([e, [np.inf]])
    full = np.concatenate([np.diff(E), [0.0]])
    starts = np.arange(t.size)

    def locate(c):
        k = np.searchsorted(E, c, side="left")  # E[k-1] < c <= E[k]
        p = np.maximum(k - 1, 0)
        coef = np.where(c > 0, c - E[p], 0.0)[:, None]
        return p, coef

    return TGrid(t, full, 1, starts, locate)


# ---- finite joint laws ---------------------------------------------------------------------------
class DiscreteJointRule:
    """A finite joint law: pairs ``(x_k, y_k)`` with probabilities ``w_k`` (exact sums)."""

    discrete = True

    def __init__(self, x, y, w):
        x, y, w = (np.asarray(a, float) for a in (x, y, w))
        o = np.lexsort((x, y))
        self.x, self.y, self.w = x[o], y[o], w[o]
        self.ya = np.unique(self.y)

    def _rows(self, v, mask_fn, values=None):
        v = np.atleast_1d(np.asarray(v, float))
        X = np.broadcast_to(self.x if values is None else values, (v.size, self.x.size))
        m = mask_fn(self.y[None, :], v[:, None])
        return np.ascontiguousarray(X), np.where(m, self.w[None, :], 0.0)

    def new(self, v, strict: bool = True):
        """Sizes of the jobs with ``Y < v`` (``Y <= v``)."""
        return self._rows(v, (lambda y, t: y < t) if strict else (lambda y, t: y <= t))

    def gt_x(self, v):
        """Sizes of the jobs with ``Y > v``."""
        return self._rows(v, lambda y, t: y > t)

    def gt_rem(self, v):
        r"""Pieces :math:`(X - (Y - v))^+` of the jobs with ``Y > v``."""
        v = np.atleast_1d(np.asarray(v, float))
        P = np.maximum(self.x[None, :] - self.y[None, :] + v[:, None], 0.0)
        W = np.where(self.y[None, :] > v[:, None], self.w[None, :], 0.0)
        return P, W

    def classes(self):
        """``(y, X, W)``: the distinct predictions and, per prediction, the sizes with their
        joint probabilities (rows padded with zero weights)."""
        ya, start, count = np.unique(self.y, return_index=True, return_counts=True)
        K = int(count.max())
        X = np.zeros((ya.size, K))
        W = np.zeros((ya.size, K))
        for k in range(K):
            has = count > k
            X[has, k] = self.x[start[has] + k]
            W[has, k] = self.w[start[has] + k]
        X[W == 0] = 1.0
        return ya, X, W

    def tgrid(self, top: float | None = None) -> TGrid:
        """Thresholds at the prediction atoms: :math:`\\eta_{<t}` is constant between them."""
        return step_tgrid(self.ya[self.ya > 0])

    def prob_lt(self, t):
        """P(Y < t)."""
        t = np.asarray(t, float)
        c = np.concatenate([[0.0], np.cumsum(self.w)])
        return c[np.searchsorted(self.y, t, side="left")]


# ---- continuous sizes with a multiplicative factor -------------------------------------------
class FactorJointRule:
    r""":math:`Y = XZ`, :math:`X` continuous (the 1-D size rule ``rule``) and :math:`Z`
    independent of :math:`X` with a density (``factor``: ``cdf``, ``sf``, ``pdf``,
    ``kinks``, ``log_range_q``)."""

    discrete = False

    def __init__(self, rule, factor, width: float, twidth: float = 1.0, class_rule=None):
        self.r = rule
        #: the size rule of the classes (the residence transforms oscillate like e^{-s x}: a
        #: finer rule than the thresholds' sums need)
        self.rc = rule if class_rule is None else class_rule
        self.f = factor
        self.kinks = np.asarray([k for k in factor.kinks if k > 0], float)
        self.width = width
        # the law of Y: panels in log y inside the quantiles of X Z (1e-4 each), coarser
        # outside (as the size rule)
        zq = [math.exp(float(factor.log_range_q(u))) for u in (1e-6, 1 - 1e-6)]
        g = np.geomspace(rule.lo * zq[0], rule.hi * zq[1], 600)
        F = self.cdf_y(g)
        if float(rule.size.support[0]) > 0 and (F[0] > Y_CUT or F[-1] < 1 - Y_CUT):
            # a size law with a lower end c > 0: the cut quantiles lie outside that range (it
            # left out P(Y < 1e-6 c), 7e-7 on Pareto(2.5, 1); other laws keep their rule)
            zq = [math.exp(float(factor.log_range_q(u))) for u in (Y_CUT * 1e-2, 1 - Y_CUT * 1e-2)]
            g = np.geomspace(rule.lo * zq[0], rule.hi * zq[1], 600)
            F = self.cdf_y(g)

        def quantile(q, up):
            i = int(np.clip(np.searchsorted(F, q), 1, g.size - 1))
            return float(g[i] if up else g[i - 1])

        # the predictions below the 1e-14 quantile and above 1 - 1e-14 are left out (their
        # classes carry 2e-14 of the mass)
        lo, hi = quantile(Y_CUT, False), quantile(1 - Y_CUT, True)
        self.lo_y, self.hi_y = lo, hi
        b0, b1 = quantile(1e-4, False), quantile(1 - 1e-4, True)
        from ..laws._quadrature import log_edges

        bps = [rule.lo * k for k in self.kinks] + [rule.hi * k for k in self.kinks]
        bps = [b for b in bps if lo < b < hi]
        self.yedges = log_edges(lo, hi, width, bps, bulk=(b0, b1))
        #: the threshold grid of Kendall's equation: eta_{<t}(s) is smooth in log t (it does
        #: not oscillate like the transforms of sizes), so its panels are wider
        self.tedges = log_edges(lo, hi, twidth, bps, bulk=(b0, b1))
        if _tail_extension(rule)[0].size or Y_CUT * hi > 1e-10 * float(rule.size.moment(1)):
            # a power tail or a far top: the classes above the 1 - Y_CUT quantile of Y carry
            # E[T; Y > hi] ~ 1e-14 hi / (1 - rho), 3e-5 of E[T] under PSPJF on Pareto(1.5)
            # (hi = 2e9), 1.5e-9 on BoundedPareto(1.1, 1, 1e6): panels of TAIL_WIDTH up to
            # hi e^TAIL_SPAN for the classes and the thresholds
            ext = math.log(hi) + np.linspace(0.0, TAIL_SPAN, int(round(TAIL_SPAN / TAIL_WIDTH)) + 1)[1:]
            self.yedges = np.concatenate([self.yedges, ext])
            self.tedges = np.concatenate([self.tedges, ext])

    # -- the size rule split per row ---------------------------------------------------------
    @staticmethod
    def top(r) -> float:
        """The top of the rows' panels on the size rule ``r`` (above ``r.hi`` on a power tail,
        :func:`_tail_extension`)."""
        ext = _tail_extension(r)[0]
        return math.exp(ext[-1]) if ext.size else r.hi

    def _split(self, cuts: np.ndarray, density: bool = True, r=None):
        r"""Rows of the size rule with extra panel edges at ``cuts`` (shape ``(n, c)``, in x;
        values outside the rule's range are ignored): nodes ``X`` and weights ``W`` with
        :math:`\sum_k W_k g(X_k) \approx E[g(X)]` (``density=False``: :math:`\int g\,dx` over
        the rule's range, no head or tail node)."""
        r = self.r if r is None else r
        cuts = np.atleast_2d(np.asarray(cuts, float))
        n = cuts.shape[0]
        ext, (tx, tw) = _tail_extension(r)
        edges = np.concatenate([r.edges, ext])
        lc = np.log(np.clip(np.where(np.isnan(cuts), r.lo, cuts), r.lo, math.exp(edges[-1])))
        if n > 1 and lc.size and np.all(lc == lc[:1]):
            # every row cut at the same points (no cuts: a factor without kinks): one row,
            # repeated (each row is computed on its own: the same values)
            X, W = self._split(cuts[:1], density, r)
            return np.repeat(X, n, axis=0), np.repeat(W, n, axis=0)
        e = np.sort(np.concatenate([np.broadcast_to(edges, (n, edges.size)), lc], axis=1), axis=1)
        if not density:
            u, wu = panels(e)
            X = np.exp(u)
            return X, wu * X
        X, W = _reuse_panels(r, edges, e)
        hx, hw = r.head
        X = np.concatenate([np.full((n, 1), hx), X, np.full((n, 1), tx)], axis=1)
        W = np.concatenate([np.full((n, 1), hw), W, np.full((n, 1), tw)], axis=1)
        return X, W

    def _kink_cuts(self, v):
        v = np.atleast_1d(np.asarray(v, float))
        if not self.kinks.size:
            return np.full((v.size, 1), np.nan)
        return v[:, None] / self.kinks[None, :]

    def cdf_y(self, v):
        """P(Y <= v) = E[F_Z(v / X)]."""
        X, W = self.new(v)
        return W.sum(1)

    prob_lt = cdf_y

    def new(self, v, strict: bool = True):
        r""":math:`E[g(X); Y < v] = E[g(X) F_Z(v/X)]` (continuous: strict = non-strict)."""
        v = np.atleast_1d(np.asarray(v, float))
        X, W = self._split(self._kink_cuts(v))
        return X, W * self.f.cdf(v[:, None] / X)

    def gt_x(self, v):
        v = np.atleast_1d(np.asarray(v, float))
        X, W = self._split(self._kink_cuts(v))
        return X, W * self.f.sf(v[:, None] / X)

    def gt_rem(self, v):
        r"""Pieces :math:`P = (X - (Y - v))^+` of the jobs with :math:`Y > v`: nodes in
        :math:`p` (panels in :math:`\log p` below the size rule's top, one linear panel on
        :math:`[0, lo]`) with weights :math:`g_v(p)\,dp`."""
        v = np.atleast_1d(np.asarray(v, float))
        r = self.r
        bps = np.concatenate([np.asarray(r.size.breakpoints, float), np.asarray(r.size.support, float)])
        if np.any(np.isfinite(bps) & (bps > 0)):
            # a size law with breakpoints or support ends (Uniform sizes): the rule below misses
            # the kinks where its cuts meet them (E[P^2] 8e-5 off on Uniform(0.5, 1.5) sizes);
            # TRAIL's piece at c = 1 is the same piece with those cuts (1e-9 there)
            from .response_distribution_trail import _factor_piece

            return _factor_piece(self, v, 1.0)
        if not self.kinks.size and GT_REM_SUFFIX:
            return self._gt_rem_suffix(v)
        nodes, wgl = _gl(ORDER)
        # the p rule, split at v (where z crosses 1) and at v / k for the kinks k of Z's law
        # (where the window x > p meets the kink x = (v - p)/(k - 1) of f_Z(1 + (v - p)/x))
        P, Wd = self._split(np.concatenate([v[:, None], self._kink_cuts(v)], axis=1), density=False)
        P = np.concatenate([np.broadcast_to(r.lo * nodes, (v.size, ORDER)), P], axis=1)
        Wd = np.concatenate([np.broadcast_to(r.lo * wgl, (v.size, ORDER)), Wd], axis=1)
        G = np.empty_like(P)
        for i in range(v.size):
            for a in range(0, P.shape[1], _CHUNK * 4):
                p = P[i, a:a + _CHUNK * 4]
                cuts = [p[:, None]]
                for k in self.kinks:
                    if k != 1.0:
                        with np.errstate(divide="ignore", invalid="ignore"):
                            cuts.append(((v[i] - p) / (k - 1.0))[:, None])
                X, W = self._split(np.concatenate(cuts, axis=1))
                z = 1.0 + (v[i] - p[:, None]) / X
                h = np.where(X > p[:, None], self.f.pdf(z) / X, 0.0)
                G[i, a:a + _CHUNK * 4] = np.sum(W * h, axis=1)
        return P, Wd * G

    def _gt_rem_suffix(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r""":meth:`gt_rem` for a factor law without kinks, the same sums without splitting the
        size rule once per :math:`p`: the rule split at :math:`p` keeps every panel but the one
        holding :math:`p`, whose part above :math:`p` gets its own ``ORDER`` nodes, and only
        the nodes above :math:`p` count (:math:`x > p`), so that

        .. math::
            g_v(p) = \sum_{x_k > e_{j+1}} w_k \frac{f_Z(1 + (v - p)/x_k)}{x_k}
                + \sum_{m} w'_m(p) \frac{f_Z(1 + (v - p)/x'_m(p))}{x'_m(p)},

        with :math:`[e_j, e_{j+1})` the panel holding :math:`\log p` and :math:`x'_m, w'_m` the
        Gauss-Legendre rule of :math:`[\log p, e_{j+1}]` (the head node where it lies above
        :math:`p`, the tail node always): one density value per node above :math:`p` (about
        half the rule) and no sorting."""
        r = self.r
        nodes, wgl = _gl(ORDER)
        # the p rule as gt_rem's (the same nodes)
        P, Wd = self._split(np.concatenate([v[:, None], self._kink_cuts(v)], axis=1), density=False)
        P = np.concatenate([np.broadcast_to(r.lo * nodes, (v.size, ORDER)), P], axis=1)
        Wd = np.concatenate([np.broadcast_to(r.lo * wgl, (v.size, ORDER)), Wd], axis=1)
        ext, (tx, tw) = _tail_extension(r)
        edges = np.concatenate([r.edges, ext])
        # the rule without a cut: head, the panels' nodes, tail
        u, wu = panels(edges)
        xb = np.exp(u)
        wb = wu * xb * r.size.pdf(xb)
        hx, hw = r.head
        top = math.exp(edges[-1])
        G = np.empty_like(P)
        # the panel holding p (p <= lo: none, every node counts), for every row at once
        lp = np.log(np.clip(P, r.lo, top))
        j = np.clip(np.searchsorted(edges, lp, side="right") - 1, 0, edges.size - 2)
        inside = P > r.lo
        first = np.where(inside, (j + 1) * ORDER, 0)
        # the distinct p (most rows share the size rule's nodes; a sort and a binary search:
        # np.unique's argsort cost 26 ms)
        flat = P.reshape(-1)
        srt = np.sort(flat)
        U = srt[np.concatenate([[True], srt[1:] != srt[:-1]])]
        inv = np.searchsorted(U, flat)
        #: np.unique(P, return_inverse=True) as _unique_inverse gives it (unique_of)
        self._qt_gt_rem_unique = (P, U, inv)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if GT_REM_EXP_SPLIT and isinstance(self.f, _ExpFactor) and np.all(v >= 0):
                ufirst = np.empty(U.size, np.int64)
                ufirst[inv] = first.reshape(-1)
                # a table row for the p that several rows share (the size rule's nodes: 26 MB
                # for every distinct p on Exp(1) sizes, 91 MB on Weibull(0.5))
                shared = np.bincount(inv, minlength=U.size) > 1
                slot = np.where(shared, np.cumsum(shared) - 1, -1).astype(np.int64)
                G = _exp_suffix_sums(np.ascontiguousarray(P), np.ascontiguousarray(first, np.int64),
                                     np.ascontiguousarray(v, float), xb, np.ascontiguousarray(wb, float),
                                     U, np.ascontiguousarray(inv.reshape(P.shape), np.int64), ufirst, slot)
            else:
                H = np.empty((P.shape[1], xb.size))  # h of one row (reused)
                for i in range(v.size):
                    # Z = 1 + (v - p)/x at the nodes from `first` on (row-major order), f_Z
                    # there and h = f_Z(Z)/x (0 before `first`)
                    fz = np.asarray(self.f.pdf(_suffix_z(P[i], xb, first[i], v[i])), float)
                    _suffix_h_into(fz, 0, xb, first[i], H)
                    G[i] = H @ wb
            # the part of p's panel above p, and the head and tail nodes, for every row at once
            # (elementwise: the same values as row by row); its nodes and weights depend on p
            # alone: computed once per distinct p (the same values)
            iu = np.empty(U.size, np.int64)
            iu[inv] = np.arange(flat.size)
            ju, lpu, insu = j.reshape(-1)[iu], lp.reshape(-1)[iu], inside.reshape(-1)[iu]
            a = np.where(insu, lpu, edges[ju + 1])
            su, sw = panels(np.stack([a, edges[ju + 1]], axis=-1))
            sxu = np.exp(su)
            swwu = np.where(insu[:, None], sw * sxu * r.size.pdf(sxu), 0.0)
            inv2 = inv.reshape(P.shape)
            if PANEL_PART_COMPILED and 8 <= ORDER < 16:
                # only the terms with a weight and a node above p (compiled; the density on
                # them alone, flat): the values of the expression below, bit for bit
                sxu, swwu = np.ascontiguousarray(sxu, float), np.ascontiguousarray(swwu, float)
                Pc, inv2 = np.ascontiguousarray(P, float), np.ascontiguousarray(inv2, np.int64)
                z = _panel_part_z(Pc, np.ascontiguousarray(v, float), inv2, sxu, swwu)
                if isinstance(self.f, _ExpFactor) and np.all(v >= 0):
                    # z = (x' - p + v)/x' >= 0 at a node x' > p (1 + d/x' with d/x' >= -1 after
                    # rounding): f_Z(z) = e^{-z}, np.exp of the negated values in place (the
                    # same values as the factor's pdf, without its masks and copies)
                    fz = np.exp(np.negative(z, out=z), out=z)
                else:
                    fz = np.asarray(self.f.pdf(z), float)
                G = _panel_part_add(np.ascontiguousarray(G, float), Pc, inv2, sxu, swwu, np.ascontiguousarray(fz))
            else:
                sx = sxu[inv2]
                sz = 1.0 + (v[:, None, None] - P[:, :, None]) / sx
                G = G + np.sum(swwu[inv2] * np.where(sx > P[:, :, None], self.f.pdf(sz) / sx, 0.0), axis=-1)
            for xe, we in ((hx, hw), (tx, tw)):
                if we != 0.0:
                    # the terms at the pieces below the node alone (the head node: a few), 0
                    # elsewhere: the values of np.where over every piece
                    below = xe > P
                    add = np.zeros(P.shape)
                    vb = np.broadcast_to(v[:, None], P.shape)[below]
                    add[below] = we * np.nan_to_num(self.f.pdf(1.0 + (vb - P[below]) / xe) / xe)
                    G = G + add
        return P, Wd * G

    def unique_of(self, X: np.ndarray):
        r"""``(U, inv)``: the distinct values of ``X`` and the index of each, as
        ``np.unique(X, return_inverse=True)`` (``inv`` int64, shaped as ``X``), where ``X`` is
        the pieces :math:`P` of the last :meth:`gt_rem` (its sums found them, by the same sort
        and binary search as
        :func:`~qtheory.engine.response_distribution_prediction._unique_inverse`); else ``None``."""
        hit = self.__dict__.get("_qt_gt_rem_unique")
        if hit is None or hit[0] is not X:
            return None
        P, U, inv = hit
        return U, np.ascontiguousarray(np.asarray(inv, np.int64).reshape(P.shape))

    def classes(self):
        r"""``(y, X, W)``: the prediction nodes (the log panels of :meth:`tgrid`) and for each
        the sizes with the joint weights :math:`f_X(x) f_Z(y/x)/x\,dx\,dy`, each row split at
        :math:`x = y` (SPRPT's residence kinks there) and where :math:`y/x` crosses a kink of
        :math:`Z`."""
        y, dy = panels(self.yedges)
        y = np.exp(y)
        dy = dy * y
        cuts = np.concatenate([y[:, None], self._kink_cuts(y)], axis=1)
        X, W = self._split(cuts, r=self.rc)
        W = W * self.f.pdf(y[:, None] / X) / X * dy[:, None]
        return y, X, drop_tiny(X, W, self.r.size)

    def tgrid(self, top: float | None = None) -> TGrid:
        """The prediction panels (``top``: only those below ``top``, which is an edge)."""
        e = self.tedges
        if top is not None and math.isfinite(top):
            lt = math.log(max(top, math.exp(e[0]) * (1 + 1e-12)))
            e = np.concatenate([e[e < lt - 1e-12], [lt]])
            if e.size < 2:
                e = np.array([lt - 1.0, lt])
        return log_tgrid(e, math.exp(e[0]))


__all__ = ["TGrid", "DiscreteJointRule", "FactorJointRule", "drop_tiny", "log_tgrid", "step_tgrid"]
