r"""LLM serving: SPRPT with limited preemption (TRAIL), its memory cost, preemption and
prediction costs.

Batching models (continuous batching as processor sharing, dynamic batching, prefill as M/D/1,
KV-memory stability) are in :mod:`qtheory.llm.batching`; their names are re-exported here.

**Limited preemption** (TRAIL; Shahout, Malach, Liu, Jiang, Yu, Mitzenmacher, "Don't Stop Me
Now: Embedding Based Scheduling for LLMs", ICLR 2025, arXiv:2410.01035): a job with prediction
:math:`y` may be preempted only while its age is below :math:`c\,y`; its SOAP rank is

.. math:: r(y, a) = y - a \quad (a < c\,y), \qquad r(y, a) = -\infty \quad (a \ge c\,y).

``c = 0`` is SPJF (non-preemptive), ``c = 1`` is SPRPT. With
:math:`A_<(v) = E[X 1\{Y<v\}]`, :math:`A_\le(v) = E[X 1\{Y \le v\}]`,
:math:`B(y) = E[X^2 1\{Y \le y\}]`, :math:`b_c(Y; y) = \min(Y - y, cY)` and
:math:`C_c(y) = E[((X - b_c(Y; y))^+)^2\, 1\{Y > y\}]`, the SOAP theorem (Scully,
Harchol-Balter, Scheller-Wolf, POMACS 2018) gives (our derivation; the TRAIL paper prints
its own closed form for this policy)

.. math::
    E[T \mid x, y] = \frac{\lambda (B(y) + C_c(y))}{2(1-\lambda A_\le(y))(1-\lambda A_<(y))}
      + \int_0^{\min(x, c y)} \frac{dt}{1 - \lambda A_<(y - t)} + (x - c y)^+ .

Averaged over the joint law, the middle term is
:math:`\int_0^\infty G_c(v)/(1-\lambda A_<(v))\,dv` with
:math:`G_c(v) = P(Y > v) - P(\max(Y - X, (1-c) Y) > v)`. The rank is non-increasing in age,
so the first term is the waiting time until first service and the rest the residence time.
Little's law and the SOAP residence argument then give the memory held by paused (preempted,
waiting) jobs exactly:

.. math::
    E[N_{paused}] = \lambda\,(E[T] - E[\text{waiting}] - E[X]), \qquad
    E\Big[\sum_{\text{paused}} \text{age}\Big] = \lambda\, E\Big[\int_0^{\min(X, cY)}
       t\, \frac{\lambda A_<(Y-t)}{1-\lambda A_<(Y-t)}\,dt\Big],

and the mean number of preemptions of a job is
:math:`\lambda E[\int_0^{\min(X,cY)} P(Y' < Y - t)\,dt]`.

Evaluation routes (:func:`limited_preemption`): discrete laws (``Empirical`` sizes with
perfect predictions, ``EmpiricalPairs``) are summed exactly (the old-work sum costs
O(#distinct predictions x #pairs)); sizes with perfect or multiplicative predictions
(:math:`Y = XZ`; continuous sizes, or discrete ones with at most :data:`MAX_SPLIT_ATOMS` atoms)
use the size law's exact partial moments inside a Gauss-Legendre rule over :math:`Z`, split at
:math:`z = 1`, :math:`z = 1/c` and, per threshold, wherever a size-law breakpoint makes the
integrand kink or jump, on the same prediction grid as the SPRPT closed form (c = 0 and c = 1
agree with the SPJF and SPRPT closed forms to 1e-8 or better in the tests). Other joint laws go
through the generic SOAP evaluator (:mod:`qtheory.engine.generic`).

``qt.MG1(...).mean_response_time(qt.TRAIL(c))`` uses the same closed form, through the
policy's ``closed_form_mean`` and ``closed_form_response_time`` hooks (the generic evaluator
only where :func:`limited_preemption` falls back on it); ``sim_policy()`` serves
:func:`qtheory.simulate`. The policy is named ``TRAIL(c=...)`` in reprs and tables, and
``"trail"`` (c = 0.8) or ``"trail-0.5"`` by name (:func:`qtheory.policies.get_policy`, the
command line's ``--policies``).

Derivation: ``docs/limited_preemption.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
from numba import njit

from .._validation import in_range, nonnegative, one_value
from ..laws._quadrature import log_edges, panels
from ..laws.joint import EmpiricalJoint, FactorJoint, PerfectJoint
from ..policies.trail import TRAIL, LimitedPreemption
from ._model import _arrival_rates, _mg1
from .batching import (
    BatchSimResult,
    capped_batching,
    continuous_batching_distribution,
    continuous_batching_mean,
    dynamic_batching,
    dynamic_batching_bounds,
    kv_lifetime_demand,
    kv_stability_rate,
    prefill_md1,
    simulate_continuous_batching,
    simulate_dynamic_batching,
    simulate_kv_memory,
    token_budget_capacity,
)
from .simulation import LLMSimResult, simulate_limited_preemption
from .skip_predict import SkipPredictResult, simulate_skip_predict, skip_predict_external

__all__ = [
    "LimitedPreemption",
    "TRAIL",
    "LimitedPreemptionResult",
    "limited_preemption",
    "limited_preemption_response_time",
    "preemption_overhead",
    "SkipPredictResult",
    "skip_predict_external",
    "simulate_limited_preemption",
    "simulate_skip_predict",
    "continuous_batching_mean",
    "continuous_batching_distribution",
    "capped_batching",
    "dynamic_batching",
    "dynamic_batching_bounds",
    "prefill_md1",
    "token_budget_capacity",
    "kv_stability_rate",
    "kv_lifetime_demand",
    "simulate_continuous_batching",
    "simulate_dynamic_batching",
    "simulate_kv_memory",
    "BatchSimResult",
    "LLMSimResult",
]


# ============================================================================================
# The policy
# ============================================================================================


# ============================================================================================
# Closed form
# ============================================================================================
@dataclass
class LimitedPreemptionResult:
    r"""Exact quantities of SPRPT with limited preemption, one entry per load.

    With one load (``loads`` omitted or a single number) every per-load field is a float;
    with a sequence of loads, an array with one entry per load. ``float(result)`` is the mean
    response time at one load.

    Attributes
    ----------
    c : float
    load : float or ndarray
    mean : float or ndarray
        :math:`E[T]`.
    waiting : float or ndarray
        Mean time until first service.
    residence : float or ndarray
        Mean time from first service to the end of the preemptible phase (age :math:`cY`).
    tail : float
        :math:`E[(X - cY)^+]`, the non-preemptible remainder (load-free).
    paused_jobs : float or ndarray
        :math:`E[N_{paused}]`, the time-average number of preempted jobs waiting.
    paused_age : float or ndarray
        Time-average total age of paused jobs (KV tokens held, in units of size).
    preemptions : float or ndarray
        Mean number of preemptions per job.
    exact : bool
        False when the generic evaluator was used (only ``mean`` is filled then).
    """

    c: float
    load: np.ndarray
    mean: np.ndarray
    waiting: np.ndarray
    residence: np.ndarray
    tail: float
    paused_jobs: np.ndarray
    paused_age: np.ndarray
    preemptions: np.ndarray
    exact: bool = True
    route: str = ""
    extra: dict = field(default_factory=dict)

    def __repr__(self):
        return (f"LimitedPreemptionResult(c={self.c:g}, load={np.round(self.load, 6).tolist()}, "
                f"mean={np.round(self.mean, 6).tolist()}, route={self.route!r})")

    @property
    def value(self) -> float:
        """E[T] at the one load evaluated (``float(result)``)."""
        return float(self)

    def __float__(self) -> float:
        return one_value(self, self.mean, "mean")

    def table(self):
        """The per-load quantities as a :class:`qtheory.table.Table`."""
        from ..table import Table

        cols = ["load", "E[T]", "waiting", "residence", "paused jobs", "paused age", "preemptions"]
        fields = (self.load, self.mean, self.waiting, self.residence, self.paused_jobs,
                  self.paused_age, self.preemptions)
        rows = zip(*(np.atleast_1d(np.asarray(f, float)).tolist() for f in fields), strict=True)
        return Table(cols, rows, title=f"TRAIL(c={self.c:g}), route {self.route!r}"
                                       + ("" if self.exact else " (generic evaluator)"))

    def _repr_html_(self) -> str:
        return self.table()._repr_html_()

    def _one(self) -> LimitedPreemptionResult:
        """The result with its per-load fields as floats (one load)."""
        names = ("load", "mean", "waiting", "residence", "paused_jobs", "paused_age", "preemptions")
        vals = {k: float(np.asarray(getattr(self, k), float).reshape(-1)[0]) for k in names}
        extra = {k: (float(np.asarray(v).reshape(-1)[0]) if np.size(v) == 1 else v)
                 for k, v in self.extra.items()}
        return replace(self, extra=extra, **vals)


def _unit_model(model, c: float):
    """``(unit, m)``: the model rescaled to mean size 1 and its time unit ``m`` (see
    :meth:`qtheory.MG1.mean_response_time`), or ``(model, 1.0)`` where it cannot be rescaled
    (a law without ``rescaled``, or one-bit labels compared with ages)."""
    unit, m = model._unit()
    if unit is model:
        return model, 1.0
    f = 1.0 / m
    scales = model.prediction is None or model.prediction.scales_with_size
    if LimitedPreemption(c).rescaled(f, f if scales else 1.0) is None:
        return model, 1.0
    return unit, m


# ---- discrete pairs: exact sums -------------------------------------------------------------
@njit(cache=True)
def _cc_discrete(q, x, y, w, c):
    """C_c(q) = sum_i w_i ((x_i - min(y_i - q, c y_i))^+)^2 1{y_i > q}, for each q."""
    out = np.zeros(q.size)
    for k in range(q.size):
        v = q[k]
        s = 0.0
        for i in range(x.size):
            if y[i] > v:
                b = y[i] - v
                cb = c * y[i]
                if cb < b:
                    b = cb
                r = x[i] - b
                if r > 0:
                    s += w[i] * r * r
        out[k] = s
    return out


class _Pairs:
    """A discrete joint law as pairs (x_i, y_i, w_i): every SOAP quantity is a finite sum."""

    def __init__(self, x, y, w):
        self.x, self.y, self.w = (np.ascontiguousarray(a, dtype=float) for a in (x, y, w))
        self.mean = float(np.sum(self.w * self.x))
        self.m2 = float(np.sum(self.w * self.x ** 2))
        u, inv = np.unique(self.y, return_inverse=True)
        self.u = u
        self.pu = np.bincount(inv, weights=self.w, minlength=u.size)
        self.xu = np.bincount(inv, weights=self.w * self.x, minlength=u.size)
        self.x2u = np.bincount(inv, weights=self.w * self.x ** 2, minlength=u.size)
        self.cum1 = np.concatenate([[0.0], np.cumsum(self.xu)])  # E[X; Y <= u_{k-1}]
        self.cum0 = np.concatenate([[0.0], np.cumsum(self.pu)])

    def A_lt(self, v):
        return self.cum1[np.searchsorted(self.u, v, side="left")]

    def A_le(self, v):
        return self.cum1[np.searchsorted(self.u, v, side="right")]

    def B(self, v):
        c2 = np.concatenate([[0.0], np.cumsum(self.x2u)])
        return c2[np.searchsorted(self.u, v, side="right")]

    def C(self, v, c):
        return _cc_discrete(np.atleast_1d(np.asarray(v, float)), self.x, self.y, self.w, c)

    def _segments(self, lam, base=0.0):
        """Left ends and constant values of h(w) = 1 / (1 - base - lam A_<(w)) on (u_{k-1}, u_k]."""
        left = np.concatenate([[0.0], self.u])
        a = self.cum1  # A_< on (left_k, left_{k+1}]
        return left, 1.0 / (1.0 - base - lam * a)

    def integrals(self, lam, lo, hi, base=0.0):
        r"""For each i: :math:`\int_{lo}^{hi} h`, :math:`\int_{lo}^{hi} (hi - w)(h(w) - 1) dw`
        and :math:`\int_{lo}^{hi} P(Y < w) dw` (exact, piecewise constant integrands)."""
        left, h = self._segments(lam, base)
        right = np.concatenate([self.u, [np.inf]])
        f0 = self.cum0  # P(Y < w) on (left_k, left_{k+1}]
        # prefix integrals at the left ends
        length = np.diff(np.concatenate([left, [left[-1]]]))[:-1]
        H0 = np.concatenate([[0.0], np.cumsum(h[:-1] * length)])
        H1 = np.concatenate([[0.0], np.cumsum((h[:-1] - 1.0) * (right[:-1] ** 2 - left[:-1] ** 2) / 2)])
        Hm = np.concatenate([[0.0], np.cumsum((h[:-1] - 1.0) * length)])
        F0 = np.concatenate([[0.0], np.cumsum(f0[:-1] * length)])
        F1 = np.concatenate([[0.0], np.cumsum(f0[:-1] * (right[:-1] ** 2 - left[:-1] ** 2) / 2)])

        def at(v):
            k = np.clip(np.searchsorted(self.u, v, side="left"), 0, self.u.size)
            d = v - left[k]
            sq = (v * v - left[k] ** 2) / 2
            return (H0[k] + h[k] * d, Hm[k] + (h[k] - 1.0) * d, H1[k] + (h[k] - 1.0) * sq,
                    F0[k] + f0[k] * d, F1[k] + f0[k] * sq)

        a0, am0, a10, p0, q0 = at(lo)
        a1, am1, a11, p1, q1 = at(hi)
        res = a1 - a0
        age = hi * (am1 - am0) - (a11 - a10)
        pre_age = hi * (p1 - p0) - (q1 - q0)
        return res, age, p1 - p0, pre_age


def _limited_discrete(pairs: _Pairs, c: float, lams: np.ndarray) -> dict:
    x, y, w = pairs.x, pairs.y, pairs.w
    u = pairs.u
    Cc = pairs.C(u, c)
    Bu = pairs.B(u)
    le, lt = pairs.A_le(u), pairs.A_lt(u)
    m = np.minimum(x, c * y)
    tail = float(np.sum(w * np.maximum(x - c * y, 0.0)))
    out = {k: np.empty(lams.size) for k in ("wait", "res", "age", "pre", "pre_age")}
    for i, lam in enumerate(lams):
        out["wait"][i] = np.sum(pairs.pu * lam * (Bu + Cc) / (2 * (1 - lam * le) * (1 - lam * lt)))
        r, a, p, pa = pairs.integrals(lam, y - m, y)
        out["res"][i] = np.sum(w * r)
        out["age"][i] = lam * np.sum(w * a)
        out["pre"][i] = lam * np.sum(w * p)
        out["pre_age"][i] = lam * np.sum(w * pa)
    out["tail"] = tail
    out["mean_x"] = pairs.mean
    return out


# ---- continuous laws: the z-rule route ------------------------------------------------------
#: discrete sizes with at most this many atoms keep the z-rule route (one split per atom)
MAX_SPLIT_ATOMS = 64


def _z_edges(factor, c: float) -> np.ndarray:
    """Panel edges in log z for the factor law, with the kinks z = 1 and z = 1/c."""
    zlo, zhi = factor.log_range()
    kinks = [k for k in factor.kinks if k > 0] + [1.0] + ([1.0 / c] if c > 0 else [])
    lo, hi = math.exp(zlo), math.exp(zhi)
    try:
        bulk = (math.exp(factor.log_range_q(1e-6)), math.exp(factor.log_range_q(1 - 1e-6)))
    except Exception:  # noqa: BLE001 - laws without a usable quantile
        bulk = None
    width = min(0.25, factor.log_spread() / 8)
    return log_edges(lo, hi, width, kinks, bulk=bulk)


def _z_rule(factor, c: float, size=None, v=None):
    r"""Nodes and weights for :math:`E_Z[g(Z)]`, shape ``(len(v), n)``: Gauss-Legendre panels in
    :math:`\log z`, split per threshold ``v`` where the size-law integrands have kinks or jumps
    (:math:`v/z`, :math:`v/((1-c) z)` or :math:`v/(z-1)` crossing a breakpoint of the size law)."""
    base = _z_edges(factor, c)
    v = np.atleast_1d(np.asarray(1.0 if v is None else v, float))
    bps = np.empty(0) if size is None else np.asarray(size.breakpoints, float)
    bps = bps[np.isfinite(bps) & (bps > 0)]
    if bps.size:
        V = v[:, None]
        B = bps[None, :]
        with np.errstate(divide="ignore"):
            cand = [np.log(V / B), np.log1p(V / B)]
            if c < 1:
                cand.append(np.log(V / ((1.0 - c) * B)))
        spl = np.clip(np.concatenate(cand, axis=1), base[0], base[-1])
        edges = np.sort(np.concatenate([np.broadcast_to(base, (v.size, base.size)), spl], axis=1),
                        axis=1)
    else:
        edges = np.broadcast_to(base, (v.size, base.size))
    u, wu = panels(edges)
    z = np.exp(u)
    return z, wu * z * factor.pdf(z)


def _between(size, k, a, b):
    """E[X^k 1{a < X <= b}] (0 where b <= a), from tail moments (no cancellation)."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    ok = b > a
    if math.isinf(size.moment(k)):
        # tail moments are infinite (inf - inf): difference of the finite partial moments, and
        # inf for an unbounded window
        fin = np.isfinite(b) & ok
        pa = size.partial_moment(k, np.where(ok, a, 0.0))
        pb = size.partial_moment(k, np.where(fin, b, 0.0))
        return np.where(ok, np.where(fin, np.maximum(pb - pa, 0.0), np.inf), 0.0)
    ta = size.tail_moment(k, np.where(ok, a, 0.0))
    tb = np.where(np.isfinite(b) & ok, size.tail_moment(k, np.where(np.isfinite(b) & ok, b, 1.0)), 0.0)
    return np.where(ok, ta - tb, 0.0)


