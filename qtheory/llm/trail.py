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

from .._validation import in_range, integer, nonnegative, one_value, plain
from .._validation import loads as check_loads
from ..laws._quadrature import log_edges, panels
from ..laws.joint import EmpiricalJoint, FactorJoint, PerfectJoint
from ..policies.trail import TRAIL, LimitedPreemption
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


def _mg1(model, what: str):
    """``model`` as a :class:`qtheory.MG1`; ``TypeError`` naming ``model`` otherwise. An M/G/k
    with one server of speed 1 is its M/G/1; with more servers there is no exact formula."""
    from ..models.mg1 import MG1
    from ..models.multiserver import MGk

    if isinstance(model, MG1):
        return model
    if isinstance(model, MGk):
        if model.servers == 1 and model.server_speed == 1.0:
            return model.pooled()
        raise TypeError(f"model must be an M/G/1 (qt.MG1): {what} has no exact formula for "
                        f"{model.servers} servers of speed {model.server_speed!r}, got "
                        f"model={model!r}; simulate the k servers, e.g. qt.simulate(model, qt.TRAIL(0.8))")
    raise TypeError(f"model must be a qt.MG1, got model={plain(model)}")


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


def _arrival_rates(model, loads) -> np.ndarray:
    """Arrival rates for ``loads`` (``None``: the model's own rate); ValueError outside (0, 1)."""
    if loads is None:
        return np.array([model.arrival_rate])
    return check_loads("loads", loads) / model.size.mean


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


# ============================================================================================
# Simulation (qtheory.sim.llm_kernels)
# ============================================================================================
@dataclass
class LLMSimResult:
    """Monte Carlo estimates with 95% confidence half-widths over independent replications.

    Attributes
    ----------
    mean, ci : float
        Mean response time and its half-width.
    paused_jobs, paused_jobs_ci, paused_age, paused_age_ci, preemptions, preemptions_ci : float
        Time-average number and total age of paused jobs, preemptions per job.
    preempted_age, preempted_age_ci : float
        Mean sum over a job's preemptions of its age at the preemption.
    replications, jobs : int
    """

    mean: float
    ci: float
    paused_jobs: float = math.nan
    paused_jobs_ci: float = math.nan
    paused_age: float = math.nan
    paused_age_ci: float = math.nan
    preemptions: float = math.nan
    preemptions_ci: float = math.nan
    preempted_age: float = math.nan
    preempted_age_ci: float = math.nan
    replications: int = 0
    jobs: int = 0

    def covers(self, value: float, slack: float = 0.0) -> bool:
        """Whether ``value`` lies in the confidence interval of the mean (widened by ``slack``)."""
        return abs(value - self.mean) <= self.ci + slack


def _draw(model, n, rng):
    from ..laws.predictions import EmpiricalPairs

    pred = model.prediction
    if isinstance(pred, EmpiricalPairs):
        return pred.sample_pairs(n, rng)
    x = np.asarray(model.size.sample(n, rng), float)
    y = pred.sample(x, rng) if pred is not None else x.copy()
    return x, np.asarray(y, float)


def _check_sim_args(jobs, replications, warmup):
    jobs = integer("jobs", jobs, 1)
    replications = integer("replications", replications, 1)
    if jobs < 100:
        raise ValueError(f"jobs must be >= 100, got jobs={jobs!r}")
    if replications < 2:
        raise ValueError(f"replications must be >= 2, got replications={replications!r}")
    in_range("warmup", warmup, 0.0, 0.5, hi_open=True)
    return jobs, replications


def _summarise(rows, R, n):
    from ..sim.results import t_halfwidth

    rows = np.asarray(rows, float)
    m = rows.mean(0)
    h = [t_halfwidth(rows[:, k]) for k in range(rows.shape[1])]
    return LLMSimResult(m[0], h[0], m[1], h[1], m[2], h[2], m[3], h[3], m[4], h[4], R, n)


