"""Sphinx configuration: the derivation pages (Markdown, MyST) and the API reference
generated from the numpy-style docstrings of :mod:`qtheory`.

Build (from the repository root): ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(``README.md``, "Development").
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "qtheory"
author = "qtheory contributors"
copyright = "qtheory contributors"  # noqa: A001

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]

# ``-t pages``: the derivation pages only, without the API reference (a quick check of the pages,
# used by tests/test_docs.py); the toctree entry of the excluded page is then not a warning.
if tags.has("pages"):  # noqa: F821 (``tags`` is provided by Sphinx)
    exclude_patterns.append("api.rst")
    suppress_warnings = ["toc.excluded"]

# Markdown pages: $...$ and $$...$$ math, labelled equations
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# numpy-style docstrings
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "show-inheritance": False}

html_theme = "alabaster"
html_title = "qtheory"
html_static_path: list[str] = []
