r"""Compiled evaluation of the conditional laws :math:`X \mid Y = y` of
:class:`~qtheory.engine.soap_conditional.CondBatch` at arbitrary ages, and the roots of the
rank equations on them, one (row, age) pair at a time.

Each row holds the law as Chebyshev panels in :math:`u = \log x` (17 Chebyshev-Lobatto points a
panel) with the exact cumulative integrals of :math:`x^j k_y(x)` (j = 0, 1, 2) at the panel ends
(``CondBatch.L``, ``CondBatch.T``). At an age :math:`t` on panel :math:`p` at local coordinate
:math:`\tau` the partial moments are the panel end's value plus the panel's partial integral
from its left end (for the head) or to its right end (for the tail), each held as a Chebyshev
series in :math:`\tau` (:func:`panel_series`: the series of
``soap_exact.cumulative_weights`` applied to the panel's nodal values, so that one evaluation
costs 18 Chebyshev polynomials and six dot products instead of a 17 x 17 weight matrix), and
the density is the panel's Chebyshev interpolant of :math:`\log k_y` (its nodes are the law's
own density values). The roots:

* :math:`C_y(\ell)`: :math:`\log(S/k)(C) = \log \ell` on the rising branch :math:`[a_p, x_{top}]`;
* :math:`B_y(\ell)` for a given :math:`C`: :math:`\int_B^C S = \ell (S(B) - S(C))` on the
  falling branch :math:`[x_{lo}, a_p]` (linear below the law's range);
* :math:`b^*(a)` of the rank on the falling branch: :math:`\int_a^b S = (S(a) - S(b))/h(b)`;
* the truncation end :math:`x_{top}` (:math:`S = 10^{-15} S(0)`) and the hazard's peak
  :math:`a_p` of each law (``CondBatch._peak``).

All are safeguarded Newton steps (bisection wherever a step leaves the bracket; the peak by
successive parabolic interpolation), the integrals taken from the nearer end as in
``soap_conditional._between`` (no cancellation). :math:`C_y` starts from the linear
interpolation between the two law nodes that bracket it; along a row of rising levels (ages)
:math:`B_y` (:math:`b^*`) falls, and starts from the linear extrapolation of the row's two
previous roots inside the bracket ending at the previous root, without the function at the
bracket's ends (the full search where the root lands at an end): 1.65 and 1.66 us a root
instead of 2.48 and 2.34; :math:`B_y` from the quadratic through the row's last three roots
where it has them (3.6 -> 2.5 evaluations a root on the tables' rows; for :math:`b^*` that
start left 3.7e-11 in the rank next to the hazard's peak, where phi's steps reach its rounding
level: linear there). A pair repeated along a row (the panels' shared ends) takes the root
before, and the Newton iterations of C, B and b* stop once two Newton steps in a row leave an
estimated error below the tolerance (:func:`_step`), without the confirming evaluation: E[T]
on Exp/Exp and LogNormal/log-normal bit-identical, the kernels' CPU about 15% less. Each
caller asks only for the moments it uses (``nj``). Also
compiled: the tables' tensor Chebyshev interpolant (:func:`tensor_cheb`) and the inverse of
the increasing interpolants of the ranks in :math:`\log y` (:func:`cheb1_inverse`). All
kernels are cached on disk by numba as one library
(``cache=True`` on :func:`_kernel`; where the package directory is not writable numba uses its
user cache or compiles in memory): the first compile takes about 9 s CPU on a loaded machine
(12 s before the helpers lost their CPython and C wrappers and their separate literal-argument
specialisations, ``_inner``, ``_I64``, ``_B``), later processes load it in about 0.02 s. The
public functions are Python wrappers with the kernels' signatures around one compiled
dispatcher (:func:`_kernel`, the kernel chosen by an op code, every array passed
contiguous): a process loads one cached library instead of eleven (each load costs 5-10 ms
after numba's one-time set-up of its typing and lowering registries, about 0.25 s on a loaded
machine). That set-up is for compiling: :func:`_load_cached` loads the cached library without
it (numba's runtime only), and a later compile in the process sets it up as usual. The
helpers of one evaluation of a law are inlined into their callers (``_hot``: a compiled call
takes and drops a reference on each array argument, a third of the roots' CPU): the kernels of
one cold evaluation on Exp/Exp take 0.26 s CPU instead of 0.40, bit-identical, and the first
compile 29 s instead of 11.

The C roots start from the inverse cubic through the four law nodes around the root (where
``log(S/k)`` rises through all four; the linear interpolation between the two otherwise) and
stop after one Newton step where it leaves an error :math:`K\,dx^2` below the tolerance / 10,
with Newton's constant :math:`K = |g''|/(2|g'|)` from the nodes' divided differences (times 2):
1.68 evaluations a root instead of 2.14 on a cold Exp/Exp evaluation. The roots move within
the rounding of their equation (77% of 1.4 million differ, by up to 2.5e-13 relative at the
99th percentile, up to 9.7e-10 on Weibull(2) + uniform rows whose minimal rank is rounding,
1e-12, where log(S/k) is flat); E[T] and its estimate bit-identical on Exp/Exp,
LogNormal(1)/log-normal(0.5), Exp and Weibull(2) with the factor uniform on [0.5, 2] and
Weibull(2) with [0.5, 1.5] at loads 0.5 / 0.8 / 0.95. (The same stop on the B roots, with
:math:`K` measured on the row's previous root, took 2.95 evaluations a root instead of 2.96:
their start, extrapolated along the row, is too far for one step; not kept.) The tables'
tensor interpolant sums over the second coordinate for all orders of the first at once
(coefficients ``(pu, pw, k, i)``, independent accumulators: the same sums, bit-identical):
0.034 -> 0.028 s CPU.

The panels' series are held once (``MW``, :func:`panel_series`: per row and panel the three
moments' series from the left end, then the whole panel's integral; the series to the right
end is their difference, coefficient by coefficient, which negation and ``x + (-y) = x - y``
make exact), half the array the two series took, and no array is allocated in compiled code
(outputs and scratch come from :func:`_call`): the environment of numba's ``np.empty`` made the
cache's load import ``numba.np.arrayobj`` with numba's string, hashing and random modules
(0.065-0.070 s CPU for the load, now 0.022-0.028 s). All 1,031,701 outputs of the 214 kernel
calls of Exp/Exp and LogNormal(1)/log-normal(0.5) sizes at three loads bit-identical; the roots
on 600 Exp/Exp laws (``C``, ``B``, the old work and the rank) 0.111-0.114 s CPU against
0.117-0.120 s before (three alternating runs, load 20 on 2 cores).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .soap_exact import _FULLW, _VINV, NCHEB

#: the decorator of every helper below :func:`_kernel`: called from compiled code only, so
#: without the CPython and C wrappers (about a sixth of a helper's compile time), and not
#: cached on its own (the cached ``_kernel`` holds the helpers' code)
#: (``error_model="numpy"`` here and below: a division by zero gives inf or NaN instead of
#: raising ZeroDivisionError, so no check before each division: the kernels of a cold
#: evaluation on Exp/Exp 0.245 s CPU instead of 0.255, every output bit-identical)
_inner = njit(no_cpython_wrapper=True, no_cfunc_wrapper=True, error_model="numpy")
#: the helpers of one evaluation of a law (:func:`_mk`, :func:`_moments` and what they call,
#: :func:`_bF`, :func:`_rank_phi`), inlined into their callers by numba: a call of a compiled
#: function takes a reference on each array argument and drops it again (two atomic updates an
#: array, a dozen arrays a call), which was a third of the roots' CPU. Inlined, the kernels of
#: a cold evaluation on Exp/Exp take 0.26 s CPU instead of 0.40 (the recorded calls of one
#: evaluation, each output bit-identical), the first compile 29 s instead of 11 (everything
#: inlined: 0.25 s and 41 s; the bracket ends' evaluations of F and phi go through one call
#: site each, ``_bF_at``, ``_rank_phi_at``, as each inlined site compiles once more)
_hot = njit(no_cpython_wrapper=True, no_cfunc_wrapper=True, inline="always", error_model="numpy")
#: a flag or a moment count passed as ``_I64(2)``, ``_B(True)`` is an ordinary int64 or boolean
#: argument: a bare literal would compile the helper once per value (``_moments`` three times)
_I64, _B = np.int64, np.bool_

_VINV_C = np.ascontiguousarray(_VINV)
NCHEB_ = NCHEB
_FULLW_C = np.ascontiguousarray(np.asarray(_FULLW, float))


@_inner
def _scratch(scr):
    """Scratch arrays of the kernels from the caller's tuple ``scr`` (:func:`_call`: no array
    is allocated in compiled code, as numba's allocator ``np.empty`` is defined in
    ``numba.np.arrayobj``, whose import, with numba's string, hashing and random modules, the
    cache's load would otherwise pay): T_0..T_NCHEB at a point, and two (head, tail) triples
    of moments; then the tensor interpolant's two rows of Chebyshev polynomials
    (:func:`_tensor_cheb`). Separate arrays, not views of one buffer: with views the roots took
    5-10% more CPU (the kernels' stores into one may alias the others' loads), with arrays
    allocated in compiled code 4-5% less (the fastest, but the load pays the import)."""
    return scr[0], scr[1], scr[2], scr[3], scr[4]


@_inner
def _clenshaw(c, tau):
    """sum_k c_k T_k(tau) and its tau-derivative."""
    n = c.shape[0]
    # value
    b1 = 0.0
    b2 = 0.0
    for k in range(n - 1, 0, -1):
        b0 = 2.0 * tau * b1 - b2 + c[k]
        b2 = b1
        b1 = b0
    val = tau * b1 - b2 + c[0]
    # derivative: T_k' = k U_{k-1}
    d1 = 0.0
    d2 = 0.0
    for k in range(n - 1, 0, -1):
        d0 = 2.0 * tau * d1 - d2 + k * c[k]
        d2 = d1
        d1 = d0
    return val, d1


@_inner
def _locate(e, u):
    """Panel of u on the ascending edges e (clipped) and the local coordinate."""
    P = e.shape[0] - 1
    lo = 0
    hi = P
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if u >= e[mid]:
            lo = mid
        else:
            hi = mid
    p = lo
    tau = (2.0 * u - e[p] - e[p + 1]) / (e[p + 1] - e[p])
    if tau < -1.0:
        tau = -1.0
    elif tau > 1.0:
        tau = 1.0
    return p, tau


@_hot
def _locate_row(E, r, u):
    """:func:`_locate` on row r of the edges E, read in place (a row view ``E[r]`` costs a
    reference count up and down on every evaluation of the compiled roots)."""
    P = E.shape[1] - 1
    lo = 0
    hi = P
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if u >= E[r, mid]:
            lo = mid
        else:
            hi = mid
    p = lo
    tau = (2.0 * u - E[r, p] - E[r, p + 1]) / (E[r, p + 1] - E[r, p])
    if tau < -1.0:
        tau = -1.0
    elif tau > 1.0:
        tau = 1.0
    return p, tau


@_hot
def _cheb_T(tau, cw):
    """T_0..T_NCHEB at tau into ``cw`` (the three-term recurrence)."""
    m = cw.shape[0]
    cw[0] = 1.0
    cw[1] = tau
    for k in range(2, m):
        cw[k] = 2.0 * tau * cw[k - 1] - cw[k - 2]


@_hot
def _series_moments(r, p, MW, LH, TT, cw, hd, tl, nj):
    """(head_j, tail_j) for j < nj (<= 3) of row r on panel p into hd, tl from the Chebyshev
    polynomials ``cw`` at the point: the panel end's cumulative value plus the panel's partial
    integral from either side, each a Chebyshev series in tau (``MW``: (1, rows, panels, 3,
    NCHEB + 2), :func:`panel_series`: the series of the integral from the left end, and last
    the whole panel's integral; the series to the right end is the whole panel's integral less
    the first, coefficient by coefficient). The 2 nj sums run in one loop: independent chains
    of additions, each in the order of k as when the sums ran one after the other, and the
    tail's terms are those of the series to the right end that was stored before (its
    coefficients ``full - c_0``, ``-c_k``: negation and ``x + (-y) = x - y`` are exact, so
    the same values)."""
    m = cw.shape[0]
    a0 = b0 = a1 = b1 = a2 = b2 = 0.0
    w = cw[0]
    c = MW[0, r, p, 0, 0]
    a0 += c * w
    b0 += (MW[0, r, p, 0, m] - c) * w
    if nj == 1:
        for k in range(1, m):
            w = cw[k]
            c = MW[0, r, p, 0, k] * w
            a0 += c
            b0 -= c
    elif nj == 2:
        c = MW[0, r, p, 1, 0]
        a1 += c * w
        b1 += (MW[0, r, p, 1, m] - c) * w
        for k in range(1, m):
            w = cw[k]
            c = MW[0, r, p, 0, k] * w
            a0 += c
            b0 -= c
            c = MW[0, r, p, 1, k] * w
            a1 += c
            b1 -= c
    else:
        c = MW[0, r, p, 1, 0]
        a1 += c * w
        b1 += (MW[0, r, p, 1, m] - c) * w
        c = MW[0, r, p, 2, 0]
        a2 += c * w
        b2 += (MW[0, r, p, 2, m] - c) * w
        for k in range(1, m):
            w = cw[k]
            c = MW[0, r, p, 0, k] * w
            a0 += c
            b0 -= c
            c = MW[0, r, p, 1, k] * w
            a1 += c
            b1 -= c
            c = MW[0, r, p, 2, k] * w
            a2 += c
            b2 -= c
    hd[0] = LH[0, r, p] + a0
    tl[0] = TT[0, r, p + 1] + b0
    if nj > 1:
        hd[1] = LH[1, r, p] + a1
        tl[1] = TT[1, r, p + 1] + b1
    if nj > 2:
        hd[2] = LH[2, r, p] + a2
        tl[2] = TT[2, r, p + 1] + b2


@_hot
def _panel_moments(r, p, tau, MW, LH, TT, cw, hd, tl, nj):
    """(head_j, tail_j) for j < nj (<= 3) at local coordinate tau of panel p of row r into hd,
    tl (:func:`_series_moments`; ``cw``: scratch for T_0..T_NCHEB at tau)."""
    _cheb_T(tau, cw)
    _series_moments(r, p, MW, LH, TT, cw, hd, tl, nj)


@_hot
def _cheb_T_clenshaw(LK, r, p, tau, cw):
    """T_0..T_NCHEB at tau into ``cw`` and the series sum_k c_k T_k(tau) of c = LK[r, p] with
    its tau-derivative by Clenshaw's recurrences (:func:`_clenshaw`), the three recurrences in
    one loop: independent chains, each with the operations of its own loop (the same values);
    c read in place."""
    n = LK.shape[2]
    m = cw.shape[0]
    cw[0] = 1.0
    cw[1] = tau
    b1 = 0.0
    b2 = 0.0
    d1 = 0.0
    d2 = 0.0
    for i in range(max(n - 1, m - 2)):
        k = n - 1 - i
        if k > 0:
            ck = LK[r, p, k]
            b0 = 2.0 * tau * b1 - b2 + ck
            b2 = b1
            b1 = b0
            d0 = 2.0 * tau * d1 - d2 + k * ck
            d2 = d1
            d1 = d0
        q = i + 2
        if q < m:
            cw[q] = 2.0 * tau * cw[q - 1] - cw[q - 2]
    return tau * b1 - b2 + LK[r, p, 0], d1


@_hot
def _outside(r, u, E, LH, TT, hd, tl, nj):
    """Where log age u lies outside row r's panels (edges ``E[r]``), its moments into hd, tl
    (below: no head, the whole law in the tail; above: the reverse), and True."""
    P = E.shape[1] - 1
    if u <= E[r, 0]:
        for j in range(nj):
            hd[j] = 0.0
            tl[j] = TT[j, r, 0]
        return True
    if u >= E[r, P]:
        for j in range(nj):
            hd[j] = LH[j, r, P]
            tl[j] = 0.0
        return True
    return False


@_hot
def _moments(r, t, E, MW, LH, TT, fullw, vinv, cw, hd, tl, nj):
    """(head_j, tail_j) for j < nj (<= 3: the callers ask for the moments they use) at age t
    of row r into hd, tl: E[X^j; X <= t] and
    E[X^j; X > t] (times f_Y), from the panel's partial integrals either way
    (:func:`_panel_moments`; ``cw``: scratch), so that each is accurate relative to itself (as
    ``CondBatch.moments``). (``fullw``, ``vinv``: unused, kept for the callers' signature.)"""
    u = math.log(t) if t > 0.0 else -np.inf
    if not _outside(r, u, E, LH, TT, hd, tl, nj):
        p, tau = _locate_row(E, r, u)
        _panel_moments(r, p, tau, MW, LH, TT, cw, hd, tl, nj)


@_hot
def _mk(r, t, E, MW, LH, TT, LK, fullw, vinv, cw, hd, tl, nj):
    """:func:`_moments` at age t (> 0) of row r, and log k_y(t) with d log k / d log t, the
    panel located once."""
    u = math.log(t)
    p, tau = _locate_row(E, r, u)
    v, dv = _cheb_T_clenshaw(LK, r, p, tau, cw)
    if not _outside(r, u, E, LH, TT, hd, tl, nj):
        _series_moments(r, p, MW, LH, TT, cw, hd, tl, nj)
    return v, dv * 2.0 / (E[r, p + 1] - E[r, p])


@_inner
def _between(ha, ta, hb, tb):
    if hb <= ta:
        return hb - ha
    return ta - tb


@_inner
def _s_int(a, b, ha, ta, hb, tb):
    """int_a^b S = E[(min(X, b) - a)^+] (b finite), from moments at a and b."""
    m0 = _between(ha[0], ta[0], hb[0], tb[0])
    m1 = _between(ha[1], ta[1], hb[1], tb[1])
    v = m1 - a * m0
    if v < 0.0:
        v = 0.0
    return v + (b - a) * tb[0]


@_inner
def _old_square(B, C, hB, tB, hC, tC, finC):
    """E[((min(X, C) - B)^+)^2] from moments at B and C (C infinite: finC False)."""
    m0 = _between(hB[0], tB[0], hC[0], tC[0])
    m1 = _between(hB[1], tB[1], hC[1], tC[1])
    m2 = _between(hB[2], tB[2], hC[2], tC[2])
    v = m2 - 2.0 * B * m1 + B * B * m0
    if v < 0.0:
        v = 0.0
    if finC:
        v += (C - B) * (C - B) * tC[0]
    return v


@_inner
def _step(x, f, df, lo, hi, dx, dxold, rising, signed, tol, early):
    """One safeguarded Newton step (``rtsafe``) of the root finders below: the bracket [lo, hi]
    updated by the sign of f at x (f ``rising`` or falling through the root), then the Newton
    step, or a bisection where the step leaves the bracket, does not halve the step before
    last, or the derivative is 0 (``signed``: or of the wrong sign). Returns the next point,
    the bracket, the step, the step before, and whether the step or the bracket is below
    ``tol`` (relative, absolute below 1), or (``early``) the Newton iteration has converged:
    two Newton steps in a row, the second, dx_k, so small against the first that the error it
    leaves, about K dx_k^2 with K = dx_k / dx_{k-1}^2 (quadratic convergence), is below
    ``tol / 10`` (the point evaluated after it would only confirm it). That estimate holds
    while f is above its rounding level, so ``early`` only where the caller stops at that
    level first (steps driven by rounding noise look convergent: the truncation end, which
    iterates to ``tol`` alone, stopped 1.6e-12 off in S). A step is negative where it was a
    bisection (the callers start with the negative bracket width)."""
    if (f > 0.0) == rising:
        hi = x
    else:
        lo = x
    if signed:
        bad = df <= 0.0 if rising else df >= 0.0
    else:
        bad = df == 0.0
    bad = bad or abs(2.0 * f) > abs(dxold * df)
    xn = 0.0
    if not bad:
        xn = x - f / df
        if xn <= lo or xn >= hi:
            bad = True
    if bad:
        xn = 0.5 * (lo + hi)
    dxn = abs(xn - x)
    s = tol * max(abs(xn), 1.0)
    done = dxn <= s or hi - lo <= s
    if early and not bad and dx > 0.0 and dxn * dxn * dxn <= 0.1 * s * dx * dx:
        done = True
    return xn, lo, hi, -dxn if bad else dxn, dx, done


@_inner
def _c_root(r, ll, E, MW, LH, TT, LK, fullw, vinv, ap, xtop, cw, hd, tl, XS, GS, ipk, ilast):
    """C_y(l) on the rising branch of row r (log l = ll; l between m and the top rank),
    bracketed first between the law's nodes (``XS``: log ages, ``GS``: log(S/k) there,
    increasing from ``ipk`` to ``ilast``)."""
    lo = math.log(ap[r])
    hi = math.log(xtop[r])
    a = ipk[r]
    b = ilast[r]
    if b > a and GS[r, a] < ll < GS[r, b]:
        while b - a > 1:
            mid = (a + b) // 2
            if GS[r, mid] <= ll:
                a = mid
            else:
                b = mid
        if XS[r, a] > lo:
            lo = XS[r, a]
        if XS[r, b] < hi:
            hi = XS[r, b]
    elif b > a and ll >= GS[r, b]:
        if XS[r, b] > lo:
            lo = XS[r, b]
    # g(u) = log(S/k) - ll is increasing on [lo, hi]; the first point by linear interpolation
    # between the two nodes (the bracket's midpoint where they are not its ends), or by the
    # inverse cubic through the four nodes around the root where g rises through all four
    x = 0.5 * (lo + hi)
    kq = 0.0
    if b - a == 1 and GS[r, b] > GS[r, a]:
        xi = XS[r, a] + (ll - GS[r, a]) * (XS[r, b] - XS[r, a]) / (GS[r, b] - GS[r, a])
        if lo < xi < hi:
            x = xi
            if a - 1 >= ipk[r] and b + 1 <= ilast[r]:
                xc, kq = _inverse_cubic(XS, GS, r, a - 1, ll)
                if lo < xc < hi:
                    x = xc
                else:
                    kq = 0.0
    # (stopped at the rounding level of g, logs of size |ll|: further steps follow the noise)
    return math.exp(_log_tail_root(r, x, lo, hi, ll, _B(True), _B(True), 1e-14, 4e-16, kq, E, MW, LH,
                                   TT, LK, cw, hd, tl))


@_inner
def _inverse_cubic(XS, GS, r, j, ll):
    """The log age where the cubic through the nodes (GS[r, i], XS[r, i]), i = j .. j + 3
    (GS increasing), reaches ll (inverse interpolation: an error of the order of the nodes'
    spacing to the fourth power), and the constant K = |g''| / (2 |g'|) of Newton's quadratic
    convergence of g = GS(u) - ll there (the error after one step from an error e is about
    K e^2), from the nodes' divided differences (second over first, times 2 for safety); 0
    where the nodes are not strictly increasing."""
    x0, x1, x2, x3 = XS[r, j], XS[r, j + 1], XS[r, j + 2], XS[r, j + 3]
    g0, g1, g2, g3 = GS[r, j], GS[r, j + 1], GS[r, j + 2], GS[r, j + 3]
    if not (g0 < g1 < g2 < g3 and x0 < x1 < x2 < x3):
        return np.nan, 0.0
    d0, d1, d2, d3 = ll - g0, ll - g1, ll - g2, ll - g3
    xc = (x0 * d1 * d2 * d3 / ((g0 - g1) * (g0 - g2) * (g0 - g3))
          + x1 * d0 * d2 * d3 / ((g1 - g0) * (g1 - g2) * (g1 - g3))
          + x2 * d0 * d1 * d3 / ((g2 - g0) * (g2 - g1) * (g2 - g3))
          + x3 * d0 * d1 * d2 / ((g3 - g0) * (g3 - g1) * (g3 - g2)))
    s01 = (g1 - g0) / (x1 - x0)
    s12 = (g2 - g1) / (x2 - x1)
    s23 = (g3 - g2) / (x3 - x2)
    dd2 = max(abs(s12 - s01) / (x2 - x0), abs(s23 - s12) / (x3 - x1))
    return xc, 2.0 * dd2 / min(s01, s12, s23)


@_inner
def _log_tail_root(r, x, lo, hi, target, with_k, rising, tol, ftol, kq, E, MW, LH, TT, LK, cw, hd,
                   tl):
    """The root in [lo, hi] (log age) of g(u) = log S(e^u) - target, less log k_y(e^u) where
    ``with_k`` (log(S/k) = target: C_y), by safeguarded Newton steps from x (g ``rising`` or
    falling through the root); stopped where |g| <= ftol times the size of the logs, or (``kq``
    > 0: Newton's constant K = |g''| / (2 |g'|), known) after the first step where it leaves an
    error K dx^2 below ``tol / 10`` (as :func:`_step`'s early stop, with K known instead of
    measured by a second step)."""
    dxold = hi - lo
    dx = -dxold  # (not a Newton step)
    for it in range(100):
        t = math.exp(x)
        lk, dlk = _mk(r, t, E, MW, LH, TT, LK, _FULLW_C, _VINV_C, cw, hd, tl, _I64(1))
        S = tl[0]
        if S <= 0.0:
            g = -1e300
            dg = 0.0
        else:
            if with_k:
                g = math.log(S) - lk - target
                dg = -t * math.exp(lk) / S - dlk
            else:
                g = math.log(S) - target
                dg = -t * math.exp(lk) / S
            if abs(g) <= ftol * (abs(target) + abs(lk) + 1.0):
                break
        x, lo, hi, dx, dxold, done = _step(x, g, dg, lo, hi, dx, dxold, rising, _B(True), tol,
                                           ftol > 0.0)
        if it == 0 and kq > 0.0 and dx > 0.0 and kq * dx * dx <= 0.1 * tol * max(abs(x), 1.0):
            break
        if done:
            break
    return x


@_inner
def _c_new_rows(rows, levels, E, MW, LH, TT, LK, ap, xtop, m, top, XS, GS, ipk, ilast, out, scr):
    """The kernel of :func:`c_new_rows`."""
    n = rows.shape[0]
    cw, hd, tl, _h2, _t2 = _scratch(scr)
    for i in range(n):
        r = rows[i]
        l = levels[i]
        if l >= top[r]:
            out[i] = np.inf
        elif l <= m[r]:
            out[i] = ap[r]
        elif i > 0 and r == rows[i - 1] and l == levels[i - 1]:
            out[i] = out[i - 1]  # the same pair again (the tables' panel ends)
        else:
            out[i] = _c_root(r, math.log(l), E, MW, LH, TT, LK, _FULLW_C, _VINV_C, ap, xtop,
                             cw, hd, tl, XS, GS, ipk, ilast)
    return out



@_hot
def _bF(x, r, l, C, finC, hC, tC, E, MW, LH, TT, LK, fullw, vinv, cw, hb, tb):
    """F(b) = int_b^C S - l (S(b) - S(C)) at b = e^x, dF/dx and the scale of F."""
    b = math.exp(x)
    lk, _ = _mk(r, b, E, MW, LH, TT, LK, fullw, vinv, cw, hb, tb, _I64(2))
    m0 = _between(hb[0], tb[0], hC[0], tC[0])
    m1 = _between(hb[1], tb[1], hC[1], tC[1])
    si = m1 - b * m0
    if si < 0.0:
        si = 0.0
    if finC:
        si += (C - b) * tC[0]
    return si - l * m0, b * (l * math.exp(lk) - tb[0]), si + l * m0


@_inner
def _bF_at(x, r, l, C, finC, hC, tC, E, MW, LH, TT, LK, cw, hb, tb):
    """F at b = e^x (:func:`_bF`): the bracket ends' evaluations, through one call site (each
    site of the inlined :func:`_bF` is compiled once more)."""
    return _bF(x, r, l, C, finC, hC, tC, E, MW, LH, TT, LK, _FULLW_C, _VINV_C, cw, hb, tb)[0]


@_inner
def _b_newton(x, lo, hi, r, l, C, finC, hC, tC, E, MW, LH, TT, LK, cw, hb, tb):
    """The root of F (:func:`_bF`, falling through it) in [lo, hi] from x: safeguarded Newton
    steps to the rounding level of F."""
    dxold = hi - lo
    dx = -dxold  # (not a Newton step)
    for _ in range(100):
        f, df, fs = _bF(x, r, l, C, finC, hC, tC, E, MW, LH, TT, LK, _FULLW_C, _VINV_C, cw, hb, tb)
        if abs(f) <= 4e-16 * fs:
            break
        x, lo, hi, dx, dxold, done = _step(x, f, df, lo, hi, dx, dxold, _B(False), _B(False), 1e-14,
                                                 _B(True))
        if done:
            break
    return x


@_inner
def _b_old_rows(rows, levels, Cs, E, MW, LH, TT, LK, ap, xlo, fY, out, scr):
    """The kernel of :func:`b_old_rows`."""
    n = rows.shape[0]
    cw, hb, tb, hC, tC = _scratch(scr)
    prev_r = -1
    prev_b = np.nan
    prev_l = np.nan
    prev_C = np.nan
    prev2_ok = False
    prev2_x = 0.0
    prev2_l = 0.0
    prev3_ok = False
    prev3_x = 0.0
    prev3_l = 0.0
    for i in range(n):
        r = rows[i]
        l = levels[i]
        C = Cs[i]
        if r == prev_r and l == prev_l and C == prev_C:
            out[i] = prev_b  # the same pair again (the tables' panel ends)
            continue
        finC = np.isfinite(C)
        _moments(r, C, E, MW, LH, TT, _FULLW_C, _VINV_C, cw, hC, tC, _I64(2))  # C = inf: whole law
        lo = math.log(xlo[r])
        hi = math.log(ap[r])
        warm = r == prev_r and l >= prev_l and prev_b > xlo[r] and math.log(prev_b) < hi
        xb = math.log(prev_b) if warm else 0.0
        x = np.nan
        if warm and prev2_ok and prev_l > prev2_l:
            xp = xb + (xb - prev2_x) * (l - prev_l) / (prev_l - prev2_l)
            if prev3_ok and prev2_l > prev3_l:
                # the quadratic through the last three roots (in the level)
                d12 = (xb - prev2_x) / (prev_l - prev2_l)
                d23 = (prev2_x - prev3_x) / (prev2_l - prev3_l)
                xq = xp + (d12 - d23) / (prev_l - prev3_l) * (l - prev_l) * (l - prev2_l)
                if lo < xq < xb:
                    xp = xq
            if lo < xp < xb:
                x = _b_newton(xp, lo, xb, r, l, C, finC, hC, tC, E, MW, LH, TT, LK, cw, hb, tb)
                if x - lo <= 1e-12 * max(abs(lo), 1.0):
                    x = np.nan  # at the bracket's end: the root may lie below x_lo
        if not np.isfinite(x):
            flo = _bF_at(lo, r, l, C, finC, hC, tC, E, MW, LH, TT, LK, cw, hb, tb)
            fhi = _bF_at(hi, r, l, C, finC, hC, tC, E, MW, LH, TT, LK, cw, hb, tb)
            if not (flo > 0.0 and fhi < 0.0):
                if fhi >= 0.0:
                    out[i] = np.nan
                else:
                    v = xlo[r] + flo / fY[r]
                    out[i] = v if v > 0.0 else 0.0
                prev_r = -1
                prev2_ok = False
                prev3_ok = False
                continue
            x = 0.5 * (lo + hi)
            if warm:
                fb = _bF_at(xb, r, l, C, finC, hC, tC, E, MW, LH, TT, LK, cw, hb, tb)
                if fb < 0.0:
                    hi = xb
                    x = xb - 1e-3 * max(abs(xb), 1.0)
                    if x <= lo:
                        x = 0.5 * (lo + hi)
                elif fb > 0.0:
                    lo = xb
            x = _b_newton(x, lo, hi, r, l, C, finC, hC, tC, E, MW, LH, TT, LK, cw, hb, tb)
        prev3_ok = prev2_ok and warm
        prev3_x = prev2_x
        prev3_l = prev2_l
        prev2_ok = warm
        prev2_x = xb
        prev2_l = prev_l
        out[i] = math.exp(x)
        prev_r = r
        prev_b = out[i]
        prev_l = l
        prev_C = C
    return out


@_inner
def _square_rows(rows, Bs, Cs, E, MW, LH, TT, out, scr):
    """The kernel of :func:`square_rows`."""
    n = rows.shape[0]
    cw, hB, tB, hC, tC = _scratch(scr)
    for i in range(n):
        r = rows[i]
        C = Cs[i]
        finC = np.isfinite(C)
        _moments(r, Bs[i], E, MW, LH, TT, _FULLW_C, _VINV_C, cw, hB, tB, _I64(3))
        _moments(r, C, E, MW, LH, TT, _FULLW_C, _VINV_C, cw, hC, tC, _I64(3))  # C = inf: whole law
        out[i] = _old_square(Bs[i], C, hB, tB, hC, tC, finC)
    return out


@_inner
def _tail_rows(rows, ages, E, MW, LH, TT, out, scr):
    """The kernel of :func:`tail_rows`."""
    n = rows.shape[0]
    cw, hd, tl, _h2, _t2 = _scratch(scr)
    for i in range(n):
        _moments(rows[i], ages[i], E, MW, LH, TT, _FULLW_C, _VINV_C, cw, hd, tl, _I64(1))
        out[i] = tl[0]
    return out


@_inner
def _min_moments_rows(rows, Cs, E, MW, LH, TT, o1, o2, scr):
    """The kernel of :func:`min_moments_rows`."""
    n = rows.shape[0]
    cw, hd, tl, _h2, _t2 = _scratch(scr)
    for i in range(n):
        r = rows[i]
        C = Cs[i]
        if not np.isfinite(C):
            P = E.shape[1] - 1
            o1[i] = LH[1, r, P]
            o2[i] = LH[2, r, P]
            continue
        _moments(r, C, E, MW, LH, TT, _FULLW_C, _VINV_C, cw, hd, tl, _I64(3))
        o1[i] = hd[1] + C * tl[0]
        o2[i] = hd[2] + C * C * tl[0]
    return o1, o2


@_inner
def _trunc_end_rows(ulo, uhi, target, E, MW, LH, TT, LK, out, scr):
    """The kernel of :func:`trunc_end_rows`."""
    n = ulo.shape[0]
    cw, hd, tl, _h2, _t2 = _scratch(scr)
    for r in range(n):
        lo = ulo[r]
        hi = uhi[r]
        x = 0.5 * (lo + hi)
        if not hi > lo:
            out[r] = x
            continue
        out[r] = _log_tail_root(r, x, lo, hi, target[r], _B(False), _B(False), 1e-15, 0.0, 0.0, E, MW, LH, TT,
                                LK, cw, hd, tl)
    return out


@_inner
def _log_inv_h(r, u, E, MW, LH, TT, LK, cw, hd, tl):
    lk, _d = _mk(r, math.exp(u), E, MW, LH, TT, LK, _FULLW_C, _VINV_C, cw, hd, tl, _I64(1))
    if tl[0] <= 0.0:
        return np.inf
    return math.log(tl[0]) - lk


@_inner
def _peak_rows(ulo, um, uhi, E, MW, LH, TT, LK, out, end, scr):
    """The kernel of :func:`peak_rows`."""
    n = ulo.shape[0]
    cw, hd, tl, _h2, _t2 = _scratch(scr)
    g = (3.0 - math.sqrt(5.0)) / 2.0
    for r in range(n):
        lo, m, hi = ulo[r], um[r], uhi[r]
        fl = _log_inv_h(r, lo, E, MW, LH, TT, LK, cw, hd, tl)
        fm = _log_inv_h(r, m, E, MW, LH, TT, LK, cw, hd, tl)
        fh = _log_inv_h(r, hi, E, MW, LH, TT, LK, cw, hd, tl)
        uend = hi
        for _ in range(12):
            if hi - lo < 1e-10 * max(abs(m), 1.0):
                break
            d1 = m - lo
            d2 = m - hi
            p1 = d1 * (fm - fh)
            p2 = d2 * (fm - fl)
            den = 2.0 * (p1 - p2)
            w = hi - lo
            ut = m - (d1 * p1 - d2 * p2) / den if den != 0.0 else np.nan
            if not (ut > lo + 1e-3 * w and ut < hi - 1e-3 * w):
                ut = m + g * (hi - m) if hi - m > m - lo else m - g * (m - lo)
            tiny = 1e-12 * max(abs(m), 1.0)
            if abs(ut - m) < tiny:
                ut = m + (tiny if hi - m > m - lo else -tiny)
            ft = _log_inv_h(r, ut, E, MW, LH, TT, LK, cw, hd, tl)
            if ft < fm:
                if ut > m:
                    lo, fl = m, fm
                else:
                    hi, fh = m, fm
                m, fm = ut, ft
            else:
                if ut > m:
                    hi, fh = ut, ft
                else:
                    lo, fl = ut, ft
        out[r] = m
        end[r] = uend
    return out, end


@_inner
def _tensor_cheb(ue, we, coef, u, w, out, scr):
    """The kernel of :func:`tensor_cheb` (``coef[pu, pw, k, i]``: the coefficient of
    T_i(tau_u) T_k(tau_w), i the last axis). The sums over k for all i run together (the inner
    loop over i: independent accumulators ``acc[i]``, each summed in the order of k as one sum
    after the other, so the same values as the loop over i outside; the products along i
    contiguous, so the compiler vectorises them): 0.18 -> ... us a point."""
    n = u.shape[0]
    m = coef.shape[2]
    tu = scr[5]
    tw = scr[6][:m]
    acc = scr[6][m:]
    for q in range(n):
        pu, su = _locate(ue, u[q])
        pw, sw = _locate(we, w[q])
        tu[0] = 1.0
        tw[0] = 1.0
        tu[1] = su
        tw[1] = sw
        for k in range(2, m):
            tu[k] = 2.0 * su * tu[k - 1] - tu[k - 2]
            tw[k] = 2.0 * sw * tw[k - 1] - tw[k - 2]
        for i in range(m):
            acc[i] = 0.0
        for k in range(m):
            t = tw[k]
            for i in range(m):
                acc[i] += coef[pu, pw, k, i] * t
        tot = 0.0
        for i in range(m):
            tot += tu[i] * acc[i]
        out[q] = tot
    return out


@_inner
def _cheb1(e, coef, u):
    """A piecewise Chebyshev interpolant (``soap_exact.PiecewiseCheb`` with linear panels:
    edges ``e``, coefficients ``coef[panel, k]``) at u."""
    p, tau = _locate(e, u)
    return _clenshaw(coef[p], tau)[0]


@_inner
def _cheb1_inverse(e, coef, targets, lo, hi, out):
    """The kernel of :func:`cheb1_inverse`."""
    n = targets.shape[0]
    flo = _cheb1(e, coef, lo)
    fhi = _cheb1(e, coef, hi)
    for i in range(n):
        t = targets[i]
        if t <= flo:
            out[i] = -np.inf
            continue
        if t >= fhi:
            out[i] = np.inf
            continue
        a = lo
        b = hi
        for _ in range(64):
            mid = 0.5 * (a + b)
            if _cheb1(e, coef, mid) < t:
                a = mid
            else:
                b = mid
        out[i] = 0.5 * (a + b)
    return out


def _antiderivative_map() -> np.ndarray:
    r"""(NCHEB, NCHEB + 1): nodal values on the Chebyshev-Lobatto points -> the Chebyshev
    coefficients of :math:`\int_{-1}^{\tau} p` (``soap_exact.cumulative_weights`` as a series)."""
    from numpy.polynomial import chebyshev as C

    m = np.zeros((NCHEB, NCHEB + 1))
    for k in range(NCHEB):
        e = np.zeros(NCHEB)
        e[k] = 1.0
        m[k] = C.chebint(e, lbnd=-1.0)
    return _VINV.T @ m


_ANTI = _antiderivative_map()


def panel_series(mw) -> np.ndarray:
    """(1, rows, panels, 3, NCHEB + 2): for each panel of the nodal weights ``mw`` (3 x (rows,
    panels, NCHEB)), the Chebyshev coefficients in tau of its partial integral from its left
    end (NCHEB + 1), then its whole integral by the Clenshaw-Curtis weights (as
    ``CondBatch``); the partial integral to the right end is the second less the first
    (:func:`_series_moments`). One (row, panel)'s three moments are contiguous, and the array
    is half the size of the two series stored apart (a third less CPU for the cold evaluation's
    page faults and the roots' loads)."""
    w = np.asarray(mw, float)
    out = np.empty((1,) + w.shape[1:-1] + (3, NCHEB + 2))
    for j in range(3):  # (the products as the two series stored apart took them: the same values)
        np.matmul(w[j], _ANTI, out=out[0, :, :, j, :NCHEB + 1])
        out[0, :, :, j, NCHEB + 1] = w[j] @ _FULLW
    return out


def law_arrays(cb) -> dict:
    """The arrays of a :class:`~qtheory.engine.soap_conditional.CondBatch` the kernels read
    (contiguous): panel edges, the panels' partial integrals as Chebyshev series
    (:func:`panel_series`), cumulative ends, log-density coefficients."""
    return dict(
        XS=np.ascontiguousarray(np.log(cb._node_x), float),
        GS=np.ascontiguousarray(cb._node_lih, float),
        ipk=np.ascontiguousarray(cb._node_ipk, np.int64),
        ilast=np.ascontiguousarray(cb._node_ilast, np.int64),
        **panel_arrays(cb),
    )


def panel_arrays(cb) -> dict:
    """The panel arrays of a :class:`~qtheory.engine.soap_conditional.CondBatch` (built once
    per batch): edges ``E``, partial integrals ``MW`` (:func:`panel_series`), cumulative ends
    ``LH`` and ``TT``, the Chebyshev coefficients ``LK`` of log k_y on each panel."""
    a = cb.__dict__.get("_panel_arrays")
    if a is None:
        lk = np.log(np.maximum(cb.kn, 1e-300))  # (n, P, 17) at the panel nodes
        a = cb._panel_arrays = dict(
            E=np.ascontiguousarray(cb.edges, float),
            MW=panel_series(cb.mw),
            LH=np.ascontiguousarray(cb.L, float),
            TT=np.ascontiguousarray(cb.T, float),
            LK=np.ascontiguousarray(lk @ _VINV.T, float),
        )
    return a


@_hot
def _rank_phi(x, r, a, ha, ta, E, MW, LH, TT, LK, fullw, vinv, cw, hb, tb):
    """phi(b) = int_a^b S - (S(a) - S(b)) S(b)/k(b) at b = e^x (zero at the optimum b*),
    d phi / dx and the scale of phi."""
    b = math.exp(x)
    lk, dlk = _mk(r, b, E, MW, LH, TT, LK, fullw, vinv, cw, hb, tb, _I64(2))
    ih = tb[0] / math.exp(lk)
    m0 = _between(ha[0], ta[0], hb[0], tb[0])
    si = _s_int(a, b, ha, ta, hb, tb)
    return si - m0 * ih, m0 * (b + ih * dlk), abs(si)


@_inner
def _rank_phi_at(x, r, a, ha, ta, E, MW, LH, TT, LK, cw, hb, tb):
    """phi at b = e^x (:func:`_rank_phi`): the bracket ends' evaluations, through one call
    site (each site of the inlined :func:`_rank_phi` is compiled once more)."""
    return _rank_phi(x, r, a, ha, ta, E, MW, LH, TT, LK, _FULLW_C, _VINV_C, cw, hb, tb)[0]


@_inner
def _rank_newton(x, lo, hi, r, a, ha, ta, E, MW, LH, TT, LK, cw, hb, tb):
    """The root b* (log) of phi (:func:`_rank_phi`, falling through it) in [lo, hi] from x:
    safeguarded Newton steps to the rounding level of phi."""
    dxold = hi - lo
    dx = -dxold  # (not a Newton step)
    for _ in range(100):
        f, df, fs = _rank_phi(x, r, a, ha, ta, E, MW, LH, TT, LK, _FULLW_C, _VINV_C, cw, hb, tb)
        if abs(f) <= 1e-15 * fs:
            break
        x, lo, hi, dx, dxold, done = _step(x, f, df, lo, hi, dx, dxold, _B(False), _B(False), 1e-12,
                                                 _B(True))
        if done:
            break
    return x


@_inner
def _rank_rows(rows, ages, bhi, E, MW, LH, TT, LK, ap, xtop, out, scr):
    """The kernel of :func:`rank_rows`."""
    n = rows.shape[0]
    cw, ha, ta, hb, tb = _scratch(scr)
    fullw = _FULLW_C
    vinv = _VINV_C
    prev_r = -1
    prev_a = 0.0
    prev_b = np.nan
    prev_h = np.nan
    prev_out = np.nan
    prev2_ok = False
    prev2_x = 0.0
    prev2_a = 0.0
    for i in range(n):
        r = rows[i]
        a = ages[i]
        if r == prev_r and a == prev_a and bhi[i] == prev_h:
            out[i] = prev_out  # the same age again (the outer rule's panel ends)
            continue
        _moments(r, a, E, MW, LH, TT, fullw, vinv, cw, ha, ta, _I64(2))
        top = xtop[r]
        if bhi[i] < top:
            top = bhi[i]
        lo = math.log(max(ap[r], a))
        hi = math.log(top)
        warm = r == prev_r and a >= prev_a and lo < math.log(prev_b) < hi
        xb = math.log(prev_b) if warm else 0.0
        x = np.nan
        if warm and prev2_ok and prev_a > prev2_a:
            xp = xb + (xb - prev2_x) * (a - prev_a) / (prev_a - prev2_a)
            if lo < xp < xb:
                x = _rank_newton(xp, lo, xb, r, a, ha, ta, E, MW, LH, TT, LK, cw, hb, tb)
                tiny = 1e-12 * max(abs(x), 1.0)
                if x - lo <= tiny or xb - x <= tiny:
                    x = np.nan  # at an end of the bracket: the full search
        if not np.isfinite(x):
            flo = _rank_phi_at(lo, r, a, ha, ta, E, MW, LH, TT, LK, cw, hb, tb)
            fhi = _rank_phi_at(hi, r, a, ha, ta, E, MW, LH, TT, LK, cw, hb, tb)
            if not fhi < 0.0:
                # the optimum is b = infinity: the mean residual life
                Ia = ta[1] - a * ta[0]
                if Ia < 0.0:
                    Ia = 0.0
                out[i] = Ia / ta[0]
                prev_r = -1
                prev2_ok = False
                continue
            x = lo
            if flo > 0.0:
                x = 0.5 * (lo + hi)
                if warm:
                    fb = _rank_phi_at(xb, r, a, ha, ta, E, MW, LH, TT, LK, cw, hb, tb)
                    if fb < 0.0:
                        hi = xb
                        x = xb - 1e-3 * max(abs(xb), 1.0)
                        if x <= lo:
                            x = 0.5 * (lo + hi)
                    elif fb > 0.0:
                        lo = xb
                x = _rank_newton(x, lo, hi, r, a, ha, ta, E, MW, LH, TT, LK, cw, hb, tb)
        b = math.exp(x)
        prev2_ok = warm
        prev2_x = xb
        prev2_a = prev_a
        prev_r = r
        prev_a = a
        prev_b = b
        prev_h = bhi[i]
        lk, _ = _mk(r, b, E, MW, LH, TT, LK, fullw, vinv, cw, hb, tb, _I64(2))
        ih = tb[0] / math.exp(lk)
        if b - a > 1e-3 * a:
            out[i] = _s_int(a, b, ha, ta, hb, tb) / _between(ha[0], ta[0], hb[0], tb[0])
        else:
            out[i] = ih
        prev_out = out[i]
    return out


@_inner
def _inv_h_rows(rows, ages, E, MW, LH, TT, LK, out, scr):
    """The kernel of :func:`inv_h_rows`."""
    n = rows.shape[0]
    cw, hd, tl, _h2, _t2 = _scratch(scr)
    for i in range(n):
        lk, _ = _mk(rows[i], ages[i], E, MW, LH, TT, LK, _FULLW_C, _VINV_C, cw, hd, tl, _I64(1))
        out[i] = tl[0] / math.exp(lk)
    return out


# ---- one compiled entry point ---------------------------------------------------------------
# Each compiled kernel that a process calls is loaded from numba's cache on its first call (about
# 5-10 ms each, after numba's one-time set-up): the route calls the kernels above through one
# dispatcher, :func:`_kernel`, so that one library is loaded instead of eleven (0.021 s instead
# of 0.052 s for seven of them, measured in fresh processes). Its arguments have fixed types:
# the unused ones are empty arrays (``_D1`` ...), every array is passed contiguous.
_D1, _D2, _D3 = np.empty(0), np.empty((0, 0)), np.empty((0, 0, 0))
_D4, _D5, _I1 = np.empty((0, 0, 0, 0)), np.empty((0, 0, 0, 0, 0)), np.empty(0, np.int64)
(_OP_C_NEW, _OP_B_OLD, _OP_SQUARE, _OP_TAIL, _OP_MIN_MOMENTS, _OP_TRUNC_END, _OP_PEAK,
 _OP_TENSOR, _OP_CHEB1_INV, _OP_RANK, _OP_INV_H) = range(11)


@njit(cache=True, error_model="numpy")
def _kernel(op, rows, a, b, c, d, E, MW, LH, TT, LK, ap, xtop, m, top, xlo, fY, XS, GS, ipk,
            ilast, coef, lo, hi, o1, o2, scr):
    """The kernel ``op`` (``_OP_*``) on its arguments, its results written into ``o1`` (and
    ``o2`` where it has two), allocated by the caller, as the scratch arrays ``scr`` (no array
    is allocated in compiled code: :func:`_scratch`)."""
    if op == _OP_C_NEW:
        _c_new_rows(rows, a, E, MW, LH, TT, LK, ap, xtop, m, top, XS, GS, ipk, ilast, o1, scr)
    elif op == _OP_B_OLD:
        _b_old_rows(rows, a, b, E, MW, LH, TT, LK, ap, xlo, fY, o1, scr)
    elif op == _OP_SQUARE:
        _square_rows(rows, a, b, E, MW, LH, TT, o1, scr)
    elif op == _OP_TAIL:
        _tail_rows(rows, a, E, MW, LH, TT, o1, scr)
    elif op == _OP_MIN_MOMENTS:
        _min_moments_rows(rows, a, E, MW, LH, TT, o1, o2, scr)
    elif op == _OP_TRUNC_END:
        _trunc_end_rows(a, b, c, E, MW, LH, TT, LK, o1, scr)
    elif op == _OP_PEAK:
        _peak_rows(a, b, c, E, MW, LH, TT, LK, o1, o2, scr)
    elif op == _OP_TENSOR:
        _tensor_cheb(a, b, coef, c, d, o1, scr)
    elif op == _OP_CHEB1_INV:
        _cheb1_inverse(a, XS, b, lo, hi, o1)
    elif op == _OP_RANK:
        _rank_rows(rows, a, b, E, MW, LH, TT, LK, ap, xtop, o1, scr)
    else:
        _inv_h_rows(rows, a, E, MW, LH, TT, LK, o1, scr)
    return 0


def _f(x, ndim: int = 1) -> np.ndarray:
    """x as a contiguous float array (``ndim``: the kernel's)."""
    x = np.ascontiguousarray(x, dtype=float)
    if x.ndim != ndim:
        raise ValueError(f"expected a {ndim}-d array, got shape {x.shape}")
    return x


def _i(x) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.int64)


