r"""Labelled results: a mean response time that is a ``float`` and says how it was obtained.

Every E[T] the models return (:meth:`qtheory.MG1.mean_response_time`,
:meth:`qtheory.MGk.mean_response_time`) is a :class:`MeanResponseTime`: arithmetic, ``float()``
and numpy work as for the number, and ``kind`` (exact / approx / bounds), ``error`` (0 when
exact), ``method`` (the route taken) and ``reference`` say where it comes from. Sweeps return
plain numpy arrays.

The convention across the library's results: ``float(result)`` is the headline number and
``result.value`` the same number; per-load E[T] arrays are ``mean`` (and a simulation's
estimate is ``mean`` with its 95% half-width ``ci``); :class:`qtheory.VerifyResult` compares a
``formula`` with a simulated ``estimate``; ``exact`` is a ``bool`` wherever it appears
(:class:`qtheory.models.multiserver.Bounds` keeps the exact number in ``value``).
"""

from __future__ import annotations

import html
import math


class MeanResponseTime(float):
    r"""A mean response time :math:`E[T]` with its label: a ``float`` (arithmetic, ``round``,
    comparisons and ``float()`` work as for the number) that also says how it was obtained.

    Attributes
    ----------
    value : float
        The number itself (``nan`` when only bounds are known).
    kind : {"exact", "approx", "bounds"}
    exact : bool
        ``kind == "exact"``.
    error : float
        Relative error band of an approximation, as measured against the simulator
        (:data:`APPROX_ERROR`; ``0`` when exact, ``nan`` when not measured).
    lower, upper : float
        The proven bounds (:meth:`MGk.bounds`); an approximation always lies between them.
    method, reference : str
    """

    def __new__(cls, value: float, kind: str = "exact", error: float = 0.0, method: str = "",
                reference: str = "", lower: float = math.nan, upper: float = math.nan):
        obj = super().__new__(cls, value)
        obj.kind = kind
        obj.error = 0.0 if kind == "exact" else float(error)
        obj.method = method
        obj.reference = reference
        obj.lower = float(lower)
        obj.upper = float(upper)
        return obj

    def __reduce__(self):
        return (MeanResponseTime, (float(self), self.kind, self.error, self.method, self.reference,
                                   self.lower, self.upper))

    @property
    def value(self) -> float:
        return float(self)

    @property
    def exact(self) -> bool:
        return self.kind == "exact"

    @property
    def interval(self) -> tuple[float, float]:
        """``value * (1 -+ error)`` intersected with the proven bounds (``[lower, upper]`` when
        only bounds are known; ``(value, value)`` when exact)."""
        v = float(self)
        if self.kind == "exact":
            return v, v
        if self.kind == "bounds" or not math.isfinite(self.error):
            return self.lower, self.upper
        lo, hi = v * (1 - self.error), v * (1 + self.error)
        if math.isfinite(self.lower):
            lo = max(lo, self.lower)
        if math.isfinite(self.upper):
            hi = min(hi, self.upper)
        return lo, hi

    @property
    def label(self) -> str:
        """``"exact"``, ``"approx +-3%"`` (the measured band) or ``"bounds only"``."""
        if self.kind == "exact":
            return "exact"
        if self.kind == "bounds":
            return "bounds only"
        if not math.isfinite(self.error):
            return "approx (error not measured)"
        pct = 100 * self.error
        return f"approx +-{pct:.0f}%" if pct >= 1 else f"approx +-{pct:.1g}%"

    def __repr__(self) -> str:
        v = float(self)
        if self.kind == "bounds":
            return f"MeanResponseTime(bounds only: [{self.lower:.6g}, {self.upper:.6g}], {self.method})"
        return f"MeanResponseTime({v:.6g}, {self.label}, {self.method})"

    def __str__(self) -> str:
        """The number itself when exact (``print`` shows what ``float`` would); an
        approximation to 6 digits with its label, so that no false digits are shown."""
        if self.kind == "bounds":
            return f"nan (bounds only: [{self.lower:.6g}, {self.upper:.6g}])"
        if self.kind == "exact":
            return float.__repr__(float(self))
        return f"{float(self):.6g} ({self.label})"

    def _repr_html_(self) -> str:
        lo, hi = self.interval
        rows = [("E[T]", f"{float(self):.6g}"), ("label", self.label),
                ("interval", f"[{lo:.6g}, {hi:.6g}]"),
                ("proven bounds", f"[{self.lower:.6g}, {self.upper:.6g}]"),
                ("method", self.method), ("reference", self.reference)]
        body = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        return f"<table><caption>Mean response time</caption><tbody>{body}</tbody></table>"


__all__ = ["MeanResponseTime"]
