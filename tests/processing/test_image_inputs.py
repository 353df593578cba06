"""Sa2VAImageProcessor as transformers' image-processor conventions expect it: every image layout,
every stored option honoured or refused, hostile sizes refused clearly.

The oracle is tests/reference.py applied to ``PIL.Image.convert("RGB")`` of the same pixels (what
upstream does to every image), so parity with upstream holds for every layout.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sa2va_hf import Sa2VAError, Sa2VAImageProcessor, ShapeMismatchError, masks

from .. import reference as ref

RNG = np.random.default_rng(7)
HWC = RNG.integers(0, 256, (30, 50, 3), dtype=np.uint8)  # 3x2 tiles + thumbnail
RGB = Image.fromarray(HWC)


def pixels(image, **kwargs):
    return Sa2VAImageProcessor(return_grounding=False)(image, **kwargs)["pixel_values"]


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(
    "make, kwargs",
    [
        (lambda: HWC, {}),
        (lambda: np.ascontiguousarray(HWC.transpose(2, 0, 1)), {}),  # CHW numpy
        (lambda: torch.from_numpy(HWC).permute(2, 0, 1), {}),  # CHW tensor (torchvision's layout)
        (lambda: torch.from_numpy(HWC), {"input_data_format": "channels_last"}),
        (lambda: np.ascontiguousarray(HWC.transpose(2, 0, 1)), {"input_data_format": "channels_first"}),
    ],
    ids=["numpy-HWC", "numpy-CHW", "torch-CHW", "torch-HWC-declared", "numpy-CHW-declared"],
)
def test_layouts_give_the_pil_pixels(make, kwargs):
    assert np.array_equal(pixels(make(), **kwargs), ref.ref_pixel_values(RGB))


@pytest.mark.parametrize("channels, mode", [(1, "L"), (4, "RGBA")])
@pytest.mark.parametrize("channels_first", [False, True])
def test_one_and_four_channels_convert_like_pil(channels, mode, channels_first):
    arr = RNG.integers(0, 256, (30, 50, channels), dtype=np.uint8)
    upstream = Image.fromarray(arr[..., 0] if channels == 1 else arr, mode=mode).convert("RGB")
    given = np.ascontiguousarray(arr.transpose(2, 0, 1)) if channels_first else arr
    assert np.array_equal(pixels(given), ref.ref_pixel_values(upstream))


def test_float_and_wide_integer_arrays_follow_transformers_to_pil_image():
    """Floats in [0, 1] are scaled by 255 and truncated, whole numbers taken as they are, as
    transformers' ``to_pil_image`` does before a PIL processor sees them; both then equal the PIL path."""
    from transformers.image_transforms import to_pil_image

    unit = HWC.astype(np.float32) / 255
    nearly_whole = HWC + np.where(
        (HWC > 10) & (HWC < 255), 0.000001, 0.0
    )  # np.allclose calls it whole: truncated, not refused
    for given in (unit, torch.from_numpy(unit).permute(2, 0, 1), HWC.astype(np.float64), HWC.astype(np.int32),
                  nearly_whole):  # fmt: skip
        expected = to_pil_image(given.numpy() if isinstance(given, torch.Tensor) else given, input_data_format=None)
        assert np.array_equal(pixels(given), ref.ref_pixel_values(expected))


@pytest.mark.parametrize(
    "bad, match",
    [
        (HWC.astype(np.float32) / 255 * 1.5, r"float image array must be within \[0, 1\]"),
        (HWC.astype(np.int32) - 1, "integer image array must be within 0..255"),
        (np.full((30, 50, 3), np.nan, np.float32), "NaN or infinite"),
        (HWC > 100, "must be uint8 .* got dtype bool"),
    ],
)
def test_arrays_pil_cannot_store_are_refused(bad, match):
    with pytest.raises(ShapeMismatchError, match=match):
        pixels(bad)


def test_ambiguous_shape_reads_numpy_as_hwc_and_torch_as_chw():
    arr = RNG.integers(0, 256, (3, 40, 4), dtype=np.uint8)  # HWC with 4 channels, or CHW with 3
    as_hwc = Image.fromarray(arr, mode="RGBA").convert("RGB")
    as_chw = Image.fromarray(np.ascontiguousarray(arr.transpose(1, 2, 0)))
    assert np.array_equal(pixels(arr), ref.ref_pixel_values(as_hwc))
    assert np.array_equal(pixels(torch.from_numpy(arr)), ref.ref_pixel_values(as_chw))
    assert np.array_equal(pixels(arr, input_data_format="channels_first"), ref.ref_pixel_values(as_chw))


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "PA", "CMYK", "1", "I;16", "YCbCr"])
def test_pil_modes_convert_like_upstream(mode):
    image = RGB.convert(mode) if mode not in ("I;16",) else Image.fromarray(HWC[..., 0].astype(np.uint16) * 200)
    assert np.array_equal(pixels(image), ref.ref_pixel_values(image.convert("RGB")))


