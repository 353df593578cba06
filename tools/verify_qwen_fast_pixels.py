"""Verify the Qwen-VL pixels against upstream's real environment: transformers 4.57.0's Qwen2VLImageProcessorFast.

Not part of the test suite (it needs a second, large environment). Run from the repository root::

    .venv/bin/python tools/verify_qwen_fast_pixels.py --reference-python /path/to/venv/bin/python \
        [--data /work/shared/data]

The reference environment holds what upstream v2 runs: ``transformers==4.57.0``, ``torchvision`` (0.29.x pairs
with torch 2.14.x on PyPI), ``qwen-vl-utils==0.0.14`` (upstream's lock file; only for the inference cases)
and ``pillow==11.3.0`` (upstream's lock file: Pillow 13 runs some resizes vertical pass first, which changes
qwen_vl_utils' resize; the package keeps 11.3's order, ``sa2va_hf.resize.pil_resize``).
This process (sa2va-hf's environment, its own torch) computes the product's outputs; the reference process
computes upstream's from the same input images; the two are compared value for value. So the comparison also
crosses torch versions (each environment's own resize kernel).

Cases, for Qwen2.5-VL (patch 14, OpenAI-CLIP) and Qwen3-VL (patch 16, mean = std = 0.5):

* training, one image (``base.py``'s ``_process_single_image``: the image processor with 512·28²..2048·28²):
  the real photos, 1x1, 57x2000, 4000x3000 (seeded noise), a grey (L) and an RGBA image;
* training, a video (``_process_multiple_images``: every frame in one call, 128·28²..512·28²): the real frames;
* inference (``predict_forward``: ``qwen_vl_utils.process_vision_info`` on image blocks, then the processor
  with 512·28²..2048·28²): the photos, the odd sizes, and 5 frames as 5 image blocks (RGB inputs only:
  predict_forward's grounding step refuses other modes).

It also reports how far the PIL class (``qwen_image_processor="pil"``) is from the fast one on the same cases.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

FAMILIES = {
    "qwen2_5_vl": {"patch_size": 14},
    "qwen3_vl": {"patch_size": 16, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]},
}
SINGLE = (512 * 28 * 28, 2048 * 28 * 28)
FRAME = (128 * 28 * 28, 512 * 28 * 28)


def build_cases(data: str, work: str) -> list[dict]:
    """Write every case's input images as PNG into ``work`` (lossless, mode kept); return the case list."""
    rng = np.random.default_rng(0)
    images: dict[str, Image.Image] = {}
    for name in ("cars", "truck", "groceries"):
        images[name] = Image.open(os.path.join(data, "images", f"{name}.jpg")).convert("RGB")
    images["1x1"] = Image.fromarray(rng.integers(0, 256, (1, 1, 3), dtype=np.uint8))
    images["57x2000"] = Image.fromarray(rng.integers(0, 256, (2000, 57, 3), dtype=np.uint8))
    images["4000x3000"] = Image.fromarray(rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8))
    images["grey"] = images["truck"].convert("L")
    rgba = np.dstack([np.asarray(images["groceries"]), rng.integers(0, 256, images["groceries"].size[::-1], np.uint8)])
    images["rgba"] = Image.fromarray(rgba, mode="RGBA")
    frames_dir = os.path.join(data, "video_bedroom")
    frames = sorted(f for f in os.listdir(frames_dir) if f.endswith(".jpg"))
    for i, f in enumerate(frames):
        images[f"frame{i:02d}"] = Image.open(os.path.join(frames_dir, f)).convert("RGB")
    for name, image in images.items():
        image.save(os.path.join(work, f"{name}.png"))

    stills = ["cars", "truck", "groceries", "1x1", "57x2000", "4000x3000"]
    frame_names = [f"frame{i:02d}" for i in range(len(frames))]
    cases = []
    for family in FAMILIES:
        for name in [*stills, "grey", "rgba"]:
            cases.append({"family": family, "mode": "training", "images": [name], "limits": SINGLE})
        cases.append({"family": family, "mode": "training", "images": frame_names, "limits": FRAME})
        for name in stills:
            cases.append({"family": family, "mode": "inference", "images": [name], "limits": SINGLE})
        cases.append({"family": family, "mode": "inference", "images": frame_names[:5], "limits": SINGLE})
    for i, case in enumerate(cases):
        case["id"] = i
    return cases


