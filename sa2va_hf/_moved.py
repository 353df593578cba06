"""Import paths of 0.1 that moved in 0.2; they keep working, with a ``DeprecationWarning``, until 0.3.

One table instead of a stub file per old module: importing an old path gives a proxy module
that reads every attribute from the new module (plus the renamed names below).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

REMOVED_IN = "0.3.0"

MOVED_MODULES = {
    # templates.py held three concerns; its names are looked up in each new home, in order
    "sa2va_hf.templates": ("sa2va_hf.tokens", "sa2va_hf.chat_templates", "sa2va_hf.training.conversations"),
    "sa2va_hf.collator": "sa2va_hf.training.collator",
    "sa2va_hf.checkpoint": "sa2va_hf.export.checkpoint",
    "sa2va_hf.schema": "sa2va_hf.data.schema",
    "sa2va_hf.safety": "sa2va_hf.data.safety",
    "sa2va_hf.loading": "sa2va_hf.data.loading",
    "sa2va_hf.builders": "sa2va_hf.data.builder",
    "sa2va_hf.visualize": "sa2va_hf.cli.render",
    "sa2va_hf.demo": "sa2va_hf.cli.scene",
    "sa2va_hf.bench": "sa2va_hf.cli.bench",
    "sa2va_hf.sources": "sa2va_hf.data.sources",
    "sa2va_hf.sources.osprey": "sa2va_hf.data.sources.osprey",
    "sa2va_hf.sources.refcoco": "sa2va_hf.data.sources.refcoco",
    "sa2va_hf.sources.gcg": "sa2va_hf.data.sources.gcg",
    "sa2va_hf.sources.describe_anything": "sa2va_hf.data.sources.describe_anything",
    "sa2va_hf.sources._common": (
        "sa2va_hf.data.sources._json",
        "sa2va_hf.data.sources._fields",
        "sa2va_hf.data.sources._images",
    ),
}

#: Old submodules that 0.1's ``import sa2va_hf`` made attributes of the package (``sa2va_hf.loading``).
PACKAGE_ATTRIBUTES = frozenset(name.split(".")[1] for name in MOVED_MODULES)

#: Names that left a module which stays: module -> {name: its new module}. Read through
#: :func:`moved_name`, which the old module's ``__getattr__`` calls.
MOVED_NAMES = {
    "sa2va_hf.image_processing_sa2va": {
        "candidate_grids": "sa2va_hf.tiling",
        "nearest_source_indices": "sa2va_hf.prompt_grid",
        "resize_nearest": "sa2va_hf.prompt_grid",
        "pool_majority": "sa2va_hf.prompt_grid",
    },
    "sa2va_hf.processing_sa2va": {"pad_batch": "sa2va_hf.training.conversations"},
}


def moved_name(module: str, name: str):
    """``name`` of ``module`` from its new home, with a ``DeprecationWarning``; AttributeError if it never was."""
    new = MOVED_NAMES.get(module, {}).get(name)
    if new is None:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(
        f"{module}.{name} moved to {new} in sa2va-hf 0.2; the old path goes away in {REMOVED_IN}",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(new), name)


# names that no longer exist under the new path: old module -> {old name: factory}
_BUILDER_FAMILIES = {
    "OspreyBuilder": "osprey",
    "RefCOCOBuilder": "refcoco",
    "GCGBuilder": "gcg",
    "DescribeAnythingBuilder": "describe_anything",
}


def _builder(family: str):
    return lambda: importlib.import_module("sa2va_hf.data.builder").family_builder(family)


RENAMED = {
    "sa2va_hf.builders": {name: _builder(family) for name, family in _BUILDER_FAMILIES.items()},
    "sa2va_hf.loading": {
        "SOURCES": lambda: {
            name: spec.family for name, spec in importlib.import_module("sa2va_hf.data.catalog").catalog().items()
        },
        "list_sources": lambda: importlib.import_module("sa2va_hf.data.catalog").list_sources,
    },
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str | tuple[str, ...]) -> None:
        self.new = (new,) if isinstance(new, str) else tuple(new)

    def create_module(self, spec):
        warnings.warn(
            f"{spec.name} moved to {' / '.join(self.new)} in sa2va-hf 0.2; the old path goes away in {REMOVED_IN}",
            DeprecationWarning,
            stacklevel=2,
        )
        targets = [importlib.import_module(name) for name in self.new]
        renamed = RENAMED.get(spec.name, {})
        proxy = types.ModuleType(spec.name, targets[0].__doc__)

        def __getattr__(name: str):
            if name in renamed:
                return renamed[name]()
            for target in targets:
                if hasattr(target, name):
                    return getattr(target, name)
            raise AttributeError(f"module {spec.name!r} (moved to {' / '.join(self.new)}) has no attribute {name!r}")

        proxy.__getattr__ = __getattr__
        proxy.__all__ = [n for t in targets for n in getattr(t, "__all__", [])] + list(renamed)
        if hasattr(targets[0], "__path__"):
            # a package, but one whose submodules only this table gives: an empty path, so the path finder
            # never loads a new module a second time under the old name (its relative imports would fail)
            proxy.__path__ = []
        return proxy

    def exec_module(self, module) -> None:
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname in MOVED_MODULES:
            return importlib.util.spec_from_loader(fullname, _AliasLoader(MOVED_MODULES[fullname]))
        return None


def install() -> None:
    # first: an old package's proxy lends its new __path__, where the path finder would load
    # ``sa2va_hf.sources.osprey`` a second time, under the old name (its relative imports then fail)
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
