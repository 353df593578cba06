"""``sa2va-hf push``: export sources and upload them as a Hub dataset repository.

What can be checked without building is checked first (the naming options, the repository id, the
token and the endpoint): a push that cannot succeed fails in one sentence before any work. An upload
that fails keeps the export and says where it is.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile

from .args import output_folder
from .export import add_card_arguments, add_source_arguments, export, export_options

HELP = "export sources and push them to a Hub dataset repository"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    add_card_arguments(parser)
    parser.add_argument("--repo", required=True, help="the Hub dataset repository id, e.g. me/sa2va-data")
    parser.add_argument(
        "--output", default=None, type=output_folder, help="keep the export here (default: a temporary folder)"
    )
    parser.add_argument("--private", action="store_true")
    parser.add_argument("--large", action="store_true", help="upload_large_folder: resumable, for many GB")


def run(args: argparse.Namespace) -> int:
    from ..errors import Sa2VAError
    from ..export.hub import check_can_push, first_line, push_folder

    checked = export_options(args)
    check_can_push(args.repo)
    output = args.output or tempfile.mkdtemp(prefix="sa2va-export-")
    try:
        exported = export(args, output, repo_id=args.repo, checked=checked)
    except BaseException:
        if not args.output:
            shutil.rmtree(output, ignore_errors=True)  # nothing worth keeping: it was never complete
        raise
    try:
        push_folder(output, args.repo, private=args.private or None, large=args.large)
    except Exception as e:  # noqa: BLE001 - whatever stopped the upload, the export stays
        raise Sa2VAError(
            f"the upload to {args.repo} failed ({first_line(e)}); the export is kept in {output}: "
            f"upload it with `hf upload {args.repo} {output} --repo-type dataset`"
        ) from None
    if not args.output:
        shutil.rmtree(output, ignore_errors=True)
    print(f"pushed {len(exported)} split(s) to https://huggingface.co/datasets/{args.repo}")
    return 0
