"""Throughput of the Monte Carlo verifier (``python benchmarks/bench_sim.py``).

M/G/1 at load 0.9, exponential sizes (mean 1), log-normal predictions (sigma 0.5).  For each
policy it prints, on one core:

* ``event loop``: jobs per second of the compiled event loop (response times written to the
  completion buffers), on arrivals drawn beforehand and fed in chunks as ``simulate`` does
  (best of ``--repeat`` runs, CPU time of the thread);
* ``+ statistics``: the same plus the statistics pass (moments, histogram, bins);
* ``end-to-end``: ``simulate(..., replications=1, workers=1)``, i.e. also the batched numpy
  draws, the chunking and the result assembly (best CPU time of ``--repeat`` runs; target for
  SPRPT: >= 15 M jobs/s);

and, for SPRPT, the same arrivals through a *naive* baseline event loop written here (numba; at
every event it scans all jobs present for the least rank, no heap, no slots; it only sums the
response times) and the ratio of the two event loops.  Then the multi-threaded rate of
``simulate`` with one replication per core (wall time).

Finally the simulators a researcher would otherwise use, on the same model, measured in the same
run (``pip install .[benchmark]``; a missing one is reported and skipped): Ciw and SimPy for FCFS
(neither has SRPT or prediction-based disciplines built in), most-queue's ``SizeBasedQsSim`` for
SRPT and SPRPT (log-normal predictions with the same sigma).  Each runs ``--baseline-jobs`` jobs;
its rate (wall time, one core) is compared with qtheory's end-to-end one-core rate.  Target:
>= 200x each.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time

import numpy as np
from numba import njit

import qtheory as qt
from qtheory.sim import kernels as K
from qtheory.sim import simulate
from qtheory.sim._policy import compile_policy
from qtheory.sim._runner import BITGEN, CHUNK, Setup, _call, _State, draw


@njit(cache=True, nogil=True)
def naive_srpt(ia, x, d):
    """Baseline: preemptive SOAP with rank d - a on one server, scanning all present jobs at
    every event (ties to the earlier arrival).  Returns the mean response time."""
    n = ia.size
    cap = 64
    rank = np.empty(cap)
    rem = np.empty(cap)
    arr = np.empty(cap)
    jid = np.empty(cap, np.int64)
    m = 0
    t = 0.0
    tot = 0.0
    p = 0
    ta = ia[0]
    while p < n or m > 0:
        b = -1
        if m > 0:
            b = 0
            for i in range(1, m):
                if rank[i] < rank[b] or (rank[i] == rank[b] and jid[i] < jid[b]):
                    b = i
        if p < n and (b < 0 or ta < t + rem[b]):
            if b >= 0:
                rem[b] -= ta - t
                rank[b] -= ta - t
            t = ta
            if m == cap:  # grow (rare)
                cap *= 2
                rank2 = np.empty(cap)
                rem2 = np.empty(cap)
                arr2 = np.empty(cap)
                jid2 = np.empty(cap, np.int64)
                rank2[:m] = rank[:m]
                rem2[:m] = rem[:m]
                arr2[:m] = arr[:m]
                jid2[:m] = jid[:m]
                rank, rem, arr, jid = rank2, rem2, arr2, jid2
            rank[m] = d[p]
            rem[m] = x[p]
            arr[m] = t
            jid[m] = p
            m += 1
            p += 1
            if p < n:
                ta = t + ia[p]
        else:
            t += rem[b]
            tot += t - arr[b]
            m -= 1
            rank[b] = rank[m]
            rem[b] = rem[m]
            arr[b] = arr[m]
            jid[b] = jid[m]
    return tot / n


def kernel_rate(model, policy, ia, x, y, repeat, chunk=CHUNK):
    """Jobs/s of the event loop alone and with the statistics pass, on pre-drawn arrivals fed
    in chunks as ``simulate`` does (best CPU times over ``repeat`` runs); also returns E[T]."""
    plan = compile_policy(qt.get_policy(policy), 1, model)
    setup = Setup(model.arrival_rate, model.size, model.prediction, plan, 1, 1.0,
                  np.quantile(x[:20000], np.arange(1, 10) / 10),
                  np.quantile(y[:20000], np.arange(1, 10) / 10), True)
    dd = {"size": x, "prediction": y}.get(plan.descriptor, np.zeros_like(x))
    ctid = plan.table_ids(dd) if plan.tab_mode == 1 else np.zeros(0, np.int64)
    empty = np.zeros(0, np.int64)
    dummy = np.zeros((1, 1))
    n = ia.size
    best_loop = best_all = np.inf
    for _ in range(repeat):
        st = _State(setup, 1 << 10)
        st.si[K.SI_LEFT] = n
        acc = np.zeros(5)
        hist = np.zeros(K.HBINS, np.int64)
        bnx = np.zeros((10, 4))
        bny = np.zeros((10, 4))
        t_loop = t_stats = 0.0
        for c in range(0, n, chunk):
            sl = slice(c, c + chunk)
            st.si[K.SI_PTR] = 0
            while True:
                st.buffers(chunk)
                t0 = time.thread_time()
                status = _call(setup, plan.kind, st, ia[sl], x[sl], dd[sl], y[sl],
                               ctid[sl] if ctid.size else ctid, dummy, dummy, empty, n)
                t1 = time.thread_time()
                K.tally(st.bT, st.bX, st.bY, st.bJ, int(st.si[K.SI_NB]), 0, True, acc, hist,
                        setup.ex, setup.ey, setup.lx, setup.ly, bnx, bny, np.zeros(0))
                t_loop += t1 - t0
                t_stats += time.thread_time() - t1
                if status != K.NEED_CAP:
                    break
                st.grow(setup)
        best_loop = min(best_loop, t_loop)
        best_all = min(best_all, t_loop + t_stats)
    return acc[0] / best_loop, acc[0] / best_all, acc[1] / acc[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2_000_000, help="jobs per measurement")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline-jobs", type=int, default=30_000,
                    help="jobs per run of the other simulators (0: skip them)")
    args = ap.parse_args(argv)
    n = args.jobs
    model = qt.MG1(0.9, qt.Exponential(1.0), qt.LogNormalPrediction(0.5))
    rng = np.random.Generator(BITGEN(1))
    probe = Setup(model.arrival_rate, model.size, model.prediction,
                  compile_policy(qt.SPRPT(), 1), 1, 1.0, np.zeros(0), np.zeros(0), True)
    ia, x, _, y = draw(probe, n, rng)
    t0 = time.thread_time()
    for _ in range(40):  # at the chunk size simulate uses
        draw(probe, CHUNK, rng)
    t_draw = (time.thread_time() - t0) / (40 * CHUNK)
    print(f"M/G/1 load 0.9, Exponential(1) sizes, LogNormalPrediction(0.5); {n:,} jobs; "
          f"{os.cpu_count()} cores")
    print(f"batched numpy draws (interarrival, size, prediction; chunks of {CHUNK}, "
          f"{BITGEN.__name__}): {1 / t_draw / 1e6:.1f} M/s")

    # warm-up (compilation or cache load)
    naive_srpt(ia[:1000], x[:1000], y[:1000])
    for p in ("fcfs", "las", "ps"):
        simulate(model, p, jobs=2000, seed=0, replications=1, progress=False)

    best = np.inf
    for _ in range(args.repeat):
        t0 = time.thread_time()
        naive_mean = naive_srpt(ia, x, y)
        best = min(best, time.thread_time() - t0)
    naive = n / best

    print(f"\n{'policy':<13}{'event loop':>11}{'+ statistics':>14}{'end-to-end':>12}"
          f"{'E[T] sim':>10}{'formula':>9}   (M jobs/s on one core)")
    rows = ("sprpt", "srpt", "fcfs", "psjf", "pspjf", "spjf", "ps", "las", "srpt-bounce")
    ours = {}
    for p in rows:
        loop, with_stats, mean = kernel_rate(model, p, ia, x, y, args.repeat)
        e2e = 0.0
        for _ in range(args.repeat):  # best of, as for the event loop (a shared machine)
            t0 = time.thread_time()
            r = simulate(model, p, jobs=n, seed=2, replications=1, workers=1, progress=False)
            e2e = max(e2e, r.jobs / (time.thread_time() - t0))
        ours[p] = e2e
        try:
            f = f"{model.mean_response_time(p):.4f}"
        except (NotImplementedError, ImportError):
            f = "-"
        print(f"{p:<13}{loop / 1e6:>11.2f}{with_stats / 1e6:>14.2f}{e2e / 1e6:>12.2f}"
              f"{mean:>10.4f}{f:>9}")
        if p == "sprpt":
            sprpt_loop = loop
    print(f"\nnaive scan baseline (SPRPT event loop, same arrivals): {naive / 1e6:.2f} M/s, "
          f"E[T] = {naive_mean:.4f}")
    print(f"SPRPT event loop / naive baseline: {sprpt_loop / naive:.2f}x")
    print(f"SPRPT end-to-end on one core: {ours['sprpt'] / 1e6:.2f} M jobs/s, target >= 15: "
          f"{'PASS' if ours['sprpt'] >= 15e6 else 'FAIL'}")

    w = os.cpu_count() or 1
    t0 = time.perf_counter()
    r = simulate(model, "sprpt", jobs=n * w, seed=3, replications=w, progress=False)
    wall = time.perf_counter() - t0
    print(f"\nsimulate(SPRPT), {w} replications on {w} threads: {r.jobs / wall / 1e6:.2f} M/s "
          f"(wall), E[T] = {r.mean:.4f} ± {r.ci:.4f}")
    if args.baseline_jobs > 0:
        baselines(model, ours, args.baseline_jobs)


# ---- other simulators (same model: Poisson arrivals at rate 0.9, Exponential(1) sizes) ----------
def ciw_fcfs(n: int, lam: float, seed: int = 1) -> tuple[float, float]:
    """Ciw M/M/1 FCFS: (jobs/s, mean response time)."""
    import ciw

    t0 = time.perf_counter()
    net = ciw.create_network(arrival_distributions=[ciw.dists.Exponential(rate=lam)],
                             service_distributions=[ciw.dists.Exponential(rate=1.0)],
                             number_of_servers=[1])
    ciw.seed(seed)
    sim = ciw.Simulation(net)
    sim.simulate_until_max_customers(n, method="Finish")
    recs = sim.get_all_records()
    dt = time.perf_counter() - t0
    return len(recs) / dt, float(np.mean([r.waiting_time + r.service_time for r in recs]))


def simpy_fcfs(n: int, lam: float, seed: int = 1) -> tuple[float, float]:
    """SimPy M/M/1 FCFS (the textbook process-per-customer model): (jobs/s, mean T)."""
    import simpy

    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    times: list[float] = []

    def customer(env, size):
        t_arr = env.now
        with server.request() as req:
            yield req
            yield env.timeout(size)
        times.append(env.now - t_arr)

    def source(env):
        for _ in range(n):
            yield env.timeout(rng.exponential(1 / lam))
            env.process(customer(env, rng.exponential(1.0)))

    t0 = time.perf_counter()
    env.process(source(env))
    env.run()
    dt = time.perf_counter() - t0
    return len(times) / dt, float(np.mean(times))


class _LogNormalPredictor:
    """most-queue predictor: log Y ~ N(log x, sigma^2), as qt.LogNormalPrediction."""

    def __init__(self, sigma: float):
        self.sigma = sigma

    def predict(self, size, rng):
        return float(size * np.exp(self.sigma * rng.standard_normal()))


def most_queue_sim(n: int, lam: float, discipline: str, sigma: float = 0.5) -> tuple[float, float]:
    """most-queue SizeBasedQsSim (M/M/1): (jobs/s, mean T)."""
    from most_queue.sim.size_based import SizeBasedQsSim

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        sim = SizeBasedQsSim(1, discipline=discipline, verbose=False)
        sim.set_sources(lam, "M")
        sim.set_servers(1.0, "M")
        if discipline.startswith("SP"):
            sim.set_predictor(_LogNormalPredictor(sigma))
        res = sim.run(n)
    dt = time.perf_counter() - t0
    return n / dt, float(res.v[0])


def baselines(model, ours: dict[str, float], n: int) -> None:
    """Print the other simulators' rates and the ratios (ours: one-core end-to-end jobs/s)."""
    lam = model.arrival_rate
    rows = [("Ciw 3", "fcfs", lambda: ciw_fcfs(n, lam)),
            ("SimPy 4", "fcfs", lambda: simpy_fcfs(n, lam)),
            ("most-queue", "srpt", lambda: most_queue_sim(n, lam, "SRPT")),
            ("most-queue", "sprpt", lambda: most_queue_sim(n, lam, "SPRPT"))]
    print(f"\nother simulators ({n:,} jobs each, wall time, one core) vs qtheory end-to-end one core:")
    print(f"{'simulator':<12}{'policy':<8}{'jobs/s':>10}{'E[T]':>9}{'qtheory jobs/s':>16}{'ratio':>9}  target >= 200x")
    for name, pol, fn in rows:
        try:
            rate, mean = fn()
        except ImportError as e:
            print(f"{name:<12}{pol:<8}  not installed ({e.name}; pip install .[benchmark])")
            continue
        ratio = ours[pol] / rate
        print(f"{name:<12}{pol:<8}{rate:>10,.0f}{mean:>9.3f}{ours[pol]:>16,.0f}{ratio:>8.0f}x  "
              f"{'PASS' if ratio >= 200 else 'FAIL'}")


if __name__ == "__main__":
    main()
