"""``sa2va-hf export``: built sources -> self-contained Parquet + a dataset card, loadable with ``load_dataset``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from .args import DATA_DIR_HELP, output_folder, positive_int, source_name

HELP = "export sources as Parquet (images and videos embedded) with a dataset card"


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", type=source_name, help="source names (sa2va-hf build --list)")
    parser.add_argument("--data-dir", default="data", help=DATA_DIR_HELP)
    parser.add_argument("--cache-dir", type=output_folder, default=None, help="the datasets cache (default: HF's)")
    parser.add_argument("--num-proc", type=positive_int, default=None, help="processes building in parallel")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="SOURCE.NAME=VALUE",
        help="a source option, VALUE in JSON (e.g. gcg_flickr.upstream_filters=false); repeatable",
    )
    parser.add_argument("--max-shard-mb", type=positive_int, default=500, help="Parquet shard size (default 500 MB)")


def add_card_arguments(parser: argparse.ArgumentParser) -> None:
    """The name and dataset card of your own data (``folder``, ``finetune``): the same on export, convert, push."""
    group = parser.add_argument_group("your own data (folder, finetune): its name and dataset card")
    group.add_argument("--name", default=None, help="its config name and source column (default: the layout)")
    group.add_argument("--pretty-name", default=None, help="the card's title (default: --name)")
    group.add_argument("--description", default=None, help="what it holds, in a sentence or two")
    group.add_argument(
        "--license",
        default=None,
        help="a Hub licence id (cc-by-4.0, apache-2.0, ...: huggingface.co/docs/hub/repositories-licenses), "
        "or your licence's name (the card then says license: other)",
    )
    group.add_argument("--citation", default=None, type=citation, help="how to cite it (BibTeX), or @FILE to read it from FILE")


def card_arguments(args: argparse.Namespace, names: list[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """(``load_source`` options, card fields) per source from the naming options, for the one own-data
    source among ``names``."""
    from ..data.catalog import get_spec
    from ..errors import Sa2VAError
    from ..export.card import is_own_data

    given = {
        "pretty_name": args.pretty_name,
        "description": args.description,
        "license": args.license,
        "citation": args.citation,
    }
    given = {key: value for key, value in given.items() if value is not None}
    if args.name is None and not given:
        return {}, {}
    own = [name for name in names if is_own_data(get_spec(name))]
    if len(own) != 1:
        flags = (["--name"] if args.name else []) + [f"--{key.replace('_', '-')}" for key in given]
        raise Sa2VAError(
            f"{', '.join(flags)}: these describe one source of your own data (folder or finetune), but "
            f"{len(own)} are exported; upstream sources keep their publishers' names, licences and citations"
        )
    return ({own[0]: {"name": args.name}} if args.name else {}), ({own[0]: given} if given else {})


def citation(value: str) -> str:
    """The citation itself, or the text of FILE for ``@FILE`` (BibTeX itself starts ``@article{``)."""
    if not value.startswith("@") or "{" in value:
        return value
    try:
        with open(value[1:], encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise argparse.ArgumentTypeError(f"{value!r} names a file to read the citation from, which cannot be read: {e}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_source_arguments(parser)
    add_card_arguments(parser)
    parser.add_argument(
        "--output", required=True, type=output_folder, help="the folder to write (Parquet + README.md)"
    )


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


def export_options(args: argparse.Namespace) -> dict:
    """``export_sources``'s options from the command line, checked before anything is built."""
    from ..errors import Sa2VAError

    options = parse_options(args.option)
    named, card = card_arguments(args, args.names)
    for source, values in named.items():
        if options.get(source, {}).get("name", values["name"]) != values["name"]:
            raise Sa2VAError(f"--name {values['name']!r} and --option {source}.name disagree; give the name once")
        options.setdefault(source, {}).update(values)
    return {"options": options, "card": card}


def export(args: argparse.Namespace, output: str, *, repo_id: str | None = None, checked: dict | None = None):
    from ..export.parquet import export_sources

    return export_sources(
        args.names,
        args.data_dir,
        output,
        cache_dir=args.cache_dir,
        num_proc=args.num_proc,
        max_shard_bytes=args.max_shard_mb << 20,
        command=shlex.join(["sa2va-hf", *sys.argv[1:]]) if sys.argv[1:] else None,
        repo_id=repo_id,
        **(checked or export_options(args)),
    )


def run(args: argparse.Namespace) -> int:
    for split in export(args, args.output):
        print(
            f"{split.source}/{split.split}: {split.num_records} records, {len(split.files)} file(s), {split.num_bytes / 1e6:.1f} MB"
        )
    print(f"wrote {args.output} (load it with datasets.load_dataset({args.output!r}, NAME, split=...))")
    return 0
