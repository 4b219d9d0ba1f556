"""The ``qtheory llm`` sub-command: mean latency of FCFS, SPJF, SPRPT and TRAIL(c) on a shipped
LLM request trace, from the exact SOAP formulas (:func:`qtheory.llm.trail`).

``--policies`` takes the names of the main command (``fcfs,sprpt,trail,trail-0.5``; ``trail`` is
the TRAIL paper's c = 0.8); without it FCFS, SPJF, SPRPT and TRAIL(c) for each ``--c`` are shown.
``--plot FILE`` draws two panels: E[T] against the load, and E[T] of TRAIL(c) relative to
SPRPT against c at each ``--load`` (where the effect of c shows; on the first panel's log axis
the prediction policies lie within a few percent of each other). ``--percentiles 50,99`` adds
the percentiles of the response time T and of the time until first service W (time to first
token) and E[W] beside the means, from the exact distributions
(:meth:`qtheory.MG1.sweep_percentiles`; ``n/a`` with a footnote for a policy without one)."""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from ..cli import Command

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
    g.add_argument("--policies", metavar="LIST", default=None,
                   help="comma-separated policy names instead of FCFS, SPJF, SPRPT and TRAIL(--c), "
                        "e.g. fcfs,sprpt,trail,trail-0.5 ('trail' is TRAIL with the paper's "
                        "c = 0.8, 'trail-C' any c in [0, 1])")
    g.add_argument("--predictor", choices=("five_class", "binary", "perfect"), default="five_class",
                   help="prediction error law fitted to a measured output-length predictor "
                        "(default five_class)")
    g.add_argument("--per-token", type=float, default=1.0, metavar="SECONDS",
                   help="service time per output token (default 1: latencies in tokens)")
    g.add_argument("--percentiles", metavar="LIST", default=None,
                   help="also percentiles of the response time T and of the time until first "
                        "service W (time to first token), and E[W], e.g. 50,99: exact "
                        "distributions (MG1.sweep_percentiles), n/a with a footnote for a policy "
                        "without one; seconds per load for FCFS on a trace")
    g.add_argument("--json", action="store_true", help="print JSON instead of a table")
    g.add_argument("--plot", metavar="FILE", action="append",
                   help="also write a figure: E[T] against the load, and TRAIL's E[T] relative to "
                        "SPRPT against c; the extension of FILE picks the format (.pdf, .png, "
                        ".svg, .eps), without one FILE.pdf and FILE.png are written")


def default_policies(cs) -> list:
    """FCFS, SPJF, SPRPT and TRAIL(c) for each c."""
    from ..policies import get_policy
    from .trail import TRAIL

    return [get_policy("fcfs"), get_policy("spjf"), get_policy("sprpt")] + [TRAIL(c) for c in cs]


def evaluate(trace: str, loads, cs, predictor: str = "five_class", per_token: float = 1.0,
             policies=None):
    """Rows (policy, load, E[T], E[T]/E[T_FCFS], paused jobs, paused KV tokens).

    ``policies``: policies or names (default :func:`default_policies` of ``cs``). TRAIL and
    SPRPT report the memory held by paused jobs (exact, :func:`qtheory.llm.trail`);
    non-preemptive policies hold none; for other preemptive policies it is not computed (NaN).
    """
    from .. import datasets
    from ..policies import get_policy
    from . import trail as llm

    tr = datasets.azure_llm_2023(trace)
    q = tr.model(0.5, predictor=predictor, per_token=per_token)
    loads = np.asarray(loads, float)
    fcfs = q.sweep("fcfs", loads)
    rows = []
    zero = np.zeros(loads.size)
    nan = np.full(loads.size, np.nan)
    curves = {}
    for p in (default_policies(cs) if policies is None else policies):
        pol = get_policy(p)
        if pol.name in curves:
            continue
        sprpt = pol.descriptor == "prediction" and pol.formula_form() == "remaining"  # TRAIL with c = 1
        if isinstance(pol, llm.LimitedPreemption) or sprpt:
            r = llm.limited_preemption(q, pol.c if isinstance(pol, llm.LimitedPreemption) else 1.0,
                                       loads)
            curves[pol.name] = (r.mean, r.paused_jobs, r.paused_age / per_token)
        elif not pol.preemptive:  # FCFS, SJF, SPJF: nothing is paused
            curves[pol.name] = (q.sweep(pol, loads), zero, zero)
        else:
            curves[pol.name] = (q.sweep(pol, loads), nan, nan)
    for name, (et, pj, pa) in curves.items():
        for i, rho in enumerate(loads):
            rows.append((name, float(rho), float(et[i]), float(et[i] / fcfs[i]), float(pj[i]),
                         float(pa[i])))
    return tr, q, rows


