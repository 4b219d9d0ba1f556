r"""Preemptive priority classes on :math:`k` servers: recursive dimensionality reduction.

Model
-----
Classes :math:`1, \dots, m` (class 1 first) arrive as independent Poisson streams of rates
:math:`\lambda_i`, with sizes of law :math:`S_i`, at :math:`k` servers of speed :math:`s`
(central queue, preempt-resume). The :math:`k` jobs of the best classes are served, FCFS within a
class (PSPJF-k when the predictions take :math:`m` values: class :math:`i` is the
:math:`i`-th smallest prediction).

Method (RDR-A)
--------------
Classes :math:`\le i` do not see the classes :math:`> i`, so class :math:`i` is the *low* class
of a two-class system whose *high* class :math:`H` aggregates the classes :math:`< i` (rate
:math:`\Lambda_{i-1} = \sum_{j<i}\lambda_j`, size law the mixture of theirs), and

.. math::
    E[T_i] = \frac{E[N_L^{(i)}]}{\lambda_i}.

This is the RDR-A reduction of Harchol-Balter, Osogami, Scheller-Wolf and Wierman ("Multi-server
queueing systems with multiple priority classes", Queueing Systems 51(3-4):331-360, 2005): the
higher classes are treated as one class, and the infinite number of high jobs is reduced to the
two facts that matter to the low class, the number of servers the high jobs hold when fewer than
:math:`k` are present, and the *busy periods* during which :math:`k` or more are present (then the
low class gets no server). Each busy period (the first passage of the high M/PH/k FCFS chain from
:math:`k` to :math:`k-1` jobs) is replaced by a two-phase PH law matching its first three moments.

The two-class chain, solved exactly as a quasi-birth-death process (QBD) in the number of low
jobs :math:`n`:

* high part :math:`h \in \{0, \dots, k-1\} \cup \{B_1, B_2\}`: :math:`h < k` high jobs in
  service, completing at rate :math:`h/E[S_H]` each (exponential service, HOSW's assumption for
  the count below :math:`k`), or a phase of the busy-period PH (entered from :math:`h = k-1` at
  rate :math:`\Lambda`, left to :math:`h = k-1`);
* low part: the phase counts :math:`\mathbf c` of the :math:`\min(n, k)` oldest low jobs (a
  two-phase PH fit of :math:`S_i`: :func:`fit_two_phase`), of which :math:`u = \min(n, k - h)^+`
  are served. Which of them are served is not tracked: each progresses at the fraction
  :math:`u/\min(n,k)` of a server (exact when :math:`u = \min(n,k)`, in particular for class 1,
  which is then the exact M/PH/k FCFS on the fit, and for exponential sizes).

The busy-period moments come from the power series of the high chain's first-passage matrix
:math:`G(z) = \sum_n G_n z^n` (Laplace variable :math:`z`), solving
:math:`A_2 + (A_1 - zI)G(z) + A_0 G(z)^2 = 0` order by order,

.. math::
    (A_1 + A_0 G_0) G_n + A_0 G_n G_0 = G_{n-1} - A_0 \sum_{j=1}^{n-1} G_j G_{n-j},

then :math:`E[e^{-zB}] = \boldsymbol\beta (zI - A_1 - A_0 G(z))^{-1}\mathbf d` with
:math:`\boldsymbol\beta` the law of the high phases when the :math:`k`-th high job arrives and
:math:`\mathbf d` the completion rates from :math:`k` to :math:`k-1` jobs.
With exponential sizes and one class the chain is the M/M/k (Erlang C, exact).

Derivation: ``docs/multiserver.md`` (section 5).
"""

from __future__ import annotations

import math

import numpy as np

from ..laws.phase_type import PhaseType, erlang_mixture, fit_moments
from .mphk import _configs, _g_logarithmic_reduction, mphk_fcfs, solve_qbd

