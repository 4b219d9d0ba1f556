"""Timing of the worst-case prediction search of ``qt.robustness`` (qtheory.measures.bounds).

Run from the repository root (one core; prints a table, writes JSON)::

    python benchmarks/bench_bounds.py            # 64-point maps, the default search budgets
    python benchmarks/bench_bounds.py --quick    # 16-point maps, small budgets (smoke run)

For each policy (SPJF, PSPJF, SPRPT: closed forms; SRPT-Bounce: the generic SOAP engine) and
each error interval [beta x, alpha x], it times one full ``qt.robustness`` call on Weibull(0.5)
sizes at load 0.8 with an ``n``-point factor map, and reports the worst ratio found, the proved
bound on the same discrete law, the number of exact evaluations and the time per evaluation.
The target is < 10 s per (policy, alpha, beta) with n = 64. Timings are the best of
``--repeat`` runs (``time.perf_counter``), all measured in this run.

M/G/k lower bounds (issue 18: the increasing-speed-queue bound of ``MGk.lower_bound``)::

    python benchmarks/bench_bounds.py --mgk                 # the grid, 4 million jobs in 16 replications a point
    python benchmarks/bench_bounds.py --mgk --quick         # k = 2, 4 at load 0.8, fewer jobs

For every law (Exp(1), Weibull(0.5), the discrete Empirical([1, 2, 5, 10]), the Azure LLM conv
and code traces), k = 2, 4, 8 and per-server load 0.5, 0.8, 0.95 it prints the earlier lower
bound (the larger of pooled SRPT-1 and the per-threshold mixed bound), the new ``lower_bound`` (with
the increasing-speed-queue and overflow bounds), the simulated
means of FCFS, PS, SRPT, PSJF, SPRPT, PSPJF, SPJF and LAS (log-normal predictions, sigma 0.5; the
traces' measured five-class predictor), whether the new bound is below every simulated mean
within the test suite's half-width (level 1 - 1e-6, tests/stats_policy.py), the fraction of the
gap between the old bound and the best simulated policy that the new bound closes, and the time
of one evaluation of the ISQ bound against the mixed one (both cold, in this run).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")  # one core

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

import qtheory as qt  # noqa: E402
from qtheory.models.multiserver_bounds import _isq_lower, _mixed_lower, _overflow_lower  # noqa: E402

POLICIES = ("SPJF", "PSPJF", "SPRPT", "SRPT-Bounce")
SPREADS = ((1.25, 0.8), (2.0, 0.5), (4.0, 0.25))
TARGET_S = 10.0


MGK_POLICIES = ("fcfs", "ps", "srpt", "psjf", "sprpt", "pspjf", "spjf", "las")


def _mgk_laws():
    """Fresh (size, prediction) pairs (no cached grid carries over between timed calls)."""
    conv = qt.datasets.azure_llm_2023("conv").pairs()
    code = qt.datasets.azure_llm_2023("code").pairs()
    ln = qt.LogNormalPrediction(sigma=0.5)
    return {"exp": (qt.Exponential(1.0), ln), "weibull0.5": (qt.Weibull(0.5), ln),
            "discrete": (qt.Empirical([1.0, 2.0, 5.0, 10.0]), ln),
            "azure-conv": (conv.size_law(), conv), "azure-code": (code.size_law(), code)}


def _halfwidth(ci95: float, reps: int, alpha: float = 1e-6) -> float:
    """The test suite's half-width (tests/stats_policy.py): Student-t at level 1 - alpha."""
    df = reps - 1
    return ci95 / stats.t.ppf(0.975, df) * stats.t.ppf(1 - alpha / 2, df)


