"""Evaluation on val / test splits: one sample per expression, predicted masks -> RLE results -> metrics.

* :meth:`Sa2VATrainingTransform.eval_samples` gives one sample per expression (nothing drawn); the
  prompt to generate from is its ``input_ids`` before the first labelled token (:func:`prompt_ids`).
* :func:`expression_results` pairs a record's expressions with predicted masks as per-expression
  RLE results; :func:`coco_results` turns them into a COCO results list (``json.dump`` it for
  ``COCO.loadRes``); :func:`referring_metrics` computes cIoU / gIoU against the record's regions, as
  upstream's RefCOCO evaluation does (without its ``1e-5`` in the denominators).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from .. import masks as _masks
from ..errors import ShapeMismatchError
from .conversations import IGNORE_INDEX


def prompt_ids(sample: Mapping[str, Any]) -> list[int]:
    """The ``input_ids`` of a sample up to its first labelled token: the prompt a model generates from."""
    ids, labels = list(sample["input_ids"]), list(sample["labels"])
    first = next((i for i, label in enumerate(labels) if label != IGNORE_INDEX), len(ids))
    return ids[:first]


def mask_to_rle(mask: Any) -> dict:
    """An (H, W) mask (nonzero = on) -> ``{"size": [h, w], "counts": str}``; (F, H, W) -> a list of them."""
    arr = np.asarray(mask.cpu() if hasattr(mask, "cpu") else mask)
    if arr.ndim == 3:
        return [mask_to_rle(m) for m in arr]
    if arr.ndim != 2:
        raise ShapeMismatchError(f"a mask is (H, W) (or (F, H, W) for frames), got shape {arr.shape}")
    return _masks.encode((arr != 0).astype(np.uint8))


def expression_targets(record: Mapping[str, Any], frame: int = 0) -> list[dict]:
    """Per expression (``record["texts"]``, in order) its ground truth: the OR of its regions in ``frame``."""
    h, w = record["height"], record["width"]
    out = []
    for k, text in enumerate(record["texts"]):
        gt = np.zeros((h, w), dtype=np.uint8)
        for region in text["region_ids"]:
            rle = record["regions"][region]["masks"][frame]
            if rle is not None:
                gt |= _masks.decode({"size": list(rle["size"]), "counts": rle["counts"]}, h, w)
        out.append({"id": record["id"], "source": record["source"], "text_index": k, "text": text["text"],
                    "segmentation": _masks.encode(gt)})  # fmt: skip
    return out


def expression_results(record: Mapping[str, Any], predictions: Sequence[Any]) -> list[dict]:
    """One result per expression: ``predictions[k]`` (an (H, W) mask, an RLE, or ``None`` when the
    model answered without a mask) for ``record["texts"][k]``."""
    if len(predictions) != len(record["texts"]):
        raise ShapeMismatchError(
            f"{len(predictions)} predictions for {len(record['texts'])} expressions (record {record['id']!r})"
        )
    out = []
    for k, (text, pred) in enumerate(zip(record["texts"], predictions)):
        if pred is not None and not isinstance(pred, Mapping):
            pred = mask_to_rle(pred)
        if pred is not None and [int(v) for v in pred["size"]] != [record["height"], record["width"]]:
            raise ShapeMismatchError(
                f"prediction {k} is {list(pred['size'])} but record {record['id']!r} is "
                f"{[record['height'], record['width']]}"
            )
        out.append({"id": record["id"], "source": record["source"], "text_index": k, "text": text["text"],
                    "segmentation": None if pred is None else dict(pred)})  # fmt: skip
    return out


def coco_results(results: Sequence[Mapping[str, Any]], category_id: int = 1, score: float = 1.0) -> list[dict]:
    """Per-expression results -> COCO results (``image_id``: the record id, an int when it is one);
    expressions without a predicted mask are left out, as COCO results have no empty entries."""
    out = []
    for r in results:
        if r["segmentation"] is None:
            continue
        image_id = int(r["id"]) if str(r["id"]).isdigit() else r["id"]
        out.append({"image_id": image_id, "category_id": category_id, "segmentation": dict(r["segmentation"]),
                    "score": float(score), "text_index": r["text_index"]})  # fmt: skip
    return out


def referring_metrics(results: Sequence[Mapping[str, Any]], targets: Sequence[Mapping[str, Any]]) -> dict:
    """cIoU (summed intersections over summed unions) and gIoU (mean per-expression IoU, an empty
    prediction against an empty target counting 1) of results against :func:`expression_targets`."""
    truth = {(t["id"], t["text_index"]): t["segmentation"] for t in targets}
    inter = union = 0
    ious = []
    for r in results:
        key = (r["id"], r["text_index"])
        if key not in truth:
            raise ShapeMismatchError(f"no target for record {key[0]!r}, expression {key[1]}")
        gt = _coco(truth[key])
        pred = _coco(r["segmentation"]) if r["segmentation"] is not None else None
        area_gt = int(mask_utils.area(gt))
        i = 0 if pred is None else int(mask_utils.area(mask_utils.merge([pred, gt], intersect=True)))
        u = area_gt if pred is None else int(mask_utils.area(mask_utils.merge([pred, gt], intersect=False)))
        inter, union = inter + i, union + u
        ious.append(1.0 if u == 0 else i / u)
    return {
        "cIoU": inter / union if union else 1.0,
        "gIoU": float(np.mean(ious)) if ious else float("nan"),
        "count": len(ious),
    }


def _coco(rle: Mapping[str, Any]) -> dict:
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].encode("ascii")}
