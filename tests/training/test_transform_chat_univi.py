"""Chat-UniVi video QA: upstream's video-chat sample (v1 ``VideoChatUniViDataset``, v2 ``Sa2VA04VideoQA``):
5 frames, one at random per equal segment, decoded from the video only where planned; the conversation
with v1's / v2's placeholder handling.

Expected texts are spelled out from the upstream rules: v1 removes ``<image>`` from the questions and puts
the frames right before the first, nothing stripped; v2 removes ``<video>`` and strips every question,
writes ``<image>\\n`` before the first, then removes every ``<image>`` of that message, puts the frames in
front and strips it; answers stripped.
"""

from __future__ import annotations

import numpy as np
import pytest

from sa2va_hf import video_io
from sa2va_hf.errors import SampleDroppedError
from sa2va_hf.training import Sa2VATrainingTransform

from ..reference import ref_video_frame, ref_video_prompt
from .expected import frame_signatures, sample_runs, xtuner_runs

F5 = ref_video_prompt(5)
PLAN = {"text_ids": [], "question_ids": [], "answer_ids": [], "frame_ids": [0, 1, 2, 3, 5]}


def with_conversation(record, messages):
    return {**record, "conversations": [{"from": f, "value": v} for f, v in messages]}


@pytest.mark.parametrize("flavour", ["qwen", "phi3"])
@pytest.mark.parametrize("recipe", ["v1", "v2"])
def test_fixed_plan_text_labels_and_pixels(built, processors, recipe, flavour, decoded_frames):
    record = built("chat_univi")[2]  # v_alpha.mp4 (6 frames), 3 turns, "<image>\n" before the first question
    t = Sa2VATrainingTransform(processors(flavour), recipe)
    # v1: "<image>" removed -> "\nWhat happens ..." right after the frames; v2: "<image>\n" + "<image>\nWhat ..."
    # with every <image> removed leaves a blank line
    first = F5 + ("\n" if recipe == "v1" else "\n\n") + "What happens in part 0 of video 2?"
    expected = xtuner_runs(flavour, [
        (first, "Answer 0 about video 2."),
        ("What happens in part 1 of video 2?", "Answer 1 about video 2."),
        ("What happens in part 2 of video 2?", "Answer 2 about video 2."),
    ])  # fmt: skip
    assert t.render(record, PLAN) == expected
    sample = t.build(record, PLAN)
    assert sample_runs(t.processor.tokenizer, sample) == expected
    assert set(sample) == {"input_ids", "labels", "pixel_values", "num_patches", "num_frames", "plan"}
    assert decoded_frames == [[0, 1, 2, 3, 5]]  # only the planned frames
    assert frame_signatures(sample["pixel_values"]) == [0, 1, 2, 3, 5]
    frames = video_io.read_frames(record["video"], [0, 1, 2, 3, 5])
    assert np.array_equal(sample["pixel_values"], np.stack([ref_video_frame(f) for f in frames]))
    assert t.length(record, PLAN) == len(sample["input_ids"])


def test_placeholders_each_recipe_its_own_and_the_fix_both(built, processors):
    record = with_conversation(built("chat_univi")[0], [
        ("human", "<video>\n Q0 "), ("gpt", " A0 "), ("human", " Q1 <video>"), ("gpt", "A1"),
    ])  # fmt: skip
    v1 = Sa2VATrainingTransform(processors("qwen"), "v1")
    assert v1.render(record, PLAN) == xtuner_runs("qwen", [(F5 + "<video>\n Q0 ", " A0 "), (" Q1 <video>", "A1")])
    v2 = Sa2VATrainingTransform(processors("qwen"), "v2")
    assert v2.render(record, PLAN) == xtuner_runs("qwen", [(F5 + "\nQ0", "A0"), ("Q1", "A1")])
    fixed = Sa2VATrainingTransform(processors("qwen"), "v1", fixes={"chat_univi_placeholders"})
    assert fixed.render(record, PLAN) == xtuner_runs("qwen", [(F5 + "\n Q0 ", " A0 "), (" Q1 ", "A1")])
    # v1 without a newline after the placeholder: the question follows the last frame (the newline fix)
    bare = with_conversation(record, [("human", "<image>Q0"), ("gpt", "A0")])
    assert v1.render(bare, PLAN) == xtuner_runs("qwen", [(F5 + "Q0", "A0")])
    newline = Sa2VATrainingTransform(processors("qwen"), "v1", fixes={"video_question_newline"})
    assert newline.render(bare, PLAN) == xtuner_runs("qwen", [(F5 + "\nQ0", "A0")])
    # v2: "<image>" in a later question makes it assert; the fix removes it
    late = with_conversation(record, [("human", "<image>\nQ0"), ("gpt", "A0"), ("human", "<image>Q1"), ("gpt", "A1")])
    assert "v2 asserts" in v2.drop_reason(late)
    with pytest.raises(SampleDroppedError, match="v2 asserts"):
        v2.build(late, PLAN)
    fixed_v2 = Sa2VATrainingTransform(processors("qwen"), "v2", fixes={"chat_univi_placeholders"})
    assert fixed_v2.render(late, PLAN) == xtuner_runs("qwen", [(F5 + "\nQ0", "A0"), ("Q1", "A1")])
    assert v1.render(late, PLAN) == xtuner_runs("qwen", [(F5 + "\nQ0", "A0"), ("Q1", "A1")])


