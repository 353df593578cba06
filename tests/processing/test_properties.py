"""Properties over random sizes and masks (hypothesis, fixed examples): the prompt grid equals torch's own
operators, and every sample holds exactly 256·T + Σ region cells <IMG_CONTEXT> tokens."""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sa2va_hf import Sa2VAImageProcessor, Sa2VAProcessor
from sa2va_hf.prompt_grid import masks_to_grid

from ..tokenizer_utils import make_tokenizer

PROPERTY = settings(max_examples=60, deadline=None, database=None, derandomize=True)


@st.composite
def masks(draw, max_side=300):
    h = draw(st.integers(1, max_side))
    w = draw(st.integers(1, max_side))
    n = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    out = np.zeros((n, h, w), np.uint8)
    for k in range(n):  # a few rectangles, sometimes a single pixel: small regions are the interesting case
        for _ in range(int(rng.integers(1, 4))):
            y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
            y1, x1 = int(rng.integers(y0, h)) + 1, int(rng.integers(x0, w)) + 1
            out[k, y0:y1, x0:x1] = 1
    return out


@PROPERTY
@given(masks())
def test_nearest_grid_is_torch_legacy_nearest(stack):
    expected = F.interpolate(torch.from_numpy(stack).float()[:, None], size=(16, 16), mode="nearest")[:, 0]
    np.testing.assert_array_equal(masks_to_grid(stack, 16, "nearest"), expected.numpy().astype(np.uint8))


@PROPERTY
@given(masks())
def test_pool_grid_is_the_block_mean_over_half(stack):
    at_448 = F.interpolate(torch.from_numpy(stack).float()[:, None], size=(448, 448), mode="nearest")
    expected = F.adaptive_avg_pool2d(at_448, (16, 16))[:, 0] > 0.5
    np.testing.assert_array_equal(masks_to_grid(stack, 16, "pool", 448), expected.numpy().astype(np.uint8))


PROCESSOR = Sa2VAProcessor(
    Sa2VAImageProcessor(empty_region="keep", max_tiles=6), make_tokenizer("qwen"), template="qwen"
)
CONTEXT = PROCESSOR.tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")


@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(masks(max_side=900), st.sampled_from(["nearest", "pool"]), st.sampled_from(["<image>\nQ?", "A <image>Q"]))
def test_context_tokens_are_256_per_tile_plus_each_regions_cells(stack, mode, text):
    _, h, w = stack.shape
    image = Image.fromarray(np.full((h, w, 3), 127, np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'keep' warns about regions on 0 cells
        out = PROCESSOR(images=image, text=text, visual_prompts=stack, prompt_mask_mode=mode)
    (tiles,) = out["num_patches"].tolist()
    cells = [int(c) for c in out["region_pixels"][0]]
    assert cells == masks_to_grid(stack, 16, mode).sum(axis=(1, 2)).tolist()
    assert sum(1 for t in out["input_ids"][0] if t == CONTEXT) == 256 * tiles + sum(cells)
