"""Reproduced papers: one module per paper, each printing its numbers beside the published ones.

Every paper module defines ``NAME``, ``TITLE``, ``PUBLISHED`` (the published numbers with their
provenance, see :class:`Published`) and ``reproduce(out=None, *, jobs=None, seed=..., perturb=None,
figure=True) -> PaperReport``, which writes a CSV and a figure (PDF and PNG) into ``out`` (default
``papers/out``). The comparison rules are in :mod:`qtheory.papers._common`: a number the source
computed must be matched to its printed precision, a simulated one within its stated Monte Carlo
tolerance, and documented transcription errors are printed as ``known`` without failing.

>>> import qtheory as qt
>>> sorted(qt.PAPERS)                                     # doctest: +NORMALIZE_WHITESPACE
['dellamico_lognormal', 'mitzenmacher2020', 'skippredict2024', 'small_advice2021', 'survey2025']

Command line: ``qtheory papers`` lists them, ``qtheory papers NAME [--out DIR] [--jobs N]`` runs
one (``all`` runs every one); the exit status is 0 when every published number is matched, 1 when
one is missed, 2 on a usage error (such as an unknown name). The scripts in ``papers/`` are the same
entry point, one per paper.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Mapping, Sequence
from types import ModuleType

from ._common import JOBS_ENV, Check, PaperReport, Published, SimPoint

__all__ = ["PAPERS", "PaperReport", "Published", "PublishedCheck", "SimPoint", "paper_module",
           "reproduce_paper"]

#: name -> one-line title; the module is ``qtheory.papers.<name>``
PAPERS: dict[str, str] = {
    "mitzenmacher2020": 'Mitzenmacher, "Scheduling with Predictions and the Price of Misprediction", ITCS 2020',
    "small_advice2021": 'Mitzenmacher, "Queues with Small Advice", ACDA 2021',
    "dellamico_lognormal": "Dell'Amico, Carra, Michiardi: size-based scheduling with log-normal size "
                           "estimates (MASCOTS 2014, IEEE TC 2016)",
    "survey2025": 'Mitzenmacher & Shahout, "Queueing, Predictions, and LLMs" (Stochastic Systems 2025): '
                  "FCFS/SPJF/PSPJF/SPRPT vs SRPT",
    "skippredict2024": 'Shahout & Mitzenmacher, "SkipPredict: When to Invest in Predictions for Scheduling" '
                       "(NeurIPS 2024): prediction costs",
}

PublishedCheck = Check


def paper_module(name: str) -> ModuleType:
    """The module of paper ``name``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known names.
    """
    if not isinstance(name, str) or name not in PAPERS:
        raise ValueError(f"unknown paper {name!r}; known papers: {', '.join(PAPERS)}")
    return importlib.import_module(f"{__name__}.{name}")


def reproduce_paper(name: str, out=None, *, jobs: int | None = None,
                    perturb: Mapping[str, str] | None = None, figure: bool = True) -> PaperReport:
    """Run the reproduction of paper ``name`` (see :data:`PAPERS`).

    Parameters
    ----------
    name : str
    out : path, optional
        Folder for the CSV files and the figure (default ``papers/out``).
    jobs : int, optional
        Simulated jobs per point (default ``$QTHEORY_PAPERS_JOBS`` or the paper's default; 0 skips
        the simulations).
    perturb : mapping, optional
        ``{key: printed number}``: replace published numbers, to check that a wrong one fails.
    figure : bool
        Draw the figure.

    Returns
    -------
    PaperReport
        ``.passed``, ``.exit_code``, ``.checks``, ``.sims``, ``.files``; ``str()`` is the text report.
    """
    mod = paper_module(name)
    return mod.reproduce(out, jobs=jobs, perturb=perturb, figure=figure)


# ---------------------------------------------------------------------------------------------
# command line: `qtheory papers [NAME]` and the scripts papers/NAME.py
# ---------------------------------------------------------------------------------------------
def _perturb_arg(text: str) -> tuple[str, str]:
    key, sep, val = text.partition("=")
    try:
        float(val)
    except ValueError:
        sep = ""
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--perturb takes KEY=NUMBER, got {text!r}")
    return key.strip(), val.strip()


def _add_arguments(p: argparse.ArgumentParser, top_level: bool = False, with_name: bool = True) -> None:
    if with_name:
        p.add_argument("name", nargs="?", metavar="NAME",
                       help="paper to reproduce, or 'all'; without it the papers are listed")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="folder for the CSV files and the figure (default: papers/out)")
    p.add_argument("--jobs", type=int, metavar="N", default=None,
                   help=f"simulated jobs per point (default: ${JOBS_ENV} or the paper's default; 0: none)")
    p.add_argument("--no-figure", action="store_true", help="skip the figure")
    p.add_argument("--perturb", type=_perturb_arg, action="append", metavar="KEY=NUMBER", default=None,
                   help="replace a published number (to check that the comparison then fails)")


def _list() -> str:
    w = max(map(len, PAPERS))
    lines = ["Reproduced papers (qtheory papers NAME [--out DIR] [--jobs N]; 'all' runs every one):"]
    lines += [f"  {n.ljust(w)}  {t}" for n, t in PAPERS.items()]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    name = getattr(args, "name", None)
    if name is None:
        print(_list())
        return 0
    names = list(PAPERS) if name == "all" else [name]
    if name != "all" and name not in PAPERS:
        print(f"qtheory papers: error: unknown paper {name!r}; known papers: {', '.join(PAPERS)}, all",
              file=sys.stderr)
        return 2
    if args.jobs is not None and args.jobs < 0:
        print(f"qtheory papers: error: --jobs must be >= 0, got {args.jobs}", file=sys.stderr)
        return 2
    import matplotlib

    matplotlib.use("Agg")
    perturb = dict(args.perturb) if args.perturb else None
    code = 0
    t0 = time.perf_counter()
    for n in names:
        try:
            rep = reproduce_paper(n, args.out, jobs=args.jobs, figure=not args.no_figure,
                                  perturb=perturb if name != "all" else None)
        except ValueError as err:
            print(f"qtheory papers: error: {err}", file=sys.stderr)
            return 2
        print(rep.format())
        print()
        code = max(code, rep.exit_code)
    if len(names) > 1:
        print(f"all papers: {'PASSED' if code == 0 else 'FAILED'} ({time.perf_counter() - t0:.1f} s)")
    return code


def script_main(name: str, argv: Sequence[str] | None = None, default_out=None) -> int:
    """Entry point of the script ``papers/<name>.py``: the options of ``qtheory papers NAME``.

    Parameters
    ----------
    name : str
        The paper.
    argv : sequence of str, optional
        Arguments (default ``sys.argv[1:]``).
    default_out : path, optional
        Output folder when ``--out`` is not given (the scripts pass ``papers/out``).

    Returns
    -------
    int
        The exit status: 0 all matched, 1 a published number missed, 2 a usage error.
    """
    paper_module(name)
    parser = argparse.ArgumentParser(prog=f"{name}.py", description=PAPERS[name])
    _add_arguments(parser, with_name=False)
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    args.name = name
    if args.out is None and default_out is not None:
        args.out = str(default_out)
    return _run(args)


def _command():
    from ..cli import Command

    return Command(
        name="papers",
        help="reproduce the tables and figures of published papers",
        description="Reproduce published papers on scheduling with predictions: print each reproduced "
                    "number beside the published one (relative difference, tolerance, provenance), "
                    "write a CSV and a figure (PDF, PNG). Exit status 1 when a published number is "
                    "missed beyond its printed precision (simulated ones: beyond their stated tolerance).",
        add_arguments=_add_arguments,
        run=_run,
        epilog=_list() + "\n\nexamples:\n  qtheory papers\n  qtheory papers mitzenmacher2020 --out /tmp/p"
               "\n  qtheory papers all --jobs 100000",
    )


def __getattr__(name: str):
    if name == "COMMAND":
        cmd = _command()
        globals()["COMMAND"] = cmd
        return cmd
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
