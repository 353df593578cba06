"""An independent, deliberately plain reading of SPEC §2, used as the oracle in tests.

Nothing here is shared with the package: loops and PIL crops where the package slices
arrays, per-pixel float32 arithmetic where it uses a lookup table, Python loops where it
uses index arrays. If both agree bit for bit on many inputs, the fast path is the recipe.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def ref_grid(width, height, min_num=1, max_num=12, image_size=448):
    """InternVL ``dynamic_preprocess``'s choice of (cols, rows), as published."""
    aspect_ratio = width / height
    target_ratios = {
        (i, j)
        for n in range(min_num, max_num + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if min_num <= i * j <= max_num
    }
    target_ratios = sorted(target_ratios, key=lambda x: x[0] * x[1])
    best_diff, best = float("inf"), (1, 1)
    area = width * height
    for ratio in target_ratios:
        diff = abs(aspect_ratio - ratio[0] / ratio[1])
        if diff < best_diff:
            best_diff, best = diff, ratio
        elif diff == best_diff and area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
            best = ratio
    return best


def ref_resize(image: Image.Image, size, resample=Image.Resampling.BICUBIC) -> Image.Image:
    """``image.resize(size)`` on the Pillow upstream ran (11.3, its uv.lock): the horizontal pass, rounded to
    uint8, then the vertical pass -- written as two one-pass calls, which Pillow 13 no longer equals in one
    call (it goes vertical first where that is less work)."""
    width, height = size
    return image.resize((width, image.height), resample).resize((width, height), resample)


def ref_tiles(image: Image.Image, min_num=1, max_num=12, image_size=448, use_thumbnail=True):
    cols, rows = ref_grid(image.width, image.height, min_num, max_num, image_size)
    resized = ref_resize(image, (image_size * cols, image_size * rows))
    tiles = []
    for i in range(cols * rows):
        box = (
            (i % cols) * image_size,
            (i // cols) * image_size,
            (i % cols + 1) * image_size,
            (i // cols + 1) * image_size,
        )
        tiles.append(resized.crop(box))
    if use_thumbnail and len(tiles) != 1:
        tiles.append(ref_resize(image, (image_size, image_size)))
    return tiles


def ref_normalize(tile: Image.Image, mean=MEAN, std=STD) -> np.ndarray:
    """ToTensor then Normalize: x/255, then (x - mean)/std, all float32, CHW."""
    x = np.asarray(tile, dtype=np.uint8).astype(np.float32).transpose(2, 0, 1) / np.float32(255)
    out = np.empty_like(x)
    for c in range(3):
        out[c] = (x[c] - np.float32(mean[c])) / np.float32(std[c])
    return out


def ref_pixel_values(image: Image.Image, **kw) -> np.ndarray:
    return np.stack([ref_normalize(t) for t in ref_tiles(image, **kw)])


def ref_g_pixel_values(image: Image.Image, size=1024) -> np.ndarray:
    return np.asarray(ref_resize(image, (size, size))).transpose(2, 0, 1)


def ref_nearest(mask: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """torch legacy nearest: src = min(floor(dst * float32(in/out)), in - 1), in float32."""
    in_h, in_w = mask.shape
    sh = np.float32(in_h) / np.float32(out_h)
    sw = np.float32(in_w) / np.float32(out_w)
    out = np.zeros((out_h, out_w), dtype=mask.dtype)
    for y in range(out_h):
        sy = min(int(np.floor(np.float32(y) * sh)), in_h - 1)
        for x in range(out_w):
            sx = min(int(np.floor(np.float32(x) * sw)), in_w - 1)
            out[y, x] = mask[sy, sx]
    return out


def ref_pool(mask: np.ndarray, grid=16, image_size=448) -> np.ndarray:
    big = ref_nearest(mask, image_size, image_size).astype(np.float32)
    block = image_size // grid
    out = np.zeros((grid, grid), dtype=np.uint8)
    for y in range(grid):
        for x in range(grid):
            out[y, x] = big[y * block : (y + 1) * block, x * block : (x + 1) * block].mean(dtype=np.float32) > 0.5
    return out


def ref_vp_overall_mask(num_tiles: int, has_prompt: bool) -> np.ndarray:
    if not has_prompt:
        return np.zeros(num_tiles, dtype=bool)
    return np.array([False] * (num_tiles - 1) + [True])


def ref_video_frame(frame: Image.Image) -> np.ndarray:
    """``predict_forward``'s per-frame transform: RGB, ``T.Resize((448, 448), BICUBIC)`` (PIL's resize on
    a PIL image), ``ToTensor``, ``Normalize``: one CHW float32 tile."""
    return ref_normalize(ref_resize(frame.convert("RGB"), (448, 448)))


def ref_video_prompt(n_frames: int, tokens: int = 256) -> str:
    """``predict_forward``'s video string: ``((img + '\\n') * n).strip()``, written out."""
    one = "<img>" + "<IMG_CONTEXT>" * tokens + "</img>"
    out = ""
    for k in range(n_frames):
        out += one + ("\n" if k < n_frames - 1 else "")
    return out
