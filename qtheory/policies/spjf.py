"""Shortest predicted job first (non-preemptive)."""

from __future__ import annotations

from .base import Policy
from .sjf import SJF


class SPJF(SJF):
    r"""Shortest predicted job first, non-preemptive: rank :math:`\langle -a, y\rangle`.

    :math:`E[T \mid x, y] = x + \lambda E[X^2] / (2(1-\lambda A_\le(y))(1-\lambda A_<(y)))`,
    :math:`A_<(y) = E[X 1\{Y<y\}]` (Mitzenmacher, ITCS 2020).

    Derivation: ``docs/soap_predictions.md`` (section 7.1).
    """

    name = "SPJF"
    descriptor = "prediction"
    _builtin = True

    def size_twin(self) -> Policy:
        return SJF()
