"""Training samples at cluster scale on Ray Data (an optional extra: ``pip install "sa2va-hf[ray]"``).

The export (Parquet + card, :mod:`sa2va_hf.export.parquet`) is read with ``ray.data.read_parquet``,
the training transform runs in ``map_batches`` on Ray's workers, and batches come out through the
collator::

    import ray
    from sa2va_hf.training import Sa2VACollator, Sa2VATrainingTransform
    from sa2va_hf.training.ray_data import collated_batches, read_export, training_samples

    records = read_export("sa2va-parquet/", "refcoco", split="train")        # a ray.data.Dataset
    samples = training_samples(records, Sa2VATrainingTransform(processor, "v1"))
    for batch in collated_batches(samples, batch_size=8, collator=Sa2VACollator()):
        ...                                                                  # torch tensors

A record read from the export is the canonical record with its images embedded (``frames`` hold
``{"bytes", "path"}``), which the transform reads as it reads any record. A sample holds ragged
arrays (tiles per image, masks per region) and keys that differ between sources, so it travels
between Ray's workers as one pickled object per row -- our own objects, made by our workers, as a
torch ``DataLoader`` ships them -- and is collated on the consumer.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Iterator
from typing import Any

from ..errors import Sa2VAError

__all__ = ["collated_batches", "read_export", "training_samples"]


#: an export's shard: ``OUT/<config>/<split>-00000-of-00003[-<sha256 start>].parquet``
_SHARD = re.compile(r"(?P<split>.+)-\d{5}-of-\d{5}(?:-[0-9a-f]{16})?\.parquet")


def read_export(output: str | os.PathLike, config: str, split: str = "train", **read_kwargs: Any):
    """The records of one config and split of an export as a ``ray.data.Dataset``: its Parquet shards, as the
    export names them (``OUT/<config>/<split>-NNNNN-of-NNNNN[-<digest>].parquet``; the manifest is not needed to find them,
    so an edited one cannot point elsewhere)."""
    import ray.data

    root = os.fspath(output)
    if not os.path.isfile(os.path.join(root, "sa2va_export.json")):
        raise Sa2VAError(f"{root!r} is not an sa2va-hf export: no sa2va_export.json")
    for what, name in (("config", config), ("split", split)):
        if not isinstance(name, str) or not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
            raise Sa2VAError(f"{what} {name!r} is not a name of the export's")
    folder = os.path.join(root, config)
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    files = [os.path.join(folder, n) for n in names if (m := _SHARD.fullmatch(n)) and m["split"] == split]
    if not files:
        raise Sa2VAError(f"the export has no {config!r} / {split!r}; it holds {_holdings(root)}")
    return ray.data.read_parquet(files, **read_kwargs)


def _holdings(root: str) -> dict[str, list[str]]:
    """config -> the splits it has shards of."""
    out = {}
    for config in sorted(os.listdir(root)):
        folder = os.path.join(root, config)
        if os.path.isdir(folder):
            splits = sorted({m["split"] for n in os.listdir(folder) if (m := _SHARD.fullmatch(n))})
            if splits:
                out[config] = splits
    return out


class _TransformRows:
    """``map_batches`` function: a pyarrow batch of records -> one pickled sample per row."""

    def __init__(self, transform) -> None:
        self.transform = transform

    def __call__(self, table) -> dict[str, list]:
        import numpy as np

        records = table.to_pylist()
        samples = [pickle.dumps(self.transform(record), protocol=pickle.HIGHEST_PROTOCOL) for record in records]
        return {"id": np.asarray([r["id"] for r in records], dtype=object), "sample": np.asarray(samples, dtype=object)}


def training_samples(records, transform, *, batch_size: int = 8, **map_kwargs: Any):
    """``records`` (a ``ray.data.Dataset`` of canonical records) -> a dataset of training samples.

    The transform's plans depend only on (seed, epoch, source, id, repeat), so a record gives the
    same sample on whichever worker builds it; call ``transform.set_epoch(e)`` before building the
    epoch's pipeline.
    """
    return records.map_batches(_TransformRows(transform), batch_size=batch_size, batch_format="pyarrow", **map_kwargs)


def collated_batches(samples, *, batch_size: int, collator=None, **iter_kwargs: Any) -> Iterator[dict[str, Any]]:
    """Model-ready batches from :func:`training_samples`, through ``collator`` (``Sa2VACollator()`` by default)."""
    if collator is None:
        from .collator import Sa2VACollator

        collator = Sa2VACollator()
    for batch in samples.iter_batches(batch_size=batch_size, batch_format="numpy", **iter_kwargs):
        yield collator([pickle.loads(blob) for blob in batch["sample"]])
