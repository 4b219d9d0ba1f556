"""Argument checks shared by the measures (errors name the parameter)."""

from __future__ import annotations

import math

from .._validation import plain, positive, real
from ..laws.sizes import SizeLaw
from ..models.mg1 import MG1
from ..policies import Policy, get_policy


def _closed_on_pairs(pol: Policy) -> bool:
    """Whether the policy's mean on an EmpiricalPairs law has a closed form (fast): the
    prediction-based SJF, PSJF and SRPT shapes (SPJF, PSPJF, SPRPT)."""
    return pol.descriptor == "prediction" and pol.formula_form() in ("nonpreemptive", "static", "remaining")


def _generic_on_pairs(pol: Policy) -> bool:
    """Whether :class:`qtheory.MG1` evaluates the policy's mean on an EmpiricalPairs law by the
    generic SOAP evaluator (:func:`qtheory.engine.generic.evaluate_discretised`, exact there):
    a SOAP policy ranked by the prediction without a closed form (SRPT-Bounce,
    ConditionalGittins, a prediction :class:`~qtheory.policies.Rank`) and without a
    closed-form hook or an exact equivalent of its own (TRAIL's hook takes its closed form where
    it applies)."""
    return (pol.descriptor == "prediction" and pol.soap and not _closed_on_pairs(pol)
            and type(pol).closed_form_mean is Policy.closed_form_mean
            and type(pol).exact_equivalent is Policy.exact_equivalent)


# ---- validation -----------------------------------------------------------------------------
def _check_load(load) -> float:
    v = real("load", load)
    if not (math.isfinite(v) and 0 < v < 1):
        raise ValueError(f"load must lie in (0, 1) for a stable queue, got load={plain(load)}")
    return v


def _check_ab(alpha, beta) -> tuple[float, float]:
    b = positive("beta", beta)
    a = real("alpha", alpha)
    if not math.isfinite(a):
        raise ValueError(f"alpha must be finite, got alpha={plain(alpha)}")
    if a < b:
        raise ValueError(f"alpha must be >= beta, got alpha={plain(alpha)} < beta={plain(beta)}")
    return a, b


def _check_size(size) -> SizeLaw:
    if not isinstance(size, SizeLaw):
        raise ValueError(f"size must be a size law such as qt.Exponential(mean=1.0), got size={size!r}")
    if not math.isfinite(size.mean):
        raise ValueError(f"size must have a finite mean, got size={size!r}")
    return size


def _model_first(first, second, load=None, alpha=None, beta=None):
    """``(policy, size, load, alpha, beta)`` from the library's argument order ``(model, policy,
    [alpha, beta])`` (``model`` a :class:`qtheory.MG1`: its size law and load) or the older
    ``(policy, size, load, [alpha, beta])``."""
    if isinstance(first, MG1):
        if beta is None and alpha is not None and load is not None:  # (model, policy, alpha, beta)
            load, alpha, beta = None, load, alpha
        if load is not None:
            raise TypeError(f"with a model first, the load is the model's ({first.load:.6g}); got load={plain(load)}")
        return second, first.size, first.load, alpha, beta
    return first, second, load, alpha, beta



def _policy(policy) -> Policy:
    try:
        return get_policy(policy)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"policy: {exc}") from None


# ---- results ----------------------------------------------------------------------------------
