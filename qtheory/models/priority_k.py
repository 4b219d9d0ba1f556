r"""Preemptive priority classes on :math:`k` servers: recursive dimensionality reduction with
busy-period transitions that keep the phases of both classes.

Model
-----
Classes :math:`1, \dots, m` (class 1 first) arrive as independent Poisson streams of rates
:math:`\lambda_i`, with sizes :math:`S_i` given by their first three moments, at :math:`k`
servers of speed :math:`s` (central queue, preempt-resume). The :math:`k` jobs of the best
classes are in service, FCFS within a class. With predictions bucketed into :math:`m` classes
(class :math:`i` the :math:`i`-th interval of predictions) this is PSPJF-k on the bucketed
predictions.

Method
------
This is the recursive dimensionality reduction (RDR) of Harchol-Balter, Osogami,
Scheller-Wolf and Wierman, "Multi-server queueing systems with multiple priority classes",
Queueing Systems 51(3-4):331-360 (2005), with the higher classes aggregated (their RDR-A):
classes :math:`\le i` never see the classes :math:`> i`, so class :math:`i` is the *low* class
of a two-class system whose *high* class :math:`H` aggregates the classes :math:`< i` (rate
:math:`\Lambda = \sum_{j<i}\lambda_j`, size law the mixture, fitted by a two-phase PH law
:math:`(\boldsymbol\alpha_H, T_H)` on three moments), and

.. math::
    E[T_i] = \frac{E[N^{(i)}_L]}{\lambda_i}

with :math:`E[N^{(i)}_L]` the mean number of low jobs of a two-class chain solved exactly as a
quasi-birth-death process (QBD) in the number :math:`n` of low jobs. Its phases:

* **high part.** Fewer than :math:`k` high jobs: their phase counts
  :math:`\mathbf c \in \mathbb N^2`, :math:`|\mathbf c| = h < k`, exactly as in the M/PH/k chain
  of the high class. :math:`k` or more: a *busy period* (the first passage of the high M/PH/k
  chain from :math:`k` to :math:`k-1` jobs), during which the low class has no server. The
  busy period depends on the configuration :math:`\mathbf s` at level :math:`k` that starts it
  (:math:`\mathbf c + \mathbf e_j` when a job arriving at :math:`\mathbf c`, :math:`|\mathbf c|
  = k-1`, starts in phase :math:`j`), and it ends in a configuration :math:`\mathbf e` at level
  :math:`k-1`. With :math:`G(z) = \sum_n G_n z^n` the first-passage matrix of the high chain
  above level :math:`k` (Laplace variable :math:`z`, :math:`A_2 + (A_1 - zI)G + A_0G^2 = 0`,
  solved order by order from :math:`G_0`) and :math:`D` the completion rates from level
  :math:`k` to level :math:`k-1`,

  .. math::
      E\big[e^{-zB}\,1\{\text{ends in } \mathbf e\} \mid \mathbf s\big]
      = \big[(zI - A_1 - A_0 G(z))^{-1} D\big]_{\mathbf s \mathbf e},

  whose power series gives :math:`E[B^n 1\{\mathbf e\}\mid\mathbf s]`, :math:`n \le 3`. Each
  start :math:`\mathbf s` gets its own two-phase PH law matching the three moments of
  :math:`B \mid \mathbf s` (the *busy-period transitions* of HOSW), and the busy period ends in
  :math:`\mathbf e` with probability :math:`P(\mathbf e \mid \mathbf s)` (drawn independently of
  its length: the one simplification against HOSW's pairwise busy periods).
* **low part.** The :math:`J = \min(n, k)` oldest low jobs are the only ones that can have
  been served (a job never moves back in the FCFS order of its class). With :math:`a` servers
  left by the high class (:math:`k - h`, or 0 in a busy period), the :math:`u = \min(J, a)`
  oldest are in service. The state holds the phase counts :math:`\mathbf S` of the served jobs
  (a two-phase PH fit of :math:`S_i`) and :math:`\mathbf U` of the :math:`J - u` unserved
  ones among the oldest :math:`J` (preempted jobs keep their phase; a job that has not
  started draws its phase from :math:`\boldsymbol\alpha`). When the high class takes a
  server, the job preempted is drawn in proportion to :math:`\mathbf S`; when a server is
  freed, the job resumed is drawn in proportion to :math:`\mathbf U` (the chain does not keep
  their order). A completion at :math:`n > k` brings the next waiting job into the oldest
  :math:`J`.

Exact cases: class 1 (no high class: :math:`\mathbf U` stays empty and the chain is the M/PH/k
FCFS chain of the fit, :func:`qtheory.models.mphk.mphk_fcfs`); one server (the M/G/1
preemptive priority queue, whose mean depends on two moments of each class and of the busy
periods, all matched where :math:`C^2 \ge 1/2`: Kleinrock's formula to :math:`10^{-9}`);
exponential sizes of one rate :math:`\mu`, where the number of jobs of classes :math:`\le i` is the
M/M/k chain at rate :math:`\Lambda_i`, so :math:`E[N_i] = E[N^{M/M/k}](\Lambda_i) -
E[N^{M/M/k}](\Lambda_{i-1})` (``mmk_priority``): the chain reproduces it to :math:`10^{-14}`
although its busy period is a two-phase fit of the M/M/1 busy period at rate :math:`k\mu` (as
in HOSW's M/M/k tests, the low class's mean sees the busy period through the three moments
matched).

Cost: the repeating blocks have :func:`_level_phases` phases (29 at :math:`k = 2`, 130 at
:math:`k = 4`, 232 at :math:`k = 5`, 906 at :math:`k = 8` with two-phase fits), dense, so
logarithmic reduction grows as their cube: 0.01 / 0.03 / 0.1 / 4 s a class on one core.
:func:`feasible` allows up to :data:`MAX_PHASES` (:math:`k \le 5`).

Derivation and measured accuracy: ``docs/multiserver.md`` (section 5, "Priority classes on
k servers").
"""

