"""CUDA backend of the simulator (qtheory.sim.cuda).

The CUDA simulator test runs in a subprocess because ``NUMBA_ENABLE_CUDASIM`` must be set
before numba is imported; the real-GPU test skips without a GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from stats_policy import Estimate, assert_consistent

import qtheory as qt
from qtheory.sim import cuda as sim_cuda
from qtheory.sim import simulate

EXACT = {"FCFS": 2.0, "SRPT": 1.4253727, "SPRPT": 1.6582831}


def _close(mean, ci, replications, exact, what=""):
    """The policy's check (tests/stats_policy.py) of an estimate against ``exact``."""
    assert_consistent(exact, Estimate(mean, ci, replications), what)


def test_cuda_simulator_subprocess():
    code = textwrap.dedent("""
        import json, warnings
        warnings.simplefilter("ignore")
        import qtheory as qt
        from qtheory.sim import simulate
        q = qt.MG1(0.5, qt.Exponential(mean=1.0), qt.ExponentialPrediction())
        out = {}
        for p in ("fcfs", "srpt", "sprpt"):
            r = simulate(q, p, jobs=32 * 150, seed=7, replications=32, backend="cuda")
            out[r.policy] = [r.mean, r.ci, float(q.mean_response_time(p)), r.wall_time, r.note,
                             r.replications]
        # exactly the jobs asked: 5 threads track 51 jobs, 27 track 50
        r = simulate(q, "srpt", jobs=32 * 50 + 5, seed=8, replications=32, backend="cuda")
        extra = {"jobs": [r.jobs, r.jobs_recorded]}
        for kw in (dict(jobs=20), dict(speed=2.0), dict(jobs="640")):
            try:
                simulate(q, "srpt", seed=8, replications=32, backend="cuda", **{"jobs": 640, **kw})
                extra[str(kw)] = None
            except (TypeError, ValueError, NotImplementedError) as e:
                extra[str(kw)] = [type(e).__name__, str(e)]
        print(json.dumps(extra))
        print(json.dumps(out))
    """)
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    extra = json.loads(proc.stdout.strip().splitlines()[-2])
    assert extra["jobs"] == [1605, 5 * (51 - 5) + 27 * (50 - 5)]  # warm-up int(0.1 n) per thread
    assert extra["{'jobs': 20}"][0] == "ValueError" and "jobs >= 32" in extra["{'jobs': 20}"][1]
    assert extra["{'speed': 2.0}"][0] == "NotImplementedError"  # the kernel has unit speed only
    assert extra["{'jobs': '640'}"] == ["TypeError", "jobs must be an integer >= 1, got jobs='640' (str)"]
    assert set(out) == set(EXACT)
    for name, (mean, ci, formula, _wall, note, reps) in out.items():
        assert abs(formula - EXACT[name]) < 1e-6
        assert "simulator" in note
        assert reps == 32
        _close(mean, ci, reps, formula, f"CUDA simulator: {name}")


@pytest.mark.skipif(not sim_cuda.available(real_gpu_only=True), reason="needs a real CUDA GPU")
def test_cuda_gpu_agreement():
    q = qt.MG1(0.5, qt.Exponential(mean=1.0), qt.ExponentialPrediction())
    for p in ("fcfs", "srpt", "sprpt", "psjf", "sjf"):
        simulate(q, p, jobs=4096 * 100, seed=1, replications=4096, backend="cuda")  # compile
        r = simulate(q, p, jobs=4096 * 5000, seed=2, replications=4096, backend="cuda")
        f = float(q.mean_response_time(p))
        print(f"{r.policy}: {r.mean:.5f} ± {r.ci:.2g} (formula {f:.5f}), "
              f"{r.jobs / r.wall_time:,.0f} jobs/s")
        _close(r.mean, r.ci, r.replications, f, f"CUDA GPU: {p}")


def test_auto_backend_uses_cpu_here():
    q = qt.MG1(0.5, qt.Exponential(mean=1.0), qt.ExponentialPrediction())
    r = simulate(q, "srpt", jobs=400_000, seed=3, backend="auto", replications=16)
    if not sim_cuda.available(real_gpu_only=True):
        assert "CUDA" not in r.note
        assert r.by_size is not None  # the CPU result, with the binned statistics
    _close(r.mean, r.ci, r.replications, EXACT["SRPT"], "auto backend: SRPT")


def test_backend_errors():
    q = qt.MG1(0.5, qt.Exponential(mean=1.0))
    with pytest.raises(ValueError, match="backend"):
        simulate(q, "fcfs", jobs=1000, backend="gpu")
    if not sim_cuda.available():
        with pytest.raises(RuntimeError, match="CUDA"):
            simulate(q, "fcfs", jobs=1000, backend="cuda")
    assert sim_cuda.supported(q, "las") is not None
    assert sim_cuda.supported(q, "fcfs", servers=2) is not None
    assert sim_cuda.supported(q, "srpt") is None
    assert sim_cuda.supported(qt.MG1(0.5, qt.Exponential(mean=1.0), qt.PerfectPrediction()),
                              "spjf") is None
    with pytest.raises(NotImplementedError, match="PerfectPrediction"):
        sim_cuda._prediction_table(object())
    with pytest.raises(NotImplementedError, match="discrete"):
        sim_cuda._size_table(qt.Deterministic(1.0))
