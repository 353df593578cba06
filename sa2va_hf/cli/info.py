"""``sa2va-hf info``: what a source holds, per split -- records, regions, texts, sizes, frames, and the
regions a visual prompt would lose (fewer than one cell of the 16x16 token grid)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .args import count, source_name
from .build import add_source_reading_arguments

if TYPE_CHECKING:
    import numpy as np

HELP = "summarise a source per split: records, regions, texts, mask sizes, regions on 0 grid cells"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", type=source_name, help="a source name (sa2va-hf build --list)")
    add_source_reading_arguments(parser)
    parser.add_argument(
        "--mask-records",
        type=count,
        default=5000,
        help="decode the masks of this many records (the first ones) for the grid-cell count (default 5000; 0: all)",
    )
    parser.add_argument("--mode", choices=["nearest", "pool"], default="nearest", help="the prompt-grid rule")


@dataclass
class SplitInfo:
    records: int
    regions: int
    texts: int
    turns: int
    frames_per_record: tuple[int, int, float]  # min, max, mean
    heights: np.ndarray = field(repr=False)
    widths: np.ndarray = field(repr=False)
    masks_checked: int = 0
    empty_regions: int = 0
    empty_examples: list[str] = field(default_factory=list)
    mask_areas: list[float] = field(default_factory=list, repr=False)  # per checked mask, share of its image


def _lengths(column) -> np.ndarray:
    import numpy as np
    import pyarrow.compute as pc

    return np.asarray(pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)


def split_info(ds, mask_records: int = 5000, mode: str = "nearest", progress: bool = True) -> SplitInfo:
    """Counts from the Arrow columns (no record is materialised), grid cells from the first records' masks."""
    import numpy as np

    from ..masks import decode
    from ..prompt_grid import masks_to_grid

    table = ds.data
    frames = _lengths(table.column("frames"))
    indices = _lengths(table.column("frame_indices"))
    per_record = np.where(table.column("video").is_null().to_numpy(zero_copy_only=False), frames, indices)
    info = SplitInfo(
        records=len(ds),
        regions=int(_lengths(table.column("regions")).sum()),
        texts=int(_lengths(table.column("texts")).sum()),
        turns=int(_lengths(table.column("conversations")).sum()),
        frames_per_record=(int(per_record.min()), int(per_record.max()), float(per_record.mean()))
        if len(ds)
        else (0, 0, 0.0),
        heights=table.column("height").to_numpy(),
        widths=table.column("width").to_numpy(),
    )
    n = len(ds) if mask_records <= 0 else min(mask_records, len(ds))
    regions = ds.select_columns(["id", "height", "width", "regions"]).select(range(n))
    bar = _bar(n, progress)
    for rec in regions:
        for region in rec["regions"]:
            rle = next((m for m in region["masks"] if m is not None), None)
            if rle is None:
                continue
            mask = decode(rle, rec["height"], rec["width"])
            cells = int(masks_to_grid(mask[None], 16, mode)[0].sum())
            info.masks_checked += 1
            info.mask_areas.append(float(np.count_nonzero(mask)) / mask.size)
            if cells == 0:
                info.empty_regions += 1
                if len(info.empty_examples) < 3:
                    info.empty_examples.append(f"{rec['id']}/{region['id']}")
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return info


def _bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="decoding masks", unit="records", delay=1)  # none for a step under a second


def format_info(name: str, split: str, info: SplitInfo, mode: str) -> str:
    import numpy as np

    lines = [
        f"{name}/{split}: {info.records} records, {info.regions} regions, {info.texts} texts, "
        f"{info.turns} conversation turns"
    ]
    lo, hi, mean = info.frames_per_record
    if hi > 1:
        lines.append(f"  frames per record: {lo}..{hi} (mean {mean:.1f})")
    sized = info.heights > 0
    if sized.any():
        areas = info.heights[sized].astype(np.int64) * info.widths[sized]
        order = np.argsort(areas)
        pick = [order[0], order[len(order) // 2], order[-1]]
        h, w = info.heights[sized], info.widths[sized]
        sizes = ", ".join(f"{label} {h[k]}x{w[k]}" for label, k in zip(("smallest", "median", "largest"), pick))
        lines.append(f"  image size (h x w): {sizes}")
    if (~sized).any():
        lines.append(f"  records without frames (text only): {int((~sized).sum())}")
    if info.mask_areas:
        lo, median, hi = np.percentile(100 * np.asarray(info.mask_areas), [0, 50, 100])
        lines.append(
            f"  mask area, share of its image ({len(info.mask_areas)} masks): "
            f"smallest {lo:.3g}%, median {median:.3g}%, largest {hi:.3g}%"
        )
    if info.masks_checked:
        share = 100 * info.empty_regions / info.masks_checked
        examples = f" e.g. {', '.join(info.empty_examples)}" if info.empty_examples else ""
        lines.append(
            f"  regions on 0 cells of the 16x16 grid ({mode}): {info.empty_regions} of {info.masks_checked} "
            f"checked ({share:.1f}%){examples}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ..data import load_source

    built = load_source(args.name, args.data_dir, split=args.split, cache_dir=args.cache_dir, num_proc=args.num_proc)
    splits = {args.split: built} if args.split else dict(built)
    for split, ds in splits.items():
        print(format_info(args.name, split, split_info(ds, args.mask_records, args.mode), args.mode))
    return 0
