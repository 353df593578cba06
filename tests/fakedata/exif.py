"""Images and videos that tell viewers to turn them: EXIF / XMP orientation tags, mp4 display matrices.

Tags are added without touching the pixels: a JPEG gets an APP1 segment inserted after its SOI marker
(the entropy-coded data stays byte for byte the same), a PNG is saved again losslessly with ``exif=``.
So "the same image with the tag stripped" is the untagged file these start from.
"""

from __future__ import annotations

import io
import math
import os
import struct

import numpy as np
from PIL import Image

ORIENTATION = 0x0112
ALL_ORIENTATIONS = range(1, 9)


def exif_blob(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()  # b"Exif\0\0" + a TIFF structure


def xmp_packet(orientation: int, element: bool = False) -> bytes:
    tag = (
        f"<tiff:Orientation>{orientation}</tiff:Orientation>"
        if element
        else f'<rdf:Description tiff:Orientation="{orientation}"/>'
    )
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        f'xmlns:tiff="http://ns.adobe.com/tiff/1.0/">{tag}</rdf:RDF></x:xmpmeta>'
    ).encode()


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def tag_jpeg(data: bytes, orientation: int, *, xmp: bool = False) -> bytes:
    """``data`` (a JPEG) with an EXIF (or XMP) orientation segment inserted after SOI; pixels untouched."""
    assert data[:2] == b"\xff\xd8"
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp_packet(orientation) if xmp else exif_blob(orientation)
    return data[:2] + _app1(payload) + data[2:]


def tag_file(path: str, orientation: int) -> None:
    """Tag an image file in place (JPEG: a segment inserted; PNG: saved again losslessly with the tag)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\xff\xd8":
        data = tag_jpeg(data, orientation)
    else:
        with Image.open(io.BytesIO(data)) as im:
            assert im.format == "PNG", path
            im.load()
            buf = io.BytesIO()
            im.save(buf, format="PNG", exif=exif_blob(orientation))
        data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(data)


def image_file_bytes(arr: np.ndarray, fmt: str, orientation: int | None = None) -> bytes:
    buf = io.BytesIO()
    kwargs = {} if orientation is None else {"exif": exif_blob(orientation)}
    Image.fromarray(arr).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def stored_pixels(source) -> np.ndarray:
    """What upstream reads: ``Image.open(...).convert("RGB")``, no EXIF applied."""
    with Image.open(source if isinstance(source, (str, os.PathLike)) else io.BytesIO(source)) as im:
        return np.asarray(im.convert("RGB"))


# ------------------------------------------------------------------ mp4 display matrices


def display_matrix(clockwise_degrees: float, hflip: bool = False) -> list[int]:
    """FFmpeg's ``av_display_rotation_set`` (a clockwise turn for display) and ``av_display_matrix_flip``,
    as the 9 int32 of an mp4 ``tkhd``."""
    r = -clockwise_degrees * math.pi / 180
    c, s = math.cos(r), math.sin(r)
    m = [round(c * 65536), round(-s * 65536), 0, round(s * 65536), round(c * 65536), 0, 0, 0, 1 << 30]
    if hflip:
        for i in (0, 3, 6):
            m[i] = -m[i]
    return m


def with_display_matrix(mp4: bytes, matrix: list[int]) -> bytes:
    """An mp4 whose (first) track header carries ``matrix``: players and FFmpeg turn its frames."""
    at = mp4.find(b"tkhd")
    assert at > 0
    version = mp4[at + 4]
    offset = at + 8 + (32 if version == 1 else 20) + 16  # times, track id, duration; reserved, layer, group, volume
    return mp4[:offset] + struct.pack(">9i", *matrix) + mp4[offset + 36 :]
