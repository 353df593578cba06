"""The source catalog: every source name, once, with what it needs to be built.

Each family parser in :mod:`sa2va_hf.data.sources` ends with a table ``SOURCES`` of
:class:`SourceSpec` and exposes the same functions (the *family protocol*)::

    VERSION = "1.0.0"                                   # bumped whenever the records change
    def input_files(spec, data_dir) -> list[str]         # annotation files; their size/mtime key the cache
    def shards(spec, data_dir, options) -> dict[str, list]   # native split -> shard descriptors
    def generate(spec, data_dir, options, split, shards) -> Iterator[(key, record)]
    def report(spec, data_dir, options) -> dict          # optional: what upstream filters removed
    WRITER_BATCH_SIZE = 16                               # optional: records per Arrow write (large records)

The catalog is discovered from that package (every module not starting with ``_``), so adding a
source means adding its parser (and its fake writer and test class), nothing else. Nothing here
imports ``datasets``: the parsers are plain generators, testable without a builder.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import Any

from ..errors import Sa2VAError, did_you_mean

__all__ = ["NoOptions", "SourceSpec", "catalog", "family_module", "get_spec", "list_sources"]


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """Options of a source that takes none."""


@dataclasses.dataclass(frozen=True)
class SourceSpec:
    """One source.

    Attributes:
        name: the source name: ``load_source``'s argument, the builder config, the ``source`` column.
        family: the parser module in :mod:`sa2va_hf.data.sources` that reads it.
        splits: its native splits, in order.
        description: one line for dataset cards and ``sa2va-hf build --list``.
        params: facts about the native files the family parser reads (file and folder names).
        options: a frozen dataclass of the options a user may set (``load_source(..., **options)``);
            its fields become the builder config's fields.
        homepage, license, citation: where the data comes from, its licence as the publisher states
            it, and the paper to cite -- copied into exported dataset cards.
    """

    name: str
    family: str
    splits: tuple[str, ...] = ("train",)
    description: str = ""
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    options: type = NoOptions
    homepage: str = ""
    license: str = ""
    citation: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "splits", tuple(self.splits))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def make_options(self, **values: Any) -> Any:
        """The options object for ``values``; an unknown name is an error naming the closest and the known ones."""
        known = [f.name for f in dataclasses.fields(self.options)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            # what the user types: load_source's name= is the config field source_name (see data.loading)
            said = ["name" if name == "source_name" else name for name in known]
            hints = "".join(did_you_mean(name, said) for name in unknown[:1])
            raise Sa2VAError(
                f"unknown option(s) {unknown} for source {self.name!r}{hints} "
                + (f"(it takes {said})" if said else "(it takes no options)")
            )
        return self.options(**values)


def family_module(family: str) -> ModuleType:
    """The parser module of a family (``osprey``, ``refcoco``, ...)."""
    return importlib.import_module(f"{__package__}.sources.{family}")


@functools.lru_cache(maxsize=1)
def catalog() -> Mapping[str, SourceSpec]:
    """Source name -> :class:`SourceSpec`, in the order the families list them."""
    from . import sources

    specs: dict[str, SourceSpec] = {}
    for info in sorted(pkgutil.iter_modules(sources.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        for spec in family_module(info.name).SOURCES:
            if spec.family != info.name:
                raise AssertionError(f"{spec.name}: listed in sources/{info.name}.py but says family {spec.family!r}")
            if spec.name in specs:
                raise AssertionError(f"source {spec.name!r} is listed twice")
            specs[spec.name] = spec
    return MappingProxyType(specs)


def list_sources() -> list[str]:
    """Every source name :func:`sa2va_hf.load_source` accepts."""
    return list(catalog())


def get_spec(name: str) -> SourceSpec:
    """The :class:`SourceSpec` of ``name``; an unknown name is an error naming the closest and every known one."""
    specs = catalog()
    if name not in specs:
        raise Sa2VAError(f"unknown source {name!r}{did_you_mean(name, specs)} (known sources: {', '.join(specs)})")
    return specs[name]
