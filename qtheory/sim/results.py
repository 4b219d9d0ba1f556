"""Result objects of the Monte Carlo verifier."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ..table import Table
from . import kernels as K


def t_halfwidth(values, level: float = 0.95) -> float:
    """Half-width of the Student-t confidence interval of the mean of independent ``values``."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return math.nan
    q = stats.t.ppf(0.5 + level / 2, v.size - 1)
    return float(q * v.std(ddof=1) / math.sqrt(v.size))


#: relative width of a histogram bin at its lower edge (10 mantissa bits kept: qtheory.sim._kernel_parts)
HIST_RELATIVE_WIDTH = 2.0 ** -10


def hist_percentile(hist: np.ndarray, q: float) -> float:
    r"""The ``q``-th percentile (0-100) of a response-time histogram: the smallest bin where the
    cumulative count reaches :math:`q n / 100`, interpolated linearly inside it.

    The bins are log-linear, :math:`2^{-10}` of their value wide (:func:`hist_resolution`); the
    interpolation errs by less than one bin, and by a second-order amount where the density
    is smooth over the bin."""
    n = hist.sum()
    if n == 0:
        return math.nan
    edges = K.hist_edges()
    cum = np.cumsum(hist)
    target = q / 100.0 * n
    i = int(np.searchsorted(cum, target, side="left"))
    i = min(i, hist.size - 1)
    below = cum[i] - hist[i]
    frac = 0.0 if hist[i] == 0 else (target - below) / hist[i]
    return float(edges[i] + frac * (edges[i + 1] - edges[i]))


def hist_resolution(value: float) -> float:
    r"""The width of the histogram bin holding ``value``, relative to ``value`` (between
    :math:`2^{-11}` and :math:`2^{-10}`; ``nan`` for a value that is not finite and > 0): the
    resolution of :func:`hist_percentile` there."""
    if not (math.isfinite(value) and value > 0):
        return math.nan
    edges = K.hist_edges()
    i = int(np.searchsorted(edges, value, side="right")) - 1
    if not 0 <= i < edges.size - 1:
        return math.nan
    return float((edges[i + 1] - edges[i]) / value)


def hist_sf(hist: np.ndarray, t) -> np.ndarray:
    """P(T > t) of a response-time histogram at each ``t`` (vectorised; linear inside a bin)."""
    t = np.asarray(t, float)
    n = hist.sum()
    if n == 0:
        return np.full(t.shape, np.nan)
    edges = K.hist_edges()
    cum = np.concatenate([[0], np.cumsum(hist)]) / n  # P(T < edges[i])
    below = np.interp(t, edges, cum, left=0.0, right=1.0)
    return 1.0 - below


@dataclass
class Binned:
    """Conditional mean response time in bins of the size or of the prediction.

    Attributes
    ----------
    variable : str
        ``"size"`` or ``"prediction"``.
    lo, hi : ndarray
        Bin ends (``-inf``/``inf`` at the extremes); a value equal to an inner edge falls in
        the upper bin.
    count : ndarray
        Recorded jobs per bin (all replications).
    mean_value : ndarray
        Mean size (or prediction) of the jobs in the bin.
    mean_response : ndarray
        Mean response time of the jobs in the bin.
    ci : ndarray
        95% half-width from the replications (``nan`` with fewer than 2 usable replications).
    """

    variable: str
    lo: np.ndarray
    hi: np.ndarray
    count: np.ndarray
    mean_value: np.ndarray
    mean_response: np.ndarray
    ci: np.ndarray

    def table(self) -> Table:
        name = "x" if self.variable == "size" else "y"
        rows = [(float(a), float(b), int(c), float(v), float(m), float(h)) for a, b, c, v, m, h
                in zip(self.lo, self.hi, self.count, self.mean_value, self.mean_response,
                       self.ci, strict=True)]
        return Table([f"{name} from", f"{name} to", "jobs", f"mean {name}", "E[T | bin]", "ci"],
                     rows, title=f"mean response time by {self.variable}")

    def __repr__(self):
        return str(self.table())

    def _repr_html_(self):
        return self.table()._repr_html_()


