"""Opt-in timing report of a test run: ``QTHEORY_COMPILE_REPORT=1`` (or a path to a JSON file).

Records, on every worker, the CPU time (``time.process_time``) of each numba compilation
(the ``numba:compile`` event, which fires on a cache miss only: a kernel's own time, without
the project's kernels it compiles inside it, with numba's own overloads it compiles) and of each
test (setup, call and teardown; with the subprocesses it ran), and prints after the run the costliest compilations, the
kernels compiled for more than one signature, and the CPU seconds per test file. With a path
instead of ``1`` it also writes every record there as JSON. CPU time rather than wall time: the
figures hold on a loaded machine. ``tests/conftest.py`` installs it; nothing is recorded
without the variable.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections import defaultdict

ENV = "QTHEORY_COMPILE_REPORT"
VALUE = os.environ.get(ENV, "")
ON = VALUE not in ("", "0")

compiles: list[dict] = []  # {"kernel", "signature", "cpu", "test"}
tests: dict[str, float] = {}  # node id -> CPU seconds
current_test = [""]
_stack: list[list[float]] = []  # [start, time spent in nested compilations]


def cpu() -> float:
    """CPU seconds of this process and of its ended subprocesses (a notebook's kernel, a
    subprocess a test runs)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def install() -> None:
    """Register the listener on numba's compile event (once per process)."""
    from numba.core import event

    class _Listener(event.Listener):
        def on_start(self, ev):
            _stack.append([time.process_time(), 0.0])

        def on_end(self, ev):
            start, nested = _stack.pop()
            total = time.process_time() - start
            py = ev.data["dispatcher"].py_func
            if not (py.__module__ or "").startswith(("qtheory", "test")):
                return  # numba's own overloads: their time stays with the kernel using them
            if _stack:
                _stack[-1][1] += total
            compiles.append({"kernel": f"{py.__module__}.{py.__qualname__}",
                             "signature": str(tuple(ev.data["args"])), "cpu": total - nested,
                             "test": current_test[0]})

    event.register("numba:compile", _Listener())


def merge(out: dict) -> None:
    compiles.extend(out["compiles"])
    tests.update(out["tests"])


def export() -> dict:
    return {"compiles": compiles, "tests": tests}


def lines(top: int = 40) -> list[str]:
    """The summary printed after the run."""
    out = []
    per_kernel: dict[str, list[dict]] = defaultdict(list)
    for c in compiles:
        per_kernel[c["kernel"]].append(c)
    total = sum(c["cpu"] for c in compiles)
    out.append(f"numba compilations: {len(compiles)}, {total:.1f} CPU s "
               f"({len(per_kernel)} kernels)")
    ranked = sorted(per_kernel.items(), key=lambda kv: -sum(c["cpu"] for c in kv[1]))
    for name, cs in ranked[:top]:
        out.append(f"  {sum(c['cpu'] for c in cs):7.2f} s  {len(cs)} sig  {name}")
    multi = [(n, cs) for n, cs in ranked if len({c["signature"] for c in cs}) > 1]
    out.append(f"kernels compiled for more than one signature: {len(multi)}")
    for name, cs in multi:
        out.append(f"  {name}:")
        for c in cs:
            out.append(f"    {c['cpu']:6.2f} s  {c['signature']}  ({c['test']})")
    per_file: dict[str, float] = defaultdict(float)
    for node, cpu in tests.items():
        per_file[node.split("::")[0]] += cpu
    out.append(f"test CPU: {sum(per_file.values()):.1f} s in {len(per_file)} files")
    for f, cpu in sorted(per_file.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {cpu:7.1f} s  {f}")
    if VALUE != "1":
        with open(VALUE, "w") as fh:
            json.dump(export(), fh)
        out.append(f"records written to {VALUE}")
    return out

