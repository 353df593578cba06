"""Sa2VAQwen2VLImageProcessor: the Qwen image processor upstream's environment runs, with Sa2VA's limits.

Upstream (``datasets/base.py``, ``arch_type='qwen'``) calls the stock Qwen-VL image processor with
``min_pixels`` / ``max_pixels`` = 512·28² / 2048·28² (one image) or 128·28² / 512·28² (a video frame);
under upstream's transformers 4.57 + torchvision that is ``Qwen2VLImageProcessorFast``. Its rules are
written out here (``ref_grid``, ``ref_fast_pixels``): the resize rule, torchvision's resize of a uint8
CPU tensor (torch's antialiased bicubic on the uint8 tensor), one fused rescale-normalize in float32,
the patch layout. ``predict_forward`` first resizes with qwen_vl_utils' rule (``ref_qwen_vl_utils_size``).
``qwen_image_processor="pil"`` is transformers' PIL class, compared with that class.
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
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


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


def ref_qwen_vl_utils_size(w: int, h: int) -> tuple[int, int]:
    """qwen_vl_utils 0.0.14's fetch_image as predict_forward calls it: factor 28, pixels within 4·28²..16384·28²,
    each side first rounded to at least 28; the scaled-down sides are floored with no lower bound."""
    f, low, high = 28, 4 * 28 * 28, 16384 * 28 * 28
    hb, wb = max(f, round(h / f) * f), max(f, round(w / f) * f)
    if hb * wb > high:
        beta = math.sqrt(h * w / high)
        hb, wb = math.floor(h / beta / f) * f, math.floor(w / beta / f) * f
    elif hb * wb < low:
        beta = math.sqrt(low / (h * w))
        hb, wb = math.ceil(h * beta / f) * f, math.ceil(w * beta / f) * f
    return wb, hb


def ref_fast_pixels(images, patch=14, mean=CLIP_MEAN, std=CLIP_STD, limits=SINGLE, merge=2, temporal=2):
    """transformers 4.57's Qwen2VLImageProcessorFast on these images, written out: (pixel_values, image_grid_thw).

    Resize: torchvision's resize of a uint8 CPU tensor is torch's antialiased bicubic on that uint8 tensor
    (no call when the size stays). Normalize: one step with mean and std scaled by 1 / rescale_factor, in
    float32: (x - mean·255) / (std·255). Patches: per merge block of merge x merge patches, each patch's
    channels, then its temporal copies, then its p x p pixels.
    """
    rows, grids = [], []
    m = np.asarray(mean, np.float32) * np.float32(255)
    s = np.asarray(std, np.float32) * np.float32(255)
    for image in images:
        arr = np.array(image.convert("RGB"))
        h, w = arr.shape[:2]
        grid = ref_grid(w, h, patch, merge, limits["shortest_edge"], limits["longest_edge"])
        rh, rw = grid[1] * patch, grid[2] * patch
        if (rh, rw) != (h, w):
            src = torch.from_numpy(arr).permute(2, 0, 1)[None]
            out = torch.nn.functional.interpolate(
                src, size=(rh, rw), mode="bicubic", antialias=True, align_corners=False
            )
            arr = out[0].permute(1, 2, 0).numpy()
        x = ((arr.astype(np.float32) - m) / s).transpose(2, 0, 1)  # (C, H, W) float32
        gh, gw = rh // patch, rw // patch
        x = x.reshape(3, gh // merge, merge, patch, gw // merge, merge, patch).transpose(1, 4, 2, 5, 0, 3, 6)
        x = np.repeat(x[..., None, :, :], temporal, axis=-3)  # (gh/m, gw/m, m, m, C, T, p, p)
        rows.append(x.reshape(gh * gw, 3 * temporal * patch * patch))
        grids.append(grid)
    return np.concatenate(rows), np.asarray(grids)


def ref_inference_pixels(images, **options):
    """predict_forward: qwen_vl_utils' PIL BICUBIC resize first, then the processor (ref_fast_pixels)."""
    return ref_fast_pixels([ref.ref_resize(im, ref_qwen_vl_utils_size(*im.size)) for im in images], **options)


