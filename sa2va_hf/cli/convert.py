"""``sa2va-hf convert``: your own data (a fine-tuning set or a folder) -> Parquet + card, ready for training."""

from __future__ import annotations

import argparse

HELP = "convert your own data (finetune format or a folder of images/masks/texts) to Parquet"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "layout", choices=["folder", "finetune"], help="folder: images/ masks/ texts; finetune: annotations.json"
    )
    parser.add_argument("data_dir", help="the dataset's own folder")
    parser.add_argument("--output", required=True, help="the folder to write (Parquet + README.md)")
    parser.add_argument("--name", default=None, help="the source column and config name (default: the layout)")
    parser.add_argument(
        "--mask-frame",
        choices=["auto", "stored", "displayed"],
        default="auto",
        help="where masks of photos with an EXIF orientation were drawn: on the pixels as stored, on the image as "
        "viewers display it, or auto (told by their size; an error where it cannot be told)",
    )
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--num-proc", type=int, default=None)


def run(args: argparse.Namespace) -> int:
    from ..export.parquet import export_sources

    options = {args.layout: {"mask_frame": args.mask_frame, **({"name": args.name} if args.name else {})}}
    for split in export_sources(
        [args.layout], args.data_dir, args.output, cache_dir=args.cache_dir, num_proc=args.num_proc, options=options
    ):
        print(f"{split.config}/{split.split}: {split.num_records} records, {split.num_bytes / 1e6:.1f} MB")
    config = args.name or args.layout
    print(f"wrote {args.output} (datasets.load_dataset({args.output!r}, {config!r}, split='train'))")
    return 0
