"""Shortest remaining processing time."""

from __future__ import annotations

import numpy as np

from .base import Policy


class SRPT(Policy):
    r"""Shortest remaining processing time: rank :math:`r(x, a) = x - a` (Schrage & Miller 1966)."""

    name = "SRPT"
    descriptor = "size"
    monotone = "decreasing"
    form = "remaining"
    style = ("blue", "o")
    _compares_descriptor_and_age = True
    _builtin = True

    def rank(self, d, a):
        return np.asarray(d, float) - np.asarray(a, float)
