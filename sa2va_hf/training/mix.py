"""Upstream's training mixes: which sources, how many times each (its ``repeats``).

A repeat is a copy of a source's rows with its own ``repeat`` number (a column); the transform's
plans depend on it, so the ten ReVOS repeats of one video draw ten different samples, as upstream's
ten passes over it do. :func:`with_repeats` marks one dataset, :func:`upstream_mix` builds a recipe's
whole mix from the sources you have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from ..errors import Sa2VAError

_V1 = {
    "refcoco": 4,
    "refcoco_plus": 4,
    "refcocog": 4,
    "llava_665k": 1,
    "mevis": 4,
    "revos": 10,
    "ref_youtube_vos": 4,
    "chat_univi": 1,
    "ref_sav": 4,
    "gcg_openpsg": 1,
    "gcg_grandf": 10,
    "gcg_flickr": 1,
    "gcg_refcocog": 1,
    "osprey_conversation": 1,
    "osprey_detail_description": 1,
    "osprey_part_level": 1,
    "osprey_short_form": 1,
    "osprey_lvis_positive_negative": 1,
}
_V2 = {
    "refcoco": 5,
    "refcoco_plus": 5,
    "refcocog": 4,
    "llava_665k": 1,
    "revos": 10,
    "mevis": 4,
    "ref_youtube_vos": 4,
    "ref_sav": 4,
    "chat_univi": 1,
    "gcg_refcocog": 5,
    "gcg_grandf": 50,
    "gcg_flickr": 5,
    "gcg_openpsg": 5,
    "osprey_conversation": 1,
    "osprey_detail_description": 1,
}
_V2_14B = {name: 2 * n if name.startswith("gcg_") else n for name, n in _V2.items()}

#: Repeat counts of upstream's configs. ``v1``: ``projects/llava_sam2/configs/sa2va_{1,4,8}b.py``
#: (RefCOCO / + / g are listed four times in its ConcatDataset). ``v2``: ``projects/sa2va/configs/
#: sa2va_in30_{2,8}b.py``; ``v2-14b``: ``sa2va_in30_14b.py`` (v2's counts, GCG repeated twice as often);
#: ``v2-qwen``: ``sa2va_qwenvl25/sa2va_qwen25_{3,7}b.py``, ``sa2va_qwenvl3/sa2va_qwen3_4b.py`` (v2-14b's
#: counts without the Osprey sources; LLaVA's text-only entries are left out by ``transform.filter``);
#: ``v2-finetune``: ``sa2va_finetune.py`` (and ``sa2va_qwen_finetune.py``).
UPSTREAM_REPEATS = MappingProxyType(
    {
        "v1": MappingProxyType(_V1),
        "v2": MappingProxyType(_V2),
        "v2-14b": MappingProxyType(_V2_14B),
        "v2-qwen": MappingProxyType({name: n for name, n in _V2_14B.items() if not name.startswith("osprey_")}),
        "v2-finetune": MappingProxyType({"finetune": 100}),
    }
)


def with_repeats(dataset: Any, repeats: float, *, seed: int = 0) -> Any:
    """``dataset`` ``repeats`` times, each copy with its ``repeat`` number in a ``repeat`` column.

    A fractional count (v2 allows them: ``int(len * repeats)`` rows) ends with a seeded subset of the
    rows (for 2.5: copies 0 and 1, then half of the rows as copy 2).
    """
    from datasets import concatenate_datasets

    if isinstance(repeats, bool) or not isinstance(repeats, (int, float)) or not 0 < repeats < math.inf:
        raise Sa2VAError(f"repeats must be a positive number, got {repeats!r}")
    if "repeat" in dataset.column_names:
        raise Sa2VAError("the dataset already has a 'repeat' column; mark repeats once")
    n = len(dataset)
    total = int(n * repeats)
    copies = []
    for r in range(math.ceil(total / n) if n else 0):
        rows = min(n, total - r * n)
        part = dataset if rows == n else dataset.select(np.sort(np.random.default_rng([seed, r]).permutation(n)[:rows]))
        copies.append(part.add_column("repeat", [r] * rows))
    if not copies:
        return dataset.add_column("repeat", [])
    return copies[0] if len(copies) == 1 else concatenate_datasets(copies)


def upstream_mix(
    sources: Mapping[str, Any], recipe: str = "v1", *, repeats: Mapping[str, float] | None = None, seed: int = 0
) -> Any:
    """A recipe's training mix from the sources you have: each dataset repeated as upstream's config
    says (``repeats`` adds or overrides counts, e.g. your own data), then concatenated (not shuffled).

    ``sources``: source name -> ``Dataset`` (e.g. ``load_source(name, data, split="train")``). A source
    the recipe does not train on, without a count in ``repeats``, is an error.
    """
    from datasets import concatenate_datasets

    if recipe not in UPSTREAM_REPEATS:
        raise Sa2VAError(f"recipe must be one of {sorted(UPSTREAM_REPEATS)}, got {recipe!r}")
    counts = {**UPSTREAM_REPEATS[recipe], **dict(repeats or {})}
    unknown = sorted(set(sources) - set(counts))
    if unknown:
        raise Sa2VAError(
            f"{unknown} not in the {recipe!r} mix ({sorted(UPSTREAM_REPEATS[recipe])}); give their counts with repeats="
        )
    if not sources:
        raise Sa2VAError("no source to mix")
    parts = [with_repeats(ds, counts[name], seed=seed) for name, ds in sources.items()]
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)
