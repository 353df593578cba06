"""Image files: corrupt, truncated, missing and decompression-bomb files give clear errors."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from sa2va_hf import ImageLoadError, Sa2VAImageProcessor, ShapeMismatchError
from sa2va_hf.image_io import open_image, to_rgb_image


def png_header_only(path, width, height):
    """A PNG whose header claims width x height but whose data is a few bytes."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")
    )
    return path


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = png_header_only(tmp_path / "bomb.png", 100_000, 100_000)
    with pytest.raises(ImageLoadError, match=r"bomb\.png.*(too large|over the limit)"):
        open_image(path)
    with pytest.raises(ImageLoadError, match="bomb.png"):
        Sa2VAImageProcessor()(str(path))


def test_bomb_between_one_and_two_times_the_limit_is_refused_too(tmp_path):
    # PIL only warns in this band; we refuse.
    side = int((Image.MAX_IMAGE_PIXELS * 1.5) ** 0.5)
    with pytest.raises(ImageLoadError, match=f"{side}x{side}.*over the limit"):
        open_image(png_header_only(tmp_path / "warn.png", side, side))


def test_pixel_limit_is_a_parameter(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (300, 200)).save(path)
    assert open_image(path).size == (300, 200)
    with pytest.raises(ImageLoadError, match="60000 pixels"):
        open_image(path, max_pixels=50_000)
    with pytest.raises(ImageLoadError, match="big.png"):
        Sa2VAImageProcessor(max_image_pixels=50_000)(str(path))


def test_corrupt_file(tmp_path):
    path = tmp_path / "corrupt.jpg"
    path.write_bytes(b"this is not a jpeg at all")
    with pytest.raises(ImageLoadError, match=r"corrupt\.jpg.*cannot be decoded"):
        open_image(path)


def test_truncated_file(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(good)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(ImageLoadError, match="cut.jpg"):
        open_image(cut)


def test_missing_file(tmp_path):
    with pytest.raises(ImageLoadError, match=r"nope\.jpg.*does not exist"):
        open_image(tmp_path / "nope.jpg")


def test_modes_convert_to_rgb_like_upstream(tmp_path):
    for mode in ("L", "RGBA", "P", "CMYK", "1"):
        im = Image.new(mode, (8, 6))
        path = tmp_path / f"x_{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
        im.save(path)
        out = open_image(path)
        assert out.mode == "RGB" and out.size == (8, 6)
        assert np.array_equal(np.asarray(out), np.asarray(Image.open(path).convert("RGB")))


def test_arrays():
    assert to_rgb_image(np.zeros((4, 5, 3), np.uint8)).size == (5, 4)
    assert to_rgb_image(np.zeros((4, 5), np.uint8)).mode == "RGB"
    with pytest.raises(ShapeMismatchError, match=r"\(5, 6, 2\)"):  # (H, W, 4) is RGBA since 0.2
        to_rgb_image(np.zeros((5, 6, 2), np.uint8))
    assert to_rgb_image(np.full((4, 5, 3), 0.5, np.float32)).getpixel((0, 0)) == (127, 127, 127)  # x255, truncated
    with pytest.raises(ShapeMismatchError, match="complex64"):
        to_rgb_image(np.zeros((4, 5, 3), np.complex64))
    with pytest.raises(ImageLoadError, match="int"):
        to_rgb_image(42)
