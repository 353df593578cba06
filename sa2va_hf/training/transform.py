"""``Sa2VATrainingTransform``: any record -> the training sample upstream Sa2VA would have built.

One entry point for every source: the record's ``source`` names its catalog family, whose transform
(:mod:`sa2va_hf.training.transforms`) turns record + plan into a :class:`SampleSpec` (text and what
the pixels are made of); this engine then runs the processor's media step, puts the image string
where ``<image>`` stands and tokenizes as the recipe's encoder does.

Usable as ``Dataset.with_transform`` / ``set_transform`` (a batch: a dict of lists, returned as a dict
of lists; keys a sample lacks are ``None``), in a ``torch`` ``DataLoader`` with workers (the
transform pickles; plans are derived from (seed, epoch, source, record id, repeat), never from a
worker's state), and on a single record (a dict -> a sample).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import masks as masks_codec
from ..data.catalog import get_spec
from ..data.schema import record_frames, region_mask
from ..errors import PlanError, Sa2VAError, ShapeMismatchError
from ..image_processing_sa2va import convert_tensors
from ..prompt_grid import segmentations_to_grid
from ..threads import resolve_num_threads
from ..tiling import normalization_table
from ..tokens import IMAGE_PLACEHOLDER, SEG_TOKEN, check_context_tokens, expand_placeholders
from .compact import CompactMasks, CompactTiles
from .control_tokens import (
    CONTROL_TOKEN_POLICIES,
    MARK_OPEN,
    MARKS_REASON,
    SEG_MISMATCH_POLICIES,
    control_token_list,
    encode_marked,
    found_tokens,
    mark_record,
    marks_in,
    strip_marks,
    text_reason,
    token_pattern,
)
from .conversations import IGNORE_INDEX, check_max_length, encode_pieces, render_pieces, turn_pieces
from .fixes import check_fixes
from .plan import PlanRandom, check_plan
from .prompts import RECIPE_PROMPTS
from .records import check_record
from .transforms import family_transforms
from .transforms.base import RECIPES, FamilyTransform, SampleSpec, record_texts, refuse, where


class Sa2VATrainingTransform:
    """Records of any source -> Sa2VA training samples, as upstream's dataset classes build them.

    Args:
        processor: a :class:`~sa2va_hf.Sa2VAProcessor` (image processor, tokenizer, chat template) of
            any family: its family writes the image strings and makes the pixels (InternVL tiles,
            Qwen-VL patches with ``image_grid_thw``, LLaVA 336 images).
        recipe: ``"v1"`` (magic-research/Sa2VA, configs ``sa2va_*b.py``; InternVL only) or ``"v2"``
            (bytedance/Sa2VA: InternVL, Qwen-VL configs; LLaVA with base.py's settings).
        seed: the run's seed; with the epoch, source, record id and repeat it fixes every plan.
        fixes: names of upstream defects to fix (:data:`~sa2va_hf.training.fixes.FIXES`); none by
            default: the samples are upstream's, defects included.
        max_length: ``input_ids`` / ``labels`` are cut to this (upstream 8192); a cut through image
            tokens is an error naming the record.
        families: your own sources: ``source`` column value -> family (``{"my_kitchen": "folder"}``);
            catalog sources need nothing.
        return_tensors: ``None`` (numpy arrays, token lists) or ``"pt"``.
        control_tokens: what a control token of the tokenizer written in a record's text (``<|im_end|>``,
            ``<img>``, ``<p>`` ...: :mod:`~sa2va_hf.training.control_tokens`) gets: ``"error"`` (default; a
            departure from upstream) refuses the record (``drop_reason``, counted by ``filter``);
            ``"upstream"`` tokenizes it as upstream does (it becomes that token); ``"plain"`` reads the
            record's text as plain text (the token's characters, never the token).
        seg_mismatch: a sample whose ``[SEG]`` tokens are not one per mask (per object for videos):
            ``"error"`` (default; a departure from upstream) refuses it -- a record whose text holds
            ``[SEG]`` by its drop reason, a sample cut by ``max_length`` through its answers when it is
            built; ``"upstream"`` trains it as upstream does (the model pairs masks and ``[SEG]`` in order).
        compact_samples: samples carry their tiles as uint8 (InternVL) and their masks as checked RLEs
            (:mod:`~sa2va_hf.training.compact`) until :class:`~sa2va_hf.training.collator.Sa2VACollator` batches them: a
            ``DataLoader`` worker then hands the main process a quarter of the tile bytes and no mask pixels,
            and the batch is finished (normalized in float32, decoded) as it arrives -- bit for bit the batch of
            the default samples. For use with that collator (``np.asarray`` of a compact value gives its array).

    A sample holds ``input_ids`` and ``labels`` (lists), the pixel keys upstream's class returns for
    that source (``pixel_values``, ``g_pixel_values``, ``masks``, ``prompt_masks``,
    ``vp_overall_mask``), ``num_patches`` (and ``num_frames`` for videos, ``region_pixels`` with
    visual prompts), and ``plan``: the JSON dict it was built from.
    """

    # defaults for a transform pickled before these existed
    control_tokens = "error"
    seg_mismatch = "error"
    compact_samples = False
    _control: tuple | None = None  # (control token pattern, [SEG] id or None), from the tokenizer

    def __init__(
        self,
        processor: Any,
        recipe: str = "v1",
        *,
        seed: int = 0,
        fixes: Sequence[str] | None = None,
        max_length: int | None = 8192,
        families: Mapping[str, str] | None = None,
        return_tensors: str | None = None,
        control_tokens: str = "error",
        seg_mismatch: str = "error",
        compact_samples: bool = False,
    ) -> None:
        if recipe not in RECIPES:
            raise Sa2VAError(f"recipe must be one of {RECIPES}, got {recipe!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise Sa2VAError(f"seed must be an int, got {seed!r}")
        if return_tensors not in (None, "np", "pt"):
            raise Sa2VAError(f"return_tensors must be None, 'np' or 'pt', got {return_tensors!r}")
        if control_tokens not in CONTROL_TOKEN_POLICIES:
            raise Sa2VAError(f"control_tokens must be one of {CONTROL_TOKEN_POLICIES}, got {control_tokens!r}")
        if seg_mismatch not in SEG_MISMATCH_POLICIES:
            raise Sa2VAError(f"seg_mismatch must be one of {SEG_MISMATCH_POLICIES}, got {seg_mismatch!r}")
        if not isinstance(compact_samples, bool):
            raise Sa2VAError(f"compact_samples must be True or False, got {compact_samples!r}")
        family = getattr(processor, "family", "internvl")
        if recipe == "v1" and family != "internvl":
            raise Sa2VAError(
                f"recipe 'v1' trains InternVL checkpoints only, not a {family!r} processor: no v1 config trains a "
                "Qwen-VL or LLaVA model (the 'qwen' / 'llava' branches of v1's dataset classes are unfinished: the "
                "stock preprocessor without Sa2VA's pixel limits, on InternVL's tiles, tokens counted from the first "
                "tile); Sa2VA's Qwen-VL checkpoints were trained with recipe='v2'"
            )
        self.processor = processor
        self.recipe = recipe
        self.prompts = RECIPE_PROMPTS[recipe]
        self.seed = int(seed)
        self.fixes = check_fixes(fixes)
        self.max_length = check_max_length(max_length)
        self.families = self._check_families(families)
        self.return_tensors = return_tensors
        self.control_tokens = control_tokens
        self.seg_mismatch = seg_mismatch
        self.compact_samples = compact_samples
        self.epoch = 0
        self._splits: bool | None = None  # does <IMG_CONTEXT> split the text around it (see _encode)
        self._control = None

    @property
    def _compact_tiles(self) -> bool:
        """Tiles travel as uint8: InternVL's (the other families' pixels are not tiles of one table)."""
        return self.compact_samples and getattr(self.processor, "family", "internvl") == "internvl"

    def __repr__(self) -> str:
        return (
            f"Sa2VATrainingTransform(recipe={self.recipe!r}, seed={self.seed}, epoch={self.epoch}, "
            f"fixes={sorted(self.fixes)}, max_length={self.max_length}, control_tokens={self.control_tokens!r}, "
            f"seg_mismatch={self.seg_mismatch!r}, compact_samples={self.compact_samples})"
        )

    @staticmethod
    def _check_families(families: Mapping[str, str] | None) -> dict[str, str]:
        families = dict(families or {})
        known = family_transforms()
        for source, family in families.items():
            if family not in known:
                raise Sa2VAError(f"families[{source!r}] = {family!r} is not a family; known: {sorted(known)}")
        return families

    # ------------------------------------------------------------------ dispatch

    def family_of(self, source: str) -> str:
        """The family of a ``source`` value: ``families=`` first, then the catalog."""
        if source in self.families:
            return self.families[source]
        try:
            return get_spec(source).family
        except Sa2VAError:
            raise Sa2VAError(
                f"no training transform for source {source!r}: it is not a catalog source; for your own data "
                f"built with name={source!r}, pass families={{{source!r}: 'folder'}} (or 'finetune')"
            ) from None

    def family_transform(self, record: Mapping[str, Any]) -> FamilyTransform:
        """The family transform of ``record``, once the record is known to be one it can read (:func:`check_record`)."""
        if not isinstance(record, Mapping) or "source" not in record or "id" not in record:
            raise Sa2VAError(f"a record is a dict with the canonical columns, got {type(record).__name__}")
        family = self.family_of(record["source"])
        check_record(record)
        transforms = family_transforms()
        if family not in transforms:
            raise Sa2VAError(f"source {record['source']!r} (family {family!r}) has no training transform yet")
        return transforms[family]

    # ------------------------------------------------------------------ plans

    def set_epoch(self, epoch: int) -> None:
        """Plans of later samples are drawn for this epoch (call it before each epoch's iterator is made:
        ``DataLoader`` workers copy the transform when they start)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise Sa2VAError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)

    def rng(self, record: Mapping[str, Any]) -> PlanRandom:
        """The generators of ``record``'s plan: from (seed, epoch, source, id, ``record["repeat"]``)."""
        return PlanRandom.derive(self.seed, self.epoch, record["source"], record["id"], _repeat(record))

    def plan(self, record: Mapping[str, Any], rng: Any = None) -> dict:
        """Every random choice of ``record``'s sample, as a JSON dict (``rng``: a numpy Generator, an
        int seed or a :class:`PlanRandom`; by default the derived one)."""
        family = self.family_transform(record)
        rng = self.rng(record) if rng is None else PlanRandom.coerce(rng)
        plan = family.plan(record, rng, self)
        plan.update(source=record["source"], id=record["id"], recipe=self.recipe, epoch=self.epoch,
                    repeat=_repeat(record))  # fmt: skip
        return plan

    def eval_plans(self, record: Mapping[str, Any]) -> list[dict]:
        """For val / test splits: one fixed plan per expression, nothing drawn."""
        plans = self.family_transform(record).eval_plans(record, self)
        for plan in plans:
            plan.update(source=record["source"], id=record["id"], recipe=self.recipe, epoch=None, repeat=None)
        return plans

    def drop_reason(self, record: Mapping[str, Any]) -> str | None:
        """Why upstream builds no sample from ``record`` (it asserts, crashes, or drops it), or why this transform
        refuses it (``control_tokens`` / ``seg_mismatch``), or ``None``."""
        family = self.family_transform(record)
        return family.drop_reason(record, self) or self._text_reason(record, family)

    # ------------------------------------------------------------------ samples

    def __call__(self, records: Mapping[str, Any]) -> dict:
        """A record -> its sample; a batch (a dict of lists, as ``with_transform`` passes it) -> a dict of lists."""
        if not isinstance(records, Mapping):
            raise Sa2VAError(f"expected a record or a batch (a dict of lists), got {type(records).__name__}")
        if not isinstance(records.get("id"), (list, tuple)):
            return self.build(records, self.plan(records))
        n = len(records["id"])
        rows = [{key: values[i] for key, values in records.items()} for i in range(n)]
        samples = [self.build(row, self.plan(row)) for row in rows]
        keys = list(dict.fromkeys(key for sample in samples for key in sample))
        return {key: [sample.get(key) for sample in samples] for key in keys}

    def spec(self, record: Mapping[str, Any], plan: Mapping[str, Any]) -> SampleSpec:
        """The sample's text and what its pixels are made of, from ``record`` and ``plan`` alone."""
        family = self.family_transform(record)
        if plan.get("recipe") not in (None, self.recipe):
            raise PlanError(f"a plan for recipe {plan['recipe']!r} given to a {self.recipe!r} transform{where(record)}")
        plan = check_plan(plan, record, _n_frames(record))
        reason = self._text_reason(record, family)
        if reason is not None:
            raise refuse(record, reason)
        if self.control_tokens == "plain":  # control tokens of the record's text marked: read as plain text
            record = mark_record(record, self._control_tokens()[0]) or record
        return family.spec(record, plan, self)

    def build(self, record: Mapping[str, Any], plan: Mapping[str, Any]) -> dict:
        """The training sample of ``record`` under ``plan``."""
        spec = self.spec(record, plan)
        data, media = self._media(record, spec)
        text = [m.string for m in media]
        pieces = self._pieces(spec, text, record)
        enc = self._encode(pieces, self.max_length)
        try:
            check_context_tokens(
                [enc["input_ids"]], [sum(m.context_tokens for m in media)],
                self.processor.image_context_token_id, self.max_length, self._context_token,
            )  # fmt: skip
        except Sa2VAError as e:
            raise Sa2VAError(f"{e}{where(record)}") from None
        self._check_seg_tokens(enc["input_ids"], spec, plan, record)
        sample = {"input_ids": enc["input_ids"], "labels": enc["labels"], **data, "plan": dict(plan)}
        return convert_tensors(sample, self.return_tensors) if self.return_tensors == "pt" else sample

    def eval_samples(self, record: Mapping[str, Any]) -> list[dict]:
        """The samples of :meth:`eval_plans`: one per expression."""
        return [self.build(record, plan) for plan in self.eval_plans(record)]

    def render(self, record: Mapping[str, Any], plan: Mapping[str, Any] | None = None) -> list[tuple[str, bool]]:
        """The sample's text before tokenization, as (text, labelled) runs, without touching pixels."""
        spec = self.spec(record, self.plan(record) if plan is None else plan)
        runs = render_pieces(self._pieces(spec, self._media_strings(record, spec), record), self.processor.tokenizer)
        return [(strip_marks(text), labelled) for text, labelled in runs]

    def length(self, record: Mapping[str, Any], plan: Mapping[str, Any] | None = None) -> int:
        """The sample's token count before ``max_length`` cuts it, without touching pixels
        (upstream's ``modality_length`` is a constant 100)."""
        spec = self.spec(record, self.plan(record) if plan is None else plan)
        pieces = self._pieces(spec, self._media_strings(record, spec), record)
        return len(self._encode(pieces, max_length=None)["input_ids"])

    # ------------------------------------------------------------------ datasets

    def filter(self, dataset: Any, num_proc: int | None = None) -> tuple[Any, dict[str, int]]:
        """``dataset`` without the records upstream builds no sample from, and how many went, per reason."""
        from .dataset_tools import filter_buildable

        return filter_buildable(self, dataset, num_proc=num_proc)

    def lengths(self, dataset: Any, num_proc: int | None = None, signed: bool = False) -> list[int]:
        """Each row's token count (the current epoch's plans), without pixels; ``signed``: negative for
        text-only samples, the convention of xtuner's ``LengthGroupedSampler``."""
        from .dataset_tools import sample_lengths

        return sample_lengths(self, dataset, num_proc=num_proc, signed=signed)

    # ------------------------------------------------------------------ helpers for the families

    def region_masks(self, record: Mapping[str, Any], regions: Sequence[int] | None = None, frame: int = 0):
        """(n, H, W) uint8 masks of ``regions`` (all by default) in ``frame``; absent -> zeros."""
        regions = range(len(record["regions"])) if regions is None else regions
        h, w = record["height"], record["width"]
        out = np.zeros((len(regions), h, w), dtype=np.uint8)
        for i, k in enumerate(regions):
            mask = region_mask(record, k, frame)
            if mask is not None:
                out[i] = mask
        return out

    def region_prompts(self, record: Mapping[str, Any], image_options: Mapping[str, Any]):
        """Every region of frame 0 as a visual prompt: (its RLEs, grid cells per region) under ``image_options``.

        The cells come straight from the RLE runs (``prompt_grid.segmentations_to_grid``): no mask is
        decoded, so ``drop_reason`` / ``filter`` stay cheap, and the processor reads the same RLEs.
        """
        h, w = record["height"], record["width"]
        empty = None
        segmentations = []
        for region in record["regions"]:
            rle = region["masks"][0]
            if rle is None:  # no mask in this frame: an empty prompt, as a zero mask would be
                empty = empty or masks_codec.encode(np.zeros((h, w), np.uint8))
                rle = empty
            segmentations.append({"size": list(rle["size"]), "counts": rle["counts"]})
        opts = self.processor.image_processor.resolve_options(**image_options)
        cells = segmentations_to_grid(
            segmentations, h, w, opts.grid_size, opts.prompt_mask_mode, opts.image_size, record=record["id"]
        )
        return segmentations, [int(c) for c in cells.sum(axis=(1, 2))]

    def region_cells(self, record: Mapping[str, Any], image_options: Mapping[str, Any]) -> list[int]:
        return self.region_prompts(record, image_options)[1]

    # ------------------------------------------------------------------ engine

    def _pieces(self, spec: SampleSpec, media_strings: list[str], record: Mapping[str, Any]):
        turns, k = [], 0
        for turn in spec.turns:
            text = turn["input"]
            n = text.count(IMAGE_PLACEHOLDER)
            if k + n > len(media_strings):
                raise Sa2VAError(f"the text holds more <image> placeholders than the sample has media{where(record)}")
            text = expand_placeholders(text, media_strings[k : k + n])  # at once: LLaVA's strings hold <image>
            k += n
            turns.append({"input": text, "output": turn["output"]})
        if k != len(media_strings):
            raise Sa2VAError(f"{len(media_strings)} media but {k} <image> placeholders{where(record)}")
        if not turns:
            raise Sa2VAError(f"no turn to train on{where(record)}")
        return turn_pieces(
            turns, self.processor.tokenizer, self.processor.chat_template_config, style=spec.style,
            refcoco_instruction=spec.instruction,
        )  # fmt: skip

    def _control_tokens(self) -> tuple:
        """(pattern of the tokenizer's control tokens or None, the id of ``[SEG]`` when it is one token or None)."""
        if self._control is None:
            tokenizer = self.processor.tokenizer
            tokens = control_token_list(tokenizer)
            seg = tokenizer.convert_tokens_to_ids(SEG_TOKEN) if SEG_TOKEN in tokens else None
            self._control = (token_pattern(tokens), seg)
        return self._control

    def _text_reason(self, record: Mapping[str, Any], family: FamilyTransform) -> str | None:
        """Why the record's own text makes its samples refused under ``control_tokens`` / ``seg_mismatch``."""
        if self.control_tokens == "plain":
            return MARKS_REASON if marks_in(record_texts(record)) else None
        found = found_tokens(family.data_texts(record, self), self._control_tokens()[0])
        return text_reason(found, self.control_tokens, self.seg_mismatch) if found else None

    def _check_seg_tokens(self, input_ids: list[int], spec: SampleSpec, plan: Mapping[str, Any], record) -> None:
        """One ``[SEG]`` per mask group (a video: per object), unless ``seg_mismatch="upstream"``."""
        seg = self._control_tokens()[1]
        if self.seg_mismatch == "upstream" or seg is None:
            return
        if spec.mask_groups is None and plan.get("eval"):
            return  # an evaluation prompt without ground truth: the answer's [SEG] is what the model should say
        want = 0 if spec.mask_groups is None else len(spec.mask_groups)
        got = sum(1 for i in input_ids if i == seg)
        if got != want:
            hint = (
                f"; the sequence was cut at max_length={self.max_length}: raise it, or leave out rows longer than "
                "it (transform.lengths)"
                if self.max_length is not None and len(input_ids) >= self.max_length
                else ""
            )
            raise Sa2VAError(
                f"the sample holds {got} {SEG_TOKEN} token(s) for {want} mask(s) (one each: the model pairs them in "
                f"order){hint}{where(record)}"
            )

    @property
    def _context_token(self) -> str:
        """The family's context token: ``<IMG_CONTEXT>``, ``<|image_pad|>`` or ``<image>``."""
        return self.processor.family_spec.image_tokens.context

    def _encode(self, pieces, max_length: int | None) -> dict[str, list[int]]:
        """``encode_pieces`` without tokenizing the thousands of context tokens (``<IMG_CONTEXT>``, ...)
        one by one: an added token splits the text around it, so a run of them is their ids (checked once
        on the tokenizer; a piece tokenized with the tokenizer's special tokens is tokenized whole)."""
        tokenizer = self.processor.tokenizer
        marked = any(piece.text and MARK_OPEN in piece.text for piece in pieces)  # control_tokens="plain"
        if not marked and not self._context_token_splits():
            return encode_pieces(pieces, tokenizer, max_length)
        context, token = self.processor.image_context_token_id, self._context_token
        input_ids: list[int] = []
        labels: list[int] = []
        for piece in pieces:
            if piece.token_ids is not None:
                ids = list(piece.token_ids)
            elif piece.text and MARK_OPEN in piece.text:
                ids = encode_marked(tokenizer, piece.text, piece.add_special_tokens, self._control_tokens()[0])
            elif piece.add_special_tokens or token not in piece.text or not self._context_token_splits():
                ids = list(tokenizer.encode(piece.text, add_special_tokens=piece.add_special_tokens)) if (
                    piece.text or piece.add_special_tokens) else []  # fmt: skip
            else:
                ids = []
                for i, chunk in enumerate(piece.text.split(token)):
                    if i:
                        ids.append(context)
                    if chunk:
                        ids += tokenizer.encode(chunk, add_special_tokens=False)
            input_ids += ids
            labels += ids if piece.labelled else [IGNORE_INDEX] * len(ids)
        if max_length is not None and len(input_ids) > max_length:
            input_ids, labels = input_ids[:max_length], labels[:max_length]
        return {"input_ids": input_ids, "labels": labels}

    def _context_token_splits(self) -> bool:
        if getattr(self, "_splits", None) is None:
            tokenizer, c = self.processor.tokenizer, self._context_token
            probe = tokenizer.encode("a\n\n" + c * 2 + "\n\nb", add_special_tokens=False)
            parts = (
                tokenizer.encode("a\n\n", add_special_tokens=False),
                tokenizer.encode("\n\nb", add_special_tokens=False),
            )
            context = self.processor.image_context_token_id
            self._splits = probe == parts[0] + [context, context] + parts[1]
        return self._splits

    def _media_strings(self, record: Mapping[str, Any], spec: SampleSpec) -> list[str]:
        """What each medium puts in the text, from the record's size alone (no pixels): the processor's
        family says it (InternVL tiles, Qwen-VL's resize grid, LLaVA's 576)."""
        if spec.frames is None:
            return []
        size = (record["width"], record["height"])
        if spec.video:
            return [
                self.processor.video_token_string(
                    len(spec.frames), *size, mode="training", max_llm_frames=spec.max_llm_frames, **spec.image_options
                )
            ]
        return [self.processor.image_token_string(*size, mode="training", **spec.image_options)]

    def _media(self, record: Mapping[str, Any], spec: SampleSpec) -> tuple[dict[str, Any], list]:
        """The pixel keys of the sample, and the processor's media tokens."""
        if spec.frames is None:
            if not spec.zero_image:
                return {}, []
            size = self.processor.image_processor.resolve_options(**spec.image_options).image_size
            zero = {"pixel_values": np.zeros((1, 3, size, size), np.float32)}
            if self._compact_tiles:  # all zeros through a table of zeros: float32 zeros
                zero["pixel_values"] = CompactTiles(np.zeros((1, 3, size, size), np.uint8), np.zeros((3, 256), np.float32))
            if "num_patches" in self.processor.image_processor.model_input_names:  # InternVL's tiles per image
                zero["num_patches"] = np.ones(1, np.int64)
            return zero, []
        image_options = dict(spec.image_options)
        if self._compact_tiles:
            image_options["normalize_tiles"] = False  # uint8 tiles, normalized when batched
        options = self.processor.image_processor.resolve_options(**image_options)
        frames = record_frames(record, spec.frames, threads=resolve_num_threads(getattr(options, "num_threads", None)))
        groups = spec.mask_groups
        if groups is not None:
            _check_frame_sizes(record, frames)
        if spec.video:
            data, media, _ = self.processor.process_media(
                videos=[frames], mode="training", max_llm_frames=spec.max_llm_frames, **image_options
            )
        else:
            prompts = None if spec.visual_prompts is None else [spec.visual_prompts]
            data, media, _ = self.processor.process_media(
                images=frames[:1], visual_prompts=prompts, mode="training", **image_options
            )
        out: dict[str, Any] = {"pixel_values": data["pixel_values"]}
        if self._compact_tiles:
            table = normalization_table(
                options.image_mean, options.image_std, options.do_rescale, options.rescale_factor, options.do_normalize
            )
            out["pixel_values"] = CompactTiles(data["pixel_values"], table)
        for key in ("num_patches", "image_grid_thw"):  # InternVL tiles; Qwen-family patches
            if data.get(key) is not None:
                out[key] = data[key]
        if spec.video:
            out["num_frames"] = data["num_frames"]
        if spec.grounding:
            g = data["g_pixel_values"]
            out["g_pixel_values"] = g if spec.video else g[0]
        if groups is not None:  # made here, each region decoded once: the processor would check and copy them again
            out["masks"] = self._masks(record, spec)
        if spec.visual_prompts is not None:
            cells = [int(c) for c in data["region_pixels"][0]]
            if cells != list(spec.region_cells or []):
                raise Sa2VAError(f"region cells {cells} differ from the text's {spec.region_cells}{where(record)}")
            out["prompt_masks"] = np.asarray(data["prompt_masks"][0]).astype(spec.prompt_mask_dtype)
            out["vp_overall_mask"] = np.asarray(data["vp_overall_mask"]).astype(spec.vp_mask_dtype)
            out["region_pixels"] = cells
        return out, media

    def _masks(self, record: Mapping[str, Any], spec: SampleSpec) -> np.ndarray | CompactMasks:
        """The sample's ``masks``, (n_groups * F, H, W) uint8, group-major: per mask group and chosen frame (an
        image: its one frame), the group's regions OR-ed (absent -> nothing); compact: their checked RLEs."""
        frames = spec.frames if spec.video else spec.frames[:1]
        regions, h, w = record["regions"], record["height"], record["width"]
        unions = []
        for group in spec.mask_groups:
            for frame in frames:
                parts = []
                for k in group:
                    rle = regions[k]["masks"][frame]
                    if rle is not None:
                        parts.append(((k, frame), {"size": list(rle["size"]), "counts": rle["counts"]}))
                unions.append(parts)
        if self.compact_samples:
            return CompactMasks.checked(h, w, unions, record=record["id"])
        return masks_codec.decode_unions(unions, h, w, record=record["id"])


def _check_frame_sizes(record: Mapping[str, Any], frames: Sequence[Any]) -> None:
    """The frames are the size the record's masks are (its ``width`` x ``height``)."""
    size = (record["width"], record["height"])
    for frame in frames:
        if tuple(frame.size) != size:
            raise ShapeMismatchError(
                f"a frame is {frame.size[0]}x{frame.size[1]} (W x H) but the record's masks are {size[0]}x{size[1]}"
                f"{where(record)}"
            )


def _repeat(record: Mapping[str, Any]) -> int:
    repeat = record.get("repeat") or 0
    if isinstance(repeat, bool) or not isinstance(repeat, (int, np.integer)) or repeat < 0:
        raise Sa2VAError(f"a record's 'repeat' must be a non-negative int, got {repeat!r}{where(record)}")
    return int(repeat)


def _n_frames(record: Mapping[str, Any]) -> int:
    return len(record["frame_indices"]) if record.get("video") is not None else len(record["frames"])


__all__ = ["Sa2VATrainingTransform"]
