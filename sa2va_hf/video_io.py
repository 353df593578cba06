"""Decoding video files into frames, lazily and safely (PyAV, i.e. FFmpeg).

A video source record keeps its video file (``{"path", "bytes"}``, like ``datasets.Image``'s
storage) and the indices of the frames its masks annotate (``frame_indices``); frames are decoded
here when they are used, never baked into the dataset. Only the frames asked for are kept, and
decoding stops after the last of them.

Frames come out in presentation order, numbered from 0, as RGB. The YUV -> RGB conversion is
FFmpeg's (``rgb24``), the same library upstream's ``cv2.VideoCapture`` uses; frames decoded from
an mp4 differ from JPEG dumps of the same video by a few grey levels (two lossy encodings).

A video whose display matrix turns the picture (a phone's portrait video) gives its frames turned as
the matrix says, by quarter turns: what upstream's decoders give -- ``cv2.VideoCapture`` applies the
rotation by default (``CAP_PROP_ORIENTATION_AUTO``: OpenCV 4.5 to 4.10 and from 4.12; not 4.11) with
``cv2.rotate`` after the same conversion, so the frames are identical to OpenCV's; decord 0.6 turns a
180° video the same way (a 90° one fails in its ``get_batch``). A matrix that mirrors the picture, or
turns it by another angle, is refused (a ``VideoLoadError``): OpenCV and decord would drop the mirror.

PyAV is imported lazily, so the processor closure loads (as remote code) where it is missing.

Fork safety: FFmpeg's frame conversion (swscale) runs on slice threads that belong to a conversion
context, and PyAV keeps one context per thread for the life of the process. A child made by ``fork``
(a ``DataLoader`` worker, ``datasets.map(num_proc=...)``, a ``multiprocessing`` pool) inherits the
parent's context but not its threads, and its first conversion waits for them forever (PyAV >= 18.1.1).
So frames are converted with a context of this module's own, made in the process (and thread) that uses
it; a context inherited through ``fork`` is kept alive, never used nor freed (freeing it would join the
missing threads). Decoders need no such care: a container is opened and closed inside one call.
"""

from __future__ import annotations

import io
import math
import os
import struct
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from PIL import Image

from .errors import VideoLoadError, where
from .image_io import to_rgb_image
from .threads import default_num_threads

__all__ = ["frame_count", "header_info", "probe", "read_frames", "read_record_frames", "video_source"]


def video_source(video: Any) -> tuple[Any, str]:
    """(what to open, a name for errors) of a path, raw bytes, or a ``{"path", "bytes"}`` record entry."""
    if isinstance(video, dict):
        if video.get("bytes") is not None:
            return io.BytesIO(video["bytes"]), video.get("path") or "<video bytes>"
        if video.get("path") is not None:
            return os.fspath(video["path"]), os.fspath(video["path"])
        raise VideoLoadError("a video entry needs 'path' or 'bytes', got neither")
    if isinstance(video, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(video)), "<video bytes>"
    if isinstance(video, (str, os.PathLike)):
        return os.fspath(video), os.fspath(video)
    raise VideoLoadError(f"cannot read a video from {type(video).__name__}; give a path, bytes or {{'path', 'bytes'}}")


_converters = threading.local()
_inherited_converters: list[Any] = []  # contexts of a parent process: their threads are gone, keep them unfreed


def _converter(av: Any) -> Any:
    """This process's and this thread's ``VideoReformatter`` (made anew after a ``fork``)."""
    pid = os.getpid()
    if getattr(_converters, "pid", None) != pid:
        if getattr(_converters, "reformatter", None) is not None:
            _inherited_converters.append(_converters.reformatter)
        _converters.reformatter, _converters.pid = av.video.reformatter.VideoReformatter(), pid
    return _converters.reformatter


def _to_rgb_image(av: Any, frame: Any) -> Image.Image:
    """``frame.to_image()`` (rgb24 through FFmpeg's swscale) on this process's own conversion context.

    The scaler uses the package's thread count (one thread inside a pool worker): its slices give the
    same bytes whatever the count.
    """
    rgb = _converter(av).reformat(frame, format="rgb24", threads=default_num_threads())
    return rgb.to_image()  # already rgb24: PyAV returns it without converting


# np.rot90's quarter turns (counter-clockwise) as PIL transposes
_QUARTER_TURNS = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}


