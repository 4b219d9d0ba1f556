"""Reproduce Dell'Amico, Carra, Michiardi: size-based scheduling with log-normal size estimates.

Thin wrapper around :mod:`qtheory.papers.dellamico_lognormal`
(the same as ``qtheory papers dellamico_lognormal``): prints every
reproduced number beside the published one, writes a CSV and a figure (PDF, PNG) into papers/out
(or --out DIR), and exits with status 1 when a published number is missed.

    python papers/dellamico_lognormal.py [--out DIR] [--jobs N] [--no-figure] [--perturb KEY=NUMBER]

--jobs (or the environment variable QTHEORY_PAPERS_JOBS) sets the simulated jobs per point.
"""

from pathlib import Path

from qtheory.papers import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("dellamico_lognormal", default_out=Path(__file__).resolve().parent / "out"))