def _pieces_z(size, z, wz, c, v):
    r"""C_c(v), G_c(v), K_c(v) = E[(Y - v) 1{window}], P(Y < v) for Y = X Z (Z on a rule)."""
    V = np.asarray(v, float)[:, None]
    Z = z if z.ndim == 2 else z[None, :]
    u1 = V / Z
    with np.errstate(divide="ignore", invalid="ignore"):
        u2 = V / ((1.0 - c) * Z) if c < 1 else np.full(u1.shape, np.inf)
        top = np.where(Z > 1, V / np.where(Z > 1, Z - 1.0, 1.0), np.inf)
    hi = np.minimum(u2, top)
    m0, m1, m2 = (_between(size, k, u1, hi) for k in (0, 1, 2))
    om = 1.0 - Z
    with np.errstate(invalid="ignore"):
        # at Z = 1 the (1 - Z) terms vanish even where the window's moments are infinite
        t1 = np.where(om == 0, 0.0, om * om * m2 + 2 * V * om * m1) + V * V * m0
    coef = np.maximum(1.0 - c * Z, 0.0) ** 2
    if c < 1:
        t2 = coef * np.where(np.isfinite(u2), size.tail_moment(2, np.where(np.isfinite(u2), u2, 1.0)), 0.0)
    else:
        t2 = 0.0
    C = ((np.maximum(t1, 0.0) + t2) * wz).sum(1)
    G = (m0 * wz).sum(1)
    K = ((Z * m1 - V * m0) * wz).sum(1)
    FY = (size.cdf(u1) * wz).sum(1)
    return C, G, np.maximum(K, 0.0), FY


