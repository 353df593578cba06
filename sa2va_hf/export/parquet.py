"""Export built sources as self-contained Parquet + a dataset card that ``datasets.load_dataset`` reads.

``OUT/<source>/<split>-00000-of-00003-<digest>.parquet``: every record as ``load_source`` builds it, with
the image files embedded in ``frames`` and the video files in ``video`` (bytes; the path keeps only the
file name; an image's EXIF orientation is cleared, so no reader turns it), so OUT needs neither the raw
data folder nor this package. ``<digest>`` is the start of the file's sha256: the card lists the files by
name, and ``datasets`` keys its cache of a local folder on the card's YAML (not on the files' bytes), so
new content must mean new names, or a re-export with an edit that keeps every size would be read back
from the old cache. Shards are cut at about ``max_shard_bytes`` (500 MB by default, the size the Hub
recommends), with small row groups so streaming reads little at a time.

The features go into each file's schema metadata in the form both ``datasets`` 3.x and >= 4 read
(lists written as ``[feature]``: 3.x does not know ``List``). ``OUT/sa2va_export.json`` lists what
was exported; exporting more sources into the same OUT adds to it, and the card
(:mod:`sa2va_hf.export.card`) is written from it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..data.catalog import get_spec
from ..data.orientation import clear_orientation
from ..data.safety import check_output_folder
from ..errors import ImageLoadError, Sa2VAError, VideoLoadError
from .manifest import MANIFEST, check_folder_name, inside_output, load_manifest

__all__ = ["ExportedSplit", "export_sources", "portable_features_dict", "MANIFEST"]

DEFAULT_SHARD_BYTES = 500 << 20
ROWS_PER_GROUP = 100  # what datasets uses for image datasets: small groups stream well
VIDEO_ROWS_PER_GROUP = 8  # a row holds a whole mp4


@dataclass
class ExportedSplit:
    config: str  # the config name in OUT: the source name, or your own data's ``name``
    source: str  # the catalog source it was built from
    split: str
    num_records: int
    num_bytes: int
    files: list[str] = field(default_factory=list)  # relative to OUT, posix
    card: dict[str, str] = field(default_factory=dict)  # own data: what the user says of it (card.CARD_FIELDS)


def portable_features_dict(features) -> dict:
    """``Features.to_dict()`` with lists as ``[feature]``, which datasets 3.x and >= 4 both decode."""

    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("_type") == "List" and node.get("length", -1) == -1:
                return [convert(node["feature"])]
            return {k: convert(v) for k, v in node.items()}
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    return convert(features.to_dict())


def _schema(features):
    import pyarrow as pa

    metadata = {"huggingface": json.dumps({"info": {"features": portable_features_dict(features)}})}
    return pa.schema(list(features.arrow_schema), metadata=metadata)


def _read_bytes(path: str, what: str, record: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        error = VideoLoadError if what == "video" else ImageLoadError
        raise error(f"cannot embed the {what} file {path!r} of record {record!r}: {e}") from None


def _embedded(entry: dict | None, what: str, record: str) -> dict | None:
    """``{"bytes", "path"}`` with the file's bytes read in and only its name kept as path. An image's
    orientation tag is cleared (:mod:`sa2va_hf.data.orientation`), so no reader of the export turns it."""
    if entry is None:
        return None
    path = entry.get("path")
    data = entry.get("bytes")
    if data is None:
        if path is None:
            return entry
        data = _read_bytes(path, what, record)
    if what == "image":
        data = clear_orientation(data, path or "<image bytes>", f" (record {record!r})")
    return {"bytes": data, "path": None if path is None else os.path.basename(path)}


def _embed_table(table, schema):
    """One batch of records with every referenced image and video file read into it."""
    import pyarrow as pa

    ids = table.column("id").to_pylist()
    frames = [[_embedded(f, "image", rid) for f in row] for rid, row in zip(ids, table.column("frames").to_pylist())]
    videos = [_embedded(v, "video", rid) for rid, v in zip(ids, table.column("video").to_pylist())]
    table = table.set_column(
        table.schema.get_field_index("frames"), schema.field("frames"), pa.array(frames, schema.field("frames").type)
    )
    table = table.set_column(
        table.schema.get_field_index("video"), schema.field("video"), pa.array(videos, schema.field("video").type)
    )
    return table.cast(schema)


def write_split(
    ds,
    out_dir: str,
    split: str,
    *,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    rows_per_group: int | None = None,
    progress=None,
) -> tuple[list[str], int]:
    """Write one split as Parquet shards into ``out_dir``; returns (file names, bytes written).

    A shard is closed once it holds ``max_shard_bytes``; row groups hold ``rows_per_group`` records
    (100, or 8 for video sources: a row holds a whole video file).
    """
    import pyarrow.parquet as pq

    from ..data.schema import features

    schema = _schema(features())
    videos = ds.data.column("video")
    rows = rows_per_group or (VIDEO_ROWS_PER_GROUP if videos.null_count < len(videos) else ROWS_PER_GROUP)
    os.makedirs(out_dir, exist_ok=True)
    tmp_names: list[str] = []
    writer, written, total = None, 0, 0
    try:
        for batch in ds.with_format("arrow").iter(batch_size=rows):
            table = _embed_table(batch, schema)
            if writer is None or written >= max_shard_bytes:
                if writer is not None:
                    writer.close()
                tmp_names.append(f"{split}-{len(tmp_names):05d}.parquet.tmp")
                writer = pq.ParquetWriter(os.path.join(out_dir, tmp_names[-1]), schema)
                written = 0
            writer.write_table(table, row_group_size=len(table))
            written += table.nbytes
            total += table.nbytes
            if progress is not None:
                progress.update(len(table))
    finally:
        if writer is not None:
            writer.close()
    names = []
    for k, tmp in enumerate(tmp_names):
        name = f"{split}-{k:05d}-of-{len(tmp_names):05d}-{_digest(os.path.join(out_dir, tmp))}.parquet"
        os.replace(os.path.join(out_dir, tmp), os.path.join(out_dir, name))
        names.append(name)
    return names, total


def _digest(path: str) -> str:
    """The first 16 hex digits of the file's sha256: its name changes whenever its bytes do."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:16]