def make_binned(variable: str, inner: np.ndarray, per_rep: list[np.ndarray]) -> Binned:
    tot = np.sum(per_rep, axis=0)
    cnt = tot[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        mv = tot[:, 2] / cnt
        mt = tot[:, 1] / cnt
        rep_means = np.array([r[:, 1] / r[:, 0] for r in per_rep])
    ci = np.array([t_halfwidth(rep_means[:, b]) for b in range(cnt.size)])
    lo = np.concatenate([[-np.inf], inner])
    hi = np.concatenate([inner, [np.inf]])
    return Binned(variable, lo, hi, cnt.astype(np.int64), mv, mt, ci)


@dataclass
class SimResult:
    """Outcome of :func:`qtheory.sim.simulate`.

    Attributes
    ----------
    policy : str
        Policy name.
    mean, ci : float
        Mean response time E[T] and the half-width of its 95% confidence interval (Student t
        over the independent replications).
    slowdown, slowdown_ci : float
        Mean slowdown E[T/X] and its 95% half-width.
    percentiles, percentile_ci : dict
        Response-time percentiles ``{50: ..., 90: ..., 99: ...}`` (the levels asked for with
        ``simulate(..., percentiles=...)``), each from the histogram of all replications, and
        the 95% Student-t half-widths of the mean of the replications' own percentiles.
    percentile_resolution : dict
        For each percentile, the width of its histogram bin relative to it (about 1e-3): the
        estimate's resolution, to compare with ``percentile_ci`` (:func:`hist_resolution`).
    by_size, by_prediction : Binned
        Conditional mean response time in quantile bins of the size and of the prediction
        (``by_prediction`` is None when the model has no prediction law).
    jobs : int
        Arrivals tracked (warm-up included), over all replications.
    jobs_recorded : int
        Jobs in the statistics (after the warm-up).
    replications : int
    replication_means : ndarray
        Mean response time of each replication.
    wall_time : float
        Seconds.
    servers : int
    speed : float
        Speed of each server.
    seed : int or SeedSequence
        Entropy of the root ``numpy.random.SeedSequence`` (the sequence itself when it was a
        spawned child); pass it as ``seed`` to reproduce the run.
    response_times, sizes, predictions : ndarray or None
        Per-job values of the recorded jobs of all replications, in arrival order within each
        replication (only with ``keep_jobs=True``).
    """

    policy: str
    mean: float
    ci: float
    slowdown: float
    slowdown_ci: float
    percentiles: dict
    percentile_ci: dict
    by_size: Binned
    by_prediction: Binned | None
    jobs: int
    jobs_recorded: int
    replications: int
    replication_means: np.ndarray
    wall_time: float
    servers: int = 1
    speed: float = 1.0
    seed: object = None
    model: str = ""
    note: str = ""
    percentile_resolution: dict = field(default_factory=dict)
    response_times: np.ndarray | None = field(default=None, repr=False)
    sizes: np.ndarray | None = field(default=None, repr=False)
    predictions: np.ndarray | None = field(default=None, repr=False)
    _hist: np.ndarray | None = field(default=None, repr=False)

    def percentile(self, q: float) -> float:
        """Any percentile ``q`` in [0, 100] of the response time (from the pooled histogram;
        without a confidence interval: ask for the level with ``simulate(..., percentiles=...)``
        to get one)."""
        if self._hist is None:
            raise ValueError("this result has no response-time histogram (the CUDA backend "
                             "estimates means only)")
        return hist_percentile(self._hist, q)

    def sf(self, t):
        """The empirical P(T > t) of the response time at each ``t`` (vectorised), from the
        pooled histogram of all replications (resolution :func:`hist_resolution`)."""
        if self._hist is None:
            raise ValueError("this result has no response-time histogram (the CUDA backend "
                             "estimates means only)")
        out = hist_sf(self._hist, t)
        return out if out.ndim else float(out)

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.wall_time if self.wall_time > 0 else math.inf

    def summary(self) -> Table:
        rows = [("E[T]", self.mean, self.ci), ("E[T/X]", self.slowdown, self.slowdown_ci)]
        for q, v in self.percentiles.items():
            rows.append((f"p{q:g}", v, self.percentile_ci.get(q, math.nan)))
        srv = f", {self.servers} servers of speed {self.speed:g}" if self.servers > 1 else ""
        return Table(["quantity", "estimate", "95% ci"], rows,
                     title=f"{self.policy}: {self.jobs:,} jobs in {self.replications} "
                           f"replications{srv} ({self.wall_time:.2f} s)")

    def __repr__(self):
        p = ", ".join(f"p{q:g}={v:.4g}" for q, v in self.percentiles.items())
        return (f"SimResult({self.policy}: E[T] = {self.mean:.6g} ± {self.ci:.2g}, "
                f"E[T/X] = {self.slowdown:.4g} ± {self.slowdown_ci:.2g}, {p}; "
                f"{self.jobs:,} jobs, {self.replications} replications, "
                f"{self.wall_time:.2f} s)")

    def _repr_html_(self):
        return self.summary()._repr_html_()

def _sim_float(self) -> float:
    """The estimated mean response time (``mean``)."""
    return float(self.mean)


SimResult.__float__ = _sim_float
SimResult.value = property(_sim_float, doc="The estimated mean response time (``mean``), as ``float(result)``.")


@dataclass
class VerifyResult:
    """Outcome of :func:`qtheory.sim.verify`: a formula against a simulation.

    ``passed`` is True when the formula lies in ``estimate ± ci``, or, when the interval is
    narrower than ``rtol * formula``, when the relative gap is within ``rtol`` (so that a very
    long simulation does not fail a formula on a tiny numerical bias).  With a 95% interval a
    correct formula still fails about one run in twenty at small job counts.
    """

    policy: str
    formula: float
    estimate: float
    ci: float
    jobs: int
    gap: float
    passed: bool
    rtol: float
    sim: SimResult | None = field(default=None, repr=False)
    #: when no exact value exists (multiserver models): the bracket ``[lower, upper]`` that the
    #: estimate was checked against, and how it was obtained; ``formula`` is then NaN
    lower: float | None = None
    upper: float | None = None
    method: str = ""

    @property
    def verdict(self) -> str:
        return "PASSED" if self.passed else "FAILED"

    def __repr__(self):
        if self.lower is not None:
            return (f"{self.policy}: bounds [{self.lower:.6g}, {self.upper:.6g}] ({self.method}), "
                    f"simulation {self.estimate:.6g} ± {self.ci:.2g} ({self.jobs:,} jobs) {self.verdict}")
        return (f"{self.policy}: formula {self.formula:.6g}, simulation {self.estimate:.6g} "
                f"± {self.ci:.2g} ({self.jobs:,} jobs, gap {self.gap:+.3%}) {self.verdict}")

    def __bool__(self):
        return self.passed

    @property
    def value(self) -> float:
        """The simulated mean response time ``estimate`` (``float(result)``)."""
        return float(self.estimate)

    def __float__(self) -> float:
        """The simulated mean response time (``estimate``); the formula is ``formula``."""
        return float(self.estimate)

    def _repr_html_(self):
        color = "#1a7f37" if self.passed else "#cf222e"
        text = html.escape(repr(self)[: -len(self.verdict)])
        return f"<span>{text}<b style='color:{color}'>{self.verdict}</b></span>"


def judge_bracket(lower: float, upper: float, estimate: float, ci: float) -> bool:
    """True when the interval ``estimate ± ci`` meets ``[lower, upper]``: the bounds are not
    contradicted by the simulation."""
    return bool(lower <= estimate + ci and estimate - ci <= upper)


def judge(formula: float, estimate: float, ci: float, rtol: float) -> tuple[float, bool]:
    """Relative gap and verdict (see :class:`VerifyResult`)."""
    gap = (estimate - formula) / formula if formula != 0 else estimate - formula
    err = abs(estimate - formula)
    ok = bool(err <= ci) if math.isfinite(ci) else False
    if not ok and (not math.isfinite(ci) or ci < rtol * abs(formula)):
        ok = bool(err <= rtol * abs(formula))
    return gap, ok
