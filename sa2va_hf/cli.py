"""The ``sa2va-hf`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import make_scene
    from .image_processing_sa2va import Sa2VAImageProcessor
    from .masks import decode_many
    from .visualize import render

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
    _summary(features, names)
    print(f"wrote {args.output}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from .image_io import to_rgb_image
    from .image_processing_sa2va import Sa2VAImageProcessor
    from .visualize import render

    image = to_rgb_image(args.image)
    regions = [_read_mask(m, image.height, image.width) for m in args.mask]
    processor = Sa2VAImageProcessor(prompt_mask_mode=args.mode, empty_region="keep")
    vp = np.stack(regions) if regions else None
    features = processor(image, visual_prompts=vp)
    grid = processor.choose_grid(image.width, image.height)
    render(image, features, region_masks=vp, title=Path(args.image).name, grid=grid).save(args.output)
    _summary(features, [Path(m).name for m in args.mask])
    print(f"wrote {args.output}")
    return 0


def _read_mask(path: str, height: int, width: int) -> np.ndarray:
    """A mask from a PNG (nonzero = region) or a JSON segmentation (RLE dict or polygon list)."""
    from .image_io import to_rgb_image
    from .masks import decode

    if path.endswith(".json"):
        return decode(json.loads(Path(path).read_text()), height, width, file=path)
    return (np.asarray(to_rgb_image(path).convert("L")) != 0).astype(np.uint8)


def _summary(features, names) -> None:
    t = int(features["num_patches"][0])
    print(f"tiles: {t}  pixel_values: {tuple(features['pixel_values'].shape)}  image tokens: {256 * t}")
    for name, n in zip(names, features.get("region_pixels", [[]])[0]):
        print(f"  region {name}: {n} grid cells -> {n} <IMG_CONTEXT> tokens")


def _cmd_build(args: argparse.Namespace) -> int:
    from .loading import list_sources, load_source

    if args.list or not args.names:
        print("\n".join(list_sources()))
        return 0
    for name in args.names:
        built = load_source(name, args.data_dir, split=args.split, cache_dir=args.cache_dir, num_proc=args.num_proc)
        splits = {args.split: built} if args.split else dict(built)
        for split, ds in splits.items():
            regions = sum(len(r) for r in ds["regions"])
            texts = sum(len(t) for t in ds["texts"])
            print(f"{name}/{split}: {ds.num_rows} records, {regions} regions, {texts} texts")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    return bench_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sa2va-hf", description="Sa2VA data layer: build sources, look at samples, time the processor."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="process the embedded sample scene and write a PNG")
    demo.add_argument("--output", default="demo.png")
    demo.add_argument("--mode", choices=["nearest", "pool"], default="nearest")
    demo.set_defaults(func=_cmd_demo)

    show = sub.add_parser("show", help="draw an image, its masks, its tiles and the 16x16 prompt grid")
    show.add_argument("image")
    show.add_argument("--mask", action="append", default=[], help="PNG mask or JSON RLE/polygon; repeatable")
    show.add_argument("--mode", choices=["nearest", "pool"], default="nearest")
    show.add_argument("--output", default="show.png")
    show.set_defaults(func=_cmd_show)

    build = sub.add_parser("build", help="build sources into the datasets cache and summarise them")
    build.add_argument("names", nargs="*", help="source names (none, or --list: print every name)")
    build.add_argument("--data-dir", default="data", help="the Sa2VA data/ root")
    build.add_argument("--split", default=None)
    build.add_argument("--cache-dir", default=None)
    build.add_argument("--num-proc", type=int, default=None)
    build.add_argument("--list", action="store_true")
    build.set_defaults(func=_cmd_build)

    bench = sub.add_parser("bench", help="time the image processor against the transformers peer")
    bench.add_argument("--images", nargs="*", default=[], help="image files (default: generated photos)")
    bench.add_argument("--repeat", type=int, default=5)
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import Sa2VAError

    try:
        return args.func(args)
    except Sa2VAError as e:
        print(f"sa2va-hf: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
