"""Preemptive shortest job first."""

from __future__ import annotations

import numpy as np

from .base import Policy


class PSJF(Policy):
    r"""Preemptive shortest job first: rank :math:`r(x, a) = x`."""

    name = "PSJF"
    descriptor = "size"
    monotone = "constant"
    form = "static"
    style = ("sky", "d")
    _builtin = True

    def rank(self, d, a):
        return np.asarray(d, float) + 0.0 * np.asarray(a, float)
