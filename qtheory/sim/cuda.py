r"""CUDA backend: many independent M/G/1 replications in parallel, one per GPU thread.

Runs single-server, unit-speed M/G/1 queues under FCFS, PSJF/PSPJF (rank ``d``), SRPT/SPRPT
(rank ``d - a``) and SJF/SPJF (non-preemptive by ``d``).  Each thread owns an xoroshiro128+
stream (:mod:`numba.cuda.random`), draws Poisson arrivals, and draws sizes and predictions by
inverse-CDF sampling from host-built quantile tables: ``log size.ppf(u)`` (and, for
multiplicative predictions, ``factor.log_range_q(u)``) on a grid uniform in ``s = log(u/(1-u))``
over ``[-30, 30]`` (dense in both tails), linearly interpolated in ``s``.  Sampling is therefore
an approximation of the size law (relative error of order 1e-5 on smooth laws; the
``~1e-13`` extreme tails are clamped); discrete size laws are refused.

The waiting jobs of a thread sit in a binary heap keyed by (rank, arrival index) in a
fixed-size local array (:data:`CAP` jobs); an overflow flags the thread and the host raises.
Each thread discards its first ``warmup`` fraction of arrivals, keeps simulating until every
tracked job has completed, and accumulates the sum of response times, of slowdowns and the
count.  The host treats each thread as one replication (Student t 95% intervals).

Use it through :func:`qtheory.sim.simulate` with ``backend="cuda"`` (or ``"auto"``), where
``replications`` is the number of GPU threads (use thousands on a real GPU).  Under the CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1`` set before numba is imported) it runs, slowly, on the CPU.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

try:  # a module global, so that the CUDA simulator can swap it inside kernels
    from numba import cuda
except ImportError:  # pragma: no cover
    cuda = None

from ..policies import get_policy
from . import kernels as K
from ._policy import compile_policy
from ._runner import check_count, check_fraction, root_seed
from .results import SimResult, t_halfwidth

__all__ = ["available", "simulator_enabled", "simulate_cuda", "CAP", "supported"]

#: capacity of each thread's heap of waiting jobs
CAP = 512
#: points of the quantile tables and their grid in s = log(u / (1 - u))
NTAB = 4097
S_LO = -30.0
S_HI = 30.0
S_H = (S_HI - S_LO) / (NTAB - 1)
#: threads per block on a real GPU
BLOCK = 128

_FORMS = (K.FORM_CONST, K.FORM_STATIC, K.FORM_DMA, K.FORM_NP)


def simulator_enabled() -> bool:
    """True when numba runs CUDA kernels on its CPU simulator."""
    try:
        from numba import config
    except ImportError:  # pragma: no cover
        return False
    return bool(getattr(config, "ENABLE_CUDASIM", 0))


def available(real_gpu_only: bool = False) -> bool:
    """Can kernels run (``real_gpu_only``: on an actual GPU, not the simulator)?"""
    if cuda is None:  # pragma: no cover
        return False
    try:
        ok = bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken driver counts as unavailable
        return False
    return ok and not (real_gpu_only and simulator_enabled())


# ---- host tables --------------------------------------------------------------------------------
def _grid_u() -> np.ndarray:
    s = np.linspace(S_LO, S_HI, NTAB)
    return 1.0 / (1.0 + np.exp(-s))


def _size_table(size) -> np.ndarray:
    if getattr(size, "is_discrete", False):
        raise NotImplementedError(f"the CUDA backend samples sizes from an interpolated quantile "
                                  f"table and does not simulate discrete size laws ({size!r}); "
                                  "use backend='cpu'")
    x = np.asarray(size.ppf(_grid_u()), float)
    if not (np.all(np.isfinite(x)) and np.all(x > 0)):
        raise NotImplementedError(f"the size law {size!r} has quantiles that are not finite and "
                                  "> 0 on the table grid; use backend='cpu'")
    return np.ascontiguousarray(np.log(x))


def _prediction_table(pred):
    """(mode, log-factor table): mode -1 no prediction, 0 perfect (y = x), 1 multiplicative."""
    from ..laws.predictions import (
        ExponentialPrediction,
        LogNormalPrediction,
        PerfectPrediction,
        UniformPrediction,
    )

    if pred is None:
        return -1, np.zeros(2)
    if isinstance(pred, PerfectPrediction):
        return 0, np.zeros(2)
    if isinstance(pred, (ExponentialPrediction, UniformPrediction, LogNormalPrediction)):
        f = getattr(pred, "factor", None)
        if f is None:  # LogNormalPrediction(sigma=0): a perfect prediction
            return 0, np.zeros(2)
        lz = np.array([f.log_range_q(float(u)) for u in _grid_u()], float)
        if not np.all(np.isfinite(lz)):
            raise NotImplementedError(f"the factor law of {pred!r} has non-finite quantiles on "
                                      "the table grid; use backend='cpu'")
        return 1, np.ascontiguousarray(lz)
    raise NotImplementedError(f"the CUDA backend samples PerfectPrediction, ExponentialPrediction, "
                              f"UniformPrediction and LogNormalPrediction only, not {pred!r}; "
                              "use backend='cpu'")


def supported(model, policy, servers: int = 1, speed: float = 1.0) -> str | None:
    """None when the CUDA backend can run this case, else the reason it cannot."""
    if servers != 1 or speed != 1.0:
        return "the CUDA backend runs one server of unit speed only"
    pol = get_policy(policy)
    try:
        plan = compile_policy(pol, 1, model)
    except (NotImplementedError, TypeError, ValueError) as e:
        return str(e)
    if plan.kind != "soap" or plan.tab_mode != 0 or plan.form not in _FORMS:
        return (f"the CUDA backend runs FCFS, PSJF/PSPJF, SRPT/SPRPT and SJF/SPJF only, not "
                f"{pol.name}")
    try:
        _prediction_table(getattr(model, "prediction", None))
        if getattr(model.size, "is_discrete", False):
            _size_table(model.size)
    except NotImplementedError as e:
        return str(e)
    return None


# ---- kernel -------------------------------------------------------------------------------------
_KERNEL = None


def _build_kernel():
    global _KERNEL
    if _KERNEL is not None:
        return _KERNEL
    from numba import float64, int64
    from numba.cuda.random import xoroshiro128p_uniform_float64

    cap = CAP
    ntab = NTAB
    s_lo = S_LO
    s_h = S_H
    f_const = K.FORM_CONST
    f_static = K.FORM_STATIC
    f_dma = K.FORM_DMA

    @cuda.jit(device=True)
    def uniform01(states, tid):
        u = xoroshiro128p_uniform_float64(states, tid)
        while u <= 0.0:
            u = xoroshiro128p_uniform_float64(states, tid)
        return u

    @cuda.jit(device=True)
    def quantile(tab, u):
        s = math.log(u) - math.log1p(-u)
        pos = (s - s_lo) / s_h
        if pos <= 0.0:
            return math.exp(tab[0])
        if pos >= ntab - 1:
            return math.exp(tab[ntab - 1])
        j = int(pos)
        w = pos - j
        return math.exp(tab[j] + w * (tab[j + 1] - tab[j]))

    @cuda.jit(device=True)
    def less(r1, i1, r2, i2):
        return r1 < r2 or (r1 == r2 and i1 < i2)

    @cuda.jit(device=True)
    def move(hr, hi, hrem, hat, hx, dst, src):
        """Copy heap entry ``src`` to ``dst``."""
        hr[dst] = hr[src]
        hi[dst] = hi[src]
        hrem[dst] = hrem[src]
        hat[dst] = hat[src]
        hx[dst] = hx[src]

    @cuda.jit(device=True)
    def put(hr, hi, hrem, hat, hx, pos, r, i, rem, at, x):
        """Write an entry at ``pos``."""
        hr[pos] = r
        hi[pos] = i
        hrem[pos] = rem
        hat[pos] = at
        hx[pos] = x

    @cuda.jit(device=True)
    def push(hr, hi, hrem, hat, hx, nq, r, i, rem, at, x):
        pos = nq
        while pos > 0:
            p = (pos - 1) // 2
            if less(r, i, hr[p], hi[p]):
                move(hr, hi, hrem, hat, hx, pos, p)
                pos = p
            else:
                break
        put(hr, hi, hrem, hat, hx, pos, r, i, rem, at, x)
        return nq + 1

    @cuda.jit(device=True)
    def drop_top(hr, hi, hrem, hat, hx, nq):
        """Remove the top (read it first); return the new size."""
        nq -= 1
        if nq == 0:
            return 0
        r = hr[nq]
        i = hi[nq]
        rem = hrem[nq]
        at = hat[nq]
        x = hx[nq]
        pos = 0
        while True:
            c = 2 * pos + 1
            if c >= nq:
                break
            if c + 1 < nq and less(hr[c + 1], hi[c + 1], hr[c], hi[c]):
                c += 1
            if less(hr[c], hi[c], r, i):
                move(hr, hi, hrem, hat, hx, pos, c)
                pos = c
            else:
                break
        put(hr, hi, hrem, hat, hx, pos, r, i, rem, at, x)
        return nq

    @cuda.jit
    def kernel(states, lam, form, use_pred, n_lo, warm_lo, warm_hi, extra, stab, fmode, ftab,
               out):
        tid = cuda.grid(1)
        if tid >= out.shape[0]:
            return
        # the first ``extra`` threads track one job more (the jobs asked for, exactly)
        n = n_lo
        warm = warm_lo
        if tid < extra:
            n = n_lo + 1
            warm = warm_hi
        hr = cuda.local.array(cap, float64)
        hi = cuda.local.array(cap, int64)
        hrem = cuda.local.array(cap, float64)
        hat = cuda.local.array(cap, float64)
        hx = cuda.local.array(cap, float64)
        preemptive = form == f_static or form == f_dma
        t = 0.0
        busy = False
        cr = 0.0
        ci = 0
        crem = 0.0
        cat = 0.0
        cx = 1.0
        nq = 0
        nxt = 0
        done = 0
        maxq = 0
        flag = 0.0
        s_t = 0.0
        s_sd = 0.0
        cnt = 0.0
        ta = -math.log(uniform01(states, tid)) / lam
        while done < n:
            if busy and t + crem <= ta:
                t = t + crem
                if ci < n:
                    done += 1
                    if ci >= warm:
                        resp = t - cat
                        s_t += resp
                        s_sd += resp / cx
                        cnt += 1.0
                if nq > 0:
                    cr = hr[0]
                    ci = hi[0]
                    crem = hrem[0]
                    cat = hat[0]
                    cx = hx[0]
                    nq = drop_top(hr, hi, hrem, hat, hx, nq)
                else:
                    busy = False
            else:
                if busy:
                    el = ta - t
                    crem -= el
                    if form == f_dma:
                        cr -= el
                t = ta
                x = quantile(stab, uniform01(states, tid))
                d = x
                if use_pred:
                    if fmode == 1:
                        d = x * quantile(ftab, uniform01(states, tid))
                r = d
                if form == f_const:
                    r = 0.0
                i = nxt
                nxt += 1
                if not busy:
                    busy = True
                    cr = r
                    ci = i
                    crem = x
                    cat = t
                    cx = x
                else:
                    if nq >= cap:
                        flag = 1.0
                        break
                    if preemptive and r < cr:
                        nq = push(hr, hi, hrem, hat, hx, nq, cr, ci, crem, cat, cx)
                        cr = r
                        ci = i
                        crem = x
                        cat = t
                        cx = x
                    else:
                        nq = push(hr, hi, hrem, hat, hx, nq, r, i, x, t, x)
                    if nq > maxq:
                        maxq = nq
                ta = t - math.log(uniform01(states, tid)) / lam
        out[tid, 0] = s_t
        out[tid, 1] = cnt
        out[tid, 2] = s_sd
        out[tid, 3] = flag
        out[tid, 4] = maxq

    _KERNEL = kernel
    return kernel


# ---- host driver --------------------------------------------------------------------------------
def _seed_int(seed) -> tuple[int, object]:
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    val = int(root.generate_state(1, dtype=np.uint64)[0])
    return val, (root.entropy if not root.spawn_key else root)


def simulate_cuda(model, policy, jobs: int = 10**6, seed=None, threads: int = 4096,
                  warmup: float = 0.1, block: int | None = None, servers: int = 1,
                  speed: float = 1.0) -> SimResult:
    """Simulate ``policy`` on the one-server ``model`` with one replication per CUDA thread.

    ``jobs`` arrivals in all (exactly; ``jobs >= threads``) are split over ``threads`` as evenly
    as possible.  Returns a :class:`SimResult`
    with the mean, slowdown and their 95% intervals filled in; percentiles are empty and the
    binned statistics None.
    """
    if not available():
        raise RuntimeError("the CUDA backend needs numba.cuda with a usable GPU (or the CUDA "
                           "simulator: NUMBA_ENABLE_CUDASIM=1 before numba is imported); "
                           "numba.cuda.is_available() is False - use backend='cpu'")
    pol = get_policy(policy)
    jobs = check_count("jobs", jobs)
    threads = check_count("threads", threads)
    warmup = check_fraction("warmup", warmup)
    root = root_seed(seed)
    n, extra = divmod(jobs, threads)  # the first ``extra`` threads track n + 1 jobs
    if n < 1:
        raise ValueError(f"jobs={jobs} is too small for {threads} threads (replications): each "
                         f"thread tracks at least one job, so jobs >= {threads}")
    warm = int(warmup * n)
    warm_hi = int(warmup * (n + 1))
    why = supported(model, pol, servers, speed)
    if why is not None:
        raise NotImplementedError(why)
    plan = compile_policy(pol, 1, model)
    lam = float(model.arrival_rate)
    size = model.size
    pred = getattr(model, "prediction", None)
    load = lam * size.mean
    if not load < 1:
        raise ValueError(f"the queue is unstable: arrival_rate * E[X] = {load:.6g} >= 1")
    use_pred = plan.descriptor == "prediction"
    if use_pred and pred is None:
        raise ValueError(f"policy {plan.name} uses predictions but this model has none")
    stab = _size_table(size)
    fmode, ftab = _prediction_table(pred) if use_pred else (-1, np.zeros(2))

    from numba.cuda.random import create_xoroshiro128p_states

    kernel = _build_kernel()
    seed_val, seed_rec = _seed_int(root)
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # the simulator initialises the states in object mode
        warnings.simplefilter("ignore")
        states = create_xoroshiro128p_states(threads, seed=seed_val)
    d_out = cuda.device_array((threads, 5), dtype=np.float64)
    bs = int(block or (min(threads, 64) if simulator_enabled() else BLOCK))
    grid = -(-threads // bs)
    kernel[grid, bs](states, lam, int(plan.form), bool(use_pred), int(n), int(warm), int(warm_hi),
                     int(extra), cuda.to_device(stab), int(fmode), cuda.to_device(ftab), d_out)
    out = d_out.copy_to_host()
    cuda.synchronize()
    wall = time.perf_counter() - t0
    bad = int(np.count_nonzero(out[:, 3]))
    if bad:
        raise RuntimeError(f"the CUDA backend's per-thread queue (capacity {CAP} waiting jobs) "
                           f"overflowed in {bad} of {threads} threads at load {load:.4g}; "
                           "simulate a lower load or use backend='cpu'")
    cnt = out[:, 1]
    means = out[:, 0] / cnt
    slow = out[:, 2] / cnt
    return SimResult(
        policy=pol.name,
        mean=float(out[:, 0].sum() / cnt.sum()),
        ci=t_halfwidth(means),
        slowdown=float(out[:, 2].sum() / cnt.sum()),
        slowdown_ci=t_halfwidth(slow),
        percentiles={},
        percentile_ci={},
        by_size=None,
        by_prediction=None,
        jobs=jobs,
        jobs_recorded=int(cnt.sum()),
        replications=threads,
        replication_means=means,
        wall_time=wall,
        servers=1,
        speed=1.0,
        seed=seed_rec,
        model=repr(model),
        note=(f"CUDA backend ({'simulator' if simulator_enabled() else 'GPU'}): {threads} "
              f"threads, largest queue {int(out[:, 4].max())} of {CAP}; sizes from a "
              f"{NTAB}-point quantile table"),
    )
