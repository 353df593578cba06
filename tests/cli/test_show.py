"""``sa2va-hf show`` draws masks a user can check: read as the folder source reads them, each region outlined in
a colour that stands out from the photo, a legend with each region's own grid at a readable size."""

from __future__ import annotations

import numpy as np
from PIL import Image

from sa2va_hf import load_source, masks
from sa2va_hf.cli import main
from sa2va_hf.cli.render import LEGEND_GRID, OUTLINE, PALETTE, draw_legend, overlay, region_colours
from sa2va_hf.cli.show import read_masks

from ..fakedata import folder


def _records(data):
    return {rec["id"]: rec for rec in load_source("folder", data, split="train", cache_dir=str(data / "cache"))}


def test_an_instance_png_and_a_mask_folder_give_the_objects_the_folder_source_reads(tmp_path, capsys):
    data = tmp_path / "own"
    folder.write(str(data))  # street.png: a palette instance PNG (values 1, 3 and a void border); kitchen/: PNGs
    records = _records(data)
    for image, given in (("street.jpg", "masks/street.png"), ("kitchen.png", "masks/kitchen")):
        rec = records[image]
        read = read_masks(str(data / given), image, rec["height"], rec["width"])
        assert [name.split(": ")[-1] for name, _ in read] == [r["id"] for r in rec["regions"]]
        for (_, mask), region in zip(read, rec["regions"]):
            assert np.array_equal(mask, masks.decode(region["masks"][0]))
    out = tmp_path / "street.png"
    args = ["show", str(data / "images" / "street.jpg"), "--mask", str(data / "masks" / "street.png")]
    assert main([*args, "--output", str(out)]) == 0
    said = capsys.readouterr().out
    assert "region street.png: 1:" in said and "region street.png: 3:" in said and "255" not in said


def test_a_png_of_one_object_is_its_nonzero_colour(tmp_path):
    mask = np.zeros((6, 8), np.uint8)
    mask[1:4, 2:6] = 255
    Image.fromarray(mask).save(tmp_path / "one.png")  # 0 / 255 only: one object, not an instance PNG
    ((name, read),) = read_masks(str(tmp_path / "one.png"), "image.jpg", 6, 8)
    assert name == "one.png" and np.array_equal(read, mask > 0)


def test_each_region_takes_a_colour_that_stands_out_from_what_it_is_drawn_on():
    image = np.zeros((64, 128, 3), np.uint8)
    image[:, :64] = PALETTE[0]  # left half: the palette's first colour; right half: its second
    image[:, 64:] = PALETTE[1]
    regions = np.zeros((2, 64, 128), np.uint8)
    regions[0, 16:48, 8:56] = 1
    regions[1, 16:48, 72:120] = 1
    left, right = region_colours(Image.fromarray(image), regions)
    assert left != right and left != PALETTE[0] and right != PALETTE[1]
    for colour, under in ((left, PALETTE[0]), (right, PALETTE[1])):
        assert np.abs(np.subtract(colour, under)).sum() > 150


def test_a_region_is_outlined_in_its_colour_with_a_dark_rim_outside():
    image = Image.new("RGB", (40, 30), (128, 128, 128))
    region = np.zeros((1, 30, 40), np.uint8)
    region[0, 10:20, 10:30] = 1
    drawn = np.asarray(overlay(image, region, [(0, 130, 200)])).astype(int)
    assert (drawn[10:10 + OUTLINE, 10:30] == (0, 130, 200)).all()  # the outline, inside the border
    assert (drawn[9, 10:30] < 40).all()  # the rim, just outside
    inside = drawn[15, 20]
    assert (inside != (128, 128, 128)).any() and (inside != (0, 130, 200)).any()  # a light fill, the photo seen through
    assert (drawn[0, 0] == 128).all()  # away from the region: the photo


def test_the_legend_gives_each_region_its_grid_at_five_pixels_a_cell():
    canvas = Image.new("RGB", (400, 100), (0, 0, 0))
    grid = np.zeros((16, 16), np.uint8)
    grid[3, 4:7] = 1  # three cells
    draw_legend(canvas, ["a kettle"], [(0, 130, 200)], (0, 0), counts=[3], grids=[grid])
    cells = np.asarray(canvas)[:, 44 : 44 + LEGEND_GRID]
    assert LEGEND_GRID // 16 == 5 and (cells == (0, 130, 200)).all(axis=-1).sum() == 3 * 25
