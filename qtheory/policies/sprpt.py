"""Shortest predicted remaining processing time."""

from __future__ import annotations

from .base import Policy
from .srpt import SRPT


class SPRPT(SRPT):
    r"""Shortest predicted remaining processing time: rank :math:`r(y, a) = y - a`.

    Ranks go negative once a job outlives its prediction; such a job is never preempted. By SOAP,

    .. math::
        E[T\mid x,y] = \frac{\lambda\,(B(y) + C(y))}{2(1-\lambda A_\le(y))(1-\lambda A_<(y))}
        + \int_0^{\min(x,y)} \frac{dt}{1 - \lambda A_<(y-t)} + (x-y)^+,

    :math:`C(y) = E[((X-(Y-y))^+)^2 1\{Y>y\}]` (Mitzenmacher, ITCS 2020; Scully et al. 2018).

    Derivation: ``docs/soap_predictions.md`` (section 7.3).
    """

    name = "SPRPT"
    descriptor = "prediction"
    _builtin = True

    def size_twin(self) -> Policy:
        return SRPT()
