"""Monte Carlo checks of the LLM-serving formulas: SPRPT with limited preemption and
SkipPredict's priority classes simulated with :mod:`qtheory.sim.llm_kernels` (their results
carry 95% confidence half-widths over independent replications)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import in_range, integer, nonnegative
from ._model import _mg1


# ============================================================================================
# Simulation (qtheory.sim.llm_kernels)
# ============================================================================================
@dataclass
class LLMSimResult:
    """Monte Carlo estimates with 95% confidence half-widths over independent replications.

    Attributes
    ----------
    mean, ci : float
        Mean response time and its half-width.
    paused_jobs, paused_jobs_ci, paused_age, paused_age_ci, preemptions, preemptions_ci : float
        Time-average number and total age of paused jobs, preemptions per job.
    preempted_age, preempted_age_ci : float
        Mean sum over a job's preemptions of its age at the preemption.
    replications, jobs : int
    """

    mean: float
    ci: float
    paused_jobs: float = math.nan
    paused_jobs_ci: float = math.nan
    paused_age: float = math.nan
    paused_age_ci: float = math.nan
    preemptions: float = math.nan
    preemptions_ci: float = math.nan
    preempted_age: float = math.nan
    preempted_age_ci: float = math.nan
    replications: int = 0
    jobs: int = 0

    def covers(self, value: float, slack: float = 0.0) -> bool:
        """Whether ``value`` lies in the confidence interval of the mean (widened by ``slack``)."""
        return abs(value - self.mean) <= self.ci + slack


def _draw(model, n, rng):
    from ..laws.predictions import EmpiricalPairs

    pred = model.prediction
    if isinstance(pred, EmpiricalPairs):
        return pred.sample_pairs(n, rng)
    x = np.asarray(model.size.sample(n, rng), float)
    y = pred.sample(x, rng) if pred is not None else x.copy()
    return x, np.asarray(y, float)


def _check_sim_args(jobs, replications, warmup):
    jobs = integer("jobs", jobs, 1)
    replications = integer("replications", replications, 1)
    if jobs < 100:
        raise ValueError(f"jobs must be >= 100, got jobs={jobs!r}")
    if replications < 2:
        raise ValueError(f"replications must be >= 2, got replications={replications!r}")
    in_range("warmup", warmup, 0.0, 0.5, hi_open=True)
    return jobs, replications


def _summarise(rows, R, n):
    from ..sim.results import t_halfwidth

    rows = np.asarray(rows, float)
    m = rows.mean(0)
    h = [t_halfwidth(rows[:, k]) for k in range(rows.shape[1])]
    return LLMSimResult(m[0], h[0], m[1], h[1], m[2], h[2], m[3], h[3], m[4], h[4], R, n)


def _priority_sim(model, build, jobs, seed, replications, warmup, setup):
    from ..sim.llm_kernels import priority_run

    s0, s1 = setup
    nonnegative("setup[0]", s0)
    nonnegative("setup[1]", s1)
    n = jobs // replications
    warm = int(warmup * n)
    rows = []
    for rng in (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(replications)):
        arr = np.cumsum(rng.exponential(1.0 / model.arrival_rate, n))
        x, y = _draw(model, n, rng)
        key0, slope, lim = build(x, y, rng)
        T, st = priority_run(arr, x, key0, slope, lim, float(s0), float(s1), warm)
        rows.append([np.nanmean(T[warm:]), st[1] / st[0], st[2] / st[0], st[3] / st[4],
                     st[5] / st[4]])
    return _summarise(rows, replications, n)


def simulate_limited_preemption(model, c: float = 0.8, jobs: int = 400_000, seed=None,
                                replications: int = 8, warmup: float = 0.05,
                                setup=(0.0, 0.0)) -> LLMSimResult:
    r"""Monte Carlo of SPRPT with limited preemption (own event-driven kernel,
    :func:`qtheory.sim.llm_kernels.priority_run`), with optional preemption cost.

    Parameters
    ----------
    model : qtheory.MG1
    c : float
        Preemptible fraction of the prediction, ``0 <= c <= 1``.
    jobs, replications, warmup, seed
        Total jobs over ``replications`` independent runs; the first ``warmup`` fraction of each
        run is discarded.
    setup : (s0, s1)
        Preemption cost: a job resuming after a preemption first needs ``s0 + s1 * age`` of
        non-preemptible server time (recompute of its KV cache, or swap-in). ``(0, 0)``: none.

    Returns
    -------
    LLMSimResult
        Mean response time, paused jobs, their total age and preemptions per job, with CIs.
    """
    model = _mg1(model, "simulate_limited_preemption")
    c = in_range("c", c, 0.0, 1.0)
    jobs, replications = _check_sim_args(jobs, replications, warmup)

    def build(x, y, rng):
        return y.copy(), np.ones_like(y), c * y

    return _priority_sim(model, build, jobs, seed, replications, warmup, setup)
