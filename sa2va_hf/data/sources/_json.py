"""Reading annotation files: streaming top-level JSON arrays and objects, whole JSON files, and sharding.

``iter_json_array`` / ``iter_json_object`` hold one element or member value (plus a read buffer)
at a time and yield byte offsets, so a large file can be cut into shards that worker processes
read independently, or indexed once (``json_object_spans``: each key's byte span) and read back
one value at a time by seeking (``read_json_span``).
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from ...errors import AnnotationError, where


class _RepeatedKey(ValueError):
    pass


def _no_repeated_keys(pairs: list[tuple[str, object]]) -> dict:
    """``object_pairs_hook``: a key given twice in one JSON object would silently keep its last value."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        repeated = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _RepeatedKey(f"the key {repeated!r:.60} appears twice in one JSON object")
    return out


_DECODER = json.JSONDecoder(object_pairs_hook=_no_repeated_keys)
_SKIP_WS = re.compile(r"[ \t\n\r]*").match
#: What may still follow in the next chunk when a number ends the buffer ("1." + "5", "1e" + "5").
_NUMBER_TAIL = re.compile(r"[0-9.eE+-]*\Z").match
MAX_SHARDS = 64


# --------------------------------------------------------------------------- JSON arrays


class _Buffer:
    """Decoded text of a file, read in chunks, with byte offsets of positions in it.

    Positions only move forward, so each byte offset is computed from the previous one (linear in
    the file, whatever the number of elements), and the consumed prefix is dropped only when the
    buffer is refilled (each character is copied a bounded number of times).
    """

    def __init__(self, f, path: str, chunk_size: int, base: int) -> None:
        self.f, self.path, self.chunk_size = f, path, chunk_size
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.eof = False
        self._mark_char, self._mark_byte = 0, base  # text[_mark_char] starts at byte _mark_byte

    def byte_offset(self, i: int) -> int:
        self._mark_byte += len(self.text[self._mark_char : i].encode("utf-8", "surrogatepass"))
        self._mark_char = i
        return self._mark_byte

    def fill(self, keep_from: int, min_chars: int = 0) -> int:
        """Read more text; drop what lies before ``keep_from``. Returns the new index of ``keep_from``."""
        if self.eof:
            return keep_from
        self.byte_offset(keep_from)
        self.text = self.text[keep_from:]
        self._mark_char = 0
        data = self.f.read(max(self.chunk_size, min_chars))
        try:
            if data:
                self.text += self.decoder.decode(data)
            else:
                self.eof = True
                self.text += self.decoder.decode(b"", final=True)
        except UnicodeDecodeError as e:
            raise AnnotationError(f"annotation file is not valid UTF-8 ({e.reason}){where(self.path)}") from None
        return 0

    def skip_ws(self, i: int) -> int:
        while True:
            i = _SKIP_WS(self.text, i).end()
            if i < len(self.text) or self.eof:
                return i
            i = self.fill(i)

    def error(self, msg: str, i: int) -> AnnotationError:
        return AnnotationError(f"{msg} at byte {self.byte_offset(max(i, self._mark_char))}{where(self.path)}")


def iter_json_array(
    path: str | os.PathLike, start: int | None = None, count: int | None = None, chunk_size: int = 1 << 20
) -> Iterator[tuple[int, object]]:
    """Yield ``(byte_offset, element)`` for the elements of the top-level JSON array in ``path``.

    Only one element (plus a read buffer) is held at a time, so memory stays bounded by the
    largest element, not the file, and time is linear in the file. ``start`` (a byte offset
    yielded by an earlier pass) and ``count`` read a slice of the array, which is how parsing is
    sharded across processes. A full pass (no ``start``) also checks that nothing but whitespace
    follows the array: ``[A][B]`` or ``[A] garbage`` is an error, not a file of one element.
    """
    return _walk(path, "array", _array_element, start, count, chunk_size)


def _array_element(buf: _Buffer, i: int) -> tuple[tuple[int, object], int]:
    item, end, i = _decode_one(buf, i)
    return (buf.byte_offset(i), item), end


