"""Fake upstream-v2 fine-tuning data: ``annotations.json`` + ``images/`` (docs/finetune.md)."""

from __future__ import annotations

import json
import os

from ._common import polygon_mask, record, rect_poly, region, text, tri_poly, write_image


def write(data_dir: str, source: str = "finetune", name: str | None = None) -> dict:
    os.makedirs(os.path.join(data_dir, "images"), exist_ok=True)
    entries, expected = [], []
    for i, (h, w) in enumerate([(40, 52), (36, 30), (48, 48)]):
        fn = f"img_{i}.jpg" if i != 2 else "sub/img_2.png"  # a sub-folder of images/ is fine
        path = write_image(os.path.join(data_dir, "images", fn), h, w, seed=i, fmt="JPEG" if i != 2 else "PNG")
        objects = [
            [rect_poly(1, 1, 15, 12), rect_poly(8, 6, 20, 25)],  # two overlapping parts: one binary mask
            [tri_poly(w - 18, h - 16, 14)],
        ][: 1 + i % 2]
        texts = [f"The object number {k} of image {i}." for k in range(len(objects))]
        entries.append({"image": fn, "mask": objects, "text": texts})
        regions = [region(k, polygon_mask(o, h, w)) for k, o in enumerate(objects)]
        expected.append(record(i, path, h, w, regions, [text(t, [k]) for k, t in enumerate(texts)]))
    path = os.path.join(data_dir, "annotations.json")
    with open(path, "w") as f:
        json.dump(entries, f)
    return {"expected": {"train": expected}, "json": path, "entries": entries}
