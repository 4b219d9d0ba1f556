r"""Scheduling policies as SOAP rank functions.

A SOAP policy (Scully, Harchol-Balter, Scheller-Wolf, "SOAP: One Clean Analysis of All
Age-Based Scheduling Policies", POMACS 2(1), 2018) serves at every instant the job of minimum
rank :math:`r(d, a)`, where :math:`d` is the job's descriptor (nothing, its size, or its
prediction) and :math:`a` its age (service received); ties go to the earlier arrival (FCFS).

Each policy here is that rank function plus a little metadata used by the evaluators:
``descriptor`` ("none", "size" or "prediction"), ``monotone`` (how the rank moves with age) and
``age_breakpoints(d)`` (ages where its monotonicity changes). Non-preemptive policies use the
lexicographic rank :math:`\langle -a, d\rangle`, encoded as :math:`d` at age 0 and
:math:`-\infty` once started. Processor sharing is not SOAP and is marked ``soap = False``.

Derivation: ``docs/soap_predictions.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from ._validation import plain


class Policy:
    """Base class. Subclasses set ``name``, ``descriptor`` and implement :meth:`rank`."""

    name: str = "policy"
    descriptor: str = "none"
    #: "constant", "increasing", "decreasing", or None (non-monotone in age)
    monotone: str | None = None
    preemptive: bool = True
    soap: bool = True
    #: whether the rank compares the descriptor with the age (``y - a``): such a rank depends
    #: on the time unit when the descriptor is a label (one-bit advice) rather than a size
    _compares_descriptor_and_age: bool = False

    def rank(self, d, a):
        """The rank r(d, a), vectorised (lower is served first)."""
        raise NotImplementedError

    def age_breakpoints(self, d) -> np.ndarray:
        """Ages in (0, inf) where the rank's monotonicity may change, for descriptor ``d``."""
        return np.empty(0)

    @property
    def uses_predictions(self) -> bool:
        return self.descriptor == "prediction"

    def rescaled(self, age_factor: float, descriptor_factor: float) -> Policy | None:
        """The same schedule on a model whose ages (and sizes) are multiplied by ``age_factor``
        and whose descriptors by ``descriptor_factor`` (1 for labels such as one-bit advice).

        The built-in policies rank by differences and ratios of times (or by the size law), so
        they return themselves, except a rank comparing a label descriptor with the age
        (``y - a`` with one-bit advice), which has no unit-free meaning; :class:`Rank` wraps
        its function. ``None`` means "not rescalable": the model is then evaluated in its own
        time unit (a user subclass, or such a label rank)."""
        if type(self) not in BUILTIN:
            return None
        if self._compares_descriptor_and_age and age_factor != descriptor_factor:
            return None
        return self

    def _params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other):
        return type(self) is type(other) and self._params() == other._params()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self._params().items()))))


def _nonpreemptive(d, a):
    d = np.asarray(d, float)
    a = np.asarray(a, float)
    return np.where(a > 0, -np.inf, d + 0.0 * a)


# ---- blind policies -------------------------------------------------------------------------
class FCFS(Policy):
    r"""First-come first-served: constant rank :math:`r \equiv 0`.

    :math:`E[T] = E[X] + \lambda E[X^2] / (2(1-\rho))` (Pollaczek-Khinchine)."""

    name = "FCFS"
    monotone = "constant"
    preemptive = False

    def rank(self, d, a):
        return np.zeros(np.broadcast(np.asarray(d), np.asarray(a)).shape)


class PS(Policy):
    r"""Processor sharing (not SOAP): :math:`E[T \mid x] = x/(1-\rho)`."""

    name = "PS"
    soap = False

    def rank(self, d, a):
        raise TypeError("PS is not a SOAP policy and has no rank function")


