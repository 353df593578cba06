"""Sa2VACollator: upstream's batch layout from per-sample processor outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sa2va_hf import Sa2VACollator, Sa2VAImageProcessor, Sa2VAProcessor
from sa2va_hf.errors import Sa2VAError
from sa2va_hf.training import collate_fn, encode_conversation

from ..tokenizer_utils import make_tokenizer


def image(h, w, seed=0):
    return Image.fromarray(np.random.RandomState(seed).randint(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def processor():
    return Sa2VAProcessor(Sa2VAImageProcessor(), make_tokenizer("qwen"), template="qwen")


@pytest.fixture(scope="module")
def samples(processor):
    vp = np.zeros((2, 300, 900), dtype=np.uint8)
    vp[0, :100, :300] = 1
    vp[1, 150:, 450:] = 1
    gt = np.zeros((1, 96, 96), dtype=np.uint8)
    gt[0, 10:40, 10:40] = 1
    a = encode_conversation(
        processor,
        images=image(96, 96),
        conversations=[{"from": "human", "value": "<image>\nSegment it."}, {"from": "gpt", "value": "[SEG]."}],
        masks=gt,
    )
    b = encode_conversation(
        processor,
        images=image(300, 900, 1),
        conversations=[
            {"from": "human", "value": "What is region1?"},
            {"from": "gpt", "value": "A thing, long answer."},
        ],
        visual_prompts=vp,
        style="osprey",
    )
    return a, b


def test_collates_to_upstream_layout(samples):
    a, b = samples
    batch = Sa2VACollator()([a, b])
    la, lb = len(a["input_ids"][0]), len(b["input_ids"][0])
    length = max(la, lb)
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape == (2, length)
    assert batch["attention_mask"].dtype == torch.bool
    assert batch["attention_mask"].sum(1).tolist() == [la, lb]
    short = 0 if la < lb else 1
    n = min(la, lb)
    assert (batch["input_ids"][short, n:] == 0).all()  # upstream pad index 0
    assert (batch["labels"][short, n:] == -100).all()
    assert batch["input_ids"][0, :la].tolist() == a["input_ids"][0]
    assert batch["labels"][1, :lb].tolist() == b["labels"][0]
    assert batch["position_ids"].shape == (2, length) and batch["position_ids"][1].tolist() == list(range(length))

    ta, tb = int(a["num_patches"][0]), int(b["num_patches"][0])
    assert batch["pixel_values"].shape == (ta + tb, 3, 448, 448)
    assert torch.equal(batch["pixel_values"][:ta], torch.from_numpy(a["pixel_values"]))
    assert torch.equal(batch["pixel_values"][ta:], torch.from_numpy(b["pixel_values"]))
    assert batch["vp_overall_mask"].tolist() == [False] * ta + [False] * (tb - 1) + [True]
    assert batch["g_pixel_values"].shape == (2, 3, 1024, 1024) and batch["g_pixel_values"].dtype == torch.uint8
    assert batch["frames_per_batch"] == [1, 1]
    assert batch["num_patches"].tolist() == [ta, tb]
    # ragged things stay lists, one entry per sample that has them
    assert len(batch["prompt_masks"]) == 1 and batch["prompt_masks"][0].shape == (2, 16, 16)
    assert len(batch["masks"]) == 1 and batch["masks"][0].shape == (1, 96, 96)
    assert batch["region_pixels"] == [b["region_pixels"][0]]


def test_pad_id_that_is_a_real_token_does_not_leak_into_the_mask(samples):
    a, b = samples
    real = int(a["input_ids"][0][-1])
    batch = Sa2VACollator(pad_token_id=real, pad_to_multiple_of=64)([a, b])
    assert batch["input_ids"].shape[1] % 64 == 0
    assert batch["attention_mask"].sum(1).tolist() == [len(a["input_ids"][0]), len(b["input_ids"][0])]


def test_upstream_style_samples():
    s1 = {
        "input_ids": [1, 2, 3],
        "labels": [-100, 2, 3],
        "pixel_values": torch.zeros(3, 3, 448, 448),
        "g_pixel_values": torch.zeros(3, 1024, 1024, dtype=torch.uint8),
        "masks": [np.ones((5, 6), np.uint8), np.zeros((5, 6), np.uint8)],
    }
    s2 = {  # a video sample: per-frame grounding images as a list, no masks
        "input_ids": torch.tensor([4, 5]),
        "labels": torch.tensor([4, 5]),
        "pixel_values": torch.ones(2, 3, 448, 448),
        "g_pixel_values": [torch.ones(3, 1024, 1024, dtype=torch.uint8)] * 2,
        "vp_overall_mask": torch.tensor([False, False]),
    }
    batch = collate_fn([s1, s2])
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 5, 0]]
    assert batch["labels"].tolist() == [[-100, 2, 3], [4, 5, -100]]
    assert batch["pixel_values"].shape == (5, 3, 448, 448)
    assert batch["vp_overall_mask"].tolist() == [False] * 5
    assert batch["g_pixel_values"].shape == (3, 3, 1024, 1024)
    assert batch["frames_per_batch"] == [1, 2]
    assert [m.shape for m in batch["masks"]] == [(2, 5, 6)]


def test_mismatched_samples_are_errors():
    with pytest.raises(Sa2VAError, match="labels"):
        collate_fn([{"input_ids": [1, 2], "labels": [1]}])
    with pytest.raises(Sa2VAError, match="some samples have labels"):
        collate_fn([{"input_ids": [1], "labels": [1]}, {"input_ids": [2]}])
    with pytest.raises(Sa2VAError, match="empty"):
        collate_fn([])


def test_prompt_masks_follow_the_flagged_tiles(processor):
    """The model pairs prompt_masks[k] with the k-th tile flagged in vp_overall_mask: a sample whose
    regions were all dropped (an empty (0, 16, 16) entry, no flagged tile) must not take a slot."""
    conv = [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "A thing."}]
    empty_vp = np.zeros((1, 96, 96), dtype=np.uint8)
    empty_vp[0, 1, 1] = 1  # subsampled away: dropped
    dropped = encode_conversation(
        processor, images=image(96, 96), conversations=conv, visual_prompts=empty_vp, empty_region="drop"
    )
    assert dropped["prompt_masks"][0].shape == (0, 16, 16) and not dropped["vp_overall_mask"].any()
    vp = np.zeros((2, 96, 96), dtype=np.uint8)
    vp[0, :40] = 1
    vp[1, 50:] = 1
    osprey = encode_conversation(
        processor,
        images=image(96, 96, 2),
        conversations=[{"from": "human", "value": "What is region1?"}, {"from": "gpt", "value": "A thing."}],
        visual_prompts=vp,
        style="osprey",
    )
    batch = collate_fn([dropped, osprey])
    assert batch["vp_overall_mask"].tolist() == [False, True]
    assert len(batch["prompt_masks"]) == 1
    assert torch.equal(batch["prompt_masks"][0], torch.from_numpy(osprey["prompt_masks"][0]))
    assert batch["region_pixels"] == [osprey["region_pixels"][0]]


def test_inconsistent_visual_prompts_are_errors():
    flagged = {"input_ids": [1], "pixel_values": torch.zeros(1, 3, 448, 448), "vp_overall_mask": [True]}
    with pytest.raises(Sa2VAError, match="no prompt_masks"):
        collate_fn([flagged])
    unflagged = dict(flagged, vp_overall_mask=[False], prompt_masks=[np.ones((2, 16, 16), np.uint8)])
    with pytest.raises(Sa2VAError, match="no tile flagged"):
        collate_fn([unflagged])


def test_bad_samples_are_clear_errors():
    with pytest.raises(Sa2VAError, match="must be a dict"):
        collate_fn([[1, 2]])
    with pytest.raises(Sa2VAError, match="no input_ids"):
        collate_fn([{"labels": [1]}])
    a = {"input_ids": [1], "pixel_values": np.zeros((1, 3, 448, 448), np.float32)}
    b = {"input_ids": [1], "pixel_values": np.zeros((1, 3, 336, 336), np.float32)}
    with pytest.raises(Sa2VAError, match="one tile size"):
        collate_fn([a, b])


def test_qwen_samples_concatenate_patches_and_image_grid_thw():
    from sa2va_hf import FAMILIES

    ip = FAMILIES["qwen3_vl"].image_processor()
    a, b = ip(image(120, 260)), ip([image(96, 96, 1), image(300, 200, 2)])
    samples = [
        {"input_ids": [1, 2, 3], **a},
        {"input_ids": [4, 5], **b},
        {"input_ids": [6]},  # text only
    ]
    batch = Sa2VACollator()(samples)
    grid = np.concatenate([a["image_grid_thw"], b["image_grid_thw"]])
    assert batch["image_grid_thw"].tolist() == grid.tolist() and len(grid) == 3
    assert batch["pixel_values"].shape == (int(grid.prod(1).sum()), 3 * 2 * 16 * 16)
    np.testing.assert_array_equal(batch["pixel_values"].numpy(), np.concatenate([a["pixel_values"], b["pixel_values"]]))
    assert batch["frames_per_batch"] == [1, 2] and batch["g_pixel_values"].shape[0] == 3
    with pytest.raises(
        Sa2VAError, match=r"sample 0: image_grid_thw \[\[1, 28, 60\]\] needs \(1680, dim\) pixel_values"
    ):
        Sa2VACollator()(
            [{"input_ids": [1], "pixel_values": a["pixel_values"][:-1], "image_grid_thw": a["image_grid_thw"]}]
        )
    with pytest.raises(Sa2VAError, match="must be \\(T, 3, H, W\\)"):
        Sa2VACollator()([samples[0], {"input_ids": [1], "pixel_values": np.zeros((1, 3, 448, 448), np.float32)}])


def test_transform_samples_text_only_float_masks_none_keys_plans_and_grid_thw():
    """What Sa2VATrainingTransform gives: a text-only sample (one zero tile), an Osprey sample whose
    vp_overall_mask / prompt_masks are float32 as upstream's, keys set to None by a batched transform,
    plans; Qwen-family samples' image_grid_thw rows are concatenated."""
    text_only = {"input_ids": [1, 2], "labels": [1, 2], "pixel_values": np.zeros((1, 3, 448, 448), np.float32),
                 "num_patches": np.ones(1, np.int64), "masks": None, "prompt_masks": None, "plan": {"id": "t"}}  # fmt: skip
    osprey = {
        "input_ids": [3], "labels": [3], "pixel_values": np.ones((2, 3, 448, 448), np.float32),
        "num_patches": np.array([2]), "vp_overall_mask": np.array([0.0, 1.0], np.float32),
        "prompt_masks": np.ones((1, 16, 16), np.float32), "region_pixels": [256], "masks": None, "plan": {"id": "o"},
    }  # fmt: skip
    batch = Sa2VACollator(return_plans=True)([text_only, osprey])
    assert batch["vp_overall_mask"].tolist() == [False, False, True]
    assert batch["pixel_values"].shape == (3, 3, 448, 448) and batch["num_patches"].tolist() == [1, 2]
    assert batch["prompt_masks"][0].dtype == torch.float32 and batch["region_pixels"] == [[256]]
    assert "masks" not in batch and batch["plans"] == [{"id": "t"}, {"id": "o"}]
    assert "plans" not in Sa2VACollator()([text_only])
    qwen = [  # flat patch rows, as many as each grid says
        {"input_ids": [1], "image_grid_thw": np.array([[1, 4, 6]]), "pixel_values": np.zeros((24, 1176), np.float32)},
        {"input_ids": [2], "image_grid_thw": [[1, 2, 2]], "pixel_values": np.zeros((4, 1176), np.float32)},
    ]
    assert Sa2VACollator()(qwen)["image_grid_thw"].tolist() == [[1, 4, 6], [1, 2, 2]]