#: the numba versions whose cache loading :func:`_load_cached` was checked on (it uses the
#: dispatcher's internals: other versions load the ordinary way)
_LIGHT_LOAD_NUMBA = ((0, 68),)


def _runtime_symbols() -> None:
    """The symbols of numba's runtime's C helpers registered with LLVM: what
    ``rtsys.initialize`` does besides compiling the runtime's own LLVM functions (NRT_incref,
    NRT_decref ..., about 0.02 s CPU), which the cached library holds itself (linked in when
    it was compiled)."""
    from llvmlite import binding as ll
    from numba.core.runtime import _nrt_python as _nrt

    for py_name, address in _nrt.c_helpers.items():
        ll.add_symbol(py_name if py_name.startswith("_") else "NRT_" + py_name, address)


def _load_cached(disp, args) -> bool:
    """Load the cached compiled ``disp`` for the types of ``args`` without numba's set-up of
    its typing and lowering registries (``BaseContext.refresh``: it imports numba's
    implementations of the whole language and installs them, about 0.1-0.15 s CPU of a cold
    evaluation, 0.25 s on a loaded machine), which compiling needs and a cached library does
    not; nor is numba's runtime library compiled (``rtsys.initialize``: the LLVM functions
    NRT_incref, NRT_decref ..., 0.018-0.024 s CPU, which the cached library holds itself, linked
    in when it was compiled): only the symbols of the runtime's C helpers are registered
    (:func:`_runtime_symbols`). Where the load asks for the runtime's library after all (numba
    raises RuntimeError: not initialised) it is loaded again with the runtime set up. The rest
    is what ``Dispatcher.compile`` does with a cached result. False (nothing done) where the
    cache has no entry (the ordinary call then compiles, with the registries) or numba is not
    a checked version."""
    import numba

    if tuple(int(v) for v in numba.__version__.split(".")[:2]) not in _LIGHT_LOAD_NUMBA:
        return False
    if disp.overloads:
        return True
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.runtime import rtsys

    ctx = disp.targetctx
    sig = tuple(disp.typeof_pyval(v) for v in args)
    with global_compiler_lock:
        ctx.refresh = _runtime_symbols
        try:
            try:
                cres = disp._cache.load_overload(sig, ctx)
            except RuntimeError:  # (the runtime's compiled library asked for after all)
                ctx.refresh = lambda: rtsys.initialize(ctx)
                cres = disp._cache.load_overload(sig, ctx)
        finally:
            del ctx.refresh  # (the class's method again)
        if cres is None or cres.objectmode:
            return False
        disp._cache_hits[sig] += 1
        ctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
        disp.add_overload(cres)
    return True


