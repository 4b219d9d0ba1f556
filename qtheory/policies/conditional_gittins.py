"""Gittins on the size law conditioned on the prediction."""

from __future__ import annotations

from .base import Policy
from .srpt import SRPT


class ConditionalGittins(Policy):
    r"""Gittins on the conditional size law :math:`X \mid Y = y`: the best policy that sees only
    the prediction and the age (Scully & Harchol-Balter, WiOpt 2021, general optimality).

    Derivation: ``docs/gittins.md`` (section 4).
    """

    name = "ConditionalGittins"
    aliases = ("conditional_gittins", "conditional-gittins")
    descriptor = "prediction"
    monotone = None
    law_rank = "gittins"
    style = ("green", "X")
    _builtin = True

    def size_twin(self) -> Policy:
        return SRPT()
