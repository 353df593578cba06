"""Export -> delete the raw folder -> load_dataset(OUT, NAME) with no project code gives the same records."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

from sa2va_hf import load_source
from sa2va_hf.cli import main
from sa2va_hf.data.schema import features, make_record, make_region
from sa2va_hf.export.parquet import MANIFEST, export_sources, write_split

from ..fakedata import describe_anything as fake_dam
from ..fakedata import gcg as fake_gcg
from ..fakedata import osprey as fake_osprey
from ..fakedata import ref_sav as fake_ref_sav
from ..fakedata import refcoco as fake_refcoco
from ..fakedata import refvos as fake_refvos
from ..fakedata._common import compressed_rle, frame_signature_image, write_mp4

datasets.disable_progress_bars()

SOURCES = {
    "osprey_conversation": fake_osprey.write,
    "refcoco": fake_refcoco.write,
    "gcg_flickr": fake_gcg.write,
    "describe_anything": fake_dam.write,
    "mevis": fake_refvos.write,  # a video of JPEG frames
    "ref_sav": fake_ref_sav.write,  # an mp4, embedded
}

# Runs in a fresh interpreter where importing sa2va_hf fails: only datasets reads the export.
READER = r"""
import hashlib, importlib.abc, json, sys
class NoProject(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] == "sa2va_hf":
            raise ImportError("no project code in this process")
sys.meta_path.insert(0, NoProject())
import datasets
datasets.disable_progress_bars()
out, name, streaming = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
dd = datasets.load_dataset(out, name, streaming=streaming)
result = {}
for split in dd:
    ds = dd[split].cast_column("frames", [datasets.Image(decode=False)])
    rows = []
    for rec in ds:
        frames = [hashlib.sha256(f["bytes"]).hexdigest() for f in rec.pop("frames")]
        video = rec.pop("video")
        video = None if video is None else hashlib.sha256(video["bytes"]).hexdigest()
        rows.append({**rec, "frames": frames, "video": video})
    result[split] = rows