def _scratch_arrays(m: int) -> tuple:
    """The scratch arrays of :func:`_kernel` (:func:`_scratch`; ``m``: the tensor interpolant's
    order, 0 for the other kernels)."""
    return (np.empty(NCHEB + 1), np.empty(3), np.empty(3), np.empty(3), np.empty(3), np.empty(m),
            np.empty(2 * m))


#: the argument (of :func:`_kernel`) whose length is the outputs' (the rows otherwise)
_OUT_ARG = {_OP_TRUNC_END: 2, _OP_PEAK: 2, _OP_TENSOR: 4, _OP_CHEB1_INV: 3}


def _call(op, rows=_I1, a=_D1, b=_D1, c=_D1, d=_D1, E=_D2, MW=_D5, LH=_D3, TT=_D3, LK=_D3,
          ap=_D1, xtop=_D1, m=_D1, top=_D1, xlo=_D1, fY=_D1, XS=_D2, GS=_D2, ipk=_I1, ilast=_I1,
          coef=_D4, lo=0.0, hi=0.0):
    args = (op, _i(rows), _f(a), _f(b), _f(c), _f(d), _f(E, 2), _f(MW, 5), _f(LH, 3), _f(TT, 3),
            _f(LK, 3), _f(ap), _f(xtop), _f(m), _f(top), _f(xlo), _f(fY), _f(XS, 2), _f(GS, 2),
            _i(ipk), _i(ilast), _f(coef, 4), float(lo), float(hi))
    n = args[_OUT_ARG.get(op, 1)].shape[0]
    o1, o2 = np.empty(n), np.empty(n if op in (_OP_MIN_MOMENTS, _OP_PEAK) else 0)
    args += (o1, o2, _scratch_arrays(args[21].shape[2]))
    if not getattr(_kernel, "overloads", True):  # (a plain function under NUMBA_DISABLE_JIT)
        _load_cached(_kernel, args)
    _kernel(*args)
    return o1, o2


