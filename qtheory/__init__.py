"""qtheory: analytic queueing theory for scheduling with predictions.

Exact M/G/1 response times of SOAP policies (FCFS, PS, LAS, SJF, PSJF, SRPT, SPJF, PSPJF,
SPRPT, SRPT-Bounce, Gittins, Gittins given predictions, any user rank function) under prediction
error models, checked against closed forms, high-precision quadrature and simulation.
"""

from .mg1 import MG1
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
from .predictions import (
    BoundedMultiplicative,
    EmpiricalPairs,
    ExponentialPrediction,
    LogNormalPrediction,
    OneBit,
    PerfectPrediction,
    PredictionLaw,
    UniformPrediction,
)
from .sim import SimResult, VerifyResult, simulate, verify, verify_all
from .sizes import *  # noqa: F403
from .sizes import SizeLaw
from .table import Table

__version__ = "0.1.0"

__all__ = [
    "MG1", "Table", "Policy", "Rank", "get_policy", "FCFS", "PS", "LAS", "FB", "SJF", "PSJF",
    "SRPT", "SPJF", "PSPJF", "SPRPT", "SRPTBounce", "Gittins", "ConditionalGittins",
    "PredictionLaw", "PerfectPrediction", "ExponentialPrediction", "UniformPrediction",
    "LogNormalPrediction", "BoundedMultiplicative", "OneBit", "EmpiricalPairs", "SizeLaw",
    "simulate", "verify", "verify_all", "SimResult", "VerifyResult",
]
