"""GLaMM GCG annotations (RefCOCOg-GCG, GranD-f, OpenPSG-GCG, Flickr-GCG) -> canonical records.

Files under ``data_dir/glamm_data/annotations/``; images under ``data_dir/glamm_data/images/``
(``coco2014/train2014``, ``grandf/train``, ``coco2017`` then ``coco2017/train2017``,
``flickr30k/Flickr30K``). One record per image; each grounded phrase is a region (``label`` =
the phrase) and a text whose ``start``/``end`` is its character span in ``caption``.

Upstream normalisation, and what is baked in here:

* ``gcg_refcocog`` / ``gcg_grandf`` / ``gcg_openpsg``: ``caption`` is stored as upstream uses it,
  ``caption.strip('"').strip()`` (GranD-f's ``token_positives`` are offsets into that string), but
  **not** lower-cased (upstream lower-cases RefCOCOg-GCG at training time; the transform does).
* ``gcg_refcocog``: every ref is a region and a text (``text`` = the ref's sentence); the span is
  the first case-insensitive match of the sentence in the caption, null when there is none
  (upstream then drops the ref; the transform does that, as well as v1's case-sensitive
  ``find`` and the trimming of overlapping spans).
* ``gcg_grandf`` / ``gcg_openpsg``: ``groundings`` entries that are ``null`` (how the Arrow union of
  phrase keys shows up) are not phrases and are skipped, as upstream does; several
  ``rle_masks`` of one phrase are OR-ed into one mask; a span outside the caption is kept
  as a null span and counted in the build log.
* ``gcg_flickr``: the caption is kept as in the file. Upstream's filters are applied by default
  (``upstream_filters=True``) and counted, never silently: images whose caption has fewer
  than 3 space-separated words or whose shorter side is < 32 px are dropped, and annotations
  flagged ``ignore``, with ``area <= 0``, a box under 1 px or a box outside the image. The
  counts are logged and kept in :func:`flickr_plan`'s report. Each annotation's first
  ``tokens_positive`` span is its first text (the one upstream uses); further spans follow as
  more texts for the same region.
* Regions and texts keep the file's order; upstream sorts them by span start at training time.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ... import masks
from ...errors import AnnotationError, Sa2VAError, where
from ..catalog import SourceSpec
from ..schema import make_record, make_region, make_text, validate_record
from ._fields import as_int, bbox_or_none, get, optional_size
from ._images import check_image, find_image
from ._json import chunks, iter_shard, json_array_shards, load_json, require_file

logger = logging.getLogger(__name__)

VERSION = "1.2.0"  # bump whenever the records change (1.1: video, frame_indices columns; 1.2: EXIF orientation cleared)


@dataclass(frozen=True)
class FlickrOptions:
    """``upstream_filters``: apply (and count) upstream's Flickr filters; False keeps every image and box."""

    upstream_filters: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.upstream_filters, bool):
            raise Sa2VAError(f"upstream_filters must be True or False, got {self.upstream_filters!r}")


def paths(data_dir: str, spec: SourceSpec) -> dict:
    root = os.path.join(os.fspath(data_dir), "glamm_data")
    return {
        "images": os.path.join(root, "images"),
        "annotations": os.path.join(root, "annotations", spec.params["file"]),
    }


def input_files(spec: SourceSpec, data_dir: str) -> list[str]:
    return [paths(data_dir, spec)["annotations"]]


def shards(spec: SourceSpec, data_dir: str, options) -> dict[str, list]:
    p = paths(data_dir, spec)
    require_file(p["annotations"], f"{spec.name} annotation file")
    if spec.params["kind"] == "flickr":
        return {"train": chunks(flickr_plan(p["annotations"], options.upstream_filters)[0])}
    return {"train": json_array_shards(p["annotations"])}


def report(spec: SourceSpec, data_dir: str, options) -> dict:
    """What upstream's Flickr filters removed (``{}`` for the other GCG sets)."""
    if spec.params["kind"] != "flickr":
        return {}
    return flickr_plan(
        require_file(paths(data_dir, spec)["annotations"], f"{spec.name} annotation file"), options.upstream_filters
    )[1]


