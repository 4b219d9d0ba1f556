r"""Limits of symbolic formulas: heavy traffic (:math:`\rho \to 1`) and perfect predictions
(:math:`\sigma \to 0` for log-normal prediction errors)."""

from __future__ import annotations

import sympy as sp

from ._formula import SymbolicFormula, lam


def _limit_through_integrals(expr, sym, value, direction: str):
    r"""``sympy.limit`` of ``expr`` with the limit passed inside every ``Integral`` by substitution.

    Every integrand of the SOAP formulas is non-negative and increases with :math:`\lambda`
    (it is a product of terms :math:`1/(1 - \lambda\, \cdot)`), so by monotone convergence the limit
    of each integral is the integral of the limit (possibly infinite).
    """
    integrals = list(expr.atoms(sp.Integral))
    outer = {i: sp.Dummy("I") for i in integrals if not any(i in j.args[0].atoms(sp.Integral)
                                                            for j in integrals if j is not i)}
    body = expr.xreplace(outer)
    res = sp.limit(body, sym, value, direction)
    return res.xreplace({d: i.subs(sym, value) for i, d in outer.items()})


def heavy_traffic_limit(formula: SymbolicFormula, scaled: bool | None = None) -> SymbolicFormula:
    r"""The limit of a formula as the load :math:`\rho = \lambda E[X] \to 1^-`.

    A conditional response time :math:`E[T \mid x]` has a finite limit for size-based and
    prediction-based policies (only jobs ranked below the tagged one count). A mean that grows
    like :math:`c/(1-\rho)` gives, with ``scaled=True`` (the default for ``E[T]``),
    :math:`c = \lim_{\rho\to1}(1-\rho)E[T]`: for FCFS :math:`E[X^2]/(2E[X])`, for PS and, with
    exponential sizes, LAS :math:`E[X]` (Kleinrock, Queueing Systems vol. 2; for SRPT and the
    prediction-based policies, Lin, Wierman and Zwart, Performance Evaluation 2011).

    Parameters
    ----------
    formula : SymbolicFormula
        A formula from :func:`response_time` or :func:`mean_response_time`.
    scaled : bool, optional
        Multiply by :math:`1-\rho` before taking the limit (default: for a mean, yes).

    Raises
    ------
    NotImplementedError
        For a mean whose integrals depend on :math:`\lambda` (e.g. SRPT, SPRPT): they diverge.

    Notes
    -----
    Limits of integrals of a conditional formula are taken inside them (monotone convergence: the
    integrands are non-negative and increase with :math:`\lambda`); they stay finite because
    :math:`\rho_{<x} < 1` for finite :math:`x`.
    """
    if formula.load is None:
        raise ValueError("formula has no load (it was not made by qtheory.symbolic)")
    sols = sp.solve(sp.Eq(formula.load, 1), lam)
    if len(sols) != 1:
        raise ValueError(f"cannot solve load = 1 for lambda (load = {formula.load})")
    lam_c = sols[0]
    is_mean = formula.lhs == "E[T]"
    if scaled is None:
        scaled = is_mean
    if is_mean and any(i.has(lam) for i in formula.expr.atoms(sp.Integral)):
        raise NotImplementedError(
            f"heavy-traffic limit of a mean with unevaluated integrals ({formula.policy}): they diverge "
            "as rho -> 1 and the rate is not c/(1 - rho) in general (SRPT: 1/((1-rho) log(1/(1-rho)))); "
            "take the limit of the conditional response time instead")
    expr = formula.expr * (1 - formula.load) if scaled else formula.expr
    res = _limit_through_integrals(expr, lam, lam_c, "-")
    res = sp.simplify(res) if not res.has(sp.Integral) else res
    lhs = (r"\lim_{\rho \to 1^-} (1 - \rho)\, " if scaled else r"\lim_{\rho \to 1^-} ") + formula.lhs
    return SymbolicFormula(res, lhs=lhs, policy=formula.policy, load=None,
                           notes=f"heavy-traffic limit of {formula.notes}")


def _erf_to_sign(expr, sigma):
    r"""Replace each :math:`\mathrm{erf}(u)` with :math:`u = (\ln q - k\sigma^2)/(\sigma\sqrt2)`
    (the form :class:`LogNormalFactor` builds) by its limit :math:`\mathrm{sign}(\ln q)` as
    :math:`\sigma \to 0^+`, written as :math:`2H(n - d) - 1` for :math:`q = n/d`."""

    def repl(e):
        lead = sp.expand(e.args[0] * sigma).subs(sigma, 0)
        if lead.has(sigma) or lead == 0:
            raise NotImplementedError(f"cannot take sigma -> 0 in {e}")
        q = sp.exp(sp.logcombine(sp.expand(lead * sp.sqrt(2)), force=True))
        n, d = sp.fraction(sp.simplify(q))
        # Heaviside, not Piecewise: sympy folds a Piecewise out of an enclosing Integral
        return 2 * sp.Heaviside(n - d) - 1

    return expr.replace(lambda e: isinstance(e, sp.erf), repl)


def perfect_prediction_limit(formula: SymbolicFormula, sigma: sp.Symbol | None = None,
                             doit: bool = True) -> SymbolicFormula:
    r"""The limit :math:`\sigma \to 0^+` of a formula built with
    ``LogNormalPrediction(sigma=<symbol>)``: predictions become exact, and SPJF, PSPJF, SPRPT
    tend to SJF, PSJF, SRPT (``prediction_papers.md`` section 1.1, sanity checks).

    Each :math:`\Phi((\ln z - k\sigma^2)/\sigma)` tends to the indicator :math:`1\{z > 1\}`
    (dominated convergence inside the integrals: the integrands are bounded by their
    :math:`\sigma`-free envelopes), then sympy evaluates the integrals (``doit``). Only
    conditional formulas (no prediction density :math:`f_Y`) are supported.
    """
    expr = formula.expr
    if sigma is None:
        cands = [s for s in expr.free_symbols if s.name == "sigma"]
        if len(cands) != 1:
            raise ValueError("pass sigma=<the symbol of LogNormalPrediction(sigma=...)>")
        sigma = cands[0]
    res = _erf_to_sign(expr, sigma)
    res = res.subs(sigma, 0) if not res.has(1 / sigma) else sp.limit(res, sigma, 0, "+")
    if doit:  # evaluate the integrals of the indicators (bottom-up); leave the others alone
        res = res.replace(lambda e: isinstance(e, sp.Integral) and e.function.has(sp.Heaviside),
                          lambda e: sp.Integral(sp.expand(e.function), *e.limits).doit())
    return SymbolicFormula(res, lhs=r"\lim_{\sigma \to 0^+} " + formula.lhs, policy=formula.policy,
                           load=formula.load, notes=f"sigma -> 0 limit of {formula.notes}")


__all__ = ["heavy_traffic_limit", "perfect_prediction_limit"]
