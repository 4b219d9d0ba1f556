r"""SPRPT with limited preemption (TRAIL): the policy.

Its formulas (mean, conditional mean, memory held by paused jobs) are in :mod:`qtheory.llm`.
Derivation: ``docs/limited_preemption.md``.
"""

from __future__ import annotations

import re

import numpy as np

from .._palette import PALETTE, mix
from .._validation import in_range
from .base import Policy

#: "trail", "trail-0.8", "trail(c=0.8)", "trail_0.8", "limitedpreemption-0.8" ...
_TRAIL_NAME = re.compile(r"^(?:trail|limited[-_ ]?preemption)(?:[-_ ]?\(?(?:c\s*=\s*)?([^()]*?)\)?)?$")
#: markers of TRAIL(c) curves, by c in [0, 1] cut into as many equal bins (none of them is
#: SPJF's or SPRPT's marker, the two ends c = 0 and c = 1)
_TRAIL_MARKERS = ("v", "<", "p", "h", ">", "P")


class LimitedPreemption(Policy):
    r"""SPRPT with limited preemption (TRAIL, Shahout et al., ICLR 2025).

    Rank :math:`r(y, a) = y - a` while the age :math:`a < c\,y`, then :math:`-\infty`
    (the job runs to completion). ``c = 0`` is :class:`~qtheory.SPJF`, ``c = 1`` is
    :class:`~qtheory.SPRPT`. The TRAIL paper used ``c = 0.8``.

    Derivation: ``docs/limited_preemption.md``.

    Parameters
    ----------
    c : float
        Fraction of its prediction during which a job can be preempted, ``0 <= c <= 1``.

    Notes
    -----
    ``qt.MG1(...).mean_response_time(qt.TRAIL(c))`` evaluates the closed form of the module
    docstring through :meth:`closed_form_mean` (the same numbers as :func:`limited_preemption`:
    exact on discrete laws, ~1e-8 relative on continuous sizes with perfect or multiplicative
    predictions); only the joint laws outside those routes (one-bit advice, factor maps,
    discrete sizes with more than :data:`MAX_SPLIT_ATOMS` atoms and continuous errors) go
    through the generic SOAP evaluator (exact on discrete laws, about 1e-4 to 1e-3 relative on
    continuous ones). :func:`limited_preemption` also gives the memory held by paused jobs.

    By name: ``"trail"`` (c = 0.8, the paper's value), ``"trail-0.5"``; the repr and the
    table name are both ``TRAIL(c=0.5)``.

    Examples
    --------
    >>> import qtheory as qt
    >>> qt.policies.get_policy("trail-0.5")
    TRAIL(c=0.5)
    """

    descriptor = "prediction"
    monotone = "decreasing"
    aliases = ("trail", "limitedpreemption", "limited-preemption", "limited_preemption")
    name_pattern = "trail-C with C a number in [0, 1], e.g. trail-0.5"

    def __init__(self, c: float = 0.8):
        self.c = in_range("c", c, 0.0, 1.0)
        self.name = f"TRAIL(c={self.c:g})"

    _compares_descriptor_and_age = True

    def _params(self):
        return {"c": self.c}

    def __repr__(self) -> str:
        return self.name

    def rescaled(self, age_factor: float, descriptor_factor: float) -> Policy | None:
        """Itself (the rank ``y - a`` up to age ``c y`` keeps its order in any unit), unless the
        descriptor is a label that does not scale with ages (see :meth:`Policy.rescaled`)."""
        if type(self) is not LimitedPreemption or age_factor != descriptor_factor:
            return None
        return self

    @classmethod
    def from_name(cls, key: str) -> LimitedPreemption | None:
        """From a name: ``"trail"`` (the paper's c = 0.8), ``"trail-0.5"`` or
        ``"TRAIL(c=0.5)"`` (its table name); ``None`` if ``key`` is not such a name;
        ``ValueError`` naming the policy where c is not a number in [0, 1]."""
        m = _TRAIL_NAME.match(key)
        if m is None:
            return None
        c = m.group(1)
        if c is None or not c.strip():
            return cls()
        try:
            value = float(c)
        except ValueError:
            raise ValueError(f"policy {key!r}: the preemptible fraction c must be a number in "
                             f"[0, 1], as in 'trail-0.5', got c={c!r}") from None
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"policy {key!r}: the preemptible fraction c must lie in [0, 1], "
                             f"as in 'trail-0.5', got c={value!r}")
        return cls(value)

    def figure_style(self) -> dict:
        """Dashed like the other prediction policies, its colour moving from SPJF's (c = 0)
        through vermillion (c = 1/2, so that neighbouring c stay distinct) to SPRPT's (c = 1),
        and one marker per sixth of [0, 1]."""
        c = min(max(self.c, 0.0), 1.0)
        if c <= 0.5:
            col = mix(PALETTE["orange"], PALETTE["vermillion"], 2 * c)
        else:
            col = mix(PALETTE["vermillion"], PALETTE["blue"], 2 * c - 1)
        marker = _TRAIL_MARKERS[min(int(c * len(_TRAIL_MARKERS)), len(_TRAIL_MARKERS) - 1)]
        return {"color": col, "marker": marker, "linestyle": (0, (5, 1.5))}

    def rank(self, d, a):
        d = np.asarray(d, float)
        a = np.asarray(a, float)
        return np.where((a < self.c * d) | (a <= 0), d - a, -np.inf)

    def age_breakpoints(self, d):
        return np.atleast_1d(self.c * np.asarray(d, float))

    def factor_shape(self) -> tuple:
        """The rank's shape for the generic route on a multiplicative prediction law
        (:mod:`qtheory.engine.soap_factor_shapes`): ``("trail", c)``."""
        return ("trail", self.c)

    def closed_form_mean(self, model, lams):
        """E[T] at the arrival rates ``lams`` by :func:`limited_preemption` (a hook for
        :class:`qtheory.MG1`; ``None`` where only the generic evaluator applies)."""
        lams = np.atleast_1d(np.asarray(lams, float))
        from ..llm.trail import _route, limited_preemption

        if _route(model)[0] == "generic":
            return None
        return limited_preemption(model, self.c, lams * model.size.mean).mean

    def closed_form_response_time(self, model, x, y):
        r""":math:`E[T \mid x, y]` by :func:`limited_preemption_response_time` (a hook for
        :class:`qtheory.MG1`)."""
        from ..llm.trail import limited_preemption_response_time

        return limited_preemption_response_time(model, self.c, x, y)

    def response_transform(self, model, rule, x=None, y=None, waiting: bool = False):
        r"""The Laplace-Stieltjes transform of :math:`T` (``waiting``: of the time until first
        service) of a class :math:`(x, y)` or unconditional, on the joint-law ``rule`` (a hook
        for :func:`qtheory.engine.response_distribution.response_time_distribution`):
        :math:`\tilde V_y(\eta_{<y}(s))\exp(-s(x - cy)^+ - \int_{y-\min(x, cy)}^{y}
        \eta_{<v}(s)\,dv)`, ``docs/response_time_distribution.md`` (section 5.4)."""
        from ..engine import response_distribution_prediction_outer as rdo
        from ..engine.response_distribution_trail import TrailTransform

        # a factor with kinks, unconditional: the classes mixed over x outside
        # (response_distribution_prediction_outer)
        cls = rdo.OuterTrailTransform if rdo.applies(rule, x, waiting) else TrailTransform
        return cls(model, self.c, rule, x, y, waiting=waiting)

    def sim_policy(self):
        """The same policy as a finite rank table for :func:`qtheory.simulate` (the rank after
        age ``c y`` is a large negative constant instead of ``-inf``: the same order)."""
        from ..sim import TabulatedRank

        c = self.c
        big = 1e300

        def table(y):
            y = np.asarray(y, float)
            n = y.size
            cy = c * y
            ages = np.stack([np.zeros(n), cy, cy, cy + 1.0], axis=1)
            ranks = np.stack([y, y - cy, np.full(n, -big), np.full(n, -big)], axis=1)
            return ages, ranks

        return TabulatedRank(table, descriptor="prediction", name=self.name)


TRAIL = LimitedPreemption
