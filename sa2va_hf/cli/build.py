"""``sa2va-hf build``: build sources into the ``datasets`` cache and print a per-split summary."""

from __future__ import annotations

import argparse

HELP = "build sources into the datasets cache and summarise them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", help="source names (none, or --list: print every name)")
    parser.add_argument("--data-dir", default="data", help="the Sa2VA data/ root")
    parser.add_argument("--split", default=None)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--num-proc", type=int, default=None)
    parser.add_argument("--list", action="store_true")


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
