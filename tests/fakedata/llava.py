"""Fake LLaVA-v1.5 mix665k: ``llava_data/LLaVA-Instruct-150K/llava_v1_5_mix665k.json`` + ``llava_images/``."""

from __future__ import annotations

import json
import os

from ._common import record, write_image


def write(data_dir: str, source: str = "llava_665k") -> dict:
    root = os.path.join(data_dir, "llava_data")
    entries, expected = [], []
    images = ["coco/train2017/000000000009.jpg", None, "gqa/images/2354786.jpg", "ocr_vqa/images/140031996.jpg"]
    for i, image in enumerate(images):
        convs = [
            {"from": "human", "value": ("<image>\n" if image else "") + f"Question {i}?"},
            {"from": "gpt", "value": f"Answer {i}."},
        ]
        entry = {"id": "dup" if i < 2 else str(i), "conversations": convs}  # ids repeat in the real file
        if image is None:
            expected.append(record(i, None, 0, 0, conversations=convs))
        else:
            h, w = 20 + i, 30
            path = write_image(os.path.join(root, "llava_images", image), h, w, seed=i)
            entry["image"] = image
            expected.append(record(i, path, h, w, conversations=convs))
        entries.append(entry)
    path = os.path.join(root, "LLaVA-Instruct-150K", "llava_v1_5_mix665k.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(entries, f)
    return {"expected": {"train": expected}, "json": path, "entries": entries, "root": root}
