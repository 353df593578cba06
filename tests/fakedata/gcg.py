"""Fake GLaMM GCG annotations: the four native shapes (FORMATS §4) + images."""

from __future__ import annotations

import json
import os

import numpy as np

from ._common import blob, compressed_rle, polygon_mask, record, rect_poly, region, text, tri_poly, write_image

FILES = {
    "gcg_refcocog": "RefCOCOg_GCG_train.json",
    "gcg_grandf": "GranDf_HA_GCG_train.json",
    "gcg_openpsg": "OpenPsgGCG_train.json",
    "gcg_flickr": "flickr_mergedGT_GCG_train.json",
}


def write(data_dir: str, source: str) -> dict:
    root = os.path.join(data_dir, "glamm_data")
    ann_path = os.path.join(root, "annotations", FILES[source])
    os.makedirs(os.path.dirname(ann_path), exist_ok=True)
    images = os.path.join(root, "images")
    writer = {"gcg_refcocog": _refcocog, "gcg_grandf": _grandf, "gcg_openpsg": _grandf, "gcg_flickr": _flickr}[source]
    out = writer(images, ann_path, source)
    out["json"] = ann_path
    return out


def _refcocog(images, ann_path, source):
    h, w = 40, 48
    data, expected = [], []
    for i in range(3):
        fn = f"COCO_train2014_{i:012d}.jpg"
        path = write_image(os.path.join(images, "coco2014", "train2014", fn), h, w, seed=i)
        raw_caption = f'"A brown dog on the sofa is sleeping next to a cushion number {i}."'
        caption = raw_caption.strip('"').strip()
        polys_a = [rect_poly(1, 1, 20, 20), rect_poly(15, 15, 30, 35)]
        polys_b = [tri_poly(25, 5, 18)]
        polys_c = [rect_poly(3, 30, 12, 38)]
        refs = [
            {"sentence": "a cushion", "bbox": [25.0, 5.0, 18.0, 18.0], "segmentation": polys_b},
            {"sentence": "A brown dog", "bbox": [1.0, 1.0, 29.0, 34.0], "segmentation": polys_a},  # case differs
            {"sentence": "a cat", "bbox": [3.0, 30.0, 9.0, 8.0], "segmentation": polys_c},  # not in the caption
        ]
        data.append({str(1000 + i): {"refs": refs, "img_file_name": fn, "caption": raw_caption}})
        regs = [region(k, polygon_mask(r["segmentation"], h, w), r["bbox"], r["sentence"]) for k, r in enumerate(refs)]
        s_b = caption.index("a cushion")
        texts = [text("a cushion", [0], s_b, s_b + 9), text("A brown dog", [1], 0, 11), text("a cat", [2])]
        expected.append(record(1000 + i, path, h, w, regs, texts, caption))
    with open(ann_path, "w") as f:
        json.dump(data, f)
    return {"expected": {"train": expected}}


def _grandf(images, ann_path, source):
    folder = "grandf/train" if source == "gcg_grandf" else "coco2017"
    data, expected = [], []
    for i in range(4):
        h, w = 36 + 4 * i, 50
        fn = f"sa_{10000 + i}.jpg" if source == "gcg_grandf" else f"{i:012d}.jpg"
        sub = folder if (source == "gcg_grandf" or i != 3) else "coco2017/train2017"  # OpenPSG fallback folder
        path = write_image(os.path.join(images, sub, fn), h, w, seed=i)
        caption = f"A man in a blue jacket walks a dog {i} along the beach."
        m1, m2a, m2b = blob(h, w, 10 + i), blob(h, w, 20 + i), blob(h, w, 30 + i)
        groundings = {
            "A man in a blue jacket": {"token_positives": [0, 22], "rle_masks": [compressed_rle(m1)]},
            f"a dog {i}": {"token_positives": [29, 36], "rle_masks": [compressed_rle(m2a), compressed_rle(m2b)]},
        }
        regs = [region(0, m1, None, "A man in a blue jacket"), region(1, m2a | m2b, None, f"a dog {i}")]
        texts = [text("A man in a blue jacket", [0], 0, 22), text(f"a dog {i}", [1], 29, 36)]
        if i == 1:
            # a null grounding (as Arrow's union of phrase keys produces) and a different phrase key
            groundings["the beach"] = None
            m3 = blob(h, w, 40)
            groundings["beach"] = {
                "token_positives": [caption.index("beach"), caption.index("beach") + 5],
                "rle_masks": [compressed_rle(m3)],
            }
            regs.append(region(2, m3, None, "beach"))
            texts.append(text("beach", [2], caption.index("beach"), caption.index("beach") + 5))
        entry = {
            "file_name": fn,
            "height": h,
            "width": w,
            "image_id": fn[:-4],
            "caption": f'"{caption}"' if i == 2 else caption,
            "groundings": groundings,
        }
        if i == 3:
            del entry["height"], entry["width"]  # size from the image header
        data.append(entry)
        expected.append(record(i, path, h, w, regs, texts, caption))
    with open(ann_path, "w") as f:
        json.dump(data, f)
    return {"expected": {"train": expected}}


