"""Small numba simulators for the LLM-serving models of :mod:`qtheory.llm` and
:mod:`qtheory.llm.batching` (independent of the formulas; used to check them).

* :func:`priority_run`: one server, preemptive-resume, rank ``key0 - slope * age`` until the age
  reaches ``lim`` (then ``-inf``: the job runs to completion), FCFS among ties. Covers SPRPT with
  limited preemption (``key0 = y``, ``slope = 1``, ``lim = c y``) and SkipPredict (shorts:
  ``key0 = -1e300``, ``slope = 0``; longs: ``key0 = y``, ``slope = 1``, ``lim = inf``). Measures the
  time-average number and total age of *paused* jobs (preempted, waiting) and the preemptions,
  and supports a preemption cost: when a paused job resumes, the server first spends
  ``s0 + s1 * age`` (non-preemptible; the age does not advance), a model of KV recompute
  (``s1`` = recompute time per token) or swap-in.
* :func:`batching_fluid`: continuous batching as processor sharing with iteration time
  ``c + a n`` (each of the ``n`` active requests receives ``1 / (c + a n)`` tokens per unit
  time), at most ``bmax`` active, FCFS admission.
* :func:`batching_iterations`: the same at the level of iterations (discrete tokens; arrivals
  join at the next iteration boundary).
* :func:`dynamic_batching_run`: Inoue's dynamic batching (take every waiting job, up to
  ``bmax``, when the server frees up; batch time ``alpha b + tau0``).
* :func:`kv_memory_run`: iteration-level continuous batching under a KV memory of ``M`` tokens:
  a request of prompt ``s`` and output ``o`` holds ``s + j`` tokens during its ``j``-th decode
  iteration; FCFS admission at iteration boundaries when its peak ``s + o`` fits in what the
  admitted requests may still reach (so memory never overflows and nothing is evicted).
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: the decorator of the helpers that only compiled code calls: no CPython and C wrappers (a
#: sixth of a small function's compile time), not cached on their own (the cached kernels
#: hold their code)
_inner = njit(no_cpython_wrapper=True, no_cfunc_wrapper=True)

__all__ = ["priority_run", "batching_fluid", "batching_iterations", "dynamic_batching_run",
           "kv_memory_run", "batch_means"]


@_inner
def _less(k1, i1, k2, i2):
    return k1 < k2 or (k1 == k2 and i1 < i2)


@_inner
def _push(hk, hi, n, key, idx):
    j = n
    hk[j] = key
    hi[j] = idx
    while j > 0:
        p = (j - 1) // 2
        if _less(hk[j], hi[j], hk[p], hi[p]):
            hk[j], hk[p] = hk[p], hk[j]
            hi[j], hi[p] = hi[p], hi[j]
            j = p
        else:
            break
    return n + 1


@_inner
def _pop(hk, hi, n):
    idx = hi[0]
    n -= 1
    hk[0] = hk[n]
    hi[0] = hi[n]
    j = 0
    while True:
        lc = 2 * j + 1
        if lc >= n:
            break
        m = lc
        if lc + 1 < n and _less(hk[lc + 1], hi[lc + 1], hk[lc], hi[lc]):
            m = lc + 1
        if _less(hk[m], hi[m], hk[j], hi[j]):
            hk[j], hk[m] = hk[m], hk[j]
            hi[j], hi[m] = hi[m], hi[j]
            j = m
        else:
            break
    return idx, n


@njit(cache=True)
def priority_run(arr, x, key0, slope, lim, s0, s1, warm):
    """Simulate; returns (response times, [time span, area #paused, area age paused,
    preemptions of recorded jobs, recorded jobs, sum of ages at those preemptions]) after
    ``warm`` arrivals."""
    n = arr.size
    T = np.full(n, np.nan)
    age = np.zeros(n)
    started = np.zeros(n, np.bool_)
    hk = np.empty(n + 1)
    hi = np.empty(n + 1, np.int64)
    hn = np.int64(0)  # (int64 counters: a bare 0 or -1 passed to _push / _pop compiled them again per literal)
    run = np.int64(-1)
    setup = 0.0  # remaining setup work of the running job
    t = 0.0
    npaused = 0
    sage = 0.0  # total age of paused jobs
    area_n = 0.0
    area_a = 0.0
    t_rec = 0.0
    preempt = 0.0
    pre_age = 0.0
    i = np.int64(0)
    while i < n or run >= 0:
        ta = arr[i] if i < n else np.inf
        if run >= 0:
            tc = t + setup + (x[run] - age[run])
        else:
            tc = np.inf
        if tc <= ta:
            # completion
            if i > warm:
                area_n += npaused * (tc - t)
                area_a += sage * (tc - t)
                t_rec += tc - t
            t = tc
            age[run] = x[run]
            T[run] = t - arr[run]
            run = np.int64(-1)
            setup = 0.0
            if hn > 0:
                j, hn = _pop(hk, hi, hn)
                run = j
                if started[j]:
                    npaused -= 1
                    sage -= age[j]
                    setup = s0 + s1 * age[j]
                started[j] = True
            continue
        # arrival of job i at time ta
        if i > warm:
            area_n += npaused * (ta - t)
            area_a += sage * (ta - t)
            t_rec += ta - t
        if run >= 0:
            dt = ta - t
            if dt <= setup:
                setup -= dt
            else:
                age[run] += dt - setup
                setup = 0.0
        t = ta
        if run < 0:
            run = i
            started[i] = True
        else:
            a = age[run]
            if setup > 0 or a >= lim[run]:
                r = -np.inf
            else:
                r = key0[run] - slope[run] * a
            if key0[i] < r:
                # preempt the running job: it waits with its frozen rank
                hn = _push(hk, hi, hn, key0[run] - slope[run] * a, run)
                npaused += 1
                sage += a
                if run >= warm:
                    preempt += 1.0
                    pre_age += a
                run = i
                started[i] = True
                setup = 0.0
            else:
                hn = _push(hk, hi, hn, key0[i], i)
        i += 1
    stats = np.array([t_rec, area_n, area_a, preempt, float(n - warm), pre_age])
    return T, stats


@njit(cache=True)
def batching_fluid(arr, d, c, a, bmax):
    """Continuous batching as PS with state-dependent speed; returns response times."""
    n = arr.size
    T = np.full(n, np.nan)
    hk = np.empty(n + 1)
    hi = np.empty(n + 1, np.int64)
    hn = np.int64(0)  # active jobs keyed by virtual finishing time
    V = 0.0
    t = 0.0
    nxt = 0  # next arrival index
    adm = np.int64(0)  # next job to admit (FCFS); waiting = [adm, nxt)
    while nxt < n or hn > 0:
        ta = arr[nxt] if nxt < n else np.inf
        if hn > 0:
            tc = t + (hk[0] - V) * (c + a * hn)
        else:
            tc = np.inf
        if tc <= ta:
            V = hk[0]
            t = tc
            j, hn = _pop(hk, hi, hn)
            T[j] = t - arr[j]
            if adm < nxt and hn < bmax:
                hn = _push(hk, hi, hn, V + d[adm], adm)
                adm += 1
            continue
        if hn > 0:
            V += (ta - t) / (c + a * hn)
        t = ta
        nxt += 1
        if hn < bmax and adm == nxt - 1:
            hn = _push(hk, hi, hn, V + d[adm], adm)
            adm += 1
    return T


@njit(cache=True)
def batching_iterations(arr, d, c, a, bmax, b0=1):
    """Iteration-level continuous batching (integer tokens ``d >= 1``); response times.

    An iteration with ``n`` active requests takes ``c + a * ceil(n / b0)`` (``b0 = 1``: affine;
    ``b0 > 1``: the staircase of Li, Dai, Peng 2025)."""
    n = arr.size
    T = np.full(n, np.nan)
    rem = d.copy()
    active = np.empty(n, np.int64)
    na = 0
    adm = 0
    t = 0.0
    done = 0
    while done < n:
        # admit arrived jobs (FCFS) up to the cap
        while adm < n and arr[adm] <= t and na < bmax:
            active[na] = adm
            na += 1
            adm += 1
        if na == 0:
            t = arr[adm]
            continue
        t += c + a * ((na + b0 - 1) // b0)
        k = 0
        for m in range(na):
            j = active[m]
            rem[j] -= 1
            if rem[j] <= 0:
                T[j] = t - arr[j]
                done += 1
            else:
                active[k] = j
                k += 1
        na = k
    return T


@njit(cache=True)
def dynamic_batching_run(arr, alpha, tau0, bmax):
    """Dynamic batching (Inoue 2021); returns latencies (arrival to batch completion)."""
    n = arr.size
    T = np.full(n, np.nan)
    t = 0.0
    head = 0
    while head < n:
        if arr[head] > t:
            t = arr[head]
        # every job arrived by t (up to bmax) forms the batch
        end = head
        while end < n and arr[end] <= t and end - head < bmax:
            end += 1
        t += alpha * (end - head) + tau0
        for j in range(head, end):
            T[j] = t - arr[j]
        head = end
    return T


@njit(cache=True)
def kv_memory_run(arr_iter, s, o, M, n_iter, warm_iter):
    """Iterations ``0 .. n_iter - 1``; request ``i`` arrives before iteration ``arr_iter[i]``
    (non-decreasing). Returns (completions, sum of memory in use over iterations, requests
    waiting at the end, sum of the lifetime demands of the completed requests), counted over
    iterations ``>= warm_iter`` (completions: requests that finish there)."""
    n = arr_iter.size
    act_s = np.empty(n)
    act_o = np.empty(n)
    act_j = np.empty(n)
    na = 0
    head = 0  # first request not yet admitted
    p = 0  # requests that have arrived: 0 .. p-1
    reserved = 0.0
    done = 0
    mem_sum = 0.0
    g_sum = 0.0
    for it in range(n_iter):
        while p < n and arr_iter[p] <= it:
            p += 1
        # FCFS admission while the peak fits
        while head < p and reserved + s[head] + o[head] <= M:
            act_s[na] = s[head]
            act_o[na] = o[head]
            act_j[na] = 0.0
            reserved += s[head] + o[head]
            na += 1
            head += 1
        # one decode iteration: each active request generates its next token
        used = 0.0
        k = 0
        while k < na:
            act_j[k] += 1.0
            used += act_s[k] + act_j[k]
            if act_j[k] >= act_o[k]:
                if it >= warm_iter:
                    done += 1
                    g_sum += act_s[k] * act_o[k] + act_o[k] * (act_o[k] + 1.0) / 2.0
                reserved -= act_s[k] + act_o[k]
                na -= 1
                act_s[k] = act_s[na]
                act_o[k] = act_o[na]
                act_j[k] = act_j[na]
            else:
                k += 1
        if it >= warm_iter:
            mem_sum += used
    return done, mem_sum, p - head, g_sum


def batch_means(values, batches: int = 20) -> tuple[float, float]:
    """Mean and 95% confidence half-width by the method of batch means (``batches``
    consecutive batches; valid when a batch is much longer than the correlation time)."""
    from .results import t_halfwidth

    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    k = v.size // batches
    if k < 1:
        return float(v.mean()), float("nan")
    m = v[: k * batches].reshape(batches, k).mean(1)
    return float(v.mean()), t_halfwidth(m)
