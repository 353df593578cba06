"""LLaVA-v1.5 mix665k -> the sample of upstream's ``LLaVADataset``.

v1: ``projects/llava_sam2/datasets/vqa_dataset.py``; v2: ``projects/sa2va/datasets/sa2va_data_02_vqa.py``.
The record's conversation, leading gpt turns skipped, ``<image>`` replaced by the image string where
it stands (not moved); dynamic tiles, no ``g_pixel_values`` (upstream passes no grounding processor),
no ``masks``. A text-only entry (``skip_pure_text=False`` in both recipes' InternVL configs) gets
``<image>`` removed from its text and ``pixel_values`` = one all-zero 448 tile, which the model
recognises as "no image" (its ``image_flags`` are the tiles whose pixels are not all zero).

v1 encodes with its own loop (every user message and answer stripped, the template's instruction,
the first turn tokenized with the tokenizer's special tokens, no separator, no EOS); v2 strips only
the message holding ``<image>`` and the answers, and encodes as every v2 class.

Refused: an image without exactly one ``<image>`` in its text (upstream expands each one to a full
image string: its image tokens disagree with its pixels, and v1's model then warns and fills the
batch's image tokens with the wrong embeddings, v2's raises), ``<image>`` outside the first message
(v2 asserts), no answer.

Other checkpoint families (v2): a Qwen-VL image is its family's pixels and image string, text as
above; the Qwen-VL configs set ``skip_pure_text=True``, so a text-only entry is refused (upstream
draws another sample). LLaVA-1.5 keeps text-only entries as base.py's generic path does: one
all-zero 336x336 image.
"""

from __future__ import annotations

from ...tokens import IMAGE_PLACEHOLDER
from .base import FamilyTransform, SampleSpec, base_plan, fold_v1_direct, fold_v2, processor_family, refuse

#: Families whose upstream configs leave text-only entries out (``skip_pure_text=True``: the Qwen-VL
#: configs; InternVL's keep them with an all-zero tile).
SKIP_TEXT_ONLY = ("qwen2_5_vl", "qwen3_vl")


class LLaVATransform(FamilyTransform):
    families = ("llava",)

    def plan(self, record, rng, t) -> dict:
        return base_plan(frame_ids=[0] if _has_image(record) else [])

    def drop_reason(self, record, t) -> str | None:
        messages = list(record["conversations"])
        while messages and messages[0]["from"] == "gpt":
            messages = messages[1:]
        if not any(m["from"] == "gpt" for m in messages):
            return "no answer to train on"
        if not _has_image(record):
            if processor_family(t) in SKIP_TEXT_ONLY:
                return f"a text-only entry (v2's {processor_family(t)!r} configs skip them: skip_pure_text=True)"
            return None
        counts = [m["value"].count(IMAGE_PLACEHOLDER) if m["from"] == "human" else 0 for m in messages]
        if sum(counts) != 1:
            return (
                f"an image whose conversation holds {sum(counts)} <image> placeholders instead of 1 (its image "
                "tokens would disagree with its pixels)"
            )
        if t.recipe == "v2" and counts[0] != 1:
            return "<image> outside the first message (v2 asserts)"
        return None

    def spec(self, record, plan, t) -> SampleSpec:
        reason = self.drop_reason(record, t)
        if reason is not None:
            raise refuse(record, reason)
        image = _has_image(record)
        messages = list(record["conversations"])
        if t.recipe == "v1":
            turns, style = fold_v1_direct(messages, image), "refcoco"
        else:
            turns, style = fold_v2(messages, image, record), "llava"
        return SampleSpec(
            turns=turns,
            style=style,
            frames=[0] if image else None,
            grounding=False,
            zero_image=not image,
            image_options={"return_grounding": False},
        )


def _has_image(record) -> bool:
    return bool(record["frames"]) or record["video"] is not None


TRANSFORM = LLaVATransform()
