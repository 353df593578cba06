"""Every input layout the processor accepts, coerced in one place.

* images (a path, a PIL image, an array) -> an RGB PIL image, as upstream's ``convert("RGB")``;
* one image or a list of them -> a list, and per-image extras (visual prompts, masks) matched to it;
* mask inputs ((n, H, W) arrays, lists of (H, W) arrays, RLE dicts, polygon lists) -> a binary
  (n, H, W) uint8 stack at the image's size;
* videos (a list of frames, an (F, H, W, 3) array, or a batch of those) and their per-frame masks.

Bad input ends here as a :class:`~sa2va_hf.errors.Sa2VAError` naming what disagrees.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import Image

from .errors import ImageLoadError, Sa2VAError, ShapeMismatchError
from .image_io import open_image
from .masks import decode_many, is_rle


def is_array_like(value: Any) -> bool:
    """A numpy array, a torch tensor or anything else numpy can view -- but not a list or tuple."""
    return hasattr(value, "__array__") and not isinstance(value, (list, tuple))


# --------------------------------------------------------------------------- images


def to_rgb_image(image: Any, max_pixels: int | None = None) -> Image.Image:
    """A PIL image in RGB from a path, a PIL image, or an (H, W, 3) / (H, W) uint8 array."""
    if isinstance(image, (str, os.PathLike)):
        return open_image(image, max_pixels)
    if isinstance(image, Image.Image):
        return image if image.mode == "RGB" else image.convert("RGB")
    if is_array_like(image):
        arr = np.asarray(image)
        if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
            raise ShapeMismatchError(
                f"an image array must be (H, W, 3) or (H, W) uint8, got shape {arr.shape} dtype {arr.dtype}"
            )
        return Image.fromarray(np.ascontiguousarray(arr)).convert("RGB")
    raise ImageLoadError(f"cannot read an image from {type(image).__name__}; give a path, a PIL image or an array")


def per_image(value: Any, batched: bool, n: int, name: str) -> list[Any]:
    """One entry of a per-image argument (``visual_prompts``, ``masks``) for each of ``n`` images."""
    if value is None:
        return [None] * n
    if not batched:
        return [value]
    if not isinstance(value, (list, tuple)) or len(value) != n:
        got = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
        raise ShapeMismatchError(f"{name} must be a list with one entry per image ({n} images), got {got}")
    return list(value)


# --------------------------------------------------------------------------- masks


def as_mask_stack(value: Any, height: int, width: int, what: str) -> np.ndarray:
    """Any per-image mask input -> binary (n, H, W) uint8; H, W must be the image's."""
    if value is None:
        return np.zeros((0, height, width), dtype=np.uint8)
    if is_array_like(value):
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


# --------------------------------------------------------------------------- videos


def _is_frame(x: Any) -> bool:
    if isinstance(x, (str, bytes)) or hasattr(x, "getpixel"):
        return True
    if is_array_like(x):
        return np.asarray(x).ndim in (2, 3)
    return hasattr(x, "__fspath__")


def is_video_batch(videos: Any) -> bool:
    """A list of videos (or a (B, F, H, W, 3) array), as opposed to one video."""
    if is_array_like(videos):
        return np.asarray(videos).ndim == 5
    return isinstance(videos, (list, tuple)) and len(videos) > 0 and not _is_frame(videos[0])


def as_video_batch(videos: Any) -> list[list[Any]]:
    """One video or a batch of them -> a list of frame lists."""
    if is_array_like(videos):
        arr = np.asarray(videos)
        if arr.ndim == 4:
            return [list(arr)]
        if arr.ndim == 5:
            return [list(v) for v in arr]
        raise ShapeMismatchError(f"a video array must be (F, H, W, 3) or (B, F, H, W, 3), got {arr.shape}")
    if not isinstance(videos, (list, tuple)) or not videos:
        raise Sa2VAError("videos must be a list of frames, an (F, H, W, 3) array, or a list of videos")
    if is_video_batch(videos):
        return [list(v) for v in videos]
    return [list(videos)]


def video_masks(value: Any, n_frames: int, h: int, w: int, what: str) -> np.ndarray:
    """(n_obj, F, H, W) array or [obj][frame] masks (None = empty) -> (n_obj * F, H, W) uint8."""
    if value is None:
        return np.zeros((0, h, w), dtype=np.uint8)
    if is_array_like(value):
        arr = np.asarray(value)
        if arr.ndim != 4 or arr.shape[1:] != (n_frames, h, w):
            raise ShapeMismatchError(f"{what}: expected (n_obj, {n_frames}, {h}, {w}), got {arr.shape}")
        return (arr != 0).astype(np.uint8).reshape(-1, h, w)
    if not isinstance(value, (list, tuple)):
        raise ShapeMismatchError(
            f"{what}: expected an (n_obj, {n_frames}, {h}, {w}) array or a list over objects of per-frame masks, "
            f"got {type(value).__name__}"
        )
    out = []
    for o, per_frame in enumerate(value):
        if not isinstance(per_frame, (list, tuple)) and not (is_array_like(per_frame) and np.ndim(per_frame) == 3):
            raise ShapeMismatchError(f"{what}[{o}]: expected one mask per frame ({n_frames})")
        if len(per_frame) != n_frames:
            raise ShapeMismatchError(f"{what}[{o}]: {len(per_frame)} masks for {n_frames} frames")
        for f, m in enumerate(per_frame):
            if m is None:
                out.append(np.zeros((h, w), dtype=np.uint8))
            else:
                out.append(as_mask_stack([m], h, w, f"{what}[{o}][{f}]")[0])
    return np.stack(out) if out else np.zeros((0, h, w), dtype=np.uint8)
