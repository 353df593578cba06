"""Batch per-sample processor outputs the way upstream's ``video_lisa_collate_fn`` does.

Each sample is what :func:`sa2va_hf.training.encode_conversation` returns for one sample
(lists or arrays; a leading batch dimension of 1 is dropped) or an upstream-style dict.
The batch:

* ``input_ids`` (B, L) right-padded with ``pad_token_id`` (upstream: 0), ``labels`` (B, L)
  padded with -100, ``attention_mask`` (B, L) bool, True over each sample's own tokens
  (not derived from the pad id, which may equal a real token), ``position_ids`` (B, L);
* ``pixel_values`` (sum T, 3, 448, 448): all samples' tiles concatenated (Qwen-VL's flat patches,
  (sum of patches, patch dim), likewise, with ``image_grid_thw`` (sum of images, 3) beside them);
* ``vp_overall_mask`` (sum T,) bool, concatenated (all False for a sample without one);
* ``g_pixel_values`` (sum F, 3, 1024, 1024): one per image / video frame, stacked, with
  ``frames_per_batch`` giving how many each sample has;
* ``masks``: a list with one entry per sample that has them;
* ``prompt_masks`` (and ``region_pixels``): one entry per sample with a tile flagged in
  ``vp_overall_mask``, in batch order -- the model pairs the k-th entry with the k-th flagged
  tile, so a sample whose regions were all dropped contributes none;
* ``num_patches`` (sum of images,) and ``num_frames`` concatenated where present; ``image_grid_thw``
  (Qwen-family processors) concatenated;
* ``plans`` (with ``return_plans=True``): each sample's plan (``Sa2VATrainingTransform`` samples), in order.

With ``seg_token_id`` (the tokenizer's ``[SEG]``), every sample must hold one ``[SEG]`` per mask -- per
object for a video, whose ``masks`` hold one per object and frame -- and none without masks (an evaluation
sample without ground truth aside): the model pairs them in order, so one too many or too few gives a mask
to the wrong phrase.

Keys a sample lacks may also be present with the value ``None`` (a batched ``with_transform`` gives
every sample every key of its batch).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import Sa2VAError
from ..tiling import normalize_tiles_into
from .compact import CompactMasks, CompactTiles, Finish
from .conversations import IGNORE_INDEX

UPSTREAM_PAD_TOKEN_ID = 0  # xtuner DEFAULT_PAD_TOKEN_INDEX


def _tokens(value: Any, key: str, i: int) -> np.ndarray:
    arr = np.asarray(value.cpu() if hasattr(value, "cpu") else value)
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise Sa2VAError(f"sample {i}: {key} must hold one sequence, got shape {arr.shape}")
    return arr.astype(np.int64)


class Sa2VACollator:
    """Collate function for a ``torch.utils.data.DataLoader`` over processed samples.

    Args:
        pad_token_id: id written into padded ``input_ids`` positions (upstream uses 0; the
            attention mask, not this id, tells padding apart).
        label_pad_id: value of padded ``labels`` (-100).
        pad_to_multiple_of: round the padded length up to a multiple of this.
        return_position_ids: also return ``position_ids`` as upstream does.
        return_plans: also return ``plans``, each sample's ``plan`` (``None`` for a sample without one).
        seg_token_id: the ``[SEG]`` token's id (``tokenizer.convert_tokens_to_ids("[SEG]")``): each sample's
            ``[SEG]`` tokens are checked against its masks (``None``: not checked).
    """

    seg_token_id: int | None = None  # the default of a collator pickled before it existed

    def __init__(
        self,
        pad_token_id: int = UPSTREAM_PAD_TOKEN_ID,
        label_pad_id: int = IGNORE_INDEX,
        pad_to_multiple_of: int | None = None,
        return_position_ids: bool = True,
        return_plans: bool = False,
        seg_token_id: int | None = None,
    ) -> None:
        self.pad_token_id = pad_token_id
        self.label_pad_id = label_pad_id
        self.pad_to_multiple_of = pad_to_multiple_of
        self.return_position_ids = return_position_ids
        self.return_plans = return_plans
        self.seg_token_id = seg_token_id

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        if not samples:
            raise Sa2VAError("cannot collate an empty batch")
        for i, s in enumerate(samples):
            if not isinstance(s, Mapping):
                raise Sa2VAError(f"sample {i} must be a dict (a processor output), got {type(s).__name__}")
            if s.get("input_ids") is None:
                raise Sa2VAError(f"sample {i} has no input_ids (keys: {sorted(s)})")
        ids = [_tokens(s["input_ids"], "input_ids", i) for i, s in enumerate(samples)]
        if all(s.get("labels") is not None for s in samples):
            labels = [_tokens(s["labels"], "labels", i) for i, s in enumerate(samples)]
        elif any(s.get("labels") is not None for s in samples):
            raise Sa2VAError("some samples have labels and some do not")
        else:
            labels = None
        for i, (a, b) in enumerate(zip(ids, labels or ids)):
            if len(a) != len(b):
                raise Sa2VAError(f"sample {i}: {len(a)} input_ids but {len(b)} labels")
        if self.seg_token_id is not None:
            for i, (s, a) in enumerate(zip(samples, ids)):
                _check_seg_tokens(s, a, self.seg_token_id, i)
        length = max(len(a) for a in ids)
        if self.pad_to_multiple_of:
            length = -(-length // self.pad_to_multiple_of) * self.pad_to_multiple_of

        input_ids = torch.full((len(ids), length), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(ids), length), dtype=torch.bool)
        for i, a in enumerate(ids):
            input_ids[i, : len(a)] = torch.from_numpy(a)
            attention_mask[i, : len(a)] = True
        out: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self.return_position_ids:
            out["position_ids"] = torch.arange(length, dtype=torch.long).unsqueeze(0).repeat(len(ids), 1)
        if labels is not None:
            lab = torch.full((len(ids), length), self.label_pad_id, dtype=torch.long)
            for i, a in enumerate(labels):
                lab[i, : len(a)] = torch.from_numpy(a)
            out["labels"] = lab

        if any(s.get("pixel_values") is not None for s in samples):
            pixel_values = [s["pixel_values"] for s in samples if s.get("pixel_values") is not None]
            if not all(isinstance(p, CompactTiles) for p in pixel_values):  # compact or not, never mixed
                pixel_values = [_tensor(np.asarray(p) if isinstance(p, CompactTiles) else p) for p in pixel_values]
            shapes = {tuple(p.shape[1:]) for p in pixel_values}
            ndims = {p.ndim for p in pixel_values}  # (T, 3, H, W) tiles / images, or Qwen-VL's (patches, dim)
            if len(shapes) != 1 or ndims not in ({4}, {2}):
                raise Sa2VAError(
                    f"pixel_values must be (T, 3, H, W) with one tile size across the batch (or Qwen-VL's "
                    f"(patches, dim) with one dim), got {[tuple(p.shape) for p in pixel_values]}"
                )
            if isinstance(pixel_values[0], CompactTiles):
                tiles = _cat([torch.from_numpy(p.tiles) for p in pixel_values])
                out["pixel_values"] = _finished(finish_tiles, tiles, [(p.table, len(p)) for p in pixel_values])
            else:
                out["pixel_values"] = _cat(pixel_values)
            if any(s.get("vp_overall_mask") is not None for s in samples):
                vp = []
                for s in samples:
                    if s.get("pixel_values") is None:
                        continue
                    if s.get("vp_overall_mask") is not None:
                        vp.append(_tensor(s["vp_overall_mask"]).bool().reshape(-1))
                    else:
                        vp.append(torch.zeros(len(s["pixel_values"]), dtype=torch.bool))
                out["vp_overall_mask"] = torch.cat(vp)
        if any(s.get("g_pixel_values") is not None for s in samples):
            grounding, frames_per_batch = [], []
            for s in samples:
                g = s.get("g_pixel_values")
                if g is None:
                    continue
                if isinstance(g, (list, tuple)):
                    g = torch.stack([_tensor(x) for x in g])
                else:
                    g = _tensor(g)
                    g = g.unsqueeze(0) if g.ndim == 3 else g
                grounding.append(g)
                frames_per_batch.append(len(g))
            out["g_pixel_values"] = _cat(grounding)
            out["frames_per_batch"] = frames_per_batch
        for key in ("num_patches", "num_frames"):
            if any(s.get(key) is not None for s in samples):
                out[key] = torch.cat([_tensor(s[key]).reshape(-1) for s in samples if s.get(key) is not None])
        if any(s.get("image_grid_thw") is not None for s in samples):
            grids = [_grid(s, i) for i, s in enumerate(samples) if s.get("image_grid_thw") is not None]
            out["image_grid_thw"] = torch.cat(grids)  # one (t, h, w) row per image, in batch order
        if any(s.get("masks") is not None for s in samples):
            masks = [_one(s["masks"]) for s in samples if s.get("masks") is not None]
            compact = any(isinstance(m, CompactMasks) for m in masks)
            out["masks"] = _finished(finish_masks, masks) if compact else masks
        # The model takes prompt_masks[k] for the k-th tile flagged in vp_overall_mask, so only
        # samples with a flagged tile may contribute one: a sample whose regions were all dropped
        # still carries an empty (0, 16, 16) entry, which would shift every later sample's regions.
        vp_samples = [i for i, s in enumerate(samples) if _has_vp_tile(s)]
        for i, s in enumerate(samples):
            if i in vp_samples and s.get("prompt_masks") is None:
                raise Sa2VAError(f"sample {i}: vp_overall_mask flags a tile but the sample has no prompt_masks")
            if i not in vp_samples and s.get("prompt_masks") is not None and len(_one(s["prompt_masks"])) > 0:
                raise Sa2VAError(
                    f"sample {i}: has {len(_one(s['prompt_masks']))} prompt mask(s) but no tile flagged in "
                    "vp_overall_mask; the model would never see them"
                )
        if vp_samples:
            out["prompt_masks"] = [_one(samples[i]["prompt_masks"]) for i in vp_samples]
            if all(samples[i].get("region_pixels") is not None for i in vp_samples):
                out["region_pixels"] = [_one_list(samples[i]["region_pixels"]) for i in vp_samples]
        if self.return_plans:
            out["plans"] = [s.get("plan") for s in samples]
        if any(isinstance(v, Finish) for v in out.values()):
            return WorkerBatch(out)
        return out


def _check_seg_tokens(sample: Mapping[str, Any], ids: np.ndarray, seg_token_id: int, i: int) -> None:
    """One ``[SEG]`` per mask (a video's masks: objects x frames, one ``[SEG]`` per object)."""
    plan = sample.get("plan") or {}
    if sample.get("masks") is None:
        if plan.get("eval"):
            return  # an evaluation prompt without ground truth
        want = 0
    else:
        masks = len(_one(sample["masks"]))  # a CompactMasks knows its count: nothing decoded
        frames = sample.get("num_frames")
        per_object = 1 if frames is None else int(np.asarray(frames.cpu() if hasattr(frames, "cpu") else frames).sum())
        if per_object < 1 or masks % per_object:
            raise Sa2VAError(f"sample {i}: {masks} masks are not one per frame of its {per_object} frames per object")
        want = masks // per_object
    got = int((ids == seg_token_id).sum())
    if got != want:
        raise Sa2VAError(
            f"sample {i}: {got} [SEG] token(s) for {want} mask(s) (per object); the model pairs them in order, so a "
            f"mask would go to the wrong phrase{_record_of(plan)}"
        )


def _record_of(plan: Mapping[str, Any]) -> str:
    return f" (source {plan['source']!r}, record {plan['id']!r})" if "id" in plan and "source" in plan else ""


def _has_vp_tile(sample: Mapping[str, Any]) -> bool:
    vp = sample.get("vp_overall_mask")
    if vp is None or sample.get("pixel_values") is None:
        return False
    flags = np.asarray(vp.cpu() if hasattr(vp, "cpu") else vp).reshape(-1).astype(bool)
    if flags.sum() > 1:
        raise Sa2VAError(f"vp_overall_mask flags {int(flags.sum())} tiles; a sample carries one prompted image")
    return bool(flags.any())


def _grid(sample: Mapping[str, Any], i: int):
    """A sample's ``image_grid_thw`` as (n_images, 3), checked against its flat ``pixel_values``."""
    grid = _tensor(sample["image_grid_thw"])
    grid = grid.unsqueeze(0) if grid.ndim == 1 else grid
    if grid.ndim != 2 or grid.shape[1] != 3:
        raise Sa2VAError(f"sample {i}: image_grid_thw must be (n_images, 3), got shape {tuple(grid.shape)}")
    pixels = sample.get("pixel_values")
    rows = int(grid.prod(dim=1).sum())
    if pixels is None or np.ndim(pixels) != 2 or len(pixels) != rows:
        shape = None if pixels is None else tuple(np.shape(pixels))
        raise Sa2VAError(f"sample {i}: image_grid_thw {grid.tolist()} needs ({rows}, dim) pixel_values, got {shape}")
    return grid


def _tensor(value: Any):
    import torch

    if isinstance(value, torch.Tensor):
        return value
    return torch.from_numpy(np.ascontiguousarray(np.asarray(value)))


def _one(value: Any):
    """A per-sample (n, H, W) entry: processor outputs wrap it in a list of one (one image);
    upstream samples may hold a list of (H, W) masks instead; compact masks stay compact."""
    import torch

    if isinstance(value, CompactMasks):
        return value
    if isinstance(value, (list, tuple)):
        if value and np.ndim(value[0]) == 2:
            return torch.stack([_tensor(v) for v in value])
        if len(value) != 1:
            raise Sa2VAError(f"expected the masks of one image per sample, got {len(value)}")
        value = value[0]
    return _tensor(value)


def _in_worker() -> bool:
    from torch.utils.data import get_worker_info

    return get_worker_info() is not None


def _empty(shape: Sequence[int], dtype: Any):
    """An uninitialized tensor for a batch: in a ``DataLoader`` worker in shared memory, where pickling it to the
    main process then copies nothing (as torch's ``default_collate`` does); elsewhere in numpy's memory (huge
    pages where the system gives them to numpy: a fraction of the page faults of torch's allocator)."""
    import torch

    empty = torch.empty(0, dtype=dtype)
    if _in_worker():
        storage = torch.UntypedStorage._new_shared(int(np.prod(shape, dtype=np.int64)) * empty.element_size())
        return empty.set_(storage, 0, tuple(shape))
    try:
        return torch.from_numpy(np.empty(tuple(shape), dtype=empty.numpy().dtype))
    except TypeError:  # a dtype numpy has not (bfloat16)
        return torch.empty(tuple(shape), dtype=dtype)


def _cat(parts: Sequence[Any]):
    """``torch.cat(parts)`` into :func:`_empty`'s memory (one copy)."""
    import functools

    import torch

    if any(p.device.type != "cpu" or p.requires_grad for p in parts):  # out= takes neither: torch's own cat
        return torch.cat(list(parts), dim=0)
    dtype = functools.reduce(torch.promote_types, [p.dtype for p in parts])
    out = _empty((sum(len(p) for p in parts), *parts[0].shape[1:]), dtype)
    return torch.cat(list(parts), dim=0, out=out)


def _finished(function: Any, *args: Any):
    """``function(*args)`` now, or in a ``DataLoader`` worker when the main process unpickles the batch."""
    return Finish(function, *args) if _in_worker() else function(*args)


class WorkerBatch(dict):
    """A batch collated in a ``DataLoader`` worker with :class:`~sa2va_hf.training.compact.Finish` values: it
    pickles as one call of :func:`finish_batch`, so that an error while finishing it in the main process
    reaches the loop as an error of the worker would (torch's ``ExceptionWrapper``, re-raised by the
    ``DataLoader``), not from inside the ``DataLoader``'s queue, where it would leave the loader waiting for
    that batch forever (or end its pin-memory thread)."""

    def __reduce__(self):
        pending = [key for key, value in self.items() if isinstance(value, Finish)]
        items = {key: (value.function, value.args) if key in pending else value for key, value in self.items()}
        return finish_batch, (items, pending)


def finish_batch(items: dict, pending: Sequence[str]) -> Any:
    """A :class:`WorkerBatch` where it is unpickled: each pending ``(function, args)`` value called, or
    torch's ``ExceptionWrapper`` of the error, which the ``DataLoader`` re-raises in the loop."""
    try:
        for key in pending:
            function, args = items[key]
            items[key] = function(*args)
        return items
    except Exception:
        from torch._utils import ExceptionWrapper

        return ExceptionWrapper(where="in the main process, finishing a batch of compact samples from a DataLoader worker")


def finish_tiles(tiles: Any, segments: Sequence[tuple[np.ndarray, int]]):
    """The batch's ``pixel_values``: its (sum T, 3, S, S) uint8 tiles normalized in float32, each run of
    ``count`` tiles through its ``table`` (``segments``: ``(table, count)`` in order)."""
    import torch

    u8 = tiles.numpy() if isinstance(tiles, torch.Tensor) else np.asarray(tiles)
    out = np.empty(u8.shape, dtype=np.float32)  # numpy's memory: huge pages where the system gives them
    start = 0
    for table, count in segments:
        normalize_tiles_into(out[start : start + count], u8[start : start + count], table)
        start += count
    return torch.from_numpy(out)


def finish_masks(entries: Sequence[Any]) -> list:
    """The batch's ``masks``: one (n, H, W) uint8 tensor per entry (a :class:`CompactMasks` decoded, a tensor
    kept)."""
    import torch

    return [torch.from_numpy(np.asarray(e)) if isinstance(e, CompactMasks) else e for e in entries]


def _one_list(value: Any) -> list[int]:
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple)):
        if len(value) != 1:
            raise Sa2VAError(f"expected the regions of one image per sample, got {len(value)}")
        value = value[0]
    return [int(v) for v in value]


def collate_fn(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """:class:`Sa2VACollator` with upstream's defaults."""
    return Sa2VACollator()(samples)
