"""Working precision of the mpmath reference modules, independent of import order.

Each reference module (``tests/*_mp_reference.py``) needs its own number of digits. Setting
``mpmath.mp.dps`` at import made the last module imported decide for all of them: after
``test_bounds.py`` imported ``mp_reference`` (20 digits) inside a test, the Gittins reference
(30 digits) ran at 20 and moved by 1.2e-12, enough to fail
``test_gittins_mean_on_infinite_variance_pareto`` when the two files met on one worker.
:func:`at_precision` wraps a module's public functions and the public methods of its classes
so that each call from outside the module runs at that module's precision
(``mpmath.workdps``), whatever the global setting (calls inside the module keep the precision
their caller set); ``conftest.py`` also restores the global setting after every test.
"""

from __future__ import annotations

import functools
import inspect

import mpmath as mp


def _wrap(fn, dps: int, depth: list):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        if depth[0]:
            # a call from inside the module: the precision its caller chose (a ``dps`` argument
            # of the outer call, ``mp.workdps`` in the module's own code) stays
            return fn(*args, **kwargs)
        depth[0] += 1
        try:
            with mp.workdps(dps):
                return fn(*args, **kwargs)
        finally:
            depth[0] -= 1

    return run


def at_precision(namespace: dict, dps: int) -> None:
    """Wrap every public function defined in the module ``namespace`` (its ``globals()``), and
    the public methods of its classes, to run at ``dps`` digits."""
    name = namespace["__name__"]
    depth = [0]  # calls of this module's wrapped functions in progress
    for key, obj in list(namespace.items()):
        if key.startswith("_") or getattr(obj, "__module__", None) != name:
            continue
        if inspect.isfunction(obj):
            namespace[key] = _wrap(obj, dps, depth)
        elif inspect.isclass(obj):
            for attr, member in list(vars(obj).items()):
                if not attr.startswith("_") and inspect.isfunction(member):
                    setattr(obj, attr, _wrap(member, dps, depth))