def _walk(path, kind: str, read_item, start: int | None, count: int | None, chunk_size: int) -> Iterator:
    """The items of the top-level JSON array or object in ``path``: ``read_item(buf, i)`` reads one at
    ``buf.text[i]`` and returns (what to yield, index after it); the separators, the end of the
    container, and what may follow it are checked here, once for both kinds."""
    opening, closing, item_name = ("[", "]", "array element") if kind == "array" else ("{", "}", "object member")
    path = os.fspath(path)
    with open(path, "rb") as f:
        buf, i = _start_reading(f, path, start, chunk_size)
        if start is None:
            if i >= len(buf.text) or buf.text[i] != opening:
                raise buf.error(f"expected a JSON {kind} ('{opening}') at the top level", i)
            i = buf.skip_ws(i + 1)
            if i < len(buf.text) and buf.text[i] == closing:
                _check_nothing_follows(buf, i + 1, kind)
                return
        n = 0
        while count is None or n < count:
            if i >= len(buf.text):
                raise buf.error(f"unexpected end of file inside the JSON {kind}", i)
            item, end = read_item(buf, i)
            yield item
            n += 1
            i = buf.skip_ws(end)
            if i < len(buf.text) and buf.text[i] == ",":
                i = buf.skip_ws(i + 1)
            elif i < len(buf.text) and buf.text[i] == closing:
                if start is None:
                    _check_nothing_follows(buf, i + 1, kind)
                return
            elif count is not None and n >= count:
                return
            else:
                raise buf.error(f"expected ',' or '{closing}' after an {item_name}", i)


def _start_reading(f, path: str, start: int | None, chunk_size: int) -> tuple[_Buffer, int]:
    """A buffer over ``f`` from the file's start (after a UTF-8 BOM) or from byte ``start``; index of the first token."""
    if start is None:
        base = 3 if f.read(3) == b"\xef\xbb\xbf" else 0
    else:
        base = start
    f.seek(base)
    buf = _Buffer(f, path, chunk_size, base)
    return buf, buf.skip_ws(buf.fill(0))


def _decode_one(buf: _Buffer, i: int) -> tuple[object, int, int]:
    """Decode the element starting at ``buf.text[i]``, reading more while it may be incomplete.

    Returns (element, index after it, index of its start): both indices move when the buffer is refilled.
    """
    while True:
        try:
            item, end = _DECODER.raw_decode(buf.text, i)
            # a number whose rest is all the buffer holds ("1." of "1.5") may go on in the next chunk
            if buf.eof or not _NUMBER_TAIL(buf.text, end):
                return item, end, i
        except json.JSONDecodeError as e:
            if buf.eof:
                raise buf.error(f"invalid JSON ({e.msg})", e.pos) from None
        except RecursionError:
            raise buf.error("JSON nested too deeply to parse", i) from None
        except ValueError as e:  # e.g. an integer over Python's 4300-digit conversion limit
            raise buf.error(f"invalid JSON value ({e})", i) from None
        i = buf.fill(i, min_chars=len(buf.text) - i)  # at least double what is held: amortised linear


def _check_nothing_follows(buf: _Buffer, i: int, kind: str) -> None:
    i = buf.skip_ws(i)
    if i < len(buf.text):
        raise buf.error(f"content after the end of the top-level JSON {kind}", i)


# --------------------------------------------------------------------------- JSON objects


class Member(NamedTuple):
    """One ``"key": value`` member of a top-level JSON object, with byte offsets into the file."""

    offset: int  # where the member (its key) starts: a ``start`` for :func:`iter_json_object`
    key: str
    value: object
    start: int  # the value's bytes are file[start:end]
    end: int


