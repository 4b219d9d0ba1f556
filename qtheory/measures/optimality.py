r"""The optimal policy given predictions (Gittins on the conditional size law) and the gap of
other policies to it (Scully & Harchol-Balter, WiOpt 2021).

Derivation: ``docs/gittins.md`` (section 4).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..laws.predictions import EmpiricalPairs
from ..models.mg1 import MG1
from ..policies import FCFS, LAS, PS, PSPJF, SPJF, SPRPT, ConditionalGittins, Gittins, SRPTBounce
from ..table import Table
from ._common import _policy


@dataclass
class OptimalGivenPredictions:
    """ConditionalGittins' E[T] (``value``: the least mean response time of a policy that sees
    only the prediction and the age) and each policy's E[T] (``means``) and gap
    ``E[T]/E[T_CG] - 1`` (``gaps``). Prints as a table; ``float(result)`` is ``value``."""

    value: float
    means: dict
    gaps: dict
    srpt: float
    exact: bool
    title: str = ""
    sees: dict = field(default_factory=dict)

    @property
    def table(self) -> Table:
        rows = [("ConditionalGittins", self.value, 0.0, "prediction + age (optimal)")]
        for name, et in self.means.items():
            rows.append((name, et, self.gaps[name], self.sees.get(name, "prediction + age")))
        rows.append(("SRPT", self.srpt, self.srpt / self.value - 1, "true size (reference)"))
        return Table(["policy", "E[T]", "gap to CG", "sees"], rows, title=self.title)

    @property
    def lower_bound(self) -> float:
        """``value`` (the name of earlier versions; it is ConditionalGittins' E[T], a lower bound
        only for the policies that see the prediction and the age)."""
        return self.value

    @property
    def mean_response_time(self) -> dict:
        """``means`` (the name of earlier versions)."""
        return self.means

    @property
    def gap(self) -> dict:
        """``gaps`` (the name of earlier versions)."""
        return self.gaps

    def __float__(self) -> float:
        return float(self.value)

    def __repr__(self):
        return str(self.table)

    def _repr_html_(self):
        return self.table._repr_html_()



_DEFAULT_GAP_POLICIES = (FCFS, PS, LAS, Gittins, SPJF, PSPJF, SPRPT, SRPTBounce)


def optimal_given_predictions(model: MG1, policies=None) -> OptimalGivenPredictions:
    r"""Gittins given the prediction (``ConditionalGittins``) and the gap of other policies to it.

    Gittins on the conditional law :math:`X \mid Y = y` minimises the mean response time among
    all preemptive policies that know only the prediction and the ages (Scully & Harchol-Balter,
    WiOpt 2021), so :math:`E[T_{CG}] \le E[T_\pi]` for FCFS, PS, LAS, Gittins, SPJF, PSPJF,
    SPRPT and SRPT-Bounce; SRPT (true sizes) is shown for reference. Exact on discrete laws
    (10,000 empirical pairs in about 0.15 s); on continuous sizes with exponential or log-normal
    prediction errors ConditionalGittins is computed on the law itself (about 1e-7 relative with
    an error estimate, a few seconds cold: ``qtheory.engine.soap_conditional``); with uniform or
    bounded errors it is still a discretisation (typically 1e-4 to 1e-3 relative, its error
    estimate labelled as not a bound: check such values by simulation).

    Derivation: ``docs/gittins.md`` (section 4).
    """
    if not isinstance(model, MG1):
        raise ValueError(f"model must be a qt.MG1, got model={model!r}")
    if model.prediction is None:
        raise ValueError("model must have a prediction law (prediction=...)")
    pols = [_policy(p) for p in (policies or _DEFAULT_GAP_POLICIES)]
    cg = model.mean_response_time(ConditionalGittins())
    ets, gaps, sees = {}, {}, {}
    for p in pols:
        if isinstance(p, ConditionalGittins) or p.descriptor == "size":
            continue
        et = model.mean_response_time(p)
        ets[p.name] = et
        gaps[p.name] = et / cg - 1
        sees[p.name] = "age only" if p.descriptor == "none" else "prediction + age"
    exact = isinstance(model.prediction, EmpiricalPairs) or model.size.is_discrete
    return OptimalGivenPredictions(cg, ets, gaps, model.mean_response_time("srpt"), exact,
                                   title=f"Gap to Gittins given predictions at load {model.load:.4g}",
                                   sees=sees)


# ---- the adversary ----------------------------------------------------------------------------
