"""The command line: demo and show write a picture of tiles and the prompt grid."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from sa2va_hf import masks
from sa2va_hf.cli import main
from sa2va_hf.cli.scene import make_scene


def test_demo_writes_png(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert main(["demo", "--output", str(out)]) == 0
    picture = Image.open(out)
    assert picture.format == "PNG" and picture.width > 800
    text = capsys.readouterr().out
    assert "tiles: 7" in text and "region house" in text and "region sun" in text


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
    from .fakedata import refcoco

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


def test_bench_runs_and_checks_outputs_before_timing(capsys):
    """A smoke test: every row prints (no timing is asserted; the numbers are the README's)."""
    assert main(["bench", "--quick", "--repeat", "1"]) == 0
    text = capsys.readouterr().out
    for row in ("vs upstream", "vs its floor", "torch backend", "GotOcr2", "prompt grid from RLE (pool)",
                "waits for the training transform"):  # fmt: skip
        assert row in text, row
    assert "outputs differ" not in text
