"""The dataset card (``README.md``) of an export, written on the Hub's dataset-card template
(``huggingface_hub.DatasetCard.from_template``).

The YAML header: ``configs`` (per source and split, its files by name), ``dataset_info`` (features,
record counts), ``license``, ``pretty_name``, ``task_categories``, ``size_categories``. The body: what
each config holds, how to load it (with the real repo id or folder) and decode its masks with
pycocotools alone, how it was built, and whom to cite. Upstream sources keep their own homepages,
licences and citations; your own data (``folder``, ``finetune``) gets what you say of it
(:data:`CARD_FIELDS`: its pretty name, description, licence and citation), never Sa2VA's.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
from collections.abc import Mapping

from ..data.catalog import SourceSpec, get_spec
from ..errors import Sa2VAError

__all__ = ["CARD_FIELDS", "HUB_LICENSES", "card_text", "check_card_info", "is_own_data", "write_card"]

#: What a user may say about their own data (``export_sources(card=...)``, ``--pretty-name`` ...).
CARD_FIELDS = ("pretty_name", "description", "license", "citation")

#: The licence ids the Hub knows (https://huggingface.co/docs/hub/repositories-licenses); any other
#: licence is ``license: other`` with a ``license_name``.
HUB_LICENSES = frozenset(
    """apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc
    cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0
    cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0
    cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c
    ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openmdw-1.0 openrail++ osl-3.0 postgresql ofl-1.1 ncsa
    unlicense zlib pddl lgpl-lr deepfloyd-if-license fair-noncommercial-research-license llama2 llama3
    llama3.1 llama3.2 llama3.3 llama4 grok2-community gemma unknown other""".split()
)

#: The Hub task categories of each family's records.
TASKS = {
    "osprey": ("image-text-to-text",),
    "describe_anything": ("image-text-to-text",),
    "refcoco": ("image-segmentation",),
    "gcg": ("image-segmentation", "image-text-to-text"),
    "refvos": ("image-segmentation", "video-text-to-text"),
    "ref_sav": ("image-segmentation", "video-text-to-text"),
    "llava": ("image-text-to-text",),
    "chat_univi": ("video-text-to-text",),
    "folder": ("image-segmentation",),
    "finetune": ("image-segmentation",),
}

#: The Hub's size categories: (upper bound, name).
SIZES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
)

UPSTREAM_TITLE = "Sa2VA training sources"
NOT_STATED = "[More Information Needed]"  # the template's own words for a field left open
NO_DESCRIPTION = "no description given (`--description`)"


def is_own_data(spec: SourceSpec) -> bool:
    """A source of the user's own data (``folder``, ``finetune``): it is exported under the user's name."""
    return "source_name" in {f.name for f in dataclasses.fields(spec.options)}


def check_card_info(source: str, info: Mapping[str, object] | None) -> dict[str, str]:
    """What the user says of the source ``source``, checked: only own data takes it, each field a string."""
    info = {k: v for k, v in (info or {}).items() if v is not None}
    if not info:
        return {}
    unknown = sorted(set(info) - set(CARD_FIELDS))
    if unknown:
        raise Sa2VAError(f"unknown dataset-card field(s) {unknown} for {source!r}; known: {list(CARD_FIELDS)}")
    if not is_own_data(get_spec(source)):
        raise Sa2VAError(
            f"{source!r} is an upstream source: its card keeps its publisher's name, licence and citation; "
            f"{', '.join(sorted(info))} describe your own data (folder, finetune)"
        )
    out = {}
    for key, value in info.items():
        if not isinstance(value, str) or not value.strip():
            raise Sa2VAError(f"the dataset card's {key} for {source!r} must be a non-empty string, got {value!r}")
        out[key] = value.strip()
    return out


def _license_tag(text: str) -> str:
    """The Hub licence id a licence statement starts with (``cc-by-nc-4.0 (...)``), else ``other``."""
    first = text.split(" ", 1)[0].strip(";,").lower()
    return first if first in HUB_LICENSES else "other"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "other"


def size_category(num_records: int) -> str:
    return next((name for bound, name in SIZES if num_records < bound), "n>1B")


@dataclasses.dataclass
class _Config:
    """One config of the export as the card shows it."""

    name: str
    spec: SourceSpec
    splits: Mapping[str, Mapping]
    info: Mapping[str, str]  # the user's card fields (own data only)

    @property
    def own(self) -> bool:
        return is_own_data(self.spec)

    @property
    def title(self) -> str:
        return self.info.get("pretty_name") or self.name

    @property
    def license_text(self) -> str:
        if self.own:
            return self.info.get("license") or "not stated"
        return self.spec.license

    @property
    def license_id(self) -> str:
        if self.own:
            given = self.info.get("license")
            return "unknown" if given is None else (given.lower() if given.lower() in HUB_LICENSES else "other")
        return _license_tag(self.spec.license)

    @property
    def description(self) -> str:
        if self.own:
            return self.info.get("description") or NO_DESCRIPTION
        return self.spec.description

    @property
    def citation(self) -> str:
        return self.info.get("citation", "") if self.own else self.spec.citation

    @property
    def num_records(self) -> int:
        return sum(entry["num_records"] for entry in self.splits.values())


def _configs(manifest: Mapping[str, Mapping[str, Mapping]]) -> list[_Config]:
    out = []
    for name, splits in manifest.items():
        first = next(iter(splits.values()))
        out.append(_Config(name, get_spec(first["source"]), splits, dict(first.get("card") or {})))
    return out


def _metadata(configs: list[_Config]):
    from huggingface_hub import DatasetCardData

    from ..data.schema import features

    licenses = sorted({c.license_id for c in configs})
    # the Hub names one "other" licence: the user's, when no upstream source's licence is "other" too
    other = [c for c in configs if c.license_id == "other"]
    named = [c.info["license"] for c in other if c.own]
    tasks = sorted({task for c in configs for task in TASKS.get(c.spec.family, ())})
    return DatasetCardData(
        pretty_name=_pretty_name(configs),
        license=licenses[0] if len(licenses) == 1 else licenses,
        license_name=_slug(named[0]) if len(named) == len(other) == 1 else None,
        task_categories=tasks or None,
        size_categories=size_category(sum(c.num_records for c in configs)),
        tags=["sa2va-hf", "referring-segmentation"],
        configs=[
            {
                "config_name": c.name,
                # the files by name: their names carry their digests (see sa2va_hf.export.parquet)
                "data_files": [{"split": split, "path": list(entry["files"])} for split, entry in c.splits.items()],
            }
            for c in configs
        ],
        dataset_info=[
            {
                "config_name": c.name,
                "features": features()._to_yaml_list(),  # one list per config: the YAML has no &id001 aliases
                "splits": [
                    {"name": split, "num_bytes": entry["num_bytes"], "num_examples": entry["num_records"]}
                    for split, entry in c.splits.items()
                ],
            }
            for c in configs
        ],
    )


def _pretty_name(configs: list[_Config]) -> str:
    titles = [c.title for c in configs if c.own]
    if any(not c.own for c in configs):
        titles.append(UPSTREAM_TITLE)
    return ", ".join(titles)


def _table(configs: list[_Config]) -> str:
    rows = ["| config | records | what | licence | homepage |", "|---|---|---|---|---|"]
    for c in configs:
        counts = ", ".join(f"{split} {entry['num_records']:,}" for split, entry in c.splits.items())
        what = c.description.replace("\n", " ")
        homepage = "" if c.own else c.spec.homepage
        rows.append(f"| `{c.name}` | {counts} | {what} | {c.license_text} | {homepage} |")
    return "\n".join(rows)


def _usage(configs: list[_Config], location: str) -> str:
    first = configs[0]
    split = next(iter(first.splits))
    return f"""```python
from datasets import load_dataset

ds = load_dataset({location!r}, {first.name!r}, split={split!r})
ds_streamed = load_dataset({location!r}, {first.name!r}, split={split!r}, streaming=True)
```