class LAS(Policy):
    r"""Least attained service (foreground-background, FB): rank :math:`r(a) = a`.

    :math:`E[T \mid x] = x/(1-\bar\rho_x) + \lambda E[\min(X,x)^2]/(2(1-\bar\rho_x)^2)`,
    :math:`\bar\rho_x = \lambda E[\min(X, x)]` (Schrage 1967; SOAP paper, Section 5)."""

    name = "LAS"
    monotone = "increasing"

    def rank(self, d, a):
        return np.asarray(a, float) + 0.0 * np.asarray(d, float)


FB = LAS


# ---- size-based ------------------------------------------------------------------------------
class SJF(Policy):
    r"""Shortest job first, non-preemptive: rank :math:`\langle -a, x\rangle`.

    :math:`E[T \mid x] = x + \lambda E[X^2]/(2(1-\rho_{\le x})(1-\rho_{<x}))` (Phipps 1956)."""

    name = "SJF"
    descriptor = "size"
    preemptive = False

    def rank(self, d, a):
        return _nonpreemptive(d, a)


class PSJF(Policy):
    r"""Preemptive shortest job first: rank :math:`r(x, a) = x`."""

    name = "PSJF"
    descriptor = "size"
    monotone = "constant"

    def rank(self, d, a):
        return np.asarray(d, float) + 0.0 * np.asarray(a, float)


class SRPT(Policy):
    r"""Shortest remaining processing time: rank :math:`r(x, a) = x - a` (Schrage & Miller 1966)."""

    name = "SRPT"
    descriptor = "size"
    monotone = "decreasing"
    _compares_descriptor_and_age = True

    def rank(self, d, a):
        return np.asarray(d, float) - np.asarray(a, float)


# ---- prediction-based -------------------------------------------------------------------------
class SPJF(SJF):
    r"""Shortest predicted job first, non-preemptive: rank :math:`\langle -a, y\rangle`.

    :math:`E[T \mid x, y] = x + \lambda E[X^2] / (2(1-\lambda A_\le(y))(1-\lambda A_<(y)))`,
    :math:`A_<(y) = E[X 1\{Y<y\}]` (Mitzenmacher, ITCS 2020).

    Derivation: ``docs/soap_predictions.md`` (section 7.1).
    """

    name = "SPJF"
    descriptor = "prediction"


class PSPJF(PSJF):
    r"""Preemptive shortest predicted job first: rank :math:`r(y, a) = y`.

    :math:`E[T\mid x,y] = \lambda B(y)/(2(1-\lambda A_\le(y))(1-\lambda A_<(y))) + x/(1-\lambda A_<(y))`
    with :math:`B(y) = E[X^2 1\{Y \le y\}]` (Mitzenmacher, ITCS 2020).

    Derivation: ``docs/soap_predictions.md`` (section 7.2).
    """

    name = "PSPJF"
    descriptor = "prediction"


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


class SRPTBounce(Policy):
    r"""SRPT-Bounce (Scully, Grosof, Mitzenmacher, "Uniform Bounds for Scheduling with Job Size
    Estimates", ITCS 2022): SRPT on the estimate until the estimated remaining size reaches 0,
    after which the rank rises again with age, :math:`r(y, a) = |y - a|`.

    An under-estimated job therefore cannot monopolise the server once it is late. The rank form
    follows our reading of the paper's definition (see the project notes); it is evaluated by the
    generic SOAP route (non-monotone rank, one breakpoint at :math:`a = y`).

    Derivation: ``docs/robustness.md`` (sections 2 and 3: the bound, the rank).
    """

    name = "SRPT-Bounce"
    descriptor = "prediction"
    monotone = None
    _compares_descriptor_and_age = True

    def rank(self, d, a):
        return np.abs(np.asarray(d, float) - np.asarray(a, float))

    def age_breakpoints(self, d):
        return np.atleast_1d(np.asarray(d, float))


# ---- Gittins ---------------------------------------------------------------------------------
class Gittins(Policy):
    r"""The Gittins policy on the size law (no size information): rank

    .. math:: r(a) = \inf_{b > a} \frac{E[\min(X, b) - a \mid X > a]}{P(X \le b \mid X > a)},

    optimal for mean response time among blind policies (Gittins 1989; Aalto, Ayesta, Righter
    2009). The rank is computed by the evaluator from the size law.

    Derivation: ``docs/gittins.md``.
    """

    name = "Gittins"
    monotone = None


