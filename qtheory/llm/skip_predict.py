r"""SkipPredict with an external prediction cost (Shahout and Mitzenmacher, 2024): a cheap
one-bit prediction for every job, an expensive size prediction only for predicted-long ones;
exact SOAP formulas and a simulation. The server-cost model is in
:mod:`qtheory.llm.prediction_cost`.

Derivation: ``docs/prediction_cost.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import nonnegative
from ._model import _arrival_rates, _mg1
from .simulation import LLMSimResult, _check_sim_args, _priority_sim


# ============================================================================================
# Prediction cost: SkipPredict (external cost)
# ============================================================================================
@dataclass
class SkipPredictResult:
    r"""SkipPredict under the external-cost model, one entry per load.

    Attributes
    ----------
    load : ndarray
    mean : ndarray
        :math:`E[T]` (without prediction costs).
    cost : ndarray
        :math:`E[T] + c_1 + c_2 P(L)`, the paper's cost metric.
    p_long : float
        :math:`P(L)`, the fraction of jobs that receive the expensive prediction.
    mean_short, mean_long : ndarray
        :math:`E[T; S]`, :math:`E[T; L]` (unconditional partial means; they add up to ``mean``).
    """

    load: np.ndarray
    mean: np.ndarray
    cost: np.ndarray
    p_long: float
    mean_short: np.ndarray
    mean_long: np.ndarray


def _p_long_fn(cheap, threshold):
    """x -> P(cheap prediction >= threshold | X = x)."""
    from ..laws.predictions import MultiplicativePrediction, PerfectPrediction

    if callable(cheap) and not hasattr(cheap, "sample"):
        return lambda x: np.clip(np.asarray(cheap(np.asarray(x, float)), float), 0.0, 1.0)
    if isinstance(cheap, PerfectPrediction):
        return lambda x: (np.asarray(x, float) >= threshold).astype(float)
    if isinstance(cheap, MultiplicativePrediction):
        f = cheap.factor
        return lambda x: np.asarray(f.sf(threshold / np.asarray(x, float)), float)
    raise ValueError("cheap must be a multiplicative or perfect prediction law, or a function "
                     f"x -> P(predicted long | x); got cheap={cheap!r}")


def skip_predict_external(model, threshold: float, cheap=None, c1: float = 0.0, c2: float = 0.0,
                          loads=None) -> SkipPredictResult:
    r"""SkipPredict with external prediction costs (Shahout & Mitzenmacher, "SkipPredict: When
    to Invest in Predictions for Scheduling", NeurIPS 2024), exact by SOAP.

    A cheap one-bit prediction sends every job to the short class S (FCFS, ahead of every long
    job, non-preemptive among shorts) or the long class L; long jobs get an expensive prediction
    :math:`Y` (the ``model``'s prediction law) and are scheduled by SPRPT. Rank :math:`\langle 0
    \rangle` for shorts, :math:`\langle 1, y - a\rangle` for longs. With
    :math:`\rho_S = \lambda E[X; S]`, :math:`m_{2S} = E[X^2; S]`, :math:`A_L(v) = E[X; L, Y < v]`,
    :math:`B_L(y) = E[X^2; L, Y \le y]`, :math:`C_L(y) = E[((X - (Y - y))^+)^2; L, Y > y]`
    (derived by SOAP; :mod:`qtheory.llm.prediction_cost` has the full model with both cost models):

    .. math::
        E[T_S(x)] = x + \frac{\lambda m_{2S}}{2(1-\rho_S)}, \qquad
        E[T_L(x, y)] = \frac{\lambda (m_{2S} + B_L(y) + C_L(y))}
            {2(1 - \rho_S - \lambda A_{L\le}(y))(1 - \rho_S - \lambda A_L(y))}
          + \int_0^{\min(x, y)} \frac{dt}{1 - \rho_S - \lambda A_L(y - t)}
          + \frac{(x - y)^+}{1 - \rho_S},

    and the cost metric :math:`E[T] + c_1 + c_2 P(L)`. The same as
    ``qt.total_cost(model, qt.SkipPredict(threshold, c1, c2, "external", cheap))``, whose
    engine it uses.

    Derivation: ``docs/prediction_cost.md`` (section 3).

    Parameters
    ----------
    model : qtheory.MG1
        Size law and the *expensive* prediction law (multiplicative: exponential, uniform or
        log-normal errors, on continuous or discrete sizes; or any discrete law: ``Empirical``
        sizes with perfect predictions, ``EmpiricalPairs``).
    threshold : float
        :math:`T`: a job is predicted long iff its cheap prediction is :math:`\ge T`.
    cheap : prediction law or callable, optional
        The cheap predictor, drawn independently of the expensive one given the size (default:
        the same law as the model's prediction), or a function ``x -> P(long | x)``.
    c1, c2 : float
        Cost of a cheap and of an expensive prediction (>= 0).
    """
    from .prediction_cost import SkipPredict

    model = _mg1(model, "skip_predict_external")
    T_ = nonnegative("threshold", threshold)
    c1 = nonnegative("c1", c1)
    c2 = nonnegative("c2", c2)
    if model.prediction is None:
        raise ValueError("SkipPredict needs the expensive predictions: pass a model with "
                         "prediction=...")
    pol = SkipPredict(T_, c1, c2, "external", cheap)
    lams = _arrival_rates(model, loads)
    parts = pol._parts(model)
    both = np.array([pol._time(parts, float(lam)) for lam in lams]).reshape(-1, 2)
    mean, mean_long = both[:, 0], both[:, 1]
    p_long = pol.p_long(model)
    return SkipPredictResult(lams * model.size.mean, mean, mean + c1 + c2 * p_long, p_long,
                             mean - mean_long, mean_long)


def simulate_skip_predict(model, threshold: float, cheap=None, jobs: int = 400_000, seed=None,
                          replications: int = 8, warmup: float = 0.05) -> LLMSimResult:
    """Monte Carlo of SkipPredict (:func:`skip_predict_external`) with the kernel
    :func:`qtheory.sim.llm_kernels.priority_run`: shorts have rank -1e300 (FCFS, never
    preempted by a long job), longs SPRPT on the expensive prediction."""
    model = _mg1(model, "simulate_skip_predict")
    T_ = nonnegative("threshold", threshold)
    jobs, replications = _check_sim_args(jobs, replications, warmup)
    q = _p_long_fn(model.prediction if cheap is None else cheap, T_)

    def build(x, y, rng):
        long_ = rng.random(x.size) < q(x)
        key0 = np.where(long_, y, -1e300)
        slope = np.where(long_, 1.0, 0.0)
        return key0, slope, np.full(x.size, np.inf)

    return _priority_sim(model, build, jobs, seed, replications, warmup, (0.0, 0.0))
