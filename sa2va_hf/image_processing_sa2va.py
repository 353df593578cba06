"""Pixels for Sa2VA: InternVL dynamic tiles, the SAM2 grounding image, and visual prompts on the token grid.

Everything here is numpy + PIL and reproduces the upstream recipe bit for bit
(``projects/llava_sam2/datasets``):

* ``pixel_values``: ``dynamic_preprocess`` tiles (thumbnail last), each ``x/255`` then
  ``(x - mean) / std`` in float32 -- what ``ToTensor`` + ``Normalize`` compute (:mod:`tiling`);
* ``g_pixel_values``: the RGB image resized to 1024x1024 (PIL BICUBIC), uint8 CHW (:mod:`grounding`);
* ``prompt_masks``: visual-prompt masks on the 16x16 token grid, with torch's legacy
  ``nearest`` rule (upstream Osprey) or ``nearest to 448 then 28x28 mean > 0.5`` (``pool``)
  (:mod:`prompt_grid`);
* ``vp_overall_mask``: which tiles carry the prompt (the last one: the thumbnail);
* ``masks``: ground-truth masks at the image's own size.
"""

from __future__ import annotations

import functools
import numbers
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from typing import Any

import numpy as np
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.processing_utils import ImagesKwargs

from .errors import Sa2VAError
from .grounding import GroundingTransform
from .inputs import as_mask_stack, per_image, to_rgb_image
from .prompt_grid import EMPTY_REGION_POLICIES, PROMPT_MASK_MODES, apply_empty_region_policy, masks_to_grid
from .tiling import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    choose_grid,
    grid_size,
    normalization_table,
    normalize_tiles,
    num_tiles,
    tile_image,
)


class Sa2VAImageProcessorKwargs(ImagesKwargs, total=False):
    """Sa2VA's image options; their defaults are :class:`Sa2VAImageProcessor`'s class attributes."""

    image_size: int
    patch_size: int
    downsample_ratio: float
    min_tiles: int
    max_tiles: int
    use_thumbnail: bool
    grounding_size: int
    normalize_grounding: bool
    return_grounding: bool
    prompt_mask_mode: str
    min_region_cells: int
    empty_region: str
    max_image_pixels: int | None
    num_threads: int


#: Every option an instance stores and a call may override: Sa2VA's own, then the generic ones it honours.
OPTION_NAMES = tuple(k for k in Sa2VAImageProcessorKwargs.__annotations__ if k not in ImagesKwargs.__annotations__) + (
    "image_mean",
    "image_std",
)


