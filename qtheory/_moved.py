"""The old names of the modules that moved into the sub-packages (laws, engine, models,
measures, llm) stay importable: ``import qtheory.sizes`` gives ``qtheory.laws.sizes`` itself (the same
module object, not a copy), so code and pickles written against the flat layout keep working."""

from __future__ import annotations

import importlib as _importlib
import importlib.abc as _abc
import importlib.util as _util
import sys as _sys

#: modules that moved into the sub-packages (laws, engine, models, measures): the old names
#: stay importable (``qtheory.sizes`` is ``qtheory.laws.sizes``, the same module object)
_MOVED = {
    "sizes": "laws.sizes", "predictions": "laws.predictions", "joint": "laws.joint",
    "_quadrature": "laws._quadrature", "_lognormal_terms": "laws._lognormal_terms",
    "phase_type": "laws.phase_type", "soap": "engine.soap", "generic": "engine.generic",
    "_soap_discrete": "engine._soap_discrete", "slowdown": "engine.slowdown",
    "gittins": "engine.gittins", "mg1": "models.mg1", "multiserver": "models.multiserver",
    "mphk": "models.mphk", "mphk_priority": "models.mphk_priority", "_erlang": "models._erlang",
    "labelled": "models.labelled", "bounds": "measures.bounds", "batching": "llm.batching",
    "prediction_cost": "llm.prediction_cost", "llm_cli": "llm.cli",
}


class _Alias(_abc.MetaPathFinder, _abc.Loader):
    """``import qtheory.<old name>`` gives the module at its new place (not a copy)."""

    def find_spec(self, fullname, path=None, target=None):
        head, _, tail = fullname.partition(".")
        if head == "qtheory" and tail in _MOVED:
            return _util.spec_from_loader(fullname, self)
        return None

    def __init__(self):
        self._specs: dict = {}  # alias name -> the module's own spec, while it is being aliased

    def create_module(self, spec):
        module = _importlib.import_module("qtheory." + _MOVED[spec.name.partition(".")[2]])
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        # the import system set the alias's spec on the module: give it back its own
        module.__spec__ = self._specs.pop(module.__spec__.name)


if not any(isinstance(f, _Alias) for f in _sys.meta_path):
    _sys.meta_path.append(_Alias())
