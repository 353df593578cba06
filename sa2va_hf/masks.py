"""The one place that knows COCO mask encodings.

Annotations arrive in three shapes (pycocotools conventions, ``size`` is [h, w]):

* polygons: a list of flat ``[x1, y1, x2, y2, ...]`` lists, one per part; the parts
  are merged (union) into one binary mask;
* uncompressed RLE: ``{"size": [h, w], "counts": [int, ...]}``;
* compressed RLE: ``{"size": [h, w], "counts": "<ascii>"}`` (``bytes`` counts come
  from pickles written with ``pycocotools.mask.encode``).

Everything leaves as a binary ``uint8`` mask or as compressed RLE whose ``counts`` is an
ASCII ``str`` (``bytes`` in a string column silently becomes ``"b'...'"``).

pycocotools' C decoder does not bound-check run lengths, so a corrupt RLE could write
past its buffer; every RLE is therefore validated (runs non-negative, summing to h*w)
before it reaches pycocotools.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from .errors import MaskFormatError, ShapeMismatchError, where

__all__ = [
    "Segmentation",
    "decode",
    "decode_many",
    "encode",
    "to_rle",
    "rle_counts",
    "rle_area",
    "rle_bbox",
    "is_rle",
]

Segmentation = Any  # list[list[float]] | {"size": [h, w], "counts": list[int] | str | bytes}

_MIN_POLYGON_NUMBERS = 6  # frPyObjects reads 4 numbers as a bbox and fails below 4


def is_rle(segmentation: Segmentation) -> bool:
    return isinstance(segmentation, dict) and "counts" in segmentation


def _rle_size(rle: dict, ctx: str) -> tuple[int, int]:
    size = rle.get("size")
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0 for v in size)
    ):
        raise MaskFormatError(f"RLE 'size' must be [height, width] of non-negative ints, got {size!r}{ctx}")
    return int(size[0]), int(size[1])


def _check_size(got: tuple[int, int], height: int | None, width: int | None, ctx: str) -> None:
    if height is not None and width is not None and got != (int(height), int(width)):
        raise ShapeMismatchError(
            f"RLE size {list(got)} (h, w) differs from the image's {[int(height), int(width)]}{ctx}"
        )


def rle_counts(counts: str | bytes) -> np.ndarray:
    """Decode a compressed RLE ``counts`` string into its run lengths (int64).

    Mirrors pycocotools' ``rleFrString``: 5 data bits per character (offset 48), 0x20
    marks continuation, 0x10 in the last character is the sign, and from the fourth run
    on each value is a delta against the run two places before.
    """
    raw = np.frombuffer(counts.encode("ascii") if isinstance(counts, str) else bytes(counts), dtype=np.uint8)
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    if raw.min() < 48 or raw.max() > 111:
        raise MaskFormatError("RLE counts contain characters outside the COCO alphabet ('0'..'o')")
    c = raw.astype(np.int64) - 48
    more = (c & 0x20) != 0
    if more[-1]:
        raise MaskFormatError("RLE counts end in the middle of a number")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    group = np.repeat(np.arange(ends.size), ends - starts + 1)
    shift = 5 * (np.arange(c.size) - starts[group])
    if shift.max() > 55:
        raise MaskFormatError("RLE counts hold a number too long to be a run length")
    values = np.zeros(ends.size, dtype=np.int64)
    np.add.at(values, group, (c & 0x1F) << shift)
    negative = (c[ends] & 0x10) != 0
    values[negative] |= -1 << (shift[ends][negative] + 5)
    # Undo the delta coding: runs j > 2 were stored as run[j] - run[j-2].
    runs = values.copy()
    if runs.size > 3:
        runs[3::2] = np.cumsum(values[1::2])[1:]
    if runs.size > 4:
        runs[4::2] = np.cumsum(values[2::2])[1:]
    return runs


def _validated_rle(rle: dict, height: int | None, width: int | None, ctx: str) -> dict:
    """Return a pycocotools-ready compressed RLE (``bytes`` counts) after checking it."""
    h, w = _rle_size(rle, ctx)
    _check_size((h, w), height, width, ctx)
    counts = rle["counts"]
    if isinstance(counts, (list, tuple, np.ndarray)):
        try:
            runs = np.asarray(counts, dtype=np.int64)
        except (TypeError, ValueError, OverflowError) as e:
            raise MaskFormatError(f"uncompressed RLE counts must be integers{ctx}: {e}") from None
        if runs.ndim != 1:
            raise MaskFormatError(f"uncompressed RLE counts must be a flat list{ctx}")
        _check_runs(runs, h, w, ctx)
        return mask_utils.frPyObjects({"size": [h, w], "counts": [int(v) for v in runs]}, h, w)
    if isinstance(counts, (str, bytes, bytearray)):
        try:
            runs = rle_counts(counts)
        except (MaskFormatError, UnicodeEncodeError) as e:
            raise MaskFormatError(f"corrupt compressed RLE{ctx}: {e}") from None
        _check_runs(runs, h, w, ctx)
        return {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else bytes(counts)}
    raise MaskFormatError(f"RLE 'counts' must be a str, bytes or a list of ints, got {type(counts).__name__}{ctx}")


def _check_runs(runs: np.ndarray, h: int, w: int, ctx: str) -> None:
    if runs.size and runs.min() < 0:
        raise MaskFormatError(f"corrupt RLE: negative run length{ctx}")
    total = int(runs.sum())
    if total != h * w:
        raise MaskFormatError(f"corrupt RLE: runs cover {total} pixels, size {[h, w]} needs {h * w}{ctx}")


def _validated_polygons(polygons: Sequence, ctx: str) -> list[list[float]]:
    if len(polygons) == 0:
        raise MaskFormatError(f"empty polygon list{ctx}")
    out = []
    for k, poly in enumerate(polygons):
        if isinstance(poly, Real) or not isinstance(poly, (list, tuple, np.ndarray)):
            raise MaskFormatError(
                f"polygon segmentation must be a list of [x1, y1, x2, y2, ...] lists; part {k} is {poly!r:.60}{ctx}"
            )
        try:
            numbers = [float(v) for v in poly]
        except (TypeError, ValueError):
            raise MaskFormatError(f"polygon part {k} holds a non-number{ctx}") from None
        if len(numbers) < _MIN_POLYGON_NUMBERS or len(numbers) % 2:
            raise MaskFormatError(
                f"polygon part {k} has {len(numbers)} numbers; a polygon needs an even count of at least "
                f"{_MIN_POLYGON_NUMBERS} (3 points){ctx}"
            )
        if not np.all(np.isfinite(numbers)):
            raise MaskFormatError(f"polygon part {k} has a non-finite coordinate{ctx}")
        out.append(numbers)
    return out


def _to_coco_rle(segmentation: Segmentation, height: int | None, width: int | None, ctx: str) -> dict:
    """Any segmentation -> one pycocotools compressed RLE (``bytes`` counts)."""
    if isinstance(segmentation, dict):
        if "counts" not in segmentation or "size" not in segmentation:
            raise MaskFormatError(f"RLE dict needs 'size' and 'counts', got keys {sorted(segmentation)}{ctx}")
        return _validated_rle(segmentation, height, width, ctx)
    if isinstance(segmentation, (list, tuple)):
        if height is None or width is None:
            raise MaskFormatError(f"a polygon needs the image height and width to be rasterised{ctx}")
        polygons = _validated_polygons(segmentation, ctx)
        return mask_utils.merge(mask_utils.frPyObjects(polygons, int(height), int(width)))
    raise MaskFormatError(f"segmentation must be a polygon list or an RLE dict, got {type(segmentation).__name__}{ctx}")


def to_rle(
    segmentation: Segmentation,
    height: int | None = None,
    width: int | None = None,
    *,
    file: object = None,
    record: object = None,
) -> dict:
    """Canonical compressed RLE ``{"size": [h, w], "counts": str}`` of any segmentation.

    Polygons are merged (union, so overlaps stay binary); ``height``/``width`` are required
    for polygons and, when given, must match an RLE's own size.
    """
    ctx = where(file, record)
    rle = _to_coco_rle(segmentation, height, width, ctx)
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode(
    segmentation: Segmentation,
    height: int | None = None,
    width: int | None = None,
    *,
    file: object = None,
    record: object = None,
) -> np.ndarray:
    """Binary ``uint8`` (H, W) mask of a polygon list or an RLE (compressed or not)."""
    ctx = where(file, record)
    return mask_utils.decode(_to_coco_rle(segmentation, height, width, ctx))


def decode_many(
    segmentations: Sequence[Segmentation], height: int, width: int, *, file: object = None, record: object = None
) -> np.ndarray:
    """Stack of binary masks, (n, H, W) uint8; ``n`` may be 0."""
    ctx = where(file, record)
    rles = [_to_coco_rle(s, height, width, ctx) for s in segmentations]
    if not rles:
        return np.zeros((0, int(height), int(width)), dtype=np.uint8)
    return np.ascontiguousarray(np.moveaxis(mask_utils.decode(rles), -1, 0))


def encode(mask: np.ndarray) -> dict:
    """Compressed RLE with ASCII ``str`` counts of a 2-D mask (nonzero = foreground)."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ShapeMismatchError(f"encode expects one (H, W) mask, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask != 0, dtype=np.uint8))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def rle_area(rle: dict) -> int:
    """Foreground pixel count of a (validated) RLE, without decoding it."""
    return int(mask_utils.area(_validated_rle(rle, None, None, "")))


def rle_bbox(rle: dict) -> list[float]:
    """[x, y, w, h] box of a (validated) RLE, without decoding it."""
    return [float(v) for v in mask_utils.toBbox(_validated_rle(rle, None, None, ""))]
