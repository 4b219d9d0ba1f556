"""The Gittins policy on the size law."""

from __future__ import annotations

from .base import Policy, get_registered


class Gittins(Policy):
    r"""The Gittins policy on the size law (no size information): rank

    .. math:: r(a) = \inf_{b > a} \frac{E[\min(X, b) - a \mid X > a]}{P(X \le b \mid X > a)},

    optimal for mean response time among blind policies (Gittins 1989; Aalto, Ayesta, Righter
    2009). The rank is computed by the evaluator from the size law.

    Derivation: ``docs/gittins.md``.
    """

    name = "Gittins"
    monotone = None
    law_rank = "gittins"
    style = ("green", "X")
    _builtin = True

    def exact_equivalent(self, size) -> Policy | None:
        """FB on a decreasing-hazard law, FCFS on an increasing-hazard one (see
        :func:`qtheory.engine.gittins.blind_equivalent`): there Gittins schedules exactly as they do
        and their closed forms are exact."""
        from ..engine.gittins import blind_equivalent

        eq = blind_equivalent(size)
        return None if eq is None else get_registered(eq)
