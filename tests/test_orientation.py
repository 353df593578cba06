"""EXIF / XMP orientation: records hold the stored pixels, whoever reads them.

Every reader is checked against upstream's read, ``Image.open(path).convert("RGB")`` (no EXIF applied):
``datasets.Image`` decoding (which applies ``exif_transpose``) of the cleared bytes, for all 8
orientations, square and non-square, in each format PIL takes an orientation from.
"""

from __future__ import annotations

import io
import zlib

import datasets
import numpy as np
import pytest
from PIL import Image, ImageOps, PngImagePlugin

from sa2va_hf.data import orientation
from sa2va_hf.data.orientation import clear_orientation, displayed_size, image_orientation, to_stored_frame
from sa2va_hf.errors import ImageLoadError

from .fakedata.exif import ALL_ORIENTATIONS, exif_blob, image_file_bytes, stored_pixels, tag_jpeg, xmp_packet

SHAPES = {"non-square": (20, 30), "square": (24, 24)}


def pixels(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def decoded_by_datasets(data: bytes) -> np.ndarray:
    """How ``datasets`` gives the image of a row (every version 3.0 ... 5.2 applies the EXIF orientation)."""
    return np.asarray(datasets.Image().decode_example({"bytes": data, "path": None}).convert("RGB"))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("value", ALL_ORIENTATIONS)
def test_cleared_bytes_decode_to_the_stored_pixels_in_datasets(fmt, value, shape):
    data = image_file_bytes(pixels(*SHAPES[shape]), fmt, value)
    stored = stored_pixels(data)
    turned = decoded_by_datasets(data)
    if value != 1:  # the bug: datasets turns (or mirrors) the stored pixels
        assert turned.shape != stored.shape or not np.array_equal(turned, stored)
        assert np.array_equal(to_stored_frame(turned, value), stored)  # the inverse of what viewers show
    cleared = clear_orientation(data)
    assert np.array_equal(decoded_by_datasets(cleared), stored)
    assert np.array_equal(stored_pixels(cleared), stored)
    if value == 1:
        assert cleared is data  # nothing to clear: the same bytes
    elif fmt == "PNG":  # the eXIf chunk is written again; the pixel data stays byte for byte
        assert _png_chunks(cleared)[b"IDAT"] == _png_chunks(data)[b"IDAT"]
    else:  # in place: only the orientation value changes
        assert len(cleared) == len(data)
        changed = [i for i, (a, b) in enumerate(zip(data, cleared)) if a != b]
        assert len(changed) == 1 and cleared[changed[0]] == 1 and data[changed[0]] == value


def _png_chunks(data: bytes) -> dict[bytes, bytes]:
    out, at = {}, 8
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        out[kind] = out.get(kind, b"") + data[at + 8 : at + 8 + size]
        assert zlib.crc32(data[at + 4 : at + 8 + size]) == int.from_bytes(data[at + 8 + size : at + 12 + size], "big")
        at += 12 + size
    return out


@pytest.mark.parametrize("value", [3, 6])
def test_xmp_orientations_are_cleared_too(value):
    """PIL reads ``tiff:Orientation`` from XMP when EXIF has none: in a JPEG's APP1 and a PNG's text chunks."""
    arr = pixels(20, 30)
    jpeg = tag_jpeg(image_file_bytes(arr, "JPEG"), value, xmp=True)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp_packet(value, element=True).decode(), zip=True)
    png_itxt = _png_with(arr, info)
    info = PngImagePlugin.PngInfo()  # ImageMagick's hex EXIF, compressed
    blob = exif_blob(value)[6:]
    info.add_text("Raw profile type exif", f"\nexif\n{len(blob):8}\n{blob.hex()}\n", zip=True)
    png_raw = _png_with(arr, info)
    for data in (jpeg, png_itxt, png_raw):
        stored, before = stored_pixels(data), decoded_by_datasets(data)
        if _pil_orientation_after_load(data) == value:  # Pillow < 11 reads no XMP from a JPEG
            assert before.shape != stored.shape or not np.array_equal(before, stored)
        assert np.array_equal(decoded_by_datasets(clear_orientation(data)), stored)


def _pil_orientation_after_load(data: bytes):
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.getexif().get(0x0112)


def _png_with(arr: np.ndarray, info: PngImagePlugin.PngInfo) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def test_a_tiff_is_turned_by_pil_itself_so_nothing_is_cleared():
    """PIL applies a TIFF's orientation when it decodes it (upstream reads it turned); datasets then finds no
    tag. Pillow 10 leaves the tag after turning, so datasets turns the TIFF a second time: an error there."""
    data = image_file_bytes(pixels(20, 30), "TIFF", 6)
    if _pil_orientation_after_load(data) == 6:
        with pytest.raises(ImageLoadError, match="cannot clear without re-encoding"):
            clear_orientation(data)
        return
    assert clear_orientation(data) is data
    assert np.array_equal(decoded_by_datasets(data), stored_pixels(data))


def test_a_turning_tag_that_cannot_be_cleared_is_a_named_error(monkeypatch):
    data = image_file_bytes(pixels(20, 30), "JPEG", 6)
    monkeypatch.setattr(orientation, "_scan", lambda buf, clear: None)  # as for a format this module cannot edit
    with pytest.raises(ImageLoadError, match=r"'photo\.heic' carries an orientation tag that turns it.*exiftool"):
        clear_orientation(data, "photo.heic")
    untagged = image_file_bytes(pixels(20, 30), "JPEG")
    assert clear_orientation(untagged, "photo.heic") is untagged  # PIL finds no turn: nothing to refuse


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("value", ALL_ORIENTATIONS)
def test_masks_drawn_on_the_displayed_view_move_exactly_onto_the_stored_pixels(value, shape):
    h, w = SHAPES[shape]
    stored = pixels(h, w, seed=value)
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = value
    im.info["exif"] = exif.tobytes()
    shown = np.asarray(ImageOps.exif_transpose(im))
    assert shown.shape[:2] == displayed_size(h, w, value)
    assert np.array_equal(to_stored_frame(shown, value), stored)


def test_image_orientation_is_what_pil_applies(tmp_path):
    for value in ALL_ORIENTATIONS:
        path = tmp_path / f"{value}.jpg"
        path.write_bytes(image_file_bytes(pixels(8, 12), "JPEG", value))
        assert image_orientation(path) == value
    path = tmp_path / "plain.png"
    path.write_bytes(image_file_bytes(pixels(8, 12), "PNG"))
    assert image_orientation(path) == 1
    with pytest.raises(ImageLoadError, match="does not exist"):
        image_orientation(tmp_path / "missing.jpg")