def load(work: str, names: list[str]) -> list[Image.Image]:
    return [Image.open(os.path.join(work, f"{n}.png")) for n in names]


# --------------------------------------------------------------------------- the two sides


def product_side(cases: list[dict], work: str) -> dict:
    """The product's pixel_values / image_grid_thw for every case, and the PIL class's for the training cases."""
    import torch

    from sa2va_hf import Sa2VAQwen2VLImageProcessor

    out = {"torch": torch.__version__}
    for case in cases:
        images = load(work, case["images"])
        low, high = case["limits"]
        for choice in ("fast", "pil") if case["mode"] == "training" else ("fast",):
            ip = Sa2VAQwen2VLImageProcessor(**FAMILIES[case["family"]], qwen_image_processor=choice)
            res = ip(images, min_pixels=low, max_pixels=high, qwen_vl_utils_resize=case["mode"] == "inference",
                     return_grounding=False)  # fmt: skip
            np.save(os.path.join(work, f"product_{choice}_{case['id']}.npy"), res["pixel_values"])
            np.save(os.path.join(work, f"product_{choice}_grid_{case['id']}.npy"), res["image_grid_thw"])
    return out


def reference_side(cases: list[dict], work: str) -> dict:
    """Upstream: transformers 4.57's fast class as base.py and predict_forward call it (runs in the reference env)."""
    import torch
    import torchvision
    import transformers
    from transformers.models.qwen2_vl.image_processing_qwen2_vl_fast import Qwen2VLImageProcessorFast

    try:
        from importlib.metadata import version

        from qwen_vl_utils import process_vision_info

        qwen_vl_utils_version = version("qwen-vl-utils")
    except ImportError:
        process_vision_info = qwen_vl_utils_version = None
    info = {
        "torch": torch.__version__, "torchvision": torchvision.__version__, "transformers": transformers.__version__,
        "qwen_vl_utils": qwen_vl_utils_version, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }  # fmt: skip
    for case in cases:
        fast = Qwen2VLImageProcessorFast(**FAMILIES[case["family"]])
        images = load(work, case["images"])
        if case["mode"] == "inference":
            if process_vision_info is None:
                continue
            # predict_forward: image blocks (a video's first 5 frames each one), then process_vision_info
            messages = [{"role": "user", "content": [*({"type": "image", "image": im} for im in images),
                                                      {"type": "text", "text": "x"}]}]  # fmt: skip
            images, _ = process_vision_info(messages)
        low, high = case["limits"]
        res = fast(images=images, min_pixels=low, max_pixels=high)  # base.py's and predict_forward's call
        assert isinstance(res["pixel_values"], torch.Tensor)  # v2's collate function asserts this
        np.save(os.path.join(work, f"reference_{case['id']}.npy"), res["pixel_values"].numpy())
        np.save(os.path.join(work, f"reference_grid_{case['id']}.npy"), res["image_grid_thw"].numpy())
    return info


# --------------------------------------------------------------------------- driver


