"""GCG (RefCOCOg-GCG, GranD-f, OpenPSG, Flickr): the grounded-caption sample, v1 and v2, span quirks and fix.

Expected answers are worked out by hand from ``gcg_process.py`` (v1) and ``sa2va_data_05_gcg.py`` (v2).
"""

from __future__ import annotations

import numpy as np
import pytest

from sa2va_hf.errors import SampleDroppedError
from sa2va_hf.training import Sa2VATrainingTransform

from .expected import decoded, img, sample_runs, tiles, xtuner_runs

Q_V1 = (  # gcg_process.GCG_QUESTIONS[0], which starts with <image>
    "Could you please give me a brief description of the image? Please respond with interleaved segmentation "
    "masks for the corresponding parts of the answer."
)
Q_V2 = (  # common.GCG_QUESTIONS[0], after "<image>\n"
    "Could you please give me a detailed description of the image? Please respond with interleaved segmentation "
    "masks for the corresponding parts of the answer."
)
GCG_KEYS = {"input_ids", "labels", "pixel_values", "num_patches", "g_pixel_values", "masks", "plan"}


def plan_of(text_ids):
    return {"text_ids": list(text_ids), "question_ids": [0], "answer_ids": [None], "frame_ids": [0]}


def check(t, record, text_ids, answer, regions):
    q = Q_V1 if t.recipe == "v1" else Q_V2
    expected = xtuner_runs("qwen", [(img(tiles(record["width"], record["height"])) + "\n" + q, answer)])
    plan = plan_of(text_ids)
    assert t.render(record, plan) == expected
    sample = t.build(record, plan)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    assert set(sample) == GCG_KEYS
    assert sample["masks"].shape[0] == len(regions) == answer.count("[SEG]")
    for mask, region in zip(sample["masks"], regions):
        assert np.array_equal(mask, decoded(record, region))


# RefCOCOg-GCG record 0: caption "A brown dog on the sofa is sleeping next to a cushion number 0." (stored
# un-lowered), texts 0 "a cushion" (region 0), 1 "A brown dog" (region 1), 2 "a cat" (not in the caption)
V1_REFCOCOG = (
    # lower-cased caption; "A brown dog" searched with its capital: [-1, -1]; sorted [-1,-1], [44,53]; the
    # trimming runs over file order: [44, 53] reaches -1 -> ends at -2; tagged from the last start:
    # (44, -2) takes "a cushion number " and leaves "0.", then (-1, -1) puts an empty tag before the "."
    "a brown dog on the sofa is sleeping next to <p> a cushion number  </p> [SEG]0<p>  </p> [SEG]."
)
V2_REFCOCOG = "<p> a brown dog </p> [SEG] on the sofa is sleeping next to <p> a cushion </p> [SEG] number 0."


def test_refcocog_gcg_v1_case_sensitive_find_and_unsorted_trimming(built, processors):
    record = built("gcg_refcocog")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v1")
    assert t.plan(record)["text_ids"] == [0, 1]  # "a cat" is not in the caption: left out, with its mask
    check(t, record, [0, 1], V1_REFCOCOG, regions=[1, 0])


def test_refcocog_gcg_v2_and_the_fix(built, processors):
    record = built("gcg_refcocog")[0]
    check(Sa2VATrainingTransform(processors("qwen"), "v2"), record, [0, 1], V2_REFCOCOG, regions=[1, 0])
    fixed = Sa2VATrainingTransform(processors("qwen"), "v1", fixes={"gcg_spans"})
    check(fixed, record, [0, 1], V2_REFCOCOG, regions=[1, 0])


def overlapping(record):
    """RefCOCOg-GCG: 'riding a horse' (region 0) then 'a man riding' (region 1), which overlap."""
    texts = [
        {"text": "riding a horse", "region_ids": [0], "start": None, "end": None},
        {"text": "a man riding", "region_ids": [1], "start": None, "end": None},
    ]
    return {**record, "caption": "A man riding a horse on the beach.", "texts": texts}