Masks are COCO compressed RLE (`{{"size": [height, width], "counts": str}}`, one per frame of a
region, null where the region is absent); `pycocotools` decodes them as they are:

```python
from pycocotools import mask as mask_utils

record = ds[0]
image = record["frames"][0]  # a PIL image (video records: `record["video"]["bytes"]`, an mp4, with `frame_indices`)
masks = [mask_utils.decode(rle) for region in record["regions"] for rle in region["masks"] if rle is not None]
```

No sa2va-hf is needed to read the records. To turn them into Sa2VA training samples (any checkpoint
family's inputs, the upstream recipes): `pip install sa2va-hf`, then `sa2va_hf.training`."""


def _structure(configs: list[_Config]) -> str:
    return f"""Each config is one source, each split a list of Parquet files (`<config>/<split>-*.parquet`, images
and videos embedded). Every record is in the canonical sa2va-hf schema: `id`, `source`, `frames`
(images, embedded), `video` (an embedded video file, or null) and `frame_indices` (its annotated
frames), `height`, `width`, `regions` (per region: `id`, one COCO RLE per frame or null, `bbox`,
`label`), `texts` (`text`, `region_ids`, `start`/`end` span in `caption`), `caption`,
`conversations`.

{_table(configs)}"""


def _citations(configs: list[_Config]) -> str:
    # per citation the configs that ask for it, in the manifest's order (sources of one family share one)
    cited: dict[str, list[str]] = {}
    for c in configs:
        if c.citation:
            cited.setdefault(c.citation, []).append(c.name)
    if not cited:
        return NOT_STATED
    if len(cited) == 1 and len(configs) == 1:
        return f"```\n{next(iter(cited))}\n```"
    return "\n".join(f"- {', '.join(f'`{s}`' for s in names)}: {text}" for text, names in cited.items())


def card_text(
    manifest: Mapping[str, Mapping[str, Mapping]],
    command: str | None = None,
    *,
    location: str = "path/to/this/folder",
    repo_id: str | None = None,
) -> str:
    """The card of an export whose manifest is ``manifest``; its snippet loads ``repo_id`` if given, else
    ``location`` (the export folder)."""
    from huggingface_hub import DatasetCard

    from .. import __version__

    configs = _configs(manifest)
    own = [c for c in configs if c.own]
    upstream = [c for c in configs if not c.own]
    built = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d")
    summary = [f"{c.title}: {c.description}" for c in own]
    if upstream:
        summary.append(
            f"{len(upstream)} Sa2VA training source(s) in one schema: {', '.join(c.name for c in upstream)}."
        )
    homepages = [f"https://huggingface.co/datasets/{repo_id}"] if repo_id else []
    homepages += [f"`{c.name}`: {c.spec.homepage}" for c in upstream if c.spec.homepage]
    licences = "; ".join(f"`{c.name}`: {c.license_text}" for c in configs)
    if upstream:
        licences += ". Licences are as each publisher states them; images and videos keep their own sources' terms"
    card = DatasetCard.from_template(
        _metadata(configs),
        pretty_name=_pretty_name(configs),
        dataset_summary="\n\n".join(summary),
        dataset_description=(
            "Images (and videos) with region masks, referring texts and conversations, in the record schema "
            "of sa2va-hf (the data layer of Sa2VA-style models): one config per source, see *Dataset Structure*."
        ),
        curators="each source's publisher (homepages below)" if upstream and not own else None,
        license=licences,
        repo=", ".join(homepages) or None,
        direct_use=_usage(configs, repo_id or location),
        dataset_structure=_structure(configs),
        data_collection_and_processing_section=(
            f"sa2va-hf {__version__}, {built}: the native files of each source parsed by its "
            "`sa2va_hf.data.sources` parser (`load_source`), then written as Parquet with images and videos "
            f"embedded (`sa2va_hf.export.parquet`).{f' Command: `{command}`.' if command else ''}"
        ),
        source_data_producers_section="each upstream source's publisher (homepages above)"
        if upstream and not own
        else None,
        citation_bibtex=_citations(configs),
    )
    return str(card)


def write_card(
    output: str,
    manifest: Mapping[str, Mapping[str, Mapping]],
    command: str | None = None,
    *,
    repo_id: str | None = None,
) -> str:
    path = os.path.join(output, "README.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(card_text(manifest, command, location=output, repo_id=repo_id))
    return path