def _priority_sim(model, build, jobs, seed, replications, warmup, setup):
    from ..sim.llm_kernels import priority_run

    s0, s1 = setup
    nonnegative("setup[0]", s0)
    nonnegative("setup[1]", s1)
    n = jobs // replications
    warm = int(warmup * n)
    rows = []
    for rng in (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(replications)):
        arr = np.cumsum(rng.exponential(1.0 / model.arrival_rate, n))
        x, y = _draw(model, n, rng)
        key0, slope, lim = build(x, y, rng)
        T, st = priority_run(arr, x, key0, slope, lim, float(s0), float(s1), warm)
        rows.append([np.nanmean(T[warm:]), st[1] / st[0], st[2] / st[0], st[3] / st[4],
                     st[5] / st[4]])
    return _summarise(rows, replications, n)


def simulate_limited_preemption(model, c: float = 0.8, jobs: int = 400_000, seed=None,
                                replications: int = 8, warmup: float = 0.05,
                                setup=(0.0, 0.0)) -> LLMSimResult:
    r"""Monte Carlo of SPRPT with limited preemption (own event-driven kernel,
    :func:`qtheory.sim.llm_kernels.priority_run`), with optional preemption cost.

    Parameters
    ----------
    model : qtheory.MG1
    c : float
        Preemptible fraction of the prediction, ``0 <= c <= 1``.
    jobs, replications, warmup, seed
        Total jobs over ``replications`` independent runs; the first ``warmup`` fraction of each
        run is discarded.
    setup : (s0, s1)
        Preemption cost: a job resuming after a preemption first needs ``s0 + s1 * age`` of
        non-preemptible server time (recompute of its KV cache, or swap-in). ``(0, 0)``: none.

    Returns
    -------
    LLMSimResult
        Mean response time, paused jobs, their total age and preemptions per job, with CIs.
    """
    model = _mg1(model, "simulate_limited_preemption")
    c = in_range("c", c, 0.0, 1.0)
    jobs, replications = _check_sim_args(jobs, replications, warmup)

    def build(x, y, rng):
        return y.copy(), np.ones_like(y), c * y

    return _priority_sim(model, build, jobs, seed, replications, warmup, setup)


# ============================================================================================
# Prediction cost: SkipPredict (external cost)
# ============================================================================================
@dataclass
class SkipPredictResult:
    r"""SkipPredict under the external-cost model, one entry per load.

    Attributes
    ----------
    load : ndarray
    mean : ndarray
        :math:`E[T]` (without prediction costs).
    cost : ndarray
        :math:`E[T] + c_1 + c_2 P(L)`, the paper's cost metric.
    p_long : float
        :math:`P(L)`, the fraction of jobs that receive the expensive prediction.
    mean_short, mean_long : ndarray
        :math:`E[T; S]`, :math:`E[T; L]` (unconditional partial means; they add up to ``mean``).
    """

    load: np.ndarray
    mean: np.ndarray
    cost: np.ndarray
    p_long: float
    mean_short: np.ndarray
    mean_long: np.ndarray


def _p_long_fn(cheap, threshold):
    """x -> P(cheap prediction >= threshold | X = x)."""
    from ..laws.predictions import MultiplicativePrediction, PerfectPrediction

    if callable(cheap) and not hasattr(cheap, "sample"):
        return lambda x: np.clip(np.asarray(cheap(np.asarray(x, float)), float), 0.0, 1.0)
    if isinstance(cheap, PerfectPrediction):
        return lambda x: (np.asarray(x, float) >= threshold).astype(float)
    if isinstance(cheap, MultiplicativePrediction):
        f = cheap.factor
        return lambda x: np.asarray(f.sf(threshold / np.asarray(x, float)), float)
    raise ValueError("cheap must be a multiplicative or perfect prediction law, or a function "
                     f"x -> P(predicted long | x); got cheap={cheap!r}")


