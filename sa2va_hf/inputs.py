"""Every input layout the processor accepts, coerced in one place.

* images (a path, a PIL image, an array) -> an RGB PIL image, as upstream's ``convert("RGB")``;
* one image or a list of them -> a list, and per-image extras (visual prompts, masks) matched to it;
* mask inputs ((n, H, W) arrays, lists of (H, W) arrays, RLE dicts, polygon lists) -> a binary
  (n, H, W) uint8 stack at the image's size.

Videos and their per-frame masks: :mod:`video_processing_sa2va`.

Bad input ends here as a :class:`~sa2va_hf.errors.Sa2VAError` naming what disagrees.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from PIL import Image

from .errors import ImageLoadError, Sa2VAError, ShapeMismatchError
from .image_io import IMAGE_FILE_ERRORS, open_image
from .masks import decode_many, is_rle


def is_array_like(value: Any) -> bool:
    """A numpy array, a torch tensor or anything else numpy can view -- but not a list or tuple."""
    return hasattr(value, "__array__") and not isinstance(value, (list, tuple))


def as_numpy(value: Any) -> np.ndarray:
    """An array-like as numpy (a torch tensor is detached and moved to the CPU first)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu()
    return np.asarray(value)


# --------------------------------------------------------------------------- images

#: Channels an image array may have, and the PIL mode each is read as.
_ARRAY_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def to_rgb_image(
    image: Any,
    max_pixels: int | None = None,
    *,
    input_data_format: Any = None,
    do_convert_rgb: bool = True,
    what: str = "image",
) -> Image.Image:
    """An RGB PIL image from a path, a PIL image, or an array / tensor (uint8, or float in [0, 1]).

    Arrays are (H, W), or (H, W, C) / (C, H, W) with C = 1, 3 or 4, read as PIL modes L, RGB
    and RGBA. ``input_data_format`` (``"channels_last"`` / ``"channels_first"``) says which; without
    it the channel axis is the one of size 1, 3 or 4 -- the last for numpy arrays, the first for
    torch tensors where both could be (their usual layouts). Anything that is not RGB becomes
    RGB through PIL's ``convert("RGB")``, as upstream converts every image, unless
    ``do_convert_rgb=False``, which refuses it instead. Files are decoded by
    :func:`~sa2va_hf.image_io.open_image` (always to RGB, as upstream's ``Image.open().convert``).
    """
    if isinstance(image, (str, os.PathLike)):
        im = open_image(image, max_pixels)
    elif isinstance(image, Image.Image):
        im = load_image(image, what)
    elif is_array_like(image):
        im = _array_to_image(image, input_data_format, what)
    else:
        raise ImageLoadError(
            f"{what}: cannot read an image from {type(image).__name__}; give a path, a PIL image or an array"
        )
    if im.width == 0 or im.height == 0:
        raise ShapeMismatchError(f"{what} is {im.width}x{im.height} pixels (W x H); an image needs at least one")
    if im.mode == "RGB":
        return im
    if not do_convert_rgb:
        raise Sa2VAError(f"{what} is a {im.mode!r} image and do_convert_rgb=False; give RGB images or convert them")
    try:
        return im.convert("RGB")
    except (ValueError, OSError) as e:  # e.g. mode 'La' (premultiplied alpha): PIL has no direct conversion
        raise Sa2VAError(f"{what}: PIL cannot convert a {im.mode!r} image to RGB ({e}); convert it first") from None


#: Locks for reading lazily opened images, striped by object id: one image is read by one thread at a time.
_LOAD_LOCKS = tuple(threading.Lock() for _ in range(64))


def load_image(image: Image.Image, what: str = "image") -> Image.Image:
    """``image`` with its pixels read: a lazily opened file (``Image.open``) is decoded now, once.

    PIL reads a lazily opened file on first use, and two threads using it at once both read the
    same file handle (``OSError: image file is truncated``); here one thread reads it under a lock
    and every later use, on any thread, finds the pixels in memory. Errors name the image.
    """
    if getattr(image, "tile", None):  # a file not read yet
        with _LOAD_LOCKS[id(image) % len(_LOAD_LOCKS)]:
            try:
                image.load()
            except IMAGE_FILE_ERRORS as e:
                name = getattr(image, "filename", "") or ""
                where = f" (file {name!r})" if name else ""
                raise ImageLoadError(f"{what}{where} cannot be decoded: {e}") from None
    return image


