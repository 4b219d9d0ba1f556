"""Exact M/PH/k FCFS (matrix-analytic QBD) and exact M/D/k (Crommelin), against independent
values: Erlang C, Pollaczek-Khinchine, the M/D/k root formula and the simulator.

Tolerances: the QBD is solved by a quadratically convergent iteration stopped at 1e-14 and a
sparse direct solve, so agreement with closed forms is at rounding level (1e-10 relative is
the bar; measured 1e-14 to 5e-14). The M/D/k chain is truncated where the geometric tail is
below 1e-15 (measured agreement with the root formula 1e-11 relative at load 0.95).
"""

from __future__ import annotations

import cmath
import math
import os

import numpy as np
import pytest
from stats_policy import assert_above, assert_below, assert_consistent

import qtheory as qt
from qtheory.laws.phase_type import erlang_mixture
from qtheory.models._erlang import mmk_fcfs
from qtheory.models.mphk import mdk_fcfs, mphk_fcfs

FULL = os.environ.get("QTHEORY_FULL") == "1"
REPS = 16


@pytest.mark.parametrize("k", [1, 2, 4, 10, 16])
@pytest.mark.parametrize("rho", [0.3, 0.8, 0.99])
def test_qbd_equals_erlang_c(k, rho):
    lam = rho * k * 2.0                       # mu = 2
    r = mphk_fcfs(k, lam, erlang_mixture([1.0], [1], [2.0]))
    want = mmk_fcfs(k, lam, 2.0)
    assert abs(r["mean_response_time"] / want["mean_response_time"] - 1) < 1e-10
    assert abs(r["p_wait"] - want["p_wait"]) < 1e-10
    assert r["residual"] < 1e-12


@pytest.mark.parametrize("k", [2, 3])
def test_qbd_split_exponential_phases_is_still_erlang_c(k):
    # an exponential written as a 3-phase PH (three branches of the same rate) must give Erlang C:
    # checks the multi-phase bookkeeping (busy servers per phase, restarts) for k > 1
    T = -np.eye(3)
    ph = qt.PhaseType([0.5, 0.2, 0.3], T)
    for rho in (0.5, 0.9):
        r = mphk_fcfs(k, rho * k, ph)
        assert abs(r["mean_response_time"] / mmk_fcfs(k, rho * k, 1.0)["mean_response_time"] - 1) < 1e-10


@pytest.mark.parametrize("ph", [erlang_mixture([0.3, 0.7], [1, 1], [0.4, 3.0]),
                                erlang_mixture([1.0], [4], [4.0]),
                                erlang_mixture([0.5, 0.5], [2, 3], [1.0, 5.0])])
def test_qbd_one_server_equals_pollaczek_khinchine(ph):
    lam = 0.85 / ph.mean
    want = lam * ph.moment(2) / (2 * (1 - 0.85)) + ph.mean
    r = mphk_fcfs(1, lam, ph, server_speed=1.0)
    assert abs(r["mean_response_time"] / want - 1) < 1e-10
    # speed: time scaling
    r2 = mphk_fcfs(1, lam * 2, ph, server_speed=2.0)
    assert abs(r2["mean_response_time"] * 2 / want - 1) < 1e-10


def _mdk_roots(c: int, a: float) -> float:
    """M/D/c mean wait (D = 1) from the roots of z^c = exp(a(z-1)) inside the unit disk:
    L_q = (a^2 - c(c-1)) / (2(c-a)) + sum_j 1/(1 - z_j) (the generating-function solution; an
    independent route to the embedded-chain solve)."""
    s = 0.0
    for j in range(1, c):
        w = cmath.exp(2j * cmath.pi * j / c)
        z = 0j
        for _ in range(3000):                 # a contraction: |a/c z'| < 1 inside the disk
            z = w * cmath.exp(a * (z - 1) / c)
        s += (1 / (1 - z)).real
    return ((a * a - c * (c - 1)) / (2 * (c - a)) + s) / a


@pytest.mark.parametrize("k", [1, 2, 4, 8])
@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
def test_mdk_chain_equals_root_formula(k, rho):
    a = k * rho
    got = mdk_fcfs(k, a, 1.0)["mean_wait"]
    assert abs(got / _mdk_roots(k, a) - 1) < 1e-9
    if k == 1:
        assert abs(got - rho / (2 * (1 - rho))) < 1e-9 * got


def test_erlang_r_tends_to_deterministic():
    # M/E_r/2 -> M/D/2 from above, with an error of order 1/r (measured (W_r - W_D) r = 0.888,
    # 0.901, 0.920 for r = 5, 10, 20)
    wd = mdk_fcfs(2, 1.6, 1.0)["mean_wait"]
    prev = math.inf
    for r in (5, 10, 20):
        w = mphk_fcfs(2, 1.6, erlang_mixture([1.0], [r], [float(r)]))["mean_wait"]
        assert wd < w < prev
        assert 0.85 < (w - wd) * r < 0.95
        prev = w


