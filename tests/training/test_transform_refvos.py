"""ReVOS / MeViS / Ref-YouTube-VOS: upstream's referring-video sample (v1 ``VideoReVOSDataset``, v2
``Sa2VA03RefVOS``), its sampling (5 expressions x 5 frames), masks and evaluation plans.

Expected texts are spelled out from the upstream rules: an expression holding ``?`` is asked as it is,
any other loses every ``.``, is stripped and lower-cased and goes into ``SEG_QUESTIONS`` (GLaMM's for
v1, ``common.py``'s for v2); v1 puts the frame strings right before the first question, v2 puts
``<image>\\n`` before it and strips the message.
"""

from __future__ import annotations

import numpy as np
import pytest

from sa2va_hf import video_io
from sa2va_hf.data.schema import record_frames
from sa2va_hf.errors import PlanError, SampleDroppedError
from sa2va_hf.training import Sa2VATrainingTransform, lazy_frames
from sa2va_hf.training.evaluation import prompt_ids

from ..reference import ref_g_pixel_values, ref_video_frame, ref_video_prompt
from .expected import decoded, sample_runs, xtuner_runs

# revos train record 0 (24 x 32, frames 00000 / 00005 / 00010): texts 0 "the man in red." (anno 11, masks
# "m.m"), 1 "Which two things move?" (annos 11 + 12, 12 = ".mm"), 2 "a dog" (anno 13), 3 "the ball" (anno 12)
PLAN = {
    "text_ids": [0, 1, 2, 3, 0],
    "question_ids": [0, None, 4, 9, 15],
    "answer_ids": [0, 1, 2, 3, 4],
    "frame_ids": [0, 1, 1, 2, 2],
}
ANSWERS = ["It is [SEG].", "Sure, [SEG].", "Sure, it is [SEG].", "Sure, the segmentation result is [SEG].", "[SEG]."]
QUESTIONS = {
    # GLaMM's SEG_QUESTIONS 0, -, 4, 9, 15 ("the the": the templates write "the {class_name}")
    "v1": [
        "Can you segment the the man in red in this image?",
        "Which two things move?",
        "Can you segment the a dog in this image",
        "Please identify and segment the the ball in this image.",
        "Can you highlight the the man in red in this image with a segmentation mask",
    ],
    # common.SEG_QUESTIONS 0, -, 4, 9, 15
    "v2": [
        "Can you segment the the man in red in this image?",
        "Which two things move?",
        "Can you segment the a dog in this image?",
        "Please identify and segment the the ball in this image.",
        "Can you highlight the the man in red in this image with a segmentation mask?",
    ],
}
FRAMES5 = ref_video_prompt(5)


def turns(recipe, questions=None, first_separator=None):
    qs = questions or QUESTIONS[recipe]
    sep = first_separator if first_separator is not None else ("" if recipe == "v1" else "\n")
    return [(FRAMES5 + sep + qs[0], ANSWERS[0])] + list(zip(qs[1:], ANSWERS[1:]))


def region_or(record, regions, frame):
    want = np.zeros((record["height"], record["width"]), np.uint8)
    for region in regions:
        if record["regions"][region]["masks"][frame] is not None:
            want |= decoded(record, region, frame)
    return want


def check_video_sample(record, sample, plan, grounding=True):
    keys = {"input_ids", "labels", "pixel_values", "num_patches", "num_frames", "masks", "plan"}
    assert set(sample) == keys | ({"g_pixel_values"} if grounding else set())
    frames = record_frames(record, plan["frame_ids"])
    assert np.array_equal(sample["pixel_values"], np.stack([ref_video_frame(f) for f in frames]))
    assert sample["num_patches"].tolist() == [1] * 5 and sample["num_frames"].tolist() == [5]
    if grounding:
        assert np.array_equal(sample["g_pixel_values"], np.stack([ref_g_pixel_values(f) for f in frames]))
    h, w = record["height"], record["width"]
    assert sample["masks"].shape == (25, h, w) and sample["masks"].dtype == np.uint8
    for i, k in enumerate(plan["text_ids"]):  # object-major: expression i's five frames together
        for j, f in enumerate(plan["frame_ids"]):
            assert np.array_equal(sample["masks"][i * 5 + j], region_or(record, record["texts"][k]["region_ids"], f))


@pytest.mark.parametrize("flavour", ["qwen", "phi3"])
@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_fixed_plan_text_labels_and_pixels(built, processors, recipe, flavour):
    record = built("revos")[0]
    t = Sa2VATrainingTransform(processors(flavour), recipe)
    expected = xtuner_runs(flavour, turns(recipe))
    assert t.render(record, PLAN) == expected
    sample = t.build(record, PLAN)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    check_video_sample(record, sample, PLAN)
    assert t.length(record, PLAN) == len(sample["input_ids"])


