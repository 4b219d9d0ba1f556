r"""The SOAP theorem for any rank function: the generic evaluator.

Policies without a closed-form reduction (SRPT-Bounce, Gittins, Gittins given predictions, user
:class:`~qtheory.policies.Rank` policies) are evaluated here, and the built-in policies can be
too, which is how the closed forms are cross-checked (``method="generic"``).

* **Blind ranks on continuous laws** (Gittins, FB/LAS, FCFS, a ``Rank`` with
  ``descriptor="none"``; a built-in size law without atoms, not ``qt.from_scipy``): the SOAP
  integrals are computed on the law
  itself (:mod:`qtheory.engine.soap_exact`): the rank as an adaptive piecewise Chebyshev interpolant (for
  Gittins, the index minimised directly on the law at each node), its monotone pieces and the
  ages where it crosses its critical levels located, the new-work and old-work functions from
  the law's exact partial moments, and the outer and residence integrals by Gauss-Legendre /
  Chebyshev panels with those ages as edges. Measured accuracy (``tests/test_soap_exact.py``):
  Gittins on LogNormal(1) and Pareto(2.5) against an independent mpmath evaluation 1.2e-15
  relative at worst (loads 0.5-0.99); Gittins = FB on Weibull(0.5) and a hyperexponential, =
  FCFS on Exponential, Weibull(2) and Uniform laws, to 1.4e-12 at worst; FB and FCFS against
  their closed forms to about 1e-14; a V-shaped user rank :math:`|a - c|` against its formula
  to 2e-15; Gittins on BoundedPareto(1.1, L, 1e6 L) scale-invariant to 1.3e-12 for L from
  3.3e-7 to 1e9 (``tests/test_soap_exact.py``; an edge a few ulps off the lower end left its
  square-root singularity to a plain panel: 1.1e-6 off at the mean-1 scale before). The error
  estimate (``evaluate(...).error``: two quadrature
  resolutions plus the rank interpolant's tail) was above the true error in every case.
* **Prediction ranks y - a and |y - a| on a multiplicative prediction law** (SRPT-Bounce,
  SPRPT forced through the generic route; a continuous size law without atoms and
  :class:`~qtheory.laws.factor_joint.FactorJoint` predictions: exponential, uniform,
  log-normal): :mod:`qtheory.engine.soap_factor`, on the law itself. Measured
  (``tests/test_soap_exact_factor.py``): SPRPT through it against its closed form 2e-15
  (Exp sizes, exponential and log-normal predictions), 1e-11 (LogNormal sizes and
  predictions), 8e-12 (uniform predictions, whose closed form is itself a quadrature);
  SRPT-Bounce within the simulator's interval (mean and slowdown). Cost: 0.15-0.17 s cold for
  Exp/Exp on a loaded machine (the level interpolants; 0.24 s before the compiled incomplete
  gamma functions of :mod:`qtheory.laws._incgamma`), 0.04 s for a further 50 loads.
  The static, non-preemptive and limited-preemption ranks (PSPJF, SPJF, TRAIL(c)) on the same
  laws: :mod:`qtheory.engine.soap_factor_shapes`. Measured (``tests/test_soap_factor_shapes.py``;
  Exp, Weibull(0.5), LogNormal(1), bounded Pareto sizes; exponential, uniform, log-normal
  predictions; loads 0.5-0.99): against the closed forms 3e-14 at worst below 0.99, 1.8e-12 at
  0.99 (where the closed forms are that far off: against mpmath, uniform predictions, the
  closed forms 1.2e-12, the route 2.7e-14); the estimate above the error against mpmath;
  PSPJF's slowdown 2e-15 off its closed form (the discretised route: SPJF 6e-5, PSPJF 1.4e-3,
  TRAIL(0.8) 2.3e-4 off on Exp/Exp at 0.8).
* **Size-descriptor ranks on continuous laws** (SRPT, PSJF, SJF forced through the generic
  route, a ``Rank`` with ``descriptor="size"``, piecewise monotone in age between its
  ``breakpoints``; a continuous size law without atoms with a finite second moment, not
  ``qt.from_scipy``): :mod:`qtheory.engine.soap_size`, on the law itself (the level
  functions N, N_0, S_2 as interpolants in the rank level, their size integrals with the
  sizes where the rank's structure changes located by root finding as panel ends).
  Measured (``tests/test_soap_exact_size.py``): SRPT, PSJF, SJF, FB as a size rank and
  2(x - a) + 1 against the closed forms on Exp(1), Weibull(0.5), LogNormal(1) and bounded
  Pareto(1.5, 1, 100) at loads 0.5-0.99: 1.2e-12 relative at worst, except 1.9e-11 at load
  0.99 on Exp(1), where an mpmath evaluation puts the closed form itself 1.8e-11 off and this
  route 8e-13; five user ranks (falling then rising, rising then falling, (x - a)^2 / x, flat
  pieces with an upward jump, :math:`|a - 1/2| + x` with a breakpoint at a fixed age) against a
  separate quadrature of their SOAP formulas 1e-14;
  E[T | x] 7e-14, E[T/X] 1e-15 (:func:`~qtheory.engine.soap_size.conditional`,
  :func:`~qtheory.engine.soap_size.slowdown`); the error estimate (two outer rules, the
  interpolants' tail, a higher-order check of the size rule) above the true error in every
  case. Cost (one core of a loaded machine, CPU): 0.01-0.37 s cold per law and built-in rank
  (the discretised route 0.23-0.28 s cold, 0.65% off for PSJF), about 1 ms per further load;
  a user rank 0.02-0.43 s (not cached).
* **ConditionalGittins on a smooth multiplicative prediction law** (continuous size law
  without breakpoints, exponential or log-normal factor; ``CONDITIONAL_ROUTE = False`` takes the
  discretised route instead): :mod:`qtheory.engine.soap_conditional`, on the law itself (the
  rank of X | y by root finding on the conditional law's exact cumulative integrals, the level
  functions with the predictions where the structure changes as integration ends, their
  integrands from per-prediction tables, the roots compiled). Measured (Exp/Exp,
  ``tests/test_soap_conditional.py``): rank against an mpmath index 3e-16, level functions
  against nested scipy quadrature 1e-10; E[T] 3.052565463 +- 5.4e-9 (relative) at load 0.8
  (the discretised route: 3.05331 with an estimate of 1.8e-4, 4x below its error). Increasing
  hazards (Weibull(2) sizes, exponential predictions; the level sets unions of intervals,
  :mod:`qtheory.engine._conditional_structure`): E[T] against an independent evaluation
  (``tests/conditional_gittins_ihr_reference.py``: nested quadrature, one integral over the
  predictions) 1.3e-10 / 5.8e-11 / 1.0e-11 at loads 0.5 / 0.8 / 0.95, estimates <= 3.4e-9;
  uniform factors U[0.5, 2] and U[0.5, 1.5] on Weibull(2) (the tables split where the old
  interval passes the conditional support's start) against the same reference (its own error
  6.2e-8) 1.1e-7 to 4.2e-7, each within the route's estimate (2.7e-7 to 3.5e-6), 3.8-4.9 s
  CPU cold; other increasing-hazard laws with a uniform factor take the route unverified
  (Weibull(3), U[0.5, 1.5], load 0.8: 2.754401, estimate 1.2e-6, below SPRPT; the
  discretisation gave 2.786, above SPRPT). Where the rank at age 0 crosses a level at which the
  level functions kink, the outer rule has an edge (graded on both sides): Erlang(2) sizes with
  U[0.5, 2] errors were 9.6e-5 off (estimate 4e-4) and are within 8.3e-10 / 8.0e-10 / 3.8e-10
  of a closed-form reference (``tests/conditional_gittins_truncexp_reference.py``) at loads
  0.5 / 0.8 / 0.95; log-uniform factors on [0.5, 2] with exponential sizes within 1.1e-12 to
  3.3e-12 (they were excluded; 35-90 s CPU on a loaded machine).
  E[T | x, y] and the mean slowdown on the same pieces
  (:mod:`qtheory.engine.soap_conditional_class`; Exp/Exp at load 0.8: E[T | x, y] against an
  independent scipy evaluation, ``tests/conditional_gittins_class_reference.py``, 2.3e-11 to
  7.1e-11 at four points on the three branches, estimates 4.7e-10 to 1.3e-9; the integral of
  E[T | x, y] over the joint law equals E[T] to 4e-12; slowdown 2.546916702 +- 2.5e-8, where the
  discretised route gave 2.547598, in 0.77 s against 13.3 s).
  Cost, cold (fresh process, numba cache written), on a loaded machine
  (``benchmarks/bench_generic.py --conditional``): Exp/Exp 0.97-0.99 s CPU for one load,
  0.96-1.02 s for a 50-load sweep, against 9.4 s and 20.5 s for the discretised route (same
  run); Weibull(2)/Exp about 2 s; the first numba compile adds 7-10 s.
* **A user's prediction rank that falls with age** (``Rank(fn, descriptor="prediction",
  monotone="decreasing")`` whose fresh rank ``fn(y, 0)`` increases with ``y``, on the
  multiplicative prediction laws of the factor route): :mod:`qtheory.engine.soap_prediction_rank`,
  on the law itself (the rank read on the prediction scale, PSPJF's level interpolants, the old
  jobs' squared work by an identity that needs ranks at (prediction, age) points only). Measured
  (``tests/test_soap_prediction_rank.py``; ``tests/prediction_rank_reference.py``, an independent
  nested quadrature): ``y - a/2`` and ``y exp(-a)`` on Exp/Exp at loads 0.5 / 0.8 / 0.95 within
  1.5e-13 and 8e-15, E[T | x, y] 2.2e-13; ranks that order jobs like SPRPT or PSPJF within 2e-11
  of the closed forms on Exp, Weibull(2), Weibull(0.5), LogNormal(1) sizes (9e-10 and 1.2e-9 on
  bounded Pareto, whose support corner is not graded: within the estimates); the discretised
  route was 2e-4 to 1.1% off (its estimate below its error for ``y exp(-a)``). On uniform and
  log-uniform factors (Exp, Weibull(2), uniform sizes; ``tests/falling_rank_mean_reference.py``,
  an independent scipy quadrature): means within 5.2e-15 at loads 0.5 / 0.8 / 0.95 (estimates
  2e-13 to 9e-12), E[T | x, y] within 3e-15 at 28 points (the old jobs' square splits where
  the root crosses the factor's ends or a size breakpoint: it was up to 2.1e-7 off). Cost
  0.7-1.0 s CPU per value, about the discretised route's.
* **One-bit advice on a continuous size law** (:class:`~qtheory.laws.predictions.OneBit`;
  ConditionalGittins, PSPJF, a ``Rank`` with ``descriptor="prediction"``; size laws
  :mod:`~qtheory.engine.soap_exact` supports): :mod:`qtheory.engine.soap_classes`, one blind
  rank per bit on the class law :math:`X \mid Y = b`, the level functions summed over the bits.
  Measured (``tests/test_soap_onebit.py``, load 0.8): an uninformative bit gives Gittins to
  2e-16 (LogNormal(1), Pareto(2.5), Weibull(0.5); the discretised route was 1.07% and 1.67% off
  the first two, with estimates below the error on LogNormal(1)); a perfect bit against a
  separate mpmath evaluation 1.4e-16; PSPJF against its closed form 2e-16; an informative bit
  (``OneBit(1, 0.1, 0.2)``) on Pareto(2.5) against a separate mpmath two-class formula
  (``tests/onebit_mp_reference.py``) 3e-16, estimate 6.5e-12 (the index is minimised per
  segment of stopping ages between the class law's breakpoints: a single grid missed the
  minimum beyond the threshold, 0.2% off over a range of ages), on Weibull(0.5) estimate
  8.9e-10 (no independent E[T]; below PSPJF, SPJF and Gittins), on Exp sizes 8.5e-17 from a
  separately written closed form (both class ranks are E[X] beyond the threshold: an exact flat
  tail, ``BlindRank(flat_from=...)``, on which the classes tie; a jump onto it is a new maximum
  at its start), and an uninformative bit there gives FCFS's E[T | x] to 9e-16. A perfect bit
  at far or tiny thresholds on Exp(1) (``tests/onebit_exp_reference.py``, mpmath): T = 1e-3 to
  1e-9 within 9e-16 (the small class's moments as differences of the partial moments, not of
  the tails); T = 10 / 15 / 20 within 8.9e-16, estimates 6.9e-13 / 2.3e-12 / 2.2e-11 (the
  truncated class's rank next to its top without cancellation: 23.6 -> 0.30 s at T = 10; on a
  falling rank piece the tagged job's level is at most the rank at the piece's start: the
  interpolant's rounding had put it a few ulps above, 7.2e-9 off at T = 20). Cost 0.9-4.6 s
  cold per law (loaded machine), 0.02-0.04 s for 50 more loads.
* **Discrete laws** (:class:`~qtheory.laws.sizes.Empirical` sizes, :class:`EmpiricalPairs`, one-bit
  advice on atomic sizes): exact for ranks that are piecewise linear in age between the law's
  atoms and the policy's breakpoints, and for the Gittins ranks (the exact lower envelope of
  the stopping lines, :mod:`qtheory.engine.rank_tables`); the class sums by a sweep over rank
  levels (:mod:`qtheory.engine.soap_sweep`, :math:`O(n \log n)`: ConditionalGittins and
  SRPT-Bounce on 10,000 pairs in 0.16-0.19 s), equal to the per-threshold scan of
  :mod:`qtheory.engine._soap_discrete` to 1e-12 (``tests/test_soap_exact_discrete.py``).
* **Undeclared prediction ranks** (a ``Rank`` with ``descriptor="prediction"`` and no
  ``monotone=``, on a continuous size law with multiplicative predictions): the direction in
  age is detected on a grid from the law (:func:`detected_rank`, 231 predictions x 4001 ages,
  0.02 s CPU) and, where every sampled row is monotone, the rank takes the declared rank's
  route above, bit for bit, ``method`` saying so (a heuristic: ``monotone=`` overrides it,
  ``monotone=False`` turns it off). Measured (``tests/test_generic_rank_detection.py``):
  :math:`y - a` on Exp sizes with LogNormal(0.5) predictions at load 0.8 2.711767778175313,
  SPRPT's closed form to 1.6e-16 (discretised: 2.71209, 1.2e-4 off); its slowdown on Weibull(2)
  sizes 3.3e-16 off SPRPT's (discretised 2.1e-4 off; on Exp sizes ``inf`` where the discretised
  route gave 2.822), E[T | x, y] 1.3e-15 (a NotImplementedError before).
* **What is left to the discretisation** (:func:`evaluate_discretised`): prediction ranks on
  continuous laws other than the shapes above (a ``Rank`` with ``descriptor="prediction"``
  not monotone in age on the detection grid, declared ``monotone=False``, or a falling rank whose
  fresh rank does not rise with the prediction;
  ConditionalGittins on log-uniform factors, on uniform factors where the conditional
  hazard is not single-peaked (exponential, log-normal sizes), on size laws with
  breakpoints, or where its structure checks fail), ranks the exact routes decline (not piecewise monotone between their
  breakpoints, breakpoints whose number depends on the size), prediction laws that are not a
  product with an independent factor on continuous sizes, laws with an infinite second moment
  for the size and factor routes, ``qt.from_scipy`` laws, and mixed laws. The joint law is
  discretised into descriptor classes (quantile cells of the size, of the prediction factor,
  then bins of the prediction) at two resolutions, each evaluated exactly, and the two are
  extrapolated (Richardson). The difference of the two evaluations is reported as the error
  estimate; the values are typically 1e-4 to 1e-3 relative off. Measured by forcing the
  built-in policies through this route against their closed forms (Exp, Weibull(0.5),
  LogNormal(1) and bounded Pareto(1.5, 1, 100) sizes; exponential, uniform(0.5) and
  log-normal(0.5) predictions; loads 0.5 and 0.9; 144 cases): SJF, PSJF and SRPT 3e-8 to
  8.6e-3 off (PSJF, whose discretisation error is of order 1, the worst), the estimate above
  the true error in all 72 cases (but not for blind ranks: Gittins on
  ``qt.from_scipy(scipy.stats.lognorm(1.0))`` at load 0.8, unit mean, gives 4.15287 against
  the exact 4.12641 of ``qt.LogNormal(1.0)``, 0.64% off with an estimate of 0.37%); SPJF,
  PSPJF and TRAIL(0.8) 3e-6 to 4.6e-3 off, the estimate below the true error in 16 of 72
  cases, by up to 19x. Prediction-ranked values on this route should be checked by
  simulation (the result's label says "not a bound"). A value below SRPT's mean on the law
  evaluated (the least of any policy's), NaN, an extrapolated mean below the mean size or below
  that bound by more than its estimate, or a slowdown below 1 raises a ``ValueError``
  (:func:`_check_possible`), and so does ConditionalGittins under prediction errors narrower than
  the cells (:func:`_check_class_laws`: log-normal sigma 1e-2 / 1e-4 / 1e-6 gave -5.0e7 / 1.487
  / 0.9996 against SRPT's 2.3528; at sigma 0.02 the value is 2.5e-6 off the route on the law
  itself).

Derivation: ``docs/soap_predictions.md`` (sections 3-5, the theorem), ``docs/gittins.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from ..laws._quadrature import size_rule
from ..laws.joint import EmpiricalJoint, FactorJoint, FactorMapJoint, OneBitJoint, PerfectJoint
from ..policies import Policy
from . import _soap_discrete as K
from . import gittins as _gittins
from . import (
    rank_tables,
    soap_classes,
    soap_conditional,
    soap_exact,
    soap_factor,
    soap_prediction_rank,
    soap_prediction_rank_rising,
    soap_size,
    soap_sweep,
)
from .gittins import density_tails, rank_from_tails, size_tails
from .gittins import rank_at as gittins_rank_at

#: number of quantile cells of a continuous size law (and of the prediction factor) at the
#: coarse resolution; the fine resolution doubles it
RESOLUTION = 48
#: for continuous laws, the new-work function is tabulated on at most this many thresholds
MAX_KNOTS = 4000
#: interior ages per interval where a curved rank (Gittins) is replaced by chords
REFINE = 8
#: the routes taken by default (benchmarks switch them to time the earlier routes in the same
#: run): the discrete engine ("sweep", or the per-threshold "scan"), the class-by-class rank
#: tables, and the factor route for prediction ranks on multiplicative prediction laws
ENGINE = "sweep"
LEGACY_TABLES = False
FACTOR_ROUTE = True
#: ConditionalGittins on a smooth multiplicative prediction law on the law itself
#: (:mod:`qtheory.engine.soap_conditional`; False: the discretised route)
CONDITIONAL_ROUTE = True


@dataclass
class DiscreteJoint:
    """Descriptor classes with sorted size atoms and joint probabilities."""

    d: np.ndarray  # descriptor of each class
    x: list  # list of arrays of atoms
    p: list  # list of arrays of joint probabilities


@dataclass
class GenericResult:
    """Mean response time per load from the generic evaluator, with an error estimate."""

    mean: np.ndarray
    error: np.ndarray
    exact: bool
    #: the route taken, in words (shown as ``MeanResponseTime.method``)
    method: str = ""


# ---- discretisation ----------------------------------------------------------------------------
def _cells(ppf, partial1, n: int):
    """Quantile cells of a law: (atoms = conditional means, probabilities)."""
    t = np.linspace(-1.0, 1.0, n + 1)
    # graded in both tails: u = expit(c * t^3 + t) style spacing
    z = 14.0 * t**3 + 4.0 * t
    u = special.expit(z)
    u[0], u[-1] = 0.0, 1.0
    e = np.array([float(ppf(v)) if 0 < v < 1 else (0.0 if v == 0 else np.inf) for v in u])
    m1 = np.array([float(partial1(v)) if np.isfinite(v) else np.nan for v in e])
    m1[-1] = float(partial1(np.inf))
    pr = np.diff(u)
    mean = np.diff(m1) / pr
    ok = (pr > 0) & np.isfinite(mean) & (mean > 0)
    return mean[ok], pr[ok]


def _size_atoms(size, n):
    if size.is_discrete:
        return size.atom_values.copy(), size.atom_probs.copy()
    if size.is_mixed:  # quantile cells of the continuous part, and the atoms as they are
        w, cont = size.continuous_part()
        x, p = _size_atoms(cont, n)
        x, inv = np.unique(np.concatenate([x, size.atom_values]), return_inverse=True)
        return x, np.bincount(inv, weights=np.concatenate([w * p, size.atom_probs]), minlength=x.size)
    return _cells(size.ppf, lambda c: size.partial_moment(1, min(c, 1e300)), n)


def _group(x, y, p, bins: int | None):
    """Classes by prediction value (optionally binned into ``bins`` log-spaced bins)."""
    if bins is not None and np.unique(y).size > bins:
        pos = y > 0
        edges = np.quantile(np.log(y[pos]), np.linspace(0, 1, bins + 1))
        lab = np.where(pos, np.clip(np.searchsorted(edges, np.log(np.where(pos, y, 1.0)),
                                                      side="right") - 1, 0, bins - 1) + 1, 0)
        ys = np.zeros(bins + 1)
        for k in range(bins + 1):
            sel = lab == k
            if sel.any():
                ys[k] = np.sum(p[sel] * y[sel]) / np.sum(p[sel])
        y = ys[lab]
    d, inv = np.unique(y, return_inverse=True)
    # one sort by (class, size), then equal (class, size) pairs merged: n log n
    order = np.lexsort((x, inv))
    c, xv, pv = inv[order], np.asarray(x, float)[order], np.asarray(p, float)[order]
    new = np.ones(c.size, bool)
    new[1:] = (c[1:] != c[:-1]) | (xv[1:] != xv[:-1])
    grp = np.cumsum(new) - 1
    xu, cu = xv[new], c[new]
    pu = np.bincount(grp, weights=pv, minlength=xu.size)
    cuts = np.flatnonzero(np.diff(cu)) + 1
    return DiscreteJoint(d, np.split(xu, cuts), np.split(pu, cuts))


def discretise(model, descriptor: str, n: int) -> tuple[DiscreteJoint, bool]:
    """The discrete joint law used by the generic evaluator, and whether it is exact."""
    size = model.size
    if descriptor in ("none", "size"):
        x, p = _size_atoms(size, n)
        exact = size.is_discrete
        if descriptor == "none":
            return DiscreteJoint(np.zeros(1), [x], [p]), exact
        return DiscreteJoint(x.copy(), [np.array([v]) for v in x], [np.array([q]) for q in p]), \
            exact
    if model.prediction is None:
        raise ValueError("a prediction-based policy needs a model with prediction=...")
    j = model.prediction.joint(size)
    if isinstance(j, EmpiricalJoint):
        return _group(j.x, j.y, j.w, None), True
    if isinstance(j, PerfectJoint):
        x, p = _size_atoms(size, n)
        return _group(x, x.copy(), p, None), size.is_discrete
    x, p = _size_atoms(size, n)
    if isinstance(j, FactorJoint):
        f = j.factor
        z, q = _cells(lambda u: math.exp(f.log_range_q(u)),
                      lambda c: _factor_partial1(f, c), n)
        X = np.repeat(x, z.size)
        Y = X * np.tile(z, x.size)
        P = np.repeat(p, z.size) * np.tile(q, x.size)
        return _group(X, Y, P, 2 * n), False
    if isinstance(j, FactorMapJoint):
        idx = np.clip(np.searchsorted(j.e, x, side="right") - 1, 0, j.phi.size - 1)
        return _group(x, x * j.phi[idx], p, 2 * n), size.is_discrete
    if isinstance(j, OneBitJoint):
        q = np.where(x > j.T, j.q_large, j.q_small)
        X = np.concatenate([x, x])
        Y = np.concatenate([np.zeros_like(x), np.ones_like(x)])
        P = np.concatenate([p * (1 - q), p * q])
        keep = P > 0
        return _group(X[keep], Y[keep], P[keep], None), False
    raise NotImplementedError(f"the generic evaluator does not support {type(j).__name__}")


def _factor_partial1(f, c):
    """E[Z 1{Z <= c}] for a factor law, by quadrature on its own panels (used only to place
    the atoms of the discretisation at conditional means)."""
    from ..laws._quadrature import log_rule

    if not np.isfinite(c):
        c = math.exp(f.log_range()[1]) * 10
    lo = math.exp(f.log_range()[0])
    if c <= lo:
        return 0.0
    z, w = log_rule(lo, c, 0.1, getattr(f, "kinks", ()))
    return float(np.sum(w * z * f.pdf(z)))


# ---- rank tables --------------------------------------------------------------------------------
#: rank shapes (``Policy.form``) whose rank is linear in age between the law's atoms and the
#: policy's breakpoints: their tables need no interior ages (a policy without a declared form,
#: e.g. a user ``Rank``, is refined with ``REFINE`` chords per interval)
_PIECEWISE_LINEAR_FORMS = ("constant", "age", "nonpreemptive", "static", "remaining", "bounce")


def _rank_table(policy: Policy, d: float, atoms: np.ndarray, p: np.ndarray, refine: int,
                tails=None):
    top = float(atoms[-1])
    pts = [np.zeros(1), atoms]
    bp = policy.age_breakpoints(d)
    if bp.size:
        pts.append(bp[(bp > 0) & (bp < top)])
    g = np.unique(np.concatenate(pts))
    if refine:
        h = np.diff(g)
        extra = (g[:-1, None] + h[:, None] * (np.arange(1, refine + 1) / (refine + 1))).ravel()
        g = np.unique(np.concatenate([g, extra]))
    if tails is not None:
        def rank(a):
            return rank_from_tails(*tails[:3], a, law=tails[3] if len(tails) > 3 else None,
                                   tie_ramp=_gittins.TIE_RAMP)
    elif policy.law_rank == "gittins":
        def rank(a):
            return gittins_rank_at(atoms, p, a)
    else:
        def rank(a):
            r = np.asarray(policy.rank(np.full(np.shape(a), d), a), float)
            if np.isnan(r).any():
                at = (f", age a={float(np.asarray(a, float)[np.isnan(r)][0])!r}"
                      if r.shape == np.shape(a) else "")
                raise ValueError(f"the rank function of policy {policy.name} ({policy!r}) returned "
                                 f"NaN at descriptor d={d!r}{at}; a rank must be a number (or +-inf)")
            return r
    P = rank(g)
    h = np.diff(g)
    if refine:
        # a curved rank: chords between one-sided limits at the grid points (continuous
        # pieces stay continuous; jumps stay at the grid points, where they belong)
        S = rank(g[:-1] + 1e-9 * h)
        E = rank(g[1:] - 1e-9 * h)
    else:
        # piecewise linear with every breakpoint on the grid: the line through two interior
        # points is exact on each segment
        t1 = g[:-1] + h / 3
        t2 = g[:-1] + 2 * h / 3
        v1, v2 = rank(t1), rank(t2)
        with np.errstate(invalid="ignore"):
            dv = v2 - v1
            S = np.where(np.isfinite(dv), v1 - dv, v1)
            E = np.where(np.isfinite(dv), v2 + dv, v2)
            # where the rank is continuous at a grid point, the extrapolated end value equals
            # the grid value up to rounding: snap it, so that rounding never creates or breaks
            # a tie between ranks (e.g. SRPT-Bounce with y = x/2 ends exactly at its start rank)
            fin = np.isfinite(S) & np.isfinite(E) & np.isfinite(P[:-1]) & np.isfinite(P[1:])
            tol = 1e-12 * np.maximum(1.0, np.maximum(np.abs(S), np.abs(E)))
            S = np.where(fin & (np.abs(S - P[:-1]) <= tol), P[:-1], S)
            E = np.where(fin & (np.abs(E - P[1:]) <= tol), P[1:], E)
    S = np.concatenate([S, [np.inf]])
    E = np.concatenate([E, [np.inf]])
    return g, P, S, E


#: rank values equal up to this relative difference are one value (a tie), as in the simulator
TIE = 1e-12


def _snap_ties(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The rank tables with values that agree up to :data:`TIE` (relative) made equal, across
    every table: ranks reached along different arithmetic paths (a Gittins rank at age 0 and the
    same value at a later age, or in another class) must tie exactly, since the SOAP
    conventions (new jobs strictly below, old jobs at most the worst future rank) decide ties.
    Without it the conditional Gittins E[T | x = 2, y] on Empirical([2, 5], weights [2, 1]) was
    3.8333 and, with every size times 10, 28.75 instead of 38.333."""
    vals = np.concatenate([a[np.isfinite(a)] for a in arrays])
    if vals.size < 2:
        return arrays
    u = np.unique(vals)
    gap = np.diff(u) <= TIE * np.maximum(np.abs(u[1:]), np.abs(u[:-1]))
    if not gap.any():
        return arrays
    # representative: the first value of each run of near-equal neighbours
    start = np.concatenate([[True], ~gap])
    rep = u[np.flatnonzero(start)][np.cumsum(start) - 1]
    out = []
    for a in arrays:
        b = a.copy()
        fin = np.isfinite(b)
        b[fin] = rep[np.searchsorted(u, b[fin])]
        out.append(b)
    return tuple(out)


