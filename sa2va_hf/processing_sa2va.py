"""``Sa2VAProcessor``: image (or video) + visual prompts + masks + text -> what the Sa2VA model eats.

The image side is :class:`Sa2VAImageProcessor`; this class adds the text side:

* every ``<image>`` placeholder becomes ``<img>`` + ``<IMG_CONTEXT>`` x (256 per tile) + ``</img>``
  (a video: one single-tile string per frame, joined with ``\\n``);
* with visual prompts, the region string
  ``There are {n} part regions in the picture: region1<vp>...</vp>, ....\\n`` follows the image,
  with one ``<IMG_CONTEXT>`` per grid cell of each region;
* inference (``text=``): the chat template's user turn around the text, tokenized whole, as
  upstream ``predict_forward`` does; training (``conversations=``): ``input_ids`` + ``labels``
  as upstream's xtuner pipeline builds them (see :mod:`templates`).

The model fills the ``<IMG_CONTEXT>`` embeddings in order (all tiles, then the regions object
by object), so the processor checks that every sample holds exactly
``256 * T + sum(region_pixels)`` of them and raises :class:`Sa2VAError` otherwise.

This file travels as remote code: only relative imports among the package's
self-contained modules, plus numpy / PIL / transformers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from transformers.image_processing_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin

from .chat_templates import ChatTemplate, get_template, template_to_config
from .errors import Sa2VAError, ShapeMismatchError
from .image_io import to_rgb_image
from .image_processing_sa2va import Sa2VAImageProcessor, as_mask_stack, convert_tensors
from .templates import (
    CONVERSATION_STYLES,
    IGNORE_INDEX,
    REFCOCO_INSTRUCTION,
    check_max_length,
    encode_turns,
    insert_region_strings,
    messages_to_turns,
    osprey_messages,
)
from .tokens import (
    IMG_CONTEXT_TOKEN,
    add_special_tokens,
    count_placeholders,
    expand_placeholders,
    image_string,
    region_string,
    video_string,
)

_PROCESSOR_OPTIONS = ("apply_template", "system", "conversation_style", "question_suffix", "refcoco_instruction")


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
        max_length: training sequences (``conversations=``) are truncated to this (upstream 8192).
        add_sa2va_tokens: add the special tokens above to the tokenizer.
        chat_template: a Jinja chat template, kept for ``ProcessorMixin`` (unused here).
    """

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        template: str | dict | ChatTemplate = "phi3",
        system: str = "",
        max_length: int | None = 8192,
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
        self.max_length = check_max_length(max_length)
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
        conversations=None,
        return_tensors: str | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Process one sample or a batch.

        Args:
            images: one image (PIL image, HxWx3 uint8 array, or file path) or a list of them.
                Images are matched to ``<image>`` placeholders in order, across the batch.
            text: a prompt or a list of prompts (inference). Each ``<image>`` is expanded; the
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
            conversations: training messages (``[{"from": "human"|"gpt", "value": ...}]``, or
                ``role``/``content``), or a list of such lists; gives ``input_ids`` and ``labels``.
            return_tensors: ``None`` (lists / numpy), ``"np"`` or ``"pt"``.
            **kwargs: processor options ``apply_template`` (True), ``system``,
                ``conversation_style`` (``llava`` for images, ``plain`` for videos and text-only;
                ``osprey``, ``refcoco``), ``question_suffix`` (osprey), ``refcoco_instruction``,
                ``max_length``; image processor options (``max_tiles``, ``prompt_mask_mode``,
                ``empty_region``, ...); everything else goes to the tokenizer (``padding``,
                ``truncation``, ...).
        """
        if images is not None and videos is not None:
            raise Sa2VAError("give images or videos, not both, in one call")
        if text is not None and conversations is not None:
            raise Sa2VAError("give text (inference) or conversations (training), not both")
        if videos is not None and visual_prompts is not None:
            raise Sa2VAError("visual prompts are only supported on images")
        if return_tensors not in (None, "np", "pt"):
            raise Sa2VAError(f"return_tensors must be None, 'np' or 'pt', got {return_tensors!r}")
        if text is not None and not (
            isinstance(text, str) or (isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text))
        ):
            raise Sa2VAError(f"text must be a string or a list of strings, got {type(text).__name__}")
        image_opts, proc_opts, tok_opts = self._split_kwargs(kwargs)

        data: dict[str, Any] = {}
        media: list[_Media] = []
        tpt = self._tokens_per_tile(image_opts)
        if images is not None:
            feats = self.image_processor(images, visual_prompts=visual_prompts, masks=masks, **image_opts)
            data.update(feats)
            region_pixels = feats.get("region_pixels")
            dropped = feats.get("dropped_regions")
            for i, tiles in enumerate(np.asarray(feats["num_patches"]).tolist()):
                regions = [int(k) for k in region_pixels[i]] if region_pixels is not None else None
                item = _Media(image_string(tiles, tpt), regions, tpt * tiles + sum(regions or []))
                item.dropped = list(dropped[i]) if dropped is not None else []
                media.append(item)
        elif videos is not None:
            data.update(self._process_videos(videos, masks, image_opts))
            for frames in data["num_frames"].tolist():
                media.append(_Media(video_string(frames, tpt), None, tpt * frames))

        if text is not None:
            data.update(self._encode_prompts(text, media, proc_opts, tok_opts, return_tensors))
        elif conversations is not None:
            style = proc_opts.get("conversation_style") or ("llava" if images is not None else "plain")
            data.update(self._encode_conversations(conversations, media, style, proc_opts, tok_opts))
        elif tok_opts:
            raise Sa2VAError(f"unknown option(s) {sorted(tok_opts)} (no text to tokenize)")
        return BatchFeature(data=_convert(data, return_tensors))

    # ------------------------------------------------------------------ pieces

    def _split_kwargs(self, kwargs: dict[str, Any]) -> tuple[dict, dict, dict]:
        image_names = set(getattr(self.image_processor, "_PARAMS", ()))
        image_opts = {k: v for k, v in kwargs.items() if k in image_names}
        proc_opts = {k: v for k, v in kwargs.items() if k in _PROCESSOR_OPTIONS}
        tok_opts = {k: v for k, v in kwargs.items() if k not in image_names and k not in _PROCESSOR_OPTIONS}
        return image_opts, proc_opts, tok_opts

    def _tokens_per_tile(self, image_opts: dict[str, Any]) -> int:
        ip = self.image_processor
        size = image_opts.get("image_size", ip.image_size)
        patch = image_opts.get("patch_size", ip.patch_size)
        ratio = image_opts.get("downsample_ratio", ip.downsample_ratio)
        return int(size // patch * ratio) ** 2

    def _process_videos(self, videos, masks, image_opts: dict[str, Any]) -> dict[str, Any]:
        video_list = _as_video_batch(videos)
        mask_list: list[Any] = [None] * len(video_list)
        if masks is not None:
            if len(video_list) == 1 and not _is_video_batch(videos):
                mask_list = [masks]
            elif isinstance(masks, (list, tuple)) and len(masks) == len(video_list):
                mask_list = list(masks)
            else:
                raise ShapeMismatchError(f"masks must have one entry per video ({len(video_list)} videos)")
        opts = dict(image_opts, min_tiles=1, max_tiles=1)
        parts: dict[str, list] = {}
        num_frames, video_masks = [], []
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
                video_masks.append(_video_masks(mask_list[v], len(rgb), h, w, f"masks of video {v}"))
        data = {key: np.concatenate(vals) for key, vals in parts.items() if isinstance(vals[0], np.ndarray)}
        data["num_frames"] = np.asarray(num_frames, dtype=np.int64)
        if masks is not None:
            data["masks"] = video_masks
        return data

    def _take_media(self, texts: Sequence[str], media: list[_Media]) -> list[list[_Media]]:
        counts = [count_placeholders(t) for t in texts]
        if sum(counts) != len(media):
            detail = ", ".join(str(c) for c in counts)
            raise Sa2VAError(
                f"the text holds {sum(counts)} <image> placeholder(s) ({detail} per sample) but "
                f"{len(media)} image(s)/video(s) were given: put one <image> per image (or per video) "
                "where its tokens belong"
            )
        out, start = [], 0
        for c in counts:
            out.append(media[start : start + c])
            start += c
        return out

    @staticmethod
    def _expand(text: str, items: list[_Media], with_regions: bool = True) -> str:
        """Training turns: ``<image>`` -> media string, then ``\n`` + the region string where the
        image has regions, absorbing one ``\n`` after the placeholder (Osprey's training layout)."""
        if with_regions:
            text = insert_region_strings(text, [region_string(m.regions or []) for m in items])
        return expand_placeholders(text, [m.string for m in items])

    @staticmethod
    def _expand_prompt(text: str, items: list[_Media]) -> str:
        """Inference, exactly upstream ``predict_forward``: ``<image>`` -> media string + ``\n`` +
        region string (nothing after the placeholder is absorbed, so ``<image>\nQ`` gets a blank
        line before ``Q``, as upstream's own region-caption evaluation feeds the model)."""
        return expand_placeholders(
            text, [m.string + ("\n" + region_string(m.regions) if m.regions else "") for m in items]
        )

    def _encode_prompts(self, text, media, proc_opts, tok_opts, return_tensors) -> dict[str, Any]:
        texts = [text] if isinstance(text, str) else list(text)
        per_sample = self._take_media(texts, media)
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
        self._check_context_counts(enc["input_ids"], [sum(m.count for m in items) for items in per_sample])
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

    def _encode_conversations(self, conversations, media, style, proc_opts, tok_opts) -> dict[str, Any]:
        if style not in CONVERSATION_STYLES:
            raise Sa2VAError(f"conversation_style must be one of {CONVERSATION_STYLES}, got {style!r}")
        max_length = tok_opts.pop("max_length", self.max_length)
        if tok_opts:
            raise Sa2VAError(f"unknown option(s) for conversations: {sorted(tok_opts)}")
        batch = _as_conversation_batch(conversations)
        system = proc_opts.get("system", self.system)
        refcoco_instruction = proc_opts.get("refcoco_instruction", REFCOCO_INSTRUCTION)

        if style == "osprey":
            if len(media) != len(batch):
                raise Sa2VAError(
                    f"osprey style takes one image per conversation: {len(batch)} conversations, {len(media)} images"
                )
            for i, m in enumerate(media):
                if m.dropped:
                    # the conversation names its regions region1, region2, ...: dropping one would
                    # renumber the rest under the text (upstream v2 drops such a sample instead)
                    raise Sa2VAError(
                        f"conversation {i}: region(s) {m.dropped} cover too few grid cells and were dropped, "
                        "which would renumber the regions the conversation refers to; skip this sample, or "
                        "use empty_region='keep' (upstream v1) or 'error'"
                    )
                if not m.regions:
                    raise Sa2VAError(
                        f"conversation {i}: osprey style needs the image's regions as visual_prompts "
                        "(the first turn holds their region string)"
                    )
            # upstream writes the region string into the first message itself
            suffix = proc_opts.get("question_suffix", "")
            turns_list = [
                messages_to_turns(osprey_messages(conv, m.regions or [], suffix), "osprey")
                for conv, m in zip(batch, media)
            ]
        else:
            turns_list = [messages_to_turns(conv, style) for conv in batch]
        for i, turns in enumerate(turns_list):
            if not turns:
                raise Sa2VAError(f"conversation {i} has no user message followed by an answer: nothing to train on")

        per_sample = self._take_media(["".join(t["input"] for t in turns) for turns in turns_list], media)
        input_ids, labels = [], []
        for turns, items in zip(turns_list, per_sample):
            k = 0
            for turn in turns:
                n = count_placeholders(turn["input"])
                turn["input"] = self._expand(turn["input"], items[k : k + n], with_regions=style != "osprey")
                k += n
            enc = encode_turns(
                turns, self.tokenizer, self._chat_template, max_length=max_length, system=system,
                style=style, refcoco_instruction=refcoco_instruction,
            )  # fmt: skip
            input_ids.append(enc["input_ids"])
            labels.append(enc["labels"])
        self._check_context_counts(input_ids, [sum(m.count for m in items) for items in per_sample], max_length)
        return {"input_ids": input_ids, "labels": labels, "attention_mask": [[1] * len(ids) for ids in input_ids]}

    def _check_context_counts(self, input_ids, expected: list[int], max_length: int | None = None) -> None:
        ctx = self.image_context_token_id
        rows = input_ids.tolist() if hasattr(input_ids, "tolist") else input_ids
        for i, (ids, want) in enumerate(zip(rows, expected)):
            got = sum(1 for t in ids if t == ctx)
            if got != want:
                hint = (
                    f"; the sequence was cut at max_length={max_length}, raise it"
                    if max_length is not None and len(ids) >= max_length
                    else "; does the tokenizer encode <IMG_CONTEXT> as one token, and was the text free of it?"
                )
                raise Sa2VAError(
                    f"sample {i}: {got} <IMG_CONTEXT> tokens, but its images and regions need {want}{hint}"
                )


# --------------------------------------------------------------------------- helpers


class _Media:
    """One image or video of a call: its token string, its regions' cell counts, its <IMG_CONTEXT> count."""

    __slots__ = ("string", "regions", "count", "dropped")

    def __init__(self, string: str, regions: list[int] | None, count: int) -> None:
        self.string, self.regions, self.count = string, regions, count
        self.dropped: list[int] = []


def _is_frame(x: Any) -> bool:
    if isinstance(x, (str, bytes)) or hasattr(x, "getpixel"):
        return True
    if hasattr(x, "__array__") and not isinstance(x, (list, tuple)):
        return np.asarray(x).ndim in (2, 3)
    return hasattr(x, "__fspath__")


def _is_video_batch(videos: Any) -> bool:
    if hasattr(videos, "__array__") and not isinstance(videos, (list, tuple)):
        return np.asarray(videos).ndim == 5
    return isinstance(videos, (list, tuple)) and len(videos) > 0 and not _is_frame(videos[0])


def _as_video_batch(videos: Any) -> list[list[Any]]:
    if hasattr(videos, "__array__") and not isinstance(videos, (list, tuple)):
        arr = np.asarray(videos)
        if arr.ndim == 4:
            return [list(arr)]
        if arr.ndim == 5:
            return [list(v) for v in arr]
        raise ShapeMismatchError(f"a video array must be (F, H, W, 3) or (B, F, H, W, 3), got {arr.shape}")
    if not isinstance(videos, (list, tuple)) or not videos:
        raise Sa2VAError("videos must be a list of frames, an (F, H, W, 3) array, or a list of videos")
    if _is_video_batch(videos):
        return [list(v) for v in videos]
    return [list(videos)]


def _video_masks(value: Any, n_frames: int, h: int, w: int, what: str) -> np.ndarray:
    """(n_obj, F, H, W) array or [obj][frame] masks (None = empty) -> (n_obj * F, H, W) uint8."""
    if value is None:
        return np.zeros((0, h, w), dtype=np.uint8)
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple)):
        arr = np.asarray(value)
        if arr.ndim != 4 or arr.shape[1:] != (n_frames, h, w):
            raise ShapeMismatchError(f"{what}: expected (n_obj, {n_frames}, {h}, {w}), got {arr.shape}")
        return (arr != 0).astype(np.uint8).reshape(-1, h, w)
    if not isinstance(value, (list, tuple)):
        raise ShapeMismatchError(
            f"{what}: expected an (n_obj, {n_frames}, {h}, {w}) array or a list over objects of per-frame masks, "
            f"got {type(value).__name__}"
        )
    out = []
    for o, per_frame in enumerate(value):
        if not isinstance(per_frame, (list, tuple)) and not (
            hasattr(per_frame, "__array__") and np.ndim(per_frame) == 3
        ):
            raise ShapeMismatchError(f"{what}[{o}]: expected one mask per frame ({n_frames})")
        if len(per_frame) != n_frames:
            raise ShapeMismatchError(f"{what}[{o}]: {len(per_frame)} masks for {n_frames} frames")
        for f, m in enumerate(per_frame):
            if m is None:
                out.append(np.zeros((h, w), dtype=np.uint8))
            else:
                out.append(as_mask_stack([m], h, w, f"{what}[{o}][{f}]")[0])
    return np.stack(out) if out else np.zeros((0, h, w), dtype=np.uint8)