def test_masks_or_the_anno_ids_of_an_expression_null_frames_adding_nothing(built, processors):
    record = built("revos")[0]
    sample = Sa2VATrainingTransform(processors("qwen"), "v1").build(record, PLAN)
    man, ball = decoded(record, 0, 0), decoded(record, 1, 1)  # anno 11 in frame 0, anno 12 in frame 1
    assert not sample["masks"][1].any()  # expression 0 (anno 11) in frame 1: null
    assert np.array_equal(sample["masks"][5], man)  # expression 1 (11 + 12) in frame 0: 12 is null there
    assert np.array_equal(sample["masks"][6], ball)  # ... in frame 1: 11 is null there
    assert np.array_equal(sample["masks"][8], decoded(record, 0, 2) | decoded(record, 1, 2))  # both in frame 2
    nothing = built("revos")[1]  # one expression whose anno has no mask in any frame
    plan = {"text_ids": [0] * 5, "question_ids": [0] * 5, "answer_ids": [0] * 5, "frame_ids": [0, 0, 1, 1, 1]}
    empty = Sa2VATrainingTransform(processors("qwen"), "v2").build(nothing, plan)
    assert empty["masks"].shape == (25, 16, 20) and not empty["masks"].any()


def fake_video(record, n_frames=None, n_texts=None):
    """The record with ``n_frames`` frames / ``n_texts`` expressions (plans read only how many there are)."""
    out = dict(record)
    if n_frames is not None:
        out["frames"] = [None] * n_frames
        out["regions"] = [{**r, "masks": [None] * n_frames} for r in record["regions"]]  # one entry per frame
    if n_texts is not None:
        out["texts"] = [{"text": f"thing {k}", "region_ids": [0], "start": None, "end": None} for k in range(n_texts)]
    return out


def plans(t, record, seeds=range(60)):
    return [t.plan(record, rng=seed) for seed in seeds]


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_frames_five_sorted_distinct_only_above_six(built, processors, recipe):
    t = Sa2VATrainingTransform(processors("qwen"), recipe)
    record = built("revos")[0]
    for n in (1, 3, 5, 6, 7, 8, 40):
        drawn = [p["frame_ids"] for p in plans(t, fake_video(record, n_frames=n))]
        assert all(len(f) == 5 and f == sorted(f) and max(f) < n for f in drawn)
        repeats = any(len(set(f)) < 5 for f in drawn)
        assert repeats == (n <= 6), n  # with replacement up to 6 frames (upstream: len_frames > select_k + 1)
    fixed = Sa2VATrainingTransform(processors("qwen"), recipe, fixes={"video_distinct_frames"})
    for n, distinct in ((4, False), (5, True), (6, True)):
        drawn = [p["frame_ids"] for p in plans(fixed, fake_video(record, n_frames=n))]
        assert all(len(set(f)) == 5 for f in drawn) == distinct


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_five_expressions_with_replacement_questions_only_without_question_mark(built, processors, recipe):
    t = Sa2VATrainingTransform(processors("qwen"), recipe)
    record = built("revos")[0]
    drawn = plans(t, record)
    for plan in drawn:
        assert len(plan["text_ids"]) == len(plan["question_ids"]) == len(plan["answer_ids"]) == 5
        for k, q in zip(plan["text_ids"], plan["question_ids"]):
            assert (q is None) == (k == 1)  # text 1 is the one holding "?"
            assert q is None or 0 <= q < 16
        assert all(0 <= a < 5 for a in plan["answer_ids"])
    assert {k for p in drawn for k in p["text_ids"]} == {0, 1, 2, 3}
    # more than 5 expressions: still with replacement (np.random.choice without replace=False) ...
    many = fake_video(record, n_texts=8)
    assert any(len(set(p["text_ids"])) < 5 for p in plans(t, many))
    fixed = Sa2VATrainingTransform(processors("qwen"), recipe, fixes={"video_distinct_expressions"})
    assert all(len(set(p["text_ids"])) == 5 for p in plans(fixed, many))  # ... unless fixed
    assert any(len(set(p["text_ids"])) < 5 for p in plans(fixed, fake_video(record, n_texts=5)))


