"""``sa2va-hf push-processor``: ``save-processor`` into a Hub model repository.

Checked before the checkpoint is read, as ``push`` does (repository id, token, endpoint). A repository
that already has a ``README.md`` (the model's own card) keeps it: the processor's requirements are in
its ``requirements.txt``.
"""

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
    from huggingface_hub import HfApi

    from ..errors import Sa2VAError
    from ..export.hub import check_can_push, first_line, push_folder
    from ..export.processor import save_remote_code_processor

    check_can_push(args.repo)
    processor = build_processor(args)
    with tempfile.TemporaryDirectory(prefix="sa2va-processor-") as tmp:
        save_remote_code_processor(processor, tmp, repo_id=args.repo)
        api = HfApi()
        try:
            api.create_repo(args.repo, repo_type="model", private=args.private or None, exist_ok=True)
            keep_card = api.file_exists(args.repo, "README.md", repo_type="model")
            push_folder(
                tmp, args.repo, repo_type="model", api=api, ignore_patterns=["README.md"] if keep_card else None
            )
        except Exception as e:  # noqa: BLE001 - one sentence, whatever stopped the upload
            raise Sa2VAError(f"the upload to {args.repo} failed ({first_line(e)})") from None
    print(f"pushed the processor to https://huggingface.co/{args.repo}")
    if keep_card:
        print("kept the repository's README.md; the processor's requirements are in requirements.txt")
    return 0
