"""mp4 display matrices: frames turned as upstream's decoders turn them, a mirror refused.

Expected frames are the stored frames turned by ``np.rot90``: what OpenCV 5.0.0's ``cv2.VideoCapture``
(upstream's Ref-SAV decoder) gave for these matrices, checked by hand on this machine (identical on every
frame, also for the real ``coffee.mp4`` with a 90° matrix); decord 0.6.0 gives the same for 180°.
"""

import numpy as np
import pytest

from sa2va_hf import video_io
from sa2va_hf.data.schema import make_record, record_frames
from sa2va_hf.errors import VideoLoadError

from .fakedata._common import write_mp4
from .fakedata.exif import display_matrix, with_display_matrix


def frames(n: int = 4, h: int = 48, w: int = 64) -> list[np.ndarray]:
    out = []
    for i in range(n):
        f = np.zeros((h, w, 3), np.uint8)
        f[: h // 2, : w // 3] = (250, 30, 30)  # a corner block: any turn or mirror moves it
        f[h // 2 :, w // 3 :] = (30, 250, 30)
        f[..., 2] = 40 * i
        out.append(f)
    return out


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("rotation") / "stored.mp4")
    write_mp4(path, frames())
    with open(path, "rb") as f:
        data = f.read()
    return path, data, [np.asarray(im) for im in video_io.read_frames(path)]


def _matrixed(tmp_path, data: bytes, matrix) -> str:
    path = tmp_path / "turned.mp4"
    path.write_bytes(with_display_matrix(data, matrix))
    return str(path)


@pytest.mark.parametrize(("clockwise", "quarter_turns"), [(90, 3), (-90, 1), (180, 2), (0, 0)])
def test_frames_are_turned_as_opencv_turns_them(stored, tmp_path, clockwise, quarter_turns):
    _, data, plain = stored
    path = _matrixed(tmp_path, data, display_matrix(clockwise))
    turned = [np.asarray(im) for im in video_io.read_frames(path)]
    assert all(np.array_equal(t, np.rot90(p, quarter_turns)) for t, p in zip(turned, plain))
    h, w = turned[0].shape[:2]
    assert video_io.probe(path)[2:] == (h, w)  # the build checks masks against the frames' size
    rec = make_record(id="v", source="s", video=path, frame_indices=[1, 3], height=h, width=w)
    assert [np.asarray(f).shape[:2] for f in record_frames(rec)] == [(h, w)] * 2
    bytes_entry = video_io.read_frames(
        {"bytes": with_display_matrix(data, display_matrix(clockwise)), "path": "x.mp4"}, [2]
    )
    assert np.array_equal(np.asarray(bytes_entry[0]), turned[2])


@pytest.mark.parametrize("clockwise", [0, 90])
def test_a_mirroring_display_matrix_is_refused_by_name(stored, tmp_path, clockwise):
    _, data, _ = stored
    path = _matrixed(tmp_path, data, display_matrix(clockwise, hflip=True))
    with pytest.raises(VideoLoadError, match=r"turned\.mp4' has a display matrix that mirrors.*record 'r'"):
        video_io.read_frames(path, [0], record="r")
    with pytest.raises(VideoLoadError, match="mirrors"):
        video_io.probe(path)


def test_a_turn_by_another_angle_is_refused_by_name(stored, tmp_path):
    _, data, _ = stored
    path = _matrixed(tmp_path, data, display_matrix(30))
    with pytest.raises(VideoLoadError, match=r"turns the picture by 330°, not a multiple of 90°"):
        video_io.read_frames(path, [0])
