"""``sa2va-hf convert``: your own data (a fine-tuning set or a folder) -> Parquet + card, ready for training."""

from __future__ import annotations

import argparse

from .args import existing_folder, output_folder, positive_int
from .export import add_card_arguments, card_arguments

HELP = "convert your own data (finetune format or a folder of images/masks/texts) to Parquet"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "layout", choices=["folder", "finetune"], help="folder: images/ masks/ texts; finetune: annotations.json"
    )
    parser.add_argument("data_dir", type=existing_folder, help="the dataset's own folder")
    parser.add_argument(
        "--output", required=True, type=output_folder, help="the folder to write (Parquet + README.md)"
    )
    add_card_arguments(parser)
    parser.add_argument(
        "--mask-frame",
        choices=["auto", "stored", "displayed"],
        default="auto",
        help="where masks of photos with an EXIF orientation were drawn: on the pixels as stored, on the image as "
        "viewers display it, or auto (told by their size; an error where it cannot be told)",
    )
    parser.add_argument("--cache-dir", type=output_folder, default=None, help="the datasets cache (default: HF's)")
    parser.add_argument("--num-proc", type=positive_int, default=None, help="processes building in parallel")


def run(args: argparse.Namespace) -> int:
    from ..export.parquet import export_sources

    options, card = card_arguments(args, [args.layout])
    options = {args.layout: {**options.get(args.layout, {}), "mask_frame": args.mask_frame}}
    for split in export_sources(
        [args.layout],
        args.data_dir,
        args.output,
        cache_dir=args.cache_dir,
        num_proc=args.num_proc,
        options=options,
        card=card,
    ):
        print(f"{split.config}/{split.split}: {split.num_records} records, {split.num_bytes / 1e6:.1f} MB")
    config = args.name or args.layout
    print(f"wrote {args.output} (datasets.load_dataset({args.output!r}, {config!r}, split='train'))")
    return 0