def _tables(policy: Policy, dj: DiscreteJoint, tails_of=None, snap: bool = False,
            legacy: bool = False):
    """The rank tables of every class, the atoms and their prefix sums (the input of the SOAP
    engines). Ranks linear between grid points and the Gittins ranks of discrete laws are
    built for all classes at once (:mod:`qtheory.engine.rank_tables`; the Gittins table is the
    exact lower envelope, not chords); ``legacy=True`` builds them class by class as before
    (chords for Gittins), which the tests compare against."""
    refine = 0 if policy.formula_form() in _PIECEWISE_LINEAR_FORMS else REFINE
    xs = np.concatenate(dj.x)
    ps = np.concatenate(dj.p)
    xo = np.concatenate([[0], np.cumsum([a.size for a in dj.x])]).astype(np.int64)
    if not legacy and tails_of is None and (refine == 0 or policy.law_rank == "gittins"):
        if refine == 0:
            g, P, S, E, go = rank_tables.linear_tables(policy, np.asarray(dj.d, float), xs, xo)
        else:
            g, P, S, E, go = rank_tables.gittins_tables(xs, ps, xo)
    else:
        gs, Ps, Ss, Es, go = [], [], [], [], [0]
        for d, x, p in zip(dj.d, dj.x, dj.p):
            tails = tails_of(float(d)) if tails_of is not None else None
            g, P, S, E = _rank_table(policy, float(d), x, p, refine, tails)
            gs.append(g)
            Ps.append(P)
            Ss.append(S)
            Es.append(E)
            go.append(go[-1] + g.size)
        g, P, S, E = np.concatenate(gs), np.concatenate(Ps), np.concatenate(Ss), np.concatenate(Es)
        go = np.asarray(go, np.int64)
    if snap:  # exact tables (discrete laws); a discretised continuous law keeps its chords
        P, S, E = _snap_ties(P, S, E)
    ko = (xo[:-1] + np.arange(xo.size - 1)).astype(np.int64)
    q0, q1, q2 = K.class_prefix_sums(np.asarray(xs, float), np.asarray(ps, float), xo)
    return (g, P, S, E, go, xs, ps, q0, q1, q2, xo, ko)


