r"""Non-preemptive priority classes on :math:`k` servers: a two-class chain with busy-period
transitions, and class means from the queued work of each cut.

Model
-----
Classes :math:`1, \dots, m` (class 1 first) arrive as independent Poisson streams of rates
:math:`\lambda_i`, with sizes :math:`S_i` (first three moments), at :math:`k` servers of speed
:math:`s`, central queue. A job in service is never interrupted; a freed server takes the first
waiting job of the best class (FCFS within a class), and an arriving job starts at once when a
server is free. With predictions in :math:`m` classes this is SPJF-k; with sizes bucketed into
:math:`m` classes, SJF-k on the buckets.

Two classes: the chain
----------------------
With a high class :math:`H` and a low class :math:`L`, the high class is *not* independent of
the low one (a high job can find servers held by low jobs), so the preemptive reduction (the
high class an M/PH/k queue of its own) does not apply. What does hold: while a high job waits,
no low job starts, the low jobs in service finish at their own pace and each finish hands its
server to a high job. So the *high-waiting period* (from a high arrival that finds every server
busy and none waiting, to the next moment no high job waits) is a first passage of a
quasi-birth-death process (QBD) whose level is the number :math:`e \ge 1` of waiting high jobs
and whose phase is the *full configuration* :math:`x = (\mathbf c_L, \mathbf c_H)`: the phase
counts of the low and of the high jobs in service (two-phase PH fits of :math:`S_L`, :math:`S_H`),
:math:`|\mathbf c_L| + |\mathbf c_H| = k`. Its blocks: up :math:`A_0 = \lambda_H I`; local
:math:`A_1` the phase changes; down :math:`A_2` the completions, a high one
(:math:`\mathbf c_H - \mathbf e_i + \mathbf e_j`, the waiting job starting in phase :math:`j`
with probability :math:`\alpha_{H,j}`) or a low one (:math:`\mathbf c_L - \mathbf e_i`,
:math:`\mathbf c_H + \mathbf e_j`). Its first-passage matrix :math:`G(z) = \sum_n G_n z^n`
(Laplace variable :math:`z`),

.. math::
    A_2 + (A_1 - zI)G(z) + A_0 G(z)^2 = 0, \qquad
    G(z)_{xy} = E\big[e^{-zB} 1\{\text{ends in } y\} \mid \text{starts in } x\big],

is solved order by order: :math:`(A_1 + \lambda_H G_0)G_n + G_n\,\lambda_H G_0 = G_{n-1} -
\lambda_H\sum_{j=1}^{n-1} G_j G_{n-j}` (a Sylvester equation), and
:math:`E[B^n 1\{y\}\mid x] = (-1)^n n!\,(G_n)_{xy}`.

The chain of the low class has for level the number :math:`q` of *waiting* low jobs and for
phase either a configuration without waiting high jobs (:math:`(\mathbf c_L, \mathbf c_H)`
with :math:`|\mathbf c_L| + |\mathbf c_H| \le k`, full when :math:`q \ge 1`) or a phase of a
high-waiting period, entered from a full configuration :math:`x` by a high arrival. The periods
started in :math:`x` are split by the number :math:`u` of low jobs still in service at their
end (probability :math:`\sum_{y: u(y) = u}(G_0)_{xy}`); each (start, :math:`u`) is a PH law
matching the three moments of :math:`B` given both (:func:`_period_fit`), and ends in :math:`y`
with probability :math:`P(y \mid x, u)` drawn independently of its length (the busy-period
transitions of Harchol-Balter, Osogami, Scheller-Wolf and Wierman, Queueing Systems 51, 2005,
grouped by :math:`u`: without that split the length of a period and the low jobs it lets finish
are decoupled, 0.7-4.5% off an exact chain). A period changes neither :math:`q` (no low job
starts in it) nor anything else the chain needs: the low completions in it are in the end
configuration :math:`y`.
Outside a period a freed server takes a waiting low job (:math:`q - 1`) or idles. So

.. math::
    E[W_L] = \frac{E[q]}{\lambda_L} = \frac{\boldsymbol\pi_1 (I - R)^{-2}\mathbf 1}{\lambda_L},
    \qquad
    E[W_H] = \frac{1}{\lambda_H}\sum_x \lambda_H\,\bar\pi(x)\,
    \big[N (I - R_B)^{-2}\mathbf 1\big]_x,

with :math:`\bar\pi(x)` the stationary probability of the full configuration :math:`x` outside
a period (any :math:`q`), :math:`N = (-(A_1 + \lambda_H G_0))^{-1}` the expected times at level
1 of the high-waiting QBD before it ends and :math:`R_B = \lambda_H N`: the second factor is
the expected area under the number of waiting high jobs over a period started in :math:`x`
(exact), and periods start at rate :math:`\lambda_H\bar\pi(x)` from :math:`x` (PASTA).
:math:`E[T] = E[W] + E[S]/s`. The only approximations against the M/PH/k model of the two
fits are the three-moment PH laws of the periods and their end drawn given :math:`u` only.

More classes: the work of a cut
-------------------------------
For each cut :math:`c = 1, \dots, m-1` the two-class chain with :math:`H` the classes
:math:`\le c` (rate :math:`\Lambda_c`, size law their mixture) and :math:`L` the others gives
the waits :math:`W^{hi}_c` and :math:`W^{lo}_c`. On one server the waiting work of the classes
:math:`\le c` does not depend on their order among themselves, so

.. math::
    \rho_i E[W_i] = \varrho_i W^{hi}_i - \varrho_{i-1} W^{hi}_{i-1},\qquad
    \varrho_c = \sum_{j \le c}\rho_j,

with :math:`E[W_1] = W^{hi}_1` and :math:`E[W_m] = W^{lo}_{m-1}`: on one server this is
Cobham's formula exactly. On :math:`k` servers the order within a cut changes its waiting work
a little (it is exact for exponential sizes of one rate, where work is proportional to the
number of jobs); that is the approximation for :math:`m \ge 3`, measured in
``docs/multiserver.md`` (section 5).

Cost: :math:`F = \sum_{j=0}^{k}(j+1)(k-j+1)` full configurations with two-phase fits (10 at
:math:`k = 2`, 35 at :math:`k = 4`, 84 at :math:`k = 6`, 165 at :math:`k = 8`) plus the period
phases, about :math:`F(k+1)` of them: 44 / 267 / 531 / 978 / 2790 phases per level at
:math:`k = 2, 4, 5, 6, 8`, dense, one chain per cut (0.02 / 0.2-0.6 / 2 / 9 / 140 s a chain on
one loaded core); :func:`feasible` says where a routed value stays fast.

Derivation and measured accuracy: ``docs/multiserver.md`` (section 5, "Non-preemptive priority
classes on k servers").
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg

from ..laws.phase_type import PhaseType, fit_moments
from .mphk import _configs, _g_logarithmic_reduction, solve_qbd
from .mphk_priority import _minus, _move, _plus, fit_two_phase, priority_inputs

REF_RDR_NP = ("non-preemptive priority classes on k servers: a two-class chain with busy-period transitions "
              "(high-waiting periods fitted per starting configuration on three moments, as in Harchol-Balter, "
              "Osogami, Scheller-Wolf, Wierman, Queueing Systems 51(3-4):331-360, 2005), class means from the "
              "waiting work of each cut (Cobham's formula on one server)")


def _full_configs(k: int, ml: int, mh: int) -> list[tuple[tuple, tuple]]:
    """The configurations (low phase counts, high phase counts) with k jobs in service."""
    return [(cl, ch) for j in range(k + 1) for cl in _configs(j, ml) for ch in _configs(k - j, mh)]


def _partial_configs(k: int, ml: int, mh: int) -> list[tuple[tuple, tuple]]:
    """The configurations with fewer than k jobs in service."""
    return [(cl, ch) for n in range(k) for j in range(n + 1) for cl in _configs(j, ml)
            for ch in _configs(n - j, mh)]


def full_count(k: int, ml: int, mh: int) -> int:
    """The number of full configurations (k jobs in service, ``ml``/``mh`` phases)."""
    return sum(math.comb(j + ml - 1, ml - 1) * math.comb(k - j + mh - 1, mh - 1) for j in range(k + 1))


def _fits(k: int, mom_h, mom_l, max_configs: int) -> tuple[PhaseType, PhaseType]:
    r"""PH fits of the two classes: :func:`qtheory.models.mphk_priority.fit_two_phase`, and for a
    law with :math:`C^2 < 1/2` the Erlang mixture of :func:`qtheory.laws.phase_type.fit_moments`
    (:math:`\lceil 1/C^2\rceil` phases, two moments) while the chain keeps at most ``max_configs``
    full configurations (the more variable class first)."""
    fits = [fit_two_phase(*mom_h), fit_two_phase(*mom_l)]
    c2 = [m[1] / m[0] ** 2 - 1.0 for m in (mom_h, mom_l)]
    for i in sorted(range(2), key=lambda i: -c2[i]):
        if 0 < c2[i] < 0.5:
            fine = fit_moments(*(mom_h, mom_l)[i])
            trial = list(fits)
            trial[i] = fine
            if full_count(k, trial[1].phases, trial[0].phases) <= max_configs:
                fits = trial
    return fits[0], fits[1]


#: most phases of the PH law of one high-waiting period (an Erlang mixture for C^2 < 1/2)
MAX_PERIOD_PHASES = 8


def _period_fit(mom) -> PhaseType:
    r"""The PH law of a high-waiting period from its three moments: :func:`fit_two_phase` for
    :math:`C^2 \ge 1/2`, else the Erlang mixture of :func:`qtheory.laws.phase_type.fit_moments`
    (two moments, :math:`\lceil 1/C^2\rceil` phases, at most :data:`MAX_PERIOD_PHASES`)."""
    c2 = mom[1] / mom[0] ** 2 - 1.0
    if 1.0 / MAX_PERIOD_PHASES <= c2 < 0.5:
        return fit_moments(*mom)
    return fit_two_phase(*mom)


def _waiting_period_blocks(k: int, lam_h: float, ph_h: PhaseType, ph_l: PhaseType, s: float):
    """``A0, A1, A2`` of the high-waiting QBD (level: waiting high jobs; phase: full
    configuration) and the configurations."""
    full = _full_configs(k, ph_l.phases, ph_h.phases)
    idx = {x: i for i, x in enumerate(full)}
    F = len(full)
    Th, Tl = ph_h.T * s, ph_l.T * s
    th, tl = -Th.sum(1), -Tl.sum(1)
    ah = ph_h.alpha
    A1 = np.zeros((F, F))
    A2 = np.zeros((F, F))
    for xi, (cl, ch) in enumerate(full):
        out = lam_h
        for i in range(ph_h.phases):
            if ch[i] == 0:
                continue
            out += ch[i] * -Th[i, i]
            for j in range(ph_h.phases):
                if j != i and Th[i, j] > 0:
                    A1[xi, idx[(cl, _move(ch, i, j))]] += ch[i] * Th[i, j]
                if ah[j] > 0 and th[i] > 0:
                    A2[xi, idx[(cl, _move(ch, i, j))]] += ch[i] * th[i] * ah[j]
        for i in range(ph_l.phases):
            if cl[i] == 0:
                continue
            out += cl[i] * -Tl[i, i]
            for j in range(ph_l.phases):
                if j != i and Tl[i, j] > 0:
                    A1[xi, idx[(_move(cl, i, j), ch)]] += cl[i] * Tl[i, j]
            if tl[i] > 0:
                for j in range(ph_h.phases):
                    if ah[j] > 0:
                        A2[xi, idx[(_minus(cl, i), _plus(ch, j))]] += cl[i] * tl[i] * ah[j]
        A1[xi, xi] -= out
    return lam_h * np.eye(F), A1, A2, full


def waiting_periods(k: int, lam_h: float, ph_h: PhaseType, ph_l: PhaseType, s: float = 1.0) -> dict:
    r"""The high-waiting periods (module docstring) by starting configuration: ``exits``
    (:math:`G_0`, rows summing to 1), ``joint`` (:math:`E[B^n 1\{y\}\mid x]`, shape ``(F, F, 3)``),
    ``moments`` (:math:`E[B^n\mid x]`, shape ``(F, 3)``), ``area`` (expected area under the number
    of waiting high jobs over a period, per start) and ``full`` (the configurations)."""
    A0, A1, A2, full = _waiting_period_blocks(k, lam_h, ph_h, ph_l, s)
    F = len(full)
    G0 = _g_logarithmic_reduction(A0, A1, A2)
    M = A1 + lam_h * G0
    Gs = [G0]
    for n in range(1, 4):
        C = Gs[n - 1].copy()
        for j in range(1, n):
            C = C - lam_h * Gs[j] @ Gs[n - j]
        Gs.append(linalg.solve_sylvester(M, lam_h * G0, C))
    joint = np.stack([(-1.0) ** n * math.factorial(n) * Gs[n] for n in (1, 2, 3)], axis=2)
    N = np.linalg.inv(-M)
    IR = np.linalg.inv(np.eye(F) - lam_h * N)
    area = N @ IR @ IR @ np.ones(F)
    return {"exits": G0, "joint": joint, "moments": joint.sum(1), "area": area, "full": full}


def two_class_waits(servers: int, lam_h: float, mom_h, lam_l: float, mom_l, server_speed: float = 1.0,
                    pairs: bool | str = "ul", max_configs: int = 0) -> dict:
    r"""Mean waits :math:`E[W_H]`, :math:`E[W_L]` of the two-class non-preemptive chain (module
    docstring), sizes fitted by :func:`qtheory.models.mphk_priority.fit_two_phase`. With
    ``pairs=True`` a period is fitted for each (start, end) pair on the moments of :math:`B` given
    both. Returns ``wait_high``, ``wait_low``, ``phases`` (per level) and ``two_moments`` (both fits
    match two moments)."""
    k, s = int(servers), float(server_speed)
    ph_h, ph_l = _fits(k, mom_h, mom_l, max_configs)
    two = all(abs(ph.moment(2) / m[1] - 1.0) < 1e-6 for ph, m in ((ph_h, mom_h), (ph_l, mom_l)))
    wp = waiting_periods(k, lam_h, ph_h, ph_l, s)
    full = wp["full"]
    F = len(full)
    # period types: (start, end or None) -> (PH law, probability given the start, exit law)
    btypes: dict = {}
    ends_ul = np.array([sum(cl) for cl, _ in full])
    for x in range(F):
        if pairs == "ul":
            for u in range(k + 1):
                sel = ends_ul == u
                py = wp["exits"][x][sel].sum()
                if py > 1e-12:
                    ex = np.where(sel, wp["exits"][x], 0.0) / py
                    btypes[(x, u)] = (_period_fit(wp["joint"][x][sel].sum(0) / py), py, ex)
        elif pairs:
            for y, py in enumerate(wp["exits"][x]):
                if py > 1e-12:
                    one = np.zeros(F)
                    one[y] = 1.0
                    btypes[(x, y)] = (_period_fit(wp["joint"][x, y] / py), py, one)
        else:
            btypes[(x, None)] = (_period_fit(wp["moments"][x]), 1.0, wp["exits"][x])
    by_start: dict = {}
    for key in btypes:
        by_start.setdefault(key[0], []).append(key)
    # phases of level q >= 1: full configurations then period phases; level 0 adds the partial ones
    rep = [("c", x) for x in full] + [("b", key, b) for key, (ph, _, _) in btypes.items() for b in range(ph.phases)]
    part = _partial_configs(k, ph_l.phases, ph_h.phases)
    lev0 = rep + [("c", x) for x in part]
    i1 = {st: i for i, st in enumerate(rep)}
    i0 = {st: i for i, st in enumerate(lev0)}
    Lr, L0 = len(rep), len(lev0)
    Th, Tl = ph_h.T * s, ph_l.T * s
    th, tl = -Th.sum(1), -Tl.sum(1)
    ah, al = ph_h.alpha, ph_l.alpha

    def moves(st, q: int):
        """(level change, state, rate) out of ``st`` at level ``q`` (q = 1 stands for any q >= 1)."""
        out = []
        if st[0] == "b":
            _, key, b = st
            ph_b, _, ex = btypes[key]
            Tb = ph_b.T
            tb = -Tb.sum(1)
            for b2 in range(ph_b.phases):
                if b2 != b and Tb[b, b2] > 0:
                    out.append((0, ("b", key, b2), Tb[b, b2]))
            for y, py in enumerate(ex):
                if py > 1e-14:
                    out.append((0, ("c", full[y]), tb[b] * py))
            out.append((1, st, lam_l))
            return out
        cl, ch = st[1]
        busy = sum(cl) + sum(ch)
        if busy < k:
            for j in range(ph_h.phases):
                if ah[j] > 0:
                    out.append((0, ("c", (cl, _plus(ch, j))), lam_h * ah[j]))
            for p in range(ph_l.phases):
                if al[p] > 0:
                    out.append((0, ("c", (_plus(cl, p), ch)), lam_l * al[p]))
        else:
            x = fidx[(cl, ch)]
            for key in by_start[x]:
                ph_b, pk, _ = btypes[key]
                for b in range(ph_b.phases):
                    if ph_b.alpha[b] > 0:
                        out.append((0, ("b", key, b), lam_h * pk * ph_b.alpha[b]))
            out.append((1, st, lam_l))

        def freed(cl2, ch2, rate):
            # a server freed with no high job waiting: a waiting low job starts, or it idles
            if q >= 1:
                for p in range(ph_l.phases):
                    if al[p] > 0:
                        out.append((-1, ("c", (_plus(cl2, p), ch2)), rate * al[p]))
            else:
                out.append((0, ("c", (cl2, ch2)), rate))

        for i in range(ph_h.phases):
            if ch[i] == 0:
                continue
            for j in range(ph_h.phases):
                if j != i and Th[i, j] > 0:
                    out.append((0, ("c", (cl, _move(ch, i, j))), ch[i] * Th[i, j]))
            if th[i] > 0:
                freed(cl, _minus(ch, i), ch[i] * th[i])
        for i in range(ph_l.phases):
            if cl[i] == 0:
                continue
            for j in range(ph_l.phases):
                if j != i and Tl[i, j] > 0:
                    out.append((0, ("c", (_move(cl, i, j), ch)), cl[i] * Tl[i, j]))
            if tl[i] > 0:
                freed(_minus(cl, i), ch, cl[i] * tl[i])
        return out

    fidx = {x: i for i, x in enumerate(full)}
    rows, cols, vals = [], [], []
    offs = np.array([0, L0, L0 + Lr])
    for q, states, index in ((0, lev0, i0), (1, rep, i1)):
        for st in states:
            r = offs[q] + index[st]
            tot = 0.0
            for dq, st2, rate in moves(st, q):
                tot += rate
                if q == 1 and dq == 1:
                    continue                          # the up block A0 = lam_l I
                q2 = q + dq
                rows.append(r)
                cols.append(offs[q2] + (i0 if q2 == 0 else i1)[st2])
                vals.append(rate)
            rows.append(r)
            cols.append(r)
            vals.append(-tot)
    A1 = np.zeros((Lr, Lr))
    A2 = np.zeros((Lr, Lr))
    for st in rep:
        r = i1[st]
        tot = 0.0
        for dq, st2, rate in moves(st, 2):
            tot += rate
            if dq == 0:
                A1[r, i1[st2]] += rate
            elif dq == -1:
                A2[r, i1[st2]] += rate
        A1[r, r] -= tot
    A0 = lam_l * np.eye(Lr)
    pi, R, inv_IR = solve_qbd(rows, cols, vals, offs, 1, A0, A1, A2)
    pi1 = pi[L0:]
    eq_l = float(pi1 @ inv_IR @ inv_IR @ np.ones(Lr))
    occupancy = pi[:F] + (pi1 @ inv_IR)[:F]       # full configurations, any q (rep and lev0 start alike)
    eq_h = lam_h * float(occupancy @ wp["area"])
    return {"wait_high": eq_h / lam_h, "wait_low": eq_l / lam_l, "phases": Lr, "two_moments": bool(two)}


#: most servers of the route of :meth:`qtheory.MGk.mean_response_time` (the chain's phases grow
#: about as :math:`k^4`; its dense logarithmic reduction as their cube: docs/multiserver.md, section 5)
MAX_SERVERS = 4

#: measured error band of :func:`priority_np_k` against the simulator by load (docs/multiserver.md,
#: section 5; ``benchmarks/bench_multiserver.py --nonpreemptive``): the points where every PH fit
#: matches two moments; ``nan`` above the measured loads
BAND = ((0.5, 0.02), (0.8, 0.03), (0.95, 0.045), (1.0, math.nan))


def band(load: float) -> float:
    """The measured error band of :func:`priority_np_k` at per-server ``load`` (:data:`BAND`)."""
    for top, b in BAND:
        if load <= top + 1e-12:
            return b
    return BAND[-1][1]


#: most classes of the route at :data:`MAX_SERVERS` servers (one chain of about 300 phases per cut:
#: five classes took 2.4-2.8 s on a loaded core, two 0.7-1.1 s, the preemptive chain 0.2-0.6 s)
MAX_CLASSES_AT_MAX_SERVERS = 2


def feasible(servers: int, classes: int = 2) -> bool:
    r"""Whether :func:`priority_np_k` is fast enough for a routed value: :math:`k \le 3`, or
    :math:`k = 4` (:data:`MAX_SERVERS`) with at most :data:`MAX_CLASSES_AT_MAX_SERVERS` classes
    (docs/multiserver.md, section 5: 0.3-0.6 s a cut at :math:`k = 4` on a loaded core)."""
    k = int(servers)
    return 1 <= k < MAX_SERVERS or (k == MAX_SERVERS and int(classes) <= MAX_CLASSES_AT_MAX_SERVERS)


def cut_laws(arrival_rates, size_moments) -> list[tuple[float, np.ndarray, float, np.ndarray]]:
    """``(rate_high, moments_high, rate_low, moments_low)`` of each cut (classes of positive rate)."""
    lams = np.asarray(arrival_rates, float).ravel()
    mom = np.asarray(size_moments, float).reshape(-1, 3)
    live = lams > 0
    lam, mm = lams[live], mom[live]
    out = []
    for c in range(lam.size - 1):
        lh, ll = lam[:c + 1].sum(), lam[c + 1:].sum()
        out.append((lh, (lam[:c + 1] @ mm[:c + 1]) / lh, ll, (lam[c + 1:] @ mm[c + 1:]) / ll))
    return out


def fits_match(servers: int, arrival_rates, size_moments, moments: int = 2, max_configs: int = 40) -> bool:
    """Whether every PH fit :func:`priority_np_k` would use (the two aggregated classes of every
    cut) matches the first ``moments`` moments (2 or 3; cheap: no chain is solved)."""
    k = int(servers)
    n = int(moments)
    cuts = cut_laws(arrival_rates, size_moments)
    if not cuts:
        mom = np.asarray(size_moments, float).reshape(-1, 3)[np.asarray(arrival_rates, float).ravel() > 0][0]
        cuts = [(1.0, mom, 1.0, mom)]
    for _, mh, _, ml in cuts:
        ph_h, ph_l = _fits(k, mh, ml, max_configs)
        for ph, m in ((ph_h, mh), (ph_l, ml)):
            if any(abs(ph.moment(j) / m[j - 1] - 1.0) > 1e-6 for j in range(2, n + 1)):
                return False
    return True


def priority_np_k(servers: int, arrival_rates, size_moments, server_speed: float = 1.0,
                  pairs: bool | str = "ul", difference: str = "high", max_configs: int = 40) -> dict:
    r"""Mean response time of each class of the M/G/k with non-preemptive priority classes
    (class 0 first, FCFS within a class), module docstring:

    .. math::
        E[T_i] = E[W_i] + \frac{E[S_i]}{s},\qquad
        \rho_i E[W_i] = \varrho_i W^{hi}_i - \varrho_{i-1} W^{hi}_{i-1}

    (:math:`E[W_m] = W^{lo}_{m-1}`), the waits :math:`W^{hi}_c, W^{lo}_c` of the two-class chain
    at the cut after class :math:`c`.

    Parameters
    ----------
    servers : int
    arrival_rates : sequence of float
        :math:`\lambda_0, \lambda_1, \dots` (highest priority first; zero rates allowed).
    size_moments : sequence of (float, float, float)
        :math:`(E[S_i], E[S_i^2], E[S_i^3])` per class (work units).
    server_speed : float
    pairs : bool
        Fit each high-waiting period per (start, end) pair instead of per start.

    Returns
    -------
    dict
        ``class_means`` (``nan`` for a class of rate 0), ``mean_response_time`` (rate-weighted),
        ``phases`` (largest per level), ``two_moments`` (every PH fit matches two moments; not
        where a law has :math:`C^2 < 1/2`, fitted by an Erlang-2), ``exact_structure`` (at most
        two classes with a positive rate: no work-difference step).
    """
    k, s, lams, mom = priority_inputs(servers, arrival_rates, size_moments, server_speed)
    live = np.flatnonzero(lams > 0)
    lam, mm = lams[live], mom[live]
    m = lam.size
    out = np.full(lams.size, math.nan)
    if m == 1:
        from .mphk import mphk_fcfs
        res = mphk_fcfs(k, lam[0], fit_two_phase(*mm[0]), s)
        w = [res["mean_response_time"] - mm[0, 0] / s]
        phases, two = res["states"], abs(fit_two_phase(*mm[0]).moment(2) / mm[0, 1] - 1) < 1e-6
    else:
        r = lam * mm[:, 0] / s
        cum = np.cumsum(r)
        whi, wlo = np.zeros(m), np.zeros(m)
        phases, two = 0, True
        for c, (lh, mh, ll, ml) in enumerate(cut_laws(lam, mm)):
            res = two_class_waits(k, lh, mh, ll, ml, s, pairs, max_configs)
            whi[c], wlo[c] = res["wait_high"], res["wait_low"]
            phases, two = max(phases, res["phases"]), two and res["two_moments"]
        above = cum[-1] - cum + r                  # load of the classes >= i
        w = [whi[0]]
        for i in range(1, m - 1):
            if difference == "high":
                w.append((cum[i] * whi[i] - cum[i - 1] * whi[i - 1]) / r[i])
            else:
                w.append((above[i] * wlo[i - 1] - above[i + 1] * wlo[i]) / r[i])
        w.append(wlo[m - 2])
    out[live] = np.asarray(w) + mm[:, 0] / s
    mean = float(lam @ out[live] / lam.sum())
    return {"class_means": out, "mean_response_time": mean, "phases": int(phases), "two_moments": bool(two),
            "exact_structure": m <= 2}


__all__ = ["priority_np_k", "two_class_waits", "waiting_periods", "feasible", "fits_match", "band",
           "BAND", "MAX_SERVERS", "MAX_CLASSES_AT_MAX_SERVERS", "REF_RDR_NP"]
