"""``sa2va-hf push-processor``: ``save-processor`` into a Hub model repository."""

from __future__ import annotations

import argparse
import tempfile

from .save_processor import add_processor_arguments, build_processor

HELP = "save a checkpoint's processor with its remote code and push it to a Hub model repository"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_processor_arguments(parser)
    parser.add_argument("--repo", required=True, help="the Hub model repository id")
    parser.add_argument("--private", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..export.hub import push_folder
    from ..export.processor import save_remote_code_processor

    with tempfile.TemporaryDirectory(prefix="sa2va-processor-") as tmp:
        save_remote_code_processor(build_processor(args), tmp)
        push_folder(tmp, args.repo, repo_type="model", private=args.private or None)
    print(f"pushed the processor to https://huggingface.co/{args.repo}")
    return 0
