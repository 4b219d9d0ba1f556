"""Execute every notebook in ``notebooks/`` (outputs are stripped in git; CI runs them here).

A notebook passes when every cell runs without an exception; the notebooks assert their own
numbers (formula vs simulation, limits) in cells, so a wrong result fails here too.

The notebooks check simulations at the level of ``tests/stats_policy.py`` with their own
``halfwidth`` (a notebook must run on its own). Before running one, the test adds a cell that
installs the master seed ``$QTHEORY_TEST_SEED`` in the kernel, a cell after the one defining
``halfwidth`` that counts its calls, and a last cell that reports the count, which joins the
suite's count of statistical assertions.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import stats_policy

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

TESTS = Path(__file__).resolve().parent
NOTEBOOKS = sorted((TESTS.parent / "notebooks").glob("*.ipynb"))
COUNT_MARK = "__qtheory_statistical_assertions__"

SEED_CELL = f"""import sys as _sys
_sys.path.insert(0, {str(TESTS)!r})
import stats_policy as _stats_policy
_reseeded = _stats_policy.reseeded(_stats_policy.master_seed())  # held open for the kernel's life
_reseeded.__enter__()"""

COUNT_CELL = """import numpy as _np
_statistical_assertions = 0
_halfwidth = halfwidth


def halfwidth(ci95, replications):
    global _statistical_assertions
    _statistical_assertions += int(_np.size(ci95))
    return _halfwidth(ci95, replications)"""

REPORT_CELL = f"""print({COUNT_MARK!r}, globals().get("_statistical_assertions", 0))"""


def code_cells(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "code"]


def instrument(nb) -> None:
    """Add the seed, counting and report cells to a notebook (in memory)."""
    cells = nb.cells
    at = [i for i, c in enumerate(cells) if c.cell_type == "code" and "def halfwidth(" in c.source]
    if at:
        cells.insert(at[0] + 1, nbformat.v4.new_code_cell(COUNT_CELL))
    cells.insert(0, nbformat.v4.new_code_cell(SEED_CELL))
    cells.append(nbformat.v4.new_code_cell(REPORT_CELL))


def reported_count(nb) -> int:
    for out in nb.cells[-1].get("outputs", []):
        m = re.search(rf"{COUNT_MARK} (\d+)", out.get("text", ""))
        if m:
            return int(m.group(1))
    raise AssertionError("the notebook did not report its count of statistical assertions")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_executes(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    instrument(nb)
    env_before = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"
    try:
        client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                         resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    finally:
        if env_before is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_before
    stats_policy.record(reported_count(nb))


def test_seed_cell_keeps_the_master_seed(monkeypatch):
    """The cell put in front of each notebook leaves the master seed installed once it has run (a
    context that nothing holds would be closed at once, undoing it)."""
    import gc
    import sys

    import numpy as np

    monkeypatch.setenv(stats_policy.SEED_ENV, "7")
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = np.random.SeedSequence
    namespace: dict = {}
    exec(compile(SEED_CELL, "seed cell", "exec"), namespace)
    try:
        gc.collect()
        assert np.random.SeedSequence(3).entropy == stats_policy.mix(3, 7)
    finally:
        if "_reseeded" in namespace:
            namespace["_reseeded"].__exit__(None, None, None)
    assert np.random.SeedSequence is before


# an assertion on a simulated estimate: it names a confidence half-width or a verdict of qt.verify
SIMULATED = re.compile(r"(\.ci\b|_ci\b|\bci\[|\.passed\b|\bcovers\()")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_checks_follow_the_policy(path: Path) -> None:
    """Every assertion on a simulated estimate uses the notebook's ``halfwidth`` (level 1 - 1e-6),
    never a raw 95% half-width or ``qt.verify``'s 95% verdict."""
    nb = nbformat.read(path, as_version=4)
    offending = [line.strip() for src in code_cells(nb) for line in src.splitlines()
                 if line.strip().startswith("assert") and SIMULATED.search(line) and "halfwidth(" not in line]
    assert not offending, offending
    if any("halfwidth(" in src for src in code_cells(nb)):
        defs = [src for src in code_cells(nb) if "def halfwidth(" in src]
        assert len(defs) == 1 and "1 - ALPHA / 2" in defs[0] and re.search(r"^ALPHA = 1e-6\b", defs[0], re.M), defs
        assert float(re.search(r"^ALPHA = (\S+)", defs[0], re.M).group(1)) == stats_policy.ALPHA
