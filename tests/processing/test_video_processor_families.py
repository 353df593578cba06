"""Videos for the Qwen-VL and LLaVA families, as upstream v2's ``datasets/base.py`` builds them.

``_process_multiple_images``: every frame is an image of the family's image processor -- Qwen-VL with
the per-frame limits ``min_pixels_multi`` / ``max_pixels_multi`` = 128·28² / 512·28² -- and
``_create_token_string`` + ``_expand_video_tokens`` write one image string per frame, joined with
``\\n``: ``<|vision_start|>`` + prod(grid_thw)/4 ``<|image_pad|>`` + ``<|vision_end|>`` for Qwen-VL,
576 ``<image>`` for LLaVA. The Qwen ``predict_forward`` passes its first 5 frames with the
single-image limits: ``max_llm_frames=5`` with the single-image limits as frame limits.

That is the processor's ``mode="training"``; its default, ``"inference"``, is ``predict_forward``'s
layout (``test_families``). Expected grids come from Qwen's resize rule written out in
``test_image_processor_qwen2_vl.ref_grid``, pixels from the fast Qwen class written out there
(``ref_fast_pixels``) with Sa2VA's limits (and the LLaVA recipe written out in ``test_image_processor_llava``).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sa2va_hf import FAMILIES, Sa2VAProcessor
from sa2va_hf.errors import Sa2VAError
from sa2va_hf.training import encode_conversation

from ..reference import ref_g_pixel_values
from ..tokenizer_utils import make_tokenizer
from .test_image_processor_llava import base_py_recipe
from .test_image_processor_qwen2_vl import FRAME, SINGLE, ref_fast_pixels, ref_grid

QWEN3_REF = {"patch": 16, "mean": (0.5,) * 3, "std": (0.5,) * 3}
QWEN = {"qwen2_5_vl": ({}, 14), "qwen3_vl": (QWEN3_REF, 16)}  # ref_fast_pixels options, patch size
USER, ASSISTANT = "<|im_start|>user\n", "<|im_end|>\n<|im_start|>assistant\n"
SINGLE_LIMITS = {"frame_min_pixels": 512 * 28 * 28, "frame_max_pixels": 2048 * 28 * 28}


def clip(n, h=60, w=90):
    return [
        Image.fromarray(np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8)) for seed in range(n)
    ]


def processor(family, mode="training"):
    tok = make_tokenizer("llava" if family == "llava" else "qwen_vl")
    return Sa2VAProcessor(tokenizer=tok, family=family, mode=mode)


def qwen_frame(tokens: int) -> str:
    return "<|vision_start|>" + "<|image_pad|>" * tokens + "<|vision_end|>"


def joined(frames: list[str]) -> str:
    """base.py's ``((frame + '\\n') * n).strip()``, written out."""
    out = ""
    for k, frame in enumerate(frames):
        out += frame + ("\n" if k < len(frames) - 1 else "")
    return out