def test_mgk_fcfs_exact_routes_are_labelled():
    m = qt.MGk(3, 2.4, qt.Erlang(3, mean=1.0))
    v = m.mean_response_time("fcfs")
    assert v.exact and v.error == 0 and "QBD" in v.method
    want = mphk_fcfs(3, 2.4, erlang_mixture([1.0], [3], [3.0]))["mean_response_time"]
    assert abs(float(v) - want) < 1e-12
    d = qt.MGk(4, 3.2, qt.Deterministic(2.0), server_speed=2.0)
    v = d.mean_response_time("fcfs")
    assert v.exact and "Crommelin" in v.method
    assert abs(float(v) - mdk_fcfs(4, 3.2, 1.0)["mean_response_time"]) < 1e-12


def test_exact_fcfs_against_simulation():
    """M/H2/4 and M/E3/2 FCFS: the exact QBD value inside the simulator's interval."""
    jobs = 2_000_000 if FULL else 400_000
    for m, seed in ((qt.MGk(4, 3.2, qt.HyperExponential([0.2, 0.8], [3.0, 0.5])), 1),
                    (qt.MGk(2, 1.8, qt.Erlang(3, mean=1.0)), 2)):
        v = m.mean_response_time("fcfs")
        assert v.exact
        r = qt.simulate(m, "fcfs", jobs=jobs, seed=seed, replications=REPS)
        assert_consistent(float(v), r, f"exact FCFS {m!r}")


def test_fitted_fcfs_on_the_conv_trace_within_its_band():
    """The Azure conv trace, k = 4, load 0.8 (the issue's case): the phase-type-fit value and
    its measured band against the simulator."""
    pairs = qt.datasets.azure_llm_2023("conv").pairs()
    size = pairs.size_law()
    m = qt.MGk(4, 0.8 * 4 / size.mean, size, pairs)
    v = m.mean_response_time("fcfs")
    assert v.kind == "approx" and 0 < v.error <= 0.05
    r = qt.simulate(m, "fcfs", jobs=400_000, seed=3, replications=REPS)
    lo, hi = v.interval
    assert_above(lo, r, "FCFS fit band, lower side")
    assert_below(hi, r, "FCFS fit band, upper side")
    # the question: the analytic answers rank SPRPT below FCFS, as the simulator does
    a = m.mean_response_time("sprpt")
    assert a.kind == "approx" and float(a) < float(v) and a.interval[1] < v.interval[0]
    r = qt.simulate(m, "sprpt", jobs=400_000, seed=4, replications=REPS)
    assert_above(a.interval[0], r, "SPRPT-4 band, lower side")
    assert_below(a.interval[1], r, "SPRPT-4 band, upper side")


def test_bad_arguments():
    ph = erlang_mixture([1.0], [1], [1.0])
    with pytest.raises(ValueError, match="load"):
        mphk_fcfs(2, 2.0, ph)
    with pytest.raises(ValueError, match="load"):
        mdk_fcfs(2, 2.5, 1.0)


def test_bench_multiserver_quick_runs(tmp_path):
    """``benchmarks/bench_multiserver.py --quick`` runs end to end (timings are reported by the
    benchmark, never asserted here)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "b.json"
    proc = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_multiserver.py"), "--quick",
                           "--out", str(out)], cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "target" in proc.stdout
    data = json.loads(out.read_text())
    assert data["timing"] and all(r["label"] for r in data["timing"])


def test_fcfs_fit_phases_follow_the_law_and_the_servers():
    """Unbounded laws with C^2 > 1 get the largest hyperexponential whose QBD stays small; traces
    (bounded) keep the two-phase three-moment fit; at k = 1 the QBD on the four-phase fit of
    Weibull(0.5) is Pollaczek-Khinchine with the law's own first two moments."""
    w = qt.Weibull(0.5)
    assert qt.MGk(4, 2.0, w).phase_type_fit().ph.phases == 4
    assert qt.MGk(16, 8.0, w).phase_type_fit().ph.phases == 3       # C(19, 3) = 969 > 400 phases a level
    code = qt.datasets.azure_llm_2023("code").pairs().size_law()
    assert qt.MGk(4, 0.1, code).phase_type_fit().ph.phases == 2
    ph = qt.MGk(4, 2.0, w).phase_type_fit().ph
    lam = 0.7
    pk = w.mean + lam * w.moment(2) / (2 * (1 - lam * w.mean))
    assert abs(mphk_fcfs(1, lam, ph)["mean_response_time"] / pk - 1) < 1e-9


def test_fitted_fcfs_on_weibull_within_its_band():
    """Weibull(0.5), k = 2, load 0.5: the four-phase fit's value against the simulator (the
    two-phase fit it replaces is 1.9% low here; QTHEORY_FULL=1 simulates enough to see that)."""
    w = qt.Weibull(0.5)
    m = qt.MGk(2, 0.5 * 2 / w.mean, w)
    v = m.mean_response_time("fcfs")
    assert v.kind == "approx" and 0 < v.error <= 0.01 and "4 phases" in v.method
    r = qt.simulate(m, "fcfs", jobs=64_000_000 if FULL else 12_000_000, seed=181, replications=REPS)
    lo, hi = v.interval
    assert_above(lo, r, "FCFS four-phase fit band, lower side")
    assert_below(hi, r, "FCFS four-phase fit band, upper side")
