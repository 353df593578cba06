"""Evaluation: one sample per expression, predicted masks -> RLE results / COCO results -> cIoU / gIoU."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sa2va_hf.errors import ShapeMismatchError
from sa2va_hf.training import Sa2VATrainingTransform
from sa2va_hf.training.evaluation import (
    coco_results,
    expression_results,
    expression_targets,
    mask_to_rle,
    prompt_ids,
    referring_metrics,
)

from .expected import decoded


def test_targets_results_and_metrics(built):
    record = built("refcoco", "val")[0]
    targets = expression_targets(record)
    assert [t["text_index"] for t in targets] == list(range(len(record["texts"])))
    for t, text in zip(targets, record["texts"]):
        gt = mask_utils.decode({"size": t["segmentation"]["size"], "counts": t["segmentation"]["counts"].encode()})
        assert np.array_equal(gt, decoded(record, text["region_ids"][0]))
    truth = [decoded(record, text["region_ids"][0]) for text in record["texts"]]
    perfect = expression_results(record, truth)
    assert referring_metrics(perfect, targets) == {"cIoU": 1.0, "gIoU": 1.0, "count": len(truth)}
    half = [truth[0]] + [None] * (len(truth) - 1)
    metrics = referring_metrics(expression_results(record, half), targets)
    sizes = [int(m.sum()) for m in truth]
    assert metrics["cIoU"] == pytest.approx(sizes[0] / sum(sizes))
    assert metrics["gIoU"] == pytest.approx(1 / len(truth))
    coco = coco_results(expression_results(record, half))
    assert len(coco) == 1 and coco[0]["image_id"] == int(record["id"]) and coco[0]["category_id"] == 1
    json.dumps(coco)
    with pytest.raises(ShapeMismatchError, match="predictions for"):
        expression_results(record, truth[:1])
    with pytest.raises(ShapeMismatchError, match="prediction 0 is"):
        expression_results(record, [np.zeros((3, 3))] * len(truth))


def test_empty_prediction_of_an_empty_target_counts_one():
    empty = mask_to_rle(np.zeros((4, 5), np.uint8))
    result = [{"id": "a", "text_index": 0, "segmentation": empty}]
    assert referring_metrics(result, [{"id": "a", "text_index": 0, "segmentation": empty}])["gIoU"] == 1.0
    frames = mask_to_rle(np.ones((2, 4, 5)))
    assert len(frames) == 2 and frames[0]["size"] == [4, 5]


def test_eval_samples_give_the_prompt_to_generate_from(built, processors):
    record = built("refcoco", "val")[0]
    t = Sa2VATrainingTransform(processors("qwen"), "v2")
    sample = t.eval_samples(record)[0]
    prompt = processors("qwen").tokenizer.decode(prompt_ids(sample))
    assert prompt.endswith("in this image.<|im_end|>\n<|im_start|>assistant\n") and "It is" not in prompt
