"""Speed and accuracy of the generic SOAP route (issue 15): the evaluator on the law itself
(:mod:`qtheory.engine.soap_exact`, blind ranks) against the discretised route
(:func:`qtheory.engine.generic.evaluate_discretised`), both measured in this run.

Run from the repository root::

    python benchmarks/bench_generic.py            # full run
    python benchmarks/bench_generic.py --quick    # one repeat, fewer cases
    python benchmarks/bench_generic.py --conditional-only   # ConditionalGittins only

Each case builds a fresh size law (no cached rank) and times one cold evaluation at load 0.8
(best of ``--repeat``), then a warm 50-load sweep (``np.linspace(0.05, 0.98, 50)``) on the same
law. The accuracy columns are against the closed form where Gittins reduces to FB or FCFS and
against the independent mpmath evaluation of ``tests/gittins_mp_reference.py`` otherwise.
Then SRPT-Bounce and SPRPT on Exp sizes with exponential predictions through the factor route
(:mod:`qtheory.engine.soap_factor`) against the discretised route (cold), and its warm 50-load
sweep through the load-independent sums against the same tables evaluated node by node (the
route's per-load path before the sums), and ConditionalGittins and
SRPT-Bounce on EmpiricalPairs through the level sweep (:mod:`qtheory.engine.soap_sweep`) against
the per-threshold scan on the same tables. Last, ConditionalGittins on Exp sizes with
exponential predictions: the default route on the law itself
(:mod:`qtheory.engine.soap_conditional`) against the discretised route, each in a fresh
process (cold: no tables, numba cache warm), at one load and for the 50-load sweep, with the
CPU and wall times (and a second cold evaluation in the same process), their ratios and both
routes' values and estimates, the first compile of the kernels (an empty numba cache) and the
default ``qtheory`` table in a fresh process, with PASS/FAIL against the targets of issue 15
(``--quick`` leaves it out unless ``--conditional`` is given).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import mpmath as mp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import qtheory as qt  # noqa: E402
from qtheory import generic  # noqa: E402
from qtheory.engine import soap_factor  # noqa: E402

LOADS = np.linspace(0.05, 0.98, 50)


def _best(fn, repeat):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _node_values(t):
    """The load-independent values at the outer nodes of a factor-route table ``t``: N and S2
    at the worst rank, N at |x - y|, and the panel and cumulative Chebyshev weights of G at y
    and at |x - y| (what the route kept per node before its load-independent sums)."""
    from qtheory.engine.soap_exact import _tau, cumulative_weights

    X, Y = t.X, t.Y
    R = np.where(X <= 2 * Y, Y, X - Y) if t.bounce else Y
    D = np.abs(X - Y)

    def g_weights(ell):
        u = np.log(np.clip(ell, t.llo, t.lhi))
        j = t.Ni.panel(u)
        tau = _tau(u, t.Ni.edges[j], t.Ni.edges[j + 1], t.Ni.anchor[j])
        return j, cumulative_weights(tau), ell < t.llo

    return t.N(R), t.S2(R), t.N(D), g_weights(Y), g_weights(D)


def _node_mean(t, nv, lam):
    """sum_i W_i E[T | x_i, y_i] at one arrival rate, node by node (the same formulas as
    :meth:`qtheory.engine.soap_factor.FactorSOAP.conditional`)."""
    from qtheory.engine.soap_exact import _FULLW

    NR, SR, ND, gY, gD = nv
    X, Y = t.X, t.Y
    q = t.jac / (1.0 - lam * t.Ni.values)
    cum = np.concatenate([[0.0], np.cumsum(q @ _FULLW)])
    g0 = t.llo / (1.0 - lam * t.N_lo)

    def G(pre, ell):
        j, w, low = pre
        inside = g0 + cum[j] + np.einsum("ij,ij->i", w, q[j])
        return np.where(low, np.where(ell <= 0, ell, ell / (1.0 - lam * t.N_lo)), inside)

    gy, gd = G(gY, Y), G(gD, np.abs(X - Y))
    wait = np.where(SR > 0, lam * SR / (2 * (1 - lam * NR) ** 2), 0.0)
    if not t.bounce:
        c = wait + gy - np.where(Y >= X, gd, Y - X)
    else:
        c = wait + np.where(X <= Y, gy - gd, np.where(X <= 2 * Y, gy - gd + 2 * (X - Y) / (1 - lam * ND),
                                                      X / (1 - lam * ND)))
    return float(np.sum(t.W * c))


def _old_routes(fn):
    """One timed call of ``fn`` with the earlier routes switched on: the per-threshold scan,
    class-by-class rank tables, no factor route, ConditionalGittins discretised."""
    saved = generic.ENGINE, generic.LEGACY_TABLES, generic.FACTOR_ROUTE, generic.CONDITIONAL_ROUTE
    generic.ENGINE, generic.LEGACY_TABLES, generic.FACTOR_ROUTE = "scan", True, False
    generic.CONDITIONAL_ROUTE = False
    try:
        return _best(fn, 1)
    finally:
        (generic.ENGINE, generic.LEGACY_TABLES, generic.FACTOR_ROUTE,
         generic.CONDITIONAL_ROUTE) = saved


def _truth(make, policy, load):
    """(reference value, its name) or (None, '')."""
    size = make()
    if isinstance(policy, qt.Gittins):
        from qtheory.engine.gittins import blind_equivalent

        eq = blind_equivalent(size)
        if eq is not None:
            return qt.MG1(load / size.mean, size).mean_response_time(eq), f"closed form ({eq})"
        import gittins_mp_reference as ref

        law = {"LogNormal": lambda: ref.LogNormalLaw(1), "Pareto": lambda: ref.ParetoLaw(2.5)}.get(
            type(size).__name__)
        if law is None:
            return None, ""
        ages = [mp.mpf(x) for x in np.geomspace(0.01, 50, 25)]
        v, _ = ref.mean_response_time(law(), load / size.mean, ages, 200)
        return float(v), "mpmath reference"
    size = make()
    return qt.MG1(load / size.mean, size).mean_response_time(policy), "closed form"


_COND_CHILD = """
import json, sys, time
import numpy as np
import qtheory as qt
from qtheory import generic
from qtheory.engine import soap_conditional
route, lams = sys.argv[1], json.loads(sys.argv[2])


