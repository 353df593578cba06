"""Images referred to by annotations: found inside ``data_dir``, checked by their header (no full decode)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache

from PIL import Image

from ...errors import ImageLoadError, ShapeMismatchError, where
from ...image_io import image_file_size
from ..safety import safe_join


@lru_cache(maxsize=4096)
def _header_size(path: str, mtime_ns: int, size: int, limit: int | None) -> tuple[int, int]:  # never stale: mtime
    return image_file_size(path, limit)


def image_size(path: str, *, file: object = None, record: object = None) -> tuple[int, int]:
    """(height, width) from the image header (no full decode); ImageLoadError if unreadable, or over the
    pixel limit the processor decodes with (``PIL.Image.MAX_IMAGE_PIXELS``): a build accepts what it can read."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):  # 'a.jpg/b.jpg' where a.jpg is a file
        raise ImageLoadError(f"image {path!r} does not exist{where(file, record)}") from None
    except (OSError, ValueError) as e:  # a name too long; a lone surrogate ('\ud800.jpg') no file system can hold
        raise ImageLoadError(f"image {path!r} cannot be read: {e}{where(file, record)}") from None
    try:
        w, h = _header_size(path, st.st_mtime_ns, st.st_size, Image.MAX_IMAGE_PIXELS)
    except ImageLoadError as e:
        raise ImageLoadError(f"{e}{where(file, record)}") from None
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
