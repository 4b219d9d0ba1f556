"""The package's layers, from the import statements themselves (module level and inside
functions): laws know nothing of policies or formulas; the engine never imports the simulator;
the simulator never imports the engine's formulas (it checks them); models never import the
command line or plotting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "qtheory"

LAWS = {"qtheory.sizes", "qtheory.predictions", "qtheory.joint", "qtheory._quadrature",
        "qtheory._lognormal_terms", "qtheory._validation"}
ENGINE = {"qtheory.soap", "qtheory.generic", "qtheory._soap_discrete", "qtheory.slowdown",
          "qtheory.gittins"}
MODELS = {"qtheory.mg1", "qtheory.multiserver"}
FRONT = {"qtheory.cli", "qtheory.llm_cli", "qtheory.plotting"}
POLICIES = {m for m in (".".join(p.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
                        for p in (ROOT / "policies").glob("*.py"))}
#: the simulator's remaining uses of the engine's Gittins helpers (tail tables of laws given by
#: quadrature nodes, and the hazard-rate classification); none may be added
SIM_ALLOWED_ENGINE = {("qtheory.sim._gittins", "qtheory.gittins")}


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
                  if any(d == f or d.startswith(f + ".") for f in forbidden) and (m, d) not in allowed)


def test_the_graph_is_read():
    assert "qtheory.sizes" in GRAPH["qtheory.joint"] and "qtheory.soap" in GRAPH["qtheory.slowdown"]
    assert "qtheory.soap" in GRAPH["qtheory.policies.base"]


@pytest.mark.parametrize(("sources", "forbidden", "what"), [
    (LAWS, ENGINE | MODELS | FRONT | {"qtheory.policies", "qtheory.sim", "qtheory.llm"},
     "laws import no policy, formula, model or simulator"),
    (ENGINE, {"qtheory.sim"} | MODELS | FRONT, "the engine never imports the simulator or a model"),
    (MODELS, FRONT, "models never import the command line or plotting"),
    (POLICIES, MODELS | FRONT, "policies never import a model, the command line or plotting"),
])
def test_layers(sources, forbidden, what):
    assert not _violations(sources, forbidden), what


def test_simulator_does_not_import_the_formulas():
    sim = {m for m in GRAPH if m == "qtheory.sim" or m.startswith("qtheory.sim.")}
    bad = _violations(sim, ENGINE | MODELS | FRONT, SIM_ALLOWED_ENGINE)
    assert not bad, "the simulator checks the engine: it must not compute with the engine's formulas"
