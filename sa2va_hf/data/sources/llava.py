"""LLaVA-v1.5 mix665k (image conversations, part of Sa2VA's training mix) -> canonical records.

Files (upstream configs): ``data_dir/llava_data/LLaVA-Instruct-150K/llava_v1_5_mix665k.json``
(a JSON list, streamed) and the images under ``data_dir/llava_data/llava_images/`` at each
entry's ``image`` path (``coco/train2017/...``, ``gqa/images/...``, ``ocr_vqa/images/...``,
``textvqa/train_images/...``, ``vg/VG_100K/...``).

One record per entry: ``id`` = its position in the file (the file's own ``id`` values are not
unique across its sub-datasets), ``frames`` = the image, or nothing for a text-only entry
(kept, as upstream does for InternVL: it feeds a zero image), ``conversations`` exactly as in
the file; no regions.

Upstream skips an entry whose image cannot be read (it draws another). Here a missing image is
an error by default; ``missing_images="skip"`` leaves such entries out, counted in the build log
and in the builder's ``filter_report``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from ...errors import ImageLoadError, where
from ..catalog import SourceSpec
from ..safety import safe_join
from ..schema import make_record, validate_record
from ._fields import check_missing_policy, get, records_with_missing_policy
from ._fields import conversations as read_conversations
from ._images import check_image
from ._json import iter_json_array, json_array_shards, require_file

VERSION = "1.1.0"  # bump whenever the records change (1.1: EXIF orientation cleared)


@dataclass(frozen=True)
class LLaVAOptions:
    """``missing_images``: ``"error"`` (default) or ``"skip"`` (counted in ``filter_report``)."""

    missing_images: str = "error"

    def __post_init__(self) -> None:
        check_missing_policy("missing_images", self.missing_images)


def paths(data_dir: str, spec: SourceSpec) -> dict:
    root = os.path.join(os.fspath(data_dir), "llava_data")
    return {"json": os.path.join(root, *spec.params["file"].split("/")), "images": os.path.join(root, "llava_images")}


def input_files(spec: SourceSpec, data_dir: str) -> list[str]:
    return [paths(data_dir, spec)["json"]]


def shards(spec: SourceSpec, data_dir: str, options: LLaVAOptions) -> dict[str, list[dict]]:
    return {"train": json_array_shards(require_file(paths(data_dir, spec)["json"], f"{spec.name} annotation file"))}


def report(spec: SourceSpec, data_dir: str, options: LLaVAOptions) -> dict:
    """Entries, text-only entries, and (with ``missing_images="skip"``) entries left out."""
    p = paths(data_dir, spec)
    counts: Counter = Counter()
    for index, (_, entry) in enumerate(iter_json_array(require_file(p["json"], f"{spec.name} annotation file"))):
        counts["entries in file"] += 1
        image = get(entry, "image", str, file=p["json"], record=str(index), optional=True)
        if image is None:
            counts["text-only entries (kept)"] += 1
        elif options.missing_images == "skip" and not os.path.isfile(
            safe_join(p["images"], image, file=p["json"], record=str(index))
        ):
            counts["entries dropped: image missing"] += 1
    return dict(counts)


def generate(
    spec: SourceSpec, data_dir: str, options: LLaVAOptions, split: str, shard_list: list[dict]
) -> Iterator[tuple[str, dict]]:
    p = paths(data_dir, spec)
    return records_with_missing_policy(
        spec.name,
        shard_list,
        lambda entry, index, file: _record(entry, index, spec.name, p, file),
        _MissingImage,
        options.missing_images,
        "missing_images",
        "image",
    )


class _MissingImage(ImageLoadError):
    """The entry's image file does not exist (the one error the skip policy skips: a corrupt one is not)."""


def _record(entry: object, index: int, source: str, p: dict, file: str) -> dict:
    rec = str(index)
    image = get(entry, "image", str, file=file, record=rec, optional=True)
    conversations = read_conversations(entry, file=file, record=rec)
    frames, h, w = [], 0, 0
    if image is not None:
        path = safe_join(p["images"], image, file=file, record=rec)
        if not os.path.isfile(path):
            raise _MissingImage(f"image {path!r} does not exist{where(file, rec)}")
        h, w = check_image(path, None, None, file=file, record=rec)
        frames = [path]
    record = make_record(id=rec, source=source, frames=frames, height=h, width=w, conversations=conversations)
    return validate_record(record, file=file)


SOURCES = (
    SourceSpec(
        "llava_665k",
        "llava",
        description="LLaVA-v1.5 mix665k instruction conversations (text-only entries kept).",
        params={"file": "LLaVA-Instruct-150K/llava_v1_5_mix665k.json"},
        options=LLaVAOptions,
        homepage="https://huggingface.co/datasets/liuhaotian/LLaVA-Instruct-150K",
        license="cc-by-4.0 (annotations, see homepage); images: their sources' terms (COCO, GQA, OCR-VQA, "
        "TextVQA, Visual Genome)",
        citation="Liu et al., Improved Baselines with Visual Instruction Tuning, CVPR 2024, arXiv:2310.03744",
    ),
)
