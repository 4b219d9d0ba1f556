r"""Mean slowdown :math:`E[T/X]`.

:math:`E[T/X] = E[E[T \mid X, Y] / X]`. It is infinite whenever the response time of tiny jobs
does not vanish with their size and :math:`E[1/X] = \infty` (e.g. exponential sizes under FCFS,
SJF, or SPRPT with noisy predictions, where a tiny job still waits behind old work); such cases
return ``inf`` rather than a truncated finite number.

Routes: closed forms for FCFS, PS, LAS, SJF, PSJF and SRPT (sums over the size rule; SRPT's
residence as :math:`\int_0^\infty E[X^{-1}; X > t]/(1-\rho_{<t})\,dt`, exact on atoms); SPJF,
PSPJF and SPRPT by :func:`prediction_slowdown` on the same threshold functions as their means
(agreeing with quadratures of :math:`E[T \mid x, y]/x` to 1e-9 or better in the tests, on
continuous, atomic, one-bit, factor-map and empirical-pair laws); every other policy by the
generic evaluator (:func:`qtheory.engine.generic.mean_slowdown`).

Derivation: ``docs/soap_predictions.md`` (section 8).
"""

from __future__ import annotations

import math

import numpy as np

from ..laws._quadrature import size_rule
from ..laws.joint import OneBitJoint
from ..policies import Policy
from . import soap


def inverse_mean_infinite(size) -> bool:
    r"""Whether :math:`E[1/X] = \infty`: the cdf near 0 behaves like :math:`x^p` with
    :math:`p \le 1` (:attr:`qtheory.SizeLaw.zero_exponent`; atoms at 0 are impossible)."""
    return size.zero_exponent <= 1.0


def _wsum(terms: np.ndarray, w: np.ndarray) -> float:
    """``sum(w * terms)`` where a zero weight contributes nothing even against an infinite term."""
    return float(np.sum(np.where(w > 0, w * terms, 0.0)))


def _residence(j, lam: float) -> float:
    r""":math:`E[X^{-1}\int_{(Y-X)^+}^{Y} dv/(1-\lambda A_<(v))] = \int_0^\infty
    K(v)/(1-\lambda A_<(v))\,dv` with :math:`K(v) = E[X^{-1}(1\{Y>v\} - 1\{Y-X>v\})]`.

    The total of :math:`K` is known exactly, :math:`\int_0^\infty K(v)\,dv =
    E[\min(X, Y)/X] = 1 - E[(1 - Y/X)^+]`; what the node grid misses of it lies next to
    :math:`v = 0`, where :math:`K` rises like :math:`v^{p-1}` when the size density behaves
    like :math:`x^{p-1}` (:math:`p` near 1) and :math:`1/(1-\lambda A_<) \to 1`: it is
    added at the smallest node (Weibull(1.018) sizes with a log-uniform factor on [1, 1.5]:
    the SPRPT slowdown was 1.7e-8 low). Where the grid integrates :math:`K` exactly (atoms,
    pairs) the correction is rounding."""
    _, K, exc = j.inverse_terms()
    val = _wsum(K / (1 - lam * j.A_lt_v), j.w_dv)
    missing = (1.0 - exc) - _wsum(K, j.w_dv)
    if math.isfinite(missing) and math.isfinite(val) and j.v.size:
        val += missing / (1 - lam * float(j.A_lt_v[int(np.argmin(j.v))]))
    return val


