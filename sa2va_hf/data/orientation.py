"""Stored frames: image bytes that no reader turns -- the EXIF / XMP orientation cleared, the pixels untouched.

Upstream reads every image with ``Image.open(path).convert("RGB")``: the pixels as stored, whatever an
EXIF Orientation tag says, and every source's masks are in that frame. ``datasets``' ``Image`` feature
(every version from 3.0 to 5.2) applies the tag when it decodes a row (``PIL.ImageOps.exif_transpose``),
and so does a plain ``datasets.load_dataset`` of an export. So a record never refers to an image whose
tag asks for a turn: the builder stores that image's bytes in the record (``{"path", "bytes"}``) with
each orientation value set to 1 ("as stored") -- one to four bytes of metadata changed in place, the
compressed pixels byte for byte the file's, nothing re-encoded -- and every reader, with this package
or without it, decodes the stored pixels. Images without such a tag stay referenced by path.

Where PIL (hence ``datasets``) finds an orientation, and how it is cleared:

* JPEG / MPO: APP1 ``Exif`` (IFD0 tag 0x0112) and APP1 XMP (``tiff:Orientation``): in place;
* PNG: ``eXIf``, the ``Raw profile type exif`` text (ImageMagick's), XMP in a text chunk: the chunk is
  written again with its CRC (a PNG holds no offsets);
* WebP: ``EXIF`` and ``XMP`` chunks, in place.

PIL turns a TIFF itself when it decodes it (so upstream reads it turned, and ``datasets`` finds no tag
left to apply): nothing to clear. Any other file in which PIL, after decoding it, still finds an
orientation that turns the picture is refused (``ImageLoadError`` naming it). After clearing, PIL reads
the bytes again and must find no turn and the same size.
"""

from __future__ import annotations

import io
import mmap
import os
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from ..errors import ImageLoadError, where
from ..image_io import _reading  # PIL's errors on a bad file -> ImageLoadError naming it

__all__ = [
    "TURNS",
    "clear_orientation",
    "displayed_size",
    "image_orientation",
    "stored_frames",
    "to_stored_frame",
]

ORIENTATION_TAG = 0x0112
#: Orientation values that turn or mirror the picture (what ``exif_transpose`` acts on), and how.
TURNS = {
    2: "mirrored left to right",
    3: "turned 180°",
    4: "mirrored top to bottom",
    5: "mirrored along its main diagonal",
    6: "turned 90° clockwise",
    7: "mirrored along its anti-diagonal",
    8: "turned 90° counter-clockwise",
}
_XMP = re.compile(rb'tiff:Orientation(="|>)([0-9])')  # what PIL's getexif reads from XMP
_EXIF_PREFIX = b"Exif\x00\x00"
_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
_TIFF_TYPE_SIZES = {1: 1, 3: 2, 4: 4, 6: 1, 8: 2, 9: 4}  # BYTE, SHORT, LONG and their signed twins


class _Unreadable(Exception):
    """Metadata laid out in a way this module does not edit: PIL has the last word."""


@dataclass(frozen=True)
class _Site:
    offset: int  # of the value, in the buffer scanned
    size: int
    byteorder: str
    value: int
    text: bool = False  # an XMP digit, written as a character

    @property
    def one(self) -> bytes:
        return b"1" if self.text else (1).to_bytes(self.size, self.byteorder)


