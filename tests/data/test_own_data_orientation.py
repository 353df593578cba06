"""Your own photos with an EXIF orientation: masks drawn on the stored pixels or on the displayed view.

Records hold the stored pixels (what upstream reads). ``mask_frame="auto"`` (default): masks of the stored
size are on the stored pixels; masks that fit only the displayed size are moved onto the stored pixels;
where size cannot tell (square images, orientations 2-4) the build stops with an error naming the option.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

from sa2va_hf import load_source, masks
from sa2va_hf.data.orientation import to_stored_frame
from sa2va_hf.errors import AnnotationError, Sa2VAError, ShapeMismatchError

from ..fakedata._common import write_image
from ..fakedata.exif import tag_file

_DISPLAY = {  # what a viewer shows (PIL's exif_transpose), for drawing masks on the displayed view
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def displayed(mask: np.ndarray, orientation: int) -> np.ndarray:
    return np.asarray(Image.fromarray(mask).transpose(_DISPLAY[orientation]))


def stored_mask(h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[2:7, 3:12] = 1  # off every symmetry axis: a wrong frame cannot pass
    m[h - 4 :, w - 3 :] = 1
    return m


def write_folder(root: str, h: int, w: int, orientation: int, on_display: bool) -> np.ndarray:
    """A folder dataset of one tagged photo with one object; returns the object's mask on the stored pixels."""
    tag_file(write_image(os.path.join(root, "images", "photo.jpg"), h, w), orientation)
    mask = stored_mask(h, w)
    drawn = displayed(mask, orientation) if on_display else mask
    os.makedirs(os.path.join(root, "masks", "photo"))
    Image.fromarray(drawn * 255).save(os.path.join(root, "masks", "photo", "cup.png"))
    with open(os.path.join(root, "texts.json"), "w") as f:
        json.dump({"photo.jpg": {"cup": "the cup"}}, f)
    return mask


def build(source: str, root: str, tmp_path, **options):
    return load_source(source, root, split="train", cache_dir=str(tmp_path / "cache"), **options)


def region_mask(ds) -> np.ndarray:
    return masks.decode(ds[0]["regions"][0]["masks"][0])


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])  # they swap the sides: size tells the frame
@pytest.mark.parametrize("on_display", [False, True])
def test_folder_masks_of_either_size_land_on_the_stored_pixels(orientation, on_display, tmp_path):
    root = str(tmp_path / "data")
    want = write_folder(root, 24, 36, orientation, on_display)
    ds = build("folder", root, tmp_path)
    assert (ds[0]["height"], ds[0]["width"]) == (24, 36)  # the stored pixels, as upstream reads them
    assert ds[0]["frames"][0].size == (36, 24)
    assert np.array_equal(region_mask(ds), want)


@pytest.mark.parametrize(("h", "w", "orientation"), [(30, 30, 6), (30, 30, 8), (24, 36, 2), (24, 36, 3), (24, 36, 4)])
def test_folder_masks_whose_frame_size_cannot_tell_stop_with_the_option_named(h, w, orientation, tmp_path):
    root = str(tmp_path / "data")
    want = write_folder(root, h, w, orientation, on_display=True)
    with pytest.raises(
        AnnotationError,
        match=rf"photo\.jpg' has EXIF orientation {orientation}.*mask_frame='stored'.*mask_frame='displayed'",
    ):
        build("folder", root, tmp_path)
    assert np.array_equal(region_mask(build("folder", root, tmp_path, mask_frame="displayed")), want)
    stored_as_drawn = build("folder", root, tmp_path / "stored", mask_frame="stored")
    assert np.array_equal(region_mask(stored_as_drawn), displayed(want, orientation))  # taken as drawn: as stored


def test_folder_mask_frame_stored_refuses_masks_of_the_displayed_size(tmp_path):
    root = str(tmp_path / "data")
    write_folder(root, 24, 36, 6, on_display=True)
    with pytest.raises(ShapeMismatchError, match=r"cup\.png' is 36x24 but 'photo\.jpg' is 24x36"):
        build("folder", root, tmp_path, mask_frame="stored")
    with pytest.raises(Sa2VAError, match=r"mask_frame must be one of \['auto', 'stored', 'displayed'\]"):
        build("folder", root, tmp_path, mask_frame="rotated")


def write_finetune(root: str, h: int, w: int, orientation: int, polygon: list[float]) -> None:
    tag_file(write_image(os.path.join(root, "images", "photo.jpg"), h, w), orientation)
    with open(os.path.join(root, "annotations.json"), "w") as f:
        json.dump([{"image": "photo.jpg", "mask": [[polygon]], "text": ["the cup"]}], f)


def test_finetune_polygons_that_fit_only_the_displayed_view_are_moved(tmp_path):
    root = str(tmp_path / "data")
    polygon = [2.0, 30.0, 20.0, 30.0, 20.0, 34.0, 2.0, 34.0]  # y up to 34: only the displayed 36x24 view has it
    write_finetune(root, 24, 36, 6, polygon)
    ds = build("finetune", root, tmp_path)
    drawn = masks.decode([polygon], 36, 24)  # rasterised on the displayed view, as the user drew it
    assert np.array_equal(region_mask(ds), to_stored_frame(drawn, 6))
    assert region_mask(ds).shape == (24, 36)


def test_finetune_polygons_that_fit_both_frames_stop_with_the_option_named(tmp_path):
    root = str(tmp_path / "data")
    polygon = [2.0, 3.0, 10.0, 3.0, 10.0, 9.0]
    write_finetune(root, 24, 36, 6, polygon)
    with pytest.raises(AnnotationError, match=r"mask_frame='stored'.*mask_frame='displayed'"):
        build("finetune", root, tmp_path)
    assert np.array_equal(
        region_mask(build("finetune", root, tmp_path, mask_frame="stored")), masks.decode([polygon], 24, 36)
    )


def test_convert_takes_the_mask_frame(tmp_path):
    """``sa2va-hf convert --mask-frame displayed``: the export holds the masks moved onto the stored pixels."""
    import datasets

    from sa2va_hf.cli import main

    root = str(tmp_path / "data")
    want = write_folder(root, 30, 30, 6, on_display=True)  # square: "auto" cannot tell
    out = str(tmp_path / "out")
    args = ["convert", "folder", root, "--output", out, "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "--mask-frame", "displayed"]) == 0
    back = datasets.load_dataset(out, "folder", split="train", cache_dir=str(tmp_path / "hf"))
    assert np.array_equal(region_mask(back), want)
