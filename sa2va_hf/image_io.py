"""Turn whatever the caller has (path, PIL image, array) into an RGB PIL image, safely.

Upstream opens every file with ``Image.open(path).convert('RGB')`` and applies no EXIF
rotation; so do we, so that pixels stay identical. Files are decoded eagerly inside a
guard, so a corrupt, truncated or decompression-bomb file becomes an
``ImageLoadError`` naming the file instead of a PIL exception from deep inside.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

from PIL import Image

from .errors import ImageLoadError

# What Pillow raises on a corrupt or hostile file: the exceptions its own fuzz tests accept
# (a mutated DDS raises NotImplementedError; a JPEG 2000 claiming gigabytes, MemoryError).
IMAGE_FILE_ERRORS = (
    OSError,  # UnidentifiedImageError is one
    SyntaxError,
    ValueError,
    NotImplementedError,
    MemoryError,
    OverflowError,
    Image.DecompressionBombError,
)


def _refuse_over_limit(
    name: str, w: int, h: int, limit: int | None, context: str = "", *, what: str = "image file",
    error: type[Exception] = ImageLoadError,
) -> None:  # fmt: skip
    """Refuse a picture of ``w`` x ``h`` over ``limit`` pixels (images, and video frames: ``what="video"``)."""
    if limit is not None and w * h > limit:
        raise error(
            f"{what} {name!r} is {w}x{h} = {w * h} pixels, over the limit of {limit} "
            f"(a decompression bomb?); raise max_pixels (or PIL.Image.MAX_IMAGE_PIXELS) if it is genuine{context}"
        )


def _reading(name: str, action, context: str = ""):
    """``action()`` with every error PIL may raise on a bad file turned into an ``ImageLoadError`` naming it
    (and ``context``: where it was referred to, e.g. `` (file 'x.json', record 3)``)."""
    try:
        with warnings.catch_warnings():
            # PIL only warns between 1x and 2x its limit; we refuse anything over the limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return action()
    except ImageLoadError:
        raise
    except FileNotFoundError:
        raise ImageLoadError(f"image file {name!r} does not exist{context}") from None
    except Image.DecompressionBombError as e:
        raise ImageLoadError(f"image file {name!r} is too large to decode safely: {e}{context}") from None
    except MemoryError:
        raise ImageLoadError(f"image file {name!r} is too large to decode in the memory available{context}") from None
    except IMAGE_FILE_ERRORS as e:
        raise ImageLoadError(f"image file {name!r} cannot be decoded: {e}{context}") from None


def open_image(path: str | os.PathLike, max_pixels: int | None = None) -> Image.Image:
    """Decode an image file to RGB; ``max_pixels`` defaults to PIL's ``MAX_IMAGE_PIXELS``.

    The file is decoded once; an RGB file is returned as decoded (no copy), anything else
    through ``convert("RGB")``, as upstream.
    """
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels

    def decode() -> Image.Image:
        with Image.open(path) as im:
            _refuse_over_limit(os.fspath(path), *im.size, limit)
            im.load()
            return im if im.mode == "RGB" else im.convert("RGB")

    return _reading(os.fspath(path), decode)


def image_file_size(
    path: str | os.PathLike | bytes, max_pixels: int | None = None, *, name: str | None = None, context: str = ""
) -> tuple[int, int]:
    """(width, height) of an image file (a path, or its bytes) from its header, refused as :func:`open_image`
    refuses it: builds check images with this, so they accept exactly what the processor will decode.
    ``name`` names bytes in errors; ``context`` says where the file was referred to."""
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    is_bytes = isinstance(path, (bytes, bytearray, memoryview))
    label = name or ("<image bytes>" if is_bytes else os.fspath(path))

    def probe() -> tuple[int, int]:
        with Image.open(io.BytesIO(path) if is_bytes else path) as im:
            _refuse_over_limit(label, *im.size, limit, context)
            return im.size

    return _reading(label, probe, context)


def to_rgb_image(image: Any, max_pixels: int | None = None) -> Image.Image:
    """A PIL image in RGB from a path, a PIL image or an array: see :func:`sa2va_hf.inputs.to_rgb_image`."""
    from .inputs import to_rgb_image as coerce  # inputs imports open_image from here

    return coerce(image, max_pixels)
