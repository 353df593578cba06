"""``Sa2VAProcessor``: image (or video) + visual prompts + masks + text -> what the Sa2VA model eats.

The image side is :class:`Sa2VAImageProcessor`; this class adds the text side:

* every ``<image>`` placeholder becomes ``<img>`` + ``<IMG_CONTEXT>`` x (256 per tile) + ``</img>``
  (a video: one single-tile string per frame, joined with ``\\n``);
* with visual prompts, the region string
  ``There are {n} part regions in the picture: region1<vp>...</vp>, ....\\n`` follows the image,
  with one ``<IMG_CONTEXT>`` per grid cell of each region;
* the chat template's user turn around the text, tokenized whole, as upstream
  ``predict_forward`` does. Training samples (``input_ids`` + ``labels``) are built by
  :func:`sa2va_hf.training.encode_conversation` from the same pieces (:meth:`process_media`).

The model fills the ``<IMG_CONTEXT>`` embeddings in order (all tiles, then the regions object
by object), so the processor checks that every sample holds exactly
``256 * T + sum(region_pixels)`` of them and raises :class:`Sa2VAError` otherwise.

This file travels as remote code: only relative imports among the package's
self-contained modules, plus numpy / PIL / transformers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers.image_processing_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .chat_templates import ChatTemplate, get_template, template_to_config
from .errors import Sa2VAError, ShapeMismatchError
from .image_processing_sa2va import OPTION_NAMES, Sa2VAImageProcessor, convert_tensors
from .inputs import as_video_batch, is_video_batch, to_rgb_image, video_masks
from .tokens import (
    IMG_CONTEXT_TOKEN,
    MediaTokens,
    add_special_tokens,
    assign_media,
    check_context_tokens,
    expand_placeholders,
    image_string,
    region_string,
    video_string,
)

_PROCESSOR_OPTIONS = ("apply_template", "system")
#: Options of the training path, which left the processor in 0.2.
_TRAINING_OPTIONS = ("conversations", "conversation_style", "question_suffix", "refcoco_instruction")


class Sa2VAProcessor(ProcessorMixin):
    r"""Processor for Sa2VA: :class:`Sa2VAImageProcessor` + the LLM's tokenizer + a chat template.

    Args:
        image_processor: a :class:`Sa2VAImageProcessor`.
        tokenizer: the LLM tokenizer. Unless ``add_sa2va_tokens=False``, the Sa2VA tokens
            ``[SEG] <p> </p> <vp> </vp>`` (in upstream's order) and then ``<img> </img>
            <IMG_CONTEXT>`` are added as special tokens where the tokenizer does not already
            encode them as single tokens. This changes the tokenizer in place (as upstream
            does); a model must have embeddings for them.
        template: ``"phi3"``, ``"qwen"`` or ``"internlm2"`` (upstream's ``*_chat`` names work
            too), or a dict / :class:`ChatTemplate`. Saved by ``save_pretrained``.
        system: system prompt (Sa2VA uses none).
        add_sa2va_tokens: add the special tokens above to the tokenizer.
        chat_template: a Jinja chat template, kept for ``ProcessorMixin`` (unused here).
    """

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        template: str | dict | ChatTemplate = "phi3",
        system: str = "",
        add_sa2va_tokens: bool = True,
        chat_template: str | None = None,
    ):
        tpl = get_template(template)
        super().__init__(image_processor, tokenizer, chat_template=chat_template)
        self._chat_template = tpl
        self.template = template_to_config(tpl)
        if not isinstance(system, str):
            raise Sa2VAError(f"system must be a string, got {type(system).__name__}")
        self.system = system
        self.add_sa2va_tokens = add_sa2va_tokens
        if add_sa2va_tokens:
            self.added_tokens = add_special_tokens(tokenizer)

    @classmethod
    def register_for_auto_class(cls, auto_class="AutoProcessor"):
        """Register for remote code; also registers :class:`Sa2VAImageProcessor` with
        ``AutoImageProcessor``, without which the saved folder's image processor has no
        ``auto_map`` and ``trust_remote_code=True`` loading fails."""
        super().register_for_auto_class(auto_class)
        Sa2VAImageProcessor.register_for_auto_class("AutoImageProcessor")

    # ------------------------------------------------------------------ properties

    @property
    def chat_template_config(self) -> ChatTemplate:
        """The resolved :class:`ChatTemplate`."""
        return self._chat_template

    @property
    def image_context_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(IMG_CONTEXT_TOKEN)

    @property
    def model_input_names(self) -> list[str]:
        names = list(self.tokenizer.model_input_names) + list(self.image_processor.model_input_names)
        return list(dict.fromkeys(names))

    # ------------------------------------------------------------------ entry point

    def __call__(
        self,
        images=None,
        text: str | Sequence[str] | None = None,
        videos=None,
        visual_prompts=None,
        masks=None,
        return_tensors: str | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Process one sample or a batch.

        Args:
            images: one image (PIL image, HxWx3 uint8 array, or file path) or a list of them.
                Images are matched to ``<image>`` placeholders in order, across the batch.
            text: a prompt or a list of prompts. Each ``<image>`` is expanded; the
                result goes into the template's user turn (``apply_template=False`` to skip
                that) and is tokenized whole, with the tokenizer's own special tokens.
            videos: one video (a list of frames, or an (F, H, W, 3) array) or a list of videos.
                Every frame is one 448x448 tile; one ``<image>`` per video.
            visual_prompts: per image, the region masks (see :class:`Sa2VAImageProcessor`).
                Each image's region string follows its ``<image>``.
            masks: ground-truth masks, per image (as the image processor takes them); for a
                video, an (n_obj, F, H, W) array or a list over objects of per-frame masks
                (``None`` for "no mask in this frame"), returned as (n_obj * F, H, W),
                object-major, as upstream.
            return_tensors: ``None`` (lists / numpy), ``"np"`` or ``"pt"``.
            **kwargs: processor options ``apply_template`` (True), ``system``; image processor
                options (``max_tiles``, ``prompt_mask_mode``, ``empty_region``, ...); everything
                else goes to the tokenizer (``padding``, ``truncation``, ...).

        Training samples (``input_ids`` + ``labels``) come from
        :func:`sa2va_hf.training.encode_conversation`.
        """
        moved = sorted(set(kwargs) & set(_TRAINING_OPTIONS))
        if moved:
            raise Sa2VAError(
                f"{moved}: training conversations left the processor in sa2va-hf 0.2; build input_ids + labels "
                "with sa2va_hf.training.encode_conversation(processor, images=..., conversations=..., style=...)"
            )
        if text is not None and not (
            isinstance(text, str) or (isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text))
        ):
            raise Sa2VAError(f"text must be a string or a list of strings, got {type(text).__name__}")
        if return_tensors not in (None, "np", "pt"):
            raise Sa2VAError(f"return_tensors must be None, 'np' or 'pt', got {return_tensors!r}")
        image_opts, proc_opts, tok_opts = self._split_kwargs(kwargs)
        data, media = self.process_media(
            images=images, videos=videos, visual_prompts=visual_prompts, masks=masks, **image_opts
        )
        if text is not None:
            data.update(self._encode_prompts(text, media, proc_opts, tok_opts, return_tensors))
        elif tok_opts:
            raise Sa2VAError(f"unknown option(s) {sorted(tok_opts)} (no text to tokenize)")
        return BatchFeature(data=_convert(data, return_tensors))

    def process_media(
        self, images=None, videos=None, visual_prompts=None, masks=None, **image_options: Any
    ) -> tuple[dict[str, Any], list[MediaTokens]]:
        """The pixel features of ``images`` (or ``videos``) and what each one puts in the text.

        Shared by :meth:`__call__` and the training encoder, which lay the same
        :class:`MediaTokens` out differently in the text.
        """
        if images is not None and videos is not None:
            raise Sa2VAError("give images or videos, not both, in one call")
        if videos is not None and visual_prompts is not None:
            raise Sa2VAError("visual prompts are only supported on images")
        data: dict[str, Any] = {}
        media: list[MediaTokens] = []
        tpt = self._tokens_per_tile(image_options)
        if images is not None:
            feats = self.image_processor(images, visual_prompts=visual_prompts, masks=masks, **image_options)
            data.update(feats)
            region_pixels = feats.get("region_pixels")
            dropped = feats.get("dropped_regions")
            for i, tiles in enumerate(np.asarray(feats["num_patches"]).tolist()):
                regions = [int(k) for k in region_pixels[i]] if region_pixels is not None else None
                media.append(
                    MediaTokens(
                        image_string(tiles, tpt),
                        tpt * tiles + sum(regions or []),
                        regions,
                        list(dropped[i]) if dropped is not None else [],
                    )
                )
        elif videos is not None:
            data.update(self._process_videos(videos, masks, image_options))
            for frames in data["num_frames"].tolist():
                media.append(MediaTokens(video_string(frames, tpt), tpt * frames))
        return data, media

    # ------------------------------------------------------------------ pieces

    def _split_kwargs(self, kwargs: dict[str, Any]) -> tuple[dict, dict, dict]:
        image_names = set(OPTION_NAMES)
        image_opts = {k: v for k, v in kwargs.items() if k in image_names}
        proc_opts = {k: v for k, v in kwargs.items() if k in _PROCESSOR_OPTIONS}
        tok_opts = {k: v for k, v in kwargs.items() if k not in image_names and k not in _PROCESSOR_OPTIONS}
        return image_opts, proc_opts, tok_opts

    def _tokens_per_tile(self, image_options: dict[str, Any]) -> int:
        return self.image_processor.resolve_options(**image_options).grid_size ** 2

    def _process_videos(self, videos, masks, image_opts: dict[str, Any]) -> dict[str, Any]:
        video_list = as_video_batch(videos)
        mask_list: list[Any] = [None] * len(video_list)
        if masks is not None:
            if len(video_list) == 1 and not is_video_batch(videos):
                mask_list = [masks]
            elif isinstance(masks, (list, tuple)) and len(masks) == len(video_list):
                mask_list = list(masks)
            else:
                raise ShapeMismatchError(f"masks must have one entry per video ({len(video_list)} videos)")
        opts = dict(image_opts, min_tiles=1, max_tiles=1)
        parts: dict[str, list] = {}
        num_frames, video_mask_list = [], []
        for v, frames in enumerate(video_list):
            if len(frames) == 0:
                raise Sa2VAError(f"video {v} has no frames")
            rgb = [to_rgb_image(f, opts.get("max_image_pixels", self.image_processor.max_image_pixels)) for f in frames]
            if len({im.size for im in rgb}) != 1:
                raise ShapeMismatchError(f"video {v}: frames differ in size: {sorted({im.size for im in rgb})}")
            feats = self.image_processor(rgb, **opts)
            for key, value in feats.items():
                parts.setdefault(key, []).append(value)
            num_frames.append(len(rgb))
            if masks is not None:
                w, h = rgb[0].size
                video_mask_list.append(video_masks(mask_list[v], len(rgb), h, w, f"masks of video {v}"))
        data = {key: np.concatenate(vals) for key, vals in parts.items() if isinstance(vals[0], np.ndarray)}
        data["num_frames"] = np.asarray(num_frames, dtype=np.int64)
        if masks is not None:
            data["masks"] = video_mask_list
        return data

    @staticmethod
    def _expand_prompt(text: str, items: list[MediaTokens]) -> str:
        """Inference, exactly upstream ``predict_forward``: ``<image>`` -> media string + ``\n`` +
        region string (nothing after the placeholder is absorbed, so ``<image>\nQ`` gets a blank
        line before ``Q``, as upstream's own region-caption evaluation feeds the model)."""
        return expand_placeholders(
            text, [m.string + ("\n" + region_string(m.regions) if m.regions else "") for m in items]
        )

    def _encode_prompts(self, text, media, proc_opts, tok_opts, return_tensors) -> dict[str, Any]:
        texts = [text] if isinstance(text, str) else list(text)
        per_sample = assign_media(texts, media)
        system = proc_opts.get("system", self.system)
        prompts = []
        for t, items in zip(texts, per_sample):
            expanded = self._expand_prompt(t, items)
            if proc_opts.get("apply_template", True):
                expanded = self._chat_template.format_input(expanded, system=system)
            prompts.append(expanded)
        if return_tensors is not None and len(prompts) > 1:
            tok_opts.setdefault("padding", True)
        if tok_opts.get("padding") not in (None, False, "do_not_pad") and self.tokenizer.pad_token_id is None:
            enc = self._pad_without_pad_token(prompts, tok_opts, return_tensors)
        else:
            enc = self.tokenizer(prompts, return_tensors=return_tensors, **tok_opts)
        check_context_tokens(
            enc["input_ids"],
            [sum(m.context_tokens for m in items) for items in per_sample],
            self.image_context_token_id,
        )
        return dict(enc)

    def _pad_without_pad_token(self, prompts, tok_opts, return_tensors) -> dict[str, Any]:
        """Pad for a tokenizer without a pad token (InternLM2, Phi-3) with its EOS id, as upstream
        generation does; the attention mask tells padding apart."""
        opts = dict(tok_opts)
        opts.pop("padding")
        side = opts.pop("padding_side", None) or getattr(self.tokenizer, "padding_side", "right")
        multiple = opts.pop("pad_to_multiple_of", None)
        want = opts.get("max_length") if tok_opts.get("padding") == "max_length" else None
        enc = self.tokenizer(prompts, **opts)
        pad_id = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        length = max(want or 0, max(len(ids) for ids in enc["input_ids"]))
        if multiple:
            length = -(-length // multiple) * multiple
        out: dict[str, Any] = {}
        for key, rows in enc.items():
            fill = pad_id if key == "input_ids" else 0
            padded = []
            for row in rows:
                pad = [fill] * (length - len(row))
                padded.append(pad + list(row) if side == "left" else list(row) + pad)
            out[key] = np.asarray(padded, dtype=np.int64) if return_tensors else padded
        return out


# --------------------------------------------------------------------------- helpers


def _convert(data: dict[str, Any], return_tensors: str | None) -> dict[str, Any]:
    if return_tensors is None:
        return data
    if return_tensors == "np":
        return {
            k: (np.asarray(v) if isinstance(v, list) and k in ("input_ids", "attention_mask") else v)
            for k, v in data.items()
        }
    return convert_tensors(data, return_tensors)


__all__ = ["Sa2VAProcessor"]
