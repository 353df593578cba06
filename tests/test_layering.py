"""Who may import what (docs/architecture.md, "Where things live"), checked on the source with ``ast``.

* top level = the processor closure, which travels as remote code: sibling modules only, plus
  numpy / PIL / transformers / the standard library; pycocotools, torch and PyAV only lazily
  (inside a function or a ``try``), so a folder loads where they are missing;
* ``data/``: the codecs of the top level (errors, masks, image_io, video_io) and ``datasets``,
  never the processor (records do not depend on a model); ``data/sources/`` and the catalog and
  schema do not import ``datasets`` either (plain generators);
* ``training/``: the closure, ``data.schema`` and ``data.catalog`` (a source's family); torch only in
  the collator;
* ``export/``: ``data/``, the closure, huggingface_hub; never ``training/``;
* ``cli/``: anything; nothing imports it.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sa2va_hf"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}
CLOSURE_THIRD_PARTY = {"numpy", "PIL", "transformers"}
LAZY_THIRD_PARTY = {"pycocotools", "torch", "av", "huggingface_hub"}  # imported where they are used (hub: transformers brings it)
CODECS = {"errors", "masks", "image_io", "video_io"}
PLUMBING = {"sa2va_hf"}
EXPORT_THIRD_PARTY = {"huggingface_hub"}
# the training transform dispatches a record by its source's family: the catalog table, plain Python
TRAINING_DATA = ("sa2va_hf.data.schema", "sa2va_hf.data.catalog")


@dataclass(frozen=True)
class Import:
    module: str  # absolute, e.g. "sa2va_hf.masks" or "numpy.typing"
    lazy: bool  # inside a function or a try block
    line: int


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[Import]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: list[Import] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_lazy = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Try))
            if isinstance(child, ast.Import):
                out.extend(Import(a.name, lazy, child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                    if child.module is None:  # "from . import x" imports the submodules x
                        out.extend(Import(f"{target}.{a.name}", lazy, child.lineno) for a in child.names)
                        continue
                else:
                    target = child.module
                out.append(Import(target, lazy, child.lineno))
            visit(child, child_lazy)

    visit(ast.parse(path.read_text(), str(path)), False)
    return out


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_closure_module(module: str) -> bool:
    """A flat module file at the top level (not a subpackage)."""
    parts = module.split(".")
    return len(parts) == 2 and (PACKAGE / f"{parts[1]}.py").is_file()


def _area(module: str) -> str:
    if module in PLUMBING:
        return "plumbing"
    if _is_closure_module(module):
        return "closure"
    return module.split(".")[1]  # data, training, export, cli


def _is_sub(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _violations(module: str) -> list[str]:
    area = _area(module)
    bad = []
    for imp in _imports(MODULES[module]):
        top = imp.module.split(".")[0]
        ours = top == "sa2va_hf"
        where = f"{module}:{imp.line} imports {imp.module}"
        if ours and _is_sub(imp.module, "sa2va_hf.cli") and area != "cli" and area != "plumbing":
            bad.append(f"{where}: nothing imports the command line")
        if area == "closure":
            if ours and not _is_closure_module(imp.module):
                bad.append(f"{where}: the closure imports only its flat siblings (remote code)")
            elif not ours and top in LAZY_THIRD_PARTY and not imp.lazy:
                bad.append(f"{where}: {top} only lazily in the closure")
            elif not ours and top not in STDLIB | CLOSURE_THIRD_PARTY | LAZY_THIRD_PARTY:
                bad.append(f"{where}: the closure may use numpy, PIL, transformers (the rest lazily)")
        elif area == "data":
            pure = _is_sub(module, "sa2va_hf.data.sources", "sa2va_hf.data.catalog", "sa2va_hf.data.schema")
            if ours and _is_closure_module(imp.module) and imp.module.split(".")[1] not in CODECS:
                bad.append(f"{where}: data/ takes only the codecs {sorted(CODECS)} from the top level")
            if ours and _is_sub(imp.module, "sa2va_hf.training", "sa2va_hf.export"):
                bad.append(f"{where}: records do not depend on training or export")
            if top == "datasets" and pure and not imp.lazy:
                bad.append(f"{where}: parsers, catalog and schema are plain Python (datasets only lazily)")
            if top == "torch":
                bad.append(f"{where}: data/ never needs torch")
        elif area == "training":
            if ours and _is_sub(imp.module, "sa2va_hf.export", "sa2va_hf.cli"):
                bad.append(f"{where}: training/ uses the closure and data.schema only")
            if ours and _is_sub(imp.module, "sa2va_hf.data") and not _is_sub(imp.module, *TRAINING_DATA):
                bad.append(f"{where}: training/ reads records through data.schema (and the catalog's families)")
            if top == "torch" and not _is_sub(module, "sa2va_hf.training.collator"):
                bad.append(f"{where}: torch only in the collator")
        elif area == "export":
            if ours and _is_sub(imp.module, "sa2va_hf.training"):
                bad.append(f"{where}: export/ never imports training/")
    return bad


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_keeps_to_its_layer(module):
    assert _violations(module) == []


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """A closure module importing the data side, and torch at the top, are caught (the test can fail)."""
    fake = PACKAGE / "masks.py"
    source = "import torch\nfrom .data import schema\n\ndef f():\n    import torch\n"
    original = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == fake else original(self, *a, **k))
    found = _violations("sa2va_hf.masks")
    assert any("torch only lazily" in v for v in found)
    assert any("flat siblings" in v for v in found)
    assert len(found) == 2  # the import inside the function is lazy, hence fine
