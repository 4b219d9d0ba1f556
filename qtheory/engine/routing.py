r"""The best route to a policy's mean response times: a closed form where one applies, else the
generic SOAP evaluator.

:func:`means` is the routing that :class:`qtheory.MG1` uses for every mean response time, and
the engine's own entry where it needs a policy's means on a size law (ConditionalGittins with an
uninformative bit is Gittins on the size law: :mod:`qtheory.engine.soap_classes`). For a policy
that reads only the size (``descriptor`` ``"none"`` or ``"size"``) nothing but the model's size
law enters: not its arrival rate (the means are at the rates asked for), not its prediction law.
"""

from __future__ import annotations

import numpy as np

from . import generic


def means(model, policy, lams, method: str | None = None, equivalent=None):
    r"""``(E[T] per arrival rate, error per rate, exact, route)`` of ``policy`` at the arrival
    rates ``lams`` on ``model``.

    The route: the closed form (:meth:`~qtheory.policies.base.Policy.closed_form_mean`) of
    ``equivalent``, the policy with exact formulas that schedules as ``policy`` on the model
    (default: :meth:`~qtheory.policies.base.Policy.exact_equivalent` on the size law, e.g.
    Gittins on a monotone-hazard law is FB or FCFS, else the policy itself); where it has
    none, :func:`qtheory.engine.generic.evaluate` (on the law itself where a route applies, else
    discretised; exact on discrete laws). ``method="closed-form"`` insists on the closed form
    (``ValueError`` without one), ``method="generic"`` forces the generic evaluator.

    Parameters
    ----------
    model : qtheory.MG1
        Read for its size law (and, for a policy ranked by the prediction, its prediction law).
    policy : Policy
    lams : ndarray
        Arrival rates.
    method : {None, "closed-form", "generic"}
    equivalent : Policy, optional
        The policy whose closed form is tried (the model's choice, which may also depend on its
        prediction law: :meth:`qtheory.MG1.mean_response_time`).
    """
    if method != "generic":
        eq = equivalent
        if eq is None:
            eq = policy.exact_equivalent(model.size) or policy
        out = eq.closed_form_mean(model, lams)
        if out is not None:
            out = np.asarray(out, float)
            how = f"closed form ({eq.name})" if eq is policy else \
                f"closed form ({eq.name}: {policy.name} schedules as {eq.name} on this law)"
            return out, np.zeros_like(out), True, how
        if method == "closed-form":
            raise ValueError(f"method='closed-form': {policy.name} has no closed form on {model.size!r}; "
                             "use method=None (the best route) or method='generic'")
    r = generic.evaluate(model, policy, lams)
    how = r.method or "generic SOAP evaluator"
    return np.asarray(r.mean, float), np.asarray(r.error, float), bool(r.exact), how