def c_new_rows(rows, levels, E, MW, LH, TT, LK, ap, xtop, m, top, XS, GS, ipk, ilast):
    """C_y(l) for each (row, level) pair: a_p at or below the minimal rank m, inf at or above
    the top rank (``CondBatch.c_new``)."""
    return _call(_OP_C_NEW, rows, levels, E=E, MW=MW, LH=LH, TT=TT, LK=LK, ap=ap, xtop=xtop, m=m,
                 top=top, XS=XS, GS=GS, ipk=ipk, ilast=ilast)[0]


def b_old_rows(rows, levels, Cs, E, MW, LH, TT, LK, ap, xlo, fY):
    """B_y(l) with the rising end C (``CondBatch.b_old``): the root of
    F(b) = int_b^C S - l (S(b) - S(C)) on [x_lo, a_p]; below x_lo, F is linear; NaN where
    F(a_p) >= 0 (no old interval).

    Consecutive pairs of one row at rising levels (the tables' rows): B falls with the level
    (the set of ages of rank <= l grows), so the previous root bounds this one and an old
    interval at the previous level is one at this level. With two previous roots of the row,
    the first point is their linear extrapolation in the level and the bracket [x_lo, previous
    root] is taken without evaluating F at its ends (a root at x_lo itself: the full search
    below); otherwise F at x_lo and a_p decide whether there is a root inside, and the search
    starts just below the previous root."""
    return _call(_OP_B_OLD, rows, levels, Cs, E=E, MW=MW, LH=LH, TT=TT, LK=LK, ap=ap, xlo=xlo,
                 fY=fY)[0]


