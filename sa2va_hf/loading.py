"""``load_source``: build one Sa2VA training source as a ``datasets`` Dataset (cached)."""

from __future__ import annotations

import glob
import os
import re
from typing import Any

from . import errors
from .errors import Sa2VAError

__all__ = ["SOURCES", "list_sources", "get_builder", "load_source"]

# source name -> (family); the family names a builder class and a parser module
SOURCES: dict[str, str] = {
    "osprey_conversation": "osprey",
    "osprey_detail_description": "osprey",
    "osprey_short_form": "osprey",
    "osprey_part_level": "osprey",
    "osprey_lvis_positive_negative": "osprey",
    "describe_anything": "describe_anything",
    "refcoco": "refcoco",
    "refcoco_plus": "refcoco",
    "refcocog": "refcoco",
    "gcg_refcocog": "gcg",
    "gcg_grandf": "gcg",
    "gcg_openpsg": "gcg",
    "gcg_flickr": "gcg",
}


def list_sources() -> list[str]:
    """Every source name :func:`load_source` accepts."""
    return list(SOURCES)


def _builder_class(family: str):
    from . import builders

    return {
        "osprey": builders.OspreyBuilder,
        "describe_anything": builders.DescribeAnythingBuilder,
        "refcoco": builders.RefCOCOBuilder,
        "gcg": builders.GCGBuilder,
    }[family]


def _input_files(name: str, data_dir: str) -> list[str]:
    """The annotation files a source reads (their size/mtime key the cache)."""
    family = SOURCES[name]
    if family == "osprey":
        from .sources import osprey

        return [osprey.paths(data_dir, name)["json"]]
    if family == "refcoco":
        from .sources import refcoco

        p = refcoco.paths(data_dir, name)
        return [p["instances"], p["refs"]]
    if family == "gcg":
        from .sources import gcg

        return [gcg.paths(data_dir, name)["annotations"]]
    from .sources import describe_anything

    files = []
    for root in describe_anything.ROOTS:
        files += glob.glob(os.path.join(data_dir, root, "*", "images", "*.tar"))
    return files


def get_builder(name: str, data_dir: str | os.PathLike, *, cache_dir: str | None = None, **config_kwargs: Any):
    """The ``datasets`` builder of source ``name`` (not yet prepared).

    Its cache key includes the builder version and the size and mtime of the source's
    annotation files, so a changed file or a new parser version is never served stale.
    """
    if name not in SOURCES:
        raise errors.Sa2VAError(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}")
    from .sources._common import file_fingerprint

    data_dir = os.path.abspath(os.path.expanduser(os.fspath(data_dir)))
    cls = _builder_class(SOURCES[name])
    fingerprint = file_fingerprint(_input_files(name, data_dir))
    return cls(
        config_name=name,
        data_dir=data_dir,
        cache_dir=cache_dir,
        hash=f"{cls.VERSION}-{fingerprint}",
        **config_kwargs,
    )


_REMOTE_ERROR = re.compile(r"sa2va_hf\.errors\.(\w+): (.*)")


def _reraise_ours(exc: BaseException) -> None:
    """Re-raise the sa2va_hf error behind a ``datasets`` generation error, if there is one."""
    chain = list(_chain(exc))
    for e in chain:
        if isinstance(e, Sa2VAError):
            raise e.with_traceback(None) from None
    # num_proc > 1: the worker's exception only survives as its traceback text
    text = "\n".join(str(x) for x in chain)
    for cls_name, message in reversed(_REMOTE_ERROR.findall(text)):
        cls = getattr(errors, cls_name, None)
        if isinstance(cls, type) and issubclass(cls, Sa2VAError):
            raise cls(message) from exc


def _chain(exc: BaseException):
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def load_source(
    name: str,
    data_dir: str | os.PathLike,
    split: str | None = None,
    *,
    cache_dir: str | None = None,
    num_proc: int | None = None,
    download_mode: str | None = None,
    **config_kwargs: Any,
):
    """Build (or reuse the cached build of) source ``name`` from the Sa2VA ``data/`` root.

    Returns a ``datasets.Dataset`` for ``split``, or a ``DatasetDict`` of all native splits
    when ``split`` is None. Bad input raises a ``ValueError`` subclass from
    :mod:`sa2va_hf.errors` naming the file and record. ``num_proc`` parallelises the build
    (same dataset, same order); ``download_mode="force_redownload"`` rebuilds the cache.
    ``config_kwargs``: ``upstream_filters=False`` keeps the records upstream filters out
    (``gcg_flickr`` only).
    """
    builder = get_builder(name, data_dir, cache_dir=cache_dir, **config_kwargs)
    from datasets.exceptions import DatasetGenerationError

    try:
        builder.download_and_prepare(num_proc=num_proc, download_mode=download_mode)
    except DatasetGenerationError as e:
        _reraise_ours(e)
        raise
    return builder.as_dataset(split=split)
