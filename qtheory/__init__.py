"""qtheory: analytic queueing theory for scheduling with predictions.

Exact M/G/1 response times of SOAP policies (FCFS, PS, LAS, SJF, PSJF, SRPT, SPJF, PSPJF,
SPRPT, SRPT-Bounce, Gittins, Gittins given predictions, any user rank function) under prediction
error models, checked against closed forms, high-precision quadrature and simulation.
"""

from typing import TYPE_CHECKING

from . import _moved  # noqa: F401  (first: the old module names of the sub-packages)
from .laws.predictions import (
    BoundedMultiplicative,
    EmpiricalPairs,
    ExponentialPrediction,
    LogNormalPrediction,
    OneBit,
    PerfectPrediction,
    PredictionLaw,
    UniformPrediction,
)
from .laws.sizes import *  # noqa: F403
from .laws.sizes import SizeLaw
from .models.mg1 import MG1
from .policies import (
    FB,
    FCFS,
    LAS,
    PS,
    PSJF,
    PSPJF,
    SJF,
    SPJF,
    SPRPT,
    SRPT,
    ConditionalGittins,
    Gittins,
    Policy,
    Rank,
    SRPTBounce,
    get_policy,
)
from .table import Table

if TYPE_CHECKING:  # (loaded on first use, :func:`__getattr__`: the simulator imports numba and scipy.stats)
    from .sim import SimResult, VerifyResult, simulate, verify, verify_all

__version__ = "0.1.0"

__all__ = [
    "MG1", "Table", "Policy", "Rank", "get_policy", "FCFS", "PS", "LAS", "FB", "SJF", "PSJF",
    "SRPT", "SPJF", "PSPJF", "SPRPT", "SRPTBounce", "Gittins", "ConditionalGittins",
    "PredictionLaw", "PerfectPrediction", "ExponentialPrediction", "UniformPrediction",
    "LogNormalPrediction", "BoundedMultiplicative", "OneBit", "EmpiricalPairs", "SizeLaw",
    "simulate", "verify", "verify_all", "SimResult", "VerifyResult",
]

#: modules loaded on first use; each one's ``__all__`` names become ``qt.<name>`` (for example
#: ``qt.consistency`` from :mod:`qtheory.measures.bounds`), and the module itself is ``qt.<module>``
#: (``qt.symbolic``, ``qt.datasets``).  Lazy, so ``import qtheory`` stays fast.
_LAZY_MODULES = ("bounds", "multiserver", "llm", "datasets", "symbolic", "papers", "prediction_cost")


#: names of :mod:`qtheory.sim` (the simulator: numba kernels and scipy.stats) loaded on first
#: use as well, and the sub-package itself (``qt.sim``)
_SIM_NAMES = ("simulate", "verify", "verify_all", "SimResult", "VerifyResult")


def __getattr__(name: str):
    import importlib

    if name in _LAZY_MODULES or name in _moved._MOVED or name == "sim":
        return importlib.import_module(f".{name}", __name__)
    if name in _SIM_NAMES:
        value = getattr(importlib.import_module(".sim", __name__), name)
        globals()[name] = value
        return value
    for mod_name in _LAZY_MODULES:
        try:
            mod = importlib.import_module(f".{mod_name}", __name__)
        except ModuleNotFoundError as exc:  # a module not written yet in this checkout
            if exc.name == f"{__name__}.{mod_name}":
                continue
            raise
        if name in getattr(mod, "__all__", ()):
            value = getattr(mod, name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'qtheory' has no attribute {name!r}")


def __dir__():
    names = set(globals()) | set(_LAZY_MODULES) | set(_SIM_NAMES) | {"sim"}
    import importlib

    for mod_name in _LAZY_MODULES:
        try:
            names |= set(getattr(importlib.import_module(f".{mod_name}", __name__), "__all__", ()))
        except ModuleNotFoundError:
            pass
    return sorted(names)
