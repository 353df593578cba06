"""Your own data (``finetune``, ``folder``) -> the sample of upstream v2's ``Sa2VAFinetuneDataset``.

``projects/sa2va/datasets/sa2va_data_finetune.py`` (config ``sa2va_finetune.py``): every object of the
image, in order, gives one turn -- question ``SEG_QUESTIONS[q]`` (v2's list) around its text
lower-cased with one final ``.`` removed, the first turn opened by ``<image>\\n``, answer
``ANSWER_LIST[a]`` -- with ``masks`` (one per object, in order), ``g_pixel_values`` and dynamic tiles,
encoded as every v2 class. Upstream has one text per object; an object of the ``folder`` source with
several texts speaks with one of them, drawn per sample. v1 has no fine-tuning class: both recipes
build this v2 sample.
"""

from __future__ import annotations

from ..plan import draw
from ..prompts import V2
from .base import FamilyTransform, SampleSpec, base_plan, fold_v2, refuse, texts_of_region
from .refcoco import empty_text, eval_plans, eval_spec, phrases, referring_turns


class FinetuneTransform(FamilyTransform):
    families = ("finetune", "folder")

    def plan(self, record, rng, t) -> dict:
        reason = self._refusal(record)
        if reason is not None:
            raise refuse(record, reason)
        prompts = V2
        text_ids = []
        for region in range(len(record["regions"])):
            choices = texts_of_region(record, region)
            text_ids.append(choices[draw(rng.sample, len(choices))])
        n = len(text_ids)
        return base_plan(
            text_ids,
            [draw(rng.sample, len(prompts.SEG_QUESTIONS)) for _ in range(n)],
            [draw(rng.sample, len(prompts.ANSWER_LIST)) for _ in range(n)],
        )

    def drop_reason(self, record, t) -> str | None:
        return self._refusal(record)

    @staticmethod
    def _refusal(record) -> str | None:
        if not record["regions"]:
            return "no object"
        for region, r in enumerate(record["regions"]):
            if not texts_of_region(record, region):
                return f"object {r['id']!r} has no text of its own"
        return empty_text(record)

    def eval_plans(self, record, t) -> list[dict]:
        return eval_plans(record)

    def data_texts(self, record, t) -> list[str]:
        return phrases(record)

    def spec(self, record, plan, t) -> SampleSpec:
        reason = self._refusal(record)
        if reason is not None:
            raise refuse(record, reason)
        if plan.get("eval"):
            return eval_spec(V2, record, plan)
        messages = referring_turns(V2, record, plan, t.fixes)
        return SampleSpec(
            turns=fold_v2(messages, True, record),
            frames=[0],
            mask_groups=[list(record["texts"][k]["region_ids"]) for k in plan["text_ids"]],
        )


TRANSFORM = FinetuneTransform()
