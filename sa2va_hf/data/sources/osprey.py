"""Osprey-724K -> canonical records (one record per entry of the JSON list).

Files: ``data_dir/osprey-724k/Osprey-724K/<source>.json`` (a JSON list, streamed element by
element). Images are searched like upstream Sa2VA: ``osprey-724k/coco/{train2014, val2014,
train2017, val2017}/<file_name>``, then ``osprey-724k/<file_name>``; the first hit wins.

* ``id``: the entry's 0-based position in the file (Osprey entries carry no id of their own).
* ``regions``: one per ``annotation[k]``, ``id`` = ``"region{k+1}"`` (the ``<regionK>`` tag the
  conversation uses), mask from ``segmentation`` (polygons merged / RLE converted), ``bbox``
  from ``annotation[k].bbox`` when present.
* ``conversations``: exactly as the file has them (``<region1>`` tags kept; stripping ``<``/``>``
  is the training transform's job).
* ``osprey_detail_description``: ``description`` (or v2's ``descriptions``) item ``i`` becomes
  the text ``{"text": item, "region_ids": [i]}`` (upstream pairs them by position);
  ``conversations`` stays empty.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from ... import masks
from ...errors import AnnotationError, where
from ..catalog import SourceSpec
from ..schema import make_record, make_region, make_text, validate_record
from ._fields import bbox_or_none, get, optional_size
from ._fields import conversations as read_conversations
from ._images import check_image, find_image
from ._json import iter_shard, json_array_shards, require_file

VERSION = "1.2.0"  # bump whenever the records change (1.1: video, frame_indices columns; 1.2: EXIF orientation cleared)
IMAGE_FOLDERS = ("coco/train2014", "coco/val2014", "coco/train2017", "coco/val2017", "")


def paths(data_dir: str, spec: SourceSpec) -> dict:
    root = os.path.join(os.fspath(data_dir), "osprey-724k")
    return {"root": root, "json": os.path.join(root, "Osprey-724K", spec.params["file"])}


def input_files(spec: SourceSpec, data_dir: str) -> list[str]:
    return [paths(data_dir, spec)["json"]]


def shards(spec: SourceSpec, data_dir: str, options) -> dict[str, list[dict]]:
    return {"train": json_array_shards(require_file(paths(data_dir, spec)["json"], f"{spec.name} annotation file"))}


def generate(
    spec: SourceSpec, data_dir: str, options, split: str, shard_list: list[dict]
) -> Iterator[tuple[str, dict]]:
    root = paths(data_dir, spec)["root"]
    for shard in shard_list:
        for index, entry in iter_shard(shard):
            yield str(index), parse_entry(entry, index, spec, root, shard["path"])


def parse_entry(entry: object, index: int, spec: SourceSpec, root: str, file: str) -> dict:
    rec = str(index)
    file_name = get(entry, "file_name", str, file=file, record=rec)
    h, w = optional_size(entry, file=file, record=rec)
    path = find_image(root, IMAGE_FOLDERS, file_name, file=file, record=rec)
    h, w = check_image(path, h, w, file=file, record=rec)
    regions = []
    for k, ann in enumerate(get(entry, "annotation", list, file=file, record=rec)):
        ctx = f"{rec}, annotation {k}"
        seg = get(ann, "segmentation", (list, dict), file=file, record=ctx)
        rle = masks.to_rle(seg, h, w, file=file, record=ctx)
        regions.append(make_region(f"region{k + 1}", [rle], bbox_or_none(ann.get("bbox"), file=file, record=ctx)))
    texts, conversations = [], []
    if spec.params.get("descriptions"):
        key = "description" if "description" in entry else "descriptions"
        items = get(entry, key, list, file=file, record=rec)
        if len(items) > len(regions):
            raise AnnotationError(
                f"{len(items)} descriptions for {len(regions)} regions (description i describes region i+1)"
                f"{where(file, rec)}"
            )
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise AnnotationError(f"description {i} must be a string, got {type(item).__name__}{where(file, rec)}")
            texts.append(make_text(item, [i]))
    else:
        conversations = read_conversations(entry, file=file, record=rec)
    record = make_record(
        id=rec,
        source=spec.name,
        frames=[path],
        height=h,
        width=w,
        regions=regions,
        texts=texts,
        conversations=conversations,
    )
    return validate_record(record, file=file)


def _spec(name: str, description: str, **params) -> SourceSpec:
    return SourceSpec(
        name,
        "osprey",
        description=description,
        params={"file": f"{name}.json", **params},
        homepage="https://huggingface.co/datasets/AntGroup-MI/Osprey-724K",
        license="cc-by-nc-4.0 (annotations); COCO images: COCO terms of use",
        citation="Yuan et al., Osprey: Pixel Understanding with Visual Instruction Tuning, CVPR 2024, arXiv:2312.10032",
    )


SOURCES = (
    _spec("osprey_conversation", "Osprey-724K region-level conversations (osprey_conversation.json)."),
    _spec(
        "osprey_detail_description",
        "Osprey-724K per-region detailed descriptions (osprey_detail_description.json).",
        descriptions=True,
    ),
    _spec("osprey_short_form", "Osprey-724K short-answer region questions (osprey_short_form.json)."),
    _spec("osprey_part_level", "Osprey-724K part-level region conversations (osprey_part_level.json)."),
    _spec(
        "osprey_lvis_positive_negative",
        "Osprey-724K LVIS positive/negative region questions (osprey_lvis_positive_negative.json).",
    ),
)
