"""``Sa2VAProcessor``: image (or video) + visual prompts + masks + text -> what the Sa2VA model eats.

Like every transformers processor, it splits formatting from encoding:

* ``apply_chat_template(messages)`` renders a conversation with the checkpoint's chat template
  (a Jinja template saved with the processor, written by :mod:`chat_templates`);
* ``__call__(images=..., text=..., visual_prompts=...)`` takes the text as given and expands each
  ``<image>`` exactly as upstream ``predict_forward`` does: ``<img>`` + ``<IMG_CONTEXT>`` x (256 per
  tile) + ``</img>`` (a video: one single-tile string per frame, joined with ``\\n``), then, when
  the image has visual prompts, ``\\n`` + ``There are {n} part regions in the picture:
  region1<vp>...</vp>, ....\\n`` with one ``<IMG_CONTEXT>`` per grid cell of each region.

The model fills the ``<IMG_CONTEXT>`` embeddings in order (all tiles, then the regions object by
object), so every sample must hold exactly ``256 * T + sum(region_pixels)`` of them; the processor
checks it and raises :class:`Sa2VAError` otherwise. Training samples (``input_ids`` + ``labels``)
are built by :func:`sa2va_hf.training.encode_conversation` from the same media step
(:meth:`Sa2VAProcessor.process_media`, ``mode="training"``).

The ``family`` setting (saved with the processor) picks the checkpoint family (:mod:`families`):
``internvl`` (the default, described above), ``qwen2_5_vl`` / ``qwen3_vl`` (``<image>`` becomes
``<|vision_start|>`` + ``<|image_pad|>`` x prod(image_grid_thw)/4 + ``<|vision_end|>``) or ``llava``
(``<image>`` becomes 576 ``<image>``); each family has its own image processor, and only InternVL has
visual prompts. The ``mode`` setting says whose inputs to build: ``"inference"`` (default) what the
checkpoint's ``predict_forward`` builds, ``"training"`` what upstream's training datasets build; they
differ only for the Qwen families (:mod:`families`).

This file travels as remote code: only relative imports among the package's self-contained
modules, plus numpy / PIL / transformers.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from transformers.image_processing_utils import BatchFeature
from transformers.processing_utils import ProcessingKwargs, ProcessorMixin, Unpack

from .chat_templates import CHAT_TEMPLATES, QWEN_VL_JINJA, ChatTemplate, get_template, template_to_config
from .errors import Sa2VAError
from .families import FAMILIES, Family, check_mode, family_for_image_processor
from .image_processing_sa2va import Sa2VAImageProcessorKwargs, convert_tensors
from .inputs import image_batch
from .options import check_processor_option_names
from .tokens import (
    IMAGE_PLACEHOLDER,
    MediaTokens,
    add_special_tokens,
    assign_media,
    check_context_tokens,
    pad_with_eos,
    region_string,
)
from .video_processing_sa2va import (
    REFUSED_OPTIONS,
    VIDEO_OPTION_NAMES,
    Sa2VAVideoProcessor,
    Sa2VAVideoProcessorKwargs,
    check_max_llm_frames,
    video_batch,
)


class Sa2VAProcessorKwargs(ProcessingKwargs, total=False):
    """``text_kwargs``: the tokenizer's; ``images_kwargs``: :class:`Sa2VAImageProcessor`'s (also used
    for video frames); ``videos_kwargs``: :class:`Sa2VAVideoProcessor`'s own (``max_llm_frames``).
    Defaults: the processor's class attributes, then the tokenizer's init kwargs."""

    images_kwargs: Sa2VAImageProcessorKwargs
    videos_kwargs: Sa2VAVideoProcessorKwargs


#: Options that left ``__call__`` in 0.2, and where they went.
_MOVED = {
    **dict.fromkeys(
        ("conversations", "conversation_style", "question_suffix", "refcoco_instruction"),
        "training conversations left the processor in sa2va-hf 0.2; build input_ids + labels with "
        "sa2va_hf.training.encode_conversation(processor, images=..., conversations=..., style=...)",
    ),
    **dict.fromkeys(
        ("apply_template", "system"),
        "processor(text=...) takes the text as given since sa2va-hf 0.2; format prompts with "
        "processor.apply_chat_template(messages, add_generation_prompt=True) (a system prompt is a "
        "{'role': 'system'} message)",
    ),
}

#: Outputs with one entry per image / sample of varying size: kept as lists, never stacked.
_RAGGED = ["prompt_masks", "region_pixels", "dropped_regions", "masks", "text_replacement_offsets"]

#: The Jinja templates this package writes: a saved one is rewritten from ``template`` and ``mode`` on
#: load, so they cannot disagree (a chat template of the user's own is kept as given).
_GENERATED_JINJA = {tpl.jinja() for tpl in CHAT_TEMPLATES.values()} | {QWEN_VL_JINJA}


class Sa2VAProcessor(ProcessorMixin):
    r"""Processor for Sa2VA: the family's image processor + the LLM's tokenizer + a chat template.

    Args:
        image_processor: the family's image processor: :class:`Sa2VAImageProcessor` (InternVL),
            ``Sa2VAQwen2VLImageProcessor`` (Qwen2.5-VL, Qwen3-VL) or ``Sa2VALlavaImageProcessor``;
            ``None`` builds the family's default one.
        tokenizer: the LLM tokenizer. Unless ``add_sa2va_tokens=False``, the Sa2VA tokens
            ``[SEG] <p> </p> <vp> </vp>`` (in upstream's order) and then the family's image tokens
            (InternVL: ``<img> </img> <IMG_CONTEXT>``) are added as special tokens where the
            tokenizer does not already encode them as single tokens. This changes the tokenizer in
            place (as upstream does); a model must have embeddings for them.
        template: ``"phi3"``, ``"qwen"``, ``"internlm2"`` or ``"vicuna"`` (upstream's ``*_chat``
            names work too), or a dict / :class:`ChatTemplate`; by default the family's (InternVL
            ``phi3``, Qwen ``qwen``, LLaVA ``vicuna``). Saved by ``save_pretrained``; the training
            encoder uses it, and the Jinja ``chat_template`` is written from it (Qwen-VL in
            ``mode="inference"``: the checkpoint's own Qwen-VL template, :data:`chat_templates.QWEN_VL_JINJA`).
        add_sa2va_tokens: add the special tokens above to the tokenizer.
        chat_template: a Jinja chat template of your own for ``apply_chat_template`` (by default,
            the one written from ``template``).
        family: ``"internvl"``, ``"qwen2_5_vl"``, ``"qwen3_vl"`` or ``"llava"`` (see
            :mod:`families`); saved by ``save_pretrained``. By default read off the image
            processor (InternVL without one; the Qwen image processor serves two families, so it
            needs ``family=``).
        mode: ``"inference"`` (default): what the checkpoint's ``predict_forward`` builds (Qwen:
            ``qwen_vl_utils``' resize, then the processor's; the checkpoint's Qwen-VL chat template; a
            video's frames as separate images, nothing between them); ``"training"``: what upstream's
            training datasets build (one resize, xtuner's template, frames joined with ``\n``). The
            same for InternVL and LLaVA. Saved by ``save_pretrained``; :mod:`sa2va_hf.training`
            always builds with ``"training"``.
    """

    valid_processor_kwargs = Sa2VAProcessorKwargs
    # The chat templates render no BOS: the tokenizer adds it, where predict_forward's encode() does.
    text_kwargs = {"add_special_tokens": True}
    image_token = IMAGE_PLACEHOLDER

    def __init__(
        self,
        image_processor=None,
        tokenizer=None,
        template: str | dict | ChatTemplate | None = None,
        add_sa2va_tokens: bool = True,
        chat_template: str | None = None,
        family: str | None = None,
        mode: str = "inference",
    ):
        spec = family_for_image_processor(image_processor, family)
        mode = check_mode(mode)
        if image_processor is None:
            image_processor = spec.image_processor()
        tpl = get_template(spec.template if template is None else template)
        if chat_template is None or (isinstance(chat_template, str) and chat_template in _GENERATED_JINJA):
            chat_template = spec.chat_template(tpl, mode)
        super().__init__(image_processor, tokenizer, chat_template=chat_template)
        self.family = spec.name
        self.mode = mode
        self._chat_template = tpl
        self.template = template_to_config(tpl)
        self.add_sa2va_tokens = add_sa2va_tokens
        self.added_tokens = add_special_tokens(tokenizer, spec.image_tokens.tokens) if add_sa2va_tokens else []

    @classmethod
    def register_for_auto_class(cls, auto_class="AutoProcessor"):
        """Register for remote code; also registers every family's image processor with
        ``AutoImageProcessor``, without which the saved folder's image processor has no
        ``auto_map`` and ``trust_remote_code=True`` loading fails."""
        super().register_for_auto_class(auto_class)
        for image_processor_class in {f.image_processor_class for f in FAMILIES.values()}:
            image_processor_class.register_for_auto_class("AutoImageProcessor")

    # ------------------------------------------------------------------ properties

    @property
    def chat_template_config(self) -> ChatTemplate:
        """The resolved :class:`ChatTemplate` (the strings both renderings come from)."""
        return self._chat_template

    @property
    def family_spec(self) -> Family:
        """The checkpoint family: image token strings, template, whether it has visual prompts."""
        return FAMILIES[self.family]

    @property
    def video_processor(self) -> Sa2VAVideoProcessor:
        """Videos go through :class:`Sa2VAVideoProcessor`, over this processor's image processor
        and mode (frames take its options; nothing of its own is saved)."""
        return Sa2VAVideoProcessor(self.image_processor, mode=self.mode)

    @property
    def image_context_token_id(self) -> int:
        """The id the model puts image embeddings on (``<IMG_CONTEXT>``, ``<|image_pad|>``, ``<image>``)."""
        return self.tokenizer.convert_tokens_to_ids(self.family_spec.image_tokens.context)

    @property
    def image_token_ids(self) -> list[int]:
        """Ids marked as image tokens by ``return_mm_token_type_ids``."""
        return self.tokenizer.convert_tokens_to_ids(list(self.family_spec.image_tokens.tokens))

    @property
    def model_input_names(self) -> list[str]:
        """Every key ``__call__`` can return (each only when its input, or its ``return_*`` flag, is given)."""
        names = [
            *self.tokenizer.model_input_names,
            *self.image_processor.model_input_names,
            *self.video_processor.model_input_names,
            "mm_token_type_ids",  # return_mm_token_type_ids=True
            "text_replacement_offsets",  # return_text_replacement_offsets=True
        ]
        return list(dict.fromkeys(names))

    # ------------------------------------------------------------------ entry point

    def __call__(
        self,
        images=None,
        text: str | Sequence[str] | None = None,
        videos=None,
        audio=None,
        visual_prompts=None,
        masks=None,
        **kwargs: Unpack[Sa2VAProcessorKwargs],
    ) -> BatchFeature:
        """Process one sample or a batch; the text is taken as given (no chat template is added).

        Args:
            images: one image (PIL image, array or tensor in any layout, or file path), a list of
                them, or one list per sample (as ``apply_chat_template`` passes them). Images are
                matched to ``<image>`` placeholders in order (per sample for per-sample lists).
            text: a prompt or a list of prompts. Each ``<image>`` is expanded as upstream
                ``predict_forward`` does, and the result is tokenized whole, with the tokenizer's
                own special tokens (its BOS, as ``tokenizer.encode`` adds it).
            videos: one video or a list of them (or one list per sample): a list of frames, an
                (F, H, W, 3) array, a video file, or ``{"video": path, "frame_indices": [...]}`` (a
                video record); see :class:`Sa2VAVideoProcessor`. Every frame is one language-model
                image (InternVL: one 448x448 tile; Qwen-VL: an image as ``mode`` makes one -- in
                training within ``frame_min_pixels`` / ``frame_max_pixels``; LLaVA: 336x336) and one
                SAM2 image; one ``<image>`` per video becomes one image string per frame, joined with
                ``\n`` (Qwen-VL inference: with nothing). ``max_llm_frames=5`` gives only the first 5
                frames to the language model, as ``predict_forward`` does (every frame still reaches SAM2).
            visual_prompts: per image (a flat list over all images), the region masks (see
                :class:`Sa2VAImageProcessor`). Each image's region string follows its expansion.
            masks: ground-truth masks, per image (as the image processor takes them); for a
                video, an (n_obj, F, H, W) array or a list over objects of per-frame masks
                (``None`` for "no mask in this frame"), returned as (n_obj * F, H, W),
                object-major, as upstream.
            **kwargs: options, flat or nested as transformers merges them (``text_kwargs=``,
                ``images_kwargs=``, ``common_kwargs=``): the tokenizer's (``padding``,
                ``truncation``, ``max_length``, ``return_tensors``, ...) and the image processor's
                (``max_tiles``, ``prompt_mask_mode``, ``empty_region``, ...). An unknown option,
                or one given both flat and nested, is an error.
        """
        self.validate_inputs(
            images=images, text=text, videos=videos, audio=audio, visual_prompts=visual_prompts, masks=masks
        )
        options = self._merge_kwargs(tokenizer_init_kwargs=self.tokenizer.init_kwargs, **kwargs)
        return_tensors = options["text_kwargs"].pop("return_tensors", None)
        return_tensors = options["images_kwargs"].pop("return_tensors", None) or return_tensors
        options["videos_kwargs"].pop("return_tensors", None)
        data, media, per_sample = self.process_media(
            images, videos, visual_prompts, masks, **options["images_kwargs"], **options["videos_kwargs"]
        )
        if text is not None:
            data.update(self._tokenize(text, media, per_sample, options, return_tensors))
        data = convert_tensors(data, return_tensors)  # ragged lists of arrays, one tensor each
        return BatchFeature(data=data, tensor_type=return_tensors, skip_tensor_conversion=_RAGGED)

    def validate_inputs(self, images=None, text=None, videos=None, audio=None, **kwargs: Any) -> None:
        if images is None and text is None and videos is None:
            raise Sa2VAError("Sa2VAProcessor needs images, text or videos; got none")
        if audio is not None:
            raise Sa2VAError("Sa2VA takes no audio")
        if images is not None and videos is not None:
            raise Sa2VAError("give images or videos, not both, in one call")
        if kwargs.get("visual_prompts") is not None and images is None:
            raise Sa2VAError("visual_prompts need images (visual prompts are only supported on images)")
        self._check_family_inputs(videos, kwargs.get("visual_prompts"))
        if kwargs.get("masks") is not None and images is None and videos is None:
            raise Sa2VAError("masks need images or videos to belong to")
        if text is not None and not (
            isinstance(text, str) or (isinstance(text, (list, tuple)) and all(isinstance(t, str) for t in text))
        ):
            raise Sa2VAError(f"text must be a string or a list of strings, got {type(text).__name__}")

    def _merge_kwargs(self, ModelProcessorKwargs=None, tokenizer_init_kwargs=None, **kwargs: Any) -> dict[str, Any]:
        """transformers' merge, after refusing what it would drop with a warning: unknown options."""
        self._check_option_names(kwargs)
        try:
            return super()._merge_kwargs(ModelProcessorKwargs, tokenizer_init_kwargs, **kwargs)
        except Exception as e:
            from huggingface_hub.errors import StrictDataclassError  # what transformers' type check raises

            if isinstance(e, StrictDataclassError):  # a type error, not a ValueError: say it as one
                raise Sa2VAError(f"Sa2VAProcessor option of the wrong type: {e}") from None
            raise

    def _check_option_names(self, kwargs: Mapping[str, Any]) -> None:
        for key in kwargs:
            if key in _MOVED:
                raise Sa2VAError(f"{key}=: {_MOVED[key]}")
        check_processor_option_names(kwargs, self.valid_processor_kwargs, self.image_processor, REFUSED_OPTIONS)

    def _check_family_inputs(self, videos=None, visual_prompts=None) -> None:
        spec = self.family_spec
        if visual_prompts is not None and not spec.visual_prompts:
            raise Sa2VAError(
                f"family {spec.name!r} takes no visual prompts: upstream has no visual-prompt path for its "
                "checkpoints (its training leaves the visual-prompt data out); the InternVL family has them"
            )

    def generate_inputs(self, outputs: Mapping[str, Any]) -> BatchFeature:
        """The entries of ``outputs`` (a call's) that the checkpoint's ``generate`` takes, as
        ``predict_forward`` passes them: ``model.generate(**processor.generate_inputs(out), ...)``.

        InternVL (``Sa2VAChatModel.generate``): ``pixel_values``, ``input_ids``, ``attention_mask``, and
        with visual prompts ``prompt_masks`` (the images that carry one) and ``vp_overall_mask``;
        Qwen-VL (the wrapped model, ``model.model.generate``): ``input_ids``, ``attention_mask``,
        ``pixel_values``, ``image_grid_thw``; LLaVA (``model.model.generate``): ``pixel_values``,
        ``input_ids``, ``attention_mask``. ``g_pixel_values`` go to the mask decoder, not to ``generate``.
        """
        return BatchFeature(data=self.family_spec.generate_inputs(outputs), skip_tensor_conversion=_RAGGED)

    # ------------------------------------------------------------------ token strings from sizes

    def image_token_count(self, width: int, height: int, mode: str | None = None, **image_options: Any) -> int:
        """How many image tokens one ``width`` x ``height`` image takes (its regions aside), from its size
        alone: InternVL 256 per tile (the tiling rule), Qwen-VL prod(grid_thw) / merge² (its resize
        rules in ``mode``), LLaVA 576. The same count the pixels give (tested), without reading a pixel."""
        image_options.update(self.image_processor.mode_options(self._mode(mode), **image_options))
        return self.image_processor.image_token_count(width, height, **image_options)

    def image_token_string(self, width: int, height: int, mode: str | None = None, **image_options: Any) -> str:
        """What ``<image>`` becomes for one ``width`` x ``height`` image without visual prompts (the
        family's start token + context tokens + end token), from its size alone."""
        return self.family_spec.image_tokens.string(self.image_token_count(width, height, mode, **image_options))

    def video_token_string(
        self, num_frames: int, width: int, height: int, mode: str | None = None, **options: Any
    ) -> str:
        """What ``<image>`` becomes for a video of ``num_frames`` frames of ``width`` x ``height``: one
        image string per frame that reaches the language model (``max_llm_frames``), joined as ``mode``
        joins them; from the size alone."""
        mode = self._mode(mode)
        max_llm = check_max_llm_frames(options.pop("max_llm_frames", None))
        frames = int(num_frames) if max_llm is None else min(max_llm, int(num_frames))
        frame_options = Sa2VAVideoProcessor(self.image_processor, mode=mode).frame_options(**options)
        count = self.image_processor.image_token_count(width, height, **frame_options)
        return self.family_spec.video_string([count] * frames, mode)

    # ------------------------------------------------------------------ media

    def process_media(
        self, images=None, videos=None, visual_prompts=None, masks=None, mode: str | None = None, **image_options: Any
    ) -> tuple[dict[str, Any], list[MediaTokens], list[int] | None]:
        """The pixel features of ``images`` (or ``videos``), what each one puts in the text, and,
        for per-sample image lists, how many images each sample has; as ``mode`` (default: the
        processor's) builds them.

        Shared by :meth:`__call__` and the training encoder (``mode="training"``), which lay the same
        :class:`MediaTokens` out differently in the text.
        """
        mode = self._mode(mode)
        if videos is not None and visual_prompts is not None:
            raise Sa2VAError("visual prompts are only supported on images")
        self._check_family_inputs(videos, visual_prompts)
        image_options.pop("return_tensors", None)
        video_options = {k: image_options.pop(k) for k in VIDEO_OPTION_NAMES if k in image_options}  # videos only
        spec = self.family_spec
        if images is not None:
            flat, per_sample, batched = image_batch(images)
            image_options.update(self.image_processor.mode_options(mode, **image_options))
            data = dict(
                self.image_processor(flat if batched else flat[0], visual_prompts=visual_prompts, masks=masks,
                                     **image_options)
            )  # fmt: skip
            counts = self.image_processor.image_token_counts(data, **image_options)
            regions = data.get("region_pixels") or [None] * len(counts)
            dropped = data.get("dropped_regions") or [[]] * len(counts)
            media = []
            for n, cells, gone in zip(counts, regions, dropped):
                cells = None if cells is None else [int(k) for k in cells]
                media.append(MediaTokens(spec.image_tokens.string(n), n + sum(cells or []), cells, list(gone)))
            return data, media, per_sample
        if videos is None:
            return {}, [], None
        video_processor = Sa2VAVideoProcessor(self.image_processor, mode=mode)
        data = dict(video_processor(videos, masks=masks, **image_options, **video_options))
        counts = self.image_processor.image_token_counts(data, **video_processor.frame_options(**image_options))
        media, start = [], 0
        for frames in data["num_llm_frames"].tolist():
            per_frame = counts[start : start + frames]
            start += frames
            media.append(MediaTokens(spec.video_string(per_frame, mode), sum(per_frame)))
        return data, media, video_batch(videos)[1]

    def _mode(self, mode: str | None) -> str:
        return self.mode if mode is None else check_mode(mode)

    # ------------------------------------------------------------------ text

    @staticmethod
    def replacement(media: MediaTokens) -> str:
        """What ``<image>`` becomes, exactly as upstream ``predict_forward`` builds it: the image
        string, then ``\\n`` + the region string when the image has regions. Nothing after the
        placeholder is absorbed, so ``<image>\\nQ`` gets a blank line before ``Q``, as upstream's own
        region-caption evaluation feeds the model."""
        return media.string + ("\n" + region_string(media.regions) if media.regions else "")

    def _tokenize(self, text, media, per_sample, options: dict[str, Any], return_tensors) -> dict[str, Any]:
        texts = [text] if isinstance(text, str) else list(text)
        try:
            groups = assign_media(texts, media, per_sample)
        except Sa2VAError as e:
            if self.family_spec.image_tokens.context != IMAGE_PLACEHOLDER or "placeholder" not in str(e):
                raise
            raise Sa2VAError(
                f"{e} (family {self.family!r}: <image> is also the image token; give the text with one <image> per "
                "image, not expanded: the processor expands each once)"
            ) from None
        expanded, offsets = self.get_text_with_replacements(list(texts), [self.replacement(m) for m in media])
        text_kwargs = options["text_kwargs"]
        want_offsets = text_kwargs.pop("return_text_replacement_offsets", options["return_text_replacement_offsets"])
        want_types = text_kwargs.pop("return_mm_token_type_ids", options["return_mm_token_type_ids"])
        if return_tensors is not None and len(expanded) > 1:
            text_kwargs.setdefault("padding", True)  # tensors need one length
        if text_kwargs.get("padding") not in (None, False, "do_not_pad") and self.tokenizer.pad_token_id is None:
            enc = pad_with_eos(self.tokenizer, expanded, text_kwargs)
        else:
            enc = dict(self.tokenizer(expanded, **text_kwargs))
        truncated = text_kwargs.get("max_length") if text_kwargs.get("truncation") not in (None, False) else None
        check_context_tokens(
            enc["input_ids"], [sum(m.context_tokens for m in g) for g in groups], self.image_context_token_id, truncated,
            self.family_spec.image_tokens.context,
        )  # fmt: skip
        if want_offsets:
            enc["text_replacement_offsets"] = offsets
        if want_types:
            enc["mm_token_type_ids"] = self.create_mm_token_type_ids(enc["input_ids"])
        return enc


__all__ = ["Sa2VAProcessor", "Sa2VAProcessorKwargs"]
