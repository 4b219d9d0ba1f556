r"""Regularised incomplete gamma functions of integer order, compiled (numba).

The partial and tail moments of the exponential, Erlang and hyperexponential laws are
:math:`P(n, z)` and :math:`Q(n, z) = 1 - P(n, z)` with a small integer :math:`n` (the shape plus
the moment's order). For integer :math:`n` both are finite sums:

.. math::
    Q(n, z) = e^{-z} \sum_{j=0}^{n-1} \frac{z^j}{j!}, \qquad
    P(n, z) = e^{-z} \sum_{j=n}^{\infty} \frac{z^j}{j!}
            = e^{-z} \frac{z^n}{n!} \sum_{m \ge 0} \frac{z^m}{(n+1)\cdots(n+m)}.

Each is taken where it has no cancellation: for :math:`z < n` the series for :math:`P` (all
terms positive, ratio :math:`z/(n+m) < 1`) and :math:`Q = 1 - P` (:math:`P(n, z) < 0.7`
there); for :math:`z \ge n` the finite sum for :math:`Q` and :math:`P = 1 - Q`
(:math:`Q(n, z) \le Q(n, n) < 0.6`). Relative accuracy a few units of the last place, as
``scipy.special.gammainc`` or better (1.1e-15 against 30-digit mpmath, where scipy is 1e-13
off; ``tests/test_sizes.py``), all orders in one pass: :meth:`qtheory.SizeLaw.moments_upto`
of those laws, which the SOAP level functions of SRPT-Bounce call on millions of interval
ends, and :class:`~qtheory.laws.sizes.HyperExponential`'s branches one order at a time
(:func:`reg_gamma_int`). The single-order ``partial_moment`` / ``tail_moment`` of
:class:`~qtheory.laws.sizes.Exponential` and :class:`~qtheory.laws.sizes.Erlang` keep scipy
(once chosen because the discretised Gittins route on a mixed law moved by up to 1.4% under
1e-13 changes of the tails; Gittins on those laws is now computed on the law itself).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: orders up to this use the compiled sums; larger ones go to scipy
MAX_ORDER = 40
#: points taken together by :func:`_reg_gamma`
BLOCK = 128
#: below this :math:`e^{-z}` is a normal double (above about 667.7 it is not)
FAST_Z = 667.0


@njit(cache=True)
def _fill(n0, count, zi, i, t, ptop, upper, out):  # pragma: no cover - compiled
    r"""Column ``i`` of ``out`` from the terms ``t[j]`` :math:`= e^{-z} z^j / j!` and
    :math:`P(\text{top}, z)` (``ptop``): :math:`Q(a) = \sum_{j < a} t_j` upwards where
    :math:`z \ge a`, :math:`P(a) = P(a + 1) + t_a` downwards where :math:`z < a`."""
    q = 0.0
    for a in range(1, n0):
        q += t[a - 1]
    for c in range(count):
        a = n0 + c
        q += t[a - 1]
        if zi >= a:
            out[c, i] = q if upper else 1.0 - q
    p = ptop
    for c in range(count - 1, -1, -1):
        a = n0 + c
        if c < count - 1:
            p += t[a]
        if zi < a:
            out[c, i] = 1.0 - p if upper else p


@njit(cache=True)
def _reg_gamma_scalar(n0, count, z, upper, out):  # pragma: no cover - compiled
    """Orders ``n0 .. n0 + count - 1`` at every ``z`` into ``out`` (count, z.size)."""
    top = n0 + count - 1
    t = np.empty(top + 1)  # t[j] = e^{-z} z^j / j!
    for i in range(z.size):
        zi = z[i]
        if not (zi > 0.0):  # 0, and NaN passes through
            for c in range(count):
                out[c, i] = zi if zi != zi else (1.0 if upper else 0.0)
            continue
        if zi == math.inf:
            for c in range(count):
                out[c, i] = 0.0 if upper else 1.0
            continue
        e = math.exp(-zi)
        if e > 1e-290:
            t[0] = e
            for j in range(1, top + 1):
                t[j] = t[j - 1] * zi / j
        elif zi < 1400.0:  # e^{-z} is subnormal: two factors e^{-z/2}, both normal
            h = math.exp(-0.5 * zi)
            u = h
            t[0] = u * h
            for j in range(1, top + 1):
                u = u * zi / j
                t[j] = u * h
        else:  # every term below the smallest double
            for j in range(top + 1):
                t[j] = 0.0
        # P(top, z) by its series where z < top (positive terms, ratio z / (top + m) < 1)
        ptop = 0.0
        if zi < top:
            term = t[top]
            ptop = term
            m = 1
            while term > 1e-17 * ptop:
                term *= zi / (top + m)
                ptop += term
                m += 1
        _fill(n0, count, zi, i, t, ptop, upper, out)


@njit(cache=True)
def _group(n0, count, zb, ib, nb, upper, out, tb, term, pb, t):  # pragma: no cover - compiled
    """The ``nb`` points ``zb`` (all with :math:`0 < z <` :data:`FAST_Z`) side by side:
    :math:`t_j` and the series of :math:`P(\text{top}, z)` as :func:`_reg_gamma_scalar`
    computes them, the series run until every point's last term is at most
    :math:`10^{-17}` of its sum."""
    top = n0 + count - 1
    for b in range(nb):
        tb[0, b] = math.exp(-zb[b])
    for j in range(1, top + 1):
        for b in range(nb):
            tb[j, b] = tb[j - 1, b] * zb[b] / j
    more = False
    for b in range(nb):
        term[b] = tb[top, b] if zb[b] < top else 0.0
        pb[b] = term[b]
        more = more or term[b] > 0.0
    m = 1
    while more:
        for b in range(nb):
            term[b] *= zb[b] / (top + m)
            pb[b] += term[b]
        m += 1
        more = False
        for b in range(nb):
            if term[b] > 1e-17 * pb[b]:
                more = True
    for b in range(nb):
        for j in range(top + 1):
            t[j] = tb[j, b]
        _fill(n0, count, zb[b], ib[b], t, pb[b], upper, out)


@njit(cache=True)
def _reg_gamma(n0, count, z, upper, out):  # pragma: no cover - compiled
    """Orders ``n0 .. n0 + count - 1`` at every ``z`` into ``out`` (count, z.size).

    Points with :math:`0 < z <` :data:`FAST_Z` go in blocks of :data:`BLOCK`, grouped by the
    size of :math:`z / \text{top}` (below 1/16, 1/2, 1, above: a group's series runs as long
    as its slowest point's) and computed side by side (:func:`_group`; one point's series
    stops at a data-dependent term, a branch the processor mispredicts); the rest one by one
    (:func:`_reg_gamma_scalar`). Each point's value is the one point-by-point code gives
    (a point may take a few more series terms, each below :math:`10^{-17}` of the sum)."""
    top = n0 + count - 1
    t = np.empty(top + 1)
    tb = np.empty((top + 1, BLOCK))
    term = np.empty(BLOCK)
    pb = np.empty(BLOCK)
    zg = np.empty((4, BLOCK))
    ig = np.empty((4, BLOCK), np.int64)
    ng = np.zeros(4, np.int64)
    lim1 = top / 16.0
    lim2 = top / 2.0
    one = np.empty(1)
    for i0 in range(0, z.size, BLOCK):
        ng[:] = 0
        for i in range(i0, min(i0 + BLOCK, z.size)):
            zi = z[i]
            if zi > 0.0 and zi < FAST_Z:
                g = 0 if zi < lim1 else (1 if zi < lim2 else (2 if zi < top else 3))
                zg[g, ng[g]] = zi
                ig[g, ng[g]] = i
                ng[g] += 1
            elif zi >= 1400.0:  # every term below the smallest double (inf too)
                for c in range(count):
                    out[c, i] = 0.0 if upper else 1.0
            else:  # 0, NaN, and e^{-z} subnormal
                one[0] = zi
                _reg_gamma_scalar(n0, count, one, upper, out[:, i:i + 1])
        for g in range(4):
            if ng[g] > 0:
                _group(n0, count, zg[g], ig[g], ng[g], upper, out, tb, term, pb, t)


def reg_gamma_orders(n0: int, count: int, z, upper: bool) -> np.ndarray:
    r""":math:`Q(n, z)` (``upper``) or :math:`P(n, z)` for the integer orders
    :math:`n = n_0, \dots, n_0 + \text{count} - 1` at the array ``z``: shape
    ``(count, *z.shape)`` (the formulas are in the module docstring; one pass computes every
    order)."""
    z = np.asarray(z, float)
    flat = np.ascontiguousarray(z.ravel())
    out = np.empty((int(count), flat.size))
    _reg_gamma(int(n0), int(count), flat, bool(upper), out)
    return out.reshape((int(count), *z.shape))


def reg_gamma_int(n: int, z, upper: bool) -> np.ndarray:
    r""":math:`Q(n, z)` (``upper``) or :math:`P(n, z)` for one positive integer order ``n``."""
    return reg_gamma_orders(n, 1, z, upper)[0]