def test_mevis_and_ref_youtube_vos(built, processors):
    # mevis train record 0 (18 x 26, 3 frames): 0 "cat jumping to the left" (anno 5), 1 "two cats fighting"
    # (annos 5 + 6), 2 "cat lying still" (anno 6)
    record = built("mevis")[0]
    plan = {"text_ids": [1, 2, 0, 0, 1], "question_ids": [1, 3, 10, 11, 0], "answer_ids": [4, 4, 0, 0, 1],
            "frame_ids": [0, 0, 1, 2, 2]}  # fmt: skip
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    expected = xtuner_runs("qwen", [
        (FRAMES5 + "\nPlease segment two cats fighting in this image.", "[SEG]."),
        ("What is cat lying still in this image? Please output segmentation mask.", "[SEG]."),
        ("Where is the cat jumping to the left in this picture? Please respond with a segmentation mask.", "It is [SEG]."),
        ("Can you highlight the cat jumping to the left in this image with a segmentation mask?", "It is [SEG]."),
        ("Can you segment the two cats fighting in this image?", "Sure, [SEG]."),
    ])  # fmt: skip
    assert t.render(record, plan) == expected
    check_video_sample(record, t.build(record, plan), plan)
    # Ref-YouTube-VOS: each expression is its own region (mask_dict.pkl keyed by a running counter)
    ytvos = built("ref_youtube_vos")[1]  # "0a1b2c3d4e": expressions "0" (key 12) and "1" (key 13)
    plan = {"text_ids": [1, 0, 1, 1, 0], "question_ids": [0] * 5, "answer_ids": [0] * 5, "frame_ids": [0, 1, 1, 2, 2]}
    v1 = Sa2VATrainingTransform(processors("qwen"), "v1")
    runs = v1.render(ytvos, plan)
    assert runs[0] == (
        "<|im_start|>user\n" + FRAMES5 + "Can you segment the 0a1b2c3d4e expression 1 in this image?"
        "<|im_end|>\n<|im_start|>assistant\n", False)  # fmt: skip
    sample = v1.build(ytvos, plan)
    check_video_sample(ytvos, sample, plan)
    assert not sample["masks"][1].any()  # key 13 (odd) has no mask in frame 1


def test_fixes_newline_and_article(built, processors):
    record = built("revos")[0]
    newline = Sa2VATrainingTransform(processors("qwen"), "v1", fixes={"video_question_newline"})
    assert newline.render(record, PLAN) == xtuner_runs("qwen", turns("v1", first_separator="\n"))
    article = Sa2VATrainingTransform(processors("qwen"), "v2", fixes={"seg_question_article"})
    assert article.render(record, PLAN) == xtuner_runs("qwen", turns("v2", [
        "Can you segment the man in red in this image?",
        "Which two things move?",
        "Can you segment a dog in this image?",
        "Please identify and segment the ball in this image.",
        "Can you highlight the man in red in this image with a segmentation mask?",
    ]))  # fmt: skip


def test_question_mark_expressions_are_asked_verbatim_others_lose_every_dot(built, processors):
    record = built("revos")[0]
    texts = [dict(x) for x in record["texts"]]
    texts[0]["text"] = "  The St. Louis Cat. "
    texts[1]["text"] = " Is it the U.S. flag?  "
    edited = {**record, "texts": texts}
    plan = {**PLAN, "text_ids": [0, 1, 1, 0, 0], "question_ids": [1, None, None, 0, 0]}
    v1 = Sa2VATrainingTransform(processors("qwen"), "v1").render(edited, plan)
    v2 = Sa2VATrainingTransform(processors("qwen"), "v2").render(edited, plan)
    assert v1[0][0].endswith(
        FRAMES5 + "Please segment the st louis cat in this image.<|im_end|>\n<|im_start|>assistant\n"
    )
    assert v1[2][0] == "\n<|im_start|>user\n Is it the U.S. flag?  <|im_end|>\n<|im_start|>assistant\n"
    assert v2[2][0] == v1[2][0]  # v2 strips only the first message
    # a question as the first expression: v1 keeps its spaces, v2 strips the first message
    first = {**plan, "text_ids": [1, 0, 0, 0, 0], "question_ids": [None, 1, 0, 0, 0]}
    assert Sa2VATrainingTransform(processors("qwen"), "v1").render(edited, first)[0][0].endswith(
        FRAMES5 + " Is it the U.S. flag?  <|im_end|>\n<|im_start|>assistant\n")  # fmt: skip
    assert Sa2VATrainingTransform(processors("qwen"), "v2").render(edited, first)[0][0].endswith(
        FRAMES5 + "\n Is it the U.S. flag?<|im_end|>\n<|im_start|>assistant\n")  # fmt: skip
    with pytest.raises(PlanError, match="holds '\\?'"):
        Sa2VATrainingTransform(processors("qwen"), "v1").render(edited, {**plan, "question_ids": [1, 2, 0, 0, 0]})


