from __future__ import annotations

import datasets

from ..sources import refcoco
from ._base import Sa2VABuilder, Sa2VAConfig

_VERSION = datasets.Version("1.0.0")  # bump whenever the output changes


class RefCOCOBuilder(Sa2VABuilder):
    """RefCOCO / RefCOCO+ / RefCOCOg (umd) with their native splits."""

    VERSION = _VERSION
    DESCRIPTION = "RefCOCO-family referring segmentation in the Sa2VA canonical schema."
    BUILDER_CONFIGS = [Sa2VAConfig(name=name, version=_VERSION) for name in refcoco.DATASETS]

    def _split_generators(self, dl_manager):
        data_dir = self._data_dir()
        return [
            datasets.SplitGenerator(
                name=split,
                gen_kwargs={"image_id_shards": image_ids, "data_dir": data_dir, "split": split},
            )
            for split, image_ids in refcoco.shards(data_dir, self.config.name).items()
        ]

    def _generate_examples(self, image_id_shards, data_dir, split):
        yield from refcoco.generate(data_dir, self.config.name, split, image_id_shards)
