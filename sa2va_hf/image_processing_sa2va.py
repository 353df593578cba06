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

from types import SimpleNamespace
from typing import Any

import numpy as np
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.processing_utils import ImagesKwargs

from .errors import Sa2VAError
from .grounding import SAM2_GROUNDING, GroundingTransform
from .image_pipeline import ImagePixels
from .inputs import as_mask_stack, image_batch, per_image
from .masks import is_rle
from .options import (
    FIXED_OPTIONS,
    GENERIC_OPTIONS,
    MAX_SIDE,
    MAX_TILES,
    check_int,
    check_shared_options,
    is_real,
    pop_config_metadata,
    refuse_unknown_and_fixed,
)
from .prompt_grid import (
    EMPTY_REGION_POLICIES,
    PROMPT_MASK_MODES,
    apply_empty_region_policy,
    masks_to_grid,
    segmentations_to_grid,
)
from .resize import check_backend
from .threads import MAX_THREADS
from .tiling import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    choose_grid,
    grid_size,
    num_tiles,
)


class Sa2VAImageProcessorKwargs(ImagesKwargs, total=False):
    """Sa2VA's image options (documented on :class:`Sa2VAImageProcessor`, defaults are its class
    attributes), on top of transformers' generic ones, each honoured or refused (see ``_FIXED``)."""

    image_size: int
    patch_size: int
    downsample_ratio: float
    min_tiles: int
    max_tiles: int
    use_thumbnail: bool
    grounding_size: int
    grounding_mean: list[float]
    grounding_std: list[float]
    normalize_grounding: bool
    return_grounding: bool
    prompt_mask_mode: str
    min_region_cells: int
    empty_region: str
    max_image_pixels: int | None
    num_threads: int | None
    resize_backend: str
    normalize_tiles: bool


#: Every option an instance stores and a call may override.
OPTION_NAMES = (
    tuple(k for k in Sa2VAImageProcessorKwargs.__annotations__ if k not in ImagesKwargs.__annotations__)
    + GENERIC_OPTIONS
)

#: Generic options whose meaning the recipe fixes (see :data:`options.FIXED_OPTIONS`), with tiling's own.
_FIXED = {
    **FIXED_OPTIONS,
    "do_resize": ((None, True), "dynamic tiling always resizes"),
    "size": ((None,), "tiles are image_size x image_size and the grounding image grounding_size; set those"),
    "default_to_square": ((None, True), "every resize here is to a square"),
    "data_format": ((None, "channels_first"), "pixel_values are channels-first"),
}


