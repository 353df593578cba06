"""Reading annotation files: streaming top-level JSON arrays, whole JSON files, and sharding.

``iter_json_array`` holds one element (plus a read buffer) at a time and yields each element's
byte offset, so a large array can be cut into shards that worker processes read independently.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterator, Sequence

from ...errors import AnnotationError, where

_DECODER = json.JSONDecoder()
_WS = " \t\n\r"
MAX_SHARDS = 64


# --------------------------------------------------------------------------- JSON arrays


def iter_json_array(
    path: str | os.PathLike, start: int | None = None, count: int | None = None, chunk_size: int = 1 << 20
) -> Iterator[tuple[int, object]]:
    """Yield ``(byte_offset, element)`` for the elements of the top-level JSON array in ``path``.

    Only one element (plus a read buffer) is held at a time, so memory stays bounded by the
    largest element, not the file. ``start`` (a byte offset yielded by an earlier pass) and
    ``count`` read a slice of the array, which is how parsing is sharded across processes.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        decoder = codecs.getincrementaldecoder("utf-8")()
        buf = ""
        base = 0  # byte offset of buf[0]
        eof = False

        def more(min_bytes: int) -> bool:
            nonlocal buf, eof
            if eof:
                return False
            data = f.read(max(chunk_size, min_bytes))
            try:
                if not data:
                    eof = True
                    buf += decoder.decode(b"", final=True)
                    return False
                buf += decoder.decode(data)
            except UnicodeDecodeError as e:
                raise AnnotationError(f"annotation file is not valid UTF-8 ({e.reason}){where(path)}") from None
            return True

        def skip_ws(i: int) -> int:
            while True:
                while i < len(buf) and buf[i] in _WS:
                    i += 1
                if i < len(buf) or not more(0):
                    return i

        def bad(msg: str, i: int):
            off = base + len(buf[:i].encode("utf-8"))
            return AnnotationError(f"{msg} at byte {off}{where(path)}")

        i = 0
        if start is None:
            more(0)
            if buf.startswith("\ufeff"):
                buf = buf[1:]
                base = 3
            i = skip_ws(0)
            if i >= len(buf) or buf[i] != "[":
                raise bad("expected a JSON array ('[') at the top level", i)
            i = skip_ws(i + 1)
            if i < len(buf) and buf[i] == "]":
                return
        else:
            f.seek(start)
            base = start
            i = skip_ws(0)
        n = 0
        while count is None or n < count:
            if i >= len(buf):
                raise bad("unexpected end of file inside the JSON array", i)
            # decode one element; retry with more data while it may be incomplete
            while True:
                try:
                    item, end = _DECODER.raw_decode(buf, i)
                    if end < len(buf) or eof:
                        break
                except json.JSONDecodeError as e:
                    if eof:
                        raise bad(f"invalid JSON ({e.msg})", e.pos) from None
                except RecursionError:
                    raise bad("JSON nested too deeply to parse", i) from None
                if not more(len(buf)):
                    continue  # eof now set: decode once more to settle
            offset = base + len(buf[:i].encode("utf-8"))
            yield offset, item
            n += 1
            # drop the consumed text so the buffer stays small
            base += len(buf[:end].encode("utf-8"))
            buf = buf[end:]
            i = skip_ws(0)
            if i < len(buf) and buf[i] == ",":
                i = skip_ws(i + 1)
            elif i < len(buf) and buf[i] == "]":
                return
            elif count is not None and n >= count:
                return
            else:
                raise bad("expected ',' or ']' after an array element", i)


def json_array_shards(path: str | os.PathLike, max_shards: int = MAX_SHARDS) -> list[dict]:
    """Cut a top-level JSON array into up to ``max_shards`` contiguous slices.

    One streaming pass records each element's byte offset; a shard is
    ``{"path", "start" (byte offset), "count", "index" (position of its first element)}``.
    """
    offsets = [off for off, _ in iter_json_array(path)]
    return slice_shards(os.fspath(path), offsets, max_shards)


def slice_shards(path: str, offsets: Sequence[int], max_shards: int = MAX_SHARDS) -> list[dict]:
    return [
        {"path": path, "start": offsets[part[0]], "count": len(part), "index": part[0]}
        for part in chunks(range(len(offsets)), max_shards)
    ]


def iter_shard(shard: dict) -> Iterator[tuple[int, object]]:
    """``(position in the array, element)`` for one shard of :func:`json_array_shards`."""
    for k, (_, item) in enumerate(iter_json_array(shard["path"], shard["start"], shard["count"])):
        yield shard["index"] + k, item


def chunks(items: Sequence, max_shards: int = MAX_SHARDS) -> list[list]:
    """Split ``items`` into up to ``max_shards`` contiguous, non-empty lists."""
    n = len(items)
    if n == 0:
        return []
    k = min(max_shards, n)
    bounds = [round(j * n / k) for j in range(k + 1)]
    return [list(items[bounds[j] : bounds[j + 1]]) for j in range(k) if bounds[j + 1] > bounds[j]]


def load_json(path: str | os.PathLike):
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise AnnotationError(f"annotation file {os.fspath(path)!r} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AnnotationError(f"annotation file {os.fspath(path)!r} is not valid JSON: {e}") from None
    except RecursionError:
        raise AnnotationError(f"annotation file {os.fspath(path)!r} is JSON nested too deeply to parse") from None


def require_file(path: str | os.PathLike, what: str) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AnnotationError(f"{what} not found: expected the file {path!r}")
    return path
