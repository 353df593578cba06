"""What the video recipes share: upstream's frame and expression sampling, and v1's video text layout.

Upstream (v1 ``VideoReVOSDataset`` / ``VideoSAM2Dataset``, v2 ``Sa2VA03RefVOS``), every config:
``select_number=5`` expressions (Ref-SAV: objects) and ``sampled_frames=5`` frames per sample.

* expressions: ``np.random.choice(n, 5)`` when ``n > 5`` -- no ``replace=False``, so with replacement,
  like the ``replace=True`` branch for ``n <= 5`` (fix ``video_distinct_expressions``);
* frames: without replacement when the video has more than ``5 + 1`` frames, else with replacement
  (fix ``video_distinct_frames``); sorted either way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...errors import PlanError
from ...tokens import IMAGE_PLACEHOLDER
from ..plan import template
from .base import SampleSpec, fold_v2_video, where

#: ``select_number`` / ``sampled_frames`` of every upstream config (v1 and v2).
EXPRESSIONS_PER_SAMPLE = 5
FRAMES_PER_SAMPLE = 5


def sample_expressions(rng: np.random.Generator, n: int, fixes: frozenset[str]) -> list[int]:
    """5 indices in ``range(n)``: with replacement, as upstream (``video_distinct_expressions``: distinct when n > 5)."""
    distinct = "video_distinct_expressions" in fixes and n > EXPRESSIONS_PER_SAMPLE
    return [int(i) for i in rng.choice(n, EXPRESSIONS_PER_SAMPLE, replace=not distinct)]


def sample_frames(rng: np.random.Generator, n: int, fixes: frozenset[str]) -> list[int]:
    """5 sorted frame positions in ``range(n)``: distinct when n > 6, else with replacement
    (``video_distinct_frames``: distinct when n >= 5)."""
    # upstream: ``len_frames > select_k + 1``
    fewest_distinct = FRAMES_PER_SAMPLE if "video_distinct_frames" in fixes else FRAMES_PER_SAMPLE + 2
    distinct = n >= fewest_distinct
    return sorted(int(i) for i in rng.choice(n, FRAMES_PER_SAMPLE, replace=not distinct))


def v1_video_turns(questions: Sequence[str], answers: Sequence[str], fixes: frozenset[str]) -> list[dict[str, str]]:
    """v1's ``prepare_text``: the frames (``<image>``) right before the first question -- on the same line
    unless ``video_question_newline`` -- each question + answer one turn, nothing stripped."""
    turns = []
    for i, (question, answer) in enumerate(zip(questions, answers)):
        if i == 0:
            newline = "video_question_newline" in fixes and not question.startswith("\n")
            question = IMAGE_PLACEHOLDER + ("\n" if newline else "") + question
        turns.append({"input": question, "output": answer})
    return turns


def v2_video_messages(questions: Sequence[str], answers: Sequence[str]) -> list[dict[str, str]]:
    """v2's conversation before its fold (:func:`~.base.fold_v2_video`): ``<image>\\n`` before the first question."""
    messages = []
    for i, (question, answer) in enumerate(zip(questions, answers)):
        messages.append({"from": "human", "value": (IMAGE_PLACEHOLDER + "\n" if i == 0 else "") + question})
        messages.append({"from": "gpt", "value": answer})
    return messages


def frame_count(record) -> int:
    """How many frames the record has: its ``frame_indices`` (a video file) or its stored ``frames``."""
    return len(record["frame_indices"]) if record.get("video") is not None else len(record["frames"])


def check_turn_ids(record, plan) -> None:
    """One question id and one answer id per text id."""
    if not len(plan["text_ids"]) == len(plan["question_ids"]) == len(plan["answer_ids"]):
        where = f" (source {record.get('source')!r}, record {record.get('id')!r})"
        raise PlanError(f"the plan needs one question and one answer id per text id{where}")


def segmentation_spec(record, plan, t, questions: Sequence[str]):
    """The sample of a referring video segmentation plan (ReVOS / MeViS / Ref-YTVOS, Ref-SAV): the
    recipe's answers, v1's or v2's turn layout, the planned frames, one mask group per expression."""
    answers = [template(t.prompts.ANSWER_LIST, a, "answer", where(record)) for a in plan["answer_ids"]]
    if t.recipe == "v1":
        turns = v1_video_turns(questions, answers, t.fixes)
    else:
        turns = fold_v2_video(v2_video_messages(questions, answers), record)
    return SampleSpec(
        turns=turns,
        frames=list(plan["frame_ids"]),
        video=True,
        mask_groups=[list(record["texts"][k]["region_ids"]) for k in plan["text_ids"]],
    )