def _tiff_sites(buf, base: int, end: int) -> list[_Site]:
    """The IFD0 orientation of the TIFF structure at ``buf[base:end]`` (an EXIF blob or a TIFF file)."""
    head = bytes(buf[base : base + 8])
    byteorder = {b"II*\x00": "little", b"MM\x00*": "big"}.get(head[:4])
    if byteorder is None or len(head) < 8:
        raise _Unreadable
    at = base + int.from_bytes(head[4:8], byteorder)
    if at + 2 > end:
        raise _Unreadable
    count = int.from_bytes(buf[at : at + 2], byteorder)
    if at + 2 + 12 * count > end:
        raise _Unreadable
    sites = []
    for k in range(count):
        entry = at + 2 + 12 * k
        if int.from_bytes(buf[entry : entry + 2], byteorder) != ORIENTATION_TAG:
            continue
        kind = int.from_bytes(buf[entry + 2 : entry + 4], byteorder)
        size = _TIFF_TYPE_SIZES.get(kind)
        if size is None or int.from_bytes(buf[entry + 4 : entry + 8], byteorder) != 1:
            raise _Unreadable  # a rational, a list...: PIL decides what it means
        value = int.from_bytes(buf[entry + 8 : entry + 8 + size], byteorder, signed=kind in (6, 8, 9))
        sites.append(_Site(entry + 8, size, byteorder, value))
    return sites


def _exif_sites(buf, start: int, end: int) -> list[_Site]:
    """An EXIF blob, after the ``Exif\\0\\0`` prefix(es) PIL skips."""
    for _ in range(2):
        if bytes(buf[start : start + 6]) == _EXIF_PREFIX:
            start += 6
    return _tiff_sites(buf, start, end)


def _xmp_sites(buf, start: int, end: int) -> list[_Site]:
    return [_Site(start + m.start(2), 1, "big", int(m[2]), text=True) for m in _XMP.finditer(bytes(buf[start:end]))]