def generate(spec: SourceSpec, data_dir: str, options, split: str, shard_list: list) -> Iterator[tuple[str, dict]]:
    p = paths(data_dir, spec)
    kind = spec.params["kind"]
    stats: Counter = Counter()
    if kind == "flickr":
        yield from _generate_flickr(p, spec, shard_list, options.upstream_filters, stats)
    else:
        parse = _parse_refcocog if kind == "refcocog" else _parse_grandf
        for shard in shard_list:
            for index, entry in iter_shard(shard):
                key, record = parse(entry, index, spec, p, shard["path"], stats)
                yield key, record
    if stats:
        logger.warning("%s: %s", spec.name, ", ".join(f"{v} {k}" for k, v in sorted(stats.items())))


def _span(s: object, e: object, caption: str) -> tuple[int, int] | None:
    if (
        isinstance(s, int)
        and isinstance(e, int)
        and not isinstance(s, bool)
        and not isinstance(e, bool)
        and 0 <= s <= e <= len(caption)
    ):
        return s, e
    return None


def _union_rle(rles: list, h: int, w: int, file: str, rec: str) -> dict:
    if len(rles) == 1:
        return masks.to_rle(rles[0], h, w, file=file, record=rec)
    if not rles:
        raise AnnotationError(f"a grounding needs at least one mask{where(file, rec)}")
    m = np.zeros((h, w), dtype=bool)
    for r in rles:
        m |= masks.decode(r, h, w, file=file, record=rec).astype(bool)
    return masks.encode(m)


def _parse_refcocog(entry: object, index: int, spec: SourceSpec, p: dict, file: str, stats: Counter):
    if not isinstance(entry, dict) or len(entry) != 1:
        raise AnnotationError(f"RefCOCOg-GCG entries are single-key objects {{id: {{...}}}}{where(file, f'#{index}')}")
    ((rec, inner),) = entry.items()
    file_name = get(inner, "img_file_name", str, file=file, record=rec)
    caption = get(inner, "caption", str, file=file, record=rec).strip('"').strip()
    path = find_image(p["images"], spec.params["image_folders"], file_name, file=file, record=rec)
    h, w = check_image(path, None, None, file=file, record=rec)
    regions, texts = [], []
    for k, ref in enumerate(get(inner, "refs", list, file=file, record=rec)):
        ctx = f"{rec}, ref {k}"
        sentence = get(ref, "sentence", str, file=file, record=ctx)
        seg = get(ref, "segmentation", (list, dict), file=file, record=ctx)
        rle = masks.to_rle(seg, h, w, file=file, record=ctx)
        regions.append(make_region(k, [rle], bbox_or_none(ref.get("bbox"), file=file, record=ctx), sentence))
        m = re.search(re.escape(sentence), caption, flags=re.IGNORECASE) if sentence else None
        if m is None:
            stats["refs whose sentence is not in the caption (kept, span null)"] += 1
            texts.append(make_text(sentence, [k]))
        else:
            texts.append(make_text(sentence, [k], m.start(), m.end()))
    record = make_record(
        id=rec, source=spec.name, frames=[path], height=h, width=w, regions=regions, texts=texts, caption=caption
    )
    return rec, validate_record(record, file=file)


def _parse_grandf(entry: object, index: int, spec: SourceSpec, p: dict, file: str, stats: Counter):
    rec = str(index)
    file_name = get(entry, "file_name", str, file=file, record=rec)
    h, w = optional_size(entry, file=file, record=rec)
    caption = get(entry, "caption", str, file=file, record=rec).strip('"').strip()
    path = find_image(p["images"], spec.params["image_folders"], file_name, file=file, record=rec)
    h, w = check_image(path, h, w, file=file, record=rec)
    groundings = get(entry, "groundings", dict, file=file, record=rec, optional=True) or {}
    regions, texts = [], []
    for phrase, g in groundings.items():
        if g is None:
            stats["null groundings skipped"] += 1
            continue
        ctx = f"{rec}, grounding {phrase!r}"
        tp = get(g, "token_positives", list, file=file, record=ctx)
        rles = get(g, "rle_masks", list, file=file, record=ctx)
        k = len(regions)
        regions.append(make_region(k, [_union_rle(rles, h, w, file, ctx)], None, phrase))
        span = _span(tp[0], tp[1], caption) if len(tp) == 2 else None
        if span is None:
            stats["spans outside the caption (kept, span null)"] += 1
            texts.append(make_text(phrase, [k]))
        else:
            texts.append(make_text(phrase, [k], *span))
    record = make_record(
        id=rec, source=spec.name, frames=[path], height=h, width=w, regions=regions, texts=texts, caption=caption
    )
    return rec, validate_record(record, file=file)


