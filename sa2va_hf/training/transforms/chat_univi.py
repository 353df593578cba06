"""Chat-UniVi video QA -> the sample of upstream's video-chat class.

v1: ``VideoChatUniViDataset`` (``projects/llava_sam2/datasets/ChatUniVi_Dataset.py``); v2: ``Sa2VA04VideoQA``
(``projects/sa2va/datasets/sa2va_data_04_videoqa.py``); every config samples 5 frames. The record indexes
every frame of the video (``frame_indices``); only the planned frames are decoded.

* frames: a video of at most 5 frames gives all of them; a longer one gives one frame at random in each
  of 5 equal segments (bounds ``np.linspace(0, n, 6)`` cut to ints; frame i in ``[bounds[i], bounds[i+1])``).
* text: the user messages are the questions and every other message an answer, paired by position
  (upstream asserts there are as many of each, then zips the two lists). v1 removes ``<image>`` from each
  question and writes the frame strings (joined by ``\\n``) right before the first, nothing stripped -- and
  always 5 frame strings, so a shorter video is refused (fix ``chat_univi_short_videos``); v2 removes
  ``<video>`` and strips each question, writes ``<image>\\n`` before the first and folds as every v2 video
  class (an ``<image>`` left in a later question makes it assert: refused). Which placeholder the JSON
  holds varies (Chat-UniVi's own loader accepts both): fix ``chat_univi_placeholders`` removes both.
* pixels: one 448 tile per frame; no ``g_pixel_values`` and no ``masks`` (v1's class makes none; v2's
  config gives this class no grounding processor).
"""

from __future__ import annotations

import numpy as np

from ...tokens import IMAGE_PLACEHOLDER
from ._video import FRAMES_PER_SAMPLE, frame_count, v1_video_turns, v2_video_messages
from .base import FamilyTransform, SampleSpec, base_plan, fold_v2_video, refuse

VIDEO_PLACEHOLDER = "<video>"


def segment_frames(rng: np.random.Generator, n: int) -> list[int]:
    """Upstream's ``_get_rawvideo_dec``: every frame of a short video, else one at random per equal segment."""
    if n <= FRAMES_PER_SAMPLE:
        return list(range(n))
    bounds = np.linspace(0, n, num=FRAMES_PER_SAMPLE + 1, dtype=int)
    return [int(rng.integers(bounds[i], bounds[i + 1])) for i in range(FRAMES_PER_SAMPLE)]


def questions_and_answers(record) -> tuple[list[str], list[str]]:
    """Upstream's split: user messages are questions, every other message an answer."""
    questions = [m["value"] for m in record["conversations"] if m["from"] == "human"]
    answers = [m["value"] for m in record["conversations"] if m["from"] != "human"]
    return questions, answers


def v1_question(text: str, fixes: frozenset[str]) -> str:
    if "chat_univi_placeholders" in fixes:
        text = text.replace(VIDEO_PLACEHOLDER, "")
    return text.replace(IMAGE_PLACEHOLDER, "")


def v2_question(text: str, fixes: frozenset[str]) -> str:
    if "chat_univi_placeholders" in fixes:
        text = text.replace(IMAGE_PLACEHOLDER, "")
    return text.replace(VIDEO_PLACEHOLDER, "").strip()


class ChatUniViTransform(FamilyTransform):
    families = ("chat_univi",)

    def plan(self, record, rng, t) -> dict:
        reason = self.drop_reason(record, t)
        if reason is not None:
            raise refuse(record, reason)
        return base_plan(frame_ids=segment_frames(rng.sample, frame_count(record)))

    def drop_reason(self, record, t) -> str | None:
        n = frame_count(record)
        if not n:
            return "no frame (upstream asserts num_frames > 0)"
        questions, answers = questions_and_answers(record)
        if len(questions) != len(answers):
            return f"{len(questions)} questions but {len(answers)} answers (upstream asserts as many of each)"
        if not questions:
            return "no question and answer"
        if t.recipe == "v1" and n < FRAMES_PER_SAMPLE and "chat_univi_short_videos" not in t.fixes:
            return (
                f"a video of {n} frames: v1 gives its {n} frames but writes {FRAMES_PER_SAMPLE} frame strings "
                "(image tokens and pixels would disagree)"
            )
        if t.recipe == "v2":
            for i, q in enumerate(questions[1:], 1):
                if IMAGE_PLACEHOLDER in v2_question(q, t.fixes):
                    return f"<image> in question {i} (v2 asserts it is in the first message)"
        return None

    def spec(self, record, plan, t) -> SampleSpec:
        reason = self.drop_reason(record, t)
        if reason is not None:
            raise refuse(record, reason)
        questions, answers = questions_and_answers(record)
        if t.recipe == "v1":
            turns = v1_video_turns([v1_question(q, t.fixes) for q in questions], answers, t.fixes)
        else:
            messages = v2_video_messages([v2_question(q, t.fixes) for q in questions], answers)
            turns = fold_v2_video(messages, record)
        return SampleSpec(
            turns=turns,
            frames=list(plan["frame_ids"]),
            video=True,
            grounding=False,
            image_options={"return_grounding": False},
        )


TRANSFORM = ChatUniViTransform()