@pytest.mark.parametrize(
    "recipe, fixes, answer, regions",
    [
        # spans [6, 20] (file order first) and [0, 12]; v1 trims in file order: [6, 20] reaches 0 -> [6, -1];
        # tagged from the last start, (6, -1) then (0, 12) cuts through the first tag
        ("v1", (), "<p> a man <p> ri </p> [SEG]ding a horse on the beach </p> [SEG].", [1, 0]),
        # v2 does not trim: the tags nest
        ("v2", (), "<p> a man <p> ri </p> [SEG]ding a horse </p> [SEG] on the beach.", [1, 0]),
        # the fix: sorted, [0, 12] ends where [6, 20] starts
        ("v1", ("gcg_spans",), "<p> a man  </p> [SEG]<p> riding a horse </p> [SEG] on the beach.", [1, 0]),
        ("v2", ("gcg_spans",), "<p> a man  </p> [SEG]<p> riding a horse </p> [SEG] on the beach.", [1, 0]),
    ],
)
def test_overlapping_phrases(built, processors, recipe, fixes, answer, regions):
    record = overlapping(built("gcg_refcocog")[0])
    check(Sa2VATrainingTransform(processors("qwen"), recipe, fixes=fixes), record, [0, 1], answer, regions)


def test_the_fix_drops_a_phrase_left_empty(built, processors):
    record = overlapping(built("gcg_refcocog")[0])
    record["texts"][1]["text"] = "riding a horse on"  # starts where the other does: left empty, dropped
    t = Sa2VATrainingTransform(processors("qwen"), "v2", fixes={"gcg_spans"})
    check(t, record, [0, 1], "a man <p> riding a horse on </p> [SEG] the beach.", regions=[1])


@pytest.mark.parametrize("recipe", ["v1", "v2"])
@pytest.mark.parametrize("source", ["gcg_grandf", "gcg_openpsg"])
def test_grandf_and_openpsg_use_the_record_spans(built, processors, source, recipe):
    record = built(source)[1]  # caption "A man in a blue jacket walks a dog 1 along the beach.", three phrases
    answer = "<p> A man in a blue jacket </p> [SEG] walks <p> a dog 1 </p> [SEG] along the <p> beach </p> [SEG]."
    check(Sa2VATrainingTransform(processors("qwen"), recipe), record, [0, 1, 2], answer, regions=[0, 1, 2])


def test_flickr_uses_each_annotations_first_span(built, processors):
    record = built("gcg_flickr")[0]  # "Two young men are playing frisbee in the park ."; "young" also has [0, 1]
    t = Sa2VATrainingTransform(processors("qwen"), "v1")
    plan = t.plan(record)
    assert [record["texts"][k]["text"] for k in plan["text_ids"]] == ["Two", "young"]
    answer = "<p> Two </p> [SEG] <p> young </p> [SEG] men are playing frisbee in the park ."
    check(t, record, plan["text_ids"], answer, regions=[0, 1])


def test_v1_keeps_the_answer_unstripped_v2_strips_it(built, processors):
    record = {**built("gcg_flickr")[0], "caption": "Two young men are playing frisbee in the park . "}
    plan = plan_of(Sa2VATrainingTransform(processors("qwen"), "v1").plan(record)["text_ids"])
    answer = "<p> Two </p> [SEG] <p> young </p> [SEG] men are playing frisbee in the park ."
    v1 = Sa2VATrainingTransform(processors("qwen"), "v1").render(record, plan)
    v2 = Sa2VATrainingTransform(processors("qwen"), "v2").render(record, plan)
    assert v1[1] == (answer + " <|im_end|>", True) and v2[1] == (answer + "<|im_end|>", True)


def test_records_without_a_groundable_phrase_are_refused(built, processors):
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    record = built("gcg_refcocog")[0]
    none_in_caption = {**record, "texts": [{**x, "text": "a cat"} for x in record["texts"]]}
    assert "no grounded phrase" in t.drop_reason(none_in_caption)
    with pytest.raises(SampleDroppedError, match="no grounded phrase"):
        t.plan(none_in_caption)
    grandf = built("gcg_grandf")[0]
    outside = {**grandf, "texts": [{**grandf["texts"][0], "start": None, "end": None}, *grandf["texts"][1:]]}
    assert "outside the caption" in t.drop_reason(outside)
