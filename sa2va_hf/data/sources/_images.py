"""Images referred to by annotations: found inside ``data_dir``, checked by their header (no full decode)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from functools import lru_cache

from PIL import Image

from ...errors import AnnotationError, ImageLoadError, ShapeMismatchError, where
from ...image_io import image_file_size
from ..orientation import TURNS, displayed_size, image_orientation
from ..safety import safe_join

logger = logging.getLogger(__name__)

#: Where your own masks may be drawn: decided per image from their size, on the pixels as stored, or on
#: the image as viewers display it (its EXIF orientation applied).
MASK_FRAMES = ("auto", "stored", "displayed")


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


def own_mask_frame(
    path: str,
    height: int,
    width: int,
    mask_frame: str,
    fits: Callable[[int, int], bool],
    *,
    file: object = None,
    record: object = None,
) -> tuple[tuple[int, int], int]:
    """For your own data (``folder``, ``finetune``): the (h, w) the image's masks must have, and the
    orientation that takes them onto the stored pixels (1: they are on the stored pixels already).

    Records always hold the stored pixels (what upstream reads). An image whose EXIF orientation turns or
    mirrors it may have masks drawn on the stored pixels or on the view a viewer shows; ``mask_frame``
    says which (``"stored"``, ``"displayed"``), or ``"auto"``: masks that fit (``fits(h, w)``) only the
    stored size are stored-frame masks, masks that fit only the displayed size are moved onto the stored
    pixels, and where both fit (a square image, orientations 2-4) the frame cannot be told: an error
    that names the option.
    """
    orientation = image_orientation(path)
    if orientation == 1 or mask_frame == "stored":
        return (height, width), 1
    shown = displayed_size(height, width, orientation)
    if mask_frame == "displayed":
        return shown, orientation
    on_stored, on_shown = fits(height, width), fits(*shown)
    if on_shown and not on_stored:
        logger.info(
            "%s: masks fit the image as displayed (EXIF orientation %d): moved onto the stored pixels",
            path,
            orientation,
        )
        return shown, orientation
    if on_stored == on_shown and on_stored:
        raise AnnotationError(
            f"{path!r} has EXIF orientation {orientation} (viewers show it {TURNS[orientation]}) and its masks fit "
            f"the image both as stored ({height}x{width}) and as displayed ({shown[0]}x{shown[1]}, h x w), so the "
            f"frame they were drawn in cannot be told: set mask_frame='stored' (drawn on the pixels as stored, "
            f"which upstream reads) or mask_frame='displayed' (drawn on the image as a viewer shows it){where(file, record)}"
        )
    return (height, width), 1  # stored only, or neither: the caller's size check names what disagrees
