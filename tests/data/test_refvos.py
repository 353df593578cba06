"""ReVOS, MeViS, Ref-YouTube-VOS: native splits, frame order, per-frame masks, the pickle's running counter."""

import json
import os
import pickle

import numpy as np
import pytest

from sa2va_hf import load_source
from sa2va_hf.errors import (
    AnnotationError,
    ImageLoadError,
    MaskFormatError,
    Sa2VAError,
    ShapeMismatchError,
    UnsafePathError,
    UnsafePickleError,
)

from ..fakedata import refvos as fake_refvos
from ..fakedata._common import compressed_rle, write_image
from ..fakedata.check import check_against, raw_frames
from .source_case import NumProcCheck, SourceTestCase


def frame_paths(ds, i):
    return [f["path"] for f in raw_frames(ds)[i]]


class TestReVOS(NumProcCheck, SourceTestCase):
    SOURCE = "revos"
    inject_fake_data = staticmethod(fake_refvos.write)

    def test_video_keys_hold_slashes_and_frames_are_sorted(self, fake):
        assert fake.built["train"][0]["id"] == "UVO/all/-fbscFfkh4M"
        folder = os.path.join(fake.data, "video_datas", "revos", "UVO", "all", "-fbscFfkh4M")
        assert frame_paths(fake.built["train"], 0) == [
            os.path.join(folder, f"{n}.jpg") for n in ("00000", "00005", "00010")
        ]

    def test_expression_ids_in_string_order_and_one_region_per_anno_id(self, fake):
        rec = fake.built["train"][0]
        assert [t["text"] for t in rec["texts"]] == ["the man in red.", "Which two things move?", "a dog", "the ball"]
        assert [r["id"] for r in rec["regions"]] == ["11", "12", "13"]
        assert [t["region_ids"] for t in rec["texts"]] == [[0], [0, 1], [2], [1]]
        assert [m is None for m in rec["regions"][0]["masks"]] == [False, True, False]
        assert fake.built["train"][1]["regions"][0]["masks"] == [None, None]

    def test_valid_reads_the_same_mask_dict(self, fake):
        (rec,) = fake.built["valid"]
        assert [r["id"] for r in rec["regions"]] == ["31"] and rec["regions"][0]["masks"][1] is None

    def test_a_split_whose_files_are_absent_is_named(self, tmp_path):
        """The Sa2VA download holds only the train files of the video sources: asking for valid says so."""
        info = fake_refvos.write(str(tmp_path / "data"), "revos")
        os.remove(info["expressions"]["valid"])
        built = load_source("revos", tmp_path / "data", cache_dir=str(tmp_path / "cache"))
        assert list(built) == ["train"]
        with pytest.raises(Sa2VAError, match=r"split 'valid' of 'revos' was not built: its files are not in data_dir \(built: train\)"):
            load_source("revos", tmp_path / "data", split="valid", cache_dir=str(tmp_path / "cache"))


class TestMeViS(SourceTestCase):
    SOURCE = "mevis"
    inject_fake_data = staticmethod(fake_refvos.write)

    def test_valid_keeps_its_expressions_without_masks(self, fake):
        (rec,) = fake.built["valid"]
        assert rec["regions"] == [] and [t["region_ids"] for t in rec["texts"]] == [[], []]
        assert len(rec["frames"]) == 2


class TestRefYouTubeVOS(SourceTestCase):
    SOURCE = "ref_youtube_vos"
    inject_fake_data = staticmethod(fake_refvos.write)

    def test_pickle_keys_follow_the_running_counter_worked_out_by_hand(self, fake):
        """Each expression's region is the pkl entry YTVOS_KEYS names: videos in JSON order, exp ids as strings."""
        got = {}
        for rec in fake.built["train"]:
            for t in rec["texts"]:
                (region,) = t["region_ids"]
                got[(rec["id"], t["text"].rsplit(" ", 1)[1])] = rec["regions"][region]["id"]
        assert got == fake_refvos.YTVOS_KEYS
        assert [r["id"] for r in fake.built["train"]] == ["b4cd3f1a2e", "0a1b2c3d4e"]  # JSON order, not sorted
        exp_ids = [t["text"].rsplit(" ", 1)[1] for t in fake.built["train"][0]["texts"]]
        assert exp_ids == ["0", "1", "10", "11", "2", "3", "4", "5", "6", "7", "8", "9"]

    def test_valid_without_obj_id_keeps_its_expressions(self, fake):
        (rec,) = fake.built["valid"]
        assert rec["regions"] == [] and len(rec["texts"]) == 11
        assert [t["text"] for t in rec["texts"]][:4] == [f"valid expression {i}" for i in ("0", "1", "10", "2")]


# ------------------------------------------------------------------ bad input


def _build(tmp_path, source, **kwargs):
    return load_source(source, tmp_path / "data", cache_dir=str(tmp_path / "cache"), **kwargs)


def _rewrite_json(path, edit):
    with open(path) as f:
        data = json.load(f)
    edit(data)
    with open(path, "w") as f:
        json.dump(data, f)


@pytest.fixture
def revos(tmp_path):
    return fake_refvos.write(str(tmp_path / "data"), "revos")


