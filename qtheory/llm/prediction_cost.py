r"""What predictions cost: SkipPredict, DelayPredict and their baselines, in the external-cost
and the server-time model (Shahout & Mitzenmacher, "SkipPredict: When to Invest in
Predictions for Scheduling", NeurIPS 2024, arXiv:2402.03564).

**Model.** M/G/1 with arrival rate :math:`\lambda` and size :math:`X`. A *cheap* prediction is
one bit: a job of size :math:`x` is predicted long with probability :math:`q(x)` (its cheap
prediction is at least the threshold :math:`T`), independently of everything else given
:math:`x`. An *expensive* prediction :math:`Y` follows the model's prediction law. The cheap
prediction costs :math:`c_1`, the expensive one :math:`c_2`:

* **external** cost model: predictions do not use the server; the cost measure is
  :math:`E[T]` plus the mean prediction cost per job;
* **server** cost model: predictions are server work, scheduled with the jobs; a job's work is
  its size plus its prediction phases and the cost measure is :math:`E[T]` alone. The extra
  work raises the effective load: every prediction-based policy becomes unstable before FCFS.

**Policies, as SOAP ranks** (lexicographic :math:`\langle\text{class}, \text{value}\rangle`,
lower first, FCFS among ties; :math:`a` is the age counted from arrival, :math:`s = c_1 + c_2`):

=================  ======================================================================
SkipPredict        server: cheap phase :math:`a < c_1` rank :math:`\langle 2\rangle`; then
                   short :math:`\langle 1\rangle`; long: expensive phase
                   :math:`c_1 \le a < s` :math:`\langle 3\rangle`, then
                   :math:`\langle 4, y - (a - s)\rangle`. External: short
                   :math:`\langle 1\rangle`, long :math:`\langle 2, y - a\rangle`.
DelayPredict(L)    server: :math:`a < L` :math:`\langle 1\rangle` (FCFS for the first
                   :math:`L` of service), :math:`L \le a < L + c_2` :math:`\langle 2\rangle`
                   (the expensive prediction of a job still running), then
                   :math:`\langle 3, y - (a - c_2)\rangle`. External: :math:`\langle 1\rangle`
                   then :math:`\langle 2, y - a\rangle`.
SPRPT (baseline)   every job gets the expensive prediction first (server:
                   :math:`\langle 1\rangle` for :math:`a < c_2`, then
                   :math:`\langle 2, y - (a - c_2)\rangle`); cost :math:`c_2` per job.
1bit (baseline)    the cheap bit only: short before long, FCFS inside each class (server:
                   cheap phase :math:`\langle 2\rangle`, short :math:`\langle 1\rangle`, long
                   :math:`\langle 3\rangle`); cost :math:`c_1` per job.
=================  ======================================================================

The paper writes the FCFS parts as :math:`\langle k, -a\rangle`; with FCFS tie-breaking a
constant rank gives the same schedule (a job of such a class is only ever overtaken by a job of
a lower class, so the oldest job of the class is always the one with the most service), and the
constant is what the generic evaluator gets here.

**Closed forms** (SOAP, Scully, Harchol-Balter & Scheller-Wolf, POMACS 2018). Write
:math:`p_S, m_{1S}, m_{2S}` for :math:`P(S)`, :math:`E[X; S]`, :math:`E[X^2; S]` (partial,
unconditional), :math:`p_L = 1 - p_S`, and, over the predicted-long jobs,
:math:`A_<(v) = E[X; L, Y < v]`, :math:`A_\le(v)`, :math:`B(v) = E[X^2; L, Y \le v]`,
:math:`C(v) = E[((X - (Y - v))^+)^2; L, Y > v]`. SkipPredict, server model:

.. math::
    E[T_S(x)] = c_1 + x + \frac{\lambda (c_1^2 + 2 c_1 m_{1S} + m_{2S})}{2(1 - \rho_1)},
    \qquad \rho_1 = \lambda (c_1 + m_{1S}),

.. math::
    E[T_L(x, y)] = \frac{\lambda (K_0 + 2 s A_\le(y) + B(y) + C(y))}
        {2 (1 - \rho_b - \lambda A_\le(y))(1 - \rho_b - \lambda A_<(y))}
      + \frac{s}{1 - \rho_b - \lambda A_<(y)}
      + \int_0^{\min(x, y)} \frac{dt}{1 - \rho_b - \lambda A_<(y - t)}
      + \frac{(x - y)^+}{1 - \rho_b},

with :math:`K_0 = c_1^2 p_S + 2 c_1 m_{1S} + m_{2S} + s^2 p_L` and
:math:`\rho_b = \lambda (c_1 + m_{1S} + c_2 p_L)`. The external model is :math:`c_1 = c_2 = 0`
in these (the cost :math:`c_1 + c_2 p_L` is added to the measure). DelayPredict is the same
long-class form over the jobs with :math:`X > L`, with remaining work :math:`R = X - L` in
place of :math:`X` in :math:`A, B, C` and :math:`(R - Y)^+`, and

.. math::
    E[T \mid x \le L] = x + \frac{\lambda E[\min(X, L)^2]}{2(1 - \lambda E[\min(X, L)])},\quad
    K_0 = E[X^2; X \le L] + (L + c_2)^2 P(X > L),\quad s \to L + c_2,\quad
    \rho_b = \lambda (E[\min(X, L)] + c_2 P(X > L)).

SPRPT is the long-class form over all jobs with :math:`K_0 = c_2^2`, :math:`s \to c_2`,
:math:`\rho_b = \lambda c_2`; 1bit has long jobs
:math:`E[T_L(x)] = (c_1 + x)/(1 - \rho_1) + \lambda E[(c_1 + X)^2]/(2(1 - \rho_1)(1 - \rho))`
with :math:`\rho = \lambda(c_1 + E[X])`. Every formula is checked against the generic SOAP
evaluator on the same rank (:meth:`CostPolicy.augmented`: to 1e-9 on discrete laws) and against
the simulator (:func:`simulate_prediction_cost`).

**Two places where the paper's printed lemmas are not right.**

* *Short jobs, server model.* The paper's lemma (as transcribed in our notes) has the residence
  :math:`E[S'_{<T}]` (the size alone): it leaves out the job's own cheap-prediction phase, which
  is part of its response time. The numerator is right (it holds the cheap phases of the
  other jobs, :math:`c_1^2` per job). The correct term is :math:`c_1 + x`
  (:func:`paper_lemma_server` evaluates the printed form; the generic evaluator on the paper's
  own rank agrees with the form above to 1e-12 and differs from the printed one by exactly
  :math:`c_1 p_S`). The long-job lemma as transcribed likewise integrates the residence over
  :math:`[0, x]` only, missing the job's own prediction phases :math:`s/(1 - \rho_b - \lambda
  A_<(y))`.
* *SPRPT baseline.* The paper states it once with the cheap cost :math:`c_1` and once (in the
  lemma) with the expensive :math:`c_2`. SPRPT needs the full size prediction, which the cheap
  one-bit predictor does not give, so its cost is :math:`c_2` per job: with it, SPRPT is
  SkipPredict with every job predicted long and :math:`c_1 = 0` (equal to 1e-12 here); with
  :math:`c_1` it would be SPRPT with predictions at a one-bit price.

Evaluation routes: discrete laws (``EmpiricalPairs``, or ``Empirical`` sizes with perfect
predictions) are summed exactly; sizes (continuous or discrete) with multiplicative predictions
(exponential, uniform, log-normal factors) use a size rule (Gauss-Legendre in log x) with
closed forms in the factor :math:`Z = Y/X`, on a Gauss-Legendre grid of prediction thresholds
(about 1e-7 relative; the paper's settings are checked against the generic evaluator and by
simulation).

Derivation: ``docs/prediction_cost.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .._validation import in_range, integer, nonnegative, one_value, plain
from .._validation import loads as check_loads
from ..laws._quadrature import (
    bulk_range,
    endpoint_refinement,
    log_edges,
    log_rule,
    panels,
    size_range,
    size_rule,
)
from ..policies import FCFS, Policy, Rank, get_policy

__all__ = [
    "COST_MODELS",
    "CostPolicy",
    "SkipPredict",
    "DelayPredict",
    "SPRPTCost",
    "OneBitCost",
    "PredictionCostResult",
    "total_cost",
    "compare_prediction_costs",
    "instability_load",
    "BreakEven",
    "break_even_cost",
    "paper_lemma_server",
    "generic_mean_with_costs",
    "simulate_prediction_cost",
]

#: the two cost models of the paper
COST_MODELS = ("server", "external")

#: panel width (in log x) of the size rule of the continuous route
SIZE_WIDTH = 0.1
#: panel width (in log v) of the prediction-threshold grid
V_WIDTH = 0.2
_CHUNK = 128


def _cost_model(value) -> str:
    if not isinstance(value, str) or value.strip().lower() not in COST_MODELS:
        raise ValueError(f"cost_model must be 'server' or 'external', got cost_model={plain(value)}")
    return value.strip().lower()


# ============================================================================================
# Factor laws: closed forms in Z
# ============================================================================================
def _factor_kind(factor) -> str:
    from ..laws.predictions import _ExpFactor, _LogNormalFactor, _UniformFactor

    if isinstance(factor, _ExpFactor):
        return "exp"
    if isinstance(factor, _UniformFactor):
        return "loguniform" if factor.log else "uniform"
    if isinstance(factor, _LogNormalFactor):
        return "lognormal"
    raise NotImplementedError(
        f"prediction costs with the error factor {type(factor).__name__} are not supported; use "
        "exponential, uniform or log-normal predictions, or EmpiricalPairs")


def _zpm(factor, kind: str, lo, hi):
    """(E[1; lo < Z <= hi], E[Z; ...], E[Z^2; ...]) for arrays ``lo <= hi`` (>= 0)."""
    lo = np.asarray(lo, float)
    hi = np.asarray(hi, float)
    if kind == "exp":
        def g(z):
            e = np.exp(-z)
            return e, (z + 1.0) * e, (z * z + 2.0 * z + 2.0) * e

        a, b = g(lo), g(np.where(np.isfinite(hi), hi, 800.0))
        return tuple(np.maximum(u - v, 0.0) for u, v in zip(a, b, strict=True))
    if kind in ("uniform", "loguniform"):
        za, zb = factor.a, factor.b
        lo_c = np.clip(lo, za, zb)
        hi_c = np.clip(hi, za, zb)
        L = factor._L
        if kind == "uniform":
            return ((hi_c - lo_c) / L, (hi_c ** 2 - lo_c ** 2) / (2 * L),
                    (hi_c ** 3 - lo_c ** 3) / (3 * L))
        lo_c = np.maximum(lo_c, 1e-300)
        return (np.log(hi_c / lo_c) / L, (hi_c - lo_c) / L, (hi_c ** 2 - lo_c ** 2) / (2 * L))
    # log-normal
    ok = hi > lo
    lo_s = np.where(ok, np.maximum(lo, 1e-300), 1.0)
    hi_s = np.where(ok, np.minimum(hi, 1e300), 1.0)
    return tuple(np.where(ok, factor._pm_between(k, lo_s, hi_s), 0.0) for k in range(3))


def _psi(factor, kind: str, t, kappa):
    r""":math:`\Psi(t, \kappa) = E[((\kappa + t - Z)^+)^2; Z > t]` (the old work of an SPRPT job
    whose remaining work is :math:`\kappa x` and prediction :math:`x Z`, at threshold
    :math:`t x`), elementwise."""
    t = np.maximum(np.asarray(t, float), 0.0)
    kappa = np.asarray(kappa, float)
    c = kappa + t
    if kind == "exp":
        # e^{-t} (k^2 - 2k + 2 - 2 e^{-k}); a series for small k (the terms cancel to O(k^3))
        k = np.broadcast_to(kappa, t.shape)
        out = k * k - 2.0 * k - 2.0 * np.expm1(-k)
        small = k < 0.05
        if small.any():
            ks = k[small]
            out[small] = ks ** 3 * (1 / 3 - ks / 12 + ks ** 2 / 60 - ks ** 3 / 360 + ks ** 4 / 2520)
        return np.exp(-t) * out
    if kind == "uniform":
        lo = np.clip(t, factor.a, factor.b)
        hi = np.clip(c, factor.a, factor.b)
        return np.where(hi > lo, ((c - lo) ** 3 - (c - hi) ** 3) / (3 * factor._L), 0.0)
    m0, m1, m2 = _zpm(factor, kind, t, c)
    return np.maximum(c * c * m0 - 2 * c * m1 + m2, 0.0)


def _excess(factor, kind: str, kappa):
    r""":math:`E[(\kappa - Z)^+]`, elementwise."""
    kappa = np.asarray(kappa, float)
    if kind == "exp":
        return kappa + np.expm1(-kappa)
    m0, m1, _ = _zpm(factor, kind, np.zeros_like(kappa), kappa)
    return np.maximum(kappa * m0 - m1, 0.0)


# ============================================================================================
# One SPRPT-ordered class of jobs: the threshold functions
# ============================================================================================
class _PairsClass:
    """A discrete class: pairs (work r after the class's entry, prediction y, weight w)."""

    def __init__(self, r, y, w):
        from .trail import _Pairs

        keep = np.asarray(w, float) > 0
        self.empty = not keep.any()
        if self.empty:
            return
        self.r, self.y, self.w = (np.asarray(a, float)[keep] for a in (r, y, w))
        self.P = _Pairs(self.r, self.y, self.w)
        u = self.P.u
        self.le, self.lt = self.P.A_le(u), self.P.A_lt(u)
        self.B, self.C = self.P.B(u), self.P.C(u, 1.0)
        self.excess = float(np.sum(self.w * np.maximum(self.r - self.y, 0.0)))
        self.lo = self.y - np.minimum(self.r, self.y)
        self.work = float(np.sum(self.w * self.r))

    def mean(self, lam: float, base: float, pre: float, K0: float) -> float:
        """E[T; class] at arrival rate ``lam`` (see the module docstring)."""
        if self.empty:
            return 0.0
        d_le = 1.0 - base - lam * self.le
        d_lt = 1.0 - base - lam * self.lt
        wait = np.sum(self.P.pu * lam * (K0 + 2 * pre * self.le + self.B + self.C) / (2 * d_le * d_lt))
        prep = np.sum(self.P.pu * pre / d_lt)
        res = np.sum(self.w * self.P.integrals(lam, self.lo, self.y, base=base)[0])
        return float(wait + prep + res + self.excess / (1.0 - base))

    def response_time(self, lam, base, pre, K0, r, y):
        """E[T | class, remaining work r, prediction y] (arrays)."""
        r = np.asarray(r, float)
        y = np.asarray(y, float)
        le, lt = self.P.A_le(y), self.P.A_lt(y)
        B, C = self.P.B(y), self.P.C(y, 1.0)
        d_le = 1.0 - base - lam * le
        d_lt = 1.0 - base - lam * lt
        wait = lam * (K0 + 2 * pre * le + B + C) / (2 * d_le * d_lt)
        res = self.P.integrals(lam, y - np.minimum(r, y), y, base=base)[0]
        return wait + pre / d_lt + res + np.maximum(r - y, 0.0) / (1.0 - base)


class _FactorClass:
    r"""A class with predictions :math:`Y = xZ` given the size :math:`x`, remaining work
    :math:`r = x - \ell` (:math:`\ell = 0` for SkipPredict, :math:`L` for DelayPredict) and
    class weight ``weight(x)``: every threshold function is a sum over size nodes of a closed
    form in :math:`Z`, tabulated on a Gauss-Legendre grid of prediction thresholds :math:`v`
    (in log v, split where the functions kink).

    Size nodes: the atoms of a discrete law; for a continuous law Gauss-Legendre panels in log x
    and, when the law of :math:`Z` has kinks (uniform errors), panels split per threshold at the
    sizes where :math:`v/x` or :math:`(v + r)/x` crosses a kink (without the split the uniform
    errors' kinks cost 1e-3 relative)."""

    def __init__(self, factor, ell: float, size, weight, lo_x: float = 0.0, kinks=()):
        self.factor = factor
        self.kind = _factor_kind(factor)
        self.ell = float(ell)
        self.size = size
        self.weight = weight
        zk = [k for k in factor.kinks if k > 0]
        self.zk = zk
        if size.is_discrete or size.atom_values.size:
            if size.is_discrete:
                x, p = np.asarray(size.atom_values, float), np.asarray(size.atom_probs, float)
            else:  # a mixed law: the size rule (its atoms are nodes), no per-threshold splits
                x, p = size_rule(size, width=SIZE_WIDTH)
            keep = x > lo_x
            x, p = x[keep], p[keep]
            self.base = None
        else:
            lo, hi = size_range(size)
            lo = max(lo, lo_x)
            bps = [b for b in endpoint_refinement(size) if lo < b < hi]
            # E[(kappa - Z)^+] kinks where kappa = 1 - ell / x crosses a kink k < 1
            bps += [self.ell / (1 - k) for k in zk if k < 1 and self.ell > 0]
            bps += list(kinks)  # where the class weight kinks or jumps (an exact cheap bit)
            bx = bulk_range(size.ppf)
            self.base = log_edges(lo, hi, SIZE_WIDTH, sorted(b for b in bps if lo < b < hi),
                                  bulk=(max(bx[0], lo), max(bx[1], lo))) if hi > lo else None
            if self.base is None:
                x, p = np.empty(0), np.empty(0)
            else:
                u, wu = panels(self.base)
                x = np.exp(u)
                p = wu * x * size.pdf(x)
        p = p * np.clip(np.asarray(weight(x), float), 0.0, 1.0) if x.size else p
        keep = p > 0
        self.empty = not keep.any()
        if self.empty:
            return
        self.x, self.p = x[keep], p[keep]
        self.r = self.x - self.ell
        self.split = self.base is not None and bool(zk)
        zlo, zhi = factor.log_range()
        lo_v = float(self.x.min()) * math.exp(zlo)
        hi_v = float(self.x.max()) * math.exp(zhi)
        zq = (math.exp(factor.log_range_q(1e-4)), math.exp(factor.log_range_q(1 - 1e-4)))
        wx = np.cumsum(self.p) / self.p.sum()
        xb = (float(self.x[min(np.searchsorted(wx, 1e-4), self.x.size - 1)]),
              float(self.x[min(np.searchsorted(wx, 1 - 1e-4), self.x.size - 1)]))
        bulk = (xb[0] * zq[0], xb[1] * zq[1])
        # kinks in v: where v / x or (v + r) / x crosses a kink of Z's law at a size kink x
        kx = list(_kinks_x(size)) + ([self.ell] if self.ell > 0 else [])
        bps = []
        for xk in kx:
            for k in zk:
                bps += [xk * k, xk * k - (xk - self.ell)]
        bps = [b for b in bps if lo_v < b < hi_v]
        v, wv = log_rule(lo_v, hi_v, V_WIDTH, sorted(set(bps)), bulk=bulk)
        t, tw = panels(np.array([0.0, lo_v]))
        self.v = np.concatenate([t, v])
        self.w_dv = np.concatenate([tw, wv])
        cols = [np.empty(self.v.size) for _ in range(5)]
        step = 16 if self.split else _CHUNK
        for i in range(0, self.v.size, step):
            for col, val in zip(cols, self._at(self.v[i:i + step]), strict=True):
                col[i:i + step] = val
        self.A, self.B, self.C, self.G, self.fY = cols
        self.excess = float(np.sum(self.p * self.x * _excess(factor, self.kind, self.r / self.x)))
        self.work = float(np.sum(self.p * self.r))

    def _nodes(self, v):
        """Size nodes and class weights for the thresholds ``v``, shape (len(v), m)."""
        V = np.asarray(v, float)[:, None]
        if not self.split:
            return np.broadcast_to(self.x, (V.shape[0], self.x.size)), \
                np.broadcast_to(self.p, (V.shape[0], self.p.size))
        ulo, uhi = float(self.base[0]), float(self.base[-1])
        cand = [V / k for k in self.zk] + [(V - self.ell) / (k - 1.0) for k in self.zk if k != 1.0]
        K = np.concatenate(cand, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            lk = np.where(K > 0, np.log(np.where(K > 0, K, 1.0)), ulo)
        lk = np.clip(lk, ulo, uhi)
        edges = np.sort(np.concatenate([np.broadcast_to(self.base, (V.shape[0], self.base.size)), lk],
                                       axis=1), axis=1)
        u, wu = panels(edges)
        x = np.exp(u)
        p = wu * x * self.size.pdf(x) * np.clip(np.asarray(self.weight(x), float), 0.0, 1.0)
        return x, p

    def _at(self, v):
        """A, B, C, G, f_Y at thresholds ``v`` (sums over the size nodes)."""
        f = self.factor
        V = np.asarray(v, float)[:, None]
        x, p = self._nodes(v)
        r = x - self.ell
        kap = r / x
        t = V / x
        F = f.cdf(t)
        A = (F * (p * r)).sum(1)
        B = (F * (p * r * r)).sum(1)
        C = (_psi(f, self.kind, t, kap) * (p * x * x)).sum(1)
        G = ((f.sf(t) - f.sf(t + kap)) * p).sum(1)
        fY = (f.pdf(t) * (p / x)).sum(1)
        return A, B, C, G, fY

    def mean(self, lam: float, base: float, pre: float, K0: float) -> float:
        if self.empty:
            return 0.0
        d = 1.0 - base - lam * self.A
        wait = lam * (K0 + 2 * pre * self.A + self.B + self.C) / (2 * d * d)
        return float(np.sum(self.w_dv * (self.fY * (wait + pre / d) + self.G / d))
                     + self.excess / (1.0 - base))

    def response_time(self, lam, base, pre, K0, r, y):
        """E[T | class, remaining work r, prediction y]: the functions at ``y`` and the
        residence integral over t by Gauss-Legendre panels graded towards t = min(r, y)."""
        r = np.atleast_1d(np.asarray(r, float))
        y = np.atleast_1d(np.asarray(y, float))
        A, B, C, _, _ = self._at(y)
        d = 1.0 - base - lam * A
        wait = lam * (K0 + 2 * pre * A + B + C) / (2 * d * d)
        top = np.minimum(r, y)
        u = np.linspace(0.0, 1.0, 17)
        out = np.zeros(y.size)
        for i in range(y.size):
            if top[i] <= 0:
                continue
            lo_w = max(y[i] - top[i], 0.0)
            edges = lo_w + (y[i] - lo_w) * u ** 2  # w = y - t, finer near w = lo_w
            w_nodes, w_w = panels(edges[None, :])
            out[i] = float(np.sum(w_w[0] / (1.0 - base - lam * self._at(w_nodes[0])[0])))
        return wait + pre / d + out + np.maximum(r - y, 0.0) / (1.0 - base)


# ============================================================================================
# The policies
# ============================================================================================
class CostPolicy(Policy):
    """Base class of the policies of the prediction-cost models (the job's descriptor is its
    prediction; with the server-cost model the prediction phases are part of the job's work,
    so the SOAP rank lives on the *augmented* job of :meth:`augmented`, not on the model's
    own sizes).

    ``qt.MG1(...).mean_response_time(policy)`` evaluates the closed form (time only; the cost
    measure is in :func:`total_cost`); :meth:`augmented` gives the model and rank for the
    generic SOAP evaluator; :func:`simulate_prediction_cost` simulates it.
    """

    descriptor = "prediction"
    monotone = None
    cost_model = "server"

    # -- what each policy defines -------------------------------------------------------------
    def _parts(self, model):
        raise NotImplementedError

    def _time(self, parts, lam: float) -> tuple[float, float]:
        """(E[T], E[T; predicted long or expensive-predicted part]) at arrival rate ``lam``."""
        raise NotImplementedError

    def external_cost(self, model) -> float:
        """Mean prediction cost per job (external model; 0 in the server model)."""
        return 0.0 if self.cost_model == "server" else self._prediction_spend(model)

    def extra_work(self, model) -> float:
        """Mean server time per job spent on predictions (server model; 0 externally)."""
        return self._prediction_spend(model) if self.cost_model == "server" else 0.0

    def _prediction_spend(self, model) -> float:
        raise NotImplementedError

    def _augment(self, model, x, y, w):
        """The augmented discrete law (work, descriptor, weight) of pairs (x, y, w)."""
        raise NotImplementedError

    def _soap_rank(self, band: float):
        """The SOAP rank on the augmented job, class k at offset k * band."""
        raise NotImplementedError

    # -- the Policy interface --------------------------------------------------------------------
    def rank(self, d, a):
        raise NotImplementedError(
            f"{self.name}: the rank is defined on the augmented job (its work includes the "
            "prediction phases and its descriptor the cheap bit); use policy.augmented(model) "
            "for the model and rank the generic evaluator takes")

    def sim_policy(self):
        raise NotImplementedError(
            f"{self.name}: qt.simulate draws the model's sizes, but this policy's jobs carry "
            "prediction phases; use qt.simulate_prediction_cost(model, policy)")

    def rescaled(self, age_factor: float, descriptor_factor: float):
        return None  # evaluated in the model's own unit (the costs are in that unit)

    def closed_form_mean(self, model, lams):
        """E[T] (time only) at the arrival rates ``lams``: a hook for :class:`qtheory.MG1`
        (``inf`` where the effective load is >= 1)."""
        parts = self._parts(model)
        return np.array([self._time(parts, float(lam))[0] for lam in np.atleast_1d(lams)])

    def closed_form_response_time(self, model, x, y):
        r""":math:`E[T \mid X = x, Y = y]` averaged over the cheap bit (a hook for
        :class:`qtheory.MG1`)."""
        raise NotImplementedError(f"{self.name}: conditional response times are not available")

    def effective_load(self, model, load: float | None = None) -> float:
        r""":math:`\lambda (E[X] + \text{extra work per job})` at ``load`` (default the model's)."""
        rho = model.load if load is None else float(load)
        return rho * (1.0 + self.extra_work(model) / model.size.mean)

    def instability_load(self, model) -> float:
        r"""The load :math:`\rho = \lambda E[X]` at which the effective load reaches 1:
        :math:`E[X] / (E[X] + \text{extra work per job})` (1 in the external model)."""
        m = model.size.mean
        return m / (m + self.extra_work(model))

    # -- the generic route -------------------------------------------------------------------------
    def augmented(self, model, resolution: int | None = None):
        """``(augmented model, rank)``: an :class:`qtheory.MG1` whose jobs are the augmented
        jobs (work including the prediction phases; descriptor: the prediction, or for
        SkipPredict 0 for a predicted-short job and 1 + y for a predicted-long one) as
        :class:`qtheory.EmpiricalPairs`, and the paper's rank on them as a
        :class:`qtheory.Rank`; ``augmented.mean_response_time(rank)`` is then the generic SOAP
        evaluation. Exact for discrete laws; a continuous law is first discretised as the
        generic evaluator does (quantile cells, ``resolution`` of them; default 96)."""
        from ..laws.predictions import EmpiricalPairs
        from ..models.mg1 import MG1

        x, y, w = _discrete_pairs(model, resolution, getattr(self, "limit", None))
        xa, da, wa = self._augment(model, x, y, w)
        keep = wa > 0
        xa, da, wa = xa[keep], da[keep], wa[keep]
        band = 2.0 * (float(xa.max()) + float(da.max()) + 1.0)
        lam = model.arrival_rate
        law = EmpiricalPairs(xa, da, wa)
        eff = lam * float(np.sum(wa * xa))
        if not eff < 1:
            raise ValueError(f"{self.name} is unstable at this load: effective load {eff:.6g} >= 1")
        return MG1(lam, law.size_law(), law), self._soap_rank(band)

    def _params(self):
        return {}

    def __repr__(self):
        return self.name


def _discrete_pairs(model, resolution: int | None = None, split: float | None = None):
    """(x, y, w) of the model's joint law: exact for discrete laws, else the generic evaluator's
    discretisation at ``resolution`` cells (:func:`qtheory.engine.generic.discretise`), with the size
    cells split at ``split`` where the policy's work jumps there (DelayPredict's :math:`L`: a
    cell across it would be classified as a whole, an O(1/n) error)."""
    from ..engine import generic
    from ..laws.joint import FactorJoint

    n = resolution or 2 * generic.RESOLUTION
    size = model.size
    j = model.prediction.joint(size) if model.prediction is not None else None
    if split is None or size.is_discrete or size.atom_values.size or not isinstance(j, FactorJoint) \
            or not 0 < float(size.cdf(split)) < 1:
        dj, _ = generic.discretise(model, "prediction", n)
        x = np.concatenate(dj.x)
        y = np.repeat(dj.d, [a.size for a in dj.x])
        return x, y, np.concatenate(dj.p)
    Fs = float(size.cdf(split))
    xs, ps = [], []
    for a, b, fa, fb in ((0.0, split, 0.0, Fs), (split, math.inf, Fs, 1.0)):
        k = max(2, round(n * (fb - fa)) if n * (fb - fa) >= 2 else 2)
        t = np.linspace(-1.0, 1.0, k + 1)
        u = fa + (fb - fa) * _expit(14.0 * t ** 3 + 4.0 * t)
        u[0], u[-1] = fa, fb
        e = np.array([a] + [float(size.ppf(v)) for v in u[1:-1]] + [b])
        m1 = np.array([float(size.partial_moment(1, min(v, 1e300))) for v in e])
        pr = np.diff(u)
        mean = np.diff(m1) / np.where(pr > 0, pr, 1.0)
        ok = (pr > 0) & np.isfinite(mean) & (mean > 0)
        xs.append(mean[ok])
        ps.append(pr[ok])
    x, p = np.concatenate(xs), np.concatenate(ps)
    f = j.factor
    z, qz = generic._cells(lambda v: math.exp(f.log_range_q(v)),
                           lambda c: generic._factor_partial1(f, c), n)
    X = np.repeat(x, z.size)
    Y = X * np.tile(z, x.size)
    P = np.repeat(p, z.size) * np.tile(qz, x.size)
    dj = generic._group(X, Y, P, 2 * n)
    return (np.concatenate(dj.x), np.repeat(dj.d, [a.size for a in dj.x]), np.concatenate(dj.p))


def _expit(z):
    from scipy import special

    return special.expit(z)


def _joint_route(model):
    """('pairs', (x, y, w)) for discrete joint laws, ('factor', joint) for multiplicative
    predictions; NotImplementedError otherwise."""
    from ..laws.joint import EmpiricalJoint, FactorJoint, PerfectJoint

    if model.prediction is None:
        raise ValueError("prediction costs need the expensive predictions: pass a model with "
                         "prediction=... (e.g. qt.ExponentialPrediction())")
    j = model.prediction.joint(model.size)
    if isinstance(j, EmpiricalJoint):
        return "pairs", (j.x, j.y, j.w)
    if isinstance(j, PerfectJoint) and model.size.is_discrete:
        s = model.size
        return "pairs", (s.atom_values, s.atom_values, s.atom_probs)
    if isinstance(j, FactorJoint):
        _factor_kind(j.factor)
        return "factor", j
    raise NotImplementedError(
        f"prediction costs with {type(j).__name__} joint laws are not supported; use "
        "EmpiricalPairs, Empirical sizes with perfect predictions, or multiplicative (exponential, "
        "uniform, log-normal) predictions")


def _size_nodes(model, kinks=()):
    """Nodes and weights of the size law: its atoms, or Gauss-Legendre panels in log x with
    edges at the law's breakpoints and at ``kinks`` (where an integrand kinks or jumps)."""
    size = model.size
    if size.is_discrete or size.atom_values.size or not kinks:
        return size_rule(size, width=SIZE_WIDTH)
    lo, hi = size_range(size)
    bps = sorted(b for b in [*endpoint_refinement(size), *kinks] if lo < b < hi)
    bx = bulk_range(size.ppf)
    x, w = log_rule(lo, hi, SIZE_WIDTH, bps, bulk=bx)
    return x, w * size.pdf(x)


def _q_kinks(cheap, threshold: float) -> list:
    """Sizes where P(predicted long | x) kinks or jumps: the threshold for exact (perfect) cheap
    predictions, T / k for the kinks k of a multiplicative cheap law's factor."""
    from ..laws.predictions import MultiplicativePrediction, PerfectPrediction

    if isinstance(cheap, PerfectPrediction):
        return [threshold] if threshold > 0 else []
    if isinstance(cheap, MultiplicativePrediction) and getattr(cheap, "factor", None) is not None:
        return [threshold / k for k in cheap.factor.kinks if k > 0 and threshold > 0]
    return []


def _kinks_x(size) -> list:
    """Sizes at which the threshold functions of v kink: every atom of a discrete law (up to
    4000; with uniform errors on the 623 atoms of the Azure conversation trace, leaving them out
    moved SPRPT by 9.6e-4 at load 0.9), the breakpoints of a continuous one."""
    if size.is_discrete:
        xa = np.asarray(size.atom_values, float)
        return list(xa) if xa.size <= 4000 else []
    return [float(b) for b in size.breakpoints if b > 0 and math.isfinite(b)]


#: the threshold functions of recent (policy structure, model) pairs: they do not depend on the
#: prediction costs or the load, so cost sweeps and break-even searches reuse them
_PARTS: dict = {}
_PARTS_MAX = 16


def _cached(key: tuple, objects: tuple, model, make):
    """``make()`` cached under ``key`` and the identities of ``objects`` and of the model's
    laws (all kept alive in the entry, so that an id is never reused while cached)."""
    objs = (*objects, model.size, model.prediction)
    full = (*key, *(id(o) for o in objs))
    hit = _PARTS.get(full)
    if hit is not None and all(a is b for a, b in zip(hit[0], objs, strict=True)):
        return hit[1]
    value = make()
    if len(_PARTS) >= _PARTS_MAX:
        _PARTS.pop(next(iter(_PARTS)))
    _PARTS[full] = (objs, value)
    return value


def _stable(*denominators) -> bool:
    return all(d > 0 for d in denominators)


def _check_cost(name, value) -> float:
    return nonnegative(name, value)


@dataclass
class _SkipParts:
    pS: float
    m1S: float
    m2S: float
    m1: float
    m2: float
    cls: object  # the long class


class SkipPredict(CostPolicy):
    r"""SkipPredict (Shahout & Mitzenmacher, NeurIPS 2024): a cheap one-bit prediction for
    every job; predicted-short jobs are served first (FCFS), predicted-long jobs get an
    expensive prediction and are served by SPRPT on it.

    Derivation: ``docs/prediction_cost.md`` (sections 2-3).

    Parameters
    ----------
    threshold : float
        :math:`T`: a job is predicted long when its cheap prediction is at least :math:`T`.
    cheap_cost, expensive_cost : float
        :math:`c_1` and :math:`c_2` (server time, or external cost per prediction).
    cost_model : {"server", "external"}
        See the module docstring.
    cheap : prediction law or callable, optional
        The cheap predictor, drawn independently of the expensive one given the size (default:
        the same law as the model's prediction; ``qt.PerfectPrediction()`` for an exact bit
        :math:`1\{x \ge T\}`), or a function ``x -> P(predicted long | x)`` (then ``threshold``
        is not used; on a continuous size law a jump of that function costs about 1e-4 relative
        accuracy, a prediction law's kinks are panel edges).

    Notes
    -----
    The closed forms are in the module docstring (:mod:`qtheory.llm.prediction_cost`);
    ``qt.MG1(...).mean_response_time(qt.SkipPredict(...))`` is :math:`E[T]` and
    :func:`total_cost` the paper's total cost.

    Examples
    --------
    >>> import qtheory as qt
    >>> q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    >>> p = qt.SkipPredict(1.0, 0.5, 2.0, cost_model="external")
    >>> round(q.mean_response_time(p), 4)            # E[T]; the cost adds 0.5 + 2 P(long)
    3.1906
    """

    def __init__(self, threshold: float, cheap_cost: float = 0.0, expensive_cost: float = 0.0,
                 cost_model: str = "server", cheap=None):
        self.threshold = nonnegative("threshold", threshold)
        self.cheap_cost = _check_cost("cheap_cost", cheap_cost)
        self.expensive_cost = _check_cost("expensive_cost", expensive_cost)
        self.cost_model = _cost_model(cost_model)
        if cheap is not None and not callable(cheap) and not hasattr(cheap, "sample"):
            raise TypeError(f"cheap must be a prediction law or a callable x -> P(long | x), got "
                            f"cheap={plain(cheap)}")
        self.cheap = cheap
        self.name = (f"SkipPredict(T={self.threshold:g}, c1={self.cheap_cost:g}, "
                     f"c2={self.expensive_cost:g}, {self.cost_model})")

    def _params(self):
        return {"threshold": self.threshold, "c1": self.cheap_cost, "c2": self.expensive_cost,
                "cost_model": self.cost_model, "cheap": id(self.cheap) if self.cheap is not None else None}

    def _q(self, model):
        from .skip_predict import _p_long_fn

        if model.prediction is None:
            raise ValueError("SkipPredict needs the expensive predictions: pass a model with "
                             "prediction=...")
        return _p_long_fn(model.prediction if self.cheap is None else self.cheap, self.threshold)

    def _costs(self):
        """(c1, c2) in server time (0 in the external model)."""
        if self.cost_model == "server":
            return self.cheap_cost, self.expensive_cost
        return 0.0, 0.0

    def _parts(self, model):
        return _cached(("skip", self.threshold, self._needs_class), (self.cheap,), model,
                       lambda: self._make_parts(model))

    #: whether the long class's SPRPT functions are needed (not by 1bit)
    _needs_class = True

    def _make_parts(self, model):
        q = self._q(model)
        kind, obj = _joint_route(model)
        if kind == "pairs":
            x, y, w = (np.asarray(a, float) for a in obj)
            ql = np.clip(q(x), 0.0, 1.0)
            ws = w * (1 - ql)
            parts = _SkipParts(float(ws.sum()), float(np.sum(ws * x)), float(np.sum(ws * x * x)),
                               float(np.sum(w * x)), float(np.sum(w * x * x)),
                               _PairsClass(x, y, w * ql) if self._needs_class else None)
        else:
            kinks = _q_kinks(model.prediction if self.cheap is None else self.cheap, self.threshold)
            x, w = _size_nodes(model, kinks)
            ql = np.clip(q(x), 0.0, 1.0)
            ws = w * (1 - ql)
            parts = _SkipParts(float(ws.sum()), float(np.sum(ws * x)), float(np.sum(ws * x * x)),
                               float(model.size.mean), float(model.size.moment(2)),
                               _FactorClass(obj.factor, 0.0, model.size, q, kinks=kinks)
                               if self._needs_class else None)
        return parts

    def p_long(self, model) -> float:
        """Fraction of jobs predicted long (they get the expensive prediction)."""
        return 1.0 - self._parts(model).pS

    def _prediction_spend(self, model) -> float:
        return self.cheap_cost + self.expensive_cost * self.p_long(model)

    def _time(self, P: _SkipParts, lam: float):
        c1, c2 = self._costs()
        s = c1 + c2
        pL = 1.0 - P.pS
        m1L = P.m1 - P.m1S
        rho1 = lam * (c1 + P.m1S)
        base = lam * (c1 + P.m1S + c2 * pL)
        if not _stable(1 - rho1, 1 - base - lam * m1L):
            return math.inf, math.inf
        short = P.pS * (c1 + lam * (c1 * c1 + 2 * c1 * P.m1S + P.m2S) / (2 * (1 - rho1))) + P.m1S
        K0 = c1 * c1 * P.pS + 2 * c1 * P.m1S + P.m2S + s * s * pL
        long_ = P.cls.mean(lam, base, s, K0)
        return short + long_, long_

    def _augment(self, model, x, y, w):
        c1, c2 = self._costs()
        ql = np.clip(self._q(model)(x), 0.0, 1.0)
        xa = np.concatenate([x + c1, x + c1 + c2])
        da = np.concatenate([np.zeros_like(y), 1.0 + y])
        return xa, da, np.concatenate([w * (1 - ql), w * ql])

    def _soap_rank(self, band):
        c1, c2 = self._costs()
        s = c1 + c2
        server = self.cost_model == "server"

        def skip_rank(d, a):
            d, a = np.broadcast_arrays(np.asarray(d, float), np.asarray(a, float))
            long_ = d >= 0.5
            y = d - 1.0
            if server:
                r_long = np.where(a < s, 3 * band, 4 * band + y - (a - s))
                r = np.where(a < c1, 2 * band, np.where(long_, r_long, band))
            else:
                r = np.where(long_, 2 * band + y - a, band)
            return r

        return Rank(skip_rank, "prediction", breakpoints=lambda d: np.array([c1, s]),
                    name="skip_predict_rank")

    def closed_form_response_time(self, model, x, y):
        r""":math:`E[T \mid X = x, Y = y] = (1 - q(x)) E[T_S(x)] + q(x) E[T_L(x, y)]`."""
        P = self._parts(model)
        lam = model.arrival_rate
        c1, c2 = self._costs()
        s = c1 + c2
        pL = 1.0 - P.pS
        rho1 = lam * (c1 + P.m1S)
        base = lam * (c1 + P.m1S + c2 * pL)
        x = np.asarray(x, float)
        ts = c1 + x + lam * (c1 * c1 + 2 * c1 * P.m1S + P.m2S) / (2 * (1 - rho1))
        K0 = c1 * c1 * P.pS + 2 * c1 * P.m1S + P.m2S + s * s * pL
        tl = P.cls.response_time(lam, base, s, K0, x, y) if not P.cls.empty else 0.0
        ql = np.clip(self._q(model)(x), 0.0, 1.0)
        return (1 - ql) * ts + ql * tl


class OneBitCost(SkipPredict):
    r"""The paper's 1bit baseline: the cheap one-bit prediction only, predicted-short jobs
    before predicted-long ones, FCFS inside each class (shorts preempt longs). Cost
    :math:`c_1` per job.

    Long jobs (server model; :math:`c_1 = 0` in the external one):

    .. math::
        E[T_L(x)] = \frac{c_1 + x}{1 - \rho_1}
            + \frac{\lambda E[(c_1 + X)^2]}{2 (1 - \rho_1)(1 - \lambda (c_1 + E[X]))},
        \qquad \rho_1 = \lambda (c_1 + E[X; S]);

    short jobs as under :class:`SkipPredict`.
    """

    _needs_class = False

    def __init__(self, threshold: float, cheap_cost: float = 0.0, cost_model: str = "server",
                 cheap=None):
        super().__init__(threshold, cheap_cost, 0.0, cost_model, cheap)
        self.name = f"1bit(T={self.threshold:g}, c1={self.cheap_cost:g}, {self.cost_model})"

    def _params(self):
        p = super()._params()
        p.pop("c2")
        return p

    def _prediction_spend(self, model) -> float:
        return self.cheap_cost

    def _time(self, P: _SkipParts, lam: float):
        c1, _ = self._costs()
        pL = 1.0 - P.pS
        m1L = P.m1 - P.m1S
        rho1 = lam * (c1 + P.m1S)
        rho = lam * (c1 + P.m1)
        if not _stable(1 - rho1, 1 - rho):
            return math.inf, math.inf
        short = P.pS * (c1 + lam * (c1 * c1 + 2 * c1 * P.m1S + P.m2S) / (2 * (1 - rho1))) + P.m1S
        e2 = c1 * c1 + 2 * c1 * P.m1 + P.m2
        long_ = (pL * c1 + m1L) / (1 - rho1) + pL * lam * e2 / (2 * (1 - rho1) * (1 - rho))
        return short + long_, long_

    def _augment(self, model, x, y, w):
        c1, _ = self._costs()
        ql = np.clip(self._q(model)(x), 0.0, 1.0)
        xa = np.concatenate([x + c1, x + c1])
        da = np.concatenate([np.zeros_like(y), np.ones_like(y)])
        return xa, da, np.concatenate([w * (1 - ql), w * ql])

    def _soap_rank(self, band):
        c1, _ = self._costs()
        server = self.cost_model == "server"

        def one_bit_rank(d, a):
            d, a = np.broadcast_arrays(np.asarray(d, float), np.asarray(a, float))
            cls = np.where(d >= 0.5, 3.0 if server else 2.0, 1.0) * band
            return np.where(a < c1, 2 * band, cls) if server else cls

        return Rank(one_bit_rank, "prediction", breakpoints=lambda d: np.array([c1]),
                    name="one_bit_rank")

    def closed_form_response_time(self, model, x, y):
        P = self._parts(model)
        lam = model.arrival_rate
        c1, _ = self._costs()
        rho1 = lam * (c1 + P.m1S)
        rho = lam * (c1 + P.m1)
        x = np.asarray(x, float)
        ts = c1 + x + lam * (c1 * c1 + 2 * c1 * P.m1S + P.m2S) / (2 * (1 - rho1))
        e2 = c1 * c1 + 2 * c1 * P.m1 + P.m2
        tl = (c1 + x) / (1 - rho1) + lam * e2 / (2 * (1 - rho1) * (1 - rho))
        ql = np.clip(self._q(model)(x), 0.0, 1.0)
        return (1 - ql) * ts + ql * tl


class SPRPTCost(SkipPredict):
    r"""The paper's SPRPT baseline: every job gets the expensive prediction (cost :math:`c_2`
    per job; in the server model a top-priority phase of :math:`c_2` before SPRPT on it).
    It is :class:`SkipPredict` with every job predicted long and :math:`c_1 = 0`:

    .. math::
        E[T(x, y)] = \frac{\lambda (c_2^2 + 2 c_2 A_\le(y) + B(y) + C(y))}
            {2 (1 - \lambda c_2 - \lambda A_\le(y))(1 - \lambda c_2 - \lambda A_<(y))}
          + \frac{c_2}{1 - \lambda c_2 - \lambda A_<(y)}
          + \int_0^{\min(x, y)} \frac{dt}{1 - \lambda c_2 - \lambda A_<(y - t)}
          + \frac{(x - y)^+}{1 - \lambda c_2}.

    (The paper also writes this baseline with the cheap cost :math:`c_1`; see the module
    docstring for why :math:`c_2` is right.)
    """

    def __init__(self, expensive_cost: float = 0.0, cost_model: str = "server"):
        super().__init__(0.0, 0.0, expensive_cost, cost_model, cheap=_everyone_long)
        self.name = f"SPRPT(c2={self.expensive_cost:g}, {self.cost_model})"

    def _params(self):
        return {"c2": self.expensive_cost, "cost_model": self.cost_model}

    def _prediction_spend(self, model) -> float:
        return self.expensive_cost


def _everyone_long(x):
    return np.ones(np.shape(x))


@dataclass
class _DelayParts:
    ple: float  # P(X <= L)
    m1le: float  # E[X; X <= L]
    m2le: float  # E[X^2; X <= L]
    pL: float  # P(X > L)
    cls: object  # (X - L, Y) on X > L


class DelayPredict(CostPolicy):
    r"""DelayPredict (Shahout & Mitzenmacher, NeurIPS 2024): no cheap prediction; every job is
    first served FCFS for up to ``limit`` :math:`L` units of service; a job still running then
    gets the expensive prediction (server model: :math:`c_2` of work at the next priority) and
    joins an SPRPT class of lowest priority. Cost :math:`c_2 P(X > L)` per job.

    Derivation: ``docs/prediction_cost.md`` (section 4).

    Parameters
    ----------
    limit : float
        :math:`L > 0`.
    expensive_cost : float
        :math:`c_2`.
    cost_model : {"server", "external"}

    Notes
    -----
    Closed form in the module docstring; the long class is SPRPT on the remaining work
    :math:`X - L` and the prediction :math:`Y`, behind the first-:math:`L` phases of all jobs.
    """

    def __init__(self, limit: float, expensive_cost: float = 0.0, cost_model: str = "server"):
        self.limit = nonnegative("limit", limit)
        if not self.limit > 0:
            raise ValueError(f"limit must be > 0 (limit 0 is SPRPTCost), got limit={limit!r}")
        self.expensive_cost = _check_cost("expensive_cost", expensive_cost)
        self.cost_model = _cost_model(cost_model)
        self.name = f"DelayPredict(L={self.limit:g}, c2={self.expensive_cost:g}, {self.cost_model})"

    def _params(self):
        return {"limit": self.limit, "c2": self.expensive_cost, "cost_model": self.cost_model}

    def _c2(self) -> float:
        return self.expensive_cost if self.cost_model == "server" else 0.0

    def _parts(self, model):
        return _cached(("delay", self.limit), (), model, lambda: self._make_parts(model))

    def _make_parts(self, model):
        L = self.limit
        kind, obj = _joint_route(model)
        if kind == "pairs":
            x, y, w = (np.asarray(a, float) for a in obj)
            le = x <= L
            parts = _DelayParts(float(w[le].sum()), float(np.sum((w * x)[le])),
                                float(np.sum((w * x * x)[le])), float(w[~le].sum()),
                                _PairsClass(x[~le] - L, y[~le], w[~le]))
        else:
            s = model.size
            if s.atom_values.size and not s.is_discrete:
                raise NotImplementedError("DelayPredict on a mixed size law (atoms and a density) "
                                          "is not supported; use a continuous or an Empirical law")
            parts = _DelayParts(float(s.cdf(L)), float(s.partial_moment(1, L)),
                                float(s.partial_moment(2, L)), float(s.sf(L)),
                                _FactorClass(obj.factor, L, s, _everyone_long, lo_x=L))
        return parts

    def p_long(self, model) -> float:
        """:math:`P(X > L)`: the fraction of jobs that get the expensive prediction."""
        return self._parts(model).pL

    def _prediction_spend(self, model) -> float:
        return self.expensive_cost * self.p_long(model)

    def _time(self, P: _DelayParts, lam: float):
        L, c2 = self.limit, self._c2()
        emin = P.m1le + L * P.pL
        emin2 = P.m2le + L * L * P.pL
        rho1 = lam * emin
        base = lam * (emin + c2 * P.pL)
        if not _stable(1 - rho1, 1 - base - lam * P.cls.work if not P.cls.empty else 1 - base):
            return math.inf, math.inf
        short = P.m1le + P.ple * lam * emin2 / (2 * (1 - rho1))
        K0 = P.m2le + (L + c2) ** 2 * P.pL
        long_ = P.cls.mean(lam, base, L + c2, K0)
        return short + long_, long_

    def _augment(self, model, x, y, w):
        return x + self._c2() * (x > self.limit), y.copy(), w

    def _soap_rank(self, band):
        L, c2 = self.limit, self._c2()

        def delay_rank(d, a):
            d, a = np.broadcast_arrays(np.asarray(d, float), np.asarray(a, float))
            return np.where(a < L, band, np.where(a < L + c2, 2 * band, 3 * band + d - (a - c2)))

        return Rank(delay_rank, "prediction", breakpoints=lambda d: np.array([L, L + c2]),
                    name="delay_predict_rank")

    def closed_form_response_time(self, model, x, y):
        P = self._parts(model)
        lam = model.arrival_rate
        L, c2 = self.limit, self._c2()
        emin = P.m1le + L * P.pL
        emin2 = P.m2le + L * L * P.pL
        rho1 = lam * emin
        base = lam * (emin + c2 * P.pL)
        x = np.asarray(x, float)
        y = np.broadcast_to(np.asarray(y, float), x.shape)
        out = x + lam * emin2 / (2 * (1 - rho1))
        big = x > L
        if big.any():
            K0 = P.m2le + (L + c2) ** 2 * P.pL
            out = out.copy()
            out[big] = P.cls.response_time(lam, base, L + c2, K0, x[big] - L, y[big])
        return out


# ============================================================================================
# Results
# ============================================================================================
@dataclass
class PredictionCostResult:
    """Mean response time and the paper's cost measure of one policy, per load.

    With one load (``loads`` omitted or a number) the per-load fields are floats, else arrays;
    ``float(result)`` is the cost at one load.

    Attributes
    ----------
    policy : str
    cost_model : str
    load : float or ndarray
        :math:`\\rho = \\lambda E[X]` (without the prediction work).
    mean : float or ndarray
        :math:`E[T]` (``inf`` where unstable).
    cost : float or ndarray
        The paper's measure: :math:`E[T]` plus the external cost per job (external model), or
        :math:`E[T]` (server model).
    external_cost : float
        Mean external prediction cost per job (0 in the server model).
    extra_work : float
        Mean server time per job spent on predictions (0 in the external model).
    effective_load : float or ndarray
        :math:`\\lambda (E[X] + \\text{extra work})`; the queue is stable below 1.
    instability_load : float
        The load :math:`\\rho` at which the effective load reaches 1.
    p_long : float
        Fraction of jobs that get the expensive prediction.
    """

    policy: str
    cost_model: str
    load: np.ndarray
    mean: np.ndarray
    cost: np.ndarray
    external_cost: float
    extra_work: float
    effective_load: np.ndarray
    instability_load: float
    p_long: float = math.nan
    extra: dict = field(default_factory=dict)

    @property
    def value(self) -> float:
        """The total cost (E[T] plus the external prediction cost) at the one load evaluated
        (``float(result)``)."""
        return float(self)

    def __float__(self) -> float:
        return one_value(self, self.cost, "cost")

    def table(self):
        from ..table import Table

        cols = ["load", "E[T]", "cost", "effective load"]
        rows = zip(*(np.atleast_1d(np.asarray(f, float)).tolist()
                     for f in (self.load, self.mean, self.cost, self.effective_load)), strict=True)
        return Table(cols, rows, title=f"{self.policy}: external cost {self.external_cost:.6g} "
                                       f"per job, prediction work {self.extra_work:.6g} per job, "
                                       f"unstable from load {self.instability_load:.6g}")

    def __repr__(self):
        return (f"PredictionCostResult({self.policy}, load={np.round(self.load, 6).tolist()}, "
                f"cost={np.round(self.cost, 6).tolist()})")

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()


def _as_cost_policy(policy):
    pol = get_policy(policy) if not isinstance(policy, Policy) else policy
    if not isinstance(pol, (CostPolicy, FCFS)):
        raise TypeError(f"policy must be SkipPredict, DelayPredict, SPRPTCost, OneBitCost or FCFS, "
                        f"got policy={plain(policy)}")
    return pol


def _mg1_of(model):
    from ._model import _mg1

    return _mg1(model, "total_cost")


def total_cost(model, policy, loads=None) -> PredictionCostResult:
    """Mean response time and cost measure of ``policy`` (a :class:`CostPolicy` or FCFS, which
    has no predictions and no cost) on ``model``, at ``loads`` (default: the model's load).

    Parameters
    ----------
    model : qtheory.MG1
        Size law and the expensive prediction law.
    policy : CostPolicy or "fcfs"
    loads : float or sequence of float, optional
        Loads :math:`\\rho = \\lambda E[X]` (the prediction work is not counted in them).

    Returns
    -------
    PredictionCostResult
    """
    model = _mg1_of(model)
    pol = _as_cost_policy(policy)
    one = loads is None or np.ndim(loads) == 0
    rho = np.array([model.load]) if loads is None else check_loads("loads", loads)
    lams = rho / model.size.mean
    if isinstance(pol, FCFS):
        m1, m2 = model.size.mean, model.size.moment(2)
        mean = m1 + lams * m2 / (2 * (1 - rho))
        ext = extra = 0.0
        inst, p_long = 1.0, 0.0
    else:
        parts = pol._parts(model)
        mean = np.array([pol._time(parts, float(lam))[0] for lam in lams])
        ext, extra = pol.external_cost(model), pol.extra_work(model)
        inst = pol.instability_load(model)
        p_long = pol.p_long(model) if hasattr(pol, "p_long") else 1.0
    eff = rho * (1 + extra / model.size.mean)
    mean = np.where(eff < 1, mean, np.inf)
    cost = mean + ext
    r = PredictionCostResult(pol.name, getattr(pol, "cost_model", "none"), rho, mean, cost,
                             float(ext), float(extra), eff, float(inst), float(p_long))
    if one:
        r.load, r.mean, r.cost, r.effective_load = (float(v[0]) for v in
                                                    (r.load, r.mean, r.cost, r.effective_load))
    return r


def instability_load(model, policy) -> float:
    """The load :math:`\\rho = \\lambda E[X]` at which ``policy``'s effective load
    :math:`\\lambda (E[X] + c_1 + c_2 P(\\text{long}))` (SkipPredict; the others likewise)
    reaches 1: 1 for FCFS and in the external model."""
    model = _mg1_of(model)
    pol = _as_cost_policy(policy)
    return 1.0 if isinstance(pol, FCFS) else pol.instability_load(model)


def _policies(threshold, c1, c2, limit, cost_model, cheap):
    pols = [FCFS(), OneBitCost(threshold, c1, cost_model, cheap), SPRPTCost(c2, cost_model)]
    if limit is not None:
        pols.append(DelayPredict(limit, c2, cost_model))
    pols.append(SkipPredict(threshold, c1, c2, cost_model, cheap))
    return pols


def compare_prediction_costs(model, threshold: float, cheap_cost: float, expensive_cost: float,
                             limit: float | None = None, cost_model: str = "server", loads=None,
                             cheap=None):
    """The paper's comparison: the cost measure of FCFS, 1bit, SPRPT, DelayPredict (when
    ``limit`` is given) and SkipPredict at each load, with the load at which each becomes
    unstable, as a :class:`qtheory.table.Table` (one row per policy and load; ``best`` marks
    the lowest cost at each load)."""
    from ..table import Table

    model = _mg1_of(model)
    rho = np.array([model.load]) if loads is None else check_loads("loads", loads)
    res = [total_cost(model, p, rho) for p in _policies(threshold, cheap_cost, expensive_cost,
                                                              limit, cost_model, cheap)]
    best = np.argmin(np.array([r.cost for r in res]), axis=0)
    rows = []
    for i, r in enumerate(res):
        for j, v in enumerate(rho):
            rows.append((r.policy, float(v), float(r.mean[j]), float(r.cost[j]),
                         float(r.effective_load[j]), r.instability_load, "*" if best[j] == i else ""))
    return Table(["policy", "load", "E[T]", "cost", "effective load", "unstable from", "best"],
                 rows, title=f"prediction costs ({_cost_model(cost_model)} model): {model.size!r}, "
                             f"{model.prediction!r}")


# ============================================================================================
# When does predicting pay
# ============================================================================================
@dataclass
class BreakEven:
    r"""The expensive-prediction cost :math:`c_2` at which SkipPredict's cost equals each
    baseline's, per load.

    Attributes
    ----------
    load : ndarray
    below_fcfs, below_onebit : ndarray
        SkipPredict is cheaper than FCFS (1bit) for :math:`c_2` below this value (0: never).
    above_sprpt : ndarray
        SkipPredict is cheaper than SPRPT for :math:`c_2` above this value (0: for every
        :math:`c_2 \ge 0`).
    window : ndarray, shape (n, 2)
        ``[above_sprpt, min(below_fcfs, below_onebit)]``: SkipPredict beats all three there
        (empty where the lower end exceeds the upper).
    """

    load: np.ndarray
    below_fcfs: np.ndarray
    below_onebit: np.ndarray
    above_sprpt: np.ndarray
    cost_model: str
    threshold: float
    cheap_cost: float

    @property
    def window(self) -> np.ndarray:
        return np.stack([self.above_sprpt, np.minimum(self.below_fcfs, self.below_onebit)], 1)

    def table(self):
        from ..table import Table

        rows = [(float(r), float(a), float(b), float(c), "yes" if c < min(a, b) else "no")
                for r, a, b, c in zip(self.load, self.below_fcfs, self.below_onebit,
                                      self.above_sprpt, strict=True)]
        return Table(["load", "c2 below (vs FCFS)", "c2 below (vs 1bit)", "c2 above (vs SPRPT)",
                      "SkipPredict can win"], rows,
                     title=f"break-even expensive cost c2, {self.cost_model} model, "
                           f"T={self.threshold:g}, c1={self.cheap_cost:g}")

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def __repr__(self):
        return str(self.table())


def _root(f, lo: float, hi: float, n: int = 48) -> float:
    """The first c in [lo, hi) where f changes sign from its sign at lo (grid, then brentq);
    ``hi`` if none."""
    from scipy.optimize import brentq

    grid = lo + (hi - lo) * (1 - np.cos(np.linspace(0, math.pi / 2, n + 1)))  # denser near hi
    grid[-1] = hi * (1 - 1e-12) if hi > 0 else hi
    f0 = f(grid[0])
    prev = grid[0]
    for g in grid[1:]:
        fg = f(g)
        if np.sign(fg) != np.sign(f0):
            if not np.isfinite(fg):
                fg = math.copysign(1e300, fg)
            return float(brentq(lambda c: min(max(f(c), -1e300), 1e300), prev, g, xtol=1e-12,
                                rtol=1e-10))
        prev = g
    return float(hi)


def break_even_cost(model, threshold: float, cheap_cost: float = 0.0, loads=None,
                    cost_model: str = "server", cheap=None) -> BreakEven:
    r"""When does predicting pay: for each load, the expensive-prediction cost :math:`c_2`
    below which SkipPredict beats FCFS and 1bit, and above which it beats SPRPT.

    External model (:math:`E[T]` of SkipPredict does not depend on :math:`c_2`; cost
    :math:`E[T_{SP}] + c_1 + c_2 p_L`):

    .. math::
        c_2^{FCFS} = \frac{E[T_{FCFS}] - E[T_{SP}] - c_1}{p_L},\quad
        c_2^{1bit} = \frac{E[T_{1bit}] - E[T_{SP}]}{p_L},\quad
        c_2^{SPRPT} = \frac{E[T_{SP}] + c_1 - E[T_{SPRPT}]}{1 - p_L}

    (clipped at 0). Server model: the roots in :math:`c_2` of the differences of the closed
    forms, between 0 and the cost at which SkipPredict becomes unstable.

    Parameters
    ----------
    model : qtheory.MG1
        Size law and expensive prediction law (its quality enters through it).
    threshold, cheap_cost : float
        SkipPredict's :math:`T` and :math:`c_1`.
    loads : sequence of float, optional
    cost_model : {"server", "external"}
    cheap : optional
        The cheap predictor (see :class:`SkipPredict`).

    Returns
    -------
    BreakEven
    """
    model = _mg1_of(model)
    cost_model = _cost_model(cost_model)
    rho = np.array([model.load]) if loads is None else check_loads("loads", loads)
    c1 = nonnegative("cheap_cost", cheap_cost)
    m = model.size.mean

    def cost(pol, r):
        return float(total_cost(model, pol, float(r)).cost)

    sp0 = SkipPredict(threshold, c1, 0.0, cost_model, cheap)
    pL = sp0.p_long(model)
    out = {k: np.empty(rho.size) for k in ("fcfs", "onebit", "sprpt")}
    for i, r in enumerate(rho):
        fc = cost(FCFS(), r)
        ob = cost(OneBitCost(threshold, c1, cost_model, cheap), r)
        if cost_model == "external":
            sp = float(total_cost(model, sp0, float(r)).mean)
            spr = cost(SPRPTCost(0.0, "external"), r)
            out["fcfs"][i] = max((fc - sp - c1) / pL, 0.0) if pL > 0 else (math.inf if sp + c1 < fc else 0.0)
            out["onebit"][i] = max((ob - sp - c1) / pL, 0.0) if pL > 0 else (math.inf if sp + c1 < ob else 0.0)
            out["sprpt"][i] = max((sp + c1 - spr) / (1 - pL), 0.0) if pL < 1 else 0.0
            continue
        # server model: SkipPredict is stable for c2 < (1/lam - E[X] - c1) / p_L
        lam = r / m
        room = 1.0 / lam - m - c1
        if room <= 0 or pL <= 0:
            # unstable even with free expensive predictions (or nobody gets one)
            val = 0.0 if room <= 0 else math.inf
            out["fcfs"][i] = out["onebit"][i] = val
            out["sprpt"][i] = 0.0
            continue
        hi = room / pL

        def skip(c2, r=r):
            return cost(SkipPredict(threshold, c1, c2, cost_model, cheap), r)

        def sprpt(c2, r=r):
            return cost(SPRPTCost(c2, cost_model), r)

        s0 = skip(0.0)
        out["fcfs"][i] = 0.0 if s0 >= fc else _root(lambda c2, b=fc: skip(c2) - b, 0.0, hi)
        out["onebit"][i] = 0.0 if s0 >= ob else _root(lambda c2, b=ob: skip(c2) - b, 0.0, hi)
        d0 = s0 - sprpt(0.0)
        if d0 < 0:
            out["sprpt"][i] = 0.0
        else:
            # SPRPT is unstable from c2 = 1/lam - E[X]: SkipPredict wins before that
            top = min(hi, 1.0 / lam - m)
            out["sprpt"][i] = _root(lambda c2: skip(c2) - sprpt(c2), 0.0, top)
    return BreakEven(rho, out["fcfs"], out["onebit"], out["sprpt"], cost_model,
                     float(threshold), c1)


# ============================================================================================
# The paper's printed lemmas (server model), for the comparison
# ============================================================================================
def paper_lemma_server(model, threshold: float, cheap_cost: float, expensive_cost: float,
                       loads=None, cheap=None) -> dict:
    r"""SkipPredict in the server model by the paper's lemmas *as printed* (our transcription):
    the short-job residence is the size alone, :math:`E[S'_{<T}]`, and the long-job residence
    :math:`\int_0^x da/(1 - \rho_{(y-a)^+})`, without the job's own prediction phases.

    Returns ``{"load", "mean_short", "mean_long", "mean"}`` (partial means, arrays). The
    differences from the SOAP forms of :class:`SkipPredict` are exactly
    :math:`c_1 P(S)` (short) and :math:`E[(c_1 + c_2)/(1 - \rho_b - \lambda A_<(Y)); L]` (long);
    the generic evaluator on the paper's own rank agrees with :class:`SkipPredict`.

    Derivation: ``docs/prediction_cost.md`` (section 5).
    """
    model = _mg1_of(model)
    pol = SkipPredict(threshold, cheap_cost, expensive_cost, "server", cheap)
    P = pol._parts(model)
    rho = np.array([model.load]) if loads is None else check_loads("loads", loads)
    c1, c2 = cheap_cost, expensive_cost
    s = c1 + c2
    pL = 1 - P.pS
    out = {"load": rho, "mean_short": np.empty(rho.size), "mean_long": np.empty(rho.size)}
    for i, lam in enumerate(rho / model.size.mean):
        rho1 = lam * (c1 + P.m1S)
        base = lam * (c1 + P.m1S + c2 * pL)
        out["mean_short"][i] = P.pS * lam * (c1 * c1 + 2 * c1 * P.m1S + P.m2S) / (2 * (1 - rho1)) + P.m1S
        K0 = c1 * c1 * P.pS + 2 * c1 * P.m1S + P.m2S + s * s * pL
        # the printed residence integrates over the size only: without the job's own phases
        out["mean_long"][i] = P.cls.mean(lam, base, s, K0) - _pre_phase(P.cls, lam, base, s)
    out["mean"] = out["mean_short"] + out["mean_long"]
    return out


def _pre_phase(cls, lam, base, pre) -> float:
    r""":math:`E[\text{pre}/(1 - \rho_b - \lambda A_<(Y)); \text{class}]`."""
    if cls.empty:
        return 0.0
    if isinstance(cls, _PairsClass):
        return float(np.sum(cls.P.pu * pre / (1.0 - base - lam * cls.lt)))
    return float(np.sum(cls.w_dv * cls.fY * pre / (1.0 - base - lam * cls.A)))


# ============================================================================================
# The generic route and the simulator
# ============================================================================================
def generic_mean_with_costs(model, policy, loads=None, resolution: int | None = None):
    """E[T] of ``policy`` by the generic SOAP evaluator on the augmented model
    (:meth:`CostPolicy.augmented`): exact on discrete laws; on continuous laws the generic
    route's two resolutions (``resolution`` and twice it, default 48 and 96 cells) and their
    Richardson extrapolation, ``(mean, error estimate)`` per load."""
    from ..engine import generic

    model = _mg1_of(model)
    pol = _as_cost_policy(policy)
    rho = np.array([model.load]) if loads is None else check_loads("loads", loads)
    lams = rho / model.size.mean
    n = resolution or generic.RESOLUTION

    def once(k):
        aug, rank = pol.augmented(model, k)
        return generic.evaluate(aug, rank, lams)

    r1 = once(n)
    kind = _joint_route(model)[0] if model.prediction is not None else "pairs"
    if r1.exact and kind == "pairs":
        return r1.mean, np.zeros_like(r1.mean)
    r2 = once(2 * n)
    return (4 * r2.mean - r1.mean) / 3, np.abs(r2.mean - r1.mean) / 3


def simulate_prediction_cost(model, policy, jobs: int = 400_000, seed=None,
                             replications: int = 16, warmup: float = 0.05):
    """Monte Carlo of a prediction-cost policy with the library's event-driven SOAP simulator
    (:func:`qtheory.sim.simulate_trace`) on the augmented jobs: Poisson arrivals, sizes and
    expensive predictions from the model, the cheap bit drawn with probability
    :math:`q(x)`, the prediction phases added to the work (server model), and the paper's rank
    as a per-job rank table (:class:`qtheory.sim.TabulatedRank`). Independent of the formulas.
    Each replication is one run of ``jobs / replications`` arrivals from an empty system; the
    first and the last ``warmup`` fraction are not measured (at the end no later arrival
    preempts a job: kept, they biased E[T] low by about 0.5 of the 95% half-width at 3.2 M jobs).

    Returns
    -------
    qtheory.llm.LLMSimResult
        ``mean`` and ``ci`` (95% half-width over the replications) of :math:`E[T]`; the cost
        adds :meth:`CostPolicy.external_cost`.
    """
    from ..sim import TabulatedRank, simulate_trace
    from .simulation import LLMSimResult, _draw, _summarise

    model = _mg1_of(model)
    pol = _as_cost_policy(policy)
    jobs = integer("jobs", jobs, 1)
    replications = integer("replications", replications, 2)
    in_range("warmup", warmup, 0.0, 0.5, hi_open=True)
    n = jobs // replications
    if n < 100:
        raise ValueError(f"jobs must give at least 100 per replication, got jobs={jobs!r} for "
                         f"replications={replications!r}")
    if isinstance(pol, FCFS):
        raise TypeError("simulate FCFS with qt.simulate(model, 'fcfs')")
    if not pol.effective_load(model) < 1:
        raise ValueError(f"{pol.name} is unstable at load {model.load:.6g} (effective load "
                         f"{pol.effective_load(model):.6g} >= 1)")
    warm = int(warmup * n)
    rows = []
    for rng in (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(replications)):
        arr = np.cumsum(rng.exponential(1.0 / model.arrival_rate, n))
        x, y = _draw(model, n, rng)
        if isinstance(pol, SkipPredict):
            # the cheap bit: long with probability q(x), independently given the size
            long_ = rng.random(n) < np.clip(pol._q(model)(x), 0.0, 1.0)
            xa_all, da_all, _ = pol._augment(model, x, y, np.ones(n))
            xa = np.where(long_, xa_all[n:], xa_all[:n])
            da = np.where(long_, da_all[n:], da_all[:n])
        else:
            xa, da, _ = pol._augment(model, x, y, np.ones(n))
        band = 2.0 * (float(xa.max()) + float(da.max()) + 1.0)
        table = _rank_table(pol, band)
        T = simulate_trace(TabulatedRank(table, "prediction", name=pol.name), arr, xa, da)
        # the last jobs of a finite run see no later arrivals (nothing preempts them): the same
        # fraction is dropped at the end as at the start
        rows.append([float(np.mean(T[warm:n - warm]))] + [math.nan] * 4)
    r = _summarise(rows, replications, n)
    return LLMSimResult(r.mean, r.ci, replications=replications, jobs=n * replications)


def _rank_table(pol, band):
    """Per-job piecewise-linear rank tables of ``pol``'s rank (jumps at the phase ends)."""
    rank = pol._soap_rank(band)
    bps = np.unique(np.asarray(rank.age_breakpoints(0.0), float))
    bps = bps[bps > 0]

    def table(d):
        d = np.asarray(d, float)
        k = d.size
        ages, ranks = [np.zeros(k)], [rank.rank(d, np.zeros(k))]
        for b in bps:
            ages += [np.full(k, b), np.full(k, b)]
            ranks += [rank.rank(d, np.full(k, np.nextafter(b, 0.0))), rank.rank(d, np.full(k, b))]
        top = (bps[-1] if bps.size else 0.0) + 1.0
        ages.append(np.full(k, top))
        ranks.append(rank.rank(d, np.full(k, top)))
        return np.stack(ages, 1), np.stack(ranks, 1)

    return table
