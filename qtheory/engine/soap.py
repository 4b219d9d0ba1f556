r"""The SOAP mean-response-time theorem and its closed-form reductions, vectorised over loads.

For a job with descriptor :math:`d`, size :math:`x` and worst future rank
:math:`r = r^{worst}_{d,x}(0)` (Scully, Harchol-Balter, Scheller-Wolf, POMACS 2018, Thm 5.5):

.. math::
    E[T_{d,x}] = \frac{\lambda \sum_{i\ge0} E[(X^{old}_i[r])^2]}
                      {2(1-\rho^{old}_0[r])(1-\rho^{new}[r])}
               + \int_0^x \frac{da}{1-\rho^{new}[r^{worst}_{d,x}(a)]}.

New jobs count while their rank is *strictly* below :math:`r`, old jobs while it is at most
:math:`r` (FCFS tie-breaking), which gives the strict/non-strict loads :math:`\rho_{<x}`,
:math:`\rho_{\le x}` at atoms. The functions of the threshold do not depend on the arrival
rate; they are computed once per (size law, prediction law) and reused for every load.

This module holds the closed-form reductions for the built-in policies; :mod:`qtheory.engine.generic`
evaluates the theorem for any rank function.

Derivation: ``docs/soap_predictions.md``.
"""

from __future__ import annotations

import math

import numpy as np

from ..laws._quadrature import size_rule


def _lam(lam) -> np.ndarray:
    return np.atleast_1d(np.asarray(lam, dtype=float))


def _col(lam):
    return _lam(lam)[:, None]


# ---- blind -----------------------------------------------------------------------------------
def fcfs_mean(size, lam):
    r"""Pollaczek-Khinchine: :math:`E[T] = E[X] + \lambda E[X^2]/(2(1-\rho))`; ``inf`` when
    :math:`E[X^2] = \infty`.

    Derivation: ``docs/soap_predictions.md`` (section 6).
    """
    lam = _lam(lam)
    m1, m2 = size.mean, size.moment(2)
    if math.isinf(m2):
        return np.full(lam.shape, np.inf)
    return m1 + lam * m2 / (2 * (1 - lam * m1))


def ps_mean(size, lam):
    r"""Processor sharing: :math:`E[T] = E[X]/(1-\rho)` (insensitive to the size law)."""
    lam = _lam(lam)
    return size.mean / (1 - lam * size.mean)


def las_conditional(size, lam, x):
    r"""FB/LAS: :math:`E[T\mid x] = \frac{x}{1-\bar\rho_x} + \frac{\lambda E[\min(X,x)^2]}
    {2(1-\bar\rho_x)^2}`, :math:`\bar\rho_x = \lambda E[\min(X,x)]`.

    Derivation: ``docs/soap_predictions.md`` (section 6).
    """
    L = _col(lam)
    x = np.asarray(x, float)[None, :]
    rb = L * size.mean_min(1, x)
    return x / (1 - rb) + L * size.mean_min(2, x) / (2 * (1 - rb) ** 2)


def las_mean(size, lam):
    x, w = size_rule(size)
    return las_conditional(size, lam, x) @ w


# ---- size-based (descriptor = size) ----------------------------------------------------------
def _size_loads(size, x):
    return size.partial_moment(1, x), size.partial_moment(1, x, strict=True)


def sjf_conditional(size, lam, x):
    r"""Phipps (1956): :math:`E[T\mid x] = x + \lambda E[X^2]/(2(1-\rho_{\le x})(1-\rho_{<x}))`.

    Derivation: ``docs/soap_predictions.md`` (section 6).
    """
    L = _col(lam)
    x = np.asarray(x, float)[None, :]
    m2 = size.moment(2)
    if math.isinf(m2):
        return np.full(np.broadcast(L, x).shape, np.inf)
    le, lt = _size_loads(size, x)
    return x + L * m2 / (2 * (1 - L * le) * (1 - L * lt))


def psjf_conditional(size, lam, x):
    r""":math:`E[T\mid x] = \lambda M_2(x)/(2(1-\rho_{\le x})(1-\rho_{<x})) + x/(1-\rho_{<x})`.

    Derivation: ``docs/soap_predictions.md`` (section 6).
    """
    L = _col(lam)
    x = np.asarray(x, float)[None, :]
    le, lt = _size_loads(size, x)
    return L * size.partial_moment(2, x) / (2 * (1 - L * le) * (1 - L * lt)) + x / (1 - L * lt)


def srpt_waiting(size, lam, x):
    r"""SRPT waiting term :math:`\lambda(M_2(x) + x^2\bar F(x))/(2(1-\rho_{\le x})(1-\rho_{<x}))`.

    Derivation: ``docs/soap_predictions.md`` (section 6).
    """
    L = _col(lam)
    x = np.asarray(x, float)[None, :]
    le, lt = _size_loads(size, x)
    return L * (size.partial_moment(2, x) + size.power_sf(2, x)) / (2 * (1 - L * le) * (1 - L * lt))