def square_rows(rows, Bs, Cs, E, MW, LH, TT):
    """E[((min(X, C) - B)^+)^2] for each (row, B, C) (``CondBatch.old_square``)."""
    return _call(_OP_SQUARE, rows, Bs, Cs, E=E, MW=MW, LH=LH, TT=TT)[0]


def tail_rows(rows, ages, E, MW, LH, TT):
    """S(t) = E[1; X > t] (times f_Y) for each (row, age)."""
    return _call(_OP_TAIL, rows, ages, E=E, MW=MW, LH=LH, TT=TT)[0]


def min_moments_rows(rows, Cs, E, MW, LH, TT):
    """E[min(X, C)] and E[min(X, C)^2] for each (row, C) (C may be inf)."""
    return _call(_OP_MIN_MOMENTS, rows, Cs, E=E, MW=MW, LH=LH, TT=TT)


def trunc_end_rows(ulo, uhi, target, E, MW, LH, TT, LK):
    """log x_top for each row: the root of log S(e^u) = target (S falls) in [ulo, uhi]
    (``CondBatch._peak``), by safeguarded Newton steps (d log S / du = -x k / S)."""
    return _call(_OP_TRUNC_END, a=ulo, b=uhi, c=target, E=E, MW=MW, LH=LH, TT=TT, LK=LK)[0]


