"""Evaluation: one sample per expression, predicted masks -> RLE results / COCO results -> cIoU / gIoU."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sa2va_hf.errors import ShapeMismatchError
from sa2va_hf.training import Sa2VATrainingTransform
from sa2va_hf.training.evaluation import (
    boundary_f_measure,
    coco_results,
    expression_results,
    expression_targets,
    mask_to_rle,
    prompt_ids,
    referring_metrics,
    region_similarity,
    video_metrics,
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


# --------------------------------------------------------------------------- videos


def ref_boundary(mask: np.ndarray) -> np.ndarray:
    """DAVIS's seg2bmap written out pixel by pixel: a pixel differs from its east, south or south-east
    neighbour (outside the image: only the last row's east and the last column's south count)."""
    h, w = mask.shape
    out = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            v = bool(mask[y, x])
            east = bool(mask[y, x + 1]) if x + 1 < w else False
            south = bool(mask[y + 1, x]) if y + 1 < h else False
            diag = bool(mask[y + 1, x + 1]) if x + 1 < w and y + 1 < h else False
            if y == h - 1 and x == w - 1:
                out[y, x] = False
            elif y == h - 1:
                out[y, x] = v != east
            elif x == w - 1:
                out[y, x] = v != south
            else:
                out[y, x] = v != east or v != south or v != diag
    return out


def ref_f_measure(gt: np.ndarray, pred: np.ndarray, radius: int) -> float:
    """Boundary F by brute force: a boundary pixel matches when the other boundary has a pixel at Euclidean
    distance <= radius."""
    bg, bp = ref_boundary(gt), ref_boundary(pred)
    g, p = list(zip(*np.nonzero(bg))), list(zip(*np.nonzero(bp)))
    if not g and not p:
        return 1.0
    if not g or not p:
        return 0.0

    def matched(points, others):
        return sum(any((y - v) ** 2 + (x - u) ** 2 <= radius**2 for v, u in others) for y, x in points)

    precision, recall = matched(p, g) / len(p), matched(g, p) / len(g)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize("seed", range(6))
def test_boundary_f_measure_equals_the_brute_force_reading(seed):
    rng = np.random.default_rng(seed)
    gt = np.zeros((14, 19), np.uint8)
    gt[3:10, 4:12] = 1
    gt[rng.integers(0, 14, 8), rng.integers(0, 19, 8)] = 1  # ragged edges
    pred = np.roll(gt, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
    pred[rng.integers(0, 14, 5), rng.integers(0, 19, 5)] ^= 1
    # the default tolerance: ceil(0.008 * diagonal) = 1 pixel here; 3 pixels given as a count
    assert boundary_f_measure(gt, pred) == pytest.approx(ref_f_measure(gt, pred, 1))
    assert boundary_f_measure(gt, pred, bound_th=3) == pytest.approx(ref_f_measure(gt, pred, 3))
    assert boundary_f_measure(gt, gt) == 1.0
    assert region_similarity(gt.astype(bool), pred.astype(bool)) == pytest.approx(
        int((gt & pred).sum()) / int((gt | pred).sum())
    )


def test_video_targets_results_and_j_and_f(built):
    record = built("revos", "valid")[0]  # 2 frames, one expression: anno 31 has a mask in frame 0, none in 1
    (target,) = expression_targets(record, frame=None)
    assert len(target["segmentation"]) == 2
    gt0 = decoded(record, 0, 0)
    assert np.array_equal(mask_utils.decode({**target["segmentation"][0],
                                             "counts": target["segmentation"][0]["counts"].encode()}), gt0)  # fmt: skip
    assert not mask_utils.area({**target["segmentation"][1], "counts": target["segmentation"][1]["counts"].encode()})
    perfect = expression_results(record, [np.stack([gt0, np.zeros_like(gt0)])])
    assert video_metrics(perfect, [target]) == {"J": 1.0, "F": 1.0, "J&F": 1.0, "count": 1}
    # no mask predicted: frame 0 scores 0, frame 1 (empty against empty) 1
    missed = expression_results(record, [[None, None]])
    assert [s["counts"] for s in missed[0]["segmentation"]] == [mask_to_rle(np.zeros_like(gt0))["counts"]] * 2
    assert video_metrics(missed, [target]) == {"J": 0.5, "F": 0.5, "J&F": 0.5, "count": 1}
    with pytest.raises(ShapeMismatchError, match="has 3 frames but record"):
        expression_results(record, [np.zeros((3, 20, 24))])
    with pytest.raises(ShapeMismatchError, match="one RLE per frame"):
        video_metrics(perfect, expression_targets(record))
    with pytest.raises(ShapeMismatchError, match="no masks to evaluate against"):
        expression_targets(built("mevis", "valid")[0], frame=None)
    # an image's mask given as nested lists is one mask, not frames
    image = built("refcoco", "val")[0]
    truth = [decoded(image, text["region_ids"][0]).tolist() for text in image["texts"]]
    assert all(isinstance(r["segmentation"], dict) for r in expression_results(image, truth))


# --------------------------------------------------------------------------- hostile results

EVAL_CHILD = """
import resource, sys, types
# skip the packages' __init__ (torch, datasets): evaluation needs masks and errors only
for name, path in (("sa2va_hf", {root!r}), ("sa2va_hf.training", {root!r} + "/training")):
    package = types.ModuleType(name)
    package.__path__ = [path]
    sys.modules[name] = package
