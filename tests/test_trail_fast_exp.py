"""TRAIL's first term on exponential predictions (``_exp_first_rows``) with :math:`e^{-z}` from the
vectorised ``exp_into`` against a plain loop of the C library's ``math.exp`` written here (the same
terms :math:`w\\,e^{-z}/x`, :math:`z = 1 + (v - p)/x`, 0 where :math:`z < 0`, the same order and the
same cut at :math:`z > 50`): each row within 2.5 units of :math:`2^{-52}\\sum|{\\rm terms}|`
(``exp_into`` is within 1.2 units of the library's value, each term's two roundings and the
running sums' may then round the other way; measured 1.47 units at most over the 281 rows with a
term, 143 of them with v < p; main's own kernel 0)."""

from __future__ import annotations

import math

import numpy as np

from qtheory.engine import response_distribution_trail as rt


def _reference(Xp, Wp, xb, wb, k0, k1, p, v, o):
    out, mag = np.empty(p.size), np.empty(p.size)
    for i in range(p.size):
        d = float(v[i] - p[i])
        xs = d / (rt._Z_SKIP - 1.0)
        nodes = [(Wp[i, l], Xp[i, l]) for l in range(o)]
        nodes += [(wb[k], xb[k]) for k in range(k0[i], k1[i]) if not (d > 0 and xb[k] < xs)]
        nodes += [(Wp[i, l], Xp[i, l]) for l in range(o, 2 * o)]
        acc = s = 0.0
        for w, x in nodes:
            z = 1.0 + d / x
            t = w * ((math.exp(-z) if z >= 0 else 0.0) * (1.0 / x))
            acc += t
            s += abs(t)
        out[i], mag[i] = acc, s
    return out, mag


def test_exp_first_rows_against_math_exp():
    rng = np.random.default_rng(7)
    o, n = 8, 300
    xb = np.sort(np.exp(rng.uniform(-12, 4, 2000)))
    wb = rng.uniform(0.1, 1.0, xb.size) * xb
    p = np.exp(rng.uniform(-10, 2, n))
    # v - p of both signs (z < 0 at the small nodes where v < p) and up to 40 x the largest node
    v = p + rng.choice([-1, 1], n) * np.exp(rng.uniform(-12, 5, n))
    Xp = np.exp(rng.uniform(-12, 4, (n, 2 * o)))
    Wp = rng.uniform(0.1, 1.0, (n, 2 * o)) * Xp
    k0 = rng.integers(0, 1000, n).astype(np.int64)
    k1 = np.where(rng.uniform(size=n) < 0.2, k0, k0 + rng.integers(0, 1000, n)).astype(np.int64)
    got = rt._exp_first_rows(Xp, Wp, xb, wb, k0, k1, p, v, o)
    ref, mag = _reference(Xp, Wp, xb, wb, k0, k1, p, v, o)
    assert np.sum(mag > 0) > 250 and np.sum((v < p) & (mag > 0)) > 50
    excess = np.abs(got - ref) - 2.5 * 2.0 ** -52 * mag
    assert np.max(excess) <= 0.0, (np.max(excess), int(np.argmax(excess)))
