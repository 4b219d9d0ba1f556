"""Argument checks that raise errors naming the offending parameter and its value.

Numbers must be real numbers (Python or numpy scalars, 0-d arrays): strings, booleans, ``None``,
complex numbers and sequences raise ``TypeError``; values outside the allowed range (including
NaN and infinities) raise ``ValueError``. Messages show values as plain Python reprs
(``1.0``, ``[1.0, 2.0]``), never numpy reprs such as ``np.float64(1.0)``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: most entries of a sequence shown in a message
_SHOW_ITEMS = 8
#: longest repr shown in a message
_SHOW_CHARS = 200


def _plain_obj(value):
    """``value`` with numpy scalars and arrays turned into Python numbers and lists."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        items = [_plain_obj(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def plain(value) -> str:
    """A short repr of ``value`` for an error message, with plain Python numbers and lists."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        flat = value.ravel()
        if flat.size > _SHOW_ITEMS:
            head = ", ".join(plain(v) for v in flat[:_SHOW_ITEMS])
            return f"<array of shape {tuple(value.shape)}: {head}, ...>"
    if isinstance(value, (list, tuple)) and len(value) > _SHOW_ITEMS:
        head = ", ".join(plain(v) for v in value[:_SHOW_ITEMS])
        return f"<{type(value).__name__} of length {len(value)}: {head}, ...>"
    text = repr(_plain_obj(value))
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."


def _not_a_number(value) -> bool:
    """True for values that must not be read as a real number (strings, booleans, None,
    complex numbers, sequences and arrays with dimensions)."""
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        return True
    if isinstance(value, (complex, np.complexfloating)):
        return True
    if isinstance(value, np.ndarray):
        return value.ndim > 0 or value.dtype.kind not in "iuf"
    return not isinstance(value, numbers.Real) and not hasattr(value, "__float__")


def real(name: str, value) -> float:
    """``value`` as a float (possibly NaN or infinite), or ``TypeError`` naming ``name`` when it
    is not a real number (a string, a boolean, ``None``, a sequence...)."""
    if _not_a_number(value):
        raise TypeError(f"{name} must be a real number, got {name}={plain(value)} "
                        f"({type(value).__name__})")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"{name} must be a real number, got {name}={plain(value)} "
                        f"({type(value).__name__})") from None


def positive(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise unless it is a finite number > 0."""
    v = real(name, value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {name}={plain(value)}")
    return v


def nonnegative(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise unless it is a finite number >= 0."""
    v = real(name, value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {name}={plain(value)}")
    return v


def in_range(name: str, value: float, lo: float, hi: float, *, lo_open=False, hi_open=False):
    """Return ``value`` as a float, or raise unless it lies in the stated interval."""
    v = real(name, value)
    ok = math.isfinite(v) or (math.isinf(v) and not hi_open and hi == math.inf)
    ok = ok and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ValueError(f"{name} must lie in {lb}{lo}, {hi}{rb}, got {name}={plain(value)}")
    return v


def integer(name: str, value, lo: int = 1) -> int:
    """An integer >= ``lo`` (``3`` or ``3.0``), else ``TypeError``/``ValueError`` naming ``name``."""
    v = real(name, value)
    if not (math.isfinite(v) and v >= lo and v == int(v)):
        raise ValueError(f"{name} must be an integer >= {lo}, got {name}={plain(value)}")
    return int(v)


def real_array(name: str, values, *, allow_scalar: bool = True) -> np.ndarray:
    """``values`` as a 1-D float array (a scalar gives one entry when ``allow_scalar``).

    ``TypeError`` naming ``name`` for strings, booleans, ``None`` or non-numeric entries;
    ``ValueError`` for arrays of two or more dimensions (they are never flattened silently)."""
    if values is None or isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of real numbers, got {name}={plain(values)}")
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):  # ragged nested sequences
        raise ValueError(f"{name} must be a 1-D sequence of real numbers, got {name}={plain(values)}") \
            from None
    if arr.dtype.kind == "O":
        if any(_not_a_number(v) for v in arr.ravel()):
            raise TypeError(f"{name} must hold real numbers only, got {name}={plain(values)}")
    elif arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers only, got {name}={plain(values)} "
                        f"(dtype {arr.dtype})")
    if arr.ndim == 0:
        if not allow_scalar:
            raise TypeError(f"{name} must be a sequence of real numbers, got {name}={plain(values)}")
        arr = arr.reshape(1)
    if arr.ndim > 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {tuple(arr.shape)} "
                         f"({name}={plain(values)})")
    try:
        return arr.astype(float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold real numbers only, got {name}={plain(values)}") from None


def _first_bad(name: str, arr: np.ndarray, ok: np.ndarray, values, what: str) -> None:
    if not np.all(ok):
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(f"{name} must be {what}, got {name}[{i}]={plain(arr[i])} "
                         f"({name}={plain(values)})")


def positive_array(name: str, values) -> np.ndarray:
    """A non-empty 1-D array of finite numbers > 0, else an error naming ``name``."""
    v = real_array(name, values, allow_scalar=False)
    if v.size == 0:
        raise ValueError(f"{name} must be non-empty, got {name}={plain(values)}")
    _first_bad(name, v, np.isfinite(v) & (v > 0), values, "finite numbers > 0")
    return v


def nonnegative_array(name: str, values) -> np.ndarray:
    """A non-empty 1-D array of finite numbers >= 0, else an error naming ``name``."""
    v = real_array(name, values, allow_scalar=False)
    if v.size == 0:
        raise ValueError(f"{name} must be non-empty, got {name}={plain(values)}")
    _first_bad(name, v, np.isfinite(v) & (v >= 0), values, "finite numbers >= 0")
    return v


def probability_vector(name: str, values) -> np.ndarray:
    """Return a 1-D float array of probabilities summing to 1 (within 1e-9), or raise."""
    p = nonnegative_array(name, values)
    if abs(p.sum() - 1.0) > 1e-9:
        raise ValueError(f"{name} must sum to 1, got sum {float(p.sum())!r} ({name}={plain(values)})")
    return p / p.sum()


def loads(name: str, values) -> np.ndarray:
    """Loads as a non-empty 1-D float array, each in the open interval (0, 1)."""
    v = real_array(name, values)
    if v.size == 0:
        raise ValueError(f"{name} must be non-empty, got {name}={plain(values)}")
    _first_bad(name, v, (v > 0) & (v < 1), values, "in (0, 1) for a stable queue")
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
    elif not _not_a_number(value):
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        if math.isfinite(v) and v > 0:
            return v
    raise ValueError(f"{name} must be 'unit', '1/k' or a number > 0, got {name}={plain(value)}")


def load_below_one(rho: float, *, what: str = "load") -> None:
    """Raise ``ValueError`` when the offered load is not < 1 (the queue would be unstable)."""
    if not (rho < 1):
        raise ValueError(
            f"{what} rho = arrival_rate * E[X] = {plain(rho)} must be < 1 for a stable queue; "
            "lower arrival_rate or the mean size"
        )


#: rescaled copies kept per law (see :func:`cached_rescaled`)
RESCALED_CACHE = 8


def cached_rescaled(obj, factor, make):
    """``make(f)`` for ``f = factor`` (finite and > 0), cached on ``obj`` (at most
    :data:`RESCALED_CACHE` factors, oldest dropped); ``obj`` itself for ``f == 1``. Serves
    ``SizeLaw.rescaled`` and ``PredictionLaw.rescaled``."""
    f = positive("factor", factor)
    if f == 1.0:
        return obj
    cache = obj.__dict__.setdefault("_rescaled_cache", {})
    if f not in cache:
        if len(cache) >= RESCALED_CACHE:
            cache.pop(next(iter(cache)))
        cache[f] = make(f)
    return cache[f]


def one_value(result, value, attribute: str) -> float:
    """``float(value)`` for a result holding one load, else a ``TypeError`` that names the
    result and the attribute holding the per-load array (the ``__float__`` of sweep results)."""
    if np.ndim(value) != 0:
        raise TypeError(f"float() of a {type(result).__name__} needs one load, this one has "
                        f"{np.size(value)}; use result.{attribute}")
    return float(value)
