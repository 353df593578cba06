from __future__ import annotations

import datasets

from ..sources import gcg
from ._base import Sa2VABuilder, Sa2VAConfig

_VERSION = datasets.Version("1.0.0")  # bump whenever the output changes


class GCGBuilder(Sa2VABuilder):
    """GLaMM grounded-caption sets: ``gcg_refcocog``, ``gcg_grandf``, ``gcg_openpsg``, ``gcg_flickr``.

    ``filter_report`` counts what upstream's Flickr filters removed (empty for the other
    sources), also when ``download_and_prepare`` found the build in the cache.
    """

    VERSION = _VERSION
    DESCRIPTION = "GLaMM GCG grounded captions in the Sa2VA canonical schema."
    BUILDER_CONFIGS = [Sa2VAConfig(name=name, version=_VERSION) for name in gcg.DATASETS]

    _filter_report: dict | None = None

    @property
    def filter_report(self) -> dict:
        """What upstream's Flickr filters removed; computed from the annotation file when the build came from the cache."""
        if self._filter_report is None:
            if gcg.DATASETS[self.config.name][2] == "flickr":
                self._filter_report = gcg.flickr_plan(
                    gcg.paths(self._data_dir(), self.config.name)["annotations"], self.config.upstream_filters
                )[1]
            else:
                self._filter_report = {}
        return self._filter_report

    def _split_generators(self, dl_manager):
        data_dir = self._data_dir()
        shard_list, self._filter_report = gcg.shards(data_dir, self.config.name, self.config.upstream_filters)
        return [
            datasets.SplitGenerator(
                name=datasets.Split.TRAIN,
                gen_kwargs={
                    "shard_list": shard_list,
                    "data_dir": data_dir,
                    "upstream_filters": self.config.upstream_filters,
                },
            )
        ]

    def _generate_examples(self, shard_list, data_dir, upstream_filters):
        yield from gcg.generate(data_dir, self.config.name, shard_list, upstream_filters)
