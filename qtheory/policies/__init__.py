r"""Scheduling policies as SOAP rank functions, one class per file.

A SOAP policy (Scully, Harchol-Balter, Scheller-Wolf, "SOAP: One Clean Analysis of All
Age-Based Scheduling Policies", POMACS 2(1), 2018) serves at every instant the job of minimum
rank :math:`r(d, a)`, where :math:`d` is the job's descriptor (nothing, its size, or its
prediction) and :math:`a` its age (service received); ties go to the earlier arrival (FCFS).

Each policy is its rank function plus what the library has for it, declared on the class
(:mod:`qtheory.policies.base`): ``descriptor`` ("none", "size" or "prediction"), ``monotone``
(how the rank moves with age), ``age_breakpoints(d)``, ``form`` (the rank shape with exact
formulas), and hooks for closed forms, the size-based twin, exact equivalents, the simulator
and figures. Non-preemptive policies use the lexicographic rank :math:`\langle -a, d\rangle`,
encoded as :math:`d` at age 0 and :math:`-\infty` once started. Processor sharing is not SOAP
and is marked ``soap = False``.

A new policy is one subclass of :class:`Policy` in one file: it is found by name
(:func:`get_policy`) as soon as its class is defined, and every measure, the simulator, the
bounds, the command line and the figures ask it what it has.

Derivation: ``docs/soap_predictions.md``.
"""

from __future__ import annotations

from .base import FORMS, REGISTRY, Policy, get_registered, nonpreemptive_rank
from .conditional_gittins import ConditionalGittins
from .fcfs import FCFS
from .gittins import Gittins
from .las import FB, LAS
from .ps import PS
from .psjf import PSJF
from .pspjf import PSPJF
from .rank import Rank
from .registry import get_policy, policy_list
from .sjf import SJF
from .spjf import SPJF
from .sprpt import SPRPT
from .srpt import SRPT
from .srpt_bounce import SRPTBounce
from .trail import TRAIL as TRAIL
from .trail import LimitedPreemption as LimitedPreemption

# TRAIL (LimitedPreemption) is importable from here and documented with its formulas in
# qtheory.llm
#: the library's policies
BUILTIN = (FCFS, PS, LAS, SJF, PSJF, SRPT, SPJF, PSPJF, SPRPT, SRPTBounce, Gittins,
           ConditionalGittins)

__all__ = [
    "BUILTIN", "FB", "FCFS", "FORMS", "LAS", "PS", "PSJF", "PSPJF", "REGISTRY", "SJF", "SPJF", "SPRPT",
    "SRPT", "ConditionalGittins", "Gittins", "Policy", "Rank",
    "SRPTBounce", "get_policy", "get_registered", "nonpreemptive_rank", "policy_list",
]
