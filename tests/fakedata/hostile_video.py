"""Hostile video files, written here in a few kilobytes: playlists and lists that make FFmpeg open other files,
an H.264 stream whose frame size changes mid-stream, and one whose header claims 9504x9504 frames.

* :func:`hls_playlist` -- an HLS playlist (``.m3u8``) listing a file anywhere; without ``#EXT-X-ENDLIST`` it is
  a live playlist, which FFmpeg's HLS demuxer waits on for more segments, forever.
* :func:`ffconcat` -- FFmpeg's concat list, detected by its content alone (also from bytes: paths in it are
  then relative to the process's working directory).
* :func:`resized_mid_stream` -- one H.264 stream, 3 frames at ``first`` then 3 at ``second`` (two encodes, one
  stream), in an mp4: the header states the first size.
* :func:`claiming_size` -- a 48x32 baseline H.264 encode whose sequence parameter set is rewritten to claim
  ``side`` x ``side``: decoders allocate that size for every frame (a decompression bomb of ~6 KB).
"""

from __future__ import annotations

import fractions
import io
import os

import numpy as np


def hls_playlist(path: str, segment: str, endlist: bool = True) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:10", "#EXTINF:10,", segment] + (["#EXT-X-ENDLIST"] if endlist else [])
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def ffconcat(target: str) -> bytes:
    return f"ffconcat version 1.0\nfile {target}\n".encode()


def raw_h264(frames: list[np.ndarray], profile: str | None = None) -> bytes:
    """RGB frames -> an Annex B H.264 elementary stream (libx264, in-band parameter sets)."""
    import av

    buf = io.BytesIO()
    h, w = frames[0].shape[:2]
    with av.open(buf, "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "10", **({"profile": profile} if profile else {})}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def mux_h264(data: bytes, path: str, container_format: str | None = None) -> str:
    """An Annex B H.264 stream -> a container file (stream copy, 24 fps)."""
    import av

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with av.open(io.BytesIO(data), format="h264") as src, av.open(path, "w", format=container_format) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for pts, packet in enumerate(p for p in src.demux(src.streams.video[0]) if p.size):
            packet.stream, packet.pts, packet.dts, packet.duration = stream, pts, pts, 1
            packet.time_base = fractions.Fraction(1, 24)
            out.mux(packet)
    return path


def resized_mid_stream(path: str, first=(32, 48), second=(64, 96), value_of=lambda i: 20 + 20 * i) -> str:
    """3 frames of ``first`` (h, w) then 3 of ``second`` in one H.264 stream; frame i is grey ``value_of(i)``."""
    frames = [np.full((*size, 3), value_of(i), np.uint8) for i, size in enumerate([first] * 3 + [second] * 3)]
    return mux_h264(raw_h264(frames[:3]) + raw_h264(frames[3:]), path)


def claiming_size(path: str, side: int = 9504, n_frames: int = 60, after: int = 0) -> str:
    """A baseline H.264 stream of 48x32 frames whose SPS claims ``side`` x ``side`` (a multiple of 16), after
    ``after`` frames that are what they say (one stream: the header states 48x32 when ``after`` > 0)."""
    frames = [np.full((32, 48, 3), 20 + 20 * (i % 10), np.uint8) for i in range(n_frames)]
    units = raw_h264(frames, profile="baseline").split(b"\x00\x00\x01")
    patched = [_resize_sps(u, side // 16) if u and u[0] & 0x1F == 7 else u for u in units]
    honest = raw_h264(frames[:after], profile="baseline") if after else b""
    return mux_h264(honest + b"\x00\x00\x01".join(patched), path)


# --------------------------------------------------------------------------- H.264 sequence parameter set


def _resize_sps(unit: bytes, macroblocks: int) -> bytes:
    """A baseline SPS NAL unit (header byte + escaped payload, maybe the next start code's leading zero)
    with ``pic_width_in_mbs_minus1`` / ``pic_height_in_map_units_minus1`` set to ``macroblocks - 1``."""
    trailing = len(unit) - len(unit.rstrip(b"\x00"))
    bits = "".join(format(b, "08b") for b in _unescape(unit[1 : len(unit) - trailing]))
    pos = 24  # profile_idc, constraint flags, level_idc
    assert int(bits[:8], 2) == 66, "a baseline profile SPS"
    pos = _skip_ue(bits, pos)  # seq_parameter_set_id
    pos = _skip_ue(bits, pos)  # log2_max_frame_num_minus4
    poc_type_end = _skip_ue(bits, pos)
    poc_type = _ue_value(bits, pos)
    pos = _skip_ue(bits, poc_type_end) if poc_type == 0 else poc_type_end
    assert poc_type in (0, 2)
    pos = _skip_ue(bits, pos) + 1  # max_num_ref_frames, gaps_in_frame_num_value_allowed_flag
    size_end = _skip_ue(bits, _skip_ue(bits, pos))
    new = bits[:pos] + _ue(macroblocks - 1) * 2 + bits[size_end:]
    new = new.rstrip("0")  # ends in the rbsp stop bit, then byte alignment
    new += "0" * (-len(new) % 8)
    payload = bytes(int(new[i : i + 8], 2) for i in range(0, len(new), 8))
    return unit[:1] + _escape(payload) + b"\x00" * trailing


def _ue(value: int) -> str:
    code = format(value + 1, "b")
    return "0" * (len(code) - 1) + code


def _ue_value(bits: str, pos: int) -> int:
    zeros = bits.index("1", pos) - pos
    return int(bits[pos + zeros : pos + 2 * zeros + 1], 2) - 1


def _skip_ue(bits: str, pos: int) -> int:
    zeros = bits.index("1", pos) - pos
    return pos + 2 * zeros + 1


def _unescape(data: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for b in data:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _escape(data: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for b in data:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)
