"""Describe-anything: one 448 tile, a ``pool`` prompt grid, the caption answering an Osprey-style question."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sa2va_hf.data.schema import record_frames
from sa2va_hf.errors import SampleDroppedError
from sa2va_hf.training import Sa2VATrainingTransform

from ..reference import ref_pixel_values, ref_pool
from .expected import decoded, img, pool_cells, region_str, sample_runs, xtuner_runs

QUESTIONS = {  # v1 Osprey DETAILED_QUESTIONS[3], v2 VP_QUESTIONS[3]
    "v1": "I'd like to know more about the area in the photo labeled region1. Can you give me a detailed description?",
    "v2": "What details can you give me about the region outlined by region1 in the photo?",
}


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_describe_anything_sample(built, processors, recipe):
    record = built("describe_anything")[1]
    t = Sa2VATrainingTransform(processors("qwen"), recipe)
    plan = t.plan(record)
    assert plan["text_ids"] == [0] and plan["answer_ids"] == [None] and len(plan["question_ids"]) == 1
    plan = {**plan, "question_ids": [3]}
    user = img(1) + "\n" + region_str([pool_cells(record, 0)]) + QUESTIONS[recipe]
    expected = xtuner_runs("qwen", [(user, record["caption"])])
    assert t.render(record, plan) == expected
    sample = t.build(record, plan)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    assert set(sample) == {"input_ids", "labels", "pixel_values", "num_patches", "prompt_masks", "vp_overall_mask",
                           "region_pixels", "plan"}  # fmt: skip
    (image,) = record_frames(record)
    assert np.array_equal(sample["pixel_values"], ref_pixel_values(image, max_num=1))  # one tile, no thumbnail
    assert np.array_equal(sample["prompt_masks"][0], ref_pool(decoded(record, 0)))
    assert sample["vp_overall_mask"].tolist() == [1.0]
    assert sample["prompt_masks"].dtype == (np.uint8 if recipe == "v1" else np.float32)


def test_small_region_follows_the_recipes_osprey_rule(built, processors):
    record = built("describe_anything")[0]
    h, w = record["height"], record["width"]
    m = np.zeros((h, w), np.uint8)
    m[0, 0] = 1  # about 14 x 11 pixels once resized to 448: under half of a 28 x 28 cell
    rle = mask_utils.encode(np.asfortranarray(m))
    small = {
        **record,
        "regions": [{**record["regions"][0], "masks": [{"size": [h, w], "counts": rle["counts"].decode()}]}],
    }
    assert "under v2's 4" in Sa2VATrainingTransform(processors("qwen"), "v2").drop_reason(small)
    with pytest.raises(SampleDroppedError):
        Sa2VATrainingTransform(processors("qwen"), "v2")(small)
    assert Sa2VATrainingTransform(processors("qwen"), "v1")(small)["region_pixels"] == [pool_cells(small, 0)]