from __future__ import annotations

import math

import numpy as np

from ..laws.phase_type import PhaseType, fit_moments
from .mphk import _configs, mphk_fcfs, solve_qbd
from .mphk_priority import (
    _busy_series,
    _high_blocks,
    _minus,
    _move,
    _plus,
    busy_period_moments,
    fit_two_phase,
    priority_inputs,
)

REF_RDR_T = ("Harchol-Balter, Osogami, Scheller-Wolf, Wierman, 'Multi-server queueing systems with multiple "
             "priority classes', Queueing Systems 51(3-4):331-360 (2005): recursive dimensionality reduction "
             "with busy-period transitions (higher classes aggregated; busy periods per starting phase "
             "configuration fitted on three moments; phases of both classes kept)")


def busy_period_transitions(servers: int, arrival_rate: float, ph: PhaseType, server_speed: float = 1.0,
                            joint: bool = False):
    r"""The busy periods of the M/PH/k FCFS queue (first passage from :math:`k` jobs to
    :math:`k-1`) by starting configuration: ``(starts, moments, exits, cfg_k, cfg_k1)`` with
    ``moments[s] = (E[B|s], E[B^2|s], E[B^3|s])`` and ``exits[s, e]`` :math:`= P(\text{ends in }
    e \mid s)` for each level-:math:`k` configuration ``s`` (rows of ``cfg_k``; ``starts`` the
    indices reachable from level :math:`k-1`). With ``joint=True`` also the array
    :math:`E[B^n 1\{\text{ends in } e\} \mid s]`, shape ``(len(cfg_k), len(cfg_k1), 3)``. See the
    module docstring for the formula."""
    k, lam, s = int(servers), float(arrival_rate), float(server_speed)
    A0, A1, A2, D, cfg, cfg1 = _high_blocks(k, lam, ph, s)
    Ph = _busy_series(A0, A1, A2)
    F = [(-1.0) ** n * math.factorial(n) * (Ph[n] @ D) for n in range(4)]
    exits = F[0]
    mom = np.stack([F[n].sum(1) for n in (1, 2, 3)], axis=1)
    starts = sorted({cfg.index(_plus(c, j)) for c in cfg1 for j in range(ph.phases) if ph.alpha[j] > 0})
    if joint:
        return starts, mom, exits, cfg, cfg1, np.stack(F[1:], axis=2)
    return starts, mom, exits, cfg, cfg1


