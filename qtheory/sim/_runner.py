"""One replication of a simulation: batched numpy draws fed chunk by chunk to a kernel; the
checks of the simulators' counting and seed arguments."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..laws.predictions import EmpiricalPairs
from . import kernels as K
from ._policy import Plan
from .general_kernel import general_kernel, to_general_state

#: arrivals drawn per chunk (tables make a chunk heavier: see ``chunk_size``)
CHUNK = 1 << 16

#: the bit generator of the replications.  SFC64 would draw about 20% faster, but a change of
#: generator (or of CHUNK, which orders the draws) changes every seeded simulation
BITGEN = np.random.PCG64


def _shown(value) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 120 else text[:117] + "..."


def check_count(name: str, value, lo: int = 1) -> int:
    """``value`` as an ``int >= lo``: ``TypeError`` naming ``name`` and the value unless it is a
    real number (strings, booleans, ``None``...), ``ValueError`` unless it is a whole number
    ``>= lo`` (``1000``, ``1e6`` and ``numpy.int64(8)`` pass)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be an integer >= {lo}, got {name}={_shown(value)} "
                        f"({type(value).__name__})")
    if isinstance(value, numbers.Integral):
        v = int(value)
        ok = v >= lo
    else:
        f = float(value)
        ok = math.isfinite(f) and f == math.floor(f) and f >= lo
        v = int(f) if ok else 0
    if not ok:
        raise ValueError(f"{name} must be an integer >= {lo}, got {name}={_shown(value)}")
    return v