def _pieces_perfect(size, c, v):
    v = np.asarray(v, float)
    with np.errstate(divide="ignore"):
        u2 = v / (1.0 - c) if c < 1 else np.full(v.shape, np.inf)
    m0, m1 = _between(size, 0, v, u2), _between(size, 1, v, u2)
    t2 = (1 - c) ** 2 * np.where(np.isfinite(u2), size.tail_moment(2, np.where(np.isfinite(u2), u2, 1.0)), 0.0)
    C = v * v * m0 + t2
    return C, m0, np.maximum(m1 - v * m0, 0.0), size.cdf(v) if not size.is_discrete else None


def _limited_continuous(joint, c: float, lams: np.ndarray) -> dict:
    size = joint.size
    if isinstance(joint, FactorJoint) and 0 < c < 1 and size.breakpoints.size:
        # the window v/Z < X <= min(v/((1 - c) Z), v/(Z - 1)) makes the integrands kink at
        # v = b k (1 - c) (the factor's kinks k) and at v = b (1 - c)/c (where the two upper ends
        # cross, at Z = 1/c) for the size law's breakpoints b: a prediction grid with those edges
        joint = FactorJoint(size, joint.factor,
                            v_scales=tuple(k * (1.0 - c) for k in joint.factor.kinks) + ((1.0 - c) / c,))
    if isinstance(joint, PerfectJoint) and 0 < c < 1 and not size.is_discrete and size.breakpoints.size:
        # the window (v, v/(1 - c)] kinks where its upper end crosses a breakpoint b of the
        # size law: v = b (1 - c) (Uniform(1, 3) at load 0.8, c = 0.3: 7e-5 off without it)
        joint = PerfectJoint(size, v_scales=(1.0 - c,))
    v = joint.v
    if isinstance(joint, PerfectJoint):
        C, G, K, FY = _pieces_perfect(size, c, v)
        tail = (1.0 - c) * joint.mean
    else:
        parts = []
        for i in range(0, v.size, 128):
            z, wz = _z_rule(joint.factor, c, size, v[i:i + 128])
            parts.append(_pieces_z(size, z, wz, c, v[i:i + 128]))
        C, G, K, FY = (np.concatenate([p[k] for p in parts]) for k in range(4))
        z, wz = _z_rule(joint.factor, c)
        tail = joint.mean * float(np.sum(wz * np.maximum(1.0 - c * z, 0.0)))
    B = joint.B_v
    le, lt = joint.A_le_v, joint.A_lt_v
    out = {k: np.empty(lams.size) for k in ("wait", "res", "age", "pre", "pre_age")}
    for i, lam in enumerate(lams):
        out["wait"][i] = np.sum(joint.w_prob * lam * (B + C) / (2 * (1 - lam * le) * (1 - lam * lt)))
        h = 1.0 / (1.0 - lam * lt)
        out["res"][i] = np.sum(joint.w_dv * G * h)
        out["age"][i] = lam * np.sum(joint.w_dv * K * (h - 1.0))
        out["pre"][i] = lam * np.sum(joint.w_dv * G * FY)
        out["pre_age"][i] = lam * np.sum(joint.w_dv * K * FY)
    out["tail"] = tail
    out["mean_x"] = joint.mean
    return out


