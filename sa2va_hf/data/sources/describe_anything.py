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

import logging
import lzma
import os
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from ... import masks
from ...errors import AnnotationError, where
from ...image_io import image_file_size
from ..catalog import SourceSpec
from ..safety import loads_pickle
from ..schema import make_record, make_region, make_text, validate_record
from ._fields import get

logger = logging.getLogger(__name__)

VERSION = "1.2.0"  # bump whenever the records change (1.1: video, frame_indices columns; 1.2: EXIF orientation cleared)
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


@dataclass(frozen=True)
class Options:
    """``max_member_bytes``: a tar member the records read (``.jpg``, ``.pickle``) may be at most this large.

    Its size comes from the member header, so a tiny compressed tar claiming a 3 GiB pickle is
    refused before anything is read.
    """

    max_member_bytes: int = 256 << 20

    def __post_init__(self) -> None:
        if isinstance(self.max_member_bytes, bool) or not isinstance(self.max_member_bytes, int):
            raise AnnotationError(f"max_member_bytes must be an int, got {self.max_member_bytes!r}")


def shards(spec: SourceSpec, data_dir: str, options: Options) -> dict[str, list[str]]:
    """Every tar is a shard. All tars are checked first, from their headers (nothing is read):
    intact archives, only regular members, sizes within ``max_member_bytes``, each sample's
    members together and once, no sample key in two tars, no empty tar."""
    tars = _tars(data_dir)
    if not tars:
        raise AnnotationError(f"no <Subset>/images/*.tar files under {root(data_dir)!r}")
    first_seen: dict[str, str] = {}
    for tar_path in tars:
        subset = _subset(tar_path)
        keys = [key for key, _ in _samples(tar_path, options.max_member_bytes, read=False)]
        if not keys:
            raise AnnotationError(f"the tar holds no sample{where(tar_path)}")
        for key in keys:
            other = first_seen.setdefault(f"{subset}/{key}", tar_path)
            if other != tar_path:
                raise AnnotationError(
                    f"sample {key!r} is in two tars: {other!r} and {tar_path!r}{where(tar_path, f'{subset}/{key}')}"
                )
    return {"train": tars}


def _subset(tar_path: str) -> str:
    return os.path.basename(os.path.dirname(os.path.dirname(tar_path)))


def _members(tar_path: str, max_bytes: int, read: bool) -> Iterator[tuple[str, str, bytes | None]]:
    """``(key, extension, data)`` of every regular member, in archive order; ``data`` only for the
    used extensions and only when ``read``. The whole archive is checked: a corrupt or cut header,
    a link member, an absolute or climbing name, an oversized member are errors, never an early
    end (``tarfile`` itself stops silently at a bad header)."""
    try:
        with tarfile.open(tar_path, mode="r:*") as tf:
            for member in tf:
                name = member.name
                if member.isdir():
                    continue
                if not member.isfile():  # a symlink, hard link, device ...: never followed
                    raise AnnotationError(f"tar member {name!r} is not a regular file; refused{where(tar_path)}")
                if "\x00" in name or name.startswith("/") or ".." in name.split("/"):
                    raise AnnotationError(f"tar member name {name!r} is absolute or climbs out{where(tar_path)}")
                dirname, base = os.path.split(name)
                stem, _, ext = base.partition(".")
                key = f"{dirname}/{stem}" if dirname else stem
                data = None
                if ext in USED:
                    if member.size > max_bytes:
                        raise AnnotationError(
                            f"tar member {name!r} claims {member.size} bytes, over max_member_bytes={max_bytes}"
                            f"{where(tar_path)}"
                        )
                    if read:
                        data = tf.extractfile(member).read()
                yield key, ext, data
            _check_archive_end(tf, tar_path)
    except (tarfile.TarError, EOFError) as e:  # EOFError: a compressed tar cut short
        raise AnnotationError(f"corrupt tar: {e}{where(tar_path)}") from None
    except (OSError, zlib.error, lzma.LZMAError) as e:  # a damaged compressed stream (gzip.BadGzipFile, bz2, xz)
        raise AnnotationError(f"corrupt or unreadable tar: {type(e).__name__}: {e}{where(tar_path)}") from None


def _check_archive_end(tf: tarfile.TarFile, tar_path: str) -> None:
    """After the last member comes the end-of-archive marker -- two zero blocks (POSIX), padding with
    zeros allowed -- and nothing else. One zero block alone is accepted with a warning, as GNU tar
    does ("a lone zero block"): a real member header is never all zeros, so it ends a complete archive
    (one cut at a member boundary and padded with exactly one block cannot be told from it)."""
    f = tf.fileobj
    f.seek(tf.offset)
    zeros = 0
    while chunk := f.read(1 << 16):
        if chunk.count(0) != len(chunk):
            raise AnnotationError(
                f"corrupt tar: no valid member header at byte {tf.offset}, yet the archive goes on "
                f"(tarfile would silently end the archive at a damaged header){where(tar_path)}"
            )
        zeros += len(chunk)
    if zeros < tarfile.BLOCKSIZE:
        raise AnnotationError(
            f"corrupt tar: it ends at byte {tf.offset} without its end-of-archive marker (cut short?){where(tar_path)}"
        )
    if zeros < 2 * tarfile.BLOCKSIZE:
        logger.warning("%s: a lone zero block ends the archive (POSIX writes two); read as complete", tar_path)


def _samples(tar_path: str, max_bytes: int, read: bool = True) -> Iterator[tuple[str, dict[str, bytes | None]]]:
    """WebDataset grouping: consecutive members sharing a key (name up to the first dot)."""
    key, files = None, {}
    done: set[str] = set()
    for k, ext, data in _members(tar_path, max_bytes, read):
        if k != key:
            if key is not None:
                yield key, files
                done.add(key)
            if k in done:
                raise AnnotationError(
                    f"sample {k!r} appears twice in the tar, apart (WebDataset keeps a sample's members "
                    f"together){where(tar_path, k)}"
                )
            key, files = k, {}
        if ext in files:
            raise AnnotationError(f"sample {k!r} has two .{ext} members{where(tar_path, k)}")
        files[ext] = data
    if key is not None:
        yield key, files


def generate(
    spec: SourceSpec, data_dir: str, options: Options, split: str, tar_paths: list[str]
) -> Iterator[tuple[str, dict]]:
    for tar_path in tar_paths:
        subset = _subset(tar_path)
        for key, files in _samples(tar_path, options.max_member_bytes):  # checked whole by shards()
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
    w, h = image_file_size(jpg, name=f"{key}.jpg", context=where(tar_path, rec))
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
        options=Options,
        homepage="https://huggingface.co/datasets/nvidia/describe-anything-dataset",
        license="NVIDIA Noncommercial License (see homepage); images: their sources' terms",
        citation="Lian et al., Describe Anything: Detailed Localized Image and Video Captioning, arXiv:2504.16072",
    ),
)
