r"""What predictions cost: SkipPredict, DelayPredict and their baselines, in the external-cost
and the server-time model (Shahout & Mitzenmacher, "SkipPredict: When to Invest in
Predictions for Scheduling", NeurIPS 2024, arXiv:2402.03564).

**Model.** M/G/1 with arrival rate :math:`\lambda` and size :math:`X`. A *cheap* prediction is
one bit: a job of size :math:`x` is predicted long with probability :math:`q(x)` (its cheap
prediction is at least the threshold :math:`T`), independently of everything else given
:math:`x`. An *expensive* prediction :math:`Y` follows the model's prediction law. The cheap
prediction costs :math:`c_1`, the expensive one :math:`c_2`:

* **external** cost model: predictions do not use the server; the cost measure is
  :math:`E[T]` plus the mean prediction cost per job;
* **server** cost model: predictions are server work, scheduled with the jobs; a job's work is
  its size plus its prediction phases and the cost measure is :math:`E[T]` alone. The extra
  work raises the effective load: every prediction-based policy becomes unstable before FCFS.

**Policies, as SOAP ranks** (lexicographic :math:`\langle\text{class}, \text{value}\rangle`,
lower first, FCFS among ties; :math:`a` is the age counted from arrival, :math:`s = c_1 + c_2`):

=================  ======================================================================
SkipPredict        server: cheap phase :math:`a < c_1` rank :math:`\langle 2\rangle`; then
                   short :math:`\langle 1\rangle`; long: expensive phase
                   :math:`c_1 \le a < s` :math:`\langle 3\rangle`, then
                   :math:`\langle 4, y - (a - s)\rangle`. External: short
                   :math:`\langle 1\rangle`, long :math:`\langle 2, y - a\rangle`.
DelayPredict(L)    server: :math:`a < L` :math:`\langle 1\rangle` (FCFS for the first
                   :math:`L` of service), :math:`L \le a < L + c_2` :math:`\langle 2\rangle`
                   (the expensive prediction of a job still running), then
                   :math:`\langle 3, y - (a - c_2)\rangle`. External: :math:`\langle 1\rangle`
                   then :math:`\langle 2, y - a\rangle`.
SPRPT (baseline)   every job gets the expensive prediction first (server:
                   :math:`\langle 1\rangle` for :math:`a < c_2`, then
                   :math:`\langle 2, y - (a - c_2)\rangle`); cost :math:`c_2` per job.
1bit (baseline)    the cheap bit only: short before long, FCFS inside each class (server:
                   cheap phase :math:`\langle 2\rangle`, short :math:`\langle 1\rangle`, long
                   :math:`\langle 3\rangle`); cost :math:`c_1` per job.
=================  ======================================================================

The paper writes the FCFS parts as :math:`\langle k, -a\rangle`; with FCFS tie-breaking a
constant rank gives the same schedule (a job of such a class is only ever overtaken by a job of
a lower class, so the oldest job of the class is always the one with the most service), and the
constant is what the generic evaluator gets here.

**Closed forms** (SOAP, Scully, Harchol-Balter & Scheller-Wolf, POMACS 2018). Write
:math:`p_S, m_{1S}, m_{2S}` for :math:`P(S)`, :math:`E[X; S]`, :math:`E[X^2; S]` (partial,
unconditional), :math:`p_L = 1 - p_S`, and, over the predicted-long jobs,
:math:`A_<(v) = E[X; L, Y < v]`, :math:`A_\le(v)`, :math:`B(v) = E[X^2; L, Y \le v]`,
:math:`C(v) = E[((X - (Y - v))^+)^2; L, Y > v]`. SkipPredict, server model:

.. math::
    E[T_S(x)] = c_1 + x + \frac{\lambda (c_1^2 + 2 c_1 m_{1S} + m_{2S})}{2(1 - \rho_1)},
    \qquad \rho_1 = \lambda (c_1 + m_{1S}),

.. math::
    E[T_L(x, y)] = \frac{\lambda (K_0 + 2 s A_\le(y) + B(y) + C(y))}
        {2 (1 - \rho_b - \lambda A_\le(y))(1 - \rho_b - \lambda A_<(y))}
      + \frac{s}{1 - \rho_b - \lambda A_<(y)}
      + \int_0^{\min(x, y)} \frac{dt}{1 - \rho_b - \lambda A_<(y - t)}
      + \frac{(x - y)^+}{1 - \rho_b},

with :math:`K_0 = c_1^2 p_S + 2 c_1 m_{1S} + m_{2S} + s^2 p_L` and
:math:`\rho_b = \lambda (c_1 + m_{1S} + c_2 p_L)`. The external model is :math:`c_1 = c_2 = 0`
in these (the cost :math:`c_1 + c_2 p_L` is added to the measure). DelayPredict is the same
long-class form over the jobs with :math:`X > L`, with remaining work :math:`R = X - L` in
place of :math:`X` in :math:`A, B, C` and :math:`(R - Y)^+`, and

.. math::
    E[T \mid x \le L] = x + \frac{\lambda E[\min(X, L)^2]}{2(1 - \lambda E[\min(X, L)])},\quad
    K_0 = E[X^2; X \le L] + (L + c_2)^2 P(X > L),\quad s \to L + c_2,\quad
    \rho_b = \lambda (E[\min(X, L)] + c_2 P(X > L)).

SPRPT is the long-class form over all jobs with :math:`K_0 = c_2^2`, :math:`s \to c_2`,
:math:`\rho_b = \lambda c_2`; 1bit has long jobs
:math:`E[T_L(x)] = (c_1 + x)/(1 - \rho_1) + \lambda E[(c_1 + X)^2]/(2(1 - \rho_1)(1 - \rho))`
with :math:`\rho = \lambda(c_1 + E[X])`. Every formula is checked against the generic SOAP
evaluator on the same rank (:meth:`CostPolicy.augmented`: to 1e-9 on discrete laws) and against
the simulator (:func:`simulate_prediction_cost`).

**Two places where the paper's printed lemmas are not right.**

* *Short jobs, server model.* The paper's lemma (as transcribed in our notes) has the residence
  :math:`E[S'_{<T}]` (the size alone): it leaves out the job's own cheap-prediction phase, which
  is part of its response time. The numerator is right (it holds the cheap phases of the
  other jobs, :math:`c_1^2` per job). The correct term is :math:`c_1 + x`
  (:func:`paper_lemma_server` evaluates the printed form; the generic evaluator on the paper's
  own rank agrees with the form above to 1e-12 and differs from the printed one by exactly
  :math:`c_1 p_S`). The long-job lemma as transcribed likewise integrates the residence over
  :math:`[0, x]` only, missing the job's own prediction phases :math:`s/(1 - \rho_b - \lambda
  A_<(y))`.
* *SPRPT baseline.* The paper states it once with the cheap cost :math:`c_1` and once (in the
  lemma) with the expensive :math:`c_2`. SPRPT needs the full size prediction, which the cheap
  one-bit predictor does not give, so its cost is :math:`c_2` per job: with it, SPRPT is
  SkipPredict with every job predicted long and :math:`c_1 = 0` (equal to 1e-12 here); with
  :math:`c_1` it would be SPRPT with predictions at a one-bit price.

Evaluation routes: discrete laws (``EmpiricalPairs``, or ``Empirical`` sizes with perfect
predictions) are summed exactly; sizes (continuous or discrete) with multiplicative predictions
(exponential, uniform, log-normal factors) use a size rule (Gauss-Legendre in log x) with
closed forms in the factor :math:`Z = Y/X`, on a Gauss-Legendre grid of prediction thresholds
(1e-11 or better where checked against the engine's SPRPT and an independent quadrature, heavy
tails included; the paper's settings are checked against the generic evaluator and by
simulation). With :math:`E[X^2] = \infty` the mean is ``inf`` exactly where a formula holds an
infinite moment: SPRPT, SkipPredict and DelayPredict when predictions can fall short
(:math:`P(Z < 1) > 0`), 1bit and FCFS always (``docs/prediction_cost.md``, section 7).

Derivation: ``docs/prediction_cost.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._validation import loads as check_loads
from .._validation import nonnegative, one_value
from ..policies import FCFS
from ._cost_classes import COST_MODELS, _cost_model
from .cost_checks import generic_mean_with_costs, paper_lemma_server, simulate_prediction_cost
from .cost_policies import CostPolicy, DelayPredict, OneBitCost, SkipPredict, SPRPTCost, _as_cost_policy, _mg1_of

__all__ = [
    "COST_MODELS",
    "CostPolicy",
    "SkipPredict",
    "DelayPredict",
    "SPRPTCost",
    "OneBitCost",
    "PredictionCostResult",
    "total_cost",
    "compare_prediction_costs",
    "instability_load",
    "BreakEven",
    "break_even_cost",
    "paper_lemma_server",
    "generic_mean_with_costs",
    "simulate_prediction_cost",
]


@dataclass
class PredictionCostResult:
    """Mean response time and the paper's cost measure of one policy, per load.

    With one load (``loads`` omitted or a number) the per-load fields are floats, else arrays;
    ``float(result)`` is the cost at one load.

    Attributes
    ----------
    policy : str
    cost_model : str
    load : float or ndarray
        :math:`\\rho = \\lambda E[X]` (without the prediction work).
    mean : float or ndarray
        :math:`E[T]` (``inf`` where unstable).
    cost : float or ndarray
        The paper's measure: :math:`E[T]` plus the external cost per job (external model), or
        :math:`E[T]` (server model).
    external_cost : float
        Mean external prediction cost per job (0 in the server model).
    extra_work : float
        Mean server time per job spent on predictions (0 in the external model).
    effective_load : float or ndarray
        :math:`\\lambda (E[X] + \\text{extra work})`; the queue is stable below 1.
    instability_load : float
        The load :math:`\\rho` at which the effective load reaches 1.
    p_long : float
        Fraction of jobs that get the expensive prediction.
    """

    policy: str
    cost_model: str
    load: np.ndarray
    mean: np.ndarray
    cost: np.ndarray
    external_cost: float
    extra_work: float
    effective_load: np.ndarray
    instability_load: float
    p_long: float = math.nan
    extra: dict = field(default_factory=dict)

    @property
    def value(self) -> float:
        """The total cost (E[T] plus the external prediction cost) at the one load evaluated
        (``float(result)``)."""
        return float(self)

    def __float__(self) -> float:
        return one_value(self, self.cost, "cost")

    def table(self):
        from ..table import Table

        cols = ["load", "E[T]", "cost", "effective load"]
        rows = zip(*(np.atleast_1d(np.asarray(f, float)).tolist()
                     for f in (self.load, self.mean, self.cost, self.effective_load)), strict=True)
        return Table(cols, rows, title=f"{self.policy}: external cost {self.external_cost:.6g} "
                                       f"per job, prediction work {self.extra_work:.6g} per job, "
                                       f"unstable from load {self.instability_load:.6g}")

    def __repr__(self):
        return (f"PredictionCostResult({self.policy}, load={np.round(self.load, 6).tolist()}, "
                f"cost={np.round(self.cost, 6).tolist()})")

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def total_cost(model, policy, loads=None) -> PredictionCostResult:
    """Mean response time and cost measure of ``policy`` (a :class:`CostPolicy` or FCFS, which
    has no predictions and no cost) on ``model``, at ``loads`` (default: the model's load).

    Parameters
    ----------
    model : qtheory.MG1
        Size law and the expensive prediction law.
    policy : CostPolicy or "fcfs"
    loads : float or sequence of float, optional
        Loads :math:`\\rho = \\lambda E[X]` (the prediction work is not counted in them).

    Returns
    -------
    PredictionCostResult
    """
    model = _mg1_of(model)
    pol = _as_cost_policy(policy)
    one = loads is None or np.ndim(loads) == 0
    rho = np.array([model.load]) if loads is None else check_loads("loads", loads)
    lams = rho / model.size.mean
    if isinstance(pol, FCFS):
        m1, m2 = model.size.mean, model.size.moment(2)
        mean = m1 + lams * m2 / (2 * (1 - rho))
        ext = extra = 0.0
        inst, p_long = 1.0, 0.0
    else:
        parts = pol._parts(model)
        mean = np.array([pol._time(parts, float(lam))[0] for lam in lams])
        ext, extra = pol.external_cost(model), pol.extra_work(model)
        inst = pol.instability_load(model)
        p_long = pol.p_long(model) if hasattr(pol, "p_long") else 1.0
    eff = rho * (1 + extra / model.size.mean)
    mean = np.where(eff < 1, mean, np.inf)
    cost = mean + ext
    r = PredictionCostResult(pol.name, getattr(pol, "cost_model", "none"), rho, mean, cost,
                             float(ext), float(extra), eff, float(inst), float(p_long))
    if one:
        r.load, r.mean, r.cost, r.effective_load = (float(v[0]) for v in
                                                    (r.load, r.mean, r.cost, r.effective_load))
    return r


def instability_load(model, policy) -> float:
    """The load :math:`\\rho = \\lambda E[X]` at which ``policy``'s effective load
    :math:`\\lambda (E[X] + c_1 + c_2 P(\\text{long}))` (SkipPredict; the others likewise)
    reaches 1: 1 for FCFS and in the external model."""
    model = _mg1_of(model)
    pol = _as_cost_policy(policy)
    return 1.0 if isinstance(pol, FCFS) else pol.instability_load(model)


def _policies(threshold, c1, c2, limit, cost_model, cheap):
    pols = [FCFS(), OneBitCost(threshold, c1, cost_model, cheap), SPRPTCost(c2, cost_model)]
    if limit is not None:
        pols.append(DelayPredict(limit, c2, cost_model))
    pols.append(SkipPredict(threshold, c1, c2, cost_model, cheap))
    return pols


def compare_prediction_costs(model, threshold: float, cheap_cost: float, expensive_cost: float,
                             limit: float | None = None, cost_model: str = "server", loads=None,
                             cheap=None):
    """The paper's comparison: the cost measure of FCFS, 1bit, SPRPT, DelayPredict (when
    ``limit`` is given) and SkipPredict at each load, with the load at which each becomes
    unstable, as a :class:`qtheory.table.Table` (one row per policy and load; ``best`` marks
    the lowest cost at each load)."""
    from ..table import Table

    model = _mg1_of(model)
    rho = np.array([model.load]) if loads is None else check_loads("loads", loads)
    res = [total_cost(model, p, rho) for p in _policies(threshold, cheap_cost, expensive_cost,
                                                              limit, cost_model, cheap)]
    best = np.argmin(np.array([r.cost for r in res]), axis=0)
    rows = []
    for i, r in enumerate(res):
        for j, v in enumerate(rho):
            rows.append((r.policy, float(v), float(r.mean[j]), float(r.cost[j]),
                         float(r.effective_load[j]), r.instability_load, "*" if best[j] == i else ""))
    return Table(["policy", "load", "E[T]", "cost", "effective load", "unstable from", "best"],
                 rows, title=f"prediction costs ({_cost_model(cost_model)} model): {model.size!r}, "
                             f"{model.prediction!r}")


@dataclass
class BreakEven:
    r"""The expensive-prediction cost :math:`c_2` at which SkipPredict's cost equals each
    baseline's, per load.

    Attributes
    ----------
    load : ndarray
    below_fcfs, below_onebit : ndarray
        SkipPredict is cheaper than FCFS (1bit) for :math:`c_2` below this value (0: never).
    above_sprpt : ndarray
        SkipPredict is cheaper than SPRPT for :math:`c_2` above this value (0: for every
        :math:`c_2 \ge 0`).
    window : ndarray, shape (n, 2)
        ``[above_sprpt, min(below_fcfs, below_onebit)]``: SkipPredict beats all three there
        (empty where the lower end exceeds the upper).
    """

    load: np.ndarray
    below_fcfs: np.ndarray
    below_onebit: np.ndarray
    above_sprpt: np.ndarray
    cost_model: str
    threshold: float
    cheap_cost: float

    @property
    def window(self) -> np.ndarray:
        return np.stack([self.above_sprpt, np.minimum(self.below_fcfs, self.below_onebit)], 1)

    def table(self):
        from ..table import Table

        rows = [(float(r), float(a), float(b), float(c), "yes" if c < min(a, b) else "no")
                for r, a, b, c in zip(self.load, self.below_fcfs, self.below_onebit,
                                      self.above_sprpt, strict=True)]
        return Table(["load", "c2 below (vs FCFS)", "c2 below (vs 1bit)", "c2 above (vs SPRPT)",
                      "SkipPredict can win"], rows,
                     title=f"break-even expensive cost c2, {self.cost_model} model, "
                           f"T={self.threshold:g}, c1={self.cheap_cost:g}")

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __repr__(self):
        return str(self.table())


def _root(f, lo: float, hi: float, n: int = 48) -> float:
    """The first c in [lo, hi) where f changes sign from its sign at lo (grid, then brentq);
    ``hi`` if none."""
    from scipy.optimize import brentq

    grid = lo + (hi - lo) * (1 - np.cos(np.linspace(0, math.pi / 2, n + 1)))  # denser near hi
    grid[-1] = hi * (1 - 1e-12) if hi > 0 else hi
    f0 = f(grid[0])
    prev = grid[0]
    for g in grid[1:]:
        fg = f(g)
        if np.sign(fg) != np.sign(f0):
            if not np.isfinite(fg):
                fg = math.copysign(1e300, fg)
            return float(brentq(lambda c: min(max(f(c), -1e300), 1e300), prev, g, xtol=1e-12,
                                rtol=1e-10))
        prev = g
    return float(hi)


def break_even_cost(model, threshold: float, cheap_cost: float = 0.0, loads=None,
                    cost_model: str = "server", cheap=None) -> BreakEven:
    r"""When does predicting pay: for each load, the expensive-prediction cost :math:`c_2`
    below which SkipPredict beats FCFS and 1bit, and above which it beats SPRPT.

    External model (:math:`E[T]` of SkipPredict does not depend on :math:`c_2`; cost
    :math:`E[T_{SP}] + c_1 + c_2 p_L`):

    .. math::
        c_2^{FCFS} = \frac{E[T_{FCFS}] - E[T_{SP}] - c_1}{p_L},\quad
        c_2^{1bit} = \frac{E[T_{1bit}] - E[T_{SP}]}{p_L},\quad
        c_2^{SPRPT} = \frac{E[T_{SP}] + c_1 - E[T_{SPRPT}]}{1 - p_L}

    (clipped at 0). Server model: the roots in :math:`c_2` of the differences of the closed
    forms, between 0 and the cost at which SkipPredict becomes unstable.

    Parameters
    ----------
    model : qtheory.MG1
        Size law and expensive prediction law (its quality enters through it).
    threshold, cheap_cost : float
        SkipPredict's :math:`T` and :math:`c_1`.
    loads : sequence of float, optional
    cost_model : {"server", "external"}
    cheap : optional
        The cheap predictor (see :class:`SkipPredict`).

    Returns
    -------
    BreakEven
    """
    model = _mg1_of(model)
    cost_model = _cost_model(cost_model)
    rho = np.array([model.load]) if loads is None else check_loads("loads", loads)
    c1 = nonnegative("cheap_cost", cheap_cost)
    m = model.size.mean

    def cost(pol, r):
        return float(total_cost(model, pol, float(r)).cost)

    sp0 = SkipPredict(threshold, c1, 0.0, cost_model, cheap)
    pL = sp0.p_long(model)
    out = {k: np.empty(rho.size) for k in ("fcfs", "onebit", "sprpt")}
    for i, r in enumerate(rho):
        fc = cost(FCFS(), r)
        ob = cost(OneBitCost(threshold, c1, cost_model, cheap), r)
        if cost_model == "external":
            sp = float(total_cost(model, sp0, float(r)).mean)
            spr = cost(SPRPTCost(0.0, "external"), r)
            out["fcfs"][i] = max((fc - sp - c1) / pL, 0.0) if pL > 0 else (math.inf if sp + c1 < fc else 0.0)
            out["onebit"][i] = max((ob - sp - c1) / pL, 0.0) if pL > 0 else (math.inf if sp + c1 < ob else 0.0)
            out["sprpt"][i] = max((sp + c1 - spr) / (1 - pL), 0.0) if pL < 1 else 0.0
            continue
        # server model: SkipPredict is stable for c2 < (1/lam - E[X] - c1) / p_L
        lam = r / m
        room = 1.0 / lam - m - c1
        if room <= 0 or pL <= 0:
            # unstable even with free expensive predictions (or nobody gets one)
            val = 0.0 if room <= 0 else math.inf
            out["fcfs"][i] = out["onebit"][i] = val
            out["sprpt"][i] = 0.0
            continue
        hi = room / pL

        def skip(c2, r=r):
            return cost(SkipPredict(threshold, c1, c2, cost_model, cheap), r)

        def sprpt(c2, r=r):
            return cost(SPRPTCost(c2, cost_model), r)

        s0 = skip(0.0)
        out["fcfs"][i] = 0.0 if s0 >= fc else _root(lambda c2, b=fc: skip(c2) - b, 0.0, hi)
        out["onebit"][i] = 0.0 if s0 >= ob else _root(lambda c2, b=ob: skip(c2) - b, 0.0, hi)
        d0 = s0 - sprpt(0.0)
        if d0 < 0:
            out["sprpt"][i] = 0.0
        else:
            # SPRPT is unstable from c2 = 1/lam - E[X]: SkipPredict wins before that
            top = min(hi, 1.0 / lam - m)
            out["sprpt"][i] = _root(lambda c2: skip(c2) - sprpt(c2), 0.0, top)
    return BreakEven(rho, out["fcfs"], out["onebit"], out["sprpt"], cost_model,
                     float(threshold), c1)
