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
