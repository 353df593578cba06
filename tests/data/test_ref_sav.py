"""Ref-SAV: an mp4 per record (decoded lazily), masklet columns by object key, both JSON names and layouts."""

import json
import os

import numpy as np
import pytest

from sa2va_hf import load_source, video_io
from sa2va_hf.errors import AnnotationError, ShapeMismatchError, UnsafePathError, VideoLoadError

from ..fakedata import ref_sav as fake_ref_sav
from ..fakedata._common import frame_signature_image, write_mp4
from ..fakedata.check import check_against
from .source_case import NumProcCheck, SourceTestCase


class TestRefSAV(NumProcCheck, SourceTestCase):
    SOURCE = "ref_sav"
    inject_fake_data = staticmethod(fake_ref_sav.write)

    def test_objects_keep_the_json_order_and_index_masklet_columns(self, fake):
        rec = fake.built["train"][0]
        assert [r["id"] for r in rec["regions"]] == ["2", "0"]
        assert rec["frame_indices"] == [0, 4, 8] and rec["frames"] == []

    def test_an_invisible_object_is_an_empty_rle_not_null(self, fake):
        rle = fake.built["train"][0]["regions"][0]["masks"][1]  # object 2, annotated frame 1: empty in the fixture
        assert rle is not None and rle["size"] == [fake_ref_sav.H, fake_ref_sav.W]

    def test_both_folder_layouts_are_found(self, fake):
        paths = [rec["video"]["path"] for rec in fake.built["train"]]
        sav = os.path.join(fake.data, "video_datas", "sam_v_full")
        assert paths == [
            os.path.join(sav, "sav_000", "sav_train", "sav_000", "sav_000002.mp4"),  # v1: as the JSON says
            os.path.join(sav, "sav_train", "sav_000", "sav_000001.mp4"),  # v2: sam2_path_patch's layout
        ]


# ------------------------------------------------------------------ JSON names, headers, bad input


