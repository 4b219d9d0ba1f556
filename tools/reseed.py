#!/usr/bin/env python
"""Run the statistical tests under many master seeds and tabulate the failures.

Under the policy of ``tests/stats_policy.py`` each statistical assertion fails a correct library
with probability at most 1e-6, so a test that fails under some master seed is a test to fix (or a
bug), never bad luck. Each run sets ``QTHEORY_TEST_SEED`` (mixed into every seed given to a
simulator, see ``tests/conftest.py``) and the derandomized hypothesis profile.

Usage (from the repository root)::

    python tools/reseed.py                       # 20 master seeds (1..20), tests marked statistical
    python tools/reseed.py --seeds 3 tests/test_papers.py tests/test_datasets.py
    python tools/reseed.py --seed-list 7,11 -- -k notebook   # after --: passed on to pytest
    python tools/reseed.py --count               # the call sites of the policy helpers, per file
    python tools/reseed.py --check               # the master seed changes every simulator's stream

Without test paths it runs ``pytest -m statistical`` (the tests of every module that uses
``stats_policy``); with paths, every test in them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tokenize
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
#: a statistical assertion: a call of one of the policy's helpers (tests) or of ``halfwidth`` (notebooks)
HELPERS = {"assert_consistent", "assert_below", "assert_above", "halfwidth", "normal_halfwidth",
           "bernstein_halfwidth"}
SUMMARY = re.compile(r"statistical assertions made: (\d+)")


# ---- running the tests under master seeds ---------------------------------------------------------
def run_seed(seed: int, paths: list[str], extra: list[str], folder: Path) -> dict:
    """One pytest run under master seed ``seed``: outcome per test, count of assertions, time."""
    xml = folder / f"seed_{seed}.xml"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}"]
    cmd += paths if paths else ["-m", "statistical"]
    cmd += extra
    env = {**os.environ, "QTHEORY_TEST_SEED": str(seed), "QTHEORY_HYPOTHESIS": "ci", "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    failed: dict[str, str] = {}
    total = 0
    if xml.exists():
        for case in ET.parse(xml).getroot().iter("testcase"):
            total += 1
            bad = case.find("failure")
            if bad is None:
                bad = case.find("error")
            if bad is not None:
                node = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
                failed[node] = (bad.get("message") or "").splitlines()[0][:160] if bad.get("message") else ""
    m = SUMMARY.search(proc.stdout)
    return {"seed": seed, "returncode": proc.returncode, "tests": total, "failed": failed,
            "assertions": int(m.group(1)) if m else None, "seconds": seconds,
            "tail": proc.stdout[-2000:] + proc.stderr[-2000:]}


def report(runs: list[dict]) -> int:
    print(f"{'seed':>6} {'exit':>4} {'tests':>6} {'failed':>6} {'stat. assertions':>16} {'seconds':>8}")
    for r in runs:
        print(f"{r['seed']:>6} {r['returncode']:>4} {r['tests']:>6} {len(r['failed']):>6} "
              f"{r['assertions'] if r['assertions'] is not None else '?':>16} {r['seconds']:>8.1f}")
    per_test: dict[str, list[int]] = defaultdict(list)
    for r in runs:
        for node in r["failed"]:
            per_test[node].append(r["seed"])
    n = len(runs)
    print()
    if per_test:
        print(f"failures per test (of {n} seeds):")
        for node, seeds in sorted(per_test.items(), key=lambda kv: (-len(kv[1]), kv[0])):
            msg = next(r["failed"][node] for r in runs if node in r["failed"])
            print(f"  {len(seeds):>3}/{n}  {node}  seeds {', '.join(map(str, seeds))}")
            if msg:
                print(f"           {msg}")
    else:
        print(f"no test failed under any of the {n} master seeds")
    odd = [r for r in runs if r["returncode"] not in (0, 1)]
    for r in odd:  # collection errors, no tests, interrupted: show the end of the output
        print(f"\nseed {r['seed']}: pytest exit status {r['returncode']}\n{r['tail']}")
    counts = [r["assertions"] for r in runs if r["assertions"] is not None]
    if counts:
        print(f"\nstatistical assertions per run: {min(counts)}..{max(counts)}; a correct library fails one "
              f"run with probability <= {max(counts) * 1e-6:.1e} under the policy")
    return 0 if not per_test and not odd else 1


# ---- the count of statistical assertions ---------------------------------------------------------
def helper_calls(source: str) -> int:
    """Calls of the policy helpers in Python source (names followed by ``(``, outside strings,
    comments and ``def`` lines)."""
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type in (tokenize.NAME, tokenize.OP)]
    except (tokenize.TokenError, SyntaxError):  # a notebook cell with IPython syntax
        names = "|".join(sorted(HELPERS))
        return len(re.findall(rf"\b(?:{names})\(", source))
    return sum(1 for a, b, c in zip(toks, toks[1:], toks[2:], strict=False)
               if b.type == tokenize.NAME and b.string in HELPERS and c.string == "(" and a.string != "def")


def call_sites() -> dict[str, int]:
    """Call sites of the policy helpers per test file and per notebook (a call in a loop or a
    parametrized test makes several assertions: the pytest summary gives the number made)."""
    sites: dict[str, int] = {}
    for path in sorted(TESTS.glob("test_*.py")):
        n = helper_calls(path.read_text())
        if n:
            sites[str(path.relative_to(ROOT))] = n
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        n = sum(helper_calls("".join(c["source"])) for c in cells if c["cell_type"] == "code")
        if n:
            sites[str(path.relative_to(ROOT))] = n
    return sites


def print_count() -> None:
    sys.path.insert(0, str(TESTS))
    import stats_policy

    sites = call_sites()
    for name, n in sites.items():
        print(f"{n:>5}  {name}")
    print(f"{sum(sites.values()):>5}  call sites in all (budget {stats_policy.BUDGET} assertions made; "
          "the pytest summary line 'statistical assertions made: N' counts them at run time)")


# ---- the master seed reaches every simulator -------------------------------------------------------
def check_streams() -> int:
    """Each seeded simulator gives the same estimate twice under one master seed and different ones
    under none, master seed 1 and master seed 2; without a master seed nothing changes."""
    sys.path.insert(0, str(TESTS))
    import numpy as np
    import stats_policy

    import qtheory as qt
    from qtheory.papers import dellamico_lognormal as dell
    from qtheory.papers import reproduce_paper

    q = qt.MG1(0.8, qt.Exponential(1.0), qt.ExponentialPrediction())
    qk = qt.MGk(servers=2, arrival_rate=1.6, size=qt.Exponential(1.0))

    def paper() -> float:
        with tempfile.TemporaryDirectory() as out:
            rep = reproduce_paper("mitzenmacher2020", out, jobs=2_000, figure=False)
        return rep.sims[0].mean

    runs = {
        "qtheory.sim.simulate": lambda: qt.simulate(q, "sprpt", jobs=20_000, seed=3).mean,
        "qt.verify": lambda: qt.verify(q, "srpt", jobs=20_000, seed=3).estimate,
        "qt.verify (M/G/k bracket)": lambda: qt.verify(qk, "srpt", jobs=20_000, seed=3).estimate,
        "qtheory.sim.verify_all": lambda: qt.sim.verify_all(
            q, jobs=20_000, seed=3, policies=["fcfs"]).results[0].estimate,
        "qtheory.sim.sweep": lambda: qt.sim.sweep(q, ["fcfs"], [0.5], jobs=20_000, seed=3).rows[0][3],
        "qt.simulate_limited_preemption": lambda: qt.simulate_limited_preemption(q, 0.5, jobs=20_000, seed=3).mean,
        "qt.simulate_skip_predict": lambda: qt.simulate_skip_predict(
            q, 0.0, cheap=lambda x: np.full_like(x, 0.5), jobs=20_000, seed=3).mean,
        "qt.simulate_continuous_batching": lambda: qt.simulate_continuous_batching(
            0.5, qt.Exponential(1.0), 0.1, 0.5, jobs=20_000, seed=3).mean,
        "dellamico simulate_fspe": lambda: dell.simulate_fspe(1.0, 1.0, 4_000, 3)["FSPE"][0],
        "reproduce_paper": paper,
        "stats_policy.rng": lambda: stats_policy.rng(3).random(),
    }
    bad = 0
    for name, fn in runs.items():
        try:
            plain = fn()
            vals = {}
            for master in (None, 1, 2, 1):
                with stats_policy.reseeded(master):
                    vals.setdefault(master, []).append(fn())
        except Exception as e:  # noqa: BLE001 (report and go on)
            print(f"ERROR {name}: {type(e).__name__}: {e}")
            bad += 1
            continue
        ok = (vals[None] == [plain] and vals[1][0] == vals[1][1] and len({plain, vals[1][0], vals[2][0]}) == 3)
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: no master seed {plain:.6g}, master 1 {vals[1][0]:.6g} "
              f"(again {vals[1][1]:.6g}), master 2 {vals[2][0]:.6g}")
    with stats_policy.reseeded(5):  # a seed read back from a result reproduces the run
        a = qt.simulate(q, "sprpt", jobs=20_000, seed=123)
        b = qt.simulate(q, "sprpt", jobs=20_000, seed=a.seed)
    ok = a.mean == b.mean
    bad += not ok
    print(f"{'ok  ' if ok else 'FAIL'} SimResult.seed reproduces a run under a master seed")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", help="test files or node ids (default: pytest -m statistical)")
    p.add_argument("--seeds", type=int, default=20, help="number of master seeds (default 20)")
    p.add_argument("--start", type=int, default=1, help="first master seed (default 1)")
    p.add_argument("--seed-list", help="comma-separated master seeds (instead of --seeds/--start)")
    p.add_argument("--count", action="store_true", help="print the call sites of the policy helpers")
    p.add_argument("--check", action="store_true", help="check that the master seed reaches every simulator")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = p.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if args.count:
        print_count()
        return 0
    if args.check:
        return check_streams()
    seeds = ([int(s) for s in args.seed_list.split(",")] if args.seed_list
             else list(range(args.start, args.start + args.seeds)))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            r = run_seed(seed, args.paths, extra, Path(tmp))
            runs.append(r)
            print(f"master seed {seed}: {r['tests']} tests, {len(r['failed'])} failed, {r['seconds']:.0f} s",
                  file=sys.stderr, flush=True)
    return report(runs)


if __name__ == "__main__":
    raise SystemExit(main())