def _quarter_turns(frame: Any, name: str, file: object, record: object) -> int:
    """Counter-clockwise quarter turns the frame's display matrix asks for (0 without one), as OpenCV reads
    it: the rotation part (FFmpeg's ``av_display_rotation_get``), rounded to whole degrees."""
    data = frame.side_data.get("DISPLAYMATRIX")
    if data is None:
        return 0
    a, b, _, c, d = struct.unpack("=5i", bytes(data)[:20])  # 16.16 fixed point, row-major 3x3
    if a * d - b * c <= 0:
        raise VideoLoadError(
            f"video {name!r} has a display matrix that mirrors (or flattens) the picture; upstream's decoders "
            f"(OpenCV, decord) apply only its rotation, a player the mirror too: re-encode it with the mirror "
            f"applied{where(file, record)}"
        )
    degrees = round(-math.degrees(math.atan2(b / math.hypot(b, d), a / math.hypot(a, c)))) % 360
    if degrees % 90:
        raise VideoLoadError(
            f"video {name!r} has a display matrix that turns the picture by {degrees}°, not a multiple of 90°; "
            f"re-encode it with the rotation applied{where(file, record)}"
        )
    return degrees // 90


def _turned(image: Image.Image, turns: int) -> Image.Image:
    return image if not turns else image.transpose(_QUARTER_TURNS[turns])


def _open(video: Any, file: object, record: object):
    try:
        import av
    except ImportError:
        raise ImportError("decoding video files needs PyAV: pip install av") from None
    target, name = video_source(video)
    if isinstance(target, str) and not os.path.isfile(target):
        raise VideoLoadError(f"video file {name!r} does not exist{where(file, record)}")
    try:
        container = av.open(target)
    except (av.FFmpegError, OSError, ValueError) as e:
        raise VideoLoadError(f"video {name!r} cannot be opened: {e}{where(file, record)}") from None
    if not container.streams.video:
        container.close()
        raise VideoLoadError(f"video {name!r} has no video stream{where(file, record)}")
    return av, container, name


def _decoded(container):
    """The video stream's frames in presentation order, as ``container.decode(video=0)`` gives them, but
    without the packet a file cut short ends in (marked corrupt by the demuxer): a download cut short
    gives its whole frames, as :func:`probe` counts them, instead of failing on its last bytes."""
    for packet in container.demux(container.streams.video[0]):
        if packet.is_corrupt:
            continue
        yield from packet.decode()  # the closing empty packet drains the decoder


def read_frames(
    video: Any,
    indices: Iterable[int] | None = None,
    *,
    file: object = None,
    record: object = None,
) -> list[Image.Image]:
    """RGB frames of ``video`` at ``indices`` (0-based, presentation order), in the order asked.

    ``indices=None`` reads every frame. An index the video does not reach is a
    :class:`VideoLoadError` naming the video (and ``file`` / ``record`` when given).
    """
    wanted: Sequence[int] | None = None if indices is None else [int(i) for i in indices]
    if wanted is not None and any(i < 0 for i in wanted):
        raise VideoLoadError(f"frame indices must be >= 0, got {min(wanted)}{where(file, record)}")
    if wanted is not None and not wanted:
        return []
    av, container, name = _open(video, file, record)
    keep = None if wanted is None else set(wanted)
    last = None if wanted is None else max(wanted)
    got: dict[int, Image.Image] = {}
    decoded = 0
    try:
        with container:
            for frame in _decoded(container):
                index, decoded = decoded, decoded + 1
                if keep is None or index in keep:
                    got[index] = _turned(_to_rgb_image(av, frame), _quarter_turns(frame, name, file, record))
                if last is not None and index >= last:
                    break
    except av.FFmpegError as e:
        raise VideoLoadError(f"video {name!r} cannot be decoded: {e}{where(file, record)}") from None
    if not decoded:
        raise VideoLoadError(f"video {name!r} has no decodable frame{where(file, record)}")
    if wanted is None:
        return [got[i] for i in range(decoded)]
    missing = [i for i in wanted if i not in got]
    if missing:
        raise VideoLoadError(
            f"video {name!r} has {decoded} decodable frame(s) but frame {missing[0]} is needed{where(file, record)}"
        )
    return [got[i] for i in wanted]


