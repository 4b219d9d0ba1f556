"""The examples in the package's docstrings run and print what they show (``doctest``)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import qtheory

MODULES = sorted(m.name for m in pkgutil.walk_packages(qtheory.__path__, "qtheory.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             report=True, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples of {name} failed"