def _as_conversation_batch(conversations: Any) -> list[list[Mapping[str, Any]]]:
    if not isinstance(conversations, (list, tuple)) or not conversations:
        raise Sa2VAError("conversations must be a non-empty list of messages, or a list of such lists")
    if all(isinstance(m, Mapping) for m in conversations):
        return [list(conversations)]
    if all(isinstance(c, (list, tuple)) and all(isinstance(m, Mapping) for m in c) for c in conversations):
        return [list(c) for c in conversations]
    raise Sa2VAError("conversations must be a list of message dicts, or a list of such lists")


def pad_batch(sequences: Sequence[Sequence[int]], value: int) -> np.ndarray:
    """Right-pad int sequences to one (B, L) int64 array."""
    length = max((len(s) for s in sequences), default=0)
    out = np.full((len(sequences), length), value, dtype=np.int64)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s
    return out


def _convert(data: dict[str, Any], return_tensors: str | None) -> dict[str, Any]:
    if return_tensors is None:
        return data
    out = dict(data)
    if "labels" in out:  # conversations: ragged lists -> padded arrays
        out["input_ids"] = pad_batch(out["input_ids"], 0)
        out["labels"] = pad_batch(out["labels"], IGNORE_INDEX)
        out["attention_mask"] = pad_batch(out["attention_mask"], 0)
    if return_tensors == "np":
        return {
            k: (np.asarray(v) if isinstance(v, list) and k in ("input_ids", "attention_mask") else v)
            for k, v in out.items()
        }
    return convert_tensors(out, return_tensors)


__all__ = ["Sa2VAProcessor", "add_special_tokens", "pad_batch"]
