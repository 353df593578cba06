"""Osprey (all five files): the sample of upstream's Osprey classes, v1 and v2, quirks and fixes.

Expected texts are spelled out from the upstream code (``Osprey_Dataset.py``, ``sa2va_data_06_vp.py``),
tile counts and grid cells from ``tests/reference.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sa2va_hf.errors import SampleDroppedError
from sa2va_hf.training import Sa2VATrainingTransform

from ..reference import ref_nearest
from .expected import decoded, img, nearest_cells, region_str, sample_runs, tiles, xtuner_runs

OSPREY_KEYS = {"input_ids", "labels", "pixel_values", "num_patches", "prompt_masks", "vp_overall_mask",
               "region_pixels", "plan"}  # fmt: skip
LIMIT = " Answer the question using a single word or phrase."


def plan_of(text_ids=(), question_ids=()):
    return {"text_ids": list(text_ids), "question_ids": list(question_ids), "answer_ids": [None] * len(text_ids),
            "frame_ids": [0]}  # fmt: skip


def check_sample(t, record, plan, expected_runs, recipe):
    assert t.render(record, plan) == expected_runs
    sample = t.build(record, plan)
    assert sample_runs(t.processor.tokenizer, sample) == expected_runs
    assert set(sample) == OSPREY_KEYS  # no g_pixel_values, no masks: upstream passes no grounding processor
    n_tiles = tiles(record["width"], record["height"])
    assert sample["pixel_values"].shape == (n_tiles, 3, 448, 448)
    assert sample["vp_overall_mask"].dtype == np.float32  # torch.Tensor([False, ..., True])
    assert sample["vp_overall_mask"].tolist() == [0.0] * (n_tiles - 1) + [1.0]
    assert sample["prompt_masks"].dtype == (np.uint8 if recipe == "v1" else np.float32)
    for k in range(len(record["regions"])):
        assert np.array_equal(sample["prompt_masks"][k], ref_nearest(decoded(record, k), 16, 16))
    assert sample["region_pixels"] == [nearest_cells(record, k) for k in range(len(record["regions"]))]
    assert len(sample["input_ids"]) == t.length(record, plan)
    return sample


@pytest.mark.parametrize("flavour", ["qwen", "phi3"])
@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_conversation(built, processors, recipe, flavour):
    record = built("osprey_conversation")[0]  # "<image>\nWhat is <region1> doing? (0)", one region
    t = Sa2VATrainingTransform(processors(flavour), recipe)
    plan = t.plan(record)
    assert {k: plan[k] for k in ("text_ids", "question_ids", "answer_ids", "frame_ids")} == plan_of()
    # '<' and '>' are deleted before the image prompt is added: the text's own <image> becomes "image"
    user = img(tiles(52, 40)) + "\n" + region_str([nearest_cells(record, 0)]) + "image\nWhat is region1 doing? (0)"
    check_sample(t, record, plan, xtuner_runs(flavour, [(user, "It is bstanding/b near region1.")]), recipe)


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_leading_gpt_turn_is_refused_unless_fixed(built, processors, recipe):
    record = built("osprey_conversation")[1]  # starts with a gpt turn; two regions
    t = Sa2VATrainingTransform(processors("qwen"), recipe)
    assert "starts with a gpt turn" in t.drop_reason(record)
    with pytest.raises(SampleDroppedError, match=r"starts with a gpt turn.*record '1'"):
        t.build(record, t.plan(record))
    fixed = Sa2VATrainingTransform(processors("qwen"), recipe, fixes={"osprey_leading_gpt"})
    assert fixed.drop_reason(record) is None
    cells = [nearest_cells(record, k) for k in range(2)]
    user = img(tiles(52, 40)) + "\n" + region_str(cells) + "image\nWhat is region1 doing? (1)"
    check_sample(fixed, record, plan_of(), xtuner_runs("qwen", [(user, "It is bstanding/b near region1.")]), recipe)


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_image_tag_fix(built, processors, recipe):
    record = built("osprey_conversation")[0]
    t = Sa2VATrainingTransform(processors("qwen"), recipe, fixes=["osprey_image_tag"])
    user = img(tiles(52, 40)) + "\n" + region_str([nearest_cells(record, 0)]) + "What is region1 doing? (0)"
    assert t.render(record, plan_of()) == xtuner_runs("qwen", [(user, "It is bstanding/b near region1.")])


@pytest.mark.parametrize(
    "recipe, questions",
    [
        ("v1", [(0, "Can you provide me with a detailed description of the region in the picture marked by {}?"),
                (29, "Examine the region {} closely and share its details.")]),
        ("v2", [(0, "Can you provide me with a detailed description of the region in the picture marked by {}?"),
                (17, "Examine the region {} closely and share its details.")]),
    ],
)  # fmt: skip
def test_detail_description(built, processors, recipe, questions):
    record = built("osprey_detail_description")[1]  # two regions, two descriptions "<regionK>: ..."
    t = Sa2VATrainingTransform(processors("phi3"), recipe)
    plan = t.plan(record)
    assert plan["text_ids"] == [0, 1] and plan["answer_ids"] == [None, None] and len(plan["question_ids"]) == 2
    fixed = plan_of([0, 1], [q for q, _ in questions])
    cells = [nearest_cells(record, k) for k in range(2)]
    q0, q1 = (text.format(f"region{k + 1}") for k, (_, text) in enumerate(questions))
    runs = xtuner_runs(
        "phi3",
        [
            (img(tiles(52, 40)) + "\n" + region_str(cells) + q0, "region1: A thing number 0 in entry 1."),
            (q1, "region2: A thing number 1 in entry 1."),
        ],
    )
    check_sample(t, record, fixed, runs, recipe)


@pytest.mark.parametrize("source, limit", [("osprey_short_form", LIMIT), ("osprey_part_level", ""),
                                           ("osprey_lvis_positive_negative", "")])  # fmt: skip
def test_limit_only_for_short_form(built, processors, source, limit):
    record = built(source)[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    user = img(tiles(52, 40)) + "\n" + region_str([nearest_cells(record, 0)]) + "image\nWhat is region1 doing? (0)"
    assert t.render(record, plan_of()) == xtuner_runs("qwen", [(user + limit, "It is bstanding/b near region1.")])


def with_conversation(record, conversations):
    return {**record, "conversations": conversations}


def test_v1_strips_each_message_v2_the_regrouped_turn(built, processors):
    record = with_conversation(
        built("osprey_conversation")[0],
        [{"from": "human", "value": "Q1 "}, {"from": "human", "value": " Q2  "}, {"from": "gpt", "value": " A "}],
    )
    head = img(tiles(52, 40)) + "\n" + region_str([nearest_cells(record, 0)])
    v1 = Sa2VATrainingTransform(processors("qwen"), "v1")
    v2 = Sa2VATrainingTransform(processors("qwen"), "v2")
    # v1: "<image> There are ...Q1 " -> "<image>\n" + stripped, then " Q2  " appended; answers as they are
    assert v1.render(record, plan_of()) == xtuner_runs("qwen", [(head + "Q1 Q2  ", " A ")])
    # v2: the two user messages joined first, then the turn holding <image> stripped; answers stripped
    assert v2.render(record, plan_of()) == xtuner_runs("qwen", [(head + "Q1  Q2", "A")])


def tiny_region(record):
    h, w = record["height"], record["width"]
    m = np.zeros((h, w), np.uint8)
    m[1, 1] = 1  # the 16x16 nearest grid samples rows 0, 2, 5, ... and columns 0, 3, 6, ...: no cell
    rle = mask_utils.encode(np.asfortranarray(m))
    region = {**record["regions"][0], "masks": [{"size": [h, w], "counts": rle["counts"].decode()}]}
    return {**record, "regions": [region]}


def test_small_region_v2_drops_the_record_v1_keeps_an_empty_prompt(built, processors):
    record = tiny_region(built("osprey_conversation")[0])
    v2 = Sa2VATrainingTransform(processors("qwen"), "v2")
    assert "covers 0 grid cells" in v2.drop_reason(record)
    with pytest.raises(SampleDroppedError, match="under v2's 4"):
        v2.build(record, plan_of())
    v1 = Sa2VATrainingTransform(processors("qwen"), "v1")
    assert v1.drop_reason(record) is None
    sample = v1.build(record, plan_of())
    user = (
        img(tiles(52, 40))
        + "\nThere are 1 part regions in the picture: region1<vp></vp>.\nimage\nWhat is region1 doing? (0)"
    )
    assert sample_runs(v1.processor.tokenizer, sample) == xtuner_runs(
        "qwen", [(user, "It is bstanding/b near region1.")]
    )
    assert sample["region_pixels"] == [0]


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_mask_dtypes_fix(built, processors, recipe):
    record = built("osprey_conversation")[0]
    sample = Sa2VATrainingTransform(processors("qwen"), recipe, fixes={"mask_dtypes"}).build(record, plan_of())
    assert sample["vp_overall_mask"].dtype == bool and sample["prompt_masks"].dtype == np.uint8


def test_records_upstream_cannot_build(built, processors):
    record = built("osprey_conversation")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v1")
    assert "no region" in t.drop_reason({**record, "regions": []})
    only_question = with_conversation(record, [{"from": "human", "value": "Q?"}])
    assert t.drop_reason(only_question) == "no answer to train on"
    with pytest.raises(SampleDroppedError, match="no answer"):
        t.build(only_question, plan_of())
