"""Osprey-724K (all five files) -> the sample of upstream's Osprey classes.

v1: ``OspreyDataset`` (conversation, part-level, LVIS positive/negative), ``OspreyShortDescriptionDataset``
(short form: ``LIMIT`` after every question), ``OspreyDescriptionDataset`` (detail description: one
``DETAILED_QUESTIONS`` question per description) -- ``projects/llava_sam2/datasets/Osprey_Dataset.py``.
v2: ``Sa2VA06VPDataset`` (``projects/sa2va/datasets/sa2va_data_06_vp.py``; its configs train only the
conversation and description files, the other three run through the same class).

The sample: every region is a visual prompt (nearest rule to the 16x16 grid), the first user turn is
``<image>\\n`` + ``There are N part regions in the picture: region1<vp>...</vp>, ....\\n`` + the
question, every ``<`` / ``>`` is deleted from the texts; ``pixel_values`` (dynamic tiles),
``prompt_masks``, ``vp_overall_mask`` (the thumbnail); no ``g_pixel_values`` and no ``masks``
(upstream passes no grounding processor to these classes). Differences between the recipes: v2
drops a record with a region under 4 grid cells (v1 keeps a 0-cell region as ``region1<vp></vp>``),
strips answers, regroups consecutive user messages before stripping, asks ``VP_QUESTIONS`` (18)
instead of ``DETAILED_QUESTIONS`` (30), and its ``prompt_masks`` are float32 (v1: uint8).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...errors import PlanError
from ...tokens import IMAGE_PLACEHOLDER, region_string
from ..plan import draw, template
from .base import (
    FamilyTransform,
    SampleSpec,
    base_plan,
    fold_v1,
    fold_v2,
    no_visual_prompts,
    osprey_text,
    pairs_v2,
    refuse,
    where,
)

#: v2 drops an Osprey sample when a region covers fewer grid cells than this (``_get_region_infos``).
V2_MIN_REGION_CELLS = 4


def description_questions(t) -> tuple[str, ...]:
    """The describe questions of the recipe: v1 ``DETAILED_QUESTIONS``, v2 ``VP_QUESTIONS``."""
    return t.prompts.DETAILED_QUESTIONS if t.recipe == "v1" else t.prompts.VP_QUESTIONS


def region_prefix(t, cells: list[int]) -> str:
    """What upstream writes in front of the first question: v1 ``<image> There are ...`` (its fold then
    makes it ``<image>\\nThere are ...``), v2 ``<image>\\nThere are ...``."""
    return IMAGE_PLACEHOLDER + (" " if t.recipe == "v1" else "\n") + region_string(cells)


def fold(t, messages: list[dict[str, str]], record: Mapping[str, Any], regroup: bool) -> list[dict[str, str]]:
    if t.recipe == "v1":
        return fold_v1(messages)
    return fold_v2(pairs_v2(messages) if regroup else messages, True, record)


def vp_dtypes(t) -> dict[str, str]:
    if "mask_dtypes" in t.fixes:
        return {"prompt_mask_dtype": "uint8", "vp_mask_dtype": "bool"}
    return {"prompt_mask_dtype": "uint8" if t.recipe == "v1" else "float32", "vp_mask_dtype": "float32"}


def checked_region_prompts(family, record, t) -> tuple:
    """(visual prompts, their grid cells) of ``record``, or the refusal: the family's ``_refusal``, then
    v2's small-region filter on the cells (decoded from the RLEs only when the record passes the first)."""
    reason = family._refusal(record, t)
    if reason is None:
        prompts, cells = t.region_prompts(record, family.image_options)
        reason = small_region(t, cells)
    if reason is not None:
        raise refuse(record, reason)
    return prompts, cells


def visual_prompt_sample(t, turns, prompts, cells: list[int], image_options: dict) -> SampleSpec:
    """A one-image sample whose regions are given as visual prompts (Osprey, describe-anything): no
    grounding image, and every region kept whatever its cell count (the recipe filtered already)."""
    return SampleSpec(
        turns=turns,
        frames=[0],
        visual_prompts=prompts,
        region_cells=cells,
        image_options={**image_options, "min_region_cells": 0, "empty_region": "keep", "return_grounding": False},
        grounding=False,
        **vp_dtypes(t),
    )