def _draw(S: tuple, U: tuple, r: int, take_from_S: bool):
    """Move ``r`` jobs from S to U (``take_from_S``) or from U to S, each drawn in proportion to
    the phase counts of its source: a list of ((S', U'), probability)."""
    out = {(S, U): 1.0}
    for _ in range(r):
        nxt: dict = {}
        for (a, b), p in out.items():
            src = a if take_from_S else b
            tot = sum(src)
            for i, ci in enumerate(src):
                if ci == 0:
                    continue
                a2, b2 = (_minus(a, i), _plus(b, i)) if take_from_S else (_plus(a, i), _minus(b, i))
                nxt[(a2, b2)] = nxt.get((a2, b2), 0.0) + p * ci / tot
        out = nxt
    return list(out.items())


def _low_class_number(k: int, lam_h: float, ph_h: PhaseType | None, lam_l: float, ph_l: PhaseType,
                      s: float, high_phases: bool = True, low_order: bool = True,
                      pairs: bool = False) -> tuple[float, int]:
    r""":math:`E[N_L]` of the two-class chain of the module docstring and its phases per level.
    With ``high_phases=False`` the high jobs below :math:`k` are counted only, each completing at
    rate :math:`s/E[S_H]`, and one busy period (started from the stationary phases at level
    :math:`k-1`, as in :func:`qtheory.models.mphk_priority.busy_period_moments`) serves every
    start: fewer phases, for many servers. With ``pairs=True`` a busy period is fitted for each
    (start, end) pair on the moments of :math:`B` given both (HOSW's pairwise busy periods)."""
    # -- high states and their transitions: (label, servers left to the low class)
    hstates: list = []
    if lam_h > 0 and not high_phases:
        b1, b2, b3 = busy_period_moments(k, lam_h, ph_h, s)
        ph_h = PhaseType(np.array([1.0]), np.array([[-1.0 / ph_h.moment(1)]]))
        starts, bmom, exits = [0], np.array([[b1, b2, b3]]), np.array([[1.0]])
        jmom = bmom[:, None, :]
        cfgk, cfgk1 = [(k,)], [(k - 1,)]
    elif lam_h > 0:
        starts, bmom, exits, cfgk, cfgk1, jmom = busy_period_transitions(k, lam_h, ph_h, s, joint=True)
    mh = ph_h.phases if ph_h is not None else 1
    # busy types: (start, end or None, PH law, probability given the start, exit law over cfgk1)
    btypes: dict = {}
    if lam_h > 0:
        for h in range(k):
            for c in _configs(h, mh):
                hstates.append(("c", c))
        for st in starts:
            if pairs:
                for e, pe in enumerate(exits[st]):
                    if pe > 1e-12:
                        one = np.zeros(len(cfgk1))
                        one[e] = 1.0
                        btypes[(st, e)] = (fit_two_phase(*(jmom[st, e] / pe)), pe, one)
            else:
                btypes[(st, None)] = (fit_two_phase(*bmom[st]), 1.0, exits[st])
        for key, (ph_b, _, _) in btypes.items():
            for b in range(ph_b.phases):
                hstates.append(("b", key, b))
        Th = ph_h.T * s
        th = -Th.sum(1)
        ah = ph_h.alpha
    else:
        hstates.append(("c", (0,)))
    hidx = {hs: i for i, hs in enumerate(hstates)}
    by_start: dict = {}
    for key in btypes:
        by_start.setdefault(key[0], []).append(key)

    def avail(hs) -> int:
        return k - sum(hs[1]) if hs[0] == "c" else 0

    htrans: list[list] = []
    for hs in hstates:
        tr = []
        if lam_h > 0 and hs[0] == "c":
            c = hs[1]
            h = sum(c)
            for j in range(mh):
                if ah[j] <= 0:
                    continue
                if h < k - 1:
                    tr.append((hidx[("c", _plus(c, j))], lam_h * ah[j]))
                else:
                    for key in by_start[cfgk.index(_plus(c, j))]:
                        ph_b, pk, _ = btypes[key]
                        for b in range(ph_b.phases):
                            if ph_b.alpha[b] > 0:
                                tr.append((hidx[("b", key, b)], lam_h * ah[j] * pk * ph_b.alpha[b]))
            for i in range(mh):
                if c[i] == 0:
                    continue
                for j in range(mh):
                    if j != i and Th[i, j] > 0:
                        tr.append((hidx[("c", _move(c, i, j))], c[i] * Th[i, j]))
                if th[i] > 0:
                    tr.append((hidx[("c", _minus(c, i))], c[i] * th[i]))
        elif lam_h > 0:
            _, key, b = hs
            ph_b, _, ex = btypes[key]
            Tb = ph_b.T
            tb = -Tb.sum(1)
            for b2 in range(ph_b.phases):
                if b2 != b and Tb[b, b2] > 0:
                    tr.append((hidx[("b", key, b2)], Tb[b, b2]))
            for e, pe in enumerate(ex):
                if pe > 1e-14:
                    tr.append((hidx[("c", cfgk1[e])], tb[b] * pe))
        htrans.append(tr)

    # -- low part
    ml = ph_l.phases
    Tl = ph_l.T * s
    tl = -Tl.sum(1)
    al = ph_l.alpha
    cfg_cache: dict = {}

    def cfgs(n):
        if n not in cfg_cache:
            cfg_cache[n] = _configs(n, ml)
        return cfg_cache[n]

    def split(hs) -> int:
        """servers the partition S/U is made at: with ``low_order=False`` every one of the
        oldest J jobs is in S and they share the servers left (rate factor in ``share``)"""
        return avail(hs) if low_order else k

    def share(hi: int, J: int) -> float:
        return 1.0 if low_order or J == 0 else min(J, avail(hstates[hi])) / J

    def level_states(J):
        out = []
        for hi, hs in enumerate(hstates):
            u = min(J, split(hs))
            for S in cfgs(u):
                for U in cfgs(J - u):
                    out.append((hi, S, U))
        return out

    levels = [level_states(min(n, k)) for n in range(k + 1)]
    index = [{st: i for i, st in enumerate(lv)} for lv in levels]
    sizes = [len(lv) for lv in levels]
    offs = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    Lk = sizes[k]

    def transitions(n: int, st):
        """(level', state', rate) out of (n, st), n <= k + 1 (n = k + 1 gives the repeating
        blocks: the same states as level k)."""
        hi, S, U = st
        J = min(n, k)
        out = []
        # high class
        for hj, rate in htrans[hi]:
            a2 = split(hstates[hj])
            u2 = min(J, a2)
            u = sum(S)
            if u2 < u:
                moved = _draw(S, U, u - u2, True)
            elif u2 > u:
                moved = _draw(S, U, u2 - u, False)
            else:
                moved = [((S, U), 1.0)]
            for (S2, U2), p in moved:
                out.append((n, (hj, S2, U2), rate * p))
        # low arrivals
        if n < k:
            a = split(hstates[hi])
            for p in range(ml):
                if al[p] > 0:
                    if sum(S) < a:
                        out.append((n + 1, (hi, _plus(S, p), U), lam_l * al[p]))
                    else:
                        out.append((n + 1, (hi, S, _plus(U, p)), lam_l * al[p]))
        # low service
        f = share(hi, J)
        for i in range(ml):
            if S[i] == 0:
                continue
            for j in range(ml):
                if j != i and Tl[i, j] > 0:
                    out.append((n, (hi, _move(S, i, j), U), f * S[i] * Tl[i, j]))
            if tl[i] <= 0:
                continue
            rate = f * S[i] * tl[i]
            S1 = _minus(S, i)
            fresh = n > k
            if sum(U) > 0:
                tot = sum(U)
                for j, uj in enumerate(U):
                    if uj == 0:
                        continue
                    S2, U2 = _plus(S1, j), _minus(U, j)
                    if fresh:
                        for p in range(ml):
                            if al[p] > 0:
                                out.append((n - 1, (hi, S2, _plus(U2, p)), rate * uj / tot * al[p]))
                    else:
                        out.append((n - 1, (hi, S2, U2), rate * uj / tot))
            elif fresh:
                for p in range(ml):
                    if al[p] > 0:
                        out.append((n - 1, (hi, _plus(S1, p), U), rate * al[p]))
            else:
                out.append((n - 1, (hi, S1, U), rate))
        return out

    rows, cols, vals = [], [], []
    for n in range(k + 1):
        for i, st in enumerate(levels[n]):
            r = offs[n] + i
            tot = lam_l if n == k else 0.0       # level k: the up block A0 = lam_l I
            for n2, st2, rate in transitions(n, st):
                tot += rate
                rows.append(r)
                cols.append(offs[n2] + index[n2][st2])
                vals.append(rate)
            rows.append(r)
            cols.append(r)
            vals.append(-tot)
    # repeating blocks from the level-(k+1) transitions (same states as level k)
    A1 = np.zeros((Lk, Lk))
    A2 = np.zeros((Lk, Lk))
    for i, st in enumerate(levels[k]):
        tot = lam_l
        for n2, st2, rate in transitions(k + 1, st):
            tot += rate
            j = index[k][st2]
            if n2 == k + 1:
                A1[i, j] += rate
            else:
                A2[i, j] += rate
        A1[i, i] -= tot
    A0 = lam_l * np.eye(Lk)
    pi, R, inv_IR = solve_qbd(rows, cols, vals, offs, k, A0, A1, A2)
    one = np.ones(Lk)
    sk = int(offs[k])
    en = sum(n * float(pi[offs[n]:offs[n + 1]].sum()) for n in range(k))
    pik = pi[sk:]
    en += k * float(pik @ inv_IR @ one) + float(pik @ R @ inv_IR @ inv_IR @ one)
    return en, Lk


