"""The command line: demo and show write a picture of tiles and the prompt grid."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from sa2va_hf import masks
from sa2va_hf.cli import main
from sa2va_hf.cli.scene import make_scene


def test_demo_runs_the_main_job_end_to_end_and_writes_png(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "--output", str(out), "--workdir", str(tmp_path / "work")]) == 0
    picture = Image.open(out)
    assert picture.format == "PNG" and picture.width > 800
    text = capsys.readouterr().out
    for step in ("1. native files", "2. load_source", "3. export", "4. load_dataset", "5. processor"):
        assert step in text
    assert "tiles: 7" in text and "region region1: the house" in text and "region region2: the sun" in text
    # every stage really ran: the native JSON, the Parquet and its card are there
    assert (tmp_path / "work" / "data" / "osprey-724k" / "Osprey-724K" / "osprey_conversation.json").is_file()
    assert list((tmp_path / "work" / "parquet" / "osprey_conversation").glob("train-*.parquet"))
    assert (tmp_path / "work" / "parquet" / "README.md").is_file()


def test_demo_scene_regions_are_valid_annotations():
    image, regions, names = make_scene()
    decoded = masks.decode_many(regions, image.height, image.width)
    assert decoded.shape == (2, 800, 1200) and all(m.sum() > 1000 for m in decoded)
    assert names == ["house", "sun"]


def test_show_with_png_and_json_masks(tmp_path, capsys):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8))
    image.save(tmp_path / "im.jpg")
    m = np.zeros((120, 160), np.uint8)
    m[20:80, 30:120] = 255
    Image.fromarray(m).save(tmp_path / "m.png")
    (tmp_path / "m.json").write_text(json.dumps(masks.encode(m[::-1].copy())))
    out = tmp_path / "show.png"
    args = ["show", str(tmp_path / "im.jpg"), "--mask", str(tmp_path / "m.png"), "--mask", str(tmp_path / "m.json")]
    assert main(args + ["--output", str(out)]) == 0
    assert Image.open(out).size[0] > 400
    assert "region m.png" in capsys.readouterr().out


def test_bad_input_is_a_message_not_a_traceback(tmp_path, capsys):
    (tmp_path / "bad.jpg").write_bytes(b"nope")
    assert main(["show", str(tmp_path / "bad.jpg"), "--output", str(tmp_path / "x.png")]) == 2
    assert "bad.jpg" in capsys.readouterr().err


def test_build_lists_and_summarises_a_source(tmp_path, capsys):
    from ..fakedata import refcoco

    refcoco.write(str(tmp_path / "data"), "refcoco")
    assert main(["build", "--list"]) == 0
    assert "refcoco_plus" in capsys.readouterr().out.split()
    args = ["build", "refcoco", "--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "refcoco/train: 3 records" in out and "refcoco/testB: 1 records" in out


def test_build_reports_bad_data_as_an_error_message(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    args = ["build", "refcoco", "--data-dir", str(tmp_path / "empty"), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "not found" in err and "refs(unc).p" in err


def _tinted(picture: Image.Image, colour, tolerance: int = 60) -> int:
    arr = np.asarray(picture.convert("RGB")).astype(int)
    return int((np.abs(arr - np.asarray(colour)).sum(axis=-1) < tolerance).sum())


def test_show_a_record_draws_its_regions_legend_and_grid(tmp_path, capsys):
    from ..fakedata import osprey

    osprey.write(str(tmp_path / "data"), "osprey_conversation")
    out = tmp_path / "rec.png"
    args = ["show", "--source", "osprey_conversation", "--data-dir", str(tmp_path / "data"), "--index", "2"]
    assert main([*args, "--cache-dir", str(tmp_path / "c"), "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "region region1" in text and "region region3" in text  # record 2 has three regions
    picture = Image.open(out)
    assert picture.width >= 640 and picture.height > 700  # image + grid, tiles, a three-row legend
    from sa2va_hf import load_source
    from sa2va_hf.cli.render import LEGEND_ROW, PANEL, region_colours
    from sa2va_hf.data.schema import record_frames, region_mask

    rec = load_source("osprey_conversation", tmp_path / "data", split="train", cache_dir=str(tmp_path / "c"))[2]
    masks = np.stack([region_mask(rec, k) for k in range(3)])
    first = region_colours(record_frames(rec)[0], masks)[0]
    legend = picture.crop((0, picture.height - 3 * LEGEND_ROW - 30, 44, picture.height))
    assert _tinted(legend, first, 10) >= 24 * 4  # the first legend swatch's outline
    # region 1 is outlined in its colour on the image panel (at its border, inside), tinted within
    panel_w = round(rec["width"] * PANEL / rec["height"])
    inside = np.asarray(Image.fromarray(masks[0] * 255).resize((panel_w, PANEL), Image.NEAREST)) > 0
    left = np.asarray(picture.convert("RGB"))[56 : 56 + PANEL, 10 : 10 + panel_w].astype(int)
    near = np.abs(left - np.asarray(first)).sum(axis=-1)
    assert (near[inside] < 10).sum() > 100 and (near[~inside] < 10).sum() == 0
    assert near[inside].mean() < near[~inside].mean() - 50


def test_show_a_video_record_draws_a_strip_of_frames(tmp_path, capsys):
    from ..fakedata import ref_sav

    ref_sav.write(str(tmp_path / "data"))
    out = tmp_path / "video.png"
    args = ["show", "--source", "ref_sav", "--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "c")]
    assert main([*args, "--output", str(out)]) == 0
    text = capsys.readouterr().out
    assert "3 frames, 2 regions, 2 texts" in text
    picture = Image.open(out)
    assert picture.height < 400 and picture.width >= 640  # one strip of frames and a legend


def test_show_needs_an_image_or_a_source(capsys):
    assert main(["show", "--output", "x.png"]) == 2
    assert "give an image file, or --source" in capsys.readouterr().err


def test_info_counts_records_regions_and_empty_grid_regions(tmp_path, capsys):
    import json as _json

    from ..fakedata import osprey

    info = osprey.write(str(tmp_path / "data"), "osprey_short_form")
    entries = info["entries"]
    entries[0]["annotation"].append({"segmentation": [[1, 1, 2, 1, 2, 2]]})  # a 1-pixel triangle: 0 grid cells
    with open(info["json"], "w") as f:
        _json.dump(entries, f)
    args = ["info", "osprey_short_form", "--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "c")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "osprey_short_form/train: 6 records, 13 regions, 0 texts, 15 conversation turns" in text
    assert "image size (h x w): smallest 40x52, median 40x52, largest 40x52" in text
    assert "regions on 0 cells of the 16x16 grid (nearest): 1 of 13 checked (7.7%) e.g. 0/region2" in text
    from sa2va_hf import load_source, masks

    ds = load_source("osprey_short_form", tmp_path / "data", split="train", cache_dir=str(tmp_path / "c"))
    shares = sorted(100 * masks.decode(r["masks"][0]).mean() for rec in ds for r in rec["regions"])
    expected = f"smallest {shares[0]:.3g}%, median {np.median(shares):.3g}%, largest {shares[-1]:.3g}%"
    assert f"mask area, share of its image (13 masks): {expected}" in text
