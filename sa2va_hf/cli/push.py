"""``sa2va-hf push``: export sources and upload them as a Hub dataset repository."""

from __future__ import annotations

import argparse
import tempfile

from .export import add_source_arguments, export

HELP = "export sources and push them to a Hub dataset repository"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--repo", required=True, help="the Hub dataset repository id, e.g. me/sa2va-data")
    parser.add_argument("--output", default=None, help="keep the export here (default: a temporary folder)")
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--large", action="store_true", help="upload_large_folder: resumable, for many GB")


def run(args: argparse.Namespace) -> int:
    from ..export.hub import push_folder

    with tempfile.TemporaryDirectory(prefix="sa2va-export-") as tmp:
        output = args.output or tmp
        exported = export(args, output)
        push_folder(output, args.repo, private=args.private or None, large=args.large)
    print(f"pushed {len(exported)} split(s) to https://huggingface.co/datasets/{args.repo}")
    return 0