#: most phases per level of a two-class chain (the QBD's repeating blocks are dense: logarithmic
#: reduction costs about 20 products of such matrices, 0.1 s at 300 phases on one core)
MAX_PHASES = 300


def _level_phases(k: int, mh: int, ml: int, nbusy: int) -> int:
    """Phases per level (n >= k) of the two-class chain: high configurations below k (``mh``
    phases) and ``nbusy`` busy phases, times the splits of the k oldest low jobs (``ml`` phases)
    into served and unserved."""
    tot = 0
    for h in range(k):
        u = k - h
        tot += math.comb(h + mh - 1, mh - 1) * math.comb(u + ml - 1, ml - 1) * math.comb(h + ml - 1, ml - 1)
    return tot + nbusy * math.comb(k + ml - 1, ml - 1)


def low_fit(mom, k: int, mh: int, nbusy: int, max_phases: int = MAX_PHASES) -> PhaseType:
    r"""The PH fit of a low class: for :math:`C^2 < 1/2` the Erlang mixture of
    :func:`qtheory.laws.phase_type.fit_moments` (:math:`\lceil 1/C^2 \rceil` phases, two
    moments) when the chain keeps at most ``max_phases`` phases per level, otherwise
    :func:`qtheory.models.mphk_priority.fit_two_phase` (three moments for :math:`C^2 \ge 1`, two
    for :math:`1/2 \le C^2 < 1`, Erlang-2 below)."""
    c2 = mom[1] / mom[0] ** 2 - 1.0
    if 0 < c2 < 0.5 and _level_phases(k, mh, math.ceil(1.0 / c2 - 1e-12), nbusy) <= max_phases:
        return fit_moments(*mom)
    return fit_two_phase(*mom)


