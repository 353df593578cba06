"""Osprey-724K: the five JSON files, image search order, and bad entries."""

import json
import os

import pytest

from sa2va_hf import load_source
from sa2va_hf.errors import AnnotationError, ImageLoadError, ShapeMismatchError, UnsafePathError

from ..fakedata import osprey as fake_osprey
from ..fakedata.check import raw_frames
from .source_case import NumProcCheck, SourceTestCase


def _write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)


class TestOspreyConversation(SourceTestCase):
    SOURCE = "osprey_conversation"
    inject_fake_data = staticmethod(fake_osprey.write)

    def test_image_search_order(self, fake):
        paths = [f[0]["path"] for f in raw_frames(fake.built["train"])]
        root = fake.info["root"]
        assert paths[0] == os.path.join(root, "coco", "train2014", "COCO_train2014_000000000001.jpg")  # not train2017
        assert paths[1] == os.path.join(root, "coco", "val2017", "000000000002.jpg")
        assert paths[3] == os.path.join(root, "raw_only.jpg")


class TestOspreyDetailDescription(NumProcCheck, SourceTestCase):
    SOURCE = "osprey_detail_description"
    inject_fake_data = staticmethod(fake_osprey.write)


class TestOspreyShortForm(SourceTestCase):
    SOURCE = "osprey_short_form"
    inject_fake_data = staticmethod(fake_osprey.write)


class TestOspreyPartLevel(SourceTestCase):
    SOURCE = "osprey_part_level"
    inject_fake_data = staticmethod(fake_osprey.write)


class TestOspreyLvisPositiveNegative(SourceTestCase):
    SOURCE = "osprey_lvis_positive_negative"
    inject_fake_data = staticmethod(fake_osprey.write)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("num_proc", [None, 2])
def test_file_name_climbing_out_is_refused(tmp_path, num_proc):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_short_form")
    entries = info["entries"]
    entries[3]["file_name"] = "../../../etc/passwd"
    _write_json(info["json"], entries)
    with pytest.raises(UnsafePathError, match=r"osprey_short_form\.json.*record '3'"):
        load_source("osprey_short_form", tmp_path / "data", cache_dir=str(tmp_path / "cache"), num_proc=num_proc)


def test_image_found_nowhere_names_record(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_part_level")
    entries = info["entries"]
    entries[2]["file_name"] = "nowhere.jpg"
    _write_json(info["json"], entries)
    with pytest.raises(ImageLoadError, match=r"'nowhere\.jpg' not found.*record '2'"):
        load_source("osprey_part_level", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_rle_size_disagreeing_with_record(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_conversation")
    entries = info["entries"]
    entries[2]["annotation"][2]["segmentation"]["size"] = [41, 52]
    _write_json(info["json"], entries)
    with pytest.raises(ShapeMismatchError, match=r"osprey_conversation\.json.*record '2, annotation 2'"):
        load_source("osprey_conversation", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_annotation_size_disagreeing_with_image(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_conversation")
    entries = info["entries"]
    entries[0]["height"] = 44
    _write_json(info["json"], entries)
    with pytest.raises(ShapeMismatchError, match=r"44x52.*40x52.*record '0'"):
        load_source("osprey_conversation", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_more_descriptions_than_regions(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_detail_description")
    entries = info["entries"]
    entries[0]["description"].append("<region2>: nothing there")
    _write_json(info["json"], entries)
    with pytest.raises(AnnotationError, match="2 descriptions for 1 regions.*record '0'"):
        load_source("osprey_detail_description", tmp_path / "data", cache_dir=str(tmp_path / "cache"))