def _evaluate_discrete(policy, dj, lams, tails_of=None, max_knots=None, snap: bool = False,
                       engine: str | None = None, legacy_tables: bool | None = None):
    """E[T] at each arrival rate, E[T | atom] at the first, and (atoms, descriptors), from the
    rank tables of ``dj``: by the level sweep (:mod:`qtheory.engine.soap_sweep`, n log n) or,
    with ``engine="scan"``, by the per-threshold scan of :mod:`qtheory.engine._soap_discrete`
    (kept as the reference it is tested against; ``max_knots`` applies to it only)."""
    engine = ENGINE if engine is None else engine
    legacy_tables = LEGACY_TABLES if legacy_tables is None else legacy_tables
    g, P, S, E, go, xs, ps, q0, q1, q2, xo, ko = _tables(policy, dj, tails_of, snap,
                                                         legacy_tables)
    ds = np.repeat(dj.d, [a.size for a in dj.x])
    if engine == "sweep":
        out, cond = soap_sweep.evaluate_tables(np.asarray(lams, float), g, P, S, E, go, xs, ps,
                                               q0, q1, q2, xo, ko)
        return out, cond, (xs, ds)
    vals = np.concatenate([P, S, E])
    knots = np.unique(vals[np.isfinite(vals)])
    if knots.size == 0:
        knots = np.zeros(1)
    if max_knots and knots.size > max_knots:
        # continuous laws only: N_new is then interpolated between quantiles of the knots
        knots = np.unique(np.quantile(knots, np.linspace(0.0, 1.0, max_knots)))
    at, slope, icpt = K.new_work_table(knots, g, P, S, E, go, xs, q0, q1, q2, xo, ko)
    cond = np.empty(xs.size)
    out = K.tagged(np.asarray(lams, float), g, P, S, E, go, xs, ps, q0, q1, q2, xo, ko, knots, at,
                   slope, icpt, cond)
    return out, cond, (xs, ds)