def mgk_grid(quick: bool, jobs: int, reps: int, out: Path, ks=None, loads=None, laws=None,
             policies=MGK_POLICIES) -> int:
    ks = ks or ((2, 4) if quick else (2, 4, 8))
    loads = loads or ((0.8,) if quick else (0.5, 0.8, 0.95))
    rows = []
    print(f"M/G/k lower bounds against {jobs} simulated jobs in {reps} replications a point (one core)")
    head = f"{'law':<11} {'k':>2} {'load':>5} {'old':>9} {'new':>9} {'best sim':>9} {'policy':<6} " \
           f"{'closed':>6} {'valid':>5} {'ms new':>7} {'ms old':>7}"
    print(head)
    print("-" * len(head))
    for name in laws or _mgk_laws():
        for k in ks:
            for load in loads:
                size, pred = _mgk_laws()[name]
                lam = load * k / size.mean
                t0 = time.perf_counter()
                new = _isq_lower(size, lam, k, 1.0)
                t_new = time.perf_counter() - t0
                size_b = _mgk_laws()[name][0]
                t0 = time.perf_counter()
                mixed = _mixed_lower(size_b, lam, k, 1.0)
                t_old = time.perf_counter() - t0
                m = qt.MGk(k, lam, size, pred)
                old = max(m.pooled_mean_response_time("srpt"), mixed)
                lower = m.lower_bound()
                sims = {}
                for pol in policies:
                    r = qt.simulate(m, pol, jobs=jobs, seed=(k, int(load * 100), len(pol)), replications=reps,
                                    workers=1, progress=False)
                    sims[pol] = (r.mean, r.ci, r.replications, _halfwidth(r.ci, r.replications))
                valid = all(v[0] + v[3] >= lower for v in sims.values())
                best = min(sims, key=lambda p: sims[p][0])
                bmean = sims[best][0]
                closed = (lower - old) / (bmean - old) if bmean > old else float("nan")
                rows.append({"law": name, "k": k, "load": load, "old": old, "new_isq": new, "lower": lower,
                             "overflow": _overflow_lower(size, lam, k, 1.0),
                             "pooled": m.pooled_mean_response_time("srpt"), "mixed": mixed,
                             "sim": {p: {"mean": v[0], "ci95": v[1], "reps": v[2], "halfwidth_1e-6": v[3]}
                                     for p, v in sims.items()},
                             "best": best, "valid": valid, "gap_closed": closed,
                             "ms_new": 1e3 * t_new, "ms_old": 1e3 * t_old})
                print(f"{name:<11} {k:>2} {load:>5} {old:>9.5g} {lower:>9.5g} {bmean:>9.5g} {best:<6} "
                      f"{closed:>6.1%} {'yes' if valid else 'NO':>5} {1e3 * t_new:>7.1f} {1e3 * t_old:>7.1f}",
                      flush=True)
    bad = [r for r in rows if not r["valid"]]
    improved = [r for r in rows if r["lower"] > r["old"] * (1 + 1e-9)]
    fr = np.array([r["gap_closed"] for r in rows if np.isfinite(r["gap_closed"])])
    print(f"new bound below every simulated mean (within the 1e-6 half-width): {len(rows) - len(bad)}/{len(rows)}")
    print(f"improved on the old bound at {len(improved)}/{len(rows)} points; gap to the best simulated policy "
          f"closed: median {np.median(fr):.1%}, largest {fr.max():.1%}")
    print(f"slowest new bound: {max(r['ms_new'] for r in rows):.0f} ms (old: {max(r['ms_old'] for r in rows):.0f} ms)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": {"quick": quick, "jobs": jobs, "replications": reps,
                                        "python": platform.python_version()}, "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0 if not bad else 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16-point maps and small budgets")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case (best is reported)")
    ap.add_argument("--mgk", action="store_true", help="the M/G/k lower-bound grid instead")
    ap.add_argument("--jobs", type=int, default=4_000_000, help="--mgk: jobs per point, all replications")
    ap.add_argument("--reps", type=int, default=16, help="--mgk: replications per point")
    ap.add_argument("--ks", default=None, help="--mgk: comma list of server counts (default 2,4,8)")
    ap.add_argument("--loads", default=None, help="--mgk: comma list of loads (default 0.5,0.8,0.95)")
    ap.add_argument("--laws", default=None, help="--mgk: comma list of " + ",".join(_mgk_laws()))
    ap.add_argument("--policies", default=",".join(MGK_POLICIES), help="--mgk: comma list of policies")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    here = Path(__file__).resolve().parent / "out"
    if args.mgk:
        def split(text, cast):
            return tuple(cast(v) for v in text.split(",")) if text else None
        return mgk_grid(args.quick, args.jobs // (4 if args.quick else 1), args.reps,
                        Path(args.out or here / "bench_bounds_mgk.json"), split(args.ks, int),
                        split(args.loads, float), split(args.laws, str), split(args.policies, str))
    args.out = args.out or str(here / "bench_bounds.json")
    n = 16 if args.quick else 64
    size = qt.Weibull(0.5, mean=1.0)
    load = 0.8
    # warm-up: numba compilation of the generic engine is not part of the search time
    qt.robustness("srpt-bounce", size, load, 2.0, 0.5, n=4, max_evals=5)
    rows = []
    print(f"qt.robustness on {size!r}, load {load}, {n}-point maps, one core "
          f"(python {platform.python_version()}, {platform.machine()})")
    head = f"{'policy':<12} {'alpha':>5} {'beta':>5} {'ratio':>8} {'bound':>8} {'evals':>6} " \
           f"{'ms/eval':>8} {'seconds':>8}  target"
    print(head)
    print("-" * len(head))
    for pol in POLICIES:
        for alpha, beta in SPREADS:
            budget = (60 if pol == "SRPT-Bounce" else 300) if args.quick else None
            best = None
            for _ in range(max(1, args.repeat)):
                t0 = time.perf_counter()
                r = qt.robustness(pol, size, load, alpha, beta, n=n, max_evals=budget,
                                  on_size_law=False)
                dt = time.perf_counter() - t0
                best = dt if best is None else min(best, dt)
            ok = best < TARGET_S
            rows.append({"policy": pol, "alpha": alpha, "beta": beta, "n": n, "ratio": r.ratio,
                         "bound": r.bound, "tightness": r.tightness, "evaluations": r.evaluations,
                         "seconds": best, "ms_per_eval": 1e3 * best / r.evaluations,
                         "under_target": ok})
            print(f"{pol:<12} {alpha:>5g} {beta:>5g} {r.ratio:>8.4f} {r.bound:>8.4f} "
                  f"{r.evaluations:>6d} {1e3 * best / r.evaluations:>8.3f} {best:>8.2f}  "
                  f"{'< 10 s' if ok else 'OVER 10 s'}")
    worst = max(rows, key=lambda d: d["seconds"])
    print(f"slowest case: {worst['policy']} ({worst['alpha']}, {worst['beta']}): "
          f"{worst['seconds']:.2f} s (target {TARGET_S:g} s)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": {"quick": args.quick, "n": n, "load": load,
                                        "size": repr(size), "target_s": TARGET_S,
                                        "python": platform.python_version()},
                               "rows": rows}, indent=2))
    print(f"wrote {out}")
    return 0 if all(d["under_target"] for d in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
