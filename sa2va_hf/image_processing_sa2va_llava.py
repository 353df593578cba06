"""Pixels for Sa2VA's LLaVA-1.5 checkpoint: one 336x336 image per picture.

Upstream (``projects/sa2va/datasets/base.py``, ``arch_type='llava'``) sets ``image_size = 336`` and
``downsample_ratio = 1``: (336 // 14)² = 576 ``<image>`` tokens per image, no start/end tokens. Here
each picture is resized once to 336x336 with PIL BICUBIC (aspect not kept, no crop), then ``ToTensor``
and ``Normalize`` with LLaVA-1.5's vision tower's mean/std, OpenAI CLIP -- what upstream's later code
does in training (base.py's ``CLIP_MEAN`` / ``CLIP_STD``, ``single_image_mode=True`` in its LLaVA
config) and in ``Sa2VAChatModelLlava.predict_forward`` (``hf/models_llava``) alike. The 9832e1a
snapshot's base.py normalized with ImageNet and tiled unless ``single_image_mode``: ``image_mean`` /
``image_std`` select ImageNet for a checkpoint trained that way.

The normalization goes through the same float32 lookup table as the InternVL tiles
(:func:`tiling.normalization_table`), bit-identical to ``ToTensor`` + ``Normalize``.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from .image_processing_sa2va_common import (
    Sa2VAFamilyImageProcessor,
    Sa2VAFamilyImageProcessorKwargs,
    check_int,
)
from .options import MAX_SIDE
from .resize import pil_resize
from .tiling import normalization_table, normalize_tiles


class Sa2VALlavaImageProcessorKwargs(Sa2VAFamilyImageProcessorKwargs, total=False):
    image_size: int
    patch_size: int


class Sa2VALlavaImageProcessor(Sa2VAFamilyImageProcessor):
    r"""Image processor for Sa2VA's LLaVA-1.5 checkpoint.

    Args:
        image_size: side of the square the picture is resized to (336).
        patch_size: the CLIP ViT's patch (14); ``(image_size // patch_size)²`` = 576 tokens per image.
        image_mean, image_std: OpenAI CLIP's.
        (and the options of :class:`Sa2VAFamilyImageProcessor`: grounding image, masks, RGB.)

    Returns ``pixel_values`` (B, 3, 336, 336) float32, ``g_pixel_values`` and ``masks``.
    """

    valid_kwargs = Sa2VALlavaImageProcessorKwargs
    model_input_names = ["pixel_values", "g_pixel_values", "masks"]
    family_label = "LLaVA"
    size_options = ("image_size",)

    image_size = 336
    patch_size = 14
    image_mean = list(OPENAI_CLIP_MEAN)
    image_std = list(OPENAI_CLIP_STD)

    @classmethod
    def check_options(cls, opts: SimpleNamespace) -> None:
        super().check_options(opts)
        check_int(opts.image_size, "image_size", 1, MAX_SIDE)
        check_int(opts.patch_size, "patch_size", 1, opts.image_size)

    @property
    def tokens_per_image(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    def llm_pixels(self, images: list[Image.Image], opts: SimpleNamespace) -> dict[str, np.ndarray]:
        side = opts.image_size
        resized = np.stack([np.asarray(pil_resize(im, side, side)) for im in images])  # BICUBIC
        table = normalization_table(
            opts.image_mean, opts.image_std, opts.do_rescale, opts.rescale_factor, opts.do_normalize
        )
        return {"pixel_values": normalize_tiles(resized, table)}

    def image_token_counts(self, features: Any, **overrides: Any) -> list[int]:
        """(image_size // patch_size)² per image: its ``<image>`` count."""
        opts = self.resolve_options(**overrides)
        return [(opts.image_size // opts.patch_size) ** 2] * len(features["pixel_values"])

    def image_token_count(self, width: int, height: int, **overrides: Any) -> int:
        """(image_size // patch_size)², whatever the image's size."""
        opts = self.resolve_options(**overrides)
        return (opts.image_size // opts.patch_size) ** 2


__all__ = ["Sa2VALlavaImageProcessor", "Sa2VALlavaImageProcessorKwargs"]