def _route(model):
    """('pairs', _Pairs) for discrete laws, ('continuous', joint) or ('generic', None)."""
    if model.prediction is None:
        raise ValueError("limited preemption schedules by predictions: pass a model with "
                         "prediction=... (e.g. qt.ExponentialPrediction())")
    j = model.prediction.joint(model.size)
    if isinstance(j, EmpiricalJoint):
        return "pairs", _Pairs(j.x, j.y, j.w)
    if isinstance(j, PerfectJoint):
        s = model.size
        if s.is_discrete:
            return "pairs", _Pairs(s.atom_values, s.atom_values, s.atom_probs)
        return "continuous", j
    if isinstance(j, FactorJoint) and (not model.size.is_discrete
                                       or model.size.atom_values.size <= MAX_SPLIT_ATOMS):
        return "continuous", j
    return "generic", None


def _excess(model) -> float:
    """E[(X - Y)^+] of the model's joint law."""
    return float(model.prediction.joint(model.size).excess)


def limited_preemption(model, c: float = 0.8, loads=None) -> LimitedPreemptionResult:
    r"""Exact mean response time and memory held by SPRPT with limited preemption (TRAIL).

    Derivation: ``docs/limited_preemption.md`` (sections 2 and 3).

    Parameters
    ----------
    model : qtheory.MG1
        Arrival rate, size law and prediction law.
    c : float
        Preemptible fraction of the prediction, ``0 <= c <= 1``.
    loads : sequence of float, optional
        Loads :math:`\rho = \lambda E[X]` (default: the model's own load).

    Returns
    -------
    LimitedPreemptionResult
        Floats for one load (``loads`` omitted or a number), arrays for a sequence of loads.
        See the module docstring for the formulas (SOAP, Scully et al. 2018; TRAIL, Shahout et
        al. ICLR 2025). Joint laws outside the exact routes (one-bit advice, factor maps,
        discrete sizes with continuous multiplicative errors) fall back to the generic
        evaluator and fill only ``mean`` (``exact=False``).
    """
    model = _mg1(model, "limited_preemption")
    c = in_range("c", c, 0.0, 1.0)
    r = _limited_preemption(model, c, loads)
    return r._one() if loads is None or np.ndim(loads) == 0 else r


