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
    monotone : {None, "decreasing", "increasing", False}, optional
        Declares that ``fn(d, a)`` is non-increasing (``"decreasing"``: SPRPT-like, e.g.
        ``y - a``, ``y * exp(-a)``) or non-decreasing (``"increasing"``: LAS-like, e.g.
        ``y + a``) in the age ``a`` for every descriptor. The declaration is checked on a sample
        grid of descriptors and ages (``ValueError`` naming ``monotone`` where it fails). A
        prediction rank declared ``"decreasing"`` whose fresh rank ``fn(y, 0)`` increases with
        ``y`` is evaluated on a continuous multiplicative prediction law itself
        (:mod:`qtheory.engine.soap_prediction_rank`, ``docs/soap_predictions.md``), and so is
        one declared ``"increasing"`` that is also monotone in ``y``, either way (``y + a``,
        ``a - y``; :mod:`qtheory.engine.soap_prediction_rank_rising`); every other rank takes the
        discretised route. Undeclared (``None``), a prediction rank's direction is *detected*
        by the generic evaluator on the model's law (:func:`qtheory.engine.generic.detected_rank`:
        the rank sampled at every age of a grid for each prediction of a grid of the law's
        quantiles; the exact route only where every sampled row is monotone the same way, the
        route and the reason in the result's ``method``). A grid check is a heuristic (a wiggle
        narrower than the age grid's spacing, or outside the sampled ages, goes unseen):
        ``monotone=`` overrides it, and ``monotone=False`` declares the rank not monotone
        (no detection: the discretised route). Derivation: ``docs/soap_predictions.md``.
    """

    def __init__(self, fn: Callable, descriptor: str = "prediction", breakpoints=None,
                 name: str | None = None, monotone: str | bool | None = None):
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
        if monotone is not None and monotone is not False \
                and monotone not in ("decreasing", "increasing"):
            raise ValueError("monotone must be None (detected on the law), 'decreasing', "
                             "'increasing' or False (not monotone), got "
                             f"monotone={plain(monotone)}")
        self.fn = fn
        self.descriptor = descriptor
        self._bp = breakpoints
        self.name = name or getattr(fn, "__name__", "Rank")
        self.monotone = monotone
        if monotone is not None and monotone is not False:
            _check_monotone(fn, self.name, monotone)

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
        # one rescaled rank per unit, kept on this rank: the engines cache their tables per
        # rank object and function (a new wrapper at every call rebuilt them, 0.7-1.5 s a call
        # of MG1.mean_response_time on a law whose mean is not 1)
        key = (float(age_factor), float(descriptor_factor))
        memo = self.__dict__.setdefault("_rescaled_memo", {})
        if key not in memo or memo[key][0] is not self.fn or memo[key][1] is not self._bp:
            bp = None if self._bp is None else _ScaledBreakpoints(self._bp, age_factor,
                                                                  descriptor_factor)
            memo[key] = (self.fn, self._bp,
                         Rank(_ScaledRank(self.fn, self.name, age_factor, descriptor_factor),
                              self.descriptor, bp, self.name, self.monotone))
        return memo[key][2]

    def _params(self):
        out = {"fn": self.name, "descriptor": self.descriptor}
        if self.monotone is not None:
            out["monotone"] = self.monotone
        return out


#: the sample grid of the monotonicity check: descriptors and ages over twelve decades
_CHECK_D = np.geomspace(1e-4, 1e4, 17)
_CHECK_A = np.concatenate([[0.0], np.geomspace(1e-6, 1e6, 49)])


def _check_monotone(fn, name: str, monotone: str) -> None:
    """``ValueError`` naming ``monotone`` where ``fn(d, .)`` is not monotone in the declared
    direction on the sample grid (a relative tolerance of 1e-12 for rounding)."""
    d, a = np.meshgrid(_CHECK_D, _CHECK_A, indexing="ij")
    with np.errstate(all="ignore"):
        r = np.broadcast_to(_checked_rank(fn, name, d, a), d.shape)
        step = np.diff(r, axis=1)
        tol = 1e-12 * np.maximum(np.abs(r[:, 1:]), np.abs(r[:, :-1]))
    bad = (step > tol) if monotone == "decreasing" else (step < -tol)
    bad &= np.isfinite(step)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"monotone={monotone!r} declared, but the rank function fn={name} "
                         f"{'increases' if monotone == 'decreasing' else 'decreases'} with the age "
                         f"at d={float(d[i, j])!r}: fn(d, {float(a[i, j])!r}) = {float(r[i, j])!r}, "
                         f"fn(d, {float(a[i, j + 1])!r}) = {float(r[i, j + 1])!r}")


#: rank steps within this relative tolerance count as flat (rounding), as in :func:`_check_monotone`
GRID_TOL = 1e-12


def age_direction(fn, name: str, d: np.ndarray, a: np.ndarray) -> tuple[str | None, str]:
    r"""The direction in age of ``fn`` on a sample grid: ``("decreasing", why)`` where every
    row :math:`a \mapsto fn(d_i, a)` (``a`` sorted) is non-increasing, ``("increasing", why)``
    where every row is non-decreasing and some row rises, else ``(None, why)``; ``why`` says
    what was found (the first violation: the descriptor and the two ages, and whether the row
    rises then falls or falls then rises). A step counts as flat within :data:`GRID_TOL`
    relative (rounding); steps between infinite values are ignored. A heuristic: it sees the
    rank at the grid's points only (``docs/soap_predictions.md``)."""
    d = np.asarray(d, float).ravel()
    a = np.sort(np.asarray(a, float).ravel())
    dd, aa = np.meshgrid(d, a, indexing="ij")
    with np.errstate(all="ignore"):
        r = np.broadcast_to(_checked_rank(fn, name, dd, aa), dd.shape)
        step = np.diff(r, axis=1)
        tol = GRID_TOL * np.maximum(np.abs(r[:, 1:]), np.abs(r[:, :-1]))
    fin = np.isfinite(step)
    up = (step > tol) & fin
    down = (step < -tol) & fin
    grid = f"{d.size} descriptors x {a.size} ages up to {float(a[-1]):.3g}"
    if not up.any():
        return "decreasing", f"non-increasing in age at every point of a grid of {grid}"
    if not down.any():
        return "increasing", f"non-decreasing in age at every point of a grid of {grid}"
    # a row that both rises and falls, else two rows of opposite directions
    both = up.any(axis=1) & down.any(axis=1)
    if both.any():
        i = int(np.flatnonzero(both)[0])
        ju, jd = int(np.flatnonzero(up[i])[0]), int(np.flatnonzero(down[i])[0])
        last_u, last_d = int(np.flatnonzero(up[i])[-1]), int(np.flatnonzero(down[i])[-1])
        if last_u < jd:
            shape = f"rises, then falls from age {float(a[jd]):.6g} on"
        elif last_d < ju:
            shape = f"falls, then rises from age {float(a[ju]):.6g} on"
        else:
            shape = "changes direction more than once"
        j = min(ju, jd)
        return None, (f"not monotone in age: at d={float(d[i]):.6g} the rank {shape} (fn(d, "
                      f"{float(a[j]):.6g}) = {float(r[i, j]):.6g}, fn(d, {float(a[j + 1]):.6g}) = "
                      f"{float(r[i, j + 1]):.6g}; grid of {grid})")
    iu, idn = int(np.flatnonzero(up.any(axis=1))[0]), int(np.flatnonzero(down.any(axis=1))[0])
    return None, (f"not monotone in age the same way for every descriptor: it rises with age at "
                  f"d={float(d[iu]):.6g} and falls at d={float(d[idn]):.6g} (grid of {grid})")


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
