"""Upstream v2's fine-tuning format (``docs/finetune.md``) -> canonical records.

Layout (``data_dir`` is the dataset's own folder, not the Sa2VA ``data/`` root)::

    my_data/
    ├── annotations.json   [{"image": "a.jpg", "mask": [[polygon, ...] per object], "text": [one per object]}]
    └── images/a.jpg ...

One record per entry (``id`` = its position in the file). Object ``k`` becomes region ``k``
(its polygons merged into one binary mask; upstream sums them, so overlaps would read 2) and
text ``k`` its text, untouched (upstream lower-cases it and drops a final ``.`` at training
time: the transform's job). The image size comes from the image header. A mask list and a text
list of different lengths is an error naming the entry: an object without text, or a text
without mask, cannot be paired silently.

The ``name`` option (``load_source(..., name="my_set")``; ``source_name`` through
``datasets.load_dataset``) sets the ``source`` column, so several fine-tuning sets keep apart
after ``concatenate_datasets``. ``mask_frame`` says where the polygons of an image with an EXIF
orientation were drawn (``_images.own_mask_frame``): ``"auto"`` (default) tells it from the
polygons' extent where it can, and is an error where it cannot.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from ... import masks
from ...errors import AnnotationError, Sa2VAError, where
from ..catalog import SourceSpec
from ..orientation import to_stored_frame
from ..safety import safe_join
from ..schema import make_record, make_region, make_text, validate_record
from ._fields import get
from ._images import MASK_FRAMES, check_image, own_mask_frame
from ._json import iter_shard, json_array_shards, require_file

VERSION = "1.1.0"  # bump whenever the records change (1.1: EXIF orientation cleared)
IMAGE_FOLDER = "images"


@dataclass(frozen=True)
class OwnDataOptions:
    """``source_name``: the ``source`` column of the records (default: the source name).

    ``load_source(..., name=...)`` sets it too (``name`` is a builder config's own field, hence
    the longer name here and through ``datasets.load_dataset``).

    ``mask_frame``: where the masks of an image with an EXIF orientation were drawn (``"auto"``,
    ``"stored"``, ``"displayed"``): see :func:`~sa2va_hf.data.sources._images.own_mask_frame`.
    """

    source_name: str | None = None
    mask_frame: str = "auto"

    def __post_init__(self) -> None:
        value = self.source_name
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise Sa2VAError(f"name must be a non-empty string, got {value!r}")
        if self.mask_frame not in MASK_FRAMES:
            raise Sa2VAError(f"mask_frame must be one of {list(MASK_FRAMES)}, got {self.mask_frame!r}")


def source_name(spec: SourceSpec, options: OwnDataOptions) -> str:
    return options.source_name or spec.name


def input_files(spec: SourceSpec, data_dir: str) -> list[str]:
    return [os.path.join(os.fspath(data_dir), "annotations.json")]


def shards(spec: SourceSpec, data_dir: str, options: OwnDataOptions) -> dict[str, list[dict]]:
    path = require_file(
        input_files(spec, data_dir)[0], f"{spec.name} annotations.json (data_dir is the dataset folder)"
    )
    return {"train": json_array_shards(path)}


def generate(
    spec: SourceSpec, data_dir: str, options: OwnDataOptions, split: str, shard_list: list[dict]
) -> Iterator[tuple[str, dict]]:
    for shard in shard_list:
        for index, entry in iter_shard(shard):
            yield str(index), _record(entry, index, source_name(spec, options), data_dir, shard["path"], options)


def _fits(segmentation: object, height: int, width: int) -> bool:
    """Whether a polygon list (every point) or an RLE (its size) fits an image of ``height`` x ``width``."""
    if masks.is_rle(segmentation):
        return [int(v) for v in segmentation["size"]] == [height, width]
    try:
        points = [float(v) for poly in segmentation for v in poly]
    except (TypeError, ValueError):
        return True  # not for this check to say: the mask's own decoding names what is wrong
    return all(0 <= x <= width for x in points[0::2]) and all(0 <= y <= height for y in points[1::2])


def _record(entry: object, index: int, source: str, data_dir: str, file: str, options: OwnDataOptions) -> dict:
    rec = str(index)
    image = get(entry, "image", str, file=file, record=rec)
    objects = get(entry, "mask", list, file=file, record=rec)
    texts = get(entry, "text", list, file=file, record=rec)
    if len(objects) != len(texts):
        raise AnnotationError(
            f"{len(objects)} masks but {len(texts)} texts: mask k and text k describe object k{where(file, rec)}"
        )
    path = safe_join(data_dir, IMAGE_FOLDER, image, file=file, record=rec)
    h, w = check_image(path, None, None, file=file, record=rec)
    (mh, mw), turn = own_mask_frame(
        path, h, w, options.mask_frame, lambda hh, ww: all(_fits(o, hh, ww) for o in objects), file=file, record=rec
    )
    regions, out_texts = [], []
    for k, (polygons, text) in enumerate(zip(objects, texts)):
        ctx = f"{rec}, object {k}"
        if not isinstance(text, str):
            raise AnnotationError(f"text {k} must be a string, got {type(text).__name__}{where(file, ctx)}")
        if turn == 1:
            rle = masks.to_rle(polygons, h, w, file=file, record=ctx)
        else:  # drawn on the displayed view: rasterised there, then moved onto the stored pixels
            rle = masks.encode(to_stored_frame(masks.decode(polygons, mh, mw, file=file, record=ctx), turn))
        regions.append(make_region(k, [rle]))
        out_texts.append(make_text(text, [k]))
    record = make_record(id=rec, source=source, frames=[path], height=h, width=w, regions=regions, texts=out_texts)
    return validate_record(record, file=file)


SOURCES = (
    SourceSpec(
        "finetune",
        "finetune",
        description="Your own data in upstream Sa2VA v2's fine-tuning format (annotations.json + images/).",
        options=OwnDataOptions,
        homepage="https://github.com/bytedance/Sa2VA/blob/main/docs/finetune.md",
        license="yours",
        citation="Yuan et al., Sa2VA: Marrying SAM2 with LLaVA for Dense Grounded Understanding of Images and "
        "Videos, arXiv:2501.04001",
    ),
)
