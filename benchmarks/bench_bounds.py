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

import qtheory as qt  # noqa: E402

POLICIES = ("SPJF", "PSPJF", "SPRPT", "SRPT-Bounce")
SPREADS = ((1.25, 0.8), (2.0, 0.5), (4.0, 0.25))
TARGET_S = 10.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16-point maps and small budgets")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case (best is reported)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "out" / "bench_bounds.json"))
    args = ap.parse_args(argv)
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
