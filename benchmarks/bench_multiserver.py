"""Speed and accuracy of the M/G/k answers of ``qt.MGk.mean_response_time``.

Run from the repository root (one core; prints tables, writes JSON)::

    python benchmarks/bench_multiserver.py            # timing of every MGk value (Part A)
    python benchmarks/bench_multiserver.py --quick    # a smaller timing run (smoke test)
    python benchmarks/bench_multiserver.py --grid     # Part B too: the error grid against the simulator
    python benchmarks/bench_multiserver.py --priority # Part C only: PSPJF-k as priority classes (RDR-A)
    python benchmarks/bench_multiserver.py --buckets  # Part D only: PSPJF-k on bucketed predictions (RDR-T)
    python benchmarks/bench_multiserver.py --nonpreemptive  # Part E only: SPJF-k / SJF-k as classes

Part A times one cold ``MGk(...).mean_response_time(policy)`` (fresh law and model objects, so
no cache) for FCFS, SPJF, PSPJF, SPRPT, SRPT on exponential, Weibull(0.5) and the two Azure LLM
traces (five-class predictions) with k = 2, 4, 8, 16 at load 0.8 and 0.95. The baseline,
measured in the same run, is a simulation of the same point by ``qt.simulate`` with 100,000
jobs (the cheapest way to get a number without the analytic answer); the ratio is simulation
time / analytic time. Target: every analytic value < 1 s.

Part B (``--grid``) measures each answer against the simulator on k = 2, 4, 8, 16, loads 0.5,
0.8, 0.9, 0.95, sizes exponential (log-normal predictions, sigma 0.5), Weibull(0.5)
(log-normal predictions), and the Azure conv and code traces (measured five-class predictor),
policies FCFS, SPJF, PSPJF, SPRPT, PSJF and SRPT. Per point it prints the analytic value, its
label, the simulated mean with its 95% CI, the relative error and whether the analytic
answers order the policies as the simulation does (pairs whose simulated means differ by more
than the two CIs), then the largest error per route (exact, FCFS fit, SRPT-k interpolation,
Bondi-Buzen scaling) and load. The bands of ``qtheory.models.multiserver.APPROX_ERROR`` come
from ``--grid --ks 2,4,8 --loads 0.5,0.8,0.9 --jobs 8000000 --target-ci 0.006`` (and
``--ks 16 --laws azure-conv,azure-code --loads 0.8,0.9``): with the default 400,000 jobs a point
the code trace's and Weibull(0.5)'s CIs at 0.9 are 2-10%, larger than the errors measured.

Part C (``--priority``) measures PSPJF-k with bucketed predictions against the simulator, by the
priority-class model (``MGk.priority_approximation``, RDR-A) and by the Bondi-Buzen scaling
(``MGk.approximation``): k = 2, 4, 8; loads 0.5, 0.8, 0.9; exponential sizes with one bit of
advice (threshold the median, 10% of each class mislabelled: 2 classes); the Azure conv and
code traces with the binary (2 classes) and the five-class (5 classes) predictors.

Part D (``--buckets``) measures the priority-class chain with busy-period transitions
(:func:`qtheory.models.priority_k.priority_k`, the route of ``MGk.mean_response_time`` for PSPJF-k)
on predictions bucketed into at most 8 quantile classes (``MGk.priority_classes(8)``), against
the simulator twice: running PSPJF-k on the *bucketed* predictions (the model's own policy: the
error of the chain) and on the *true* predictions (the error of the answer for PSPJF-k, bucketing
included). Laws: exponential sizes with exponential and log-normal (sigma 0.5) predictions,
Weibull(0.5) with log-normal predictions, the Azure code trace with perfect predictions (PSJF-k
bucketed) and the five-class and binary predictors (already classes), the conv trace's five
classes; k = 2, 4, 5; loads 0.5, 0.8, 0.9. Per point: the time of the chain, whether
``mean_response_time`` takes it (all PH fits match two moments), the Bondi-Buzen value for
comparison.

Part E (``--nonpreemptive``) measures the non-preemptive priority-class chain
(:func:`qtheory.models.priority_np_k.priority_np_k`, the route of ``MGk.mean_response_time`` for
SPJF-k on the prediction's own classes at k <= 4) and the Bondi-Buzen scaling of the pooled Cobham
value, against the simulator running the same classes: SJF-k on 2 and 8 quantile buckets of
exponential and Weibull(0.5) sizes (the simulator runs SPJF on the bucket index), SPJF-k on the
Azure code trace's five-class and binary predictors and the conv trace's five classes; k = 2, 4;
loads 0.5, 0.8, 0.95. The table of docs/multiserver.md (section 5) comes from ``--nonpreemptive
--ks 2,4 --loads 0.5,0.8,0.95 --target-ci 0.01`` and, at 0.8 and 0.95, ``--jobs 2000000
--target-ci 0.006``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one core

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import qtheory as qt  # noqa: E402

TARGET_S = 1.0
POLICIES = ("fcfs", "spjf", "pspjf", "sprpt", "srpt")
GRID_POLICIES = ("fcfs", "spjf", "pspjf", "sprpt", "psjf", "srpt")


def laws():
    """Fresh (size, prediction) pairs: no cache carries over between timed calls."""
    conv = qt.datasets.azure_llm_2023("conv").pairs()
    code = qt.datasets.azure_llm_2023("code").pairs()
    return {
        "exp": (qt.Exponential(1.0), qt.LogNormalPrediction(sigma=0.5)),
        "weibull0.5": (qt.Weibull(0.5), qt.LogNormalPrediction(sigma=0.5)),
        "azure-conv": (conv.size_law(), conv),
        "azure-code": (code.size_law(), code),
    }


def model(name: str, k: int, load: float) -> qt.MGk:
    size, pred = laws()[name]
    return qt.MGk(k, load * k / size.mean, size, pred)


def part_a(quick: bool, sim_baseline: bool = True) -> list[dict]:
    ks = (2, 8) if quick else (2, 4, 8, 16)
    loads = (0.8,) if quick else (0.8, 0.95)
    rows = []
    head = f"{'law':<11} {'k':>3} {'load':>5} {'policy':<6} {'value':>10} {'label':<14} {'ms':>8} " \
           f"{'sim ms':>8} {'ratio':>7}  target"
    print(head)
    print("-" * len(head))
    for name in laws():
        for k in ks:
            for load in loads:
                for pol in POLICIES:
                    m = model(name, k, load)           # cold: fresh laws, fresh model
                    t0 = time.perf_counter()
                    v = m.mean_response_time(pol)
                    dt = time.perf_counter() - t0
                    sim_dt = math.nan
                    if sim_baseline:
                        t0 = time.perf_counter()
                        qt.simulate(m, pol, jobs=100_000, seed=1, replications=4, workers=1)
                        sim_dt = time.perf_counter() - t0
                    ok = dt < TARGET_S
                    print(f"{name:<11} {k:>3} {load:>5} {pol:<6} {float(v):>10.5g} {v.label:<14} "
                          f"{1e3 * dt:>8.1f} {1e3 * sim_dt:>8.1f} {sim_dt / dt:>7.1f}  {'PASS' if ok else 'FAIL'}")
                    rows.append({"law": name, "k": k, "load": load, "policy": pol, "value": float(v),
                                 "label": v.label, "seconds": dt, "sim_seconds": sim_dt, "under_target": ok})
    worst = max(rows, key=lambda r: r["seconds"])
    print(f"slowest value: {worst['law']} k={worst['k']} load={worst['load']} {worst['policy']}: "
          f"{worst['seconds']:.3f} s (target {TARGET_S:g} s)")
    return rows


def _route(v) -> str:
    """Which route gave a value: exact, the FCFS phase-type fit, the SRPT-k interpolation, the
    Bondi-Buzen scaling, or bounds only."""
    if v.kind != "approx":
        return v.kind
    if "R^e" in v.method:
        return "srpt-k interpolation"
    if "Bondi-Buzen" in v.method:
        return "bondi-buzen"
    return "fcfs fit" if "QBD" in v.method else "other approx"


def _simulate(m, pol, jobs: int, reps: int, seed: int, target_ci: float | None):
    """One simulated mean; with ``target_ci`` a second, longer run (at most 20x ``jobs``) brings the
    95% CI down to about ``target_ci`` of the mean, the two runs combined by inverse variance."""
    r = qt.simulate(m, pol, jobs=jobs, seed=seed, replications=reps, progress=False)
    mean, ci, n = r.mean, r.ci, jobs
    if target_ci is not None and ci > target_ci * mean:
        more = min(20 * jobs, int(jobs * (ci / (target_ci * mean)) ** 2))
        r2 = qt.simulate(m, pol, jobs=more, seed=seed + 100_000, replications=reps, progress=False)
        w1, w2 = 1 / ci**2, 1 / r2.ci**2
        mean, ci, n = (w1 * mean + w2 * r2.mean) / (w1 + w2), 1 / math.sqrt(w1 + w2), jobs + more
    return mean, ci, n


def part_b(jobs: int, reps: int, ks, loads, names, policies=GRID_POLICIES, target_ci=None) -> list[dict]:
    rows = []
    head = f"{'law':<11} {'k':>3} {'load':>5} {'policy':<6} {'analytic':>10} {'label':<16} {'sim':>10} " \
           f"{'ci95':>8} {'rel.err':>8} {'in CI':>5}"
    print(head)
    print("-" * len(head))
    for name in names:
        for k in ks:
            for load in loads:
                m = model(name, k, load)
                point = []
                for j, pol in enumerate(policies):
                    v = m.mean_response_time(pol)
                    mean, ci, n = _simulate(m, pol, jobs, reps, 1000 + 17 * j + k, target_ci)
                    rel = float(v) / mean - 1
                    inci = abs(float(v) - mean) <= ci
                    print(f"{name:<11} {k:>3} {load:>5} {pol:<6} {float(v):>10.5g} {v.label:<16} {mean:>10.5g} "
                          f"{ci:>8.3g} {100 * rel:>7.2f}% {'yes' if inci else 'no':>5}", flush=True)
                    point.append({"law": name, "k": k, "load": load, "policy": pol, "value": float(v),
                                  "kind": v.kind, "route": _route(v), "error_band": v.error, "sim": mean,
                                  "ci": ci, "jobs": n, "rel_err": rel, "in_ci": bool(inci)})
                # ordering: every pair the simulation separates must be ordered the same way
                bad = []
                for a in point:
                    for b in point:
                        if a["sim"] + a["ci"] < b["sim"] - b["ci"] and not a["value"] < b["value"]:
                            bad.append(f"{a['policy']}<{b['policy']}")
                print(f"  ordering: {'same as simulation' if not bad else 'DIFFERS: ' + ', '.join(bad)}")
                for p in point:
                    p["ordering_ok"] = not bad
                rows += point
    for route in sorted({r["route"] for r in rows}):
        for load in sorted({r["load"] for r in rows}):
            sub = [r for r in rows if r["route"] == route and r["load"] == load]
            if sub:
                w = max(sub, key=lambda r: abs(r["rel_err"]))
                print(f"{route} at load {load}: {len(sub)} points, largest |rel. err| {100 * abs(w['rel_err']):.2f}% "
                      f"(CI {100 * w['ci'] / w['sim']:.2f}%; {w['law']} k={w['k']} {w['policy']}), "
                      f"{sum(r['in_ci'] for r in sub)} within the 95% CI")
    return rows


def priority_laws():
    out = {"exp-onebit": (qt.Exponential(1.0), qt.OneBit(math.log(2.0), 0.1, 0.1))}
    for svc in ("conv", "code"):
        tr = qt.datasets.azure_llm_2023(svc)
        for pred in ("binary", "five_class"):
            pr = tr.pairs(pred)
            out[f"{svc}-{pred}"] = (pr.size_law(), pr)
    return out


def part_c(jobs: int, reps: int, ks=(2, 4, 8), loads=(0.5, 0.8, 0.9)) -> list[dict]:
    rows = []
    head = (f"{'law':<16} {'k':>2} {'load':>4} {'cls':>3} {'RDR-A':>10} {'ms':>6} {'BB':>10} {'sim':>10} "
            f"{'ci95':>8} {'RDR err':>8} {'BB err':>8}")
    print(head)
    print("-" * len(head))
    for name, (size, pred) in priority_laws().items():
        for k in ks:
            for load in loads:
                m = qt.MGk(k, load * k / size.mean, size, pred)
                t0 = time.perf_counter()
                v = m.priority_approximation("pspjf")
                dt = time.perf_counter() - t0
                bb = m.approximation("pspjf")
                r = qt.simulate(m, "pspjf", jobs=jobs, seed=5000 + k, replications=reps)
                e1, e2 = float(v) / r.mean - 1, float(bb) / r.mean - 1
                ncls = m.priority_classes()[0].size
                print(f"{name:<16} {k:>2} {load:>4} {ncls:>3} {float(v):>10.5g} {1e3 * dt:>6.1f} {float(bb):>10.5g} "
                      f"{r.mean:>10.5g} {r.ci:>8.3g} {100 * e1:>7.2f}% {100 * e2:>7.2f}%", flush=True)
                rows.append({"law": name, "k": k, "load": load, "classes": int(ncls), "rdr": float(v),
                             "seconds": dt, "bb": float(bb), "sim": r.mean, "ci": r.ci, "rdr_err": e1, "bb_err": e2})
    for load in loads:
        sub = [r for r in rows if r["load"] == load]
        a = max(sub, key=lambda r: abs(r["rdr_err"]))
        b = max(sub, key=lambda r: abs(r["bb_err"]))
        print(f"load {load}: largest |err| RDR-A {100 * abs(a['rdr_err']):.2f}% ({a['law']} k={a['k']}), "
              f"Bondi-Buzen {100 * abs(b['bb_err']):.2f}% ({b['law']} k={b['k']})")
    return rows


class Bucketed(qt.PredictionLaw):
    """The class index of an inner prediction law's draw (``edges`` the upper class edges): the
    simulator then runs PSPJF on the bucketed predictions (FCFS within a class)."""

    scales_with_size = False

    def __init__(self, inner, edges):
        self.inner = inner
        self.edges = np.asarray(edges, float)

    def sample(self, x, rng):
        y = np.asarray(self.inner.sample(x, rng), float)
        return np.searchsorted(self.edges[:-1], y, side="left").astype(float)


def bucket_laws():
    code = qt.datasets.azure_llm_2023("code")
    conv = qt.datasets.azure_llm_2023("conv")
    out = {"exp-exp": (qt.Exponential(1.0), qt.ExponentialPrediction()),
           "exp-lognormal": (qt.Exponential(1.0), qt.LogNormalPrediction(sigma=0.5)),
           "weibull0.5-lognormal": (qt.Weibull(0.5, mean=1.0), qt.LogNormalPrediction(sigma=0.5))}
    for name, tr, pred in (("code-perfect", code, "perfect"), ("code-five", code, "five_class"),
                           ("code-binary", code, "binary"), ("conv-five", conv, "five_class")):
        pr = tr.pairs(pred)
        out[name] = (pr.size_law(), pr)
    return out


def part_d(jobs: int, reps: int, ks=(2, 4, 5), loads=(0.5, 0.8, 0.9), names=None, target_ci=0.01) -> list[dict]:
    from qtheory.models.priority_k import priority_k

    rows = []
    head = (f"{'law':<21} {'k':>2} {'load':>4} {'cls':>3} {'value':>9} {'ms':>6} {'used':>4} {'sim bkt':>9} "
            f"{'ci':>6} {'err bkt':>7} {'sim true':>9} {'ci':>6} {'err true':>8} {'BB err':>7}")
    print(head)
    print("-" * len(head))
    for name, (size, pred) in bucket_laws().items():
        if names and name not in names:
            continue
        for k in ks:
            for load in loads:
                m = qt.MGk(k, load * k / size.mean, size, pred)
                ys, p, mom = m.priority_classes(8)
                t0 = time.perf_counter()
                res = priority_k(k, m.arrival_rate * p, mom)
                dt = time.perf_counter() - t0
                v = res["mean_response_time"]        # the chain on the classes
                natural = m.priority_classes() is not None
                vr = float(m.priority_approximation("pspjf", None if natural else 8))   # with the pooled ratio
                routed = m.mean_response_time("pspjf")
                if isinstance(pred, qt.EmpiricalPairs) and np.unique(pred.y).size <= 8:
                    mb = m                      # the predictions are classes already
                elif isinstance(pred, qt.EmpiricalPairs):
                    cls = np.searchsorted(ys, pred.y, side="left").astype(float)
                    mb = qt.MGk(k, m.arrival_rate, size, qt.EmpiricalPairs(pred.x, cls, pred.w))
                else:
                    mb = qt.MGk(k, m.arrival_rate, size, Bucketed(pred, ys))
                sb, cb, _ = _simulate(mb, "pspjf", jobs, reps, 7000 + k, target_ci)
                if mb is m:
                    st, ct = sb, cb
                else:
                    st, ct, _ = _simulate(m, "pspjf", jobs, reps, 8000 + k, target_ci)
                bb = float(m.approximation("pspjf"))
                row = {"law": name, "k": k, "load": load, "classes": int(ys.size), "value": v, "seconds": dt,
                       "phases": res["phases"], "used": bool(res["two_moments"]), "sim_bucketed": sb,
                       "ci_bucketed": cb, "err_bucketed": v / sb - 1, "sim_true": st, "ci_true": ct,
                       "err_chain_true": v / st - 1, "value_pooled_ratio": vr, "err_true": vr / st - 1,
                       "routed": routed.kind, "routed_band": routed.error, "routed_method": routed.method,
                       "bb": bb, "bb_err": bb / st - 1}
                rows.append(row)
                print(f"{name:<21} {k:>2} {load:>4} {ys.size:>3} {vr:>9.5g} {1e3 * dt:>6.0f} "
                      f"{'yes' if row['used'] else 'no':>4} {sb:>9.5g} {100 * cb / sb:>5.2f}% "
                      f"{100 * row['err_bucketed']:>6.2f}% {st:>9.5g} {100 * ct / st:>5.2f}% "
                      f"{100 * row['err_true']:>7.2f}% {100 * row['bb_err']:>6.2f}%", flush=True)
    for load in loads:
        sub = [r for r in rows if r["load"] == load and r["used"]]
        if sub:
            a = max(sub, key=lambda r: abs(r["err_bucketed"]))
            b = max(sub, key=lambda r: abs(r["err_true"]))
            print(f"load {load} (routed points): largest |err| vs bucketed policy {100 * abs(a['err_bucketed']):.2f}% "
                  f"({a['law']} k={a['k']}), vs true PSPJF {100 * abs(b['err_true']):.2f}% ({b['law']} k={b['k']})")
    return rows


def np_laws(classes=(2, 8)):
    """(name, size law, prediction law for the model, prediction law for the simulator, class
    moments or None): SJF-k on m quantile buckets of the size (exponential, Weibull(0.5)); SPJF-k
    on the Azure traces' own classes (five-class and binary predictors)."""
    out = []
    for lname, size in (("exp", qt.Exponential(1.0)), ("weibull0.5", qt.Weibull(0.5, mean=1.0))):
        for m in classes:
            edges = [float(size.ppf(i / m)) for i in range(1, m)] + [math.inf]
            lo = [0.0] + edges[:-1]
            p = np.array([float(size.partial_moment(0, b) - size.partial_moment(0, a)) if math.isfinite(b)
                          else float(1 - size.partial_moment(0, a)) for a, b in zip(lo, edges, strict=True)])
            mom = np.array([[(float(size.partial_moment(n, b)) if math.isfinite(b) else float(size.moment(n)))
                             - float(size.partial_moment(n, a)) for n in (1, 2, 3)]
                            for a, b in zip(lo, edges, strict=True)]) / p[:, None]
            out.append((f"{lname}-sjf{m}", size, Bucketed(qt.PerfectPrediction(), edges), (p, mom)))
    for svc in ("code", "conv"):
        tr = qt.datasets.azure_llm_2023(svc)
        for pred in ("five_class", "binary"):
            pr = tr.pairs(pred)
            out.append((f"{svc}-{pred}", pr.size_law(), pr, None))
    return out


