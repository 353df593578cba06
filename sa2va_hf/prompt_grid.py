"""Visual-prompt masks on the token grid, and what happens to regions that land on too few cells.

Two rules, both exact:

* ``nearest`` (upstream Osprey and HF ``predict_forward``): the full-resolution mask straight to
  16x16 with torch's legacy nearest, ``src = min(floor(dst * float32(in/out)), in - 1)``;
  pure subsampling, so a small region can get 0 cells;
* ``pool`` (the describe-anything loader): nearest to 448x448, then a cell is on when more
  than half of its 28x28 pixels are (``adaptive_avg_pool2d(mask) > 0.5``).

Masks that arrive as COCO RLE (or polygons) never need decoding: :func:`segmentations_to_grid`
computes both rules from the runs (``nearest`` reads the run holding each sampled pixel; ``pool``
counts, run by run, the sampled pixels each 28x28 cell holds), with the same result as decoding
then :func:`masks_to_grid`.

A region with fewer than ``min_region_cells`` cells is *empty*; ``empty_region`` says what to do.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import numpy as np

from .errors import EmptyRegionError, Sa2VAError
from .masks import Segmentation, segmentations_runs

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


# --------------------------------------------------------------------------- straight from the runs


def _read_only(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.flags.writeable = False
    return arrays


@functools.lru_cache(maxsize=64)
def _nearest_positions(height: int, width: int, grid_size: int) -> np.ndarray:
    """(g, g) column-major pixel positions that torch's legacy nearest samples for the grid (cached per size)."""
    rows = nearest_source_indices(height, grid_size)
    cols = nearest_source_indices(width, grid_size)
    return _read_only(cols[None, :] * height + rows[:, None])[0]


@functools.lru_cache(maxsize=64)
def _pool_plan(height: int, width: int, grid_size: int, image_size: int) -> tuple[np.ndarray, ...]:
    """What ``pool`` needs at one size (cached per size).

    The nearest resize to ``image_size`` samples source row ``r(y)`` for output row ``y``, in
    order, so the output rows sampling source rows ``[a, b)`` are ``[sampled_before[a],
    sampled_before[b])`` -- ``sampled_before[r]`` counts the output rows whose source row is above
    ``r`` -- and ``min(sampled_before[b], t) - min(sampled_before[a], t)`` of them lie above ``t``.
    ``cuts`` are the pooling cells' row bounds (``row_lo``, ``row_hi`` index them per cell row);
    ``uses[c, j]`` counts the output columns of cell column ``j`` sampled from source column ``c``.
    Exact integers in float64 (the sums are matrix products).
    """
    rows = nearest_source_indices(height, image_size)
    sampled_before = np.searchsorted(rows, np.arange(height + 1), side="left").astype(np.float64)
    r0, r1 = _adaptive_bounds(image_size, grid_size)
    cuts, inverse = np.unique(np.concatenate([r0, r1]), return_inverse=True)
    cols = nearest_source_indices(width, image_size)
    c0, c1 = _adaptive_bounds(image_size, grid_size)
    uses = np.stack([np.bincount(cols[a:b], minlength=width) for a, b in zip(c0, c1)], axis=1).astype(np.float64)
    half_area = (r1 - r0)[:, None] * (c1 - c0)[None, :] / 2
    return _read_only(
        sampled_before, cuts.astype(np.float64), inverse[:grid_size], inverse[grid_size:], uses, half_area
    )


def _grids_nearest(ends: np.ndarray, offsets: np.ndarray, height: int, width: int, grid_size: int) -> np.ndarray:
    n = len(offsets) - 1
    positions = _nearest_positions(height, width, grid_size)
    if n > 1:
        positions = (np.arange(n) * (height * width))[:, None, None] + positions
    run = np.searchsorted(ends, positions, side="right")  # the run holding each sample (counted from the first mask's)
    run -= offsets[:-1, None, None] if n > 1 else offsets[0]
    return (run.reshape(n, grid_size, grid_size) & 1).astype(np.uint8)  # odd runs are foreground