def sjf_mean(size, lam):
    if math.isinf(size.moment(2)):
        return np.full(_lam(lam).shape, np.inf)
    x, w = size_rule(size)
    return sjf_conditional(size, lam, x) @ w


def psjf_mean(size, lam):
    x, w = size_rule(size)
    return psjf_conditional(size, lam, x) @ w


def _perfect_joint(size):
    """The joint law of (X, Y = X), cached on the size law."""
    cache = size.__dict__.setdefault("_qt_cache", {})
    if "perfect_joint" not in cache:
        from ..laws.joint import PerfectJoint

        cache["perfect_joint"] = PerfectJoint(size)
    return cache["perfect_joint"]


def srpt_mean(size, lam):
    r"""Schrage & Miller (1966): :math:`E[T] = E[\text{waiting}(X)] +
    \int_0^\infty \bar F(t)/(1-\rho_{<t})\,dt` (the residence term averaged over X).

    Derivation: ``docs/soap_predictions.md`` (section 6).
    """
    x, w = size_rule(size)
    wait = srpt_waiting(size, lam, x) @ w
    j = _perfect_joint(size)
    L = _col(lam)
    res = (j.G_v[None, :] / (1 - L * j.A_lt_v[None, :])) @ j.w_dv
    return wait + res


def srpt_conditional(size, lam, x):
    r"""SRPT :math:`E[T\mid x]`: waiting plus :math:`\int_0^x dt/(1-\rho_{<t})`.

    Derivation: ``docs/soap_predictions.md`` (section 6).
    """
    j = _perfect_joint(size)
    lam = _lam(lam)
    x = np.atleast_1d(np.asarray(x, float))
    res = np.array([j.H_many(0.0, x, li) for li in lam])
    return srpt_waiting(size, lam, x) + res


