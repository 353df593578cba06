"""Sampling plans: every random choice of a training sample, drawn once, as a small JSON dict.

A plan holds at least

* ``text_ids``: indices into ``record["texts"]`` the sample uses, in turn order;
* ``question_ids`` / ``answer_ids``: per turn the transform writes from templates, the index into
  the recipe's template list (:mod:`sa2va_hf.training.prompts`), ``None`` where that turn's
  question (or answer) is the record's own text; empty for sources whose turns are the record's own
  conversation (Osprey conversation files, LLaVA);
* ``frame_ids``: indices into the record's frames (``[0]`` for an image, ``[]`` for text only);

plus where it came from (``source``, ``id``, ``recipe``, ``epoch``, ``repeat``), so a sample can be
rebuilt from its record and its plan alone.

Two generators feed a plan, both derived from (seed, source, record id, repeat) by hashing, never
from Python's ``hash`` (salted per process): the *sample* stream also takes the epoch; the *run*
stream does not, for choices upstream makes once when it builds its dataset (RefCOCO's sentence per
object). So the same inputs give the same plan in any worker, on any machine.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import PlanError

PLAN_KEYS = ("text_ids", "question_ids", "answer_ids", "frame_ids")
_SAMPLE_STREAM, _RUN_STREAM = 1, 2


def _words(text: str) -> list[int]:
    """A string as eight 32-bit words (SHA-256): stable across processes, unlike ``hash``."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 32, 4)]


@dataclass
class PlanRandom:
    """The two generators a plan draws from: ``sample`` (per epoch) and ``run`` (fixed for a run)."""

    sample: np.random.Generator
    run: np.random.Generator

    @classmethod
    def derive(cls, seed: int, epoch: int, source: str, record_id: str, repeat: int) -> PlanRandom:
        key = [int(seed) & 0xFFFFFFFF, int(seed) >> 32 & 0xFFFFFFFF, int(repeat), *_words(f"{source}\0{record_id}")]
        run = np.random.default_rng(np.random.SeedSequence([_RUN_STREAM, *key]))
        sample = np.random.default_rng(np.random.SeedSequence([_SAMPLE_STREAM, int(epoch), *key]))
        return cls(sample=sample, run=run)

    @classmethod
    def coerce(cls, rng: Any) -> PlanRandom:
        """A :class:`PlanRandom` from one: a Generator or an int seed feeds both streams."""
        if isinstance(rng, PlanRandom):
            return rng
        if isinstance(rng, np.random.Generator):
            return cls(sample=rng, run=rng)
        if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
            gen = np.random.default_rng(int(rng))
            return cls(sample=gen, run=gen)
        raise PlanError(f"rng must be a numpy Generator, an int seed or a PlanRandom, got {type(rng).__name__}")


def draw(rng: np.random.Generator, n: int) -> int:
    """One index in ``range(n)``."""
    return int(rng.integers(n))


def check_plan(plan: Any, record: Mapping[str, Any], n_frames: int) -> dict:
    """A plan's indices fit its record: each list present, ints (or ``None`` for template ids), in range."""
    where = f" (source {record.get('source')!r}, record {record.get('id')!r})"
    if not isinstance(plan, Mapping):
        raise PlanError(f"a plan must be a dict, got {type(plan).__name__}{where}")
    missing = [k for k in PLAN_KEYS if k not in plan]
    if missing:
        raise PlanError(f"plan lacks {missing}; it needs {list(PLAN_KEYS)}{where}")
    for key, limit in (("text_ids", len(record["texts"])), ("frame_ids", n_frames)):
        values = plan[key]
        if not isinstance(values, (list, tuple)) or not all(_is_index(v, limit) for v in values):
            raise PlanError(f"plan {key} must be indices below {limit}, got {values!r:.80}{where}")
    for key in ("question_ids", "answer_ids"):
        values = plan[key]
        if not isinstance(values, (list, tuple)) or not all(v is None or _is_index(v, None) for v in values):
            raise PlanError(f"plan {key} must be non-negative ints or null, got {values!r:.80}{where}")
    try:
        json.dumps(dict(plan))
    except (TypeError, ValueError) as e:
        raise PlanError(f"a plan must be JSON-serialisable: {e}{where}") from None
    return dict(plan)


def template(templates: tuple[str, ...], index: Any, what: str, where: str) -> str:
    """``templates[index]``, or a :class:`PlanError` naming the list."""
    if not _is_index(index, len(templates)):
        raise PlanError(f"{what} index {index!r} is outside its {len(templates)} templates{where}")
    return templates[index]


def _is_index(value: Any, limit: int | None) -> bool:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0
    return ok and (limit is None or value < limit)
