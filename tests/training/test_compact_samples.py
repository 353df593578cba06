"""``compact_samples=True``: samples carry uint8 tiles and checked RLEs; the collator's batch is bit for bit the
default one -- in the process that uses it, and through ``DataLoader`` workers, where the tiles cross as uint8
in shared memory and the masks as RLE, finished when the main process unpickles the batch."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from datasets import concatenate_datasets

from sa2va_hf import FAMILIES, Sa2VAProcessor
from sa2va_hf.errors import MaskFormatError
from sa2va_hf.training import Sa2VACollator, Sa2VATrainingTransform, lazy_frames
from sa2va_hf.training import collator as collator_module
from sa2va_hf.training.compact import CompactMasks, CompactTiles, Finish

from ..tokenizer_utils import make_tokenizer

SOURCES = ("osprey_conversation", "refcoco", "gcg_grandf", "llava_665k", "describe_anything", "revos", "ref_sav",
           "chat_univi")  # fmt: skip
LOADER_TIMEOUT = 60


@pytest.fixture(scope="module")
def mix(built):
    return lazy_frames(concatenate_datasets([built(s) for s in SOURCES]))


def assert_same_batch(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert isinstance(b[key], torch.Tensor) and a[key].dtype == b[key].dtype, key
            assert torch.equal(a[key], b[key]), key
        elif key in ("masks", "prompt_masks"):
            assert len(a[key]) == len(b[key]), key
            for x, y in zip(a[key], b[key]):
                assert x.dtype == y.dtype and torch.equal(x, y), key
        else:
            assert a[key] == b[key], key


def kept_and_transforms(mix, processor, recipe, seed=1):
    default = Sa2VATrainingTransform(processor, recipe, seed=seed)
    compact = Sa2VATrainingTransform(processor, recipe, seed=seed, compact_samples=True)
    kept, _ = default.filter(mix)
    return kept, default, compact


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_compact_samples_collate_to_the_default_batch(mix, processors, recipe):
    kept, default, compact = kept_and_transforms(mix, processors("qwen"), recipe)
    collate = Sa2VACollator(return_plans=True, seg_token_id=processors("qwen").tokenizer.convert_tokens_to_ids("[SEG]"))
    samples = [(default(kept[i]), compact(kept[i])) for i in range(len(kept))]
    seen = set()
    for d, c in samples:
        assert isinstance(c["pixel_values"], CompactTiles) and c["pixel_values"].tiles.dtype == np.uint8
        np.testing.assert_array_equal(np.asarray(c["pixel_values"]).view(np.uint32), d["pixel_values"].view(np.uint32))
        assert c["pixel_values"].shape == d["pixel_values"].shape and len(c["pixel_values"]) == len(d["pixel_values"])
        if d.get("masks") is not None:
            assert isinstance(c["masks"], CompactMasks) and c["masks"].shape == d["masks"].shape
            np.testing.assert_array_equal(np.asarray(c["masks"]), d["masks"])
            seen.add("masks")
        for key in d:
            if key not in ("pixel_values", "masks"):
                np.testing.assert_equal(c[key], d[key], err_msg=key)
    assert seen == {"masks"}
    for start in range(0, len(samples), 3):  # in the process that uses the batch: finished at once
        chunk = samples[start : start + 3]
        assert_same_batch(collate([d for d, _ in chunk]), collate([c for _, c in chunk]))
    # a batch mixing compact and default samples is the same batch too
    assert_same_batch(collate([samples[0][0], samples[1][0]]), collate([samples[0][1], samples[1][0]]))


def test_in_a_worker_the_batch_crosses_compact_and_is_finished_when_unpickled(mix, processors, monkeypatch):
    from multiprocessing.reduction import ForkingPickler

    import torch.multiprocessing  # noqa: F401 (torch's reductions on ForkingPickler, as a DataLoader has them)

    kept, default, compact = kept_and_transforms(mix, processors("qwen"), "v1")
    rows = [i for i in range(len(kept)) if kept[i]["source"] in ("refcoco", "revos")][:3]
    collate = Sa2VACollator()
    want = collate([default(kept[i]) for i in rows])
    monkeypatch.setattr(collator_module, "_in_worker", lambda: True)
    batch = collate([compact(kept[i]) for i in rows])
    assert isinstance(batch["pixel_values"], Finish) and isinstance(batch["masks"], Finish)
    tiles = batch["pixel_values"].args[0]
    assert tiles.dtype == torch.uint8 and tiles.is_shared()  # collated into shared memory, as default_collate does
    assert batch["g_pixel_values"].is_shared()
    buffer = io.BytesIO()
    ForkingPickler(buffer, pickle.HIGHEST_PROTOCOL).dump(batch)  # what a worker's queue does
    assert len(buffer.getvalue()) < 200_000  # tensors go by shared memory, masks as RLE
    monkeypatch.setattr(collator_module, "_in_worker", lambda: False)
    assert_same_batch(pickle.loads(buffer.getvalue()), want)


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_through_dataloader_workers_the_batches_are_the_default_ones(mix, processors, recipe):
    kept, default, compact = kept_and_transforms(mix, processors("qwen"), recipe, seed=7)

    def run(transform):
        loader = torch.utils.data.DataLoader(
            kept.with_transform(transform), batch_size=3, num_workers=2, collate_fn=Sa2VACollator(return_plans=True),
            timeout=LOADER_TIMEOUT,
        )  # fmt: skip
        return list(loader)

    want, got = run(default), run(compact)
    assert len(want) == len(got) == -(-len(kept) // 3)
    for a, b in zip(want, got):
        assert_same_batch(a, b)
        assert b["pixel_values"].dtype == torch.float32


def test_other_families_keep_their_pixels_and_compact_their_masks(built):
    processor = Sa2VAProcessor(FAMILIES["qwen2_5_vl"].image_processor(), make_tokenizer("qwen_vl"), family="qwen2_5_vl")
    records = built("refcoco")
    default = Sa2VATrainingTransform(processor, "v2")
    compact = Sa2VATrainingTransform(processor, "v2", compact_samples=True)
    d, c = default(records[0]), compact(records[0])
    assert isinstance(c["pixel_values"], np.ndarray) and isinstance(c["masks"], CompactMasks)
    assert_same_batch(Sa2VACollator()([d, d]), Sa2VACollator()([c, c]))


def test_a_bad_mask_is_refused_when_the_sample_is_built(built, processors):
    """Checked in the worker, named: nothing is left to fail when the main process finishes the batch."""
    record = dict(built("refcoco")[0])
    regions = []
    for region in record["regions"]:
        rle = dict(region["masks"][0])
        rle["counts"] = rle["counts"][:-3] + "0"  # its runs no longer cover the image
        regions.append({**region, "masks": [rle]})
    record["regions"] = regions
    compact = Sa2VATrainingTransform(processors("qwen"), "v1", compact_samples=True)
    with pytest.raises(MaskFormatError, match=repr(record["id"])):
        compact(record)


def test_the_option_is_checked_and_shown(processors):
    with pytest.raises(ValueError, match="compact_samples must be True or False"):
        Sa2VATrainingTransform(processors("qwen"), "v1", compact_samples="yes")
    assert "compact_samples=True" in repr(Sa2VATrainingTransform(processors("qwen"), "v1", compact_samples=True))


class ToHalfInTheWorker:
    """A user's collate function wrapping ours that changes the tiles inside the worker."""

    def __init__(self):
        self.collate = Sa2VACollator()

    def __call__(self, samples):
        batch = self.collate(samples)
        tiles = batch["pixel_values"]
        batch["pixel_values"] = (tiles.result() if isinstance(tiles, Finish) else tiles).half()
        batch["touched_in_worker"] = isinstance(tiles, Finish)
        return batch


