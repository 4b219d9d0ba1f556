r"""Rank tables of the generic evaluator for discrete laws, built for all classes at once.

A rank table of class :math:`j` is a grid of ages :math:`g` (0, the class's atoms and the
policy's breakpoints), the rank ``P`` at the grid points and, on each open segment between two
grid points, a linear rank from ``S`` to ``E`` (``inf`` beyond the last atom). These are the
inputs of :mod:`qtheory.engine.soap_sweep`.

* :func:`linear_tables`: a rank that is linear in age between grid points (the built-in ranks
  other than Gittins), evaluated with one vectorised call of ``policy.rank`` for every class,
  with the same arithmetic as :func:`qtheory.engine.generic._rank_table` (the line through the
  values at a third and two thirds of each segment, snapped to the grid values where continuous).
* :func:`gittins_tables`: the Gittins rank of each class's discrete law, exactly. Between two
  consecutive atoms :math:`x_m < x_{m+1}` (with :math:`x_0 = 0`) the tail
  :math:`\bar F(a) = T_m` is constant, so each stopping candidate :math:`x_k > a` gives a ratio
  linear in :math:`a`,

  .. math::
      \frac{V(a) - V(x_k)}{\bar F(a) - \bar F(x_k)}
      = \frac{D_k - T_m (a - x_m)}{T_m - T_k},\qquad
      D_k = \int_{x_m}^{x_k} \bar F(t)\,dt,

  and the rank is their lower envelope: concave, piecewise linear, falling to 0 at
  :math:`x_{m+1}` (the candidate :math:`k = m + 1`), and jumping up at the atom (Gittins 1989;
  ``docs/gittins.md``). The envelope's corners are located exactly (the crossing of two lines),
  so the table is the rank itself, not chords through it. :math:`D_k` and :math:`T_m - T_k` are
  sums of positive terms (no cancellation).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..policies import Policy
from ..policies.srpt_bounce import SRPTBounce
from ..policies.trail import TRAIL

#: ``age_breakpoints`` methods that map an array of descriptors to one breakpoint each,
#: elementwise (SRPT-Bounce's :math:`d`, TRAIL's :math:`c d`): one call serves every class
_ELEMENTWISE_BREAKPOINTS = (SRPTBounce.age_breakpoints, TRAIL.age_breakpoints)


@njit(cache=True)
def _gittins_class(x, p, gout, Pout, Sout, Eout, n0):
    """Write the exact Gittins table of one class (atoms ``x`` ascending, probabilities ``p``)
    from index ``n0``; return the next free index."""
    K = x.size
    tot = p.sum()
    pn = p / tot
    # T[i] = P(X > x_i) from the right; T_start = 1 for the interval [0, x_0)
    T = np.zeros(K)
    acc = 0.0
    for i in range(K - 1, -1, -1):
        T[i] = acc
        acc += pn[i]
    n = n0
    alpha = np.empty(K)
    beta = np.empty(K)
    for m in range(-1, K - 1):
        lo = 0.0 if m < 0 else x[m]
        hi = x[m + 1]
        Tm = 1.0 if m < 0 else T[m]
        # candidate lines k = m+1..K-1: value at lo alpha, slope beta
        D = 0.0
        Pk = 0.0
        prev_x = lo
        prev_T = Tm
        for k in range(m + 1, K):
            D += prev_T * (x[k] - prev_x)
            Pk += pn[k]
            alpha[k] = D / Pk
            beta[k] = -Tm / Pk
            prev_x = x[k]
            prev_T = T[k]
        # start: the least value at lo (ties: the steepest line)
        c = m + 1
        for k in range(m + 2, K):
            if alpha[k] < alpha[c] or (alpha[k] == alpha[c] and beta[k] < beta[c]):
                c = k
        a_cur = lo
        v_cur = alpha[c]
        gout[n] = lo
        Pout[n] = v_cur
        while True:
            # the next line to go below: steeper, crossing first after a_cur
            best_a = hi
            best = -1
            for k in range(m + 1, K):
                if beta[k] < beta[c]:
                    t = (alpha[k] - alpha[c]) / (beta[c] - beta[k])
                    ak = lo + t
                    if ak > a_cur and (ak < best_a or (ak == best_a and best >= 0
                                                         and beta[k] < beta[best])):
                        best_a = ak
                        best = k
            if best < 0 or best_a >= hi:
                # the current line runs to hi (it is the nearest atom's: 0 there)
                Sout[n] = v_cur
                Eout[n] = 0.0 if c == m + 1 else alpha[c] + beta[c] * (hi - lo)
                n += 1
                break
            v_new = alpha[best] + beta[best] * (best_a - lo)
            Sout[n] = v_cur
            Eout[n] = v_new
            n += 1
            gout[n] = best_a
            Pout[n] = v_new
            a_cur, v_cur, c = best_a, v_new, best
    # the last atom: the job is done (rank inf beyond)
    gout[n] = x[K - 1]
    Pout[n] = np.inf
    Sout[n] = np.inf
    Eout[n] = np.inf
    return n + 1


@njit(cache=True)
def _gittins_all(xs, ps, xo, cap):
    J = xo.size - 1
    g = np.empty(cap)
    P = np.empty(cap)
    S = np.empty(cap)
    E = np.empty(cap)
    go = np.zeros(J + 1, np.int64)
    n = np.int64(0)  # (a bare 0 compiled _gittins_class twice: Literal[int](0) and int64)
    for j in range(J):
        n = _gittins_class(xs[xo[j]:xo[j + 1]], ps[xo[j]:xo[j + 1]], g, P, S, E, n)
        go[j + 1] = n
    return g[:n], P[:n], S[:n], E[:n], go


def gittins_tables(xs: np.ndarray, ps: np.ndarray, xo: np.ndarray):
    """Exact Gittins tables (g, P, S, E, go) of every class (atoms ``xs[xo[j]:xo[j+1]]``).

    The envelope of an interval has at most as many corners as there are candidates, so the
    grid holds at most :math:`1 + \\sum_m (K - m)` points per class of ``K`` atoms."""
    xo = np.asarray(xo, np.int64)
    sizes = np.diff(xo)
    cap = int(np.sum(sizes * (sizes + 1) // 2 + 2 * sizes + 2))
    return _gittins_all(np.asarray(xs, float), np.asarray(ps, float), xo, cap)


def linear_tables(policy, d: np.ndarray, xs: np.ndarray, xo: np.ndarray):
    """Tables (g, P, S, E, go) of a rank that is linear in age between grid points, for every
    class at once (one call of ``policy.rank``)."""
    J = d.size
    tops = xs[xo[1:] - 1]
    ages, cls = [np.zeros(J), xs], [np.arange(J), np.repeat(np.arange(J), np.diff(xo))]
    method = type(policy).age_breakpoints
    if method in _ELEMENTWISE_BREAKPOINTS:  # one call for every class (the same values)
        bp = np.asarray(policy.age_breakpoints(np.asarray(d, float)), float).ravel()
        inside = (bp > 0) & (bp < tops)
        ages.append(bp[inside])
        cls.append(np.arange(J)[inside])
    elif method is not Policy.age_breakpoints:  # (the base class has none)
        for j in range(J):
            bp = np.asarray(policy.age_breakpoints(float(d[j])), float).ravel()
            if bp.size:
                bp = bp[(bp > 0) & (bp < tops[j])]
                if bp.size:
                    ages.append(bp)
                    cls.append(np.full(bp.size, j))
    a = np.concatenate(ages)
    c = np.concatenate(cls)
    order = np.lexsort((a, c))
    a, c = a[order], c[order]
    keep = np.ones(a.size, bool)
    keep[1:] = (a[1:] != a[:-1]) | (c[1:] != c[:-1])
    g, c = a[keep], c[keep]
    go = np.concatenate([[0], np.cumsum(np.bincount(c, minlength=J))]).astype(np.int64)
    dd = d[c]

    def rank(dv, av):
        r = np.asarray(policy.rank(dv, av), float)
        if np.isnan(r).any():
            i = int(np.flatnonzero(np.isnan(r))[0])
            raise ValueError(f"the rank function of policy {policy.name} ({policy!r}) returned "
                             f"NaN at descriptor d={float(dv[i])!r}, age a={float(av[i])!r}; a rank "
                             "must be a number (or +-inf)")
        return r

    P = rank(dd, g)
    last = np.zeros(g.size, bool)
    last[go[1:] - 1] = True
    nxt = np.concatenate([g[1:], [np.inf]])
    seg = ~last
    h = nxt[seg] - g[seg]
    t1 = g[seg] + h / 3
    t2 = g[seg] + 2 * h / 3
    v1, v2 = rank(dd[seg], t1), rank(dd[seg], t2)
    Pn = np.concatenate([P[1:], [np.inf]])[seg]
    with np.errstate(invalid="ignore"):
        dv = v2 - v1
        s = np.where(np.isfinite(dv), v1 - dv, v1)
        e = np.where(np.isfinite(dv), v2 + dv, v2)
        fin = np.isfinite(s) & np.isfinite(e) & np.isfinite(P[seg]) & np.isfinite(Pn)
        tol = 1e-12 * np.maximum(1.0, np.maximum(np.abs(s), np.abs(e)))
        s = np.where(fin & (np.abs(s - P[seg]) <= tol), P[seg], s)
        e = np.where(fin & (np.abs(e - Pn) <= tol), Pn, e)
    S = np.full(g.size, np.inf)
    E = np.full(g.size, np.inf)
    S[seg], E[seg] = s, e
    return g, P, S, E, go