# ---- prediction-based (descriptor = prediction; joint law of (X, Y)) -----------------------
def _wdot(terms: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``terms @ w`` where a zero weight contributes nothing even against an infinite term (a
    threshold with no prediction mass, e.g. B(y) = E[X^2] = inf at an empty grid point), so that
    an infinite mean comes out as inf, never NaN."""
    return np.where(w[None, :] > 0, terms, 0.0) @ w


def _denoms(j, L, le, lt):
    return (1 - L * le) * (1 - L * lt)


def spjf_mean(joint, lam):
    r""":math:`E[T] = E[X] + \frac{\lambda E[X^2]}{2} E\left[\frac{1}{(1-\lambda A_\le(Y))
    (1-\lambda A_<(Y))}\right]`.

    Derivation: ``docs/soap_predictions.md`` (section 7.1).
    """
    L = _col(lam)
    if math.isinf(joint.m2):
        return np.full(L.shape[0], np.inf)
    d = _denoms(joint, L, joint.A_le_v[None, :], joint.A_lt_v[None, :])
    return joint.mean + L[:, 0] * joint.m2 / 2 * ((1.0 / d) @ joint.w_prob)


def pspjf_mean(joint, lam):
    r""":math:`E[T] = E\left[\frac{\lambda B(Y)}{2(1-\lambda A_\le(Y))(1-\lambda A_<(Y))}\right]
    + E\left[\frac{X}{1-\lambda A_<(Y)}\right]`.

    Derivation: ``docs/soap_predictions.md`` (section 7.2).
    """
    L = _col(lam)
    lt, le = joint.A_lt_v[None, :], joint.A_le_v[None, :]
    wait = _wdot(L * joint.B_v[None, :] / (2 * _denoms(joint, L, le, lt)), joint.w_prob)
    return wait + (1.0 / (1 - L * lt)) @ joint.w_x


def sprpt_mean(joint, lam):
    r""":math:`E[T] = E\left[\frac{\lambda(B(Y)+C(Y))}{2(1-\lambda A_\le(Y))(1-\lambda A_<(Y))}
    \right] + \int_0^\infty \frac{P(Y>v) - P(Y-X>v)}{1-\lambda A_<(v)}dv + E[(X-Y)^+]`.

    Derivation: ``docs/soap_predictions.md`` (section 7.3).
    """
    L = _col(lam)
    if _sprpt_infinite(joint):
        return np.full(L.shape[0], np.inf)
    lt, le = joint.A_lt_v[None, :], joint.A_le_v[None, :]
    wait = _wdot(L * (joint.B_v + joint.C_v)[None, :] / (2 * _denoms(joint, L, le, lt)), joint.w_prob)
    res = (joint.G_v[None, :] / (1 - L * lt)) @ joint.w_dv
    return wait + res + joint.excess


def _sprpt_infinite(joint) -> bool:
    r"""SPRPT's old work :math:`C(y)` holds :math:`E[((X - Y)^+)^2]`, infinite when
    :math:`E[X^2] = \infty` and predictions fall short of sizes with positive probability
    (:math:`E[(X-Y)^+] > 0`), e.g. :math:`E[X^2 (1-Z)^2 1\{Z<1\}] = \infty` for ``Y = XZ``."""
    return math.isinf(joint.m2) and joint.excess > 0


def _xy(x, y):
    x = np.atleast_1d(np.asarray(x, float))
    y = np.atleast_1d(np.asarray(y, float))
    return np.broadcast_arrays(x, y)


def spjf_conditional(joint, lam, x, y):
    L = _col(lam)
    x, y = _xy(x, y)
    if math.isinf(joint.m2):
        return np.full((L.shape[0], x.size), np.inf)
    d = (1 - L * joint.A_le(y)[None, :]) * (1 - L * joint.A_lt(y)[None, :])
    return x[None, :] + L * joint.m2 / (2 * d)


def pspjf_conditional(joint, lam, x, y):
    L = _col(lam)
    x, y = _xy(x, y)
    lt = joint.A_lt(y)[None, :]
    d = (1 - L * joint.A_le(y)[None, :]) * (1 - L * lt)
    return L * joint.B(y)[None, :] / (2 * d) + x[None, :] / (1 - L * lt)


def sprpt_conditional(joint, lam, x, y):
    lam = _lam(lam)
    L = lam[:, None]
    x, y = _xy(x, y)
    lt = joint.A_lt(y)[None, :]
    d = (1 - L * joint.A_le(y)[None, :]) * (1 - L * lt)
    wait = L * (joint.B(y) + joint.C(y))[None, :] / (2 * d)
    res = np.array([joint.H_many(np.maximum(y - x, 0.0), y, li) for li in lam])
    return wait + res + np.maximum(x - y, 0.0)[None, :]


# ---- by rank form (what a policy class declares: qtheory.policies.base.FORMS) -------------------
#: E[T] by (form, descriptor): size-based formulas take the size law, prediction-based ones the
#: joint law of (X, Y)
_FORM_MEAN = {
    ("constant", "none"): ("size", fcfs_mean), ("sharing", "none"): ("size", ps_mean),
    ("age", "none"): ("size", las_mean), ("nonpreemptive", "size"): ("size", sjf_mean),
    ("static", "size"): ("size", psjf_mean), ("remaining", "size"): ("size", srpt_mean),
    ("nonpreemptive", "prediction"): ("joint", spjf_mean),
    ("static", "prediction"): ("joint", pspjf_mean), ("remaining", "prediction"): ("joint", sprpt_mean),
}
_FORM_CONDITIONAL = {
    ("age", "none"): ("size", las_conditional), ("nonpreemptive", "size"): ("size", sjf_conditional),
    ("static", "size"): ("size", psjf_conditional), ("remaining", "size"): ("size", srpt_conditional),
    ("nonpreemptive", "prediction"): ("joint", spjf_conditional),
    ("static", "prediction"): ("joint", pspjf_conditional),
    ("remaining", "prediction"): ("joint", sprpt_conditional),
}


def _law(kind: str, model, policy):
    if kind == "size":
        return model.size
    if model.prediction is None:
        raise ValueError(f"policy {policy.name} uses predictions but this model has none; "
                         "pass prediction=... (e.g. qt.LogNormalPrediction(sigma=0.5))")
    return model.prediction.joint(model.size)


def form_mean(form: str, descriptor: str, model, policy, lams) -> np.ndarray | None:
    r""":math:`E[T]` at the arrival rates ``lams`` of a policy whose rank has the standard shape
    ``form`` with descriptor ``descriptor`` (see :data:`qtheory.policies.base.FORMS`): the
    closed forms of this module, or ``None`` where the shape has none (SRPT-Bounce)."""
    entry = _FORM_MEAN.get((form, descriptor))
    if entry is None:
        return None
    kind, fn = entry
    return np.asarray(fn(_law(kind, model, policy), lams), float)


def form_conditional(form: str, descriptor: str, model, policy, x, y) -> np.ndarray | None:
    r""":math:`E[T \mid X = x, Y = y]` at the model's arrival rate for the rank shape ``form``
    (see :func:`form_mean`); FCFS: :math:`x + \lambda E[X^2]/(2(1-\rho))`, PS:
    :math:`x/(1-\rho)`."""
    lam = np.array([model.arrival_rate])
    x = np.atleast_1d(np.asarray(x, float))
    if (form, descriptor) == ("constant", "none"):
        return x + (fcfs_mean(model.size, lam)[0] - model.size.mean)
    if (form, descriptor) == ("sharing", "none"):
        return x / (1 - model.load)
    entry = _FORM_CONDITIONAL.get((form, descriptor))
    if entry is None:
        return None
    kind, fn = entry
    law = _law(kind, model, policy)
    if kind == "size":
        return np.asarray(fn(law, lam, x)[0], float)
    if y is None:
        raise ValueError(f"policy {policy.name} needs the prediction y")
    return np.asarray(fn(law, lam, x, y)[0], float)
