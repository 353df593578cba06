from __future__ import annotations

import logging

import datasets

from ..sources import gcg
from ._base import Sa2VABuilder, Sa2VAConfig

logger = logging.getLogger(__name__)


_VERSION = datasets.Version("1.0.0")  # bump whenever the output changes


class GCGBuilder(Sa2VABuilder):
    """GLaMM grounded-caption sets: ``gcg_refcocog``, ``gcg_grandf``, ``gcg_openpsg``, ``gcg_flickr``.

    After ``download_and_prepare``, ``filter_report`` counts what upstream's Flickr filters
    removed (empty for the other sources).
    """

    VERSION = _VERSION
    DESCRIPTION = "GLaMM GCG grounded captions in the Sa2VA canonical schema."
    BUILDER_CONFIGS = [Sa2VAConfig(name=name, version=_VERSION) for name in gcg.DATASETS]

    filter_report: dict = {}

    def _split_generators(self, dl_manager):
        data_dir = self._data_dir()
        shard_list, self.filter_report = gcg.shards(data_dir, self.config.name, self.config.upstream_filters)
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
