"""Records entering the training transform, checked before anything indexes or allocates with them.

A record may come from anywhere: a build, an export edited by hand or read back through Ray, a dict made
in a notebook. Its structure (every canonical column, of its type), its cross-field invariants
(:func:`~sa2va_hf.data.schema.validate_record`: region ids index ``regions``, one mask entry per frame, RLE
sizes equal to the record's, spans inside the caption) and its size (a record with masks holds at most
:data:`~sa2va_hf.masks.MAX_MASK_PIXELS` pixels per frame, the most any mask can have) are checked, so a
bad record is an error naming it, never an ``IndexError`` or a 233 GiB allocation from deep inside.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import masks as masks_codec
from ..data.schema import COLUMNS, validate_record
from ..errors import AnnotationError, ShapeMismatchError

__all__ = ["check_record"]

#: per column: the keys each of its entries (dicts) has
_ENTRY_KEYS = {
    "regions": ("id", "masks", "bbox", "label"),
    "texts": ("text", "region_ids", "start", "end"),
    "conversations": ("from", "value"),
}


def check_record(record: Mapping[str, Any]) -> None:
    """Raise an :class:`~sa2va_hf.errors.AnnotationError` / :class:`~sa2va_hf.errors.ShapeMismatchError`
    naming the record if it is not a canonical record the transform can read (see the module docstring)."""
    where = f" (source {record.get('source')!r}, record {record.get('id')!r})"
    missing = [c for c in COLUMNS if c not in record]
    if missing:
        raise AnnotationError(f"a record lacks the canonical column(s) {missing}{where}")
    for column in ("frames", "frame_indices", *_ENTRY_KEYS):
        if not _is_list(record[column]):
            raise AnnotationError(f"{column} must be a list, got {type(record[column]).__name__}{where}")
    if record["video"] is not None and not isinstance(record["video"], Mapping):
        raise AnnotationError(f"video must be {{'path', 'bytes'}} or null, got {type(record['video']).__name__}{where}")
    for column, keys in _ENTRY_KEYS.items():
        for k, entry in enumerate(record[column]):
            if not isinstance(entry, Mapping) or any(key not in entry for key in keys):
                got = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
                raise AnnotationError(f"{column}[{k}] must be a dict with {list(keys)}, got {got}{where}")
    for k, region in enumerate(record["regions"]):
        if not _is_list(region["masks"]) or not all(rle is None or _is_rle(rle) for rle in region["masks"]):
            raise AnnotationError(
                f"regions[{k}] masks must be a list of RLE dicts ({{'size': [h, w], 'counts'}}) or null{where}"
            )
    for k, text in enumerate(record["texts"]):
        if not _is_list(text["region_ids"]):
            raise AnnotationError(f"texts[{k}] region_ids must be a list{where}")
    # cross-field invariants as builds check them (bbox and label are not read by the transform)
    validate_record({**{c: record[c] for c in COLUMNS}, "regions": [{**r, "bbox": None} for r in record["regions"]]})
    h, w = record["height"], record["width"]
    if any(rle is not None for region in record["regions"] for rle in region["masks"]):
        if h * w > masks_codec.MAX_MASK_PIXELS:
            raise ShapeMismatchError(
                f"the record is {h}x{w} (h x w) = {h * w} pixels, over the {masks_codec.MAX_MASK_PIXELS} a mask "
                f"can have{where}"
            )


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _is_rle(value: Any) -> bool:
    if not isinstance(value, Mapping) or "size" not in value or "counts" not in value:
        return False
    size = value["size"]
    return (
        _is_list(size)
        and len(size) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in size)
    )
