"""Sa2VAQwen2VLImageProcessor: transformers' Qwen image processor with Sa2VA's limits, bit for bit.

Upstream (``datasets/base.py``, ``arch_type='qwen'``) calls the stock Qwen-VL image processor with
``min_pixels`` / ``max_pixels`` = 512·28² / 2048·28² (one image) or 128·28² / 512·28² (a video frame);
the grids below are worked out from Qwen's published resize rule, written out in ``ref_grid``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

import sa2va_hf  # noqa: F401 - registers the image processors
from sa2va_hf import Sa2VAError, Sa2VAQwen2VLImageProcessor, ShapeMismatchError
from sa2va_hf.image_processing_sa2va_qwen2_vl import FRAME_MAX_PIXELS, FRAME_MIN_PIXELS, QWEN3_VL_OPTIONS

from .. import reference as ref

SINGLE = {"shortest_edge": 512 * 28 * 28, "longest_edge": 2048 * 28 * 28}
FRAME = {"shortest_edge": 128 * 28 * 28, "longest_edge": 512 * 28 * 28}
QWEN3 = {"patch_size": 16, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}


def noise_image(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def ref_grid(w: int, h: int, patch: int = 14, merge: int = 2, min_pixels=512 * 28 * 28, max_pixels=2048 * 28 * 28):
    """Qwen's smart_resize (sides to multiples of patch*merge, pixels within the limits) -> (1, h/p, w/p)."""
    factor = patch * merge
    hb, wb = round(h / factor) * factor, round(w / factor) * factor
    if hb * wb > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        hb, wb = (
            max(factor, math.floor(h / beta / factor) * factor),
            max(factor, math.floor(w / beta / factor) * factor),
        )
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return [1, hb // patch, wb // patch]


SIZES = [(260, 120), (640, 480), (1920, 1080), (28, 28), (1, 1), (3000, 17), (1023, 769)]


@pytest.mark.parametrize("w,h", SIZES)
@pytest.mark.parametrize("family_options,transformers_options", [({}, {}), (QWEN3_VL_OPTIONS, QWEN3)])
def test_equals_transformers_qwen_processor_with_sa2va_limits(w, h, family_options, transformers_options):
    image = noise_image(w, h)
    ours = Sa2VAQwen2VLImageProcessor(**family_options)(image)
    theirs = Qwen2VLImageProcessorPil(**transformers_options)(images=[image], size=SINGLE)
    assert ours["pixel_values"].dtype == np.float32
    np.testing.assert_array_equal(ours["pixel_values"], theirs["pixel_values"])
    np.testing.assert_array_equal(ours["image_grid_thw"], theirs["image_grid_thw"])
    patch = family_options.get("patch_size", 14)
    assert ours["image_grid_thw"].tolist() == [ref_grid(w, h, patch)]
    assert ours["pixel_values"].shape == (np.prod(ours["image_grid_thw"]), 3 * 2 * patch * patch)


def test_frame_limits_equal_transformers_too():
    image = noise_image(1280, 720, seed=1)
    ip = Sa2VAQwen2VLImageProcessor(**QWEN3_VL_OPTIONS)
    ours = ip(image, min_pixels=FRAME_MIN_PIXELS, max_pixels=FRAME_MAX_PIXELS)
    theirs = Qwen2VLImageProcessorPil(**QWEN3)(images=[image], size=FRAME)
    np.testing.assert_array_equal(ours["pixel_values"], theirs["pixel_values"])
    frame = ref_grid(1280, 720, 16, min_pixels=FRAME_MIN_PIXELS, max_pixels=FRAME_MAX_PIXELS)
    assert ours["image_grid_thw"].tolist() == [frame] == [[1, 28, 52]]
    assert ip.image_token_counts(ours) == [364]


def test_token_counts_pinned():
    """prod(grid_thw) / merge²: the <|image_pad|> count of each image."""
    images = [noise_image(260, 120), noise_image(640, 480, 1)]
    qwen25 = Sa2VAQwen2VLImageProcessor()
    out = qwen25(images)
    assert out["image_grid_thw"].tolist() == [[1, 32, 68], [1, 40, 54]]
    assert qwen25.image_token_counts(out) == [544, 540]
    assert out["pixel_values"].shape == (32 * 68 + 40 * 54, 1176)
    qwen3 = Sa2VAQwen2VLImageProcessor(**QWEN3_VL_OPTIONS)
    out3 = qwen3(images)
    assert out3["image_grid_thw"].tolist() == [[1, 28, 60], [1, 36, 46]]
    assert qwen3.image_token_counts(out3) == [420, 414]
    assert out3["pixel_values"].shape == (28 * 60 + 36 * 46, 1536)
    assert qwen3.image_token_counts(qwen3(images, return_tensors="pt")) == [420, 414]


def test_grounding_masks_and_tensors():
    image = noise_image(300, 200, seed=2)
    out = Sa2VAQwen2VLImageProcessor()(image, masks=[np.eye(200, 300, dtype=np.uint8)], return_tensors="pt")
    assert isinstance(out["pixel_values"], torch.Tensor) and out["image_grid_thw"].dtype == torch.int64
    np.testing.assert_array_equal(out["g_pixel_values"][0].numpy(), ref.ref_g_pixel_values(image))
    assert [m.shape for m in out["masks"]] == [(1, 200, 300)]
    sam3 = Sa2VAQwen2VLImageProcessor(grounding_size=1008)(image)["g_pixel_values"]
    assert sam3.shape == (1, 3, 1008, 1008) and sam3.dtype == np.uint8
    np.testing.assert_array_equal(sam3[0], ref.ref_g_pixel_values(image, 1008))
    assert "g_pixel_values" not in Sa2VAQwen2VLImageProcessor(return_grounding=False)(image)


def test_save_and_load(tmp_path):
    ip = Sa2VAQwen2VLImageProcessor(**QWEN3_VL_OPTIONS, grounding_size=1008)
    ip.save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is Sa2VAQwen2VLImageProcessor
    assert (loaded.patch_size, loaded.image_mean, loaded.grounding_size) == (16, [0.5] * 3, 1008)
    assert (loaded.min_pixels, loaded.max_pixels) == (512 * 28 * 28, 2048 * 28 * 28)
    image = noise_image(90, 60)
    np.testing.assert_array_equal(loaded(image)["pixel_values"], ip(image)["pixel_values"])


def test_bad_input_and_options_are_refused():
    ip = Sa2VAQwen2VLImageProcessor()
    image = noise_image(40, 30)
    with pytest.raises(Sa2VAError, match="Qwen-VL Sa2VA checkpoints take no visual prompts"):
        ip(image, visual_prompts=[np.ones((30, 40), np.uint8)])
    with pytest.raises(Sa2VAError, match="does not take size=: set min_pixels / max_pixels"):
        ip(image, size=SINGLE)
    with pytest.raises(Sa2VAError, match="did you mean 'max_pixels'"):
        ip(image, max_pixel=100)
    with pytest.raises(Sa2VAError, match="need min_pixels <= max_pixels"):
        ip(image, min_pixels=10_000, max_pixels=100)
    with pytest.raises(Sa2VAError, match="max_pixels must be an int"):
        Sa2VAQwen2VLImageProcessor(max_pixels=10**12)
    with pytest.raises(Sa2VAError, match="merge_size must be an int"):
        ip(image, merge_size=0)
    with pytest.raises(ShapeMismatchError, match=r"image 1 is 201x1 .* aspect ratio of at most 200"):
        ip([image, noise_image(201, 1)])