def _limited_preemption(model, c: float, loads) -> LimitedPreemptionResult:
    """:func:`limited_preemption` with array fields (one entry per load)."""
    lams = _arrival_rates(model, loads)
    unit, m = _unit_model(model, c)
    if unit is not model:  # evaluate at mean size 1, then times (and ages) back in the model's unit
        r = _limited_preemption(unit, c, loads)
        extra = {k: v * m for k, v in r.extra.items()}
        return replace(r, mean=r.mean * m, waiting=r.waiting * m, residence=r.residence * m,
                       tail=r.tail * m, paused_age=r.paused_age * m, extra=extra)
    kind, obj = _route(model)
    if kind == "generic":
        from ..engine import generic

        r = generic.evaluate(model, LimitedPreemption(c), lams)
        nan = np.full(lams.size, np.nan)
        return LimitedPreemptionResult(c, lams * model.size.mean, r.mean, nan, nan, math.nan, nan,
                                       nan, nan, exact=r.exact, route="generic",
                                       extra={"error": r.error})
    if math.isinf(model.size.moment(2)) and (c < 1 or _excess(model) > 0):
        # C_c(y) holds E[((X - cY)^+)^2 ...] (c < 1) or E[((X - Y)^+)^2 ...] (c = 1): infinite
        inf = np.full(lams.size, np.inf)
        return LimitedPreemptionResult(c, lams * model.size.mean, inf, inf, inf, math.nan, inf,
                                       inf, inf, route=kind)
    d = _limited_discrete(obj, c, lams) if kind == "pairs" else _limited_continuous(obj, c, lams)
    mean = d["wait"] + d["res"] + d["tail"]
    paused = lams * (d["res"] + d["tail"] - d["mean_x"])
    return LimitedPreemptionResult(c, lams * model.size.mean, mean, d["wait"], d["res"], d["tail"],
                                   np.maximum(paused, 0.0), d["age"], d["pre"], route=kind,
                                   extra={"preempted_age": d["pre_age"]})