def test_do_convert_rgb_false_refuses_what_is_not_rgb():
    assert np.array_equal(pixels(RGB, do_convert_rgb=False), ref.ref_pixel_values(RGB))
    with pytest.raises(Sa2VAError, match="'L' image and do_convert_rgb=False"):
        pixels(RGB.convert("L"), do_convert_rgb=False)
    with pytest.raises(Sa2VAError, match="'RGBA' image and do_convert_rgb=False"):
        Sa2VAImageProcessor(do_convert_rgb=False)(np.zeros((8, 8, 4), np.uint8))


def test_batches_nested_lists_and_4d_arrays():
    images = [RGB, Image.fromarray(HWC[:, :20])]
    flat = Sa2VAImageProcessor()(images)
    nested = Sa2VAImageProcessor()([[images[0]], [images[1]]])  # one list per sample, as apply_chat_template gives
    assert np.array_equal(nested["pixel_values"], flat["pixel_values"])
    batch = Sa2VAImageProcessor()(np.stack([HWC, HWC]))
    assert batch["num_patches"].tolist() == [7, 7]
    assert np.array_equal(batch["pixel_values"][:7], flat["pixel_values"][:7])
    vp = np.zeros((2, 1, 30, 50), np.uint8)
    vp[:, :, :, :25] = 1
    assert Sa2VAImageProcessor()(np.stack([HWC, HWC]), visual_prompts=list(vp))["region_pixels"] == [[128], [128]]


# --------------------------------------------------------------------------- options honoured


def test_rescale_and_normalize_options_are_honoured():
    x = ref.ref_pixel_values(RGB)  # default: x/255, then ImageNet mean/std
    to_tensor = np.stack([np.asarray(t, np.float32).transpose(2, 0, 1) / np.float32(255) for t in ref.ref_tiles(RGB)])
    raw = np.stack([np.asarray(t, np.float32).transpose(2, 0, 1) for t in ref.ref_tiles(RGB)])
    assert np.array_equal(pixels(RGB), x)
    assert np.array_equal(pixels(RGB, do_normalize=False), to_tensor)
    assert np.array_equal(pixels(RGB, image_mean=0, image_std=1), to_tensor)
    assert np.array_equal(pixels(RGB, do_rescale=False, do_normalize=False), raw)
    assert pixels(RGB, rescale_factor=-1, do_normalize=False).max() <= 0  # the convention transformers tests use
    assert np.array_equal(
        Sa2VAImageProcessor(do_normalize=False, return_grounding=False)(RGB)["pixel_values"], to_tensor
    )


def test_grounding_keeps_sam2_normalization_whatever_the_tile_options():
    out = Sa2VAImageProcessor(normalize_grounding=True, image_mean=0.5, image_std=0.5, do_normalize=False)(RGB)
    assert np.array_equal(out["g_pixel_values"][0], ref.ref_normalize(ref.ref_resize(RGB, (1024, 1024))))


def test_options_round_trip_and_are_used_after_loading(tmp_path):
    ip = Sa2VAImageProcessor(do_normalize=False, do_convert_rgb=False, input_data_format="channels_first")
    ip.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert (saved["do_normalize"], saved["do_convert_rgb"], saved["input_data_format"]) == (
        False,
        False,
        "channels_first",
    )
    loaded = Sa2VAImageProcessor.from_pretrained(tmp_path)
    chw = np.ascontiguousarray(HWC.transpose(2, 0, 1))
    assert np.array_equal(loaded(chw)["pixel_values"], ip(chw)["pixel_values"])
    assert loaded(chw)["pixel_values"].min() >= 0  # not normalized


# --------------------------------------------------------------------------- options refused


