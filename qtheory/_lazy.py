"""Modules loaded on first attribute access, so that ``import qtheory`` does not pay for the
imports that only some computations need (``scipy.special``: 0.1-0.2 s CPU; numba, through the
compiled incomplete gamma functions: 0.15-0.25 s).

:func:`lazy_module` returns a stand-in whose first attribute read imports the module (by
:func:`importlib.import_module`, under the import system's own per-module lock, so threads
that first touch it together each get the complete module) and hands over the attribute; each
attribute read once is kept on the stand-in, so later reads cost an ordinary attribute lookup.
Nothing is registered in ``sys.modules`` before the real import.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class _LazyModule(ModuleType):
    """Stand-in for the module ``__name__`` until an attribute is read (:func:`lazy_module`)."""

    def __getattr__(self, attr: str):
        value = getattr(importlib.import_module(self.__name__), attr)
        setattr(self, attr, value)
        return value


def lazy_module(name: str) -> ModuleType:
    """The module ``name`` (absolute), imported on its first attribute access (the module
    itself where it is imported already)."""
    import sys

    return sys.modules.get(name) or _LazyModule(name)
