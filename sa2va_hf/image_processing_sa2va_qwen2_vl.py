"""Pixels for Sa2VA's Qwen2.5-VL and Qwen3-VL checkpoints: the Qwen image processor upstream runs, with Sa2VA's limits.

Upstream (``projects/sa2va/datasets/base.py``, ``arch_type='qwen'``) hands each image to the stock
Qwen-VL image processor with its own pixel limits: ``min_pixels`` / ``max_pixels`` = 512·28² /
2048·28² for a single image, 128·28² / 512·28² per video frame (each frame is an image). The image
is resized to a multiple of ``patch_size * merge_size`` within those limits (:func:`smart_resize`),
normalized and cut into flat patches: ``pixel_values`` (sum of patches, 3·T·p·p) float32 and
``image_grid_thw`` (B, 3) int64; the image takes prod(grid_thw) / merge² ``<|image_pad|>`` tokens.
Qwen3-VL is the same processor with patch 16 and mean = std = 0.5 (its own preprocessor config),
and the same 28²-based limits.

Which stock processor: upstream v2 pins transformers 4.57 and installs torchvision, and there
``AutoProcessor`` loads ``Qwen2VLImageProcessorFast`` (``image_processing_auto.py`` forces the fast
class for Qwen2-VL when torchvision is present; v2's collate function asserts ``pixel_values`` is a
tensor, which only the fast class returns). ``qwen_image_processor="fast"`` (the default) computes what
that class computes, bit for bit, with torch alone (torchvision is not needed):

1. the RGB image as a (3, H, W) uint8 tensor;
2. resized to :func:`smart_resize`'s size with ``torch.nn.functional.interpolate(mode="bicubic",
   antialias=True, align_corners=False)`` on the uint8 tensor -- the call torchvision's
   ``resize`` makes on the CPU for uint8 bicubic (torchvision 0.21 .. 0.29 keep uint8 there, and the
   kernel rounds and clamps to uint8 itself); no call when the size does not change, as torchvision;
3. one fused rescale + normalize in float32, ``(x - mean / rescale_factor) / (std / rescale_factor)``
   (transformers' ``_fuse_mean_std_and_rescale_factor``, then torchvision's ``normalize``);
4. the flat patches, as transformers lays them out.

(The fast class groups images of one shape into one resize call; each image's values do not depend
on the grouping, so each image is resized alone here.) ``qwen_image_processor="pil"`` is transformers' PIL class
(``Qwen2VLImageProcessor`` in 4.57, ``Qwen2VLImageProcessorPil`` in 5.x): PIL's resize, then ``x /
255`` and ``(x - mean) / std`` in two steps; on real photos it differs from the fast class in a
quarter to three quarters of the values, most by under 1e-5, some by a grey level or two of the
resize (``tools/verify_qwen_fast_pixels.py`` prints the measured numbers).

Inference (``predict_forward`` in ``hf/models_qwen2_5_vl`` / ``hf/models_qwen3vl``) resizes twice:
``qwen_vl_utils.process_vision_info`` first, with its own rule (:func:`qwen_vl_utils_smart_resize`:
factor 28 -- Sa2VA's Qwen3-VL code does not pass ``image_patch_size=16`` -- and limits 4·28² ..
16384·28², PIL BICUBIC), then the processor as above. ``qwen_vl_utils_resize=True`` does that first
resize (the processor's ``mode="inference"`` sets it).

This wrapper adds the grounding image and ground-truth masks (:mod:`image_processing_sa2va_common`).
torch is needed for ``qwen_image_processor="fast"`` (the Qwen models run on torch anyway); it is imported
where used.
"""

from __future__ import annotations

import functools
import math
from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

from .errors import Sa2VAError, ShapeMismatchError
from .image_processing_sa2va_common import (
    Sa2VAFamilyImageProcessor,
    Sa2VAFamilyImageProcessorKwargs,
    check_int,
)
from .resize import pil_resize, torch_module, torch_source

