"""Smoke test of the engine benchmark: ``benchmarks/bench_engine.py --quick`` runs and writes its
JSON. Timings are only reported by the benchmark, never asserted here."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_engine.py"


@pytest.mark.slow
def test_bench_engine_quick(tmp_path):
    out = tmp_path / "bench_engine.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Part A" in proc.stdout
    data = json.loads(out.read_text())
    assert {"meta", "sprpt_sweep", "most_queue", "targets"} <= data.keys()
    assert data["meta"]["quick"] is True
    assert set(data["sprpt_sweep"]) == {"exp_exp", "weibull_lognormal"}
    for case in data["sprpt_sweep"].values():
        for key in ("qtheory_cold_s", "qtheory_warm_s", "quad_extrapolated_50_s", "speedup_cold",
                    "speedup_warm", "qtheory_max_rel_err", "quad_max_rel_err", "reference", "values"):
            assert key in case
        assert case["n_loads"] == 50
        assert case["qtheory_cold_s"] > 0 and case["quad_extrapolated_50_s"] > 0
        # accuracy, not speed: the engine must agree with the high-precision reference
        assert case["qtheory_max_rel_err"] < 1e-8
        assert math.isfinite(case["quad_max_rel_err"])
    mq = data["most_queue"]
    if "skipped" in mq:
        assert "most-queue not installed" in proc.stdout
    else:
        assert mq["rows"]
        for row in mq["rows"]:
            for key in ("policy", "load", "qtheory_rel_err", "most_queue_rel_err", "qtheory_cold_ms",
                        "most_queue_ms", "speed_ratio_cold"):
                assert key in row
            assert row["qtheory_rel_err"] < 1e-8


@pytest.mark.slow
@pytest.mark.parametrize("args", [["bench_sim.py", "--jobs", "20000", "--repeat", "1", "--baseline-jobs", "1000"],
                                  ["bench_bounds.py", "--quick"]], ids=["bench_sim", "bench_bounds"])
def test_other_benchmarks_run(args, tmp_path):
    """The simulator and bounds benchmarks run end to end at a tiny size (so an internal API
    change cannot silently break them); their timings are not asserted."""
    extra = ["--out", str(tmp_path / "b.json")] if args[0] == "bench_bounds.py" else []
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / args[0]), *args[1:], *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "target" in proc.stdout, proc.stdout[-2000:]
