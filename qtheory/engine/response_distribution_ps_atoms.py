r"""The atoms of the M/G/1-PS sojourn time with a discrete size law.

PS is not SOAP. In the time change of :mod:`qtheory.engine.response_distribution_ps_phase`
(time measured by the tagged job's attained service :math:`\tau`; every job present advances
at rate 1 and spawns arrivals at rate :math:`\lambda`), a job of size :math:`x` stays

.. math::
    T(x) = x + \sum_{i \le N_0} \min(R_i, x) + \sum_{\text{descendants}} (\text{time alive before } \tau = x),

with :math:`N_0` geometric, :math:`P(N_0 = k) = (1-\rho)\rho^k`, and :math:`R_i` i.i.d. of the
equilibrium density :math:`\bar F(r)/E[X]` (derivation: ``docs/response_time_distribution.md``,
sections 9 and 11). :math:`R_i` has a density, and a descendant born at :math:`u` that is still
present at :math:`\tau = x` stays :math:`x - u` (plus what its own descendants add), a
continuous function of the birth epochs. So :math:`T(x)` has an atom only on the event that every
:math:`R_i \ge x` (probability :math:`q = E[(X - x)^+]/E[X]` each) and that every descendant
leaves before :math:`\tau = x`; then :math:`T(x) = (k+1)x + \sum` (the sizes of the descendants).
Sizes :math:`x_j \ge x` never leave before the horizon: only the sizes :math:`x_j < x` enter.

**Completed subtrees.** Let :math:`\Phi(s, h) = E[e^{-sS}; \text{done by } h]`, where :math:`S`
is the sum of the sizes of a new job's subtree (the job and all its descendants) and "done by
:math:`h`" says that all of them leave within :math:`h` of the job's birth. A job of size
:math:`y \le h` spawns at rate :math:`\lambda` over its life; a child born at :math:`v` must be
done by :math:`h - v`:

.. math::
    \Phi(s, h) = \sum_j p_j\,\mathbf 1\{x_j \le h\}\,e^{-(s+\lambda)x_j}
        \exp\Big(\lambda\int_{h - x_j}^{h} \Phi(s, w)\,dw\Big),

and a root alive over the whole horizon :math:`x` (the tagged job, or a job present with
:math:`R_i \ge x`) has all its descendants done with transform
:math:`\psi(s) = e^{-\lambda x}\exp(\lambda\int_0^x \Phi(s, w)\,dw)`. Hence the atomic part

.. math::
    \sum_{k \ge 0} (1-\rho)\,(\rho q)^k\,e^{-s(k+1)x}\,\psi(s)^{k+1}.

**Exact evaluation.** As a sum over positions :math:`a` (sums of sizes below :math:`x`),
:math:`\Phi = \sum_a e^{-sa}C_a(h)` where :math:`C_a(h)` (the probability that the subtree has
size-sum :math:`a` and is done by :math:`h`) is a piecewise polynomial in :math:`h` whose
breakpoints are sums of sizes. On the grid :math:`B` of all sums of sizes below :math:`x`
(closed under adding a size), the integral over a window of length :math:`x_j` and the shift by
:math:`x_j` map polynomials on the cells of :math:`B` to polynomials on its cells, and products
stay polynomials: the recursion is carried out exactly (in floating point) with one polynomial
per cell and position, the positions in increasing order (the exponential's coefficients by
:math:`a E_a = \sum_b b J_b E_{a-b}`, which only needs smaller positions). The masses are
nonnegative combinations; they are truncated where the positions' masses fall below ``tail``.

M/D/1 (one size :math:`D`, :math:`x \le D`): no size is below :math:`x`, :math:`\psi = e^{-\lambda x}`
and the atoms are :func:`qtheory.engine.response_distribution_ps_discrete.deterministic_atoms`.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
from scipy.special import comb

#: positions (sums of sizes) whose masses fall below this are left out of the atoms
TAIL = 1e-14
#: at most this many grid cells (sums of sizes below x) and positions
MAX_CELLS = 400
MAX_POSITIONS = 600
#: at most this many atoms are kept (the largest)
MAX_ATOMS = 400
#: the class x may be at most this many times the least size (the positions and the polynomial
#: degrees grow with x / least size: 0.03 s at 3, 4 s at 6, 110 s at 10 on sizes {1, 3})
MAX_RATIO = 6.0


def _sums_below(sizes: np.ndarray, end: float, limit: int, what: str) -> np.ndarray:
    """All sums of ``sizes`` (with repetition) below ``end``, 0 included, merged where they
    coincide to 1e-12 relative."""
    tol = 1e-12 * end
    pts = [0.0]
    frontier = [0.0]
    seen = {0}
    while frontier:
        nxt = []
        for p in frontier:
            for y in sizes:
                v = p + y
                if v >= end - tol:
                    continue
                key = round(v / tol)
                if key in seen or (key - 1) in seen or (key + 1) in seen:
                    continue
                seen.add(key)
                pts.append(v)
                nxt.append(v)
                if len(pts) > limit:
                    raise NotImplementedError(
                        f"PS atoms on this discrete size law: more than {limit} {what} (sums of the "
                        f"sizes {sizes.tolist()} below {end:g}); the atoms beyond the first are not "
                        "derived here: use qt.simulate(..., percentiles=...)")
        frontier = nxt
    return np.sort(np.asarray(pts))


class _Cells:
    """Piecewise polynomials on the cells :math:`[\\beta_i, \\beta_{i+1}]` of a grid closed under
    adding a size: arrays ``[cells, degree + 1]`` of coefficients in :math:`h - \\beta_i`."""

    def __init__(self, grid: np.ndarray, end: float, deg: int):
        self.b = grid
        self.len = np.diff(np.append(grid, end))
        self.n = grid.size
        self.deg = deg
        self.tol = 1e-12 * end
        k = np.arange(deg + 1)
        self.inv = 1.0 / (k + 1.0)
        self.binom = comb(k[:, None], k[None, :])  # C(m, k)

    def antiderivative(self, p: np.ndarray) -> np.ndarray:
        """:math:`\\int_0^h p`, continuous, as a polynomial of degree + 1 (truncated at ``deg``)."""
        out = np.zeros_like(p)
        out[:, 1:] = p[:, :-1] * self.inv[:-1]
        # the value at each cell's right end, accumulated: the constants
        ends = (out * self.len[:, None] ** np.arange(self.deg + 1)).sum(1)
        out[:, 0] = np.concatenate([[0.0], np.cumsum(ends)[:-1]])
        return out

    def shift(self, p: np.ndarray, y: float) -> np.ndarray:
        """:math:`p(h - y)` (0 where :math:`h < y`)."""
        out = np.zeros_like(p)
        start = self.b - y
        ok = start > -self.tol
        if not np.any(ok):
            return out
        idx = np.searchsorted(self.b, start[ok] + self.tol, side="right") - 1
        delta = np.maximum(start[ok] - self.b[idx], 0.0)
        # Taylor shift: q_k = sum_m p_m C(m, k) delta^(m - k)
        k = np.arange(self.deg + 1)
        gap = k[:, None] - k[None, :]                       # m - k
        pw = delta[:, None, None] ** np.maximum(gap, 0)[None]
        mat = self.binom[None] * np.where(gap >= 0, pw, 0.0)
        out[ok] = np.einsum("cm,cmk->ck", p[idx], mat)
        return out

    def at_end(self, p: np.ndarray) -> float:
        """The value at the grid's end (the right end of the last cell)."""
        return float((p[-1] * self.len[-1] ** np.arange(self.deg + 1)).sum())


