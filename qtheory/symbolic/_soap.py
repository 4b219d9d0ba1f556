r"""Symbolic SOAP formulas: conditional and mean response times of the built-in policies.

Each formula is the SOAP mean-response-time theorem (Scully, Harchol-Balter, Scheller-Wolf,
POMACS 2(1), 2018, Thm 5.5) reduced for one rank function, as in :mod:`qtheory.engine.soap`:

.. math::
    E[T_{d,x}] = \frac{\lambda \sum_i E[(X^{old}_i[r])^2]}{2(1-\rho^{old}_0[r])(1-\rho^{new}[r])}
               + \int_0^x \frac{da}{1-\rho^{new}[r^{worst}(a)]},

with old work counted while its rank is :math:`\le r` (:math:`\rho_{\le x}`) and new work while it
is :math:`< r` (:math:`\rho_{<x}`); they differ only at atoms of the law. Size-based:
Pollaczek-Khinchine (FCFS), :math:`x/(1-\rho)` (PS), Schrage (LAS), Phipps (SJF), PSJF,
Schrage-Miller (SRPT). Prediction-based (Mitzenmacher, ITCS 2020; as SOAP policies with the
prediction as descriptor, Scully, Harchol-Balter and Scheller-Wolf, POMACS 2018):

.. math::
    T_{SPJF}(x,y) &= x + \frac{\lambda E[X^2]}{2(1-\lambda A(y))^2}, \qquad
    T_{PSPJF}(x,y) = \frac{\lambda B(y)}{2(1-\lambda A(y))^2} + \frac{x}{1-\lambda A(y)}, \\
    T_{SPRPT}(x,y) &= \frac{\lambda (B(y)+C(y))}{2(1-\lambda A(y))^2}
        + \int_{(y-x)^+}^{y} \frac{dv}{1-\lambda A(v)} + (x - y)^+ .
"""

from __future__ import annotations

import sympy as sp

from ..policies import Policy, get_policy
from ._formula import SymbolicFormula, lam, x, y
from ._laws import (
    SUPPORTED_PREDICTIONS,
    Exponential,
    SymbolicPrediction,
    SymbolicSize,
    as_symbolic_prediction,
    as_symbolic_size,
    v,
)

SUPPORTED_POLICIES = ("FCFS", "PS", "LAS", "SJF", "PSJF", "SRPT", "SPJF", "PSPJF", "SPRPT")
#: the rank shapes with symbolic formulas (a policy class declares its ``form``), by descriptor
_FORMS = {"none": ("constant", "sharing", "age"),
          "size": ("nonpreemptive", "static", "remaining"),
          "prediction": ("nonpreemptive", "static", "remaining")}


def _policy(policy) -> Policy:
    p = get_policy(policy)
    if p.formula_form() not in _FORMS.get(p.descriptor, ()):
        raise NotImplementedError(f"no symbolic formula for policy {p.name}; supported policies: "
                                  f"{', '.join(SUPPORTED_POLICIES)}; for a numeric value use the "
                                  "engine: qt.MG1(arrival_rate, size, prediction)"
                                  f".mean_response_time({p.name!r})")
    return p


def _setup(policy, size, prediction):
    p = _policy(policy)
    s = as_symbolic_size(size)
    pr = as_symbolic_prediction(prediction)
    if p.uses_predictions:
        if pr is None:
            raise ValueError(f"policy {p.name} uses predictions: pass prediction=... (one of "
                             f"{', '.join(SUPPORTED_PREDICTIONS)})")
        if pr.perfect:  # Y = X: the size-based twin
            twin = p.size_twin()
            if twin is None:
                raise NotImplementedError(f"policy {p.name} declares no size-based twin "
                                          "(Policy.size_twin) for exact predictions")
            p = twin
    return p, s, pr


# ---- size-based conditional pieces -----------------------------------------------------------
def _size_conditional(p: Policy, s: SymbolicSize, xx):
    m1, m2 = s.mean, s.moment(2)
    rho = lam * m1
    if p.form == "constant":  # FCFS
        return xx + lam * m2 / (2 * (1 - rho))
    if p.form == "sharing":  # PS
        return xx / (1 - rho)
    if p.form == "age":  # LAS
        rb = lam * s.mean_min(1, xx)
        return xx / (1 - rb) + lam * s.mean_min(2, xx) / (2 * (1 - rb) ** 2)
    le, lt = lam * s.partial(1, xx), lam * s.partial(1, xx, strict=True)
    den = 2 * (1 - le) * (1 - lt)
    if p.form == "nonpreemptive":  # SJF
        return xx + lam * m2 / den
    if p.form == "static":  # PSJF
        return lam * s.partial(2, xx) / den + xx / (1 - lt)
    # SRPT: waiting (Schrage-Miller) + residence
    return lam * (s.partial(2, xx) + xx**2 * s.sf(xx)) / den + s.srpt_residence(xx, lam)


