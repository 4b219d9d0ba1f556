"""Reproduce Mitzenmacher, "Queues with Small Advice" (ACDA 2021): one-bit advice.

Thin wrapper around :mod:`qtheory.papers.small_advice2021`
(the same as ``qtheory papers small_advice2021``): prints every
reproduced number beside the published one, writes a CSV and a figure (PDF, PNG) into papers/out
(or --out DIR), and exits with status 1 when a published number is missed.

    python papers/small_advice2021.py [--out DIR] [--jobs N] [--no-figure] [--perturb KEY=NUMBER]

--jobs (or the environment variable QTHEORY_PAPERS_JOBS) sets the simulated jobs per point.
"""

from pathlib import Path

from qtheory.papers import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("small_advice2021", default_out=Path(__file__).resolve().parent / "out"))
