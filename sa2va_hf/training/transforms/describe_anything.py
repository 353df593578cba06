"""Describe-anything (DLC-SFT) -> a region-description sample. No upstream Sa2VA class reads this data.

The sample is the user's describe-anything loader (SPEC §2) laid out as an Osprey detail description
with one region: the image as **one 448 tile** (no dynamic tiling, no thumbnail), the region as a
visual prompt on the 16x16 grid by the ``pool`` rule (nearest to 448x448, then a cell is on when more
than half of its 28x28 pixels are), no ``g_pixel_values`` and no ``masks``; one turn, whose question
is drawn from the recipe's Osprey describe list -- v1 ``DETAILED_QUESTIONS`` (30), v2 ``VP_QUESTIONS``
(18), ``<region>`` -> ``region1`` -- and whose answer is the caption (``<``/``>`` deleted, as Osprey's
descriptions). Everything else follows the recipe's Osprey rules: the region prompt, the fold, answer
stripping (v2), v2's drop of a region under 4 grid cells, the dtypes of ``prompt_masks`` /
``vp_overall_mask``, and the ``osprey_image_tag`` / ``mask_dtypes`` fixes.
"""

from __future__ import annotations

from ...errors import PlanError
from ..plan import draw, template
from .base import FamilyTransform, SampleSpec, base_plan, no_visual_prompts, osprey_text, where
from .osprey import (
    checked_region_prompts,
    description_questions,
    fold,
    region_prefix,
    small_region,
    visual_prompt_sample,
)


class DescribeAnythingTransform(FamilyTransform):
    families = ("describe_anything",)
    image_options = {"prompt_mask_mode": "pool", "min_tiles": 1, "max_tiles": 1}

    def plan(self, record, rng, t) -> dict:
        return base_plan([0], [draw(rng.sample, len(description_questions(t)))], [None])

    def drop_reason(self, record, t) -> str | None:
        return self._refusal(record, t) or small_region(t, t.region_cells(record, self.image_options))

    @staticmethod
    def _refusal(record, t) -> str | None:
        family = no_visual_prompts(t)
        if family is not None:
            return family
        if len(record["regions"]) != 1 or not record["texts"]:
            return f"a describe-anything record has one region and its caption, got {len(record['regions'])} region(s)"
        return None

    def data_texts(self, record, t) -> list[str]:
        """The captions without their ``<`` / ``>``, as Osprey's descriptions."""
        return [osprey_text(x["text"], t.fixes) for x in record["texts"]]

    def spec(self, record, plan, t) -> SampleSpec:
        prompts, cells = checked_region_prompts(self, record, t)
        if len(plan["text_ids"]) != 1 or len(plan["question_ids"]) != 1:
            raise PlanError(f"a describe-anything plan has one text and one question{where(record)}")
        question = template(description_questions(t), plan["question_ids"][0], "question", where(record))
        question = region_prefix(t, cells) + question.strip().replace("<region>", "region1")
        answer = osprey_text(record["texts"][plan["text_ids"][0]]["text"], t.fixes)
        messages = [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
        return visual_prompt_sample(t, fold(t, messages, record, regroup=False), prompts, cells, self.image_options)


TRANSFORM = DescribeAnythingTransform()
