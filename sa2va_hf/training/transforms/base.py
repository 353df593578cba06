"""What every source family's transform provides, and the upstream text steps they share.

A family transform turns a record into a :class:`SampleSpec` -- the sample's text (folded turns with
``<image>`` placeholders) and what its pixels are made of (which frames, which regions as visual
prompts or ground-truth masks, image options) -- without touching pixels. The engine
(:class:`~sa2va_hf.training.Sa2VATrainingTransform`) then runs the processor's media step, expands
the placeholders and tokenizes. So a family is three functions of a record:

* ``plan(record, rng, t)``: every random choice, as a plan (:mod:`sa2va_hf.training.plan`);
* ``spec(record, plan, t)``: the sample, from the record and the plan alone;
* ``drop_reason(record, t)``: why upstream builds no sample from this record, or ``None``;

and optionally ``eval_plans(record, t)``: one fixed plan per expression for val / test splits, and
``data_texts(record, t)``: the record's texts as the family reads them (where its string steps change them).
``t`` is the calling transform: recipe, fixes, prompts, processor (see :class:`FamilyTransform`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import PlanError, SampleDroppedError
from ...tokens import IMAGE_PLACEHOLDER
from ..conversations import messages_to_turns, strip_angle_brackets

#: Sa2VA's upstream recipes (``v1``: magic-research/Sa2VA; ``v2``: bytedance/Sa2VA).
RECIPES = ("v1", "v2")


@dataclass
class SampleSpec:
    """A training sample before pixels and tokens.

    Attributes:
        turns: ``[{"input", "output"}]`` as upstream folds them, before the chat template; each
            ``<image>`` stands for one entry of the media (an image, or a whole video).
        style: the encoding (:func:`~sa2va_hf.training.conversations.turn_pieces`): ``"llava"`` is
            xtuner's (template_map_fn + encode_fn); ``"refcoco"`` is v1's own RefCOCO / LLaVA loop.
        instruction: with ``"refcoco"``, the instruction used instead of the template's (``None``:
            the template's).
        frames: positions in the record's frames the sample shows (``None``: no image at all).
        video: the frames are one video (one image each -- InternVL: one 448 tile; one ``<image>``); else one image.
        max_llm_frames: of a video, how many frames (the first) reach the language model -- tiles and
            text; every frame still gives ``g_pixel_values`` and ``masks`` (``None``: all, as training;
            ``5``: upstream's evaluation through ``predict_forward``).
        visual_prompts: (n, H, W) uint8 region masks given to the model as visual prompts.
        region_cells: their grid cells, already written into ``turns`` (the engine checks them).
        mask_groups: the ground-truth ``masks``, one per entry: the regions OR-ed into it (``None``:
            the sample has no ``masks``). For a video, each entry gives one mask per frame.
        image_options: processor options (``max_tiles``, ``prompt_mask_mode``, ...).
        grounding: the sample has ``g_pixel_values``.
        zero_image: text only: ``pixel_values`` is one all-zero tile (upstream's way of saying "no image").
        prompt_mask_dtype, vp_mask_dtype: dtypes of ``prompt_masks`` / ``vp_overall_mask``.
    """

    turns: list[dict[str, str]]
    style: str = "llava"
    instruction: str | None = None
    frames: list[int] | None = None
    video: bool = False
    max_llm_frames: int | None = None
    visual_prompts: np.ndarray | None = None
    region_cells: list[int] | None = None
    mask_groups: list[list[int]] | None = None
    image_options: dict[str, Any] = field(default_factory=dict)
    grounding: bool = True
    zero_image: bool = False
    prompt_mask_dtype: str = "uint8"
    vp_mask_dtype: str = "bool"


class FamilyTransform:
    """Base of the per-family transforms; subclasses set ``families`` and implement ``plan`` / ``spec``."""

    #: catalog families (``record["source"]`` -> family) this transform serves
    families: tuple[str, ...] = ()

    def plan(self, record: Mapping[str, Any], rng, t) -> dict:
        raise NotImplementedError

    def spec(self, record: Mapping[str, Any], plan: Mapping[str, Any], t) -> SampleSpec:
        raise NotImplementedError

    def drop_reason(self, record: Mapping[str, Any], t) -> str | None:
        return None

    def data_texts(self, record: Mapping[str, Any], t) -> list[str]:
        """The record's own texts as they enter its samples, after the family's string steps: what may carry
        control tokens (:mod:`~sa2va_hf.training.control_tokens`) into a sample. By default every text, the
        caption and every message, as they are."""
        return record_texts(record)

    def eval_plans(self, record: Mapping[str, Any], t) -> list[dict]:
        raise PlanError(
            f"source {record['source']!r} has no evaluation layout (one sample per expression is defined for "
            "referring sources)"
        )


# --------------------------------------------------------------------------- shared upstream steps


def record_texts(record: Mapping[str, Any]) -> list[str]:
    """Every text, the caption and every message of ``record``, as they are."""
    caption = [] if record["caption"] is None else [record["caption"]]
    return [x["text"] for x in record["texts"]] + caption + [m["value"] for m in record["conversations"]]


def processor_family(t) -> str:
    """The checkpoint family of the transform's processor (:mod:`sa2va_hf.families`)."""
    return getattr(t.processor, "family", "internvl")


def no_visual_prompts(t) -> str | None:
    """Why a sample built on visual prompts cannot be made for this processor's family, or ``None``."""
    spec = getattr(t.processor, "family_spec", None)
    if spec is None or spec.visual_prompts:
        return None
    return (
        f"a sample built on visual prompts, which family {spec.name!r} does not take (upstream has no "
        "visual-prompt path for it: v2's Qwen-VL configs leave the Osprey data out, 'not supported yet'; no "
        "config trains LLaVA on it)"
    )


def where(record: Mapping[str, Any]) -> str:
    return f" (source {record.get('source')!r}, record {record.get('id')!r})"


def refuse(record: Mapping[str, Any], reason: str) -> SampleDroppedError:
    return SampleDroppedError(f"{reason}{where(record)}; filter such records out first: transform.filter(dataset)")


def base_plan(text_ids: Sequence[int] = (), question_ids: Sequence = (), answer_ids: Sequence = (),
              frame_ids: Sequence[int] = (0,), **extra: Any) -> dict:  # fmt: skip
    return {
        "text_ids": [int(i) for i in text_ids],
        "question_ids": [None if q is None else int(q) for q in question_ids],
        "answer_ids": [None if a is None else int(a) for a in answer_ids],
        "frame_ids": [int(f) for f in frame_ids],
        **extra,
    }


def texts_of_region(record: Mapping[str, Any], region: int) -> list[int]:
    """Indices of the texts that refer to exactly this one region, in order."""
    return [k for k, t in enumerate(record["texts"]) if list(t["region_ids"]) == [region]]


def strip_refer_phrase(text: str) -> str:
    """Upstream's RefCOCO / fine-tune phrase: lower-cased, one final ``.`` removed."""
    phrase = text.lower()
    return phrase[:-1] if phrase.endswith(".") else phrase


def fold_v1(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """v1's fold (xtuner / GLaMM / Osprey): leading gpt turns skipped, ``<image>`` moved to the front of
    its message as ``<image>\\n`` + the rest stripped, user messages concatenated, answers as they are."""
    return messages_to_turns(messages, "llava")


def fold_v1_direct(messages: Sequence[Mapping[str, str]], has_image: bool) -> list[dict[str, str]]:
    """v1's RefCOCO / LLaVA fold (``get_inputid_labels``): ``<image>`` stays where it is (removed when
    there is no image), every user message and answer stripped."""
    turns, pending = [], ""
    for role, value in _skip_leading_gpt(messages):
        if role == "human":
            if not has_image:
                value = value.replace(IMAGE_PLACEHOLDER, "")
            pending += value.strip()
        else:
            turns.append({"input": pending, "output": value.strip()})
            pending = ""
    return turns


def fold_v2(messages: Sequence[Mapping[str, str]], has_image: bool, record: Mapping[str, Any]) -> list[dict]:
    """v2's ``_process_conversations_for_encoding``: leading gpt turns skipped; a user message holding
    ``<image>`` is stripped (``<image>`` removed when there is no image; upstream asserts it is the
    first message), others kept as they are; answers stripped."""
    turns, pending = [], ""
    for index, (role, value) in enumerate(_skip_leading_gpt(messages)):
        if role == "human":
            if IMAGE_PLACEHOLDER in value:
                if not has_image:
                    value = value.replace(IMAGE_PLACEHOLDER, "")
                elif index != 0:
                    raise refuse(record, f"<image> in message {index} (v2 asserts it is in the first message)")
                value = value.strip()
            pending += value
        else:
            turns.append({"input": pending, "output": value.strip()})
            pending = ""
    return turns


def fold_v2_video(messages: Sequence[Mapping[str, str]], record: Mapping[str, Any]) -> list[dict]:
    """v2's ``_process_conversations_for_encoding(..., is_video=True)``: leading gpt turns skipped; in the user
    message holding ``<image>`` (upstream asserts it is the first message) every ``<image>`` is removed and the
    video put in front, then the message is stripped; other user messages kept as they are; answers stripped."""
    turns, pending = [], ""
    for index, (role, value) in enumerate(_skip_leading_gpt(messages)):
        if role == "human":
            if IMAGE_PLACEHOLDER in value:
                if index != 0:
                    raise refuse(record, f"<image> in message {index} (v2 asserts it is in the first message)")
                value = (IMAGE_PLACEHOLDER + value.replace(IMAGE_PLACEHOLDER, "")).strip()
            pending += value
        else:
            turns.append({"input": pending, "output": value.strip()})
            pending = ""
    return turns


#: A phrase opening with an article (``seg_question_article``).
_ARTICLE = re.compile(r"(?:the|an?)\s", re.IGNORECASE)


def seg_question(template: str, phrase: str, fixes: frozenset[str]) -> str:
    """A SEG question template filled with ``phrase``; with the ``seg_question_article`` fix, a phrase that
    opens with an article drops the template's ``the`` before it (no "the the man")."""
    if "seg_question_article" in fixes and _ARTICLE.match(phrase):
        template = template.replace("the {class_name}", "{class_name}")
    return template.format(class_name=phrase)


def _skip_leading_gpt(messages: Sequence[Mapping[str, str]]) -> list[tuple[str, str]]:
    out = [(m["from"], m["value"]) for m in messages]
    while out and out[0][0] == "gpt":
        out = out[1:]
    for role, _ in out:
        if role not in ("human", "gpt"):
            raise PlanError(f"unknown message role {role!r} (upstream knows human and gpt)")
    return out


def pairs_v2(messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """v2 Osprey's ``_process_conversations`` regrouping: consecutive user messages concatenated, one
    user + one gpt message per answer, a trailing question dropped."""
    out, pending = [], ""
    for role, value in _skip_leading_gpt(messages):
        if role == "human":
            pending += value
        else:
            out += [{"from": "human", "value": pending}, {"from": "gpt", "value": value}]
            pending = ""
    return out


def osprey_text(text: str, fixes: frozenset[str]) -> str:
    """Upstream Osprey's ``<``/``>`` deletion (``<region1>`` -> ``region1``); with the
    ``osprey_image_tag`` fix, an ``<image>`` (and one newline after it) goes first."""
    if "osprey_image_tag" in fixes:
        text = text.replace(IMAGE_PLACEHOLDER + "\n", "").replace(IMAGE_PLACEHOLDER, "")
    return strip_angle_brackets(text)
