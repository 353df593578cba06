"""Hostile video files at every entry point (builds, ``read_frames``, bytes, the processor): a video is one plain
media file, its frames within the pixel limit images get, their size the one its header states.

FFmpeg opens files in C, where Python's audit hooks cannot see it, so "no second file is opened" is tested by
content: a sentinel video outside ``data_dir``, whose grey frames must never come out of anything. A file that
could hang (a live HLS playlist) or allocate gigabytes is run in a child process with a deadline.
"""

from __future__ import annotations

import os
import re
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sa2va_hf import video_io
from sa2va_hf.errors import Sa2VAError, VideoLoadError

from .child import run_module
from .fakedata import chat_univi as fake_chat_univi
from .fakedata import hostile_video
from .fakedata import ref_sav as fake_ref_sav
from .fakedata._common import frame_signature, frame_signature_image, write_mp4
from .video_entry_points import ENTRY_POINTS, point_sources_at, run, source_folders

# Fixed examples, no example database in the checkout, and no per-example deadline (no timing asserts).
PROPERTY = settings(
    max_examples=60, deadline=None, database=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)  # fmt: skip
SENTINEL_GREY = 250  # no fake source's frame is this bright (frame_signature_image: 20 + 20 * i, i < 10)
H, W = fake_ref_sav.H, fake_ref_sav.W  # the fake sources' frame size: the sentinel would pass their checks
ONE_BOMB_FRAME_MIB = 9504 * 9504 * 3 // 2 // 2**20  # 129 MiB: one YUV 4:2:0 frame of the bomb below


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory):
    """A private video outside any data_dir, in the two containers HLS segments come in."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    frames = [np.full((H, W, 3), SENTINEL_GREY, np.uint8)] * 12
    return {
        "mp4": write_mp4(str(elsewhere / "private.mp4"), frames),
        "ts": write_mp4(str(elsewhere / "private.ts"), frames, container_format="mpegts"),
    }


@pytest.fixture
def data_dir(tmp_path):
    """The fake chat_univi and ref_sav sources, whose first video the test replaces."""
    root = tmp_path / "data"
    fake_chat_univi.write(str(root))
    fake_ref_sav.write(str(root))
    return root


def _in_every_folder(data_dir, name: str, write) -> str:
    """``write(path)`` the file ``name`` in each fake source's video folder and make it their first video;
    returns the chat_univi copy (what the other entry points read)."""
    paths = [write(os.path.join(folder, name)) for folder in source_folders(str(data_dir)).values()]
    point_sources_at(name, str(data_dir))
    return paths[0]


def _assert_refused(kind, value, match: str) -> None:
    """The outcome of an entry point is a named VideoLoadError, and no sentinel frame came out."""
    assert kind == "error", f"the file was read: frames of grey {value}"
    assert isinstance(value, VideoLoadError), f"{type(value).__name__}: {value}"
    assert re.search(match, str(value)), str(value)


PLAYLIST_ENTRIES = {  # how a playlist inside data_dir names the sentinel outside it
    "absolute": lambda s: s["ts"],
    "climbing": lambda s: "../" * 40 + s["mp4"].lstrip("/"),  # up to the root from any folder, then down
    "file_url": lambda s: "file://" + s["ts"],
}


# ------------------------------------------------------------------ playlists and lists that open other files


def test_without_the_format_list_ffmpeg_reads_the_sentinel_through_a_playlist(sentinel, tmp_path):
    """What the tests below guard against is real: FFmpeg's HLS demuxer opens the file a playlist names."""
    import av

    playlist = hostile_video.hls_playlist(str(tmp_path / "clip.m3u8"), sentinel["ts"])
    with av.open(playlist) as container:
        frame = next(container.decode(video=0))
    assert container.format.name == "hls" and abs(frame.to_ndarray(format="rgb24").mean() - SENTINEL_GREY) < 3


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("naming", sorted(PLAYLIST_ENTRIES))
def test_a_playlist_is_refused_at_every_entry_point(sentinel, data_dir, tmp_path, entry, naming):
    segment = PLAYLIST_ENTRIES[naming](sentinel)
    playlist = _in_every_folder(data_dir, "clip.m3u8", lambda path: hostile_video.hls_playlist(path, segment))
    kind, value = run(entry, playlist, str(data_dir), str(tmp_path / "cache"))
    if entry == "bytes":  # FFmpeg detects HLS by the name's extension, which bytes have not: nothing to read
        _assert_refused(kind, value, r"clip\.mp4' cannot be opened: .*Invalid data")
    else:
        _assert_refused(kind, value, r"clip\.m3u8' is not a plain media file")


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_concat_list_under_a_video_name_is_refused(data_dir, tmp_path, entry):
    """FFmpeg detects a concat list by its content, whatever the file's name; it names a file beside it (its
    safe mode refuses absolute and climbing names, not these)."""

    def write(path):
        write_mp4(
            os.path.join(os.path.dirname(path), "sibling.mp4"), [np.full((H, W, 3), SENTINEL_GREY, np.uint8)] * 12
        )
        with open(path, "wb") as f:
            f.write(hostile_video.ffconcat("sibling.mp4"))
        return path

    listing = _in_every_folder(data_dir, "clip.mp4", write)
    kind, value = run(entry, listing, str(data_dir), str(tmp_path / "cache"))
    _assert_refused(kind, value, r"clip\.mp4' is not a plain media file")


