r"""Consistency, robustness and the price of misprediction of prediction-based scheduling.

The yardstick is the **approximation ratio** of Scully, Grosof and Mitzenmacher, "Uniform Bounds
for Scheduling with Job Size Estimates" (ITCS 2022, arXiv:2110.00633):

.. math:: \mathrm{ratio}(\pi) = E[T_\pi] / E[T_{\mathrm{SRPT}}],

where SRPT sees the true sizes. The error model is the one of that paper: every estimate lies in
:math:`[\beta x, \alpha x]` for the true size :math:`x`, :math:`0 < \beta \le \alpha`, and the
joint law of (size, estimate) is otherwise arbitrary (chosen by an adversary).

* :func:`consistency`: the ratio with perfect predictions (:math:`\alpha = \beta = 1`).
* :func:`robustness`: the worst ratio over estimates in :math:`[\beta x, \alpha x]`, two ways:
  analytic upper bounds (:func:`analytic_bounds`) and a numeric adversary, an optimiser over
  prediction maps :math:`y = g(x)\,x` with :math:`g` piecewise constant on a size grid (plus
  two-point randomised laws), each map evaluated exactly by the SOAP engine on a discrete size
  law. It returns both, with the maximising map.
* :func:`price_of_misprediction`: Mitzenmacher's ratio of E[T] with predictions to E[T] of the
  same policy with true sizes (ITCS 2020).
* :func:`optimal_given_predictions`: E[T] of Gittins given the prediction, a lower bound on every
  policy that sees only (prediction, age), and each built-in policy's gap to it.

**Analytic bounds.** For SPJF, PSPJF and SRPT-Bounce the module derives distribution-specific
upper bounds by a monotone coupling of the SOAP terms (proofs in the docstrings of
:func:`analytic_bounds`): they hold for *every* joint law with :math:`Y/X \in [\beta, \alpha]`,
equal the SRPT/PSJF/SJF values at :math:`\alpha = \beta = 1` and so prove consistency and
boundedness on the given size law. The constants of Scully-Grosof-Mitzenmacher (SRPT-Bounce
"1-consistent with 3.5-graceful degradation", PSJF-E "1.5-consistent with 1.5-graceful
degradation") are reported as ``C * alpha / beta`` for :math:`\beta \le 1 \le \alpha`; that
functional form comes from a secondary description of the paper and could not be checked
against the paper's text, so those entries carry
``rigorous=False``. SPRPT (SRPT on estimates) has no finite bound for :math:`\beta < 1` (same
paper: its ratio "can be arbitrarily large for any fixed :math:`\beta < 1`").

The SRPT-Bounce bound is proved for the library's rank :math:`|y - a|` (:class:`qtheory.SRPTBounce`);
whether that rank is exactly the paper's definition could not be checked (only the paper's
abstract was retrievable). Additive errors (Wierman & Nuyens, "Scheduling despite inexact
job-size information", SIGMETRICS 2008) are not covered: their bounds were not retrievable.

**Discretisation.** Policies without a closed form (SRPT-Bounce, ConditionalGittins) are exact
only on discrete laws, so the numeric adversary always works on a discrete size law: an
``Empirical`` law is used as given, a continuous one is replaced by ``n`` quantile cells with
atoms at the cell means (:func:`discretise_size`), which keeps :math:`E[X]`. The adversary's
ratio is then the exact ratio on that discrete law, and the analytic bounds are evaluated on the
same law to compare like with like; for closed-form policies the found map is also applied to
the continuous law (``RobustnessResult.ratio_on_size_law``).

Derivation: ``docs/robustness.md``.
"""

from __future__ import annotations

from .consistency import ConsistencyResult, MispredictionResult, consistency, price_of_misprediction
from .optimality import OptimalGivenPredictions, optimal_given_predictions
from .robustness import SGM2022, RatioBound, RobustnessResult, analytic_bounds, discretise_size, robustness

__all__ = [
    "consistency", "robustness", "price_of_misprediction", "optimal_given_predictions",
    "analytic_bounds", "discretise_size", "RatioBound", "ConsistencyResult", "RobustnessResult",
    "MispredictionResult", "OptimalGivenPredictions", "SGM2022",
]
