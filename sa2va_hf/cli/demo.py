"""``sa2va-hf demo``: the main job end to end on an embedded sample, then a picture of what the model gets.

native files (an Osprey-724K JSON + its image, written on the spot) -> ``load_source`` (the
canonical record) -> ``export_sources`` (Parquet + dataset card) -> ``datasets.load_dataset`` of
the Parquet -> the processor (tiles, grounding image, visual prompts on the 16x16 grid) -> a PNG.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from .args import image_output, output_folder

HELP = "run native files -> build -> Parquet export -> load_dataset -> processor on an embedded sample; write a PNG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="demo.png", type=image_output, help="the picture to write (default: demo.png)")
    parser.add_argument("--mode", choices=["nearest", "pool"], default="nearest", help="the prompt-grid rule")
    parser.add_argument(
        "--workdir",
        default=None,
        type=output_folder,
        help="keep the native files, cache and Parquet here (default: a temporary folder)",
    )


def write_native_sample(data_dir: str) -> str:
    """The embedded scene as an Osprey-724K source: ``osprey_conversation.json`` + a COCO-folder image."""
    from .scene import make_scene

    image, (house, sun_rle), _ = make_scene()
    root = os.path.join(data_dir, "osprey-724k")
    os.makedirs(os.path.join(root, "coco", "train2014"), exist_ok=True)
    os.makedirs(os.path.join(root, "Osprey-724K"), exist_ok=True)
    file_name = "COCO_train2014_000000000001.jpg"
    image.save(os.path.join(root, "coco", "train2014", file_name), quality=95)
    entry = {
        "file_name": file_name,
        "height": image.height,
        "width": image.width,
        "annotation": [{"segmentation": house}, {"segmentation": sun_rle}],
        "conversations": [
            {"from": "human", "value": "<image>\nWhat is <region1>, and what is above it in <region2>?"},
            {"from": "gpt", "value": "<region1> is a small house; <region2> is the sun."},
        ],
    }
    path = os.path.join(root, "Osprey-724K", "osprey_conversation.json")
    with open(path, "w") as f:
        json.dump([entry], f)
    return path


def run(args: argparse.Namespace) -> int:
    import datasets
    import numpy as np

    from ..data import load_source
    from ..data.schema import record_frames, region_mask
    from ..export.parquet import export_sources
    from ..image_processing_sa2va import Sa2VAImageProcessor
    from .render import render, summary

    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory(prefix="sa2va-demo-") as tmp:
        work = args.workdir or tmp
        data, cache, parquet = (os.path.join(work, name) for name in ("data", "cache", "parquet"))
        print(f"1. native files:  {write_native_sample(data)}")
        built = load_source("osprey_conversation", data, split="train", cache_dir=cache)
        print(f"2. load_source:   {len(built)} record, {len(built[0]['regions'])} regions (RLE), conversations kept")
        export_sources(["osprey_conversation"], data, parquet, cache_dir=cache, progress=False)
        print(f"3. export:        {parquet}/osprey_conversation/*.parquet + README.md (image embedded)")
        record = datasets.load_dataset(parquet, "osprey_conversation", split="train", cache_dir=cache)[0]
        print(
            f"4. load_dataset:  record {record['id']!r} back from Parquet, {record['frames'][0].size[0]}x{record['frames'][0].size[1]}"
        )
        image = record_frames(record)[0]
        regions = [region_mask(record, k) for k in range(len(record["regions"]))]
        processor = Sa2VAImageProcessor(prompt_mask_mode=args.mode)
        features = processor(image, visual_prompts=regions)
        print("5. processor:     ", end="")
        names = ["region1: the house", "region2: the sun"]
        summary(features, names)
        picture = render(
            image,
            features,
            region_masks=np.stack(regions),
            title=f"sa2va-hf demo ({args.mode}): native files -> records -> Parquet -> load_dataset -> processor",
            grid=processor.choose_grid(image.width, image.height),
            names=names,
        )
        picture.save(args.output)
    print(f"wrote {args.output}")
    return 0