REF_RDR = ("Harchol-Balter, Osogami, Scheller-Wolf, Wierman, 'Multi-server queueing systems with multiple "
           "priority classes', Queueing Systems 51(3-4):331-360 (2005): recursive dimensionality reduction, "
           "RDR-A (higher classes aggregated, busy periods fitted by three moments)")


def fit_two_phase(m1: float, m2: float, m3: float | None = None) -> PhaseType:
    r"""A PH law of at most two phases matching :math:`E[X], E[X^2]` (and :math:`E[X^3]` where an
    H2 can): :math:`C^2 \ge 1`: the H2 of :func:`qtheory.laws.phase_type.fit_moments`;
    :math:`1/2 \le C^2 < 1`: the Coxian-2 with :math:`\mu_1 = 2/E[X]`,
    :math:`\mu_2 = 1/(E[X]C^2)`, :math:`p = 1/(2C^2)` (Marie, 1980); :math:`C^2 < 1/2`: Erlang-2
    (:math:`C^2 = 1/2`, the least variable two-phase law)."""
    c2 = m2 / m1**2 - 1.0
    if c2 >= 1.0 - 1e-12:
        return fit_moments(m1, m2, m3)
    if c2 >= 0.5:
        mu1, mu2, p = 2.0 / m1, 1.0 / (m1 * c2), 1.0 / (2.0 * c2)
        return PhaseType(np.array([1.0, 0.0]), np.array([[-mu1, p * mu1], [0.0, -mu2]]))
    return erlang_mixture([1.0], [2], [2.0 / m1])


#: most phases per level of the two-class chain when the low class gets a finer (Erlang-mixture)
#: fit than two phases
MAX_PHASES = 200


def _low_fit(k: int, mom, hstates: int) -> PhaseType:
    r"""The PH fit of the low class: the three-moment fit of :func:`qtheory.laws.phase_type.fit_moments`
    (an Erlang mixture of :math:`\lceil 1/C^2 \rceil` phases when :math:`C^2 < 1`) when the chain
    stays under :data:`MAX_PHASES` phases per level, else :func:`fit_two_phase`."""
    c2 = mom[1] / mom[0] ** 2 - 1.0
    if 0 < c2 < 0.5:
        ph = fit_moments(*mom)
        if hstates * math.comb(k + ph.phases - 1, k) <= MAX_PHASES:
            return ph
    return fit_two_phase(*mom)


def _move(c: tuple, i: int, j: int) -> tuple:
    """Configuration ``c`` with one job moved from phase ``i`` to phase ``j``."""
    d = list(c)
    d[i] -= 1
    d[j] += 1
    return tuple(d)


def _minus(c: tuple, i: int) -> tuple:
    """Configuration ``c`` with one job fewer in phase ``i``."""
    d = list(c)
    d[i] -= 1
    return tuple(d)


def _plus(c: tuple, j: int) -> tuple:
    """Configuration ``c`` with one job more in phase ``j``."""
    d = list(c)
    d[j] += 1
    return tuple(d)


def _high_blocks(k: int, lam: float, ph: PhaseType, s: float):
    """The M/PH/k FCFS chain of the high class at levels >= k: ``A0, A1, A2``, the completion
    rates ``D`` from the level-k configurations to the level-(k-1) ones, and the configurations
    of both levels."""
    T = ph.T * s
    t = -T.sum(1)
    m = ph.phases
    cfg = _configs(k, m)
    cfg1 = _configs(k - 1, m)
    idx = {c: i for i, c in enumerate(cfg)}
    idx1 = {c: i for i, c in enumerate(cfg1)}
    L = len(cfg)
    A1 = np.zeros((L, L))
    A2 = np.zeros((L, L))
    D = np.zeros((L, len(cfg1)))
    for ci, c in enumerate(cfg):
        A1[ci, ci] -= lam
        for i in range(m):
            if c[i] == 0:
                continue
            A1[ci, ci] += c[i] * T[i, i]
            for j in range(m):
                if j != i and T[i, j] > 0:
                    A1[ci, idx[_move(c, i, j)]] += c[i] * T[i, j]
            if t[i] > 0:
                D[ci, idx1[_minus(c, i)]] += c[i] * t[i]
                for j in range(m):
                    if ph.alpha[j] > 0:
                        A2[ci, idx[_move(c, i, j)]] += c[i] * t[i] * ph.alpha[j]
    return lam * np.eye(L), A1, A2, D, cfg, cfg1


