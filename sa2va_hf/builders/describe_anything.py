from __future__ import annotations

import datasets

from ..sources import describe_anything
from ._base import Sa2VABuilder, Sa2VAConfig


class DescribeAnythingBuilder(Sa2VABuilder):
    """DLC-SFT of nvidia/describe-anything-dataset (all subsets), split ``train``; images embedded."""

    VERSION = datasets.Version("1.0.0")
    DESCRIPTION = "Describe Anything DLC-SFT region captions in the Sa2VA canonical schema."
    BUILDER_CONFIGS = [Sa2VAConfig(name=describe_anything.SOURCE, version=VERSION)]

    def _split_generators(self, dl_manager):
        data_dir = self._data_dir()
        return [
            datasets.SplitGenerator(
                name=datasets.Split.TRAIN, gen_kwargs={"tar_paths": describe_anything.shards(data_dir)}
            )
        ]

    def _generate_examples(self, tar_paths):
        yield from describe_anything.generate(tar_paths)