def skip_predict_external(model, threshold: float, cheap=None, c1: float = 0.0, c2: float = 0.0,
                          loads=None) -> SkipPredictResult:
    r"""SkipPredict with external prediction costs (Shahout & Mitzenmacher, "SkipPredict: When
    to Invest in Predictions for Scheduling", NeurIPS 2024), exact by SOAP.

    A cheap one-bit prediction sends every job to the short class S (FCFS, ahead of every long
    job, non-preemptive among shorts) or the long class L; long jobs get an expensive prediction
    :math:`Y` (the ``model``'s prediction law) and are scheduled by SPRPT. Rank :math:`\langle 0
    \rangle` for shorts, :math:`\langle 1, y - a\rangle` for longs. With
    :math:`\rho_S = \lambda E[X; S]`, :math:`m_{2S} = E[X^2; S]`, :math:`A_L(v) = E[X; L, Y < v]`,
    :math:`B_L(y) = E[X^2; L, Y \le y]`, :math:`C_L(y) = E[((X - (Y - y))^+)^2; L, Y > y]`
    (derived by SOAP; :mod:`qtheory.llm.prediction_cost` has the full model with both cost models):

    .. math::
        E[T_S(x)] = x + \frac{\lambda m_{2S}}{2(1-\rho_S)}, \qquad
        E[T_L(x, y)] = \frac{\lambda (m_{2S} + B_L(y) + C_L(y))}
            {2(1 - \rho_S - \lambda A_{L\le}(y))(1 - \rho_S - \lambda A_L(y))}
          + \int_0^{\min(x, y)} \frac{dt}{1 - \rho_S - \lambda A_L(y - t)}
          + \frac{(x - y)^+}{1 - \rho_S},

    and the cost metric :math:`E[T] + c_1 + c_2 P(L)`. The same as
    ``qt.total_cost(model, qt.SkipPredict(threshold, c1, c2, "external", cheap))``, whose
    engine it uses.

    Derivation: ``docs/prediction_cost.md`` (section 3).

    Parameters
    ----------
    model : qtheory.MG1
        Size law and the *expensive* prediction law (multiplicative: exponential, uniform or
        log-normal errors, on continuous or discrete sizes; or any discrete law: ``Empirical``
        sizes with perfect predictions, ``EmpiricalPairs``).
    threshold : float
        :math:`T`: a job is predicted long iff its cheap prediction is :math:`\ge T`.
    cheap : prediction law or callable, optional
        The cheap predictor, drawn independently of the expensive one given the size (default:
        the same law as the model's prediction), or a function ``x -> P(long | x)``.
    c1, c2 : float
        Cost of a cheap and of an expensive prediction (>= 0).
    """
    from .prediction_cost import SkipPredict

    model = _mg1(model, "skip_predict_external")
    T_ = nonnegative("threshold", threshold)
    c1 = nonnegative("c1", c1)
    c2 = nonnegative("c2", c2)
    if model.prediction is None:
        raise ValueError("SkipPredict needs the expensive predictions: pass a model with "
                         "prediction=...")
    pol = SkipPredict(T_, c1, c2, "external", cheap)
    lams = _arrival_rates(model, loads)
    parts = pol._parts(model)
    both = np.array([pol._time(parts, float(lam)) for lam in lams]).reshape(-1, 2)
    mean, mean_long = both[:, 0], both[:, 1]
    p_long = pol.p_long(model)
    return SkipPredictResult(lams * model.size.mean, mean, mean + c1 + c2 * p_long, p_long,
                             mean - mean_long, mean_long)


def simulate_skip_predict(model, threshold: float, cheap=None, jobs: int = 400_000, seed=None,
                          replications: int = 8, warmup: float = 0.05) -> LLMSimResult:
    """Monte Carlo of SkipPredict (:func:`skip_predict_external`) with the kernel
    :func:`qtheory.sim.llm_kernels.priority_run`: shorts have rank -1e300 (FCFS, never
    preempted by a long job), longs SPRPT on the expensive prediction."""
    model = _mg1(model, "simulate_skip_predict")
    T_ = nonnegative("threshold", threshold)
    jobs, replications = _check_sim_args(jobs, replications, warmup)
    q = _p_long_fn(model.prediction if cheap is None else cheap, T_)

    def build(x, y, rng):
        long_ = rng.random(x.size) < q(x)
        key0 = np.where(long_, y, -1e300)
        slope = np.where(long_, 1.0, 0.0)
        return key0, slope, np.full(x.size, np.inf)

    return _priority_sim(model, build, jobs, seed, replications, warmup, (0.0, 0.0))
