"""``sa2va-hf show``: draw an image, its masks, its tiles and the 16x16 prompt grid."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HELP = "draw an image, its masks, its tiles and the 16x16 prompt grid"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image")
    parser.add_argument("--mask", action="append", default=[], help="PNG mask or JSON RLE/polygon; repeatable")
    parser.add_argument("--mode", choices=["nearest", "pool"], default="nearest")
    parser.add_argument("--output", default="show.png")


def run(args: argparse.Namespace) -> int:
    from ..image_io import to_rgb_image
    from ..image_processing_sa2va import Sa2VAImageProcessor
    from .render import render, summary

    image = to_rgb_image(args.image)
    regions = [read_mask(m, image.height, image.width) for m in args.mask]
    processor = Sa2VAImageProcessor(prompt_mask_mode=args.mode, empty_region="keep")
    vp = np.stack(regions) if regions else None
    features = processor(image, visual_prompts=vp)
    grid = processor.choose_grid(image.width, image.height)
    render(image, features, region_masks=vp, title=Path(args.image).name, grid=grid).save(args.output)
    summary(features, [Path(m).name for m in args.mask])
    print(f"wrote {args.output}")
    return 0


def read_mask(path: str, height: int, width: int) -> np.ndarray:
    """A mask from a PNG (nonzero = region) or a JSON segmentation (RLE dict or polygon list)."""
    from ..image_io import to_rgb_image
    from ..masks import decode

    if path.endswith(".json"):
        return decode(json.loads(Path(path).read_text()), height, width, file=path)
    return (np.asarray(to_rgb_image(path).convert("L")) != 0).astype(np.uint8)