class ConditionalGittins(Policy):
    r"""Gittins on the conditional size law :math:`X \mid Y = y`: the best policy that sees only
    the prediction and the age (Scully & Harchol-Balter, WiOpt 2021, general optimality).

    Derivation: ``docs/gittins.md`` (section 4).
    """

    name = "ConditionalGittins"
    descriptor = "prediction"
    monotone = None


# ---- user-defined ---------------------------------------------------------------------------
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


_BY_NAME = {
    "fcfs": FCFS, "fifo": FCFS, "ps": PS, "las": LAS, "fb": LAS, "sjf": SJF, "psjf": PSJF,
    "srpt": SRPT, "spjf": SPJF, "pspjf": PSPJF, "sprpt": SPRPT, "srpt-bounce": SRPTBounce,
    "srptbounce": SRPTBounce, "srpt_bounce": SRPTBounce, "gittins": Gittins,
    "conditionalgittins": ConditionalGittins, "conditional_gittins": ConditionalGittins,
    "conditional-gittins": ConditionalGittins,
}


def get_policy(policy) -> Policy:
    """A policy object from a policy or a (case-insensitive) name such as ``"sprpt"``."""
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, type) and issubclass(policy, Policy):
        return policy()
    if isinstance(policy, str):
        key = policy.strip().lower()
        if key in _BY_NAME:
            return _BY_NAME[key]()
        trail = _trail(key, policy)
        if trail is not None:
            return trail
        raise ValueError(f"unknown policy name {policy!r}; known names: "
                         + ", ".join(sorted(set(_BY_NAME) | {"trail", "trail-C"}))
                         + " (C a number in [0, 1], e.g. trail-0.5)")
    raise TypeError(f"policy must be a Policy or a name, got {policy!r}")


#: "trail", "trail-0.8", "trail(c=0.8)", "trail_0.8", "limitedpreemption-0.8" ...
_TRAIL_NAME = re.compile(r"^(?:trail|limited[-_ ]?preemption)(?:[-_ ]?\(?(?:c\s*=\s*)?([^()]*?)\)?)?$")


def _trail(key: str, original: str) -> Policy | None:
    """SPRPT with limited preemption (TRAIL) from a name: ``"trail"`` (the paper's c = 0.8),
    ``"trail-0.5"`` or ``"TRAIL(c=0.5)"`` (its table name); ``None`` if ``key`` is not such a
    name; ``ValueError`` naming the policy where c is not a number in [0, 1]."""
    m = _TRAIL_NAME.match(key)
    if m is None:
        return None
    from .llm import LimitedPreemption

    c = m.group(1)
    if c is None or not c.strip():
        return LimitedPreemption()
    try:
        value = float(c)
    except ValueError:
        raise ValueError(f"policy {original!r}: the preemptible fraction c must be a number in "
                         f"[0, 1], as in 'trail-0.5', got c={c!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"policy {original!r}: the preemptible fraction c must lie in [0, 1], "
                         f"as in 'trail-0.5', got c={value!r}")
    return LimitedPreemption(value)


BUILTIN = (FCFS, PS, LAS, SJF, PSJF, SRPT, SPJF, PSPJF, SPRPT, SRPTBounce, Gittins,
           ConditionalGittins)


def policy_list(policies) -> list[Policy]:
    """``policies`` (one policy, a name, a Policy class, or a sequence of them) as a list of
    :class:`Policy`; ``TypeError`` naming ``policies`` otherwise."""
    if isinstance(policies, (str, Policy)) or (isinstance(policies, type) and issubclass(policies, Policy)):
        policies = (policies,)
    if not hasattr(policies, "__iter__"):
        raise TypeError(f"policies must be a sequence of policies or names, got policies={plain(policies)}")
    return [get_policy(p) for p in policies]
