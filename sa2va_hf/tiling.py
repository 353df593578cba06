"""InternVL dynamic tiling, bit for bit: the grid choice, the tiles, and their normalization.

Upstream ``dynamic_preprocess`` (``projects/llava_sam2/datasets``): pick the (cols, rows) grid
whose aspect ratio is closest to the image's, resize the image to (448·cols, 448·rows) with PIL's
default filter (BICUBIC), cut 448×448 tiles row-major, and append the whole image resized to
448×448 as the last tile (the thumbnail) when there is more than one. Each tile is then
``x/255`` and ``(x - mean)/std`` in float32 -- what ``ToTensor`` + ``Normalize`` compute.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .resize import pil_resize

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def grid_size(image_size: int, patch_size: int, downsample_ratio: float) -> int:
    """Side of one tile's token grid: ``image_size // patch_size * downsample_ratio`` (448, 14, 0.5 -> 16)."""
    return int(image_size // patch_size * downsample_ratio)


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


def num_tiles(
    width: int, height: int, min_tiles: int = 1, max_tiles: int = 12, tile_size: int = 448, use_thumbnail: bool = True
) -> int:
    """How many tiles :func:`tile_image` cuts from a width x height image (thumbnail included)."""
    cols, rows = choose_grid(width, height, min_tiles, max_tiles, tile_size)
    return cols * rows + (1 if use_thumbnail and cols * rows > 1 else 0)


def tile_image(
    image: Image.Image, min_tiles: int = 1, max_tiles: int = 12, tile_size: int = 448, use_thumbnail: bool = True
) -> np.ndarray:
    """The dynamic tiles of an RGB image as a (T, S, S, 3) uint8 array, thumbnail last."""
    cols, rows = choose_grid(image.width, image.height, min_tiles, max_tiles, tile_size)
    s = tile_size
    # Slicing the resized array is exactly PIL's crop, without T intermediate images.
    big = np.asarray(pil_resize(image, s * cols, s * rows))
    tiles = big.reshape(rows, s, cols, s, 3).swapaxes(1, 2).reshape(rows * cols, s, s, 3)
    if use_thumbnail and rows * cols != 1:
        thumb = np.asarray(pil_resize(image, s, s))
        tiles = np.concatenate([tiles, thumb[None]], axis=0)
    return tiles


def normalization_table(
    mean: Sequence[float],
    std: Sequence[float],
    do_rescale: bool = True,
    rescale_factor: float = 1 / 255,
    do_normalize: bool = True,
) -> np.ndarray:
    """(3, 256) float32: every uint8 value through ``x/255`` then ``(x - mean)/std``, in float32.

    A lookup is bit-identical to computing the same float32 ops per pixel (same inputs,
    same ops), and one gather replaces three passes over the tile. ``do_rescale`` /
    ``rescale_factor`` / ``do_normalize`` switch the two steps as transformers' options do.
    """
    x = np.arange(256, dtype=np.float32)
    if do_rescale:
        divisor = 1 / rescale_factor if rescale_factor else 0.0
        # ToTensor divides by 255; multiplying by float32(1/255) differs in the last bit for half the values
        x = x / np.float32(divisor) if divisor and float(divisor).is_integer() else x * np.float32(rescale_factor)
    if not do_normalize:
        return np.repeat(x[None, :], 3, axis=0)
    m = np.asarray(mean, dtype=np.float32)[:, None]
    s = np.asarray(std, dtype=np.float32)[:, None]
    return (x[None, :] - m) / s


def normalize_tiles(tiles: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(T, S, S, 3) uint8 -> (T, 3, S, S) float32 through a :func:`normalization_table`."""
    out = np.empty((tiles.shape[0], 3, tiles.shape[1], tiles.shape[2]), dtype=np.float32)
    for c in range(3):
        np.take(table[c], tiles[..., c], out=out[:, c])
    return out


@functools.lru_cache(maxsize=16)
def _pair_table(table_bytes: bytes) -> np.ndarray:
    table = np.frombuffer(table_bytes, dtype=np.float32).reshape(3, 256)
    # every pair of neighbouring uint8 values, in this machine's byte order, read as one uint16
    pairs = np.arange(1 << 16, dtype=np.uint16).view(np.uint8).reshape(1 << 16, 2)
    return np.ascontiguousarray(table[:, pairs]).view(np.uint64).reshape(3, 1 << 16)


def pair_table(table: np.ndarray) -> np.ndarray:
    """(3, 65536) uint64: the float32 values of two neighbouring uint8 pixels of a :func:`normalization_table`.

    Two pixels read as one uint16 index give both normalized values in one 8-byte copy: the same
    float32 bits as looking each up, with half the lookups (and 1.5 MB of table, which stays in cache).
    """
    return _pair_table(np.ascontiguousarray(table, dtype=np.float32).tobytes())


def normalize_planes_into(out: np.ndarray, planes: np.ndarray, table: np.ndarray, rows: int = 1, cols: int = 1) -> None:
    """Tiles of a resized image, normalized through ``table``, written into ``out``.

    ``planes``: the resized image as (3, rows*S, cols*S) uint8 (each plane row-contiguous);
    ``out``: (rows*cols, 3, S, S) float32, C-contiguous; tile ``r*cols + c`` is the S x S square at
    row ``r``, column ``c`` -- PIL's ``crop`` boxes of the recipe, sliced instead of copied.
    Bit-identical to :func:`normalize_tiles` of the same tiles.
    """
    s = out.shape[-1]
    o = out.reshape(rows, cols, 3, s, s)
    if s % 2 == 0 and all(p.strides[-1] == 1 for p in planes):
        pairs = pair_table(table)
        o = o.view(np.uint64)  # (rows, cols, 3, s, s // 2): two float32 values per item
        for c in range(3):
            index = planes[c].view(np.uint16).reshape(rows, s, cols, s // 2)
            for r in range(rows):
                for k in range(cols):
                    np.take(pairs[c], index[r, :, k], out=o[r, k, c], mode="clip")
        return
    for c in range(3):
        index = planes[c].reshape(rows, s, cols, s)
        for r in range(rows):
            for k in range(cols):
                np.take(table[c], index[r, :, k], out=o[r, k, c], mode="clip")


def planes_into(out: np.ndarray, planes: np.ndarray, table: np.ndarray | None = None, rows: int = 1, cols: int = 1) -> None:
    """The tiles of a resized image as they are (uint8), written into ``out`` (rows*cols, 3, S, S): what
    :func:`normalize_planes_into` normalizes (``table`` is not used: :func:`normalize_tiles_into` applies it later)."""
    s = out.shape[-1]
    o = out.reshape(rows, cols, 3, s, s)
    for c in range(3):
        np.copyto(o[:, :, c], planes[c].reshape(rows, s, cols, s).transpose(0, 2, 1, 3))


def normalize_tiles_into(out: np.ndarray, tiles: np.ndarray, table: np.ndarray) -> None:
    """(T, 3, S, S) uint8 tiles (:func:`planes_into`'s) normalized through ``table`` into ``out`` (T, 3, S, S)
    float32: bit-identical to :func:`normalize_planes_into` of the image they were cut from."""
    for t in range(len(tiles)):
        normalize_planes_into(out[t : t + 1], tiles[t], table)
