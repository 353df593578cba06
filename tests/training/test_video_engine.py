"""The engine's video path, which the video recipes plug into: a family transform that asks for a video
(``SampleSpec(video=True, frames=..., mask_groups=...)``) gets one 448 tile per chosen frame, the frame
strings joined by newlines where ``<image>`` stands, ``g_pixel_values`` per frame and the masks object by
object, each OR-ed over its regions per frame (a frame without a mask adds nothing)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sa2va_hf.data.schema import record_frames
from sa2va_hf.training import Sa2VACollator, Sa2VATrainingTransform
from sa2va_hf.training import transform as engine
from sa2va_hf.training.transforms import family_transforms
from sa2va_hf.training.transforms.base import FamilyTransform, SampleSpec, base_plan

from ..reference import ref_g_pixel_values, ref_pixel_values
from .expected import decoded, sample_runs, xtuner_runs

C = "<IMG_CONTEXT>"


class TwoFrames(FamilyTransform):
    """A stand-in video recipe: text 1 ("Which two things move?", two regions) on frames 0 and 2."""

    families = ("refvos",)

    def plan(self, record, rng, t):
        return base_plan([1], [None], [None], frame_ids=[0, 2])

    def spec(self, record, plan, t):
        text = record["texts"][plan["text_ids"][0]]
        return SampleSpec(
            turns=[{"input": "<image>" + text["text"], "output": "[SEG]."}],
            frames=list(plan["frame_ids"]),
            video=True,
            mask_groups=[list(text["region_ids"])],
        )


@pytest.fixture
def video_transform(monkeypatch, processors):
    monkeypatch.setattr(engine, "family_transforms", lambda: {**family_transforms(), "refvos": TwoFrames()})
    return Sa2VATrainingTransform(processors("qwen"), "v2")


def test_video_sample(built, video_transform):
    record = built("revos")[0]  # 32 x 24, frames 00000, 00005, 00010 (sorted); regions of anno ids 11, 12
    t = video_transform
    sample = t(record)
    frame = "<img>" + C * 256 + "</img>"
    expected = xtuner_runs("qwen", [(frame + "\n" + frame + "Which two things move?", "[SEG].")])
    assert sample_runs(t.processor.tokenizer, sample) == expected
    frames = record_frames(record, [0, 2])
    assert np.array_equal(sample["pixel_values"], np.concatenate([ref_pixel_values(f, max_num=1) for f in frames]))
    assert np.array_equal(sample["g_pixel_values"], np.stack([ref_g_pixel_values(f) for f in frames]))
    assert sample["num_frames"].tolist() == [2]
    text = record["texts"][1]
    for j, f in enumerate([0, 2]):  # one object, its two regions OR-ed, per frame
        want = np.zeros((24, 32), np.uint8)
        for region in text["region_ids"]:
            if record["regions"][region]["masks"][f] is not None:
                want |= decoded(record, region, f)
        assert np.array_equal(sample["masks"][j], want)
    assert sample["masks"].shape == (2, 24, 32)
    assert t.length(record) == len(sample["input_ids"])

    batch = Sa2VACollator()([sample, t(built("revos")[0])])
    assert batch["frames_per_batch"] == [2, 2] and batch["g_pixel_values"].shape == (4, 3, 1024, 1024)
    assert batch["pixel_values"].shape == (4, 3, 448, 448) and batch["num_frames"].tolist() == [2, 2]
    assert torch.equal(batch["masks"][0], torch.from_numpy(sample["masks"]))
