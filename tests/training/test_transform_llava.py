"""LLaVA-v1.5 mix665k: upstream's ``LLaVADataset`` sample, v1 and v2, text-only entries included."""

from __future__ import annotations

import numpy as np
import pytest

from sa2va_hf.errors import SampleDroppedError
from sa2va_hf.training import Sa2VATrainingTransform

from .expected import direct_runs, img, sample_runs, tiles, xtuner_runs

PLAN = {"text_ids": [], "question_ids": [], "answer_ids": [], "frame_ids": [0]}
TEXT_ONLY_PLAN = {**PLAN, "frame_ids": []}


def render_and_build(t, record, plan, expected):
    assert t.plan(record)["frame_ids"] == plan["frame_ids"]
    assert t.render(record, plan) == expected
    sample = t.build(record, plan)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    return sample


@pytest.mark.parametrize("flavour", ["phi3", "qwen"])
def test_image_entry(built, processors, flavour):
    record = built("llava_665k")[0]  # "<image>\nQuestion 0?" / "Answer 0.", a 30 x 20 image
    user = img(tiles(30, 20)) + "\nQuestion 0?"
    # v1: the template's instruction, its own loop (first turn with special tokens, no separator, no EOS)
    v1 = render_and_build(Sa2VATrainingTransform(processors(flavour), "v1"), record, PLAN,
                          direct_runs(flavour, [(user, "Answer 0.")]))  # fmt: skip
    v2 = render_and_build(Sa2VATrainingTransform(processors(flavour), "v2"), record, PLAN,
                          xtuner_runs(flavour, [(user, "Answer 0.")]))  # fmt: skip
    for sample in (v1, v2):
        assert set(sample) == {"input_ids", "labels", "pixel_values", "num_patches", "plan"}
        assert sample["pixel_values"].shape == (tiles(30, 20), 3, 448, 448)


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_text_only_entry_gets_one_zero_tile(built, processors, recipe):
    record = built("llava_665k")[1]
    t = Sa2VATrainingTransform(processors("phi3"), recipe)
    runs = (direct_runs if recipe == "v1" else xtuner_runs)("phi3", [("Question 1?", "Answer 1.")])
    sample = render_and_build(t, record, TEXT_ONLY_PLAN, runs)
    assert sample["pixel_values"].shape == (1, 3, 448, 448) and not sample["pixel_values"].any()
    assert sample["num_patches"].tolist() == [1] and "g_pixel_values" not in sample


def conversation(record, messages):
    return {**record, "conversations": [{"from": f, "value": v} for f, v in messages]}


def test_image_stays_where_it_is_and_each_recipe_strips_its_own_way(built, processors):
    record = conversation(
        built("llava_665k")[0],
        [("gpt", "ignored"), ("human", "Describe this.\n<image> "), ("gpt", " A1 "), ("human", " Q2 "), ("gpt", "A2")],
    )
    user = "Describe this.\n" + img(tiles(30, 20))
    v1 = Sa2VATrainingTransform(processors("phi3"), "v1")
    assert v1.render(record, PLAN) == direct_runs("phi3", [(user, "A1"), ("Q2", "A2")])
    v2 = Sa2VATrainingTransform(processors("phi3"), "v2")  # only the message holding <image> is stripped
    assert v2.render(record, PLAN) == xtuner_runs("phi3", [(user, "A1"), (" Q2 ", "A2")])


def test_image_placeholders_upstream_cannot_train_on(built, processors):
    record = built("llava_665k")[0]
    v1, v2 = (Sa2VATrainingTransform(processors("qwen"), r) for r in ("v1", "v2"))
    later = conversation(record, [("human", "Hi"), ("gpt", "Hello"), ("human", "<image>\nQ"), ("gpt", "A")])
    assert v1.drop_reason(later) is None
    assert v1.render(later, PLAN)[2][0].startswith("<|im_start|>user\n" + img(tiles(30, 20)) + "\nQ")
    assert "v2 asserts" in v2.drop_reason(later)
    with pytest.raises(SampleDroppedError, match="outside the first message"):
        v2.build(later, PLAN)
    for messages, count in [([("human", "<image> <image> Q"), ("gpt", "A")], 2), ([("human", "Q"), ("gpt", "A")], 0)]:
        for t in (v1, v2):
            assert t.drop_reason(conversation(record, messages)).startswith(
                f"an image whose conversation holds {count} <image> placeholders instead of 1"
            )
    assert v1.drop_reason(conversation(record, [("human", "<image>Q")])) == "no answer to train on"


def test_text_only_entries_lose_a_stray_placeholder(built, processors):
    record = conversation(built("llava_665k")[1], [("human", "<image>\nQ "), ("gpt", "A")])
    for recipe in ("v1", "v2"):
        t = Sa2VATrainingTransform(processors("qwen"), recipe)
        runs = t.render(record, TEXT_ONLY_PLAN)
        assert runs[0][0] == "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"
        assert np.count_nonzero(t.build(record, TEXT_ONLY_PLAN)["pixel_values"]) == 0