_DIAG: dict[int, np.ndarray] = {}


def _product_sum(A: np.ndarray, B: np.ndarray, deg: int) -> np.ndarray:
    r""":math:`\sum_b A_b B_b` cell by cell, polynomial products truncated at ``deg`` (``A``, ``B``:
    arrays ``[terms, cells, deg + 1]``)."""
    if deg not in _DIAG:  # (i, j) -> i + j, the terms of degree <= deg
        k = np.arange(deg + 1)
        _DIAG[deg] = (((k[:, None] + k[None, :]).ravel()[:, None]) == k[None, :]).astype(float)
    outer = np.einsum("bik,bil->ikl", A, B)
    return outer.reshape(outer.shape[0], -1) @ _DIAG[deg]


def descendant_transform(lam: float, sizes, probs, x: float, tail: float = TAIL) -> tuple[np.ndarray, np.ndarray]:
    r"""The series of :math:`\psi(s) = \sum_a w_a e^{-sa}` (module docstring): positions
    :math:`a` (0 first) and weights :math:`w_a` (the probability that the descendants of a root
    alive over :math:`[0, x]` all leave before :math:`x` with sizes summing to :math:`a`)."""
    sizes, probs = np.asarray(sizes, float), np.asarray(probs, float)
    small = sizes < x * (1 - 1e-12)
    ys, ps = sizes[small], probs[small]
    if ys.size == 0:
        return np.zeros(1), np.array([math.exp(-lam * x)])
    ymin = float(ys.min())
    if x > MAX_RATIO * ymin * (1 + 1e-12):
        raise NotImplementedError(
            f"PS atoms on a discrete size law: a job of size x={x:g} more than {MAX_RATIO:g} times "
            f"the least size {ymin:g} has too many atoms (sums of sizes of the jobs that arrive and "
            "leave during its stay) to derive at reasonable cost; use qt.simulate(..., "
            "percentiles=...)")
    grid = _sums_below(ys, x, MAX_CELLS, "grid cells")
    # positions: sums of the small sizes; a subtree of position a has at most a / ymin members and
    # a polynomial degree below that. Enumerated in increasing order until the masses are below
    # the tail (Phi_a(x) is the largest value of C_a, which increases with h)
    deg = 8
    pos: list[float] = []
    key: dict[int, int] = {}
    tolp = 1e-9 * ymin

    def kk(v: float) -> int:
        return int(round(v / tolp))

    # the candidate positions, generated lazily in increasing order
    heap = [float(y) for y in ys]
    heapq.heapify(heap)
    queued = {kk(y) for y in ys}
    Phi: list[np.ndarray] = []        # C_a on the cells
    F: list[np.ndarray] = []          # its antiderivative
    J: dict[float, list[np.ndarray]] = {float(y): [] for y in ys}   # lam (F(h) - F(h - y))
    E: dict[float, list[np.ndarray]] = {float(y): [] for y in ys}   # exp(J) coefficients, a > 0
    cells = None
    small_run = 0
    while heap:
        a = heapq.heappop(heap)
        n_members = int(math.floor(a / ymin + 1e-9))
        if cells is None or n_members + 1 > cells.deg:
            deg = max(2 * deg, n_members + 2)
            cells = _Cells(grid, x, deg)

            def grow(lst, d=deg):
                for i, arr in enumerate(lst):
                    if arr.shape[1] < d + 1:
                        lst[i] = np.pad(arr, ((0, 0), (0, d + 1 - arr.shape[1])))
            grow(Phi)
            grow(F)
            for y in J:
                grow(J[y])
                grow(E[y])
        i_a = len(pos)
        pos.append(a)
        key[kk(a)] = i_a
        c = np.zeros((cells.n, cells.deg + 1))
        for y, p in zip(ys, ps, strict=True):
            y = float(y)
            rest = a - y
            if rest < -tolp:
                continue
            if abs(rest) <= tolp:
                e = np.zeros_like(c)
                e[:, 0] = 1.0
            else:
                j = key.get(kk(rest))
                if j is None:
                    continue
                e = E[y][j]
            mask = (cells.b >= y - cells.tol)[:, None]
            c = c + p * math.exp(-lam * y) * mask * e
        Phi.append(c)
        Fa = cells.antiderivative(c)
        F.append(Fa)
        for y in ys:
            y = float(y)
            J[y].append(lam * (Fa - cells.shift(Fa, y)))
            # E_a = (1/a) sum_{b <= a} b J_b E_{a - b} (E_0 = 1)
            terms_j, terms_e = [], []
            for ib, bval in enumerate(pos):
                rest = a - bval
                if abs(rest) <= tolp:
                    one = np.zeros_like(c)
                    one[:, 0] = 1.0
                    terms_j.append(bval * J[y][ib])
                    terms_e.append(one)
                elif rest > 0:
                    j = key.get(kk(rest))
                    if j is not None:
                        terms_j.append(bval * J[y][ib])
                        terms_e.append(E[y][j])
            E[y].append(_product_sum(np.array(terms_j), np.array(terms_e), cells.deg) / a)
        mass = cells.at_end(c)
        small_run = small_run + 1 if mass < tail else 0
        if small_run >= 3 * ys.size and a > 2 * x:
            break
        if len(pos) >= MAX_POSITIONS:
            raise NotImplementedError(
                f"PS atoms on this discrete size law: more than {MAX_POSITIONS} positions (sums of "
                f"the sizes {ys.tolist()}) before their masses fall below {tail:g}; use "
                "qt.simulate(..., percentiles=...)")
        for y in ys:
            v = a + float(y)
            if kk(v) not in queued:
                queued.add(kk(v))
                heapq.heappush(heap, v)
    # psi = e^{-lam x} exp(lam F(x)): the scalar series, same recurrence
    fx = np.array([lam * cells.at_end(Fa) for Fa in F])
    w = [1.0]
    for i_a, a in enumerate(pos):
        acc = 0.0
        for ib, bval in enumerate(pos[: i_a + 1]):
            rest = a - bval
            if abs(rest) <= tolp:
                acc += bval * fx[ib]
            elif rest > 0:
                j = key.get(kk(rest))
                if j is not None:
                    acc += bval * fx[ib] * w[j + 1]
        w.append(acc / a)
    return np.array([0.0] + pos), math.exp(-lam * x) * np.maximum(np.array(w), 0.0)


