"""RefCOCO / RefCOCO+ / RefCOCOg -> the sample of upstream's referring-segmentation class.

v1: ``ReferSegmDataset`` (``projects/llava_sam2/datasets/RefCOCO_Dataset.py``, on mmdet's
``RefCocoDataset``); v2: ``Sa2VA01RefSeg`` (``projects/sa2va/datasets/sa2va_data_01_refseg.py``).

* When the dataset is built, mmdet picks **one** sentence per referred object (``text_mode='random'``)
  and keeps it for the whole run: the plan draws it from the run stream (the
  ``refcoco_sentence_per_sample`` fix draws it per sample).
* Per sample, 5 objects are drawn **with replacement** (``num_classes_per_sample=5`` in every config);
  each gives one turn: question ``SEG_QUESTIONS[q]`` with the sentence lower-cased and one final
  ``.`` removed, the first turn opened by ``<image>\\n``; answer ``ANSWER_LIST[a]``.
* ``masks``: the 5 objects' masks, in turn order; ``g_pixel_values``; dynamic tiles.
* v1 encodes with its own loop: phi3's instruction ``<|user|>\\n{input}<|end|><|assistant|>\\n``
  forced whatever the template (fix: ``refcoco_template``), the first turn tokenized with the
  tokenizer's special tokens, every text stripped, no separator, no EOS; GLaMM's lists. v2 encodes as
  every v2 class (xtuner's template_map_fn + encode), v2's lists.

Evaluation (val / test splits; upstream's ``evaluation/dataset/RES.py`` + ``predict_forward``):
:meth:`RefCOCOTransform.eval_plans` gives one plan per sentence, nothing drawn: the prompt
``<image>\n Please segment {phrase} in this image.`` (``RES_EVAL_QUESTIONS[0]``, leading space
included) in the checkpoint's own template, both recipes (v1's forced phi3 instruction is training's
only), answer ``ANSWER_LIST[0]`` after the prompt. Upstream reads REFER's ``sent`` (lower-case,
tokenized); records keep ``raw``, so the phrase is ``raw`` as training reads it (lower-cased, one
final ``.`` removed).
"""

from __future__ import annotations

from ...errors import PlanError
from ...tokens import IMAGE_PLACEHOLDER
from ..conversations import REFCOCO_INSTRUCTION
from ..plan import draw, template
from .base import (
    FamilyTransform,
    SampleSpec,
    base_plan,
    fold_v1_direct,
    fold_v2,
    refuse,
    seg_question,
    strip_refer_phrase,
    texts_of_region,
    where,
)

#: ``num_classes_per_sample`` of every upstream RefCOCO config (v1 and v2).
OBJECTS_PER_SAMPLE = 5
#: ``RES_EVAL_QUESTIONS[0]`` / ``ANSWER_LIST[0]``: the fixed turn of an evaluation plan.
EVAL_QUESTION, EVAL_ANSWER = 0, 0


def referring_turns(prompts, record, plan, fixes: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    """One human / gpt pair per planned text: the SEG question around the phrase, a templated answer."""
    if not len(plan["text_ids"]) == len(plan["question_ids"]) == len(plan["answer_ids"]):
        raise PlanError(f"the plan needs one question and one answer id per text id{where(record)}")
    messages = []
    for i, (k, q, a) in enumerate(zip(plan["text_ids"], plan["question_ids"], plan["answer_ids"])):
        phrase = strip_refer_phrase(record["texts"][k]["text"])
        question = seg_question(template(prompts.SEG_QUESTIONS, q, "question", where(record)), phrase, fixes)
        if i == 0:
            question = IMAGE_PLACEHOLDER + "\n" + question
        messages += [
            {"from": "human", "value": question},
            {"from": "gpt", "value": template(prompts.ANSWER_LIST, a, "answer", where(record))},
        ]
    return messages


def phrases(record) -> list[str]:
    """The sentences as upstream reads them (lower-cased, one final ``.`` removed)."""
    return [strip_refer_phrase(x["text"]) for x in record["texts"]]


def empty_text(record) -> str | None:
    if any(not t["text"] for t in record["texts"]):
        return "an empty sentence (upstream's phrase[-1] raises IndexError on it)"
    return None


def eval_plans(record) -> list[dict]:
    """One single-turn plan per text: no sampling."""
    return [base_plan([k], [EVAL_QUESTION], [EVAL_ANSWER], eval=True) for k in range(len(record["texts"]))]


def eval_spec(prompts, record, plan) -> SampleSpec:
    """Upstream's evaluation sample of one sentence: its prompt as ``predict_forward`` builds it."""
    if len(plan["text_ids"]) != 1:
        raise PlanError(f"an evaluation plan has one expression, got {len(plan['text_ids'])}{where(record)}")
    (k,), (q,), (a,) = plan["text_ids"], plan["question_ids"], plan["answer_ids"]
    question = template(prompts.RES_EVAL_QUESTIONS, q, "evaluation question", where(record))
    phrase = strip_refer_phrase(record["texts"][k]["text"])
    return SampleSpec(
        turns=[{"input": IMAGE_PLACEHOLDER + "\n" + question.format(class_name=phrase),
                "output": template(prompts.ANSWER_LIST, a, "answer", where(record))}],
        frames=[0],
        mask_groups=[list(record["texts"][k]["region_ids"])],
    )  # fmt: skip


class RefCOCOTransform(FamilyTransform):
    families = ("refcoco",)

    def plan(self, record, rng, t) -> dict:
        stream = rng.sample if "refcoco_sentence_per_sample" in t.fixes else rng.run
        sentences = []  # per referred object, the text it speaks with (upstream: one per object)
        for region in range(len(record["regions"])):
            choices = texts_of_region(record, region)
            if choices:
                sentences.append(choices[draw(stream, len(choices))])
        if not sentences:
            raise refuse(record, "no referring expression")
        picks = rng.sample.choice(len(sentences), OBJECTS_PER_SAMPLE, replace=True)
        n = len(picks)
        return base_plan(
            [sentences[p] for p in picks],
            [draw(rng.sample, len(t.prompts.SEG_QUESTIONS)) for _ in range(n)],
            [draw(rng.sample, len(t.prompts.ANSWER_LIST)) for _ in range(n)],
        )

    def drop_reason(self, record, t) -> str | None:
        if not any(texts_of_region(record, k) for k in range(len(record["regions"]))):
            return "no referring expression"
        return empty_text(record)

    def eval_plans(self, record, t) -> list[dict]:
        return eval_plans(record)

    def data_texts(self, record, t) -> list[str]:
        return phrases(record)

    def spec(self, record, plan, t) -> SampleSpec:
        reason = empty_text(record)
        if reason is not None:
            raise refuse(record, reason)
        if plan.get("eval"):
            return eval_spec(t.prompts, record, plan)
        messages = referring_turns(t.prompts, record, plan, t.fixes)
        if t.recipe == "v1":
            instruction = None if "refcoco_template" in t.fixes else REFCOCO_INSTRUCTION
            turns, style = fold_v1_direct(messages, has_image=True), "refcoco"
        else:
            instruction, turns, style = None, fold_v2(messages, True, record), "llava"
        return SampleSpec(
            turns=turns,
            style=style,
            instruction=instruction,
            frames=[0],
            mask_groups=[list(record["texts"][k]["region_ids"]) for k in plan["text_ids"]],
        )


TRANSFORM = RefCOCOTransform()
