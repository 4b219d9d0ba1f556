"""The policies of the prediction-cost models: SkipPredict, OneBitCost, SPRPTCost and
DelayPredict (and their base class), with their closed-form mean response times.

Derivation: ``docs/prediction_cost.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import nonnegative, plain
from ..policies import FCFS, Policy, Rank, get_policy
from ._cost_classes import (
    _cached,
    _check_cost,
    _cost_model,
    _discrete_pairs,
    _FactorClass,
    _joint_route,
    _PairsClass,
    _q_kinks,
    _short_beyond_rule,
    _size_nodes,
    _stable,
)


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
        accuracy, a prediction law's kinks are panel edges; beyond the top of the size rule,
        where mass and mean are below 1e-17 or past 1e280, its value at that top stands for
        its tail, which decides whether :math:`E[X^2; \text{short}]` is infinite when
        :math:`E[X^2]` is).

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
            t0, t1, t2 = _short_beyond_rule(model.size, q, self.cheap is not None
                                            and not hasattr(self.cheap, "sample"))
            parts = _SkipParts(float(ws.sum()) + t0, float(np.sum(ws * x)) + t1,
                               float(np.sum(ws * x * x)) + t2,
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
        # a class the job never joins adds nothing, even where its mean is infinite
        return (1 - ql) * np.where(ql < 1, ts, 0.0) + ql * np.where(ql > 0, tl, 0.0)


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
        # a long job waits behind every old job whole: infinite with E[X^2] (no long jobs: 0)
        long_ = (pL * c1 + m1L) / (1 - rho1) + (
            pL * lam * e2 / (2 * (1 - rho1) * (1 - rho)) if pL > 0 else 0.0)
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
        return (1 - ql) * np.where(ql < 1, ts, 0.0) + ql * np.where(ql > 0, tl, 0.0)


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


def _as_cost_policy(policy):
    pol = get_policy(policy) if not isinstance(policy, Policy) else policy
    if not isinstance(pol, (CostPolicy, FCFS)):
        raise TypeError(f"policy must be SkipPredict, DelayPredict, SPRPTCost, OneBitCost or FCFS, "
                        f"got policy={plain(policy)}")
    return pol


def _mg1_of(model):
    from ._model import _mg1

    return _mg1(model, "total_cost")