def test_video_bytes_that_list_a_file_are_refused(sentinel, monkeypatch):
    """Bytes have no folder: a concat list in them names files relative to the working directory."""
    monkeypatch.chdir(os.path.dirname(sentinel["mp4"]))
    data = hostile_video.ffconcat("private.mp4")
    for video in (data, {"bytes": data, "path": "clip.mp4"}):
        with pytest.raises(VideoLoadError, match=r"is not a plain media file"):
            video_io.read_frames(video)


def test_a_record_whose_video_is_a_playlist_is_refused_by_the_transform_path(sentinel, tmp_path):
    """A hand-made record (the transform reads frames through record_frames)."""
    from sa2va_hf.data.schema import make_record, record_frames

    playlist = hostile_video.hls_playlist(str(tmp_path / "clip.m3u8"), sentinel["ts"])
    rec = make_record(id="r", source="ref_sav", video=playlist, frame_indices=[0], height=H, width=W)
    with pytest.raises(VideoLoadError, match=r"not a plain media file.*record 'r'"):
        record_frames(rec)


def test_a_live_playlist_neither_hangs_nor_reads_the_sentinel(sentinel, data_dir, tmp_path):
    """A playlist without #EXT-X-ENDLIST made FFmpeg wait for more segments forever: every entry point, in a
    child with a deadline (a hang fails this test with the child's stacks, not the run)."""
    live = _in_every_folder(data_dir, "live.m3u8", lambda path: hostile_video.hls_playlist(path, sentinel["ts"], False))
    out = run_module("tests.video_entry_points", live, str(data_dir), str(tmp_path / "cache"), timeout=240)
    for entry in ENTRY_POINTS:
        line = next(x for x in out.splitlines() if x.startswith(entry + " "))
        refusal = "cannot be opened" if entry == "bytes" else "is not a plain media file"
        assert line.startswith(f"{entry} error VideoLoadError: ") and refusal in line, out


# ------------------------------------------------------------------ frames over the pixel limit


def test_a_video_bomb_is_refused_from_its_header_before_any_frame_is_decoded(data_dir, tmp_path):
    """60 frames claiming 9504x9504 (90.3M pixels, over PIL's 89.5M) in 6 KB: every entry point refuses it
    naming the limit, and a process reading it does not grow by one frame (135 MiB of YUV; FFmpeg's stream
    probing alone decoded seven of them, +250 MiB)."""
    from sa2va_hf import load_source

    bomb = _in_every_folder(data_dir, "bomb.mp4", hostile_video.claiming_size)
    assert os.path.getsize(bomb) < 10_000
    readers = ("read_frames", "bytes", "probe", "processor")
    out = run_module("tests.video_entry_points", bomb, str(data_dir), str(tmp_path / "cache"), *readers, timeout=240)
    for entry in readers:
        line = next(x for x in out.splitlines() if x.startswith(entry + " "))
        assert f"{entry} error VideoLoadError: " in line and "is 9504x9504 = 90326016 pixels, over the limit" in line
    assert int(out.split("peak_rss_growth_mib")[1]) < ONE_BOMB_FRAME_MIB, out  # 34 MiB
    for source in ("chat_univi", "ref_sav"):  # builds probe the video as the readers do
        with pytest.raises(VideoLoadError, match=r"bomb\.mp4' is 9504x9504 = 90326016 pixels, over the limit"):
            load_source(source, data_dir, cache_dir=str(tmp_path / "cache" / source))