def prediction_slowdown(j, form: str, lam: float) -> float:
    r"""E[T/X] of SPJF, PSPJF or SPRPT on the joint law ``j``, with the same threshold functions
    as the means and the slowdown weights of :meth:`qtheory.laws.joint.Joint.inverse_terms`:

    .. math::
        E[T/X]_{SPJF} = 1 + \frac{\lambda E[X^2]}{2} E\Big[\frac{X^{-1}}{d(Y)}\Big],\quad
        E[T/X]_{PSPJF} = E\Big[\frac{\lambda B(Y) X^{-1}}{2 d(Y)}\Big]
            + E\Big[\frac{1}{1-\lambda A_<(Y)}\Big],

    .. math::
        E[T/X]_{SPRPT} = E\Big[\frac{\lambda (B(Y)+C(Y)) X^{-1}}{2 d(Y)}\Big]
            + \int_0^\infty \frac{K(v)\,dv}{1-\lambda A_<(v)} + E[(1 - Y/X)^+],

    :math:`d(y) = (1-\lambda A_\le(y))(1-\lambda A_<(y))`; each is the integral of the
    conditional mean :math:`E[T \mid x, y]/x` over the joint law.

    Derivation: ``docs/soap_predictions.md`` (section 8).
    """
    w_inv, _, exc = j.inverse_terms()
    d = (1 - lam * j.A_le_v) * (1 - lam * j.A_lt_v)
    if form == "nonpreemptive":  # SPJF
        return 1.0 + lam * j.m2 / 2 * _wsum(1.0 / d, w_inv)
    if form == "static":  # PSPJF
        return _wsum(lam * j.B_v / (2 * d), w_inv) + _wsum(1.0 / (1 - lam * j.A_lt_v), j.w_prob)
    if form == "remaining":  # SPRPT
        return _wsum(lam * (j.B_v + j.C_v) / (2 * d), w_inv) + _residence(j, lam) + exc
    raise ValueError(f"no slowdown formula for the rank form {form!r}")


def mean_slowdown(model, policy: Policy) -> float:
    """E[T/X] of ``policy`` in ``model`` (``inf`` where it diverges)."""
    size, lam = model.size, model.arrival_rate
    form, desc = policy.formula_form(), policy.descriptor
    inv_inf = inverse_mean_infinite(size)
    if desc == "prediction" and model.prediction is not None and model.prediction.is_perfect \
            and form in ("nonpreemptive", "static", "remaining"):
        if inv_inf and form == "remaining" and model.prediction.is_noisy:
            # an error evaluated as perfect (below PERFECT_SPREAD) still under-predicts some
            # tiny jobs, which then wait for old jobs' second intervals: E[T/X] = inf
            return math.inf
        desc = "size"  # Y = X: the size-based twin (SJF, PSJF, SRPT)
    rho = model.load
    if form == "sharing":
        return 1.0 / (1.0 - rho)
    if (form in ("constant", "nonpreemptive") and desc != "prediction") \
            or (policy.descriptor == "prediction" and not policy.preemptive):
        if inv_inf or math.isinf(size.moment(2)):
            return math.inf
    if desc != "prediction" and form in ("constant", "age", "nonpreemptive", "static", "remaining"):
        x, w = size_rule(size)
        if form == "constant":  # FCFS
            winv = float(np.sum(w / x))
            return 1.0 + lam * size.moment(2) / (2 * (1 - rho)) * winv
        if form == "remaining":  # SRPT
            # waiting term at the size nodes; residence int_0^inf E[X^{-1}; X > t]/(1 - rho_{<t}) dt
            wait = float(np.sum(w * soap.srpt_waiting(size, lam, x)[0] / x))
            return wait + _residence(soap._perfect_joint(size), lam)
        cond = {"age": soap.las_conditional, "nonpreemptive": soap.sjf_conditional,
                "static": soap.psjf_conditional}[form]
        return float(np.sum(w * cond(size, lam, x)[0] / x))
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
        if inv_inf and form in ("static", "remaining") and isinstance(j, OneBitJoint) \
                and float(j.B(np.array([1.0 if j.q_small == 1.0 else 0.0]))[0]) > 0:
            # one-bit labels do not shrink with the size: a tiny job labelled y waits for the
            # old jobs with labels <= y (lam B(y) / (2 d(y)) > 0) and E[1/X] = inf
            return math.inf
        if form in ("nonpreemptive", "static", "remaining"):
            if form != "static" and math.isinf(j.m2) and (form == "nonpreemptive" or j.excess > 0):
                return math.inf
            return prediction_slowdown(j, form, lam)
    from . import generic

    return generic.mean_slowdown(model, policy)
