"""Decoding video files into frames, lazily and safely (PyAV, i.e. FFmpeg).

A video source record keeps its video file (``{"path", "bytes"}``, like ``datasets.Image``'s
storage) and the indices of the frames its masks annotate (``frame_indices``); frames are decoded
here when they are used, never baked into the dataset. Only the frames asked for are kept, and
decoding stops after the last of them; an H.264 stream (nearly every mp4) is decoded only where those
frames need it -- from the IDR frame before each, skipping frames nothing refers to -- with the same
result as decoding every frame (:func:`read_frames`).

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

Hostile files: a video is one plain media file. FFmpeg opens files in C, out of Python's sight, and some
of its demuxers open others (an HLS playlist opens whatever it lists, anywhere, and one without an end
waits for more forever; a concat list; an image sequence), so only the demuxers of :data:`VIDEO_FORMATS`
are allowed, on local files only: FFmpeg refuses any other format after reading the first bytes, before
its demuxer runs. A video whose frames are over the pixel limit images get (``max_pixels``, PIL's
``MAX_IMAGE_PIXELS`` by default) is refused from its stream header before a frame is decoded (a bomb of 60
frames at 9500x9500 fits in 6 KB), and FFmpeg's decoders allocate no frame over that limit while the file is
opened, nor one much larger than the header's size afterwards; a frame whose size differs from the header's
(a size change mid-stream) is a :class:`VideoLoadError` when it is read.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import io
import math
import os
import struct
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from .errors import VideoLoadError, where
from .image_io import _refuse_over_limit, to_rgb_image
from .threads import default_num_threads

__all__ = ["VIDEO_FORMATS", "frame_count", "header_info", "probe", "read_frames", "read_record_frames", "video_source"]

#: FFmpeg demuxers a video may be read with: plain media files, none of which opens another file (mp4 / mov /
#: m4v / 3gp -- external data references stay off --, Matroska / WebM, AVI, MPEG-TS, MPEG-PS and MPEG-1/2
#: video, FLV, Ogg, ASF / WMV). Playlists (HLS), concat lists, image sequences, DASH manifests ... are
#: refused before they are demuxed.
VIDEO_FORMATS = ("mov", "matroska", "avi", "mpegts", "mpeg", "mpegvideo", "flv", "ogg", "asf")
_CONTAINER_OPTIONS = {
    "format_whitelist": ",".join(VIDEO_FORMATS),
    "protocol_whitelist": "file",  # a path is a local file, never a URL nor a protocol (concat:, subfile:)
    "enable_drefs": "0",  # mov: never follow a reference to another file (FFmpeg's default, made explicit)
}
#: A decoder may allocate a frame a little larger than the header's (rows aligned to 64 here), and FFmpeg's
#: MPEG-4 / WMV / FLV decoders more for a small one (54K pixels for 48x32): it is held to the header's size with
#: this much slack, and to at least ``_FRAME_FLOOR`` pixels (6 MiB of YUV)
_FRAME_SLACK = 64
_FRAME_FLOOR = 1 << 22


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


def _to_rgb_image(av: Any, frame: Any, threads: int) -> Image.Image:
    """``frame.to_image()`` (rgb24 through FFmpeg's swscale) on this process's own conversion context.

    The scaler uses ``threads`` (the package's thread count: one inside a pool worker): its slices give the
    same bytes whatever the count.
    """
    rgb = _converter(av).reformat(frame, format="rgb24", threads=threads)
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


def _pixel_limit(max_pixels: int | None) -> int | None:
    return Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels


def _open(video: Any, file: object, record: object, max_pixels: int | None = None):
    """(av, an open container of a plain media file whose video frames are within the pixel limit, its name)."""
    try:
        import av
    except ImportError:
        raise ImportError("decoding video files needs PyAV: pip install av") from None
    target, name = video_source(video)
    if isinstance(target, str):
        if not os.path.isfile(target):
            raise VideoLoadError(f"video file {name!r} does not exist{where(file, record)}")
        target = os.path.abspath(target)  # '/...': never read as a protocol ('concat:a|b', 'file:...')
    limit = _pixel_limit(max_pixels)
    # the decoders FFmpeg runs while opening (to learn the stream's parameters) allocate no frame over the limit
    decoder_options = {} if limit is None else {"max_pixels": str(limit)}
    try:
        container = av.open(target, container_options=_CONTAINER_OPTIONS, options=decoder_options)
    except av.ArgumentError as e:  # what FFmpeg says of a format off the list (EINVAL), before demuxing it
        raise VideoLoadError(
            f"video {name!r} is not a plain media file FFmpeg may read here (allowed demuxers: "
            f"{', '.join(VIDEO_FORMATS)}; a playlist, concat list or image sequence opens other files): "
            f"{e}{where(file, record)}"
        ) from None
    except (av.FFmpegError, OSError, ValueError, MemoryError) as e:
        raise VideoLoadError(f"video {name!r} cannot be opened: {e}{where(file, record)}") from None
    try:
        _check_video_stream(container, name, limit, where(file, record))
    except BaseException:
        container.close()
        raise
    return av, container, name


def _check_video_stream(container: Any, name: str, limit: int | None, context: str) -> None:
    """The first video stream has a decoder and a frame size within ``limit``, from its header; its decoder is
    then held to that size (a frame much larger than the header says is never allocated)."""
    if not container.streams.video:
        raise VideoLoadError(f"video {name!r} has no video stream{context}")
    stream = container.streams.video[0]
    codec = stream.codec_context
    if codec is None:  # e.g. an unknown fourcc: FFmpeg has no decoder for it
        raise VideoLoadError(
            f"video {name!r} has a video stream FFmpeg cannot decode (no decoder for its codec){context}"
        )
    w, h = int(codec.width), int(codec.height)
    _refuse_over_limit(name, w, h, limit, context, what="video", error=VideoLoadError)
    # a frame of another size is an error anyway (_decoded): one much larger is refused before it is allocated
    frame_bound = max((w + _FRAME_SLACK) * (h + _FRAME_SLACK), _FRAME_FLOOR) if w > 0 and h > 0 else limit
    if frame_bound is not None:
        codec.options = {**dict(codec.options or {}), "max_pixels": str(frame_bound)}


@contextlib.contextmanager
def _decoding(av: Any, name: str, context: str):
    """What FFmpeg raises while demuxing and decoding, and an allocation that fails, as a named VideoLoadError."""
    try:
        yield
    except av.FFmpegError as e:
        raise VideoLoadError(f"video {name!r} cannot be decoded: {e}{context}") from None
    except MemoryError:
        raise VideoLoadError(f"video {name!r} is too large to decode in the memory available{context}") from None


def _decoded(container, name: str, context: str):
    """The video stream's frames in presentation order, as ``container.decode(video=0)`` gives them, but
    without the packet a file cut short ends in (marked corrupt by the demuxer): a download cut short
    gives its whole frames, as :func:`probe` counts them, instead of failing on its last bytes. A frame
    of another size than the stream header's (which builds check against the masks) is an error."""
    stream = container.streams.video[0]
    size = (int(stream.codec_context.width), int(stream.codec_context.height))
    index = 0
    for packet in container.demux(stream):
        if packet.is_corrupt:
            continue
        for frame in packet.decode():  # the closing empty packet drains the decoder
            if (frame.width, frame.height) != size:
                raise VideoLoadError(
                    f"video {name!r}: frame {index} is {frame.width}x{frame.height} (W x H) but the stream header "
                    f"says {size[0]}x{size[1]}: its frame size changes mid-stream{context}"
                )
            index += 1
            yield frame


def _frame_indices(indices: Iterable[Any], file: object, record: object) -> list[int]:
    """``indices`` as ints; anything else (``None``, ``1.7``, ``"2"``, ``True``, negative) is an error, not coerced."""
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
        raise VideoLoadError(f"frame indices must be a list of ints, got {type(indices).__name__}{where(file, record)}")
    wanted = list(indices)
    for i in wanted:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise VideoLoadError(f"frame indices must be ints, got {i!r} in {wanted!r:.200}{where(file, record)}")
        if i < 0:
            raise VideoLoadError(f"frame indices must be >= 0, got {int(i)}{where(file, record)}")
    return [int(i) for i in wanted]


def read_frames(
    video: Any,
    indices: Iterable[int] | None = None,
    *,
    file: object = None,
    record: object = None,
    max_pixels: int | None = None,
    threads: int | None = None,
) -> list[Image.Image]:
    """RGB frames of ``video`` at ``indices`` (0-based, presentation order), in the order asked.

    ``indices=None`` reads every frame. An index the video does not reach is a
    :class:`VideoLoadError` naming the video (and ``file`` / ``record`` when given). A video whose frames are
    over ``max_pixels`` (PIL's ``MAX_IMAGE_PIXELS`` by default) is refused before any frame is decoded.
    ``threads``: for the decoder and the RGB conversion (the package's default count when ``None``: one
    inside a pool worker); the frames are the same whatever the count.

    Only what the frames asked for need is decoded: an H.264 stream that qualifies (:func:`_decode_plan`) is
    decoded from the IDR frame before each of them, frames no other frame refers to skipped unless asked
    for -- the frames are the same as decoding every frame from the start, which any other video gets.
    """
    wanted: Sequence[int] | None = None if indices is None else _frame_indices(indices, file, record)
    if wanted is not None and not wanted:
        return []
    threads = default_num_threads() if threads is None else threads
    if wanted is not None:
        frames = _read_planned(video, wanted, file, record, max_pixels, threads)
        if frames is not None:
            return frames
    av, container, name = _open(video, file, record, max_pixels)
    keep = None if wanted is None else set(wanted)
    last = None if wanted is None else max(wanted)
    got: dict[int, Image.Image] = {}
    decoded = 0
    with _decoding(av, name, where(file, record)), container:
        _set_decoder_threads(container, threads)
        for frame in _decoded(container, name, where(file, record)):
            index, decoded = decoded, decoded + 1
            if keep is None or index in keep:
                got[index] = _turned(_to_rgb_image(av, frame, threads), _quarter_turns(frame, name, file, record))
            if last is not None and index >= last:
                break
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


#: at most this many decoding threads (FFmpeg's own cap for a count it picks: each frame thread holds frames)
_MAX_DECODER_THREADS = 16


def _set_decoder_threads(container: Any, threads: int) -> None:
    """The caller's thread count for the decoder; the decoded frames are the same whatever the count.

    One thread where the caller has one: FFmpeg's default slice threads hand every frame over to a thread even
    when its slices cannot be split (one slice a frame, as x264 writes), a cost a busy machine stretches. With
    more, frame threads too (PyAV asks for slice threads only, which such a stream cannot use): consecutive
    frames decode side by side, bit-exact by FFmpeg's design; an H.264 read is ~15-25 % faster on two threads."""
    codec = container.streams.video[0].codec_context
    if threads == 1:
        codec.thread_count = 1
    else:
        codec.thread_type = "AUTO"
        codec.thread_count = min(threads, _MAX_DECODER_THREADS)


# --------------------------------------------------------------------------- decoding only what is needed

#: H.264 NAL unit type of an IDR picture: no picture after it in decoding order refers to one before it,
#: nor is shown before it.
_H264_IDR = 5


def _nal_types(data: bytes, length_size: int) -> list[int] | None:
    """The NAL unit types of an AVCC (length-prefixed) H.264 packet, or None if it does not parse as one."""
    types, i = [], 0
    while i < len(data):
        if i + length_size > len(data):
            return None
        n = int.from_bytes(data[i : i + length_size], "big")
        i += length_size
        if n == 0 or i + n > len(data):
            return None
        types.append(data[i] & 0x1F)
        i += n
    return types


@dataclasses.dataclass
class _DecodePlan:
    """Which packets (in decoding order) to decode for the frames asked for, from the stream's packets alone."""

    targets: dict[int, int]  # pts of a frame asked for -> its index (presentation order)
    spans: list[tuple[int, int]]  # [first, last] packets to decode: each opens with an IDR
    stamps: frozenset[int]  # every packet's pts


def _decode_plan(container: Any, wanted: Sequence[int]) -> _DecodePlan | None:
    """The packets to decode for frames ``wanted``, or None when the stream does not qualify.

    A stream qualifies when a frame's index is its packet's rank by pts, as decoding every frame numbers them:
    H.264 in AVCC form (mp4 / mov / Matroska) whose first packet is an IDR picture, every packet whole, with a
    pts of its own, none marked to be discarded (an edit list's). Then a frame asked for is decoded from the
    last IDR packet at or before its own -- nothing after an IDR refers to anything before it -- and frames
    that nothing refers to (``nal_ref_idc`` 0) are skipped unless asked for: the frames are bit for bit those
    of decoding every frame. (:func:`_read_planned` checks what the decoder gives against the plan.)
    """
    stream = container.streams.video[0]
    codec = stream.codec_context
    extradata = bytes(codec.extradata or b"")
    if codec.name != "h264" or len(extradata) < 7 or extradata[0] != 1:  # avcC: configurationVersion 1
        return None
    length_size = (extradata[4] & 3) + 1
    stamps: list[int] = []
    idr: list[int] = []  # positions (decoding order) of IDR packets
    for packet in container.demux(stream):
        if packet.size == 0:  # the demuxer's closing empty packet
            continue
        if packet.is_corrupt or packet.is_discard or packet.pts is None:
            return None
        if packet.is_keyframe:
            types = _nal_types(bytes(packet), length_size)
            if types is not None and _H264_IDR in types:
                idr.append(len(stamps))
        stamps.append(int(packet.pts))
    if not idr or idr[0] != 0 or max(wanted) >= len(stamps):
        return None  # (a frame past the end: decoding every frame says so)
    order = sorted(stamps)
    if len(set(order)) != len(order):
        return None
    position = {pts: i for i, pts in enumerate(stamps)}
    targets = {order[i]: i for i in wanted}
    spans: list[tuple[int, int]] = []
    for last in sorted(position[pts] for pts in targets):
        first = idr[bisect.bisect_right(idr, last) - 1]
        if spans and first <= spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], max(spans[-1][1], last))
        else:
            spans.append((first, last))
    return _DecodePlan(targets, spans, frozenset(stamps))


