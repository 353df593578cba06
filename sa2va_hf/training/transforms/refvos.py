"""ReVOS / MeViS / Ref-YouTube-VOS -> the sample of upstream's referring-video-segmentation class.

v1: ``VideoReVOSDataset`` (``projects/llava_sam2/datasets/ReVOS_Dataset.py``; MeViS's class is it unchanged,
Ref-YouTube-VOS's only reads ``mask_dict.pkl``); v2: ``Sa2VA03RefVOS`` (``projects/sa2va/datasets/
sa2va_data_03_refvos.py``, ``dataset_type`` ``default`` / ``refytvos``). Per sample, in both:

* 5 expressions of the video, with replacement (:mod:`._video`), and 5 sorted frames (positions in
  ``frames``): distinct when the video has more than 6, else with replacement;
* per expression one turn: an expression holding ``?`` is the question as it is (its ``question_ids``
  entry is ``None``); otherwise every ``.`` is removed, it is stripped and lower-cased and put into
  ``SEG_QUESTIONS[q]`` -- ten templates write ``the {class_name}``, so "the man" becomes "the the man"
  (fix ``seg_question_article``); answer ``ANSWER_LIST[a]``;
* one 448 tile and one ``g_pixel_values`` image per frame; ``masks`` object-major (expression 0's five
  frames, then expression 1's, ...), each the OR of the expression's regions (one per anno id) in that
  frame, a frame without a mask adding nothing;
* v1 writes the frame strings (joined by ``\\n``) right before the first question, on its line (fix
  ``video_question_newline``), nothing stripped, GLaMM's ``SEG_QUESTIONS`` (``ReVOS_Dataset.py``'s copy);
  v2 writes ``<image>\\n`` + the question, moves the frames to the front and strips that message and the
  answers, ``common.py``'s lists. Both encode with xtuner's template_map_fn + encode_fn.

Evaluation (valid splits; upstream's ``evaluation/dataset/refVOS.py`` + ``predict_forward``):
:meth:`RefVOSTransform.eval_plans` gives one plan per expression, nothing drawn: every frame (the first 5
reach the language model, every one SAM2), question ``<image>\\n`` + ``REFVOS_EVAL_QUESTIONS[q]`` with the
expression verbatim (``[1]`` when it holds ``?``), answer ``ANSWER_LIST[0]``; ``masks`` every frame where
the split has masks.
"""

from __future__ import annotations

from ...errors import PlanError
from ...tokens import IMAGE_PLACEHOLDER
from ..plan import draw, template
from ._video import check_turn_ids, frame_count, sample_expressions, sample_frames, segmentation_spec
from .base import FamilyTransform, SampleSpec, base_plan, refuse, seg_question, where

#: ``predict_forward`` gives the first 5 frames of a video to the language model, every frame to SAM2.
EVAL_LLM_FRAMES = 5
#: ``ANSWER_LIST[0]``: the answer of an evaluation plan (the prompt ends before it).
EVAL_ANSWER = 0


def is_question(expression: str) -> bool:
    """Upstream asks an expression holding ``?`` as it is."""
    return "?" in expression


def refer_phrase(expression: str) -> str:
    """Upstream's phrase: every ``.`` removed, stripped, lower-cased."""
    return expression.replace(".", "").strip().lower()


def question_of(t, record, text_id: int, question_id) -> str:
    expression = record["texts"][text_id]["text"]
    if is_question(expression):
        if question_id is not None:
            raise PlanError(f"text {text_id} holds '?': upstream asks it as it is (question id null){where(record)}")
        return expression
    seg = template(t.prompts.SEG_QUESTIONS, question_id, "question", where(record))
    return seg_question(seg, refer_phrase(expression), t.fixes)


class RefVOSTransform(FamilyTransform):
    families = ("refvos",)

    def plan(self, record, rng, t) -> dict:
        reason = self.drop_reason(record, t)
        if reason is not None:
            raise refuse(record, reason)
        texts = record["texts"]
        text_ids = sample_expressions(rng.sample, len(texts), t.fixes)
        frame_ids = sample_frames(rng.sample, frame_count(record), t.fixes)
        questions = [
            None if is_question(texts[k]["text"]) else draw(rng.sample, len(t.prompts.SEG_QUESTIONS)) for k in text_ids
        ]
        answers = [draw(rng.sample, len(t.prompts.ANSWER_LIST)) for _ in text_ids]
        return base_plan(text_ids, questions, answers, frame_ids)

    def drop_reason(self, record, t) -> str | None:
        if not record["texts"]:
            return "no expression (upstream lists a video only through its expressions)"
        if not frame_count(record):
            return "no frame"
        for k, text in enumerate(record["texts"]):
            if IMAGE_PLACEHOLDER in text["text"]:
                return f"expression {k} holds {IMAGE_PLACEHOLDER!r}, which stands for the video here"
        return None

    def data_texts(self, record, t) -> list[str]:
        """Expressions as training asks them: one holding ``?`` as it is, the others as phrases (lower-cased)."""
        return [x["text"] if is_question(x["text"]) else refer_phrase(x["text"]) for x in record["texts"]]

    def eval_plans(self, record, t) -> list[dict]:
        frames = range(frame_count(record))
        return [
            base_plan([k], [1 if is_question(text["text"]) else 0], [EVAL_ANSWER], frames, eval=True)
            for k, text in enumerate(record["texts"])
        ]

    def spec(self, record, plan, t) -> SampleSpec:
        reason = self.drop_reason(record, t)
        if reason is not None:
            raise refuse(record, reason)
        check_turn_ids(record, plan)
        if plan.get("eval"):
            return self._eval_spec(record, plan, t)
        questions = [question_of(t, record, k, q) for k, q in zip(plan["text_ids"], plan["question_ids"])]
        return segmentation_spec(record, plan, t, questions)

    @staticmethod
    def _eval_spec(record, plan, t) -> SampleSpec:
        if len(plan["text_ids"]) != 1:
            raise PlanError(f"an evaluation plan has one expression, got {len(plan['text_ids'])}{where(record)}")
        (k,), (q,), (a,) = plan["text_ids"], plan["question_ids"], plan["answer_ids"]
        text = record["texts"][k]
        question = template(t.prompts.REFVOS_EVAL_QUESTIONS, q, "evaluation question", where(record))
        return SampleSpec(
            turns=[{"input": IMAGE_PLACEHOLDER + "\n" + question.format(class_name=text["text"]),
                    "output": template(t.prompts.ANSWER_LIST, a, "answer", where(record))}],
            frames=list(plan["frame_ids"]),
            video=True,
            max_llm_frames=EVAL_LLM_FRAMES,
            mask_groups=[list(text["region_ids"])] if record["regions"] else None,
        )  # fmt: skip


TRANSFORM = RefVOSTransform()
