"""RefCOCO / RefCOCO+ / RefCOCOg: native splits, shared annotations, the REFER pickle, bad instances.json."""

import json
import os
import pickle

import pytest

from sa2va_hf import load_source
from sa2va_hf.errors import AnnotationError, ImageLoadError, UnsafePathError, UnsafePickleError

from ..fakedata import refcoco as fake_refcoco
from ..fakedata.check import check_against
from .source_case import NumProcCheck, SourceTestCase


def _write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)


class TestRefCOCO(NumProcCheck, SourceTestCase):
    SOURCE = "refcoco"
    inject_fake_data = staticmethod(fake_refcoco.write)

    def test_refs_sharing_an_annotation_share_a_region(self, fake):
        rec = fake.built["train"].filter(lambda r: r["id"] == "101")[0]
        ids = [r["id"] for r in rec["regions"]]
        assert len(ids) == len(set(ids)) == 2
        texts = {t["text"]: t["region_ids"] for t in rec["texts"]}
        assert texts["the same dog again"] == texts["The Dog on the right #101."] == [0]
        assert texts["man in red  101 "] == [1]  # raw sentence kept verbatim
        assert [r["label"] for r in rec["regions"]] == ["dog", "person"]


class TestRefCOCOPlus(SourceTestCase):
    SOURCE = "refcoco_plus"
    inject_fake_data = staticmethod(fake_refcoco.write)


class TestRefCOCOg(SourceTestCase):
    SOURCE = "refcocog"
    inject_fake_data = staticmethod(fake_refcoco.write)

    def test_an_image_in_two_splits_is_one_record_per_split_with_its_own_refs(self, fake):
        t104 = fake.built["train"].filter(lambda r: r["id"] == "104")[0]["texts"]
        assert [t["text"] for t in t104] == ["person at left in the train split"]
        test104 = fake.built["test"].filter(lambda r: r["id"] == "104")[0]["texts"]
        assert "person at left in the train split" not in [t["text"] for t in test104]


# ------------------------------------------------------------------ bad input


def test_native_split_without_refs_is_left_out_with_a_warning(tmp_path, caplog):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    with open(info["refs"], "rb") as f:
        refs = [r for r in pickle.load(f) if r["split"] != "testB"]
    with open(info["refs"], "wb") as f:
        pickle.dump(refs, f, protocol=2)
    with caplog.at_level("WARNING"):
        dd = load_source("refcoco", tmp_path / "data", cache_dir=str(tmp_path / "cache"))
    assert list(dd) == ["train", "val", "testA"]
    check_against(dd["val"], info["expected"]["val"], "refcoco")
    assert "native split 'testB'" in caplog.text


def test_malicious_refer_pickle_is_refused(tmp_path):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcoco")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(info["refs"], "wb") as f:
        pickle.dump([Evil()], f, protocol=2)
    with pytest.raises(UnsafePickleError, match=r"refs\(unc\)\.p"):
        load_source("refcoco", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_file_name_climbing_out_is_refused(tmp_path):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    inst = json.load(open(info["instances"]))
    inst["images"][0]["file_name"] = "/etc/passwd"
    _write_json(info["instances"], inst)
    with pytest.raises(UnsafePathError, match=r"instances\.json.*record '101'"):
        load_source("refcoco", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda inst: inst.update(categories=5), r"'categories' must be list, got int.*instances\.json"),
        (
            lambda inst: inst["annotations"][0].update(category_id=[1]),
            r"'category_id' must be int, got list.*instances\.json.*record 'image \d+, ann \d+'",
        ),
    ],
)
def test_malformed_categories_name_the_file(tmp_path, edit, match):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    inst = json.load(open(info["instances"]))
    edit(inst)
    _write_json(info["instances"], inst)
    with pytest.raises(AnnotationError, match=match):
        load_source("refcoco", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_missing_image_names_file_and_record(tmp_path):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcocog")
    os.remove(info["image_paths"][103])
    with pytest.raises(ImageLoadError, match=r"does not exist.*instances\.json.*record '103'"):
        load_source("refcocog", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_corrupt_image_names_file_and_record(tmp_path):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    with open(info["image_paths"][102], "wb") as f:
        f.write(b"this is not a jpeg")
    with pytest.raises(ImageLoadError, match=r"cannot be decoded.*record '102'"):
        load_source("refcoco", tmp_path / "data", cache_dir=str(tmp_path / "cache"))


def test_unknown_refer_split_is_an_error(tmp_path):
    info = fake_refcoco.write(str(tmp_path / "data"), "refcocog")
    with open(info["refs"], "rb") as f:
        refs = pickle.load(f)
    refs[0]["split"] = "testA"  # not a umd split
    with open(info["refs"], "wb") as f:
        pickle.dump(refs, f)
    with pytest.raises(AnnotationError, match="'testA' is not one of refcocog's native splits"):
        load_source("refcocog", tmp_path / "data", cache_dir=str(tmp_path / "cache"))