def test_missing_frame_names_file_and_video(tmp_path, revos):
    os.remove(revos["expected"]["train"][0]["frames"][1])
    with pytest.raises(ImageLoadError, match=r"00005\.jpg' does not exist.*meta_expressions_train_\.json.*UVO/all/"):
        _build(tmp_path, "revos")


def test_frames_of_two_sizes_in_one_video(tmp_path, revos):
    path = revos["expected"]["train"][0]["frames"][2]
    write_image(path, 20, 32)
    with pytest.raises(ShapeMismatchError, match=r"24x32 .* is 20x32.*record 'UVO/all/-fbscFfkh4M'"):
        _build(tmp_path, "revos")


def test_annotation_size_disagreeing_with_frames(tmp_path, revos):
    _rewrite_json(revos["expressions"]["train"], lambda d: d["videos"]["UVO/all/-fbscFfkh4M"].update(height=25))
    with pytest.raises(ShapeMismatchError, match=r"says the image is 25x32.*record 'UVO/all/-fbscFfkh4M'"):
        _build(tmp_path, "revos")


@pytest.mark.parametrize("change, n", [(lambda m: m.append(None), 4), (lambda m: m.pop(), 2)])
def test_mask_list_longer_or_shorter_than_the_frames(tmp_path, revos, change, n):
    _rewrite_json(revos["mask_dict"], lambda d: change(d["13"]))
    with pytest.raises(
        AnnotationError, match=rf"has {n} entries for 3 frames.*mask_dict\.json.*record 'UVO/all/-fbscFfkh4M, anno 13'"
    ):
        _build(tmp_path, "revos")


def test_rle_of_another_size_than_the_frames(tmp_path, revos):
    _rewrite_json(revos["mask_dict"], lambda d: d["12"].__setitem__(1, compressed_rle(np.ones((24, 31), np.uint8))))
    with pytest.raises(ShapeMismatchError, match=r"RLE size \[24, 31\].*\[24, 32\].*mask_dict\.json.*anno 12, frame 1"):
        _build(tmp_path, "revos")


def test_corrupt_rle_names_the_frame(tmp_path, revos):
    _rewrite_json(revos["mask_dict"], lambda d: d["11"][0].update(counts="0000"))
    with pytest.raises(MaskFormatError, match=r"mask_dict\.json.*anno 11, frame 0"):
        _build(tmp_path, "revos")


def test_anno_id_missing_from_mask_dict(tmp_path, revos):
    _rewrite_json(revos["mask_dict"], lambda d: d.pop("12"))
    with pytest.raises(
        AnnotationError, match=r"anno_id 12 of expression 1 is not a key of .*mask_dict\.json.*UVO/all/"
    ):
        _build(tmp_path, "revos")


def test_mask_dict_with_a_repeated_key(tmp_path, revos):
    with open(revos["mask_dict"], "rb+") as f:
        text = f.read()
        f.seek(0)
        f.write(b'{"13": null, ' + text[1:])
    with pytest.raises(AnnotationError, match=r"key '13' appears twice.*mask_dict\.json"):
        _build(tmp_path, "revos")


@pytest.mark.parametrize("where", ["video", "frame"])
def test_paths_climbing_out_of_data_dir_are_refused(tmp_path, revos, where):
    def edit(d):
        videos = d["videos"]
        if where == "video":
            videos["../../../etc"] = videos.pop("MOSE/abc123")
        else:
            videos["MOSE/abc123"]["frames"][0] = "../../../../../../etc/passwd"

    _rewrite_json(revos["expressions"]["train"], edit)
    with pytest.raises(UnsafePathError, match=r"climbs out.*meta_expressions_train_\.json"):
        _build(tmp_path, "revos")


def test_only_the_splits_whose_files_exist_are_built(tmp_path, revos):
    os.remove(revos["expressions"]["valid"])
    built = _build(tmp_path, "revos")
    assert list(built) == ["train"]
    check_against(built["train"], revos["expected"]["train"], "revos")


def test_a_split_with_masks_needs_its_mask_file(tmp_path):
    info = fake_refvos.write(str(tmp_path / "data"), "mevis")
    os.remove(info["mask_dict"])
    with pytest.raises(AnnotationError, match=r"mevis train mask file not found.*train/mask_dict\.json"):
        _build(tmp_path, "mevis")


def test_unsafe_pickle_is_refused(tmp_path):
    info = fake_refvos.write(str(tmp_path / "data"), "ref_youtube_vos")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(info["mask_dict"], "wb") as f:
        pickle.dump({"0": Evil()}, f)
    with pytest.raises(UnsafePickleError, match=r"mask_dict\.pkl"):
        _build(tmp_path, "ref_youtube_vos")


def test_pickle_missing_a_counter_key(tmp_path):
    info = fake_refvos.write(str(tmp_path / "data"), "ref_youtube_vos")
    pkl = dict(info["pkl"])
    del pkl["13"]
    with open(info["mask_dict"], "wb") as f:
        pickle.dump(pkl, f, protocol=2)  # protocol 2: bytes go through the unpickler's latin-1 path
    with pytest.raises(
        AnnotationError, match=r"key .13. \(the running counter\) is not in .*mask_dict\.pkl.*0a1b2c3d4e, anno 13"
    ):
        _build(tmp_path, "ref_youtube_vos")
