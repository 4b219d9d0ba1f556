"""Shared test set-up.

* Figures are drawn with the non-interactive Agg backend.
* Hypothesis runs derandomized by default (profile ``ci``): the same examples every run, so
  CI cannot flip on a newly explored example. ``QTHEORY_HYPOTHESIS=explore`` selects the
  randomised profile (fresh draws, ``$QTHEORY_HYPOTHESIS_SCALE`` times more examples, 10 by
  default; use ``stats_policy.examples(n)`` for an explicit ``max_examples``) that developers run
  before each stop; turn what it finds into explicit ``@example`` cases.
* Statistical assertions follow the policy in ``tests/stats_policy.py`` (``tests/README.md``):
  their number is printed after the run, and the run fails when it exceeds the budget.
* The suite runs on one process per core (pytest-xdist: ``-n auto --maxprocesses 4 --dist loadfile`` in
  ``pyproject.toml``; ``-n 0`` runs it in one): each worker sends its count of statistical
  assertions to the controller, which adds them up, prints the total and applies the budget.
* The costly cases of a parametrized test listed in ``tests/full_size.py`` (one cheaper case of
  the same test runs by default), and two tests whose property cheaper ones check, are skipped
  unless ``QTHEORY_FULL=1``.
* ``QTHEORY_TEST_SEED=N`` mixes the master seed ``N`` into every seed given to a simulator, for
  the whole session (``tools/reseed.py`` runs the statistical tests under many of them).
* A test that uses ``stats_policy`` or one of its assertion helpers (directly or through a
  function of its module) carries the ``statistical`` marker (``pytest -m statistical``).
* On a pytest-xdist worker a numba kernel's compilation holds a lock file, so that two
  workers do not compile the same kernel at once: the second finds it in numba's disk cache
  (``tests/compile_lock.py``).
* ``QTHEORY_COMPILE_REPORT=1`` (or a JSON path) prints the CPU seconds of each numba compilation
  and of each test file after the run (``tests/compile_report.py``).
"""

from __future__ import annotations

import os

import compile_lock
import compile_report
import full_size
import matplotlib
import pytest
import stats_policy
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", derandomize=False, database=None, deadline=None,
                          max_examples=stats_policy.examples(100),
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get(stats_policy.PROFILE_ENV, "ci"))

_RESEEDED = []  # the active reseeded() context, closed at unconfigure


def pytest_configure(config: pytest.Config) -> None:
    # installed here rather than in a fixture so that simulations run at collection time are
    # re-seeded too; it holds until the end of the session
    ctx = stats_policy.reseeded(stats_policy.master_seed())
    ctx.__enter__()
    _RESEEDED.append(ctx)
    if compile_report.ON:
        compile_report.install()
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: see tests/compile_lock.py
        compile_lock.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    while _RESEEDED:
        _RESEEDED.pop().__exit__(None, None, None)


def pytest_report_header(config: pytest.Config) -> str:
    seed = stats_policy.master_seed()
    return (f"qtheory: hypothesis profile {os.environ.get(stats_policy.PROFILE_ENV, 'ci')}, master seed "
            f"{'none (the seeds written in the tests)' if seed is None else seed}")


def _names(code) -> set[str]:
    """The global names a code object (and the functions nested in it) uses."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names(const)
    return names


def _statistical(function, module, depth: int = 2) -> bool:
    """Whether a test function makes statistical assertions: it uses ``stats_policy`` or one of its
    assertion helpers, directly or through a function of its module (``depth`` levels)."""
    code = getattr(function, "__code__", None)
    if code is None:
        return False
    helpers = [getattr(stats_policy, name) for name in stats_policy.STATISTICAL_NAMES]
    for name in _names(code):
        value = getattr(module, name, None)
        if value is stats_policy or any(value is h for h in helpers):
            return True
        if depth and callable(value) and getattr(value, "__module__", None) == module.__name__:
            if _statistical(value, module, depth - 1):
                return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    full_only = pytest.mark.skip(reason=full_size.REASON)
    full_only_test = pytest.mark.skip(reason=full_size.REASON_TEST)
    for item in items:
        if not full_size.FULL and item.nodeid in full_size.FULL_ONLY:
            item.add_marker(full_only)
        if not full_size.FULL and item.nodeid in full_size.FULL_ONLY_TESTS:
            item.add_marker(full_only_test)
        module, function = getattr(item, "module", None), getattr(item, "function", None)
        if module is not None and function is not None and _statistical(function, module):
            item.add_marker(pytest.mark.statistical)


def pytest_runtest_setup(item: pytest.Item) -> None:
    stats_policy.current_file[0] = item.nodeid.split("::")[0]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    # QTHEORY_COMPILE_REPORT: the CPU seconds of each test (setup, call, teardown)
    if not compile_report.ON:
        return (yield)
    compile_report.current_test[0] = item.nodeid
    start = compile_report.cpu()
    result = yield
    compile_report.tests[item.nodeid] = compile_report.cpu() - start
    return result


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    # pytest-xdist controller: add up the counts each worker sent at its session end
    out = getattr(node, "workeroutput", {}).get("statistical_assertions")
    if out is not None:
        stats_policy.merge(out["made"], out["by_file"])
    report = getattr(node, "workeroutput", {}).get("compile_report")
    if report is not None:
        compile_report.merge(report)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: its controller sums, prints and checks
        workeroutput["statistical_assertions"] = {"made": stats_policy.assertions_made(),
                                                  "by_file": dict(stats_policy.by_file)}
        if compile_report.ON:
            workeroutput["compile_report"] = compile_report.export()
        return
    if stats_policy.assertions_made() > stats_policy.BUDGET and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    n = stats_policy.assertions_made()
    over = n > stats_policy.BUDGET
    terminalreporter.write_line(
        f"statistical assertions made: {n} (budget {stats_policy.BUDGET}, level 1-{stats_policy.ALPHA:g} each"
        f"{'; OVER BUDGET: the run fails' if over else ''})", red=over)
    if n:
        parts = sorted(stats_policy.by_file.items(), key=lambda kv: -kv[1])
        terminalreporter.write_line("  by file: " + ", ".join(f"{f} {c}" for f, c in parts))
    if compile_report.ON:
        for line in compile_report.lines():
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _restore_mpmath_precision():
    """Every test starts and ends at the same ``mpmath.mp.dps``: a test that sets it (or imports a
    module that does) no longer changes the precision of the tests after it on its worker."""
    import mpmath

    dps = mpmath.mp.dps
    yield
    mpmath.mp.dps = dps
