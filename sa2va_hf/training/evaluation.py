"""Evaluation on val / test splits: one sample per expression, predicted masks -> RLE results -> metrics.

* :meth:`Sa2VATrainingTransform.eval_samples` gives one sample per expression (nothing drawn); the
  prompt to generate from is its ``input_ids`` before the first labelled token (:func:`prompt_ids`).
* :func:`expression_results` pairs a record's expressions with predicted masks as per-expression
  RLE results; :func:`coco_results` turns them into a COCO results list (``json.dump`` it for
  ``COCO.loadRes``); :func:`referring_metrics` computes cIoU / gIoU against the record's regions, as
  upstream's RefCOCO evaluation does (without its ``1e-5`` in the denominators).
* Videos (ReVOS / MeViS / Ref-YouTube-VOS valid splits): a prediction is one mask per frame, a result's
  and a target's ``segmentation`` one RLE per frame (``expression_targets(record, frame=None)``), and
  :func:`video_metrics` gives J (region IoU), F (boundary F-measure) and J&F as the DAVIS / MeViS
  evaluation computes them: per expression the mean over its frames, then the mean over expressions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

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


def expression_targets(record: Mapping[str, Any], frame: int | None = 0) -> list[dict]:
    """Per expression (``record["texts"]``, in order) its ground truth: the OR of its regions in ``frame``
    (a frame without a mask adds nothing); ``frame=None``: every frame of a video, one RLE per frame."""
    if frame is None and not record["regions"]:
        raise ShapeMismatchError(
            f"record {record['id']!r} has no masks to evaluate against (MeViS valid and Ref-YouTube-VOS valid "
            "ship none: submit expression_results to their servers)"
        )
    frames = range(_frame_count(record)) if frame is None else [frame]
    out = []
    for k, text in enumerate(record["texts"]):
        per_frame = [_masks.encode(_target_mask(record, text["region_ids"], f)) for f in frames]
        out.append({"id": record["id"], "source": record["source"], "text_index": k, "text": text["text"],
                    "segmentation": per_frame if frame is None else per_frame[0]})  # fmt: skip
    return out


def _target_mask(record: Mapping[str, Any], regions: Sequence[int], frame: int) -> np.ndarray:
    h, w = record["height"], record["width"]
    gt = np.zeros((h, w), dtype=np.uint8)
    for region in regions:
        rle = record["regions"][region]["masks"][frame]
        if rle is not None:
            gt |= _masks.decode({"size": list(rle["size"]), "counts": rle["counts"]}, h, w)
    return gt


def _frame_count(record: Mapping[str, Any]) -> int:
    return len(record["frame_indices"]) if record.get("video") is not None else len(record["frames"])


def expression_results(record: Mapping[str, Any], predictions: Sequence[Any]) -> list[dict]:
    """One result per expression: ``predictions[k]`` for ``record["texts"][k]`` -- an (H, W) mask, an RLE,
    or ``None`` when the model answered without a mask; for a video, one per frame of the record (an
    (F, H, W) array, or a list of masks / RLEs / ``None``), giving a list of RLEs (an empty mask for
    ``None``, as upstream's evaluation writes zeros when the model gives no mask)."""
    if len(predictions) != len(record["texts"]):
        raise ShapeMismatchError(
            f"{len(predictions)} predictions for {len(record['texts'])} expressions (record {record['id']!r})"
        )
    out = []
    for k, (text, pred) in enumerate(zip(record["texts"], predictions)):
        if _per_frame(pred):
            n = _frame_count(record)
            if len(pred) != n:
                raise ShapeMismatchError(f"prediction {k} has {len(pred)} frames but record {record['id']!r} has {n}")
            segmentation = [_result_rle(record, k, p, empty=True) for p in pred]
        else:
            segmentation = _result_rle(record, k, pred)
        out.append({"id": record["id"], "source": record["source"], "text_index": k, "text": text["text"],
                    "segmentation": segmentation})  # fmt: skip
    return out


def _per_frame(pred: Any) -> bool:
    if pred is None or isinstance(pred, Mapping):
        return False
    if isinstance(pred, (list, tuple)):  # one entry per frame (a nested list of pixel rows is one mask)
        return not pred or pred[0] is None or isinstance(pred[0], Mapping) or np.ndim(pred[0]) != 1
    return np.ndim(pred.cpu() if hasattr(pred, "cpu") else pred) == 3


def _result_rle(record: Mapping[str, Any], k: int, pred: Any, empty: bool = False) -> dict | None:
    h, w = record["height"], record["width"]
    if pred is None:
        return _masks.encode(np.zeros((h, w), np.uint8)) if empty else None
    if not isinstance(pred, Mapping):
        pred = mask_to_rle(pred)
    if [int(v) for v in pred["size"]] != [h, w]:
        raise ShapeMismatchError(f"prediction {k} is {list(pred['size'])} but record {record['id']!r} is {[h, w]}")
    return dict(pred)


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
        i, u = _masks.rle_intersection_union(
            r["segmentation"], truth[key], record=f"{key[0]}, expression {key[1]}"
        )  # RLEs checked before pycocotools reads them (its C code has no bounds)
        inter, union = inter + i, union + u
        ious.append(1.0 if u == 0 else i / u)
    return {
        "cIoU": inter / union if union else 1.0,
        "gIoU": float(np.mean(ious)) if ious else float("nan"),
        "count": len(ious),
    }


def video_metrics(
    results: Sequence[Mapping[str, Any]], targets: Sequence[Mapping[str, Any]], bound_th: float = 0.008
) -> dict:
    """J, F and J&F of per-frame results against ``expression_targets(record, frame=None)``, as the DAVIS
    2017 / MeViS evaluation computes them: per frame J = IoU (1 when both masks are empty) and F = the
    boundary F-measure (boundary pixels matched within ``ceil(bound_th * image diagonal)`` pixels); per
    expression the mean over its frames; J and F the means over expressions, J&F their mean."""
    truth = {(t["id"], t["text_index"]): t["segmentation"] for t in targets}
    j_scores, f_scores = [], []
    for r in results:
        key = (r["id"], r["text_index"])
        if key not in truth:
            raise ShapeMismatchError(f"no target for record {key[0]!r}, expression {key[1]}")
        gts, preds = truth[key], r["segmentation"]
        if not isinstance(gts, (list, tuple)) or not isinstance(preds, (list, tuple)) or len(gts) != len(preds):
            raise ShapeMismatchError(
                f"record {key[0]!r}, expression {key[1]}: results and targets need one RLE per frame, as many "
                "of each (targets: expression_targets(record, frame=None))"
            )
        js, fs = [], []
        for frame, (gt_rle, pred_rle) in enumerate(zip(gts, preds)):
            where = f"{key[0]}, expression {key[1]}, frame {frame}"
            gt = _masks.decode(gt_rle, record=where).astype(bool)
            pred = np.zeros_like(gt) if pred_rle is None else _masks.decode(pred_rle, *gt.shape, record=where) != 0
            js.append(region_similarity(gt, pred))
            fs.append(boundary_f_measure(gt, pred, bound_th))
        j_scores.append(float(np.mean(js)) if js else float("nan"))
        f_scores.append(float(np.mean(fs)) if fs else float("nan"))
    j = float(np.mean(j_scores)) if j_scores else float("nan")
    f = float(np.mean(f_scores)) if f_scores else float("nan")
    return {"J": j, "F": f, "J&F": (j + f) / 2, "count": len(j_scores)}


def region_similarity(gt: np.ndarray, pred: np.ndarray) -> float:
    """J of one frame: intersection over union; 1 when both masks are empty."""
    union = int(np.logical_or(gt, pred).sum())
    return 1.0 if union == 0 else int(np.logical_and(gt, pred).sum()) / union


def boundary_f_measure(gt: np.ndarray, pred: np.ndarray, bound_th: float = 0.008) -> float:
    """F of one frame (DAVIS ``db_eval_boundary``): boundary precision / recall, a boundary pixel matching
    when one of the other mask's boundary pixels lies within the tolerance disk."""
    radius = bound_th if bound_th >= 1 else int(np.ceil(bound_th * np.hypot(*gt.shape)))
    gt_boundary, pred_boundary = _boundary(gt), _boundary(pred)
    n_gt, n_pred = int(gt_boundary.sum()), int(pred_boundary.sum())
    if n_gt == 0 and n_pred == 0:
        return 1.0
    if n_gt == 0 or n_pred == 0:
        return 0.0  # precision or recall is 0
    precision = int((pred_boundary & _dilate_disk(gt_boundary, int(radius))).sum()) / n_pred
    recall = int((gt_boundary & _dilate_disk(pred_boundary, int(radius))).sum()) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _boundary(mask: np.ndarray) -> np.ndarray:
    """DAVIS's ``seg2bmap`` at the mask's own size: pixels that differ from their east, south or
    south-east neighbour (the last row against its east neighbour, the last column against its south
    one, the corner never)."""
    seg = mask.astype(bool)
    east, south, south_east = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    east[:, :-1], south[:-1, :], south_east[:-1, :-1] = seg[:, 1:], seg[1:, :], seg[1:, 1:]
    out = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    out[-1, :] = seg[-1, :] ^ east[-1, :]
    out[:, -1] = seg[:, -1] ^ south[:, -1]
    out[-1, -1] = False
    return out


def _dilate_disk(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by the disk x² + y² <= radius² (skimage's ``disk``, as DAVIS dilates): per row
    offset dy, a horizontal run of half-width floor(sqrt(r² - dy²)), counted with a cumulative sum."""
    h, w = mask.shape
    out = np.zeros_like(mask, dtype=bool)
    runs: dict[int, np.ndarray] = {}
    for dy in range(-radius, radius + 1):
        half = int(np.floor(np.sqrt(radius * radius - dy * dy)))
        if half not in runs:
            padded = np.pad(mask.astype(np.int32), ((0, 0), (half + 1, half)))
            sums = np.cumsum(padded, axis=1)
            runs[half] = (sums[:, 2 * half + 1 :] - sums[:, :w]) > 0
        row = runs[half]
        if dy >= 0:
            out[: h - dy] |= row[dy:] if dy else row
        else:
            out[-dy:] |= row[: h + dy]
    return out
