"""An output folder written by someone else: its ``sa2va_export.json`` is data to check, and an export writes and
deletes only inside the folder it is given (``sa2va-hf export`` / ``convert --output OUT``)."""

from __future__ import annotations

import json
import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sa2va_hf.cli import main
from sa2va_hf.errors import Sa2VAError
from sa2va_hf.export.manifest import load_manifest
from sa2va_hf.export.parquet import MANIFEST, export_sources

from ..fakedata import folder as fake_folder
from ..fakedata import osprey as fake_osprey

# Fixed examples, no example database in the checkout, and no per-example deadline (no timing asserts).
PROPERTY = settings(max_examples=200, deadline=None, database=None, derandomize=True)


def _entry(config: str, split: str, files: list) -> dict:
    return {"config": config, "source": "folder", "split": split, "num_records": 1, "num_bytes": 1, "files": files}


def _plant(out, manifest) -> None:
    os.makedirs(out, exist_ok=True)
    (out / MANIFEST).write_text(json.dumps(manifest) if not isinstance(manifest, str) else manifest)


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "victim.txt"
    path.write_text("keep me")
    return path


@pytest.fixture
def own_data(tmp_path):
    fake_folder.write(str(tmp_path / "mine"))
    return tmp_path / "mine"


def _convert(own_data, out, tmp_path, capsys) -> tuple[int, str]:
    code = main(["convert", "folder", str(own_data), "--output", str(out), "--cache-dir", str(tmp_path / "cache")])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "listed",
    [
        lambda victim: "../victim.txt",
        lambda victim: str(victim),  # absolute
        lambda victim: "folder/../../victim.txt",
        lambda victim: "folder/train-00000-of-00001.parquet/../../../victim.txt",
    ],
    ids=["climbing", "absolute", "climbing_from_the_config", "through_a_shard_name"],
)
def test_a_planted_manifest_deletes_nothing_outside_the_folder(own_data, tmp_path, victim, capsys, listed):
    out = tmp_path / "out"
    _plant(out, {"folder": {"train": _entry("folder", "train", [listed(victim)])}})
    code, err = _convert(own_data, out, tmp_path, capsys)
    assert code == 2 and "sa2va_export.json' cannot be used" in err and "files must be the split's own shards" in err
    assert victim.read_text() == "keep me"


