"""The sub-package layout (issue 14): the old flat module names stay importable as the same
module objects, so code and pickles written against the flat layout keep working."""

from __future__ import annotations

import importlib
import pickle
import subprocess
import sys

import pytest

import qtheory as qt
from qtheory import _moved


@pytest.mark.parametrize("old", sorted(_moved._MOVED))
def test_old_names_are_the_new_modules(old):
    new = importlib.import_module(f"qtheory.{_moved._MOVED[old]}")
    assert importlib.import_module(f"qtheory.{old}") is new
    assert getattr(qt, old) is new
    # the module keeps its own spec (the alias does not overwrite it)
    assert new.__spec__.name == new.__name__ == f"qtheory.{_moved._MOVED[old]}"


def test_from_imports_and_pickles():
    from qtheory.joint import FactorJoint
    from qtheory.mg1 import MG1
    from qtheory.sizes import Empirical

    assert MG1 is qt.MG1 and FactorJoint is qt.laws.factor_joint.FactorJoint
    e = Empirical([1.0, 2.0, 5.0], weights=[3, 2, 1])
    assert pickle.loads(pickle.dumps(e)).mean == e.mean
    q = qt.MG1(0.2, e)
    assert float(pickle.loads(pickle.dumps(q.mean_response_time("srpt")))) == float(q.mean_response_time("srpt"))


def test_old_name_first_in_a_fresh_interpreter():
    """Importing an old name before anything else (a user script) works too."""
    code = ("import qtheory.bounds as b, qtheory.prediction_cost as p, qtheory.llm_cli as c;"
            "print(b.__name__, p.__name__, c.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["qtheory.measures.bounds", "qtheory.llm.prediction_cost", "qtheory.llm.cli"]
