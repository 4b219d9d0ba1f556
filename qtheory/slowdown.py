r"""Mean slowdown :math:`E[T/X]`.

:math:`E[T/X] = E[E[T \mid X, Y] / X]`. It is infinite whenever the response time of tiny jobs
does not vanish with their size and :math:`E[1/X] = \infty` (e.g. exponential sizes under FCFS,
SJF, or SPRPT with noisy predictions, where a tiny job still waits behind old work); such cases
return ``inf`` rather than a truncated finite number.
"""

from __future__ import annotations

import math

import numpy as np

from . import soap
from ._quadrature import panels, size_rule
from .policies import FCFS, LAS, PS, PSJF, SJF, SRPT, Policy


def inverse_mean_infinite(size) -> bool:
    r"""Whether :math:`E[1/X] = \infty`: the cdf near 0 behaves like :math:`x^p` with
    :math:`p \le 1`, estimated from two small quantiles (atoms at 0 are impossible)."""
    if size.is_discrete or size.support[0] > 0:
        return False
    e1, e2 = float(size.ppf(1e-12)), float(size.ppf(1e-9))
    if not (e1 > 0 and e2 > e1):
        return True
    p = math.log(1e-9 / 1e-12) / math.log(e2 / e1)
    return p <= 1.0 + 1e-3


def _residence_srpt(size, lam, x):
    """int_0^x dt / (1 - lam M_1(t)) for every x, by Gauss-Legendre on [0, x] in log t."""
    lo = x * 1e-14
    edges = np.stack([np.log(lo) + (np.log(x) - np.log(lo)) * k / 24 for k in range(25)], axis=-1)
    u, w = panels(edges, 8)
    t = np.exp(u)
    return np.sum(w * t / (1 - lam * size.partial_moment(1, t, strict=True)), axis=-1) + lo


def mean_slowdown(model, policy: Policy) -> float:
    """E[T/X] of ``policy`` in ``model`` (``inf`` where it diverges)."""
    size, lam = model.size, model.arrival_rate
    t = type(policy)
    if policy.descriptor == "prediction" and model.prediction is not None \
            and model.prediction.is_perfect and t.__name__ in ("SPJF", "PSPJF", "SPRPT"):
        t = {"SPJF": SJF, "PSPJF": PSJF, "SPRPT": SRPT}[t.__name__]
    inv_inf = inverse_mean_infinite(size)
    rho = model.load
    if t is PS:
        return 1.0 / (1.0 - rho)
    if t in (FCFS, SJF) or (policy.descriptor == "prediction" and not policy.preemptive):
        if inv_inf or math.isinf(size.moment(2)):
            return math.inf
    x, w = size_rule(size)
    if t is FCFS:
        winv = float(np.sum(w / x))
        return 1.0 + lam * size.moment(2) / (2 * (1 - rho)) * winv
    if t is LAS:
        return float(np.sum(w * soap.las_conditional(size, lam, x)[0] / x))
    if t is SJF:
        return float(np.sum(w * soap.sjf_conditional(size, lam, x)[0] / x))
    if t is PSJF:
        return float(np.sum(w * soap.psjf_conditional(size, lam, x)[0] / x))
    if t is SRPT:
        T = soap.srpt_waiting(size, lam, x)[0] + _residence_srpt(size, lam, x)
        return float(np.sum(w * T / x))
    if policy.descriptor == "prediction":
        pred = model.prediction
        if pred is None:
            raise ValueError(f"policy {policy.name} needs a model with prediction=...")
        j = pred.joint(size)
        # SPRPT-type ranks (decreasing in age): a tiny job still waits for the old jobs'
        # second intervals, C(0+) = E[((X - Y)^+)^2] > 0
        if inv_inf and policy.monotone == "decreasing" \
                and float(j.C(np.array([1e-300]))[0]) > 0:
            return math.inf
    from . import generic

    return generic.mean_slowdown(model, policy)