def iter_json_object(
    path: str | os.PathLike, start: int | None = None, count: int | None = None, chunk_size: int = 1 << 20
) -> Iterator[Member]:
    """Yield the members of the top-level JSON object in ``path``, in file order.

    The object counterpart of :func:`iter_json_array`, on the same buffer: one value (plus a read
    buffer) in memory at a time, linear time, ``start`` (a member offset) and ``count`` for slices,
    and on a full pass nothing but whitespace may follow the closing ``}``. Repeated keys are
    yielded as they come (the caller decides; ``json.load`` would keep the last silently).
    """
    return _walk(path, "object", _object_member, start, count, chunk_size)


def _object_member(buf: _Buffer, i: int) -> tuple[Member, int]:
    if buf.text[i] != '"':
        raise buf.error("expected a string key in the JSON object", i)
    key, end, i = _decode_one(buf, i)
    offset = buf.byte_offset(i)
    i = buf.skip_ws(end)
    if i >= len(buf.text) or buf.text[i] != ":":
        raise buf.error(f"expected ':' after the key {key!r:.60}", i)
    i = buf.skip_ws(i + 1)
    if i >= len(buf.text):
        raise buf.error(f"unexpected end of file: no value for the key {key!r:.60}", i)
    value, end, i = _decode_one(buf, i)
    return Member(offset, key, value, buf.byte_offset(i), buf.byte_offset(end)), end


def json_object_spans(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """Key -> byte span of its value, for every member of the top-level object, in one streaming pass.

    Values are parsed (so the file is checked) and dropped at once; read one back with
    :func:`read_json_span`. A key given twice is an error: one of its values would be lost.
    """
    spans: dict[str, tuple[int, int]] = {}
    for m in iter_json_object(path):
        if m.key in spans:
            raise AnnotationError(f"key {m.key!r:.60} appears twice in the JSON object{where(os.fspath(path))}")
        spans[m.key] = (m.start, m.end)
    return spans


def read_json_span(f, span: tuple[int, int], *, file: object = None, record: object = None):
    """The JSON value at bytes ``span`` of the open binary file ``f`` (a span from :func:`json_object_spans`)."""
    start, end = span
    f.seek(start)
    data = f.read(end - start)
    try:
        return json.loads(data, object_pairs_hook=_no_repeated_keys)
    except _RepeatedKey as e:
        raise AnnotationError(f"bytes {start}..{end}: {e}{where(file, record)}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # the file changed since it was indexed
        raise AnnotationError(
            f"bytes {start}..{end} are not the JSON value indexed there ({e}){where(file, record)}"
        ) from None


def json_object_shards(path: str | os.PathLike, max_shards: int = MAX_SHARDS) -> list[dict]:
    """Cut a top-level JSON object into up to ``max_shards`` contiguous slices of members.

    Shards are those of :func:`json_array_shards` (``start`` = a member's offset); read one with
    :func:`iter_object_shard`. A repeated key is an error (as in :func:`json_object_spans`).
    """
    offsets, seen = [], set()
    for m in iter_json_object(path):
        if m.key in seen:
            raise AnnotationError(f"key {m.key!r:.60} appears twice in the JSON object{where(os.fspath(path))}")
        seen.add(m.key)
        offsets.append(m.offset)
    return slice_shards(os.fspath(path), offsets, max_shards)


def iter_object_shard(shard: dict) -> Iterator[tuple[int, str, object]]:
    """``(position in the object, key, value)`` for one shard of :func:`json_object_shards`."""
    for k, m in enumerate(iter_json_object(shard["path"], shard["start"], shard["count"])):
        yield shard["index"] + k, m.key, m.value


# --------------------------------------------------------------------------- shards


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
            return json.load(f, object_pairs_hook=_no_repeated_keys)
    except FileNotFoundError:
        raise AnnotationError(f"annotation file {os.fspath(path)!r} does not exist") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, or an integer over the digit limit
        raise AnnotationError(f"annotation file {os.fspath(path)!r} is not valid JSON: {e}") from None
    except RecursionError:
        raise AnnotationError(f"annotation file {os.fspath(path)!r} is JSON nested too deeply to parse") from None


def require_file(path: str | os.PathLike, what: str) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AnnotationError(f"{what} not found: expected the file {path!r}")
    return path
