"""Argument checks that raise errors naming the offending parameter and its value."""

from __future__ import annotations

import math

import numpy as np


def positive(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` unless it is finite and > 0."""
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {name}={value!r}")
    return v


def server_speed(name: str, value, servers: int) -> float:
    """The speed of each of ``servers`` servers: ``"unit"`` (1), ``"1/k"`` (1/servers, the total
    capacity of one unit server) or a finite number > 0; ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, str):
        key = value.strip().lower().replace(" ", "")
        if key == "unit":
            return 1.0
        if key in ("1/k", "1/servers"):
            return 1.0 / servers
    else:
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        if math.isfinite(v) and v > 0:
            return v
    raise ValueError(f"{name} must be 'unit', '1/k' or a number > 0, got {name}={value!r}")


def nonnegative(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` unless it is finite and >= 0."""
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    return v


def in_range(name: str, value: float, lo: float, hi: float, *, lo_open=False, hi_open=False):
    """Return ``value`` as a float, or raise ``ValueError`` unless it lies in the stated interval."""
    v = float(value)
    ok = math.isfinite(v) or (math.isinf(v) and not hi_open and hi == math.inf)
    ok = ok and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ValueError(f"{name} must lie in {lb}{lo}, {hi}{rb}, got {name}={value!r}")
    return v


def probability_vector(name: str, values) -> np.ndarray:
    """Return a 1-D float array of probabilities summing to 1 (within 1e-9), or raise."""
    p = np.asarray(values, dtype=float).ravel()
    if p.size == 0 or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be non-negative finite probabilities, got {name}={values!r}")
    if abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1, got sum {p.sum()!r} ({name}={values!r})")
    return p / p.sum()


def load_below_one(rho: float, *, what: str = "load") -> None:
    """Raise ``ValueError`` when the offered load is not < 1 (the queue would be unstable)."""
    if not (rho < 1):
        raise ValueError(
            f"{what} rho = arrival_rate * E[X] = {rho!r} must be < 1 for a stable queue; "
            "lower arrival_rate or the mean size"
        )
