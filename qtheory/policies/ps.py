"""Processor sharing."""

from __future__ import annotations

from .base import Policy


class PS(Policy):
    r"""Processor sharing (not SOAP): :math:`E[T \mid x] = x/(1-\rho)`."""

    name = "PS"
    soap = False
    form = "sharing"
    style = ("grey", "D")
    linestyle = ":"  # dotted: visible where it coincides with FCFS (M/M/1)
    _builtin = True

    def rank(self, d, a):
        raise TypeError("PS is not a SOAP policy and has no rank function")