def _busy_series(A0: np.ndarray, A1: np.ndarray, A2: np.ndarray) -> list[np.ndarray]:
    r"""The matrices :math:`\Phi_0, \dots, \Phi_3` of :math:`\Phi(z) = K(z)^{-1} = \sum_n
    \Phi_n z^n`, :math:`K(z) = zI - A_1 - A_0 G(z)` (the module docstring): the busy period's
    n-th moment from start ``s`` to end ``e`` is :math:`(-1)^n n!\,(\Phi_n D)_{se}`."""
    L = A1.shape[0]
    G0 = _g_logarithmic_reduction(A0, A1, A2)
    M = A1 + A0 @ G0
    I = np.eye(L)
    # the order-n equation (A1 + A0 G0) G_n + A0 G_n G0 = G_{n-1} - A0 sum_{0<j<n} G_j G_{n-j}
    # (the -zI G(z) term of A2 + (A1 - zI) G + A0 G^2 = 0), vectorised column-major:
    # (I kron M + G0^T kron A0) vec(G_n)
    K = np.kron(I, M) + np.kron(G0.T, A0)
    Gs = [G0]
    for n in range(1, 4):
        C = Gs[n - 1].copy()
        for j in range(1, n):
            C = C - A0 @ Gs[j] @ Gs[n - j]
        Gs.append(np.linalg.solve(K, C.reshape(-1, order="F")).reshape(L, L, order="F"))
    # K(z) = sum_n K_n z^n
    Ks = [-(A1 + A0 @ G0), I - A0 @ Gs[1], -A0 @ Gs[2], -A0 @ Gs[3]]
    K0inv = np.linalg.inv(Ks[0])
    Ph = [K0inv]
    for n in range(1, 4):
        acc = np.zeros((L, L))
        for j in range(1, n + 1):
            acc = acc + Ks[j] @ Ph[n - j]
        Ph.append(-K0inv @ acc)
    return Ph


def busy_period_moments(servers: int, arrival_rate: float, ph: PhaseType, server_speed: float = 1.0,
                        ) -> tuple[float, float, float]:
    r"""First three moments of the time the M/PH/k FCFS queue takes to go from :math:`k` jobs
    (entered by an arrival) back to :math:`k-1` jobs (see the module docstring)."""
    k, lam, s = int(servers), float(arrival_rate), float(server_speed)
    A0, A1, A2, D, cfg, cfg1 = _high_blocks(k, lam, ph, s)
    Ph = _busy_series(A0, A1, A2)
    d = D.sum(1)
    # the law of the phases when the k-th job arrives: stationary level k-1 of the high queue
    res = mphk_fcfs(k, lam, ph, s, levels=True)
    pk1 = res["levels"][k - 1]
    idx = {c: i for i, c in enumerate(cfg)}
    beta = np.zeros(len(cfg))
    for p, c in zip(pk1, cfg1, strict=True):
        for j in range(ph.phases):
            if ph.alpha[j] > 0:
                beta[idx[_plus(c, j)]] += p * ph.alpha[j]
    beta /= beta.sum()
    mom = [(-1.0) ** n * math.factorial(n) * float(beta @ Ph[n] @ d) for n in range(4)]
    return mom[1], mom[2], mom[3]


