"""Training samples for the Qwen2.5-VL / Qwen3-VL and LLaVA families (upstream v2, ``arch_type`` 'qwen' / 'llava').

What upstream's v2 classes do with a Qwen-VL processor (``datasets/base.py``, configs
``sa2va_qwenvl25/*``, ``sa2va_qwenvl3/*``): the text is built exactly as for InternVL (the same
``_process_conversations_for_encoding``, xtuner's encode, the ``qwen`` template, no BOS); only the
image string and the pixels change -- ``<|vision_start|>`` + prod(grid_thw)/4 ``<|image_pad|>`` +
``<|vision_end|>`` with the single-image limits, and per video frame the frame limits, frame strings
joined with ``\\n``. ``g_pixel_values`` and ``masks`` are unchanged. The Qwen configs leave the
visual-prompt sources out and skip LLaVA's text-only entries (``skip_pure_text=True``). LLaVA:
base.py's ``llava`` settings, 576 ``<image>`` per image (and per frame), the ``vicuna`` template.

Expected image strings are worked out from Qwen's resize rule (``ref_grid``), pixels from the fast
Qwen class upstream's environment runs (``ref_fast_pixels``, written out) with Sa2VA's limits and the
LLaVA recipe written out. Whatever the processor's mode (its default is ``"inference"``), the
training transform builds training's layout.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sa2va_hf import FAMILIES, Sa2VAProcessor
from sa2va_hf.data.schema import record_frames
from sa2va_hf.errors import Sa2VAError, SampleDroppedError
from sa2va_hf.training import UPSTREAM_REPEATS, Sa2VACollator, Sa2VATrainingTransform
from sa2va_hf.training import transform as engine
from sa2va_hf.training.transforms import family_transforms

from ..processing.test_image_processor_llava import base_py_recipe
from ..processing.test_image_processor_qwen2_vl import FRAME, SINGLE, ref_fast_pixels, ref_grid
from ..reference import ref_g_pixel_values
from ..tokenizer_utils import make_tokenizer
from .expected import decoded, sample_runs, xtuner_runs
from .test_transform_gcg import Q_V2, V2_REFCOCOG
from .test_transform_refcoco import ANSWERS, PLAN, QUESTIONS
from .test_video_engine import TwoFrames

QWEN3_REF = {"patch": 16, "mean": (0.5,) * 3, "std": (0.5,) * 3}
QWEN = {"qwen2_5_vl": ({}, 14), "qwen3_vl": (QWEN3_REF, 16)}  # ref_fast_pixels options, patch size
FRAME_LIMITS = {"min_pixels": 128 * 28 * 28, "max_pixels": 512 * 28 * 28}
IMAGE_KEYS = {"input_ids", "labels", "pixel_values", "image_grid_thw", "g_pixel_values", "masks", "plan"}
LLAVA_PLAN = {"text_ids": [], "question_ids": [], "answer_ids": [], "frame_ids": [0]}
GCG_PLAN = {"text_ids": [0, 1], "question_ids": [0], "answer_ids": [None], "frame_ids": [0]}


@pytest.fixture(scope="module")
def family():
    """``family(name, **image_options)``: a processor of that family with the local tokenizer of its flavour."""
    cache = {}

    def get(name, **options):
        key = (name, tuple(sorted(options.items())))
        if key not in cache:
            tok = make_tokenizer("llava" if name == "llava" else "qwen_vl")
            cache[key] = Sa2VAProcessor(FAMILIES[name].image_processor(**options), tok, family=name)
        return cache[key]

    return get


@pytest.fixture
def video_family(monkeypatch):
    """The engine's video path through the stand-in video recipe of ``test_video_engine`` (ReVOS record 0,
    frames 0 and 2, text 1 "Which two things move?" on two regions)."""
    monkeypatch.setattr(engine, "family_transforms", lambda: {**family_transforms(), "refvos": TwoFrames()})


def qwen_image(w, h, patch, **limits) -> str:
    grid = ref_grid(w, h, patch, **limits)
    return "<|vision_start|>" + "<|image_pad|>" * (int(np.prod(grid)) // 4) + "<|vision_end|>"


def vicuna_runs(turns):
    """xtuner's layout with the vicuna template: no suffix, so each answer ends with the EOS (labelled) and
    each turn opens with the BOS; the separator is ``\\n``."""
    runs = []
    for i, (user, answer) in enumerate(turns):
        runs.append((("\n" if i else "") + "<s>USER: " + user + " ASSISTANT:", False))
        runs.append((answer + "</s>", True))
    return [*runs, ("\n", False)]


def refcoco_turns(image_string):
    qs = QUESTIONS["v2"]
    return [(image_string + "\n" + qs[0], ANSWERS[0])] + list(zip(qs[1:], ANSWERS[1:]))


def check_qwen_pixels(sample, frames, options, size, grounding=1024):
    pixels, grids = ref_fast_pixels(frames, **options, limits=size)
    np.testing.assert_array_equal(sample["pixel_values"], pixels)
    np.testing.assert_array_equal(sample["image_grid_thw"], grids)
    g = np.stack([ref_g_pixel_values(f, grounding) for f in frames])
    np.testing.assert_array_equal(sample["g_pixel_values"], g if len(frames) > 1 else g[0])


# --------------------------------------------------------------------------- Qwen-VL


@pytest.mark.parametrize("name", sorted(QWEN))
def test_qwen_refcoco(built, family, name):
    options, patch = QWEN[name]
    record = built("refcoco")[0]  # 56 x 40
    t = Sa2VATrainingTransform(family(name), "v2")
    expected = xtuner_runs("qwen", refcoco_turns(qwen_image(56, 40, patch)))
    assert t.render(record, PLAN) == expected
    sample = t.build(record, PLAN)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    assert set(sample) == IMAGE_KEYS
    check_qwen_pixels(sample, record_frames(record), options, SINGLE)
    assert sample["masks"].shape == (5, 40, 56)  # unchanged: one per turn, in turn order
    for mask, k in zip(sample["masks"], PLAN["text_ids"]):
        assert np.array_equal(mask, decoded(record, record["texts"][k]["region_ids"][0]))
    assert t.length(record, PLAN) == len(sample["input_ids"])


def test_qwen3_vl_sam3_grounding_image(built, family):
    record = built("refcoco")[0]
    sample = Sa2VATrainingTransform(family("qwen3_vl", grounding_size=1008), "v2").build(record, PLAN)
    check_qwen_pixels(sample, record_frames(record), QWEN3_REF, SINGLE, grounding=1008)


@pytest.mark.parametrize("name", sorted(QWEN))
def test_qwen_gcg(built, family, name):
    options, patch = QWEN[name]
    record = built("gcg_refcocog")[0]
    w, h = record["width"], record["height"]
    t = Sa2VATrainingTransform(family(name), "v2")
    expected = xtuner_runs("qwen", [(qwen_image(w, h, patch) + "\n" + Q_V2, V2_REFCOCOG)])
    assert t.render(record, GCG_PLAN) == expected
    sample = t.build(record, GCG_PLAN)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    assert set(sample) == IMAGE_KEYS
    check_qwen_pixels(sample, record_frames(record), options, SINGLE)
    for mask, region in zip(sample["masks"], [1, 0]):  # in span order
        assert np.array_equal(mask, decoded(record, region))


@pytest.mark.parametrize("name", sorted(QWEN))
def test_qwen_llava_665k_and_its_text_only_entries(built, family, name):
    options, patch = QWEN[name]
    records = built("llava_665k")
    t = Sa2VATrainingTransform(family(name), "v2")
    expected = xtuner_runs("qwen", [(qwen_image(30, 20, patch) + "\nQuestion 0?", "Answer 0.")])
    assert t.render(records[0], LLAVA_PLAN) == expected
    sample = t.build(records[0], LLAVA_PLAN)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    assert set(sample) == {"input_ids", "labels", "pixel_values", "image_grid_thw", "plan"}  # no grounding image
    np.testing.assert_array_equal(sample["pixel_values"], ref_fast_pixels(record_frames(records[0]), **options)[0])
    # the Qwen configs set skip_pure_text=True: upstream draws another sample
    assert "skip_pure_text" in t.drop_reason(records[1])
    with pytest.raises(SampleDroppedError, match="text-only entry"):
        t(records[1])
    kept, report = t.filter(records)
    assert report == {t.drop_reason(records[1]): 1} and len(kept) == len(records) - 1


@pytest.mark.parametrize("name", sorted(QWEN))
def test_qwen_video(built, family, video_family, name):
    options, patch = QWEN[name]
    record = built("revos")[0]  # 32 x 24
    t = Sa2VATrainingTransform(family(name), "v2")
    frame = qwen_image(32, 24, patch, **FRAME_LIMITS)
    expected = xtuner_runs("qwen", [(frame + "\n" + frame + "Which two things move?", "[SEG].")])
    assert t.render(record) == expected
    sample = t(record)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    assert set(sample) == IMAGE_KEYS | {"num_frames"}
    check_qwen_pixels(sample, record_frames(record, [0, 2]), options, FRAME)
    assert sample["image_grid_thw"].tolist() == [ref_grid(32, 24, patch, **FRAME_LIMITS)] * 2
    assert sample["num_frames"].tolist() == [2] and sample["masks"].shape == (2, 24, 32)
    assert t.length(record) == len(sample["input_ids"])


def test_qwen_batches_images_and_videos(built, family, monkeypatch):
    """The collator: flat patches concatenated, image_grid_thw one row per image / frame in batch order,
    g_pixel_values per image / frame with frames_per_batch."""
    monkeypatch.setattr(engine, "family_transforms", lambda: {**family_transforms(), "refvos": TwoFrames()})
    t = Sa2VATrainingTransform(family("qwen3_vl"), "v2")
    records = [built("refcoco")[0], built("llava_665k")[0], built("revos")[0], built("gcg_refcocog")[0]]
    samples = [t(r) for r in records]
    batch = Sa2VACollator()(samples)
    assert torch.equal(batch["pixel_values"], torch.cat([torch.from_numpy(s["pixel_values"]) for s in samples]))
    grids = [np.asarray(s["image_grid_thw"]).reshape(-1, 3) for s in samples]
    assert batch["image_grid_thw"].tolist() == np.concatenate(grids).tolist() and len(batch["image_grid_thw"]) == 5
    assert batch["frames_per_batch"] == [1, 2, 1] and batch["g_pixel_values"].shape == (4, 3, 1024, 1024)
    assert [tuple(m.shape) for m in batch["masks"]] == [tuple(samples[i]["masks"].shape) for i in (0, 2, 3)]
    assert "num_patches" not in batch and batch["num_frames"].tolist() == [2]
    for i, s in enumerate(samples):
        n = len(s["input_ids"])
        assert batch["input_ids"][i, :n].tolist() == s["input_ids"] and batch["attention_mask"][i].sum() == n


def test_lengths_without_pixels(built, family, video_family):
    """transform.lengths reads no pixel (records without frames): each equals its sample's input_ids."""
    t = Sa2VATrainingTransform(family("qwen2_5_vl"), "v2")
    for dataset in (built("refcoco"), built("gcg_refcocog"), built("revos").select([0])):  # the stand-in: record 0
        dataset, _ = t.filter(dataset)
        lengths = t.lengths(dataset)
        assert lengths == [len(t(dataset[i])["input_ids"]) for i in range(len(dataset))]