#: Sa2VA's pixel limits for one image (``min_pixels_single`` / ``max_pixels_single`` upstream; HF
#: ``predict_forward`` passes the same, for images and for the first 5 frames of a video).
IMAGE_MIN_PIXELS = 512 * 28 * 28
IMAGE_MAX_PIXELS = 2048 * 28 * 28
#: Sa2VA's training limits per video frame (``min_pixels_multi`` / ``max_pixels_multi``).
FRAME_MIN_PIXELS = 128 * 28 * 28
FRAME_MAX_PIXELS = 512 * 28 * 28

#: Qwen3-VL's preprocessor config differs from Qwen2.5-VL's (this class's defaults) in these.
QWEN3_VL_OPTIONS = {"patch_size": 16, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}

#: ``"fast"``: transformers' ``Qwen2VLImageProcessorFast`` (upstream's environment), computed with torch;
#: ``"pil"``: transformers' PIL class.
QWEN_IMAGE_PROCESSORS = ("fast", "pil")

#: qwen_vl_utils 0.0.14 (upstream's lock file), ``fetch_image`` with its defaults as ``predict_forward``
#: calls it: factor = image_patch_size (14) * 2, pixels within 4..16384 factor².
QWEN_VL_UTILS_FACTOR = 28
QWEN_VL_UTILS_MIN_PIXELS = 4 * 28 * 28
QWEN_VL_UTILS_MAX_PIXELS = 16384 * 28 * 28

#: smart_resize refuses images more elongated than this (a ``ValueError`` naming nothing).
MAX_ASPECT_RATIO = 200
#: Far above any Qwen setting (its own default max_pixels is 16384·28²); larger asks PIL for gigabytes.
MAX_PIXELS_LIMIT = 4096 * 4096

_NEEDS_TORCH = "the Qwen-VL pixels of qwen_image_processor='fast', the default (qwen_image_processor='pil' do not)"


def _torch() -> Any:
    return torch_module(_NEEDS_TORCH)


class Sa2VAQwen2VLImageProcessorKwargs(Sa2VAFamilyImageProcessorKwargs, total=False):
    min_pixels: int
    max_pixels: int
    frame_min_pixels: int
    frame_max_pixels: int
    patch_size: int
    temporal_patch_size: int
    merge_size: int
    qwen_image_processor: str
    qwen_vl_utils_resize: bool


