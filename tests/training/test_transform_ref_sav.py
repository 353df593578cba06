"""Ref-SAV: upstream's SA-V referring sample (v1 ``VideoSAM2Dataset`` long mode, v2 ``Sa2VA03RefVOS`` refsav),
with frames decoded from the mp4 only where the plan says.

Expected texts are spelled out from the upstream rules: the object's ``formated`` caption verbatim in
v1's "Please segment the object according to the description: {}" or in v2's generic SEG questions.
"""

from __future__ import annotations

import numpy as np
import pytest

from sa2va_hf import video_io
from sa2va_hf.errors import SampleDroppedError
from sa2va_hf.training import Sa2VATrainingTransform

from ..reference import ref_g_pixel_values, ref_video_frame, ref_video_prompt
from .expected import decoded, frame_signatures, sample_runs, xtuner_runs

# record 0: sav_000002.mp4, 10 frames, annotated 0 / 4 / 8; texts 0 = object "2", 1 = object "0";
# object 2 is invisible (an empty mask) in annotated frame 1
CAPTION = {k: f"The object {k} of sav_000002, described at length." for k in (0, 2)}
PLAN = {"text_ids": [0, 1, 1, 0, 0], "question_ids": [0, 4, 1, 15, 9], "answer_ids": [0, 1, 2, 3, 4],
        "frame_ids": [0, 1, 1, 2, 2]}  # fmt: skip
V1_PLAN = {**PLAN, "question_ids": [0] * 5}
ANSWERS = ["It is [SEG].", "Sure, [SEG].", "Sure, it is [SEG].", "Sure, the segmentation result is [SEG].", "[SEG]."]
LONG = "Please segment the object according to the description: "
QUESTIONS = {
    "v1": [LONG + CAPTION[2], LONG + CAPTION[0], LONG + CAPTION[0], LONG + CAPTION[2], LONG + CAPTION[2]],
    # v2's common.SEG_QUESTIONS 0, 4, 1, 15, 9 around the caption as it is
    "v2": [
        f"Can you segment the {CAPTION[2]} in this image?",
        f"Can you segment the {CAPTION[0]} in this image?",
        f"Please segment {CAPTION[0]} in this image.",
        f"Can you highlight the {CAPTION[2]} in this image with a segmentation mask?",
        f"Please identify and segment the {CAPTION[2]} in this image.",
    ],
}


def expected_runs(recipe, flavour="qwen"):
    qs = QUESTIONS[recipe]
    first = ref_video_prompt(5) + ("" if recipe == "v1" else "\n") + qs[0]
    return xtuner_runs(flavour, [(first, ANSWERS[0])] + list(zip(qs[1:], ANSWERS[1:])))


@pytest.mark.parametrize("flavour", ["qwen", "phi3"])
@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_fixed_plan_text_labels_and_pixels(built, processors, recipe, flavour, decoded_frames):
    record = built("ref_sav")[0]
    plan = V1_PLAN if recipe == "v1" else PLAN
    t = Sa2VATrainingTransform(processors(flavour), recipe)
    assert t.render(record, plan) == expected_runs(recipe, flavour)
    sample = t.build(record, plan)
    assert sample_runs(t.processor.tokenizer, sample) == expected_runs(recipe, flavour)
    assert set(sample) == {"input_ids", "labels", "pixel_values", "num_patches", "num_frames", "g_pixel_values",
                           "masks", "plan"}  # fmt: skip
    # only the planned frames are decoded: annotated frames 0, 1, 1, 2, 2 are video frames 0, 4, 4, 8, 8
    assert decoded_frames == [[0, 4, 4, 8, 8]]
    assert frame_signatures(sample["pixel_values"]) == [0, 4, 4, 8, 8]
    frames = video_io.read_frames(record["video"], [0, 4, 4, 8, 8])
    assert np.array_equal(sample["pixel_values"], np.stack([ref_video_frame(f) for f in frames]))
    assert np.array_equal(sample["g_pixel_values"], np.stack([ref_g_pixel_values(f) for f in frames]))
    # masks object-major: each object's masklet column in the chosen frames
    assert sample["masks"].shape == (25, 32, 48)
    for i, k in enumerate(plan["text_ids"]):
        (region,) = record["texts"][k]["region_ids"]
        for j, f in enumerate(plan["frame_ids"]):
            assert np.array_equal(sample["masks"][i * 5 + j], decoded(record, region, f))
    assert not sample["masks"][1].any()  # object 2 invisible in annotated frame 1: an empty mask
    assert t.length(record, plan) == len(sample["input_ids"])


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_plans_five_objects_five_frames(built, processors, recipe):
    t = Sa2VATrainingTransform(processors("qwen"), recipe)
    record = built("ref_sav")[0]  # 3 annotated frames: with replacement
    questions = 1 if recipe == "v1" else 16
    for seed in range(30):
        plan = t.plan(record, rng=seed)
        assert len(plan["text_ids"]) == 5 and set(plan["text_ids"]) <= {0, 1}
        assert all(0 <= q < questions for q in plan["question_ids"]) and all(0 <= a < 5 for a in plan["answer_ids"])
        assert len(plan["frame_ids"]) == 5 and plan["frame_ids"] == sorted(plan["frame_ids"])
        assert max(plan["frame_ids"]) < 3
    long = {**record, "frame_indices": list(range(0, 4 * 30, 4)),  # a masklet of 30 annotated frames
            "regions": [{**r, "masks": r["masks"] * 10} for r in record["regions"]]}  # fmt: skip
    drawn = [t.plan(long, rng=seed)["frame_ids"] for seed in range(30)]
    assert all(len(set(f)) == 5 and f == sorted(f) for f in drawn) and max(max(f) for f in drawn) >= 20


def test_article_fix_and_refusals(built, processors):
    record = built("ref_sav")[0]
    fixed = Sa2VATrainingTransform(processors("qwen"), "v2", fixes={"seg_question_article"})
    assert fixed.render(record, PLAN)[0][0].endswith(f"\nCan you segment {CAPTION[2]} in this image?<|im_end|>\n"
                                                     "<|im_start|>assistant\n")  # fmt: skip
    v1 = Sa2VATrainingTransform(processors("qwen"), "v1", fixes={"seg_question_article", "video_question_newline"})
    assert v1.render(record, V1_PLAN)[0][0].endswith(ref_video_prompt(5) + "\n" + LONG + CAPTION[2] +
                                                     "<|im_end|>\n<|im_start|>assistant\n")  # fmt: skip
    empty = {**record, "regions": [], "texts": []}
    assert "no object" in fixed.drop_reason(empty)
    with pytest.raises(SampleDroppedError, match="no object"):
        fixed.plan(empty)