def percentile_columns(q, policies, loads, percentiles) -> tuple[list[str], dict, dict]:
    r"""Percentiles of the response time :math:`T` and of the time until first service
    :math:`W` (SOAP's waiting time: the time to first token), and :math:`E[W]`, of each policy
    at each load, from :meth:`qtheory.MG1.sweep_percentiles` on the trace model ``q``.

    Returns
    -------
    columns : list of str
        ``["T p50", "T p99", "E[W]", "W p50", "W p99"]`` for ``percentiles = (50, 99)``.
    values : dict
        ``values[name]``: an array of shape ``(len(loads), len(columns))``, or None where the
        policy has no distribution.
    notes : dict
        ``notes[name]``: why a policy has none (the ``NotImplementedError``'s message).
    """
    from ..cli import percentile_label
    from ..policies import get_policy

    levels = [p / 100 for p in percentiles]
    labels = [percentile_label(p) for p in percentiles]
    columns = [f"T {v}" for v in labels] + ["E[W]"] + [f"W {v}" for v in labels]
    values: dict = {}
    notes: dict = {}
    for p in policies:
        pol = get_policy(p)
        if pol.name in values:
            continue
        try:
            t = q.sweep_percentiles(pol, loads, q=levels)
            w = q.sweep_percentiles(pol, loads, q=levels, waiting=True)
        except (NotImplementedError, ImportError) as err:
            values[pol.name] = None
            notes[pol.name] = f"{type(err).__name__}: {err}"
            continue
        values[pol.name] = np.column_stack([t.values, w.mean, w.values])
    return columns, values, notes


def _run(args: argparse.Namespace) -> int:
    from ..table import Table

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
    from ..cli import _percentiles_arg, _policies_arg

    parsed = {}
    for flag, text, parse in (("--policies", args.policies, _policies_arg),
                              ("--percentiles", args.percentiles, _percentiles_arg)):
        try:
            parsed[flag] = None if text is None else parse(text)
        except argparse.ArgumentTypeError as err:
            print(f"qtheory llm: error: {flag}: {err}", file=sys.stderr)
            return 2
    policies, percentiles = parsed["--policies"], parsed["--percentiles"]
    tr, q, rows = evaluate(args.trace, loads, args.c, args.predictor, args.per_token, policies)
    cols = ["policy", "load", "E[T]", "E[T]/E[T_FCFS]", "paused jobs", "paused KV tokens"]
    title = (f"{tr.name}: {len(tr)} requests, mean output {tr.generated_tokens.mean():.1f} tokens, "
             f"{args.predictor} predictions; E[T] in units of {args.per_token:g} per token")
    notes: dict = {}
    if percentiles:
        names = list(dict.fromkeys(r[0] for r in rows))
        extra, vals, notes = percentile_columns(q, names, loads, percentiles)
        cols += extra
        index = {float(v): i for i, v in enumerate(loads)}
        rows = [(*r, *(["n/a"] * len(extra) if vals[r[0]] is None
                       else [float(v) for v in vals[r[0]][index[r[1]]]])) for r in rows]
        title += "; T: response time, W: time until first service (time to first token)"
    table = Table(cols, rows, title=title)
    if args.json:
        out = json.loads(table.to_json())
        out["citation"] = tr.citation
        if percentiles:
            out["percentile_notes"] = notes
        print(json.dumps(out, indent=2))
    else:
        print(table)
        for i, (name, why) in enumerate(notes.items(), 1):
            print(f"[{i}] n/a for {name}: {why}")
        print(f"data: {tr.citation}")
    if args.plot:
        try:
            _plot(q, args.c, loads, args.plot, args.per_token, policies)
        except ValueError as err:  # e.g. an extension matplotlib cannot write
            print(f"qtheory llm: error: --plot: {err}", file=sys.stderr)
            return 2
    return 0


