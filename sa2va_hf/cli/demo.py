"""``sa2va-hf demo``: process the embedded sample scene and write a PNG of what the model gets."""

from __future__ import annotations

import argparse

HELP = "process the embedded sample scene and write a PNG"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", default="demo.png")
    parser.add_argument("--mode", choices=["nearest", "pool"], default="nearest")


def run(args: argparse.Namespace) -> int:
    from ..image_processing_sa2va import Sa2VAImageProcessor
    from ..masks import decode_many
    from .render import render, summary
    from .scene import make_scene

    image, regions, names = make_scene()
    processor = Sa2VAImageProcessor(prompt_mask_mode=args.mode)
    features = processor(image, visual_prompts=regions)
    region_masks = decode_many(regions, image.height, image.width)
    picture = render(
        image,
        features,
        region_masks=region_masks,
        title=f"sa2va-hf demo ({args.mode})",
        grid=processor.choose_grid(image.width, image.height),
    )
    picture.save(args.output)
    summary(features, names)
    print(f"wrote {args.output}")
    return 0