def _pair(r) -> tuple:
    """``(mean, error)`` of a route's result (a result object or the pair itself)."""
    return (r.mean, r.error) if hasattr(r, "mean") else r


@dataclass(frozen=True)
class _Route:
    """One route on the law itself: its module (looked up by name at call time), the module
    switch that turns it off (``FACTOR_ROUTE``, ``CONDITIONAL_ROUTE``), the method text of
    :func:`evaluate`, and what it computes for each use (``None``: not used there):
    ``mean(model, policy, lams) -> (mean, error)``, ``conditional(model, policy, x, y)``
    (``needs_y``: only with a prediction ``y``), ``slowdown(model, policy) -> float``."""

    module: str
    switch: str | None
    method: str
    mean: object
    conditional: object = None
    slowdown: object = None
    needs_y: bool = False

    def applies(self, model, policy: Policy, use: str, y=None) -> bool:
        if getattr(self, use) is None or (self.switch is not None and not globals()[self.switch]):
            return False
        if use == "conditional" and self.needs_y and y is None:
            return False
        return globals()[self.module].supported(model, policy)


#: the routes on the law itself, tried in this order by :func:`evaluate`,
#: :func:`response_time` and :func:`mean_slowdown`; a route that raises
#: ``FloatingPointError`` (a rank its interpolants cannot follow) hands over to the next one,
#: and the discretised route comes last
_ROUTES = (
    _Route("soap_exact", None,
           "generic SOAP evaluator on the law itself (blind rank; error: two quadrature resolutions and the "
           "rank interpolant)",
           mean=lambda m, p, lams: _pair(soap_exact.evaluate_blind(m, p, lams)),
           conditional=lambda m, p, x, y: soap_exact.conditional_blind(m, p, x),
           slowdown=lambda m, p: soap_exact.slowdown_blind(m, p)[0]),
    _Route("soap_factor", "FACTOR_ROUTE",
           "generic SOAP evaluator on the law itself (a prediction rank of SPRPT's, SRPT-Bounce's, PSPJF's, "
           "SPJF's or TRAIL's shape on a multiplicative prediction law; error: two quadrature resolutions and "
           "the level interpolants)",
           mean=lambda m, p, lams: _pair(soap_factor.evaluate(m, p, lams)),
           conditional=lambda m, p, x, y: soap_factor.conditional(m, p, x, y),
           slowdown=lambda m, p: soap_factor.slowdown(m, p)[0], needs_y=True),
    _Route("soap_prediction_rank", None,
           "generic SOAP evaluator on the law itself (a user prediction rank declared monotone='decreasing' "
           "whose fresh rank increases with the prediction, on a multiplicative prediction law; error: two "
           "quadrature resolutions, the level interpolants and the density of Y)",
           mean=lambda m, p, lams: _pair(soap_prediction_rank.evaluate(m, p, lams)),
           conditional=lambda m, p, x, y: soap_prediction_rank.conditional(m, p, x, y),
           slowdown=lambda m, p: soap_prediction_rank.slowdown(m, p)[0], needs_y=True),
    _Route("soap_prediction_rank_rising", None,
           "generic SOAP evaluator on the law itself (a user prediction rank declared monotone='increasing' "
           "and monotone in the prediction (either way), on a multiplicative prediction law; error: two outer "
           "rules, a finer prediction rule and the level interpolants)",
           mean=lambda m, p, lams: _pair(soap_prediction_rank_rising.evaluate(m, p, lams)),
           conditional=lambda m, p, x, y: soap_prediction_rank_rising.conditional(m, p, x, y),
           slowdown=lambda m, p: soap_prediction_rank_rising.slowdown(m, p)[0], needs_y=True),
    _Route("soap_size", None,
           "generic SOAP evaluator on the law itself (size-descriptor rank; error: two outer resolutions, the "
           "level interpolants' tail and a higher-order check of their size rule)",
           mean=lambda m, p, lams: _pair(soap_size.evaluate(m, p, lams)),
           conditional=lambda m, p, x, y: soap_size.conditional(m, p, np.atleast_1d(np.asarray(x, float))),
           slowdown=lambda m, p: soap_size.slowdown(m, p)[0]),
    _Route("soap_conditional", "CONDITIONAL_ROUTE",
           "generic SOAP evaluator on the law itself (ConditionalGittins on a multiplicative prediction law; "
           "error: two outer rules and the level functions' measured error; where X | y's hazard falls, then "
           "climbs on a bounded factor, the class laws' level sets in closed form, error: an embedded Gauss rule "
           "in y and coarser inner rules)",
           mean=lambda m, p, lams: _pair(soap_conditional.evaluate(m, p, lams)),
           conditional=lambda m, p, x, y: soap_conditional.conditional(m, p, x, y),
           slowdown=lambda m, p: soap_conditional.slowdown(m, p)[0], needs_y=True),
    _Route("soap_classes", None,                 # one-bit advice on a continuous size law
           "generic SOAP evaluator on the law itself (a blind rank per bit on one-bit advice; error: two "
           "quadrature resolutions and the rank interpolants)",
           mean=lambda m, p, lams: _pair(soap_classes.evaluate(m, p, lams)),
           conditional=lambda m, p, x, y: soap_classes.conditional(m, p, x, y),
           slowdown=lambda m, p: soap_classes.slowdown(m, p)[0], needs_y=True),
)

