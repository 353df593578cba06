"""``sa2va-hf build``: build sources into the ``datasets`` cache and print a per-split summary."""

from __future__ import annotations

import argparse

from .args import DATA_DIR_HELP, output_folder, positive_int, source_name

HELP = "build sources into the datasets cache and summarise them"


def add_source_reading_arguments(parser: argparse.ArgumentParser) -> None:
    """--data-dir, --split, --cache-dir, --num-proc: how ``load_source`` is called (build, info)."""
    parser.add_argument("--data-dir", default="data", help=DATA_DIR_HELP)
    parser.add_argument("--split", default=None, help="one split (default: every split the source has)")
    parser.add_argument("--cache-dir", type=output_folder, default=None, help="the datasets cache (default: HF's)")
    parser.add_argument("--num-proc", type=positive_int, default=None, help="processes building in parallel")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", type=source_name, help="source names (none, or --list: print every name)")
    add_source_reading_arguments(parser)
    parser.add_argument("--list", action="store_true", help="print every source name")


def run(args: argparse.Namespace) -> int:
    from ..data import list_sources, load_source
    from .info import _lengths

    if args.list or not args.names:
        print("\n".join(list_sources()))
        return 0
    for name in args.names:
        built = load_source(name, args.data_dir, split=args.split, cache_dir=args.cache_dir, num_proc=args.num_proc)
        splits = {args.split: built} if args.split else dict(built)
        for split, ds in splits.items():
            # list lengths from the Arrow columns: reading ds["regions"] would load every RLE into Python
            regions = int(_lengths(ds.data.column("regions")).sum())
            texts = int(_lengths(ds.data.column("texts")).sum())
            print(f"{name}/{split}: {ds.num_rows} records, {regions} regions, {texts} texts")
    return 0
