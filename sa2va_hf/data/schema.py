"""The canonical record every source is mapped to (SPEC §6), as one ``datasets.Features``.

=============== ======================================================================
column          type
=============== ======================================================================
id              string: stable, unique within the source
source          string: the source name (``refcoco``, ``osprey_conversation`` ...)
frames          List(Image()): the image (one entry) or a video's frames, in order
height, width   int32: of every frame
regions         List({id, masks: List(RLE or null), bbox: List(float32) or null,
                label: string or null}); ``masks`` has one entry per frame
texts           List({text, region_ids: List(int32), start: int32|null, end: int32|null});
                ``region_ids`` index ``regions``, ``start``/``end`` a span in ``caption``
caption         string or null
conversations   List({from, value}), exactly as the source has it
=============== ======================================================================

RLE = ``{"size": [h, w] (int32), "counts": str}`` (COCO compressed RLE, ASCII counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from .. import masks as _masks
from ..errors import AnnotationError, ShapeMismatchError, where

__all__ = [
    "COLUMNS",
    "features",
    "make_record",
    "make_region",
    "make_text",
    "validate_record",
    "region_mask",
]

COLUMNS = ("id", "source", "frames", "height", "width", "regions", "texts", "caption", "conversations")


@lru_cache(maxsize=1)
def features():
    """The canonical record as ``datasets.Features`` (``datasets`` is imported here, not by the parsers)."""
    from datasets import Features, Image, List, Value

    rle = {"size": List(Value("int32")), "counts": Value("string")}
    region = {"id": Value("string"), "masks": List(rle), "bbox": List(Value("float32")), "label": Value("string")}
    text = {"text": Value("string"), "region_ids": List(Value("int32")), "start": Value("int32"), "end": Value("int32")}
    turn = {"from": Value("string"), "value": Value("string")}
    out = Features(
        {
            "id": Value("string"),
            "source": Value("string"),
            "frames": List(Image()),
            "height": Value("int32"),
            "width": Value("int32"),
            "regions": List(region),
            "texts": List(text),
            "caption": Value("string"),
            "conversations": List(turn),
        }
    )
    assert tuple(out) == COLUMNS
    return out


def __getattr__(name: str):
    # FEATURES stays importable without making ``import sa2va_hf.data.schema`` import datasets
    if name == "FEATURES":
        return features()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_region(
    id: object, masks: Sequence[dict | None], bbox: Sequence[float] | None = None, label: str | None = None
) -> dict:
    """One ``regions`` entry; ``masks`` holds one canonical RLE (or None) per frame."""
    return {
        "id": str(id),
        "masks": list(masks),
        "bbox": None if bbox is None else [float(v) for v in bbox],
        "label": label,
    }


def make_text(text: str, region_ids: Sequence[int] = (), start: int | None = None, end: int | None = None) -> dict:
    """One ``texts`` entry (``start``/``end``: character span in the record's ``caption``)."""
    return {
        "text": text,
        "region_ids": [int(i) for i in region_ids],
        "start": None if start is None else int(start),
        "end": None if end is None else int(end),
    }


def make_record(
    *,
    id: object,
    source: str,
    frames: Sequence[Any],
    height: int,
    width: int,
    regions: Sequence[dict] = (),
    texts: Sequence[dict] = (),
    caption: str | None = None,
    conversations: Sequence[dict] = (),
) -> dict:
    """A canonical record; ``frames`` entries are paths (str) or ``{"bytes": ..., "path": ...}``."""
    return {
        "id": str(id),
        "source": source,
        "frames": [{"path": f, "bytes": None} if isinstance(f, str) else f for f in frames],
        "height": int(height),
        "width": int(width),
        "regions": list(regions),
        "texts": list(texts),
        "caption": caption,
        "conversations": [{"from": t["from"], "value": t["value"]} for t in conversations],
    }


INT32_MAX = 2**31 - 1
FLOAT32_MAX = float(np.finfo(np.float32).max)


def validate_record(record: dict, *, file: object = None) -> dict:
    """Check the cross-field invariants of a record; return it unchanged.

    Every region has one mask entry per frame, every RLE has the record's size, every
    ``region_ids`` entry indexes ``regions``, every span lies inside ``caption``. Every value
    also fits its column, so a bad annotation fails here, named, instead of inside Arrow:
    strings are valid Unicode (no lone surrogate such as ``"\\ud800"``), sizes are positive
    int32, boxes are finite float32.
    """
    ctx = where(file, record.get("id"))
    if set(record) != set(COLUMNS):
        raise AnnotationError(f"record columns {sorted(record)} differ from the canonical {sorted(COLUMNS)}{ctx}")
    for key in ("id", "source"):
        _check_text(record[key], key, ctx)
    _check_text(record["caption"], "caption", ctx, optional=True)
    h, w = record["height"], record["width"]
    for key, value in (("height", h), ("width", w)):
        if not _is_int(value) or not 1 <= value <= INT32_MAX:
            raise ShapeMismatchError(f"{key} must be a positive int32, got {value!r:.40}{ctx}")
    n_frames = len(record["frames"])
    if n_frames == 0:
        raise AnnotationError(f"a record needs at least one frame{ctx}")
    n_regions = len(record["regions"])
    for k, region in enumerate(record["regions"]):
        _check_text(region["id"], f"region {k} id", ctx)
        _check_text(region["label"], f"region {k} label", ctx, optional=True)
        if len(region["masks"]) != n_frames:
            raise AnnotationError(f"region {k} has {len(region['masks'])} mask entries for {n_frames} frames{ctx}")
        for rle in region["masks"]:
            if rle is not None and [int(v) for v in rle["size"]] != [h, w]:
                raise ShapeMismatchError(
                    f"region {region['id']!r} has an RLE of size {list(rle['size'])} but the record is {[h, w]}{ctx}"
                )
        bbox = region["bbox"]
        if bbox is not None and (
            len(bbox) != 4 or not all(isinstance(v, float) and abs(v) <= FLOAT32_MAX for v in bbox)
        ):
            raise AnnotationError(
                f"region {region['id']!r} bbox must be [x, y, w, h] finite float32 numbers, got {bbox!r:.80}{ctx}"
            )
    caption = record["caption"]
    for t in record["texts"]:
        _check_text(t["text"], "text", ctx)
        for i in t["region_ids"]:
            if not _is_int(i) or not 0 <= i < n_regions:
                raise AnnotationError(f"text {t['text']!r:.60} refers to region {i!r}, but there are {n_regions}{ctx}")
        if t["start"] is not None or t["end"] is not None:
            if (
                caption is None
                or not _is_int(t["start"])
                or not _is_int(t["end"])
                or not 0 <= t["start"] <= t["end"] <= len(caption)
            ):
                raise AnnotationError(f"text span [{t['start']}, {t['end']}) does not lie inside the caption{ctx}")
    for k, turn in enumerate(record["conversations"]):
        _check_text(turn["from"], f"conversation turn {k} 'from'", ctx)
        _check_text(turn["value"], f"conversation turn {k} 'value'", ctx)
    return record


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_text(value: object, what: str, ctx: str, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise AnnotationError(f"{what} must be a string, got {type(value).__name__}{ctx}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as e:  # a lone surrogate: Arrow cannot store it
        raise AnnotationError(
            f"{what} is not valid Unicode ({e.reason} at character {e.start}: {value[e.start : e.end]!r}){ctx}"
        ) from None


def region_mask(record: dict, region: int, frame: int = 0) -> np.ndarray | None:
    """Binary (H, W) uint8 mask of ``record["regions"][region]`` in ``frame`` (None where absent)."""
    rle = record["regions"][region]["masks"][frame]
    if rle is None:
        return None
    return _masks.decode({"size": list(rle["size"]), "counts": rle["counts"]}, record["height"], record["width"])
