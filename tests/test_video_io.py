"""video_io: frames decoded lazily from an mp4, in the order asked, with named errors."""

import numpy as np
import pytest

from sa2va_hf import video_io
from sa2va_hf.data.schema import make_record, record_frames
from sa2va_hf.errors import Sa2VAError, VideoLoadError

from .fakedata._common import frame_signature, frame_signature_image, write_mp4


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    return write_mp4(str(path), [frame_signature_image(i, 48, 64) for i in range(10)])


def test_frames_come_in_the_order_asked(mp4):
    frames = video_io.read_frames(mp4, [7, 0, 3])
    assert [frame_signature(f) for f in frames] == [7, 0, 3]
    assert all(f.mode == "RGB" and f.size == (64, 48) for f in frames)


def test_every_frame_and_the_count(mp4):
    assert [frame_signature(f) for f in video_io.read_frames(mp4)] == list(range(10))
    assert video_io.frame_count(mp4) == 10


def test_bytes_and_record_entries_read_the_same(mp4):
    data = open(mp4, "rb").read()
    a = video_io.read_frames({"bytes": data, "path": "clip.mp4"}, [2])[0]
    b = video_io.read_frames(mp4, [2])[0]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_frame_past_the_end_names_the_video(mp4):
    with pytest.raises(
        VideoLoadError, match=r"clip\.mp4' has 10 decodable frame\(s\) but frame 12 is needed.*record 'r'"
    ):
        video_io.read_frames(mp4, [1, 12], record="r")


@pytest.mark.parametrize("content", [b"", b"not a video at all" * 10])
def test_an_undecodable_file_is_a_named_error(tmp_path, content):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(VideoLoadError, match=r"bad\.mp4") as e:
        video_io.read_frames(str(bad), [0])
    assert isinstance(e.value, Sa2VAError) and isinstance(e.value, ValueError)


def test_a_missing_file_is_a_named_error(tmp_path):
    with pytest.raises(VideoLoadError, match=r"nope\.mp4' does not exist"):
        video_io.read_frames(str(tmp_path / "nope.mp4"), [0])


def test_record_frames_decodes_only_the_record_frames(mp4):
    rec = make_record(id="v", source="s", video=mp4, frame_indices=[1, 4, 9], height=48, width=64)
    assert [frame_signature(f) for f in record_frames(rec)] == [1, 4, 9]
    assert [frame_signature(f) for f in record_frames(rec, [2, 0])] == [9, 1]


def test_header_info_reads_count_and_size_without_decoding(mp4, monkeypatch):
    import av

    def no_decode(*a, **k):
        raise AssertionError("header_info decoded a frame")

    monkeypatch.setattr(av.container.InputContainer, "decode", no_decode)
    assert video_io.header_info(mp4) == (10, 48, 64)


def test_frame_count_can_stop_early(mp4):
    assert video_io.frame_count(mp4, stop_at=4) == 4
    assert video_io.frame_count(mp4, stop_at=50) == 10


def test_header_info_of_a_broken_file_is_a_named_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video" * 20)
    with pytest.raises(VideoLoadError, match=r"bad\.mp4' cannot be opened.*record 'v'"):
        video_io.header_info(str(bad), record="v")


# ------------------------------------------------------------------ decoding only what the frames asked for need


