r"""The M/G/k queue (central queue, preempt-resume): exact values where they exist, bounds
elsewhere.

Model and normalization
-----------------------
:class:`MGk` has ``servers`` :math:`k` servers, each of speed ``server_speed`` :math:`s`
(default 1: a job of size :math:`S` alone on a server takes :math:`S/s`). The load is the
*per-server* utilisation :math:`\rho = \lambda E[S]/(ks) < 1`. A SOAP policy serves the
:math:`k` jobs of least rank (ties to the earlier arrival).

The SRPT-k and Gittins-k papers use :math:`k` servers of speed :math:`1/k` and sizes
:math:`X` with :math:`\rho = \lambda E[X]` (Grosof, Scully, Harchol-Balter 2018, Sect. 2).
Our model maps onto theirs by :math:`X = S/(ks)` with the same time unit. Every formula below is
written in their normalization and evaluated by time scaling: with :math:`c = 1/(ks)`, a
quantity computed for sizes :math:`S` at arrival rate :math:`\lambda c` is multiplied by
:math:`c`. The *resource-pooled* system is one server of speed :math:`ks`, i.e. the M/G/1
``MG1(arrival_rate * c, size, prediction)`` with its times multiplied by :math:`c`.

What is exact, what is a bound
------------------------------
* Exact: :math:`k = 1` (the M/G/1 formulas); M/M/k under any *blind* policy (FCFS, PS, LAS,
  Gittins: with exponential sizes the number in system is the Erlang-C birth-death chain);
  M/G/k processor sharing for any size law (a symmetric queue, insensitive: Kelly 1979, ch. 3);
  M/M/k preemptive priority classes with one service rate (:func:`mmk_priority`).
* Exact M/G/k FCFS for phase-type sizes (Exponential, Erlang, HyperExponential) by the
  matrix-analytic M/PH/k solution (:func:`qtheory.models.mphk.mphk_fcfs`), and for deterministic sizes
  by Crommelin's M/D/k chain (:func:`qtheory.models.mphk.mdk_fcfs`).
* Approximate (labelled with a measured error band, never returned as exact):
  M/G/k FCFS for other laws and traces by a three-moment phase-type fit solved exactly
  (:func:`qtheory.laws.phase_type.fit_phase_type`); every other SOAP policy (SRPT, SPRPT, PSJF,
  PSPJF, SJF, SPJF, ...) by the scaling of Bondi and Buzen (:meth:`MGk.approximation`); the
  two-moment rule (:meth:`MGk.fcfs_approximation`); PSPJF-k at :math:`k \le 5` as
  preemptive priority classes (the prediction's own classes, or 8 quantile buckets of a
  continuous prediction) by recursive dimensionality reduction with busy-period transitions
  (:meth:`MGk.priority_approximation`, :mod:`qtheory.models.priority_k`; the default of
  :meth:`MGk.mean_response_time` for PSPJF where its band is measured); SPJF-k at :math:`k \le 3`
  (:math:`k = 4`: two classes) as non-preemptive priority classes (the prediction's own classes)
  by two-class chains with high-waiting periods and the waiting work of each cut
  (:meth:`MGk.nonpreemptive_priority_approximation`, :mod:`qtheory.models.priority_np_k`; the
  default for SPJF where its band is measured).
* Lower bound, every policy: the largest of :math:`E[T^{SRPT\text{-}1}_{\text{speed } ks}]`
  (resource pooling), a per-threshold mixed bound (:func:`_mixed_lower`, always
  :math:`\ge E[S]/s`), the increasing-speed-queue bound (:func:`_isq_lower`) and the overflow
  bound (:func:`_overflow_lower`).
* Upper bounds (derived here by the tagged-job method of Grosof, Scully, Harchol-Balter 2018;
  see ``qtheory.models.multiserver_bounds._rank_bound_doc``, the notebook
  ``notebooks/04_multiserver.ipynb`` and the
  docstring of :meth:`MGk.bounds`).

Derivations: ``docs/multiserver.md`` (bounds section 2, lower bounds section 3, exact
M/PH/k FCFS section 4, approximations section 5).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._validation import in_range, plain, positive
from .._validation import server_speed as _server_speed
from ..engine import soap
from ..engine.gittins import strictly_dhr
from ..laws.phase_type import PhaseType, PHFit, _exact_ph, fit_phase_type
from ..laws.predictions import (
    EmpiricalPairs,
    MultiplicativePrediction,
    OneBit,
    PredictionLaw,
)
from ..laws.sizes import Deterministic, Exponential, SizeLaw
from ..policies import FCFS, SRPT, Policy, get_policy, policy_list
from ..table import Table
from ._erlang import erlang_b, erlang_c, mmk_fcfs, mmk_priority
from .labelled import MeanResponseTime
from .mg1 import MG1
from .mphk import mdk_fcfs, mphk_fcfs
from .mphk_priority import REF_RDR, mphk_priority
from .multiserver_bounds import (
    APPROX_ERROR,
    REF_BB,
    REF_DELAY_MOMENTS,
    REF_ERLANG,
    REF_FIT,
    REF_GITTINS_K,
    REF_ISQ,
    REF_MDK,
    REF_MONO,
    REF_NEW,
    REF_POOL,
    REF_PS,
    REF_QBD,
    REF_SRPTK,
    Bounds,
    _band,
    _error_factors,
    _infinite_mean,
    _isq_lower,
    _joint_bound,
    _las_bound,
    _mixed_lower,
    _overflow_lower,
)
from .priority_k import REF_RDR_T, priority_k
from .priority_k import feasible as priority_k_feasible
from .priority_np_k import REF_RDR_NP, fits_match, priority_np_k
from .priority_np_k import band as np_band
from .priority_np_k import feasible as np_feasible


def _pooled_priority(lams, mom, speed: float) -> float:
    r"""Mean response time of the M/G/1 with preemptive-resume priority classes (class 0 first)
    at speed ``speed`` (Kleinrock, *Queueing Systems*, Vol. 2, 1976):
    :math:`E[T_i] = \frac{E[S_i]/c}{1-\sigma_{i-1}} + \frac{\sum_{j\le i}\lambda_j E[S_j^2]/c^2}
    {2(1-\sigma_{i-1})(1-\sigma_i)}`, :math:`\sigma_i = \sum_{j\le i}\lambda_j E[S_j]/c`,
    rate-weighted."""
    lams = np.asarray(lams, float)
    sig = np.concatenate([[0.0], np.cumsum(lams * mom[:, 0]) / speed])
    w2 = np.cumsum(lams * mom[:, 1]) / speed**2
    t = mom[:, 0] / speed / (1 - sig[:-1]) + w2 / (2 * (1 - sig[:-1]) * (1 - sig[1:]))
    return float(lams @ t / lams.sum())


def _pooled_nonpreemptive(lams, mom, speed: float) -> float:
    r"""Mean response time of the M/G/1 with non-preemptive priority classes (class 0 first) at
    speed ``speed`` (Cobham, "Priority assignment in waiting line problems", Operations Research
    2, 1954): :math:`E[T_i] = \frac{W_0}{(1-\sigma_{i-1})(1-\sigma_i)} + \frac{E[S_i]}{c}`,
    :math:`W_0 = \sum_j \lambda_j E[S_j^2]/(2c^2)`, :math:`\sigma_i = \sum_{j\le i}\lambda_j
    E[S_j]/c`, rate-weighted."""
    lams = np.asarray(lams, float)
    mom = np.asarray(mom, float)
    sig = np.concatenate([[0.0], np.cumsum(lams * mom[:, 0]) / speed])
    w0 = float(lams @ mom[:, 1]) / (2 * speed**2)
    t = mom[:, 0] / speed + w0 / ((1 - sig[:-1]) * (1 - sig[1:]))
    return float(lams @ t / lams.sum())


def _factor_buckets(size: SizeLaw, factor, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    r"""``m`` quantile buckets of :math:`Y = XZ` (see :meth:`MGk.priority_classes`): edges with
    :math:`P(Y \le y_i) = \sum_j w_j F_Z(y_i/x_j) = i/m` (bisection in :math:`\log y`), class
    moments :math:`\sum_j w_j x_j^n (F_Z(y_i/x_j) - F_Z(y_{i-1}/x_j))` on the size law's
    quadrature rule ``(x_j, w_j)``."""
    from ..laws._quadrature import size_rule

    x, w = size_rule(size)
    w = w / w.sum()

    def cdf(v: float) -> float:
        return float(w @ np.asarray(factor.cdf(v / x), float))

    edges = [0.0]
    lo, hi = float(x[w > 0].min()) * 1e-6, float(x[w > 0].max()) * 1e6
    for i in range(1, m):
        q = i / m
        a, b = math.log(lo), math.log(hi)
        if not (cdf(math.exp(a)) < q < cdf(math.exp(b))):
            return None
        for _ in range(200):
            c = 0.5 * (a + b)
            if cdf(math.exp(c)) < q:
                a = c
            else:
                b = c
            if b - a < 1e-13:
                break
        edges.append(math.exp(b))
    edges.append(math.inf)
    F = [np.zeros_like(x)] + [np.asarray(factor.cdf(e / x), float) for e in edges[1:-1]] + [np.ones_like(x)]
    p, mom = [], []
    for i in range(m):
        d = w * (F[i + 1] - F[i])
        pi = float(d.sum())
        if pi <= 1e-12:
            continue
        p.append(pi)
        mom.append([float(d @ x**n) / pi for n in (1, 2, 3)])
    return np.array(edges[1:len(p) + 1]), np.array(p), np.array(mom)


class MGk:
    r"""The M/G/k queue with a central queue and preempt-resume service.

    Parameters
    ----------
    servers : int
        Number of servers :math:`k \ge 1`.
    arrival_rate : float
        Poisson arrival rate :math:`\lambda`.
    size : SizeLaw
        Law of the job size :math:`S` (work in units of one unit-speed server).
    prediction : PredictionLaw, optional
        Law of the prediction :math:`Y` given :math:`S`, for prediction-based policies.
    server_speed : float or {"unit", "1/k"}
        Speed :math:`s` of *each* server (default 1.0). ``"1/k"`` gives the normalization of
        the SRPT-k and Gittins-k papers (total capacity 1).

    Notes
    -----
    The load is per server, :math:`\rho = \lambda E[S]/(k s)`, and must be < 1. Response times
    are in the time unit of the arrival rate.

    Examples
    --------
    >>> import qtheory as qt
    >>> m = qt.MGk(servers=4, arrival_rate=3.2, size=qt.Exponential(mean=1.0))
    >>> round(m.mean_response_time("fcfs"), 6)       # Erlang C
    1.745541
    >>> b = m.bounds("srpt")
    >>> b.lower < b.upper
    True
    """

    def __init__(self, servers: int, arrival_rate: float, size: SizeLaw | None = None,
                 prediction: PredictionLaw | None = None, server_speed: float = 1.0):
        if isinstance(servers, bool) or not isinstance(servers, numbers.Integral) or servers < 1:
            raise ValueError(f"servers must be an integer >= 1, got servers={plain(servers)}")
        self.servers = int(servers)
        self.arrival_rate = positive("arrival_rate", arrival_rate)
        if size is None and isinstance(prediction, EmpiricalPairs):
            size = prediction.size_law()
        if not isinstance(size, SizeLaw):
            raise ValueError(f"size must be a size law such as qt.Exponential(mean=1.0), got size={plain(size)}")
        if prediction is not None and not isinstance(prediction, PredictionLaw):
            raise ValueError(f"prediction must be a prediction law such as qt.LogNormalPrediction(sigma=0.5), "
                             f"got prediction={plain(prediction)}")
        self.size = size
        self.prediction = prediction
        self.server_speed = _server_speed("server_speed", server_speed, self.servers)
        mean = size.mean
        if not math.isfinite(mean):
            raise ValueError(f"size has an infinite mean ({size!r}): the load is infinite")
        rho = self.load
        if not rho < 1:
            raise ValueError(
                f"load rho = arrival_rate * E[S] / (servers * server_speed) = {self.arrival_rate!r} * "
                f"{mean!r} / ({self.servers} * {self.server_speed!r}) = {rho!r} must be < 1 (the load is "
                f"per server: each of the {self.servers} servers has speed {self.server_speed!r})")
        self._cache: dict = {}

    # -- basic quantities -----------------------------------------------------------------------
    @property
    def load(self) -> float:
        r"""Per-server load :math:`\rho = \lambda E[S]/(k s)`."""
        return self.arrival_rate * self.size.mean / (self.servers * self.server_speed)

    @property
    def offered_load(self) -> float:
        r"""Offered load in Erlangs, :math:`a = \lambda E[S]/s = k\rho`."""
        return self.arrival_rate * self.size.mean / self.server_speed

    @property
    def _c(self) -> float:
        return 1.0 / (self.servers * self.server_speed)

    def __repr__(self) -> str:
        p = f", prediction={self.prediction!r}" if self.prediction is not None else ""
        return (f"MGk(servers={self.servers}, arrival_rate={self.arrival_rate!r}, size={self.size!r}{p}, "
                f"server_speed={self.server_speed!r})")

    def with_load(self, load: float) -> MGk:
        """The same servers, size and prediction laws at another per-server load."""
        load = in_range("load", load, 0.0, 1.0, lo_open=True, hi_open=True)
        lam = load * self.servers * self.server_speed / self.size.mean
        return MGk(self.servers, lam, self.size, self.prediction, self.server_speed)

    def pooled(self) -> MG1:
        r"""The resource-pooled single server (speed :math:`ks`) as an M/G/1 in time units
        scaled by :math:`ks`: ``MG1(arrival_rate / (k s), size, prediction)``. Multiply its
        response times by :math:`1/(ks)` (see :meth:`pooled_mean_response_time`)."""
        if "pooled" not in self._cache:
            self._cache["pooled"] = MG1(self.arrival_rate * self._c, self.size, self.prediction)
        return self._cache["pooled"]

    def _pooled_result(self, pol: Policy) -> MeanResponseTime:
        """The pooled M/G/1's labelled result for ``pol`` (in its scaled time units), computed
        once per model and policy: :meth:`_exact`, :meth:`bounds`, :meth:`mean_response_time` and
        :meth:`approximation` all reuse it (at :math:`k = 1` it is the answer itself)."""
        key = ("pooled", pol)
        if key not in self._cache:
            self._cache[key] = self.pooled().mean_response_time(pol)
        return self._cache[key]

    def pooled_mean_response_time(self, policy) -> float:
        r""":math:`E[T]` of ``policy`` on one server of speed :math:`ks` (resource pooling)."""
        return self._c * float(self._pooled_result(get_policy(policy)))

    # -- exact values -----------------------------------------------------------------------------
    def mmk(self) -> dict[str, float]:
        """Exact M/M/k FCFS quantities (Erlang C), for exponential sizes only: ``p_wait``,
        ``mean_wait``, ``mean_response_time``, ``mean_queue_length``, ``mean_number_in_system``."""
        if not isinstance(self.size, Exponential):
            raise ValueError(f"mmk() needs exponential sizes, got size={self.size!r}; for other laws "
                             "see fcfs_approximation() (an approximation) or bounds('fcfs')")
        return mmk_fcfs(self.servers, self.arrival_rate, self.server_speed / self.size.mean)

    def _erlang_mean(self) -> float:
        return mmk_fcfs(self.servers, self.arrival_rate, self.server_speed / self.size.mean)["mean_response_time"]

    def _exact(self, pol: Policy) -> tuple[float, str, str] | None:
        form = pol.formula_form()
        if self.servers == 1:
            r = self._pooled_result(pol)
            if r.exact:
                v = self._c * float(r)
                if math.isnan(v):
                    raise NotImplementedError(f"the M/G/1 evaluation of {pol.name} returned NaN for {self!r}")
                return (v, "exact M/G/1 formula (k = 1)",
                        "SOAP (Scully, Harchol-Balter, Scheller-Wolf 2018) via qtheory.MG1")
        if form == "sharing":
            return self._erlang_mean(), "exact: M/G/k-PS is insensitive (Erlang C value)", REF_PS
        why = _infinite_mean(self.size, self.prediction if pol.uses_predictions else None, form, pol.descriptor,
                             self.arrival_rate, self.servers, self.server_speed)
        if why is not None:
            return math.inf, why, REF_DELAY_MOMENTS
        if isinstance(self.size, Exponential) and pol.descriptor == "none":
            return (self._erlang_mean(), "exact: blind policy with exponential sizes (Erlang C)",
                    REF_ERLANG + "; with exponential sizes every blind work-conserving policy has the "
                    "M/M/k birth-death chain of the number in system")
        return None

    # -- FCFS-k: exact for phase-type and deterministic sizes, a phase-type fit otherwise ------------
    #: most phases per level of the M/PH/k QBD solved for a *fitted* law (speed: below 1 s)
    MAX_QBD_STATES = 400

    #: most phases of the hyperexponential fit of a law with :math:`C^2 > 1`
    MAX_FIT_PHASES = 4

    def phase_type_fit(self) -> PHFit:
        r"""The phase-type law used for FCFS-k: the size law itself when it is phase-type
        (Exponential, Erlang, HyperExponential); for an unbounded law with :math:`C^2 > 1` the
        hyperexponential with
        the most phases :math:`n \le` :attr:`MAX_FIT_PHASES` whose QBD has at most
        :attr:`MAX_QBD_STATES` phases per level, :math:`\binom{k+n-1}{k}`, matching :math:`2n-1`
        moments (``fit_phase_type(size, "hyperexponential", n)``, :math:`n \ge 3`); otherwise the
        two-phase three-moment fit (:math:`C^2 > 1`) or the two-moment Erlang mixture
        (:math:`C^2 < 1`) of :func:`qtheory.laws.phase_type.fit_phase_type`. Its ``moment_errors``
        state the fit's error in the first three moments.

        Measured against the simulator (docs/multiserver.md, section 5): on Weibull(0.5) the
        four-phase fit (seven moments) is within 0.7% where the two-phase fit was 1.5-1.9% low.
        A bounded law (a trace) keeps the two-phase fit: its high moments are set by its largest
        sizes, which an exponential tail cannot follow (on the Azure code trace the three-phase
        fit was 0.3-0.9% high, the two-phase one within 0.3%)."""
        if "ph" not in self._cache:
            k = self.servers
            n = max((n for n in range(3, self.MAX_FIT_PHASES + 1) if math.comb(k + n - 1, k) <= self.MAX_QBD_STATES),
                    default=0)
            unbounded = not math.isfinite(float(self.size.support[1]))
            if n >= 3 and unbounded and _exact_ph(self.size) is None:
                self._cache["ph"] = fit_phase_type(self.size, "hyperexponential", phases=n)
            else:
                self._cache["ph"] = fit_phase_type(self.size, "auto")
        return self._cache["ph"]

    def _fcfs(self) -> MeanResponseTime:
        """FCFS-k: exact (Erlang C, M/D/k, M/PH/k) or a labelled approximation."""
        if "fcfs" in self._cache:
            return self._cache["fcfs"]
        k, lam, s = self.servers, self.arrival_rate, self.server_speed
        size = self.size
        es = size.mean / s
        out = None
        if isinstance(size, Exponential):
            out = MeanResponseTime(self._erlang_mean(), "exact", 0.0, "Erlang C", REF_ERLANG)
        elif isinstance(size, Deterministic) or (size.is_discrete and size.atom_values.size == 1):
            v = mdk_fcfs(k, lam, float(size.mean), s)["mean_response_time"]
            out = MeanResponseTime(v, "exact", 0.0, "M/D/k: Crommelin's embedded chain N(t+d) = (N(t)-k)^+ + "
                                   "Poisson(lambda d)", REF_MDK)
        elif k == 1:
            out = MeanResponseTime(self.pooled_mean_response_time(FCFS()), "exact", 0.0,
                                   "M/G/1: Pollaczek-Khinchine", "")
        elif not math.isfinite(size.moment(2)):
            out = None
        else:
            fit = self.phase_type_fit()
            states = math.comb(k + fit.ph.phases - 1, k)
            if fit.exact and states <= 5 * self.MAX_QBD_STATES:
                v = mphk_fcfs(k, lam, fit.ph, s)["mean_response_time"]
                out = MeanResponseTime(v, "exact", 0.0, f"M/PH/k matrix-analytic (QBD, {states} phases per "
                                       "level; logarithmic reduction)", REF_QBD)
            elif states <= self.MAX_QBD_STATES:
                v = mphk_fcfs(k, lam, fit.ph, s)["mean_response_time"]
                errs = ", ".join(f"{e:.2g}" for e in fit.moment_errors)
                out = MeanResponseTime(v, "approx", _band("fcfs_ph_fit", self.load),
                                       f"M/PH/k matrix-analytic (QBD) on a {fit.ph.phases}-phase fit ({fit.method}; "
                                       f"relative moment errors {errs}); band measured against the simulator",
                                       REF_QBD + "; " + REF_FIT)
            else:
                # low variability with many servers: interpolate between M/D/k and M/M/k waits
                c2 = size.moment(2) / size.mean**2 - 1.0
                wd = mdk_fcfs(k, lam, float(size.mean), s)["mean_wait"]
                wm = mmk_fcfs(k, lam, s / size.mean)["mean_wait"]
                v = es + (1.0 - c2) * wd + c2 * wm
                out = MeanResponseTime(v, "approx", _band("fcfs_two_moment", self.load),
                                       f"(1 - C^2) W(M/D/k) + C^2 W(M/M/k) with C^2 = {c2:.3g} (the phase-type fit "
                                       f"would need {states} phases per level; band not measured)", REF_MDK)
        if out is not None:
            b = self.bounds(FCFS())
            out = MeanResponseTime(float(out), out.kind, out.error, out.method, out.reference, b.lower,
                                   max(b.upper, float(out)) if out.exact else b.upper)
        self._cache["fcfs"] = out
        return out

    def approximation(self, policy) -> MeanResponseTime:
        r"""**Approximation** of :math:`E[T]` for a SOAP policy on :math:`k` servers by the
        scaling of Bondi and Buzen ("The response times of priority classes under preemptive
        resume in M/G/m queues", SIGMETRICS 1984): the single-server delay of the policy, taken
        on the resource-pooled server of speed :math:`ks` (exact, SOAP), is scaled by the ratio
        of the FCFS waits on the :math:`k` servers and on the pooled server,

        .. math::
            E[T^{P}_{k}] \approx \frac{E[S]}{s} + \Big(E[T^{P}_{\text{pool}}] - \frac{E[S]}{ks}\Big)
            \frac{E[W^{FCFS}_k]}{E[W^{FCFS}_{\text{pool}}]},

        with :math:`E[W^{FCFS}_k]` from :meth:`mean_response_time` ("fcfs": exact or the
        phase-type fit). As :math:`\rho\to1` the ratio tends to 1 and the value to
        :math:`E[T^{P}_{\text{pool}}] + (1-1/k)E[S]/s`, in line with the heavy-traffic results
        (SRPT-k and PSJF-k approach SRPT-1 / PSJF-1 at speed :math:`k`: Grosof, Scully,
        Harchol-Balter, Performance Evaluation 2018). The value is clamped into the proven
        bounds of :meth:`bounds`. Its error band (``error``) is the largest relative error
        measured against the simulator for SRPT, SPRPT, PSJF, PSPJF, SJF and SPJF
        (:data:`APPROX_ERROR`); for other policies it is ``nan`` (not measured).
        """
        pol = get_policy(policy)
        self._check_policy(pol)
        key = ("approx", pol)
        if key in self._cache:
            return self._cache[key]
        k, s = self.servers, self.server_speed
        es = self.size.mean / s
        ratio = self._fcfs_wait_ratio()
        t_pool = self.pooled_mean_response_time(pol)
        v = es + (t_pool - es / k) * ratio
        b = self.bounds(pol)
        clamped = min(max(v, b.lower), b.upper)
        # the band was measured for the SRPT, PSJF and SJF shapes (size or prediction descriptor)
        measured = pol.formula_form() in ("remaining", "static", "nonpreemptive")
        note = "" if clamped == v else f" (clamped into the proven bounds from {v:.6g})"
        out = MeanResponseTime(clamped, "approx", _band("bondi_buzen", self.load) if measured else math.nan,
                               f"Bondi-Buzen scaling of the pooled SOAP value by the FCFS wait ratio "
                               f"{ratio:.4g}{note}", REF_BB, b.lower, b.upper)
        self._cache[key] = out
        return out

    def _fcfs_wait_ratio(self) -> float:
        r"""The ratio :math:`E[W^{FCFS}_k]/E[W^{FCFS}_{\text{pool}}]` of :meth:`approximation`
        (``ValueError``-free: 0 when the pooled wait is 0)."""
        k, s = self.servers, self.server_speed
        es = self.size.mean / s
        fc = self._fcfs()
        if fc is None:
            raise NotImplementedError(f"no FCFS-{k} value for size {self.size!r} (infinite second moment): the "
                                      "scaling needs it; use .bounds(...)")
        w_pool = self.pooled_mean_response_time(FCFS()) - es / k
        return (float(fc) - es) / w_pool if w_pool > 0 else 0.0

    def srpt_approximation(self, policy="srpt") -> MeanResponseTime:
        r"""**Approximation** of :math:`E[T]` for SRPT-k and PSJF-k (the size-based remaining and
        static ranks): the delay of the resource-pooled server is scaled by a power of the FCFS
        wait ratio :math:`R` of :meth:`approximation`,

        .. math::
            E[T_k] \approx \frac{E[S]}{s} + \Big(E[T_{\text{pool}}] - \frac{E[S]}{ks}\Big)R^{e},
            \qquad R = \frac{E[W^{FCFS}_k]}{E[W^{FCFS}_{\text{pool}}]},\quad
            e = (1 + C_S^2)^{-1/4}.

        It interpolates between two forms with the same limits: the Bondi-Buzen scaling
        (:math:`e = 1`) and the heavy-traffic form :math:`E[T_{\text{pool}}] + (1 - 1/k)E[S]/s`
        (:math:`e = 0`) of Grosof, Scully and Harchol-Balter ("SRPT for multiserver systems",
        Performance Evaluation 2018: SRPT-k approaches SRPT-1 at speed :math:`k` as
        :math:`\rho\to1`). Both are exact in light traffic (:math:`E[T]\to E[S]/s`) and equal
        :math:`E[T_{\text{pool}}] + (1-1/k)E[S]/s` as :math:`\rho\to1`. Between them the scaling is
        too low for SRPT-k and PSJF-k: it charges a large job the FCFS ratio, but its delay is the
        time to clear the smaller jobs' work, which :math:`k` busy servers drain as fast as the
        pooled one, and the more variable the sizes the more the delay sits on such large jobs.
        The heavy-traffic form is too high (a job's own service overlaps the others'). The
        exponent is empirical, chosen on the grid of ``benchmarks/bench_multiserver.py --grid``
        (:math:`C^2` = 0.6, 1, 4.6, 5): :math:`e = 1/2` is as accurate but, being too high at load
        0.5 on the low-variability laws, ranks SRPT-k above FCFS-k or SPJF-k where the simulator
        separates them the other way (46 of 552 separated pairs misordered, against 9 with this
        exponent and 4 with the scaling). Its band (:data:`APPROX_ERROR` ``"srpt_k"``) is the
        largest error measured against the simulator; :meth:`mean_response_time` uses it for SRPT
        and PSJF because it beats the scaling there (docs/multiserver.md, section 5). The value is
        clamped into the proven bounds.
        """
        pol = get_policy(policy)
        self._check_policy(pol)
        if not (pol.descriptor == "size" and pol.formula_form() in ("remaining", "static")):
            raise NotImplementedError(f"the SRPT-k interpolation is for SRPT and PSJF (size-based remaining or "
                                      f"static ranks), not {pol.name}; see approximation()")
        key = ("srpt_k", pol)
        if key in self._cache:
            return self._cache[key]
        k, s = self.servers, self.server_speed
        es = self.size.mean / s
        ratio = self._fcfs_wait_ratio()
        c2 = self.size.moment(2) / self.size.mean**2 - 1.0
        e = (1.0 + max(c2, 0.0)) ** -0.25
        q = max(ratio, 0.0) ** e
        v = es + (self.pooled_mean_response_time(pol) - es / k) * q
        b = self.bounds(pol)
        clamped = min(max(v, b.lower), b.upper)
        note = "" if clamped == v else f" (clamped into the proven bounds from {v:.6g})"
        out = MeanResponseTime(clamped, "approx", _band("srpt_k", self.load),
                               f"pooled {pol.name}-1 delay scaled by R^e, R = {ratio:.4g} the FCFS wait ratio, "
                               f"e = (1 + C^2)^(-1/4) = {e:.3g} (between Bondi-Buzen and the heavy-traffic form)"
                               f"{note}",
                               REF_SRPTK + "; " + REF_BB, b.lower, b.upper)
        self._cache[key] = out
        return out

    #: most distinct predictions for which PSPJF-k is solved as preemptive priority classes
    MAX_PRIORITY_CLASSES = 8
    #: most servers for the priority-class chain (its phases per level grow as k^2)
    MAX_PRIORITY_SERVERS = 8

    def priority_classes(self, classes: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        r"""The prediction classes: ``(y, p, moments)`` with the class boundaries
        :math:`y_1 < \dots < y_m` (class :math:`i` holds the predictions in
        :math:`(y_{i-1}, y_i]`; for a prediction with few values, the values themselves), their
        probabilities :math:`p_i` and the conditional size moments
        :math:`E[S^n \mid \text{class } i]`, :math:`n = 1, 2, 3` (rows).

        * :class:`~qtheory.laws.predictions.EmpiricalPairs` with at most ``classes`` distinct
          predictions (e.g. the Azure traces' five-class predictor) and
          :class:`~qtheory.laws.predictions.OneBit`: the predictions themselves (PSPJF-k *is* a
          priority queue with these classes);
        * EmpiricalPairs with more distinct predictions: ``classes`` buckets of about equal
          probability (a prediction of weight :math:`F(y^-)` below it goes to bucket
          :math:`\lfloor m F(y^-) \rfloor`; ties stay together);
        * a multiplicative prediction :math:`Y = XZ` (exponential, uniform, log-normal factor) on a
          size law with a finite third moment: ``classes`` quantile buckets of :math:`Y`,
          :math:`P(Y \le y_i) = i/m`, with
          :math:`E[S^n 1\{y_{i-1} < Y \le y_i\}] = E[S^n(F_Z(y_i/S) - F_Z(y_{i-1}/S))]` by the
          size law's quadrature rule (its atoms for a discrete law).

        With ``classes=None`` (the default) only the first two cases with at most
        :attr:`MAX_PRIORITY_CLASSES` values (the prediction's own classes); ``None`` is returned
        where no case applies.
        Bucketing continuous predictions is itself an approximation of PSPJF-k (jobs within a
        bucket are served FCFS): docs/multiserver.md, section 5, measures it."""
        m = self.MAX_PRIORITY_CLASSES if classes is None else int(classes)
        if m < 1:
            raise ValueError(f"classes must be >= 1, got classes={plain(classes)}")
        key = ("classes", classes)
        if key in self._cache:
            return self._cache[key]
        pred, out = self.prediction, None
        if isinstance(pred, EmpiricalPairs):
            keep = pred.w > 0
            x, y, w = pred.x[keep], pred.y[keep], pred.w[keep] / pred.w[keep].sum()
            ys = np.unique(y)
            if ys.size <= m:
                cls = np.searchsorted(ys, y)
            elif classes is None:
                self._cache[key] = None
                return None
            else:
                wy = np.array([w[y == v].sum() for v in ys])
                below = np.concatenate([[0.0], np.cumsum(wy)[:-1]])
                bucket = np.minimum(np.floor(m * below + 1e-12).astype(int), m - 1)
                cls = bucket[np.searchsorted(ys, y)]
                used = np.unique(bucket)
                ys = np.array([ys[bucket == b].max() for b in used])
                cls = np.searchsorted(used, cls)
            p = np.array([w[cls == i].sum() for i in range(ys.size)])
            mom = np.array([[np.sum(w[cls == i] * x[cls == i] ** n) / p[i] for n in (1, 2, 3)]
                            for i in range(ys.size)])
            out = (ys, p, mom)
        elif isinstance(pred, OneBit):
            T, a, b = pred.threshold, pred.p_small_as_large, pred.p_large_as_small
            sz = self.size
            low = [float(sz.partial_moment(n, T)) for n in (0, 1, 2, 3)]
            full = [1.0] + [float(sz.moment(n)) for n in (1, 2, 3)]
            if all(math.isfinite(v) for v in full[:3]):
                e0 = [(1 - a) * lo + b * (f - lo) for lo, f in zip(low, full, strict=True)]
                e1 = [f - v for f, v in zip(full, e0, strict=True)]
                ys, p, mom = [], [], []
                for yv, e in ((0.0, e0), (1.0, e1)):
                    if e[0] > 1e-15:
                        ys.append(yv)
                        p.append(e[0])
                        mom.append([e[n] / e[0] for n in (1, 2, 3)])
                out = (np.array(ys), np.array(p), np.array(mom))
        elif classes is not None and isinstance(pred, MultiplicativePrediction) \
                and getattr(pred, "factor", None) is not None and math.isfinite(float(self.size.moment(3))):
            out = _factor_buckets(self.size, pred.factor, m)
        self._cache[key] = out
        return out

    def priority_approximation(self, policy="pspjf", classes: int | None = None) -> MeanResponseTime:
        r"""**Approximation** of :math:`E[T]` of PSPJF-k as preemptive priority classes (FCFS
        within a class), the classes of :meth:`priority_classes` (``classes=None``: the
        prediction's own values, at most :attr:`MAX_PRIORITY_CLASSES`; an integer: that many
        quantile buckets of a continuous prediction).

        Where the two-class chains stay small (:func:`qtheory.models.priority_k.feasible`:
        :math:`k \le 5`), the recursive dimensionality reduction with busy-period transitions
        (:func:`qtheory.models.priority_k.priority_k`; Harchol-Balter, Osogami, Scheller-Wolf and
        Wierman, Queueing Systems 51, 2005, RDR-A aggregation): for class :math:`i` the classes
        :math:`<i` are one high class, tracked by the phases of its jobs below :math:`k` and by
        busy periods fitted per starting configuration on three moments; the low class keeps
        the phases of its served and preempted jobs; :math:`E[T_i] = E[N_i]/\lambda_i`. For
        bucketed continuous predictions the value's delay is rescaled by the pooled server's
        (exact) ratio of the continuous PSPJF to its bucketed version,

        .. math::
            E[T] \approx \frac{E[S]}{s} + \Big(E[T^{\text{bkt}}_k] - \frac{E[S]}{s}\Big)
            \frac{E[T^{PSPJF}_{\text{pool}}] - E[S]/(ks)}{E[T^{\text{bkt}}_{\text{pool}}] - E[S]/(ks)},

        :math:`E[T^{\text{bkt}}_{\text{pool}}]` the M/G/1 preemptive priority formula
        (Kleinrock) on the classes at speed :math:`ks`: within a bucket jobs are served FCFS,
        which on heavy-tailed sizes costs 8-74% at loads 0.8-0.9 against the continuous policy,
        and the pooled ratio removes most of it (docs/multiserver.md, section 5). Bands:
        :data:`APPROX_ERROR` ``"rdr_priority"`` (the prediction's own classes) and
        ``"rdr_buckets"`` (bucketed predictions), measured against the simulator.

        For :math:`6 \le k \le` :attr:`MAX_PRIORITY_SERVERS` the older, smaller chain of
        :func:`qtheory.models.mphk_priority.mphk_priority` (high jobs below :math:`k` counted
        only, low jobs sharing the servers left; band ``"rdr_priority_count"``, measured 3-19%
        low on the Azure traces). The value is clamped into the proven bounds.
        """
        pol = get_policy(policy)
        self._check_policy(pol)
        if not (pol.formula_form() == "static" and pol.descriptor == "prediction"):
            raise NotImplementedError(f"the priority-class model is for PSPJF (preemptive), not {pol.name}")
        key = ("rdr", pol, classes)
        if key in self._cache:
            return self._cache[key]
        cls = self.priority_classes(classes)
        if cls is None:
            raise NotImplementedError("PSPJF-k as priority classes needs a prediction with few values "
                                      f"(at most {self.MAX_PRIORITY_CLASSES}: EmpiricalPairs, OneBit) or, with "
                                      "classes=m, a multiplicative prediction law or EmpiricalPairs to bucket")
        ys, p, mom = cls
        k, s = self.servers, self.server_speed
        natural = self.priority_classes() is not None
        if priority_k_feasible(k, ys.size):
            res = priority_k(k, self.arrival_rate * p, mom, s)
            v = res["mean_response_time"]
            what = (f"PSPJF-k as {ys.size} preemptive priority classes: RDR-A with busy-period transitions "
                    f"({res['phases']} phases per level")
            what += ")" if res["two_moments"] else "; a class with C^2 < 1/2 fitted by Erlang-2)"
            band = _band("rdr_priority" if natural else "rdr_buckets", self.load)
            if not natural:
                es = self.size.mean / s
                t_bkt = _pooled_priority(self.arrival_rate * p, mom, k * s)
                t_con = self.pooled_mean_response_time(pol)
                ratio = (t_con - es / k) / (t_bkt - es / k)
                v = es + (v - es) * ratio
                what += (f", {ys.size} quantile buckets of the prediction; delay scaled by the pooled continuous/"
                         f"bucketed ratio {ratio:.4g}")
            ref = REF_RDR_T
        elif k <= self.MAX_PRIORITY_SERVERS and natural:
            res = mphk_priority(k, self.arrival_rate * p, mom, s)
            v = res["mean_response_time"]
            what = (f"PSPJF-k as {ys.size} preemptive priority classes: RDR-A (aggregated higher classes counted "
                    f"below k, three-moment busy periods, two-phase size fits; {res['phases']} phases per level")
            band, ref = _band("rdr_priority_count", self.load), REF_RDR
        else:
            raise NotImplementedError(f"the priority-class chain is limited to k <= {self.MAX_PRIORITY_SERVERS} "
                                      "(the prediction's own classes) or k <= 5 (bucketed predictions)")
        b = self.bounds(pol)
        clamped = min(max(v, b.lower), b.upper)
        note = "" if clamped == v else f" (clamped into the proven bounds from {v:.6g})"
        out = MeanResponseTime(clamped, "approx", band, what + note, ref, b.lower, b.upper)
        self._cache[key] = out
        return out

    def nonpreemptive_priority_approximation(self, policy="spjf") -> MeanResponseTime:
        r"""**Approximation** of :math:`E[T]` of SPJF-k as non-preemptive priority classes (FCFS
        within a class), the prediction's own classes (:meth:`priority_classes` with
        ``classes=None``: EmpiricalPairs with at most :attr:`MAX_PRIORITY_CLASSES` values, OneBit),
        for :math:`k \le 4` (:func:`qtheory.models.priority_np_k.priority_np_k`): for each cut
        :math:`c` a two-class chain (high: the classes :math:`\le c`; low: the others) whose
        level is the number of waiting low jobs and whose high-waiting periods (no low job starts
        in them) are fitted per starting configuration and number of low jobs left in service on
        three moments; the waits of the classes from the waiting work of each cut,

        .. math::
            \rho_i E[W_i] = \varrho_i W^{hi}_i - \varrho_{i-1} W^{hi}_{i-1},\qquad
            E[W_m] = W^{lo}_{m-1},

        Cobham's formula on one server (docs/multiserver.md, section 5). Band:
        :data:`qtheory.models.priority_np_k.BAND`, measured against the simulator where every
        PH fit matches two moments (``two_moments`` in the method text otherwise: not measured,
        band ``nan``). The value is clamped into the proven bounds."""
        pol = get_policy(policy)
        self._check_policy(pol)
        if not (pol.formula_form() == "nonpreemptive" and pol.descriptor == "prediction"):
            raise NotImplementedError(f"the non-preemptive priority-class model is for SPJF, not {pol.name}")
        key = ("rdr_np", pol)
        if key in self._cache:
            return self._cache[key]
        cls = self.priority_classes()
        if cls is None:
            raise NotImplementedError("SPJF-k as priority classes needs a prediction with few values (at most "
                                      f"{self.MAX_PRIORITY_CLASSES}: EmpiricalPairs, OneBit)")
        if not np_feasible(self.servers):
            raise NotImplementedError("the non-preemptive priority-class chain is limited to k <= 4 servers")
        ys, p, mom = cls
        res = priority_np_k(self.servers, self.arrival_rate * p, mom, self.server_speed)
        v = res["mean_response_time"]
        what = (f"SPJF-k as {ys.size} non-preemptive priority classes: two-class chains with high-waiting "
                f"periods per start (three moments), class waits from the waiting work of each cut "
                f"({res['phases']} phases per level")
        if res["two_moments"]:
            what += ")"
            err = np_band(self.load)
        else:
            what += "; a law with C^2 < 1/2 fitted by an Erlang-2: band not measured)"
            err = math.nan
        b = self.bounds(pol)
        clamped = min(max(v, b.lower), b.upper)
        note = "" if clamped == v else f" (clamped into the proven bounds from {v:.6g})"
        out = MeanResponseTime(clamped, "approx", err, what + note, REF_RDR_NP, b.lower, b.upper)
        self._cache[key] = out
        return out

    def _np_priority_route(self, pol: Policy) -> MeanResponseTime | None:
        r"""The non-preemptive priority-class answer :meth:`mean_response_time` gives for SPJF-k: the
        prediction's own classes, :math:`k \le 3` (or :math:`k = 4` with two classes), loads up
        to 0.95, every PH fit matching three moments (every aggregated class with :math:`C^2 \ge 1`,
        fitted by a hyperexponential: where the chain was measured better than the Bondi-Buzen
        scaling; on classes with :math:`C^2 < 1` the scaling was as good or better:
        docs/multiserver.md, section 5). None elsewhere."""
        if not (pol.formula_form() == "nonpreemptive" and pol.descriptor == "prediction") \
                or not np_feasible(self.servers) or not math.isfinite(np_band(self.load)):
            return None
        cls = self.priority_classes()
        if cls is None or not np_feasible(self.servers, cls[0].size) \
                or not fits_match(self.servers, self.arrival_rate * cls[1], cls[2], moments=3):
            return None                       # too slow, or classes with C^2 < 1: the scaling was as good
        return self.nonpreemptive_priority_approximation(pol)

    def _priority_route(self, pol: Policy) -> MeanResponseTime | None:
        r"""The priority-class answer :meth:`mean_response_time` gives for PSPJF-k, where the chain
        is feasible (:math:`k \le 5`) and measured: the prediction's own classes when every PH fit
        matches two moments; bucketed predictions on a size law with :math:`C^2 \ge 1`
        (docs/multiserver.md, section 5). None elsewhere (the Bondi-Buzen scaling then)."""
        if not (pol.formula_form() == "static" and pol.descriptor == "prediction") \
                or not priority_k_feasible(self.servers, 2):
            return None
        natural = self.priority_classes() is not None
        if not math.isfinite(_band("rdr_priority" if natural else "rdr_buckets", self.load)):
            return None                       # load above the measured grid
        cls = self.priority_classes(None if natural else self.MAX_PRIORITY_CLASSES)
        if cls is None or not priority_k_feasible(self.servers, cls[0].size):
            return None
        if not natural and self.size.moment(2) < 2.0 * self.size.mean**2 * (1 - 1e-12):
            return None                       # C^2 < 1: bucketed classes too regular for two phases
        v = self.priority_approximation(pol, None if natural else self.MAX_PRIORITY_CLASSES)
        if natural and "Erlang-2" in v.method:
            return None                       # a class too regular for two phases: not measured
        return v

    def mean_response_time(self, policy) -> MeanResponseTime:
        r"""The best available :math:`E[T]`, labelled (a ``float`` subclass,
        :class:`MeanResponseTime`):

        * ``kind="exact"``: :math:`k = 1` (M/G/1 formulas); Erlang C (exponential sizes, blind
          policies); M/G/k-PS (insensitive); FCFS-k for phase-type sizes (matrix-analytic
          M/PH/k) and deterministic sizes (Crommelin's M/D/k);
        * ``kind="approx"`` with a measured error band ``error``: FCFS-k for other laws and
          traces (three-moment phase-type fit, solved exactly); SRPT-k and PSJF-k by
          :meth:`srpt_approximation`; PSPJF-k at :math:`k \le 5` and loads up to 0.95 by
          :meth:`priority_approximation` (priority classes: the prediction's own classes when
          every PH fit matches two moments, or 8 quantile buckets of a continuous prediction on
          a size law with :math:`C^2 \ge 1`); SPJF-k at :math:`k \le 3` (:math:`k = 4`: two
          classes) and loads up to 0.95 by
          :meth:`nonpreemptive_priority_approximation` (the prediction's own classes, every PH
          fit matching three moments); every other SOAP policy by
          :meth:`approximation` (Bondi-Buzen scaling), always inside the proven bounds;
        * ``inf`` (``kind="exact"``) where the mean is shown infinite
          (:func:`~qtheory.models.multiserver_bounds._infinite_mean`): FCFS-k when
          :math:`E[S^{1 + 1/(k - \lfloor a\rfloor)}] = \infty` for Pareto sizes
          (Scheller-Wolf and Vesilo), and FCFS-k, SJF-k, SPJF-k and SPRPT-k (estimates below sizes
          with positive probability) when :math:`E[S^2] = \infty` and :math:`a = \lambda E[S]/s > k - 1`;
        * ``kind="bounds"`` (value ``nan``, ``lower`` and ``upper`` set): when neither exists
          (e.g. FCFS with :math:`E[S^2] = \infty` where the mean is finite or not shown infinite;
          SRPT-k, PSJF-k, FB-k then keep a finite upper bound: the mean is finite).
        """
        pol = get_policy(policy)
        self._check_policy(pol)
        ex = self._exact(pol)
        if ex is not None:
            return MeanResponseTime(ex[0], "exact", 0.0, ex[1], ex[2], ex[0], ex[0])
        if self.servers == 1:
            # the pooled M/G/1 result _exact computed (and cached) is reused here, with its label
            r = self._pooled_result(pol)
            v = self._c * float(r)
            lo, hi = (v, v) if r.exact else (self.bounds(pol).lower, self.bounds(pol).upper)
            return MeanResponseTime(v, r.kind, r.error, f"M/G/1 SOAP evaluator ({r.method})", "", lo, hi)
        if pol.formula_form() == "constant":  # FCFS
            fc = self._fcfs()
            if fc is not None:
                return fc
        else:
            try:
                pr = self._priority_route(pol)
                if pr is not None:
                    return pr                                  # PSPJF-k: priority classes, k <= 5
                pr = self._np_priority_route(pol)
                if pr is not None:
                    return pr                                  # SPJF-k: non-preemptive classes, k <= 3
                if pol.descriptor == "size" and pol.formula_form() in ("remaining", "static"):
                    return self.srpt_approximation(pol)       # SRPT-k, PSJF-k: measured more accurate
                return self.approximation(pol)
            except (NotImplementedError, ValueError, ArithmeticError):
                pass
        b = self.bounds(pol)
        method = b.method
        if not math.isfinite(self.size.moment(2)):
            method = ("E[S^2] = inf: no approximation (the phase-type fit and the scalings need the FCFS-k wait, "
                      "finite only where E[S^(1 + 1/(k - floor(a)))] < inf, a = lam E[S]/s: Scheller-Wolf and "
                      "Vesilo); E[T] < inf wherever the upper bound is finite; " + method)
        return MeanResponseTime(math.nan, "bounds", math.nan, method, b.reference, b.lower, b.upper)

    def fcfs_approximation(self) -> float:
        r"""**Approximation** (not exact) of the M/G/k FCFS mean response time by the two-moment
        rule :math:`E[T_Q] \approx \frac{1 + C_S^2}{2} E[T_Q^{M/M/k}]`, :math:`E[T] \approx E[T_Q]
        + E[S]/s` (Lee and Longton 1959; exact for exponential sizes). No two-moment formula is
        accurate for all laws (Gupta, Harchol-Balter, Dai, Zwart, Queueing Systems 2010)."""
        m1, m2 = self.size.mean, self.size.moment(2)
        if math.isinf(m2):
            return math.inf
        cs2 = m2 / m1**2 - 1.0
        mm = mmk_fcfs(self.servers, self.arrival_rate, self.server_speed / m1)
        return (1.0 + cs2) / 2.0 * mm["mean_wait"] + m1 / self.server_speed

    # -- bounds -------------------------------------------------------------------------------------
    def _check_policy(self, pol: Policy) -> None:
        if pol.uses_predictions and self.prediction is None:
            raise ValueError(f"policy {pol.name} uses predictions but this model has none; pass "
                             "prediction=... (e.g. qt.LogNormalPrediction(sigma=0.5))")

    def _unit(self) -> tuple[float, MGk | None]:
        r"""``(m, twin)``: :math:`m = E[S]` and this model with sizes (and predictions) divided
        by :math:`m` and the arrival rate multiplied by it, whose times are this model's divided
        by :math:`m` (work and time in units of :math:`E[S]`); ``twin`` is ``None`` when
        :math:`10^{-30} \le m \le 10^{30}` or a law cannot be rescaled. The bounds are evaluated on
        the twin: their quadratures hold :math:`E[\min(S, r)^2]` and :math:`r^2`, which leave the
        doubles for a heavy tail far from scale 1 (Pareto(1.05) with :math:`x_m = 10^{60}`: the top
        of the rule is :math:`10^{280}`, its second partial moment :math:`10^{329}`). Within
        :math:`10^{\pm 30}` the direct evaluation was measured scale-invariant (Pareto(1.05) to
        (2.5), :math:`x_m` from :math:`10^{-120}` to :math:`10^{20}`: :math:`E[T]/E[S]` equal to
        :math:`10^{-11}`), and the twin would recompute the joint laws of the prediction policies."""
        if "unit" not in self._cache:
            m, twin = float(self.size.mean), None
            if not 1e-30 <= m <= 1e30:
                try:
                    pred = None if self.prediction is None else self.prediction.rescaled(1.0 / m)
                    twin = MGk(self.servers, self.arrival_rate * m, self.size.rescaled(1.0 / m), pred,
                               self.server_speed)
                    twin._cache["unit"] = (1.0, None)     # its mean is 1 up to rounding: no twin of its own
                except (NotImplementedError, ValueError, OverflowError):
                    twin = None
            self._cache["unit"] = (m, twin)
        return self._cache["unit"]

    def lower_bound(self) -> float:
        r"""Lower bound on :math:`E[T]` for every policy: the largest of
        :math:`E[T^{SRPT-1}]` on one server of speed :math:`ks` (resource pooling), the
        per-threshold mixed bound of :func:`_mixed_lower` (always :math:`\ge E[S]/s`), the
        increasing-speed-queue bound of :func:`_isq_lower` and the overflow bound of
        :func:`_overflow_lower` (``docs/multiserver.md``, section 3)."""
        m, twin = self._unit()
        if twin is not None:
            return m * twin.lower_bound()
        if "lower" not in self._cache:
            args = (self.size, self.arrival_rate, self.servers, self.server_speed)
            self._cache["lower"] = max(self.pooled_mean_response_time(SRPT()), _mixed_lower(*args),
                                       _isq_lower(*args), _overflow_lower(*args))
        return self._cache["lower"]

    def _joint(self, pol: Policy):
        if pol.descriptor == "size" or self.prediction is None:
            return soap._perfect_joint(self.size)
        return self.prediction.joint(self.size)

    def _upper(self, pol: Policy) -> tuple[float, str, str]:
        """Upper bound (real time units), method, reference."""
        m, twin = self._unit()
        if twin is not None:
            hi, how, ref = twin._upper(pol)
            return m * hi, how, ref
        k, c = self.servers, self._c
        lam = self.arrival_rate * c          # arrival rate of the time-scaled system (sizes S)
        smax = float(self.size.support[1])
        form = pol.formula_form()
        twin = pol.size_twin() if pol.declares("size_twin") else None
        twin_form = twin.formula_form() if twin is not None else None
        beta, _alpha = _error_factors(self.prediction) if pol.uses_predictions else (1.0, 1.0)
        perfect = pol.descriptor == "size" or (beta == 1.0 and _alpha == 1.0)
        is_srpt = form == "remaining" and pol.descriptor == "size"
        is_sprpt = form == "remaining" and pol.descriptor == "prediction"
        # SRPT-k, SPRPT-k, and the policies that equal SRPT under exact predictions
        # (SRPT-Bounce, ConditionalGittins) when the predictions are exact

        over = beta is not None and beta >= 1.0        # estimates never below sizes
        if form == "remaining" or (twin_form == "remaining" and perfect and self.prediction is not None) \
                or (form == "bounce" and over):
            joint = self._joint(pol)
            if perfect:
                L = np.minimum(joint.v, smax)
                what = "SRPT-k" if is_srpt else f"{pol.name}-k with exact predictions (= SRPT-k)"
                return (c * _joint_bound(joint, lam, k, L, k), f"{what}: per-size tagged-job bound "
                        "E[T_x] <= (lam E[X^2 1{X<=x}]/(2(1-rho_x)) + 2k x)/(1-rho_x)", REF_SRPTK)
            if (is_sprpt or form == "bounce") and over:
                L = np.minimum(joint.v, smax)
                same = " (= SPRPT-k: a job never outlives its estimate)" if form == "bounce" else ""
                return (c * _joint_bound(joint, lam, k, L, k), f"{pol.name}-k{same}, estimates never below "
                        "sizes (beta >= 1): tagged-job bound with L(y) = y", REF_NEW)
            if is_sprpt and math.isfinite(smax):
                L = np.full(joint.v.shape, smax)
                return (c * _joint_bound(joint, lam, k, L, k), "SPRPT-k, bounded sizes: tagged-job "
                        "bound with L = sup S", REF_NEW)
            return (math.inf, "no upper bound holds in general for SPRPT-k: an under-predicted job keeps a "
                    "low rank with a large true remaining size; lower bound only (compare with qt.simulate)", "")
        if form == "static":  # PSJF, PSPJF
            joint = self._joint(pol)
            if perfect:
                L = np.minimum(joint.v, smax)
            elif beta is not None:
                L = np.minimum(joint.v / beta, smax)
            elif math.isfinite(smax):
                L = np.full(joint.v.shape, smax)
            else:
                return (math.inf, f"{pol.name}-k: the coupling needs a bound on the size of a job with a "
                        "small prediction (bounded multiplicative error or bounded sizes); lower bound only", "")
            val = c * _joint_bound(joint, lam, k, L, k - 1)
            if pol.descriptor == "size" or perfect:
                return val, f"{pol.name}-k: static-rank tagged-job bound, L(y) = y", REF_MONO
            if beta is None:
                return val, f"{pol.name}-k, bounded sizes: static-rank tagged-job bound with L = sup S", REF_MONO
            return (val, f"{pol.name}-k under estimates in [beta x, alpha x] (beta = {beta:.4g}): tagged-job bound "
                    "with L(y) = min(y/beta, sup S)", REF_NEW)
        if form == "nonpreemptive":  # SJF, SPJF
            if not math.isfinite(smax):
                return (math.inf, f"{pol.name}-k (non-preemptive): started jobs of any size block the tagged "
                        "job; an upper bound needs bounded sizes; lower bound only", "")
            joint = self._joint(pol)
            L = np.full(joint.v.shape, smax)
            return (c * _joint_bound(joint, lam, k, L, k, residence_in_denominator=False),
                    f"{pol.name}-k (non-preemptive), bounded sizes: tagged-job bound with L = sup S", REF_MONO)
        gittins_dhr = pol.law_rank == "gittins" and pol.descriptor == "none" and strictly_dhr(self.size)
        if form == "age" or gittins_dhr:
            what = "FB-k" if form == "age" else f"{pol.name}-k on a DHR law (= FB-k: Aalto, Ayesta, Righter 2009)"
            return (c * _las_bound(self.size, lam, k), f"{what}: monotone-rank tagged-job bound "
                    "E[T_x] <= (lam E[min(X,x)^2]/(2(1-rho_x)) + (2k-1)x)/(1-rho_x)", REF_MONO)
        if form == "constant":  # FCFS
            m2 = self.size.moment(2)
            if math.isfinite(smax) and math.isfinite(m2):
                rho = lam * self.size.mean
                val = c * (lam * m2 / (2 * (1 - rho)) + (k - 1) * smax + k * self.size.mean)
                return val, "FCFS-k, bounded sizes: constant-rank tagged-job bound", REF_MONO
            return (math.inf, "FCFS-k with unbounded sizes: no upper bound implemented (see "
                    "fcfs_approximation() for a labelled two-moment approximation)", "")
        if form == "bounce":
            return (math.inf, f"no {pol.name}-k upper bound derived: while an under-predicted tagged job's rank "
                    "rises, jobs behind it can overtake it, and the number that do is not controlled by the "
                    "coupling; lower bound only", "")
        if pol.law_rank == "gittins" and pol.uses_predictions:
            return (math.inf, f"{pol.name}-k: no Gittins-k constant implemented for imperfect "
                    "predictions; lower bound only", REF_GITTINS_K)
        if pol.law_rank == "gittins":
            return (math.inf, f"{pol.name}-k: the additive O(log 1/(1-rho)) constant of Scully-Grosof-Harchol-Balter "
                    "2020 is not implemented (exact for exponential sizes, FB-k bound for DHR laws)", REF_GITTINS_K)
        return math.inf, f"no upper bound for policy {pol.name} on k servers; lower bound only", ""

    def bounds(self, policy) -> Bounds:
        r"""Lower and upper bounds on the mean response time of ``policy``.

        * exact values (``exact`` set) where one exists (see :meth:`mean_response_time`);
        * ``lower``: :meth:`lower_bound` (pooled SRPT-1, the per-threshold mixed bound, the
          increasing-speed-queue bound and the overflow bound), valid for every policy;
        * ``upper``: the tagged-job bounds derived in this module (SRPT-k, PSJF-k, FB-k, FCFS-k
          and SJF-k with bounded sizes, Gittins-k on DHR laws, and the new PSPJF-k bound under
          bounded multiplicative error), in the speed-1/k normalization

          .. math::
              E[T_{x,y}] \le \frac{\lambda B(y)/(2(1-\lambda A_\le(y))) + c_L L(y) + kx}
                                  {1-\lambda A_<(y)}

          with :math:`c_L = k` (SRPT: :math:`L = x`) or :math:`k-1` (PSJF: :math:`L = x`;
          PSPJF with estimates in :math:`[\beta x, \alpha x]`: :math:`L = y/\beta`), averaged
          over :math:`(X, Y)`; FB-k:
          :math:`E[T_x] \le (\lambda E[\min(X,x)^2]/(2(1-\bar\rho_x)) + (2k-1)x)/(1-\bar\rho_x)`.
          The derivation is in ``qtheory.models.multiserver_bounds._rank_bound_doc`` and the notebook
          ``notebooks/04_multiserver.ipynb``.
        * ``upper = inf`` where no bound is known (SPRPT-k with under-estimates and unbounded
          sizes, SRPT-Bounce-k with under-estimates, Gittins-k outside exponential/DHR laws): compare with
          :func:`qtheory.simulate` instead.
        """
        pol = get_policy(policy)
        self._check_policy(pol)
        key = ("bounds", pol)
        if key in self._cache:
            return self._cache[key]
        ex = self._exact(pol)
        if ex is not None:
            b = Bounds(ex[0], ex[0], ex[0], ex[1], ex[2])
        elif self.servers == 1:
            r = self._pooled_result(pol)
            v = self._c * float(r)
            tol = max(1e-2, 10 * r.error)
            b = Bounds(v / (1 + tol), v * (1 + tol), None,
                       f"M/G/1 {r.method}: +-{100 * tol:.2g}% band", "")
        else:
            lo = self.lower_bound()
            hi, how, ref = self._upper(pol)
            hi = max(hi, lo)
            method = (f"lower: max(SRPT-1 at speed k*s, per-threshold mixed bound >= E[S]/s, increasing-speed-queue "
                      f"bound, overflow bound E[S]/s + E[(Poisson(lam E[S]/s) - k)^+]/lam); upper: {how}")
            b = Bounds(lo, hi, None, method, REF_POOL + "; " + REF_ISQ + ("; " + ref if ref else ""))
        self._cache[key] = b
        return b

    def upper_bound_conditional(self, policy, x, y=None):
        r"""The per-size tagged-job upper bound :math:`E[T \mid S = x, Y = y] \le \dots` (see
        :meth:`bounds`) for SRPT, PSJF, PSPJF (bounded multiplicative error), SPRPT
        (:math:`\beta \ge 1`) and FB/LAS. ``x`` (and ``y``) in units of size; vectorised."""
        pol = get_policy(policy)
        self._check_policy(pol)
        form = pol.formula_form()
        k, c = self.servers, self._c
        lam = self.arrival_rate * c
        xa, ya_checked = MG1._check_xy(x, y)
        smax = float(self.size.support[1])
        if form == "age":  # FB
            rb = lam * self.size.mean_min(1, xa)
            out = (lam * self.size.mean_min(2, xa) / (2 * (1 - rb)) + (2 * k - 1) * xa) / (1 - rb)
        else:
            if pol.descriptor == "size":
                ya = xa
                beta = 1.0
            else:
                if y is None:
                    raise ValueError(f"policy {pol.name} needs the prediction y")
                ya = ya_checked
                beta, alpha = _error_factors(self.prediction)
            joint = self._joint(pol)
            if form == "remaining":  # SRPT, SPRPT
                if beta is None or beta < 1.0:
                    raise NotImplementedError(f"{pol.name}-k: no per-size upper bound when estimates can fall "
                                              "below sizes (beta < 1)")
                L, cL = np.minimum(ya, smax), k
            elif form == "static":  # PSJF, PSPJF
                if beta is None:
                    raise NotImplementedError(f"{pol.name}-k: no per-size upper bound without a bounded "
                                              "multiplicative error")
                L, cL = np.minimum(ya / beta, smax), k - 1
            else:
                raise NotImplementedError(f"no per-size upper bound for {pol.name} on {k} servers")
            le, lt = joint.A_le(ya), joint.A_lt(ya)
            out = (lam * joint.B(ya) / (2 * (1 - lam * le)) + cL * L + k * xa) / (1 - lam * lt)
        out = c * out
        return float(out[0]) if np.ndim(x) == 0 and np.ndim(y) == 0 else out

    def srpt_simplified_upper(self) -> float:
        r"""The simplified SRPT-k bound quoted by Grosof (recap of the SRPT-k paper),
        :math:`E[T^{SRPT-k}] \le E[T^{SRPT-1}] + 2kE[X](\ln\frac{1}{1-\rho} + 1)` in the speed-1/k
        normalization, i.e. :math:`+\,2\frac{E[S]}{s}(\ln\frac1{1-\rho} + 1)` here. The per-size
        bound of :meth:`bounds` is never larger."""
        pooled = self.pooled_mean_response_time(SRPT())
        return pooled + 2 * self.size.mean / self.server_speed * (math.log(1 / (1 - self.load)) + 1)

    # -- tables -----------------------------------------------------------------------------------------
    def compare(self, policies=("fcfs", "ps", "srpt", "psjf", "las", "pspjf", "sprpt"), jobs: int | None = None,
                seed=None) -> Table:
        """A table per policy: the proven bounds, the best available value of
        :meth:`mean_response_time` with its label (``exact``, ``approx +-x%`` with the measured
        band, or ``bounds only``) and, with ``jobs``, a simulation estimate with its 95% CI;
        prediction-based policies are skipped without a prediction law."""
        policies = policy_list(policies)
        rows = []
        for p in policies:
            pol = get_policy(p)
            if pol.uses_predictions and self.prediction is None:
                continue
            b = self.bounds(pol)
            v = self.mean_response_time(pol)
            row = [pol.name, b.lower, b.upper, "exact" if b.exact else "bound", float(v), v.label]
            if jobs is not None:
                from ..sim import simulate

                try:
                    r = simulate(self, pol, jobs=jobs, seed=seed)
                    row += [r.mean, r.ci]
                except NotImplementedError:
                    row += [math.nan, math.nan]
            rows.append(tuple(row))
        cols = ["policy", "lower", "upper", "kind", "E[T]", "label"] + (["simulated", "ci95"] if jobs is not None
                                                                        else [])
        return Table(cols, rows, title=f"M/G/{self.servers} at per-server load {self.load:.4g}: {self.size!r}"
                     + (f", {self.prediction!r}" if self.prediction is not None else ""))


__all__ = ["MGk", "Bounds", "erlang_b", "erlang_c", "mmk_fcfs", "mmk_priority", "MeanResponseTime",
           "APPROX_ERROR", "mphk_fcfs", "mdk_fcfs", "mphk_priority", "fit_phase_type", "PhaseType", "PHFit"]