def _low_class_number(k: int, lam_h: float, mean_h: float, busy: PhaseType | None, lam_l: float,
                      ph_l: PhaseType, s: float) -> float:
    r""":math:`E[N_L]` of the two-class chain of the module docstring (a QBD in the number of
    low jobs, solved by logarithmic reduction and a sparse boundary solve)."""
    T = ph_l.T * s
    t = -T.sum(1)
    al = ph_l.alpha
    m = ph_l.phases
    mu_h = s / mean_h if lam_h > 0 else 0.0
    nb = busy.phases if (busy is not None and lam_h > 0) else 0
    hstates = (k if lam_h > 0 else 1) + nb           # h = 0..k-1, then the busy phases
    if nb:
        Tb = busy.T
        tb = -Tb.sum(1)
    levels = [_configs(min(n, k), m) for n in range(k + 1)]
    index = [{c: i for i, c in enumerate(cs)} for cs in levels]
    sizes = [hstates * len(cs) for cs in levels]
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    Lk = sizes[k]
    rows, cols, vals = [], [], []
    A1 = np.zeros((Lk, Lk))
    A2 = np.zeros((Lk, Lk))

    def st(n, h, ci):
        return offs[n] + h * len(levels[n]) + ci

    def add(r, c, v, n_from, n_to):
        if v == 0:
            return
        rows.append(r)
        cols.append(c)
        vals.append(v)
        if n_from == k and n_to == k:
            A1[r - offs[k], c - offs[k]] += v

    # levels 0..k; at level k also the repeating down block A2 (completion with a waiting job)
    for n in range(k + 1):
        j = min(n, k)
        for h in range(hstates):
            busy_h = h >= (k if lam_h > 0 else 1)
            served = 0 if busy_h else min(j, k - h)
            frac = served / j if j > 0 else 0.0
            for ci, c in enumerate(levels[n]):
                r = st(n, h, ci)
                out = 0.0
                # high class
                if lam_h > 0:
                    if not busy_h:
                        if h < k - 1:
                            add(r, st(n, h + 1, ci), lam_h, n, n)
                            out += lam_h
                        else:
                            for b in range(nb):
                                if busy.alpha[b] > 0:
                                    add(r, st(n, k + b, ci), lam_h * busy.alpha[b], n, n)
                            out += lam_h
                        if h > 0:
                            add(r, st(n, h - 1, ci), h * mu_h, n, n)
                            out += h * mu_h
                    else:
                        b = h - k
                        for b2 in range(nb):
                            if b2 != b and Tb[b, b2] > 0:
                                add(r, st(n, k + b2, ci), Tb[b, b2], n, n)
                        add(r, st(n, k - 1, ci), tb[b], n, n)
                        out += -Tb[b, b]
                # low arrivals
                if n < k:
                    for p in range(m):
                        if al[p] > 0:
                            c2 = list(c)
                            c2[p] += 1
                            add(r, st(n + 1, h, index[n + 1][tuple(c2)]), lam_l * al[p], n, n + 1)
                out += lam_l            # at level k the up block is lam_l I (A0)
                # low service
                if frac > 0:
                    for i in range(m):
                        if c[i] == 0:
                            continue
                        rate = c[i] * frac
                        out += rate * -T[i, i]
                        for i2 in range(m):
                            if i2 != i and T[i, i2] > 0:
                                c2 = list(c)
                                c2[i] -= 1
                                c2[i2] += 1
                                add(r, st(n, h, index[n][tuple(c2)]), rate * T[i, i2], n, n)
                        if t[i] > 0:
                            c2 = list(c)
                            c2[i] -= 1
                            if n <= k:
                                cc = tuple(c2)
                                add(r, st(n - 1, h, index[n - 1][cc]), rate * t[i], n, n - 1)
                            if n == k:
                                for p in range(m):
                                    if al[p] > 0:
                                        c3 = list(c2)
                                        c3[p] += 1
                                        A2[r - offs[k], st(k, h, index[k][tuple(c3)]) - offs[k]] += \
                                            rate * t[i] * al[p]
                rows.append(r)
                cols.append(r)
                vals.append(-out)
                if n == k:
                    A1[r - offs[k], r - offs[k]] -= out
    A0 = lam_l * np.eye(Lk)
    pi, R, inv_IR = solve_qbd(rows, cols, vals, offs, k, A0, A1, A2)
    one = np.ones(Lk)
    sk = int(offs[k])
    en = sum(n * float(pi[offs[n]:offs[n + 1]].sum()) for n in range(k))
    pik = pi[sk:]
    en += k * float(pik @ inv_IR @ one) + float(pik @ R @ inv_IR @ inv_IR @ one)
    return en