class ImageOptions(SimpleNamespace):
    """The options of one call (the instance's, overridden by the call's), checked once."""

    @classmethod
    def resolve(cls, defaults: Any, overrides: dict[str, Any]) -> "ImageOptions":
        refuse_unknown_and_fixed(overrides, Sa2VAImageProcessorKwargs.__annotations__, _FIXED, "Sa2VAImageProcessor")
        options = cls(**{name: overrides.get(name, getattr(defaults, name)) for name in OPTION_NAMES})
        options.check(overrides.get("image_seq_length"))
        return options

    def check(self, image_seq_length: int | None = None) -> None:
        if self.prompt_mask_mode not in PROMPT_MASK_MODES:
            raise Sa2VAError(f"prompt_mask_mode must be one of {PROMPT_MASK_MODES}, got {self.prompt_mask_mode!r}")
        if self.empty_region not in EMPTY_REGION_POLICIES:
            raise Sa2VAError(f"empty_region must be one of {EMPTY_REGION_POLICIES}, got {self.empty_region!r}")
        bounds = {
            "image_size": (1, MAX_SIDE), "patch_size": (1, MAX_SIDE),
            "min_tiles": (1, MAX_TILES), "max_tiles": (1, MAX_TILES), "num_threads": (1, MAX_THREADS),
            "min_region_cells": (0, None),
        }  # fmt: skip
        for name, (low, high) in bounds.items():
            if not (name == "num_threads" and getattr(self, name) is None):  # the default: see sa2va_hf.threads
                check_int(getattr(self, name), name, low, high)
        if not 1 <= self.min_tiles <= self.max_tiles:
            raise Sa2VAError(f"need 1 <= min_tiles <= max_tiles, got {self.min_tiles}, {self.max_tiles}")
        check_backend(self.resize_backend)
        flags = ("use_thumbnail", "normalize_grounding", "return_grounding", "do_rescale", "do_normalize",
                 "normalize_tiles")  # fmt: skip
        check_shared_options(self, flags)
        if not is_real(self.downsample_ratio) or not 0 < self.downsample_ratio < float("inf"):
            raise Sa2VAError(f"downsample_ratio must be a positive number, got {self.downsample_ratio!r}")
        if self.grid_size < 1:
            raise Sa2VAError(
                f"image_size // patch_size * downsample_ratio must be at least 1, got "
                f"{self.image_size} // {self.patch_size} * {self.downsample_ratio}"
            )
        if image_seq_length is not None and image_seq_length != self.grid_size**2:
            raise Sa2VAError(
                f"image_seq_length={image_seq_length!r} but this processor gives {self.grid_size**2} tokens per tile "
                "(image_size // patch_size * downsample_ratio, squared); set those instead"
            )

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
        grounding_size: side of ``g_pixel_values`` (1024, SAM2's input; 1008 for SAM3).
        grounding_mean, grounding_std: how the model normalizes ``g_pixel_values`` (ImageNet, for
            SAM2 and Sa2VA's SAM3); used only with ``normalize_grounding``.
        normalize_grounding: return ``g_pixel_values`` normalized as float32 (what the model
            computes itself) instead of uint8 0..255.
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
        num_threads: threads for one call (``None``, the default: every core in a plain call, one
            inside a DataLoader worker, ``datasets.map(num_proc=...)`` or another process pool, or
            ``SA2VA_HF_NUM_THREADS``; see :mod:`sa2va_hf.threads`). With 2 or more, the three
            resizes of an image and the images of a batch run side by side. Outputs are identical.
        resize_backend: ``"pil"`` (default: PIL's bicubic, bit-identical to the recipe) or
            ``"torch"`` (torch's uint8 antialiased bicubic: several times faster, every value within
            2 grey levels of PIL's before normalization; needs torch). See :mod:`sa2va_hf.resize`.
        do_rescale, rescale_factor, do_normalize, image_mean, image_std: the tiles' ``x / 255``
            and ``(x - mean) / std`` steps, as in every transformers image processor (the
            grounding image has its own, ``grounding_mean`` / ``grounding_std``).
        normalize_tiles: ``True`` (default): ``pixel_values`` are the normalized float32 tiles;
            ``False``: the resized uint8 tiles, before ``do_rescale`` / ``do_normalize`` -- a quarter of the
            bytes, for a caller that normalizes them later with the same float32 arithmetic
            (``sa2va_hf.tiling.normalization_table``; the training transform's ``compact_samples``).
        do_convert_rgb: convert non-RGB images with PIL's ``convert("RGB")`` (upstream's rule);
            ``False`` refuses them instead.
        input_data_format: ``"channels_last"`` / ``"channels_first"`` for image arrays whose
            layout is ambiguous (otherwise inferred).

    Generic transformers options that would change the recipe (``size``, ``do_resize=False``,
    ``resample``, cropping, padding, ...) are refused with the reason, never stored and ignored.
    """

    model_input_names = [
        "pixel_values", "num_patches", "g_pixel_values", "vp_overall_mask", "prompt_masks", "region_pixels",
        "dropped_regions", "masks",
    ]  # fmt: skip
    valid_kwargs = Sa2VAImageProcessorKwargs

    image_size = 448
    patch_size = 14
    downsample_ratio = 0.5
    min_tiles = 1
    max_tiles = 12
    use_thumbnail = True
    grounding_size = 1024
    grounding_mean = list(SAM2_GROUNDING.mean)
    grounding_std = list(SAM2_GROUNDING.std)
    normalize_grounding = False
    return_grounding = True
    prompt_mask_mode = "nearest"
    min_region_cells = 1
    empty_region = "error"
    max_image_pixels = None
    num_threads = None
    resize_backend = "pil"
    normalize_tiles = True
    image_mean = list(IMAGENET_MEAN)
    image_std = list(IMAGENET_STD)
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    input_data_format = None

    def __init__(self, **kwargs: Any) -> None:
        metadata = pop_config_metadata(kwargs)
        options = ImageOptions.resolve(type(self), kwargs)  # refuses unknown and recipe-changing options
        super().__init__(**metadata)
        for name in OPTION_NAMES:
            setattr(self, name, getattr(options, name))

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

    def required_imports(self) -> dict[str, str]:
        """Imports beyond numpy / PIL / transformers that this processor's settings compute with, and
        what for (a saved processor declares them as required, not optional)."""
        return {"torch": "resize_backend='torch'"} if self.resize_backend == "torch" else {}

    def resolve_options(self, **overrides: Any) -> ImageOptions:
        """This processor's options with ``overrides`` applied, checked."""
        return ImageOptions.resolve(self, overrides)

    def image_token_count(self, width: int, height: int, **overrides: Any) -> int:
        """``<IMG_CONTEXT>`` tokens of a ``width`` x ``height`` image's tiles (its regions aside), from the
        tiling rule alone: 256 per tile by default. No pixel is read."""
        opts = self.resolve_options(**overrides)
        tiles = num_tiles(width, height, opts.min_tiles, opts.max_tiles, opts.image_size, opts.use_thumbnail)
        return tiles * opts.grid_size**2

    def image_token_counts(self, features: Any, **overrides: Any) -> list[int]:
        """``<IMG_CONTEXT>`` tokens of each image's tiles in ``features`` (an output of this processor)."""
        tokens_per_tile = self.resolve_options(**overrides).grid_size ** 2
        num_patches = features["num_patches"]
        num_patches = num_patches.cpu() if hasattr(num_patches, "cpu") else num_patches
        return [tokens_per_tile * int(t) for t in np.asarray(num_patches).reshape(-1)]

    def mode_options(self, mode: str, video: bool = False, **overrides: Any) -> dict[str, Any]:
        """Options on top of a call's that make an image what ``mode`` builds: the same in inference
        (``predict_forward``) and training; a video frame is one tile, one thread (the video processor
        runs the grounding images beside it)."""
        if video:
            return {"min_tiles": 1, "max_tiles": 1, "use_thumbnail": False, "num_threads": 1}
        return {}

    @staticmethod
    def _prompt_cells(value: Any, height: int, width: int, opts: ImageOptions, what: str) -> np.ndarray:
        """One image's visual prompts on the token grid: RLE / polygons from their runs, arrays through pixels."""
        if (
            isinstance(value, (list, tuple))
            and value
            and all(
                is_rle(v) or (isinstance(v, (list, tuple)) and v and isinstance(v[0], (list, tuple))) for v in value
            )
        ):
            return segmentations_to_grid(
                value, height, width, opts.grid_size, opts.prompt_mask_mode, opts.image_size, record=what
            )
        stack = as_mask_stack(value, height, width, what)
        return masks_to_grid(stack, opts.grid_size, opts.prompt_mask_mode, opts.image_size)

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
        image_list, _, batched = image_batch(images)
        prompt_list = per_image(visual_prompts, batched, len(image_list), "visual_prompts")
        mask_list = per_image(masks, batched, len(image_list), "masks")
        grounding = GroundingTransform(opts.grounding_size, opts.grounding_mean, opts.grounding_std)
        pixels = ImagePixels(image_list, opts, grounding if opts.return_grounding else None)
        pixels.start()  # with a pool, the resizes run while the prompts and masks are worked out here
        try:
            vp_overall, prompt_masks, region_pixels, dropped, gt_masks = [], [], [], [], []
            for i, ((w, h), tiles) in enumerate(zip(pixels.sizes, pixels.num_patches.tolist())):
                has_prompt = False
                if visual_prompts is not None:
                    cells = self._prompt_cells(prompt_list[i], h, w, opts, f"visual_prompts of image {i}")
                    cells, counts, gone = apply_empty_region_policy(cells, opts.min_region_cells, opts.empty_region, i)
                    prompt_masks.append(cells)
                    region_pixels.append(counts)
                    dropped.append(gone)
                    has_prompt = len(counts) > 0
                vp_overall.append(np.array([False] * (tiles - 1) + [has_prompt]))
                if masks is not None:
                    gt_masks.append(as_mask_stack(mask_list[i], h, w, f"masks of image {i}"))
        except BaseException:
            pixels.cancel()
            raise
        pixel_values, num_patches, g_pixel_values = pixels.finish()

        data: dict[str, Any] = {
            "pixel_values": pixel_values,
            "num_patches": num_patches,
            "vp_overall_mask": np.concatenate(vp_overall),
        }
        if opts.return_grounding:
            data["g_pixel_values"] = g_pixel_values
        if visual_prompts is not None:
            data["prompt_masks"] = prompt_masks
            data["region_pixels"] = region_pixels
            if opts.empty_region == "drop":
                data["dropped_regions"] = dropped
        if masks is not None:
            data["masks"] = gt_masks
        return BatchFeature(data=convert_tensors(data, return_tensors))


def convert_tensors(data: dict[str, Any], return_tensors: Any) -> dict[str, Any]:
    """numpy arrays (and lists of them) -> torch tensors for ``"pt"``; ``None``/``"np"`` keep numpy."""
    return_tensors = getattr(return_tensors, "value", return_tensors)  # TensorType
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
