"""One ``datasets`` builder for every source in the catalog.

:class:`Sa2VABuilder` holds one config per :class:`~sa2va_hf.data.catalog.SourceSpec`; a config
carries the source's options as fields (its spec's ``options`` dataclass), and the builder calls
the family parser's ``shards`` / ``generate``. :func:`family_builder` gives the subclass that holds
one family's configs (``OspreyBuilder``, ... : what a loading script exposes).

Every record passes :func:`~sa2va_hf.data.orientation.stored_frames` on its way out: an image whose
EXIF orientation would make a reader turn it is stored as bytes with the tag cleared.

The cache key (:func:`cache_hash`) holds the family ``VERSION`` and the size and mtime of the
source's annotation files, so an edited file or a new parser version is never served stale.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from collections.abc import Sequence
from typing import Any

import datasets

from ..errors import AnnotationError
from .catalog import SourceSpec, catalog, family_module
from .orientation import stored_frames
from .schema import features

__all__ = ["Sa2VAConfig", "Sa2VABuilder", "family_builder", "cache_hash", "file_fingerprint"]


@dataclasses.dataclass
class Sa2VAConfig(datasets.BuilderConfig):
    """A source's config; ``data_dir`` is the Sa2VA ``data/`` root. Subclassed per options type."""

    @property
    def spec(self) -> SourceSpec:
        return catalog()[self.name]

    def options(self) -> Any:
        spec = self.spec
        return spec.make_options(**{f.name: getattr(self, f.name) for f in dataclasses.fields(spec.options)})


@functools.cache
def _config_class(options: type) -> type[Sa2VAConfig]:
    """``Sa2VAConfig`` with the option fields of ``options`` (a frozen dataclass from a parser)."""
    fields = [(f.name, f.type, dataclasses.field(default=f.default)) for f in dataclasses.fields(options)]
    if not fields:
        return Sa2VAConfig
    return dataclasses.make_dataclass(options.__name__ + "Config", fields, bases=(Sa2VAConfig,))


def _config(spec: SourceSpec) -> Sa2VAConfig:
    version = datasets.Version(family_module(spec.family).VERSION)
    return _config_class(spec.options)(name=spec.name, version=version, description=spec.description)


