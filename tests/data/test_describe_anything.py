"""Describe Anything (WebDataset tars): member pairing, embedded JPEGs, unsafe pickles, broken samples."""

import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from sa2va_hf import load_source
from sa2va_hf.errors import AnnotationError, ShapeMismatchError, UnsafePickleError

from ..fakedata import describe_anything as fake_dam
from ..fakedata._common import compressed_rle, image_bytes
from ..fakedata.check import raw_frames
from .source_case import NumProcCheck, SourceTestCase


class TestDescribeAnything(NumProcCheck, SourceTestCase):
    SOURCE = "describe_anything"
    inject_fake_data = staticmethod(fake_dam.write)


def _dam_tar(tmp_path, members):
    root = tmp_path / "data" / "describe-anything-dataset" / "PACO" / "images"
    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(root / "00000000.tar", "w") as tf:
        for name, payload in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(payload)
            tf.addfile(ti, io.BytesIO(payload))
    return tmp_path / "data"


def _dam_entry(key, ann_id, h=20, w=30):
    m = np.zeros((h, w), np.uint8)
    m[2:9, 3:12] = 1
    return {
        "img_id": key,
        "ann_id": ann_id,
        "image": f"{key}.jpg",
        "caption": f"c{ann_id}",
        "mask_rle": compressed_rle(m),
    }


def test_unsafe_pickle_and_size_mismatch(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    jpg = ("000000000001.jpg", image_bytes(20, 30))
    data = _dam_tar(tmp_path, [jpg, ("000000000001.pickle", pickle.dumps([Evil()]))])
    with pytest.raises(UnsafePickleError, match=r"00000000\.tar:000000000001\.pickle"):
        load_source("describe_anything", data, cache_dir=str(tmp_path / "c1"))
    bad = _dam_entry("000000000001", 5)
    bad["mask_rle"] = compressed_rle(np.ones((21, 30), np.uint8))
    data = _dam_tar(tmp_path, [jpg, ("000000000001.pickle", pickle.dumps([bad]))])
    with pytest.raises(ShapeMismatchError, match=r"00000000\.tar.*PACO/000000000001/5"):
        load_source("describe_anything", data, cache_dir=str(tmp_path / "c2"))


@pytest.mark.parametrize("missing", ["jpg", "pickle"])
def test_sample_missing_a_member_names_tar_and_key(tmp_path, missing):
    members = {
        "jpg": ("000000000007.jpg", image_bytes(20, 30)),
        "pickle": ("000000000007.pickle", pickle.dumps([_dam_entry("000000000007", 1)])),
    }
    del members[missing]
    # a complete sample after the broken one: the error is about 000000000007, not silently skipped
    ok = [
        ("000000000008.jpg", image_bytes(20, 30)),
        ("000000000008.pickle", pickle.dumps([_dam_entry("000000000008", 2)])),
    ]
    data = _dam_tar(tmp_path, list(members.values()) + ok)
    with pytest.raises(AnnotationError, match=rf"'000000000007' has no \.{missing} member.*00000000\.tar"):
        load_source("describe_anything", data, cache_dir=str(tmp_path / "c"))


def test_members_pair_by_key_in_any_order_and_unused_members_are_not_read(tmp_path, monkeypatch):
    jpg7, jpg8 = image_bytes(20, 30, seed=7), image_bytes(20, 30, seed=8)
    data = _dam_tar(
        tmp_path,
        [
            ("000000000007.pickle", pickle.dumps([_dam_entry("000000000007", 1), _dam_entry("000000000007", 3)])),
            ("000000000007.json", b"{}" * 1000),
            ("000000000007.jpg", jpg7),
            ("000000000008.jpg", jpg8),
            ("000000000008.pickle", pickle.dumps([_dam_entry("000000000008", 2)], protocol=2)),
        ],
    )
    read = []
    orig = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile", lambda self, m: (read.append(m.name), orig(self, m))[1])
    ds = load_source("describe_anything", data, split="train", cache_dir=str(tmp_path / "c"))
    assert ds["id"] == ["PACO/000000000007/1", "PACO/000000000007/3", "PACO/000000000008/2"]
    assert [f[0]["bytes"] for f in raw_frames(ds)] == [jpg7, jpg7, jpg8]
    assert "000000000007.json" not in read and "000000000007.jpg" in read


def test_repeated_ann_id_in_one_pickle_is_an_error(tmp_path):
    entries = [_dam_entry("000000000007", 4), _dam_entry("000000000007", 4)]
    data = _dam_tar(
        tmp_path, [("000000000007.jpg", image_bytes(20, 30)), ("000000000007.pickle", pickle.dumps(entries))]
    )
    with pytest.raises(AnnotationError, match=r"ann_id 4 appears twice.*PACO/000000000007/4"):
        load_source("describe_anything", data, cache_dir=str(tmp_path / "c"))
