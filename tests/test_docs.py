"""The derivation pages under docs/: cited pages exist, every page is in the navigation, links
between pages point at existing pages; and, where the docs extra is installed, the pages build
with warnings as errors.

The checks read files only (milliseconds). The build check needs ``pip install -e ".[docs]"``
and is skipped without it: by default it builds the derivation pages alone (``-t pages``, about
1 s); with ``QTHEORY_DOCS_BUILD=1`` it builds everything, API reference included (as CI does).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CITE = re.compile(r"docs/([A-Za-z0-9_\-/]+\.md)")
TOCTREE = re.compile(r"```\{toctree\}\n(.*?)```", re.S)
LINK = re.compile(r"\]\(([A-Za-z0-9_\-]+\.md)(#[^)]*)?\)")


def _sources() -> list[Path]:
    return sorted((ROOT / "qtheory").rglob("*.py"))


def _pages() -> set[str]:
    return {p.name for p in DOCS.glob("*.md")}


def _navigation() -> set[str]:
    text = (DOCS / "index.md").read_text(encoding="utf-8")
    names = set()
    for block in TOCTREE.findall(text):
        for line in block.splitlines():
            line = line.strip()
            if line and not line.startswith(":"):
                names.add(line)
    return names


def test_cited_pages_exist():
    cited = {}
    for path in _sources():
        for name in CITE.findall(path.read_text(encoding="utf-8")):
            cited.setdefault(name, []).append(path.relative_to(ROOT).as_posix())
    assert cited, "no qtheory docstring cites a docs/ page"
    missing = {name: where for name, where in cited.items() if not (DOCS / name).is_file()}
    assert not missing, f"docstrings cite pages that do not exist: {missing}"


def test_main_formula_modules_cite_their_derivation():
    for module, page in [("engine/soap", "soap_predictions.md"), ("llm/trail", "limited_preemption.md"),
                         ("engine/gittins", "gittins.md"), ("measures/bounds", "robustness.md"),
                         ("llm/prediction_cost", "prediction_cost.md")]:
        text = (ROOT / "qtheory" / f"{module}.py").read_text(encoding="utf-8")
        assert f"docs/{page}" in text, f"qtheory/{module}.py does not cite docs/{page}"


def test_every_page_is_in_the_navigation():
    nav = _navigation()
    assert "api" in nav
    pages = {name[:-3] for name in _pages()} - {"index"}
    assert pages, "no pages under docs/"
    assert not pages - nav, f"pages missing from the toctree of docs/index.md: {sorted(pages - nav)}"
    listed = {n for n in nav if not (DOCS / f"{n}.md").is_file() and not (DOCS / f"{n}.rst").is_file()}
    assert not listed, f"toctree entries without a page: {sorted(listed)}"


def test_links_between_pages_resolve():
    pages = _pages()
    bad = []
    for page in sorted(DOCS.glob("*.md")):
        for target, _ in LINK.findall(page.read_text(encoding="utf-8")):
            if target not in pages:
                bad.append(f"{page.name} -> {target}")
    assert not bad, f"links to missing pages: {bad}"


def test_no_research_note_citations():
    """The pages cite papers, not notes outside the repository."""
    for page in sorted(DOCS.glob("*.md")):
        assert "../shared" not in page.read_text(encoding="utf-8"), page.name


@pytest.mark.skipif(importlib.util.find_spec("sphinx") is None
                    or importlib.util.find_spec("myst_parser") is None,
                    reason='the docs extra is not installed (pip install -e ".[docs]")')
def test_docs_build(tmp_path):
    full = os.environ.get("QTHEORY_DOCS_BUILD") == "1"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html"]
    if not full:
        cmd += ["-t", "pages"]
    cmd += [str(DOCS), str(tmp_path / "html")]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "html" / "soap_predictions.html").is_file()
