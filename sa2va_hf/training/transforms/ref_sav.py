"""Ref-SAV -> the sample of upstream's SA-V referring class.

v1: ``VideoSAM2Dataset`` (``projects/llava_sam2/datasets/ReSAM2_Dataset.py``, default ``mode='long'``);
v2: ``Sa2VA03RefVOS`` with ``dataset_type='refsav'``. The record's frames are the annotated ones
(``frame_indices``: every 4th frame of the mp4, upstream's ``frames[::4]``, aligned with the masklet); only
the planned frames are decoded. Per sample, in both:

* 5 objects (the record's texts, one ``formated`` caption per object), with replacement, and 5 sorted
  frames: distinct when the masklet has more than 6, else with replacement (:mod:`._video`);
* per object one turn, the caption verbatim (not lower-cased, ``.`` kept): v1 asks
  ``REF_SAV_SEG_QUESTIONS[0]``, "Please segment the object according to the description: {}"; v2 the
  generic ``SEG_QUESTIONS[q]`` ("Can you segment the The object ... in this image?"); answer
  ``ANSWER_LIST[a]``;
* one 448 tile and one ``g_pixel_values`` image per frame, ``masks`` object-major (each object's masklet
  column in the chosen frames; an invisible object is an empty mask);
* the text layout of the ReVOS family: v1 frames right before the first question, nothing stripped; v2
  ``<image>\\n`` + question, first message and answers stripped.

Differences the record cannot carry: upstream decodes the whole mp4 with OpenCV (PyAV's frames are equal,
see the README); v2 asserts that the video's ``frames[::4]`` are exactly as many as the masklet's entries,
which a video longer than its masklet breaks (the source keeps such videos and counts them in its log).
"""

from __future__ import annotations

from ..plan import draw, template
from ._video import check_turn_ids, frame_count, sample_expressions, sample_frames, segmentation_spec
from .base import FamilyTransform, SampleSpec, base_plan, refuse, seg_question, where


def questions_of(t):
    """v1: the long-caption prompt (one template); v2: the generic SEG questions."""
    return t.prompts.REF_SAV_SEG_QUESTIONS if t.recipe == "v1" else t.prompts.SEG_QUESTIONS


class RefSAVTransform(FamilyTransform):
    families = ("ref_sav",)

    def plan(self, record, rng, t) -> dict:
        reason = self.drop_reason(record, t)
        if reason is not None:
            raise refuse(record, reason)
        text_ids = sample_expressions(rng.sample, len(record["texts"]), t.fixes)
        frame_ids = sample_frames(rng.sample, frame_count(record), t.fixes)
        questions = [draw(rng.sample, len(questions_of(t))) for _ in text_ids]
        answers = [draw(rng.sample, len(t.prompts.ANSWER_LIST)) for _ in text_ids]
        return base_plan(text_ids, questions, answers, frame_ids)

    def drop_reason(self, record, t) -> str | None:
        if not record["texts"]:
            return "no object (upstream's np.random.choice(0, 5) raises)"
        if not frame_count(record):
            return "no annotated frame"
        return None

    def spec(self, record, plan, t) -> SampleSpec:
        reason = self.drop_reason(record, t)
        if reason is not None:
            raise refuse(record, reason)
        check_turn_ids(record, plan)
        questions = [
            seg_question(template(questions_of(t), q, "question", where(record)), record["texts"][k]["text"], t.fixes)
            for k, q in zip(plan["text_ids"], plan["question_ids"])
        ]
        return segmentation_spec(record, plan, t, questions)


TRANSFORM = RefSAVTransform()