class Sa2VABuilder(datasets.GeneratorBasedBuilder):
    """Builds any source of the catalog into the canonical schema (:mod:`sa2va_hf.data.schema`)."""

    BUILDER_CONFIG_CLASS = Sa2VAConfig
    BUILDER_CONFIGS = [_config(spec) for spec in catalog().values()]

    _report: dict | None = None

    def __init__(self, *args, config_name: str | None = None, data_dir: str | None = None, hash=None, **kwargs):
        # The cache key always holds the parser version and the input files' size/mtime, whoever
        # builds: get_builder, or datasets.load_dataset(<loading script>) on datasets 3.x, whose
        # own hash only covers the script.
        if data_dir and config_name in catalog():
            data_dir = os.path.abspath(os.path.expanduser(os.fspath(data_dir)))
            key = cache_hash(catalog()[config_name], data_dir)
            hash = key if hash is None else f"{hash}-{key}"
        super().__init__(*args, config_name=config_name, data_dir=data_dir, hash=hash, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=self.config.description, features=features())

    @property
    def spec(self) -> SourceSpec:
        return self.config.spec

    @property
    def filter_report(self) -> dict:
        """What the source's upstream filters removed (``{}`` when it has none), also after a cache hit."""
        if self._report is None:
            family = family_module(self.spec.family)
            report = getattr(family, "report", None)
            self._report = report(self.spec, self._data_dir(), self.config.options()) if report else {}
        return self._report

    def _data_dir(self) -> str:
        if not self.config.data_dir:
            raise AnnotationError(f"{self.config.name}: pass data_dir, the Sa2VA data/ root")
        data_dir = os.path.abspath(os.path.expanduser(self.config.data_dir))
        if not os.path.isdir(data_dir):
            raise AnnotationError(f"{self.config.name}: data_dir {data_dir!r} is not a directory")
        return data_dir

    def download_and_prepare(self, *args, **kwargs):
        super().download_and_prepare(*args, **kwargs)
        self._check_unique_ids()

    def _split_generators(self, dl_manager):
        data_dir = self._data_dir()
        per_split = family_module(self.spec.family).shards(self.spec, data_dir, self.config.options())
        if not per_split or not all(per_split.values()):
            empty = [split for split, shard_list in per_split.items() if not shard_list] or list(self.spec.splits)
            raise AnnotationError(
                f"{self.spec.name}: no records in split(s) {empty}; its files: {self._input_files(data_dir)}"
            )
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"shard_list": shard_list, "split": split})
            for split, shard_list in per_split.items()
        ]

    def _input_files(self, data_dir: str) -> list[str]:
        return family_module(self.spec.family).input_files(self.spec, data_dir)

    def _check_unique_ids(self) -> None:
        """Ids are unique within a split (SPEC §6), whatever the parser: a duplicate would make two
        records one, or one of them unreachable. Checked on the built ``id`` column, one Arrow chunk
        at a time through 8-byte hashes (memory flat in the number of records: 8 bytes each), and
        only ids whose hashes meet are compared as strings."""
        import numpy as np
        import pyarrow as pa

        for split in self.info.splits or {}:
            ids = self.as_dataset(split=split).data.column("id")
            hashes = np.empty(len(ids), dtype=np.int64)
            at = 0
            for chunk in ids.chunks:
                hashes[at : at + len(chunk)] = np.fromiter(map(hash, chunk.to_pylist()), np.int64, len(chunk))
                at += len(chunk)
            order = np.argsort(hashes, kind="stable")
            meet = hashes[order[1:]] == hashes[order[:-1]]
            if not meet.any():
                continue
            candidates = np.unique(np.concatenate([order[1:][meet], order[:-1][meet]]))
            positions: dict = {}
            for position, value in zip(candidates.tolist(), ids.take(pa.array(candidates)).to_pylist()):
                positions.setdefault(value, []).append(position)
            repeated = sorted((where_, value) for value, where_ in positions.items() if len(where_) > 1)
            if repeated:
                where_, value = repeated[0]  # the repeated id that comes first in the split
                raise AnnotationError(
                    f"{self.spec.name}: id {value!r} is given to {len(where_)} records of split "
                    f"{split!r} (positions {where_[:5]}); ids must be unique. Its files: "
                    f"{self._input_files(self._data_dir())}"
                )

    def _generate_examples(self, shard_list, split):
        family = family_module(self.spec.family)
        for key, record in family.generate(self.spec, self._data_dir(), self.config.options(), split, shard_list):
            # an image whose orientation tag would turn it is stored cleared: every reader gets the stored pixels
            yield key, stored_frames(record)


@functools.cache
def family_builder(family: str) -> type[Sa2VABuilder]:
    """The builder class holding only ``family``'s configs (named e.g. ``OspreyBuilder``)."""
    module = family_module(family)
    configs = [c for c in Sa2VABuilder.BUILDER_CONFIGS if c.spec.family == family]
    if not configs:
        raise AnnotationError(f"no source of family {family!r} in the catalog")
    return type(
        "".join(part.title() for part in family.split("_")) + "Builder",
        (Sa2VABuilder,),
        {
            "BUILDER_CONFIGS": configs,
            "VERSION": datasets.Version(module.VERSION),
            # records of video families are large (a mask per frame): write them in small batches
            "DEFAULT_WRITER_BATCH_SIZE": getattr(module, "WRITER_BATCH_SIZE", None),
            "__doc__": module.__doc__.strip().splitlines()[0],
            "__module__": module.__name__,  # datasets names the builder (and its cache folder) after this
        },
    )


def file_fingerprint(paths: Sequence[str]) -> str:
    """A short string that changes when any input file changes (size, mtime)."""
    h = hashlib.sha256()
    for p in sorted(paths):
        name = os.fsencode(p)  # a file name is bytes: one that is not UTF-8 is hashed as it is on disk
        try:
            st = os.stat(p)
            h.update(name + f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(name + b"\0missing\n")
    return h.hexdigest()[:16]


def cache_hash(spec: SourceSpec, data_dir: str) -> str:
    """The builder hash of ``spec`` read from ``data_dir``: family version + input-file fingerprint."""
    family = family_module(spec.family)
    return f"{family.VERSION}-{file_fingerprint(family.input_files(spec, data_dir))}"