def _grids_pool(
    runs: np.ndarray, ends: np.ndarray, offsets: np.ndarray, height: int, width: int, grid_size: int, image_size: int
) -> np.ndarray:
    sampled_before, cuts, row_lo, row_hi, uses, half_area = _pool_plan(height, width, grid_size, image_size)
    n, hw = len(offsets) - 1, height * width
    if n == 1:
        on = np.flatnonzero(runs[1::2]) * 2 + 1  # foreground runs (odd), empty ones left out
        end = ends[on]
        mask = None
    else:
        local = np.arange(len(runs)) - np.repeat(offsets[:-1], np.diff(offsets))
        on = np.flatnonzero((local & 1).astype(bool) & (runs > 0))
        end = ends[on]
        mask = (end - 1) // hw
        end -= mask * hw
    start = end - runs[on]
    column = start // height
    last = (end - 1) // height
    if (last != column).any():  # a run reaching into the next column(s): one piece per column
        pieces = last - column + 1
        run = np.repeat(np.arange(len(on)), pieces)
        k = np.arange(len(run)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        column = column[run] + k
        start = np.maximum(start[run], column * height)
        end = np.minimum(end[run], (column + 1) * height)
        mask = None if mask is None else mask[run]
    top = column * height
    # Output pixels above each cut t sampled from rows [a, b) of a column, times the output columns
    # of each cell column that sample that column, summed over the pieces.
    t = cuts[None, :]
    above = np.minimum(sampled_before[end - top][:, None], t) - np.minimum(sampled_before[start - top][:, None], t)
    weights = uses[column]
    if mask is None:
        at_cuts = (above.T @ weights)[None]
    else:
        bounds = np.searchsorted(mask, np.arange(n + 1)).tolist()
        at_cuts = np.stack([above[lo:hi].T @ weights[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])])
    # (n, cuts, g): foreground output pixels above each cut, per cell column -> per cell
    return (at_cuts[:, row_hi] - at_cuts[:, row_lo] > half_area).astype(np.uint8)


def runs_to_grids(
    runs: np.ndarray,
    offsets: np.ndarray,
    height: int,
    width: int,
    grid_size: int,
    mode: str = "nearest",
    image_size: int = 448,
) -> np.ndarray:
    """Masks given by their COCO runs -> (n, g, g) uint8 cells, as :func:`masks_to_grid` of the decoded masks.

    ``runs[offsets[k]:offsets[k + 1]]`` are mask ``k``'s runs (column-major, background first,
    summing to ``height * width``), as :func:`~sa2va_hf.masks.segmentations_runs` gives them.
    """
    n = len(offsets) - 1
    if mode not in PROMPT_MASK_MODES:
        raise Sa2VAError(f"prompt_mask_mode must be one of {PROMPT_MASK_MODES}, got {mode!r}")
    if n == 0 or height * width == 0:
        return np.zeros((n, grid_size, grid_size), dtype=np.uint8)
    # Every mask's runs sum to h*w, so mask k's pixel p is position k*h*w + p of the whole sequence.
    ends = np.cumsum(runs)
    if mode == "nearest":
        return _grids_nearest(ends, offsets, height, width, grid_size)
    return _grids_pool(runs, ends, offsets, height, width, grid_size, image_size)


def segmentations_to_grid(
    segmentations: Sequence[Segmentation],
    height: int,
    width: int,
    grid_size: int,
    mode: str = "nearest",
    image_size: int = 448,
    *,
    file: object = None,
    record: object = None,
) -> np.ndarray:
    """RLE dicts (compressed or not) or polygon lists of one image -> (n, g, g) uint8 prompt cells.

    The same cells as decoding them (:func:`~sa2va_hf.masks.decode_many`) and then
    :func:`masks_to_grid`, and the same errors for bad input, in a small fraction of the time:
    only the run lengths are read (:func:`~sa2va_hf.masks.segmentations_runs`), never a pixel.
    The image processor calls this for visual prompts given as RLE or polygons; so should a
    training transform.
    """
    if mode not in PROMPT_MASK_MODES:
        raise Sa2VAError(f"prompt_mask_mode must be one of {PROMPT_MASK_MODES}, got {mode!r}")
    runs, offsets = segmentations_runs(segmentations, height, width, file=file, record=record)
    return runs_to_grids(runs, offsets, height, width, grid_size, mode, image_size)


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