def peak_rows(ulo, um, uhi, E, MW, LH, TT, LK):
    """For each row the minimum of log(S/k) inside the bracket [ulo, uhi] around the best node
    um (``CondBatch._peak``), by successive parabolic interpolation with golden-section steps
    where the parabola leaves the bracket or stalls, and the end uhi (the caller takes the
    lower of the two with the law's own density: the minimum may be the end, the hazard
    rising all along)."""
    return _call(_OP_PEAK, a=ulo, b=um, c=uhi, E=E, MW=MW, LH=LH, TT=TT, LK=LK)


def tensor_cheb(ue, we, coef, u, w):
    """A tensor piecewise Chebyshev interpolant (``_conditional_tables.Cheb2``: panels ``ue``
    x ``we``, coefficients ``coef[pu, pw, k, i]`` of T_i(tau_u) T_k(tau_w): ``Cheb2.coef_t``) at the points
    (u, w), clipped to the panels' range."""
    return _call(_OP_TENSOR, a=ue, b=we, c=u, d=w, coef=coef)[0]


def cheb1_inverse(e, coef, targets, lo, hi):
    """Where the increasing piecewise Chebyshev interpolant (:func:`_cheb1`) reaches each
    target, by 64 bisection steps in [lo, hi] (-inf below the range, +inf above it)."""
    return _call(_OP_CHEB1_INV, a=e, b=targets, XS=coef, lo=lo, hi=hi)[0]