SIZES = [(260, 120), (640, 480), (1920, 1080), (28, 28), (1, 1), (3000, 17), (1023, 769), (644, 644)]
FAMILY_OPTIONS = [({}, {}), (QWEN3_VL_OPTIONS, {"patch": 16, "mean": (0.5,) * 3, "std": (0.5,) * 3})]


@pytest.mark.parametrize("w,h", SIZES)
@pytest.mark.parametrize("family_options,ref_options", FAMILY_OPTIONS)
def test_default_is_the_fast_class_bit_for_bit(w, h, family_options, ref_options):
    image = noise_image(w, h)
    ours = Sa2VAQwen2VLImageProcessor(**family_options)(image)
    pixels, grid = ref_fast_pixels([image], **ref_options)
    assert ours["pixel_values"].dtype == np.float32 and ours["image_grid_thw"].dtype == np.int64
    np.testing.assert_array_equal(ours["pixel_values"], pixels)
    assert ours["image_grid_thw"].tolist() == grid.tolist() == [ref_grid(w, h, ref_options.get("patch", 14))]


def test_fast_class_order_of_rescale_and_normalize_and_resize_kernel_are_pinned():
    """644x644 stays 644x644 (no resize): the values are the normalization alone, fused as the fast class
    does, which differs from x/255 then (x - mean)/std in the last bits. A resized image follows torch's
    uint8 kernel, within a grey level or two of PIL's bicubic."""
    image = noise_image(644, 644, seed=3)
    out = Sa2VAQwen2VLImageProcessor()(image)["pixel_values"]
    x = np.asarray(image, np.float32)[:2, :2]  # the first patch's top-left 2x2 pixels
    fused = (x - np.float32(CLIP_MEAN) * np.float32(255)) / (np.float32(CLIP_STD) * np.float32(255))
    first_patch = out[0].reshape(3, 2, 14, 14)[:, 0, :2, :2].transpose(1, 2, 0)
    np.testing.assert_array_equal(first_patch, fused)
    pil = Sa2VAQwen2VLImageProcessor(qwen_image_processor="pil")(image)["pixel_values"]
    assert not np.array_equal(out, pil)  # the two classes differ here by the order of the steps alone
    assert np.abs(out - pil).max() < 1e-5
    big = noise_image(900, 700, seed=4)  # resized: torch's uint8 kernel, not PIL's
    diff = Sa2VAQwen2VLImageProcessor()(big)["pixel_values"] - Sa2VAQwen2VLImageProcessor(qwen_image_processor="pil")(
        big
    )["pixel_values"]  # fmt: skip
    assert 1e-5 < np.abs(diff).max() * 0.26862954 * 255 < 3  # a grey level or two


@pytest.mark.parametrize("w,h", [(260, 120), (1920, 1080), (1, 1), (3000, 17)])
@pytest.mark.parametrize("family_options,transformers_options", [({}, {}), (QWEN3_VL_OPTIONS, QWEN3)])
def test_pil_choice_equals_transformers_pil_class(w, h, family_options, transformers_options):
    image = noise_image(w, h)
    ours = Sa2VAQwen2VLImageProcessor(**family_options, qwen_image_processor="pil")(image)
    theirs = Qwen2VLImageProcessorPil(**transformers_options)(images=[image], size=SINGLE)
    np.testing.assert_array_equal(ours["pixel_values"], theirs["pixel_values"])
    np.testing.assert_array_equal(ours["image_grid_thw"], theirs["image_grid_thw"])


@pytest.mark.parametrize(
    "w,h,first,grid",
    [
        (1800, 1200, (1792, 1204), [1, 74, 110]),  # the second resize shrinks qwen_vl_utils' 1792x1204
        (260, 120, (252, 112), [1, 32, 68]),
        (1, 1, (56, 56), [1, 46, 46]),
        (2600, 13, (2604, 28), [1, 6, 438]),  # qwen_vl_utils rounds a side to at least 28 first (not 0, then up)
        (57, 2000, (56, 1988), [1, 270, 8]),
        (4000, 3000, (4004, 2996), [1, 78, 104]),
    ],
)
def test_inference_resizes_twice_as_predict_forward(w, h, first, grid):
    assert ref_qwen_vl_utils_size(w, h) == first
    image = noise_image(w, h, seed=5)
    ip = Sa2VAQwen2VLImageProcessor()
    ours = ip(image, qwen_vl_utils_resize=True)
    pixels, ref_grid_thw = ref_inference_pixels([image])
    assert ours["image_grid_thw"].tolist() == ref_grid_thw.tolist() == [grid]
    np.testing.assert_array_equal(ours["pixel_values"], pixels)
    assert ip.grid_thw(w, h, qwen_vl_utils_resize=True) == grid