def discrete_ps_atoms(lam: float, sizes, probs, x: float, tail: float = TAIL) -> list[tuple[float, float]]:
    r"""The atoms :math:`(t, P(T(x) = t))` of the sojourn time of a job of size ``x`` in the
    M/G/1-PS queue with sizes ``sizes`` (probabilities ``probs``), arrival rate ``lam``: at
    :math:`(k+1)x + a`, mass :math:`(1-\rho)(\rho q)^k [\psi^{k+1}]_a` (module docstring); the
    first is :math:`(x, (1-\rho)e^{-\lambda x})`. Masses below ``tail`` are left out, and at most
    ``MAX_ATOMS`` are kept (the largest)."""
    sizes, probs = np.asarray(sizes, float), np.asarray(probs, float)
    m = float(sizes @ probs)
    rho = lam * m
    q = float(probs @ np.maximum(sizes - x, 0.0)) / m
    apos, w = descendant_transform(lam, sizes, probs, x, tail)
    keep = w > tail * 1e-3
    apos, w = apos[keep], w[keep]
    out: dict[int, list[float]] = {}
    power_pos, power_w = apos.copy(), w.copy()   # psi^(k+1)
    k = 0
    scale = 1e-9 * x
    while True:
        coef = (1.0 - rho) * (rho * q) ** k
        for a, v in zip(power_pos, power_w, strict=True):
            mass = coef * v
            if mass < tail:
                continue
            t = (k + 1) * x + a
            slot = out.setdefault(int(round(t / scale)), [t, 0.0])
            slot[1] += mass
        k += 1
        if q == 0.0 or coef * rho * q * power_w.sum() * w.sum() < tail:
            break
        # the next power, truncated to the masses that matter
        pp = (power_pos[:, None] + apos[None, :]).ravel()
        pw = (power_w[:, None] * w[None, :]).ravel()
        order = np.argsort(pp)
        pp, pw = pp[order], pw[order]
        keys = np.round(pp / scale).astype(np.int64)
        uk, inv = np.unique(keys, return_inverse=True)
        power_w = np.bincount(inv, weights=pw)
        power_pos = np.bincount(inv, weights=pp) / np.bincount(inv)
        sel = power_w * coef > tail * 1e-3
        power_pos, power_w = power_pos[sel], power_w[sel]
    atoms = sorted((t, mass) for t, mass in out.values())
    if len(atoms) > MAX_ATOMS:
        atoms = sorted(sorted(atoms, key=lambda tm: -tm[1])[:MAX_ATOMS])
    return [(float(t), float(mass)) for t, mass in atoms]


__all__ = ["descendant_transform", "discrete_ps_atoms"]
