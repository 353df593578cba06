"""The loading scripts on datasets 3.x (``make test-datasets3``; datasets >= 4 runs no scripts).

Each family's script gives, through ``datasets.load_dataset``, the same records as ``load_source``,
and an edited annotation file is rebuilt (the builder keys its cache on the input files, not only
on the script).
"""

from __future__ import annotations

import json
import os

import datasets
import pytest

from sa2va_hf import load_source
from sa2va_hf.data.catalog import catalog

from ..fakedata import chat_univi as fake_chat_univi
from ..fakedata import describe_anything as fake_dam
from ..fakedata import finetune as fake_finetune
from ..fakedata import folder as fake_folder
from ..fakedata import gcg as fake_gcg
from ..fakedata import llava as fake_llava
from ..fakedata import osprey as fake_osprey
from ..fakedata import ref_sav as fake_ref_sav
from ..fakedata import refcoco as fake_refcoco
from ..fakedata import refvos as fake_refvos
from .source_case import tables

pytestmark = pytest.mark.skipif(
    int(datasets.__version__.split(".")[0]) >= 4,
    reason="datasets >= 4 runs no loading scripts; `make test-datasets3` runs these on datasets 3.6",
)

SCRIPTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "loading_scripts")
ONE_PER_FAMILY = {
    "osprey_detail_description": fake_osprey.write,
    "refcocog": fake_refcoco.write,
    "gcg_flickr": fake_gcg.write,
    "describe_anything": fake_dam.write,
    "mevis": fake_refvos.write,  # JPEG-frame videos, three splits (valid without masks)
    "ref_sav": fake_ref_sav.write,  # an mp4 per record, frame_indices
    "chat_univi": fake_chat_univi.write,  # an mp4 per record, every frame indexed
    "llava_665k": fake_llava.write,  # text-only records among them
    "finetune": fake_finetune.write,  # own data: data_dir is the dataset's folder
    "folder": fake_folder.write,
}


def _script(source: str) -> str:
    return os.path.join(SCRIPTS, f"{catalog()[source].family}.py")


@pytest.mark.parametrize("source", sorted(ONE_PER_FAMILY))
def test_a_loading_script_gives_the_records_of_load_source(tmp_path, source):
    ONE_PER_FAMILY[source](str(tmp_path / "data"), source)
    via_script = datasets.load_dataset(
        _script(source), source, data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "c1"), trust_remote_code=True
    )
    ours = load_source(source, tmp_path / "data", cache_dir=str(tmp_path / "c2"))
    assert list(via_script) == list(ours)
    for split in ours:
        assert tables(via_script[split]) == tables(ours[split])


def test_an_edited_annotation_file_is_rebuilt(tmp_path):
    info = fake_osprey.write(str(tmp_path / "data"), "osprey_conversation")
    kwargs = dict(data_dir=str(tmp_path / "data"), cache_dir=str(tmp_path / "c"), trust_remote_code=True)
    first = datasets.load_dataset(_script("osprey_conversation"), "osprey_conversation", split="train", **kwargs)
    entries = info["entries"]
    entries[0]["conversations"][1]["value"] = "changed"
    with open(info["json"], "w") as f:
        json.dump(entries, f)
    again = datasets.load_dataset(_script("osprey_conversation"), "osprey_conversation", split="train", **kwargs)
    assert first[0]["conversations"][1]["value"] != "changed"
    assert again[0]["conversations"][1]["value"] == "changed"


def test_a_source_option_passes_through_the_script(tmp_path):
    fake_gcg.write(str(tmp_path / "data"), "gcg_flickr")
    ds = datasets.load_dataset(
        _script("gcg_flickr"),
        "gcg_flickr",
        split="train",
        upstream_filters=False,
        data_dir=str(tmp_path / "data"),
        cache_dir=str(tmp_path / "c"),
        trust_remote_code=True,
    )
    assert sorted(ds["id"]) == ["1", "2", "3", "4", "5"]