# --------------------------------------------------------------------------- Flickr (COCO format)


def _ann_problem(ann: dict, h: int, w: int, file: str) -> str | None:
    """Why upstream would skip this annotation, or None to keep it."""
    rec = f"annotation {ann.get('id')}"
    if ann.get("ignore", False):
        return "annotations dropped: flagged ignore"
    bbox = bbox_or_none(get(ann, "bbox", list, file=file, record=rec), file=file, record=rec)
    x1, y1, bw, bh = bbox
    inter_w = max(0, min(x1 + bw, w) - max(x1, 0))
    inter_h = max(0, min(y1 + bh, h) - max(y1, 0))
    area = get(ann, "area", (int, float), file=file, record=rec)
    if inter_w * inter_h == 0 or area <= 0 or bw < 1 or bh < 1:
        return "annotations dropped: empty or outside box"
    return None


def _flickr_index(file: str):
    data = load_json(file)
    if not isinstance(data, dict):
        raise AnnotationError(f"the Flickr GCG file must be a COCO dict{where(file)}")
    images = get(data, "images", list, file=file, record=None)
    image_ids = set()
    for img in images:
        img_id = get(img, "id", int, file=file, record="images[]")
        if img_id in image_ids:
            # pycocotools would keep one of them; two records with one id would be a duplicate
            raise AnnotationError(f"image id {img_id} is not unique{where(file, str(img_id))}")
        image_ids.add(img_id)
    anns_by_image: dict[int, list] = {}
    orphans = 0
    seen_ann = set()
    for ann in get(data, "annotations", list, file=file, record=None):
        ann_id = get(ann, "id", int, file=file, record="annotations[]")
        if ann_id in seen_ann:
            raise AnnotationError(f"annotation id {ann_id} is not unique{where(file)}")
        seen_ann.add(ann_id)
        image_id = get(ann, "image_id", int, file=file, record=f"annotation {ann_id}")
        if image_id not in image_ids:
            orphans += 1
            continue
        anns_by_image.setdefault(image_id, []).append(ann)
    return images, anns_by_image, orphans


def _image_fields(img: dict, file: str) -> tuple[int, str, int, int, str]:
    img_id = get(img, "id", int, file=file, record="images[]")
    rec = str(img_id)
    return (
        img_id,
        get(img, "file_name", str, file=file, record=rec),
        as_int(get(img, "height", (int, float, str), file=file, record=rec), "height", file=file, record=rec),
        as_int(get(img, "width", (int, float, str), file=file, record=rec), "width", file=file, record=rec),
        get(img, "caption", str, file=file, record=rec),
    )


def flickr_plan(file: str, upstream_filters: bool = True) -> tuple[list[int], dict]:
    """Image ids kept (file order) and a report counting what upstream's filters removed."""
    images, anns_by_image, orphans = _flickr_index(file)
    kept, report = [], Counter()
    if orphans:
        # upstream never sees them either (it collects annotations per listed image)
        report["annotations without an image (image_id not in images)"] = orphans
        logger.warning("gcg_flickr: %d annotations refer to an image_id not in 'images'%s", orphans, where(file))
    for img in images:
        img_id, _, h, w, caption = _image_fields(img, file)
        report["images in file"] += 1
        if upstream_filters:
            if len(caption.split(" ")) < 3:
                report["images dropped: caption under 3 words"] += 1
                continue
            if min(w, h) < 32:
                report["images dropped: shorter side under 32 px"] += 1
                continue
            for ann in anns_by_image.get(img_id, []):
                why = _ann_problem(ann, h, w, file)
                if why:
                    report[why] += 1
        kept.append(img_id)
    report["images kept"] = len(kept)
    dropped = {k: v for k, v in report.items() if "dropped" in k}
    if dropped:
        logger.warning(
            "gcg_flickr: upstream filters applied: %s (pass upstream_filters=False to keep them)",
            ", ".join(f"{k} = {v}" for k, v in sorted(dropped.items())),
        )
    return kept, dict(report)


