"""The Sa2VA checkpoint families, one table: image processor, image token strings, chat template.

================  ======================================  ===================================================
family            checkpoints                             the language model's image
================  ======================================  ===================================================
``internvl``      Sa2VA-1B/4B/8B/26B (InternVL2.5),       448 tiles (<= 12 + thumbnail), 256 ``<IMG_CONTEXT>``
                  Sa2VA-InternVL3-2B/8B/14B               per tile in ``<img>`` ... ``</img>``; visual prompts
``qwen2_5_vl``    Sa2VA-Qwen2_5-VL-3B/7B                  Qwen resize within 512·28²..2048·28² pixels,
                                                          prod(grid_thw) / 4 ``<|image_pad|>`` in
                                                          ``<|vision_start|>`` ... ``<|vision_end|>``
``qwen3_vl``      Sa2VA-Qwen3-VL-2B/4B, -4B-SAM3          the same with patch 16 and mean = std = 0.5
``llava``         Sa2VA-LLaVA-1.5-7B                      one 336x336 resize, 576 ``<image>``, no start/end
================  ======================================  ===================================================

Upstream: ``projects/sa2va/datasets/base.py`` (``arch_type`` 'intern_vl' / 'qwen' / 'llava' set the
image token strings and the image step), the configs (Qwen: ``qwen_chat``, visual-prompt data
disabled), ``hf/models*/`` (``predict_forward``). Every family's grounding image is the same
(:mod:`grounding`); SAM2 or SAM3 is a setting of the image processor, not a family.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import Sa2VAError
from .image_processing_sa2va import Sa2VAImageProcessor
from .image_processing_sa2va_llava import Sa2VALlavaImageProcessor
from .image_processing_sa2va_qwen2_vl import QWEN3_VL_OPTIONS, Sa2VAQwen2VLImageProcessor
from .tokens import IMAGE_PLACEHOLDER, IMG_CONTEXT_TOKEN, IMG_END_TOKEN, IMG_START_TOKEN


@dataclass(frozen=True)
class ImageTokens:
    """What one image becomes in the text: ``start`` + ``context`` x n + ``end``.

    The model puts one image embedding on each ``context`` token, in order.
    """

    start: str
    context: str
    end: str

    def string(self, num_tokens: int) -> str:
        return self.start + self.context * int(num_tokens) + self.end

    def video_string(self, frame_tokens: list[int]) -> str:
        """A video: one image string per frame (``frame_tokens[k]`` context tokens), joined with ``\n``
        (upstream's ``((frame + '\n') * n).strip()``; Qwen's per-frame expansion gives the same)."""
        return "\n".join(self.string(n) for n in frame_tokens)

    @property
    def tokens(self) -> tuple[str, ...]:
        """The tokens a tokenizer must encode as one id each (start / end may be empty), in the order
        the InternVL and Qwen tokenizers hold them (start, end, context): added in that order too."""
        return tuple(t for t in (self.start, self.end, self.context) if t)


INTERNVL_IMAGE_TOKENS = ImageTokens(IMG_START_TOKEN, IMG_CONTEXT_TOKEN, IMG_END_TOKEN)
QWEN_VL_IMAGE_TOKENS = ImageTokens("<|vision_start|>", "<|image_pad|>", "<|vision_end|>")
#: LLaVA's context token is the placeholder itself: each ``<image>`` is expanded once, to 576 of them.
LLAVA_IMAGE_TOKENS = ImageTokens("", IMAGE_PLACEHOLDER, "")


@dataclass(frozen=True)
class Family:
    """One Sa2VA checkpoint family.

    ``image_processor_options``: what this family's image processor is built with on top of its
    class defaults; ``template``: the chat template its checkpoints use (InternVL's v1 checkpoints
    differ by size, so theirs is read from the checkpoint); ``visual_prompts``: whether upstream has
    a visual-prompt path for it.
    """

    name: str
    checkpoints: str
    image_processor_class: type
    image_tokens: ImageTokens
    template: str
    visual_prompts: bool
    image_processor_options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_processor_options", MappingProxyType(dict(self.image_processor_options)))

    def image_processor(self, **options: Any):
        """A new image processor for this family (``options`` override the family's)."""
        return self.image_processor_class(**{**self.image_processor_options, **options})


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "internvl", "Sa2VA-1B/4B/8B/26B (InternVL2.5), Sa2VA-InternVL3-2B/8B/14B",
            Sa2VAImageProcessor, INTERNVL_IMAGE_TOKENS, template="phi3", visual_prompts=True,
        ),
        Family(
            "qwen2_5_vl", "Sa2VA-Qwen2_5-VL-3B/7B",
            Sa2VAQwen2VLImageProcessor, QWEN_VL_IMAGE_TOKENS, template="qwen", visual_prompts=False,
        ),
        Family(
            "qwen3_vl", "Sa2VA-Qwen3-VL-2B/4B, Sa2VA-Qwen3-VL-4B-SAM3",
            Sa2VAQwen2VLImageProcessor, QWEN_VL_IMAGE_TOKENS, template="qwen", visual_prompts=False,
            image_processor_options=QWEN3_VL_OPTIONS,
        ),
        Family(
            "llava", "Sa2VA-LLaVA-1.5-7B",
            Sa2VALlavaImageProcessor, LLAVA_IMAGE_TOKENS, template="vicuna", visual_prompts=False,
        ),
    )
}  # fmt: skip
DEFAULT_FAMILY = "internvl"


def get_family(name: str) -> Family:
    """The :class:`Family` called ``name``; an unknown name is an error listing the known ones."""
    if isinstance(name, Family):
        return name
    if name not in FAMILIES:
        close = difflib.get_close_matches(str(name), list(FAMILIES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise Sa2VAError(f"unknown Sa2VA family {name!r}{hint} (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def family_for_image_processor(image_processor: Any, family: str | None = None) -> Family:
    """The family of a processor whose image processor is ``image_processor`` (``None``: the
    family's default one), checking that the two agree. Without ``family`` it is read off the image
    processor's class, except for the Qwen one, which serves two families."""
    if family is not None:
        spec = get_family(family)
        # by name: under remote code the classes come from the saved folder's copy of these modules
        if image_processor is not None and type(image_processor).__name__ != spec.image_processor_class.__name__:
            raise Sa2VAError(
                f"family {spec.name!r} takes a {spec.image_processor_class.__name__}, got a "
                f"{type(image_processor).__name__}; pass family= to match it (or image_processor=None)"
            )
        return spec
    if image_processor is None:
        return FAMILIES[DEFAULT_FAMILY]
    matches = [f for f in FAMILIES.values() if f.image_processor_class.__name__ == type(image_processor).__name__]
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = " or ".join(repr(f.name) for f in matches)
        raise Sa2VAError(f"a {type(image_processor).__name__} serves families {names}: pass family=")
    raise Sa2VAError(f"no Sa2VA family takes a {type(image_processor).__name__} as image processor")


__all__ = ["DEFAULT_FAMILY", "FAMILIES", "Family", "ImageTokens", "family_for_image_processor", "get_family"]