def export_sources(
    names: Sequence[str],
    data_dir: str | os.PathLike,
    output: str | os.PathLike,
    *,
    cache_dir: str | None = None,
    num_proc: int | None = None,
    max_shard_bytes: int = DEFAULT_SHARD_BYTES,
    rows_per_group: int | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = True,
    command: str | None = None,
    card: Mapping[str, Mapping[str, str]] | None = None,
    repo_id: str | None = None,
) -> list[ExportedSplit]:
    """Build (or reuse the cached build of) each source and write it to ``output`` as Parquet + card.

    ``options``: per source, its ``load_source`` options. ``card``: per own-data source (``folder``,
    ``finetune``), what its dataset card says of it (``pretty_name``, ``description``, ``license``,
    ``citation``). ``repo_id``: the Hub dataset repository the card's snippet loads (default: ``output``).
    Returns what was written, per split.
    """
    from ..data import load_source
    from .card import check_card_info, write_card

    output = check_output_folder(output, "output")  # a file there is refused before anything is built
    options = dict(options or {})
    unknown = sorted((set(options) | set(card or {})) - set(names))
    if unknown:
        raise Sa2VAError(f"options given for sources that are not exported: {unknown}")
    specs = [get_spec(name) for name in names]  # unknown names fail before any work
    card_info = {name: check_card_info(name, info) for name, info in (card or {}).items()}
    manifest = load_manifest(output)  # checked: it lists what the export may delete
    for name in (MANIFEST, "README.md"):
        inside_output(output, os.path.join(output, name))
    exported: list[ExportedSplit] = []
    for spec in specs:
        source_options = dict(options.get(spec.name, {}))
        # own data exported under its own name, so several of them share one OUT
        config = source_options.get("name") or source_options.get("source_name") or spec.name
        out_dir = inside_output(output, os.path.join(output, check_folder_name(config, "the exported name")))
        built = load_source(spec.name, data_dir, cache_dir=cache_dir, num_proc=num_proc, **source_options)
        _remove_old_files(output, manifest.get(config, {}))
        manifest[config] = {}
        for split, ds in built.items():
            bar = _progress(f"{config}/{split}", len(ds), progress)
            try:
                files, nbytes = write_split(
                    ds, out_dir, split, max_shard_bytes=max_shard_bytes, rows_per_group=rows_per_group, progress=bar
                )
            finally:
                if bar is not None:
                    bar.close()
            files = [f"{config}/{f}" for f in files]
            done = ExportedSplit(config, spec.name, split, len(ds), nbytes, files, card_info.get(spec.name, {}))
            manifest[config][split] = asdict(done)
            exported.append(done)
    with open(os.path.join(output, MANIFEST), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    write_card(output, manifest, command=command, repo_id=repo_id)
    return exported


def _remove_old_files(output: str, splits: Mapping[str, Mapping]) -> None:
    """Delete a config's shards of an earlier export (``splits``: its checked manifest entries)."""
    for entry in splits.values():
        for rel in entry["files"]:
            path = inside_output(output, os.path.join(output, *rel.split("/")))
            if os.path.isfile(path):
                os.remove(path)


def _progress(what: str, total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"exporting {what}", unit="records", delay=1)  # none for a step under a second
