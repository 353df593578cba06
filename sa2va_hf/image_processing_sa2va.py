"""Pixels for Sa2VA: InternVL dynamic tiles, the SAM2 grounding image, and visual prompts on the token grid.

Everything here is numpy + PIL and reproduces the upstream recipe bit for bit
(``projects/llava_sam2/datasets``):

* ``pixel_values``: ``dynamic_preprocess`` tiles (thumbnail last), each ``x/255`` then
  ``(x - mean) / std`` in float32 -- what ``ToTensor`` + ``Normalize`` compute;
* ``g_pixel_values``: the RGB image resized to 1024x1024 (PIL BICUBIC), uint8 CHW;
* ``prompt_masks``: visual-prompt masks on the 16x16 token grid, with torch's legacy
  ``nearest`` rule (upstream Osprey) or ``nearest to 448 then 28x28 mean > 0.5`` (``pool``);
* ``vp_overall_mask``: which tiles carry the prompt (the last one: the thumbnail);
* ``masks``: ground-truth masks at the image's own size.
"""

from __future__ import annotations

import functools
import numbers
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.processing_utils import ImagesKwargs

from .errors import EmptyRegionError, Sa2VAError, ShapeMismatchError
from .image_io import to_rgb_image
from .masks import decode_many, is_rle

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PROMPT_MASK_MODES = ("nearest", "pool")
EMPTY_REGION_POLICIES = ("error", "drop", "keep")


# --------------------------------------------------------------------------- tiling


