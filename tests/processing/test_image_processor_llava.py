"""Sa2VALlavaImageProcessor against upstream's LLaVA recipe (``datasets/base.py``, ``arch_type='llava'``),
written out here: PIL resize to 336x336 BICUBIC -> ToTensor -> Normalize (OpenAI CLIP by default)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoImageProcessor

import sa2va_hf  # noqa: F401 - registers the image processors
from sa2va_hf import Sa2VAError, Sa2VALlavaImageProcessor, ShapeMismatchError

from .. import reference as ref

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def noise_image(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def base_py_recipe(image: Image.Image, mean=CLIP_MEAN, std=CLIP_STD) -> np.ndarray:
    """T.Resize((336, 336), BICUBIC) on a PIL image (PIL's resize), T.ToTensor(), T.Normalize(mean, std)."""
    resized = ref.ref_resize(image, (336, 336))
    x = torch.from_numpy(np.array(resized)).permute(2, 0, 1).contiguous().to(torch.float32).div(255)  # ToTensor
    m = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)
    return x.sub(m).div(s).numpy()  # Normalize


@pytest.mark.parametrize("w,h", [(336, 336), (640, 480), (20, 30), (2000, 3), (1, 1)])
def test_pixel_values_are_the_base_py_recipe_bit_for_bit(w, h):
    image = noise_image(w, h)
    out = Sa2VALlavaImageProcessor()(image)
    assert out["pixel_values"].shape == (1, 3, 336, 336) and out["pixel_values"].dtype == np.float32
    np.testing.assert_array_equal(out["pixel_values"][0], base_py_recipe(image))


def test_imagenet_mean_std_gives_base_py_fallback_transform():
    """base.py's generic transform (no preprocessor) normalizes with ImageNet; the option selects it."""
    image = noise_image(500, 300, seed=1)
    out = Sa2VALlavaImageProcessor(image_mean=list(ref.MEAN), image_std=list(ref.STD))(image)["pixel_values"][0]
    np.testing.assert_array_equal(out, base_py_recipe(image, ref.MEAN, ref.STD))
    assert not np.array_equal(out, Sa2VALlavaImageProcessor()(image)["pixel_values"][0])


def test_576_tokens_per_image_and_batch_layout():
    ip = Sa2VALlavaImageProcessor()
    images = [noise_image(100, 80, 1), noise_image(30, 300, 2), noise_image(336, 336, 3)]
    out = ip(images, masks=[np.ones((2, 80, 100), np.uint8), None, [np.zeros((336, 336), np.uint8)]])
    assert out["pixel_values"].shape == (3, 3, 336, 336)
    assert out["g_pixel_values"].shape == (3, 3, 1024, 1024) and out["g_pixel_values"].dtype == np.uint8
    np.testing.assert_array_equal(out["g_pixel_values"][1], ref.ref_g_pixel_values(images[1]))
    assert [m.shape for m in out["masks"]] == [(2, 80, 100), (0, 300, 30), (1, 336, 336)]
    assert ip.image_token_counts(out) == [576, 576, 576] and ip.tokens_per_image == 576
    assert ip.image_token_counts(out, image_size=224) == [256] * 3
    for i, image in enumerate(images):
        np.testing.assert_array_equal(out["pixel_values"][i], base_py_recipe(image))


def test_any_layout_and_return_tensors(tmp_path):
    image = noise_image(64, 48, seed=4)
    image.save(tmp_path / "x.png")
    arr = np.array(image)
    ip = Sa2VALlavaImageProcessor()
    want = ip(image)["pixel_values"]
    for other in (arr, torch.from_numpy(arr).permute(2, 0, 1), str(tmp_path / "x.png")):
        np.testing.assert_array_equal(ip(other)["pixel_values"], want)
    pt = ip(image, return_tensors="pt")
    assert isinstance(pt["pixel_values"], torch.Tensor) and pt["g_pixel_values"].dtype == torch.uint8


def test_sam3_grounding_1008():
    image = noise_image(300, 200, seed=5)
    out = Sa2VALlavaImageProcessor(grounding_size=1008)(image)
    np.testing.assert_array_equal(out["g_pixel_values"][0], ref.ref_g_pixel_values(image, 1008))
    normalized = Sa2VALlavaImageProcessor(grounding_size=1008, normalize_grounding=True)(image)["g_pixel_values"][0]
    np.testing.assert_array_equal(normalized, ref.ref_normalize(ref.ref_resize(image, (1008, 1008))))


def test_save_and_load(tmp_path):
    ip = Sa2VALlavaImageProcessor(grounding_size=1008, image_mean=0.5, image_std=[0.25, 0.5, 1.0])
    ip.save_pretrained(tmp_path)
    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is Sa2VALlavaImageProcessor
    assert (loaded.grounding_size, loaded.image_mean, loaded.image_std) == (1008, [0.5] * 3, [0.25, 0.5, 1.0])
    image = noise_image(50, 70)
    np.testing.assert_array_equal(loaded(image)["pixel_values"], ip(image)["pixel_values"])


def test_bad_input_and_options_are_refused():
    ip = Sa2VALlavaImageProcessor()
    image = noise_image(40, 30)
    with pytest.raises(Sa2VAError, match="LLaVA Sa2VA checkpoints take no visual prompts"):
        ip(image, visual_prompts=[np.ones((30, 40), np.uint8)])
    with pytest.raises(Sa2VAError, match="does not take size=: set image_size"):
        ip(image, size={"height": 336, "width": 336})
    with pytest.raises(Sa2VAError, match="did you mean 'image_size'"):
        ip(image, image_sizes=224)
    with pytest.raises(Sa2VAError, match="resample"):
        Sa2VALlavaImageProcessor(resample=Image.Resampling.NEAREST)
    with pytest.raises(Sa2VAError, match="do_center_crop"):
        ip(image, do_center_crop=True)
    with pytest.raises(Sa2VAError, match="image_size must be an int"):
        ip(image, image_size=0)
    with pytest.raises(Sa2VAError, match="grounding_std must not hold 0"):
        ip(image, grounding_std=[0.2, 0, 0.2])
    with pytest.raises(ShapeMismatchError, match=r"masks of image 0: mask shape \(1, 10, 10\)"):
        ip(image, masks=np.ones((1, 10, 10), np.uint8))