def _read_planned(
    video: Any, wanted: Sequence[int], file: object, record: object, max_pixels: int | None, threads: int
) -> list[Image.Image] | None:
    """The frames ``wanted``, decoding only the packets :func:`_decode_plan` names; None when the stream does
    not qualify or the decoder gives anything the plan does not foresee (the caller then decodes every frame)."""
    context = where(file, record)
    av, container, name = _open(video, file, record, max_pixels)
    with _decoding(av, name, context), container:
        plan = _decode_plan(container, wanted)
    if plan is None:
        return None
    av, container, name = _open(video, file, record, max_pixels)
    got: dict[int, Image.Image] = {}
    with _decoding(av, name, context), container:
        _set_decoder_threads(container, threads)
        stream = container.streams.video[0]
        codec = stream.codec_context
        size = (int(codec.width), int(codec.height))
        previous = None  # the pts of the last frame given: they come in presentation order

        def take(frames) -> bool:
            nonlocal previous
            for frame in frames:
                pts = frame.pts
                if pts is None or pts not in plan.stamps or (previous is not None and pts <= previous):
                    return False
                # fields may be packets of their own (then frames are not packets); a size change is an error
                # decoding every frame names (the first frame of the new size)
                if frame.interlaced_frame or (frame.width, frame.height) != size:
                    return False
                previous = pts
                index = plan.targets.get(pts)
                if index is not None:
                    got[index] = _turned(_to_rgb_image(av, frame, threads), _quarter_turns(frame, name, file, record))
            return True

        spans = iter(plan.spans)
        first, last = next(spans)
        position = -1
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            position += 1
            if position < first:
                continue
            # a frame nothing refers to is skipped unless it is asked for
            codec.skip_frame = "DEFAULT" if packet.pts in plan.targets else "NONREF"
            if not take(codec.decode(packet)):
                return None
            if position == last:  # drain the decoder; the next span opens with an IDR on a fresh one
                if not take(codec.decode(None)):
                    return None
                codec.flush_buffers()
                first, last = next(spans, (None, None))
                if first is None:
                    break
    if len(got) != len(plan.targets):
        return None
    return [got[i] for i in wanted]