print(json.dumps(result), flush=True)
# skip interpreter teardown: with streaming, a background thread of datasets' file system can abort
# the process at exit ("terminate called without an active exception"), after every record was read
import os
os._exit(0)
"""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _expected(dd) -> dict:
    """Every column of load_source's records, each frame and video as the sha256 of its file's bytes."""
    out = {}
    for split, ds in dd.items():
        rows = []
        for rec in ds.cast_column("frames", [datasets.Image(decode=False)]):
            frames = [
                _sha(f["bytes"] if f["bytes"] is not None else open(f["path"], "rb").read()) for f in rec.pop("frames")
            ]
            video = rec.pop("video")
            video = None if video is None else _sha(open(video["path"], "rb").read())
            rows.append({**rec, "frames": frames, "video": video})
        out[split] = rows
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    for source, writer in SOURCES.items():
        writer(str(root / "data"), source)
    expected = {s: _expected(load_source(s, root / "data", cache_dir=str(root / "cache"))) for s in SOURCES}
    export_sources(list(SOURCES), root / "data", root / "out", cache_dir=str(root / "cache"), progress=False)
    shutil.rmtree(root / "data")
    shutil.rmtree(root / "cache")
    return root / "out", expected


def _read_without_project(out, name, streaming=False) -> dict:
    r = subprocess.run(
        [sys.executable, "-c", READER, str(out), name, "1" if streaming else "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_the_export_loads_without_the_project_and_equals_load_source(exported, source):
    out, expected = exported
    assert _read_without_project(out, source) == json.loads(json.dumps(expected[source]))


@pytest.mark.parametrize("source", ["refcoco", "ref_sav"])
def test_streaming_the_export_gives_the_same_records(exported, source):
    out, expected = exported
    assert _read_without_project(out, source, streaming=True) == json.loads(json.dumps(expected[source]))


def test_the_card_names_every_config_split_count_and_licence(exported):
    out, expected = exported
    text = (out / "README.md").read_text()
    header = yaml.safe_load(text.split("---\n")[1])
    configs = {c["config_name"]: [f["split"] for f in c["data_files"]] for c in header["configs"]}
    assert configs == {s: list(expected[s]) for s in SOURCES}
    counts = {i["config_name"]: {sp["name"]: sp["num_examples"] for sp in i["splits"]} for i in header["dataset_info"]}
    assert counts == {s: {split: len(rows) for split, rows in expected[s].items()} for s in SOURCES}
    assert datasets.Features._from_yaml_list(header["dataset_info"][0]["features"]) == features()
    assert "cc-by-nc-4.0" in header["license"] and "apache-2.0" in header["license"]
    for needle in ("arXiv:2312.10032", "arXiv:2311.03356", "https://huggingface.co/datasets/AntGroup-MI/Osprey-724K"):
        assert needle in text
    citations = text.split("**BibTeX:**")[1].split("**APA:**")[0]
    cited = {line.split(":")[0]: line for line in citations.splitlines() if line.startswith("- `")}
    assert sorted(s for key in cited for s in key[2:].replace("`", "").split(", ")) == sorted(SOURCES)
    assert "arXiv:2312.10032" in cited["- `osprey_conversation`"]  # each source beside its own work
    assert "arXiv:2308.08544" in cited["- `mevis`"]


def test_features_metadata_is_readable_by_datasets_3_and_4(exported):
    out, _ = exported
    (path,) = (out / "refcoco").glob("val-*.parquet")
    meta = json.loads(pq.read_schema(path).metadata[b"huggingface"])["info"]["features"]
    assert meta["frames"] == [{"_type": "Image"}]  # a JSON list, not {"_type": "List"}: datasets 3.x has no List
    assert "List" not in json.dumps(meta)
    assert datasets.Features.from_dict(meta) == features()


def test_a_second_export_adds_to_the_folder_and_a_repeat_replaces(tmp_path):
    fake_osprey.write(str(tmp_path / "data"), "osprey_short_form")
    fake_refcoco.write(str(tmp_path / "data"), "refcocog")
    kw = dict(cache_dir=str(tmp_path / "cache"), progress=False)
    export_sources(["osprey_short_form"], tmp_path / "data", tmp_path / "out", **kw)
    export_sources(["refcocog"], tmp_path / "data", tmp_path / "out", max_shard_bytes=1, rows_per_group=1, **kw)
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert list(manifest) == ["osprey_short_form", "refcocog"]
    files = manifest["refcocog"]["train"]["files"]
    assert len(files) == 3 and re.fullmatch(r"refcocog/train-00000-of-00003-[0-9a-f]{16}\.parquet", files[0])
    export_sources(["refcocog"], tmp_path / "data", tmp_path / "out", **kw)
    names = sorted(os.listdir(tmp_path / "out" / "refcocog"))
    assert [re.sub(r"-[0-9a-f]{16}\.parquet$", "", name) for name in names] == [
        "test-00000-of-00001",
        "train-00000-of-00001",
        "val-00000-of-00001",
    ]
    dd = datasets.load_dataset(str(tmp_path / "out"), "refcocog")
    assert {s: len(d) for s, d in dd.items()} == {"train": 3, "val": 1, "test": 2}


def test_video_files_are_embedded_with_their_bytes(tmp_path):
    mp4 = write_mp4(str(tmp_path / "clips" / "v1.mp4"), [frame_signature_image(i, 32, 48) for i in range(8)])
    mask = frame_signature_image(0, 32, 48)[..., 0] > 0
    rle = compressed_rle(mask)
    rec = make_record(
        id="v1",
        source="ref_sav",
        video=mp4,
        frame_indices=[0, 4],
        height=32,
        width=48,
        regions=[make_region("0", [rle, None])],
    )
    ds = datasets.Dataset.from_list([rec], features=features())
    files, _ = write_split(ds, str(tmp_path / "out"), "train")
    table = pq.read_table(tmp_path / "out" / files[0])
    video = table.column("video").to_pylist()[0]
    assert video == {"bytes": open(mp4, "rb").read(), "path": "v1.mp4"}
    assert table.column("frame_indices").to_pylist() == [[0, 4]]


def test_a_missing_image_names_file_and_record(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_part_level")
    ds = load_source("osprey_part_level", tmp_path / "data", split="train", cache_dir=str(tmp_path / "cache"))
    os.remove(info["expected"]["train"][2]["frame"])
    with pytest.raises(ValueError, match=r"cannot embed the image file .* of record '2'"):
        write_split(ds, str(tmp_path / "out"), "train")


# ------------------------------------------------------------------ the command line


def test_bad_option_syntax_is_a_clear_error(tmp_path, capsys):
    assert main(["export", "gcg_flickr", "--output", str(tmp_path), "--option", "upstream_filters=false"]) == 2
    assert "--option must look like SOURCE.NAME=VALUE" in capsys.readouterr().err


def test_cli_convert_own_folder_under_its_name(tmp_path, capsys):
    from ..fakedata import folder as fake_folder

    fake_folder.write(str(tmp_path / "mine"))
    out = tmp_path / "out"
    assert main(["convert", "folder", str(tmp_path / "mine"), "--output", str(out), "--name", "my_kitchen",
                 "--cache-dir", str(tmp_path / "cache")]) == 0  # fmt: skip
    assert "my_kitchen/train: 2 records" in capsys.readouterr().out
    ds = datasets.load_dataset(str(out), "my_kitchen", split="train")
    assert ds["id"] == ["kitchen.png", "street.jpg"] and set(ds["source"]) == {"my_kitchen"}
    header = yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
    assert header["configs"][0]["config_name"] == "my_kitchen"
    assert header["license"] == "unknown"  # none given: the card says so, never another work's licence


@pytest.mark.parametrize("streaming", [False, True])
def test_split_dataset_by_node_shares_an_export_between_ranks(tmp_path, streaming):
    """Each of world_size ranks reads its own part of the export; together they read it all, once."""
    from datasets.distributed import split_dataset_by_node

    fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    export_sources(
        ["refcoco"], tmp_path / "data", tmp_path / "out", cache_dir=str(tmp_path / "c"), rows_per_group=1,
        max_shard_bytes=1, progress=False,
    )  # fmt: skip
    ds = datasets.load_dataset(str(tmp_path / "out"), "refcoco", split="train", streaming=streaming)
    parts = [[r["id"] for r in split_dataset_by_node(ds, rank=r, world_size=2)] for r in range(2)]
    assert not set(parts[0]) & set(parts[1]) and all(parts)
    assert sorted(parts[0] + parts[1]) == sorted(r["id"] for r in ds)
