"""Fake own-data folder: images/, per-object PNGs or instance PNGs under masks/, texts.json or texts.csv."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
from PIL import Image

from ._common import blob, record, region, text, write_image


def _png(path: str, arr: np.ndarray, palette: bool = False) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = np.ascontiguousarray(arr.astype(np.uint8))
    im = Image.frombytes("P" if palette else "L", (arr.shape[1], arr.shape[0]), arr.tobytes())
    if palette:  # colours differ from indices: the parser must read indices
        im.putpalette([(i * 37) % 256 for i in range(256 * 3)])
    im.save(path)


def write(data_dir: str, source: str = "folder", texts_format: str = "json") -> dict:
    texts: dict[str, dict[str, list[str]]] = {}
    expected = []
    # kitchen.png: per-object PNGs; street.jpg: an instance PNG (palette) with a void border
    h, w = 30, 40
    kitchen = write_image(os.path.join(data_dir, "images", "kitchen.png"), h, w, seed=1, fmt="PNG")
    objs = {"kettle": blob(h, w, 1), "mug_2": blob(h, w, 2)}
    for name, m in objs.items():
        _png(os.path.join(data_dir, "masks", "kitchen", f"{name}.png"), m * 255)
    texts["kitchen.png"] = {"kettle": ["the kettle"], "mug_2": ["a blue mug", "the mug on the right"]}
    expected.append(
        record(
            "kitchen.png",
            kitchen,
            h,
            w,
            [region("kettle", objs["kettle"]), region("mug_2", objs["mug_2"])],
            [text("the kettle", [0]), text("a blue mug", [1]), text("the mug on the right", [1])],
        )
    )
    h2, w2 = 24, 36
    street = write_image(os.path.join(data_dir, "images", "street.jpg"), h2, w2, seed=2)
    inst = np.zeros((h2, w2), np.uint8)
    inst[2:10, 3:12] = 3
    inst[12:20, 20:30] = 1
    inst[0, :] = 255  # void: never an object
    _png(os.path.join(data_dir, "masks", "street.png"), inst, palette=True)
    texts["street.jpg"] = {"1": ["the car"], "3": ["a person"]}
    expected.append(
        record(
            "street.jpg",
            street,
            h2,
            w2,
            [region("1", inst == 1), region("3", inst == 3)],
            [text("the car", [0]), text("a person", [1])],
        )
    )
    if texts_format == "json":
        with open(os.path.join(data_dir, "texts.json"), "w") as f:
            json.dump(texts, f)
    else:
        with open(os.path.join(data_dir, "texts.csv"), "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["image", "object", "text"])
            for image, objects in texts.items():
                for obj, sentences in objects.items():
                    writer.writerows([image, obj, s] for s in sentences)
    return {"expected": {"train": expected}, "texts": texts}