def frame_count(video: Any, *, file: object = None, record: object = None, stop_at: int | None = None) -> int:
    """Number of decodable frames (decodes the stream: container headers are often wrong or absent).

    ``stop_at``: stop decoding once that many frames are counted (to learn only whether a video
    has at least so many).
    """
    av, container, name = _open(video, file, record)
    n = 0
    with _decoding(av, name, where(file, record)), container:
        for _ in _decoded(container, name, where(file, record)):
            n += 1
            if stop_at is not None and n >= stop_at:
                break
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
    with _decoding(av, name, where(file, record)), container:
        stream = container.streams.video[0]
        stated = int(stream.frames or 0) or None
        h, w = int(stream.codec_context.height), int(stream.codec_context.width)
        for packet in container.demux(stream):
            if packet.size == 0 or packet.is_corrupt:  # the demuxer's flush packet; a packet cut short
                continue
            packets += 1
            if not first:
                first = _same_size(packet.decode(), w, h, name, file, record)
        if not first and packets:  # a decoder that holds frames back
            first = _same_size(stream.codec_context.decode(None), w, h, name, file, record)
    if not first:
        raise VideoLoadError(f"video {name!r} has no decodable frame{where(file, record)}")
    if _quarter_turns(first[0], name, file, record) % 2:
        h, w = w, h
    return stated, packets, h, w


