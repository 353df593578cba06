"""The ``sa2va-hf`` command line: one module per command, each with ``HELP``, ``add_arguments`` and ``run``.

Parsing imports nothing heavy (``sa2va-hf --help`` and argument errors take a fraction of a second); a
command imports what it needs when it runs. A user's mistake -- a wrong argument, bad input data, a path
of the wrong kind -- is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import sys

from . import bench, build, convert, demo, export, info, push, push_processor, save_processor, show
from .args import Parser

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


def build_parser() -> Parser:
    parser = Parser(
        prog="sa2va-hf",
        description="Sa2VA data layer: build sources, look at records, export them, save processors, time them.",
        epilog="`sa2va-hf COMMAND --help` tells what a command takes.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parser.commands = {}
    for name, module in COMMANDS.items():
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(func=module.run)
        parser.commands[name] = command
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # said by the command's own parser: its options are the ones to suggest
            parser.commands[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as e:  # --help (0) or an argument error (2, one line already printed)
        return e.code if isinstance(e.code, int) else 2
    # a progress bar only for steps that last (datasets' own bars included: tqdm reads TQDM_* defaults)
    os.environ.setdefault("TQDM_DELAY", "1")
    from ..errors import Sa2VAError

    try:
        return args.func(args)
    except (Sa2VAError, OSError) as e:  # bad input, a path that cannot be read or written: the user's to fix
        print(f"sa2va-hf: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sa2va-hf: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
