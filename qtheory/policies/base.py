r"""The policy base class: a SOAP rank function and what the library has for it.

A SOAP policy (Scully, Harchol-Balter, Scheller-Wolf, "SOAP: One Clean Analysis of All
Age-Based Scheduling Policies", POMACS 2(1), 2018) serves at every instant the job of minimum
rank :math:`r(d, a)`, where :math:`d` is the job's descriptor (nothing, its size, or its
prediction) and :math:`a` its age (service received); ties go to the earlier arrival (FCFS).

A policy is one class (one file under :mod:`qtheory.policies`) that *declares what it has*, in
the manner of scipy.stats' distribution infrastructure; everything defaults to "not available"
and the library asks the policy instead of keeping tables keyed by policy names:

* the rank and its pieces: :meth:`Policy.rank`, ``descriptor``, ``monotone`` (how the rank
  moves with age: "constant", "increasing", "decreasing" or ``None``),
  :meth:`Policy.age_breakpoints`, ``preemptive``, ``soap``;
* ``form``: the standard rank shape the engine has exact formulas for (see :data:`FORMS`);
  a class declaring a form gets the closed-form mean, conditional mean and slowdown of
  :mod:`qtheory.engine.soap` and :mod:`qtheory.engine.slowdown`, the simulator's compiled kernel, the
  symbolic formulas and the multiserver tagged-job bound of that shape. A subclass that
  redefines :meth:`Policy.rank` loses the inherited form (see :meth:`Policy.formula_form`);
* hooks a policy may override: :meth:`Policy.closed_form_mean`,
  :meth:`Policy.closed_form_response_time` (own formulas, e.g. TRAIL), ``response_transform``
  (the Laplace transform pieces of its response- and waiting-time laws, e.g. TRAIL's:
  :mod:`qtheory.engine.response_distribution_trail`; dispatched when :meth:`Policy.declares` it),
  :meth:`Policy.exact_equivalent` (Gittins on a monotone-hazard law is FB or FCFS),
  :meth:`Policy.size_twin` (the size-based policy it equals under perfect predictions),
  ``law_rank`` (the rank is a functional of the size law the engine knows: "gittins"), ``sim_policy()``
  (a simulator form), ``style`` (colour and marker in figures), ``aliases`` (names for
  :func:`qtheory.policies.get_policy` and the CLI).

Derivation: ``docs/soap_predictions.md``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

#: the rank shapes with exact formulas, by descriptor ("none", "size", "prediction"):
#: "constant" r = 0 (FCFS), "sharing" (processor sharing, not SOAP), "age" r = a (LAS),
#: "static" r = d (PSJF, PSPJF), "remaining" r = d - a (SRPT, SPRPT), "nonpreemptive"
#: r = <-a, d> (SJF, SPJF), "bounce" r = abs(d - a) (SRPT-Bounce: compiled simulator only)
FORMS = ("constant", "sharing", "age", "static", "remaining", "nonpreemptive", "bounce")

#: every Policy subclass with a name, by lower-case name and alias (filled by
#: ``Policy.__init_subclass__``; see :func:`qtheory.policies.get_policy`)
REGISTRY: dict[str, type] = {}


def _owner(cls: type, attr: str) -> type | None:
    """The class in ``cls``'s MRO that defines ``attr``."""
    return next((c for c in cls.__mro__ if attr in c.__dict__), None)


