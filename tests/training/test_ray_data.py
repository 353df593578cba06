"""Ray Data: the export read with ray.data.read_parquet, the training transform in map_batches on Ray's
workers, collated batches out -- the same samples as the transform gives in-process (a local Ray instance)."""

from __future__ import annotations

import numpy as np
import pytest

from sa2va_hf.errors import Sa2VAError
from sa2va_hf.export.parquet import export_sources
from sa2va_hf.training import Sa2VACollator, Sa2VATrainingTransform

from .conftest import WRITERS

ray = pytest.importorskip("ray", reason="the Ray extra is not installed (make test-ray installs it)")
from sa2va_hf.training.ray_data import collated_batches, read_export, training_samples  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_pipeline_gives_the_transforms_samples(local_ray, tmp_path, processors):
    data, out = tmp_path / "data", tmp_path / "out"
    for source in ("refcoco", "osprey_detail_description"):
        WRITERS[source](str(data), source)
    export_sources(["refcoco", "osprey_detail_description"], data, out, cache_dir=str(tmp_path / "c"), progress=False)
    transform = Sa2VATrainingTransform(processors("qwen"), "v2", seed=3)
    transform.set_epoch(1)
    for source in ("refcoco", "osprey_detail_description"):
        records = read_export(out, source, split="train")
        samples = training_samples(records, transform, batch_size=2)
        batches = list(collated_batches(samples, batch_size=2, collator=Sa2VACollator(return_plans=True)))
        got = {plan["id"]: (batch, k) for batch in batches for k, plan in enumerate(batch["plans"])}
        local = {r["id"]: transform(r) for r in records.take_all()}
        assert set(got) == set(local) and len(local) == records.count()
        for rid, sample in local.items():
            batch, k = got[rid]
            ids = batch["input_ids"][k][batch["attention_mask"][k]].tolist()
            assert ids == list(sample["input_ids"]) and sample["plan"]["epoch"] == 1
        pixels = np.concatenate([b["pixel_values"].numpy() for b in batches])
        assert pixels.shape[1:] == (3, 448, 448) and pixels.shape[0] == sum(
            len(s["pixel_values"]) for s in local.values()
        )


def test_read_export_names_what_the_export_holds(tmp_path):
    WRITERS["refcoco"](str(tmp_path / "data"), "refcoco")
    export_sources(["refcoco"], tmp_path / "data", tmp_path / "out", cache_dir=str(tmp_path / "c"), progress=False)
    with pytest.raises(
        Sa2VAError, match=r"no 'refcoco' / 'nope'; it holds \{'refcoco': \['testA', 'testB', 'train', 'val'\]\}"
    ):
        read_export(tmp_path / "out", "refcoco", split="nope")
    with pytest.raises(Sa2VAError, match="not an sa2va-hf export"):
        read_export(tmp_path / "data", "refcoco")


def test_read_export_finds_the_shards_without_trusting_the_manifest(tmp_path):
    """An edited sa2va_export.json (corrupt, or listing files elsewhere) neither fails the read nor redirects it."""
    WRITERS["refcoco"](str(tmp_path / "data"), "refcoco")
    export_sources(["refcoco"], tmp_path / "data", tmp_path / "out", cache_dir=str(tmp_path / "c"), progress=False)
    expected = read_export(tmp_path / "out", "refcoco", split="val").count()
    (tmp_path / "out" / "sa2va_export.json").write_text('{"refcoco": {"val": {"files": ["../../etc/x.parquet"]}}')
    assert read_export(tmp_path / "out", "refcoco", split="val").count() == expected == 1
    with pytest.raises(Sa2VAError, match=r"config '\.\./data' is not a name of the export's"):
        read_export(tmp_path / "out", "../data")
    (shard,) = (tmp_path / "out" / "refcoco").glob("val-*.parquet")  # a name ending in the file's digest
    shard.rename(shard.with_name("val-00000-of-00001-0123456789abcdef.parquet"))
    assert read_export(tmp_path / "out", "refcoco", split="val").count() == 1
