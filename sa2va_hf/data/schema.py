"""The canonical record every source is mapped to (SPEC §6), as one ``datasets.Features``.

=============== ======================================================================
column          type
=============== ======================================================================
id              string: stable, unique within the source
source          string: the source name (``refcoco``, ``osprey_conversation`` ...)
frames          List(Image()): the image (one entry) or a video's frames, in order
video           {bytes, path} or null: a video file (mp4 ...) whose frames are decoded lazily
frame_indices   List(int32): with ``video``, the video frames (0-based) the record's per-frame
                entries refer to, in order; empty otherwise
height, width   int32: of every frame
regions         List({id, masks: List(RLE or null), bbox: List(float32) or null,
                label: string or null}); ``masks`` has one entry per frame
texts           List({text, region_ids: List(int32), start: int32|null, end: int32|null});
                ``region_ids`` index ``regions``, ``start``/``end`` a span in ``caption``
caption         string or null
conversations   List({from, value}), exactly as the source has it
=============== ======================================================================

RLE = ``{"size": [h, w] (int32), "counts": str}`` (COCO compressed RLE, ASCII counts).

A record's *frames* are ``frames`` (images stored or referenced one by one) or, when ``video`` is
set, the frames ``frame_indices`` of that video (``frames`` is then empty); :func:`record_frames`
reads either. Per-frame entries (each region's ``masks``) follow that order.

Features are written with Python lists (``[feature]``), which ``datasets`` 3.x and >= 4 both read
as lists (``datasets.List`` exists only in >= 4).
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
    "record_frames",
    "region_mask",
]

COLUMNS = (
    "id",
    "source",
    "frames",
    "video",
    "frame_indices",
    "height",
    "width",
    "regions",
    "texts",
    "caption",
    "conversations",
)


@lru_cache(maxsize=1)
def features():
    """The canonical record as ``datasets.Features`` (``datasets`` is imported here, not by the parsers)."""
    from datasets import Features, Image, Value

    rle = {"size": [Value("int32")], "counts": Value("string")}
    region = {"id": Value("string"), "masks": [rle], "bbox": [Value("float32")], "label": Value("string")}
    text = {"text": Value("string"), "region_ids": [Value("int32")], "start": Value("int32"), "end": Value("int32")}
    turn = {"from": Value("string"), "value": Value("string")}
    out = Features(
        {
            "id": Value("string"),
            "source": Value("string"),
            "frames": [Image()],
            "video": {"bytes": Value("binary"), "path": Value("string")},
            "frame_indices": [Value("int32")],
            "height": Value("int32"),
            "width": Value("int32"),
            "regions": [region],
            "texts": [text],
            "caption": Value("string"),
            "conversations": [turn],
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
    frames: Sequence[Any] = (),
    video: str | dict | None = None,
    frame_indices: Sequence[int] = (),
    height: int,
    width: int,
    regions: Sequence[dict] = (),
    texts: Sequence[dict] = (),
    caption: str | None = None,
    conversations: Sequence[dict] = (),
) -> dict:
    """A canonical record; ``frames`` entries and ``video`` are paths (str) or ``{"bytes": ..., "path": ...}``."""
    return {
        "id": str(id),
        "source": source,
        "frames": [{"path": f, "bytes": None} if isinstance(f, str) else f for f in frames],
        "video": {"bytes": None, "path": video} if isinstance(video, str) else video,
        "frame_indices": [int(i) for i in frame_indices],
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
    n_frames = _check_frames(record, ctx)
    # a text-only record (LLaVA's pure-text conversations) has no frame, hence size 0 x 0
    smallest = 1 if n_frames else 0
    for key, value in (("height", h), ("width", w)):
        if not _is_int(value) or not smallest <= value <= INT32_MAX or (not n_frames and value):
            raise ShapeMismatchError(
                f"{key} must be a positive int32 (0 for a record without frames), got {value!r:.40}{ctx}"
            )
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


def _check_frames(record: dict, ctx: str) -> int:
    """The number of frames the per-frame entries refer to: ``frames``, or ``video`` at ``frame_indices``."""
    video, indices = record["video"], record["frame_indices"]
    if video is None:
        if indices:
            raise AnnotationError(f"frame_indices are given without a video{ctx}")
        n_frames = len(record["frames"])
    else:
        if record["frames"]:
            raise AnnotationError(f"a record has frames or a video, not both{ctx}")
        if not isinstance(video, dict) or (video.get("path") is None and video.get("bytes") is None):
            raise AnnotationError(f"video must be {{'path', 'bytes'}} with at least one set, got {video!r:.80}{ctx}")
        _check_text(video.get("path"), "video path", ctx, optional=True)
        if not all(_is_int(i) and 0 <= i <= INT32_MAX for i in indices):
            raise AnnotationError(f"frame_indices must be non-negative int32, got {indices!r:.80}{ctx}")
        if any(b <= a for a, b in zip(indices, indices[1:])):
            raise AnnotationError(f"frame_indices must increase (frames in order), got {indices!r:.80}{ctx}")
        n_frames = len(indices)
    if n_frames == 0 and (record["regions"] or video is not None):
        raise AnnotationError(f"a record with regions or a video needs at least one frame{ctx}")
    return n_frames


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


def record_frames(record: dict, which: Sequence[int] | None = None, *, threads: int | None = None) -> list:
    """The record's frames ``which`` (positions in its per-frame order; all by default) as RGB PIL images.

    Stored frames come from ``frames`` (decoded by ``datasets`` or opened from their path); a
    ``video`` is decoded here, only at the frames asked for (:func:`sa2va_hf.video_io.read_record_frames`,
    with ``threads`` decoding threads: the package's default count when ``None``).
    """
    from .. import video_io

    return video_io.read_record_frames(record, which, threads=threads)


def region_mask(record: dict, region: int, frame: int = 0) -> np.ndarray | None:
    """Binary (H, W) uint8 mask of ``record["regions"][region]`` in ``frame`` (None where absent)."""
    rle = record["regions"][region]["masks"][frame]
    if rle is None:
        return None
    return _masks.decode({"size": list(rle["size"]), "counts": rle["counts"]}, record["height"], record["width"])