def rank_rows(rows, ages, bhi, E, MW, LH, TT, LK, ap, xtop):
    """The Gittins rank r(y, a) at ages a <= a_p (``CondBatch.rank_falling``): the ratio
    int_a^b* S / (S(a) - S(b*)) at the root b* of phi in [max(a_p, a), min(x_top, bhi)], the
    mean residual life where phi stays positive, 1/h(a) at the peak.

    Consecutive ages of one row, rising: b* falls with the age, so the previous optimum bounds
    this one. With two previous optima of the row the first point is their linear
    extrapolation in the age and the bracket [max(a_p, a), previous optimum] is taken without
    evaluating phi at its ends (a root at either end: the full search below); otherwise phi at
    the bracket's ends decides between the mean residual life (no root), the peak and a root
    inside, and the search starts just below the previous optimum."""
    return _call(_OP_RANK, rows, ages, bhi, E=E, MW=MW, LH=LH, TT=TT, LK=LK, ap=ap, xtop=xtop)[0]


def inv_h_rows(rows, ages, E, MW, LH, TT, LK):
    """1/hazard S(t)/k(t) of X | y at each (row, age) (inside the law's range)."""
    return _call(_OP_INV_H, rows, ages, E=E, MW=MW, LH=LH, TT=TT, LK=LK)[0]


