"""One transform per source family: record + plan -> the sample upstream Sa2VA builds.

Each module here (not starting with ``_``, ``base`` aside) defines ``TRANSFORM``, a
:class:`~sa2va_hf.training.transforms.base.FamilyTransform` whose ``families`` names the catalog
families it serves; :func:`family_transforms` collects them, so adding a family is adding a module.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Mapping
from types import MappingProxyType

from .base import FamilyTransform, SampleSpec

__all__ = ["FamilyTransform", "SampleSpec", "family_transforms"]


@functools.lru_cache(maxsize=1)
def family_transforms() -> Mapping[str, FamilyTransform]:
    """Catalog family -> its transform."""
    out: dict[str, FamilyTransform] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        transform = importlib.import_module(f"{__name__}.{info.name}").TRANSFORM
        for family in transform.families:
            if family in out:
                raise AssertionError(f"family {family!r} has two transforms")
            out[family] = transform
    return MappingProxyType(out)