def test_a_planted_manifest_cannot_delete_through_a_symlinked_config_folder(own_data, tmp_path, capsys):
    """The listing is an export's own, but OUT/folder is a link to a folder elsewhere."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "train-00000-of-00001.parquet").write_text("keep me")
    out = tmp_path / "out"
    _plant(out, {"folder": {"train": _entry("folder", "train", ["folder/train-00000-of-00001.parquet"])}})
    os.symlink(elsewhere, out / "folder")
    code, err = _convert(own_data, out, tmp_path, capsys)
    assert code == 2 and "leads out of the output folder" in err
    assert os.listdir(elsewhere) == ["train-00000-of-00001.parquet"]
    assert (elsewhere / "train-00000-of-00001.parquet").read_text() == "keep me"


def test_a_card_or_manifest_linked_outside_is_not_written_through(own_data, tmp_path, victim, capsys):
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / "README.md")
    code, err = _convert(own_data, out, tmp_path, capsys)
    assert code == 2 and "README.md' leads out of the output folder" in err
    assert victim.read_text() == "keep me"


@pytest.mark.parametrize("name", ["../escaped", "a/b", "..", "x\\y"])
def test_an_exported_name_is_one_folder_inside_the_output(own_data, tmp_path, capsys, name):
    out = tmp_path / "out"
    code = main(["convert", "folder", str(own_data), "--output", str(out), "--name", name,
                 "--cache-dir", str(tmp_path / "cache")])  # fmt: skip
    assert code == 2 and "is not a plain folder name" in capsys.readouterr().err
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", r"it is not valid JSON \(JSONDecodeError"),
        (b"\xff\xfe{}", r"it is not valid JSON \(UnicodeDecodeError"),
        ("[]", r"expected an object of configs, got list"),
        ('{"folder": []}', r"config 'folder' must map splits to entries"),
        ('{"folder": {"train": {"files": []}}}', r"config 'folder', split 'train' must hold exactly"),
        ('{"../x": {}}', r"config '../x' is not a plain folder name"),
    ],
)
def test_a_corrupt_manifest_is_a_named_error(tmp_path, content, match):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(Sa2VAError, match=r"sa2va_export\.json' cannot be used \(delete it.*: " + match):
        load_manifest(str(out))


def test_an_exports_own_manifest_is_read_back_and_replaced(tmp_path):
    fake = fake_osprey.write(str(tmp_path / "data"), "osprey_short_form")
    kw = dict(cache_dir=str(tmp_path / "cache"), progress=False)
    export_sources(["osprey_short_form"], tmp_path / "data", tmp_path / "out", **kw)
    manifest = load_manifest(str(tmp_path / "out"))
    [old] = manifest["osprey_short_form"]["train"]["files"]
    assert re.fullmatch(r"osprey_short_form/train-00000-of-00001-[0-9a-f]{16}\.parquet", old)
    with open(fake["json"], "w") as f:  # new content, a new shard name: the old shard goes
        json.dump(fake["entries"][:1], f)
    export_sources(["osprey_short_form"], tmp_path / "data", tmp_path / "out", **kw)
    [new] = load_manifest(str(tmp_path / "out"))["osprey_short_form"]["train"]["files"]
    assert new != old and os.listdir(tmp_path / "out" / "osprey_short_form") == [new.split("/")[1]]


# ------------------------------------------------------------------ property: whatever it says, nothing outside

_parts = st.sampled_from(["folder", "train", "..", ".", "", "/", "x", "train-00000-of-00001.parquet", "\\", "\x00"])
_paths = st.lists(_parts, min_size=1, max_size=6).map("/".join) | st.text(max_size=40)
_entries = st.fixed_dictionaries(
    {"config": st.sampled_from(["folder", "x"]), "source": st.just("folder"), "split": st.sampled_from(["train", "t"]),
     "num_records": st.integers(-1, 3), "num_bytes": st.integers(0, 3), "files": st.lists(_paths, max_size=3)}
)  # fmt: skip
_manifests = st.dictionaries(
    st.sampled_from(["folder", "x", "..", "a/b", ""]),
    st.dictionaries(st.sampled_from(["train", "t", "../t"]), _entries),
)


@PROPERTY
@given(manifest=_manifests)
def test_any_manifest_is_refused_or_lists_only_shards_inside_their_folder(tmp_path_factory, manifest):
    out = tmp_path_factory.mktemp("out")
    (out / MANIFEST).write_text(json.dumps(manifest))
    try:
        loaded = load_manifest(str(out))
    except Sa2VAError as e:
        assert "sa2va_export.json' cannot be used" in str(e)
        return
    root = os.path.realpath(out)
    for config, splits in loaded.items():
        for split, entry in splits.items():
            for rel in entry["files"]:
                path = os.path.realpath(os.path.join(out, *rel.split("/")))
                assert os.path.dirname(path) == os.path.join(root, config)
                assert os.path.basename(path).startswith(f"{split}-") and path.endswith(".parquet")


def test_a_shard_name_may_end_in_its_digest(tmp_path):
    """Shards named after their sha256 (``train-00000-of-00001-<16 hex digits>.parquet``) are an export's own."""
    out = tmp_path / "out"
    files = ["folder/train-00000-of-00001-0123456789abcdef.parquet"]
    _plant(out, {"folder": {"train": _entry("folder", "train", files)}})
    assert load_manifest(str(out))["folder"]["train"]["files"] == files
    _plant(out, {"folder": {"train": {**_entry("folder", "train", files), "card": {"license": "mit"}}}})
    assert load_manifest(str(out))["folder"]["train"]["card"] == {"license": "mit"}  # what convert --license wrote
    _plant(out, {"folder": {"train": {**_entry("folder", "train", files), "card": {"owner": 1}}}})
    with pytest.raises(Sa2VAError, match=r"card must map \['pretty_name'"):
        load_manifest(str(out))
    _plant(out, {"folder": {"train": _entry("folder", "train", ["folder/train-00000-of-00001-../x.parquet"])}})
    with pytest.raises(Sa2VAError, match=r"files must be the split's own shards"):
        load_manifest(str(out))


def test_an_output_that_is_a_file_is_refused_before_anything_is_built(tmp_path):
    (tmp_path / "out").write_text("a file")
    for output in (tmp_path / "out", tmp_path / "out" / "inside"):
        with pytest.raises(Sa2VAError, match=r"output '.*out.*' is (a file|inside the file)"):
            export_sources(["folder"], tmp_path / "no data here", output)