def feasible(servers: int, classes: int, max_phases: int = MAX_PHASES) -> bool:
    """Whether :func:`priority_k` stays under ``max_phases`` phases per level with two-phase
    fits (its cost grows about as the cube of that number)."""
    k = int(servers)
    if classes <= 1 or k == 1:
        return True
    return _level_phases(k, 2, 2, 2 * (k + 1)) <= max_phases


def priority_k(servers: int, arrival_rates, size_moments, server_speed: float = 1.0,
               max_phases: int = MAX_PHASES) -> dict:
    r"""Mean response time of each class of the M/G/k with preemptive-resume priority classes
    (class 0 first, FCFS within a class) by recursive dimensionality reduction with busy-period
    transitions (module docstring; Harchol-Balter, Osogami, Scheller-Wolf, Wierman, Queueing
    Systems 51, 2005):

    .. math::
        E[T_i] = \frac{E[N_L^{(i)}]}{\lambda_i},\qquad
        E[T] = \frac{\sum_i \lambda_i E[T_i]}{\sum_i \lambda_i},

    :math:`E[N_L^{(i)}]` the mean number of low jobs in the two-class chain whose high class
    aggregates the classes before :math:`i`.

    Parameters
    ----------
    servers : int
    arrival_rates : sequence of float
        :math:`\lambda_0, \lambda_1, \dots` (highest priority first; zero rates allowed).
    size_moments : sequence of (float, float, float)
        :math:`(E[S_i], E[S_i^2], E[S_i^3])` per class (work units).
    server_speed : float
    max_phases : int
        Most phases per level of a two-class chain; ``ValueError`` above (see :func:`feasible`).

    Returns
    -------
    dict
        ``class_means`` (array of :math:`E[T_i]`, ``nan`` for a class of rate 0),
        ``mean_response_time`` (rate-weighted), ``phases`` (largest number of phases per level),
        ``two_moments`` (whether every PH fit, of the classes and of the aggregated higher
        classes, reproduces the first two moments; not for :math:`C^2 < 1/2` where the state
        budget forces an Erlang-2).
    """
    k, s, lams, mom = priority_inputs(servers, arrival_rates, size_moments, server_speed)
    out = np.full(lams.size, math.nan)
    lam_h = 0.0
    mh = np.zeros(3)
    phases = 0
    two = True

    def matched(ph: PhaseType, m) -> bool:
        return abs(ph.moment(2) / m[1] - 1.0) < 1e-6

    for i in range(lams.size):
        li = lams[i]
        if li > 0:
            if lam_h > 0:
                ph_h = fit_two_phase(*(mh / lam_h))
                nb = 2 * math.comb(k + ph_h.phases - 1, ph_h.phases - 1)
                ph_l = low_fit(mom[i], k, ph_h.phases, nb, max_phases)
                need = _level_phases(k, ph_h.phases, ph_l.phases, nb)
                if need > max_phases:
                    raise ValueError(f"the two-class chain needs about {need} phases per level, more than "
                                     f"max_phases={max_phases} (servers={k}); see feasible()")
                two = two and matched(ph_h, mh / lam_h) and matched(ph_l, mom[i])
                en, L = _low_class_number(k, lam_h, ph_h, li, ph_l, s)
            else:
                c2 = mom[i][1] / mom[i][0] ** 2 - 1.0
                r = math.ceil(1.0 / c2 - 1e-12) if 0 < c2 < 1 else 2
                # class 1 alone is the M/PH/k FCFS chain: binom(k + r - 1, k) phases per level
                ph_l = fit_moments(*mom[i]) if c2 > 0 and math.comb(k + r - 1, k) <= 4 * max_phases \
                    else fit_two_phase(*mom[i])
                two = two and matched(ph_l, mom[i])
                res = mphk_fcfs(k, li, ph_l, s)
                en, L = li * res["mean_response_time"], res["states"]
            out[i] = en / li
            phases = max(phases, int(L))
        lam_h += li
        mh = mh + li * mom[i]
    w = lams > 0
    mean = float(np.sum(lams[w] * out[w]) / lams[w].sum())
    return {"class_means": out, "mean_response_time": mean, "phases": phases, "two_moments": bool(two)}


__all__ = ["priority_k", "busy_period_transitions", "feasible", "low_fit", "MAX_PHASES", "REF_RDR_T"]