def frame_count(video: Any, *, file: object = None, record: object = None, stop_at: int | None = None) -> int:
    """Number of decodable frames (decodes the stream: container headers are often wrong or absent).

    ``stop_at``: stop decoding once that many frames are counted (to learn only whether a video
    has at least so many).
    """
    av, container, name = _open(video, file, record)
    n = 0
    try:
        with container:
            for _ in _decoded(container):
                n += 1
                if stop_at is not None and n >= stop_at:
                    break
    except av.FFmpegError as e:
        raise VideoLoadError(f"video {name!r} cannot be decoded: {e}{where(file, record)}") from None
    return n


def header_info(video: Any, *, file: object = None, record: object = None) -> tuple[int | None, int, int]:
    """(frame count the container states, or None when it states none; height; width), without decoding.

    Cheap (the file's header only), for checks at dataset build time; :func:`frame_count` is the
    authority when the header is missing or in doubt. The size is the coded one: a display matrix that
    turns the frames by 90° swaps it (:func:`probe` gives the frames' size).
    """
    _, container, _ = _open(video, file, record)
    with container:
        stream = container.streams.video[0]
        n = int(stream.frames or 0)
        return (n or None), int(stream.codec_context.height), int(stream.codec_context.width)


def probe(video: Any, *, file: object = None, record: object = None) -> tuple[int | None, int, int, int]:
    """(frame count the container states or None, whole packets present, height, width): for build-time checks.

    (height, width) are the decoded frames' (a display matrix's quarter turns applied, as :func:`read_frames` does).

    Every packet of the video stream is read but only the first frame decoded (about 10 ms for
    a 300-frame 1280x720 mp4, against 0.5 s to decode it all): a file cut short holds fewer whole
    packets (one per frame in mp4 / Matroska video streams; a packet cut by the end of the file is
    marked corrupt and not counted), and a stream that is not video data fails on its first frame.
    An edit list can hide packets from playback, so packets are an upper bound on the frames a
    decoder gives; damage inside the stream past the first frame is found when those frames are
    read (:func:`read_frames`), as a :class:`VideoLoadError` naming the video and the record.
    """
    av, container, name = _open(video, file, record)
    packets, first = 0, []
    try:
        with container:
            stream = container.streams.video[0]
            stated = int(stream.frames or 0) or None
            h, w = int(stream.codec_context.height), int(stream.codec_context.width)
            for packet in container.demux(stream):
                if packet.size == 0 or packet.is_corrupt:  # the demuxer's flush packet; a packet cut short
                    continue
                packets += 1
                if not first:
                    first = packet.decode()
            if not first and packets:
                first = stream.codec_context.decode(None)  # a decoder that holds frames back
    except av.FFmpegError as e:
        raise VideoLoadError(f"video {name!r} cannot be decoded: {e}{where(file, record)}") from None
    if not first:
        raise VideoLoadError(f"video {name!r} has no decodable frame{where(file, record)}")
    if _quarter_turns(first[0], name, file, record) % 2:
        h, w = w, h
    return stated, packets, h, w


def read_record_frames(
    record: Mapping[str, Any], which: Sequence[int] | None = None, *, max_pixels: int | None = None
) -> list[Image.Image]:
    """A record's frames ``which`` (positions in its per-frame order; all by default), as RGB PIL images.

    ``record`` is a canonical record (``sa2va_hf.data.schema``) or any dict laid out like one:
    stored ``frames`` (PIL images as ``datasets`` decodes them, paths, or ``{"path", "bytes"}``),
    or a ``video`` (path, bytes or ``{"path", "bytes"}``) read at ``frame_indices`` -- every frame of
    the video when the dict has no ``frame_indices``. Only the frames asked for are decoded.
    ``max_pixels`` bounds image files read by path (PIL's limit by default).
    """
    rec = record.get("id")
    video = record.get("video")
    if video is None:
        frames = list(record.get("frames") or [])
        chosen = frames if which is None else [frames[i] for i in which]
        out = []
        for frame in chosen:
            if isinstance(frame, Mapping):
                frame = frame.get("path") if frame.get("bytes") is None else Image.open(io.BytesIO(frame["bytes"]))
            out.append(to_rgb_image(frame, max_pixels))
        return out
    indices = record.get("frame_indices")
    if indices is None:  # a video on its own: positions are frame numbers
        return read_frames(video, which, record=rec)
    wanted = list(indices) if which is None else [indices[i] for i in which]
    return read_frames(video, wanted, record=rec)
