"""Compile-cost guards for the numba kernels of every qtheory module (first written for
ConditionalGittins' ``qtheory.engine._conditional_kernels``, the level sweep and the simulator).

numba types a bare ``int`` or ``bool`` constant passed to a compiled function as a literal
(``Literal[int](2)``), and compiles the callee once more for every literal value it is called
with: ``_moments(..., 2)`` and ``_moments(..., 3)`` were two compiles of the same helper. The
callers pass such arguments as ``_I64(2)`` / ``_B(True)`` (an ordinary int64 / boolean), and
the helpers that only compiled code calls carry no CPython or C wrapper (``_inner``). Both are
checked here on the source and on the dispatchers, without compiling anything (the cold
compile itself is measured by hand, see the commit messages: about 9 s for
``_conditional_kernels._kernel``).
"""

from __future__ import annotations

import ast
import importlib
import inspect

import pytest
from numba.core.registry import CPUDispatcher


def _kernel_modules() -> list[str]:
    """Every qtheory module (the source check reads them all: a literal between kernels of the
    distributions' modules, ``_class_kinks._sums_row(..., 2, ...)``, compiled a helper twice)."""
    import pkgutil

    import qtheory

    return sorted(m.name for m in pkgutil.walk_packages(qtheory.__path__, "qtheory."))


MODULES = _kernel_modules()


def _dispatchers(mod):
    return {name: obj for name, obj in vars(mod).items() if isinstance(obj, CPUDispatcher)}


def literal_arguments(mod) -> list[str]:
    """Calls, in the module's compiled functions, of a compiled function with a bare int or
    bool constant as an argument ("caller -> callee(arg i)")."""
    disp = _dispatchers(mod)
    own = {n for n, d in disp.items() if d.py_func.__module__ == mod.__name__}
    tree = ast.parse(inspect.getsource(mod))
    found = []
    for fn in tree.body:
        if not (isinstance(fn, ast.FunctionDef) and fn.name in own):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in disp:
                for i, a in enumerate(node.args):
                    if isinstance(a, ast.UnaryOp) and isinstance(a.op, ast.USub):
                        a = a.operand
                    if isinstance(a, ast.Constant) and type(a.value) in (int, bool):
                        found.append(f"{fn.name} -> {node.func.id}(arg {i} = {a.value!r})")
    return found


@pytest.mark.parametrize("name", MODULES)
def test_no_literal_int_or_bool_arguments_between_kernels(name):
    assert literal_arguments(importlib.import_module(name)) == []


def test_the_guard_sees_a_literal_argument():
    # the check itself, on a module written with one: a bare 2 passed to a compiled helper
    import types

    from numba import njit

    src = "def g(x, n):\n    return x + n\n\ndef f(x):\n    return g(x, 2) + g(x, -1.5)\n"
    mod = types.ModuleType("literal_probe")
    exec(compile(src, "<literal_probe>", "exec"), mod.__dict__)
    mod.g, mod.f = njit(mod.g), njit(mod.f)
    mod.g.py_func.__module__ = mod.f.py_func.__module__ = mod.__name__
    inspect_getsource = inspect.getsource
    try:
        inspect.getsource = lambda m: src if m is mod else inspect_getsource(m)
        assert literal_arguments(mod) == ["f -> g(arg 1 = 2)"]
    finally:
        inspect.getsource = inspect_getsource


def test_helpers_have_no_python_wrappers_and_one_cached_entry_point():
    """Every compiled function of ``_conditional_kernels`` except the one entry point
    ``_kernel`` is an ``_inner`` helper (no CPython / C wrapper, not cached on its own); the
    entry point is cached."""
    K = importlib.import_module("qtheory.engine._conditional_kernels")
    disp = _dispatchers(K)
    cached = sorted(n for n, d in disp.items() if d._cache.__class__.__name__ != "NullCache")
    assert cached == ["_kernel"]
    for n, d in disp.items():
        if n != "_kernel":
            assert d.targetoptions.get("no_cpython_wrapper") is True, n
            assert d.targetoptions.get("no_cfunc_wrapper") is True, n



def literal_signatures(modules) -> list[str]:
    """The compiled signatures of the kernels of ``modules`` (compiled or loaded in this
    process) with a literal argument type: a variable started at a bare constant (``n = 0``)
    and passed to a compiled function types as ``Literal[int](0)`` at its first value, so the
    callee compiles once more (the source check above sees only constants written in a call)."""
    bad = []
    for name in modules:
        for k, d in _dispatchers(importlib.import_module(name)).items():
            bad += [f"{name}.{k}{tuple(map(str, sig))}" for sig in d.signatures
                    if any("Literal" in str(a) for a in sig)]
    return bad


def test_no_kernel_compiled_for_a_literal_argument():
    # Gittins' tables of a discrete law (rank_tables: its class counter) and SRPT-Bounce on a
    # factor law (_factor_outer: its block counter) compiled a helper twice each with counters
    # started at a bare 0 (checked: restoring ``n = 0`` in rank_tables._gittins_all fails this).
    # Only these two modules' kernels are read: which other kernels a worker has compiled
    # depends on the tests it ran before (a one-off scan of the whole suite in one process
    # found three more, all constants in calls, now caught by the source check)
    import qtheory as qt

    q = qt.MG1(arrival_rate=0.3, size=qt.Empirical([1.0, 2.0, 5.0], [0.5, 0.3, 0.2]))
    assert float(q.mean_response_time(qt.Gittins())) > 0
    q = qt.MG1(arrival_rate=0.5, size=qt.Exponential(mean=1.0), prediction=qt.ExponentialPrediction())
    assert float(q.mean_response_time(qt.SRPTBounce())) > 0
    # the LLM simulator's priority kernel (its heap counters started at bare 0 / -1 compiled
    # _push three more times and _pop once more; found by the whole-suite scan), on 50 jobs
    import numpy as np

    from qtheory.sim.llm_kernels import priority_run

    rng = np.random.default_rng(1)
    arr, x = np.cumsum(rng.exponential(1.0, 50)), rng.exponential(0.8, 50)
    T, _ = priority_run(arr, x, x.copy(), np.ones(50), np.full(50, np.inf), 0.0, 0.0, 0)
    assert np.all(T >= x - 1e-12)
    assert literal_signatures(["qtheory.engine.rank_tables", "qtheory.engine._factor_outer",
                               "qtheory.sim.llm_kernels"]) == []