def small_region(t, cells: list[int]) -> str | None:
    """v2's filter: the first region under 4 cells, described (``None``: all large enough, or v1)."""
    if t.recipe != "v2":
        return None
    for k, n in enumerate(cells):
        if n < V2_MIN_REGION_CELLS:
            return f"region {k + 1} covers {n} grid cells, under v2's {V2_MIN_REGION_CELLS} (v2 drops the sample)"
    return None


class OspreyTransform(FamilyTransform):
    families = ("osprey",)
    image_options = {"prompt_mask_mode": "nearest"}

    # -- plan

    def plan(self, record, rng, t) -> dict:
        if _is_description(record):
            questions = description_questions(t)
            n = len(record["texts"])
            return base_plan(range(n), [draw(rng.sample, len(questions)) for _ in range(n)], [None] * n)
        return base_plan()

    # -- what upstream refuses

    def drop_reason(self, record, t) -> str | None:
        return self._refusal(record, t) or small_region(t, t.region_cells(record, self.image_options))

    def _refusal(self, record, t) -> str | None:
        """What upstream refuses, short of decoding masks."""
        family = no_visual_prompts(t)
        if family is not None:
            return family
        if not record["regions"]:
            return "no region (v1 crashes on it, v2 drops it)"
        if _is_description(record):
            return None
        messages = record["conversations"]
        if messages and messages[0]["from"] == "gpt" and "osprey_leading_gpt" not in t.fixes:
            return (
                "the conversation starts with a gpt turn (v1 asserts; v2 loses the image prompt with the turn "
                "and its model raises; fix: osprey_leading_gpt)"
            )
        if not any(m["from"] == "gpt" for m in _skip_leading_gpt(messages)):
            return "no answer to train on"
        return None

    def data_texts(self, record, t) -> list[str]:
        """Messages and descriptions without their ``<`` / ``>`` (upstream deletes them)."""
        return [osprey_text(x, t.fixes) for x in (*(m["value"] for m in record["conversations"]),
                                                   *(x["text"] for x in record["texts"]))]  # fmt: skip

    # -- the sample

    def spec(self, record, plan, t) -> SampleSpec:
        prompts, cells = checked_region_prompts(self, record, t)
        prefix = region_prefix(t, cells)
        limit = t.prompts.LIMIT if record["source"] == "osprey_short_form" else ""
        if _is_description(record):
            messages = self._description(record, plan, t, prefix, limit)
            regroup = False
        else:
            messages = self._conversation(record, t, prefix, limit)
            regroup = True
        return visual_prompt_sample(t, fold(t, messages, record, regroup), prompts, cells, self.image_options)

    def _conversation(self, record, t, prefix: str, limit: str) -> list[dict[str, str]]:
        messages = [dict(m) for m in record["conversations"]]
        if "osprey_leading_gpt" in t.fixes:
            messages = [dict(m) for m in _skip_leading_gpt(messages)]
        out = []
        for i, m in enumerate(messages):
            value = osprey_text(m["value"], t.fixes)
            if m["from"] == "human":
                value += limit
                if i == 0:
                    value = prefix + value
            out.append({"from": m["from"], "value": value})
        return out

    def _description(self, record, plan, t, prefix: str, limit: str) -> list[dict[str, str]]:
        questions = description_questions(t)
        if len(plan["question_ids"]) != len(plan["text_ids"]):
            raise PlanError(f"the plan needs one question id per text id{where(record)}")
        out = []
        for i, (k, q) in enumerate(zip(plan["text_ids"], plan["question_ids"])):
            text = record["texts"][k]
            region = text["region_ids"][0] + 1 if text["region_ids"] else k + 1
            question = template(questions, q, "question", where(record)).strip()
            question = question.replace("<region>", f"region{region}") + limit
            if i == 0:
                question = prefix + question
            out += [{"from": "human", "value": question}, {"from": "gpt", "value": osprey_text(text["text"], t.fixes)}]
        return out


def _is_description(record) -> bool:
    return not record["conversations"] and bool(record["texts"])


def _skip_leading_gpt(messages):
    k = 0
    while k < len(messages) and messages[k]["from"] == "gpt":
        k += 1
    return messages[k:]


TRANSFORM = OspreyTransform()
