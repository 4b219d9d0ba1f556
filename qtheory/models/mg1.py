"""The M/G/1 model: Poisson arrivals, a size law, optionally a prediction law."""

from __future__ import annotations

import math

import numpy as np

from .._validation import in_range, load_below_one, plain, positive, real_array
from .._validation import loads as check_loads
from ..laws.predictions import EmpiricalPairs, PredictionLaw
from ..laws.sizes import SizeLaw
from ..policies import Policy, get_policy, policy_list
from ..table import Table
from .labelled import MeanResponseTime


def _same_side(x: np.ndarray, xs: np.ndarray, atoms: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """``xs = x f`` moved by at most an ulp so that it lies on the same side of every scaled
    atom as ``x`` of the atom it came from (a size one ulp below an atom must not round onto
    it: SJF gave E[T | x] = 21.26, the value at the atom 7, for x one ulp below it, against
    10.58 two ulps below). Atoms themselves map onto the scaled atoms exactly."""
    if not atoms.size or atoms.size != scaled.size:
        return xs
    xs = np.array(xs, float)
    i = np.searchsorted(atoms, x, side="left")  # atoms strictly below x
    n = atoms.size
    ic = np.minimum(i, n - 1)
    on = (i < n) & (atoms[ic] == x)
    xs = np.where(on, scaled[ic], xs)
    above = (i < n) & ~on  # x below atoms[i]: keep xs below scaled[i]
    xs = np.where(above, np.minimum(xs, np.nextafter(scaled[ic], -np.inf)), xs)
    below = (i > 0) & ~on  # x above atoms[i - 1]
    ib = np.maximum(i - 1, 0)
    return np.where(below, np.maximum(xs, np.nextafter(scaled[ib], np.inf)), xs)


def _check_levels(name: str, values) -> np.ndarray:
    """Probability levels as a non-empty 1-D float array, each in the open interval (0, 1)."""
    v = real_array(name, values)
    if v.size == 0:
        raise ValueError(f"{name} must be non-empty, got {name}={plain(values)}")
    bad = ~((v > 0) & (v < 1))
    if bad.any():
        raise ValueError(f"{name} must lie in (0, 1) (q=0.99 is the 99th percentile), got "
                         f"{name}={plain(values)}")
    return v


#: the sweep's continuation: the quantile at a load from the polynomial in
#: :math:`u = -\log(1 - \rho)` through the last this many loads' log-quantiles
SWEEP_POINTS = 4


def _continuation(hist: list[tuple[float, float]], u: float) -> tuple[float, float]:
    r"""A guess of :math:`\log t_q` at :math:`u = -\log(1 - \rho)` from ``hist``, the pairs
    :math:`(u_i, \log t_q(\rho_i))` of the last loads solved (increasing :math:`u_i`): the
    interpolating polynomial through the last :data:`SWEEP_POINTS` of them (M/M/1 FCFS:
    :math:`\log t_q = \log\log(1/(1-q)) + u`, a line), and its estimated error, its distance to
    the polynomial through one point fewer; ``(nan, inf)`` without any."""
    if not hist:
        return math.nan, math.inf
    pts = hist[-SWEEP_POINTS:]
    for ui, vi in pts:
        if ui == u:
            return vi, 0.0
    if len(pts) == 1:
        return pts[0][1], math.inf

    def lagrange(ps):
        out = 0.0
        for a, (ua, va) in enumerate(ps):
            w = 1.0
            for b, (ub, _) in enumerate(ps):
                if a != b:
                    w *= (u - ub) / (ua - ub)
            out += w * va
        return out

    p, p_lower = lagrange(pts), lagrange(pts[1:])
    return p, abs(p - p_lower)


class PercentileSweep:
    r"""Percentiles of the response (or waiting) time of one policy against the load: the
    result of :meth:`MG1.sweep_percentiles`.

    ``values[i, j]`` is the ``q[j]``-quantile :math:`\inf\{t : P(T \le t) \ge q_j\}` at
    ``loads[i]``. ``np.asarray(result)`` is ``values``; :meth:`table` a pandas-free
    :class:`~qtheory.table.Table` (one row per load); :meth:`column` one percentile against the
    load; :meth:`plot` draws them; in Jupyter it renders as the table.

    Attributes
    ----------
    policy : str
        The policy's name.
    loads, q : ndarray
        The loads and the probability levels (in (0, 1)).
    values : ndarray
        Shape ``(len(loads), len(q))``.
    mean : ndarray
        The mean (:math:`E[T]`, or :math:`E[W]` with ``waiting``) at each load, from the same
        distributions (closed forms, ``ResponseTimeDistribution.mean``).
    waiting : bool
        True for the waiting time (until first service), False for the response time.
    model : str
        The model at the first load (its size and prediction laws hold at every load).
    """

    def __init__(self, policy: str, loads: np.ndarray, q: np.ndarray, values: np.ndarray,
                 waiting: bool, model: str, mean: np.ndarray | None = None):
        self.policy = policy
        self.mean = np.full(loads.size, np.nan) if mean is None else mean
        self.loads = loads
        self.q = q
        self.values = values
        self.waiting = waiting
        self.model = model

    @property
    def quantity(self) -> str:
        return "waiting time W" if self.waiting else "response time T"

    @staticmethod
    def label(q: float) -> str:
        """``"p99"`` for ``q = 0.99``, ``"p99.9"`` for 0.999."""
        return f"p{q * 100:.10g}"

    def column(self, q: float) -> np.ndarray:
        """The ``q``-quantile (one of :attr:`q`) at each load."""
        hit = np.flatnonzero(np.isclose(self.q, q, rtol=0, atol=1e-12))
        if not hit.size:
            raise ValueError(f"q={q!r} is not one of the levels of this sweep: {self.q.tolist()}")
        return self.values[:, hit[0]]

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.values, dtype=dtype)

    def __len__(self) -> int:
        return self.loads.size

    def table(self) -> Table:
        """One row per load: the load and each percentile."""
        rows = [(float(rho), *map(float, row)) for rho, row in zip(self.loads, self.values, strict=True)]
        return Table(["load", *(self.label(v) for v in self.q)], rows,
                     title=f"{self.policy}: percentiles of the {self.quantity}; {self.model}")

    def to_dict(self) -> dict:
        """``{"loads": [...], "p50": [...], ...}`` (plain lists)."""
        out = {"loads": self.loads.tolist()}
        for j, v in enumerate(self.q):
            out[self.label(v)] = self.values[:, j].tolist()
        return out

    def __repr__(self) -> str:
        return str(self.table())

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def plot(self, ax=None, **kwargs):
        """Each percentile against the load, in the policy's figure style
        (:meth:`qtheory.Policy.figure_style`), one line style per percentile; a logarithmic
        time axis. Returns the matplotlib Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        style = dict(get_policy(self.policy).figure_style() or {})
        dashes = ["-", "--", ":", "-."]
        for j, v in enumerate(self.q):
            st = {**style, "linestyle": dashes[j % len(dashes)], **kwargs}
            ax.plot(self.loads, self.values[:, j], label=f"{self.policy} {self.label(v)}", **st)
        ax.set_xlabel(r"load $\rho$")
        ax.set_ylabel(("waiting" if self.waiting else "response") + " time percentile")
        ax.set_yscale("log")
        ax.legend()
        return ax



def unit_rescaling(size: SizeLaw) -> tuple[float, float, SizeLaw] | None:
    """``(f, m, size.rescaled(f))`` with :math:`m = E[X]` and :math:`f = 1/m`: the time unit in
    which the mean size is 1, where the model evaluates (:meth:`MG1._unit`); ``None`` where
    :math:`m` is 1, :math:`1/m` is not a positive finite number, or the law cannot be rescaled.
    :class:`qtheory.measures.robustness` uses the same rule so that its numbers are the model's
    bit for bit."""
    m = size.mean
    f = 1.0 / m
    if m == 1.0 or not (math.isfinite(f) and f > 0):
        return None
    try:
        return f, m, size.rescaled(f)
    except (NotImplementedError, ValueError, OverflowError, ZeroDivisionError):
        return None  # a law without rescaled(), or a parameter out of range

class MG1:
    r"""An M/G/1 queue with job-size predictions.

    Derivation of the formulas it evaluates: ``docs/soap_predictions.md``.

    Parameters
    ----------
    arrival_rate : float
        Poisson arrival rate :math:`\lambda`; the load :math:`\rho = \lambda E[X]` must be < 1.
    size : SizeLaw
        The law of the job size X (for :class:`EmpiricalPairs` predictions it may be omitted).
    prediction : PredictionLaw, optional
        The law of the prediction Y given X = x. Required by prediction-based policies.

    Notes
    -----
    Every measure is evaluated on the model rescaled to mean size 1 (sizes, predictions and ages
    divided by :math:`E[X]`, the arrival rate multiplied by it; see
    :meth:`qtheory.laws.sizes.SizeLaw.rescaled`) and times are multiplied back, so results do not
    depend on the time unit: sizes of order 1e-170 or 1e200 give the same numbers as sizes of
    order 1. Laws, predictions or policies that cannot be rescaled (user subclasses without
    ``_rescaled``; SPRPT-type ranks on one-bit labels) are evaluated in their own unit.

    Examples
    --------
    >>> import qtheory as qt
    >>> q = qt.MG1(arrival_rate=0.8, size=qt.Exponential(mean=1.0),
    ...            prediction=qt.ExponentialPrediction())
    >>> round(q.mean_response_time("fcfs"), 6)
    5.0
    """

    def __init__(self, arrival_rate: float, size: SizeLaw | None = None,
                 prediction: PredictionLaw | None = None):
        self.arrival_rate = positive("arrival_rate", arrival_rate)
        if size is None and isinstance(prediction, EmpiricalPairs):
            size = prediction.size_law()
        if not isinstance(size, SizeLaw):
            raise ValueError(f"size must be a size law such as qt.Exponential(mean=1.0), got "
                             f"size={plain(size)}")
        if prediction is not None and not isinstance(prediction, PredictionLaw):
            raise ValueError(f"prediction must be a prediction law such as "
                             f"qt.LogNormalPrediction(sigma=0.5), got prediction={plain(prediction)}")
        self.size = size
        self.prediction = prediction
        mean = size.mean
        if not math.isfinite(mean):
            raise ValueError(f"size has an infinite mean ({size!r}): the load is infinite")
        load_below_one(self.arrival_rate * mean)

    # -- basic quantities -----------------------------------------------------------------------
    @property
    def load(self) -> float:
        r""":math:`\rho = \lambda E[X]`."""
        return self.arrival_rate * self.size.mean

    def __repr__(self):
        p = f", prediction={self.prediction!r}" if self.prediction is not None else ""
        return f"MG1(arrival_rate={self.arrival_rate!r}, size={self.size!r}{p})"

    def with_load(self, load: float) -> MG1:
        """The same size and prediction laws at another load."""
        load = in_range("load", load, 0.0, 1.0, lo_open=True, hi_open=True)
        return MG1(load / self.size.mean, self.size, self.prediction)

    # -- the unit-free model --------------------------------------------------------------------
    def _unit(self) -> tuple[MG1, float]:
        """``(unit, m)``: the model in the time unit where the mean size is 1 (sizes and
        predictions divided by ``m = E[X]``, the arrival rate multiplied by it), cached. ``unit``
        is the model itself when ``m`` is 1 or a law cannot be rescaled."""
        key = (self.arrival_rate, id(self.size), id(self.prediction))
        cached = self.__dict__.get("_unit_cache")
        if cached is None or cached[0] != key:
            cached = (key, *self._make_unit())
            self.__dict__["_unit_cache"] = cached
        return cached[1], cached[2]

    def _make_unit(self) -> tuple[MG1, float]:
        scaled = unit_rescaling(self.size)
        if scaled is None:
            return self, 1.0
        f, m, size = scaled
        try:
            pred = None if self.prediction is None else self.prediction.rescaled(f)
            unit = MG1(self.arrival_rate * m, size, pred)
        except (NotImplementedError, ValueError, OverflowError, ZeroDivisionError):
            return self, 1.0  # a law without rescaled(), or a parameter out of range
        unit.__dict__["_unit_cache"] = ((unit.arrival_rate, id(size), id(pred)), unit, 1.0)
        return unit, m

    def _unit_policy(self, policy) -> tuple[MG1, float, Policy]:
        """``(model, m, policy)`` to evaluate ``policy`` on: the unit-free model and the policy
        in its unit where the policy can be rescaled, else this model, 1 and the policy."""
        pol = get_policy(policy)
        unit, m = self._unit()
        if unit is self:
            return self, 1.0, pol
        f = 1.0 / m
        scales = self.prediction is None or self.prediction.scales_with_size
        upol = pol.rescaled(f, f if pol.descriptor != "prediction" or scales else 1.0)
        if upol is None:
            return self, 1.0, pol
        return unit, m, upol

    # -- evaluation -----------------------------------------------------------------------------
    def _exact_equivalent(self, policy: Policy, slowdown: bool = False) -> Policy:
        """The policy with exact formulas that schedules as ``policy`` on this model (Gittins
        on a monotone-hazard law: FB or FCFS, :meth:`Policy.exact_equivalent`; a prediction
        policy without a formula of its own under perfect predictions: its
        :meth:`Policy.size_twin`, e.g. ConditionalGittins = SRPT), else ``policy``.
        ``slowdown``: not the twin where the predictions are evaluated as perfect but still
        noisy (a slowdown can diverge there; :attr:`PredictionLaw.is_noisy`)."""
        eq = policy.exact_equivalent(self.size)
        if eq is not None:
            return eq
        pred = self.prediction
        if policy.descriptor == "prediction" and policy.formula_form() is None and pred is not None \
                and pred.is_perfect and not (slowdown and pred.is_noisy) and policy.declares("size_twin"):
            twin = policy.size_twin()
            if twin is not None:
                return twin
        return policy

    def _routed(self, policy, lam: np.ndarray, method: str | None = None):
        """``(E[T] per arrival rate, error per rate, exact, route)``: the best route for
        ``policy`` (an exact formula the policy declares, else the generic SOAP evaluator), or
        the one ``method`` forces (:func:`qtheory.engine.routing.means`)."""
        from ..engine import routing

        policy = get_policy(policy)
        eq = None if method == "generic" else self._exact_equivalent(policy)
        return routing.means(self, policy, lam, method, eq)

    def _means(self, policy, lam: np.ndarray, method: str | None = None) -> np.ndarray:
        return self._routed(policy, lam, method)[0]

    def mean_response_time(self, policy, method: str | None = None) -> MeanResponseTime:
        r"""Mean response time :math:`E[T]` under ``policy`` (an object or a name).

        ``method``: ``None`` takes the best route (a closed form where the policy has one, on
        this law; else the generic SOAP evaluator); ``"closed-form"`` insists on a closed form
        (``ValueError`` when there is none); ``"generic"`` forces the generic SOAP evaluator
        (:mod:`qtheory.engine.generic`, a discretisation on continuous laws, exact on discrete ones),
        e.g. to check it against the closed forms.

        Returns
        -------
        MeanResponseTime
            A ``float`` that also says how it was obtained: ``kind`` ("exact" or "approx"),
            ``error`` (relative; 0 when exact) and ``method`` (the route taken).
        """
        if method not in (None, "closed-form", "generic"):
            raise ValueError(f"method must be None, 'closed-form' or 'generic', got method={method!r}")
        unit, m, pol = self._unit_policy(policy)
        t, err, exact, how = unit._routed(pol, np.array([unit.arrival_rate]), method)
        value = float(t[0]) * m
        rel = float(err[0] / t[0]) if t[0] != 0 and math.isfinite(t[0]) else 0.0
        return MeanResponseTime(value, "exact" if exact else "approx", rel, how)

    def sweep(self, policy, loads) -> np.ndarray:
        """Mean response time at each load in ``loads`` (same size and prediction laws).

        The threshold functions are computed once and reused for every load.
        """
        loads = check_loads("loads", loads)
        unit, m, pol = self._unit_policy(policy)
        return unit._means(pol, loads / unit.size.mean) * m

    @staticmethod
    def _check_xy(x, y):
        """``x`` and ``y`` as 1-D arrays of one length (``y`` may be ``None``), or an error
        naming the argument: sizes finite and > 0, predictions finite and >= 0."""
        xa = real_array("x", x)
        bad = ~(np.isfinite(xa) & (xa > 0))
        if bad.any():
            raise ValueError(f"x must be finite and > 0, got x={plain(x)}")
        if y is None:
            return xa, None
        ya = real_array("y", y)
        bad = ~(np.isfinite(ya) & (ya >= 0))
        if bad.any():
            raise ValueError(f"y must be finite and >= 0, got y={plain(y)}")
        if xa.size != ya.size:
            if ya.size == 1 and np.ndim(y) == 0:
                ya = np.full(xa.size, ya[0])
            elif xa.size == 1 and np.ndim(x) == 0:
                xa = np.full(ya.size, xa[0])
            else:
                raise ValueError(f"x and y must have the same length (or one be a scalar), got "
                                 f"{xa.size} values of x and {ya.size} of y (x={plain(x)}, "
                                 f"y={plain(y)})")
        return xa, ya

    def response_time(self, policy, x, y=None):
        r"""Conditional mean response time :math:`E[T \mid X=x, Y=y]` (``y`` for
        prediction-based policies). Scalars give a float, arrays an array.

        ``x`` must be finite and > 0, ``y`` finite and >= 0, each a scalar or a 1-D sequence
        (of one length when both are sequences)."""
        scalar = np.ndim(x) == 0 and np.ndim(y) == 0
        xa, ya = self._check_xy(x, y)
        unit, m, pol = self._unit_policy(policy)
        if m != 1.0:
            # the same product as in the rescaled laws, so that atoms and pairs still match
            f = 1.0 / m
            xa = _same_side(xa, xa * f, self.size.atom_values, unit.size.atom_values)
            if ya is not None and (self.prediction is None or self.prediction.scales_with_size):
                ya = ya * f
        out = unit._response_time(pol, xa, ya) * m
        return float(out[0]) if scalar else out

    def _response_time(self, policy, xa, y):
        from ..engine import generic

        policy = self._exact_equivalent(policy)
        if y is None and policy.uses_predictions and policy.formula_form() is None:
            raise ValueError(f"policy {policy.name} needs the prediction y")
        out = policy.closed_form_response_time(self, xa, y)
        if out is None:
            out = generic.response_time(self, policy, xa, y)
        return np.asarray(np.atleast_1d(out), float)

    def response_time_distribution(self, policy, x=None, y=None):
        r"""The distribution of the response time :math:`T` under ``policy`` (of a job of size
        ``x`` when given), from its Laplace-Stieltjes transform by SOAP's decomposition and a
        numerical inversion: a scipy.stats-like object with ``cdf``, ``sf``, ``pdf``, ``ppf``
        (percentiles), ``mean``, ``var``, ``moment`` and ``laplace``.

        Available for FCFS, LAS, SJF, PSJF and SRPT (``x`` optional), for SPJF, PSPJF, SPRPT and
        TRAIL (a class: both ``x`` and ``y``; or neither: the unconditional law; one alone raises
        ``ValueError``), for PS on exponential sizes (M/M/1-PS), and for SRPT-Bounce, Gittins,
        ConditionalGittins and user ranks (``qt.Rank``) on discrete size laws and finite joint
        laws (``qt.Empirical``, ``qt.EmpiricalPairs``; Gittins also where it schedules as FB or
        FCFS). PS on other laws and the generic policies on other continuous laws raise
        ``NotImplementedError`` saying what is missing. Accuracy and speed:
        ``docs/response_time_distribution.md``."""
        from ..engine.response_distribution import response_time_distribution

        return response_time_distribution(self, policy, x, y)

    def waiting_time_distribution(self, policy, x=None, y=None):
        r"""The distribution of the time until a job first receives service (time to first
        token in LLM serving), as :meth:`response_time_distribution`."""
        from ..engine.response_distribution import waiting_time_distribution

        return waiting_time_distribution(self, policy, x, y)

    def sweep_percentiles(self, policy, loads, q=(0.5, 0.99), waiting: bool = False) -> PercentileSweep:
        r"""Percentiles of the response time (``waiting=True``: of the time until first
        service) of ``policy`` at each load in ``loads``, with the size and prediction laws of
        this model (the convention of :meth:`sweep`: at load :math:`\rho` the arrival rate is
        :math:`\rho / E[X]`).

        Each value is the quantile :math:`t_q = \inf\{t : P(T \le t) \ge q\}` of
        :meth:`response_time_distribution` (or :meth:`waiting_time_distribution`) of the model
        at that load: SOAP's transform inverted numerically, relative accuracy about 1e-9 on
        smooth laws (``docs/response_time_distribution.md``). A policy without a distribution
        raises the ``NotImplementedError`` of :meth:`response_time_distribution`. The loads are
        solved in increasing order, each quantile's solver started from the polynomial in
        :math:`-\log(1 - \rho)` through the last loads' quantiles (:func:`_continuation`), where
        one evaluation of the transform certifies most of them; the values are those of
        :meth:`ResponseTimeDistribution.ppf` from scratch to its tolerance (1e-10 relative) and
        the inversion's round-off (about 1e-9 at p99).

        Parameters
        ----------
        policy : Policy or str
        loads : sequence of float
            Loads in (0, 1).
        q : sequence of float
            Probability levels in (0, 1): 0.99 is the 99th percentile.
        waiting : bool
            The waiting time (time to first service) instead of the response time.

        Returns
        -------
        PercentileSweep
            ``values[i, j]`` the ``q[j]``-quantile at ``loads[i]``; a table, an array
            (``np.asarray``) and a figure (``.plot()``).

        Examples
        --------
        >>> import qtheory as qt
        >>> q = qt.MG1(0.5, qt.Exponential(mean=1.0))
        >>> s = q.sweep_percentiles("fcfs", [0.5, 0.8], q=[0.5, 0.99])
        >>> [round(float(v), 4) for v in s.column(0.99)]  # T ~ Exp(1 - rho): -log(0.01) / (1 - rho)
        [9.2103, 23.0259]
        """
        loads = check_loads("loads", loads)
        levels = _check_levels("q", q)
        pol = get_policy(policy)
        if not isinstance(waiting, (bool, np.bool_)):
            raise TypeError(f"waiting must be True or False, got waiting={waiting!r}")
        from ..engine.distribution import ResponseTimeDistribution

        out = np.empty((loads.size, levels.size))
        means = np.empty(loads.size)
        # the loads in increasing order, each quantile's solver started from the polynomial
        # through the previous loads' (_continuation): within 1e-4 in log t on most loads of a
        # smooth sweep, where one transform evaluation certifies it (ResponseTimeDistribution.ppf)
        hist: list[list[tuple[float, float]]] = [[] for _ in levels]
        us = -np.log1p(-loads)
        for i in np.argsort(loads, kind="stable"):
            model = self.with_load(float(loads[i]))
            d = (model.waiting_time_distribution(pol) if waiting
                 else model.response_time_distribution(pol))
            if isinstance(d, ResponseTimeDistribution):
                guess = [_continuation(h, float(us[i])) for h in hist]
                start = np.exp([g for g, _ in guess])
                vals = d.ppf(levels, start=start, start_err=[e for _, e in guess])
                atoms = [a for a, _ in d.atoms]
            else:
                vals, atoms = d.ppf(levels), []
            out[i] = np.asarray(vals, float)
            means[i] = d.mean()
            for j, v in enumerate(out[i]):
                # quantiles at an atom (a jump of the cdf) break the smooth curve
                if math.isfinite(v) and v > 0 and not any(v == a for a in atoms):
                    if not hist[j] or hist[j][-1][0] < us[i]:
                        hist[j].append((float(us[i]), math.log(v)))
                        del hist[j][:-SWEEP_POINTS]
                else:
                    hist[j].clear()
        return PercentileSweep(pol.name, loads, levels, out, bool(waiting),
                               repr(self.with_load(float(loads[0]))), means)

    def mean_slowdown(self, policy) -> float:
        r"""Mean slowdown :math:`E[T/X]` (``inf`` where it diverges)."""
        from ..engine import slowdown

        unit, _, pol = self._unit_policy(policy)
        return slowdown.mean_slowdown(unit, unit._exact_equivalent(pol, slowdown=True))

    def compare(self, policies=("fcfs", "ps", "srpt", "spjf", "pspjf", "sprpt")) -> Table:
        """A table of mean response times, one row per policy, with the ratio to SRPT."""
        policies = policy_list(policies)
        rows = []
        srpt = self.mean_response_time("srpt")
        for p in policies:
            pol = get_policy(p)
            if pol.uses_predictions and self.prediction is None:
                continue
            et = self.mean_response_time(pol)
            rows.append((pol.name, et, et / srpt))
        return Table(["policy", "E[T]", "E[T]/E[T_SRPT]"], rows,
                     title=f"M/G/1 at load {self.load:.4g}: {self.size!r}"
                           + (f", {self.prediction!r}" if self.prediction is not None else ""))


__all__ = ["MG1", "PercentileSweep"]
