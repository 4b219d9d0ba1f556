"""SRPT-Bounce."""

from __future__ import annotations

import numpy as np

from .base import Policy
from .srpt import SRPT


class SRPTBounce(Policy):
    r"""SRPT-Bounce (Scully, Grosof, Mitzenmacher, "Uniform Bounds for Scheduling with Job Size
    Estimates", ITCS 2022): SRPT on the estimate until the estimated remaining size reaches 0,
    after which the rank rises again with age, :math:`r(y, a) = |y - a|`.

    An under-estimated job therefore cannot monopolise the server once it is late. The rank form
    follows our reading of the paper's definition (see the project notes); it is evaluated by the
    generic SOAP route (non-monotone rank, one breakpoint at :math:`a = y`).

    Derivation: ``docs/robustness.md`` (sections 2 and 3: the bound, the rank).
    """

    name = "SRPT-Bounce"
    aliases = ("srptbounce", "srpt_bounce")
    descriptor = "prediction"
    monotone = None
    form = "bounce"
    style = ("vermillion", "*")
    _compares_descriptor_and_age = True
    graceful_degradation = 3.5
    _builtin = True

    def rank(self, d, a):
        return np.abs(np.asarray(d, float) - np.asarray(a, float))

    def age_breakpoints(self, d):
        return np.atleast_1d(np.asarray(d, float))

    def size_twin(self) -> Policy:
        return SRPT()