def test_a_frame_larger_than_the_header_says_is_never_allocated(tmp_path):
    """3 honest 48x32 frames, then the stream claims 9504x9504 (under no limit at all): the decoder refuses the
    frame before allocating it, and reading the video is a named error."""
    jump = hostile_video.claiming_size(str(tmp_path / "jump.mp4"), after=3)
    assert video_io.probe(jump)[2:] == (32, 48)
    out = run_module(
        "tests.video_entry_points", jump, str(tmp_path), str(tmp_path), "read_frames", "bytes", timeout=240
    )
    assert "read_frames error VideoLoadError: video " in out and "bytes error VideoLoadError: video " in out, out
    assert int(out.split("peak_rss_growth_mib")[1]) < ONE_BOMB_FRAME_MIB, out  # 67 MiB: H.264's tables, no frame


def test_the_video_pixel_limit_is_max_pixels_or_pils(tmp_path, monkeypatch):
    clip = write_mp4(str(tmp_path / "clip.mp4"), [frame_signature_image(i, 32, 48) for i in range(3)])
    with pytest.raises(VideoLoadError, match=r"is 48x32 = 1536 pixels, over the limit of 1535"):
        video_io.read_frames(clip, [0], max_pixels=1535)
    assert len(video_io.read_frames(clip, [0], max_pixels=1536)) == 1
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    for call in (lambda: video_io.probe(clip), lambda: video_io.read_frames(clip), lambda: video_io.header_info(clip)):
        with pytest.raises(VideoLoadError, match=r"over the limit of 1000"):
            call()
    from sa2va_hf.video_processing_sa2va import Sa2VAVideoProcessor

    with pytest.raises(VideoLoadError, match=r"over the limit of 1535"):
        Sa2VAVideoProcessor()(clip, max_image_pixels=1535)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # PIL's way of saying "no limit"
    assert len(video_io.read_frames(clip)) == 3


def test_a_build_refuses_a_video_over_the_limit(data_dir, tmp_path, monkeypatch):
    from sa2va_hf import load_source

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", H * W - 1)
    for source in ("chat_univi", "ref_sav"):
        with pytest.raises(VideoLoadError, match=rf"is {W}x{H} = {H * W} pixels, over the limit"):
            load_source(source, data_dir, cache_dir=str(tmp_path / "cache" / source))


# ------------------------------------------------------------------ what stays readable

CONTAINERS = [  # (FFmpeg muxer, encoder, extension): every extension the processor takes for a video file
    ("mp4", "libx264", "mp4"), ("mov", "libx264", "mov"), ("3gp", "libx264", "3gp"), ("mp4", "libx264", "m4v"),
    ("matroska", "libx264", "mkv"), ("webm", "libvpx", "webm"), ("avi", "mpeg4", "avi"),
    ("mpeg", "mpeg1video", "mpg"), ("mpeg1video", "mpeg1video", "mpeg"), ("flv", "flv", "flv"),
    ("asf", "wmv2", "wmv"), ("mpegts", "libx264", "ts"),
]  # fmt: skip


@pytest.mark.parametrize("size", [(32, 48), (144, 176)])
@pytest.mark.parametrize("muxer, encoder, ext", CONTAINERS)
def test_every_plain_container_the_processor_names_is_read(tmp_path, muxer, encoder, ext, size):
    """The format list, and the decoders' bound on frame sizes, leave genuine files alone (MPEG-4 part 2, WMV and
    FLV decoders allocate 35x a 48x32 frame)."""
    import av

    from sa2va_hf.video_processing_sa2va import VIDEO_EXTENSIONS

    assert f".{ext}" in VIDEO_EXTENSIONS
    path = str(tmp_path / f"clip.{ext}")
    try:
        write_mp4(path, [frame_signature_image(i, *size) for i in range(12)], container_format=muxer, codec=encoder)
    except av.FFmpegError as e:  # pragma: no cover - an FFmpeg build without the encoder
        pytest.skip(f"no {encoder} encoder: {e}")
    assert [frame_signature(f) for f in video_io.read_frames(path, [0, 5, 11])] == [0, 5, 11]
    assert video_io.probe(path)[2:] == size


# ------------------------------------------------------------------ frame size changes, undecodable streams


@pytest.fixture(scope="module")
def resized(tmp_path_factory):
    return hostile_video.resized_mid_stream(str(tmp_path_factory.mktemp("resized") / "resized.mp4"))


def test_a_frame_size_change_mid_stream_is_an_error_when_the_frames_are_read(resized):
    assert video_io.probe(resized) == (6, 6, 32, 48)  # a build checks the header and the first frame only
    assert [frame_signature(f) for f in video_io.read_frames(resized, [0, 2])] == [0, 2]
    message = r"resized\.mp4': frame 3 is 96x64 \(W x H\) but the stream header says 48x32: its frame size changes"
    with pytest.raises(VideoLoadError, match=message):
        video_io.read_frames(resized, [0, 4])
    with pytest.raises(VideoLoadError, match=message):
        video_io.read_frames(resized)
    with pytest.raises(VideoLoadError, match=r"frame size changes mid-stream"):
        video_io.frame_count(resized)
    from sa2va_hf.video_processing_sa2va import Sa2VAVideoProcessor

    with pytest.raises(VideoLoadError, match=message):
        Sa2VAVideoProcessor()({"video": resized}, return_grounding=False)


