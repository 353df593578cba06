"""Describe Anything DLC-SFT (nvidia/describe-anything-dataset) -> canonical records.

Layout: ``data_dir/describe-anything-dataset/<Subset>/images/*.tar`` (the Hub repository
downloaded as is; ``data_dir/describe_anything/...`` also works). Each WebDataset tar holds,
per image key, ``<key>.jpg`` and ``<key>.pickle``; the pickle (read with the restricted
unpickler) is a list of region dicts ``{img_id, ann_id, image, mask_rle, caption}``.

One record per region entry: ``id`` = ``"<Subset>/<key>/<ann_id>"``, one region (``id`` =
``ann_id``) with ``mask_rle``, ``caption`` = the entry's caption, and one text holding the same
caption with ``region_ids=[0]``. The image lives only inside the tar, so its JPEG bytes are
embedded in the record (``frames[0] = {"bytes": ..., "path": "<key>.jpg"}``), once per region.
Tars are read as streams, one member at a time; every tar is a shard.
"""

from __future__ import annotations

import io
import logging
import os
import tarfile
import warnings
from collections.abc import Iterator

from PIL import Image

from ... import masks
from ...errors import AnnotationError, ImageLoadError, where
from ..catalog import SourceSpec
from ..safety import loads_pickle
from ..schema import make_record, make_region, make_text, validate_record
from ._fields import get

logger = logging.getLogger(__name__)

VERSION = "1.0.0"  # bump whenever the records change
ROOTS = ("describe-anything-dataset", "describe_anything")
USED = ("jpg", "pickle")


def root(data_dir: str) -> str:
    for name in ROOTS:
        candidate = os.path.join(os.fspath(data_dir), name)
        if os.path.isdir(candidate):
            return candidate
    raise AnnotationError(
        f"describe_anything data not found: expected {[os.path.join(os.fspath(data_dir), n) for n in ROOTS]}"
    )


def _tars(data_dir: str) -> list[str]:
    """Every ``<Subset>/images/*.tar`` under the root, sorted (subset, tar name)."""
    base = root(data_dir)
    tars = []
    for subset in sorted(os.listdir(base)):
        folder = os.path.join(base, subset, "images")
        if os.path.isdir(folder):
            tars.extend(os.path.join(folder, t) for t in sorted(os.listdir(folder)) if t.endswith(".tar"))
    return tars


def input_files(spec: SourceSpec, data_dir: str) -> list[str]:
    try:
        return _tars(data_dir)
    except AnnotationError:
        return []  # no data yet: the build itself reports it


def shards(spec: SourceSpec, data_dir: str, options) -> dict[str, list[str]]:
    """Every tar is a shard."""
    tars = _tars(data_dir)
    if not tars:
        raise AnnotationError(f"no <Subset>/images/*.tar files under {root(data_dir)!r}")
    return {"train": tars}


def _samples(tar_path: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """WebDataset grouping: consecutive members sharing a key (name up to the first dot)."""
    key, files = None, {}
    try:
        with tarfile.open(tar_path, mode="r|*") as tf:
            for member in tf:
                if not member.isfile():
                    continue
                dirname, base = os.path.split(member.name)
                stem, _, ext = base.partition(".")
                k = f"{dirname}/{stem}" if dirname else stem
                if k != key:
                    if key is not None:
                        yield key, files
                    key, files = k, {}
                # only the members a record uses are read into memory
                files[ext] = tf.extractfile(member).read() if ext in USED else None
    except tarfile.TarError as e:
        raise AnnotationError(f"corrupt tar: {e}{where(tar_path)}") from None
    if key is not None:
        yield key, files


def generate(spec: SourceSpec, data_dir: str, options, split: str, tar_paths: list[str]) -> Iterator[tuple[str, dict]]:
    for tar_path in tar_paths:
        subset = os.path.basename(os.path.dirname(os.path.dirname(tar_path)))
        for key, files in _samples(tar_path):
            yield from _records(spec.name, subset, key, files, tar_path)


def _records(source: str, subset: str, key: str, files: dict[str, bytes], tar_path: str) -> Iterator[tuple[str, dict]]:
    rec = f"{subset}/{key}"
    ignored = sorted(set(files) - set(USED))
    if ignored:
        logger.info("%s: members %s of %s not used", tar_path, ignored, key)
    if "pickle" not in files or "jpg" not in files:
        missing = "pickle" if "pickle" not in files else "jpg"
        raise AnnotationError(f"sample {key!r} has no .{missing} member{where(tar_path, rec)}")
    jpg = files["jpg"]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(jpg)) as im:
                w, h = im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageLoadError(f"image {key}.jpg cannot be read: {e}{where(tar_path, rec)}") from None
    regions = loads_pickle(files["pickle"], source=f"{tar_path}:{key}.pickle")
    if not isinstance(regions, list):
        raise AnnotationError(f"{key}.pickle must hold a list of region dicts{where(tar_path, rec)}")
    seen_ann_ids = set()
    for k, entry in enumerate(regions):
        ctx = f"{rec}, entry {k}"
        img_id = get(entry, "img_id", str, file=tar_path, record=ctx)
        if img_id != os.path.basename(key):
            raise AnnotationError(f"img_id {img_id!r} differs from the sample key {key!r}{where(tar_path, ctx)}")
        ann_id = get(entry, "ann_id", (int, str), file=tar_path, record=ctx)
        rec_id = f"{rec}/{ann_id}"
        if str(ann_id) in seen_ann_ids:
            raise AnnotationError(f"ann_id {ann_id!r} appears twice in {key}.pickle{where(tar_path, rec_id)}")
        seen_ann_ids.add(str(ann_id))
        caption = get(entry, "caption", str, file=tar_path, record=rec_id)
        rle = masks.to_rle(
            get(entry, "mask_rle", dict, file=tar_path, record=rec_id), h, w, file=tar_path, record=rec_id
        )
        record = make_record(
            id=rec_id,
            source=source,
            frames=[{"bytes": jpg, "path": f"{os.path.basename(key)}.jpg"}],
            height=h,
            width=w,
            regions=[make_region(ann_id, [rle])],
            texts=[make_text(caption, [0])],
            caption=caption,
        )
        yield rec_id, validate_record(record, file=tar_path)


SOURCES = (
    SourceSpec(
        "describe_anything",
        "describe_anything",
        description="Describe Anything DLC-SFT region captions (nvidia/describe-anything-dataset, all subsets).",
    ),
)