def _generate_flickr(p, spec, shard_list, upstream_filters, stats) -> Iterator[tuple[str, dict]]:
    file = p["annotations"]
    images, anns_by_image, _ = _flickr_index(file)
    by_id = {}
    for img in images:
        fields = _image_fields(img, file)
        by_id[fields[0]] = fields
    del images
    for shard in shard_list:
        for img_id in shard:
            _, file_name, h, w, caption = by_id[img_id]
            rec = str(img_id)
            path = find_image(p["images"], spec.params["image_folders"], file_name, file=file, record=rec)
            check_image(path, h, w, file=file, record=rec)
            regions, texts = [], []
            for ann in anns_by_image.get(img_id, []):
                if upstream_filters and _ann_problem(ann, h, w, file):
                    continue
                ctx = f"{rec}, annotation {ann['id']}"
                spans = get(ann, "tokens_positive", list, file=file, record=ctx)
                if not spans:
                    raise AnnotationError(f"tokens_positive is empty{where(file, ctx)}")
                rle = masks.to_rle(get(ann, "sam_mask", dict, file=file, record=ctx), h, w, file=file, record=ctx)
                k = len(regions)
                checked = []
                for sp in spans:
                    span = _span(sp[0], sp[1], caption) if isinstance(sp, (list, tuple)) and len(sp) == 2 else None
                    if span is None:
                        stats["spans outside the caption (kept, span null)"] += 1
                    checked.append(span)
                label = None if checked[0] is None else caption[checked[0][0] : checked[0][1]]
                regions.append(
                    make_region(ann["id"], [rle], bbox_or_none(ann.get("bbox"), file=file, record=ctx), label)
                )
                for span in checked:
                    if span is None:
                        texts.append(make_text("", [k]))
                    else:
                        texts.append(make_text(caption[span[0] : span[1]], [k], *span))
            record = make_record(
                id=rec,
                source=spec.name,
                frames=[path],
                height=h,
                width=w,
                regions=regions,
                texts=texts,
                caption=caption,
            )
            yield rec, validate_record(record, file=file)


_GLAMM = {
    "homepage": "https://huggingface.co/datasets/MBZUAI/GranD-f",
    "license": "apache-2.0 (annotations); images: their sources' terms (COCO, SA-1B, Flickr30k)",
    "citation": "Rasheed et al., GLaMM: Pixel Grounding Large Multimodal Model, CVPR 2024, arXiv:2311.03356",
}

SOURCES = (
    SourceSpec(
        "gcg_refcocog",
        "gcg",
        description="GLaMM RefCOCOg-GCG grounded captions (RefCOCOg_GCG_train.json).",
        params={"file": "RefCOCOg_GCG_train.json", "image_folders": ("coco2014/train2014",), "kind": "refcocog"},
        **_GLAMM,
    ),
    SourceSpec(
        "gcg_grandf",
        "gcg",
        description="GLaMM GranD-f grounded captions on SA-1B images (GranDf_HA_GCG_train.json).",
        params={"file": "GranDf_HA_GCG_train.json", "image_folders": ("grandf/train",), "kind": "grandf"},
        **_GLAMM,
    ),
    SourceSpec(
        "gcg_openpsg",
        "gcg",
        description="GLaMM OpenPSG-GCG grounded captions on COCO 2017 (OpenPsgGCG_train.json).",
        params={"file": "OpenPsgGCG_train.json", "image_folders": ("coco2017", "coco2017/train2017"), "kind": "grandf"},
        **_GLAMM,
    ),
    SourceSpec(
        "gcg_flickr",
        "gcg",
        description="GLaMM Flickr30k-GCG grounded captions (flickr_mergedGT_GCG_train.json).",
        params={"file": "flickr_mergedGT_GCG_train.json", "image_folders": ("flickr30k/Flickr30K",), "kind": "flickr"},
        options=FlickrOptions,
        **_GLAMM,
    ),
)
