"""Parameters survive save_pretrained -> AutoImageProcessor.from_pretrained."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from transformers import AutoImageProcessor

import sa2va_hf
from sa2va_hf import Sa2VAImageProcessor


def test_defaults_are_the_upstream_recipe():
    ip = Sa2VAImageProcessor()
    assert (ip.image_size, ip.patch_size, ip.downsample_ratio) == (448, 14, 0.5)
    assert (ip.min_tiles, ip.max_tiles, ip.use_thumbnail) == (1, 12, True)
    assert (ip.grounding_size, ip.prompt_mask_mode) == (1024, "nearest")
    assert ip.image_mean == [0.485, 0.456, 0.406] and ip.image_std == [0.229, 0.224, 0.225]


def test_round_trip_through_auto_image_processor(tmp_path):
    ip = Sa2VAImageProcessor(
        max_tiles=6, min_tiles=2, use_thumbnail=False, prompt_mask_mode="pool", grounding_size=512,
        empty_region="drop", min_region_cells=4, normalize_grounding=True,
    )  # fmt: skip
    ip.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert saved["image_processor_type"] == "Sa2VAImageProcessor"
    assert saved["max_tiles"] == 6 and saved["prompt_mask_mode"] == "pool"

    loaded = AutoImageProcessor.from_pretrained(tmp_path)
    assert type(loaded) is Sa2VAImageProcessor
    assert loaded.to_dict() == ip.to_dict()

    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 700, 3), dtype=np.uint8))
    vp = np.zeros((1, 300, 700), np.uint8)
    vp[0, 50:250, 100:600] = 1
    a, b = ip(image, visual_prompts=vp), loaded(image, visual_prompts=vp)
    assert a.keys() == b.keys()
    for key in ("pixel_values", "g_pixel_values", "vp_overall_mask"):
        assert np.array_equal(a[key], b[key])
    assert np.array_equal(a["prompt_masks"][0], b["prompt_masks"][0])
    assert a["g_pixel_values"].shape == (1, 3, 512, 512) and a["pixel_values"].shape[0] == 2


def test_registration_happens_on_import():
    from transformers.models.auto.image_processing_auto import get_image_processor_class_from_name

    assert sa2va_hf.Sa2VAImageProcessor is get_image_processor_class_from_name("Sa2VAImageProcessor")
