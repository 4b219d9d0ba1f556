"""First-come first-served."""

from __future__ import annotations

import numpy as np

from .base import Policy


class FCFS(Policy):
    r"""First-come first-served: constant rank :math:`r \equiv 0`.

    :math:`E[T] = E[X] + \lambda E[X^2] / (2(1-\rho))` (Pollaczek-Khinchine)."""

    name = "FCFS"
    aliases = ("fifo",)
    monotone = "constant"
    preemptive = False
    form = "constant"
    style = ("black", "s")
    _builtin = True

    def rank(self, d, a):
        return np.zeros(np.broadcast(np.asarray(d), np.asarray(a)).shape)