def test_persistent_workers_and_a_wrapping_collate_get_the_default_batches(mix, processors):
    kept, default, compact = kept_and_transforms(mix, processors("qwen"), "v1", seed=3)
    rows = [i for i in range(len(kept)) if kept[i]["source"] in ("refcoco", "revos", "osprey_conversation")][:4]
    subset = kept.select(rows)

    def run(transform, collate, **options):
        loader = torch.utils.data.DataLoader(
            subset.with_transform(transform), batch_size=2, num_workers=2, collate_fn=collate, timeout=LOADER_TIMEOUT,
            **options,
        )  # fmt: skip
        return [list(loader) for _ in range(2)]  # two epochs: persistent workers serve both

    for want, got in zip(run(default, Sa2VACollator()), run(compact, Sa2VACollator(), persistent_workers=True)):
        for a, b in zip(want, got):
            assert_same_batch(a, b)
    for want, got in zip(run(default, ToHalfInTheWorker()), run(compact, ToHalfInTheWorker())):
        for a, b in zip(want, got):
            assert b.pop("touched_in_worker") and not a.pop("touched_in_worker")
            assert b["pixel_values"].dtype == torch.float16
            assert_same_batch(a, b)


def test_a_worker_batch_read_before_it_is_finished_says_so(mix, processors, monkeypatch):
    kept, default, compact = kept_and_transforms(mix, processors("qwen"), "v1")
    monkeypatch.setattr(collator_module, "_in_worker", lambda: True)
    batch = Sa2VACollator()([compact(kept[0])])
    with pytest.raises(AttributeError, match=r"call \.result\(\) to finish it in the worker"):
        batch["pixel_values"].to(torch.bfloat16)
    assert torch.equal(batch["pixel_values"].result(), torch.from_numpy(default(kept[0])["pixel_values"]))