def compare(cases: list[dict], work: str) -> list[dict]:
    rows = []
    for case in cases:
        ref_file = os.path.join(work, f"reference_{case['id']}.npy")
        label = f"{case['family']:10} {case['mode']:9} {'+'.join(case['images'][:1])}{'...' if len(case['images']) > 1 else ''}"
        label += f" ({len(case['images'])} image{'s' * (len(case['images']) > 1)})"
        if not os.path.exists(ref_file):
            rows.append({"case": label, "result": "skipped (no qwen_vl_utils in the reference environment)"})
            continue
        ref, ref_grid = np.load(ref_file), np.load(os.path.join(work, f"reference_grid_{case['id']}.npy"))
        ours = np.load(os.path.join(work, f"product_fast_{case['id']}.npy"))
        grid = np.load(os.path.join(work, f"product_fast_grid_{case['id']}.npy"))
        same = ours.shape == ref.shape and ours.dtype == ref.dtype and np.array_equal(ours, ref)
        row = {"case": label, "values": int(ref.size), "grid": ref_grid.tolist()[0], "grid_equal": np.array_equal(grid, ref_grid),
               "bit_identical": bool(same)}  # fmt: skip
        if not same and ours.shape == ref.shape:
            row["differing"] = float((ours != ref).mean())
            row["max_abs_diff"] = float(np.abs(ours - ref).max())
        pil_file = os.path.join(work, f"product_pil_{case['id']}.npy")
        if os.path.exists(pil_file):
            pil = np.load(pil_file)
            if pil.shape == ref.shape:
                row["pil_class_differing"] = float((pil != ref).mean())
                row["pil_class_max_abs_diff"] = float(np.abs(pil - ref).max())
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-python", help="python of an environment with transformers==4.57.0 + torchvision")
    parser.add_argument("--data", default="/work/shared/data", help="folder with images/ and video_bedroom/")
    parser.add_argument(
        "--reference-cpu-capability", help="ATEN_CPU_CAPABILITY for the reference (e.g. 'default': no AVX kernels)"
    )
    parser.add_argument("--role", choices=["driver", "reference"], default="driver", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "reference":
        with open(os.path.join(args.work, "cases.json")) as f:
            cases = json.load(f)
        info = reference_side(cases, args.work)
        with open(os.path.join(args.work, "reference.json"), "w") as f:
            json.dump(info, f)
        return 0
    if not args.reference_python:
        parser.error("--reference-python is required")
    with tempfile.TemporaryDirectory(prefix="verify-qwen-") as work:
        cases = build_cases(args.data, work)
        with open(os.path.join(work, "cases.json"), "w") as f:
            json.dump(cases, f)
        product = product_side(cases, work)
        env = dict(os.environ)
        if args.reference_cpu_capability:
            env["ATEN_CPU_CAPABILITY"] = args.reference_cpu_capability
        subprocess.run(
            [args.reference_python, os.path.abspath(__file__), "--role", "reference", "--work", work],
            check=True, timeout=3600, env=env,
        )  # fmt: skip
        with open(os.path.join(work, "reference.json")) as f:
            reference = json.load(f)
        rows = compare(cases, work)
    print(f"product:   sa2va-hf, torch {product['torch']}")
    print("reference: " + ", ".join(f"{k} {v}" for k, v in reference.items()))
    identical = 0
    for row in rows:
        if "bit_identical" not in row:
            print(f"{row['case']}: {row['result']}")
            continue
        identical += row["bit_identical"] and row["grid_equal"]
        verdict = "bit-identical" if row["bit_identical"] else f"DIFFER ({row.get('differing', 'shape')})"
        extra = ""
        if "pil_class_differing" in row:
            extra = (f"; PIL class: {100 * row['pil_class_differing']:.1f} % of values differ, "
                     f"max {row['pil_class_max_abs_diff']:.4f}")  # fmt: skip
        print(f"{row['case']}: grid {row['grid']} {'equal' if row['grid_equal'] else 'DIFFERS'}, "
              f"{row['values']} values {verdict}{extra}")  # fmt: skip
    compared = sum("bit_identical" in r for r in rows)
    print(f"{identical} of {compared} cases equal (grid and every value); {len(rows) - compared} skipped")
    return 0 if identical == compared else 1


if __name__ == "__main__":
    sys.exit(main())