def preemption_overhead(model, c: float = 0.8, s0: float = 0.0, s1: float = 0.0, loads=None) -> dict:
    r"""Server time spent on preemption costs under limited preemption, and the resulting load.

    A job resuming after a preemption at age :math:`t` first needs :math:`s_0 + s_1 t` of
    non-preemptible server time (KV recompute: :math:`s_1` per generated token; swap-in: the
    transfer time). Preemptions of a job happen only at arrivals during its own service at ages
    :math:`t < \min(x, c y)` with a prediction below :math:`y - t`, and that service is not changed
    by the costs, so **exactly** (for any cost)

    .. math::
        E[\text{overhead}] = \lambda\, E\Big[\int_0^{\min(X, cY)} (s_0 + s_1 t)\,
            P(Y' < Y - t)\, dt\Big], \qquad
        \rho_{eff} = \lambda (E[X] + E[\text{overhead}]),

    and the queue with costs is stable iff :math:`\rho_{eff} < 1`. The mean response time with
    costs has no closed form here: use :func:`simulate_limited_preemption` with ``setup=(s0, s1)``.
    (Swap instead holds memory: the exact paused-age of :func:`limited_preemption`.)

    Derivation: ``docs/limited_preemption.md`` (section 4).

    Returns
    -------
    dict
        ``preemptions`` (per job), ``preempted_age`` (mean sum of ages at preemption per job),
        ``overhead`` (mean extra work per job), ``effective_load``, ``stable``.
    """
    model = _mg1(model, "preemption_overhead")
    s0 = nonnegative("s0", s0)
    s1 = nonnegative("s1", s1)
    r = _limited_preemption(model, in_range("c", c, 0.0, 1.0), loads)
    if not r.exact:
        raise NotImplementedError("preemption_overhead needs an exact route (discrete laws, or "
                                  "continuous sizes with perfect or multiplicative predictions)")
    pa = r.extra["preempted_age"]
    over = s0 * r.preemptions + s1 * pa
    lams = r.load / model.size.mean
    eff = lams * (model.size.mean + over)
    return {"preemptions": r.preemptions, "preempted_age": pa, "overhead": over,
            "effective_load": eff, "stable": eff < 1}


