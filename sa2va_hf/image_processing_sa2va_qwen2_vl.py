"""Pixels for Sa2VA's Qwen2.5-VL and Qwen3-VL checkpoints: transformers' Qwen image processor with Sa2VA's limits.

Upstream (``projects/sa2va/datasets/base.py``, ``arch_type='qwen'``) hands each image to the stock
Qwen-VL image processor with its own pixel limits: ``min_pixels`` / ``max_pixels`` = 512·28² /
2048·28² for a single image, 128·28² / 512·28² per video frame (each frame is an image). The image
is resized to a multiple of ``patch_size * merge_size`` within those limits (``smart_resize``),
normalized and cut into flat patches: ``pixel_values`` (sum of patches, 3·T·p·p) float32 and
``image_grid_thw`` (B, 3) int64; the image takes prod(grid_thw) / merge² ``<|image_pad|>`` tokens.
Qwen3-VL is the same processor with patch 16 and mean = std = 0.5 (its own preprocessor config),
and the same 28²-based limits.

This wrapper delegates the pixels to transformers' ``Qwen2VLImageProcessorPil`` (the default Qwen
image processor needs torchvision); it adds the grounding image and ground-truth masks
(:mod:`image_processing_sa2va_common`).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from .errors import Sa2VAError, ShapeMismatchError
from .image_processing_sa2va_common import (
    Sa2VAFamilyImageProcessor,
    Sa2VAFamilyImageProcessorKwargs,
    check_int,
)

#: Sa2VA's pixel limits for one image (``min_pixels_single`` / ``max_pixels_single`` upstream; HF
#: ``predict_forward`` passes the same, for images and for the first 5 frames of a video).
IMAGE_MIN_PIXELS = 512 * 28 * 28
IMAGE_MAX_PIXELS = 2048 * 28 * 28
#: Sa2VA's training limits per video frame (``min_pixels_multi`` / ``max_pixels_multi``).
FRAME_MIN_PIXELS = 128 * 28 * 28
FRAME_MAX_PIXELS = 512 * 28 * 28

#: Qwen3-VL's preprocessor config differs from Qwen2.5-VL's (this class's defaults) in these.
QWEN3_VL_OPTIONS = {"patch_size": 16, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}

#: smart_resize refuses images more elongated than this (a ``ValueError`` naming nothing).
MAX_ASPECT_RATIO = 200
#: Far above any Qwen setting (its own default max_pixels is 16384·28²); larger asks PIL for gigabytes.
MAX_PIXELS_LIMIT = 4096 * 4096


class Sa2VAQwen2VLImageProcessorKwargs(Sa2VAFamilyImageProcessorKwargs, total=False):
    min_pixels: int
    max_pixels: int
    frame_min_pixels: int
    frame_max_pixels: int
    patch_size: int
    temporal_patch_size: int
    merge_size: int


class Sa2VAQwen2VLImageProcessor(Sa2VAFamilyImageProcessor):
    r"""Image processor for Sa2VA's Qwen2.5-VL and Qwen3-VL checkpoints.

    Args:
        min_pixels, max_pixels: the resized image's pixel count bounds (512·28², 2048·28²: Sa2VA's
            single-image limits).
        frame_min_pixels, frame_max_pixels: the same for each frame of a video (128·28², 512·28²:
            Sa2VA's training limits per frame; ``predict_forward`` gives its first 5 frames the
            single-image limits instead). Only the video path reads them.
        patch_size, temporal_patch_size, merge_size: the vision encoder's (14, 2, 2 for Qwen2.5-VL;
            Qwen3-VL: patch 16, see ``QWEN3_VL_OPTIONS``).
        image_mean, image_std: OpenAI-CLIP for Qwen2.5-VL, 0.5 for Qwen3-VL.
        (and the options of :class:`Sa2VAFamilyImageProcessor`: grounding image, masks, RGB.)

    Returns ``pixel_values`` (sum of patches, 3 * temporal_patch_size * patch_size²) float32 and
    ``image_grid_thw`` (B, 3) int64 exactly as ``Qwen2VLImageProcessorPil`` gives them with these
    options, plus ``g_pixel_values`` and ``masks``.
    """

    valid_kwargs = Sa2VAQwen2VLImageProcessorKwargs
    model_input_names = ["pixel_values", "image_grid_thw", "g_pixel_values", "masks"]
    family_label = "Qwen-VL"
    size_options = ("min_pixels", "max_pixels")

    min_pixels = IMAGE_MIN_PIXELS
    max_pixels = IMAGE_MAX_PIXELS
    frame_min_pixels = FRAME_MIN_PIXELS
    frame_max_pixels = FRAME_MAX_PIXELS
    patch_size = 14
    temporal_patch_size = 2
    merge_size = 2
    image_mean = list(OPENAI_CLIP_MEAN)
    image_std = list(OPENAI_CLIP_STD)

    @classmethod
    def check_options(cls, opts: SimpleNamespace) -> None:
        super().check_options(opts)
        for prefix in ("", "frame_"):
            low, high = getattr(opts, f"{prefix}min_pixels"), getattr(opts, f"{prefix}max_pixels")
            check_int(low, f"{prefix}min_pixels", 1, MAX_PIXELS_LIMIT)
            check_int(high, f"{prefix}max_pixels", 1, MAX_PIXELS_LIMIT)
            if low > high:
                raise Sa2VAError(f"need {prefix}min_pixels <= {prefix}max_pixels, got {low}, {high}")
        check_int(opts.patch_size, "patch_size", 1, 64)
        check_int(opts.temporal_patch_size, "temporal_patch_size", 1, 16)
        check_int(opts.merge_size, "merge_size", 1, 16)

    def llm_pixels(self, images: list[Image.Image], opts: SimpleNamespace) -> dict[str, np.ndarray]:
        for i, im in enumerate(images):
            _check_aspect(im.width, im.height, f"image {i}")
        qwen = _qwen_image_processor(
            opts.min_pixels, opts.max_pixels, opts.patch_size, opts.temporal_patch_size, opts.merge_size,
            tuple(opts.image_mean), tuple(opts.image_std), opts.do_rescale, float(opts.rescale_factor),
            opts.do_normalize,
        )  # fmt: skip
        out = qwen(images)
        return {"pixel_values": np.asarray(out["pixel_values"]), "image_grid_thw": np.asarray(out["image_grid_thw"])}

    def image_token_counts(self, features: Any, **overrides: Any) -> list[int]:
        """prod(grid_thw) / merge_size² per image: its ``<|image_pad|>`` count."""
        merge = self.resolve_options(**overrides).merge_size
        grid = features["image_grid_thw"]
        grid = np.asarray(grid.cpu() if hasattr(grid, "cpu") else grid).reshape(-1, 3)
        return [int(np.prod(g)) // merge**2 for g in grid]

    def frame_options(self, **overrides: Any) -> dict[str, Any]:
        """The options a video frame is processed with: the frame limits in place of the image limits."""
        opts = self.resolve_options(**overrides)
        return {"min_pixels": opts.frame_min_pixels, "max_pixels": opts.frame_max_pixels}

    def grid_thw(self, width: int, height: int, **overrides: Any) -> list[int]:
        """The ``image_grid_thw`` row of a ``width`` x ``height`` image, from Qwen's resize rule alone
        (transformers' ``smart_resize``, the function the pixels are resized with): no pixel is read."""
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        opts = self.resolve_options(**overrides)
        _check_aspect(width, height, "the image")
        factor = opts.patch_size * opts.merge_size
        h, w = smart_resize(height, width, factor=factor, min_pixels=opts.min_pixels, max_pixels=opts.max_pixels)
        return [1, h // opts.patch_size, w // opts.patch_size]

    def image_token_count(self, width: int, height: int, **overrides: Any) -> int:
        """The ``<|image_pad|>`` count of a ``width`` x ``height`` image: prod(grid_thw) / merge_size²."""
        merge = self.resolve_options(**overrides).merge_size
        return int(np.prod(self.grid_thw(width, height, **overrides))) // merge**2


def _check_aspect(width: int, height: int, what: str) -> None:
    # smart_resize raises a ValueError naming nothing; and a 0-pixel side would divide by zero
    if min(width, height) < 1 or max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ShapeMismatchError(
            f"{what} is {width}x{height} (W x H): the Qwen-VL resize needs an aspect ratio of at most "
            f"{MAX_ASPECT_RATIO}"
        )


@functools.lru_cache(maxsize=8)
def _qwen_image_processor(
    min_pixels: int,
    max_pixels: int,
    patch_size: int,
    temporal_patch_size: int,
    merge_size: int,
    image_mean: tuple[float, ...],
    image_std: tuple[float, ...],
    do_rescale: bool,
    rescale_factor: float,
    do_normalize: bool,
):
    """transformers' PIL-backend Qwen image processor with these settings (one per setting)."""
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    except ImportError:
        raise ImportError(
            "the Qwen-VL families need transformers' Qwen2VLImageProcessorPil (the PIL backend of the Qwen "
            "image processor); upgrade transformers"
        ) from None
    return Qwen2VLImageProcessorPil(
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
        patch_size=patch_size,
        temporal_patch_size=temporal_patch_size,
        merge_size=merge_size,
        image_mean=list(image_mean),
        image_std=list(image_std),
        do_rescale=do_rescale,
        rescale_factor=rescale_factor,
        do_normalize=do_normalize,
        do_convert_rgb=False,  # images arrive as RGB (inputs.to_rgb_image)
    )


__all__ = [
    "FRAME_MAX_PIXELS",
    "FRAME_MIN_PIXELS",
    "IMAGE_MAX_PIXELS",
    "IMAGE_MIN_PIXELS",
    "QWEN3_VL_OPTIONS",
    "Sa2VAQwen2VLImageProcessor",
    "Sa2VAQwen2VLImageProcessorKwargs",
]