def _psjf_mean_residence(s: SymbolicSize):
    r""":math:`E[X/(1-\rho_{<X})]`; for a continuous law :math:`d\rho_x = \lambda x f(x) dx`, so it
    is :math:`\int_0^\rho du/(\lambda(1-u)) = -\ln(1-\rho)/\lambda`."""
    if s.continuous:
        return -sp.log(1 - lam * s.mean) / lam
    return s.expect(lambda u: u / (1 - lam * s.partial(1, u, strict=True)))


def _las_mean_exponential(s: Exponential):
    r"""LAS with exponential sizes: substitute :math:`u = e^{-x/m}` (so :math:`x = -m\ln u`,
    :math:`f(x)dx = -du`) and let sympy integrate over :math:`u \in (0, 1)`."""
    u = sp.Symbol("u", positive=True)
    xx = -s.m * sp.log(u)
    rb = lam * s.m * (1 - u)
    emin2 = 2 * s.m**2 * (1 - u * (1 - sp.log(u)))
    integrand = sp.expand(xx / (1 - rb) + lam * emin2 / (2 * (1 - rb) ** 2))
    res = sp.integrate(integrand, (u, 0, 1), conds="none")
    if res.has(sp.Integral):
        return None
    return sp.factor(sp.cancel(res))


def _size_mean(p: Policy, s: SymbolicSize):
    m1, m2 = s.mean, s.moment(2)
    rho = lam * m1
    if p.form == "constant":  # FCFS
        return m1 + lam * m2 / (2 * (1 - rho))
    if p.form == "sharing":  # PS
        return m1 / (1 - rho)
    if p.form == "age":  # LAS
        if isinstance(s, Exponential):
            closed = _las_mean_exponential(s)
            if closed is not None:
                return closed
        return s.expect(lambda u: _size_conditional(p, s, u))
    if p.form == "nonpreemptive":  # SJF
        return m1 + s.expect(lambda u: _size_conditional(p, s, u) - u)
    if p.form == "static":  # PSJF
        wait = s.expect(lambda u: lam * s.partial(2, u)
                        / (2 * (1 - lam * s.partial(1, u)) * (1 - lam * s.partial(1, u, strict=True))))
        return wait + _psjf_mean_residence(s)
    # SRPT: the residence integral averaged over X swaps to int_0^oo P(X > t) / (1 - rho_{<t}) dt
    wait = s.expect(lambda u: lam * (s.partial(2, u) + u**2 * s.sf(u))
                    / (2 * (1 - lam * s.partial(1, u)) * (1 - lam * s.partial(1, u, strict=True))))
    return wait + s.srpt_mean_residence(lam)


# ---- prediction-based ------------------------------------------------------------------------
def _pred_conditional(p: Policy, s: SymbolicSize, pr: SymbolicPrediction, xx, yy):
    j = pr.joint(s)
    A = j.A(yy)
    den = 2 * (1 - lam * A) ** 2
    if p.form == "nonpreemptive":  # SPJF
        return xx + lam * s.moment(2) / den
    if p.form == "static":  # PSPJF
        return lam * j.B(yy) / den + xx / (1 - lam * A)
    residence = sp.Integral(1 / (1 - lam * j.A(v)), (v, sp.Max(yy - xx, 0), yy))
    return lam * (j.B(yy) + j.C(yy)) / den + residence + sp.Max(xx - yy, 0)


