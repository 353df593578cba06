"""Whole-dataset passes of a transform that never decode pixels: which records upstream cannot build
(``Sa2VATrainingTransform.filter``) and each sample's token count (``.lengths``); and
:func:`lazy_frames`, which leaves stored frames undecoded until a sample needs them.

Rows are read as Arrow batches: ``frames`` / ``video`` are reduced to what a record's checks need
(how many frames; the video path), so no image is opened and no embedded byte is copied.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from functools import partial
from typing import Any

PIXEL_COLUMNS = ("frames", "video")


def records_without_pixels(table: Any) -> list[dict]:
    """An Arrow table of canonical records -> record dicts whose ``frames`` are placeholders
    (``None`` per frame) and whose ``video`` keeps only its path."""
    import pyarrow.compute as pc

    columns = [c for c in table.column_names if c not in PIXEL_COLUMNS]
    rows = table.select(columns).to_pylist()
    n_frames = pc.list_value_length(table["frames"]).to_pylist() if "frames" in table.column_names else None
    videos = None
    if "video" in table.column_names:
        paths = pc.struct_field(table["video"], "path").to_pylist()
        present = pc.is_valid(table["video"]).to_pylist()
        videos = [{"path": p, "bytes": None} if ok else None for p, ok in zip(paths, present)]
    for i, row in enumerate(rows):
        row["frames"] = [None] * (n_frames[i] or 0) if n_frames is not None else []
        row["video"] = videos[i] if videos is not None else None
    return rows


def _drop_reasons(table: Any, transform: Any) -> dict[str, list]:
    return {"drop_reason": [transform.drop_reason(r) for r in records_without_pixels(table)]}


def _lengths(table: Any, transform: Any, signed: bool) -> dict[str, list]:
    out = []
    for record in records_without_pixels(table):
        n = transform.length(record)
        out.append(-n if signed and not record["frames"] and record["video"] is None else n)
    return {"length": out}


def _map_arrow(dataset: Any, function: Any, num_proc: int | None, desc: str) -> Any:
    base = dataset.with_format("arrow")
    return base.map(
        function, batched=True, batch_size=256, num_proc=num_proc, remove_columns=base.column_names,
        keep_in_memory=True, new_fingerprint=uuid.uuid4().hex, desc=desc,
    )  # fmt: skip


def filter_buildable(transform: Any, dataset: Any, num_proc: int | None = None) -> tuple[Any, dict[str, int]]:
    """``dataset`` (its format kept) without the records ``transform.drop_reason`` refuses, and the
    count of each reason. Nothing is dropped unreported."""
    reasons = _map_arrow(dataset, partial(_drop_reasons, transform=transform), num_proc, "checking records")
    reasons = reasons.with_format(None)["drop_reason"]
    keep = [i for i, r in enumerate(reasons) if r is None]
    report = dict(Counter(r for r in reasons if r is not None).most_common())
    return (dataset if len(keep) == len(reasons) else dataset.select(keep)), report


def sample_lengths(transform: Any, dataset: Any, num_proc: int | None = None, signed: bool = False) -> list[int]:
    """Each row's token count under the transform's current epoch (refused records raise)."""
    out = _map_arrow(dataset, partial(_lengths, transform=transform, signed=signed), num_proc, "measuring samples")
    return out.with_format(None)["length"]


def lazy_frames(dataset: Any) -> Any:
    """``dataset`` with its ``frames`` column left undecoded (``{"path", "bytes"}`` per frame).

    ``datasets`` decodes every image of a row when the row is read, so a row of a JPEG-frame video
    (ReVOS, MeViS, Ref-YouTube-VOS: tens to hundreds of frames) decodes all of them for a sample that
    uses 5. Undecoded, the transform decodes only the frames its plan names (and image sources their one
    image, as before); samples are the same. Only the column's type changes, no data is rewritten.
    """
    feature = copy.deepcopy(dataset.features["frames"])
    inner = feature[0] if isinstance(feature, list) else getattr(feature, "feature", None)
    if inner is None or not hasattr(inner, "decode"):
        from ..errors import Sa2VAError

        raise Sa2VAError(f"'frames' must be a list of images (the canonical schema), got {feature!r}")
    inner.decode = False
    return dataset.cast_column("frames", feature)