# --------------------------------------------------------------------------- LLaVA-1.5


def test_llava_refcoco(built, family):
    record = built("refcoco")[0]
    t = Sa2VATrainingTransform(family("llava"), "v2")
    expected = vicuna_runs(refcoco_turns("<image>" * 576))
    assert t.render(record, PLAN) == expected
    sample = t.build(record, PLAN)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    assert set(sample) == {"input_ids", "labels", "pixel_values", "g_pixel_values", "masks", "plan"}
    (image,) = record_frames(record)
    np.testing.assert_array_equal(sample["pixel_values"], base_py_recipe(image)[None])
    np.testing.assert_array_equal(sample["g_pixel_values"], ref_g_pixel_values(image))
    assert t.length(record, PLAN) == len(sample["input_ids"])


def test_llava_text_only_entry_and_video(built, family, video_family):
    t = Sa2VATrainingTransform(family("llava"), "v2")
    text_only = t.build(built("llava_665k")[1], {**LLAVA_PLAN, "frame_ids": []})
    assert set(text_only) == {"input_ids", "labels", "pixel_values", "plan"}  # base.py: one zero 336 image
    assert text_only["pixel_values"].shape == (1, 3, 336, 336) and not text_only["pixel_values"].any()
    record = built("revos")[0]
    video = t(record)
    frames = "<image>" * 576 + "\n" + "<image>" * 576
    assert sample_runs(t.processor.tokenizer, video) == vicuna_runs([(frames + "Which two things move?", "[SEG].")])
    np.testing.assert_array_equal(
        video["pixel_values"], np.stack([base_py_recipe(f) for f in record_frames(record, [0, 2])])
    )
    assert t.length(record) == len(video["input_ids"])


