"""Independent checks of the prediction-cost formulas: the paper's printed lemma (server
model), the generic SOAP evaluator on the augmented jobs, and a simulation.

Derivation: ``docs/prediction_cost.md``.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import in_range, integer
from .._validation import loads as check_loads
from ..policies import FCFS
from ._cost_classes import _joint_route, _PairsClass
from .cost_policies import SkipPredict, _as_cost_policy, _mg1_of


def paper_lemma_server(model, threshold: float, cheap_cost: float, expensive_cost: float,
                       loads=None, cheap=None) -> dict:
    r"""SkipPredict in the server model by the paper's lemmas *as printed* (our transcription):
    the short-job residence is the size alone, :math:`E[S'_{<T}]`, and the long-job residence
    :math:`\int_0^x da/(1 - \rho_{(y-a)^+})`, without the job's own prediction phases.

    Returns ``{"load", "mean_short", "mean_long", "mean"}`` (partial means, arrays). The
    differences from the SOAP forms of :class:`SkipPredict` are exactly
    :math:`c_1 P(S)` (short) and :math:`E[(c_1 + c_2)/(1 - \rho_b - \lambda A_<(Y)); L]` (long);
    the generic evaluator on the paper's own rank agrees with :class:`SkipPredict`.

    Derivation: ``docs/prediction_cost.md`` (section 5).
    """
    model = _mg1_of(model)
    pol = SkipPredict(threshold, cheap_cost, expensive_cost, "server", cheap)
    P = pol._parts(model)
    rho = np.array([model.load]) if loads is None else check_loads("loads", loads)
    c1, c2 = cheap_cost, expensive_cost
    s = c1 + c2
    pL = 1 - P.pS
    out = {"load": rho, "mean_short": np.empty(rho.size), "mean_long": np.empty(rho.size)}
    for i, lam in enumerate(rho / model.size.mean):
        rho1 = lam * (c1 + P.m1S)
        base = lam * (c1 + P.m1S + c2 * pL)
        out["mean_short"][i] = P.pS * lam * (c1 * c1 + 2 * c1 * P.m1S + P.m2S) / (2 * (1 - rho1)) + P.m1S
        K0 = c1 * c1 * P.pS + 2 * c1 * P.m1S + P.m2S + s * s * pL
        # the printed residence integrates over the size only: without the job's own phases
        out["mean_long"][i] = P.cls.mean(lam, base, s, K0) - _pre_phase(P.cls, lam, base, s)
    out["mean"] = out["mean_short"] + out["mean_long"]
    return out


def _pre_phase(cls, lam, base, pre) -> float:
    r""":math:`E[\text{pre}/(1 - \rho_b - \lambda A_<(Y)); \text{class}]`."""
    if cls.empty:
        return 0.0
    if isinstance(cls, _PairsClass):
        return float(np.sum(cls.P.pu * pre / (1.0 - base - lam * cls.lt)))
    return float(np.sum(cls.w_dv * cls.fY * pre / (1.0 - base - lam * cls.A)))


def generic_mean_with_costs(model, policy, loads=None, resolution: int | None = None):
    """E[T] of ``policy`` by the generic SOAP evaluator on the augmented model
    (:meth:`CostPolicy.augmented`): exact on discrete laws; on continuous laws the generic
    route's two resolutions (``resolution`` and twice it, default 48 and 96 cells) and their
    Richardson extrapolation, ``(mean, error estimate)`` per load."""
    from ..engine import generic

    model = _mg1_of(model)
    pol = _as_cost_policy(policy)
    rho = np.array([model.load]) if loads is None else check_loads("loads", loads)
    lams = rho / model.size.mean
    n = resolution or generic.RESOLUTION

    def once(k):
        aug, rank = pol.augmented(model, k)
        return generic.evaluate(aug, rank, lams)

    r1 = once(n)
    kind = _joint_route(model)[0] if model.prediction is not None else "pairs"
    if r1.exact and kind == "pairs":
        return r1.mean, np.zeros_like(r1.mean)
    r2 = once(2 * n)
    return (4 * r2.mean - r1.mean) / 3, np.abs(r2.mean - r1.mean) / 3


def simulate_prediction_cost(model, policy, jobs: int = 400_000, seed=None,
                             replications: int = 16, warmup: float = 0.05):
    """Monte Carlo of a prediction-cost policy with the library's event-driven SOAP simulator
    (:func:`qtheory.sim.simulate_trace`) on the augmented jobs: Poisson arrivals, sizes and
    expensive predictions from the model, the cheap bit drawn with probability
    :math:`q(x)`, the prediction phases added to the work (server model), and the paper's rank
    as a per-job rank table (:class:`qtheory.sim.TabulatedRank`). Independent of the formulas.
    Each replication is one run of ``jobs / replications`` arrivals from an empty system; the
    first and the last ``warmup`` fraction are not measured (at the end no later arrival
    preempts a job: kept, they biased E[T] low by about 0.5 of the 95% half-width at 3.2 M jobs).

    Returns
    -------
    qtheory.llm.LLMSimResult
        ``mean`` and ``ci`` (95% half-width over the replications) of :math:`E[T]`; the cost
        adds :meth:`CostPolicy.external_cost`.
    """
    from ..sim import TabulatedRank, simulate_trace
    from .simulation import LLMSimResult, _draw, _summarise

    model = _mg1_of(model)
    pol = _as_cost_policy(policy)
    jobs = integer("jobs", jobs, 1)
    replications = integer("replications", replications, 2)
    in_range("warmup", warmup, 0.0, 0.5, hi_open=True)
    n = jobs // replications
    if n < 100:
        raise ValueError(f"jobs must give at least 100 per replication, got jobs={jobs!r} for "
                         f"replications={replications!r}")
    if isinstance(pol, FCFS):
        raise TypeError("simulate FCFS with qt.simulate(model, 'fcfs')")
    if not pol.effective_load(model) < 1:
        raise ValueError(f"{pol.name} is unstable at load {model.load:.6g} (effective load "
                         f"{pol.effective_load(model):.6g} >= 1)")
    warm = int(warmup * n)
    rows = []
    for rng in (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(replications)):
        arr = np.cumsum(rng.exponential(1.0 / model.arrival_rate, n))
        x, y = _draw(model, n, rng)
        if isinstance(pol, SkipPredict):
            # the cheap bit: long with probability q(x), independently given the size
            long_ = rng.random(n) < np.clip(pol._q(model)(x), 0.0, 1.0)
            xa_all, da_all, _ = pol._augment(model, x, y, np.ones(n))
            xa = np.where(long_, xa_all[n:], xa_all[:n])
            da = np.where(long_, da_all[n:], da_all[:n])
        else:
            xa, da, _ = pol._augment(model, x, y, np.ones(n))
        band = 2.0 * (float(xa.max()) + float(da.max()) + 1.0)
        table = _rank_table(pol, band)
        T = simulate_trace(TabulatedRank(table, "prediction", name=pol.name), arr, xa, da)
        # the last jobs of a finite run see no later arrivals (nothing preempts them): the same
        # fraction is dropped at the end as at the start
        rows.append([float(np.mean(T[warm:n - warm]))] + [math.nan] * 4)
    r = _summarise(rows, replications, n)
    return LLMSimResult(r.mean, r.ci, replications=replications, jobs=n * replications)


def _rank_table(pol, band):
    """Per-job piecewise-linear rank tables of ``pol``'s rank (jumps at the phase ends)."""
    rank = pol._soap_rank(band)
    bps = np.unique(np.asarray(rank.age_breakpoints(0.0), float))
    bps = bps[bps > 0]

    def table(d):
        d = np.asarray(d, float)
        k = d.size
        ages, ranks = [np.zeros(k)], [rank.rank(d, np.zeros(k))]
        for b in bps:
            ages += [np.full(k, b), np.full(k, b)]
            ranks += [rank.rank(d, np.full(k, np.nextafter(b, 0.0))), rank.rank(d, np.full(k, b))]
        top = (bps[-1] if bps.size else 0.0) + 1.0
        ages.append(np.full(k, top))
        ranks.append(rank.rank(d, np.full(k, top)))
        return np.stack(ages, 1), np.stack(ranks, 1)

    return table