@pytest.mark.parametrize(
    "option, match",
    [
        ({"size": {"height": 224, "width": 224}}, "size=.*image_size"),
        ({"do_resize": False}, "always resizes"),
        ({"resample": Image.Resampling.NEAREST}, "BICUBIC"),
        ({"crop_size": 224}, "does not crop"),
        ({"do_center_crop": True}, "does not crop"),
        ({"do_pad": True}, "does not pad"),
        ({"data_format": "channels_last"}, "channels-first"),
        ({"device": "cuda"}, "CPU"),
        ({"image_seq_length": 576}, "256 tokens per tile"),
        ({"max_tile": 3}, "did you mean 'max_tiles'"),
        ({"input_data_format": "HWC"}, "input_data_format"),
        ({"image_mean": [0.5, 0.5]}, "image_mean must be"),
        ({"image_std": 0}, "must not hold 0"),
        ({"do_normalize": "yes"}, "do_normalize must be True or False"),
    ],
)
def test_options_that_would_be_ignored_are_refused_at_init_and_per_call(option, match):
    with pytest.raises(Sa2VAError, match=match):
        Sa2VAImageProcessor(**option)
    with pytest.raises(Sa2VAError, match=match):
        Sa2VAImageProcessor()(RGB, **option)


def test_values_that_mean_what_sa2va_does_are_accepted():
    ip = Sa2VAImageProcessor(
        do_resize=True, resample=Image.Resampling.BICUBIC, data_format="channels_first", device="cpu"
    )
    assert np.array_equal(ip(RGB, image_seq_length=256)["pixel_values"], Sa2VAImageProcessor()(RGB)["pixel_values"])
    assert "do_resize" not in ip.to_dict() and "resample" not in ip.to_dict()


# --------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "image, match",
    [
        (Image.new("RGB", (0, 0)), "0x0 pixels"),
        (Image.new("RGB", (5, 0)), "5x0 pixels"),
        (np.zeros((0, 5, 3), np.uint8), "5x0 pixels"),
        (np.zeros((4, 0), np.uint8), "0x4 pixels"),
        (Image.new("La", (4, 3)), "'La'"),
        (np.full((4, 5, 3), 2.5, np.float32), r"within \[0, 1\]"),
        (np.zeros((2, 4, 5, 3, 1), np.uint8), r"\(H, W\)"),
        ([], "empty list"),
        ([[], []], "holds no image"),
        (np.zeros((0, 4, 5, 3), np.uint8), "empty batch"),
        ([RGB, [RGB]], "mixes"),
    ],
)
def test_degenerate_images_are_clear_errors(image, match):
    with pytest.raises(Sa2VAError, match=match):
        Sa2VAImageProcessor()(image)


@pytest.mark.parametrize("bad", [-1, 0, 2**70, "abc", 1.5, True, None])
@pytest.mark.parametrize("name", ["image_size", "grounding_size", "max_tiles", "patch_size", "num_threads"])
def test_hostile_sizes_are_refused(name, bad):
    if name == "num_threads" and bad is None:  # the default: the cores the call is given
        assert Sa2VAImageProcessor(num_threads=None).num_threads is None
        return
    with pytest.raises(Sa2VAError, match=name):
        Sa2VAImageProcessor(**{name: bad})


@pytest.mark.parametrize("size", [[-1, 50], [2**70, 50], ["abc", 50], [30, -1], "abc"])
def test_hostile_mask_sizes_are_clear_errors(size):
    # either the size is malformed, or (2**70) over masks.MAX_MASK_PIXELS: both say what is wrong with it
    with pytest.raises(Sa2VAError, match=r"size|over the limit"):
        Sa2VAImageProcessor()(RGB, masks=[{"size": size, "counts": "0"}])
    with pytest.raises(Sa2VAError, match=r"size|over the limit"):
        Sa2VAImageProcessor()(RGB, visual_prompts=[{"size": size, "counts": "0"}])


def test_mask_arrays_of_the_wrong_size_name_both_shapes():
    with pytest.raises(ShapeMismatchError, match=r"\(1, 30, 49\).*\(30, 50\)"):
        Sa2VAImageProcessor()(RGB, masks=np.zeros((1, 30, 49), np.uint8))
    rle = masks.encode(np.zeros((31, 50), np.uint8))
    with pytest.raises(ShapeMismatchError, match=r"\[31, 50\].*\[30, 50\]"):
        Sa2VAImageProcessor()(RGB, visual_prompts=[rle])


# --------------------------------------------------------------------------- returned keys


def test_model_input_names_are_the_keys_returned():
    ip = Sa2VAImageProcessor(empty_region="drop")
    vp = np.zeros((1, 30, 50), np.uint8)
    vp[0, :, :25] = 1
    full = ip(RGB, visual_prompts=vp, masks=vp)
    assert set(full.keys()) == set(ip.model_input_names)
    assert set(ip(RGB).keys()) <= set(ip.model_input_names)
