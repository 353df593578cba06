"""Your own data: upstream v2's fine-tuning format and a plain folder of images, PNG masks and texts."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from sa2va_hf import load_source
from sa2va_hf.data.schema import region_mask
from sa2va_hf.errors import AnnotationError, ImageLoadError, Sa2VAError, ShapeMismatchError, UnsafePathError

from ..fakedata import finetune as fake_finetune
from ..fakedata import folder as fake_folder
from .source_case import NumProcCheck, SourceTestCase


def _load(root, source, **kw):
    return load_source(source, root / "data", cache_dir=str(root / "cache"), **kw)


class TestFinetune(NumProcCheck, SourceTestCase):
    SOURCE = "finetune"
    inject_fake_data = staticmethod(fake_finetune.write)

    def test_name_sets_the_source_column(self, fake, tmp_path):
        ds = self.load(fake, split="train", cache_dir=str(tmp_path / "c"), name="my_cars")
        assert set(ds["source"]) == {"my_cars"} and ds["id"] == fake.built["train"]["id"]


class TestFolder(NumProcCheck, SourceTestCase):
    SOURCE = "folder"
    inject_fake_data = staticmethod(fake_folder.write)

    def test_masks_decode_to_the_png_input(self, fake):
        street = fake.built["train"].filter(lambda r: r["id"] == "street.jpg")[0]
        png = np.asarray(Image.open(fake.data / "masks" / "street.png"))  # palette indices
        for k, value in enumerate((1, 3)):
            np.testing.assert_array_equal(region_mask(street, k), (png == value).astype(np.uint8))
        assert not any(region_mask(street, k)[0].any() for k in range(2))  # the void row is no object


def test_folder_texts_csv_gives_the_same_records(tmp_path):
    info = fake_folder.write(str(tmp_path / "data"), texts_format="csv")
    ds = _load(tmp_path, "folder", split="train")
    assert [[t["text"] for t in r] for r in ds["texts"]] == [
        [t["text"] for t in e["texts"]] for e in info["expected"]["train"]
    ]


# ------------------------------------------------------------------ finetune: bad input


def _edit_finetune(tmp_path, edit):
    info = fake_finetune.write(str(tmp_path / "data"))
    edit(info["entries"])
    with open(info["json"], "w") as f:
        json.dump(info["entries"], f)


@pytest.mark.parametrize(
    "edit, error, match",
    [
        (lambda e: e[1]["text"].pop(), AnnotationError, r"2 masks but 1 texts.*annotations\.json.*record '1'"),
        (lambda e: e[0]["text"].append("extra"), AnnotationError, r"1 masks but 2 texts.*record '0'"),
        (lambda e: e[2].update(image="../../etc/passwd"), UnsafePathError, r"climbs out.*record '2'"),
        (lambda e: e[0].update(image="nope.jpg"), ImageLoadError, r"nope\.jpg' does not exist.*record '0'"),
        (lambda e: e[0]["mask"][0].append([1, 2, 3]), ValueError, r"3 numbers.*record '0, object 0'"),
    ],
)
def test_finetune_bad_entries_name_file_and_object(tmp_path, edit, error, match):
    _edit_finetune(tmp_path, edit)
    with pytest.raises(error, match=match):
        _load(tmp_path, "finetune")


def test_finetune_name_must_be_a_string(tmp_path):
    with pytest.raises(Sa2VAError, match="name must be a non-empty string"):
        load_source("finetune", tmp_path, name="")


# ------------------------------------------------------------------ folder: bad input


def _png(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


@pytest.mark.parametrize(
    "edit, error, match",
    [
        (
            lambda d, t: _png(d / "masks" / "kitchen" / "kettle.png", np.ones((31, 40)) * 255),
            ShapeMismatchError,
            r"kettle\.png' is 31x40 but 'kitchen\.png' is 30x40",
        ),
        (
            lambda d, t: _png(d / "masks" / "kitchen" / "kettle.png", np.zeros((30, 40))),
            AnnotationError,
            r"object 'kettle' of 'kitchen\.png' has an empty mask",
        ),
        (
            lambda d, t: t["kitchen.png"].pop("kettle"),
            AnnotationError,
            r"'kettle' of 'kitchen\.png' has a mask but no text",
        ),
        (
            lambda d, t: t["street.jpg"].update({"7": "a ghost"}),
            AnnotationError,
            r"texts for object\(s\) \['7'\] of 'street\.jpg', which have no mask",
        ),
        (
            lambda d, t: t.update({"gone.jpg": {"1": "x"}}),
            AnnotationError,
            r"texts for \['gone\.jpg'\], which are not in images/",
        ),
        (
            lambda d, t: _png(d / "masks" / "kitchen.png", np.ones((30, 40))),
            AnnotationError,
            r"'kitchen\.png' has both .* use one mask layout",
        ),
        (
            lambda d, t: (d / "images" / "notes.txt").write_text("hi"),
            ImageLoadError,
            r"notes\.txt' in images/ is not an image file",
        ),
        (
            lambda d, t: Image.new("RGB", (8, 8)).save(d / "images" / "lonely.png"),
            AnnotationError,
            r"'lonely\.png' has no masks",
        ),
        (lambda d, t: t["street.jpg"].update({"1": []}), AnnotationError, r"object '1': a text or a non-empty list"),
        (  # a binary 0/255 mask as an instance PNG: 255 is void, so no object at all
            lambda d, t: _png(d / "masks" / "street.png", np.where(np.arange(36) < 18, 255, 0)[None].repeat(24, 0)),
            AnnotationError,
            r"instance PNG of 'street\.jpg' holds no object, only 0 \(background\) and 255 \(void\).*street\.png",
        ),
        (
            lambda d, t: _png(d / "masks" / "stret.png", np.ones((24, 36))),  # a typo: no image 'stret'
            AnnotationError,
            r"stret\.png' is a PNG in masks/ that matches no image",
        ),
        (
            lambda d, t: (d / "masks" / "old").mkdir(),
            AnnotationError,
            r"masks/old' is a folder in masks/ that matches no image",
        ),
        (
            lambda d, t: Image.new("RGB", (40, 30)).save(d / "images" / "kitchen.jpg"),
            AnnotationError,
            r"images 'kitchen\.jpg' and 'kitchen\.png' would share the masks of 'kitchen'",
        ),
    ],
)
def test_folder_bad_input_names_file_and_object(tmp_path, edit, error, match):
    info = fake_folder.write(str(tmp_path / "data"))
    texts = info["texts"]
    edit(tmp_path / "data", texts)
    with open(tmp_path / "data" / "texts.json", "w") as f:
        json.dump(texts, f)
    with pytest.raises(error, match=match):
        _load(tmp_path, "folder")


def test_folder_instance_png_must_be_one_channel(tmp_path):
    fake_folder.write(str(tmp_path / "data"))
    _png(tmp_path / "data" / "masks" / "street.png", np.ones((24, 36, 3)))
    with pytest.raises(AnnotationError, match=r"an instance PNG must have one channel.*street\.png"):
        _load(tmp_path, "folder")


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_folder_per_object_mask_alpha_is_not_the_object(tmp_path, mode):
    """An opaque grey+alpha (or RGBA) mask: the object is its nonzero colour, not its alpha."""
    info = fake_folder.write(str(tmp_path / "data"))
    kettle = info["expected"]["train"][0]["regions"][0]
    mask = kettle["mask"]
    colour = (mask * 255).astype(np.uint8)
    channels = [colour] if mode == "LA" else [colour, colour, colour]
    arr = np.stack([*channels, np.full_like(colour, 255)], axis=-1)
    Image.fromarray(arr, mode).save(tmp_path / "data" / "masks" / "kitchen" / "kettle.png")
    record = _load(tmp_path, "folder", split="train")[0]
    assert np.array_equal(region_mask(record, 0), mask)


def test_folder_mask_png_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    fake_folder.write(str(tmp_path / "data"))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 30 * 40 - 1)  # kitchen's masks are 30x40
    monkeypatch.setattr(
        "sa2va_hf.data.sources.folder.check_image", lambda path, *a, **k: (30, 40) if "kitchen" in path else (24, 36)
    )  # the images themselves pass: the masks are what this test is about
    with pytest.raises(ImageLoadError, match=r"kettle\.png' is 40x30 = 1200 pixels, over the limit.*'kitchen\.png'"):
        _load(tmp_path, "folder")


def test_folder_files_in_masks_that_are_no_png_are_logged_not_read(tmp_path, caplog):
    fake_folder.write(str(tmp_path / "data"))
    (tmp_path / "data" / "masks" / "README.txt").write_text("how these masks were made")
    with caplog.at_level("WARNING"):
        assert len(_load(tmp_path, "folder", split="train")) == 2
    assert "1 file(s)" in caplog.text and "README.txt" in caplog.text
