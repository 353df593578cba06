"""What the image processors of the one-image families share: inputs, grounding image, masks, options.

InternVL's :class:`~.image_processing_sa2va.Sa2VAImageProcessor` cuts tiles and places visual
prompts on their token grid. The Qwen2.5-VL / Qwen3-VL and LLaVA-1.5 checkpoints give their language
model one resized image per picture instead, and have no visual prompts upstream. Their image
processors differ only in that step (:meth:`Sa2VAFamilyImageProcessor.llm_pixels`) and in how many
image tokens it makes (:meth:`~Sa2VAFamilyImageProcessor.image_token_counts`); everything around it
is here, once: input coercion (:mod:`inputs`), the grounding image (:mod:`grounding`), ground-truth
masks at the image's size, and options declared once (a kwargs ``TypedDict`` + class attributes),
checked, and refused with the reason when they would change the recipe.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature
from transformers.processing_utils import ImagesKwargs

from .errors import Sa2VAError
from .grounding import SAM2_GROUNDING, GroundingTransform
from .image_processing_sa2va import convert_tensors
from .inputs import as_mask_stack, image_batch, per_image, to_rgb_image
from .options import (  # noqa: F401 (the families import them from here)
    FIXED_OPTIONS,
    GENERIC_OPTIONS,
    check_int,
    check_shared_options,
    is_int,
    is_real,
    pop_config_metadata,
    refuse_unknown_and_fixed,
    three_floats,
)


class Sa2VAFamilyImageProcessorKwargs(ImagesKwargs, total=False):
    """Options every one-image family has (documented on :class:`Sa2VAFamilyImageProcessor`)."""

    grounding_size: int
    grounding_mean: list[float]
    grounding_std: list[float]
    normalize_grounding: bool
    return_grounding: bool
    max_image_pixels: int | None


#: Generic options whose meaning the recipe fixes (see :data:`options.FIXED_OPTIONS`); ``size`` is
#: refused with the family's own size options (``size_options``).
FIXED = {
    **FIXED_OPTIONS,
    "do_resize": ((None, True), "the recipe always resizes"),
    "default_to_square": ((None,), "the recipe fixes the output shape"),
    "data_format": ((None, "channels_first"), "pixel_values have a fixed layout"),
    "image_seq_length": ((None,), "the number of image tokens follows from the image and the options"),
}


class Sa2VAFamilyImageProcessor(BaseImageProcessor):
    r"""Base of the image processors whose language model sees one resized image per picture.

    Options shared by every family (class attributes are the defaults; every option is saved by
    ``save_pretrained`` and can be overridden per call):

    Args:
        grounding_size: side of ``g_pixel_values``, the mask decoder's square input (1024 for SAM2,
            1008 for SAM3).
        grounding_mean, grounding_std: how the model normalizes ``g_pixel_values`` (ImageNet for
            SAM2 and for Sa2VA's SAM3); used only with ``normalize_grounding=True``.
        normalize_grounding: return ``g_pixel_values`` normalized (float32) instead of uint8 0..255.
        return_grounding: compute ``g_pixel_values`` at all.
        max_image_pixels: refuse image files larger than this (PIL's limit by default).
        do_rescale, rescale_factor, do_normalize, image_mean, image_std: the language-model image's
            ``x / 255`` and ``(x - mean) / std`` steps.
        do_convert_rgb: convert non-RGB images with PIL's ``convert("RGB")`` (upstream's rule);
            ``False`` refuses them instead.
        input_data_format: ``"channels_last"`` / ``"channels_first"`` for ambiguous image arrays.

    Visual prompts are refused: the families built on this class have none upstream.
    """

    valid_kwargs = Sa2VAFamilyImageProcessorKwargs
    #: Name of the family in messages ("Qwen-VL", "LLaVA").
    family_label = "this family"
    #: The family's own options that say what ``size`` would.
    size_options: tuple[str, ...] = ()

    grounding_size = SAM2_GROUNDING.size
    grounding_mean = list(SAM2_GROUNDING.mean)
    grounding_std = list(SAM2_GROUNDING.std)
    normalize_grounding = False
    return_grounding = True
    max_image_pixels = None
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    input_data_format = None

    def __init__(self, **kwargs: Any) -> None:
        metadata = pop_config_metadata(kwargs)
        options = self._resolve(type(self), kwargs)  # refuses unknown and recipe-changing options
        super().__init__(**metadata)
        for name in self.option_names():
            setattr(self, name, getattr(options, name))

    def required_imports(self) -> dict[str, str]:
        """Imports beyond numpy / PIL / transformers that this processor's settings compute with, and
        what for (a saved processor declares them as required, not optional)."""
        return {}

    # -- options

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """Every option an instance stores and a call may override."""
        own = [k for k in cls.valid_kwargs.__annotations__ if k not in ImagesKwargs.__annotations__]
        return (*own, *GENERIC_OPTIONS)

    def resolve_options(self, **overrides: Any) -> SimpleNamespace:
        """This processor's options with ``overrides`` applied, checked."""
        return self._resolve(self, overrides)

    @classmethod
    def _resolve(cls, defaults: Any, overrides: dict[str, Any]) -> SimpleNamespace:
        if overrides.get("size") is not None:
            raise Sa2VAError(f"{cls.__name__} does not take size=: set {' / '.join(cls.size_options)} instead")
        refuse_unknown_and_fixed(overrides, cls.valid_kwargs.__annotations__, FIXED, cls.__name__)
        options = SimpleNamespace(**{name: overrides.get(name, getattr(defaults, name)) for name in cls.option_names()})
        cls.check_options(options)
        return options

    @classmethod
    def check_options(cls, opts: SimpleNamespace) -> None:
        """Check (and normalize in place) one set of options; subclasses add their own."""
        check_shared_options(opts, ("normalize_grounding", "return_grounding", "do_rescale", "do_normalize"))

    # -- the family's step

    def llm_pixels(self, images: list[Image.Image], opts: SimpleNamespace) -> dict[str, np.ndarray]:
        """The language model's pixel features of these RGB images (``pixel_values`` and the like)."""
        raise NotImplementedError

    def image_token_counts(self, features: Any, **overrides: Any) -> list[int]:
        """How many image tokens each image of ``features`` (an output of this processor) takes."""
        raise NotImplementedError

    def image_token_count(self, width: int, height: int, **overrides: Any) -> int:
        """How many image tokens a ``width`` x ``height`` image takes, from its size alone (no pixels)."""
        raise NotImplementedError

    def mode_options(self, mode: str, video: bool = False, **overrides: Any) -> dict[str, Any]:
        """Options on top of a call's that make an image (``video``: a video frame) what ``mode``
        (``"inference"`` / ``"training"``) builds; none here: a frame is an image, in both modes."""
        return {}

    # -- entry point

    def __call__(self, images, visual_prompts=None, masks=None, return_tensors=None, **overrides) -> BatchFeature:
        return self.preprocess(
            images, visual_prompts=visual_prompts, masks=masks, return_tensors=return_tensors, **overrides
        )

    def preprocess(self, images, visual_prompts=None, masks=None, return_tensors=None, **overrides) -> BatchFeature:
        """Process one image or a list of images.

        Returns the family's ``pixel_values`` (and what goes with them), ``g_pixel_values``
        (B, 3, grounding_size, grounding_size) uint8 and, with ``masks``, a list of B (n_i, H_i, W_i)
        uint8 ground-truth masks (per image an (n, H, W) array, a list of (H, W) arrays, or a list of
        RLE dicts / polygon lists).
        """
        if visual_prompts is not None:
            raise Sa2VAError(
                f"{type(self).__name__}: the {self.family_label} Sa2VA checkpoints take no visual prompts "
                "(upstream has no visual-prompt path for them); use the InternVL family for region prompts"
            )
        opts = self.resolve_options(**overrides)
        image_list, _, batched = image_batch(images)
        mask_list = per_image(masks, batched, len(image_list), "masks")
        rgb = [
            to_rgb_image(
                image, opts.max_image_pixels, input_data_format=opts.input_data_format,
                do_convert_rgb=opts.do_convert_rgb, what=f"image {i}",
            )
            for i, image in enumerate(image_list)
        ]  # fmt: skip
        data: dict[str, Any] = dict(self.llm_pixels(rgb, opts))
        if opts.return_grounding:
            grounding = GroundingTransform(opts.grounding_size, opts.grounding_mean, opts.grounding_std)
            data["g_pixel_values"] = np.stack([grounding(im, opts.normalize_grounding) for im in rgb])
        if masks is not None:
            data["masks"] = [
                as_mask_stack(m, im.height, im.width, f"masks of image {i}")
                for i, (m, im) in enumerate(zip(mask_list, rgb))
            ]
        return BatchFeature(data=convert_tensors(data, return_tensors))


__all__ = ["Sa2VAFamilyImageProcessor", "Sa2VAFamilyImageProcessorKwargs"]
