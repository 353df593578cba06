"""The Sa2VA checkpoint families, one table: image processor, image token strings, chat template, modes.

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

Two modes (:data:`MODES`), named after the upstream code each reproduces:

* ``"inference"`` -- what the checkpoint's own ``predict_forward`` (its ``hf/`` model) builds;
* ``"training"`` -- what upstream's training datasets (``datasets/base.py`` and the dataset classes)
  build; :mod:`sa2va_hf.training` always asks for this one.

They coincide for InternVL and LLaVA. For the Qwen families ``predict_forward`` resizes twice
(``qwen_vl_utils`` first), renders the checkpoint's own Qwen-VL chat template (an image block is the
image string with nothing after it) and gives a video's frames as separate image blocks with nothing
between them and the single-image limits; training resizes once, uses xtuner's ``qwen_chat`` strings
and joins frame strings with ``\n`` (frames within the per-frame limits).

Upstream: ``projects/sa2va/datasets/base.py`` (``arch_type`` 'intern_vl' / 'qwen' / 'llava' set the
image token strings and the image step), the configs (Qwen: ``qwen_chat``, visual-prompt data
disabled), ``hf/models*/`` (``predict_forward``). Every family's grounding image is the same
(:mod:`grounding`); SAM2 or SAM3 is a setting of the image processor, not a family.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .chat_templates import QWEN_VL_JINJA, ChatTemplate
from .errors import Sa2VAError, did_you_mean
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

    def video_string(self, frame_tokens: Sequence[int], separator: str = "\n") -> str:
        """A video: one image string per frame (``frame_tokens[k]`` context tokens), joined with
        ``separator`` (training: ``\n``, upstream's ``((frame + '\n') * n).strip()``)."""
        return separator.join(self.string(n) for n in frame_tokens)

    @property
    def tokens(self) -> tuple[str, ...]:
        """The tokens a tokenizer must encode as one id each (start / end may be empty), in the order
        the InternVL and Qwen tokenizers hold them (start, end, context): added in that order too."""
        return tuple(t for t in (self.start, self.end, self.context) if t)


INTERNVL_IMAGE_TOKENS = ImageTokens(IMG_START_TOKEN, IMG_CONTEXT_TOKEN, IMG_END_TOKEN)
QWEN_VL_IMAGE_TOKENS = ImageTokens("<|vision_start|>", "<|image_pad|>", "<|vision_end|>")
#: LLaVA's context token is the placeholder itself: each ``<image>`` is expanded once, to 576 of them.
LLAVA_IMAGE_TOKENS = ImageTokens("", IMAGE_PLACEHOLDER, "")

#: ``"inference"``: the checkpoint's ``predict_forward``; ``"training"``: upstream's training datasets.
MODES = ("inference", "training")


def check_mode(mode: Any) -> str:
    if mode not in MODES:
        raise Sa2VAError(
            f"mode must be 'inference' (what the checkpoint's predict_forward builds) or 'training' (what "
            f"upstream's training datasets build), got {mode!r}"
        )
    return mode


@dataclass(frozen=True)
class Family:
    """One Sa2VA checkpoint family.

    ``image_processor_options``: what this family's image processor is built with on top of its
    class defaults; ``template``: the xtuner template its training uses (InternVL's v1 checkpoints
    differ by size, so theirs is read from the checkpoint); ``visual_prompts``: whether upstream has
    a visual-prompt path for it; ``inference_jinja``: the chat template ``predict_forward`` renders
    when it is not the training template's (Qwen: the checkpoint's own Qwen-VL template);
    ``inference_frame_separator``: what ``predict_forward`` puts between a video's frame strings;
    ``generate_input_names``: the inputs the checkpoint's ``generate`` takes (``predict_forward``'s).
    """

    name: str
    checkpoints: str
    image_processor_class: type
    image_tokens: ImageTokens
    template: str
    visual_prompts: bool
    generate_input_names: tuple[str, ...]
    image_processor_options: Mapping[str, Any] = field(default_factory=dict)
    inference_jinja: str | None = None
    inference_frame_separator: str = "\n"

    def __post_init__(self) -> None:
        object.__setattr__(self, "image_processor_options", MappingProxyType(dict(self.image_processor_options)))

    def image_processor(self, **options: Any):
        """A new image processor for this family (``options`` override the family's)."""
        return self.image_processor_class(**{**self.image_processor_options, **options})

    def chat_template(self, template: ChatTemplate, mode: str) -> str:
        """The Jinja chat template ``apply_chat_template`` renders in ``mode``."""
        return self.inference_jinja if mode == "inference" and self.inference_jinja else template.jinja()

    def video_string(self, frame_tokens: Sequence[int], mode: str) -> str:
        """What a video's ``<image>`` becomes: its frames' image strings, as ``mode`` joins them."""
        separator = self.inference_frame_separator if mode == "inference" else "\n"
        return self.image_tokens.video_string(frame_tokens, separator)

    def generate_inputs(self, outputs: Mapping[str, Any]) -> dict[str, Any]:
        """The entries of a processor output the checkpoint's ``generate`` takes, laid out as
        ``predict_forward`` passes them (:meth:`Sa2VAProcessor.generate_inputs`)."""
        out = {k: outputs[k] for k in self.generate_input_names if outputs.get(k) is not None}
        if "prompt_masks" in out:
            # generate indexes prompt_masks by the images that carry a prompt; none: predict_forward passes None
            kept = [m for m in out["prompt_masks"] if len(m)]
            if kept:
                out["prompt_masks"] = kept
            else:
                del out["prompt_masks"]
        if "prompt_masks" not in out:
            out.pop("vp_overall_mask", None)
        return out


#: What each checkpoint's ``generate`` takes. InternVL: ``Sa2VAChatModel.generate`` (the visual prompts
#: too); Qwen: the wrapped Qwen-VL model's (``model.model.generate``, as ``predict_forward`` calls it);
#: LLaVA: the wrapped ``LlavaForConditionalGeneration``'s (``model.model.generate``).
_INTERNVL_GENERATE = ("pixel_values", "input_ids", "attention_mask", "prompt_masks", "vp_overall_mask")
_QWEN_GENERATE = ("input_ids", "attention_mask", "pixel_values", "image_grid_thw")
_LLAVA_GENERATE = ("pixel_values", "input_ids", "attention_mask")

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "internvl", "Sa2VA-1B/4B/8B/26B (InternVL2.5), Sa2VA-InternVL3-2B/8B/14B",
            Sa2VAImageProcessor, INTERNVL_IMAGE_TOKENS, template="phi3", visual_prompts=True,
            generate_input_names=_INTERNVL_GENERATE,
        ),
        Family(
            "qwen2_5_vl", "Sa2VA-Qwen2_5-VL-3B/7B",
            Sa2VAQwen2VLImageProcessor, QWEN_VL_IMAGE_TOKENS, template="qwen", visual_prompts=False,
            generate_input_names=_QWEN_GENERATE, inference_jinja=QWEN_VL_JINJA, inference_frame_separator="",
        ),
        Family(
            "qwen3_vl", "Sa2VA-Qwen3-VL-2B/4B, Sa2VA-Qwen3-VL-4B-SAM3",
            Sa2VAQwen2VLImageProcessor, QWEN_VL_IMAGE_TOKENS, template="qwen", visual_prompts=False,
            generate_input_names=_QWEN_GENERATE, inference_jinja=QWEN_VL_JINJA, inference_frame_separator="",
            image_processor_options=QWEN3_VL_OPTIONS,
        ),
        Family(
            "llava", "Sa2VA-LLaVA-1.5-7B",
            Sa2VALlavaImageProcessor, LLAVA_IMAGE_TOKENS, template="vicuna", visual_prompts=False,
            generate_input_names=_LLAVA_GENERATE,
        ),
    )
}  # fmt: skip
DEFAULT_FAMILY = "internvl"


def get_family(name: str) -> Family:
    """The :class:`Family` called ``name``; an unknown name is an error listing the known ones."""
    if isinstance(name, Family):
        return name
    if name not in FAMILIES:
        raise Sa2VAError(f"unknown Sa2VA family {name!r}{did_you_mean(name, FAMILIES)} (known: {', '.join(FAMILIES)})")
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


__all__ = [
    "DEFAULT_FAMILY",
    "FAMILIES",
    "MODES",
    "Family",
    "ImageTokens",
    "check_mode",
    "family_for_image_processor",
    "get_family",
]