def test_1800x1200_grid_differs_between_inference_and_training():
    """One resize gives 72x110 patches, predict_forward's two give 74x110: 55 more <|image_pad|>."""
    ip = Sa2VAQwen2VLImageProcessor()
    assert ip.grid_thw(1800, 1200) == [1, 72, 110] and ip.grid_thw(1800, 1200, qwen_vl_utils_resize=True) == [
        1,
        74,
        110,
    ]
    assert ip.image_token_count(1800, 1200, qwen_vl_utils_resize=True) - ip.image_token_count(1800, 1200) == 55


def test_frame_limits():
    image = noise_image(1280, 720, seed=1)
    ip = Sa2VAQwen2VLImageProcessor(**QWEN3_VL_OPTIONS)
    ours = ip(image, min_pixels=FRAME_MIN_PIXELS, max_pixels=FRAME_MAX_PIXELS)
    pixels, grid = ref_fast_pixels([image], patch=16, mean=(0.5,) * 3, std=(0.5,) * 3, limits=FRAME)
    np.testing.assert_array_equal(ours["pixel_values"], pixels)
    assert ours["image_grid_thw"].tolist() == grid.tolist() == [[1, 28, 52]]
    assert ip.image_token_counts(ours) == [364]


def test_token_counts_pinned():
    """prod(grid_thw) / merge²: the <|image_pad|> count of each image."""
    images = [noise_image(260, 120), noise_image(640, 480, 1)]
    qwen25 = Sa2VAQwen2VLImageProcessor()
    out = qwen25(images)
    assert out["image_grid_thw"].tolist() == [[1, 32, 68], [1, 40, 54]]
    assert qwen25.image_token_counts(out) == [544, 540]
    assert out["pixel_values"].shape == (32 * 68 + 40 * 54, 1176)
    np.testing.assert_array_equal(out["pixel_values"], ref_fast_pixels(images)[0])
    qwen3 = Sa2VAQwen2VLImageProcessor(**QWEN3_VL_OPTIONS)
    out3 = qwen3(images)
    assert out3["image_grid_thw"].tolist() == [[1, 28, 60], [1, 36, 46]]
    assert qwen3.image_token_counts(out3) == [420, 414]
    assert out3["pixel_values"].shape == (28 * 60 + 36 * 46, 1536)
    assert qwen3.image_token_counts(qwen3(images, return_tensors="pt")) == [420, 414]


def test_grey_and_rgba_images_are_converted_as_pil_converts_them():
    grey = Image.fromarray(np.random.default_rng(4).integers(0, 256, (70, 90), dtype=np.uint8))
    rgba = Image.fromarray(np.random.default_rng(5).integers(0, 256, (70, 90, 4), dtype=np.uint8))
    ip = Sa2VAQwen2VLImageProcessor()
    for image in (grey, rgba):
        np.testing.assert_array_equal(ip(image)["pixel_values"], ref_fast_pixels([image.convert("RGB")])[0])


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
    ip = Sa2VAQwen2VLImageProcessor(**QWEN3_VL_OPTIONS, grounding_size=1008, qwen_image_processor="pil")
    ip.save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is Sa2VAQwen2VLImageProcessor
    assert (loaded.patch_size, loaded.image_mean, loaded.grounding_size) == (16, [0.5] * 3, 1008)
    assert (loaded.min_pixels, loaded.max_pixels, loaded.qwen_image_processor) == (512 * 28 * 28, 2048 * 28 * 28, "pil")
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
    with pytest.raises(Sa2VAError, match=r"qwen_image_processor must be one of \('fast', 'pil'\)"):
        ip(image, qwen_image_processor="torchvision")
    with pytest.raises(Sa2VAError, match="qwen_vl_utils_resize must be True or False"):
        ip(image, qwen_vl_utils_resize="yes")
    with pytest.raises(ShapeMismatchError, match=r"image 1 is 201x1 .* aspect ratio of at most 200"):
        ip([image, noise_image(201, 1)])
