"""Typed access to annotation fields: a wrong or missing value is an ``AnnotationError`` naming file and record."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator

from ...errors import AnnotationError, Sa2VAError, where
from ..schema import FLOAT32_MAX
from ._json import iter_shard

logger = logging.getLogger(__name__)


def get(d: object, key: str, types, *, file: object, record: object, optional: bool = False):
    """``d[key]`` checked to be of ``types``; AnnotationError naming file and record otherwise."""
    if not isinstance(d, dict):
        raise AnnotationError(f"expected a JSON object, got {type(d).__name__}{where(file, record)}")
    if key not in d or d[key] is None:
        if optional:
            return None
        raise AnnotationError(f"missing key {key!r}{where(file, record)}")
    value = d[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise AnnotationError(f"{key!r} must be {_names(types)}, got bool{where(file, record)}")
    if not isinstance(value, types):
        raise AnnotationError(f"{key!r} must be {_names(types)}, got {type(value).__name__}{where(file, record)}")
    return value


#: What a source may do with an entry whose media file is missing (a ``missing_*`` option).
MISSING_FILE_POLICIES = ("error", "skip")


def check_missing_policy(option: str, value: object) -> None:
    """Refuse a ``missing_*`` option that is not one of :data:`MISSING_FILE_POLICIES`."""
    if value not in MISSING_FILE_POLICIES:
        raise Sa2VAError(f"{option} must be one of {MISSING_FILE_POLICIES}, got {value!r}")


def records_with_missing_policy(
    source: str,
    shard_list: list[dict],
    build: Callable[[object, int, str], dict],
    missing: type[Exception],
    policy: str,
    option: str,
    what: str,
) -> Iterator[tuple[str, dict]]:
    """``(str(index), build(entry, index, file))`` for every entry of the JSON-array shards; an entry whose
    build raises ``missing`` (its ``what``, a media file, is absent -- no other error) is an error, or
    with ``policy="skip"`` (the source's option ``option``) left out and counted in the log."""
    skipped = 0
    for shard in shard_list:
        for index, entry in iter_shard(shard):
            try:
                record = build(entry, index, shard["path"])
            except missing:
                if policy != "skip":
                    raise
                skipped += 1
                continue
            yield str(index), record
    if skipped:
        logger.warning("%s: %d entries left out, their %s is missing (%s='skip')", source, skipped, what, option)


def _names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)


def as_int(value: object, key: str, *, file: object, record: object) -> int:
    """An int from an int or a numeric string (Flickr's heights may be strings)."""
    if isinstance(value, bool):
        raise AnnotationError(f"{key!r} must be an integer, got bool{where(file, record)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise AnnotationError(f"{key!r} must be an integer, got {value!r:.40}{where(file, record)}")


def optional_size(entry: object, *, file: object, record: object) -> tuple[int | None, int | None]:
    """(height, width) of an entry when it states both (ints or numeric strings), else (None, None).

    One without the other is an error: it cannot be checked against the image, and ignoring it
    would hide a broken entry.
    """
    h, w = (get(entry, key, (int, float, str), file=file, record=record, optional=True) for key in ("height", "width"))
    if (h is None) != (w is None):
        given, missing = ("height", "width") if w is None else ("width", "height")
        raise AnnotationError(f"the entry gives {given!r} but no {missing!r}{where(file, record)}")
    if h is None:
        return None, None
    return as_int(h, "height", file=file, record=record), as_int(w, "width", file=file, record=record)


def bbox_or_none(value: object, *, file: object, record: object) -> list[float] | None:
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise AnnotationError(f"bbox must be [x, y, w, h] numbers, got {value!r:.60}{where(file, record)}")
    try:
        box = [float(v) for v in value]
    except OverflowError:  # an integer beyond float range
        box = [math.inf]
    if not all(math.isfinite(v) and abs(v) <= FLOAT32_MAX for v in box):
        raise AnnotationError(f"bbox must hold finite float32 numbers, got {value!r:.60}{where(file, record)}")
    return box


def conversations(entry: object, *, file: object, record: object) -> list[dict]:
    """The ``conversations`` of an entry, exactly as written: ``[{"from": str, "value": str}, ...]``."""
    turns = get(entry, "conversations", list, file=file, record=record)
    return [
        {"from": get(t, "from", str, file=file, record=record), "value": get(t, "value", str, file=file, record=record)}
        for t in turns
    ]
