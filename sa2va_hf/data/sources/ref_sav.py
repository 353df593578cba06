"""Ref-SAV (Sa2VA's object captions on SA-V masklets) -> canonical records, one per video.

Files (under ``data_dir/video_datas/``): the Ref-SAV JSON, ``Ref-SAV.json`` (Sa2VA v2's name) or
``sam_v_final_v3.json`` (v1's; used when the v2 file is absent), a top-level object
``{video_id: {"video_path", "anno_path", "objects": {key: {"formated", ...}}}}``; and SA-V under
``sam_v_full/``: ``sav_XXXXXX.mp4`` (24 fps) with its ``sav_XXXXXX_manual.json``, whose ``masklet``
lists the annotated frames (every 4th video frame) x the objects (compressed RLE each).

Upstream parity (v1 ``VideoSAM2Dataset``, v2 ``Sa2VA03RefVOS(dataset_type="refsav")``):

* ``video_path`` / ``anno_path`` are relative to ``sam_v_full/`` and name v1's layout
  (``sav_000/sav_train/sav_000/sav_000002.mp4``, each tar unpacked into its own folder); where that
  file is absent, v2's ``sam2_path_patch`` layout is used (the folder repeated around ``sav_train``
  dropped: ``sav_train/sav_000/sav_000002.mp4``). Both stay inside ``data_dir``.
* an object key ``k`` (a JSON string) is the column ``int(k)`` of every masklet frame, so it must be
  below ``masklet_num``; objects keep the JSON's order; each is one region (``id`` = the key) and one
  text, its ``formated`` caption (what v1's default ``mode="long"`` and v2 read; other caption
  fields such as ``short_caps`` are not read).
* frames: upstream decodes every frame with OpenCV and keeps ``frames[::4]``, aligned 1:1 with the
  masklet. Here the record keeps the mp4 (``video``) and the annotated frames
  ``frame_indices = [0, 4, ..., 4 (n - 1)]`` for a masklet of ``n`` entries; frames are decoded
  lazily by ``sa2va_hf.video_io`` (PyAV: FFmpeg, as OpenCV), never stored. The build checks
  cheaply that the mp4 opens, has frames of the masks' size and at least ``4 (n - 1) + 1`` of them
  (the header's count; decoding only where the header states none). v2 also asserts
  ``len(frames[::4]) == n``; a video whose count says otherwise is kept and counted in the log.
* every masklet entry is an RLE (SA-V marks an invisible object by an empty mask, never null); it is
  stored as it is, so a region has one RLE per annotated frame.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from ... import masks
from ...errors import AnnotationError, VideoLoadError, where
from ..catalog import SourceSpec
from ..safety import safe_join
from ..schema import make_record, make_region, make_text, validate_record
from ._fields import get
from ._json import iter_object_shard, json_object_shards, load_json
from ._video import annotated_count, check_mp4, every_fourth

logger = logging.getLogger(__name__)

VERSION = "1.1.0"  # bump whenever the records change (1.1: display-matrix rotation applied)
WRITER_BATCH_SIZE = 16  # a record holds a mask per frame: buffer few before writing (datasets: 1000)
JSON_NAMES = ("Ref-SAV.json", "sam_v_final_v3.json")  # v2's name first, then v1's
SAV_FOLDER = "sam_v_full"


def _root(data_dir: str) -> str:
    return os.path.join(os.fspath(data_dir), "video_datas")


def input_files(spec: SourceSpec, data_dir: str) -> list[str]:
    return [os.path.join(_root(data_dir), name) for name in JSON_NAMES]


def json_path(data_dir: str) -> str:
    for path in input_files(None, data_dir):
        if os.path.isfile(path):
            return path
    raise AnnotationError(f"Ref-SAV JSON not found: expected one of {input_files(None, data_dir)}")


def shards(spec: SourceSpec, data_dir: str, options) -> dict[str, list[dict]]:
    return {"train": json_object_shards(json_path(data_dir))}


def generate(
    spec: SourceSpec, data_dir: str, options, split: str, shard_list: list[dict]
) -> Iterator[tuple[str, dict]]:
    sav_root = os.path.join(_root(data_dir), SAV_FOLDER)
    uneven = 0
    for shard in shard_list:
        for _, video, entry in iter_object_shard(shard):
            record, frame_count = _record(spec.name, sav_root, shard["path"], video, entry)
            n = len(record["frame_indices"])
            uneven += frame_count is not None and annotated_count(frame_count) != n
            yield video, record
    if uneven:
        logger.warning(
            "%s: %d video(s) have more frames than their masklet covers (upstream v2 asserts "
            "len(frames[::4]) == len(masklet)); kept, with the masklet's frames",
            spec.name,
            uneven,
        )


def sav_path(sav_root: str, rel: str, *, file: str, record: str) -> str:
    """``rel`` under ``sam_v_full/`` in v1's layout, else in v2's (``sam2_path_patch``); an error naming both."""
    tried = [safe_join(sav_root, rel, file=file, record=record)]
    parts = rel.replace("\\", "/").split("/")
    if parts.count("sav_train") == 1:
        i = parts.index("sav_train")
        if 0 < i < len(parts) - 1 and parts[i - 1] == parts[i + 1]:
            tried.append(safe_join(sav_root, "/".join(parts[: i - 1] + parts[i:]), file=file, record=record))
    for path in tried:
        if os.path.isfile(path):
            return path
    raise VideoLoadError(f"{rel!r} not found; looked for {tried}{where(file, record)}")


def _record(source: str, sav_root: str, file: str, video: str, entry: object) -> tuple[dict, int | None]:
    video_path = sav_path(sav_root, get(entry, "video_path", str, file=file, record=video), file=file, record=video)
    anno_path = sav_path(sav_root, get(entry, "anno_path", str, file=file, record=video), file=file, record=video)
    objects = get(entry, "objects", dict, file=file, record=video)
    masklet, n_objects = _masklet(anno_path, video)
    h, w = _masklet_size(masklet, anno_path, video)
    regions, texts = [], []
    for key, obj in objects.items():
        ctx = f"{video}, object {key}"
        column = _column(key, n_objects, file=file, record=ctx, anno_path=anno_path)
        per_frame = [
            masks.to_rle(frame[column], h, w, file=anno_path, record=f"{ctx}, frame {f}")
            for f, frame in enumerate(masklet)
        ]
        texts.append(make_text(get(obj, "formated", str, file=file, record=ctx), [len(regions)]))
        regions.append(make_region(key, per_frame))
    indices = every_fourth(len(masklet))
    count = check_mp4(video_path, indices[-1] + 1, h, w, file=file, record=video)
    record = make_record(
        id=video,
        source=source,
        video=video_path,
        frame_indices=indices,
        height=h,
        width=w,
        regions=regions,
        texts=texts,
    )
    return validate_record(record, file=file), count


def _masklet(anno_path: str, video: str) -> tuple[list, int]:
    """The manual masklet (frames x objects) and ``masklet_num``; every frame must list that many objects."""
    data = load_json(anno_path)
    masklet = get(data, "masklet", list, file=anno_path, record=video)
    n_objects = get(data, "masklet_num", int, file=anno_path, record=video)
    if not masklet:
        raise AnnotationError(f"the masklet annotates no frame{where(anno_path, video)}")
    for f, frame in enumerate(masklet):
        if not isinstance(frame, list) or len(frame) != n_objects:
            got = f"{len(frame)} entries" if isinstance(frame, list) else type(frame).__name__
            raise AnnotationError(
                f"masklet frame {f} must list masklet_num = {n_objects} objects, got {got}{where(anno_path, video)}"
            )
    return masklet, n_objects


def _masklet_size(masklet: list, anno_path: str, video: str) -> tuple[int, int]:
    first = masklet[0][0] if masklet[0] else None
    size = first.get("size") if isinstance(first, dict) else None
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise AnnotationError(
            f"the masklet's first RLE has no valid 'size' [h, w]: {size!r:.40}{where(anno_path, video)}"
        )
    return size[0], size[1]


def _column(key: str, n_objects: int, *, file: str, record: str, anno_path: str) -> int:
    """The masklet column of an object key (upstream ``int(key)``): an integer below ``masklet_num``."""
    try:
        column = int(key)
    except ValueError:
        raise AnnotationError(f"object key {key!r} is not an integer (a masklet column){where(file, record)}") from None
    if not 0 <= column < n_objects:
        raise AnnotationError(
            f"object key {key!r} is not a column of the masklet: {anno_path!r} has masklet_num = {n_objects}"
            f"{where(file, record)}"
        )
    return column


SOURCES = (
    SourceSpec(
        "ref_sav",
        "ref_sav",
        description="Ref-SAV: object captions on SA-V videos, masklets at every 4th frame (mp4 decoded lazily).",
        homepage="https://huggingface.co/datasets/ByteDance/Sa2VA-Training",
        license="see homepage; SA-V videos and masklets: cc-by-4.0 (https://ai.meta.com/datasets/segment-anything-video/)",
        citation="Yuan et al., Sa2VA: Marrying SAM2 with LLaVA for Dense Grounded Understanding of Images and "
        "Videos, arXiv:2501.04001; Ravi et al., SAM 2: Segment Anything in Images and Videos, arXiv:2408.00714",
    ),
)