def write_h264(path, n, *, keyint, bframes=3, size=(64, 48), container_format="mp4", codec="libx264"):
    """``n`` frames of a moving texture, H.264 with B-frames (``b-pyramid``: some referenced, some not) and an
    IDR every ``keyint`` frames -- the layout of most mp4 files, small."""
    import av

    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=24)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "medium", "crf": "18", "x264-params": (
                f"bframes={bframes}:b-pyramid=normal:keyint={keyint}:min-keyint={keyint}:scenecut=0:ref=3")}  # fmt: skip
        for i in range(n):
            frame = np.stack([(x * 4 + i * 3) % 256, (y * 5 + i * 7) % 256, (x * y + i * 11) % 256], -1)
            frame = frame.astype(np.uint8)
            frame[: h // 2, : w // 2] = 8 + 4 * i  # its index, as a grey level
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def planned_reads(monkeypatch):
    """Whether each read_frames call decoded only what it needed (True) or every frame (False)."""
    seen = []
    real = video_io._read_planned

    def spy(*args):
        frames = real(*args)
        seen.append(frames is not None)
        return frames

    monkeypatch.setattr(video_io, "_read_planned", spy)
    return seen


@pytest.fixture(scope="module")
def gops(tmp_path_factory):
    return write_h264(tmp_path_factory.mktemp("gops") / "gops.mp4", 60, keyint=12)


def test_only_what_the_frames_need_is_decoded_and_the_frames_are_the_same(gops, monkeypatch):
    every = [np.asarray(f) for f in video_io.read_frames(gops)]  # decoding every frame from the start
    assert len(every) == 60
    assert [round((np.asarray(f)[:24, :32].mean() - 8) / 4) for f in every] == list(range(60))  # in order
    seen = planned_reads(monkeypatch)
    rng = np.random.default_rng(0)
    cases = [[0], [59], [11, 12], [13, 12, 11], [5, 5, 40], list(range(60)), [58, 1, 30, 31, 47]]
    cases += [sorted(rng.choice(60, 5, replace=False).tolist()) for _ in range(10)]
    for wanted in cases:
        got = video_io.read_frames(gops, wanted)
        for i, frame in zip(wanted, got):
            np.testing.assert_array_equal(np.asarray(frame), every[i], err_msg=f"frame {i} of {wanted}")
    assert all(seen) and len(seen) == len(cases)


@pytest.mark.parametrize("threads", [2, 3])
def test_decoding_threads_give_the_same_frames(gops, tmp_path, monkeypatch, threads):
    """More than one thread decodes frames side by side (frame threads): the same frames, planned or whole."""
    mpeg4 = write_mp4(str(tmp_path / "m.mp4"), [frame_signature_image(i, 48, 64) for i in range(9)], codec="mpeg4")
    for path, cases in ((gops, [[0], [59], [13, 12, 11], [58, 1, 30, 31, 47], list(range(60))]), (mpeg4, [[8, 2]])):
        every = [np.asarray(f) for f in video_io.read_frames(path, threads=1)]
        np.testing.assert_array_equal(np.stack([np.asarray(f) for f in video_io.read_frames(path, threads=threads)]),
                                      np.stack(every))  # fmt: skip
        seen = planned_reads(monkeypatch)
        for wanted in cases:
            got = video_io.read_frames(path, wanted, threads=threads)
            for i, frame in zip(wanted, got):
                np.testing.assert_array_equal(np.asarray(frame), every[i], err_msg=f"frame {i} of {wanted}")
        assert seen == [path == gops] * len(cases)  # the planned read holds with frame threads
        monkeypatch.undo()


def test_the_plan_starts_at_the_idr_before_each_frame(gops):
    import av

    with av.open(gops) as container:
        plan = video_io._decode_plan(container, [3, 30, 31, 59])
    # an IDR every 12 frames: packets 0, 12, 24, 36, 48 (decoding order); each span ends at its frame's packet
    assert [first for first, _ in plan.spans] == [0, 24, 48]
    assert sorted(plan.targets.values()) == [3, 30, 31, 59]
    assert all(last - first < 12 for first, last in plan.spans)


def test_frames_nothing_refers_to_are_skipped(gops):
    """The stream has frames no other frame refers to (so skipping them matters), and with them skipped the
    frames asked for are still the same (the test above); a frame that is asked for is never skipped."""
    import av

    with av.open(gops) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        decoded = sum(1 for _ in container.decode(stream))
    assert 20 < decoded < 60


@pytest.mark.parametrize(
    "kind", ["mpeg4", "annex_b", "no_idr_first"],
)
def test_streams_that_do_not_qualify_are_decoded_whole(tmp_path, monkeypatch, kind):
    if kind == "mpeg4":
        path = write_mp4(str(tmp_path / "m.mp4"), [frame_signature_image(i, 48, 64) for i in range(9)], codec="mpeg4")
    elif kind == "annex_b":  # MPEG-TS: start codes, no avcC
        path = write_h264(tmp_path / "t.ts", 30, keyint=10, container_format="mpegts")
    else:
        path = write_h264(tmp_path / "g.mp4", 30, keyint=10)
    every = [np.asarray(f) for f in video_io.read_frames(path)]
    seen = planned_reads(monkeypatch)
    if kind == "no_idr_first":  # a stream cut so that it opens on something else than an IDR
        monkeypatch.setattr(video_io, "_H264_IDR", 99)
    got = video_io.read_frames(path, [8, 2])
    np.testing.assert_array_equal(np.asarray(got[0]), every[8])
    np.testing.assert_array_equal(np.asarray(got[1]), every[2])
    assert seen == [False]


def test_a_frame_past_the_end_of_a_planned_stream_is_named(gops):
    with pytest.raises(VideoLoadError, match=r"gops\.mp4' has 60 decodable frame\(s\) but frame 60 is needed"):
        video_io.read_frames(gops, [3, 60])