def test_a_header_that_disagrees_with_the_first_frame_is_refused_at_build_time(tmp_path):
    """In MPEG-TS the header is the last parameter set FFmpeg's probing saw: 96x64 while frame 0 is 48x32."""
    data = hostile_video.raw_h264([np.full((32, 48, 3), 20, np.uint8)] * 3)
    data += hostile_video.raw_h264([np.full((64, 96, 3), 40, np.uint8)] * 3)
    ts = hostile_video.mux_h264(data, str(tmp_path / "resized.ts"), "mpegts")
    with pytest.raises(VideoLoadError, match=r"first frame is 48x32 \(W x H\) but the stream header says 96x64"):
        video_io.probe(ts, record="r")


@pytest.fixture(scope="module")
def unknown_fourcc(tmp_path_factory):
    path = tmp_path_factory.mktemp("fourcc") / "clip.mp4"
    data = open(write_mp4(str(path), [frame_signature_image(i, 32, 48) for i in range(3)]), "rb").read()
    path.write_bytes(data.replace(b"avc1", b"zzzz"))
    return str(path)


def test_an_unknown_codec_is_a_named_error(unknown_fourcc):
    for call in (video_io.probe, video_io.read_frames, video_io.header_info, video_io.frame_count):
        with pytest.raises(VideoLoadError, match=r"clip\.mp4' has a video stream FFmpeg cannot decode.*record 'r'"):
            call(unknown_fourcc, record="r")


def test_an_unknown_codec_fails_a_build_with_a_named_error(data_dir, unknown_fourcc, tmp_path):
    from sa2va_hf import load_source

    _in_every_folder(data_dir, "zzzz.mp4", lambda path: shutil.copyfile(unknown_fourcc, path))
    with pytest.raises(VideoLoadError, match=r"zzzz\.mp4' has a video stream FFmpeg cannot decode.*record '0'"):
        load_source("chat_univi", data_dir, cache_dir=str(tmp_path / "cache"))


# ------------------------------------------------------------------ frame indices


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_mp4(
        str(tmp_path_factory.mktemp("clip") / "clip.mp4"), [frame_signature_image(i, 32, 48) for i in range(5)]
    )


@pytest.mark.parametrize(
    "indices, match",
    [
        ([0, None], r"frame indices must be ints, got None"),
        ([1.7], r"frame indices must be ints, got 1\.7"),
        (["2"], r"frame indices must be ints, got '2'"),
        ([True], r"frame indices must be ints, got True"),
        ([-1], r"frame indices must be >= 0, got -1"),
        (3, r"frame indices must be a list of ints, got int"),
        ("12", r"frame indices must be a list of ints, got str"),
    ],
)
def test_frame_indices_are_ints_not_coerced(clip, indices, match):
    from sa2va_hf.video_processing_sa2va import Sa2VAVideoProcessor

    with pytest.raises(VideoLoadError, match=match):
        video_io.read_frames(clip, indices)
    with pytest.raises(VideoLoadError, match=match + r".*record 'v'"):
        Sa2VAVideoProcessor()({"video": clip, "frame_indices": indices, "id": "v"}, return_grounding=False)


_indices = st.lists(
    st.one_of(st.integers(-2, 7), st.none(), st.floats(-1, 6), st.text(max_size=2), st.booleans(),
              st.integers(-2, 7).map(np.int64)),
    max_size=6,
)  # fmt: skip


@PROPERTY
@given(indices=_indices)
def test_any_frame_indices_give_those_frames_or_a_named_error(clip, indices):
    try:
        frames = video_io.read_frames(clip, indices, record="v")
    except VideoLoadError as e:
        assert "record 'v'" in str(e)
        ints = all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in indices)
        assert not ints or min(indices) < 0 or max(indices) >= 5
        return
    assert [frame_signature(f) for f in frames] == [int(i) for i in indices]


def test_numpy_integer_indices_are_ints(clip):
    frames = video_io.read_frames(clip, np.array([3, 1]))
    assert [frame_signature(f) for f in frames] == [3, 1]
    assert isinstance(VideoLoadError("x"), Sa2VAError)