#: quantile levels of the size law and of the prediction factor whose products are the
#: predictions of :func:`detected_rank`'s grid (21 x 11 predictions)
DETECT_SIZE_Q = (1e-12, 1e-9, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9,
                 0.95, 0.99, 0.999, 1 - 1e-4, 1 - 1e-6, 1 - 1e-9, 1 - 1e-12)
DETECT_FACTOR_Q = (1e-9, 1e-4, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1 - 1e-4, 1 - 1e-9)
#: ages of :func:`detected_rank`'s grid: this many evenly spaced up to the size law's 0.999
#: quantile, and as many log-spaced between its 1e-12 and 1 - 1e-12 quantiles
DETECT_AGES = 2000


def detected_rank(model, policy: Policy) -> tuple[Policy, str]:
    r"""``(policy to evaluate, note)``: for a :class:`~qtheory.Rank` on predictions whose
    ``monotone`` was not declared (``None``), on a continuous size law with multiplicative
    predictions (:class:`~qtheory.laws.factor_joint.FactorJoint`, where the exact routes for
    ranks falling or rising with age apply), the direction in age is detected on a grid from
    the law (:func:`qtheory.policies.rank.age_direction`): the predictions :math:`y = x z` for
    :math:`x` at the size law's quantiles :data:`DETECT_SIZE_Q` and :math:`z` at the factor's
    :data:`DETECT_FACTOR_Q`; for each, the rank at age 0, at :data:`DETECT_AGES` ages evenly
    spaced up to the size law's 0.999 quantile and as many log-spaced between its 1e-12 and
    :math:`1 - 10^{-12}` quantiles. Where every sampled row is non-increasing (non-decreasing)
    the rank is evaluated as one declared ``monotone="decreasing"`` (``"increasing"``): the
    same object every time, so the values are those of the declared rank, bit for bit. The
    note (appended to the result's ``method``) says which direction was found on how large a
    grid, or why there is none (the first violation: prediction and ages, and whether the
    rank rises then falls or falls then rises; such unimodal ranks have no exact route and
    take the discretised one). Other policies come back unchanged with an empty note.

    A grid check is a heuristic, not a proof: a non-monotone wiggle narrower than the grid's
    spacing (Exp(1) sizes: 3.5e-3 up to age 6.9, 1.5% of the age beyond) or at ages or
    predictions outside the grid is not seen. ``monotone=`` overrides the detection (declared
    directions are checked on their own grid, :class:`~qtheory.Rank`), and ``monotone=False``
    turns it off (the discretised route). Derivation: ``docs/soap_predictions.md``."""
    from ..policies.rank import Rank

    if not isinstance(policy, Rank) or policy.descriptor != "prediction" or policy.monotone is not None:
        return policy, ""
    size, pred = model.size, model.prediction
    if pred is None or size.is_discrete or size.is_mixed:
        return policy, ""
    factor = soap_factor._factor(model)
    if factor is None:
        return policy, ""
    memo = policy.__dict__.setdefault("_qt_detected", {})
    key = (id(size), id(pred))
    hit = memo.get(key)
    if hit is not None and hit[0] is size and hit[1] is pred and hit[2] is policy.fn:
        return hit[3]
    return _detect(model, policy, factor, memo, key)


