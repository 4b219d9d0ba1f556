"""Shortest job first (non-preemptive)."""

from __future__ import annotations

from .base import Policy, nonpreemptive_rank


class SJF(Policy):
    r"""Shortest job first, non-preemptive: rank :math:`\langle -a, x\rangle`.

    :math:`E[T \mid x] = x + \lambda E[X^2]/(2(1-\rho_{\le x})(1-\rho_{<x}))` (Phipps 1956)."""

    name = "SJF"
    descriptor = "size"
    preemptive = False
    form = "nonpreemptive"
    style = ("orange", "^")
    _builtin = True

    def rank(self, d, a):
        return nonpreemptive_rank(d, a)