class ImageOptions(SimpleNamespace):
    """The options of one call (the instance's, overridden by the call's), checked once."""

    @classmethod
    def resolve(cls, defaults: Any, overrides: dict[str, Any]) -> ImageOptions:
        unknown = set(overrides) - set(OPTION_NAMES)
        if unknown:
            raise Sa2VAError(f"unknown Sa2VAImageProcessor option(s): {sorted(unknown)}; known: {list(OPTION_NAMES)}")
        options = cls(**{name: overrides.get(name, getattr(defaults, name)) for name in OPTION_NAMES})
        options.check()
        return options

    def check(self) -> None:
        if self.prompt_mask_mode not in PROMPT_MASK_MODES:
            raise Sa2VAError(f"prompt_mask_mode must be one of {PROMPT_MASK_MODES}, got {self.prompt_mask_mode!r}")
        if self.empty_region not in EMPTY_REGION_POLICIES:
            raise Sa2VAError(f"empty_region must be one of {EMPTY_REGION_POLICIES}, got {self.empty_region!r}")
        if not isinstance(self.num_threads, int) or self.num_threads < 1:
            raise Sa2VAError(f"num_threads must be a positive int, got {self.num_threads!r}")
        for name in ("image_size", "min_tiles", "max_tiles", "grounding_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise Sa2VAError(f"{name} must be an int, got {value!r}")
        if not 1 <= self.min_tiles <= self.max_tiles:
            raise Sa2VAError(f"need 1 <= min_tiles <= max_tiles, got {self.min_tiles}, {self.max_tiles}")
        if self.grid_size < 1:
            raise Sa2VAError("image_size // patch_size * downsample_ratio must be at least 1")

    @property
    def grid_size(self) -> int:
        return grid_size(self.image_size, self.patch_size, self.downsample_ratio)


class Sa2VAImageProcessor(BaseImageProcessor):
    r"""Image processor for Sa2VA (InternVL tiles + SAM2 grounding image + visual prompts).

    Args:
        image_size: tile side (448).
        patch_size, downsample_ratio: with ``image_size`` they fix the token grid,
            ``int(image_size // patch_size * downsample_ratio)`` = 16, so 256 tokens per tile.
        min_tiles, max_tiles, use_thumbnail: InternVL dynamic tiling (1, 12, True).
        grounding_size: side of ``g_pixel_values`` (1024, SAM2's input).
        normalize_grounding: return ``g_pixel_values`` as ImageNet-normalized float32
            (what the model computes itself) instead of uint8 0..255.
        return_grounding: compute ``g_pixel_values`` at all.
        prompt_mask_mode: ``"nearest"`` (upstream Osprey / HF ``predict_forward``) or
            ``"pool"`` (nearest to ``image_size``, then per-cell mean > 0.5).
        min_region_cells: a visual-prompt region covering fewer grid cells than this is
            *empty*. Upstream v1 lets a region have 0 cells (its ``<vp></vp>`` then holds
            no token); upstream v2 drops samples with a region under 4 cells.
        empty_region: what to do with an empty region: ``"error"`` (default: raise
            :class:`EmptyRegionError`, so a training loop can skip the sample knowingly),
            ``"drop"`` (remove the region; the output's ``dropped_regions`` lists the
            original indices per image), or ``"keep"`` (upstream v1; a warning is issued).
        max_image_pixels: refuse image files larger than this (PIL's limit by default).
        num_threads: with 2 or more, the grounding image is resized on a worker thread while
            the tiles are cut (PIL releases the GIL while resizing). Outputs are identical;
            leave it at 1 inside multi-process data loaders, which already use every core.
    """

    model_input_names = ["pixel_values", "g_pixel_values", "prompt_masks", "vp_overall_mask"]
    valid_kwargs = Sa2VAImageProcessorKwargs

    image_size = 448
    patch_size = 14
    downsample_ratio = 0.5
    min_tiles = 1
    max_tiles = 12
    use_thumbnail = True
    grounding_size = 1024
    normalize_grounding = False
    return_grounding = True
    prompt_mask_mode = "nearest"
    min_region_cells = 1
    empty_region = "error"
    max_image_pixels = None
    num_threads = 1
    image_mean = list(IMAGENET_MEAN)
    image_std = list(IMAGENET_STD)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("image_processor_type", None)
        options = {name: kwargs.pop(name) for name in OPTION_NAMES if name in kwargs}
        ImageOptions.resolve(type(self), options)  # refuse bad settings before storing any
        super().__init__(**kwargs)
        for name in OPTION_NAMES:
            value = options.get(name, getattr(type(self), name))
            setattr(self, name, list(value) if name in ("image_mean", "image_std") else value)

    @property
    def grid_size(self) -> int:
        """Side of the token grid of one tile (16 by default)."""
        return grid_size(self.image_size, self.patch_size, self.downsample_ratio)

    @property
    def tokens_per_tile(self) -> int:
        return self.grid_size**2

    def choose_grid(self, width: int, height: int) -> tuple[int, int]:
        return choose_grid(width, height, self.min_tiles, self.max_tiles, self.image_size)

    def num_tiles(self, width: int, height: int) -> int:
        return num_tiles(width, height, self.min_tiles, self.max_tiles, self.image_size, self.use_thumbnail)

    def resolve_options(self, **overrides: Any) -> ImageOptions:
        """This processor's options with ``overrides`` applied, checked."""
        return ImageOptions.resolve(self, overrides)

    # -- entry point

    def __call__(self, images, visual_prompts=None, masks=None, return_tensors=None, **overrides) -> BatchFeature:
        return self.preprocess(
            images, visual_prompts=visual_prompts, masks=masks, return_tensors=return_tensors, **overrides
        )

    def preprocess(self, images, visual_prompts=None, masks=None, return_tensors=None, **overrides) -> BatchFeature:
        """Process one image or a list of images (see the class docstring and SPEC §5 for the layout).

        ``visual_prompts`` / ``masks``: per image an (n, H, W) array, a list of (H, W) arrays,
        or a list of RLE dicts / polygon lists; for a list of images, a list of those.
        """
        opts = self.resolve_options(**overrides)
        batched = isinstance(images, (list, tuple))
        image_list = list(images) if batched else [images]
        prompt_list = per_image(visual_prompts, batched, len(image_list), "visual_prompts")
        mask_list = per_image(masks, batched, len(image_list), "masks")
        table = normalization_table(opts.image_mean, opts.image_std)
        grounding = GroundingTransform(opts.grounding_size, opts.image_mean, opts.image_std)

        pixel_values, num_patches, grounding_images, vp_overall = [], [], [], []
        prompt_masks, region_pixels, dropped, gt_masks = [], [], [], []
        pool = _thread_pool() if opts.num_threads > 1 and opts.return_grounding else None
        for i, image in enumerate(image_list):
            rgb = to_rgb_image(image, opts.max_image_pixels)
            w, h = rgb.size
            pending = pool.submit(grounding, rgb, opts.normalize_grounding) if pool else None
            tiles = tile_image(rgb, opts.min_tiles, opts.max_tiles, opts.image_size, opts.use_thumbnail)
            pixel_values.append(normalize_tiles(tiles, table))
            num_patches.append(len(tiles))
            if pending is not None:
                grounding_images.append(pending.result())
            elif opts.return_grounding:
                grounding_images.append(grounding(rgb, opts.normalize_grounding))

            has_prompt = False
            if visual_prompts is not None:
                stack = as_mask_stack(prompt_list[i], h, w, f"visual_prompts of image {i}")
                cells = masks_to_grid(stack, opts.grid_size, opts.prompt_mask_mode, opts.image_size)
                cells, counts, gone = apply_empty_region_policy(cells, opts.min_region_cells, opts.empty_region, i)
                prompt_masks.append(cells)
                region_pixels.append(counts)
                dropped.append(gone)
                has_prompt = len(counts) > 0
            vp_overall.append(np.array([False] * (len(tiles) - 1) + [has_prompt]))
            if masks is not None:
                gt_masks.append(as_mask_stack(mask_list[i], h, w, f"masks of image {i}"))

        data: dict[str, Any] = {
            "pixel_values": np.concatenate(pixel_values),
            "num_patches": np.asarray(num_patches, dtype=np.int64),
            "vp_overall_mask": np.concatenate(vp_overall),
        }
        if opts.return_grounding:
            data["g_pixel_values"] = np.stack(grounding_images)
        if visual_prompts is not None:
            data["prompt_masks"] = prompt_masks
            data["region_pixels"] = region_pixels
            if opts.empty_region == "drop":
                data["dropped_regions"] = dropped
        if masks is not None:
            data["masks"] = gt_masks
        return BatchFeature(data=convert_tensors(data, return_tensors))


@functools.lru_cache(maxsize=1)
def _thread_pool() -> ThreadPoolExecutor:
    # One worker is all the overlap needs: the grounding resize runs beside the tiling.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sa2va-grounding")


def convert_tensors(data: dict[str, Any], return_tensors: Any) -> dict[str, Any]:
    """numpy arrays (and lists of them) -> torch tensors for ``"pt"``; ``None``/``"np"`` keep numpy."""
    if return_tensors in (None, "np"):
        return data
    if return_tensors != "pt":
        raise Sa2VAError(f"return_tensors must be None, 'np' or 'pt', got {return_tensors!r}")
    try:  # optional; in a try so transformers' remote-code import check does not demand torch
        import torch
    except ImportError:
        raise ImportError("return_tensors='pt' needs torch: pip install torch") from None

    def to_pt(v):
        if isinstance(v, np.ndarray):
            return torch.from_numpy(v)
        if isinstance(v, list) and v and isinstance(v[0], np.ndarray):
            return [torch.from_numpy(x) for x in v]
        return v

    return {k: to_pt(v) for k, v in data.items()}


__all__ = ["ImageOptions", "Sa2VAImageProcessor", "Sa2VAImageProcessorKwargs"]
