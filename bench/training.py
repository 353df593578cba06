"""Throughput of training samples (a measurement, not a test): records -> ``Sa2VATrainingTransform`` ->
``DataLoader(num_workers=2)`` -> ``Sa2VACollator``, in samples per second, beside the processor's pixel
work alone (the floor the transform stands on) and the no-pixel passes (``lengths``, ``filter``).

Records are COCO-like: ``--size`` JPEGs (640x480 by default: 6 tiles + the thumbnail), RLE regions,
built through the canonical schema into a ``datasets.Dataset`` of five sources (RefCOCO, Osprey, GCG,
LLaVA with a text-only entry, describe-anything). The tokenizer is the tests' small byte-level BPE
(a real one tokenizes at a similar rate: the text is mostly the image's special tokens).

``--family`` picks the checkpoint family (``internvl``, ``qwen2_5_vl``, ``qwen3_vl``, ``llava``); the
records a family cannot train on (Osprey and describe-anything outside InternVL, text-only LLaVA entries for
Qwen-VL) are filtered out first, as ``transform.filter`` does before training.

Run: ``.venv/bin/python bench/training.py [--records 40] [--size 640x480] [--workers 2] [--family qwen3_vl]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from functools import partial

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import datasets  # noqa: E402

from bench._common import best  # noqa: E402
from sa2va_hf import Sa2VAProcessor, masks  # noqa: E402
from sa2va_hf.data.schema import features, make_record, make_region, make_text, record_frames  # noqa: E402
from sa2va_hf.training import Sa2VACollator, Sa2VATrainingTransform  # noqa: E402
from tests.tokenizer_utils import make_tokenizer  # noqa: E402


def photo(path: str, w: int, h: int, seed: int) -> str:
    """A smooth image (photo-like JPEG size and decode cost, unlike noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 16 + 1, w // 16 + 1, 3), dtype=np.uint8)
    Image.fromarray(small).resize((w, h), Image.BILINEAR).save(path, quality=90)
    return path


def box(h: int, w: int, k: int) -> dict:
    m = np.zeros((h, w), np.uint8)
    y, x = (37 * k) % (h // 2), (53 * k) % (w // 2)
    m[y : y + h // 3, x : x + w // 4] = 1
    return masks.encode(m)


def records(folder: str, n: int, w: int, h: int) -> list[dict]:
    out = []
    for i in range(n):
        path = photo(os.path.join(folder, f"{i}.jpg"), w, h, i)
        kind = i % 5
        regions = [make_region(k, [box(h, w, i + k)]) for k in range(3)]
        if kind == 0:
            texts = [make_text(f"the thing number {k} on the left.", [k % 3]) for k in range(6)]
            out.append(make_record(id=i, source="refcoco", frames=[path], height=h, width=w, regions=regions,
                                   texts=texts))  # fmt: skip
        elif kind == 1:
            conv = [{"from": "human", "value": "<image>\nWhat is <region1> doing next to <region2>?"},
                    {"from": "gpt", "value": "It stands next to <region2>."},
                    {"from": "human", "value": "And <region3>?"}, {"from": "gpt", "value": "It waits."}]  # fmt: skip
            out.append(make_record(id=i, source="osprey_conversation", frames=[path], height=h, width=w,
                                   regions=regions, conversations=conv))  # fmt: skip
        elif kind == 2:
            caption = "A man in a blue jacket walks a dog along the beach near a boat."
            spans = [(0, 22), (29, 34), (57, 63)]
            texts = [make_text(caption[s:e], [k], s, e) for k, (s, e) in enumerate(spans)]
            out.append(make_record(id=i, source="gcg_grandf", frames=[path], height=h, width=w, regions=regions,
                                   texts=texts, caption=caption))  # fmt: skip
        elif kind == 3:
            conv = [{"from": "human", "value": "<image>\nWhat is in the picture?"},
                    {"from": "gpt", "value": "A street with cars and people walking on it."}]  # fmt: skip
            frames = [path] if i % 10 != 3 else []  # every other LLaVA entry text-only
            hh, ww = (h, w) if frames else (0, 0)
            if not frames:
                conv[0]["value"] = "What is the capital of France?"
            out.append(make_record(id=i, source="llava_665k", frames=frames, height=hh, width=ww, conversations=conv))
        else:
            caption = "A wooden bench with peeling green paint, standing on a gravel path."
            out.append(make_record(id=i, source="describe_anything", frames=[path], height=h, width=w,
                                   regions=regions[:1], texts=[make_text(caption, [0])], caption=caption))  # fmt: skip
    return out


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:7.1f} samples/s ({1000 * seconds / n:6.1f} ms each)"


def pixel_work(t, processor, record, spec) -> None:
    """The processor's work for one sample, exactly: its frames, visual prompts, masks, options."""
    if spec.frames is None:
        return
    gt = None if spec.mask_groups is None else [t.region_masks(record, [g[0] for g in spec.mask_groups])]
    vp = None if spec.visual_prompts is None else [spec.visual_prompts]
    processor.process_media(
        images=record_frames(record, spec.frames), visual_prompts=vp, masks=gt, mode="training", **spec.image_options
    )


def through_loader(ds, t, workers: int, batch_size: int) -> tuple[float, int, float]:
    """(seconds for a whole epoch, its samples, seconds the first epoch took to its first batch).

    The workers are started and warmed by a first epoch (``persistent_workers``); the second epoch is
    timed from ``iter(loader)`` to its last batch, so no batch a worker prefetched goes uncounted.
    """
    import torch

    loader = torch.utils.data.DataLoader(
        ds.with_transform(t), batch_size=batch_size, num_workers=workers, collate_fn=Sa2VACollator(),
        persistent_workers=workers > 0,
    )  # fmt: skip
    start = time.perf_counter()
    first = None
    for _ in loader:
        first = first if first is not None else time.perf_counter() - start
    start = time.perf_counter()
    seen = sum(len(b["input_ids"]) for b in loader)
    return time.perf_counter() - start, seen, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=80)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--recipe", default="v2")
    parser.add_argument("--family", default="internvl")
    parser.add_argument("--repeat", type=int, default=3, help="runs per record; the best counts")
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    datasets.disable_progress_bars()
    folder = tempfile.mkdtemp(prefix="sa2va-bench-")
    ds = datasets.Dataset.from_list(records(folder, args.records, w, h), features=features())
    flavour = {"internvl": "qwen", "llava": "llava"}.get(args.family, "qwen_vl")
    template = "qwen" if args.family == "internvl" else None  # the others: their family's
    processor = Sa2VAProcessor(tokenizer=make_tokenizer(flavour), template=template, family=args.family)
    t = Sa2VATrainingTransform(processor, args.recipe, fixes={"osprey_leading_gpt"})
    ds, dropped = t.filter(ds)
    n = len(ds)
    rows = [ds[i] for i in range(n)]
    t(rows[0])  # warm up (imports, tokenizer caches)

    # the processor's pixel work for exactly these samples, the text side alone, and the whole
    # transform, each the best of --repeat runs per record (the machine is shared)
    floor = text = single = 0.0
    for r in rows:
        spec = t.spec(r, t.plan(r))
        floor += best(partial(pixel_work, t, processor, r, spec), args.repeat)
        text += best(partial(t.length, r), args.repeat)
        single += best(partial(t, r), args.repeat)
    samples = [t(r) for r in rows[: args.batch_size]]
    collate = best(partial(Sa2VACollator(), samples), args.repeat)
    tiles = sum(len(s["pixel_values"]) for s in samples)

    steady0, seen0, _ = through_loader(ds, t, 0, args.batch_size)  # the same epoch twice: same work
    steady, seen, first = through_loader(ds, t, args.workers, args.batch_size)
    lengths = best(partial(t.lengths, ds), 1)
    filtered = best(partial(t.filter, ds), 1)

    print(f"{n} records ({args.size}, recipe {args.recipe}, family {args.family}, {os.cpu_count()} CPUs; "
          f"{sum(dropped.values())} filtered out); a batch of {args.batch_size} holds {tiles} pixel_values rows")  # fmt: skip
    print(f"  processor, the samples' pixels only             {rate(n, floor)}")
    print(f"  transform, text side only (plan, text, tokens)  {rate(n, text)}")
    print(
        f"  transform, one process                          {rate(n, single)}  = {single / floor:.2f}x the pixels' time"
    )
    print(f"  collator, one batch                             {1000 * collate:7.1f} ms")
    print(f"  DataLoader(num_workers=0) + collator            {rate(seen0, steady0)}")
    print(f"  DataLoader(num_workers={args.workers}) + collator            {rate(seen, steady)}  = "
          f"{(seen / steady) / (seen0 / steady0):.2f}x num_workers=0")  # fmt: skip
    print(f"      (a second epoch, timed whole; the first reached its first batch in {first:.2f} s, start-up included)")
    print(f"  lengths (no pixels)                             {rate(n, lengths)}")
    print(f"  filter (no pixels)                              {rate(n, filtered)}")


if __name__ == "__main__":
    main()