def test_records_upstream_has_no_sample_for(built, processors):
    record = built("revos")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    silent = {**record, "texts": []}
    assert "no expression" in t.drop_reason(silent)
    with pytest.raises(SampleDroppedError, match="no expression"):
        t.plan(silent)
    texts = [dict(x) for x in record["texts"]]
    texts[2]["text"] = "the <image> on the wall"
    assert "'<image>'" in t.drop_reason({**record, "texts": texts})
    assert t.drop_reason(record) is None


@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_eval_plans_every_frame_upstream_prompts(built, processors, recipe):
    t = Sa2VATrainingTransform(processors("qwen"), recipe)
    record = built("revos", "valid")[0]  # "TAO/val/xyz": 2 frames, "a car" (anno 31: mask, null)
    (plan,) = t.eval_plans(record)
    assert plan["frame_ids"] == [0, 1] and plan["question_ids"] == [0] and plan["eval"] is True
    expected = xtuner_runs("qwen", [(ref_video_prompt(2) + "\nPlease segment a car.", "It is [SEG].")])
    assert t.render(record, plan) == expected
    (sample,) = t.eval_samples(record)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    assert sample["masks"].shape == (2, 20, 24)
    assert np.array_equal(sample["masks"][0], decoded(record, 0, 0)) and not sample["masks"][1].any()
    prompt = t.processor.tokenizer.decode(prompt_ids(sample))
    assert prompt.endswith("Please segment a car.<|im_end|>\n<|im_start|>assistant\n")
    # a question is asked as v2's evaluation does; splits without masks give samples without masks
    texts = [{**record["texts"][0], "text": "What moves first?"}]
    (q_plan,) = t.eval_plans({**record, "texts": texts})
    assert q_plan["question_ids"] == [1]
    assert t.render({**record, "texts": texts}, q_plan)[0][0].endswith(
        ref_video_prompt(2) + "\n What moves first? Please respond with a segmentation mask.<|im_end|>\n"
        "<|im_start|>assistant\n")  # fmt: skip
    mevis = built("mevis", "valid")[0]  # 2 expressions, no masks
    samples = t.eval_samples(mevis)
    assert len(samples) == 2 and all("masks" not in s for s in samples)
    assert t.render(mevis, t.eval_plans(mevis)[1])[0][0].endswith("\nPlease segment the slowest one.<|im_end|>\n"
                                                                   "<|im_start|>assistant\n")  # fmt: skip
    ytvos = built("ref_youtube_vos", "valid")[0]
    assert len(t.eval_plans(ytvos)) == 11 and all(p["frame_ids"] == [0, 1, 2] for p in t.eval_plans(ytvos))


def test_eval_gives_the_first_five_frames_to_the_language_model_every_frame_to_sam2(built, processors):
    record = built("revos", "valid")[0]
    long = {**record, "frames": [record["frames"][k % 2] for k in range(7)],
            "regions": [{**r, "masks": [r["masks"][k % 2] for k in range(7)]} for r in record["regions"]]}  # fmt: skip
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    (plan,) = t.eval_plans(long)
    assert plan["frame_ids"] == list(range(7))
    sample = t.build(long, plan)
    assert sample["pixel_values"].shape == (5, 3, 448, 448) and sample["g_pixel_values"].shape[0] == 7
    assert sample["masks"].shape == (7, 20, 24) and sample["num_frames"].tolist() == [7]
    assert t.render(long, plan)[0][0].count("<img>") == 5
    assert t.length(long, plan) == len(sample["input_ids"])


def test_lazy_frames_open_only_the_planned_frames_and_build_the_same_sample(built, processors, monkeypatch):
    ds = built("revos")
    lazy = lazy_frames(ds)
    row = lazy[0]
    assert all(isinstance(f, dict) and f["bytes"] is None for f in row["frames"])  # nothing decoded on reading
    opened = []
    real = video_io.to_rgb_image
    monkeypatch.setattr(video_io, "to_rgb_image", lambda frame, *a: opened.append(frame) or real(frame, *a))
    t = Sa2VATrainingTransform(processors("qwen"), "v1")
    plan = {**PLAN, "frame_ids": [0, 0, 2, 2, 2]}
    sample = t.build(row, plan)
    assert opened == [row["frames"][f]["path"] for f in plan["frame_ids"]]  # frame 1 never opened
    eager = t.build(ds[0], plan)
    for key in ("input_ids", "labels", "pixel_values", "g_pixel_values", "masks"):
        assert np.array_equal(np.asarray(sample[key]), np.asarray(eager[key])), key
    assert lazy_frames(built("refcoco"))[0]["frames"][0]["path"].endswith(".jpg")  # image sources too
