"""Sphinx configuration: Markdown pages (MyST) and an API reference from the docstrings (autodoc).

Built strictly by ``make docs`` (``-W --keep-going -n``): a warning, a broken internal link or a reference
that resolves to nothing fails the build. Nothing is fetched: links between pages and to the API only.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "sa2va-hf"
author = "the sa2va-hf authors"
copyright = "2026, the sa2va-hf authors"
release = version = "0.3.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",  # Google-style "Args:" / "Returns:" sections
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links are checked like any other
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "none"  # the signatures carry them; the docstrings say what they mean
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# Nitpicky mode resolves every reference; the names below belong to other projects (no intersphinx:
# the build reaches no network) or are the standard library's, and are left unlinked on purpose.
nitpick_ignore_regex = [
    ("py:.*", r"(numpy|np|PIL|torch|datasets|transformers|huggingface_hub|pyarrow|ray|av|tqdm)(\..*)?"),
    ("py:.*", r"(collections\.abc|typing|os|pathlib|concurrent\.futures|dataclasses|types|importlib)(\..*)?"),
    ("py:.*", r"(Any|Callable|Iterable|Iterator|Mapping|Sequence|ModuleType|PathLike|Path)"),
    ("py:class", r"(ValueError|Exception|RuntimeError|object|dict|list|tuple|str|int|float|bool|bytes|None)"),
]

html_theme = "furo"
html_title = "sa2va-hf"
html_static_path: list[str] = []
