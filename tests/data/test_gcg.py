"""The four GLaMM GCG sets: spans into the caption, Flickr's upstream filters, bad annotations."""

import json

import pytest

from sa2va_hf import load_source
from sa2va_hf.data import get_builder
from sa2va_hf.errors import AnnotationError, Sa2VAError

from ..fakedata import gcg as fake_gcg
from .source_case import NumProcCheck, SourceTestCase


def _write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)


class TestGCGRefCOCOg(SourceTestCase):
    SOURCE = "gcg_refcocog"
    inject_fake_data = staticmethod(fake_gcg.write)


class TestGCGGranDf(NumProcCheck, SourceTestCase):
    SOURCE = "gcg_grandf"
    inject_fake_data = staticmethod(fake_gcg.write)

    def test_spans_point_into_the_caption(self, fake):
        for rec in fake.built["train"]:
            for t in rec["texts"]:
                assert rec["caption"][t["start"] : t["end"]] == t["text"]
                assert rec["regions"][t["region_ids"][0]]["label"] == t["text"]
        # the quoted caption of record 2 is stored stripped, as upstream uses it
        assert not fake.built["train"][2]["caption"].startswith('"')


class TestGCGOpenPSG(SourceTestCase):
    SOURCE = "gcg_openpsg"
    inject_fake_data = staticmethod(fake_gcg.write)


class TestGCGFlickr(NumProcCheck, SourceTestCase):
    SOURCE = "gcg_flickr"
    inject_fake_data = staticmethod(fake_gcg.write)

    def test_filters_are_counted_and_can_be_switched_off(self, fake, tmp_path, caplog):
        b = get_builder("gcg_flickr", fake.data, cache_dir=str(tmp_path / "c1"))
        with caplog.at_level("WARNING"):
            b.download_and_prepare()
        rep = b.filter_report
        assert rep["images in file"] == fake.info["n_images"] == 5 and rep["images kept"] == 3
        assert rep["images dropped: caption under 3 words"] == 1
        assert rep["images dropped: shorter side under 32 px"] == 1
        assert (
            rep["annotations dropped: flagged ignore"] + rep["annotations dropped: empty or outside box"]
            == fake.info["dropped_anns"]
        )
        assert "upstream filters applied" in caplog.text
        ds = self.load(fake, split="train", cache_dir=str(tmp_path / "c2"), upstream_filters=False)
        assert sorted(ds["id"]) == ["1", "2", "3", "4", "5"]
        assert [len(r) for r in ds["regions"]] == [6, 6, 6, 6, 6]

    def test_filter_report_survives_a_cache_hit(self, fake):
        first = get_builder("gcg_flickr", fake.data, cache_dir=str(fake.root / "cache"))
        first.download_and_prepare()  # served from the cache: shards() does not run
        assert first.filter_report["images kept"] == 3 and first.filter_report["images in file"] == 5

    def test_upstream_filters_must_be_a_bool(self, fake):
        with pytest.raises(Sa2VAError, match="upstream_filters must be True or False, got 'no'"):
            self.load(fake, upstream_filters="no")

    def test_only_flickr_takes_upstream_filters(self, fake):
        with pytest.raises(Sa2VAError, match=r"unknown option\(s\) \['upstream_filters'\] for source 'gcg_grandf'"):
            load_source("gcg_grandf", fake.data, upstream_filters=False)


# ------------------------------------------------------------------ bad input


def test_flickr_duplicate_image_id_is_an_error_and_orphan_annotations_are_counted(tmp_path, caplog):
    data = tmp_path / "data"
    info = fake_gcg.write(str(data), "gcg_flickr")
    coco = json.load(open(info["json"]))
    coco["annotations"].append({**coco["annotations"][0], "id": 99999, "image_id": 777})  # no such image
    _write_json(info["json"], coco)
    b = get_builder("gcg_flickr", data, cache_dir=str(tmp_path / "c1"))
    with caplog.at_level("WARNING"):
        b.download_and_prepare()
    assert b.filter_report["annotations without an image (image_id not in images)"] == 1
    assert "1 annotations refer to an image_id not in 'images'" in caplog.text
    coco["images"].append(dict(coco["images"][0]))  # image id 1 twice: two records with one id before
    _write_json(info["json"], coco)
    with pytest.raises(AnnotationError, match=r"image id 1 is not unique.*flickr_mergedGT_GCG_train\.json"):
        load_source("gcg_flickr", data, cache_dir=str(tmp_path / "c2"))


def test_refcocog_overlapping_and_repeated_sentences_keep_their_native_spans(tmp_path):
    data = tmp_path / "data"
    info = fake_gcg.write(str(data), "gcg_refcocog")
    entries = json.load(open(info["json"]))
    inner = entries[0]["1000"]
    seg = inner["refs"][0]["segmentation"]
    inner["caption"] = '"A brown dog on the sofa is next to THE SOFA cushion."'
    inner["refs"] = [
        {"sentence": "the sofa", "bbox": None, "segmentation": seg},
        {"sentence": "a brown dog on the sofa", "bbox": None, "segmentation": seg},  # overlaps the first
    ]
    _write_json(info["json"], entries)
    rec = load_source("gcg_refcocog", data, split="train", cache_dir=str(tmp_path / "c"))[0]
    cap = rec["caption"]
    assert cap == "A brown dog on the sofa is next to THE SOFA cushion."
    # first case-insensitive occurrence, untrimmed; trimming overlaps is the transform's job
    assert [(t["text"], t["start"], t["end"]) for t in rec["texts"]] == [
        ("the sofa", 15, 23),
        ("a brown dog on the sofa", 0, 23),
    ]
    assert [t["region_ids"] for t in rec["texts"]] == [[0], [1]]
