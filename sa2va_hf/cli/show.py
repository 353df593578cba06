"""``sa2va-hf show``: draw what the model gets -- an image file with masks, or a record of a source.

* ``sa2va-hf show photo.jpg --mask a.png --mask b.json``: the image, its masks, its tiles and the
  16x16 prompt grid. A mask is read as the ``folder`` source reads it: an instance PNG (one channel,
  each value but 0 and 255 an object; palette PNGs by index), a PNG of one object (its nonzero
  colour), a folder of per-object PNGs (``masks/<image>/``), or a JSON COCO RLE / polygon list;
* ``sa2va-hf show --source NAME --data-dir DIR --index I``: a record as the model will see it:
  each region's mask in its colour, a legend (region, its texts, its grid cells), the 16x16 grid
  per region and the tiles; for a video record, a strip of frames with the masks painted.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .args import DATA_DIR_HELP, count, existing_file, existing_path, image_output, output_folder, source_name

if TYPE_CHECKING:
    import numpy as np

HELP = "draw an image (or a record of a source) with its masks, tiles and 16x16 prompt grid"
STRIP_FRAMES = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="?", type=existing_file, help="an image file (or use --source)")
    parser.add_argument(
        "--mask",
        action="append",
        default=[],
        type=existing_path,
        help="masks of the image, read as the folder source reads them: an instance PNG (each value but 0 and 255 "
        "an object), a PNG of one object (nonzero), a folder of per-object PNGs, or a JSON RLE / polygon; repeatable",
    )
    parser.add_argument(
        "--source", default=None, type=source_name, help="draw a record of this source instead of an image file"
    )
    parser.add_argument("--data-dir", default="data", help=f"with --source: {DATA_DIR_HELP}")
    parser.add_argument("--split", default=None, help="with --source: the split (default: its first)")
    parser.add_argument("--index", type=count, default=0, help="with --source: the record's position in the split")
    parser.add_argument("--cache-dir", type=output_folder, default=None, help="the datasets cache (default: HF's)")
    parser.add_argument("--mode", choices=["nearest", "pool"], default="nearest", help="the prompt-grid rule")
    parser.add_argument("--output", default="show.png", type=image_output, help="the picture to write (default: show.png)")


def run(args: argparse.Namespace) -> int:
    from ..errors import Sa2VAError

    if (args.source is None) == (args.image is None):
        raise Sa2VAError("give an image file, or --source NAME --data-dir DIR [--index I], not both")
    return _show_record(args) if args.source else _show_image(args)


def _show_image(args: argparse.Namespace) -> int:
    import numpy as np

    from ..image_io import to_rgb_image
    from ..image_processing_sa2va import Sa2VAImageProcessor
    from .render import render, summary

    image = to_rgb_image(args.image)
    objects = [obj for m in args.mask for obj in read_masks(m, args.image, image.height, image.width)]
    names = [name for name, _ in objects]
    processor = Sa2VAImageProcessor(prompt_mask_mode=args.mode, empty_region="keep")
    vp = np.stack([mask for _, mask in objects]) if objects else None
    features = processor(image, visual_prompts=vp)
    grid = processor.choose_grid(image.width, image.height)
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
    import numpy as np

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


def read_masks(path: str, image: str, height: int, width: int) -> list[tuple[str, np.ndarray]]:
    """(name, (H, W) uint8 mask) of each object in ``path``, PNGs read as the ``folder`` source reads them:
    a folder of per-object PNGs (named by their files), an instance PNG (one channel holding values other than
    0 and 255: one object per value, 255 void), a PNG of one object (its nonzero colour), or a JSON segmentation
    (COCO RLE or polygon list)."""
    import numpy as np

    from ..data.sources.folder import VOID, instance_masks, object_folder_masks, object_mask, read_png
    from ..errors import MaskFormatError, ShapeMismatchError
    from ..masks import decode

    name = Path(path).name
    if os.path.isdir(path):
        objects = [(object_name, mask) for object_name, mask, _ in object_folder_masks(path, image)]
    elif path.lower().endswith(".json"):
        try:
            segmentation = json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise MaskFormatError(f"mask {path!r} is not JSON (a COCO RLE or a polygon list): {e}") from None
        objects = [(name, decode(segmentation, height, width, file=path))]
    else:
        pixels = read_png(path, image)
        if pixels.ndim == 2 and np.isin(pixels, (0, VOID), invert=True).any():
            objects = [(f"{name}: {value}", mask) for value, mask, _ in instance_masks(path, image)]
        else:
            objects = [(name, object_mask(pixels))]
    for object_name, mask in objects:
        if mask.shape != (height, width):
            raise ShapeMismatchError(
                f"mask {object_name!r} ({path!r}) is {mask.shape[0]}x{mask.shape[1]} but {image!r} is "
                f"{height}x{width} (h x w)"
            )
    return [(object_name, np.asarray(mask, np.uint8)) for object_name, mask in objects]
