"""Modules loaded on first attribute access, so that ``import qtheory`` does not pay for the
imports that only some computations need (``scipy.special``: 0.1-0.2 s CPU; numba, through the
compiled incomplete gamma functions: 0.15-0.25 s).

:func:`lazy_module` is the recipe of the Python documentation (``importlib.util.LazyLoader``):
the module object is created and registered at once, its code runs when an attribute is first
read; a module already imported is returned as it is.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module ``name`` (absolute), loaded on its first attribute access."""
    mod = sys.modules.get(name)
    if mod is not None:
        return mod
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:  # (not found: the ordinary error)
        return importlib.import_module(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    loader.exec_module(mod)
    return mod
