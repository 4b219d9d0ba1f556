"""Preemptive shortest predicted job first."""

from __future__ import annotations

from .base import Policy
from .psjf import PSJF


class PSPJF(PSJF):
    r"""Preemptive shortest predicted job first: rank :math:`r(y, a) = y`.

    :math:`E[T\mid x,y] = \lambda B(y)/(2(1-\lambda A_\le(y))(1-\lambda A_<(y))) + x/(1-\lambda A_<(y))`
    with :math:`B(y) = E[X^2 1\{Y \le y\}]` (Mitzenmacher, ITCS 2020).

    Derivation: ``docs/soap_predictions.md`` (section 7.2).
    """

    name = "PSPJF"
    descriptor = "prediction"
    graceful_degradation = 1.5
    _builtin = True

    def size_twin(self) -> Policy:
        return PSJF()