def check_fraction(name: str, value) -> float:
    """``value`` as a float in ``[0, 1)`` (``TypeError``/``ValueError`` naming ``name``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1), got {name}={_shown(value)} "
                        f"({type(value).__name__})")
    v = float(value)
    if not 0 <= v < 1:
        raise ValueError(f"{name} must lie in [0, 1), got {name}={_shown(value)}")
    return v


def root_seed(seed) -> np.random.SeedSequence:
    """The root ``numpy.random.SeedSequence`` of a ``seed`` argument: None (fresh entropy), an
    integer >= 0, a sequence of them, or a SeedSequence (returned as is).  Anything else raises
    ``TypeError`` or ``ValueError`` naming ``seed`` and its value (never numpy's own message)."""
    if isinstance(seed, np.random.SeedSequence):  # (looked up now: the tests may patch it)
        return seed
    msg = ("seed must be None, an integer >= 0, a sequence of such integers or a "
           f"numpy.random.SeedSequence, got seed={_shown(seed)}")
    if isinstance(seed, (bool, np.bool_, str, bytes)) or (
            isinstance(seed, numbers.Complex) and not isinstance(seed, numbers.Integral)):
        raise TypeError(f"{msg} ({type(seed).__name__})")
    try:
        return np.random.SeedSequence(seed)
    except TypeError:
        raise TypeError(f"{msg} ({type(seed).__name__})") from None
    except ValueError:
        raise ValueError(msg) from None


@dataclass
class Setup:
    """Everything a replication needs besides its random stream."""

    arrival_rate: float
    size: object
    prediction: object
    plan: Plan
    servers: int
    speed: float
    ex: np.ndarray  # inner bin edges of the size
    ey: np.ndarray  # inner bin edges of the prediction (empty array: one bin)
    has_y: bool

    @cached_property
    def lx(self) -> np.ndarray:
        """:func:`~qtheory.sim.kernels.bin_lookup` of the size bins."""
        return K.bin_lookup(self.ex)

    @cached_property
    def ly(self) -> np.ndarray:
        """:func:`~qtheory.sim.kernels.bin_lookup` of the prediction bins."""
        return K.bin_lookup(self.ey)

    def chunk_size(self) -> int:
        if self.plan.tab_mode == 2:
            return max(1024, (1 << 20) // max(self.plan.tm, 2 * 32 + 8))
        return CHUNK


@dataclass
class RepStats:
    """Raw statistics of one replication."""

    acc: np.ndarray  # [count, sum T, sum T^2, sum T/X, sum (T/X)^2]
    hist: np.ndarray
    bnx: np.ndarray  # per size bin: [count, sum T, sum X, sum T^2]
    bny: np.ndarray  # per prediction bin: [count, sum T, sum Y, sum T^2]
    arrivals: int  # arrivals simulated (tracked + the ones needed to finish them)
    keep_t: np.ndarray | None = None
    keep_x: np.ndarray | None = None
    keep_y: np.ndarray | None = None


def draw(setup: Setup, m: int, rng: np.random.Generator, bufs=None):
    """Interarrival times, sizes, descriptors and predictions of ``m`` arrivals.

    ``bufs``: optional ``(ia, x, y)`` float arrays of at least ``m`` entries that the draws
    overwrite (the same values as freshly allocated draws: see ``sample_into``)."""
    if bufs is None:
        bufs = (np.empty(m), np.empty(m), np.empty(m))
    ia = rng.standard_exponential(out=bufs[0][:m])
    ia *= 1.0 / setup.arrival_rate
    pred = setup.prediction
    if isinstance(pred, EmpiricalPairs):
        x, y = pred.sample_pairs(m, rng)
    else:
        x = setup.size.sample_into(bufs[1][:m], rng)
        y = pred.sample_into(x, bufs[2][:m], rng) if pred is not None else None
    x = np.ascontiguousarray(x, dtype=np.float64)
    if y is not None:
        y = np.ascontiguousarray(y, dtype=np.float64)
    desc = setup.plan.descriptor
    if desc == "size":
        d = x
    elif desc == "prediction":
        if y is None:
            raise ValueError(f"policy {setup.plan.name} uses predictions but the model has none; "
                             "pass prediction=... (e.g. qt.LogNormalPrediction(sigma=0.5))")
        d = y
    else:
        d = np.zeros(m)
    return ia, x, d, y


class _State:
    """Slot arrays, heaps and scalar state of a replication (grown on demand)."""

    def __init__(self, setup: Setup, cap: int):
        plan = setup.plan
        self.tm = plan.tm
        self.cap = cap
        self.F = np.zeros((cap, K.NFC))
        self.I = np.zeros((cap, K.NIC), np.int64)
        self.free = np.arange(cap - 1, -1, -1, dtype=np.int64)
        self.HR = np.zeros(cap)
        self.HT = np.zeros(cap, np.int64)
        self.HS = np.zeros(cap, np.int64)
        g = cap if plan.kind in ("group", "general") else 1
        self.GK = np.zeros(g)
        self.GT = np.zeros(g, np.int64)
        self.GS = np.zeros(g, np.int64)
        self.GX = np.zeros(g, np.int64)
        self.SA = np.zeros(cap * self.tm if plan.tab_mode == 2 else 1)
        self.SV = np.zeros(cap * self.tm if plan.tab_mode == 2 else 1)
        self.srv = np.zeros(max(setup.servers, 1), np.int64)
        self.sf = np.zeros(K.NSF)
        self.si = np.zeros(K.NSI, np.int64)
        self.si[K.SI_FREE] = cap

    def to_general(self):
        """Switch from the soap kernel's state to the general kernel's (a per-job table with
        rising pieces met on k > 1 servers)."""
        for name in ("GK", "GT", "GS", "GX"):
            a = getattr(self, name)
            if a.size < self.cap:
                setattr(self, name, np.zeros(self.cap, a.dtype))
        to_general_state(self.F, self.srv, self.HS, self.si)

    def buffers(self, chunk: int):
        """(Re)allocate the completion buffers for ``chunk`` arrivals per call."""
        n = self.cap + chunk
        if getattr(self, "bT", None) is None or self.bT.size < n:
            self.bT = np.zeros(n)
            self.bX = np.zeros(n)
            self.bY = np.zeros(n)
            self.bJ = np.zeros(n, np.int64)

    def grow(self, setup: Setup, tm: int | None = None):
        """Double the slot capacity (and widen per-job table rows to ``tm``)."""
        old = self.cap
        new = 2 * old
        tm_old = self.tm
        tm_new = max(tm_old, tm or 0)

        def ext(a, n):
            b = np.zeros((n,) + a.shape[1:], a.dtype)
            b[: a.shape[0]] = a
            return b

        self.F = ext(self.F, new)
        self.I = ext(self.I, new)
        self.HR = ext(self.HR, new)
        self.HT = ext(self.HT, new)
        self.HS = ext(self.HS, new)
        if self.GK.size > 1:
            self.GK = ext(self.GK, new)
            self.GT = ext(self.GT, new)
            self.GS = ext(self.GS, new)
            self.GX = ext(self.GX, new)
        if setup.plan.tab_mode == 2:
            self.retable(old, new, tm_old, tm_new)
        ftop = int(self.si[K.SI_FREE])
        free = np.zeros(new, np.int64)
        free[:ftop] = self.free[:ftop]
        free[ftop: ftop + new - old] = np.arange(new - 1, old - 1, -1)
        self.free = free
        self.si[K.SI_FREE] = ftop + new - old
        self.cap = new

    def retable(self, old_cap: int, new_cap: int, tm_old: int, tm_new: int):
        """Re-layout the per-slot table rows for a new capacity and/or width."""
        SA = np.zeros(new_cap * tm_new)
        SV = np.zeros(new_cap * tm_new)
        SA.reshape(new_cap, tm_new)[:old_cap, :tm_old] = self.SA.reshape(old_cap, tm_old)
        SV.reshape(new_cap, tm_new)[:old_cap, :tm_old] = self.SV.reshape(old_cap, tm_old)
        self.SA, self.SV = SA, SV
        if tm_new != tm_old:
            self.I[:, K.C_TS] = np.arange(self.I.shape[0]) * tm_new
        self.tm = tm_new


def run_replication(setup: Setup, n_track: int, warm: int, seed_seq, keep: bool = False,
                    tick=None, rng: np.random.Generator | None = None,
                    trace=None) -> RepStats:
    """Simulate ``n_track`` tracked arrivals (and what is needed to finish them).

    ``trace``: optional ``(ia, x, d, y)`` arrays replacing the random draws (the kernel then
    gets one extra arrival at time +inf so that every tracked job completes).
    """
    plan = setup.plan
    if rng is None:
        rng = np.random.Generator(BITGEN(seed_seq))
    st = _State(setup, 256)
    st.si[K.SI_LEFT] = n_track
    nbx = setup.ex.size + 1
    nby = setup.ey.size + 1 if setup.has_y else 0
    acc = np.zeros(5)
    hist = np.zeros(K.HBINS, np.int64)
    bnx = np.zeros((nbx, 4))
    bny = np.zeros((nby, 4))
    nkeep = n_track - warm if keep else 0
    keep_t = np.zeros(nkeep)
    keep_x = np.zeros(nkeep) if keep else None
    keep_y = np.zeros(nkeep) if keep and setup.has_y else None
    empty_i = np.zeros(0, np.int64)
    empty_f = np.zeros(0)
    dummy2 = np.zeros((1, 1))
    chunk = setup.chunk_size()
    bufs = (np.empty(chunk), np.empty(chunk), np.empty(chunk))  # reused by every chunk
    kind = plan.kind  # per replication: a per-job table plan may switch to "general"
    drawn = 0
    status = K.NEED_CHUNK
    while status != K.DONE:
        if trace is not None:
            if drawn > 0:
                raise RuntimeError("trace simulation did not finish")  # pragma: no cover
            ia, x, d, y = trace
            m = ia.size
        else:
            if drawn < n_track:
                m = min(chunk, n_track - drawn)
            else:
                m = max(256, min(chunk, n_track // 64))
            ia, x, d, y = draw(setup, m, rng, bufs)
        cy = y if (y is not None and setup.has_y) else empty_f
        if keep and drawn < n_track:
            lo = max(warm, drawn)
            hi = min(n_track, drawn + m)
            if hi > lo:
                keep_x[lo - warm: hi - warm] = x[lo - drawn: hi - drawn]
                if keep_y is not None:
                    keep_y[lo - warm: hi - warm] = y[lo - drawn: hi - drawn]
        ctid = empty_i
        ctab_a = ctab_v = dummy2
        ctab_n = empty_i
        if plan.tab_mode == 1:
            ctid = plan.table_ids(d)
        elif plan.tab_mode == 2:
            ctab_a, ctab_v, ctab_n = plan.tabulate(x, d)
            ctab_a = np.ascontiguousarray(ctab_a, dtype=np.float64)
            ctab_v = np.ascontiguousarray(ctab_v, dtype=np.float64)
            ctab_n = np.ascontiguousarray(ctab_n, dtype=np.int64)
            if plan.check_rising and kind == "soap" and _has_rising(ctab_a, ctab_v):
                # rising pieces on k > 1 servers: continue with the general kernel
                st.to_general()
                kind = "general"
            if ctab_a.shape[1] > st.tm:
                st.retable(st.cap, st.cap, st.tm, ctab_a.shape[1])
        st.si[K.SI_PTR] = 0
        while True:
            st.buffers(m)
            status = _call(setup, kind, st, ia, x, d, cy, ctid, ctab_a, ctab_v, ctab_n, n_track)
            K.tally(st.bT, st.bX, st.bY, st.bJ, int(st.si[K.SI_NB]), warm, setup.has_y, acc,
                    hist, setup.ex, setup.ey, setup.lx, setup.ly, bnx, bny, keep_t)
            if status == K.NEED_CAP:
                st.grow(setup)
                continue
            if status == K.STALLED:  # pragma: no cover - a safety valve
                raise RuntimeError(f"the simulation of {plan.name} stalled (over "
                                   f"{K.MAX_STILL:,} internal events without an arrival); "
                                   "please report this case")
            break
        if tick is not None and drawn < n_track:
            tick(min(m, n_track - drawn))
        drawn += m
    return RepStats(acc, hist, bnx, bny, drawn, keep_t if keep else None, keep_x, keep_y)


def _has_rising(a: np.ndarray, v: np.ndarray) -> bool:
    return bool(np.any((np.diff(a, axis=1) > 0) & (np.diff(v, axis=1) > 0)))


def _call(setup, kind, st, ia, x, d, cy, ctid, ctab_a, ctab_v, ctab_n, n_track):
    plan = setup.plan
    if kind == "general":
        return general_kernel(plan.form, setup.servers, setup.speed, plan.tab_mode, st.tm, ia, x,
                              d, cy, ctid, ctab_a, ctab_v, ctab_n, plan.BA, plan.BV, plan.BS,
                              plan.BN, st.F, st.I, st.SA, st.SV, st.free, st.HS, st.GT, st.HR,
                              st.GK, st.sf, st.si, n_track, st.bT, st.bX, st.bY, st.bJ)
    if kind == "ps":
        return K.ps_kernel(setup.servers, setup.speed, ia, x, cy, st.F, st.I, st.free, st.HR,
                           st.HT, st.HS, st.sf, st.si, n_track, st.bT, st.bX, st.bY, st.bJ)
    if kind == "group":
        return K.group_kernel(plan.form, setup.speed, plan.tab_mode, st.tm, ia, x, d, cy, ctid,
                              ctab_a, ctab_v, ctab_n, plan.BA, plan.BV, plan.BS, plan.BN, st.F,
                              st.I, st.SA, st.SV, st.free, st.HR, st.HT, st.HS, st.GK, st.GT, st.GS, st.GX,
                              st.sf, st.si, n_track, st.bT, st.bX, st.bY, st.bJ)
    if setup.servers == 1 and kind == "soap" and plan.form == K.FORM_CONST and plan.tab_mode == 0:
        return K.fcfs1_kernel(setup.speed, ia, x, cy, st.sf, st.si, n_track, st.bT, st.bX, st.bY,
                              st.bJ)
    if (setup.servers == 1 and kind == "soap" and plan.tab_mode == 0
            and plan.form in (K.FORM_DMA, K.FORM_STATIC)):
        return K.srpt1_kernel(plan.form, setup.speed, ia, x, d, cy, st.F, st.I, st.free, st.HR,
                              st.HT, st.HS, st.srv, st.sf, st.si, n_track, st.bT, st.bX, st.bY,
                              st.bJ)
    if setup.servers == 1 and kind in ("soap", "soap1"):
        return K.soap1_kernel(plan.form, setup.speed, plan.tab_mode, st.tm, ia, x, d, cy, ctid,
                              ctab_a, ctab_v, ctab_n, plan.BA, plan.BV, plan.BS, plan.BN, st.F,
                              st.I, st.SA, st.SV, st.free, st.HR, st.HT, st.HS, st.srv, st.sf,
                              st.si, n_track, st.bT, st.bX, st.bY, st.bJ)
    return K.soap_kernel(plan.form, setup.servers, setup.speed, plan.tab_mode, st.tm, ia, x, d,
                         cy, ctid, ctab_a, ctab_v, ctab_n, plan.BA, plan.BV, plan.BS, plan.BN,
                         st.F, st.I, st.SA, st.SV, st.free, st.HR, st.HT, st.HS, st.srv, st.sf,
                         st.si, n_track, st.bT, st.bX, st.bY, st.bJ)
