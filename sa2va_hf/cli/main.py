"""The ``sa2va-hf`` command line: one module per command, each with ``HELP``, ``add_arguments`` and ``run``."""

from __future__ import annotations

import argparse
import sys

from . import bench, build, convert, demo, export, info, push, push_processor, save_processor, show

COMMANDS = {
    "demo": demo,
    "show": show,
    "build": build,
    "info": info,
    "export": export,
    "convert": convert,
    "push": push,
    "save-processor": save_processor,
    "push-processor": push_processor,
    "bench": bench,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sa2va-hf", description="Sa2VA data layer: build sources, look at samples, time the processor."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        command = sub.add_parser(name, help=module.HELP)
        module.add_arguments(command)
        command.set_defaults(func=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..errors import Sa2VAError

    try:
        return args.func(args)
    except Sa2VAError as e:
        print(f"sa2va-hf: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
