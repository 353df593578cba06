"""Fake Osprey-724K: ``osprey-724k/Osprey-724K/<source>.json`` + images in the COCO folders."""

from __future__ import annotations

import json
import os

from ._common import (
    blob,
    compressed_rle,
    polygon_mask,
    record,
    rect_poly,
    region,
    text,
    tri_poly,
    uncompressed_rle,
    write_image,
)


def write(data_dir: str, source: str = "osprey_conversation", n: int = 6) -> dict:
    root = os.path.join(data_dir, "osprey-724k")
    os.makedirs(os.path.join(root, "Osprey-724K"), exist_ok=True)
    # image folders: the same name in train2014 and train2017 (first hit wins: train2014),
    # one only in val2017, one at the raw name
    h, w = 40, 52
    placements = [
        ("COCO_train2014_000000000001.jpg", ["coco/train2014", "coco/train2017"]),
        ("000000000002.jpg", ["coco/val2017"]),
        ("COCO_val2014_000000000003.jpg", ["coco/val2014"]),
        ("raw_only.jpg", [""]),
    ]
    paths = {}
    for k, (fn, folders) in enumerate(placements):
        for j, folder in enumerate(folders):
            p = write_image(os.path.join(root, folder, fn), h if j == 0 else h + 4, w, seed=k * 10 + j)
            paths.setdefault(fn, p)
    entries, expected = [], []
    for i in range(n):
        fn = placements[i % len(placements)][0]
        m_rle = blob(h, w, seed=i)
        m_unc = blob(h, w, seed=100 + i)
        polys = [rect_poly(1, 1, 12 + i, 10), tri_poly(5, 5, 20)]
        anns = [
            {"bbox": [1.0, 1.0, 24.0, 24.0], "segmentation": polys, "category_id": 3},
            {"segmentation": uncompressed_rle(m_unc)},
            {"bbox": [0, 0, 10, 10], "segmentation": compressed_rle(m_rle)},
        ][: 1 + i % 3]
        masks = [polygon_mask(polys, h, w), m_unc, m_rle][: len(anns)]
        entry = {"file_name": fn, "annotation": anns}
        if i != 1:  # entry 1 has no size: read from the image header
            entry.update(height=h, width=w)
        convs, texts = [], []
        if source == "osprey_detail_description":
            desc = [f"<region{k + 1}>: A thing number {k} in entry {i}." for k in range(len(anns))]
            entry["description" if i != 2 else "descriptions"] = desc
            texts = [text(d, [k]) for k, d in enumerate(desc)]
        else:
            convs = [
                {"from": "human", "value": f"<image>\nWhat is <region1> doing? ({i})"},
                {"from": "gpt", "value": "It is <b>standing</b> near <region1>."},
            ]
            if i % 2:
                convs = [{"from": "gpt", "value": "a leading gpt turn, kept as is"}] + convs
            entry["conversations"] = convs
        entries.append(entry)
        regs = [
            region(f"region{k + 1}", m, [float(v) for v in a["bbox"]] if "bbox" in a else None)
            for k, (a, m) in enumerate(zip(anns, masks))
        ]
        expected.append(record(i, paths[fn], h, w, regs, texts, None, convs))
    path = os.path.join(root, "Osprey-724K", f"{source}.json")
    with open(path, "w") as f:
        json.dump(entries, f, indent=1)  # whitespace between elements exercises the stream reader
    return {"expected": {"train": expected}, "json": path, "root": root, "entries": entries}