def test_questions_and_answers_pair_by_position_as_upstream_zips_them(built, processors):
    record = with_conversation(built("chat_univi")[0], [("gpt", "A0"), ("human", "Q1"), ("gpt", "A1"), ("human", "Q2")])
    v1 = Sa2VATrainingTransform(processors("qwen"), "v1")
    assert v1.render(record, PLAN) == xtuner_runs("qwen", [(F5 + "Q1", "A0"), ("Q2", "A1")])
    for bad, reason in [
        ([("human", "Q0"), ("gpt", "A0"), ("human", "Q1")], "2 questions but 1 answers"),
        ([], "no question and answer"),
    ]:
        broken = with_conversation(record, bad)
        assert reason in v1.drop_reason(broken)
        with pytest.raises(SampleDroppedError, match=reason):
            v1.plan(broken)


def test_segment_sampling(built, processors):
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    record = built("chat_univi")[0]  # 6 frames: bounds 0, 1, 2, 3, 4, 6
    drawn = [t.plan(record, rng=seed)["frame_ids"] for seed in range(40)]
    assert all(f[:4] == [0, 1, 2, 3] and f[4] in (4, 5) for f in drawn)
    assert {f[4] for f in drawn} == {4, 5}
    long = {**record, "frame_indices": list(range(103))}  # bounds int(linspace(0, 103, 6)): 0 20 41 61 82 103
    bounds = [0, 20, 41, 61, 82, 103]
    drawn = [t.plan(long, rng=seed)["frame_ids"] for seed in range(300)]
    for i in range(5):
        picks = {f[i] for f in drawn}
        assert min(picks) == bounds[i] and max(picks) == bounds[i + 1] - 1
    assert t.plan(built("chat_univi")[3])["frame_ids"] == [0, 1, 2, 3, 4]  # 5 frames: all of them
    assert t.plan(built("chat_univi")[1])["frame_ids"] == [0, 1, 2]  # 3 frames: all of them


def test_short_videos_v1_refused_unless_fixed_v2_one_string_per_frame(built, processors):
    record = built("chat_univi")[1]  # v_beta (3 frames), 2 turns
    v1 = Sa2VATrainingTransform(processors("qwen"), "v1")
    assert "writes 5 frame strings" in v1.drop_reason(record)
    fixed = Sa2VATrainingTransform(processors("qwen"), "v1", fixes={"chat_univi_short_videos"})
    v2 = Sa2VATrainingTransform(processors("qwen"), "v2")
    f3 = ref_video_prompt(3)
    plan = fixed.plan(record)
    assert plan["frame_ids"] == [0, 1, 2]
    later = ("What happens in part 1 of video 1?", "Answer 1 about video 1.")
    assert fixed.render(record, plan) == xtuner_runs("qwen", [(f3 + "\nWhat happens in part 0 of video 1?",
                                                               "Answer 0 about video 1."), later])  # fmt: skip
    assert v2.render(record, v2.plan(record)) == xtuner_runs("qwen", [(f3 + "\n\nWhat happens in part 0 of video 1?",
                                                            "Answer 0 about video 1."), later])  # fmt: skip
    sample = v2(record)
    assert sample["pixel_values"].shape == (3, 3, 448, 448) and sample["num_frames"].tolist() == [3]
    kept, report = v1.filter(built("chat_univi"))
    assert len(kept) == 3 and report == {v1.drop_reason(record): 1}
