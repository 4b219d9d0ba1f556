"""The M/G/1 model: Poisson arrivals, a size law, optionally a prediction law."""

from __future__ import annotations

import math

import numpy as np

from . import soap
from ._validation import load_below_one, positive
from .gittins import blind_equivalent
from .policies import (
    FCFS,
    LAS,
    PS,
    PSJF,
    PSPJF,
    SJF,
    SPJF,
    SPRPT,
    SRPT,
    Gittins,
    Policy,
    get_policy,
)
from .predictions import EmpiricalPairs, PredictionLaw
from .sizes import SizeLaw
from .table import Table

_SIZE_MEAN = {FCFS: soap.fcfs_mean, PS: soap.ps_mean, LAS: soap.las_mean, SJF: soap.sjf_mean,
              PSJF: soap.psjf_mean, SRPT: soap.srpt_mean}
_PRED_MEAN = {SPJF: soap.spjf_mean, PSPJF: soap.pspjf_mean, SPRPT: soap.sprpt_mean}
_SIZE_COND = {LAS: soap.las_conditional, SJF: soap.sjf_conditional,
              PSJF: soap.psjf_conditional, SRPT: soap.srpt_conditional}
_PRED_COND = {SPJF: soap.spjf_conditional, PSPJF: soap.pspjf_conditional,
              SPRPT: soap.sprpt_conditional}