def _flickr(images, ann_path, source):
    imgs, anns, expected = [], [], []
    ann_id = 500
    specs = [
        # (id, h, w, caption, keep)
        (1, 40, 60, "Two young men are playing frisbee in the park .", True),
        (2, 44, 50, "A dog runs .", True),
        (3, 40, 60, "Dogs .", False),  # caption under 3 words
        (4, 20, 60, "A tiny image with enough words .", False),  # shorter side < 32
        (5, 36, 40, "A woman holds a red umbrella in the rain .", True),
    ]
    dropped_anns = 0
    for img_id, h, w, caption, keep in specs:
        fn = f"{img_id:010d}.jpg"
        path = write_image(os.path.join(images, "flickr30k", "Flickr30K", fn), h, w, seed=img_id)
        imgs.append(
            {
                "id": img_id,
                "file_name": fn,
                "height": str(h) if img_id == 2 else h,
                "width": w,
                "caption": caption,
                "dataset_name": "flickr",
                "tokens_negative": [],
            }
        )
        words = caption.split(" ")
        # one annotation per first two words with proper spans, plus ones upstream skips
        regs, texts = [], []
        pos = 0
        for j, word in enumerate(words[:2]):
            s = caption.index(word, pos)
            pos = s + len(word)
            m = blob(h, w, img_id * 10 + j)
            ann_id += 1
            spans = [[s, s + len(word)]] + ([[0, 1]] if j == 1 else [])
            anns.append(
                {
                    "id": ann_id,
                    "image_id": img_id,
                    "bbox": [1.0, 1.0, 10.0, 10.0],
                    "area": 50.0,
                    "tokens_positive": spans,
                    "sam_mask": compressed_rle(m),
                    "category_id": 1,
                    "iscrowd": 0,
                }
            )
            regs.append(region(ann_id, m, [1.0, 1.0, 10.0, 10.0], word))
            texts += [text(caption[a:b], [len(regs) - 1], a, b) for a, b in spans]
        bad = [
            {"ignore": True, "bbox": [1.0, 1.0, 5.0, 5.0], "area": 10.0},
            {"bbox": [1.0, 1.0, 5.0, 5.0], "area": 0.0},
            {"bbox": [w + 5.0, 1.0, 5.0, 5.0], "area": 10.0},
            {"bbox": [1.0, 1.0, 0.5, 5.0], "area": 10.0},
        ]
        for b in bad:
            ann_id += 1
            anns.append(
                {
                    "id": ann_id,
                    "image_id": img_id,
                    "tokens_positive": [[0, 1]],
                    "sam_mask": compressed_rle(np.ones((h, w), np.uint8)),
                    **b,
                }
            )
        if keep:
            dropped_anns += len(bad)
            expected.append(record(img_id, path, h, w, regs, texts, caption))
    with open(ann_path, "w") as f:
        json.dump({"images": imgs, "annotations": anns, "categories": [{"id": 1, "name": "object"}]}, f)
    return {"expected": {"train": expected}, "n_images": len(specs), "dropped_anns": dropped_anns}