class Compiled:
    """The kernels bound to one :class:`~qtheory.engine.soap_conditional.CondBatch`, with the
    batch methods' shapes: one row per prediction (``rank_falling``, ``c_new``, ``b_old``)."""

    def __init__(self, cb):
        self.cb = cb
        self.A = law_arrays(cb)

    def _args(self):
        A = self.A
        return A["E"], A["MW"], A["LH"], A["TT"], A["LK"]

    @staticmethod
    def _rows(shape):
        return np.repeat(np.arange(shape[0]), int(np.prod(shape[1:], dtype=int)))

    def rank_falling(self, a, b_hi=None):
        a = np.asarray(a, float)
        rows = self._rows(a.shape)
        bh = np.full(a.shape, np.inf) if b_hi is None else np.broadcast_to(
            np.asarray(b_hi, float).reshape((-1,) + (1,) * (a.ndim - 1)), a.shape)
        cb = self.cb
        return rank_rows(rows, np.ascontiguousarray(a.ravel()), np.ascontiguousarray(bh.ravel()),
                         *self._args(), cb.ap, cb.xtop).reshape(a.shape)

    def c_new(self, l):
        l = np.asarray(l, float)
        rows = self._rows(l.shape)
        cb, A = self.cb, self.A
        return c_new_rows(rows, np.ascontiguousarray(l.ravel()), *self._args(), cb.ap, cb.xtop,
                          cb.m, cb.top_rank, A["XS"], A["GS"], A["ipk"], A["ilast"]).reshape(l.shape)

    def inv_h(self, t):
        t = np.asarray(t, float)
        rows = self._rows(t.shape)
        return inv_h_rows(rows, np.ascontiguousarray(t.ravel()), *self._args()).reshape(t.shape)

    def b_old(self, l, C):
        l, C = np.broadcast_arrays(np.asarray(l, float), np.asarray(C, float))
        rows = self._rows(l.shape)
        cb = self.cb
        return b_old_rows(rows, np.ascontiguousarray(l.ravel()), np.ascontiguousarray(C.ravel()),
                          *self._args(), cb.ap, cb.xlo, cb.fY).reshape(l.shape)
