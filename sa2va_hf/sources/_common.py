"""Helpers shared by the source parsers: streaming JSON arrays, image lookup, sharding."""

from __future__ import annotations

import codecs
import json
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from functools import lru_cache

from PIL import Image

from ..errors import AnnotationError, ImageLoadError, ShapeMismatchError, where
from ..image_io import IMAGE_FILE_ERRORS
from ..safety import safe_join

logger = logging.getLogger("sa2va_hf.sources")

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


def file_fingerprint(paths: Sequence[str]) -> str:
    """A short string that changes when any input file changes (size, mtime)."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(paths):
        try:
            st = os.stat(p)
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}\0missing\n".encode())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- fields


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
    """(height, width) of an entry when it states them (ints or numeric strings), else None."""
    out = []
    for key in ("height", "width"):
        value = get(entry, key, (int, float, str), file=file, record=record, optional=True)
        out.append(None if value is None else as_int(value, key, file=file, record=record))
    return out[0], out[1]


def bbox_or_none(value: object, *, file: object, record: object) -> list[float] | None:
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise AnnotationError(f"bbox must be [x, y, w, h] numbers, got {value!r:.60}{where(file, record)}")
    return [float(v) for v in value]


# --------------------------------------------------------------------------- images


@lru_cache(maxsize=4096)
def _header_size(path: str, mtime_ns: int, size: int) -> tuple[int, int]:  # keyed by mtime/size: never stale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            return im.size  # (w, h)


def image_size(path: str, *, file: object = None, record: object = None) -> tuple[int, int]:
    """(height, width) from the image header (no full decode); ImageLoadError if unreadable."""
    try:
        st = os.stat(path)
        w, h = _header_size(path, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        raise ImageLoadError(f"image {path!r} does not exist{where(file, record)}") from None
    except Image.DecompressionBombError as e:
        raise ImageLoadError(f"image {path!r} is too large to decode safely: {e}{where(file, record)}") from None
    except IMAGE_FILE_ERRORS as e:
        raise ImageLoadError(f"image {path!r} cannot be read: {e}{where(file, record)}") from None
    return h, w


def check_image(
    path: str, height: int | None, width: int | None, *, file: object = None, record: object = None
) -> tuple[int, int]:
    """Open the image header; return (h, w); the annotation's size, when given, must agree."""
    h, w = image_size(path, file=file, record=record)
    if height is not None and width is not None and (int(height), int(width)) != (h, w):
        raise ShapeMismatchError(
            f"the annotation says the image is {int(height)}x{int(width)} (h x w) but {path!r} is {h}x{w}"
            f"{where(file, record)}"
        )
    return h, w


def find_image(base: str, folders: Sequence[str], file_name: str, *, file: object = None, record: object = None) -> str:
    """First existing ``base/folder/file_name`` over ``folders`` (upstream's search order)."""
    tried = []
    for folder in folders:
        candidate = safe_join(base, folder, file_name, file=file, record=record)
        if os.path.isfile(candidate):
            return candidate
        tried.append(candidate)
    raise ImageLoadError(f"image {file_name!r} not found; looked for {tried}{where(file, record)}")
