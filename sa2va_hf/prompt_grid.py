"""Visual-prompt masks on the token grid, and what happens to regions that land on too few cells.

Two rules, both exact:

* ``nearest`` (upstream Osprey and HF ``predict_forward``): the full-resolution mask straight to
  16x16 with torch's legacy nearest, ``src = min(floor(dst * float32(in/out)), in - 1)``;
  pure subsampling, so a small region can get 0 cells;
* ``pool`` (the describe-anything loader): nearest to 448x448, then a cell is on when more
  than half of its 28x28 pixels are (``adaptive_avg_pool2d(mask) > 0.5``).

A region with fewer than ``min_region_cells`` cells is *empty*; ``empty_region`` says what to do.
"""

from __future__ import annotations

import warnings

import numpy as np

from .errors import EmptyRegionError, Sa2VAError

PROMPT_MASK_MODES = ("nearest", "pool")
EMPTY_REGION_POLICIES = ("error", "drop", "keep")


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


def apply_empty_region_policy(
    cells: np.ndarray, min_region_cells: int, policy: str, image_index: int
) -> tuple[np.ndarray, list[int], list[int]]:
    """(kept cells, cell count per kept region, dropped region indices) under ``policy``.

    ``error`` raises :class:`EmptyRegionError` naming the image and regions; ``keep`` keeps
    them with a warning (upstream v1 feeds ``<vp></vp>``); ``drop`` removes them.
    """
    counts = cells.sum(axis=(1, 2), dtype=np.int64).tolist()
    empty = [k for k, c in enumerate(counts) if c < min_region_cells]
    if not empty:
        return cells, counts, []
    detail = ", ".join(f"region {k} has {counts[k]}" for k in empty)
    if policy == "error":
        raise EmptyRegionError(
            f"image {image_index}: {detail} grid cell(s), fewer than min_region_cells={min_region_cells}; "
            "pass empty_region='drop' or 'keep' to accept it"
        )
    if policy == "keep":
        warnings.warn(f"image {image_index}: {detail} grid cell(s); kept as upstream v1 does", stacklevel=4)
        return cells, counts, []
    keep = [k for k in range(len(counts)) if k not in empty]
    return cells[keep], [counts[k] for k in keep], empty
