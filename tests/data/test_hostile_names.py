"""Hostile file names and files that are not what their name says, in the sources: a named error, never a bare
``UnicodeEncodeError`` / ``NotADirectoryError`` / ``OSError``, and nothing silently wrong in ``folder``."""

from __future__ import annotations

import io
import json
import os

import pytest
from PIL import Image

from sa2va_hf import load_source
from sa2va_hf.errors import AnnotationError, ImageLoadError

from ..fakedata import finetune as fake_finetune
from ..fakedata import folder as fake_folder
from ..fakedata import refvos as fake_refvos


def _load(tmp_path, source, **kw):
    return load_source(source, tmp_path / "data", cache_dir=str(tmp_path / "cache"), **kw)


# ------------------------------------------------------------------ folder: nothing silently wrong


def test_two_masks_of_one_object_name_are_an_error_not_two_regions(tmp_path):
    """mug.png and mug.PNG were two regions with the id 'mug'."""
    fake_folder.write(str(tmp_path / "data"))
    kettle = tmp_path / "data" / "masks" / "kitchen" / "kettle.png"
    (kettle.parent / "kettle.PNG").write_bytes(kettle.read_bytes())
    with pytest.raises(
        AnnotationError, match=r"\['kettle\.PNG', 'kettle\.png'\] in .* are masks of one object, 'kettle'"
    ):
        _load(tmp_path, "folder")


def test_a_jpeg_under_a_png_name_is_not_a_mask(tmp_path):
    """Its compression artefacts around the object would have become object pixels."""
    fake_folder.write(str(tmp_path / "data"))
    kettle = tmp_path / "data" / "masks" / "kitchen" / "kettle.png"
    buf = io.BytesIO()
    Image.open(kettle).convert("L").save(buf, format="JPEG")
    kettle.write_bytes(buf.getvalue())
    with pytest.raises(ImageLoadError, match=r"kettle\.png' is a JPEG file, not a PNG.*'kitchen\.png'"):
        _load(tmp_path, "folder")


def test_an_instance_png_is_named_in_lower_case(tmp_path):
    """masks/street.PNG beside masks/street/ was never read."""
    fake_folder.write(str(tmp_path / "data"))
    (tmp_path / "data" / "masks" / "street.png").rename(tmp_path / "data" / "masks" / "street.PNG")
    with pytest.raises(AnnotationError, match=r"instance PNG .*street\.PNG' must be named 'street\.png'"):
        _load(tmp_path, "folder")


def test_a_texts_csv_saved_by_excel_with_a_bom_is_read(tmp_path):
    info = fake_folder.write(str(tmp_path / "data"), texts_format="csv")
    csv_path = tmp_path / "data" / "texts.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + csv_path.read_bytes())  # Excel's "CSV UTF-8"
    ds = _load(tmp_path, "folder", split="train")
    assert [[t["text"] for t in r] for r in ds["texts"]] == [
        [t["text"] for t in e["texts"]] for e in info["expected"]["train"]
    ]


def test_an_image_name_that_is_not_utf8_is_a_named_error(tmp_path):
    """The cache key hashed the name as UTF-8 (a bare UnicodeEncodeError); the record cannot hold it either."""
    fake_folder.write(str(tmp_path / "data"))
    images = os.fsencode(tmp_path / "data" / "images")
    os.rename(os.path.join(images, b"kitchen.png"), os.path.join(images, b"kitch\xffen.png"))
    os.rename(
        os.fsencode(tmp_path / "data" / "masks" / "kitchen"), os.fsencode(tmp_path / "data" / "masks") + b"/kitch\xffen"
    )
    texts = json.loads((tmp_path / "data" / "texts.json").read_text())
    texts[os.fsdecode(b"kitch\xffen.png")] = texts.pop("kitchen.png")
    (tmp_path / "data" / "texts.json").write_text(json.dumps(texts), encoding="utf-8", errors="surrogateescape")
    with pytest.raises(AnnotationError, match=r"is not valid Unicode"):
        _load(tmp_path, "folder")


# ------------------------------------------------------------------ names an annotation gives


@pytest.mark.parametrize(
    "name, match",
    [
        ("\ud800.jpg", r"images/\\ud800\.jpg' cannot be read: .*surrogates not allowed.*record '0'"),
        ("{first}/b.jpg", r"img_0\.jpg/b\.jpg' does not exist.*record '0'"),  # a file taken for a folder
        ("x" * 5000 + ".jpg", r"xxx.*\.jpg' cannot be read: .*File name too long.*record '0'"),
    ],
)
def test_finetune_image_names_no_file_system_holds(tmp_path, name, match):
    info = fake_finetune.write(str(tmp_path / "data"))
    entries = info["entries"]
    entries[0]["image"] = name.format(first=entries[0]["image"])
    with open(info["json"], "w") as f:
        json.dump(entries, f)
    with pytest.raises(ImageLoadError, match=match):
        _load(tmp_path, "finetune")


@pytest.mark.parametrize("name", ["x" * 5000, "\ud800"])
def test_revos_frame_names_no_file_system_holds(tmp_path, name):
    fake_refvos.write(str(tmp_path / "data"), "revos")
    path = tmp_path / "data" / "video_datas" / "revos" / "meta_expressions_train_.json"
    meta = json.loads(path.read_text())
    video = next(iter(meta["videos"].values()))
    video["frames"][0] = name
    path.write_text(json.dumps(meta))
    with pytest.raises(ImageLoadError, match=r"cannot be read: .*meta_expressions_train_\.json"):
        _load(tmp_path, "revos")


def test_the_cache_key_of_utf8_names_is_unchanged(tmp_path):
    """Names are hashed as their bytes on disk: for UTF-8 names the same bytes as before (no rebuild)."""
    import hashlib

    from sa2va_hf.data.builder import file_fingerprint

    path = tmp_path / "é.json"
    path.write_text("[]")
    st = os.stat(path)
    before = hashlib.sha256(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()).hexdigest()[:16]
    assert file_fingerprint([str(path)]) == before
    assert file_fingerprint([os.fsdecode(b"/nowhere/\xff")]) != file_fingerprint([os.fsdecode(b"/nowhere/\xfe")])
