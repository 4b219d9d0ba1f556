"""Reproduce Shahout & Mitzenmacher, "SkipPredict: When to Invest in Predictions for Scheduling"
(NeurIPS 2024): the cost of predictions.

Thin wrapper around :mod:`qtheory.papers.skippredict2024`
(the same as ``qtheory papers skippredict2024``): prints the checked numbers beside ours and the
paper's qualitative claims with the loads at which they hold, writes a CSV and a figure (PDF, PNG)
into papers/out (or --out DIR), and exits with status 1 when a check or a claim fails.

    python papers/skippredict2024.py [--out DIR] [--jobs N] [--no-figure] [--perturb KEY=NUMBER]

--jobs (or the environment variable QTHEORY_PAPERS_JOBS) sets the simulated jobs per point.
"""

from pathlib import Path

from qtheory.papers import script_main

if __name__ == "__main__":
    raise SystemExit(script_main("skippredict2024", default_out=Path(__file__).resolve().parent / "out"))