def detection(model, policy: Policy) -> tuple[str | None, str]:
    """``(direction, why)`` of :func:`detected_rank`'s grid check (``(None, "")`` where it does
    not run: a declared rank, another policy or law)."""
    detected_rank(model, policy)
    hit = policy.__dict__.get("_qt_detected", {}).get((id(model.size), id(model.prediction)))
    if hit is None or hit[0] is not model.size or hit[2] is not policy.fn:
        return None, ""
    return hit[4], hit[5]


def _detect(model, policy: Policy, factor, memo: dict, key) -> tuple[Policy, str]:
    """The grid check of :func:`detected_rank` (uncached)."""
    from ..policies.rank import Rank, age_direction

    size, pred = model.size, model.prediction
    try:
        xq = np.asarray(size.ppf(np.asarray(DETECT_SIZE_Q, float)), float)
        zq = np.exp(np.array([float(factor.log_range_q(u)) for u in DETECT_FACTOR_Q]))
    except (NotImplementedError, ValueError, FloatingPointError):  # pragma: no cover - a law without quantiles
        return policy, ""
    xq, zq = xq[np.isfinite(xq) & (xq > 0)], zq[np.isfinite(zq) & (zq > 0)]
    if xq.size == 0 or zq.size == 0:  # pragma: no cover
        return policy, ""
    ys = np.unique(np.outer(xq, zq).ravel())
    top = float(np.max(xq))
    bulk = float(size.ppf(0.999))
    ages = np.unique(np.concatenate([[0.0], np.linspace(0.0, bulk, DETECT_AGES + 1)[1:],
                                     np.geomspace(float(np.min(xq)), top, DETECT_AGES)]))
    direction, why = age_direction(policy.fn, policy.name, ys, ages)
    if direction is None:
        out = (policy, f"; no exact route: the rank (monotone not declared) is {why}; pass "
                       "monotone='decreasing' or 'increasing' to declare a direction")
    else:
        try:
            declared = Rank(policy.fn, policy.descriptor, policy._bp, policy.name, monotone=direction)
        except ValueError as e:  # monotone on the law's grid, not on the declaration's
            out = (policy, f"; no exact route: the rank is {why} on the law's grid, but "
                           f"as a declaration: {e}")
            direction, why = None, f"{why} on the law's grid, but as a declaration: {e}"
        else:
            out = (declared, f"; monotone={direction!r} detected (a grid check, not a proof; "
                             f"monotone= overrides it): {why}")
    memo[key] = (size, pred, policy.fn, out, direction, why)
    return out


#: what :func:`_first_route` returns when no route on the law itself gave a value
_NO_ROUTE = object()


def _first_route(use: str, model, policy: Policy, *args):
    """``(route, value)`` from the first route of :data:`_ROUTES` that applies to ``use``
    (``"mean"``, ``"conditional"``, ``"slowdown"``) and does not raise
    ``FloatingPointError``; :data:`_NO_ROUTE` when none does. ``args``: ``lams`` for the mean,
    ``x, y`` for the conditional means."""
    y = args[1] if use == "conditional" else None
    for route in _ROUTES:
        if not route.applies(model, policy, use, y):
            continue
        try:
            return route, getattr(route, use)(model, policy, *args)
        except FloatingPointError:
            continue
    return _NO_ROUTE


def evaluate(model, policy: Policy, lams, resolution: int = RESOLUTION) -> GenericResult:
    """Mean response time of ``policy`` at each arrival rate in ``lams`` by the generic route.

    A blind policy on a continuous law (Gittins, FB, FCFS, a blind :class:`~qtheory.Rank`) is
    evaluated on the law itself (:func:`qtheory.engine.soap_exact.evaluate_blind`), so are the
    prediction shapes on multiplicative prediction laws (:mod:`~qtheory.engine.soap_factor`),
    size-descriptor ranks (:mod:`~qtheory.engine.soap_size`) and ConditionalGittins
    (:mod:`~qtheory.engine.soap_conditional`) where they apply; everything else
    by :func:`evaluate_discretised` (exact on discrete laws)."""
    lams = np.atleast_1d(np.asarray(lams, float))
    if not policy.soap:
        raise NotImplementedError(f"{policy.name} is not a SOAP policy")
    pol, note = detected_rank(model, policy)
    got = _first_route("mean", model, pol, lams)
    if got is not _NO_ROUTE:
        route, (mean, err) = got
        return GenericResult(mean, err, False, route.method + note)
    if pol is not policy:
        note = note + "; but no exact route takes it on this law"
    r = evaluate_discretised(model, policy, lams, resolution)
    r.method = r.method + note
    return r


