from __future__ import annotations

import os
from dataclasses import dataclass

import datasets

from ..errors import AnnotationError
from ..schema import FEATURES


@dataclass
class Sa2VAConfig(datasets.BuilderConfig):
    """A source of one family; ``data_dir`` is the Sa2VA ``data/`` root.

    ``upstream_filters`` only matters for ``gcg_flickr`` (see :mod:`sa2va_hf.sources.gcg`).
    """

    upstream_filters: bool = True


class Sa2VABuilder(datasets.GeneratorBasedBuilder):
    BUILDER_CONFIG_CLASS = Sa2VAConfig
    DESCRIPTION = ""

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(description=self.DESCRIPTION, features=FEATURES)

    def _data_dir(self) -> str:
        if not self.config.data_dir:
            raise AnnotationError(f"{self.config.name}: pass data_dir, the Sa2VA data/ root")
        data_dir = os.path.abspath(os.path.expanduser(self.config.data_dir))
        if not os.path.isdir(data_dir):
            raise AnnotationError(f"{self.config.name}: data_dir {data_dir!r} is not a directory")
        return data_dir
