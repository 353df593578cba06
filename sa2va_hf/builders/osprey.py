from __future__ import annotations

import datasets

from ..sources import osprey
from ._base import Sa2VABuilder, Sa2VAConfig

_VERSION = datasets.Version("1.0.0")  # bump whenever the output changes


class OspreyBuilder(Sa2VABuilder):
    """Osprey-724K: one config per JSON file (``osprey_conversation`` ...), split ``train``."""

    VERSION = _VERSION
    DESCRIPTION = "Osprey-724K region-level instruction data in the Sa2VA canonical schema."
    BUILDER_CONFIGS = [Sa2VAConfig(name=name, version=_VERSION) for name in osprey.SOURCES]

    def _split_generators(self, dl_manager):
        data_dir = self._data_dir()
        return [
            datasets.SplitGenerator(
                name=datasets.Split.TRAIN,
                gen_kwargs={"shard_list": osprey.shards(data_dir, self.config.name), "data_dir": data_dir},
            )
        ]

    def _generate_examples(self, shard_list, data_dir):
        yield from osprey.generate(data_dir, self.config.name, shard_list)
