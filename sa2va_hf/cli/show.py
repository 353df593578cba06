"""``sa2va-hf show``: draw what the model gets -- an image file with masks, or a record of a source.

* ``sa2va-hf show photo.jpg --mask a.png --mask b.json``: the image, its masks, its tiles and the
  16x16 prompt grid;
* ``sa2va-hf show --source NAME --data-dir DIR --index I``: a record as the model will see it:
  each region's mask in its colour, a legend (region, its texts, its grid cells), the 16x16 grid
  per region and the tiles; for a video record, a strip of frames with the masks painted.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HELP = "draw an image (or a record of a source) with its masks, tiles and 16x16 prompt grid"
STRIP_FRAMES = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="?", help="an image file (or use --source)")
    parser.add_argument("--mask", action="append", default=[], help="PNG mask or JSON RLE/polygon; repeatable")
    parser.add_argument("--source", default=None, help="draw a record of this source instead of an image file")
    parser.add_argument("--data-dir", default="data", help="with --source: the Sa2VA data/ root")
    parser.add_argument("--split", default=None, help="with --source: the split (default: its first)")
    parser.add_argument("--index", type=int, default=0, help="with --source: the record's position in the split")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--mode", choices=["nearest", "pool"], default="nearest")
    parser.add_argument("--output", default="show.png")


def run(args: argparse.Namespace) -> int:
    from ..errors import Sa2VAError

    if (args.source is None) == (args.image is None):
        raise Sa2VAError("give an image file, or --source NAME --data-dir DIR [--index I], not both")
    return _show_record(args) if args.source else _show_image(args)


def _show_image(args: argparse.Namespace) -> int:
    from ..image_io import to_rgb_image
    from ..image_processing_sa2va import Sa2VAImageProcessor
    from .render import render, summary

    image = to_rgb_image(args.image)
    regions = [read_mask(m, image.height, image.width) for m in args.mask]
    processor = Sa2VAImageProcessor(prompt_mask_mode=args.mode, empty_region="keep")
    vp = np.stack(regions) if regions else None
    features = processor(image, visual_prompts=vp)
    grid = processor.choose_grid(image.width, image.height)
    names = [Path(m).name for m in args.mask]
    render(image, features, region_masks=vp, title=Path(args.image).name, grid=grid, names=names or None).save(
        args.output
    )
    summary(features, names)
    print(f"wrote {args.output}")
    return 0


def _record_names(record: dict) -> list[str]:
    """'id: label / first text' per region."""
    texts: dict[int, list[str]] = {}
    for t in record["texts"]:
        for k in t["region_ids"]:
            texts.setdefault(k, []).append(t["text"])
    names = []
    for k, region in enumerate(record["regions"]):
        said = texts.get(k, [])
        what = region["label"] or (said[0] if said else "")
        more = f" (+{len(said) - 1} more texts)" if len(said) > 1 else ""
        names.append(f"{region['id']}: {what[:70]}{more}" if what else str(region["id"]))
    return names


def _show_record(args: argparse.Namespace) -> int:
    from ..data import load_source
    from ..data.schema import record_frames, region_mask
    from ..errors import Sa2VAError
    from ..image_processing_sa2va import Sa2VAImageProcessor
    from .render import render, render_strip, summary

    built = load_source(args.source, args.data_dir, split=args.split, cache_dir=args.cache_dir)
    ds = built if args.split else built[next(iter(built))]
    if not 0 <= args.index < len(ds):
        raise Sa2VAError(f"--index {args.index} is outside the split's {len(ds)} records")
    record = ds[args.index]
    names = _record_names(record)
    n_frames = len(record["frame_indices"]) if record["video"] is not None else len(record["frames"])
    title = f"{args.source} #{args.index}  id={record['id']}"
    if n_frames == 0:
        raise Sa2VAError(f"record {record['id']!r} has no frame to draw (a text-only record)")
    if n_frames == 1:
        image = record_frames(record)[0]
        masks = [region_mask(record, k) for k in range(len(record["regions"]))]
        vp = np.stack(masks) if masks else None
        processor = Sa2VAImageProcessor(prompt_mask_mode=args.mode, empty_region="keep")
        features = processor(image, visual_prompts=vp)
        grid = processor.choose_grid(image.width, image.height)
        render(image, features, region_masks=vp, title=title, grid=grid, names=names or None).save(args.output)
        summary(features, names)
    else:
        shown = min(STRIP_FRAMES, n_frames)  # evenly spread over the record, first and last included
        which = sorted({round(i * (n_frames - 1) / max(shown - 1, 1)) for i in range(shown)})
        frames = record_frames(record, which)
        h, w = record["height"], record["width"]
        per_frame = []
        for f in which:
            stack = [region_mask(record, k, f) for k in range(len(record["regions"]))]
            per_frame.append(
                np.stack([m if m is not None else np.zeros((h, w), np.uint8) for m in stack]) if stack else None
            )
        title += f"  frames {', '.join(str(f) for f in which)} of {n_frames}"
        render_strip(frames, per_frame, names, title).save(args.output)
        print(f"{n_frames} frames, {len(names)} regions, {len(record['texts'])} texts")
    print(f"wrote {args.output}")
    return 0


def read_mask(path: str, height: int, width: int) -> np.ndarray:
    """A mask from a PNG (nonzero = region) or a JSON segmentation (RLE dict or polygon list)."""
    from ..image_io import to_rgb_image
    from ..masks import decode

    if path.endswith(".json"):
        return decode(json.loads(Path(path).read_text()), height, width, file=path)
    return (np.asarray(to_rgb_image(path).convert("L")) != 0).astype(np.uint8)
