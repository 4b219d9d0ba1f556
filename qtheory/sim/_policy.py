"""Translation of :mod:`qtheory.policies` objects into what the kernels run.

Built-in policies map to a closed rank *form* (an integer code).  Tabulated ranks come in two
flavours:

* shared tables (:class:`TabulatedRank` with one table, or one table per descriptor value):
  stored once in a *bank*; each job carries the id of its table;
* per-job tables: any other :class:`~qtheory.policies.Policy` with a ``rank(d, a)`` method (in
  particular :class:`qtheory.Rank`) is tabulated job by job on an age grid over ``[0, x]``
  (``x`` the job's size) refined at ``age_breakpoints(d)``, in numpy, chunk by chunk.  Between
  grid nodes the rank is linearly interpolated: **exact** for ranks that are piecewise linear in
  the age with kinks and jumps only at the declared breakpoints (SRPT-, SERPT- or LAS-like user
  ranks), an approximation otherwise (documented on :func:`qtheory.sim.simulate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..policies import Policy
from . import kernels as K

#: a user rank function is tabulated on one age grid for all jobs: 0 and the geometric ages
#: ``scale * 2**(j / GRID_PER_OCTAVE)`` from ``scale * 2**GRID_LOW`` up (``scale``: the mean
#: size), up to the first grid age at or above each job's size (plus the rank's own
#: breakpoints).  One grid for all jobs matters: a grid placed at fractions of each job's size
#: gave jobs of different sizes different chords of a curved rank at the same age, i.e. the
#: policy learned something of the sizes (the ranks sqrt(a) + 1 and log1p(a), which order jobs
#: exactly as LAS, gave 36% of the jobs of a trace a different response time than LAS)
GRID_PER_OCTAVE = 4
GRID_LOW = -6


class TabulatedRank(Policy):
    r"""A SOAP policy given by piecewise-linear rank tables ``(ages, ranks)``.

    Within a table the rank is linear between points, right-continuous at a repeated age (a
    jump), and continues past the last point with the slope of the last segment.  The rank of
    an unstarted job is ``ranks[0]`` (so ``ages = [0, 0, ...]`` with ``ranks = [d, -big, ...]``
    would make a job non-preemptive once started).

    Parameters
    ----------
    table : (ages, ranks), dict or callable
        * a pair of 1-D arrays: the same table for every job (e.g. a Gittins rank on an age
          grid, ``descriptor="none"``);
        * a dict ``{descriptor value: (ages, ranks)}`` for a discretely valued descriptor (every
          job's descriptor must be a key);
        * a callable ``table(d) -> (ages, ranks)`` taking an array of descriptors of shape
          ``(n,)`` and returning two arrays of shape ``(n, m)`` (one table per job).
    descriptor : {"none", "size", "prediction"}
    name : str, optional
    """

    def __init__(self, table, descriptor: str = "none", name: str | None = None):
        if descriptor not in ("none", "size", "prediction"):
            raise ValueError("descriptor must be 'none', 'size' or 'prediction', got "
                             f"descriptor={descriptor!r}")
        self.descriptor = descriptor
        self.name = name or "TabulatedRank"
        self.monotone = None
        if callable(table):
            self._fn = table
            self._tables = None
        elif isinstance(table, dict):
            self._fn = None
            self._tables = {float(k): _check_table(*v) for k, v in table.items()}
        else:
            ages, ranks = table
            self._fn = None
            self._tables = {None: _check_table(ages, ranks)}

    def _params(self):
        return {"name": self.name, "descriptor": self.descriptor}

    def _table_for(self, d: float):
        if self._fn is not None:
            a, r = self._fn(np.array([d], float))
            return _check_table(np.asarray(a)[0], np.asarray(r)[0])
        if None in self._tables:
            return self._tables[None]
        try:
            return self._tables[float(d)]
        except KeyError:
            raise ValueError(f"{self.name}: no table for descriptor value {d!r}") from None

    def rank(self, d, a):
        d, a = np.broadcast_arrays(np.asarray(d, float), np.asarray(a, float))
        out = np.empty(d.shape)
        for idx in np.ndindex(d.shape):
            ages, ranks = self._table_for(d[idx])
            out[idx] = table_value(ages, ranks, a[idx])
        return out

    def age_breakpoints(self, d):
        return self._table_for(float(np.asarray(d).ravel()[0]))[0][1:]


def table_value(ages: np.ndarray, ranks: np.ndarray, a: float) -> float:
    """The rank of a table at age ``a`` (right-continuous; ``ranks[0]`` at age 0)."""
    if a <= 0:
        return float(ranks[0])
    i = int(np.searchsorted(ages, a, side="right")) - 1
    if i + 1 < ages.size:
        w = (a - ages[i]) / (ages[i + 1] - ages[i])
        return float(ranks[i] + w * (ranks[i + 1] - ranks[i]))
    if ages.size >= 2 and ages[-1] > ages[-2]:
        sl = (ranks[-1] - ranks[-2]) / (ages[-1] - ages[-2])
    else:
        sl = 0.0
    return float(ranks[-1] + sl * (a - ages[-1]))


#: a rising table segment is followed in rank space by the kernels, which compare ranks to a
#: relative 1e-12 (:data:`qtheory.sim.kernels.TIE`): an age error of 1e-12 :math:`|r|` / slope.  A
#: segment whose slope makes that error exceed ``FLAT_AGE`` times its end age is flat
FLAT_AGE = 1e-6


def settle_slopes(ages, ranks) -> np.ndarray:
    r"""Ranks with numerically flat rising segments made exactly flat (the last axis is the age).

    A segment rising with slope :math:`s` at rank :math:`r` is followed by the kernels to an age
    error of :math:`10^{-12}|r|/s`; where that exceeds ``FLAT_AGE`` times the segment's end age
    (slopes below :math:`10^{-6}|r|/a`: a Gittins rank approaching :math:`1/h(\infty)` on an
    exponential tail rises by 1e-11 over tens of mean sizes) the segment is flat instead.  Each
    segment is measured from the settled value before it, so the ranks move by at most
    :math:`10^{-6}|r|`.  Without this a 2,000,000-job simulation of Gittins on
    HyperExponential([0.9, 0.1], [1, 21]) at load 0.8 gave 11.47 +- 0.27 while LAS (optimal there)
    gives 11.97: members of a rising tie class left it (completed) up to 3.5 time units early."""
    a = np.asarray(ages, float)
    r = np.array(ranks, float)
    for i in range(1, r.shape[-1]):
        da = a[..., i] - a[..., i - 1]
        dv = r[..., i] - r[..., i - 1]
        big = np.maximum(np.abs(r[..., i]), np.abs(r[..., i - 1]))
        flat = (da > 0) & (dv > 0) & (dv * a[..., i] <= 1e-12 / FLAT_AGE * big * da)
        r[..., i] = np.where(flat, r[..., i - 1], r[..., i])
    return r


def _check_table(ages, ranks):
    a = np.asarray(ages, float).ravel()
    r = np.asarray(ranks, float).ravel()
    if a.size == 0 or a.shape != r.shape:
        raise ValueError("a rank table needs ages and ranks of equal, non-zero length")
    if a[0] != 0 or np.any(np.diff(a) < 0) or not np.all(np.isfinite(a)):
        raise ValueError("table ages must start at 0 and be finite and non-decreasing")
    if not np.all(np.isfinite(r)):
        raise ValueError("table ranks must be finite")
    return a, settle_slopes(a, r)


@dataclass
class Plan:
    """What a simulation run needs to know about the policy."""

    name: str
    kind: str  # "soap", "group", "general" (rising ranks on k > 1 servers) or "ps"
    form: int
    descriptor: str  # "none", "size" or "prediction"
    tab_mode: int = 0  # 0 closed form, 1 shared tables, 2 per-job tables
    tm: int = 1  # per-job table width
    BA: np.ndarray = field(default_factory=lambda: np.zeros(1))
    BV: np.ndarray = field(default_factory=lambda: np.zeros(1))
    BS: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    BN: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    table_ids: object = None  # d -> table ids (shared mode)
    tabulate: object = None  # (x, d) -> (ages (n, tm), ranks (n, tm), lengths (n,))
    check_rising: bool = False  # per-job tables on k > 1: switch to "general" on rising pieces
    note: str = ""


#: the compiled kernels of the standard rank shapes (the ``form`` a policy class declares,
#: :data:`qtheory.policies.base.FORMS`): kernel form and whether the rank rises with age
_FORMS = {
    "bounce": (K.FORM_BOUNCE, True),  # |d - a|: SRPT-Bounce
    "remaining": (K.FORM_DMA, False),  # d - a: SRPT, SPRPT
    "static": (K.FORM_STATIC, False),  # d: PSJF, PSPJF
    "nonpreemptive": (K.FORM_NP, False),  # <-a, d>: SJF, SPJF
    "age": (K.FORM_AGE, True),  # a: LAS
    "constant": (K.FORM_CONST, False),  # 0: FCFS
}


def compile_policy(policy: Policy, servers: int, model=None) -> Plan:
    """The :class:`Plan` of ``policy`` on ``servers`` servers (raises for unsupported cases).

    Gittins policies need the ``model`` (their rank is a function of the size law)."""
    name = policy.name
    form = policy.formula_form()
    if form == "sharing":
        return Plan(name, "ps", -1, "none")
    if policy.law_rank == "gittins":
        if model is None:
            raise NotImplementedError(
                f"simulating {name} needs the model (its rank comes from the size law); pass "
                "its table with qtheory.sim.TabulatedRank((ages, ranks)) instead")
        from ._gittins import gittins_policy

        sub = gittins_policy(policy, model)
        plan = compile_policy(sub, servers)
        plan.name = name
        plan.note = getattr(sub, "sim_note", "") or plan.note
        return plan
    if form in _FORMS:
        kernel_form, rising = _FORMS[form]
        kind = ("group" if servers == 1 else "general") if rising else "soap"
        return Plan(name, kind, kernel_form, policy.descriptor)
    if not getattr(policy, "soap", True):
        raise TypeError(f"{name} is not a SOAP policy and has no simulator")
    if isinstance(policy, TabulatedRank):
        return _shared_plan(policy, servers)
    scale = float(model.size.mean) if model is not None and getattr(model, "size", None) else None
    return _perjob_plan(policy, servers, scale)


def _rising(ages: np.ndarray, ranks: np.ndarray) -> bool:
    da = np.diff(ages)
    dv = np.diff(ranks)
    return bool(np.any((da > 0) & (dv > 0)))


def _shared_plan(policy: TabulatedRank, servers: int) -> Plan:
    if policy._fn is not None:
        def tabulate(x, d):
            a, r = policy._fn(np.asarray(d, float))
            a = np.atleast_2d(np.asarray(a, float))
            r = np.atleast_2d(np.asarray(r, float))
            if a.shape != r.shape or a.shape[0] != np.size(d):
                raise ValueError(f"{policy.name}: the table callable must return two arrays "
                                 "of shape (n, m)")
            if np.any(a[:, 0] != 0) or np.any(np.diff(a, axis=1) < 0) or \
                    not np.all(np.isfinite(r)):
                raise ValueError(f"{policy.name}: table ages must start at 0 and be "
                                 "non-decreasing, ranks finite")
            return a, settle_slopes(a, r), np.full(a.shape[0], a.shape[1], np.int64)

        plan = Plan(policy.name, "group" if servers == 1 else "soap", K.FORM_TABLE,
                    policy.descriptor, tab_mode=2, tabulate=tabulate,
                    check_rising=servers > 1)
        return plan
    keys = list(policy._tables)
    tabs = [policy._tables[k] for k in keys]
    rising = any(_rising(a, r) for a, r in tabs)
    lens = np.array([a.size for a, _ in tabs], np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    BA = np.concatenate([a for a, _ in tabs])
    BV = np.concatenate([r for _, r in tabs])
    if keys == [None]:
        def table_ids(d):
            return np.zeros(np.size(d), np.int64)
    else:
        vals = np.array(keys, float)
        order = np.argsort(vals)
        sv = vals[order]

        def table_ids(d):
            d = np.asarray(d, float)
            pos = np.clip(np.searchsorted(sv, d), 0, sv.size - 1)
            if np.any(sv[pos] != d):
                bad = d[sv[pos] != d][0]
                raise ValueError(f"{policy.name}: no table for descriptor value {bad!r}")
            return order[pos].astype(np.int64)

    kind = ("group" if servers == 1 else "general") if rising else "soap"
    return Plan(policy.name, kind, K.FORM_TABLE, policy.descriptor, tab_mode=1, BA=BA, BV=BV,
                BS=starts, BN=lens, table_ids=table_ids)


def _breakpoints(policy: Policy, d: np.ndarray) -> np.ndarray:
    """Breakpoints per job, shape (n, nb) (nan where a job has fewer)."""
    n = d.size
    try:
        bp = np.asarray(policy.age_breakpoints(d), float)
    except Exception:  # noqa: BLE001 - a scalar-only breakpoints function
        bp = None
    if bp is not None:
        if bp.ndim == 0:
            return np.full((n, 1), float(bp))
        if bp.ndim == 1 and bp.size == n and n != 1:
            return bp[:, None]
        if bp.ndim == 1:
            return np.broadcast_to(bp, (n, bp.size)).copy()
        if bp.ndim == 2 and bp.shape[0] == n:
            return bp
    rows = [np.atleast_1d(np.asarray(policy.age_breakpoints(float(v)), float)) for v in d]
    nb = max((r.size for r in rows), default=0)
    out = np.full((n, max(nb, 1)), np.nan)
    for i, r in enumerate(rows):
        out[i, : r.size] = r
    return out


def _age_grid(x: np.ndarray, scale: float) -> np.ndarray:
    """The common age grid of :data:`GRID_PER_OCTAVE`, for each job up to the first grid age
    at or above its size (not cut at the size: the last chord would then differ from the
    other jobs' chord over the same ages): shape (n, m), rows padded with their last age."""
    top = float(np.max(x))
    lo = GRID_LOW * GRID_PER_OCTAVE
    j_hi = max(lo + 1, int(np.ceil(np.log2(top / scale) * GRID_PER_OCTAVE)) + 1)
    g = np.concatenate([[0.0], scale * 2.0 ** (np.arange(lo, j_hi + 1) / GRID_PER_OCTAVE)])
    g = g[: np.searchsorted(g, top, side="left") + 1]  # g[-1] >= top
    cap = g[np.minimum(np.searchsorted(g, x, side="left"), g.size - 1)]
    return np.minimum(g[None, :], cap[:, None])


def _perjob_plan(policy: Policy, servers: int, scale: float | None = None) -> Plan:
    pol = policy
    fixed = {"scale": scale}  # without a model: the median size of the first chunk, kept

    def tabulate(x, d):
        x = np.asarray(x, float)
        d = np.asarray(d, float)
        n = x.size
        if fixed["scale"] is None:
            fixed["scale"] = float(np.median(x))
        bp = _breakpoints(pol, d)
        bp = np.where(np.isfinite(bp) & (bp > 0) & (bp < x[:, None]), bp, x[:, None])
        nb = bp.shape[1]
        grid = _age_grid(x, fixed["scale"])
        ng = grid.shape[1]
        left = np.nextafter(bp, 0.0)
        ages = np.concatenate([grid, bp, bp], axis=1)
        kind = np.concatenate([np.ones((n, ng)), np.zeros((n, nb)), np.full((n, nb), 2.0)],
                              axis=1)
        eval_at = np.concatenate([grid, left, bp], axis=1)
        vals = np.asarray(pol.rank(np.broadcast_to(d[:, None], eval_at.shape), eval_at), float)
        vals = np.broadcast_to(vals, eval_at.shape)
        if not np.all(np.isfinite(vals)):
            raise ValueError(f"{pol.name}: the rank function returned non-finite values; "
                             "tabulated ranks must be finite (use qt.SJF / qt.SPJF for "
                             "non-preemptive ranks)")
        order = np.lexsort((kind, ages), axis=-1)
        ages = np.take_along_axis(ages, order, axis=1)
        vals = settle_slopes(ages, np.take_along_axis(vals, order, axis=1))
        return ages, np.ascontiguousarray(vals), np.full(n, ages.shape[1], np.int64)

    return Plan(pol.name, "group" if servers == 1 else "soap", K.FORM_TABLE, pol.descriptor,
                tab_mode=2, tabulate=tabulate, check_rising=servers > 1,
                note="user rank tabulated on a common geometric age grid "
                     f"({GRID_PER_OCTAVE} points an octave) and its breakpoints")