def priority_inputs(servers, arrival_rates, size_moments, server_speed):
    """Checked ``(k, s, lams, mom)`` of the priority-class models (per-server load < 1; zero
    rates allowed, not all); each error names the parameter."""
    k = int(servers)
    if k < 1:
        raise ValueError(f"servers must be >= 1, got servers={servers!r}")
    s = float(server_speed)
    if not s > 0:
        raise ValueError(f"server_speed must be > 0, got server_speed={server_speed!r}")
    lams = np.asarray(arrival_rates, float).ravel()
    mom = np.asarray(size_moments, float).reshape(-1, 3)
    if lams.size != mom.shape[0] or np.any(lams < 0) or not lams.sum() > 0:
        raise ValueError("arrival_rates must be >= 0 (not all 0), one per row of size_moments")
    if not np.all(np.isfinite(mom)) or np.any(mom <= 0):
        raise ValueError("size_moments must be finite and > 0")
    rho = float(lams @ mom[:, 0]) / (k * s)
    if not rho < 1:
        raise ValueError(f"per-server load {rho!r} must be < 1")
    return k, s, lams, mom


def mphk_priority(servers: int, arrival_rates, size_moments, server_speed: float = 1.0) -> dict:
    r"""Mean response time of each class of the M/G/k with preemptive-resume priority classes
    (class 0 first, FCFS within a class) by RDR-A (module docstring).

    Parameters
    ----------
    servers : int
    arrival_rates : sequence of float
        :math:`\lambda_0, \lambda_1, \dots` (highest priority first; zero rates allowed).
    size_moments : sequence of (float, float, float)
        :math:`(E[S_i], E[S_i^2], E[S_i^3])` per class (work units).
    server_speed : float

    Returns
    -------
    dict
        ``class_means`` (array of :math:`E[T_i]`, ``nan`` for a class of rate 0),
        ``mean_response_time`` (rate-weighted), ``phases`` (largest number of phases per level).
    """
    k, s, lams, mom = priority_inputs(servers, arrival_rates, size_moments, server_speed)
    out = np.full(lams.size, math.nan)
    lam_h = 0.0
    mh = np.zeros(3)
    phases = 0
    for i in range(lams.size):
        li = lams[i]
        if li > 0:
            ph_l = _low_fit(k, mom[i], 1 if lam_h <= 0 else k + 2)
            busy = None
            mean_h = 1.0
            if lam_h > 0:
                mean_h = mh[0] / lam_h
                ph_h = fit_two_phase(*(mh / lam_h))
                b1, b2, b3 = busy_period_moments(k, lam_h, ph_h, s)
                busy = fit_two_phase(b1, b2, b3)
            en = _low_class_number(k, lam_h, mean_h, busy, li, ph_l, s)
            out[i] = en / li
            phases = max(phases, ((k if lam_h > 0 else 1) + (busy.phases if busy else 0))
                         * len(_configs(k, ph_l.phases)))
        lam_h += li
        mh = mh + li * mom[i]
    w = lams > 0
    mean = float(np.sum(lams[w] * out[w]) / lams[w].sum())
    return {"class_means": out, "mean_response_time": mean, "phases": phases}


__all__ = ["mphk_priority", "busy_period_moments", "fit_two_phase", "REF_RDR"]
