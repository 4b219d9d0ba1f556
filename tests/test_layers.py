"""The package's layers, from the import statements themselves (module level and inside
functions): laws know nothing of policies or formulas; the engine never imports the simulator;
the simulator never imports the engine's formulas (it checks them); models never import the
command line or plotting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "qtheory"


def _package(name: str) -> set[str]:
    """The modules of the sub-package ``qtheory.<name>`` (the layers are sub-packages)."""
    return {".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
            for p in (ROOT / name).glob("*.py")}


LAWS = _package("laws") | {"qtheory._validation"}
ENGINE = _package("engine")
MODELS = _package("models")
MEASURES = _package("measures")
FRONT = {"qtheory.cli", "qtheory.llm.cli", "qtheory.plotting"}
POLICIES = _package("policies")
#: the simulator's remaining uses of the engine's Gittins helpers (tail tables of laws given by
#: quadrature nodes, and the hazard-rate classification); none may be added
SIM_ALLOWED_ENGINE = {("qtheory.sim._gittins", "qtheory.engine.gittins")}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The qtheory modules a file imports (``from . import x`` counts as ``pkg.x``)."""
    mod = _module(path)
    pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - (node.level - 1)]
                if node.module:
                    out.add(".".join([*base, node.module]))
                    # ``from ..engine import soap`` imports the module qtheory.engine.soap
                    out.update(".".join([*base, node.module, a.name]) for a in node.names)
                else:
                    out.update(".".join([*base, a.name]) for a in node.names)
            elif node.module and node.module.startswith("qtheory"):
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("qtheory"))
    return out


GRAPH = {_module(p): _imports(p) for p in sorted(ROOT.rglob("*.py"))}


def _violations(sources, forbidden, allowed=frozenset()):
    return sorted((m, d) for m in GRAPH if m in sources for d in GRAPH[m]
                  if any(d == f or d.startswith(f + ".") for f in forbidden)
                  and not any(m == am and (d == ad or d.startswith(ad + ".")) for am, ad in allowed))


def test_the_graph_is_read():
    assert "qtheory.laws.joint" in GRAPH["qtheory.laws.factor_joint"]
    assert "qtheory.engine.soap" in GRAPH["qtheory.engine.slowdown"]
    assert "qtheory.engine.soap" in GRAPH["qtheory.policies.base"]
    assert {"qtheory.laws.sizes", "qtheory.engine.generic", "qtheory.models.mg1"} <= LAWS | ENGINE | MODELS


@pytest.mark.parametrize(("sources", "forbidden", "what"), [
    (LAWS, ENGINE | MODELS | MEASURES | FRONT | {"qtheory.policies", "qtheory.sim", "qtheory.llm"},
     "laws import no policy, formula, model or simulator"),
    (ENGINE, {"qtheory.sim"} | MODELS | MEASURES | FRONT, "the engine never imports the simulator or a model"),
    (MODELS, FRONT | MEASURES, "models never import the command line, plotting or the measures"),
    (POLICIES, MODELS | FRONT, "policies never import a model, the command line or plotting"),
])
def test_layers(sources, forbidden, what):
    assert not _violations(sources, forbidden), what


def test_simulator_does_not_import_the_formulas():
    sim = {m for m in GRAPH if m == "qtheory.sim" or m.startswith("qtheory.sim.")}
    bad = _violations(sim, ENGINE | MODELS | FRONT, SIM_ALLOWED_ENGINE)
    assert not bad, "the simulator checks the engine: it must not compute with the engine's formulas"


_IMPORT_EACH = """
import importlib, pkgutil, sys, qtheory
names = sorted(m.name for m in pkgutil.walk_packages(qtheory.__path__, "qtheory.")
               if not m.name.endswith("__main__"))
bad = []
for n in names:
    for k in [k for k in sys.modules if k == "qtheory" or k.startswith("qtheory.")]:
        del sys.modules[k]
    try:
        importlib.import_module(n)
    except Exception as e:
        bad.append(f"{n}: {e!r}")
print(len(names))
assert not bad, bad
"""


def test_every_module_imports_first():
    """Each module imports into a fresh ``qtheory`` (its own import order: ``import
    qtheory.laws.factor_joint`` on its own was a circular ImportError). One subprocess; the
    package's modules are dropped from ``sys.modules`` before each import (about 13 s)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _IMPORT_EACH], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.split()[-1]) > 100