@pytest.mark.parametrize("family", sorted(QWEN))
@pytest.mark.parametrize("h,w", [(60, 90), (1080, 1920), (17, 3000)])
def test_qwen_frames_are_images_with_the_frame_limits(family, h, w):
    options, patch = QWEN[family]
    proc = processor(family)
    frames = clip(3, h, w)
    out = proc(videos=frames, text=proc.apply_chat_template(
        [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": "Q"}]}], add_generation_prompt=True,
    ))  # fmt: skip
    assert set(out) == {"pixel_values", "image_grid_thw", "g_pixel_values", "num_frames", "num_llm_frames",
                        "input_ids", "attention_mask"}  # fmt: skip
    pixels, grids = ref_fast_pixels(frames, **options, limits=FRAME)
    np.testing.assert_array_equal(out["pixel_values"], pixels)
    grid = ref_grid(w, h, patch, min_pixels=128 * 28 * 28, max_pixels=512 * 28 * 28)
    assert out["image_grid_thw"].tolist() == grids.tolist() == [grid] * 3
    np.testing.assert_array_equal(out["g_pixel_values"], np.stack([ref_g_pixel_values(f) for f in frames]))
    assert out["num_frames"].tolist() == out["num_llm_frames"].tolist() == [3]
    tokens = int(np.prod(grid)) // 4
    assert proc.tokenizer.decode(out["input_ids"][0]) == USER + joined([qwen_frame(tokens)] * 3) + "\nQ" + ASSISTANT
    assert proc.video_token_string(3, w, h) == joined([qwen_frame(tokens)] * 3)


@pytest.mark.parametrize("family", sorted(QWEN))
def test_qwen_training_frames_take_the_frame_limits_as_set(family):
    """Training with the single-image limits as frame limits and the first 5 frames: still base.py's layout
    (one resize, frames joined with \\n); every frame and mask to SAM2."""
    options, patch = QWEN[family]
    proc = processor(family)
    frames = clip(7, 120, 260)
    masks = np.ones((2, 7, 120, 260), np.uint8)
    out = proc(videos=frames, text="<image>Q", masks=masks, max_llm_frames=5, **SINGLE_LIMITS)
    np.testing.assert_array_equal(out["pixel_values"], ref_fast_pixels(frames[:5], **options, limits=SINGLE)[0])
    grid = ref_grid(260, 120, patch)  # the single-image limits
    assert out["image_grid_thw"].tolist() == [grid] * 5
    assert out["num_llm_frames"].tolist() == [5] and out["num_frames"].tolist() == [7]
    assert out["g_pixel_values"].shape == (7, 3, 1024, 1024) and out["masks"][0].shape == (14, 120, 260)
    expected = joined([qwen_frame(int(np.prod(grid)) // 4)] * 5) + "Q"
    assert proc.tokenizer.decode(out["input_ids"][0]) == expected
    assert proc.video_token_string(7, 260, 120, max_llm_frames=5, **SINGLE_LIMITS) + "Q" == expected
    # the frame limits are options of the image processor: saved with it, checked
    assert proc.image_processor.to_dict()["frame_min_pixels"] == 128 * 28 * 28
    with pytest.raises(Sa2VAError, match="need frame_min_pixels <= frame_max_pixels"):
        proc(videos=frames, text="<image>", frame_min_pixels=2048 * 28 * 28, frame_max_pixels=512 * 28 * 28)


def test_llava_frames_are_336_images_with_576_tokens_each():
    proc = processor("llava")
    frames = clip(3, 50, 70)
    out = proc(videos=frames, text="<image>\nQ")
    assert set(out) == {"pixel_values", "g_pixel_values", "num_frames", "num_llm_frames", "input_ids",
                        "attention_mask"}  # fmt: skip
    np.testing.assert_array_equal(out["pixel_values"], np.stack([base_py_recipe(f) for f in frames]))
    assert proc.tokenizer.decode(out["input_ids"][0]) == "<s>" + joined(["<image>" * 576] * 3) + "\nQ"
    assert proc.video_token_string(3, 70, 50) == joined(["<image>" * 576] * 3)


@pytest.mark.parametrize("mode", ["inference", "training"])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_token_strings_from_sizes_equal_the_pixels(family, mode):
    """What the training lengths use (no pixel read) against what the pixels give, images and videos."""
    proc = processor(family, mode)
    context = proc.image_context_token_id
    for w, h in [(260, 120), (33, 1500), (640, 480), (5, 7)]:
        image = clip(1, h, w)[0]
        ids = proc(images=image, text="<image>")["input_ids"][0]
        assert proc.image_token_count(w, h) == sum(t == context for t in ids)
        assert proc.tokenizer.decode(ids).replace("<s>", "") == proc.image_token_string(w, h)
        for max_llm in (None, 2):
            ids = proc(videos=clip(3, h, w), text="<image>", max_llm_frames=max_llm)["input_ids"][0]
            assert proc.tokenizer.decode(ids).replace("<s>", "") == proc.video_token_string(
                3, w, h, max_llm_frames=max_llm
            )


@pytest.mark.parametrize("family", ["qwen3_vl", "llava"])
def test_video_masks_and_batches(family):
    proc = processor(family)
    out = proc(videos=[clip(2), clip(3, 30, 40)], text=["<image>A", "<image>B"], masks=[np.ones((1, 2, 60, 90)), None])
    assert out["num_frames"].tolist() == [2, 3] and out["g_pixel_values"].shape[0] == 5
    assert out["masks"][0].shape == (2, 60, 90) and out["masks"][1].shape == (0, 30, 40)
    if family == "qwen3_vl":
        assert len(out["image_grid_thw"]) == 5
    else:
        assert out["pixel_values"].shape == (5, 3, 336, 336)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava"])
def test_training_encoder_counts_the_familys_context_token(family):
    """encode_conversation checks the family's context token (it counted <IMG_CONTEXT>, so a Qwen or LLaVA
    processor failed with a count error)."""
    proc = processor(family)
    conv = [{"from": "human", "value": "<image>What happens?"}, {"from": "gpt", "value": "A dance."}]
    video = encode_conversation(proc, videos=clip(3), conversations=conv)
    image = encode_conversation(proc, images=clip(1)[0], conversations=conv)
    context = proc.image_context_token_id
    frame_string = proc.video_token_string(1, 90, 60, mode="training")
    assert sum(t == context for t in video["input_ids"][0]) == 3 * frame_string.count(
        proc.family_spec.image_tokens.context
    )
    assert sum(t == context for t in image["input_ids"][0]) == proc.image_token_count(90, 60, mode="training")


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_training_encoder_builds_training_pixels_whatever_the_processors_mode(family):
    """An inference-mode processor (the default) handed to the training encoder still gives upstream's training
    sample: one resize, the frame limits."""
    options, _ = QWEN[family]
    conv = [{"from": "human", "value": "<image>What happens?"}, {"from": "gpt", "value": "A dance."}]
    frames = clip(3, 300, 500)
    sample = encode_conversation(processor(family, "inference"), videos=frames, conversations=conv)
    np.testing.assert_array_equal(sample["pixel_values"], ref_fast_pixels(frames, **options, limits=FRAME)[0])
    image = encode_conversation(processor(family, "inference"), images=frames[0], conversations=conv)
    np.testing.assert_array_equal(image["pixel_values"], ref_fast_pixels(frames[:1], **options)[0])
