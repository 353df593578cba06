"""The export's dataset card: the Hub's template, the user's own name / licence / citation for their data,
a snippet that loads what it shows; and a re-export is never read back stale from the datasets cache."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import datasets
import pytest
import yaml
from huggingface_hub import DatasetCard
from huggingface_hub.repocard import TEMPLATE_DATASETCARD_PATH

from sa2va_hf.cli import main
from sa2va_hf.errors import Sa2VAError
from sa2va_hf.export.parquet import MANIFEST, export_sources

from ..fakedata import folder as fake_folder
from ..fakedata import refcoco as fake_refcoco

datasets.disable_progress_bars()

SA2VA_CITATION = "arXiv:2501.04001"
CITATION = "@misc{me2026cars,\n  title = {My cars},\n  year = {2026}\n}"


def _convert(tmp_path, *extra: str, output: str = "out/my_cars") -> int:
    return main(["convert", "folder", str(tmp_path / "mine"), "--output", output, "--cache-dir",
                 str(tmp_path / "cache"), *extra])  # fmt: skip


def _header(card: str) -> dict:
    return yaml.safe_load(card.split("---\n")[1])


@pytest.mark.parametrize("streaming", [False, True])
def test_a_re_export_with_a_same_length_edit_reads_back_the_new_rows(tmp_path, monkeypatch, streaming):
    """datasets keys its cache of a local folder on the card's YAML and the folder's name: an edit that
    keeps every size and count would be read back stale, unless the YAML changes with the content."""
    monkeypatch.chdir(tmp_path)
    fake_folder.write(str(tmp_path / "mine"))
    assert _convert(tmp_path, "--name", "my_cars") == 0
    before = datasets.load_dataset("out/my_cars", "my_cars", split="train")  # fills the (run's private) cache
    assert before[0]["texts"][0]["text"] == "the kettle"
    manifest = json.loads((tmp_path / "out/my_cars" / MANIFEST).read_text())
    texts = json.loads((tmp_path / "mine/texts.json").read_text())
    texts["kitchen.png"]["kettle"] = ["the KETTLE"]  # same length, same counts: only the bytes differ
    (tmp_path / "mine/texts.json").write_text(json.dumps(texts))
    assert _convert(tmp_path, "--name", "my_cars") == 0
    again = json.loads((tmp_path / "out/my_cars" / MANIFEST).read_text())
    assert again["my_cars"]["train"]["num_bytes"] == manifest["my_cars"]["train"]["num_bytes"]
    assert again["my_cars"]["train"]["files"] != manifest["my_cars"]["train"]["files"]
    after = datasets.load_dataset("out/my_cars", "my_cars", split="train", streaming=streaming)
    assert next(iter(after))["texts"][0]["text"] == "the KETTLE"
    assert sorted(os.listdir(tmp_path / "out/my_cars/my_cars")) == [
        os.path.basename(f) for f in again["my_cars"]["train"]["files"]
    ]


def test_an_unchanged_re_export_keeps_its_file_names(tmp_path, monkeypatch):
    """The names follow the bytes, not the run: a repeat hits the datasets cache it filled."""
    monkeypatch.chdir(tmp_path)
    fake_folder.write(str(tmp_path / "mine"))
    assert _convert(tmp_path) == 0
    first = json.loads((tmp_path / "out/my_cars" / MANIFEST).read_text())
    assert _convert(tmp_path) == 0
    assert json.loads((tmp_path / "out/my_cars" / MANIFEST).read_text()) == first


def test_own_data_card_names_the_users_dataset_licence_and_citation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_folder.write(str(tmp_path / "mine"))
    (tmp_path / "cars.bib").write_text(CITATION)
    assert _convert(tmp_path, "--name", "my_cars", "--pretty-name", "My Cars", "--license", "cc-by-4.0",
                    "--description", "Cars in my street, one mask each.", "--citation", "@cars.bib") == 0  # fmt: skip
    card = (tmp_path / "out/my_cars/README.md").read_text()
    header = _header(card)
    assert header["pretty_name"] == "My Cars" and header["license"] == "cc-by-4.0"
    assert header["task_categories"] == ["image-segmentation"] and header["size_categories"] == "n<1K"
    assert "# Dataset Card for My Cars" in card and "Cars in my street, one mask each." in card
    assert CITATION in card.split("**BibTeX:**")[1]
    # nothing of another work's: not Sa2VA's title, citation or homepage
    for other in (SA2VA_CITATION, "Sa2VA training sources", "github.com/bytedance/Sa2VA"):
        assert other not in card
    assert "load_dataset('out/my_cars', 'my_cars', split='train')" in card


def test_own_licence_outside_the_hubs_list_is_other_with_its_name(tmp_path):
    fake_folder.write(str(tmp_path / "mine"))
    assert _convert(tmp_path, "--license", "Our Lab Terms v2", output=str(tmp_path / "out")) == 0
    card = (tmp_path / "out/README.md").read_text()
    header = _header(card)
    assert (header["license"], header["license_name"]) == ("other", "our-lab-terms-v2")
    assert "Our Lab Terms v2" in card and header["pretty_name"] == "folder"


def test_the_card_is_the_hubs_template_filled_in(tmp_path):
    fake_folder.write(str(tmp_path / "mine"))
    assert _convert(tmp_path, output=str(tmp_path / "out")) == 0
    card = DatasetCard.load(tmp_path / "out/README.md")  # what the Hub parses
    assert card.data.pretty_name == "folder" and card.data.license == "unknown"
    template = open(TEMPLATE_DATASETCARD_PATH, encoding="utf-8").read()
    headings = re.findall(r"^#{2,4} .+$", template, flags=re.M)
    positions = [card.text.find(f"\n{h}\n") for h in headings]
    assert -1 not in positions and positions == sorted(positions), headings


def test_the_snippet_on_the_card_loads_the_export_and_decodes_its_masks_without_sa2va_hf(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_folder.write(str(tmp_path / "mine"))
    assert _convert(tmp_path, "--name", "my_cars") == 0
    card = (tmp_path / "out/my_cars/README.md").read_text()
    snippet = "\n".join(re.findall(r"```python\n(.*?)```", card.split("### Direct Use")[1], flags=re.S))
    code = (
        "import importlib.abc, sys\n"
        "class NoProject(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'sa2va_hf':\n"
        "            raise ImportError('no project code in this process')\n"
        "sys.meta_path.insert(0, NoProject())\n"
        f"{snippet}\n"
        "print(record['id'], image.size, [m.shape for m in masks], int(sum(m.sum() for m in masks)))\n"
        "import os; os._exit(0)  # a streaming reader's thread can abort the interpreter's teardown\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    kettle, mug = fake_folder.blob(30, 40, 1), fake_folder.blob(30, 40, 2)
    assert r.stdout.split("\n")[-2] == f"kitchen.png (40, 30) [(30, 40), (30, 40)] {int(kettle.sum() + mug.sum())}"


def test_card_fields_belong_to_own_data_only(tmp_path):
    fake_refcoco.write(str(tmp_path / "data"), "refcoco")
    with pytest.raises(Sa2VAError, match="'refcoco' is an upstream source: its card keeps its publisher's"):
        export_sources(["refcoco"], tmp_path / "data", tmp_path / "out", card={"refcoco": {"license": "mit"}})
    with pytest.raises(Sa2VAError, match=r"unknown dataset-card field\(s\) \['licence'\]"):
        export_sources(["folder"], tmp_path / "data", tmp_path / "out", card={"folder": {"licence": "mit"}})
    assert not (tmp_path / "out").exists()  # refused before any build
