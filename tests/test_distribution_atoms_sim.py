"""The atoms of a response-time law on discrete sizes against the simulator (issue 16).

PSJF on sizes {1, 3} (equally likely, arrival rate 0.25): the fractions of jobs whose response
time is exactly 1, 3, 4 and 5 (the busy-period atoms of the size-3 jobs, Takacs' formula) in
independent simulated traces, against the law's atoms (tests/stats_policy.py: 16 replications,
Student-t half-widths at the suite's level)."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from stats_policy import Estimate, assert_consistent, rng

import qtheory as qt
from qtheory.sim import simulate_trace

LAM, SIZES = 0.25, np.array([1.0, 3.0])
REPS, JOBS, WARM = 16, 40_000, 2_000


def test_psjf_atoms_match_the_simulator():
    d = qt.MG1(LAM, qt.Empirical(list(SIZES))).response_time_distribution("psjf")
    atoms = dict(d.atoms)
    g = rng(1616)
    points = (1.0, 3.0, 4.0, 5.0)
    frac = np.empty((REPS, len(points)))
    for r in range(REPS):
        arr = np.cumsum(g.exponential(1 / LAM, JOBS + WARM))
        x = g.choice(SIZES, JOBS + WARM)
        t = simulate_trace("psjf", arr, x)[WARM:]
        frac[r] = [np.mean(np.abs(t - a) <= 1e-7) for a in points]
    ci = stats.t.ppf(0.975, REPS - 1) * frac.std(0, ddof=1) / math.sqrt(REPS)
    for k, a in enumerate(points):
        assert_consistent(atoms[a], Estimate(float(frac[:, k].mean()), float(ci[k]), REPS),
                          f"PSJF on sizes {{1, 3}}: P(T = {a:g})")
