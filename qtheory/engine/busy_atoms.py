r"""The atoms of a job's residence on a discrete size law: given no old work (:math:`V = 0`), the
residence of a job of size :math:`x` under a preemptive SOAP policy is :math:`x` plus busy periods
of the new jobs that run first, started by the pieces :math:`\ell_k` of its service during which
the set of such jobs is fixed. With discrete sizes each busy period is purely atomic, and by
Takács' hitting-time formula (Takács, *Combinatorial Methods in the Theory of Stochastic
Processes*, 1967, ch. 4; Kendall's identity) the busy period :math:`B_\ell` started by work
:math:`\ell` with compound-Poisson arrivals :math:`A(t)` (rates :math:`\lambda w_j` of sizes
:math:`d_j`) has

.. math::
    P(B_\ell = \ell + v) = \frac{\ell}{\ell + v}\,P\big(A(\ell + v) = v\big),\qquad
    P(A(b) = v) = e^{-\lambda W b}\sum_{n:\ n\cdot d = v}\prod_j \frac{(\lambda w_j b)^{n_j}}{n_j!}.

The atoms of the class law are :math:`P(V = 0)` times the law of
:math:`x + \sum_k (B_{\ell_k} - \ell_k)` (independent pieces: a convolution).

Derivation: ``docs/response_time_distribution.md`` (section 10).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

#: atoms below this mass are not kept (their share of the law stays in the inversion, whose own
#: accuracy is about 1e-10)
MASS_MIN = 1e-12
#: at most this many count vectors per level of the enumeration (the largest masses), and in all
#: for one busy period (many distinct sizes: the leftover, many small atoms, stays in the
#: inversion), and atoms per law
MAX_VECTORS = 500
MAX_TOTAL = 20000
MAX_ATOMS = 256
#: a law whose classes' busy periods have more (piece, size) pairs than this in all keeps, per
#: class, only the atom at x (no new job runs first): enumerating many distinct sizes costs
#: seconds and spreads the mass over many tiny atoms, which stay in the inversion as before
BUDGET = 120


def _key(v: float) -> float:
    return float(f"{v:.12g}")


def extension_law(lam: float, ell: float, d, w, kill: float = 0.0) -> dict[float, float]:
    r"""The law of :math:`B_\ell - \ell` (a dict value -> mass), :math:`B_\ell` the busy period
    started by work ``ell`` with Poisson(``lam`` ``w_j``) arrivals of size ``d_j`` (Takács'
    formula above), enumerated by the number of jobs served until a level's mass is below
    :data:`MASS_MIN` and falling.

    ``kill``: the rate of further arrivals whose work has a density (a continuous size law's
    jobs below a new-job cut-off :math:`c`, when those of size :math:`\ge c` add exactly
    :math:`c`): an atom needs none of them, a factor :math:`e^{-\text{kill}\,(\ell + v)}`; the
    masses are then the atomic part of the law only."""
    d = np.asarray(d, float)
    w = np.asarray(w, float)
    keep = (w > 0) & (d > 0)
    d, r = d[keep], lam * w[keep]
    if ell <= 0:
        return {0.0: 1.0}
    R = float(r.sum()) + float(kill)
    law = {0.0: math.exp(-R * ell)}
    if not d.size:
        return law
    K = d.size
    lr = np.log(r)
    level = {tuple([0] * K): 0}  # count vector -> last type added (multisets in order)
    prev = law[0.0]
    done = 0
    while done < MAX_TOTAL:
        nxt = {}
        for n, last in level.items():
            for j in range(last, K):
                m = list(n)
                m[j] += 1
                nxt[tuple(m)] = j
        if not nxt:
            break
        done += len(nxt)
        vecs = np.array(list(nxt), float)
        v = vecs @ d
        b = ell + v
        logm = math.log(ell) - np.log(b) - R * b + vecs @ lr + (vecs * np.log(b)[:, None]).sum(1) \
            - gammaln(vecs + 1).sum(1)
        mass = np.exp(logm)
        tot = float(mass.sum())
        for vi, mi in zip(v.tolist(), mass.tolist(), strict=True):
            if mi > 0:
                k = _key(vi)
                law[k] = law.get(k, 0.0) + mi
        if tot < MASS_MIN and tot <= prev:
            break
        prev = tot
        order = np.argsort(-mass)[:MAX_VECTORS]
        items = list(nxt.items())
        level = dict(items[i] for i in order)
    return law


def convolve(a: dict[float, float], b: dict[float, float]) -> dict[float, float]:
    """The law of the sum of independent atomic parts (masses below :data:`MASS_MIN` dropped)."""
    out: dict[float, float] = {}
    for va, ma in a.items():
        for vb, mb in b.items():
            m = ma * mb
            if m >= MASS_MIN:
                k = _key(va + vb)
                out[k] = out.get(k, 0.0) + m
    return out


def merge_pieces(pieces: list) -> list:
    """Consecutive stretches with the same new-job law as one piece (their busy periods add up
    to one started by the total length: the enumeration then truncates as for the closed forms)."""
    out: list = []
    for ell, d, w in pieces:
        d, w = np.asarray(d, float), np.asarray(w, float)
        keep = (w > 0) & (d > 0)
        d, inv = np.unique(d[keep], return_inverse=True)  # equal sizes as one entry
        w = np.bincount(inv.ravel(), weights=w[keep], minlength=d.size)
        if out and out[-1][1].size == d.size and np.array_equal(out[-1][1], d) and np.allclose(
                out[-1][2], w, rtol=1e-13, atol=0):
            out[-1] = (out[-1][0] + ell, out[-1][1], out[-1][2])
        else:
            out.append((ell, d, w))
    return out


def residence_law(lam: float, pieces, full: bool = True) -> dict[float, float]:
    r"""The law of :math:`\sum_k (B_{\ell_k} - \ell_k)` over ``pieces`` = ``[(ell, d, w), ...]``
    (each convolution keeps the :data:`MAX_ATOMS` largest masses); ``full=False``: only its
    atom at 0, :math:`\exp(-\lambda\sum_k \ell_k P_k)`."""
    if not full:
        return {0.0: math.exp(-lam * sum(ell * float(np.sum(np.asarray(w, float)[np.asarray(d, float) > 0]))
                                         for ell, d, w in pieces))}
    law = {0.0: 1.0}
    for ell, d, w in merge_pieces(pieces):
        if ell > 0:
            law = convolve(law, extension_law(lam, float(ell), d, w))
            if len(law) > MAX_ATOMS:
                law = dict(sorted(law.items(), key=lambda kv: -kv[1])[:MAX_ATOMS])
    return law


def cost(pieces) -> int:
    """The (piece, size) pairs of a class's busy periods (for :data:`BUDGET`)."""
    return sum(int(np.count_nonzero(np.asarray(w, float) > 0)) for ell, _, w in pieces if ell > 0)