def limited_preemption_response_time(model, c: float, x, y):
    r"""Conditional mean :math:`E[T \mid X = x, Y = y]` under limited preemption (formula of the
    module docstring; exact for discrete laws, quadrature for continuous ones).

    Derivation: ``docs/limited_preemption.md`` (section 2).
    """
    model = _mg1(model, "limited_preemption_response_time")
    c = in_range("c", c, 0.0, 1.0)
    if y is None:
        raise ValueError("y (the prediction) is required: limited preemption ranks by it")
    x, y = model._check_xy(x, y)
    unit, m = _unit_model(model, c)
    if unit is not model:
        f = 1.0 / m  # the product used by the rescaled laws, so that atoms still match
        return limited_preemption_response_time(unit, c, x * f, y * f) * m
    lam = model.arrival_rate
    kind, obj = _route(model)
    if kind == "generic":
        from ..engine import generic

        return generic.response_time(model, LimitedPreemption(c), x, y)
    if kind == "continuous" and math.isinf(model.size.moment(2)) and (c < 1 or _excess(model) > 0):
        # C_c(y) holds E[((X - b_c)^+)^2; Y > y] with X - b_c >= X (1 - c Z) or X - Y > 0 on an
        # unbounded range of X: infinite for every y, as in limited_preemption (not inf - inf)
        return np.full(x.shape, np.inf)
    if kind == "pairs":
        Cc = obj.C(y, c)
        B, le, lt = obj.B(y), obj.A_le(y), obj.A_lt(y)
        res = obj.integrals(lam, y - np.minimum(x, c * y), y)[0]
    else:
        j = obj
        if isinstance(j, PerfectJoint):
            Cc = _pieces_perfect(j.size, c, y)[0]
        else:
            z, wz = _z_rule(j.factor, c, j.size, y)
            Cc = _pieces_z(j.size, z, wz, c, y)[0]
        B, le, lt = j.B(y), j.A_le(y), j.A_lt(y)
        res = j.H_many(y - np.minimum(x, c * y), y, lam)
    wait = lam * (B + Cc) / (2 * (1 - lam * le) * (1 - lam * lt))
    return wait + res + np.maximum(x - c * y, 0.0)