def _build(tmp_path):
    return load_source("ref_sav", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


@pytest.fixture
def sav(tmp_path):
    return fake_ref_sav.write(str(tmp_path / "data"))


def _rewrite_json(path, edit):
    with open(path) as f:
        data = json.load(f)
    edit(data)
    with open(path, "w") as f:
        json.dump(data, f)


def test_v1_json_name_builds_the_same(tmp_path):
    info = fake_ref_sav.write(str(tmp_path / "data"), json_name="sam_v_final_v3.json")
    assert not os.path.exists(tmp_path / "data" / "video_datas" / "Ref-SAV.json")
    check_against(_build(tmp_path)["train"], info["expected"]["train"], "ref_sav")


def test_a_video_whose_header_states_no_frame_count_is_counted_from_its_packets(tmp_path, sav, monkeypatch):
    """Matroska states no frame count: its packets are counted (one per frame), nothing decoded past the first."""
    mp4 = sav["files"]["sav_000001"]["mp4"]
    frames = [frame_signature_image(i, fake_ref_sav.H, fake_ref_sav.W) for i in range(9)]
    os.remove(mp4)
    _write_video(mp4, frames, "matroska")
    assert video_io.header_info(mp4)[0] is None
    monkeypatch.setattr(video_io, "frame_count", lambda *a, **k: pytest.fail("a build decodes no whole video"))
    check_against(_build(tmp_path)["train"], sav["expected"]["train"], "ref_sav")
    _write_video(mp4, frames[:8], "matroska")
    with pytest.raises(VideoLoadError, match=r"sav_000001\.mp4' has 8 frame\(s\) but its masklet needs 9"):
        load_source("ref_sav", tmp_path / "data", cache_dir=str(tmp_path / "cache2"))


@pytest.mark.parametrize("kept", [0.99, 0.5, 0.08])
def test_mp4_cut_short_is_found_at_build_time(tmp_path, sav, caplog, kept):
    """The header still states every frame (moov first), the file lacks the later ones: a download cut
    short. Its whole packets are the frames used (a packet cut by the end of the file is not one), logged;
    too few for the masklet (9 frames) is an error at build time, not mid-training."""
    mp4 = sav["files"]["sav_000001"]["mp4"]
    noise = np.random.default_rng(0).integers(0, 256, (48, fake_ref_sav.H, fake_ref_sav.W, 3), dtype=np.uint8)
    _write_video(mp4, list(noise), "mp4", options={"movflags": "faststart"})  # noise: the frames dwarf the header
    data = open(mp4, "rb").read()
    with open(mp4, "wb") as f:
        f.write(data[: int(len(data) * kept)])
    stated, packets, _, _ = video_io.probe(mp4)
    assert stated == 48 and packets < 48
    video_io.read_frames(mp4, range(packets))  # every counted packet decodes
    if packets >= 9:
        with caplog.at_level("WARNING"):
            _build(tmp_path)
        assert f"states 48 frames but holds {packets} whole packets" in caplog.text and "sav_000001.mp4" in caplog.text
    else:
        with pytest.raises(VideoLoadError, match=rf"sav_000001\.mp4' has {packets} frame\(s\) but its masklet needs 9"):
            _build(tmp_path)


def test_mp4_whose_stream_is_not_video_data_is_found_at_build_time(tmp_path, sav):
    mp4 = sav["files"]["sav_000001"]["mp4"]
    frames = [frame_signature_image(i, fake_ref_sav.H, fake_ref_sav.W) for i in range(9)]
    _write_video(mp4, frames, "mp4", options={"movflags": "faststart"})
    data = bytearray(open(mp4, "rb").read())
    start = data.index(b"mdat") + 4
    data[start:] = bytes(len(data) - start)  # the frames' bytes zeroed, headers intact
    with open(mp4, "wb") as f:
        f.write(bytes(data))
    with pytest.raises(
        VideoLoadError, match=r"sav_000001\.mp4' (has no decodable frame|cannot be decoded).*sav_000001"
    ):
        _build(tmp_path)


def _write_video(path, frames, fmt, options=None):
    import av

    with av.open(path, "w", format=fmt, options=options or {}) as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def test_object_key_beyond_masklet_num(tmp_path, sav):
    def edit(d):
        d["sav_000001"]["objects"]["2"] = dict(d["sav_000001"]["objects"]["1"], obj_id=2)

    _rewrite_json(sav["json"], edit)
    with pytest.raises(
        AnnotationError, match=r"object key '2' .* masklet_num = 2.*Ref-SAV\.json.*sav_000001, object 2"
    ):
        _build(tmp_path)


def test_object_key_that_is_not_a_number(tmp_path, sav):
    _rewrite_json(sav["json"], lambda d: d["sav_000001"]["objects"].update(first=d["sav_000001"]["objects"]["1"]))
    with pytest.raises(AnnotationError, match=r"object key 'first' is not an integer.*sav_000001, object first"):
        _build(tmp_path)


def test_mp4_too_short_for_its_masklet(tmp_path, sav):
    write_mp4(sav["files"]["sav_000001"]["mp4"], [frame_signature_image(i, 32, 48) for i in range(8)])
    with pytest.raises(
        VideoLoadError, match=r"sav_000001\.mp4' has 8 frame\(s\) but its masklet needs 9.*'sav_000001'"
    ):
        _build(tmp_path)


def test_mp4_that_cannot_be_decoded(tmp_path, sav):
    with open(sav["files"]["sav_000002"]["mp4"], "wb") as f:
        f.write(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    with pytest.raises(VideoLoadError, match=r"sav_000002\.mp4' cannot be opened.*Ref-SAV\.json.*'sav_000002'"):
        _build(tmp_path)


def test_mp4_of_another_size_than_the_masks(tmp_path, sav):
    write_mp4(sav["files"]["sav_000001"]["mp4"], [frame_signature_image(i, 32, 64) for i in range(9)])
    with pytest.raises(ShapeMismatchError, match=r"frames of 32x64 .* masks are 32x48.*'sav_000001'"):
        _build(tmp_path)


def test_missing_mp4_names_both_layouts(tmp_path, sav):
    os.remove(sav["files"]["sav_000001"]["mp4"])
    with pytest.raises(
        VideoLoadError, match=r"'sav_000/sav_train/sav_000/sav_000001\.mp4' not found; looked for .*sav_train"
    ):
        _build(tmp_path)


def test_masklet_frame_with_too_few_objects(tmp_path, sav):
    _rewrite_json(sav["files"]["sav_000002"]["manual"], lambda d: d["masklet"][2].pop())
    with pytest.raises(
        AnnotationError, match=r"masklet frame 2 must list masklet_num = 3 objects, got 2.*_manual\.json"
    ):
        _build(tmp_path)


@pytest.mark.parametrize("key", ["video_path", "anno_path"])
def test_paths_climbing_out_of_data_dir_are_refused(tmp_path, sav, key):
    _rewrite_json(sav["json"], lambda d: d["sav_000002"].update({key: "../../../../etc/passwd"}))
    with pytest.raises(UnsafePathError, match=r"climbs out.*Ref-SAV\.json.*'sav_000002'"):
        _build(tmp_path)