def candidate_grids(min_tiles: int, max_tiles: int) -> list[tuple[int, int]]:
    """(cols, rows) candidates in upstream's order.

    Upstream builds a *set* and sorts it by area; ``sorted`` is stable, so grids of equal
    area keep the set's iteration order, which decides exact ties (e.g. 1x4 vs 4x1 around
    W/H = 0.625). Building the same set reproduces that order exactly.
    """
    grids = {
        (i, j)
        for n in range(min_tiles, max_tiles + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if min_tiles <= i * j <= max_tiles
    }
    return sorted(grids, key=lambda g: g[0] * g[1])


def choose_grid(
    width: int, height: int, min_tiles: int = 1, max_tiles: int = 12, tile_size: int = 448
) -> tuple[int, int]:
    """The (cols, rows) grid InternVL's ``dynamic_preprocess`` picks for a width x height image."""
    aspect = width / height
    area = width * height
    best, best_diff = (1, 1), float("inf")
    for cols, rows in candidate_grids(min_tiles, max_tiles):
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and area > 0.5 * tile_size * tile_size * cols * rows:
            best = (cols, rows)
    return best


def tile_image(
    image: Image.Image, min_tiles: int = 1, max_tiles: int = 12, tile_size: int = 448, use_thumbnail: bool = True
) -> np.ndarray:
    """The dynamic tiles of an RGB image as a (T, S, S, 3) uint8 array, thumbnail last."""
    cols, rows = choose_grid(image.width, image.height, min_tiles, max_tiles, tile_size)
    s = tile_size
    # Slicing the resized array is exactly PIL's crop, without T intermediate images.
    big = np.asarray(image.resize((s * cols, s * rows)))
    tiles = big.reshape(rows, s, cols, s, 3).swapaxes(1, 2).reshape(rows * cols, s, s, 3)
    if use_thumbnail and rows * cols != 1:
        thumb = np.asarray(image.resize((s, s)))
        tiles = np.concatenate([tiles, thumb[None]], axis=0)
    return tiles


def normalization_table(mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """(3, 256) float32: every uint8 value through ``x/255`` then ``(x - mean)/std``, in float32.

    A lookup is bit-identical to computing the same float32 ops per pixel (same inputs,
    same ops), and one gather replaces three passes over the tile.
    """
    x = np.arange(256, dtype=np.float32) / np.float32(255)
    m = np.asarray(mean, dtype=np.float32)[:, None]
    s = np.asarray(std, dtype=np.float32)[:, None]
    return (x[None, :] - m) / s


def normalize_tiles(tiles: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(T, S, S, 3) uint8 -> (T, 3, S, S) float32 through a :func:`normalization_table`."""
    out = np.empty((tiles.shape[0], 3, tiles.shape[1], tiles.shape[2]), dtype=np.float32)
    for c in range(3):
        np.take(table[c], tiles[..., c], out=out[:, c])
    return out


# --------------------------------------------------------------------------- masks on the grid


def nearest_source_indices(in_size: int, out_size: int) -> np.ndarray:
    """Source index per output index of torch's legacy ``nearest`` (``F.interpolate`` default).

    ``src = min(floor(dst * float32(in / out)), in - 1)`` in float32, as ATen's
    ``nearest_idx`` computes it (its two shortcuts give the same numbers).
    """
    scale = np.float32(in_size) / np.float32(out_size)
    src = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def resize_nearest(masks: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """(n, H, W) -> (n, out_h, out_w) by torch's legacy nearest rule (pure subsampling)."""
    rows = nearest_source_indices(masks.shape[1], out_h)
    cols = nearest_source_indices(masks.shape[2], out_w)
    return masks[:, rows[:, None], cols[None, :]]


def _adaptive_bounds(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(out_size)
    return (i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)  # floor, ceil


def pool_majority(masks: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """``adaptive_avg_pool2d(mask) > 0.5`` for binary masks, exactly, in integers (2*sum > area)."""
    n, h, w = masks.shape
    integral = np.zeros((n, h + 1, w + 1), dtype=np.int64)
    np.cumsum(np.cumsum(masks, axis=1, dtype=np.int64), axis=2, out=integral[:, 1:, 1:])
    r0, r1 = _adaptive_bounds(h, out_h)
    c0, c1 = _adaptive_bounds(w, out_w)
    sums = (
        integral[:, r1[:, None], c1[None, :]]
        - integral[:, r0[:, None], c1[None, :]]
        - integral[:, r1[:, None], c0[None, :]]
        + integral[:, r0[:, None], c0[None, :]]
    )
    area = (r1 - r0)[:, None] * (c1 - c0)[None, :]
    return (2 * sums > area).astype(np.uint8)


def masks_to_grid(masks: np.ndarray, grid_size: int, mode: str = "nearest", image_size: int = 448) -> np.ndarray:
    """Binary (n, H, W) masks -> (n, g, g) uint8 prompt masks on the token grid."""
    if mode == "nearest":
        return (resize_nearest(masks, grid_size, grid_size) != 0).astype(np.uint8)
    if mode == "pool":
        return pool_majority(
            (resize_nearest(masks, image_size, image_size) != 0).astype(np.uint8), grid_size, grid_size
        )
    raise Sa2VAError(f"prompt_mask_mode must be one of {PROMPT_MASK_MODES}, got {mode!r}")


# --------------------------------------------------------------------------- the processor


class Sa2VAImageProcessorKwargs(ImagesKwargs, total=False):
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

    _PARAMS = (
        "image_size", "patch_size", "downsample_ratio", "min_tiles", "max_tiles", "use_thumbnail",
        "grounding_size", "normalize_grounding", "return_grounding", "prompt_mask_mode",
        "min_region_cells", "empty_region", "max_image_pixels", "num_threads", "image_mean", "image_std",
    )  # fmt: skip

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("image_processor_type", None)
        params = {name: kwargs.pop(name, getattr(type(self), name)) for name in self._PARAMS}
        self._validate(params)
        super().__init__(**kwargs)
        for name, value in params.items():
            setattr(self, name, list(value) if name in ("image_mean", "image_std") else value)

    # -- parameters

    @staticmethod
    def _validate(p: dict[str, Any]) -> None:
        if p["prompt_mask_mode"] not in PROMPT_MASK_MODES:
            raise Sa2VAError(f"prompt_mask_mode must be one of {PROMPT_MASK_MODES}, got {p['prompt_mask_mode']!r}")
        if p["empty_region"] not in EMPTY_REGION_POLICIES:
            raise Sa2VAError(f"empty_region must be one of {EMPTY_REGION_POLICIES}, got {p['empty_region']!r}")
        if not isinstance(p["num_threads"], int) or p["num_threads"] < 1:
            raise Sa2VAError(f"num_threads must be a positive int, got {p['num_threads']!r}")
        for name in ("image_size", "min_tiles", "max_tiles", "grounding_size"):
            if isinstance(p[name], bool) or not isinstance(p[name], numbers.Integral):
                raise Sa2VAError(f"{name} must be an int, got {p[name]!r}")
        if not 1 <= p["min_tiles"] <= p["max_tiles"]:
            raise Sa2VAError(f"need 1 <= min_tiles <= max_tiles, got {p['min_tiles']}, {p['max_tiles']}")
        if int(p["image_size"] // p["patch_size"] * p["downsample_ratio"]) < 1:
            raise Sa2VAError("image_size // patch_size * downsample_ratio must be at least 1")

    def _params(self, overrides: dict[str, Any]) -> dict[str, Any]:
        unknown = set(overrides) - set(self._PARAMS)
        if unknown:
            raise Sa2VAError(f"unknown Sa2VAImageProcessor option(s): {sorted(unknown)}; known: {list(self._PARAMS)}")
        params = {name: overrides.get(name, getattr(self, name)) for name in self._PARAMS}
        if overrides:
            self._validate(params)
        return params

    @property
    def grid_size(self) -> int:
        """Side of the token grid of one tile (16 by default)."""
        return int(self.image_size // self.patch_size * self.downsample_ratio)

    @property
    def tokens_per_tile(self) -> int:
        return self.grid_size**2

    def choose_grid(self, width: int, height: int) -> tuple[int, int]:
        return choose_grid(width, height, self.min_tiles, self.max_tiles, self.image_size)

    def num_tiles(self, width: int, height: int) -> int:
        cols, rows = self.choose_grid(width, height)
        return cols * rows + (1 if self.use_thumbnail and cols * rows > 1 else 0)

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
        p = self._params(overrides)
        batched = isinstance(images, (list, tuple))
        image_list = list(images) if batched else [images]
        prompt_list = _per_image(visual_prompts, batched, len(image_list), "visual_prompts")
        mask_list = _per_image(masks, batched, len(image_list), "masks")
        table = normalization_table(p["image_mean"], p["image_std"])
        grid = int(p["image_size"] // p["patch_size"] * p["downsample_ratio"])

        pixel_values, num_patches, grounding, vp_overall = [], [], [], []
        prompt_masks, region_pixels, dropped, gt_masks = [], [], [], []
        pool = _thread_pool() if p["num_threads"] > 1 and p["return_grounding"] else None
        for i, image in enumerate(image_list):
            rgb = to_rgb_image(image, p["max_image_pixels"])
            w, h = rgb.size
            pending = pool.submit(self._grounding, rgb, p, table) if pool else None
            tiles = tile_image(rgb, p["min_tiles"], p["max_tiles"], p["image_size"], p["use_thumbnail"])
            pixel_values.append(normalize_tiles(tiles, table))
            num_patches.append(len(tiles))
            if pending is not None:
                grounding.append(pending.result())
            elif p["return_grounding"]:
                grounding.append(self._grounding(rgb, p, table))

            has_prompt = False
            if visual_prompts is not None:
                stack = as_mask_stack(prompt_list[i], h, w, f"visual_prompts of image {i}")
                cells = masks_to_grid(stack, grid, p["prompt_mask_mode"], p["image_size"])
                cells, counts, gone = _apply_empty_region_policy(cells, p, i)
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
        if p["return_grounding"]:
            data["g_pixel_values"] = np.stack(grounding)
        if visual_prompts is not None:
            data["prompt_masks"] = prompt_masks
            data["region_pixels"] = region_pixels
            if p["empty_region"] == "drop":
                data["dropped_regions"] = dropped
        if masks is not None:
            data["masks"] = gt_masks
        return BatchFeature(data=convert_tensors(data, return_tensors))

    @staticmethod
    def _grounding(rgb: Image.Image, p: dict[str, Any], table: np.ndarray) -> np.ndarray:
        size = p["grounding_size"]
        arr = np.asarray(rgb.resize((size, size)))
        if p["normalize_grounding"]:
            return normalize_tiles(arr[None], table)[0]
        return np.ascontiguousarray(arr.transpose(2, 0, 1))


# --------------------------------------------------------------------------- helpers


@functools.lru_cache(maxsize=1)
def _thread_pool() -> ThreadPoolExecutor:
    # One worker is all the overlap needs: the grounding resize runs beside the tiling.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="sa2va-grounding")


def _per_image(value: Any, batched: bool, n: int, name: str) -> list[Any]:
    if value is None:
        return [None] * n
    if not batched:
        return [value]
    if not isinstance(value, (list, tuple)) or len(value) != n:
        got = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
        raise ShapeMismatchError(f"{name} must be a list with one entry per image ({n} images), got {got}")
    return list(value)


def as_mask_stack(value: Any, height: int, width: int, what: str) -> np.ndarray:
    """Any per-image mask input -> binary (n, H, W) uint8; H, W must be the image's."""
    if value is None:
        return np.zeros((0, height, width), dtype=np.uint8)
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != (height, width):
            raise ShapeMismatchError(
                f"{what}: mask shape {tuple(arr.shape)} does not match the image (H, W) = ({height}, {width})"
            )
        return (arr != 0).astype(np.uint8)
    if not isinstance(value, (list, tuple)):
        raise Sa2VAError(f"{what}: expected an (n, H, W) array or a list of masks, got {type(value).__name__}")
    if all(is_rle(v) or (isinstance(v, (list, tuple)) and v and isinstance(v[0], (list, tuple))) for v in value):
        return decode_many(value, height, width, record=what)
    if not value:
        return np.zeros((0, height, width), dtype=np.uint8)
    parts = []
    for k, v in enumerate(value):
        one = as_mask_stack(v, height, width, f"{what}[{k}]")
        if len(one) != 1:
            raise ShapeMismatchError(f"{what}[{k}]: expected one (H, W) mask, got shape {tuple(np.shape(v))}")
        parts.append(one[0])
    return np.stack(parts)


def _apply_empty_region_policy(cells: np.ndarray, p: dict[str, Any], image_index: int):
    counts = cells.sum(axis=(1, 2), dtype=np.int64).tolist()
    empty = [k for k, c in enumerate(counts) if c < p["min_region_cells"]]
    if not empty:
        return cells, counts, []
    detail = ", ".join(f"region {k} has {counts[k]}" for k in empty)
    policy = p["empty_region"]
    if policy == "error":
        raise EmptyRegionError(
            f"image {image_index}: {detail} grid cell(s), fewer than min_region_cells={p['min_region_cells']}; "
            "pass empty_region='drop' or 'keep' to accept it"
        )
    if policy == "keep":
        warnings.warn(f"image {image_index}: {detail} grid cell(s); kept as upstream v1 does", stacklevel=4)
        return cells, counts, []
    keep = [k for k in range(len(counts)) if k not in empty]
    return cells[keep], [counts[k] for k in keep], empty


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