def run():
    q = qt.MG1(0.5, qt.Exponential(1.0), qt.ExponentialPrediction())  # a fresh law: no tables
    t, c = time.perf_counter(), time.process_time()
    if route == "law":
        m, e = soap_conditional.evaluate(q, qt.ConditionalGittins(), lams)
    else:
        r = generic.evaluate_discretised(q, qt.ConditionalGittins(), lams)
        m, e = r.mean, r.error
    return time.perf_counter() - t, time.process_time() - c, m, e


wall, cpu, m, e = run()
# a second cold evaluation in the same process (fresh law objects: the tables are rebuilt; the
# compiled kernels are loaded)
wall2, cpu2, _, _ = run() if route == "law" else (wall, cpu, m, e)
print(json.dumps(dict(wall=wall, cpu=cpu, wall2=wall2, cpu2=cpu2,
                      mean=list(map(float, m)), error=list(map(float, e)))))
"""

#: targets of issue 15 (CPU seconds): one load cold, the 50-load sweep, the default CLI table
TARGETS = {"one load (0.8)": 0.5, "50-load sweep": 1.0, "qtheory default table": 3.0}


def _conditional(load):
    """ConditionalGittins, Exp sizes and exponential predictions: the route on the law itself
    (:mod:`qtheory.engine.soap_conditional`, the default) against the discretised route, each
    in a fresh process (cold: the tables are built per size law and kept on it), at one load
    and for the 50-load sweep, with the ratios of the times."""
    import subprocess

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])))

    def child(route, lams, extra_env=None):
        out = subprocess.run([sys.executable, "-c", _COND_CHILD, route, json.dumps(list(lams))],
                             capture_output=True, text=True, env={**env, **(extra_env or {})},
                             check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    def verdict(name, cpu):
        return "PASS" if cpu < TARGETS[name] else "FAIL"

    print(f"\n{'ConditionalGittins, Exp/Exp (cold)':30s} {'law cpu':>8s} {'2nd cpu':>8s} "
          f"{'disc cpu':>8s} {'ratio':>6s} {'law wall':>8s} {'disc wall':>9s} {'law value':>12s} "
          f"{'estimate':>9s} {'disc value':>11s} {'disc est.':>9s} {'target':>11s}")
    rows = []
    for name, lams in (("one load (0.8)", [load]), ("50-load sweep", LOADS)):
        new, old = child("law", lams), child("disc", lams)
        i = int(np.argmin(np.abs(np.asarray(lams) - load)))
        m, e = new["mean"][i], new["error"][i]
        print(f"{name:30s} {new['cpu']:8.2f} {new['cpu2']:8.2f} {old['cpu']:8.2f} "
              f"{old['cpu'] / new['cpu']:5.1f}x {new['wall']:8.2f} {old['wall']:9.2f} {m:12.8f} "
              f"{e / m:9.1e} {old['mean'][i]:11.6f} {old['error'][i] / old['mean'][i]:9.1e} "
              f"{'<' + format(TARGETS[name], '4.1f'):>7s} s {verdict(name, new['cpu'])}")
        rows.append(dict(case=f"ConditionalGittins law itself vs discretised, {name}",
                         new_cpu_s=new["cpu"], new_cpu2_s=new["cpu2"], old_cpu_s=old["cpu"],
                         new_s=new["wall"], old_s=old["wall"], speedup=old["cpu"] / new["cpu"],
                         value=m, estimate=e / m, old_value=old["mean"][i],
                         target_cpu_s=TARGETS[name], passed=new["cpu"] < TARGETS[name]))
    # the first compile of the kernels: a cold evaluation with an empty numba cache, less the
    # cold evaluation above (cache warm)
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        first = child("law", [load], {"NUMBA_CACHE_DIR": d})
    comp = first["cpu"] - rows[0]["new_cpu_s"]
    print(f"{'first compile (empty cache)':30s} {first['cpu']:8.2f} cpu, of which compiling "
          f"about {comp:.2f} s")
    rows.append(dict(case="ConditionalGittins law itself, empty numba cache", new_cpu_s=first["cpu"],
                     compile_cpu_s=comp))
    # the default table of the CLI in a fresh process (numba cache warm): the table's CPU after
    # the imports, and the whole process's
    import resource

    cli_child = ("import contextlib, io, json, time\n"
                 "from qtheory.cli import main\n"
                 "t, c = time.perf_counter(), time.process_time()\n"
                 "with contextlib.redirect_stdout(io.StringIO()):\n"
                 "    main([])\n"
                 "print(json.dumps(dict(wall=time.perf_counter() - t, cpu=time.process_time() - c)))")
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", cli_child], capture_output=True, text=True,
                         env=env, check=True).stdout
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
    tab = json.loads(out.strip().splitlines()[-1])
    name = "qtheory default table"
    print(f"{name:30s} {tab['cpu']:8.2f} cpu {tab['wall']:8.2f} wall (the whole process: "
          f"{proc:.2f} cpu, {wall:.2f} wall) {'<' + format(TARGETS[name], '4.1f'):>7s} s "
          f"{verdict(name, tab['cpu'])}")
    rows.append(dict(case=f"{name}, fresh process", new_cpu_s=tab["cpu"], new_s=tab["wall"],
                     process_cpu_s=proc, process_s=wall, target_cpu_s=TARGETS[name],
                     passed=tab["cpu"] < TARGETS[name]))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--conditional", action="store_true",
                    help="time ConditionalGittins on the law itself against the discretised "
                         "route even with --quick")
    ap.add_argument("--conditional-only", action="store_true",
                    help="only the ConditionalGittins timings (route on the law, discretised "
                         "route, first compile, default qtheory table)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "bench_generic.json"))
    args = ap.parse_args(argv)
    if args.conditional_only:
        return _conditional(0.8)
    repeat = 1 if args.quick else args.repeat
    quick = args.quick
    cases = [
        ("Gittins, LogNormal(1)", lambda: qt.LogNormal(1.0), qt.Gittins()),
        ("Gittins, Pareto(2.5)", lambda: qt.Pareto(2.5), qt.Gittins()),
        ("Gittins, Exponential(1)", lambda: qt.Exponential(1.0), qt.Gittins()),
        ("Gittins, BoundedPareto(1.5,1,100)", lambda: qt.BoundedPareto(1.5, 1.0, 100.0), qt.Gittins()),
        ("LAS, Weibull(0.5)", lambda: qt.Weibull(0.5, 1.0), qt.LAS()),
    ]
    if args.quick:
        cases = cases[:2]
    load = 0.8
    print(f"load average {os.getloadavg()}; best of {repeat}; cold = fresh law, one load (0.8); "
          "sweep = 50 loads, warm")
    head = f"{'case':36s} {'new s':>8s} {'old s':>8s} {'speedup':>8s} {'sweep s':>8s} " \
           f"{'new rel.err':>11s} {'estimate':>9s} {'old rel.err':>11s}  reference"
    print(head)
    rows = []
    for name, make, pol in cases:
        def new(make=make, pol=pol):
            s = make()
            return generic.evaluate(qt.MG1(load / s.mean, s), pol, [load / s.mean])

        def old(make=make, pol=pol):
            s = make()
            return generic.evaluate_discretised(qt.MG1(load / s.mean, s), pol, [load / s.mean])

        t_new, r_new = _best(new, repeat)
        t_old, r_old = _best(old, repeat)
        s = make()
        generic.evaluate(qt.MG1(load / s.mean, s), pol, [load / s.mean])
        t_sweep, _ = _best(lambda s=s, pol=pol: generic.evaluate(qt.MG1(0.5 / s.mean, s), pol, LOADS / s.mean),
                           repeat)
        truth, how = _truth(make, pol, load)
        e_new = abs(r_new.mean[0] / truth - 1) if truth else float("nan")
        e_old = abs(r_old.mean[0] / truth - 1) if truth else float("nan")
        est = r_new.error[0] / r_new.mean[0]
        print(f"{name:36s} {t_new:8.3f} {t_old:8.3f} {t_old / t_new:7.1f}x {t_sweep:8.3f} "
              f"{e_new:11.1e} {est:9.1e} {e_old:11.1e}  {how}")
        rows.append(dict(case=name, new_s=t_new, old_s=t_old, speedup=t_old / t_new, sweep_s=t_sweep,
                         new_rel_err=e_new, estimate=est, old_rel_err=e_old, reference=how,
                         value=float(r_new.mean[0])))
    # prediction ranks on a continuous multiplicative law: the factor route against the
    # discretised one (both cold: a fresh size law), and SPRPT through it against its closed form;
    # then a warm 50-load sweep through the route's load-independent sums against the same
    # tables evaluated node by node (:func:`_node_mean`: the route's per-load path before the
    # sums, with the load-independent node values computed beforehand and not timed; with
    # --quick on every 10th load, scaled to 50)
    print(f"\n{'prediction ranks, Exp/Exp':36s} {'new s':>8s} {'old s':>8s} {'speedup':>8s} "
          f"{'new value':>12s} {'old value':>12s} {'new rel.err':>11s} {'old rel.err':>11s}")
    sweeps = []
    for name, pol in (("SRPT-Bounce", qt.SRPTBounce()), ("SPRPT (generic)", qt.SPRPT())):
        def mk():
            return qt.MG1(load, qt.Exponential(1.0), qt.ExponentialPrediction())

        t_new, r_new = _best(lambda pol=pol: generic.evaluate(mk(), pol, [load]), repeat)
        t_old, r_old = _old_routes(lambda pol=pol: generic.evaluate_discretised(mk(), pol, [load]))
        if pol.name == "SPRPT":
            truth = mk().mean_response_time("sprpt")
            e_new, e_old = abs(r_new.mean[0] / truth - 1), abs(r_old.mean[0] / truth - 1)
        else:
            # no closed form: the new route's own error estimate (marked *)
            e_new, e_old = r_new.error[0] / r_new.mean[0], float("nan")
        star = "*" if pol.name != "SPRPT" else " "
        print(f"{name:36s} {t_new:8.3f} {t_old:8.3f} {t_old / t_new:7.1f}x {r_new.mean[0]:12.9f} "
              f"{r_old.mean[0]:12.9f} {e_new:10.1e}{star} {e_old:11.1e}")
        rows.append(dict(case=f"{name}, Exp/Exp", new_s=t_new, old_s=t_old, speedup=t_old / t_new,
                         value=float(r_new.mean[0]), old_value=float(r_old.mean[0]),
                         new_rel_err=e_new, old_rel_err=e_old))
        q = mk()
        generic.evaluate(q, pol, [load])  # the tables, once
        t_sw, r_sw = _best(lambda q=q, pol=pol: generic.evaluate(q, pol, LOADS), repeat)

        tabs = [soap_factor.tables(q, pol, w) for w in (0.35, 0.5)]
        pre = [(t, _node_values(t)) for t in tabs]
        step = 10 if quick else 1

        def nodewise(pre=pre, step=step):
            return np.array([[_node_mean(t, nv, lam) for lam in LOADS[::step]] for t, nv in pre])[0]

        t_nw, v_nw = _best(nodewise, 1)
        t_nw *= LOADS.size / LOADS[::step].size
        diff = float(np.max(np.abs(v_nw / r_sw.mean[::step] - 1)))
        sweeps.append((name, t_sw, t_nw, diff))
    print(f"\n{'50-load sweep, Exp/Exp (warm)':36s} {'sums s':>8s} {'nodes s':>8s} {'speedup':>8s} "
          f"{'rel.diff':>9s}")
    for name, t_sw, t_nw, diff in sweeps:
        print(f"{name:36s} {t_sw:8.3f} {t_nw:8.3f} {t_nw / t_sw:7.1f}x {diff:9.1e}")
        rows.append(dict(case=f"{name}, Exp/Exp, 50-load sweep", new_s=t_sw, old_s=t_nw,
                         speedup=t_nw / t_sw, rel_diff=diff))
    # EmpiricalPairs: the level sweep against the per-threshold scan on the same tables
    rng = np.random.default_rng(1)
    print(f"\n{'EmpiricalPairs (Exp sizes, Exp factor)':40s} {'n':>6s} {'sweep s':>8s} {'scan s':>8s} "
          f"{'speedup':>8s} {'rel.diff':>9s}")
    sizes_n = (1000,) if args.quick else (1000, 3000, 10_000)
    for n in sizes_n:
        x = rng.exponential(1.0, n)
        y = x * rng.exponential(1.0, n)
        q = qt.MG1(load / x.mean(), prediction=qt.EmpiricalPairs(x, y))
        for pol in (qt.ConditionalGittins(), qt.SRPTBounce()):
            dj, _ = generic.discretise(q, "prediction", 48)
            lam = np.array([q.arrival_rate])
            t_new, r_new = _best(lambda q=q, pol=pol: generic.evaluate(q, pol, [q.arrival_rate]), repeat)
            if n <= 1000:  # the scan is n^2: 29 s at 1,000 pairs for ConditionalGittins (before)
                t_old, r_old = _best(lambda pol=pol, dj=dj, lam=lam: generic._evaluate_discrete(
                    pol, dj, lam, snap=True, engine="scan", legacy_tables=True), 1)
                diff = abs(r_old[0][0] / r_new.mean[0] - 1)
            else:
                t_old, diff = float("nan"), float("nan")
            print(f"{pol.name:40s} {n:6d} {t_new:8.3f} {t_old:8.3f} {t_old / t_new:7.1f}x {diff:9.1e}")
            rows.append(dict(case=f"{pol.name}, EmpiricalPairs({n})", new_s=t_new, old_s=t_old,
                             speedup=t_old / t_new, rel_diff=diff, value=float(r_new.mean[0])))
    # the robustness adversary for SRPT-Bounce and the default CLI table, with the earlier
    # routes (per-threshold scan, class-by-class tables, no factor route) switched on
    from qtheory.cli import main as cli_main
    from qtheory.measures.robustness import robustness

    def robust(ab):
        return robustness("srpt-bounce", qt.Exponential(1.0), load, *ab)

    def cli(args=()):
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            cli_main(list(args))

    from qtheory.cli import DEFAULT_POLICIES

    # the default table less ConditionalGittins: what the rest of the table costs
    no_cg = ["--policies", ",".join(p for p in DEFAULT_POLICIES if p != "ConditionalGittins")]

    print(f"\n{'end to end':36s} {'new s':>8s} {'old s':>8s} {'speedup':>8s}")
    jobs = [(f"robustness SRPT-Bounce ({a}, {b})", lambda a=a, b=b: robust((a, b)))
            for a, b in ((2.0, 0.5), (4.0, 0.25))]
    if not args.quick:
        jobs.append(("qtheory (default table)", cli))
        jobs.append(("qtheory table, no ConditionalGittins", lambda: cli(no_cg)))
    for name, fn in jobs:
        t_new, _ = _best(fn, repeat)
        t_old, _ = _old_routes(fn)
        print(f"{name:36s} {t_new:8.3f} {t_old:8.3f} {t_old / t_new:7.1f}x")
        rows.append(dict(case=name, new_s=t_new, old_s=t_old, speedup=t_old / t_new))
    # ConditionalGittins on a continuous prediction law: the route on the law itself (the
    # default) against the discretised route, cold, each in a fresh process
    if args.conditional or not args.quick:
        rows += _conditional(load)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
