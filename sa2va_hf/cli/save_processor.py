"""``sa2va-hf save-processor``: a Sa2VA checkpoint's processor as a folder that
``AutoProcessor.from_pretrained(folder, trust_remote_code=True)`` loads without sa2va-hf."""

from __future__ import annotations

import argparse

from .args import output_folder

HELP = "save a checkpoint's processor as a folder that loads with trust_remote_code=True, no sa2va-hf needed"


def add_processor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a Sa2VA checkpoint folder (or Hub id) with config.json and the tokenizer")
    parser.add_argument("--template", default=None, help="override the config's chat template (phi3, qwen, ...)")
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="for checkpoints whose tokenizer is remote code (InternLM2)"
    )


def build_processor(args: argparse.Namespace):
    from ..export.checkpoint import processor_from_checkpoint

    return processor_from_checkpoint(args.checkpoint, template=args.template, trust_remote_code=args.trust_remote_code)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_processor_arguments(parser)
    parser.add_argument("--output", required=True, type=output_folder, help="the folder to write")


def run(args: argparse.Namespace) -> int:
    from ..export.processor import save_remote_code_processor

    save_remote_code_processor(build_processor(args), args.output)
    print(f"wrote {args.output} (AutoProcessor.from_pretrained({args.output!r}, trust_remote_code=True))")
    return 0
