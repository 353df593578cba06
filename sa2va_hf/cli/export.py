"""``sa2va-hf export``: built sources -> self-contained Parquet + a dataset card, loadable with ``load_dataset``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

HELP = "export sources as Parquet (images and videos embedded) with a dataset card"


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", help="source names (sa2va-hf build --list)")
    parser.add_argument("--data-dir", default="data", help="the Sa2VA data/ root")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--num-proc", type=int, default=None)
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="SOURCE.NAME=VALUE",
        help="a source option, VALUE in JSON (e.g. gcg_flickr.upstream_filters=false); repeatable",
    )
    parser.add_argument("--max-shard-mb", type=int, default=500, help="Parquet shard size (default 500 MB)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    parser.add_argument("--output", required=True, help="the folder to write (Parquet + README.md)")


def parse_options(items: list[str]) -> dict[str, dict]:
    from ..errors import Sa2VAError

    out: dict[str, dict] = {}
    for item in items:
        key, sep, value = item.partition("=")
        source, dot, name = key.partition(".")
        if not sep or not dot or not source or not name:
            raise Sa2VAError(f"--option must look like SOURCE.NAME=VALUE, got {item!r}")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value  # a bare string
        out.setdefault(source, {})[name] = parsed
    return out


def export(args: argparse.Namespace, output: str):
    from ..export.parquet import export_sources

    return export_sources(
        args.names,
        args.data_dir,
        output,
        cache_dir=args.cache_dir,
        num_proc=args.num_proc,
        max_shard_bytes=args.max_shard_mb << 20,
        options=parse_options(args.option),
        command=shlex.join(["sa2va-hf", *sys.argv[1:]]) if sys.argv[1:] else None,
    )


def run(args: argparse.Namespace) -> int:
    for split in export(args, args.output):
        print(
            f"{split.source}/{split.split}: {split.num_records} records, {len(split.files)} file(s), {split.num_bytes / 1e6:.1f} MB"
        )
    print(f"wrote {args.output} (load it with datasets.load_dataset({args.output!r}, NAME, split=...))")
    return 0