def evaluate_discretised(model, policy: Policy, lams, resolution: int = RESOLUTION) -> GenericResult:
    """The discretised route: exact on discrete laws; on continuous laws the law is cut into
    ``resolution`` and ``2 * resolution`` quantile cells and the two exact evaluations are
    extrapolated (Richardson of order 2); the error estimate is the difference of the two
    evaluations, :math:`|t_{2n} - t_n|` (three times the Richardson correction: the convergence
    is of order 1 for static ranks such as PSJF, for which the correction alone was 2-3 times
    below the true error)."""
    lams = np.atleast_1d(np.asarray(lams, float))
    if not policy.soap:
        raise NotImplementedError(f"{policy.name} is not a SOAP policy")
    dj, exact = discretise(model, policy.descriptor, resolution)
    tails_of = None if exact else _continuous_gittins(model, policy)
    if tails_of is not None:
        _check_class_laws(model, policy, dj, resolution)
    mk = None if exact else MAX_KNOTS
    t1 = _evaluate_discrete(policy, dj, lams, tails_of, mk, snap=exact)[0]
    b1 = _srpt_bound(dj, lams)
    _check_possible(model, policy, lams, t1, b1, resolution)
    if exact:
        return GenericResult(t1, np.zeros_like(t1), True, "generic SOAP evaluator (exact: discrete law)")
    dj2, _ = discretise(model, policy.descriptor, 2 * resolution)
    if tails_of is not None:
        _check_class_laws(model, policy, dj2, 2 * resolution)
    t2 = _evaluate_discrete(policy, dj2, lams, tails_of, mk)[0]
    b2 = _srpt_bound(dj2, lams)
    _check_possible(model, policy, lams, t2, b2, 2 * resolution)
    # Richardson extrapolation of order 2; the error estimate is the whole difference (measured
    # on 144 cases, module docstring: above the true error for every size-based rank, below it
    # for 16 of 72 prediction-ranked cases, by up to 19x)
    note = ("above the true error in the 72 measured cases" if policy.descriptor == "size"
            else "not a bound: check by simulation")
    mean, err = (4 * t2 - t1) / 3, np.abs(t2 - t1)
    _check_possible(model, policy, lams, mean, np.minimum(b1, b2), resolution, err)
    return GenericResult(mean, err, False,
                         f"generic SOAP evaluator (discretised continuous law; error: difference of two "
                         f"resolutions, {note})")


#: the mass of discretised jobs whose size lies outside their class's conditional law (the
#: factor's 1e-12 and 1 - 1e-12 quantiles) above which the discretised ConditionalGittins
#: raises (:func:`_check_class_laws`): measured 5.3e-6 at most where its value was within
#: 1.5e-4 of the route on the law itself (LogNormal(sigma >= 0.02) errors on Exp sizes), 2.2e-5
#: to 0.55 below (sigma <= 0.012), where the value moved by up to 2.5x
CLASS_MISMATCH = 1e-5


def _check_class_laws(model, policy: Policy, dj: DiscreteJoint, resolution: int) -> None:
    r"""``ValueError`` where the discretised ConditionalGittins ranks the jobs of a prediction
    class by a law they are not drawn from: the class ``y`` (a bin of predictions) holds size
    atoms :math:`x` with :math:`y/x` outside the factor's range (its 1e-12 and
    :math:`1 - 10^{-12}` quantiles), of total mass above :data:`CLASS_MISMATCH`. Then the class
    law :math:`X \mid Y = y` has no mass beyond such an atom, its Gittins rank is ``inf`` there,
    and the value is wrong by up to a factor (prediction errors narrower than the discretisation's
    cells: log-normal sigma 1e-4 gave 6.45 and 1.49, sigma 1e-6 0.9996, where the truth is
    about SRPT's 2.3528)."""
    if policy.descriptor != "prediction" or model.prediction is None:
        return
    j = model.prediction.joint(model.size)
    if not isinstance(j, FactorJoint):
        return
    f = j.factor
    zl, zh = math.exp(f.log_range_q(1e-12)), math.exp(f.log_range_q(1 - 1e-12))
    bad = 0.0
    for d, x, p in zip(dj.d, dj.x, dj.p):
        z = float(d) / x
        bad += float(np.sum(p[(z < zl) | (z > zh)]))
    if bad > CLASS_MISMATCH:
        raise ValueError(
            f"{policy.name} by the discretised route: the prediction errors of prediction="
            f"{model.prediction!r} are narrower than the discretisation's classes at resolution="
            f"{resolution} (jobs of mass {bad:.2g} have sizes outside their class's conditional "
            "law, whose Gittins rank is then infinite: the value would be wrong by up to a "
            "factor); use the route on the law itself (MG1.mean_response_time without "
            "method='generic'), qt.PerfectPrediction() (SRPT) for errors this small, or "
            "qt.EmpiricalPairs of samples (exact)")


def _srpt_bound(dj: DiscreteJoint, lams: np.ndarray) -> np.ndarray:
    """SRPT's mean response time on the size law of the discrete joint law ``dj`` (its atoms
    merged over the classes) at the arrival rates ``lams``: the least mean of any policy on that
    law (Schrage 1968), ``-inf`` where its load is 1 or more."""
    from ..laws.sizes import Empirical
    from .soap import srpt_mean

    xs, ps = np.concatenate(dj.x), np.concatenate(dj.p)
    u, inv = np.unique(xs, return_inverse=True)
    w = np.bincount(inv, weights=ps, minlength=u.size)
    keep = w > 0
    size = Empirical(u[keep], w[keep] / w[keep].sum())
    ex = float(size.mean)
    out = np.full(lams.shape, -np.inf)
    ok = lams * ex < 1.0
    if ok.any():
        v = np.asarray(srpt_mean(size, lams[ok]), float)  # SRPT's closed form (its mean's route)
        out[ok] = np.where(np.isfinite(v), np.maximum(v, ex), ex)
    return out


def _check_possible(model, policy: Policy, lams, values, bounds, resolution: int,
                    err=None) -> None:
    r"""``ValueError`` where a discretised mean is impossible: NaN, or below ``bounds`` (SRPT's
    mean on the discrete law evaluated, :func:`_srpt_bound`: the least of every policy's; with
    ``err``, the extrapolated mean: below the bound by more than its estimate, or below the
    mean size), 1e-9 relative for rounding. Negative means are below it."""
    lams = np.atleast_1d(np.asarray(lams, float))
    values = np.atleast_1d(values)
    slack = np.zeros_like(values) if err is None else np.atleast_1d(err)
    with np.errstate(invalid="ignore"):
        low = values + slack < bounds * (1.0 - 1e-9)
        if err is not None:
            low |= values < float(model.size.mean) * (1.0 - 1e-9)
        bad = np.isnan(values) | (np.isfinite(values) & low)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{policy.name} by the discretised generic route gives E[T] = {float(values[i])!r}"
            + ("" if err is None else f" (error estimate {float(slack[i])!r})")
            + f" at arrival rate {float(lams[i])!r}, below SRPT's {float(bounds[i])!r} on the "
            f"discretised law (the least mean of any policy) or below the mean size: the "
            f"discretisation at resolution={resolution} does not resolve this law ({model.size!r}"
            + ("" if model.prediction is None else f", prediction={model.prediction!r}")
            + "); use qt.EmpiricalPairs / qt.Empirical samples of it (exact), or wider prediction errors")


