"""``OUT/sa2va_export.json``, read as the untrusted data it may be, and the rule that an export writes and deletes
only inside ``OUT``.

An output folder may come from anywhere (a cloned dataset repository, a shared drive), so its manifest is
checked before anything in it is acted on: every listed file must be one an export writes --
``<config>/<split>-NNNNN-of-NNNNN[-<digest>].parquet`` under its own config and split -- and no path the export writes
or deletes may lead out of ``OUT`` through a symlink. A manifest that is not such a listing is an error
naming it, never a path to delete.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from ..errors import Sa2VAError
from .card import CARD_FIELDS

__all__ = ["check_folder_name", "inside_output", "load_manifest"]

MANIFEST = "sa2va_export.json"
#: a shard's name may end in the start of its sha256 (``train-00000-of-00001-0123456789abcdef.parquet``)
SHARD_DIGEST = "(?:-[0-9a-f]{16})?"
_ENTRY_KEYS = {"config", "source", "split", "num_records", "num_bytes", "files"}
_CARD_KEY = "card"  # own data: what the user says of it on the dataset card (0.3); absent in 0.2 manifests


def check_folder_name(name: object, what: str) -> str:
    """``name`` as one folder or file-name part inside ``OUT``: a non-empty string without a path separator,
    NUL, or a name of its own (``.``, ``..``)."""
    if not isinstance(name, str) or not name or name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise Sa2VAError(f"{what} {name!r} is not a plain folder name (no '/', '\\\\', NUL, '.' or '..')")
    return name


def inside_output(output: str, path: str) -> str:
    """``path``, once it is known to stay inside ``output`` after symlinks are followed (else an error)."""
    root = os.path.realpath(output)
    real = os.path.realpath(path)
    if os.path.commonpath([root, real]) != root:
        raise Sa2VAError(
            f"{path!r} leads out of the output folder {output!r} (to {real!r}, through a symlink): an export "
            "writes and deletes only inside the folder it is given"
        )
    return path


def load_manifest(output: str) -> dict[str, dict[str, dict]]:
    """The manifest of ``output`` (empty when there is none), checked: see the module docstring."""
    path = os.path.join(output, MANIFEST)
    if not os.path.isfile(path):
        return {}
    inside_output(output, path)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise Sa2VAError(f"{_bad(path)}: it is not valid JSON ({type(e).__name__}: {e})") from None
    _check(manifest, path)
    return manifest


def _bad(path: str) -> str:
    return f"the export manifest {path!r} cannot be used (delete it, or export into another folder)"


def _check(manifest: Any, path: str) -> None:
    if not isinstance(manifest, dict):
        raise Sa2VAError(f"{_bad(path)}: expected an object of configs, got {type(manifest).__name__}")
    for config, splits in manifest.items():
        try:
            check_folder_name(config, "config")
        except Sa2VAError as e:
            raise Sa2VAError(f"{_bad(path)}: {e}") from None
        if not isinstance(splits, dict):
            raise Sa2VAError(f"{_bad(path)}: config {config!r} must map splits to entries")
        for split, entry in splits.items():
            _check_entry(config, split, entry, path)


def _check_entry(config: str, split: str, entry: Any, path: str) -> None:
    where = f"config {config!r}, split {split!r}"
    if not isinstance(entry, Mapping) or set(entry) - {_CARD_KEY} != _ENTRY_KEYS:
        keys = sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__
        raise Sa2VAError(
            f"{_bad(path)}: {where} must hold exactly {sorted(_ENTRY_KEYS)} (and {_CARD_KEY!r}), got {keys}"
        )
    card = entry.get(_CARD_KEY, {})
    if not isinstance(card, Mapping) or not all(
        key in CARD_FIELDS and isinstance(value, str) for key, value in card.items()
    ):
        raise Sa2VAError(f"{_bad(path)}: {where}: {_CARD_KEY} must map {list(CARD_FIELDS)} to strings, got {card!r:.300}")
    if entry["config"] != config or entry["split"] != split or not isinstance(entry["source"], str):
        raise Sa2VAError(f"{_bad(path)}: {where} names config {entry['config']!r} / split {entry['split']!r}")
    for key in ("num_records", "num_bytes"):
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise Sa2VAError(f"{_bad(path)}: {where}: {key} must be an int >= 0, got {value!r}")
    shard = re.compile(rf"{re.escape(config)}/{re.escape(split)}-\d{{5}}-of-\d{{5}}{SHARD_DIGEST}\.parquet")
    files = entry["files"]
    if not isinstance(files, list) or not all(isinstance(f, str) and shard.fullmatch(f) for f in files):
        raise Sa2VAError(
            f"{_bad(path)}: {where}: files must be the split's own shards, '{config}/{split}-NNNNN-of-NNNNN.parquet', "
            f"got {files!r:.300}"
        )
