r"""Exact M/PH/k FCFS by a matrix-analytic method, and exact M/D/k.

M/PH/k FCFS as a quasi-birth-death process
------------------------------------------
Jobs arrive at rate :math:`\lambda`; sizes are :math:`\mathrm{PH}(\boldsymbol\alpha, T)` with
:math:`m` phases (:mod:`qtheory.laws.phase_type`), served FCFS by :math:`k` servers of speed
:math:`s`. The state is the number in system :math:`n` (the *level*) and the number of busy
servers in each phase, :math:`\mathbf c \in \mathbb N^m` with :math:`|\mathbf c| = \min(n, k)`
(:math:`\binom{\min(n,k)+m-1}{m-1}` phases per level). From :math:`(n, \mathbf c)`:

* arrival (:math:`\lambda`): for :math:`n < k` a server starts the job in phase :math:`j`
  (probability :math:`\alpha_j`), :math:`\mathbf c + \mathbf e_j`; for :math:`n \ge k` the job
  waits;
* phase change :math:`i \to j` (:math:`c_i s T_{ij}`);
* completion in phase :math:`i` (:math:`c_i s t_i`): :math:`\mathbf c - \mathbf e_i` for
  :math:`n \le k`, and :math:`\mathbf c - \mathbf e_i + \mathbf e_j` (probability
  :math:`\alpha_j`: the head of the queue starts) for :math:`n > k`.

For :math:`n \ge k` the blocks do not depend on :math:`n`: up :math:`A_0 = \lambda I`, local
:math:`A_1`, down :math:`A_2`. The stationary vector is matrix-geometric,
:math:`\boldsymbol\pi_{n+1} = \boldsymbol\pi_n R` (:math:`n \ge k`), with :math:`R` the minimal
solution of :math:`A_0 + R A_1 + R^2 A_2 = 0` (Neuts 1981). We compute :math:`G` (minimal
solution of :math:`A_2 + A_1 G + A_0 G^2 = 0`) by the logarithmic reduction of Latouche and
Ramaswami ("A logarithmic reduction algorithm for quasi-birth-death processes", J. Applied
Probability 30(3), 1993), which converges quadratically, and
:math:`R = A_0(-(A_1 + A_0 G))^{-1}`. The levels :math:`0..k` are solved as one sparse linear
system with the level-:math:`k` balance :math:`\boldsymbol\pi_{k-1}U_{k-1} +
\boldsymbol\pi_k(A_1 + RA_2) = 0` and the normalisation
:math:`\sum_{n<k}\boldsymbol\pi_n\mathbf 1 + \boldsymbol\pi_k(I-R)^{-1}\mathbf 1 = 1`. Then

.. math::
    P(\text{wait}) = \boldsymbol\pi_k(I-R)^{-1}\mathbf 1,\qquad
    E[N_Q] = \boldsymbol\pi_k R(I-R)^{-2}\mathbf 1,\qquad
    E[T] = \frac{E[N_Q]}{\lambda} + \frac{E[S]}{s}

(PASTA and Little's law). With one phase this is Erlang C.

M/D/k (Crommelin)
-----------------
With deterministic sizes :math:`D` (service time :math:`d = D/s`), every job in service at
time :math:`t` has left by :math:`t + d` and every job present at :math:`t + d` that was not
in service at :math:`t` is still there, so
:math:`N(t+d) = \max(N(t) - k, 0) + A`, :math:`A \sim \mathrm{Poisson}(\lambda d)`
independent of :math:`N(t)` (Crommelin, "Delay probability formulae when the holding times are
constant", Post Office Electrical Engineers' Journal 25, 1932). The time-stationary law of
:math:`N` is the stationary law of this chain; we solve it on a truncated state space whose
cut is placed where the geometric tail is below :math:`10^{-15}`, and
:math:`E[T] = E[N]/\lambda`.

Derivation: ``docs/multiserver.md`` section 4.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import sparse, stats
from scipy.sparse import linalg as splinalg

from ..laws.phase_type import PhaseType


def _configs(b: int, m: int) -> list[tuple[int, ...]]:
    """All c in N^m with |c| = b (busy servers per phase)."""
    out = []
    for combo in itertools.combinations_with_replacement(range(m), b):
        c = [0] * m
        for i in combo:
            c[i] += 1
        out.append(tuple(c))
    return out


def _flush(M: np.ndarray) -> np.ndarray:
    """Zero the entries below 1e-150: their products would be subnormal numbers, on which the
    floating-point unit is a hundred times slower, and they cannot change a result near 1."""
    M[np.abs(M) < 1e-150] = 0.0
    return M


def _g_logarithmic_reduction(A0: np.ndarray, A1: np.ndarray, A2: np.ndarray, tol: float = 1e-14,
                             max_iter: int = 100) -> np.ndarray:
    """Minimal nonnegative solution G of A2 + A1 G + A0 G^2 = 0 (Latouche-Ramaswami 1993)."""
    L = A0.shape[0]
    I = np.eye(L)
    inv = np.linalg.inv(-A1)
    H = _flush(inv @ A0)          # up
    Lo = _flush(inv @ A2)         # down
    G = Lo.copy()
    Tm = H.copy()
    one = np.ones(L)
    for _ in range(max_iter):
        U = H @ Lo + Lo @ H
        M = np.linalg.inv(I - U)
        H, Lo = _flush(M @ (H @ H)), _flush(M @ (Lo @ Lo))
        G = G + Tm @ Lo
        Tm = _flush(Tm @ H)
        # converged when G is stochastic, or when the remaining terms T_n L_{n+1} vanish
        # (with many phases rounding can keep |1 - G1| a few ulp above tol)
        if np.max(np.abs(one - G @ one)) < tol or np.max(np.abs(Tm)) < 1e-18:
            break
    return G


def solve_qbd(rows, cols, vals, offs, k: int, A0: np.ndarray, A1: np.ndarray, A2: np.ndarray):
    r"""Stationary vector of a QBD whose levels ``0..k`` are given by the sparse generator
    entries ``(rows, cols, vals)`` (level :math:`n` starts at ``offs[n]``) and whose levels
    above ``k`` repeat with blocks ``A0`` (up), ``A1`` (local), ``A2`` (down).

    :math:`R = A_0(-(A_1 + A_0 G))^{-1}` with :math:`G` by logarithmic reduction; level
    :math:`k`'s local block becomes :math:`A_1 + R A_2` (the levels above folded in by
    :math:`\pi_{k+1} = \pi_k R`), and the transposed system :math:`\pi Q = 0`, its last equation
    replaced by the normalisation :math:`\sum_{n<k}\pi_n 1 + \pi_k (I - R)^{-1} 1 = 1`, is
    solved sparsely. Returns ``(pi, R, (I - R)^{-1})`` with ``pi`` over levels ``0..k``."""
    Lk = A1.shape[0]
    G = _g_logarithmic_reduction(A0, A1, A2)
    R = A0 @ np.linalg.inv(-(A1 + A0 @ G))
    N = int(offs[k]) + Lk
    sk = int(offs[k])
    r_a = np.asarray(rows, np.int64)
    c_a = np.asarray(cols, np.int64)
    v_a = np.asarray(vals, float)
    keep = ~((r_a >= sk) & (c_a >= sk))
    r_a, c_a, v_a = r_a[keep], c_a[keep], v_a[keep]
    blk = A1 + R @ A2
    bi, bj = np.nonzero(blk)
    inv_IR = np.linalg.inv(np.eye(Lk) - R)
    norm = np.ones(N)
    norm[sk:] = inv_IR @ np.ones(Lk)
    er = np.concatenate([c_a, bj + sk])
    ec = np.concatenate([r_a, bi + sk])
    ev = np.concatenate([v_a, blk[bi, bj]])
    keep = er != N - 1
    er = np.concatenate([er[keep], np.full(N, N - 1)])
    ec = np.concatenate([ec[keep], np.arange(N)])
    ev = np.concatenate([ev[keep], norm])
    Mt = sparse.csc_matrix((ev, (er, ec)), shape=(N, N))
    rhs = np.zeros(N)
    rhs[N - 1] = 1.0
    return splinalg.spsolve(Mt, rhs), R, inv_IR


def mphk_fcfs(servers: int, arrival_rate: float, ph: PhaseType, server_speed: float = 1.0,
              levels: bool = False) -> dict:
    r"""Exact M/PH/k FCFS means by the matrix-analytic method (see the module docstring).

    Parameters
    ----------
    servers : int
        :math:`k`.
    arrival_rate : float
        :math:`\lambda`.
    ph : PhaseType
        The size law :math:`\mathrm{PH}(\boldsymbol\alpha, T)` (work; a server of speed
        :math:`s` runs the phase chain :math:`s` times as fast).
    server_speed : float
    levels : bool
        Also return ``levels``: the stationary vectors :math:`\boldsymbol\pi_0, \dots,
        \boldsymbol\pi_k` (phase counts ordered as ``itertools.combinations_with_replacement``).

    Returns
    -------
    dict
        ``p_wait``, ``mean_wait``, ``mean_response_time``, ``mean_queue_length``,
        ``mean_number_in_system``, ``utilization``, ``states`` (phases per level at and above
        :math:`k`), ``residual`` (max-norm of :math:`A_0 + RA_1 + R^2A_2`).
    """
    k = int(servers)
    lam = float(arrival_rate)
    s = float(server_speed)
    alpha = ph.alpha
    T = ph.T * s
    t = -T.sum(1)
    m = ph.phases
    mean_service = ph.mean / s
    rho = lam * mean_service / k
    if not (0 < rho < 1):
        raise ValueError(f"per-server load arrival_rate * E[S] / (servers * server_speed) = {rho!r} must be < 1")
    levels = [_configs(n, m) for n in range(k + 1)]
    index = [{c: i for i, c in enumerate(cs)} for cs in levels]
    sizes = [len(cs) for cs in levels]
    offs = np.concatenate([[0], np.cumsum(sizes)])
    Lk = sizes[k]
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    A1 = np.zeros((Lk, Lk))
    A2 = np.zeros((Lk, Lk))
    diag_out = -np.diag(T)

    def add(r, c, v):
        rows.append(r)
        cols.append(c)
        vals.append(v)

    for n in range(k + 1):
        for ci, c in enumerate(levels[n]):
            r = offs[n] + ci
            ca = np.asarray(c)
            out_rate = lam + float(ca @ diag_out)
            # arrivals
            if n < k:
                for j in range(m):
                    if alpha[j] > 0:
                        c2 = list(c)
                        c2[j] += 1
                        add(r, offs[n + 1] + index[n + 1][tuple(c2)], lam * alpha[j])
            # phase changes
            for i in range(m):
                if c[i] == 0:
                    continue
                for j in range(m):
                    if j != i and T[i, j] > 0:
                        c2 = list(c)
                        c2[i] -= 1
                        c2[j] += 1
                        v = c[i] * T[i, j]
                        add(r, offs[n] + index[n][tuple(c2)], v)
                        if n == k:
                            A1[ci, index[k][tuple(c2)]] += v
                # completions
                if t[i] > 0 and n >= 1:
                    c2 = list(c)
                    c2[i] -= 1
                    add(r, offs[n - 1] + index[n - 1][tuple(c2)], c[i] * t[i])
                    if n == k:
                        for j in range(m):
                            if alpha[j] > 0:
                                c3 = list(c2)
                                c3[j] += 1
                                A2[ci, index[k][tuple(c3)]] += c[i] * t[i] * alpha[j]
            add(r, r, -out_rate)
            if n == k:
                A1[ci, ci] -= out_rate
    A0 = lam * np.eye(Lk)
    pi, R, inv_IR = solve_qbd(rows, cols, vals, offs, k, A0, A1, A2)
    resid = float(np.max(np.abs(A0 + R @ A1 + R @ R @ A2)))
    sk = offs[k]
    pik = pi[sk:sk + Lk]
    p_wait = float(pik @ inv_IR @ np.ones(Lk))
    nq = float(pik @ R @ inv_IR @ inv_IR @ np.ones(Lk))
    wq = nq / lam
    out = {"p_wait": p_wait, "mean_wait": wq, "mean_response_time": wq + mean_service,
           "mean_queue_length": nq, "mean_number_in_system": nq + lam * mean_service,
           "utilization": rho, "states": Lk, "residual": resid}
    if levels:
        out["levels"] = [pi[offs[n]:offs[n + 1]] for n in range(k + 1)]
    return out


def mdk_fcfs(servers: int, arrival_rate: float, size: float, server_speed: float = 1.0,
             tail: float = 1e-15) -> dict[str, float]:
    r"""Exact M/D/k FCFS means by Crommelin's embedded chain (see the module docstring).

    Returns ``p_wait`` (time-stationary :math:`P(N \ge k)`, which by PASTA is the probability
    that an arrival finds all servers busy), ``mean_wait``, ``mean_response_time``,
    ``mean_number_in_system`` and ``truncation`` (the cut of the state space)."""
    k = int(servers)
    lam = float(arrival_rate)
    d = float(size) / float(server_speed)
    a = lam * d
    rho = a / k
    if not (0 < rho < 1):
        raise ValueError(f"per-server load arrival_rate * size / (servers * server_speed) = {rho!r} must be < 1")
    # decay rate z of the geometric tail: root in (1, inf) of z^k = exp(a (z - 1)) ... use the
    # conservative bound from the drift: the chain moves by A - k per step
    amax = int(a + 12.0 * math.sqrt(a) + 40.0)      # P(A > amax) < 1e-20 for every a
    pa = stats.poisson.pmf(np.arange(amax + 1), a)
    pa[-1] += max(0.0, 1.0 - pa.sum())
    # tail decay: solve z^k = exp(a (z-1)) for z > 1 by bisection in log form
    lo, hi = 1.0 + 1e-12, 2.0
    f = lambda z: k * math.log(z) - a * (z - 1.0)  # noqa: E731  (> 0 just above 1 when a < k)
    while f(hi) > 0:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) > 0:
            lo = mid
        else:
            hi = mid
    z = lo
    nmax = int(k + amax + math.log(1.0 / tail) / math.log(z) * 1.5) + 10
    nst = nmax + 1
    src = np.repeat(np.arange(nst), amax + 1)
    base = np.maximum(np.arange(nst) - k, 0)
    dst = (base[:, None] + np.arange(amax + 1)[None, :]).ravel()
    w = np.tile(pa, nst)
    dst = np.minimum(dst, nmax)          # lump the (negligible) overflow into the last state
    P = sparse.csr_matrix((w, (src, dst)), shape=(nst, nst))
    A = (P.T - sparse.identity(nst, format="csr")).tolil()
    A[nst - 1, :] = np.ones(nst)
    rhs = np.zeros(nst)
    rhs[-1] = 1.0
    pi = splinalg.spsolve(A.tocsc(), rhs)
    pi = np.maximum(pi, 0.0)
    pi /= pi.sum()
    n = np.arange(nst)
    en = float(pi @ n)
    p_wait = float(pi[k:].sum())
    et = en / lam
    return {"p_wait": p_wait, "mean_wait": et - d, "mean_response_time": et, "mean_number_in_system": en,
            "utilization": rho, "truncation": nmax}


__all__ = ["mphk_fcfs", "mdk_fcfs"]
