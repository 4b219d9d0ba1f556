"""Reproduce Mitzenmacher, "Scheduling with Predictions and the Price of Misprediction" (ITCS 2020).

Thin wrapper around :mod:`qtheory.papers.mitzenmacher2020`
(the same as ``qtheory papers mitzenmacher2020``): prints every
reproduced number beside the published one, writes a CSV and a figure (PDF, PNG) into papers/out
(or --out DIR), and exits with status 1 when a published number is missed.

    python papers/mitzenmacher2020.py [--out DIR] [--jobs N] [--no-figure] [--perturb KEY=NUMBER]

--jobs (or the environment variable QTHEORY_PAPERS_JOBS) sets the simulated jobs per point.
"""

from pathlib import Path

from qtheory.papers import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("mitzenmacher2020", default_out=Path(__file__).resolve().parent / "out"))