def pieces_on(lo: float, hi: float, breaks, set_le) -> list:
    r"""The pieces of :math:`(lo, hi]` between consecutive ``breaks`` (the values where the set of
    jobs that run first changes), with that set :math:`\{key \le u_0\}` on :math:`(u_0, u_1]`:
    ``set_le(u0)`` -> ``(d, w)``."""
    br = np.asarray(breaks, float)
    pts = np.unique(np.concatenate([[lo, hi], br[(br > lo) & (br < hi)]]))
    out = []
    for u0, u1 in zip(pts[:-1], pts[1:], strict=True):
        d, w = set_le(float(u0))
        out.append((float(u1 - u0), d, w))
    return out


def to_atoms(laws, offsets, weights) -> list[tuple[float, float]]:
    r"""``sum_i weights_i`` times the law ``laws_i`` shifted by ``offsets_i``, as ``(position,
    mass)`` pairs: equal positions merged, masses below :data:`MASS_MIN` dropped, the
    :data:`MAX_ATOMS` largest kept."""
    out: dict[float, float] = {}
    for law, c, p in zip(laws, offsets, weights, strict=True):
        for v, m in law.items():
            mm = p * m
            if mm >= MASS_MIN:
                k = _key(c + v)
                out[k] = out.get(k, 0.0) + mm
    items = sorted(out.items(), key=lambda kv: -kv[1])[:MAX_ATOMS]
    return sorted(items)


__all__ = ["extension_law", "convolve", "residence_law", "pieces_on", "to_atoms", "cost", "BUDGET"]
