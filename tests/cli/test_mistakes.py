"""A user's mistake on the command line is one line on stderr, saying what to do, and exit status 2.

Each case is a wrong call of the kind a hostile-input campaign makes (a wrong number, split, source, option,
a path of the wrong kind, a missing file, bad input data, the Hub offline), run in-process through ``main``.
``{data}`` is a RefCOCO ``data/`` root, ``{own}`` a ``folder`` dataset, ``{file}`` a text file, ``{image}``
a JPEG, ``{ckpt}`` a checkpoint folder; none of the cases builds anything that would succeed.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from sa2va_hf.cli import main

from ..fakedata import folder, refcoco
from ..tokenizer_utils import make_tokenizer

MISTAKES = [
    ([], "the following arguments are required: COMMAND"),
    (["shwo"], "invalid choice: 'shwo' (choose from 'demo', 'show', 'build', 'info', 'export'"),
    (["shwo"], "did you mean 'show'?"),
    (["info", "refcoco", "--data-dri", "{data}"], "unrecognized arguments: --data-dri {data}; did you mean '--data-dir'?"),
    (["info", "refcoco", "extra"], "unrecognized arguments: extra"),
    (["build", "refcoc"], "unknown source 'refcoc'; did you mean 'refcoco'?"),
    (["show", "--source", "refcoc"], "did you mean 'refcoco'?"),
    (["convert", "foldr", "{own}", "--output", "{out}"], "did you mean 'folder'?"),
    (["show", "{image}", "--mode", "poool"], "did you mean 'pool'?"),
    (["info", "refcoco", "--num-proc", "0"], "argument --num-proc: must be 1 or more, got '0'"),
    (["info", "refcoco", "--num-proc", "two"], "argument --num-proc: must be a whole number, got 'two'"),
    (["build", "refcoco", "--num-proc", "1.5"], "must be a whole number, got '1.5'"),
    (["info", "refcoco", "--mask-records", "-1"], "argument --mask-records: must be 0 or more"),
    (["export", "refcoco", "--output", "{out}", "--max-shard-mb", "0"], "argument --max-shard-mb: must be 1 or more"),
    (["bench", "--repeat", "0"], "argument --repeat: must be 1 or more"),
    (["info", "folder", "--data-dir", "{own}", "--split", "validation"], "source 'folder' has no split 'validation'"),
    (["info", "refcoco", "--data-dir", "{data}", "--split", "tran"], "has no split 'tran'; did you mean 'train'?"),
    (["show", "--source", "folder", "--data-dir", "{own}", "--split", "val"], "source 'folder' has no split 'val'"),
    (["export", "folder", "--data-dir", "{own}", "--output", "{out}", "--option", "folder.nme=x"], "did you mean 'name'?"),
    (["export", "refcoco", "--output", "{out}", "--option", "refcoco.x=1"], "for source 'refcoco' (it takes no options)"),
    (["export", "refcoco", "--output", "{out}", "--option", "bad"], "--option must look like SOURCE.NAME=VALUE"),
    (["export", "refcoco", "--output", "{out}", "--name", "x"], "describe one source of your own data"),
    (["show", "{image}", "--output", "x.txt"], "'x.txt' is not a picture file name Pillow can write; end it with .png"),
    (["show", "{image}", "--output", "{file}"], "is not a picture file name"),
    (["show", "{image}", "--output", "{tmp}/nowhere/x.png"], "nowhere' is not there"),
    (["demo", "--output", "demo.txt"], "'demo.txt' is not a picture file name"),
    (["show", "{tmp}/missing.jpg"], "missing.jpg' is not there; give a file"),
    (["show", "{file}", "--output", "{out}.png"], "cannot be decoded"),
    (["show", "{image}", "--mask", "{tmp}/missing.png"], "missing.png' is not there"),
    (["show", "{image}", "--mask", "{small_png}", "--output", "{out}.png"], "is 10x10 but"),
    (["show", "{image}", "--mask", "{jpeg_as_png}", "--output", "{out}.png"], "is a JPEG file, not a PNG"),
    (["show", "{image}", "--mask", "{bad_json}", "--output", "{out}.png"], "is not JSON"),
    (["show"], "give an image file, or --source"),
    (["show", "{image}", "--source", "refcoco"], "give an image file, or --source"),
    (["show", "--source", "refcoco", "--data-dir", "{data}", "--index", "99"], "--index 99 is outside the split's 3 records"),
    (["show", "--source", "refcoco", "--index", "-1"], "argument --index: must be 0 or more"),
    (["build", "refcoco", "--cache-dir", "{file}"], "argument --cache-dir: folder '{file}' is a file; give a folder"),
    (["build", "refcoco", "--cache-dir", "{file}/x"], "is inside the file"),
    (["build", "refcoco", "--data-dir", "{tmp}/missing"], "missing' is not a directory"),
    (["build", "refcoco", "--data-dir", "{file}"], "is not a directory"),
    (["info", "folder", "--data-dir", "{data}"], "not found (data_dir is the dataset folder)"),
    (["info", "refcoco", "--data-dir", "{own}"], "REFER pickle not found"),
    (["export", "refcoco", "--data-dir", "{data}", "--output", "{file}"], "argument --output: folder '{file}' is a file"),
    (["export", "refcoco"], "the following arguments are required: --output"),
    (["export", "folder", "--data-dir", "{own}", "--output", "{out}", "--citation", "@{tmp}/x.bib"], "cannot be read"),
    (["convert", "folder", "{tmp}/missing", "--output", "{out}"], "missing' is not there; give a folder"),
    (["convert", "folder", "{own}", "--output", "{file}"], "is a file; give a folder"),
    (["convert", "folder", "{own}", "--output", "{out}", "--mask-frame", "shown"], "invalid choice: 'shown'"),
    (["convert", "finetune", "{own}", "--output", "{out}"], "annotations.json (data_dir is the dataset folder) not found"),
    (["push", "refcoco", "--repo", "me/x"], "HF_HUB_OFFLINE is set"),
    (["push", "refcoco", "--repo", "not a repo"], "is not a Hub repository id"),
    (["push", "refcoco", "--repo", "me/x", "--output", "{file}"], "is a file"),
    (["push-processor", "{ckpt}", "--repo", "me/x"], "HF_HUB_OFFLINE is set"),
    (["save-processor", "{tmp}/missing", "--output", "{out}"], "is not a local folder and could not be fetched"),
    (["save-processor", "{ckpt}", "--output", "{file}"], "is a file"),
    (["save-processor", "{ckpt}", "--output", "{out}", "--template", "phi4"], "unknown chat template 'phi4'"),
    (["demo", "--workdir", "{file}"], "argument --workdir: folder '{file}' is a file"),
    (["bench", "--images", "{tmp}/missing.jpg"], "missing.jpg' is not there"),
    (["bench", "--images", "{file}", "--repeat", "1"], "cannot identify image file"),
    (["bench", "--data", "{file}"], "is a file; give a folder"),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mistakes")
    refcoco.write(str(tmp / "data"), "refcoco")
    folder.write(str(tmp / "own"))
    (tmp / "afile.txt").write_text("not an image")
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(tmp / "image.jpg")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp / "small.png")
    shutil.copy(tmp / "image.jpg", tmp / "jpeg.png")
    (tmp / "bad.json").write_text("{nope")
    make_tokenizer("phi3").save_pretrained(tmp / "ckpt")
    config = {"architectures": ["Sa2VAChatModel"], "model_type": "sa2va_chat", "template": "phi3_chat"}
    (tmp / "ckpt" / "config.json").write_text(json.dumps(config))
    return {
        "tmp": str(tmp), "data": str(tmp / "data"), "own": str(tmp / "own"), "file": str(tmp / "afile.txt"),
        "image": str(tmp / "image.jpg"), "small_png": str(tmp / "small.png"), "jpeg_as_png": str(tmp / "jpeg.png"),
        "bad_json": str(tmp / "bad.json"), "ckpt": str(tmp / "ckpt"), "out": str(tmp / "out"),
    }  # fmt: skip


@pytest.mark.parametrize(("argv", "said"), MISTAKES, ids=[" ".join(argv) or "(nothing)" for argv, _ in MISTAKES])
def test_a_mistake_is_one_line_and_exit_status_2(argv, said, places, tmp_path, capsys, monkeypatch):
    import sys

    import datasets  # noqa: F401 - its progress-bar switch below
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    # a build's bars go to stderr too (the command line shows them only for steps that last)
    monkeypatch.setattr(sys.modules["datasets.utils.tqdm"], "_hf_datasets_progress_bars_disabled", True)
    monkeypatch.chdir(tmp_path)  # relative outputs land here
    argv = [arg.format(**places) for arg in argv]
    if "--cache-dir" not in argv and argv[:1] in (["info"], ["build"], ["export"], ["convert"], ["show"]):
        argv += ["--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("sa2va-hf"), err  # one line, ours
    assert "Traceback" not in err and said.format(**places) in err


def test_the_console_script_exits_with_status_2(tmp_path):
    """What the shell sees: ``python -m sa2va_hf.cli`` is the ``sa2va-hf`` script (``sys.exit(main())``)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "sa2va_hf.cli", "info", "refcoco", "--num-proc", "0"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--num-proc: must be 1 or more" in proc.stderr
