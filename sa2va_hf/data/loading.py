"""``load_source``: build one Sa2VA training source as a ``datasets`` Dataset (cached)."""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any

from .. import errors
from ..errors import Sa2VAError, did_you_mean
from .catalog import get_spec
from .logs import without_messages
from .safety import check_output_folder

__all__ = ["get_builder", "load_source"]


def get_builder(name: str, /, data_dir: str | os.PathLike, *, cache_dir: str | None = None, **options: Any):
    """The ``datasets`` builder of source ``name`` (not yet prepared); ``options`` are the source's own.

    Its cache key holds the parser version and the size and mtime of the source's annotation
    files (:func:`~sa2va_hf.data.builder.cache_hash`, set by the builder itself).
    """
    from .builder import family_builder  # imports datasets: only when building

    spec = get_spec(name)
    options = _own_data_name(spec, options)
    spec.make_options(**options)  # an unknown or ill-typed option fails here, naming the source
    if cache_dir is not None:
        check_output_folder(cache_dir, "cache_dir")
    return family_builder(spec.family)(config_name=name, data_dir=os.fspath(data_dir), cache_dir=cache_dir, **options)


def _own_data_name(spec, options: dict) -> dict:
    """``name=`` (own-data sources: the ``source`` column) is the config field ``source_name``:
    ``name`` is a builder config's own field."""
    fields = {f.name for f in dataclasses.fields(spec.options)}
    if "name" not in options or "source_name" not in fields:
        return options
    if "source_name" in options:
        raise Sa2VAError("give name or source_name, not both (they are the same option)")
    options = dict(options)
    options["source_name"] = options.pop("name")
    return options


def split_names(split: str) -> list[str]:
    """The split names in a ``datasets`` split expression (``"train"``, ``"train[:10%]+val"``)."""
    return [part.split("[", 1)[0].strip() for part in str(split).split("+")]


def _check_split(spec, split: str, built=None) -> None:
    """A split the source has (did you mean ...?), and, once built, one whose files were there."""
    for one in split_names(split):
        if one not in spec.splits:
            raise Sa2VAError(
                f"source {spec.name!r} has no split {one!r}{did_you_mean(one, spec.splits)} "
                f"(its splits: {', '.join(spec.splits)})"
            )
        if built is not None and one not in built:
            raise Sa2VAError(
                f"split {one!r} of {spec.name!r} was not built: its files are not in data_dir "
                f"(built: {', '.join(built)})"
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


_REMOTE_DUPLICATE = re.compile(r"The examples at index ([\d, ]+)(?:\.\.\. \(\d+ more\))? have the key (.*)")


def _reraise_duplicate_key(exc: BaseException, builder) -> None:
    """datasets 3.x checks keys itself (``DuplicatedKeysError``), before our check of the built ids:
    say it the same way, naming the source and its files."""
    for e in _chain(exc):
        found = _REMOTE_DUPLICATE.search(str(e))
        if type(e).__name__ == "DuplicatedKeysError" or found:
            key, positions = (e.key, e.duplicate_key_indices) if hasattr(e, "key") else (found[2], found[1].split(", "))
            raise errors.AnnotationError(
                f"{builder.spec.name}: id {str(key)!r} is given to {len(positions)} records (positions "
                f"{[int(p) for p in positions][:5]}); ids must be unique. Its files: {builder._input_files(builder._data_dir())}"
            ) from None


def _chain(exc: BaseException):
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


def load_source(
    name: str,
    /,
    data_dir: str | os.PathLike,
    split: str | None = None,
    *,
    cache_dir: str | None = None,
    num_proc: int | None = None,
    download_mode: str | None = None,
    **options: Any,
):
    """Build (or reuse the cached build of) source ``name`` from the Sa2VA ``data/`` root.

    Returns a ``datasets.Dataset`` for ``split``, or a ``DatasetDict`` of all native splits
    when ``split`` is None. Bad input raises a ``ValueError`` subclass from
    :mod:`sa2va_hf.errors` naming the file and record. ``num_proc`` parallelises the build
    (same dataset, same order); ``download_mode="force_redownload"`` rebuilds the cache.
    ``options`` are the source's own (``upstream_filters=False`` for ``gcg_flickr``, ``name=`` for
    your own data; see each parser's ``SOURCES`` table). ``name`` is positional-only, so a source
    option may be called ``name`` too.
    """
    if split is not None:
        _check_split(get_spec(name), split)
    if num_proc is not None and (not isinstance(num_proc, int) or isinstance(num_proc, bool) or num_proc < 1):
        raise Sa2VAError(f"num_proc must be a positive int or None, got {num_proc!r}")
    builder = get_builder(name, data_dir, cache_dir=cache_dir, **options)
    from datasets.exceptions import DatasetGenerationError

    try:
        # a split of fewer shards than num_proc is built by fewer processes: datasets warns; it is expected
        with without_messages("datasets.builder", "Setting num_proc from"):
            builder.download_and_prepare(num_proc=num_proc, download_mode=download_mode)
    except DatasetGenerationError as e:
        _reraise_ours(e)
        _reraise_duplicate_key(e, builder)
        raise
    if split is not None:
        _check_split(builder.spec, split, list(builder.info.splits or {}))
    return builder.as_dataset(split=split)