class MG1:
    r"""An M/G/1 queue with job-size predictions.

    Parameters
    ----------
    arrival_rate : float
        Poisson arrival rate :math:`\lambda`; the load :math:`\rho = \lambda E[X]` must be < 1.
    size : SizeLaw
        The law of the job size X (for :class:`EmpiricalPairs` predictions it may be omitted).
    prediction : PredictionLaw, optional
        The law of the prediction Y given X = x. Required by prediction-based policies.

    Examples
    --------
    >>> import qtheory as qt
    >>> q = qt.MG1(arrival_rate=0.8, size=qt.Exponential(mean=1.0),
    ...            prediction=qt.ExponentialPrediction())
    >>> round(q.mean_response_time("fcfs"), 6)
    5.0
    """

    def __init__(self, arrival_rate: float, size: SizeLaw | None = None,
                 prediction: PredictionLaw | None = None):
        self.arrival_rate = positive("arrival_rate", arrival_rate)
        if size is None and isinstance(prediction, EmpiricalPairs):
            size = prediction.size_law()
        if not isinstance(size, SizeLaw):
            raise ValueError(f"size must be a size law such as qt.Exponential(mean=1.0), got "
                             f"size={size!r}")
        if prediction is not None and not isinstance(prediction, PredictionLaw):
            raise ValueError(f"prediction must be a prediction law such as "
                             f"qt.LogNormalPrediction(sigma=0.5), got prediction={prediction!r}")
        self.size = size
        self.prediction = prediction
        mean = size.mean
        if not math.isfinite(mean):
            raise ValueError(f"size has an infinite mean ({size!r}): the load is infinite")
        load_below_one(self.arrival_rate * mean)

    # -- basic quantities -----------------------------------------------------------------------
    @property
    def load(self) -> float:
        r""":math:`\rho = \lambda E[X]`."""
        return self.arrival_rate * self.size.mean

    def __repr__(self):
        p = f", prediction={self.prediction!r}" if self.prediction is not None else ""
        return f"MG1(arrival_rate={self.arrival_rate!r}, size={self.size!r}{p})"

    def with_load(self, load: float) -> MG1:
        """The same size and prediction laws at another load."""
        return MG1(load / self.size.mean, self.size, self.prediction)

    # -- evaluation -----------------------------------------------------------------------------
    def _joint(self, policy: Policy):
        if self.prediction is None:
            raise ValueError(f"policy {policy.name} uses predictions but this model has none; "
                             "pass prediction=... (e.g. qt.LogNormalPrediction(sigma=0.5))")
        return self.prediction.joint(self.size)

    def _exact_equivalent(self, policy: Policy) -> Policy:
        """Gittins on a law where it schedules exactly as FB or FCFS (see
        :func:`qtheory.gittins.blind_equivalent`): that policy, whose closed forms are exact
        (the generic route tabulates the rank numerically)."""
        if type(policy) is Gittins:
            eq = blind_equivalent(self.size)
            if eq is not None:
                return get_policy(eq)
        return policy

    def _means(self, policy, lam: np.ndarray) -> np.ndarray:
        policy = self._exact_equivalent(get_policy(policy))
        t = type(policy)
        if t in _SIZE_MEAN:
            return _SIZE_MEAN[t](self.size, lam)
        if t in _PRED_MEAN:
            return _PRED_MEAN[t](self._joint(policy), lam)
        hook = getattr(policy, "closed_form_mean", None)  # e.g. qt.LimitedPreemption
        if hook is not None:
            out = hook(self, lam)
            if out is not None:
                return np.asarray(out, float)
        from . import generic

        return generic.mean_response_time(self, policy, lam)

    def mean_response_time(self, policy) -> float:
        r"""Mean response time :math:`E[T]` under ``policy`` (an object or a name)."""
        return float(self._means(policy, np.array([self.arrival_rate]))[0])

    def sweep(self, policy, loads) -> np.ndarray:
        """Mean response time at each load in ``loads`` (same size and prediction laws).

        The threshold functions are computed once and reused for every load.
        """
        loads = np.atleast_1d(np.asarray(loads, float))
        if np.any(loads <= 0) or np.any(loads >= 1):
            bad = loads[(loads <= 0) | (loads >= 1)][0]
            raise ValueError(f"loads must lie in (0, 1), got load={bad!r}")
        return self._means(policy, loads / self.size.mean)

    def response_time(self, policy, x, y=None):
        r"""Conditional mean response time :math:`E[T \mid X=x, Y=y]` (``y`` for
        prediction-based policies). Scalars give a float, arrays an array."""
        policy = self._exact_equivalent(get_policy(policy))
        t = type(policy)
        lam = np.array([self.arrival_rate])
        scalar = np.ndim(x) == 0 and np.ndim(y) == 0
        xa = np.atleast_1d(np.asarray(x, float))
        if np.any(xa <= 0):
            raise ValueError(f"x must be > 0, got x={x!r}")
        if t is FCFS:
            out = xa + (self.mean_response_time(policy) - self.size.mean)
        elif t is PS:
            out = xa / (1 - self.load)
        elif t in _SIZE_COND:
            out = _SIZE_COND[t](self.size, lam, xa)[0]
        elif t in _PRED_COND:
            if y is None:
                raise ValueError(f"policy {policy.name} needs the prediction y")
            out = _PRED_COND[t](self._joint(policy), lam, xa, y)[0]
        elif getattr(policy, "closed_form_response_time", None) is not None:
            if y is None and policy.uses_predictions:
                raise ValueError(f"policy {policy.name} needs the prediction y")
            out = np.atleast_1d(np.asarray(policy.closed_form_response_time(self, xa, y), float))
        else:
            from . import generic

            out = generic.response_time(self, policy, xa, y)
        return float(out[0]) if scalar else out

    def mean_slowdown(self, policy) -> float:
        r"""Mean slowdown :math:`E[T/X]` (``inf`` where it diverges)."""
        from . import slowdown

        return slowdown.mean_slowdown(self, self._exact_equivalent(get_policy(policy)))

    def compare(self, policies=("fcfs", "ps", "srpt", "spjf", "pspjf", "sprpt")) -> Table:
        """A table of mean response times, one row per policy, with the ratio to SRPT."""
        rows = []
        srpt = self.mean_response_time("srpt")
        for p in policies:
            pol = get_policy(p)
            if pol.uses_predictions and self.prediction is None:
                continue
            et = self.mean_response_time(pol)
            rows.append((pol.name, et, et / srpt))
        return Table(["policy", "E[T]", "E[T]/E[T_SRPT]"], rows,
                     title=f"M/G/1 at load {self.load:.4g}: {self.size!r}"
                           + (f", {self.prediction!r}" if self.prediction is not None else ""))


__all__ = ["MG1"]