def test_return_tensors_pt_keeps_the_samples_compact(mix, processors):
    kept, default, _ = kept_and_transforms(mix, processors("qwen"), "v1")
    compact = Sa2VATrainingTransform(processors("qwen"), "v1", seed=1, compact_samples=True, return_tensors="pt")
    rows = [i for i in range(len(kept)) if kept[i]["source"] in ("refcoco", "revos")][:2]
    samples = [compact(kept[i]) for i in rows]
    assert all(isinstance(s["pixel_values"], CompactTiles) and isinstance(s["masks"], CompactMasks) for s in samples)
    assert_same_batch(Sa2VACollator()([default(kept[i]) for i in rows]), Sa2VACollator()(samples))


def finish_masks_failing(entries):
    """Stands in for an error while the main process finishes a batch (e.g. a MemoryError)."""
    raise MaskFormatError(f"could not finish the masks of record {entries[0].record!r}")


def test_an_error_while_finishing_in_the_main_process_is_raised_by_the_loop_which_goes_on(mix, processors, monkeypatch):
    """Raised as an error of a worker is (torch's ExceptionWrapper), naming the record: not from inside the
    DataLoader's queue, which left the loader waiting for that batch forever (timeout here) at the next batch."""
    kept, _, compact = kept_and_transforms(mix, processors("qwen"), "v1")
    rows = [i for i in range(len(kept)) if kept[i]["source"] == "refcoco"][:2]
    monkeypatch.setattr(collator_module, "finish_masks", finish_masks_failing)  # module-level: workers pickle it
    loader = torch.utils.data.DataLoader(
        kept.select(rows).with_transform(compact), batch_size=1, num_workers=2, collate_fn=Sa2VACollator(),
        timeout=LOADER_TIMEOUT,
    )  # fmt: skip
    batches = iter(loader)
    for row in rows:
        with pytest.raises(MaskFormatError, match=f"(?s)in the main process.*record '{kept[row]['id']}'"):
            next(batches)
    with pytest.raises(StopIteration):
        next(batches)


def test_worker_batches_are_read_only_through_result_and_arrays_are_always_new(mix, processors, monkeypatch):
    kept, _, compact = kept_and_transforms(mix, processors("qwen"), "v1")
    sample = compact(kept[next(i for i in range(len(kept)) if kept[i]["source"] == "refcoco")])
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":  # numpy 1.x has no copy=False that forbids a copy
        for value in (sample["pixel_values"], sample["masks"]):
            with pytest.raises(ValueError, match="copy=False"):
                np.asarray(value, copy=False)
    monkeypatch.setattr(collator_module, "_in_worker", lambda: True)
    tiles = Sa2VACollator()([sample])["pixel_values"]
    for read in (len, lambda t: t[0], list):
        with pytest.raises(TypeError, match=r"call \.result\(\)"):
            read(tiles)


def test_tensors_the_collator_cannot_write_into_its_memory_are_concatenated_by_torch(mix, processors):
    """Pixels on another device or needing grad (a user's transform): plain torch.cat, as before."""
    kept, default, _ = kept_and_transforms(mix, processors("qwen"), "v1")
    samples = [default(kept[0]), default(kept[1])]
    for sample in samples:
        sample["pixel_values"] = torch.from_numpy(sample["pixel_values"]).requires_grad_()
    batch = Sa2VACollator()(samples)
    assert batch["pixel_values"].requires_grad
    for sample in samples:
        sample["pixel_values"] = sample["pixel_values"].detach().to("meta")
    assert Sa2VACollator()(samples)["pixel_values"].device.type == "meta"
