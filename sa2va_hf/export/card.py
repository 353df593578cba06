"""The dataset card (``README.md``) of an export: YAML ``configs`` per source and split, the features,
record counts, and per source its homepage, licence and citation, and how it was built."""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping

from ..data.catalog import get_spec

__all__ = ["card_text", "write_card"]


def _no_aliases_dumper():
    import yaml

    class NoAliases(yaml.SafeDumper):
        """Every config repeats the features in full: no ``&id001`` anchors in a card."""

        def ignore_aliases(self, data):
            return True

    return NoAliases


def _yaml_header(manifest: Mapping[str, Mapping[str, Mapping]]) -> str:
    import yaml

    from ..data.schema import features

    feature_yaml = features()._to_yaml_list()  # the YAML form datasets 3.x and >= 4 both read
    configs, infos = [], []
    for source, splits in manifest.items():
        configs.append(
            {
                "config_name": source,
                "data_files": [{"split": split, "path": f"{source}/{split}-*.parquet"} for split in splits],
            }
        )
        infos.append(
            {
                "config_name": source,
                "features": feature_yaml,
                "splits": [
                    {"name": split, "num_bytes": entry["num_bytes"], "num_examples": entry["num_records"]}
                    for split, entry in splits.items()
                ],
            }
        )
    licenses = sorted({_license_tag(_spec(splits).license) for splits in manifest.values()})
    header = {"configs": configs, "dataset_info": infos, "license": licenses or ["other"], "tags": ["sa2va-hf"]}
    return yaml.dump(header, Dumper=_no_aliases_dumper(), sort_keys=False, allow_unicode=True)


def _spec(splits: Mapping[str, Mapping]):
    """The catalog source a config of the export was built from."""
    return get_spec(next(iter(splits.values()))["source"])


def _license_tag(text: str) -> str:
    """The Hub licence id a licence statement starts with (``cc-by-nc-4.0 (...)``), else ``other``."""
    first = text.split(" ", 1)[0].strip(";,")
    known = {"apache-2.0", "cc-by-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc-by-sa-4.0", "mit"}
    return first if first in known else "other"


def card_text(manifest: Mapping[str, Mapping[str, Mapping]], command: str | None = None) -> str:
    from .. import __version__

    rows = []
    for source, splits in manifest.items():
        spec = _spec(splits)
        counts = ", ".join(f"{split} {entry['num_records']:,}" for split, entry in splits.items())
        rows.append(f"| `{source}` | {counts} | {spec.description} | {spec.license} | {spec.homepage} |")
    # per citation the sources that ask for it, in the manifest's order (sources of one family share one)
    cited: dict[str, list[str]] = {}
    for source, splits in manifest.items():
        if _spec(splits).citation:
            cited.setdefault(_spec(splits).citation, []).append(source)
    citations = [f"{', '.join(f'`{s}`' for s in sources)}: {text}" for text, sources in cited.items()]
    first = next(iter(manifest), "SOURCE")
    built = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d")
    body = f"""
# Sa2VA training sources (sa2va-hf export)

Every record is in the canonical sa2va-hf schema: `id`, `source`, `frames` (images, embedded),
`video` (an embedded video file, or null) and `frame_indices` (its annotated frames), `height`,
`width`, `regions` (per region: `id`, one COCO RLE per frame or null, `bbox`, `label`), `texts`
(`text`, `region_ids`, `start`/`end` span in `caption`), `caption`, `conversations`. Masks are
COCO compressed RLE with ASCII string counts.

| source | records | what | licence | homepage |
|---|---|---|---|---|
{chr(10).join(rows)}

Licences are as each publisher states them; read them at the homepage before use. Images and
videos keep their own sources' terms.

## Load

```python
from datasets import load_dataset

ds = load_dataset("path/or/repo", "{first}", split="{next(iter(manifest.get(first, {"train": 0})))}")
ds = load_dataset("path/or/repo", "{first}", split="{next(iter(manifest.get(first, {"train": 0})))}", streaming=True)
```

No project code is needed to read the records. To decode masks and video frames, and to turn a
record into a Sa2VA training sample: `pip install sa2va-hf` (`sa2va_hf.masks.decode`,
`sa2va_hf.data.schema.record_frames`, `sa2va_hf.Sa2VAProcessor`).

## How it was built

sa2va-hf {__version__}, {built}: the native files of each source parsed by its `sa2va_hf.data.sources`
parser (`load_source`), then written as Parquet with images and videos embedded
(`sa2va_hf.export.parquet`).{f" Command: `{command}`." if command else ""}

## Citations

Per source, the work to cite:

{chr(10).join(f"- {c}" for c in citations)}
"""
    return f"---\n{_yaml_header(manifest)}---\n{body}"


def write_card(output: str, manifest: Mapping[str, Mapping[str, Mapping]], command: str | None = None) -> str:
    path = os.path.join(output, "README.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write(card_text(manifest, command))
    return path