def _pred_mean(p: Policy, s: SymbolicSize, pr: SymbolicPrediction):
    j = pr.joint(s)
    den = 2 * (1 - lam * j.A(y)) ** 2
    if p.form == "nonpreemptive":  # SPJF
        return s.mean + lam * s.moment(2) / 2 * sp.Integral(j.fY(y) / (1 - lam * j.A(y)) ** 2, (y, 0, sp.oo))
    if p.form == "static":  # PSPJF
        # E[X / (1 - lam A(Y))] = int A'(y) / (1 - lam A(y)) dy = -ln(1 - rho) / lam (A continuous)
        wait = sp.Integral(j.fY(y) * lam * j.B(y) / den, (y, 0, sp.oo))
        return wait - sp.log(1 - lam * s.mean) / lam
    wait = sp.Integral(j.fY(y) * lam * (j.B(y) + j.C(y)) / den, (y, 0, sp.oo))
    residence = sp.Integral(j.G(v) / (1 - lam * j.A(v)), (v, 0, sp.oo))
    return wait + residence + j.excess()


# ---- public ----------------------------------------------------------------------------------
def response_time(policy, size=None, prediction=None) -> SymbolicFormula:
    r"""The conditional mean response time as a symbolic formula.

    :math:`E[T \mid x]` for size-based and blind policies, :math:`E[T \mid x, y]` for SPJF,
    PSPJF and SPRPT (SOAP, Scully et al. 2018; Mitzenmacher, ITCS 2020), in the symbols
    :math:`\lambda` (``lam``), ``x``, ``y`` and the parameters of the laws. Integrals without a
    closed form (e.g. the SRPT residence :math:`\int_0^x dt/(1-\rho_{<t})`) stay unevaluated.

    Parameters
    ----------
    policy : Policy or str
        One of FCFS, PS, LAS, SJF, PSJF, SRPT, SPJF, PSPJF, SPRPT.
    size : size law
        ``qt.Exponential``/``qt.Uniform``/``qt.Deterministic`` (numbers become exact rationals) or
        the symbolic laws of this module, e.g. ``Exponential(mean=sympy.Symbol('m'))``; default
        ``Exponential()`` with symbolic mean ``m``.
    prediction : prediction law, optional
        Perfect, Exponential, Uniform or LogNormal predictions (``qt.`` or symbolic). With
        perfect predictions the prediction-based policies are returned as their size-based twins
        (SJF, PSJF, SRPT) in ``x``.

    Returns
    -------
    SymbolicFormula
        For :class:`Uniform` sizes the formula holds for ``x`` in the support.

    Raises
    ------
    NotImplementedError
        For a policy or a law without a symbolic form (the message lists the supported ones).
    """
    p, s, pr = _setup(policy, Exponential() if size is None else size, prediction)
    if p.uses_predictions:
        expr = _pred_conditional(p, s, pr, x, y)
        lhs = r"E[T \mid x, y]"
    else:
        expr = _size_conditional(p, s, x)
        lhs = r"E[T \mid x]"
    return SymbolicFormula(expr, lhs=lhs, policy=p.name, load=lam * s.mean,
                           notes=f"{p.name}, size {s!r}, prediction {pr!r}")


def mean_response_time(policy, size=None, prediction=None) -> SymbolicFormula:
    r"""The mean response time :math:`E[T]` as a symbolic formula (same arguments as
    :func:`response_time`).

    Closed forms: Pollaczek-Khinchine for FCFS, :math:`E[X]/(1-\rho)` for PS, and for LAS with
    exponential sizes sympy's integral after :math:`u = e^{-x/m}`, which gives
    :math:`m/(1-\lambda m)`. Residence terms averaged over :math:`X` are swapped to
    :math:`\int_0^\infty P(X>t)\,(\cdot)\,dt`, and
    :math:`E[X/(1-\rho_{<X})] = -\ln(1-\rho)/\lambda` for continuous laws (PSJF, PSPJF).
    For SPRPT (``prediction_papers.md`` section 1.2):

    .. math::
        E[T] = \int_0^\infty f_Y(y) \frac{\lambda(B(y)+C(y))}{2(1-\lambda A(y))^2} dy
             + \int_0^\infty \frac{P(Y>v) - P(Y-X>v)}{1-\lambda A(v)} dv + E[(X-Y)^+].
    """
    p, s, pr = _setup(policy, Exponential() if size is None else size, prediction)
    expr = _pred_mean(p, s, pr) if p.uses_predictions else _size_mean(p, s)
    return SymbolicFormula(expr, lhs="E[T]", policy=p.name, load=lam * s.mean,
                           notes=f"{p.name}, size {s!r}, prediction {pr!r}")


__all__ = ["response_time", "mean_response_time", "SUPPORTED_POLICIES"]
