from __future__ import annotations

import logging

import datasets

from ..sources import refcoco
from ._base import Sa2VABuilder, Sa2VAConfig

logger = logging.getLogger(__name__)

_VERSION = datasets.Version("1.0.0")  # bump whenever the output changes


class RefCOCOBuilder(Sa2VABuilder):
    """RefCOCO / RefCOCO+ / RefCOCOg (umd) with their native splits.

    A native split that no ref of the pickle belongs to is left out (with a warning):
    ``datasets`` cannot hold an empty split, and would fail on it when loading every split.
    """

    VERSION = _VERSION
    DESCRIPTION = "RefCOCO-family referring segmentation in the Sa2VA canonical schema."
    BUILDER_CONFIGS = [Sa2VAConfig(name=name, version=_VERSION) for name in refcoco.DATASETS]

    def _split_generators(self, dl_manager):
        data_dir = self._data_dir()
        out = []
        for split, image_ids in refcoco.shards(data_dir, self.config.name).items():
            if not image_ids:
                logger.warning(
                    "%s: no ref of %r is in the native split %r; that split is left out",
                    self.config.name,
                    refcoco.paths(data_dir, self.config.name)["refs"],
                    split,
                )
                continue
            out.append(
                datasets.SplitGenerator(
                    name=split,
                    gen_kwargs={"image_id_shards": image_ids, "data_dir": data_dir, "split": split},
                )
            )
        return out

    def _generate_examples(self, image_id_shards, data_dir, split):
        yield from refcoco.generate(data_dir, self.config.name, split, image_id_shards)
