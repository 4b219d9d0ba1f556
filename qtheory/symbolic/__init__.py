r"""Symbolic (sympy) formulas for M/G/1 SOAP policies with and without job-size predictions.

:func:`response_time` gives the conditional mean response time :math:`E[T \mid x]` or
:math:`E[T \mid x, y]` and :func:`mean_response_time` the mean :math:`E[T]`, for FCFS, PS, LAS, SJF,
PSJF, SRPT, SPJF, PSPJF and SPRPT (the SOAP theorem of Scully, Harchol-Balter and Scheller-Wolf,
POMACS 2018, reduced per policy; Mitzenmacher, ITCS 2020, for the prediction-based ones). Both
return a :class:`SymbolicFormula` (``.expr``, ``.latex()``, ``.subs``, ``.doit``, ``.lambdify``,
``.evaluate``), which renders as LaTeX in Jupyter; integrals without a closed form stay
unevaluated and become quadrature when evaluated. :func:`heavy_traffic_limit` takes
:math:`\rho \to 1` and :func:`perfect_prediction_limit` takes :math:`\sigma \to 0` for log-normal
prediction errors (SPRPT -> SRPT).

Size laws: :class:`Exponential`, :class:`Erlang`, :class:`HyperExponential`, :class:`Uniform`,
:class:`Deterministic` (parameters may be sympy symbols) and :class:`GeneralSize` (a placeholder
density :math:`f`); the numeric ``qt.Exponential``, ``qt.Erlang``, ``qt.HyperExponential``,
``qt.Uniform`` and ``qt.Deterministic`` are converted (numbers become exact rationals).
Prediction laws: :class:`PerfectPrediction`, :class:`ExponentialPrediction` (closed forms in
modified Bessel functions for exponential, Erlang and hyperexponential sizes),
:class:`UniformPrediction` and :class:`LogNormalPrediction`, or the ``qt.`` laws of the same names.

Examples
--------
>>> import qtheory as qt
>>> from qtheory import symbolic as sym
>>> f = sym.response_time(qt.SPRPT(), size=qt.Exponential(mean=1.0),
...                       prediction=qt.ExponentialPrediction())
>>> round(f.evaluate(lam=0.8, x=2.0, y=1.5), 6)
4.575968

Only :class:`SymbolicFormula` and the prefixed ``symbolic_response_time`` /
``symbolic_mean_response_time`` are exported as ``qt.<name>`` (``qt.Exponential`` and friends are
the numeric laws); use ``qt.symbolic.<name>`` for the rest.
"""

from ._formula import SymbolicFormula
from ._formula import lam as lam
from ._formula import x as x
from ._formula import y as y
from ._laws import SUPPORTED_PREDICTIONS as SUPPORTED_PREDICTIONS
from ._laws import SUPPORTED_SIZES as SUPPORTED_SIZES
from ._laws import Deterministic as Deterministic
from ._laws import Erlang as Erlang
from ._laws import Exponential as Exponential
from ._laws import ExponentialPrediction as ExponentialPrediction
from ._laws import GeneralSize as GeneralSize
from ._laws import HyperExponential as HyperExponential
from ._laws import LogNormalPrediction as LogNormalPrediction
from ._laws import PerfectPrediction as PerfectPrediction
from ._laws import Uniform as Uniform
from ._laws import UniformPrediction as UniformPrediction
from ._laws import t as t
from ._laws import v as v
from ._limits import heavy_traffic_limit as heavy_traffic_limit
from ._limits import perfect_prediction_limit as perfect_prediction_limit
from ._soap import SUPPORTED_POLICIES as SUPPORTED_POLICIES
from ._soap import mean_response_time as mean_response_time
from ._soap import response_time as response_time

symbolic_response_time = response_time
symbolic_mean_response_time = mean_response_time

__all__ = ["SymbolicFormula", "symbolic_response_time", "symbolic_mean_response_time"]