#: values of c on the x axis of the second panel
C_GRID = np.linspace(0.0, 1.0, 21)


def _plot(q, cs, loads, paths, per_token, policies=None) -> list:
    """Two panels: (a) E[T] against the load (log axis), one curve per policy; (b) E[T] of
    TRAIL(c) over E[T] of SPRPT against c, one curve per load in ``loads`` (c = 0 is SPJF,
    c = 1 SPRPT), markers at the chosen ``cs``. Returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .. import plotting
    from ..policies import get_policy
    from . import trail as llm

    pols = [get_policy(p) for p in (default_policies(cs) if policies is None else policies)]
    grid = np.linspace(0.05, max(0.95, max(loads)), PLOT_POINTS)
    every = max(1, PLOT_POINTS // 8)
    unit = "" if per_token == 1 else f" ({per_token:g} per token)"
    with plotting.paper_style():
        fig, (ax, bx) = plotting.figure("double", height=2.6, ncols=2)
        for k, pol in enumerate(pols):
            vals = np.asarray(q.sweep(pol, grid), float)
            # stagger the markers of the curves, which lie close together on the log axis
            ax.plot(grid, vals, label=pol.name, markevery=(k % every, every),
                    **plotting.policy_style(pol.name))
        ax.set_yscale("log")
        ax.set_xlabel(r"load $\rho$")
        ax.set_ylabel(r"mean latency $E[T]$" + unit)
        ax.set_title("(a) mean latency", fontsize="medium")
        ax.legend(loc="upper left", handlelength=2.4)
        shown = sorted({float(v) for v in loads})
        # the c of the TRAIL curves of panel (a) (SPJF and SPRPT are the ends of the axis)
        chosen = sorted({p.c for p in pols if isinstance(p, llm.LimitedPreemption)}) or list(cs)
        colors = [plotting.PALETTE[k] for k in ("black", "green", "purple", "sky", "grey")]
        for i, rho in enumerate(shown):
            sprpt = float(llm.limited_preemption(q, 1.0, rho).mean)
            rel = np.array([float(llm.limited_preemption(q, c, rho).mean) for c in C_GRID]) / sprpt
            col = colors[i % len(colors)]
            bx.plot(C_GRID, rel, label=rf"$\rho = {rho:g}$", marker="none", color=col,
                    linestyle=("-", "--", ":", "-.")[i % 4])
            mk = np.array([float(llm.limited_preemption(q, c, rho).mean) for c in chosen]) / sprpt
            bx.plot(chosen, mk, linestyle="none", marker="o", color=col, markersize=4)
        bx.axhline(1.0, color=plotting.PALETTE["grey"], linewidth=0.6)
        bx.set_xlabel(r"preemptible fraction $c$ (0: SPJF, 1: SPRPT)")
        bx.set_ylabel(r"$E[T_{\mathrm{TRAIL}(c)}]\,/\,E[T_{\mathrm{SPRPT}}]$")
        bx.set_title("(b) effect of c (dots: the c of panel a)", fontsize="medium")
        bx.set_xlim(0, 1)
        bx.legend(loc="upper right")
        written = []
        for path in paths:
            written += plotting.save(fig, path)
    plt.close(fig)
    for w in written:
        print(f"qtheory llm: wrote {w}", file=sys.stderr)
    return written


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
           "  qtheory llm --policies fcfs,sprpt,trail,trail-0.5\n"
           "  qtheory llm --percentiles 50,99 --load 0.8\n"
           "  qtheory llm --plot trail.pdf        (trail.pdf; 'trail' alone: trail.pdf and trail.png)",
)
