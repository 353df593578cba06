"""What the video sources share: frame folders, per-frame mask lists, video file checks at build time."""

from __future__ import annotations

import logging
import math

from ... import masks, video_io
from ...errors import AnnotationError, ShapeMismatchError, VideoLoadError, where
from ..safety import safe_join
from ._images import check_image

logger = logging.getLogger(__name__)


def frame_paths(folder: str, video: str, names: list, *, file: str, record: str) -> list[str]:
    """``folder/<video>/<name>.jpg`` for the frame names in upstream's order (``sorted``, as strings).

    A video key may hold slashes (ReVOS: ``UVO/all/-fbscFfkh4M``); it and every name must stay
    inside ``folder``. A name listed twice would make one frame two: an error.
    """
    if not names:
        raise AnnotationError(f"the video lists no frames{where(file, record)}")
    if not all(isinstance(n, str) for n in names):
        raise AnnotationError(f"frame names must be strings, got {names!r:.80}{where(file, record)}")
    ordered = sorted(names)
    repeated = next((a for a, b in zip(ordered, ordered[1:]) if a == b), None)
    if repeated is not None:
        raise AnnotationError(f"frame {repeated!r} is listed twice{where(file, record)}")
    return [safe_join(folder, video, f"{name}.jpg", file=file, record=record) for name in ordered]


def check_frames(paths: list[str], height: int | None, width: int | None, *, file: str, record: str) -> tuple[int, int]:
    """Open every frame's header (no decode): all exist and share one size, which the annotation's (when given)
    must equal. Returns (height, width)."""
    h, w = check_image(paths[0], height, width, file=file, record=record)
    for path in paths[1:]:
        check_image(path, h, w, file=file, record=record)  # a frame of another size is a ShapeMismatchError
    return h, w


def frame_masks(entries: object, n_frames: int, h: int, w: int, *, file: str, record: str) -> list[dict | None]:
    """One canonical RLE (or None) per frame from a native per-frame list; its length must be ``n_frames``."""
    if not isinstance(entries, list):
        raise AnnotationError(
            f"a per-frame mask list must be a list, got {type(entries).__name__}{where(file, record)}"
        )
    if len(entries) != n_frames:
        raise AnnotationError(f"the mask list has {len(entries)} entries for {n_frames} frames{where(file, record)}")
    out: list[dict | None] = []
    for k, rle in enumerate(entries):
        if rle is None:
            out.append(None)
        elif isinstance(rle, dict):
            out.append(masks.to_rle(rle, h, w, file=file, record=f"{record}, frame {k}"))
        else:
            raise AnnotationError(
                f"frame {k}: a mask must be an RLE dict or null, got {type(rle).__name__}{where(file, record)}"
            )
    return out


def check_mp4(path: str, needed: int, height: int, width: int, *, file: str, record: str) -> int:
    """Check that the mp4 ``path`` opens, decodes, has frames of ``height`` x ``width`` and at least ``needed``
    of them, without decoding them all (:func:`video_io.probe`: every packet read, the first frame
    decoded). Returns the frame count: the header's, capped by the whole packets present."""
    n, h, w = present_frames(path, file=file, record=record)
    if (h, w) != (height, width):
        raise ShapeMismatchError(
            f"video {path!r} has frames of {h}x{w} (h x w) but its masks are {height}x{width}{where(file, record)}"
        )
    if n < needed:
        raise VideoLoadError(f"video {path!r} has {n} frame(s) but its masklet needs {needed}{where(file, record)}")
    return n


def present_frames(path: str, *, file: str, record: str) -> tuple[int, int, int]:
    """(frames present, height, width): the header's count capped by the whole packets in the file (a
    file cut short holds fewer; so does one whose edit list starts late, which is valid: the cap is
    logged, not refused); where the header states none (Matroska, WebM), the packets'."""
    stated, packets, h, w = video_io.probe(path, file=file, record=record)
    if stated is not None and packets < stated:
        logger.warning(
            "video %r states %d frames but holds %d whole packets (cut short, or an edit list): %d used%s",
            path, stated, packets, packets, where(file, record),
        )  # fmt: skip
    return (min(stated, packets) if stated is not None else packets), h, w


def every_fourth(n_annotated: int) -> list[int]:
    """Video frames annotated by ``n_annotated`` masklet entries at 6 fps of a 24 fps video: 0, 4, 8, ..."""
    return list(range(0, 4 * n_annotated, 4))


def annotated_count(n_video_frames: int) -> int:
    """How many masklet entries a video of ``n_video_frames`` frames has (upstream's ``frames[::4]``)."""
    return math.ceil(n_video_frames / 4)


def count_frames(path: str, *, file: str, record: str) -> tuple[int, int, int]:
    """(frame count, height, width) of a video file, checked as :func:`check_mp4` checks (every packet
    read, the first frame decoded). A video without a frame or a frame size is a :class:`VideoLoadError`."""
    n, h, w = present_frames(path, file=file, record=record)
    if h <= 0 or w <= 0:
        raise VideoLoadError(f"video {path!r} states no frame size ({w}x{h}){where(file, record)}")
    if n < 1:
        raise VideoLoadError(f"video {path!r} has no decodable frame{where(file, record)}")
    return n, h, w