# --------------------------------------------------------------------------- what the other families refuse


@pytest.mark.parametrize("name", ["qwen3_vl", "llava"])
@pytest.mark.parametrize("source", ["osprey_conversation", "osprey_detail_description", "describe_anything"])
def test_visual_prompt_sources_are_refused_with_the_reason(built, family, name, source):
    t = Sa2VATrainingTransform(family(name), "v2")
    records = built(source)
    reason = t.drop_reason(records[0])
    assert f"family {name!r} does not take" in reason and "Osprey data out" in reason
    with pytest.raises(SampleDroppedError, match="visual prompts"):
        t(records[0])
    kept, report = t.filter(records)
    assert len(kept) == 0 and report == {reason: len(records)}


@pytest.mark.parametrize("name", ["qwen2_5_vl", "llava"])
def test_recipe_v1_trains_internvl_only(family, name):
    with pytest.raises(Sa2VAError, match=rf"recipe 'v1' trains InternVL checkpoints only, not a '{name}'"):
        Sa2VATrainingTransform(family(name), "v1")


def test_qwen_mix_is_v2_14b_without_the_osprey_sources():
    qwen, big = UPSTREAM_REPEATS["v2-qwen"], UPSTREAM_REPEATS["v2-14b"]
    assert dict(qwen) == {k: v for k, v in big.items() if not k.startswith("osprey")}


@pytest.mark.parametrize("name", ["qwen3_vl", "llava"])
def test_context_token_runs_are_their_ids(built, family, name):
    """A run of the family's context token (<|image_pad|>, <image>) is its ids, not tokenized one by one:
    the same samples and lengths as tokenizing everything."""
    t = Sa2VATrainingTransform(family(name), "v2")
    slow = Sa2VATrainingTransform(family(name), "v2")
    slow._splits = False  # tokenize every context token
    for record in (built("refcoco")[0], built("llava_665k")[0], built("gcg_refcocog")[0]):
        plan = t.plan(record)
        fast, full = t.build(record, plan), slow.build(record, plan)
        assert fast["input_ids"] == full["input_ids"] and fast["labels"] == full["labels"]
        assert t.length(record, plan) == slow.length(record, plan) == len(fast["input_ids"])
    assert t._splits is True