def _same_size(frames: list, w: int, h: int, name: str, file: object, record: object) -> list:
    """``frames``, each checked to have the header's size (the size builds check)."""
    for frame in frames:
        if (frame.width, frame.height) != (w, h):
            raise VideoLoadError(
                f"video {name!r}: its first frame is {frame.width}x{frame.height} (W x H) but the stream header "
                f"says {w}x{h}{where(file, record)}"
            )
    return frames


def read_record_frames(
    record: Mapping[str, Any],
    which: Sequence[int] | None = None,
    *,
    max_pixels: int | None = None,
    threads: int | None = None,
) -> list[Image.Image]:
    """A record's frames ``which`` (positions in its per-frame order; all by default), as RGB PIL images.

    ``record`` is a canonical record (``sa2va_hf.data.schema``) or any dict laid out like one:
    stored ``frames`` (PIL images as ``datasets`` decodes them, paths, or ``{"path", "bytes"}``),
    or a ``video`` (path, bytes or ``{"path", "bytes"}``) read at ``frame_indices`` -- every frame of
    the video when the dict has no ``frame_indices``. Only the frames asked for are decoded.
    ``max_pixels`` bounds image files read by path and video frames (PIL's limit by default); ``threads``: see
    :func:`read_frames`.
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
        return read_frames(video, which, record=rec, max_pixels=max_pixels, threads=threads)
    indices = _frame_indices(indices, None, rec)
    wanted = indices if which is None else [indices[i] for i in which]
    return read_frames(video, wanted, record=rec, max_pixels=max_pixels, threads=threads)
