"""Least attained service (foreground-background)."""

from __future__ import annotations

import numpy as np

from .base import Policy


class LAS(Policy):
    r"""Least attained service (foreground-background, FB): rank :math:`r(a) = a`.

    :math:`E[T \mid x] = x/(1-\bar\rho_x) + \lambda E[\min(X,x)^2]/(2(1-\bar\rho_x)^2)`,
    :math:`\bar\rho_x = \lambda E[\min(X, x)]` (Schrage 1967; SOAP paper, Section 5)."""

    name = "LAS"
    aliases = ("fb",)
    monotone = "increasing"
    form = "age"
    style = ("purple", "v")
    _builtin = True

    def rank(self, d, a):
        return np.asarray(a, float) + 0.0 * np.asarray(d, float)


FB = LAS