def part_e(jobs: int, reps: int, ks=(2, 4), loads=(0.5, 0.8, 0.95), names=None, target_ci=0.01) -> list[dict]:
    """Non-preemptive priority classes (SPJF-k on classes, SJF-k on size buckets): the two-class
    chain with the work of each cut (``qtheory.models.priority_np_k``) and the Bondi-Buzen scaling of
    the pooled Cobham value, against the simulator running the same classes."""
    from qtheory.models.multiserver import _pooled_nonpreemptive
    from qtheory.models.priority_np_k import priority_np_k

    rows = []
    head = (f"{'law':<18} {'k':>2} {'load':>4} {'cls':>3} {'chain':>9} {'ms':>6} {'lo-side':>9} {'BB':>9} "
            f"{'sim':>9} {'ci':>6} {'chain':>7} {'lo':>7} {'BB':>7}")
    print(head)
    print("-" * len(head))
    for name, size, pred, cls in np_laws():
        if names and not any(name.startswith(n) for n in names):
            continue
        for k in ks:
            for load in loads:
                m = qt.MGk(k, load * k / size.mean, size, pred)
                p, mom = (cls if cls is not None else m.priority_classes()[1:])
                lams = m.arrival_rate * p
                t0 = time.perf_counter()
                res = priority_np_k(k, lams, mom)
                dt = time.perf_counter() - t0
                v = res["mean_response_time"]
                vlo = priority_np_k(k, lams, mom, difference="low")["mean_response_time"]
                es = size.mean
                ratio = m._fcfs_wait_ratio()
                bb = es + (_pooled_nonpreemptive(lams, mom, k) - es / k) * ratio
                sim, ci, n = _simulate(m, "spjf", jobs, reps, 9000 + k, target_ci)
                row = {"law": name, "k": k, "load": load, "classes": int(len(p)), "chain": v, "chain_low": vlo,
                       "seconds": dt, "phases": res["phases"], "two_moments": res["two_moments"], "bb": bb,
                       "sim": sim, "ci": ci, "jobs": n, "err": v / sim - 1, "err_low": vlo / sim - 1,
                       "bb_err": bb / sim - 1}
                rows.append(row)
                print(f"{name:<18} {k:>2} {load:>4} {len(p):>3} {v:>9.5g} {1e3 * dt:>6.0f} {vlo:>9.5g} {bb:>9.5g} "
                      f"{sim:>9.5g} {100 * ci / sim:>5.2f}% {100 * row['err']:>6.2f}% {100 * row['err_low']:>6.2f}% "
                      f"{100 * row['bb_err']:>6.2f}%", flush=True)
    for load in loads:
        sub = [r for r in rows if r["load"] == load]
        if sub:
            a = max(sub, key=lambda r: abs(r["err"]))
            b = max(sub, key=lambda r: abs(r["bb_err"]))
            print(f"load {load}: largest |err| chain {100 * abs(a['err']):.2f}% ({a['law']} k={a['k']}, CI "
                  f"{100 * a['ci'] / a['sim']:.2f}%), Bondi-Buzen {100 * abs(b['bb_err']):.2f}% "
                  f"({b['law']} k={b['k']})")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer cases, no simulation baseline")
    ap.add_argument("--grid", action="store_true", help="also the error grid against the simulator")
    ap.add_argument("--priority", action="store_true", help="only Part C: PSPJF-k as priority classes")
    ap.add_argument("--buckets", action="store_true", help="only Part D: PSPJF-k on bucketed predictions")
    ap.add_argument("--nonpreemptive", action="store_true",
                    help="only Part E: SPJF-k / SJF-k as non-preemptive priority classes")
    ap.add_argument("--jobs", type=int, default=400_000, help="jobs per simulation of the grid")
    ap.add_argument("--reps", type=int, default=16, help="replications per simulation of the grid")
    ap.add_argument("--ks", default="2,4,8,16")
    ap.add_argument("--loads", default="0.5,0.8,0.9,0.95")
    ap.add_argument("--laws", default="exp,weibull0.5,azure-conv,azure-code")
    ap.add_argument("--policies", default=",".join(GRID_POLICIES))
    ap.add_argument("--target-ci", type=float, default=None,
                    help="rerun a grid point with more jobs (up to 20x) until its 95%% CI is about this "
                         "fraction of the mean (the bands of APPROX_ERROR: 0.006 with --jobs 8000000)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "bench_multiserver.json"))
    args = ap.parse_args(argv)
    if args.buckets:
        rows_d = part_d(args.jobs, args.reps, [int(x) for x in args.ks.split(",")],
                        [float(x) for x in args.loads.split(",")],
                        None if args.laws == ap.get_default("laws") else args.laws.split(","),
                        args.target_ci if args.target_ci is not None else 0.01)
        out = Path(args.out).with_name("bench_multiserver_buckets.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"buckets": rows_d}, indent=1))
        print(f"wrote {out}")
        return 0
    if args.nonpreemptive:
        rows_e = part_e(args.jobs, args.reps, [int(x) for x in args.ks.split(",")],
                        [float(x) for x in args.loads.split(",")],
                        None if args.laws == ap.get_default("laws") else args.laws.split(","),
                        args.target_ci if args.target_ci is not None else 0.01)
        out = Path(args.out).with_name("bench_multiserver_nonpreemptive.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"nonpreemptive": rows_e}, indent=1))
        print(f"wrote {out}")
        return 0
    if args.priority:
        rows_c = part_c(args.jobs, args.reps)
        out = Path(args.out).with_name("bench_multiserver_priority.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"priority": rows_c}, indent=1))
        print(f"wrote {out}")
        return 0
    la = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    print(f"qt.MGk.mean_response_time, one core (python {platform.python_version()}, {platform.machine()}; "
          f"load average {la[0]:.2f})")
    print("Part A: time of one cold value; baseline: qt.simulate, 100,000 jobs, same point")
    rows_a = part_a(args.quick, sim_baseline=not args.quick)
    rows_b = []
    if args.grid:
        print(f"\nPart B: error against the simulator ({args.jobs} jobs, {args.reps} replications per point)")
        rows_b = part_b(args.jobs, args.reps, [int(x) for x in args.ks.split(",")],
                        [float(x) for x in args.loads.split(",")], args.laws.split(","),
                        tuple(args.policies.split(",")), args.target_ci)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": {"quick": args.quick, "target_s": TARGET_S, "load_average": la[0]},
                               "timing": rows_a, "grid": rows_b}, indent=1))
    print(f"wrote {out}")
    return 0 if all(r["under_target"] for r in rows_a) else 1


if __name__ == "__main__":
    raise SystemExit(main())
