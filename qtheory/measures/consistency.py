r"""Consistency (E[T]/E[T_SRPT] with exact predictions) and Mitzenmacher's price of
misprediction.

Derivation: ``docs/robustness.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..laws.predictions import PerfectPrediction
from ..models.mg1 import MG1
from ._common import _check_load, _check_size, _model_first, _policy


@dataclass(frozen=True)
class ConsistencyResult:
    """E[T_policy]/E[T_SRPT] with perfect predictions (``method`` says how E[T] was computed)."""

    policy: str
    load: float
    size: str
    ratio: float
    mean_response_time: float
    srpt_mean_response_time: float
    method: str

    def __repr__(self):
        return (f"ConsistencyResult({self.policy}: E[T]/E[T_SRPT] = {self.ratio:.6g} at load "
                f"{self.load:g}, {self.size}; {self.method})")

    @property
    def value(self) -> float:
        """The ratio E[T]/E[T_SRPT] (``float(result)``)."""
        return float(self.ratio)

    def __float__(self):
        return float(self.ratio)


@dataclass(frozen=True)
class MispredictionResult:
    """Mitzenmacher's price of misprediction: E[T] with predictions / E[T] with true sizes."""

    policy: str
    counterpart: str
    ratio: float
    with_predictions: float
    with_sizes: float

    def __repr__(self):
        return (f"MispredictionResult({self.policy} / {self.counterpart} = {self.ratio:.6g}: "
                f"{self.with_predictions:.6g} vs {self.with_sizes:.6g})")

    @property
    def value(self) -> float:
        """The ratio E[T] with predictions / E[T] with true sizes (``float(result)``)."""
        return float(self.ratio)

    def __float__(self):
        return float(self.ratio)



def consistency(policy, size, load=None) -> ConsistencyResult:
    r"""E[T_policy]/E[T_SRPT] with perfect predictions :math:`Y = X` (consistency in the sense of
    Lykouris-Vassilvitskii / Purohit-Svitkina-Kumar, as used for M/G/1 by SGM 2022).

    Called as ``consistency(model, policy)`` (the model's size law and load; its prediction law
    is replaced by exact predictions) or ``consistency(policy, size, load)``.

    Prediction-based policies run on exact sizes (SPJF = SJF, PSPJF = PSJF, SPRPT = SRPT-Bounce =
    SRPT); size-based and blind policies are compared as they are.
    """
    policy, size, load, _, _ = _model_first(policy, size, load)
    pol = _policy(policy)
    size = _check_size(size)
    load = _check_load(load)
    q = MG1(load / size.mean, size, PerfectPrediction())
    srpt = q.mean_response_time("srpt")
    if pol.law_rank == "gittins" and pol.uses_predictions and not size.is_discrete:
        # Gittins on the point mass X | Y = x ranks by remaining size: it is SRPT
        twin = pol.size_twin() if pol.declares("size_twin") else None
        if twin is not None:
            et = q.mean_response_time(twin)
            return ConsistencyResult(pol.name, load, repr(size), et / srpt, et, srpt,
                                     f"{pol.name} given the exact size is {twin.name}")
    et = q.mean_response_time(pol)
    return ConsistencyResult(pol.name, load, repr(size), et / srpt, float(et), srpt, et.method)


def price_of_misprediction(policy, model: MG1) -> MispredictionResult:
    r"""Mitzenmacher's price of misprediction (ITCS 2020): :math:`E[T_\pi]` with the model's
    predictions over :math:`E[T]` of the same policy family with true sizes.

    Called as ``price_of_misprediction(model, policy)`` or ``price_of_misprediction(policy, model)``.

    SPJF is compared with SJF, PSPJF with PSJF, SPRPT with SRPT; SRPT-Bounce and
    ConditionalGittins, which both become SRPT with exact predictions, with SRPT; any other
    prediction-based policy with itself under ``PerfectPrediction``.
    """
    if isinstance(policy, MG1):
        policy, model = model, policy
    pol = _policy(policy)
    if not isinstance(model, MG1):
        raise ValueError(f"model must be a qt.MG1, got model={model!r}")
    if not pol.uses_predictions:
        raise ValueError(f"policy must use predictions (SPJF, PSPJF, SPRPT, ...), got policy={pol.name}")
    if model.prediction is None:
        raise ValueError("model must have a prediction law (prediction=...)")
    et = model.mean_response_time(pol)
    cp = pol.size_twin() if pol.declares("size_twin") else None
    if cp is not None:
        ref = MG1(model.arrival_rate, model.size).mean_response_time(cp)
        name = cp.name
    else:
        ref = MG1(model.arrival_rate, model.size, PerfectPrediction()).mean_response_time(pol)
        name = f"{pol.name} with exact sizes"
    return MispredictionResult(pol.name, name, et / ref, et, ref)
