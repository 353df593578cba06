"""Chat-UniVi video QA: one record per entry, the video kept (every frame indexed), the mkv -> mp4 fallback."""

import json
import os

import numpy as np
import pytest

from sa2va_hf import load_source, video_io
from sa2va_hf.data import get_builder
from sa2va_hf.data.schema import record_frames
from sa2va_hf.errors import AnnotationError, Sa2VAError, UnsafePathError, VideoLoadError

from ..fakedata import chat_univi as fake_chat_univi
from ..fakedata._common import frame_signature
from .source_case import NumProcCheck, SourceTestCase


class TestChatUniVi(NumProcCheck, SourceTestCase):
    SOURCE = "chat_univi"
    inject_fake_data = staticmethod(fake_chat_univi.write)

    def test_frame_indices_are_every_frame_and_frames_are_not_stored(self, fake):
        ds = fake.built["train"]
        assert [len(r["frame_indices"]) for r in ds] == [6, 3, 6, 5]
        assert all(r["frames"] == [] and r["regions"] == [] and r["texts"] == [] for r in ds)

    def test_the_mkv_name_falls_back_to_the_mp4(self, fake):
        rec = fake.built["train"][1]
        assert fake.info["entries"][1]["video"] == "v_beta.mkv"
        assert rec["video"]["path"].endswith(os.path.join("Activity_Videos", "v_beta.mp4"))

    def test_upstreams_five_segment_sampling_can_read_the_record(self, fake):
        """The transform samples 5 frames, one in each of 5 equal segments of the record's frames."""
        rec = fake.built["train"][0]
        n = len(rec["frame_indices"])
        bounds = np.linspace(0, n, num=6, dtype=int)
        picks = [int(np.random.default_rng(0).integers(bounds[i], bounds[i + 1])) for i in range(5)]
        assert [frame_signature(f) for f in record_frames(rec, picks)] == [rec["frame_indices"][k] for k in picks]


# ------------------------------------------------------------------ counting, bad input


def _build(tmp_path, **options):
    return load_source("chat_univi", tmp_path / "data", cache_dir=str(tmp_path / "cache"), **options)


@pytest.fixture
def univi(tmp_path):
    return fake_chat_univi.write(str(tmp_path / "data"))


def _rewrite(info, edit):
    entries = json.loads(open(info["json"]).read())
    edit(entries)
    with open(info["json"], "w") as f:
        json.dump(entries, f)


def test_every_video_is_probed_once_and_none_decoded_whole(tmp_path, univi, monkeypatch):
    assert video_io.header_info(univi["files"]["v_gamma.mkv"])[0] is None  # Matroska states no count: packets do
    probed = []
    real_probe = video_io.probe
    monkeypatch.setattr(video_io, "frame_count", lambda *a, **k: pytest.fail("a build decodes no whole video"))
    monkeypatch.setattr(
        video_io, "probe", lambda path, **k: probed.append(os.path.basename(path)) or real_probe(path, **k)
    )
    ds = _build(tmp_path)["train"]
    assert sorted(probed) == ["v_alpha.mp4", "v_beta.mp4", "v_gamma.mkv"]  # v_alpha once for its two entries
    assert ds[3]["frame_indices"] == [0, 1, 2, 3, 4]


def test_a_missing_video_is_an_error_naming_both_paths_tried(tmp_path, univi):
    os.remove(univi["files"]["v_beta.mp4"])
    with pytest.raises(
        VideoLoadError,
        match=r"video 'v_beta\.mkv' not found; looked for .*v_beta\.mkv.*v_beta\.mp4.*video_chat\.json.*record '1'",
    ):
        _build(tmp_path)


def test_missing_videos_skip_counts_and_reports(tmp_path, univi, caplog):
    os.remove(univi["files"]["v_alpha.mp4"])
    b = get_builder("chat_univi", tmp_path / "data", cache_dir=str(tmp_path / "c"), missing_videos="skip")
    with caplog.at_level("WARNING"):
        b.download_and_prepare()
    assert b.as_dataset("train")["id"] == ["1", "3"]
    assert "2 entries left out, their video is missing" in caplog.text
    assert b.filter_report == {"entries in file": 4, "entries dropped: video missing": 2}


def test_an_undecodable_video_is_an_error_even_when_skipping(tmp_path, univi):
    with open(univi["files"]["v_beta.mp4"], "wb") as f:
        f.write(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    with pytest.raises(VideoLoadError, match=r"v_beta\.mp4' cannot be opened.*video_chat\.json.*record '1'"):
        _build(tmp_path, missing_videos="skip")


def test_a_video_without_frames_is_an_error(tmp_path, univi):
    import av

    with av.open(univi["files"]["v_gamma.mkv"], "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        container.start_encoding()  # a header, and not one frame
    with pytest.raises(VideoLoadError, match=r"v_gamma\.mkv' .*(no decodable frame|cannot be)"):
        _build(tmp_path)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda e: e[2].pop("conversations"), r"missing key 'conversations'.*video_chat\.json.*record '2'"),
        (lambda e: e[2].update(conversations=[]), r"no conversation turns.*record '2'"),
        (lambda e: e[0]["conversations"][1].pop("value"), r"missing key 'value'.*record '0'"),
        (lambda e: e[3].pop("video"), r"missing key 'video'.*record '3'"),
        (lambda e: e[3].update(video=["a.mp4"]), r"'video' must be str, got list.*record '3'"),
    ],
)
def test_malformed_entries_are_named(tmp_path, univi, edit, match):
    _rewrite(univi, edit)
    with pytest.raises(AnnotationError, match=match):
        _build(tmp_path)


def test_a_video_path_climbing_out_is_refused(tmp_path, univi):
    _rewrite(univi, lambda e: e[0].update(video="../../../../etc/passwd.mp4"))
    with pytest.raises(UnsafePathError, match=r"climbs out.*video_chat\.json.*record '0'"):
        _build(tmp_path)


def test_missing_videos_policy_is_checked(tmp_path):
    with pytest.raises(Sa2VAError, match="missing_videos must be one of"):
        load_source("chat_univi", tmp_path, missing_videos="ignore")