def _array_to_image(image: Any, input_data_format: Any, what: str) -> Image.Image:
    arr = _as_uint8(as_numpy(image), what)
    if arr.ndim == 3:
        arr = _channels_last(arr, input_data_format, prefer_last=not type(image).__module__.startswith("torch"))
        if arr.shape[2] == 1:
            arr = arr[..., 0]
    elif arr.ndim != 2:
        raise ShapeMismatchError(f"{what}: an image array must be (H, W) or (H, W, C) / (C, H, W), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeMismatchError(f"{what} is {arr.shape[1]}x{arr.shape[0]} pixels (W x H); an image needs at least one")
    mode = "L" if arr.ndim == 2 else _ARRAY_MODES[arr.shape[2]]
    return Image.fromarray(np.ascontiguousarray(arr), mode=mode)


def _as_uint8(arr: np.ndarray, what: str) -> np.ndarray:
    """The uint8 pixels of an image array, by transformers' ``to_pil_image`` rule: (nearly, as
    ``np.allclose`` says) whole numbers in 0..255 are truncated to uint8; other floats in [0, 1] are
    scaled by 255 and truncated (float64 product, float32, uint8, as its ``rescale``); anything else
    is refused (PIL stores uint8)."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ShapeMismatchError(
            f"{what}: an image array must be uint8 (0..255) or float in [0, 1], got dtype {arr.dtype} with shape {arr.shape}"
        )
    if arr.size and not np.isfinite(arr).all():
        raise ShapeMismatchError(f"{what}: the image array {arr.shape} holds NaN or infinite values")
    low, high = (arr.min(), arr.max()) if arr.size else (0, 0)
    # transformers' test for whole numbers is np.allclose(x, x.astype(int)): 200.001 counts as 200
    if np.issubdtype(arr.dtype, np.integer) or (
        max(abs(low), abs(high)) < 2**62 and np.allclose(arr, arr.astype(np.int64))
    ):
        if low < 0 or high > 255:
            raise ShapeMismatchError(f"{what}: an integer image array must be within 0..255, got {low}..{high}")
        return arr.astype(np.uint8)
    if low < 0 or high > 1:
        raise ShapeMismatchError(
            f"{what}: a float image array must be within [0, 1] (or whole numbers 0..255), got {low}..{high}"
        )
    return (arr.astype(np.float64) * 255).astype(np.float32).astype(np.uint8)


def _channels_last(arr: np.ndarray, input_data_format: Any, prefer_last: bool) -> np.ndarray:
    fmt = getattr(input_data_format, "value", input_data_format)
    first, last = arr.shape[0] in _ARRAY_MODES, arr.shape[2] in _ARRAY_MODES
    if fmt is None:
        fmt = "channels_last" if last and (prefer_last or not first) else "channels_first" if first else None
        if fmt is None:
            raise ShapeMismatchError(
                f"an image array of shape {arr.shape} has no channel axis of size 1, 3 or 4 (first or last)"
            )
    if fmt == "channels_first":
        if not first:
            raise ShapeMismatchError(
                f"input_data_format='channels_first' but the array is {arr.shape}: 1, 3 or 4 channels"
            )
        return arr.transpose(1, 2, 0)
    if fmt == "channels_last":
        if not last:
            raise ShapeMismatchError(
                f"input_data_format='channels_last' but the array is {arr.shape}: 1, 3 or 4 channels"
            )
        return arr
    raise Sa2VAError(f"input_data_format must be 'channels_first', 'channels_last' or None, got {input_data_format!r}")


def image_batch(images: Any) -> tuple[list[Any], list[int] | None, bool]:
    """(flat list of images, images per sample for a nested list or None, whether a batch was given).

    One image, a list of images, a list per sample (transformers' nested layout, e.g. from
    ``apply_chat_template``) or a 4-D array / tensor (a batch of images) are accepted.
    """
    if isinstance(images, (list, tuple)):
        if any(isinstance(x, (list, tuple)) for x in images):
            if not all(isinstance(x, (list, tuple)) for x in images):
                raise Sa2VAError("images mixes single images and per-sample lists; give one layout")
            flat = [im for sample in images for im in sample]
            if not flat:
                raise Sa2VAError("images holds no image (every per-sample list is empty); pass images=None instead")
            return flat, [len(sample) for sample in images], True
        if not images:
            raise Sa2VAError("images is an empty list; pass images=None for text only")
        return list(images), None, True
    if is_array_like(images) and getattr(images, "ndim", None) == 4:
        if len(images) == 0:
            raise Sa2VAError(f"images is an empty batch of shape {tuple(images.shape)}")
        return list(images), None, True
    return [images], None, False


def per_image(value: Any, batched: bool, n: int, name: str) -> list[Any]:
    """One entry of a per-image argument (``visual_prompts``, ``masks``) for each of ``n`` images."""
    if value is None:
        return [None] * n
    if (
        n == 1
        and isinstance(value, (list, tuple))
        and len(value) == 1
        and is_array_like(value[0])
        and np.ndim(value[0]) == 3
    ):
        return [value[0]]  # upstream predict_forward's mask_prompts: a list with one (n, H, W) array per image
    # for one image, anything but a one-entry list cannot be a list over images: it is that image's
    if not batched or (n == 1 and not (isinstance(value, (list, tuple)) and len(value) == 1)):
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