class Sa2VAQwen2VLImageProcessor(Sa2VAFamilyImageProcessor):
    r"""Image processor for Sa2VA's Qwen2.5-VL and Qwen3-VL checkpoints.

    Args:
        min_pixels, max_pixels: the resized image's pixel count bounds (512·28², 2048·28²: Sa2VA's
            single-image limits).
        frame_min_pixels, frame_max_pixels: the same for each frame of a video in training
            (128·28², 512·28²: Sa2VA's training limits per frame; ``predict_forward`` gives its
            first 5 frames the single-image limits instead). Only the video path reads them.
        patch_size, temporal_patch_size, merge_size: the vision encoder's (14, 2, 2 for Qwen2.5-VL;
            Qwen3-VL: patch 16, see ``QWEN3_VL_OPTIONS``).
        image_mean, image_std: OpenAI-CLIP for Qwen2.5-VL, 0.5 for Qwen3-VL.
        qwen_image_processor: ``"fast"`` (default): transformers 4.57's ``Qwen2VLImageProcessorFast``,
            what upstream's environment loads, bit for bit (computed with torch; see the module
            docstring); ``"pil"``: transformers' PIL class.
        qwen_vl_utils_resize: resize with ``qwen_vl_utils``' rule first, as ``predict_forward`` does
            (``Sa2VAProcessor(mode="inference")`` sets it; ``False``: the stock processor alone, as training).
        (and the options of :class:`Sa2VAFamilyImageProcessor`: grounding image, masks, RGB.)

    Returns ``pixel_values`` (sum of patches, 3 * temporal_patch_size * patch_size²) float32 and
    ``image_grid_thw`` (B, 3) int64, plus ``g_pixel_values`` and ``masks``.
    """

    valid_kwargs = Sa2VAQwen2VLImageProcessorKwargs
    model_input_names = ["pixel_values", "image_grid_thw", "g_pixel_values", "masks"]
    family_label = "Qwen-VL"
    size_options = ("min_pixels", "max_pixels")

    min_pixels = IMAGE_MIN_PIXELS
    max_pixels = IMAGE_MAX_PIXELS
    frame_min_pixels = FRAME_MIN_PIXELS
    frame_max_pixels = FRAME_MAX_PIXELS
    patch_size = 14
    temporal_patch_size = 2
    merge_size = 2
    qwen_image_processor = "fast"
    qwen_vl_utils_resize = False
    image_mean = list(OPENAI_CLIP_MEAN)
    image_std = list(OPENAI_CLIP_STD)

    def required_imports(self) -> dict[str, str]:
        return {"torch": _NEEDS_TORCH} if self.qwen_image_processor == "fast" else {}

    @classmethod
    def check_options(cls, opts: SimpleNamespace) -> None:
        super().check_options(opts)
        for prefix in ("", "frame_"):
            low, high = getattr(opts, f"{prefix}min_pixels"), getattr(opts, f"{prefix}max_pixels")
            check_int(low, f"{prefix}min_pixels", 1, MAX_PIXELS_LIMIT)
            check_int(high, f"{prefix}max_pixels", 1, MAX_PIXELS_LIMIT)
            if low > high:
                raise Sa2VAError(f"need {prefix}min_pixels <= {prefix}max_pixels, got {low}, {high}")
        check_int(opts.patch_size, "patch_size", 1, 64)
        check_int(opts.temporal_patch_size, "temporal_patch_size", 1, 16)
        check_int(opts.merge_size, "merge_size", 1, 16)
        if opts.qwen_image_processor not in QWEN_IMAGE_PROCESSORS:
            raise Sa2VAError(
                f"qwen_image_processor must be one of {QWEN_IMAGE_PROCESSORS}, got {opts.qwen_image_processor!r}"
            )
        if not isinstance(opts.qwen_vl_utils_resize, bool):
            raise Sa2VAError(f"qwen_vl_utils_resize must be True or False, got {opts.qwen_vl_utils_resize!r}")

    def llm_pixels(self, images: list[Image.Image], opts: SimpleNamespace) -> dict[str, np.ndarray]:
        for i, im in enumerate(images):
            _check_aspect(im.width, im.height, f"image {i}")
        if opts.qwen_vl_utils_resize:  # predict_forward's process_vision_info, before the processor
            images = [pil_resize(im, *qwen_vl_utils_smart_resize(im.width, im.height)) for im in images]
        if opts.qwen_image_processor == "fast":
            return _fast_class_pixels(images, opts)
        qwen = _pil_class(
            opts.min_pixels, opts.max_pixels, opts.patch_size, opts.temporal_patch_size, opts.merge_size,
            tuple(opts.image_mean), tuple(opts.image_std), opts.do_rescale, float(opts.rescale_factor),
            opts.do_normalize,
        )  # fmt: skip
        out = qwen(images)
        return {"pixel_values": np.asarray(out["pixel_values"]), "image_grid_thw": np.asarray(out["image_grid_thw"])}

    def image_token_counts(self, features: Any, **overrides: Any) -> list[int]:
        """prod(grid_thw) / merge_size² per image: its ``<|image_pad|>`` count."""
        merge = self.resolve_options(**overrides).merge_size
        grid = features["image_grid_thw"]
        grid = np.asarray(grid.cpu() if hasattr(grid, "cpu") else grid).reshape(-1, 3)
        return [int(np.prod(g)) // merge**2 for g in grid]

    def mode_options(self, mode: str, video: bool = False, **overrides: Any) -> dict[str, Any]:
        """``inference`` (``predict_forward``): ``qwen_vl_utils``' resize first, and a video's frames are
        images with the single-image limits; ``training`` (``base.py``): the stock processor alone, a
        video's frames with the frame limits."""
        if mode == "inference":
            return {"qwen_vl_utils_resize": True}
        if not video:
            return {"qwen_vl_utils_resize": False}
        opts = self.resolve_options(**overrides)
        return {"qwen_vl_utils_resize": False, "min_pixels": opts.frame_min_pixels, "max_pixels": opts.frame_max_pixels}

    def grid_thw(self, width: int, height: int, **overrides: Any) -> list[int]:
        """The ``image_grid_thw`` row of a ``width`` x ``height`` image, from the resize rules alone
        (:func:`qwen_vl_utils_smart_resize` first where ``qwen_vl_utils_resize``, then
        :func:`smart_resize`): no pixel is read."""
        opts = self.resolve_options(**overrides)
        _check_aspect(width, height, "the image")
        if opts.qwen_vl_utils_resize:
            width, height = qwen_vl_utils_smart_resize(width, height)
        factor = opts.patch_size * opts.merge_size
        h, w = smart_resize(height, width, factor, opts.min_pixels, opts.max_pixels)
        return [1, h // opts.patch_size, w // opts.patch_size]

    def image_token_count(self, width: int, height: int, **overrides: Any) -> int:
        """The ``<|image_pad|>`` count of a ``width`` x ``height`` image: prod(grid_thw) / merge_size²."""
        merge = self.resolve_options(**overrides).merge_size
        return int(np.prod(self.grid_thw(width, height, **overrides))) // merge**2


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(height, width) the Qwen image processor resizes to: transformers' ``smart_resize`` (4.57 and 5.x
    alike): each side rounded to a multiple of ``factor``; above ``max_pixels`` both scaled down (floored,
    at least ``factor``), below ``min_pixels`` up (ceiled)."""
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def qwen_vl_utils_smart_resize(width: int, height: int) -> tuple[int, int]:
    """(width, height) ``qwen_vl_utils.fetch_image`` resizes an image to, as ``predict_forward`` calls it
    (factor 28, 4·28² .. 16384·28² pixels). Its rule differs from :func:`smart_resize` at the edges: a
    side rounds to at least one factor before the bounds are checked, and the scaled-down sides are not."""
    factor = QWEN_VL_UTILS_FACTOR
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > QWEN_VL_UTILS_MAX_PIXELS:
        beta = math.sqrt((height * width) / QWEN_VL_UTILS_MAX_PIXELS)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < QWEN_VL_UTILS_MIN_PIXELS:
        beta = math.sqrt(QWEN_VL_UTILS_MIN_PIXELS / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def _check_aspect(width: int, height: int, what: str) -> None:
    # smart_resize raises a ValueError naming nothing; and a 0-pixel side would divide by zero
    if min(width, height) < 1 or max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ShapeMismatchError(
            f"{what} is {width}x{height} (W x H): the Qwen-VL resize needs an aspect ratio of at most "
            f"{MAX_ASPECT_RATIO}"
        )


def _fast_class_pixels(images: list[Image.Image], opts: SimpleNamespace) -> dict[str, np.ndarray]:
    """What transformers 4.57's ``Qwen2VLImageProcessorFast`` returns for these RGB images (module docstring).

    The rescale-normalize is elementwise, its result a function of the uint8 value and the channel alone,
    so it is worked out once per (channel, value) with the class's own torch operations
    (:func:`_rescale_and_normalize`) and looked up after the uint8 pixels are laid out as patches: the same
    float32 bits, without a float pass over the image and a float copy through ten axes.
    """
    table = _value_table(opts)
    patches, grids = [], []
    for image in images:
        source = torch_source(image, _NEEDS_TORCH)  # (1, 3, H, W) uint8, as torchvision's pil_to_tensor
        factor = opts.patch_size * opts.merge_size
        height, width = smart_resize(image.height, image.width, factor, opts.min_pixels, opts.max_pixels)
        if (height, width) != (image.height, image.width):  # torchvision returns the image as it is otherwise
            source = _torch().nn.functional.interpolate(
                source, size=[height, width], mode="bicubic", align_corners=False, antialias=True
            )
        flat, grid = _flat_patches(source[0].numpy(), table, opts)
        patches.append(flat)
        grids.append(grid)
    pixel_values = patches[0] if len(patches) == 1 else np.concatenate(patches)
    return {"pixel_values": pixel_values, "image_grid_thw": np.asarray(grids, dtype=np.int64)}


def _rescale_and_normalize(images: Any, opts: SimpleNamespace) -> Any:
    """transformers' ``rescale_and_normalize`` of its fast image processors: with both steps on, one
    normalization by mean and std divided by ``rescale_factor`` (float32 tensors, so the quotients are
    rounded to float32 first), then torchvision's ``normalize`` (subtract, then divide)."""
    torch = _torch()
    mean, std = opts.image_mean, opts.image_std
    if opts.do_rescale and opts.do_normalize:
        mean = torch.tensor(mean) * (1.0 / opts.rescale_factor)
        std = torch.tensor(std) * (1.0 / opts.rescale_factor)
    if opts.do_normalize:
        mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
        return images.to(dtype=torch.float32).sub(mean).div_(std)
    if opts.do_rescale:
        return images * opts.rescale_factor
    return images


def _value_table(opts: SimpleNamespace) -> np.ndarray:
    """(3, 256): what :func:`_rescale_and_normalize` makes of each uint8 value in each channel."""
    torch = _torch()
    values = torch.arange(256, dtype=torch.uint8).repeat(3, 1, 1).unsqueeze(0)  # (1, 3, 1, 256)
    return _rescale_and_normalize(values, opts)[0, :, 0].numpy()


def _flat_patches(image: np.ndarray, table: np.ndarray, opts: SimpleNamespace) -> tuple[np.ndarray, list[int]]:
    """A (3, H, W) uint8 image as Qwen's flat patches (grid_h * grid_w, 3 * T * p * p) and its grid row, in
    transformers' order: merge blocks of merge x merge patches, each patch's channels, its T temporal copies
    (an image repeated to ``temporal_patch_size`` frames), its p x p pixels; values from ``table``."""
    patch, merge, temporal = opts.patch_size, opts.merge_size, opts.temporal_patch_size
    channels, height, width = image.shape
    grid_h, grid_w = height // patch, width // patch
    blocks = image.reshape(channels, grid_h // merge, merge, patch, grid_w // merge, merge, patch)
    blocks = blocks.transpose(1, 4, 2, 5, 0, 3, 6).reshape(grid_h * grid_w, channels, patch * patch)
    values = table[np.arange(channels)[:, None], blocks]  # (rows, channels, p * p)
    flat = np.empty((grid_h * grid_w, channels, temporal, patch * patch), dtype=table.dtype)
    flat[:] = values[:, :, None, :]
    return flat.reshape(grid_h * grid_w, -1), [1, grid_h, grid_w]


@functools.lru_cache(maxsize=8)
def _pil_class(
    min_pixels: int,
    max_pixels: int,
    patch_size: int,
    temporal_patch_size: int,
    merge_size: int,
    image_mean: tuple[float, ...],
    image_std: tuple[float, ...],
    do_rescale: bool,
    rescale_factor: float,
    do_normalize: bool,
):
    """transformers' PIL Qwen image processor with these settings (one per setting)."""
    try:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
    except ImportError:
        raise ImportError(
            "qwen_image_processor='pil' needs transformers' Qwen2VLImageProcessorPil (the PIL backend of the Qwen image "
            "processor); upgrade transformers"
        ) from None
    return Qwen2VLImageProcessorPil(
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
        patch_size=patch_size,
        temporal_patch_size=temporal_patch_size,
        merge_size=merge_size,
        image_mean=list(image_mean),
        image_std=list(image_std),
        do_rescale=do_rescale,
        rescale_factor=rescale_factor,
        do_normalize=do_normalize,
        do_convert_rgb=False,  # images arrive as RGB (inputs.to_rgb_image)
    )


__all__ = [
    "FRAME_MAX_PIXELS",
    "FRAME_MIN_PIXELS",
    "IMAGE_MAX_PIXELS",
    "IMAGE_MIN_PIXELS",
    "QWEN3_VL_OPTIONS",
    "QWEN_IMAGE_PROCESSORS",
    "Sa2VAQwen2VLImageProcessor",
    "Sa2VAQwen2VLImageProcessorKwargs",
    "qwen_vl_utils_smart_resize",
    "smart_resize",
]