class Policy:
    """Base class. Subclasses set ``name``, ``descriptor`` and implement :meth:`rank`; they
    declare what else they have (see the module docstring)."""

    name: str = "policy"
    descriptor: str = "none"
    #: "constant", "increasing", "decreasing", or None (non-monotone in age)
    monotone: str | None = None
    preemptive: bool = True
    soap: bool = True
    #: the standard rank shape with exact formulas (one of :data:`FORMS`), or None
    form: str | None = None
    #: the constant C of a C * alpha / beta graceful-degradation bound quoted for the policy
    #: (Scully, Grosof, Mitzenmacher, ITCS 2022; from a secondary source), or None
    graceful_degradation: ClassVar[float | None] = None
    #: the rank is a functional of the (conditional) size law that the evaluators and the
    #: simulator build from the model: "gittins" (the Gittins index; of X | Y = y for a
    #: prediction descriptor), or None
    law_rank: ClassVar[str | None] = None
    #: names accepted by :func:`qtheory.policies.get_policy` besides ``name`` (lower case)
    aliases: ClassVar[tuple[str, ...]] = ()
    #: figure style: (palette colour name of :data:`qtheory.plotting.PALETTE`, marker); the
    #: line style follows the descriptor (dashed for predictions). None: derived from the name
    style: ClassVar[tuple[str, str] | None] = None
    linestyle: ClassVar[str | None] = None
    #: whether the rank compares the descriptor with the age (``y - a``): such a rank depends
    #: on the time unit when the descriptor is a label (one-bit advice) rather than a size
    _compares_descriptor_and_age: bool = False
    #: whether the policy is one of the library's own (rescaled with the model, see
    #: :meth:`rescaled`); set by the built-in classes
    _builtin: ClassVar[bool] = False

    @classmethod
    def from_name(cls, key: str) -> Policy | None:
        """A parametrised instance from a lower-case ``key`` such as ``"trail-0.5"``, or ``None``
        when ``key`` is not such a name (a hook for :func:`qtheory.policies.get_policy`; the
        default knows no parametrised names)."""
        return None

    #: the form of the parametrised names :meth:`from_name` accepts, for error messages
    name_pattern: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.form is not None and cls.form not in FORMS:
            raise ValueError(f"{cls.__name__}.form must be one of {FORMS} or None, got {cls.form!r}")
        own_name = cls.__dict__.get("name")
        keys = list(cls.__dict__.get("aliases", ()))
        if isinstance(own_name, str):
            keys.append(own_name)
        for key in keys:
            REGISTRY[key.strip().lower()] = cls

    # -- the rank ---------------------------------------------------------------------------------
    def rank(self, d, a):
        """The rank r(d, a), vectorised (lower is served first)."""
        raise NotImplementedError

    def age_breakpoints(self, d) -> np.ndarray:
        """Ages in (0, inf) where the rank's monotonicity may change, for descriptor ``d``."""
        return np.empty(0)

    @property
    def uses_predictions(self) -> bool:
        return self.descriptor == "prediction"

    def declares(self, attr: str) -> bool:
        """Whether ``attr`` (a form, a formula hook, a twin) was declared for this policy's rank:
        by the class that defines :meth:`rank` or by a subclass of it. A user subclass that
        redefines :meth:`rank` does not inherit its parent's declarations (they would describe
        another policy)."""
        cls = type(self)
        owner, rank_owner = _owner(cls, attr), _owner(cls, "rank")
        if owner is None or owner is Policy:
            return False
        return rank_owner is None or issubclass(owner, rank_owner)

    def formula_form(self) -> str | None:
        """``form`` where it describes this class's rank (see :meth:`declares`), else ``None``."""
        if self.form is None or not self.declares("form"):
            return None
        return self.form

    # -- what the policy has (each defaults to "not available") ----------------------------------
    def size_twin(self) -> Policy | None:
        """The size-based policy this one equals when predictions are exact (SPRPT -> SRPT), used
        by consistency and price-of-misprediction measures; itself for a size-based or blind
        policy; ``None`` when there is none."""
        if self.descriptor != "prediction":
            return self
        return None

    def exact_equivalent(self, size) -> Policy | None:
        """A policy with exact formulas that schedules exactly as this one on the size law
        ``size`` (Gittins on a monotone-hazard law: FB or FCFS), or ``None``."""
        return None

    def closed_form_mean(self, model, lams) -> np.ndarray | None:
        r""":math:`E[T]` at the arrival rates ``lams`` on ``model`` by an exact formula, or
        ``None`` (then the generic SOAP evaluator is used). The default uses the engine's
        formula for the policy's :meth:`formula_form`."""
        form = self.formula_form()
        if form is None:
            return None
        from ..engine import soap

        return soap.form_mean(form, self.descriptor, model, self, lams)

    def closed_form_response_time(self, model, x, y) -> np.ndarray | None:
        r""":math:`E[T \mid X = x, Y = y]` on ``model`` by an exact formula, or ``None``. The
        default uses the engine's formula for the policy's :meth:`formula_form`."""
        form = self.formula_form()
        if form is None:
            return None
        from ..engine import soap

        return soap.form_conditional(form, self.descriptor, model, self, x, y)

    def figure_style(self) -> dict | None:
        """Keyword arguments for ``Axes.plot`` (``color``, ``marker``, ``linestyle``) from
        ``style`` and ``linestyle``: solid for a blind or size-based policy, dashed for a
        prediction-based one, so that a policy and its :meth:`size_twin` share colour and
        marker; ``None`` without a declared style (figures then derive one from the name)."""
        if self.style is None:
            return None
        from .._palette import PALETTE

        color, marker = self.style
        ls = self.linestyle or ("--" if self.descriptor == "prediction" else "-")
        return {"color": PALETTE.get(color, color), "marker": marker, "linestyle": ls}

    def rescaled(self, age_factor: float, descriptor_factor: float) -> Policy | None:
        """The same schedule on a model whose ages (and sizes) are multiplied by ``age_factor``
        and whose descriptors by ``descriptor_factor`` (1 for labels such as one-bit advice).

        The built-in policies rank by differences and ratios of times (or by the size law), so
        they return themselves, except a rank comparing a label descriptor with the age
        (``y - a`` with one-bit advice), which has no unit-free meaning; :class:`Rank` wraps
        its function. ``None`` means "not rescalable": the model is then evaluated in its own
        time unit (a user subclass, or such a label rank)."""
        if not type(self).__dict__.get("_builtin", False):
            return None
        if self._compares_descriptor_and_age and age_factor != descriptor_factor:
            return None
        return self

    # -- identity ---------------------------------------------------------------------------------
    def _params(self) -> dict:
        return {}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other):
        return type(self) is type(other) and self._params() == other._params()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self._params().items()))))


def nonpreemptive_rank(d, a):
    r"""The non-preemptive rank :math:`\langle -a, d\rangle`, encoded as :math:`d` at age 0 and
    :math:`-\infty` once started."""
    d = np.asarray(d, float)
    a = np.asarray(a, float)
    return np.where(a > 0, -np.inf, d + 0.0 * a)


def get_registered(name: str) -> Policy:
    """A fresh instance of the policy registered under ``name`` (case-insensitive)."""
    return REGISTRY[name.strip().lower()]()
