"""LLaVA-v1.5 mix665k: image conversations and text-only entries, the missing-image policy."""

import os

import pytest

from sa2va_hf import load_source
from sa2va_hf.data import get_builder
from sa2va_hf.errors import ImageLoadError, Sa2VAError

from ..fakedata import llava as fake_llava
from .source_case import NumProcCheck, SourceTestCase


class TestLLaVA665k(NumProcCheck, SourceTestCase):
    SOURCE = "llava_665k"
    inject_fake_data = staticmethod(fake_llava.write)

    def test_text_only_entries_are_kept_without_frames(self, fake):
        rec = fake.built["train"][1]
        assert rec["frames"] == [] and (rec["height"], rec["width"]) == (0, 0)
        assert rec["conversations"][0]["value"] == "Question 1?"


def test_a_missing_image_is_an_error_or_a_counted_skip(tmp_path, caplog):
    info = fake_llava.write(str(tmp_path / "data"))
    os.remove(os.path.join(info["root"], "llava_images", "gqa", "images", "2354786.jpg"))
    with pytest.raises(ImageLoadError, match=r"2354786\.jpg' does not exist.*mix665k\.json.*record '2'"):
        load_source("llava_665k", tmp_path / "data", cache_dir=str(tmp_path / "c1"))
    b = get_builder("llava_665k", tmp_path / "data", cache_dir=str(tmp_path / "c2"), missing_images="skip")
    with caplog.at_level("WARNING"):
        b.download_and_prepare()
    assert b.as_dataset("train")["id"] == ["0", "1", "3"]
    assert "1 entries left out, their image is missing" in caplog.text
    assert b.filter_report == {
        "entries in file": 4,
        "text-only entries (kept)": 1,
        "entries dropped: image missing": 1,
    }


def test_the_skip_policy_skips_missing_images_only_not_corrupt_ones(tmp_path):
    """A corrupt image is no missing one: skipped, it was counted nowhere (the report checks existence)."""
    info = fake_llava.write(str(tmp_path / "data"))
    with open(os.path.join(info["root"], "llava_images", "gqa", "images", "2354786.jpg"), "wb") as f:
        f.write(b"not a jpeg")
    with pytest.raises(ImageLoadError, match=r"2354786\.jpg' cannot be decoded.*mix665k\.json.*record '2'"):
        load_source("llava_665k", tmp_path / "data", cache_dir=str(tmp_path / "c"), missing_images="skip")


def test_missing_images_policy_is_checked(tmp_path):
    with pytest.raises(Sa2VAError, match="missing_images must be one of"):
        load_source("llava_665k", tmp_path, missing_images="ignore")
