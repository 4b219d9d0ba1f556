"""User-defined SOAP policies from a rank function."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._validation import plain
from .base import Policy


class Rank(Policy):
    """A user-defined SOAP policy from a rank function ``fn(d, a)``, vectorised in numpy.

    Parameters
    ----------
    fn : callable
        Rank of a job with descriptor ``d`` at age ``a`` (lower is served first).
    descriptor : {"none", "size", "prediction"}
        What ``d`` is.
    breakpoints : callable, optional
        ``breakpoints(d)`` returns the ages where ``fn(d, .)`` changes monotonicity; without it
        they are searched for on a grid.
    name : str, optional
    """

    def __init__(self, fn: Callable, descriptor: str = "prediction", breakpoints=None,
                 name: str | None = None):
        if not callable(fn):
            raise TypeError(f"fn must be a callable rank function fn(d, a), got fn={plain(fn)}")
        if not isinstance(descriptor, str) or descriptor not in ("none", "size", "prediction"):
            raise ValueError("descriptor must be 'none', 'size' or 'prediction', got "
                             f"descriptor={plain(descriptor)}")
        if breakpoints is not None and not callable(breakpoints):
            raise TypeError("breakpoints must be a callable d -> ages (or None), got "
                            f"breakpoints={plain(breakpoints)}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string (or None), got name={plain(name)}")
        self.fn = fn
        self.descriptor = descriptor
        self._bp = breakpoints
        self.name = name or getattr(fn, "__name__", "Rank")

    def rank(self, d, a):
        return _checked_rank(self.fn, self.name, d, a)

    def age_breakpoints(self, d):
        if self._bp is None:
            return np.empty(0)
        return np.atleast_1d(np.asarray(self._bp(d), float))

    def rescaled(self, age_factor: float, descriptor_factor: float) -> Rank:
        """The rank on rescaled ages and descriptors,
        ``age_factor * fn(d / descriptor_factor, a / age_factor)``: the same order of jobs, so
        the same schedule in the other unit (a rank of the form ``y - a`` keeps its values in
        the new unit, which keeps the evaluators' rounding tolerances relative)."""
        if age_factor == 1.0 and descriptor_factor == 1.0:
            return self
        bp = None if self._bp is None else _ScaledBreakpoints(self._bp, age_factor,
                                                              descriptor_factor)
        return Rank(_ScaledRank(self.fn, self.name, age_factor, descriptor_factor),
                    self.descriptor, bp, self.name)

    def _params(self):
        return {"fn": self.name, "descriptor": self.descriptor}


def _checked_rank(fn, name: str, d, a) -> np.ndarray:
    """``fn(d, a)`` as a float array; ``ValueError`` naming the rank function where it is NaN
    or not numeric."""
    value = fn(d, a)
    try:
        out = np.asarray(value, float)
    except (TypeError, ValueError):
        raise TypeError(f"the rank function fn={name} must return real numbers, returned "
                        f"{plain(value)}") from None
    if np.isnan(out).any():
        try:
            dd, aa, oo = np.broadcast_arrays(np.asarray(d, float), np.asarray(a, float), out)
            i = int(np.flatnonzero(np.isnan(oo))[0])
            where = f" at d={float(dd.ravel()[i])!r}, a={float(aa.ravel()[i])!r}"
        except ValueError:  # a result of another shape than the arguments
            where = ""
        raise ValueError(f"the rank function fn={name} returned NaN{where}; a rank must be a "
                         "number (or +-inf)")
    return out


class _ScaledRank:
    """``age_factor * fn(d / descriptor_factor, a / age_factor)`` with the NaN check in ``fn``'s
    own unit (a positive factor does not change the order of ranks)."""

    def __init__(self, fn, name, age_factor, descriptor_factor):
        self.fn, self.name = fn, name
        self.age_factor, self.descriptor_factor = age_factor, descriptor_factor
        self.__name__ = name

    def __call__(self, d, a):
        d = np.asarray(d, float) / self.descriptor_factor
        a = np.asarray(a, float) / self.age_factor
        with np.errstate(over="ignore", under="ignore"):
            return _checked_rank(self.fn, self.name, d, a) * self.age_factor


class _ScaledBreakpoints:
    """``breakpoints(d / descriptor_factor) * age_factor``."""

    def __init__(self, fn, age_factor, descriptor_factor):
        self.fn, self.age_factor, self.descriptor_factor = fn, age_factor, descriptor_factor

    def __call__(self, d):
        d = np.asarray(d, float) / self.descriptor_factor
        return np.atleast_1d(np.asarray(self.fn(d), float)) * self.age_factor