def _jpeg_sites(buf) -> list[_Site]:
    sites, at, n = [], 2, len(buf)
    while at + 4 <= n:
        if buf[at] != 0xFF:
            raise _Unreadable
        marker = buf[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # no length
            at += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no metadata past here
            break
        start, end = at + 4, at + 2 + int.from_bytes(buf[at + 2 : at + 4], "big")
        if end < start or end > n:
            raise _Unreadable
        if marker == 0xE1:
            head = bytes(buf[start : start + len(_XMP_APP1)])
            if head.startswith(_EXIF_PREFIX):
                sites += _exif_sites(buf, start, end)
            elif head == _XMP_APP1:
                sites += _xmp_sites(buf, start, end)
        at = end
    return sites


def _webp_sites(buf) -> list[_Site]:
    sites, at, n = [], 12, len(buf)
    while at + 8 <= n:
        fourcc, size = bytes(buf[at : at + 4]), int.from_bytes(buf[at + 4 : at + 8], "little")
        start, end = at + 8, at + 8 + size
        if end > n:
            raise _Unreadable
        if fourcc == b"EXIF":
            sites += _exif_sites(buf, start, end)
        elif fourcc == b"XMP ":
            sites += _xmp_sites(buf, start, end)
        at = end + (size & 1)
    return sites


def _cleared(buf, sites: list[_Site]) -> bytes:
    out = bytearray(buf)
    for s in sites:
        out[s.offset : s.offset + s.size] = s.one
    return bytes(out)


# ------------------------------------------------------------------ PNG: text chunks may be compressed

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RAW_EXIF = b"Raw profile type exif"
_XMP_KEYWORD = b"XML:com.adobe.xmp"


def _one_values(data: bytes, scan: Callable[[bytes, int, int], list[_Site]]) -> tuple[list[int], bytes]:
    """(orientation values in ``data``, ``data`` with each set to 1)."""
    sites = scan(data, 0, len(data))
    return [s.value for s in sites], _cleared(data, sites)


def _raw_profile(text: bytes) -> tuple[list[int], bytes]:
    """ImageMagick's hex ``\\nexif\\n<len>\\n<hex lines>``: the hex digits are edited where they stand."""
    lines = text.split(b"\n")
    head = len(b"\n".join(lines[:3])) + 1 if len(lines) > 3 else len(text)
    where = [head + i for i, c in enumerate(text[head:]) if chr(c) in "0123456789abcdefABCDEF"]
    try:
        blob = bytes.fromhex(bytes(text[i] for i in where).decode("ascii"))
    except ValueError:
        raise _Unreadable from None
    values, cleared = _one_values(blob, _exif_sites)
    out = bytearray(text)
    for k, (old, new) in enumerate(zip(blob, cleared)):
        if old != new:
            out[where[2 * k] : where[2 * k] + 1] = b"%x" % (new >> 4)
            out[where[2 * k + 1] : where[2 * k + 1] + 1] = b"%x" % (new & 15)
    return values, bytes(out)


def _png_text(kind: bytes, data: bytes) -> tuple[list[int], bytes] | None:
    """Orientation values of a tEXt / zTXt / iTXt chunk that PIL reads one from, and the chunk data cleared."""
    keyword, _, rest = data.partition(b"\x00")
    scan = {_RAW_EXIF: _raw_profile, _XMP_KEYWORD: lambda t: _one_values(t, _xmp_sites)}.get(keyword)
    if scan is None:
        return None
    try:
        if kind == b"tEXt":
            values, text = scan(rest)
            return values, keyword + b"\x00" + text
        if kind == b"zTXt":
            values, text = scan(zlib.decompress(rest[1:]))
            return values, keyword + b"\x00" + rest[:1] + zlib.compress(text)
        flag, method = rest[0], rest[1:2]  # iTXt: compression flag, method, language\0, translated keyword\0, text
        language, _, rest2 = rest[2:].partition(b"\x00")
        translated, _, text = rest2.partition(b"\x00")
        values, text = scan(zlib.decompress(text) if flag else text)
        head = keyword + b"\x00" + bytes([flag]) + method + language + b"\x00" + translated + b"\x00"
        return values, head + (zlib.compress(text) if flag else text)
    except (zlib.error, IndexError):
        raise _Unreadable from None


def _png(buf, clear: bool) -> tuple[list[int], bytes | None]:
    values, out, at, n = [], [bytes(buf[:8])], 8, len(buf)
    while at + 12 <= n:
        size, kind = int.from_bytes(buf[at : at + 4], "big"), bytes(buf[at + 4 : at + 8])
        end = at + 12 + size
        if end > n:
            raise _Unreadable
        found = None
        if kind == b"eXIf":
            found = _one_values(bytes(buf[at + 8 : end - 4]), _exif_sites)
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            found = _png_text(kind, bytes(buf[at + 8 : end - 4]))
        if found is not None:
            values += found[0]
        if clear and found is not None and any(v != 1 for v in found[0]):
            data = found[1]
            out.append(len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big"))
        elif clear:
            out.append(bytes(buf[at:end]))
        at = end
        if kind == b"IEND":
            break
    if clear:
        out.append(bytes(buf[at:]))
    return values, (b"".join(out) if clear else None)


# ------------------------------------------------------------------ one entry point per question


def _scan(buf, clear: bool) -> tuple[list[int], bytes | None] | None:
    """(orientation values the file holds, its bytes with each set to 1 when ``clear``); None for a
    format whose metadata this module does not read."""
    head = bytes(buf[:12])
    if head.startswith(_PNG_SIGNATURE):
        return _png(buf, clear)
    if head.startswith(b"\xff\xd8"):
        sites = _jpeg_sites(buf)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        sites = _webp_sites(buf)
    else:
        return None
    return [s.value for s in sites], (_cleared(buf, sites) if clear else None)


def _pil_orientation(source, what: str) -> int:
    """The orientation PIL applies to a file, read as ``datasets`` reads it (decoded, then ``getexif``)."""

    def read() -> int:
        with Image.open(source) as im:
            if im.format not in ("JPEG", "MPO", "WEBP"):  # their metadata is read with the header
                im.load()  # PNG's may follow the pixels; PIL turns a TIFF itself when it loads it
            value = im.getexif().get(ORIENTATION_TAG)
        return value if value in TURNS else 1

    return _reading(what, read)


def _orientation_of(buf, source, what: str) -> int:
    """PIL's orientation of ``source`` (its bytes are ``buf``), asked of PIL only where a turn may be."""
    try:
        scanned = _scan(buf, clear=False)
    except _Unreadable:
        scanned = None
    if scanned is not None and not any(v in TURNS for v in scanned[0]):
        return 1
    return _pil_orientation(source, what)


def clear_orientation(data: bytes, name: str = "<image bytes>", context: str = "") -> bytes:
    """``data`` (an image file's bytes) with every orientation that would turn it set to 1, the pixels
    untouched; ``data`` itself when there is none. A file whose orientation cannot be cleared this way
    is an ``ImageLoadError`` naming it."""
    try:
        scanned = _scan(data, clear=False)
        if scanned is not None and not any(v in TURNS for v in scanned[0]):
            return data
        cleared = _scan(data, clear=True) if scanned is not None else None
    except _Unreadable:
        cleared = None
    if cleared is None:
        if _pil_orientation(io.BytesIO(data), name) == 1:
            return data
        raise ImageLoadError(
            f"image {name!r} carries an orientation tag that turns it, in metadata this package cannot "
            f"clear without re-encoding; strip the tag (e.g. exiftool -Orientation=1 -n) or save it as JPEG/PNG{context}"
        )
    out = cleared[1]
    _check_cleared(data, out, name, context)
    return out


def _check_cleared(before: bytes, after: bytes, name: str, context: str) -> None:
    def sizes() -> tuple:
        with Image.open(io.BytesIO(before)) as a, Image.open(io.BytesIO(after)) as b:
            return a.size, b.size

    size_before, size_after = _reading(name, sizes, context)
    if size_before != size_after or _pil_orientation(io.BytesIO(after), name) != 1:
        raise ImageLoadError(f"image {name!r}: its orientation tag could not be cleared{context}")


@lru_cache(maxsize=4096)
def _file_orientation(path: str, mtime_ns: int, size: int) -> int:  # never stale: mtime and size
    with open(path, "rb") as f:
        if size == 0:
            return 1
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _orientation_of(buf, path, path)


def image_orientation(path: str | os.PathLike) -> int:
    """The EXIF orientation PIL and ``datasets`` apply to the image file (1 when it is not turned)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageLoadError(f"image file {path!r} does not exist") from None
    return _file_orientation(path, st.st_mtime_ns, st.st_size)


def stored_frames(record: dict, *, file: object = None) -> dict:
    """``record`` with every frame that carries a turning orientation stored as its bytes, cleared.

    An embedded frame keeps its file name as ``path`` (as the export and describe-anything's do), never a
    path to a file: ``datasets`` would store the path alone and drop the bytes. A name that a file in the
    working directory has is dropped for the same reason."""
    frames, changed = [], False
    for frame in record["frames"]:
        if frame is not None and frame.get("bytes") is not None:
            data = clear_orientation(frame["bytes"], frame.get("path") or "<image bytes>", where(file, record["id"]))
        elif frame is not None and frame.get("path") is not None and image_orientation(frame["path"]) != 1:
            with open(frame["path"], "rb") as f:
                data = clear_orientation(f.read(), frame["path"], where(file, record["id"]))
        else:
            frames.append(frame)
            continue
        name = frame.get("path") and os.path.basename(frame["path"])
        entry = {"path": None if name and os.path.isfile(name) else name, "bytes": data}
        changed = changed or entry != frame
        frames.append(entry)
    return {**record, "frames": frames} if changed else record


# ------------------------------------------------------------------ own data drawn on the displayed view


def displayed_size(height: int, width: int, orientation: int) -> tuple[int, int]:
    """(h, w) of the image as a viewer shows it (orientations 5-8 swap the sides)."""
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


_TO_STORED: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    # the inverse of each orientation's display transform (PIL's exif_transpose)
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, 1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, -1),
}


def to_stored_frame(mask: np.ndarray, orientation: int) -> np.ndarray:
    """A mask drawn on the displayed view of an image with ``orientation``, in the stored pixels' frame."""
    turn = _TO_STORED.get(orientation)
    return mask if turn is None else np.ascontiguousarray(turn(mask))
