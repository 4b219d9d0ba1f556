"""Speed benchmark of the response-time distributions (issue 16; closed-form size-based policies).

Run from the repository root::

    python benchmarks/bench_distribution.py            # full run
    python benchmarks/bench_distribution.py --quick    # FCFS and one class only
    python benchmarks/bench_distribution.py --targets --baseline ../old-checkout [--full]
                                                       # issue 16 targets, new against old
    python benchmarks/bench_distribution.py --targets --matrix --baseline ../old-checkout \
        [--policies srpt,psjf] [--sizes exp] [--sweep-loads 50]
                                                       # p99 of FCFS/PSJF/SRPT/SPJF/PSPJF/SPRPT/
                                                       # TRAIL(0.8)
                                                       # on Exp and Weibull(0.5) at 0.5/0.8/0.95,
                                                       # and load sweeps, new against old
                                                       # (--sweep-loads 0: single values only,
                                                       # with the largest relative difference)
    python benchmarks/bench_distribution.py --sweeps [--policies las,srpt] [--sizes exp,weib0.5]
        [--levels 0.5,0.9,0.99] [--baseline ../main-clone]
                                                       # 50-load p99 sweeps: the continuation
                                                       # against each load from scratch, same run
                                                       # (and against a baseline checkout)
    python benchmarks/bench_distribution.py --targets --matrix --kernel-switch
                                                       # the same against this checkout with the
                                                       # direct Kendall kernel (in a subprocess)

Measures, best of ``--repeat`` runs with ``time.perf_counter``:

* one percentile (p99) of each policy at load 0.8 on Exp(1) sizes, unconditional and for the
  class x = 1 (target < 50 ms);
* a 50-load p99 sweep (``np.linspace(0.05, 0.95, 50)``) of FCFS (target < 1 s);
* the prediction-based policies (SPJF, PSPJF, SPRPT; Exp(1) sizes, exponential predictions,
  load 0.8): one p99 of a class (x, y) = (1, 0.7) and of the unconditional law;
* ``--targets --full``: besides, the unconditional p99 of SPJF, PSPJF, SPRPT and TRAIL(0.8) and
  the 50-load p99 sweeps of SPJF, PSPJF and SPRPT (Exp(1) sizes, exponential predictions);
* TRAIL(c), c = 0.5 and 0.8, the same cases for T and W, and the Azure conversation trace at
  load 0.8 (1641 and 39 Euler terms);
* the generic policies (target < 2 s a value; SRPT-Bounce with ``--full``): Gittins on
  LogNormal(1) on the law itself, with the prefix kernel against the direct Newton in the same
  run, Gittins on 200 empirical sizes, and M/D/1-PS;

and the accuracy of the M/M/1 FCFS p99 against the exact ``log(100) / (mu - lambda)``. Targets
are printed as PASS/FAIL, never asserted. The first call compiles the numba kernels (cached on
disk); it is excluded by a warm-up call of every size-based policy (class and unconditional)
and of SPRPT on a model of its own. ``--targets`` prints wall and CPU seconds: on a shared
machine the CPU seconds are the figures to compare (the PASS/FAIL verdict uses the wall time).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

import qtheory as qt
from qtheory.engine.response_distribution import response_time_distribution


def warm_up() -> None:
    """Load every compiled kernel the timed rows use (numba's on-disk cache: tens of ms a
    kernel on first use in a process) on a model of its own (no law shared with the rows)."""
    q = qt.MG1(0.3, qt.Exponential(2.0))
    qp = qt.MG1(0.3, qt.Exponential(2.0), qt.ExponentialPrediction())
    for pol in ("fcfs", "las", "sjf", "psjf", "srpt"):
        response_time_distribution(q, pol, x=1.0).cdf(2.0)
        response_time_distribution(q, pol).cdf(2.0)
    response_time_distribution(qp, "sprpt", x=1.0, y=0.7).cdf(2.0)
    for pol in ("spjf", "pspjf", "sprpt", qt.TRAIL(0.8)):  # the unconditional prediction kernels
        d = response_time_distribution(qp, pol)
        d.cdf(2.0)
        d.mean()  # the moments' kernels (the solver's start)
    response_time_distribution(qp, "srpt-bounce").cdf(2.0)  # the bounce's kernels


def best(fn, repeat: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    q = qt.MG1(0.8, qt.Exponential(1.0))
    warm_up()  # compile / load the kernels
    policies = ["fcfs"] if args.quick else ["fcfs", "las", "sjf", "psjf", "srpt"]
    print(f"{'policy':8s} {'class':>8s} {'p99':>14s} {'seconds':>9s}  target 0.05 s")
    for pol in policies:
        for x in ([None, 1.0] if not args.quick or pol == "fcfs" else [1.0]):
            repeat = args.repeat if pol in ("fcfs",) or x is not None else 1
            dt, v = best(lambda pol=pol, x=x: response_time_distribution(q, pol, x=x).ppf(0.99), repeat)
            label = "all" if x is None else f"x={x:g}"
            print(f"{pol:8s} {label:>8s} {v:14.10g} {dt:9.4f}  {'PASS' if dt < 0.05 else 'FAIL'}")
    exact = math.log(100) / 0.2
    got = response_time_distribution(q, "fcfs").ppf(0.99)
    print(f"M/M/1 FCFS p99 at 0.8: {got:.12g} against {exact:.12g}: relative error {abs(got / exact - 1):.1e}")
    loads = np.linspace(0.05, 0.95, 50)

    def sweep():
        return [response_time_distribution(q.with_load(r), "fcfs").ppf(0.99) for r in loads]

    dt, vals = best(sweep, args.repeat)
    err = max(abs(v / (math.log(100) / (1 - r)) - 1) for v, r in zip(vals, loads, strict=True))
    print(f"50-load FCFS p99 sweep: {dt:.3f} s (target 1 s: {'PASS' if dt < 1 else 'FAIL'}), "
          f"max relative error {err:.1e}")
    if args.quick:
        return
    qp = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    # baseline in the same run: the size-based twin's class and unconditional p99
    for pol, twin in (("spjf", "sjf"), ("pspjf", "psjf"), ("sprpt", "srpt")):
        for x, y in ((1.0, 0.7), (None, None)):
            dt, v = best(lambda pol=pol, x=x, y=y: response_time_distribution(qp, pol, x=x, y=y).ppf(0.99), 1)
            db, _ = best(lambda twin=twin, x=x: response_time_distribution(qp, twin, x=x).ppf(0.99), 1)
            label = "all" if x is None else f"x={x:g},y={y:g}"
            print(f"{pol:8s} {label:>12s} p99 {v:12.8g} {dt:8.3f} s ({twin} same class: {db:.3f} s, "
                  f"ratio {dt / db:.2f})")
    trail_rows(qp)
    generic_rows()


def trail_rows(qp) -> None:
    """TRAIL(c) (limited preemption): p99 of T and of W, a class (1, 0.7) and unconditional, on
    Exp(1) sizes with exponential predictions at load 0.8, with SPRPT (its c = 1) in the same
    run; and on the Azure conversation trace at load 0.8 (a discrete law: 1641 Euler terms),
    unconditional, with the 39-term sum the tail allows beside it."""
    from qtheory.engine import laplace_inversion as li
    from qtheory.engine.response_distribution import waiting_time_distribution

    for c in (0.5, 0.8):
        pol = qt.TRAIL(c)
        for x, y in ((1.0, 0.7), (None, None)):
            label = "all" if x is None else f"x={x:g},y={y:g}"
            dt, v = best(lambda x=x, y=y, pol=pol: response_time_distribution(qp, pol, x=x, y=y).ppf(0.99), 1)
            dw, w = best(lambda x=x, y=y, pol=pol: waiting_time_distribution(qp, pol, x=x, y=y).ppf(0.99), 1)
            db, _ = best(lambda x=x, y=y: response_time_distribution(qp, "sprpt", x=x, y=y).ppf(0.99), 1)
            print(f"{pol.name:13s} {label:>12s} p99 T {v:10.6g} {dt:7.3f} s, W {w:10.6g} {dw:7.3f} s "
                  f"(SPRPT's T same run: {db:.3f} s)")
    trace = qt.datasets.azure_llm_2023("conv").model(0.8)
    pol = qt.TRAIL(0.8)
    for name, fn in (("T", response_time_distribution), ("W", waiting_time_distribution)):
        d = fn(trace, pol)
        dt, v = best(lambda d=d: d.ppf(0.99), 1)
        d.euler = (li.EULER_A, li.EULER_N, li.EULER_M)
        ds, vs = best(lambda d=d: d.ppf(0.99), 1)
        print(f"{pol.name} conv trace, p99 of {name}: {v:.8g} in {dt:.2f} s (1641 terms); "
              f"{vs:.8g} in {ds:.2f} s (39 terms, relative {abs(vs / v - 1):.1e})")


# ---- issue 16 targets, against a baseline checkout in the same run -------------------------------
def generic_rows() -> None:
    """The generic policies' distributions (target < 2 s a value): Gittins on LogNormal(1) on
    the law itself, with Kendall's equation by the prefix kernel and, as the baseline in the
    same run, by the direct Newton; Gittins on 200 empirical sizes (discrete route); M/D/1-PS."""
    from qtheory.engine import response_distribution as rd

    ln = qt.MG1(0.8, qt.LogNormal(1.0))
    response_time_distribution(ln, "gittins", x=1.0).ppf(0.5)  # the rank interpolant (cached)
    times = {}
    for kernel in (True, False):
        rd.PREFIX_KERNEL = kernel
        try:
            dt, v = best(lambda: response_time_distribution(ln, "gittins").ppf(0.99), 1)
        finally:
            rd.PREFIX_KERNEL = True
        times[kernel] = dt
        print(f"gittins  LogNormal(1) p99 {v:12.8g} {dt:8.3f} s "
              f"({'prefix kernel' if kernel else 'direct Newton'})")
    print(f"gittins  LogNormal(1): ratio direct / prefix {times[False] / times[True]:.1f}, "
          f"target 2 s: {'PASS' if times[True] < 2 else 'FAIL'}")
    rng = np.random.default_rng(1)
    sizes = rng.lognormal(0.0, 1.0, 200)
    qe = qt.MG1(0.8 / float(np.mean(sizes)), qt.Empirical(sizes))
    dt, v = best(lambda: response_time_distribution(qe, "gittins").ppf(0.99), 1)
    print(f"gittins  200 empirical sizes p99 {v:12.8g} {dt:8.3f} s (target 2 s: "
          f"{'PASS' if dt < 2 else 'FAIL'})")
    qd = qt.MG1(0.8, qt.Deterministic(1.0))
    dt, v = best(lambda: response_time_distribution(qd, "ps").ppf(0.99), 1)
    print(f"ps       M/D/1 p99 {v:12.8g} {dt:8.3f} s (target 2 s: {'PASS' if dt < 2 else 'FAIL'})")


def _old_piece_mass(size) -> float:
    """SPRPT's sparse old piece on a joint rule of its own (exponential predictions, load 0.8):
    the rule, then ``gt_rem`` on its threshold grid; the total weight."""
    from qtheory.engine import response_distribution_prediction as rdp

    rule = rdp.joint_rule(qt.MG1(0.8 / size.mean, size, qt.ExponentialPrediction()), conditional=False)
    return float(rule.gt_rem(rule.tgrid().t)[1].sum())


def _targets(full: bool) -> list[tuple[str, Callable[[], object]]]:
    q = qt.MG1(0.8, qt.Exponential(1.0))
    qp = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    loads = np.linspace(0.05, 0.95, 50)
    rows = [
        ("fcfs p99 all", lambda: response_time_distribution(q, "fcfs").ppf(0.99)),
        ("fcfs p99 x=1", lambda: response_time_distribution(q, "fcfs", x=1.0).ppf(0.99)),
        ("fcfs W p50,p99", lambda: q.waiting_time_distribution("fcfs").ppf([0.5, 0.99])),
        ("fcfs p50,p99 50-load sweep", lambda: np.asarray(q.sweep_percentiles("fcfs", loads, q=(0.5, 0.99)))),
        ("las p99 x=1", lambda: response_time_distribution(q, "las", x=1.0).ppf(0.99)),
        ("sjf p99 x=1", lambda: response_time_distribution(q, "sjf", x=1.0).ppf(0.99)),
        ("psjf p99 x=1", lambda: response_time_distribution(q, "psjf", x=1.0).ppf(0.99)),
        ("srpt p99 x=1", lambda: response_time_distribution(q, "srpt", x=1.0).ppf(0.99)),
        ("sprpt p99 x=1,y=0.7", lambda: response_time_distribution(qp, "sprpt", x=1.0, y=0.7).ppf(0.99)),
    ]
    if full:
        rows += [(f"{p} p99 all", lambda p=p: response_time_distribution(q, p).ppf(0.99))
                 for p in ("las", "sjf", "psjf", "srpt")]
        rows += [(f"{p} p99 all (pred.)", lambda p=p: response_time_distribution(qp, p).ppf(0.99))
                 for p in ("spjf", "pspjf", "sprpt")]
        rows.append(("trail0.8 p99 all (pred.)",
                     lambda: response_time_distribution(qp, qt.TRAIL(0.8)).ppf(0.99)))
        # SPRPT's load-free set-up alone (joint rule, old piece, tables) on a law of its own, and
        # on Weibull(0.5) sizes (the old piece's sums: 80% of it on main); the mean as value
        rows += [(f"sprpt set-up {name} (pred.)", lambda size=size: response_time_distribution(
                    qt.MG1(0.8 / size.mean, size, qt.ExponentialPrediction()), "sprpt").mean())
                 for name, size in (("exp", qt.Exponential(1.0)), ("weib0.5", qt.Weibull(shape=0.5, mean=1.0)))]
        # SPRPT's old piece alone (the joint rule built, then gt_rem on its threshold grid: 280
        # thresholds on Exp(1), 440 on Weibull(0.5); the weights' sum as value), and a class on
        # laws of their own (its conditional rule and tables built in the row)
        rows += [(f"sprpt old piece {name} (pred.)", lambda mk=mk: _old_piece_mass(mk()))
                 for name, mk in (("exp", lambda: qt.Exponential(1.0)),
                                  ("weib0.5", lambda: qt.Weibull(shape=0.5, mean=1.0)))]
        rows.append(("sprpt p99 x=1,y=0.7 own laws (pred.)", lambda: response_time_distribution(
            qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction()), "sprpt", x=1.0, y=0.7).ppf(0.99)))
        # the prediction policies' sweeps on a model of their own (its joint rule and load-free
        # tables built in the row)
        rows += [(f"{p} p99 50-load sweep (pred.)", lambda p=p: np.asarray(
                    qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction()).sweep_percentiles(
                        p, loads, q=(0.99,))))
                 for p in ("spjf", "pspjf", "sprpt")]
        # TRAIL(0.8) (limited preemption): a class, and the sweep on a model of its own (its
        # sparse piece's tables built in the row, then reused across the loads)
        rows.append(("trail0.8 p99 x=1,y=0.7",
                     lambda: response_time_distribution(qp, qt.TRAIL(0.8), x=1.0, y=0.7).ppf(0.99)))
        rows.append(("trail0.8 p99 50-load sweep (pred.)", lambda: np.asarray(
            qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction()).sweep_percentiles(
                qt.TRAIL(0.8), loads, q=(0.99,)))))
        # SJF's class on sizes with an upper end (its split at b + kx, refined)
        qu = qt.MG1(0.8, qt.Uniform(0.0, 2.0))
        rows.append(("sjf p99 x=1 (uniform)", lambda: response_time_distribution(qu, "sjf", x=1.0).ppf(0.99)))
        # a generic policy (target 2 s a value); its sweep: --matrix --policies srpt-bounce
        rows += [("srpt-bounce p99 all (pred.)", lambda: response_time_distribution(qp, "srpt-bounce").ppf(0.99))]
    return rows


#: the laws and loads of the issue-16 percentile matrix (``--matrix``)
MATRIX_SIZES = {"exp": lambda: qt.Exponential(1.0), "weib0.5": lambda: qt.Weibull(shape=0.5, mean=1.0)}
MATRIX_POLICIES = ("fcfs", "psjf", "srpt", "spjf", "pspjf", "sprpt", "trail0.8")
MATRIX_LOADS = (0.5, 0.8, 0.95)


#: the generic policies of issue 16's targets (2 s a value)
GENERIC = ("srpt-bounce", "gittins", "conditional-gittins", "cg")


def _policy(name: str):
    return qt.TRAIL(0.8) if name == "trail0.8" else name


def _matrix(policies, sizes, sweep_loads: int) -> list[tuple[str, Callable[[], object]]]:
    """One p99 from scratch (the laws built anew: no cache shared with another row) of each
    policy x size law x load, and a p99 sweep over ``sweep_loads`` loads in [0.05, 0.95]
    (``MG1.sweep_percentiles``; 50 is the issue's target) per policy and law; exponential
    predictions for every policy (the size-based ones ignore them)."""
    rows = []
    for pname in policies:
        for lname in sizes:
            def model(load, lname=lname):
                size = MATRIX_SIZES[lname]()
                return qt.MG1(load / size.mean, size, qt.ExponentialPrediction())
            for load in MATRIX_LOADS:
                rows.append((f"{pname} {lname} {load:g} p99",
                             lambda m=model, load=load, p=pname:
                             m(load).response_time_distribution(_policy(p)).ppf(0.99)))
            if sweep_loads <= 0:
                continue
            loads = np.linspace(0.05, 0.95, sweep_loads)
            rows.append((f"{pname} {lname} {sweep_loads}-load sweep",
                         lambda m=model, p=pname, loads=loads: np.asarray(
                             m(0.5).sweep_percentiles(_policy(p), loads, q=(0.99,)))))
    return rows


def _measure(full: bool, matrix=None) -> list[tuple[str, float, float, float]]:
    """(name, wall seconds, CPU seconds, last value) per target, after a warm-up call."""
    warm_up()
    out = []
    for name, fn in (_targets(full) if matrix is None else _matrix(*matrix)):
        t0, c0 = time.perf_counter(), time.process_time()
        v = np.asarray(fn(), float).reshape(-1)[-1]
        out.append((name, time.perf_counter() - t0, time.process_time() - c0, float(v)))
    return out


def targets_main(argv: list[str] | None = None) -> None:
    """``--targets [--full] [--baseline DIR]``: each issue-16 target timed with this checkout and,
    with ``--baseline``, with the ``qtheory`` package of ``DIR`` (e.g. a ``git worktree`` of the
    previous commit) in a subprocess of the same run; prints both and the ratio old / new."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", action="store_true")
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--matrix", action="store_true",
                    help="the percentile matrix: policies x laws x loads, and load sweeps")
    ap.add_argument("--policies", default=",".join(MATRIX_POLICIES))
    ap.add_argument("--sizes", default=",".join(MATRIX_SIZES))
    ap.add_argument("--sweep-loads", type=int, default=50, help="0: no sweep rows")
    ap.add_argument("--kernel-switch", action="store_true",
                    help="baseline: this checkout with the direct Kendall kernel (PREFIX_KERNEL = False)")
    args = ap.parse_args(argv)
    matrix = ((args.policies.split(","), args.sizes.split(","), args.sweep_loads)
              if args.matrix else None)
    if args.kernel_switch and args.json:
        from qtheory.engine import response_distribution as rd

        rd.PREFIX_KERNEL = False
    new = _measure(args.full, matrix)
    if args.json:
        print(json.dumps(new))
        return
    old = {}
    if args.baseline or args.kernel_switch:
        env = dict(os.environ)
        if args.baseline:
            env["PYTHONPATH"] = os.path.abspath(args.baseline)
        cmd = [sys.executable, os.path.abspath(__file__), "--targets", "--json"] + (["--full"] if args.full else [])
        cmd += ["--kernel-switch"] if args.kernel_switch and not args.baseline else []
        if args.matrix:
            cmd += ["--matrix", "--policies", args.policies, "--sizes", args.sizes,
                    "--sweep-loads", str(args.sweep_loads)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        old = {r[0]: r for r in json.loads(res.stdout.strip().splitlines()[-1])}
    print(f"load average {os.getloadavg()[0]:.2f}; wall (CPU) seconds, old/new of the CPU seconds; "
          f"baseline: {args.baseline or ('PREFIX_KERNEL = False' if args.kernel_switch else 'none')}")
    print(f"{'target':28s} {'new':>16s} {'old':>16s} {'old/new':>8s} {'value new':>14s} {'value old':>14s} "
          f"{'rel diff':>8s} target")
    worst = 0.0
    for name, wall, cpu, v in new:
        o = old.get(name)
        if o and "sweep" not in name:
            worst = max(worst, abs(v / o[3] - 1))
        ostr = f"{o[1]:7.3f} ({o[2]:6.3f})" if o else ""
        ratio = f"{o[2] / cpu:8.2f}" if o else ""  # CPU seconds: the machine may be shared
        vo = f"{o[3]:14.10g}" if o else ""
        rel = f"{abs(v / o[3] - 1):8.1e}" if o else ""
        # issue 16: 50 ms a percentile of a closed-form policy, 2 s a value of a generic one
        # (SRPT-Bounce, Gittins, ConditionalGittins), 1 s a 50-load sweep
        goal = 1.0 if "sweep" in name else 2.0 if name.split()[0] in GENERIC else 0.05
        ok = "" if "sweep" in name and not name.split()[2].startswith("50-") else \
            f"{'PASS' if wall < goal else 'FAIL'} ({goal:g} s)"
        print(f"{name:28s} {wall:7.3f} ({cpu:6.3f}) {ostr:>16s} {ratio:>8s} {v:14.10g} {vo:>14s} {rel:>8s} {ok}")
    if old:
        print(f"largest relative difference of a single percentile, new against baseline: {worst:.1e}")


# ---- load sweeps: the continuation against the old path, in the same run ----------------------
SWEEP_POLICIES = ("fcfs", "las", "sjf", "psjf", "srpt")


def _old_sweep(model, policy, loads, levels, waiting: bool = False) -> np.ndarray:
    """The sweep as ``MG1.sweep_percentiles`` computed it before the continuation: every load's
    quantiles from scratch (the gamma-fit start and the cheap Euler steps), in the given order."""
    out = np.empty((loads.size, len(levels)))
    for i, rho in enumerate(loads):
        m = model.with_load(float(rho))
        d = m.waiting_time_distribution(policy) if waiting else m.response_time_distribution(policy)
        out[i] = d.ppf(list(levels))
        d.mean()
    return out


def _timed(fn) -> tuple[float, float, object]:
    t0, c0 = time.perf_counter(), time.process_time()
    v = fn()
    return time.perf_counter() - t0, time.process_time() - c0, v


def _sweep_rows(policies, sizes, loads, levels) -> list[tuple]:
    """``(policy, size, new wall, new CPU, old wall, old CPU, new values, old values)`` per policy
    and law: ``MG1.sweep_percentiles`` and ``_old_sweep`` (the old path first)."""
    rows = []
    for lname in sizes:
        for pname in policies:
            size = MATRIX_SIZES[lname]()
            model = qt.MG1(0.5 / size.mean, size, qt.ExponentialPrediction())
            pol = _policy(pname)
            wo, co, old = _timed(lambda m=model, p=pol: _old_sweep(m, p, loads, levels))
            wn, cn, new = _timed(lambda m=model, p=pol: np.asarray(m.sweep_percentiles(p, loads, q=levels)))
            rows.append((pname, lname, wn, cn, wo, co, np.asarray(new).tolist(), np.asarray(old).tolist()))
    return rows


def _max_rel(a, b) -> np.ndarray:
    """The largest relative difference per level (column)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.max(np.where(a == b, 0.0, np.abs(a / b - 1)), axis=0)


def sweeps_main(argv: list[str] | None = None) -> None:
    """``--sweeps [--policies fcfs,las,...] [--sizes exp,weib0.5] [--sweep-loads 50]
    [--levels 0.99] [--baseline DIR]``: each policy's load sweep (``np.linspace(0.05, 0.95, n)``)
    by ``MG1.sweep_percentiles`` (the quantiles continued from load to load) and by the old path
    (``_old_sweep``: each load from scratch; the kernels and caches of this checkout, so the
    ratio is the continuation's alone), in the same run, the old path first; prints wall and
    CPU seconds, the ratio of the CPU seconds, the largest relative difference of the values
    and PASS/FAIL against the 1 s target (wall seconds; on a shared machine read the CPU
    column). ``--baseline DIR``: the same sweeps with the ``qtheory`` package of ``DIR`` (e.g.
    a clone of main) in a subprocess of the same run, printed beside them with the ratio of the
    CPU seconds and the largest relative difference per level of the sweeps' values, new
    against the baseline."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweeps", action="store_true")
    ap.add_argument("--policies", default=",".join(SWEEP_POLICIES))
    ap.add_argument("--sizes", default="exp")
    ap.add_argument("--sweep-loads", type=int, default=50)
    ap.add_argument("--levels", default="0.99")
    ap.add_argument("--baseline", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    levels = [float(v) for v in args.levels.split(",")]
    loads = np.linspace(0.05, 0.95, args.sweep_loads)
    warm_up()
    rows = _sweep_rows(args.policies.split(","), args.sizes.split(","), loads, levels)
    if args.json:
        print(json.dumps(rows))
        return
    base = {}
    if args.baseline:
        env = dict(os.environ, PYTHONPATH=os.path.abspath(args.baseline))
        cmd = [sys.executable, os.path.abspath(__file__), "--sweeps", "--json", "--policies", args.policies,
               "--sizes", args.sizes, "--sweep-loads", str(args.sweep_loads), "--levels", args.levels]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        base = {(r[0], r[1]): r for r in json.loads(res.stdout.strip().splitlines()[-1])}
    print(f"load average {os.getloadavg()[0]:.2f}; {args.sweep_loads}-load sweeps of {levels}; "
          f"wall (CPU) seconds; baseline: {args.baseline or 'none'}")
    print(f"{'policy':8s} {'size':8s} {'new':>16s} {'old path':>16s} {'old/new':>8s} {'max rel diff':>12s} "
          f"{'baseline':>16s} {'base/new':>8s} {'rel diff to baseline':>22s} target")
    for pname, lname, wn, cn, wo, co, new, old in rows:
        rel = float(np.max(_max_rel(new, old)))
        b = base.get((pname, lname))
        bstr = f"{b[2]:7.3f} ({b[3]:6.3f}) {b[3] / cn:8.2f} " + \
            " ".join(f"{v:.1e}" for v in _max_rel(new, b[6])) if b else ""
        verdict = f"{'PASS' if wn < 1.0 else 'FAIL'} (1 s wall), CPU {'PASS' if cn < 1.0 else 'FAIL'}"
        print(f"{pname:8s} {lname:8s} {wn:7.3f} ({cn:6.3f}) {wo:7.3f} ({co:6.3f}) {co / cn:8.2f} "
              f"{rel:12.1e} {bstr:>48s} {verdict}")


if __name__ == "__main__":
    if "--targets" in sys.argv:
        targets_main()
    elif "--sweeps" in sys.argv:
        sweeps_main()
    else:
        main()