def _continuous_gittins(model, policy):
    """For Gittins policies on continuous laws: the rank of the *continuous* (conditional) law,
    so that discretising the law for evaluation does not hand the policy extra information."""
    if policy.law_rank != "gittins":
        return None
    if policy.descriptor == "none":  # Gittins on the size law
        tails = (*size_tails(model.size), model.size)  # the law: exact values at the ages
        return lambda d: tails
    if policy.descriptor == "prediction":  # Gittins on X | Y = y
        j = model.prediction.joint(model.size)
        if isinstance(j, FactorJoint):
            xr, wr = size_rule(model.size, width=0.05)
            f = j.factor
            zb = (math.exp(f.log_range_q(1e-6)), math.exp(f.log_range_q(1 - 1e-6)))

            def tails(y):
                # the size law's own rule where it resolves X | y (at least CLASS_NODES nodes
                # in the bulk y / z of the factor), else a rule on the class's own range
                inside = np.count_nonzero((xr >= y / zb[1]) & (xr <= y / zb[0]))
                if inside >= CLASS_NODES:
                    return density_tails(xr, wr * f.pdf(y / xr) / xr)
                return density_tails(*_class_rule(model.size, f, y, zb))

            return tails
        if isinstance(j, OneBitJoint):
            xr, wr = size_rule(model.size, width=0.05)
            q = np.where(xr > j.T, j.q_large, j.q_small)
            t0, t1 = density_tails(xr, wr * (1 - q)), density_tails(xr, wr * q)
            return lambda y: t1 if y > 0.5 else t0
        raise NotImplementedError(
            f"ConditionalGittins on {type(j).__name__} with a continuous size law is not "
            "supported yet; use an Empirical size law or EmpiricalPairs")
    return None


#: the least number of the size law's quadrature nodes inside the bulk of X | Y = y (the
#: factor's 1e-6 to 1 - 1e-6 quantiles mapped by x = y / z) for the discretised
#: ConditionalGittins to build the class law on them; fewer (a factor narrower than the
#: rule's spacing): :func:`_class_rule`
CLASS_NODES = 64


def _class_rule(size, factor, y: float, zb: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and density weights of :math:`X \mid Y = y` for :math:`Y = XZ`, on the class's own
    range: :math:`f_{X \mid y}(x) \propto f_X(x)\, f_Z(y/x) / x` by composite Gauss-Legendre
    in :math:`\log x` over :math:`[y / z_{hi}, y / z_{lo}]` (the factor's ``log_range``, cut to
    the size law's range), at most 1/32 of the factor's bulk ``zb`` wide there, with the size
    law's breakpoints and :math:`y/k` for the factor's kinks :math:`k` as panel edges. (The
    size law's own rule, 0.05 wide in :math:`\log x`, holds no node under a factor narrower
    than that: the classes had no mass, a rank of ``inf`` from age 0, and the discretised
    ConditionalGittins gave 0.9996 at sigma = 1e-6 against SRPT's 2.3528 below it.)"""
    from ..laws._quadrature import log_rule, size_range

    llo, lhi = factor.log_range()
    slo, shi = size_range(size)
    lo, hi = max(y * math.exp(-lhi), slo), min(y * math.exp(-llo), shi)
    if not hi > lo:
        return np.array([y]), np.zeros(1)
    width = min(0.05, math.log(zb[1] / zb[0]) / 32)
    bps = [float(b) for b in np.atleast_1d(size.breakpoints)] + \
        [y / float(k) for k in factor.kinks if k > 0]
    bulk = (max(y / zb[1], lo), min(y / zb[0], hi))
    x, w = log_rule(lo, hi, width, bps, bulk=bulk if bulk[1] > bulk[0] else None)
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        dens = np.nan_to_num(np.asarray(size.pdf(x), float) * np.asarray(factor.pdf(y / x), float) / x,
                             nan=0.0, posinf=0.0)
    return x, w * dens


def mean_response_time(model, policy: Policy, lams) -> np.ndarray:
    """Hook used by :class:`qtheory.MG1` for policies without a closed form."""
    return evaluate(model, policy, lams).mean


def response_time(model, policy: Policy, x, y=None):
    """Conditional means by the generic route: exact for discrete laws at their atoms."""
    got = _first_route("conditional", model, detected_rank(model, policy)[0], x, y)
    if got is not _NO_ROUTE:
        return got[1]
    dj, exact = discretise(model, policy.descriptor, 2 * RESOLUTION)
    _, cond, (xs, ds) = _evaluate_discrete(policy, dj, np.array([model.arrival_rate]), snap=exact)
    x = np.atleast_1d(np.asarray(x, float))
    if policy.descriptor == "prediction":
        if y is None:
            raise ValueError(f"policy {policy.name} needs the prediction y")
        y = np.broadcast_to(np.asarray(y, float), x.shape)
    else:
        y = x if policy.descriptor == "size" else np.zeros_like(x)
    out = np.empty(x.shape)
    for i, (xi, yi) in enumerate(zip(x, y)):
        hit = np.flatnonzero(np.isclose(xs, xi, rtol=1e-12, atol=0) & np.isclose(ds, yi, rtol=1e-12,
                                                                                   atol=1e-300))
        if hit.size == 0 and exact:
            raise NotImplementedError(
                f"E[T | x, y] of {policy.name}: the job (x, y) asked for is not an atom of the "
                "discrete law (its conditional means exist at the atoms only)")
        if hit.size == 0:
            law = f"{model.size!r}" + ("" if model.prediction is None else f" with {model.prediction!r}")
            raise NotImplementedError(
                f"E[T | x, y] of {policy.name} on {law}: no route on the law itself applies here "
                "(the generic route answers E[T | x, y] at the atoms of a discrete law only); use "
                "samples of the model (qt.Empirical sizes / qt.EmpiricalPairs), or the mean "
                "(MG1.mean_response_time)")
        out[i] = cond[hit[0]]
    return out


def mean_slowdown(model, policy: Policy, resolution: int = RESOLUTION) -> float:
    """E[T/X] by the generic route (exact for discrete laws; Richardson-extrapolated otherwise)."""
    got = _first_route("slowdown", model, detected_rank(model, policy)[0])
    if got is not _NO_ROUTE:
        return got[1]
    lam = np.array([model.arrival_rate])

    def once(n):
        dj, exact = discretise(model, policy.descriptor, n)
        tails_of = None if exact else _continuous_gittins(model, policy)
        if tails_of is not None:
            _check_class_laws(model, policy, dj, n)
        _, cond, (xs, _) = _evaluate_discrete(policy, dj, lam, tails_of, None if exact else MAX_KNOTS,
                                              snap=exact)
        ps = np.concatenate(dj.p)
        return float(np.sum(ps * cond / xs)), exact

    s1, exact = once(resolution)
    if exact:
        return _possible_slowdown(policy, s1, resolution)
    s2, _ = once(2 * resolution)
    _possible_slowdown(policy, s2, 2 * resolution)
    return _possible_slowdown(policy, (4 * s2 - s1) / 3, resolution)


def _possible_slowdown(policy: Policy, s: float, resolution: int) -> float:
    """``s``, or ``ValueError`` where a discretised mean slowdown is impossible (NaN or below 1:
    every response time is at least the size)."""
    if math.isnan(s) or s < 1.0 - 1e-9:
        raise ValueError(f"{policy.name} by the discretised generic route gives E[T/X] = {s!r} < 1, "
                         f"impossible (T >= X): the discretisation at resolution={resolution} does not "
                         "resolve this law; use qt.EmpiricalPairs / qt.Empirical samples of it (exact)")
    return s
