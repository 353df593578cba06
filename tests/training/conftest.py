"""Fixtures of the training tests: records built by ``load_source`` from the fake native files, and processors."""

from __future__ import annotations

import os

import datasets
import pytest

from sa2va_hf import Sa2VAImageProcessor, Sa2VAProcessor, load_source, video_io

from ..fakedata import chat_univi, describe_anything, finetune, folder, gcg, llava, osprey, ref_sav, refcoco, refvos
from ..tokenizer_utils import make_tokenizer

datasets.disable_progress_bars()

WRITERS = {
    "osprey_conversation": osprey.write,
    "osprey_detail_description": osprey.write,
    "osprey_short_form": osprey.write,
    "osprey_part_level": osprey.write,
    "osprey_lvis_positive_negative": osprey.write,
    "refcoco": refcoco.write,
    "refcoco_plus": refcoco.write,
    "refcocog": refcoco.write,
    "gcg_refcocog": gcg.write,
    "gcg_grandf": gcg.write,
    "gcg_openpsg": gcg.write,
    "gcg_flickr": gcg.write,
    "llava_665k": llava.write,
    "describe_anything": describe_anything.write,
    "finetune": finetune.write,
    "folder": folder.write,
    "revos": refvos.write,
    "mevis": refvos.write,
    "ref_youtube_vos": refvos.write,
    "ref_sav": ref_sav.write,
    "chat_univi": chat_univi.write,
}
OWN_DATA = {"finetune", "folder"}  # data_dir is the dataset's own folder


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """``built(source, split="train")``: the source's fake data through ``load_source``, built once."""
    root = tmp_path_factory.mktemp("training-sources")
    cache: dict[tuple[str, str], datasets.Dataset] = {}

    def get(source: str, split: str = "train") -> datasets.Dataset:
        if (source, split) not in cache:
            data = os.path.join(root, source)
            if not os.path.isdir(data):
                WRITERS[source](data, source)
            cache[(source, split)] = load_source(source, data, split=split, cache_dir=os.path.join(root, "cache"))
        return cache[(source, split)]

    return get


@pytest.fixture(scope="session")
def processors():
    """``processors(flavour)``: a processor with the local tokenizer and template of that flavour."""
    cache = {}

    def get(flavour: str = "qwen") -> Sa2VAProcessor:
        if flavour not in cache:
            cache[flavour] = Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer(flavour), template=flavour)
        return cache[flavour]

    return get


@pytest.fixture
def decoded_frames(monkeypatch):
    """The frame indices each ``video_io.read_frames`` call asks a video file for, in call order."""
    calls = []
    real = video_io.read_frames

    def spy(video, indices=None, **kw):
        calls.append(None if indices is None else list(indices))
        return real(video, indices, **kw)

    monkeypatch.setattr(video_io, "read_frames", spy)
    return calls
