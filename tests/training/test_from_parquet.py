"""Training from the Parquet export (``sa2va-hf export``, read back with ``datasets.load_dataset``) gives
the samples training from ``load_source`` gives: same plans, same ids, same pixels -- the mp4 of a video
source decoded from the bytes embedded in the export."""

from __future__ import annotations

import datasets
import numpy as np

from sa2va_hf import load_source
from sa2va_hf.export.parquet import export_sources
from sa2va_hf.training import Sa2VATrainingTransform

from .conftest import WRITERS


def test_parquet_export_trains_like_the_raw_files(tmp_path, processors):
    data, out = tmp_path / "data", tmp_path / "out"
    sources = ("refcoco", "osprey_detail_description", "ref_sav")
    for source in sources:
        WRITERS[source](str(data), source)
    export_sources(list(sources), data, out, cache_dir=str(tmp_path / "cache"), progress=False)
    t = Sa2VATrainingTransform(processors("qwen"), "v1")
    for source in sources:
        parquet = datasets.load_dataset(str(out), source, split="train")  # images and videos embedded
        ref = load_source(source, data, split="train", cache_dir=str(tmp_path / "cache"))
        assert len(parquet) == len(ref)
        for i in range(len(ref)):
            a, b = t(ref[i]), t(parquet[i])
            assert a["plan"] == b["plan"] and a["input_ids"] == b["input_ids"] and a["labels"] == b["labels"]
            if source == "ref_sav":
                assert parquet[i]["video"]["bytes"] and ref[i]["video"]["bytes"] is None
            for key in ("pixel_values", "g_pixel_values", "masks", "prompt_masks"):
                if key in a:
                    assert np.array_equal(a[key], b[key]), key
