"""The ``qtheory llm`` sub-command: mean latency of FCFS, SPJF, SPRPT and TRAIL(c) on a shipped
LLM request trace, from the exact SOAP formulas (:func:`qtheory.llm.limited_preemption`)."""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from .cli import Command

DEFAULT_LOADS = (0.5, 0.7, 0.8, 0.9)
DEFAULT_C = (0.5, 0.8)
#: points of the --plot curves
PLOT_POINTS = 40


def _add_arguments(p: argparse.ArgumentParser, top_level: bool) -> None:
    g = p.add_argument_group("llm options")
    g.add_argument("--trace", choices=("conv", "code"), default="conv",
                   help="shipped trace: Azure LLM inference 2023, conversation or code service "
                        "(default conv)")
    g.add_argument("--load", type=float, nargs="+", default=list(DEFAULT_LOADS), metavar="RHO",
                   help="loads in (0, 1) (default 0.5 0.7 0.8 0.9)")
    g.add_argument("--c", type=float, nargs="+", default=list(DEFAULT_C), metavar="C",
                   help="TRAIL preemptible fractions in [0, 1] (default 0.5 0.8)")
    g.add_argument("--predictor", choices=("five_class", "binary", "perfect"), default="five_class",
                   help="prediction error law fitted to a measured output-length predictor "
                        "(default five_class)")
    g.add_argument("--per-token", type=float, default=1.0, metavar="SECONDS",
                   help="service time per output token (default 1: latencies in tokens)")
    g.add_argument("--json", action="store_true", help="print JSON instead of a table")
    g.add_argument("--plot", metavar="FILE", action="append",
                   help="also write a figure of E[T] against the load (PDF and PNG)")


def evaluate(trace: str, loads, cs, predictor: str = "five_class", per_token: float = 1.0):
    """Rows (policy, load, E[T], E[T]/E[T_FCFS], paused jobs, paused KV tokens)."""
    from . import datasets, llm

    tr = datasets.azure_llm_2023(trace)
    q = tr.model(0.5, predictor=predictor, per_token=per_token)
    loads = np.asarray(loads, float)
    fcfs = q.sweep("fcfs", loads)
    rows = []
    zero = np.zeros(loads.size)
    curves = {"FCFS": (fcfs, zero, zero)}
    sp = llm.limited_preemption(q, 0.0, loads)
    curves["SPJF"] = (sp.mean, zero, zero)
    sr = llm.limited_preemption(q, 1.0, loads)
    curves["SPRPT"] = (sr.mean, sr.paused_jobs, sr.paused_age / per_token)
    for c in cs:
        r = llm.limited_preemption(q, c, loads)
        curves[f"TRAIL(c={c:g})"] = (r.mean, r.paused_jobs, r.paused_age / per_token)
    for name, (et, pj, pa) in curves.items():
        for i, rho in enumerate(loads):
            rows.append((name, float(rho), float(et[i]), float(et[i] / fcfs[i]), float(pj[i]),
                         float(pa[i])))
    return tr, q, rows


def _run(args: argparse.Namespace) -> int:
    from .table import Table

    loads = list(args.load)
    bad = [v for v in loads if not (0 < v < 1)]
    if bad:
        print(f"qtheory llm: error: --load must lie in (0, 1), got {bad[0]!r}", file=sys.stderr)
        return 2
    bad = [v for v in args.c if not (0 <= v <= 1) or math.isnan(v)]
    if bad:
        print(f"qtheory llm: error: --c must lie in [0, 1], got {bad[0]!r}", file=sys.stderr)
        return 2
    if not (args.per_token > 0 and math.isfinite(args.per_token)):
        print(f"qtheory llm: error: --per-token must be > 0, got {args.per_token!r}", file=sys.stderr)
        return 2
    tr, q, rows = evaluate(args.trace, loads, args.c, args.predictor, args.per_token)
    cols = ["policy", "load", "E[T]", "E[T]/E[T_FCFS]", "paused jobs", "paused KV tokens"]
    title = (f"{tr.name}: {len(tr)} requests, mean output {tr.generated_tokens.mean():.1f} tokens, "
             f"{args.predictor} predictions; E[T] in units of {args.per_token:g} per token")
    table = Table(cols, rows, title=title)
    if args.json:
        out = json.loads(table.to_json())
        out["citation"] = tr.citation
        print(json.dumps(out, indent=2))
    else:
        print(table)
        print(f"data: {tr.citation}")
    if args.plot:
        _plot(q, args.c, max(loads), args.plot, args.per_token)
    return 0


def _plot(q, cs, max_load, paths, per_token) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import llm, plotting

    grid = np.linspace(0.05, max(0.95, max_load), PLOT_POINTS)
    with plotting.paper_style():
        fig, ax = plotting.figure("single")
        ax.plot(grid, q.sweep("fcfs", grid), label="FCFS", **plotting.policy_style("FCFS"))
        ax.plot(grid, llm.limited_preemption(q, 0.0, grid).mean, label="SPJF",
                **plotting.policy_style("SPJF"))
        for c in cs:
            ax.plot(grid, llm.limited_preemption(q, c, grid).mean, label=f"TRAIL(c={c:g})",
                    linestyle="--")
        ax.plot(grid, llm.limited_preemption(q, 1.0, grid).mean, label="SPRPT",
                **plotting.policy_style("SPRPT"))
        ax.set_yscale("log")
        ax.set_xlabel(r"load $\rho$")
        ax.set_ylabel(r"mean latency $E[T]$" + ("" if per_token == 1 else f" ({per_token:g}/token)"))
        ax.legend()
        written = []
        for path in paths:
            written += plotting.save(fig, path)
    plt.close(fig)
    for w in written:
        print(f"qtheory llm: wrote {w}", file=sys.stderr)


COMMAND = Command(
    name="llm",
    help="LLM serving: FCFS, SPJF, SPRPT and TRAIL(c) on a real request trace",
    description="Mean latency of FCFS (the default of serving engines), SPJF, SPRPT and SPRPT "
                "with limited preemption (TRAIL, Shahout et al. ICLR 2025) in the M/G/1 queue with "
                "the output lengths of a shipped Azure LLM inference trace (2023) as job sizes and "
                "a prediction error law fitted to a measured predictor, from the exact SOAP "
                "formulas. Also the memory held by preempted requests (paused jobs and their "
                "generated tokens). Arrivals are Poisson at the given load (the conversation "
                "trace's inter-arrival CV is 1.09; the code trace is much burstier).",
    add_arguments=_add_arguments,
    run=_run,
    epilog="examples:\n  qtheory llm\n  qtheory llm --trace code --load 0.9 --c 0.25 0.8 --json\n"
           "  qtheory llm --plot trail.pdf",
)
