"""RefCOCO / + / g: upstream's referring-segmentation sample (v1 ``ReferSegmDataset``, v2 ``Sa2VA01RefSeg``).

Expected texts are spelled out from the upstream code and its template lists (GLaMM's for v1,
``common.py`` for v2).
"""

from __future__ import annotations

import numpy as np
import pytest

from sa2va_hf.data.schema import record_frames
from sa2va_hf.errors import SampleDroppedError
from sa2va_hf.training import Sa2VATrainingTransform

from ..reference import ref_g_pixel_values
from .expected import REFCOCO_V1, decoded, direct_runs, img, sample_runs, tiles, xtuner_runs

# fake image 101 (56 x 40): texts 0 "The Dog on the right #101." (region 0), 1 "brown dog 101" (region 0),
# 2 "man in red  101 " (region 1), 3 "the same dog again" (region 0, a second ref on the same object)
PLAN = {"text_ids": [0, 2, 1, 0, 3], "question_ids": [0, 4, 1, 15, 9], "answer_ids": [0, 1, 2, 3, 4], "frame_ids": [0]}
ANSWERS = ["It is [SEG].", "Sure, [SEG].", "Sure, it is [SEG].", "Sure, the segmentation result is [SEG].", "[SEG]."]
QUESTIONS = {
    # GLaMM's SEG_QUESTIONS 0, 4, 1, 15, 9 (v1); 4 and 15 have no final "?"
    "v1": [
        "Can you segment the the dog on the right #101 in this image?",
        "Can you segment the man in red  101  in this image",
        "Please segment brown dog 101 in this image.",
        "Can you highlight the the dog on the right #101 in this image with a segmentation mask",
        "Please identify and segment the the same dog again in this image.",
    ],
    # v2's common.SEG_QUESTIONS 0, 4, 1, 15, 9
    "v2": [
        "Can you segment the the dog on the right #101 in this image?",
        "Can you segment the man in red  101  in this image?",
        "Please segment brown dog 101 in this image.",
        "Can you highlight the the dog on the right #101 in this image with a segmentation mask?",
        "Please identify and segment the the same dog again in this image.",
    ],
}


def turns(recipe):
    qs = QUESTIONS[recipe]
    return [(img(tiles(56, 40)) + "\n" + qs[0], ANSWERS[0])] + list(zip(qs[1:], ANSWERS[1:]))


def check_pixels(record, sample, plan):
    assert set(sample) == {"input_ids", "labels", "pixel_values", "num_patches", "g_pixel_values", "masks", "plan"}
    assert sample["pixel_values"].shape == (tiles(56, 40), 3, 448, 448)
    (image,) = record_frames(record)
    assert np.array_equal(sample["g_pixel_values"], ref_g_pixel_values(image))
    regions = [record["texts"][k]["region_ids"][0] for k in plan["text_ids"]]
    assert sample["masks"].shape == (5, 40, 56)
    for mask, region in zip(sample["masks"], regions):
        assert np.array_equal(mask, decoded(record, region))


@pytest.mark.parametrize("flavour", ["phi3", "qwen"])
def test_v1_forces_phi3_instruction_no_separator(built, processors, flavour):
    record = built("refcoco")[0]
    t = Sa2VATrainingTransform(processors(flavour), "v1")
    expected = direct_runs(flavour, turns("v1"), instruction=REFCOCO_V1)
    assert t.render(record, PLAN) == expected
    sample = t.build(record, PLAN)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    check_pixels(record, sample, PLAN)


def test_v1_template_fix_uses_the_checkpoints_template(built, processors):
    record = built("refcoco")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v1", fixes=["refcoco_template"])
    assert t.render(record, PLAN) == direct_runs("qwen", turns("v1"))


@pytest.mark.parametrize("flavour", ["phi3", "qwen"])
def test_v2_xtuner_layout_and_v2_questions(built, processors, flavour):
    record = built("refcoco")[0]
    t = Sa2VATrainingTransform(processors(flavour), "v2")
    expected = xtuner_runs(flavour, turns("v2"))
    assert t.render(record, PLAN) == expected
    sample = t.build(record, PLAN)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    check_pixels(record, sample, PLAN)


@pytest.mark.parametrize("recipe", ["v1", "v2"])
@pytest.mark.parametrize("source", ["refcoco", "refcoco_plus", "refcocog"])
def test_plans_draw_five_objects_with_replacement_one_sentence_each(built, processors, source, recipe):
    records = built(source)
    t = Sa2VATrainingTransform(processors("qwen"), recipe)
    saw_repeat = False
    for record in records:
        for seed in range(4):
            plan = t.plan(record, rng=seed)
            assert len(plan["text_ids"]) == len(plan["question_ids"]) == len(plan["answer_ids"]) == 5
            assert all(q < 16 for q in plan["question_ids"]) and all(a < 5 for a in plan["answer_ids"])
            by_region = {}
            for k in plan["text_ids"]:
                by_region.setdefault(tuple(record["texts"][k]["region_ids"]), set()).add(k)
            assert all(len(ks) == 1 for ks in by_region.values())  # one sentence per object per run
            saw_repeat |= len(set(plan["text_ids"])) < 5
        assert len(t(record)["masks"]) == 5
    assert saw_repeat


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_eval_plans_one_fixed_turn_per_expression(built, processors, recipe):
    """Upstream's RES.py prompt ``<image>\\n Please segment {} in this image.`` (a space after the newline)
    through predict_forward: the checkpoint's own template, in v1 too (no forced phi3 instruction)."""
    record = built("refcoco", "val")[0]
    t = Sa2VATrainingTransform(processors("qwen"), recipe)
    plans = t.eval_plans(record)
    assert [p["text_ids"] for p in plans] == [[k] for k in range(len(record["texts"]))]
    assert all(p["question_ids"] == [0] and p["answer_ids"] == [0] and p["eval"] for p in plans)
    phrase = record["texts"][0]["text"].lower().rstrip(".")
    user = img(tiles(record["width"], record["height"])) + f"\n Please segment {phrase} in this image."
    assert t.render(record, plans[0]) == xtuner_runs("qwen", [(user, "It is [SEG].")])
    samples = t.eval_samples(record)
    assert len(samples) == len(record["texts"]) and all(len(s["masks"]) == 1 for s in samples)


def test_an_empty_sentence_is_refused(built, processors):
    record = built("refcoco")[0]
    texts = [dict(t) for t in record["texts"]]
    texts[1]["text"] = ""
    bad = {**record, "texts": texts}
    t = Sa2VATrainingTransform(processors("qwen"), "v1")
    assert "IndexError" in t.drop_reason(bad)
    with pytest.raises(SampleDroppedError, match="empty sentence"):
        t.build(bad, PLAN)


def test_article_fix_drops_the_templates_the_before_an_article(built, processors):
    record = built("refcoco")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v2", fixes=["seg_question_article"])
    qs = [
        "Can you segment the dog on the right #101 in this image?",
        "Can you segment the man in red  101  in this image?",  # no article: the template's "the" stays
        "Please segment brown dog 101 in this image.",
        "Can you highlight the dog on the right #101 in this image with a segmentation mask?",
        "Please identify and segment the same dog again in this image.",
    ]
    expected = [(img(tiles(56, 40)) + "\n" + qs[0], ANSWERS[0])] + list(zip(qs[1:], ANSWERS[1:]))
    assert t.render(record, PLAN) == xtuner_runs("qwen", expected)