from sa2va_hf.errors import MaskFormatError, ShapeMismatchError
from sa2va_hf.training.evaluation import referring_metrics, video_metrics
# the calls under test may map 1 GiB more than the imports did (transformers imports torch: a CUDA build
# maps several GB of address space, which a limit set before the imports would refuse)
with open("/proc/self/statm") as statm:
    mapped = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (mapped + (1 << 30),) * 2)
huge = {{"size": [100000, 100000], "counts": "PPigPZ9"}}  # one valid run of 10**10 pixels
small = {{"size": [4, 4], "counts": "`0"}}  # empty 4x4
cases = {{
    "video, 100000x100000": lambda: video_metrics(*[[{{"id": "0", "text_index": 0, "segmentation": [huge]}}]] * 2),
    "referring, 100000x100000": lambda: referring_metrics(*[[{{"id": "0", "text_index": 0, "segmentation": huge}}]] * 2),
    "referring, runs past the mask": lambda: referring_metrics(
        [{{"id": "0", "text_index": 0, "segmentation": {{"size": [4, 4], "counts": "0oooooooo1"}}}}],
        [{{"id": "0", "text_index": 0, "segmentation": small}}]),
    "video, another size": lambda: video_metrics(
        [{{"id": "0", "text_index": 0, "segmentation": [{{"size": [5, 4], "counts": "d0"}}]}}],
        [{{"id": "0", "text_index": 0, "segmentation": [small]}}]),
}}
for name, call in cases.items():
    try:
        call()
        print(name, "ACCEPTED")
    except (MaskFormatError, ShapeMismatchError) as e:
        print(name, "refused:", e)
"""


def test_hostile_results_are_refused_before_pycocotools():
    """Evaluation reads RLEs from a model's output or a results file: checked as every RLE is (these
    killed the process, hung, or raised pycocotools' bare ValueError)."""
    import subprocess
    import sys

    import sa2va_hf

    script = EVAL_CHILD.format(root=list(sa2va_hf.__path__)[0])
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"child died (rc {result.returncode}): {result.stderr[-2000:]}"
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and all("refused:" in line for line in lines), result.stdout
    assert "over the limit" in lines[0] and "record '0, expression 0, frame 0'" in lines[0]
    assert "record '0, expression 0'" in lines[2]
    assert "differs from the image's [4, 4]" in lines[3]
